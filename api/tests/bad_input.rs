//! Bad input of every kind gets a clear JSON error and writes nothing.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw(
    b: &TestBroker,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: reqwest::Body,
) -> (StatusCode, Value) {
    let mut req = b
        .client
        .request(method, format!("{}{}", b.base, path))
        .header("Authorization", format!("Bearer {}", b.admin))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, value)
}

async fn writes(b: &TestBroker) -> i64 {
    b.count("agents").await
        + b.count("stacks").await
        + b.count("deployment_objects").await
        + b.count("agent_labels").await
        + b.count("audit_logs").await
}

#[tokio::test]
async fn malformed_requests_get_json_errors_and_write_nothing() {
    let b = TestBroker::start_with(|s| s.broker.max_body_bytes = 4096).await;
    let (agent, _) = b.agent("a1").await;
    let before = writes(&b).await;
    use reqwest::Method as M;
    type Case = (
        &'static str,
        M,
        String,
        Option<&'static str>,
        reqwest::Body,
        StatusCode,
    );
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            M::POST,
            "/api/v1/agents".into(),
            Some("application/json"),
            "{\"name\": ".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing field",
            M::POST,
            "/api/v1/agents".into(),
            Some("application/json"),
            "{\"name\": \"x\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong field type",
            M::POST,
            "/api/v1/agents".into(),
            Some("application/json"),
            "{\"name\": {\"a\": 1}, \"cluster_name\": \"c\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "blank name",
            M::POST,
            "/api/v1/agents".into(),
            Some("application/json"),
            "{\"name\": \"  \", \"cluster_name\": \"c\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong content type",
            M::POST,
            "/api/v1/agents".into(),
            Some("text/plain"),
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            M::POST,
            "/api/v1/agents".into(),
            None,
            "{}".into(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "invalid UUID",
            M::GET,
            "/api/v1/agents/not-a-uuid".into(),
            None,
            "".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown route",
            M::GET,
            "/api/v1/nothing-here".into(),
            None,
            "".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "unknown root route",
            M::GET,
            "/nothing".into(),
            None,
            "".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            M::PATCH,
            "/api/v1/agents".into(),
            None,
            "".into(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "oversized body",
            M::POST,
            "/api/v1/agents".into(),
            Some("application/json"),
            format!(
                "{{\"name\": \"{}\", \"cluster_name\": \"c\"}}",
                "x".repeat(5000)
            )
            .into(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "label with whitespace",
            M::POST,
            format!("/api/v1/agents/{agent}/labels"),
            Some("application/json"),
            "\"a b\"".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "label too long",
            M::POST,
            format!("/api/v1/agents/{agent}/labels"),
            Some("application/json"),
            format!("\"{}\"", "l".repeat(65)).into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "annotation without value",
            M::POST,
            format!("/api/v1/agents/{agent}/annotations"),
            Some("application/json"),
            "{\"key\": \"k\", \"value\": \"\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown agent",
            M::GET,
            format!("/api/v1/agents/{}", uuid::Uuid::new_v4()),
            None,
            "".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "target at unknown stack",
            M::POST,
            format!("/api/v1/agents/{agent}/targets"),
            Some("application/json"),
            format!("{{\"stack_id\": \"{}\"}}", uuid::Uuid::new_v4()).into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "bad agent status",
            M::PUT,
            format!("/api/v1/agents/{agent}"),
            Some("application/json"),
            "{\"status\": \"SLEEPY\"}".into(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (what, method, path, ct, body, expected) in cases {
        let (status, value) = raw(&b, method, &path, ct, body).await;
        assert_eq!(status, expected, "{what}: {value}");
        assert!(
            value["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {value}"
        );
    }
    assert_eq!(
        writes(&b).await,
        before,
        "refused requests must write nothing"
    );
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_are_refused() {
    let b = TestBroker::start_with(|s| s.broker.max_body_bytes = 4096).await;
    let before = writes(&b).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, value) = raw(
        &b,
        reqwest::Method::POST,
        "/api/v1/agents",
        Some("application/json"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{value}");
    assert_eq!(writes(&b).await, before);
}

#[tokio::test]
async fn deployment_objects_must_be_kubernetes_objects() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    let before = writes(&b).await;
    let path = format!("/api/v1/stacks/{stack}/deployment-objects");
    for (yaml, index, reason) in [
        (
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\nkind: ConfigMap\nmetadata:\n  name: b\n",
            1,
            "apiVersion",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
            0,
            "metadata.name",
        ),
        ("key: [unclosed", 0, "invalid YAML"),
        ("- just\n- a list\n", 0, "mapping"),
        ("# a comment\n---\nkind: ConfigMap\n", 0, "apiVersion"),
        ("apiVersion: v1\nmetadata:\n  name: a\n", 0, "kind"),
    ] {
        let (status, body) = b.post(&path, &gen_pak, json!({"yaml_content": yaml})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{yaml:?}: {body}");
        assert_eq!(body["document_index"], json!(index), "{yaml:?}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(reason),
            "{yaml:?}: {body}"
        );
    }
    let (status, body) = b
        .post(&path, &gen_pak, json!({"is_deletion_marker": false}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        writes(&b).await,
        before,
        "refused deployment objects must write nothing"
    );
    // Multi-document YAML with a trailing separator is fine.
    let ok = b
        .post(&path, &gen_pak, json!({"yaml_content": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: a\n---\n"}))
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
}

#[tokio::test]
async fn deployment_objects_without_objects_are_an_empty_desired_state() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    let (agent, agent_pak) = b.agent("a1").await;
    b.target(&agent, &stack).await;
    let path = format!("/api/v1/stacks/{stack}/deployment-objects");
    for yaml in [
        "",
        "\n",
        "# only a comment\n",
        "---\n",
        "---\n# nothing\n---\n",
    ] {
        let (status, body) = b.post(&path, &gen_pak, json!({"yaml_content": yaml})).await;
        assert_eq!(status, StatusCode::OK, "{yaml:?}: {body}");
        assert_eq!(body["yaml_content"], json!(yaml), "{body}");
        assert_eq!(body["is_deletion_marker"], json!(false), "{body}");
        // The agent is handed the empty desired state like any other.
        let (status, state) = b
            .get(&format!("/api/v1/agents/{agent}/target-state"), &agent_pak)
            .await;
        assert_eq!(status, StatusCode::OK, "{state}");
        assert_eq!(state[0]["id"], body["id"], "{state}");
    }
}

#[tokio::test]
async fn duplicates_are_conflicts() {
    let b = TestBroker::start().await;
    let (agent, _) = b.agent("a1").await;
    let (s, body) = b
        .post(
            "/api/v1/agents",
            &b.admin,
            json!({"name": "a1", "cluster_name": "c1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    b.post(
        &format!("/api/v1/agents/{agent}/labels"),
        &b.admin,
        json!("x"),
    )
    .await;
    let (s, _) = b
        .post(
            &format!("/api/v1/agents/{agent}/labels"),
            &b.admin,
            json!("x"),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, gen_pak) = b.generator("ci").await;
    let (s, _) = b
        .post("/api/v1/generators", &b.admin, json!({"name": "ci"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    b.stack(&gen_pak, "web").await;
    let (s, _) = b
        .post("/api/v1/stacks", &b.admin, json!({"name": "web"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // A deleted name can be reused (partial unique index).
    let (s, _) = b.delete(&format!("/api/v1/agents/{agent}"), &b.admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    b.agent("a1").await;
}

#[tokio::test]
async fn deployment_objects_are_immutable_in_the_database() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    let object = b.deploy(&gen_pak, &stack, &namespace_yaml("a")).await;
    let mut conn = b.db.connect().await;
    let err = sqlx::query("UPDATE deployment_objects SET yaml_content = 'x' WHERE id = $1::uuid")
        .bind(id_of(&object))
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("immutable"), "{err}");
    sqlx::query("UPDATE deployment_objects SET deleted_at = now() WHERE id = $1::uuid")
        .bind(id_of(&object))
        .execute(&mut conn)
        .await
        .expect("soft delete is allowed");
}
