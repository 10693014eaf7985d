//! Shared state of the broker process, and [`Write`]: a transaction that records its changes.

use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::config::Settings;
use brokkr_schema::crypto::Keyring;
use brokkr_schema::destinations::DestinationPolicy;
use brokkr_schema::events::BrokkrEvent;
use brokkr_schema::live::{ConfigSource, LiveSettings};
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::{Channels, Scope};
use sqlx::{PgConnection, PgPool};

use crate::audit::AuthFailureLimiter;
use crate::auth::AuthCache;
use crate::error::ApiResult;
use crate::metrics::Metrics;
use crate::propagation::Propagation;

/// Everything a request handler needs.
pub struct AppState {
    pub pool: PgPool,
    /// The settings the process started with: static keys are read here.
    pub settings: Settings,
    /// The settings in effect now: dynamic keys (CORS, log level, ...) are read here.
    pub live: Arc<LiveSettings>,
    pub channels: Channels,
    pub auth_cache: Arc<AuthCache>,
    pub propagation: Arc<Propagation>,
    pub metrics: Arc<Metrics>,
    /// Rate limit of audited authentication failures.
    pub auth_failures: AuthFailureLimiter,
    /// Webhook secrets at rest; `None` when no key is configured (secrets cannot be stored).
    pub keyring: Option<Arc<Keyring>>,
    /// Where webhooks may be sent.
    pub destinations: DestinationPolicy,
    /// Turns true when the server has stopped: background followers (config reloads) end.
    pub stopped: tokio::sync::watch::Sender<bool>,
}

/// The keyring of `broker.webhook_encryption_key` (and previous keys), if configured.
fn load_keyring(settings: &Settings) -> Option<Arc<Keyring>> {
    // Keys were validated when the settings loaded; should one still be unusable, refusing to
    // store webhooks (with a log line) is the safe way to meet it.
    match Keyring::from_settings(&settings.broker) {
        Ok(Some(keyring)) => {
            tracing::info!(
                key_id = %keyring.current().fingerprint(),
                "webhook encryption key loaded"
            );
            Some(Arc::new(keyring))
        }
        Ok(None) => {
            tracing::warn!(
                "broker.webhook_encryption_key is not set: webhook subscriptions cannot be created"
            );
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook encryption key unusable; webhooks cannot be stored");
            None
        }
    }
}

impl AppState {
    /// State for `settings` over an open pool (background tasks are started by the caller).
    pub fn new(pool: PgPool, settings: Settings, metrics: Arc<Metrics>) -> Self {
        let live = LiveSettings::new(settings, ConfigSource::process(None));
        Self::with_live(pool, live, metrics)
    }

    /// State following `live` over an open pool.
    pub fn with_live(pool: PgPool, live: Arc<LiveSettings>, metrics: Arc<Metrics>) -> Self {
        let settings = (*live.current()).clone();
        let channels = Channels::for_schema(settings.database.schema.as_deref());
        let ttl = Duration::from_secs(settings.broker.auth_cache_ttl_seconds);
        let keyring = load_keyring(&settings);
        let destinations = DestinationPolicy::from_networks(&settings.webhooks.allowed_networks)
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhooks.allowed_networks unusable; ignoring it");
                DestinationPolicy::default()
            });
        Self {
            pool,
            settings,
            live,
            channels,
            auth_cache: Arc::new(AuthCache::new(ttl)),
            propagation: Arc::new(Propagation::default()),
            metrics,
            auth_failures: AuthFailureLimiter::default(),
            keyring,
            destinations,
            stopped: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Starts a write on behalf of `actor`.
    pub async fn write(&self, actor: Actor) -> ApiResult<Write<'_>> {
        Ok(Write {
            tx: brokkr_schema::store::begin(&self.pool).await?,
            state: self,
            actor,
            scopes: Vec::new(),
        })
    }
}

/// A transaction whose changes are recorded through [`changes::record`] and, once committed,
/// applied to this replica's caches at once (other replicas hear of them by NOTIFY).
pub struct Write<'s> {
    tx: brokkr_schema::store::Transaction,
    state: &'s AppState,
    actor: Actor,
    scopes: Vec<Scope>,
}

impl Write<'_> {
    /// The transaction's connection, for store calls.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// The transaction's connection with the channels and actor, for helpers that record
    /// changes themselves (shared with the CLI). Scopes they notify reach this replica's caches
    /// by NOTIFY, like those of other replicas.
    pub fn parts(&mut self) -> (&mut PgConnection, &Channels, &Actor) {
        (&mut self.tx, &self.state.channels, &self.actor)
    }

    /// Records a change (audit entry, event, notifications) in this transaction.
    pub async fn record(&mut self, change: Change<'_>) -> ApiResult<Option<BrokkrEvent>> {
        let recorded =
            changes::record(&mut self.tx, &self.state.channels, &self.actor, change).await?;
        self.scopes.extend(recorded.scopes);
        Ok(recorded.event)
    }

    /// Commits, then drops stale cache entries on this replica.
    pub async fn commit(self) -> ApiResult<()> {
        self.tx.commit().await?;
        for scope in self.scopes {
            match scope {
                Scope::Admin | Scope::Generator(_) => self.state.auth_cache.invalidate(scope),
                Scope::Agent(_) => {
                    self.state.auth_cache.invalidate(scope);
                    self.state.propagation.apply(Some(scope));
                }
                Scope::Stack(_) => self.state.propagation.apply(Some(scope)),
            }
        }
        Ok(())
    }
}
