//! `misakey-box-server`: the reference server. Flags have `MISAKEY_BOX_*` environment fallbacks;
//! `--help` lists them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use misakey_box::Maintenance;
use misakey_box::http::HttpSettings;
use misakey_box::introspection::{ClaimPaths, IntrospectionSettings};
use misakey_box::ports::Retention;
use misakey_box::socket::SocketSettings;
use misakey_box_poem::server::{self, DEFAULT_DATABASE_URL, DEFAULT_OWNER_ORG_ID, ServerConfig};
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The misakey-box reference server: contact and realtime endpoints over HTTP and WebSocket.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on (port 0 picks a free port; the real one is printed).
    #[arg(long, env = "MISAKEY_BOX_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Database URL: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "MISAKEY_BOX_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
    /// Redis URL (redis://HOST:PORT) to share updates between instances; none keeps them in
    /// this process.
    #[arg(long, env = "MISAKEY_BOX_REDIS_URL")]
    redis_url: Option<String>,
    /// Prefix of the Redis channels (`PREFIX` + `user_ID:ws`).
    #[arg(long, env = "MISAKEY_BOX_REDIS_CHANNEL_PREFIX", default_value = misakey_box::bus::DEFAULT_CHANNEL_PREFIX)]
    redis_channel_prefix: String,
    /// Fixtures file (identities and tokens) to load at start.
    #[arg(long, env = "MISAKEY_BOX_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Origins allowed to open WebSockets and to call the routes from a browser (CORS),
    /// comma-separated (clients without Origin always may open sockets).
    #[arg(long, env = "MISAKEY_BOX_ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
    /// Owner organisation id of created boxes.
    #[arg(long, env = "MISAKEY_BOX_OWNER_ORG_ID", default_value_t = DEFAULT_OWNER_ORG_ID)]
    owner_org_id: Uuid,
    /// Lowest accepted ACR of access tokens.
    #[arg(long, env = "MISAKEY_BOX_REQUIRED_ACR", default_value_t = misakey_box::DEFAULT_REQUIRED_ACR)]
    required_acr: u8,
    /// Seconds between server pings on sockets.
    #[arg(long, env = "MISAKEY_BOX_PING_INTERVAL", default_value_t = 45.0)]
    ping_interval: f64,
    /// Seconds of client silence after which a socket is closed.
    #[arg(long, env = "MISAKEY_BOX_IDLE_TIMEOUT", default_value_t = 120.0)]
    idle_timeout: f64,
    /// Largest inbound socket frame, in bytes (larger ones close the socket with 1009).
    #[arg(long, env = "MISAKEY_BOX_MAX_FRAME_BYTES", default_value_t = 8192)]
    max_frame_bytes: usize,
    /// Updates kept per identity for resuming sockets (the most recent ones).
    #[arg(long, env = "MISAKEY_BOX_RETENTION_COUNT", default_value_t = 10_000)]
    retention_count: u64,
    /// Days an update is kept for resuming sockets.
    #[arg(long, env = "MISAKEY_BOX_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    /// Seconds an instance may go without its heartbeat before another one publishes what it
    /// left unpublished (a crash between commit and publish). At least 2.
    #[arg(long, env = "MISAKEY_BOX_PUBLISHER_LEASE", default_value_t = 15)]
    publisher_lease: u32,
    /// Open sockets one identity may hold on this instance; one more is refused with 429.
    #[arg(long, env = "MISAKEY_BOX_MAX_SOCKETS_PER_IDENTITY", default_value_t = HttpSettings::DEFAULT_MAX_SOCKETS_PER_IDENTITY)]
    max_sockets_per_identity: usize,
    /// Seconds a request waits for a database connection before answering 503 (while the
    /// database is unreachable).
    #[arg(long, env = "MISAKEY_BOX_DATABASE_TIMEOUT", default_value_t = 2.0)]
    database_timeout: f64,
    /// RFC 7662 introspection endpoint of an authorization server: tokens are introspected
    /// there instead of looked up in the fixtures' token table. The client secret comes from
    /// MISAKEY_BOX_INTROSPECTION_CLIENT_SECRET or --introspection-client-secret-file.
    #[arg(long, env = "MISAKEY_BOX_INTROSPECTION_URL")]
    introspection_url: Option<String>,
    /// This server's client id at the authorization server.
    #[arg(long, env = "MISAKEY_BOX_INTROSPECTION_CLIENT_ID", default_value = "")]
    introspection_client_id: String,
    /// A file holding the client secret (instead of MISAKEY_BOX_INTROSPECTION_CLIENT_SECRET).
    #[arg(long, env = "MISAKEY_BOX_INTROSPECTION_CLIENT_SECRET_FILE")]
    introspection_client_secret_file: Option<PathBuf>,
    /// Dotted path of the identity id claim in an introspection answer (Hydra: ext.mid).
    #[arg(long, env = "MISAKEY_BOX_IDENTITY_CLAIM", default_value = "sub")]
    identity_claim: String,
    /// Dotted path of the account id claim (Hydra: ext.aid); none by default.
    #[arg(long, env = "MISAKEY_BOX_ACCOUNT_CLAIM")]
    account_claim: Option<String>,
    /// Dotted path of the ACR claim (Hydra: ext.acr_values).
    #[arg(long, env = "MISAKEY_BOX_ACR_CLAIM", default_value = "acr")]
    acr_claim: String,
    /// Dotted path of the display name of identities created on their first sign-in.
    #[arg(long, env = "MISAKEY_BOX_NAME_CLAIM", default_value = "name")]
    name_claim: String,
    /// Dotted path of the identifier (email) of identities created on their first sign-in.
    #[arg(long, env = "MISAKEY_BOX_IDENTIFIER_CLAIM", default_value = "email")]
    identifier_claim: String,
    /// Seconds an active introspection answer is cached at most (never past the token's exp).
    #[arg(
        long,
        env = "MISAKEY_BOX_INTROSPECTION_CACHE_TTL",
        default_value_t = 30.0
    )]
    introspection_cache_ttl: f64,
    /// Seconds between re-checks of an open socket's token with the authorization server (from
    /// the introspection cache); a revoked token's socket closes with 4001. Only with
    /// --introspection-url: fixtures tokens are only checked for expiry.
    #[arg(long, env = "MISAKEY_BOX_TOKEN_RECHECK", default_value_t = 60.0)]
    token_recheck: f64,
    /// Serve GET /metrics on this address of its own (keeping it off the public listener)
    /// instead of the main one.
    #[arg(long, env = "MISAKEY_BOX_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Mark the CSRF cookie Secure (when served over HTTPS).
    #[arg(long, env = "MISAKEY_BOX_SECURE_COOKIES")]
    secure_cookies: bool,
    /// Load two demo identities with tokens and print how to try the server.
    #[arg(long)]
    demo: bool,
}

