//! The wire-level conformance suite (feature `conformance`): checks a running server over
//! real HTTP and WebSocket connections against `docs/protocol.md`.
//!
//! The server under test must:
//! - serve the routes under [`ConformanceTarget::base_url`];
//! - know the identities and tokens of [`fixtures`];
//! - allow the origin [`ALLOWED_ORIGIN`] (and no other) for sockets and CORS, require ACR 1,
//!   allow 32 sockets per identity, accept bodies up to 64 KiB and socket frames up to 8 KiB;
//! - use the [`SocketSettings`] each check asks for (short timers for the timer checks).
//!
//! [`conformance_tests!`](crate::conformance_tests) makes one test per check. The poem server
//! and the axum example both run it; so can any server that embeds the core.
//!
//! Like any assertion code, the suite panics on the first difference.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod checks;
pub mod client;
pub mod openapi_check;

use chrono::{DateTime, Utc};
use misakey_box::domain::Identity;
use misakey_box::fixtures::{FixtureToken, Fixtures};
pub use misakey_box::socket::SocketSettings;
use uuid::Uuid;

use crate::builders::{ALICE_ID, BOB_ID, BOB_INVITATION_KEY, IdentityBuilder, alice, bob};
use crate::{ALICE_TOKEN, BOB_TOKEN};

/// The only `Origin` the server under test lets open sockets.
pub const ALLOWED_ORIGIN: &str = "https://app.conformance.test";
/// A token of Alice with ACR 0.
pub const WEAK_TOKEN: &str = "weak-token";
/// A token of Alice that expired in 2000.
pub const EXPIRED_TOKEN: &str = "expired-token";
/// A token of Carol (no account).
pub const CAROL_TOKEN: &str = "carol-token";
/// Carol: no account.
pub const CAROL_ID: Uuid = Uuid::from_u128(0xca201000_0000_4000_8000_000000000003);
/// Dave: an account but no key for invitations.
pub const DAVE_ID: Uuid = Uuid::from_u128(0xda7e0000_0000_4000_8000_000000000004);
/// Erin: only an AES-RSA key for invitations.
pub const ERIN_ID: Uuid = Uuid::from_u128(0xe2140000_0000_4000_8000_000000000005);
/// Erin's AES-RSA non-identified public key.
pub const ERIN_AES_RSA_KEY: &str = "com.misakey.aes-rsa-enc:RXJpblJzYUtleQ";

/// The identities and tokens the server under test must be started with.
pub fn fixtures() -> Fixtures {
    let expired: DateTime<Utc> = DateTime::from_timestamp(946_684_800, 0).unwrap_or_default();
    let token = |token: &str, identity_id, acr, expires_at| FixtureToken {
        token: token.to_owned(),
        identity_id,
        acr,
        expires_at,
    };
    let carol = IdentityBuilder::new(CAROL_ID, "Carol")
        .non_identified_pubkey(BOB_INVITATION_KEY)
        .build();
    let dave = IdentityBuilder::new(DAVE_ID, "Dave")
        .account(Uuid::from_u128(0xacc0da7e))
        .build();
    let erin = IdentityBuilder::new(ERIN_ID, "Erin")
        .account(Uuid::from_u128(0xacc0e214))
        .non_identified_pubkey_aes_rsa(ERIN_AES_RSA_KEY)
        .build();
    Fixtures {
        identities: vec![alice(), bob(), carol, dave, erin],
        tokens: vec![
            token(ALICE_TOKEN, ALICE_ID, 2, None),
            token(BOB_TOKEN, BOB_ID, 2, None),
            token(WEAK_TOKEN, ALICE_ID, 0, None),
            token(EXPIRED_TOKEN, ALICE_ID, 2, Some(expired)),
            token(CAROL_TOKEN, CAROL_ID, 2, None),
        ],
    }
}

/// A route of a host application, added to the core's routing with
/// [`HttpApi::with_route`](misakey_box::http::HttpApi::with_route) and checked by
/// [`checks::added_route_is_served`]: `POST /box-users/{id}/probe` (the caller's own, CSRF,
/// JSON body) answers 200 `{"caller": id, "acr": acr, "body": body}`.
pub fn probe_route() -> misakey_box::http::Route {
    use misakey_box::http::{Access, Route, RouteCall, json_response};
    Route::new(
        misakey_box::http::Method::POST,
        "/box-users/{id}/probe",
        Access::OwnIdentity,
        |call: RouteCall| async move {
            let caller = call.caller()?;
            let answer = serde_json::json!({
                "caller": caller.identity_id,
                "acr": caller.acr,
                "body": call.body()?,
            });
            Ok(json_response(misakey_box::http::StatusCode::OK, &answer))
        },
    )
    .summary("A host application's route: who called, with what")
    .request::<serde_json::Value>()
    .answers::<serde_json::Value>(misakey_box::http::StatusCode::OK, "the caller and the body")
}

