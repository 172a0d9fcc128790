//! The socket driver over channels: no network, and tokio's paused clock for the timers.

use std::time::Duration;

use chrono::TimeDelta;
use futures::channel::mpsc;
use futures::{SinkExt as _, StreamExt as _};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use misakey_box::SocketSubscription;
use misakey_box::bus::InProcessBus;
use misakey_box::domain::Frame;
use misakey_box::ports::{Clock as _, Retention, UpdateLog as _};
use misakey_box::ports::{NotificationBus as _, Subscription, SubscriptionError};
use misakey_box::socket::{
    AcceptedSocket, ClientFrame, CloseReason, ServerFrame, SocketEnd, SocketSettings, run_socket,
};
use misakey_box_testkit::TestBed;
use misakey_box_testkit::builders::ALICE_ID;
use serde_json::json;
use tokio::sync::oneshot;

const SETTINGS: SocketSettings = SocketSettings {
    ping_interval: Duration::from_secs(45),
    idle_timeout: Duration::from_secs(120),
    max_inbound_frame_bytes: 8 * 1024,
    send_timeout: Duration::from_secs(10),
    token_recheck: None,
};

/// A socket under test: what the client sends, what it receives, and how it ended.
struct Harness {
    client: mpsc::Sender<ClientFrame>,
    server: mpsc::Receiver<ServerFrame>,
    shutdown: Option<oneshot::Sender<()>>,
    end: tokio::task::JoinHandle<SocketEnd>,
}

async fn start(bed: &TestBed, subscription: Subscription, outgoing_capacity: usize) -> Harness {
    start_resuming(bed, subscription, outgoing_capacity, 0, None).await
}

/// A socket whose live delivery starts after `live_from`, resuming after `since` if given.
async fn start_resuming(
    bed: &TestBed,
    subscription: Subscription,
    outgoing_capacity: usize,
    live_from: u64,
    since: Option<u64>,
) -> Harness {
    let caller = bed.alice_caller().await;
    start_as(
        bed,
        &caller,
        subscription,
        outgoing_capacity,
        live_from,
        since,
    )
}

/// [`start_resuming`] for `caller` (a token of its own).
fn start_as(
    bed: &TestBed,
    caller: &misakey_box::Caller,
    subscription: Subscription,
    outgoing_capacity: usize,
    live_from: u64,
    since: Option<u64>,
) -> Harness {
    start_with(
        bed.service.socket_session(caller),
        SETTINGS,
        subscription,
        outgoing_capacity,
        live_from,
        since,
    )
}

fn start_with(
    session: misakey_box::SocketSession,
    settings: SocketSettings,
    subscription: Subscription,
    outgoing_capacity: usize,
    live_from: u64,
    since: Option<u64>,
) -> Harness {
    let (client, incoming) = mpsc::channel(16);
    let (outgoing, server) = mpsc::channel(outgoing_capacity);
    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let subscription = SocketSubscription {
        updates: subscription,
        live_from,
    };
    let socket = AcceptedSocket {
        session,
        subscription,
        since,
        settings,
    };
    let end = tokio::spawn(run_socket(socket, incoming, outgoing, async {
        let _ = shutdown_signal.await;
    }));
    Harness {
        client,
        server,
        shutdown: Some(shutdown),
        end,
    }
}

async fn start_subscribed(bed: &TestBed) -> Harness {
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    start(bed, subscription, 16).await
}

#[tokio::test(start_paused = true)]
async fn updates_are_sent_as_text_and_acks_are_handled() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    let update = Frame::from_text(r#"{"type":"notification","object":{}}"#);
    bed.service
        .ports()
        .bus
        .publish(ALICE_ID, &update)
        .await
        .unwrap();
    assert_eq!(socket.server.next().await, Some(ServerFrame::Text(update)));

    let box_id = uuid::Uuid::from_u128(7);
    let ack = json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": box_id}});
    socket
        .client
        .send(ClientFrame::Text(ack.to_string()))
        .await
        .unwrap();
    match socket.server.next().await {
        Some(ServerFrame::Text(frame)) => assert_eq!(frame.to_json(), ack),
        other => panic!("expected the ack echo, got {other:?}"),
    }

    socket.client.send(ClientFrame::Close).await.unwrap();
    assert_eq!(socket.end.await.unwrap(), SocketEnd::ClientClosed);
}

