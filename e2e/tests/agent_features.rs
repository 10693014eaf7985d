//! The agent's feature tasks end to end (broker, worker and agent processes, PostgreSQL,
//! kubesim): deployment health and its `deployment.health_changed` webhook, on-demand
//! diagnostics, custom and Shipwright build work orders, and webhooks delivered by the agent.
//! Webhooks are received by a small HTTP server in the test process.
//!
//! With `BROKKR_E2E_KUBECONFIG` set they run against that cluster instead (see the harness);
//! tests needing kubesim's failure annotations, pod logs or Shipwright simulation say so and
//! return early. Namespaces are named with `h.ns(..)` so that runs do not collide.

use std::time::Duration;

use brokkr_e2e::harness::{DEFAULT_DEADLINE, Harness, Options, eventually, requires_kubesim, tail};
use brokkr_e2e::kubesim::controller::shipwright_crds;
use brokkr_e2e::receiver::Receiver;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// A 256-bit webhook encryption key for the broker and worker.
const KEY: &str = "3c1f0e2d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
const SECRET: &str = "an-agent-feature-test-secret";
/// Waits that include pod start, a health round and a webhook delivery.
const LONG: Duration = Duration::from_secs(60);

fn options() -> Options {
    let env = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    Options {
        server_env: vec![
            env("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", KEY),
            env("BROKKR__WEBHOOKS__ALLOWED_NETWORKS", "127.0.0.0/8"),
        ],
        agent_env: vec![
            env("BROKKR__AGENT__DEPLOYMENT_HEALTH_INTERVAL", "1"),
            env("BROKKR__AGENT__DIAGNOSTICS_INTERVAL", "1"),
            env("BROKKR__AGENT__WEBHOOK_INTERVAL", "1"),
        ],
        ..Options::default()
    }
}

async fn start() -> Harness {
    Harness::start(options()).await.expect("harness starts")
}

/// Subscribes `url` to `event_types` (optionally delivered by agents with `target_labels`).
async fn subscribe(h: &Harness, url: &str, event_types: &[&str], labels: Option<&[&str]>) -> Uuid {
    let mut body = json!({
        "name": format!("e2e-{}", Uuid::new_v4().simple()),
        "url": url,
        "event_types": event_types,
        "secret": SECRET,
        "auth_header": "Bearer receiver-token",
        "timeout_seconds": 5,
    });
    if let Some(labels) = labels {
        body["target_labels"] = json!(labels);
    }
    let (status, sub) = h
        .api(Method::POST, "/api/v1/webhooks", Some(body))
        .await
        .unwrap();
    assert_eq!(status, 201, "{sub}");
    sub["id"].as_str().unwrap().parse().unwrap()
}

/// A namespace with a Deployment whose pods fail as `fail` (kubesim annotation).
fn failing_app(namespace: &str, fail: &str, replicas: u32) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: {namespace}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: app}}
  template:
    metadata:
      labels: {{app: app}}
      annotations:
        kubesim.brokkr.io/fail: {fail}
    spec:
      containers:
      - name: main
        image: example.com/app:1
"
    )
}

async fn deploy(h: &Harness, name: &str, yaml: &str) -> Value {
    let stack = h.create_stack(name).await.unwrap();
    let object = h.post_deployment(stack, yaml).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    object
}

/// Waits until the broker's overall health of `object` is `status`; returns the response.
async fn wait_for_health(h: &Harness, object: &Value, status: &str) -> Value {
    let path = format!(
        "/api/v1/deployment-objects/{}/health",
        object["id"].as_str().unwrap()
    );
    let waited = eventually(
        &format!("health {status} for {}", object["id"]),
        LONG,
        || {
            let path = path.clone();
            async move {
                let (code, health) = h
                    .api(Method::GET, &path, None)
                    .await
                    .map_err(|e| e.to_string())?;
                if code == 200 && health["overall_status"] == status {
                    Ok(health)
                } else {
                    Err(format!("{code} {health}"))
                }
            }
        },
    )
    .await;
    waited.unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", tail(&h.agent_log(), 40)))
}

