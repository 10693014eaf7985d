//! Periodic sweeps run once per slot whatever the number of workers; retention; auto-disable.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use support::common::*;
use support::*;

const FAST_SWEEPS: &[(&str, &str)] = &[
    ("BROKKR__WORKER__STALE_CLAIM_REAP_INTERVAL_SECONDS", "1"),
    ("BROKKR__WORKER__RETENTION_CLEANUP_INTERVAL_SECONDS", "1"),
];

async fn sweep_jobs(b: &TestBroker, queue: &str) -> Vec<(String, i64)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as(
        "SELECT idempotency_key, count(*) FROM apalis.jobs WHERE job_type = $1
          GROUP BY idempotency_key ORDER BY idempotency_key",
    )
    .bind(queue)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_workers_run_each_sweep_once_per_slot_and_release_lapsed_leases() {
    let b = keyed_broker().await;
    let mut one = start_worker_with(&b.db.url, FAST_SWEEPS).await;
    let mut two = start_worker_with(&b.db.url, FAST_SWEEPS).await;
    // An agent-held delivery whose lease lapsed.
    let (agent, _) = b.agent("edge").await;
    let (s, sub) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "in", "url": "http://127.0.0.1:9/x", "event_types": ["stack.created"], "target_labels": ["edge:x"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    b.stack(&b.admin, "web").await;
    let mut conn = b.db.connect().await;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'acquired', acquired_by = $1::uuid,
                acquired_until = now() - interval '1 second'",
    )
    .bind(&agent)
    .execute(&mut conn)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status: String = sqlx::query_scalar("SELECT status FROM webhook_deliveries")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if status == "pending" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "lapsed lease not released (status {status})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for queue in ["stale_claim_reap", "retention_cleanup"] {
        let jobs = sweep_jobs(&b, queue).await;
        assert!(
            jobs.len() >= 2,
            "{queue}: expected a job per elapsed slot, got {jobs:?}"
        );
        assert!(
            jobs.iter().all(|(_, n)| *n == 1),
            "{queue}: one job per slot: {jobs:?}"
        );
    }
    one.child.kill().await.unwrap();
    two.child.kill().await.unwrap();
}

#[tokio::test]
async fn retention_cleanup_deletes_only_what_is_too_old() {
    let b = keyed_broker().await;
    let (s, sub) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "s", "url": "http://127.0.0.1:9/x", "event_types": ["stack.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    b.stack(&b.admin, "recent").await;
    let mut conn = b.db.connect().await;
    sqlx::query("INSERT INTO audit_logs (timestamp, actor_type, action, resource_type) VALUES (now() - interval '100 days', 'system', 'old.thing', 'test')")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO webhook_deliveries (subscription_id, event_type, event_id, payload, status, completed_at)
         VALUES ($1::uuid, 'stack.created', gen_random_uuid(), '{}', 'success', now() - interval '10 days')",
    )
    .bind(id_of(&sub))
    .execute(&mut conn)
    .await
    .unwrap();
    // A consumer registration left behind by a restart two days ago (nothing refers to it).
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name, last_seen)
         VALUES ('gone-webhook_delivery-0', 'webhook_delivery', 'PgStorage', now() - interval '2 days')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let audit_before = b.count("audit_logs").await;
    let mut worker = start_worker_with(&b.db.url, FAST_SWEEPS).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let old_audit: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE action = 'old.thing'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let old_deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE completed_at < now() - interval '9 days'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let old_workers: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.workers WHERE id = 'gone-webhook_delivery-0'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if old_audit == 0 && old_deliveries == 0 && old_workers == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "old rows not cleaned up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        b.count("audit_logs").await,
        audit_before - 1,
        "recent audit entries stay"
    );
    assert_eq!(
        b.count("webhook_deliveries").await,
        1,
        "the recent delivery stays"
    );
    let live_workers: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.workers")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        live_workers >= 6,
        "the running worker's consumers stay: {live_workers}"
    );
    worker.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_subscription_failing_for_too_long_is_disabled_and_announced() {
    let b = keyed_broker().await;
    let (_down, down_url) = start_receiver(u32::MAX).await;
    let (watcher, watcher_url) = start_receiver(0).await;
    let (_, failing) = b
        .post("/api/v1/webhooks", &b.admin, json!({"name": "failing", "url": down_url, "event_types": ["stack.created"], "max_retries": 0}))
        .await;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "watcher", "url": watcher_url, "event_types": ["webhook.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut conn = b.db.connect().await;
    sqlx::query("UPDATE webhook_subscriptions SET failing_since = now() - interval '6 days' WHERE name = 'failing'")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut worker = start_worker(&b.db.url).await;
    b.stack(&b.admin, "web").await;
    wait_for("the webhook.disabled event", 20, || {
        !watcher.seen.lock().unwrap().is_empty()
    })
    .await;
    let got = watcher.seen.lock().unwrap()[0].clone();
    assert_eq!(got.header("x-brokkr-event"), Some("webhook.disabled"));
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["data"]["subscription_id"], failing["id"]);
    let (_, sub) = b
        .get(&format!("/api/v1/webhooks/{}", id_of(&failing)), &b.admin)
        .await;
    assert_eq!(sub["enabled"], json!(false));
    let metrics = reqwest::get(format!("{}/metrics", worker.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "brokkr_webhook_subscriptions_disabled_total 1"),
        "one subscription disabled must be counted:\n{metrics}"
    );
    worker.child.kill().await.unwrap();
}
