//! # misakey-box
//!
//! The framework-agnostic core of an end-to-end-encrypted messaging backend ("boxes"): the
//! contact use case and realtime notifications, for any Rust server.
//!
//! The server never sees plaintext: keys, shares and crypto actions are opaque base64 strings
//! that it checks for shape and stores.
//!
//! ## Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`domain`] | identities, boxes, events, key shares, crypto actions, notifications, realtime updates, with their JSON shapes |
//! | [`validation`] | the contact request rules and the pluggable [`validation::KeySharePolicy`] |
//! | [`error`] | [`Error`]: code, origin, description and field details, ready for the wire |
//! | [`ports`] | the traits adapters implement: tokens, identities, box store, notification bus, clock, ids |
//! | [`use_cases`] | authorisation, contact and socket sessions, as methods of [`BoxService`] |
//! | [`outbox`] | getting committed updates to sockets: publishing, relay, pruning, and the [`Running`] handle of a started service |
//! | [`http`] | every route of the protocol over the `http` crate's types: what each frontend calls |
//! | [`socket`] | the life of one realtime socket, over any WebSocket library |
//! | [`bus`] | [`bus::InProcessBus`], the notification bus of a single instance |
//!
//! A server starts the service with [`BoxService::start`] and serves [`http::HttpApi`] through
//! a frontend (the `misakey-box-poem` crate, or a hundred lines of your own on axum, actix...:
//! the [`http`] module documentation is the guide). Realtime updates are published by the use
//! cases only after the store has committed.
//!
//! The `misakey-box-testkit` crate has in-memory adapters for every port; they run the example
//! below.
//!
//! ## The contact use case, end to end
//!
//! ```
//! use futures::StreamExt as _;
//! use misakey_box_testkit::StoreReadBack as _;
//! use misakey_box_testkit::{SequentialIds, TestBed};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let bed = TestBed::new();
//! // Bob keeps a socket open: subscribe to his updates.
//! let mut bob_updates = bed.service.ports().bus.subscribe(bed.bob.id).await.unwrap();
//!
//! // Alice contacts Bob.
//! let alice = bed.alice_caller().await;
//! let body = bed.request_to_bob().title("Alice & Bob").build();
//! let created = bed.service.contact(&alice, &body).await.unwrap();
//! assert_eq!(created.title, "Alice & Bob");
//! assert_eq!(created.creator, bed.alice.view());
//!
//! // Bob is notified of his invitation, after the store committed it.
//! let notification = bob_updates.next().await.unwrap().unwrap().to_json();
//! assert_eq!(
//!     notification,
//!     json!({
//!         "seq": 1,
//!         "type": "notification",
//!         "object": {
//!             "id": SequentialIds::nth(5),
//!             "type": "box.auto_invite",
//!             "details": {
//!                 "box_id": created.id,
//!                 "box_title": "Alice & Bob",
//!                 "owner_org_id": bed.service.config().owner_org_id,
//!                 "cryptoaction_id": SequentialIds::nth(4),
//!             },
//!             "created_at": "2020-06-12T13:38:32.142857Z",
//!             "acknowledged_at": null,
//!         }
//!     })
//! );
//! assert_eq!(bed.store.notifications(bed.bob.id).await.unwrap().len(), 1);
//! # }
//! ```

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod bus;
pub mod domain;
pub mod error;
pub mod fixtures;
pub mod http;
#[cfg(feature = "introspection")]
pub mod introspection;
pub mod metrics;
pub mod outbox;
pub mod ports;
mod service;
pub mod socket;
#[cfg(feature = "sea-orm")]
pub mod storage;
pub mod use_cases;
pub mod validation;

pub use error::{Detail, Error, ErrorCode, Origin};
pub use outbox::{Maintenance, Running};
pub use service::{BoxService, Config, DEFAULT_REQUIRED_ACR, HEALTH_CHECK_DEADLINE, Ports};
pub use use_cases::{
    Caller, Credentials, InboundOutcome, Replay, SocketSession, SocketSubscription, TokenCheck,
};
