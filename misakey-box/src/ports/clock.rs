use std::fmt::Debug;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::to_storage_precision;

/// Tells the time.
pub trait Clock: Debug + Send + Sync + 'static {
    /// The current time, at microsecond precision.
    fn now(&self) -> DateTime<Utc>;
}

/// Makes new ids.
pub trait IdGenerator: Debug + Send + Sync + 'static {
    /// A new, never seen id.
    fn new_id(&self) -> Uuid;
}

/// The system clock, truncated to microseconds so that stored times read back unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        to_storage_precision(Utc::now())
    }
}

/// Random UUIDv4 ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn new_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}
