//! The checks, one public function each; they panic with a message on the first difference.
//! Responses are compared as whole JSON documents; ids and times chosen by the server are
//! read from its answer and then checked everywhere else they appear.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use super::client::{
    Auth, Csrf, SocketClosed, get, head_count, open_socket, open_socket_resuming,
    open_socket_with_receive_buffer, post_contact, post_contact_raw, post_raw, request,
    with_headers,
};
use super::{
    ALLOWED_ORIGIN, CAROL_ID, CAROL_TOKEN, ConformanceTarget, DAVE_ID, ERIN_AES_RSA_KEY, ERIN_ID,
    EXPIRED_TOKEN, WEAK_TOKEN, identity, short_timers,
};
use crate::builders::{
    ALICE_ID, BOB_ID, BOB_INVITATION_KEY, ContactRequestBuilder, SPEC_BOX_PUBLIC_KEY, bob,
};
use crate::{ALICE_TOKEN, BOB_TOKEN};

/// The refusal of an unsafe request without the CSRF header.
fn csrf_required() -> Value {
    error(
        "forbidden",
        "headers",
        "X-CSRF-Token header required",
        json!({"x-csrf-token": "required"}),
    )
}

fn error(code: &str, origin: &str, desc: &str, details: Value) -> Value {
    json!({"code": code, "origin": origin, "desc": desc, "details": details})
}

fn unauthorized(field: &str, detail: &str) -> Value {
    error(
        "unauthorized",
        "cookies",
        &format!("{field} cookie {detail}"),
        json!({field: detail}),
    )
}

fn acr_forbidden() -> Value {
    error(
        "forbidden",
        "acr",
        "an ACR of at least 1 is required",
        json!({"acr": "forbidden", "required_acr": "1"}),
    )
}

fn malformed_path() -> Value {
    error(
        "bad_request",
        "path",
        "the id in the path must be a UUID",
        json!({"id": "malformed"}),
    )
}

fn foreign_path() -> Value {
    error(
        "forbidden",
        "not_defined",
        "the id in the path is not the identity of the access token",
        json!({}),
    )
}

fn request_to_bob() -> Value {
    ContactRequestBuilder::new(&bob()).build()
}

async fn contact_with(target: &ConformanceTarget, path_id: &str, auth: Auth<'_>) -> (u16, Value) {
    post_contact_raw(
        target,
        path_id,
        auth,
        Csrf::Valid,
        Some("application/json"),
        request_to_bob().to_string().into_bytes(),
    )
    .await
}

async fn socket_refusal(
    target: &ConformanceTarget,
    path_id: &str,
    auth: Auth<'_>,
    origin: Option<&str>,
) -> (u16, Value) {
    match open_socket(target, path_id, auth, origin).await {
        Ok(_) => panic!("the handshake to /box-users/{path_id}/ws should have been refused"),
        Err(answer) => answer,
    }
}

fn alice() -> String {
    ALICE_ID.to_string()
}

