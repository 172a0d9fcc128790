use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{AckObject, AddressedUpdate, ClientMessage, Frame, RealtimeUpdate, UpdateType};
use crate::error::Error;
use crate::ports::Subscription;

/// How many log entries a replay reads at a time.
const REPLAY_PAGE: usize = 1000;

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

/// A socket's subscription to its identity's updates, and the position live delivery starts
/// after.
pub struct SocketSubscription {
    /// The updates as they are published.
    pub updates: Subscription,
    /// The identity's latest position just before subscribing.
    pub live_from: u64,
}

impl std::fmt::Debug for SocketSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSubscription")
            .field("live_from", &self.live_from)
            .finish_non_exhaustive()
    }
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

    /// Subscribes to the identity's updates. Frontends call it before answering the handshake
    /// (so that a refusal is still an HTTP answer) and hand the result to
    /// [`run_socket`](crate::socket::run_socket).
    pub async fn subscribe(&self) -> Result<SocketSubscription, Error> {
        // The position is read before subscribing: whatever commits in between is replayed
        // from the log when the socket starts, instead of falling between the two.
        let live_from = self
            .service
            .ports()
            .store
            .log_positions(self.identity_id)
            .await?
            .latest;
        let updates = self.service.ports().bus.subscribe(self.identity_id).await?;
        Ok(SocketSubscription { updates, live_from })
    }

    /// What a socket sends before its live updates, and the position they bring it to: every
    /// kept update after position `after`, in order; or, when those are no longer all kept
    /// (pruned) or `after` is beyond the latest position (the log was reset), one
    /// `resync_required` frame `{"since", "oldest", "latest"}` telling the client to refetch,
    /// after which it is live from the latest position. Call after subscribing, so that the
    /// replay and the live updates overlap (duplicates are dropped) rather than leave a gap.
    pub async fn resume(&self, after: u64) -> Result<(Vec<Frame>, u64), Error> {
        self.replay(after, None).await
    }

    /// The frames between positions `last` and `next` (both excluded), which live delivery
    /// skipped (publishes of concurrent commits can arrive out of order), read from the log;
    /// or a `resync_required` frame if they are no longer kept.
    pub async fn fill_gap(&self, last: u64, next: u64) -> Result<Vec<Frame>, Error> {
        Ok(self.replay(last, Some(next - 1)).await?.0)
    }

    /// The updates after `after` up to `up_to` (the latest position if `None`), or the resync
    /// frame.
    async fn replay(&self, after: u64, up_to: Option<u64>) -> Result<(Vec<Frame>, u64), Error> {
        let positions = self
            .service
            .ports()
            .store
            .log_positions(self.identity_id)
            .await?;
        let up_to = up_to.unwrap_or(positions.latest);
        if after > positions.latest || positions.oldest > after + 1 {
            let object = serde_json::json!({"since": after, "oldest": positions.oldest, "latest": positions.latest});
            let frame = RealtimeUpdate {
                kind: UpdateType::ResyncRequired,
                object,
            }
            .to_frame();
            return Ok((vec![frame], positions.latest));
        }
        let (mut frames, mut last) = (Vec::new(), after);
        while last < up_to {
            let page = self
                .service
                .ports()
                .store
                .updates_after(self.identity_id, last, REPLAY_PAGE)
                .await?;
            let Some(end) = page.last().map(|update| update.seq) else {
                break;
            };
            frames.extend(
                page.iter()
                    .filter(|update| update.seq <= up_to)
                    .map(|update| update.to_frame()),
            );
            last = end.min(up_to);
        }
        Ok((frames, last.max(after)))
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
