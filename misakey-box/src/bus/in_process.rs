use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::task::AtomicWaker;
use futures::{Stream, StreamExt as _};
use uuid::Uuid;

use crate::domain::Frame;
use crate::error::BusError;
use crate::ports::{NotificationBus, Subscription, SubscriptionError};

/// How many frames may wait for one subscriber before it counts as fallen behind.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;

/// A notification bus inside one process: fan-out to every subscriber of an identity.
///
/// Each subscriber has a bounded queue. Publishing never waits: a subscriber whose queue is
/// full is dropped, and its stream ends with [`SubscriptionError::Lagged`] once it has read
/// what was already queued. Use it for a single server instance; several instances need a
/// broker-backed bus.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue_capacity: usize,
    next_subscriber_id: AtomicU64,
    subscribers: Mutex<HashMap<Uuid, Vec<Subscriber>>>,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    queue: Arc<Queue>,
}

/// One subscriber's frames, from the bus to its stream. A lock and a deque rather than a
/// channel: an idle subscriber (most sockets, most of the time) holds no frame buffer at all,
/// where a tokio channel allocates its first block of 32 slots (about 1 KiB) up front.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<QueueState>,
    /// The subscriber's stream, waiting for a frame or for its end.
    reader: AtomicWaker,
}

#[derive(Debug, Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    ended: Ended,
}

/// Why the bus let go of a subscriber; its stream ends this way once the queue is read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Ended {
    #[default]
    Not,
    Lagged,
    Disconnected,
    /// The bus is gone: the stream just ends.
    Closed,
}

/// A drained queue keeps at most this many slots; a burst's larger buffer is given back.
const KEPT_SLOTS: usize = 8;

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        // Every update of the state is a single push, pop or assignment: a poisoned lock
        // cannot leave it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` unless the queue is full (the subscriber is then lagged) or ended.
    /// Returns whether the subscriber stays on the bus.
    fn push(&self, frame: &Frame, capacity: usize) -> bool {
        let mut state = self.state();
        if state.ended != Ended::Not {
            return false;
        }
        let stays = if state.frames.len() >= capacity {
            state.ended = Ended::Lagged;
            false
        } else {
            state.frames.push_back(frame.clone());
            true
        };
        drop(state);
        self.reader.wake();
        stays
    }

    /// Ends the subscription with `why`, unless it already ended.
    fn end(&self, why: Ended) {
        let mut state = self.state();
        if state.ended == Ended::Not {
            state.ended = why;
        }
        drop(state);
        self.reader.wake();
    }

    /// The next item of the stream, or `None` when nothing is there yet.
    fn take(&self) -> Option<Option<Result<Frame, SubscriptionError>>> {
        let mut state = self.state();
        if let Some(frame) = state.frames.pop_front() {
            if state.frames.is_empty() && state.frames.capacity() > KEPT_SLOTS {
                state.frames.shrink_to(KEPT_SLOTS);
            }
            return Some(Some(Ok(frame)));
        }
        match state.ended {
            Ended::Not => None,
            Ended::Lagged => Some(Some(Err(SubscriptionError::Lagged))),
            Ended::Disconnected => {
                let cause = "the notification bus lost its broker".into();
                Some(Some(Err(SubscriptionError::Broken(cause))))
            }
            Ended::Closed => Some(None),
        }
    }
}

impl Drop for Subscriber {
    /// Wherever the bus lets go of a subscriber (lagged, disconnected, the bus dropped), its
    /// stream learns it; a reason set before stays.
    fn drop(&mut self) {
        self.queue.end(Ended::Closed);
    }
}

/// A subscription's stream: the queued frames in order, then how it ended (once).
struct QueueStream {
    queue: Arc<Queue>,
    finished: bool,
    _unsubscribe: Unsubscribe,
}