/// No `accesstoken` cookie: 401 on both endpoints.
pub async fn missing_access_token_is_401(target: &ConformanceTarget) {
    let auth = Auth {
        token: None,
        token_type: Some("bearer"),
    };
    assert_eq!(
        contact_with(target, &alice(), auth).await,
        (401, unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        socket_refusal(target, &alice(), auth, None).await,
        (401, unauthorized("accesstoken", "required"))
    );
}

/// `tokentype` missing or not `bearer`: 401; `Bearer` in any case is fine.
pub async fn wrong_token_type_is_401(target: &ConformanceTarget) {
    for token_type in [None, Some("basic")] {
        let auth = Auth {
            token: Some(ALICE_TOKEN),
            token_type,
        };
        assert_eq!(
            contact_with(target, &alice(), auth).await,
            (401, unauthorized("tokentype", "invalid")),
            "{token_type:?}"
        );
        assert_eq!(
            socket_refusal(target, &alice(), auth, None).await,
            (401, unauthorized("tokentype", "invalid"))
        );
    }
    let auth = Auth {
        token: Some(ALICE_TOKEN),
        token_type: Some("Bearer"),
    };
    assert_eq!(contact_with(target, &alice(), auth).await.0, 201);
}

/// Unknown and expired tokens: 401.
pub async fn unknown_or_expired_token_is_401(target: &ConformanceTarget) {
    for token in ["no-such-token", EXPIRED_TOKEN] {
        let auth = Auth::bearer(token);
        assert_eq!(
            contact_with(target, &alice(), auth).await,
            (401, unauthorized("accesstoken", "invalid")),
            "{token}"
        );
        assert_eq!(
            socket_refusal(target, &alice(), auth, None).await,
            (401, unauthorized("accesstoken", "invalid"))
        );
    }
}

/// A token of ACR 0: 403 with the required ACR.
pub async fn low_acr_is_403(target: &ConformanceTarget) {
    assert_eq!(
        contact_with(target, &alice(), Auth::bearer(WEAK_TOKEN)).await,
        (403, acr_forbidden())
    );
    assert_eq!(
        socket_refusal(target, &alice(), Auth::bearer(WEAK_TOKEN), None).await,
        (403, acr_forbidden())
    );
}

/// A path id that is not a UUID: 400.
pub async fn malformed_path_id_is_400(target: &ConformanceTarget) {
    for path_id in ["not-a-uuid", "a11ce0000000400080000000000000001"] {
        assert_eq!(
            contact_with(target, path_id, Auth::bearer(ALICE_TOKEN)).await,
            (400, malformed_path()),
            "{path_id}"
        );
        assert_eq!(
            socket_refusal(target, path_id, Auth::bearer(ALICE_TOKEN), None).await,
            (400, malformed_path())
        );
    }
}

/// Another identity's path: 403.
pub async fn foreign_path_id_is_403(target: &ConformanceTarget) {
    let bob = BOB_ID.to_string();
    assert_eq!(
        contact_with(target, &bob, Auth::bearer(ALICE_TOKEN)).await,
        (403, foreign_path())
    );
    assert_eq!(
        socket_refusal(target, &bob, Auth::bearer(ALICE_TOKEN), None).await,
        (403, foreign_path())
    );
}

/// Token, then ACR, then path shape, then identity, then CSRF, then body.
pub async fn checks_run_in_the_documented_order(target: &ConformanceTarget) {
    let garbage = b"{not json".to_vec();
    let post = |path: String, auth, csrf| {
        let garbage = garbage.clone();
        async move {
            post_contact_raw(target, &path, auth, csrf, Some("application/json"), garbage).await
        }
    };
    let none = Auth {
        token: None,
        token_type: None,
    };
    assert_eq!(
        post("bad".into(), none, Csrf::Missing).await,
        (401, unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        post("bad".into(), Auth::bearer(WEAK_TOKEN), Csrf::Missing).await,
        (403, acr_forbidden())
    );
    assert_eq!(
        post("bad".into(), Auth::bearer(ALICE_TOKEN), Csrf::Missing).await,
        (400, malformed_path())
    );
    assert_eq!(
        post(BOB_ID.to_string(), Auth::bearer(ALICE_TOKEN), Csrf::Missing).await,
        (403, foreign_path())
    );
    assert_eq!(
        post(alice(), Auth::bearer(ALICE_TOKEN), Csrf::Missing)
            .await
            .1["origin"],
        "headers"
    );
    assert_eq!(
        post(alice(), Auth::bearer(ALICE_TOKEN), Csrf::Valid)
            .await
            .1["origin"],
        "body"
    );
}

/// `X-CSRF-Token` missing or not the cookie's value: 403; nothing is created.
pub async fn csrf_token_is_required_and_must_match(target: &ConformanceTarget) {
    let body = request_to_bob().to_string().into_bytes();
    let auth = Auth::bearer(ALICE_TOKEN);
    let missing = post_contact_raw(
        target,
        &alice(),
        auth,
        Csrf::Missing,
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_eq!(missing, (403, csrf_required()));
    let wrong = post_contact_raw(
        target,
        &alice(),
        auth,
        Csrf::Wrong,
        Some("application/json"),
        body.clone(),
    )
    .await;
    assert_eq!(
        wrong,
        (
            403,
            error(
                "forbidden",
                "headers",
                "X-CSRF-Token header invalid",
                json!({"x-csrf-token": "invalid"})
            )
        )
    );
    // The same body with a valid token goes through: the refusals above created nothing.
    assert_eq!(
        post_contact_raw(
            target,
            &alice(),
            auth,
            Csrf::Valid,
            Some("application/json"),
            body
        )
        .await
        .0,
        201
    );
}

/// Each invalid field is named; all failures come at once.
pub async fn invalid_fields_are_400_with_every_detail(target: &ConformanceTarget) {
    let invalid = |details| error("bad_request", "body", "invalid contact request", details);
    let cases = [
        (
            ContactRequestBuilder::new(&bob()).remove("contacted_identity_id"),
            json!({"contacted_identity_id": "required"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).set("contacted_identity_id", "nope"),
            json!({"contacted_identity_id": "malformed"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).set("contacted_identity_id", alice()),
            json!({"contacted_identity_id": "invalid"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).title(&"t".repeat(51)),
            json!({"box.title": "invalid"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).remove("box.title"),
            json!({"box.title": "required"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).set("box.public_key", "a+b/"),
            json!({"box.public_key": "malformed"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).set("key_share.misakey_share", "!!"),
            json!({"key_share.misakey_share": "malformed"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).other_share_hash("padded=="),
            json!({"key_share.other_share_hash": "malformed"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).remove("key_share.encrypted_invitation_key_share"),
            json!({"key_share.encrypted_invitation_key_share": "required"}),
        ),
        (
            ContactRequestBuilder::new(&bob()).set("invitation_data", json!({"a": "x", "b": "y"})),
            json!({"invitation_data": "invalid"}),
        ),
    ];
    for (body, details) in cases {
        let body = body.build();
        assert_eq!(
            post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await,
            (400, invalid(details.clone())),
            "{details}"
        );
    }
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &json!({"box": {}})).await,
        (
            400,
            invalid(json!({
                "contacted_identity_id": "required", "box.title": "required", "box.public_key": "required",
                "key_share.misakey_share": "required", "key_share.other_share_hash": "required",
                "key_share.encrypted_invitation_key_share": "required", "invitation_data": "required"
            }))
        )
    );
}

/// Malformed JSON, a body that is not JSON, and bodies over 64 KiB.
pub async fn malformed_json_wrong_content_type_and_oversized_bodies_are_refused(
    target: &ConformanceTarget,
) {
    let auth = Auth::bearer(ALICE_TOKEN);
    let (status, body) = post_contact_raw(
        target,
        &alice(),
        auth,
        Csrf::Valid,
        Some("application/json"),
        b"{\"box\":".to_vec(),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            error(
                "bad_request",
                "body",
                "the body is not valid JSON: EOF while parsing a value at line 1 column 7",
                json!({})
            )
        )
    );
    let valid = request_to_bob().to_string().into_bytes();
    assert_eq!(
        post_contact_raw(
            target,
            &alice(),
            auth,
            Csrf::Valid,
            Some("text/plain"),
            valid.clone()
        )
        .await,
        (
            400,
            error(
                "bad_request",
                "headers",
                "the body must be application/json",
                json!({"content-type": "invalid"})
            )
        )
    );
    assert_eq!(
        post_contact_raw(target, &alice(), auth, Csrf::Valid, None, valid.clone()).await,
        (
            400,
            error(
                "bad_request",
                "headers",
                "Content-Type application/json is required",
                json!({"content-type": "required"})
            )
        )
    );
    assert_eq!(
        post_contact_raw(
            target,
            &alice(),
            auth,
            Csrf::Valid,
            Some("application/json; charset=utf-8"),
            valid
        )
        .await
        .0,
        201
    );
    let mut oversized = request_to_bob();
    oversized["padding"] = json!("x".repeat(64 * 1024));
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &oversized).await,
        (
            413,
            error(
                "request_entity_too_large",
                "body",
                "the body exceeds 65536 bytes",
                json!({})
            )
        )
    );
}

/// Unknown routes and methods answer in the error format.
pub async fn unknown_routes_answer_in_the_error_format(target: &ConformanceTarget) {
    let not_found = error("not_found", "not_defined", "no such route", json!({}));
    assert_eq!(
        get(target, "/no/such/route").await,
        (404, not_found.clone())
    );
    assert_eq!(
        get(target, "/box-users/not-an-id/contact/extra").await,
        (404, not_found)
    );
}

/// The headers of routing and CORS in an answer, as (name, value) pairs sorted by name: the
/// rest (date, length, request id) varies by frontend and by request.
fn routing_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            name.starts_with("access-control-") || name == "allow" || name == "vary"
        })
        .cloned()
        .collect()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// A known path asked with a method it does not serve: 405 `method_not_allowed` with `Allow`,
/// decided by routing, so before authentication (no cookies sent here).
pub async fn methods_a_path_does_not_serve_are_405_with_allow(target: &ConformanceTarget) {
    let cases = [
        ("GET", format!("/box-users/{ALICE_ID}/contact"), "POST"),
        ("PUT", format!("/box-users/{ALICE_ID}/contact"), "POST"),
        ("TRACE", "/healthz".to_owned(), "GET"),
        ("DELETE", "/boxes/joined".to_owned(), "GET, HEAD"),
        (
            "POST",
            format!("/identities/{BOB_ID}/notifications"),
            "GET, HEAD",
        ),
    ];
    for (method, path, served) in cases {
        let (status, headers, body) = with_headers(target, method, &path, &[]).await;
        assert_eq!(
            (status, routing_headers(&headers), body),
            (
                405,
                pairs(&[("allow", &format!("{served}, OPTIONS")), ("vary", "origin")]),
                error(
                    "method_not_allowed",
                    "not_defined",
                    &format!("{method} is not served on this path (it serves {served})"),
                    json!({})
                )
            ),
            "{method} {path}"
        );
    }
}

/// CORS (`docs/protocol.md`, "Browsers"): the allowed origin's preflight is granted with the
/// path's methods and the headers an app sends, and its answers (errors included) carry the
/// origin and the headers it may read; another origin gets no CORS header at all.
pub async fn cors_grants_the_allowed_origin_only(target: &ConformanceTarget) {
    let contact = format!("/box-users/{ALICE_ID}/contact");
    let preflight = |origin| {
        [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-csrf-token",
            ),
        ]
    };
    let preflight_vary = (
        "vary",
        "origin, access-control-request-method, access-control-request-headers",
    );
    let (status, headers, body) =
        with_headers(target, "OPTIONS", &contact, &preflight(ALLOWED_ORIGIN)).await;
    assert_eq!(
        (status, routing_headers(&headers), body),
        (
            204,
            pairs(&[
                ("access-control-allow-credentials", "true"),
                (
                    "access-control-allow-headers",
                    "content-type, x-csrf-token, x-request-id"
                ),
                ("access-control-allow-methods", "POST, OPTIONS"),
                ("access-control-allow-origin", ALLOWED_ORIGIN),
                ("access-control-max-age", "600"),
                ("allow", "POST, OPTIONS"),
                preflight_vary,
            ]),
            Value::Null
        )
    );
    for other in [
        "https://evil.example",
        "https://app.conformance.test.evil.example",
        "null",
    ] {
        let (status, headers, body) =
            with_headers(target, "OPTIONS", &contact, &preflight(other)).await;
        assert_eq!(
            (status, routing_headers(&headers), body),
            (
                204,
                pairs(&[("allow", "POST, OPTIONS"), preflight_vary]),
                Value::Null
            ),
            "{other}"
        );
    }
    // Actual answers, a success and an error alike, readable by the allowed origin only.
    let granted = pairs(&[
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-origin", ALLOWED_ORIGIN),
        (
            "access-control-expose-headers",
            "x-total-count, x-request-id",
        ),
        ("vary", "origin"),
    ]);
    let (status, headers, _) =
        with_headers(target, "GET", "/csrf", &[("origin", ALLOWED_ORIGIN)]).await;
    assert_eq!((status, routing_headers(&headers)), (200, granted.clone()));
    let (status, headers, body) =
        with_headers(target, "POST", &contact, &[("origin", ALLOWED_ORIGIN)]).await;
    assert_eq!(
        (status, routing_headers(&headers), body),
        (401, granted, unauthorized("accesstoken", "required"))
    );
    let (status, headers, _) = with_headers(
        target,
        "GET",
        "/csrf",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(
        (status, routing_headers(&headers)),
        (200, pairs(&[("vary", "origin")]))
    );
}

/// Unknown identity (404), no account (403), wrong or missing invitation key (400, 409), and
/// the AES-RSA key accepted.
pub async fn business_rules_answer_their_errors(target: &ConformanceTarget) {
    let stranger = Uuid::from_u128(0x5742_4e6e);
    let to = |id| ContactRequestBuilder::new(&identity(id));
    let body = ContactRequestBuilder::new(&bob())
        .set("contacted_identity_id", stranger.to_string())
        .build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await,
        (
            404,
            error(
                "not_found",
                "body",
                "the contacted identity does not exist",
                json!({"contacted_identity_id": "not_found"})
            )
        )
    );
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &to(CAROL_ID).build()).await,
        (
            403,
            error(
                "forbidden",
                "not_defined",
                "the contacted identity must have an account",
                json!({"contacted_account": "required"})
            )
        )
    );
    let wrong_key = to(BOB_ID)
        .set("invitation_data", json!({ERIN_AES_RSA_KEY: "ZW5j"}))
        .build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &wrong_key).await,
        (
            400,
            error(
                "bad_request",
                "body",
                "invitation_data must be encrypted for the contacted identity's non-identified public key",
                json!({"invitation_data": "invalid"})
            )
        )
    );
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &to(DAVE_ID).build()).await,
        (
            409,
            error(
                "conflict",
                "body",
                "the contacted identity has no public key to encrypt an invitation for",
                json!({"invitation_data": "conflict"})
            )
        )
    );
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &to(ERIN_ID).build())
            .await
            .0,
        201
    );
}

