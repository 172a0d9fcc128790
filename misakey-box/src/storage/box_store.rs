//! The box store on sea-orm: committing change sets (in batches, see `change_batches`), the
//! update logs and the publishers' registry, and the conversions of its rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter as _, SqlErr, TransactionTrait as _,
};
use uuid::Uuid;

use super::entities::{box_event, box_key_share, box_member, crypto_action, identity_notification};
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

/// Rows per statement growing read marks on SQLite: three bound values each, well within its
/// limit (PostgreSQL's statements are kept within `POSTGRES_STATEMENT_BYTES` instead).
const MARK_ROWS_PER_STATEMENT: usize = 5_000;

/// Marks set to their box's total per statement on SQLite: two bound values each, in a
/// condition whose size its parser handles quickly. A power of two: see the padding below.
const READS_PER_STATEMENT: usize = 512;

/// The same on PostgreSQL, smaller: sqlx leaves Nagle's algorithm on, and a statement whose
/// bound values (20 bytes a UUID) did not fit one write of the client's buffer waited for
/// the server's delayed acknowledgement, about 40 ms a statement (measured: 44 ms per
/// statement of 512 pairs in the server's log, 1 ms for the same prepared statement in psql).
const READS_PER_POSTGRES_STATEMENT: usize = 128;

/// What a batch does to one member's read mark, its changes taken in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MarkEffect {
    /// Its own events: the mark grows with the total, by this much.
    Add(i64),
    /// Read (a reset, or a join): the mark is the box's total after this many of the batch's
    /// counted events of the box, plus the member's own events after the read.
    ReadAfter(i64),
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
                // Set to the box's total below (a join reads the box).
                read_mark: Set(0),
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

/// Applies the unread-count changes: a counted event grows its box's total (one row, however
/// many members) and its sender's read mark; a reset or a join sets the member's mark to the
/// total as it stood at that point of the batch. The totals are written first, so that a mark
/// set from them can be expressed as "the total now, less the batch's events after the read".
async fn write_unread_counts(
    txn: &DatabaseTransaction,
    changes: impl Iterator<Item = &Change>,
) -> Result<(), StoreError> {
    // Per box, the batch's counted events so far; per (box, member), what happens to its mark.
    let mut counted: BTreeMap<Uuid, i64> = BTreeMap::new();
    let mut marks: BTreeMap<(Uuid, Uuid), MarkEffect> = BTreeMap::new();
    // Boxes the batch creates: their total was zero, so a read there is a growth from the
    // inserted mark of zero (a contact then writes no mark at all).
    let mut created: BTreeSet<Uuid> = BTreeSet::new();
    for change in changes {
        let (box_id, identity_id, read) = match change {
            Change::AddEvent(event) if event.kind == EventType::Create => {
                created.insert(event.box_id);
                continue;
            }
            Change::CountUnreadEvent { box_id, sender_id } => {
                *counted.entry(*box_id).or_default() += 1;
                (*box_id, *sender_id, false)
            }
            Change::ResetUnreadCount {
                identity_id,
                box_id,
            }
            | Change::AddMember {
                box_id,
                identity_id,
                ..
            } => (*box_id, *identity_id, true),
            _ => continue,
        };
        let so_far = counted.get(&box_id).copied().unwrap_or(0);
        let effect = marks
            .entry((box_id, identity_id))
            .or_insert(MarkEffect::Add(0));
        *effect = match (*effect, read) {
            (_, true) => MarkEffect::ReadAfter(so_far),
            (MarkEffect::Add(n), false) => MarkEffect::Add(n + 1),
            // Its own event after its read: one more event it has not to read.
            (MarkEffect::ReadAfter(n), false) => MarkEffect::ReadAfter(n + 1),
        };
    }
    let backend = txn.get_database_backend();
    let rows_per_statement = match backend {
        DbBackend::Postgres => {
            POSTGRES_STATEMENT_BYTES / (2 * postgres_wire_bytes(16) + postgres_wire_bytes(8))
        }
        _ => MARK_ROWS_PER_STATEMENT,
    };

    let totals: Vec<(Uuid, i64)> = counted.iter().map(|(box_id, n)| (*box_id, *n)).collect();
    for chunk in totals.chunks(rows_per_statement) {
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|(box_id, n)| [(*box_id).into(), (*n).into()])
            .collect();
        execute_written_out(txn, grow_totals_sql(backend, chunk.len()), values).await?;
    }

    let mut growths = Vec::new();
    // Reads grouped by how many of the batch's events of their box came after them (zero for
    // a batch of acks alone), so that each statement subtracts one bound amount.
    let mut reads: BTreeMap<i64, Vec<(Uuid, Uuid)>> = BTreeMap::new();
    for ((box_id, identity_id), effect) in marks {
        match effect {
            MarkEffect::Add(0) => {}
            MarkEffect::Add(n) => growths.push((box_id, identity_id, n)),
            MarkEffect::ReadAfter(read) if created.contains(&box_id) => {
                if read > 0 {
                    growths.push((box_id, identity_id, read));
                }
            }
            MarkEffect::ReadAfter(read) => {
                let after = counted.get(&box_id).copied().unwrap_or(0) - read;
                reads.entry(after).or_default().push((identity_id, box_id));
            }
        }
    }
    for chunk in growths.chunks(rows_per_statement) {
        let values: Vec<sea_orm::Value> = chunk
            .iter()
            .flat_map(|(box_id, identity_id, n)| {
                [(*box_id).into(), (*identity_id).into(), (*n).into()]
            })
            .collect();
        execute_written_out(txn, grow_marks_sql(backend, chunk.len()), values).await?;
    }
    let per_statement = match backend {
        DbBackend::Postgres => READS_PER_POSTGRES_STATEMENT,
        _ => READS_PER_STATEMENT,
    };
    for (after, pairs) in reads {
        for chunk in pairs.chunks(per_statement) {
            // Padded to a power of two by repeating the last pair: ten statement texts in all,
            // so that the prepared statements are reused instead of parsed for every batch of
            // acks.
            let padded = chunk.len().next_power_of_two();
            let pairs = (0..padded).map(|i| chunk[i.min(chunk.len() - 1)]);
            let values: Vec<sea_orm::Value> = std::iter::once(after.into())
                .chain(pairs.flat_map(|(identity_id, box_id)| [identity_id.into(), box_id.into()]))
                .collect();
            execute_written_out(txn, read_sql(backend, padded), values).await?;
        }
    }
    Ok(())
}

