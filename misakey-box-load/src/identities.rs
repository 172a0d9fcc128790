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

/// The account of identity `index`.
pub(crate) fn account(index: usize) -> Uuid {
    Uuid::from_u128(0xacc0_10ad_0000_4000_8000_0000_0000_0000 | index as u128)
}

pub(crate) fn token(index: usize) -> String {
    format!("load-{index}")
}

/// The socket type of the load clients.
pub(crate) type LoadSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the socket of identity `index` on `ws_base` (`ws://host:port`), with small buffers:
/// tungstenite's default 128 KiB read buffer per socket would cost a 10,000-socket client
/// 1.3 GB and make it, rather than the server, what a benchmark measures.
pub(crate) async fn open_socket(ws_base: &str, index: usize) -> Result<LoadSocket, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

    let mut request = format!("{ws_base}/box-users/{}/ws", id(index))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    let cookie = HeaderValue::from_str(&format!("accesstoken={}; tokentype=bearer", token(index)))
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert("Cookie", cookie);
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .map_err(|e| format!("socket {index}: {e}"))?;
    Ok(socket)
}

pub(crate) fn write_fixtures(count: usize, out: &Path) -> Result<(), String> {
    let identities = (0..count).map(|i| Identity {
        id: id(i),
        display_name: format!("Load {i}"),
        avatar_url: None,
        identifier_value: format!("load-{i}@example.com"),
        identifier_kind: "email".to_owned(),
        account_id: Some(account(i)),
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
