//! On-demand diagnostics: every `agent.diagnostics_interval` seconds (when ACTIVE) the agent
//! fetches its pending diagnostic requests, claims each (`409`/`404`: another claimant or gone,
//! skipped quietly), collects what the cluster knows about the deployment object's pods and
//! submits it with `POST /api/v1/diagnostics/{id}/result`.
//!
//! What is collected, in every namespace the applied registry lists for the deployment object,
//! for the pods labelled with its stack (`k8s.brokkr.io/stack=<stack id>`):
//!
//! * `pod_statuses`: `[{name, namespace, phase, conditions:[{condition_type, status, reason?,
//!   message?}], containers:[{name, ready, restart_count, state, state_reason?,
//!   state_message?}], init_containers:[...]}]`;
//! * `events`: the namespace's events about those pods, their owners (ReplicaSets, Jobs, ...)
//!   or the deployment object's own objects, newest first, at most [`MAX_EVENTS`];
//! * `log_tails`: `{"<pod>/<container>": "<last MAX_LOG_LINES lines>"}` (or `"Error: ..."` for
//!   a container whose log cannot be read, e.g. one still waiting for its image), plus
//!   `"<pod>/<container> (previous)"` for containers that restarted (the crashed run's log).
//!
//! The three fields are JSON documents encoded as strings (the broker validates them). When the
//! collection fails (the object is not applied here, pods cannot be listed, a timeout), an error
//! result is submitted instead: `pod_statuses = "[]"`, `events = [{"error": "..."}]` built with
//! serde (so any error text stays valid JSON). Requests are handled concurrently, each bounded
//! by [`COLLECT_TIMEOUT`], in this task only: health, work orders and heartbeats never wait.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::Instrument;

use brokkr_schema::models::{DeploymentObject, DiagnosticRequest, SubmitDiagnosticResult};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kube::api::{Api, ApiResource, ListParams, LogParams};
use serde_json::{Value, json};

use crate::applied::AppliedDeployment;
use crate::broker::BrokerError;
use crate::context::AgentContext;
use crate::scope::NamespaceScope;

/// Most events returned.
pub const MAX_EVENTS: usize = 50;
/// Log lines per container.
pub const MAX_LOG_LINES: i64 = 100;
/// Bytes of log per container (the broker bounds each field to 4 MiB).
const MAX_LOG_BYTES: i64 = 64 * 1024;
/// Pods whose logs are read (the first ones by namespace and name).
const MAX_LOG_PODS: usize = 20;
/// Longest time one request's collection may take.
pub const COLLECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest time one log read may take.
const LOG_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests collected at the same time.
const CONCURRENCY: usize = 4;

/// What was collected (each field a JSON value; encoded as strings on submit).
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub pod_statuses: Value,
    pub events: Value,
    pub log_tails: Option<Value>,
}

impl Collected {
    /// The result of a failed collection; the error text is escaped by serde.
    pub fn error(message: &str) -> Collected {
        Collected {
            pod_statuses: json!([]),
            events: json!([{ "error": message }]),
            log_tails: None,
        }
    }

    /// The body of `POST /diagnostics/{id}/result`.
    pub fn into_submission(self, collected_at: DateTime<Utc>) -> SubmitDiagnosticResult {
        SubmitDiagnosticResult {
            pod_statuses: self.pod_statuses.to_string(),
            events: self.events.to_string(),
            log_tails: self.log_tails.map(|v| v.to_string()),
            collected_at,
        }
    }
}

fn container_json(cs: &ContainerStatus) -> Value {
    let state = cs.state.as_ref();
    let (state_name, reason, message) =
        if let Some(running) = state.and_then(|s| s.running.as_ref()) {
            (
                "Running",
                None,
                running
                    .started_at
                    .as_ref()
                    .map(|t| format!("Started at {}", t.0)),
            )
        } else if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
            ("Waiting", waiting.reason.clone(), waiting.message.clone())
        } else if let Some(terminated) = state.and_then(|s| s.terminated.as_ref()) {
            (
                "Terminated",
                terminated.reason.clone(),
                terminated
                    .message
                    .clone()
                    .or_else(|| Some(format!("exit code {}", terminated.exit_code))),
            )
        } else {
            ("Unknown", None, None)
        };
    let last_termination = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| json!({"reason": t.reason, "exit_code": t.exit_code, "message": t.message}));
    json!({
        "name": cs.name,
        "ready": cs.ready,
        "restart_count": cs.restart_count,
        "state": state_name,
        "state_reason": reason,
        "state_message": message,
        "last_termination": last_termination,
    })
}

