//! The agent end to end: broker, worker and agent processes, PostgreSQL and kubesim, checked the
//! way a user would (API responses, objects in the cluster, the agent's own endpoints).
//!
//! With `BROKKR_E2E_KUBECONFIG` set they run against that cluster instead (see the harness);
//! tests needing kubesim's fault injection say so and return early. Namespaces are named with
//! `h.ns(..)` so that runs do not collide.

use std::time::Duration;

use brokkr_e2e::harness::{DEFAULT_DEADLINE, Harness, Options, eventually, requires_kubesim};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams};
use serde_json::json;

const LABEL_STACK: &str = "k8s.brokkr.io/stack";

/// A namespace `ns` with a Deployment and a Service `web`, optionally the ConfigMap
/// `shop-config`.
fn shop(ns: &str, replicas: u32, with_config: bool) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n");
    if with_config {
        yaml.push_str(&format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-config\n  namespace: {ns}\n  labels: {{team: payments}}\ndata:\n  color: blue\n---\n",
        ));
    }
    yaml.push_str(&format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
"
    ));
    yaml
}

async fn start(options: Options) -> Harness {
    Harness::start(options).await.expect("harness starts")
}

async fn configmap(h: &Harness, ns: &str, name: &str) -> Option<ConfigMap> {
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), ns);
    api.get_opt(name).await.ok().flatten()
}

async fn deployment(h: &Harness, ns: &str, name: &str) -> Option<Deployment> {
    let api: Api<Deployment> = Api::namespaced(h.kube.clone(), ns);
    api.get_opt(name).await.ok().flatten()
}

async fn namespace_gone(h: &Harness, name: &str) -> bool {
    let api: Api<Namespace> = Api::all(h.kube.clone());
    match api.get_opt(name).await {
        Ok(None) => true,
        Ok(Some(ns)) => ns.metadata.deletion_timestamp.is_some(),
        Err(_) => false,
    }
}

#[tokio::test]
async fn quick_start_applies_a_multi_document_object_and_reports_success() {
    let h = start(Options::default()).await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 2, true)).await.unwrap();
    let event = h.wait_for_event(&object, "SUCCESS").await.unwrap();
    assert_eq!(event["event_type"], "DEPLOY");

    let cm = configmap(&h, &ns, "shop-config")
        .await
        .expect("ConfigMap applied");
    let labels = cm.metadata.labels.unwrap_or_default();
    assert_eq!(labels["team"], "payments", "user labels kept");
    assert_eq!(labels[LABEL_STACK], stack.to_string());
    let web = deployment(&h, &ns, "web")
        .await
        .expect("Deployment applied");
    let template = web.spec.template.metadata.unwrap_or_default();
    assert_eq!(
        template.labels.unwrap_or_default()[LABEL_STACK],
        stack.to_string(),
        "pod template carries the stack label"
    );
    let services: Api<Service> = Api::namespaced(h.kube.clone(), &ns);
    assert!(services.get_opt("web").await.unwrap().is_some());

    assert!(h.agent_log().contains("connected to broker"));
    let health = h.agent_health().unwrap().to_owned();
    let ready = eventually("agent /readyz 200", DEFAULT_DEADLINE, || {
        let url = format!("{health}/readyz");
        let http = h.http.clone();
        async move {
            let r = http.get(url).send().await.map_err(|e| e.to_string())?;
            if r.status() == 200 {
                Ok(())
            } else {
                Err(r.text().await.unwrap_or_default())
            }
        }
    })
    .await;
    ready.unwrap();
    let detail: serde_json::Value = h
        .http
        .get(format!("{health}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "healthy", "{detail}");
    assert_eq!(detail["kubernetes"]["connected"], true);
    assert_eq!(detail["broker"]["connected"], true);
    let metrics = h
        .http
        .get(format!("{health}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(
        "brokkr_agent_kubernetes_operations_total{operation=\"apply\",outcome=\"success\"}"
    ));
    assert!(metrics.contains("brokkr_agent_poll_requests_total{status=\"success\"}"));
}

#[tokio::test]
async fn an_update_changes_the_replicas() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    let second = h.post_deployment(stack, &shop(&ns, 3, true)).await.unwrap();
    h.wait_for_event(&second, "SUCCESS").await.unwrap();
    let replicas = eventually("replicas 3", DEFAULT_DEADLINE, || async {
        let d = deployment(&h, &ns, "web").await.ok_or("no deployment")?;
        match d.spec.replicas {
            Some(3) => Ok(3),
            other => Err(format!("{other:?}")),
        }
    })
    .await
    .unwrap();
    assert_eq!(replicas, 3);
}

