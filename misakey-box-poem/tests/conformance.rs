//! The wire-level conformance suite against the poem server, on SQLite and on PostgreSQL.
//! The PostgreSQL server nests the routes under `/api`, as an embedding application would.

use std::ops::Deref;
use std::sync::Arc;

use misakey_box::bus::InProcessBus;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_poem::{HttpSettings, ShutdownSignal, routes};
use misakey_box_testkit::conformance::{
    ALLOWED_ORIGIN, ConformanceTarget, SocketSettings, fixtures,
};
use misakey_box_testkit::database::TestDatabase;
use poem::listener::TcpAcceptor;
use poem::{Route, Server};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A server on its own database, stopped when dropped.
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

async fn start(
    database: Option<TestDatabase>,
    socket: SocketSettings,
    prefix: &str,
) -> Option<RunningServer> {
    let database = database?;
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((*database).clone());
    let ports = Ports::new(
        storage.clone(),
        storage.clone(),
        storage,
        Arc::new(InProcessBus::new()),
    );
    let service = BoxService::new(ports, Config::new(Uuid::new_v4()));
    let http = HttpSettings {
        allowed_origins: vec![ALLOWED_ORIGIN.to_owned()],
        socket,
        ..HttpSettings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = if prefix.is_empty() {
        routes(service, http, ShutdownSignal::never())
    } else {
        poem::EndpointExt::boxed(
            Route::new().nest(prefix, routes(service, http, ShutdownSignal::never())),
        )
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let server = Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap());
        let _ = server
            .run_with_graceful_shutdown(app, async { drop(stopped.await) }, None)
            .await;
    });
    Some(RunningServer {
        target: ConformanceTarget::new(format!("http://{address}{prefix}")),
        stop: Some(stop),
        _database: database,
    })
}

mod sqlite {
    misakey_box_testkit::conformance_tests!(|settings| async move {
        super::start(
            Some(misakey_box_testkit::database::TestDatabase::sqlite().await),
            settings,
            "",
        )
        .await
    });
}

mod postgres_under_a_prefix {
    misakey_box_testkit::conformance_tests!(|settings| async move {
        super::start(
            misakey_box_testkit::database::TestDatabase::postgres().await,
            settings,
            "/api",
        )
        .await
    });
}
