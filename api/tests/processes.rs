//! The real `brokkr-broker` binary: first start, CLI, configuration errors, two replicas on one
//! database, graceful shutdown.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use brokkr_schema::pak::{Pak, PakSettings};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_brokkr-broker");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Proc {
    child: Child,
    base: String,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

fn broker_command(db_url: &str, port: u16, admin_hash: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("BROKKR__DATABASE__URL", db_url)
        .env("BROKKR__BROKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("BROKKR__DATABASE__MAX_CONNECTIONS", "5")
        .env("BROKKR__LOG__LEVEL", "warn")
        .env_remove("BROKKR_CONFIG_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(h) = admin_hash {
        cmd.env("BROKKR__BROKER__PAK_HASH", h);
    }
    cmd
}

async fn spawn(db_url: &str, admin_hash: Option<&str>) -> Proc {
    spawn_env(db_url, admin_hash, &[]).await
}

async fn spawn_with(db_url: &str, admin_hash: &str, env: &[(&str, &str)]) -> Proc {
    spawn_env(db_url, Some(admin_hash), env).await
}

async fn spawn_env(db_url: &str, admin_hash: Option<&str>, env: &[(&str, &str)]) -> Proc {
    let port = free_port();
    let mut child = broker_command(db_url, port, admin_hash)
        .envs(env.iter().copied())
        .arg("serve")
        .spawn()
        .expect("spawn broker");
    let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "broker on {base} not ready in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Proc {
        child,
        base,
        stdout,
    }
}

