//! Boxes as their members read them, on sea-orm.

use async_trait::async_trait;
use sea_orm::{
    ColumnTrait as _, EntityTrait, PaginatorTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _,
};
use uuid::Uuid;

use super::entities::{box_event, box_key_share, box_member};
use super::{SeaOrmStorage, corrupt, store_error};
use crate::domain::{Event, EventType, KeyShare};
use crate::error::StoreError;
use crate::ports::{BoxReads, Member};

#[async_trait]
impl BoxReads for SeaOrmStorage {
    async fn box_events_summary(&self, box_id: Uuid) -> Result<Option<(Event, Event)>, StoreError> {
        use box_event::Column;
        let create = box_event::Entity::find()
            .filter(Column::BoxId.eq(box_id))
            .filter(Column::Type.eq(EventType::Create.as_str()))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        let Some(create) = create else {
            return Ok(None);
        };
        let last = box_event::Entity::find()
            .filter(Column::BoxId.eq(box_id))
            .filter(Column::Type.ne(EventType::StateAccessMode.as_str()))
            .order_by_desc(Column::Seq)
            .one(&self.db)
            .await
            .map_err(store_error)?
            .ok_or_else(|| corrupt("a box without a shown event"))?;
        Ok(Some((Event::try_from(create)?, Event::try_from(last)?)))
    }

    async fn members(&self, box_id: Uuid) -> Result<Vec<Member>, StoreError> {
        use box_member::Column;
        // Read by column position: every event posted reads its box's members, and a model
        // built by column name looks each name up in each row.
        let rows: Vec<(Uuid, chrono::DateTime<chrono::Utc>, Uuid)> = box_member::Entity::find()
            .select_only()
            .columns([Column::IdentityId, Column::JoinedAt, Column::JoinEventId])
            .filter(Column::BoxId.eq(box_id))
            .order_by_asc(Column::JoinedAt)
            .order_by_asc(Column::IdentityId)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(identity_id, joined_at, join_event_id)| Member {
                identity_id,
                joined_at,
                join_event_id,
            })
            .collect())
    }

    async fn events(
        &self,
        box_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Event>, StoreError> {
        box_event::Entity::find()
            .filter(box_event::Column::BoxId.eq(box_id))
            .order_by_desc(box_event::Column::Seq)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(Event::try_from)
            .collect()
    }

    async fn count_events(&self, box_id: Uuid) -> Result<u64, StoreError> {
        box_event::Entity::find()
            .filter(box_event::Column::BoxId.eq(box_id))
            .count(&self.db)
            .await
            .map_err(store_error)
    }

    async fn joined_boxes(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Uuid>, StoreError> {
        let backend = self.db.get_database_backend();
        let placeholder = |n: usize| super::placeholder(backend, n);
        // A box's activity is its newest event other than `state.access_mode`.
        let sql = format!(
            "SELECT m.box_id AS box_id FROM box_members m \
             JOIN box_events e ON e.box_id = m.box_id AND e.type <> {} \
             WHERE m.identity_id = {} GROUP BY m.box_id ORDER BY MAX(e.seq) DESC \
             LIMIT {} OFFSET {}",
            placeholder(1),
            placeholder(2),
            placeholder(3),
            placeholder(4)
        );
        let values = vec![
            EventType::StateAccessMode.as_str().into(),
            identity_id.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
            i64::try_from(offset).unwrap_or(i64::MAX).into(),
        ];
        let rows = super::query_written_out(&self.db, sql, values).await?;
        rows.iter()
            .map(|row| row.try_get::<Uuid>("", "box_id").map_err(store_error))
            .collect()
    }

    async fn count_joined_boxes(&self, identity_id: Uuid) -> Result<u64, StoreError> {
        box_member::Entity::find()
            .filter(box_member::Column::IdentityId.eq(identity_id))
            .count(&self.db)
            .await
            .map_err(store_error)
    }

    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError> {
        let row = box_key_share::Entity::find_by_id(other_share_hash.to_owned())
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(row.map(KeyShare::from))
    }

    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError> {
        let backend = self.db.get_database_backend();
        let sql = format!(
            "SELECT COALESCE(t.events, 0) - m.read_mark AS unread FROM box_members AS m \
             LEFT JOIN box_unread_totals AS t ON t.box_id = m.box_id \
             WHERE m.box_id = {} AND m.identity_id = {}",
            super::placeholder(backend, 1),
            super::placeholder(backend, 2)
        );
        let rows =
            super::query_written_out(&self.db, sql, [box_id.into(), identity_id.into()]).await?;
        // Not a member: no count.
        let Some(row) = rows.first() else {
            return Ok(0);
        };
        let unread: i64 = row.try_get("", "unread").map_err(store_error)?;
        Ok(u64::try_from(unread).unwrap_or(0))
    }

    async fn unread_boxes(
        &self,
        identity_ids: &[Uuid],
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        if identity_ids.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        let identities: Vec<String> = (1..=identity_ids.len())
            .map(|n| super::placeholder(backend, n))
            .collect();
        // At most `limit` per identity, however many boxes some identity has.
        let sql = format!(
            "SELECT identity_id, box_id FROM (SELECT m.identity_id, m.box_id, \
             ROW_NUMBER() OVER (PARTITION BY m.identity_id) AS listed FROM box_members AS m \
             JOIN box_unread_totals AS t ON t.box_id = m.box_id \
             WHERE t.events > m.read_mark AND m.identity_id IN ({})) AS unread \
             WHERE listed <= {}",
            identities.join(", "),
            super::placeholder(backend, identity_ids.len() + 1)
        );
        let values = identity_ids
            .iter()
            .map(|id| sea_orm::Value::from(*id))
            .chain([i64::try_from(limit).unwrap_or(i64::MAX).into()]);
        let rows = super::query_written_out(&self.db, sql, values).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<Uuid>("", "identity_id")
                        .map_err(store_error)?,
                    row.try_get::<Uuid>("", "box_id").map_err(store_error)?,
                ))
            })
            .collect()
    }
}
