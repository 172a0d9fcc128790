use std::future::Future;
use std::pin::Pin;

use futures::future::{BoxFuture, Fuse, FusedFuture as _};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::time::{Instant, sleep_until, timeout};

use super::in_order::{Arrival, GAP_WAIT, InOrder};
use super::polled_when_woken::PolledWhenWoken;
use super::timers::{Deadlines, Due};
use super::{ClientFrame, CloseReason, ServerFrame, SocketEnd, SocketSettings};
use crate::domain::Frame;
use crate::ports::SubscriptionError;
use crate::{InboundOutcome, Replay, SocketSession, SocketSubscription, TokenCheck};

/// Frames from the client handled at once per socket; past it, the socket stops reading until
/// one is done (a client flooding acks is slowed, not buffered).
const MAX_INBOUND_IN_FLIGHT: usize = 64;

/// A socket whose handshake was accepted: whose it is, what it is subscribed to (before the
/// 101, so that nothing published after it is missed), where it resumes, and its limits.
#[derive(Debug)]
pub struct AcceptedSocket {
    /// The identity's session.
    pub session: SocketSession,
    /// Its subscription to the identity's updates.
    pub subscription: SocketSubscription,
    /// The position the client resumes after (`?since=N`); `None` for a live-only socket.
    pub since: Option<u64>,
    /// Timers and limits.
    pub settings: SocketSettings,
}

/// Runs one socket until it ends: replays what the client missed (`since`, see
/// [`SocketSession::replay`]), sends the identity's updates each exactly once and in position
/// order (duplicates dropped, gaps filled from the log), handles what the client sends
/// (`incoming`), pings, and closes on idle, oversized frames, slow reading, bus failure, the
/// expiry or revocation of the caller's token (re-checked every
/// [`SocketSettings::token_recheck`]) or `shutdown`. What the server sends goes to `outgoing`.
// Not `async fn`s: an async body keeps the space of every argument it moves on (the
// accepted socket, the shutdown future: about 400 bytes per layer) for as long as the socket
// is open. Here the arguments are taken apart before the socket's future is made, and the
// shutdown future, which the loop must pin, is pinned on the heap once.
pub fn run_socket<I, O>(
    socket: AcceptedSocket,
    incoming: I,
    outgoing: O,
    shutdown: impl Future<Output = ()>,
) -> impl Future<Output = SocketEnd>
where
    I: Stream<Item = ClientFrame> + Unpin,
    O: Sink<ServerFrame> + Unpin,
{
    let AcceptedSocket {
        session,
        subscription,
        since,
        settings,
    } = socket;
    let shutdown = Box::pin(shutdown);
    futures::future::lazy(|_| crate::metrics::socket_opened())
        .then(move |()| {
            drive(
                session,
                subscription,
                since,
                settings,
                incoming,
                outgoing,
                shutdown,
            )
        })
        .map(|end| {
            crate::metrics::socket_closed(end);
            end
        })
}

