//! Domain types, with the exact JSON shapes of `docs/protocol.md` ("Contact", "Realtime").

mod box_view;
mod crypto_action;
mod event;
mod identity;
mod key_share;
mod notification;
mod realtime;

pub use box_view::BoxView;
pub use crypto_action::{CryptoAction, CryptoActionType, CryptoActionView};
pub use event::{AccessMode, BoxEventView, Event, EventType, EventView, NewEventView};
pub use identity::{Identity, IdentityView, ProfileView, PublicKeysUpdate, SignedInProfile};
pub use key_share::KeyShare;
pub use notification::{Notification, NotificationType, NotificationView};
pub use realtime::{
    AckObject, AddressedUpdate, ClientMessage, Frame, RealtimeUpdate, SequencedUpdate, UpdateType,
    sequenced_frames,
};

use chrono::{DateTime, SubsecRound, Utc};

/// Truncates a timestamp to microseconds, the finest precision PostgreSQL and SQLite keep, so
/// that what a store reads back equals what the use case wrote and returned.
pub fn to_storage_precision(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}
