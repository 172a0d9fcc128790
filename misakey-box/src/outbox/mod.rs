//! The outbox: how a committed update reaches every socket of its recipient, even when a
//! publish fails or an instance dies between commit and publish.
//!
//! The timeline of one durable update:
//!
//! 1. A use case enters this instance's publish ledger with its `created_at`, then commits
//!    its rows and the update in one transaction: the update gets the next position of its
//!    recipient's log ([`crate::ports::BoxStore`]).
//! 2. After the commit, it publishes the update on the [bus](crate::ports::NotificationBus)
//!    and leaves the ledger. A failed or cancelled publish leaves a relay window behind.
//! 3. Every second, [`Running`]'s background task beats: it republishes that window from the
//!    log ([`BoxService::relay_stranded`]), writes this instance's checkpoint (everything it
//!    committed before that time is published), and takes over instances whose beat is older
//!    than the lease, relaying their logs from their last checkpoint.
//! 4. Sockets drop positions they already sent (delivery is at least once) and fill gaps from
//!    the log; a client that was away resumes with `?since=N`.
//! 5. Every minute the logs are pruned to their retention; at shutdown the instance relays
//!    what is left and leaves the publishers' table.
//!
//! Ephemeral updates (the `ack` echo) skip all of this: [`BoxService::publish_ephemeral`].
//! The store side of the log lives with each store (for sea-orm: `storage::update_log`).

mod delivery;
pub(crate) mod ledger;

use std::time::Duration;

pub use delivery::Maintenance;
pub(crate) use ledger::PublishLedger;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::socket::Shutdown;
use crate::{BoxService, Config, Ports};

/// The background work of a started [`BoxService`]: the outbox's beat, relay and pruning, and
/// the switch that closes its sockets.
///
/// Keep it until the server stops, then call [`shutdown`](Self::shutdown). Dropping it stops
/// the same way without waiting: every socket closes with 1001 at once and the outbox hands
/// over to the other instances.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let bed = misakey_box_testkit::TestBed::new();
/// # let (ports, config) = (bed.service.ports().clone(), bed.service.config().clone());
/// let (service, running) = misakey_box::BoxService::start(ports, config).await;
/// // ... serve `service` until the server stops accepting requests, then:
/// assert!(running.shutdown(std::time::Duration::from_secs(10)).await);
/// # }
/// ```
///
/// A server that forgets the handle does not compile with warnings denied:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let bed = misakey_box_testkit::TestBed::new();
/// # let (ports, config) = (bed.service.ports().clone(), bed.service.config().clone());
/// misakey_box::BoxService::start(ports, config).await;
/// # }
/// ```
#[derive(Debug)]
#[must_use = "dropping it stops the outbox and closes every socket: keep it until the server stops"]
pub struct Running {
    sockets: Shutdown,
    stop_maintenance: Option<oneshot::Sender<()>>,
    maintenance: Option<JoinHandle<()>>,
}

impl BoxService {
    /// Starts a service on `ports` with `config`: beats once (taking over the updates stranded
    /// by instances that died, this one's previous run included), then runs the outbox
    /// maintenance of [`Config::maintenance`] in a background task until the returned handle
    /// shuts down. Needs a tokio runtime.
    #[must_use = "the handle runs the outbox and closes the sockets: keep it until the server stops"]
    pub async fn start(ports: Ports, config: Config) -> (BoxService, Running) {
        let (sockets, signal) = Shutdown::new();
        let maintenance = config.maintenance;
        let service = BoxService::assemble(ports, config, signal);
        // The first beat precedes the first request: a crash after any commit finds this
        // instance in the publishers' table.
        if let Err(error) = service.relay_stranded(&maintenance).await {
            tracing::warn!(%error, "first publisher beat failed; maintenance retries it");
        }
        let (stop_maintenance, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let service = service.clone();
            async move {
                service
                    .run_maintenance(maintenance, async move { drop(stopped.await) })
                    .await;
            }
        });
        let running = Running {
            sockets,
            stop_maintenance: Some(stop_maintenance),
            maintenance: Some(task),
        };
        (service, running)
    }
}

impl Running {
    /// Closes every socket with 1001 now (idempotent); requests keep being served. Call it
    /// when your server stops accepting connections.
    pub fn close_sockets(&self) {
        self.sockets.trigger();
    }

    /// Closes every socket with 1001 and waits up to `within` for their closing handshakes,
    /// then stops the maintenance (a last relay, then this instance leaves the publishers'
    /// table) and waits for it. Returns `false` if some sockets were still open after
    /// `within`. Call it once requests have drained: requests still answering publish while
    /// this instance is still a live publisher.
    pub async fn shutdown(mut self, within: Duration) -> bool {
        self.sockets.trigger();
        let closed = self.sockets.sockets_closed(within).await;
        if let Some(stop) = self.stop_maintenance.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.maintenance.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "the outbox maintenance task failed");
        }
        closed
    }
}
