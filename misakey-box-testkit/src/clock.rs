//! A clock that only moves when told to, and ids that count up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use misakey_box::domain::to_storage_precision;
use misakey_box::ports::{Clock, IdGenerator};
use uuid::Uuid;

/// The instant a [`FixedClock`] starts at: `2020-06-12T13:38:32.142857Z`.
pub fn default_instant() -> DateTime<Utc> {
    DateTime::from_timestamp(1_591_969_112, 142_857_000).unwrap_or_default()
}

/// A clock that returns the same instant until moved, for deterministic output.
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<DateTime<Utc>>,
}

impl Default for FixedClock {
    fn default() -> Self {
        Self::new(default_instant())
    }
}

impl FixedClock {
    /// A clock stopped at `at` (truncated to microseconds, like every clock of the core).
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(to_storage_precision(at)),
        }
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to_storage_precision(at);
    }

    /// Moves the clock forward by `delta`.
    pub fn advance(&self, delta: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += delta;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Ids `00000000-0000-4000-8000-000000000001`, `...02`, ... (valid UUIDv4 layout), so that
/// tests can write the expected JSON by hand.
#[derive(Debug, Default)]
pub struct SequentialIds {
    last: AtomicU64,
}

impl SequentialIds {
    /// Starts at `...01`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `n`th id this generator returns (1-based), to write expectations.
    pub fn nth(n: u64) -> Uuid {
        Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | u128::from(n))
    }
}

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> Uuid {
        Self::nth(self.last.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_ids_count_up_in_v4_layout() {
        let ids = SequentialIds::new();
        assert_eq!(
            ids.new_id().to_string(),
            "00000000-0000-4000-8000-000000000001"
        );
        assert_eq!(ids.new_id(), SequentialIds::nth(2));
        assert_eq!(SequentialIds::nth(2).get_version_num(), 4);
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let clock = FixedClock::default();
        assert_eq!(clock.now().to_rfc3339(), "2020-06-12T13:38:32.142857+00:00");
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(clock.now(), default_instant() + TimeDelta::seconds(1));
    }
}
