//! Notification bus adapters that need nothing outside the process.

mod in_process;

pub use in_process::{DEFAULT_QUEUE_CAPACITY, InProcessBus};
