//! The outbox: a bus that fails after the commit, a publish cut short and an instance that
//! dies between commit and publish lose nothing. The relay republishes from the log, and
//! resuming sockets read it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::TimeDelta;
use futures::StreamExt as _;
use misakey_box::domain::Frame;
use misakey_box::error::{BusError, ErrorCode};
use misakey_box::ports::{
    Clock as _, NotificationBus, PublisherHeartbeat, PublisherRegistry as _, Retention,
    Subscription, UpdateLog as _,
};
use misakey_box::{BoxService, Maintenance};
use misakey_box_testkit::TestBed;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID};
use serde_json::Value;
use uuid::Uuid;

/// What the logs hold, as the frames a socket would get: the whole documents the relay must
/// deliver.
async fn logged_frames(bed: &TestBed, identity: Uuid) -> Vec<Value> {
    bed.store
        .updates_after(identity, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|update| update.to_frame().to_json())
        .collect()
}

/// Everything published for Alice and Bob is what their logs hold, whole, in order.
async fn assert_the_bus_carried_the_logs(bed: &TestBed) {
    for identity in [ALICE_ID, BOB_ID] {
        assert_eq!(
            bed.bus.updates_for(identity),
            logged_frames(bed, identity).await
        );
    }
}

/// A bus whose publishes never return while `hanging` is set: a process stuck (or killed)
/// between its commit and its publish.
#[derive(Debug)]
struct HangingBus {
    inner: Arc<dyn NotificationBus>,
    hanging: AtomicBool,
}

#[async_trait]
impl NotificationBus for HangingBus {
    async fn publish(&self, recipient: Uuid, frame: &Frame) -> Result<(), BusError> {
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.publish(recipient, frame).await
    }

    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError> {
        self.inner.subscribe(identity_id).await
    }
}

/// A second instance of `bed`'s service (same store, same clock) publishing through `bus`.
fn instance_with_bus(bed: &TestBed, bus: Arc<dyn NotificationBus>) -> BoxService {
    let mut ports = bed.service.ports().clone();
    ports.bus = bus;
    BoxService::without_maintenance(ports, bed.service.config().clone())
}

#[tokio::test]
async fn updates_a_failing_bus_could_not_publish_are_relayed_once_it_is_back() {
    let bed = TestBed::new();
    let mut bob_socket = bed.service.ports().bus.subscribe(BOB_ID).await.unwrap();
    bed.bus.set_unavailable(true);
    let alice = bed.alice_caller().await;
    bed.service
        .contact(&alice, &bed.request_to_bob().build())
        .await
        .unwrap();
    assert_eq!(bed.bus.published(), vec![]);
    let maintenance = Maintenance::default();

    // Still down: the beat relays nothing and keeps the window for the next one.
    assert_eq!(bed.service.relay_stranded(&maintenance).await.unwrap(), 0);
    bed.bus.set_unavailable(false);
    assert_eq!(bed.service.relay_stranded(&maintenance).await.unwrap(), 3);
    let notification = bob_socket.next().await.unwrap().unwrap();
    assert_eq!(
        vec![notification.to_json()],
        logged_frames(&bed, BOB_ID).await
    );
    assert_eq!(
        bed.bus.updates_for(ALICE_ID),
        logged_frames(&bed, ALICE_ID).await
    );
    // Done: nothing left for the relay.
    assert_eq!(bed.service.relay_stranded(&maintenance).await.unwrap(), 0);
    assert_eq!(bed.bus.published().len(), 3);
}

#[tokio::test]
async fn a_resuming_socket_reads_what_the_bus_never_carried() {
    let bed = TestBed::new();
    bed.bus.set_unavailable(true);
    let alice = bed.alice_caller().await;
    bed.service
        .contact(&alice, &bed.request_to_bob().build())
        .await
        .unwrap();
    let bob = bed
        .caller(misakey_box_testkit::BOB_TOKEN, BOB_ID)
        .await
        .unwrap();
    let replay = bed.service.socket_session(&bob).replay(0).await.unwrap();
    let (frames, last) = replay.collect().await.unwrap();
    assert_eq!(last, 1);
    assert_eq!(
        frames.iter().map(Frame::to_json).collect::<Vec<_>>(),
        logged_frames(&bed, BOB_ID).await
    );
}

