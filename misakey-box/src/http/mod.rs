//! The HTTP layer: every route of the protocol, written once, for every framework.
//!
//! [`HttpApi`] takes a request in the vocabulary of the [`http`] crate (which poem, axum,
//! hyper, actix's `http` bridge and most Rust servers speak) and answers it. It owns
//! everything of the wire contract: routing (the path relative to where you mount it),
//! cookies, token and ACR, path ids, CSRF, content type, body limit, the order of those checks,
//! the JSON error format, the request id and the request log. A frontend only translates.
//!
//! ## Embed into your own framework
//!
//! You need these names: [`BoxService`] (started with [`BoxService::start`]), [`HttpApi`],
//! [`HttpSettings`], [`Handled`], [`SocketUpgrade`], [`ClientFrame`] and [`ServerFrame`].
//!
//! 1. **Mount one catch-all handler** (a fallback, or a route matching every path under your
//!    prefix). Build an `http::Request` from your framework's request, with the path as seen
//!    below the prefix and a body implementing [`http_body::Body`]`<Data = Bytes>`.
//! 2. **Call [`HttpApi::handle`]**. On [`Handled::Respond`], turn the `http::Response<Bytes>`
//!    back into your framework's response.
//! 3. **On [`Handled::Upgrade`]**, the handshake is already authorised and the caller already
//!    subscribed (nothing published after the 101 is missed). Ask your framework to upgrade,
//!    sized with [`SocketUpgrade::settings`] (read buffer, write buffer, message limit); if it
//!    refuses, answer [`SocketUpgrade::refuse`]. Once upgraded, split the socket, map its
//!    messages to [`ClientFrame`]s and [`ServerFrame`]s to its messages, and run the future
//!    of [`SocketUpgrade::run`]: heartbeats, limits, resume, slow clients and shutdown are
//!    decided there. Return that future from the upgrade callback rather than awaiting it in
//!    an `async` block of your own: the block would keep the space of what it captured (the
//!    framework's socket, the upgrade, some hundreds of bytes) for as long as the socket is open.
//! 4. **Stop** by awaiting [`Running::shutdown`](crate::outbox::Running::shutdown) after your
//!    server stopped accepting: sockets close with 1001 and the outbox hands over cleanly.
//!
//! A new route added to the core then appears in your server with no change on your side. The
//! `misakey-box-poem` crate and the axum example of the repository are such frontends, about
//! a hundred lines each; the conformance suite of `misakey-box-testkit` checks yours over the
//! wire.
//!
//! [`BoxService`]: crate::BoxService
//! [`BoxService::start`]: crate::BoxService::start
//! [`ClientFrame`]: crate::socket::ClientFrame
//! [`ServerFrame`]: crate::socket::ServerFrame

mod cors;
mod openapi;
mod responses;
mod routes;
mod routing;
mod rules;
mod socket;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
/// The `http` crate's types the layer speaks, re-exported for route writers and frontends.
pub use http::{Method, Request, Response, StatusCode};
use tracing::Instrument as _;

pub use cors::PREFLIGHT_MAX_AGE_SECONDS;
pub use responses::{error_response, json_response};
pub use routing::{Access, Paging, PathParams, Route, RouteCall, RouteFuture};
pub use rules::{ACCESS_TOKEN_COOKIE, CSRF_COOKIE, CSRF_HEADER, MAX_BODY_BYTES, TOKEN_TYPE_COOKIE};
pub use socket::SocketUpgrade;

use crate::BoxService;
use crate::error::Error;
use crate::socket::SocketSettings;
use routing::{Action, Found, Lookup};

/// Header carrying the size of a list (on `HEAD` of a list route).
pub const TOTAL_COUNT_HEADER: &str = "x-total-count";

