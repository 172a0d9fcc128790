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

    /// Updates not yet marked published, created before `created_before` (stranded by a
    /// process that died between commit and publish, or by a broker outage), oldest first.
    async fn unpublished_updates(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SequencedUpdate>, StoreError>;

    /// Marks updates (recipient, position) as published.
    async fn mark_published(&self, updates: &[(Uuid, u64)]) -> Result<(), StoreError>;

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
