//! A worker killed with SIGKILL in the middle of a burst loses nothing; two workers share the
//! load; SIGTERM lets in-flight deliveries finish.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;
use support::common::*;
use support::*;

const FAST_RECOVERY: &[(&str, &str)] = &[
    ("BROKKR__WORKER__HEARTBEAT_INTERVAL_SECONDS", "1"),
    ("BROKKR__WORKER__STALE_CLAIM_REAP_INTERVAL_SECONDS", "1"),
];

/// Records `n` stack.created events through the change seam, 100 per transaction.
async fn burst(b: &TestBroker, n: usize) {
    let mut conn = b.db.connect().await;
    let channels = Channels::for_schema(None);
    for chunk in 0..n.div_ceil(100) {
        let mut tx = conn.begin().await.unwrap();
        for i in 0..100.min(n - chunk * 100) {
            let name = format!("burst-{chunk}-{i}");
            changes::record(
                &mut tx,
                &channels,
                &Actor::system(),
                Change::StackCreated {
                    id: uuid::Uuid::new_v4(),
                    name: &name,
                    generator_id: uuid::Uuid::nil(),
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
}

async fn delivered(b: &TestBroker) -> i64 {
    let mut conn = b.db.connect().await;
    sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE status = 'success'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_burst_loses_nothing_and_two_workers_share_the_load() {
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    // A receiver taking 20 ms per request keeps the burst going long enough to kill mid-way.
    *rx.delay_ms.lock().unwrap() = 20;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "all", "url": url, "event_types": ["stack.*"], "timeout_seconds": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    burst(&b, 1000).await;
    let mut first = start_worker_with(&b.db.url, FAST_RECOVERY).await;
    wait_for("the first 100 deliveries", 60, || {
        rx.seen.lock().unwrap().len() >= 100
    })
    .await;
    first.child.start_kill().unwrap(); // SIGKILL
    first.child.wait().await.unwrap();
    let killed_at = rx.seen.lock().unwrap().len();
    assert!(
        killed_at < 1000,
        "the burst finished before the kill ({killed_at}); nothing was tested"
    );

    let mut second = start_worker_with(&b.db.url, FAST_RECOVERY).await;
    let mut third = start_worker_with(&b.db.url, FAST_RECOVERY).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let done = delivered(&b).await;
        if done == 1000 {
            break;
        }
        if Instant::now() > deadline {
            let mut conn = b.db.connect().await;
            let jobs: Vec<(String, Option<String>, i32, Option<String>)> = sqlx::query_as(
                "SELECT j.status, j.lock_by, j.attempts, j.last_result::text FROM apalis.jobs j
                  WHERE j.job_type = 'webhook_delivery' AND j.status <> 'Done' LIMIT 5",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let deliveries: Vec<(String, i32, Option<String>)> = sqlx::query_as(
                "SELECT status, attempts, last_error FROM webhook_deliveries WHERE status <> 'success' LIMIT 5",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let workers: Vec<(String, String)> =
                sqlx::query_as("SELECT id, (now() - last_seen)::text FROM apalis.workers")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            panic!(
                "only {done} of 1000 deliveries succeeded; jobs {jobs:?}; deliveries {deliveries:?}; workers {workers:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = rx.seen.lock().unwrap().clone();
    let ids: HashSet<String> = seen
        .iter()
        .map(|r| r.header("x-brokkr-delivery").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1000, "every delivery reached the receiver");
    eprintln!(
        "killed after {killed_at} requests; receiver saw {} requests for 1000 deliveries ({} duplicates)",
        seen.len(),
        seen.len() - 1000
    );
    // Both surviving workers delivered some of the rest.
    let mut conn = b.db.connect().await;
    let by_worker: Vec<(String, i64)> = sqlx::query_as(
        "SELECT delivered_by, count(*) FROM webhook_delivery_attempts GROUP BY delivered_by",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(by_worker.len() >= 2, "attempts by worker: {by_worker:?}");
    second.child.kill().await.unwrap();
    third.child.kill().await.unwrap();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_deliveries() {
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    // The receiver answers slowly so deliveries are in flight when SIGTERM arrives.
    *rx.delay_ms.lock().unwrap() = 1500;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "slow", "url": url, "event_types": ["stack.*"], "timeout_seconds": 10}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let mut worker = start_worker(&b.db.url).await;
    burst(&b, 5).await;
    wait_for("deliveries in flight", 20, || {
        !rx.seen.lock().unwrap().is_empty()
    })
    .await;
    let pid = worker.child.id().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let exit = tokio::time::timeout(Duration::from_secs(30), worker.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // A clean stop says nothing above INFO (no "there is no transaction in progress" from a
    // transaction cut short, no consumer errors).
    let log = worker.log();
    assert!(
        !log.lines()
            .any(|l| l.contains("WARN") || l.contains("ERROR")),
        "the worker warned while stopping:\n{log}"
    );
    let in_flight = rx.seen.lock().unwrap().len() as i64;
    assert_eq!(
        delivered(&b).await,
        in_flight,
        "every request sent before SIGTERM was completed and recorded"
    );
}