/// Header carrying the request id (reused when the client sends one, else a new UUID).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `Origin`s allowed to open a WebSocket; requests without `Origin` (non-browser clients)
    /// always may. Compared exactly, e.g. `https://app.example.com`.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body (413 above).
    pub max_body_bytes: usize,
    /// Heartbeat, idle timeout, inbound frame limit and send timeout of sockets.
    pub socket: SocketSettings,
    /// Set the `Secure` attribute on the CSRF cookie (behind HTTPS).
    pub secure_cookies: bool,
    /// Open sockets one identity may hold on this server; the handshake of one more is 429
    /// `too_many_requests`.
    pub max_sockets_per_identity: usize,
}

impl HttpSettings {
    /// The default of [`max_sockets_per_identity`](Self::max_sockets_per_identity): many
    /// devices and tabs, not a client reconnecting in a loop.
    pub const DEFAULT_MAX_SOCKETS_PER_IDENTITY: usize = 32;
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            max_body_bytes: MAX_BODY_BYTES,
            socket: SocketSettings::default(),
            secure_cookies: false,
            max_sockets_per_identity: Self::DEFAULT_MAX_SOCKETS_PER_IDENTITY,
        }
    }
}

/// What [`HttpApi::handle`] decided.
#[derive(Debug)]
#[must_use = "the response must be sent, or the socket upgraded"]
pub enum Handled {
    /// Send this response.
    Respond(Response<Bytes>),
    /// An authorised WebSocket handshake: upgrade the connection and run the socket.
    Upgrade(SocketUpgrade),
}

/// The routes of the protocol over one [`BoxService`]: cheap to clone, shared by every
/// request handler of a frontend. See the [module documentation](self) to embed it.
#[derive(Debug, Clone)]
pub struct HttpApi {
    inner: Arc<Inner>,
}

#[derive(Debug, Clone)]
struct Inner {
    service: BoxService,
    settings: Arc<HttpSettings>,
    routes: Vec<Route>,
    /// The OpenAPI document of `routes`, and its JSON as served.
    openapi: (serde_json::Value, Bytes),
}

impl Inner {
    fn new(service: BoxService, settings: Arc<HttpSettings>, routes: Vec<Route>) -> Self {
        let document = openapi::document(&routes, &settings);
        let bytes = Bytes::from(serde_json::to_vec(&document).unwrap_or_default());
        Self {
            service,
            settings,
            routes,
            openapi: (document, bytes),
        }
    }
}

