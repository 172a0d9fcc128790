use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;

/// What a publishing instance (a [`crate::BoxService`] running its maintenance) records about
/// itself on each beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherHeartbeat {
    /// The instance, a random id chosen at start.
    pub publisher: Uuid,
    /// Every update this instance committed with an earlier `created_at` has been published.
    pub published_before: DateTime<Utc>,
    /// The time of this beat.
    pub now: DateTime<Utc>,
    /// Instances whose last beat is older than this are taken to be dead.
    pub expired_before: DateTime<Utc>,
}

/// The instances publishing committed updates, with their checkpoints: how a live instance
/// takes over what a dead one left unpublished (see [`crate::outbox`]).
#[async_trait]
pub trait PublisherRegistry: Debug + Send + Sync + 'static {
    /// Records the heartbeat of a publishing instance and takes over the instances that
    /// stopped beating, in one transaction: the expired ones are removed, this one's
    /// `published_before` is lowered to the oldest of theirs (so that, should this one die
    /// too, the next instance inherits their stranded updates), and their `published_before`
    /// times are returned for this one to relay from.
    async fn publisher_heartbeat(
        &self,
        heartbeat: PublisherHeartbeat,
    ) -> Result<Vec<DateTime<Utc>>, StoreError>;

    /// Forgets a publishing instance that stopped with nothing left to publish.
    async fn remove_publisher(&self, publisher: Uuid) -> Result<(), StoreError>;
}
