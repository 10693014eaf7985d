//! `delivery-bench`: how many webhook deliveries per second does one `brokkr-worker` send, and
//! how long does an event take to reach its receiver?
//!
//! The benchmark creates a throw-away database on the given PostgreSQL server, starts a real
//! `brokkr-broker` on it (which migrates it), runs a webhook receiver in this process and
//! subscribes it to `stack.*` through the broker's API. Events are recorded the way the broker
//! records them: `changes::record` inside a transaction, which queues one delivery and one
//! `webhook_delivery` job per matching subscription. Then two phases:
//!
//! * **throughput**: `--events` events are queued while no worker runs; then one `brokkr-worker`
//!   starts and the clock runs until every delivery has reached the receiver (and every
//!   delivery row is `success`). Reported: deliveries per second from the worker being ready to
//!   the last receipt, the best and worst full second, and the CPU of the worker, PostgreSQL, the
//!   broker and this process.
//! * **latency**: a fresh worker runs while events are recorded at `--rate` per second for
//!   `--seconds`, one event per transaction, paced by a timer. Reported: event-to-delivery
//!   latency (receipt time minus the envelope's `timestamp`, both on this machine's clock) p50,
//!   p90, p99 and max, and how many events were delivered.
//!
//! Each phase also prints what the database did per delivery (transactions and rows written,
//! from `pg_stat_database` / `pg_stat_all_tables`, read after the phase's worker exited so its
//! statistics are flushed) and the worker's own job and HTTP-attempt timings from `/metrics`;
//! the latency phase splits each first attempt, from the database's timestamps, into "delivery
//! row created → HTTP request started" and "HTTP request started → success recorded". With
//! `--sample`, the database is also polled every 100 ms for deliveries in flight, jobs buffered
//! in the worker and what the sessions wait for. When the server's autovacuum is off, the queue
//! tables are vacuumed and analysed between the phases, as autovacuum would have by then.
//!
//! The worker is stopped with SIGTERM after each phase, the broker is stopped and the database
//! dropped at the end (unless `--keep-db`). The process exits non-zero when any event was not
//! delivered.
//!
//! Run it by hand (not in CI), from the workspace root:
//!
//! ```text
//! cargo build --release -p brokkr-api -p brokkr-jobs -p brokkr-e2e
//! ./target/release/delivery-bench
//! ./target/release/delivery-bench --batch-size 512 --concurrency 64 --worker-db-connections 16
//! ```
//!
//! Anything else the worker reads can be set with `--worker-env KEY=VALUE` (`{db_url}` is the
//! benchmark database's URL), e.g. `--worker-env RUST_LOG=sqlx::query=debug --worker-log
//! /tmp/worker.log` to see every statement it sends, or
//! `--worker-env 'BROKKR__DATABASE__URL={db_url}?options[synchronous_commit]=off'`; and schema
//! experiments run with `--setup-sql`.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use brokkr_schema::pak::{Pak, PakSettings};
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use chrono::{DateTime, Utc};
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use uuid::Uuid;

/// How long a child process gets to become ready (the broker migrates the database first).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Give up waiting for deliveries when none arrived for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a worker gets to exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(45);
/// Events per transaction while queueing the throughput phase's backlog.
const LOAD_BATCH: usize = 500;
/// Connections the latency phase's event generator may use.
const GENERATOR_CONNECTIONS: u32 = 16;

