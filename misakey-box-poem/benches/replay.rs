//! Replay speed: updates per second a socket resuming from position 0 receives, read from the
//! update log, over a real WebSocket to the poem routes (server and client in this process).
//!
//! ```sh
//! MISAKEY_BOX_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p misakey-box-poem --bench replay -- postgres
//! cargo bench -p misakey-box-poem --bench replay -- sqlite
//! ```
//!
//! Options after `--`: `sqlite` or `postgres`, `--updates N` (100,000), `--runs N` (5),
//! `--group N` (1: every update is Alice's alone; N from 8: every update goes to Alice and
//! N - 1 others at once, as a box event does, and is kept once for the group).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use misakey_box::bus::InProcessBus;
use misakey_box::domain::{AddressedUpdate, RealtimeUpdate, UpdateType};
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::ports::Retention;
use misakey_box::{BoxService, Config, Maintenance, Ports};
use misakey_box_testkit::ALICE_TOKEN;
use misakey_box_testkit::builders::ALICE_ID;
use misakey_box_testkit::conformance::fixtures;
use misakey_box_testkit::contract::store::SaveContact as _;
use misakey_box_testkit::contract::store::sample_contact;
use misakey_box_testkit::database::TestDatabase;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

/// Log entries written per contact record while filling.
const PER_RECORD: u64 = 1000;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut database, mut updates, mut runs) = ("sqlite".to_owned(), 100_000u64, 5usize);
    let mut group = 1u64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "sqlite" | "postgres" => database = arg,
            "--updates" => updates = args.next().and_then(|n| n.parse().ok()).expect("a number"),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("a number"),
            "--group" => group = args.next().and_then(|n| n.parse().ok()).expect("a number"),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(
        &database,
        updates.div_ceil(PER_RECORD) * PER_RECORD,
        runs,
        group,
    ));
}

async fn bench(database: &str, updates: u64, runs: usize, group: u64) {
    let db = match database {
        "postgres" => match TestDatabase::postgres().await {
            Some(db) => db,
            None => return,
        },
        _ => TestDatabase::sqlite().await,
    };
    db.load_fixtures(&fixtures()).await.expect("fixtures");
    // Fill Alice's log through the store's own write path, many entries per transaction.
    let started = Instant::now();
    for n in 0..updates / PER_RECORD {
        let mut record = sample_contact(n + 1, &format!("cmVwbGF5{n}"));
        // Written now: the samples' fixed instant is older than the log's retention, and the
        // service would prune every entry at startup.
        record.created_at = chrono::Utc::now();
        // Alice first, then the group's other members.
        let recipients: Vec<uuid::Uuid> = std::iter::once(ALICE_ID)
            .chain(
                (1..group).map(|k| uuid::Uuid::from_u128(0x6f74_6865_7273 << 64 | u128::from(k))),
            )
            .collect();
        record.updates = (0..PER_RECORD)
            .flat_map(|i| {
                let update = RealtimeUpdate {
                    kind: UpdateType::Notification,
                    object: serde_json::json!({"n": n * PER_RECORD + i, "details": {"box_title": "a box with a title", "box_id": record.key_share.box_id}}).into(),
                };
                recipients.iter().map(move |recipient| AddressedUpdate {
                    recipient: *recipient,
                    update: update.clone(),
                })
            })
            .collect();
        db.save_contact(&record).await.expect("fill");
    }
    println!(
        "{database}: {updates} updates to groups of {group} written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (service, running) = BoxService::start(
        Ports::with_storage(Arc::new((*db).clone()), Arc::new(InProcessBus::new())),
        // The log keeps every update written (the default keeps 10,000 per identity).
        Config::new(uuid::Uuid::nil()).with_maintenance(Maintenance {
            retention: Retention {
                max_per_identity: updates,
                ..Maintenance::default().retention
            },
            ..Maintenance::default()
        }),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(misakey_box_poem::serve(
        listener,
        HttpApi::new(service, HttpSettings::default()),
        running,
        std::future::pending(),
    ));

    let mut rates = Vec::new();
    for run in 1..=runs {
        let mut request = format!("ws://{address}/box-users/{ALICE_ID}/ws?since=0")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Cookie",
            format!("accesstoken={ALICE_TOKEN}; tokentype=bearer")
                .parse()
                .expect("cookie"),
        );
        let started = Instant::now();
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("socket");
        let mut received = 0u64;
        while received < updates {
            match tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .expect("an update in time")
            {
                Some(Ok(Message::Text(_))) => received += 1,
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = received as f64 / seconds;
        println!(
            "{database} run {run}: {received} updates replayed in {seconds:.2} s = {rate:.0} updates/s"
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{database}: median {:.0} updates/s replayed to one socket",
        rates[rates.len() / 2]
    );
}
