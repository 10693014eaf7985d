//! Deliveries sent by agents from inside their clusters: claims with leases, results, races.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "8f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";

async fn setup() -> (
    TestBroker,
    (String, String),
    (String, String),
    (String, String),
) {
    let b = TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["10.0.0.0/8".into()];
    })
    .await;
    let prod_a = b.agent("prod-a").await;
    let prod_b = b.agent("prod-b").await;
    let dev = b.agent("dev").await;
    for agent in [&prod_a.0, &prod_b.0] {
        for label in ["env:prod", "zone:a"] {
            b.post(
                &format!("/api/v1/agents/{agent}/labels"),
                &b.admin,
                json!(label),
            )
            .await;
        }
    }
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "in-cluster", "url": "http://10.1.2.3/hook", "event_types": ["stack.created"],
                   "target_labels": ["env:prod", "zone:a"], "secret": "a-shared-secret-of-some-length",
                   "auth_header": "Bearer inside", "max_retries": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    b.stack(&b.admin, "web").await;
    (b, prod_a, prod_b, dev)
}

async fn pending(b: &TestBroker, agent: &(String, String)) -> (StatusCode, Value) {
    b.get(
        &format!("/api/v1/agents/{}/webhooks/pending", agent.0),
        &agent.1,
    )
    .await
}

#[tokio::test]
async fn an_agent_with_all_target_labels_claims_sends_and_reports() {
    let (b, prod_a, prod_b, dev) = setup().await;
    let (s, none) = pending(&b, &dev).await;
    assert_eq!(
        (s, none),
        (StatusCode::OK, json!([])),
        "an agent without the labels gets nothing"
    );

    let (s, claimed) = pending(&b, &prod_a).await;
    assert_eq!(s, StatusCode::OK);
    let claimed = claimed.as_array().unwrap().clone();
    assert_eq!(claimed.len(), 1);
    let d = &claimed[0];
    assert_eq!(d["url"], json!("http://10.1.2.3/hook"));
    assert_eq!(d["auth_header"], json!("Bearer inside"));
    assert_eq!(d["event_type"], json!("stack.created"));
    let body = d["body"].as_str().unwrap();
    let expected = brokkr_runtime::webhooks::signing::github_signature(
        "a-shared-secret-of-some-length",
        body.as_bytes(),
    );
    assert_eq!(d["headers"]["X-Brokkr-Signature-256"], json!(expected));
    assert_eq!(d["headers"]["X-Brokkr-Delivery"], d["id"]);
    let id = d["id"].as_str().unwrap().to_owned();

    // Held: nobody else gets it, and only the holder may report.
    assert_eq!(pending(&b, &prod_b).await.1, json!([]));
    let result = format!("/api/v1/webhook-deliveries/{id}/result");
    let (s, _) = b.post(&result, &prod_b.1, json!({"success": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = b.post(&result, &b.admin, json!({"success": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = b
        .post(&result, &prod_a.1, json!({"success": false, "status_code": 502, "error": "bad gateway", "duration_ms": 12}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["status"].clone(), v["attempts"].clone()),
        (json!("failed"), json!(1))
    );
    assert!(v["next_retry_at"].is_string());
    let (s, _) = b.post(&result, &prod_a.1, json!({"success": true})).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a reported delivery is no longer held"
    );

    // Due again: the retry can be claimed; a second failure exhausts max_retries = 1.
    let mut conn = b.db.connect().await;
    sqlx::query("UPDATE webhook_deliveries SET next_retry_at = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, again) = pending(&b, &prod_b).await;
    assert_eq!(again[0]["id"], json!(id));
    let (_, v) = b
        .post(
            &result,
            &prod_b.1,
            json!({"success": false, "error": "refused"}),
        )
        .await;
    assert_eq!(
        (v["status"].clone(), v["attempts"].clone()),
        (json!("dead"), json!(2))
    );

    let (s, detail) = b
        .get(&format!("/api/v1/webhook-deliveries/{id}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["status"], json!("dead"));
    let attempts = detail["attempts_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status_code"], json!(502));
    assert_eq!(
        attempts[0]["delivered_by"],
        json!(format!("agent:{}", prod_a.0))
    );
    assert_eq!(attempts[1]["error"], json!("refused"));

    // Redelivery puts it back for one more attempt.
    let (s, v) = b
        .post(
            &format!("/api/v1/webhook-deliveries/{id}/redeliver"),
            &b.admin,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], json!("pending"));
    let (_, again) = pending(&b, &prod_a).await;
    assert_eq!(again[0]["id"], json!(id));
    let (_, v) = b
        .post(
            &result,
            &prod_a.1,
            json!({"success": true, "status_code": 204}),
        )
        .await;
    assert_eq!(v["status"], json!("success"));
}

#[tokio::test]
async fn two_agents_racing_for_one_delivery_exactly_one_wins() {
    let (b, prod_a, prod_b, _) = setup().await;
    let (ra, rb) = tokio::join!(pending(&b, &prod_a), pending(&b, &prod_b));
    let got: usize = [ra.1, rb.1]
        .iter()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(got, 1, "exactly one agent claims the delivery");
}

#[tokio::test]
async fn a_lapsed_lease_returns_the_delivery_to_other_agents() {
    let (b, prod_a, prod_b, _) = setup().await;
    let (_, claimed) = pending(&b, &prod_a).await;
    let id = claimed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending(&b, &prod_b).await.1, json!([]));
    let mut conn = b.db.connect().await;
    sqlx::query("UPDATE webhook_deliveries SET acquired_until = now() - interval '1 second'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, taken) = pending(&b, &prod_b).await;
    assert_eq!(taken[0]["id"], json!(id));
    // The first agent lost the lease: its report is refused.
    let (s, _) = b
        .post(
            &format!("/api/v1/webhook-deliveries/{id}/result"),
            &prod_a.1,
            json!({"success": true}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pending_deliveries_are_only_for_the_agent_itself_or_the_admin() {
    let (b, prod_a, prod_b, _) = setup().await;
    let (s, _) = b
        .get(
            &format!("/api/v1/agents/{}/webhooks/pending", prod_a.0),
            &prod_b.1,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, gen_pak) = b.generator("ci").await;
    let (s, _) = b
        .get(
            &format!("/api/v1/agents/{}/webhooks/pending", prod_a.0),
            &gen_pak,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = b
        .get(
            &format!("/api/v1/agents/{}/webhooks/pending?limit=0", prod_a.0),
            &prod_a.1,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = b
        .get(
            &format!("/api/v1/webhook-deliveries/{}", uuid::Uuid::new_v4()),
            &b.admin,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