impl Stream for QueueStream {
    type Item = Result<Frame, SubscriptionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = match self.queue.take() {
            Some(item) => item,
            None => {
                // Registered before looking again, so that a push in between wakes us.
                self.queue.reader.register(cx.waker());
                match self.queue.take() {
                    Some(item) => item,
                    None => return Poll::Pending,
                }
            }
        };
        if !matches!(item, Some(Ok(_))) {
            self.finished = true;
        }
        Poll::Ready(item)
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessBus {
    /// A bus with [`DEFAULT_QUEUE_CAPACITY`] frames per subscriber.
    pub fn new() -> Self {
        Self::with_queue_capacity(DEFAULT_QUEUE_CAPACITY)
    }

    /// A bus with `capacity` frames per subscriber (at least 1).
    pub fn with_queue_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                queue_capacity: capacity.max(1),
                next_subscriber_id: AtomicU64::new(0),
                subscribers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many subscriptions of `identity_id` are live.
    pub fn subscriber_count(&self, identity_id: Uuid) -> usize {
        self.inner.lock().get(&identity_id).map_or(0, Vec::len)
    }

    /// Ends every subscription with [`SubscriptionError::Broken`] once it has read what was
    /// queued: what a broker-backed bus does to its local subscribers when it loses the broker,
    /// so that their clients reconnect.
    pub fn disconnect_all(&self) {
        let subscribers = std::mem::take(&mut *self.inner.lock());
        for subscriber in subscribers.into_values().flatten() {
            subscriber.queue.end(Ended::Disconnected);
        }
    }
}

impl Inner {
    // A panic while holding the lock cannot leave the map half-updated in a harmful way
    // (each operation is a single insert or retain), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Vec<Subscriber>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` for every subscriber of `identity_id`, dropping those fallen behind.
    fn deliver(
        &self,
        subscribers: &mut HashMap<Uuid, Vec<Subscriber>>,
        identity_id: Uuid,
        frame: &Frame,
    ) {
        if let Some(list) = subscribers.get_mut(&identity_id) {
            list.retain(|subscriber| subscriber.queue.push(frame, self.queue_capacity));
            if list.is_empty() {
                subscribers.remove(&identity_id);
            }
        }
    }

    fn remove(&self, identity_id: Uuid, subscriber_id: u64) {
        let mut subscribers = self.lock();
        if let Some(list) = subscribers.get_mut(&identity_id) {
            list.retain(|s| s.id != subscriber_id);
            if list.is_empty() {
                subscribers.remove(&identity_id);
            }
        }
    }
}

/// Unsubscribes when the subscription stream is dropped.
struct Unsubscribe {
    bus: Weak<Inner>,
    identity_id: Uuid,
    subscriber_id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            bus.remove(self.identity_id, self.subscriber_id);
        }
    }
}

#[async_trait]
impl NotificationBus for InProcessBus {
    async fn publish(&self, identity_id: Uuid, frame: &Frame) -> Result<(), BusError> {
        self.inner
            .deliver(&mut self.inner.lock(), identity_id, frame);
        Ok(())
    }

    async fn publish_all(&self, frames: &[(Uuid, Frame)]) -> Result<(), BusError> {
        // The subscribers' lock taken once for all.
        let mut subscribers = self.inner.lock();
        for (identity_id, frame) in frames {
            self.inner.deliver(&mut subscribers, *identity_id, frame);
        }
        Ok(())
    }

    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError> {
        let queue = Arc::new(Queue::default());
        let subscriber_id = self
            .inner
            .next_subscriber_id
            .fetch_add(1, Ordering::Relaxed);
        self.inner
            .lock()
            .entry(identity_id)
            .or_default()
            .push(Subscriber {
                id: subscriber_id,
                queue: Arc::clone(&queue),
            });
        let unsubscribe = Unsubscribe {
            bus: Arc::downgrade(&self.inner),
            identity_id,
            subscriber_id,
        };
        Ok(QueueStream {
            queue,
            finished: false,
            _unsubscribe: unsubscribe,
        }
        .boxed())
    }
}
