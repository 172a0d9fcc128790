//! The token port over an OAuth 2.0 authorization server: RFC 7662 token introspection
//! (feature `introspection`), for deployments whose tokens come from Ory Hydra, Keycloak or any
//! other authorization server instead of the fixtures table.
//!
//! Each token is `POST`ed as a form to the introspection endpoint with the server's client
//! credentials (HTTP Basic), redirects not followed, within a timeout. An active answer is read
//! through [`ClaimPaths`] (dotted paths, so Hydra's `ext.mid` works as well as `sub`), and its
//! identity is recorded in the [`IdentityDirectory`] (created the first time it signs in,
//! refreshed on each later introspection). Active answers are cached, keyed by a SHA-256 of
//! the token (never the token itself), each for the configured TTL or until the token's `exp`,
//! whichever comes first; concurrent requests with one uncached token share one introspection.
//! An inactive token is not cached: once revoked, its next introspection says so.
//!
//! Failures: an inactive token, or one naming no valid identity, reads as unknown (401); the
//! authorization server unreachable, slow or answering anything but 200 with JSON is
//! [`StoreError::Unavailable`] (503): a client must not drop a valid session because the
//! authorization server hiccupped.
//!
//! Built on `reqwest` and `serde_json` rather than the `oauth2` crate: what this adapter needs
//! from an answer is a handful of values at configurable paths, which a JSON value gives
//! directly, whereas `oauth2`'s typed answers would need a custom extra-fields type per
//! deployment and still leave the paths to walk; the request itself is one form `POST`.

mod claims;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use moka::Expiry;
use moka::future::Cache;
use sha2::{Digest as _, Sha256};

pub use claims::ClaimPaths;

use crate::error::StoreError;
use crate::ports::{IdentityDirectory, TokenInfo, TokenIntrospector};

/// How long an active answer is cached at most, unless configured.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);

/// How long an introspection may take before the request answers 503, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Most tokens cached at once.
const CACHE_CAPACITY: u64 = 100_000;

/// Where and how to introspect.
#[derive(Clone)]
#[non_exhaustive]
pub struct IntrospectionSettings {
    /// The introspection endpoint (`https://auth.example.com/oauth2/introspect`).
    pub url: String,
    /// This server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Where the claims are in an answer.
    pub claims: ClaimPaths,
    /// How long an active answer is cached at most (never past the token's `exp`).
    pub cache_ttl: Duration,
    /// How long one introspection may take.
    pub timeout: Duration,
}

impl IntrospectionSettings {
    /// Introspection at `url` with these client credentials, the default claim paths, cache
    /// TTL and timeout.
    pub fn new(url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            claims: ClaimPaths::default(),
            cache_ttl: DEFAULT_CACHE_TTL,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for IntrospectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionSettings")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("claims", &self.claims)
            .field("cache_ttl", &self.cache_ttl)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// How many introspections were made and how many requests the cache answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntrospectionCounts {
    /// Requests sent to the authorization server.
    pub requests: u64,
    /// Authentications answered from the cache.
    pub cache_hits: u64,
    /// Authentications that needed an introspection (several concurrent ones share one).
    pub cache_misses: u64,
}

/// The token port over an authorization server; cheap to clone (clones share the cache).
#[derive(Debug, Clone)]
pub struct OAuthIntrospection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    settings: IntrospectionSettings,
    cache: Cache<[u8; 32], TokenInfo>,
    directory: Arc<dyn IdentityDirectory>,
    requests: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

/// Why an introspection gave no cacheable answer (never cached).
#[derive(Debug)]
enum Uncached {
    /// Inactive, or naming no valid identity: the token stands for nobody.
    Inactive,
    /// The authorization server or the directory failed.
    Failed(StoreError),
}

/// Each answer lives until the token's `exp` or the TTL, whichever comes first.
struct UntilExpiry {
    ttl: Duration,
}

impl Expiry<[u8; 32], TokenInfo> for UntilExpiry {
    fn expire_after_create(
        &self,
        _token: &[u8; 32],
        info: &TokenInfo,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        let until_expiry = info
            .expires_at
            .map(|expires_at| (expires_at - Utc::now()).to_std().unwrap_or_default());
        Some(until_expiry.map_or(self.ttl, |left| left.min(self.ttl)))
    }
}

impl OAuthIntrospection {
    /// Introspects with `settings`, recording the identities it vouches for in `directory`.
    pub fn new(
        settings: IntrospectionSettings,
        directory: Arc<dyn IdentityDirectory>,
    ) -> Result<Self, StoreError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .build()
            .map_err(StoreError::backend)?;
        let cache = Cache::builder()
            .max_capacity(CACHE_CAPACITY)
            .expire_after(UntilExpiry {
                ttl: settings.cache_ttl,
            })
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                settings,
                cache,
                directory,
                requests: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                cache_misses: AtomicU64::new(0),
            }),
        })
    }

    /// What the introspection did so far.
    pub fn counts(&self) -> IntrospectionCounts {
        IntrospectionCounts {
            requests: self.inner.requests.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
            cache_misses: self.inner.cache_misses.load(Ordering::Relaxed),
        }
    }

    /// Asks the authorization server, and records the identity of an active token.
    async fn fetch(&self, token: &str) -> Result<TokenInfo, Uncached> {
        let inner = &self.inner;
        inner.requests.fetch_add(1, Ordering::Relaxed);
        let failed = |error: reqwest::Error| {
            // Without the URL: it may carry credentials, and the cause is what matters.
            Uncached::Failed(StoreError::unavailable(error.without_url()))
        };
        let response = inner
            .http
            .post(&inner.settings.url)
            .basic_auth(
                &inner.settings.client_id,
                Some(&inner.settings.client_secret),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(failed)
            .inspect_err(|_| crate::metrics::introspection("failed"))?;
        if response.status() != reqwest::StatusCode::OK {
            crate::metrics::introspection("failed");
            return Err(Uncached::Failed(StoreError::unavailable(format!(
                "the authorization server answered the introspection with {}",
                response.status()
            ))));
        }
        let answer: serde_json::Value = response.json().await.map_err(failed)?;
        let Some(active) = inner.settings.claims.read(&answer) else {
            crate::metrics::introspection("inactive");
            return Err(Uncached::Inactive);
        };
        crate::metrics::introspection("active");
        inner
            .directory
            .record_signed_in(&active.profile)
            .await
            .map_err(Uncached::Failed)?;
        Ok(active.info)
    }
}

#[async_trait]
impl TokenIntrospector for OAuthIntrospection {
    async fn introspect(&self, token: &str) -> Result<Option<TokenInfo>, StoreError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let fetched = AtomicBool::new(false);
        let answer = self
            .inner
            .cache
            .try_get_with(key, async {
                fetched.store(true, Ordering::Relaxed);
                self.fetch(token).await
            })
            .await;
        let missed = fetched.load(Ordering::Relaxed);
        crate::metrics::introspection_cache(!missed);
        let counter = if missed {
            &self.inner.cache_misses
        } else {
            &self.inner.cache_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match answer {
            Ok(info) => Ok(Some(info)),
            Err(uncached) => match &*uncached {
                Uncached::Inactive => Ok(None),
                Uncached::Failed(error) => Err(error.clone()),
            },
        }
    }
}
