//! Routes: a method, a path pattern, who may call it, and what answers it; and finding the
//! route of a request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode};

use super::HttpSettings;
use crate::error::Error;
use crate::{BoxService, Caller};

/// What a route handler returns.
pub type RouteFuture = Pin<Box<dyn Future<Output = Result<Response<Bytes>, Error>> + Send>>;

type Handler = Arc<dyn Fn(RouteCall) -> RouteFuture + Send + Sync>;

/// Who may call a route; the checks run in the order of `docs/protocol.md`, "Authentication".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Anyone (no cookies read).
    Public,
    /// Any caller with a valid token of the required ACR.
    Authenticated,
    /// The caller, on its own resources: the `{id}` segment of the pattern must be a UUID (400)
    /// and the token's identity (403).
    OwnIdentity,
    /// The caller's account: the `{account_id}` segment must be a UUID (400) and the token's
    /// account (403; a caller without an account: 403 `{"account_id": "forbidden"}`).
    OwnAccount,
}

/// One route: served by every frontend through [`super::HttpApi`], and described in its
/// OpenAPI document. Unsafe methods (all but `GET`, `HEAD` and `OPTIONS`) need the CSRF
/// header.
#[derive(Clone)]
pub struct Route {
    pub(super) method: Method,
    pub(super) segments: Vec<Segment>,
    pub(super) access: Access,
    pub(super) json_body: bool,
    /// Path segments that must be UUIDs (400 on the path before CSRF and the body).
    pub(super) uuid_params: Vec<String>,
    pub(super) action: Action,
    pub(super) doc: RouteDoc,
}

/// A JSON schema of a type, registered in the document's components.
pub(super) type SchemaOf = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

fn schema_of<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// What the OpenAPI document says of a route beyond what its access, method and body imply
/// (those errors are documented for every route alike).
#[derive(Clone, Default)]
pub(super) struct RouteDoc {
    pub(super) summary: String,
    pub(super) request: Option<SchemaOf>,
    /// Status, description, schema of the body (none: no body).
    pub(super) answers: Vec<(u16, String, Option<SchemaOf>)>,
    /// Status, description and media type of answers whose body is text, not JSON.
    pub(super) text_answers: Vec<(u16, String, String)>,
    /// Error statuses of the route's own rules.
    pub(super) errors: Vec<(u16, String)>,
    /// Query parameters: name, description, schema.
    pub(super) query: Vec<(String, String, serde_json::Value)>,
    /// The success answers carry `X-Total-Count`.
    pub(super) total_count: bool,
}

#[derive(Clone)]
pub(super) enum Action {
    Handler(Handler),
    /// The realtime socket of `/box-users/{id}/ws`.
    Socket,
    /// The OpenAPI document of the routes.
    OpenApi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Literal(String),
    /// `{name}`: any non-empty segment, captured.
    Param(String),
}

