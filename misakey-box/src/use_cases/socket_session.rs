use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Caller;
use super::socket_unread::{ResetNeeded, SocketUnread};
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
    /// The identity's latest position once subscribed: later positions arrive live.
    pub live_from: u64,
}

impl std::fmt::Debug for SocketSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketSubscription")
            .field("live_from", &self.live_from)
            .finish_non_exhaustive()
    }
}

/// A replay: what a resuming socket is sent before its live updates, read from the log a page
/// at a time (memory holds one page, however long the replay). See [`SocketSession::replay`].
#[derive(Debug)]
pub struct Replay {
    session: SocketSession,
    /// The position the frames returned so far bring the socket to.
    reached: u64,
    /// The last position to replay; later ones come live.
    up_to: u64,
    next: NextPage,
}

#[derive(Debug)]
enum NextPage {
    /// The log no longer covers the replay: this `resync_required` frame, then nothing.
    Resync(Frame),
    /// Read the log after `reached`.
    Read,
    Done,
}

impl Replay {
    /// The next frames, in order; `None` once the replay is over. Entries pruned while the
    /// replay goes on make the rest of it one `resync_required` frame: never a silent gap.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Frame>>, Error> {
        match std::mem::replace(&mut self.next, NextPage::Done) {
            NextPage::Done => Ok(None),
            NextPage::Resync(frame) => Ok(Some(vec![frame])),
            NextPage::Read if self.reached >= self.up_to => Ok(None),
            NextPage::Read => {
                let page = self
                    .session
                    .service
                    .ports()
                    .log
                    .updates_after(self.session.identity_id, self.reached, REPLAY_PAGE)
                    .await?;
                match page.first() {
                    None => Ok(None),
                    Some(first) if first.seq > self.reached + 1 => {
                        let frame = resync_frame(self.reached, first.seq, self.up_to);
                        self.reached = self.up_to;
                        Ok(Some(vec![frame]))
                    }
                    Some(_) => {
                        let frames: Vec<Frame> = page
                            .iter()
                            .take_while(|update| update.seq <= self.up_to)
                            .map(|update| {
                                self.reached = update.seq;
                                update.to_frame()
                            })
                            .collect();
                        self.next = NextPage::Read;
                        Ok(Some(frames))
                    }
                }
            }
        }
    }

    /// The position the frames returned so far bring the socket to (once the replay is over:
    /// where live delivery goes on from).
    pub fn reached(&self) -> u64 {
        self.reached
    }

    /// The whole rest of the replay in memory, and the position it reaches.
    pub async fn collect(mut self) -> Result<(Vec<Frame>, u64), Error> {
        let mut frames = Vec::new();
        while let Some(page) = self.next_page().await? {
            frames.extend(page);
        }
        Ok((frames, self.reached))
    }
}

fn resync_frame(since: u64, oldest: u64, latest: u64) -> Frame {
    RealtimeUpdate {
        kind: UpdateType::ResyncRequired,
        object: serde_json::json!({"since": since, "oldest": oldest, "latest": latest}).into(),
    }
    .to_frame()
}

/// The logic of one authenticated socket, independent of how frames travel.
#[derive(Debug, Clone)]
pub struct SocketSession {
    service: BoxService,
    identity_id: Uuid,
    token_expires_at: Option<DateTime<Utc>>,
    /// The token to check again while the socket lives (see [`Self::rechecking`]).
    token: Option<std::sync::Arc<str>>,
    /// Which of the identity's unread counts may be above zero (shared by the session's
    /// clones: the socket's loop notes events, its acks read and clear).
    unread: std::sync::Arc<SocketUnread>,
}

/// What a re-check found of a socket's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// Still active (or never re-checked).
    Active,
    /// No longer active: revoked, or expired.
    Revoked,
    /// The token port could not answer; the socket keeps going until the token's expiry.
    Unknown,
}

impl BoxService {
    /// The session logic for a socket the caller has just opened.
    pub fn socket_session(&self, caller: &Caller) -> SocketSession {
        SocketSession {
            service: self.clone(),
            identity_id: caller.identity_id,
            token_expires_at: caller.token_expires_at,
            token: None,
            unread: std::sync::Arc::default(),
        }
    }
}

impl SocketSession {
    /// The identity the socket belongs to.
    pub fn identity_id(&self) -> Uuid {
        self.identity_id
    }

    /// The session re-checks `token` (the one it was opened with) when asked by
    /// [`recheck_token`](Self::recheck_token).
    #[must_use]
    pub fn rechecking(mut self, token: &str) -> Self {
        self.token = Some(std::sync::Arc::from(token));
        self
    }

