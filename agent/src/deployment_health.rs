//! Deployment health: every `agent.deployment_health_interval` seconds (when
//! `agent.deployment_health_enabled` and the agent is ACTIVE) the pods of each applied
//! deployment object are listed by label in each of its namespaces, summarised, and reported
//! with `PATCH /api/v1/agents/{id}/health-status`.
//!
//! How a deployment object's pods are judged ([`summarize`]):
//!
//! * **failing**: a pod is in phase `Failed` (except evicted pods, which are degraded, and
//!   failed attempts of a Job that has since succeeded, which are ignored). Failing always wins
//!   over degraded, whatever order the pods are seen in.
//! * **degraded**: a container (or init container) waits with a reason of [`DEGRADED_REASONS`]
//!   (`CrashLoopBackOff`, `ImagePullBackOff`, ...), a container's current state terminated with
//!   `OOMKilled`/`Error`, a container was last OOM-killed, a pod has been `Pending` for longer
//!   than [`STUCK_AFTER`] (the summary says how long and why: `Unschedulable`, ...), or a
//!   running pod has not been ready for longer than [`STUCK_AFTER`].
//! * **unknown**: a pod is in phase `Unknown` (and nothing worse was seen); or no pod was found
//!   although the deployment object contains pod-producing workloads (Deployment, StatefulSet,
//!   DaemonSet, ReplicaSet, Job, Pod) — e.g. scaled to zero, or pods not created yet; or the
//!   pods could not be listed.
//! * **healthy**: otherwise. A deployment object without any pod-producing kind (ConfigMaps,
//!   Services, CRDs, CronJobs that have not fired, ...) is healthy with `pods_total = 0`: there
//!   is nothing that could be unhealthy, and reporting `unknown` forever would hide real
//!   problems behind noise.
//!
//! Terminating pods (deletion requested) are counted but not judged. Conditions are sorted and
//! unique, resources are listed in pod order (namespace, name), so
//! the same cluster state always gives the same summary.
//!
//! Pods are listed once per namespace (every pod carrying the deployment-object label) and
//! grouped by the label's value, so a round costs one list call per namespace.
//!
//! Only deployment objects in the applied registry are reported, in batches of
//! [`REPORT_BATCH`]. The broker refuses a whole report when one entry is not in the agent's
//! target state (422 naming the objects); in that race — a stack removed between the check and
//! the report — the named entries are dropped and the rest is sent again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tracing::Instrument;

use brokkr_schema::models::{
    DeploymentObjectHealthUpdate, HealthStatus, HealthStatusUpdate, HealthSummary, ResourceHealth,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use crate::applied::AppliedDeployment;
use crate::context::AgentContext;
use crate::labels::STACK_LABEL;

/// Waiting reasons that make a pod degraded.
pub const DEGRADED_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ContainerCannotRun",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "RunContainerError",
];

/// Terminated reasons (current state) that make a pod degraded.
pub const TERMINATED_REASONS: &[&str] = &["OOMKilled", "Error"];

/// A pod Pending (or running but not ready) for longer than this is degraded.
pub const STUCK_AFTER: Duration = Duration::from_secs(180);

/// Kinds whose objects create pods.
const POD_PRODUCING_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "Pod",
];

/// Most resource entries one summary carries.
const MAX_RESOURCES: usize = 50;
/// Longest time one pod list may take (retries included).
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// Namespaces listed at the same time.
const CHECK_CONCURRENCY: usize = 4;
/// Most entries per report request.
const REPORT_BATCH: usize = 1000;

/// Making a pod's health worse, never better. The agent's own order, worst last: healthy,
/// unknown, degraded, failing (a pod it cannot judge is worse than a healthy one; the broker's
/// overall status ranks `unknown` lowest, [`HealthStatus::severity`]).
trait Raise {
    fn raise(&mut self, to: HealthStatus);
}

