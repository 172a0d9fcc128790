//! Several instances behind one Redis: updates cross instances, and losing Redis closes
//! sockets with 1011 without losing committed data; sockets work again once Redis is back.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use misakey_box::bus::RedisBus;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{
    Auth, Csrf, SocketClosed, get, open_socket, post_contact, request,
};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::services::{SpareRedis, redis_url, unique_channel_prefix};
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use serde_json::json;
use uuid::Uuid;

const OWNER: Uuid = Uuid::from_u128(0x0e9a);

/// One instance: its own pool on `storage`'s database, its own Redis bus.
async fn instance(storage: SeaOrmStorage, redis: &str, prefix: &str) -> ConformanceTarget {
    let storage = Arc::new(storage);
    let bus = Arc::new(RedisBus::connect(redis, prefix).await.unwrap());
    let (service, running) =
        BoxService::start(Ports::with_storage(storage, bus), Config::new(OWNER)).await;
    common::serve_api(HttpApi::new(service, HttpSettings::default()), running).await
}

fn ack(sender: Uuid, box_id: Uuid) -> serde_json::Value {
    json!({"type": "ack", "object": {"sender_id": sender, "box_id": box_id}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_cross_instances_sharing_postgres_and_redis() {
    let (Some(database), Some(redis)) = (TestDatabase::postgres().await, redis_url()) else {
        return;
    };
    database.load_fixtures(&fixtures()).await.unwrap();
    let prefix = unique_channel_prefix();
    let a = instance(database.reopen().await, &redis, &prefix).await;
    let b = instance(database.reopen().await, &redis, &prefix).await;

    let mut bob_on_b = open_socket(&b, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let mut alice_on_a = open_socket(&a, &ALICE_ID.to_string(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap();
    let mut alice_on_b = open_socket(&b, &ALICE_ID.to_string(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap();

    let (status, created) = post_contact(
        &a,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).build(),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let notification = bob_on_b.next_update().await;
    assert_eq!(
        (
            notification["type"].clone(),
            notification["object"]["details"]["box_id"].clone()
        ),
        (json!("notification"), created["id"].clone())
    );
    for socket in [&mut alice_on_a, &mut alice_on_b] {
        assert_eq!(socket.next_update().await["object"]["type"], "create");
        assert_eq!(
            socket.next_update().await["object"]["type"],
            "state.access_mode"
        );
    }

    let box_id = Uuid::new_v4();
    alice_on_b.send_json(&ack(ALICE_ID, box_id)).await;
    assert_eq!(
        alice_on_a.next_update().await,
        ack(ALICE_ID, box_id),
        "an ack on B reaches Alice's socket on A"
    );
    assert_eq!(alice_on_b.next_update().await, ack(ALICE_ID, box_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_and_their_echo_agree_across_instances() {
    let (Some(database), Some(redis)) = (TestDatabase::postgres().await, redis_url()) else {
        return;
    };
    database.load_fixtures(&fixtures()).await.unwrap();
    let prefix = unique_channel_prefix();
    let a = instance(database.reopen().await, &redis, &prefix).await;
    let b = instance(database.reopen().await, &redis, &prefix).await;
    let (alice, bob_auth) = (Auth::bearer(ALICE_TOKEN), Auth::bearer(BOB_TOKEN));

    let (_, created) = post_contact(
        &a,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).build(),
    )
    .await;
    let box_id = created["id"].as_str().unwrap().to_owned();
    let events = format!("/boxes/{box_id}/events");
    let join = json!({"type": "member.join"});
    assert_eq!(
        request(&b, "POST", &events, bob_auth, Csrf::Valid, Some(&join))
            .await
            .0,
        201
    );
    let mut bob_on_a = open_socket(&a, &BOB_ID.to_string(), bob_auth, None)
        .await
        .unwrap();
    let mut bob_on_b = open_socket(&b, &BOB_ID.to_string(), bob_auth, None)
        .await
        .unwrap();

    // Alice writes on A; Bob's count read on B has grown.
    let message =
        json!({"type": "msg.text", "content": {"encrypted": "aGk", "public_key": "a2V5"}});
    let (status, written) = request(&a, "POST", &events, alice, Csrf::Valid, Some(&message)).await;
    assert_eq!(status, 201, "{written}");
    for socket in [&mut bob_on_a, &mut bob_on_b] {
        assert_eq!(socket.next_update().await["object"]["id"], written["id"]);
    }
    let count = |server: ConformanceTarget| {
        let path = format!("/boxes/{box_id}");
        async move {
            request(&server, "GET", &path, bob_auth, Csrf::Valid, None)
                .await
                .1["events_count"]
                .clone()
        }
    };
    assert_eq!(count(b.clone()).await, 1);

    // Bob acks on A: both his sockets get the echo, and B reads the count back at 0.
    let box_uuid = Uuid::parse_str(&box_id).unwrap();
    bob_on_a.send_json(&ack(BOB_ID, box_uuid)).await;
    assert_eq!(bob_on_b.next_update().await, ack(BOB_ID, box_uuid));
    assert_eq!(bob_on_a.next_update().await, ack(BOB_ID, box_uuid));
    assert_eq!(count(b.clone()).await, 0);
    assert_eq!(count(a.clone()).await, 0);
}

async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut condition: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_closes_sockets_with_1011_keeps_contacts_and_recovers() {
    let Some(mut redis) = SpareRedis::start() else {
        return;
    };
    let database = TestDatabase::sqlite().await;
    database.load_fixtures(&fixtures()).await.unwrap();
    let server = instance(database.reopen().await, &redis.url(), "restart:").await;
    let mut bob_socket = open_socket(&server, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();

    redis.stop();
    assert_eq!(
        bob_socket.closed(Duration::from_secs(10)).await,
        (SocketClosed::Code(1011), 0)
    );
    let body = ContactRequestBuilder::new(&bob())
        .title("while down")
        .build();
    let (status, created) = post_contact(&server, ALICE_TOKEN, ALICE_ID, &body).await;
    assert_eq!(
        status, 201,
        "the contact is committed even though live delivery fails: {created}"
    );
    assert_eq!(get(&server, "/healthz").await.0, 503);
    let (status, refused) =
        match open_socket(&server, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None).await {
            Ok(_) => panic!("a socket cannot subscribe while Redis is down"),
            Err(answer) => answer,
        };
    assert_eq!(
        (status, refused["code"].clone()),
        (503, json!("service_unavailable"))
    );

    redis.restart();
    eventually("the server's health", || async {
        get(&server, "/healthz").await.0 == 200
    })
    .await;
    let mut bob_again = open_socket(&server, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let body = ContactRequestBuilder::new(&bob()).title("after").build();
    eventually("a contact after the restart", || async {
        post_contact(&server, ALICE_TOKEN, ALICE_ID, &body).await.0 == 201
    })
    .await;
    let update = bob_again.next_update().await;
    assert_eq!(update["object"]["details"]["box_title"], "after");
}