// The accepted socket's parts one by one: a struct argument would be moved out of, and kept.
#[allow(clippy::too_many_arguments)]
async fn drive<I, O, S>(
    session: SocketSession,
    subscription: SocketSubscription,
    since: Option<u64>,
    settings: SocketSettings,
    incoming: I,
    mut outgoing: O,
    shutdown: Pin<Box<S>>,
) -> SocketEnd
where
    I: Stream<Item = ClientFrame> + Unpin,
    O: Sink<ServerFrame> + Unpin,
    S: Future<Output = ()>,
{
    // Each pass of the loop below polls every branch: the client's side, the shutdown signal
    // and the timer only when they woke the task.
    let mut incoming = PolledWhenWoken::new(incoming);
    let mut shutdown = PolledWhenWoken::new(shutdown);
    let start = Instant::now();
    let mut last_heard = start;
    // Re-checks of the token, when configured: one at a time, off the loop's path so that a
    // slow token port never stops the socket from reading or sending.
    let mut recheck: Fuse<BoxFuture<'_, TokenCheck>> = Fuse::terminated();
    // What the client sent, handled beside the loop (an ack waits for its reset to be
    // durable before its echo): the socket goes on reading meanwhile, up to a bound.
    // Made at the first frame: an idle socket holds none.
    let mut inbound: Option<FuturesUnordered<BoxFuture<'_, InboundOutcome>>> = None;
    let session_ref = &session;

    let SocketSubscription {
        updates: mut subscription,
        live_from,
    } = subscription;
    // Live delivery goes on after `live_from` (live-only) or after the replay's last position.
    let mut order = InOrder::after(0);
    // Armed while frames that came early wait for the positions before them.
    let gap_timer = sleep_until(start);
    let mut gap_armed = false;
    tokio::pin!(gap_timer);
    // The replay and the gap fills run boxed: a future is as large as its largest state, and
    // theirs (a page in flight beside the next page's read, the sink's send) made every idle
    // socket carry them (measured: 7.0 KiB per idle socket unboxed, 4.8 KiB boxed). A
    // live-only socket starts at the position read once it was subscribed: nothing to replay.
    let resumed = match since {
        None => {
            order = InOrder::after(live_from);
            Ok(())
        }
        Some(since) => match session.replay(since).await {
            Ok(replay) => Box::pin(send_replay(&session, replay, &mut outgoing, &settings))
                .await
                .map(|resumed_to| order = InOrder::after(resumed_to)),
            Err(error) => {
                tracing::warn!(identity = %session.identity_id(), %error, "cannot read the update log");
                Err(SocketEnd::Closed(CloseReason::LogUnavailable))
            }
        },
    };

    // Pings, the idle close, the token's expiry and its re-checks share one timer. A socket
    // lives no longer than its token; the time left is read after the replay, so that a slow
    // replay does not shorten it. The timer is moved only when it fires or a re-check ends:
    // moving it on every frame heard would touch the timer wheel thousands of times a second.
    let mut deadlines = Deadlines::new(start, &settings, session.token_lifetime_left());
    let mut timer = PolledWhenWoken::new(Box::pin(sleep_until(deadlines.next(last_heard, true))));

    let end = if let Err(end) = resumed {
        end
    } else {
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break SocketEnd::Closed(CloseReason::GoingAway),
                () = &mut timer => {
                    let may_recheck = recheck.is_terminated();
                    match deadlines.take_due(Instant::now(), last_heard, may_recheck) {
                        Some(Due::TokenExpired) => break SocketEnd::Closed(CloseReason::TokenExpired),
                        Some(Due::Recheck) => recheck = session.recheck_token().boxed().fuse(),
                        Some(Due::Ping) => {
                            let pinged = send(&mut outgoing, ServerFrame::Ping, &settings).await;
                            if !pinged {
                                return SocketEnd::SendFailed;
                            }
                        }
                        Some(Due::Idle) => break SocketEnd::Closed(CloseReason::Idle),
                        None => {}
                    }
                    timer.get_mut().as_mut().reset(deadlines.next(last_heard, recheck.is_terminated()));
                }
                check = &mut recheck => {
                    if check == TokenCheck::Revoked {
                        break SocketEnd::Closed(CloseReason::TokenRevoked);
                    }
                    // The next re-check may be due already.
                    timer.get_mut().as_mut().reset(deadlines.next(last_heard, true));
                }
                Some(_) = next_handled(&mut inbound), if inbound.as_ref().is_some_and(|i| !i.is_empty()) => {}
                frame = incoming.next(), if inbound.as_ref().map_or(0, FuturesUnordered::len) < MAX_INBOUND_IN_FLIGHT => {
                    crate::metrics::frame_received();
                    last_heard = Instant::now();
                    match frame {
                        None | Some(ClientFrame::Close) => break SocketEnd::ClientClosed,
                        Some(ClientFrame::TooLarge) => break SocketEnd::Closed(CloseReason::TooLarge),
                        Some(ClientFrame::Text(text)) if text.len() > settings.max_inbound_frame_bytes => {
                            break SocketEnd::Closed(CloseReason::TooLarge);
                        }
                        Some(ClientFrame::Binary(len)) if len > settings.max_inbound_frame_bytes => {
                            break SocketEnd::Closed(CloseReason::TooLarge);
                        }
                        Some(ClientFrame::Text(text)) => {
                            let mut handling = async move { session_ref.handle_text(&text).await }.boxed();
                            // Most acks are answered at once (their count known at zero):
                            // those never join the frames in flight.
                            if (&mut handling).now_or_never().is_none() {
                                inbound.get_or_insert_with(FuturesUnordered::new).push(handling);
                            }
                        }
                        Some(ClientFrame::Binary(_)) => {
                            tracing::debug!(identity = %session.identity_id(), "binary frame ignored");
                        }
                        Some(ClientFrame::Ping | ClientFrame::Pong) => {}
                    }
                }
                () = &mut gap_timer, if gap_armed => {
                    gap_armed = false;
                    if let Err(end) = Box::pin(fill_gaps(&session, &mut order, &mut outgoing, &settings)).await {
                        break end;
                    }
                }
                update = subscription.next() => match update {
                    Some(Ok(frame)) => {
                        session.note_frame(&frame);
                        let (frame, released) = match frame.seq() {
                            None => (frame, Vec::new()), // ephemeral: no position to keep in order
                            Some(seq) => match order.arrive(seq, frame) {
                                Arrival::Send(frame, released) => (frame, released),
                                Arrival::Duplicate => continue,
                                Arrival::Held => {
                                    if order.is_full() {
                                        gap_armed = false;
                                        if let Err(end) = Box::pin(fill_gaps(&session, &mut order, &mut outgoing, &settings)).await {
                                            break end;
                                        }
                                    } else if !gap_armed {
                                        gap_timer.as_mut().reset(Instant::now() + GAP_WAIT);
                                        gap_armed = true;
                                    }
                                    continue;
                                }
                            },
                        };
                        if !send(&mut outgoing, ServerFrame::Text(frame), &settings).await {
                            return SocketEnd::SendFailed;
                        }
                        if let Err(end) = send_all(&mut outgoing, released, &settings).await {
                            return end;
                        }
                        if !order.is_waiting() {
                            gap_armed = false;
                        }
                    }
                    Some(Err(SubscriptionError::Lagged)) => break SocketEnd::Closed(CloseReason::TooSlow),
                    Some(Err(error)) => {
                        tracing::warn!(identity = %session.identity_id(), error = %error, "subscription broken");
                        break SocketEnd::Closed(CloseReason::BusFailure);
                    }
                    None => break SocketEnd::Closed(CloseReason::BusFailure),
                },
            }
        }
    };
    // Acks already received still get their echo (to the identity's other sockets too).
    if let Some(mut inbound) = inbound {
        let _ = timeout(settings.send_timeout, async {
            while inbound.next().await.is_some() {}
        })
        .await;
    }
    if let SocketEnd::Closed(reason) = end {
        if !send(&mut outgoing, ServerFrame::Close(reason), &settings).await {
            return SocketEnd::SendFailed;
        }
        // Closing handshake (RFC 6455, 7.1.1): wait for the client's close before dropping the
        // connection, or a client still writing (a pong) gets a reset that destroys the close
        // frame it has not read yet. Bounded by the send timeout.
        let _ = timeout(settings.send_timeout, async {
            while let Some(frame) = incoming.next().await {
                if frame == ClientFrame::Close {
                    break;
                }
            }
        })
        .await;
        let _ = timeout(settings.send_timeout, outgoing.close()).await;
    }
    end
}

