//! Resetting unread counts for acks. A client acks each time it shows a box, so acks come by
//! the thousand per second, mostly for counts already at zero. Resets wait here briefly: those
//! of one identity and box coalesce, and the ones waiting are written together, as one change
//! set (one transaction, a few statements; resetting a count already at zero writes no row).
//! Each ack's echo waits until its reset is durable; the socket that received the ack goes on
//! reading meanwhile (the driver keeps its acks in flight beside its loop).
//!
//! Most acks do not even get that far: each socket knows which of its identity's counts may be
//! above zero ([`SocketUnread`]), and an ack for any other box is echoed at once, writing and
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

/// What one socket knows of its identity's unread counts: the boxes whose count may be above
/// zero. It reads them from the store once, after subscribing to the identity's updates; from
/// then on every count that grows does so with an `event.new` of its box reaching the socket
/// (the socket notes each one, live or read from the log, before sending it), and a reset the
/// socket wrote takes its box off again unless an event of that box came meanwhile.
///
/// An ack for a box not listed resets nothing: its count was zero when the socket last heard of
/// the box. An event committed elsewhere and not yet delivered to this socket is after the ack,
/// as the client saw it on this socket; its count stays up for the next ack.
#[derive(Debug, Default)]
pub(crate) struct SocketUnread {
    /// `None` until read from the store, or once more than [`MAX_LISTED_BOXES`]: every ack
    /// writes then.
    boxes: Mutex<Option<MaybeUnread>>,
}

/// Most boxes a socket lists; past it, the socket drops the list and every ack of it writes,
/// so that a socket's memory stays bounded whatever its identity's boxes.
pub(crate) const MAX_LISTED_BOXES: usize = 1_000;

#[derive(Debug, Default)]
struct MaybeUnread {
    /// Box, and the number of the event that listed it last.
    boxes: HashMap<Uuid, u64>,
    events: u64,
}

/// What an ack needs written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetNeeded {
    /// Nothing: the count is known to be zero.
    No,
    /// A reset; once written, [`SocketUnread::reset_written`] with this mark.
    Yes(Option<u64>),
}

impl SocketUnread {
    /// The identity's boxes with unread events, as the store had them after the socket
    /// subscribed.
    pub(crate) fn read(&self, boxes: Vec<Uuid>) {
        *self.lock() = (boxes.len() <= MAX_LISTED_BOXES).then(|| MaybeUnread {
            boxes: boxes.into_iter().map(|box_id| (box_id, 0)).collect(),
            events: 0,
        });
    }

    /// An event of `box_id` reached the socket: the count may have grown.
    pub(crate) fn event_in(&self, box_id: Uuid) {
        let mut known = self.lock();
        if let Some(listed) = known.as_mut() {
            listed.events += 1;
            listed.boxes.insert(box_id, listed.events);
            if listed.boxes.len() > MAX_LISTED_BOXES {
                *known = None;
            }
        }
    }

    /// Whether an ack for `box_id` must write a reset.
    pub(crate) fn reset_needed(&self, box_id: Uuid) -> ResetNeeded {
        match self.lock().as_ref() {
            None => ResetNeeded::Yes(None),
            Some(known) => match known.boxes.get(&box_id) {
                Some(&event) => ResetNeeded::Yes(Some(event)),
                None => ResetNeeded::No,
            },
        }
    }

    /// The reset of `box_id` asked with `mark` is durable: the count is zero unless an event
    /// of the box reached the socket since.
    pub(crate) fn reset_written(&self, box_id: Uuid, mark: Option<u64>) {
        if let (Some(known), Some(mark)) = (self.lock().as_mut(), mark)
            && known.boxes.get(&box_id) == Some(&mark)
        {
            known.boxes.remove(&box_id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MaybeUnread>> {
        self.boxes.lock().unwrap_or_else(PoisonError::into_inner)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn box_id(n: usize) -> Uuid {
        Uuid::from_u128(n as u128 + 1)
    }

    #[test]
    fn a_socket_lists_the_boxes_read_and_those_its_events_name() {
        let unread = SocketUnread::default();
        assert_eq!(
            unread.reset_needed(box_id(0)),
            ResetNeeded::Yes(None),
            "not read yet"
        );
        unread.read(vec![box_id(0)]);
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::Yes(Some(0)));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::No);
        unread.event_in(box_id(1));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::Yes(Some(1)));
        unread.reset_written(box_id(0), Some(0));
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::No);
    }

    #[test]
    fn past_the_limit_a_socket_lists_nothing_and_every_ack_writes() {
        let too_many = SocketUnread::default();
        too_many.read((0..=MAX_LISTED_BOXES).map(box_id).collect());
        assert_eq!(too_many.reset_needed(box_id(0)), ResetNeeded::Yes(None));
        assert_eq!(
            too_many.reset_needed(box_id(MAX_LISTED_BOXES + 5)),
            ResetNeeded::Yes(None)
        );

        let growing = SocketUnread::default();
        growing.read((0..MAX_LISTED_BOXES).map(box_id).collect());
        assert_eq!(
            growing.reset_needed(box_id(MAX_LISTED_BOXES)),
            ResetNeeded::No
        );
        growing.event_in(box_id(MAX_LISTED_BOXES));
        assert_eq!(
            growing.reset_needed(box_id(MAX_LISTED_BOXES + 1)),
            ResetNeeded::Yes(None),
            "one box too many: the list is dropped"
        );
    }
}
