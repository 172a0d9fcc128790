//! # misakey-box-poem
//!
//! The contact and realtime endpoints of `misakey-box` for [poem], as routes any poem
//! application can nest, and the reference server (`misakey-box-server`).
//!
//! This crate is a thin translation layer: HTTP concerns (cookies, CSRF, `Origin`, status
//! codes, WebSocket frames) live here; every decision lives in the core.
//!
//! | route | handler |
//! |---|---|
//! | `POST /box-users/{id}/contact` | the contact use case, checks in the documented order, 201 with the box view |
//! | `GET /box-users/{id}/ws` (`?since=N` to resume) | the socket: the core's [`run_socket`](misakey_box::socket::run_socket) over poem's WebSocket |
//! | `GET /csrf` | a CSRF token (body and `csrftoken` cookie) |
//! | `GET /healthz` | 200 when storage and bus answer, else 503 |
//! | `GET /openapi.json` | the REST endpoints as OpenAPI 3.0 |
//!
//! ```no_run
//! # async fn run(service: misakey_box::BoxService) -> std::io::Result<()> {
//! use misakey_box_poem::{HttpSettings, ShutdownSignal, routes};
//! use poem::{Route, Server, listener::TcpListener};
//!
//! let app = Route::new().nest("/api", routes(service, HttpSettings::default(), ShutdownSignal::never()));
//! Server::new(TcpListener::bind("127.0.0.1:8080")).run(app).await
//! # }
//! ```

mod auth;
mod contact;
pub mod demo;
mod error;
mod health;
pub mod openapi;
pub mod server;
mod settings;
mod websocket;

use std::sync::Arc;
use std::time::Instant;

use misakey_box::BoxService;
use poem::endpoint::BoxEndpoint;
use poem::middleware::{CookieJarManager, RequestId, ReuseId};
use poem::{Endpoint, EndpointExt as _, IntoEndpoint as _, Response, Route, get, post};
use tracing::Instrument as _;

pub use error::error_response;
pub use misakey_box::socket::{Shutdown, ShutdownSignal};
pub use settings::HttpSettings;

/// What every handler needs.
#[derive(Debug)]
struct AppState {
    service: BoxService,
    settings: HttpSettings,
    shutdown: ShutdownSignal,
}

/// The routes of the table above, ready to `nest` under any prefix. Every error, including
/// unknown routes, answers in the JSON format of DESIGN.md section 4; each request is logged
/// in a span carrying its request id (`X-Request-Id`, reused when the client sends one).
/// Sockets close with 1001 when `shutdown` fires.
pub fn routes(
    service: BoxService,
    settings: HttpSettings,
    shutdown: ShutdownSignal,
) -> BoxEndpoint<'static, Response> {
    let state = Arc::new(AppState {
        service,
        settings,
        shutdown,
    });
    Route::new()
        .at("/box-users/:id/contact", post(contact::contact))
        .at("/box-users/:id/ws", get(websocket::socket))
        .at("/csrf", get(health::csrf))
        .at("/healthz", get(health::healthz))
        .at("/openapi.json", get(openapi::openapi))
        .data(state)
        .with(CookieJarManager::new())
        .catch_all_error(|error| async move { error::from_poem_error(error) })
        .around(|endpoint, request| async move {
            // poem's RequestId middleware already opens a span carrying the request id.
            let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
            async move {
                let started = Instant::now();
                let response = endpoint.get_response(request).await;
                tracing::info!(status = response.status().as_u16(), elapsed_us = started.elapsed().as_micros(), "answered");
                Ok(response)
            }
            .instrument(span)
            .await
        })
        .with(RequestId::default().reuse_id(ReuseId::Use))
        .into_endpoint()
        .map_to_response()
        .boxed()
}
