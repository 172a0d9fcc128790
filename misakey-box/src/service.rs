//! [`BoxService`]: the ports and settings the use cases run with.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::outbox::{Maintenance, PublishLedger};
use crate::ports::{
    BoxReads, BoxStore, Clock, IdGenerator, IdentityDirectory, Inbox, NotificationBus,
    PublisherRegistry, RandomIds, SystemClock, TokenIntrospector, UpdateLog,
};
use crate::socket::{ShutdownSignal, SocketSlots};
use crate::validation::{DefaultKeySharePolicy, KeySharePolicy};

/// ACR required by both endpoints unless configured otherwise.
pub const DEFAULT_REQUIRED_ACR: u8 = 1;

/// The adapters chosen for each port.
#[derive(Debug, Clone)]
pub struct Ports {
    /// Token introspection.
    pub tokens: Arc<dyn TokenIntrospector>,
    /// Identity directory.
    pub identities: Arc<dyn IdentityDirectory>,
    /// Box store: where use cases commit their changes.
    pub store: Arc<dyn BoxStore>,
    /// The update logs the store appends to (the same database).
    pub log: Arc<dyn UpdateLog>,
    /// The registry of publishing instances (the same database).
    pub publishers: Arc<dyn PublisherRegistry>,
    /// Notifications and crypto actions, read (the same database).
    pub inbox: Arc<dyn Inbox>,
    /// Boxes, their members and events, read (the same database).
    pub boxes: Arc<dyn BoxReads>,
    /// Notification bus.
    pub bus: Arc<dyn NotificationBus>,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Id generator.
    pub ids: Arc<dyn IdGenerator>,
}

impl Ports {
    /// The adapters that need a choice, with the system clock and random UUIDv4 ids. `store`
    /// serves the box store, its update logs, the publishers' registry and the inbox, which
    /// share its transactions.
    pub fn new<S>(
        tokens: Arc<dyn TokenIntrospector>,
        identities: Arc<dyn IdentityDirectory>,
        store: Arc<S>,
        bus: Arc<dyn NotificationBus>,
    ) -> Self
    where
        S: BoxStore + UpdateLog + PublisherRegistry + Inbox + BoxReads,
    {
        Self {
            tokens,
            identities,
            store: store.clone(),
            log: store.clone(),
            publishers: store.clone(),
            inbox: store.clone(),
            boxes: store,
            bus,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
        }
    }

    /// One storage serving every storage port (as `SeaOrmStorage` does), and a bus.
    pub fn with_storage<S>(storage: Arc<S>, bus: Arc<dyn NotificationBus>) -> Self
    where
        S: BoxStore
            + UpdateLog
            + PublisherRegistry
            + Inbox
            + BoxReads
            + IdentityDirectory
            + TokenIntrospector,
    {
        Self::new(storage.clone(), storage.clone(), storage, bus)
    }

    /// Replaces the token port (with an authorization server's introspection, say).
    #[must_use]
    pub fn with_tokens(mut self, tokens: Arc<dyn TokenIntrospector>) -> Self {
        self.tokens = tokens;
        self
    }

    /// Replaces the clock (tests use a fixed one).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the id generator (tests use sequential ids).
    #[must_use]
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }
}

/// Deployment settings of the use cases.
#[derive(Debug, Clone)]
pub struct Config {
    /// The organisation that owns the boxes this server creates (`owner_org_id`).
    pub owner_org_id: Uuid,
    /// Lowest ACR accepted on both endpoints.
    pub required_acr: u8,
    /// How key material of contact requests is checked.
    pub key_share_policy: Arc<dyn KeySharePolicy>,
    /// The outbox's background work, run by [`BoxService::start`].
    pub maintenance: Maintenance,
}

impl Config {
    /// Settings with [`DEFAULT_REQUIRED_ACR`] and the [`DefaultKeySharePolicy`].
    pub fn new(owner_org_id: Uuid) -> Self {
        Self {
            owner_org_id,
            required_acr: DEFAULT_REQUIRED_ACR,
            key_share_policy: Arc::new(DefaultKeySharePolicy),
            maintenance: Maintenance::default(),
        }
    }

    /// Changes the lowest accepted ACR.
    #[must_use]
    pub fn with_required_acr(mut self, acr: u8) -> Self {
        self.required_acr = acr;
        self
    }

