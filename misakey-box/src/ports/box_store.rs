use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::domain::{
    AddressedUpdate, CryptoAction, Event, KeyShare, Notification, SequencedUpdate,
};
use crate::error::StoreError;

/// Everything one contact writes; a store persists it all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The new box's events, in order: `create`, then `state.access_mode`.
    pub events: Vec<Event>,
    /// The server's key share for the box.
    pub key_share: KeyShare,
    /// The invitation for the contacted account.
    pub crypto_action: CryptoAction,
    /// The `box.auto_invite` notification for the contacted identity.
    pub notification: Notification,
    /// The realtime updates the contact causes, appended to their recipients' logs in the same
    /// transaction (the outbox), in this order.
    pub updates: Vec<AddressedUpdate>,
    /// When the contact happened (the time of its log entries).
    pub created_at: DateTime<Utc>,
}

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

/// A place in the order ([`BoxStore::updates_created_between`]) the relay reads log entries
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

/// Persists boxes and what hangs off them.
///
/// The testkit's store contract suite (`misakey_box_testkit::store_contract_tests!`) checks
/// that an implementation behaves like the in-memory reference.
#[async_trait]
pub trait BoxStore: Debug + Send + Sync + 'static {
    /// Writes a whole contact atomically, appending its updates to their recipients' logs at
    /// consecutive positions (per identity, in commit order), and returns them with their
    /// positions. A key share whose `other_share_hash` is already stored fails with
    /// [`StoreError::KeyShareConflict`] and writes nothing.
    async fn save_contact(
        &self,
        record: &ContactRecord,
    ) -> Result<Vec<SequencedUpdate>, StoreError>;

    /// The events of a box, oldest first (empty for an unknown box).
    async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError>;

    /// The key share stored under `other_share_hash`.
    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError>;

    /// The crypto actions addressed to an account, oldest first.
    async fn crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError>;

    /// The notifications of an identity, oldest first.
    async fn notifications(&self, identity_id: Uuid) -> Result<Vec<Notification>, StoreError>;

    /// How many events of a box the identity has not read yet (0 when never counted).
    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError>;

    /// Adds one unread event for the identity in the box and returns the new count. Called when
    /// a box event reaches a member other than its sender; the contact flow alone never does.
    async fn increment_unread_count(
        &self,
        identity_id: Uuid,
        box_id: Uuid,
    ) -> Result<u64, StoreError>;

    /// Sets the identity's unread count for the box back to zero (the `ack` of a socket).
    async fn reset_unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<(), StoreError>;

    /// The kept updates of an identity after position `after`, in order, at most `limit`.
    async fn updates_after(
        &self,
        identity_id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedUpdate>, StoreError>;

    /// Where the identity's log stands.
    async fn log_positions(&self, identity_id: Uuid) -> Result<LogPositions, StoreError>;

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

    /// Removes log entries beyond `retention` at time `now`; returns how many went. Positions
    /// are never reused.
    async fn prune_updates(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Checks that the store answers (health checks). Stores in memory always do.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