/// Measures webhook delivery throughput and event-to-delivery latency of one worker.
#[derive(Debug, Parser)]
#[command(name = "delivery-bench", version)]
struct Args {
    /// Admin URL of the PostgreSQL server; a fresh `brokkr_dbench_*` database is created on it.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Events queued before the worker starts (throughput phase); 0 skips the phase.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Events per second in the latency phase.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    /// Length of the latency phase in seconds; 0 skips the phase.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Deliveries in flight per worker (`BROKKR__WORKER__WEBHOOK_DELIVERY_CONCURRENCY`)
    /// [default: the worker's own].
    #[arg(long)]
    concurrency: Option<u64>,
    /// Jobs fetched per poll (`BROKKR__WORKER__BATCH_SIZE`) [default: the worker's own].
    #[arg(long)]
    batch_size: Option<u64>,
    /// The worker's connections in all (`BROKKR__DATABASE__MAX_CONNECTIONS`; the worker's
    /// default).
    #[arg(long, default_value_t = 20)]
    worker_db_connections: u32,
    /// More worker settings, `KEY=VALUE` (repeatable), e.g.
    /// `BROKKR__WORKER__POLL_INTERVAL_MS=200` or `RUST_LOG=sqlx::query=debug`; `{db_url}` in a
    /// value stands for the benchmark database's URL.
    #[arg(long = "worker-env", value_name = "KEY=VALUE")]
    worker_env: Vec<String>,
    /// Append the worker's log (stderr) to this file instead of this terminal.
    #[arg(long)]
    worker_log: Option<PathBuf>,
    /// Directory of `brokkr-broker` and `brokkr-worker` [default: this executable's].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Sample the database every 100 ms during the phases (deliveries in flight, jobs buffered
    /// in the worker, what the worker's database sessions wait for); costs a little PostgreSQL
    /// CPU.
    #[arg(long)]
    sample: bool,
    /// SQL run on the benchmark database once the broker migrated it, before any event, for
    /// experiments (e.g. `DROP INDEX apalis.lidx`); `{db}` stands for the database's name.
    #[arg(long, value_name = "SQL")]
    setup_sql: Option<String>,
    /// Do not vacuum between the phases when the server's autovacuum is off.
    #[arg(long)]
    no_vacuum: bool,
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
            eprintln!("delivery-bench: some events were not delivered");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("delivery-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the database, benchmarks, and drops the database whatever happened.
async fn run(args: Args) -> Result<bool> {
    ensure!(
        args.events > 0 || args.seconds > 0,
        "nothing to measure: both --events and --seconds are 0"
    );
    ensure!(
        args.seconds == 0 || args.rate > 0,
        "--rate must be at least 1"
    );
    ensure!(
        args.concurrency != Some(0) && args.batch_size != Some(0),
        "--concurrency and --batch-size must be at least 1"
    );
    let worker_env = args
        .worker_env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("--worker-env {kv}: expected KEY=VALUE"))
        })
        .collect::<Result<Vec<_>>>()?;
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()
            .context("locating the current executable")?
            .parent()
            .context("the current executable has no directory")?
            .to_path_buf(),
    };
    let bins = Binaries {
        broker: bin_dir.join("brokkr-broker"),
        worker: bin_dir.join("brokkr-worker"),
    };
    for bin in [&bins.broker, &bins.worker] {
        ensure!(
            bin.is_file(),
            "{} not found (build with `cargo build --release -p brokkr-api -p brokkr-jobs` \
             or pass --bin-dir)",
            bin.display()
        );
    }

    let db_name = format!(
        "brokkr_dbench_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let db_url = url_with_database(&args.database_url, &db_name)?;
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .with_context(|| format!("connecting to {}", args.database_url))?;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{db_name}\"")))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {db_name}"))?;
    admin.close().await?;

    let outcome = benchmark(&args, &bins, &worker_env, &db_name, &db_url).await;

    if args.keep_db {
        println!("kept database: {db_url}");
    } else {
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

/// `url` pointing at database `db` instead (user, host, port and parameters kept).
fn url_with_database(url: &str, db: &str) -> Result<String> {
    let mut parsed = reqwest::Url::parse(url).with_context(|| format!("parsing {url}"))?;
    parsed.set_path(&format!("/{db}"));
    Ok(parsed.into())
}

struct Binaries {
    broker: PathBuf,
    worker: PathBuf,
}

/// Everything the phases share.
struct Bench<'a> {
    args: &'a Args,
    bins: &'a Binaries,
    worker_env: &'a [(String, String)],
    db_name: &'a str,
    db_url: &'a str,
    key: String,
    receiver: Arc<ReceiverLog>,
    broker: Process,
    http: reqwest::Client,
}

async fn benchmark(
    args: &Args,
    bins: &Binaries,
    worker_env: &[(String, String)],
    db_name: &str,
    db_url: &str,
) -> Result<bool> {
    let (receiver, hook_addr) = start_receiver().await?;
    let key = hex::encode(rand::random::<[u8; 32]>());
    let admin = Pak::generate(&PakSettings::default());
    let broker_addr = free_local_addr()?;
    let started = Instant::now();
    let broker = Process::spawn(
        "brokkr-broker",
        Command::new(&bins.broker)
            .arg("serve")
            .env("BROKKR__DATABASE__URL", db_url)
            .env("BROKKR__DATABASE__MAX_CONNECTIONS", "10")
            .env("BROKKR__BROKER__LISTEN_ADDR", broker_addr.to_string())
            .env("BROKKR__BROKER__PAK_HASH", admin.hash())
            .env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", &key)
            .env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8")
            .env("BROKKR__LOG__LEVEL", "warn")
            .env_remove("RUST_LOG"),
        broker_addr,
        None,
    )?;
    let mut bench = Bench {
        args,
        bins,
        worker_env,
        db_name,
        db_url,
        key,
        receiver,
        broker,
        http: reqwest::Client::new(),
    };
    let outcome = bench.run(&admin, hook_addr, started).await;
    bench.broker.kill().await;
    outcome
}

