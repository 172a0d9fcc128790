use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `type` of a realtime update. Adding one is adding a variant and its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UpdateType {
    /// A new event in a box the identity belongs to; object: [`super::NewEventView`].
    #[serde(rename = "event.new")]
    EventNew,
    /// A new notification; object: [`super::NotificationView`].
    #[serde(rename = "notification")]
    Notification,
    /// An identity acknowledged a box on one of its sockets; object: [`AckObject`].
    #[serde(rename = "ack")]
    Ack,
    /// An identity acknowledged notifications; object: `{"ids", "acknowledged_at"}`.
    #[serde(rename = "notification.acknowledged")]
    NotificationAcknowledged,
    /// A box was deleted.
    #[serde(rename = "box.delete")]
    BoxDelete,
    /// The identity's settings for a box changed.
    #[serde(rename = "box.settings")]
    BoxSettings,
    /// A file was saved to the identity's vault.
    #[serde(rename = "file.saved")]
    FileSaved,
    /// The updates a resuming client asked for are no longer kept: it must refetch its state.
    #[serde(rename = "resync_required")]
    ResyncRequired,
}

impl UpdateType {
    /// Every update type.
    pub const ALL: [UpdateType; 8] = [
        UpdateType::EventNew,
        UpdateType::Notification,
        UpdateType::Ack,
        UpdateType::NotificationAcknowledged,
        UpdateType::BoxDelete,
        UpdateType::BoxSettings,
        UpdateType::FileSaved,
        UpdateType::ResyncRequired,
    ];

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventNew => "event.new",
            Self::Notification => "notification",
            Self::Ack => "ack",
            Self::NotificationAcknowledged => "notification.acknowledged",
            Self::BoxDelete => "box.delete",
            Self::BoxSettings => "box.settings",
            Self::FileSaved => "file.saved",
            Self::ResyncRequired => "resync_required",
        }
    }
}

/// One update for one identity: `{"type": ..., "object": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealtimeUpdate {
    /// What happened.
    #[serde(rename = "type")]
    pub kind: UpdateType,
    /// The object it happened to. Shared: an event reaching a thousand members is one object,
    /// not a thousand copies.
    pub object: Arc<serde_json::Value>,
}

impl RealtimeUpdate {
    /// An update whose object is any serialisable view.
    pub fn new(kind: UpdateType, object: impl Serialize) -> Result<Self, serde_json::Error> {
        Ok(Self {
            kind,
            object: Arc::new(serde_json::to_value(object)?),
        })
    }

    /// Whether `other` is the same kind of update with the very same object (not a copy).
    pub fn shares_object_with(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.object, &other.object)
    }

    /// Serialises an ephemeral update (no position), once, into the frame every socket of the
    /// recipient is sent: `{"type", "object"}`.
    pub fn to_frame(&self) -> Frame {
        // Serialising a `Value` with string keys cannot fail.
        let text = serde_json::to_string(self).unwrap_or_default();
        Frame {
            seq: None,
            kind: Some(self.kind),
            text: Arc::from(text),
        }
    }

    /// Serialises a durable update at position `seq`: `{"seq", "type", "object"}`, the
    /// position first so that it can be read back without parsing the rest.
    pub fn to_sequenced_frame(&self, seq: u64) -> Frame {
        sequenced_frame(
            seq,
            self.kind,
            &serde_json::to_string(self).unwrap_or_default(),
        )
    }
}

/// `{"seq": seq, ...}` from the serialised update `{...}`.
fn sequenced_frame(seq: u64, kind: UpdateType, update: &str) -> Frame {
    let text = format!(
        "{{\"seq\":{seq},{}",
        update.strip_prefix('{').unwrap_or(update)
    );
    Frame {
        seq: Some(seq),
        kind: Some(kind),
        text: Arc::from(text),
    }
}

/// The frames of `updates`, in order, each with its recipient. Consecutive updates that share
/// one object (an event reaching every member of a box) are serialised once.
pub fn sequenced_frames(updates: &[SequencedUpdate]) -> Vec<(Uuid, Frame)> {
    let mut previous: Option<(&RealtimeUpdate, String)> = None;
    updates
        .iter()
        .map(|sequenced| {
            let update = &sequenced.update;
            let text = match &previous {
                Some((last, text)) if last.shares_object_with(update) => text,
                _ => {
                    let text = serde_json::to_string(update).unwrap_or_default();
                    &previous.insert((update, text)).1
                }
            };
            (
                sequenced.recipient,
                sequenced_frame(sequenced.seq, update.kind, text),
            )
        })
        .collect()
}

/// An update addressed to one identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressedUpdate {
    /// The identity whose sockets receive it.
    pub recipient: Uuid,
    /// The update.
    pub update: RealtimeUpdate,
}

/// A durable update: stored in its recipient's log at a position (1, 2, 3... per identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedUpdate {
    /// The identity whose log holds it.
    pub recipient: Uuid,
    /// Its position in that log.
    pub seq: u64,
    /// The update.
    pub update: RealtimeUpdate,
}

impl SequencedUpdate {
    /// The frame sent for it.
    pub fn to_frame(&self) -> Frame {
        self.update.to_sequenced_frame(self.seq)
    }
}

/// A serialised update, cheap to clone: the text frame sent to a socket, and its position if
/// it is durable.
///
/// It is serialised once per publish and shared by every subscriber.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    seq: Option<u64>,
    /// Known when the frame is made: every socket sending it asks (metrics, unread counts).
    kind: Option<UpdateType>,
    text: Arc<str>,
}