/// A reused `other_share_hash`: 409, and the second box never appears.
pub async fn duplicate_share_hash_is_409(target: &ConformanceTarget) {
    let mut bob_socket = open_socket(target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let hash = format!("ZHVw{}", Uuid::new_v4().simple());
    let body = ContactRequestBuilder::new(&bob())
        .other_share_hash(&hash)
        .build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await.0,
        201
    );
    let conflict = error(
        "conflict",
        "body",
        "a key share with this other_share_hash already exists",
        json!({"key_share.other_share_hash": "conflict"}),
    );
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await,
        (409, conflict)
    );
    // Bob was notified once: the next update he gets is that of a later contact.
    let first = bob_socket.next_update().await;
    let later = ContactRequestBuilder::new(&bob()).title("later").build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &later).await.0,
        201
    );
    let second = bob_socket.next_update().await;
    assert_eq!(
        (
            first["type"].clone(),
            second["object"]["details"]["box_title"].clone()
        ),
        (json!("notification"), json!("later"))
    );
}

fn identity_view(id: Uuid) -> Value {
    serde_json::to_value(identity(id).view()).unwrap()
}

fn assert_utc_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a timestamp"));
    assert!(
        text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "{text} is not RFC 3339 UTC"
    );
}

/// The 201 body: the whole box view.
pub async fn contact_answers_201_with_the_box_view(target: &ConformanceTarget) {
    let body = ContactRequestBuilder::new(&bob())
        .title("User1 - User2")
        .build();
    let (status, created) = post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await;
    assert_eq!(status, 201, "{created}");
    assert_utc_timestamp(&created["server_created_at"]);
    assert!(
        Uuid::parse_str(created["id"].as_str().unwrap_or_default()).is_ok(),
        "{created}"
    );
    assert_eq!(
        created,
        json!({
            "id": created["id"],
            "server_created_at": created["server_created_at"],
            "public_key": SPEC_BOX_PUBLIC_KEY,
            "title": "User1 - User2",
            "access_mode": "public",
            "owner_org_id": created["owner_org_id"],
            "creator": identity_view(ALICE_ID),
            "last_event": {
                "id": created["last_event"]["id"],
                "type": "create",
                "content": {"public_key": SPEC_BOX_PUBLIC_KEY, "title": "User1 - User2", "state": "open"},
                "server_event_created_at": created["server_created_at"],
                "sender": identity_view(ALICE_ID),
            }
        })
    );
}

/// The contacted identity gets the notification on each of its sockets; the caller gets the
/// two `event.new`, in order.
pub async fn contact_notifies_both_sides_on_every_socket(target: &ConformanceTarget) {
    let bob_path = BOB_ID.to_string();
    let mut bob_sockets = [
        open_socket(target, &bob_path, Auth::bearer(BOB_TOKEN), None)
            .await
            .unwrap(),
        open_socket(
            target,
            &bob_path,
            Auth::bearer(BOB_TOKEN),
            Some(ALLOWED_ORIGIN),
        )
        .await
        .unwrap(),
    ];
    let mut alice_socket = open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap();
    let (status, created) = post_contact(
        target,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).title("T").build(),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    let create = alice_socket.next_update().await;
    let access_mode = alice_socket.next_update().await;
    let event_new = |event: &Value, kind: &str, content: Value| {
        json!({
            "seq": event["seq"],
            "type": "event.new",
            "object": {
                "id": event["object"]["id"],
                "type": kind,
                "box_id": created["id"],
                "owner_org_id": created["owner_org_id"],
                "content": content,
                "server_event_created_at": created["server_created_at"],
                "sender": identity_view(ALICE_ID),
                "referrer_id": null,
            }
        })
    };
    assert_eq!(
        create,
        event_new(
            &create,
            "create",
            json!({"public_key": SPEC_BOX_PUBLIC_KEY, "title": "T", "state": "open"})
        )
    );
    assert_eq!(create["object"]["id"], created["last_event"]["id"]);
    let create_seq = create["seq"]
        .as_u64()
        .expect("durable updates carry their position");
    assert_eq!(
        access_mode["seq"],
        json!(create_seq + 1),
        "consecutive positions"
    );
    assert_eq!(
        access_mode,
        event_new(
            &access_mode,
            "state.access_mode",
            json!({"value": "public"})
        )
    );

    let mut notifications = Vec::new();
    for socket in &mut bob_sockets {
        notifications.push(socket.next_update().await);
    }
    let first = &notifications[0];
    assert_eq!(
        first,
        &json!({
            "seq": first["seq"],
            "type": "notification",
            "object": {
                "id": first["object"]["id"],
                "type": "box.auto_invite",
                "details": {
                    "box_id": created["id"],
                    "box_title": "T",
                    "owner_org_id": created["owner_org_id"],
                    "cryptoaction_id": first["object"]["details"]["cryptoaction_id"],
                },
                "created_at": created["server_created_at"],
                "acknowledged_at": null,
            }
        })
    );
    assert_eq!(
        notifications[1], notifications[0],
        "every socket gets the same update"
    );
}

