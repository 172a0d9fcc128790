use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AccessMode, BoxEventView, IdentityView};

/// A box as returned to its members (the 201 body of the contact endpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BoxView {
    /// Box id.
    pub id: Uuid,
    /// Creation time (that of its `create` event).
    pub server_created_at: DateTime<Utc>,
    /// The box public key.
    pub public_key: String,
    /// The box title.
    pub title: String,
    /// Who may join.
    pub access_mode: AccessMode,
    /// The organisation owning the box.
    pub owner_org_id: Uuid,
    /// The identity that created it.
    pub creator: IdentityView,
    /// The most recent event shown with the box (`state.access_mode` events are not shown).
    pub last_event: BoxEventView,
    /// The reader's unread count in this box (in reads, not in the answer to a contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_count: Option<u64>,
}
