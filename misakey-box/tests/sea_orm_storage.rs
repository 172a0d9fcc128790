//! The sea-orm storage on SQLite (always) and PostgreSQL (when `MISAKEY_BOX_TEST_DATABASE_URL`
//! is set; always in CI): the store contract, the contact use case end to end, atomicity,
//! concurrency, restart, fixtures, migrations and connection failures.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use misakey_box::error::StoreError;
use misakey_box::fixtures::{FixtureToken, Fixtures};
use misakey_box::ports::BoxReads as _;
use misakey_box::ports::{
    BoxStore, Change, ChangeSet, IdentityDirectory as _, TokenIntrospector as _, UpdateLog as _,
};
use misakey_box::storage::SeaOrmStorage;
use misakey_box::storage::entities::{
    access_token, box_event, box_key_share, box_unread_total, crypto_action, identity,
    identity_notification,
};
use misakey_box::storage::migrations::Migrator;
use misakey_box::storage::sea_orm::{ConnectOptions, EntityTrait, PaginatorTrait as _};
use misakey_box::{BoxService, Caller, Config, Credentials, Ports};
use misakey_box_testkit::StoreReadBack as _;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID, alice, bob};
use misakey_box_testkit::contract::store::SaveContact as _;
use misakey_box_testkit::contract::store::{
    sample_contact, sample_contact_between, sample_creator,
};
use misakey_box_testkit::database::TestDatabase;
use misakey_box_testkit::{
    ALICE_TOKEN, BOB_TOKEN, FixedClock, RecordingBus, SequentialIds, TEST_OWNER_ORG_ID, TestBed,
    default_instant,
};
use sea_orm_migration::MigratorTrait as _;
use serde_json::{Value, json};

mod sqlite_contract {
    misakey_box_testkit::store_contract_tests!(async {
        Some(misakey_box_testkit::database::TestDatabase::sqlite().await)
    });
}

mod postgres_contract {
    misakey_box_testkit::store_contract_tests!(
        misakey_box_testkit::database::TestDatabase::postgres()
    );
}

/// Runs each named check on a fresh SQLite file and on a fresh PostgreSQL schema.
macro_rules! on_both_databases {
    ($($check:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&misakey_box_testkit::database::TestDatabase::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    if let Some(db) = misakey_box_testkit::database::TestDatabase::postgres().await {
                        super::$check(&db).await;
                    }
                }
            )+
        }
    };
}

on_both_databases!(
    boxes_made_before_memberships_get_their_creator_as_member,
    public_keys_change_like_the_in_memory_directory,
    signed_in_identities_are_created_then_refreshed_like_the_in_memory_directory,
    a_consumption_failing_midway_leaves_the_action_and_its_notification,
    contact_answers_and_publishes_like_the_in_memory_reference,
    a_contact_whose_last_write_fails_leaves_every_table_as_it_was,
    a_join_whose_event_fails_after_the_membership_was_written_leaves_every_table_as_it_was,
    concurrent_contacts_sharing_a_share_hash_have_one_winner,
    a_duplicate_among_concurrent_contacts_fails_alone,
    everything_is_read_back_after_a_restart,
    fixtures_load_twice_harmlessly_and_update_in_place,
    tokens_are_introspected_from_the_table,
    migrations_are_idempotent,
    upgrading_from_published_marks_keeps_every_log_entry,
    unread_counts_survive_the_read_marks_migration_both_ways,
    a_closed_pool_is_service_unavailable,
    thousands_of_fixtures_load_in_one_go,
);

fn fixtures() -> Fixtures {
    let token = |token: &str, identity_id| FixtureToken {
        token: token.to_owned(),
        identity_id,
        acr: 2,
        expires_at: None,
    };
    Fixtures {
        identities: vec![alice(), bob()],
        tokens: vec![token(ALICE_TOKEN, ALICE_ID), token(BOB_TOKEN, BOB_ID)],
    }
}

/// The service the reference server builds: storage for every storage port, a bus, and a fixed
/// clock and sequential ids so that results compare with the in-memory reference.
async fn service_on(storage: &SeaOrmStorage) -> (BoxService, Arc<RecordingBus>) {
    storage.load_fixtures(&fixtures()).await.unwrap();
    let bus = Arc::new(RecordingBus::new());
    let storage = Arc::new(storage.clone());
    let ports = Ports::with_storage(storage, bus.clone())
        .with_clock(Arc::new(FixedClock::default()))
        .with_ids(Arc::new(SequentialIds::new()));
    (
        BoxService::without_maintenance(ports, Config::new(TEST_OWNER_ORG_ID)),
        bus,
    )
}

