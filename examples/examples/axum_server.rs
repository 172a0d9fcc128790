//! The core embedded into an axum server (see `misakey_box_examples::axum_embedding`), on an
//! embedded SQLite file with the demo identities.
//!
//! Run: `cargo run -p misakey-box-examples --example axum_server` (listens on 127.0.0.1:8081;
//! it prints commands to try it).

use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::InProcessBus;
use misakey_box::fixtures::demo;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_examples::axum_embedding::router;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = SeaOrmStorage::connect("sqlite://misakey-box-axum.db").await?;
    storage.load_fixtures(&demo::fixtures()).await?;
    let ports = Ports::with_storage(Arc::new(storage), Arc::new(InProcessBus::new()));
    // The handle runs the outbox; shutting it down closes the sockets and hands over cleanly.
    let (service, running) = BoxService::start(ports, Config::new(demo::OWNER_ORG_ID)).await;
    let api = HttpApi::new(service, HttpSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("{}", demo::instructions(listener.local_addr()?));
    println!("listening on http://{}", listener.local_addr()?);
    // axum does not wait for upgraded connections: sockets close in `shutdown`.
    axum::serve(listener, router(api))
        .with_graceful_shutdown(async { drop(tokio::signal::ctrl_c().await) })
        .await?;
    running.shutdown(Duration::from_secs(10)).await;
    Ok(())
}
