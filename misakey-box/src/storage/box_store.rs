use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait as _, DatabaseTransaction, EntityTrait, QueryFilter as _, QueryOrder as _, SqlErr,
    TransactionTrait as _,
};
use uuid::Uuid;

use super::entities::{
    box_event, box_key_share, box_unread_count, crypto_action, identity_notification,
};
use super::{SeaOrmStorage, corrupt, store_error, update_log};
use crate::domain::{
    CryptoAction, CryptoActionType, Event, EventType, KeyShare, Notification, NotificationType,
    SequencedUpdate,
};
use crate::error::StoreError;
use crate::ports::{
    BoxStore, ContactRecord, LogCursor, LogPositions, LoggedUpdate, PublisherHeartbeat, Retention,
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

/// Writes every row of the contacts inside `txn`, one statement per table; the key shares go
/// first so that a duplicate fails before anything else is written (and before any position
/// is taken). Returns each contact's updates with their positions.
pub(super) async fn insert_contacts(
    txn: &DatabaseTransaction,
    records: &[&ContactRecord],
) -> Result<Vec<Vec<SequencedUpdate>>, StoreError> {
    let shares = records.iter().map(|record| {
        box_key_share::ActiveModel::from(box_key_share::Model::from(record.key_share.clone()))
    });
    box_key_share::Entity::insert_many(shares)
        .exec_without_returning(txn)
        .await
        .map_err(|error| match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::KeyShareConflict,
            _ => store_error(error),
        })?;
    let events = records
        .iter()
        .flat_map(|record| &record.events)
        .map(|event| box_event::ActiveModel {
            seq: NotSet,
            id: Set(event.id),
            box_id: Set(event.box_id),
            r#type: Set(event.kind.as_str().to_owned()),
            content: Set(event.content.to_string()),
            sender_id: Set(event.sender_id),
            created_at: Set(event.created_at),
            referrer_id: Set(event.referrer_id),
        });
    box_event::Entity::insert_many(events)
        .exec_without_returning(txn)
        .await
        .map_err(store_error)?;
    let actions = records.iter().map(|record| {
        let action = &record.crypto_action;
        crypto_action::ActiveModel {
            id: Set(action.id),
            account_id: Set(action.account_id),
            sender_identity_id: Set(action.sender_identity_id),
            r#type: Set(action.kind.as_str().to_owned()),
            box_id: Set(action.box_id),
            encryption_public_key: Set(action.encryption_public_key.clone()),
            encrypted: Set(action.encrypted.clone()),
            created_at: Set(action.created_at),
        }
    });
    crypto_action::Entity::insert_many(actions)
        .exec_without_returning(txn)
        .await
        .map_err(store_error)?;
    let notifications = records.iter().map(|record| {
        let notification = &record.notification;
        identity_notification::ActiveModel {
            id: Set(notification.id),
            identity_id: Set(notification.identity_id),
            r#type: Set(notification.kind.as_str().to_owned()),
            details: Set(notification.details.to_string()),
            created_at: Set(notification.created_at),
            acknowledged_at: Set(notification.acknowledged_at),
        }
    });
    identity_notification::Entity::insert_many(notifications)
        .exec_without_returning(txn)
        .await
        .map_err(store_error)?;
    update_log::append(txn, records).await
}

#[async_trait]
impl BoxStore for SeaOrmStorage {
    async fn save_contact(
        &self,
        record: &ContactRecord,
    ) -> Result<Vec<SequencedUpdate>, StoreError> {
        self.save_contact_in_a_batch(record).await
    }

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

    async fn updates_created_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        cursor: Option<LogCursor>,
        limit: usize,
    ) -> Result<Vec<LoggedUpdate>, StoreError> {
        update_log::created_between(&self.db, from, until, cursor, limit).await
    }

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

    async fn prune_updates(
        &self,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        update_log::prune(&self.db, retention, now).await
    }

    async fn box_events(&self, box_id: Uuid) -> Result<Vec<Event>, StoreError> {
        box_event::Entity::find()
            .filter(box_event::Column::BoxId.eq(box_id))
            .order_by_asc(box_event::Column::Seq)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(Event::try_from)
            .collect()
    }

    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError> {
        let row = box_key_share::Entity::find_by_id(other_share_hash.to_owned())
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(row.map(|row| KeyShare {
            other_share_hash: row.other_share_hash,
            misakey_share: row.misakey_share,
            encrypted_invitation_key_share: row.encrypted_invitation_key_share,
            box_id: row.box_id,
            creator_id: row.creator_id,
        }))
    }

    async fn crypto_actions(&self, account_id: Uuid) -> Result<Vec<CryptoAction>, StoreError> {
        crypto_action::Entity::find()
            .filter(crypto_action::Column::AccountId.eq(account_id))
            .order_by_asc(crypto_action::Column::CreatedAt)
            .order_by_asc(crypto_action::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(CryptoAction::try_from)
            .collect()
    }

    async fn notifications(&self, identity_id: Uuid) -> Result<Vec<Notification>, StoreError> {
        identity_notification::Entity::find()
            .filter(identity_notification::Column::IdentityId.eq(identity_id))
            .order_by_asc(identity_notification::Column::CreatedAt)
            .order_by_asc(identity_notification::Column::Id)
            .all(&self.db)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(Notification::try_from)
            .collect()
    }

    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError> {
        let row = box_unread_count::Entity::find_by_id((identity_id, box_id))
            .one(&self.db)
            .await
            .map_err(store_error)?;
        Ok(row.map_or(0, |row| u64::try_from(row.count).unwrap_or(0)))
    }

    async fn increment_unread_count(
        &self,
        identity_id: Uuid,
        box_id: Uuid,
    ) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        let txn = self.db.begin().await.map_err(store_error)?;
        let increment = OnConflict::columns([
            box_unread_count::Column::IdentityId,
            box_unread_count::Column::BoxId,
        ])
        .value(
            box_unread_count::Column::Count,
            Expr::col((box_unread_count::Entity, box_unread_count::Column::Count)).add(1),
        )
        .to_owned();
        box_unread_count::Entity::insert(box_unread_count::ActiveModel {
            identity_id: Set(identity_id),
            box_id: Set(box_id),
            count: Set(1),
        })
        .on_conflict(increment)
        .exec_without_returning(&txn)
        .await
        .map_err(store_error)?;
        let row = box_unread_count::Entity::find_by_id((identity_id, box_id))
            .one(&txn)
            .await
            .map_err(store_error)?
            .ok_or_else(|| corrupt("unread count missing right after its upsert"))?;
        txn.commit().await.map_err(store_error)?;
        u64::try_from(row.count)
            .map_err(|_| corrupt(format!("negative unread count {}", row.count)))
    }

    async fn reset_unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        box_unread_count::Entity::delete_by_id((identity_id, box_id))
            .exec(&self.db)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        SeaOrmStorage::ping(self).await
    }
}
