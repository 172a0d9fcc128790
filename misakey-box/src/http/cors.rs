//! CORS for the allowed origins (`docs/protocol.md`, "Browsers"): the web app of another origin
//! calls the API with its cookies and the CSRF header.
//!
//! Written here rather than taken from `tower-http`'s `CorsLayer` (whose behaviour it follows:
//! the origin echoed from an exact allow-list, credentials, `Vary`, no headers at all for
//! another origin) because the decision must live in the one HTTP layer that every frontend
//! calls, which is not a tower service, and because the preflight must answer with the methods
//! of the route table for that path, which a layer in front of the routes cannot know.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::HttpSettings;

/// How long a browser may keep a preflight's answer, in seconds.
pub const PREFLIGHT_MAX_AGE_SECONDS: u32 = 600;

/// The request's `Origin`, when it is one of the allowed origins.
pub(super) fn allowed_origin(headers: &HeaderMap, settings: &HttpSettings) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    settings
        .allowed_origins
        .iter()
        .any(|allowed| allowed == text)
        .then(|| origin.clone())
}

/// Whether `method` and `headers` make a CORS preflight (an `OPTIONS` naming the method the
/// browser wants to send).
pub(super) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The answer to `OPTIONS` on a path served with `methods`: 204 with `Allow`, and for an
/// allowed origin's preflight, the CORS grant. Another origin gets no CORS header: its
/// browser then refuses to send the request.
pub(super) fn options_response(
    methods: &[&Method],
    preflight_origin: Option<HeaderValue>,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let listed = method_list(methods);
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, listed.clone());
    if let Some(origin) = preflight_origin {
        grant(headers, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, listed);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            // What a browser app sends: a JSON body, the CSRF header, its own request id.
            HeaderValue::from_static("content-type, x-csrf-token, x-request-id"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(PREFLIGHT_MAX_AGE_SECONDS),
        );
    }
    vary(response.headers_mut(), true);
    response
}

/// Adds the CORS headers of an actual (non-preflight) response to an allowed origin.
pub(super) fn decorate(response: &mut Response<Bytes>, origin: Option<HeaderValue>) {
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        grant(headers, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            // What a browser app reads: the size of a list, the id to quote in a report.
            HeaderValue::from_static("x-total-count, x-request-id"),
        );
    }
    vary(headers, false);
}

/// `Allow` (and the preflight's allowed methods): the served methods and `OPTIONS`.
pub(super) fn method_list(methods: &[&Method]) -> HeaderValue {
    let mut names: Vec<&str> = methods.iter().map(|method| method.as_str()).collect();
    if !names.contains(&"OPTIONS") {
        names.push("OPTIONS");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
}

fn grant(headers: &mut HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}

/// Answers differ by `Origin` (and preflights by what they ask), so caches must key on them.
fn vary(headers: &mut HeaderMap, preflight: bool) {
    let value = if preflight {
        "origin, access-control-request-method, access-control-request-headers"
    } else {
        "origin"
    };
    headers.append(header::VARY, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings {
            allowed_origins: vec!["https://app.example.com".to_owned()],
            ..HttpSettings::default()
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    fn as_pairs(response: &Response<Bytes>) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn only_an_origin_of_the_list_is_allowed_and_it_is_compared_exactly() {
        let settings = settings();
        let allowed = headers(&[("origin", "https://app.example.com")]);
        assert_eq!(
            allowed_origin(&allowed, &settings),
            Some(HeaderValue::from_static("https://app.example.com"))
        );
        for other in [
            "https://evil.example.com",
            "https://app.example.com.evil.net",
            "http://app.example.com",
            "null",
            "*",
        ] {
            let mut request = HeaderMap::new();
            request.insert(header::ORIGIN, HeaderValue::from_static(other));
            assert_eq!(allowed_origin(&request, &settings), None, "{other}");
        }
        assert_eq!(allowed_origin(&HeaderMap::new(), &settings), None);
    }

    #[test]
    fn a_preflight_of_an_allowed_origin_is_granted_with_the_paths_methods() {
        let response = options_response(
            &[&Method::POST],
            Some(HeaderValue::from_static("https://app.example.com")),
        );
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            as_pairs(&response),
            owned(&[
                ("allow", "POST, OPTIONS"),
                ("access-control-allow-origin", "https://app.example.com"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "POST, OPTIONS"),
                (
                    "access-control-allow-headers",
                    "content-type, x-csrf-token, x-request-id"
                ),
                ("access-control-max-age", "600"),
                (
                    "vary",
                    "origin, access-control-request-method, access-control-request-headers"
                ),
            ])
        );
        assert!(response.body().is_empty());
    }

    #[test]
    fn another_origins_preflight_gets_no_cors_header() {
        let response = options_response(&[&Method::GET, &Method::HEAD], None);
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            as_pairs(&response),
            owned(&[
                ("allow", "GET, HEAD, OPTIONS"),
                (
                    "vary",
                    "origin, access-control-request-method, access-control-request-headers"
                ),
            ])
        );
    }

    #[test]
    fn actual_responses_expose_the_headers_a_client_reads_to_allowed_origins_only() {
        let mut granted = Response::new(Bytes::new());
        decorate(
            &mut granted,
            Some(HeaderValue::from_static("https://app.example.com")),
        );
        assert_eq!(
            as_pairs(&granted),
            owned(&[
                ("access-control-allow-origin", "https://app.example.com"),
                ("access-control-allow-credentials", "true"),
                (
                    "access-control-expose-headers",
                    "x-total-count, x-request-id"
                ),
                ("vary", "origin"),
            ])
        );
        let mut refused = Response::new(Bytes::new());
        decorate(&mut refused, None);
        assert_eq!(as_pairs(&refused), owned(&[("vary", "origin")]));
    }

    #[test]
    fn a_preflight_names_the_method_it_asks_for() {
        let asks = headers(&[("access-control-request-method", "POST")]);
        assert!(is_preflight(&Method::OPTIONS, &asks));
        assert!(!is_preflight(&Method::OPTIONS, &HeaderMap::new()));
        assert!(!is_preflight(&Method::POST, &asks));
    }
}