async fn alice_caller(service: &BoxService) -> Caller {
    let credentials = Credentials {
        access_token: Some(ALICE_TOKEN),
        token_type: Some("bearer"),
    };
    service
        .authorize(credentials, &ALICE_ID.to_string())
        .await
        .unwrap()
}

/// Row counts of every table, to check that a failure left them as they were.
async fn row_counts(storage: &SeaOrmStorage) -> Vec<u64> {
    let db = storage.connection();
    vec![
        identity::Entity::find().count(db).await.unwrap(),
        access_token::Entity::find().count(db).await.unwrap(),
        box_event::Entity::find().count(db).await.unwrap(),
        box_key_share::Entity::find().count(db).await.unwrap(),
        crypto_action::Entity::find().count(db).await.unwrap(),
        identity_notification::Entity::find()
            .count(db)
            .await
            .unwrap(),
        box_unread_total::Entity::find().count(db).await.unwrap(),
    ]
}

async fn a_consumption_failing_midway_leaves_the_action_and_its_notification(db: &TestDatabase) {
    use misakey_box::storage::sea_orm::ActiveValue::Set;
    let contact = sample_contact(1, "bWlkd2F5");
    db.save_contact(&contact).await.unwrap();
    let action = contact.crypto_action.clone();
    // A damaged row that names the action: marking the invitation used fails on it, after
    // the action was deleted in the same transaction.
    identity_notification::Entity::insert(identity_notification::ActiveModel {
        id: Set(uuid::Uuid::from_u128(0xbad)),
        identity_id: Set(contact.notification.identity_id),
        r#type: Set("box.auto_invite".to_owned()),
        details: Set(format!("not JSON {}", action.id)),
        created_at: Set(contact.created_at),
        acknowledged_at: Set(None),
    })
    .exec(db.connection())
    .await
    .unwrap();
    let consume = ChangeSet {
        changes: vec![
            Change::DeleteCryptoAction {
                account_id: action.account_id,
                action_id: action.id,
            },
            Change::MarkInvitationUsed {
                account_id: action.account_id,
                crypto_action_id: action.id,
            },
        ],
        updates: Vec::new(),
        created_at: contact.created_at,
    };
    let error = db.commit(&consume).await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
    assert_eq!(
        db.crypto_actions(action.account_id).await.unwrap(),
        vec![action]
    );
    let kept = db.notifications(contact.notification.identity_id).await;
    assert!(kept.is_err(), "the damaged row is still there: {kept:?}");
    let real = identity_notification::Entity::find_by_id(contact.notification.id)
        .one(db.connection())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&real.details).unwrap(),
        contact.notification.details,
        "not marked used"
    );
}

/// Undoes the migrations after the first `kept` (counted from the start, so that a later
/// migration does not change which schema a test goes back to).
async fn migrate_down_to(db: &TestDatabase, kept: usize) {
    let applied = Migrator::migrations().len();
    Migrator::down(
        db.connection(),
        Some(u32::try_from(applied - kept).unwrap()),
    )
    .await
    .unwrap();
}

async fn boxes_made_before_memberships_get_their_creator_as_member(db: &TestDatabase) {
    use misakey_box::ports::{BoxReads as _, Member};
    let contact = sample_contact(1, "bWVtYmVycw");
    db.save_contact(&contact).await.unwrap();
    let creator = Member {
        identity_id: sample_creator(1),
        joined_at: contact.created_at,
        join_event_id: contact.events[0].id,
    };
    let box_id = contact.key_share.box_id;
    assert_eq!(db.members(box_id).await.unwrap(), vec![creator.clone()]);
    // Back to the schema without the members' table: the upgrade fills it from the boxes.
    migrate_down_to(db, 3).await;
    let upgraded = db.reopen().await;
    assert_eq!(upgraded.members(box_id).await.unwrap(), vec![creator]);
}

