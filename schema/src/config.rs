//! Layered configuration: built-in defaults, then a TOML file (`BROKKR_CONFIG_FILE` or
//! `--config`), then environment variables `BROKKR__SECTION__KEY` (later layers win).
//!
//! Unknown keys and values of the wrong type are errors that name the key, so a typo never
//! silently falls back to a default. Lists given in the environment are comma-separated.
//!
//! ```
//! use brokkr_schema::config::Settings;
//! let env = [("BROKKR__BROKER__LISTEN_ADDR".to_string(), "127.0.0.1:4000".to_string())];
//! let settings = Settings::load(None, env).unwrap();
//! assert_eq!(settings.broker.listen_addr, "127.0.0.1:4000");
//! ```

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::pak::{self, PakSettings};
use crate::validation;

/// A configuration problem, naming the key at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    /// Dotted key (`broker.listen_addr`), or the file path for a file that cannot be read.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Every setting of every Brokkr process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub broker: BrokerSettings,
    pub cors: CorsSettings,
    pub agent: AgentSettings,
    pub telemetry: TelemetrySettings,
    pub pak: PakSettings,
    pub webhooks: WebhookSettings,
    pub worker: WorkerSettings,
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL.
    pub url: String,
    /// Tenant schema: created and migrated on first start, used as `search_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Connections each process opens at most, its LISTEN connections included (a worker
    /// uses at least 8).
    pub max_connections: u32,
    /// Seconds to wait for a connection before giving up.
    pub connect_timeout_seconds: u64,
    /// Apply pending migrations when the broker starts.
    pub run_migrations: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "postgres://brokkr:brokkr@localhost:5432/brokkr".into(),
            schema: None,
            max_connections: 20,
            connect_timeout_seconds: 5,
            run_migrations: true,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `trace`, `debug`, `info`, `warn`, `error` or a full `tracing` filter.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// `[broker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// Address the HTTP API listens on.
    pub listen_addr: String,
    /// Pre-computed admin PAK hash (hex SHA-256 of the whole PAK).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pak_hash: Option<String>,
    pub diagnostic_cleanup_interval_seconds: u64,
    pub diagnostic_max_age_hours: u64,
    /// 64 hex characters (AES-256) for webhook secrets at rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_encryption_key: Option<String>,
    /// Keys that wrote values before the last rotation: read, never written with.
    pub webhook_previous_encryption_keys: Vec<String>,
    pub webhook_cleanup_retention_days: u64,
    pub audit_log_retention_days: u64,
    /// Seconds an authenticated PAK stays cached; 0 disables the cache.
    pub auth_cache_ttl_seconds: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Executable that renders templates in a child process (started with the argument
    /// `__render-template`); unset: the running `brokkr-broker` / `brokkr-worker` itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_renderer: Option<String>,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            listen_addr: "0.0.0.0:3000".into(),
            pak_hash: None,
            diagnostic_cleanup_interval_seconds: 900,
            diagnostic_max_age_hours: 1,
            webhook_encryption_key: None,
            webhook_previous_encryption_keys: Vec::new(),
            webhook_cleanup_retention_days: 7,
            audit_log_retention_days: 90,
            auth_cache_ttl_seconds: 60,
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_grace_seconds: 30,
            template_renderer: None,
        }
    }
}

/// `[worker]`: the `brokkr-worker` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Address of the worker's `/healthz`, `/readyz` and `/metrics`.
    pub listen_addr: String,
    /// Webhook deliveries in flight at once per worker process.
    pub webhook_delivery_concurrency: u64,
    /// Jobs fetched per poll of a queue.
    pub batch_size: u64,
    /// Seconds in-flight jobs get to finish after SIGTERM.
    pub shutdown_deadline_seconds: u64,
    /// First retry delay of a failed delivery; each further retry doubles it (with ±20% jitter).
    pub webhook_retry_base_seconds: u64,
    /// Longest delay between two delivery attempts.
    pub webhook_retry_max_seconds: u64,
    /// Seconds between two heartbeats of a worker; a job whose worker misses several heartbeats
    /// runs again elsewhere.
    pub heartbeat_interval_seconds: u64,
    /// Milliseconds between two polls of a queue (new jobs also wake consumers at once).
    pub poll_interval_ms: u64,
    /// Seconds between two sweeps returning lapsed leases to pending.
    pub stale_claim_reap_interval_seconds: u64,
    /// Seconds between two retention cleanups.
    pub retention_cleanup_interval_seconds: u64,
    /// A subscription whose deliveries have all failed for this long is disabled.
    pub webhook_disable_after_seconds: u64,
    /// PostgreSQL `synchronous_commit` of the worker's connections. `off` (the default) lets
    /// the worker's own bookkeeping (attempt records, job acknowledgements) skip the wait for
    /// the WAL flush: a database crash can lose the last fraction of a second of it, which only
    /// means a delivery is sent again (same delivery id). The broker's writes are unaffected.
    pub synchronous_commit: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            listen_addr: "0.0.0.0:3001".into(),
            webhook_delivery_concurrency: 32,
            batch_size: 128,
            shutdown_deadline_seconds: 30,
            webhook_retry_base_seconds: 2,
            webhook_retry_max_seconds: 3600,
            heartbeat_interval_seconds: 10,
            poll_interval_ms: 1000,
            stale_claim_reap_interval_seconds: 30,
            retention_cleanup_interval_seconds: 3600,
            webhook_disable_after_seconds: 5 * 24 * 3600,
            synchronous_commit: "off".into(),
        }
    }
}

