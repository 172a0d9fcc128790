//! # misakey-box-testkit
//!
//! Everything needed to test code built on `misakey-box` without a database or a broker:
//!
//! - in-memory adapters for every port: [`InMemoryBoxStore`], [`InMemoryIdentityDirectory`],
//!   [`StaticTokens`], and [`RecordingBus`] (an in-process bus that keeps what was published);
//! - determinism: [`FixedClock`] and [`SequentialIds`];
//! - [`builders`]: Alice, Bob, [`builders::IdentityBuilder`] and a
//!   [`builders::ContactRequestBuilder`] that starts valid and changes one field at a time;
//! - [`TestBed`]: the whole service wired on the above;
//! - [`contract`]: the behaviour every store must have, as [`store_contract_tests!`].
//!
//! ## The contact use case, end to end
//!
//! ```
//! use futures::StreamExt as _;
//! use misakey_box::ports::BoxStore as _;
//! use misakey_box_testkit::{TestBed, SequentialIds};
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

pub mod builders;
mod clock;
pub mod contract;
mod identities;
mod recording_bus;
mod store;
mod test_bed;
mod tokens;

pub use clock::{FixedClock, SequentialIds, default_instant};
pub use identities::InMemoryIdentityDirectory;
pub use recording_bus::RecordingBus;
pub use store::InMemoryBoxStore;
pub use test_bed::{ALICE_TOKEN, BOB_TOKEN, TEST_OWNER_ORG_ID, TestBed};
pub use tokens::StaticTokens;

// Re-exported so that users of the contract macro and doc examples need not name them.
pub use misakey_box;