/// A pod's status as reported.
pub fn pod_json(pod: &Pod) -> Value {
    let status = pod.status.as_ref();
    let conditions: Vec<Value> = status
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({"condition_type": c.type_, "status": c.status,
                           "reason": c.reason, "message": c.message})
                })
                .collect()
        })
        .unwrap_or_default();
    let containers = |list: Option<&Vec<ContainerStatus>>| -> Vec<Value> {
        list.map(|l| l.iter().map(container_json).collect())
            .unwrap_or_default()
    };
    json!({
        "name": pod.metadata.name,
        "namespace": pod.metadata.namespace,
        "phase": status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Unknown".into()),
        "reason": status.and_then(|s| s.reason.clone()),
        "message": status.and_then(|s| s.message.clone()),
        "node_name": pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        "conditions": conditions,
        "containers": containers(status.and_then(|s| s.container_statuses.as_ref())),
        "init_containers": containers(status.and_then(|s| s.init_container_statuses.as_ref())),
    })
}

/// When an event last happened (for sorting), as RFC 3339 text and a sortable number.
fn event_time(event: &Event) -> Option<i64> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .or_else(|| event.event_time.as_ref().map(|t| t.0.as_millisecond()))
        .or_else(|| {
            event
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| t.0.as_millisecond())
        })
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0.as_millisecond()))
        .or_else(|| {
            event
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond())
        })
}

fn event_json(event: &Event) -> Value {
    let involved = &event.involved_object;
    json!({
        "event_type": event.type_,
        "reason": event.reason,
        "message": event.message,
        "involved_object": involved.name.clone().unwrap_or_else(|| "unknown".into()),
        "involved_object_kind": involved.kind,
        "involved_object_name": involved.name,
        "namespace": event.metadata.namespace,
        "first_timestamp": event.first_timestamp.as_ref().map(|t| t.0.to_string()),
        "last_timestamp": event.last_timestamp.as_ref().map(|t| t.0.to_string())
            .or_else(|| event.event_time.as_ref().map(|t| t.0.to_string())),
        "count": event.count,
    })
}

