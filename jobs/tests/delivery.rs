//! End to end: the broker (in process) records a change, the real `brokkr-worker` process
//! delivers it to a local receiver, signed, retried and recorded.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use brokkr_runtime::webhooks::signing;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::common::*;
use support::*;
use tokio::process::Command;

async fn delivery_rows(b: &TestBroker) -> Vec<(String, i32, Option<String>)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as(
        "SELECT status, attempts, last_error FROM webhook_deliveries ORDER BY created_at",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_change_is_delivered_signed_to_its_subscription() {
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    let mut worker = start_worker(&b.db.url).await;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "stacks", "url": url, "event_types": ["stack.*"], "secret": SECRET, "auth_header": "Bearer receiver-token"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let stack = b.stack(&b.admin, "web").await;
    wait_for("the delivery", 20, || !rx.seen.lock().unwrap().is_empty()).await;
    let got = rx.seen.lock().unwrap()[0].clone();
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event_type"], json!("stack.created"));
    assert_eq!(body["data"]["stack_id"], json!(stack));
    assert!(body["id"].is_string() && body["timestamp"].is_string());
    assert_eq!(got.header("x-brokkr-event"), Some("stack.created"));
    assert_eq!(got.header("x-brokkr-event-type"), Some("stack.created"));
    assert_eq!(got.header("authorization"), Some("Bearer receiver-token"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert!(
        got.header("user-agent")
            .unwrap()
            .starts_with("Brokkr-Hookshot/")
    );
    let delivery_id = got.header("x-brokkr-delivery").unwrap().to_owned();
    assert_eq!(
        got.header("x-brokkr-delivery-id"),
        Some(delivery_id.as_str())
    );
    assert_eq!(
        got.header("x-brokkr-signature-256").unwrap(),
        signing::github_signature(SECRET, &got.body)
    );
    let ts: i64 = got.header("webhook-timestamp").unwrap().parse().unwrap();
    assert_eq!(
        got.header("webhook-signature").unwrap(),
        signing::standard_signature(SECRET, &delivery_id, ts, &got.body)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = delivery_rows(&b).await;
        if rows.first().is_some_and(|r| r.0 == "success") {
            assert_eq!(rows[0].1, 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "delivery not marked success: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = reqwest::get(format!("{}/metrics", worker.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("brokkr_webhook_deliveries_total{outcome=\"success\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("brokkr_queue_depth{queue=\"webhook_delivery\"}"));
    worker.child.kill().await.unwrap();
}

#[tokio::test]
async fn failed_attempts_are_retried_recorded_and_end_dead() {
    let b = keyed_broker().await;
    let (flaky, flaky_url) = start_receiver(2).await;
    let (down, down_url) = start_receiver(u32::MAX).await;
    let mut worker = start_worker(&b.db.url).await;
    for (name, url, retries) in [("flaky", &flaky_url, 5), ("down", &down_url, 1)] {
        let (s, v) = b
            .post(
                "/api/v1/webhooks",
                &b.admin,
                json!({"name": name, "url": url, "event_types": ["stack.created"], "max_retries": retries}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    b.stack(&b.admin, "web").await;
    wait_for("the third attempt at the flaky receiver", 30, || {
        flaky.seen.lock().unwrap().len() >= 3
    })
    .await;
    wait_for("two attempts at the dead receiver", 30, || {
        down.seen.lock().unwrap().len() >= 2
    })
    .await;
    let mut conn = b.db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows: Vec<(String, String, i32, Vec<Option<i32>>)> = loop {
        let rows = sqlx::query_as(
            "SELECT s.name, d.status, d.attempts,
                    ARRAY(SELECT a.status_code FROM webhook_delivery_attempts a
                           WHERE a.delivery_id = d.id ORDER BY a.attempt_number)
               FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id
              ORDER BY s.name",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let done = rows
            .iter()
            .all(|r: &(String, String, i32, Vec<Option<i32>>)| r.1 == "success" || r.1 == "dead");
        if done || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows[0].0, "down");
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("dead", 2), "{rows:?}");
    assert_eq!(rows[0].3, vec![Some(500), Some(500)]);
    assert_eq!(rows[1].0, "flaky");
    assert_eq!((rows[1].1.as_str(), rows[1].2), ("success", 3), "{rows:?}");
    assert_eq!(rows[1].3, vec![Some(500), Some(500), Some(200)]);
    // Every attempt carried the same delivery id.
    let ids: Vec<String> = flaky
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.header("x-brokkr-delivery").unwrap().to_owned())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(
        down.seen.lock().unwrap().len(),
        2,
        "no attempt after the delivery is dead"
    );
    worker.child.kill().await.unwrap();
}

#[tokio::test]
async fn destinations_resolving_to_refused_addresses_are_not_contacted() {
    // The worker does not allow loopback here, so a host name resolving to 127.0.0.1 is refused
    // at connection time even though the subscription was stored under a broker that allowed it.
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brokkr-worker"))
        .env("BROKKR__DATABASE__URL", &b.db.url)
        .env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", KEY)
        .env("BROKKR__WORKER__LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("BROKKR__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let by_name = url.replace("127.0.0.1", "localhost");
    let (s, v) = b
        .post("/api/v1/webhooks", &b.admin, json!({"name": "n", "url": by_name, "event_types": ["stack.created"], "max_retries": 0}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    b.stack(&b.admin, "web").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = delivery_rows(&b).await;
        if rows.first().is_some_and(|r| r.0 == "dead") || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows[0].0, "dead", "{rows:?}");
    assert!(
        rows[0].2.as_deref().unwrap_or("").contains("loopback"),
        "{rows:?}"
    );
    assert!(
        rx.seen.lock().unwrap().is_empty(),
        "the receiver must not be contacted"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn ping_and_redeliver_go_through_the_queue() {
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    let mut worker = start_worker(&b.db.url).await;
    let (s, sub) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "p", "url": url, "event_types": ["stack.created"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let (s, ping) = b
        .post(
            &format!("/api/v1/webhooks/{}/ping", id_of(&sub)),
            &b.admin,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{ping}");
    assert_eq!(ping["event_type"], json!("ping"));
    wait_for("the ping", 20, || !rx.seen.lock().unwrap().is_empty()).await;
    let first = rx.seen.lock().unwrap()[0].clone();
    assert_eq!(first.header("x-brokkr-event"), Some("ping"));
    let delivery = id_of(&ping);
    assert_eq!(first.header("x-brokkr-delivery"), Some(delivery.as_str()));

    // Wait until the first attempt is recorded, then redeliver: same delivery id, attempt 2.
    let detail_path = format!("/api/v1/webhook-deliveries/{delivery}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, d) = b.get(&detail_path, &b.admin).await;
        if d["status"] == json!("success") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ping not recorded as delivered: {d}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, v) = b
        .post(&format!("{detail_path}/redeliver"), &b.admin, json!(null))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    wait_for("the redelivery", 20, || rx.seen.lock().unwrap().len() >= 2).await;
    let second = rx.seen.lock().unwrap()[1].clone();
    assert_eq!(second.header("x-brokkr-delivery"), Some(delivery.as_str()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, d) = b.get(&detail_path, &b.admin).await;
        if d["attempts_log"].as_array().is_some_and(|a| a.len() == 2)
            && d["status"] == json!("success")
        {
            assert_eq!(d["attempts"], json!(2));
            assert_eq!(d["attempts_log"][1]["status_code"], json!(200));
            assert!(
                d["attempts_log"][1]["response_body"]
                    .as_str()
                    .unwrap()
                    .contains("thanks")
            );
            break;
        }
        assert!(Instant::now() < deadline, "redelivery not recorded: {d}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.child.kill().await.unwrap();
}

#[tokio::test]
async fn test_deliveries_and_validate_on_create() {
    let b = keyed_broker().await;
    let (ok, ok_url) = start_receiver(0).await;
    let (_down, down_url) = start_receiver(u32::MAX).await;
    // validate: the endpoint must accept a test delivery before anything is stored.
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "bad", "url": down_url, "event_types": ["*"], "validate": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        (v["success"].clone(), v["status_code"].clone()),
        (json!(false), json!(500))
    );
    assert_eq!(v["body"], json!("try later"));
    assert_eq!(b.count("webhook_subscriptions").await, 0, "nothing stored");
    let (s, created) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "good", "url": ok_url, "event_types": ["*"], "validate": true, "secret": SECRET}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let first = ok.seen.lock().unwrap()[0].clone();
    assert_eq!(first.header("x-brokkr-event"), Some("webhook.test"));
    assert_eq!(
        first.header("x-brokkr-signature-256").unwrap(),
        signing::github_signature(SECRET, &first.body)
    );
    // POST /webhooks/{id}/test sends straight away and reports the answer.
    let (s, v) = b
        .post(
            &format!("/api/v1/webhooks/{}/test", id_of(&created)),
            &b.admin,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["success"].clone(), v["status_code"].clone()),
        (json!(true), json!(200))
    );
    assert_eq!(ok.seen.lock().unwrap().len(), 2);
    assert_eq!(
        b.count("webhook_deliveries").await,
        0,
        "test deliveries are not recorded"
    );
    // A refused destination is reported, not contacted.
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "x", "url": "http://10.9.9.9/", "event_types": ["*"], "validate": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

/// A notification that arrives while the consumer's fetch is already running must still get
/// its job fetched. Periodic polling is pushed out of reach here, so only the wake-ups (and
/// their re-checks) can move the jobs. Changes come in waves of concurrent requests, whose
/// commits and notifications bunch up as under real load; each wave must be delivered before
/// the next starts (so a later wave cannot rescue an earlier one). Before the re-check existed,
/// a job announced during a fetch that came back empty waited for the next periodic poll.
#[tokio::test]
async fn jobs_announced_during_a_fetch_are_not_left_waiting_for_the_periodic_poll() {
    const WAVES: usize = 100;
    const PER_WAVE: usize = 8;
    let b = keyed_broker().await;
    let (rx, url) = start_receiver(0).await;
    let mut worker =
        start_worker_with(&b.db.url, &[("BROKKR__WORKER__POLL_INTERVAL_MS", "600000")]).await;
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "stacks", "url": url, "event_types": ["stack.created"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let b = std::sync::Arc::new(b);
    for wave in 0..WAVES {
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..PER_WAVE {
            let b = b.clone();
            requests.spawn(async move { b.stack(&b.admin, &format!("wave-{wave}-{i}")).await });
        }
        while let Some(done) = requests.join_next().await {
            done.unwrap();
        }
        let expected = (wave + 1) * PER_WAVE;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = rx.seen.lock().unwrap().len();
            if seen >= expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "wave {wave}: {seen} of {expected} deliveries arrived within 5 s; the rest wait for a poll 10 minutes away"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    worker.child.kill().await.unwrap();
}
