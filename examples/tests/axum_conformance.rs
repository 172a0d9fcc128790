//! The wire-level conformance suite against the axum embedding, on SQLite and PostgreSQL.

use std::ops::Deref;
use std::sync::Arc;

use misakey_box::bus::InProcessBus;
use misakey_box::socket::{Shutdown, ShutdownSignal};
use misakey_box::{BoxService, Config, Ports};
use misakey_box_examples::axum_embedding::{AppState, router};
use misakey_box_testkit::conformance::{
    ALLOWED_ORIGIN, ConformanceTarget, SocketSettings, fixtures,
};
use misakey_box_testkit::database::TestDatabase;
use uuid::Uuid;

/// An axum server on its own database, stopped when dropped.
struct RunningServer {
    target: ConformanceTarget,
    shutdown: Shutdown,
    _database: TestDatabase,
}

impl Deref for RunningServer {
    type Target = ConformanceTarget;

    fn deref(&self) -> &ConformanceTarget {
        &self.target
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn start(database: Option<TestDatabase>, socket: SocketSettings) -> Option<RunningServer> {
    let database = database?;
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((*database).clone());
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    let (shutdown, signal): (Shutdown, ShutdownSignal) = Shutdown::new();
    let state = AppState {
        service: BoxService::new(ports, Config::new(Uuid::new_v4())),
        allowed_origins: Arc::new(vec![ALLOWED_ORIGIN.to_owned()]),
        socket,
        shutdown: signal.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state))
            .with_graceful_shutdown(signal.wait())
            .await
    });
    Some(RunningServer {
        target: ConformanceTarget::new(format!("http://{address}")),
        shutdown,
        _database: database,
    })
}

mod sqlite {
    use super::{TestDatabase, start};

    misakey_box_testkit::conformance_tests!(|settings| async move {
        start(Some(TestDatabase::sqlite().await), settings).await
    });
}

mod postgres {
    use super::{TestDatabase, start};

    misakey_box_testkit::conformance_tests!(|settings| async move {
        start(TestDatabase::postgres().await, settings).await
    });
}
