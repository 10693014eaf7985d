//! Work orders over real HTTP: creation and targeting, atomic claims under real concurrency,
//! completion (log, retries with their scheduled job, the synthesized view), who may do what,
//! and the events and audit entries every transition writes.

mod common;

use std::collections::HashSet;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A broker that can store webhook subscriptions (events become deliveries we can read).
async fn broker() -> TestBroker {
    TestBroker::start_with(|s| s.broker.webhook_encryption_key = Some(KEY.into())).await
}

/// Subscribes to every work-order event.
async fn subscribe(b: &TestBroker) {
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "wo", "url": "https://hooks.example.com/wo", "event_types": ["workorder.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

/// Event types and data of the work-order events recorded so far, in order.
async fn events(b: &TestBroker) -> Vec<(String, Value)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as::<_, (String, Value)>(
        "SELECT event_type, payload FROM webhook_deliveries ORDER BY created_at, id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .map(|(t, p)| (t, p["data"].clone()))
    .collect()
}

/// (action, actor_type, actor_id, details) of the work-order audit entries, in order.
async fn audit(b: &TestBroker, order: &str) -> Vec<(String, String, Option<String>, Value)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as(
        "SELECT action, actor_type, actor_id::text, details FROM audit_logs
          WHERE resource_type = 'work_order' AND resource_id = $1::uuid ORDER BY timestamp, id",
    )
    .bind(order)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

fn actions(rows: &[(String, String, Option<String>, Value)]) -> Vec<&str> {
    rows.iter().map(|r| r.0.as_str()).collect()
}

async fn create_order(b: &TestBroker, body: Value) -> Value {
    let (s, v) = b.post("/api/v1/work-orders", &b.admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "create work order: {v}");
    v
}

fn order_for(agent: &str) -> Value {
    json!({"work_type": "custom", "yaml_content": "kind: Job\n", "targeting": {"agent_ids": [agent]}})
}

async fn claim(b: &TestBroker, order: &str, agent: &str, pak: &str) -> (StatusCode, Value) {
    b.post(
        &format!("/api/v1/work-orders/{order}/claim"),
        pak,
        json!({"agent_id": agent}),
    )
    .await
}

async fn complete(b: &TestBroker, order: &str, pak: &str, body: Value) -> (StatusCode, Value) {
    b.post(&format!("/api/v1/work-orders/{order}/complete"), pak, body)
        .await
}

async fn pending_ids(b: &TestBroker, agent: &str, pak: &str) -> HashSet<String> {
    let (s, v) = b
        .get(&format!("/api/v1/agents/{agent}/work-orders/pending"), pak)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().unwrap().iter().map(id_of).collect()
}

#[tokio::test]
async fn create_applies_defaults_and_refuses_bad_input_without_writing() {
    let b = TestBroker::start().await;
    let (agent, _) = b.agent("a").await;
    let v = create_order(&b, order_for(&agent)).await;
    assert_eq!(v["status"], "PENDING");
    assert_eq!(v["work_type"], "custom");
    assert_eq!(v["max_retries"], 3);
    assert_eq!(v["backoff_seconds"], 60);
    assert_eq!(v["claim_timeout_seconds"], 3600);
    assert_eq!(v["retry_count"], 0);
    assert!(v["claimed_by"].is_null() && v["next_retry_after"].is_null());
    assert!(v.get("targeting").is_none(), "targeting is not echoed: {v}");

    let orders = b.count("work_orders").await;
    let audit = b.count("audit_logs").await;
    let unknown = uuid::Uuid::new_v4();
    let base = |patch: Value| {
        let mut body = order_for(&agent);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let no_targeting =
        "At least one targeting method must be specified (agent_ids, labels, or annotations)";
    for (body, expected) in [
        (
            json!({"work_type": "custom", "yaml_content": "x: 1"}),
            no_targeting,
        ),
        (
            base(json!({"targeting": {"agent_ids": [], "labels": [], "annotations": {}}})),
            no_targeting,
        ),
        (
            base(json!({"work_type": "  "})),
            "work_type cannot be empty",
        ),
        (
            base(json!({"yaml_content": ""})),
            "yaml_content cannot be empty",
        ),
        (
            base(json!({"max_retries": -1})),
            "max_retries cannot be negative",
        ),
        (
            base(json!({"backoff_seconds": 0})),
            "backoff_seconds must be positive",
        ),
        (
            base(json!({"claim_timeout_seconds": -5})),
            "claim_timeout_seconds must be positive",
        ),
        (
            base(json!({"targeting": {"labels": ["has space"]}})),
            "Label cannot contain whitespace",
        ),
        (
            base(json!({"targeting": {"annotations": {"k": ""}}})),
            "Annotation value cannot be empty",
        ),
        (
            base(json!({"targeting": {"agent_ids": [unknown]}})),
            "Unknown agent ids in targeting",
        ),
    ] {
        let (s, v) = b.post("/api/v1/work-orders", &b.admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains(expected),
            "{body}: expected {expected:?}, got {v}"
        );
    }
    // Malformed JSON and a wrong shape are JSON errors too.
    let (s, v) = b
        .post(
            "/api/v1/work-orders",
            &b.admin,
            json!({"work_type": 5, "yaml_content": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].is_string());
    assert_eq!(b.count("work_orders").await, orders, "nothing stored");
    assert_eq!(b.count("audit_logs").await, audit, "nothing audited");

    // The deprecated top-level list is merged into the targeting.
    let v = create_order(
        &b,
        json!({"work_type": "build", "yaml_content": "kind: Build\n", "target_agent_ids": [agent]}),
    )
    .await;
    assert!(pending_ids(&b, &agent, &b.admin).await.contains(&id_of(&v)));
}

#[tokio::test]
async fn an_agent_sees_and_claims_orders_targeted_by_id_label_or_annotation() {
    let b = TestBroker::start().await;
    let (by_id, by_id_pak) = b.agent("by-id").await;
    let (by_label, by_label_pak) = b.agent("by-label").await;
    let (by_annotation, by_annotation_pak) = b.agent("by-annotation").await;
    let (outsider, outsider_pak) = b.agent("outsider").await;
    for (path, body) in [
        (
            format!("/api/v1/agents/{by_label}/labels"),
            json!("env:prod"),
        ),
        (
            format!("/api/v1/agents/{by_annotation}/annotations"),
            json!({"key": "region", "value": "eu"}),
        ),
        // Same key, other value: no match.
        (
            format!("/api/v1/agents/{outsider}/annotations"),
            json!({"key": "region", "value": "us"}),
        ),
    ] {
        let (s, v) = b.post(&path, &b.admin, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let o_id = id_of(&create_order(&b, order_for(&by_id)).await);
    let o_label = id_of(
        &create_order(
            &b,
            json!({"work_type": "custom", "yaml_content": "a: 1", "targeting": {"labels": ["env:prod", "env:dev"]}}),
        )
        .await,
    );
    let o_annotation = id_of(
        &create_order(
            &b,
            json!({"work_type": "build", "yaml_content": "a: 1", "targeting": {"annotations": {"region": "eu"}}}),
        )
        .await,
    );
    // Any one criterion is enough.
    let o_any = id_of(
        &create_order(
            &b,
            json!({"work_type": "custom", "yaml_content": "a: 1",
                   "targeting": {"agent_ids": [by_id], "labels": ["env:prod"], "annotations": {"region": "eu"}}}),
        )
        .await,
    );
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
    assert_eq!(
        pending_ids(&b, &by_id, &by_id_pak).await,
        set(&[&o_id, &o_any])
    );
    assert_eq!(
        pending_ids(&b, &by_label, &by_label_pak).await,
        set(&[&o_label, &o_any])
    );
    assert_eq!(
        pending_ids(&b, &by_annotation, &by_annotation_pak).await,
        set(&[&o_annotation, &o_any])
    );
    assert!(pending_ids(&b, &outsider, &outsider_pak).await.is_empty());
    // The admin sees an agent's list too, filtered by type.
    let (s, v) = b
        .get(
            &format!("/api/v1/agents/{by_annotation}/work-orders/pending?work_type=build"),
            &b.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(id_of(&v[0]), o_annotation);
    let (s, _) = b
        .get(
            &format!(
                "/api/v1/agents/{}/work-orders/pending",
                uuid::Uuid::new_v4()
            ),
            &b.admin,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // An agent that is not eligible cannot claim: the seed's 404.
    for order in [&o_id, &o_label, &o_annotation, &o_any] {
        let (s, v) = claim(&b, order, &outsider, &outsider_pak).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["error"], "Work order not found or not claimable");
    }
    let (s, v) = claim(&b, &o_label, &by_label, &by_label_pak).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "CLAIMED");
    assert_eq!(v["claimed_by"], json!(by_label));
    assert!(v["claimed_at"].is_string());
    // The admin claims on an agent's behalf, only for an eligible agent.
    let (s, _) = claim(&b, &o_annotation, &by_id, &b.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = claim(&b, &o_annotation, &by_annotation, &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Claimed orders are no longer pending for anyone.
    assert_eq!(
        pending_ids(&b, &by_label, &by_label_pak).await,
        set(&[&o_any])
    );
    // An agent never claims for another agent.
    let (s, _) = claim(&b, &o_id, &by_id, &by_label_pak).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Unknown order.
    let (s, _) = claim(&b, &uuid::Uuid::new_v4().to_string(), &by_id, &by_id_pak).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_agents_never_both_win_a_claim() {
    let b = broker().await;
    subscribe(&b).await;
    let (one, one_pak) = b.agent("one").await;
    let (two, two_pak) = b.agent("two").await;
    const ROUNDS: usize = 40;
    let mut wins = [0usize; 2];
    for round in 0..ROUNDS {
        let order = id_of(
            &create_order(
                &b,
                json!({"work_type": "custom", "yaml_content": "a: 1", "targeting": {"agent_ids": [one, two]}}),
            )
            .await,
        );
        let (a, z) = tokio::join!(
            claim(&b, &order, &one, &one_pak),
            claim(&b, &order, &two, &two_pak)
        );
        let outcome = [a.0, z.0];
        let winners: Vec<usize> = (0..2).filter(|i| outcome[*i] == StatusCode::OK).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one claim wins: {a:?} {z:?}"
        );
        let winner = winners[0];
        wins[winner] += 1;
        let loser = if winner == 0 { &z } else { &a };
        assert_eq!(loser.0, StatusCode::NOT_FOUND, "round {round}: {loser:?}");
        assert_eq!(loser.1["error"], "Work order not found or not claimable");
        let (_, stored) = b
            .get(&format!("/api/v1/work-orders/{order}"), &b.admin)
            .await;
        let winner_id = if winner == 0 { &one } else { &two };
        assert_eq!(stored["claimed_by"], json!(winner_id), "round {round}");
    }
    assert_eq!(wins[0] + wins[1], ROUNDS);
    // One `workorder.claimed` event per order, naming its winner.
    let claimed = events(&b)
        .await
        .into_iter()
        .filter(|(t, _)| t == "workorder.claimed")
        .count();
    assert_eq!(claimed, ROUNDS);
}

#[tokio::test]
async fn a_successful_order_moves_to_the_log_with_events_and_audit() {
    let b = broker().await;
    subscribe(&b).await;
    let (agent, pak) = b.agent("runner").await;
    let (_, other_pak) = b.agent("other").await;
    let (_, generator_pak) = b.generator("ci").await;
    let order = create_order(&b, order_for(&agent)).await;
    let id = id_of(&order);

    // Nobody but the admin and the claiming agent may complete, and only a claimed order.
    let (s, _) = complete(&b, &id, &pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an unclaimed order");
    let (s, _) = complete(&b, &id, &generator_pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a generator, unclaimed order");
    let (s, v) = claim(&b, &id, &agent, &pak).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = complete(&b, &id, &generator_pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a generator");
    let (s, _) = complete(&b, &id, &other_pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another agent");

    let (s, log) = complete(
        &b,
        &id,
        &pak,
        json!({"success": true, "message": "sha256:abc"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert_eq!(log["id"], json!(id));
    assert_eq!(log["success"], true);
    assert_eq!(log["result_message"], "sha256:abc");
    assert_eq!(log["claimed_by"], json!(agent));
    assert_eq!(log["retries_attempted"], 0);
    assert_eq!(log["work_type"], "custom");
    assert_eq!(log["yaml_content"], "kind: Job\n");
    assert!(log["completed_at"].is_string() && log["claimed_at"].is_string());
    assert_eq!(b.count("work_orders").await, 0);

    // Completed twice: the order is no longer active.
    let (s, _) = complete(&b, &id, &pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The order is still readable, synthesized from the log, with the settings it ran with.
    let (s, v) = b.get(&format!("/api/v1/work-orders/{id}"), &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "COMPLETED");
    assert_eq!(v["updated_at"], log["completed_at"]);
    assert_eq!(v["created_at"], order["created_at"]);
    for setting in ["max_retries", "backoff_seconds", "claim_timeout_seconds"] {
        assert!(order[setting].as_i64().is_some_and(|n| n > 0), "{order}");
        assert_eq!(
            v[setting], order[setting],
            "{setting} read back from the log"
        );
    }
    assert!(v["last_error"].is_null());
    let (s, v) = b
        .get(&format!("/api/v1/work-order-log/{id}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, log);
    // A finished order cannot be cancelled.
    let (s, _) = b
        .delete(&format!("/api/v1/work-orders/{id}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let ev = events(&b).await;
    let types: Vec<&str> = ev.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "workorder.created",
            "workorder.claimed",
            "workorder.completed"
        ]
    );
    assert_eq!(ev[0].1["work_order_id"], json!(id));
    assert_eq!(ev[0].1["work_type"], "custom");
    assert_eq!(ev[0].1["status"], "PENDING");
    assert_eq!(ev[1].1["agent_id"], json!(agent));
    assert!(ev[1].1["claimed_at"].is_string());
    assert_eq!(ev[2].1["work_order_log_id"], json!(id));
    assert_eq!(ev[2].1["success"], true);
    assert_eq!(ev[2].1["result_message"], "sha256:abc");
    assert_eq!(ev[2].1["agent_id"], json!(agent));

    let rows = audit(&b, &id).await;
    assert_eq!(
        actions(&rows),
        [
            "workorder.created",
            "workorder.claimed",
            "workorder.completed"
        ]
    );
    assert_eq!(rows[0].1, "admin");
    assert_eq!(rows[0].3["targeting"]["agent_ids"], json!([agent]));
    assert_eq!(rows[1].1, "agent");
    assert_eq!(rows[1].2.as_deref(), Some(agent.as_str()));
    assert_eq!(rows[2].1, "agent");
}

#[tokio::test]
async fn a_retryable_failure_waits_its_backoff_in_a_scheduled_job() {
    let b = broker().await;
    subscribe(&b).await;
    let (agent, pak) = b.agent("runner").await;
    let mut body = order_for(&agent);
    body["backoff_seconds"] = json!(7);
    body["max_retries"] = json!(2);
    let id = id_of(&create_order(&b, body).await);
    let (s, _) = claim(&b, &id, &agent, &pak).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = complete(
        &b,
        &id,
        &pak,
        json!({"success": false, "message": "registry down"}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "retry_scheduled");
    assert_eq!(v["retry_count"], 1);

    let (_, order) = b.get(&format!("/api/v1/work-orders/{id}"), &b.admin).await;
    assert_eq!(order["status"], "RETRY_PENDING");
    assert_eq!(order["retry_count"], 1);
    assert_eq!(order["last_error"], "registry down");
    assert!(order["claimed_by"].is_null());
    assert_eq!(order["next_retry_after"], v["next_retry_after"]);

    // The wait is backoff × 2^retry_count = 7 × 2 = 14 s after the failure, and the retry job
    // is scheduled for exactly then (the queue counts whole seconds, rounded up).
    let mut conn = b.db.connect().await;
    let (wait, due_ceil): (f64, i64) = sqlx::query_as(
        "SELECT extract(epoch FROM next_retry_after - last_error_at)::float8,
                ceil(extract(epoch FROM next_retry_after))::int8
           FROM work_orders WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(wait, 14.0);
    let jobs: Vec<(i64, String, Value)> = sqlx::query_as(
        "SELECT extract(epoch FROM run_at)::int8, idempotency_key, convert_from(job, 'UTF8')::jsonb
           FROM apalis.jobs WHERE job_type = 'work_order_retry'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].0, due_ceil, "the job runs when the backoff is over");
    assert_eq!(jobs[0].1, format!("work_order_retry:{id}:1"));
    assert_eq!(jobs[0].2, json!({"work_order_id": id, "retry_count": 1}));

    // While it waits, nobody can claim it.
    assert!(pending_ids(&b, &agent, &pak).await.is_empty());
    let (s, _) = claim(&b, &id, &agent, &pak).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = b
        .get("/api/v1/work-orders?status=RETRY_PENDING", &b.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1);

    // A retry is not a final failure: no `workorder.failed` yet; the audit says what happened.
    let types: Vec<String> = events(&b).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(types, ["workorder.created", "workorder.claimed"]);
    let rows = audit(&b, &id).await;
    assert_eq!(
        actions(&rows),
        ["workorder.created", "workorder.claimed", "workorder.retry"]
    );
    assert_eq!(rows[2].3["retry_count"], 1);
    assert_eq!(rows[2].3["last_error"], "registry down");
}

#[tokio::test]
async fn failures_without_retries_left_or_not_retryable_go_to_the_log() {
    let b = broker().await;
    subscribe(&b).await;
    let (agent, pak) = b.agent("runner").await;

    // Not retryable, no message: "Unknown error".
    let id = id_of(&create_order(&b, order_for(&agent)).await);
    claim(&b, &id, &agent, &pak).await;
    let (s, log) = complete(&b, &id, &pak, json!({"success": false, "retryable": false})).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert_eq!(log["success"], false);
    assert_eq!(log["result_message"], "Unknown error");
    let (_, v) = b.get(&format!("/api/v1/work-orders/{id}"), &b.admin).await;
    assert_eq!(v["status"], "FAILED");
    assert_eq!(v["last_error"], "Unknown error");

    // Retryable, but no retries allowed.
    let mut body = order_for(&agent);
    body["max_retries"] = json!(0);
    body["work_type"] = json!("build");
    let id2 = id_of(&create_order(&b, body).await);
    claim(&b, &id2, &agent, &pak).await;
    let (s, log) = complete(&b, &id2, &pak, json!({"success": false, "message": "boom"})).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert_eq!(log["result_message"], "boom");
    assert_eq!(log["retries_attempted"], 0);

    let failed: Vec<Value> = events(&b)
        .await
        .into_iter()
        .filter(|(t, _)| t == "workorder.failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[1]["work_order_log_id"], json!(id2));
    assert_eq!(failed[1]["success"], false);
    assert_eq!(failed[1]["result_message"], "boom");
    assert_eq!(
        actions(&audit(&b, &id2).await),
        ["workorder.created", "workorder.claimed", "workorder.failed"]
    );

    // The log, filtered.
    let (s, all) = b.get("/api/v1/work-order-log", &b.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(id_of(&all[0]), id2, "newest first");
    for (query, expected) in [
        ("work_type=build", vec![&id2]),
        ("success=false&work_type=custom", vec![&id]),
        ("success=true", vec![]),
        (&format!("agent_id={agent}"), vec![&id2, &id]),
        (&format!("agent_id={}", uuid::Uuid::new_v4()), vec![]),
        ("limit=1", vec![&id2]),
    ] {
        let (s, v) = b
            .get(&format!("/api/v1/work-order-log?{query}"), &b.admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{query}: {v}");
        let got: Vec<String> = v.as_array().unwrap().iter().map(id_of).collect();
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "{query}");
    }
    let (s, _) = b.get("/api/v1/work-order-log?limit=0", &b.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = b
        .get(
            &format!("/api/v1/work-order-log/{}", uuid::Uuid::new_v4()),
            &b.admin,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Work order log entry not found");
}

#[tokio::test]
async fn the_admin_lists_filters_and_cancels_orders() {
    let b = broker().await;
    subscribe(&b).await;
    let (agent, pak) = b.agent("runner").await;
    let a = id_of(&create_order(&b, order_for(&agent)).await);
    let mut body = order_for(&agent);
    body["work_type"] = json!("build");
    let c = id_of(&create_order(&b, body).await);
    claim(&b, &c, &agent, &pak).await;
    for (query, expected) in [
        ("", vec![&a, &c]),
        ("?status=PENDING", vec![&a]),
        ("?status=CLAIMED", vec![&c]),
        ("?work_type=build", vec![&c]),
        ("?status=PENDING&work_type=build", vec![]),
    ] {
        let (s, v) = b
            .get(&format!("/api/v1/work-orders{query}"), &b.admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let got: Vec<String> = v.as_array().unwrap().iter().map(id_of).collect();
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected, "{query}");
    }
    let (s, v) = b.get("/api/v1/work-orders?status=DONE", &b.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, _) = b
        .delete(&format!("/api/v1/work-orders/{c}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = b.get(&format!("/api/v1/work-orders/{c}"), &b.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Work order not found");
    let (s, _) = b
        .delete(&format!("/api/v1/work-orders/{c}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The cancelled order's agent cannot complete it any more.
    let (s, _) = complete(&b, &c, &pak, json!({"success": true})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b.count("work_order_targets").await, 1, "targeting went too");
    let rows = audit(&b, &c).await;
    assert_eq!(
        actions(&rows),
        [
            "workorder.created",
            "workorder.claimed",
            "workorder.deleted"
        ]
    );
    assert_eq!(rows[2].1, "admin");
    // Cancelling is not an event.
    let types: Vec<String> = events(&b).await.into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        types,
        [
            "workorder.created",
            "workorder.created",
            "workorder.claimed"
        ]
    );
}

#[tokio::test]
async fn the_admin_may_complete_any_active_order() {
    let b = TestBroker::start().await;
    let (agent, _) = b.agent("runner").await;
    let id = id_of(&create_order(&b, order_for(&agent)).await);
    let (s, log) = complete(&b, &id, &b.admin, json!({"success": true})).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert!(log["claimed_by"].is_null());
    let rows = audit(&b, &id).await;
    assert_eq!(actions(&rows), ["workorder.created", "workorder.completed"]);
}

#[tokio::test]
async fn a_claim_held_past_its_timeout_shows_in_the_overdue_claims_gauge() {
    let b = broker().await;
    let (agent, pak) = b.agent("slow").await;
    let mut body = order_for(&agent);
    body["claim_timeout_seconds"] = json!(60);
    let order = id_of(&create_order(&b, body).await);
    let (s, v) = claim(&b, &order, &agent, &pak).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    b.wait_metric("brokkr_work_order_claims_overdue", 0.0).await;
    // The claim is now older than its timeout, and no sweep has returned it.
    let mut conn = b.db.connect().await;
    sqlx::query(
        "UPDATE work_orders SET claimed_at = now() - interval '61 seconds' WHERE id = $1::uuid",
    )
    .bind(&order)
    .execute(&mut conn)
    .await
    .unwrap();
    b.wait_metric("brokkr_work_order_claims_overdue", 1.0).await;
}
