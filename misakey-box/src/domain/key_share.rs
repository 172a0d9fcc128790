use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The server's half of a box key, kept so that the contacted identity can rebuild the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyShare {
    /// Hash of the other half; unique across the store.
    pub other_share_hash: String,
    /// The server's share.
    pub misakey_share: String,
    /// The invitation share, encrypted for the contacted identity.
    pub encrypted_invitation_key_share: String,
    /// The box the key belongs to.
    pub box_id: Uuid,
    /// The identity that created the share.
    pub creator_id: Uuid,
}
