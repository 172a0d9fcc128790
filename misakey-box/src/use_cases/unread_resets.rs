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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::BoxService;
use crate::error::StoreError;
use crate::ports::{Change, ChangeSet};

/// Most counts reset by one transaction (rows per batch, like the group commit's).
const MAX_RESETS_PER_BATCH: usize = 2_000;

/// Pauses before the second and third attempt of a failed batch.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(500)];

type Waiter = oneshot::Sender<Result<(), StoreError>>;

/// Resets waiting to be written, by identity and box, each with the acks waiting for it.
#[derive(Debug, Default)]
pub(crate) struct UnreadResets {
    waiting: Mutex<HashMap<(Uuid, Uuid), Vec<Waiter>>>,
    /// A writer task is on its way or running: acks arriving meanwhile only queue (a task per
    /// ack would mean thousands of tasks a second taking turns for nothing).
    scheduled: AtomicBool,
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
        let (waiter, durable) = oneshot::channel();
        self.unread_resets()
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((identity_id, box_id))
            .or_default()
            .push(waiter);
        // Written by a task of its own, which outlives an ack whose socket closes meanwhile.
        if !self.unread_resets().scheduled.swap(true, Ordering::AcqRel) {
            let service = self.clone();
            tokio::spawn(async move { service.run_reset_writer().await });
        }
        durable
            .await
            .unwrap_or_else(|_| Err(StoreError::backend("the unread-count writer stopped")))
    }

    /// The writer task: writes until nothing waits, then stands down, unless a reset arrived
    /// between its last look and standing down (then it goes on: no reset is left without a
    /// writer).
    async fn run_reset_writer(&self) {
        let resets = self.unread_resets();
        loop {
            self.write_waiting_resets().await;
            resets.scheduled.store(false, Ordering::Release);
            let empty = resets
                .waiting
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if empty || resets.scheduled.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// Writes every reset waiting now (a stopping server calls it last).
    pub(crate) async fn write_waiting_resets(&self) {
        let resets = self.unread_resets();
        let _turn = resets.writing.lock().await;
        loop {
            let batch: Vec<((Uuid, Uuid), Vec<Waiter>)> = {
                let mut waiting = resets
                    .waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let keys: Vec<(Uuid, Uuid)> =
                    waiting.keys().take(MAX_RESETS_PER_BATCH).copied().collect();
                keys.into_iter()
                    .filter_map(|key| waiting.remove_entry(&key))
                    .collect()
            };
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
                for waiter in waiters {
                    let _ = waiter.send(written.clone());
                }
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
