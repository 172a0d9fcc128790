use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, EntityTrait, Iterable as _, TransactionTrait as _};

use super::entities::{access_token, identity};
use super::{SeaOrmStorage, store_error};
use crate::error::StoreError;
use crate::fixtures::Fixtures;

/// Rows per insert statement: 10 columns each stays far below the bound-parameter limits of
/// SQLite (32,766) and PostgreSQL (65,535).
const ROWS_PER_STATEMENT: usize = 1000;

impl SeaOrmStorage {
    /// Writes the identities and tokens of checked fixtures, replacing rows with the same id or
    /// token, in one transaction (in batches of statements): loading the same file twice is
    /// harmless, and a failure writes nothing.
    pub async fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let txn = self.db.begin().await.map_err(store_error)?;
        for identities in fixtures.identities.chunks(ROWS_PER_STATEMENT) {
            let rows = identities.iter().map(|identity| identity::ActiveModel {
                id: Set(identity.id),
                display_name: Set(identity.display_name.clone()),
                avatar_url: Set(identity.avatar_url.clone()),
                identifier_value: Set(identity.identifier_value.clone()),
                identifier_kind: Set(identity.identifier_kind.clone()),
                account_id: Set(identity.account_id),
                pubkey: Set(identity.pubkey.clone()),
                non_identified_pubkey: Set(identity.non_identified_pubkey.clone()),
                pubkey_aes_rsa: Set(identity.pubkey_aes_rsa.clone()),
                non_identified_pubkey_aes_rsa: Set(identity.non_identified_pubkey_aes_rsa.clone()),
            });
            let replace = OnConflict::column(identity::Column::Id)
                .update_columns(
                    identity::Column::iter().filter(|c| !matches!(c, identity::Column::Id)),
                )
                .to_owned();
            identity::Entity::insert_many(rows)
                .on_conflict(replace)
                .exec_without_returning(&txn)
                .await
                .map_err(store_error)?;
        }
        for tokens in fixtures.tokens.chunks(ROWS_PER_STATEMENT) {
            let rows = tokens.iter().map(|token| access_token::ActiveModel {
                token: Set(token.token.clone()),
                identity_id: Set(token.identity_id),
                acr: Set(i16::from(token.acr)),
                expires_at: Set(token.expires_at),
            });
            let replace = OnConflict::column(access_token::Column::Token)
                .update_columns([
                    access_token::Column::IdentityId,
                    access_token::Column::Acr,
                    access_token::Column::ExpiresAt,
                ])
                .to_owned();
            access_token::Entity::insert_many(rows)
                .on_conflict(replace)
                .exec_without_returning(&txn)
                .await
                .map_err(store_error)?;
        }
        txn.commit().await.map_err(store_error)
    }
}
