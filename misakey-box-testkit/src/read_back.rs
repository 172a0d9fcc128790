//! Reading back what a store wrote, for tests: the use cases write through change sets and
//! read through their own ports, so these rows are read here, beside the tests that need them.

use async_trait::async_trait;
use misakey_box::domain::{CryptoAction, Event, Notification};
use misakey_box::error::StoreError;
use uuid::Uuid;

/// What tests read back from a store. Implemented for [`crate::InMemoryBoxStore`] and, with
/// the `sea-orm` feature, for `SeaOrmStorage`.
#[async_trait]
pub trait StoreReadBack: Send + Sync {
    /// The events of a box, oldest first (empty for an unknown box).
    async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError>;

    /// The crypto actions addressed to an account, oldest first.
    async fn crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError>;

    /// The notifications of an identity, oldest first.
    async fn notifications(&self, identity_id: Uuid) -> Result<Vec<Notification>, StoreError>;
}

#[cfg(feature = "sea-orm")]
mod sea_orm_rows {
    use async_trait::async_trait;
    use misakey_box::domain::{CryptoAction, Event, Notification};
    use misakey_box::error::StoreError;
    use misakey_box::storage::SeaOrmStorage;
    use misakey_box::storage::entities::{box_event, crypto_action, identity_notification};
    use misakey_box::storage::sea_orm::{
        ColumnTrait as _, EntityTrait, QueryFilter as _, QueryOrder as _,
    };
    use uuid::Uuid;

    use super::StoreReadBack;

    fn failed(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::backend(error)
    }

    #[async_trait]
    impl StoreReadBack for SeaOrmStorage {
        async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError> {
            box_event::Entity::find()
                .filter(box_event::Column::BoxId.eq(box_id))
                .order_by_asc(box_event::Column::Seq)
                .all(self.connection())
                .await
                .map_err(failed)?
                .into_iter()
                .map(Event::try_from)
                .collect()
        }

        async fn crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError> {
            crypto_action::Entity::find()
                .filter(crypto_action::Column::AccountId.eq(account_id))
                .order_by_asc(crypto_action::Column::CreatedAt)
                .order_by_asc(crypto_action::Column::Id)
                .all(self.connection())
                .await
                .map_err(failed)?
                .into_iter()
                .map(CryptoAction::try_from)
                .collect()
        }

        async fn notifications(&self, identity_id: Uuid) -> Result<Vec<Notification>, StoreError> {
            identity_notification::Entity::find()
                .filter(identity_notification::Column::IdentityId.eq(identity_id))
                .order_by_asc(identity_notification::Column::CreatedAt)
                .order_by_asc(identity_notification::Column::Id)
                .all(self.connection())
                .await
                .map_err(failed)?
                .into_iter()
                .map(Notification::try_from)
                .collect()
        }
    }
}