impl Bench<'_> {
    /// Waits for the broker, subscribes the receiver, runs the phases.
    async fn run(&mut self, admin: &Pak, hook_addr: SocketAddr, started: Instant) -> Result<bool> {
        self.broker.wait_ready(&self.http).await?;
        println!(
            "broker ready on {} after {:.1} s (migrations included); receiver on {hook_addr}",
            self.broker.addr,
            started.elapsed().as_secs_f64()
        );
        let response = self
            .http
            .post(format!("http://{}/api/v1/webhooks", self.broker.addr))
            .bearer_auth(admin.as_str())
            .json(&serde_json::json!({
                "name": "bench",
                "url": format!("http://{hook_addr}/hook"),
                "event_types": ["stack.*"],
            }))
            .send()
            .await
            .context("creating the subscription")?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ensure!(
            status == reqwest::StatusCode::CREATED,
            "creating the subscription: {status}: {body}"
        );
        if let Some(sql) = &self.args.setup_sql {
            let sql = sql.replace("{db}", &format!("\"{}\"", self.db_name));
            let mut conn = PgConnection::connect(self.db_url).await?;
            sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
                .with_context(|| format!("--setup-sql {sql}"))?;
            conn.close().await?;
            println!("setup SQL applied: {sql}");
        }
        println!(
            "machine: {} cores, load average {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_average()
        );
        let mut conn = PgConnection::connect(self.db_url).await?;
        let autovacuum: String = sqlx::query_scalar("SHOW autovacuum")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        let mut all_delivered = true;
        if self.args.events > 0 {
            all_delivered &= self.throughput_phase().await?;
        }
        if self.args.seconds > 0 {
            if self.args.events > 0 && autovacuum != "on" && !self.args.no_vacuum {
                // What autovacuum would have done by now on a server that runs it.
                let started = Instant::now();
                let mut conn = PgConnection::connect(self.db_url).await?;
                sqlx::raw_sql(
                    "VACUUM (ANALYZE) apalis.jobs, webhook_deliveries, \
                     webhook_delivery_attempts, audit_logs",
                )
                .execute(&mut conn)
                .await?;
                conn.close().await?;
                println!();
                println!(
                    "autovacuum is off on this server: vacuumed and analysed the queue tables \
                     between the phases ({:.2} s; --no-vacuum skips this)",
                    started.elapsed().as_secs_f64()
                );
            }
            all_delivered &= self.latency_phase().await?;
        }
        let mut conn = PgConnection::connect(self.db_url).await?;
        let statuses: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, count(*) FROM webhook_deliveries GROUP BY status ORDER BY status",
        )
        .fetch_all(&mut conn)
        .await?;
        let statuses: Vec<String> = statuses.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!();
        println!("webhook_deliveries at the end: {}", statuses.join(", "));
        Ok(all_delivered)
    }

    /// Starts one worker with the benchmark's settings and waits for `/readyz`.
    async fn start_worker(&self) -> Result<Process> {
        let addr = free_local_addr()?;
        let mut command = Command::new(&self.bins.worker);
        command
            .env("BROKKR__DATABASE__URL", self.db_url)
            .env(
                "BROKKR__DATABASE__MAX_CONNECTIONS",
                self.args.worker_db_connections.to_string(),
            )
            .env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", &self.key)
            .env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8")
            .env("BROKKR__WORKER__LISTEN_ADDR", addr.to_string())
            .env("BROKKR__WORKER__WEBHOOK_RETRY_BASE_SECONDS", "1")
            .env("BROKKR__WORKER__WEBHOOK_RETRY_MAX_SECONDS", "2")
            .env("BROKKR__LOG__LEVEL", "warn")
            .env_remove("RUST_LOG");
        if let Some(n) = self.args.concurrency {
            command.env(
                "BROKKR__WORKER__WEBHOOK_DELIVERY_CONCURRENCY",
                n.to_string(),
            );
        }
        if let Some(n) = self.args.batch_size {
            command.env("BROKKR__WORKER__BATCH_SIZE", n.to_string());
        }
        for (key, value) in self.worker_env {
            command.env(key, value.replace("{db_url}", self.db_url));
        }
        let mut worker = Process::spawn(
            "brokkr-worker",
            &mut command,
            addr,
            self.args.worker_log.as_deref(),
        )?;
        worker.wait_ready(&self.http).await?;
        Ok(worker)
    }

    /// Starts sampling the database when `--sample` asks for it.
    async fn start_sampler(&self) -> Result<Option<Sampler>> {
        if !self.args.sample {
            return Ok(None);
        }
        let conn = PgConnection::connect(self.db_url).await?;
        Ok(Some(Sampler::start(conn, self.db_name.to_owned())))
    }

    /// Queues `--events` events, then measures how fast one fresh worker delivers them.
    async fn throughput_phase(&mut self) -> Result<bool> {
        let n = self.args.events;
        println!();
        println!("== throughput: {n} events queued before the worker starts");
        let mut conn = PgConnection::connect(self.db_url).await?;
        let loading = Instant::now();
        let mut events = Vec::with_capacity(n);
        let channels = Channels::for_schema(None);
        for chunk in 0..n.div_ceil(LOAD_BATCH) {
            let mut tx = conn.begin().await?;
            for i in chunk * LOAD_BATCH..n.min((chunk + 1) * LOAD_BATCH) {
                let name = format!("bench-{i}");
                let recorded = changes::record(
                    &mut tx,
                    &channels,
                    &Actor::system(),
                    Change::StackCreated {
                        id: Uuid::new_v4(),
                        name: &name,
                        generator_id: Uuid::nil(),
                    },
                )
                .await
                .context("recording an event")?;
                events.push(recorded.event.context("stack.created has an event")?.id);
            }
            tx.commit().await?;
        }
        let load_time = loading.elapsed();
        let queued: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = 'webhook_delivery' \
             AND status = 'Pending'",
        )
        .fetch_one(&mut conn)
        .await?;
        ensure!(
            usize::try_from(queued).ok() == Some(n),
            "{queued} jobs queued for {n} events (is another subscription matching stack.*?)"
        );
        // A table that grew to this size over time would have statistics; give the planner them.
        sqlx::raw_sql("ANALYZE webhook_deliveries, webhook_subscriptions, apalis.jobs")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        println!(
            "queued {n} events ({n} deliveries + {n} jobs) in {:.2} s ({:.0} events/s, \
             {LOAD_BATCH} per transaction)",
            load_time.as_secs_f64(),
            n as f64 / load_time.as_secs_f64()
        );
        let wanted: HashSet<Uuid> = events.iter().copied().collect();

        let stats_before = DbStats::read(self.db_url, self.db_name).await?;
        let usage_before = Usage::sample(&self.broker, None);
        let spawned = Instant::now();
        let mut worker = self.start_worker().await?;
        let ready = Instant::now();
        // The worker did not exist before: its CPU counts from zero.
        let usage_start = Usage {
            worker: Some(Duration::ZERO),
            ..usage_before
        };
        let sampler = self.start_sampler().await?;
        let received = self.receiver.wait_for(&wanted).await;
        let all_received = Instant::now();
        let samples = Sampler::finish(sampler).await;
        let db_done = wait_for_success(self.db_url, n).await?;
        let done = Instant::now();
        let usage_end = Usage::sample(&self.broker, Some(&worker));
        let metrics = WorkerJobMetrics::scrape(&self.http, worker.addr).await;
        let stop = worker.terminate().await;
        let stats_after = DbStats::read(self.db_url, self.db_name).await?;

        let report = self.receiver.report(&events);
        println!(
            "worker ready {:.2} s after spawning; every delivery received {:.2} s after ready, \
             all rows 'success' {:.2} s after ready{}",
            (ready - spawned).as_secs_f64(),
            (all_received - ready).as_secs_f64(),
            (done - ready).as_secs_f64(),
            if db_done { "" } else { " (timed out)" }
        );
        let last = report.last_receipt.unwrap_or(all_received);
        let first = report.first_receipt.unwrap_or(ready);
        let ready_to_last = last.saturating_duration_since(ready);
        println!(
            "throughput: {:.0} deliveries/s (worker ready to last receipt, {:.2} s); \
             first to last receipt {:.0}/s",
            report.delivered as f64 / ready_to_last.as_secs_f64(),
            ready_to_last.as_secs_f64(),
            report.delivered as f64 / last.saturating_duration_since(first).as_secs_f64()
        );
        let buckets = per_second(&report.receipt_times, ready);
        if let (Some(min), Some(max)) = (buckets.iter().min(), buckets.iter().max()) {
            let full: Vec<String> = buckets.iter().map(|c| c.to_string()).collect();
            println!(
                "  full seconds after ready: min {min}/s, max {max}/s  [{}]",
                full.join(" ")
            );
        }
        report.print_delivery_counts(n, received);
        if let Some(samples) = samples {
            samples.print();
        }
        usage_start.print_until(&usage_end, "  cpu (worker spawn to all 'success')");
        metrics.print();
        stats_after.print_delta(&stats_before, report.delivered);
        println!("  worker stop: {stop}");
        Ok(report.delivered == n)
    }

    /// Records events at `--rate` for `--seconds` with a fresh worker running, and measures
    /// event-to-delivery latency.
    async fn latency_phase(&mut self) -> Result<bool> {
        let rate = self.args.rate;
        let total = usize::try_from(u64::from(rate) * self.args.seconds)?;
        println!();
        println!(
            "== latency: {rate} events/s for {} s ({total} events), one per transaction",
            self.args.seconds
        );
        let pool = PgPoolOptions::new()
            .max_connections(GENERATOR_CONNECTIONS)
            .min_connections(GENERATOR_CONNECTIONS)
            .test_before_acquire(false)
            .connect(self.db_url)
            .await?;
        let stats_before = DbStats::read(self.db_url, self.db_name).await?;
        let mut worker = self.start_worker().await?;
        // Let the worker settle (first poll, sweeps scheduled) before the clock starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let usage_start = Usage::sample(&self.broker, Some(&worker));
        let sampler = self.start_sampler().await?;
        let generated = generate(&pool, rate, total).await;
        let generation_ended = Instant::now();
        let generated = generated?;
        let wanted: HashSet<Uuid> = generated.events.iter().copied().collect();
        let received = self.receiver.wait_for(&wanted).await;
        let drained = Instant::now();
        let samples = Sampler::finish(sampler).await;
        let usage_end = Usage::sample(&self.broker, Some(&worker));
        let db_done =
            wait_for_success(self.db_url, self.args.events + generated.events.len()).await?;
        let metrics = WorkerJobMetrics::scrape(&self.http, worker.addr).await;
        let stop = worker.terminate().await;
        pool.close().await;
        let stats_after = DbStats::read(self.db_url, self.db_name).await?;

        let report = self.receiver.report(&generated.events);
        println!(
            "generated {} events in {:.2} s ({:.0}/s achieved); generator lag (start of the \
             transaction behind schedule) p99 {:.1} ms, max {:.1} ms; {} failed",
            generated.events.len(),
            generated.elapsed.as_secs_f64(),
            generated.events.len() as f64 / generated.elapsed.as_secs_f64(),
            ms(percentile(&generated.lags, 0.99)),
            ms(generated.lags.last().copied().unwrap_or_default()),
            generated.failures
        );
        println!(
            "last delivery {:.2} s after the last event; all rows 'success': {}",
            drained
                .saturating_duration_since(generation_ended)
                .as_secs_f64(),
            if db_done { "yes" } else { "no (timed out)" }
        );
        let lat = &report.latencies;
        println!(
            "event-to-delivery latency: p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  \
             ({} delivered of {})",
            ms(percentile(lat, 0.50)),
            ms(percentile(lat, 0.90)),
            ms(percentile(lat, 0.99)),
            ms(lat.last().copied().unwrap_or_default()),
            report.delivered,
            generated.events.len()
        );
        if report.negative_latencies > 0 {
            println!(
                "  ({} receipts stamped before their event: clock steps?)",
                report.negative_latencies
            );
        }
        let buckets = per_second(&report.receipt_times, usage_start.at);
        if !buckets.is_empty() {
            let full: Vec<String> = buckets.iter().map(|c| c.to_string()).collect();
            println!("  deliveries per full second: [{}]", full.join(" "));
        }
        print_breakdown(self.db_url, &generated.events).await?;
        report.print_delivery_counts(generated.events.len(), received);
        if let Some(samples) = samples {
            samples.print();
        }
        usage_start.print_until(&usage_end, "  cpu (generation start to last delivery)");
        metrics.print();
        stats_after.print_delta(&stats_before, report.delivered);
        println!("  worker stop: {stop}");
        Ok(report.delivered == generated.events.len() && generated.failures == 0)
    }
}

