//! The use cases, as methods of [`crate::BoxService`], independent of any HTTP framework.

mod authorization;
mod boxes;
mod contact;
mod identity_profile;
mod invitations;
mod notifications;
mod socket_session;
mod socket_unread;
mod unread_resets;
mod waiting;

pub use authorization::{Caller, Credentials};
pub use boxes::KeyShareView;
pub use notifications::{Acknowledged, parse_notification_ids};
pub use socket_session::{InboundOutcome, Replay, SocketSession, SocketSubscription, TokenCheck};
pub(crate) use socket_unread::UnreadListings;
pub(crate) use unread_resets::UnreadResets;