/// `[webhooks]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Networks (CIDR) in otherwise refused ranges (loopback, private, link-local, ...) that
    /// webhook destinations may use, e.g. `["127.0.0.0/8"]` for tests.
    pub allowed_networks: Vec<String>,
    /// Forward proxy for webhook deliveries (`http://proxy.internal:3128`, credentials in the
    /// URL allowed); empty: deliveries connect directly. `HTTP(S)_PROXY` from the environment
    /// is never used for deliveries.
    pub proxy: String,
}

impl WebhookSettings {
    /// The proxy URL, when one is set (checked by [`Settings::validate`]).
    pub fn proxy_url(&self) -> Result<Option<url::Url>, String> {
        let text = self.proxy.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the scheme must be http or https, not {}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the URL names no host".into());
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("a proxy URL is scheme, host and port only".into());
        }
        Ok(Some(url))
    }
}

/// `[cors]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorsSettings {
    /// Allowed origins; `*` allows any.
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub max_age_seconds: u64,
}

impl Default for CorsSettings {
    fn default() -> Self {
        Self {
            allowed_origins: vec!["http://localhost:3001".into()],
            allowed_methods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["Authorization", "Content-Type"].map(String::from).to_vec(),
            max_age_seconds: 3600,
        }
    }
}

/// `[agent]`: the `brokkr-agent` process. Intervals and timeouts are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSettings {
    /// Base URL of the broker, e.g. `https://brokkr.example.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_url: Option<String>,
    /// The agent's PAK (never logged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pak: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Heartbeats, work-order polls, and the target-state retry delay after an error.
    pub polling_interval: u64,
    /// kubeconfig of the managed cluster; unset: `KUBECONFIG`, then the in-cluster config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig_path: Option<String>,
    /// Attempts at reaching the broker's `/readyz` at start-up before giving up.
    pub max_retries: u64,
    /// Extra attempts at reporting an event that the broker did not accept.
    pub max_event_message_retries: u64,
    /// Delay before the first extra attempt at reporting an event (doubling each time).
    pub event_message_retry_delay: u64,
    /// Port of the agent's `/healthz`, `/readyz`, `/health` and `/metrics`.
    pub health_port: u16,
    /// Address the health server binds to.
    pub health_bind_address: String,
    pub deployment_health_enabled: bool,
    pub deployment_health_interval: u64,
    /// Seconds between two polls for pending diagnostic requests.
    pub diagnostics_interval: u64,
    /// Seconds between two polls for webhook deliveries the agent makes.
    pub webhook_interval: u64,
    /// Seconds between two full re-applies of the target state (drift correction).
    pub reconcile_interval: u64,
    /// Objects applied in parallel within one deployment object.
    pub apply_concurrency: u64,
    /// Timeout of each broker request (a long poll gets its wait on top).
    pub request_timeout: u64,
    /// Seconds a target-state request waits for a change (`?wait=`, at most 60; 0 polls).
    pub long_poll_wait: u64,
    /// Attempts of a Kubernetes call that failed with 429, 5xx or a connection error.
    pub kube_max_retries: u64,
    /// Generators (ids) the agent registers with at start: it consents to run their stacks.
    /// Env: `BROKKR__AGENT__GENERATOR_IDS=id1,id2`.
    pub generator_ids: Vec<String>,
    /// Namespaces the agent may manage; empty: the whole cluster. Non-empty (namespaced mode,
    /// the agent chart's `rbac.mode: namespaced`): objects elsewhere and cluster-scoped kinds
    /// are refused, and prune, health and diagnostics list only in these namespaces.
    /// Env: `BROKKR__AGENT__NAMESPACES=apps,jobs`.
    pub namespaces: Vec<String>,
    /// With `namespaces`: the cluster-scoped resources the agent is granted all the same
    /// (`namespaces`, `customresourcedefinitions.apiextensions.k8s.io`: plural, then `.group`
    /// unless core), which it applies, lists and prunes cluster-wide. The agent chart renders
    /// it from `rbac.clusterResources`.
    pub cluster_resources: Vec<String>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            broker_url: None,
            pak: None,
            agent_name: None,
            cluster_name: None,
            polling_interval: 10,
            kubeconfig_path: None,
            max_retries: 60,
            max_event_message_retries: 2,
            event_message_retry_delay: 5,
            health_port: 8080,
            health_bind_address: "0.0.0.0".into(),
            deployment_health_enabled: true,
            deployment_health_interval: 60,
            diagnostics_interval: 10,
            webhook_interval: 10,
            reconcile_interval: 60,
            apply_concurrency: 8,
            request_timeout: 30,
            long_poll_wait: 30,
            kube_max_retries: 6,
            generator_ids: Vec::new(),
            namespaces: Vec::new(),
            cluster_resources: Vec::new(),
        }
    }
}