#[tokio::test(start_paused = true)]
async fn a_socket_closes_with_4001_when_its_token_expires() {
    let bed = TestBed::new();
    let mut caller = bed.alice_caller().await;
    caller.token_expires_at = Some(bed.service.ports().clock.now() + TimeDelta::seconds(30));
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_as(&bed, &caller, subscription, 16, 0, None);
    let started = tokio::time::Instant::now();
    // Alive and delivering until then, however active the client.
    socket.client.send(ClientFrame::Pong).await.unwrap();
    let update = Frame::from_text(r#"{"type":"notification","object":{}}"#);
    bed.service
        .ports()
        .bus
        .publish(ALICE_ID, &update)
        .await
        .unwrap();
    assert_eq!(socket.server.next().await, Some(ServerFrame::Text(update)));
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::TokenExpired))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(
        (
            CloseReason::TokenExpired.code(),
            CloseReason::TokenExpired.reason()
        ),
        (4001, "token expired")
    );
    socket.client.send(ClientFrame::Close).await.unwrap();
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::TokenExpired)
    );
}

#[tokio::test(start_paused = true)]
async fn a_socket_whose_token_is_revoked_closes_with_4001_at_the_next_recheck() {
    let bed = TestBed::new();
    let caller = bed.alice_caller().await;
    let session = bed
        .service
        .socket_session(&caller)
        .rechecking(misakey_box_testkit::ALICE_TOKEN);
    let settings = SocketSettings {
        token_recheck: Some(Duration::from_secs(10)),
        ..SETTINGS
    };
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_with(session, settings, subscription, 16, 0, None);
    let started = tokio::time::Instant::now();
    // The first re-check finds the token active: the socket goes on.
    tokio::time::sleep(Duration::from_secs(15)).await;
    bed.tokens.revoke(misakey_box_testkit::ALICE_TOKEN);
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::TokenRevoked))
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(20),
        "at the second re-check"
    );
    assert_eq!(
        (
            CloseReason::TokenRevoked.code(),
            CloseReason::TokenRevoked.reason()
        ),
        (4001, "token revoked")
    );
    socket.client.send(ClientFrame::Close).await.unwrap();
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::TokenRevoked)
    );
}

#[tokio::test(start_paused = true)]
async fn without_rechecking_a_revoked_token_keeps_its_socket_until_expiry() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    bed.tokens.revoke(misakey_box_testkit::ALICE_TOKEN);
    // Nothing but pings until the idle timeout: no re-check was configured.
    assert_eq!(socket.server.next().await, Some(ServerFrame::Ping));
    assert_eq!(socket.server.next().await, Some(ServerFrame::Ping));
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::Idle))
    );
}

#[tokio::test(start_paused = true)]
async fn pings_keep_coming_and_a_silent_client_is_closed_after_the_idle_timeout() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    let started = tokio::time::Instant::now();
    assert_eq!(socket.server.next().await, Some(ServerFrame::Ping));
    assert_eq!(started.elapsed(), Duration::from_secs(45));
    assert_eq!(socket.server.next().await, Some(ServerFrame::Ping));
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::Idle))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(120));
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::Idle)
    );
}

#[tokio::test(start_paused = true)]
async fn any_client_frame_postpones_the_idle_close() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(100)).await;
    socket.client.send(ClientFrame::Pong).await.unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = socket.server.next().await {
        let closing = matches!(frame, ServerFrame::Close(_));
        frames.push(frame);
        if closing {
            break;
        }
    }
    // Pings at 45, 90, 135 and 180 s; the pong at 100 s moved the idle close from 120 to 220 s.
    let ping = ServerFrame::Ping;
    assert_eq!(
        frames,
        vec![
            ping.clone(),
            ping.clone(),
            ping.clone(),
            ping,
            ServerFrame::Close(CloseReason::Idle)
        ]
    );
    assert_eq!(started.elapsed(), Duration::from_secs(220));
}