/// The events about `subjects` (`(kind, namespace, name)`), newest first, at most
/// [`MAX_EVENTS`].
pub fn select_events(events: &[Event], subjects: &HashSet<(String, String, String)>) -> Vec<Value> {
    let mut picked: Vec<&Event> = events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            let namespace = o
                .namespace
                .clone()
                .or_else(|| e.metadata.namespace.clone())
                .unwrap_or_default();
            subjects.contains(&(
                o.kind.clone().unwrap_or_default(),
                namespace,
                o.name.clone().unwrap_or_default(),
            ))
        })
        .collect();
    // Newest first; events without a time last; ties by name for a stable order.
    picked.sort_by(|a, b| {
        event_time(b)
            .cmp(&event_time(a))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    picked.truncate(MAX_EVENTS);
    picked.into_iter().map(event_json).collect()
}

/// The last lines of a container's log, or `Error: ...`.
async fn log_tail(
    ctx: &AgentContext,
    api: &Api<Pod>,
    pod: &str,
    container: &str,
    previous: bool,
) -> String {
    let params = LogParams {
        container: Some(container.to_owned()),
        tail_lines: Some(MAX_LOG_LINES),
        limit_bytes: Some(MAX_LOG_BYTES),
        previous,
        ..LogParams::default()
    };
    match tokio::time::timeout(
        LOG_TIMEOUT,
        ctx.kube_call("logs", || api.logs(pod, &params)),
    )
    .await
    {
        Ok(Ok(text)) => text,
        Ok(Err(e)) => format!("Error: {e}"),
        Err(_) => format!("Error: reading the log timed out after {LOG_TIMEOUT:?}"),
    }
}

/// Collects the diagnostics of an applied deployment object.
pub async fn collect(
    ctx: &AgentContext,
    deployment: &AppliedDeployment,
) -> Result<Collected, String> {
    let params = ListParams::default().labels(&deployment.pod_selector());
    let all = ListParams::default();
    let mut pods: Vec<Pod> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    for namespace in &deployment.namespaces {
        let pod_api: Api<Pod> = Api::namespaced(ctx.kube.clone(), namespace);
        let listed = ctx
            .kube_call("list", || pod_api.list(&params))
            .await
            .map_err(|e| format!("listing pods in namespace {namespace}: {e}"))?;
        pods.extend(listed.items);
        let event_api: Api<Event> = Api::namespaced(ctx.kube.clone(), namespace);
        let listed = ctx
            .kube_call("list", || event_api.list(&all))
            .await
            .map_err(|e| format!("listing events in namespace {namespace}: {e}"))?;
        events.extend(listed.items);
    }
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });

    // What the events may be about: the pods, their owners, the object's own objects.
    let mut subjects: HashSet<(String, String, String)> = HashSet::new();
    for pod in &pods {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        subjects.insert((
            "Pod".into(),
            namespace.clone(),
            pod.metadata.name.clone().unwrap_or_default(),
        ));
        for owner in pod.metadata.owner_references.iter().flatten() {
            subjects.insert((owner.kind.clone(), namespace.clone(), owner.name.clone()));
        }
    }
    for object in &deployment.objects {
        subjects.insert((
            object.kind.clone(),
            object.namespace.clone().unwrap_or_default(),
            object.name.clone(),
        ));
    }
    let events = select_events(&events, &subjects);

    let mut tails = BTreeMap::new();
    for pod in pods.iter().take(MAX_LOG_PODS) {
        let (Some(name), Some(namespace)) = (&pod.metadata.name, &pod.metadata.namespace) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(ctx.kube.clone(), namespace);
        let containers = pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_else(Vec::new);
        let restarted: HashSet<String> = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .map(|l| {
                l.iter()
                    .filter(|c| c.restart_count > 0)
                    .map(|c| c.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        for container in containers {
            tails.insert(
                format!("{name}/{container}"),
                Value::String(log_tail(ctx, &api, name, &container, false).await),
            );
            // A restarted container's previous run usually holds the crash.
            if restarted.contains(&container) {
                tails.insert(
                    format!("{name}/{container} (previous)"),
                    Value::String(log_tail(ctx, &api, name, &container, true).await),
                );
            }
        }
    }

    Ok(Collected {
        pod_statuses: Value::Array(pods.iter().map(pod_json).collect()),
        events: Value::Array(events),
        log_tails: Some(Value::Object(tails.into_iter().collect())),
    })
}

/// A deployment object missing from the applied registry (e.g. the first reconcile pass after
/// a restart has not finished yet): its pods are found by its stack's label across the
/// cluster (across the agent's namespaces in namespaced mode), and its namespaces are theirs.
async fn located_by_label(
    ctx: &AgentContext,
    deployment_object_id: uuid::Uuid,
    stack_id: uuid::Uuid,
) -> Result<AppliedDeployment, String> {
    let mut deployment = AppliedDeployment {
        deployment_object_id,
        stack_id,
        checksum: String::new(),
        namespaces: Vec::new(),
        objects: Vec::new(),
        applied_at: Utc::now(),
    };
    let params = ListParams::default().labels(&deployment.pod_selector());
    let mut namespaces: Vec<String> = Vec::new();
    let pods = ApiResource::erase::<Pod>(&());
    for namespace in NamespaceScope::of(&ctx.settings).listings(&pods, true) {
        let api: Api<Pod> = match namespace {
            Some(ns) => Api::namespaced(ctx.kube.clone(), ns),
            None => Api::all(ctx.kube.clone()),
        };
        let pods = ctx
            .kube_call("list", || api.list(&params))
            .await
            .map_err(|e| format!("listing pods: {e}"))?;
        namespaces.extend(
            pods.items
                .iter()
                .filter_map(|p| p.metadata.namespace.clone()),
        );
    }
    namespaces.sort();
    namespaces.dedup();
    if namespaces.is_empty() {
        return Err(format!(
            "deployment object {deployment_object_id} is not applied by this agent \
             (and no pod carries its stack's label)"
        ));
    }
    deployment.namespaces = namespaces;
    Ok(deployment)
}

/// Submits a result, retrying transient broker errors a few times.
async fn submit(
    ctx: &AgentContext,
    request_id: uuid::Uuid,
    body: &SubmitDiagnosticResult,
) -> Result<(), BrokerError> {
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        match ctx
            .broker
            .api()
            .submit_diagnostic_result(request_id, body)
            .await
            .map_err(BrokerError::from)
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_transient() && attempt < 3 => {
                if !ctx.sleep(Duration::from_secs(attempt)).await {
                    return Err(BrokerError::Cancelled);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Claims, collects and submits one request.
async fn handle(ctx: &AgentContext, request: DiagnosticRequest) {
    match ctx
        .broker
        .api()
        .claim_diagnostic(request.id)
        .await
        .map_err(BrokerError::from)
    {
        Ok(_) => {}
        Err(e) if e.is_conflict() || e.is_not_found() => {
            tracing::debug!(request = %request.id, "diagnostic request taken or gone; skipped");
            return;
        }
        Err(e) => {
            tracing::warn!(request = %request.id, error = %e, "cannot claim diagnostic request");
            return;
        }
    }
    let work = async {
        let deployment = match ctx.applied.get(request.deployment_object_id) {
            Some(deployment) => deployment,
            None => {
                // Its pods carry its stack's label: ask the broker which stack that is.
                let object: DeploymentObject = ctx
                    .broker
                    .api()
                    .get_deployment_object(request.deployment_object_id)
                    .await
                    .map_err(|e| format!("reading the deployment object: {e}"))?;
                located_by_label(ctx, request.deployment_object_id, object.stack_id).await?
            }
        };
        collect(ctx, &deployment).await
    };
    let collected = tokio::select! {
        _ = ctx.cancel.cancelled() => Err("the agent is shutting down".to_owned()),
        outcome = tokio::time::timeout(COLLECT_TIMEOUT, work) => {
            outcome.unwrap_or_else(|_| Err(format!(
                "collection timed out after {}s", COLLECT_TIMEOUT.as_secs())))
        }
    };
    static COLLECTED: OnceLock<Option<prometheus::IntCounterVec>> = OnceLock::new();
    if let Some(c) = crate::work_orders::feature_counter(
        ctx,
        &COLLECTED,
        "brokkr_agent_diagnostics_total",
        "Diagnostic requests handled, by outcome (collected, error).",
        &["outcome"],
    ) {
        c.with_label_values(&[if collected.is_ok() {
            "collected"
        } else {
            "error"
        }])
        .inc();
    }
    let collected = collected.unwrap_or_else(|e| {
        tracing::warn!(request = %request.id, error = %e, "diagnostics collection failed");
        Collected::error(&e)
    });
    let body = collected.into_submission(Utc::now());
    match submit(ctx, request.id, &body).await {
        Ok(()) => tracing::info!(request = %request.id,
            deployment_object = %request.deployment_object_id, "diagnostics submitted"),
        Err(e) => tracing::warn!(request = %request.id, error = %e,
            "cannot submit diagnostics result"),
    }
}

/// One round: fetch pending requests and handle them.
pub async fn poll_once(ctx: &AgentContext) -> Result<usize, BrokerError> {
    let pending: Vec<DiagnosticRequest> =
        ctx.broker.api().pending_diagnostics(ctx.agent_id).await?;
    let count = pending.len();
    let jobs: Vec<_> = pending.into_iter().map(|r| handle(ctx, r)).collect();
    stream::iter(jobs)
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    Ok(count)
}

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    ctx.run_rounds(
        "diagnostics: cannot fetch pending requests",
        |s| s.diagnostics_interval,
        || poll_once(&ctx).instrument(tracing::info_span!("agent.diagnostics_round")),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn event(name: &str, kind: &str, object: &str, secs: i64) -> Event {
        Event {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some(kind.into()),
                name: Some(object.into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            last_timestamp: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
            )),
            reason: Some("BackOff".into()),
            message: Some(format!("about {object}")),
            type_: Some("Warning".into()),
            ..Default::default()
        }
    }

    #[test]
    fn events_are_filtered_sorted_newest_first_and_capped() {
        let mut events = vec![
            event("e1", "Pod", "web-1", 1_000),
            event("e2", "Pod", "other", 3_000),
            event("e3", "ReplicaSet", "web-abc", 2_000),
            event("e4", "Pod", "web-1", 4_000),
        ];
        let subjects: HashSet<_> = [
            ("Pod".to_string(), "shop".to_string(), "web-1".to_string()),
            ("ReplicaSet".into(), "shop".into(), "web-abc".into()),
        ]
        .into_iter()
        .collect();
        let picked = select_events(&events, &subjects);
        let names: Vec<_> = picked
            .iter()
            .map(|e| e["involved_object"].clone())
            .collect();
        assert_eq!(
            names,
            vec![json!("web-1"), json!("web-abc"), json!("web-1")]
        );
        assert_eq!(picked[0]["involved_object_kind"], "Pod");

        for i in 0..100 {
            events.push(event(&format!("x{i}"), "Pod", "web-1", 10_000 + i));
        }
        let picked = select_events(&events, &subjects);
        assert_eq!(picked.len(), MAX_EVENTS);
        assert_eq!(picked[0]["message"], "about web-1");
    }

    #[test]
    fn error_results_are_valid_json_whatever_the_message() {
        let nasty = "quote \" backslash \\ newline \n brace }";
        let body = Collected::error(nasty).into_submission(Utc::now());
        let events: Value = serde_json::from_str(&body.events).unwrap();
        assert_eq!(events[0]["error"], nasty);
        assert_eq!(body.pod_statuses, "[]");
        assert!(body.log_tails.is_none());
    }

    /// Puts a Deployment of `replicas` pods failing with `fail` (kubesim annotation) in
    /// namespace `shop`, records it as applied, and waits for its pods to settle.
    pub(crate) async fn failing_deployment(
        ctx: &AgentContext,
        name: &str,
        fail: &str,
        replicas: i32,
    ) -> AppliedDeployment {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::core::v1::Namespace;
        use kube::api::PostParams;
        let id = uuid::Uuid::new_v4();
        let stack_id = uuid::Uuid::new_v4();
        let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "shop"}})).unwrap();
        let _ = namespaces.create(&PostParams::default(), &ns).await;
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {
                        "labels": {"app": name, crate::labels::STACK_LABEL: stack_id.to_string()},
                        "annotations": if fail.is_empty() { json!({}) } else { json!({"kubesim.brokkr.io/fail": fail}) },
                    },
                    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                },
            },
        }))
        .unwrap();
        let api: Api<Deployment> = Api::namespaced(ctx.kube.clone(), "shop");
        api.create(&PostParams::default(), &deployment)
            .await
            .unwrap();
        let applied = AppliedDeployment {
            deployment_object_id: id,
            stack_id,
            checksum: "c".into(),
            namespaces: vec!["shop".into()],
            objects: vec![crate::applied::AppliedRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: name.into(),
            }],
            applied_at: Utc::now(),
        };
        ctx.applied.record(applied.clone());
        let pods: Api<Pod> = Api::namespaced(ctx.kube.clone(), "shop");
        let params = ListParams::default().labels(&applied.pod_selector());
        for _ in 0..100 {
            let listed = pods.list(&params).await.unwrap();
            let settled = listed.items.len() == replicas as usize
                && listed.items.iter().all(|p| {
                    let statuses = p
                        .status
                        .as_ref()
                        .and_then(|s| s.container_statuses.clone())
                        .unwrap_or_default();
                    !statuses.is_empty()
                        && statuses.iter().all(|c| {
                            let waiting = c
                                .state
                                .as_ref()
                                .and_then(|s| s.waiting.as_ref())
                                .and_then(|w| w.reason.as_deref());
                            !matches!(waiting, Some("ContainerCreating" | "PodInitializing"))
                        })
                });
            if settled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        applied
    }

    #[tokio::test]
    async fn collects_pods_events_and_logs_of_crashing_pods() {
        let sim = brokkr_e2e::kubesim::KubeSim::start().await.unwrap();
        let ctx = crate::work_orders::test_context(&sim).await;
        let applied = failing_deployment(&ctx, "web", "CrashLoopBackOff", 2).await;
        let collected = collect(&ctx, &applied).await.unwrap();
        let pods = collected.pod_statuses.as_array().unwrap();
        assert_eq!(pods.len(), 2, "{pods:?}");
        assert_eq!(pods[0]["containers"][0]["state"], "Waiting");
        assert_eq!(pods[0]["containers"][0]["state_reason"], "CrashLoopBackOff");
        let events = collected.events.as_array().unwrap();
        assert!(!events.is_empty());
        assert!(events.iter().any(|e| e["involved_object_kind"] == "Pod"));
        let tails = collected.log_tails.unwrap();
        let tails = tails.as_object().unwrap();
        // Current and previous run of each crash-looping container.
        assert_eq!(tails.len(), 4, "{tails:?}");
        assert_eq!(
            tails
                .keys()
                .filter(|k| k.ends_with("/app (previous)"))
                .count(),
            2
        );
        assert!(
            tails
                .values()
                .all(|t| t.as_str().unwrap().contains("panic")),
            "{tails:?}"
        );
        let body = Collected {
            pod_statuses: collected.pod_statuses,
            events: collected.events,
            log_tails: None,
        }
        .into_submission(Utc::now());
        assert!(serde_json::from_str::<Value>(&body.pod_statuses).is_ok());

        let health = crate::deployment_health::check(&ctx, &applied).await;
        assert_eq!(health.status, "degraded");
        assert_eq!(health.summary.unwrap().conditions, vec!["CrashLoopBackOff"]);
    }

    #[tokio::test]
    async fn failed_pods_make_the_deployment_failing() {
        let sim = brokkr_e2e::kubesim::KubeSim::start().await.unwrap();
        let ctx = crate::work_orders::test_context(&sim).await;
        let applied = failing_deployment(&ctx, "web", "Failed", 1).await;
        // Without a registry entry, the pods are found by label across the cluster.
        let located = located_by_label(&ctx, applied.deployment_object_id, applied.stack_id)
            .await
            .unwrap();
        assert_eq!(located.namespaces, vec!["shop"]);
        let missing = located_by_label(&ctx, uuid::Uuid::new_v4(), uuid::Uuid::new_v4())
            .await
            .unwrap_err();
        assert!(missing.contains("not applied by this agent"), "{missing}");
        let health = crate::deployment_health::check(&ctx, &applied).await;
        assert_eq!(health.status, "failing", "{health:?}");
    }

    #[tokio::test]
    async fn one_list_per_namespace_judges_each_deployment_object_by_its_own_pods() {
        let sim = brokkr_e2e::kubesim::KubeSim::start().await.unwrap();
        let ctx = crate::work_orders::test_context(&sim).await;
        let crashing = failing_deployment(&ctx, "crash", "CrashLoopBackOff", 2).await;
        let broken = failing_deployment(&ctx, "broken", "Failed", 1).await;
        let fine = failing_deployment(&ctx, "fine", "", 1).await;
        let mut config_only = fine.clone();
        config_only.deployment_object_id = uuid::Uuid::new_v4();
        // Another stack: a stack has one applied deployment object at a time.
        config_only.stack_id = uuid::Uuid::new_v4();
        config_only.objects[0].kind = "ConfigMap".into();
        let entries = crate::deployment_health::check_all(
            &ctx,
            &[crashing.clone(), broken.clone(), fine.clone(), config_only],
        )
        .await;
        let statuses: Vec<&str> = entries.iter().map(|e| e.status.as_str()).collect();
        assert_eq!(statuses, vec!["degraded", "failing", "healthy", "healthy"]);
        let pods: Vec<i32> = entries
            .iter()
            .map(|e| e.summary.as_ref().unwrap().pods_total)
            .collect();
        assert_eq!(pods, vec![2, 1, 1, 0]);
    }

    #[test]
    fn pods_without_status_report_unknown() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("shop".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let v = pod_json(&pod);
        assert_eq!(v["phase"], "Unknown");
        assert_eq!(v["containers"], json!([]));
    }
}
