//! Test harness: a fresh PostgreSQL database per test and a broker serving it on a loopback
//! port, driven over real HTTP.
#![allow(dead_code)]

pub mod templates;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_api::server;
use brokkr_api::state::AppState;
use brokkr_schema::config::Settings;
use brokkr_schema::live::{ConfigSource, LiveSettings};
use brokkr_schema::pak::{Pak, PakSettings};
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::oneshot;

/// The PostgreSQL server tests use (an admin connection URL).
pub fn server_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("DATABASE_URL has a path");
    format!("{base}/{db}")
}

/// A database that exists for one test and is dropped afterwards.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("brokkr_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server_url())
            .await
            .expect("connect to the test PostgreSQL server (set DATABASE_URL)");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .expect("create test database");
        let url = with_database(&server_url(), &name);
        TestDb { name, url }
    }

    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context; use a short-lived runtime on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(mut admin) = PgConnection::connect(&server_url()).await {
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

/// Settings for a broker on `db` with the given admin PAK.
pub fn settings_for(db_url: &str, admin: &Pak) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = db_url.to_owned();
    settings.database.max_connections = 10;
    settings.broker.listen_addr = "127.0.0.1:0".into();
    settings.broker.pak_hash = Some(admin.hash());
    settings.broker.shutdown_grace_seconds = 2;
    // Templates render in a child process of the running binary; in tests that binary is the
    // test itself, so point at the crate's real one.
    settings.broker.template_renderer = option_env!("CARGO_BIN_EXE_brokkr-broker")
        .or(option_env!("CARGO_BIN_EXE_brokkr-worker"))
        .map(str::to_owned);
    settings
}

/// A broker running in this process.
pub struct TestBroker {
    pub db: TestDb,
    pub base: String,
    pub admin: String,
    pub client: reqwest::Client,
    pub state: Arc<AppState>,
    shutdown: std::sync::Mutex<Option<oneshot::Sender<()>>>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> TestBroker {
        Self::start_with_source(adjust, ConfigSource::default()).await
    }

    /// A broker whose reloads read `source` (a config file, variables).
    pub async fn start_with_source(
        adjust: impl FnOnce(&mut Settings),
        source: ConfigSource,
    ) -> TestBroker {
        let db = TestDb::create().await;
        let admin = Pak::generate(&PakSettings::default());
        let mut settings = settings_for(&db.url, &admin);
        adjust(&mut settings);
        let live = LiveSettings::new(settings, source);
        let state = server::prepare_live(live).await.expect("broker prepares");
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .expect("bind loopback");
        let addr = acceptor
            .local_addr()
            .into_iter()
            .next()
            .and_then(|a| a.as_socket_addr().copied())
            .expect("bound address");
        let (tx, rx) = oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            let _ = server::serve_on(serving, acceptor, async {
                let _ = rx.await;
            })
            .await;
        });
        let broker = TestBroker {
            db,
            base: format!("http://{addr}"),
            admin: admin.as_str().to_owned(),
            client: reqwest::Client::new(),
            state,
            shutdown: std::sync::Mutex::new(Some(tx)),
        };
        broker.wait_live().await;
        broker
    }

    /// The value of the series `series` (name and labels as exposed) on `/metrics`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Waits (10 s at most) until `series` on `/metrics` has `expected`.
    pub async fn wait_metric(&self, series: &str, expected: f64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.metric(series).await;
            if seen == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{series}: expected {expected}, saw {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let healthy = self.state.propagation.is_live()
                && self
                    .client
                    .get(format!("{}/healthz", self.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "broker did not become ready in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a request; `pak` None means no Authorization header.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        pak: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(p) = pak {
            req = req.header("Authorization", format!("Bearer {p}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, pak: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(pak), None).await
    }
    pub async fn post(&self, path: &str, pak: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(pak), Some(body)).await
    }
    pub async fn put(&self, path: &str, pak: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(pak), Some(body)).await
    }
    pub async fn delete(&self, path: &str, pak: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(pak), None).await
    }
    pub async fn patch(&self, path: &str, pak: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(pak), Some(body)).await
    }

    /// Creates a generator; returns (id, pak).
    pub async fn generator(&self, name: &str) -> (String, String) {
        let (s, v) = self
            .post("/api/v1/generators", &self.admin, json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::OK, "create generator: {v}");
        (
            id_of(&v["generator"]),
            v["pak"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates an agent and activates it; returns (id, pak).
    pub async fn agent(&self, name: &str) -> (String, String) {
        let (s, v) = self
            .post(
                "/api/v1/agents",
                &self.admin,
                json!({"name": name, "cluster_name": "c1"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "create agent: {v}");
        let id = id_of(&v["agent"]);
        // New agents start INACTIVE; the admin activates them.
        let (s, a) = self
            .put(
                &format!("/api/v1/agents/{id}"),
                &self.admin,
                json!({"status": "ACTIVE"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "activate agent: {a}");
        (id, v["initial_pak"].as_str().unwrap().to_owned())
    }

    /// Creates a stack as `pak` (a generator, or the admin); returns its id.
    pub async fn stack(&self, pak: &str, name: &str) -> String {
        let (s, v) = self
            .post("/api/v1/stacks", pak, json!({"name": name}))
            .await;
        assert_eq!(s, StatusCode::OK, "create stack: {v}");
        id_of(&v)
    }

    /// Posts a deployment object; returns it.
    pub async fn deploy(&self, pak: &str, stack: &str, yaml: &str) -> Value {
        let (s, v) = self
            .post(
                &format!("/api/v1/stacks/{stack}/deployment-objects"),
                pak,
                json!({"yaml_content": yaml}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "create deployment object: {v}");
        v
    }

    /// Registers an agent with a generator (admin).
    pub async fn register(&self, agent: &str, generator: &str) {
        let (s, v) = self
            .post(
                &format!("/api/v1/generators/{generator}/register"),
                &self.admin,
                json!({"agent_id": agent}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "register agent: {v}");
    }

    /// Targets an agent at a stack (admin), registering the agent with the stack's generator
    /// first (a target needs the agent's consent).
    pub async fn target(&self, agent: &str, stack: &str) {
        let (s, v) = self
            .get(&format!("/api/v1/stacks/{stack}"), &self.admin)
            .await;
        assert_eq!(s, StatusCode::OK, "read stack: {v}");
        self.register(agent, v["generator_id"].as_str().unwrap())
            .await;
        let (s, v) = self
            .post(
                &format!("/api/v1/agents/{agent}/targets"),
                &self.admin,
                json!({"agent_id": agent, "stack_id": stack}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "add target: {v}");
    }

    /// Counts rows of `table` in the test database.
    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .expect("count rows")
    }
}

impl TestBroker {
    /// Begins the broker's graceful shutdown, as SIGTERM does.
    pub fn begin_shutdown(&self) {
        let sender = self.shutdown.lock().ok().and_then(|mut s| s.take());
        if let Some(tx) = sender {
            let _ = tx.send(());
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// The `id` field of a JSON object as a string.
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_owned()
}

/// A small valid manifest.
pub fn namespace_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}
