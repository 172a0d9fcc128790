//! `--demo`: two identities with tokens, and ready-to-paste commands to try the server.

use std::net::SocketAddr;

use misakey_box::domain::Identity;
use misakey_box::fixtures::{FixtureToken, Fixtures};
use uuid::Uuid;

/// Alice's identity id in the demo.
pub const ALICE_ID: Uuid = Uuid::from_u128(0xa11ce000_0000_4000_8000_00000000de30);
/// Bob's identity id in the demo.
pub const BOB_ID: Uuid = Uuid::from_u128(0xb0b00000_0000_4000_8000_00000000de30);
/// Alice's token.
pub const ALICE_TOKEN: &str = "alice-demo-token";
/// Bob's token.
pub const BOB_TOKEN: &str = "bob-demo-token";
/// Bob's non-identified public key (invitations to Bob are encrypted for it).
pub const BOB_INVITATION_KEY: &str = "Qm9iTm9uSWRlbnRpZmllZFB1YmxpY0tleTMyYnl0ZXM";

fn identity(id: Uuid, name: &str, account: u128, invitation_key: &str) -> Identity {
    Identity {
        id,
        display_name: name.to_owned(),
        avatar_url: None,
        identifier_value: format!("{}@example.com", name.to_lowercase()),
        identifier_kind: "email".to_owned(),
        account_id: Some(Uuid::from_u128(account)),
        pubkey: None,
        non_identified_pubkey: Some(invitation_key.to_owned()),
        pubkey_aes_rsa: None,
        non_identified_pubkey_aes_rsa: None,
    }
}

/// Alice and Bob, each with an account, a key for invitations and a token of ACR 2.
pub fn fixtures() -> Fixtures {
    let token = |token: &str, identity_id| FixtureToken {
        token: token.to_owned(),
        identity_id,
        acr: 2,
        expires_at: None,
    };
    Fixtures {
        identities: vec![
            identity(
                ALICE_ID,
                "Alice",
                0xacc0a11c_e000_4000_8000_00000000de30,
                "QWxpY2VOb25JZGVudGlmaWVkUHVibGljS2V5MzJieXQ",
            ),
            identity(
                BOB_ID,
                "Bob",
                0xacc0b0b0_0000_4000_8000_00000000de30,
                BOB_INVITATION_KEY,
            ),
        ],
        tokens: vec![token(ALICE_TOKEN, ALICE_ID), token(BOB_TOKEN, BOB_ID)],
    }
}

/// What to paste to watch Bob's socket and have Alice contact him.
pub fn instructions(address: SocketAddr) -> String {
    format!(
        r#"demo identities loaded: Alice {ALICE_ID} (token {ALICE_TOKEN}), Bob {BOB_ID} (token {BOB_TOKEN})

1. In a terminal, watch Bob's updates:

cargo run -p misakey-box-examples --example socket_listener -- ws://{address}/box-users/{BOB_ID}/ws {BOB_TOKEN}

2. In another, have Alice contact Bob: get a CSRF token, then post (each contact needs a new
   other_share_hash, hence the random one):

CSRF=$(curl -s -c /tmp/misakey-demo-cookies http://{address}/csrf | cut -d'"' -f4)
curl -s -b /tmp/misakey-demo-cookies -b 'accesstoken={ALICE_TOKEN}; tokentype=bearer' \
  -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' \
  http://{address}/box-users/{ALICE_ID}/contact -d @- <<EOF
{{
  "contacted_identity_id": "{BOB_ID}",
  "box": {{"title": "Alice - Bob", "public_key": "SXvalkvhuhcj2UiaS4d0Q3OeuHOhMVeQT7ZGfCH2YCw"}},
  "key_share": {{
    "misakey_share": "lBHT1vfwFAIBig5Nj+sD+w==",
    "other_share_hash": "$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')",
    "encrypted_invitation_key_share": "cGYMzgIO9rc03WoSLAyoiQdLu7he5VbMRImLhRPmwTQ="
  }},
  "invitation_data": {{"{BOB_INVITATION_KEY}": "ZW5jcnlwdGVkIGludml0YXRpb24"}}
}}
EOF

Alice gets 201 with the new box; Bob's terminal prints the box.auto_invite notification.
"#
    )
}
