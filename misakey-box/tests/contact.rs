//! The contact use case on in-memory adapters: response, stored rows, published updates,
//! every business rule and what a failure leaves behind.

use misakey_box::domain::{CryptoAction, CryptoActionType, Event, EventType, KeyShare};
use misakey_box::ports::BoxReads as _;
use misakey_box::{Caller, Config};
use misakey_box_testkit::StoreReadBack as _;
use misakey_box_testkit::builders::{
    ALICE_ID, BOB_ACCOUNT_ID, BOB_ID, BOB_INVITATION_KEY, IdentityBuilder,
    SAMPLE_ENCRYPTED_INVITATION, SPEC_BOX_PUBLIC_KEY, SPEC_ENCRYPTED_INVITATION_KEY_SHARE,
    SPEC_MISAKEY_SHARE,
};
use misakey_box_testkit::{SequentialIds, TEST_OWNER_ORG_ID, TestBed, default_instant};
use serde_json::{Value, json};
use uuid::Uuid;

const NOW: &str = "2020-06-12T13:38:32.142857Z";

fn id(n: u64) -> Uuid {
    SequentialIds::nth(n)
}

fn alice_view() -> Value {
    json!({
        "id": ALICE_ID,
        "display_name": "Alice",
        "avatar_url": null,
        "identifier_value": "alice@example.com",
        "identifier_kind": "email",
    })
}

async fn contact(bed: &TestBed, body: &Value) -> Result<Value, Value> {
    let alice = bed.alice_caller().await;
    match bed.service.contact(&alice, body).await {
        Ok(view) => Ok(serde_json::to_value(view).unwrap()),
        Err(error) => Err(error.to_json()),
    }
}