impl Route {
    /// A route answering `method` on `pattern` (segments `{name}` capture, e.g.
    /// `/box-users/{id}/contact`) with `handler`.
    pub fn new<F, Fut>(method: Method, pattern: &str, access: Access, handler: F) -> Self
    where
        F: Fn(RouteCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Bytes>, Error>> + Send + 'static,
    {
        Self {
            method,
            segments: parse_pattern(pattern),
            access,
            json_body: false,
            uuid_params: Vec::new(),
            action: Action::Handler(Arc::new(move |call| Box::pin(handler(call)))),
            doc: RouteDoc::default(),
        }
    }

    /// The route takes a JSON body: `Content-Type: application/json`, within the size limit,
    /// parsed, in [`RouteCall::body`] (checked after authentication and CSRF).
    #[must_use]
    pub fn with_json_body(mut self) -> Self {
        self.json_body = true;
        self
    }

    pub(super) fn socket(pattern: &str) -> Self {
        Self {
            method: Method::GET,
            segments: parse_pattern(pattern),
            access: Access::OwnIdentity,
            json_body: false,
            uuid_params: Vec::new(),
            action: Action::Socket,
            doc: RouteDoc::default(),
        }
    }

    pub(super) fn openapi(pattern: &str) -> Self {
        Self {
            method: Method::GET,
            segments: parse_pattern(pattern),
            access: Access::Public,
            json_body: false,
            uuid_params: Vec::new(),
            action: Action::OpenApi,
            doc: RouteDoc::default(),
        }
    }

    /// The path segment `{name}` must be a UUID: else 400 on the path, `{name: "malformed"}`,
    /// checked after authentication and before CSRF; read it with [`RouteCall::uuid`].
    #[must_use]
    pub fn uuid_param(mut self, name: &str) -> Self {
        self.uuid_params.push(name.to_owned());
        self
    }

    /// Documents the route: a one-line summary.
    #[must_use]
    pub fn summary(mut self, summary: &str) -> Self {
        self.doc.summary = summary.to_owned();
        self
    }

    /// Documents the JSON body the route takes (implies [`with_json_body`](Self::with_json_body)).
    #[must_use]
    pub fn request<T: schemars::JsonSchema>(mut self) -> Self {
        self.doc.request = Some(schema_of::<T>);
        self.with_json_body()
    }

    /// Documents a success answer with a JSON body of type `T`.
    #[must_use]
    pub fn answers<T: schemars::JsonSchema>(
        mut self,
        status: StatusCode,
        description: &str,
    ) -> Self {
        self.doc.answers.push((
            status.as_u16(),
            description.to_owned(),
            Some(schema_of::<T>),
        ));
        self
    }

    /// Documents a success answer whose body is text of `media_type` (not JSON).
    #[must_use]
    pub fn answers_text(mut self, status: StatusCode, description: &str, media_type: &str) -> Self {
        self.doc.text_answers.push((
            status.as_u16(),
            description.to_owned(),
            media_type.to_owned(),
        ));
        self
    }

    /// Documents a success answer without a body.
    #[must_use]
    pub fn answers_empty(mut self, status: StatusCode, description: &str) -> Self {
        self.doc
            .answers
            .push((status.as_u16(), description.to_owned(), None));
        self
    }

    /// Documents that the success answers carry the `X-Total-Count` header.
    #[must_use]
    pub fn counted(mut self) -> Self {
        self.doc.total_count = true;
        self
    }

    /// Documents the `offset` and `limit` query parameters of a list (see [`Paging`]).
    #[must_use]
    pub fn paged(self) -> Self {
        self.query(
            "offset",
            "how many items to skip",
            serde_json::json!({"type": "integer", "minimum": 0, "default": 0}),
        )
        .query(
            "limit",
            "how many items at most",
            serde_json::json!({"type": "integer", "minimum": 0, "maximum": Paging::MAX_LIMIT,
                               "default": Paging::DEFAULT_LIMIT}),
        )
        .fails(
            StatusCode::BAD_REQUEST,
            "offset or limit not a non-negative integer, or limit over the maximum",
        )
    }

    /// Documents an error of the route's own rules (those of authentication, CSRF and the
    /// body are documented already), in the error format.
    #[must_use]
    pub fn fails(mut self, status: StatusCode, description: &str) -> Self {
        self.doc
            .errors
            .push((status.as_u16(), description.to_owned()));
        self
    }

    /// Documents a query parameter with its JSON schema.
    #[must_use]
    pub fn query(mut self, name: &str, description: &str, schema: serde_json::Value) -> Self {
        self.doc
            .query
            .push((name.to_owned(), description.to_owned(), schema));
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The names of the segments the pattern captures.
    pub(super) fn path_params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The pattern with `:name` for each capture (`/box-users/:id/contact`): the `route` label
    /// of the metrics (braces trip some Prometheus tooling).
    pub(super) fn metric_label(&self) -> String {
        self.render(|name| format!("/:{name}"))
    }

    /// The path, each capture written by `param`.
    fn render(&self, param: impl Fn(&str) -> String) -> String {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => format!("/{text}"),
                Segment::Param(name) => param(name),
            })
            .collect()
    }

    /// The pattern, as written to [`Route::new`].
    pub fn pattern(&self) -> String {
        self.render(|name| format!("/{{{name}}}"))
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("pattern", &self.pattern())
            .field("access", &self.access)
            .field("json_body", &self.json_body)
            .finish_non_exhaustive()
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(segment.to_owned()),
            },
        )
        .collect()
}

/// The path segments a route captured, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// The segment captured as `{name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Everything a route handler gets, already checked.
#[derive(Debug)]
#[non_exhaustive]
pub struct RouteCall {
    /// The service.
    pub service: BoxService,
    /// The HTTP settings.
    pub settings: Arc<HttpSettings>,
    /// The authenticated caller (`None` on [`Access::Public`] routes).
    pub caller: Option<Caller>,
    /// The captured path segments.
    pub params: PathParams,
    /// The raw query string.
    pub query: Option<String>,
    /// The parsed JSON body, on routes [`with_json_body`](Route::with_json_body).
    pub body: Option<serde_json::Value>,
}

impl RouteCall {
    /// The caller of an authenticated route (an internal error on a public one: a bug).
    pub fn caller(&self) -> Result<&Caller, Error> {
        self.caller
            .as_ref()
            .ok_or_else(|| Error::internal("this route reads a caller but is public"))
    }

    /// The path segment `{name}` as a UUID (400 on the path if it is not one).
    pub fn uuid(&self, name: &str) -> Result<uuid::Uuid, Error> {
        super::rules::path_uuid(name, self.params.get(name).unwrap_or_default())
    }

