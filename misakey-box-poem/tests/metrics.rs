//! `GET /metrics`: the Prometheus text format, with counters that follow the traffic. Alone in
//! its test binary: the recorder is global to a process, so no other test's traffic counts.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use misakey_box::bus::InProcessBus;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::{BoxService, Config, Ports};
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{Auth, get, open_socket, post_contact};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use uuid::Uuid;

/// Every sample of a scrape, by name and sorted labels (`name{a="1",b="2"}`).
async fn scrape(target: &ConformanceTarget) -> HashMap<String, f64> {
    let response = reqwest::get(target.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|line| Ok(line.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format");
    scrape
        .samples
        .into_iter()
        .map(|sample| {
            let mut labels: Vec<String> = sample
                .labels
                .iter()
                .map(|(name, value)| format!("{name}=\"{value}\""))
                .collect();
            labels.sort();
            let value = match sample.value {
                prometheus_parse::Value::Counter(value)
                | prometheus_parse::Value::Gauge(value)
                | prometheus_parse::Value::Untyped(value) => value,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0.0, |bucket| bucket.count)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            };
            (format!("{}{{{}}}", sample.metric, labels.join(",")), value)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_in_the_prometheus_text_format_and_follow_the_traffic() {
    misakey_box_poem::metrics::prometheus();
    let database = TestDatabase::sqlite().await;
    database.load_fixtures(&fixtures()).await.unwrap();
    let ports = Ports::with_storage(Arc::new((*database).clone()), Arc::new(InProcessBus::new()));
    let (service, running) = BoxService::start(ports, Config::new(Uuid::new_v4())).await;
    let api = HttpApi::new(service, HttpSettings::default())
        .with_route(misakey_box_poem::metrics::route());
    let target = common::serve_api(api, running).await;

    let before = scrape(&target).await;
    let mut bob_socket = open_socket(&target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let request = ContactRequestBuilder::new(&bob()).build();
    let (status, created) = post_contact(&target, ALICE_TOKEN, ALICE_ID, &request).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        post_contact(&target, ALICE_TOKEN, ALICE_ID, &request)
            .await
            .0,
        409
    );
    bob_socket.next_update().await;
    // An ack of the new box: nothing unread there, so nothing to write; the echo comes back.
    let ack = serde_json::json!({"type": "ack", "object": {"sender_id": BOB_ID, "box_id": created["id"]}});
    bob_socket.send_json(&ack).await;
    assert_eq!(bob_socket.next_update().await, ack);
    bob_socket.close().await;
    assert_eq!(get(&target, "/no/such/route").await.0, 404);
    // The socket's end is counted once the server has seen the close.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let after = loop {
        let after = scrape(&target).await;
        let closed = after
            .get("misakey_box_socket_closes_total{code=\"client\"}")
            .copied();
        if closed.unwrap_or(0.0) >= 1.0 || tokio::time::Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    let moved = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let contact_route = "route=\"/box-users/:id/contact\"";
    let expected = [
        (
            "misakey_box_contacts_total{outcome=\"created\"}".to_owned(),
            1.0,
        ),
        (
            "misakey_box_contacts_total{outcome=\"conflict\"}".to_owned(),
            1.0,
        ),
        (
            format!("misakey_box_http_requests_total{{{contact_route},status=\"201\"}}"),
            1.0,
        ),
        (
            format!("misakey_box_http_requests_total{{{contact_route},status=\"409\"}}"),
            1.0,
        ),
        (
            "misakey_box_http_requests_total{route=\"/box-users/:id/ws\",status=\"101\"}"
                .to_owned(),
            1.0,
        ),
        (
            "misakey_box_http_requests_total{route=\"unknown\",status=\"404\"}".to_owned(),
            1.0,
        ),
        (
            format!("misakey_box_http_request_duration_seconds_count{{{contact_route}}}"),
            2.0,
        ),
        ("misakey_box_sockets_opened_total{}".to_owned(), 1.0),
        ("misakey_box_sockets_open{}".to_owned(), 0.0),
        (
            "misakey_box_socket_closes_total{code=\"client\"}".to_owned(),
            1.0,
        ),
        (
            "misakey_box_frames_sent_total{type=\"notification\"}".to_owned(),
            1.0,
        ),
        (
            "misakey_box_frames_sent_total{type=\"ack\"}".to_owned(),
            1.0,
        ),
        ("misakey_box_frames_received_total{}".to_owned(), 2.0),
        (
            "misakey_box_socket_acks_total{reset=\"not_needed\"}".to_owned(),
            1.0,
        ),
        (
            "misakey_box_socket_acks_total{reset=\"written\"}".to_owned(),
            0.0,
        ),
    ];
    let measured: Vec<(String, f64)> = expected
        .iter()
        .map(|(name, _)| (name.clone(), moved(name)))
        .collect();
    assert_eq!(measured, expected.to_vec(), "what moved:\n{after:#?}");
}
