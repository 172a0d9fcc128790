//! What frames sent by a client do: the `ack` rules, and everything else ignored.

use futures::{FutureExt as _, StreamExt as _};
use misakey_box::InboundOutcome;
use misakey_box::ports::BoxReads as _;
use misakey_box::ports::Subscription;
use misakey_box_testkit::TestBed;
use misakey_box_testkit::builders::{ALICE_ID, BOB_ID};
use serde_json::json;
use uuid::Uuid;

const BOX_ID: Uuid = Uuid::from_u128(0xb0c5);

fn ack(sender: Uuid, box_id: Uuid) -> String {
    json!({"type": "ack", "object": {"sender_id": sender, "box_id": box_id}}).to_string()
}

/// The next queued frame, or `None` if none is queued (the bus is in-process: a published
/// frame is queued by the time `publish` returns).
async fn next_frame(subscription: &mut Subscription) -> Option<serde_json::Value> {
    match subscription.next().now_or_never() {
        Some(Some(Ok(frame))) => Some(frame.to_json()),
        Some(other) => panic!("subscription ended: {other:?}"),
        None => None,
    }
}

#[tokio::test]
async fn an_own_ack_resets_the_count_and_reaches_every_socket_of_the_identity() {
    let bed = TestBed::new();
    let alice = bed.alice_caller().await;
    // Unread before the sockets open (an event after would reach them, through their loop).
    bed.unread_event(ALICE_ID, BOX_ID).await;
    bed.unread_event(BOB_ID, BOX_ID).await;
    let session = bed.service.socket_session(&alice);
    let (mut first, mut second) = (
        session.subscribe().await.unwrap().updates,
        session.subscribe().await.unwrap().updates,
    );
    let mut bob_socket = bed.service.ports().bus.subscribe(BOB_ID).await.unwrap();

    // Extra fields are not echoed: the ack is re-serialised.
    let text =
        json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": BOX_ID, "extra": 1}})
            .to_string();
    assert!(
        matches!(session.handle_text(&text).await, InboundOutcome::Acked { box_id } if box_id == BOX_ID)
    );

    let echo = json!({"type": "ack", "object": {"sender_id": ALICE_ID, "box_id": BOX_ID}});
    assert_eq!(next_frame(&mut first).await, Some(echo.clone()));
    assert_eq!(next_frame(&mut second).await, Some(echo));
    assert_eq!(next_frame(&mut bob_socket).await, None);
    assert_eq!(bed.store.unread_count(ALICE_ID, BOX_ID).await.unwrap(), 0);
    assert_eq!(bed.store.unread_count(BOB_ID, BOX_ID).await.unwrap(), 1);
}

#[tokio::test]
async fn a_foreign_ack_is_dropped_and_reaches_nobody() {
    let bed = TestBed::new();
    let session = bed.service.socket_session(&bed.alice_caller().await);
    let mut alice_socket = session.subscribe().await.unwrap().updates;
    let mut bob_socket = bed.service.ports().bus.subscribe(BOB_ID).await.unwrap();
    bed.unread_event(BOB_ID, BOX_ID).await;

    let outcome = session.handle_text(&ack(BOB_ID, BOX_ID)).await;
    assert!(
        matches!(outcome, InboundOutcome::ForeignAckDropped { sender_id } if sender_id == BOB_ID),
        "{outcome:?}"
    );
    assert_eq!(next_frame(&mut bob_socket).await, None);
    assert_eq!(next_frame(&mut alice_socket).await, None);
    assert_eq!(bed.store.unread_count(BOB_ID, BOX_ID).await.unwrap(), 1);
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_ignored() {
    let bed = TestBed::new();
    let session = bed.service.socket_session(&bed.alice_caller().await);
    for text in [
        "not json",
        "{}",
        r#"{"type": "subscribe", "object": {}}"#,
        r#"{"type": "ack"}"#,
        r#"{"type": "ack", "object": {"sender_id": "nope", "box_id": "nope"}}"#,
        r#"{"type": "ack", "object": {"box_id": "00000000-0000-4000-8000-000000000001"}}"#,
    ] {
        let outcome = session.handle_text(text).await;
        assert!(
            matches!(outcome, InboundOutcome::Ignored { .. }),
            "{text}: {outcome:?}"
        );
    }
    assert_eq!(bed.bus.published(), vec![]);
}

#[tokio::test]
async fn an_ack_that_cannot_be_stored_is_not_echoed() {
    let bed = TestBed::new();
    let session = bed.service.socket_session(&bed.alice_caller().await);
    bed.store.set_unavailable(true);
    let outcome = session.handle_text(&ack(ALICE_ID, BOX_ID)).await;
    match outcome {
        InboundOutcome::Failed(error) => {
            assert_eq!(error.code(), misakey_box::ErrorCode::ServiceUnavailable)
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(bed.bus.published(), vec![]);
}
