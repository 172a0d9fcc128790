//! Updates kept once for a group of recipients (an event to every member of a box; see the
//! migration of `update_groups`): written in their change set's transaction after the position
//! bumps, read back for replays and by the relay, pruned by age.
//!
//! Within a group, each member's positions grow with the updates' order (`ord`): every update
//! of a group bumps every member's position row, and that row's lock orders them. So the
//! updates of a group after a member's position N are the last ones of the group, at most
//! `latest - N` of them, which bounds what a replay scans.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter as _, QueryResult,
};
use uuid::Uuid;

use super::entities::update_group;
use super::update_log::MAX_BOUND_VALUES;
use super::{
    POSTGRES_STATEMENT_BYTES, corrupt, execute_written_out, placeholder, placeholder_rows,
    postgres_wire_bytes, query_written_out, store_error,
};
use crate::domain::{RealtimeUpdate, SequencedUpdate, UpdateType};
use crate::error::StoreError;
use crate::ports::{LogCursor, LoggedUpdate};

/// The namespace of the groups' name-based ids.
const GROUP_NAMESPACE: Uuid = Uuid::from_u128(0x6d69_7361_6b65_792d_626f_7867_726f_7570);

/// Bytes of one member's position in a group update.
const POSITION_BYTES: usize = 8;

/// One update to every recipient of a group, on its way into the log.
pub(super) struct GroupUpdate<'a> {
    pub update: &'a RealtimeUpdate,
    pub created_at: DateTime<Utc>,
    /// Every recipient with the position it got, sorted by recipient, each once.
    pub positions: Vec<(Uuid, u64)>,
}

impl GroupUpdate<'_> {
    /// The group's members as stored: their ids, 16 bytes each, in order.
    fn members(&self) -> Vec<u8> {
        self.positions
            .iter()
            .flat_map(|(recipient, _)| *recipient.as_bytes())
            .collect()
    }

    /// The positions as stored: 8 bytes big-endian per member, in the members' order (so that
    /// comparing the bytes compares the numbers, in SQL too).
    fn positions(&self) -> Vec<u8> {
        self.positions
            .iter()
            .flat_map(|(_, position)| position.to_be_bytes())
            .collect()
    }
}

/// The id of the group of these members (16 bytes each, sorted).
fn group_id(members: &[u8]) -> Uuid {
    Uuid::new_v5(&GROUP_NAMESPACE, members)
}

/// A position as stored and compared.
fn position_bytes(position: u64) -> Vec<u8> {
    position.to_be_bytes().to_vec()
}

fn position_from(bytes: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; POSITION_BYTES] = bytes
        .try_into()
        .map_err(|_| corrupt("a group position is not 8 bytes"))?;
    Ok(u64::from_be_bytes(bytes))
}

/// Where a member's position starts in an update's positions, for SQL's `substr` (from 1).
fn position_start(slot: i32) -> i32 {
    slot * POSITION_BYTES as i32 + 1
}

/// Writes the group updates in order: each group made when first used (with its members), or
/// marked used; each update at its group's next `ord`.
pub(super) async fn append(
    txn: &DatabaseTransaction,
    updates: &[GroupUpdate<'_>],
) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    let mut next_ord: HashMap<Uuid, i64> = HashMap::new();
    for group_update in updates {
        let members = group_update.members();
        let id = group_id(&members);
        let ord = match next_ord.get_mut(&id) {
            Some(ord) => ord,
            None => {
                let first = ensure_group(txn, id, members, group_update).await?;
                next_ord.entry(id).or_insert(first)
            }
        };
        let sql = format!(
            "INSERT INTO group_updates (group_id, ord, type, object, positions, created_at) \
             VALUES {}",
            placeholder_rows(backend, 1, 6)
        );
        execute_written_out(
            txn,
            sql,
            [
                id.into(),
                (*ord).into(),
                group_update.update.kind.as_str().into(),
                group_update.update.object.to_string().into(),
                group_update.positions().into(),
                group_update.created_at.into(),
            ],
        )
        .await?;
        *ord += 1;
    }
    Ok(())
}

