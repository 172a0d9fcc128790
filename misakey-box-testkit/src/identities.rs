//! An identity directory in memory.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;
use misakey_box::domain::{Identity, PublicKeysUpdate, SignedInProfile};
use misakey_box::error::StoreError;
use misakey_box::ports::IdentityDirectory;
use uuid::Uuid;

/// Identities held in a map. For tests and development.
#[derive(Debug, Default)]
pub struct InMemoryIdentityDirectory {
    identities: RwLock<HashMap<Uuid, Identity>>,
}

impl InMemoryIdentityDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an identity.
    pub fn insert(&self, identity: Identity) {
        self.identities
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(identity.id, identity);
    }
}

#[async_trait]
impl IdentityDirectory for InMemoryIdentityDirectory {
    async fn identity(&self, id: Uuid) -> Result<Option<Identity>, StoreError> {
        Ok(self
            .identities
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned())
    }

    async fn update_public_keys(
        &self,
        id: Uuid,
        update: &PublicKeysUpdate,
    ) -> Result<bool, StoreError> {
        let mut identities = self
            .identities
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(identities
            .get_mut(&id)
            .map(|identity| update.apply_to(identity))
            .is_some())
    }

    async fn record_signed_in(&self, profile: &SignedInProfile) -> Result<(), StoreError> {
        let mut identities = self
            .identities
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let identity = identities.entry(profile.id).or_insert_with(|| Identity {
            id: profile.id,
            display_name: String::new(),
            avatar_url: None,
            identifier_value: String::new(),
            identifier_kind: String::new(),
            account_id: None,
            pubkey: None,
            non_identified_pubkey: None,
            pubkey_aes_rsa: None,
            non_identified_pubkey_aes_rsa: None,
        });
        identity.display_name.clone_from(&profile.display_name);
        identity
            .identifier_value
            .clone_from(&profile.identifier_value);
        identity
            .identifier_kind
            .clone_from(&profile.identifier_kind);
        if profile.account_id.is_some() {
            identity.account_id = profile.account_id;
        }
        Ok(())
    }
}
