//! Getting committed updates to sockets: publishing after commit, the relay of stranded
//! updates, and the pruning of update logs.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::BoxService;
use crate::domain::{AddressedUpdate, SequencedUpdate};
use crate::error::Error;
use crate::ports::{BoxStore, Retention};

/// Writes "published" marks off the request path, in batches: each write takes everything that
/// queued up meanwhile, so under load one statement marks many updates. A mark that is late or
/// lost costs at most a second publish (sockets drop duplicates by position); the relay flushes
/// the queue before it looks for stranded updates.
#[derive(Debug)]
pub(crate) struct MarkQueue {
    sender: mpsc::UnboundedSender<MarkRequest>,
}

#[derive(Debug)]
enum MarkRequest {
    Published(Vec<(Uuid, u64)>),
    Flush(oneshot::Sender<()>),
}

impl MarkQueue {
    /// Starts the writer; it ends when the queue is dropped, after writing what is queued.
    pub(crate) fn start(store: Arc<dyn BoxStore>) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let (mut batch, mut waiting) = (Vec::new(), Vec::new());
                let mut request = Some(first);
                while let Some(next) = request {
                    match next {
                        MarkRequest::Published(marks) => batch.extend(marks),
                        MarkRequest::Flush(done) => waiting.push(done),
                    }
                    request = receiver.try_recv().ok();
                }
                if !batch.is_empty()
                    && let Err(error) = store.mark_published(&batch).await
                {
                    tracing::warn!(%error, count = batch.len(), "could not mark updates published; the relay will publish them again");
                }
                for done in waiting {
                    let _ = done.send(());
                }
            }
        });
        Self { sender }
    }

    fn mark(&self, published: Vec<(Uuid, u64)>) {
        let _ = self.sender.send(MarkRequest::Published(published));
    }

    async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.sender.send(MarkRequest::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }
}

/// How many log entries the relay reads at a time.
const RELAY_BATCH: usize = 500;

/// The background work of a server: relaying stranded updates and pruning the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// How often to look for stranded updates.
    pub relay_every: Duration,
    /// How old an unpublished update must be to count as stranded (younger ones are still
    /// being published by the request that committed them).
    pub relay_after: TimeDelta,
    /// How often to prune.
    pub prune_every: Duration,
    /// What the logs keep.
    pub retention: Retention,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            relay_every: Duration::from_secs(1),
            relay_after: TimeDelta::seconds(2),
            prune_every: Duration::from_secs(60),
            retention: Retention {
                max_per_identity: 10_000,
                max_age: TimeDelta::days(30),
            },
        }
    }
}

impl BoxService {
    /// Publishes ephemeral updates (no position, not kept: the `ack` echo, or an embedding
    /// application's own notices). A failure is logged; returns how many failed.
    pub async fn publish_committed(&self, updates: &[AddressedUpdate]) -> usize {
        let mut failed = 0;
        for AddressedUpdate { recipient, update } in updates {
            if let Err(error) = self
                .ports()
                .bus
                .publish(*recipient, &update.to_frame())
                .await
            {
                failed += 1;
                tracing::warn!(%recipient, update = update.kind.as_str(), %error, "live delivery failed");
            }
        }
        failed
    }

    /// Publishes durable updates already committed to their logs, and queues "published" marks
    /// for those that went out. One that fails stays unpublished: the relay
    /// ([`relay_stranded`](Self::relay_stranded)) sends it later, and resuming sockets replay
    /// it from the log; nothing is undone. Returns how many failed.
    pub async fn publish_sequenced(&self, updates: &[SequencedUpdate]) -> usize {
        let mut published = Vec::with_capacity(updates.len());
        for update in updates {
            match self
                .ports()
                .bus
                .publish(update.recipient, &update.to_frame())
                .await
            {
                Ok(()) => published.push((update.recipient, update.seq)),
                Err(error) => tracing::warn!(
                    recipient = %update.recipient, seq = update.seq, %error,
                    "live delivery failed; the update is kept for the relay and for resuming sockets"
                ),
            }
        }
        let failed = updates.len() - published.len();
        if !published.is_empty() {
            self.marks().mark(published);
        }
        failed
    }

    /// Waits until every "published" mark queued so far is written.
    pub async fn flush_published_marks(&self) {
        self.marks().flush().await;
    }

    /// Publishes the updates committed more than `min_age` ago and still unpublished: left by
    /// a process that died between commit and publish, or by a broker outage. Any instance may
    /// run it; delivery is at least once, and sockets drop positions they already sent.
    /// Returns how many were published.
    pub async fn relay_stranded(&self, min_age: TimeDelta) -> Result<usize, Error> {
        // Marks still queued are not stranded updates.
        self.flush_published_marks().await;
        let before = self.ports().clock.now() - min_age;
        let mut total = 0;
        loop {
            let batch = self
                .ports()
                .store
                .unpublished_updates(before, RELAY_BATCH)
                .await?;
            let failed = self.publish_sequenced(&batch).await;
            total += batch.len() - failed;
            if failed > 0 || batch.len() < RELAY_BATCH {
                return Ok(total);
            }
        }
    }

    /// Removes update log entries beyond `retention`; returns how many went.
    pub async fn prune_updates(&self, retention: Retention) -> Result<u64, Error> {
        Ok(self
            .ports()
            .store
            .prune_updates(retention, self.ports().clock.now())
            .await?)
    }
}

impl BoxService {
    /// Runs [`relay_stranded`](Self::relay_stranded) and
    /// [`prune_updates`](Self::prune_updates) on their schedules until `shutdown`. Every
    /// instance may run it: relaying is at least once and sockets drop duplicates. Failures are
    /// logged and retried on the next round.
    pub async fn run_maintenance(
        &self,
        maintenance: Maintenance,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut relay = tokio::time::interval(maintenance.relay_every);
        let mut prune = tokio::time::interval(maintenance.prune_every);
        relay.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                // Relay before pruning when both are due: publish stranded updates before any
                // of them can be pruned.
                biased;
                () = &mut shutdown => return,
                _ = relay.tick() => match self.relay_stranded(maintenance.relay_after).await {
                    Ok(0) => {}
                    Ok(relayed) => tracing::info!(relayed, "published stranded updates"),
                    Err(error) => tracing::warn!(%error, "relay of stranded updates failed"),
                },
                _ = prune.tick() => match self.prune_updates(maintenance.retention).await {
                    Ok(removed) => tracing::debug!(removed, "pruned update logs"),
                    Err(error) => tracing::warn!(%error, "pruning update logs failed"),
                },
            }
        }
    }
}