#[tokio::test(start_paused = true)]
async fn oversized_frames_close_with_1009() {
    for frame in [
        ClientFrame::Text("x".repeat(8 * 1024 + 1)),
        ClientFrame::Binary(8 * 1024 + 1),
        ClientFrame::TooLarge,
    ] {
        let bed = TestBed::new();
        let mut socket = start_subscribed(&bed).await;
        socket.client.send(frame.clone()).await.unwrap();
        assert_eq!(
            socket.server.next().await,
            Some(ServerFrame::Close(CloseReason::TooLarge)),
            "{frame:?}"
        );
        assert_eq!(CloseReason::TooLarge.code(), 1009);
        assert_eq!(
            socket.end.await.unwrap(),
            SocketEnd::Closed(CloseReason::TooLarge)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_frame_at_the_limit_is_accepted() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    socket
        .client
        .send(ClientFrame::Text(" ".repeat(8 * 1024)))
        .await
        .unwrap();
    socket
        .client
        .send(ClientFrame::Binary(8 * 1024))
        .await
        .unwrap();
    socket.client.send(ClientFrame::Close).await.unwrap();
    assert_eq!(socket.end.await.unwrap(), SocketEnd::ClientClosed);
    assert_eq!(socket.server.next().await, None, "nothing sent");
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_with_1001() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    socket.shutdown.take().unwrap().send(()).unwrap();
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::GoingAway))
    );
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::GoingAway)
    );
}

#[tokio::test(start_paused = true)]
async fn a_broken_subscription_closes_with_1011() {
    let bed = TestBed::new();
    let broken: Subscription =
        futures::stream::iter([Err(SubscriptionError::Broken("connection reset".into()))]).boxed();
    let mut socket = start(&bed, broken, 16).await;
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::BusFailure))
    );
    assert_eq!(CloseReason::BusFailure.code(), 1011);
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::BusFailure)
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_falls_behind_is_closed_with_1013() {
    let bed = TestBed::new();
    let bus = InProcessBus::with_queue_capacity(2);
    let subscription = bus.subscribe(ALICE_ID).await.unwrap();
    // The client reads nothing and its outgoing buffer holds one frame: the bus queue fills.
    let mut socket = start(&bed, subscription, 0).await;
    for n in 0..10 {
        bus.publish(ALICE_ID, &Frame::from_text(format!("{{\"n\":{n}}}")))
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    // Reading now: what was queued, then the close.
    let mut frames = Vec::new();
    while let Some(frame) = socket.server.next().await {
        frames.push(frame);
    }
    assert_eq!(
        frames.last(),
        Some(&ServerFrame::Close(CloseReason::TooSlow)),
        "{frames:?}"
    );
    assert_eq!(CloseReason::TooSlow.code(), 1013);
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::TooSlow)
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let bed = TestBed::new();
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let socket = start(&bed, subscription, 0).await;
    for n in 0..3 {
        bed.service
            .ports()
            .bus
            .publish(ALICE_ID, &Frame::from_text(format!("{{\"n\":{n}}}")))
            .await
            .unwrap();
    }
    let started = tokio::time::Instant::now();
    assert_eq!(socket.end.await.unwrap(), SocketEnd::SendFailed);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    drop(socket.server);
}

