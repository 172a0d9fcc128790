use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Unpadded URL-safe alphabet; trailing bits are tolerated because browsers' encoders differ.
const URL_SAFE_UNPADDED: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

const STANDARD_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

const URL_SAFE_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes unpadded URL-safe base64 (`^[A-Za-z0-9_-]+$`); `None` if empty or not decodable.
pub fn decode_unpadded_url_safe(value: &str) -> Option<Vec<u8>> {
    if value.is_empty() {
        return None;
    }
    URL_SAFE_UNPADDED.decode(value).ok()
}

/// Decodes base64 in the standard or the URL-safe alphabet, padded or not; `None` if empty,
/// not decodable, or decoding to nothing.
pub fn decode_standard_or_url_safe(value: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD_ANY_PADDING
        .decode(value)
        .or_else(|_| URL_SAFE_ANY_PADDING.decode(value))
        .ok()?;
    (!bytes.is_empty()).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpadded_url_safe() {
        assert_eq!(
            decode_unpadded_url_safe("Nz4nJMj5DOd4UGXXOlH8Ww").map(|b| b.len()),
            Some(16)
        );
        assert_eq!(decode_unpadded_url_safe("a-_b").map(|b| b.len()), Some(3));
        for bad in [
            "",
            "Nz4nJMj5DOd4UGXXOlH8Ww==",
            "a+/b",
            "ab cd",
            "abcde",
            "é",
        ] {
            assert_eq!(decode_unpadded_url_safe(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn standard_or_url_safe() {
        for good in [
            "lBHT1vfwFAIBig5Nj+sD+w==",
            "lBHT1vfwFAIBig5Nj+sD+w",
            "lBHT1vfwFAIBig5Nj-sD-w",
        ] {
            assert_eq!(
                decode_standard_or_url_safe(good).map(|b| b.len()),
                Some(16),
                "{good:?}"
            );
        }
        for bad in ["", "====", "abc$", "a+b_", "abcde"] {
            assert_eq!(decode_standard_or_url_safe(bad), None, "{bad:?}");
        }
    }
}
