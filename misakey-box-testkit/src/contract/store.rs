//! The box store contract: what every [`BoxStore`] must do, checked against any implementation.
//!
//! Each check takes a fresh, empty store. Run them all with
//! [`store_contract_tests!`](crate::store_contract_tests), which makes one test per check.
//! Checks panic on the first broken rule, like any assertion.

#![allow(clippy::unwrap_used)]

use chrono::TimeDelta;
use misakey_box::domain::{
    CryptoAction, CryptoActionType, Event, EventType, KeyShare, Notification, NotificationType,
};
use misakey_box::error::StoreError;
use misakey_box::ports::{BoxStore, ContactRecord};
use serde_json::json;
use uuid::Uuid;

use crate::clock::default_instant;

/// Distinct ids for the `n`th sample record (`k` tells the parts apart).
fn sample_id(n: u64, k: u64) -> Uuid {
    Uuid::from_u128((u128::from(n) << 64) | 0x4000_8000_0000_0000 | u128::from(k))
}

/// The identity contacted by [`sample_contact`]`(n, _)`.
pub fn sample_contacted_identity(n: u64) -> Uuid {
    sample_id(n, 7)
}

/// The account of [`sample_contacted_identity`]`(n)`.
pub fn sample_contacted_account(n: u64) -> Uuid {
    sample_id(n, 8)
}

/// A complete contact record, all of whose ids derive from `n`; its times carry microseconds
/// and its texts non-ASCII characters, so that a store that loses either fails the contract.
pub fn sample_contact(n: u64, other_share_hash: &str) -> ContactRecord {
    let at = default_instant() + TimeDelta::seconds(i64::try_from(n).unwrap_or(0));
    let (box_id, creator_id) = (sample_id(n, 1), sample_id(n, 6));
    let title = format!("Café ☕ n°{n}");
    let event = |k, kind, content| Event {
        id: sample_id(n, k),
        box_id,
        kind,
        content,
        sender_id: creator_id,
        created_at: at,
        referrer_id: None,
    };
    ContactRecord {
        events: vec![
            event(
                2,
                EventType::Create,
                json!({"public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw", "title": title, "state": "open"}),
            ),
            event(3, EventType::StateAccessMode, json!({"value": "public"})),
        ],
        key_share: KeyShare {
            other_share_hash: other_share_hash.to_owned(),
            misakey_share: "lBHT1vfwFAIBig5Nj+sD+w==".to_owned(),
            encrypted_invitation_key_share: "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
                .to_owned(),
            box_id,
            creator_id,
        },
        crypto_action: CryptoAction {
            id: sample_id(n, 4),
            account_id: sample_contacted_account(n),
            sender_identity_id: creator_id,
            kind: CryptoActionType::Invitation,
            box_id,
            encryption_public_key: "Qm9iTm9uSWRlbnRpZmllZFB1YmxpY0tleTMyYnl0ZXM".to_owned(),
            encrypted: "ZW5jcnlwdGVkIGludml0YXRpb24".to_owned(),
            created_at: at,
        },
        notification: Notification {
            id: sample_id(n, 5),
            identity_id: sample_contacted_identity(n),
            kind: NotificationType::BoxAutoInvite,
            details: json!({"box_id": box_id, "box_title": title, "owner_org_id": sample_id(0, 9), "cryptoaction_id": sample_id(n, 4)}),
            created_at: at,
            acknowledged_at: None,
        },
    }
}

/// Asserts that nothing of `record` is stored.
async fn assert_nothing_of<S: BoxStore + ?Sized>(store: &S, record: &ContactRecord) {
    let box_id = record.key_share.box_id;
    assert_eq!(
        store.box_events(box_id).await.unwrap(),
        vec![],
        "events of a failed contact remain"
    );
    let actions = store
        .crypto_actions(record.crypto_action.account_id)
        .await
        .unwrap();
    assert!(
        !actions.iter().any(|a| a.box_id == box_id),
        "crypto action of a failed contact remains"
    );
    let notifications = store
        .notifications(record.notification.identity_id)
        .await
        .unwrap();
    assert!(
        !notifications.iter().any(|n| n.id == record.notification.id),
        "notification of a failed contact remains"
    );
}

/// What a contact writes reads back unchanged.
pub async fn saves_and_reads_back_a_contact<S: BoxStore + ?Sized>(store: &S) {
    let record = sample_contact(1, "aGFzaC1vbmU");
    store.save_contact(&record).await.unwrap();

    assert_eq!(
        store.box_events(record.key_share.box_id).await.unwrap(),
        record.events
    );
    assert_eq!(
        store.key_share("aGFzaC1vbmU").await.unwrap(),
        Some(record.key_share.clone())
    );
    assert_eq!(
        store
            .crypto_actions(sample_contacted_account(1))
            .await
            .unwrap(),
        vec![record.crypto_action.clone()]
    );
    assert_eq!(
        store
            .notifications(sample_contacted_identity(1))
            .await
            .unwrap(),
        vec![record.notification.clone()]
    );
}

/// A second contact with a stored `other_share_hash` fails with a conflict and writes nothing.
pub async fn duplicate_share_hash_conflicts_and_writes_nothing<S: BoxStore + ?Sized>(store: &S) {
    let first = sample_contact(1, "c2FtZS1oYXNo");
    let second = sample_contact(2, "c2FtZS1oYXNo");
    store.save_contact(&first).await.unwrap();

    let error = store.save_contact(&second).await.unwrap_err();
    assert!(
        matches!(error, StoreError::KeyShareConflict),
        "expected a key-share conflict, got {error:?}"
    );
    assert_nothing_of(store, &second).await;
    assert_eq!(
        store.key_share("c2FtZS1oYXNo").await.unwrap(),
        Some(first.key_share.clone())
    );
    assert_eq!(
        store.box_events(first.key_share.box_id).await.unwrap(),
        first.events
    );
}

