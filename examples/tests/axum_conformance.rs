//! The wire-level conformance suite against the axum embedding, on SQLite and PostgreSQL.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::InProcessBus;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::{BoxService, Config, Ports};
use misakey_box_examples::axum_embedding::router;
use misakey_box_testkit::conformance::{
    ALLOWED_ORIGIN, ConformanceTarget, SocketSettings, fixtures, probe_route,
};
use misakey_box_testkit::database::TestDatabase;
use tokio::sync::oneshot;
use uuid::Uuid;

/// An axum server on its own database, stopped when dropped.
struct RunningServer {
    target: ConformanceTarget,
    stop: Option<oneshot::Sender<()>>,
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start(database: Option<TestDatabase>, socket: SocketSettings) -> Option<RunningServer> {
    let database = database?;
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((*database).clone());
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    let (service, running) = BoxService::start(ports, Config::new(Uuid::new_v4())).await;
    let http = HttpSettings {
        allowed_origins: vec![ALLOWED_ORIGIN.to_owned()],
        socket,
        ..HttpSettings::default()
    };
    // The probe route is added to the core only: the frontend serves it unchanged.
    let api = HttpApi::new(service, http).with_route(probe_route());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        // axum does not wait for upgraded connections: sockets close in `shutdown`.
        let _ = axum::serve(listener, router(api))
            .with_graceful_shutdown(async { drop(stopped.await) })
            .await;
        running.shutdown(Duration::from_secs(1)).await;
    });
    Some(RunningServer {
        target: ConformanceTarget::new(format!("http://{address}")),
        stop: Some(stop),
        _database: database,
    })
}

mod sqlite {
    use super::{TestDatabase, start};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_route_added_to_the_core_is_served_with_no_frontend_change() {
        let server = start(Some(TestDatabase::sqlite().await), Default::default())
            .await
            .unwrap();
        misakey_box_testkit::conformance::checks::added_route_is_served(&server).await;
    }

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
