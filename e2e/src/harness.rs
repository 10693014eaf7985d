//! A whole Brokkr installation for end-to-end tests and benchmarks: a fresh PostgreSQL
//! database, a Kubernetes cluster, and `brokkr-broker serve`, `brokkr-worker` and
//! `brokkr-agent start` as processes on free loopback ports. It creates a generator and an
//! agent registered with it through the HTTP API; stacks are created (and targeted at the agent)
//! on demand.
//! Dropping it kills the processes and drops the database.
//!
//! The cluster is an in-process [`KubeSim`] of the harness's own, unless
//! [`Options::external_kubeconfig`] is set (by default from `$BROKKR_E2E_KUBECONFIG`): then the
//! tests and the agent use that cluster ([`Cluster::External`]) and kubesim-only helpers
//! ([`Harness::inject_fault`], [`Harness::kube_requests`]) fail. On any cluster, tests name their
//! namespaces with [`Harness::ns`] (`shop` → `shop-<8 hex>`, unique per harness); on an external
//! cluster the harness deletes those namespaces when it is dropped (best effort).
//!
//! The binaries are looked up in `$BROKKR_BIN_DIR`, else next to the running executable
//! (`target/<profile>/` for a test in `target/<profile>/deps/`): build them first with
//! `cargo build --workspace --bins` (`scripts/test.sh` does).
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use brokkr_e2e::harness::{Harness, Options};
//! let h = Harness::start(Options::default()).await?;
//! let stack = h.create_stack("web").await?;
//! let object = h.post_deployment(stack, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").await?;
//! h.wait_for_event(&object, "SUCCESS").await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use brokkr_schema::pak::{Pak, PakSettings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::kubesim::KubeSim;

/// How long start-up and each wait may take by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The variable naming the kubeconfig of a real cluster to run the end-to-end tests against.
pub const EXTERNAL_KUBECONFIG_ENV: &str = "BROKKR_E2E_KUBECONFIG";

/// `$BROKKR_E2E_KUBECONFIG`, when set and not empty. A leading `~/` is the home directory; a
/// relative path is relative to the repository root (cargo runs tests in the package directory).
pub fn external_kubeconfig_from_env() -> Option<PathBuf> {
    let value = std::env::var_os(EXTERNAL_KUBECONFIG_ENV)?;
    let text = value.to_string_lossy();
    if text.trim().is_empty() {
        return None;
    }
    if let (Some(rest), Some(home)) = (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        return Some(PathBuf::from(home).join(rest));
    }
    let path = PathBuf::from(value);
    if path.is_relative() {
        let package = Path::new(env!("CARGO_MANIFEST_DIR"));
        return Some(package.parent().unwrap_or(package).join(path));
    }
    Some(path)
}

/// True (after printing `skipped on a real cluster: <why>`) when the tests run against a real
/// cluster (`$BROKKR_E2E_KUBECONFIG`): for tests that need kubesim, checked before starting a
/// harness. See also [`Harness::requires_kubesim`].
pub fn requires_kubesim(why: &str) -> bool {
    if external_kubeconfig_from_env().is_some() {
        println!("skipped on a real cluster: {why}");
        true
    } else {
        false
    }
}

/// The Kubernetes cluster of a harness.
pub enum Cluster {
    /// An in-process simulator of this harness's own.
    Sim(KubeSim),
    /// A cluster the harness did not start, reached through this kubeconfig.
    External { kubeconfig: PathBuf },
}

impl Cluster {
    /// The kubeconfig of the cluster.
    pub fn kubeconfig_path(&self) -> &Path {
        match self {
            Cluster::Sim(sim) => sim.kubeconfig_path(),
            Cluster::External { kubeconfig } => kubeconfig,
        }
    }
}