async fn terminate(p: &mut Proc) -> std::process::ExitStatus {
    let pid = p.child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(20), p.child.wait())
        .await
        .expect("broker exits after SIGTERM")
        .unwrap()
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    pak: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("Bearer {pak}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn first_start_prints_the_admin_pak_once() {
    let db = TestDb::create().await;
    let mut first = spawn(&db.url, None).await;
    let line = tokio::time::timeout(Duration::from_secs(5), first.stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("a line on stdout");
    let pak = line
        .strip_prefix("Admin PAK: ")
        .unwrap_or_else(|| panic!("unexpected stdout {line:?}"));
    let (s, v) = call(
        &first.base,
        reqwest::Method::POST,
        "/api/v1/auth/pak",
        pak,
        None,
    )
    .await;
    assert_eq!((s, v["admin"].clone()), (StatusCode::OK, json!(true)));
    assert!(terminate(&mut first).await.success());

    let mut second = spawn(&db.url, None).await;
    assert!(terminate(&mut second).await.success());
    let mut rest = Vec::new();
    while let Ok(Some(l)) = second.stdout.next_line().await {
        rest.push(l);
    }
    assert!(
        rest.iter().all(|l| !l.contains("Admin PAK")),
        "printed again: {rest:?}"
    );
    // The first admin PAK still works.
    let mut third = spawn(&db.url, None).await;
    let (s, _) = call(
        &third.base,
        reqwest::Method::POST,
        "/api/v1/auth/pak",
        pak,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    terminate(&mut third).await;
}

#[tokio::test]
async fn invalid_configuration_exits_with_code_2_naming_the_key() {
    for (key, value, named) in [
        (
            "BROKKR__BROKER__LISTEN_ADDR",
            "nowhere",
            "broker.listen_addr",
        ),
        (
            "BROKKR__BROKER__AUTH_CACHE_TTL_SECONDS",
            "soon",
            "broker.auth_cache_ttl_seconds",
        ),
        ("BROKKR__DATABASE__SCHEMA", "bad;name", "database.schema"),
        ("BROKKR__BROKER__NO_SUCH_KEY", "1", "broker.no_such_key"),
    ] {
        let out = std::process::Command::new(BIN)
            .env(key, value)
            .arg("serve")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{key}: {stderr}");
    }
    let dir = std::env::temp_dir().join(format!("brokkr-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broker.toml");
    std::fs::write(&file, "[broker]\nmax_body_bytes = \"big\"\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broker.max_body_bytes"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn config_check_accepts_a_good_file_and_names_the_bad_key() {
    let dir = std::env::temp_dir().join(format!("brokkr-check-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("brokkr.toml");
    let check = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["config", "check"]).arg(&file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    std::fs::write(
        &file,
        "[database]\nrun_migrations = false\nmax_connections = 12\n[worker]\nlisten_addr = \"0.0.0.0:3001\"\n",
    )
    .unwrap();
    let out = check(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    // The environment layer is checked too, as the processes read it.
    let out = check(&[("BROKKR__DATABASE__MAX_CONNECTIONS", "many")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.max_connections"));
    for (text, key) in [
        ("[worker]\nlisten_adr = \"0.0.0.0:3001\"\n", "listen_adr"),
        (
            "[broker]\nmax_body_bytes = \"big\"\n",
            "broker.max_body_bytes",
        ),
        ("[log]\nformat = \"xml\"\n", "log.format"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = check(&[]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{text}: {stderr}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn two_brokers_share_one_database() {
    let db = TestDb::create().await;
    let admin = Pak::generate(&PakSettings::default());
    let hash = admin.hash();
    let mut one = spawn(&db.url, Some(&hash)).await;
    let mut two = spawn(&db.url, Some(&hash)).await;
    let admin = admin.as_str();
    use reqwest::Method as M;

    let (_, created) = call(
        &one.base,
        M::POST,
        "/api/v1/agents",
        admin,
        Some(json!({"name": "a", "cluster_name": "c"})),
    )
    .await;
    let agent = created["agent"]["id"].as_str().unwrap().to_owned();
    let old_pak = created["initial_pak"].as_str().unwrap().to_owned();
    let agent_path = format!("/api/v1/agents/{agent}");
    // Warm broker two's auth cache with the key.
    assert_eq!(
        call(&two.base, M::GET, &agent_path, &old_pak, None).await.0,
        StatusCode::OK
    );

    let (_, rotated) = call(
        &one.base,
        M::POST,
        &format!("{agent_path}/rotate-pak"),
        admin,
        None,
    )
    .await;
    let new_pak = rotated["pak"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut refused_after = None;
    while started.elapsed() < Duration::from_secs(1) {
        if call(&two.base, M::GET, &agent_path, &old_pak, None).await.0 == StatusCode::UNAUTHORIZED
        {
            refused_after = Some(started.elapsed());
            break;
        }
    }
    let refused_after =
        refused_after.expect("broker two must refuse the rotated key within a second");
    eprintln!("rotated key refused by the other replica {refused_after:?} after rotation");
    assert!(
        refused_after < Duration::from_millis(200),
        "took {refused_after:?}"
    );
    assert_eq!(
        call(&two.base, M::GET, &agent_path, &new_pak, None).await.0,
        StatusCode::OK
    );

    // CLI rotation reaches both running brokers at once and prints the key on the last line.
    let out = broker_command(&db.url, free_port(), Some(&hash))
        .args(["rotate", "agent", "--uuid", &agent])
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let cli_pak = stdout.lines().last().unwrap().trim().to_owned();
    assert!(
        Pak::parse(&cli_pak).is_ok(),
        "last line is not a PAK: {stdout:?}"
    );
    for base in [&one.base, &two.base] {
        let deadline = Instant::now() + Duration::from_secs(1);
        while call(base, M::GET, &agent_path, &new_pak, None).await.0 != StatusCode::UNAUTHORIZED {
            assert!(
                Instant::now() < deadline,
                "{base} still accepts the key rotated by the CLI"
            );
        }
        assert_eq!(
            call(base, M::GET, &agent_path, &cli_pak, None).await.0,
            StatusCode::OK
        );
    }

    // A change through broker one wakes a long poll held by broker two.
    let (_, generator) = call(
        &one.base,
        M::POST,
        "/api/v1/generators",
        admin,
        Some(json!({"name": "ci"})),
    )
    .await;
    let gen_pak = generator["pak"].as_str().unwrap().to_owned();
    // The agent serves this generator (the target needs the registration).
    let (s, v) = call(
        &one.base,
        M::POST,
        &format!(
            "/api/v1/generators/{}/register",
            generator["generator"]["id"].as_str().unwrap()
        ),
        &cli_pak,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, stack) = call(
        &one.base,
        M::POST,
        "/api/v1/stacks",
        &gen_pak,
        Some(json!({"name": "web"})),
    )
    .await;
    let stack = stack["id"].as_str().unwrap().to_owned();
    call(
        &one.base,
        M::POST,
        &format!("{agent_path}/targets"),
        admin,
        Some(json!({"stack_id": stack})),
    )
    .await;
    let client = reqwest::Client::new();
    let first = client
        .get(format!("{}{agent_path}/target-state", two.base))
        .header("Authorization", &cli_pak)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let poll = client
        .get(format!("{}{agent_path}/target-state?wait=30", two.base))
        .header("Authorization", &cli_pak)
        .header("If-None-Match", &etag)
        .send();
    let waiting = async {
        let resp = poll.await;
        (resp, Instant::now())
    };
    let change = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (s, _) = call(
            &one.base,
            M::POST,
            &format!("/api/v1/stacks/{stack}/deployment-objects"),
            &gen_pak,
            Some(json!({"yaml_content": namespace_yaml("web")})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        Instant::now()
    };
    let ((resp, answered), committed) = tokio::join!(waiting, change);
    let resp = resp.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let woke = answered.saturating_duration_since(committed);
    eprintln!("long poll on broker two answered {woke:?} after the change on broker one committed");
    assert!(woke < Duration::from_millis(100), "woke after {woke:?}");

    terminate(&mut one).await;
    terminate(&mut two).await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let db = TestDb::create().await;
    let admin = Pak::generate(&PakSettings::default());
    let mut p = spawn(&db.url, Some(&admin.hash())).await;
    let (_, created) = call(
        &p.base,
        reqwest::Method::POST,
        "/api/v1/agents",
        admin.as_str(),
        Some(json!({"name": "a", "cluster_name": "c"})),
    )
    .await;
    let agent = created["agent"]["id"].as_str().unwrap().to_owned();
    let pak = created["initial_pak"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/agents/{agent}/target-state", p.base);
    let client = reqwest::Client::new();
    let etag = client
        .get(&url)
        .header("Authorization", &pak)
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .get(format!("{url}?wait=2"))
                .header("Authorization", &pak)
                .header("If-None-Match", &etag)
                .send()
                .await
                .map(|r| r.status())
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exit = terminate(&mut p).await;
    assert!(exit.success(), "exit status {exit:?}");
    let status = in_flight
        .await
        .unwrap()
        .expect("in-flight request completes, not reset");
    assert_eq!(status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn create_commands_print_the_pak_on_the_last_line() {
    let db = TestDb::create().await;
    let admin = Pak::generate(&PakSettings::default());
    let out = broker_command(&db.url, free_port(), Some(&admin.hash()))
        .args([
            "create",
            "generator",
            "--name",
            "ci",
            "--description",
            "pipeline",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let gen_pak = stdout.lines().last().unwrap().to_owned();
    assert!(Pak::parse(&gen_pak).is_ok());
    let out = broker_command(&db.url, free_port(), Some(&admin.hash()))
        .args([
            "create",
            "agent",
            "--name",
            "edge",
            "--cluster-name",
            "eu-1",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let agent_pak = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    let mut p = spawn(&db.url, Some(&admin.hash())).await;
    let (s, v) = call(
        &p.base,
        reqwest::Method::POST,
        "/api/v1/auth/pak",
        &gen_pak,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["generator"].is_string());
    let (s, v) = call(
        &p.base,
        reqwest::Method::POST,
        "/api/v1/auth/pak",
        &agent_pak,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["agent"].is_string());
    // The CLI's changes are audited as the system actor.
    let (_, logs) = (0, TestDbProbe(&db).audit_actions().await);
    assert!(
        logs.contains(&("system".to_owned(), "generator.created".to_owned())),
        "{logs:?}"
    );
    assert!(
        logs.contains(&("system".to_owned(), "agent.created".to_owned())),
        "{logs:?}"
    );
    let out = broker_command(&db.url, free_port(), None)
        .args([
            "rotate",
            "agent",
            "--uuid",
            &uuid::Uuid::new_v4().to_string(),
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "unknown agent is an error");
    terminate(&mut p).await;
}

struct TestDbProbe<'a>(&'a TestDb);

impl TestDbProbe<'_> {
    async fn audit_actions(&self) -> Vec<(String, String)> {
        let mut conn = self.0.connect().await;
        sqlx::query_as("SELECT actor_type, action FROM audit_logs ORDER BY timestamp")
            .fetch_all(&mut conn)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn readyz_reports_an_unreachable_database() {
    let b = TestBroker::start().await;
    let ready = b
        .client
        .get(format!("{}/readyz", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    {
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server_url())
            .await
            .unwrap();
        sqlx::Executor::execute(
            &mut admin,
            sqlx::AssertSqlSafe(format!("DROP DATABASE \"{}\" WITH (FORCE)", b.db.name)),
        )
        .await
        .unwrap();
    }
    let resp = b
        .client
        .get(format!("{}/readyz", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].is_string());
    let live = b
        .client
        .get(format!("{}/healthz", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    // API calls fail with a clear JSON error rather than hanging or panicking.
    let (s, v) = b
        .get(
            "/api/v1/agents",
            "brokkr_BRxxxxxxxx_unknownunknownunknownunk",
        )
        .await;
    assert!(
        s == StatusCode::SERVICE_UNAVAILABLE || s == StatusCode::INTERNAL_SERVER_ERROR,
        "{s} {v}"
    );
    assert!(v["error"].is_string());
}

#[tokio::test]
async fn reencrypt_webhooks_rewrites_values_under_the_current_key() {
    let db = TestDb::create().await;
    let admin = Pak::generate(&PakSettings::default());
    let old_key = "11".repeat(32);
    let new_key = "22".repeat(32);
    let mut p = spawn_with(
        &db.url,
        &admin.hash(),
        &[("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", &old_key)],
    )
    .await;
    let (s, v) = call(
        &p.base,
        reqwest::Method::POST,
        "/api/v1/webhooks",
        admin.as_str(),
        Some(json!({"name": "w", "url": "https://hooks.example.com/x", "event_types": ["*"], "secret": "a-shared-secret-of-some-length"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    terminate(&mut p).await;
    let run = |current: &str, previous: Option<&str>| {
        let mut cmd = broker_command(&db.url, free_port(), Some(&admin.hash()));
        cmd.env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", current)
            .arg("reencrypt-webhooks");
        if let Some(prev) = previous {
            cmd.env("BROKKR__BROKER__WEBHOOK_PREVIOUS_ENCRYPTION_KEYS", prev);
        }
        cmd.output()
    };
    // Without the old key the values cannot be read: reported, left alone.
    let out = run(&new_key, None).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success()
            && text.contains("0 subscription(s) rewritten")
            && text.contains("no configured key can read"),
        "{text}"
    );
    let out = run(&new_key, Some(&old_key)).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("1 subscription(s) rewritten"),
        "{text}"
    );
    // Now the new key alone reads everything.
    let out = run(&new_key, None).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("0 subscription(s) rewritten") && !text.contains("no configured key"),
        "{text}"
    );
}
