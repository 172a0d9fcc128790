//! The storage contract: what every [`BoxStore`], with its [`UpdateLog`] and
//! [`PublisherRegistry`], must do, checked against any implementation.
//!
//! Each check takes a fresh, empty store. Run them all with
//! [`store_contract_tests!`](crate::store_contract_tests), which makes one test per check.
//! Checks panic on the first broken rule, like any assertion.

#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use misakey_box::domain::{
    AddressedUpdate, CryptoAction, CryptoActionType, Event, EventType, KeyShare, Notification,
    NotificationType, RealtimeUpdate, SequencedUpdate, UpdateType,
};
use misakey_box::error::StoreError;
use misakey_box::ports::{
    BoxReads, BoxStore, Change, ChangeSet, ContactRecord, Inbox, LogPositions, LoggedUpdate,
    Member, PublisherHeartbeat, PublisherRegistry, Retention, UpdateLog,
};

use crate::StoreReadBack;

/// A store the contract can check: the storage ports of the use cases, and reading back.
pub trait ContractStore:
    BoxStore + UpdateLog + PublisherRegistry + Inbox + BoxReads + StoreReadBack
{
}

impl<T> ContractStore for T where
    T: BoxStore + UpdateLog + PublisherRegistry + Inbox + BoxReads + StoreReadBack + ?Sized
{
}

/// Commits a [`ContactRecord`]'s change set: what the contact use case does.
#[async_trait]
pub trait SaveContact {
    /// `store.commit(&record.into())`.
    async fn save_contact(
        &self,
        record: &ContactRecord,
    ) -> Result<Vec<SequencedUpdate>, StoreError>;
}

#[async_trait]
impl<T: BoxStore + ?Sized> SaveContact for T {
    async fn save_contact(
        &self,
        record: &ContactRecord,
    ) -> Result<Vec<SequencedUpdate>, StoreError> {
        self.commit(&record.clone().into()).await
    }
}
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

/// The identity that creates [`sample_contact`]`(n, _)`.
pub fn sample_creator(n: u64) -> Uuid {
    sample_id(n, 6)
}

/// A complete contact record, all of whose ids derive from `n`; its times carry microseconds
/// and its texts non-ASCII characters, so that a store that loses either fails the contract.
/// Its updates: two for the creator, then one for the contacted identity.
pub fn sample_contact(n: u64, other_share_hash: &str) -> ContactRecord {
    sample_contact_between(
        n,
        other_share_hash,
        sample_creator(n),
        sample_contacted_identity(n),
    )
}

/// [`sample_contact`] between chosen identities.
pub fn sample_contact_between(
    n: u64,
    other_share_hash: &str,
    creator_id: Uuid,
    contacted_id: Uuid,
) -> ContactRecord {
    let at = default_instant() + TimeDelta::seconds(i64::try_from(n).unwrap_or(0));
    let box_id = sample_id(n, 1);
    let update = |recipient, kind, label: &str| AddressedUpdate {
        recipient,
        update: RealtimeUpdate {
            kind,
            object: json!({"box_id": box_id, "label": label}).into(),
        },
    };
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
            identity_id: contacted_id,
            kind: NotificationType::BoxAutoInvite,
            details: json!({"box_id": box_id, "box_title": title, "owner_org_id": sample_id(0, 9), "cryptoaction_id": sample_id(n, 4)}),
            created_at: at,
            acknowledged_at: None,
        },
        updates: vec![
            update(creator_id, UpdateType::EventNew, "create ☕"),
            update(creator_id, UpdateType::EventNew, "access mode"),
            update(contacted_id, UpdateType::Notification, "invitation"),
        ],
        created_at: at,
    }
}

