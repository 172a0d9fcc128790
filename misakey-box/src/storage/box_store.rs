//! The box store on sea-orm: committing change sets (in batches, see `change_batches`), the
//! update logs and the publishers' registry, and the conversions of its rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter as _, SqlErr, TransactionTrait as _,
};
use uuid::Uuid;

use super::entities::{
    box_event, box_key_share, box_member, box_unread_count, crypto_action, identity_notification,
};
use super::{
    POSTGRES_STATEMENT_BYTES, SeaOrmStorage, corrupt, execute_written_out, placeholder_rows,
    postgres_wire_bytes, store_error, update_groups, update_log,
};
use crate::domain::{
    CryptoAction, CryptoActionType, Event, EventType, KeyShare, Notification, NotificationType,
    SequencedUpdate,
};
use crate::error::StoreError;
use crate::ports::{
    BoxStore, Change, ChangeSet, LogCursor, LogPositions, LoggedUpdate, PublisherHeartbeat,
    PublisherRegistry, Retention, UpdateLog,
};

fn parse_json(text: &str, what: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| corrupt(format!("{what} is not JSON: {error}")))
}

impl TryFrom<box_event::Model> for Event {
    type Error = StoreError;

    fn try_from(row: box_event::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            box_id: row.box_id,
            kind: EventType::parse(&row.r#type)
                .ok_or_else(|| corrupt(format!("unknown event type {:?}", row.r#type)))?,
            content: parse_json(&row.content, "event content")?,
            sender_id: row.sender_id,
            created_at: row.created_at,
            referrer_id: row.referrer_id,
        })
    }
}

impl TryFrom<crypto_action::Model> for CryptoAction {
    type Error = StoreError;

    fn try_from(row: crypto_action::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            account_id: row.account_id,
            sender_identity_id: row.sender_identity_id,
            kind: CryptoActionType::parse(&row.r#type)
                .ok_or_else(|| corrupt(format!("unknown crypto action type {:?}", row.r#type)))?,
            box_id: row.box_id,
            encryption_public_key: row.encryption_public_key,
            encrypted: row.encrypted,
            created_at: row.created_at,
        })
    }
}

impl TryFrom<identity_notification::Model> for Notification {
    type Error = StoreError;

    fn try_from(row: identity_notification::Model) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            identity_id: row.identity_id,
            kind: NotificationType::parse(&row.r#type)
                .ok_or_else(|| corrupt(format!("unknown notification type {:?}", row.r#type)))?,
            details: parse_json(&row.details, "notification details")?,
            created_at: row.created_at,
            acknowledged_at: row.acknowledged_at,
        })
    }
}

impl From<box_key_share::Model> for KeyShare {
    fn from(row: box_key_share::Model) -> Self {
        Self {
            other_share_hash: row.other_share_hash,
            misakey_share: row.misakey_share,
            encrypted_invitation_key_share: row.encrypted_invitation_key_share,
            box_id: row.box_id,
            creator_id: row.creator_id,
        }
    }
}

impl From<KeyShare> for box_key_share::Model {
    fn from(share: KeyShare) -> Self {
        Self {
            other_share_hash: share.other_share_hash,
            misakey_share: share.misakey_share,
            encrypted_invitation_key_share: share.encrypted_invitation_key_share,
            box_id: share.box_id,
            creator_id: share.creator_id,
        }
    }
}

/// Rows per unread-count statement on SQLite: three bound values each, well within its limit
/// (PostgreSQL's statements are kept within `POSTGRES_STATEMENT_BYTES` instead).
const UNREAD_ROWS_PER_STATEMENT: usize = 5_000;

/// Counts reset per statement on SQLite: two bound values each, in a condition whose size its
/// parser handles quickly. A power of two: see the padding below.
const RESETS_PER_STATEMENT: usize = 512;

/// The same on PostgreSQL, smaller: sqlx leaves Nagle's algorithm on, and a statement whose
/// bound values (20 bytes a UUID) did not fit one write of the client's buffer waited for
/// the server's delayed acknowledgement, about 40 ms a statement (measured: 44 ms per
/// statement of 512 pairs in the server's log, 1 ms for the same prepared statement in psql).
const RESETS_PER_POSTGRES_STATEMENT: usize = 128;

/// What a batch does to one unread count, its changes taken in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnreadEffect {
    /// Grows it by this much.
    Add(i64),
    /// Sets it to this (a reset, then increments).
    Set(i64),
}

/// Writes every change of the sets inside `txn`, one statement per table; the key shares go
/// first so that a duplicate fails before anything else is written (and before any position
/// is taken). Returns each set's updates with their positions.
pub(super) async fn insert_changes(
    txn: &DatabaseTransaction,
    sets: &[&ChangeSet],
) -> Result<Vec<Vec<SequencedUpdate>>, StoreError> {
    let changes = || sets.iter().flat_map(|set| &set.changes);
    let shares: Vec<_> = changes()
        .filter_map(|change| match change {
            Change::AddKeyShare(share) => Some(box_key_share::ActiveModel::from(
                box_key_share::Model::from(share.clone()),
            )),
            _ => None,
        })
        .collect();
    if !shares.is_empty() {
        box_key_share::Entity::insert_many(shares)
            .exec_without_returning(txn)
            .await
            .map_err(|error| match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::KeyShareConflict,
                _ => store_error(error),
            })?;
    }
    let members: Vec<_> = changes()
        .filter_map(|change| match change {
            Change::AddMember {
                box_id,
                identity_id,
                join_event_id,
                joined_at,
            } => Some(box_member::ActiveModel {
                box_id: Set(*box_id),
                identity_id: Set(*identity_id),
                joined_at: Set(*joined_at),
                join_event_id: Set(*join_event_id),
            }),
            _ => None,
        })
        .collect();
    if !members.is_empty() {
        box_member::Entity::insert_many(members)
            .exec_without_returning(txn)
            .await
            .map_err(|error| match error.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
                _ => store_error(error),
            })?;
    }
    let events: Vec<_> = changes()
        .filter_map(|change| match change {
            Change::AddEvent(event) => Some(box_event::ActiveModel {
                seq: NotSet,
                id: Set(event.id),
                box_id: Set(event.box_id),
                r#type: Set(event.kind.as_str().to_owned()),
                content: Set(event.content.to_string()),
                sender_id: Set(event.sender_id),
                created_at: Set(event.created_at),
                referrer_id: Set(event.referrer_id),
            }),
            _ => None,
        })
        .collect();
    if !events.is_empty() {
        box_event::Entity::insert_many(events)
            .exec_without_returning(txn)
            .await
            .map_err(store_error)?;
    }
    let actions: Vec<_> = changes()
        .filter_map(|change| match change {
            Change::AddCryptoAction(action) => Some(crypto_action::ActiveModel {
                id: Set(action.id),
                account_id: Set(action.account_id),
                sender_identity_id: Set(action.sender_identity_id),
                r#type: Set(action.kind.as_str().to_owned()),
                box_id: Set(action.box_id),
                encryption_public_key: Set(action.encryption_public_key.clone()),
                encrypted: Set(action.encrypted.clone()),
                created_at: Set(action.created_at),
            }),
            _ => None,
        })
        .collect();
    if !actions.is_empty() {
        crypto_action::Entity::insert_many(actions)
            .exec_without_returning(txn)
            .await
            .map_err(store_error)?;
    }
    let notifications: Vec<_> = changes()
        .filter_map(|change| match change {
            Change::AddNotification(notification) => Some(identity_notification::ActiveModel {
                id: Set(notification.id),
                identity_id: Set(notification.identity_id),
                r#type: Set(notification.kind.as_str().to_owned()),
                details: Set(notification.details.to_string()),
                created_at: Set(notification.created_at),
                acknowledged_at: Set(notification.acknowledged_at),
            }),
            _ => None,
        })
        .collect();
    if !notifications.is_empty() {
        identity_notification::Entity::insert_many(notifications)
            .exec_without_returning(txn)
            .await
            .map_err(store_error)?;
    }
    write_unread_counts(txn, changes()).await?;
    for change in changes() {
        match change {
            Change::AcknowledgeNotifications {
                identity_id,
                ids,
                at,
            } => {
                use identity_notification::Column;
                identity_notification::Entity::update_many()
                    .col_expr(Column::AcknowledgedAt, Expr::value(*at))
                    .filter(Column::IdentityId.eq(*identity_id))
                    .filter(Column::Id.is_in(ids.iter().copied()))
                    .filter(Column::AcknowledgedAt.is_null())
                    .exec(txn)
                    .await
                    .map_err(store_error)?;
            }
            Change::DeleteCryptoAction {
                account_id,
                action_id,
            } => {
                let deleted = crypto_action::Entity::delete_many()
                    .filter(crypto_action::Column::Id.eq(*action_id))
                    .filter(crypto_action::Column::AccountId.eq(*account_id))
                    .exec(txn)
                    .await
                    .map_err(store_error)?;
                if deleted.rows_affected == 0 {
                    return Err(StoreError::NotFound);
                }
            }
            Change::MarkInvitationUsed {
                crypto_action_id, ..
            } => mark_invitation_used(txn, *crypto_action_id).await?,
            Change::RemoveMember {
                box_id,
                identity_id,
            } => {
                let removed = box_member::Entity::delete_many()
                    .filter(box_member::Column::BoxId.eq(*box_id))
                    .filter(box_member::Column::IdentityId.eq(*identity_id))
                    .exec(txn)
                    .await
                    .map_err(store_error)?;
                if removed.rows_affected == 0 {
                    return Err(StoreError::NotFound);
                }
            }
            _ => {}
        }
    }
    update_log::append(txn, sets).await
}

/// Sets `"used": true` in the details of the notifications whose `cryptoaction_id` is
/// `crypto_action_id` (found by text, then checked in their parsed details).
async fn mark_invitation_used(
    txn: &DatabaseTransaction,
    crypto_action_id: Uuid,
) -> Result<(), StoreError> {
    use identity_notification::Column;
    let candidates = identity_notification::Entity::find()
        .filter(Column::Details.contains(crypto_action_id.to_string()))
        .all(txn)
        .await
        .map_err(store_error)?;
    for row in candidates {
        let mut details = parse_json(&row.details, "notification details")?;
        if details["cryptoaction_id"] != serde_json::json!(crypto_action_id) {
            continue;
        }
        details["used"] = serde_json::Value::Bool(true);
        identity_notification::Entity::update_many()
            .col_expr(Column::Details, Expr::value(details.to_string()))
            .filter(Column::Id.eq(row.id))
            .exec(txn)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Applies the unread-count changes, one statement per count they touch (in key order, so
/// that concurrent batches lock rows in the same order).
async fn write_unread_counts(
    txn: &DatabaseTransaction,
    changes: impl Iterator<Item = &Change>,
) -> Result<(), StoreError> {
    let mut effects: BTreeMap<(Uuid, Uuid), UnreadEffect> = BTreeMap::new();
    for change in changes {
        match change {
            Change::IncrementUnreadCount {
                identity_id,
                box_id,
            } => {
                let effect = effects
                    .entry((*identity_id, *box_id))
                    .or_insert(UnreadEffect::Add(0));
                *effect = match *effect {
                    UnreadEffect::Add(n) => UnreadEffect::Add(n + 1),
                    UnreadEffect::Set(n) => UnreadEffect::Set(n + 1),
                };
            }
            Change::ResetUnreadCount {
                identity_id,
                box_id,
            } => {
                effects.insert((*identity_id, *box_id), UnreadEffect::Set(0));
            }
            _ => {}
        }
    }
    // Growths in one statement (a message grows every other member's count), resets in one
    // statement per chunk (a batch of acks resets many counts, most of them already zero: a
    // count of zero is no row, so those delete nothing); other sets one by one.
    let count = box_unread_count::Column::Count;
    let mut growths = Vec::new();
    let mut resets = Vec::new();
    for ((identity_id, box_id), effect) in effects {
        match effect {
            UnreadEffect::Add(n) => growths.push((identity_id, box_id, n)),
            UnreadEffect::Set(0) => resets.push((identity_id, box_id)),
            UnreadEffect::Set(n) => {
                box_unread_count::Entity::insert(box_unread_count::ActiveModel {
                    identity_id: Set(identity_id),
                    box_id: Set(box_id),
                    count: Set(n),
                })
                .on_conflict(
                    OnConflict::columns([
                        box_unread_count::Column::IdentityId,
                        box_unread_count::Column::BoxId,
                    ])
                    .value(count, Expr::value(n))
                    .to_owned(),
                )
                .exec_without_returning(txn)
                .await
                .map_err(store_error)?;
            }
        }
    }
    let backend = txn.get_database_backend();
    let per_statement = match backend {
        DbBackend::Postgres => RESETS_PER_POSTGRES_STATEMENT,
        _ => RESETS_PER_STATEMENT,
    };
    for chunk in resets.chunks(per_statement) {
        // Padded to a power of two by repeating the last pair: ten statement texts in all, so
        // that the prepared statements are reused instead of parsed for every batch of acks.
        let padded = chunk.len().next_power_of_two();
        let pairs = (0..padded).map(|i| chunk[i.min(chunk.len() - 1)]);
        let values: Vec<sea_orm::Value> = pairs
            .flat_map(|(identity_id, box_id)| [identity_id.into(), box_id.into()])
            .collect();
        execute_written_out(txn, reset_sql(backend, padded), values).await?;
    }
    let growths_per_statement = match backend {
        DbBackend::Postgres => {
            POSTGRES_STATEMENT_BYTES / (2 * postgres_wire_bytes(16) + postgres_wire_bytes(8))
        }
        _ => UNREAD_ROWS_PER_STATEMENT,
    };
    for chunk in growths.chunks(growths_per_statement) {
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|(identity_id, box_id, n)| {
                [(*identity_id).into(), (*box_id).into(), (*n).into()]
            })
            .collect();
        execute_written_out(txn, grow_sql(backend, chunk.len()), values).await?;
    }
    Ok(())
}

/// The statement growing `rows` unread counts by the amounts given, each row as (identity,
/// box, amount), written out (see `placeholder_rows`): a message to a thousand members grows
/// 999 counts.
fn grow_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "INSERT INTO box_unread_counts (identity_id, box_id, count) VALUES {} \
         ON CONFLICT (identity_id, box_id) \
         DO UPDATE SET count = box_unread_counts.count + excluded.count",
        placeholder_rows(backend, rows, 3)
    )
}

/// The statement deleting `pairs` unread counts, each given as (identity, box), written out
/// rather than built with sea-query (its expression tree for a long condition cost more than
/// the statement itself under a load of acks). PostgreSQL joins the pairs as a `VALUES`
/// list (an `OR` of 512 conditions took it so long to plan that acks fell behind); SQLite,
/// which plans the `OR` as one index lookup per pair, gets the `OR`.
fn reset_sql(backend: DbBackend, pairs: usize) -> String {
    let mut sql = String::new();
    match backend {
        DbBackend::Postgres => {
            sql.push_str("DELETE FROM box_unread_counts AS u USING (VALUES ");
            for i in 0..pairs {
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "(${}::uuid, ${}::uuid)", 2 * i + 1, 2 * i + 2);
            }
            sql.push_str(
                ") AS r (identity_id, box_id) \
                 WHERE u.identity_id = r.identity_id AND u.box_id = r.box_id",
            );
        }
        _ => {
            sql.push_str("DELETE FROM box_unread_counts WHERE ");
            for i in 0..pairs {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str("(identity_id = ? AND box_id = ?)");
            }
        }
    }
    sql
}

#[async_trait]
impl BoxStore for SeaOrmStorage {
    async fn commit(&self, changes: &ChangeSet) -> Result<Vec<SequencedUpdate>, StoreError> {
        self.commit_in_a_batch(changes).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SeaOrmStorage::ping(self).await
    }
}

#[async_trait]
impl UpdateLog for SeaOrmStorage {
    async fn updates_after(
        &self,
        identity_id: Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<SequencedUpdate>, StoreError> {
        update_log::updates_after(&self.db, identity_id, after, limit).await
    }

    async fn log_positions(&self, identity_id: Uuid) -> Result<LogPositions, StoreError> {
        update_log::positions(&self.db, identity_id).await
    }

    async fn latest_position(&self, identity_id: Uuid) -> Result<u64, StoreError> {
        update_log::latest_position(&self.db, identity_id).await
    }

    async fn updates_created_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedUpdate>, StoreError> {
        update_log::created_between(&self.db, from, until, cursor, limit).await
    }

    async fn prune_updates(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        use update_log::{AgedTable, PRUNE_IDENTITIES};
        let before = now - retention.max_age;
        let mut removed = self
            .prune_in_steps(|| update_log::prune_older_chunk(&self.db, AgedTable::Entries, before))
            .await?;
        loop {
            let _turn = self.write_turn().await;
            let (updates, entries) = update_groups::prune_older_chunk(&self.db, before).await?;
            removed += entries;
            if updates < update_log::PRUNE_CHUNK {
                break;
            }
        }
        let mut after = None;
        loop {
            let identities =
                update_log::identities_beyond(&self.db, retention.max_per_identity, after).await?;
            let Some(&(last, _, _)) = identities.last() else {
                break;
            };
            after = Some(last);
            for (identity, latest, pruned_through) in &identities {
                let through = latest.saturating_sub(retention.max_per_identity);
                // Every position from the first kept to `through` goes: the identity's own
                // entries deleted, its part of group updates behind the new floor.
                let oldest = update_log::positions(&self.db, *identity).await?.oldest;
                removed += through.saturating_sub((*pruned_through).max(oldest.saturating_sub(1)));
                self.prune_in_steps(|| update_log::prune_through(&self.db, *identity, through))
                    .await?;
                let _turn = self.write_turn().await;
                update_log::set_pruned_through(&self.db, *identity, through).await?;
            }
            if (identities.len() as u64) < PRUNE_IDENTITIES {
                break;
            }
        }
        // Shared objects go with the entries of their age; an entry pruned for its identity's
        // count leaves its object to the others referring to it, until that age. Groups go
        // once unused for as long.
        self.prune_in_steps(|| {
            update_log::prune_older_chunk(&self.db, AgedTable::SharedObjects, before)
        })
        .await?;
        loop {
            let unused = update_groups::unused_groups(&self.db, before).await?;
            for group in &unused {
                let _turn = self.write_turn().await;
                let txn = self.db.begin().await.map_err(store_error)?;
                update_groups::remove_group(&txn, *group, before).await?;
                txn.commit().await.map_err(store_error)?;
            }
            if (unused.len() as u64) < update_groups::PRUNE_GROUPS {
                break;
            }
        }
        Ok(removed)
    }
}

impl SeaOrmStorage {
    /// Runs `step` (a pruning statement deleting at most [`update_log::PRUNE_CHUNK`] rows)
    /// until it deletes fewer, each run in a write turn of its own so that writers go between
    /// them; returns how many rows went.
    async fn prune_in_steps<Step>(&self, mut step: impl FnMut() -> Step) -> Result<u64, StoreError>
    where
        Step: Future<Output = Result<u64, StoreError>>,
    {
        let mut removed = 0;
        loop {
            let _turn = self.write_turn().await;
            let gone = step().await?;
            removed += gone;
            if gone < update_log::PRUNE_CHUNK {
                return Ok(removed);
            }
        }
    }
}

#[async_trait]
impl PublisherRegistry for SeaOrmStorage {
    async fn publisher_heartbeat(
        &self,
        heartbeat: PublisherHeartbeat,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let _turn = self.write_turn().await;
        let txn = self.db.begin().await.map_err(store_error)?;
        let adopted = update_log::publisher_heartbeat(&txn, heartbeat).await?;
        txn.commit().await.map_err(store_error)?;
        Ok(adopted)
    }

    async fn remove_publisher(&self, publisher: Uuid) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        update_log::remove_publisher(&self.db, publisher).await
    }
}