#[tokio::test]
async fn crashing_pods_are_degraded_failed_pods_failing_and_health_changes_reach_a_webhook() {
    if requires_kubesim(
        "its pods fail through kubesim's failure annotation (CrashLoopBackOff, Failed)",
    ) {
        return;
    }
    let h = start().await;
    let receiver = Receiver::start().await;
    subscribe(&h, &receiver.url(), &["deployment.health_changed"], None).await;

    let crashing = deploy(
        &h,
        "crashing",
        &failing_app(&h.ns("crashing"), "CrashLoopBackOff", 2),
    )
    .await;
    let broken = deploy(&h, "broken", &failing_app(&h.ns("broken"), "Failed", 1)).await;

    let health = wait_for_health(&h, &crashing, "degraded").await;
    let record = &health["health_records"][0];
    assert_eq!(record["agent_id"], h.agent_id.to_string());
    let summary: Value = serde_json::from_str(record["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["pods_total"], 2, "{summary}");
    assert_eq!(summary["pods_ready"], 0, "{summary}");
    assert!(
        summary["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!("CrashLoopBackOff")),
        "{summary}"
    );
    assert_eq!(summary["resources"][0]["kind"], "Pod", "{summary}");

    let health = wait_for_health(&h, &broken, "failing").await;
    let summary: Value =
        serde_json::from_str(health["health_records"][0]["summary"].as_str().unwrap()).unwrap();
    assert!(
        summary["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!("PodFailed")),
        "{summary}"
    );

    for (object, status) in [(&crashing, "degraded"), (&broken, "failing")] {
        let id = object["id"].clone();
        let got = receiver
            .wait_for(&format!("deployment.health_changed {status}"), |r| {
                r.body["event_type"] == "deployment.health_changed"
                    && r.body["data"]["deployment_object_id"] == id
                    && r.body["data"]["status"] == status
            })
            .await;
        assert_eq!(
            got.header("X-Brokkr-Event-Type"),
            Some("deployment.health_changed")
        );
        assert!(got.header("X-Brokkr-Signature-256").is_some());
    }
}

#[tokio::test]
async fn a_diagnostic_request_returns_pods_events_and_logs() {
    if requires_kubesim("it checks kubesim's failing pod, its events and its simulated log lines") {
        return;
    }
    let h = start().await;
    let ns = h.ns("diag");
    let object = deploy(&h, "diag", &failing_app(&ns, "CrashLoopBackOff", 1)).await;
    // Let the pod reach its failure state first.
    wait_for_health(&h, &object, "degraded").await;

    let (status, request) = h
        .api(
            Method::POST,
            &format!(
                "/api/v1/deployment-objects/{}/diagnostics",
                object["id"].as_str().unwrap()
            ),
            Some(json!({"agent_id": h.agent_id, "requested_by": "e2e"})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{request}");
    let path = format!("/api/v1/diagnostics/{}", request["id"].as_str().unwrap());
    let done = eventually("the diagnostic result", LONG, || {
        let path = path.clone();
        let h = &h;
        async move {
            let (_, answer) = h
                .api(Method::GET, &path, None)
                .await
                .map_err(|e| e.to_string())?;
            if answer["result"].is_object() {
                Ok(answer)
            } else {
                Err(answer.to_string())
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", tail(&h.agent_log(), 40)));
    assert_eq!(done["request"]["status"], "completed", "{done}");
    let result = &done["result"];
    let pods: Value = serde_json::from_str(result["pod_statuses"].as_str().unwrap()).unwrap();
    let pods = pods.as_array().unwrap();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert_eq!(pods[0]["namespace"], ns.as_str());
    assert_eq!(pods[0]["containers"][0]["name"], "main");
    assert_eq!(pods[0]["containers"][0]["state_reason"], "CrashLoopBackOff");
    assert!(pods[0]["containers"][0]["restart_count"].as_i64().unwrap() > 0);

    let events: Value = serde_json::from_str(result["events"].as_str().unwrap()).unwrap();
    let events = events.as_array().unwrap();
    assert!(!events.is_empty(), "no events");
    let pod_name = pods[0]["name"].clone();
    assert!(
        events.iter().any(|e| e["involved_object"] == pod_name),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e.get("error").is_none()),
        "{events:?}"
    );

    let tails: Value =
        serde_json::from_str(result["log_tails"].as_str().unwrap_or("null")).unwrap();
    let key = format!("{}/main", pod_name.as_str().unwrap());
    let log = tails[&key].as_str().unwrap_or_default();
    assert!(log.contains("simulated failure"), "{tails}");
}

#[tokio::test]
async fn a_custom_work_order_completes_and_its_webhook_arrives() {
    let h = start().await;
    let receiver = Receiver::start().await;
    subscribe(&h, &receiver.url(), &["workorder.completed"], None).await;

    let tools = h.ns("tools");
    let yaml = format!(
        "apiVersion: v1
kind: ConfigMap
metadata: {{name: from-work-order, namespace: {tools}}}
data: {{answer: '42'}}
---
apiVersion: v1
kind: Namespace
metadata: {{name: {tools}}}
"
    );
    let (status, order) = h
        .api(
            Method::POST,
            "/api/v1/work-orders",
            Some(json!({"work_type": "custom", "yaml_content": yaml,
                        "targeting": {"agent_ids": [h.agent_id]}})),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let log = wait_for_log(&h, &id).await;
    assert_eq!(log["success"], true, "{log}");
    assert_eq!(log["result_message"], "Applied 2 resource(s)");
    let cms: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &tools);
    let cm = cms.get("from-work-order").await.unwrap();
    assert_eq!(cm.data.unwrap_or_default()["answer"], "42");

    let got = receiver
        .wait_for("workorder.completed", |r| {
            r.body["event_type"] == "workorder.completed" && r.body["data"]["work_order_id"] == id
        })
        .await;
    assert_eq!(got.body["data"]["success"], true);
    assert_eq!(got.header("Authorization"), Some("Bearer receiver-token"));

    let metrics = agent_metrics(&h).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("brokkr_agent_work_orders_total{")
                && l.contains("work_type=\"custom\"")
                && l.contains("outcome=\"success\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
}

async fn agent_metrics(h: &Harness) -> String {
    let url = format!("{}/metrics", h.agent_health().unwrap());
    h.http.get(url).send().await.unwrap().text().await.unwrap()
}

/// Waits for a work order's log entry.
async fn wait_for_log(h: &Harness, id: &str) -> Value {
    let path = format!("/api/v1/work-order-log/{id}");
    let waited = eventually(&format!("work order {id} finished"), LONG, || {
        let path = path.clone();
        async move {
            let (code, log) = h
                .api(Method::GET, &path, None)
                .await
                .map_err(|e| e.to_string())?;
            if code == 200 {
                Ok(log)
            } else {
                Err(format!("{code} {log}"))
            }
        }
    })
    .await;
    waited.unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", tail(&h.agent_log(), 40)))
}

const BUILD: &str = "apiVersion: shipwright.io/v1beta1
kind: Build
metadata:
  name: NAME
  namespace: default
  annotations: ANNOTATIONS
spec:
  source:
    type: Git
    git: {url: 'https://example.com/app.git'}
  strategy: {name: buildah, kind: ClusterBuildStrategy}
  output: {image: registry.example.com/app}
";

async fn build_order(h: &Harness, name: &str, annotations: &str) -> String {
    let yaml = BUILD
        .replace("NAME", name)
        .replace("ANNOTATIONS", annotations);
    let (status, order) = h
        .api(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"work_type": "build", "yaml_content": yaml, "max_retries": 0,
                        "targeting": {"agent_ids": [h.agent_id]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{order}");
    order["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_build_work_order_reports_the_digest_and_a_failing_build_its_reason() {
    if requires_kubesim("Shipwright BuildRuns finish (or fail by annotation) only in kubesim") {
        return;
    }
    let h = start().await;
    // Shipwright is "installed": kubesim serves Build/BuildRun once their CRDs exist.
    let crds: Api<CustomResourceDefinition> = Api::all(h.kube.clone());
    for crd in shipwright_crds() {
        let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }

    let good = build_order(&h, "app", "{}").await;
    let bad = build_order(&h, "broken", "{kubesim.brokkr.io/fail: StepFailed}").await;

    let log = wait_for_log(&h, &good).await;
    assert_eq!(log["success"], true, "{log}");
    let digest = log["result_message"].as_str().unwrap();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    let log = wait_for_log(&h, &bad).await;
    assert_eq!(log["success"], false, "{log}");
    let message = log["result_message"].as_str().unwrap();
    assert!(message.contains("StepFailed"), "{message}");

    // Each BuildRun is labelled with its work order.
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "shipwright.io",
        "v1beta1",
        "BuildRun",
    ));
    let runs: Api<DynamicObject> = Api::namespaced_with(h.kube.clone(), "default", &resource);
    let listed = runs
        .list(&ListParams::default().labels(&format!("brokkr.io/work-order-id={good}")))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].data["status"]["output"]["digest"],
        json!(digest)
    );
}

#[tokio::test]
async fn an_agent_targeted_webhook_is_delivered_by_the_agent_and_recorded_as_success() {
    let h = start().await;
    let (status, label) = h
        .api(
            Method::POST,
            &format!("/api/v1/agents/{}/labels", h.agent_id),
            Some(json!("edge")),
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{status} {label}");
    let receiver = Receiver::start().await;
    let subscription = subscribe(
        &h,
        &receiver.url(),
        &["deployment.applied"],
        Some(&["edge"]),
    )
    .await;

    let ns = h.create_namespace("edge").await.unwrap();
    let object = deploy(
        &h,
        "edge-app",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: edge, namespace: {ns}}}\ndata: {{a: b}}\n"
        ),
    )
    .await;
    let id = object["id"].clone();
    let got = receiver
        .wait_for("deployment.applied delivered by the agent", |r| {
            r.body["event_type"] == "deployment.applied"
                && r.body["data"]["deployment_object_id"] == id
        })
        .await;
    assert_eq!(
        got.header("X-Brokkr-Event-Type"),
        Some("deployment.applied")
    );
    assert_eq!(got.header("Authorization"), Some("Bearer receiver-token"));
    assert!(got.header("X-Brokkr-Signature-256").is_some());
    assert!(got.header("webhook-signature").is_some());
    let delivery_id = got.header("X-Brokkr-Delivery-Id").unwrap().to_owned();

    let path = format!("/api/v1/webhook-deliveries/{delivery_id}");
    let detail = eventually("the delivery recorded as success", DEFAULT_DEADLINE, || {
        let path = path.clone();
        let h = &h;
        async move {
            let (_, detail) = h
                .api(Method::GET, &path, None)
                .await
                .map_err(|e| e.to_string())?;
            if detail["status"] == "success" {
                Ok(detail)
            } else {
                Err(detail.to_string())
            }
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", tail(&h.agent_log(), 40)));
    assert_eq!(detail["subscription_id"], subscription.to_string());
    let attempts = detail["attempts_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{detail}");
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(
        attempts[0]["delivered_by"],
        format!("agent:{}", h.agent_id),
        "delivered by the agent, not a worker"
    );
    let metrics = agent_metrics(&h).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("brokkr_agent_webhook_deliveries_total{outcome=\"success\"}")),
        "{metrics}"
    );
    // The agent logs neither the destination nor the credentials.
    let log = h.agent_log();
    assert!(!log.contains("receiver-token"));
    assert!(!log.contains(&receiver.url()));
}

#[tokio::test]
async fn objects_without_pods_are_healthy_and_a_deployment_scaled_to_zero_unknown() {
    let h = start().await;
    let ns = h.create_namespace("config-only").await.unwrap();
    let config = deploy(
        &h,
        "config-only",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {ns}}}\ndata: {{a: b}}\n"
        ),
    )
    .await;
    let idle = deploy(&h, "idle", &failing_app(&h.ns("idle"), "''", 0)).await;

    let health = wait_for_health(&h, &config, "healthy").await;
    let summary: Value =
        serde_json::from_str(health["health_records"][0]["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["pods_total"], 0, "{summary}");
    assert_eq!(summary["conditions"], json!([]), "{summary}");

    let health = wait_for_health(&h, &idle, "unknown").await;
    let record = &health["health_records"][0];
    assert_eq!(record["status"], "unknown", "{health}");
    let summary: Value = serde_json::from_str(record["summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["conditions"], json!(["NoPods"]), "{summary}");
}

#[tokio::test]
async fn an_invalid_custom_work_order_fails_at_once_without_retries() {
    let h = start().await;
    let yaml = "apiVersion: gadgets.example.com/v1\nkind: Gadget\nmetadata: {name: g, namespace: default}\n";
    let (status, order) = h
        .api(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"work_type": "custom", "yaml_content": yaml, "max_retries": 3,
                        "backoff_seconds": 1, "targeting": {"agent_ids": [h.agent_id]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let log = wait_for_log(&h, &id).await;
    assert_eq!(log["success"], false, "{log}");
    assert_eq!(log["retries_attempted"], 0, "not retryable: {log}");
    let message = log["result_message"].as_str().unwrap();
    assert!(
        message.contains("Gadget") && message.contains("not served"),
        "{message}"
    );

    let (status, order) = h
        .api(
            Method::POST,
            "/api/v1/work-orders",
            Some(
                json!({"work_type": "reboot", "yaml_content": "x: 1", "max_retries": 3,
                        "targeting": {"agent_ids": [h.agent_id]}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{order}");
    let log = wait_for_log(&h, order["id"].as_str().unwrap()).await;
    assert_eq!(log["success"], false, "{log}");
    assert_eq!(log["retries_attempted"], 0, "{log}");
    assert_eq!(log["result_message"], "Unknown work type: reboot");
}
