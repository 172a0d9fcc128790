//! Contacts per second through the core contact use case on the sea-orm storage.
//!
//! ```sh
//! cargo bench -p misakey-box --features sea-orm --bench contacts -- sqlite
//! MISAKEY_BOX_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p misakey-box --features sea-orm --bench contacts -- postgres
//! ```
//!
//! Options after `--`: `sqlite` or `postgres` (both if neither), `--callers N` (16),
//! `--contacts N` per run (4000), `--runs N` (5). Each run is bounded by its count and by
//! 60 seconds. Prints every run and the median.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use misakey_box::bus::InProcessBus;
use misakey_box::fixtures::{FixtureToken, Fixtures};
use misakey_box::{BoxService, Caller, Config, Ports};
use misakey_box_testkit::builders::{ContactRequestBuilder, IdentityBuilder, bob};
use misakey_box_testkit::database::TestDatabase;
use uuid::Uuid;

const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

struct Options {
    databases: Vec<String>,
    callers: usize,
    contacts: usize,
    runs: usize,
}

fn options() -> Options {
    let mut options = Options {
        databases: Vec::new(),
        callers: 16,
        contacts: 4000,
        runs: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || {
            args.next()
                .and_then(|n| n.parse().ok())
                .expect("a number after the option")
        };
        match arg.as_str() {
            "sqlite" | "postgres" => options.databases.push(arg),
            "--callers" => options.callers = number(),
            "--contacts" => options.contacts = number(),
            "--runs" => options.runs = number(),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    if options.databases.is_empty() {
        options.databases = vec!["sqlite".to_owned(), "postgres".to_owned()];
    }
    options
}

/// Callers with accounts and tokens, and Bob to contact.
fn fixtures(callers: usize) -> (Fixtures, Vec<Caller>) {
    let mut fixtures = Fixtures {
        identities: vec![bob()],
        tokens: Vec::new(),
    };
    let mut list = Vec::new();
    for n in 0..callers {
        let identity = IdentityBuilder::new(Uuid::new_v4(), &format!("Caller {n}"))
            .account(Uuid::new_v4())
            .build();
        list.push(Caller {
            identity_id: identity.id,
            account_id: identity.account_id,
            acr: 2,
        });
        fixtures.tokens.push(FixtureToken {
            token: format!("caller-{n}"),
            identity_id: identity.id,
            acr: 2,
            expires_at: None,
        });
        fixtures.identities.push(identity);
    }
    (fixtures, list)
}

async fn run_once(service: &BoxService, callers: &[Caller], contacts: usize) -> (usize, Duration) {
    let bodies: Arc<Vec<serde_json::Value>> = Arc::new(
        (0..contacts)
            .map(|_| ContactRequestBuilder::new(&bob()).build())
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = callers
        .iter()
        .map(|caller| {
            let (service, caller, bodies, next) =
                (service.clone(), *caller, bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= bodies.len() || started.elapsed() > RUN_TIME_LIMIT {
                        return done;
                    }
                    service.contact(&caller, &bodies[n]).await.expect("contact");
                    done += 1;
                }
            })
        })
        .collect();
    let mut done = 0;
    for worker in workers {
        done += worker.await.expect("worker");
    }
    (done, started.elapsed())
}

async fn bench(database: &str, options: &Options) {
    let db = match database {
        "sqlite" => TestDatabase::sqlite().await,
        _ => match TestDatabase::postgres().await {
            Some(db) => db,
            None => return,
        },
    };
    let (fixtures, callers) = fixtures(options.callers);
    db.load_fixtures(&fixtures).await.expect("fixtures");
    let storage = Arc::new((*db).clone());
    let service = BoxService::new(
        Ports::with_storage(storage, Arc::new(InProcessBus::new())),
        Config::new(Uuid::new_v4()),
    );
    let mut rates = Vec::new();
    for run in 1..=options.runs {
        let (done, elapsed) = run_once(&service, &callers, options.contacts).await;
        let rate = done as f64 / elapsed.as_secs_f64();
        println!(
            "{database} run {run}: {done} contacts in {:.2} s = {rate:.0} contacts/s",
            elapsed.as_secs_f64()
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "{database}: median {:.0} contacts/s ({} callers, {} contacts per run, {} runs)",
        rates[rates.len() / 2],
        options.callers,
        options.contacts,
        options.runs
    );
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for database in &options.databases {
        runtime.block_on(bench(database, &options));
    }
}
