//! The routes of the protocol: what each one does once [`super::HttpApi`] has checked the
//! request, and what the OpenAPI document says of it. Adding a route here adds it to every
//! frontend and to the document.

use std::collections::BTreeMap;

use http::header::SET_COOKIE;
use http::{HeaderValue, Method, StatusCode};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::routing::{Access, Route, RouteCall};
use super::rules::{CSRF_COOKIE, new_csrf_token};
use super::{TOTAL_COUNT_HEADER, json_response};
use crate::domain::{
    BoxView, CryptoActionView, EventView, IdentityView, NotificationView, ProfileView,
};
use crate::error::Error;
use crate::use_cases::{KeyShareView, parse_notification_ids};
use crate::validation::MAX_TITLE_CHARS;

/// Every route of the protocol, in the order of the documentation.
pub(super) fn protocol_routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/box-users/{id}/contact", Access::OwnIdentity, contact)
            .summary("Create a box with another identity and invite it")
            .request::<ContactRequestBody>()
            .answers::<BoxView>(StatusCode::CREATED, "the new box")
            .fails(StatusCode::NOT_FOUND, "the contacted identity does not exist")
            .fails(StatusCode::FORBIDDEN, "the contacted identity has no account")
            .fails(
                StatusCode::BAD_REQUEST,
                "invitation_data is not for the contacted identity's key",
            )
            .fails(
                StatusCode::CONFLICT,
                "other_share_hash already stored, or the contacted identity has no key for invitations",
            ),
        Route::socket("/box-users/{id}/ws")
            .summary(
                "The caller's realtime updates: a WebSocket of text frames {\"seq\", \"type\", \"object\"}",
            )
            .query(
                "since",
                "resume after this position: replays what followed, then continues live",
                json!({"type": "integer", "minimum": 0}),
            )
            .answers_empty(StatusCode::SWITCHING_PROTOCOLS, "the socket is open")
            .fails(StatusCode::BAD_REQUEST, "since is not a non-negative integer"),
        Route::new(
            Method::GET,
            "/identities/{id}/profile",
            Access::Authenticated,
            profile,
        )
        .uuid_param("id")
        .summary("The public profile of an identity: what a client needs to contact it")
        .answers::<ProfileView>(StatusCode::OK, "the profile")
        .fails(StatusCode::NOT_FOUND, "no identity has this id"),
        Route::new(
            Method::PATCH,
            "/identities/{id}",
            Access::OwnIdentity,
            update_public_keys,
        )
        .summary("Set or clear the caller's public keys")
        .request::<PublicKeysBody>()
        .answers_empty(StatusCode::NO_CONTENT, "the keys are updated"),
        Route::new(
            Method::GET,
            "/identities/{id}/notifications",
            Access::OwnIdentity,
            notifications,
        )
        .summary("The caller's notifications, newest first")
        .paged()
        .answers::<Vec<NotificationView>>(StatusCode::OK, "a page of notifications"),
        Route::new(
            Method::HEAD,
            "/identities/{id}/notifications",
            Access::OwnIdentity,
            count_notifications,
        )
        .summary("How many of the caller's notifications are unacknowledged, in X-Total-Count")
        .counted()
        .answers_empty(StatusCode::NO_CONTENT, "the count is in X-Total-Count"),
        Route::new(
            Method::PUT,
            "/identities/{id}/notifications/acknowledgement",
            Access::OwnIdentity,
            acknowledge_notifications,
        )
        .summary("Acknowledge the caller's notifications: those of `ids`, or all")
        .query(
            "ids",
            "comma-separated notification ids; without it, every notification",
            json!({"type": "string"}),
        )
        .answers_empty(StatusCode::NO_CONTENT, "acknowledged")
        .fails(StatusCode::BAD_REQUEST, "ids is not a list of UUIDs"),
        Route::new(
            Method::GET,
            "/accounts/{account_id}/crypto/actions",
            Access::OwnAccount,
            crypto_actions,
        )
        .summary("The crypto actions (invitations) of the caller's account, oldest first")
        .answers::<Vec<CryptoActionView>>(StatusCode::OK, "the account's crypto actions"),
        Route::new(
            Method::GET,
            "/accounts/{account_id}/crypto/actions/{action_id}",
            Access::OwnAccount,
            crypto_action,
        )
        .uuid_param("action_id")
        .summary("One crypto action of the caller's account")
        .answers::<CryptoActionView>(StatusCode::OK, "the crypto action")
        .fails(StatusCode::NOT_FOUND, "the account has no crypto action with this id"),
        Route::new(
            Method::DELETE,
            "/accounts/{account_id}/crypto/actions/{action_id}",
            Access::OwnAccount,
            consume_crypto_action,
        )
        .uuid_param("action_id")
        .summary("Consume a crypto action: its notifications are marked used")
        .answers_empty(StatusCode::NO_CONTENT, "consumed")
        .fails(StatusCode::NOT_FOUND, "the account has no crypto action with this id"),
        // Before `/boxes/{id}`: the first route that matches answers.
        Route::new(Method::GET, "/boxes/joined", Access::Authenticated, joined_boxes)
            .summary("The boxes the caller is a member of, newest activity first")
            .paged()
            .answers::<Vec<BoxView>>(StatusCode::OK, "a page of boxes"),
        Route::new(Method::HEAD, "/boxes/joined", Access::Authenticated, count_joined_boxes)
            .summary("How many boxes the caller is a member of, in X-Total-Count")
            .counted()
            .answers_empty(StatusCode::NO_CONTENT, "the count is in X-Total-Count"),
        Route::new(Method::POST, "/boxes/{id}/events", Access::Authenticated, post_box_event)
            .uuid_param("id")
            .summary("Join, leave or write in a box")
            .request::<BoxEventBody>()
            .answers::<EventView>(StatusCode::CREATED, "the event")
            .fails(StatusCode::BAD_REQUEST, "the type or the content breaks its rules")
            .fails(StatusCode::NOT_FOUND, "no box has this id")
            .fails(
                StatusCode::FORBIDDEN,
                "not a member (to write or leave), or the creator leaving",
            )
            .fails(StatusCode::CONFLICT, "joining a box the caller is a member of"),
        Route::new(Method::GET, "/boxes/{id}", Access::Authenticated, box_view)
            .uuid_param("id")
            .summary("A box the caller is a member of, with its unread count")
            .answers::<BoxView>(StatusCode::OK, "the box")
            .fails(StatusCode::NOT_FOUND, "no box has this id")
            .fails(StatusCode::FORBIDDEN, "the caller is not a member"),
        Route::new(Method::GET, "/boxes/{id}/events", Access::Authenticated, box_events)
            .uuid_param("id")
            .summary("The events of a box, newest first")
            .paged()
            .answers::<Vec<EventView>>(StatusCode::OK, "a page of events")
            .fails(StatusCode::NOT_FOUND, "no box has this id")
            .fails(StatusCode::FORBIDDEN, "the caller is not a member"),
        Route::new(Method::HEAD, "/boxes/{id}/events", Access::Authenticated, count_box_events)
            .uuid_param("id")
            .summary("How many events a box has, in X-Total-Count")
            .counted()
            .answers_empty(StatusCode::NO_CONTENT, "the count is in X-Total-Count")
            .fails(StatusCode::NOT_FOUND, "no box has this id")
            .fails(StatusCode::FORBIDDEN, "the caller is not a member"),
        Route::new(Method::GET, "/boxes/{id}/members", Access::Authenticated, box_members)
            .uuid_param("id")
            .summary("The members of a box, creator first, then by join time")
            .answers::<Vec<IdentityView>>(StatusCode::OK, "the members")
            .fails(StatusCode::NOT_FOUND, "no box has this id")
            .fails(StatusCode::FORBIDDEN, "the caller is not a member"),
        Route::new(
            Method::GET,
            "/box-key-shares/{other_share_hash}",
            Access::Authenticated,
            key_share,
        )
        .summary("The server's share of a box key, for a member of the box")
        .answers::<KeyShareView>(StatusCode::OK, "the key share")
        .fails(StatusCode::BAD_REQUEST, "the hash is not unpadded URL-safe base64")
        .fails(StatusCode::NOT_FOUND, "no key share has this hash")
        .fails(StatusCode::FORBIDDEN, "the caller is not a member of its box"),
        Route::new(Method::GET, "/csrf", Access::Public, csrf)
            .summary("A CSRF token, also set as the csrftoken cookie")
            .answers::<CsrfToken>(StatusCode::OK, "the token"),
        Route::new(Method::GET, "/healthz", Access::Public, healthz)
            .summary("Whether the storage and the bus answer")
            .answers::<Health>(StatusCode::OK, "healthy")
            .fails(StatusCode::SERVICE_UNAVAILABLE, "a dependency is down"),
        Route::openapi("/openapi.json")
            .summary("This document")
            .answers::<serde_json::Map<String, serde_json::Value>>(StatusCode::OK, "the document"),
    ]
}

