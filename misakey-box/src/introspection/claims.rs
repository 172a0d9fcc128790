//! Reading an introspection answer (RFC 7662, section 2.2) through the configured claim paths.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::SignedInProfile;
use crate::ports::TokenInfo;

/// Where each claim is in an introspection answer: dotted paths into its JSON object
/// (`sub`, `ext.mid`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPaths {
    /// The identity id (a UUID). Default `sub`; Misakey's Hydra deployment: `ext.mid`.
    pub identity: String,
    /// The account id (a UUID), if the server names one. Default none; Misakey: `ext.aid`.
    pub account: Option<String>,
    /// The ACR: a number, a numeric string, or an array of them (the highest counts). Default
    /// `acr`; Hydra: `ext.acr_values`.
    pub acr: String,
    /// The display name of an identity created just in time. Default `name`.
    pub name: String,
    /// The identifier (an email address) of an identity created just in time. Default `email`.
    pub identifier: String,
}

impl Default for ClaimPaths {
    fn default() -> Self {
        Self {
            identity: "sub".to_owned(),
            account: None,
            acr: "acr".to_owned(),
            name: "name".to_owned(),
            identifier: "email".to_owned(),
        }
    }
}

/// What an active answer says: the token, and the identity for the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ActiveToken {
    pub(super) info: TokenInfo,
    pub(super) profile: SignedInProfile,
}

impl ClaimPaths {
    /// Reads an answer: `None` when the token is inactive or names no valid identity.
    pub(super) fn read(&self, answer: &Value) -> Option<ActiveToken> {
        if answer.get("active") != Some(&Value::Bool(true)) {
            return None;
        }
        let identity_id = uuid_at(answer, &self.identity)?;
        let account_id = self
            .account
            .as_deref()
            .and_then(|path| uuid_at(answer, path));
        let expires_at = claim(answer, "exp")
            .and_then(Value::as_i64)
            .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0));
        let identifier = text_at(answer, &self.identifier).unwrap_or_default();
        let display_name = text_at(answer, &self.name)
            .or_else(|| (!identifier.is_empty()).then(|| identifier.clone()))
            .unwrap_or_else(|| identity_id.to_string());
        Some(ActiveToken {
            info: TokenInfo {
                identity_id,
                account_id,
                acr: claim(answer, &self.acr).map_or(0, highest_acr),
                expires_at,
            },
            profile: SignedInProfile {
                id: identity_id,
                account_id,
                display_name,
                identifier_value: identifier,
                identifier_kind: "email".to_owned(),
            },
        })
    }
}

/// The value at a dotted path (`ext.acr_values`).
fn claim<'a>(answer: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(answer, |value, segment| value.get(segment))
}

fn text_at(answer: &Value, path: &str) -> Option<String> {
    claim(answer, path)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn uuid_at(answer: &Value, path: &str) -> Option<Uuid> {
    claim(answer, path)
        .and_then(Value::as_str)
        .and_then(|text| Uuid::parse_str(text).ok())
}

/// An ACR as servers write it: `2`, `"2"`, or `["1", 2]` (the highest); anything else is 0,
/// and values above 255 count as 255.
fn highest_acr(value: &Value) -> u8 {
    let one = |value: &Value| -> Option<u64> {
        match value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    };
    let highest = match value {
        Value::Array(values) => values.iter().filter_map(one).max(),
        single => one(single),
    };
    highest.map_or(0, |acr| u8::try_from(acr).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "0e9a5e1f-0000-4000-8000-0000000000a1";
    const ACCOUNT: &str = "0e9a5e1f-0000-4000-8000-0000000000b2";

    #[test]
    fn a_hydra_style_answer_maps_through_its_ext_claims() {
        let paths = ClaimPaths {
            identity: "ext.mid".to_owned(),
            account: Some("ext.aid".to_owned()),
            acr: "ext.acr_values".to_owned(),
            ..ClaimPaths::default()
        };
        let answer = json!({"active": true, "sub": "someone-else", "exp": 1_900_000_000,
                            "email": "zed@example.com",
                            "ext": {"mid": ID, "aid": ACCOUNT, "acr_values": ["1", "2"]}});
        let id = Uuid::parse_str(ID).unwrap();
        let account = Uuid::parse_str(ACCOUNT).unwrap();
        assert_eq!(
            paths.read(&answer),
            Some(ActiveToken {
                info: TokenInfo {
                    identity_id: id,
                    account_id: Some(account),
                    acr: 2,
                    expires_at: DateTime::from_timestamp(1_900_000_000, 0),
                },
                profile: SignedInProfile {
                    id,
                    account_id: Some(account),
                    display_name: "zed@example.com".to_owned(),
                    identifier_value: "zed@example.com".to_owned(),
                    identifier_kind: "email".to_owned(),
                },
            })
        );
    }

    #[test]
    fn acr_is_a_number_a_numeric_string_or_the_highest_of_an_array() {
        for (acr, expected) in [
            (json!(2), 2),
            (json!("1"), 1),
            (json!(" 2 "), 2),
            (json!(["1", 3, "2"]), 3),
            (json!([]), 0),
            (json!("high"), 0),
            (json!(1.5), 0),
            (json!(-1), 0),
            (json!(4096), 255),
            (json!(null), 0),
        ] {
            assert_eq!(highest_acr(&acr), expected, "{acr}");
        }
        let answer = json!({"active": true, "sub": ID});
        let read = ClaimPaths::default().read(&answer).unwrap();
        assert_eq!(read.info.acr, 0, "no acr claim: the lowest");
        assert_eq!(read.info.expires_at, None, "no exp: no expiry");
        assert_eq!(read.profile.display_name, ID, "no name nor email: the id");
    }

    #[test]
    fn inactive_answers_and_missing_or_malformed_identities_read_as_nothing() {
        let paths = ClaimPaths::default();
        for answer in [
            json!({"active": false, "sub": ID}),
            json!({"active": "true", "sub": ID}),
            json!({"sub": ID}),
            json!({"active": true}),
            json!({"active": true, "sub": "not-a-uuid"}),
            json!({"active": true, "sub": 7}),
            json!([]),
        ] {
            assert_eq!(paths.read(&answer), None, "{answer}");
        }
    }
}
