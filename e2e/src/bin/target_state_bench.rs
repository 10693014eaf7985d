//! `target-state-bench`: how fast does the broker answer agents' target-state polls?
//!
//! The benchmark creates a throw-away database on the given PostgreSQL server, starts a real
//! `brokkr-broker` on it (which migrates it), bulk-loads a fleet with SQL (agents with their own
//! PAKs, stacks, deployment objects, agent targets), and then measures
//! `GET /api/v1/agents/{id}/target-state` in two phases:
//!
//! * **full**: no `If-None-Match`, so every request runs the target-state query and serialises
//!   the objects (expect 200);
//! * **304**: `If-None-Match` carries the ETag from the warm-up, so the broker can answer from its
//!   ETag cache (expect 304).
//!
//! Each worker owns one kept-alive HTTP/1.1 connection and sends its requests one after another;
//! agents are picked round-robin. Latency percentiles come from every recorded sample. The
//! broker is killed and the database dropped at the end (unless `--keep-db`). The process exits
//! non-zero when any request got an unexpected answer.
//!
//! Run it by hand (not in CI), from the workspace root:
//!
//! ```text
//! cargo build --release -p brokkr-api -p brokkr-e2e
//! ./target/release/target-state-bench --seconds 10 --concurrency 16
//! ```
//!
//! The default of 16 concurrent pollers keeps a 2-core machine, which also runs PostgreSQL and
//! this load generator, busy without measuring mostly queueing; raise `--concurrency` to see
//! throughput and latency under overload.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, ETAG, HOST, HeaderName, HeaderValue, IF_NONE_MATCH};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use uuid::Uuid;

/// The generator every stack belongs to: the built-in admin generator created by the migration.
const ADMIN_GENERATOR: Uuid = Uuid::nil();

/// How long the broker gets to migrate the database and answer `/readyz`.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// Connections used by the warm-up pass (it also verifies every answer).
const WARMUP_CONNECTIONS: usize = 8;

/// A manifest of three documents (Namespace, ConfigMap, Deployment) as agents typically receive.
/// `%1$s` is the stack number, `%2$s` the revision; filled in by PostgreSQL's `format()`.
const YAML_TEMPLATE: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: bench-%1$s
  labels:
    app.kubernetes.io/part-of: brokkr-bench
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: bench-%1$s
data:
  REVISION: "%2$s"
  LOG_LEVEL: info
  GREETING: "hello from stack %1$s, revision %2$s"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: bench-%1$s
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        brokkr.example/revision: "%2$s"
    spec:
      containers:
        - name: web
          image: nginx:1.27
          ports:
            - containerPort: 80
          envFrom:
            - configMapRef:
                name: web-config
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
"#;

