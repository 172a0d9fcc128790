//! The life of one realtime socket, independent of any WebSocket library.
//!
//! The HTTP layer ([`crate::http`]) authorises the handshake and subscribes the caller
//! ([`SocketSession::subscribe`](crate::SocketSession::subscribe), before the 101 so that
//! nothing published after the handshake is missed); the frontend then hands [`run_socket`]
//! (through [`SocketUpgrade::run`](crate::http::SocketUpgrade::run)) a stream of
//! [`ClientFrame`]s and a sink of [`ServerFrame`]s translated from its library's message types.
//! Heartbeats, idle and size limits, slow consumers, bus failures and shutdown are all decided
//! here, the same way for every frontend.

mod driver;
mod in_order;
mod polled_when_woken;
mod shutdown;
mod slots;
mod timers;

use std::time::Duration;

pub use driver::{AcceptedSocket, run_socket};
pub use shutdown::{Shutdown, ShutdownSignal};
pub(crate) use slots::{SocketSlot, SocketSlots};

use crate::domain::Frame;

/// Limits and timers of a socket (`docs/protocol.md`, "Realtime").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketSettings {
    /// How often the server pings.
    pub ping_interval: Duration,
    /// A socket from which nothing (not even a pong) arrives for this long is closed.
    pub idle_timeout: Duration,
    /// Larger inbound frames close the socket with 1009.
    pub max_inbound_frame_bytes: usize,
    /// A send that the client does not take within this time ends the socket: a client that
    /// stopped reading cannot hold server memory or delay anyone.
    pub send_timeout: Duration,
    /// How often an open socket's token is checked again (closing it with 4001 `token
    /// revoked` once inactive); `None` (the default) checks only its expiry. Worth it with an
    /// authorization server, where tokens are revoked; each check is answered by its cache.
    pub token_recheck: Option<Duration>,
}

impl SocketSettings {
    /// Read buffer to give the WebSocket library per socket: most sockets are idle, and memory
    /// per socket is what limits a server (tungstenite's default is 128 KiB).
    pub const READ_BUFFER_BYTES: usize = 2 * 1024;
    /// Most bytes the library may hold unsent per socket.
    pub const MAX_WRITE_BUFFER_BYTES: usize = 64 * 1024;

    /// The message size limit to give the WebSocket library: above ours, so that the driver
    /// sees oversized frames and closes them with 1009 itself, yet bounded.
    pub fn library_message_limit(&self) -> usize {
        self.max_inbound_frame_bytes
            .saturating_mul(8)
            .max(64 * 1024)
    }
}

impl Default for SocketSettings {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(45),
            idle_timeout: Duration::from_secs(120),
            max_inbound_frame_bytes: 8 * 1024,
            send_timeout: Duration::from_secs(10),
            token_recheck: None,
        }
    }
}

/// A frame received from the client, as the driver needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFrame {
    /// A text message.
    Text(String),
    /// A binary message (ignored), with its length.
    Binary(usize),
    /// A ping (the WebSocket library answers it); counts as activity.
    Ping,
    /// A pong; counts as activity.
    Pong,
    /// The client closes the socket.
    Close,
    /// The library refused a message over its size limit.
    TooLarge,
}

/// A frame for the frontend to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerFrame {
    /// An update, as a text message.
    Text(Frame),
    /// A heartbeat ping (empty payload).
    Ping,
    /// A close frame with its code and reason; the driver ends right after it.
    Close(CloseReason),
}

/// Why the server closes a socket; each maps to a WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// Nothing heard from the client within the idle timeout (1000).
    Idle,
    /// The server is shutting down (1001).
    GoingAway,
    /// An inbound frame exceeded the size limit (1009).
    TooLarge,
    /// The notification bus failed; the client should reconnect (1011).
    BusFailure,
    /// The client did not read its updates fast enough (1013).
    TooSlow,
    /// The update log could not be read for a replay (1011); the client should reconnect.
    LogUnavailable,
    /// The caller's token expired (4001); the client reconnects with a fresh token.
    TokenExpired,
    /// A re-check found the caller's token no longer active (4001).
    TokenRevoked,
}

impl CloseReason {
    /// The WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            Self::Idle => 1000,
            Self::GoingAway => 1001,
            Self::TooLarge => 1009,
            Self::BusFailure => 1011,
            Self::TooSlow => 1013,
            Self::LogUnavailable => 1011,
            Self::TokenExpired | Self::TokenRevoked => 4001,
        }
    }

    /// The close reason text.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Idle => "idle timeout",
            Self::GoingAway => "server shutting down",
            Self::TooLarge => "frame too large",
            Self::BusFailure => "notification bus failure, reconnect",
            Self::TooSlow => "client too slow, reconnect",
            Self::LogUnavailable => "update log unavailable, reconnect",
            Self::TokenExpired => "token expired",
            Self::TokenRevoked => "token revoked",
        }
    }
}

/// How a socket ended, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEnd {
    /// The client closed it or went away.
    ClientClosed,
    /// The server closed it with this reason.
    Closed(CloseReason),
    /// A send failed or timed out: the connection is dropped without a close frame.
    SendFailed,
}
