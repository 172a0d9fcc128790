//! Stopping sockets on shutdown, and waiting for them to finish closing.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// Starts a shutdown: open sockets close with 1001; then waits for them to finish closing.
#[derive(Debug)]
pub struct Shutdown {
    switch: watch::Sender<bool>,
    sockets: TaskTracker,
}

/// Resolves when shutdown starts, and keeps count of the sockets that must close first.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    switch: Option<watch::Receiver<bool>>,
    sockets: TaskTracker,
}

impl Shutdown {
    /// A new shutdown switch and its signal.
    pub fn new() -> (Self, ShutdownSignal) {
        let (switch, receiver) = watch::channel(false);
        let sockets = TaskTracker::new();
        (
            Self {
                switch,
                sockets: sockets.clone(),
            },
            ShutdownSignal {
                switch: Some(receiver),
                sockets,
            },
        )
    }

    /// Starts the shutdown (idempotent).
    pub fn trigger(&self) {
        self.switch.send_replace(true);
    }

    /// Waits up to `within` for every socket to finish its closing handshake; `false` if some
    /// were still open then. Call after [`trigger`](Self::trigger): a process that exits
    /// without waiting drops its sockets without their close frames.
    pub async fn sockets_closed(&self, within: Duration) -> bool {
        self.sockets.close();
        tokio::time::timeout(within, self.sockets.wait())
            .await
            .is_ok()
    }
}

impl ShutdownSignal {
    /// A signal that never fires, for hosts that stop sockets some other way.
    pub fn never() -> Self {
        Self {
            switch: None,
            sockets: TaskTracker::new(),
        }
    }

    /// Waits for the shutdown to start.
    pub async fn wait(self) {
        match self.switch {
            // An error means the switch was dropped without firing: stop as well.
            Some(mut receiver) => drop(receiver.wait_for(|started| *started).await),
            None => std::future::pending().await,
        }
    }

    /// Counts `socket` (the future running it) among those the shutdown waits for.
    pub fn track<F: Future>(&self, socket: F) -> impl Future<Output = F::Output> + use<F> {
        self.sockets.track_future(socket)
    }
}
