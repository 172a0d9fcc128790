//! Starting a server in the test's process, shared by the test files that need one.

use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::{BoxService, Config, Ports, Running};
use misakey_box_testkit::conformance::ConformanceTarget;
use uuid::Uuid;

/// Serves `api` on a spare loopback port until the test ends.
pub(crate) async fn serve_api(api: HttpApi, running: Running) -> ConformanceTarget {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(misakey_box_poem::serve(
        listener,
        api,
        running,
        std::future::pending(),
    ));
    ConformanceTarget::new(format!("http://{address}"))
}

/// Starts a service on `ports` (its outbox running) and serves its routes with `settings`.
#[allow(dead_code)] // not every test file that shares this module calls it
pub(crate) async fn serve(ports: Ports, settings: HttpSettings) -> ConformanceTarget {
    let (service, running) = BoxService::start(ports, Config::new(Uuid::new_v4())).await;
    serve_api(HttpApi::new(service, settings), running).await
}
