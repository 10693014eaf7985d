//! Jobs are enqueued in the transaction of the change that causes them.

mod common;

use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use common::*;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

const KEY: &str = "8f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";

async fn keyed_broker() -> TestBroker {
    TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await
}

async fn subscribe(b: &TestBroker, body: serde_json::Value) -> String {
    let (s, v) = b.post("/api/v1/webhooks", &b.admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    id_of(&v)
}

async fn jobs(b: &TestBroker) -> Vec<(String, Option<String>)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as("SELECT job_type, idempotency_key FROM apalis.jobs ORDER BY idempotency_key")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_committed_change_has_its_delivery_job() {
    let b = keyed_broker().await;
    subscribe(
        &b,
        json!({"name": "all-stacks", "url": "http://127.0.0.1:9/hook", "event_types": ["stack.*"]}),
    )
    .await;
    subscribe(&b, json!({"name": "in-cluster", "url": "http://127.0.0.1:9/hook", "event_types": ["stack.created"], "target_labels": ["env:prod"]})).await;
    let stack = b.stack(&b.admin, "web").await;
    let mut conn = b.db.connect().await;
    let deliveries: Vec<(uuid::Uuid, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT id, target_labels FROM webhook_deliveries ORDER BY target_labels NULLS FIRST",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        deliveries.len(),
        2,
        "one delivery per matching subscription"
    );
    let broker_delivered = deliveries[0].0;
    assert_eq!(
        jobs(&b).await,
        vec![(
            "webhook_delivery".to_owned(),
            Some(format!("delivery:{broker_delivered}:1"))
        )],
        "a job for the broker-delivered delivery only (agents claim the other one)"
    );
    let _ = stack;
}

#[tokio::test]
async fn a_rolled_back_change_leaves_no_delivery_and_no_job() {
    let b = keyed_broker().await;
    subscribe(
        &b,
        json!({"name": "all", "url": "http://127.0.0.1:9/hook", "event_types": ["*"]}),
    )
    .await;
    let mut conn = b.db.connect().await;
    let mut tx = conn.begin().await.unwrap();
    let id = uuid::Uuid::new_v4();
    changes::record(
        &mut tx,
        &Channels::for_schema(None),
        &Actor::system(),
        Change::StackCreated {
            id,
            name: "ghost",
            generator_id: uuid::Uuid::nil(),
        },
    )
    .await
    .unwrap();
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM apalis.jobs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 1, "the job exists inside the transaction");
    tx.rollback().await.unwrap();
    assert_eq!(b.count("webhook_deliveries").await, 0);
    assert!(jobs(&b).await.is_empty(), "no job survives the rollback");
    // A refused request (duplicate stack name) enqueues nothing either.
    b.stack(&b.admin, "web").await;
    let before = jobs(&b).await.len();
    let (s, _) = b
        .post("/api/v1/stacks", &b.admin, json!({"name": "web"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(jobs(&b).await.len(), before);
}

#[tokio::test]
async fn enqueueing_the_same_job_twice_is_a_no_op() {
    let b = keyed_broker().await;
    let mut conn = b.db.connect().await;
    let job = brokkr_schema::jobs::WebhookDeliveryJob {
        delivery_id: uuid::Uuid::new_v4(),
        attempt: 1,
    };
    for _ in 0..3 {
        let mut tx = conn.begin().await.unwrap();
        brokkr_schema::store::jobs::push(
            &mut tx,
            "webhook_delivery",
            &job,
            None,
            &job.idempotency_key(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(jobs(&b).await.len(), 1);
}

#[tokio::test]
async fn subscription_filters_narrow_deliveries_by_stack_labels_and_ids() {
    let b = keyed_broker().await;
    let prod = b.stack(&b.admin, "prod-app").await;
    let dev = b.stack(&b.admin, "dev-app").await;
    let annotated = b.stack(&b.admin, "annotated-app").await;
    b.post(
        &format!("/api/v1/stacks/{prod}/labels"),
        &b.admin,
        json!("env:prod"),
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{annotated}/annotations"),
        &b.admin,
        json!({"key": "env", "value": "prod"}),
    )
    .await;
    subscribe(&b, json!({"name": "prod-only", "url": "http://127.0.0.1:9/a", "event_types": ["deployment.*"], "filters": {"labels": {"env": "prod"}}})).await;
    subscribe(&b, json!({"name": "dev-stack", "url": "http://127.0.0.1:9/b", "event_types": ["deployment.*"], "filters": {"stack_id": dev}})).await;
    for stack in [&prod, &dev, &annotated] {
        b.deploy(&b.admin, stack, &namespace_yaml("x")).await;
    }
    let mut conn = b.db.connect().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.name, d.payload->'data'->>'stack_id' FROM webhook_deliveries d
           JOIN webhook_subscriptions s ON s.id = d.subscription_id ORDER BY s.name, 2",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut expected = vec![
        ("dev-stack".to_owned(), dev.clone()),
        ("prod-only".to_owned(), prod.clone()),
        ("prod-only".to_owned(), annotated.clone()),
    ];
    expected.sort();
    assert_eq!(rows, expected);
}
