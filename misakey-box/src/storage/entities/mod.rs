//! sea-orm entities of the tables written by the migrations. Public so that embedders can
//! query the same tables; the row types are plain columns, the domain types live in
//! [`crate::domain`].

#![allow(missing_docs)] // One field per column, named as the column.

pub mod access_token;
pub mod box_event;
pub mod box_key_share;
pub mod box_member;
pub mod box_unread_total;
pub mod crypto_action;
pub mod group_update;
pub mod identity;
pub mod identity_notification;
pub mod identity_position;
pub mod identity_update;
pub mod outbox_publisher;
pub mod shared_update_object;
pub mod update_group;
pub mod update_group_member;
