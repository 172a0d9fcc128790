//! The ports: traits the outside world implements so that the use cases can run.
//!
//! Services hold ports as `Arc<dyn Port>`, so every port is an `#[async_trait]` object-safe
//! trait with `Debug + Send + Sync + 'static` supertraits.

mod box_reads;
mod box_store;
mod clock;
mod identity_directory;
mod inbox;
mod notification_bus;
mod publisher_registry;
mod token_introspection;
mod update_log;

pub use box_reads::{BoxReads, Member};
pub use box_store::{BoxStore, Change, ChangeSet, ContactRecord};
pub use clock::{Clock, IdGenerator, RandomIds, SystemClock};
pub use identity_directory::IdentityDirectory;
pub use inbox::Inbox;
pub use notification_bus::{NotificationBus, Subscription, SubscriptionError};
pub use publisher_registry::{PublisherHeartbeat, PublisherRegistry};
pub use token_introspection::{TokenInfo, TokenIntrospector};
pub use update_log::{LogCursor, LogPositions, LoggedUpdate, Retention, UpdateLog};