/// Where the time of `events`' first attempts went, from the database's own timestamps:
/// delivery row created (the event's transaction began) → HTTP request started (fetch, claim)
/// → attempt recorded as a success.
async fn print_breakdown(db_url: &str, events: &[Uuid]) -> Result<()> {
    let mut conn = PgConnection::connect(db_url).await?;
    let (queued, finished): (Vec<f64>, Vec<f64>) = sqlx::query_as(
        "SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99, 1.0]) WITHIN GROUP
                    (ORDER BY extract(epoch FROM a.started_at - d.created_at)::float8),
                percentile_cont(ARRAY[0.5, 0.9, 0.99, 1.0]) WITHIN GROUP
                    (ORDER BY extract(epoch FROM d.completed_at - a.started_at)::float8)
           FROM webhook_deliveries d
           JOIN webhook_delivery_attempts a ON a.delivery_id = d.id AND a.attempt_number = 1
          WHERE d.event_id = ANY($1)",
    )
    .bind(events)
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    let show = |v: &[f64]| {
        let ms = |i: usize| v.get(i).map_or(f64::NAN, |s| s * 1e3);
        format!(
            "p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            ms(0),
            ms(1),
            ms(2),
            ms(3)
        )
    };
    println!(
        "  delivery row created → HTTP request started:  {}",
        show(&queued)
    );
    println!(
        "  HTTP request started → success recorded:      {}",
        show(&finished)
    );
    Ok(())
}

