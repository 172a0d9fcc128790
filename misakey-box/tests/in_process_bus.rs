//! The in-process bus: fan-out, order, isolation, unsubscribe, and slow subscribers.

use std::time::Duration;

use futures::{FutureExt as _, StreamExt as _};
use misakey_box::bus::InProcessBus;
use misakey_box::domain::Frame;
use misakey_box::ports::{NotificationBus, SubscriptionError};
use uuid::Uuid;

fn frame(n: usize) -> Frame {
    Frame::from_text(format!(r#"{{"type":"notification","object":{{"n":{n}}}}}"#))
}

/// Guards against a hang: every bus operation here completes at once.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("the bus must not block")
}

#[tokio::test]
async fn every_subscriber_of_an_identity_receives_every_frame_in_order() {
    let bus = InProcessBus::new();
    let identity = Uuid::new_v4();
    let mut subscriptions = Vec::new();
    for _ in 0..100 {
        subscriptions.push(bus.subscribe(identity).await.unwrap());
    }
    for n in 0..50 {
        bus.publish(identity, &frame(n)).await.unwrap();
    }
    for subscription in &mut subscriptions {
        let received: Vec<Frame> =
            within(subscription.by_ref().take(50).map(Result::unwrap).collect()).await;
        assert_eq!(received, (0..50).map(frame).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn identities_are_isolated() {
    let bus = InProcessBus::new();
    let identities: Vec<Uuid> = (0..1000).map(|_| Uuid::new_v4()).collect();
    let mut subscriptions = Vec::new();
    for identity in &identities {
        subscriptions.push(bus.subscribe(*identity).await.unwrap());
    }
    for (n, identity) in identities.iter().enumerate() {
        bus.publish(*identity, &frame(n)).await.unwrap();
    }
    for (n, subscription) in subscriptions.iter_mut().enumerate() {
        assert_eq!(
            within(subscription.next()).await.unwrap().unwrap(),
            frame(n)
        );
    }
    // Nothing else is queued for anyone.
    for subscription in &mut subscriptions {
        assert!(subscription.next().now_or_never().is_none());
    }
}

#[tokio::test]
async fn a_slow_subscriber_is_dropped_without_holding_up_the_others() {
    let bus = InProcessBus::with_queue_capacity(4);
    let identity = Uuid::new_v4();
    let mut slow = bus.subscribe(identity).await.unwrap();
    let mut fast = bus.subscribe(identity).await.unwrap();

    for n in 0..1000 {
        within(bus.publish(identity, &frame(n))).await.unwrap();
        assert_eq!(within(fast.next()).await.unwrap().unwrap(), frame(n));
    }
    // The slow one gets what was queued before it fell behind, then is told it lagged.
    for n in 0..4 {
        assert_eq!(within(slow.next()).await.unwrap().unwrap(), frame(n));
    }
    assert!(matches!(
        within(slow.next()).await,
        Some(Err(SubscriptionError::Lagged))
    ));
    assert!(
        within(slow.next()).await.is_none(),
        "nothing after the error"
    );
    assert_eq!(bus.subscriber_count(identity), 1);
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let bus = InProcessBus::new();
    let identity = Uuid::new_v4();
    let first = bus.subscribe(identity).await.unwrap();
    let second = bus.subscribe(identity).await.unwrap();
    assert_eq!(bus.subscriber_count(identity), 2);
    drop(first);
    assert_eq!(bus.subscriber_count(identity), 1);
    drop(second);
    assert_eq!(bus.subscriber_count(identity), 0);
    // Publishing to nobody is fine.
    bus.publish(identity, &frame(0)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_lose_nothing() {
    let bus = InProcessBus::with_queue_capacity(10_000);
    let identity = Uuid::new_v4();
    let mut subscription = bus.subscribe(identity).await.unwrap();
    let publishers: Vec<_> = (0..4)
        .map(|p| {
            let bus = bus.clone();
            tokio::spawn(async move {
                for n in 0..1000 {
                    bus.publish(identity, &frame(p * 1000 + n)).await.unwrap();
                }
            })
        })
        .collect();
    for publisher in publishers {
        within(publisher).await.unwrap();
    }
    let mut received: Vec<String> = within(
        subscription
            .by_ref()
            .take(4000)
            .map(|f| f.unwrap().text().to_owned())
            .collect(),
    )
    .await;
    received.sort();
    let mut expected: Vec<String> = (0..4000).map(|n| frame(n).text().to_owned()).collect();
    expected.sort();
    assert_eq!(received, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_subscriber_is_woken_by_a_later_publish() {
    let bus = InProcessBus::new();
    let identity = Uuid::new_v4();
    let mut subscription = bus.subscribe(identity).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        for _ in 0..3 {
            received.push(subscription.next().await.unwrap().unwrap());
        }
        received
    });
    for n in 0..3 {
        // The reader is (most likely) parked on an empty queue before each frame.
        tokio::time::sleep(Duration::from_millis(20)).await;
        bus.publish(identity, &frame(n)).await.unwrap();
    }
    assert_eq!(
        within(reader).await.unwrap(),
        (0..3).map(frame).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_disconnected_bus_delivers_what_was_queued_then_reports_the_broker_lost() {
    let bus = InProcessBus::new();
    let identity = Uuid::new_v4();
    let mut subscription = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame(0)).await.unwrap();
    bus.disconnect_all();
    assert_eq!(bus.subscriber_count(identity), 0);
    // Publishing after the disconnection reaches nobody.
    bus.publish(identity, &frame(1)).await.unwrap();
    assert_eq!(
        within(subscription.next()).await.unwrap().unwrap(),
        frame(0)
    );
    let ended = within(subscription.next()).await;
    assert!(
        matches!(&ended, Some(Err(SubscriptionError::Broken(cause))) if cause.to_string() == "the notification bus lost its broker"),
        "{ended:?}"
    );
    assert!(within(subscription.next()).await.is_none());
}

#[tokio::test]
async fn a_dropped_bus_ends_its_subscriptions_after_what_was_queued() {
    let bus = InProcessBus::new();
    let identity = Uuid::new_v4();
    let mut subscription = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame(0)).await.unwrap();
    drop(bus);
    assert_eq!(
        within(subscription.next()).await.unwrap().unwrap(),
        frame(0)
    );
    assert!(within(subscription.next()).await.is_none());
}
