//! The state every task of the agent shares: settings, identity, the broker and Kubernetes
//! clients, the registry of applied deployment objects, metrics and the shutdown signal.
//!
//! Tasks receive it as `Arc<AgentContext>` and loop until [`AgentContext::cancel`] fires:
//!
//! ```ignore
//! pub async fn run(ctx: Arc<AgentContext>) {
//!     while ctx.sleep(Duration::from_secs(ctx.settings.polling_interval)).await {
//!         if !ctx.is_active() {
//!             continue;
//!         }
//!         // ... one round of work, every call bounded by a timeout ...
//!     }
//! }
//! ```

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use brokkr_schema::config::{AgentSettings, Settings};
use brokkr_schema::live::{ConfigSource, LiveSettings};
use brokkr_schema::models::{Agent, AgentStatus};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::applied::AppliedObjects;
use crate::broker::BrokerClient;
use crate::health_server::ConnectionStatus;
use crate::metrics::AgentMetrics;

/// Everything the agent's tasks share.
pub struct AgentContext {
    /// The `[agent]` settings as at start-up. Dynamic keys (intervals) may change while the
    /// agent runs: read those through [`AgentContext::current_settings`].
    pub settings: AgentSettings,
    /// The process's settings, reloaded on SIGHUP and config-file changes.
    pub live: Arc<LiveSettings>,
    /// This agent's id on the broker.
    pub agent_id: Uuid,
    /// The agent's record as last read from the broker (refreshed after each heartbeat).
    agent: RwLock<Agent>,
    /// Authenticated client of the broker API.
    pub broker: BrokerClient,
    /// Client of the managed cluster's Kubernetes API.
    pub kube: kube::Client,
    /// What the reconcile loop applied, per deployment object (read by health and diagnostics).
    pub applied: AppliedObjects,
    /// Prometheus metrics of the agent (served at `/metrics`).
    pub metrics: AgentMetrics,
    /// Fires on SIGTERM/SIGINT: every loop stops at its next await point.
    pub cancel: CancellationToken,
    /// Broker and Kubernetes reachability, as last observed (for `/readyz` and `/health`).
    pub status: ConnectionStatus,
    /// When the process started.
    pub started_at: Instant,
}

impl AgentContext {
    /// Builds the context of an agent whose record is `agent`, with fixed settings (tests).
    pub fn new(
        settings: AgentSettings,
        agent: Agent,
        broker: BrokerClient,
        kube: kube::Client,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        let all = Settings {
            agent: settings,
            ..Settings::default()
        };
        let live = LiveSettings::new(all, ConfigSource::default());
        Self::with_live(live, agent, broker, kube, cancel)
    }

    /// Builds the context of a running agent whose settings can be reloaded.
    pub fn with_live(
        live: Arc<LiveSettings>,
        agent: Agent,
        broker: BrokerClient,
        kube: kube::Client,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings: live.current().agent.clone(),
            live,
            agent_id: agent.id,
            agent: RwLock::new(agent),
            broker,
            kube,
            applied: AppliedObjects::default(),
            metrics: AgentMetrics::new(),
            cancel,
            status: ConnectionStatus::default(),
            started_at: Instant::now(),
        })
    }

    /// The `[agent]` settings in effect now (after any reload): use this for intervals.
    pub fn current_settings(&self) -> AgentSettings {
        self.live.current().agent.clone()
    }

    /// The agent's record as last read from the broker.
    pub fn agent(&self) -> Agent {
        self.agent.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// True when the broker says the agent is `ACTIVE`; inactive agents do no deployment work.
    pub fn is_active(&self) -> bool {
        self.agent.read().unwrap_or_else(|e| e.into_inner()).status == AgentStatus::Active
    }

    /// Replaces the agent's record (after a heartbeat re-read it).
    pub fn set_agent(&self, agent: Agent) {
        *self.agent.write().unwrap_or_else(|e| e.into_inner()) = agent;
    }

    /// Sleeps for `duration`; false when the agent is shutting down (stop the loop then).
    pub async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }

    /// True once shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `round` every `interval` seconds (read from the live settings before each pause,
    /// so a reload applies to the next one) while the agent is ACTIVE, until shutdown. A failed
    /// round is logged with `what` and lengthens the next pause, up to six intervals.
    pub async fn run_rounds<T, E, Fut>(
        &self,
        what: &'static str,
        interval: fn(&AgentSettings) -> u64,
        mut round: impl FnMut() -> Fut,
    ) where
        Fut: std::future::Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let mut failures: u32 = 0;
        loop {
            let every = Duration::from_secs(interval(&self.current_settings()).max(1));
            if !self.sleep(every.saturating_mul(failures.min(5) + 1)).await {
                return;
            }
            if !self.is_active() {
                continue;
            }
            let outcome = tokio::select! {
                _ = self.cancel.cancelled() => return,
                outcome = round() => outcome,
            };
            match outcome {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "{what}");
                }
            }
        }
    }
}
