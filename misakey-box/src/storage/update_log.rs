//! The per-identity update logs on sea-orm: appending in the contact transaction, reading for
//! replays, the relay's reads and marks, and pruning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait as _, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QueryFilter as _, QueryOrder as _, QuerySelect as _, Select, Statement,
};
use uuid::Uuid;

use super::entities::{identity_position, identity_update};
use super::{corrupt, store_error};
use crate::domain::{RealtimeUpdate, SequencedUpdate, UpdateType};
use crate::error::StoreError;
use crate::ports::{ContactRecord, LogPositions, Retention};

/// Rows per statement when marking updates published.
const MARK_BATCH: usize = 300;

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("negative position {value}")))
}

impl TryFrom<identity_update::Model> for SequencedUpdate {
    type Error = StoreError;

    fn try_from(row: identity_update::Model) -> Result<Self, StoreError> {
        let kind = UpdateType::parse(&row.r#type)
            .ok_or_else(|| corrupt(format!("unknown update type {:?}", row.r#type)))?;
        let object = serde_json::from_str(&row.object)
            .map_err(|e| corrupt(format!("update object is not JSON: {e}")))?;
        Ok(Self {
            recipient: row.identity_id,
            seq: to_u64(row.seq)?,
            update: RealtimeUpdate { kind, object },
        })
    }
}

/// Appends the record's updates to their recipients' logs, inside the contact's transaction.
/// Each recipient's position row is bumped once for all its updates, recipients in id order:
/// the row lock makes positions follow commit order, and the fixed order keeps two contacts
/// in opposite directions from deadlocking.
pub(super) async fn append(
    txn: &DatabaseTransaction,
    record: &ContactRecord,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let mut counts: BTreeMap<Uuid, u64> = BTreeMap::new();
    for update in &record.updates {
        *counts.entry(update.recipient).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    // One statement for all recipients: bumped and read back in one round trip. Rows are
    // listed in id order, so concurrent contacts lock them in the same order.
    let backend = txn.get_database_backend();
    let placeholders: Vec<String> = (0..counts.len())
        .map(|i| match backend {
            DbBackend::Postgres => format!("(${}, ${})", 2 * i + 1, 2 * i + 2),
            _ => "(?, ?)".to_owned(),
        })
        .collect();
    let bump = format!(
        "INSERT INTO identity_positions (identity_id, latest) VALUES {} \
         ON CONFLICT (identity_id) DO UPDATE SET latest = identity_positions.latest + excluded.latest \
         RETURNING identity_id, latest",
        placeholders.join(", ")
    );
    let values = counts
        .iter()
        .flat_map(|(recipient, count)| [(*recipient).into(), to_i64(*count).into()]);
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, bump, values))
        .await
        .map_err(store_error)?;
    let mut next: BTreeMap<Uuid, u64> = BTreeMap::new();
    for row in rows {
        let recipient: Uuid = row.try_get("", "identity_id").map_err(store_error)?;
        let latest: i64 = row.try_get("", "latest").map_err(store_error)?;
        let count = counts
            .get(&recipient)
            .copied()
            .ok_or_else(|| corrupt("a position for no recipient"))?;
        next.insert(recipient, to_u64(latest)? - count + 1);
    }
    let mut sequenced = Vec::with_capacity(record.updates.len());
    for update in &record.updates {
        let position = next.entry(update.recipient).or_default();
        sequenced.push(SequencedUpdate {
            recipient: update.recipient,
            seq: *position,
            update: update.update.clone(),
        });
        *position += 1;
    }
    let rows = sequenced.iter().map(|update| identity_update::ActiveModel {
        identity_id: Set(update.recipient),
        seq: Set(to_i64(update.seq)),
        r#type: Set(update.update.kind.as_str().to_owned()),
        object: Set(update.update.object.to_string()),
        created_at: Set(record.created_at),
        published: Set(false),
    });
    if !sequenced.is_empty() {
        identity_update::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
            .map_err(store_error)?;
    }
    Ok(sequenced)
}

pub(super) async fn updates_after(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
    after: u64,
    limit: usize,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let select = identity_update::Entity::find()
        .filter(identity_update::Column::IdentityId.eq(identity_id))
        .filter(identity_update::Column::Seq.gt(to_i64(after)))
        .order_by_asc(identity_update::Column::Seq);
    load(select, limit, db).await
}

/// Runs a query of log entries, at most `limit` of them.
async fn load(
    select: Select<identity_update::Entity>,
    limit: usize,
    db: &impl ConnectionTrait,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    select
        .limit(u64::try_from(limit).unwrap_or(u64::MAX))
        .all(db)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(SequencedUpdate::try_from)
        .collect()
}

pub(super) async fn positions(
    db: &impl ConnectionTrait,
    identity_id: Uuid,
) -> Result<LogPositions, StoreError> {
    let latest = match identity_position::Entity::find_by_id(identity_id)
        .one(db)
        .await
        .map_err(store_error)?
    {
        Some(row) => to_u64(row.latest)?,
        None => 0,
    };
    let oldest = identity_update::Entity::find()
        .filter(identity_update::Column::IdentityId.eq(identity_id))
        .order_by_asc(identity_update::Column::Seq)
        .one(db)
        .await
        .map_err(store_error)?;
    let oldest = match oldest {
        Some(row) => to_u64(row.seq)?,
        None => latest + 1,
    };
    Ok(LogPositions { oldest, latest })
}

pub(super) async fn unpublished(
    db: &impl ConnectionTrait,
    created_before: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<SequencedUpdate>, StoreError> {
    let select = identity_update::Entity::find()
        .filter(identity_update::Column::Published.eq(false))
        .filter(identity_update::Column::CreatedAt.lt(created_before))
        .order_by_asc(identity_update::Column::CreatedAt)
        .order_by_asc(identity_update::Column::IdentityId)
        .order_by_asc(identity_update::Column::Seq);
    load(select, limit, db).await
}

pub(super) async fn mark_published(
    db: &impl ConnectionTrait,
    updates: &[(Uuid, u64)],
) -> Result<(), StoreError> {
    for batch in updates.chunks(MARK_BATCH) {
        let which = batch
            .iter()
            .fold(Condition::any(), |any, (recipient, seq)| {
                any.add(
                    identity_update::Column::IdentityId
                        .eq(*recipient)
                        .and(identity_update::Column::Seq.eq(to_i64(*seq))),
                )
            });
        identity_update::Entity::update_many()
            .col_expr(identity_update::Column::Published, Expr::value(true))
            .filter(which)
            .exec(db)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

pub(super) async fn prune(
    db: &impl ConnectionTrait,
    retention: Retention,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let by_age = identity_update::Entity::delete_many()
        .filter(identity_update::Column::CreatedAt.lt(now - retention.max_age))
        .exec(db)
        .await
        .map_err(store_error)?
        .rows_affected;
    // Entries more than `max_per_identity` positions behind their identity's latest.
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "DELETE FROM identity_updates WHERE seq <= (SELECT latest FROM identity_positions \
         WHERE identity_positions.identity_id = identity_updates.identity_id) - {placeholder}"
    );
    let by_count = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [to_i64(retention.max_per_identity).into()],
        ))
        .await
        .map_err(store_error)?
        .rows_affected();
    Ok(by_age + by_count)
}
