//! SQLite checkpoints after the writers' turn rather than inside it.
//!
//! With SQLite's automatic checkpoints, the commit that takes the write-ahead log past its
//! threshold then copies the log back into the database file and flushes it, `fsync`
//! included, before its writer is done: every transaction queued behind it waits, and those
//! waits were the tail of a box event's latency. The storage raises SQLite's threshold far
//! above its own and, once the batches it committed since the last checkpoint reach
//! [`CHECKPOINT_AFTER_ROWS`] rows or [`CHECKPOINT_AFTER_COMMITS`] commits, starts a passive
//! checkpoint on a pooled connection of its own task: it never makes a writer wait, and a
//! server that writes nothing never checkpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use sea_orm::{ConnectionTrait as _, DatabaseConnection};

/// Rows committed (a box event to 1,000 members is about 3,000) after which a checkpoint
/// starts: about as many pages as SQLite's own threshold in the configuration before.
pub(super) const CHECKPOINT_AFTER_ROWS: usize = 10_000;

/// Commits after which a checkpoint starts, whatever their rows (a small transaction still
/// writes a page of each table it touches).
pub(super) const CHECKPOINT_AFTER_COMMITS: usize = 500;

/// SQLite's own threshold, in pages (80 MiB of log): a backstop for the writes the storage
/// does not count (heartbeats, pruning, fixtures) and for a log that passive checkpoints never
/// catch up with, above what the counted writes reach between two checkpoints (a fan-out run
/// at 10 to 30 box events per second ended with 30 MiB of log).
pub(super) const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 20_000;

/// What was committed since the last checkpoint of one SQLite file, shared by the storage's
/// clones.
#[derive(Debug, Default)]
pub(super) struct Checkpoints {
    rows: AtomicUsize,
    commits: AtomicUsize,
    running: Arc<AtomicBool>,
}

impl Checkpoints {
    /// Counts a commit of `rows` rows; starts a checkpoint on `db` if one is due and none is
    /// running. Returns whether it started one.
    pub(super) fn committed(&self, db: &DatabaseConnection, rows: usize) -> bool {
        let rows = self.rows.fetch_add(rows, Ordering::Relaxed) + rows;
        let commits = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if rows < CHECKPOINT_AFTER_ROWS && commits < CHECKPOINT_AFTER_COMMITS {
            return false;
        }
        if self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.rows.store(0, Ordering::Relaxed);
        self.commits.store(0, Ordering::Relaxed);
        let (db, running) = (db.clone(), self.running.clone());
        tokio::spawn(async move {
            // A failed checkpoint loses nothing (the log keeps the pages, and the next one
            // copies them); if they keep failing, SQLite's backstop takes over.
            if let Err(error) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::warn!(%error, "SQLite checkpoint failed");
            }
            running.store(false, Ordering::Release);
        });
        true
    }
}
