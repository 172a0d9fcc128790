use std::fmt::Debug;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{CryptoAction, Event, KeyShare, Notification};
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
}

/// Persists boxes and what hangs off them.
///
/// The testkit's store contract suite (`misakey_box_testkit::store_contract_tests!`) checks
/// that an implementation behaves like the in-memory reference.
#[async_trait]
pub trait BoxStore: Debug + Send + Sync + 'static {
    /// Writes a whole contact atomically. A key share whose `other_share_hash` is already
    /// stored fails with [`StoreError::KeyShareConflict`] and writes nothing.
    async fn save_contact(&self, record: &ContactRecord) -> Result<(), StoreError>;

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

    /// Checks that the store answers (health checks). Stores in memory always do.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
