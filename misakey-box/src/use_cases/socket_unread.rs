//! Which of its identity's unread counts a socket knows may be above zero, so that an ack for
//! any other box is echoed at once, writing and waiting for nothing; and the reads of those
//! lists, which the first acks of many sockets (a reconnect storm) share.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use super::waiting::{Waiting, answer_all};
use crate::BoxService;
use crate::error::StoreError;

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
    /// Being read: the boxes of the events noted meanwhile. (Boxed, like `Listed`, so that
    /// a socket that never acks carries a pointer's worth, not a map's.)
    Reading(Box<MaybeUnread>),
    /// Read: the boxes whose count may be above zero.
    Listed(Box<MaybeUnread>),
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
            *listing = Listing::Reading(Box::default());
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

    /// A frame reached the socket; `box_of` names the box if it is an event of one (the count
    /// may have grown). `box_of` runs only while the socket keeps a list: a socket that never
    /// acked does not search its frames for a box.
    pub(crate) fn frame_in(&self, box_of: impl FnOnce() -> Option<Uuid>) {
        let mut listing = self.lock();
        if let Listing::Reading(known) | Listing::Listed(known) = &mut *listing
            && let Some(box_id) = box_of()
        {
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

/// Most identities whose lists one query reads.
const MAX_LISTINGS_PER_READ: usize = 256;

/// Identities whose sockets wait for their lists, each with the sockets waiting.
#[derive(Debug, Default)]
pub(crate) struct UnreadListings {
    waiting: Waiting<Uuid, Result<Vec<Uuid>, StoreError>>,
}

impl BoxService {
    /// At most [`MAX_LISTED_BOXES`] + 1 of the identity's boxes with unread events, read with
    /// the lists other sockets wait for.
    pub(crate) async fn listed_unread_boxes(
        &self,
        identity_id: Uuid,
    ) -> Result<Vec<Uuid>, StoreError> {
        let (read, start) = self.unread_listings().waiting.queue(identity_id);
        if start {
            let service = self.clone();
            tokio::spawn(async move { service.run_listing_reader().await });
        }
        read.await
            .unwrap_or_else(|_| Err(StoreError::backend("the unread-box reader stopped")))
    }

    /// The reader task: reads until nothing waits, then stands down.
    async fn run_listing_reader(&self) {
        loop {
            self.read_waiting_listings().await;
            if self.unread_listings().waiting.stand_down() {
                return;
            }
        }
    }

    async fn read_waiting_listings(&self) {
        loop {
            let batch = self.unread_listings().waiting.take(MAX_LISTINGS_PER_READ);
            if batch.is_empty() {
                return;
            }
            let identities: Vec<Uuid> = batch.iter().map(|(identity, _)| *identity).collect();
            let read = self
                .ports()
                .boxes
                .unread_boxes(&identities, MAX_LISTED_BOXES as u64 + 1)
                .await;
            let mut lists: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
            if let Ok(pairs) = &read {
                for (identity, box_id) in pairs {
                    lists.entry(*identity).or_default().push(*box_id);
                }
            }
            for (identity, waiters) in batch {
                let list = match &read {
                    Ok(_) => Ok(lists.remove(&identity).unwrap_or_default()),
                    Err(error) => Err(error.clone()),
                };
                answer_all(waiters, &list);
            }
        }
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
        unread.frame_in(|| Some(box_id(1)));
        assert_eq!(unread.reset_needed(box_id(1)), ResetNeeded::Yes(Some(1)));
        unread.reset_written(box_id(0), Some(0));
        assert_eq!(unread.reset_needed(box_id(0)), ResetNeeded::No);
    }

    #[test]
    fn events_noted_during_the_read_are_listed_and_a_failed_read_is_tried_again() {
        let unread = SocketUnread::default();
        unread.subscribed();
        unread.frame_in(|| Some(box_id(9))); // before the read: the read sees its count
        assert!(unread.begin_read());
        assert!(!unread.begin_read(), "one read at a time");
        unread.frame_in(|| Some(box_id(1)));
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
        growing.frame_in(|| Some(box_id(MAX_LISTED_BOXES)));
        assert_eq!(
            growing.reset_needed(box_id(MAX_LISTED_BOXES + 1)),
            ResetNeeded::Yes(None),
            "one box too many: the list is dropped"
        );
    }
}
