//! Builders for identities and contact requests, with ready-made Alice and Bob.

use misakey_box::domain::Identity;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// Alice's identity id.
pub const ALICE_ID: Uuid = Uuid::from_u128(0xa11ce000_0000_4000_8000_000000000001);
/// Alice's account id.
pub const ALICE_ACCOUNT_ID: Uuid = Uuid::from_u128(0xacc0a11c_e000_4000_8000_000000000001);
/// Alice's non-identified public key.
pub const ALICE_INVITATION_KEY: &str = "QWxpY2VOb25JZGVudGlmaWVkUHVibGljS2V5MzJieXQ";
/// Bob's identity id.
pub const BOB_ID: Uuid = Uuid::from_u128(0xb0b00000_0000_4000_8000_000000000002);
/// Bob's account id.
pub const BOB_ACCOUNT_ID: Uuid = Uuid::from_u128(0xacc0b0b0_0000_4000_8000_000000000002);
/// Bob's non-identified public key.
pub const BOB_INVITATION_KEY: &str = "Qm9iTm9uSWRlbnRpZmllZFB1YmxpY0tleTMyYnl0ZXM";

/// The box public key of the spec's example request.
pub const SPEC_BOX_PUBLIC_KEY: &str = "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw";
/// The `misakey_share` of the spec's example request.
pub const SPEC_MISAKEY_SHARE: &str = "lBHT1vfwFAIBig5Nj+sD+w==";
/// The `other_share_hash` of the spec's example request.
pub const SPEC_OTHER_SHARE_HASH: &str = "Nz4nJMj5DOd4UGXXOlH8Ww";
/// The `encrypted_invitation_key_share` of the spec's example request.
pub const SPEC_ENCRYPTED_INVITATION_KEY_SHARE: &str =
    "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ=";
/// An encrypted crypto action (opaque to the server).
pub const SAMPLE_ENCRYPTED_INVITATION: &str = "ZW5jcnlwdGVkIGludml0YXRpb24";

/// Alice: has an account and a non-identified public key.
pub fn alice() -> Identity {
    IdentityBuilder::new(ALICE_ID, "Alice")
        .account(ALICE_ACCOUNT_ID)
        .non_identified_pubkey(ALICE_INVITATION_KEY)
        .build()
}

/// Bob: has an account and a non-identified public key.
pub fn bob() -> Identity {
    IdentityBuilder::new(BOB_ID, "Bob")
        .account(BOB_ACCOUNT_ID)
        .non_identified_pubkey(BOB_INVITATION_KEY)
        .build()
}

/// Builds an [`Identity`]; starts without account and without keys.
#[derive(Debug, Clone)]
pub struct IdentityBuilder(Identity);

impl IdentityBuilder {
    /// An identity `display_name` whose identifier is `<lowercase name>@example.com`.
    pub fn new(id: Uuid, display_name: &str) -> Self {
        Self(Identity {
            id,
            display_name: display_name.to_owned(),
            avatar_url: None,
            identifier_value: format!(
                "{}@example.com",
                display_name.to_lowercase().replace(' ', ".")
            ),
            identifier_kind: "email".to_owned(),
            account_id: None,
            pubkey: None,
            non_identified_pubkey: None,
            pubkey_aes_rsa: None,
            non_identified_pubkey_aes_rsa: None,
        })
    }

    /// Sets the account.
    #[must_use]
    pub fn account(mut self, account_id: Uuid) -> Self {
        self.0.account_id = Some(account_id);
        self
    }

    /// Sets the non-identified public key.
    #[must_use]
    pub fn non_identified_pubkey(mut self, key: &str) -> Self {
        self.0.non_identified_pubkey = Some(key.to_owned());
        self
    }

    /// Sets the AES-RSA non-identified public key.
    #[must_use]
    pub fn non_identified_pubkey_aes_rsa(mut self, key: &str) -> Self {
        self.0.non_identified_pubkey_aes_rsa = Some(key.to_owned());
        self
    }

    /// Sets the avatar address.
    #[must_use]
    pub fn avatar_url(mut self, url: &str) -> Self {
        self.0.avatar_url = Some(url.to_owned());
        self
    }

    /// The identity.
    pub fn build(self) -> Identity {
        self.0
    }
}

/// Builds the JSON body of a contact request, valid by default, with any field changed or
/// removed by its dotted path to exercise one rule at a time.
#[derive(Debug, Clone)]
pub struct ContactRequestBuilder {
    body: Value,
}

impl ContactRequestBuilder {
    /// A valid request contacting `contacted`, with the spec's example key material, a
    /// `other_share_hash` unique to this builder, and the invitation encrypted for the
    /// contacted identity's non-identified key.
    pub fn new(contacted: &Identity) -> Self {
        let invitation_key = contacted
            .non_identified_pubkey
            .clone()
            .or_else(|| contacted.non_identified_pubkey_aes_rsa.clone())
            .unwrap_or_else(|| BOB_INVITATION_KEY.to_owned());
        Self {
            body: json!({
                "contacted_identity_id": contacted.id,
                "box": {"title": format!("Contact with {}", contacted.display_name), "public_key": SPEC_BOX_PUBLIC_KEY},
                "key_share": {
                    "misakey_share": SPEC_MISAKEY_SHARE,
                    "other_share_hash": unique_share_hash(),
                    "encrypted_invitation_key_share": SPEC_ENCRYPTED_INVITATION_KEY_SHARE,
                },
                "invitation_data": {invitation_key: SAMPLE_ENCRYPTED_INVITATION},
            }),
        }
    }

    /// The request body of the spec's example, contacting `contacted`.
    pub fn spec_example(contacted: &Identity) -> Self {
        Self::new(contacted)
            .title("User1 - User2")
            .set("key_share.other_share_hash", SPEC_OTHER_SHARE_HASH)
    }

    /// Sets `box.title`.
    #[must_use]
    pub fn title(self, title: &str) -> Self {
        self.set("box.title", title)
    }

    /// Sets `key_share.other_share_hash`.
    #[must_use]
    pub fn other_share_hash(self, hash: &str) -> Self {
        self.set("key_share.other_share_hash", hash)
    }

    /// Sets the field at a dotted path (`key_share.misakey_share`) to any JSON value, creating
    /// the objects on the way.
    #[must_use]
    pub fn set(mut self, path: &str, value: impl Into<Value>) -> Self {
        let (parents, last) = split_path(path);
        let mut object = object_of(&mut self.body);
        for parent in parents {
            let child = object.entry(parent.to_owned()).or_insert_with(|| json!({}));
            object = object_of(child);
        }
        object.insert(last.to_owned(), value.into());
        self
    }

    /// Removes the field at a dotted path, if present.
    #[must_use]
    pub fn remove(mut self, path: &str) -> Self {
        let (parents, last) = split_path(path);
        let mut current = &mut self.body;
        for parent in parents {
            match current.get_mut(parent) {
                Some(child) => current = child,
                None => return self,
            }
        }
        if let Some(object) = current.as_object_mut() {
            object.remove(last);
        }
        self
    }

    /// The body.
    pub fn build(self) -> Value {
        self.body
    }
}

fn split_path(path: &str) -> (Vec<&str>, &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    (parts, last)
}

/// The map inside `value`, turning `value` into an empty object first if it is not one.
fn object_of(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// A fresh unpadded URL-safe base64 hash, so that builders never collide by accident.
fn unique_share_hash() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}
