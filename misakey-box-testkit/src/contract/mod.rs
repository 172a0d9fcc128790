//! Contract suites: the behaviour every implementation of a port must have.

pub mod bus;
pub mod store;
