//! The single checks of the HTTP layer (`docs/protocol.md`, "Authentication" and "Errors") as plain
//! functions over header, cookie and query values; [`super::HttpApi`] applies them in the
//! documented order.

use base64::Engine as _;
use uuid::Uuid;

use crate::Credentials;
use crate::error::{Detail, Error, ErrorCode, Origin};

/// Cookie carrying the access token.
pub const ACCESS_TOKEN_COOKIE: &str = "accesstoken";
/// Cookie carrying the token type (`bearer`).
pub const TOKEN_TYPE_COOKIE: &str = "tokentype";
/// Cookie carrying the CSRF token (double submit: the header repeats it).
pub const CSRF_COOKIE: &str = "csrftoken";
/// Header repeating the CSRF token on unsafe requests (lowercase, as HTTP/2 writes it).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

fn csrf_error(detail: Detail) -> Error {
    Error::new(
        ErrorCode::Forbidden,
        Origin::Headers,
        format!("X-CSRF-Token header {}", detail.as_str()),
    )
    .with_detail(CSRF_HEADER, detail)
}

/// Double-submit check: the `X-CSRF-Token` header must be present and equal the `csrftoken`
/// cookie (compared in constant time).
pub(crate) fn check_csrf(header: Option<&str>, cookie: Option<&str>) -> Result<(), Error> {
    let header = header.unwrap_or_default();
    if header.is_empty() {
        return Err(csrf_error(Detail::Required));
    }
    match cookie {
        Some(cookie) if constant_time_eq(cookie.as_bytes(), header.as_bytes()) => Ok(()),
        _ => Err(csrf_error(Detail::Invalid)),
    }
}

/// Compares without stopping at the first difference, so timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A fresh CSRF token: 32 bytes from two UUIDv4 (244 random bits), unpadded URL-safe base64.
pub(crate) fn new_csrf_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// WebSocket handshakes: an `Origin` must be one of `allowed` (exact match), so that pages of
/// other sites cannot open sockets with the user's cookies; no `Origin` (not a browser) passes.
pub(crate) fn check_origin(origin: Option<&[u8]>, allowed: &[String]) -> Result<(), Error> {
    match origin {
        None => Ok(()),
        Some(origin) if allowed.iter().any(|allowed| allowed.as_bytes() == origin) => Ok(()),
        Some(_) => Err(Error::new(
            ErrorCode::Forbidden,
            Origin::Headers,
            "this Origin may not open sockets",
        )
        .with_detail("origin", Detail::Forbidden)),
    }
}

/// The body must be declared `application/json` (parameters such as `charset` allowed).
pub(crate) fn check_json_content_type(content_type: Option<&str>) -> Result<(), Error> {
    let essence = content_type.map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        None => Err(Error::new(
            ErrorCode::BadRequest,
            Origin::Headers,
            "Content-Type application/json is required",
        )
        .with_detail("content-type", Detail::Required)),
        Some(_) => Err(Error::new(
            ErrorCode::BadRequest,
            Origin::Headers,
            "the body must be application/json",
        )
        .with_detail("content-type", Detail::Invalid)),
    }
}

/// Parses a JSON body.
pub(crate) fn parse_json_body(bytes: &[u8]) -> Result<serde_json::Value, Error> {
    serde_json::from_slice(bytes).map_err(|error| {
        Error::new(
            ErrorCode::BadRequest,
            Origin::Body,
            format!("the body is not valid JSON: {error}"),
        )
    })
}

/// A body over `limit` bytes.
pub(crate) fn body_too_large(limit: usize) -> Error {
    Error::new(
        ErrorCode::RequestEntityTooLarge,
        Origin::Body,
        format!("the body exceeds {limit} bytes"),
    )
}

/// A body that could not be read.
pub(crate) fn unreadable_body(reason: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorCode::BadRequest,
        Origin::Body,
        format!("cannot read the body: {reason}"),
    )
}

/// No route for this method and path.
pub(crate) fn no_such_route() -> Error {
    Error::new(ErrorCode::NotFound, Origin::NotDefined, "no such route")
}

