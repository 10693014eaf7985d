//! Deployment health over real HTTP against a real PostgreSQL: reports, the overall status,
//! stable ordering, 404s, the target-state rule, and `deployment.health_changed`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct World {
    b: TestBroker,
    a1: (String, String),
    a2: (String, String),
    g: (String, String),
    s: String,
    d_old: String,
    d: String,
}

const KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

async fn world() -> World {
    let b = TestBroker::start_with(|s| s.broker.webhook_encryption_key = Some(KEY.into())).await;
    let a1 = b.agent("health-a1").await;
    let a2 = b.agent("health-a2").await;
    let g = b.generator("health-g").await;
    let s = b.stack(&g.1, "health-s").await;
    b.target(&a1.0, &s).await;
    b.target(&a2.0, &s).await;
    let d_old = id_of(&b.deploy(&g.1, &s, &namespace_yaml("one")).await);
    let d = id_of(&b.deploy(&g.1, &s, &namespace_yaml("two")).await);
    World {
        b,
        a1,
        a2,
        g,
        s,
        d_old,
        d,
    }
}

fn entry(id: &str, status: &str) -> Value {
    json!({
        "id": id,
        "status": status,
        "summary": {"pods_ready": 1, "pods_total": 2, "conditions": ["CrashLoopBackOff"],
                    "resources": [{"kind": "Deployment", "name": "web", "namespace": "default", "ready": false, "message": "1/2 ready"}]},
        "checked_at": chrono::Utc::now().to_rfc3339(),
    })
}

impl World {
    async fn report(&self, agent: &(String, String), entries: Vec<Value>) -> (StatusCode, Value) {
        self.b
            .patch(
                &format!("/api/v1/agents/{}/health-status", agent.0),
                &agent.1,
                json!({"deployment_objects": entries}),
            )
            .await
    }

