//! Input PostgreSQL cannot store (a NUL character, an over-long indexed name) is refused with a
//! 400 or 422 that names the field, and changes nothing; look-alikes are stored as sent.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "8f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";
const NUL: &str = "\u{0}";

/// A broker holding one of everything the cases below write to.
struct World {
    b: TestBroker,
    generator: (String, String),
    stack: String,
    agent: (String, String),
    object: String,
    template: String,
    webhook: String,
    work_order: String,
    diagnostic: String,
    delivery: String,
}

async fn world() -> World {
    let b = TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["10.0.0.0/8".into()];
    })
    .await;
    let generator = b.generator("ci").await;
    let agent = b.agent("a1").await;
    let (s, v) = b
        .post(
            &format!("/api/v1/agents/{}/labels", agent.0),
            &b.admin,
            json!("edge"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "in-cluster", "url": "http://10.1.2.3/hook",
                   "event_types": ["stack.created"], "target_labels": ["edge"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let webhook = id_of(&v);
    let stack = b.stack(&generator.1, "web").await;
    b.target(&agent.0, &stack).await;
    let object = id_of(&b.deploy(&generator.1, &stack, &namespace_yaml("a")).await);
    let (s, v) = b
        .post(
            "/api/v1/templates",
            &generator.1,
            json!({"name": "t", "template_content": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ name }}\n",
                   "parameters_schema": "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}}}"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let template = id_of(&v);
    let (s, v) = b
        .post(
            "/api/v1/work-orders",
            &b.admin,
            json!({"work_type": "build", "yaml_content": "a: b", "targeting": {"agent_ids": [agent.0]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let work_order = id_of(&v);
    let (s, v) = b
        .post(
            &format!("/api/v1/work-orders/{work_order}/claim"),
            &agent.1,
            json!({"agent_id": agent.0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = b
        .post(
            &format!("/api/v1/deployment-objects/{object}/diagnostics"),
            &b.admin,
            json!({"agent_id": agent.0}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let diagnostic = id_of(&v);
    let (s, v) = b
        .post(
            &format!("/api/v1/diagnostics/{diagnostic}/claim"),
            &agent.1,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = b
        .get(
            &format!("/api/v1/agents/{}/webhooks/pending", agent.0),
            &agent.1,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let delivery = id_of(&v[0]);
    World {
        b,
        generator,
        stack,
        agent,
        object,
        template,
        webhook,
        work_order,
        diagnostic,
        delivery,
    }
}

/// Every row of every table of the test database, as one string: any write shows.
async fn everything(b: &TestBroker) -> String {
    let mut conn = b.db.connect().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name)
           FROM information_schema.tables
          WHERE table_type = 'BASE TABLE'
            AND table_schema NOT IN ('pg_catalog', 'information_schema')
          ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables");
    let mut all = String::new();
    for table in tables {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(t::text, E'\\n' ORDER BY t::text) FROM {table} t"
        )))
        .fetch_one(&mut conn)
        .await
        .expect("read table");
        all.push_str(&format!("== {table}\n{}\n", rows.unwrap_or_default()));
    }
    all
}

/// Sends `body` (JSON) to `path` as `pak`.
async fn send(
    b: &TestBroker,
    method: Method,
    path: &str,
    pak: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    b.call(method, path, Some(pak), body).await
}

#[tokio::test]
async fn nul_characters_are_refused_with_the_field_named_and_nothing_changes() {
    let w = world().await;
    let b = &w.b;
    let (admin, gen_pak, agent_pak) =
        (b.admin.as_str(), w.generator.1.as_str(), w.agent.1.as_str());
    let (agent, stack, object, template) = (&w.agent.0, &w.stack, &w.object, &w.template);
    let bad = |s: &str| format!("{s}{NUL}x");
    let with_nul_name = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n",
        bad("cfg")
    );
    use Method as M;
    // (method, path, caller, body, the field the error must name)
    let cases: Vec<(Method, String, &str, Option<Value>, &str)> = vec![
        (
            M::POST,
            "/api/v1/generators".into(),
            admin,
            Some(json!({"name": bad("g")})),
            "name",
        ),
        (
            M::POST,
            "/api/v1/generators".into(),
            admin,
            Some(json!({"name": "g2", "description": bad("d")})),
            "description",
        ),
        (
            M::PUT,
            format!("/api/v1/generators/{}", w.generator.0),
            admin,
            Some(json!({"name": bad("g")})),
            "name",
        ),
        (
            M::POST,
            "/api/v1/stacks".into(),
            gen_pak,
            Some(json!({"name": bad("s")})),
            "name",
        ),
        (
            M::PUT,
            format!("/api/v1/stacks/{stack}"),
            gen_pak,
            Some(json!({"description": bad("d")})),
            "description",
        ),
        (
            M::POST,
            "/api/v1/agents".into(),
            admin,
            Some(json!({"name": "a2", "cluster_name": bad("c")})),
            "cluster_name",
        ),
        (
            M::PUT,
            format!("/api/v1/agents/{agent}"),
            admin,
            Some(json!({"name": bad("a")})),
            "name",
        ),
        (
            M::POST,
            format!("/api/v1/agents/{agent}/labels"),
            admin,
            Some(json!(bad("l"))),
            "request body",
        ),
        (
            M::POST,
            format!("/api/v1/agents/{agent}/labels"),
            admin,
            Some(json!({"label": bad("l")})),
            "label",
        ),
        (
            M::POST,
            format!("/api/v1/agents/{agent}/annotations"),
            admin,
            Some(json!({"key": "k", "value": bad("v")})),
            "value",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/labels"),
            gen_pak,
            Some(json!(bad("l"))),
            "request body",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/annotations"),
            gen_pak,
            Some(json!({"key": bad("k"), "value": "v"})),
            "key",
        ),
        (
            M::POST,
            format!("/api/v1/templates/{template}/labels"),
            gen_pak,
            Some(json!(bad("l"))),
            "request body",
        ),
        (
            M::POST,
            format!("/api/v1/templates/{template}/annotations"),
            gen_pak,
            Some(json!({"key": "k", "value": bad("v")})),
            "value",
        ),
        (
            M::POST,
            "/api/v1/templates".into(),
            gen_pak,
            Some(json!({"name": bad("t"), "template_content": "a: b", "parameters_schema": "{}"})),
            "name",
        ),
        (
            M::POST,
            "/api/v1/templates".into(),
            gen_pak,
            Some(json!({"name": "t2", "template_content": bad("a: b"), "parameters_schema": "{}"})),
            "template_content",
        ),
        (
            M::PUT,
            format!("/api/v1/templates/{template}"),
            gen_pak,
            Some(json!({"template_content": "a: b", "parameters_schema": bad("{}")})),
            "parameters_schema",
        ),
        // A NUL spelt inside the schema's own JSON (`\u0000` in the string) is a NUL too.
        (
            M::POST,
            "/api/v1/templates".into(),
            gen_pak,
            Some(json!({"name": "t3", "template_content": "a: b",
            "parameters_schema": r#"{"type": "object", "properties": {"x": {"type": "string", "default": "a\u0000"}}}"#})),
            "parameters_schema",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/deployment-objects/from-template"),
            gen_pak,
            Some(json!({"template_id": template, "parameters": {"name": bad("n")}})),
            "parameters.name",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/deployment-objects"),
            gen_pak,
            Some(json!({"yaml_content": with_nul_name})),
            "yaml_content",
        ),
        // YAML's own escapes: "\0", "\x00", "\u0000" in a double-quoted scalar, and in a key.
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/deployment-objects"),
            gen_pak,
            Some(
                json!({"yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: \"x\\0y\"\n"}),
            ),
            "data.k",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/deployment-objects"),
            gen_pak,
            Some(
                json!({"yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"c\\x00\"\n"}),
            ),
            "metadata.name",
        ),
        (
            M::POST,
            format!("/api/v1/stacks/{stack}/deployment-objects"),
            gen_pak,
            Some(
                json!({"yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    \"k\\u0000\": v\n"}),
            ),
            "metadata.labels",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(json!({"name": bad("w"), "url": "http://10.1.2.3/", "event_types": ["*"]})),
            "name",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(json!({"name": "w", "url": bad("http://10.1.2.3/"), "event_types": ["*"]})),
            "url",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(
                json!({"name": "w", "url": "http://10.1.2.3/", "event_types": ["*", bad("stack.")]}),
            ),
            "event_types[1]",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(
                json!({"name": "w", "url": "http://10.1.2.3/", "event_types": ["*"], "auth_header": bad("Bearer ")}),
            ),
            "auth_header",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(
                json!({"name": "w", "url": "http://10.1.2.3/", "event_types": ["*"], "filters": {"labels": {"env": bad("prod")}}}),
            ),
            "filters.labels.env",
        ),
        (
            M::POST,
            "/api/v1/webhooks".into(),
            admin,
            Some(
                json!({"name": "w", "url": "http://10.1.2.3/", "event_types": ["*"], "target_labels": [bad("edge")]}),
            ),
            "target_labels[0]",
        ),
        (
            M::PUT,
            format!("/api/v1/webhooks/{}", w.webhook),
            admin,
            Some(json!({"name": bad("w")})),
            "name",
        ),
        (
            M::POST,
            "/api/v1/work-orders".into(),
            admin,
            Some(
                json!({"work_type": bad("build"), "yaml_content": "a: b", "targeting": {"agent_ids": [agent]}}),
            ),
            "work_type",
        ),
        (
            M::POST,
            "/api/v1/work-orders".into(),
            admin,
            Some(
                json!({"work_type": "build", "yaml_content": bad("a: b"), "targeting": {"agent_ids": [agent]}}),
            ),
            "yaml_content",
        ),
        (
            M::POST,
            "/api/v1/work-orders".into(),
            admin,
            Some(
                json!({"work_type": "build", "yaml_content": "a: b", "targeting": {"annotations": {bad("k"): "v"}}}),
            ),
            "targeting.annotations",
        ),
        (
            M::POST,
            format!("/api/v1/work-orders/{}/complete", w.work_order),
            agent_pak,
            Some(json!({"success": false, "message": bad("oops")})),
            "message",
        ),
        (
            M::POST,
            format!("/api/v1/agents/{agent}/events"),
            agent_pak,
            Some(
                json!({"deployment_object_id": object, "event_type": "apply", "status": "FAILURE", "message": bad("m")}),
            ),
            "message",
        ),
        (
            M::POST,
            format!("/api/v1/deployment-objects/{object}/diagnostics"),
            admin,
            Some(json!({"agent_id": agent, "requested_by": bad("me")})),
            "requested_by",
        ),
        (
            M::POST,
            format!("/api/v1/diagnostics/{}/result", w.diagnostic),
            agent_pak,
            Some(
                json!({"pod_statuses": "[]", "events": bad("[]"), "collected_at": "2026-01-01T00:00:00Z"}),
            ),
            "events",
        ),
        (
            M::PATCH,
            format!("/api/v1/agents/{agent}/health-status"),
            agent_pak,
            Some(
                json!({"deployment_objects": [{"id": object, "status": "degraded", "checked_at": "2026-01-01T00:00:00Z",
                "summary": {"pods_ready": 0, "pods_total": 1, "conditions": [bad("CrashLoopBackOff")]}}]}),
            ),
            "deployment_objects[0].summary.conditions[0]",
        ),
        (
            M::POST,
            format!("/api/v1/webhook-deliveries/{}/result", w.delivery),
            agent_pak,
            Some(json!({"success": false, "error": bad("refused")})),
            "error",
        ),
        // Query parameters and path segments.
        (
            M::GET,
            "/api/v1/agents/search?name=a%00&cluster_name=c1".into(),
            admin,
            None,
            "name",
        ),
        (
            M::GET,
            "/api/v1/agents/search?name=a1&cluster_name=%00".into(),
            admin,
            None,
            "cluster_name",
        ),
        (
            M::GET,
            "/api/v1/work-orders?work_type=build%00".into(),
            admin,
            None,
            "work_type",
        ),
        (
            M::GET,
            format!("/api/v1/agents/{agent}/work-orders/pending?work_type=%00"),
            agent_pak,
            None,
            "work_type",
        ),
        (
            M::GET,
            "/api/v1/work-order-log?work_type=%00".into(),
            admin,
            None,
            "work_type",
        ),
        (
            M::GET,
            "/api/v1/admin/audit-logs?action=agent.%00".into(),
            admin,
            None,
            "action",
        ),
        (
            M::GET,
            "/api/v1/admin/audit-logs?actor_type=%00".into(),
            admin,
            None,
            "actor_type",
        ),
        (
            M::GET,
            "/api/v1/admin/audit-logs?resource_type=%00".into(),
            admin,
            None,
            "resource_type",
        ),
        (
            M::GET,
            "/api/v1/agents/search?name=a1&cluster_name=c1&na%00me=x".into(),
            admin,
            None,
            "na%00me",
        ),
        (
            M::DELETE,
            format!("/api/v1/agents/{agent}/labels/edge%00"),
            admin,
            None,
            "edge%00",
        ),
        (
            M::DELETE,
            format!("/api/v1/stacks/{stack}/annotations/k%00"),
            gen_pak,
            None,
            "k%00",
        ),
    ];
    let before = everything(b).await;
    let mut failures = Vec::new();
    for (method, path, pak, body, field) in cases {
        let what = format!("{method} {path} {body:?}");
        let (status, answer) = send(b, method, &path, pak, body).await;
        let error = answer["error"].as_str().unwrap_or_default();
        if !matches!(status.as_u16(), 400 | 422) || !error.contains(field) || !error.contains("NUL")
        {
            failures.push(format!(
                "{what}\n    expected 400/422 naming `{field}` and NUL, got {status} {answer}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        before == everything(b).await,
        "a refused request changed the database"
    );
}

#[tokio::test]
async fn an_escaped_backslash_before_u0000_is_plain_text_and_stored_as_sent() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    // JSON `\\u0000` is the six characters `\u0000`, not a NUL.
    let name = r"web\u0000";
    let description = r"C:\\u0000 and \U0000 stay text";
    let body = format!(
        r#"{{"name": {}, "description": {}}}"#,
        serde_json::to_string(name).unwrap(),
        serde_json::to_string(description).unwrap()
    );
    assert!(body.contains(r"\\u0000"), "{body}");
    let resp = b
        .client
        .post(format!("{}/api/v1/stacks", b.base))
        .header("Authorization", format!("Bearer {gen_pak}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stack = id_of(&resp.json::<Value>().await.unwrap());
    let (s, v) = b.get(&format!("/api/v1/stacks/{stack}"), &gen_pak).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], name);
    assert_eq!(v["description"], description);
    // In YAML, single quotes and plain scalars keep the backslash too.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: 'x\\0'\n  b: x\\u0000\n";
    let object = b.deploy(&gen_pak, &stack, yaml).await;
    assert_eq!(object["yaml_content"], yaml);
    // And a query value with `%5Cu0000` (an encoded backslash) is an ordinary filter.
    b.agent(r"a\u0000").await;
    let (s, v) = b
        .get(
            "/api/v1/agents/search?name=a%5Cu0000&cluster_name=c1",
            &b.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["name"], r"a\u0000", "{v}");
}

/// A string PostgreSQL cannot index: long and random enough that compression does not save it.
fn unindexable(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(len);
    s
}

#[tokio::test]
async fn names_too_long_for_an_index_are_refused_with_the_field_named() {
    let b = TestBroker::start().await;
    let (agent, _) = b.agent("a1").await;
    let long = unindexable(8000);
    let before = everything(&b).await;
    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/v1/agents".to_owned(),
            json!({"name": long, "cluster_name": "c"}),
            "Agent name",
        ),
        (
            Method::POST,
            "/api/v1/agents".to_owned(),
            json!({"name": "a2", "cluster_name": long}),
            "Cluster name",
        ),
        (
            Method::PUT,
            format!("/api/v1/agents/{agent}"),
            json!({"name": long}),
            "Agent name",
        ),
        (
            Method::PUT,
            format!("/api/v1/agents/{agent}"),
            json!({"cluster_name": long}),
            "Cluster name",
        ),
    ] {
        let (status, answer) = b.call(method, &path, Some(&b.admin), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {field}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(field),
            "{path} {field}: {answer}"
        );
    }
    assert!(
        before == everything(&b).await,
        "a refused request changed the database"
    );
    // The limit is the one other names have: 255 bytes is fine.
    let (s, v) = b
        .post(
            "/api/v1/agents",
            &b.admin,
            json!({"name": "n".repeat(255), "cluster_name": "c".repeat(255)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_nul_in_a_header_never_reaches_the_broker() {
    // Headers used as data (User-Agent goes into the audit log): HTTP itself refuses a NUL in a
    // header value, so the request is answered 400 before any handler runs.
    let b = TestBroker::start().await;
    let before = everything(&b).await;
    let addr = b.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"name":"a","cluster_name":"c"}"#;
    let request = format!(
        "POST /api/v1/agents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nUser-Agent: curl\0evil\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        b.admin,
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        before == everything(&b).await,
        "a refused request changed the database"
    );
}

#[tokio::test]
async fn out_of_range_timestamps_and_numbers_are_refused_not_failed() {
    let w = world().await;
    let b = &w.b;
    let agent = &w.agent.0;
    let webhook = &w.webhook;
    let before = everything(b).await;
    let max_i64 = i64::MAX;
    let paths = [
        "/api/v1/admin/audit-logs?from=0000-01-01T00:00:00Z&to=9999-12-31T23:59:59Z".to_owned(),
        "/api/v1/admin/audit-logs?from=-200000-01-01T00:00:00Z".to_owned(),
        format!("/api/v1/admin/audit-logs?limit={max_i64}&offset={max_i64}"),
        "/api/v1/admin/audit-logs?limit=99999999999999999999".to_owned(),
        "/api/v1/admin/audit-logs?limit=-1".to_owned(),
        format!("/api/v1/webhooks/{webhook}/deliveries?limit={max_i64}&offset={max_i64}"),
        format!("/api/v1/webhooks/{webhook}/deliveries?offset=-5"),
        format!("/api/v1/work-order-log?limit={max_i64}"),
        "/api/v1/work-order-log?limit=-1".to_owned(),
        format!("/api/v1/agents/{agent}/webhooks/pending?limit={max_i64}"),
        format!("/api/v1/agents/{agent}/target-state?wait={}", u64::MAX),
        format!("/api/v1/agents/{agent}/target-state?wait=-1"),
    ];
    for path in paths {
        let (status, answer) = b.get(&path, &b.admin).await;
        assert!(
            status.is_success() || status == StatusCode::BAD_REQUEST,
            "{path}: expected 2xx or 400, got {status} {answer}"
        );
        if status == StatusCode::BAD_REQUEST {
            assert!(answer["error"].is_string(), "{path}: {answer}");
        }
    }
    // Timestamps in bodies follow the same rule.
    let far_past = "-200000-01-01T00:00:00Z";
    for (method, path, pak, body, field) in [
        (
            Method::POST,
            format!("/api/v1/diagnostics/{}/result", w.diagnostic),
            &w.agent.1,
            json!({"pod_statuses": "[]", "events": "[]", "collected_at": far_past}),
            "collected_at",
        ),
        (
            Method::PATCH,
            format!("/api/v1/agents/{agent}/health-status"),
            &w.agent.1,
            json!({"deployment_objects": [{"id": w.object, "status": "healthy", "checked_at": far_past}]}),
            "deployment_objects[0].checked_at",
        ),
    ] {
        let (status, answer) = b.call(method, &path, Some(pak), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or_default().contains(field),
            "{path}: {answer}"
        );
    }
    assert!(
        before == everything(b).await,
        "a refused request changed the database"
    );
}
