//! The wire-level conformance suite against the poem server: on SQLite, on SQLite with the
//! Redis bus, and on PostgreSQL with the routes nested under `/api`, as an embedding
//! application would.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::{InProcessBus, RedisBus};
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::ports::NotificationBus;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_poem::routes;
use misakey_box_testkit::conformance::{
    ALLOWED_ORIGIN, ConformanceTarget, SocketSettings, fixtures, probe_route,
};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::services::{redis_url, unique_channel_prefix};
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

/// Which bus the server under test uses.
enum Bus {
    InProcess,
    /// The shared Redis of `MISAKEY_BOX_TEST_REDIS_URL` (the test skips when unset, outside CI).
    Redis,
}

async fn start(
    database: Option<TestDatabase>,
    socket: SocketSettings,
    prefix: &str,
    bus: Bus,
) -> Option<RunningServer> {
    let database = database?;
    let bus: Arc<dyn NotificationBus> = match bus {
        Bus::InProcess => Arc::new(InProcessBus::new()),
        Bus::Redis => Arc::new(
            RedisBus::connect(&redis_url()?, &unique_channel_prefix())
                .await
                .unwrap(),
        ),
    };
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((*database).clone());
    let (service, running) = BoxService::start(
        Ports::with_storage(storage, bus),
        Config::new(Uuid::new_v4()),
    )
    .await;
    let http = HttpSettings {
        allowed_origins: vec![ALLOWED_ORIGIN.to_owned()],
        socket,
        ..HttpSettings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // The probe route is added to the core only: the frontend serves it unchanged.
    let api = HttpApi::new(service, http).with_route(probe_route());
    let app = if prefix.is_empty() {
        routes(api)
    } else {
        poem::EndpointExt::boxed(Route::new().nest(prefix, routes(api)))
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let server = Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap());
        let stopping = async {
            drop(stopped.await);
            running.close_sockets();
        };
        let _ = server
            .run_with_graceful_shutdown(app, stopping, Some(Duration::from_secs(1)))
            .await;
        running.shutdown(Duration::from_secs(1)).await;
    });
    Some(RunningServer {
        target: ConformanceTarget::new(format!("http://{address}{prefix}")),
        stop: Some(stop),
        _database: database,
    })
}

mod sqlite {
    use super::{Bus, TestDatabase, start};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_route_added_to_the_core_is_served_with_no_frontend_change() {
        let server = start(
            Some(TestDatabase::sqlite().await),
            Default::default(),
            "",
            Bus::InProcess,
        )
        .await
        .unwrap();
        misakey_box_testkit::conformance::checks::added_route_is_served(&server).await;
    }

    misakey_box_testkit::conformance_tests!(|settings| async move {
        start(
            Some(TestDatabase::sqlite().await),
            settings,
            "",
            Bus::InProcess,
        )
        .await
    });
}

mod sqlite_with_redis {
    use super::{Bus, TestDatabase, start};

    misakey_box_testkit::conformance_tests!(|settings| async move {
        start(Some(TestDatabase::sqlite().await), settings, "", Bus::Redis).await
    });
}

mod postgres_under_a_prefix {
    use super::{Bus, TestDatabase, start};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_route_added_to_the_core_is_served_with_no_frontend_change() {
        let Some(server) = start(
            TestDatabase::postgres().await,
            Default::default(),
            "/api",
            Bus::InProcess,
        )
        .await
        else {
            return;
        };
        misakey_box_testkit::conformance::checks::added_route_is_served(&server).await;
    }

    misakey_box_testkit::conformance_tests!(|settings| async move {
        start(
            TestDatabase::postgres().await,
            settings,
            "/api",
            Bus::InProcess,
        )
        .await
    });
}