/// An identity an authorization server vouches for is created the first time (no keys), then
/// refreshed (name, identifier, account when named) with its keys kept.
async fn signed_in_identities_are_created_then_refreshed_like_the_in_memory_directory(
    db: &TestDatabase,
) {
    use misakey_box::domain::{Identity, PublicKeysUpdate, SignedInProfile};
    use misakey_box::ports::IdentityDirectory;
    db.load_fixtures(&fixtures()).await.unwrap();
    let reference = misakey_box_testkit::InMemoryIdentityDirectory::new();
    reference.insert(alice());
    reference.insert(bob());
    let zed = uuid::Uuid::from_u128(0x2ed);
    let account = uuid::Uuid::from_u128(0xacc02ed);
    let first = SignedInProfile {
        id: zed,
        account_id: Some(account),
        display_name: "Zed".to_owned(),
        identifier_value: "zed@example.com".to_owned(),
        identifier_kind: "email".to_owned(),
    };
    let key = PublicKeysUpdate {
        non_identified_pubkey: Some(Some("WmVkS2V5".to_owned())),
        ..PublicKeysUpdate::default()
    };
    let renamed = SignedInProfile {
        account_id: None,
        display_name: "Zed Z.".to_owned(),
        identifier_value: "z@example.com".to_owned(),
        ..first.clone()
    };
    for directory in [
        &**db as &dyn IdentityDirectory,
        &reference as &dyn IdentityDirectory,
    ] {
        directory.record_signed_in(&first).await.unwrap();
        assert_eq!(
            directory.identity(zed).await.unwrap(),
            Some(Identity {
                id: zed,
                display_name: "Zed".to_owned(),
                avatar_url: None,
                identifier_value: "zed@example.com".to_owned(),
                identifier_kind: "email".to_owned(),
                account_id: Some(account),
                pubkey: None,
                non_identified_pubkey: None,
                pubkey_aes_rsa: None,
                non_identified_pubkey_aes_rsa: None,
            })
        );
        assert!(directory.update_public_keys(zed, &key).await.unwrap());
        directory.record_signed_in(&renamed).await.unwrap();
        assert_eq!(
            directory.identity(zed).await.unwrap(),
            Some(Identity {
                id: zed,
                display_name: "Zed Z.".to_owned(),
                avatar_url: None,
                identifier_value: "z@example.com".to_owned(),
                identifier_kind: "email".to_owned(),
                account_id: Some(account),
                pubkey: None,
                non_identified_pubkey: Some("WmVkS2V5".to_owned()),
                pubkey_aes_rsa: None,
                non_identified_pubkey_aes_rsa: None,
            }),
            "refreshed, the account and the keys kept"
        );
        assert_eq!(directory.identity(ALICE_ID).await.unwrap(), Some(alice()));
    }
}

async fn public_keys_change_like_the_in_memory_directory(db: &TestDatabase) {
    use misakey_box::domain::PublicKeysUpdate;
    db.load_fixtures(&fixtures()).await.unwrap();
    let reference = misakey_box_testkit::InMemoryIdentityDirectory::new();
    reference.insert(alice());
    reference.insert(bob());
    let updates = [
        PublicKeysUpdate {
            pubkey: Some(Some("UHViS2V5".to_owned())),
            non_identified_pubkey: Some(None),
            ..PublicKeysUpdate::default()
        },
        PublicKeysUpdate {
            non_identified_pubkey_aes_rsa: Some(Some("com.misakey.aes-rsa-enc:UnNh".to_owned())),
            pubkey_aes_rsa: Some(Some("QWVz".to_owned())),
            ..PublicKeysUpdate::default()
        },
        PublicKeysUpdate {
            pubkey: Some(None),
            ..PublicKeysUpdate::default()
        },
    ];
    for update in &updates {
        assert!(db.update_public_keys(BOB_ID, update).await.unwrap());
        assert!(reference.update_public_keys(BOB_ID, update).await.unwrap());
        assert_eq!(
            db.identity(BOB_ID).await.unwrap(),
            reference.identity(BOB_ID).await.unwrap()
        );
    }
    let mut expected = bob();
    expected.non_identified_pubkey = None;
    expected.pubkey_aes_rsa = Some("QWVz".to_owned());
    expected.non_identified_pubkey_aes_rsa = Some("com.misakey.aes-rsa-enc:UnNh".to_owned());
    assert_eq!(db.identity(BOB_ID).await.unwrap(), Some(expected));
    assert_eq!(
        db.identity(ALICE_ID).await.unwrap(),
        Some(alice()),
        "others unchanged"
    );
    let stranger = uuid::Uuid::from_u128(0x5742);
    assert!(!db.update_public_keys(stranger, &updates[0]).await.unwrap());
    assert!(
        !reference
            .update_public_keys(stranger, &updates[0])
            .await
            .unwrap()
    );
}

async fn contact_answers_and_publishes_like_the_in_memory_reference(db: &TestDatabase) {
    let (service, bus) = service_on(db).await;
    let reference = TestBed::new();
    let body = reference.request_to_bob().title("Café ☕").build();

    let stored = service
        .contact(&alice_caller(&service).await, &body)
        .await
        .unwrap();
    let expected = reference
        .service
        .contact(&reference.alice_caller().await, &body)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
    assert_eq!(bus.published(), reference.bus.published());

    let box_id = stored.id;
    assert_eq!(
        db.box_events(box_id).await.unwrap(),
        reference.store.box_events(box_id).await.unwrap()
    );
    assert_eq!(
        db.notifications(BOB_ID).await.unwrap(),
        reference.store.notifications(BOB_ID).await.unwrap()
    );
    let bob_account = bob().account_id.unwrap();
    assert_eq!(
        db.crypto_actions(bob_account).await.unwrap(),
        reference.store.crypto_actions(bob_account).await.unwrap()
    );
}

