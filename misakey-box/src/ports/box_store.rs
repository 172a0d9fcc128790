use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    AddressedUpdate, CryptoAction, Event, KeyShare, Notification, SequencedUpdate,
};
use crate::error::StoreError;

/// What one use case writes: rows, and the durable realtime updates they cause. A store
/// commits a change set all or nothing, appending its updates to their recipients' logs in the
/// same transaction (the outbox). New use cases add [`Change`]s, not store methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// The row changes, applied in order.
    pub changes: Vec<Change>,
    /// The realtime updates the changes cause, appended to their recipients' logs in this
    /// order, each at its recipient's next position.
    pub updates: Vec<AddressedUpdate>,
    /// When the changes happened (the time of their log entries).
    pub created_at: DateTime<Utc>,
}

/// One row change of a [`ChangeSet`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new event of a box (its first one, `create`, makes the box).
    AddEvent(Event),
    /// The server's key share of a box. One whose `other_share_hash` is already stored fails
    /// the whole change set with [`StoreError::KeyShareConflict`].
    AddKeyShare(KeyShare),
    /// An invitation or other crypto action for an account.
    AddCryptoAction(CryptoAction),
    /// A notification for an identity.
    AddNotification(Notification),
    /// One more unread event in a box for each of its members but the sender: the members at
    /// this point of the change set (a member it adds before counts, one it removes does not).
    /// A store keeps one total per box and one read mark per member, so an event costs the
    /// same for two members as for a thousand.
    CountUnreadEvent {
        /// The box.
        box_id: Uuid,
        /// Whose event it is: its count does not grow.
        sender_id: Uuid,
    },
    /// The identity has read the box: its unread count goes back to zero. A member added to a
    /// box starts at zero too, and an identity that is not a member has no count (always zero).
    ResetUnreadCount {
        /// The reader.
        identity_id: Uuid,
        /// The box.
        box_id: Uuid,
    },
    /// The identity's notifications among `ids` that are not acknowledged yet are
    /// acknowledged at `at` (the others are left as they are).
    AcknowledgeNotifications {
        /// Whose notifications.
        identity_id: Uuid,
        /// Which ones.
        ids: Vec<Uuid>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The account's crypto action is consumed: deleted. If the account has no such action
    /// the whole change set fails with [`StoreError::NotFound`].
    DeleteCryptoAction {
        /// The account.
        account_id: Uuid,
        /// The action.
        action_id: Uuid,
    },
    /// A new member of a box. If the identity is a member already, the whole change set fails
    /// with [`StoreError::Conflict`].
    AddMember {
        /// The box.
        box_id: Uuid,
        /// The new member.
        identity_id: Uuid,
        /// Its `member.join` event (the `create` event for the creator).
        join_event_id: Uuid,
        /// When it joined.
        joined_at: DateTime<Utc>,
    },
    /// A member leaves a box. If the identity is not a member, the whole change set fails
    /// with [`StoreError::NotFound`].
    RemoveMember {
        /// The box.
        box_id: Uuid,
        /// The member.
        identity_id: Uuid,
    },
    /// The notifications pointing to an invitation (`details.cryptoaction_id`) of the account
    /// are marked `"used": true` in their details.
    MarkInvitationUsed {
        /// The account the invitation was for.
        account_id: Uuid,
        /// The invitation's crypto action.
        crypto_action_id: Uuid,
    },
}

/// Everything one contact writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The new box's events, in order: `create`, then `state.access_mode`.
    pub events: Vec<Event>,
    /// The server's key share for the box.
    pub key_share: KeyShare,
    /// The invitation for the contacted account.
    pub crypto_action: CryptoAction,
    /// The `box.auto_invite` notification for the contacted identity.
    pub notification: Notification,
    /// The realtime updates the contact causes, in this order.
    pub updates: Vec<AddressedUpdate>,
    /// When the contact happened (the time of its log entries).
    pub created_at: DateTime<Utc>,
}

impl From<ContactRecord> for ChangeSet {
    /// The change set that writes the contact: the key share first, so that a duplicate fails
    /// before anything else is written.
    fn from(record: ContactRecord) -> Self {
        let mut changes = vec![Change::AddKeyShare(record.key_share)];
        if let Some(create) = record.events.first() {
            changes.push(Change::AddMember {
                box_id: create.box_id,
                identity_id: create.sender_id,
                join_event_id: create.id,
                joined_at: create.created_at,
            });
        }
        changes.extend(record.events.into_iter().map(Change::AddEvent));
        changes.push(Change::AddCryptoAction(record.crypto_action));
        changes.push(Change::AddNotification(record.notification));
        ChangeSet {
            changes,
            updates: record.updates,
            created_at: record.created_at,
        }
    }
}

/// Persists boxes and what hangs off them: the write side of the use cases.
///
/// The testkit's store contract suite (`misakey_box_testkit::store_contract_tests!`) checks
/// that an implementation behaves like the in-memory reference.
#[async_trait]
pub trait BoxStore: Debug + Send + Sync + 'static {
    /// Commits `changes` atomically, appending its updates to their recipients' logs at
    /// consecutive positions (per identity, in commit order), and returns them with their
    /// positions. On any error nothing is written and no position is taken.
    async fn commit(&self, changes: &ChangeSet) -> Result<Vec<SequencedUpdate>, StoreError>;

    /// Checks that the store answers (health checks). Stores in memory always do.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
