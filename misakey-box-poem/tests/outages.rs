//! The server while its database goes away and comes back: requests fail fast with 503 (not
//! after the pool's default 30 s), the health check answers within a second, open sockets stay
//! open, and everything heals by itself, with nothing written twice or half.
//!
//! The database is a PostgreSQL of the test's own, on a spare loopback port: the shared one
//! is never stopped.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use misakey_box::Ports;
use misakey_box::bus::{InProcessBus, RedisBus};
use misakey_box::http::HttpSettings;
use misakey_box::ports::NotificationBus;
use misakey_box::storage::SeaOrmStorage;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{
    Auth, Csrf, get, head_count, open_socket, post_contact, request,
};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::services::{SparePostgres, SpareRedis};
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use serde_json::{Value, json};

/// The database timeout the server under test runs with.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a request may take beyond the database timeout on a loaded machine (the group commit's
/// queue, the HTTP round trip); far below the 30 s it took before the timeout was set.
const MARGIN: Duration = Duration::from_millis(1500);

fn unavailable() -> Value {
    json!({"code": "service_unavailable", "origin": "not_defined",
           "desc": "a dependency of the server is unavailable, retry later", "details": {}})
}

async fn serve(postgres: &SparePostgres) -> ConformanceTarget {
    let storage = SeaOrmStorage::connect_with_timeout(&postgres.url(), DATABASE_TIMEOUT)
        .await
        .unwrap();
    serve_on(storage, Arc::new(InProcessBus::new())).await
}

async fn serve_on(storage: SeaOrmStorage, bus: Arc<dyn NotificationBus>) -> ConformanceTarget {
    storage.load_fixtures(&fixtures()).await.unwrap();
    common::serve(
        Ports::with_storage(Arc::new(storage), bus),
        HttpSettings::default(),
    )
    .await
}

async fn contact(target: &ConformanceTarget) -> (u16, Value) {
    post_contact(
        target,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).build(),
    )
    .await
}

/// Runs `call` and checks it took at most `bound`.
async fn within<T>(bound: Duration, what: &str, call: impl Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = call.await;
    let took = started.elapsed();
    assert!(took <= bound, "{what} took {took:?}, more than {bound:?}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_keeps_sockets_and_heals_by_itself() {
    let Some(mut postgres) = SparePostgres::start() else {
        return;
    };
    let target = serve(&postgres).await;
    let bob_id = BOB_ID.to_string();
    let mut bob_socket = open_socket(&target, &bob_id, Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let (status, first) = contact(&target).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        bob_socket.next_update().await["object"]["details"]["box_id"],
        first["id"]
    );

    postgres.stop();
    let request_bound = DATABASE_TIMEOUT + MARGIN;
    let mut refused_contacts = 0;
    for _ in 0..3 {
        assert_eq!(
            within(request_bound, "a contact", contact(&target)).await,
            (503, unavailable())
        );
        refused_contacts += 1;
    }
    assert_eq!(
        within(request_bound, "a read", async {
            request(
                &target,
                "GET",
                &format!("/identities/{BOB_ID}/notifications"),
                Auth::bearer(BOB_TOKEN),
                Csrf::Valid,
                None,
            )
            .await
        })
        .await,
        (503, unavailable())
    );
    // The health check answers within a second, whatever the database does.
    assert_eq!(
        within(
            Duration::from_secs(1),
            "the health check",
            get(&target, "/healthz")
        )
        .await,
        (503, unavailable())
    );
    // A new socket needs the log: refused fast, in the error format.
    let refused = within(request_bound, "a handshake", async {
        open_socket(&target, &bob_id, Auth::bearer(BOB_TOKEN), None).await
    })
    .await;
    assert_eq!(refused.err(), Some((503, unavailable())));

    postgres.restart();
    // Healed without a restart of the server: the pool connects again on its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&target, "/healthz").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the server did not heal within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, second) = contact(&target).await;
    assert_eq!(status, 201, "{second}");
    // Bob's socket stayed open through the outage and goes on receiving.
    assert_eq!(
        bob_socket.next_update().await["object"]["details"]["box_id"],
        second["id"]
    );

    // Nothing lost or written twice: the refused contacts were not written at all, or
    // completely; the two answered 201 are there once each.
    let (_, boxes_of_alice) = head_count(&target, "/boxes/joined", Auth::bearer(ALICE_TOKEN)).await;
    let (_, notifications_of_bob) = head_count(
        &target,
        &format!("/identities/{BOB_ID}/notifications"),
        Auth::bearer(BOB_TOKEN),
    )
    .await;
    let boxes_of_alice = boxes_of_alice.unwrap();
    assert_eq!(
        Some(boxes_of_alice),
        notifications_of_bob,
        "one invitation per box"
    );
    assert!(
        (2..=2 + refused_contacts).contains(&boxes_of_alice),
        "{boxes_of_alice} boxes"
    );
    let (status, joined) = request(
        &target,
        "GET",
        "/boxes/joined",
        Auth::bearer(ALICE_TOKEN),
        Csrf::Valid,
        None,
    )
    .await;
    assert_eq!(status, 200);
    for view in joined.as_array().unwrap() {
        let path = format!("/boxes/{}/members", view["id"].as_str().unwrap());
        let (status, members) = request(
            &target,
            "GET",
            &path,
            Auth::bearer(ALICE_TOKEN),
            Csrf::Valid,
            None,
        )
        .await;
        assert_eq!(status, 200, "{members}");
        assert_eq!(
            members.as_array().unwrap().len(),
            1,
            "only the creator so far"
        );
    }
    bob_socket.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_refuses_new_sockets_fast_and_heals_by_itself() {
    let Some(mut redis) = SpareRedis::start() else {
        return;
    };
    let database = TestDatabase::sqlite().await;
    let bus = RedisBus::connect(&redis.url(), "outage:").await.unwrap();
    let target = serve_on((*database).clone(), Arc::new(bus)).await;
    let bob_id = BOB_ID.to_string();
    open_socket(&target, &bob_id, Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap()
        .close()
        .await;

    redis.stop();
    // Without the bus, a socket would receive nothing: refused at once, in the error format.
    let refused = within(MARGIN, "a handshake", async {
        open_socket(&target, &bob_id, Auth::bearer(BOB_TOKEN), None).await
    })
    .await;
    assert_eq!(refused.err(), Some((503, unavailable())));
    assert_eq!(
        within(
            Duration::from_secs(1),
            "the health check",
            get(&target, "/healthz")
        )
        .await,
        (503, unavailable())
    );
    // Contacts need the database only: committed, their delivery left to resuming sockets.
    assert_eq!(contact(&target).await.0, 201);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&target, "/healthz").await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "the bus did not reconnect within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut bob_socket = open_socket(&target, &bob_id, Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let (status, created) = contact(&target).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        bob_socket.next_update().await["object"]["details"]["box_id"],
        created["id"]
    );
    bob_socket.close().await;
}