async fn a_contact_whose_last_write_fails_leaves_every_table_as_it_was(db: &TestDatabase) {
    let first = sample_contact(1, "Zmlyc3Q");
    db.save_contact(&first).await.unwrap();
    let before = row_counts(db).await;

    // The notification is written last; reusing an existing notification id makes it fail
    // after the key share, the events and the crypto action were written in the transaction.
    let mut second = sample_contact(2, "c2Vjb25k");
    second.notification.id = first.notification.id;
    let error = db.save_contact(&second).await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");

    assert_eq!(row_counts(db).await, before);
    assert_eq!(db.key_share("c2Vjb25k").await.unwrap(), None);
    assert_eq!(
        db.box_events(second.key_share.box_id).await.unwrap(),
        vec![]
    );
    assert_eq!(
        db.crypto_actions(second.crypto_action.account_id)
            .await
            .unwrap(),
        vec![]
    );
}

/// A box event's change set failing in the middle of its transaction (the membership written,
/// then the event refused) writes nothing: no member, no event, no unread count, no log entry.
async fn a_join_whose_event_fails_after_the_membership_was_written_leaves_every_table_as_it_was(
    db: &TestDatabase,
) {
    let contact = sample_contact(1, "am9pbg");
    db.save_contact(&contact).await.unwrap();
    let box_id = contact.key_share.box_id;
    let creator = contact.events[0].sender_id;
    let joiner = contact.notification.identity_id;
    let before = (
        row_counts(db).await,
        db.members(box_id).await.unwrap(),
        db.unread_count(creator, box_id).await.unwrap(),
        db.updates_after(joiner, 0, 100).await.unwrap().len(),
    );

    // The join event reuses the id of the box's `create` event: refused by the events table,
    // after the membership row was inserted in the same transaction.
    let join = misakey_box::domain::Event {
        id: contact.events[0].id,
        box_id,
        kind: misakey_box::domain::EventType::MemberJoin,
        content: json!({}),
        sender_id: joiner,
        created_at: contact.created_at,
        referrer_id: None,
    };
    let changes = ChangeSet {
        changes: vec![
            Change::AddMember {
                box_id,
                identity_id: joiner,
                join_event_id: join.id,
                joined_at: join.created_at,
            },
            Change::AddEvent(join),
            Change::CountUnreadEvent {
                box_id,
                sender_id: joiner,
            },
        ],
        updates: contact.updates.clone(),
        created_at: contact.created_at,
    };
    let error = db.commit(&changes).await.unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");

    let after = (
        row_counts(db).await,
        db.members(box_id).await.unwrap(),
        db.unread_count(creator, box_id).await.unwrap(),
        db.updates_after(joiner, 0, 100).await.unwrap().len(),
    );
    assert_eq!(after, before);
}

