//! The OpenAPI 3.0 document of the routes, served at `GET /openapi.json` by every frontend.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The OpenAPI document of the protocol's REST routes.
pub fn document() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    let time = json!({"type": "string", "format": "date-time"});
    let nullable_string = json!({"type": "string", "nullable": true});
    let identity_view = json!({
        "type": "object",
        "required": ["id", "display_name", "avatar_url", "identifier_value", "identifier_kind"],
        "properties": {
            "id": uuid, "display_name": {"type": "string"}, "avatar_url": nullable_string,
            "identifier_value": {"type": "string"}, "identifier_kind": {"type": "string"}
        }
    });
    let path_id = json!({"name": "id", "in": "path", "required": true, "description": "the caller's identity id", "schema": uuid});
    let cookies = json!([{"accessToken": [], "tokenType": []}]);
    json!({
        "openapi": "3.0.3",
        "info": {"title": "misakey-box", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Contact another identity and receive realtime notifications. Errors: {code, origin, desc, details}."},
        "paths": {
            "/box-users/{id}/contact": {"post": {
                "summary": "Create a box with another identity and invite it",
                "security": cookies,
                "parameters": [path_id, {"name": "X-CSRF-Token", "in": "header", "required": true,
                    "description": "the token of GET /csrf, also in the csrftoken cookie", "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContactRequest"}}}},
                "responses": {
                    "201": {"description": "the new box", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BoxView"}}}},
                    "400": error_response("malformed path id, body, content type or field (details name each field)"),
                    "401": error_response("missing or invalid accesstoken / tokentype cookie"),
                    "403": error_response("ACR too low, path id not the caller, CSRF token missing or wrong, contacted identity without account"),
                    "404": error_response("contacted identity unknown"),
                    "409": error_response("other_share_hash already used, or the contacted identity has no key for invitations"),
                    "413": error_response("body over 64 KiB"),
                    "503": error_response("storage unavailable")
                }
            }},
            "/box-users/{id}/ws": {"get": {
                "summary": "WebSocket of the caller's realtime updates: text frames {\"type\", \"object\"}",
                "security": cookies,
                "parameters": [path_id],
                "responses": {
                    "101": {"description": "the socket is open"},
                    "400": error_response("malformed path id, or not a WebSocket handshake"),
                    "401": error_response("missing or invalid accesstoken / tokentype cookie"),
                    "403": error_response("ACR too low, path id not the caller, or Origin not allowed"),
                    "503": error_response("notification bus unavailable")
                }
            }},
            "/csrf": {"get": {
                "summary": "A CSRF token, also set as the csrftoken cookie",
                "responses": {"200": {"description": "the token", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["csrf_token"], "properties": {"csrf_token": {"type": "string"}}}}}}}
            }},
            "/healthz": {"get": {
                "summary": "Whether the storage and the bus answer",
                "responses": {"200": {"description": "healthy"}, "503": error_response("a dependency is down")}
            }}
        },
        "components": {
            "securitySchemes": {
                "accessToken": {"type": "apiKey", "in": "cookie", "name": "accesstoken"},
                "tokenType": {"type": "apiKey", "in": "cookie", "name": "tokentype", "description": "bearer"}
            },
            "schemas": {
                "ContactRequest": {
                    "type": "object",
                    "required": ["contacted_identity_id", "box", "key_share", "invitation_data"],
                    "properties": {
                        "contacted_identity_id": uuid,
                        "box": {"type": "object", "required": ["title", "public_key"], "properties": {
                            "title": {"type": "string", "minLength": 1, "maxLength": 50},
                            "public_key": {"type": "string", "description": "unpadded URL-safe base64, optionally prefixed com.misakey.aes-rsa-enc:"}}},
                        "key_share": {"type": "object", "required": ["misakey_share", "other_share_hash", "encrypted_invitation_key_share"], "properties": {
                            "misakey_share": {"type": "string", "description": "base64"},
                            "other_share_hash": {"type": "string", "description": "unpadded URL-safe base64, unique"},
                            "encrypted_invitation_key_share": {"type": "string", "description": "base64"}}},
                        "invitation_data": {"type": "object", "description": "exactly one entry: {contacted identity's non-identified public key: encrypted crypto action}",
                            "additionalProperties": {"type": "string"}, "minProperties": 1, "maxProperties": 1}
                    }
                },
                "IdentityView": identity_view,
                "BoxView": {
                    "type": "object",
                    "required": ["id", "server_created_at", "public_key", "title", "access_mode", "owner_org_id", "creator", "last_event"],
                    "properties": {
                        "id": uuid, "server_created_at": time, "public_key": {"type": "string"}, "title": {"type": "string"},
                        "access_mode": {"type": "string", "enum": ["public", "limited"]}, "owner_org_id": uuid,
                        "creator": {"$ref": "#/components/schemas/IdentityView"},
                        "last_event": {"type": "object", "required": ["id", "type", "content", "server_event_created_at", "sender"], "properties": {
                            "id": uuid, "type": {"type": "string"}, "content": {"type": "object"}, "server_event_created_at": time,
                            "sender": {"$ref": "#/components/schemas/IdentityView"}}}
                    }
                },
                "Error": {
                    "type": "object",
                    "required": ["code", "origin", "desc", "details"],
                    "properties": {
                        "code": {"type": "string", "enum": ["bad_request", "unauthorized", "forbidden", "not_found", "conflict",
                            "request_entity_too_large", "internal", "service_unavailable"]},
                        "origin": {"type": "string", "enum": ["body", "path", "query", "headers", "cookies", "acr", "not_defined"]},
                        "desc": {"type": "string"},
                        "details": {"type": "object", "additionalProperties": {"type": "string"},
                            "description": "field (dotted path) -> required | malformed | invalid | conflict | not_found | forbidden"}
                    }
                }
            }
        }
    })
}
