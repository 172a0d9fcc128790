//! The use cases, as methods of [`crate::BoxService`], independent of any HTTP framework.

mod authorization;
mod contact;
mod identity_profile;
mod socket_session;

pub use authorization::{Caller, Credentials};
pub use socket_session::{InboundOutcome, Replay, SocketSession, SocketSubscription};