    async fn health_changes(&self) -> Vec<(String, String)> {
        let mut conn = self.b.db.connect().await;
        let rows: Vec<Value> = sqlx::query_scalar(
            "SELECT details FROM audit_logs WHERE action = 'deployment.health_changed'
              ORDER BY timestamp",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        rows.iter()
            .map(|d| {
                (
                    d["previous_status"].as_str().unwrap().to_owned(),
                    d["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn the_worst_report_is_the_overall_status_and_changes_are_announced() {
    let w = world().await;
    let (st, sub) =
        w.b.post(
            "/api/v1/webhooks",
            &w.b.admin,
            json!({"name": "health", "url": "http://hooks.example.org/x",
                   "event_types": ["deployment.health_changed"],
                   "filters": {"stack_id": w.s}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sub}");
    let (st, body) = w.report(&w.a1, vec![entry(&w.d, "healthy")]).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        Value::Null,
        "a health report answers with an empty body"
    );
    let (st, body) = w.report(&w.a2, vec![entry(&w.d, "degraded")]).await;
    assert_eq!(st, StatusCode::OK, "{body}");

    let (st, v) =
        w.b.get(
            &format!("/api/v1/deployment-objects/{}/health", w.d),
            &w.b.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["overall_status"], "degraded");
    let records = v["health_records"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    let mut agents = vec![w.a1.0.clone(), w.a2.0.clone()];
    agents.sort();
    let listed: Vec<&str> = records
        .iter()
        .map(|r| r["agent_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, agents, "records are ordered by agent id");
    let summary: Value = serde_json::from_str(records[0]["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["conditions"], json!(["CrashLoopBackOff"]));
    assert_eq!(summary["resources"][0]["message"], "1/2 ready");

    // The same status again changes nothing; a worse one changes the overall status.
    w.report(&w.a1, vec![entry(&w.d, "healthy")]).await;
    w.report(&w.a1, vec![entry(&w.d, "failing")]).await;
    w.report(&w.a1, vec![entry(&w.d, "healthy")]).await;
    assert_eq!(
        w.health_changes().await,
        [
            ("unknown".into(), "healthy".into()),
            ("healthy".into(), "degraded".into()),
            ("degraded".into(), "failing".into()),
            ("failing".into(), "degraded".into()),
        ]
    );
    // Each change queued one delivery of a `deployment.health_changed` event to the subscriber.
    let mut conn = w.b.db.connect().await;
    let events: Vec<Value> =
        sqlx::query_scalar("SELECT payload FROM webhook_deliveries ORDER BY created_at")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[2]["event_type"], "deployment.health_changed");
    assert_eq!(events[2]["data"]["status"], "failing");
    assert_eq!(events[2]["data"]["previous_status"], "degraded");
    assert_eq!(events[2]["data"]["deployment_object_id"], w.d.as_str());
    let stack: String = sqlx::query_scalar(
        "SELECT details->>'stack_id' FROM audit_logs WHERE action = 'deployment.health_changed' LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(stack, w.s);
}

#[tokio::test]
async fn stack_health_lists_objects_newest_first_with_counts() {
    let w = world().await;
    w.report(
        &w.a1,
        vec![entry(&w.d_old, "healthy"), entry(&w.d, "failing")],
    )
    .await;
    w.report(
        &w.a2,
        vec![entry(&w.d_old, "healthy"), entry(&w.d, "healthy")],
    )
    .await;
    for pak in [&w.b.admin, &w.g.1] {
        let (st, v) =
            w.b.get(&format!("/api/v1/stacks/{}/health", w.s), pak)
                .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["overall_status"], "failing");
        assert_eq!(
            v["deployment_objects"],
            json!([
                {"id": w.d, "status": "failing", "healthy_agents": 1, "degraded_agents": 0, "failing_agents": 1},
                {"id": w.d_old, "status": "healthy", "healthy_agents": 2, "degraded_agents": 0, "failing_agents": 0},
            ])
        );
    }
}

#[tokio::test]
async fn unknown_objects_and_stacks_are_404() {
    let w = world().await;
    let unknown = uuid::Uuid::new_v4();
    let (st, v) =
        w.b.get(
            &format!("/api/v1/deployment-objects/{unknown}/health"),
            &w.b.admin,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Deployment object not found");
    let (st, v) =
        w.b.get(&format!("/api/v1/stacks/{unknown}/health"), &w.b.admin)
            .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Stack not found");
    // An object without reports is known, with no records.
    let (st, v) =
        w.b.get(
            &format!("/api/v1/deployment-objects/{}/health", w.d),
            &w.b.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["overall_status"], "unknown");
    assert_eq!(v["health_records"], json!([]));
}

#[tokio::test]
async fn an_agent_reports_only_on_its_target_state_and_bad_entries_store_nothing() {
    let w = world().await;
    let outsider = w.b.agent("health-outsider").await;
    let (st, v) = w.report(&outsider, vec![entry(&w.d, "healthy")]).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        format!("not in this agent's target state: {}", w.d)
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let (st, _) = w
        .report(
            &w.a1,
            vec![entry(&w.d, "healthy"), entry(&unknown, "healthy")],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    let (st, v) = w
        .report(
            &w.a1,
            vec![entry(&w.d, "healthy"), entry(&w.d_old, "great")],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        "deployment_objects[1].status must be one of healthy, degraded, failing, unknown"
    );
    let (st, v) = w
        .report(&w.a1, vec![entry(&w.d, "healthy"), entry(&w.d, "failing")])
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _) = w
        .report(
            &w.a1,
            vec![entry(&uuid::Uuid::nil().to_string(), "healthy")],
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Another agent's path.
    let (st, _) =
        w.b.patch(
            &format!("/api/v1/agents/{}/health-status", w.a2.0),
            &w.a1.1,
            json!({"deployment_objects": [entry(&w.d, "healthy")]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(w.b.count("deployment_health").await, 0);
    assert_eq!(
        w.b.count("audit_logs WHERE action LIKE 'health.%' OR action LIKE 'deployment.health%'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_older_check_never_overwrites_a_newer_one() {
    let w = world().await;
    let mut newer = entry(&w.d, "failing");
    newer["checked_at"] = json!("2026-11-27T10:00:00Z");
    let mut older = entry(&w.d, "healthy");
    older["checked_at"] = json!("2026-11-27T09:00:00Z");
    w.report(&w.a1, vec![newer]).await;
    let (st, _) = w.report(&w.a1, vec![older]).await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) =
        w.b.get(
            &format!("/api/v1/deployment-objects/{}/health", w.d),
            &w.b.admin,
        )
        .await;
    assert_eq!(v["overall_status"], "failing");
}

#[tokio::test]
async fn health_reports_and_agent_reports_show_in_the_metrics() {
    let w = world().await;
    let healthy = "brokkr_deployment_health_reports{status=\"healthy\"}";
    let failing = "brokkr_deployment_health_reports{status=\"failing\"}";
    w.b.wait_metric(failing, 0.0).await;
    let (s, v) = w.report(&w.a1, vec![entry(&w.d, "failing")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = w.report(&w.a2, vec![entry(&w.d, "healthy")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    w.b.wait_metric(failing, 1.0).await;
    w.b.wait_metric(healthy, 1.0).await;
    // The failing agent recovers: its record moves from one status to the other.
    let (s, v) = w.report(&w.a1, vec![entry(&w.d, "healthy")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    w.b.wait_metric(failing, 0.0).await;
    w.b.wait_metric(healthy, 2.0).await;

    // An agent's report on a deployment object is one propagation observation.
    let count = "brokkr_deployment_propagation_seconds_count{status=\"success\"}";
    w.b.wait_metric(count, 0.0).await;
    let (s, v) =
        w.b.post(
            &format!("/api/v1/agents/{}/events", w.a1.0),
            &w.a1.1,
            json!({"deployment_object_id": w.d, "event_type": "DEPLOY", "status": "SUCCESS"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    w.b.wait_metric(count, 1.0).await;
}
