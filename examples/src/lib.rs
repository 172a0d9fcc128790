//! Runnable examples of `misakey-box` (see `examples/` and the README's examples index), and
//! the code two of them share with their tests:
//!
//! - [`axum_embedding`]: the core wired into an axum application, written only against the
//!   core's public API; its tests run the wire-level conformance suite.
//! - [`poem_embedding`]: the routes nested under `/api` of an existing poem application.
//! - [`listener`]: the socket listener's reconnect loop.

pub mod axum_embedding;
pub mod listener;
pub mod poem_embedding;
