//! Notification bus adapters: in-process for one instance, Redis pub/sub (feature `redis`) for
//! several.

mod in_process;
#[cfg(feature = "redis")]
mod redis;

pub use in_process::{DEFAULT_QUEUE_CAPACITY, InProcessBus};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_CHANNEL_PREFIX, RedisBus};