/// Marks the group used, or makes it; returns the `ord` of its next update. Marking takes the
/// group's row lock, so pruning cannot delete a group an open transaction writes to.
async fn ensure_group(
    txn: &DatabaseTransaction,
    id: Uuid,
    members: Vec<u8>,
    first: &GroupUpdate<'_>,
) -> Result<i64, StoreError> {
    let backend = txn.get_database_backend();
    let (p1, p2, p3) = (
        placeholder(backend, 1),
        placeholder(backend, 2),
        placeholder(backend, 3),
    );
    let marked = execute_written_out(
        txn,
        format!("UPDATE update_groups SET last_used_at = {p1} WHERE id = {p2}"),
        [first.created_at.into(), id.into()],
    )
    .await?;
    if marked == 0 {
        execute_written_out(
            txn,
            format!(
                "INSERT INTO update_groups (id, members, last_used_at) VALUES ({p1}, {p2}, {p3})"
            ),
            [id.into(), members.into(), first.created_at.into()],
        )
        .await?;
        let slots: Vec<(i32, Uuid)> = first
            .positions
            .iter()
            .enumerate()
            .map(|(slot, (member, _))| {
                i32::try_from(slot)
                    .map(|slot| (slot, *member))
                    .map_err(|_| corrupt("a group of more than 2^31 members"))
            })
            .collect::<Result<_, _>>()?;
        for chunk in slots.chunks(members_per_statement(backend)) {
            let sql = format!(
                "INSERT INTO update_group_members (identity_id, group_id, slot) VALUES {}",
                placeholder_rows(backend, chunk.len(), 3)
            );
            let values = chunk
                .iter()
                .flat_map(|(slot, member)| [(*member).into(), id.into(), (*slot).into()]);
            execute_written_out(txn, sql, values).await?;
        }
        return Ok(1);
    }
    let rows = query_written_out(
        txn,
        format!("SELECT COALESCE(MAX(ord), 0) AS last FROM group_updates WHERE group_id = {p1}"),
        [id.into()],
    )
    .await?;
    let last: i64 = match rows.first() {
        Some(row) => row.try_get("", "last").map_err(store_error)?,
        None => 0,
    };
    Ok(last + 1)
}

/// Member rows per statement: on PostgreSQL within one segment of the connection (see
/// [`POSTGRES_STATEMENT_BYTES`]), elsewhere within the bound values' limit.
fn members_per_statement(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => {
            POSTGRES_STATEMENT_BYTES / (2 * postgres_wire_bytes(16) + postgres_wire_bytes(4))
        }
        _ => MAX_BOUND_VALUES / 3,
    }
}

/// The group updates of `identity` after position `after`, in order, at most `limit`;
/// `latest` is the identity's latest position.
pub(super) async fn updates_after(
    db: &impl ConnectionTrait,
    identity: Uuid,
    after: u64,
    latest: u64,
    limit: usize,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let backend = db.get_database_backend();
    let (p1, p2) = (placeholder(backend, 1), placeholder(backend, 2));
    // The groups whose last update reached the identity after `after`: one index lookup per
    // group the identity is in, however long ago it last heard from it.
    let groups = query_written_out(
        db,
        format!(
            "SELECT m.group_id, m.slot, u.ord FROM update_group_members m \
             JOIN group_updates u ON u.group_id = m.group_id \
             AND u.ord = (SELECT MAX(l.ord) FROM group_updates l WHERE l.group_id = m.group_id) \
             WHERE m.identity_id = {p1} AND substr(u.positions, m.slot * 8 + 1, 8) > {p2}"
        ),
        [identity.into(), position_bytes(after).into()],
    )
    .await?;
    // The identity missed at most `latest - after` updates, so the first of a group's after
    // `after` is among the group's last that many.
    let missed = i64::try_from(latest.saturating_sub(after)).unwrap_or(i64::MAX);
    let mut updates = Vec::new();
    for group in groups {
        let id: Uuid = group.try_get("", "group_id").map_err(store_error)?;
        let slot: i32 = group.try_get("", "slot").map_err(store_error)?;
        let last_ord: i64 = group.try_get("", "ord").map_err(store_error)?;
        let member = Member {
            group: id,
            start: position_start(slot),
        };
        let low = last_ord.saturating_sub(missed);
        let first = first_after(db, &member, after, low, last_ord).await?;
        updates.extend(read_from(db, &member, first, last_ord, limit).await?);
    }
    updates.sort_by_key(|(position, _)| *position);
    updates.truncate(limit);
    Ok(updates
        .into_iter()
        .map(|(position, update)| SequencedUpdate {
            recipient: identity,
            seq: position,
            update,
        })
        .collect())
}

