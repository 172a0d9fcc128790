use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An identity as the identity directory knows it: profile, account and public keys.
///
/// Its JSON form is the `identities` entry of the fixtures file (`docs/protocol.md`, "Fixtures
/// file").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// Identity id.
    pub id: Uuid,
    /// Name shown to other users.
    pub display_name: String,
    /// Avatar address, if any.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// The identifier the identity signs in with (an email address...).
    pub identifier_value: String,
    /// The kind of identifier (`email`...).
    pub identifier_kind: String,
    /// The account the identity belongs to; an identity without account cannot be contacted.
    #[serde(default)]
    pub account_id: Option<Uuid>,
    /// Identified public key.
    #[serde(default)]
    pub pubkey: Option<String>,
    /// Non-identified public key: the key invitations are encrypted for.
    #[serde(default)]
    pub non_identified_pubkey: Option<String>,
    /// AES-RSA variant of [`Identity::pubkey`].
    #[serde(default)]
    pub pubkey_aes_rsa: Option<String>,
    /// AES-RSA variant of [`Identity::non_identified_pubkey`].
    #[serde(default)]
    pub non_identified_pubkey_aes_rsa: Option<String>,
}

impl Identity {
    /// The public profile shown as a box creator or an event sender.
    pub fn view(&self) -> IdentityView {
        IdentityView {
            id: self.id,
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
            identifier_value: self.identifier_value.clone(),
            identifier_kind: self.identifier_kind.clone(),
        }
    }

    /// Whether the identity has any key an invitation can be encrypted for.
    pub fn has_invitation_key(&self) -> bool {
        self.non_identified_pubkey.is_some() || self.non_identified_pubkey_aes_rsa.is_some()
    }

    /// Whether `public_key` is one of the identity's non-identified public keys.
    pub fn is_invitation_key(&self, public_key: &str) -> bool {
        [
            &self.non_identified_pubkey,
            &self.non_identified_pubkey_aes_rsa,
        ]
        .into_iter()
        .any(|key| key.as_deref() == Some(public_key))
    }
}

/// Public profile of an identity: `creator` of a box, `sender` of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct IdentityView {
    /// Identity id.
    pub id: Uuid,
    /// Name shown to other users.
    pub display_name: String,
    /// Avatar address, if any.
    pub avatar_url: Option<String>,
    /// Identifier value.
    pub identifier_value: String,
    /// Identifier kind.
    pub identifier_kind: String,
}

/// New public keys for an identity (`PATCH /identities/{id}`): for each key, `None` leaves it
/// as it is, `Some(None)` clears it, `Some(Some(key))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeysUpdate {
    /// [`Identity::pubkey`].
    pub pubkey: Option<Option<String>>,
    /// [`Identity::non_identified_pubkey`].
    pub non_identified_pubkey: Option<Option<String>>,
    /// [`Identity::pubkey_aes_rsa`].
    pub pubkey_aes_rsa: Option<Option<String>>,
    /// [`Identity::non_identified_pubkey_aes_rsa`].
    pub non_identified_pubkey_aes_rsa: Option<Option<String>>,
}

impl PublicKeysUpdate {
    /// Applies the update to `identity`.
    pub fn apply_to(&self, identity: &mut Identity) {
        let apply = |key: &mut Option<String>, update: &Option<Option<String>>| {
            if let Some(value) = update {
                key.clone_from(value);
            }
        };
        apply(&mut identity.pubkey, &self.pubkey);
        apply(
            &mut identity.non_identified_pubkey,
            &self.non_identified_pubkey,
        );
        apply(&mut identity.pubkey_aes_rsa, &self.pubkey_aes_rsa);
        apply(
            &mut identity.non_identified_pubkey_aes_rsa,
            &self.non_identified_pubkey_aes_rsa,
        );
    }
}

/// The public profile of an identity, as anyone authenticated may read it: what a client needs
/// to contact it. The identifier (e-mail...) is not in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ProfileView {
    /// Identity id.
    pub id: Uuid,
    /// Name shown to other users.
    pub display_name: String,
    /// Avatar address, if any.
    pub avatar_url: Option<String>,
    /// The key invitations to it are encrypted for.
    pub non_identified_pubkey: Option<String>,
    /// Its AES-RSA variant.
    pub non_identified_pubkey_aes_rsa: Option<String>,
    /// Whether a contact to it can succeed: it has an account and a key for invitations.
    pub contactable: bool,
}

impl Identity {
    /// The public profile.
    pub fn profile(&self) -> ProfileView {
        ProfileView {
            id: self.id,
            display_name: self.display_name.clone(),
            avatar_url: self.avatar_url.clone(),
            non_identified_pubkey: self.non_identified_pubkey.clone(),
            non_identified_pubkey_aes_rsa: self.non_identified_pubkey_aes_rsa.clone(),
            contactable: self.account_id.is_some() && self.has_invitation_key(),
        }
    }
}

/// What an authorization server says of the identity a token names: enough to create it in
/// the directory the first time it signs in, and to refresh its profile later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInProfile {
    /// Identity id.
    pub id: Uuid,
    /// Its account, when the server names one (`None` leaves a stored account as it is).
    pub account_id: Option<Uuid>,
    /// Name shown to other users.
    pub display_name: String,
    /// The identifier it signs in with (an email address...).
    pub identifier_value: String,
    /// The kind of identifier (`email`...).
    pub identifier_kind: String,
}
