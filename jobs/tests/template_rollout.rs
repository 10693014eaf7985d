//! A template rollout run by a real `brokkr-worker` process: the `template_render` consumer
//! re-renders every stack on an older version and reports the one whose parameters no longer fit.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::common::*;
use support::*;

const CONTENT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\ndata:\n  replicas: \"{{ replicas }}\"\n";

fn schema(maximum: u32) -> String {
    json!({
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "replicas": {"type": "integer", "minimum": 1, "maximum": maximum, "default": 1}
        }
    })
    .to_string()
}

#[tokio::test]
async fn a_worker_rolls_a_new_template_version_out_to_every_stack() {
    let b = TestBroker::start().await;
    let mut worker = start_worker(&b.db.url).await;
    let (s, t) = b
        .post(
            "/api/v1/templates",
            &b.admin,
            json!({"name": "web", "template_content": CONTENT, "parameters_schema": schema(10)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let t1 = id_of(&t);
    let mut stacks = Vec::new();
    for (name, replicas) in [("a", 2), ("b", 3), ("c", 8)] {
        let stack = b.stack(&b.admin, name).await;
        let (s, v) = b
            .post(
                &format!("/api/v1/stacks/{stack}/deployment-objects/from-template"),
                &b.admin,
                json!({"template_id": t1, "parameters": {"name": name, "replicas": replicas}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        stacks.push(stack);
    }
    let (s, v2) = b
        .put(
            &format!("/api/v1/templates/{t1}"),
            &b.admin,
            json!({"template_content": CONTENT.replace("ConfigMap", "Secret"), "parameters_schema": schema(5)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    let (s, rollout) = b
        .post(
            &format!("/api/v1/templates/{t1}/rollout"),
            &b.admin,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{rollout}");
    assert_eq!(rollout["stacks"].as_array().unwrap().len(), 3);
    let path = format!(
        "/api/v1/templates/{}/rollouts/{}",
        id_of(&v2),
        id_of(&rollout)
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let done: Value = loop {
        let (s, v) = b.get(&path, &b.admin).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["status"] == "completed" {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "rollout not completed in 30 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (stack, expected) in stacks
        .iter()
        .zip(["rendered", "rendered", "invalid_parameters"])
    {
        let result = done["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stack_id"] == stack.as_str())
            .unwrap();
        assert_eq!(result["status"], expected, "{done}");
        let (_, objects) = b
            .get(
                &format!("/api/v1/stacks/{stack}/deployment-objects"),
                &b.admin,
            )
            .await;
        let latest = objects[0]["yaml_content"].as_str().unwrap();
        if expected == "rendered" {
            assert!(latest.contains("kind: Secret"), "{latest}");
            assert_eq!(objects[0]["id"], result["deployment_object_id"]);
        } else {
            assert!(latest.contains("kind: ConfigMap"), "unchanged: {latest}");
            assert!(
                result["validation_errors"][0]
                    .as_str()
                    .unwrap()
                    .starts_with("/replicas: "),
                "{result}"
            );
        }
    }
    let _ = worker.child.kill().await;
}