/// A known path asked with a method it is not served with (the response adds `Allow`).
pub(crate) fn method_not_allowed(method: &http::Method, served: &[&http::Method]) -> Error {
    let served: Vec<&str> = served.iter().map(|method| method.as_str()).collect();
    Error::new(
        ErrorCode::MethodNotAllowed,
        Origin::NotDefined,
        format!(
            "{method} is not served on this path (it serves {})",
            served.join(", ")
        ),
    )
}

/// A handshake of an identity that already holds `limit` open sockets.
pub(crate) fn too_many_sockets(limit: usize) -> Error {
    Error::new(
        ErrorCode::TooManyRequests,
        Origin::NotDefined,
        format!("this identity already holds {limit} open sockets, the most allowed"),
    )
}

/// The first value of the query parameter `name`, percent-decoded.
pub(crate) fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The query parameter `name` as a non-negative integer; `None` when absent, a 400 on the
/// query (`{name: "malformed"}`) when it is anything else.
pub(crate) fn non_negative(query: Option<&str>, name: &str) -> Result<Option<u64>, Error> {
    let Some(value) = query_value(query, name) else {
        return Ok(None);
    };
    let digits_only = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u64>() {
        Ok(number) if digits_only => Ok(Some(number)),
        _ => Err(Error::new(
            ErrorCode::BadRequest,
            Origin::Query,
            format!("{name} must be a non-negative integer"),
        )
        .with_detail(name, Detail::Malformed)),
    }
}

/// `offset` and `limit` of a list's query.
pub(crate) fn paging(query: Option<&str>) -> Result<super::Paging, Error> {
    use super::Paging;
    let offset = non_negative(query, "offset")?.unwrap_or(0);
    let limit = non_negative(query, "limit")?.unwrap_or(Paging::DEFAULT_LIMIT);
    if limit > Paging::MAX_LIMIT {
        return Err(Error::new(
            ErrorCode::BadRequest,
            Origin::Query,
            format!("limit must be at most {}", Paging::MAX_LIMIT),
        )
        .with_detail("limit", Detail::Invalid));
    }
    Ok(Paging { offset, limit })
}

/// `/accounts/{account_id}/...` is the caller's own account only.
pub(crate) fn check_own_account(caller: &crate::Caller, account: uuid::Uuid) -> Result<(), Error> {
    match caller.account_id {
        Some(own) if own == account => Ok(()),
        Some(_) => Err(Error::new(
            ErrorCode::Forbidden,
            Origin::NotDefined,
            "the account in the path is not the caller's",
        )),
        None => Err(Error::new(
            ErrorCode::Forbidden,
            Origin::NotDefined,
            "the caller has no account",
        )
        .with_detail("account_id", Detail::Forbidden)),
    }
}

/// A path segment that must be a UUID.
pub(crate) fn path_uuid(name: &str, value: &str) -> Result<uuid::Uuid, Error> {
    crate::validation::parse_uuid(value).ok_or_else(|| {
        Error::new(
            ErrorCode::BadRequest,
            Origin::Path,
            format!("the {name} in the path must be a UUID"),
        )
        .with_detail(name, Detail::Malformed)
    })
}

/// The `since` of a socket URL's query (`?since=N`, N >= 0): where a resuming client left off.
pub(crate) fn since_from_query(query: Option<&str>) -> Result<Option<u64>, Error> {
    non_negative(query, "since")
}

/// A request to a socket route that is not a WebSocket handshake.
pub(crate) fn websocket_upgrade_required() -> Error {
    Error::new(
        ErrorCode::BadRequest,
        Origin::Headers,
        "a WebSocket upgrade is required",
    )
    .with_detail("upgrade", Detail::Required)
}

/// The cookies of a request (every `Cookie` header, percent-decoded as browsers encode them).
#[derive(Debug, Default)]
pub(crate) struct Cookies {
    pairs: Vec<(String, String)>,
}

impl Cookies {
    pub(crate) fn from_headers(headers: &http::HeaderMap) -> Self {
        let pairs = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| cookie::Cookie::split_parse_encoded(value.to_owned()))
            .filter_map(Result::ok)
            .map(|cookie| (cookie.name().to_owned(), cookie.value().to_owned()))
            .collect();
        Self { pairs }
    }

    /// The value of the first cookie named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `accesstoken` and `tokentype` cookies.
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            access_token: self.get(ACCESS_TOKEN_COOKIE),
            token_type: self.get(TOKEN_TYPE_COOKIE),
        }
    }
}

