//! SQLite checkpoints off the writers' turn.
//!
//! With SQLite's automatic checkpoints, the commit that takes the write-ahead log past its
//! threshold then copies the log back into the database file and flushes it, `fsync`
//! included, before its writer is done: every transaction queued behind it waits, and those
//! waits are the tail of a box event's latency (measured: a fan-out to 1,000 members at 10
//! messages/s, p99 75 and 83 ms with automatic checkpoints, 58 and 57 ms with this task). The
//! storage turns them off on a SQLite file and checkpoints from a task of its own instead, with
//! passive checkpoints, which never make a writer wait.

use std::time::Duration;

use sea_orm::{ConnectionTrait as _, DatabaseConnection};
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

/// How often the write-ahead log is copied back into the database file.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// The checkpointing task of one SQLite file; it stops when this is dropped (with the last
/// clone of the storage).
#[derive(Debug)]
pub(super) struct Checkpointer {
    task: AbortHandle,
}

impl Checkpointer {
    /// Starts checkpointing `db` every [`CHECKPOINT_EVERY`].
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                // A failed checkpoint loses nothing (the log keeps the pages, and the next one
                // copies them); one that keeps failing lets the log file grow.
                if let Err(error) = db
                    .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                    .await
                {
                    tracing::warn!(%error, "SQLite checkpoint failed");
                }
            }
        });
        Self {
            task: task.abort_handle(),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
