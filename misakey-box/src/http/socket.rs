//! The WebSocket handshake of `GET /box-users/{id}/ws`: decided here, upgraded by the
//! frontend, run by [`crate::socket::run_socket`].

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use futures::{FutureExt as _, Sink, Stream};
use http::Response;
use http::request::Parts;

use super::{HttpApi, error_response, rules};
use crate::Caller;
use crate::error::Error;
use crate::socket::{
    AcceptedSocket, ClientFrame, ServerFrame, ShutdownSignal, SocketEnd, SocketSettings, SocketSlot,
};

/// An authorised WebSocket handshake whose caller is already subscribed: what a frontend
/// upgrades and then [`run`](Self::run)s.
#[derive(Debug)]
#[must_use = "upgrade the connection and run the socket, or answer `refuse()`"]
pub struct SocketUpgrade {
    // Some frameworks want the upgrade callback `Sync`; a subscription is only `Send`.
    socket: Mutex<AcceptedSocket>,
    settings: SocketSettings,
    shutdown: ShutdownSignal,
    /// Counts the socket among its identity's until it ends.
    slot: SocketSlot,
}

/// Checks after authorisation, in the documented order: `Origin`, `since`, an upgrade
/// request, a free slot among the identity's sockets; then subscribes before the 101, so that
/// nothing published after it is missed.
pub(super) async fn handshake(
    api: &HttpApi,
    caller: Caller,
    parts: &Parts,
) -> Result<SocketUpgrade, Error> {
    rules::check_origin(
        parts
            .headers
            .get(http::header::ORIGIN)
            .map(|value| value.as_bytes()),
        &api.settings().allowed_origins,
    )?;
    let since = rules::since_from_query(parts.uri.query())?;
    if !rules::asks_for_websocket(&parts.headers) {
        return Err(rules::websocket_upgrade_required());
    }
    let limit = api.settings().max_sockets_per_identity;
    let slot = api
        .service()
        .socket_slots()
        .take(caller.identity_id, limit)
        .ok_or_else(|| rules::too_many_sockets(limit))?;
    let mut session = api.service().socket_session(&caller);
    if api.settings().socket.token_recheck.is_some() {
        let cookies = rules::Cookies::from_headers(&parts.headers);
        if let Some(token) = cookies.credentials().access_token {
            session = session.rechecking(token);
        }
    }
    let subscription = session.subscribe().await?;
    let settings = api.settings().socket;
    Ok(SocketUpgrade {
        socket: Mutex::new(AcceptedSocket {
            session,
            subscription,
            since,
            settings,
        }),
        settings,
        shutdown: api.service().shutdown_signal().clone(),
        slot,
    })
}

impl SocketUpgrade {
    /// Timers and limits of the socket: size the WebSocket library with
    /// [`SocketSettings::READ_BUFFER_BYTES`], [`SocketSettings::MAX_WRITE_BUFFER_BYTES`], no
    /// write buffering, and [`SocketSettings::library_message_limit`] for messages and frames.
    pub fn settings(&self) -> &SocketSettings {
        &self.settings
    }

    /// The answer when the framework will not upgrade the connection (a handshake it finds
    /// incomplete): 400, in the error format. The subscription ends here.
    pub fn refuse(self) -> Response<Bytes> {
        error_response(&rules::websocket_upgrade_required())
    }

    /// Runs the upgraded socket until it ends (see [`crate::socket::run_socket`]): `incoming`
    /// is what the client sends, `outgoing` takes what the server sends. The server's shutdown
    /// closes it with 1001 and waits for it.
    // Not an `async fn`: an async body keeps the space of what it moves on to the socket's
    // future (this upgrade, about 300 bytes) for as long as the socket is open.
    pub fn run<I, O>(self, incoming: I, outgoing: O) -> impl Future<Output = SocketEnd> + use<I, O>
    where
        I: Stream<Item = ClientFrame> + Unpin,
        O: Sink<ServerFrame> + Unpin,
    {
        let Self {
            socket,
            shutdown,
            slot: held_until_the_socket_ends,
            ..
        } = self;
        let socket = socket.into_inner().unwrap_or_else(PoisonError::into_inner);
        let socket = crate::socket::run_socket(socket, incoming, outgoing, shutdown.clone().wait());
        shutdown.track(socket).map(move |end| {
            drop(held_until_the_socket_ends);
            tracing::debug!(?end, "socket ended");
            end
        })
    }
}
