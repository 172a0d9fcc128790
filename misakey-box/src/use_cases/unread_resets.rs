//! Resetting unread counts for acks. A client acks each time it shows a box, so acks come by
//! the thousand per second, mostly for counts already at zero. Resets wait here briefly: those
//! of one identity and box coalesce, and the ones waiting are written together, as one change
//! set (one transaction, a few statements; resetting a count already at zero writes no row).
//! Each ack's echo waits until its reset is durable; the socket that received the ack goes on
//! reading meanwhile (the driver keeps its acks in flight beside its loop).
//!
//! Most acks do not even get that far: each socket knows which of its identity's counts may be
//! above zero (`socket_unread`), and an ack for any other box is echoed at once, writing and
//! waiting for nothing.
//!
//! A failed write is retried twice (after 100 ms, then 500 ms); then the acks waiting for it
//! fail visibly (logged, no echo). Resets a socket left behind when it closed are written all
//! the same, and a stopping server writes what is still waiting before it stops.

use std::time::Duration;

use uuid::Uuid;

use super::waiting::{Waiting, answer_all};

use crate::BoxService;
use crate::error::StoreError;
use crate::ports::{Change, ChangeSet};

/// Most counts reset by one transaction (rows per batch, like the group commit's).
const MAX_RESETS_PER_BATCH: usize = 2_000;

/// Pauses before the second and third attempt of a failed batch.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(500)];

/// Resets waiting to be written, by identity and box, each with the acks waiting for it.
#[derive(Debug, Default)]
pub(crate) struct UnreadResets {
    waiting: Waiting<(Uuid, Uuid), Result<(), StoreError>>,
    /// One batch at a time: the next one forms while it is written.
    writing: tokio::sync::Mutex<()>,
}

impl BoxService {
    /// Sets `identity_id`'s unread count of `box_id` to zero, with the other resets waiting;
    /// resolves once it is durable (or failed after the retries).
    pub(crate) async fn reset_unread_count(
        &self,
        identity_id: Uuid,
        box_id: Uuid,
    ) -> Result<(), StoreError> {
        let (durable, start) = self.unread_resets().waiting.queue((identity_id, box_id));
        // Written by a task of its own, which outlives an ack whose socket closes meanwhile.
        if start {
            let service = self.clone();
            tokio::spawn(async move { service.run_reset_writer().await });
        }
        durable
            .await
            .unwrap_or_else(|_| Err(StoreError::backend("the unread-count writer stopped")))
    }

    /// The writer task: writes until nothing waits, then stands down.
    async fn run_reset_writer(&self) {
        loop {
            self.write_waiting_resets().await;
            if self.unread_resets().waiting.stand_down() {
                return;
            }
        }
    }

    /// Writes every reset waiting now (a stopping server calls it last).
    pub(crate) async fn write_waiting_resets(&self) {
        let resets = self.unread_resets();
        let _turn = resets.writing.lock().await;
        loop {
            let batch = resets.waiting.take(MAX_RESETS_PER_BATCH);
            if batch.is_empty() {
                return;
            }
            let changes = ChangeSet {
                changes: batch
                    .iter()
                    .map(|((identity_id, box_id), _)| Change::ResetUnreadCount {
                        identity_id: *identity_id,
                        box_id: *box_id,
                    })
                    .collect(),
                updates: Vec::new(),
                created_at: self.ports().clock.now(),
            };
            let written = self.commit_with_retries(&changes).await;
            if let Err(error) = &written {
                tracing::error!(%error, resets = batch.len(), "unread counts not reset; their acks get no echo");
            }
            for (_, waiters) in batch {
                answer_all(waiters, &written);
            }
        }
    }

    async fn commit_with_retries(&self, changes: &ChangeSet) -> Result<(), StoreError> {
        let mut written = self.ports().store.commit(changes).await.map(drop);
        for pause in RETRY_PAUSES {
            let Err(error) = &written else { break };
            tracing::warn!(%error, "resetting unread counts failed; retrying");
            tokio::time::sleep(pause).await;
            written = self.ports().store.commit(changes).await.map(drop);
        }
        written
    }
}
