//! The core embedded into an axum server (see `misakey_box_examples::axum_embedding`), on an
//! embedded SQLite file with the demo identities of the reference server.
//!
//! Run: `cargo run -p misakey-box-examples --example axum_server` (listens on 127.0.0.1:8081;
//! the reference server's `--demo` commands work against it with that port).

use std::sync::Arc;

use misakey_box::bus::InProcessBus;
use misakey_box::socket::{Shutdown, SocketSettings};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_examples::axum_embedding::{AppState, router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = SeaOrmStorage::connect("sqlite://misakey-box-axum.db").await?;
    storage
        .load_fixtures(&misakey_box_poem::demo::fixtures())
        .await?;
    let storage = Arc::new(storage);
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    let (shutdown, signal) = Shutdown::new();
    let state = AppState {
        service: BoxService::new(
            ports,
            Config::new(misakey_box_poem::server::DEFAULT_OWNER_ORG_ID),
        ),
        allowed_origins: Arc::new(Vec::new()),
        socket: SocketSettings::default(),
        shutdown: signal.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!(
        "{}",
        misakey_box_poem::demo::instructions(listener.local_addr()?)
    );
    println!("listening on http://{}", listener.local_addr()?);
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.trigger();
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}
