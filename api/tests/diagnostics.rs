//! Diagnostics over real HTTP against a real PostgreSQL: who may ask, the agent-stack
//! association, racing claims, results, expiry, and bad input that changes nothing.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct World {
    b: TestBroker,
    agent: (String, String),
    other: (String, String),
    d: String,
}

async fn world() -> World {
    let b = TestBroker::start().await;
    let agent = b.agent("diag-a").await;
    let other = b.agent("diag-b").await;
    let g = b.generator("diag-g").await;
    let s = b.stack(&g.1, "diag-s").await;
    b.target(&agent.0, &s).await;
    let d = id_of(&b.deploy(&g.1, &s, &namespace_yaml("diag")).await);
    World { b, agent, other, d }
}

impl World {
    async fn request(&self, body: Value) -> (StatusCode, Value) {
        self.b
            .post(
                &format!("/api/v1/deployment-objects/{}/diagnostics", self.d),
                &self.b.admin,
                body,
            )
            .await
    }

    async fn pending(&self) -> String {
        let (st, v) = self.request(json!({"agent_id": self.agent.0})).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        id_of(&v)
    }
}

fn result_body() -> Value {
    json!({
        "pod_statuses": "[{\"name\":\"web-0\",\"phase\":\"Running\"}]",
        "events": "[]",
        "log_tails": "{\"web-0/app\":[\"started\"]}",
        "collected_at": "2026-11-27T10:00:00Z"
    })
}