/// Of many concurrent contacts sharing one `other_share_hash`, exactly one is stored.
pub async fn concurrent_duplicates_have_exactly_one_winner<S: BoxStore + ?Sized>(store: &S) {
    let records: Vec<ContactRecord> = (1..=20)
        .map(|n| sample_contact(n, "cmFjZS1oYXNo"))
        .collect();
    let results = futures::future::join_all(records.iter().map(|r| store.save_contact(r))).await;

    let winners: Vec<&ContactRecord> = records
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(record, _)| record)
        .collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    for (record, result) in records.iter().zip(&results) {
        match result {
            Ok(()) => assert_eq!(
                store.box_events(record.key_share.box_id).await.unwrap(),
                record.events
            ),
            Err(StoreError::KeyShareConflict) => assert_nothing_of(store, record).await,
            Err(other) => panic!("expected success or a key-share conflict, got {other:?}"),
        }
    }
    assert_eq!(
        store.key_share("cmFjZS1oYXNo").await.unwrap(),
        Some(winners[0].key_share.clone())
    );
}

/// Reads return only what belongs to the box, account or identity asked for.
pub async fn reads_are_scoped<S: BoxStore + ?Sized>(store: &S) {
    let (one, two) = (
        sample_contact(1, "aGFzaC1vbmU"),
        sample_contact(2, "aGFzaC10d28"),
    );
    store.save_contact(&one).await.unwrap();
    store.save_contact(&two).await.unwrap();

    assert_eq!(
        store.box_events(two.key_share.box_id).await.unwrap(),
        two.events
    );
    assert_eq!(
        store
            .crypto_actions(sample_contacted_account(1))
            .await
            .unwrap(),
        vec![one.crypto_action.clone()]
    );
    assert_eq!(
        store
            .notifications(sample_contacted_identity(2))
            .await
            .unwrap(),
        vec![two.notification.clone()]
    );
}

/// Unknown ids and hashes read as empty, not as errors.
pub async fn unknown_keys_read_as_empty<S: BoxStore + ?Sized>(store: &S) {
    let unknown = sample_id(99, 99);
    assert_eq!(store.box_events(unknown).await.unwrap(), vec![]);
    assert_eq!(store.key_share("dW5rbm93bg").await.unwrap(), None);
    assert_eq!(store.crypto_actions(unknown).await.unwrap(), vec![]);
    assert_eq!(store.notifications(unknown).await.unwrap(), vec![]);
    assert_eq!(store.unread_count(unknown, unknown).await.unwrap(), 0);
}

/// Unread counts grow one by one per identity and box, and an ack resets exactly one of them.
pub async fn unread_counts_increment_and_reset<S: BoxStore + ?Sized>(store: &S) {
    let (alice, bob, box_a, box_b) = (
        sample_id(1, 1),
        sample_id(1, 2),
        sample_id(1, 3),
        sample_id(1, 4),
    );
    assert_eq!(store.increment_unread_count(alice, box_a).await.unwrap(), 1);
    assert_eq!(store.increment_unread_count(alice, box_a).await.unwrap(), 2);
    assert_eq!(store.increment_unread_count(alice, box_b).await.unwrap(), 1);
    assert_eq!(store.increment_unread_count(bob, box_a).await.unwrap(), 1);

    store.reset_unread_count(alice, box_a).await.unwrap();
    assert_eq!(store.unread_count(alice, box_a).await.unwrap(), 0);
    assert_eq!(store.unread_count(alice, box_b).await.unwrap(), 1);
    assert_eq!(store.unread_count(bob, box_a).await.unwrap(), 1);
    // Resetting twice, or a count never started, is harmless.
    store.reset_unread_count(alice, box_a).await.unwrap();
    store.reset_unread_count(bob, box_b).await.unwrap();
    assert_eq!(store.increment_unread_count(alice, box_a).await.unwrap(), 1);
}

/// Expands to one `#[tokio::test]` per check of the box store contract.
///
/// The argument is an expression of a future that yields `Option<S>`, where `S` dereferences
/// to a fresh, empty [`BoxStore`] (a `Box`, an `Arc`, or a guard such as
/// [`TestDatabase`](crate::database::TestDatabase) that cleans up when dropped). `None` skips
/// the test, for backends that are not configured here. The expression is evaluated once per
/// test, so each test has its own store. The calling crate needs `tokio` with the `macros` and
/// `rt` features among its dev-dependencies.
///
/// ```ignore
/// mod store_contract {
///     misakey_box_testkit::store_contract_tests!(async { Some(Box::new(MyStore::new())) });
/// }
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($make_store:expr) => {
        $crate::store_contract_tests!(@check $make_store,
            saves_and_reads_back_a_contact,
            duplicate_share_hash_conflicts_and_writes_nothing,
            concurrent_duplicates_have_exactly_one_winner,
            reads_are_scoped,
            unknown_keys_read_as_empty,
            unread_counts_increment_and_reset,
        );
    };
    (@check $make_store:expr, $($check:ident,)+) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(store) = $make_store.await else {
                    return;
                };
                $crate::contract::store::$check(&*store).await;
            }
        )+
    };
}