/// What the paced generator produced.
struct Generated {
    /// Ids of the events recorded, in schedule order.
    events: Vec<Uuid>,
    /// How late each transaction started compared with its schedule, sorted.
    lags: Vec<Duration>,
    failures: usize,
    elapsed: Duration,
}

/// Records `total` stack.created events, one per transaction, `rate` per second.
async fn generate(pool: &PgPool, rate: u32, total: usize) -> Result<Generated> {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let channels = Arc::new(Channels::for_schema(None));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let scheduled = started + period.mul_f64(i as f64);
        let pool = pool.clone();
        let channels = channels.clone();
        tasks.spawn(async move {
            let mut tx = pool.begin().await?;
            let lag = Instant::now().saturating_duration_since(scheduled);
            let name = format!("paced-{i}");
            let recorded = changes::record(
                &mut tx,
                &channels,
                &Actor::system(),
                Change::StackCreated {
                    id: Uuid::new_v4(),
                    name: &name,
                    generator_id: Uuid::nil(),
                },
            )
            .await?;
            tx.commit().await?;
            let id = recorded.event.context("stack.created has an event")?.id;
            anyhow::Ok((i, id, lag))
        });
    }
    let mut done = Vec::with_capacity(total);
    let mut failures = 0;
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(event)) => done.push(event),
            Ok(Err(e)) => {
                failures += 1;
                first_error.get_or_insert(format!("{e:#}"));
            }
            Err(e) => {
                failures += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = started.elapsed();
    if let Some(e) = first_error {
        eprintln!("delivery-bench: {failures} events could not be recorded; first: {e}");
    }
    done.sort_unstable_by_key(|(i, _, _)| *i);
    let mut lags: Vec<Duration> = done.iter().map(|(_, _, lag)| *lag).collect();
    lags.sort_unstable();
    Ok(Generated {
        events: done.into_iter().map(|(_, id, _)| id).collect(),
        lags,
        failures,
        elapsed,
    })
}

