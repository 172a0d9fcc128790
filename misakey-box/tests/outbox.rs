//! The outbox: a bus that fails after the commit loses nothing; the relay publishes stranded
//! updates once the bus is back, and resuming sockets read them from the log.

use chrono::TimeDelta;
use futures::StreamExt as _;
use misakey_box::Maintenance;
use misakey_box::ports::{BoxStore as _, Clock as _, Retention};
use misakey_box_testkit::TestBed;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID};
use serde_json::Value;

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

    // Too young to count as stranded: the request that committed it may still publish it.
    bed.bus.set_unavailable(false);
    assert_eq!(
        bed.service
            .relay_stranded(TimeDelta::seconds(2))
            .await
            .unwrap(),
        0
    );
    bed.clock.advance(TimeDelta::seconds(3));
    assert_eq!(
        bed.service
            .relay_stranded(TimeDelta::seconds(2))
            .await
            .unwrap(),
        3
    );
    let notification = bob_socket.next().await.unwrap().unwrap();
    assert_eq!(
        (notification.seq(), notification.to_json()["type"].clone()),
        (Some(1), Value::from("notification"))
    );
    // Published now: nothing left for the relay.
    assert_eq!(
        bed.service
            .relay_stranded(TimeDelta::seconds(2))
            .await
            .unwrap(),
        0
    );
    let alice_frames: Vec<Option<u64>> = bed
        .bus
        .published()
        .iter()
        .filter(|(to, _)| *to == ALICE_ID)
        .map(|(_, f)| f.seq())
        .collect();
    assert_eq!(alice_frames, vec![Some(1), Some(2)]);
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
    let (frames, last) = bed.service.socket_session(&bob).resume(0).await.unwrap();
    assert_eq!(last, 1);
    assert_eq!(
        frames
            .iter()
            .map(|f| f.to_json()["object"]["type"].clone())
            .collect::<Vec<_>>(),
        vec![Value::from("box.auto_invite")]
    );
}

#[tokio::test]
async fn a_failed_mark_only_means_a_second_publish() {
    let bed = TestBed::new();
    let alice = bed.alice_caller().await;
    bed.service
        .contact(&alice, &bed.request_to_bob().build())
        .await
        .unwrap();
    // Published at once, and marked: the relay finds nothing even when old.
    bed.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        bed.service
            .relay_stranded(TimeDelta::seconds(2))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        bed.store
            .unpublished_updates(bed.clock.now(), 10)
            .await
            .unwrap(),
        vec![]
    );
}

#[tokio::test(start_paused = true)]
async fn maintenance_relays_and_prunes_on_schedule_until_shutdown() {
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
    bed.clock.advance(TimeDelta::seconds(3));
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
}