/// The statement growing `rows` boxes' unread totals, each row as (box, amount).
fn grow_totals_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "INSERT INTO box_unread_totals (box_id, events) VALUES {} \
         ON CONFLICT (box_id) DO UPDATE SET events = box_unread_totals.events + excluded.events",
        placeholder_rows(backend, rows, 2)
    )
}

/// The statement growing `rows` members' read marks (their own events), each row as (box,
/// member, amount). A former member has no row: nothing to grow.
fn grow_marks_sql(backend: DbBackend, rows: usize) -> String {
    let rows = placeholder_rows(backend, rows, 3);
    match backend {
        DbBackend::Postgres => format!(
            "UPDATE box_members AS m SET read_mark = m.read_mark + g.amount \
             FROM (VALUES {rows}) AS g (box_id, identity_id, amount) \
             WHERE m.box_id = g.box_id::uuid AND m.identity_id = g.identity_id::uuid"
        ),
        // SQLite names a VALUES list's columns column1, column2...
        _ => format!(
            "UPDATE box_members SET read_mark = read_mark + g.column3 FROM (VALUES {rows}) AS g \
             WHERE box_members.box_id = g.column1 AND box_members.identity_id = g.column2"
        ),
    }
}

/// The statement setting `pairs` members' read marks to their box's total less the first bound
/// value (the batch's events after the read), each pair given as (member, box), skipping the
/// marks already there (most acks find nothing unread: no row written); written out
/// rather than built with sea-query (its expression tree for a long condition cost more than
/// the statement itself under a load of acks). PostgreSQL joins the pairs as a `VALUES` list
/// (an `OR` of 512 conditions took it so long to plan that acks fell behind); SQLite, which
/// plans the `OR` as one index lookup per pair, gets the `OR`.
fn read_sql(backend: DbBackend, pairs: usize) -> String {
    const TOTAL: &str = "COALESCE((SELECT t.events FROM box_unread_totals AS t \
                         WHERE t.box_id = box_members.box_id), 0)";
    let mut sql = String::new();
    match backend {
        DbBackend::Postgres => {
            let _ = write!(
                sql,
                "UPDATE box_members SET read_mark = {TOTAL} - $1 FROM (VALUES "
            );
            for i in 0..pairs {
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "(${}::uuid, ${}::uuid)", 2 * i + 2, 2 * i + 3);
            }
            let _ = write!(
                sql,
                ") AS r (identity_id, box_id) \
                 WHERE box_members.identity_id = r.identity_id AND box_members.box_id = r.box_id \
                 AND box_members.read_mark <> {TOTAL} - $1"
            );
        }
        _ => {
            let _ = write!(
                sql,
                "UPDATE box_members SET read_mark = {TOTAL} - ?1 WHERE ("
            );
            for i in 0..pairs {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                let _ = write!(
                    sql,
                    "(identity_id = ?{} AND box_id = ?{})",
                    2 * i + 2,
                    2 * i + 3
                );
            }
            let _ = write!(sql, ") AND read_mark <> {TOTAL} - ?1");
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
