//! `GET /box-users/{id}/ws`: the handshake checks, then the core's socket driver over poem's
//! WebSocket stream.

use std::sync::{Arc, Mutex, PoisonError};

use futures::{SinkExt as _, StreamExt as _};
use misakey_box::socket::{ClientFrame, ServerFrame, SocketSettings, run_socket};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::web::{Data, Path};
use poem::{FromRequest as _, IntoResponse, Request, Response, handler};

use crate::AppState;
use crate::auth::{authorize, check_origin};
use crate::error::ApiError;

/// Authorises, checks the `Origin` and `since`, subscribes the caller (before answering 101,
/// so that nothing published after the handshake is missed), then runs the socket.
#[handler]
pub(crate) async fn socket(
    req: &Request,
    Path(id): Path<String>,
    Data(state): Data<&Arc<AppState>>,
) -> Result<Response, ApiError> {
    let caller = authorize(state, req, &id).await?;
    check_origin(req, &state.settings.allowed_origins)?;
    let since = misakey_box::web::since_from_query(req.uri().query())?;
    let websocket = WebSocket::from_request_without_body(req)
        .await
        .map_err(|_| misakey_box::web::websocket_upgrade_required())?;
    let session = state.service.socket_session(&caller);
    let subscription = session.subscribe().await?;
    let (settings, shutdown) = (state.settings.socket, state.shutdown.clone());
    // poem wants a `Sync` callback; a subscription stream is only `Send`.
    let subscription = Mutex::new(subscription);
    let upgraded = websocket
        .config(tungstenite_config(&settings))
        .on_upgrade(move |stream| {
            shutdown.clone().track(async move {
                let subscription = subscription
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner);
                let (sink, stream) = stream.split();
                let incoming = stream.map(|message| match message {
                    Ok(message) => client_frame(message),
                    // poem flattens tungstenite's errors into text; its capacity error is the only
                    // one that is the client's oversized frame.
                    Err(error) if error.to_string().starts_with("Space limit exceeded") => {
                        ClientFrame::TooLarge
                    }
                    Err(_) => ClientFrame::Close,
                });
                let outgoing = sink.with(|frame| {
                    futures::future::ready(Ok::<_, std::io::Error>(server_message(frame)))
                });
                let end = run_socket(
                    session,
                    subscription,
                    incoming,
                    Box::pin(outgoing),
                    settings,
                    since,
                    shutdown.wait(),
                )
                .await;
                tracing::debug!(?end, "socket ended");
            })
        });
    Ok(upgraded.into_response())
}

fn tungstenite_config(settings: &SocketSettings) -> WebSocketConfig {
    let limit = Some(settings.library_message_limit());
    WebSocketConfig::default()
        .read_buffer_size(SocketSettings::READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(SocketSettings::MAX_WRITE_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit)
}

fn client_frame(message: Message) -> ClientFrame {
    match message {
        Message::Text(text) => ClientFrame::Text(text),
        Message::Binary(bytes) => ClientFrame::Binary(bytes.len()),
        Message::Ping(_) => ClientFrame::Ping,
        Message::Pong(_) => ClientFrame::Pong,
        Message::Close(_) => ClientFrame::Close,
    }
}

fn server_message(frame: ServerFrame) -> Message {
    match frame {
        ServerFrame::Text(frame) => Message::Text(frame.text().to_owned()),
        ServerFrame::Ping => Message::Ping(Vec::new()),
        ServerFrame::Close(reason) => Message::close_with(reason.code(), reason.reason()),
        // `ServerFrame` may grow; an unknown frame is a close rather than a silent drop.
        _ => Message::close_with(1011u16, "unexpected frame"),
    }
}
