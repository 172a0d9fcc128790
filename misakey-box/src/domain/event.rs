use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IdentityView;

/// The kind of a box event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum EventType {
    /// First event of every box: `{"public_key", "title", "state": "open"}`.
    #[serde(rename = "create")]
    Create,
    /// Change of who may join: `{"value": "public" | "limited"}`.
    #[serde(rename = "state.access_mode")]
    StateAccessMode,
    /// An identity joined the box; no content.
    #[serde(rename = "member.join")]
    MemberJoin,
    /// A member left the box; no content; refers to its join.
    #[serde(rename = "member.leave")]
    MemberLeave,
    /// A message: `{"encrypted", "public_key"}`, opaque to the server.
    #[serde(rename = "msg.text")]
    MsgText,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::StateAccessMode => "state.access_mode",
            Self::MemberJoin => "member.join",
            Self::MemberLeave => "member.leave",
            Self::MsgText => "msg.text",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "create" => Some(Self::Create),
            "state.access_mode" => Some(Self::StateAccessMode),
            "member.join" => Some(Self::MemberJoin),
            "member.leave" => Some(Self::MemberLeave),
            "msg.text" => Some(Self::MsgText),
            _ => None,
        }
    }
}

/// Who may join a box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessMode {
    /// Anyone holding the invitation link.
    Public,
    /// Only listed identities.
    Limited,
}

/// One event of a box, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event id.
    pub id: Uuid,
    /// The box it belongs to.
    pub box_id: Uuid,
    /// Its kind.
    pub kind: EventType,
    /// Kind-specific content.
    pub content: serde_json::Value,
    /// The identity that caused it.
    pub sender_id: Uuid,
    /// Server time of the event.
    pub created_at: DateTime<Utc>,
    /// The event this one refers to, if any.
    pub referrer_id: Option<Uuid>,
}

impl Event {
    /// The event as shown in a box view (`last_event`).
    pub fn box_view(&self, sender: IdentityView) -> BoxEventView {
        BoxEventView {
            id: self.id,
            kind: self.kind,
            content: self.content.clone(),
            server_event_created_at: self.created_at,
            sender,
        }
    }

    /// The event as a box's members read it.
    pub fn view(&self, sender: IdentityView) -> EventView {
        EventView {
            id: self.id,
            kind: self.kind,
            box_id: self.box_id,
            content: self.content.clone(),
            server_event_created_at: self.created_at,
            sender,
            referrer_id: self.referrer_id,
        }
    }

    /// The event as pushed in an `event.new` update.
    pub fn new_event_view(&self, sender: IdentityView, owner_org_id: Uuid) -> NewEventView {
        NewEventView {
            id: self.id,
            kind: self.kind,
            box_id: self.box_id,
            owner_org_id,
            content: self.content.clone(),
            server_event_created_at: self.created_at,
            sender,
            referrer_id: self.referrer_id,
        }
    }
}

/// An event inside a box view (`last_event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BoxEventView {
    /// Event id.
    pub id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Kind-specific content.
    pub content: serde_json::Value,
    /// Server time of the event.
    pub server_event_created_at: DateTime<Utc>,
    /// Who caused it.
    pub sender: IdentityView,
}

/// An event as its box's members read it (the 201 of `POST /boxes/{id}/events`, the items of
/// `GET /boxes/{id}/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EventView {
    /// Event id.
    pub id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The box it belongs to.
    pub box_id: Uuid,
    /// Kind-specific content (`null` for membership events).
    pub content: serde_json::Value,
    /// Server time of the event.
    pub server_event_created_at: DateTime<Utc>,
    /// Who caused it.
    pub sender: IdentityView,
    /// The event this one refers to (a leave: its join), if any.
    pub referrer_id: Option<Uuid>,
}

/// The `object` of an `event.new` update: the event view plus its box and the box's owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NewEventView {
    /// Event id.
    pub id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The box it belongs to.
    pub box_id: Uuid,
    /// The organisation owning the box.
    pub owner_org_id: Uuid,
    /// Kind-specific content.
    pub content: serde_json::Value,
    /// Server time of the event.
    pub server_event_created_at: DateTime<Utc>,
    /// Who caused it.
    pub sender: IdentityView,
    /// The event this one refers to, if any.
    pub referrer_id: Option<Uuid>,
}