/// `POST /box-users/{id}/contact`: 201 with the box view.
async fn contact(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let created = call.service.contact(call.caller()?, call.body()?).await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// `GET /identities/{id}/profile`.
async fn profile(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let profile = call.service.profile(call.uuid("id")?).await?;
    Ok(json_response(StatusCode::OK, &profile))
}

/// `PATCH /identities/{id}`: 204.
async fn update_public_keys(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    call.service
        .update_public_keys(call.caller()?, call.body()?)
        .await?;
    Ok(no_content())
}

/// `GET /identities/{id}/notifications`.
async fn notifications(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let paging = call.paging()?;
    let page = call
        .service
        .notifications(call.caller()?, paging.offset, paging.limit)
        .await?;
    Ok(json_response(StatusCode::OK, &page))
}

/// `HEAD /identities/{id}/notifications`: 204 with `X-Total-Count`, the unacknowledged ones.
async fn count_notifications(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let count = call
        .service
        .unacknowledged_notifications(call.caller()?)
        .await?;
    Ok(counted(count))
}

/// `PUT /identities/{id}/notifications/acknowledgement`: 204.
async fn acknowledge_notifications(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let ids = parse_notification_ids(call.query_value("ids").as_deref())?;
    call.service
        .acknowledge_notifications(call.caller()?, ids.as_deref())
        .await?;
    Ok(no_content())
}

/// `GET /accounts/{account_id}/crypto/actions`.
async fn crypto_actions(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let actions = call.service.crypto_actions(call.caller()?).await?;
    Ok(json_response(StatusCode::OK, &actions))
}

/// `GET /accounts/{account_id}/crypto/actions/{action_id}`.
async fn crypto_action(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let action = call
        .service
        .crypto_action(call.caller()?, call.uuid("action_id")?)
        .await?;
    Ok(json_response(StatusCode::OK, &action))
}

/// `DELETE /accounts/{account_id}/crypto/actions/{action_id}`: 204.
async fn consume_crypto_action(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    call.service
        .consume_crypto_action(call.caller()?, call.uuid("action_id")?)
        .await?;
    Ok(no_content())
}

/// `POST /boxes/{id}/events`: 201 with the event.
async fn post_box_event(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let event = call
        .service
        .post_box_event(call.caller()?, call.uuid("id")?, call.body()?)
        .await?;
    Ok(json_response(StatusCode::CREATED, &event))
}

/// `GET /boxes/{id}`.
async fn box_view(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let view = call
        .service
        .box_view(call.caller()?, call.uuid("id")?)
        .await?;
    Ok(json_response(StatusCode::OK, &view))
}

/// `GET /boxes/{id}/events`.
async fn box_events(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let paging = call.paging()?;
    let (events, _) = call
        .service
        .box_events(
            call.caller()?,
            call.uuid("id")?,
            paging.offset,
            paging.limit,
        )
        .await?;
    Ok(json_response(StatusCode::OK, &events))
}

/// `HEAD /boxes/{id}/events`.
async fn count_box_events(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let (_, total) = call
        .service
        .box_events(call.caller()?, call.uuid("id")?, 0, 0)
        .await?;
    Ok(counted(total))
}

/// `GET /boxes/{id}/members`.
async fn box_members(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let members = call
        .service
        .box_members(call.caller()?, call.uuid("id")?)
        .await?;
    Ok(json_response(StatusCode::OK, &members))
}

/// `GET /boxes/joined`.
async fn joined_boxes(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let paging = call.paging()?;
    let (boxes, _) = call
        .service
        .joined_boxes(call.caller()?, paging.offset, paging.limit)
        .await?;
    Ok(json_response(StatusCode::OK, &boxes))
}

/// `HEAD /boxes/joined`.
async fn count_joined_boxes(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let (_, total) = call.service.joined_boxes(call.caller()?, 0, 0).await?;
    Ok(counted(total))
}

/// `GET /box-key-shares/{other_share_hash}`.
async fn key_share(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let hash = call.params.get("other_share_hash").unwrap_or_default();
    let share = call.service.key_share(call.caller()?, hash).await?;
    Ok(json_response(StatusCode::OK, &share))
}

/// 204 with `X-Total-Count: total`.
fn counted(total: u64) -> http::Response<bytes::Bytes> {
    let mut response = no_content();
    response
        .headers_mut()
        .insert(TOTAL_COUNT_HEADER, HeaderValue::from(total));
    response
}

fn no_content() -> http::Response<bytes::Bytes> {
    let mut response = http::Response::new(bytes::Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The body of `GET /csrf`.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct CsrfToken {
    /// Send it back in the `X-CSRF-Token` header of unsafe requests.
    csrf_token: String,
}

/// `GET /csrf`: a new token, in the body and in the `csrftoken` cookie (double submit).
async fn csrf(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    let token = new_csrf_token();
    let cookie = cookie::Cookie::build((CSRF_COOKIE, token.as_str()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(call.settings.secure_cookies)
        .build();
    let mut response = json_response(
        StatusCode::OK,
        &CsrfToken {
            csrf_token: token.clone(),
        },
    );
    let cookie = HeaderValue::from_str(&cookie.encoded().to_string()).map_err(Error::internal)?;
    response.headers_mut().append(SET_COOKIE, cookie);
    Ok(response)
}

/// The body of a healthy `GET /healthz`.
#[derive(Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
struct Health {
    /// Always `ok`.
    #[schemars(extend("const" = "ok"))]
    status: &'static str,
}

/// `GET /healthz`: 200 when the store and the bus answer, else 503 in the error format.
async fn healthz(call: RouteCall) -> Result<http::Response<bytes::Bytes>, Error> {
    call.service.health().await?;
    Ok(json_response(StatusCode::OK, &Health { status: "ok" }))
}

/// The body of `POST /box-users/{id}/contact`. Unknown fields are ignored.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct ContactRequestBody {
    /// The identity to contact (alias: `identity_id`); not the caller.
    contacted_identity_id: uuid::Uuid,
    /// The new box.
    #[serde(rename = "box")]
    new_box: NewBox,
    /// The server's share of the box key.
    key_share: KeyShareBody,
    /// Exactly one entry: {the contacted identity's non-identified public key: the encrypted
    /// crypto action}.
    #[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
    invitation_data: BTreeMap<String, String>,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct NewBox {
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS))]
    title: String,
    /// Unpadded URL-safe base64, optionally prefixed `com.misakey.aes-rsa-enc:`.
    #[schemars(regex(pattern = r"^(com\.misakey\.aes-rsa-enc:)?[A-Za-z0-9_-]+$"))]
    public_key: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct KeyShareBody {
    /// Base64, standard or URL-safe alphabet, padding optional.
    #[schemars(regex(pattern = r"^[A-Za-z0-9+/_-]+={0,2}$"))]
    misakey_share: String,
    /// Unpadded URL-safe base64, unique among all boxes.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    other_share_hash: String,
    /// Base64, standard or URL-safe alphabet, padding optional.
    #[schemars(regex(pattern = r"^[A-Za-z0-9+/_-]+={0,2}$"))]
    encrypted_invitation_key_share: String,
}

/// The body of `PATCH /identities/{id}`: at least one of the keys; a key sets it, `null`
/// clears it, an absent key is left as it is. Unknown fields are ignored.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
#[schemars(extend("minProperties" = 1))]
struct PublicKeysBody {
    /// Identified public key: unpadded URL-safe base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pubkey: Option<String>,
    /// The key invitations are encrypted for: unpadded URL-safe base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    non_identified_pubkey: Option<String>,
    /// Unpadded URL-safe base64, optionally prefixed `com.misakey.aes-rsa-enc:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(com\.misakey\.aes-rsa-enc:)?[A-Za-z0-9_-]+$"))]
    pubkey_aes_rsa: Option<String>,
    /// Unpadded URL-safe base64, optionally prefixed `com.misakey.aes-rsa-enc:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(com\.misakey\.aes-rsa-enc:)?[A-Za-z0-9_-]+$"))]
    non_identified_pubkey_aes_rsa: Option<String>,
}

/// The body of `POST /boxes/{id}/events`.
#[derive(JsonSchema)]
#[allow(dead_code)] // only its schema is used
struct BoxEventBody {
    /// `member.join`, `member.leave` or `msg.text`.
    #[schemars(extend("enum" = ["member.join", "member.leave", "msg.text"]))]
    r#type: String,
    /// For `msg.text`: `{"encrypted": base64 (at most 32 KiB decoded), "public_key": unpadded
    /// URL-safe base64}`; absent or null for membership events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<serde_json::Value>,
}