/// Asserts that nothing was stored or published by a failed contact.
async fn assert_no_trace(bed: &TestBed) {
    assert_eq!(bed.store.box_events(id(1)).await.unwrap(), vec![]);
    assert_eq!(
        bed.store.crypto_actions(BOB_ACCOUNT_ID).await.unwrap(),
        vec![]
    );
    assert_eq!(bed.store.notifications(BOB_ID).await.unwrap(), vec![]);
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn contact_answers_the_box_view() {
    let bed = TestBed::new();
    let body = bed.request_to_bob().title("User1 - User2").build();
    assert_eq!(
        contact(&bed, &body).await,
        Ok(json!({
            "id": id(1),
            "server_created_at": NOW,
            "public_key": SPEC_BOX_PUBLIC_KEY,
            "title": "User1 - User2",
            "access_mode": "public",
            "owner_org_id": TEST_OWNER_ORG_ID,
            "creator": alice_view(),
            "last_event": {
                "id": id(2),
                "type": "create",
                "content": {"public_key": SPEC_BOX_PUBLIC_KEY, "title": "User1 - User2", "state": "open"},
                "server_event_created_at": NOW,
                "sender": alice_view(),
            }
        }))
    );
}

#[tokio::test]
async fn contact_publishes_two_events_to_the_caller_and_a_notification_to_the_contacted() {
    let bed = TestBed::new();
    contact(&bed, &bed.request_to_bob().title("T").build())
        .await
        .unwrap();

    let event_new = |seq: u64, event_id: Uuid, kind: &str, content: Value| {
        json!({
            "seq": seq,
            "type": "event.new",
            "object": {
                "id": event_id,
                "type": kind,
                "box_id": id(1),
                "owner_org_id": TEST_OWNER_ORG_ID,
                "content": content,
                "server_event_created_at": NOW,
                "sender": alice_view(),
                "referrer_id": null,
            }
        })
    };
    assert_eq!(
        bed.bus.updates_for(ALICE_ID),
        vec![
            event_new(
                1,
                id(2),
                "create",
                json!({"public_key": SPEC_BOX_PUBLIC_KEY, "title": "T", "state": "open"})
            ),
            event_new(2, id(3), "state.access_mode", json!({"value": "public"})),
        ]
    );
    assert_eq!(
        bed.bus.updates_for(BOB_ID),
        vec![json!({
            "seq": 1,
            "type": "notification",
            "object": {
                "id": id(5),
                "type": "box.auto_invite",
                "details": {"box_id": id(1), "box_title": "T", "owner_org_id": TEST_OWNER_ORG_ID, "cryptoaction_id": id(4)},
                "created_at": NOW,
                "acknowledged_at": null,
            }
        })]
    );
    // Caller first, in event order, then the contacted identity.
    let recipients: Vec<Uuid> = bed.bus.published().into_iter().map(|(to, _)| to).collect();
    assert_eq!(recipients, vec![ALICE_ID, ALICE_ID, BOB_ID]);
}

#[tokio::test]
async fn contact_stores_the_box_key_share_invitation_and_notification() {
    let bed = TestBed::new();
    let body = bed
        .request_to_bob()
        .title("T")
        .other_share_hash("c3RvcmVk")
        .build();
    contact(&bed, &body).await.unwrap();
    let now = default_instant();

    let event = |n, kind, content| Event {
        id: id(n),
        box_id: id(1),
        kind,
        content,
        sender_id: ALICE_ID,
        created_at: now,
        referrer_id: None,
    };
    assert_eq!(
        bed.store.box_events(id(1)).await.unwrap(),
        vec![
            event(
                2,
                EventType::Create,
                json!({"public_key": SPEC_BOX_PUBLIC_KEY, "title": "T", "state": "open"})
            ),
            event(3, EventType::StateAccessMode, json!({"value": "public"})),
        ]
    );
    assert_eq!(
        bed.store.key_share("c3RvcmVk").await.unwrap(),
        Some(KeyShare {
            other_share_hash: "c3RvcmVk".to_owned(),
            misakey_share: SPEC_MISAKEY_SHARE.to_owned(),
            encrypted_invitation_key_share: SPEC_ENCRYPTED_INVITATION_KEY_SHARE.to_owned(),
            box_id: id(1),
            creator_id: ALICE_ID,
        })
    );
    assert_eq!(
        bed.store.crypto_actions(BOB_ACCOUNT_ID).await.unwrap(),
        vec![CryptoAction {
            id: id(4),
            account_id: BOB_ACCOUNT_ID,
            sender_identity_id: ALICE_ID,
            kind: CryptoActionType::Invitation,
            box_id: id(1),
            encryption_public_key: BOB_INVITATION_KEY.to_owned(),
            encrypted: SAMPLE_ENCRYPTED_INVITATION.to_owned(),
            created_at: now,
        }]
    );
    let notifications = bed.store.notifications(BOB_ID).await.unwrap();
    assert_eq!(
        notifications
            .iter()
            .map(|n| serde_json::to_value(n.view()).unwrap())
            .collect::<Vec<_>>(),
        vec![bed.bus.updates_for(BOB_ID)[0]["object"].clone()],
        "the stored notification is the one published"
    );
    // The contact flow alone leaves unread counts at zero.
    assert_eq!(bed.store.unread_count(BOB_ID, id(1)).await.unwrap(), 0);
    assert_eq!(bed.store.unread_count(ALICE_ID, id(1)).await.unwrap(), 0);
}

#[tokio::test]
async fn invalid_body_writes_and_publishes_nothing() {
    let bed = TestBed::new();
    let body = bed.request_to_bob().remove("box.title").build();
    assert_eq!(
        contact(&bed, &body).await,
        Err(
            json!({"code": "bad_request", "origin": "body", "desc": "invalid contact request", "details": {"box.title": "required"}})
        )
    );
    assert_no_trace(&bed).await;
}

#[tokio::test]
async fn unknown_contacted_identity_is_not_found() {
    let bed = TestBed::new();
    let stranger = IdentityBuilder::new(Uuid::from_u128(0x5e), "Stranger").build();
    let body = misakey_box_testkit::builders::ContactRequestBuilder::new(&stranger).build();
    assert_eq!(
        contact(&bed, &body).await,
        Err(json!({
            "code": "not_found", "origin": "body", "desc": "the contacted identity does not exist",
            "details": {"contacted_identity_id": "not_found"}
        }))
    );
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn contacted_identity_without_account_is_forbidden() {
    let bed = TestBed::new();
    let carol = IdentityBuilder::new(Uuid::from_u128(0xca), "Carol")
        .non_identified_pubkey(BOB_INVITATION_KEY)
        .build();
    bed.identities.insert(carol.clone());
    let body = misakey_box_testkit::builders::ContactRequestBuilder::new(&carol).build();
    assert_eq!(
        contact(&bed, &body).await,
        Err(json!({
            "code": "forbidden", "origin": "not_defined", "desc": "the contacted identity must have an account",
            "details": {"contacted_account": "required"}
        }))
    );
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn invitation_must_be_encrypted_for_the_contacted_identity() {
    let bed = TestBed::new();
    let body = bed
        .request_to_bob()
        .set(
            "invitation_data",
            json!({"QWxpY2VOb25JZGVudGlmaWVkUHVibGljS2V5MzJieXQ": "ZW5j"}),
        )
        .build();
    assert_eq!(
        contact(&bed, &body).await,
        Err(json!({
            "code": "bad_request", "origin": "body",
            "desc": "invitation_data must be encrypted for the contacted identity's non-identified public key",
            "details": {"invitation_data": "invalid"}
        }))
    );
    assert_no_trace(&bed).await;
}

#[tokio::test]
async fn contacted_identity_without_invitation_key_is_a_conflict() {
    let bed = TestBed::new();
    let dave = IdentityBuilder::new(Uuid::from_u128(0xda), "Dave")
        .account(Uuid::from_u128(0xda1))
        .build();
    bed.identities.insert(dave.clone());
    let body = misakey_box_testkit::builders::ContactRequestBuilder::new(&dave).build();
    assert_eq!(
        contact(&bed, &body).await,
        Err(json!({
            "code": "conflict", "origin": "body",
            "desc": "the contacted identity has no public key to encrypt an invitation for",
            "details": {"invitation_data": "conflict"}
        }))
    );
}

#[tokio::test]
async fn the_aes_rsa_invitation_key_is_accepted() {
    let bed = TestBed::new();
    let rsa_key = "com.misakey.aes-rsa-enc:UlNBS2V5";
    let erin = IdentityBuilder::new(Uuid::from_u128(0xe1), "Erin")
        .account(Uuid::from_u128(0xe11))
        .non_identified_pubkey(BOB_INVITATION_KEY)
        .non_identified_pubkey_aes_rsa(rsa_key)
        .build();
    bed.identities.insert(erin.clone());
    let body = misakey_box_testkit::builders::ContactRequestBuilder::new(&erin)
        .set("invitation_data", json!({rsa_key: "ZW5j"}))
        .build();
    assert!(contact(&bed, &body).await.is_ok());
    let actions = bed
        .store
        .crypto_actions(Uuid::from_u128(0xe11))
        .await
        .unwrap();
    assert_eq!(
        actions
            .iter()
            .map(|a| a.encryption_public_key.as_str())
            .collect::<Vec<_>>(),
        vec![rsa_key]
    );
}

#[tokio::test]
async fn a_reused_share_hash_is_a_conflict_and_changes_nothing() {
    let bed = TestBed::new();
    contact(
        &bed,
        &bed.request_to_bob().other_share_hash("b25jZQ").build(),
    )
    .await
    .unwrap();
    let published_before = bed.bus.published();

    assert_eq!(
        contact(
            &bed,
            &bed.request_to_bob().other_share_hash("b25jZQ").build()
        )
        .await,
        Err(json!({
            "code": "conflict", "origin": "body", "desc": "a key share with this other_share_hash already exists",
            "details": {"key_share.other_share_hash": "conflict"}
        }))
    );
    assert_eq!(
        bed.bus.published(),
        published_before,
        "a failed contact notifies nobody"
    );
    assert_eq!(bed.store.notifications(BOB_ID).await.unwrap().len(), 1);
    assert_eq!(
        bed.store
            .key_share("b25jZQ")
            .await
            .unwrap()
            .map(|k| k.box_id),
        Some(id(1))
    );
}

#[tokio::test]
async fn an_unavailable_store_is_reported_and_nothing_is_published() {
    let bed = TestBed::new();
    let alice = bed.alice_caller().await;
    bed.store.set_unavailable(true);
    let error = bed
        .service
        .contact(&alice, &bed.request_to_bob().build())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_json(),
        json!({
            "code": "service_unavailable", "origin": "not_defined",
            "desc": "a dependency of the server is unavailable, retry later", "details": {}
        })
    );
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn a_failing_bus_does_not_undo_the_contact() {
    let bed = TestBed::new();
    bed.bus.set_unavailable(true);
    let created = contact(&bed, &bed.request_to_bob().build()).await.unwrap();
    assert_eq!(created["id"], json!(id(1)));
    assert_eq!(bed.store.box_events(id(1)).await.unwrap().len(), 2);
    assert_eq!(bed.store.notifications(BOB_ID).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_caller_missing_from_the_directory_is_an_internal_error() {
    let bed = TestBed::new();
    let ghost = Caller {
        identity_id: Uuid::from_u128(0x6057),
        account_id: None,
        acr: 2,
        token_expires_at: None,
    };
    let error = bed
        .service
        .contact(&ghost, &bed.request_to_bob().build())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_json(),
        json!({"code": "internal", "origin": "not_defined", "desc": "internal error", "details": {}})
    );
    assert_no_trace(&bed).await;
}

#[tokio::test]
async fn the_key_share_policy_is_the_configured_one() {
    let bed = TestBed::with_config(Config::new(TEST_OWNER_ORG_ID).with_key_share_policy(
        std::sync::Arc::new(misakey_box::validation::NaclKeySharePolicy),
    ));
    let error = contact(&bed, &bed.request_to_bob().build())
        .await
        .unwrap_err();
    assert_eq!(
        error["details"],
        json!({"key_share.misakey_share": "malformed", "key_share.other_share_hash": "malformed"})
    );
}