/// Polls until `expected` deliveries are `success`; false after 30 s without getting there.
async fn wait_for_success(db_url: &str, expected: usize) -> Result<bool> {
    let mut conn = PgConnection::connect(db_url).await?;
    let deadline = Instant::now() + STALL_TIMEOUT;
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'success'")
                .fetch_one(&mut conn)
                .await?;
        if usize::try_from(done).is_ok_and(|d| d >= expected) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts of `times` (sorted or not) per full second after `from`; the partial last second is
/// left out.
fn per_second(times: &[Instant], from: Instant) -> Vec<usize> {
    let Some(last) = times.iter().max() else {
        return Vec::new();
    };
    let seconds = last.saturating_duration_since(from).as_secs() as usize;
    let mut buckets = vec![0; seconds];
    for t in times {
        let s = t.saturating_duration_since(from).as_secs() as usize;
        if s < seconds {
            buckets[s] += 1;
        }
    }
    buckets
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

// ---------------------------------------------------------------------------------------------
// The receiver

/// One request the receiver answered.
struct Receipt {
    at: Instant,
    wall: SystemTime,
    /// The envelope's `id` and `timestamp`, when the body parsed.
    event: Option<(Uuid, DateTime<Utc>)>,
    /// `X-Brokkr-Delivery`.
    delivery: Option<String>,
}

/// Everything the receiver saw.
#[derive(Default)]
struct ReceiverLog {
    state: Mutex<ReceiverState>,
    /// Events of the awaited set received so far (for cheap progress checks).
    awaited_seen: AtomicUsize,
    arrived: Notify,
}

#[derive(Default)]
struct ReceiverState {
    receipts: Vec<Receipt>,
    /// Every event id received at least once.
    events: HashSet<Uuid>,
    /// The events [`ReceiverLog::wait_for`] is waiting for.
    awaited: HashSet<Uuid>,
}

/// What the receiver saw of one phase's events.
struct PhaseReport {
    /// Distinct events delivered.
    delivered: usize,
    /// Requests for those events, duplicates included.
    requests: usize,
    /// Distinct `X-Brokkr-Delivery` values among them.
    distinct_deliveries: usize,
    /// Requests without the header.
    missing_header: usize,
    /// First receipt of each event.
    receipt_times: Vec<Instant>,
    first_receipt: Option<Instant>,
    last_receipt: Option<Instant>,
    /// Receipt minus envelope timestamp of each event's first receipt, sorted.
    latencies: Vec<Duration>,
    negative_latencies: usize,
}

impl PhaseReport {
    fn print_delivery_counts(&self, expected: usize, waited_fully: bool) {
        println!(
            "  receiver: {} of {expected} events delivered, {} requests, {} distinct \
             X-Brokkr-Delivery ids{}{}",
            self.delivered,
            self.requests,
            self.distinct_deliveries,
            if self.missing_header > 0 {
                format!(", {} requests without the header", self.missing_header)
            } else {
                String::new()
            },
            if waited_fully {
                ""
            } else {
                " (gave up waiting: no progress for 30 s)"
            }
        );
    }
}

impl ReceiverLog {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let delivery = request
            .headers()
            .get("x-brokkr-delivery")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                let mut response = Response::new(Full::new(Bytes::from_static(b"bad body")));
                *response.status_mut() = StatusCode::BAD_REQUEST;
                return response;
            }
        };
        let at = Instant::now();
        let wall = SystemTime::now();
        let event = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|envelope| {
                let id = envelope.get("id")?.as_str()?.parse::<Uuid>().ok()?;
                let stamp = envelope.get("timestamp")?.as_str()?;
                let stamp = DateTime::parse_from_rfc3339(stamp)
                    .ok()?
                    .with_timezone(&Utc);
                Some((id, stamp))
            });
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((id, _)) = event
                && state.events.insert(id)
                && state.awaited.contains(&id)
            {
                self.awaited_seen.fetch_add(1, Ordering::Relaxed);
                self.arrived.notify_waiters();
            }
            state.receipts.push(Receipt {
                at,
                wall,
                event,
                delivery,
            });
        }
        Response::new(Full::new(Bytes::from_static(b"ok")))
    }

    /// Waits until every event of `wanted` arrived (true) or none arrived for
    /// [`STALL_TIMEOUT`] (false).
    async fn wait_for(&self, wanted: &HashSet<Uuid>) -> bool {
        {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let already = wanted.iter().filter(|id| state.events.contains(id)).count();
            state.awaited = wanted.clone();
            self.awaited_seen.store(already, Ordering::Relaxed);
        }
        let mut last_seen = usize::MAX;
        let mut last_progress = Instant::now();
        loop {
            let seen = self.awaited_seen.load(Ordering::Relaxed);
            if seen >= wanted.len() {
                return true;
            }
            if seen != last_seen {
                last_seen = seen;
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= STALL_TIMEOUT {
                return false;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), self.arrived.notified()).await;
        }
    }

    /// What arrived of `events`.
    fn report(&self, events: &[Uuid]) -> PhaseReport {
        let wanted: HashSet<Uuid> = events.iter().copied().collect();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut first: HashMap<Uuid, (Instant, Duration, bool)> = HashMap::new();
        let mut requests = 0;
        let mut deliveries = HashSet::new();
        let mut missing_header = 0;
        for r in &state.receipts {
            let Some((id, stamp)) = r.event else {
                continue;
            };
            if !wanted.contains(&id) {
                continue;
            }
            requests += 1;
            match &r.delivery {
                Some(d) => {
                    deliveries.insert(d.clone());
                }
                None => missing_header += 1,
            }
            first.entry(id).or_insert_with(|| {
                let received: DateTime<Utc> = r.wall.into();
                match (received - stamp).to_std() {
                    Ok(latency) => (r.at, latency, false),
                    Err(_) => (r.at, Duration::ZERO, true),
                }
            });
        }
        let mut latencies: Vec<Duration> = first.values().map(|(_, l, _)| *l).collect();
        latencies.sort_unstable();
        let receipt_times: Vec<Instant> = first.values().map(|(at, _, _)| *at).collect();
        PhaseReport {
            delivered: first.len(),
            requests,
            distinct_deliveries: deliveries.len(),
            missing_header,
            first_receipt: receipt_times.iter().min().copied(),
            last_receipt: receipt_times.iter().max().copied(),
            negative_latencies: first.values().filter(|(_, _, neg)| *neg).count(),
            receipt_times,
            latencies,
        }
    }
}