/// The handshake fails like the REST endpoint, and with 400 when it is not an upgrade.
pub async fn socket_handshake_is_authorised_like_the_rest(target: &ConformanceTarget) {
    let (status, body) = get(target, &format!("/box-users/{ALICE_ID}/ws")).await;
    assert_eq!(
        status, 401,
        "authorisation comes before the upgrade check: {body}"
    );
    let client = reqwest::Client::new();
    let response = client
        .get(target.url(&format!("/box-users/{ALICE_ID}/ws")))
        .header(
            reqwest::header::COOKIE,
            format!("accesstoken={ALICE_TOKEN}; tokentype=bearer"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        error(
            "bad_request",
            "headers",
            "a WebSocket upgrade is required",
            json!({"upgrade": "required"})
        )
    );
}

/// A browser page of another site may not open a socket; the allowed origin and clients
/// without `Origin` may.
pub async fn socket_origin_must_be_allowed(target: &ConformanceTarget) {
    let forbidden = error(
        "forbidden",
        "headers",
        "this Origin may not open sockets",
        json!({"origin": "forbidden"}),
    );
    for origin in [
        "https://evil.example",
        "https://app.conformance.test.evil.example",
        "null",
    ] {
        assert_eq!(
            socket_refusal(target, &alice(), Auth::bearer(ALICE_TOKEN), Some(origin)).await,
            (403, forbidden.clone())
        );
    }
    open_socket(
        target,
        &alice(),
        Auth::bearer(ALICE_TOKEN),
        Some(ALLOWED_ORIGIN),
    )
    .await
    .unwrap()
    .close()
    .await;
    open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap()
        .close()
        .await;
}

/// One identity holds at most 32 sockets (the default limit): the 33rd handshake is 429, in
/// the error format; another identity is unaffected; a closed socket frees its slot.
pub async fn an_identity_holds_a_bounded_number_of_sockets(target: &ConformanceTarget) {
    const LIMIT: usize = 32;
    let too_many = error(
        "too_many_requests",
        "not_defined",
        "this identity already holds 32 open sockets, the most allowed",
        json!({}),
    );
    let mut sockets = Vec::new();
    for _ in 0..LIMIT {
        sockets.push(
            open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        socket_refusal(target, &alice(), Auth::bearer(ALICE_TOKEN), None).await,
        (429, too_many.clone())
    );
    let bob_socket = open_socket(target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .expect("another identity is unaffected");
    sockets.pop().unwrap().close().await;
    // The server frees the slot once it has seen the close: retry for a moment.
    let deadline = Instant::now() + super::client::PATIENCE;
    let reopened = loop {
        match open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None).await {
            Ok(socket) => break socket,
            Err(refusal) if Instant::now() < deadline => {
                assert_eq!(refusal, (429, too_many.clone()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(refusal) => panic!("the closed socket's slot was not freed: {refusal:?}"),
        }
    };
    assert_eq!(
        socket_refusal(target, &alice(), Auth::bearer(ALICE_TOKEN), None).await,
        (429, too_many)
    );
    for socket in sockets.into_iter().chain([reopened, bob_socket]) {
        socket.close().await;
    }
}

fn ack(sender: Uuid, box_id: Uuid) -> Value {
    json!({"type": "ack", "object": {"sender_id": sender, "box_id": box_id}})
}

/// An ack is echoed, re-serialised, to every socket of its identity; an ack naming another
/// identity reaches nobody.
pub async fn own_ack_reaches_every_socket_and_foreign_ack_nobody(target: &ConformanceTarget) {
    let mut alice_sockets = [
        open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
            .await
            .unwrap(),
        open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
            .await
            .unwrap(),
    ];
    let mut bob_socket = open_socket(target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let box_id = Uuid::new_v4();

    // Alice claims to be Bob, then acks for herself.
    alice_sockets[0].send_json(&ack(BOB_ID, box_id)).await;
    let mut own = ack(ALICE_ID, box_id);
    own["object"]["extra"] = json!("dropped by re-serialisation");
    alice_sockets[0].send_json(&own).await;
    for socket in &mut alice_sockets {
        assert_eq!(
            socket.next_update().await,
            ack(ALICE_ID, box_id),
            "the first update is Alice's own ack"
        );
    }
    // Bob's own marker ack comes after anything published for him before: it must be first.
    let marker = Uuid::new_v4();
    bob_socket.send_json(&ack(BOB_ID, marker)).await;
    assert_eq!(
        bob_socket.next_update().await,
        ack(BOB_ID, marker),
        "the foreign ack reached Bob"
    );
}

/// Malformed and unknown messages leave the socket open; a frame over 8 KiB closes it (1009).
pub async fn malformed_messages_are_ignored_and_oversized_frames_close_the_socket(
    target: &ConformanceTarget,
) {
    let mut socket = open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap();
    for text in [
        "not json",
        "{}",
        r#"{"type":"subscribe","object":{}}"#,
        r#"{"type":"ack","object":{"box_id":"x"}}"#,
    ] {
        socket.send_text(text.to_owned()).await;
    }
    let box_id = Uuid::new_v4();
    socket.send_json(&ack(ALICE_ID, box_id)).await;
    assert_eq!(
        socket.next_update().await,
        ack(ALICE_ID, box_id),
        "still open and working"
    );
    socket.send_text("x".repeat(8 * 1024 + 1)).await;
    assert_eq!(
        socket.closed(Duration::from_secs(10)).await,
        (SocketClosed::Code(1009), 0)
    );
}

/// A client that sends nothing (not even pongs) is closed after the idle timeout.
pub async fn silent_socket_is_closed_after_the_idle_timeout(target: &ConformanceTarget) {
    let settings = short_timers();
    let mut socket = open_socket(target, &alice(), Auth::bearer(ALICE_TOKEN), None)
        .await
        .unwrap();
    // Not reading means not answering pings: the client is silent. It reads again shortly
    // after the idle timeout, while the server waits for its half of the closing handshake.
    tokio::time::sleep(settings.idle_timeout + Duration::from_millis(300)).await;
    assert_eq!(
        socket.closed(Duration::from_secs(10)).await,
        (SocketClosed::Code(1000), 0)
    );
}

/// One of Alice's sockets never reads; her other socket keeps getting every update promptly,
/// and the stalled one is cut off.
pub async fn a_socket_that_never_reads_is_closed_without_delaying_others(
    target: &ConformanceTarget,
) {
    let auth = Auth::bearer(ALICE_TOKEN);
    let mut stalled = open_socket_with_receive_buffer(target, &alice(), auth, None, Some(4096))
        .await
        .unwrap();
    let mut reader = open_socket(target, &alice(), auth, None).await.unwrap();
    let box_id = Uuid::new_v4();
    let (started, mut sent) = (Instant::now(), 0);
    // Bounded in count and time.
    while sent < 4000 && started.elapsed() < Duration::from_secs(60) {
        for _ in 0..100 {
            reader.send_json(&ack(ALICE_ID, box_id)).await;
        }
        for _ in 0..100 {
            assert_eq!(reader.next_update().await, ack(ALICE_ID, box_id));
        }
        sent += 100;
    }
    // Let the server's send timeout expire, then read what the stalled socket got.
    tokio::time::sleep(short_timers().send_timeout + Duration::from_secs(1)).await;
    let (closed, received) = stalled.closed(Duration::from_secs(30)).await;
    assert!(
        matches!(closed, SocketClosed::Code(1013) | SocketClosed::Dropped),
        "expected 1013 or a dropped connection, got {closed:?}"
    );
    assert!(
        received < sent,
        "the stalled socket received all {sent} updates: it was never cut off"
    );
}

/// A client that reconnects with `?since=` the last position it saw gets every update it
/// missed, in order, then the live ones, each once.
pub async fn resuming_replays_missed_updates_then_continues_live(target: &ConformanceTarget) {
    let bob = BOB_ID.to_string();
    let mut socket = open_socket(target, &bob, Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();
    let title = |n: u32| format!("resume {n}");
    let contact = |n| async move {
        let body = ContactRequestBuilder::new(&bob_identity())
            .title(&title(n))
            .build();
        assert_eq!(
            post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await.0,
            201
        );
    };
    contact(1).await;
    let seen = socket.next_update().await;
    socket.close().await;
    contact(2).await;
    contact(3).await;

    let since = seen["seq"].as_u64().unwrap();
    let mut resumed =
        open_socket_resuming(target, &bob, Auth::bearer(BOB_TOKEN), &since.to_string())
            .await
            .unwrap();
    for (n, seq) in [(2, since + 1), (3, since + 2)] {
        let update = resumed.next_update().await;
        assert_eq!(
            (
                update["seq"].clone(),
                update["object"]["details"]["box_title"].clone()
            ),
            (json!(seq), json!(title(n)))
        );
    }
    contact(4).await;
    let live = resumed.next_update().await;
    assert_eq!(
        (
            live["seq"].clone(),
            live["object"]["details"]["box_title"].clone()
        ),
        (json!(since + 3), json!(title(4)))
    );
}

fn bob_identity() -> misakey_box::domain::Identity {
    bob()
}

/// Resuming from beyond the latest position (a reset log) gets one `resync_required` frame,
/// then live updates.
pub async fn resuming_beyond_the_log_asks_for_a_resync(target: &ConformanceTarget) {
    let bob = BOB_ID.to_string();
    let body = ContactRequestBuilder::new(&bob_identity()).build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await.0,
        201
    );
    let mut socket = open_socket_resuming(target, &bob, Auth::bearer(BOB_TOKEN), "1000000")
        .await
        .unwrap();
    let resync = socket.next_update().await;
    let latest = resync["object"]["latest"].as_u64().unwrap();
    assert_eq!(
        resync,
        json!({"type": "resync_required", "object": {"since": 1_000_000, "oldest": resync["object"]["oldest"], "latest": latest}})
    );
    assert!(resync["object"]["oldest"].as_u64().unwrap() <= latest);
    assert_eq!(
        post_contact(
            target,
            ALICE_TOKEN,
            ALICE_ID,
            &ContactRequestBuilder::new(&bob_identity()).build()
        )
        .await
        .0,
        201
    );
    assert_eq!(socket.next_update().await["seq"], json!(latest + 1));
}

/// `since` must be a non-negative integer.
pub async fn malformed_since_is_400(target: &ConformanceTarget) {
    let malformed = error(
        "bad_request",
        "query",
        "since must be a non-negative integer",
        json!({"since": "malformed"}),
    );
    for since in ["-1", "abc", "", "1.5"] {
        let refused =
            match open_socket_resuming(target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), since)
                .await
            {
                Ok(_) => panic!("since={since} should be refused"),
                Err(answer) => answer,
            };
        assert_eq!(refused, (400, malformed.clone()), "since={since}");
    }
}

/// The route of [`super::probe_route`], added to the core's routing of the server under test,
/// answers through its frontend with every rule of the protocol's own routes.
pub async fn added_route_is_served(target: &ConformanceTarget) {
    let probe = format!("/box-users/{ALICE_ID}/probe");
    let post = |path: String, auth, csrf, body: &'static str| async move {
        post_raw(
            target,
            &path,
            auth,
            csrf,
            Some("application/json"),
            body.into(),
        )
        .await
    };
    assert_eq!(
        post(
            probe.clone(),
            Auth::bearer(ALICE_TOKEN),
            Csrf::Valid,
            r#"{"ping": [1, 2]}"#
        )
        .await,
        (
            200,
            json!({"caller": ALICE_ID, "acr": 2, "body": {"ping": [1, 2]}})
        )
    );
    assert_eq!(
        post(probe.clone(), Auth::default(), Csrf::Valid, "{}").await,
        (401, unauthorized("accesstoken", "required"))
    );
    assert_eq!(
        post(probe.clone(), Auth::bearer(BOB_TOKEN), Csrf::Valid, "{}").await,
        (403, foreign_path())
    );
    assert_eq!(
        post(
            probe.clone(),
            Auth::bearer(ALICE_TOKEN),
            Csrf::Missing,
            "{}"
        )
        .await,
        (403, csrf_required())
    );
    assert_eq!(
        post(probe.clone(), Auth::bearer(ALICE_TOKEN), Csrf::Valid, "{").await,
        (
            400,
            error(
                "bad_request",
                "body",
                "the body is not valid JSON: EOF while parsing an object at line 1 column 1",
                json!({})
            )
        )
    );
    assert_eq!(
        get(target, &probe).await,
        (
            405,
            error(
                "method_not_allowed",
                "not_defined",
                "GET is not served on this path (it serves POST)",
                json!({})
            )
        )
    );
}

/// Any authenticated caller reads a profile; only its owner changes its keys, and the next
/// contact checks its invitation key against the current ones.
pub async fn profiles_are_public_and_keys_belong_to_their_identity(target: &ConformanceTarget) {
    let bob_profile = format!("/identities/{BOB_ID}/profile");
    let profile = |key: Option<&str>, contactable: bool| {
        json!({"id": BOB_ID, "display_name": "Bob", "avatar_url": null,
               "non_identified_pubkey": key, "non_identified_pubkey_aes_rsa": null,
               "contactable": contactable})
    };
    let alice = Auth::bearer(ALICE_TOKEN);
    let bob_auth = Auth::bearer(BOB_TOKEN);
    let read = |path: String, auth| async move {
        request(target, "GET", &path, auth, Csrf::Valid, None).await
    };
    assert_eq!(
        read(bob_profile.clone(), alice).await,
        (200, profile(Some(BOB_INVITATION_KEY), true))
    );
    assert_eq!(
        read(format!("/identities/{CAROL_ID}/profile"), alice).await,
        (
            200,
            json!({"id": CAROL_ID, "display_name": "Carol", "avatar_url": null,
                   "non_identified_pubkey": BOB_INVITATION_KEY, "non_identified_pubkey_aes_rsa": null,
                   "contactable": false})
        ),
        "no account: not contactable"
    );
    let stranger = Uuid::from_u128(0x5742_4e6e);
    assert_eq!(
        read(format!("/identities/{stranger}/profile"), alice).await,
        (
            404,
            error(
                "not_found",
                "path",
                "no identity has this id",
                json!({"id": "not_found"})
            )
        )
    );
    assert_eq!(
        read("/identities/not-a-uuid/profile".to_owned(), alice).await,
        (400, malformed_path())
    );
    assert_eq!(
        read(bob_profile.clone(), Auth::default()).await,
        (401, unauthorized("accesstoken", "required"))
    );

    // Bob publishes a new key: the profile shows it, and invitations must use it.
    let new_key = "Qm9iTmV3Tm9uSWRlbnRpZmllZEtleQ";
    let patch = |auth, csrf, body: Value| async move {
        request(
            target,
            "PATCH",
            &format!("/identities/{BOB_ID}"),
            auth,
            csrf,
            Some(&body),
        )
        .await
    };
    assert_eq!(
        patch(
            bob_auth,
            Csrf::Valid,
            json!({"non_identified_pubkey": new_key})
        )
        .await,
        (204, Value::Null)
    );
    assert_eq!(
        read(bob_profile.clone(), alice).await,
        (200, profile(Some(new_key), true))
    );
    let old_key_contact = ContactRequestBuilder::new(&bob()).build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &old_key_contact)
            .await
            .1["details"],
        json!({"invitation_data": "invalid"})
    );
    let mut renewed_bob = bob();
    renewed_bob.non_identified_pubkey = Some(new_key.to_owned());
    let new_key_contact = ContactRequestBuilder::new(&renewed_bob).build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &new_key_contact)
            .await
            .0,
        201
    );

    // Refusals, each changing nothing.
    assert_eq!(
        patch(alice, Csrf::Valid, json!({"non_identified_pubkey": "QQ"})).await,
        (403, foreign_path())
    );
    assert_eq!(
        patch(
            bob_auth,
            Csrf::Missing,
            json!({"non_identified_pubkey": "QQ"})
        )
        .await,
        (403, csrf_required())
    );
    assert_eq!(
        patch(bob_auth, Csrf::Valid, json!({})).await,
        (
            400,
            error(
                "bad_request",
                "body",
                "name at least one of pubkey, non_identified_pubkey, pubkey_aes_rsa, non_identified_pubkey_aes_rsa",
                json!({"body": "required"})
            )
        )
    );
    assert_eq!(
        patch(
            bob_auth,
            Csrf::Valid,
            json!({"non_identified_pubkey": "not base64!", "pubkey_aes_rsa": 1})
        )
        .await,
        (
            400,
            error(
                "bad_request",
                "body",
                "malformed public keys",
                json!({"non_identified_pubkey": "malformed", "pubkey_aes_rsa": "malformed"})
            )
        )
    );
    assert_eq!(
        read(bob_profile.clone(), alice).await,
        (200, profile(Some(new_key), true))
    );

    // Cleared: Bob can no longer be invited.
    assert_eq!(
        patch(
            bob_auth,
            Csrf::Valid,
            json!({"non_identified_pubkey": null})
        )
        .await,
        (204, Value::Null)
    );
    assert_eq!(read(bob_profile, alice).await, (200, profile(None, false)));
    let fresh_hash = ContactRequestBuilder::new(&renewed_bob)
        .set("key_share.other_share_hash", "Y2xlYXJlZA")
        .build();
    assert_eq!(
        post_contact(target, ALICE_TOKEN, ALICE_ID, &fresh_hash)
            .await
            .0,
        409
    );
}

