//! The reference server (feature `server`): storage from a URL, fixtures, the routes, graceful
//! shutdown.
//!
//! [`run`] is what `misakey-box-server` calls after parsing its flags and binding; tests call
//! [`crate::serve`] with a listener on port 0 and a service of their own.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use misakey_box::bus::{InProcessBus, RedisBus};
use misakey_box::error::{BusError, StoreError};
use misakey_box::fixtures::{Fixtures, FixturesError};
use misakey_box::http::{HttpApi, HttpSettings};
use misakey_box::introspection::{IntrospectionSettings, OAuthIntrospection};
use misakey_box::ports::NotificationBus;
use misakey_box::storage::SeaOrmStorage;
use misakey_box::{BoxService, Config, Maintenance, Ports};
use tokio::net::TcpListener;
use uuid::Uuid;

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://misakey-box.db";

/// The owner organisation of boxes when none is configured.
pub const DEFAULT_OWNER_ORG_ID: Uuid = Uuid::from_u128(0x0e9a5e1f_0000_4000_8000_000000000001);

/// What the server runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// How long a request waits for a database connection before failing with 503.
    pub database_timeout: std::time::Duration,
    /// Redis for updates across instances; `None` keeps them in this process.
    pub redis_url: Option<String>,
    /// Prefix of the Redis channels (`{prefix}user_{id}:ws`).
    pub redis_channel_prefix: String,
    /// A fixtures file to load at start.
    pub fixtures: Option<PathBuf>,
    /// Load the demo identities and tokens, and print how to try the server.
    pub demo: bool,
    /// The owner organisation of created boxes.
    pub owner_org_id: Uuid,
    /// Lowest ACR accepted.
    pub required_acr: u8,
    /// HTTP and socket settings.
    pub http: HttpSettings,
    /// Publisher heartbeat, relay of stranded updates and pruning of the update logs.
    pub maintenance: Maintenance,
    /// Authenticate against an authorization server (RFC 7662) instead of the fixtures'
    /// token table.
    pub introspection: Option<IntrospectionSettings>,
    /// Serve `GET /metrics` on this listener of its own (to keep it private) instead of the
    /// main one.
    pub metrics_listener: Option<std::net::SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            database_timeout: misakey_box::storage::DEFAULT_DATABASE_TIMEOUT,
            redis_url: None,
            redis_channel_prefix: misakey_box::bus::DEFAULT_CHANNEL_PREFIX.to_owned(),
            fixtures: None,
            demo: false,
            owner_org_id: DEFAULT_OWNER_ORG_ID,
            required_acr: misakey_box::DEFAULT_REQUIRED_ACR,
            http: HttpSettings::default(),
            maintenance: Maintenance::default(),
            introspection: None,
            metrics_listener: None,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Storage(#[from] StoreError),
    /// The fixtures file was refused.
    #[error(transparent)]
    Fixtures(#[from] FixturesError),
    /// Redis could not be reached at start.
    #[error("redis: {0}")]
    Bus(#[from] BusError),
    /// Listening failed.
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// Opens and migrates the database, loads fixtures, prints `listening on http://ADDR`, and
/// serves until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let storage =
        SeaOrmStorage::connect_with_timeout(&config.database_url, config.database_timeout).await?;
    if let Some(path) = &config.fixtures {
        storage.load_fixtures(&Fixtures::from_file(path)?).await?;
    }
    if config.demo {
        storage
            .load_fixtures(&misakey_box::fixtures::demo::fixtures())
            .await?;
    }
    let storage = Arc::new(storage);
    let bus: Arc<dyn NotificationBus> = match &config.redis_url {
        Some(url) => Arc::new(RedisBus::connect(url, &config.redis_channel_prefix).await?),
        None => Arc::new(InProcessBus::new()),
    };
    let mut ports = Ports::with_storage(storage.clone(), bus);
    if let Some(settings) = config.introspection.clone() {
        tracing::info!(url = %redact(&settings.url), client_id = %settings.client_id, "tokens are introspected");
        ports = ports.with_tokens(Arc::new(OAuthIntrospection::new(settings, storage)?));
    }
    let config_of_service = Config::new(config.owner_org_id)
        .with_required_acr(config.required_acr)
        .with_maintenance(config.maintenance);
    let (service, running) = BoxService::start(ports, config_of_service).await;
    let address = listener.local_addr()?;
    let redis = config.redis_url.as_deref().map(redact);
    tracing::info!(owner_org_id = %config.owner_org_id, database = %redact(&config.database_url), ?redis, "starting");
    if config.demo {
        println!("{}", misakey_box::fixtures::demo::instructions(address));
    }
    crate::metrics::prometheus();
    tokio::spawn(crate::metrics::upkeep());
    let mut api = HttpApi::new(service, config.http);
    match config.metrics_listener {
        None => api = api.with_route(crate::metrics::route()),
        Some(metrics_address) => {
            let metrics_listener = TcpListener::bind(metrics_address).await?;
            println!(
                "metrics on http://{}/metrics",
                metrics_listener.local_addr()?
            );
            tokio::spawn(serve_metrics(metrics_listener));
        }
    }
    println!("listening on http://{address}");
    crate::serve(listener, api, running, shutdown).await?;
    Ok(())
}

/// `GET /metrics` alone, on a listener of its own.
async fn serve_metrics(listener: TcpListener) -> std::io::Result<()> {
    use poem::{EndpointExt as _, IntoResponse as _, Route, get, handler};
    #[handler]
    fn metrics() -> poem::Response {
        crate::metrics::render()
            .with_content_type(crate::metrics::CONTENT_TYPE)
            .into_response()
    }
    let app = Route::new().at("/metrics", get(metrics)).boxed();
    poem::Server::new_with_acceptor(poem::listener::TcpAcceptor::from_tokio(listener)?)
        .run(app)
        .await
}

/// The database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/boxes"),
            "postgres://app:***@db:5432/boxes"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact("sqlite://misakey-box.db"), "sqlite://misakey-box.db");
    }
}
