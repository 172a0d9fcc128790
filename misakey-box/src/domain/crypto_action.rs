use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The kind of a crypto action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum CryptoActionType {
    /// The recipient is invited into a box; `encrypted` holds what it needs to join.
    #[serde(rename = "invitation")]
    Invitation,
}

impl CryptoActionType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "invitation" => Some(Self::Invitation),
            _ => None,
        }
    }
}

/// Encrypted data addressed to an account, that its client decrypts and acts upon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CryptoAction {
    /// Crypto action id.
    pub id: Uuid,
    /// The account it is addressed to.
    pub account_id: Uuid,
    /// The identity that produced it.
    pub sender_identity_id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: CryptoActionType,
    /// The box it concerns.
    pub box_id: Uuid,
    /// The public key `encrypted` was encrypted for.
    pub encryption_public_key: String,
    /// The encrypted payload, opaque to the server.
    pub encrypted: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl CryptoAction {
    /// What its account is shown.
    pub fn view(&self) -> CryptoActionView {
        CryptoActionView {
            id: self.id,
            kind: self.kind,
            box_id: self.box_id,
            encryption_public_key: self.encryption_public_key.clone(),
            encrypted: self.encrypted.clone(),
            created_at: self.created_at,
        }
    }
}

/// The JSON shape of a crypto action, as its account reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CryptoActionView {
    /// Crypto action id.
    pub id: Uuid,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: CryptoActionType,
    /// The box it concerns.
    pub box_id: Uuid,
    /// The public key `encrypted` was encrypted for.
    pub encryption_public_key: String,
    /// The encrypted payload, opaque to the server.
    pub encrypted: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