/// A member of a group: the group, and where the member's position starts in an update's
/// positions (for SQL's `substr`, from 1).
struct Member {
    group: Uuid,
    start: i32,
}

/// The group update at `ord` or the next one kept, with the member's position in it.
async fn update_from(
    db: &impl ConnectionTrait,
    member: &Member,
    ord: i64,
) -> Result<Option<(i64, u64)>, StoreError> {
    let backend = db.get_database_backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match backend {
        DbBackend::Postgres => (
            "SELECT ord, substr(positions, $1, 8) AS position FROM group_updates \
             WHERE group_id = $2 AND ord >= $3 ORDER BY ord LIMIT 1",
            vec![member.start.into(), member.group.into(), ord.into()],
        ),
        _ => (
            "SELECT ord, substr(positions, ?, 8) AS position FROM group_updates \
             WHERE group_id = ? AND ord >= ? ORDER BY ord LIMIT 1",
            vec![member.start.into(), member.group.into(), ord.into()],
        ),
    };
    let rows = query_written_out(db, sql.to_owned(), values).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let ord: i64 = row.try_get("", "ord").map_err(store_error)?;
    let position: Vec<u8> = row.try_get("", "position").map_err(store_error)?;
    Ok(Some((ord, position_from(&position)?)))
}

/// The `ord` of the member's first group update after position `after`, between `low` and
/// `last` (whose update is after it): a binary search, a member's positions growing with
/// the group's order. A scan filtering positions would read every update before it, for
/// each page of a long replay.
async fn first_after(
    db: &impl ConnectionTrait,
    member: &Member,
    after: u64,
    low: i64,
    last: i64,
) -> Result<i64, StoreError> {
    // `first` is after `after`; any earlier one is in `low..=high`.
    let (mut first, mut low, mut high) = (last, low, last - 1);
    while low <= high {
        let middle = low + (high - low) / 2;
        match update_from(db, member, middle).await? {
            Some((ord, position)) if ord <= high => {
                if position > after {
                    (first, high) = (ord, middle - 1);
                } else {
                    low = ord + 1;
                }
            }
            // Nothing kept from `middle` to `high` (pruned, or pruned meanwhile).
            _ => high = middle - 1,
        }
    }
    Ok(first)
}

/// Up to `limit` group updates of the member from `first` through `last`, in order, with
/// its positions. Each read is a bounded range of the group's key, so that no query planner
/// (PostgreSQL's on a table not yet analysed) reaches for a scan and a sort of the rest.
async fn read_from(
    db: &impl ConnectionTrait,
    member: &Member,
    first: i64,
    last: i64,
    limit: usize,
) -> Result<Vec<(u64, RealtimeUpdate)>, StoreError> {
    let backend = db.get_database_backend();
    let mut updates = Vec::new();
    let mut from = first;
    let step = i64::try_from(limit).unwrap_or(i64::MAX);
    while updates.len() < limit && from <= last {
        let until = from.saturating_add(step).min(last.saturating_add(1));
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT type, object, substr(positions, $1, 8) AS position FROM group_updates \
                 WHERE group_id = $2 AND ord >= $3 AND ord < $4 ORDER BY ord"
            }
            _ => {
                "SELECT type, object, substr(positions, ?, 8) AS position FROM group_updates \
                 WHERE group_id = ? AND ord >= ? AND ord < ? ORDER BY ord"
            }
        };
        let values = vec![
            member.start.into(),
            member.group.into(),
            from.into(),
            until.into(),
        ];
        for row in query_written_out(db, sql.to_owned(), values).await? {
            let kind: String = row.try_get("", "type").map_err(store_error)?;
            let object: String = row.try_get("", "object").map_err(store_error)?;
            let position: Vec<u8> = row.try_get("", "position").map_err(store_error)?;
            updates.push((
                position_from(&position)?,
                RealtimeUpdate {
                    kind: parse_kind(&kind)?,
                    object: Arc::new(parse_object(&object)?),
                },
            ));
        }
        // A range with gaps (updates pruned out of order) reads on from where it ended.
        from = until;
    }
    updates.truncate(limit);
    Ok(updates)
}