/// A kube client from a kubeconfig file (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> anyhow::Result<kube::Client> {
    crate::kubesim::install_crypto_provider();
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .with_context(|| format!("loading the kubeconfig {}", path.display()))?;
    Ok(kube::Client::try_from(config)?)
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start `brokkr-worker` too.
    pub worker: bool,
    /// Start the agent (it can be started later with [`Harness::start_agent`]).
    pub agent: bool,
    /// `agent.reconcile_interval` (drift re-apply), seconds.
    pub reconcile_interval: u64,
    /// `agent.polling_interval` (heartbeats), seconds.
    pub polling_interval: u64,
    /// Extra `BROKKR__…` variables of the agent (they win over the harness's).
    pub agent_env: Vec<(String, String)>,
    /// Agent and broker log level.
    pub log_level: String,
    /// A TOML config file for the agent (`BROKKR_CONFIG_FILE`). When given, the harness does not
    /// set `polling_interval` and `reconcile_interval` in the environment (which would win over
    /// the file): the file decides.
    pub agent_config_file: Option<PathBuf>,
    /// Extra `BROKKR__…` variables of the broker and the worker (e.g. a webhook encryption key
    /// and `BROKKR__WEBHOOKS__ALLOWED_NETWORKS=127.0.0.0/8` for local webhook receivers).
    pub server_env: Vec<(String, String)>,
    /// The kubeconfig of an existing cluster to use instead of starting kubesim; by default
    /// `$BROKKR_E2E_KUBECONFIG` ([`external_kubeconfig_from_env`]).
    pub external_kubeconfig: Option<PathBuf>,
    /// The PostgreSQL server (an admin URL) to create the database on; by default
    /// [`server_url`]. Outage tests pass their [`crate::private_postgres::PrivatePostgres`].
    pub database_server: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            worker: true,
            agent: true,
            reconcile_interval: 60,
            polling_interval: 1,
            agent_env: Vec::new(),
            log_level: "info".into(),
            agent_config_file: None,
            server_env: Vec::new(),
            external_kubeconfig: external_kubeconfig_from_env(),
            database_server: None,
        }
    }
}

/// The PostgreSQL server (an admin connection URL).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database created for one harness and dropped with it.
pub struct Database {
    pub name: String,
    pub url: String,
    /// The admin URL of its server.
    server: String,
}

impl Database {
    /// Creates an empty database on [`server_url`].
    pub async fn create() -> anyhow::Result<Database> {
        Database::create_on(&server_url()).await
    }

