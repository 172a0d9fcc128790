//! A small client of the wire protocol: HTTP calls with cookies and CSRF, and sockets.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::ConformanceTarget;

/// How long any single expected answer or frame may take before a check fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The authentication cookies a request carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Auth<'a> {
    /// `accesstoken` cookie.
    pub token: Option<&'a str>,
    /// `tokentype` cookie.
    pub token_type: Option<&'a str>,
}

impl<'a> Auth<'a> {
    /// `accesstoken=token; tokentype=bearer`.
    pub fn bearer(token: &'a str) -> Self {
        Self {
            token: Some(token),
            token_type: Some("bearer"),
        }
    }

    fn cookies(&self) -> Vec<String> {
        let mut cookies = Vec::new();
        if let Some(token) = self.token {
            cookies.push(format!("accesstoken={token}"));
        }
        if let Some(kind) = self.token_type {
            cookies.push(format!("tokentype={kind}"));
        }
        cookies
    }
}

/// What a contact request does about CSRF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csrf {
    /// Fetches `/csrf` and sends its cookie and the matching header.
    Valid,
    /// Sends the cookie but no header.
    Missing,
    /// Sends the cookie and a header that does not match it.
    Wrong,
}

/// A status and a JSON body (`Value::Null` if the body is not JSON).
pub type Answer = (u16, Value);

/// The answer, after checking it against the server's OpenAPI document.
async fn answer(
    target: &ConformanceTarget,
    method: &str,
    path: &str,
    response: reqwest::Response,
) -> Answer {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("response body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    super::openapi_check::check_answer(target, method, path, status, &body).await;
    (status, body)
}

/// `GET path` on the target.
pub async fn get(target: &ConformanceTarget, path: &str) -> Answer {
    let response = reqwest::Client::new()
        .get(target.url(path))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("GET");
    answer(target, "GET", path, response).await
}

/// A CSRF token and the `csrftoken` cookie carrying it, from `GET /csrf`.
pub async fn csrf_token(target: &ConformanceTarget) -> (String, String) {
    let response = reqwest::Client::new()
        .get(target.url("/csrf"))
        .timeout(PATIENCE)
        .send()
        .await
        .expect("GET /csrf");
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("csrftoken="))
        .and_then(|value| value.split(';').next())
        .expect("GET /csrf sets the csrftoken cookie")
        .to_owned();
    let (status, body) = answer(target, "GET", "/csrf", response).await;
    assert_eq!(status, 200, "GET /csrf: {body}");
    let token = body["csrf_token"]
        .as_str()
        .expect("csrf_token in the body")
        .to_owned();
    assert_eq!(
        cookie,
        format!("csrftoken={token}"),
        "the cookie carries the token of the body"
    );
    (token, cookie)
}

/// `POST /box-users/{path_id}/contact` with full control over every part.
pub async fn post_contact_raw(
    target: &ConformanceTarget,
    path_id: &str,
    auth: Auth<'_>,
    csrf: Csrf,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let path = format!("/box-users/{path_id}/contact");
    post_raw(target, &path, auth, csrf, content_type, body).await
}

/// `method path` with the authentication cookies of `auth`, and, for unsafe methods, a CSRF
/// token as `csrf` says; `body` is sent as `application/json` when given.
pub async fn request(
    target: &ConformanceTarget,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    csrf: Csrf,
    body: Option<&Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut cookies = auth.cookies();
    let mut request = reqwest::Client::new()
        .request(method.clone(), target.url(path))
        .timeout(PATIENCE);
    if !method.is_safe() {
        let (token, csrf_cookie) = csrf_token(target).await;
        cookies.push(csrf_cookie);
        match csrf {
            Csrf::Valid => request = request.header("X-CSRF-Token", token),
            Csrf::Wrong => request = request.header("X-CSRF-Token", format!("{token}x")),
            Csrf::Missing => {}
        }
    }
    if !cookies.is_empty() {
        request = request.header(reqwest::header::COOKIE, cookies.join("; "));
    }
    if let Some(body) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).expect("JSON"));
    }
    let response = request.send().await.expect("request");
    answer(target, method.as_str(), path, response).await
}

