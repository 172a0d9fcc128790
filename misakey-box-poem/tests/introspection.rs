//! Authentication against a real OAuth 2.0 authorization server: `oidc-provider` (npm), started
//! by each test on a spare loopback port from `tests/authorization-server/` (`.ci/run` installs
//! it with `npm ci`). Its test grant issues opaque access tokens for a chosen subject and
//! claims; the server under test introspects them (RFC 7662).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use misakey_box::Ports;
use misakey_box::bus::InProcessBus;
use misakey_box::http::HttpSettings;
use misakey_box::introspection::{ClaimPaths, IntrospectionSettings, OAuthIntrospection};
use misakey_box_testkit::builders::{ALICE_ACCOUNT_ID, ALICE_ID, BOB_ID, ContactRequestBuilder};
use misakey_box_testkit::conformance::client::{Auth, Csrf, SocketClosed, open_socket, request};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures, identity};
use misakey_box_testkit::database::TestDatabase;
use serde_json::{Value, json};
use uuid::Uuid;

/// The authorization server of a test, killed when dropped.
struct AuthorizationServer {
    process: Option<Child>,
    port: u16,
    http: reqwest::Client,
}

impl AuthorizationServer {
    /// Starts one, or `None` (skip) where Node or the npm packages are missing, except under
    /// `CI=true`, where that is a failure.
    fn start() -> Option<Self> {
        let installed = Self::directory()
            .join("node_modules/oidc-provider")
            .exists();
        let node = Command::new("node").arg("--version").output().is_ok();
        if !(installed && node) {
            assert!(
                !std::env::var("CI").is_ok_and(|ci| ci == "true"),
                "the authorization server must be installed when CI=true \
                 (npm ci in misakey-box-poem/tests/authorization-server)"
            );
            eprintln!("skipped: run `npm ci` in misakey-box-poem/tests/authorization-server");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap();
        let mut server = Self {
            process: None,
            port,
            http: reqwest::Client::new(),
        };
        server.spawn();
        Some(server)
    }

    fn directory() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/authorization-server")
    }