#[tokio::test]
async fn published_updates_are_not_relayed_again() {
    let bed = TestBed::new();
    let alice = bed.alice_caller().await;
    bed.service
        .contact(&alice, &bed.request_to_bob().build())
        .await
        .unwrap();
    // A rejected duplicate wrote nothing and leaves nothing to relay either.
    let duplicate = bed.request_to_bob().other_share_hash("c2FtZQ").build();
    bed.service.contact(&alice, &duplicate).await.unwrap();
    assert_eq!(
        bed.service
            .contact(&alice, &duplicate)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::Conflict
    );
    bed.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        bed.service
            .relay_stranded(&Maintenance::default())
            .await
            .unwrap(),
        0
    );
    assert_eq!(bed.bus.published().len(), 6);
}

#[tokio::test]
async fn a_publish_cut_short_is_relayed_at_the_next_beat() {
    let bed = TestBed::new();
    let hanging = Arc::new(HangingBus {
        inner: bed.bus.clone(),
        hanging: AtomicBool::new(true),
    });
    let service = instance_with_bus(&bed, hanging.clone());
    let alice = bed.alice_caller().await;
    let request = bed.request_to_bob().build();
    // The request is dropped (its client went away) after the commit, inside the publish.
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        service.contact(&alice, &request),
    )
    .await;
    assert!(cut.is_err(), "the publish hangs");
    assert_eq!(logged_frames(&bed, BOB_ID).await.len(), 1, "committed");
    hanging.hanging.store(false, Ordering::SeqCst);
    assert_eq!(
        service
            .relay_stranded(&Maintenance::default())
            .await
            .unwrap(),
        3
    );
    assert_the_bus_carried_the_logs(&bed).await;
}

#[tokio::test]
async fn another_instance_relays_what_a_dead_one_left_after_its_lease() {
    let bed = TestBed::new();
    let maintenance = Maintenance::default();
    let hanging = Arc::new(HangingBus {
        inner: bed.bus.clone(),
        hanging: AtomicBool::new(true),
    });
    let dying = instance_with_bus(&bed, hanging);
    let survivor = bed.service.clone();
    assert_eq!(dying.relay_stranded(&maintenance).await.unwrap(), 0);
    assert_eq!(survivor.relay_stranded(&maintenance).await.unwrap(), 0);

    // The dying instance commits a contact and stops for good inside its publish.
    let alice = bed.alice_caller().await;
    let request = bed.request_to_bob().build();
    let stuck = tokio::spawn(async move { dying.contact(&alice, &request).await });
    while logged_frames(&bed, BOB_ID).await.is_empty() {
        tokio::task::yield_now().await;
    }
    stuck.abort();

    // Within its lease it may still publish: nobody takes over yet.
    bed.clock.advance(TimeDelta::seconds(10));
    assert_eq!(survivor.relay_stranded(&maintenance).await.unwrap(), 0);
    assert_eq!(bed.bus.published(), vec![]);
    bed.clock.advance(TimeDelta::seconds(10));
    assert_eq!(survivor.relay_stranded(&maintenance).await.unwrap(), 3);
    assert_the_bus_carried_the_logs(&bed).await;
    assert_eq!(survivor.relay_stranded(&maintenance).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn maintenance_relays_and_prunes_on_schedule_and_retires_at_shutdown() {
    let bed = TestBed::new();
    bed.bus.set_unavailable(true);
    let alice = bed.alice_caller().await;
    for _ in 0..3 {
        bed.service
            .contact(&alice, &bed.request_to_bob().build())
            .await
            .unwrap();
    }
    bed.bus.set_unavailable(false);
    let maintenance = Maintenance {
        retention: Retention {
            max_per_identity: 2,
            max_age: TimeDelta::days(1),
        },
        ..Maintenance::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = bed.service.clone();
    let running = tokio::spawn(async move {
        service
            .run_maintenance(maintenance, async { drop(stopped.await) })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    stop.send(()).unwrap();
    running.await.unwrap();
    assert_eq!(
        bed.bus.published().len(),
        9,
        "every stranded update relayed"
    );
    let alice_log = bed.store.log_positions(ALICE_ID).await.unwrap();
    assert_eq!(
        (alice_log.oldest, alice_log.latest),
        (5, 6),
        "pruned to the last two"
    );
    // Stopped with nothing pending, it left the publishers: nobody has anything to take
    // over from it, however late.
    let late = bed.clock.now() + TimeDelta::days(1);
    let adopted = bed
        .store
        .publisher_heartbeat(PublisherHeartbeat {
            publisher: Uuid::new_v4(),
            published_before: late,
            now: late,
            expired_before: late,
        })
        .await
        .unwrap();
    assert!(adopted.is_empty(), "{adopted:?}");
}
