//! A reload changes what a running worker does, without a restart: the retention sweep's
//! interval and retention period follow the config file, whether the worker notices the edit
//! itself, gets SIGHUP, or is told by the broker's `POST /admin/config/reload`.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::common::TestBroker;
use support::*;

struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("brokkr-worker-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const HOURLY: &str = "[worker]\nretention_cleanup_interval_seconds = 3600\n";
const EVERY_SECOND: &str =
    "[worker]\nretention_cleanup_interval_seconds = 1\n[broker]\naudit_log_retention_days = 1\n";

/// Waits for the start-up cleanup, then plants audit entries ten days old: the hourly sweep with
/// 90 days' retention would keep them for an hour at least.
async fn plant_old_entries(b: &TestBroker) {
    let db = b.db.url.clone();
    let done = move || {
        let db = db.clone();
        async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db)
                .await
                .unwrap();
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM apalis.jobs WHERE job_type = 'retention_cleanup' AND status = 'Done'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap_or(0)
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while done().await < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "start-up retention cleanup did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut conn = b.db.connect().await;
    sqlx::query(
        "INSERT INTO audit_logs (timestamp, actor_type, action, resource_type)
         SELECT now() - interval '10 days', 'system', 'test.old', 'test' FROM generate_series(1, 5)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}

async fn old_entries(b: &TestBroker) -> i64 {
    b.count("audit_logs WHERE action = 'test.old'").await
}

async fn wait_until_cleaned(b: &TestBroker, how: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while old_entries(b).await != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{how}: old audit entries still there after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_edited_config_file_changes_the_running_retention_sweep() {
    let b = keyed_broker().await;
    let file = ConfigFile::new(HOURLY);
    let path = file.0.display().to_string();
    let _w = start_worker_with(
        &b.db.url,
        &[
            ("BROKKR_CONFIG_FILE", path.as_str()),
            ("BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS", "0.2"),
        ],
    )
    .await;
    plant_old_entries(&b).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(old_entries(&b).await, 5, "kept while the sweep runs hourly");
    std::fs::write(&file.0, EVERY_SECOND).unwrap();
    wait_until_cleaned(&b, "file edit").await;
}

#[tokio::test]
async fn sighup_reloads_the_worker() {
    let b = keyed_broker().await;
    let file = ConfigFile::new(HOURLY);
    let path = file.0.display().to_string();
    let w = start_worker_with(
        &b.db.url,
        &[
            ("BROKKR_CONFIG_FILE", path.as_str()),
            ("BROKKR_CONFIG_WATCHER_ENABLED", "false"),
        ],
    )
    .await;
    plant_old_entries(&b).await;
    std::fs::write(&file.0, EVERY_SECOND).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        old_entries(&b).await,
        5,
        "with the watch off, an edit alone changes nothing"
    );
    let pid = w.child.id().expect("worker pid");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_until_cleaned(&b, "SIGHUP").await;
}

#[tokio::test]
async fn a_reload_through_the_broker_reaches_the_worker() {
    let b = keyed_broker().await;
    let file = ConfigFile::new(HOURLY);
    let path = file.0.display().to_string();
    let _w = start_worker_with(
        &b.db.url,
        &[
            ("BROKKR_CONFIG_FILE", path.as_str()),
            ("BROKKR_CONFIG_WATCHER_ENABLED", "0"),
        ],
    )
    .await;
    plant_old_entries(&b).await;
    std::fs::write(&file.0, EVERY_SECOND).unwrap();
    let (st, v) = b
        .post(
            "/api/v1/admin/config/reload",
            &b.admin,
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(st, reqwest::StatusCode::OK, "{v}");
    wait_until_cleaned(&b, "API reload").await;
}