#[tokio::test(start_paused = true)]
async fn after_its_close_the_server_waits_for_the_clients_close_then_ends() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    socket
        .client
        .send(ClientFrame::Text("x".repeat(9000)))
        .await
        .unwrap();
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::TooLarge))
    );
    let closed_at = tokio::time::Instant::now();
    // A pong still in flight is read and ignored; the client's close ends the handshake.
    socket.client.send(ClientFrame::Pong).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    socket.client.send(ClientFrame::Close).await.unwrap();
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::TooLarge)
    );
    assert_eq!(
        closed_at.elapsed(),
        Duration::from_secs(2),
        "ended on the client's close, not the timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_answers_the_close_is_dropped_after_the_send_timeout() {
    let bed = TestBed::new();
    let mut socket = start_subscribed(&bed).await;
    socket.shutdown.take().unwrap().send(()).unwrap();
    assert_eq!(
        socket.server.next().await,
        Some(ServerFrame::Close(CloseReason::GoingAway))
    );
    let closed_at = tokio::time::Instant::now();
    assert_eq!(
        socket.end.await.unwrap(),
        SocketEnd::Closed(CloseReason::GoingAway)
    );
    assert_eq!(closed_at.elapsed(), SETTINGS.send_timeout);
}

/// Alice contacts Bob `times` times: Alice's log gets positions 1..=2*times.
async fn alice_contacts_bob(bed: &TestBed, times: usize) {
    let alice = bed.alice_caller().await;
    for _ in 0..times {
        bed.service
            .contact(&alice, &bed.request_to_bob().build())
            .await
            .unwrap();
    }
}

async fn texts_until_quiet(socket: &mut Harness) -> Vec<serde_json::Value> {
    let mut frames = Vec::new();
    while let Ok(Some(frame)) =
        tokio::time::timeout(Duration::from_secs(1), socket.server.next()).await
    {
        match frame {
            ServerFrame::Text(frame) => frames.push(frame.to_json()),
            other => panic!("expected updates, got {other:?}"),
        }
    }
    frames
}

fn seqs(frames: &[serde_json::Value]) -> Vec<u64> {
    frames.iter().map(|f| f["seq"].as_u64().unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn resuming_replays_what_was_missed_then_continues_live_without_duplicates() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 3).await;
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_resuming(&bed, subscription, 64, 6, Some(2)).await;
    let replayed = texts_until_quiet(&mut socket).await;
    assert_eq!(seqs(&replayed), vec![3, 4, 5, 6]);
    assert_eq!(
        replayed,
        bed.bus.updates_for(ALICE_ID)[2..].to_vec(),
        "the replay is what was published"
    );
    alice_contacts_bob(&bed, 1).await;
    assert_eq!(seqs(&texts_until_quiet(&mut socket).await), vec![7, 8]);
}

/// A socket resuming after Alice's position 4 on a bus of its own (the test decides what
/// arrives live, and when), then Alice's positions 5..=8 committed to the log: the socket, and
/// the logged frames 5..=8.
async fn socket_with_positions_5_to_8_logged(
    bed: &TestBed,
    bus: &InProcessBus,
) -> (Harness, Vec<Frame>) {
    alice_contacts_bob(bed, 2).await; // Alice: 1..=4
    let subscription = bus.subscribe(ALICE_ID).await.unwrap();
    let socket = start_resuming(bed, subscription, 64, 4, None).await;
    tokio::time::sleep(Duration::from_millis(10)).await; // the socket has started: nothing to catch up
    alice_contacts_bob(bed, 2).await; // Alice: 5..=8, committed
    (socket, logged_after(bed, 4).await)
}

/// Alice's logged frames after position `after`, as a replay reads them.
async fn logged_after(bed: &TestBed, after: u64) -> Vec<Frame> {
    bed.service
        .socket_session(&bed.alice_caller().await)
        .replay(after)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap()
        .0
}

/// The live frame published for position `seq`, marked so that it can be told from the
/// logged one.
fn live_frame(seq: u64) -> Frame {
    Frame::from_text(format!(
        r#"{{"seq":{seq},"type":"notification","object":{{"live":true}}}}"#
    ))
}