/// `[telemetry]`: OTLP trace export, with per-process overrides in `[telemetry.broker]`,
/// `[telemetry.worker]` and `[telemetry.agent]`. Read once at start (see `brokkr_runtime::telemetry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Export spans over OTLP.
    pub enabled: bool,
    /// Collector URL; empty for the protocol's default (`http://localhost:4317` for `grpc`,
    /// `http://localhost:4318` for `http/protobuf`). `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` win when set.
    pub otlp_endpoint: String,
    /// `grpc` or `http/protobuf`; `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` and
    /// `OTEL_EXPORTER_OTLP_PROTOCOL` win when set.
    pub otlp_protocol: String,
    /// `service.name` prefix: a process reports `<service_name>-broker`, `-worker` or `-agent`
    /// unless its override names it (`OTEL_SERVICE_NAME` wins when set).
    pub service_name: String,
    /// Fraction of new traces kept (parent-based: a trace sampled upstream stays whole).
    pub sampling_rate: f64,
    pub broker: TelemetryOverride,
    pub worker: TelemetryOverride,
    pub agent: TelemetryOverride,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            otlp_endpoint: String::new(),
            otlp_protocol: OTLP_GRPC.into(),
            service_name: "brokkr".into(),
            sampling_rate: 0.1,
            broker: TelemetryOverride::default(),
            worker: TelemetryOverride::default(),
            agent: TelemetryOverride::default(),
        }
    }
}

/// `telemetry.otlp_protocol` for OTLP over gRPC.
pub const OTLP_GRPC: &str = "grpc";
/// `telemetry.otlp_protocol` for OTLP over HTTP with protobuf bodies.
pub const OTLP_HTTP_PROTOBUF: &str = "http/protobuf";

/// Per-process telemetry overrides; unset fields use the `[telemetry]` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryOverride {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling_rate: Option<f64>,
}

/// The process whose telemetry settings are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryProcess {
    Broker,
    Worker,
    Agent,
}

impl TelemetryProcess {
    /// `broker`, `worker` or `agent`.
    pub fn name(self) -> &'static str {
        match self {
            TelemetryProcess::Broker => "broker",
            TelemetryProcess::Worker => "worker",
            TelemetryProcess::Agent => "agent",
        }
    }
}

/// The telemetry settings of one process, overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveTelemetry {
    pub enabled: bool,
    pub otlp_endpoint: String,
    pub otlp_protocol: String,
    pub service_name: String,
    pub sampling_rate: f64,
}

