use uuid::Uuid;

use super::Caller;
use crate::BoxService;
use crate::domain::{AckObject, AddressedUpdate, ClientMessage, Frame, RealtimeUpdate, UpdateType};
use crate::error::Error;
use crate::ports::{Change, ChangeSet, Subscription};

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

/// How a replay begins: see [`SocketSession::start_replay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The updates asked for are no longer all kept, or the position asked for is beyond
    /// the latest: send this `resync_required` frame, then go live from `latest`.
    ResyncRequired {
        /// The `resync_required` frame.
        frame: Frame,
        /// The position live delivery goes on from.
        latest: u64,
    },
    /// Replay the positions after `after` up to `up_to`, a page at a time.
    Range {
        /// The last position the client has.
        after: u64,
        /// The last position to replay; later ones come live.
        up_to: u64,
    },
}

/// One step of a replay range: see [`SocketSession::replay_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayPage {
    /// The next frames, in order, and the position they reach.
    Frames {
        /// The frames to send.
        frames: Vec<Frame>,
        /// The position of the last of them.
        reached: u64,
    },
    /// Entries were pruned while the replay went on: send this frame, then go live from
    /// `latest`.
    ResyncRequired {
        /// The `resync_required` frame.
        frame: Frame,
        /// The position live delivery goes on from.
        latest: u64,
    },
    /// Nothing more to replay.
    Done,
}

fn resync_frame(since: u64, oldest: u64, latest: u64) -> Frame {
    RealtimeUpdate {
        kind: UpdateType::ResyncRequired,
        object: serde_json::json!({"since": since, "oldest": oldest, "latest": latest}),
    }
    .to_frame()
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
            .log
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
    ///
    /// This collects the whole replay; [`start_replay`](Self::start_replay) and
    /// [`replay_page`](Self::replay_page) give it a page at a time, as the socket driver
    /// sends it.
    pub async fn resume(&self, after: u64) -> Result<(Vec<Frame>, u64), Error> {
        let replay = self.start_replay(after).await?;
        self.collect(replay).await
    }

    /// The frames between positions `last` and `next` (both excluded), which live delivery
    /// skipped (publishes of concurrent commits can arrive out of order), read from the log;
    /// or a `resync_required` frame if they are no longer kept.
    pub async fn fill_gap(&self, last: u64, next: u64) -> Result<Vec<Frame>, Error> {
        let replay = self.plan(last, Some(next - 1)).await?;
        Ok(self.collect(replay).await?.0)
    }

    /// Starts the replay [`resume`](Self::resume) describes: either the `resync_required`
    /// frame at once, or the range of positions to read with
    /// [`replay_page`](Self::replay_page).
    pub async fn start_replay(&self, after: u64) -> Result<Replay, Error> {
        self.plan(after, None).await
    }

    /// Plans the replay of the positions after `after` up to `up_to` (the latest if `None`).
    pub(crate) async fn plan(&self, after: u64, up_to: Option<u64>) -> Result<Replay, Error> {
        let positions = self
            .service
            .ports()
            .log
            .log_positions(self.identity_id)
            .await?;
        if after > positions.latest || positions.oldest > after + 1 {
            return Ok(Replay::ResyncRequired {
                frame: resync_frame(after, positions.oldest, positions.latest),
                latest: positions.latest,
            });
        }
        Ok(Replay::Range {
            after,
            up_to: up_to.unwrap_or(positions.latest),
        })
    }

    /// The next page of a replay range: the kept updates after `after`, up to `up_to`, at most
    /// a thousand. Entries pruned while the replay went on make it a `resync_required`:
    /// never a silent gap.
    pub async fn replay_page(&self, after: u64, up_to: u64) -> Result<ReplayPage, Error> {
        if after >= up_to {
            return Ok(ReplayPage::Done);
        }
        let page = self
            .service
            .ports()
            .log
            .updates_after(self.identity_id, after, REPLAY_PAGE)
            .await?;
        match page.first() {
            None => Ok(ReplayPage::Done),
            Some(first) if first.seq > after + 1 => Ok(ReplayPage::ResyncRequired {
                frame: resync_frame(after, first.seq, up_to),
                latest: up_to,
            }),
            Some(_) => {
                let frames: Vec<Frame> = page
                    .iter()
                    .take_while(|update| update.seq <= up_to)
                    .map(|update| update.to_frame())
                    .collect();
                let reached = page
                    .iter()
                    .map(|update| update.seq)
                    .take_while(|seq| *seq <= up_to)
                    .last()
                    .unwrap_or(after);
                Ok(ReplayPage::Frames { frames, reached })
            }
        }
    }

    /// Runs a replay to its end, collecting its frames.
    async fn collect(&self, replay: Replay) -> Result<(Vec<Frame>, u64), Error> {
        let (mut after, up_to) = match replay {
            Replay::ResyncRequired { frame, latest } => return Ok((vec![frame], latest)),
            Replay::Range { after, up_to } => (after, up_to),
        };
        let mut frames = Vec::new();
        loop {
            match self.replay_page(after, up_to).await? {
                ReplayPage::Done => return Ok((frames, after)),
                ReplayPage::ResyncRequired { frame, latest } => {
                    frames.push(frame);
                    return Ok((frames, latest));
                }
                ReplayPage::Frames {
                    frames: page,
                    reached,
                } => {
                    frames.extend(page);
                    after = reached;
                }
            }
        }
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
        let ports = self.service.ports();
        let reset = ChangeSet {
            changes: vec![Change::ResetUnreadCount {
                identity_id: self.identity_id,
                box_id: ack.box_id,
            }],
            updates: Vec::new(),
            created_at: ports.clock.now(),
        };
        if let Err(error) = ports.store.commit(&reset).await {
            return InboundOutcome::Failed(error.into());
        }
        let echo = AddressedUpdate {
            recipient: self.identity_id,
            update: RealtimeUpdate {
                kind: UpdateType::Ack,
                object: serde_json::json!({"sender_id": ack.sender_id, "box_id": ack.box_id}),
            },
        };
        self.service.publish_ephemeral(&[echo]).await;
        InboundOutcome::Acked { box_id: ack.box_id }
    }
}
