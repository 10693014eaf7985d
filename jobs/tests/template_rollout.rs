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

/// The `template_render` job run in this process, step by step, against a broker's rollout.
mod in_process {
    use std::sync::Arc;

    use brokkr_jobs::metrics::WorkerMetrics;
    use brokkr_jobs::template_render::{self, RenderContext};
    use brokkr_schema::jobs::TemplateRenderJob;
    use reqwest::StatusCode;
    use serde_json::{Value, json};
    use uuid::Uuid;

    use crate::support::common::templates::*;
    use crate::support::common::*;

    async fn render_context(b: &TestBroker) -> RenderContext {
        RenderContext {
            pool: b.state.pool.clone(),
            channels: b.state.channels.clone(),
            metrics: Arc::new(WorkerMetrics::new().unwrap()),
        }
    }

    #[tokio::test]
    async fn a_rollout_rerenders_stacks_and_reports_invalid_parameters() {
        let b = TestBroker::start().await;
        let (_, g) = b.generator("g").await;
        let v1 = create_template(&b, &g, template_body("web")).await;
        let t1 = id_of(&v1);
        let mut stacks = Vec::new();
        for (name, params) in [
            ("ok", json!({"name": "ok"})),
            ("many", json!({"name": "many", "replicas": 9})),
            ("moved-on", json!({"name": "moved-on"})),
            ("manual", json!({"name": "manual"})),
        ] {
            let stack = b.stack(&g, name).await;
            let (s, v) = instantiate(
                &b,
                &g,
                &stack,
                json!({"template_id": t1, "parameters": params}),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            stacks.push(stack);
        }
        let (ok, many, moved_on, manual) = (&stacks[0], &stacks[1], &stacks[2], &stacks[3]);
        // `manual` got a hand-written deployment object after the template: not part of a rollout.
        b.deploy(&g, manual, &namespace_yaml("by-hand")).await;
        // A stack of another template is never touched.
        let other = create_template(&b, &g, template_body("other")).await;
        let unrelated = b.stack(&g, "unrelated").await;
        instantiate(
            &b,
            &g,
            &unrelated,
            json!({"template_id": id_of(&other), "parameters": {"name": "u"}}),
        )
        .await;

        // Version 2: at most 5 replicas, and a new label in the output.
        let mut new_schema: Value = serde_json::from_str(&schema()).unwrap();
        new_schema["properties"]["replicas"]["maximum"] = json!(5);
        let new_content =
            CONTENT.replace("metadata:\n", "metadata:\n  labels:\n    version: \"2\"\n");
        let (s, v2) = b
            .put(
                &format!("/api/v1/templates/{t1}"),
                &g,
                json!({"template_content": new_content, "parameters_schema": new_schema.to_string()}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v2}");

        let (s, rollout) = b
            .post(&format!("/api/v1/templates/{t1}/rollout"), &g, json!(null))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{rollout}");
        assert_eq!(rollout["status"], "running");
        assert_eq!(rollout["template_version"], 2);
        assert_eq!(rollout["template_id"], v2["id"]);
        let rollout_id = id_of(&rollout);
        let mut covered: Vec<String> = rollout["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stack_id"].as_str().unwrap().to_owned())
            .collect();
        covered.sort();
        let mut expected = vec![ok.clone(), many.clone(), moved_on.clone()];
        expected.sort();
        assert_eq!(covered, expected, "{rollout}");
        // One job per stack, in the same transaction as the rollout.
        let mut conn = b.db.connect().await;
        let queued: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM apalis.jobs WHERE job_type = 'template_render'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(queued, 3);

        // `moved-on` gets a new deployment object before its job runs: it is skipped.
        let hand = b.deploy(&g, moved_on, &namespace_yaml("moved")).await;

        let ctx = render_context(&b).await;
        let rollout_uuid: Uuid = rollout_id.parse().unwrap();
        for stack in [ok, many, moved_on] {
            let job = TemplateRenderJob {
                rollout_id: rollout_uuid,
                stack_id: stack.parse().unwrap(),
            };
            assert!(template_render::run(&ctx, job).await.unwrap().is_some());
            // Running a job again changes nothing.
            assert_eq!(template_render::run(&ctx, job).await.unwrap(), None);
        }

        let (s, done) = b
            .get(
                &format!("/api/v1/templates/{}/rollouts/{rollout_id}", id_of(&v2)),
                &g,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(done["status"], "completed");
        assert!(done["completed_at"].is_string());
        let result = |stack: &str| {
            done["stacks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["stack_id"] == stack)
                .cloned()
                .unwrap()
        };
        let rendered = result(ok);
        assert_eq!(rendered["status"], "rendered", "{rendered}");
        assert_eq!(rendered["previous_template_version"], 1);
        let (_, latest) = b
            .get(&format!("/api/v1/stacks/{ok}/deployment-objects"), &g)
            .await;
        assert_eq!(latest[0]["id"], rendered["deployment_object_id"]);
        let yaml = latest[0]["yaml_content"].as_str().unwrap();
        assert!(
            yaml.contains("version: \"2\"") && yaml.contains("name: ok"),
            "{yaml}"
        );
        assert_eq!(
            audit_actions(&b, rendered["deployment_object_id"].as_str().unwrap()).await,
            vec!["deployment_object.created"]
        );

        let invalid = result(many);
        assert_eq!(invalid["status"], "invalid_parameters", "{invalid}");
        let errors = invalid["validation_errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{invalid}");
        assert!(
            errors[0].as_str().unwrap().starts_with("/replicas: "),
            "{invalid}"
        );
        assert!(invalid["deployment_object_id"].is_null());
        let (_, many_objects) = b
            .get(&format!("/api/v1/stacks/{many}/deployment-objects"), &g)
            .await;
        assert_eq!(many_objects.as_array().unwrap().len(), 1, "unchanged");

        let skipped = result(moved_on);
        assert_eq!(skipped["status"], "skipped", "{skipped}");
        let (_, moved_objects) = b
            .get(&format!("/api/v1/stacks/{moved_on}/deployment-objects"), &g)
            .await;
        assert_eq!(
            moved_objects[0]["id"], hand["id"],
            "a newer object is never overwritten"
        );

        // The rollout itself is audited; a second rollout finds only what is still on version 1.
        assert_eq!(
            audit_actions(&b, &id_of(&v2)).await,
            vec!["template.updated", "template.rollout_started"]
        );
        let (s, again) = b
            .post(&format!("/api/v1/templates/{t1}/rollout"), &g, json!(null))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let again_stacks: Vec<&str> = again["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stack_id"].as_str().unwrap())
            .collect();
        assert_eq!(again_stacks, vec![many.as_str()], "{again}");
        // A rollout is read through its own template only.
        let (s, _) = b
            .get(
                &format!("/api/v1/templates/{}/rollouts/{rollout_id}", id_of(&other)),
                &g,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}
