//! Contacts per second through the core contact use case on the sea-orm storage.
//!
//! ```sh
//! cargo bench -p misakey-box --features sea-orm --bench contacts -- sqlite
//! MISAKEY_BOX_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p misakey-box --features sea-orm --bench contacts -- postgres
//! ```
//!
//! Options after `--`: `sqlite` or `postgres` (both if neither), `--callers N` (16),
//! `--contacts N` per run (4000), `--runs N` (5), `--distinct-targets` (each caller contacts an
//! identity of its own; by default all contact the same one, the worst case for the per-identity
//! update logs). Each run is bounded by its count and by 60 seconds. Prints every run and the
//! median.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use misakey_box::bus::InProcessBus;
use misakey_box::domain::Identity;
use misakey_box::fixtures::{FixtureToken, Fixtures};
use misakey_box::{BoxService, Caller, Config, Ports};
use misakey_box_testkit::builders::{
    BOB_INVITATION_KEY, ContactRequestBuilder, IdentityBuilder, bob,
};
use misakey_box_testkit::database::TestDatabase;
use uuid::Uuid;

const RUN_TIME_LIMIT: Duration = Duration::from_secs(60);

struct Options {
    distinct_targets: bool,
    databases: Vec<String>,
    callers: usize,
    contacts: usize,
    runs: usize,
}

fn options() -> Options {
    let mut options = Options {
        distinct_targets: false,
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
            "--distinct-targets" => options.distinct_targets = true,
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown option {other}"),
        }
    }
    if options.databases.is_empty() {
        options.databases = vec!["sqlite".to_owned(), "postgres".to_owned()];
    }
    options
}

/// Callers with accounts and tokens, each with the identity it contacts: Bob for all, or one
/// identity of its own each.
fn fixtures(callers: usize, distinct_targets: bool) -> (Fixtures, Vec<(Caller, Identity)>) {
    let mut fixtures = Fixtures {
        identities: vec![bob()],
        tokens: Vec::new(),
    };
    let mut list = Vec::new();
    for n in 0..callers {
        let identity = IdentityBuilder::new(Uuid::new_v4(), &format!("Caller {n}"))
            .account(Uuid::new_v4())
            .build();
        let target = if distinct_targets {
            let target = IdentityBuilder::new(Uuid::new_v4(), &format!("Target {n}"))
                .account(Uuid::new_v4())
                .non_identified_pubkey(BOB_INVITATION_KEY)
                .build();
            fixtures.identities.push(target.clone());
            target
        } else {
            bob()
        };
        list.push((
            Caller {
                identity_id: identity.id,
                account_id: identity.account_id,
                acr: 2,
                token_expires_at: None,
            },
            target,
        ));
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

async fn run_once(
    service: &BoxService,
    callers: &[(Caller, Identity)],
    contacts: usize,
) -> (usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = callers
        .iter()
        .map(|(caller, target)| {
            let (service, caller, target, next) =
                (service.clone(), *caller, target.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= contacts || started.elapsed() > RUN_TIME_LIMIT {
                        return done;
                    }
                    let body = ContactRequestBuilder::new(&target).build();
                    service.contact(&caller, &body).await.expect("contact");
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
    let (fixtures, callers) = fixtures(options.callers, options.distinct_targets);
    db.load_fixtures(&fixtures).await.expect("fixtures");
    let storage = Arc::new((*db).clone());
    let service = BoxService::without_maintenance(
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
        "{database}: median {:.0} contacts/s ({} callers, {}, {} contacts per run, {} runs)",
        rates[rates.len() / 2],
        options.callers,
        if options.distinct_targets {
            "distinct targets"
        } else {
            "one target"
        },
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
