//! Helpers of the template tests (broker and worker): a template with a schema, creation,
//! instantiation, audit actions.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestBroker;

pub const CONTENT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\ndata:\n  replicas: \"{{ replicas }}\"\n  cpu: \"{{ resources.cpu }}\"\n";

pub fn schema() -> String {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 20, "default": 2},
            "resources": {
                "type": "object",
                "properties": {"cpu": {"type": "string", "default": "100m"}}
            }
        }
    })
    .to_string()
}

pub fn template_body(name: &str) -> Value {
    json!({
        "name": name,
        "description": "a config map",
        "template_content": CONTENT,
        "parameters_schema": schema(),
    })
}

pub async fn create_template(b: &TestBroker, pak: &str, body: Value) -> Value {
    let (s, v) = b.post("/api/v1/templates", pak, body).await;
    assert_eq!(s, StatusCode::CREATED, "create template: {v}");
    v
}

pub async fn instantiate(
    b: &TestBroker,
    pak: &str,
    stack: &str,
    body: Value,
) -> (StatusCode, Value) {
    b.post(
        &format!("/api/v1/stacks/{stack}/deployment-objects/from-template"),
        pak,
        body,
    )
    .await
}

pub async fn audit_actions(b: &TestBroker, resource_id: &str) -> Vec<String> {
    let mut conn = b.db.connect().await;
    sqlx::query_scalar(
        "SELECT action FROM audit_logs WHERE resource_id = $1::uuid ORDER BY timestamp, action",
    )
    .bind(resource_id)
    .fetch_all(&mut conn)
    .await
    .unwrap()
}