#[tokio::test(start_paused = true)]
async fn frames_arriving_out_of_order_are_sent_in_order_without_reading_the_log() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let bed = TestBed::new();
    let bus = InProcessBus::new();
    let (mut socket, _logged) = socket_with_positions_5_to_8_logged(&bed, &bus).await;
    // Live delivery brings 7, then 6, then 5 a moment later, then 6 again (a relay).
    for seq in [7, 6] {
        bus.publish(ALICE_ID, &live_frame(seq)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    for seq in [5, 6] {
        bus.publish(ALICE_ID, &live_frame(seq)).await.unwrap();
    }
    assert_eq!(
        texts_until_quiet(&mut socket).await,
        [5, 6, 7].map(|seq| live_frame(seq).to_json()).to_vec(),
        "7 and 6 waited for 5; none came from the log; the second 6 was dropped"
    );
    assert_eq!(gap_fills(&snapshotter), vec![], "no gap fill counted");
}

/// The gap fills counted while the test runs on this thread (the driver's task included: a
/// `tokio::test` runtime runs its tasks on the test's thread).
fn gap_fills(snapshotter: &Snapshotter) -> Vec<(String, DebugValue)> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "misakey_box_socket_gap_fills_total")
        .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_gap_that_outlasts_the_wait_is_filled_from_the_log() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let bed = TestBed::new();
    let bus = InProcessBus::new();
    let (mut socket, logged) = socket_with_positions_5_to_8_logged(&bed, &bus).await;
    // Live delivery brings 7; 5 and 6 never come (their publish failed); 8 not at all.
    let published_at = tokio::time::Instant::now();
    bus.publish(ALICE_ID, &live_frame(7)).await.unwrap();
    let first = socket.server.next().await;
    assert_eq!(
        published_at.elapsed(),
        Duration::from_millis(100),
        "7 waited 100 ms for 5 and 6"
    );
    let mut sent = vec![match first {
        Some(ServerFrame::Text(frame)) => frame.to_json(),
        other => panic!("expected an update, got {other:?}"),
    }];
    sent.extend(texts_until_quiet(&mut socket).await);
    let mut expected: Vec<_> = logged[..2].iter().map(Frame::to_json).collect();
    expected.push(live_frame(7).to_json());
    assert_eq!(sent, expected, "5 and 6 from the log, then the live 7");
    assert_eq!(
        gap_fills(&snapshotter),
        vec![(
            "misakey_box_socket_gap_fills_total".to_owned(),
            DebugValue::Counter(1)
        )],
        "one gap read from the log, and counted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_socket_holding_too_many_early_frames_fills_the_gap_at_once() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 2).await; // Alice: 1..=4
    let bus = InProcessBus::with_queue_capacity(2048);
    let subscription = bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_resuming(&bed, subscription, 2048, 4, None).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    alice_contacts_bob(&bed, 513).await; // Alice: 5..=1030, committed
    let logged_5 = logged_after(&bed, 4).await[0].to_json();
    // 5 never comes live; 6..=1029 do: 1,024 frames held, the most a socket holds.
    let published_at = tokio::time::Instant::now();
    for seq in 6..=1029 {
        bus.publish(ALICE_ID, &live_frame(seq)).await.unwrap();
    }
    let first = match socket.server.next().await {
        Some(ServerFrame::Text(frame)) => frame.to_json(),
        other => panic!("expected an update, got {other:?}"),
    };
    assert!(
        published_at.elapsed() < Duration::from_millis(100),
        "the gap was filled without waiting, after {:?}",
        published_at.elapsed()
    );
    let mut sent = vec![first];
    sent.extend(texts_until_quiet(&mut socket).await);
    let mut expected = vec![logged_5];
    expected.extend((6..=1029).map(|seq| live_frame(seq).to_json()));
    assert_eq!(
        sent, expected,
        "5 from the log, then the 1,024 held frames in order"
    );
}

