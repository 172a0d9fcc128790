use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{AckObject, AddressedUpdate, ClientMessage, RealtimeUpdate, UpdateType};
use crate::error::Error;
use crate::ports::Subscription;

/// What an inbound frame did. The socket stays open in every case; frontends may log it.
#[derive(Debug)]
#[non_exhaustive]
pub enum InboundOutcome {
    /// The unread count of the box was reset and the ack sent to every socket of the identity.
    Acked {
        /// The acknowledged box.
        box_id: Uuid,
    },
    /// An ack whose `sender_id` is another identity: dropped, nothing written or sent.
    ForeignAckDropped {
        /// The identity the client claimed to be.
        sender_id: Uuid,
    },
    /// Not JSON, or not a known message: ignored.
    Ignored {
        /// Why it could not be understood.
        reason: String,
    },
    /// The message was valid but storing its effect failed.
    Failed(Error),
}

/// The logic of one authenticated socket, independent of how frames travel.
#[derive(Debug, Clone)]
pub struct SocketSession {
    service: BoxService,
    identity_id: Uuid,
}

impl BoxService {
    /// The session logic for a socket the caller has just opened.
    pub fn socket_session(&self, caller: &Caller) -> SocketSession {
        SocketSession {
            service: self.clone(),
            identity_id: caller.identity_id,
        }
    }
}

impl SocketSession {
    /// The identity the socket belongs to.
    pub fn identity_id(&self) -> Uuid {
        self.identity_id
    }

    /// The updates to send on this socket.
    pub async fn subscribe(&self) -> Result<Subscription, Error> {
        Ok(self.service.ports().bus.subscribe(self.identity_id).await?)
    }

    /// Handles one text frame from the client.
    ///
    /// `{"type": "ack", "object": {"sender_id", "box_id"}}` resets the identity's unread count
    /// for the box and re-sends the ack to all its sockets. An ack naming another identity is
    /// dropped: a client can never make the server write into another identity's channel.
    pub async fn handle_text(&self, text: &str) -> InboundOutcome {
        let outcome = match serde_json::from_str::<ClientMessage>(text) {
            Err(error) => InboundOutcome::Ignored {
                reason: error.to_string(),
            },
            Ok(ClientMessage::Ack(ack)) => self.ack(ack).await,
        };
        match &outcome {
            InboundOutcome::Acked { .. } => {}
            InboundOutcome::ForeignAckDropped { sender_id } => {
                tracing::warn!(identity = %self.identity_id, claimed = %sender_id, "foreign ack dropped");
            }
            InboundOutcome::Ignored { reason } => {
                tracing::debug!(identity = %self.identity_id, reason, "inbound frame ignored");
            }
            InboundOutcome::Failed(error) => {
                tracing::error!(identity = %self.identity_id, error = ?error, "ack failed");
            }
        }
        outcome
    }

    async fn ack(&self, ack: AckObject) -> InboundOutcome {
        if ack.sender_id != self.identity_id {
            return InboundOutcome::ForeignAckDropped {
                sender_id: ack.sender_id,
            };
        }
        if let Err(error) = self
            .service
            .ports()
            .store
            .reset_unread_count(self.identity_id, ack.box_id)
            .await
        {
            return InboundOutcome::Failed(error.into());
        }
        let echo = AddressedUpdate {
            recipient: self.identity_id,
            update: RealtimeUpdate {
                kind: UpdateType::Ack,
                object: serde_json::json!({"sender_id": ack.sender_id, "box_id": ack.box_id}),
            },
        };
        self.service.publish_committed(&[echo]).await;
        InboundOutcome::Acked { box_id: ack.box_id }
    }
}