impl Raise for HealthStatus {
    fn raise(&mut self, to: HealthStatus) {
        fn rank(health: HealthStatus) -> u8 {
            match health {
                HealthStatus::Healthy => 0,
                HealthStatus::Unknown => 1,
                HealthStatus::Degraded => 2,
                HealthStatus::Failing => 3,
            }
        }
        if rank(to) > rank(*self) {
            *self = to;
        }
    }
}

/// True when the deployment object contains an object that creates pods.
pub fn produces_pods(deployment: &AppliedDeployment) -> bool {
    deployment
        .objects
        .iter()
        .any(|o| POD_PRODUCING_KINDS.contains(&o.kind.as_str()))
}

fn seconds_since(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
    now: DateTime<Utc>,
) -> i64 {
    now.timestamp() - t.0.as_second()
}

/// Judges a deployment object's pods (see the module documentation). `expects_pods`: whether
/// the object has pod-producing workloads (decides between healthy and unknown with no pods).
pub fn summarize(
    pods: &[Pod],
    expects_pods: bool,
    now: DateTime<Utc>,
) -> (HealthStatus, HealthSummary) {
    let mut health = HealthStatus::Healthy;
    let mut conditions = BTreeSet::new();
    let mut resources = Vec::new();
    let mut ready_pods = 0;
    let stuck = STUCK_AFTER.as_secs() as i64;

    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    // Jobs that succeeded: their earlier failed attempts are history, not a failure.
    let succeeded_jobs: HashSet<(Option<&String>, &String)> = pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded"))
        .flat_map(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .filter(|o| o.kind == "Job")
                .map(move |o| (p.metadata.namespace.as_ref(), &o.name))
        })
        .collect();
    for pod in sorted {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let Some(status) = &pod.status else {
            continue;
        };
        // Terminating pods (rollouts, scale-down) are on their way out.
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let retried_job = pod.metadata.owner_references.iter().flatten().any(|o| {
            o.kind == "Job" && succeeded_jobs.contains(&(pod.metadata.namespace.as_ref(), &o.name))
        });
        let ready_condition = status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready");
        let ready = ready_condition.is_some_and(|c| c.status == "True");
        if ready {
            ready_pods += 1;
        }
        let mut problems: Vec<String> = Vec::new();
        let mut pod_health = HealthStatus::Healthy;

        for cs in status.container_statuses.iter().flatten() {
            let state = cs.state.as_ref();
            if let Some(waiting) = state.and_then(|s| s.waiting.as_ref())
                && let Some(reason) = waiting.reason.as_deref()
                && DEGRADED_REASONS.contains(&reason)
            {
                conditions.insert(reason.to_owned());
                pod_health.raise(HealthStatus::Degraded);
                problems.push(match waiting.message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{}: {reason}: {m}", cs.name),
                    _ => format!("{}: {reason}", cs.name),
                });
            }
            if let Some(terminated) = state.and_then(|s| s.terminated.as_ref())
                && let Some(reason) = terminated.reason.as_deref()
                && TERMINATED_REASONS.contains(&reason)
            {
                conditions.insert(reason.to_owned());
                pod_health.raise(HealthStatus::Degraded);
                problems.push(format!(
                    "{}: terminated: {reason} (exit code {})",
                    cs.name, terminated.exit_code
                ));
            }
            if let Some(last) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
                && last.reason.as_deref() == Some("OOMKilled")
            {
                conditions.insert("OOMKilled".to_owned());
                pod_health.raise(HealthStatus::Degraded);
                problems.push(format!("{}: last terminated: OOMKilled", cs.name));
            }
        }
        for cs in status.init_container_statuses.iter().flatten() {
            if let Some(reason) = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                && DEGRADED_REASONS.contains(&reason)
            {
                conditions.insert(format!("InitContainer:{reason}"));
                pod_health.raise(HealthStatus::Degraded);
                problems.push(format!("init container {}: {reason}", cs.name));
            }
        }

        match status.phase.as_deref() {
            Some("Failed") if retried_job => {}
            Some("Failed") if status.reason.as_deref() == Some("Evicted") => {
                // The controller replaces evicted pods: a symptom (node pressure), not a
                // failure of the workload.
                conditions.insert("Evicted".to_owned());
                pod_health.raise(HealthStatus::Degraded);
                let why = status.message.as_deref().unwrap_or("evicted");
                problems.push(format!("pod evicted: {why}"));
            }
            Some("Failed") => {
                conditions.insert("PodFailed".to_owned());
                pod_health.raise(HealthStatus::Failing);
                let why = status
                    .reason
                    .as_deref()
                    .or(status.message.as_deref())
                    .unwrap_or("pod failed");
                problems.push(format!("pod failed: {why}"));
            }
            Some("Unknown") => {
                conditions.insert("PodUnknown".to_owned());
                pod_health.raise(HealthStatus::Unknown);
                problems.push("pod phase Unknown (node unreachable?)".to_owned());
            }
            Some("Pending") => {
                let age = pod
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| seconds_since(t, now))
                    .unwrap_or(0);
                if age >= stuck {
                    conditions.insert("PodPending".to_owned());
                    pod_health.raise(HealthStatus::Degraded);
                    let scheduled = status
                        .conditions
                        .iter()
                        .flatten()
                        .find(|c| c.type_ == "PodScheduled" && c.status != "True");
                    let why = match scheduled {
                        Some(c) => {
                            let reason = c.reason.as_deref().unwrap_or("NotScheduled");
                            conditions.insert(reason.to_owned());
                            match c.message.as_deref() {
                                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                                _ => reason.to_owned(),
                            }
                        }
                        None => "containers not started".to_owned(),
                    };
                    problems.push(format!("stuck Pending for {age}s: {why}"));
                }
            }
            Some("Running") if !ready && pod_health == HealthStatus::Healthy => {
                let not_ready_for = ready_condition
                    .and_then(|c| c.last_transition_time.as_ref())
                    .or(status.start_time.as_ref())
                    .map(|t| seconds_since(t, now))
                    .unwrap_or(0);
                if not_ready_for >= stuck {
                    conditions.insert("PodNotReady".to_owned());
                    pod_health.raise(HealthStatus::Degraded);
                    problems.push(format!("running but not ready for {not_ready_for}s"));
                }
            }
            _ => {}
        }

        health.raise(pod_health);
        if pod_health != HealthStatus::Healthy && resources.len() < MAX_RESOURCES {
            resources.push(ResourceHealth {
                kind: "Pod".to_owned(),
                name,
                namespace,
                ready,
                message: Some(problems.join("; ")),
            });
        }
    }

    if pods.is_empty() {
        health = if expects_pods {
            conditions.insert("NoPods".to_owned());
            HealthStatus::Unknown
        } else {
            HealthStatus::Healthy
        };
    }
    let summary = HealthSummary {
        pods_ready: ready_pods,
        pods_total: i32::try_from(pods.len()).unwrap_or(i32::MAX),
        conditions: conditions.into_iter().collect(),
        resources: if resources.is_empty() {
            None
        } else {
            Some(resources)
        },
    };
    (health, summary)
}