#[tokio::test(start_paused = true)]
async fn a_position_beyond_the_log_or_pruned_asks_for_a_resync() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 2).await;
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_resuming(&bed, subscription, 64, 4, Some(10)).await;
    let resync =
        json!({"type": "resync_required", "object": {"since": 10, "oldest": 1, "latest": 4}});
    assert_eq!(texts_until_quiet(&mut socket).await, vec![resync]);

    let retention = misakey_box::ports::Retention {
        max_per_identity: 1,
        max_age: chrono::TimeDelta::days(1),
    };
    bed.service.prune_updates(retention).await.unwrap();
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_resuming(&bed, subscription, 64, 4, Some(1)).await;
    let resync =
        json!({"type": "resync_required", "object": {"since": 1, "oldest": 4, "latest": 4}});
    assert_eq!(texts_until_quiet(&mut socket).await, vec![resync]);
    // Then live, from the latest position.
    alice_contacts_bob(&bed, 1).await;
    assert_eq!(seqs(&texts_until_quiet(&mut socket).await), vec![5, 6]);
}

#[tokio::test(start_paused = true)]
async fn a_replay_longer_than_a_page_is_sent_whole_and_in_order() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 1200).await; // Alice: 1..=2400, three pages
    let subscription = bed.service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let mut socket = start_resuming(&bed, subscription, 4096, 2400, Some(0)).await;
    let replayed = texts_until_quiet(&mut socket).await;
    assert_eq!(replayed, bed.bus.updates_for(ALICE_ID));
    assert_eq!(seqs(&replayed), (1..=2400).collect::<Vec<u64>>());
}

#[tokio::test]
async fn entries_pruned_between_two_pages_turn_the_replay_into_a_resync() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 1200).await; // Alice: 1..=2400
    let session = bed.service.socket_session(&bed.alice_caller().await);
    let mut replay = session.replay(0).await.unwrap();
    let first = replay.next_page().await.unwrap().expect("a first page");
    assert_eq!(
        (first.len(), replay.reached()),
        (1000, 1000),
        "a page is a thousand entries"
    );
    assert_eq!(first[0].to_json(), bed.bus.updates_for(ALICE_ID)[0]);
    bed.store
        .prune_updates(
            Retention {
                max_per_identity: 500,
                max_age: TimeDelta::days(1),
            },
            bed.clock.now(),
        )
        .await
        .unwrap();
    let resync = replay.next_page().await.unwrap().expect("a resync");
    assert_eq!(
        (
            resync.iter().map(Frame::to_json).collect::<Vec<_>>(),
            replay.reached()
        ),
        (
            vec![
                json!({"type": "resync_required", "object": {"since": 1000, "oldest": 1901, "latest": 2400}})
            ],
            2400
        )
    );
    assert_eq!(replay.next_page().await.unwrap(), None);
}

/// The test bed's log, committing one more contact of Alice's right after its first read of
/// positions (what commits between a handshake's read and the socket's start), and counting
/// the reads of positions and entries.
#[derive(Debug)]
struct CommitAfterFirstRead {
    bed: std::sync::Arc<TestBed>,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl misakey_box::ports::UpdateLog for CommitAfterFirstRead {
    async fn updates_after(
        &self,
        identity_id: uuid::Uuid,
        after: u64,
        limit: usize,
    ) -> Result<Vec<misakey_box::domain::SequencedUpdate>, misakey_box::error::StoreError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.bed
            .store
            .updates_after(identity_id, after, limit)
            .await
    }

