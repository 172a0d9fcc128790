//! The notification bus on Redis pub/sub, for several server instances.
//!
//! One channel per identity (`{prefix}user_{id}:ws`, as in the original system). Each instance
//! keeps one pub/sub connection, subscribed to the channels of the identities that have sockets
//! on it, and fans what arrives out to those sockets through an [`InProcessBus`]. A publish is
//! serialised once and sent with `PUBLISH` (the frames of one box event, one per member, in
//! one pipeline); every instance, the publisher's included, delivers it when Redis hands it
//! back.
//!
//! When the pub/sub connection breaks, every local subscription ends with
//! [`SubscriptionError::Broken`] (sockets close with 1011 and clients reconnect) and a
//! background task reconnects with backoff. Publishing while Redis is down fails with
//! [`BusError::Unavailable`]; the use cases log it and keep their committed data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::InProcessBus;
use crate::domain::Frame;
use crate::error::BusError;
use crate::ports::{NotificationBus, Subscription};

/// Channel prefix when none is configured.
pub const DEFAULT_CHANNEL_PREFIX: &str = "misakey-box:";

/// How long a Redis command may take before the bus counts Redis as unavailable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// `PUBLISH` commands sent in one pipeline at most (a box event for a thousand members: about
/// 300 kB), so that one pipeline's buffers stay bounded.
const PIPELINED_PUBLISHES: usize = 1_000;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A [`NotificationBus`] on Redis pub/sub. Cheap to clone: clones share the connections.
#[derive(Debug, Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    prefix: String,
    local: InProcessBus,
    publisher: ConnectionManager,
    link: Mutex<Link>,
    reader: StdMutex<Option<JoinHandle<()>>>,
}

/// The current pub/sub connection and how many local subscribers each identity has on it.
#[derive(Default)]
struct Link {
    sink: Option<PubSubSink>,
    /// Bumped on each new connection, so that a subscription of an old connection does not
    /// unsubscribe on the new one.
    generation: u64,
    subscribers: HashMap<Uuid, usize>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(reader) = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            reader.abort();
        }
    }
}

fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> BusError {
    BusError::Unavailable(Box::new(error))
}

impl RedisBus {
    /// Connects to `url` (`redis://127.0.0.1:6379`) with channels `{prefix}user_{id}:ws`.
    /// Fails if Redis cannot be reached now; later losses are recovered from.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1);
        let publisher = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unavailable)?;
        let inner = Arc::new(Inner {
            client,
            prefix: prefix.to_owned(),
            local: InProcessBus::new(),
            publisher,
            link: Mutex::new(Link::default()),
            reader: StdMutex::new(None),
        });
        let stream = connect_pubsub(&inner).await?;
        let reader = tokio::spawn(read_forever(Arc::downgrade(&inner), stream));
        *inner.reader.lock().unwrap_or_else(PoisonError::into_inner) = Some(reader);
        Ok(Self { inner })
    }

    /// The channel of an identity.
    pub fn channel(&self, identity_id: Uuid) -> String {
        channel(&self.inner.prefix, identity_id)
    }
}

fn channel(prefix: &str, identity_id: Uuid) -> String {
    format!("{prefix}user_{identity_id}:ws")
}

fn identity_of(prefix: &str, channel: &str) -> Option<Uuid> {
    let id = channel
        .strip_prefix(prefix)?
        .strip_prefix("user_")?
        .strip_suffix(":ws")?;
    Uuid::try_parse(id).ok()
}

/// Opens a pub/sub connection and installs its sink as the current link.
async fn connect_pubsub(inner: &Inner) -> Result<redis::aio::PubSubStream, BusError> {
    let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, inner.client.get_async_pubsub())
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    let (sink, stream) = pubsub.split();
    let mut link = inner.link.lock().await;
    link.sink = Some(sink);
    link.generation += 1;
    link.subscribers.clear();
    Ok(stream)
}

