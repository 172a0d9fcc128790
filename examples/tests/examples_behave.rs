//! The examples' shared code: the socket listener's reconnect loop, and the poem application
//! that nests the routes under `/api`.

use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::InProcessBus;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::{BoxService, Config, Ports, Running};
use misakey_box_examples::listener::{Event, listen};
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::post_contact;
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use poem::listener::TcpAcceptor;
use serde_json::json;
use uuid::Uuid;

async fn api(database: &TestDatabase) -> (HttpApi, Running) {
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((**database).clone());
    let (service, running) = BoxService::start(
        Ports::with_storage(storage, Arc::new(InProcessBus::new())),
        Config::new(Uuid::nil()),
    )
    .await;
    (HttpApi::new(service, HttpSettings::default()), running)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_prints_updates_and_reconnects_when_the_server_goes() {
    let database = TestDatabase::sqlite().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (api, running) = api(&database).await;
    let server = tokio::spawn(misakey_box_poem::serve(listener, api, running, async {
        let _ = stopped.await;
    }));
    let target = ConformanceTarget::new(format!("http://{address}"));

    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let url = format!("ws://{address}/box-users/{BOB_ID}/ws");
    let listening = tokio::spawn(async move {
        listen(&url, BOB_TOKEN, Some(2), |event| drop(events.send(event))).await
    });
    assert_eq!(received.recv().await, Some(Event::Connected));
    let (status, created) = post_contact(
        &target,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).build(),
    )
    .await;
    assert_eq!(status, 201);
    match received.recv().await {
        Some(Event::Update(update)) => {
            assert_eq!(update["object"]["details"]["box_id"], created["id"])
        }
        other => panic!("expected the notification, got {other:?}"),
    }

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), listening)
        .await
        .unwrap()
        .unwrap();
    while let Ok(event) = received.try_recv() {
        rest.push(event);
    }
    assert!(
        matches!(&rest[0], Event::Ended(why) if why.contains("Away")),
        "{rest:?}"
    );
    assert_eq!(
        rest[1],
        Event::Reconnecting(misakey_box_examples::listener::FIRST_BACKOFF)
    );
    assert!(
        matches!(&rest[2], Event::Ended(why) if why.starts_with("cannot connect")),
        "{rest:?}"
    );
    assert_eq!(rest.len(), 3, "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poem_application_serves_its_routes_and_the_box_routes_under_api() {
    let database = TestDatabase::sqlite().await;
    let (api, _running) = api(&database).await;
    let app = misakey_box_examples::poem_embedding::app(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        poem::Server::new_with_acceptor(TcpAcceptor::from_tokio(listener).unwrap()).run(app),
    );

    // The application's own route (not in the box routes' OpenAPI document).
    let about = reqwest::get(format!("http://{address}/about"))
        .await
        .unwrap();
    assert_eq!(about.status(), 200);
    assert_eq!(
        about.json::<serde_json::Value>().await.unwrap(),
        json!({"app": "my-app", "boxes": "/api"})
    );
    let api = ConformanceTarget::new(format!("http://{address}/api"));
    assert_eq!(
        post_contact(
            &api,
            ALICE_TOKEN,
            ALICE_ID,
            &ContactRequestBuilder::new(&bob()).build()
        )
        .await
        .0,
        201
    );
    let response = reqwest::get(format!("http://{address}/api/healthz"))
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-served-by"],
        "my-app",
        "the application's middleware wraps the box routes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poem_and_axum_serve_the_same_openapi_document_byte_for_byte() {
    let database = TestDatabase::sqlite().await;
    let (api, _running) = api(&database).await;
    let poem_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let poem_address = poem_listener.local_addr().unwrap();
    tokio::spawn(
        poem::Server::new_with_acceptor(TcpAcceptor::from_tokio(poem_listener).unwrap())
            .run(misakey_box_poem::routes(api.clone())),
    );
    let axum_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_address = axum_listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            axum_listener,
            misakey_box_examples::axum_embedding::router(api),
        )
        .await
    });
    let mut documents = Vec::new();
    for address in [poem_address, axum_address] {
        let response = reqwest::get(format!("http://{address}/openapi.json"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        documents.push(response.bytes().await.unwrap());
    }
    assert_eq!(documents[0], documents[1]);
    let document: serde_json::Value = serde_json::from_slice(&documents[0]).unwrap();
    assert_eq!(
        document["paths"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "/accounts/{account_id}/crypto/actions",
            "/accounts/{account_id}/crypto/actions/{action_id}",
            "/box-key-shares/{other_share_hash}",
            "/box-users/{id}/contact",
            "/box-users/{id}/ws",
            "/boxes/joined",
            "/boxes/{id}",
            "/boxes/{id}/events",
            "/boxes/{id}/members",
            "/csrf",
            "/healthz",
            "/identities/{id}",
            "/identities/{id}/notifications",
            "/identities/{id}/notifications/acknowledgement",
            "/identities/{id}/profile",
            "/openapi.json"
        ]
    );
}
