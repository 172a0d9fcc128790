//! The fixtures file of a standalone deployment: identities and access tokens (DESIGN.md
//! section 7). Parsing and checking live here; each storage adapter writes them its own way.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::Identity;

/// A token entry of the fixtures file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureToken {
    /// The opaque access token.
    pub token: String,
    /// The identity it stands for; must be one of the file's identities.
    pub identity_id: Uuid,
    /// Its authentication context reference.
    pub acr: u8,
    /// When it stops being valid; `null` for never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The content of a fixtures file, checked: no duplicate identity or token, every token
/// belongs to an identity of the file.
/// Serialises to the file format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fixtures {
    /// Identities, in file order.
    pub identities: Vec<Identity>,
    /// Tokens, in file order.
    pub tokens: Vec<FixtureToken>,
}

/// Why a fixtures file was refused. Every message names the file, and the entry when one is
/// at fault (`identities[2]`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixturesError {
    /// The file could not be read.
    #[error("cannot read fixtures file {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid fixtures document.
    #[error("invalid fixtures file {file}: {entry}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The offending entry (`identities[2]`, `tokens[0]`) or `document`.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Fixtures {
    /// Reads and checks a fixtures file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, FixturesError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FixturesError::Read {
            file: file.clone(),
            source,
        })?;
        Self::from_json(&file, &text)
    }

    /// Parses and checks fixtures; `file` names the source in error messages.
    pub fn from_json(file: &str, text: &str) -> Result<Self, FixturesError> {
        let invalid = |entry: &str, message: String| FixturesError::Invalid {
            file: file.to_owned(),
            entry: entry.to_owned(),
            message,
        };
        let document: Value =
            serde_json::from_str(text).map_err(|error| invalid("document", error.to_string()))?;
        let Value::Object(mut document) = document else {
            return Err(invalid(
                "document",
                "expected an object with `identities` and `tokens`".to_owned(),
            ));
        };
        if let Some(unknown) = document
            .keys()
            .find(|key| !matches!(key.as_str(), "identities" | "tokens"))
        {
            return Err(invalid("document", format!("unknown field `{unknown}`")));
        }
        let identities: Vec<Identity> =
            entries(document.remove("identities"), "identities", &invalid)?;
        let tokens: Vec<FixtureToken> = entries(document.remove("tokens"), "tokens", &invalid)?;

        let mut identity_ids = HashSet::new();
        for (index, identity) in identities.iter().enumerate() {
            if !identity_ids.insert(identity.id) {
                return Err(invalid(
                    &format!("identities[{index}]"),
                    format!("duplicate identity id {}", identity.id),
                ));
            }
        }
        let mut token_values = HashSet::new();
        for (index, token) in tokens.iter().enumerate() {
            let entry = format!("tokens[{index}]");
            if token.token.is_empty() {
                return Err(invalid(&entry, "empty token".to_owned()));
            }
            if !token_values.insert(token.token.as_str()) {
                return Err(invalid(&entry, "duplicate token".to_owned()));
            }
            if !identity_ids.contains(&token.identity_id) {
                return Err(invalid(
                    &entry,
                    format!(
                        "identity_id {} is not an identity of this file",
                        token.identity_id
                    ),
                ));
            }
        }
        Ok(Self { identities, tokens })
    }
}

/// Deserialises each element of an optional array on its own, so that an error names it.
fn entries<T: serde::de::DeserializeOwned>(
    value: Option<Value>,
    field: &str,
    invalid: &impl Fn(&str, String) -> FixturesError,
) -> Result<Vec<T>, FixturesError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_value(item)
                    .map_err(|error| invalid(&format!("{field}[{index}]"), error.to_string()))
            })
            .collect(),
        Some(_) => Err(invalid(field, "expected an array".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = r#"{"id": "a11ce000-0000-4000-8000-000000000001", "display_name": "Alice",
        "avatar_url": null, "identifier_value": "alice@example.com", "identifier_kind": "email",
        "account_id": "acc0a11c-e000-4000-8000-000000000001", "pubkey": null,
        "non_identified_pubkey": "QWxpY2U", "pubkey_aes_rsa": null, "non_identified_pubkey_aes_rsa": null}"#;

    fn error_of(text: &str) -> String {
        Fixtures::from_json("fixtures.json", text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_the_documented_format() {
        let text = format!(
            r#"{{"identities": [{ALICE}], "tokens": [{{"token": "t", "identity_id": "a11ce000-0000-4000-8000-000000000001", "acr": 2, "expires_at": "2030-01-01T00:00:00Z"}}]}}"#
        );
        let fixtures = Fixtures::from_json("fixtures.json", &text).unwrap();
        assert_eq!(fixtures.identities[0].display_name, "Alice");
        assert_eq!(
            fixtures.identities[0].non_identified_pubkey.as_deref(),
            Some("QWxpY2U")
        );
        assert_eq!(
            fixtures.tokens,
            vec![FixtureToken {
                token: "t".to_owned(),
                identity_id: fixtures.identities[0].id,
                acr: 2,
                expires_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
            }]
        );
    }

    #[test]
    fn names_the_file_and_the_offending_entry() {
        assert_eq!(
            error_of(&format!(r#"{{"identities": [{ALICE}, {{"id": "nope"}}]}}"#)),
            "invalid fixtures file fixtures.json: identities[1]: UUID parsing failed: invalid character: found `n` at 0"
        );
        assert_eq!(
            error_of(&format!(r#"{{"identities": [{ALICE}, {ALICE}]}}"#)),
            "invalid fixtures file fixtures.json: identities[1]: duplicate identity id a11ce000-0000-4000-8000-000000000001"
        );
        assert_eq!(
            error_of(
                r#"{"tokens": [{"token": "t", "identity_id": "b0b00000-0000-4000-8000-000000000002", "acr": 1}]}"#
            ),
            "invalid fixtures file fixtures.json: tokens[0]: identity_id b0b00000-0000-4000-8000-000000000002 is not an identity of this file"
        );
        assert_eq!(
            error_of(&format!(
                r#"{{"identities": [{ALICE}], "tokens": [{{"token": "", "identity_id": "a11ce000-0000-4000-8000-000000000001", "acr": 1}}]}}"#
            )),
            "invalid fixtures file fixtures.json: tokens[0]: empty token"
        );
        assert_eq!(
            error_of(
                r#"{"tokens": [{"token": "t", "identity_id": "a11ce000-0000-4000-8000-000000000001", "acr": 300}]}"#
            ),
            "invalid fixtures file fixtures.json: tokens[0]: invalid value: integer `300`, expected u8"
        );
        assert_eq!(
            error_of("[]"),
            "invalid fixtures file fixtures.json: document: expected an object with `identities` and `tokens`"
        );
        assert_eq!(
            error_of(r#"{"users": []}"#),
            "invalid fixtures file fixtures.json: document: unknown field `users`"
        );
        assert_eq!(
            error_of(r#"{"identities": {}}"#),
            "invalid fixtures file fixtures.json: identities: expected an array"
        );
        assert!(
            error_of("{")
                .starts_with("invalid fixtures file fixtures.json: document: EOF while parsing")
        );
    }

    #[test]
    fn a_missing_file_is_reported_with_its_path() {
        let error = Fixtures::from_file("/nonexistent/fixtures.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot read fixtures file /nonexistent/fixtures.json: "),
            "{error}"
        );
    }
}