/// Reads a body of at most `limit` bytes.
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<bytes::Bytes, Error>
where
    B: http_body::Body<Data = bytes::Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(body_too_large(limit)),
        Err(error) => Err(unreadable_body(error)),
    }
}

/// Whether a handshake asks for a WebSocket (`Upgrade: websocket`, with a key); the framework
/// checks the rest of the handshake when it upgrades.
pub(crate) fn asks_for_websocket(headers: &http::HeaderMap) -> bool {
    let upgrade = headers
        .get_all(http::header::UPGRADE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("websocket"));
    upgrade && headers.contains_key(http::header::SEC_WEBSOCKET_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csrf_needs_a_header_equal_to_the_cookie() {
        assert_eq!(check_csrf(Some("abc"), Some("abc")), Ok(()));
        let missing = check_csrf(None, Some("abc")).unwrap_err();
        assert_eq!(
            missing.to_json(),
            json!({"code": "forbidden", "origin": "headers", "desc": "X-CSRF-Token header required", "details": {"x-csrf-token": "required"}})
        );
        assert_eq!(check_csrf(Some(""), Some("abc")), Err(missing));
        let invalid = check_csrf(Some("abd"), Some("abc")).unwrap_err();
        assert_eq!(invalid.details()["x-csrf-token"], "invalid");
        assert_eq!(check_csrf(Some("abc"), None), Err(invalid.clone()));
        assert_eq!(check_csrf(Some("abc"), Some("abcd")), Err(invalid));
    }

    #[test]
    fn csrf_tokens_are_fresh_and_url_safe() {
        let (a, b) = (new_csrf_token(), new_csrf_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{a}"
        );
    }

    #[test]
    fn origin_must_match_exactly_when_present() {
        let allowed = vec!["https://app.example.com".to_owned()];
        assert_eq!(check_origin(None, &allowed), Ok(()));
        assert_eq!(
            check_origin(Some(b"https://app.example.com"), &allowed),
            Ok(())
        );
        for origin in [
            &b"https://app.example.com.evil"[..],
            b"http://app.example.com",
            b"null",
        ] {
            assert_eq!(
                check_origin(Some(origin), &allowed).unwrap_err().details()["origin"],
                "forbidden"
            );
        }
        assert!(check_origin(Some(b"https://app.example.com"), &[]).is_err());
    }

    #[test]
    fn content_type_must_be_json() {
        assert_eq!(check_json_content_type(Some("application/json")), Ok(()));
        assert_eq!(
            check_json_content_type(Some("Application/JSON; charset=utf-8")),
            Ok(())
        );
        assert_eq!(
            check_json_content_type(None).unwrap_err().details()["content-type"],
            "required"
        );
        assert_eq!(
            check_json_content_type(Some("text/plain"))
                .unwrap_err()
                .details()["content-type"],
            "invalid"
        );
    }

    #[test]
    fn since_is_a_non_negative_integer() {
        assert_eq!(since_from_query(None), Ok(None));
        assert_eq!(since_from_query(Some("other=1")), Ok(None));
        assert_eq!(since_from_query(Some("since=0")), Ok(Some(0)));
        assert_eq!(since_from_query(Some("a=b&since=42")), Ok(Some(42)));
        let malformed = json!({"code": "bad_request", "origin": "query", "desc": "since must be a non-negative integer", "details": {"since": "malformed"}});
        for bad in [
            "since=",
            "since=-1",
            "since=+1",
            "since=1.5",
            "since=x",
            "since=99999999999999999999999",
        ] {
            assert_eq!(
                since_from_query(Some(bad)).unwrap_err().to_json(),
                malformed,
                "{bad}"
            );
        }
    }

    #[test]
    fn json_bodies() {
        assert_eq!(parse_json_body(b"{\"a\":1}"), Ok(json!({"a": 1})));
        assert_eq!(
            parse_json_body(b"{").unwrap_err().to_json(),
            json!({"code": "bad_request", "origin": "body", "desc": "the body is not valid JSON: EOF while parsing an object at line 1 column 1", "details": {}})
        );
        assert_eq!(
            body_too_large(10).to_json()["code"],
            "request_entity_too_large"
        );
    }
}
