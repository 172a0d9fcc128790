//! The core embedded into [axum]: one fallback handler translates axum's request into the
//! core's [`HttpApi`] and its answer back, and axum's WebSocket into the core's frames. Every
//! route, rule and message is the core's; the conformance suite that checks the poem server
//! checks this one too.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts as _, Request, State};
use axum::response::{IntoResponse as _, Response};
use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use misakey_box::http::{Handled, HttpApi, SocketUpgrade};
use misakey_box::socket::{ClientFrame, ServerFrame, SocketSettings};

/// Every route of `api`, ready to `nest` or serve.
pub fn router(api: HttpApi) -> Router {
    Router::new().fallback(handle).with_state(api)
}

async fn handle(State(api): State<HttpApi>, request: Request) -> Response {
    // axum hands the connection's upgrade through its extractor only.
    let (mut parts, body) = request.into_parts();
    let websocket = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .ok();
    match api.handle(Request::from_parts(parts, body)).await {
        Handled::Respond(response) => response.map(Body::from),
        Handled::Upgrade(socket) => match websocket {
            Some(websocket) => upgrade(websocket, socket),
            None => socket.refuse().map(Body::from),
        },
    }
}

fn upgrade(websocket: WebSocketUpgrade, socket: SocketUpgrade) -> Response {
    let limit = socket.settings().library_message_limit();
    websocket
        .read_buffer_size(SocketSettings::READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(SocketSettings::MAX_WRITE_BUFFER_BYTES)
        .max_message_size(limit)
        .max_frame_size(limit)
        // The socket's future is returned, not awaited in an async block that would keep the
        // space of what it captured while the socket is open.
        .on_upgrade(move |websocket: WebSocket| {
            let (sink, stream) = websocket.split();
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
            socket.run(incoming, Box::pin(outgoing)).map(drop)
        })
        .into_response()
}

fn server_message(frame: ServerFrame) -> Message {
    let close = |code, reason: &str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    match frame {
        ServerFrame::Text(frame) => Message::Text(frame.text().into()),
        ServerFrame::Ping => Message::Ping(Bytes::new()),
        ServerFrame::Close(reason) => close(reason.code(), reason.reason()),
        // `ServerFrame` may grow; an unknown frame is a close rather than a silent drop.
        _ => close(1011, "unexpected frame"),
    }
}
