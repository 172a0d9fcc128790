//! Runnable examples of misakey-box: see `examples/`.
