use serde_json::{Map, Value};
use uuid::Uuid;

use super::key_share_policy::{KeyMaterial, KeySharePolicy};
use crate::error::{Detail, Error, ErrorCode, Origin};

/// Longest accepted box title, in Unicode scalar values.
/// Longest box title, in Unicode scalar values.
pub(crate) const MAX_TITLE_CHARS: usize = 50;

/// A contact request that passed validation (`docs/protocol.md`, "Contact").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    /// The identity to contact (never the caller).
    pub contacted_identity_id: Uuid,
    /// `box.title`.
    pub box_title: String,
    /// `box.public_key`.
    pub box_public_key: String,
    /// `key_share.misakey_share`.
    pub misakey_share: String,
    /// `key_share.other_share_hash`.
    pub other_share_hash: String,
    /// `key_share.encrypted_invitation_key_share`.
    pub encrypted_invitation_key_share: String,
    /// The one key of `invitation_data`: the public key the invitation was encrypted for.
    pub invitation_public_key: String,
    /// The one value of `invitation_data`: the encrypted crypto action.
    pub encrypted_invitation: String,
}

/// Parses a UUID in its canonical hyphenated form only (what clients send and what the
/// server prints), so that one id has one spelling.
pub fn parse_uuid(value: &str) -> Option<Uuid> {
    if value.len() != 36 {
        return None;
    }
    Uuid::try_parse(value).ok()
}

/// Collects field failures so that a client learns about all of them in one answer.
#[derive(Default)]
struct Failures(Vec<(&'static str, Detail)>);

impl Failures {
    fn add(&mut self, field: &'static str, detail: Detail) {
        self.0.push((field, detail));
    }

    /// Records the failure of `result` (if any) and passes its value on.
    fn keep<T>(&mut self, field: &'static str, result: Result<T, Detail>) -> Option<T> {
        result.map_err(|detail| self.add(field, detail)).ok()
    }

    fn into_error(self) -> Error {
        self.0.into_iter().fold(
            Error::new(
                ErrorCode::BadRequest,
                Origin::Body,
                "invalid contact request",
            ),
            |error, (field, detail)| error.with_detail(field, detail),
        )
    }
}

/// A required string field: missing, null or empty is `required`, another JSON type `not_string`.
fn required_str<'a>(
    object: Option<&'a Map<String, Value>>,
    key: &str,
    not_string: Detail,
) -> Result<&'a str, Detail> {
    match object.and_then(|o| o.get(key)) {
        None | Some(Value::Null) => Err(Detail::Required),
        Some(Value::String(s)) if s.is_empty() => Err(Detail::Required),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(not_string),
    }
}

fn key_material<'a>(
    object: Option<&'a Map<String, Value>>,
    key: &str,
    material: KeyMaterial,
    policy: &dyn KeySharePolicy,
) -> Result<&'a str, Detail> {
    let value = required_str(object, key, Detail::Malformed)?;
    policy.check(material, value)?;
    Ok(value)
}

impl ContactRequest {
    /// Validates a contact body sent by `caller_id`. On failure the error lists every failing
    /// field, with dotted paths (`key_share.other_share_hash`) and detail words.
    ///
    /// Unknown fields are ignored; `identity_id` is accepted as an alias of
    /// `contacted_identity_id` (the original API's name).
    pub fn parse(
        body: &Value,
        caller_id: Uuid,
        policy: &dyn KeySharePolicy,
    ) -> Result<Self, Error> {
        let Some(root) = body.as_object() else {
            return Err(Error::new(
                ErrorCode::BadRequest,
                Origin::Body,
                "the body must be a JSON object",
            ));
        };
        let section = |name: &str| root.get(name).and_then(Value::as_object);
        let (box_section, key_share) = (section("box"), section("key_share"));
        let mut failures = Failures::default();

        let contacted_key = if root.contains_key("contacted_identity_id") {
            "contacted_identity_id"
        } else {
            "identity_id"
        };
        let contacted_identity_id = failures.keep(
            "contacted_identity_id",
            required_str(Some(root), contacted_key, Detail::Malformed)
                .and_then(|id| parse_uuid(id).ok_or(Detail::Malformed))
                .and_then(|id| {
                    if id == caller_id {
                        Err(Detail::Invalid)
                    } else {
                        Ok(id)
                    }
                }),
        );
        let box_title = failures.keep(
            "box.title",
            required_str(box_section, "title", Detail::Invalid).and_then(|title| {
                if title.chars().count() > MAX_TITLE_CHARS {
                    Err(Detail::Invalid)
                } else {
                    Ok(title)
                }
            }),
        );
        let box_public_key = failures.keep(
            "box.public_key",
            key_material(box_section, "public_key", KeyMaterial::BoxPublicKey, policy),
        );
        let misakey_share = failures.keep(
            "key_share.misakey_share",
            key_material(
                key_share,
                "misakey_share",
                KeyMaterial::MisakeyShare,
                policy,
            ),
        );
        let other_share_hash = failures.keep(
            "key_share.other_share_hash",
            key_material(
                key_share,
                "other_share_hash",
                KeyMaterial::OtherShareHash,
                policy,
            ),
        );
        let encrypted_invitation_key_share = failures.keep(
            "key_share.encrypted_invitation_key_share",
            key_material(
                key_share,
                "encrypted_invitation_key_share",
                KeyMaterial::EncryptedInvitationKeyShare,
                policy,
            ),
        );
        let invitation = failures.keep(
            "invitation_data",
            invitation_entry(root.get("invitation_data")),
        );

        // Every `None` above recorded its failure, so the else branch always has details.
        let (
            Some(contacted_identity_id),
            Some(box_title),
            Some(box_public_key),
            Some(misakey_share),
            Some(other_share_hash),
            Some(encrypted_invitation_key_share),
            Some((invitation_public_key, encrypted_invitation)),
        ) = (
            contacted_identity_id,
            box_title,
            box_public_key,
            misakey_share,
            other_share_hash,
            encrypted_invitation_key_share,
            invitation,
        )
        else {
            return Err(failures.into_error());
        };
        Ok(Self {
            contacted_identity_id,
            box_title: box_title.to_owned(),
            box_public_key: box_public_key.to_owned(),
            misakey_share: misakey_share.to_owned(),
            other_share_hash: other_share_hash.to_owned(),
            encrypted_invitation_key_share: encrypted_invitation_key_share.to_owned(),
            invitation_public_key: invitation_public_key.to_owned(),
            encrypted_invitation: encrypted_invitation.to_owned(),
        })
    }
}

/// `invitation_data` must hold exactly one `{public key: encrypted crypto action}` entry.
fn invitation_entry(value: Option<&Value>) -> Result<(&str, &str), Detail> {
    let object = match value {
        None | Some(Value::Null) => return Err(Detail::Required),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(Detail::Invalid),
    };
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (None, _) => Err(Detail::Required),
        (Some((key, Value::String(action))), None) if !key.is_empty() && !action.is_empty() => {
            Ok((key, action))
        }
        _ => Err(Detail::Invalid),
    }
}
