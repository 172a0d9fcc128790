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
//! - [`contract`]: the behaviour every store must have, as [`store_contract_tests!`];
//! - [`StoreReadBack`]: the rows a store wrote, read back for assertions.
//!
//! ## Example
//!
//! ```
//! use misakey_box_testkit::TestBed;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let bed = TestBed::new();
//! let alice = bed.alice_caller().await;
//! let body = bed.request_to_bob().remove("box.title").build();
//! let error = bed.service.contact(&alice, &body).await.unwrap_err();
//! assert_eq!(error.details()["box.title"], "required");
//! assert!(bed.bus.published().is_empty());
//! # }
//! ```

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod builders;
mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod contract;
#[cfg(feature = "sea-orm")]
pub mod database;
mod identities;
mod read_back;
mod recording_bus;
pub mod services;
mod store;
mod test_bed;
mod tokens;

pub use clock::{FixedClock, SequentialIds, default_instant};
pub use identities::InMemoryIdentityDirectory;
pub use read_back::StoreReadBack;
pub use recording_bus::RecordingBus;
pub use store::InMemoryBoxStore;
pub use test_bed::{ALICE_TOKEN, BOB_TOKEN, TEST_OWNER_ORG_ID, TestBed};
pub use tokens::StaticTokens;

// Re-exported so that users of the contract macro and doc examples need not name them.
pub use misakey_box;
