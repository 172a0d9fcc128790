//! An identity's notifications: listing, counting, acknowledging.

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{AddressedUpdate, NotificationView, RealtimeUpdate, UpdateType};
use crate::error::{Detail, Error, ErrorCode, Origin};
use crate::ports::{Change, ChangeSet};
use crate::validation::parse_uuid;

/// What acknowledging changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// The notifications this request acknowledged (those already acknowledged are not in it).
    pub ids: Vec<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Parses the `ids` query of an acknowledgement: comma-separated UUIDs; `None` when absent (all
/// of the caller's notifications).
pub fn parse_notification_ids(ids: Option<&str>) -> Result<Option<Vec<Uuid>>, Error> {
    let Some(ids) = ids else {
        return Ok(None);
    };
    ids.split(',')
        .map(|id| parse_uuid(id.trim()))
        .collect::<Option<Vec<Uuid>>>()
        .map(Some)
        .ok_or_else(|| {
            Error::new(
                ErrorCode::BadRequest,
                Origin::Query,
                "ids must be comma-separated UUIDs",
            )
            .with_detail("ids", Detail::Malformed)
        })
}

impl BoxService {
    /// The caller's notifications, newest first, skipping `offset`, at most `limit`.
    pub async fn notifications(
        &self,
        caller: &Caller,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<NotificationView>, Error> {
        let notifications = self
            .ports()
            .inbox
            .list_notifications(caller.identity_id, offset, limit)
            .await?;
        Ok(notifications.iter().map(|n| n.view()).collect())
    }

    /// How many of the caller's notifications are not acknowledged (the badge).
    pub async fn unacknowledged_notifications(&self, caller: &Caller) -> Result<u64, Error> {
        Ok(self
            .ports()
            .inbox
            .count_unacknowledged_notifications(caller.identity_id)
            .await?)
    }

    /// Acknowledges the caller's unacknowledged notifications among `ids` (unknown and
    /// foreign ids are ignored), or all of them when `ids` is `None`. When it acknowledged
    /// any, every socket of the caller then receives the ephemeral
    /// `{"type": "notification.acknowledged", "object": {"ids", "acknowledged_at"}}`, so that
    /// every device clears its badge.
    pub async fn acknowledge_notifications(
        &self,
        caller: &Caller,
        ids: Option<&[Uuid]>,
    ) -> Result<Acknowledged, Error> {
        let ports = self.ports();
        let at = ports.clock.now();
        let pending = ports
            .inbox
            .unacknowledged_notifications(caller.identity_id, ids)
            .await?;
        if pending.is_empty() {
            return Ok(Acknowledged { ids: pending, at });
        }
        let changes = ChangeSet {
            changes: vec![Change::AcknowledgeNotifications {
                identity_id: caller.identity_id,
                ids: pending.clone(),
                at,
            }],
            updates: Vec::new(),
            created_at: at,
        };
        ports.store.commit(&changes).await?;
        let frame = AddressedUpdate {
            recipient: caller.identity_id,
            update: RealtimeUpdate {
                kind: UpdateType::NotificationAcknowledged,
                object: json!({"ids": pending, "acknowledged_at": at}).into(),
            },
        };
        self.publish_ephemeral(&[frame]).await;
        Ok(Acknowledged { ids: pending, at })
    }
}
