use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::domain::SequencedUpdate;
use crate::error::StoreError;

/// Where an identity's update log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPositions {
    /// The first position still kept; `latest + 1` when nothing is kept.
    pub oldest: u64,
    /// The last position ever assigned; 0 before the first update.
    pub latest: u64,
}

/// How long update logs keep their entries: an entry goes once either limit is passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Entries kept per identity, the most recent ones.
    pub max_per_identity: u64,
    /// Age after which an entry goes.
    pub max_age: TimeDelta,
}

/// A log entry as the relay reads it: the update and when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedUpdate {
    /// The `created_at` of the contact that wrote it.
    pub created_at: DateTime<Utc>,
    /// The update, with its recipient and position.
    pub update: SequencedUpdate,
}

impl LoggedUpdate {
    /// The cursor just past this entry.
    pub fn cursor(&self) -> LogCursor {
        LogCursor {
            created_at: self.created_at,
            recipient: self.update.recipient,
            seq: self.update.seq,
        }
    }
}

/// A place in the order ([`UpdateLog::updates_created_between`]) the relay reads log entries
/// in: creation time, then recipient, then position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Recipient.
    pub recipient: Uuid,
    /// Position in the recipient's log.
    pub seq: u64,
}

/// The per-identity logs of durable updates, which [`super::BoxStore::commit`] appends to:
/// read for replays and by the relay, and pruned.
#[async_trait]
pub trait UpdateLog: Debug + Send + Sync + 'static {
    /// The kept updates of an identity after position `after`, in order, at most `limit`.
    async fn updates_after(
        &self,
        identity_id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedUpdate>, StoreError>;

    /// Where the identity's log stands.
    async fn log_positions(&self, identity_id: Uuid) -> Result<LogPositions, StoreError>;

    /// The identity's latest position alone ([`LogPositions::latest`]): what every socket's
    /// handshake reads. Override it when the store can read it more cheaply than
    /// both positions.
    async fn latest_position(&self, identity_id: Uuid) -> Result<u64, StoreError> {
        Ok(self.log_positions(identity_id).await?.latest)
    }

    /// Log entries of every identity created from `from` to `until`, both included, ordered
    /// by ([`LogCursor`]) creation time, recipient and position, after `cursor` when given, at
    /// most `limit`: what the relay republishes.
    async fn updates_created_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedUpdate>, StoreError>;

    /// Removes log entries beyond `retention` at time `now`; returns how many went. Positions
    /// are never reused.
    async fn prune_updates(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
