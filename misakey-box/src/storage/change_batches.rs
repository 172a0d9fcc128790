//! Group commit: the change sets that arrive while one transaction is being written go
//! together into the next one.
//!
//! A transaction per change set spends most of its time on round trips and on the commit's
//! flush, and change sets for the same identity queue on its log position row until their
//! commit is flushed. Writing the change sets waiting at that moment in one transaction (one
//! statement per table, one flush) makes the queue a batch. Each change set still gets its own
//! answer: if the batch fails on a duplicate key share, its change sets are written again one by
//! one, so only the duplicate is refused.

use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

use super::box_store::insert_changes;
use super::{SeaOrmStorage, store_error};
use crate::domain::SequencedUpdate;
use crate::error::StoreError;
use crate::ports::ChangeSet;

/// Batches written at once on PostgreSQL. Measured with 16 concurrent callers: one writer
/// alone is far slower than a transaction per contact, two to six are faster, four leaves
/// most of a default pool (10 connections) to reads.
pub(super) const POSTGRES_WRITERS: usize = 4;

/// At most this many change sets per transaction.
const MAX_BATCH: usize = 64;

/// A batch takes no more change sets once it holds this many rows (changes and updates): an
/// event reaching a thousand members is a thousand log entries and unread counts on its own.
const MAX_BATCH_ROWS: usize = 20_000;

type Answer = Result<Vec<SequencedUpdate>, StoreError>;

/// Change sets waiting for a transaction, and the turn to write one.
#[derive(Debug)]
pub(super) struct ChangeBatches {
    waiting: Mutex<Vec<(ChangeSet, oneshot::Sender<Answer>)>>,
    /// Batches written at once: the next ones form while these are written.
    writers: tokio::sync::Semaphore,
}

impl ChangeBatches {
    /// `writers` batches at a time: one on SQLite, which writes one transaction at a time
    /// anyway; a few on PostgreSQL, whose transactions share flushes when they commit together.
    pub(super) fn new(writers: usize) -> Self {
        Self {
            waiting: Mutex::default(),
            writers: tokio::sync::Semaphore::new(writers),
        }
    }
}

impl SeaOrmStorage {
    /// Commits `changes` in the next batch and waits for its answer.
    pub(super) async fn commit_in_a_batch(&self, changes: &ChangeSet) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.batches
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((changes.clone(), answer));
        // Written by a task of its own: a request cancelled while it waits must not take the
        // batch, and the other requests' changes, down with it.
        let storage = self.clone();
        tokio::spawn(async move { storage.write_waiting_changes().await });
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::backend("the batch writer stopped")))
    }

    /// Writes the change sets waiting now, if another writer has not taken them already.
    async fn write_waiting_changes(&self) {
        let Ok(_turn) = self.batches.writers.acquire().await else {
            return;
        };

        loop {
            let batch: Vec<_> = {
                let mut waiting = self
                    .batches
                    .waiting
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                // At least one change set, however large; then as many as fit.
                let mut rows = 0;
                let take = waiting
                    .iter()
                    .take(MAX_BATCH)
                    .take_while(|(changes, _)| {
                        rows += changes.changes.len() + changes.updates.len();
                        rows <= MAX_BATCH_ROWS
                    })
                    .count()
                    .max(1)
                    .min(waiting.len());
                waiting.drain(..take).collect()
            };
            if batch.is_empty() {
                return;
            }
            self.write_batch(batch).await;
        }
    }

    async fn write_batch(&self, batch: Vec<(ChangeSet, oneshot::Sender<Answer>)>) {
        let sets: Vec<&ChangeSet> = batch.iter().map(|(changes, _)| changes).collect();
        match self.commit_in_one_transaction(&sets).await {
            Ok(answers) => {
                for ((_, answer), sequenced) in batch.into_iter().zip(answers) {
                    let _ = answer.send(Ok(sequenced));
                }
            }
            Err(StoreError::KeyShareConflict | StoreError::Conflict | StoreError::NotFound)
                if batch.len() > 1 =>
            {
                // Nothing was written: each change set alone, so that only the change sets at
                // fault (a duplicate key share or member, a row gone) fail.
                for (changes, answer) in batch {
                    let alone = self
                        .commit_in_one_transaction(&[&changes])
                        .await
                        .map(|mut answers| answers.pop().unwrap_or_default());
                    let _ = answer.send(alone);
                }
            }
            Err(error @ StoreError::Unavailable(_)) => {
                // The database cannot be reached: the change sets waiting behind this batch
                // would wait for their own attempt to fail in turn. Answer them now, so that no
                // request waits much longer than one acquire timeout during an outage.
                let waiting: Vec<_> = std::mem::take(
                    &mut *self
                        .batches
                        .waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner),
                );
                for (_, answer) in batch.into_iter().chain(waiting) {
                    let _ = answer.send(Err(error.clone()));
                }
            }
            Err(error) => {
                for (_, answer) in batch {
                    let _ = answer.send(Err(error.clone()));
                }
            }
        }
    }

    async fn commit_in_one_transaction(
        &self,
        sets: &[&ChangeSet],
    ) -> Result<Vec<Vec<SequencedUpdate>>, StoreError> {
        use sea_orm::TransactionTrait as _;
        let _turn = self.write_turn().await;
        let txn = self.db.begin().await.map_err(store_error)?;
        // On error the transaction is dropped, which rolls it back.
        let sequenced = insert_changes(&txn, sets).await?;
        txn.commit().await.map_err(store_error)?;
        if let Some(checkpoints) = &self.checkpoints {
            let rows = sets
                .iter()
                .map(|changes| changes.changes.len() + changes.updates.len())
                .sum();
            checkpoints.committed(&self.db, rows);
        }
        Ok(sequenced)
    }
}