    async fn log_positions(
        &self,
        identity_id: uuid::Uuid,
    ) -> Result<misakey_box::ports::LogPositions, misakey_box::error::StoreError> {
        let positions = self.bed.store.log_positions(identity_id).await;
        if self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            alice_contacts_bob(&self.bed, 1).await;
        }
        positions
    }

    async fn updates_created_between(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        cursor: Option<misakey_box::ports::LogCursor>,
        limit: usize,
    ) -> Result<Vec<misakey_box::ports::LoggedUpdate>, misakey_box::error::StoreError> {
        self.bed
            .store
            .updates_created_between(from, until, cursor, limit)
            .await
    }

    async fn prune_updates(
        &self,
        retention: Retention,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, misakey_box::error::StoreError> {
        self.bed.store.prune_updates(retention, now).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_live_only_socket_gets_what_commits_right_after_its_handshake_and_reads_no_log() {
    let bed = std::sync::Arc::new(TestBed::new());
    alice_contacts_bob(&bed, 1).await; // Alice: 1, 2
    let mut ports = bed.service.ports().clone();
    let log = std::sync::Arc::new(CommitAfterFirstRead {
        bed: std::sync::Arc::clone(&bed),
        reads: std::sync::atomic::AtomicUsize::new(0),
    });
    ports.log = log.clone();
    let service = misakey_box::BoxService::without_maintenance(ports, bed.service.config().clone());
    let session = service.socket_session(&bed.alice_caller().await);
    // The handshake: reads 2, then Alice's 3 and 4 commit and are published.
    let subscription = session.subscribe().await.unwrap();
    assert_eq!(subscription.live_from, 2);
    let mut socket = start_with(
        session,
        SETTINGS,
        subscription.updates,
        64,
        subscription.live_from,
        None,
    );
    let logged: Vec<serde_json::Value> = logged_after(&bed, 2)
        .await
        .iter()
        .map(Frame::to_json)
        .collect();
    assert_eq!(seqs(&logged), vec![3, 4]);
    assert_eq!(texts_until_quiet(&mut socket).await, logged);
    assert_eq!(
        log.reads.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the handshake's read of positions: a live-only socket replays nothing"
    );
}

/// What a socket's connection saw: frames handed to it, and flushes (each a write).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Written {
    Frames(Vec<serde_json::Value>),
    Flush,
}

/// A connection that records what it is given and when it is flushed.
#[derive(Clone, Default)]
struct RecordingConnection(std::sync::Arc<std::sync::Mutex<Vec<Written>>>);

impl RecordingConnection {
    fn written(&self) -> Vec<Written> {
        self.0.lock().unwrap().clone()
    }
}

impl futures::Sink<ServerFrame> for RecordingConnection {
    type Error = std::convert::Infallible;

    fn poll_ready(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_send(self: std::pin::Pin<&mut Self>, frame: ServerFrame) -> Result<(), Self::Error> {
        let ServerFrame::Text(frame) = frame else {
            return Ok(());
        };
        let mut written = self.0.lock().unwrap();
        match written.last_mut() {
            Some(Written::Frames(frames)) => frames.push(frame.to_json()),
            _ => written.push(Written::Frames(vec![frame.to_json()])),
        }
        Ok(())
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        let mut written = self.0.lock().unwrap();
        if matches!(written.last(), Some(Written::Frames(_))) {
            written.push(Written::Flush);
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn a_replay_page_goes_out_with_one_write_and_live_frames_with_one_each() {
    let bed = TestBed::new();
    alice_contacts_bob(&bed, 3).await; // Alice: 1..=6
    let logged = logged_after(&bed, 0).await;
    let bus = InProcessBus::new();
    let connection = RecordingConnection::default();
    let (_client, incoming) = mpsc::channel::<ClientFrame>(1);
    let socket = AcceptedSocket {
        session: bed.service.socket_session(&bed.alice_caller().await),
        subscription: SocketSubscription {
            updates: bus.subscribe(ALICE_ID).await.unwrap(),
            live_from: 6,
        },
        since: Some(0),
        settings: SETTINGS,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let end = tokio::spawn(run_socket(socket, incoming, connection.clone(), async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(10)).await; // replayed
    for seq in [7, 8] {
        bus.publish(ALICE_ID, &live_frame(seq)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let json = |frames: &[Frame]| frames.iter().map(Frame::to_json).collect::<Vec<_>>();
    assert_eq!(
        connection.written(),
        vec![
            Written::Frames(json(&logged)),
            Written::Flush,
            Written::Frames(json(&[live_frame(7)])),
            Written::Flush,
            Written::Frames(json(&[live_frame(8)])),
            Written::Flush,
        ],
        "the six replayed frames in one write, then each live frame in its own"
    );
    stop.send(()).unwrap();
    assert_eq!(
        end.await.unwrap(),
        SocketEnd::Closed(CloseReason::GoingAway)
    );
}
