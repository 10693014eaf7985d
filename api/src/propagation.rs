//! Change propagation across broker replicas: LISTEN/NOTIFY feeds in-memory counters.
//!
//! Every replica listens on the tenant's state and auth channels. A state notification bumps a
//! per-agent counter (`agent:<id>`) or the stack counter (`stack:<id>`, which may concern any
//! agent) and wakes long-polling requests; an auth notification drops cached credentials. While
//! the listener is disconnected, nothing cached is trusted (notifications may be missed), and a
//! reconnect invalidates everything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use brokkr_schema::error_chain;
use brokkr_schema::store::notify::{Channels, Scope};
use brokkr_schema::store::outage::{Backoff, Outage};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use uuid::Uuid;

use crate::auth::AuthCache;

/// The version of an agent's target state as far as this replica knows:
/// (epoch, stack counter, agent counter). Equal versions mean nothing relevant changed.
pub type StateVersion = (u64, u64, u64);

/// Counters, wake-ups and the ETag cache of target-state responses.
pub struct Propagation {
    connected: AtomicBool,
    /// The broker is shutting down: long polls answer at once.
    closing: AtomicBool,
    epoch: AtomicU64,
    stacks: AtomicU64,
    agents: RwLock<HashMap<Uuid, u64>>,
    tick: watch::Sender<u64>,
    etags: RwLock<HashMap<(Uuid, bool), (StateVersion, String)>>,
}

impl Default for Propagation {
    fn default() -> Self {
        Self {
            connected: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            stacks: AtomicU64::new(0),
            agents: RwLock::new(HashMap::new()),
            tick: watch::Sender::new(0),
            etags: RwLock::new(HashMap::new()),
        }
    }
}

impl Propagation {
    /// True while the listener is connected, i.e. cached answers can be trusted.
    pub fn is_live(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The current state version of `agent`.
    pub fn version(&self, agent: Uuid) -> StateVersion {
        let agent_counter = self
            .agents
            .read()
            .map(|m| m.get(&agent).copied().unwrap_or(0))
            .unwrap_or(0);
        (
            self.epoch.load(Ordering::Acquire),
            self.stacks.load(Ordering::Acquire),
            agent_counter,
        )
    }

    /// Ends every long poll: waiting requests answer with what they have, new ones do not wait
    /// (called when shutdown begins, so draining does not wait for the polls' deadlines).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// True once [`Propagation::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// A receiver that wakes on every change seen by this replica.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tick.subscribe()
    }

    /// Applies a change (from a notification, or locally right after a commit).
    pub fn apply(&self, scope: Option<Scope>) {
        match scope {
            Some(Scope::Agent(id)) => {
                if let Ok(mut agents) = self.agents.write() {
                    *agents.entry(id).or_insert(0) += 1;
                }
            }
            Some(Scope::Stack(_)) => {
                self.stacks.fetch_add(1, Ordering::AcqRel);
            }
            Some(Scope::Admin | Scope::Generator(_)) => return,
            None => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// The cached ETag of an agent's target state, if still valid at `version`.
    pub fn cached_etag(&self, agent: Uuid, full: bool, version: StateVersion) -> Option<String> {
        if !self.is_live() {
            return None;
        }
        let etags = self.etags.read().ok()?;
        match etags.get(&(agent, full)) {
            Some((v, etag)) if *v == version => Some(etag.clone()),
            _ => None,
        }
    }

    /// Remembers the ETag computed for `version`.
    pub fn store_etag(&self, agent: Uuid, full: bool, version: StateVersion, etag: &str) {
        if let Ok(mut etags) = self.etags.write() {
            etags.insert((agent, full), (version, etag.to_owned()));
        }
    }

    fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        // Whatever happened while we could not hear notifications is unknown.
        self.apply(None);
    }
}

/// Listens for notifications until the process ends, reconnecting with backoff and jitter
/// (the outage is logged once, see `brokkr_schema::store::outage`).
pub async fn run_listener(
    pool: PgPool,
    channels: Channels,
    propagation: Arc<Propagation>,
    auth_cache: Arc<AuthCache>,
) {
    let mut outage = Outage::new("change notification listener");
    let mut backoff = Backoff::default();
    loop {
        match listen(&pool, &channels).await {
            Ok(mut listener) => {
                backoff.reset();
                outage.resolved();
                auth_cache.clear();
                propagation.set_connected(true);
                tracing::debug!("listening for state and credential notifications");
                let lost = loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let scope = Scope::parse(n.payload());
                            if n.channel() == channels.auth {
                                match scope {
                                    Some(s) => auth_cache.invalidate(s),
                                    None => auth_cache.clear(),
                                }
                            } else {
                                propagation.apply(scope);
                            }
                        }
                        Ok(None) => break "connection lost".to_owned(),
                        Err(e) => break error_chain(&e),
                    }
                };
                // Whatever changed until we listen again is unknown: nothing cached is trusted.
                propagation.set_connected(false);
                auth_cache.clear();
                outage.failed(&lost);
            }
            Err(e) => outage.failed(&error_chain(&e)),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

async fn listen(pool: &PgPool, channels: &Channels) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([channels.state.as_str(), channels.auth.as_str()])
        .await?;
    Ok(listener)
}