#[tokio::test]
async fn a_request_is_pending_for_its_agent_until_claimed_and_completed() {
    let w = world().await;
    let (st, v) = w
        .request(json!({"agent_id": w.agent.0, "requested_by": "oncall", "retention_minutes": 30}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["requested_by"], "oncall");
    assert_eq!(v["deployment_object_id"], w.d.as_str());
    let created = chrono::DateTime::parse_from_rfc3339(v["created_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    let minutes = (expires - created).num_seconds() as f64 / 60.0;
    assert!(
        (minutes - 30.0).abs() < 0.1,
        "expires {minutes} minutes after creation"
    );
    let id = id_of(&v);

    let pending_path = format!("/api/v1/agents/{}/diagnostics/pending", w.agent.0);
    let (st, list) = w.b.get(&pending_path, &w.agent.1).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());

    let (st, claimed) =
        w.b.post(
            &format!("/api/v1/diagnostics/{id}/claim"),
            &w.agent.1,
            json!(null),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["status"], "claimed");
    assert!(claimed["claimed_at"].is_string());
    let (_, list) = w.b.get(&pending_path, &w.agent.1).await;
    assert_eq!(list, json!([]), "a claimed request is no longer pending");

    let (st, result) =
        w.b.post(
            &format!("/api/v1/diagnostics/{id}/result"),
            &w.agent.1,
            result_body(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{result}");
    assert_eq!(result["request_id"], id.as_str());

    let (st, view) =
        w.b.get(&format!("/api/v1/diagnostics/{id}"), &w.b.admin)
            .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(view["request"]["status"], "completed");
    assert!(view["request"]["completed_at"].is_string());
    assert_eq!(
        view["result"]["pod_statuses"],
        result_body()["pod_statuses"]
    );
    assert_eq!(view["result"]["log_tails"], result_body()["log_tails"]);

    // A second submission is refused and stores nothing.
    let (st, v) =
        w.b.post(
            &format!("/api/v1/diagnostics/{id}/result"),
            &w.agent.1,
            result_body(),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        v["error"],
        "Request status is completed, expected 'claimed'"
    );
    assert_eq!(w.b.count("diagnostic_results").await, 1);

    let actions: Vec<String> = {
        let mut conn = w.b.db.connect().await;
        sqlx::query_scalar(
            "SELECT action FROM audit_logs WHERE resource_type = 'diagnostic_request'
              ORDER BY timestamp, action",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    };
    assert_eq!(
        actions,
        [
            "diagnostic.requested",
            "diagnostic.claimed",
            "diagnostic.completed"
        ]
    );
}

#[tokio::test]
async fn of_racing_claims_exactly_one_wins() {
    let w = world().await;
    for _ in 0..10 {
        let id = w.pending().await;
        let path = format!("/api/v1/diagnostics/{id}/claim");
        let calls = (0..6).map(|i| {
            let pak = if i % 2 == 0 { &w.agent.1 } else { &w.b.admin };
            w.b.post(&path, pak, json!(null))
        });
        let answers = futures::future::join_all(calls).await;
        let won = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
        assert_eq!(won, 1, "{answers:?}");
        for (s, v) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
            assert_eq!(*s, StatusCode::CONFLICT);
            assert_eq!(v["error"], "Request is already claimed");
        }
    }
}

#[tokio::test]
async fn only_an_agent_of_the_stack_can_be_asked() {
    let w = world().await;
    let (st, v) = w.request(json!({"agent_id": w.other.0})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        v["error"],
        "Agent is not associated with the deployment object's stack"
    );
    let (st, v) = w.request(json!({"agent_id": uuid::Uuid::new_v4()})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Agent not found");
    let (st, v) =
        w.b.post(
            &format!(
                "/api/v1/deployment-objects/{}/diagnostics",
                uuid::Uuid::new_v4()
            ),
            &w.b.admin,
            json!({"agent_id": w.agent.0}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(v["error"], "Deployment object not found");
    assert_eq!(w.b.count("diagnostic_requests").await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let w = world().await;
    for minutes in [0, -5, 1441] {
        let (st, v) = w
            .request(json!({"agent_id": w.agent.0, "retention_minutes": minutes}))
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{minutes}: {v}");
        assert_eq!(v["error"], "Retention must be between 1 and 1440 minutes");
    }
    let (st, _) = w.request(json!({"agent_id": "not-a-uuid"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(w.b.count("diagnostic_requests").await, 0);

    let id = w.pending().await;
    w.b.post(
        &format!("/api/v1/diagnostics/{id}/claim"),
        &w.agent.1,
        json!(null),
    )
    .await;
    let result_path = format!("/api/v1/diagnostics/{id}/result");
    for (field, value, message) in [
        ("pod_statuses", "", "pod_statuses must not be empty"),
        ("events", "   ", "events must not be empty"),
    ] {
        let mut body = result_body();
        body[field] = json!(value);
        let (st, v) = w.b.post(&result_path, &w.agent.1, body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"], message);
    }
    let mut body = result_body();
    body["events"] = json!("{not json");
    let (st, v) = w.b.post(&result_path, &w.agent.1, body).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("events is not valid JSON")
    );
    assert_eq!(w.b.count("diagnostic_results").await, 0);
    let (_, view) =
        w.b.get(&format!("/api/v1/diagnostics/{id}"), &w.b.admin)
            .await;
    assert_eq!(
        view["request"]["status"], "claimed",
        "refused results leave the claim"
    );

    // Submitting for a request that is not claimed.
    let unclaimed = w.pending().await;
    let (st, v) =
        w.b.post(
            &format!("/api/v1/diagnostics/{unclaimed}/result"),
            &w.agent.1,
            result_body(),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["error"], "Request status is pending, expected 'claimed'");
    let (st, _) =
        w.b.get(
            &format!("/api/v1/diagnostics/{}", uuid::Uuid::new_v4()),
            &w.b.admin,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_overdue_request_expires_instead_of_being_claimed() {
    let w = world().await;
    let id = w.pending().await;
    {
        let mut conn = w.b.db.connect().await;
        sqlx::query("UPDATE diagnostic_requests SET expires_at = now() - interval '1 second' WHERE id = $1::uuid")
            .bind(&id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let (_, list) =
        w.b.get(
            &format!("/api/v1/agents/{}/diagnostics/pending", w.agent.0),
            &w.agent.1,
        )
        .await;
    assert_eq!(list, json!([]), "an overdue request is not offered");
    let (st, v) =
        w.b.post(
            &format!("/api/v1/diagnostics/{id}/claim"),
            &w.agent.1,
            json!(null),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["error"], "Request is already expired");
    let (_, view) =
        w.b.get(&format!("/api/v1/diagnostics/{id}"), &w.b.admin)
            .await;
    assert_eq!(view["request"]["status"], "expired");
    assert!(view["result"].is_null());
}
