//! Acks' unread-count resets: written together off the socket's path, each echo sent only once
//! its reset is durable, failed writes retried and then refused visibly, resets left by a
//! closed socket written all the same, and nothing written for a count the socket knows is
//! zero.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use misakey_box::SocketSubscription;
use misakey_box::domain::{Event, KeyShare, SequencedUpdate};
use misakey_box::error::StoreError;
use misakey_box::ports::{BoxReads, BoxStore, Change, ChangeSet, Member};
use misakey_box::socket::{
    AcceptedSocket, ClientFrame, ServerFrame, SocketEnd, SocketSettings, run_socket,
};
use misakey_box::{BoxService, InboundOutcome};
use misakey_box_testkit::TestBed;
use misakey_box_testkit::builders::ALICE_ID;
use serde_json::json;
use uuid::Uuid;

/// The test bed's store behind a gate that can hold commits, failing the first `failures`,
/// recording the change sets it lets through.
#[derive(Debug)]
struct GatedStore {
    inner: Arc<misakey_box_testkit::InMemoryBoxStore>,
    gate: tokio::sync::RwLock<()>,
    /// Commits begun, held at the gate or not.
    attempts: AtomicUsize,
    failures: AtomicUsize,
    commits: Mutex<Vec<ChangeSet>>,
}

#[async_trait]
impl BoxStore for GatedStore {
    async fn commit(&self, changes: &ChangeSet) -> Result<Vec<SequencedUpdate>, StoreError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let _open = self.gate.read().await;
        let fail = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(StoreError::unavailable("injected failure"));
        }
        self.commits.lock().unwrap().push(changes.clone());
        self.inner.commit(changes).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The test bed's service with its store behind a gate.
fn gated(bed: &TestBed) -> (BoxService, Arc<GatedStore>) {
    let store = Arc::new(GatedStore {
        inner: bed.store.clone(),
        gate: tokio::sync::RwLock::new(()),
        attempts: AtomicUsize::new(0),
        failures: AtomicUsize::new(0),
        commits: Mutex::new(Vec::new()),
    });
    let mut ports = bed.service.ports().clone();
    ports.store = store.clone();
    let service = BoxService::without_maintenance(ports, bed.service.config().clone());
    (service, store)
}

fn ack(box_id: Uuid) -> String {
    json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": box_id}}).to_string()
}

fn echo(box_id: Uuid) -> serde_json::Value {
    json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": box_id}})
}

