use std::fmt::Debug;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{CryptoAction, Notification};
use crate::error::StoreError;

/// What an identity and its account have received: notifications and crypto actions
/// (invitations). Reads only: use cases write them through [`super::ChangeSet`]s.
#[async_trait]
pub trait Inbox: Debug + Send + Sync + 'static {
    /// The identity's notifications, newest first (ties by id), skipping `offset`, at most
    /// `limit`.
    async fn list_notifications(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError>;

    /// How many of the identity's notifications are not acknowledged.
    async fn count_unacknowledged_notifications(
        &self,
        identity_id: Uuid,
    ) -> Result<u64, StoreError>;

    /// The ids of the identity's unacknowledged notifications: all of them, or those among
    /// `among`.
    async fn unacknowledged_notifications(
        &self,
        identity_id: Uuid,
        among: Option<&[Uuid]>,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// The account's crypto actions, oldest first (ties by id).
    async fn list_crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError>;

    /// The account's crypto action `action_id`; `None` if it has none by that id.
    async fn find_crypto_action(
        &self,
        account_id: Uuid,
        action_id: Uuid,
    ) -> Result<Option<CryptoAction>, StoreError>;
}
