//! The use cases, as methods of [`crate::BoxService`], independent of any HTTP framework.

mod authorization;
mod contact;
mod delivery;
mod publish_ledger;
mod socket_session;

pub use authorization::{Caller, Credentials};
pub use delivery::Maintenance;
pub(crate) use publish_ledger::PublishLedger;
pub use socket_session::{InboundOutcome, Replay, ReplayPage, SocketSession, SocketSubscription};
