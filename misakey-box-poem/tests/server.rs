//! The reference server itself: the binary's start, health, shutdown and restart, and the
//! routes that are not part of the wire contract (`/healthz`, `/openapi.json`).

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use misakey_box::Ports;
use misakey_box::bus::InProcessBus;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{
    Auth, SocketClosed, get, open_socket, open_socket_resuming, post_contact,
};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::services::SpareRedis;
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN, TestBed};
use serde_json::json;
use uuid::Uuid;

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "misakey-box-server-test-{}",
            Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server binary, killed if the test fails before it stops.
struct ServerProcess {
    child: Child,
    target: ConformanceTarget,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_server(dir: &Path, extra: &[&str]) -> Result<ServerProcess, String> {
    let fixtures_file = dir.join("fixtures.json");
    std::fs::write(&fixtures_file, serde_json::to_vec(&fixtures()).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_misakey-box-server"))
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(&fixtures_file)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("boxes.db").display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(address) = line.strip_prefix("listening on ") {
            return Ok(ServerProcess {
                child,
                target: ConformanceTarget::new(address),
            });
        }
        printed.push(line);
    }
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let status = child.wait().unwrap();
    Err(format!(
        "exited {status} before listening\nstdout: {}\nstderr: {stderr}",
        printed.join("\n")
    ))
}

fn send_sigterm(server: &ServerProcess) {
    let pid = server.child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
}

fn wait_for_exit(server: &mut ServerProcess) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_stops_cleanly_and_keeps_its_data() {
    let dir = TempDir::new();
    let mut server = spawn_server(&dir.0, &[]).unwrap();
    assert_eq!(
        get(&server.target, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    let body = ContactRequestBuilder::new(&bob())
        .other_share_hash("cGVyc2lzdGVk")
        .build();
    assert_eq!(
        post_contact(&server.target, ALICE_TOKEN, ALICE_ID, &body)
            .await
            .0,
        201
    );

    let mut socket = open_socket(
        &server.target,
        &BOB_ID.to_string(),
        Auth::bearer(BOB_TOKEN),
        None,
    )
    .await
    .unwrap();
    send_sigterm(&server);
    assert_eq!(
        socket.closed(Duration::from_secs(10)).await,
        (SocketClosed::Code(1001), 0)
    );

    let status = wait_for_exit(&mut server);
    assert!(status.success(), "exit status {status}");

    // Restarted on the same file (fixtures loaded again, harmlessly): the key share is still there.
    let server = spawn_server(&dir.0, &[]).unwrap();
    let (status, error) = post_contact(&server.target, ALICE_TOKEN, ALICE_ID, &body).await;
    assert_eq!(
        (status, &error["details"]),
        (409, &json!({"key_share.other_share_hash": "conflict"}))
    );
}

/// "No update stranded" with a real crash: an instance commits a contact whose publish fails
/// (its Redis is gone) and is killed with SIGKILL; another instance on the same database
/// publishes the update once the dead one's lease runs out, and Bob's live socket on it gets
/// the update exactly as the log holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_before_publishing_is_taken_over_by_another() {
    let Some(mut redis) = SpareRedis::start() else {
        return;
    };
    let dir = TempDir::new();
    let lease = ["--publisher-lease", "3"];
    let survivor = spawn_server(&dir.0, &lease).unwrap();
    let bob_id = BOB_ID.to_string();
    // Live only: it gets what commits from now on.
    let mut live = open_socket(&survivor.target, &bob_id, Auth::bearer(BOB_TOKEN), None)
        .await
        .unwrap();

    let crashing = spawn_server(
        &dir.0,
        &[&["--redis-url", &redis.url()][..], &lease].concat(),
    )
    .unwrap();
    redis.stop();
    let body = ContactRequestBuilder::new(&bob())
        .other_share_hash("c3RyYW5kZWQ")
        .build();
    assert_eq!(
        post_contact(&crashing.target, ALICE_TOKEN, ALICE_ID, &body)
            .await
            .0,
        201
    );
    drop(crashing); // SIGKILL

    let relayed = live.next_update().await;
    let mut replay = open_socket_resuming(&survivor.target, &bob_id, Auth::bearer(BOB_TOKEN), "0")
        .await
        .unwrap();
    let logged = replay.next_update().await;
    assert_eq!(relayed, logged);
    assert_eq!(
        (
            &relayed["seq"],
            &relayed["type"],
            &relayed["object"]["type"]
        ),
        (&json!(1), &json!("notification"), &json!("box.auto_invite"))
    );
}

#[test]
fn the_demo_prints_how_to_try_it() {
    let dir = TempDir::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_misakey-box-server"))
        .args(["--listen", "127.0.0.1:0", "--demo", "--database-url"])
        .arg(format!("sqlite://{}", dir.0.join("demo.db").display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let ready = line.starts_with("listening on http://127.0.0.1:");
        lines.push(line);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let printed = lines.join("\n");
    for expected in [
        "owner org id: ",
        "demo identities loaded: Alice",
        "--example socket_listener",
        "X-CSRF-Token: $CSRF",
    ] {
        assert!(
            printed.contains(expected),
            "missing {expected:?} in:\n{printed}"
        );
    }
}

#[test]
fn a_malformed_fixtures_file_stops_the_start_and_names_the_entry() {
    let dir = TempDir::new();
    let file = dir.0.join("broken.json");
    std::fs::write(&file, r#"{"identities": [{"id": "nope"}], "tokens": []}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_misakey-box-server"))
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(&file)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.0.join("boxes.db").display()))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "invalid fixtures file {}: identities[0]: ",
            file.display()
        )),
        "stderr: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening on"));
}

