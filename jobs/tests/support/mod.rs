//! Shared by the worker's end-to-end tests: a local webhook receiver, the worker process, a
//! broker with an encryption key.
#![allow(dead_code)]

#[path = "../../../api/tests/common/mod.rs"]
pub mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Request, Response, handler, web::Data};
use reqwest::StatusCode;
use tokio::process::{Child, Command};

pub const KEY: &str = "8f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";
pub const SECRET: &str = "a-shared-secret-of-some-length";

/// What the receiver saw.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
pub struct Receiver {
    pub seen: Arc<Mutex<Vec<Received>>>,
    /// Answer 500 to this many requests first (u32::MAX: always).
    pub fail_first: Arc<Mutex<u32>>,
    /// Milliseconds to wait before answering.
    pub delay_ms: Arc<Mutex<u64>>,
}

#[handler]
async fn receive(req: &Request, body: Vec<u8>, rx: Data<&Receiver>) -> Response {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    rx.seen.lock().unwrap().push(Received { headers, body });
    let delay = *rx.delay_ms.lock().unwrap();
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut fail = rx.fail_first.lock().unwrap();
    if *fail > 0 {
        if *fail != u32::MAX {
            *fail -= 1;
        }
        return Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .body("try later");
    }
    Response::builder().body("thanks")
}

pub async fn start_receiver(fail_first: u32) -> (Receiver, String) {
    let rx = Receiver::default();
    *rx.fail_first.lock().unwrap() = fail_first;
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = poem::Route::new()
        .at("/hook", poem::post(receive))
        .data(rx.clone());
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    (rx, format!("http://{addr}/hook"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Worker {
    pub child: Child,
    pub base: String,
    /// The worker's stderr (its log, at `warn` unless the caller asked otherwise).
    pub log: std::path::PathBuf,
}

impl Worker {
    /// What the worker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Show the log of a failed test; drop the file either way.
        if std::thread::panicking() {
            eprintln!("brokkr-worker log:\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

pub async fn start_worker(db_url: &str) -> Worker {
    start_worker_with(db_url, &[]).await
}

/// Starts `brokkr-worker` with extra `BROKKR__…` settings.
pub async fn start_worker_with(db_url: &str, extra: &[(&str, &str)]) -> Worker {
    let port = free_port();
    let log = std::env::temp_dir().join(format!("brokkr-worker-test-{}.log", uuid::Uuid::new_v4()));
    let stderr = std::fs::File::create(&log).expect("worker log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_brokkr-worker"));
    command.env_remove("BROKKR_CONFIG_FILE");
    command
        .env("BROKKR__DATABASE__URL", db_url)
        .env("BROKKR__DATABASE__MAX_CONNECTIONS", "8")
        .env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", KEY)
        .env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8")
        .env("BROKKR__WORKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("BROKKR__WORKER__WEBHOOK_RETRY_BASE_SECONDS", "1")
        .env("BROKKR__WORKER__WEBHOOK_RETRY_MAX_SECONDS", "2")
        .env("BROKKR__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true);
    // The caller's settings win over the defaults above.
    let child = command
        .envs(extra.iter().copied())
        .spawn()
        .expect("spawn brokkr-worker");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "worker not ready in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Worker { child, base, log }
}

pub async fn keyed_broker() -> TestBroker {
    TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await
}

pub async fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
