//! The body of `PATCH /identities/{id}`: which public keys to set or clear.

use serde_json::Value;

use super::{AES_RSA_KEY_PREFIX, decode_unpadded_url_safe};
use crate::domain::PublicKeysUpdate;
use crate::error::{Detail, Error, ErrorCode, Origin};

/// Parses the body: each of `pubkey`, `non_identified_pubkey`, `pubkey_aes_rsa` and
/// `non_identified_pubkey_aes_rsa` may be a key (unpadded URL-safe base64; the `_aes_rsa` ones
/// may carry the prefix `com.misakey.aes-rsa-enc:`) or `null`; other fields are ignored. Every
/// malformed key is reported at once; a body naming none of them is `{"body": "required"}`.
pub fn parse_public_keys_update(body: &Value) -> Result<PublicKeysUpdate, Error> {
    let Some(fields) = body.as_object() else {
        return Err(Error::bad_body(
            "the body must be a JSON object",
            "body",
            Detail::Malformed,
        ));
    };
    let mut malformed = Vec::new();
    let mut key = |name: &'static str, aes_rsa: bool| -> Option<Option<String>> {
        match fields.get(name)? {
            Value::Null => Some(None),
            Value::String(key) if is_public_key(key, aes_rsa) => Some(Some(key.clone())),
            _ => {
                malformed.push(name);
                None
            }
        }
    };
    let update = PublicKeysUpdate {
        pubkey: key("pubkey", false),
        non_identified_pubkey: key("non_identified_pubkey", false),
        pubkey_aes_rsa: key("pubkey_aes_rsa", true),
        non_identified_pubkey_aes_rsa: key("non_identified_pubkey_aes_rsa", true),
    };
    if !malformed.is_empty() {
        return Err(malformed.into_iter().fold(
            Error::new(ErrorCode::BadRequest, Origin::Body, "malformed public keys"),
            |error, field| error.with_detail(field, Detail::Malformed),
        ));
    }
    if update == PublicKeysUpdate::default() {
        return Err(Error::bad_body(
            "name at least one of pubkey, non_identified_pubkey, pubkey_aes_rsa, non_identified_pubkey_aes_rsa",
            "body",
            Detail::Required,
        ));
    }
    Ok(update)
}

fn is_public_key(key: &str, aes_rsa: bool) -> bool {
    let key = if aes_rsa {
        key.strip_prefix(AES_RSA_KEY_PREFIX).unwrap_or(key)
    } else {
        key
    };
    decode_unpadded_url_safe(key).is_some_and(|bytes| !bytes.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_set_cleared_or_left() {
        let update = parse_public_keys_update(&json!({
            "non_identified_pubkey": "Qm9iS2V5",
            "pubkey_aes_rsa": null,
            "non_identified_pubkey_aes_rsa": "com.misakey.aes-rsa-enc:UnNhS2V5",
            "unknown": 1
        }))
        .unwrap();
        assert_eq!(
            update,
            PublicKeysUpdate {
                pubkey: None,
                non_identified_pubkey: Some(Some("Qm9iS2V5".to_owned())),
                pubkey_aes_rsa: Some(None),
                non_identified_pubkey_aes_rsa: Some(Some(
                    "com.misakey.aes-rsa-enc:UnNhS2V5".to_owned()
                )),
            }
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_every_field() {
        assert_eq!(
            parse_public_keys_update(&json!({"unknown": 1}))
                .unwrap_err()
                .to_json(),
            json!({"code": "bad_request", "origin": "body",
                   "desc": "name at least one of pubkey, non_identified_pubkey, pubkey_aes_rsa, non_identified_pubkey_aes_rsa",
                   "details": {"body": "required"}})
        );
        assert_eq!(
            parse_public_keys_update(&json!([])).unwrap_err().to_json(),
            json!({"code": "bad_request", "origin": "body", "desc": "the body must be a JSON object",
                   "details": {"body": "malformed"}})
        );
        assert_eq!(
            parse_public_keys_update(&json!({
                "pubkey": "padded==",
                "non_identified_pubkey": "com.misakey.aes-rsa-enc:QUJD",
                "pubkey_aes_rsa": 12,
                "non_identified_pubkey_aes_rsa": ""
            }))
            .unwrap_err()
            .to_json(),
            json!({"code": "bad_request", "origin": "body", "desc": "malformed public keys",
                   "details": {"pubkey": "malformed", "non_identified_pubkey": "malformed",
                               "pubkey_aes_rsa": "malformed", "non_identified_pubkey_aes_rsa": "malformed"}})
        );
    }
}