/// Two PostgreSQL transactions that each wait for a row the other holds (another instance's
/// batch, a prune): PostgreSQL gives one of them up. A batch of the store given up that way is
/// written again, whole, once the other is done; its callers never see the conflict. The
/// other transaction here is a second connection, whose deadlock check is set to come after
/// the store's, so that the store's batch is the one given up. On one thread, so that the
/// metrics recorder of the test's thread sees the batch writer's task.
#[tokio::test]
async fn a_batch_given_up_in_a_deadlock_is_written_again() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use misakey_box::ports::BoxReads as _;
    use misakey_box::storage::sea_orm::{
        ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _,
    };
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let contact = sample_contact(1, "ZGVhZGxvY2s");
    db.save_contact(&contact).await.unwrap();
    let box_id = contact.key_share.box_id;
    let (creator, bob, carol) = (sample_creator(1), BOB_ID, ALICE_ID);
    let commit = |changes| ChangeSet {
        changes,
        updates: Vec::new(),
        created_at: misakey_box_testkit::default_instant(),
    };
    let join = |identity_id| Change::AddMember {
        box_id,
        identity_id,
        join_event_id: uuid::Uuid::from_u128(0x102),
        joined_at: misakey_box_testkit::default_instant(),
    };
    let event = Change::CountUnreadEvent {
        box_id,
        sender_id: creator,
    };
    db.commit(&commit(vec![join(bob), join(carol), event.clone()]))
        .await
        .unwrap();

    let other = db.reopen().await;
    let sql = |text: String| Statement::from_string(DbBackend::Postgres, text);
    let holder = other.connection().begin().await.unwrap();
    holder
        .execute_unprepared("SET LOCAL deadlock_timeout = '60s'")
        .await
        .unwrap();
    let holder_pid: i32 = holder
        .query_one_raw(sql("SELECT pg_backend_pid() AS pid".to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "pid")
        .unwrap();
    // Bob's membership row, which the batch below updates to reset his count.
    holder
        .execute_unprepared(&format!(
            "SELECT 1 FROM box_members WHERE box_id = '{box_id}' AND identity_id = '{bob}' FOR UPDATE"
        ))
        .await
        .unwrap();

    // Two more events (the box's total, taken first), then Bob's read (his row): it waits.
    let storage = db.reopen().await;
    let batch = tokio::spawn(async move {
        storage
            .commit(&commit(vec![
                event.clone(),
                event,
                Change::ResetUnreadCount {
                    identity_id: bob,
                    box_id,
                },
            ]))
            .await
    });
    let mut waited = 0;
    loop {
        let blocked: i64 = other
            .connection()
            .query_one_raw(sql(format!(
                "SELECT count(*) AS blocked FROM pg_stat_activity \
                 WHERE {holder_pid} = ANY(pg_blocking_pids(pid))"
            )))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "blocked")
            .unwrap();
        if blocked > 0 {
            break;
        }
        waited += 1;
        assert!(waited < 200, "the batch never waited for Bob's row");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Now the holder waits for the box's total, which the batch holds: a deadlock. This
    // returns only once the batch was given up (it cannot commit without Bob's row).
    holder
        .execute_unprepared(&format!(
            "SELECT 1 FROM box_unread_totals WHERE box_id = '{box_id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    holder.commit().await.unwrap();

    let written = batch.await.unwrap();
    assert!(written.is_ok(), "{written:?}");
    let mut counts = Vec::new();
    for identity in [creator, bob, carol] {
        counts.push(db.unread_count(identity, box_id).await.unwrap());
    }
    assert_eq!(counts, [0, 0, 3]);
    let retries: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "misakey_box_store_batch_retries_total")
        .map(|(key, _, _, value)| (key.key().name().to_owned(), value))
        .collect();
    assert_eq!(
        retries,
        [(
            "misakey_box_store_batch_retries_total".to_owned(),
            DebugValue::Counter(1)
        )]
    );
}

/// Contacts arriving together are written together; a duplicate among them is refused alone
/// and every other one is saved, with its own positions.
async fn a_duplicate_among_concurrent_contacts_fails_alone(db: &TestDatabase) {
    db.save_contact(&sample_contact(100, "dGFrZW4"))
        .await
        .unwrap();
    let records: Vec<_> = (1..=30u64)
        .map(|n| {
            // Every third one reuses the hash already stored.
            let hash = if n % 3 == 0 {
                "dGFrZW4".to_owned()
            } else {
                format!("YmF0Y2g{n}")
            };
            sample_contact_between(n, &hash, sample_creator(1), BOB_ID)
        })
        .collect();
    let results = futures::future::join_all(records.iter().map(|r| db.save_contact(r))).await;
    let refused: Vec<bool> = results
        .iter()
        .map(|result| matches!(result, Err(StoreError::KeyShareConflict)))
        .collect();
    assert_eq!(
        refused,
        (1..=30u64).map(|n| n % 3 == 0).collect::<Vec<_>>(),
        "{results:?}"
    );
    // The 20 saved ones hold Bob's positions 1..=20 between them, each once, as written.
    let mut bob_positions: Vec<u64> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .flatten()
        .filter(|update| update.recipient == BOB_ID)
        .map(|update| update.seq)
        .collect();
    bob_positions.sort_unstable();
    assert_eq!(bob_positions, (1..=20).collect::<Vec<u64>>());
    let mut saved: Vec<_> = results
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .collect();
    saved.sort_by_key(|update| (update.recipient, update.seq));
    let mut logged = db.updates_after(sample_creator(1), 0, 100).await.unwrap();
    logged.extend(db.updates_after(BOB_ID, 0, 100).await.unwrap());
    logged.sort_by_key(|update| (update.recipient, update.seq));
    assert_eq!(logged, saved);
}

async fn concurrent_contacts_sharing_a_share_hash_have_one_winner(db: &TestDatabase) {
    let (service, bus) = service_on(db).await;
    let caller = alice_caller(&service).await;
    let body = TestBed::new()
        .request_to_bob()
        .other_share_hash("c2hhcmVk")
        .build();
    let attempts: Vec<_> = (0..50)
        .map(|_| {
            let (service, body) = (service.clone(), body.clone());
            tokio::spawn(async move {
                service
                    .contact(&caller, &body)
                    .await
                    .map_err(|error| error.to_json())
            })
        })
        .collect();
    let mut results = Vec::new();
    for attempt in attempts {
        results.push(attempt.await.unwrap());
    }

    let winners: Vec<_> = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let conflict = json!({
        "code": "conflict", "origin": "body", "desc": "a key share with this other_share_hash already exists",
        "details": {"key_share.other_share_hash": "conflict"}
    });
    let losers: Vec<&Value> = results
        .iter()
        .filter_map(|result| result.as_ref().err())
        .collect();
    assert_eq!(losers, vec![&conflict; 49]);
    // Only the winner's box exists and was announced.
    assert_eq!(
        box_event::Entity::find()
            .count(db.connection())
            .await
            .unwrap(),
        2
    );
    assert_eq!(db.notifications(BOB_ID).await.unwrap().len(), 1);
    assert_eq!(bus.updates_for(BOB_ID).len(), 1);
    assert_eq!(bus.updates_for(ALICE_ID).len(), 2);
}

async fn everything_is_read_back_after_a_restart(db: &TestDatabase) {
    let (service, _bus) = service_on(db).await;
    let created = service
        .contact(
            &alice_caller(&service).await,
            &TestBed::new().request_to_bob().build(),
        )
        .await
        .unwrap();
    let unread = ChangeSet {
        changes: vec![
            Change::AddMember {
                box_id: created.id,
                identity_id: BOB_ID,
                join_event_id: uuid::Uuid::from_u128(0x101),
                joined_at: misakey_box_testkit::default_instant(),
            },
            Change::CountUnreadEvent {
                box_id: created.id,
                sender_id: ALICE_ID,
            },
        ],
        updates: Vec::new(),
        created_at: misakey_box_testkit::default_instant(),
    };
    db.commit(&unread).await.unwrap();
    let events = db.box_events(created.id).await.unwrap();
    let notifications = db.notifications(BOB_ID).await.unwrap();
    let key_share = box_key_share::Entity::find()
        .one(db.connection())
        .await
        .unwrap()
        .unwrap();
    drop(service);
    db.connection().clone().close().await.unwrap();

    let reopened = db.reopen().await;
    assert_eq!(reopened.box_events(created.id).await.unwrap(), events);
    let read_back = reopened
        .key_share(&key_share.other_share_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (read_back.box_id, read_back.misakey_share),
        (created.id, key_share.misakey_share)
    );
    assert_eq!(reopened.notifications(BOB_ID).await.unwrap(), notifications);
    assert_eq!(reopened.unread_count(BOB_ID, created.id).await.unwrap(), 1);
    assert_eq!(reopened.identity(ALICE_ID).await.unwrap(), Some(alice()));
    assert_eq!(
        reopened
            .introspect(BOB_TOKEN)
            .await
            .unwrap()
            .map(|t| t.identity_id),
        Some(BOB_ID)
    );
}

async fn fixtures_load_twice_harmlessly_and_update_in_place(db: &TestDatabase) {
    db.load_fixtures(&fixtures()).await.unwrap();
    db.load_fixtures(&fixtures()).await.unwrap();
    assert_eq!(row_counts(db).await[..2], [2, 2]);

    let mut renamed = fixtures();
    renamed.identities[0].display_name = "Alice Liddell".to_owned();
    renamed.identities[0].avatar_url = Some("https://example.com/alice.png".to_owned());
    renamed.tokens[0].acr = 1;
    db.load_fixtures(&renamed).await.unwrap();
    assert_eq!(
        db.identity(ALICE_ID).await.unwrap(),
        Some(renamed.identities[0].clone())
    );
    assert_eq!(
        db.introspect(ALICE_TOKEN).await.unwrap().map(|t| t.acr),
        Some(1)
    );
    assert_eq!(row_counts(db).await[..2], [2, 2]);
}

async fn tokens_are_introspected_from_the_table(db: &TestDatabase) {
    let expires_at = default_instant() + TimeDelta::seconds(60);
    let mut with_expiry = fixtures();
    with_expiry.tokens.push(FixtureToken {
        token: "expiring".to_owned(),
        identity_id: BOB_ID,
        acr: 3,
        expires_at: Some(expires_at),
    });
    db.load_fixtures(&with_expiry).await.unwrap();

    let info = db.introspect("expiring").await.unwrap().unwrap();
    assert_eq!(
        (info.identity_id, info.account_id, info.acr, info.expires_at),
        (BOB_ID, bob().account_id, 3, Some(expires_at))
    );
    assert_eq!(db.introspect("unknown").await.unwrap(), None);
    assert_eq!(db.identity(uuid::Uuid::nil()).await.unwrap(), None);

    // Expiry is enforced by the use case against its clock.
    let (service, _bus) = service_on(db).await;
    let credentials = Credentials {
        access_token: Some("expiring"),
        token_type: Some("bearer"),
    };
    assert!(
        service
            .authorize(credentials, &BOB_ID.to_string())
            .await
            .is_ok()
    );
    let clock = Arc::new(FixedClock::new(expires_at));
    let storage = Arc::new((**db).clone());
    let later = BoxService::without_maintenance(
        Ports::with_storage(storage, Arc::new(RecordingBus::new())).with_clock(clock),
        Config::new(TEST_OWNER_ORG_ID),
    );
    assert_eq!(
        later
            .authorize(credentials, &BOB_ID.to_string())
            .await
            .unwrap_err()
            .details()
            .get("accesstoken")
            .map(String::as_str),
        Some("invalid")
    );
}

async fn migrations_are_idempotent(db: &TestDatabase) {
    db.migrate().await.unwrap();
    db.migrate().await.unwrap();
    // Instances starting at the same moment against one database do not break each other.
    let starts = futures::future::join_all((0..4).map(|_| db.try_reopen())).await;
    for start in starts {
        start.unwrap();
    }
    db.save_contact(&sample_contact(1, "YWZ0ZXI"))
        .await
        .unwrap();
}

/// A database written before the publisher checkpoints (with the per-entry "published" column)
/// keeps every log entry and position through the upgrade, and the downgrade works too.
async fn upgrading_from_published_marks_keeps_every_log_entry(db: &TestDatabase) {
    let first = sample_contact(1, "dXBncmFkZTE");
    let mut saved = db.save_contact(&first).await.unwrap();
    let second = sample_contact_between(2, "dXBncmFkZTI", first.notification.identity_id, BOB_ID);
    saved.extend(db.save_contact(&second).await.unwrap());
    // Back to the schema of the second migration (per-entry published marks), then up again.
    migrate_down_to(db, 2).await;

    let upgraded = db.reopen().await;
    let mut read = Vec::new();
    for identity in [sample_creator(1), first.notification.identity_id, BOB_ID] {
        read.extend(upgraded.updates_after(identity, 0, 100).await.unwrap());
    }
    saved.sort_by_key(|u| (u.recipient, u.seq));
    read.sort_by_key(|u| (u.recipient, u.seq));
    assert_eq!(read, saved);
    // Positions go on from where they were.
    let third = sample_contact_between(3, "dXBncmFkZTM", sample_creator(1), BOB_ID);
    let next: Vec<(uuid::Uuid, u64)> = upgraded
        .save_contact(&third)
        .await
        .unwrap()
        .iter()
        .map(|u| (u.recipient, u.seq))
        .collect();
    assert_eq!(
        next,
        vec![(sample_creator(1), 3), (sample_creator(1), 4), (BOB_ID, 2)]
    );
}

/// The counts of a box's members read the same after going back to one count row per member
/// (the schema before read marks) and up again, and go on growing from there.
async fn unread_counts_survive_the_read_marks_migration_both_ways(db: &TestDatabase) {
    use misakey_box::ports::BoxReads as _;
    let contact = sample_contact(1, "bWFya3M");
    db.save_contact(&contact).await.unwrap();
    let box_id = contact.key_share.box_id;
    let (creator, bob, carol) = (sample_creator(1), BOB_ID, ALICE_ID);
    let event = |sender_id| Change::CountUnreadEvent { box_id, sender_id };
    let join = |identity_id| Change::AddMember {
        box_id,
        identity_id,
        join_event_id: uuid::Uuid::from_u128(0x101),
        joined_at: misakey_box_testkit::default_instant(),
    };
    let commit = |changes| ChangeSet {
        changes,
        updates: Vec::new(),
        created_at: misakey_box_testkit::default_instant(),
    };
    db.commit(&commit(vec![join(bob), join(carol)]))
        .await
        .unwrap();
    db.commit(&commit(vec![event(creator), event(creator), event(bob)]))
        .await
        .unwrap();
    async fn counts(storage: &SeaOrmStorage, box_id: uuid::Uuid, of: [uuid::Uuid; 3]) -> Vec<u64> {
        let mut counts = Vec::new();
        for identity in of {
            counts.push(storage.unread_count(identity, box_id).await.unwrap());
        }
        counts
    }
    assert_eq!(counts(db, box_id, [creator, bob, carol]).await, [1, 2, 3]);

    // Back to the schema before read marks (one count row per member).
    migrate_down_to(db, 6).await;
    let upgraded = db.reopen().await;
    assert_eq!(
        counts(&upgraded, box_id, [creator, bob, carol]).await,
        [1, 2, 3]
    );
    upgraded.commit(&commit(vec![event(carol)])).await.unwrap();
    assert_eq!(
        counts(&upgraded, box_id, [creator, bob, carol]).await,
        [2, 3, 3]
    );
}

async fn a_closed_pool_is_service_unavailable(db: &TestDatabase) {
    let (service, bus) = service_on(db).await;
    let caller = alice_caller(&service).await;
    db.connection().clone().close().await.unwrap();

    let error = service
        .contact(&caller, &TestBed::new().request_to_bob().build())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_json(),
        json!({
            "code": "service_unavailable", "origin": "not_defined",
            "desc": "a dependency of the server is unavailable, retry later", "details": {}
        })
    );
    assert_eq!(bus.published(), vec![]);
    assert!(matches!(db.ping().await, Err(StoreError::Unavailable(_))));
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_not_a_crash() {
    // Port 1 on loopback: nothing listens there.
    let mut options = ConnectOptions::new("postgres://postgres@127.0.0.1:1/test");
    options
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2));
    let error = SeaOrmStorage::connect_with(options).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn an_in_memory_sqlite_database_works_on_one_connection() {
    let storage = SeaOrmStorage::connect("sqlite::memory:").await.unwrap();
    let record = sample_contact(1, "bWVtb3J5");
    storage.save_contact(&record).await.unwrap();
    assert_eq!(
        storage.box_events(record.key_share.box_id).await.unwrap(),
        record.events
    );
}

