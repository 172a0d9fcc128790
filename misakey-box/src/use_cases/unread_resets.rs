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
/// zero. The socket's first ack reads them from the store (the socket is subscribed by then);
/// from then on every count that grows does so with an `event.new` of its box reaching the
/// socket (the socket notes each one, live or read from the log, before sending it, and those
/// noted while the read is under way), and a reset the socket wrote takes its box off again
/// unless an event of that box came meanwhile. An event delivered before the read began was
/// committed before it: the read sees its count.
///
/// An ack for a box not listed resets nothing: its count was zero when the socket last heard of
/// the box. An event committed elsewhere and not yet delivered to this socket is after the ack,
/// as the client saw it on this socket; its count stays up for the next ack.
#[derive(Debug, Default)]
pub(crate) struct SocketUnread {
    listing: Mutex<Listing>,
}

/// Most boxes a socket lists; past it, the socket drops the list for good and every ack of it
/// writes, so that a socket's memory stays bounded whatever its identity's boxes.
pub(crate) const MAX_LISTED_BOXES: usize = 1_000;

#[derive(Debug, Default)]
enum Listing {
    /// The session is not subscribed: nothing tells it of events, every ack writes.
    #[default]
    Off,
    /// Subscribed; the list is read at the first ack (a socket that never acks reads nothing).
    Unread,
    /// Being read: the boxes of the events noted meanwhile.
    Reading(MaybeUnread),
    /// Read: the boxes whose count may be above zero.
    Listed(MaybeUnread),
    /// More than [`MAX_LISTED_BOXES`]: every ack writes.
    TooMany,
}

#[derive(Debug, Default)]
struct MaybeUnread {
    /// Box, and the number of the event that listed it last (0: listed by the read).
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
    /// The session is subscribed to its identity's updates: events reach it from now on.
    pub(crate) fn subscribed(&self) {
        let mut listing = self.lock();
        if matches!(*listing, Listing::Off) {
            *listing = Listing::Unread;
        }
    }

    /// Whether the caller is to read the list now (and then hand it to [`Self::read`]).
    pub(crate) fn begin_read(&self) -> bool {
        let mut listing = self.lock();
        let first = matches!(*listing, Listing::Unread);
        if first {
            *listing = Listing::Reading(MaybeUnread::default());
        }
        first
    }

    /// The identity's boxes with unread events, read after [`Self::begin_read`] (`None`: the
    /// read failed, and the next ack tries again).
    pub(crate) fn read(&self, boxes: Option<Vec<Uuid>>) {
        let mut listing = self.lock();
        let Listing::Reading(noted) = std::mem::take(&mut *listing) else {
            return;
        };
        *listing = match boxes {
            None => Listing::Unread,
            Some(boxes) => {
                let mut listed = noted;
                for box_id in boxes {
                    listed.boxes.entry(box_id).or_insert(0);
                }
                Listing::Listed(listed).bounded()
            }
        };
    }

    /// An event of `box_id` reached the socket: the count may have grown.
    pub(crate) fn event_in(&self, box_id: Uuid) {
        let mut listing = self.lock();
        if let Listing::Reading(known) | Listing::Listed(known) = &mut *listing {
            known.events += 1;
            known.boxes.insert(box_id, known.events);
            *listing = std::mem::take(&mut *listing).bounded();
        }
    }

    /// Whether an ack for `box_id` must write a reset.
    pub(crate) fn reset_needed(&self, box_id: Uuid) -> ResetNeeded {
        match &*self.lock() {
            Listing::Listed(known) => match known.boxes.get(&box_id) {
                Some(&event) => ResetNeeded::Yes(Some(event)),
                None => ResetNeeded::No,
            },
            _ => ResetNeeded::Yes(None),
        }
    }

    /// The reset of `box_id` asked with `mark` is durable: the count is zero unless an event
    /// of the box reached the socket since.
    pub(crate) fn reset_written(&self, box_id: Uuid, mark: Option<u64>) {
        if let (Listing::Listed(known), Some(mark)) = (&mut *self.lock(), mark)
            && known.boxes.get(&box_id) == Some(&mark)
        {
            known.boxes.remove(&box_id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Listing> {
        self.listing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Listing {
    fn bounded(self) -> Self {
        match self {
            Listing::Reading(known) | Listing::Listed(known)
                if known.boxes.len() > MAX_LISTED_BOXES =>
            {
                Listing::TooMany
            }
            other => other,
        }
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

    fn listed(boxes: Vec<Uuid>) -> SocketUnread {
        let unread = SocketUnread::default();
        unread.subscribed();
        assert!(unread.begin_read());
        unread.read(Some(boxes));
        unread
    }

    #[test]
    fn a_socket_lists_the_boxes_read_and_those_its_events_name() {
        let unread = SocketUnread::default();
        assert!(!unread.begin_read(), "not subscribed: nothing to read");
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::Yes(None));
        let unread = listed(vec![box_id(0)]);
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::Yes(Some(0)));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::No);
        unread.event_in(box_id(1));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::Yes(Some(1)));
        unread.reset_written(box_id(0), Some(0));
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::No);
    }

    #[test]
    fn events_noted_during_the_read_are_listed_and_a_failed_read_is_tried_again() {
        let unread = SocketUnread::default();
        unread.subscribed();
        unread.event_in(box_id(9)); // before the read: the read sees its count
        assert!(unread.begin_read());
        assert!(!unread.begin_read(), "one read at a time");
        unread.event_in(box_id(1));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::Yes(None));
        unread.read(Some(vec![box_id(0)]));
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::Yes(Some(0)));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::Yes(Some(1)));
        assert_eq!(unread.reset_needed(box_id(9)), ResetNeeded::No);

        let failed = SocketUnread::default();
        failed.subscribed();
        assert!(failed.begin_read());
        failed.read(None);
        assert_eq!(failed.reset_needed(box_id(0)), ResetNeeded::Yes(None));
        assert!(failed.begin_read(), "read again at the next ack");
    }

    #[test]
    fn past_the_limit_a_socket_lists_nothing_and_every_ack_writes() {
        let too_many = listed((0..=MAX_LISTED_BOXES).map(box_id).collect());
        assert_eq!(too_many.reset_needed(box_id(0)), ResetNeeded::Yes(None));
        assert_eq!(
            too_many.reset_needed(box_id(MAX_LISTED_BOXES + 5)),
            ResetNeeded::Yes(None)
        );
        assert!(!too_many.begin_read(), "for good");

        let growing = listed((0..MAX_LISTED_BOXES).map(box_id).collect());
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
