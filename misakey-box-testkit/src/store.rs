//! The reference box store, in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use misakey_box::domain::{CryptoAction, Event, KeyShare, Notification};
use misakey_box::error::StoreError;
use misakey_box::ports::{BoxStore, ContactRecord};
use uuid::Uuid;

/// A [`BoxStore`] in memory: the behaviour every other store is held to by the contract suite.
///
/// [`set_unavailable`](Self::set_unavailable) makes every call fail as a lost database would,
/// to test what callers do then.
#[derive(Debug, Default)]
pub struct InMemoryBoxStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<Event>,
    key_shares: HashMap<String, KeyShare>,
    crypto_actions: Vec<CryptoAction>,
    notifications: Vec<Notification>,
    unread_counts: HashMap<(Uuid, Uuid), u64>,
}

impl InMemoryBoxStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails with [`StoreError::Unavailable`] and changes nothing.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the in-memory store was set unavailable".into(),
            ));
        }
        Ok(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl BoxStore for InMemoryBoxStore {
    async fn save_contact(&self, record: &ContactRecord) -> Result<(), StoreError> {
        let mut state = self.state()?;
        // Checked before any write, under the one lock: all or nothing.
        if state
            .key_shares
            .contains_key(&record.key_share.other_share_hash)
        {
            return Err(StoreError::KeyShareConflict);
        }
        state.events.extend(record.events.iter().cloned());
        state.key_shares.insert(
            record.key_share.other_share_hash.clone(),
            record.key_share.clone(),
        );
        state.crypto_actions.push(record.crypto_action.clone());
        state.notifications.push(record.notification.clone());
        Ok(())
    }

    async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .state()?
            .events
            .iter()
            .filter(|e| e.box_id == box_id)
            .cloned()
            .collect())
    }

    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError> {
        Ok(self.state()?.key_shares.get(other_share_hash).cloned())
    }

    async fn crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError> {
        Ok(self
            .state()?
            .crypto_actions
            .iter()
            .filter(|a| a.account_id == account_id)
            .cloned()
            .collect())
    }

    async fn notifications(&self, identity_id: Uuid) -> Result<Vec<Notification>, StoreError> {
        Ok(self
            .state()?
            .notifications
            .iter()
            .filter(|n| n.identity_id == identity_id)
            .cloned()
            .collect())
    }

    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .unread_counts
            .get(&(identity_id, box_id))
            .copied()
            .unwrap_or(0))
    }

    async fn increment_unread_count(
        &self,
        identity_id: Uuid,
        box_id: Uuid,
    ) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let count = state
            .unread_counts
            .entry((identity_id, box_id))
            .or_insert(0);
        *count += 1;
        Ok(*count)
    }

    async fn reset_unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<(), StoreError> {
        self.state()?.unread_counts.remove(&(identity_id, box_id));
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.state().map(drop)
    }
}

#[cfg(test)]
mod contract {
    crate::store_contract_tests!(async { Some(Box::new(super::InMemoryBoxStore::new())) });
}
