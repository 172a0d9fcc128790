//! Live durable frames put back in position order before they go out.
//!
//! The updates of one commit reach a socket from several publishers at once (the requests of
//! one group commit publish concurrently; instances publish through Redis independently), so a
//! frame may arrive a moment before the one preceding it. Reading the log for every such gap
//! would cost a query per socket and per frame: a message to a box of a thousand members
//! published out of order made a thousand reads. Frames that come early wait here, briefly;
//! the log fills only a gap that outlasts the wait (a publish that failed).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::Frame;

/// How long a frame that came early waits for the ones before it before the log fills the gap.
pub(super) const GAP_WAIT: Duration = Duration::from_millis(100);

/// Frames held at most per socket: past it, the gap is filled from the log at once.
pub(super) const MAX_EARLY: usize = 1_024;

/// The last position sent, and the frames that came ahead of a missing one.
#[derive(Debug)]
pub(super) struct InOrder {
    last: u64,
    early: BTreeMap<u64, Frame>,
}

/// What became of a durable frame that arrived.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Arrival {
    /// These go out now, in this order: the frame, then those that waited for it (none, in
    /// the usual case: no allocation per frame).
    Send(Frame, Vec<Frame>),
    /// Its position was sent already (replayed, or published twice by the relay).
    Duplicate,
    /// It waits for the positions before it.
    Held,
}

impl InOrder {
    /// Live delivery that goes on after position `last`.
    pub(super) fn after(last: u64) -> Self {
        Self {
            last,
            early: BTreeMap::new(),
        }
    }

    /// The last position sent.
    #[cfg(test)]
    fn last(&self) -> u64 {
        self.last
    }

    /// Whether frames wait for a missing position.
    pub(super) fn is_waiting(&self) -> bool {
        !self.early.is_empty()
    }

    /// Whether so many frames wait that the gap should be filled without waiting further.
    pub(super) fn is_full(&self) -> bool {
        self.early.len() >= MAX_EARLY
    }

    /// Takes a live frame at position `seq`.
    pub(super) fn arrive(&mut self, seq: u64, frame: Frame) -> Arrival {
        if seq <= self.last || self.early.contains_key(&seq) {
            return Arrival::Duplicate;
        }
        if seq > self.last + 1 {
            self.early.insert(seq, frame);
            return Arrival::Held;
        }
        self.last = seq;
        Arrival::Send(frame, self.release())
    }

    /// The first missing stretch: the positions after the first field up to the second.
    pub(super) fn gap(&self) -> Option<(u64, u64)> {
        let (&first_early, _) = self.early.first_key_value()?;
        Some((self.last, first_early - 1))
    }

    /// The log sent the positions up to `up_to` (or told the client to resync): the frames that
    /// waited for them go out now.
    pub(super) fn filled(&mut self, up_to: u64) -> Vec<Frame> {
        self.last = self.last.max(up_to);
        self.release()
    }

    /// Removes the frames that follow `last` without a gap, and those already passed.
    fn release(&mut self) -> Vec<Frame> {
        let mut ready = Vec::new();
        while let Some(entry) = self.early.first_entry() {
            let seq = *entry.key();
            if seq <= self.last {
                entry.remove();
            } else if seq == self.last + 1 {
                ready.push(entry.remove());
                self.last = seq;
            } else {
                break;
            }
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame::from_text(format!(
            "{{\"seq\":{seq},\"type\":\"event.new\",\"object\":{{}}}}"
        ))
    }

    fn send(seqs: &[u64]) -> Arrival {
        Arrival::Send(
            frame(seqs[0]),
            seqs[1..].iter().map(|&seq| frame(seq)).collect(),
        )
    }

    #[test]
    fn frames_in_order_go_out_at_once() {
        let mut order = InOrder::after(4);
        assert_eq!(order.arrive(5, frame(5)), send(&[5]));
        assert_eq!(order.arrive(6, frame(6)), send(&[6]));
        assert_eq!(order.last(), 6);
        assert!(!order.is_waiting());
    }

    #[test]
    fn an_early_frame_waits_for_the_one_before_it() {
        let mut order = InOrder::after(4);
        assert_eq!(order.arrive(7, frame(7)), Arrival::Held);
        assert_eq!(order.arrive(6, frame(6)), Arrival::Held);
        assert_eq!(order.gap(), Some((4, 5)));
        assert_eq!(order.arrive(5, frame(5)), send(&[5, 6, 7]));
        assert_eq!(order.last(), 7);
        assert!(!order.is_waiting());
        assert_eq!(order.gap(), None);
    }

    #[test]
    fn positions_sent_or_held_already_are_duplicates() {
        let mut order = InOrder::after(4);
        assert_eq!(order.arrive(3, frame(3)), Arrival::Duplicate);
        assert_eq!(order.arrive(4, frame(4)), Arrival::Duplicate);
        assert_eq!(order.arrive(6, frame(6)), Arrival::Held);
        assert_eq!(order.arrive(6, frame(6)), Arrival::Duplicate);
    }

    #[test]
    fn a_filled_gap_releases_what_follows_it_up_to_the_next_gap() {
        let mut order = InOrder::after(4);
        for seq in [6, 7, 9] {
            assert_eq!(order.arrive(seq, frame(seq)), Arrival::Held);
        }
        assert_eq!(order.gap(), Some((4, 5)));
        assert_eq!(order.filled(5), vec![frame(6), frame(7)]);
        assert_eq!(order.gap(), Some((7, 8)));
        assert_eq!(order.filled(8), vec![frame(9)]);
        assert_eq!((order.last(), order.is_waiting()), (9, false));
    }

    #[test]
    fn a_resync_past_the_held_frames_drops_them() {
        let mut order = InOrder::after(4);
        assert_eq!(order.arrive(6, frame(6)), Arrival::Held);
        assert_eq!(order.arrive(8, frame(8)), Arrival::Held);
        // The log was reset or pruned: the client resyncs at the latest position, 10.
        assert_eq!(order.filled(10), Vec::<Frame>::new());
        assert_eq!((order.last(), order.is_waiting()), (10, false));
        assert_eq!(order.arrive(11, frame(11)), send(&[11]));
    }

    #[test]
    fn it_is_full_at_the_bound() {
        let mut order = InOrder::after(0);
        for seq in 2..(2 + MAX_EARLY as u64) {
            assert!(!order.is_full());
            assert_eq!(order.arrive(seq, frame(seq)), Arrival::Held);
        }
        assert!(order.is_full());
    }
}