/// Bob sees the `box.auto_invite` in his notifications, reads the invitation of his account,
/// acknowledges the notification (every socket of his is told) and consumes the invitation.
pub async fn the_invitee_reads_acknowledges_and_consumes_its_invitation(
    target: &ConformanceTarget,
) {
    let bob_auth = Auth::bearer(BOB_TOKEN);
    let mut bob_socket = open_socket(target, &BOB_ID.to_string(), bob_auth, None)
        .await
        .expect("Bob's socket");
    let body = ContactRequestBuilder::new(&bob())
        .title("Invitation")
        .build();
    let (status, created) = post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await;
    assert_eq!(status, 201, "{created}");
    let live = bob_socket.next_update().await;
    let notification = live["object"].clone();
    let action_id = notification["details"]["cryptoaction_id"].clone();
    assert_utc_timestamp(&notification["created_at"]);
    assert_eq!(
        notification,
        json!({"id": notification["id"], "type": "box.auto_invite",
               "details": {"box_id": created["id"], "box_title": "Invitation",
                           "owner_org_id": created["owner_org_id"], "cryptoaction_id": action_id},
               "created_at": notification["created_at"], "acknowledged_at": null})
    );

    let notifications = format!("/identities/{BOB_ID}/notifications");
    let get = |path: String| async move {
        request(target, "GET", &path, bob_auth, Csrf::Valid, None).await
    };
    assert_eq!(
        get(notifications.clone()).await,
        (200, json!([notification]))
    );
    assert_eq!(
        head_count(target, &notifications, bob_auth).await,
        (204, Some(1))
    );

    let account = crate::builders::BOB_ACCOUNT_ID;
    let actions = format!("/accounts/{account}/crypto/actions");
    let action_path = format!("{actions}/{}", action_id.as_str().unwrap_or_default());
    let invitation = json!({"id": action_id, "type": "invitation", "box_id": created["id"],
                            "encryption_public_key": BOB_INVITATION_KEY,
                            "encrypted": crate::builders::SAMPLE_ENCRYPTED_INVITATION,
                            "created_at": notification["created_at"]});
    assert_eq!(get(actions.clone()).await, (200, json!([invitation])));
    assert_eq!(get(action_path.clone()).await, (200, invitation));

    // Acknowledged: the badge goes to zero and every socket of Bob's is told.
    let acknowledge = |query: String| async move {
        let path = format!("/identities/{BOB_ID}/notifications/acknowledgement{query}");
        request(target, "PUT", &path, bob_auth, Csrf::Valid, None).await
    };
    let stranger = Uuid::from_u128(0x5742_4e6e);
    let id = notification["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        acknowledge(format!("?ids={id},{stranger}")).await,
        (204, Value::Null)
    );
    let told = bob_socket.next_update().await;
    assert_utc_timestamp(&told["object"]["acknowledged_at"]);
    let acknowledged_at = told["object"]["acknowledged_at"].clone();
    assert_eq!(
        told,
        json!({"type": "notification.acknowledged",
               "object": {"ids": [id], "acknowledged_at": acknowledged_at}})
    );
    assert_eq!(
        head_count(target, &notifications, bob_auth).await,
        (204, Some(0))
    );
    // Nothing left to acknowledge: no frame (the next one Bob's socket gets is his own ack).
    assert_eq!(acknowledge(String::new()).await, (204, Value::Null));
    let ack = json!({"type": "ack", "object": {"sender_id": BOB_ID, "box_id": created["id"]}});
    bob_socket.send_json(&ack).await;
    assert_eq!(bob_socket.next_update().await, ack);

    // Consumed: gone, and the notification says so.
    let delete = |path: String| async move {
        request(target, "DELETE", &path, bob_auth, Csrf::Valid, None).await
    };
    assert_eq!(delete(action_path.clone()).await, (204, Value::Null));
    let not_found = error(
        "not_found",
        "path",
        "the account has no crypto action with this id",
        json!({"action_id": "not_found"}),
    );
    assert_eq!(get(action_path.clone()).await, (404, not_found.clone()));
    assert_eq!(get(actions).await, (200, json!([])));
    assert_eq!(delete(action_path).await, (404, not_found));
    let mut used = notification.clone();
    used["details"]["used"] = json!(true);
    used["acknowledged_at"] = acknowledged_at;
    assert_eq!(get(notifications).await, (200, json!([used])));
}