/// Lists a deployment object's pods in each of its namespaces.
async fn list_pods(ctx: &AgentContext, deployment: &AppliedDeployment) -> Result<Vec<Pod>, String> {
    let params = ListParams::default().labels(&deployment.pod_selector());
    let mut pods = Vec::new();
    for namespace in &deployment.namespaces {
        let api: Api<Pod> = Api::namespaced(ctx.kube.clone(), namespace);
        let listed =
            tokio::time::timeout(LIST_TIMEOUT, ctx.kube_call("list", || api.list(&params)))
                .await
                .map_err(|_| format!("listing pods in {namespace} timed out"))?
                .map_err(|e| format!("listing pods in {namespace}: {e}"))?;
        pods.extend(listed.items);
    }
    Ok(pods)
}

/// The report entry of a deployment object given its pods (or why they could not be listed).
fn entry_for(
    deployment: &AppliedDeployment,
    pods: Result<Vec<Pod>, String>,
) -> DeploymentObjectHealthUpdate {
    let (status, summary) = match pods {
        Ok(pods) => summarize(&pods, produces_pods(deployment), Utc::now()),
        Err(e) => {
            tracing::warn!(deployment_object = %deployment.deployment_object_id, error = %e,
                "deployment health: cannot list pods");
            (
                HealthStatus::Unknown,
                HealthSummary {
                    pods_ready: 0,
                    pods_total: 0,
                    conditions: vec!["PodListFailed".to_owned()],
                    resources: None,
                },
            )
        }
    };
    DeploymentObjectHealthUpdate {
        id: deployment.deployment_object_id,
        status: status.as_str().to_owned(),
        summary: Some(summary),
        checked_at: Utc::now(),
    }
}

