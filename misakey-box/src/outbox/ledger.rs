//! What one instance knows about publishing the updates it commits, so that nothing is
//! stranded and nothing needs a per-update "published" mark in the database.
//!
//! Every contact enters the ledger before its transaction, with its `created_at`, and leaves
//! it once its updates are published. The oldest contact still inside bounds the instance's
//! checkpoint: every update this instance committed with an earlier `created_at` has been
//! published. A contact whose publishing failed, or was cancelled, leaves a `relay_from`
//! behind: its updates (and whatever else the log holds from that time on) are republished
//! from the database by the relay. The checkpoint goes to the database on each maintenance
//! beat; when an instance stops beating, another one relays from its checkpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ports::Clock;

/// The in-flight contacts and pending relay window of one [`crate::BoxService`].
#[derive(Debug)]
pub(crate) struct PublishLedger {
    /// This instance in the store's table of publishers; random, so a restart is a new one.
    publisher: Uuid,
    state: Mutex<LedgerState>,
}

#[derive(Debug, Default)]
struct LedgerState {
    /// `created_at` of the contacts being committed or published, with their counts.
    in_flight: BTreeMap<DateTime<Utc>, usize>,
    /// Updates created from this time on may be unpublished: the relay reads them again.
    relay_from: Option<DateTime<Utc>>,
}

impl LedgerState {
    fn note_unpublished(&mut self, created_at: DateTime<Utc>) {
        self.relay_from = Some(self.relay_from.map_or(created_at, |t| t.min(created_at)));
    }

    fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.in_flight
            .keys()
            .next()
            .map_or(now, |oldest| (*oldest).min(now))
    }
}

impl PublishLedger {
    pub(crate) fn new() -> Self {
        Self {
            publisher: Uuid::new_v4(),
            state: Mutex::default(),
        }
    }

    pub(crate) fn publisher(&self) -> Uuid {
        self.publisher
    }

    fn state(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters a contact, stamped with the clock's time. The time is read under the ledger's
    /// lock so that no horizon computed meanwhile can pass it.
    pub(crate) fn enter(self: &Arc<Self>, clock: &dyn Clock) -> InFlightContact {
        let mut state = self.state();
        let created_at = clock.now();
        *state.in_flight.entry(created_at).or_default() += 1;
        InFlightContact {
            ledger: Arc::clone(self),
            created_at,
            outcome: Outcome::Unknown,
        }
    }

    /// Records that updates created at `created_at` may not have reached the bus.
    pub(crate) fn note_unpublished(&self, created_at: DateTime<Utc>) {
        self.state().note_unpublished(created_at);
    }

    /// The time before which every update this instance committed has been published or is
    /// in the relay window; the clock is read under the lock, as in [`Self::enter`].
    pub(crate) fn horizon(&self, clock: &dyn Clock) -> DateTime<Utc> {
        let state = self.state();
        state.horizon(clock.now())
    }

    /// Takes the relay window's start unless it lies after `horizon` (then it belongs to
    /// contacts still in flight, and stays).
    pub(crate) fn take_relay_from(&self, horizon: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut state = self.state();
        match state.relay_from {
            Some(from) if from <= horizon => state.relay_from.take(),
            _ => None,
        }
    }

    /// What this instance can vouch for: everything it committed before this time is
    /// published.
    pub(crate) fn published_before(&self, horizon: DateTime<Utc>) -> DateTime<Utc> {
        let state = self.state();
        state.relay_from.map_or(horizon, |from| from.min(horizon))
    }

    /// Nothing in flight and nothing to relay: the instance may leave the publishers' table.
    pub(crate) fn is_idle(&self) -> bool {
        let state = self.state();
        state.in_flight.is_empty() && state.relay_from.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Committed or maybe committed, not known to be published: relay it.
    Unknown,
    /// Published, or known not to be committed: nothing to relay.
    Settled,
}

/// A contact between entering the ledger and the end of its publishing. Dropped without
/// [`settle`](Self::settle) (a failed publish, an ambiguous commit, a cancelled request), it
/// leaves its updates to the relay.
#[derive(Debug)]
pub(crate) struct InFlightContact {
    ledger: Arc<PublishLedger>,
    created_at: DateTime<Utc>,
    outcome: Outcome,
}

impl InFlightContact {
    /// The contact's `created_at`, the time of its log entries.
    pub(crate) fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// Its updates are all published, or it certainly wrote nothing.
    pub(crate) fn settle(mut self) {
        self.outcome = Outcome::Settled;
    }
}

impl Drop for InFlightContact {
    fn drop(&mut self) {
        // One lock for both: a horizon must never see the contact gone and its relay not yet
        // noted.
        let mut state = self.ledger.state();
        if let Some(count) = state.in_flight.get_mut(&self.created_at) {
            *count -= 1;
            if *count == 0 {
                state.in_flight.remove(&self.created_at);
            }
        }
        if self.outcome == Outcome::Unknown {
            state.note_unpublished(self.created_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[derive(Debug)]
    struct At(std::sync::Mutex<DateTime<Utc>>);
    impl Clock for At {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }
    impl At {
        fn advance(&self, seconds: i64) {
            *self.0.lock().unwrap() += TimeDelta::seconds(seconds);
        }
    }

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn the_oldest_contact_in_flight_bounds_the_checkpoint() {
        let (ledger, clock) = (Arc::new(PublishLedger::new()), At(Mutex::new(start())));
        let first = ledger.enter(&clock);
        clock.advance(1);
        let second = ledger.enter(&clock);
        clock.advance(1);
        assert_eq!(ledger.horizon(&clock), start());
        first.settle();
        assert_eq!(ledger.horizon(&clock), start() + TimeDelta::seconds(1));
        second.settle();
        assert_eq!(ledger.horizon(&clock), start() + TimeDelta::seconds(2));
        assert!(ledger.is_idle());
        assert_eq!(ledger.published_before(ledger.horizon(&clock)), clock.now());
    }

    #[test]
    fn a_contact_dropped_unsettled_is_left_to_the_relay() {
        let (ledger, clock) = (Arc::new(PublishLedger::new()), At(Mutex::new(start())));
        drop(ledger.enter(&clock));
        clock.advance(5);
        let horizon = ledger.horizon(&clock);
        assert_eq!(ledger.published_before(horizon), start());
        assert!(!ledger.is_idle());
        assert_eq!(ledger.take_relay_from(horizon), Some(start()));
        assert_eq!(ledger.take_relay_from(horizon), None);
        assert!(ledger.is_idle());
    }

    #[test]
    fn a_relay_window_inside_the_in_flight_ones_waits_for_them() {
        let (ledger, clock) = (Arc::new(PublishLedger::new()), At(Mutex::new(start())));
        let older = ledger.enter(&clock);
        clock.advance(1);
        drop(ledger.enter(&clock));
        let horizon = ledger.horizon(&clock);
        assert_eq!(horizon, start());
        assert_eq!(
            ledger.take_relay_from(horizon),
            None,
            "not before the horizon"
        );
        older.settle();
        let horizon = ledger.horizon(&clock);
        assert_eq!(
            ledger.take_relay_from(horizon),
            Some(start() + TimeDelta::seconds(1))
        );
    }
}