/// Malformed ids and paging values, foreign identities and accounts, a caller without an
/// account, missing CSRF: each refused in the error format.
pub async fn notification_and_invitation_routes_refuse_bad_input(target: &ConformanceTarget) {
    let bob_auth = Auth::bearer(BOB_TOKEN);
    let notifications = format!("/identities/{BOB_ID}/notifications");
    let get = |path: String, auth| async move {
        request(target, "GET", &path, auth, Csrf::Valid, None).await
    };
    let query_error = |field: &str, detail: &str, desc: &str| {
        (
            400,
            error("bad_request", "query", desc, json!({field: detail})),
        )
    };
    for (query, expected) in [
        (
            "?limit=101",
            query_error("limit", "invalid", "limit must be at most 100"),
        ),
        (
            "?limit=x",
            query_error("limit", "malformed", "limit must be a non-negative integer"),
        ),
        (
            "?offset=-1",
            query_error(
                "offset",
                "malformed",
                "offset must be a non-negative integer",
            ),
        ),
        (
            "?offset=1.5&limit=2",
            query_error(
                "offset",
                "malformed",
                "offset must be a non-negative integer",
            ),
        ),
    ] {
        assert_eq!(
            get(format!("{notifications}{query}"), bob_auth).await,
            expected,
            "{query}"
        );
    }
    assert_eq!(
        get(format!("{notifications}?offset=0&limit=0"), bob_auth).await,
        (200, json!([]))
    );
    assert_eq!(
        get(notifications.clone(), Auth::bearer(ALICE_TOKEN)).await,
        (403, foreign_path())
    );
    let acknowledgement = format!("/identities/{BOB_ID}/notifications/acknowledgement");
    assert_eq!(
        request(
            target,
            "PUT",
            &format!("{acknowledgement}?ids=1,2"),
            bob_auth,
            Csrf::Valid,
            None
        )
        .await,
        query_error("ids", "malformed", "ids must be comma-separated UUIDs")
    );
    assert_eq!(
        request(
            target,
            "PUT",
            &acknowledgement,
            bob_auth,
            Csrf::Missing,
            None
        )
        .await,
        (403, csrf_required())
    );

    let bob_account = crate::builders::BOB_ACCOUNT_ID;
    let actions = format!("/accounts/{bob_account}/crypto/actions");
    assert_eq!(
        get(actions.clone(), Auth::bearer(ALICE_TOKEN)).await,
        (
            403,
            error(
                "forbidden",
                "not_defined",
                "the account in the path is not the caller's",
                json!({})
            )
        )
    );
    assert_eq!(
        get(actions.clone(), Auth::bearer(CAROL_TOKEN)).await,
        (
            403,
            error(
                "forbidden",
                "not_defined",
                "the caller has no account",
                json!({"account_id": "forbidden"})
            )
        )
    );
    assert_eq!(
        get("/accounts/not-a-uuid/crypto/actions".to_owned(), bob_auth).await,
        (
            400,
            error(
                "bad_request",
                "path",
                "the account_id in the path must be a UUID",
                json!({"account_id": "malformed"})
            )
        )
    );
    let malformed_action = (
        400,
        error(
            "bad_request",
            "path",
            "the action_id in the path must be a UUID",
            json!({"action_id": "malformed"}),
        ),
    );
    assert_eq!(
        get(format!("{actions}/123"), bob_auth).await,
        malformed_action
    );
    assert_eq!(
        request(
            target,
            "DELETE",
            &format!("{actions}/123"),
            bob_auth,
            Csrf::Missing,
            None
        )
        .await,
        malformed_action,
        "the path is checked before CSRF"
    );
    let stranger = Uuid::from_u128(0x5742_4e6e);
    assert_eq!(
        request(
            target,
            "DELETE",
            &format!("{actions}/{stranger}"),
            bob_auth,
            Csrf::Missing,
            None
        )
        .await,
        (403, csrf_required())
    );
    assert_eq!(
        get(actions, Auth::default()).await,
        (401, unauthorized("accesstoken", "required"))
    );
}

