//! No update lost: while 10,000 updates flow to Alice, a client that drops its socket at
//! random moments and resumes each time with `?since=` its last position receives every
//! position exactly once, in order. On SQLite and PostgreSQL, with the in-process bus and
//! with Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use misakey_box::bus::{InProcessBus, RedisBus};
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::ports::NotificationBus;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_testkit::builders::{ALICE_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{Auth, open_socket_resuming};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::services::{redis_url, unique_channel_prefix};
use misakey_box_testkit::{ALICE_TOKEN, TestBed};
use uuid::Uuid;

/// Updates Alice receives: two per contact she makes.
const UPDATES: u64 = 10_000;
const PRODUCERS: usize = 4;

/// A small deterministic generator (xorshift), so that a failure replays the same way.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

async fn run(database: Option<TestDatabase>, redis: bool) {
    let Some(database) = database else { return };
    let bus: Arc<dyn NotificationBus> = if redis {
        let Some(url) = redis_url() else { return };
        Arc::new(
            RedisBus::connect(&url, &unique_channel_prefix())
                .await
                .unwrap(),
        )
    } else {
        Arc::new(InProcessBus::new())
    };
    database.load_fixtures(&fixtures()).await.unwrap();
    let (service, running) = BoxService::start(
        Ports::with_storage(Arc::new((*database).clone()), bus),
        Config::new(Uuid::nil()),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = ConformanceTarget::new(format!("http://{}", listener.local_addr().unwrap()));
    tokio::spawn(misakey_box_poem::serve(
        listener,
        HttpApi::new(service.clone(), HttpSettings::default()),
        running,
        std::future::pending(),
    ));

    // Producers: Alice contacts Bob, UPDATES / 2 times in all.
    let alice = TestBed::new().alice_caller().await;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let service = service.clone();
            tokio::spawn(async move {
                for _ in 0..UPDATES / 2 / PRODUCERS as u64 {
                    let body = ContactRequestBuilder::new(&bob()).build();
                    service.contact(&alice, &body).await.unwrap();
                }
            })
        })
        .collect();

    // The client: reads a random number of updates, drops the socket, resumes.
    let (mut last, mut random, mut reconnections) = (0u64, Random(0x5eed_1234_abcd_9876), 0);
    let started = Instant::now();
    while last < UPDATES {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "stuck at position {last}"
        );
        let mut socket = open_socket_resuming(
            &target,
            &ALICE_ID.to_string(),
            Auth::bearer(ALICE_TOKEN),
            &last.to_string(),
        )
        .await
        .unwrap();
        reconnections += 1;
        let quota = 1 + random.next(400);
        for _ in 0..quota {
            let Some(update) = socket.next_update_or_end().await else {
                break;
            };
            assert_eq!(
                update["seq"].as_u64(),
                Some(last + 1),
                "after {last}: {update}"
            );
            last += 1;
            if last == UPDATES {
                break;
            }
        }
        drop(socket); // no closing handshake: a dropped connection
    }
    for producer in producers {
        producer.await.unwrap();
    }
    assert!(
        reconnections > 20,
        "the client should have reconnected many times, did {reconnections}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_process_bus() {
    run(Some(TestDatabase::sqlite().await), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_redis_bus() {
    run(Some(TestDatabase::sqlite().await), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_in_process_bus() {
    run(TestDatabase::postgres().await, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_redis_bus() {
    run(TestDatabase::postgres().await, true).await;
}