/// Checks one deployment object.
pub async fn check(
    ctx: &AgentContext,
    deployment: &AppliedDeployment,
) -> DeploymentObjectHealthUpdate {
    entry_for(deployment, list_pods(ctx, deployment).await)
}

/// Checks many deployment objects with one pod list per namespace (every pod carrying the
/// stack label), grouped by the label's value (a stack has one applied deployment object): a
/// round costs as many list calls as there are namespaces, not one per object and namespace.
pub async fn check_all(
    ctx: &AgentContext,
    deployments: &[AppliedDeployment],
) -> Vec<DeploymentObjectHealthUpdate> {
    let namespaces: BTreeSet<&String> = deployments.iter().flat_map(|d| &d.namespaces).collect();
    let params = ListParams::default().labels(STACK_LABEL);
    let lists: Vec<_> = namespaces
        .into_iter()
        .map(|namespace| {
            let params = &params;
            async move {
                let api: Api<Pod> = Api::namespaced(ctx.kube.clone(), namespace);
                let listed =
                    tokio::time::timeout(LIST_TIMEOUT, ctx.kube_call("list", || api.list(params)))
                        .await
                        .map_err(|_| format!("listing pods in {namespace} timed out"))
                        .and_then(|r| r.map_err(|e| format!("listing pods in {namespace}: {e}")));
                (namespace.clone(), listed)
            }
        })
        .collect();
    let mut by_namespace: HashMap<String, Result<HashMap<String, Vec<Pod>>, String>> =
        HashMap::new();
    let listed: Vec<_> = stream::iter(lists)
        .buffer_unordered(CHECK_CONCURRENCY)
        .collect()
        .await;
    for (namespace, result) in listed {
        let grouped = result.map(|list| {
            let mut groups: HashMap<String, Vec<Pod>> = HashMap::new();
            for pod in list.items {
                let key = pod
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(STACK_LABEL))
                    .cloned();
                if let Some(key) = key {
                    groups.entry(key).or_default().push(pod);
                }
            }
            groups
        });
        by_namespace.insert(namespace, grouped);
    }
    deployments
        .iter()
        .map(|d| {
            let id = d.stack_id.to_string();
            let mut pods = Vec::new();
            let mut failure = None;
            for namespace in &d.namespaces {
                match by_namespace.get(namespace) {
                    Some(Ok(groups)) => pods.extend(groups.get(&id).cloned().unwrap_or_default()),
                    Some(Err(e)) => failure = Some(e.clone()),
                    None => failure = Some(format!("namespace {namespace} was not listed")),
                }
            }
            entry_for(d, failure.map_or(Ok(pods), Err))
        })
        .collect()
}

/// Checks every applied deployment object and reports them.
pub async fn check_and_report(ctx: &AgentContext) -> Result<usize, crate::broker::BrokerError> {
    let deployments = ctx.applied.snapshot();
    if deployments.is_empty() {
        return Ok(0);
    }
    let mut entries = check_all(ctx, &deployments).await;
    // Drop entries whose stack was superseded or removed while checking.
    let current: HashSet<uuid::Uuid> = ctx.applied.deployment_object_ids().into_iter().collect();
    entries.retain(|e| current.contains(&e.id));
    entries.sort_by_key(|e| e.id);
    if entries.is_empty() {
        return Ok(0);
    }
    let mut sent = 0;
    for batch in entries.chunks(REPORT_BATCH) {
        sent += report(ctx, batch.to_vec()).await?;
    }
    Ok(sent)
}

