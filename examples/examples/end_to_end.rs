//! The whole flow in one run: starts the reference server in this process on a fresh embedded
//! SQLite file, opens Alice's and Bob's sockets; Bob publishes his key, Alice reads his profile
//! and contacts him, Bob reads, consumes and acknowledges his invitation, joins the box, they
//! write to each other and Bob reads; each step printed with what each side receives. The fastest way to see what misakey-box does.
//!
//! Run: `cargo run -p misakey-box-examples --example end_to_end`

use std::sync::Arc;
use std::time::Duration;

use misakey_box::bus::InProcessBus;
use misakey_box::fixtures::demo;
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Ports};
use misakey_box_testkit::builders::{ALICE_ID, BOB_ACCOUNT_ID, BOB_ID, ContactRequestBuilder, bob};
use misakey_box_testkit::conformance::client::{Auth, Csrf, open_socket, post_contact, request};
use misakey_box_testkit::conformance::{ConformanceTarget, fixtures};
use misakey_box_testkit::{ALICE_TOKEN, BOB_TOKEN};
use serde_json::json;

fn show(step: &str, value: &serde_json::Value) {
    println!(
        "{step}\n{}\n",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file =
        std::env::temp_dir().join(format!("misakey-box-end-to-end-{}.db", std::process::id()));
    let storage = SeaOrmStorage::connect(&format!("sqlite://{}", file.display())).await?;
    storage.load_fixtures(&fixtures()).await?;
    let storage = Arc::new(storage);
    let ports = Ports::with_storage(storage, Arc::new(InProcessBus::new()));
    let (service, running) = BoxService::start(ports, Config::new(demo::OWNER_ORG_ID)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = ConformanceTarget::new(format!("http://{}", listener.local_addr()?));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(misakey_box_poem::serve(
        listener,
        HttpApi::new(service, HttpSettings::default()),
        running,
        async {
            let _ = stopped.await;
        },
    ));
    println!(
        "1. server listening on {} (database {})\n",
        target.base_url,
        file.display()
    );

    let mut alice = open_socket(
        &target,
        &ALICE_ID.to_string(),
        Auth::bearer(ALICE_TOKEN),
        None,
    )
    .await
    .map_err(|e| format!("{e:?}"))?;
    let mut bob_socket = open_socket(&target, &BOB_ID.to_string(), Auth::bearer(BOB_TOKEN), None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!("2. Alice ({ALICE_ID}) and Bob ({BOB_ID}) each opened a socket\n");

    let bob_auth = Auth::bearer(BOB_TOKEN);
    let new_key = "Qm9iUHVibGlzaGVkSGlzS2V5VG9kYXk";
    let keys = json!({"non_identified_pubkey": new_key});
    let (status, _) = request(
        &target,
        "PATCH",
        &format!("/identities/{BOB_ID}"),
        bob_auth,
        Csrf::Valid,
        Some(&keys),
    )
    .await;
    show(
        &format!("3. Bob publishes a new key for invitations ({status}):"),
        &keys,
    );

    let (_, profile) = request(
        &target,
        "GET",
        &format!("/identities/{BOB_ID}/profile"),
        Auth::bearer(ALICE_TOKEN),
        Csrf::Valid,
        None,
    )
    .await;
    show("4. Alice reads Bob's public profile:", &profile);

    let mut bob_as_alice_sees_him = bob();
    bob_as_alice_sees_him.non_identified_pubkey =
        profile["non_identified_pubkey"].as_str().map(str::to_owned);
    let body = ContactRequestBuilder::new(&bob_as_alice_sees_him)
        .title("Alice & Bob")
        .build();
    show(
        "5. Alice posts a contact request to Bob, invitation encrypted for that key:",
        &body,
    );
    let (status, created) = post_contact(&target, ALICE_TOKEN, ALICE_ID, &body).await;
    show(
        &format!("6. the server answers {status} with the new box:"),
        &created,
    );

    show(
        "7. Alice's socket receives the box's first event:",
        &alice.next_update().await,
    );
    show("8. then its access mode:", &alice.next_update().await);
    show(
        "9. Bob's socket receives his invitation:",
        &bob_socket.next_update().await,
    );

    let notifications = format!("/identities/{BOB_ID}/notifications");
    let (_, listed) = request(&target, "GET", &notifications, bob_auth, Csrf::Valid, None).await;
    show("10. Bob lists his notifications:", &listed);

    let actions = format!("/accounts/{BOB_ACCOUNT_ID}/crypto/actions");
    let (_, invitations) = request(&target, "GET", &actions, bob_auth, Csrf::Valid, None).await;
    show(
        "11. Bob reads the invitations of his account (his client decrypts them):",
        &invitations,
    );

    let action = format!(
        "{actions}/{}",
        invitations[0]["id"].as_str().unwrap_or_default()
    );
    let (status, _) = request(&target, "DELETE", &action, bob_auth, Csrf::Valid, None).await;
    println!("12. Bob consumes the invitation: {status}\n");

    let (status, _) = request(
        &target,
        "PUT",
        &format!("{notifications}/acknowledgement"),
        bob_auth,
        Csrf::Valid,
        None,
    )
    .await;
    show(
        &format!("13. Bob acknowledges his notifications ({status}); his sockets are told:"),
        &bob_socket.next_update().await,
    );
    let (_, listed) = request(&target, "GET", &notifications, bob_auth, Csrf::Valid, None).await;
    show(
        "14. his notification is now acknowledged and used:",
        &listed,
    );

    let events = format!(
        "/boxes/{}/events",
        created["id"].as_str().unwrap_or_default()
    );
    let (status, _) = request(
        &target,
        "POST",
        &events,
        bob_auth,
        Csrf::Valid,
        Some(&json!({"type": "member.join"})),
    )
    .await;
    show(
        &format!("15. Bob joins the box ({status}); Alice sees it live:"),
        &alice.next_update().await,
    );
    bob_socket.next_update().await;

    let alice_auth = Auth::bearer(ALICE_TOKEN);
    let hello = json!({"type": "msg.text", "content": {"encrypted": "aGVsbG8gQm9i", "public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw"}});
    let (_, from_alice) = request(
        &target,
        "POST",
        &events,
        alice_auth,
        Csrf::Valid,
        Some(&hello),
    )
    .await;
    show("16. Alice writes (encrypted by her client):", &from_alice);
    show(
        "17. Bob's socket receives it:",
        &bob_socket.next_update().await,
    );
    alice.next_update().await;
    let reply = json!({"type": "msg.text", "content": {"encrypted": "aGkgQWxpY2U", "public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw"}});
    request(
        &target,
        "POST",
        &events,
        bob_auth,
        Csrf::Valid,
        Some(&reply),
    )
    .await;
    show(
        "18. Bob answers; Alice's socket receives it:",
        &alice.next_update().await,
    );
    bob_socket.next_update().await;

    let box_path = format!("/boxes/{}", created["id"].as_str().unwrap_or_default());
    let (_, bob_box) = request(&target, "GET", &box_path, bob_auth, Csrf::Valid, None).await;
    println!(
        "19. Bob has {} unread event(s) in the box\n",
        bob_box["events_count"]
    );
    let ack = serde_json::json!({"type": "ack", "object": {"sender_id": BOB_ID, "box_id": created["id"]}});
    bob_socket.send_json(&ack).await;
    show(
        "20. Bob acknowledges the box; every socket of Bob's gets the ack back:",
        &bob_socket.next_update().await,
    );
    let (_, bob_box) = request(&target, "GET", &box_path, bob_auth, Csrf::Valid, None).await;
    println!(
        "21. and his unread count is back to {}\n",
        bob_box["events_count"]
    );

    let _ = stop.send(());
    let (alice_closed, bob_closed) = tokio::join!(
        alice.closed(Duration::from_secs(10)),
        bob_socket.closed(Duration::from_secs(10))
    );
    tokio::time::timeout(Duration::from_secs(15), server).await???;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    println!(
        "22. the server stopped; Alice's socket ended with {:?}, Bob's with {:?}",
        alice_closed.0, bob_closed.0
    );
    Ok(())
}