fn parse_kind(kind: &str) -> Result<UpdateType, StoreError> {
    UpdateType::parse(kind).ok_or_else(|| corrupt(format!("unknown update type {kind:?}")))
}

fn parse_object(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("group update object is not JSON: {e}")))
}

/// For each group of `identity` with updates kept: the identity's positions in the first and
/// the last of them.
pub(super) async fn first_and_last_positions(
    db: &impl ConnectionTrait,
    identity: Uuid,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let p1 = placeholder(db.get_database_backend(), 1);
    let rows = query_written_out(
        db,
        format!(
            "SELECT substr(f.positions, m.slot * 8 + 1, 8) AS first, \
             substr(l.positions, m.slot * 8 + 1, 8) AS last FROM update_group_members m \
             JOIN group_updates f ON f.group_id = m.group_id \
             AND f.ord = (SELECT MIN(x.ord) FROM group_updates x WHERE x.group_id = m.group_id) \
             JOIN group_updates l ON l.group_id = m.group_id \
             AND l.ord = (SELECT MAX(y.ord) FROM group_updates y WHERE y.group_id = m.group_id) \
             WHERE m.identity_id = {p1}"
        ),
        [identity.into()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let first: Vec<u8> = row.try_get("", "first").map_err(store_error)?;
            let last: Vec<u8> = row.try_get("", "last").map_err(store_error)?;
            Ok((position_from(&first)?, position_from(&last)?))
        })
        .collect()
}

/// The relay's read: group updates created from `from` to `until` (both included), expanded
/// to one entry per member, after `cursor` when given; at least the first `limit` of them in
/// the relay's order, possibly more (the caller merges and cuts).
pub(super) async fn created_between(
    db: &impl ConnectionTrait,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    cursor: Option<LogCursor>,
    limit: usize,
) -> Result<Vec<LoggedUpdate>, StoreError> {
    let backend = db.get_database_backend();
    let (p1, p2) = (placeholder(backend, 1), placeholder(backend, 2));
    let columns = "group_id, type, object, positions, created_at";
    let mut rows = Vec::new();
    let after = match cursor {
        // The updates of the cursor's instant, all of them (the cursor may be inside one);
        // then those after it.
        Some(cursor) if cursor.created_at >= from => {
            if cursor.created_at <= until {
                rows.extend(
                    query_written_out(
                        db,
                        format!(
                            "SELECT {columns} FROM group_updates WHERE created_at = {p1} \
                             ORDER BY group_id, ord"
                        ),
                        [cursor.created_at.into()],
                    )
                    .await?,
                );
            }
            (cursor.created_at, ">")
        }
        _ => (from, ">="),
    };
    // Each update is at least one entry: `limit` updates hold the first `limit` entries.
    rows.extend(
        query_written_out(
            db,
            format!(
                "SELECT {columns} FROM group_updates WHERE created_at {} {p1} \
                 AND created_at <= {p2} ORDER BY created_at, group_id, ord LIMIT {limit}",
                after.1
            ),
            [after.0.into(), until.into()],
        )
        .await?,
    );
    let members = members_of(db, &rows).await?;
    let mut entries = Vec::new();
    for row in rows {
        let group: Uuid = row.try_get("", "group_id").map_err(store_error)?;
        let kind: String = row.try_get("", "type").map_err(store_error)?;
        let object: String = row.try_get("", "object").map_err(store_error)?;
        let positions: Vec<u8> = row.try_get("", "positions").map_err(store_error)?;
        let created_at: DateTime<Utc> = row.try_get("", "created_at").map_err(store_error)?;
        let members = members
            .get(&group)
            .ok_or_else(|| corrupt(format!("group update of a missing group {group}")))?;
        if positions.len() != members.len() * POSITION_BYTES {
            return Err(corrupt(format!(
                "group {group}: positions and members differ"
            )));
        }
        let update = RealtimeUpdate {
            kind: parse_kind(&kind)?,
            object: Arc::new(parse_object(&object)?),
        };
        for (recipient, position) in members.iter().zip(positions.chunks(POSITION_BYTES)) {
            let logged = LoggedUpdate {
                created_at,
                update: SequencedUpdate {
                    recipient: *recipient,
                    seq: position_from(position)?,
                    update: update.clone(),
                },
            };
            if cursor.is_none_or(|cursor| logged.cursor() > cursor) {
                entries.push(logged);
            }
        }
    }
    Ok(entries)
}

