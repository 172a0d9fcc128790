//! poem's WebSocket as the core's frame stream and sink.

use futures::{FutureExt as _, SinkExt as _, StreamExt as _};
use misakey_box::http::SocketUpgrade;
use misakey_box::socket::{ClientFrame, ServerFrame, SocketSettings};
use poem::web::websocket::{Message, WebSocket, WebSocketConfig};
use poem::{IntoResponse as _, Response};

/// Upgrades the connection and runs the socket on it.
pub(crate) fn upgrade(websocket: WebSocket, socket: SocketUpgrade) -> Response {
    let config = library_config(socket.settings());
    // Boxed, and the socket's future returned as it is rather than awaited in an async block
    // of ours: poem's task keeps its callback's space, and an async block would keep the
    // stream's and the upgrade's (about 600 bytes), for as long as the socket is open.
    let socket = Box::new(socket);
    websocket
        .config(config)
        .on_upgrade(move |stream| {
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
            socket.run(incoming, Box::pin(outgoing)).map(drop)
        })
        .into_response()
}

fn library_config(settings: &SocketSettings) -> WebSocketConfig {
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