impl TelemetrySettings {
    /// The settings of `process`: its override where set, else `[telemetry]`; the service name
    /// defaults to `<service_name>-<process>`.
    pub fn effective(&self, process: TelemetryProcess) -> EffectiveTelemetry {
        let o = match process {
            TelemetryProcess::Broker => &self.broker,
            TelemetryProcess::Worker => &self.worker,
            TelemetryProcess::Agent => &self.agent,
        };
        EffectiveTelemetry {
            enabled: o.enabled.unwrap_or(self.enabled),
            otlp_endpoint: o
                .otlp_endpoint
                .clone()
                .unwrap_or_else(|| self.otlp_endpoint.clone()),
            otlp_protocol: o
                .otlp_protocol
                .clone()
                .unwrap_or_else(|| self.otlp_protocol.clone()),
            service_name: o
                .service_name
                .clone()
                .unwrap_or_else(|| format!("{}-{}", self.service_name, process.name())),
            sampling_rate: o.sampling_rate.unwrap_or(self.sampling_rate),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let sections = [
            ("telemetry", None),
            ("telemetry.broker", Some(&self.broker)),
            ("telemetry.worker", Some(&self.worker)),
            ("telemetry.agent", Some(&self.agent)),
        ];
        for (section, o) in sections {
            let (rate, protocol, endpoint) = match o {
                None => (
                    Some(self.sampling_rate),
                    Some(&self.otlp_protocol),
                    Some(&self.otlp_endpoint),
                ),
                Some(o) => (
                    o.sampling_rate,
                    o.otlp_protocol.as_ref(),
                    o.otlp_endpoint.as_ref(),
                ),
            };
            if rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return Err(ConfigError::new(
                    format!("{section}.sampling_rate"),
                    "must be between 0.0 and 1.0",
                ));
            }
            if protocol.is_some_and(|p| p != OTLP_GRPC && p != OTLP_HTTP_PROTOBUF) {
                return Err(ConfigError::new(
                    format!("{section}.otlp_protocol"),
                    "must be `grpc` or `http/protobuf`",
                ));
            }
            if let Some(e) = endpoint.filter(|e| !e.is_empty()) {
                let valid = url::Url::parse(e)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !valid {
                    return Err(ConfigError::new(
                        format!("{section}.otlp_endpoint"),
                        "must be an http:// or https:// URL (or empty for the default)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Environment variable prefix of configuration keys.
pub const ENV_PREFIX: &str = "BROKKR__";

impl Settings {
    /// Loads defaults, then `file` (when given), then the `BROKKR__*` variables of `env`, and
    /// validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut tree = to_tree(&Settings::default())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
            })?;
            let overlay: toml::Table = toml::from_str(&text).map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("invalid TOML: {e}"))
            })?;
            merge(&mut tree, Value::Table(overlay));
        }
        let types = to_tree(&Settings::type_probe())?;
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (name, raw) in vars {
            let path: Vec<String> = name[ENV_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            let key = path.join(".");
            if path.iter().any(String::is_empty) {
                return Err(ConfigError::new(name, "malformed variable name"));
            }
            let value = typed_env_value(&types, &path, &raw)
                .map_err(|message| ConfigError::new(key.clone(), message))?;
            set_path(&mut tree, &path, value);
        }
        let settings: Settings = serde_path_to_error::deserialize(tree).map_err(
            |e: serde_path_to_error::Error<_>| {
                let key = e.path().to_string();
                ConfigError::new(key, e.into_inner().to_string())
            },
        )?;
        settings.validate()?;
        Ok(settings)
    }

    /// Loads from the process environment, with the file named by `file` or, failing that, by
    /// `BROKKR_CONFIG_FILE`.
    pub fn from_process(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let from_env = std::env::var_os("BROKKR_CONFIG_FILE").map(std::path::PathBuf::from);
        let file = file.map(Path::to_path_buf).or(from_env);
        Settings::load(file.as_deref(), std::env::vars())
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.broker
            .listen_addr
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::new("broker.listen_addr", e.to_string()))?;
        self.worker
            .listen_addr
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::new("worker.listen_addr", e.to_string()))?;
        for (key, value) in [
            (
                "worker.webhook_delivery_concurrency",
                self.worker.webhook_delivery_concurrency,
            ),
            ("worker.batch_size", self.worker.batch_size),
            ("worker.poll_interval_ms", self.worker.poll_interval_ms),
            (
                "worker.webhook_retry_base_seconds",
                self.worker.webhook_retry_base_seconds,
            ),
            (
                "worker.heartbeat_interval_seconds",
                self.worker.heartbeat_interval_seconds,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        for (key, value) in [
            ("agent.polling_interval", self.agent.polling_interval),
            ("agent.max_retries", self.agent.max_retries),
            (
                "agent.deployment_health_interval",
                self.agent.deployment_health_interval,
            ),
            (
                "agent.diagnostics_interval",
                self.agent.diagnostics_interval,
            ),
            ("agent.webhook_interval", self.agent.webhook_interval),
            ("agent.reconcile_interval", self.agent.reconcile_interval),
            ("agent.apply_concurrency", self.agent.apply_concurrency),
            ("agent.request_timeout", self.agent.request_timeout),
            ("agent.kube_max_retries", self.agent.kube_max_retries),
        ] {
            if value == 0 {
                return Err(ConfigError::new(key, "must be at least 1"));
            }
        }
        if self.agent.long_poll_wait > 60 {
            return Err(ConfigError::new(
                "agent.long_poll_wait",
                "must be at most 60 seconds",
            ));
        }
        if self.agent.apply_concurrency > 256 {
            return Err(ConfigError::new(
                "agent.apply_concurrency",
                "must be at most 256",
            ));
        }
        for namespace in &self.agent.namespaces {
            if !is_dns_label(namespace) {
                return Err(ConfigError::new(
                    "agent.namespaces",
                    format!(
                        "{namespace:?} is not a namespace name (lowercase letters, digits and '-', \
                         at most 63, starting and ending with a letter or digit)"
                    ),
                ));
            }
        }
        if self.agent.namespaces.is_empty() && !self.agent.cluster_resources.is_empty() {
            return Err(ConfigError::new(
                "agent.cluster_resources",
                "only applies with agent.namespaces (a cluster-wide agent manages every resource)",
            ));
        }
        for resource in &self.agent.cluster_resources {
            let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
            if !is_dns_label(plural)
                || group
                    .split('.')
                    .any(|g| !group.is_empty() && !is_dns_label(g))
            {
                return Err(ConfigError::new(
                    "agent.cluster_resources",
                    format!(
                        "{resource:?} is not a resource such as namespaces or customresourcedefinitions.apiextensions.k8s.io"
                    ),
                ));
            }
        }
        self.agent
            .health_bind_address
            .parse::<std::net::IpAddr>()
            .map_err(|e| ConfigError::new("agent.health_bind_address", e.to_string()))?;
        if !["on", "off", "local", "remote_write", "remote_apply"]
            .contains(&self.worker.synchronous_commit.as_str())
        {
            return Err(ConfigError::new(
                "worker.synchronous_commit",
                "must be one of on, off, local, remote_write, remote_apply",
            ));
        }
        if self.worker.webhook_retry_max_seconds < self.worker.webhook_retry_base_seconds {
            return Err(ConfigError::new(
                "worker.webhook_retry_max_seconds",
                "must be at least worker.webhook_retry_base_seconds",
            ));
        }
        if let Some(schema) = &self.database.schema {
            validation::schema_name(schema)
                .map_err(|e| ConfigError::new("database.schema", e.0))?;
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if !self.database.url.starts_with("postgres://")
            && !self.database.url.starts_with("postgresql://")
        {
            return Err(ConfigError::new(
                "database.url",
                "must be a postgres:// or postgresql:// URL",
            ));
        }
        if let Some(hash) = &self.broker.pak_hash
            && !hash.is_empty()
            && !pak::is_valid_hash(hash)
        {
            return Err(ConfigError::new(
                "broker.pak_hash",
                "must be 64 hex characters (SHA-256 of the admin PAK)",
            ));
        }
        if let Some(key) = &self.broker.webhook_encryption_key
            && !key.is_empty()
            && (key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::new(
                "broker.webhook_encryption_key",
                "must be 64 hex characters (a 256-bit key)",
            ));
        }
        let previous = &self.broker.webhook_previous_encryption_keys;
        if previous
            .iter()
            .any(|k| k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::new(
                "broker.webhook_previous_encryption_keys",
                "each key must be 64 hex characters (a 256-bit key)",
            ));
        }
        if !previous.is_empty()
            && self
                .broker
                .webhook_encryption_key
                .as_deref()
                .is_none_or(str::is_empty)
        {
            return Err(ConfigError::new(
                "broker.webhook_previous_encryption_keys",
                "needs broker.webhook_encryption_key (the current key) to be set",
            ));
        }
        for network in &self.webhooks.allowed_networks {
            crate::destinations::parse_network(network)
                .map_err(|e| ConfigError::new("webhooks.allowed_networks", e))?;
        }
        self.webhooks
            .proxy_url()
            .map_err(|e| ConfigError::new("webhooks.proxy", e))?;
        if !matches!(
            self.log.format.to_ascii_lowercase().as_str(),
            "text" | "json"
        ) {
            return Err(ConfigError::new("log.format", "must be `text` or `json`"));
        }
        if self.broker.max_body_bytes < 1024 {
            return Err(ConfigError::new(
                "broker.max_body_bytes",
                "must be at least 1024",
            ));
        }
        self.telemetry.validate()?;
        if self.pak.prefix.is_empty() || !self.pak.prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ConfigError::new(
                "pak.prefix",
                "must be non-empty and alphanumeric",
            ));
        }
        if !self
            .pak
            .short_token_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ConfigError::new(
                "pak.short_token_prefix",
                "must be alphanumeric",
            ));
        }
        if self.pak.long_token_length < 16 {
            return Err(ConfigError::new(
                "pak.long_token_length",
                "must be at least 16 for a key that cannot be guessed",
            ));
        }
        if self.pak.short_token_length == 0 {
            return Err(ConfigError::new(
                "pak.short_token_length",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The same shape as the defaults with every optional key present, so the environment layer
    /// knows the type of each key.
    fn type_probe() -> Settings {
        let mut s = Settings::default();
        s.database.schema = Some(String::new());
        s.broker.pak_hash = Some(String::new());
        s.broker.webhook_encryption_key = Some(String::new());
        s.agent.broker_url = Some(String::new());
        s.agent.pak = Some(String::new());
        s.agent.agent_name = Some(String::new());
        s.agent.cluster_name = Some(String::new());
        s.agent.kubeconfig_path = Some(String::new());
        let probe = TelemetryOverride {
            enabled: Some(false),
            otlp_endpoint: Some(String::new()),
            otlp_protocol: Some(String::new()),
            service_name: Some(String::new()),
            sampling_rate: Some(0.0),
        };
        s.telemetry.broker = probe.clone();
        s.telemetry.worker = probe.clone();
        s.telemetry.agent = probe;
        s
    }

    /// The settings as TOML with secrets redacted, for the start-up log.
    pub fn redacted(&self) -> String {
        let mut copy = self.clone();
        let redact = |v: &mut Option<String>| {
            if v.is_some() {
                *v = Some("<redacted>".into());
            }
        };
        redact(&mut copy.broker.pak_hash);
        redact(&mut copy.broker.webhook_encryption_key);
        for key in &mut copy.broker.webhook_previous_encryption_keys {
            *key = "<redacted>".into();
        }
        redact(&mut copy.agent.pak);
        copy.database.url = redact_url(&copy.database.url);
        copy.webhooks.proxy = redact_url(&copy.webhooks.proxy);
        toml::to_string(&copy).unwrap_or_default()
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn to_tree(settings: &Settings) -> Result<Value, ConfigError> {
    Value::try_from(settings).map_err(|e| ConfigError::new("<defaults>", e.to_string()))
}

fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Table(base), Value::Table(overlay)) => {
            for (k, v) in overlay {
                match base.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

fn lookup<'a>(tree: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(tree, |node, key| node.get(key))
}

fn set_path(tree: &mut Value, path: &[String], value: Value) {
    let mut node = tree;
    for key in &path[..path.len() - 1] {
        let Value::Table(table) = node else { return };
        node = table
            .entry(key.clone())
            .or_insert_with(|| Value::Table(toml::Table::new()));
    }
    if let (Value::Table(table), Some(last)) = (node, path.last()) {
        table.insert(last.clone(), value);
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
fn is_dns_label(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

fn typed_env_value(types: &Value, path: &[String], raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    match lookup(types, path) {
        None => Err("unknown configuration key".into()),
        Some(Value::Integer(_)) => raw
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("expected an integer, got {raw:?}")),
        Some(Value::Float(_)) => raw
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("expected a number, got {raw:?}")),
        Some(Value::Boolean(_)) => match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true or false, got {raw:?}")),
        },
        Some(Value::Array(_)) => {
            let items = if raw.starts_with('[') {
                serde_json::from_str::<Vec<String>>(raw)
                    .map_err(|e| format!("expected a JSON list of strings: {e}"))?
            } else {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            };
            Ok(Value::Array(items.into_iter().map(Value::String).collect()))
        }
        Some(Value::Table(_)) => Err("is a section, not a key".into()),
        Some(_) => Ok(Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, env(&[])).unwrap();
        assert_eq!(s.broker.listen_addr, "0.0.0.0:3000");
        assert_eq!(s.broker.auth_cache_ttl_seconds, 60);
        assert_eq!(s.database.max_connections, 20);
        assert_eq!(s.broker.max_body_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn file_then_env_layers_win_in_order() {
        let dir = std::env::temp_dir().join(format!("brokkr-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("brokkr.toml");
        std::fs::write(
            &file,
            "[broker]\nlisten_addr = \"127.0.0.1:4000\"\nauth_cache_ttl_seconds = 5\n[cors]\nallowed_origins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&file),
            env(&[
                ("BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS", "7"),
                (
                    "BROKKR__CORS__ALLOWED_ORIGINS",
                    "https://b.example, https://c.example",
                ),
                ("BROKKR__TELEMETRY__BROKER__ENABLED", "true"),
                ("BROKKR__DATABASE__SCHEMA", "tenant_a"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.broker.listen_addr, "127.0.0.1:4000");
        assert_eq!(s.broker.auth_cache_ttl_seconds, 7);
        assert_eq!(
            s.cors.allowed_origins,
            vec!["https://b.example", "https://c.example"]
        );
        assert_eq!(s.telemetry.broker.enabled, Some(true));
        assert_eq!(s.database.schema.as_deref(), Some("tenant_a"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn settings_that_nothing_reads_are_unknown_keys() {
        // Deliveries are queued jobs: the broker never had a delivery loop to tune.
        for (variable, key) in [
            (
                "BROKKR__BROKER__WEBHOOK_DELIVERY_INTERVAL_SECONDS",
                "broker.webhook_delivery_interval_seconds",
            ),
            (
                "BROKKR__BROKER__WEBHOOK_DELIVERY_BATCH_SIZE",
                "broker.webhook_delivery_batch_size",
            ),
        ] {
            let err = Settings::load(None, env(&[(variable, "5")])).unwrap_err();
            assert_eq!(err.key, key);
        }
    }

    #[test]
    fn telemetry_overrides_apply_per_process() {
        let s = Settings::load(
            None,
            env(&[
                ("BROKKR__TELEMETRY__ENABLED", "true"),
                ("BROKKR__TELEMETRY__AGENT__SERVICE_NAME", "edge-agent"),
                ("BROKKR__TELEMETRY__AGENT__ENABLED", "false"),
                ("BROKKR__TELEMETRY__WORKER__SAMPLING_RATE", "1.0"),
                ("BROKKR__TELEMETRY__BROKER__OTLP_PROTOCOL", "http/protobuf"),
                (
                    "BROKKR__TELEMETRY__BROKER__OTLP_ENDPOINT",
                    "http://collector:4318",
                ),
            ]),
        )
        .unwrap();
        let broker = s.telemetry.effective(TelemetryProcess::Broker);
        assert!(broker.enabled);
        assert_eq!(broker.service_name, "brokkr-broker");
        assert_eq!(broker.otlp_protocol, OTLP_HTTP_PROTOBUF);
        assert_eq!(broker.otlp_endpoint, "http://collector:4318");
        assert_eq!(broker.sampling_rate, 0.1);
        let worker = s.telemetry.effective(TelemetryProcess::Worker);
        assert_eq!(worker.sampling_rate, 1.0);
        assert_eq!(worker.otlp_protocol, OTLP_GRPC);
        assert_eq!(worker.otlp_endpoint, "");
        let agent = s.telemetry.effective(TelemetryProcess::Agent);
        assert!(!agent.enabled);
        assert_eq!(agent.service_name, "edge-agent");
    }

    #[test]
    fn telemetry_settings_are_validated_with_their_key() {
        for (variable, value, key) in [
            (
                "BROKKR__TELEMETRY__OTLP_PROTOCOL",
                "http/json",
                "telemetry.otlp_protocol",
            ),
            (
                "BROKKR__TELEMETRY__AGENT__SAMPLING_RATE",
                "2",
                "telemetry.agent.sampling_rate",
            ),
            (
                "BROKKR__TELEMETRY__OTLP_ENDPOINT",
                "collector:4317",
                "telemetry.otlp_endpoint",
            ),
            (
                "BROKKR__TELEMETRY__WORKER__OTLP_ENDPOINT",
                "ftp://collector",
                "telemetry.worker.otlp_endpoint",
            ),
        ] {
            let err = Settings::load(None, env(&[(variable, value)])).unwrap_err();
            assert_eq!(err.key, key, "{variable}={value}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let err = Settings::load(
            None,
            env(&[("BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS", "soon")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "broker.auth_cache_ttl_seconds");

        let err = Settings::load(None, env(&[("BROKKR__BROKER__LISTEN_ADR", "x")])).unwrap_err();
        assert_eq!(err.key, "broker.listen_adr");

        let err =
            Settings::load(None, env(&[("BROKKR__BROKER__LISTEN_ADDR", "nowhere")])).unwrap_err();
        assert_eq!(err.key, "broker.listen_addr");

        let err = Settings::load(None, env(&[("BROKKR__DATABASE__SCHEMA", "x;drop")])).unwrap_err();
        assert_eq!(err.key, "database.schema");

        let dir = std::env::temp_dir().join(format!("brokkr-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, "[broker]\naudit_log_retention_days = \"many\"\n").unwrap();
        let err = Settings::load(Some(&file), env(&[])).unwrap_err();
        assert_eq!(err.key, "broker.audit_log_retention_days");
        std::fs::write(&file, "[brokr]\nx = 1\n").unwrap();
        let err = Settings::load(Some(&file), env(&[])).unwrap_err();
        assert!(
            err.key.contains("brokr") || err.message.contains("brokr"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn webhook_keys_and_networks_are_validated() {
        let key = "ab".repeat(32);
        let old = "cd".repeat(32);
        let s = Settings::load(
            None,
            env(&[
                ("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", &key),
                ("BROKKR__BROKER__WEBHOOK_PREVIOUS_ENCRYPTION_KEYS", &old),
                (
                    "BROKKR__WEBHOOKS__ALLOWED_NETWORKS",
                    "127.0.0.0/8, fd00::/8",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.broker.webhook_previous_encryption_keys, vec![old.clone()]);
        assert_eq!(s.webhooks.allowed_networks, vec!["127.0.0.0/8", "fd00::/8"]);
        let shown = s.redacted();
        assert!(!shown.contains(&key) && !shown.contains(&old), "{shown}");

        let err = Settings::load(
            None,
            env(&[("BROKKR__BROKER__WEBHOOK_PREVIOUS_ENCRYPTION_KEYS", &old)]),
        )
        .unwrap_err();
        assert_eq!(err.key, "broker.webhook_previous_encryption_keys");
        let err = Settings::load(
            None,
            env(&[
                ("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", &key),
                ("BROKKR__BROKER__WEBHOOK_PREVIOUS_ENCRYPTION_KEYS", "short"),
            ]),
        )
        .unwrap_err();
        assert_eq!(err.key, "broker.webhook_previous_encryption_keys");
        let err = Settings::load(
            None,
            env(&[("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "10.0.0.0/99")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "webhooks.allowed_networks");

        let s = Settings::load(
            None,
            env(&[(
                "BROKKR__WEBHOOKS__PROXY",
                "http://user:proxy-secret@proxy.internal:3128",
            )]),
        )
        .unwrap();
        assert_eq!(
            s.webhooks.proxy_url().unwrap().map(|u| u.port()),
            Some(Some(3128))
        );
        assert!(!s.redacted().contains("proxy-secret"), "{}", s.redacted());
        for bad in [
            "proxy.internal:3128",
            "socks5://proxy.internal:1080",
            "http://",
            "http://proxy.internal:3128/path",
        ] {
            let err = Settings::load(None, env(&[("BROKKR__WEBHOOKS__PROXY", bad)])).unwrap_err();
            assert_eq!(err.key, "webhooks.proxy", "{bad}");
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn agent_keys_load_from_env_and_are_checked() {
        let s = Settings::load(
            None,
            env(&[
                ("BROKKR__AGENT__RECONCILE_INTERVAL", "5"),
                ("BROKKR__AGENT__APPLY_CONCURRENCY", "3"),
                ("BROKKR__AGENT__HEALTH_BIND_ADDRESS", "127.0.0.1"),
                ("BROKKR__AGENT__LONG_POLL_WAIT", "0"),
                ("BROKKR__AGENT__NAMESPACES", "apps, jobs-1"),
                (
                    "BROKKR__AGENT__CLUSTER_RESOURCES",
                    "namespaces,customresourcedefinitions.apiextensions.k8s.io",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(s.agent.namespaces, ["apps", "jobs-1"]);
        assert_eq!(s.agent.cluster_resources.len(), 2);
        assert_eq!(s.agent.reconcile_interval, 5);
        assert_eq!(s.agent.apply_concurrency, 3);
        assert_eq!(s.agent.health_bind_address, "127.0.0.1");
        assert_eq!(s.agent.long_poll_wait, 0);
        for (var, value, key) in [
            (
                "BROKKR__AGENT__LONG_POLL_WAIT",
                "61",
                "agent.long_poll_wait",
            ),
            (
                "BROKKR__AGENT__APPLY_CONCURRENCY",
                "0",
                "agent.apply_concurrency",
            ),
            ("BROKKR__AGENT__NAMESPACES", "Apps", "agent.namespaces"),
            (
                "BROKKR__AGENT__CLUSTER_RESOURCES",
                "namespaces",
                "agent.cluster_resources",
            ),
            ("BROKKR__AGENT__NAMESPACES", "apps,-x", "agent.namespaces"),
            (
                "BROKKR__AGENT__POLLING_INTERVAL",
                "0",
                "agent.polling_interval",
            ),
            (
                "BROKKR__AGENT__HEALTH_BIND_ADDRESS",
                "not-an-ip",
                "agent.health_bind_address",
            ),
        ] {
            let err = Settings::load(None, env(&[(var, value)])).unwrap_err();
            assert_eq!(err.key, key, "{var}={value}");
        }
    }
}