/// The resets of every change set committed, as (identity, box) pairs, sorted.
fn resets(store: &GatedStore) -> Vec<(Uuid, Uuid)> {
    let mut resets: Vec<(Uuid, Uuid)> = store
        .commits
        .lock()
        .unwrap()
        .iter()
        .flat_map(|set| set.changes.iter())
        .map(|change| match change {
            Change::ResetUnreadCount {
                identity_id,
                box_id,
            } => (*identity_id, *box_id),
            other => panic!("only resets are written here, not {other:?}"),
        })
        .collect();
    resets.sort();
    resets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_waiting_together_are_written_together_once_each_and_echoed_only_after() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let (box_a, box_b) = (Uuid::from_u128(0xa), Uuid::from_u128(0xb));
    bed.unread_event(ALICE_ID, box_a).await;
    bed.unread_event(ALICE_ID, box_b).await;
    let session = Arc::new(service.socket_session(&bed.alice_caller().await));
    let mut socket = service.ports().bus.subscribe(ALICE_ID).await.unwrap();

    let held = store.gate.write().await;
    let acks: Vec<_> = [box_a, box_a, box_b, box_a]
        .into_iter()
        .map(|box_id| {
            let session = session.clone();
            tokio::spawn(async move { session.handle_text(&ack(box_id)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Not durable yet: no ack has finished, no echo went out.
    assert!(acks.iter().all(|ack| !ack.is_finished()));
    assert!(
        socket.next().now_or_never().is_none(),
        "no echo before the write"
    );
    drop(held);
    for ack in acks {
        assert!(matches!(ack.await.unwrap(), InboundOutcome::Acked { .. }));
    }
    // At most two transactions (the first ack's batch may have been taken, and held, before
    // the others arrived), each resetting a count at most once: four acks, at most three
    // resets, both counts covered. Every ack echoed.
    let commits: Vec<Vec<Change>> = store
        .commits
        .lock()
        .unwrap()
        .iter()
        .map(|set| set.changes.clone())
        .collect();
    assert!(commits.len() <= 2, "{commits:?}");
    for changes in &commits {
        let mut keys: Vec<String> = changes.iter().map(|change| format!("{change:?}")).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), changes.len(), "coalesced: {changes:?}");
    }
    let mut written = resets(&store);
    assert!(written.len() <= 3, "{written:?}");
    written.dedup();
    assert_eq!(written, vec![(ALICE_ID, box_a), (ALICE_ID, box_b)]);
    let mut echoes = Vec::new();
    while let Some(Some(Ok(frame))) = socket.next().now_or_never() {
        echoes.push(frame.to_json());
    }
    echoes.sort_by_key(ToString::to_string);
    let mut expected = vec![echo(box_a), echo(box_a), echo(box_a), echo(box_b)];
    expected.sort_by_key(ToString::to_string);
    assert_eq!(echoes, expected);
    assert_eq!(bed.store.unread_count(ALICE_ID, box_a).await.unwrap(), 0);
    assert_eq!(bed.store.unread_count(ALICE_ID, box_b).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_retried_and_after_three_failures_the_ack_fails_without_echo() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let session = service.socket_session(&bed.alice_caller().await);
    let mut socket = service.ports().bus.subscribe(ALICE_ID).await.unwrap();
    let box_id = Uuid::from_u128(0xc);

    store.failures.store(2, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    assert!(matches!(
        session.handle_text(&ack(box_id)).await,
        InboundOutcome::Acked { .. }
    ));
    assert_eq!(started.elapsed(), Duration::from_millis(600), "two pauses");
    assert_eq!(resets(&store), vec![(ALICE_ID, box_id)]);
    assert_eq!(
        socket
            .next()
            .now_or_never()
            .flatten()
            .map(|frame| frame.unwrap().to_json()),
        Some(echo(box_id))
    );

    store.failures.store(3, Ordering::SeqCst);
    match session.handle_text(&ack(box_id)).await {
        InboundOutcome::Failed(error) => {
            assert_eq!(error.code(), misakey_box::ErrorCode::ServiceUnavailable);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(
        resets(&store),
        vec![(ALICE_ID, box_id)],
        "nothing more written"
    );
    assert!(socket.next().now_or_never().is_none(), "no echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_of_an_ack_whose_socket_closed_is_written_all_the_same() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let box_id = Uuid::from_u128(0xd);
    bed.unread_event(ALICE_ID, box_id).await;
    let session = Arc::new(service.socket_session(&bed.alice_caller().await));
    let held = store.gate.write().await;
    let ack = tokio::spawn({
        let session = session.clone();
        async move { session.handle_text(&ack(box_id)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    ack.abort();
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while resets(&store).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the reset was lost");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(resets(&store), vec![(ALICE_ID, box_id)]);
    assert_eq!(bed.store.unread_count(ALICE_ID, box_id).await.unwrap(), 0);
}

/// A socket of Alice's on `service`, run by the core's driver: what the client sends, what the
/// server sends, and the driver.
async fn driven_socket(
    bed: &TestBed,
    service: &BoxService,
) -> (
    futures::channel::mpsc::Sender<ClientFrame>,
    futures::channel::mpsc::Receiver<ServerFrame>,
    tokio::task::JoinHandle<SocketEnd>,
) {
    let session = service.socket_session(&bed.alice_caller().await);
    let subscription = session.subscribe().await.unwrap();
    let (client, incoming) = futures::channel::mpsc::channel(16);
    let (outgoing, server) = futures::channel::mpsc::channel(16);
    let socket = AcceptedSocket {
        session,
        subscription: SocketSubscription {
            updates: subscription.updates,
            live_from: subscription.live_from,
        },
        since: None,
        settings: SocketSettings::default(),
    };
    let driver = tokio::spawn(run_socket(
        socket,
        incoming,
        outgoing,
        std::future::pending(),
    ));
    (client, server, driver)
}

/// The next frame the server sends, as JSON (a frame other than text fails the test).
async fn next_json(
    server: &mut futures::channel::mpsc::Receiver<ServerFrame>,
) -> serde_json::Value {
    match tokio::time::timeout(Duration::from_secs(5), server.next()).await {
        Ok(Some(ServerFrame::Text(frame))) => frame.to_json(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Publishes to Alice an `event.new` of `box_id` at position `seq` (as a box event's commit
/// does after growing her count).
async fn event_reaches_alice(service: &BoxService, box_id: Uuid, seq: u64) -> serde_json::Value {
    // In the server's order: position, type, then the object.
    let text = format!(
        r#"{{"seq":{seq},"type":"event.new","object":{{"box_id":"{box_id}","type":"msg.text"}}}}"#
    );
    let frame = misakey_box::domain::Frame::from_text(text);
    service.ports().bus.publish(ALICE_ID, &frame).await.unwrap();
    frame.to_json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_for_a_box_without_unread_events_writes_nothing_and_is_echoed_at_once() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let (unread_box, read_box) = (Uuid::from_u128(0x1a), Uuid::from_u128(0x1b));
    bed.unread_event(ALICE_ID, unread_box).await;
    let (mut client, mut server, driver) = driven_socket(&bed, &service).await;

    // Writes are held: the ack of a box with nothing unread is echoed all the same.
    let held = store.gate.write().await;
    client.send(ClientFrame::Text(ack(read_box))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(read_box));
    // The unread box's ack waits for its reset.
    client
        .send(ClientFrame::Text(ack(unread_box)))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), server.next())
            .await
            .is_err(),
        "no echo before the reset is durable"
    );
    drop(held);
    assert_eq!(next_json(&mut server).await, echo(unread_box));
    assert_eq!(
        bed.store.unread_count(ALICE_ID, unread_box).await.unwrap(),
        0
    );
    // Now at zero: acked again, written no more.
    client
        .send(ClientFrame::Text(ack(unread_box)))
        .await
        .unwrap();
    assert_eq!(next_json(&mut server).await, echo(unread_box));
    assert_eq!(resets(&store), vec![(ALICE_ID, unread_box)]);
    client.send(ClientFrame::Close).await.unwrap();
    driver.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_reaching_the_socket_makes_the_next_ack_of_its_box_write() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let box_id = Uuid::from_u128(0x2a);
    let (mut client, mut server, driver) = driven_socket(&bed, &service).await;
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(box_id));
    assert_eq!(resets(&store), Vec::<(Uuid, Uuid)>::new());

    bed.unread_event(ALICE_ID, box_id).await;
    let event = event_reaches_alice(&service, box_id, 1).await;
    assert_eq!(next_json(&mut server).await, event);
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(box_id));
    assert_eq!(resets(&store), vec![(ALICE_ID, box_id)]);
    assert_eq!(bed.store.unread_count(ALICE_ID, box_id).await.unwrap(), 0);
    client.send(ClientFrame::Close).await.unwrap();
    driver.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_arriving_while_its_boxs_reset_is_written_keeps_the_next_ack_writing() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let box_id = Uuid::from_u128(0x3a);
    bed.unread_event(ALICE_ID, box_id).await;
    let (mut client, mut server, driver) = driven_socket(&bed, &service).await;

    let held = store.gate.write().await;
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while store.attempts.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the reset never began"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The reset is being written: the event may grow the count after it, the box stays listed.
    let event = event_reaches_alice(&service, box_id, 1).await;
    assert_eq!(next_json(&mut server).await, event);
    drop(held);
    assert_eq!(next_json(&mut server).await, echo(box_id));
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(box_id));
    assert_eq!(resets(&store), vec![(ALICE_ID, box_id), (ALICE_ID, box_id)]);
    client.send(ClientFrame::Close).await.unwrap();
    driver.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_goes_on_delivering_while_its_acks_reset_is_written() {
    let bed = TestBed::new();
    let (service, store) = gated(&bed);
    let box_id = Uuid::from_u128(0xe);
    // An unread count, so that the ack has a reset to write.
    bed.unread_event(ALICE_ID, box_id).await;
    let (mut client, mut server, driver) = driven_socket(&bed, &service).await;

    let held = store.gate.write().await;
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    let update = misakey_box::domain::Frame::from_text(r#"{"type":"notification","object":{}}"#);
    service
        .ports()
        .bus
        .publish(ALICE_ID, &update)
        .await
        .unwrap();
    // The reset is held, yet the socket reads and sends: the update arrives first.
    let next = tokio::time::timeout(Duration::from_secs(5), server.next())
        .await
        .unwrap();
    assert_eq!(next, Some(ServerFrame::Text(update)));
    drop(held);
    let next = tokio::time::timeout(Duration::from_secs(5), server.next())
        .await
        .unwrap();
    match next {
        Some(ServerFrame::Text(frame)) => assert_eq!(frame.to_json(), echo(box_id)),
        other => panic!("expected the echo, got {other:?}"),
    }
    client.send(ClientFrame::Close).await.unwrap();
    driver.await.unwrap();
}

/// The test bed's box reads, recording each read of unread boxes (the identities asked for),
/// holding them while `gate` is held for writing, and failing them while `failing` is set.
#[derive(Debug)]
struct RecordedReads {
    inner: Arc<misakey_box_testkit::InMemoryBoxStore>,
    listings: Mutex<Vec<Vec<Uuid>>>,
    gate: tokio::sync::RwLock<()>,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl BoxReads for RecordedReads {
    async fn box_events_summary(&self, box_id: Uuid) -> Result<Option<(Event, Event)>, StoreError> {
        self.inner.box_events_summary(box_id).await
    }
    async fn members(&self, box_id: Uuid) -> Result<Vec<Member>, StoreError> {
        self.inner.members(box_id).await
    }
    async fn events(
        &self,
        box_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.events(box_id, offset, limit).await
    }
    async fn count_events(&self, box_id: Uuid) -> Result<u64, StoreError> {
        self.inner.count_events(box_id).await
    }
    async fn joined_boxes(
        &self,
        identity_id: Uuid,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Uuid>, StoreError> {
        self.inner.joined_boxes(identity_id, offset, limit).await
    }
    async fn count_joined_boxes(&self, identity_id: Uuid) -> Result<u64, StoreError> {
        self.inner.count_joined_boxes(identity_id).await
    }
    async fn key_share(&self, other_share_hash: &str) -> Result<Option<KeyShare>, StoreError> {
        self.inner.key_share(other_share_hash).await
    }
    async fn unread_count(&self, identity_id: Uuid, box_id: Uuid) -> Result<u64, StoreError> {
        self.inner.unread_count(identity_id, box_id).await
    }
    async fn unread_boxes(
        &self,
        identity_ids: &[Uuid],
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        self.listings.lock().unwrap().push(identity_ids.to_vec());
        let _open = self.gate.read().await;
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("injected failure"));
        }
        self.inner.unread_boxes(identity_ids, limit).await
    }
}

/// The test bed's service with its store behind a gate and its box reads recorded.
fn gated_and_recorded(bed: &TestBed) -> (BoxService, Arc<GatedStore>, Arc<RecordedReads>) {
    let (gated_service, store) = gated(bed);
    let reads = Arc::new(RecordedReads {
        inner: bed.store.clone(),
        listings: Mutex::new(Vec::new()),
        gate: tokio::sync::RwLock::new(()),
        failing: std::sync::atomic::AtomicBool::new(false),
    });
    let mut ports = gated_service.ports().clone();
    ports.boxes = reads.clone();
    let service = BoxService::without_maintenance(ports, bed.service.config().clone());
    (service, store, reads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_acks_of_sockets_opened_together_share_one_read_of_their_unread_boxes() {
    let bed = TestBed::new();
    let (service, store, reads) = gated_and_recorded(&bed);
    let box_id = Uuid::from_u128(0x4a);
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(driven_socket(&bed, &service).await);
    }
    // The first socket's read is held; the other two sockets ask meanwhile and share the next.
    let held = reads.gate.write().await;
    let mut clients = sockets.iter_mut().map(|(client, _, _)| client);
    clients
        .next()
        .unwrap()
        .send(ClientFrame::Text(ack(box_id)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while reads.listings.lock().unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no read began");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for client in clients {
        client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(held);
    // Each socket gets the three echoes (every ack reaches every socket of Alice's).
    for (_, server, _) in &mut sockets {
        for _ in 0..3 {
            assert_eq!(next_json(server).await, echo(box_id));
        }
    }
    // Two reads of Alice's boxes, not three.
    assert_eq!(
        *reads.listings.lock().unwrap(),
        vec![vec![ALICE_ID], vec![ALICE_ID]]
    );
    assert_eq!(
        resets(&store),
        Vec::<(Uuid, Uuid)>::new(),
        "nothing was unread"
    );
    for (mut client, _, driver) in sockets {
        client.send(ClientFrame::Close).await.unwrap();
        driver.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_unread_boxes_cannot_be_read_the_ack_writes_its_reset_and_the_next_reads_again() {
    let bed = TestBed::new();
    let (service, store, reads) = gated_and_recorded(&bed);
    let box_id = Uuid::from_u128(0x5a);
    let (mut client, mut server, driver) = driven_socket(&bed, &service).await;
    reads.failing.store(true, Ordering::SeqCst);
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(box_id));
    assert_eq!(
        resets(&store),
        vec![(ALICE_ID, box_id)],
        "written, to be safe"
    );

    reads.failing.store(false, Ordering::SeqCst);
    client.send(ClientFrame::Text(ack(box_id))).await.unwrap();
    assert_eq!(next_json(&mut server).await, echo(box_id));
    assert_eq!(reads.listings.lock().unwrap().len(), 2, "read again");
    assert_eq!(
        resets(&store),
        vec![(ALICE_ID, box_id)],
        "then known at zero"
    );
    client.send(ClientFrame::Close).await.unwrap();
    driver.await.unwrap();
}
