use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use async_trait::async_trait;
use futures::StreamExt as _;
use tokio::sync::mpsc;
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
    sender: mpsc::Sender<Frame>,
    /// Why the bus dropped the subscriber: one of the `ENDED_*` values.
    ended: Arc<AtomicU8>,
}

const ENDED_NOT: u8 = 0;
const ENDED_LAGGED: u8 = 1;
const ENDED_DISCONNECTED: u8 = 2;

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
            subscriber
                .ended
                .store(ENDED_DISCONNECTED, Ordering::Release);
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
        let mut subscribers = self.inner.lock();
        if let Some(list) = subscribers.get_mut(&identity_id) {
            list.retain(
                |subscriber| match subscriber.sender.try_send(frame.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        subscriber.ended.store(ENDED_LAGGED, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                },
            );
            if list.is_empty() {
                subscribers.remove(&identity_id);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError> {
        let (sender, receiver) = mpsc::channel(self.inner.queue_capacity);
        let ended = Arc::new(AtomicU8::new(ENDED_NOT));
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
                sender,
                ended: Arc::clone(&ended),
            });
        let unsubscribe = Unsubscribe {
            bus: Arc::downgrade(&self.inner),
            identity_id,
            subscriber_id,
        };
        let state = Some((receiver, ended, unsubscribe));
        Ok(futures::stream::unfold(state, |state| async move {
            let (mut receiver, ended, unsubscribe) = state?;
            match receiver.recv().await {
                Some(frame) => Some((Ok(frame), Some((receiver, ended, unsubscribe)))),
                // The bus dropped our sender: we fell behind, it was disconnected, or it is gone.
                None => match ended.load(Ordering::Acquire) {
                    ENDED_LAGGED => Some((Err(SubscriptionError::Lagged), None)),
                    ENDED_DISCONNECTED => {
                        let cause = "the notification bus lost its broker".into();
                        Some((Err(SubscriptionError::Broken(cause)), None))
                    }
                    _ => None,
                },
            }
        })
        .boxed())
    }
}
