use async_trait::async_trait;
use sea_orm::EntityTrait;

use super::entities::{access_token, identity};
use super::{SeaOrmStorage, corrupt, store_error};
use crate::error::StoreError;
use crate::ports::{TokenInfo, TokenIntrospector};

#[async_trait]
impl TokenIntrospector for SeaOrmStorage {
    async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let found = access_token::Entity::find_by_id(token.to_owned())
            .find_also_related(identity::Entity)
            .one(&self.db)
            .await
            .map_err(store_error)?;
        // A token whose identity is gone stands for nobody.
        let Some((token, Some(identity))) = found else {
            return Ok(None);
        };
        let acr = u8::try_from(token.acr)
            .map_err(|_| corrupt(format!("access token with ACR {}", token.acr)))?;
        Ok(Some(TokenInfo {
            identity_id: identity.id,
            account_id: identity.account_id,
            acr,
            expires_at: token.expires_at,
        }))
    }
}