/// Asserts that nothing of `record` is stored.
async fn assert_nothing_of<S: ContractStore + ?Sized>(store: &S, record: &ContactRecord) {
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
pub async fn saves_and_reads_back_a_contact<S: ContractStore + ?Sized>(store: &S) {
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
pub async fn duplicate_share_hash_conflicts_and_writes_nothing<S: ContractStore + ?Sized>(
    store: &S,
) {
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
pub async fn concurrent_duplicates_have_exactly_one_winner<S: ContractStore + ?Sized>(store: &S) {
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
            Ok(_) => assert_eq!(
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
pub async fn reads_are_scoped<S: ContractStore + ?Sized>(store: &S) {
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
pub async fn unknown_keys_read_as_empty<S: ContractStore + ?Sized>(store: &S) {
    let unknown = sample_id(99, 99);
    assert_eq!(store.box_events(unknown).await.unwrap(), vec![]);
    assert_eq!(store.key_share("dW5rbm93bg").await.unwrap(), None);
    assert_eq!(store.crypto_actions(unknown).await.unwrap(), vec![]);
    assert_eq!(store.notifications(unknown).await.unwrap(), vec![]);
    assert_eq!(store.unread_count(unknown, unknown).await.unwrap(), 0);
    assert_eq!(
        store.unread_boxes(&[unknown], 10).await.unwrap(),
        Vec::<(Uuid, Uuid)>::new()
    );
}

/// Unread counts: a counted event grows the count of every member of its box but its sender,
/// a reset clears exactly one, a member added starts at zero and one removed has none, and the
/// changes of one set apply in order; an identity's boxes with unread events are the ones whose
/// count is above zero.
pub async fn unread_counts_grow_for_members_and_reset<S: ContractStore + ?Sized>(store: &S) {
    let (alice, bob, carol, box_a, box_b) = (
        sample_id(1, 1),
        sample_id(1, 2),
        sample_id(1, 5),
        sample_id(1, 3),
        sample_id(1, 4),
    );
    let event = |box_id, sender_id| Change::CountUnreadEvent { box_id, sender_id };
    let reset = |identity_id, box_id| Change::ResetUnreadCount {
        identity_id,
        box_id,
    };
    let join = |box_id, identity_id| Change::AddMember {
        box_id,
        identity_id,
        join_event_id: sample_id(2, 1),
        joined_at: default_instant(),
    };
    let leave = |box_id, identity_id| Change::RemoveMember {
        box_id,
        identity_id,
    };
    let commit = |changes: Vec<Change>| async move {
        let set = ChangeSet {
            changes,
            updates: Vec::new(),
            created_at: default_instant(),
        };
        assert_eq!(
            store.commit(&set).await.unwrap(),
            vec![],
            "no updates, no positions"
        );
    };
    // Alice, Bob, Carol (in that order) in box A and B; Bob not in B.
    let counts = || async {
        let mut counts = Vec::new();
        for identity in [alice, bob, carol] {
            for box_id in [box_a, box_b] {
                counts.push(store.unread_count(identity, box_id).await.unwrap());
            }
        }
        counts
    };
    let unread_boxes = |identities: Vec<Uuid>| async move {
        let mut boxes = store.unread_boxes(&identities, 10).await.unwrap();
        boxes.sort();
        boxes
    };
    commit(vec![
        join(box_a, alice),
        join(box_a, bob),
        join(box_a, carol),
        join(box_b, alice),
        join(box_b, carol),
    ])
    .await;
    assert_eq!(counts().await, [0, 0, 0, 0, 0, 0]);
    commit(vec![event(box_a, carol)]).await;
    commit(vec![event(box_a, carol), event(box_b, carol)]).await;
    commit(vec![event(box_a, alice)]).await;
    assert_eq!(counts().await, [2, 1, 3, 0, 1, 0]);
    assert_eq!(
        unread_boxes(vec![alice, bob]).await,
        [(alice, box_a), (alice, box_b), (bob, box_a)]
    );
    assert_eq!(unread_boxes(vec![bob]).await, [(bob, box_a)]);

    commit(vec![reset(alice, box_a)]).await;
    assert_eq!(counts().await, [0, 1, 3, 0, 1, 0]);
    assert_eq!(unread_boxes(vec![alice]).await, [(alice, box_b)]);
    // Resetting twice, or the count of a non-member, is harmless.
    commit(vec![reset(alice, box_a), reset(bob, box_b)]).await;
    assert_eq!(counts().await, [0, 1, 3, 0, 1, 0]);
    // In order within one set: two events, Alice reads, one event, one of her own, two more:
    // three for her; Bob reads before the last one: one for him.
    commit(vec![
        event(box_a, carol),
        event(box_a, carol),
        reset(alice, box_a),
        event(box_a, carol),
        event(box_a, alice),
        event(box_a, carol),
        reset(alice, box_b),
        event(box_b, carol),
        event(box_b, carol),
        reset(bob, box_a),
        event(box_a, carol),
    ])
    .await;
    assert_eq!(counts().await, [3, 2, 1, 0, 2, 0]);
    assert_eq!(
        unread_boxes(vec![alice, bob, carol]).await,
        [(alice, box_a), (alice, box_b), (bob, box_a), (carol, box_a)]
    );
    // At most as many per identity as asked for.
    let mut one_each = store.unread_boxes(&[alice, bob], 1).await.unwrap();
    one_each.sort();
    assert!(
        one_each == [(alice, box_a), (bob, box_a)] || one_each == [(alice, box_b), (bob, box_a)],
        "{one_each:?}"
    );

    // Bob joins B: nothing unread before him; then an event counts, and once he leaves he has
    // no count; joining again starts at zero. A set that adds him before an event counts it.
    commit(vec![join(box_b, bob)]).await;
    assert_eq!(counts().await, [3, 2, 1, 0, 2, 0]);
    commit(vec![event(box_b, carol)]).await;
    assert_eq!(counts().await, [3, 3, 1, 1, 2, 0]);
    commit(vec![leave(box_b, bob), event(box_b, carol)]).await;
    assert_eq!(counts().await, [3, 4, 1, 0, 2, 0]);
    assert_eq!(unread_boxes(vec![bob]).await, [(bob, box_a)]);
    commit(vec![
        join(box_b, bob),
        event(box_b, carol),
        event(box_b, bob),
    ])
    .await;
    assert_eq!(counts().await, [3, 6, 1, 1, 2, 1]);
}

fn positions(updates: &[SequencedUpdate]) -> Vec<(Uuid, u64)> {
    updates.iter().map(|u| (u.recipient, u.seq)).collect()
}

/// A contact's updates get consecutive positions per recipient, starting at 1, in record
/// order, and read back from the log as written.
pub async fn updates_get_consecutive_positions_per_identity<S: ContractStore + ?Sized>(store: &S) {
    let (alice, bob, carol) = (sample_id(7, 1), sample_id(7, 2), sample_id(7, 3));
    assert_eq!(
        store.log_positions(alice).await.unwrap(),
        LogPositions {
            oldest: 1,
            latest: 0
        }
    );
    assert_eq!(store.latest_position(alice).await.unwrap(), 0);
    let first = sample_contact_between(1, "b25l", alice, bob);
    let sequenced = store.save_contact(&first).await.unwrap();
    assert_eq!(
        positions(&sequenced),
        vec![(alice, 1), (alice, 2), (bob, 1)]
    );
    let updates: Vec<_> = first.updates.iter().map(|u| u.update.clone()).collect();
    assert_eq!(
        sequenced
            .iter()
            .map(|u| u.update.clone())
            .collect::<Vec<_>>(),
        updates
    );

    let second = store
        .save_contact(&sample_contact_between(2, "dHdv", carol, alice))
        .await
        .unwrap();
    assert_eq!(positions(&second), vec![(carol, 1), (carol, 2), (alice, 3)]);
    let log = store.updates_after(alice, 0, 100).await.unwrap();
    assert_eq!(positions(&log), vec![(alice, 1), (alice, 2), (alice, 3)]);
    assert_eq!(log[..2], sequenced[..2]);
    assert_eq!(
        positions(&store.updates_after(alice, 1, 1).await.unwrap()),
        vec![(alice, 2)]
    );
    assert_eq!(store.updates_after(alice, 3, 100).await.unwrap(), vec![]);
    assert_eq!(
        store.log_positions(alice).await.unwrap(),
        LogPositions {
            oldest: 1,
            latest: 3
        }
    );
    assert_eq!(store.latest_position(alice).await.unwrap(), 3);
    assert_eq!(store.latest_position(carol).await.unwrap(), 2);
}

/// A contact that fails takes no position.
pub async fn a_failed_contact_takes_no_position<S: ContractStore + ?Sized>(store: &S) {
    store
        .save_contact(&sample_contact(1, "c2FtZQ"))
        .await
        .unwrap();
    let before = store.log_positions(sample_creator(1)).await.unwrap();
    let mut again = sample_contact(2, "c2FtZQ");
    again.updates[0].recipient = sample_creator(1);
    assert!(matches!(
        store.save_contact(&again).await,
        Err(StoreError::KeyShareConflict)
    ));
    assert_eq!(
        store.log_positions(sample_creator(1)).await.unwrap(),
        before
    );
    assert_eq!(
        store.log_positions(sample_creator(2)).await.unwrap(),
        LogPositions {
            oldest: 1,
            latest: 0
        }
    );
}

/// Concurrent contacts reaching one identity (in both directions) never share a position and
/// leave none out.
pub async fn concurrent_contacts_get_distinct_positions<S: ContractStore + ?Sized>(store: &S) {
    let (alice, bob) = (sample_id(8, 1), sample_id(8, 2));
    let records: Vec<ContactRecord> = (1..=20)
        .map(|n| {
            let hash = format!("Y29uY3VycmVudA{n}");
            if n % 2 == 0 {
                sample_contact_between(n, &hash, alice, bob)
            } else {
                sample_contact_between(n, &hash, bob, alice)
            }
        })
        .collect();
    let results = futures::future::join_all(records.iter().map(|r| store.save_contact(r))).await;
    for result in results {
        result.unwrap();
    }
    // Alice: 2 per contact she makes, 1 per contact she receives: 10 * 2 + 10 = 30.
    for identity in [alice, bob] {
        let log = store.updates_after(identity, 0, 1000).await.unwrap();
        assert_eq!(
            log.iter().map(|u| u.seq).collect::<Vec<_>>(),
            (1..=30).collect::<Vec<_>>()
        );
    }
}

/// The relay reads every identity's log by creation time, both bounds included, ordered by time, recipient and position, in pages that go on after a cursor.
pub async fn the_relay_reads_the_logs_by_creation_time<S: ContractStore + ?Sized>(store: &S) {
    let records: Vec<ContactRecord> = (1..=3)
        .map(|n| sample_contact(n, &format!("d2luZG93{n}")))
        .collect();
    let mut saved = Vec::new();
    // Saved out of time order: the order read back is by time, not by insertion.
    for record in [&records[1], &records[2], &records[0]] {
        let updates = store.save_contact(record).await.unwrap();
        saved.extend(updates.into_iter().map(|update| LoggedUpdate {
            created_at: record.created_at,
            update,
        }));
    }
    saved.sort_by_key(LoggedUpdate::cursor);
    let (first, second, third) = (
        records[0].created_at,
        records[1].created_at,
        records[2].created_at,
    );
    let window = store
        .updates_created_between(first, second, None, 100)
        .await
        .unwrap();
    assert_eq!(window, saved[..6].to_vec());
    let page = store
        .updates_created_between(first, second, None, 4)
        .await
        .unwrap();
    assert_eq!(page, saved[..4].to_vec());
    let rest = store
        .updates_created_between(first, second, page.last().map(LoggedUpdate::cursor), 4)
        .await
        .unwrap();
    assert_eq!(rest, saved[4..6].to_vec());
    assert_eq!(
        store
            .updates_created_between(third, third + TimeDelta::seconds(1), None, 100)
            .await
            .unwrap(),
        saved[6..].to_vec()
    );
    assert_eq!(
        store
            .updates_created_between(
                first - TimeDelta::days(1),
                first - TimeDelta::seconds(1),
                None,
                100
            )
            .await
            .unwrap(),
        vec![]
    );
}

/// A publisher's heartbeat takes over the publishers whose last beat expired, never itself,
/// and inherits their checkpoints, so a chain of deaths loses nothing; a removed publisher
/// is nobody's to take over.
pub async fn publishers_take_over_expired_ones<S: ContractStore + ?Sized>(store: &S) {
    let t = |s: i64| default_instant() + TimeDelta::seconds(s);
    let (a, b, c, d) = (
        sample_id(8, 1),
        sample_id(8, 2),
        sample_id(8, 3),
        sample_id(8, 4),
    );
    let none: Vec<DateTime<Utc>> = Vec::new();
    let beat = |publisher, published_before, now, expired_before| PublisherHeartbeat {
        publisher,
        published_before,
        now,
        expired_before,
    };
    assert_eq!(
        store
            .publisher_heartbeat(beat(a, t(-5), t(0), t(-15)))
            .await
            .unwrap(),
        none
    );
    assert_eq!(
        store
            .publisher_heartbeat(beat(b, t(0), t(1), t(-14)))
            .await
            .unwrap(),
        none,
        "a's lease runs"
    );
    assert_eq!(
        store
            .publisher_heartbeat(beat(d, t(1), t(2), t(-13)))
            .await
            .unwrap(),
        none
    );
    store.remove_publisher(d).await.unwrap();
    // b beats late: a has expired (its own old beat does not count against itself).
    assert_eq!(
        store
            .publisher_heartbeat(beat(b, t(20), t(20), t(5)))
            .await
            .unwrap(),
        vec![t(-5)]
    );
    // b dies in turn; c inherits a's checkpoint through b.
    assert_eq!(
        store
            .publisher_heartbeat(beat(c, t(40), t(40), t(25)))
            .await
            .unwrap(),
        vec![t(-5)]
    );
    assert_eq!(
        store
            .publisher_heartbeat(beat(c, t(60), t(60), t(45)))
            .await
            .unwrap(),
        none,
        "taken over once"
    );
}

/// Pruning keeps the most recent entries per identity and those younger than the age limit;
/// positions go on from where they were.
pub async fn pruning_keeps_recent_entries_and_positions<S: ContractStore + ?Sized>(store: &S) {
    let (alice, bob) = (sample_id(9, 1), sample_id(9, 2));
    for n in 1..=5 {
        store
            .save_contact(&sample_contact_between(
                n,
                &format!("cHJ1bmU{n}"),
                alice,
                bob,
            ))
            .await
            .unwrap();
    }
    // Alice: 10 entries over 5 seconds; Bob: 5.
    let now = default_instant() + TimeDelta::seconds(5);
    let keep_four = Retention {
        max_per_identity: 4,
        max_age: TimeDelta::days(1),
    };
    assert_eq!(store.prune_updates(keep_four, now).await.unwrap(), 6 + 1);
    assert_eq!(
        store.log_positions(alice).await.unwrap(),
        LogPositions {
            oldest: 7,
            latest: 10
        }
    );
    assert_eq!(
        store.log_positions(bob).await.unwrap(),
        LogPositions {
            oldest: 2,
            latest: 5
        }
    );
    // Contact n happened n seconds after the start: at `now`, contacts 1 and 2 are over 2.5 s old.
    let two_and_a_half_seconds = Retention {
        max_per_identity: 100,
        max_age: TimeDelta::milliseconds(2500),
    };
    store
        .prune_updates(two_and_a_half_seconds, now)
        .await
        .unwrap();
    assert_eq!(
        store.log_positions(bob).await.unwrap(),
        LogPositions {
            oldest: 3,
            latest: 5
        }
    );
    let nothing = Retention {
        max_per_identity: 0,
        max_age: TimeDelta::days(1),
    };
    store.prune_updates(nothing, now).await.unwrap();
    assert_eq!(
        store.log_positions(alice).await.unwrap(),
        LogPositions {
            oldest: 11,
            latest: 10
        }
    );
    // The latest position alone, read on its own, survives an emptied log.
    assert_eq!(store.latest_position(alice).await.unwrap(), 10);
    let next = store
        .save_contact(&sample_contact_between(6, "cHJ1bmU6", alice, bob))
        .await
        .unwrap();
    assert_eq!(positions(&next), vec![(alice, 11), (alice, 12), (bob, 6)]);
}

fn changes_at(changes: Vec<Change>) -> ChangeSet {
    ChangeSet {
        changes,
        updates: Vec::new(),
        created_at: default_instant(),
    }
}

/// An identity's notifications list newest first, page by page; acknowledging sets the time
/// once and only on the identity's own.
pub async fn notifications_list_newest_first_and_are_acknowledged_once<
    S: ContractStore + ?Sized,
>(
    store: &S,
) {
    let (creator, bob) = (sample_creator(1), sample_contacted_identity(1));
    let records: Vec<ContactRecord> = (1..=3)
        .map(|n| sample_contact_between(n, &format!("bm90aWY{n}"), creator, bob))
        .collect();
    for record in &records {
        store.save_contact(record).await.unwrap();
    }
    let ids: Vec<Uuid> = records.iter().map(|r| r.notification.id).collect();
    let listed = |offset, limit| async move {
        store
            .list_notifications(bob, offset, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(0, 50).await, vec![ids[2], ids[1], ids[0]]);
    assert_eq!(listed(1, 1).await, vec![ids[1]]);
    assert_eq!(listed(3, 50).await, Vec::<Uuid>::new());
    assert_eq!(listed(0, 0).await, Vec::<Uuid>::new());
    assert_eq!(
        store.list_notifications(creator, 0, 50).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.count_unacknowledged_notifications(bob).await.unwrap(),
        3
    );
    let stranger = sample_id(9, 9);
    assert_eq!(
        store
            .unacknowledged_notifications(bob, Some(&[ids[0], stranger]))
            .await
            .unwrap(),
        vec![ids[0]]
    );
    assert_eq!(
        store.unacknowledged_notifications(bob, None).await.unwrap(),
        ids
    );

    let at = default_instant() + TimeDelta::hours(1);
    store
        .commit(&changes_at(vec![Change::AcknowledgeNotifications {
            identity_id: bob,
            ids: vec![ids[0], stranger],
            at,
        }]))
        .await
        .unwrap();
    // Another identity cannot acknowledge Bob's, and a second acknowledgement keeps the first time.
    store
        .commit(&changes_at(vec![
            Change::AcknowledgeNotifications {
                identity_id: creator,
                ids: ids.clone(),
                at,
            },
            Change::AcknowledgeNotifications {
                identity_id: bob,
                ids: vec![ids[0]],
                at: at + TimeDelta::hours(1),
            },
        ]))
        .await
        .unwrap();
    assert_eq!(
        store.count_unacknowledged_notifications(bob).await.unwrap(),
        2
    );
    assert_eq!(
        store.unacknowledged_notifications(bob, None).await.unwrap(),
        vec![ids[1], ids[2]]
    );
    let mut expected = records[0].notification.clone();
    expected.acknowledged_at = Some(at);
    assert_eq!(
        store.list_notifications(bob, 2, 1).await.unwrap(),
        vec![expected]
    );
}

/// Consuming an invitation deletes it and marks its notification used, all or nothing; a
/// second time, or by another account, is `NotFound` and changes nothing.
pub async fn consuming_an_invitation_deletes_it_and_marks_its_notification<
    S: ContractStore + ?Sized,
>(
    store: &S,
) {
    let (first, second) = (sample_contact(1, "aW52aXRl"), sample_contact(2, "b3RoZXI"));
    store.save_contact(&first).await.unwrap();
    store.save_contact(&second).await.unwrap();
    let account = first.crypto_action.account_id;
    let action = first.crypto_action.id;
    assert_eq!(
        store.list_crypto_actions(account).await.unwrap(),
        vec![first.crypto_action.clone()]
    );
    assert_eq!(
        store.find_crypto_action(account, action).await.unwrap(),
        Some(first.crypto_action.clone())
    );
    let other_account = second.crypto_action.account_id;
    assert_eq!(
        store
            .find_crypto_action(other_account, action)
            .await
            .unwrap(),
        None
    );

    let consume = |account_id| {
        changes_at(vec![
            Change::DeleteCryptoAction {
                account_id,
                action_id: action,
            },
            Change::MarkInvitationUsed {
                account_id,
                crypto_action_id: action,
            },
        ])
    };
    assert!(matches!(
        store.commit(&consume(other_account)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .notifications(first.notification.identity_id)
            .await
            .unwrap(),
        vec![first.notification.clone()],
        "a refused consumption marks nothing"
    );
    store.commit(&consume(account)).await.unwrap();
    assert_eq!(store.list_crypto_actions(account).await.unwrap(), vec![]);
    assert_eq!(
        store.find_crypto_action(account, action).await.unwrap(),
        None
    );
    let mut used = first.notification.clone();
    used.details["used"] = json!(true);
    assert_eq!(
        store
            .notifications(first.notification.identity_id)
            .await
            .unwrap(),
        vec![used.clone()]
    );
    assert!(matches!(
        store.commit(&consume(account)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .notifications(first.notification.identity_id)
            .await
            .unwrap(),
        vec![used]
    );
    assert_eq!(
        store.list_crypto_actions(other_account).await.unwrap(),
        vec![second.crypto_action.clone()],
        "the other invitation is untouched"
    );
    assert_eq!(
        store
            .notifications(second.notification.identity_id)
            .await
            .unwrap(),
        vec![second.notification.clone()]
    );
}

/// Members join once (a second join conflicts, even racing) and leave once; the box reads
/// follow: summary, events newest first, members in joining order, joined boxes by activity.
pub async fn members_join_once_and_boxes_read_back<S: ContractStore + ?Sized>(store: &S) {
    let (first, second) = (
        sample_contact(1, "Ym94LW9uZQ"),
        sample_contact(2, "Ym94LXR3bw"),
    );
    store.save_contact(&first).await.unwrap();
    store.save_contact(&second).await.unwrap();
    let box_id = first.key_share.box_id;
    let creator = Member {
        identity_id: sample_creator(1),
        joined_at: first.created_at,
        join_event_id: first.events[0].id,
    };
    assert_eq!(store.members(box_id).await.unwrap(), vec![creator.clone()]);
    assert_eq!(
        store.box_events_summary(box_id).await.unwrap(),
        Some((first.events[0].clone(), first.events[0].clone())),
        "state.access_mode is never the last shown event"
    );
    assert_eq!(
        store.box_events_summary(sample_id(9, 9)).await.unwrap(),
        None
    );

    let joiner = sample_contacted_identity(1);
    let at = first.created_at + TimeDelta::seconds(100);
    let join_event = Event {
        id: sample_id(1, 20),
        box_id,
        kind: EventType::MemberJoin,
        content: serde_json::Value::Null,
        sender_id: joiner,
        created_at: at,
        referrer_id: None,
    };
    let join = |event: &Event| {
        changes_at(vec![
            Change::AddMember {
                box_id: event.box_id,
                identity_id: event.sender_id,
                join_event_id: event.id,
                joined_at: event.created_at,
            },
            Change::AddEvent(event.clone()),
        ])
    };
    // Two joins of one identity racing: one wins, the other conflicts and writes nothing.
    let (one, other) = (join(&join_event), join(&join_event));
    let (a, b) = futures::join!(store.commit(&one), store.commit(&other));
    let outcomes = [a.is_ok(), b.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(StoreError::Conflict)));
    let member = Member {
        identity_id: joiner,
        joined_at: at,
        join_event_id: join_event.id,
    };
    assert_eq!(
        store.members(box_id).await.unwrap(),
        vec![creator.clone(), member]
    );
    assert_eq!(
        store.count_events(box_id).await.unwrap(),
        3,
        "one join event"
    );
    assert_eq!(
        store.events(box_id, 0, 50).await.unwrap(),
        vec![
            join_event.clone(),
            first.events[1].clone(),
            first.events[0].clone()
        ]
    );
    assert_eq!(
        store.events(box_id, 1, 1).await.unwrap(),
        vec![first.events[1].clone()]
    );
    assert_eq!(
        store.box_events_summary(box_id).await.unwrap(),
        Some((first.events[0].clone(), join_event.clone()))
    );

    // The joiner is in one box; the creator of both sees the latest activity first.
    assert_eq!(
        store.joined_boxes(joiner, 0, 50).await.unwrap(),
        vec![box_id]
    );
    assert_eq!(store.count_joined_boxes(joiner).await.unwrap(), 1);
    let other_creator = sample_creator(2);
    let other_box = second.key_share.box_id;
    let message = Event {
        id: sample_id(2, 21),
        box_id: other_box,
        kind: EventType::MsgText,
        content: json!({"encrypted": "aGk", "public_key": "a2V5"}),
        sender_id: other_creator,
        created_at: at,
        referrer_id: None,
    };
    store
        .commit(&changes_at(vec![Change::AddEvent(message)]))
        .await
        .unwrap();
    let creator_of_both = sample_creator(1);
    store
        .commit(&join(&Event {
            id: sample_id(2, 22),
            box_id: other_box,
            created_at: at + TimeDelta::seconds(1),
            sender_id: creator_of_both,
            ..join_event.clone()
        }))
        .await
        .map(drop)
        .unwrap_or_else(|error| panic!("{error:?}"));
    assert_eq!(
        store.joined_boxes(creator_of_both, 0, 50).await.unwrap(),
        vec![other_box, box_id]
    );
    assert_eq!(
        store.joined_boxes(creator_of_both, 1, 50).await.unwrap(),
        vec![box_id]
    );
    assert_eq!(store.count_joined_boxes(creator_of_both).await.unwrap(), 2);

    // Leaving once; a second time is NotFound and writes nothing.
    let leave = changes_at(vec![Change::RemoveMember {
        box_id,
        identity_id: joiner,
    }]);
    store.commit(&leave).await.unwrap();
    assert!(matches!(
        store.commit(&leave).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.members(box_id).await.unwrap(), vec![creator]);
    assert_eq!(
        store.joined_boxes(joiner, 0, 50).await.unwrap(),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        store.key_share("Ym94LW9uZQ").await.unwrap(),
        Some(first.key_share.clone())
    );
}

/// One change set reaching twelve thousand identities (a message to a very large box) commits
/// whole: every recipient gets its next position and every member but the sender one more
/// unread event.
pub async fn a_change_set_reaching_thousands_commits_whole<S: ContractStore + ?Sized>(store: &S) {
    let box_id = sample_id(1, 1);
    let recipients: Vec<Uuid> = (0..12_000u64).map(|k| sample_id(2, 100 + k)).collect();
    for members in recipients.chunks(1_000) {
        let joins = ChangeSet {
            changes: members
                .iter()
                .map(|identity_id| Change::AddMember {
                    box_id,
                    identity_id: *identity_id,
                    join_event_id: sample_id(1, 2),
                    joined_at: default_instant(),
                })
                .collect(),
            updates: Vec::new(),
            created_at: default_instant(),
        };
        store.commit(&joins).await.unwrap();
    }
    let sender = recipients[0];
    let changes = ChangeSet {
        changes: vec![Change::CountUnreadEvent {
            box_id,
            sender_id: sender,
        }],
        updates: recipients
            .iter()
            .map(|recipient| AddressedUpdate {
                recipient: *recipient,
                update: RealtimeUpdate {
                    kind: UpdateType::EventNew,
                    object: json!({"box_id": box_id}).into(),
                },
            })
            .collect(),
        created_at: default_instant(),
    };
    let sequenced = store.commit(&changes).await.unwrap();
    assert_eq!(sequenced.len(), recipients.len());
    assert!(sequenced.iter().all(|update| update.seq == 1));
    for recipient in [recipients[0], recipients[6_000], recipients[11_999]] {
        let unread = u64::from(recipient != sender);
        assert_eq!(store.unread_count(recipient, box_id).await.unwrap(), unread);
        assert_eq!(
            store.log_positions(recipient).await.unwrap(),
            LogPositions {
                oldest: 1,
                latest: 1
            }
        );
    }
}

/// An update that reaches many identities at once shares one object (an event in a box of ten
/// members): each recipient, the relay and a replay after pruning read it back whole, next to
/// updates with objects of their own.
pub async fn an_update_shared_by_many_recipients_reads_back_whole<S: ContractStore + ?Sized>(
    store: &S,
) {
    let recipients: Vec<Uuid> = (1..=10).map(|k| sample_id(11, k)).collect();
    let set = |seconds: i64, text: &str| {
        let shared: std::sync::Arc<serde_json::Value> = json!({
            "text": text,
            "sender": {"display_name": "Alice", "avatar_url": null},
            "n": [1, 2]
        })
        .into();
        let mut updates: Vec<AddressedUpdate> = recipients
            .iter()
            .map(|recipient| AddressedUpdate {
                recipient: *recipient,
                update: RealtimeUpdate {
                    kind: UpdateType::EventNew,
                    object: shared.clone(),
                },
            })
            .collect();
        // The first recipient also gets an update of its own, after the shared ones.
        updates.push(AddressedUpdate {
            recipient: recipients[0],
            update: RealtimeUpdate {
                kind: UpdateType::Notification,
                object: json!({"own": text}).into(),
            },
        });
        ChangeSet {
            changes: Vec::new(),
            updates,
            created_at: default_instant() + TimeDelta::seconds(seconds),
        }
    };
    // The positions a set brings when the first recipient is at `first` and the others at
    // `others`: the shared update to each, then the first recipient's own.
    let sequenced = |set: &ChangeSet, first: u64, others: u64| -> Vec<SequencedUpdate> {
        set.updates
            .iter()
            .enumerate()
            .map(|(index, addressed)| SequencedUpdate {
                recipient: addressed.recipient,
                seq: match index {
                    0 => first + 1,
                    _ if index == recipients.len() => first + 2,
                    _ => others + 1,
                },
                update: addressed.update.clone(),
            })
            .collect()
    };
    let (first, second) = (set(0, "first"), set(10, "second"));
    let mut all = store.commit(&first).await.unwrap();
    assert_eq!(all, sequenced(&first, 0, 0));
    let written = store.commit(&second).await.unwrap();
    assert_eq!(written, sequenced(&second, 2, 1));
    all.extend(written);
    let of = |recipient: Uuid| -> Vec<SequencedUpdate> {
        all.iter()
            .filter(|update| update.recipient == recipient)
            .cloned()
            .collect()
    };
    for recipient in &recipients {
        assert_eq!(
            store.updates_after(*recipient, 0, 10).await.unwrap(),
            of(*recipient)
        );
    }
    let relayed = store
        .updates_created_between(first.created_at, second.created_at, None, 100)
        .await
        .unwrap();
    let mut by_creation: Vec<LoggedUpdate> = all
        .iter()
        .enumerate()
        .map(|(index, update)| LoggedUpdate {
            created_at: if index < first.updates.len() {
                first.created_at
            } else {
                second.created_at
            },
            update: update.clone(),
        })
        .collect();
    by_creation.sort_by_key(|logged| {
        (
            logged.created_at,
            logged.update.recipient,
            logged.update.seq,
        )
    });
    assert_eq!(relayed, by_creation);

    // One entry per identity kept: the first recipient keeps its own update only, the others
    // the second shared one.
    let keep_one = Retention {
        max_per_identity: 1,
        max_age: TimeDelta::days(1),
    };
    store
        .prune_updates(keep_one, second.created_at)
        .await
        .unwrap();
    for recipient in &recipients {
        let kept: Vec<SequencedUpdate> = of(*recipient).into_iter().last().into_iter().collect();
        assert_eq!(store.updates_after(*recipient, 0, 10).await.unwrap(), kept);
    }
    // Past the age limit, the second set goes with its shared object.
    let five_seconds = Retention {
        max_per_identity: 100,
        max_age: TimeDelta::seconds(5),
    };
    store
        .prune_updates(five_seconds, second.created_at + TimeDelta::seconds(6))
        .await
        .unwrap();
    for recipient in &recipients {
        assert_eq!(
            store.updates_after(*recipient, 0, 10).await.unwrap(),
            vec![]
        );
    }
    // Positions go on, and a new shared update reads back whole.
    let third = set(20, "third");
    let written = store.commit(&third).await.unwrap();
    assert_eq!(written, sequenced(&third, 4, 2));
    assert_eq!(
        store.updates_after(recipients[1], 0, 10).await.unwrap(),
        vec![written[1].clone()]
    );
}

/// Pruning a log larger than one step of the store's pruning (sea-orm deletes at most 1,000
/// entries per transaction and reads 256 identities at a time) removes every entry due, and
/// only those.
pub async fn pruning_a_large_log_removes_every_entry_due<S: ContractStore + ?Sized>(store: &S) {
    let identities: Vec<Uuid> = (1..=600).map(|k| sample_id(12, k)).collect();
    // Two updates to every identity, in one change set created `seconds` after the start.
    let set = |seconds: i64| ChangeSet {
        changes: Vec::new(),
        updates: identities
            .iter()
            .flat_map(|identity| {
                (0..2).map(move |n| AddressedUpdate {
                    recipient: *identity,
                    update: RealtimeUpdate {
                        kind: UpdateType::Notification,
                        object: json!({"at": seconds, "n": n}).into(),
                    },
                })
            })
            .collect(),
        created_at: default_instant() + TimeDelta::seconds(seconds),
    };
    // And one identity with 1,201 entries, all recent.
    let heavy = sample_id(12, 1000);
    let heavy_set = ChangeSet {
        changes: Vec::new(),
        updates: (0..1_201)
            .map(|n| AddressedUpdate {
                recipient: heavy,
                update: RealtimeUpdate {
                    kind: UpdateType::Notification,
                    object: json!({"heavy": n}).into(),
                },
            })
            .collect(),
        created_at: default_instant() + TimeDelta::seconds(10),
    };
    store.commit(&set(0)).await.unwrap();
    let recent = store.commit(&set(10)).await.unwrap();
    let heavy_last = store.commit(&heavy_set).await.unwrap().pop().unwrap();
    let now = default_instant() + TimeDelta::seconds(10);

    // By age: the 1,200 entries of the first set, past one step.
    let five_seconds = Retention {
        max_per_identity: 10_000,
        max_age: TimeDelta::seconds(5),
    };
    assert_eq!(store.prune_updates(five_seconds, now).await.unwrap(), 1_200);
    for identity in &identities {
        assert_eq!(
            store.log_positions(*identity).await.unwrap(),
            LogPositions {
                oldest: 3,
                latest: 4
            }
        );
    }

    // By count: one entry of each of 600 identities (past two steps of identities) and 1,200
    // of the heavy one (past one step of entries).
    let keep_one = Retention {
        max_per_identity: 1,
        max_age: TimeDelta::days(1),
    };
    assert_eq!(
        store.prune_updates(keep_one, now).await.unwrap(),
        600 + 1_200
    );
    assert_eq!(
        store.updates_after(heavy, 0, 10).await.unwrap(),
        vec![heavy_last]
    );
    for identity in &identities {
        let kept: Vec<SequencedUpdate> = recent
            .iter()
            .filter(|update| update.recipient == *identity)
            .skip(1)
            .cloned()
            .collect();
        assert_eq!(store.updates_after(*identity, 0, 10).await.unwrap(), kept);
    }
    assert_eq!(store.prune_updates(keep_one, now).await.unwrap(), 0);
}

/// Updates reaching changing sets of recipients (members joining and leaving boxes, an
/// identity in two boxes, updates of its own between them) read back as written: every
/// replay from every position with several page sizes, the relay in small pages whose
/// cursors fall inside an update to many, and the logs after pruning by count, then by age,
/// with the count of entries each pruning removed.
pub async fn updates_to_changing_recipients_read_back_through_every_path<
    S: ContractStore + ?Sized,
>(
    store: &S,
) {
    let id = |k: u64| sample_id(13, k);
    let first_box: Vec<Uuid> = (1..=9).map(id).collect();
    let with_newcomer: Vec<Uuid> = (1..=10).map(id).collect();
    let second_box: Vec<Uuid> = (1..=8).chain([11]).map(id).collect();
    // (seconds after the start, recipients of one shared update, an update of its own to
    // identity 1 after it)
    let plan: Vec<(i64, &Vec<Uuid>, bool)> = vec![
        (0, &first_box, true),
        (1, &first_box, false),
        (2, &with_newcomer, false),
        (3, &second_box, true),
        (4, &with_newcomer, false),
        (5, &first_box, false),
        (6, &second_box, false),
        (7, &first_box, true),
    ];
    let mut all: Vec<LoggedUpdate> = Vec::new();
    for (seconds, recipients, own) in &plan {
        let shared: std::sync::Arc<serde_json::Value> =
            json!({"at": seconds, "to": recipients.len()}).into();
        let mut updates: Vec<AddressedUpdate> = recipients
            .iter()
            .map(|recipient| AddressedUpdate {
                recipient: *recipient,
                update: RealtimeUpdate {
                    kind: UpdateType::EventNew,
                    object: shared.clone(),
                },
            })
            .collect();
        if *own {
            updates.push(AddressedUpdate {
                recipient: id(1),
                update: RealtimeUpdate {
                    kind: UpdateType::Notification,
                    object: json!({"own": seconds}).into(),
                },
            });
        }
        let created_at = default_instant() + TimeDelta::seconds(*seconds);
        let written = store
            .commit(&ChangeSet {
                changes: Vec::new(),
                updates,
                created_at,
            })
            .await
            .unwrap();
        all.extend(
            written
                .into_iter()
                .map(|update| LoggedUpdate { created_at, update }),
        );
    }
    let everyone: Vec<Uuid> = (1..=11).map(id).collect();
    let of = |all: &[LoggedUpdate], identity: Uuid| -> Vec<SequencedUpdate> {
        all.iter()
            .filter(|logged| logged.update.recipient == identity)
            .map(|logged| logged.update.clone())
            .collect()
    };
    // Positions are consecutive per identity, whatever group each update went to.
    for identity in &everyone {
        let mine = of(&all, *identity);
        assert_eq!(
            mine.iter().map(|update| update.seq).collect::<Vec<_>>(),
            (1..=mine.len() as u64).collect::<Vec<_>>(),
            "{identity}"
        );
    }
    // Every replay: from every position, in pages of 1, 3 and more than the whole log.
    let check_replays = |kept: Vec<(Uuid, Vec<SequencedUpdate>)>| async move {
        for (identity, mine) in kept {
            let latest = store.log_positions(identity).await.unwrap().latest;
            for after in 0..=latest {
                for limit in [1, 3, 100] {
                    let expected: Vec<SequencedUpdate> = mine
                        .iter()
                        .filter(|update| update.seq > after)
                        .take(limit)
                        .cloned()
                        .collect();
                    assert_eq!(
                        store.updates_after(identity, after, limit).await.unwrap(),
                        expected,
                        "{identity} after {after}, {limit} at most"
                    );
                }
            }
        }
    };
    check_replays(everyone.iter().map(|i| (*i, of(&all, *i))).collect()).await;
    for identity in &everyone {
        let count = of(&all, *identity).len() as u64;
        assert_eq!(
            store.log_positions(*identity).await.unwrap(),
            LogPositions {
                oldest: 1,
                latest: count
            }
        );
    }
    // The relay: everything, and the same in pages of 7 (cursors inside updates to nine).
    let mut by_creation = all.clone();
    by_creation.sort_by_key(LoggedUpdate::cursor);
    let (start, end) = (default_instant(), default_instant() + TimeDelta::seconds(7));
    assert_eq!(
        store
            .updates_created_between(start, end, None, 1_000)
            .await
            .unwrap(),
        by_creation
    );
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .updates_created_between(start, end, cursor, 7)
            .await
            .unwrap();
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor());
        paged.extend(page);
    }
    assert_eq!(paged, by_creation);
    // Pruning by count keeps each identity's last three.
    let keep_three = Retention {
        max_per_identity: 3,
        max_age: TimeDelta::days(1),
    };
    let now = end;
    let expected_removed: u64 = everyone
        .iter()
        .map(|identity| (of(&all, *identity).len() as u64).saturating_sub(3))
        .sum();
    assert_eq!(
        store.prune_updates(keep_three, now).await.unwrap(),
        expected_removed
    );
    let last_three = |identity: Uuid| -> Vec<SequencedUpdate> {
        let mine = of(&all, identity);
        mine[mine.len().saturating_sub(3)..].to_vec()
    };
    check_replays(everyone.iter().map(|i| (*i, last_three(*i))).collect()).await;
    for identity in &everyone {
        let kept = last_three(*identity);
        let latest = of(&all, *identity).len() as u64;
        assert_eq!(
            store.log_positions(*identity).await.unwrap(),
            LogPositions {
                oldest: kept.first().map_or(latest + 1, |update| update.seq),
                latest
            },
            "{identity}"
        );
    }
    assert_eq!(store.prune_updates(keep_three, now).await.unwrap(), 0);
    // Then by age: what is older than 5.5 s at `now` goes.
    let cut = now - TimeDelta::milliseconds(5_500);
    let younger = |identity: Uuid| -> Vec<SequencedUpdate> {
        let recent: Vec<SequencedUpdate> = all
            .iter()
            .filter(|logged| logged.update.recipient == identity && logged.created_at >= cut)
            .map(|logged| logged.update.clone())
            .collect();
        last_three(identity)
            .into_iter()
            .filter(|update| recent.contains(update))
            .collect()
    };
    let expected_removed: u64 = everyone
        .iter()
        .map(|identity| (last_three(*identity).len() - younger(*identity).len()) as u64)
        .sum();
    let five_and_a_half = Retention {
        max_per_identity: 3,
        max_age: TimeDelta::milliseconds(5_500),
    };
    assert_eq!(
        store.prune_updates(five_and_a_half, now).await.unwrap(),
        expected_removed
    );
    check_replays(everyone.iter().map(|i| (*i, younger(*i))).collect()).await;
    for identity in &everyone {
        let latest = of(&all, *identity).len() as u64;
        assert_eq!(
            store.log_positions(*identity).await.unwrap(),
            LogPositions {
                oldest: younger(*identity).first().map_or(latest + 1, |u| u.seq),
                latest
            },
            "{identity}"
        );
    }
    // A group seen before takes a new update at the positions that follow each member's.
    let again = store
        .commit(&ChangeSet {
            changes: Vec::new(),
            updates: with_newcomer
                .iter()
                .map(|recipient| AddressedUpdate {
                    recipient: *recipient,
                    update: RealtimeUpdate {
                        kind: UpdateType::EventNew,
                        object: json!({"again": true}).into(),
                    },
                })
                .collect(),
            created_at: now,
        })
        .await
        .unwrap();
    for update in &again {
        assert_eq!(
            update.seq,
            of(&all, update.recipient).len() as u64 + 1,
            "{}",
            update.recipient
        );
        let mut expected = younger(update.recipient);
        expected.push(update.clone());
        assert_eq!(
            store.updates_after(update.recipient, 0, 100).await.unwrap(),
            expected
        );
    }
}

/// Expands to one `#[tokio::test]` per check of the box store contract.
///
/// The argument is an expression of a future that yields `Option<S>`, where `S` dereferences
/// to a fresh, empty [`ContractStore`] (a `Box`, an `Arc`, or a guard such as
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
            unread_counts_grow_for_members_and_reset,
            updates_get_consecutive_positions_per_identity,
            a_failed_contact_takes_no_position,
            concurrent_contacts_get_distinct_positions,
            the_relay_reads_the_logs_by_creation_time,
            publishers_take_over_expired_ones,
            pruning_keeps_recent_entries_and_positions,
            notifications_list_newest_first_and_are_acknowledged_once,
            consuming_an_invitation_deletes_it_and_marks_its_notification,
            members_join_once_and_boxes_read_back,
            a_change_set_reaching_thousands_commits_whole,
            an_update_shared_by_many_recipients_reads_back_whole,
            pruning_a_large_log_removes_every_entry_due,
            updates_to_changing_recipients_read_back_through_every_path,
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
