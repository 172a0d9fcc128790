//! The reference box store, in memory.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use misakey_box::domain::{
    CryptoAction, Event, EventType, KeyShare, Notification, RealtimeUpdate, SequencedUpdate,
};
use misakey_box::error::StoreError;
use misakey_box::ports::{
    BoxReads, BoxStore, Change, ChangeSet, Inbox, LogCursor, LogPositions, LoggedUpdate, Member,
    PublisherHeartbeat, PublisherRegistry, Retention, UpdateLog,
};

use crate::StoreReadBack;
use uuid::Uuid;

/// A [`BoxStore`], [`UpdateLog`] and [`PublisherRegistry`] in memory: the behaviour every
/// other store is held to by the contract suite.
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
    /// Members per box, in joining order.
    members: HashMap<Uuid, Vec<Member>>,
    /// Last position assigned per identity (never goes back, even when entries are pruned).
    positions: HashMap<Uuid, u64>,
    /// Kept log entries per identity, in position order.
    logs: HashMap<Uuid, Vec<LogEntry>>,
    /// Publishing instances: (published_before, last heartbeat).
    publishers: HashMap<Uuid, (DateTime<Utc>, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
struct LogEntry {
    seq: u64,
    update: RealtimeUpdate,
    created_at: DateTime<Utc>,
}

impl LogEntry {
    fn sequenced(&self, recipient: Uuid) -> SequencedUpdate {
        SequencedUpdate {
            recipient,
            seq: self.seq,
            update: self.update.clone(),
        }
    }
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
            return Err(StoreError::unavailable(
                "the in-memory store was set unavailable",
            ));
        }
        Ok(self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl BoxStore for InMemoryBoxStore {
    async fn commit(&self, changes: &ChangeSet) -> Result<Vec<SequencedUpdate>, StoreError> {
        let mut state = self.state()?;
        // Checked before any write, under the one lock: all or nothing.
        let mut new_hashes = std::collections::HashSet::new();
        let mut deleted = std::collections::HashSet::new();
        for change in &changes.changes {
            match change {
                Change::AddKeyShare(share)
                    if state.key_shares.contains_key(&share.other_share_hash)
                        || !new_hashes.insert(&share.other_share_hash) =>
                {
                    return Err(StoreError::KeyShareConflict);
                }
                Change::AddMember {
                    box_id,
                    identity_id,
                    ..
                } if state.members.get(box_id).is_some_and(|members| {
                    members.iter().any(|m| m.identity_id == *identity_id)
                }) =>
                {
                    return Err(StoreError::Conflict);
                }
                Change::RemoveMember {
                    box_id,
                    identity_id,
                } if !state.members.get(box_id).is_some_and(|members| {
                    members.iter().any(|m| m.identity_id == *identity_id)
                }) =>
                {
                    return Err(StoreError::NotFound);
                }
                Change::DeleteCryptoAction {
                    account_id,
                    action_id,
                } if !state
                    .crypto_actions
                    .iter()
                    .any(|a| a.id == *action_id && a.account_id == *account_id)
                    || !deleted.insert(*action_id) =>
                {
                    return Err(StoreError::NotFound);
                }
                _ => {}
            }
        }
        for change in &changes.changes {
            match change {
                Change::AddEvent(event) => state.events.push(event.clone()),
                Change::AddKeyShare(share) => {
                    state
                        .key_shares
                        .insert(share.other_share_hash.clone(), share.clone());
                }
                Change::AddCryptoAction(action) => state.crypto_actions.push(action.clone()),
                Change::AddNotification(notification) => {
                    state.notifications.push(notification.clone());
                }
                Change::CountUnreadEvent { box_id, sender_id } => {
                    let readers: Vec<Uuid> = state
                        .members
                        .get(box_id)
                        .into_iter()
                        .flatten()
                        .map(|member| member.identity_id)
                        .filter(|identity_id| identity_id != sender_id)
                        .collect();
                    for identity_id in readers {
                        *state
                            .unread_counts
                            .entry((identity_id, *box_id))
                            .or_insert(0) += 1;
                    }
                }
                Change::ResetUnreadCount {
                    identity_id,
                    box_id,
                } => {
                    state.unread_counts.remove(&(*identity_id, *box_id));
                }
                Change::AcknowledgeNotifications {
                    identity_id,
                    ids,
                    at,
                } => {
                    for notification in state.notifications.iter_mut().filter(|n| {
                        n.identity_id == *identity_id
                            && ids.contains(&n.id)
                            && n.acknowledged_at.is_none()
                    }) {
                        notification.acknowledged_at = Some(*at);
                    }
                }
                Change::AddMember {
                    box_id,
                    identity_id,
                    join_event_id,
                    joined_at,
                } => state.members.entry(*box_id).or_default().push(Member {
                    identity_id: *identity_id,
                    joined_at: *joined_at,
                    join_event_id: *join_event_id,
                }),
                Change::RemoveMember {
                    box_id,
                    identity_id,
                } => {
                    if let Some(members) = state.members.get_mut(box_id) {
                        members.retain(|m| m.identity_id != *identity_id);
                    }
                    // A former member has no count.
                    state.unread_counts.remove(&(*identity_id, *box_id));
                }
                Change::DeleteCryptoAction { action_id, .. } => {
                    state.crypto_actions.retain(|a| a.id != *action_id);
                }
                Change::MarkInvitationUsed {
                    crypto_action_id, ..
                } => {
                    let id = serde_json::json!(crypto_action_id);
                    for notification in &mut state.notifications {
                        if notification.details["cryptoaction_id"] == id {
                            notification.details["used"] = serde_json::Value::Bool(true);
                        }
                    }
                }
                other => {
                    return Err(StoreError::backend(format!(
                        "the in-memory store does not know {other:?}"
                    )));
                }
            }
        }
        let mut sequenced = Vec::with_capacity(changes.updates.len());
        for addressed in &changes.updates {
            let position = state.positions.entry(addressed.recipient).or_insert(0);
            *position += 1;
            let entry = LogEntry {
                seq: *position,
                update: addressed.update.clone(),
                created_at: changes.created_at,
            };
            sequenced.push(entry.sequenced(addressed.recipient));
            state
                .logs
                .entry(addressed.recipient)
                .or_default()
                .push(entry);
        }
        Ok(sequenced)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.state().map(drop)
    }
}

#[async_trait]
impl UpdateLog for InMemoryBoxStore {
    async fn updates_after(
        &self,
        identity_id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedUpdate>, StoreError> {
        let state = self.state()?;
        let log = state
            .logs
            .get(&identity_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        Ok(log
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .map(|e| e.sequenced(identity_id))
            .collect())
    }

    async fn log_positions(&self, identity_id: Uuid) -> Result<LogPositions, StoreError> {
        let state = self.state()?;
        let latest = state.positions.get(&identity_id).copied().unwrap_or(0);
        let oldest = state
            .logs
            .get(&identity_id)
            .and_then(|log| log.first())
            .map_or(latest + 1, |e| e.seq);
        Ok(LogPositions { oldest, latest })
    }

    async fn updates_created_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedUpdate>, StoreError> {
        let state = self.state()?;
        let mut window: Vec<LoggedUpdate> = state
            .logs
            .iter()
            .flat_map(|(recipient, log)| {
                log.iter()
                    .filter(|e| (from..=until).contains(&e.created_at))
                    .map(|e| LoggedUpdate {
                        created_at: e.created_at,
                        update: e.sequenced(*recipient),
                    })
            })
            .filter(|logged| cursor.is_none_or(|cursor| logged.cursor() > cursor))
            .collect();
        window.sort_by_key(LoggedUpdate::cursor);
        window.truncate(limit);
        Ok(window)
    }

    async fn prune_updates(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let cutoff = now - retention.max_age;
        let mut removed = 0;
        for log in state.logs.values_mut() {
            let before = log.len();
            log.retain(|e| e.created_at >= cutoff);
            let excess = log
                .len()
                .saturating_sub(usize::try_from(retention.max_per_identity).unwrap_or(usize::MAX));
            log.drain(..excess);
            removed += (before - log.len()) as u64;
        }
        Ok(removed)
    }
}

impl State {
    /// The box's newest event other than `state.access_mode`, and its position among all.
    fn last_shown_event(&self, box_id: Uuid) -> Option<(usize, &Event)> {
        self.events
            .iter()
            .enumerate()
            .rfind(|(_, e)| e.box_id == box_id && e.kind != EventType::StateAccessMode)
    }
}

#[async_trait]
impl BoxReads for InMemoryBoxStore {
    async fn box_events_summary(&self, box_id: Uuid) -> Result<Option<(Event, Event)>, StoreError> {
        let state = self.state()?;
        let create = state
            .events
            .iter()
            .find(|e| e.box_id == box_id && e.kind == EventType::Create);
        Ok(create
            .zip(state.last_shown_event(box_id).map(|(_, e)| e))
            .map(|(create, last)| (create.clone(), last.clone())))
    }

    async fn members(&self, box_id: Uuid) -> Result<Vec<Member>, StoreError> {
        Ok(self
            .state()?
            .members
            .get(&box_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn events(
        &self,
        box_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let state = self.state()?;
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .rev()
            .filter(|e| e.box_id == box_id)
            .skip(skip)
            .take(take)
            .cloned()
            .collect())
    }

    async fn count_events(&self, box_id: Uuid) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .events
            .iter()
            .filter(|e| e.box_id == box_id)
            .count() as u64)
    }

    async fn joined_boxes(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let state = self.state()?;
        let mut boxes: Vec<(usize, Uuid)> = state
            .members
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m.identity_id == identity_id))
            .filter_map(|(box_id, _)| state.last_shown_event(*box_id).map(|(at, _)| (at, *box_id)))
            .collect();
        boxes.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(boxes
            .into_iter()
            .skip(skip)
            .take(take)
            .map(|(_, id)| id)
            .collect())
    }

    async fn count_joined_boxes(&self, identity_id: Uuid) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .members
            .values()
            .filter(|members| members.iter().any(|m| m.identity_id == identity_id))
            .count() as u64)
    }

    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError> {
        Ok(self.state()?.key_shares.get(other_share_hash).cloned())
    }

    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .unread_counts
            .get(&(identity_id, box_id))
            .copied()
            .unwrap_or(0))
    }

    async fn unread_boxes(
        &self,
        identity_ids: &[Uuid],
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let state = self.state()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(identity_ids
            .iter()
            .flat_map(|identity_id| {
                state
                    .unread_counts
                    .iter()
                    .filter(move |((reader, _), count)| reader == identity_id && **count > 0)
                    .map(|(key, _)| *key)
                    .take(limit)
            })
            .collect())
    }
}