/// The ids named in a broker error (the 422 lists the objects outside the target state).
fn ids_in(text: &str) -> HashSet<uuid::Uuid> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|t| t.len() == 36)
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// Sends one report. When the broker refuses it because some objects left the agent's target
/// state meanwhile (422 naming them), they are dropped and the rest is sent again once.
async fn report(
    ctx: &AgentContext,
    mut entries: Vec<DeploymentObjectHealthUpdate>,
) -> Result<usize, crate::broker::BrokerError> {
    for attempt in 0..2 {
        if entries.is_empty() {
            return Ok(0);
        }
        let body = HealthStatusUpdate {
            deployment_objects: entries,
        };
        match ctx
            .broker
            .api()
            .report_health(ctx.agent_id, &body)
            .await
            .map_err(crate::broker::BrokerError::from)
        {
            Ok(_) => {
                count_statuses(ctx, &body.deployment_objects);
                return Ok(body.deployment_objects.len());
            }
            Err(crate::broker::BrokerError::Status {
                status: 422,
                body: text,
            }) if attempt == 0 => {
                let refused = ids_in(&text);
                tracing::info!(
                    refused = refused.len(),
                    "deployment health: objects left the target state; reporting the others"
                );
                entries = body.deployment_objects;
                let before = entries.len();
                entries.retain(|e| !refused.contains(&e.id));
                if entries.len() == before {
                    // Nothing recognisable to drop: give up on this round.
                    return Ok(0);
                }
            }
            Err(e) if e.status() == Some(422) => return Ok(0),
            Err(e) => return Err(e),
        }
    }
    Ok(0)
}

