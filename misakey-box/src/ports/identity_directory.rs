use std::fmt::Debug;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::Identity;
use crate::error::StoreError;

/// Looks identities up: profile, account and public keys.
#[async_trait]
pub trait IdentityDirectory: Debug + Send + Sync + 'static {
    /// `Ok(None)` when no identity has this id.
    async fn identity(&self, id: Uuid) -> Result<Option<Identity>, StoreError>;
}