impl HttpApi {
    /// The routes of the protocol (listed in [`openapi`](Self::openapi)) over `service`.
    pub fn new(service: BoxService, settings: HttpSettings) -> Self {
        let inner = Inner::new(service, Arc::new(settings), routes::protocol_routes());
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Adds a route of the host application, served by every frontend with the same
    /// authentication, CSRF, body and error rules as the protocol's own, and listed in the
    /// OpenAPI document.
    #[must_use]
    pub fn with_route(self, route: Route) -> Self {
        let Inner {
            service,
            settings,
            mut routes,
            ..
        } = Arc::unwrap_or_clone(self.inner);
        routes.push(route);
        Self {
            inner: Arc::new(Inner::new(service, settings, routes)),
        }
    }

    /// The OpenAPI 3.1 document of the routes, as `GET /openapi.json` serves it.
    pub fn openapi(&self) -> &serde_json::Value {
        &self.inner.openapi.0
    }

    /// The service the routes run on.
    pub fn service(&self) -> &BoxService {
        &self.inner.service
    }

    /// The settings in use.
    pub fn settings(&self) -> &HttpSettings {
        &self.inner.settings
    }

    /// Answers one request. `request`'s path is relative to where the routes are mounted.
    /// Errors of the body stream are answered 400 (413 past the size limit).
    pub async fn handle<B>(&self, request: Request<B>) -> Handled
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| !id.is_empty() && id.len() <= 200)
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %request_id,
        );
        let cors_origin = cors::allowed_origin(request.headers(), self.settings());
        async move {
            let started = Instant::now();
            let preflight = cors::is_preflight(request.method(), request.headers());
            let mut matched = None;
            let mut handled = match self.route(request, &mut matched).await {
                Ok(handled) => handled,
                Err(error) => Handled::Respond(error_response(&error)),
            };
            match &mut handled {
                Handled::Respond(response) => {
                    if let Ok(value) = http::HeaderValue::from_str(&request_id) {
                        response.headers_mut().insert(REQUEST_ID_HEADER, value);
                    }
                    if !preflight {
                        cors::decorate(response, cors_origin);
                    }
                    tracing::info!(
                        status = response.status().as_u16(),
                        elapsed_us = started.elapsed().as_micros(),
                        "answered"
                    );
                }
                Handled::Upgrade(_) => tracing::info!(
                    elapsed_us = started.elapsed().as_micros(),
                    "upgrading to a socket"
                ),
            }
            let status = match &handled {
                Handled::Respond(response) => response.status().as_u16(),
                Handled::Upgrade(_) => 101,
            };
            let route = matched.unwrap_or_else(|| "unknown".to_owned());
            crate::metrics::http_request(route, status, started.elapsed());
            handled
        }
        .instrument(span)
        .await
    }

    /// Finds the route, checks the request in the documented order and runs it.
    /// `matched` receives the pattern of the path's route, for metrics.
    async fn route<B>(
        &self,
        request: Request<B>,
        matched: &mut Option<String>,
    ) -> Result<Handled, Error>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let Found { route, params } =
            match routing::lookup(&self.inner.routes, &parts.method, parts.uri.path()) {
                Lookup::Found(found) => {
                    *matched = Some(found.route.metric_label());
                    found
                }
                Lookup::UnknownPath => return Err(rules::no_such_route()),
                Lookup::OtherMethods(methods) if parts.method == Method::OPTIONS => {
                    let preflight_origin = cors::is_preflight(&parts.method, &parts.headers)
                        .then(|| cors::allowed_origin(&parts.headers, self.settings()))
                        .flatten();
                    let response = cors::options_response(&methods, preflight_origin);
                    return Ok(Handled::Respond(response));
                }
                Lookup::OtherMethods(methods) => {
                    let mut response =
                        error_response(&rules::method_not_allowed(&parts.method, &methods));
                    response
                        .headers_mut()
                        .insert(http::header::ALLOW, cors::method_list(&methods));
                    return Ok(Handled::Respond(response));
                }
            };
        let cookies = rules::Cookies::from_headers(&parts.headers);
        let caller = match route.access {
            Access::Public => None,
            Access::Authenticated => {
                Some(self.service().authenticate(cookies.credentials()).await?)
            }
            Access::OwnIdentity => {
                let path_id = params.get("id").unwrap_or_default();
                Some(
                    self.service()
                        .authorize(cookies.credentials(), path_id)
                        .await?,
                )
            }
            Access::OwnAccount => {
                let caller = self.service().authenticate(cookies.credentials()).await?;
                let account =
                    rules::path_uuid("account_id", params.get("account_id").unwrap_or_default())?;
                rules::check_own_account(&caller, account)?;
                Some(caller)
            }
        };
        for name in &route.uuid_params {
            rules::path_uuid(name, params.get(name).unwrap_or_default())?;
        }
        let handler = match &route.action {
            Action::Handler(handler) => handler,
            Action::Socket => {
                let caller =
                    caller.ok_or_else(|| Error::internal("a socket route must authorise"))?;
                return socket::handshake(self, caller, &parts)
                    .await
                    .map(Handled::Upgrade);
            }
            Action::OpenApi => {
                let mut response = Response::new(self.inner.openapi.1.clone());
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                return Ok(Handled::Respond(response));
            }
        };
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            rules::check_csrf(
                parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|value| value.to_str().ok()),
                cookies.get(CSRF_COOKIE),
            )?;
        }
        let body = if route.json_body {
            rules::check_json_content_type(
                parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|value| value.to_str().ok()),
            )?;
            let bytes = rules::read_body(body, self.settings().max_body_bytes).await?;
            Some(rules::parse_json_body(&bytes)?)
        } else {
            None
        };
        let call = RouteCall {
            service: self.service().clone(),
            settings: self.inner.settings.clone(),
            caller,
            params,
            query: parts.uri.query().map(str::to_owned),
            body,
        };
        handler(call).await.map(Handled::Respond)
    }
}
