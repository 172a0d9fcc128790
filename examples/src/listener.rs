//! Listening to a socket with reconnection: what the `socket_listener` example runs.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// First wait before reconnecting; doubled on each failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between reconnections.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What happened on the socket, for the caller to print.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The socket is open.
    Connected,
    /// An update arrived.
    Update(serde_json::Value),
    /// The socket ended (closed by the server or lost), or could not open.
    Ended(String),
    /// Waiting this long before the next attempt.
    Reconnecting(Duration),
}

/// Listens once, until the socket ends. `Ok` if it was open at some point.
async fn listen_once(
    url: &str,
    token: &str,
    on_event: &mut impl FnMut(Event),
) -> Result<(), String> {
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
    on_event(Event::Connected);
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => {
                let update = serde_json::from_str(&text)
                    .unwrap_or(serde_json::Value::String(text.to_string()));
                on_event(Event::Update(update));
            }
            Ok(Message::Close(frame)) => {
                on_event(Event::Ended(format!("closed by the server: {frame:?}")));
                return Ok(());
            }
            Ok(_) => {} // pings are answered by tungstenite
            Err(error) => {
                on_event(Event::Ended(format!("connection lost: {error}")));
                return Ok(());
            }
        }
    }
    on_event(Event::Ended("connection ended".to_owned()));
    Ok(())
}

/// Listens to `url` with `token`, reconnecting with exponential backoff, until `attempts`
/// connection attempts were made (`None`: for ever).
pub async fn listen(
    url: &str,
    token: &str,
    attempts: Option<usize>,
    mut on_event: impl FnMut(Event),
) {
    let mut backoff = FIRST_BACKOFF;
    let mut made = 0;
    loop {
        match listen_once(url, token, &mut on_event).await {
            // It was connected: the next failure starts the backoff over.
            Ok(()) => backoff = FIRST_BACKOFF,
            Err(error) => on_event(Event::Ended(error)),
        }
        made += 1;
        if attempts.is_some_and(|attempts| made >= attempts) {
            return;
        }
        on_event(Event::Reconnecting(backoff));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
