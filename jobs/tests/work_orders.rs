//! Work orders on the worker side: `work_order_retry` jobs return failed orders to PENDING when
//! their backoff is over, and `stale_claim_reap` returns lapsed claims (or fails orders whose
//! retries are used up).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_jobs::metrics::WorkerMetrics;
use brokkr_jobs::sweeps::{self, SweepContext};
use brokkr_jobs::work_order_retry;
use brokkr_schema::jobs::WorkOrderRetryJob;
use brokkr_schema::store::notify::Channels;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::common::*;
use support::*;

async fn create_order(b: &TestBroker, agent: &str, extra: Value) -> String {
    let mut body = json!({"work_type": "custom", "yaml_content": "kind: Job\n",
                          "targeting": {"agent_ids": [agent]}});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (s, v) = b.post("/api/v1/work-orders", &b.admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v)
}

async fn claim(b: &TestBroker, order: &str, agent: &str, pak: &str) {
    let (s, v) = b
        .post(
            &format!("/api/v1/work-orders/{order}/claim"),
            pak,
            json!({"agent_id": agent}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "claim: {v}");
}

async fn fail(b: &TestBroker, order: &str, pak: &str) -> Value {
    let (s, v) = b
        .post(
            &format!("/api/v1/work-orders/{order}/complete"),
            pak,
            json!({"success": false, "message": "flaky"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "fail: {v}");
    v
}

async fn order(b: &TestBroker, id: &str) -> Value {
    let (s, v) = b.get(&format!("/api/v1/work-orders/{id}"), &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

async fn audit_actions(b: &TestBroker, id: &str) -> Vec<(String, String)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as(
        "SELECT action, actor_type FROM audit_logs
          WHERE resource_type = 'work_order' AND resource_id = $1::uuid ORDER BY timestamp, id",
    )
    .bind(id)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Polls `GET /work-orders/{id}` until its status is `status`.
async fn wait_for_status(b: &TestBroker, id: &str, status: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = order(b, id).await;
        if v["status"] == status {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "work order not {status} within {secs} s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_worker_returns_a_failed_order_to_pending_when_its_backoff_is_over() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("runner").await;
    let _worker = start_worker(&b.db.url).await;
    let id = create_order(&b, &agent, json!({"backoff_seconds": 1, "max_retries": 3})).await;

    // First failure: 1 × 2^1 = 2 s.
    claim(&b, &id, &agent, &pak).await;
    let answer = fail(&b, &id, &pak).await;
    let failed = order(&b, &id).await;
    assert_eq!(failed["status"], "RETRY_PENDING");
    let due = time(&failed["next_retry_after"]);
    assert_eq!(
        (due - time(&failed["last_error_at"])).num_milliseconds(),
        2_000
    );
    assert_eq!(answer["next_retry_after"], failed["next_retry_after"]);
    let back = wait_for_status(&b, &id, "PENDING", 15).await;
    assert!(
        Utc::now() >= due,
        "released before its backoff was over ({due})"
    );
    assert_eq!(back["retry_count"], 1);
    assert!(back["next_retry_after"].is_null());
    assert_eq!(back["last_error"], "flaky", "the last error stays visible");

    // Second failure: 1 × 2^2 = 4 s, released by its own job again.
    claim(&b, &id, &agent, &pak).await;
    fail(&b, &id, &pak).await;
    let failed = order(&b, &id).await;
    let due = time(&failed["next_retry_after"]);
    assert_eq!(failed["retry_count"], 2);
    assert_eq!(
        (due - time(&failed["last_error_at"])).num_milliseconds(),
        4_000
    );
    wait_for_status(&b, &id, "PENDING", 20).await;
    assert!(Utc::now() >= due);

    let actions: Vec<(String, String)> = audit_actions(&b, &id).await;
    let released: Vec<&(String, String)> = actions
        .iter()
        .filter(|(a, _)| a == "workorder.released")
        .collect();
    assert_eq!(released.len(), 2, "{actions:?}");
    assert!(released.iter().all(|(_, actor)| actor == "system"));
    // The claimable order can be claimed and completed.
    claim(&b, &id, &agent, &pak).await;
    let (s, log) = b
        .post(
            &format!("/api/v1/work-orders/{id}/complete"),
            &pak,
            json!({"success": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert_eq!(log["retries_attempted"], 2);
}

#[tokio::test]
async fn a_retry_job_of_an_older_failure_or_a_cancelled_order_changes_nothing() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("runner").await;
    let pool = sqlx::PgPool::connect(&b.db.url).await.unwrap();
    let channels = Channels::for_schema(None);
    let id = create_order(&b, &agent, json!({"backoff_seconds": 3600})).await;
    claim(&b, &id, &agent, &pak).await;
    fail(&b, &id, &pak).await;
    let work_order_id: uuid::Uuid = id.parse().unwrap();

    // A job for another retry than the one pending: nothing happens.
    let stale = WorkOrderRetryJob {
        work_order_id,
        retry_count: 7,
    };
    assert!(
        work_order_retry::release(&pool, &channels, stale)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(order(&b, &id).await["status"], "RETRY_PENDING");
    // The job the broker queued releases it (here run directly, ahead of its hour).
    let job = WorkOrderRetryJob {
        work_order_id,
        retry_count: 1,
    };
    let released = work_orders_release(&pool, &channels, job).await;
    assert_eq!(released.as_deref(), Some("PENDING"));
    // Running it again (a job delivered twice) is harmless.
    assert_eq!(work_orders_release(&pool, &channels, job).await, None);
    // A cancelled order's job finds nothing.
    let (s, _) = b
        .delete(&format!("/api/v1/work-orders/{id}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(work_orders_release(&pool, &channels, job).await, None);
    assert_eq!(
        audit_actions(&b, &id)
            .await
            .iter()
            .filter(|(a, _)| a == "workorder.released")
            .count(),
        1
    );
}

async fn work_orders_release(
    pool: &sqlx::PgPool,
    channels: &Channels,
    job: WorkOrderRetryJob,
) -> Option<String> {
    work_order_retry::release(pool, channels, job)
        .await
        .unwrap()
        .map(|o| o.status.as_str().to_owned())
}

fn sweep_context(pool: sqlx::PgPool) -> SweepContext {
    SweepContext {
        pool,
        channels: Channels::for_schema(None),
        metrics: Arc::new(WorkerMetrics::new().unwrap()),
        live: brokkr_schema::live::LiveSettings::new(
            brokkr_schema::config::Settings::default(),
            brokkr_schema::live::ConfigSource::default(),
        ),
    }
}

/// Backdates the claim of `id` so that it has outlived its timeout.
async fn lapse_claim(b: &TestBroker, id: &str) {
    let mut conn = b.db.connect().await;
    sqlx::query(
        "UPDATE work_orders
            SET claimed_at = now() - make_interval(secs => claim_timeout_seconds + 1)
          WHERE id = $1::uuid",
    )
    .bind(id)
    .execute(&mut conn)
    .await
    .unwrap();
}

#[tokio::test]
async fn lapsed_claims_return_to_pending_until_the_retries_are_used_up() {
    let b = keyed_broker().await;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "wo", "url": "http://127.0.0.1:9/hook", "event_types": ["workorder.failed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (agent, pak) = b.agent("runner").await;
    let pool = sqlx::PgPool::connect(&b.db.url).await.unwrap();
    let ctx = sweep_context(pool);
    let id = create_order(
        &b,
        &agent,
        json!({"max_retries": 1, "claim_timeout_seconds": 600}),
    )
    .await;
    let fresh = create_order(&b, &agent, json!({})).await;
    claim(&b, &id, &agent, &pak).await;
    claim(&b, &fresh, &agent, &pak).await;

    // A claim within its timeout stays.
    assert_eq!(sweeps::reap_work_orders(&ctx).await.unwrap(), 0);
    lapse_claim(&b, &id).await;
    assert_eq!(sweeps::reap_work_orders(&ctx).await.unwrap(), 1);
    let back = order(&b, &id).await;
    assert_eq!(back["status"], "PENDING");
    assert!(back["claimed_by"].is_null() && back["claimed_at"].is_null());
    assert_eq!(back["retry_count"], 1, "a lapsed claim is a failed attempt");
    assert_eq!(
        back["last_error"],
        "claim timed out: not completed within 600 s"
    );
    assert_eq!(order(&b, &fresh).await["status"], "CLAIMED");
    // The late agent can no longer complete it.
    let (s, _) = b
        .post(
            &format!("/api/v1/work-orders/{id}/complete"),
            &pak,
            json!({"success": true}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Claimed again and lapsed again: no retries left, so it fails for good.
    claim(&b, &id, &agent, &pak).await;
    lapse_claim(&b, &id).await;
    assert_eq!(sweeps::reap_work_orders(&ctx).await.unwrap(), 1);
    let (s, log) = b
        .get(&format!("/api/v1/work-order-log/{id}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert_eq!(log["success"], false);
    assert_eq!(log["retries_attempted"], 1);
    assert_eq!(log["claimed_by"], json!(agent));
    assert_eq!(
        log["result_message"],
        "claim timed out: not completed within 600 s"
    );
    assert_eq!(order(&b, &id).await["status"], "FAILED");

    let actions: Vec<String> = audit_actions(&b, &id)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        actions,
        [
            "workorder.created",
            "workorder.claimed",
            "workorder.claim_expired",
            "workorder.claimed",
            "workorder.failed",
        ]
    );
    let mut conn = b.db.connect().await;
    let failed: Vec<Value> = sqlx::query_scalar(
        "SELECT payload FROM webhook_deliveries WHERE event_type = 'workorder.failed'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["work_order_log_id"], json!(id));
    assert_eq!(failed[0]["data"]["success"], false);
}

#[tokio::test]
async fn the_periodic_sweep_reaps_lapsed_claims_in_a_running_worker() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("runner").await;
    let _worker = start_worker_with(
        &b.db.url,
        &[("BROKKR__WORKER__STALE_CLAIM_REAP_INTERVAL_SECONDS", "1")],
    )
    .await;
    let id = create_order(&b, &agent, json!({"claim_timeout_seconds": 1})).await;
    claim(&b, &id, &agent, &pak).await;
    let back = wait_for_status(&b, &id, "PENDING", 15).await;
    assert_eq!(back["retry_count"], 1);
    assert!(back["claimed_by"].is_null());
}

#[tokio::test]
async fn the_sweep_releases_a_retry_whose_job_was_lost() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("runner").await;
    let pool = sqlx::PgPool::connect(&b.db.url).await.unwrap();
    let ctx = sweep_context(pool);
    let id = create_order(&b, &agent, json!({})).await;
    claim(&b, &id, &agent, &pak).await;
    fail(&b, &id, &pak).await;
    let mut conn = b.db.connect().await;
    sqlx::query("DELETE FROM apalis.jobs WHERE job_type = 'work_order_retry'")
        .execute(&mut conn)
        .await
        .unwrap();
    // Not yet overdue: left to its (lost) job.
    assert_eq!(sweeps::reap_work_orders(&ctx).await.unwrap(), 0);
    sqlx::query(
        "UPDATE work_orders SET next_retry_after = now() - make_interval(secs => $1 + 1)
          WHERE id = $2::uuid",
    )
    .bind(sweeps::OVERDUE_RETRY_GRACE_SECONDS as f64)
    .bind(&id)
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(sweeps::reap_work_orders(&ctx).await.unwrap(), 1);
    assert_eq!(order(&b, &id).await["status"], "PENDING");
}
