//! Chaos tests: PostgreSQL restarts and goes away under load, and nothing stalls or is lost.
//!
//! Each test runs a PostgreSQL cluster of its own on its own port
//! ([`brokkr_e2e::private_postgres`]), the real `brokkr-broker` and `brokkr-worker` binaries, and
//! a webhook receiver in the test process:
//! - `writes_and_deliveries_survive_a_restart_and_an_outage`: a broker, two workers, steady API
//!   writes with a `*` subscription; `pg_ctl restart -m fast`, then the server stopped for 20 s
//!   and started again. No accepted write is lost, every event is delivered within 30 s of the
//!   database's return without restarting any process, no request gets a 500 (503 while the
//!   database is away), both workers keep running, and every `/readyz` answers 503 during the
//!   outage and 200 after. Prints the recovery figures.
//! - `the_agent_keeps_its_objects_and_resumes_after_an_outage`: the same outage with an agent on
//!   kubesim: its objects stay, and a change made after recovery reaches the cluster.
//! - `a_worker_killed_mid_delivery_loses_nothing`: SIGKILL of one of two workers while
//!   deliveries are in flight; every event is delivered, duplicates (same delivery id) only for
//!   sends that were in flight at the kill.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brokkr_e2e::harness::{
    DEFAULT_DEADLINE, Harness, Options, binary, eventually, free_port, tail,
};
use brokkr_e2e::private_postgres::PrivatePostgres;
use brokkr_e2e::receiver::Receiver;
use brokkr_schema::pak::{Pak, PakSettings};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};
use tokio::process::{Child, Command};
use uuid::Uuid;

const KEY: &str = "5a4b3c2d1e0f99887766554433221100ffeeddccbbaa99887766554433221100";
/// How long the database stays away in the outage phase.
const OUTAGE: Duration = Duration::from_secs(20);
/// Every event must be delivered within this time of the database's return.
const RECOVERY: Duration = Duration::from_secs(30);
/// How soon after the database's return every `/readyz` answers 200 again: the longest
/// reconnect backoff (5 s), a probe, and room for a busy machine.
const READY_AGAIN: Duration = Duration::from_secs(12);