impl Cli {
    fn config(self) -> Result<ServerConfig, String> {
        let seconds = |name: &str, value: f64| {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or(format!("--{name} must be a positive number of seconds"))
        };
        let introspection = self.introspection()?;
        if self.max_sockets_per_identity == 0 {
            return Err("--max-sockets-per-identity must be at least 1".to_owned());
        }
        Ok(ServerConfig {
            database_url: self.database_url,
            database_timeout: seconds("database-timeout", self.database_timeout)?,
            redis_url: self.redis_url.filter(|url| !url.is_empty()),
            redis_channel_prefix: self.redis_channel_prefix,
            fixtures: self.fixtures,
            demo: self.demo,
            owner_org_id: self.owner_org_id,
            required_acr: self.required_acr,
            http: HttpSettings {
                allowed_origins: self
                    .allowed_origins
                    .into_iter()
                    .map(|o| o.trim().to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
                socket: SocketSettings {
                    ping_interval: seconds("ping-interval", self.ping_interval)?,
                    idle_timeout: seconds("idle-timeout", self.idle_timeout)?,
                    max_inbound_frame_bytes: self.max_frame_bytes,
                    token_recheck: match introspection {
                        Some(_) => Some(seconds("token-recheck", self.token_recheck)?),
                        None => None,
                    },
                    ..SocketSettings::default()
                },
                secure_cookies: self.secure_cookies,
                max_sockets_per_identity: self.max_sockets_per_identity,
                ..HttpSettings::default()
            },
            introspection,
            metrics_listener: self.metrics_listen,
            maintenance: Maintenance {
                // Beats come every second: a shorter lease would take over live instances.
                publisher_lease: match self.publisher_lease {
                    0 | 1 => return Err("--publisher-lease must be at least 2 seconds".to_owned()),
                    lease => chrono::TimeDelta::seconds(i64::from(lease)),
                },
                retention: Retention {
                    max_per_identity: self.retention_count,
                    max_age: chrono::TimeDelta::days(i64::from(self.retention_days)),
                },
                ..Maintenance::default()
            },
        })
    }
}

impl Cli {
    /// The introspection settings, when `--introspection-url` is set.
    fn introspection(&self) -> Result<Option<IntrospectionSettings>, String> {
        let Some(url) = self
            .introspection_url
            .as_deref()
            .filter(|url| !url.is_empty())
        else {
            return Ok(None);
        };
        let secret = match &self.introspection_client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?
                .trim()
                .to_owned(),
            None => std::env::var(CLIENT_SECRET_VAR).unwrap_or_default(),
        };
        if self.introspection_client_id.is_empty() || secret.is_empty() {
            return Err(format!(
                "--introspection-url needs --introspection-client-id and a client secret \
                 ({CLIENT_SECRET_VAR} or --introspection-client-secret-file)"
            ));
        }
        let mut settings = IntrospectionSettings::new(url, &self.introspection_client_id, &secret);
        settings.claims = ClaimPaths {
            identity: self.identity_claim.clone(),
            account: self.account_claim.clone().filter(|path| !path.is_empty()),
            acr: self.acr_claim.clone(),
            name: self.name_claim.clone(),
            identifier: self.identifier_claim.clone(),
        };
        settings.cache_ttl = Duration::try_from_secs_f64(self.introspection_cache_ttl)
            .map_err(|_| "--introspection-cache-ttl must be a number of seconds".to_owned())?;
        Ok(Some(settings))
    }
}

/// The environment variable holding the introspection client secret (never a flag: command
/// lines are visible to every user of the machine).
const CLIENT_SECRET_VAR: &str = "MISAKEY_BOX_INTROSPECTION_CLIENT_SECRET";

/// Resolves on Ctrl-C or SIGTERM.
async fn termination() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let listen = cli.listen;
    let config = match cli.config() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    println!("owner org id: {}", config.owner_org_id);
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {listen}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match server::run(listener, config, termination()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The whole chain: "database: storage failure" alone tells an operator nothing.
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