/// Serves `POST /hook` (any path, really) on a loopback port with HTTP/1.1 keep-alive.
async fn start_receiver() -> Result<(Arc<ReceiverLog>, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the receiver")?;
    let addr = listener.local_addr()?;
    let log = Arc::new(ReceiverLog::default());
    let accepting = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let log = accepting.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let log = log.clone();
                    async move { Ok::<_, Infallible>(log.handle(request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((log, addr))
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A broker or worker child process.
struct Process {
    name: &'static str,
    child: Option<Child>,
    addr: SocketAddr,
}

impl Process {
    fn spawn(
        name: &'static str,
        command: &mut Command,
        addr: SocketAddr,
        log: Option<&Path>,
    ) -> Result<Process> {
        let stderr = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            ),
            None => Stdio::inherit(),
        };
        let child = command
            .env_remove("BROKKR_CONFIG_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Process {
            name,
            child: Some(child),
            addr,
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    fn cpu(&self) -> Option<Duration> {
        self.pid().and_then(|pid| cpu_of(&pid.to_string()))
    }

    /// Polls `/readyz` until it answers 200.
    async fn wait_ready(&mut self, http: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let url = format!("http://{}/readyz", self.addr);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("{} exited during start-up ({status})", self.name);
            }
            let last = match http.get(&url).timeout(Duration::from_secs(2)).send().await {
                Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(()),
                Ok(r) => r.status().to_string(),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {} s (last: {last})",
                    self.name,
                    READY_DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for the exit; describes how it went.
    async fn terminate(&mut self) -> String {
        let Some(child) = self.child.as_mut() else {
            return "not running".into();
        };
        let Some(pid) = child.id() else {
            return "already exited".into();
        };
        let started = Instant::now();
        let signalled = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !signalled {
            self.kill().await;
            return "SIGTERM failed; killed".into();
        }
        match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
            Ok(Ok(status)) => {
                self.child = None;
                format!(
                    "exited after SIGTERM in {:.2} s ({status})",
                    started.elapsed().as_secs_f64()
                )
            }
            Ok(Err(e)) => format!("waiting for the exit failed: {e}"),
            Err(_) => {
                self.kill().await;
                format!(
                    "still running {} s after SIGTERM; killed",
                    STOP_DEADLINE.as_secs()
                )
            }
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// A loopback address whose port was free a moment ago.
fn free_local_addr() -> Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(probe.local_addr()?)
}

// ---------------------------------------------------------------------------------------------
// Measurements: CPU, database statistics, worker metrics

/// CPU time consumed so far by the processes of interest, and by the whole machine.
struct Usage {
    at: Instant,
    worker: Option<Duration>,
    postgres: Option<Duration>,
    broker: Option<Duration>,
    bench: Option<Duration>,
    machine_busy: Option<Duration>,
}

impl Usage {
    fn sample(broker: &Process, worker: Option<&Process>) -> Usage {
        Usage {
            at: Instant::now(),
            worker: worker.and_then(Process::cpu),
            postgres: postgres_cpu(),
            broker: broker.cpu(),
            bench: cpu_of("self"),
            machine_busy: machine_busy(),
        }
    }

    fn print_until(&self, end: &Usage, label: &str) {
        let elapsed = end.at.saturating_duration_since(self.at).as_secs_f64();
        let delta = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        let cores = |d: Option<Duration>| match d {
            Some(d) if elapsed > 0.0 => format!("{:.2}", d.as_secs_f64() / elapsed),
            _ => "?".into(),
        };
        let parts = [
            ("worker", delta(self.worker, end.worker)),
            ("postgres", delta(self.postgres, end.postgres)),
            ("broker", delta(self.broker, end.broker)),
            ("bench", delta(self.bench, end.bench)),
        ];
        let ours: Option<Duration> = parts.iter().map(|(_, d)| *d).sum();
        let machine = delta(self.machine_busy, end.machine_busy);
        let other = match (machine, ours) {
            (Some(m), Some(o)) => Some(m.saturating_sub(o)),
            _ => None,
        };
        let shown: Vec<String> = parts
            .iter()
            .map(|(name, d)| format!("{name} {}", cores(*d)))
            .collect();
        println!(
            "{label}: {} cores; machine busy {} cores, of which other processes {} \
             (over {elapsed:.2} s; load average now {})",
            shown.join(", "),
            cores(machine),
            cores(other),
            load_average()
        );
    }
}

/// User + system CPU time of `/proc/<pid>` (Linux; `None` elsewhere).
fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything; fields resume after it.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(
        ticks * 1000 / clock_ticks_per_second(),
    ))
}

/// `USER_HZ`: 100 on every Linux Brokkr runs on.
fn clock_ticks_per_second() -> u64 {
    100
}

/// CPU time of every `postgres` process on this host (server, backends, background workers).
fn postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name();
        let Some(pid) = pid.to_str() else { continue };
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "postgres");
        if is_postgres {
            total += cpu_of(pid).unwrap_or_default();
        }
    }
    Some(total)
}

/// Non-idle CPU time of the whole machine, from the `cpu` line of `/proc/stat`.
fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = values
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| *v)
        .sum();
    Some(Duration::from_millis(
        busy * 1000 / clock_ticks_per_second(),
    ))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Cumulative statistics of the benchmark database and its busiest tables.
struct DbStats {
    commits: i64,
    rollbacks: i64,
    /// (table, inserts, updates, hot updates, deletes, index scans, sequential scans)
    tables: Vec<(String, [i64; 6])>,
}

impl DbStats {
    /// Reads the statistics as flushed so far (a backend flushes at the latest when it exits).
    async fn read(db_url: &str, db_name: &str) -> Result<DbStats> {
        let mut conn = PgConnection::connect(db_url).await?;
        let (commits, rollbacks): (i64, i64) = sqlx::query_as(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1",
        )
        .bind(db_name)
        .fetch_one(&mut conn)
        .await?;
        let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del,
                    COALESCE(idx_scan, 0), COALESCE(seq_scan, 0)
               FROM pg_stat_all_tables
              WHERE schemaname IN ('public', 'apalis')
              ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        Ok(DbStats {
            commits,
            rollbacks,
            tables: rows
                .into_iter()
                .map(|(t, a, b, c, d, e, f)| (t, [a, b, c, d, e, f]))
                .collect(),
        })
    }

    /// What happened between `before` and `self`, per delivery.
    fn print_delta(&self, before: &DbStats, deliveries: usize) {
        let per = deliveries.max(1) as f64;
        println!(
            "  database per delivery (all clients of the bench database; the worker dominates): \
             {:.2} commits, {:.2} rollbacks",
            (self.commits - before.commits) as f64 / per,
            (self.rollbacks - before.rollbacks) as f64 / per
        );
        let old: HashMap<&str, &[i64; 6]> =
            before.tables.iter().map(|(t, v)| (t.as_str(), v)).collect();
        for (table, now) in &self.tables {
            let was = old.get(table.as_str()).copied().unwrap_or(&[0; 6]);
            let d: Vec<f64> = now
                .iter()
                .zip(was.iter())
                .map(|(a, b)| (a - b) as f64 / per)
                .collect();
            if d.iter().all(|v| *v < 0.005) {
                continue;
            }
            println!(
                "    {table:<34} ins {:.2}  upd {:.2} (hot {:.2})  del {:.2}  idx scans {:.2}  \
                 seq scans {:.3}",
                d[0], d[1], d[2], d[3], d[4], d[5]
            );
        }
    }
}