#[tokio::test]
async fn a_resource_removed_from_the_stack_is_pruned() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    assert!(configmap(&h, &ns, "shop-config").await.is_some());
    let second = h
        .post_deployment(stack, &shop(&ns, 1, false))
        .await
        .unwrap();
    h.wait_for_event(&second, "SUCCESS").await.unwrap();
    eventually("the ConfigMap pruned", DEFAULT_DEADLINE, || async {
        match configmap(&h, &ns, "shop-config").await {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await
    .unwrap();
    assert!(deployment(&h, &ns, "web").await.is_some(), "the rest stays");
}

#[tokio::test]
async fn a_deletion_marker_removes_everything() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    let marker = h.post_deletion_marker(stack).await.unwrap();
    h.wait_for_event(&marker, "SUCCESS").await.unwrap();
    eventually("the stack's objects removed", DEFAULT_DEADLINE, || async {
        let cm = configmap(&h, &ns, "shop-config").await.is_some();
        let web = deployment(&h, &ns, "web").await.is_some();
        let left = !namespace_gone(&h, &ns).await;
        if cm || web || left {
            Err(format!(
                "configmap {cm}, deployment {web}, namespace {left}"
            ))
        } else {
            Ok(())
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_deployment_object_without_objects_removes_everything() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    // An empty desired state (comments and separators only) is accepted and applied as such.
    let empty = h
        .post_deployment(stack, "# nothing runs here any more\n---\n")
        .await
        .unwrap();
    h.wait_for_event(&empty, "SUCCESS").await.unwrap();
    eventually("the stack's objects removed", DEFAULT_DEADLINE, || async {
        let cm = configmap(&h, &ns, "shop-config").await.is_some();
        let web = deployment(&h, &ns, "web").await.is_some();
        let left = !namespace_gone(&h, &ns).await;
        if cm || web || left {
            Err(format!(
                "configmap {cm}, deployment {web}, namespace {left}"
            ))
        } else {
            Ok(())
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_object_deleted_behind_the_agents_back_comes_back() {
    let h = start(Options {
        worker: false,
        reconcile_interval: 2,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &ns);
    api.delete("shop-config", &DeleteParams::default())
        .await
        .unwrap();
    assert!(configmap(&h, &ns, "shop-config").await.is_none());
    eventually("the ConfigMap re-applied", DEFAULT_DEADLINE, || async {
        configmap(&h, &ns, "shop-config")
            .await
            .map(|_| ())
            .ok_or_else(|| "still missing".to_string())
    })
    .await
    .unwrap();
    // The correction is reported as an event of its own...
    let events = eventually("a DRIFT_CORRECTED event", DEFAULT_DEADLINE, || async {
        let events = h.events_for(&object).await.map_err(|e| e.to_string())?;
        if events.iter().any(|e| e["event_type"] == "DRIFT_CORRECTED") {
            Ok(events)
        } else {
            Err(format!("events so far: {events:?}"))
        }
    })
    .await
    .unwrap();
    // ...and drift passes do not repeat the SUCCESS event of the apply.
    let applies: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event_type"] == "DEPLOY")
        .collect();
    assert_eq!(applies.len(), 1, "one SUCCESS event only: {events:?}");
}

#[tokio::test]
async fn the_agent_keeps_working_after_the_broker_restarts() {
    let mut h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();

    h.kill_broker().await.unwrap();
    let health = h.agent_health().unwrap().to_owned();
    eventually(
        "agent /readyz 503 while the broker is down",
        DEFAULT_DEADLINE,
        || {
            let (http, url) = (h.http.clone(), format!("{health}/readyz"));
            async move {
                let r = http.get(url).send().await.map_err(|e| e.to_string())?;
                if r.status() == 503 {
                    Ok(())
                } else {
                    Err(r.status().to_string())
                }
            }
        },
    )
    .await
    .unwrap();
    h.start_broker().await.unwrap();

    let second = h.post_deployment(stack, &shop(&ns, 4, true)).await.unwrap();
    h.wait_for_event(&second, "SUCCESS").await.unwrap();
    eventually("replicas 4 after the restart", DEFAULT_DEADLINE, || async {
        let d = deployment(&h, &ns, "web").await.ok_or("no deployment")?;
        (d.spec.replicas == Some(4))
            .then_some(())
            .ok_or_else(|| format!("{:?}", d.spec.replicas))
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn kubernetes_api_failing_with_429_and_503_for_a_while_ends_in_success() {
    if requires_kubesim("injects 429 and 503 answers with kubesim's fault API") {
        return;
    }
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    h.inject_fault(json!({"fail_next": 3, "status": 429, "retry_after_seconds": 1}))
        .await
        .unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    h.inject_fault(json!({"fail_next": 4, "status": 503}))
        .await
        .unwrap();
    let second = h.post_deployment(stack, &shop(&ns, 2, true)).await.unwrap();
    h.wait_for_event(&second, "SUCCESS").await.unwrap();

    let counts = h.kube_requests().await.unwrap();
    assert_eq!(
        counts["faults_injected"], 7,
        "every fault was hit: {counts}"
    );
    for object in [&first, &second] {
        let events = h.events_for(object).await.unwrap();
        assert!(
            events.iter().all(|e| e["status"] == "SUCCESS"),
            "no FAILURE on the way: {events:?}"
        );
    }
    assert_eq!(
        deployment(&h, &ns, "web").await.unwrap().spec.replicas,
        Some(2)
    );
}

#[tokio::test]
async fn a_malformed_document_fails_its_deployment_object_and_other_stacks_continue() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.create_namespace("malformed").await.unwrap();
    let in_ns = |yaml: &str| yaml.replace("namespace: default", &format!("namespace: {ns}"));
    let broken = h.create_stack("broken").await.unwrap();
    let healthy = h.create_stack("healthy").await.unwrap();
    // The broker accepts it (apiVersion, kind and name are there), but document 1's labels
    // are not a map of strings, so it is not a Kubernetes object.
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, namespace: default}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\n  namespace: default\n  labels:\n    tier: {nested: map}\n";
    let bad_object = h.post_deployment(broken, &in_ns(bad)).await.unwrap();
    let event = h.wait_for_event(&bad_object, "FAILURE").await.unwrap();
    let message = event["message"].as_str().unwrap_or_default();
    assert!(message.contains("document 1"), "{message}");
    assert!(
        configmap(&h, &ns, "fine").await.is_none(),
        "nothing of it applied"
    );

    let good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good, namespace: default}\ndata: {a: b}\n";
    let good_object = h.post_deployment(healthy, &in_ns(good)).await.unwrap();
    h.wait_for_event(&good_object, "SUCCESS").await.unwrap();
    assert!(configmap(&h, &ns, "good").await.is_some());

    // An unknown kind fails too, naming the document, and the agent keeps serving.
    let unknown = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, namespace: default}\n---\napiVersion: nowhere.example.com/v1\nkind: Gizmo\nmetadata: {name: g, namespace: default}\n";
    let unknown_object = h.post_deployment(broken, &in_ns(unknown)).await.unwrap();
    let event = h.wait_for_event(&unknown_object, "FAILURE").await.unwrap();
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("document 1"),
        "{event}"
    );
    let again = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good, namespace: default}\ndata: {a: c}\n";
    let again_object = h.post_deployment(healthy, &in_ns(again)).await.unwrap();
    h.wait_for_event(&again_object, "SUCCESS").await.unwrap();
    let healthz = h
        .http
        .get(format!("{}/healthz", h.agent_health().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200, "the agent is still running");
}

#[tokio::test]
async fn sigterm_stops_the_agent_cleanly() {
    let mut h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let started = std::time::Instant::now();
    let status = h.stop_agent().await.unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        h.agent_log().contains("shutdown complete"),
        "{}",
        h.agent_log()
    );
}

async fn heartbeats(h: &Harness) -> u64 {
    let Ok(health) = h.agent_health() else {
        return 0;
    };
    let text = match h.http.get(format!("{health}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => return 0,
    };
    text.lines()
        .find_map(|l| l.strip_prefix("brokkr_agent_heartbeat_sent_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn an_inactive_agent_applies_nothing_until_it_is_active_again() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let path = format!("/api/v1/agents/{}", h.agent_id);
    let (status, _) = h
        .api(
            reqwest::Method::PUT,
            &path,
            Some(json!({"status": "INACTIVE"})),
        )
        .await
        .unwrap();
    assert!(status.is_success());
    let health = h.agent_health().unwrap().to_owned();
    eventually("the agent sees it is inactive", DEFAULT_DEADLINE, || {
        let (http, url) = (h.http.clone(), format!("{health}/health"));
        async move {
            let v: serde_json::Value = http
                .get(url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            (v["active"] == false).then_some(()).ok_or(v.to_string())
        }
    })
    .await
    .unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    // Two more heartbeats (and agent record refreshes) go by without any apply.
    let seen = heartbeats(&h).await;
    eventually("two more heartbeats", DEFAULT_DEADLINE, || async {
        let now = heartbeats(&h).await;
        (now >= seen + 2).then_some(()).ok_or(now.to_string())
    })
    .await
    .unwrap();
    assert!(
        deployment(&h, &ns, "web").await.is_none(),
        "nothing applied while inactive"
    );
    assert!(h.events_for(&object).await.unwrap().is_empty());

    let (status, _) = h
        .api(
            reqwest::Method::PUT,
            &path,
            Some(json!({"status": "ACTIVE"})),
        )
        .await
        .unwrap();
    assert!(status.is_success());
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    assert!(deployment(&h, &ns, "web").await.is_some());
}

#[tokio::test]
async fn a_restarted_agent_reapplies_without_repeating_events() {
    let mut h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    h.stop_agent().await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &ns);
    api.delete("shop-config", &DeleteParams::default())
        .await
        .unwrap();
    h.start_agent().await.unwrap();
    eventually(
        "the restarted agent re-applies the full state",
        DEFAULT_DEADLINE,
        || async {
            configmap(&h, &ns, "shop-config")
                .await
                .map(|_| ())
                .ok_or_else(|| "still missing".to_string())
        },
    )
    .await
    .unwrap();
    // A later object of another stack marks the end of the first pass.
    let other = h.create_stack("other").await.unwrap();
    let marker = h
        .post_deployment(
            other,
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: other, namespace: {ns}}}\n"
            ),
        )
        .await
        .unwrap();
    h.wait_for_event(&marker, "SUCCESS").await.unwrap();
    // The ConfigMap deleted while the agent was away is a drift correction (an event of its
    // own); the apply's SUCCESS is not reported again.
    let events = h.events_for(&object).await.unwrap();
    let applies = events
        .iter()
        .filter(|e| e["event_type"] == "DEPLOY")
        .count();
    assert_eq!(applies, 1, "not reported again: {events:?}");
}

#[tokio::test]
async fn plain_polling_without_long_polls_still_applies_changes() {
    let h = start(Options {
        worker: false,
        agent_env: vec![("BROKKR__AGENT__LONG_POLL_WAIT".into(), "0".into())],
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    let second = h
        .post_deployment(stack, &shop(&ns, 2, false))
        .await
        .unwrap();
    h.wait_for_event(&second, "SUCCESS").await.unwrap();
    assert_eq!(
        deployment(&h, &ns, "web").await.unwrap().spec.replicas,
        Some(2)
    );
    assert!(configmap(&h, &ns, "shop-config").await.is_none());
}

#[tokio::test]
async fn readyz_reports_an_unreachable_kubernetes_api_and_recovers() {
    if requires_kubesim("makes the Kubernetes API refuse connections with kubesim's fault API") {
        return;
    }
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let url = format!("{}/readyz", h.agent_health().unwrap());
    let probe = |want: u16| {
        let (http, url) = (h.http.clone(), url.clone());
        async move {
            let r = http.get(url).send().await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            if status == want {
                Ok(body)
            } else {
                Err(format!("{status} {body}"))
            }
        }
    };
    eventually("ready", DEFAULT_DEADLINE, || probe(200))
        .await
        .unwrap();
    h.inject_fault(json!({"refuse_connections_ms": 4000}))
        .await
        .unwrap();
    let reason = eventually(
        "503 while Kubernetes refuses connections",
        DEFAULT_DEADLINE,
        || probe(503),
    )
    .await
    .unwrap();
    assert!(reason.contains("Kubernetes"), "{reason}");
    eventually("ready again", DEFAULT_DEADLINE, || probe(200))
        .await
        .unwrap();
}

#[tokio::test]
async fn sighup_reloads_the_drift_interval() {
    let dir = std::env::temp_dir().join(format!("brokkr-agent-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("agent-{}.toml", uuid::Uuid::new_v4().simple()));
    let config = |drift: u64| {
        format!("[agent]\npolling_interval = 1\nlong_poll_wait = 2\nreconcile_interval = {drift}\n")
    };
    std::fs::write(&file, config(3600)).unwrap();
    let h = start(Options {
        worker: false,
        agent_config_file: Some(file.clone()),
        agent_env: vec![("BROKKR_CONFIG_WATCHER_ENABLED".into(), "false".into())],
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();

    std::fs::write(&file, config(1)).unwrap();
    h.signal_agent("HUP").unwrap();
    eventually("the reload logged", DEFAULT_DEADLINE, || async {
        let log = h.agent_log();
        log.contains("configuration reloaded")
            .then_some(())
            .ok_or_else(|| brokkr_e2e::harness::tail(&log, 5))
    })
    .await
    .unwrap();
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &ns);
    api.delete("shop-config", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the ConfigMap re-applied by a drift pass",
        DEFAULT_DEADLINE,
        || async {
            configmap(&h, &ns, "shop-config")
                .await
                .map(|_| ())
                .ok_or_else(|| "still missing".to_string())
        },
    )
    .await
    .unwrap();
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn deleting_a_stack_removes_its_objects() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    let ns = h.ns("shop");
    let stack = h.create_stack("shop").await.unwrap();
    let first = h.post_deployment(stack, &shop(&ns, 1, true)).await.unwrap();
    h.wait_for_event(&first, "SUCCESS").await.unwrap();
    let (status, body) = h
        .call(
            &h.generator_pak,
            reqwest::Method::DELETE,
            &format!("/api/v1/stacks/{stack}"),
            None,
        )
        .await
        .unwrap();
    assert!(status.is_success(), "{status} {body}");
    eventually(
        "the deleted stack's objects removed",
        DEFAULT_DEADLINE,
        || async {
            let web = deployment(&h, &ns, "web").await.is_some();
            let left = !namespace_gone(&h, &ns).await;
            if web || left {
                Err(format!("deployment {web}, namespace {left}"))
            } else {
                Ok(())
            }
        },
    )
    .await
    .unwrap();
    // The deletion marker the broker created is reported as applied.
    let marker_success = eventually(
        "a SUCCESS event for the deletion marker",
        DEFAULT_DEADLINE,
        || async {
            let events = h.events().await.map_err(|e| e.to_string())?;
            events
                .iter()
                .find(|e| e["status"] == "SUCCESS" && e["deployment_object_id"] != first["id"])
                .cloned()
                .ok_or_else(|| format!("{events:?}"))
        },
    )
    .await;
    marker_success.unwrap();
}

/// The real-cluster path of the harness (`BROKKR_E2E_KUBECONFIG`), exercised with a kubesim the
/// test starts itself standing in for the external cluster: the harness starts no simulator of
/// its own, the tests' client and the agent use the given kubeconfig, kubesim-only helpers
/// refuse, and the namespaces the test named are deleted when the harness is dropped.
#[tokio::test]
async fn the_harness_uses_an_external_cluster_given_its_kubeconfig() {
    let external = brokkr_e2e::kubesim::KubeSim::start()
        .await
        .expect("kubesim starts");
    let h = start(Options {
        worker: false,
        external_kubeconfig: Some(external.kubeconfig_path().to_path_buf()),
        ..Options::default()
    })
    .await;
    assert!(
        h.is_external() && h.sim().is_none(),
        "no simulator of its own"
    );
    assert_eq!(h.kubeconfig_path(), external.kubeconfig_path());
    let refused = h
        .inject_fault(json!({"fail_next": 1, "status": 503}))
        .await
        .expect_err("no fault injection on an external cluster");
    assert!(refused.to_string().contains("needs kubesim"), "{refused}");
    assert!(h.kube_requests().await.is_err());

    let ns = h.ns("shop");
    assert!(
        ns.starts_with("shop-") && ns.len() == "shop-".len() + 8,
        "unique suffix: {ns}"
    );
    assert_ne!(ns, start_namespace_of_another_harness(&external).await);
    let stack = h.create_stack("shop").await.unwrap();
    let object = h.post_deployment(stack, &shop(&ns, 2, true)).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    // Applied by the agent into the external cluster, seen with a client of the cluster's own.
    let client = external.client().await.unwrap();
    let web: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let web = web
        .get("web")
        .await
        .expect("Deployment in the external cluster");
    assert_eq!(web.spec.replicas, Some(2));
    assert!(deployment(&h, &ns, "web").await.is_some());
    let other = h.create_namespace("extra").await.unwrap();
    assert_eq!(h.namespaces(), vec![ns.clone(), other.clone()]);

    drop(h);
    let namespaces: Api<Namespace> = Api::all(client);
    for name in [&ns, &other] {
        let gone = match namespaces.get_opt(name).await.unwrap() {
            None => true,
            Some(n) => n.metadata.deletion_timestamp.is_some(),
        };
        assert!(gone, "namespace {name} deleted with the harness");
    }
}

/// The `shop` namespace name of a second harness on the same cluster.
async fn start_namespace_of_another_harness(external: &brokkr_e2e::kubesim::KubeSim) -> String {
    let other = start(Options {
        worker: false,
        agent: false,
        external_kubeconfig: Some(external.kubeconfig_path().to_path_buf()),
        ..Options::default()
    })
    .await;
    other.ns("shop")
}
