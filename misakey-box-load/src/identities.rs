//! The identities every subcommand agrees on: identity `i` has token `load-i`.

use std::path::Path;

use misakey_box::domain::Identity;
use misakey_box::fixtures::{FixtureToken, Fixtures};
use uuid::Uuid;

/// The non-identified public key of every load identity.
pub(crate) const INVITATION_KEY: &str = "Qm9iTm9uSWRlbnRpZmllZFB1YmxpY0tleTMyYnl0ZXM";

pub(crate) fn id(index: usize) -> Uuid {
    Uuid::from_u128(0x10ad0000_0000_4000_8000_000000000000 | index as u128)
}

pub(crate) fn token(index: usize) -> String {
    format!("load-{index}")
}

pub(crate) fn write_fixtures(count: usize, out: &Path) -> Result<(), String> {
    let identities = (0..count).map(|i| Identity {
        id: id(i),
        display_name: format!("Load {i}"),
        avatar_url: None,
        identifier_value: format!("load-{i}@example.com"),
        identifier_kind: "email".to_owned(),
        account_id: Some(Uuid::from_u128(
            0xacc0_10ad_0000_4000_8000_0000_0000_0000 | i as u128,
        )),
        pubkey: None,
        non_identified_pubkey: Some(INVITATION_KEY.to_owned()),
        pubkey_aes_rsa: None,
        non_identified_pubkey_aes_rsa: None,
    });
    let fixtures = Fixtures {
        identities: identities.collect(),
        tokens: (0..count)
            .map(|i| FixtureToken {
                token: token(i),
                identity_id: id(i),
                acr: 2,
                expires_at: None,
            })
            .collect(),
    };
    let json = serde_json::to_vec(&fixtures).map_err(|e| e.to_string())?;
    std::fs::write(out, json).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("wrote {count} identities to {}", out.display());
    Ok(())
}