/// An identity of [`fixtures`] by id.
pub fn identity(id: Uuid) -> Identity {
    fixtures()
        .identities
        .into_iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("{id} is not a conformance identity"))
}

/// Where the server under test answers.
#[derive(Debug, Clone)]
pub struct ConformanceTarget {
    /// `http://host:port` plus the prefix the routes are nested under, without trailing `/`.
    pub base_url: String,
}

impl ConformanceTarget {
    /// A target at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    /// The HTTP URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The WebSocket URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws{}{path}", self.base_url.trim_start_matches("http"))
    }
}

/// Socket settings with short timers, for the checks of heartbeat and idle timeout.
pub fn short_timers() -> SocketSettings {
    SocketSettings {
        ping_interval: std::time::Duration::from_millis(300),
        idle_timeout: std::time::Duration::from_millis(1500),
        send_timeout: std::time::Duration::from_secs(1),
        ..SocketSettings::default()
    }
}

/// Socket settings with the default timers, for every check but those of timers.
pub fn default_timers() -> SocketSettings {
    SocketSettings::default()
}

/// Expands to one `#[tokio::test]` per conformance check.
///
/// The argument is a closure `|settings: SocketSettings| async move { ... }` that starts a
/// server (see the [module documentation](crate::conformance) for what it must be started
/// with) and yields `Option<G>`, where `G` dereferences to a [`ConformanceTarget`] and stops
/// the server when dropped; `None` skips the test.
///
/// The list below is the only list of the checks: each with the socket settings it needs.
#[macro_export]
macro_rules! conformance_tests {
    ($start:expr) => {
        $crate::conformance_tests!(@check $start,
            missing_access_token_is_401: default_timers,
            wrong_token_type_is_401: default_timers,
            unknown_or_expired_token_is_401: default_timers,
            low_acr_is_403: default_timers,
            malformed_path_id_is_400: default_timers,
            foreign_path_id_is_403: default_timers,
            checks_run_in_the_documented_order: default_timers,
            csrf_token_is_required_and_must_match: default_timers,
            invalid_fields_are_400_with_every_detail: default_timers,
            malformed_json_wrong_content_type_and_oversized_bodies_are_refused: default_timers,
            unknown_routes_answer_in_the_error_format: default_timers,
            methods_a_path_does_not_serve_are_405_with_allow: default_timers,
            cors_grants_the_allowed_origin_only: default_timers,
            business_rules_answer_their_errors: default_timers,
            duplicate_share_hash_is_409: default_timers,
            contact_answers_201_with_the_box_view: default_timers,
            contact_notifies_both_sides_on_every_socket: default_timers,
            socket_handshake_is_authorised_like_the_rest: default_timers,
            socket_origin_must_be_allowed: default_timers,
            an_identity_holds_a_bounded_number_of_sockets: default_timers,
            own_ack_reaches_every_socket_and_foreign_ack_nobody: default_timers,
            malformed_messages_are_ignored_and_oversized_frames_close_the_socket: default_timers,
            silent_socket_is_closed_after_the_idle_timeout: short_timers,
            a_socket_that_never_reads_is_closed_without_delaying_others: short_timers,
            resuming_replays_missed_updates_then_continues_live: default_timers,
            resuming_beyond_the_log_asks_for_a_resync: default_timers,
            malformed_since_is_400: default_timers,
            profiles_are_public_and_keys_belong_to_their_identity: default_timers,
            the_invitee_reads_acknowledges_and_consumes_its_invitation: default_timers,
            notification_and_invitation_routes_refuse_bad_input: default_timers,
            members_join_write_read_and_leave: default_timers,
            box_routes_refuse_bad_input: default_timers,
            box_events_are_replayed_on_resume: default_timers,
        );
    };
    (@check $start:expr, $($check:ident: $settings:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let settings = $crate::conformance::$settings();
                let Some(server) = ($start)(settings).await else {
                    return;
                };
                $crate::conformance::checks::$check(&*server).await;
            }
        )+
    };
}
