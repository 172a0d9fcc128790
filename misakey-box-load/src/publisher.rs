//! An application embedding the routes, with one route of its own that publishes updates at a
//! steady rate through the core's publish API (what an application publishing its own events,
//! such as `file.saved`, does).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use misakey_box::bus::{DEFAULT_CHANNEL_PREFIX, InProcessBus, RedisBus};
use misakey_box::domain::{AddressedUpdate, RealtimeUpdate, UpdateType};
use misakey_box::fixtures::Fixtures;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::ports::NotificationBus;
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_poem::routes;
use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt as _, Route, Server, handler, post};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::identities::id;

/// Options of `publisher`.
#[derive(Debug, clap::Args)]
pub(crate) struct Options {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// Database URL.
    #[arg(long, default_value = "sqlite://misakey-box-load.db")]
    database_url: String,
    /// Fixtures file (see `fixtures`).
    #[arg(long)]
    fixtures: PathBuf,
    /// Redis URL: share updates with other instances (else in-process bus).
    #[arg(long)]
    redis_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PublishRequest {
    rate: u64,
    seconds: u64,
    identities: usize,
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Publishes `rate` updates per second for `seconds` to random identities among the first
/// `identities`; answers how many it published.
#[handler]
async fn publish(
    Json(request): Json<PublishRequest>,
    Data(service): Data<&BoxService>,
) -> poem::Result<Json<serde_json::Value>> {
    if request.seconds > 60 || request.rate > 1_000_000 || request.identities == 0 {
        return Err(poem::Error::from_string(
            "at most 60 s, 1,000,000/s, one identity or more",
            poem::http::StatusCode::BAD_REQUEST,
        ));
    }
    let started = Instant::now();
    let window = Duration::from_secs(request.seconds);
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut published: u64 = 0;
    while started.elapsed() < window {
        ticks.tick().await;
        let due = (request.rate as f64 * started.elapsed().as_secs_f64()) as u64;
        // Each millisecond's batch goes out concurrently, as from concurrent requests of a
        // real application: a broker connection pipelines them instead of paying one round
        // trip each.
        let batch: Vec<_> = (published..due)
            .map(|_| {
                let recipient =
                    id((Uuid::new_v4().as_u128() % request.identities as u128) as usize);
                let update = RealtimeUpdate {
                    kind: UpdateType::FileSaved,
                    object: json!({"sent_us": now_us()}).into(),
                };
                [AddressedUpdate { recipient, update }]
            })
            .collect();
        futures::future::join_all(batch.iter().map(|update| service.publish_ephemeral(update)))
            .await;
        published = published.max(due);
    }
    Ok(Json(
        json!({"published": published, "seconds": started.elapsed().as_secs_f64()}),
    ))
}

pub(crate) async fn run(options: Options) -> Result<(), String> {
    crate::require_loopback(&format!("http://{}", options.listen))?;
    let storage = SeaOrmStorage::connect(&options.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let fixtures = Fixtures::from_file(&options.fixtures).map_err(|e| e.to_string())?;
    storage
        .load_fixtures(&fixtures)
        .await
        .map_err(|e| format!("fixtures: {e}"))?;
    let storage = Arc::new(storage);
    let bus: Arc<dyn NotificationBus> = match &options.redis_url {
        Some(url) => {
            crate::require_loopback(url)?;
            Arc::new(
                RedisBus::connect(url, DEFAULT_CHANNEL_PREFIX)
                    .await
                    .map_err(|e| format!("redis: {e}"))?,
            )
        }
        None => Arc::new(InProcessBus::new()),
    };
    let ports = Ports::with_storage(storage, bus);
    let (service, running) = BoxService::start(ports, Config::new(Uuid::new_v4())).await;
    let app = Route::new()
        .at("/bench/publish", post(publish).data(service.clone()))
        .nest("/", routes(HttpApi::new(service, HttpSettings::default())));
    println!("listening on http://{}", options.listen);
    let stop = async {
        drop(tokio::signal::ctrl_c().await);
        running.close_sockets();
    };
    let served = Server::new(TcpListener::bind(options.listen.as_str()))
        .run_with_graceful_shutdown(app, stop, Some(Duration::from_secs(5)))
        .await;
    running.shutdown(Duration::from_secs(5)).await;
    served.map_err(|e| e.to_string())
}
