//! An existing poem application with the misakey-box routes nested under `/api` (see
//! `misakey_box_examples::poem_embedding`), on an embedded SQLite file with the demo identities.
//!
//! Run: `cargo run -p misakey-box-examples --example poem_embedding` (listens on
//! 127.0.0.1:8082: try `curl http://127.0.0.1:8082/about` and `curl http://127.0.0.1:8082/api/csrf`).

use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::InProcessBus;
use misakey_box::fixtures::demo;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use poem::Server;
use poem::listener::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = SeaOrmStorage::connect("sqlite://misakey-box-poem-embedding.db").await?;
    storage.load_fixtures(&demo::fixtures()).await?;
    let ports = Ports::with_storage(Arc::new(storage), Arc::new(InProcessBus::new()));
    // The handle runs the outbox; shutting it down closes the sockets and hands over cleanly.
    let (service, running) = BoxService::start(ports, Config::new(demo::OWNER_ORG_ID)).await;
    let app =
        misakey_box_examples::poem_embedding::app(HttpApi::new(service, HttpSettings::default()));
    println!("listening on http://127.0.0.1:8082 (box routes under /api)");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        running.close_sockets();
    };
    Server::new(TcpListener::bind("127.0.0.1:8082"))
        .run_with_graceful_shutdown(app, stop, Some(Duration::from_secs(10)))
        .await?;
    running.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