/// Bob joins the box Alice made for him; they write to each other; each sees the other's
/// events live and in the box's reads; unread counts grow with the other's events and Bob's
/// `ack` resets his; Bob leaves and can read no more.
pub async fn members_join_write_read_and_leave(target: &ConformanceTarget) {
    let (alice_auth, bob_auth) = (Auth::bearer(ALICE_TOKEN), Auth::bearer(BOB_TOKEN));
    let mut alice_socket = open_socket(target, &ALICE_ID.to_string(), alice_auth, None)
        .await
        .expect("Alice's socket");
    let mut bob_socket = open_socket(target, &BOB_ID.to_string(), bob_auth, None)
        .await
        .expect("Bob's socket");
    let body = ContactRequestBuilder::new(&bob()).title("Our box").build();
    let (status, created) = post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await;
    assert_eq!(status, 201, "{created}");
    let box_id = created["id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..2 {
        alice_socket.next_update().await;
    }
    bob_socket.next_update().await;

    let box_path = format!("/boxes/{box_id}");
    let events_path = format!("{box_path}/events");
    let get = |path: String, auth| async move {
        request(target, "GET", &path, auth, Csrf::Valid, None).await
    };
    let post = |auth, body: Value| {
        let path = events_path.clone();
        async move { request(target, "POST", &path, auth, Csrf::Valid, Some(&body)).await }
    };
    let member_required = error(
        "forbidden",
        "not_defined",
        "only members of the box may do this",
        json!({"member": "required"}),
    );
    assert_eq!(
        get(box_path.clone(), bob_auth).await,
        (403, member_required.clone())
    );

    // Bob joins: both sockets get the event, with its position in each log.
    let (status, join) = post(bob_auth, json!({"type": "member.join"})).await;
    assert_eq!(status, 201, "{join}");
    assert_utc_timestamp(&join["server_event_created_at"]);
    assert_eq!(
        join,
        json!({"id": join["id"], "type": "member.join", "box_id": box_id, "content": null,
               "server_event_created_at": join["server_event_created_at"],
               "sender": identity_view(BOB_ID), "referrer_id": null})
    );
    let mut pushed = join.clone();
    pushed["owner_org_id"] = created["owner_org_id"].clone();
    assert_eq!(
        alice_socket.next_update().await,
        json!({"seq": 3, "type": "event.new", "object": pushed})
    );
    assert_eq!(
        bob_socket.next_update().await,
        json!({"seq": 2, "type": "event.new", "object": pushed})
    );
    assert_eq!(
        post(bob_auth, json!({"type": "member.join"})).await,
        (
            409,
            error(
                "conflict",
                "not_defined",
                "the caller is a member already",
                json!({"member": "conflict"})
            )
        )
    );

    // Alice writes; Bob's count grows; Bob's ack resets it.
    let message = json!({"encrypted": "aGVsbG8gQm9i", "public_key": SPEC_BOX_PUBLIC_KEY});
    let (status, from_alice) =
        post(alice_auth, json!({"type": "msg.text", "content": message})).await;
    assert_eq!(status, 201, "{from_alice}");
    assert_eq!(
        from_alice,
        json!({"id": from_alice["id"], "type": "msg.text", "box_id": box_id, "content": message,
               "server_event_created_at": from_alice["server_event_created_at"],
               "sender": identity_view(ALICE_ID), "referrer_id": null})
    );
    assert_eq!(
        bob_socket.next_update().await["object"]["id"],
        from_alice["id"]
    );
    assert_eq!(
        alice_socket.next_update().await["object"]["id"],
        from_alice["id"]
    );
    let (status, bob_view) = get(box_path.clone(), bob_auth).await;
    assert_eq!(status, 200, "{bob_view}");
    let last_event = json!({"id": from_alice["id"], "type": "msg.text", "content": message,
                            "server_event_created_at": from_alice["server_event_created_at"],
                            "sender": identity_view(ALICE_ID)});
    assert_eq!(
        bob_view,
        json!({"id": box_id, "server_created_at": created["server_created_at"],
               "public_key": SPEC_BOX_PUBLIC_KEY, "title": "Our box", "access_mode": "public",
               "owner_org_id": created["owner_org_id"], "creator": identity_view(ALICE_ID),
               "last_event": last_event, "events_count": 1})
    );
    assert_eq!(
        get(box_path.clone(), alice_auth).await.1["events_count"],
        1,
        "Bob's join"
    );
    let ack = json!({"type": "ack", "object": {"sender_id": BOB_ID, "box_id": box_id}});
    bob_socket.send_json(&ack).await;
    assert_eq!(bob_socket.next_update().await, ack);
    assert_eq!(get(box_path.clone(), bob_auth).await.1["events_count"], 0);

    // Reads: events newest first, members, joined boxes, the key share.
    let (status, events) = get(events_path.clone(), bob_auth).await;
    assert_eq!(status, 200, "{events}");
    let kinds: Vec<&str> = events
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        kinds,
        ["msg.text", "member.join", "state.access_mode", "create"]
    );
    assert_eq!(events[0], from_alice);
    assert_eq!(events[1], join);
    assert_eq!(
        get(format!("{events_path}?offset=1&limit=1"), bob_auth).await,
        (200, json!([join]))
    );
    assert_eq!(
        head_count(target, &events_path, bob_auth).await,
        (204, Some(4))
    );
    assert_eq!(
        get(format!("{box_path}/members"), bob_auth).await,
        (200, json!([identity_view(ALICE_ID), identity_view(BOB_ID)]))
    );
    let (status, joined) = get("/boxes/joined".to_owned(), bob_auth).await;
    assert_eq!(
        (
            status,
            joined[0]["id"].clone(),
            joined.as_array().map(Vec::len)
        ),
        (200, json!(box_id), Some(1))
    );
    assert_eq!(
        head_count(target, "/boxes/joined", bob_auth).await,
        (204, Some(1))
    );
    let hash = body["key_share"]["other_share_hash"].clone();
    assert_eq!(
        get(
            format!("/box-key-shares/{}", hash.as_str().unwrap_or_default()),
            bob_auth
        )
        .await,
        (
            200,
            json!({"other_share_hash": hash, "share": body["key_share"]["misakey_share"], "box_id": box_id})
        )
    );

    // Bob leaves (the leave refers to his join); he reads no more. The creator cannot leave.
    let (status, leave) = post(bob_auth, json!({"type": "member.leave"})).await;
    assert_eq!(
        (status, leave["referrer_id"].clone()),
        (201, join["id"].clone()),
        "{leave}"
    );
    assert_eq!(
        alice_socket.next_update().await["object"]["id"],
        leave["id"]
    );
    assert_eq!(bob_socket.next_update().await["object"]["id"], leave["id"]);
    assert_eq!(
        get(box_path.clone(), bob_auth).await,
        (403, member_required.clone())
    );
    assert_eq!(
        post(bob_auth, json!({"type": "member.leave"})).await,
        (403, member_required.clone())
    );
    assert_eq!(
        post(alice_auth, json!({"type": "member.leave"})).await,
        (
            403,
            error(
                "forbidden",
                "not_defined",
                "the creator of a box cannot leave it",
                json!({"member": "forbidden"})
            )
        )
    );
    assert_eq!(
        get(format!("{box_path}/members"), alice_auth).await,
        (200, json!([identity_view(ALICE_ID)]))
    );
}