    fn spawn(&mut self) {
        let process = Command::new("node")
            .arg("server.js")
            .arg(self.port.to_string())
            .current_dir(Self::directory())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the authorization server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Settings of a resource server introspecting here: Misakey-style account claim.
    fn settings(&self) -> IntrospectionSettings {
        let mut settings = IntrospectionSettings::new(
            &self.url("/token/introspection"),
            "misakey-box",
            "resource-server-secret",
        );
        settings.claims = ClaimPaths {
            account: Some("ext.aid".to_owned()),
            ..ClaimPaths::default()
        };
        settings.timeout = Duration::from_millis(500);
        settings
    }

    /// An access token for `sub` with `claims` (form fields of the test grant: `acr` and
    /// `ext` as JSON, `name`, `email`, `expires_in`).
    async fn issue(&self, sub: Uuid, claims: &[(&str, String)]) -> String {
        let mut form = vec![
            ("grant_type", "urn:misakey-box:test-token".to_owned()),
            ("sub", sub.to_string()),
        ];
        form.extend(claims.iter().map(|(name, value)| (*name, value.clone())));
        let answer: Value = self
            .http
            .post(self.url("/token"))
            .basic_auth("test-app", Some("test-app-secret"))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token issued: {answer}"))
            .to_owned()
    }

    /// A token of `sub`'s account `account` with ACR 2.
    async fn token_of(&self, sub: Uuid, account: Uuid) -> String {
        self.issue(
            sub,
            &[
                ("acr", "2".to_owned()),
                ("ext", json!({"aid": account}).to_string()),
            ],
        )
        .await
    }

    async fn revoke(&self, token: &str) {
        let response = self
            .http
            .post(self.url("/token/revocation"))
            .basic_auth("test-app", Some("test-app-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Introspections the server answered so far.
    async fn introspections(&self) -> u64 {
        let answer: Value = self
            .http
            .get(self.url("/test/introspections"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["introspections"].as_u64().unwrap()
    }

    /// Delays every later introspection by `delay`.
    async fn slow_down(&self, delay: Duration) {
        let url = self.url(&format!("/test/delay?ms={}", delay.as_millis()));
        assert!(
            self.http
                .post(url)
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
        );
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for AuthorizationServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server under test, and what the test reads of it.
struct Served {
    target: ConformanceTarget,
    introspection: OAuthIntrospection,
    /// Removed when the test ends.
    _database: TestDatabase,
}

/// The reference server's routes over SQLite, authenticating at `authorization`.
async fn serve(authorization: &AuthorizationServer) -> Served {
    serve_with(authorization.settings(), HttpSettings::default()).await
}

async fn serve_with(settings: IntrospectionSettings, http: HttpSettings) -> Served {
    let database = TestDatabase::sqlite().await;
    database.load_fixtures(&fixtures()).await.unwrap();
    let storage = Arc::new((*database).clone());
    let introspection = OAuthIntrospection::new(settings, storage.clone()).unwrap();
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()))
        .with_tokens(Arc::new(introspection.clone()));
    Served {
        target: common::serve(ports, http).await,
        introspection,
        _database: database,
    }
}

/// A contact from Alice to Bob with `token`.
async fn contact_bob(target: &ConformanceTarget, token: &str) -> (u16, Value) {
    let body = ContactRequestBuilder::new(&identity(BOB_ID)).build();
    request(
        target,
        "POST",
        &format!("/box-users/{ALICE_ID}/contact"),
        Auth::bearer(token),
        Csrf::Valid,
        Some(&body),
    )
    .await
}

fn invalid_token() -> Value {
    json!({"code": "unauthorized", "origin": "cookies", "desc": "accesstoken cookie invalid",
           "details": {"accesstoken": "invalid"}})
}

fn unavailable() -> Value {
    json!({"code": "service_unavailable", "origin": "not_defined",
           "desc": "a dependency of the server is unavailable, retry later", "details": {}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_token_authenticates_both_endpoints() {
    let Some(authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served { target, .. } = serve(&authorization).await;
    let bob_account = identity(BOB_ID).account_id.unwrap();
    let bob_token = authorization.token_of(BOB_ID, bob_account).await;
    let mut bob_socket = open_socket(&target, &BOB_ID.to_string(), Auth::bearer(&bob_token), None)
        .await
        .unwrap();
    let alice_token = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    let (status, created) = contact_bob(&target, &alice_token).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        bob_socket.next_update().await["object"]["details"]["box_id"],
        created["id"]
    );
    bob_socket.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acr_claim_may_be_a_number_a_string_or_an_array() {
    let Some(authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served { target, .. } = serve(&authorization).await;
    let account = json!({"aid": ALICE_ACCOUNT_ID}).to_string();
    for acr in [json!(2), json!("1"), json!(["0", 2])] {
        let token = authorization
            .issue(
                ALICE_ID,
                &[("acr", acr.to_string()), ("ext", account.clone())],
            )
            .await;
        assert_eq!(contact_bob(&target, &token).await.0, 201, "acr {acr}");
    }
    let acr_forbidden = json!({"code": "forbidden", "origin": "acr",
        "desc": "an ACR of at least 1 is required",
        "details": {"acr": "forbidden", "required_acr": "1"}});
    for acr in [Some(json!(0)), Some(json!(["0"])), None] {
        let mut claims = vec![("ext", account.clone())];
        claims.extend(acr.as_ref().map(|acr| ("acr", acr.to_string())));
        let token = authorization.issue(ALICE_ID, &claims).await;
        assert_eq!(
            contact_bob(&target, &token).await,
            (403, acr_forbidden.clone()),
            "acr {acr:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_unknown_tokens_are_401() {
    let Some(authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served { target, .. } = serve(&authorization).await;
    let revoked = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    authorization.revoke(&revoked).await;
    let expired = authorization
        .issue(
            ALICE_ID,
            &[("acr", "2".to_owned()), ("expires_in", "1".to_owned())],
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let foreign_identity = authorization
        .issue(Uuid::new_v4(), &[("acr", "2".to_owned())])
        .await;
    for token in [revoked.as_str(), expired.as_str(), "never-issued"] {
        assert_eq!(
            contact_bob(&target, token).await,
            (401, invalid_token()),
            "{token}"
        );
        let refused = open_socket(&target, &ALICE_ID.to_string(), Auth::bearer(token), None).await;
        assert_eq!(refused.err(), Some((401, invalid_token())), "{token}");
    }
    // A valid token of another identity: authenticated, but not on Alice's path.
    let (status, _) = contact_bob(&target, &foreign_identity).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_server_down_or_slow_is_503_never_401() {
    let Some(mut authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served { target, .. } = serve(&authorization).await;
    let token = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    authorization.slow_down(Duration::from_secs(2)).await;
    assert_eq!(contact_bob(&target, &token).await, (503, unavailable()));
    authorization.stop();
    assert_eq!(contact_bob(&target, &token).await, (503, unavailable()));
    let refused = open_socket(&target, &ALICE_ID.to_string(), Auth::bearer(&token), None).await;
    assert_eq!(refused.err(), Some((503, unavailable())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_again_without_introspecting_and_never_past_the_expiry() {
    let Some(authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served {
        target,
        introspection,
        ..
    } = serve(&authorization).await;
    let token = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    assert_eq!(contact_bob(&target, &token).await.0, 201);
    let after_first = authorization.introspections().await;
    assert_eq!(after_first, 1);
    assert_eq!(contact_bob(&target, &token).await.0, 201);
    assert_eq!(
        authorization.introspections().await,
        1,
        "served from the cache"
    );
    let counts = introspection.counts();
    assert_eq!(
        (counts.requests, counts.cache_misses, counts.cache_hits),
        (1, 1, 1)
    );

    // A token that expires before the cache's TTL (30 s) is introspected again after its
    // expiry, and refused.
    let short = authorization
        .issue(
            ALICE_ID,
            &[
                ("acr", "2".to_owned()),
                ("ext", json!({"aid": ALICE_ACCOUNT_ID}).to_string()),
                ("expires_in", "2".to_owned()),
            ],
        )
        .await;
    assert_eq!(contact_bob(&target, &short).await.0, 201);
    assert_eq!(authorization.introspections().await, 2);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(contact_bob(&target, &short).await, (401, invalid_token()));
    assert_eq!(
        authorization.introspections().await,
        3,
        "the cached answer ended with the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_identity_is_created_just_in_time_and_contactable_once_it_has_a_key() {
    let Some(authorization) = AuthorizationServer::start() else {
        return;
    };
    let Served { target, .. } = serve(&authorization).await;
    let zed = Uuid::new_v4();
    let zed_account = Uuid::new_v4();
    let zed_token = authorization
        .issue(
            zed,
            &[
                ("acr", "2".to_owned()),
                ("name", "Zed".to_owned()),
                ("email", "zed@example.com".to_owned()),
                ("ext", json!({"aid": zed_account}).to_string()),
            ],
        )
        .await;
    let profile_path = format!("/identities/{zed}/profile");
    // Unknown to the directory until Zed's first authenticated request.
    let alice_token = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    let (status, _) = request(
        &target,
        "GET",
        &profile_path,
        Auth::bearer(&alice_token),
        Csrf::Valid,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let key = json!({"non_identified_pubkey": "WmVkSW52aXRhdGlvbktleQ"});
    let (status, body) = request(
        &target,
        "PATCH",
        &format!("/identities/{zed}"),
        Auth::bearer(&zed_token),
        Csrf::Valid,
        Some(&key),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        request(
            &target,
            "GET",
            &profile_path,
            Auth::bearer(&alice_token),
            Csrf::Valid,
            None
        )
        .await,
        (
            200,
            json!({"id": zed, "display_name": "Zed", "avatar_url": null,
                   "contactable": true, "non_identified_pubkey": "WmVkSW52aXRhdGlvbktleQ",
                   "non_identified_pubkey_aes_rsa": null})
        )
    );
    let zed_identity = misakey_box::domain::Identity {
        id: zed,
        display_name: "Zed".to_owned(),
        avatar_url: None,
        identifier_value: "zed@example.com".to_owned(),
        identifier_kind: "email".to_owned(),
        account_id: Some(zed_account),
        pubkey: None,
        non_identified_pubkey: Some("WmVkSW52aXRhdGlvbktleQ".to_owned()),
        pubkey_aes_rsa: None,
        non_identified_pubkey_aes_rsa: None,
    };
    let body = ContactRequestBuilder::new(&zed_identity).build();
    let (status, created) = request(
        &target,
        "POST",
        &format!("/box-users/{ALICE_ID}/contact"),
        Auth::bearer(&alice_token),
        Csrf::Valid,
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_tokens_socket_closes_within_the_recheck_and_an_unreachable_server_keeps_it() {
    let Some(mut authorization) = AuthorizationServer::start() else {
        return;
    };
    let mut settings = authorization.settings();
    settings.cache_ttl = Duration::from_millis(500);
    let mut http = HttpSettings::default();
    http.socket.token_recheck = Some(Duration::from_millis(300));
    let Served { target, .. } = serve_with(settings, http).await;
    let alice = ALICE_ID.to_string();
    let revoked = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    let kept = authorization.token_of(ALICE_ID, ALICE_ACCOUNT_ID).await;
    let mut revoked_socket = open_socket(&target, &alice, Auth::bearer(&revoked), None)
        .await
        .unwrap();
    let mut kept_socket = open_socket(&target, &alice, Auth::bearer(&kept), None)
        .await
        .unwrap();
    authorization.revoke(&revoked).await;
    let revoked_at = Instant::now();
    let (end, _) = revoked_socket.closed(Duration::from_secs(10)).await;
    assert_eq!(end, SocketClosed::Code(4001));
    // At most one cache TTL and one re-check period, with room for a loaded machine.
    assert!(
        revoked_at.elapsed() < Duration::from_secs(3),
        "closed {:?} after the revocation",
        revoked_at.elapsed()
    );

    // The authorization server gone: re-checks cannot tell, so the socket stays (it was
    // valid at its handshake) and keeps receiving.
    authorization.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    kept_socket
        .send_json(
            &json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": Uuid::nil()}}),
        )
        .await;
    assert_eq!(kept_socket.next_update().await["type"], json!("ack"));
    kept_socket.close().await;
}
