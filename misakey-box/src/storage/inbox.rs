//! The inbox on sea-orm: an identity's notifications and its account's crypto actions.

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait as _, EntityTrait, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};
use uuid::Uuid;

use super::entities::{crypto_action, identity_notification};
use super::{SeaOrmStorage, store_error};
use crate::domain::{CryptoAction, Notification};
use crate::error::StoreError;
use crate::ports::Inbox;

#[async_trait]
impl Inbox for SeaOrmStorage {
    async fn list_notifications(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError> {
        use identity_notification::Column;
        identity_notification::Entity::find()
            .filter(Column::IdentityId.eq(identity_id))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(Notification::try_from)
            .collect()
    }

    async fn count_unacknowledged_notifications(
        &self,
        identity_id: Uuid,
    ) -> Result<u64, StoreError> {
        use identity_notification::Column;
        identity_notification::Entity::find()
            .filter(Column::IdentityId.eq(identity_id))
            .filter(Column::AcknowledgedAt.is_null())
            .count(&self.db)
            .await
            .map_err(store_error)
    }

    async fn unacknowledged_notifications(
        &self,
        identity_id: Uuid,
        among: Option<&[Uuid]>,
    ) -> Result<Vec<Uuid>, StoreError> {
        use identity_notification::Column;
        let mut query = identity_notification::Entity::find()
            .filter(Column::IdentityId.eq(identity_id))
            .filter(Column::AcknowledgedAt.is_null());
        if let Some(ids) = among {
            query = query.filter(Column::Id.is_in(ids.iter().copied()));
        }
        let rows = query
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(rows.into_iter().map(|row| row.id).collect())
    }

    async fn list_crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError> {
        crypto_action::Entity::find()
            .filter(crypto_action::Column::AccountId.eq(account_id))
            .order_by_asc(crypto_action::Column::CreatedAt)
            .order_by_asc(crypto_action::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(CryptoAction::try_from)
            .collect()
    }

    async fn find_crypto_action(
        &self,
        account_id: Uuid,
        action_id: Uuid,
    ) -> Result<Option<CryptoAction>, StoreError> {
        crypto_action::Entity::find_by_id(action_id)
            .filter(crypto_action::Column::AccountId.eq(account_id))
            .one(&self.db)
            .await
            .map_err(store_error)?
            .map(CryptoAction::try_from)
            .transpose()
    }
}
