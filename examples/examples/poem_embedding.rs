//! An existing poem application with the misakey-box routes nested under `/api` (see
//! `misakey_box_examples::poem_embedding`), on an embedded SQLite file with the demo identities.
//!
//! Run: `cargo run -p misakey-box-examples --example poem_embedding` (listens on
//! 127.0.0.1:8082: try `curl http://127.0.0.1:8082/about` and `curl http://127.0.0.1:8082/api/csrf`).

use std::sync::Arc;

use misakey_box::bus::InProcessBus;
use misakey_box::socket::Shutdown;
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_poem::HttpSettings;
use poem::Server;
use poem::listener::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let storage = SeaOrmStorage::connect("sqlite://misakey-box-poem-embedding.db").await?;
    storage
        .load_fixtures(&misakey_box_poem::demo::fixtures())
        .await?;
    let storage = Arc::new(storage);
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    let service = BoxService::new(
        ports,
        Config::new(misakey_box_poem::server::DEFAULT_OWNER_ORG_ID),
    );
    let (shutdown, signal) = Shutdown::new();
    let app = misakey_box_examples::poem_embedding::app(service, HttpSettings::default(), signal);
    println!("listening on http://127.0.0.1:8082 (box routes under /api)");
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.trigger();
    };
    Server::new(TcpListener::bind("127.0.0.1:8082"))
        .run_with_graceful_shutdown(app, stop, None)
        .await?;
    Ok(())
}