    /// Creates an empty database on the server of the admin URL `server`.
    pub async fn create_on(server: &str) -> anyhow::Result<Database> {
        let name = format!("brokkr_e2e_{}", Uuid::new_v4().simple());
        let server = server.to_owned();
        let mut admin = PgConnection::connect(&server)
            .await
            .with_context(|| "cannot connect to PostgreSQL (set DATABASE_URL)".to_string())?;
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await?;
        let (base, _) = server
            .rsplit_once('/')
            .ok_or_else(|| anyhow!("DATABASE_URL has no database path"))?;
        Ok(Database {
            url: format!("{base}/{name}"),
            name,
            server,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server = self.server.clone();
        // Drop runs outside async context: a short-lived runtime on another thread.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async move {
                    if let Ok(mut admin) = PgConnection::connect(&server).await {
                        let _ = admin
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

/// A free loopback port (best effort: it is released before use).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Path of a workspace binary (see the module documentation).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("BROKKR_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        if let Some(parent) = dir.parent() {
            dirs.push(parent.to_path_buf());
        }
    }
    for dir in &dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "binary {name} not found in {dirs:?}: build the workspace binaries first \
         (`cargo build --workspace --bins`, as scripts/test.sh does) or set BROKKR_BIN_DIR"
    )
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `deadline` saying what
/// was awaited and what was seen last.
pub async fn eventually<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let until = Instant::now() + deadline;
    loop {
        match check().await {
            Ok(value) => return Ok(value),
            Err(seen) if Instant::now() >= until => {
                bail!("timed out after {deadline:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A running `brokkr-agent`.
pub struct AgentProcess {
    pub child: Child,
    /// `http://127.0.0.1:<health_port>`.
    pub health_base: String,
    /// Its stderr.
    pub log: PathBuf,
}

/// The installation (see the module documentation).
pub struct Harness {
    /// The cluster: the harness's own kubesim, or an external one (see [`Harness::sim`]).
    pub cluster: Cluster,
    pub kube: kube::Client,
    /// `http://127.0.0.1:<port>` of the broker.
    pub base: String,
    pub admin: String,
    pub http: reqwest::Client,
    pub generator_id: Uuid,
    pub generator_pak: String,
    pub agent_id: Uuid,
    pub agent_pak: String,
    pub agent_name: String,
    pub cluster_name: String,
    pub options: Options,
    pub broker: Option<Child>,
    pub worker: Option<Child>,
    /// `http://127.0.0.1:PORT` of the running worker's own endpoints (`/readyz`, `/metrics`).
    pub worker_base: Option<String>,
    pub agent: Option<AgentProcess>,
    broker_port: u16,
    logs: PathBuf,
    /// 8 hex digits, unique per harness: the suffix of [`Harness::ns`].
    run_id: String,
    /// Namespaces named with [`Harness::ns`] (deleted on drop on an external cluster).
    namespaces: std::sync::Mutex<Vec<String>>,
    /// Dropped last: the processes die first.
    pub db: Database,
}

impl Harness {
    /// Starts everything and registers a generator and an agent.
    pub async fn start(options: Options) -> anyhow::Result<Harness> {
        crate::kubesim::install_crypto_provider();
        let db = match &options.database_server {
            Some(server) => Database::create_on(server).await?,
            None => Database::create().await?,
        };
        let (cluster, cluster_name) = match &options.external_kubeconfig {
            Some(kubeconfig) => (
                Cluster::External {
                    kubeconfig: kubeconfig.clone(),
                },
                "external",
            ),
            None => (Cluster::Sim(KubeSim::start().await?), "kubesim"),
        };
        let kube = client_from_kubeconfig(cluster.kubeconfig_path()).await?;
        let logs = std::env::temp_dir().join(format!("brokkr-e2e-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs)?;
        let admin = Pak::generate(&PakSettings::default());
        let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
        let mut h = Harness {
            cluster,
            kube,
            base: String::new(),
            admin: admin.as_str().to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            generator_id: Uuid::nil(),
            generator_pak: String::new(),
            agent_id: Uuid::nil(),
            agent_pak: String::new(),
            agent_name: "e2e-agent".into(),
            cluster_name: cluster_name.into(),
            options: options.clone(),
            broker: None,
            worker: None,
            worker_base: None,
            agent: None,
            broker_port: free_port()?,
            logs,
            run_id,
            namespaces: std::sync::Mutex::new(Vec::new()),
            db,
        };
        h.base = format!("http://127.0.0.1:{}", h.broker_port);
        h.start_broker().await?;
        if options.worker {
            h.start_worker().await?;
        }
        let (status, generator) = h
            .api(
                Method::POST,
                "/api/v1/generators",
                Some(json!({"name": "e2e-ci"})),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("creating the generator: {status} {generator}");
        }
        h.generator_id = uuid_at(&generator, "/generator/id")?;
        h.generator_pak = str_at(&generator, "/pak")?;
        let (status, agent) = h
            .api(
                Method::POST,
                "/api/v1/agents",
                // Registered with the harness's generator, whose stacks the tests deploy (and,
                // like every agent, with the system generator).
                Some(json!({
                    "name": h.agent_name,
                    "cluster_name": h.cluster_name,
                    "generator_ids": [h.generator_id],
                })),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("creating the agent: {status} {agent}");
        }
        h.agent_id = uuid_at(&agent, "/agent/id")?;
        h.agent_pak = str_at(&agent, "/initial_pak")?;
        // New agents start INACTIVE; the admin activates them.
        let (status, activated) = h
            .api(
                Method::PUT,
                &format!("/api/v1/agents/{}", h.agent_id),
                Some(json!({"status": "ACTIVE"})),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("activating the agent: {status} {activated}");
        }
        if options.agent {
            h.start_agent().await?;
        }
        Ok(h)
    }

    /// The harness's own simulator; `None` on an external cluster.
    pub fn sim(&self) -> Option<&KubeSim> {
        match &self.cluster {
            Cluster::Sim(sim) => Some(sim),
            Cluster::External { .. } => None,
        }
    }

    /// The simulator, or an error naming what needed it on an external cluster.
    pub fn require_sim(&self, what: &str) -> anyhow::Result<&KubeSim> {
        self.sim().ok_or_else(|| {
            anyhow!(
                "{what} needs kubesim, but the harness runs against the cluster of {}",
                self.cluster.kubeconfig_path().display()
            )
        })
    }

    /// True when the harness runs against an external (real) cluster.
    pub fn is_external(&self) -> bool {
        self.sim().is_none()
    }

    /// The kubeconfig the tests and the agent use.
    pub fn kubeconfig_path(&self) -> &Path {
        self.cluster.kubeconfig_path()
    }

    /// True (after printing `skipped on a real cluster: <why>`) on an external cluster: a test
    /// needing kubesim returns early when it is.
    pub fn requires_kubesim(&self, why: &str) -> bool {
        if self.is_external() {
            println!("skipped on a real cluster: {why}");
            true
        } else {
            false
        }
    }

    /// The suffix of [`Harness::ns`]: 8 hex digits, unique per harness.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A namespace name unique to this harness, `<base>-<run id>`; the harness remembers it and
    /// deletes the namespace when dropped on an external cluster.
    pub fn ns(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.run_id);
        let mut names = self.namespaces.lock().unwrap_or_else(|e| e.into_inner());
        if !names.contains(&name) {
            names.push(name.clone());
        }
        name
    }

    /// The namespaces named with [`Harness::ns`] so far.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates the namespace [`Harness::ns`]`(base)` in the cluster; returns its name.
    pub async fn create_namespace(&self, base: &str) -> anyhow::Result<String> {
        let name = self.ns(base);
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.kube.clone());
        let namespace: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}}))?;
        api.create(&Default::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(name)
    }

    fn admin_hash(&self) -> anyhow::Result<String> {
        Ok(Pak::parse(&self.admin)
            .map_err(|e| anyhow!("admin PAK: {e:?}"))?
            .hash())
    }

    fn log_file(&self, name: &str) -> anyhow::Result<(PathBuf, std::fs::File)> {
        let path = self.logs.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok((path, file))
    }

    /// Starts (or restarts) `brokkr-broker serve` on the same port and database.
    pub async fn start_broker(&mut self) -> anyhow::Result<()> {
        let (_, log) = self.log_file("broker")?;
        let child = Command::new(binary("brokkr-broker")?)
            .arg("serve")
            .env_remove("BROKKR_CONFIG_FILE")
            .env("BROKKR__DATABASE__URL", &self.db.url)
            .env("BROKKR__DATABASE__MAX_CONNECTIONS", "10")
            .env(
                "BROKKR__BROKER__LISTEN_ADDR",
                format!("127.0.0.1:{}", self.broker_port),
            )
            .env("BROKKR__BROKER__PAK_HASH", self.admin_hash()?)
            .env("BROKKR__BROKER__SHUTDOWN_GRACE_SECONDS", "1")
            .env("BROKKR__LOG__LEVEL", &self.options.log_level)
            .envs(self.options.server_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("spawning brokkr-broker")?;
        self.broker = Some(child);
        let url = format!("{}/readyz", self.base);
        let http = self.http.clone();
        eventually("the broker's /readyz", DEFAULT_DEADLINE, || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }

    /// Kills the broker (SIGKILL) and waits for it to be gone.
    pub async fn kill_broker(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.broker.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// Starts `brokkr-worker`.
    pub async fn start_worker(&mut self) -> anyhow::Result<()> {
        let port = free_port()?;
        let (_, log) = self.log_file("worker")?;
        let child = Command::new(binary("brokkr-worker")?)
            .env_remove("BROKKR_CONFIG_FILE")
            .env("BROKKR__DATABASE__URL", &self.db.url)
            .env("BROKKR__DATABASE__MAX_CONNECTIONS", "8")
            .env("BROKKR__WORKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("BROKKR__LOG__LEVEL", "warn")
            .envs(self.options.server_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("spawning brokkr-worker")?;
        self.worker = Some(child);
        let base = format!("http://127.0.0.1:{port}");
        self.worker_base = Some(base.clone());
        let url = format!("{base}/readyz");
        let http = self.http.clone();
        eventually("the worker's /readyz", DEFAULT_DEADLINE, || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }

    /// Starts `brokkr-agent start` against the broker and the cluster, and waits until its
    /// health server answers.
    pub async fn start_agent(&mut self) -> anyhow::Result<()> {
        let port = free_port()?;
        let (log_path, log) = self.log_file("agent")?;
        let mut command = Command::new(binary("brokkr-agent")?);
        command
            .arg("start")
            .env_remove("BROKKR_CONFIG_FILE")
            .env_remove("KUBECONFIG")
            .env("BROKKR__AGENT__BROKER_URL", &self.base)
            .env("BROKKR__AGENT__PAK", &self.agent_pak)
            .env("BROKKR__AGENT__AGENT_NAME", &self.agent_name)
            .env("BROKKR__AGENT__CLUSTER_NAME", &self.cluster_name)
            .env(
                "BROKKR__AGENT__KUBECONFIG_PATH",
                self.cluster.kubeconfig_path(),
            )
            .env("BROKKR__AGENT__HEALTH_PORT", port.to_string())
            .env("BROKKR__AGENT__HEALTH_BIND_ADDRESS", "127.0.0.1");
        match &self.options.agent_config_file {
            Some(file) => {
                command.env("BROKKR_CONFIG_FILE", file);
            }
            None => {
                command
                    .env(
                        "BROKKR__AGENT__POLLING_INTERVAL",
                        self.options.polling_interval.to_string(),
                    )
                    .env(
                        "BROKKR__AGENT__RECONCILE_INTERVAL",
                        self.options.reconcile_interval.to_string(),
                    );
            }
        }
        command
            .env("BROKKR__AGENT__REQUEST_TIMEOUT", "5")
            .env("BROKKR__AGENT__MAX_RETRIES", "120")
            .env("BROKKR__AGENT__EVENT_MESSAGE_RETRY_DELAY", "1")
            .env("BROKKR__LOG__LEVEL", &self.options.log_level)
            .envs(self.options.agent_env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        let child = command.spawn().context("spawning brokkr-agent")?;
        let health_base = format!("http://127.0.0.1:{port}");
        self.agent = Some(AgentProcess {
            child,
            health_base: health_base.clone(),
            log: log_path,
        });
        let url = format!("{health_base}/healthz");
        let http = self.http.clone();
        let waited = eventually("the agent's /healthz", DEFAULT_DEADLINE, || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                match http.get(&url).send().await {
                    Ok(r) if r.status() == StatusCode::OK => Ok(()),
                    Ok(r) => Err(r.status().to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
        if let Err(e) = waited {
            bail!("{e}\nagent log:\n{}", self.agent_log());
        }
        Ok(())
    }

    /// Sends SIGTERM to the agent and waits for it to exit; returns its exit status.
    pub async fn stop_agent(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut agent = self
            .agent
            .take()
            .ok_or_else(|| anyhow!("no agent running"))?;
        if let Some(pid) = agent.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()?;
        }
        let status = tokio::time::timeout(Duration::from_secs(20), agent.child.wait())
            .await
            .map_err(|_| anyhow!("agent did not exit within 20 s of SIGTERM"))??;
        Ok(status)
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the agent.
    pub fn signal_agent(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .agent_pid()
            .ok_or_else(|| anyhow!("no agent running"))?;
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {pid} failed");
        }
        Ok(())
    }

    /// The agent's log so far.
    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.logs.join("agent.log")).unwrap_or_default()
    }

    /// The directory holding the processes' logs.
    pub fn log_dir(&self) -> &Path {
        &self.logs
    }

    /// The agent's health server base URL.
    pub fn agent_health(&self) -> anyhow::Result<&str> {
        self.agent
            .as_ref()
            .map(|a| a.health_base.as_str())
            .ok_or_else(|| anyhow!("no agent running"))
    }

    /// The agent's process id.
    pub fn agent_pid(&self) -> Option<u32> {
        self.agent.as_ref().and_then(|a| a.child.id())
    }

    /// An admin request; the body of the answer as JSON (`null` when empty).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(&self.admin, method, path, body).await
    }

    /// A request with the given PAK.
    pub async fn call(
        &self,
        pak: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(pak);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }

    /// Creates a stack owned by the generator and targets it at the agent.
    pub async fn create_stack(&self, name: &str) -> anyhow::Result<Uuid> {
        let (status, stack) = self
            .call(
                &self.generator_pak,
                Method::POST,
                "/api/v1/stacks",
                Some(json!({"name": name})),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("creating stack {name}: {status} {stack}");
        }
        let id = uuid_at(&stack, "/id")?;
        let (status, target) = self
            .api(
                Method::POST,
                &format!("/api/v1/agents/{}/targets", self.agent_id),
                Some(json!({"stack_id": id})),
            )
            .await?;
        if !status.is_success() {
            bail!("targeting stack {name} at the agent: {status} {target}");
        }
        Ok(id)
    }

    /// Posts a deployment object (as the generator); returns it.
    pub async fn post_deployment(&self, stack: Uuid, yaml: &str) -> anyhow::Result<Value> {
        self.post_object(stack, yaml, false).await
    }

    /// Posts a deletion marker for a stack.
    pub async fn post_deletion_marker(&self, stack: Uuid) -> anyhow::Result<Value> {
        self.post_object(stack, "", true).await
    }

    async fn post_object(&self, stack: Uuid, yaml: &str, marker: bool) -> anyhow::Result<Value> {
        let (status, object) = self
            .call(
                &self.generator_pak,
                Method::POST,
                &format!("/api/v1/stacks/{stack}/deployment-objects"),
                Some(json!({"yaml_content": yaml, "is_deletion_marker": marker})),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("posting a deployment object: {status} {object}");
        }
        Ok(object)
    }

    /// The agent's events (newest first).
    pub async fn events(&self) -> anyhow::Result<Vec<Value>> {
        let (status, events) = self
            .api(
                Method::GET,
                &format!("/api/v1/agents/{}/events", self.agent_id),
                None,
            )
            .await?;
        if status != StatusCode::OK {
            bail!("listing events: {status} {events}");
        }
        Ok(events.as_array().cloned().unwrap_or_default())
    }

    /// The agent's events about one deployment object.
    pub async fn events_for(&self, object: &Value) -> anyhow::Result<Vec<Value>> {
        let id = object["id"].clone();
        Ok(self
            .events()
            .await?
            .into_iter()
            .filter(|e| e["deployment_object_id"] == id)
            .collect())
    }

    /// Waits for an event with `status` (`SUCCESS`/`FAILURE`) about `object`; returns it.
    pub async fn wait_for_event(&self, object: &Value, status: &str) -> anyhow::Result<Value> {
        let result = eventually(
            &format!("a {status} event for deployment object {}", object["id"]),
            DEFAULT_DEADLINE,
            || async move {
                let events = self.events_for(object).await.map_err(|e| e.to_string())?;
                events
                    .iter()
                    .find(|e| e["status"] == status)
                    .cloned()
                    .ok_or_else(|| format!("{events:?}"))
            },
        )
        .await;
        result.map_err(|e| anyhow!("{e}\nagent log (tail):\n{}", tail(&self.agent_log(), 40)))
    }

    /// Sets a fault on the simulator (see `kubesim::faults`); an error on an external cluster.
    pub async fn inject_fault(&self, spec: Value) -> anyhow::Result<()> {
        let sim = self.require_sim("fault injection")?;
        let response = self
            .http
            .post(format!("{}/_kubesim/faults", sim.url()))
            .json(&spec)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "fault rejected: {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// The simulator's request counters; an error on an external cluster.
    pub async fn kube_requests(&self) -> anyhow::Result<Value> {
        let sim = self.require_sim("request counters")?;
        Ok(self
            .http
            .get(format!("{}/_kubesim/requests", sim.url()))
            .send()
            .await?
            .json()
            .await?)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Cluster::External { kubeconfig } = &self.cluster {
            // The agent first, so that it does not re-apply what is being deleted.
            if let Some(agent) = self.agent.as_mut() {
                let _ = agent.child.start_kill();
            }
            let namespaces = self.namespaces();
            if !namespaces.is_empty() {
                delete_namespaces(kubeconfig, namespaces);
            }
        }
        // Keep the processes' logs of a failed test (and say where); drop those of a passed one.
        if std::thread::panicking() {
            eprintln!("brokkr e2e logs kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

/// Deletes namespaces (best effort, not waiting for them to be gone) from a thread of its own
/// with a client of its own: `Drop` runs inside the test's runtime, which it blocks.
fn delete_namespaces(kubeconfig: &Path, names: Vec<String>) {
    let kubeconfig = kubeconfig.to_path_buf();
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let client = match client_from_kubeconfig(&kubeconfig).await {
                Ok(client) => client,
                Err(e) => {
                    eprintln!("brokkr e2e: cannot delete the test namespaces {names:?}: {e:#}");
                    return;
                }
            };
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
            for name in names {
                let deleted = tokio::time::timeout(
                    Duration::from_secs(10),
                    api.delete(&name, &Default::default()),
                )
                .await;
                match deleted {
                    Ok(Ok(_)) => {}
                    Ok(Err(kube::Error::Api(status))) if status.code == 404 => {}
                    Ok(Err(e)) => eprintln!("brokkr e2e: deleting namespace {name}: {e}"),
                    Err(_) => eprintln!("brokkr e2e: deleting namespace {name} timed out"),
                }
            }
        });
    })
    .join();
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn str_at(value: &Value, pointer: &str) -> anyhow::Result<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{pointer} missing in {value}"))
}

fn uuid_at(value: &Value, pointer: &str) -> anyhow::Result<Uuid> {
    Ok(str_at(value, pointer)?.parse()?)
}