    /// The query parameters `offset` (default 0) and `limit` (default 50, at most 100).
    pub fn paging(&self) -> Result<Paging, Error> {
        super::rules::paging(self.query.as_deref())
    }

    /// The first value of the query parameter `name`, percent-decoded.
    pub fn query_value(&self, name: &str) -> Option<String> {
        super::rules::query_value(self.query.as_deref(), name)
    }

    /// The JSON body of a route declared [`with_json_body`](Route::with_json_body).
    pub fn body(&self) -> Result<&serde_json::Value, Error> {
        self.body
            .as_ref()
            .ok_or_else(|| Error::internal("this route reads a body but declares none"))
    }
}

/// Which page of a list a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// How many items to skip.
    pub offset: u64,
    /// How many items at most.
    pub limit: u64,
}

impl Paging {
    /// The page size when the request names none.
    pub const DEFAULT_LIMIT: u64 = 50;
    /// The largest page a request may ask for.
    pub const MAX_LIMIT: u64 = 100;
}

/// A route and what its pattern captured.
pub(super) struct Found<'a> {
    pub(super) route: &'a Route,
    pub(super) params: PathParams,
}

/// What the route table holds for a request's method and path.
pub(super) enum Lookup<'a> {
    /// The route serving the method on the path.
    Found(Found<'a>),
    /// The path is served, not with this method: the methods it is served with (in table
    /// order, without repeats).
    OtherMethods(Vec<&'a Method>),
    /// No route serves the path.
    UnknownPath,
}

/// Looks `method` on `path` up in `routes` (the first matching route wins).
pub(super) fn lookup<'a>(routes: &'a [Route], method: &Method, path: &str) -> Lookup<'a> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let mut other_methods: Vec<&Method> = Vec::new();
    for route in routes {
        let Some(params) = route.capture(&segments) else {
            continue;
        };
        if route.method == *method {
            return Lookup::Found(Found { route, params });
        }
        if !other_methods.contains(&&route.method) {
            other_methods.push(&route.method);
        }
    }
    if other_methods.is_empty() {
        Lookup::UnknownPath
    } else {
        Lookup::OtherMethods(other_methods)
    }
}

impl Route {
    /// The segments the pattern captures from `segments`, if the pattern matches them.
    fn capture(&self, segments: &[&str]) -> Option<PathParams> {
        if self.segments.len() != segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (pattern, actual) in self.segments.iter().zip(segments) {
            match pattern {
                Segment::Literal(text) if text == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if actual.is_empty() => return None,
                Segment::Param(name) => params.push((name.clone(), (*actual).to_owned())),
            }
        }
        Some(PathParams(params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: RouteCall) -> std::future::Ready<Result<Response<Bytes>, Error>> {
        std::future::ready(Ok(Response::new(Bytes::new())))
    }

    #[test]
    fn patterns_capture_their_segments() {
        let routes = vec![
            Route::new(
                Method::POST,
                "/box-users/{id}/contact",
                Access::OwnIdentity,
                ok,
            ),
            Route::new(Method::GET, "/csrf", Access::Public, ok),
        ];
        assert_eq!(routes[0].pattern(), "/box-users/{id}/contact");
        let Lookup::Found(found) = lookup(&routes, &Method::POST, "/box-users/abc/contact") else {
            panic!("the contact route is not found");
        };
        assert_eq!(found.params.get("id"), Some("abc"));
        assert_eq!(found.route.pattern(), "/box-users/{id}/contact");
        assert!(matches!(
            lookup(&routes, &Method::GET, "/csrf"),
            Lookup::Found(_)
        ));
        for unknown in [
            "/box-users/abc",
            "/box-users//contact",
            "/csrf/x",
            "/csrf/",
            "/",
        ] {
            assert!(
                matches!(lookup(&routes, &Method::POST, unknown), Lookup::UnknownPath),
                "{unknown}"
            );
        }
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_methods_it_is_served_with() {
        let routes = vec![
            Route::new(Method::GET, "/boxes/joined", Access::Authenticated, ok),
            Route::new(Method::HEAD, "/boxes/joined", Access::Authenticated, ok),
            Route::new(Method::GET, "/boxes/{id}", Access::Authenticated, ok),
            Route::new(Method::PATCH, "/boxes/{id}", Access::Authenticated, ok),
        ];
        let Lookup::OtherMethods(methods) = lookup(&routes, &Method::PUT, "/boxes/joined") else {
            panic!("/boxes/joined is a known path");
        };
        assert_eq!(methods, [&Method::GET, &Method::HEAD, &Method::PATCH]);
        let Lookup::OtherMethods(methods) = lookup(&routes, &Method::DELETE, "/boxes/x") else {
            panic!("/boxes/x is a known path");
        };
        assert_eq!(methods, [&Method::GET, &Method::PATCH]);
    }
}