    /// Asks the token port again whether the socket's token is active (an introspecting port
    /// answers from its cache while it can). A session opened without
    /// [`rechecking`](Self::rechecking) is always [`TokenCheck::Active`].
    pub async fn recheck_token(&self) -> TokenCheck {
        let Some(token) = &self.token else {
            return TokenCheck::Active;
        };
        match self.service.ports().tokens.introspect(token).await {
            Ok(Some(info))
                if info.identity_id == self.identity_id
                    && info
                        .expires_at
                        .is_none_or(|at| at > self.service.ports().clock.now()) =>
            {
                crate::metrics::token_recheck("active");
                TokenCheck::Active
            }
            Ok(_) => {
                crate::metrics::token_recheck("revoked");
                TokenCheck::Revoked
            }
            Err(error) => {
                crate::metrics::token_recheck("unknown");
                tracing::warn!(identity = %self.identity_id, %error, "cannot re-check a socket's token; keeping the socket");
                TokenCheck::Unknown
            }
        }
    }

    /// How long the caller's token stays valid, by the service's clock (zero once expired);
    /// `None` for a token without expiry.
    pub fn token_lifetime_left(&self) -> Option<std::time::Duration> {
        let expires_at = self.token_expires_at?;
        let left = expires_at - self.service.ports().clock.now();
        Some(left.to_std().unwrap_or_default())
    }

    /// Subscribes to the identity's updates. Frontends call it before answering the handshake
    /// (so that a refusal is still an HTTP answer) and hand the result to
    /// [`run_socket`](crate::socket::run_socket).
    pub async fn subscribe(&self) -> Result<SocketSubscription, Error> {
        // Subscribed first, then the position read: whatever commits after the read is
        // published after its commit, so after the subscription, and arrives live; nothing
        // falls between the two, and a live-only socket has nothing to read from the log.
        let updates = self.service.ports().bus.subscribe(self.identity_id).await?;
        let live_from = self
            .service
            .ports()
            .log
            .latest_position(self.identity_id)
            .await?;
        self.unread.subscribed();
        Ok(SocketSubscription { updates, live_from })
    }

    /// What a socket sends before its live updates: every kept update after position
    /// `after`, in order; or, when those are no longer all kept (pruned) or `after` is beyond
    /// the latest position (the log was reset), one `resync_required` frame
    /// `{"since", "oldest", "latest"}` telling the client to refetch, after which it is live
    /// from the latest position. Start it after subscribing, so that the replay and the live
    /// updates overlap (duplicates are dropped) rather than leave a gap.
    pub async fn replay(&self, after: u64) -> Result<Replay, Error> {
        self.replay_between(after, None).await
    }

    /// The replay of the positions after `after` up to `up_to` (the latest if `None`): also
    /// what fills a gap in live delivery.
    pub(crate) async fn replay_between(
        &self,
        after: u64,
        up_to: Option<u64>,
    ) -> Result<Replay, Error> {
        let positions = self
            .service
            .ports()
            .log
            .log_positions(self.identity_id)
            .await?;
        let resync = after > positions.latest || positions.oldest > after + 1;
        Ok(Replay {
            session: self.clone(),
            reached: if resync { positions.latest } else { after },
            up_to: up_to.unwrap_or(positions.latest),
            next: if resync {
                NextPage::Resync(resync_frame(after, positions.oldest, positions.latest))
            } else {
                NextPage::Read
            },
        })
    }

    /// Notes a frame the socket received to send: an event of a box may have grown the
    /// identity's unread count there (see `SocketUnread`).
    pub(crate) fn note_frame(&self, frame: &Frame) {
        self.unread.frame_in(|| frame.event_box_id());
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
        if self.unread.begin_read() {
            let boxes = self.service.listed_unread_boxes(self.identity_id).await;
            if let Err(error) = &boxes {
                tracing::warn!(identity = %self.identity_id, %error, "cannot read the boxes with unread events; the acks write");
            }
            self.unread.read(boxes.ok());
        }
        // Nothing to write for a count the socket knows at zero; otherwise written with the
        // other acks' resets, and the echo waits until it is durable.
        match self.unread.reset_needed(ack.box_id) {
            ResetNeeded::No => crate::metrics::ack("not_needed"),
            ResetNeeded::Yes(mark) => {
                if let Err(error) = self
                    .service
                    .reset_unread_count(self.identity_id, ack.box_id)
                    .await
                {
                    crate::metrics::ack("failed");
                    return InboundOutcome::Failed(error.into());
                }
                self.unread.reset_written(ack.box_id, mark);
                crate::metrics::ack("written");
            }
        }
        let echo = AddressedUpdate {
            recipient: self.identity_id,
            update: RealtimeUpdate {
                kind: UpdateType::Ack,
                object: serde_json::json!({"sender_id": ack.sender_id, "box_id": ack.box_id})
                    .into(),
            },
        };
        self.service.publish_ephemeral(&[echo]).await;
        InboundOutcome::Acked { box_id: ack.box_id }
    }
}
