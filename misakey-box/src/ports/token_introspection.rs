use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;

/// What an access token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The identity acting.
    pub identity_id: Uuid,
    /// Its account, if it has one.
    pub account_id: Option<Uuid>,
    /// Authentication context reference: how strongly the identity authenticated.
    pub acr: u8,
    /// When the token stops being valid; `None` for no expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Turns an opaque access token into what it stands for.
#[async_trait]
pub trait TokenIntrospector: Debug + Send + Sync + 'static {
    /// `Ok(None)` when the token is unknown or inactive. Expiry is checked by the caller
    /// against the service clock, so adapters may return expired tokens.
    async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, StoreError>;
}