/// The members of the groups of `rows`, each group read once.
async fn members_of(
    db: &impl ConnectionTrait,
    rows: &[QueryResult],
) -> Result<HashMap<Uuid, Vec<Uuid>>, StoreError> {
    let ids = rows
        .iter()
        .map(|row| row.try_get("", "group_id").map_err(store_error))
        .collect::<Result<BTreeSet<Uuid>, _>>()?;
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut members = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BOUND_VALUES) {
        for group in update_group::Entity::find()
            .filter(update_group::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await
            .map_err(store_error)?
        {
            let ids = group
                .members
                .chunks(16)
                .map(|bytes| Uuid::from_slice(bytes).map_err(|_| corrupt("a group member id")))
                .collect::<Result<Vec<Uuid>, _>>()?;
            members.insert(group.id, ids);
        }
    }
    Ok(members)
}

/// Deletes at most [`super::update_log::PRUNE_CHUNK`] group updates created before `before`,
/// the oldest first; returns how many updates went and how many entries went with them: the
/// members' parts not already behind their pruning by count (those were counted then).
pub(super) async fn prune_older_chunk(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<(u64, u64), StoreError> {
    let p1 = placeholder(db.get_database_backend(), 1);
    let chunk = super::update_log::PRUNE_CHUNK;
    let rows = query_written_out(
        db,
        format!(
            "DELETE FROM group_updates WHERE (group_id, ord) IN (SELECT group_id, ord \
             FROM group_updates WHERE created_at < {p1} ORDER BY created_at LIMIT {chunk}) \
             RETURNING group_id, positions"
        ),
        [before.into()],
    )
    .await?;
    let mut floors: HashMap<Uuid, Vec<u64>> = HashMap::new();
    let mut entries = 0;
    for row in &rows {
        let group: Uuid = row.try_get("", "group_id").map_err(store_error)?;
        let positions: Vec<u8> = row.try_get("", "positions").map_err(store_error)?;
        let floors = match floors.entry(group) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => unknown.insert(pruned_through_by_slot(db, group).await?),
        };
        for (slot, position) in positions.chunks(POSITION_BYTES).enumerate() {
            let floor = floors.get(slot).copied().unwrap_or(0);
            if position_from(position)? > floor {
                entries += 1;
            }
        }
    }
    Ok((rows.len() as u64, entries))
}

/// How far each member of `group` (by slot) was pruned by count.
async fn pruned_through_by_slot(
    db: &impl ConnectionTrait,
    group: Uuid,
) -> Result<Vec<u64>, StoreError> {
    let p1 = placeholder(db.get_database_backend(), 1);
    let rows = query_written_out(
        db,
        format!(
            "SELECT m.slot, p.pruned_through FROM update_group_members m \
             JOIN identity_positions p ON p.identity_id = m.identity_id WHERE m.group_id = {p1}"
        ),
        [group.into()],
    )
    .await?;
    let mut floors = vec![0; rows.len()];
    for row in rows {
        let slot: i32 = row.try_get("", "slot").map_err(store_error)?;
        let floor: i64 = row.try_get("", "pruned_through").map_err(store_error)?;
        if let Some(place) = usize::try_from(slot).ok().and_then(|s| floors.get_mut(s)) {
            *place = u64::try_from(floor).unwrap_or(0);
        }
    }
    Ok(floors)
}

/// Groups read at once when looking for unused ones.
pub(super) const PRUNE_GROUPS: u64 = 64;

/// Up to [`PRUNE_GROUPS`] groups unused since before `before`, with no update left. A read.
pub(super) async fn unused_groups(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let p1 = placeholder(db.get_database_backend(), 1);
    query_written_out(
        db,
        format!(
            "SELECT id FROM update_groups WHERE last_used_at < {p1} AND NOT EXISTS \
             (SELECT 1 FROM group_updates u WHERE u.group_id = update_groups.id) \
             ORDER BY last_used_at LIMIT {PRUNE_GROUPS}"
        ),
        [before.into()],
    )
    .await?
    .iter()
    .map(|row| row.try_get("", "id").map_err(store_error))
    .collect()
}

