//! Resource behaviour: updates, cascades, tenants, metrics and the OpenAPI document; the states
//! of the records as the database stores them.

mod common;

use brokkr_schema::states::{
    ActorKind, AgentEventStatus, AgentStatus, DeliveryStatus, DiagnosticStatus, HealthStatus,
    RolloutState, State, TemplateRolloutStackStatus, TemplateRolloutStatus, WorkOrderStatus,
};
use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn updates_change_only_what_a_client_may_change() {
    let b = TestBroker::start().await;
    let (gen_id, gen_pak) = b.generator("ci").await;
    let (other_gen, _) = b.generator("other").await;
    // A full record read earlier is accepted; server-managed fields are ignored.
    let (_, record) = b
        .get(&format!("/api/v1/generators/{gen_id}"), &gen_pak)
        .await;
    let mut body = record.clone();
    body["description"] = json!("builds things");
    body["is_active"] = json!(false);
    let (s, updated) = b
        .put(&format!("/api/v1/generators/{gen_id}"), &gen_pak, body)
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_eq!(updated["description"], json!("builds things"));
    assert_eq!(
        updated["is_active"],
        json!(true),
        "a generator cannot deactivate itself"
    );
    let (s, _) = b
        .put(
            &format!("/api/v1/generators/{gen_id}"),
            &gen_pak,
            json!({"id": other_gen}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "body id must match the path");

    let stack = b.stack(&gen_pak, "web").await;
    let (s, v) = b
        .put(
            &format!("/api/v1/stacks/{stack}"),
            &gen_pak,
            json!({"generator_id": other_gen}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a generator cannot give its stack away: {v}"
    );
    let (s, v) = b
        .put(
            &format!("/api/v1/stacks/{stack}"),
            &b.admin,
            json!({"generator_id": other_gen, "name": "web2"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["generator_id"].clone(), v["name"].clone()),
        (json!(other_gen), json!("web2"))
    );
    let (s, _) = b.get(&format!("/api/v1/stacks/{stack}"), &gen_pak).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "the former owner no longer sees it"
    );

    let (agent, pak) = b.agent("a1").await;
    let (s, v) = b
        .put(
            &format!("/api/v1/agents/{agent}"),
            &pak,
            json!({"status": "INACTIVE", "pak_hash": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], json!("INACTIVE"));
    // Admin-created stacks default to the built-in admin owner.
    let (s, v) = b
        .post("/api/v1/stacks", &b.admin, json!({"name": "infra"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["generator_id"],
        json!("00000000-0000-0000-0000-000000000000")
    );
    // Generators list only their own stacks.
    let (_, mine) = b.get("/api/v1/stacks", &gen_pak).await;
    assert_eq!(mine, json!([]));
}

#[tokio::test]
async fn new_agents_start_inactive_until_the_admin_activates_them() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    let (s, created) = b
        .post(
            "/api/v1/agents",
            &b.admin,
            json!({"name": "edge", "cluster_name": "c1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{created}");
    assert_eq!(created["agent"]["status"], json!("INACTIVE"), "{created}");
    let agent = id_of(&created["agent"]);
    let pak = created["initial_pak"].as_str().unwrap().to_owned();
    b.target(&agent, &stack).await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("a")).await;
    // An inactive agent authenticates, heartbeats and reads its record (which is how it learns
    // that it is inactive and must apply nothing: see agent_e2e.rs).
    let (s, record) = b.get(&format!("/api/v1/agents/{agent}"), &pak).await;
    assert_eq!((s, &record["status"]), (StatusCode::OK, &json!("INACTIVE")));
    let heartbeat = b
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/agents/{agent}/heartbeat"),
            Some(&pak),
            None,
        )
        .await;
    assert_eq!(heartbeat.0, StatusCode::NO_CONTENT);
    // The admin activates it.
    let (s, activated) = b
        .put(
            &format!("/api/v1/agents/{agent}"),
            &b.admin,
            json!({"status": "ACTIVE"}),
        )
        .await;
    assert_eq!(
        (s, &activated["status"]),
        (StatusCode::OK, &json!("ACTIVE"))
    );
    let (s, record) = b.get(&format!("/api/v1/agents/{agent}"), &pak).await;
    assert_eq!((s, &record["status"]), (StatusCode::OK, &json!("ACTIVE")));
}

#[tokio::test]
async fn deleting_a_generator_deletes_its_stacks_with_deletion_markers() {
    let b = TestBroker::start().await;
    let (gen_id, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    let s1 = b.stack(&gen_pak, "s1").await;
    let s2 = b.stack(&gen_pak, "s2").await;
    for s in [&s1, &s2] {
        b.target(&agent, s).await;
        b.deploy(&gen_pak, s, &namespace_yaml("x")).await;
    }
    let (s, _) = b
        .delete(&format!("/api/v1/generators/{gen_id}"), &gen_pak)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "a generator may delete itself");
    let (_, state) = b
        .get(&format!("/api/v1/agents/{agent}/target-state"), &pak)
        .await;
    let markers: Vec<bool> = state
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["is_deletion_marker"].as_bool().unwrap())
        .collect();
    assert_eq!(markers, vec![true, true]);
    let (_, stacks) = b.get("/api/v1/stacks", &b.admin).await;
    assert_eq!(stacks, json!([]));
    // The built-in owner of admin stacks cannot be deleted or given a key.
    let nil = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        b.delete(&format!("/api/v1/generators/{nil}"), &b.admin)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        b.post(
            &format!("/api/v1/generators/{nil}/rotate-pak"),
            &b.admin,
            json!(null)
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn changes_are_audited_with_the_real_actor() {
    let b = TestBroker::start().await;
    let (gen_id, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("web")).await;
    let mut conn = b.db.connect().await;
    let rows: Vec<(String, Option<uuid::Uuid>, String, Option<String>)> = sqlx::query_as(
        "SELECT actor_type, actor_id, action, user_agent FROM audit_logs ORDER BY timestamp",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let gen_uuid: uuid::Uuid = gen_id.parse().unwrap();
    assert!(
        rows.iter()
            .any(|r| r.0 == "admin" && r.2 == "generator.created"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "generator" && r.1 == Some(gen_uuid) && r.2 == "stack.created"),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "generator" && r.2 == "deployment_object.created"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn tenants_are_isolated_in_their_own_schema() {
    let a = TestBroker::start_with(|s| s.database.schema = Some("tenant_a".into())).await;
    // A second broker on the same database, other schema.
    let admin_b = brokkr_schema::pak::Pak::generate(&Default::default());
    let mut settings = settings_for(&a.db.url, &admin_b);
    settings.database.schema = Some("tenant_b".into());
    let state_b = brokkr_api::server::prepare(settings).await.unwrap();
    let mut conn = a.db.connect().await;
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'agents' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(schemas, vec!["tenant_a", "tenant_b"]);
    a.agent("only-in-a").await;
    let in_b: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_b.agents")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(in_b, 0);
    // Tenant B's admin key does not work on tenant A's broker.
    let (s, _) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/pak",
            Some(admin_b.as_str()),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    drop(state_b);
}

#[tokio::test]
async fn the_open_connections_gauge_follows_connections() {
    let b = TestBroker::start().await;
    let before = b
        .metric("brokkr_http_connections_open")
        .await
        .expect("the gauge is exposed");
    let addr = b.base.trim_start_matches("http://").to_owned();
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    b.wait_metric("brokkr_http_connections_open", before + 3.0)
        .await;
    drop(streams);
    b.wait_metric("brokkr_http_connections_open", before).await;
}

#[tokio::test]
async fn metrics_gauges_are_true_at_every_scrape() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    b.agent("a2").await;
    let stack = b.stack(&gen_pak, "web").await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("a")).await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("b")).await;
    assert_eq!(
        b.call(
            reqwest::Method::POST,
            &format!("/api/v1/agents/{agent}/heartbeat"),
            Some(&pak),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    // No list endpoint was called: the gauges must still be right.
    let text = b
        .client
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "brokkr_active_agents 2",
        "brokkr_stacks 1",
        "brokkr_deployment_objects 2",
        "brokkr_ready 1",
        "brokkr_work_order_claims_overdue 0",
        "brokkr_deployment_health_reports{status=\"failing\"} 0",
        "brokkr_http_long_polls_open 0",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing {expected:?} in\n{text}"
        );
    }
    assert!(text.contains(&format!(
        "brokkr_agent_heartbeat_age_seconds{{agent_id=\"{agent}\",agent_name=\"a1\"}}"
    )));
    assert!(text.contains("brokkr_http_requests_total{endpoint=\"/api/v1/agents/:id/heartbeat\",method=\"POST\",status=\"204\"} 1"), "{text}");
    assert!(text.contains("brokkr_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn openapi_document_covers_every_route_and_swagger_ui_uses_it() {
    let b = TestBroker::start().await;
    let doc: serde_json::Value = b
        .client
        .get(format!("{}/docs/openapi.json", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    // 95 operations: the matrix in authorization.rs (with diagnostics, health, config reload, the
    // 4 registration operations and a stack's rollout status), the audit log, 13 webhook
    // operations, 9 work-order operations and 14 template operations (11 template endpoints,
    // from-template, rollout and rollout status); nothing undocumented (`/agents/` is an alias).
    assert_eq!(operations, 95, "every /api/v1 operation is documented");
    for path in [
        "/agents/{id}/target-state",
        "/agents/search",
        "/stacks/{id}/deployment-objects",
        "/deployment-objects/{id}",
        "/agent-events/{id}",
        "/auth/pak",
        "/templates/{id}/rollouts/{rollout_id}",
        "/stacks/{id}/deployment-objects/from-template",
    ] {
        assert!(paths.contains_key(path), "missing {path}");
    }
    let html = b
        .client
        .get(format!("{}/swagger-ui/", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert!(
        html.contains("swagger") && html.contains("/agents/{id}/target-state"),
        "Swagger UI must embed the spec"
    );
}

/// Every value of `T` goes into PostgreSQL as its text and comes back as itself.
async fn round_trip<T>(conn: &mut sqlx::PgConnection)
where
    T: State + std::fmt::Debug + Send + Unpin,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres>,
{
    for &state in T::ALL {
        let text: String = sqlx::query_scalar("SELECT $1::text")
            .bind(state)
            .fetch_one(&mut *conn)
            .await
            .expect("bind a state");
        assert_eq!(text, state.text());
        let back: T = sqlx::query_scalar("SELECT $1::text")
            .bind(state.text())
            .fetch_one(&mut *conn)
            .await
            .expect("read a state");
        assert_eq!(back, state);
    }
}

/// The values the CHECK constraint on `table.column` allows.
async fn allowed(conn: &mut sqlx::PgConnection, table: &str, column: &str) -> Vec<String> {
    let definition: String = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
          WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND a.attname = $2",
    )
    .bind(table)
    .bind(column)
    .fetch_one(conn)
    .await
    .unwrap_or_else(|e| panic!("CHECK constraint of {table}.{column}: {e}"));
    // `CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))`: the quoted parts.
    let mut values: Vec<String> = definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

fn sorted<T: State>(states: &[T]) -> Vec<String> {
    let mut texts: Vec<String> = states.iter().map(|s| s.text().to_owned()).collect();
    texts.sort();
    texts
}

#[tokio::test]
async fn every_state_is_stored_as_its_text_and_the_columns_allow_exactly_the_states() {
    let b = TestBroker::start().await;
    let mut conn = b.db.connect().await;
    round_trip::<AgentStatus>(&mut conn).await;
    round_trip::<AgentEventStatus>(&mut conn).await;
    round_trip::<HealthStatus>(&mut conn).await;
    round_trip::<DiagnosticStatus>(&mut conn).await;
    round_trip::<WorkOrderStatus>(&mut conn).await;
    round_trip::<DeliveryStatus>(&mut conn).await;
    round_trip::<TemplateRolloutStackStatus>(&mut conn).await;
    round_trip::<TemplateRolloutStatus>(&mut conn).await;
    round_trip::<RolloutState>(&mut conn).await;
    round_trip::<ActorKind>(&mut conn).await;

    let columns = [
        ("agents", "status", sorted(AgentStatus::ALL)),
        ("agent_events", "status", sorted(AgentEventStatus::ALL)),
        ("deployment_health", "status", sorted(HealthStatus::ALL)),
        (
            "diagnostic_requests",
            "status",
            sorted(DiagnosticStatus::ALL),
        ),
        ("work_orders", "status", sorted(WorkOrderStatus::QUEUED)),
        ("webhook_deliveries", "status", sorted(DeliveryStatus::ALL)),
        (
            "template_rollout_stacks",
            "status",
            sorted(TemplateRolloutStackStatus::ALL),
        ),
        ("audit_logs", "actor_type", sorted(ActorKind::ALL)),
        ("template_rollouts", "actor_type", sorted(ActorKind::ALL)),
    ];
    for (table, column, expected) in columns {
        assert_eq!(
            allowed(&mut conn, table, column).await,
            expected,
            "{table}.{column} must allow exactly the values of its state"
        );
    }
}