/// Delivers what Redis sends to local subscribers; on a lost connection, fails every local
/// subscription and reconnects with backoff. Ends when the bus is dropped.
async fn read_forever(inner: Weak<Inner>, mut stream: redis::aio::PubSubStream) {
    loop {
        while let Some(message) = stream.next().await {
            let Some(inner) = inner.upgrade() else { return };
            let Some(identity_id) = identity_of(&inner.prefix, message.get_channel_name()) else {
                continue;
            };
            match std::str::from_utf8(message.get_payload_bytes()) {
                Ok(text) => drop(
                    inner
                        .local
                        .publish(identity_id, &Frame::from_text(text))
                        .await,
                ),
                Err(_) => tracing::warn!(
                    channel = message.get_channel_name(),
                    "non-UTF-8 update ignored"
                ),
            }
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Some(inner) = inner.upgrade() else { return };
            {
                let mut link = inner.link.lock().await;
                if link.sink.take().is_some() {
                    tracing::warn!(
                        "lost the Redis pub/sub connection; closing local subscriptions and reconnecting"
                    );
                    link.subscribers.clear();
                    inner.local.disconnect_all();
                }
            }
            match connect_pubsub(&inner).await {
                Ok(new_stream) => {
                    tracing::info!("reconnected to Redis pub/sub");
                    stream = new_stream;
                    break;
                }
                Err(error) => {
                    tracing::debug!(%error, ?backoff, "Redis pub/sub reconnection failed");
                    drop(inner);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Releases a local subscriber's share of its identity's Redis subscription.
struct Release {
    inner: Weak<Inner>,
    identity_id: Uuid,
    generation: u64,
}

impl Drop for Release {
    fn drop(&mut self) {
        let (inner, identity_id, generation) =
            (self.inner.clone(), self.identity_id, self.generation);
        // Unsubscribing needs the network; `Drop` cannot wait, so a task does it.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let Some(inner) = inner.upgrade() else { return };
                let mut link = inner.link.lock().await;
                if link.generation != generation {
                    return;
                }
                let remaining = link.subscribers.get_mut(&identity_id).map(|count| {
                    *count = count.saturating_sub(1);
                    *count
                });
                if remaining == Some(0) {
                    link.subscribers.remove(&identity_id);
                    let channel = channel(&inner.prefix, identity_id);
                    if let Some(sink) = link.sink.as_mut()
                        && let Err(error) = sink.unsubscribe(&channel).await
                    {
                        tracing::debug!(%error, channel, "unsubscribe failed");
                    }
                }
            });
        }
    }
}

#[async_trait]
impl NotificationBus for RedisBus {
    async fn publish(&self, identity_id: Uuid, frame: &Frame) -> Result<(), BusError> {
        let mut publisher = self.inner.publisher.clone();
        redis::cmd("PUBLISH")
            .arg(self.channel(identity_id))
            .arg(frame.text())
            .query_async::<i64>(&mut publisher)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    async fn publish_all(&self, frames: &[(Uuid, Frame)]) -> Result<(), BusError> {
        // Pipelined: one round trip per chunk instead of one per frame.
        for chunk in frames.chunks(PIPELINED_PUBLISHES) {
            let mut pipeline = redis::pipe();
            for (identity_id, frame) in chunk {
                pipeline
                    .cmd("PUBLISH")
                    .arg(self.channel(*identity_id))
                    .arg(frame.text())
                    .ignore();
            }
            let mut publisher = self.inner.publisher.clone();
            pipeline
                .query_async::<()>(&mut publisher)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn subscribe(&self, identity_id: Uuid) -> Result<Subscription, BusError> {
        let mut link = self.inner.link.lock().await;
        let generation = link.generation;
        let first = !link.subscribers.contains_key(&identity_id);
        let Some(sink) = link.sink.as_mut() else {
            return Err(BusError::Unavailable(
                "not connected to Redis pub/sub".into(),
            ));
        };
        // Local first, then Redis: a message that Redis delivers right after acknowledging the
        // subscription already has somewhere to go.
        let local = self.inner.local.subscribe(identity_id).await?;
        if first {
            let subscribed =
                tokio::time::timeout(COMMAND_TIMEOUT, sink.subscribe(self.channel(identity_id)))
                    .await;
            match subscribed {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(unavailable(error)),
                Err(elapsed) => return Err(unavailable(elapsed)),
            }
        }
        *link.subscribers.entry(identity_id).or_default() += 1;
        drop(link);
        let release = Release {
            inner: Arc::downgrade(&self.inner),
            identity_id,
            generation,
        };
        Ok(local
            .map(move |item| {
                let _keep_until_dropped = &release;
                item
            })
            .boxed())
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.inner.link.lock().await.sink.is_none() {
            return Err(BusError::Unavailable(
                "not connected to Redis pub/sub".into(),
            ));
        }
        let mut publisher = self.inner.publisher.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut publisher)
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_identity() {
        let id = Uuid::from_u128(0xa11ce);
        let name = channel("test:", id);
        assert_eq!(name, "test:user_00000000-0000-0000-0000-0000000a11ce:ws");
        assert_eq!(identity_of("test:", &name), Some(id));
        assert_eq!(identity_of("other:", &name), None);
        assert_eq!(identity_of("test:", "test:user_nope:ws"), None);
    }
}