impl Frame {
    /// Wraps a frame received from a broker; its position is read from a leading `{"seq":N`,
    /// its type from the first `"type"` of the text (the server writes it before the object).
    pub fn from_text(text: impl Into<Arc<str>>) -> Self {
        let text = text.into();
        let seq = text
            .strip_prefix("{\"seq\":")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        let kind = text
            .split_once("\"type\":\"")
            .and_then(|(_, rest)| rest.split('"').next())
            .and_then(UpdateType::parse);
        Self { seq, kind, text }
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The wire name of the update's type (`notification`...); `None` if it names no known
    /// type.
    pub fn type_name(&self) -> Option<&'static str> {
        self.kind.map(UpdateType::as_str)
    }

    /// The box of an `event.new` frame: the first `"box_id"` of its text (the event's own; a
    /// key cannot appear unescaped inside a string value). `None` for other frames, or if it is
    /// missing or not a UUID.
    pub fn event_box_id(&self) -> Option<Uuid> {
        if self.kind != Some(UpdateType::EventNew) {
            return None;
        }
        let (_, rest) = self.text.split_once("\"box_id\":\"")?;
        rest.get(..36)?.parse().ok()
    }

    /// The position of a durable update; `None` for ephemeral ones (the `ack` echo).
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// Parses the frame back into JSON (for tests and logs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.text).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Frame").field(&&*self.text).finish()
    }
}

/// The object of an `ack`: the identity acknowledging, and the box it has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckObject {
    /// The identity acknowledging; must be the socket's identity.
    pub sender_id: Uuid,
    /// The box whose unread count is reset.
    pub box_id: Uuid,
}

/// A message a client sends on its socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "object")]
#[non_exhaustive]
pub enum ClientMessage {
    /// The client has read a box: reset its unread count, tell the identity's other sockets.
    #[serde(rename = "ack")]
    Ack(AckObject),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frame_is_the_update_json() {
        let update = RealtimeUpdate::new(UpdateType::Notification, json!({"id": 1})).unwrap();
        assert_eq!(
            update.to_frame().to_json(),
            json!({"type": "notification", "object": {"id": 1}})
        );
    }

    #[test]
    fn sequenced_frames_carry_their_position_first() {
        let update = RealtimeUpdate::new(UpdateType::Notification, json!({"id": 1})).unwrap();
        let frame = update.to_sequenced_frame(42);
        assert!(frame.text().starts_with("{\"seq\":42,"), "{}", frame.text());
        assert_eq!(
            frame.to_json(),
            json!({"seq": 42, "type": "notification", "object": {"id": 1}})
        );
        assert_eq!(frame.seq(), Some(42));
        assert_eq!(Frame::from_text(frame.text()).seq(), Some(42));
        assert_eq!(Frame::from_text(frame.text()), frame);
        assert_eq!(update.to_frame().seq(), None);
        assert_eq!(
            Frame::from_text(update.to_frame().text()),
            update.to_frame()
        );
    }

    #[test]
    fn every_frame_knows_its_type_whether_made_here_or_read_from_a_broker() {
        for kind in UpdateType::ALL {
            let update = RealtimeUpdate::new(kind, json!({"type": "other"})).unwrap();
            for frame in [update.to_frame(), update.to_sequenced_frame(9)] {
                assert_eq!(frame.type_name(), Some(kind.as_str()));
                assert_eq!(
                    Frame::from_text(frame.text()).type_name(),
                    Some(kind.as_str())
                );
            }
        }
        for text in [
            r#"{"type":"unknown","object":{}}"#,
            r#"{"object":{}}"#,
            "not json",
        ] {
            assert_eq!(Frame::from_text(text).type_name(), None, "{text}");
        }
    }

    #[test]
    fn an_event_frame_names_its_box_and_no_other_frame_does() {
        let (box_id, other) = (Uuid::from_u128(7), Uuid::from_u128(8));
        // A string that spells a box id is escaped, so it cannot be mistaken for the key, even
        // ahead of it ("author" sorts before "box_id").
        let event = json!({
            "author": {"display_name": format!("\"box_id\":\"{other}\"")},
            "box_id": box_id,
            "type": "msg.text",
        });
        let frame = RealtimeUpdate::new(UpdateType::EventNew, event.clone())
            .unwrap()
            .to_sequenced_frame(3);
        assert_eq!(frame.event_box_id(), Some(box_id));
        assert_eq!(Frame::from_text(frame.text()).event_box_id(), Some(box_id));

        let notification = RealtimeUpdate::new(UpdateType::Notification, event).unwrap();
        assert_eq!(notification.to_frame().event_box_id(), None);
        for object in [json!({"id": 1}), json!({"box_id": "not-a-uuid-at-all"})] {
            let event = RealtimeUpdate::new(UpdateType::EventNew, object).unwrap();
            assert_eq!(event.to_frame().event_box_id(), None);
        }
    }

    #[test]
    fn ack_message_round_trips() {
        let text = r#"{"type":"ack","object":{"sender_id":"8b7d0a7c-7c5c-4a53-9a4a-0f1f6f2b6a11","box_id":"0e3f5a3c-3a7f-4c0c-9d6e-6b1a2f1f4e22"}}"#;
        let message: ClientMessage = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }
}
