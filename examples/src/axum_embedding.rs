//! The core embedded into [axum]: cookies, CSRF, the WebSocket upgrade and the error mapping
//! are axum's; every rule and every message comes from `misakey-box` (`BoxService`,
//! `misakey_box::web`, `misakey_box::socket`). The same conformance suite that checks the poem
//! server checks this one.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::{
    CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use futures::{SinkExt as _, StreamExt as _};
use misakey_box::socket::{ClientFrame, ServerFrame, ShutdownSignal, SocketSettings, run_socket};
use misakey_box::web::{
    ACCESS_TOKEN_COOKIE, CSRF_COOKIE, CSRF_HEADER, TOKEN_TYPE_COOKIE, body_too_large, check_csrf,
    check_json_content_type, check_origin, new_csrf_token, no_such_route, parse_json_body,
    since_from_query, unreadable_body, websocket_upgrade_required,
};
use misakey_box::{BoxService, Caller, Credentials, Error};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The core, with its ports chosen.
    pub service: BoxService,
    /// `Origin`s allowed to open sockets.
    pub allowed_origins: Arc<Vec<String>>,
    /// Socket timers and limits.
    pub socket: SocketSettings,
    /// Closes sockets on shutdown.
    pub shutdown: ShutdownSignal,
}

/// The core's error as an axum response.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0.to_json())).into_response()
    }
}

/// The routes, ready to `nest` or serve.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/box-users/{id}/contact", post(contact))
        .route("/box-users/{id}/ws", get(socket))
        .route("/csrf", get(csrf))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    no_such_route().into()
}

async fn authorize(state: &AppState, jar: &CookieJar, path_id: &str) -> Result<Caller, Error> {
    let credentials = Credentials {
        access_token: jar.get(ACCESS_TOKEN_COOKIE).map(Cookie::value),
        token_type: jar.get(TOKEN_TYPE_COOKIE).map(Cookie::value),
    };
    state.service.authorize(credentials, path_id).await
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

async fn csrf(jar: CookieJar) -> (CookieJar, Json<serde_json::Value>) {
    let token = new_csrf_token();
    let cookie = Cookie::build((CSRF_COOKIE, token.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict);
    (
        jar.add(cookie),
        Json(serde_json::json!({"csrf_token": token})),
    )
}

async fn contact(
    State(state): State<AppState>,
    Path(id): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &jar, &id).await?;
    check_csrf(
        header_str(&headers, CSRF_HEADER),
        jar.get(CSRF_COOKIE).map(Cookie::value),
    )?;
    check_json_content_type(header_str(&headers, header::CONTENT_TYPE))?;
    let limit = misakey_box::web::MAX_BODY_BYTES;
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        // axum reports an exceeded limit as a length-limit error in the chain.
        if std::error::Error::source(&error)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            body_too_large(limit)
        } else {
            unreadable_body(error)
        }
    })?;
    let created = state
        .service
        .contact(&caller, &parse_json_body(&bytes)?)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn socket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let caller = authorize(&state, &jar, &id).await?;
    check_origin(
        headers.get(header::ORIGIN).map(|value| value.as_bytes()),
        &state.allowed_origins,
    )?;
    let since = since_from_query(query.as_deref())?;
    let upgrade = upgrade.map_err(|_| websocket_upgrade_required())?;
    let session = state.service.socket_session(&caller);
    // Subscribed before answering 101: nothing published after the handshake is missed.
    let subscription = session.subscribe().await?;
    let settings = state.socket;
    let limit = settings.library_message_limit();
    let upgrade = upgrade
        .read_buffer_size(SocketSettings::READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(SocketSettings::MAX_WRITE_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit);
    let shutdown = state.shutdown.clone();
    Ok(upgrade.on_upgrade(move |socket: WebSocket| {
        shutdown.clone().track(async move {
            let (sink, stream) = socket.split();
            let incoming = stream.map(|message| match message {
                Ok(Message::Text(text)) => ClientFrame::Text(text.to_string()),
                Ok(Message::Binary(bytes)) => ClientFrame::Binary(bytes.len()),
                Ok(Message::Ping(_)) => ClientFrame::Ping,
                Ok(Message::Pong(_)) => ClientFrame::Pong,
                Ok(Message::Close(_)) | Err(_) => ClientFrame::Close,
            });
            let outgoing = sink.with(|frame: ServerFrame| {
                futures::future::ready(Ok::<_, axum::Error>(server_message(frame)))
            });
            run_socket(
                session,
                subscription,
                incoming,
                Box::pin(outgoing),
                settings,
                since,
                shutdown.wait(),
            )
            .await;
        })
    }))
}

fn server_message(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Text(frame) => Message::Text(frame.text().into()),
        ServerFrame::Ping => Message::Ping(Bytes::new()),
        ServerFrame::Close(reason) => Message::Close(Some(CloseFrame {
            code: reason.code(),
            reason: reason.reason().into(),
        })),
        _ => Message::Close(Some(CloseFrame {
            code: 1011,
            reason: "unexpected frame".into(),
        })),
    }
}