#[async_trait]
impl Inbox for InMemoryBoxStore {
    async fn list_notifications(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Notification>, StoreError> {
        let state = self.state()?;
        let mut notifications: Vec<&Notification> = state
            .notifications
            .iter()
            .filter(|n| n.identity_id == identity_id)
            .collect();
        notifications.sort_by_key(|n| std::cmp::Reverse((n.created_at, n.id)));
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let take = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(notifications
            .into_iter()
            .skip(skip)
            .take(take)
            .cloned()
            .collect())
    }

    async fn count_unacknowledged_notifications(
        &self,
        identity_id: Uuid,
    ) -> Result<u64, StoreError> {
        Ok(self
            .state()?
            .notifications
            .iter()
            .filter(|n| n.identity_id == identity_id && n.acknowledged_at.is_none())
            .count() as u64)
    }

    async fn unacknowledged_notifications(
        &self,
        identity_id: Uuid,
        among: Option<&[Uuid]>,
    ) -> Result<Vec<Uuid>, StoreError> {
        let state = self.state()?;
        let mut pending: Vec<&Notification> = state
            .notifications
            .iter()
            .filter(|n| n.identity_id == identity_id && n.acknowledged_at.is_none())
            .filter(|n| among.is_none_or(|ids| ids.contains(&n.id)))
            .collect();
        pending.sort_by_key(|n| (n.created_at, n.id));
        Ok(pending.into_iter().map(|n| n.id).collect())
    }

    async fn list_crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError> {
        let state = self.state()?;
        let mut actions: Vec<CryptoAction> = state
            .crypto_actions
            .iter()
            .filter(|a| a.account_id == account_id)
            .cloned()
            .collect();
        actions.sort_by_key(|a| (a.created_at, a.id));
        Ok(actions)
    }

    async fn find_crypto_action(
        &self,
        account_id: Uuid,
        action_id: Uuid,
    ) -> Result<Option<CryptoAction>, StoreError> {
        Ok(self
            .state()?
            .crypto_actions
            .iter()
            .find(|a| a.id == action_id && a.account_id == account_id)
            .cloned())
    }
}

#[async_trait]
impl PublisherRegistry for InMemoryBoxStore {
    async fn publisher_heartbeat(
        &self,
        heartbeat: PublisherHeartbeat,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let mut state = self.state()?;
        let expired: Vec<Uuid> = state
            .publishers
            .iter()
            .filter(|(id, (_, beat))| {
                **id != heartbeat.publisher && *beat < heartbeat.expired_before
            })
            .map(|(id, _)| *id)
            .collect();
        let adopted: Vec<DateTime<Utc>> = expired
            .iter()
            .filter_map(|id| state.publishers.remove(id))
            .map(|(published_before, _)| published_before)
            .collect();
        let published_before = adopted
            .iter()
            .copied()
            .fold(heartbeat.published_before, Ord::min);
        state
            .publishers
            .insert(heartbeat.publisher, (published_before, heartbeat.now));
        Ok(adopted)
    }

    async fn remove_publisher(&self, publisher: Uuid) -> Result<(), StoreError> {
        self.state()?.publishers.remove(&publisher);
        Ok(())
    }
}

#[async_trait]
impl StoreReadBack for InMemoryBoxStore {
    async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .state()?
            .events
            .iter()
            .filter(|e| e.box_id == box_id)
            .cloned()
            .collect())
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
}

#[cfg(test)]
mod contract {
    crate::store_contract_tests!(async { Some(Box::new(super::InMemoryBoxStore::new())) });
}
