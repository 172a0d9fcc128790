use std::fmt::Debug;

use async_trait::async_trait;
use uuid::Uuid;

use crate::domain::{Identity, PublicKeysUpdate, SignedInProfile};
use crate::error::StoreError;

/// Looks identities up: profile, account and public keys.
#[async_trait]
pub trait IdentityDirectory: Debug + Send + Sync + 'static {
    /// `Ok(None)` when no identity has this id.
    async fn identity(&self, id: Uuid) -> Result<Option<Identity>, StoreError>;

    /// The identities among `ids` that exist, in any order. A contact reads two: a directory
    /// over a database answers in one query; this default asks one at a time.
    async fn identities(&self, ids: &[Uuid]) -> Result<Vec<Identity>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.extend(self.identity(*id).await?);
        }
        Ok(found)
    }

    /// Sets and clears the public keys `update` names, leaving the others; `Ok(false)` when no
    /// identity has this id.
    async fn update_public_keys(
        &self,
        id: Uuid,
        update: &PublicKeysUpdate,
    ) -> Result<bool, StoreError>;

    /// Records an identity an authorization server vouched for: creates it (without keys)
    /// when the directory does not hold it, else refreshes its name, identifier and, when
    /// `profile` names one, its account. Public keys are never touched.
    async fn record_signed_in(&self, profile: &SignedInProfile) -> Result<(), StoreError>;
}