/// `HEAD path` by `auth`: the status and the `X-Total-Count` header, if any.
pub async fn head_count(
    target: &ConformanceTarget,
    path: &str,
    auth: Auth<'_>,
) -> (u16, Option<u64>) {
    let response = reqwest::Client::new()
        .head(target.url(path))
        .timeout(PATIENCE)
        .header(reqwest::header::COOKIE, auth.cookies().join("; "))
        .send()
        .await
        .expect("HEAD");
    let count = response
        .headers()
        .get("x-total-count")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let (status, _) = answer(target, "HEAD", path, response).await;
    (status, count)
}

/// `POST path` with full control over every part.
pub async fn post_raw(
    target: &ConformanceTarget,
    path: &str,
    auth: Auth<'_>,
    csrf: Csrf,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Answer {
    let (token, csrf_cookie) = csrf_token(target).await;
    let mut cookies = auth.cookies();
    cookies.push(csrf_cookie);
    let mut request = reqwest::Client::new()
        .post(target.url(path))
        .timeout(PATIENCE)
        .header(reqwest::header::COOKIE, cookies.join("; "))
        .body(body);
    match csrf {
        Csrf::Valid => request = request.header("X-CSRF-Token", token),
        Csrf::Wrong => request = request.header("X-CSRF-Token", format!("{token}x")),
        Csrf::Missing => {}
    }
    if let Some(content_type) = content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    answer(target, "POST", path, request.send().await.expect("POST")).await
}

/// A status, the response headers (names lowercase, sorted, values joined by `, ` when
/// repeated) and a JSON body (`Value::Null` if none).
pub type AnswerWithHeaders = (u16, Vec<(String, String)>, Value);

/// `method path` with `headers` (no cookies unless given): the whole answer, headers
/// included, for the checks of routing and CORS.
pub async fn with_headers(
    target: &ConformanceTarget,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> AnswerWithHeaders {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = reqwest::Client::new()
        .request(method.clone(), target.url(path))
        .timeout(PATIENCE);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let mut names: Vec<String> = response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .collect();
    names.sort();
    names.dedup();
    let headers = names
        .into_iter()
        .map(|name| {
            let values: Vec<&str> = response
                .headers()
                .get_all(name.as_str())
                .iter()
                .map(|value| value.to_str().expect("a text header"))
                .collect();
            let joined = values.join(", ");
            (name, joined)
        })
        .collect();
    let (status, body) = answer(target, method.as_str(), path, response).await;
    (status, headers, body)
}

/// A well-formed contact request by `token`'s identity `caller`.
pub async fn post_contact(
    target: &ConformanceTarget,
    token: &str,
    caller: Uuid,
    body: &Value,
) -> Answer {
    let bytes = serde_json::to_vec(body).expect("JSON");
    post_contact_raw(
        target,
        &caller.to_string(),
        Auth::bearer(token),
        Csrf::Valid,
        Some("application/json"),
        bytes,
    )
    .await
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An open socket of the client.
#[derive(Debug)]
pub struct Socket {
    stream: Stream,
}

/// Opens `/box-users/{path_id}/ws`; a refused handshake is its status and JSON body.
pub async fn open_socket(
    target: &ConformanceTarget,
    path_id: &str,
    auth: Auth<'_>,
    origin: Option<&str>,
) -> Result<Socket, Answer> {
    open_socket_with_receive_buffer(target, path_id, auth, origin, None).await
}

/// Opens `/box-users/{path_id}/ws?since={since}`: resumes after position `since`.
pub async fn open_socket_resuming(
    target: &ConformanceTarget,
    path_id: &str,
    auth: Auth<'_>,
    since: &str,
) -> Result<Socket, Answer> {
    open_socket_at(
        target,
        &format!("/box-users/{path_id}/ws?since={since}"),
        auth,
        None,
        None,
    )
    .await
}

/// [`open_socket`], optionally with a small kernel receive buffer so that a client that does
/// not read pushes back on the server quickly.
pub async fn open_socket_with_receive_buffer(
    target: &ConformanceTarget,
    path_id: &str,
    auth: Auth<'_>,
    origin: Option<&str>,
    receive_buffer: Option<u32>,
) -> Result<Socket, Answer> {
    open_socket_at(
        target,
        &format!("/box-users/{path_id}/ws"),
        auth,
        origin,
        receive_buffer,
    )
    .await
}

async fn open_socket_at(
    target: &ConformanceTarget,
    path: &str,
    auth: Auth<'_>,
    origin: Option<&str>,
    receive_buffer: Option<u32>,
) -> Result<Socket, Answer> {
    let url = target.ws_url(path);
    let mut request = url.as_str().into_client_request().expect("socket URL");
    let cookies = auth.cookies().join("; ");
    if !cookies.is_empty() {
        request.headers_mut().insert(
            "Cookie",
            HeaderValue::from_str(&cookies).expect("cookie header"),
        );
    }
    if let Some(origin) = origin {
        request.headers_mut().insert(
            "Origin",
            HeaderValue::from_str(origin).expect("origin header"),
        );
    }
    let address = format!(
        "{}:{}",
        request.uri().host().expect("host"),
        request.uri().port_u16().expect("port")
    );
    let address = tokio::net::lookup_host(address)
        .await
        .expect("address")
        .next()
        .expect("one address");
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .expect("socket");
    if let Some(size) = receive_buffer {
        socket.set_recv_buffer_size(size).expect("receive buffer");
    }
    let tcp = tokio::time::timeout(PATIENCE, socket.connect(address))
        .await
        .expect("connect in time")
        .expect("connect");
    let handshake = tokio::time::timeout(
        PATIENCE,
        tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp)),
    )
    .await
    .expect("handshake in time");
    match handshake {
        Ok((stream, response)) => {
            assert_eq!(response.status().as_u16(), 101);
            Ok(Socket { stream })
        }
        Err(WsError::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            super::openapi_check::check_answer(target, "GET", path, status, &body).await;
            Err((status, body))
        }
        Err(other) => panic!("socket handshake failed: {other}"),
    }
}

/// How a socket ended, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketClosed {
    /// A close frame with this code.
    Code(u16),
    /// The connection ended without a close frame.
    Dropped,
}

