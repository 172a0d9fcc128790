//! The notification bus contract: what every [`NotificationBus`] must do, whether delivery is
//! immediate (in-process) or goes through a broker.
//!
//! "Nothing arrived" is checked with a marker: a frame published after the one that must not
//! arrive, to the same identity, must be the next one received (a bus keeps order per
//! identity). Run them all with [`bus_contract_tests!`](crate::bus_contract_tests).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::StreamExt as _;
use misakey_box::domain::Frame;
use misakey_box::ports::{NotificationBus, Subscription};
use uuid::Uuid;

/// How long a frame may take to arrive.
const PATIENCE: Duration = Duration::from_secs(10);

fn frame(label: &str) -> Frame {
    Frame::from_text(format!(
        r#"{{"type":"notification","object":{{"label":"{label}"}}}}"#
    ))
}

async fn next(subscription: &mut Subscription) -> Frame {
    tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .expect("a frame in time")
        .expect("the subscription is open")
        .expect("no subscription error")
}

/// Every subscriber of an identity receives every frame, in publish order.
pub async fn every_subscriber_receives_every_frame_in_order<B: NotificationBus + ?Sized>(bus: &B) {
    let identity = Uuid::new_v4();
    let mut subscriptions = Vec::new();
    for _ in 0..3 {
        subscriptions.push(bus.subscribe(identity).await.unwrap());
    }
    let frames: Vec<Frame> = (0..50).map(|n| frame(&n.to_string())).collect();
    for sent in &frames {
        bus.publish(identity, sent).await.unwrap();
    }
    for subscription in &mut subscriptions {
        for sent in &frames {
            assert_eq!(&next(subscription).await, sent);
        }
    }
}

/// A frame for one identity never reaches another's subscribers.
pub async fn identities_are_isolated<B: NotificationBus + ?Sized>(bus: &B) {
    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    let mut alice_subscription = bus.subscribe(alice).await.unwrap();
    let mut bob_subscription = bus.subscribe(bob).await.unwrap();
    bus.publish(alice, &frame("for alice")).await.unwrap();
    bus.publish(bob, &frame("marker")).await.unwrap();
    assert_eq!(next(&mut bob_subscription).await, frame("marker"));
    assert_eq!(next(&mut alice_subscription).await, frame("for alice"));
}

/// A subscriber receives only what is published after it subscribed.
pub async fn subscribers_receive_only_later_frames<B: NotificationBus + ?Sized>(bus: &B) {
    let identity = Uuid::new_v4();
    let mut early = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame("before")).await.unwrap();
    assert_eq!(next(&mut early).await, frame("before"));
    let mut late = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame("after")).await.unwrap();
    assert_eq!(next(&mut late).await, frame("after"));
    assert_eq!(next(&mut early).await, frame("after"));
}

/// Dropping one subscription leaves the others working, and publishing to an identity
/// without subscribers succeeds.
pub async fn dropping_a_subscription_leaves_the_others<B: NotificationBus + ?Sized>(bus: &B) {
    let identity = Uuid::new_v4();
    let first = bus.subscribe(identity).await.unwrap();
    let mut second = bus.subscribe(identity).await.unwrap();
    drop(first);
    bus.publish(identity, &frame("still here")).await.unwrap();
    assert_eq!(next(&mut second).await, frame("still here"));
    drop(second);
    bus.publish(identity, &frame("to nobody")).await.unwrap();
    bus.publish(Uuid::new_v4(), &frame("never subscribed"))
        .await
        .unwrap();
    // Subscribing again after everyone left works.
    let mut again = bus.subscribe(identity).await.unwrap();
    bus.publish(identity, &frame("again")).await.unwrap();
    assert_eq!(next(&mut again).await, frame("again"));
}

/// Many identities with a subscriber each all get their own frames.
pub async fn many_identities_each_get_theirs<B: NotificationBus + ?Sized>(bus: &B) {
    let identities: Vec<Uuid> = (0..200).map(|_| Uuid::new_v4()).collect();
    let mut subscriptions = Vec::new();
    for identity in &identities {
        subscriptions.push(bus.subscribe(*identity).await.unwrap());
    }
    for identity in &identities {
        bus.publish(*identity, &frame(&identity.to_string()))
            .await
            .unwrap();
    }
    for (identity, subscription) in identities.iter().zip(&mut subscriptions) {
        assert_eq!(next(subscription).await, frame(&identity.to_string()));
    }
}

/// Frames published together reach each its own identity's subscribers, in order, however
/// many (more than one pipeline of a broker), and publishing nothing together succeeds.
pub async fn frames_published_together_each_reach_their_identity_in_order<
    B: NotificationBus + ?Sized,
>(
    bus: &B,
) {
    let identities: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    let mut subscriptions = Vec::new();
    for identity in &identities {
        subscriptions.push(bus.subscribe(*identity).await.unwrap());
    }
    // 2,500 frames, the identities taking turns: frame n of identity i is labelled "i.n".
    let frames: Vec<(Uuid, Frame)> = (0..50)
        .flat_map(|n| {
            identities
                .iter()
                .enumerate()
                .map(move |(i, identity)| (*identity, frame(&format!("{i}.{n}"))))
        })
        .collect();
    bus.publish_all(&frames).await.unwrap();
    bus.publish_all(&[]).await.unwrap();
    for (i, subscription) in subscriptions.iter_mut().enumerate() {
        let mut received = Vec::new();
        for _ in 0..50 {
            received.push(next(subscription).await);
        }
        let expected: Vec<Frame> = (0..50).map(|n| frame(&format!("{i}.{n}"))).collect();
        assert_eq!(received, expected);
    }
}

/// The bus answers its health check.
pub async fn a_healthy_bus_answers_ping<B: NotificationBus + ?Sized>(bus: &B) {
    bus.ping().await.unwrap();
}

/// Expands to one `#[tokio::test]` per check of the bus contract. The argument is an
/// expression of a future that yields `Option<B>`, `B` dereferencing to a fresh
/// [`NotificationBus`]; `None` skips the test.
#[macro_export]
macro_rules! bus_contract_tests {
    ($make_bus:expr) => {
        $crate::bus_contract_tests!(@check $make_bus,
            every_subscriber_receives_every_frame_in_order,
            identities_are_isolated,
            subscribers_receive_only_later_frames,
            dropping_a_subscription_leaves_the_others,
            many_identities_each_get_theirs,
            frames_published_together_each_reach_their_identity_in_order,
            a_healthy_bus_answers_ping,
        );
    };
    (@check $make_bus:expr, $($check:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(bus) = $make_bus.await else {
                    return;
                };
                $crate::contract::bus::$check(&*bus).await;
            }
        )+
    };
}
