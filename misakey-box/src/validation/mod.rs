//! Validation of what clients send, returning every field failure at once.

mod base64_shape;
mod box_event;
mod contact_request;
mod key_share_policy;
mod public_keys;

pub use base64_shape::{decode_standard_or_url_safe, decode_unpadded_url_safe};
pub use box_event::{BoxEventRequest, MAX_MESSAGE_BYTES, parse_box_event};
pub(crate) use contact_request::MAX_TITLE_CHARS;
pub use contact_request::{ContactRequest, parse_uuid};
pub use key_share_policy::{
    AES_RSA_KEY_PREFIX, DefaultKeySharePolicy, KeyMaterial, KeySharePolicy, NaclKeySharePolicy,
};
pub use public_keys::parse_public_keys_update;
