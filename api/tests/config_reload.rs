//! Live configuration of the broker: `POST /admin/config/reload` and config-file edits apply the
//! dynamic keys at once (CORS answers change without a restart), static keys are reported as
//! needing a restart with secrets redacted, an invalid file changes nothing, and reloads are
//! audited.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use brokkr_schema::live::ConfigSource;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;

struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("brokkr-reload-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
    fn write(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn broker(file: &ConfigFile, watch: Option<Duration>) -> TestBroker {
    let source = ConfigSource {
        file: Some(file.0.clone()),
        env: Vec::new(),
        watch,
    };
    TestBroker::start_with_source(
        |s| s.cors.allowed_origins = vec!["https://old.example".into()],
        source,
    )
    .await
}

/// The `Access-Control-Allow-Origin` a preflight from `origin` gets.
async fn allowed_origin(b: &TestBroker, origin: &str) -> Option<String> {
    let resp = b
        .client
        .request(Method::OPTIONS, format!("{}/api/v1/agents", b.base))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .unwrap();
    resp.headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn reload(b: &TestBroker) -> (StatusCode, Value) {
    b.post("/api/v1/admin/config/reload", &b.admin, Value::Null)
        .await
}

#[tokio::test]
async fn a_reload_applies_cors_at_once_and_reports_static_keys() {
    let file = ConfigFile::new("[cors]\nallowed_origins = [\"https://old.example\"]\n");
    let b = broker(&file, None).await;
    assert_eq!(
        allowed_origin(&b, "https://old.example").await.as_deref(),
        Some("https://old.example")
    );
    assert_eq!(allowed_origin(&b, "https://new.example").await, None);

    file.write(
        "[cors]\nallowed_origins = [\"https://new.example\"]\n\
         [broker]\nauth_cache_ttl_seconds = 5\n\
         webhook_encryption_key = \"5f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0\"\n",
    );
    let (st, v) = reload(&b).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["success"], true);
    assert_eq!(
        v["message"].as_str().unwrap().split(';').next(),
        Some("1 setting(s) updated")
    );
    let change = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "cors.allowed_origins")
        .unwrap_or_else(|| panic!("cors change missing: {v}"));
    assert_eq!(change["old_value"], "[\"https://old.example\"]");
    assert_eq!(change["new_value"], "[\"https://new.example\"]");
    let restart: Vec<&Value> = v["restart_required"].as_array().unwrap().iter().collect();
    let key = |k: &str| restart.iter().find(|c| c["key"] == k).copied();
    assert_eq!(
        key("broker.auth_cache_ttl_seconds").unwrap()["new_value"],
        "5"
    );
    assert_eq!(
        key("broker.webhook_encryption_key").unwrap()["new_value"],
        "[redacted]",
        "secrets never appear in the report"
    );
    assert!(!v.to_string().contains("5f1e2d3c4b5a"));

    // In effect now, without a restart; the static key is not.
    assert_eq!(
        allowed_origin(&b, "https://new.example").await.as_deref(),
        Some("https://new.example")
    );
    assert_eq!(allowed_origin(&b, "https://old.example").await, None);
    assert_eq!(b.state.live.current().broker.auth_cache_ttl_seconds, 60);

    // Audited as the admin's change, secrets redacted.
    let mut conn = b.db.connect().await;
    let (actor, details): (String, Value) = sqlx::query_as(
        "SELECT actor_type, details FROM audit_logs WHERE action = 'config.reloaded'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(actor, "admin");
    assert_eq!(
        details["changes"]["applied"][0]["key"],
        "cors.allowed_origins"
    );
    assert!(!details.to_string().contains("5f1e2d3c4b5a"));

    // Nothing new: no changes.
    let (st, v) = reload(&b).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["changes"], serde_json::json!([]));
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("No changes detected")
    );
}

#[tokio::test]
async fn an_invalid_file_is_refused_and_changes_nothing() {
    let file = ConfigFile::new("[cors]\nallowed_origins = [\"https://old.example\"]\n");
    let b = broker(&file, None).await;
    file.write("[cors]\nallowed_origins = [\"https://new.example\"]\nmax_age_seconds = \"soon\"\n");
    let (st, v) = reload(&b).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("cors.max_age_seconds"),
        "{v}"
    );
    assert_eq!(
        b.state.live.current().cors.allowed_origins,
        ["https://old.example"]
    );
    assert_eq!(allowed_origin(&b, "https://new.example").await, None);
    file.write("[corz]\nx = 1\n");
    let (st, v) = reload(&b).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("corz"), "{v}");
    assert_eq!(
        b.count("audit_logs WHERE action = 'config.reloaded'").await,
        0
    );
}

#[tokio::test]
async fn editing_the_config_file_reloads_without_a_request() {
    let file = ConfigFile::new("[log]\nlevel = \"warn\"\n");
    let b = broker(&file, Some(Duration::from_millis(200))).await;
    file.write("[log]\nlevel = \"warn\"\n[cors]\nallowed_origins = [\"https://edited.example\"]\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state.live.current().cors.allowed_origins != ["https://edited.example"] {
        assert!(
            Instant::now() < deadline,
            "the edit was not applied within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        allowed_origin(&b, "https://edited.example")
            .await
            .as_deref(),
        Some("https://edited.example")
    );
    // Audited as done by the system.
    let deadline = Instant::now() + Duration::from_secs(5);
    while b
        .count("audit_logs WHERE action = 'config.reloaded' AND actor_type = 'system'")
        .await
        != 1
    {
        assert!(Instant::now() < deadline, "the file reload was not audited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
