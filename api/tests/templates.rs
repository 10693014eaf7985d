//! Stack templates over real HTTP and PostgreSQL: creation checks, versioning, access rules,
//! instantiation (defaults, validation errors, label matching, provenance) and rollouts (the
//! worker's side of a rollout is tested in `jobs/tests/template_rollout.rs`).

mod common;

use common::templates::*;
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn bad_tera_and_bad_schemas_are_refused_at_creation() {
    let b = TestBroker::start().await;
    let cases = [
        (
            json!({"name": "t", "template_content": "{{ name", "parameters_schema": "{}"}),
            "Invalid Tera syntax",
        ),
        (
            json!({"name": "t", "template_content": "{% include \"x\" %}", "parameters_schema": "{}"}),
            "Invalid Tera syntax",
        ),
        (
            json!({"name": "t", "template_content": "a: b", "parameters_schema": "{not json"}),
            "Invalid JSON Schema",
        ),
        (
            json!({"name": "t", "template_content": "a: b", "parameters_schema": "{\"type\": 12}"}),
            "Invalid JSON Schema",
        ),
        (
            json!({"name": " ", "template_content": "a: b", "parameters_schema": "{}"}),
            "name",
        ),
    ];
    for (body, expected) in cases {
        let (s, v) = b.post("/api/v1/templates", &b.admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{body}: {error}");
    }
    // The same checks on update.
    let t = create_template(&b, &b.admin, template_body("web")).await;
    let (s, v) = b
        .put(
            &format!("/api/v1/templates/{}", id_of(&t)),
            &b.admin,
            json!({"template_content": "{% for %}", "parameters_schema": "{}"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(b.count("stack_templates").await, 1);
}

#[tokio::test]
async fn updates_create_versions_that_keep_labels_and_annotations() {
    let b = TestBroker::start().await;
    let v1 = create_template(&b, &b.admin, template_body("web")).await;
    assert_eq!(v1["version"], 1);
    assert!(v1["generator_id"].is_null());
    assert_eq!(v1["checksum"].as_str().unwrap().len(), 64);
    let id1 = id_of(&v1);
    let (s, _) = b
        .post(
            &format!("/api/v1/templates/{id1}/labels"),
            &b.admin,
            json!("env=production"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = b
        .post(
            &format!("/api/v1/templates/{id1}/annotations"),
            &b.admin,
            json!({"key": "tier", "value": "1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, v2) = b
        .put(
            &format!("/api/v1/templates/{id1}"),
            &b.admin,
            json!({"template_content": CONTENT.replace("ConfigMap", "Secret"), "parameters_schema": schema()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    let id2 = id_of(&v2);
    assert_ne!(id1, id2);
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["name"], "web");
    assert_eq!(
        v2["description"], "a config map",
        "description carries over"
    );
    let (_, labels) = b
        .get(&format!("/api/v1/templates/{id2}/labels"), &b.admin)
        .await;
    assert_eq!(labels[0]["label"], "env=production", "{labels}");
    assert_eq!(labels[0]["template_id"], id2.as_str());
    let (_, annotations) = b
        .get(&format!("/api/v1/templates/{id2}/annotations"), &b.admin)
        .await;
    assert_eq!(annotations[0]["key"], "tier", "{annotations}");
    // The old version stays readable; POST with the same name makes version 3.
    let (s, old) = b.get(&format!("/api/v1/templates/{id1}"), &b.admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(old["version"], 1);
    let v3 = create_template(&b, &b.admin, template_body("web")).await;
    assert_eq!(v3["version"], 3);

    // Deleting a version leaves the others; its number is not reused.
    let (s, _) = b
        .delete(&format!("/api/v1/templates/{}", id_of(&v3)), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = b
        .get(&format!("/api/v1/templates/{}", id_of(&v3)), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let v4 = create_template(&b, &b.admin, template_body("web")).await;
    assert_eq!(v4["version"], 4);
    let (_, list) = b.get("/api/v1/templates", &b.admin).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // Every change is audited.
    assert_eq!(
        audit_actions_sorted(&b, &id1).await,
        vec![
            "template.annotation_added",
            "template.created",
            "template.label_added"
        ]
    );
    assert_eq!(audit_actions(&b, &id2).await, vec!["template.updated"]);
    assert_eq!(
        audit_actions(&b, &id_of(&v3)).await,
        vec!["template.updated", "template.deleted"]
    );
}

async fn audit_actions_sorted(b: &TestBroker, id: &str) -> Vec<String> {
    let mut actions = audit_actions(b, id).await;
    actions.sort();
    actions
}

#[tokio::test]
async fn instantiation_applies_defaults_and_records_provenance_in_one_change() {
    let b = TestBroker::start().await;
    let (_, g) = b.generator("g").await;
    let stack = b.stack(&g, "s").await;
    let t = create_template(&b, &g, template_body("web")).await;
    let (s, object) = instantiate(
        &b,
        &g,
        &stack,
        json!({"template_id": id_of(&t), "parameters": {"name": "app"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{object}");
    let yaml = object["yaml_content"].as_str().unwrap();
    assert!(yaml.contains("name: app"), "{yaml}");
    assert!(
        yaml.contains("replicas: \"2\""),
        "top-level default: {yaml}"
    );
    assert!(yaml.contains("cpu: \"100m\""), "nested default: {yaml}");
    assert_eq!(object["stack_id"], stack.as_str());

    let mut conn = b.db.connect().await;
    let (template_id, version, parameters): (Uuid, i32, String) = sqlx::query_as(
        "SELECT template_id, template_version, template_parameters
           FROM rendered_deployment_objects WHERE deployment_object_id = $1::uuid",
    )
    .bind(id_of(&object))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(template_id.to_string(), id_of(&t));
    assert_eq!(version, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&parameters).unwrap(),
        json!({"name": "app"})
    );
    assert_eq!(
        audit_actions(&b, &id_of(&object)).await,
        vec!["deployment_object.created"]
    );
    // Through the normal listing too.
    let (_, list) = b
        .get(&format!("/api/v1/stacks/{stack}/deployment-objects"), &g)
        .await;
    assert_eq!(list[0]["id"], object["id"]);
}

#[tokio::test]
async fn invalid_parameters_list_each_failing_path_and_write_nothing() {
    let b = TestBroker::start().await;
    let stack = b.stack(&b.admin, "s").await;
    let t = create_template(&b, &b.admin, template_body("web")).await;
    let (s, v) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": id_of(&t), "parameters": {"replicas": 0, "resources": {"cpu": 5}}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "Invalid parameters");
    let errors: Vec<&str> = v["validation_errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors.iter().any(|e| e.starts_with("/replicas: ")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("/resources/cpu: ")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/: ") && e.contains("name")),
        "{errors:?}"
    );

    // A render error (undefined variable) and output that is not Kubernetes objects.
    let broken = create_template(
        &b,
        &b.admin,
        json!({"name": "broken", "template_content": "kind: {{ nope }}", "parameters_schema": "{}"}),
    )
    .await;
    let (s, v) = instantiate(&b, &b.admin, &stack, json!({"template_id": id_of(&broken)})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("Template rendering failed"),
        "{v}"
    );
    let not_k8s = create_template(
        &b,
        &b.admin,
        json!({"name": "plain", "template_content": "hello: world", "parameters_schema": "{}"}),
    )
    .await;
    let (s, v) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": id_of(&not_k8s)}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["document_index"], 0);
    let (s, v) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": Uuid::new_v4(), "parameters": {}}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "Template not found");
    assert_eq!(b.count("deployment_objects").await, 0);
    assert_eq!(b.count("rendered_deployment_objects").await, 0);
}

#[tokio::test]
async fn label_and_annotation_mismatch_is_422_with_what_is_missing() {
    let b = TestBroker::start().await;
    let stack = b.stack(&b.admin, "s").await;
    let t = create_template(&b, &b.admin, template_body("web")).await;
    let id = id_of(&t);
    for label in ["env=production", "tier=1"] {
        b.post(
            &format!("/api/v1/templates/{id}/labels"),
            &b.admin,
            json!(label),
        )
        .await;
    }
    b.post(
        &format!("/api/v1/templates/{id}/annotations"),
        &b.admin,
        json!({"key": "region", "value": "eu"}),
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{stack}/labels"),
        &b.admin,
        json!("env=production"),
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{stack}/annotations"),
        &b.admin,
        json!({"key": "region", "value": "us"}),
    )
    .await;
    let body = json!({"template_id": id, "parameters": {"name": "app"}});
    let (s, v) = instantiate(&b, &b.admin, &stack, body.clone()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "Template labels do not match stack");
    assert_eq!(v["missing_labels"], json!(["tier=1"]));
    assert_eq!(v["missing_annotations"], json!([["region", "eu"]]));
    assert_eq!(b.count("deployment_objects").await, 0);

    // Once the stack carries everything (and more), it matches.
    b.post(
        &format!("/api/v1/stacks/{stack}/labels"),
        &b.admin,
        json!("tier=1"),
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{stack}/labels"),
        &b.admin,
        json!("extra"),
    )
    .await;
    b.delete(
        &format!("/api/v1/stacks/{stack}/annotations/region"),
        &b.admin,
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{stack}/annotations"),
        &b.admin,
        json!({"key": "region", "value": "eu"}),
    )
    .await;
    let (s, v) = instantiate(&b, &b.admin, &stack, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn instantiation_renders_the_latest_version() {
    let b = TestBroker::start().await;
    let stack = b.stack(&b.admin, "s").await;
    let v1 = create_template(&b, &b.admin, template_body("web")).await;
    let (_, v2) = b
        .put(
            &format!("/api/v1/templates/{}", id_of(&v1)),
            &b.admin,
            json!({"template_content": CONTENT.replace("ConfigMap", "Secret"), "parameters_schema": schema()}),
        )
        .await;
    // Named by its old version's id, the template renders its latest version.
    let (s, object) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": id_of(&v1), "parameters": {"name": "app"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{object}");
    assert!(
        object["yaml_content"]
            .as_str()
            .unwrap()
            .contains("kind: Secret")
    );
    let mut conn = b.db.connect().await;
    let (template_id, version): (Uuid, i32) = sqlx::query_as(
        "SELECT template_id, template_version FROM rendered_deployment_objects
          WHERE deployment_object_id = $1::uuid",
    )
    .bind(id_of(&object))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(template_id.to_string(), id_of(&v2));
    assert_eq!(version, 2);
}

#[tokio::test]
async fn access_rules_for_system_and_generator_templates() {
    let b = TestBroker::start().await;
    let (g_id, g) = b.generator("g").await;
    let (_, h) = b.generator("h").await;
    let (_, agent) = b.agent("a").await;
    let g_stack = b.stack(&g, "gs").await;
    let h_stack = b.stack(&h, "hs").await;
    let system = create_template(&b, &b.admin, template_body("sys")).await;
    let own = create_template(&b, &g, template_body("own")).await;
    assert_eq!(own["generator_id"], g_id.as_str());
    // The admin may create a template for a generator.
    let for_g = create_template(
        &b,
        &b.admin,
        json!({"name": "for-g", "template_content": CONTENT, "parameters_schema": schema(), "generator_id": g_id}),
    )
    .await;
    assert_eq!(for_g["generator_id"], g_id.as_str());
    // A generator cannot create one for another generator.
    let (s, _) = b
        .post(
            "/api/v1/templates",
            &h,
            json!({"name": "x", "template_content": CONTENT, "parameters_schema": schema(), "generator_id": g_id}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Listing: g sees the system template and its own two; h only the system one.
    let (_, list) = b.get("/api/v1/templates", &g).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let (_, list) = b.get("/api/v1/templates", &h).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        b.get("/api/v1/templates", &agent).await.0,
        StatusCode::FORBIDDEN
    );

    let own_path = format!("/api/v1/templates/{}", id_of(&own));
    let sys_path = format!("/api/v1/templates/{}", id_of(&system));
    assert_eq!(b.get(&own_path, &h).await.0, StatusCode::NOT_FOUND);
    assert_eq!(b.get(&sys_path, &h).await.0, StatusCode::OK);
    assert_eq!(b.get(&own_path, &agent).await.0, StatusCode::FORBIDDEN);
    // Only the admin changes system templates; only the owner its own.
    let (s, _) = b.post(&format!("{sys_path}/labels"), &g, json!("x")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b.delete(&sys_path, &g).await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.delete(&own_path, &h).await.0, StatusCode::NOT_FOUND);

    let params = json!({"name": "app"});
    // g instantiates the system template and its own into its stack...
    for t in [&system, &own] {
        let (s, v) = instantiate(
            &b,
            &g,
            &g_stack,
            json!({"template_id": id_of(t), "parameters": params}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // ...but not into h's stack, and h cannot use g's template at all.
    let (s, v) = instantiate(
        &b,
        &g,
        &h_stack,
        json!({"template_id": id_of(&system), "parameters": params}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "Stack not found");
    let (s, v) = instantiate(
        &b,
        &h,
        &h_stack,
        json!({"template_id": id_of(&own), "parameters": params}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "Template not found");
    let (s, _) = instantiate(
        &b,
        &agent,
        &g_stack,
        json!({"template_id": id_of(&system), "parameters": params}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(b.count("deployment_objects").await, 2);
}

#[tokio::test]
async fn a_rollout_without_stacks_is_complete_at_once() {
    let b = TestBroker::start().await;
    let t = create_template(&b, &b.admin, template_body("web")).await;
    let (s, v) = b
        .post(
            &format!("/api/v1/templates/{}/rollout", id_of(&t)),
            &b.admin,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["stacks"], json!([]));
}

/// A template that doubles a string 40 times (a terabyte) or loops for hours gets a clear
/// error; the broker keeps its memory and its threads and serves the next request. Before
/// templates were rendered in a limited child process, the first one took the broker down.
#[tokio::test]
async fn hostile_templates_hit_the_renderers_limits_and_the_broker_goes_on() {
    let b = TestBroker::start().await;
    let stack = b.stack(&b.admin, "s").await;
    let doubling = format!(
        "{{% set s = name %}}{}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ name }}}}\n",
        "{% set s = s ~ s %}".repeat(40)
    );
    let bomb = create_template(
        &b,
        &b.admin,
        json!({"name": "bomb", "template_content": doubling, "parameters_schema": schema()}),
    )
    .await;
    let started = std::time::Instant::now();
    let (s, v) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": id_of(&bomb), "parameters": {"name": "app"}}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("limits"),
        "the error says the render was stopped at a limit: {v}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "stopped within the render time limit"
    );
    // Nothing was stored, and the broker still renders ordinary templates.
    let (_, objects) = b
        .get(
            &format!("/api/v1/stacks/{stack}/deployment-objects"),
            &b.admin,
        )
        .await;
    assert_eq!(objects.as_array().map(Vec::len), Some(0), "{objects}");
    let fine = create_template(&b, &b.admin, template_body("fine")).await;
    let (s, object) = instantiate(
        &b,
        &b.admin,
        &stack,
        json!({"template_id": id_of(&fine), "parameters": {"name": "app"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{object}");
}