/// The tests of this file run one at a time: each starts a PostgreSQL server and several
/// processes, and their deadlines should measure recovery, not a crowded machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A broker or worker process with its HTTP base and log file.
struct Process {
    name: &'static str,
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Process {
    fn log_tail(&self) -> String {
        tail(&std::fs::read_to_string(&self.log).unwrap_or_default(), 40)
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The installation of one test: private PostgreSQL, database, broker, workers, receiver.
struct Stack {
    pg: PrivatePostgres,
    db_url: String,
    admin: String,
    admin_hash: String,
    broker: Process,
    workers: Vec<Process>,
    http: reqwest::Client,
    logs: std::path::PathBuf,
}

fn server_env(command: &mut Command, db_url: &str) {
    command
        .env_remove("BROKKR_CONFIG_FILE")
        .env("BROKKR__DATABASE__URL", db_url)
        .env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", KEY)
        .env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("BROKKR__WORKER__WEBHOOK_RETRY_BASE_SECONDS", "1")
        .env("BROKKR__WORKER__WEBHOOK_RETRY_MAX_SECONDS", "2")
        .env("BROKKR__WORKER__HEARTBEAT_INTERVAL_SECONDS", "1")
        .env("BROKKR__WORKER__STALE_CLAIM_REAP_INTERVAL_SECONDS", "2")
        .env("BROKKR__LOG__LEVEL", "info")
        .stdout(Stdio::null())
        .kill_on_drop(true);
}

/// Waits until `base`/readyz answers `expected`.
async fn wait_for_readyz(
    http: &reqwest::Client,
    base: &str,
    expected: StatusCode,
    deadline: Duration,
) -> anyhow::Result<()> {
    let url = format!("{base}/readyz");
    eventually(&format!("{url} answering {expected}"), deadline, || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            match http.get(&url).send().await {
                Ok(r) if r.status() == expected => Ok(()),
                Ok(r) => Err(r.status().to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await
}

async fn wait_ready(http: &reqwest::Client, process: &mut Process) {
    if let Err(e) = wait_for_readyz(http, &process.base, StatusCode::OK, DEFAULT_DEADLINE).await {
        panic!("{e}\n{} log:\n{}", process.name, process.log_tail());
    }
}

impl Stack {
    async fn start(workers: usize) -> Stack {
        let pg = PrivatePostgres::start().expect("private PostgreSQL starts");
        Stack::start_on(pg, workers).await
    }

    /// Starts the processes on `pg`, connecting as the role `brokkr` (not a superuser, owner of
    /// the database `brokkr`), as a production installation does.
    async fn start_on(pg: PrivatePostgres, workers: usize) -> Stack {
        let mut admin_conn = PgConnection::connect(&pg.url("postgres"))
            .await
            .expect("connect to the private cluster");
        for statement in [
            "CREATE ROLE brokkr LOGIN",
            "CREATE DATABASE brokkr OWNER brokkr",
        ] {
            admin_conn
                .execute(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        let db_url = pg
            .url("brokkr")
            .replace("postgres://postgres@", "postgres://brokkr@");
        let logs = std::env::temp_dir().join(format!("brokkr-outage-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs).expect("log dir");
        let admin = Pak::generate(&PakSettings::default()).as_str().to_owned();
        let admin_hash = Pak::parse(&admin).expect("admin PAK parses").hash();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let broker = Stack::spawn_broker(&db_url, &admin_hash, &logs);
        let mut stack = Stack {
            pg,
            db_url,
            admin,
            admin_hash,
            broker,
            workers: Vec::new(),
            http,
            logs,
        };
        wait_ready(&stack.http, &mut stack.broker).await;
        for i in 0..workers {
            let mut worker = stack.spawn_worker(i);
            wait_ready(&stack.http, &mut worker).await;
            stack.workers.push(worker);
        }
        stack
    }

    fn spawn_broker(db_url: &str, admin_hash: &str, logs: &std::path::Path) -> Process {
        let port = free_port().expect("free port");
        let log = logs.join("broker.log");
        let mut command = Command::new(binary("brokkr-broker").expect("brokkr-broker built"));
        server_env(&mut command, db_url);
        command
            .arg("serve")
            .env("BROKKR__BROKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("BROKKR__BROKER__PAK_HASH", admin_hash)
            .stderr(std::fs::File::create(&log).expect("broker log"));
        Process {
            name: "broker",
            child: command.spawn().expect("spawn brokkr-broker"),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn spawn_worker(&self, index: usize) -> Process {
        let port = free_port().expect("free port");
        let log = self.logs.join(format!("worker-{index}.log"));
        let mut command = Command::new(binary("brokkr-worker").expect("brokkr-worker built"));
        server_env(&mut command, &self.db_url);
        command
            .env("BROKKR__WORKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .stderr(std::fs::File::create(&log).expect("worker log"));
        Process {
            name: if index == 0 { "worker 0" } else { "worker 1" },
            child: command.spawn().expect("spawn brokkr-worker"),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn logs(&self) -> String {
        let mut text = format!("broker log:\n{}\n", self.broker.log_tail());
        for w in &self.workers {
            text.push_str(&format!("{} log:\n{}\n", w.name, w.log_tail()));
        }
        text
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        pak: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.broker.base))
            .bearer_auth(pak);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("broker answers");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Creates a generator (returns its PAK) and a `*` subscription to `receiver`.
    async fn generator_and_subscription(&self, receiver: &Receiver) -> String {
        self.generator_and_subscription_with(receiver, json!({}))
            .await
    }

    /// [`Stack::generator_and_subscription`] with more fields of the subscription.
    async fn generator_and_subscription_with(&self, receiver: &Receiver, extra: Value) -> String {
        let (status, generator) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/generators",
                &self.admin,
                Some(json!({"name": "chaos-ci"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{generator}");
        let (status, sub) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                &self.admin,
                Some({
                    let mut body =
                        json!({"name": "everything", "url": receiver.url(), "event_types": ["*"]});
                    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                        body.extend(extra.clone());
                    }
                    body
                }),
            )
            .await;
        assert!(status.is_success(), "subscription: {status} {sub}");
        generator["pak"].as_str().expect("generator PAK").to_owned()
    }
}

/// The `stack_id` a delivered `stack.created` event names.
fn stack_of(body: &Value) -> Option<String> {
    if body["event_type"] != "stack.created" {
        return None;
    }
    body["data"]["stack_id"]
        .as_str()
        .or_else(|| body["payload"]["stack_id"].as_str())
        .map(str::to_owned)
}

/// What the writers saw.
#[derive(Default)]
struct Writes {
    /// Stack ids the broker accepted.
    accepted: Mutex<Vec<String>>,
    /// 503 answers.
    refused: AtomicU64,
    /// Anything else that is not a success: (status, body).
    unexpected: Mutex<Vec<(u16, String)>>,
    /// Requests that got no answer at all.
    transport_errors: AtomicU64,
}

/// Writers creating stacks (about `per_second` in all, over 4 tasks) until `stop` is set.
fn start_writers(
    stack: &Stack,
    pak: &str,
    per_second: u64,
    stop: Arc<AtomicBool>,
) -> (Arc<Writes>, Vec<tokio::task::JoinHandle<()>>) {
    let writes = Arc::new(Writes::default());
    let pause = Duration::from_millis(4_000 / per_second.max(1));
    let tasks = (0..4)
        .map(|w| {
            let (http, base, pak) = (
                stack.http.clone(),
                stack.broker.base.clone(),
                pak.to_owned(),
            );
            let (writes, stop) = (writes.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let sent = http
                        .post(format!("{base}/api/v1/stacks"))
                        .bearer_auth(&pak)
                        .json(&json!({"name": format!("chaos-{w}-{n}")}))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            match body["id"].as_str() {
                                Some(id) => writes.accepted.lock().unwrap().push(id.to_owned()),
                                None => writes
                                    .unexpected
                                    .lock()
                                    .unwrap()
                                    .push((200, body.to_string())),
                            }
                        }
                        Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(
                                r.headers().contains_key("retry-after"),
                                "a 503 carries Retry-After"
                            );
                            writes.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body = r.text().await.unwrap_or_default();
                            writes.unexpected.lock().unwrap().push((status, body));
                        }
                        Err(_) => {
                            writes.transport_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
            })
        })
        .collect();
    (writes, tasks)
}

/// One `/readyz` answer.
#[derive(Debug, Clone)]
struct Sample {
    base: String,
    /// Seconds since the start of the test.
    at: f64,
    /// 0 when no answer came within 5 s.
    status: u16,
    /// The reason given with a 503 (empty otherwise).
    why: String,
}

type Samples = Arc<Mutex<Vec<Sample>>>;

/// Records every `/readyz` answer of `bases` every 100 ms, each base on its own task.
fn watch_readiness(
    http: reqwest::Client,
    bases: Vec<String>,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> (Samples, Vec<tokio::task::JoinHandle<()>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tasks = bases
        .into_iter()
        .map(|base| {
            let (seen, stop, http) = (seen.clone(), stop.clone(), http.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (status, why) = match http
                        .get(format!("{base}/readyz"))
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => (r.status().as_u16(), String::new()),
                        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                        Err(e) => (0, e.to_string()),
                    };
                    let at = t0.elapsed().as_secs_f64();
                    seen.lock().unwrap().push(Sample {
                        base: base.clone(),
                        at,
                        status,
                        why,
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
        .collect();
    (seen, tasks)
}

/// `base`'s samples taken after `since`, compressed to runs of the same answer:
/// (first second, last second, status, reason).
fn answers_after(samples: &[Sample], base: &str, since: f64) -> Vec<(f64, f64, u16, String)> {
    let mut runs: Vec<(f64, f64, u16, String)> = Vec::new();
    for s in samples.iter().filter(|s| s.base == base && s.at > since) {
        match runs.last_mut() {
            Some(run) if run.2 == s.status && run.3 == s.why => run.1 = s.at,
            _ => runs.push((s.at, s.at, s.status, s.why.clone())),
        }
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_and_deliveries_survive_a_restart_and_an_outage() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut stack = Stack::start(2).await;
    let receiver = Receiver::start().await;
    let pak = stack.generator_and_subscription(&receiver).await;
    let t0 = Instant::now();
    let stop_writers = Arc::new(AtomicBool::new(false));
    let stop_watch = Arc::new(AtomicBool::new(false));
    let (writes, writers) = start_writers(&stack, &pak, 40, stop_writers.clone());
    let mut bases = vec![stack.broker.base.clone()];
    bases.extend(stack.workers.iter().map(|w| w.base.clone()));
    let (readiness, watchers) =
        watch_readiness(stack.http.clone(), bases.clone(), t0, stop_watch.clone());

    // Steady state, then a fast restart (every session is ended).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restart = stack.pg.restart_fast().expect("pg_ctl restart");
    println!("pg_ctl restart -m fast took {:.2} s", restart.as_secs_f64());
    tokio::time::sleep(Duration::from_secs(5)).await;

    // An outage: the server is gone for 20 s.
    let refused_before_outage = writes.refused.load(Ordering::Relaxed);
    stack.pg.stop_server().expect("pg_ctl stop");
    let down_at = t0.elapsed().as_secs_f64();
    tokio::time::sleep(OUTAGE).await;
    // The server answers again some time before `pg_ctl start` returns: the outage, as the
    // probes must see it, ends when the start begins.
    let starting_at = t0.elapsed().as_secs_f64();
    stack.pg.start_server().expect("pg_ctl start");
    let back = Instant::now();
    let back_at = t0.elapsed().as_secs_f64();
    let refused_during_outage = writes.refused.load(Ordering::Relaxed) - refused_before_outage;
    // Recovery figures, measured from the return: the first delivery, and the moment every
    // write accepted before it has been delivered (the backlog of the outage is gone).
    let recovery = {
        let receiver = receiver.clone();
        let received_at_back = receiver.received().len();
        let backlog: HashSet<String> = writes.accepted.lock().unwrap().iter().cloned().collect();
        tokio::spawn(async move {
            let mut first = None;
            while back.elapsed() < Duration::from_secs(60) {
                let received = receiver.received();
                if first.is_none() && received.len() > received_at_back {
                    first = Some(back.elapsed());
                }
                let seen: HashSet<String> =
                    received.iter().filter_map(|r| stack_of(&r.body)).collect();
                if first.is_some() && backlog.is_subset(&seen) {
                    return (first, Some(back.elapsed()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (first, None)
        })
    };

    // Writes go on for a while after the return, then stop.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop_writers.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer task");
    }
    let accepted: Vec<String> = writes.accepted.lock().unwrap().clone();
    let unexpected = writes.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "requests answered neither 2xx nor 503: {unexpected:?}\n{}",
        stack.logs()
    );
    assert_eq!(
        writes.transport_errors.load(Ordering::Relaxed),
        0,
        "the broker always answers"
    );
    assert!(
        accepted.len() > 100,
        "writes went through: {}",
        accepted.len()
    );
    assert!(
        refused_during_outage > 0,
        "the outage refused writes with 503"
    );

    // Every event of an accepted write reaches the receiver within RECOVERY of the return.
    let expected: HashSet<String> = accepted.iter().cloned().collect();
    let all_delivered = loop {
        let received = receiver.received();
        let seen: HashSet<String> = received.iter().filter_map(|r| stack_of(&r.body)).collect();
        let missing = expected.difference(&seen).count();
        if missing == 0 {
            break back.elapsed();
        }
        assert!(
            back.elapsed() < RECOVERY,
            "{missing} of {} accepted writes were not delivered within {RECOVERY:?} of the database's return\n{}",
            expected.len(),
            stack.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // No accepted write was lost.
    let mut conn = PgConnection::connect(&stack.db_url).await.expect("db");
    let ids: Vec<Uuid> = accepted.iter().filter_map(|id| id.parse().ok()).collect();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM stacks WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(&mut conn)
        .await
        .expect("count stacks");
    assert_eq!(stored as usize, ids.len(), "every accepted write is stored");

    // Every process is still running, and each /readyz went 503 during the outage and 200 after:
    // within READY_AGAIN of the return (every reconnect backs off to at most 5 s).
    let ready_by = back_at + READY_AGAIN.as_secs_f64();
    loop {
        let now = t0.elapsed().as_secs_f64();
        let all_ready = {
            let samples = readiness.lock().unwrap();
            bases.iter().all(|base| {
                samples
                    .iter()
                    .any(|s| &s.base == base && s.at > back_at && s.status == 200)
            })
        };
        if all_ready || now > ready_by {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop_watch.store(true, Ordering::Relaxed);
    for watcher in watchers {
        watcher.await.expect("watcher");
    }
    assert!(
        stack.broker.is_running(),
        "the broker runs\n{}",
        stack.logs()
    );
    let mut workers = std::mem::take(&mut stack.workers);
    for w in &mut workers {
        assert!(w.is_running(), "{} runs\n{}", w.name, w.log_tail());
    }
    stack.workers = workers;
    let readiness = readiness.lock().unwrap().clone();
    for base in &bases {
        let during: Vec<u16> = readiness
            .iter()
            .filter(|s| &s.base == base && s.at > down_at + 2.0 && s.at < starting_at)
            .map(|s| s.status)
            .collect();
        assert!(
            !during.is_empty() && during.iter().all(|s| *s == 503),
            "{base}/readyz during the outage ({down_at:.1} s to {starting_at:.1} s): {:?}\n{}",
            answers_after(&readiness, base, 0.0),
            stack.logs()
        );
        assert!(
            readiness
                .iter()
                .any(|s| &s.base == base && s.at > back_at && s.at <= ready_by && s.status == 200),
            "{base}/readyz not 200 within {READY_AGAIN:?} of the return at {back_at:.1} s: {:?}\n{}",
            answers_after(&readiness, base, back_at),
            stack.logs()
        );
    }
    let ready_again: HashMap<&str, f64> = bases
        .iter()
        .filter_map(|base| {
            readiness
                .iter()
                .find(|s| &s.base == base && s.at > back_at && s.status == 200)
                .map(|s| (base.as_str(), s.at - back_at))
        })
        .collect();

    let (first_delivery, backlog_gone) = recovery.await.expect("recovery figures");
    let seconds =
        |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64()));
    println!(
        "outage figures: writes accepted {}, refused with 503 during the 20 s outage {}, in all {}; \
         database back -> first delivery {} s, -> backlog of the outage delivered {} s, \
         -> every accepted write (writes went on for 5 s) delivered {:.2} s; \
         /readyz 200 again after (s): {ready_again:?}",
        accepted.len(),
        refused_during_outage,
        writes.refused.load(Ordering::Relaxed),
        seconds(first_delivery),
        seconds(backlog_gone),
        all_delivered.as_secs_f64(),
    );
    let _ = &stack.admin_hash;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_refusing_connections_with_too_many_clients_is_an_outage_too() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let pg = PrivatePostgres::start().expect("private PostgreSQL starts");
    let superuser = pg.url("postgres");
    let mut stack = Stack::start_on(pg, 1).await;
    let receiver = Receiver::start().await;
    let pak = stack.generator_and_subscription(&receiver).await;
    let mut admin = PgConnection::connect(&superuser).await.expect("superuser");
    let write = |name: String| {
        let (http, base, pak) = (stack.http.clone(), stack.broker.base.clone(), pak.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/stacks"))
                .bearer_auth(&pak)
                .json(&json!({"name": name}))
                .send()
                .await
                .expect("the broker answers");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut accepted = Vec::new();
    let (status, body) = write("before".into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.push(body["id"].as_str().unwrap_or_default().to_owned());

    // The server refuses every new connection of the role with SQLSTATE 53300 (too many
    // connections) and ends the ones it has.
    for statement in [
        "ALTER ROLE brokkr CONNECTION LIMIT 0",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'brokkr'",
    ] {
        admin.execute(statement).await.expect(statement);
    }
    let refused_at = Instant::now();
    let mut bases = vec![stack.broker.base.clone()];
    bases.extend(stack.workers.iter().map(|w| w.base.clone()));
    for base in &bases {
        wait_for_readyz(
            &stack.http,
            base,
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.logs()));
    }
    let (status, body) = write("while-refused".into()).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a write while the server refuses connections: {body}"
    );
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(refused_at.elapsed())).await;

    admin
        .execute("ALTER ROLE brokkr CONNECTION LIMIT -1")
        .await
        .expect("lift the limit");
    let lifted = Instant::now();
    for base in &bases {
        wait_for_readyz(&stack.http, base, StatusCode::OK, RECOVERY)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", stack.logs()));
    }
    let ready_after = lifted.elapsed();
    let (status, body) = write("after".into()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    accepted.push(body["id"].as_str().unwrap_or_default().to_owned());
    let expected: HashSet<String> = accepted.into_iter().collect();
    eventually("every accepted write delivered", RECOVERY, || async {
        let seen: HashSet<String> = receiver
            .received()
            .iter()
            .filter_map(|r| stack_of(&r.body))
            .collect();
        let missing = expected.difference(&seen).count();
        if missing == 0 {
            Ok(())
        } else {
            Err(format!("{missing} missing"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.logs()));
    assert!(stack.broker.is_running(), "the broker runs");
    assert!(
        stack.workers[0].is_running(),
        "the worker runs\n{}",
        stack.logs()
    );
    println!(
        "too-many-clients figures: every /readyz 200 again {:.2} s after the limit was lifted",
        ready_after.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_delivery_loses_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut stack = Stack::start(2).await;
    let receiver = Receiver::start().await;
    // Slow answers (2 s) keep many sends in flight when the worker dies.
    receiver.delay_ms.store(2_000, Ordering::Relaxed);
    // A 5 s timeout: the lease of an attempt cut short by the kill lapses soon after.
    let pak = stack
        .generator_and_subscription_with(&receiver, json!({"timeout_seconds": 5}))
        .await;
    let mut accepted = Vec::new();
    for i in 0..150 {
        let (status, body) = stack
            .call(
                reqwest::Method::POST,
                "/api/v1/stacks",
                &pak,
                Some(json!({"name": format!("kill-{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        accepted.push(body["id"].as_str().expect("stack id").to_owned());
    }
    // Kill worker 0 while its first sends wait for their answers (2 s each): both workers
    // have their first deliveries in flight a moment after the first request arrived.
    eventually("deliveries in flight", DEFAULT_DEADLINE, || async {
        let n = receiver.received().len();
        if n >= 1 {
            Ok(())
        } else {
            Err(format!("{n} received"))
        }
    })
    .await
    .expect("deliveries start");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut killed = stack.workers.remove(0);
    let requests_at_kill = receiver.received().len();
    killed.child.start_kill().expect("SIGKILL");
    let _ = killed.child.wait().await;

    let expected: HashSet<String> = accepted.iter().cloned().collect();
    let outcome = eventually(
        "every event delivered after the kill",
        Duration::from_secs(90),
        || async {
            let seen: HashSet<String> = receiver
                .received()
                .iter()
                .filter_map(|r| stack_of(&r.body))
                .collect();
            let missing = expected.difference(&seen).count();
            if missing == 0 {
                Ok(())
            } else {
                Err(format!("{missing} missing"))
            }
        },
    )
    .await;
    if let Err(e) = outcome {
        panic!(
            "{e}\n{}\nkilled worker log:\n{}",
            stack.logs(),
            killed.log_tail()
        );
    }
    // Nothing is left hanging: the attempts the kill cut short are sent again once their lease
    // lapses, and every delivery ends as a success.
    let db_url = stack.db_url.clone();
    let settled = eventually(
        "every delivery recorded as a success",
        Duration::from_secs(90),
        || {
            let db_url = db_url.clone();
            async move {
                let mut conn = PgConnection::connect(&db_url)
                    .await
                    .map_err(|e| e.to_string())?;
                let open: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM webhook_deliveries WHERE status <> 'success'",
                )
                .fetch_one(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
                if open == 0 {
                    Ok(())
                } else {
                    Err(format!("{open} deliveries not yet successful"))
                }
            }
        },
    )
    .await;
    if let Err(e) = settled {
        panic!("{e}\n{}", stack.logs());
    }
    // Duplicates (the same delivery id twice) only for sends in flight at the kill: at most one
    // per delivery slot of the killed worker.
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in receiver.received() {
        if let Some(id) = r.header("x-brokkr-delivery") {
            *per_delivery.entry(id.to_owned()).or_default() += 1;
        }
    }
    let duplicates: usize = per_delivery.values().map(|n| n - 1).sum();
    // Every request that arrived before the kill was still waiting for its answer, so the
    // killed worker's share of them is sent again (it never learnt the outcome): at least one,
    // at most its concurrency.
    let concurrency = 32;
    assert!(
        (1..=concurrency.min(requests_at_kill)).contains(&duplicates),
        "{duplicates} duplicate sends; the killed worker had up to {concurrency} of the \
         {requests_at_kill} sends in flight at the kill"
    );
    assert!(
        requests_at_kill < expected.len(),
        "the kill came before everything was sent ({requests_at_kill} of {})",
        expected.len()
    );
    assert!(stack.workers[0].is_running(), "the other worker runs");
    println!(
        "kill figures: {} events, {requests_at_kill} requests before the kill, {duplicates} duplicates after it",
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agent_keeps_its_objects_and_resumes_after_an_outage() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let pg = PrivatePostgres::start().expect("private PostgreSQL starts");
    let h = match Harness::start(Options {
        database_server: Some(pg.url("postgres")),
        ..Options::default()
    })
    .await
    {
        Ok(h) => h,
        Err(e) => panic!("harness: {e:#}"),
    };
    if h.requires_kubesim("the outage test reads objects in kubesim only") {
        return;
    }
    let ns = h.create_namespace("outage").await.expect("namespace");
    let stack = h.create_stack("outage-app").await.expect("stack");
    let before = h
        .post_deployment(stack, &config_map(&ns, "before", "1"))
        .await
        .expect("deployment");
    h.wait_for_event(&before, "SUCCESS").await.expect("applied");
    let maps: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &ns);
    assert!(maps.get_opt("before").await.expect("get").is_some());

    pg.restart_fast().expect("restart");
    pg.stop_server().expect("stop");
    tokio::time::sleep(OUTAGE).await;
    // The agent kept running and kept its objects while the broker answered 503.
    assert!(
        maps.get_opt("before").await.expect("get").is_some(),
        "objects stay during the outage"
    );
    assert!(h.agent_health().is_ok(), "the agent runs");
    pg.start_server().expect("start");

    // A change made after the return reaches the cluster.
    let after = eventually(
        "the broker accepting writes again",
        DEFAULT_DEADLINE,
        || async {
            let both = format!(
                "{}---\n{}",
                config_map(&ns, "before", "1"),
                config_map(&ns, "after", "2")
            );
            h.post_deployment(stack, &both)
                .await
                .map_err(|e| e.to_string())
        },
    )
    .await
    .expect("deployment after the outage");
    eventually(
        "the change made after the outage in the cluster",
        RECOVERY,
        || async {
            match maps.get_opt("after").await {
                Ok(Some(_)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", tail(&h.agent_log(), 40)));
    h.wait_for_event(&after, "SUCCESS").await.expect("reported");
    assert!(h.agent_health().is_ok(), "the agent still runs");
}

fn config_map(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  value: \"{value}\"\n"
    )
}