    /// Changes the outbox's background work.
    #[must_use]
    pub fn with_maintenance(mut self, maintenance: Maintenance) -> Self {
        self.maintenance = maintenance;
        self
    }

    /// Changes the key-share policy (for example to [`crate::validation::NaclKeySharePolicy`]).
    #[must_use]
    pub fn with_key_share_policy(mut self, policy: Arc<dyn KeySharePolicy>) -> Self {
        self.key_share_policy = policy;
        self
    }
}

/// The entry point of the core: ports plus settings, cheap to clone and share between
/// request handlers. The use cases are its methods:
/// [`authorize`](BoxService::authorize), [`contact`](BoxService::contact) and
/// [`socket_session`](BoxService::socket_session).
///
/// How long [`BoxService::health`] waits for the storage and the bus before reporting them
/// down: within the second a load balancer's check usually allows, whatever they do.
pub const HEALTH_CHECK_DEADLINE: Duration = Duration::from_millis(800);

/// A server starts it with [`BoxService::start`], which runs the outbox in the background;
/// tests of the use cases may build it with [`BoxService::without_maintenance`].
#[derive(Debug, Clone)]
pub struct BoxService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ports: Ports,
    config: Config,
    /// What this instance has in flight and must relay: see [`crate::outbox`].
    ledger: Arc<PublishLedger>,
    /// Closes this service's sockets: fired by [`crate::outbox::Running`].
    shutdown: ShutdownSignal,
    /// The sockets each identity holds open here.
    socket_slots: SocketSlots,
    /// Unread-count resets of acks, waiting to be written together.
    unread_resets: crate::use_cases::UnreadResets,
    /// Sockets' reads of their boxes with unread events, waiting to be read together.
    unread_listings: crate::use_cases::UnreadListings,
}

impl BoxService {
    /// A service with no background work: nothing relays the updates a failed publish or a
    /// crash left unpublished (they reach resuming sockets only), nothing prunes the logs, and
    /// its sockets close only when their clients leave. For tests of the use cases, and for
    /// hosts that run [`run_maintenance`](Self::run_maintenance) themselves; a server calls
    /// [`BoxService::start`].
    pub fn without_maintenance(ports: Ports, config: Config) -> Self {
        Self::assemble(ports, config, ShutdownSignal::never())
    }

    pub(crate) fn assemble(ports: Ports, config: Config, shutdown: ShutdownSignal) -> Self {
        Self {
            inner: Arc::new(Inner {
                ports,
                config,
                ledger: Arc::new(PublishLedger::new()),
                shutdown,
                socket_slots: SocketSlots::default(),
                unread_resets: crate::use_cases::UnreadResets::default(),
                unread_listings: crate::use_cases::UnreadListings::default(),
            }),
        }
    }

    /// The unread-count resets waiting to be written.
    pub(crate) fn unread_resets(&self) -> &crate::use_cases::UnreadResets {
        &self.inner.unread_resets
    }

    /// The sockets' reads of their boxes with unread events waiting.
    pub(crate) fn unread_listings(&self) -> &crate::use_cases::UnreadListings {
        &self.inner.unread_listings
    }

    /// The sockets each identity holds open in this process.
    pub(crate) fn socket_slots(&self) -> &SocketSlots {
        &self.inner.socket_slots
    }

    /// Fires when the service shuts down; sockets wait for it.
    pub(crate) fn shutdown_signal(&self) -> &ShutdownSignal {
        &self.inner.shutdown
    }

    /// The adapters in use.
    pub fn ports(&self) -> &Ports {
        &self.inner.ports
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The ledger of this instance's publishing.
    pub(crate) fn ledger(&self) -> &Arc<PublishLedger> {
        &self.inner.ledger
    }

    /// Whether the store and the bus answer: what a health check reports.
    pub async fn health(&self) -> Result<(), crate::Error> {
        let checks = async {
            self.ports().store.ping().await?;
            self.ports().bus.ping().await?;
            Ok(())
        };
        // A load balancer waits about a second for a health check: a dependency that hangs
        // must make the check fail, not hang it.
        tokio::time::timeout(HEALTH_CHECK_DEADLINE, checks)
            .await
            .unwrap_or_else(|_| {
                Err(crate::Error::service_unavailable(
                    "the storage or the bus did not answer the health check in time",
                ))
            })
    }
}
