//! # misakey-box-poem
//!
//! The routes of `misakey-box` for [poem], as one endpoint any poem application can nest, and
//! the reference server `misakey-box-server` (feature `server`, on by default).
//!
//! This crate only translates: poem's request becomes an `http` one for the core's
//! [`HttpApi`], which routes and checks it and answers; poem's WebSocket becomes the core's
//! frame stream and sink. Every route of the protocol (listed by
//! [`HttpApi::openapi`](misakey_box::http::HttpApi::openapi)) is served, including routes
//! added to the core later, with no code here.
//!
//! ```no_run
//! # async fn run(ports: misakey_box::Ports) -> std::io::Result<()> {
//! use misakey_box::http::{HttpApi, HttpSettings};
//! use misakey_box::{BoxService, Config};
//! use poem::{Route, listener::TcpListener};
//!
//! let (service, running) = BoxService::start(ports, Config::new(uuid::Uuid::new_v4())).await;
//! let api = HttpApi::new(service, HttpSettings::default());
//! let app = Route::new().nest("/api", misakey_box_poem::routes(api.clone()));
//! // Or, with graceful shutdown of requests, sockets and the outbox:
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! misakey_box_poem::serve(listener, api, running, std::future::pending()).await
//! # }
//! ```

#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod server;
mod websocket;

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use misakey_box::Running;
use misakey_box::http::{Handled, HttpApi};
use poem::endpoint::BoxEndpoint;
use poem::http::header;
use poem::listener::TcpAcceptor;
use poem::web::websocket::WebSocket;
use poem::{Endpoint, EndpointExt as _, FromRequest as _, Request, Response, Server};

/// How long in-flight requests and closing sockets may take once shutdown starts.
pub const GRACEFUL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Every route of `api`, ready to `nest` under any prefix or to serve as the whole app.
pub fn routes(api: HttpApi) -> BoxEndpoint<'static, Response> {
    Frontend { api }.boxed()
}

/// Serves the routes of `api` on `listener` until `shutdown` resolves: sockets then close with
/// 1001, in-flight requests get [`GRACEFUL_SHUTDOWN_TIMEOUT`] to finish, and `running` (the
/// outbox of `api`'s service) shuts down after them.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: HttpApi,
    running: Running,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let stopping = async {
        shutdown.await;
        tracing::info!("shutting down");
        running.close_sockets();
    };
    let served = Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(routes(api), stopping, Some(GRACEFUL_SHUTDOWN_TIMEOUT))
        .await;
    if !running.shutdown(GRACEFUL_SHUTDOWN_TIMEOUT).await {
        tracing::warn!("some sockets did not finish closing in time");
    }
    served
}

/// The one endpoint: translates to and from the core's HTTP layer.
struct Frontend {
    api: HttpApi,
}

impl Endpoint for Frontend {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        // poem hands the connection's upgrade only through its own request type.
        let websocket = if request.headers().contains_key(header::UPGRADE) {
            WebSocket::from_request_without_body(&request).await.ok()
        } else {
            None
        };
        let request: poem::http::Request<http_body_util::combinators::BoxBody<Bytes, _>> =
            request.into();
        Ok(match self.api.handle(request).await {
            Handled::Respond(response) => into_poem(response),
            Handled::Upgrade(socket) => match websocket {
                Some(websocket) => websocket::upgrade(websocket, socket),
                None => into_poem(socket.refuse()),
            },
        })
    }
}

fn into_poem(response: poem::http::Response<Bytes>) -> Response {
    let (parts, body) = response.into_parts();
    let mut response = Response::builder().status(parts.status).body(body);
    *response.headers_mut() = parts.headers;
    response
}