#[test]
fn invalid_flags_are_refused() {
    for (flags, message) in [
        (
            ["--idle-timeout", "0"],
            "--idle-timeout must be a positive number of seconds",
        ),
        (
            ["--publisher-lease", "1"],
            "--publisher-lease must be at least 2 seconds",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_misakey-box-server"))
            .args(flags)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
}

/// A server on `storage` in this process, for the checks that need to reach into it.
async fn serve_in_process(storage: &TestDatabase) -> ConformanceTarget {
    let storage = Arc::new((**storage).clone());
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    common::serve(ports, HttpSettings::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_gone() {
    let database = TestDatabase::sqlite().await;
    let target = serve_in_process(&database).await;
    assert_eq!(
        get(&target, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    database.connection().clone().close().await.unwrap();
    assert_eq!(
        get(&target, "/healthz").await,
        (
            503,
            json!({"code": "service_unavailable", "origin": "not_defined",
                   "desc": "a dependency of the server is unavailable, retry later", "details": {}})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_the_served_routes() {
    let database = TestDatabase::sqlite().await;
    let target = serve_in_process(&database).await;
    let (status, document) = get(&target, "/openapi.json").await;
    assert_eq!(status, 200);
    let expected = HttpApi::new(TestBed::new().service, HttpSettings::default());
    assert_eq!(&document, expected.openapi());
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/accounts/{account_id}/crypto/actions",
            "/accounts/{account_id}/crypto/actions/{action_id}",
            "/box-key-shares/{other_share_hash}",
            "/box-users/{id}/contact",
            "/box-users/{id}/ws",
            "/boxes/joined",
            "/boxes/{id}",
            "/boxes/{id}/events",
            "/boxes/{id}/members",
            "/csrf",
            "/healthz",
            "/identities/{id}",
            "/identities/{id}/notifications",
            "/identities/{id}/notifications/acknowledgement",
            "/identities/{id}/profile",
            "/openapi.json"
        ]
    );
    // Every documented route answers something other than "no such route".
    for path in ["/csrf", "/healthz"] {
        assert_eq!(get(&target, path).await.0, 200, "{path}");
    }
    assert_eq!(
        get(&target, &format!("/box-users/{ALICE_ID}/ws")).await.0,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_with_4001_within_a_second_of_its_token_expiry() {
    let database = TestDatabase::sqlite().await;
    let expires_at = chrono::Utc::now() + chrono::TimeDelta::seconds(2);
    let short_lived = misakey_box::fixtures::FixtureToken {
        token: "short-lived-token".to_owned(),
        identity_id: ALICE_ID,
        acr: 2,
        expires_at: Some(expires_at),
    };
    database
        .load_fixtures(&misakey_box::fixtures::Fixtures {
            identities: fixtures().identities,
            tokens: vec![short_lived],
        })
        .await
        .unwrap();
    let target = serve_in_process(&database).await;
    let mut socket = open_socket(
        &target,
        &ALICE_ID.to_string(),
        Auth::bearer("short-lived-token"),
        None,
    )
    .await
    .unwrap();
    let (end, _) = socket.closed(Duration::from_secs(10)).await;
    let late = chrono::Utc::now() - expires_at;
    assert_eq!(end, SocketClosed::Code(4001));
    assert!(
        late >= chrono::TimeDelta::zero() && late <= chrono::TimeDelta::seconds(1),
        "closed {late} after the expiry"
    );
}
