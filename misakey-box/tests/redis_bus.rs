//! The Redis bus: the bus contract on a shared Redis (`MISAKEY_BOX_TEST_REDIS_URL`, a channel
//! prefix per test), one Redis subscription per identity and instance, several instances, and
//! a Redis of the test's own stopped and restarted.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use misakey_box::bus::RedisBus;
use misakey_box::domain::Frame;
use misakey_box::error::BusError;
use misakey_box::ports::{NotificationBus, SubscriptionError};
use misakey_box_testkit::services::{SpareRedis, redis_url, unique_channel_prefix};
use uuid::Uuid;

mod contract {
    misakey_box_testkit::bus_contract_tests!(async {
        match misakey_box_testkit::services::redis_url() {
            Some(url) => Some(Box::new(
                misakey_box::bus::RedisBus::connect(
                    &url,
                    &misakey_box_testkit::services::unique_channel_prefix(),
                )
                .await
                .unwrap(),
            )),
            None => None,
        }
    });
}

fn frame(label: &str) -> Frame {
    Frame::from_text(format!(r#"{{"label":"{label}"}}"#))
}

async fn numsub(url: &str, channel: &str) -> i64 {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut connection)
        .await
        .unwrap();
    count
}

/// Polls `condition` every 50 ms for up to 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_redis_subscription_per_identity_and_instance() {
    let Some(url) = redis_url() else { return };
    let bus = RedisBus::connect(&url, &unique_channel_prefix())
        .await
        .unwrap();
    let identity = Uuid::new_v4();
    let channel = bus.channel(identity);
    let first = bus.subscribe(identity).await.unwrap();
    let second = bus.subscribe(identity).await.unwrap();
    assert_eq!(
        numsub(&url, &channel).await,
        1,
        "local subscribers share one Redis subscription"
    );
    drop(first);
    drop(second);
    eventually("unsubscribing from Redis", || async {
        numsub(&url, &channel).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_published_on_one_instance_reaches_subscribers_of_all() {
    let Some(url) = redis_url() else { return };
    let prefix = unique_channel_prefix();
    let (a, b) = (
        RedisBus::connect(&url, &prefix).await.unwrap(),
        RedisBus::connect(&url, &prefix).await.unwrap(),
    );
    let identity = Uuid::new_v4();
    let mut on_a = a.subscribe(identity).await.unwrap();
    let mut on_b = b.subscribe(identity).await.unwrap();
    a.publish(identity, &frame("from a")).await.unwrap();
    b.publish(identity, &frame("from b")).await.unwrap();
    for subscription in [&mut on_a, &mut on_b] {
        let mut received = Vec::new();
        for _ in 0..2 {
            received.push(
                tokio::time::timeout(Duration::from_secs(10), subscription.next())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(received, vec![frame("from a"), frame("from b")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_breaks_subscriptions_and_the_bus_recovers_when_it_is_back() {
    let Some(mut redis) = SpareRedis::start() else {
        return;
    };
    let bus = RedisBus::connect(&redis.url(), "restart:").await.unwrap();
    let identity = Uuid::new_v4();
    let mut subscription = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame("before")).await.unwrap();
    assert_eq!(subscription.next().await.unwrap().unwrap(), frame("before"));

    redis.stop();
    let ended = tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .unwrap();
    assert!(
        matches!(ended, Some(Err(SubscriptionError::Broken(_)))),
        "{ended:?}"
    );
    assert!(matches!(
        bus.publish(identity, &frame("lost")).await,
        Err(BusError::Unavailable(_))
    ));
    assert!(matches!(
        bus.publish_all(&[(identity, frame("lost")), (Uuid::new_v4(), frame("lost"))])
            .await,
        Err(BusError::Unavailable(_))
    ));
    assert!(matches!(
        bus.subscribe(identity).await,
        Err(BusError::Unavailable(_))
    ));
    assert!(bus.ping().await.is_err());

    redis.restart();
    eventually("the bus reconnecting", || async {
        bus.ping().await.is_ok()
    })
    .await;
    let mut again = bus.subscribe(identity).await.unwrap();
    // The publisher reconnects on its own too; its first command may still see the old link.
    eventually("publishing again", || async {
        bus.publish(identity, &frame("after")).await.is_ok()
    })
    .await;
    let received = tokio::time::timeout(Duration::from_secs(10), again.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(received, frame("after"));
}