/// The next inbound frame handled, if any are in flight.
async fn next_handled<F: Future>(inbound: &mut Option<FuturesUnordered<F>>) -> Option<F::Output> {
    match inbound {
        Some(inbound) => inbound.next().await,
        None => None,
    }
}

/// Fills from the log every gap that frames wait behind, sending each stretch read and then
/// the frames that waited for it.
async fn fill_gaps<O: Sink<ServerFrame> + Unpin>(
    session: &SocketSession,
    order: &mut InOrder,
    outgoing: &mut O,
    settings: &SocketSettings,
) -> Result<(), SocketEnd> {
    while let Some((after, up_to)) = order.gap() {
        crate::metrics::gap_filled();
        let replay = session.replay_between(after, Some(up_to)).await.map_err(|error| {
            tracing::warn!(identity = %session.identity_id(), %error, "cannot read the update log");
            SocketEnd::Closed(CloseReason::LogUnavailable)
        })?;
        let reached = send_replay(session, replay, outgoing, settings).await?;
        send_all(outgoing, order.filled(reached.max(up_to)), settings).await?;
    }
    Ok(())
}

/// Sends a replay a page at a time, reading the next page while one goes out (memory holds
/// two pages, however long the replay), and returns the position it brings the socket to.
async fn send_replay<O: Sink<ServerFrame> + Unpin>(
    session: &SocketSession,
    mut replay: Replay,
    outgoing: &mut O,
    settings: &SocketSettings,
) -> Result<u64, SocketEnd> {
    let unreadable = |error: crate::Error| {
        tracing::warn!(identity = %session.identity_id(), %error, "cannot read the update log");
        SocketEnd::Closed(CloseReason::LogUnavailable)
    };
    let mut page = replay.next_page().await.map_err(unreadable)?;
    while let Some(frames) = page {
        for frame in &frames {
            session.note_frame(frame);
        }
        let (sent, next) = tokio::join!(send_all(outgoing, frames, settings), replay.next_page());
        sent?;
        page = next.map_err(unreadable)?;
    }
    Ok(replay.reached())
}

/// Sends frames in order and flushes once, each frame and the flush given the send timeout;
/// the error is how the socket ends.
async fn send_all<O: Sink<ServerFrame> + Unpin>(
    outgoing: &mut O,
    frames: Vec<Frame>,
    settings: &SocketSettings,
) -> Result<(), SocketEnd> {
    if frames.is_empty() {
        return Ok(());
    }
    for frame in frames {
        let kind = frame.type_name().unwrap_or("other");
        let fed = timeout(
            settings.send_timeout,
            outgoing.feed(ServerFrame::Text(frame)),
        )
        .await;
        if !matches!(fed, Ok(Ok(()))) {
            return Err(SocketEnd::SendFailed);
        }
        crate::metrics::frame_sent(kind);
    }
    match timeout(settings.send_timeout, outgoing.flush()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(SocketEnd::SendFailed),
    }
}

/// Sends one frame, giving up after the send timeout. `false` means the socket is unusable.
async fn send<O: Sink<ServerFrame> + Unpin>(
    outgoing: &mut O,
    frame: ServerFrame,
    settings: &SocketSettings,
) -> bool {
    let kind = match &frame {
        ServerFrame::Text(update) => update.type_name().unwrap_or("other"),
        ServerFrame::Ping => "ping",
        ServerFrame::Close(_) => "close",
    };
    let sent = matches!(
        timeout(settings.send_timeout, outgoing.send(frame)).await,
        Ok(Ok(()))
    );
    if sent {
        crate::metrics::frame_sent(kind);
    }
    sent
}
