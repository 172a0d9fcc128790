//! `GET /metrics` of the reference server (feature `server`): the core's metrics (see
//! [`misakey_box::metrics`] for the names) in the Prometheus text format, rendered by
//! `metrics-exporter-prometheus`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use misakey_box::http::{Access, Method, Response, Route, RouteCall, StatusCode};

/// The media type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets (seconds) of the request duration histogram.
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed by the first call: there is one recorder per
/// process, so every server of a process (tests start many) shares it. If the host installed
/// another recorder first, this one records nothing and `/metrics` is empty.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
        };
        builder().install_recorder().unwrap_or_else(|error| {
            tracing::warn!(%error, "another metrics recorder is installed; /metrics stays empty");
            builder().build_recorder().handle()
        })
    })
}

/// Drains the histograms now and then, as the exporter asks of whoever renders it.
pub(crate) async fn upkeep() {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        prometheus().run_upkeep();
    }
}

/// The metrics, as text.
pub fn render() -> String {
    prometheus().render()
}

/// `GET /metrics` as a route of the core's HTTP layer (public, like `/healthz`).
pub fn route() -> Route {
    Route::new(
        Method::GET,
        "/metrics",
        Access::Public,
        |_: RouteCall| async move {
            let mut response = Response::new(bytes::Bytes::from(render()));
            response.headers_mut().insert(
                poem::http::header::CONTENT_TYPE,
                poem::http::HeaderValue::from_static(CONTENT_TYPE),
            );
            Ok(response)
        },
    )
    .summary("The server's metrics")
    .answers_text(
        StatusCode::OK,
        "the metrics, in the Prometheus text format",
        "text/plain",
    )
}