async fn thousands_of_fixtures_load_in_one_go(db: &TestDatabase) {
    // More rows than one statement may bind parameters for, on either database.
    let identities: Vec<_> = (0..2500u128)
        .map(|n| {
            misakey_box_testkit::builders::IdentityBuilder::new(
                uuid::Uuid::from_u128(0xf1_0000 + n),
                "Many",
            )
            .build()
        })
        .collect();
    let tokens = identities
        .iter()
        .enumerate()
        .map(|(n, identity)| FixtureToken {
            token: format!("many-{n}"),
            identity_id: identity.id,
            acr: 1,
            expires_at: None,
        })
        .collect();
    db.load_fixtures(&Fixtures { identities, tokens })
        .await
        .unwrap();
    assert_eq!(row_counts(db).await[..2], [2500, 2500]);
    assert_eq!(
        db.introspect("many-2499")
            .await
            .unwrap()
            .map(|t| t.identity_id),
        Some(uuid::Uuid::from_u128(0xf1_0000 + 2499))
    );
}

/// On a SQLite file, committed rows stay in the write-ahead log until enough have been
/// committed, then reach the database file without another write and without a writer waiting
/// for it: the storage checkpoints from a task of its own (SQLite's own checkpoints, in a
/// writer's turn, start only far later).
#[tokio::test]
async fn a_sqlite_file_is_checkpointed_after_enough_rows_outside_the_writers_turn() {
    let path = std::env::temp_dir().join(format!(
        "misakey-box-checkpoints-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let storage = SeaOrmStorage::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let file_size = || std::fs::metadata(&path).map_or(0, |meta| meta.len());
    let entries = |count: usize, padding: usize| ChangeSet {
        changes: Vec::new(),
        updates: (0..count)
            .map(|n| misakey_box::domain::AddressedUpdate {
                recipient: ALICE_ID,
                update: misakey_box::domain::RealtimeUpdate {
                    kind: misakey_box::domain::UpdateType::Notification,
                    object: json!({"n": n, "padding": "p".repeat(padding)}).into(),
                },
            })
            .collect(),
        created_at: chrono::Utc::now(),
    };
    let before = file_size();

    // About 100 kB: not enough for a checkpoint.
    storage.commit(&entries(100, 1_000)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_a_few = file_size();

    // About 4 MB in 10,000 rows: a checkpoint starts after the commit.
    storage.commit(&entries(10_000, 400)).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while file_size() < before + 4_000_000 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_many = file_size();
    drop(storage);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    assert_eq!(
        (after_a_few, after_many >= before + 4_000_000),
        (before, true),
        "database file: {before} bytes at first, {after_a_few} after 100 rows, {after_many} after 10,100 rows"
    );
}
