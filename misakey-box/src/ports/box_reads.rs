use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{Event, KeyShare};
use crate::error::StoreError;

/// A member of a box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member.
    pub identity_id: Uuid,
    /// When it joined (the creator: when it created the box).
    pub joined_at: DateTime<Utc>,
    /// Its `member.join` event (the creator: the `create` event).
    pub join_event_id: Uuid,
}

/// Boxes as their members read them. Reads only: use cases write through
/// [`super::ChangeSet`]s.
#[async_trait]
pub trait BoxReads: Debug + Send + Sync + 'static {
    /// The box's `create` event, and its newest event other than `state.access_mode`; `None`
    /// for an unknown box.
    async fn box_events_summary(&self, box_id: Uuid) -> Result<Option<(Event, Event)>, StoreError>;

    /// The box's members, creator first, then by join time.
    async fn members(&self, box_id: Uuid) -> Result<Vec<Member>, StoreError>;

    /// The box's events, newest first, skipping `offset`, at most `limit`.
    async fn events(&self, box_id: Uuid, offset: u64, limit: u64)
    -> Result<Vec<Event>, StoreError>;

    /// How many events the box has.
    async fn count_events(&self, box_id: Uuid) -> Result<u64, StoreError>;

    /// The boxes the identity is a member of, the newest activity (last event other than
    /// `state.access_mode`) first, skipping `offset`, at most `limit`.
    async fn joined_boxes(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Uuid>, StoreError>;

    /// How many boxes the identity is a member of.
    async fn count_joined_boxes(&self, identity_id: Uuid) -> Result<u64, StoreError>;

    /// The key share stored under `other_share_hash`.
    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError>;

    /// How many events of a box the identity has not read yet (0 when never counted).
    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError>;

    /// For each of `identity_ids`, at most `limit` of the boxes where it has unread events (a
    /// count above zero), as `(identity, box)` pairs in any order. A socket reads its
    /// identity's at its first ack, to know which acks have a count to reset; the first acks of
    /// many sockets share a read.
    async fn unread_boxes(
        &self,
        identity_ids: &[Uuid],
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError>;
}
