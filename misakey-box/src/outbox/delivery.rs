//! Getting committed updates to sockets: publishing after commit, the relay of stranded
//! updates, and the pruning of update logs.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::ledger::{InFlightContact, PublishLedger};
use crate::BoxService;
use crate::domain::{AddressedUpdate, Frame, SequencedUpdate, sequenced_frames};
use crate::error::Error;
use crate::ports::{LoggedUpdate, PublisherHeartbeat, Retention};

/// How many log entries the relay reads at a time.
const RELAY_BATCH: usize = 500;

/// The part of a relay window not yet republished, handed back to the ledger unless the relay
/// gets to the end.
struct UnfinishedWindow<'a> {
    ledger: &'a PublishLedger,
    from: Option<DateTime<Utc>>,
}

impl Drop for UnfinishedWindow<'_> {
    fn drop(&mut self) {
        if let Some(from) = self.from {
            self.ledger.note_unpublished(from);
        }
    }
}

/// The background work of a server: its publisher heartbeat, relaying stranded updates and
/// pruning the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Maintenance {
    /// How often to beat, and relay what this instance (or a dead one it took over) could not
    /// publish.
    pub relay_every: Duration,
    /// How long an instance may go without a beat before another one takes over its
    /// stranded updates.
    pub publisher_lease: TimeDelta,
    /// How far apart the clocks of two instances may be: a dead instance's updates are
    /// relayed from this long before its checkpoint.
    pub clock_tolerance: TimeDelta,
    /// How often to prune.
    pub prune_every: Duration,
    /// What the logs keep.
    pub retention: Retention,
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            relay_every: Duration::from_secs(1),
            publisher_lease: TimeDelta::seconds(15),
            clock_tolerance: TimeDelta::seconds(2),
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
    /// application's own notices), all in one go (see
    /// [`NotificationBus::publish_all`](crate::ports::NotificationBus::publish_all)). A
    /// failure is logged; returns how many may not have gone out (all of them after an error).
    pub async fn publish_ephemeral(&self, updates: &[AddressedUpdate]) -> usize {
        let frames: Vec<_> = updates
            .iter()
            .map(|AddressedUpdate { recipient, update }| (*recipient, update.to_frame()))
            .collect();
        self.publish_live(&frames, false).await
    }

    /// Publishes the durable updates of a committed change (a contact, a box event), all in
    /// one go. After a failure they stay in the log: the relay
    /// ([`relay_stranded`](Self::relay_stranded)) sends them again, and resuming sockets replay
    /// them; nothing is undone. Returns how many may not have gone out (all of them after an
    /// error).
    pub(crate) async fn publish_sequenced(
        &self,
        contact: InFlightContact,
        updates: &[SequencedUpdate],
    ) -> usize {
        let failed = self.publish_live(&sequenced_frames(updates), true).await;
        if failed == 0 {
            contact.settle();
        }
        failed
    }

    /// Publishes `frames` together; a failure is counted and logged (`durable`: the frames are
    /// kept in the log for the relay and for resuming sockets). Returns how many may not have
    /// gone out: none, or all of them.
    async fn publish_live(&self, frames: &[(Uuid, Frame)], durable: bool) -> usize {
        match self.ports().bus.publish_all(frames).await {
            Ok(()) => 0,
            Err(error) => {
                crate::metrics::bus_publish_failed(frames.len());
                tracing::warn!(
                    frames = frames.len(), durable, %error,
                    "live delivery failed; durable updates are kept for the relay and for resuming sockets"
                );
                frames.len()
            }
        }
    }

    /// One beat of this instance's publisher: republishes from the log what it could not
    /// publish (a failed or cancelled publish), records its checkpoint and takes over the
    /// instances whose lease expired (a process that died between commit and publish), then
    /// relays their stranded updates. Delivery is at least once: a relayed window may hold
    /// updates that went out already, and sockets drop positions they sent. Returns how many
    /// updates were relayed.
    pub async fn relay_stranded(&self, maintenance: &Maintenance) -> Result<usize, Error> {
        let ledger = self.ledger();
        let mut relayed = self.relay_window().await?;
        let adopted = self.beat(Some(maintenance.publisher_lease)).await?;
        if !adopted.is_empty() {
            tracing::info!(
                count = adopted.len(),
                "took over the stranded updates of stopped instances"
            );
            for published_before in adopted {
                ledger.note_unpublished(published_before - maintenance.clock_tolerance);
            }
            relayed += self.relay_window().await?;
        }
        if relayed > 0 {
            crate::metrics::relayed(relayed);
        }
        Ok(relayed)
    }

    /// Records this instance's heartbeat and checkpoint, taking over the publishers silent for
    /// longer than `lease` (none if `None`); returns the checkpoints taken over.
    async fn beat(&self, lease: Option<TimeDelta>) -> Result<Vec<DateTime<Utc>>, Error> {
        let (ledger, clock) = (self.ledger(), &*self.ports().clock);
        let now = clock.now();
        let published_before = ledger.published_before(ledger.horizon(clock));
        crate::metrics::unpublished_age((now - published_before).to_std().unwrap_or_default());
        Ok(self
            .ports()
            .publishers
            .publisher_heartbeat(PublisherHeartbeat {
                publisher: ledger.publisher(),
                published_before,
                now,
                expired_before: lease.map_or(DateTime::<Utc>::MIN_UTC, |lease| now - lease),
            })
            .await?)
    }

    /// Republishes the log from the ledger's relay window up to its horizon. Whatever is not
    /// done (a bus or store failure, or this future dropped) goes back to the ledger.
    async fn relay_window(&self) -> Result<usize, Error> {
        let (ledger, ports) = (self.ledger(), self.ports());
        let horizon = ledger.horizon(&*ports.clock);
        let Some(from) = ledger.take_relay_from(horizon) else {
            return Ok(0);
        };
        let mut unfinished = UnfinishedWindow {
            ledger,
            from: Some(from),
        };
        let (mut cursor, mut relayed) = (None, 0);
        loop {
            let batch = ports
                .log
                .updates_created_between(from, horizon, cursor, RELAY_BATCH)
                .await?;
            let frames: Vec<_> = batch
                .iter()
                .map(|logged| (logged.update.recipient, logged.update.to_frame()))
                .collect();
            if let Err(error) = ports.bus.publish_all(&frames).await {
                // The batch goes again from its start at the next beat (at least once).
                tracing::warn!(%error, relayed, "relay interrupted; it goes on at the next beat");
                return Ok(relayed);
            }
            relayed += batch.len();
            if let Some(last) = batch.last() {
                unfinished.from = Some(last.created_at);
            }
            if batch.len() < RELAY_BATCH {
                unfinished.from = None;
                return Ok(relayed);
            }
            cursor = batch.last().map(LoggedUpdate::cursor);
        }
    }

    /// Leaves the publishers' table when nothing is pending (a clean stop), or else records a
    /// last checkpoint for another instance to take over from.
    async fn retire_publisher(&self) -> Result<(), Error> {
        let ledger = self.ledger();
        self.relay_window().await?;
        if ledger.is_idle() {
            self.ports()
                .publishers
                .remove_publisher(ledger.publisher())
                .await?;
        } else {
            // Take over nobody on the way out.
            self.beat(None).await?;
        }
        Ok(())
    }

    /// Removes update log entries beyond `retention`; returns how many went.
    pub async fn prune_updates(&self, retention: Retention) -> Result<u64, Error> {
        Ok(self
            .ports()
            .log
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
                () = &mut shutdown => {
                    // Acks of the sockets just closed may still wait for their resets.
                    self.write_waiting_resets().await;
                    if let Err(error) = self.retire_publisher().await {
                        tracing::warn!(%error, "could not retire this publisher; another instance will take over its updates");
                    }
                    return;
                }
                _ = relay.tick() => match self.relay_stranded(&maintenance).await {
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
