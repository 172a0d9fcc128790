//! Requests served together, by one task at a time: the unread-count resets of acks, and the
//! sockets' reads of their boxes with unread events. A request queues under its key with the
//! sender of its answer; the first to find no task at work starts one, which takes what waits,
//! batch after batch, and stands down once nothing does.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::oneshot;

/// Requests waiting, by key, each key with the senders of the answers waited for.
#[derive(Debug)]
pub(crate) struct Waiting<K, T> {
    waiting: Mutex<HashMap<K, Vec<oneshot::Sender<T>>>>,
    /// A task is on its way or at work: requests arriving meanwhile only queue (a task per
    /// request would mean thousands of tasks a second taking turns for nothing).
    scheduled: AtomicBool,
}

impl<K, T> Default for Waiting<K, T> {
    fn default() -> Self {
        Self {
            waiting: Mutex::default(),
            scheduled: AtomicBool::new(false),
        }
    }
}

impl<K: Eq + Hash + Copy, T> Waiting<K, T> {
    /// Queues a request under `key`: the receiver of its answer, and whether the caller is to
    /// start the task that serves it.
    pub(crate) fn queue(&self, key: K) -> (oneshot::Receiver<T>, bool) {
        let (sender, answer) = oneshot::channel();
        self.lock().entry(key).or_default().push(sender);
        let start = !self.scheduled.swap(true, Ordering::AcqRel);
        (answer, start)
    }

    /// Takes at most `max` keys waiting, with the senders of their answers.
    pub(crate) fn take(&self, max: usize) -> Vec<(K, Vec<oneshot::Sender<T>>)> {
        let mut waiting = self.lock();
        let keys: Vec<K> = waiting.keys().take(max).copied().collect();
        keys.into_iter()
            .filter_map(|key| waiting.remove_entry(&key))
            .collect()
    }

    /// The task found nothing to take: whether it stands down, or goes on because a request
    /// queued between its last look and now without starting a task (none is left unserved).
    pub(crate) fn stand_down(&self) -> bool {
        self.scheduled.store(false, Ordering::Release);
        self.lock().is_empty() || self.scheduled.swap(true, Ordering::AcqRel)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Vec<oneshot::Sender<T>>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends `answer` to every sender of a key.
pub(crate) fn answer_all<T: Clone>(senders: Vec<oneshot::Sender<T>>, answer: &T) {
    for sender in senders {
        let _ = sender.send(answer.clone());
    }
}
