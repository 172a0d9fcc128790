use async_trait::async_trait;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait as _, EntityTrait, QueryFilter as _};
use uuid::Uuid;

use super::entities::identity;
use super::{SeaOrmStorage, store_error};
use crate::domain::{Identity, PublicKeysUpdate, SignedInProfile};
use crate::error::StoreError;
use crate::ports::IdentityDirectory;

impl From<identity::Model> for Identity {
    fn from(row: identity::Model) -> Self {
        Self {
            id: row.id,
            display_name: row.display_name,
            avatar_url: row.avatar_url,
            identifier_value: row.identifier_value,
            identifier_kind: row.identifier_kind,
            account_id: row.account_id,
            pubkey: row.pubkey,
            non_identified_pubkey: row.non_identified_pubkey,
            pubkey_aes_rsa: row.pubkey_aes_rsa,
            non_identified_pubkey_aes_rsa: row.non_identified_pubkey_aes_rsa,
        }
    }
}

#[async_trait]
impl IdentityDirectory for SeaOrmStorage {
    async fn identity(&self, id: Uuid) -> Result<Option<Identity>, StoreError> {
        let row = identity::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(row.map(Identity::from))
    }

    async fn identities(&self, ids: &[Uuid]) -> Result<Vec<Identity>, StoreError> {
        let rows = identity::Entity::find()
            .filter(identity::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    async fn update_public_keys(
        &self,
        id: Uuid,
        update: &PublicKeysUpdate,
    ) -> Result<bool, StoreError> {
        let column = |value: &Option<Option<String>>| match value {
            Some(key) => Set(key.clone()),
            None => NotSet,
        };
        let changes = identity::ActiveModel {
            pubkey: column(&update.pubkey),
            non_identified_pubkey: column(&update.non_identified_pubkey),
            pubkey_aes_rsa: column(&update.pubkey_aes_rsa),
            non_identified_pubkey_aes_rsa: column(&update.non_identified_pubkey_aes_rsa),
            ..Default::default()
        };
        let _turn = self.write_turn().await;
        let updated = identity::Entity::update_many()
            .set(changes)
            .filter(identity::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(updated.rows_affected == 1)
    }

    async fn record_signed_in(&self, profile: &SignedInProfile) -> Result<(), StoreError> {
        let row = identity::ActiveModel {
            id: Set(profile.id),
            display_name: Set(profile.display_name.clone()),
            avatar_url: Set(None),
            identifier_value: Set(profile.identifier_value.clone()),
            identifier_kind: Set(profile.identifier_kind.clone()),
            account_id: Set(profile.account_id),
            pubkey: Set(None),
            non_identified_pubkey: Set(None),
            pubkey_aes_rsa: Set(None),
            non_identified_pubkey_aes_rsa: Set(None),
        };
        let mut refreshed = vec![
            identity::Column::DisplayName,
            identity::Column::IdentifierValue,
            identity::Column::IdentifierKind,
        ];
        if profile.account_id.is_some() {
            refreshed.push(identity::Column::AccountId);
        }
        let _turn = self.write_turn().await;
        identity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(identity::Column::Id)
                    .update_columns(refreshed)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
