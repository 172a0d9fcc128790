//! Connects to a running server's socket with a token and prints every update, reconnecting
//! with exponential backoff when the connection drops (the small tool an operator keeps at
//! hand).
//!
//! Run: `cargo run -p misakey-box-examples --example socket_listener -- ws://127.0.0.1:8080/box-users/ID/ws TOKEN`

use std::time::Duration;

use futures::StreamExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Listens once, until the socket ends. `Ok` if the socket was open at some point.
async fn listen(url: &str, token: &str) -> Result<(), String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad URL {url}: {e}"))?;
    let cookie = HeaderValue::from_str(&format!("accesstoken={token}; tokentype=bearer"))
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert("Cookie", cookie);
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|error| match error {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                format!("refused: {} {body}", response.status())
            }
            other => format!("cannot connect: {other}"),
        })?;
    eprintln!("connected to {url}");
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(update) => println!(
                    "{}",
                    serde_json::to_string_pretty(&update).unwrap_or_else(|_| text.to_string())
                ),
                Err(_) => println!("{text}"),
            },
            Ok(Message::Close(frame)) => {
                eprintln!("closed by the server: {frame:?}");
                break;
            }
            Ok(_) => {} // pings are answered by tungstenite
            Err(error) => {
                eprintln!("connection lost: {error}");
                break;
            }
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, token] = args.as_slice() else {
        eprintln!("usage: socket_listener ws://HOST:PORT/box-users/IDENTITY_ID/ws ACCESS_TOKEN");
        std::process::exit(2);
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::select! {
            outcome = listen(url, token) => match outcome {
                // It was connected: the next failure starts the backoff over.
                Ok(()) => backoff = FIRST_BACKOFF,
                Err(error) => eprintln!("{error}"),
            },
            _ = tokio::signal::ctrl_c() => return,
        }
        eprintln!("reconnecting in {backoff:?}");
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = tokio::signal::ctrl_c() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