/// Samples, every 100 ms, how much work is in flight and what the sessions of the benchmark
/// database are doing.
struct Sampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Samples>,
}

/// What the sampler saw.
#[derive(Default)]
struct Samples {
    n: usize,
    errors: usize,
    /// Sums and maxima of: deliveries `acquired`, jobs `Queued`, jobs `Running`, sessions
    /// active, sessions idle in a transaction.
    sums: [i64; 5],
    maxima: [i64; 5],
    /// Sessions seen active or idle in a transaction, by `state: wait event`.
    waits: HashMap<String, i64>,
}

impl Sampler {
    fn start(mut conn: PgConnection, db_name: String) -> Sampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut ticker = tokio::time::interval(Duration::from_millis(100));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = ticker.tick() => {}
                }
                match Sampler::sample(&mut conn, &db_name).await {
                    Ok((counts, waits)) => {
                        samples.n += 1;
                        for (i, c) in counts.iter().enumerate() {
                            samples.sums[i] += c;
                            samples.maxima[i] = samples.maxima[i].max(*c);
                        }
                        for (wait, n) in waits {
                            *samples.waits.entry(wait).or_default() += n;
                        }
                    }
                    Err(_) => samples.errors += 1,
                }
            }
            let _ = conn.close().await;
            samples
        });
        Sampler { stop, task }
    }

    async fn sample(
        conn: &mut PgConnection,
        db_name: &str,
    ) -> sqlx::Result<([i64; 5], Vec<(String, i64)>)> {
        let (acquired, queued, running): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'acquired'),
                    (SELECT count(*) FROM apalis.jobs
                      WHERE job_type = 'webhook_delivery' AND status = 'Queued'),
                    (SELECT count(*) FROM apalis.jobs
                      WHERE job_type = 'webhook_delivery' AND status = 'Running')",
        )
        .fetch_one(&mut *conn)
        .await?;
        let sessions: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state || ': ' || COALESCE(wait_event_type || '/' || wait_event, 'on CPU'),
                    count(*)
               FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()
                AND state IN ('active', 'idle in transaction')
              GROUP BY 1",
        )
        .bind(db_name)
        .fetch_all(&mut *conn)
        .await?;
        let count = |prefix: &str| {
            sessions
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, n)| n)
                .sum::<i64>()
        };
        let counts = [
            acquired,
            queued,
            running,
            count("active:"),
            count("idle in transaction:"),
        ];
        Ok((counts, sessions))
    }

    async fn finish(sampler: Option<Sampler>) -> Option<Samples> {
        let sampler = sampler?;
        let _ = sampler.stop.send(());
        sampler.task.await.ok()
    }
}

impl Samples {
    fn print(&self) {
        let n = self.n.max(1) as f64;
        let stat = |i: usize| format!("mean {:.1} max {}", self.sums[i] as f64 / n, self.maxima[i]);
        println!(
            "  sampled {} times: deliveries acquired {}; jobs Queued (fetched, not yet \
             started) {}, Running {}",
            self.n,
            stat(0),
            stat(1),
            stat(2)
        );
        println!(
            "    database sessions (worker, generator, broker): active {}, idle in \
             transaction {}{}",
            stat(3),
            stat(4),
            if self.errors > 0 {
                format!(" ({} samples failed)", self.errors)
            } else {
                String::new()
            }
        );
        let mut waits: Vec<(&String, &i64)> = self.waits.iter().collect();
        waits.sort_by(|a, b| b.1.cmp(a.1));
        let shown: Vec<String> = waits
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k} {:.2}", **v as f64 / n))
            .collect();
        println!("    mean sessions by state/wait: {}", shown.join(", "));
    }
}

/// The worker's own view of its webhook jobs, from `/metrics`.
struct WorkerJobMetrics {
    /// (count, sum of seconds) of `brokkr_job_duration_seconds{queue="webhook_delivery"}`.
    jobs: Option<(f64, f64)>,
    /// (count, sum of seconds) of `brokkr_webhook_attempt_duration_seconds{result="2xx"}`.
    attempts: Option<(f64, f64)>,
}

impl WorkerJobMetrics {
    async fn scrape(http: &reqwest::Client, addr: SocketAddr) -> WorkerJobMetrics {
        let text = match http.get(format!("http://{addr}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let value = |name: &str, label: &str| {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains(label))
                .find_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        };
        let pair = |base: &str, label: &str| {
            Some((
                value(&format!("{base}_count{{"), label)?,
                value(&format!("{base}_sum{{"), label)?,
            ))
        };
        WorkerJobMetrics {
            jobs: pair("brokkr_job_duration_seconds", "queue=\"webhook_delivery\""),
            attempts: pair("brokkr_webhook_attempt_duration_seconds", "result=\"2xx\""),
        }
    }

    fn print(&self) {
        let mean = |p: Option<(f64, f64)>| match p {
            Some((n, sum)) if n > 0.0 => format!("{:.0} × mean {:.2} ms", n, sum * 1e3 / n),
            _ => "?".into(),
        };
        println!(
            "  worker metrics: delivery jobs {}, of which the HTTP attempt (2xx) {}",
            mean(self.jobs),
            mean(self.attempts)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_swapped_in_the_url() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            url_with_database("postgres://u:p@db:5432/x?sslmode=disable", "b").unwrap(),
            "postgres://u:p@db:5432/b?sslmode=disable"
        );
    }

    #[test]
    fn receipts_are_counted_per_full_second() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let times = [at(10), at(900), at(1500), at(2100), at(2500)];
        // Seconds 0 and 1 are complete; second 2 is not.
        assert_eq!(per_second(&times, start), vec![2, 1]);
        assert!(per_second(&[], start).is_empty());
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&sorted, 1.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