/// Unknown and malformed boxes, bad types and contents, non-members, malformed key-share
/// hashes: each refused in the error format, nothing written.
pub async fn box_routes_refuse_bad_input(target: &ConformanceTarget) {
    let (alice_auth, bob_auth) = (Auth::bearer(ALICE_TOKEN), Auth::bearer(BOB_TOKEN));
    let body = ContactRequestBuilder::new(&bob()).build();
    let (_, created) = post_contact(target, ALICE_TOKEN, ALICE_ID, &body).await;
    let box_id = created["id"].as_str().unwrap_or_default().to_owned();
    let post = |path: String, auth, csrf, body: Value| async move {
        request(target, "POST", &path, auth, csrf, Some(&body)).await
    };
    let events = format!("/boxes/{box_id}/events");
    let invalid = |details: Value| {
        (
            400,
            error("bad_request", "body", "invalid box event", details),
        )
    };
    for (body, expected) in [
        (json!({}), invalid(json!({"type": "required"}))),
        (
            json!({"type": "box.delete"}),
            invalid(json!({"type": "invalid"})),
        ),
        (
            json!({"type": "msg.text"}),
            invalid(json!({"content": "required"})),
        ),
        (
            json!({"type": "msg.text", "content": {"encrypted": "", "public_key": "a2V5=="}}),
            invalid(json!({"content.encrypted": "malformed", "content.public_key": "malformed"})),
        ),
        (
            json!({"type": "msg.text", "content": {"public_key": "a2V5"}}),
            invalid(json!({"content.encrypted": "required"})),
        ),
    ] {
        assert_eq!(
            post(events.clone(), alice_auth, Csrf::Valid, body.clone()).await,
            expected,
            "{body}"
        );
    }
    let message =
        json!({"type": "msg.text", "content": {"encrypted": "aGk", "public_key": "a2V5"}});
    assert_eq!(
        post(events.clone(), bob_auth, Csrf::Valid, message.clone()).await,
        (
            403,
            error(
                "forbidden",
                "not_defined",
                "only members of the box may do this",
                json!({"member": "required"})
            )
        ),
        "Bob has not joined"
    );
    let stranger = Uuid::from_u128(0x5742_4e6e);
    let unknown = (
        404,
        error(
            "not_found",
            "path",
            "no box has this id",
            json!({"id": "not_found"}),
        ),
    );
    assert_eq!(
        post(
            format!("/boxes/{stranger}/events"),
            alice_auth,
            Csrf::Valid,
            message.clone()
        )
        .await,
        unknown
    );
    assert_eq!(
        request(
            target,
            "GET",
            &format!("/boxes/{stranger}"),
            alice_auth,
            Csrf::Valid,
            None
        )
        .await,
        unknown
    );
    let malformed_id = (400, malformed_path());
    assert_eq!(
        post(
            "/boxes/123/events".to_owned(),
            alice_auth,
            Csrf::Missing,
            message.clone()
        )
        .await,
        malformed_id,
        "the path is checked before CSRF"
    );
    assert_eq!(
        post(events.clone(), alice_auth, Csrf::Missing, message).await,
        (403, csrf_required())
    );
    for hash in ["not base64!", "cGFkZGVk%3D%3D"] {
        assert_eq!(
            request(
                target,
                "GET",
                &format!("/box-key-shares/{hash}"),
                alice_auth,
                Csrf::Valid,
                None
            )
            .await,
            (
                400,
                error(
                    "bad_request",
                    "path",
                    "the share hash must be unpadded URL-safe base64",
                    json!({"other_share_hash": "malformed"})
                )
            ),
            "{hash}"
        );
    }
    assert_eq!(
        request(
            target,
            "GET",
            "/box-key-shares/dW5rbm93bg",
            alice_auth,
            Csrf::Valid,
            None
        )
        .await,
        (
            404,
            error(
                "not_found",
                "path",
                "no key share has this hash",
                json!({"other_share_hash": "not_found"})
            )
        )
    );
    let hash = body["key_share"]["other_share_hash"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        request(
            target,
            "GET",
            &format!("/box-key-shares/{hash}"),
            bob_auth,
            Csrf::Valid,
            None
        )
        .await
        .0,
        403,
        "Bob has not joined"
    );
    // Nothing was written: the box still has its two first events.
    assert_eq!(
        head_count(target, &events, alice_auth).await,
        (204, Some(2))
    );
}

/// Joins and messages are durable updates like a contact's: a socket resuming with `?since`
/// receives those it missed, in order, each with its position.
pub async fn box_events_are_replayed_on_resume(target: &ConformanceTarget) {
    let (alice_auth, bob_auth) = (Auth::bearer(ALICE_TOKEN), Auth::bearer(BOB_TOKEN));
    let (_, created) = post_contact(
        target,
        ALICE_TOKEN,
        ALICE_ID,
        &ContactRequestBuilder::new(&bob()).build(),
    )
    .await;
    let events = format!(
        "/boxes/{}/events",
        created["id"].as_str().unwrap_or_default()
    );
    let post = |auth, body: Value| {
        let events = events.clone();
        async move { request(target, "POST", &events, auth, Csrf::Valid, Some(&body)).await }
    };
    let message = |text: &str| json!({"type": "msg.text", "content": {"encrypted": text, "public_key": SPEC_BOX_PUBLIC_KEY}});
    let mut written = Vec::new();
    for (auth, body) in [
        (bob_auth, json!({"type": "member.join"})),
        (alice_auth, message("b25l")),
        (bob_auth, message("dHdv")),
    ] {
        let (status, event) = post(auth, body).await;
        assert_eq!(status, 201, "{event}");
        written.push(event);
    }
    // Bob's log: 1 his invitation, then the three events; he resumes after the invitation.
    let mut socket = open_socket_resuming(target, &BOB_ID.to_string(), bob_auth, "1")
        .await
        .expect("Bob's resuming socket");
    for (seq, event) in (2..).zip(&written) {
        let mut object = event.clone();
        object["owner_org_id"] = created["owner_org_id"].clone();
        assert_eq!(
            socket.next_update().await,
            json!({"seq": seq, "type": "event.new", "object": object})
        );
    }
}