/// Deletes the group and its members if it is still unused since before `before` and has no
/// update (one written meanwhile marked it); returns whether it went.
pub(super) async fn remove_group(
    txn: &DatabaseTransaction,
    group: Uuid,
    before: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let backend = txn.get_database_backend();
    let (p1, p2) = (placeholder(backend, 1), placeholder(backend, 2));
    let removed = execute_written_out(
        txn,
        format!(
            "DELETE FROM update_groups WHERE id = {p1} AND last_used_at < {p2} AND NOT EXISTS \
             (SELECT 1 FROM group_updates u WHERE u.group_id = update_groups.id)"
        ),
        [group.into(), before.into()],
    )
    .await?;
    if removed == 0 {
        return Ok(false);
    }
    execute_written_out(
        txn,
        format!("DELETE FROM update_group_members WHERE group_id = {p1}"),
        [group.into()],
    )
    .await?;
    Ok(true)
}

/// The first position still kept of an identity's log: the smallest of its personal entries'
/// (`personal`, after `pruned_through`) and its groups' (`groups`: first and last position
/// in each), none at or before `pruned_through`; `latest + 1` when nothing is kept.
pub(super) fn oldest_kept(
    personal: Option<u64>,
    groups: &[(u64, u64)],
    pruned_through: u64,
    latest: u64,
) -> u64 {
    groups
        .iter()
        .filter(|(_, last)| *last > pruned_through)
        .map(|(first, _)| (*first).max(pruned_through + 1))
        .chain(personal.filter(|seq| *seq > pruned_through))
        .min()
        .unwrap_or(latest + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_compare_as_bytes_in_numeric_order() {
        let mut numbers = vec![
            0,
            1,
            255,
            256,
            65_536,
            u64::from(u32::MAX) + 1,
            i64::MAX as u64,
        ];
        let bytes: Vec<Vec<u8>> = numbers.iter().map(|n| position_bytes(*n)).collect();
        let mut sorted = bytes.clone();
        sorted.sort();
        assert_eq!(sorted, bytes);
        numbers.reverse();
        for n in numbers {
            assert_eq!(position_from(&position_bytes(n)).unwrap(), n);
        }
        assert!(position_from(&[1, 2, 3]).is_err());
    }

    #[test]
    fn a_group_is_named_by_its_members_alone() {
        let update = RealtimeUpdate {
            kind: UpdateType::EventNew,
            object: serde_json::json!({}).into(),
        };
        let group = |positions: Vec<(u128, u64)>| GroupUpdate {
            update: &update,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            positions: positions
                .into_iter()
                .map(|(id, position)| (Uuid::from_u128(id), position))
                .collect(),
        };
        let (first, later) = (group(vec![(1, 1), (2, 5)]), group(vec![(1, 9), (2, 3)]));
        assert_eq!(group_id(&first.members()), group_id(&later.members()));
        assert_ne!(
            group_id(&first.members()),
            group_id(&group(vec![(1, 1), (3, 5)]).members())
        );
        assert_eq!(
            first.positions(),
            [1u64.to_be_bytes(), 5u64.to_be_bytes()].concat()
        );
    }

    #[test]
    fn the_oldest_kept_position_skips_what_was_pruned_by_count() {
        // Nothing kept.
        assert_eq!(oldest_kept(None, &[], 0, 0), 1);
        assert_eq!(oldest_kept(None, &[], 4, 7), 8);
        // Personal entries only.
        assert_eq!(oldest_kept(Some(3), &[], 0, 7), 3);
        // A group from 2 to 9, pruned through 5: 6 is the first still read.
        assert_eq!(oldest_kept(Some(8), &[(2, 9)], 5, 9), 6);
        // A group entirely at or before the floor counts for nothing.
        assert_eq!(oldest_kept(Some(8), &[(2, 5)], 5, 9), 8);
        assert_eq!(oldest_kept(None, &[(2, 5)], 5, 9), 10);
        // The smallest of several groups.
        assert_eq!(oldest_kept(None, &[(7, 9), (4, 6)], 0, 9), 4);
    }
}
