use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum NotificationType {
    /// The identity was added to a box by someone who contacted it.
    #[serde(rename = "box.auto_invite")]
    BoxAutoInvite,
}

impl NotificationType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BoxAutoInvite => "box.auto_invite",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "box.auto_invite" => Some(Self::BoxAutoInvite),
            _ => None,
        }
    }
}

/// A notification stored for one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Notification id.
    pub id: Uuid,
    /// The identity notified.
    pub identity_id: Uuid,
    /// Its kind.
    pub kind: NotificationType,
    /// Kind-specific details (for `box.auto_invite`: `box_id`, `box_title`, `owner_org_id`,
    /// `cryptoaction_id`).
    pub details: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// When the identity acknowledged it, if it did.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl Notification {
    /// What the identity is shown (the `object` of a `notification` update).
    pub fn view(&self) -> NotificationView {
        NotificationView {
            id: self.id,
            kind: self.kind,
            details: self.details.clone(),
            created_at: self.created_at,
            acknowledged_at: self.acknowledged_at,
        }
    }
}

/// The JSON shape of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NotificationView {
    /// Notification id.
    pub id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: NotificationType,
    /// Kind-specific details.
    pub details: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Acknowledgement time.
    pub acknowledged_at: Option<DateTime<Utc>>,
}
