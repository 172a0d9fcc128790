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
//! | [`bus`] | [`bus::InProcessBus`], the notification bus of a single instance |
//!
//! A frontend (the `misakey-box-poem` crate, or your own on axum, actix...) extracts cookies,
//! path and body, calls [`BoxService::authorize`] then the use case, and maps [`Error`] to a
//! status with [`ErrorCode`] and to a body with [`Error::body`]. Realtime updates are published
//! by the use cases only after the store has committed.
//!
//! The `misakey-box-testkit` crate has in-memory adapters for every port and an end-to-end
//! example of the contact use case in its crate documentation.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod bus;
pub mod domain;
pub mod error;
pub mod ports;
mod service;
pub mod use_cases;
pub mod validation;

pub use error::{Detail, Error, ErrorCode, Origin};
pub use service::{BoxService, Config, DEFAULT_REQUIRED_ACR, Ports};
pub use use_cases::{Caller, Credentials, InboundOutcome, SocketSession};