/// Measures the broker's target-state endpoint against a bulk-loaded fleet.
#[derive(Debug, Parser)]
#[command(name = "target-state-bench", version)]
struct Args {
    /// Admin URL of the PostgreSQL server; a fresh `brokkr_bench_*` database is created on it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// The broker binary [default: `brokkr-broker` next to this executable].
    #[arg(long)]
    broker_bin: Option<PathBuf>,
    /// Duration of each measured phase, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent workers (one kept-alive connection each).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Agents to create.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Stacks to create.
    #[arg(long, default_value_t = 1000)]
    stacks: usize,
    /// Deployment objects per stack (successive revisions; agents get the newest).
    #[arg(long, default_value_t = 10)]
    objects_per_stack: usize,
    /// Stacks each agent targets.
    #[arg(long, default_value_t = 10)]
    stacks_per_agent: usize,
    /// Keep the database (and print its URL) instead of dropping it, e.g. to EXPLAIN queries.
    #[arg(long)]
    keep_db: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("target-state-bench: some requests got an unexpected answer");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("target-state-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the database, benchmarks, and drops the database whatever happened.
/// Ok(false) means the benchmark ran but some requests failed.
async fn run(args: Args) -> Result<bool> {
    ensure!(
        args.agents > 0 && args.stacks > 0,
        "need at least one agent and one stack"
    );
    ensure!(
        args.objects_per_stack > 0,
        "--objects-per-stack must be at least 1"
    );
    ensure!(
        (1..=args.stacks).contains(&args.stacks_per_agent),
        "--stacks-per-agent must be between 1 and --stacks"
    );
    ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    ensure!(args.seconds > 0, "--seconds must be at least 1");
    let broker_bin = match &args.broker_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("locating the current executable")?
            .parent()
            .context("the current executable has no directory")?
            .join("brokkr-broker"),
    };
    ensure!(
        broker_bin.is_file(),
        "broker binary {} not found (build it with `cargo build --release -p brokkr-api` \
         or pass --broker-bin)",
        broker_bin.display()
    );

    let db_name = format!(
        "brokkr_bench_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{db_name}\"")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {db_name}"))?;
    let db_url = with_database(&args.database_url, &db_name);

    let outcome = benchmark(&args, &broker_bin, &db_url).await;

    if args.keep_db {
        println!("kept database: {db_url}");
    } else {
        // The admin connection may have idled for a while; a fresh one is more robust.
        drop(admin);
        let mut admin = PgConnection::connect(&args.database_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping database {db_name}"))?;
    }
    outcome
}

/// `url` with its database (the path) replaced by `db`; query parameters are kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A random PAK in the default format (`brokkr_BR<8>_<24>`) and the hex SHA-256 of the whole key.
fn new_pak() -> (String, String) {
    let mut rng = rand::rng();
    let mut token = |len: usize| -> String {
        (&mut rng)
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    let pak = format!("brokkr_BR{}_{}", token(8), token(24));
    let hash = hex::encode(Sha256::digest(pak.as_bytes()));
    (pak, hash)
}

/// An agent as the load generator sees it.
struct Agent {
    id: Uuid,
    /// `Bearer <pak>`.
    authorization: HeaderValue,
    /// The stacks it targets.
    stacks: Vec<Uuid>,
}

/// Starts the broker, loads the fleet, runs the phases, and stops the broker.
async fn benchmark(args: &Args, broker_bin: &std::path::Path, db_url: &str) -> Result<bool> {
    let mut broker = Broker::start(broker_bin, db_url)?;
    let outcome = async {
        let started = Instant::now();
        broker.wait_ready().await?;
        println!(
            "broker ready on {} after {:.1} s (migrations included)",
            broker.addr,
            started.elapsed().as_secs_f64()
        );
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(db_url)
            .await
            .context("connecting to the bench database")?;
        let agents = load_fleet(&pool, args).await?;
        let latest = latest_sequences(&pool).await?;
        pool.close().await;
        let etags = warm_up(&broker, &agents, &latest).await?;
        let targets = Arc::new(
            agents
                .into_iter()
                .zip(etags)
                .map(|(a, etag)| Target {
                    path: format!("/api/v1/agents/{}/target-state", a.id),
                    authorization: a.authorization,
                    etag,
                })
                .collect::<Vec<_>>(),
        );
        let duration = Duration::from_secs(args.seconds);
        let full = run_phase(&broker, &targets, false, duration, args.concurrency).await?;
        full.print_details("full");
        let not_modified = run_phase(&broker, &targets, true, duration, args.concurrency).await?;
        not_modified.print_details("304");

        println!();
        println!(
            "target-state benchmark: {} agents, {} stacks, {} deployment objects, \
             {} stacks per agent",
            args.agents,
            args.stacks,
            args.stacks * args.objects_per_stack,
            args.stacks_per_agent
        );
        println!(
            "({} workers with one kept-alive connection each, {} s per phase)",
            args.concurrency, args.seconds
        );
        println!("full responses : {}", full.summary());
        println!("304 responses  : {}", not_modified.summary());
        Ok(full.errors == 0 && not_modified.errors == 0)
    }
    .await;
    broker.stop().await;
    outcome
}

/// The broker child process.
struct Broker {
    child: Child,
    addr: SocketAddr,
}

impl Broker {
    fn start(bin: &std::path::Path, db_url: &str) -> Result<Broker> {
        let addr = free_local_addr()?;
        let (_admin_pak, admin_hash) = new_pak();
        let child = Command::new(bin)
            .arg("serve")
            .env_remove("BROKKR_CONFIG_FILE")
            .env_remove("RUST_LOG")
            .env("BROKKR__DATABASE__URL", db_url)
            .env("BROKKR__BROKER__LISTEN_ADDR", addr.to_string())
            .env("BROKKR__BROKER__PAK_HASH", admin_hash)
            .env("BROKKR__LOG__LEVEL", "warn")
            .env("BROKKR__DATABASE__MAX_CONNECTIONS", "20")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Broker { child, addr })
    }

    /// Polls `/readyz` until it answers 200.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the broker exited during start-up ({status})");
            }
            let last = match Conn::open(self.addr).await {
                Ok(mut conn) => match conn.get("/readyz", &[]).await {
                    Ok((StatusCode::OK, _, _)) => return Ok(()),
                    Ok((status, _, body)) => {
                        format!("{status}: {}", String::from_utf8_lossy(&body))
                    }
                    Err(e) => format!("{e:#}"),
                },
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "the broker was not ready after {} s (last: {last})",
                    READY_DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn cpu(&self) -> Option<Duration> {
        self.child
            .id()
            .and_then(|pid| process_cpu(&pid.to_string()))
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// A loopback address with a port that was free a moment ago.
fn free_local_addr() -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// One kept-alive HTTP/1.1 connection to the broker.
struct Conn {
    sender: http1::SendRequest<Empty<Bytes>>,
    host: HeaderValue,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    /// GET `path`, reading the whole body.
    async fn get(
        &mut self,
        path: &str,
        headers: &[(HeaderName, &HeaderValue)],
    ) -> Result<(StatusCode, HeaderMap, Bytes)> {
        self.sender.ready().await?;
        let mut request = Request::get(path).header(HOST, self.host.clone());
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = self
            .sender
            .send_request(request.body(Empty::new())?)
            .await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

/// Inserts stacks, deployment objects, agents and their targets in one transaction, then
/// refreshes the planner statistics. Returns the agents with their credentials.
async fn load_fleet(pool: &PgPool, args: &Args) -> Result<Vec<Agent>> {
    let started = Instant::now();
    let stack_ids: Vec<Uuid> = (0..args.stacks).map(|_| Uuid::new_v4()).collect();
    let agent_ids: Vec<Uuid> = (0..args.agents).map(|_| Uuid::new_v4()).collect();
    let (paks, hashes): (Vec<String>, Vec<String>) = (0..args.agents).map(|_| new_pak()).unzip();
    // Agent i targets stacks i*k .. i*k+k-1 (mod the stack count), so every stack is shared by
    // about the same number of agents.
    let per_agent = args.stacks_per_agent;
    let agent_stacks: Vec<Vec<Uuid>> = (0..args.agents)
        .map(|i| {
            (0..per_agent)
                .map(|k| stack_ids[(i * per_agent + k) % args.stacks])
                .collect()
        })
        .collect();
    let (target_agents, target_stacks): (Vec<Uuid>, Vec<Uuid>) = agent_ids
        .iter()
        .zip(&agent_stacks)
        .flat_map(|(agent, stacks)| stacks.iter().map(move |s| (*agent, *s)))
        .unzip();

    let mut tx = pool.begin().await?;
    let mut steps = String::new();
    let step = Instant::now();
    sqlx::query(
        "INSERT INTO stacks (id, name, description, generator_id)
         SELECT id, 'bench-stack-' || lpad((n - 1)::text, 5, '0'),
                'target-state benchmark stack', $2
           FROM UNNEST($1::uuid[]) WITH ORDINALITY AS t(id, n)",
    )
    .bind(&stack_ids)
    .bind(ADMIN_GENERATOR)
    .execute(&mut *tx)
    .await
    .context("inserting stacks")?;
    let _ = write!(steps, "stacks {} ms", step.elapsed().as_millis());

    // Revision by revision, so the newest object of every stack has the highest sequence_id.
    let step = Instant::now();
    let objects = sqlx::query(
        "INSERT INTO deployment_objects (stack_id, yaml_content, yaml_checksum)
         SELECT stack_id, yaml, encode(sha256(convert_to(yaml, 'UTF8')), 'hex')
           FROM (SELECT s.id AS stack_id, s.n, r.revision,
                        format($2::text, lpad((s.n - 1)::text, 5, '0'), r.revision) AS yaml
                   FROM UNNEST($1::uuid[]) WITH ORDINALITY AS s(id, n)
                  CROSS JOIN generate_series(1, $3::int) AS r(revision)) src
          ORDER BY revision, n",
    )
    .bind(&stack_ids)
    .bind(YAML_TEMPLATE)
    .bind(i32::try_from(args.objects_per_stack)?)
    .execute(&mut *tx)
    .await
    .context("inserting deployment objects")?
    .rows_affected();
    let _ = write!(
        steps,
        ", deployment objects {} ms",
        step.elapsed().as_millis()
    );

    let step = Instant::now();
    sqlx::query(
        "INSERT INTO agents (id, name, cluster_name, pak_hash)
         SELECT id, 'bench-agent-' || lpad((n - 1)::text, 5, '0'),
                'bench-cluster-' || lpad((n - 1)::text, 5, '0'), pak_hash
           FROM UNNEST($1::uuid[], $2::text[]) WITH ORDINALITY AS t(id, pak_hash, n)",
    )
    .bind(&agent_ids)
    .bind(&hashes)
    .execute(&mut *tx)
    .await
    .context("inserting agents")?;
    let _ = write!(steps, ", agents {} ms", step.elapsed().as_millis());

    let step = Instant::now();
    sqlx::query(
        "INSERT INTO agent_targets (agent_id, stack_id)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[])",
    )
    .bind(&target_agents)
    .bind(&target_stacks)
    .execute(&mut *tx)
    .await
    .context("inserting agent targets")?;
    let _ = write!(steps, ", agent targets {} ms", step.elapsed().as_millis());

    // Every agent is registered with the system generator, which owns the bench's stacks (the
    // API does this when it creates an agent).
    sqlx::query(
        "INSERT INTO agent_registrations (agent_id, generator_id)
         SELECT id, $2 FROM UNNEST($1::uuid[]) AS t(id)",
    )
    .bind(&agent_ids)
    .bind(ADMIN_GENERATOR)
    .execute(&mut *tx)
    .await
    .context("registering agents")?;
    tx.commit().await?;

    // Bulk-loaded tables have no statistics until autovacuum gets to them; a fleet that grew
    // over time would have them, so give the planner what it would normally see.
    let step = Instant::now();
    sqlx::raw_sql("ANALYZE stacks, deployment_objects, agents, agent_targets, agent_registrations")
        .execute(pool)
        .await
        .context("analysing the loaded tables")?;
    let _ = write!(steps, ", analyze {} ms", step.elapsed().as_millis());
    println!(
        "loaded {} agents, {} stacks, {objects} deployment objects, {} agent targets \
         in {:.2} s ({steps})",
        args.agents,
        args.stacks,
        target_agents.len(),
        started.elapsed().as_secs_f64()
    );

    agent_ids
        .into_iter()
        .zip(paks)
        .zip(agent_stacks)
        .map(|((id, pak), stacks)| {
            Ok(Agent {
                id,
                authorization: HeaderValue::from_str(&format!("Bearer {pak}"))?,
                stacks,
            })
        })
        .collect()
}

/// The newest sequence_id of every stack, to check what the broker answers.
async fn latest_sequences(pool: &PgPool) -> Result<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT stack_id, max(sequence_id) FROM deployment_objects
          WHERE deleted_at IS NULL GROUP BY stack_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// One full target-state request per agent, each answer checked (one object per targeted stack,
/// the newest of each); returns the ETags, in agent order.
async fn warm_up(
    broker: &Broker,
    agents: &[Agent],
    latest: &HashMap<Uuid, i64>,
) -> Result<Vec<HeaderValue>> {
    let started = Instant::now();
    let next = &AtomicUsize::new(0);
    let workers = (0..WARMUP_CONNECTIONS.min(agents.len())).map(|_| async move {
        let mut conn = Conn::open(broker.addr).await?;
        let mut found = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(agent) = agents.get(i) else {
                return Ok::<_, anyhow::Error>(found);
            };
            let path = format!("/api/v1/agents/{}/target-state", agent.id);
            let (status, headers, body) = conn
                .get(&path, &[(AUTHORIZATION, &agent.authorization)])
                .await
                .with_context(|| format!("warm-up request for agent {}", agent.id))?;
            ensure!(
                status == StatusCode::OK,
                "warm-up: agent {} got {status}: {}",
                agent.id,
                String::from_utf8_lossy(&body)
            );
            let etag = headers
                .get(ETAG)
                .cloned()
                .ok_or_else(|| anyhow!("warm-up: agent {} got no ETag", agent.id))?;
            check_target_state(agent, &body, latest)
                .with_context(|| format!("warm-up: target state of agent {}", agent.id))?;
            found.push((i, etag));
        }
    });
    let mut etags: Vec<Option<HeaderValue>> = vec![None; agents.len()];
    for found in futures::future::try_join_all(workers).await? {
        for (i, etag) in found {
            etags[i] = Some(etag);
        }
    }
    println!(
        "warm-up: {} full target states fetched and verified in {:.2} s",
        agents.len(),
        started.elapsed().as_secs_f64()
    );
    etags
        .into_iter()
        .map(|e| e.ok_or_else(|| anyhow!("warm-up skipped an agent")))
        .collect()
}

/// The answer holds exactly the newest object of each stack the agent targets.
fn check_target_state(agent: &Agent, body: &[u8], latest: &HashMap<Uuid, i64>) -> Result<()> {
    let objects: Vec<serde_json::Value> = serde_json::from_slice(body)?;
    ensure!(
        objects.len() == agent.stacks.len(),
        "{} objects, expected {}",
        objects.len(),
        agent.stacks.len()
    );
    let mut seen = HashSet::new();
    for object in &objects {
        let stack: Uuid = object["stack_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("an object without a stack_id"))?;
        let sequence = object["sequence_id"]
            .as_i64()
            .ok_or_else(|| anyhow!("an object without a sequence_id"))?;
        ensure!(
            agent.stacks.contains(&stack),
            "object of untargeted stack {stack}"
        );
        ensure!(seen.insert(stack), "two objects of stack {stack}");
        ensure!(
            latest.get(&stack) == Some(&sequence),
            "stack {stack}: sequence_id {sequence} is not the newest"
        );
    }
    Ok(())
}

/// What a worker asks for.
struct Target {
    path: String,
    authorization: HeaderValue,
    etag: HeaderValue,
}

/// What one phase measured.
struct PhaseStats {
    elapsed: Duration,
    /// Latencies of the requests that got the expected status, sorted.
    samples: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
    broker_cpu: Option<Duration>,
    postgres_cpu: Option<Duration>,
    bench_cpu: Option<Duration>,
    /// (queries, seconds) of the broker's `target_state` database metric during the phase.
    db_queries: Option<(f64, f64)>,
}

impl PhaseStats {
    fn requests_per_second(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    fn summary(&self) -> String {
        format!(
            "{:>6.0} req/s  p50 {:>5.1} ms  p99 {:>5.1} ms  max {:>6.1} ms  (errors {})",
            self.requests_per_second(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.samples.last().copied().unwrap_or_default()),
            self.errors
        )
    }

    fn print_details(&self, name: &str) {
        println!(
            "phase {name}: {} ok requests in {:.2} s; {}",
            self.samples.len(),
            self.elapsed.as_secs_f64(),
            self.summary()
        );
        println!(
            "  latency p90 {:.1} ms, p99.9 {:.1} ms",
            ms(self.percentile(0.90)),
            ms(self.percentile(0.999)),
        );
        let requests = (self.samples.len() as u64 + self.errors).max(1) as f64;
        let cpu = |cpu: Option<Duration>| match cpu {
            Some(c) => format!(
                "{:.2} cores ({:.0} µs/req)",
                c.as_secs_f64() / self.elapsed.as_secs_f64(),
                c.as_secs_f64() * 1e6 / requests
            ),
            None => "?".into(),
        };
        println!(
            "  cpu: broker {}, postgres {} (all postgres processes on this host), bench {}",
            cpu(self.broker_cpu),
            cpu(self.postgres_cpu),
            cpu(self.bench_cpu),
        );
        if let Some((queries, seconds)) = self.db_queries {
            let mean = if queries > 0.0 {
                format!("{:.2} ms", seconds * 1000.0 / queries)
            } else {
                "-".into()
            };
            println!(
                "  broker metric: {queries:.0} target-state queries, mean {mean} each \
                 (includes waiting for a pool connection)"
            );
        }
        if let Some(e) = &self.first_error {
            println!("  first error: {e}");
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `concurrency` workers for `duration`, each with its own connection, agents round-robin.
async fn run_phase(
    broker: &Broker,
    targets: &Arc<Vec<Target>>,
    conditional: bool,
    duration: Duration,
    concurrency: usize,
) -> Result<PhaseStats> {
    let expected = if conditional {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    // Connect everyone before the clock starts.
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(broker.addr).await?);
    }
    let db_before = db_metric(broker.addr).await;
    let cpu_before = (broker.cpu(), postgres_cpu(), process_cpu("self"));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::with_capacity(concurrency);
    for mut conn in conns {
        let targets = targets.clone();
        let next = next.clone();
        let addr = broker.addr;
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(4096);
            let mut errors = 0u64;
            let mut first_error = None;
            while Instant::now() < deadline {
                let target = &targets[next.fetch_add(1, Ordering::Relaxed) % targets.len()];
                let sent = Instant::now();
                let auth = (AUTHORIZATION, &target.authorization);
                let result = if conditional {
                    conn.get(&target.path, &[auth, (IF_NONE_MATCH, &target.etag)])
                        .await
                } else {
                    conn.get(&target.path, &[auth]).await
                };
                let latency = sent.elapsed();
                match result {
                    Ok((status, _, _)) if status == expected => samples.push(latency),
                    Ok((status, _, body)) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                        match Conn::open(addr).await {
                            Ok(fresh) => conn = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (samples, errors, first_error)
        }));
    }
    let mut stats = PhaseStats {
        elapsed: Duration::ZERO,
        samples: Vec::new(),
        errors: 0,
        first_error: None,
        broker_cpu: None,
        postgres_cpu: None,
        bench_cpu: None,
        db_queries: None,
    };
    for handle in handles {
        let (samples, errors, first_error) = handle.await?;
        stats.samples.extend(samples);
        stats.errors += errors;
        if stats.first_error.is_none() {
            stats.first_error = first_error;
        }
    }
    stats.elapsed = started.elapsed();
    let cpu_after = (broker.cpu(), postgres_cpu(), process_cpu("self"));
    let delta = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    stats.broker_cpu = delta(cpu_before.0, cpu_after.0);
    stats.postgres_cpu = delta(cpu_before.1, cpu_after.1);
    stats.bench_cpu = delta(cpu_before.2, cpu_after.2);
    let db_after = db_metric(broker.addr).await;
    if let (Some(before), Some(after)) = (db_before, db_after) {
        stats.db_queries = Some((after.0 - before.0, after.1 - before.1));
    }
    stats.samples.sort_unstable();
    Ok(stats)
}

/// (count, sum of seconds) of the broker's `target_state` database-query histogram.
async fn db_metric(addr: SocketAddr) -> Option<(f64, f64)> {
    let mut conn = Conn::open(addr).await.ok()?;
    let (status, _, body) = conn.get("/metrics", &[]).await.ok()?;
    if status != StatusCode::OK {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| {
        let prefix = format!("{name}{{query_type=\"target_state\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    Some((
        value("brokkr_database_query_duration_seconds_count").unwrap_or(0.0),
        value("brokkr_database_query_duration_seconds_sum").unwrap_or(0.0),
    ))
}

/// CPU time (user + system) of `/proc/<pid>`; Linux only, `None` elsewhere.
fn process_cpu(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15, in clock ticks.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture Brokkr runs on.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// CPU time of every process named `postgres` (the server and all its backends) on this host.
fn postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim_end() == "postgres");
        if is_postgres && let Some(cpu) = process_cpu(pid) {
            total += cpu;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/x?sslmode=disable", "b"),
            "postgres://u:p@db:5432/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://db", "b"), "postgres://db/b");
    }

    #[test]
    fn paks_have_the_default_shape_and_hash_the_whole_key() {
        let (pak, hash) = new_pak();
        let parts: Vec<&str> = pak.split('_').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "brokkr");
        assert!(parts[1].starts_with("BR") && parts[1].len() == 10);
        assert_eq!(parts[2].len(), 24);
        assert_eq!(hash, hex::encode(Sha256::digest(pak.as_bytes())));
        assert_eq!(hash.len(), 64);
    }
}
