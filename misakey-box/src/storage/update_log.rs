//! The per-identity update logs on sea-orm: appending in the transaction of each change set,
//! reading for replays and for the relay, the publishers' checkpoints, and pruning. An
//! identity's log is its own entries (`identity_updates`) merged with its part of the updates
//! kept once for a group of recipients (`update_groups`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QueryFilter as _, QueryOrder as _, QuerySelect as _, Select, Statement,
};
use uuid::Uuid;

use super::entities::{identity_position, identity_update, outbox_publisher, shared_update_object};
use super::update_groups;
use super::{
    POSTGRES_STATEMENT_BYTES, corrupt, execute_written_out, placeholder, placeholder_rows,
    postgres_wire_bytes, store_error,
};
use crate::domain::{AddressedUpdate, RealtimeUpdate, SequencedUpdate, UpdateType};
use crate::error::StoreError;
use crate::ports::{ChangeSet, LogCursor, LogPositions, LoggedUpdate, PublisherHeartbeat};

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative position {value}")))
}

/// A log entry as an update, its object taken from `shared` when it refers to a shared one.
fn to_sequenced(
    row: identity_update::Model,
    shared: &HashMap<Uuid, Arc<serde_json::Value>>,
) -> Result<SequencedUpdate, StoreError> {
    let kind = UpdateType::parse(&row.r#type)
        .ok_or_else(|| corrupt(format!("unknown update type {:?}", row.r#type)))?;
    let object = match row.shared_object_id {
        Some(id) => shared
            .get(&id)
            .cloned()
            .ok_or_else(|| corrupt(format!("log entry refers to a missing object {id}")))?,
        None => Arc::new(
            serde_json::from_str(&row.object)
                .map_err(|e| corrupt(format!("update object is not JSON: {e}")))?,
        ),
    };
    Ok(SequencedUpdate {
        recipient: row.identity_id,
        seq: to_u64(row.seq)?,
        update: RealtimeUpdate { kind, object },
    })
}

/// The shared objects the entries refer to, each read and parsed once.
async fn shared_objects(
    db: &impl ConnectionTrait,
    rows: &[identity_update::Model],
) -> Result<HashMap<Uuid, Arc<serde_json::Value>>, StoreError> {
    let ids: BTreeSet<Uuid> = rows.iter().filter_map(|row| row.shared_object_id).collect();
    let mut objects = HashMap::with_capacity(ids.len());
    let ids: Vec<Uuid> = ids.into_iter().collect();
    for chunk in ids.chunks(MAX_BOUND_VALUES) {
        let found = shared_update_object::Entity::find()
            .filter(shared_update_object::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await
            .map_err(store_error)?;
        for row in found {
            let object = serde_json::from_str(&row.object)
                .map_err(|e| corrupt(format!("shared update object is not JSON: {e}")))?;
            objects.insert(row.id, Arc::new(object));
        }
    }
    Ok(objects)
}

/// Log entries as updates, their shared objects read in one query.
async fn resolve(
    db: &impl ConnectionTrait,
    rows: Vec<identity_update::Model>,
) -> Result<Vec<(DateTime<Utc>, SequencedUpdate)>, StoreError> {
    let shared = shared_objects(db, &rows).await?;
    rows.into_iter()
        .map(|row| {
            let created_at = row.created_at;
            to_sequenced(row, &shared).map(|update| (created_at, update))
        })
        .collect()
}

/// Where an entry's object is written.
#[derive(Debug, Clone)]
enum EntryObject {
    /// In the entry itself: an update for one identity.
    Inline(String),
    /// In this `shared_update_objects` row: an update that reached several identities.
    Shared(Uuid),
}

impl EntryObject {
    /// The entry's `object` and `shared_object_id` columns.
    fn columns(&self) -> (String, Option<Uuid>) {
        match self {
            Self::Inline(text) => (text.clone(), None),
            Self::Shared(id) => (String::new(), Some(*id)),
        }
    }
}

/// One update on its way into a log.
struct Entry<'a> {
    recipient: Uuid,
    update: &'a RealtimeUpdate,
    object: EntryObject,
    created_at: DateTime<Utc>,
    /// How far before its recipient's new latest position it lands: the last update of a
    /// recipient gets the latest itself.
    back: u64,
}

/// An update to distinct recipients, enough of them, sharing one object: kept once for its
/// group of recipients (see `update_groups`).
struct GroupRun<'a> {
    update: &'a RealtimeUpdate,
    created_at: DateTime<Utc>,
    /// Each recipient, and how far before its new latest position the update lands.
    backs: Vec<(Uuid, u64)>,
}

/// Appends the change sets' updates to their recipients' logs, inside their transaction, in
/// order; returns each change set's updates with their positions. Each recipient's
/// position row is bumped once for all its updates, recipients in id order: the row lock
/// makes positions follow commit order, and the fixed order keeps two transactions in
/// opposite directions from deadlocking.
pub(super) async fn append(
    txn: &DatabaseTransaction,
    records: &[&ChangeSet],
) -> Result<Vec<Vec<SequencedUpdate>>, StoreError> {
    let mut counts: BTreeMap<Uuid, u64> = BTreeMap::new();
    for record in records {
        for update in &record.updates {
            *counts.entry(update.recipient).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(vec![Vec::new(); records.len()]);
    }
    let flat: Vec<(&AddressedUpdate, DateTime<Utc>, usize)> = records
        .iter()
        .enumerate()
        .flat_map(|(index, record)| {
            record
                .updates
                .iter()
                .map(move |update| (update, record.created_at, index))
        })
        .collect();
    // How far before its recipient's new latest position each update lands: the last update
    // of a recipient gets the latest itself.
    let mut remaining = counts.clone();
    let backs: Vec<u64> = flat
        .iter()
        .map(|(addressed, _, _)| {
            let left = remaining.entry(addressed.recipient).or_default();
            *left -= 1;
            *left
        })
        .collect();
    // Consecutive updates of one change set sharing one object (an event reaching every
    // member of a box), when they are enough of them, become one group update if their
    // recipients are distinct, or else entries referring to one stored object; the others
    // are entries with their object inline.
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut groups: Vec<GroupRun<'_>> = Vec::new();
    let mut shared = Vec::new();
    let mut start = 0;
    while start < flat.len() {
        let (first, created_at, record) = flat[start];
        let run = flat[start..]
            .iter()
            .take_while(|(other, _, other_record)| {
                *other_record == record && other.update.shares_object_with(&first.update)
            })
            .count();
        // Only a run long enough to share is checked for distinct recipients: a contact's
        // updates (runs of one) pay nothing for it.
        let distinct = || {
            flat[start..start + run]
                .iter()
                .map(|(addressed, _, _)| addressed.recipient)
                .collect::<BTreeSet<Uuid>>()
                .len()
                == run
        };
        if run >= SHARED_FROM_RECIPIENTS && distinct() {
            let backs = (start..start + run)
                .map(|index| (flat[index].0.recipient, backs[index]))
                .collect();
            groups.push(GroupRun {
                update: &first.update,
                created_at,
                backs,
            });
            start += run;
            continue;
        }
        let text = first.update.object.to_string();
        let objects = if run >= SHARED_FROM_RECIPIENTS {
            let id = Uuid::new_v4();
            shared.push(shared_update_object::ActiveModel {
                id: Set(id),
                object: Set(text),
                created_at: Set(created_at),
            });
            vec![EntryObject::Shared(id); run]
        } else {
            vec![EntryObject::Inline(text)]
        };
        for (offset, object) in objects.into_iter().enumerate() {
            let (addressed, created_at, _) = flat[start + offset];
            entries.push(Entry {
                recipient: addressed.recipient,
                update: &addressed.update,
                object,
                created_at,
                back: backs[start + offset],
            });
        }
        start += if run >= SHARED_FROM_RECIPIENTS {
            run
        } else {
            1
        };
    }
    for chunk in shared.chunks(MAX_BOUND_VALUES / 3) {
        shared_update_object::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await
            .map_err(store_error)?;
    }
    let latest = match txn.get_database_backend() {
        DbBackend::Postgres
            if groups.is_empty() && counts.values().all(|&n| fits_one_statement(n)) =>
        {
            let mut latest = BTreeMap::new();
            for (entries, counts) in postgres_statements(&entries, &counts) {
                latest.extend(bump_and_insert_in_one_statement(txn, &entries, &counts).await?);
            }
            latest
        }
        // SQLite, group updates (their recipients' positions are needed before they are
        // written), and a recipient with more entries than one statement can bind.
        _ => bump_then_insert(txn, &entries, &counts).await?,
    };
    let position = |recipient: &Uuid, back: u64| -> Result<u64, StoreError> {
        let latest = latest
            .get(recipient)
            .ok_or_else(|| corrupt("no position for a recipient"))?;
        Ok(latest - back)
    };
    if !groups.is_empty() {
        let group_updates = groups
            .iter()
            .map(|run| {
                let mut positions = run
                    .backs
                    .iter()
                    .map(|(recipient, back)| Ok((*recipient, position(recipient, *back)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                positions.sort_unstable();
                Ok(update_groups::GroupUpdate {
                    update: run.update,
                    created_at: run.created_at,
                    positions,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        update_groups::append(txn, &group_updates).await?;
    }
    let mut sequenced = flat
        .iter()
        .zip(&backs)
        .map(|((addressed, _, _), back)| {
            Ok(SequencedUpdate {
                recipient: addressed.recipient,
                seq: position(&addressed.recipient, *back)?,
                update: addressed.update.clone(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter();
    Ok(records
        .iter()
        .map(|record| sequenced.by_ref().take(record.updates.len()).collect())
        .collect())
}

/// The position bump, as `INSERT ... ON CONFLICT` rows listed in id order (concurrent
/// transactions lock them in the same order), its values numbered from the first.
fn bump_sql(backend: DbBackend, recipients: usize) -> String {
    format!(
        "INSERT INTO identity_positions (identity_id, latest) VALUES {} \
         ON CONFLICT (identity_id) DO UPDATE SET latest = identity_positions.latest + excluded.latest \
         RETURNING identity_id, latest",
        placeholder_rows(backend, recipients, 2)
    )
}

fn bump_values(counts: &BTreeMap<Uuid, u64>) -> impl Iterator<Item = sea_orm::Value> {
    counts
        .iter()
        .flat_map(|(recipient, count)| [(*recipient).into(), to_i64(*count).into()])
}

/// Most values bound in one statement: below SQLite's 32,766 and PostgreSQL's 65,535, so
/// that an event reaching thousands of members, or a batch of many, is written in chunks.
pub(super) const MAX_BOUND_VALUES: usize = 30_000;

/// Recipients from which an update is kept once for its group of recipients (or, when a
/// recipient appears twice, its object stored once and referred to): below it, the group's
/// rows cost more than the entries they save (measured: messages to boxes of two members were
/// 4-15% slower with a shared object each).
const SHARED_FROM_RECIPIENTS: usize = 8;

/// Values bound per log entry: recipient, position, type, object, creation time, shared object.
const VALUES_PER_ENTRY: usize = 6;

/// SQLite (one writer at a time anyway), and batches too large for one statement: the bump
/// read back, then the entries, each in chunks.
async fn bump_then_insert(
    txn: &DatabaseTransaction,
    entries: &[Entry<'_>],
    counts: &BTreeMap<Uuid, u64>,
) -> Result<BTreeMap<Uuid, u64>, StoreError> {
    let backend = txn.get_database_backend();
    let mut latest = BTreeMap::new();
    let recipients: Vec<(Uuid, u64)> = counts.iter().map(|(r, c)| (*r, *c)).collect();
    // Chunks keep the id order: concurrent transactions still lock rows in the same order.
    // On PostgreSQL within one segment of the connection (see [`POSTGRES_STATEMENT_BYTES`]).
    let per_statement = match backend {
        DbBackend::Postgres => {
            POSTGRES_STATEMENT_BYTES / (postgres_wire_bytes(16) + postgres_wire_bytes(8))
        }
        _ => MAX_BOUND_VALUES / 2,
    };
    for chunk in recipients.chunks(per_statement) {
        let chunk: BTreeMap<Uuid, u64> = chunk.iter().copied().collect();
        let bump = bump_sql(backend, chunk.len());
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                bump,
                bump_values(&chunk),
            ))
            .await
            .map_err(store_error)?;
        for row in rows {
            let recipient: Uuid = row.try_get("", "identity_id").map_err(store_error)?;
            let position: i64 = row.try_get("", "latest").map_err(store_error)?;
            latest.insert(recipient, to_u64(position)?);
        }
    }
    // In the order of the log's key (recipient, position): inserted in that order, the index
    // is walked forwards once instead of entered at a random leaf per entry.
    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by_key(|entry| (entry.recipient, std::cmp::Reverse(entry.back)));
    for chunk in sorted.chunks(MAX_BOUND_VALUES / VALUES_PER_ENTRY) {
        let mut values = Vec::with_capacity(chunk.len() * VALUES_PER_ENTRY);
        for entry in chunk {
            let position = latest
                .get(&entry.recipient)
                .ok_or_else(|| corrupt("no position for a recipient"))?;
            let (object, shared_object_id) = entry.object.columns();
            values.extend([
                entry.recipient.into(),
                to_i64(position - entry.back).into(),
                entry.update.kind.as_str().into(),
                object.into(),
                entry.created_at.into(),
                shared_object_id.into(),
            ]);
        }
        execute_written_out(txn, insert_entries_sql(backend, chunk.len()), values).await?;
    }
    Ok(latest)
}

/// The statement inserting `rows` log entries, written out (see `placeholder_rows`).
fn insert_entries_sql(backend: DbBackend, rows: usize) -> String {
    format!(
        "INSERT INTO identity_updates \
         (identity_id, seq, type, object, created_at, shared_object_id) VALUES {}",
        placeholder_rows(backend, rows, VALUES_PER_ENTRY)
    )
}

impl Entry<'_> {
    /// Bytes of this entry's bound values on PostgreSQL.
    fn postgres_wire_bytes(&self) -> usize {
        let object = match &self.object {
            EntryObject::Inline(text) => text.len(),
            EntryObject::Shared(_) => 16,
        };
        // recipient, position, type, object or shared object, creation time, and the other
        // of object and shared object, empty.
        postgres_wire_bytes(16)
            + postgres_wire_bytes(8)
            + postgres_wire_bytes(self.update.kind.as_str().len())
            + postgres_wire_bytes(object)
            + postgres_wire_bytes(8)
            + postgres_wire_bytes(0)
    }
}

/// Whether `entries` entries of one recipient, and its bump, fit the values of one statement.
fn fits_one_statement(entries: u64) -> bool {
    usize::try_from(entries).is_ok_and(|n| 2 + VALUES_PER_ENTRY * n <= MAX_BOUND_VALUES)
}

/// The PostgreSQL statements of a log append: recipients in id order (each statement locks its
/// recipients' position rows in that order, and the statements follow it), as many per statement
/// as keep its values within [`POSTGRES_STATEMENT_BYTES`] and [`MAX_BOUND_VALUES`], with their
/// entries. A recipient over the byte budget alone gets a statement of its own.
fn postgres_statements<'e, 'u>(
    entries: &'e [Entry<'u>],
    counts: &BTreeMap<Uuid, u64>,
) -> Vec<(Vec<&'e Entry<'u>>, BTreeMap<Uuid, u64>)> {
    let mut by_recipient: BTreeMap<Uuid, Vec<&Entry<'u>>> = BTreeMap::new();
    for entry in entries {
        by_recipient.entry(entry.recipient).or_default().push(entry);
    }
    let bump_bytes = postgres_wire_bytes(16) + postgres_wire_bytes(8);
    let mut statements = Vec::new();
    let mut current: (Vec<&Entry<'u>>, BTreeMap<Uuid, u64>) = Default::default();
    let (mut bytes, mut values) = (0, 0);
    for (recipient, own) in by_recipient {
        let own_bytes = bump_bytes
            + own
                .iter()
                .map(|entry| entry.postgres_wire_bytes())
                .sum::<usize>();
        let own_values = 2 + VALUES_PER_ENTRY * own.len();
        let fits = bytes + own_bytes <= POSTGRES_STATEMENT_BYTES
            && values + own_values <= MAX_BOUND_VALUES;
        if !fits && !current.1.is_empty() {
            statements.push(std::mem::take(&mut current));
            (bytes, values) = (0, 0);
        }
        current.0.extend(own);
        current
            .1
            .insert(recipient, counts.get(&recipient).copied().unwrap_or(0));
        bytes += own_bytes;
        values += own_values;
    }
    if !current.1.is_empty() {
        statements.push(current);
    }
    statements
}

/// PostgreSQL: the bump and the entries in one round trip, the entries' positions computed
/// from the bumped rows in the statement itself.
async fn bump_and_insert_in_one_statement(
    txn: &DatabaseTransaction,
    entries: &[&Entry<'_>],
    counts: &BTreeMap<Uuid, u64>,
) -> Result<BTreeMap<Uuid, u64>, StoreError> {
    let bump = bump_sql(DbBackend::Postgres, counts.len());
    let first = 2 * counts.len() + 1;
    let rows: Vec<String> = (0..entries.len())
        .map(|i| {
            let p = first + VALUES_PER_ENTRY * i;
            format!(
                "(${}::uuid, ${}::bigint, ${}::text, ${}::text, ${}::timestamptz, ${}::uuid)",
                p,
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "WITH bumped AS ({bump}) \
         INSERT INTO identity_updates (identity_id, seq, type, object, created_at, shared_object_id) \
         SELECT e.identity_id, bumped.latest - e.back, e.type, e.object, e.created_at, e.shared_object_id \
         FROM (VALUES {}) AS e (identity_id, back, type, object, created_at, shared_object_id) \
         JOIN bumped ON bumped.identity_id = e.identity_id \
         RETURNING identity_id, seq",
        rows.join(", ")
    );
    let mut values: Vec<sea_orm::Value> = bump_values(counts).collect();
    for entry in entries {
        let (object, shared_object_id) = entry.object.columns();
        values.extend([
            entry.recipient.into(),
            to_i64(entry.back).into(),
            entry.update.kind.as_str().into(),
            object.into(),
            entry.created_at.into(),
            shared_object_id.into(),
        ]);
    }
    let returned = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .map_err(store_error)?;
    // A recipient's last entry has the latest position.
    let mut latest: BTreeMap<Uuid, u64> = BTreeMap::new();
    for row in returned {
        let recipient: Uuid = row.try_get("", "identity_id").map_err(store_error)?;
        let seq = to_u64(row.try_get("", "seq").map_err(store_error)?)?;
        let entry = latest.entry(recipient).or_default();
        *entry = (*entry).max(seq);
    }
    Ok(latest)
}

pub(super) async fn updates_after(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
    after: u64,
    limit: usize,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let (latest, pruned_through) = position_row(db, identity_id).await?;
    let after = after.max(pruned_through);
    if latest <= after {
        return Ok(Vec::new());
    }
    let select = identity_update::Entity::find()
        .filter(identity_update::Column::IdentityId.eq(identity_id))
        .filter(identity_update::Column::Seq.gt(to_i64(after)))
        .order_by_asc(identity_update::Column::Seq);
    let mut updates = load(select, limit, db).await?;
    let grouped = update_groups::updates_after(db, identity_id, after, latest, limit).await?;
    if !grouped.is_empty() {
        updates.extend(grouped);
        updates.sort_by_key(|update| update.seq);
        updates.truncate(limit);
    }
    Ok(updates)
}

/// Runs a query of log entries, at most `limit` of them.
async fn load(
    select: Select<identity_update::Entity>,
    limit: usize,
    db: &impl ConnectionTrait,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let rows = entries(select.limit(u64::try_from(limit).unwrap_or(u64::MAX)), db).await?;
    Ok(resolve(db, rows)
        .await?
        .into_iter()
        .map(|(_, update)| update)
        .collect())
}

/// The log entries `select` finds, their columns read by position: a model read by column
/// name looks every name up in every row, which made a replay's reads about a third dearer
/// once the log had its sixth column (measured with callgrind: 2,100 more instructions per
/// entry).
async fn entries(
    select: Select<identity_update::Entity>,
    db: &impl ConnectionTrait,
) -> Result<Vec<identity_update::Model>, StoreError> {
    use identity_update::Column;
    type Row = (Uuid, i64, String, String, DateTime<Utc>, Option<Uuid>);
    let rows: Vec<Row> = select
        .select_only()
        .columns([
            Column::IdentityId,
            Column::Seq,
            Column::Type,
            Column::Object,
            Column::CreatedAt,
            Column::SharedObjectId,
        ])
        .into_tuple()
        .all(db)
        .await
        .map_err(store_error)?;
    Ok(rows
        .into_iter()
        .map(
            |(identity_id, seq, r#type, object, created_at, shared_object_id)| {
                identity_update::Model {
                    identity_id,
                    seq,
                    r#type,
                    object,
                    created_at,
                    shared_object_id,
                }
            },
        )
        .collect())
}

pub(super) async fn positions(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
) -> Result<LogPositions, StoreError> {
    let (latest, pruned_through) = position_row(db, identity_id).await?;
    // The position only: every resuming socket's replay reads it, and the entry's object can
    // be large.
    let personal: Option<i64> = identity_update::Entity::find()
        .select_only()
        .column(identity_update::Column::Seq)
        .filter(identity_update::Column::IdentityId.eq(identity_id))
        .filter(identity_update::Column::Seq.gt(to_i64(pruned_through)))
        .order_by_asc(identity_update::Column::Seq)
        .into_tuple()
        .one(db)
        .await
        .map_err(store_error)?;
    let personal = personal.map(to_u64).transpose()?;
    let groups = update_groups::first_and_last_positions(db, identity_id).await?;
    Ok(LogPositions {
        oldest: update_groups::oldest_kept(personal, &groups, pruned_through, latest),
        latest,
    })
}

pub(super) async fn latest_position(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
) -> Result<u64, StoreError> {
    let latest: Option<i64> = identity_position::Entity::find_by_id(identity_id)
        .select_only()
        .column(identity_position::Column::Latest)
        .into_tuple()
        .one(db)
        .await
        .map_err(store_error)?;
    latest.map_or(Ok(0), to_u64)
}

/// The identity's latest position and the one its log was pruned through for its count;
/// both 0 before its first update.
async fn position_row(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
) -> Result<(u64, u64), StoreError> {
    use identity_position::Column::{Latest, PrunedThrough};
    let row: Option<(i64, i64)> = identity_position::Entity::find_by_id(identity_id)
        .select_only()
        .columns([Latest, PrunedThrough])
        .into_tuple()
        .one(db)
        .await
        .map_err(store_error)?;
    match row {
        Some((latest, pruned_through)) => Ok((to_u64(latest)?, to_u64(pruned_through)?)),
        None => Ok((0, 0)),
    }
}

pub(super) async fn created_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    cursor: Option<LogCursor>,
    limit: usize,
) -> Result<Vec<LoggedUpdate>, StoreError> {
    use identity_update::Column::{CreatedAt, IdentityId, Seq};
    use sea_orm::sea_query::ExprTrait as _;
    let mut select = identity_update::Entity::find()
        .filter(CreatedAt.gte(from))
        .filter(CreatedAt.lte(until));
    if let Some(cursor) = cursor {
        // (created_at, identity_id, seq) > cursor, spelled out for both backends.
        select = select.filter(
            Condition::any().add(CreatedAt.gt(cursor.created_at)).add(
                CreatedAt.eq(cursor.created_at).and(
                    IdentityId.gt(cursor.recipient).or(IdentityId
                        .eq(cursor.recipient)
                        .and(Seq.gt(to_i64(cursor.seq)))),
                ),
            ),
        );
    }
    let select = select
        .order_by_asc(CreatedAt)
        .order_by_asc(IdentityId)
        .order_by_asc(Seq)
        .limit(u64::try_from(limit).unwrap_or(u64::MAX));
    let rows = entries(select, db).await?;
    let mut logged: Vec<LoggedUpdate> = resolve(db, rows)
        .await?
        .into_iter()
        .map(|(created_at, update)| LoggedUpdate { created_at, update })
        .collect();
    let grouped = update_groups::created_between(db, from, until, cursor, limit).await?;
    if !grouped.is_empty() {
        logged.extend(grouped);
        logged.sort_by_key(LoggedUpdate::cursor);
        logged.truncate(limit);
    }
    Ok(logged)
}

pub(super) async fn publisher_heartbeat(
    txn: &DatabaseTransaction,
    heartbeat: PublisherHeartbeat,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    use outbox_publisher::Column::{HeartbeatAt, PublishedBefore, PublisherId};
    // Deleting is what claims a dead publisher: of two instances adopting it at once, one
    // deletes the row and the other finds nothing.
    let adopted: Vec<DateTime<Utc>> = outbox_publisher::Entity::delete_many()
        .filter(HeartbeatAt.lt(heartbeat.expired_before))
        .filter(PublisherId.ne(heartbeat.publisher))
        .exec_with_returning(txn)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|row| row.published_before)
        .collect();
    let published_before = adopted
        .iter()
        .copied()
        .fold(heartbeat.published_before, DateTime::min);
    outbox_publisher::Entity::insert(outbox_publisher::ActiveModel {
        publisher_id: Set(heartbeat.publisher),
        published_before: Set(published_before),
        heartbeat_at: Set(heartbeat.now),
    })
    .on_conflict(
        OnConflict::column(PublisherId)
            .update_columns([PublishedBefore, HeartbeatAt])
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await
    .map_err(store_error)?;
    Ok(adopted)
}

pub(super) async fn remove_publisher(
    db: &impl ConnectionTrait,
    publisher: Uuid,
) -> Result<(), StoreError> {
    outbox_publisher::Entity::delete_by_id(publisher)
        .exec(db)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// Rows one pruning statement deletes at most. Pruning goes in such steps, each its own
/// transaction, so that writers wait milliseconds behind it whatever the size of the log: one
/// statement over the whole log held SQLite's only writer for 2.8 s at 3.9 million entries,
/// every minute.
pub(super) const PRUNE_CHUNK: u64 = 1_000;
/// Identities read at once when looking for those with entries to prune by count.
pub(super) const PRUNE_IDENTITIES: u64 = 256;

/// A table pruned by age: its rows' key and the column of their creation time.
#[derive(Clone, Copy, Debug)]
pub(super) enum AgedTable {
    Entries,
    SharedObjects,
}

/// Deletes at most [`PRUNE_CHUNK`] rows of `table` created before `before`, the oldest first;
/// returns how many went (fewer than the chunk: none older are left).
pub(super) async fn prune_older_chunk(
    db: &impl ConnectionTrait,
    table: AgedTable,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (name, key) = match table {
        AgedTable::Entries => ("identity_updates", "identity_id, seq"),
        AgedTable::SharedObjects => ("shared_update_objects", "id"),
    };
    let before_value = placeholder(db.get_database_backend(), 1);
    // The limit written out: SQLite prepares a statement again on every run when its limit is
    // a bound value.
    let sql = format!(
        "DELETE FROM {name} WHERE ({key}) IN (SELECT {key} FROM {name} \
         WHERE created_at < {before_value} ORDER BY created_at LIMIT {PRUNE_CHUNK})"
    );
    execute_written_out(db, sql, [before.into()]).await
}

/// Up to [`PRUNE_IDENTITIES`] identities after `after` (in id order) with more than
/// `max_per_identity` positions after the one they were pruned through: the only ones with
/// entries to prune by count, with their latest position and that floor. A read: writers go
/// on meanwhile.
pub(super) async fn identities_beyond(
    db: &impl ConnectionTrait,
    max_per_identity: u64,
    after: Option<Uuid>,
) -> Result<Vec<(Uuid, u64, u64)>, StoreError> {
    use identity_position::Column::{IdentityId, Latest, PrunedThrough};
    use sea_orm::sea_query::{Expr, ExprTrait as _};
    let mut select = identity_position::Entity::find()
        .select_only()
        .columns([IdentityId, Latest, PrunedThrough])
        .filter(
            Expr::col(Latest)
                .sub(Expr::col(PrunedThrough))
                .gt(to_i64(max_per_identity)),
        );
    if let Some(after) = after {
        select = select.filter(IdentityId.gt(after));
    }
    select
        .order_by_asc(IdentityId)
        .limit(PRUNE_IDENTITIES)
        .into_tuple::<(Uuid, i64, i64)>()
        .all(db)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|(identity, latest, pruned)| Ok((identity, to_u64(latest)?, to_u64(pruned)?)))
        .collect()
}

/// Records that `identity`'s log is pruned through position `through`: nothing at or before
/// it is read again, its part of group updates included (they stay for their other members).
pub(super) async fn set_pruned_through(
    db: &impl ConnectionTrait,
    identity: Uuid,
    through: u64,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let (first, second) = (placeholder(backend, 1), placeholder(backend, 2));
    execute_written_out(
        db,
        format!(
            "UPDATE identity_positions SET pruned_through = {first} \
             WHERE identity_id = {second} AND pruned_through < {first}"
        ),
        match backend {
            DbBackend::Postgres => vec![to_i64(through).into(), identity.into()],
            _ => vec![
                to_i64(through).into(),
                identity.into(),
                to_i64(through).into(),
            ],
        },
    )
    .await?;
    Ok(())
}

/// Deletes at most [`PRUNE_CHUNK`] entries of `identity` at or before position `through`, the
/// oldest first (one index range); returns how many went (fewer than the chunk: none left).
pub(super) async fn prune_through(
    db: &impl ConnectionTrait,
    identity: Uuid,
    through: u64,
) -> Result<u64, StoreError> {
    let backend = db.get_database_backend();
    let (first, second) = (placeholder(backend, 1), placeholder(backend, 2));
    let sql = format!(
        "DELETE FROM identity_updates WHERE (identity_id, seq) IN (SELECT identity_id, seq \
         FROM identity_updates WHERE identity_id = {first} AND seq <= {second} \
         ORDER BY seq LIMIT {PRUNE_CHUNK})"
    );
    execute_written_out(db, sql, [identity.into(), to_i64(through).into()]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(recipient: u128, update: &RealtimeUpdate, object: EntryObject) -> Entry<'_> {
        Entry {
            recipient: Uuid::from_u128(recipient),
            update,
            object,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            back: 0,
        }
    }

    /// What the statements hold: per statement, its recipients (as numbers) and how many
    /// entries and wire bytes it carries.
    fn shape(statements: &[(Vec<&Entry<'_>>, BTreeMap<Uuid, u64>)]) -> Vec<(Vec<u128>, usize)> {
        statements
            .iter()
            .map(|(entries, counts)| {
                assert!(
                    entries
                        .iter()
                        .all(|entry| counts.contains_key(&entry.recipient))
                );
                (
                    counts.keys().map(|id| id.as_u128()).collect(),
                    entries.len(),
                )
            })
            .collect()
    }

    #[test]
    fn postgres_statements_stay_within_a_segment_in_recipient_order() {
        let update = RealtimeUpdate {
            kind: UpdateType::EventNew,
            object: serde_json::json!({}).into(),
        };
        // An event to 1,000 members (a shared object each), given in reverse id order.
        let shared = Uuid::from_u128(7);
        let entries: Vec<Entry<'_>> = (1..=1_000)
            .rev()
            .map(|n| entry(n, &update, EntryObject::Shared(shared)))
            .collect();
        let counts: BTreeMap<Uuid, u64> = (1..=1_000).map(|n| (Uuid::from_u128(n), 1)).collect();
        let statements = postgres_statements(&entries, &counts);
        // 36 bytes of bump and the entry's 93 per recipient: 95 recipients in 12 KiB.
        let per_recipient = 36 + entries[0].postgres_wire_bytes();
        assert_eq!(POSTGRES_STATEMENT_BYTES / per_recipient, 95);
        let ids: Vec<u128> = (1..=1_000).collect();
        assert_eq!(
            shape(&statements),
            ids.chunks(95)
                .map(|chunk| (chunk.to_vec(), chunk.len()))
                .collect::<Vec<_>>()
        );
        for (entries, counts) in &statements {
            let bytes: usize = entries
                .iter()
                .map(|entry| entry.postgres_wire_bytes())
                .sum::<usize>()
                + counts.len() * 36;
            assert!(bytes <= POSTGRES_STATEMENT_BYTES, "{bytes} bytes");
        }

        // An object larger than the budget goes alone, between the others.
        let large = "x".repeat(POSTGRES_STATEMENT_BYTES);
        let entries = vec![
            entry(1, &update, EntryObject::Inline("{}".into())),
            entry(2, &update, EntryObject::Inline(large)),
            entry(2, &update, EntryObject::Inline("{}".into())),
            entry(3, &update, EntryObject::Inline("{}".into())),
        ];
        let counts: BTreeMap<Uuid, u64> = [(1, 1), (2, 2), (3, 1)]
            .into_iter()
            .map(|(n, count)| (Uuid::from_u128(n), count))
            .collect();
        let statements = postgres_statements(&entries, &counts);
        assert_eq!(
            shape(&statements),
            vec![(vec![1], 1), (vec![2], 2), (vec![3], 1)]
        );
        assert_eq!(statements[1].1[&Uuid::from_u128(2)], 2);
    }
}
