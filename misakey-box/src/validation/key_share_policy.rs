use std::fmt::Debug;

use super::base64_shape::{decode_standard_or_url_safe, decode_unpadded_url_safe};
use crate::error::Detail;

/// Prefix of box public keys of the AES-RSA scheme (the rest is unpadded URL-safe base64).
pub const AES_RSA_KEY_PREFIX: &str = "com.misakey.aes-rsa-enc:";

/// The pieces of key material a contact request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyMaterial {
    /// `box.public_key`.
    BoxPublicKey,
    /// `key_share.misakey_share`.
    MisakeyShare,
    /// `key_share.other_share_hash`.
    OtherShareHash,
    /// `key_share.encrypted_invitation_key_share`.
    EncryptedInvitationKeyShare,
}

/// Decides whether key material is acceptable. The server cannot check the cryptography (it
/// never sees plaintext), only shapes and sizes; how strict to be is a deployment choice.
pub trait KeySharePolicy: Debug + Send + Sync + 'static {
    /// Checks one non-empty value; the error is the detail reported for the field.
    fn check(&self, material: KeyMaterial, value: &str) -> Result<(), Detail>;
}

/// The shapes of `docs/protocol.md`, "Contact", which the spec's own examples satisfy: unpadded
/// URL-safe base64 for the box key (optionally AES-RSA prefixed) and the share hash; standard or
/// URL-safe base64, padding optional, for the shares.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultKeySharePolicy;

impl DefaultKeySharePolicy {
    fn decode(material: KeyMaterial, value: &str) -> Option<Vec<u8>> {
        match material {
            KeyMaterial::BoxPublicKey => {
                decode_unpadded_url_safe(value.strip_prefix(AES_RSA_KEY_PREFIX).unwrap_or(value))
            }
            KeyMaterial::OtherShareHash => decode_unpadded_url_safe(value),
            KeyMaterial::MisakeyShare | KeyMaterial::EncryptedInvitationKeyShare => {
                decode_standard_or_url_safe(value)
            }
        }
    }
}

impl KeySharePolicy for DefaultKeySharePolicy {
    fn check(&self, material: KeyMaterial, value: &str) -> Result<(), Detail> {
        Self::decode(material, value)
            .map(drop)
            .ok_or(Detail::Malformed)
    }
}

/// The default shapes plus the sizes of NaCl boxes: 32-byte box public key and shares, 64-byte
/// (SHA-512) share hash. AES-RSA box keys are RSA keys and keep only the shape check.
#[derive(Debug, Clone, Copy, Default)]
pub struct NaclKeySharePolicy;

impl NaclKeySharePolicy {
    fn expected_len(material: KeyMaterial) -> usize {
        match material {
            KeyMaterial::OtherShareHash => 64,
            KeyMaterial::BoxPublicKey
            | KeyMaterial::MisakeyShare
            | KeyMaterial::EncryptedInvitationKeyShare => 32,
        }
    }
}

impl KeySharePolicy for NaclKeySharePolicy {
    fn check(&self, material: KeyMaterial, value: &str) -> Result<(), Detail> {
        let bytes = DefaultKeySharePolicy::decode(material, value).ok_or(Detail::Malformed)?;
        let is_rsa = material == KeyMaterial::BoxPublicKey && value.starts_with(AES_RSA_KEY_PREFIX);
        if is_rsa || bytes.len() == Self::expected_len(material) {
            Ok(())
        } else {
            Err(Detail::Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_32: &str = "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw";

    #[test]
    fn default_accepts_the_spec_examples() {
        let policy = DefaultKeySharePolicy;
        assert_eq!(policy.check(KeyMaterial::BoxPublicKey, KEY_32), Ok(()));
        assert_eq!(
            policy.check(
                KeyMaterial::BoxPublicKey,
                &format!("{AES_RSA_KEY_PREFIX}{KEY_32}")
            ),
            Ok(())
        );
        assert_eq!(
            policy.check(KeyMaterial::MisakeyShare, "lBHT1vfwFAIBig5Nj+sD+w=="),
            Ok(())
        );
        assert_eq!(
            policy.check(KeyMaterial::OtherShareHash, "Nz4nJMj5DOd4UGXXOlH8Ww"),
            Ok(())
        );
        assert_eq!(
            policy.check(
                KeyMaterial::EncryptedInvitationKeyShare,
                "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
            ),
            Ok(())
        );
    }

    #[test]
    fn default_rejects_wrong_alphabets() {
        let policy = DefaultKeySharePolicy;
        assert_eq!(
            policy.check(KeyMaterial::BoxPublicKey, "a+b/"),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(KeyMaterial::BoxPublicKey, "com.other:abcd"),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(KeyMaterial::OtherShareHash, "Nz4nJMj5DOd4UGXXOlH8Ww=="),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(KeyMaterial::MisakeyShare, "not base64!"),
            Err(Detail::Malformed)
        );
    }

    #[test]
    fn nacl_checks_sizes() {
        let policy = NaclKeySharePolicy;
        let hash_64 = "A".repeat(86);
        assert_eq!(policy.check(KeyMaterial::BoxPublicKey, KEY_32), Ok(()));
        assert_eq!(policy.check(KeyMaterial::MisakeyShare, KEY_32), Ok(()));
        assert_eq!(
            policy.check(KeyMaterial::EncryptedInvitationKeyShare, KEY_32),
            Ok(())
        );
        assert_eq!(policy.check(KeyMaterial::OtherShareHash, &hash_64), Ok(()));
        // The spec's 16-byte share and hash are too short for NaCl.
        assert_eq!(
            policy.check(KeyMaterial::MisakeyShare, "lBHT1vfwFAIBig5Nj+sD+w=="),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(KeyMaterial::OtherShareHash, "Nz4nJMj5DOd4UGXXOlH8Ww"),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(KeyMaterial::BoxPublicKey, "AAAA"),
            Err(Detail::Malformed)
        );
        assert_eq!(
            policy.check(
                KeyMaterial::BoxPublicKey,
                &format!("{AES_RSA_KEY_PREFIX}AAAA")
            ),
            Ok(())
        );
    }
}