impl Socket {
    /// The next update, skipping pings; fails the check if none comes in time or the socket
    /// closes.
    pub async fn next_update(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("an update in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(&text).expect("updates are JSON");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("expected an update, got {other:?}"),
            }
        }
    }

    /// The next update, skipping pings; `None` if the socket ends (closed or dropped) first.
    /// Fails the check if nothing comes in time.
    pub async fn next_update_or_end(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.stream.next())
                .await
                .expect("an update or the end in time");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("updates are JSON"));
                }
                Some(Ok(
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Binary(_),
                )) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
            }
        }
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("send on socket");
    }

    /// Sends a JSON message.
    pub async fn send_json(&mut self, message: &Value) {
        self.send_text(message.to_string()).await;
    }

    /// Reads until the server closes the socket (skipping anything else), within `within`.
    /// Returns the close, and how many text frames came before it.
    pub async fn closed(&mut self, within: Duration) -> (SocketClosed, usize) {
        let mut texts = 0;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let message = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the server closes the socket in time");
            match message {
                Some(Ok(Message::Close(frame))) => {
                    // Keep polling so that tungstenite sends our half of the closing handshake.
                    let rest = async { while self.stream.next().await.is_some() {} };
                    let _ = tokio::time::timeout(PATIENCE, rest).await;
                    return (
                        SocketClosed::Code(frame.map_or(1005, |f| u16::from(f.code))),
                        texts,
                    );
                }
                Some(Ok(Message::Text(_))) => texts += 1,
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return (SocketClosed::Dropped, texts),
            }
        }
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self
            .stream
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "done".into(),
            }))
            .await;
    }
}