/// `brokkr_agent_deployment_health_reports_total{status}`: entries reported, by status.
fn count_statuses(ctx: &AgentContext, entries: &[DeploymentObjectHealthUpdate]) {
    static REPORTED: OnceLock<Option<prometheus::IntCounterVec>> = OnceLock::new();
    if let Some(c) = crate::work_orders::feature_counter(
        ctx,
        &REPORTED,
        "brokkr_agent_deployment_health_reports_total",
        "Deployment object health entries reported to the broker, by status.",
        &["status"],
    ) {
        for entry in entries {
            c.with_label_values(&[entry.status.as_str()]).inc();
        }
    }
}

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    let mut failures: u32 = 0;
    let mut was_enabled = true;
    loop {
        // Read at every round, so a reload (SIGHUP, config file) applies to the next one.
        let settings = ctx.current_settings();
        let every = Duration::from_secs(settings.deployment_health_interval.max(1));
        if !settings.deployment_health_enabled {
            if was_enabled {
                tracing::info!("deployment health checks disabled");
            }
            was_enabled = false;
            if !ctx.sleep(every).await {
                return;
            }
            continue;
        }
        was_enabled = true;
        let pause = if failures == 0 {
            every
        } else {
            // Back off on broker errors, up to four intervals.
            every.saturating_mul(failures.min(4) + 1)
        };
        if !ctx.sleep(pause).await {
            return;
        }
        if !ctx.is_active() {
            continue;
        }
        let round = check_and_report(&ctx).instrument(tracing::info_span!("agent.health_round"));
        let outcome = tokio::select! {
            _ = ctx.cancel.cancelled() => return,
            outcome = round => outcome,
        };
        match outcome {
            Ok(n) => {
                failures = 0;
                tracing::debug!(reported = n, "deployment health reported");
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "deployment health: report failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn time_ago(now: DateTime<Utc>, secs: i64) -> Time {
        let ts = k8s_openapi::jiff::Timestamp::from_second(now.timestamp() - secs).unwrap();
        Time(ts)
    }

    fn pod(name: &str, phase: &str, ready: bool, containers: Vec<ContainerStatus>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("shop".into()),
                creation_timestamp: Some(time_ago(Utc::now(), 10)),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    last_transition_time: Some(time_ago(Utc::now(), 10)),
                    ..Default::default()
                }]),
                container_statuses: Some(containers),
                ..Default::default()
            }),
        }
    }

    fn waiting(reason: &str) -> ContainerStatus {
        ContainerStatus {
            name: "app".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message: Some(format!("back-off ({reason})")),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running() -> ContainerStatus {
        ContainerStatus {
            name: "app".into(),
            ready: true,
            ..Default::default()
        }
    }

    #[test]
    fn refused_ids_are_read_from_the_brokers_error() {
        let a = uuid::Uuid::new_v4();
        let b = uuid::Uuid::new_v4();
        let body = format!("{{\"error\":\"not in this agent's target state: {a}, {b}\"}}");
        assert_eq!(ids_in(&body), [a, b].into_iter().collect());
        assert!(ids_in("nothing here").is_empty());
    }

    #[test]
    fn ready_pods_are_healthy() {
        let pods = vec![
            pod("a", "Running", true, vec![running()]),
            pod("b", "Running", true, vec![running()]),
        ];
        let (health, summary) = summarize(&pods, true, Utc::now());
        assert_eq!(health, HealthStatus::Healthy);
        assert_eq!((summary.pods_ready, summary.pods_total), (2, 2));
        assert!(summary.conditions.is_empty());
        assert!(summary.resources.is_none());
    }

    #[test]
    fn crash_looping_pods_are_degraded_with_sorted_conditions() {
        let pods = vec![
            pod("b", "Running", false, vec![waiting("ImagePullBackOff")]),
            pod("a", "Running", false, vec![waiting("CrashLoopBackOff")]),
            pod("c", "Running", true, vec![running()]),
        ];
        let (health, summary) = summarize(&pods, true, Utc::now());
        assert_eq!(health, HealthStatus::Degraded);
        assert_eq!(
            summary.conditions,
            vec!["CrashLoopBackOff", "ImagePullBackOff"]
        );
        let resources = summary.resources.unwrap();
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].name, "a");
        assert!(
            resources[0]
                .message
                .as_deref()
                .unwrap()
                .contains("CrashLoopBackOff")
        );
        assert_eq!(summary.pods_ready, 1);
    }

    #[test]
    fn failing_wins_over_degraded_in_any_order() {
        let failed = pod("a", "Failed", false, vec![]);
        let degraded = pod("b", "Running", false, vec![waiting("CrashLoopBackOff")]);
        for pods in [
            vec![failed.clone(), degraded.clone()],
            vec![degraded.clone(), failed.clone()],
        ] {
            let (health, summary) = summarize(&pods, true, Utc::now());
            assert_eq!(health, HealthStatus::Failing);
            assert_eq!(summary.conditions, vec!["CrashLoopBackOff", "PodFailed"]);
        }
    }

    #[test]
    fn oom_killed_and_terminated_errors_are_degraded() {
        let mut oom = running();
        oom.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: Some("OOMKilled".into()),
                exit_code: 137,
                ..Default::default()
            }),
            ..Default::default()
        });
        let (health, summary) =
            summarize(&[pod("a", "Running", true, vec![oom])], true, Utc::now());
        assert_eq!(health, HealthStatus::Degraded);
        assert_eq!(summary.conditions, vec!["OOMKilled"]);
    }

    #[test]
    fn a_pod_stuck_pending_is_degraded_and_says_why() {
        let now = Utc::now();
        let mut stuck = pod("a", "Pending", false, vec![]);
        stuck.metadata.creation_timestamp = Some(time_ago(now, 600));
        if let Some(status) = stuck.status.as_mut() {
            status.conditions = Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/1 nodes are available".into()),
                ..Default::default()
            }]);
        }
        let (health, summary) = summarize(&[stuck.clone()], true, now);
        assert_eq!(health, HealthStatus::Degraded);
        assert_eq!(summary.conditions, vec!["PodPending", "Unschedulable"]);
        let message = summary.resources.unwrap()[0].message.clone().unwrap();
        assert!(message.contains("stuck Pending for 600s"), "{message}");
        assert!(message.contains("0/1 nodes are available"), "{message}");

        // A pod that just started is not stuck yet.
        stuck.metadata.creation_timestamp = Some(time_ago(now, 5));
        let (health, _) = summarize(&[stuck], true, now);
        assert_eq!(health, HealthStatus::Healthy);
    }

    #[test]
    fn evicted_pods_are_degraded_and_retried_jobs_are_not_failing() {
        let mut evicted = pod("a", "Failed", false, vec![]);
        if let Some(status) = evicted.status.as_mut() {
            status.reason = Some("Evicted".into());
            status.message = Some("The node was low on resource: memory.".into());
        }
        let (health, summary) = summarize(&[evicted], true, Utc::now());
        assert_eq!(health, HealthStatus::Degraded);
        assert_eq!(summary.conditions, vec!["Evicted"]);

        let owned = |name: &str, phase: &str| {
            let mut p = pod(name, phase, false, vec![]);
            p.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "batch/v1".into(),
                    kind: "Job".into(),
                    name: "migrate".into(),
                    uid: "u".into(),
                    ..Default::default()
                },
            ]);
            p
        };
        let pods = vec![
            owned("migrate-1", "Failed"),
            owned("migrate-2", "Succeeded"),
        ];
        assert_eq!(summarize(&pods, true, Utc::now()).0, HealthStatus::Healthy);
        let pods = vec![owned("migrate-1", "Failed"), owned("migrate-2", "Failed")];
        assert_eq!(summarize(&pods, true, Utc::now()).0, HealthStatus::Failing);
    }

    #[test]
    fn terminating_pods_are_not_judged() {
        let mut leaving = pod("a", "Running", false, vec![waiting("CrashLoopBackOff")]);
        leaving.metadata.deletion_timestamp = Some(time_ago(Utc::now(), 1));
        let (health, summary) = summarize(&[leaving], true, Utc::now());
        assert_eq!(health, HealthStatus::Healthy);
        assert_eq!(summary.pods_total, 1);
    }

    #[test]
    fn unknown_phase_does_not_hide_degraded() {
        let pods = vec![
            pod("a", "Unknown", false, vec![]),
            pod("b", "Running", false, vec![waiting("ErrImagePull")]),
        ];
        assert_eq!(summarize(&pods, true, Utc::now()).0, HealthStatus::Degraded);
        let pods = vec![
            pod("a", "Unknown", false, vec![]),
            pod("b", "Running", true, vec![]),
        ];
        assert_eq!(summarize(&pods, true, Utc::now()).0, HealthStatus::Unknown);
    }

    #[test]
    fn no_pods_is_unknown_only_when_pods_are_expected() {
        let (health, summary) = summarize(&[], true, Utc::now());
        assert_eq!(health, HealthStatus::Unknown);
        assert_eq!(summary.conditions, vec!["NoPods"]);
        let (health, summary) = summarize(&[], false, Utc::now());
        assert_eq!(health, HealthStatus::Healthy);
        assert!(summary.conditions.is_empty());
    }

    #[test]
    fn init_container_failures_are_prefixed() {
        let mut p = pod("a", "Pending", false, vec![]);
        if let Some(status) = p.status.as_mut() {
            status.init_container_statuses = Some(vec![waiting("CrashLoopBackOff")]);
        }
        let (health, summary) = summarize(&[p], true, Utc::now());
        assert_eq!(health, HealthStatus::Degraded);
        assert_eq!(summary.conditions, vec!["InitContainer:CrashLoopBackOff"]);
    }
}
