//! The OpenAPI 3.1 document of an [`super::HttpApi`], served at `GET /openapi.json` by every
//! frontend: made from the route table (methods, patterns, access, CSRF, bodies, limits) and
//! from the JSON schemas of the types the routes answer with, so that it cannot drift from
//! what the server does. The conformance suite validates every answer it receives against it.

use schemars::generate::{Contract, SchemaSettings};
use serde_json::{Map, Value, json};

use super::HttpSettings;
use super::routing::{Access, Action, Route};
use super::rules::CSRF_HEADER;
use crate::error::ErrorBody;

/// The document of `routes` served with `settings`.
pub(super) fn document(routes: &[Route], settings: &HttpSettings) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
            // Schemas describe what the server writes: optional fields are present as null.
            s.contract = Contract::Serialize;
        })
        .into_generator();
    let error = Value::from(generator.subschema_for::<ErrorBody<'static>>());
    let mut paths = Map::new();
    for route in routes {
        let operation = operation(route, settings, &mut generator, &error);
        let item = paths
            .entry(route.pattern())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.method.as_str().to_ascii_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "misakey-box",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Contact another identity and receive realtime notifications. \
                Every error answers in the Error schema. A path not listed here is 404 `no such \
                route`; a listed path asked with a method it does not list is 405 \
                `method_not_allowed` with `Allow`; `OPTIONS` on a listed path answers 204 with \
                `Allow`, and grants CORS preflights of the allowed origins.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "accessToken": {"type": "apiKey", "in": "cookie", "name": super::ACCESS_TOKEN_COOKIE},
                "tokenType": {"type": "apiKey", "in": "cookie", "name": super::TOKEN_TYPE_COOKIE,
                              "description": "`bearer`"},
            },
            "schemas": generator.take_definitions(true),
        },
    })
}

/// One operation: the route's own documentation plus what its access, method and body imply.
fn operation(
    route: &Route,
    settings: &HttpSettings,
    generator: &mut schemars::SchemaGenerator,
    error: &Value,
) -> Value {
    let doc = &route.doc;
    let unsafe_method = !matches!(route.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let socket = matches!(route.action, Action::Socket);
    let mut errors: Vec<(u16, String)> = Vec::new();
    let mut parameters = Vec::new();
    if route.access != Access::Public {
        errors.push((
            401,
            "missing or invalid accesstoken / tokentype cookie".into(),
        ));
        errors.push((403, "ACR too low".into()));
        errors.push((503, "a dependency (storage, bus) is unavailable".into()));
    }
    for name in route.path_params() {
        let own_identity = route.access == Access::OwnIdentity && name == "id";
        let own_account = route.access == Access::OwnAccount && name == "account_id";
        let uuid = own_identity || own_account || route.uuid_params.iter().any(|p| p == name);
        let description = match (own_identity, own_account) {
            (true, _) => "the caller's identity id",
            (_, true) => "the caller's account id",
            _ => "",
        };
        parameters.push(json!({
            "name": name, "in": "path", "required": true, "description": description,
            "schema": if uuid { json!({"type": "string", "format": "uuid"}) } else { json!({"type": "string"}) },
        }));
        if uuid && !own_identity {
            errors.push((400, format!("the {name} in the path is not a UUID")));
        }
    }
    match route.access {
        Access::OwnIdentity => {
            errors.push((400, "the path id is not a UUID".into()));
            errors.push((403, "the path id is not the caller's identity".into()));
        }
        Access::OwnAccount => errors.push((
            403,
            "the account_id is not the caller's, or the caller has no account".into(),
        )),
        Access::Public | Access::Authenticated => {}
    }
    if unsafe_method && !socket {
        parameters.push(json!({
            "name": CSRF_HEADER, "in": "header", "required": true,
            "description": "the token of GET /csrf, also sent as the csrftoken cookie",
            "schema": {"type": "string"},
        }));
        errors.push((
            403,
            "X-CSRF-Token missing or not the csrftoken cookie".into(),
        ));
    }
    if route.json_body {
        errors.push((
            400,
            "Content-Type not application/json, body not JSON, or fields breaking their rules (details name each)".into(),
        ));
        errors.push((413, format!("body over {} bytes", settings.max_body_bytes)));
    }
    if socket {
        errors.push((400, "not a WebSocket handshake".into()));
        errors.push((403, "Origin not allowed".into()));
        errors.push((
            429,
            format!(
                "the identity already holds {} open sockets",
                settings.max_sockets_per_identity
            ),
        ));
    }
    for (name, description, schema) in &doc.query {
        parameters.push(json!({"name": name, "in": "query", "required": false,
                               "description": description, "schema": schema}));
    }
    errors.extend(doc.errors.iter().cloned());

    let mut responses = Map::new();
    for (status, description, schema) in &doc.answers {
        let mut answer = json!({"description": description});
        if doc.total_count {
            answer["headers"] = json!({"X-Total-Count": {
                "description": "how many items the list holds (for notifications: the unacknowledged ones)",
                "schema": {"type": "integer", "minimum": 0}}});
        }
        if let Some(schema) = schema {
            answer["content"] =
                json!({"application/json": {"schema": Value::from(schema(generator))}});
        }
        responses.insert(status.to_string(), answer);
    }
    for (status, description, media_type) in &doc.text_answers {
        responses.insert(
            status.to_string(),
            json!({"description": description,
                   "content": {media_type.as_str(): {"schema": {"type": "string"}}}}),
        );
    }
    let mut by_status: Vec<(u16, Vec<String>)> = Vec::new();
    for (status, description) in errors {
        match by_status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, descriptions)) => descriptions.push(description),
            None => by_status.push((status, vec![description])),
        }
    }
    by_status.sort_by_key(|(status, _)| *status);
    for (status, descriptions) in by_status {
        responses.insert(
            status.to_string(),
            json!({"description": descriptions.join("; "),
                   "content": {"application/json": {"schema": error}}}),
        );
    }
    let mut operation = json!({"summary": doc.summary, "responses": responses});
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if route.access != Access::Public {
        operation["security"] = json!([{"accessToken": [], "tokenType": []}]);
    }
    if let Some(request) = doc.request {
        operation["requestBody"] = json!({"required": true, "content": {"application/json": {
            "schema": Value::from(request(generator))}}});
    }
    operation
}
