//! Work orders: one-off tasks the broker queues for agents.
//!
//! Every `agent.polling_interval` seconds (when ACTIVE) the agent fetches its pending work
//! orders, claims each (`404`/`409`: taken by another agent or gone, skipped), runs it in its
//! own task (so a 15-minute build never delays heartbeats, reconciles or other orders; at most
//! [`MAX_IN_FLIGHT`] at a time, the rest stay pending for later rounds or other agents) and
//! completes it with `POST /api/v1/work-orders/{id}/complete` `{success, message, retryable}`.
//!
//! * `custom`: the YAML documents are applied with server-side apply (field manager
//!   `brokkr-agent`, forced), namespaces and CRDs first; kinds of CRDs applied by the same
//!   order are awaited in discovery. Success message: `Applied N resource(s)`.
//! * `build`: the Shipwright `Build` is applied (or an existing one named by a `brokkr.io`
//!   `WorkOrder` document's `spec.buildRef.name` is used), then a `BuildRun` is *created* with a
//!   name unique to this attempt (`<build>-<order id prefix>-r<retry>-<random>`, so a broker
//!   retry never collides with an earlier run), labelled `brokkr.io/work-order-id`. It is polled
//!   every [`BUILD_POLL_INTERVAL`] until `Succeeded` is `True` (the message is the image digest,
//!   `status.output.digest`) or `False` (the failure reason), for at most [`BUILD_TIMEOUT`].
//! * anything else: completed with `success: false, retryable: false`.
//!
//! Each round runs in an `agent.work_order_round` span and each claimed order in an
//! `agent.work_order` span under it, so the broker sees their requests in the same trace.
//!
//! Failures are classified by what happened, not by matching words in messages: timeouts,
//! connection errors, 429, 5xx, conflicts from concurrent writers and a build that did not
//! finish in time are retryable; invalid YAML, unknown kinds, validation errors (400/422),
//! 403/404, a missing Build and a build that failed are not. On shutdown a running order is
//! completed as a retryable failure, so another agent can pick it up without waiting for the
//! claim to time out.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use brokkr_schema::models::{CompleteWorkOrderRequest, WorkOrder};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::{Discovery, Scope};
use prometheus::{IntCounterVec, Opts};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;
use uuid::Uuid;

use crate::context::AgentContext;
use crate::kube_retry::is_retryable;
use crate::labels::FIELD_MANAGER;
use crate::manifest::{self, ManifestObject};
use crate::scope::NamespaceScope;

/// Work orders run at the same time by one agent.
pub const MAX_IN_FLIGHT: usize = 8;
/// How often a BuildRun's status is read.
pub const BUILD_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Longest a build may run before the order fails (retryable).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The Shipwright API group.
pub const SHIPWRIGHT_GROUP: &str = "shipwright.io";
/// Label of a BuildRun naming the work order it runs.
pub const WORK_ORDER_LABEL: &str = "brokkr.io/work-order-id";
/// How long kinds of freshly applied CRDs are awaited in discovery.
const DISCOVERY_WAIT: Duration = Duration::from_secs(20);
/// Consecutive failed status reads of a BuildRun tolerated.
const MAX_POLL_ERRORS: u32 = 5;
/// Longest message sent to the broker.
const MAX_MESSAGE: usize = 2000;

/// A counter of a feature task, created and registered with the agent's registry (served at
/// `/metrics`) on first use. `None` if it cannot be created (never with static definitions).
pub(crate) fn feature_counter(
    ctx: &AgentContext,
    cell: &'static OnceLock<Option<IntCounterVec>>,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Option<&'static IntCounterVec> {
    cell.get_or_init(|| {
        let counter = IntCounterVec::new(Opts::new(name, help), labels).ok()?;
        if let Err(e) = ctx.metrics.registry().register(Box::new(counter.clone())) {
            tracing::debug!(metric = name, error = %e, "metric not registered");
        }
        Some(counter)
    })
    .as_ref()
}

static OUTCOMES: OnceLock<Option<IntCounterVec>> = OnceLock::new();

/// `brokkr_agent_work_orders_total{work_type, outcome}`.
fn count_outcome(ctx: &AgentContext, work_type: &str, outcome: &str) {
    let work_type = if matches!(work_type, "build" | "custom") {
        work_type
    } else {
        "other"
    };
    if let Some(c) = feature_counter(
        ctx,
        &OUTCOMES,
        "brokkr_agent_work_orders_total",
        "Work orders executed, by type and outcome (success, failure, retryable_failure).",
        &["work_type", "outcome"],
    ) {
        c.with_label_values(&[work_type, outcome]).inc();
    }
}

/// Why a work order failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkError {
    pub message: String,
    pub retryable: bool,
}

impl WorkError {
    /// A failure that another attempt will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        WorkError {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure another attempt may not meet.
    pub fn transient(message: impl Into<String>) -> Self {
        WorkError {
            message: message.into(),
            retryable: true,
        }
    }

    /// Classifies a Kubernetes error: transport errors, timeouts, 429, 5xx and conflicts are
    /// retryable; other API answers (400, 403, 404, 422, ...) are not.
    pub fn from_kube(context: &str, error: &kube::Error) -> Self {
        let retryable = is_retryable(error)
            || matches!(error, kube::Error::Api(s) if s.code == 409 || s.code == 408);
        WorkError {
            message: format!("{context}: {error}"),
            retryable,
        }
    }
}

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let running: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut failures: u32 = 0;
    loop {
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a work order task panicked");
            }
        }
        // Read at every round, so a reload (SIGHUP, config file) applies to the next one.
        let every = Duration::from_secs(ctx.current_settings().polling_interval.max(1));
        let pause = every.saturating_mul(failures.min(5) + 1);
        if !ctx.sleep(pause).await {
            break;
        }
        if !ctx.is_active() {
            continue;
        }
        let span = tracing::info_span!(
            "agent.work_order_round",
            otel.status_code = tracing::field::Empty,
            brokkr.work_orders.started = tracing::field::Empty,
        );
        let round = poll_once(&ctx, &slots, &running, &mut tasks).instrument(span.clone());
        let outcome = tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            outcome = round => outcome,
        };
        match outcome {
            Ok(started) => {
                span.record("brokkr.work_orders.started", started);
                failures = 0;
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "work orders: cannot fetch pending orders");
            }
        }
    }
    // Running orders see the cancellation and report a retryable failure: give them a moment.
    let drained = tokio::time::timeout(Duration::from_secs(6), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
}

/// One round: fetch, claim and start pending orders while slots are free. Returns how many
/// were started.
async fn poll_once(
    ctx: &Arc<AgentContext>,
    slots: &Arc<Semaphore>,
    running: &Arc<Mutex<HashSet<Uuid>>>,
    tasks: &mut JoinSet<()>,
) -> Result<usize, crate::broker::BrokerError> {
    if slots.available_permits() == 0 {
        return Ok(0);
    }
    let pending: Vec<WorkOrder> = ctx
        .broker
        .api()
        .pending_work_orders(ctx.agent_id, None)
        .await?;
    let mut started = 0;
    for order in pending {
        if running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&order.id)
        {
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            break;
        };
        let claimed: WorkOrder = match ctx
            .broker
            .api()
            .claim_work_order(order.id, ctx.agent_id)
            .await
            .map_err(crate::broker::BrokerError::from)
        {
            Ok(order) => order,
            Err(e) if e.is_not_found() || e.is_conflict() => {
                tracing::debug!(work_order = %order.id, "work order taken by another agent or gone");
                continue;
            }
            Err(e) => {
                tracing::warn!(work_order = %order.id, error = %e, "cannot claim work order");
                continue;
            }
        };
        tracing::info!(work_order = %claimed.id, work_type = %claimed.work_type,
            retry = claimed.retry_count, "work order claimed");
        running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(claimed.id);
        let (ctx, running) = (ctx.clone(), running.clone());
        // The order runs in its own task, long after the round may have ended: its span is a
        // child of the round's, so its completion request stays in the round's trace.
        let span = tracing::info_span!(
            "agent.work_order",
            brokkr.work_order_id = %claimed.id,
            brokkr.work_type = %claimed.work_type,
        );
        tasks.spawn(async move {
            let id = claimed.id;
            process(&ctx, claimed).instrument(span).await;
            running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            drop(permit);
        });
        started += 1;
    }
    Ok(started)
}

/// Executes a claimed order and completes it.
async fn process(ctx: &AgentContext, order: WorkOrder) {
    let outcome = tokio::select! {
        _ = ctx.cancel.cancelled() => Err(WorkError::transient("the agent shut down before the work order finished")),
        outcome = execute(ctx, &order) => outcome,
    };
    let body = match &outcome {
        Ok(message) => CompleteWorkOrderRequest {
            success: true,
            message: Some(cut(message)),
            retryable: false,
        },
        Err(e) => CompleteWorkOrderRequest {
            success: false,
            message: Some(cut(&e.message)),
            retryable: e.retryable,
        },
    };
    match &outcome {
        Ok(message) => {
            tracing::info!(work_order = %order.id, result = %cut(message), "work order succeeded")
        }
        Err(e) => {
            tracing::warn!(work_order = %order.id, error = %e.message, retryable = e.retryable, "work order failed")
        }
    }
    let outcome_label = match &outcome {
        Ok(_) => "success",
        Err(e) if e.retryable => "retryable_failure",
        Err(_) => "failure",
    };
    count_outcome(ctx, &order.work_type, outcome_label);
    complete(ctx, order.id, &body).await;
}

fn cut(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// Reports the outcome, retrying transient broker errors (once more only, when shutting down).
async fn complete(ctx: &AgentContext, id: Uuid, body: &CompleteWorkOrderRequest) {
    for attempt in 1..=5u64 {
        match ctx
            .broker
            .api()
            .complete_work_order(id, body)
            .await
            .map_err(crate::broker::BrokerError::from)
        {
            Ok(_) => return,
            Err(e) if e.is_transient() && attempt < 5 && !ctx.is_cancelled() => {
                tracing::info!(work_order = %id, error = %e, "completing work order failed; retrying");
                // Cut short by shutdown: the next attempt is then the last one.
                let _ = ctx.sleep(Duration::from_secs(attempt * 2)).await;
            }
            Err(e) => {
                tracing::warn!(work_order = %id, error = %e,
                    "cannot complete work order; the broker will reclaim it after its claim timeout");
                return;
            }
        }
    }
}

/// Runs an order; `Ok` carries the success message.
pub async fn execute(ctx: &AgentContext, order: &WorkOrder) -> Result<String, WorkError> {
    match order.work_type.as_str() {
        "custom" => execute_custom(ctx, &order.yaml_content).await,
        "build" => execute_build(ctx, order).await,
        other => Err(WorkError::permanent(format!("Unknown work type: {other}"))),
    }
}

fn parse(yaml: &str) -> Result<Vec<ManifestObject>, WorkError> {
    let objects =
        manifest::parse(yaml).map_err(|e| WorkError::permanent(format!("invalid YAML: {e}")))?;
    if objects.is_empty() {
        return Err(WorkError::permanent(
            "the YAML contains no Kubernetes object",
        ));
    }
    Ok(objects)
}

async fn discover(ctx: &AgentContext, groups: Option<&[&str]>) -> Result<Discovery, WorkError> {
    let client = ctx.kube.clone();
    ctx.kube_call("discovery", || {
        let discovery = Discovery::new(client.clone());
        match groups {
            Some(groups) => discovery.filter(groups).run(),
            None => discovery.run(),
        }
    })
    .await
    .map_err(|e| WorkError::from_kube("Kubernetes discovery failed", &e))
}

/// The resource of an object's kind; re-runs discovery for up to [`DISCOVERY_WAIT`] when the
/// kind may come from a CRD applied moments ago.
async fn resolve(
    ctx: &AgentContext,
    discovery: &mut Discovery,
    object: &ManifestObject,
    wait: bool,
) -> Result<(ApiResource, bool), WorkError> {
    let gvk = GroupVersionKind::gvk(object.group(), object.version(), &object.kind);
    let deadline = Instant::now() + if wait { DISCOVERY_WAIT } else { Duration::ZERO };
    let mut refreshed = false;
    loop {
        if let Some((resource, caps)) = discovery.resolve_gvk(&gvk) {
            return Ok((resource, caps.scope == Scope::Namespaced));
        }
        if refreshed && Instant::now() >= deadline {
            return Err(WorkError::permanent(format!(
                "{}: kind {} of apiVersion {} is not served by the cluster",
                object.describe(),
                object.kind,
                object.api_version
            )));
        }
        if refreshed && !ctx.sleep(Duration::from_millis(500)).await {
            return Err(WorkError::transient("the agent is shutting down"));
        }
        *discovery = discover(ctx, None).await?;
        refreshed = true;
    }
}

fn api_for(
    ctx: &AgentContext,
    resource: &ApiResource,
    namespaced: bool,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    if namespaced {
        Api::namespaced_with(ctx.kube.clone(), namespace.unwrap_or("default"), resource)
    } else {
        Api::all_with(ctx.kube.clone(), resource)
    }
}

/// Server-side applies one object (forced, field manager `brokkr-agent`).
async fn apply_object(
    ctx: &AgentContext,
    discovery: &mut Discovery,
    object: &ManifestObject,
    wait: bool,
) -> Result<(), WorkError> {
    let (resource, namespaced) = resolve(ctx, discovery, object, wait).await?;
    let namespace = namespaced.then(|| object.namespace.as_deref().unwrap_or("default"));
    if let Some(why) = NamespaceScope::of(&ctx.settings).refusal(&resource, namespace) {
        return Err(WorkError::permanent(format!(
            "{}: {why}",
            object.describe()
        )));
    }
    let api = api_for(ctx, &resource, namespaced, object.namespace.as_deref());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&object.body);
    ctx.kube_call("apply", || api.patch(&object.name, &params, &patch))
        .await
        .map(|_| ())
        .map_err(|e| WorkError::from_kube(&format!("applying {}", object.describe()), &e))
}

/// `custom`: applies every document.
pub async fn execute_custom(ctx: &AgentContext, yaml: &str) -> Result<String, WorkError> {
    let mut objects = parse(yaml)?;
    manifest::order(&mut objects);
    let mut discovery = discover(ctx, None).await?;
    let mut crds_applied = false;
    for object in &objects {
        apply_object(ctx, &mut discovery, object, crds_applied).await?;
        if object.kind == "CustomResourceDefinition" {
            crds_applied = true;
        }
    }
    Ok(format!("Applied {} resource(s)", objects.len()))
}

/// What a build order runs.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildPlan {
    /// The Build to apply first (absent when the order references an existing Build).
    pub build: Option<ManifestObject>,
    pub build_name: String,
    pub namespace: String,
}

/// Reads a build order's YAML: one Shipwright `Build`, or a `brokkr.io` `WorkOrder` whose
/// `spec.buildRef.name` names an existing Build.
pub fn plan_build(yaml: &str) -> Result<BuildPlan, WorkError> {
    let objects = parse(yaml)?;
    let mut builds = objects
        .iter()
        .filter(|o| o.group() == SHIPWRIGHT_GROUP && o.kind == "Build");
    if let Some(build) = builds.next() {
        if builds.next().is_some() {
            return Err(WorkError::permanent(
                "several Shipwright Builds in one work order; use one per order",
            ));
        }
        return Ok(BuildPlan {
            build: Some(build.clone()),
            build_name: build.name.clone(),
            namespace: build.namespace.clone().unwrap_or_else(|| "default".into()),
        });
    }
    let reference = objects.iter().find_map(|o| {
        let is_order = (o.group() == "brokkr.io" || o.group().ends_with(".brokkr.io"))
            && o.kind == "WorkOrder";
        let name = o.body["spec"]["buildRef"]["name"].as_str()?;
        (is_order && !name.is_empty()).then(|| (name.to_owned(), o.namespace.clone()))
    });
    match reference {
        Some((name, namespace)) => Ok(BuildPlan {
            build: None,
            build_name: name,
            namespace: namespace.unwrap_or_else(|| "default".into()),
        }),
        None => Err(WorkError::permanent(
            "no Shipwright Build (shipwright.io) or WorkOrder buildRef found in the YAML",
        )),
    }
}

/// A BuildRun name unique to one attempt of one order (at most 63 characters).
pub fn buildrun_name(build: &str, order: Uuid, retry: i32, suffix: &str) -> String {
    let tail = format!(
        "-{}-r{}-{suffix}",
        &order.simple().to_string()[..8],
        retry.max(0)
    );
    let room = 63usize.saturating_sub(tail.len());
    let head: String = build.chars().take(room).collect();
    format!("{}{tail}", head.trim_end_matches(['-', '.']))
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// Where a BuildRun stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildState {
    Running,
    /// Succeeded, with the image digest when reported.
    Succeeded(Option<String>),
    /// Failed, with `reason: message`.
    Failed(String),
}

/// Reads a BuildRun's `status`.
pub fn build_state(status: &Value) -> BuildState {
    let succeeded = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Succeeded"));
    let Some(condition) = succeeded else {
        return BuildState::Running;
    };
    match condition["status"].as_str() {
        Some("True") => BuildState::Succeeded(
            status["output"]["digest"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        ),
        Some("False") => {
            let details = &status["failureDetails"];
            let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            let reason = text(&details["reason"]).or_else(|| text(&condition["reason"]));
            let message = text(&details["message"]).or_else(|| text(&condition["message"]));
            BuildState::Failed(match (reason, message) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                (Some(r), None) => r,
                (None, Some(m)) => m,
                (None, None) => "build failed".into(),
            })
        }
        _ => BuildState::Running,
    }
}

/// `build`: applies the Build, creates a BuildRun and follows it.
pub async fn execute_build(ctx: &AgentContext, order: &WorkOrder) -> Result<String, WorkError> {
    let plan = plan_build(&order.yaml_content)?;
    let mut discovery = discover(ctx, Some(&[SHIPWRIGHT_GROUP])).await?;
    let Some((run_resource, run_caps)) = discovery
        .get(SHIPWRIGHT_GROUP)
        .and_then(|g| g.recommended_kind("BuildRun"))
    else {
        return Err(WorkError::permanent(
            "Shipwright is not installed: the cluster serves no shipwright.io BuildRun",
        ));
    };
    let scope = NamespaceScope::of(&ctx.settings);
    if let Some(why) = scope.refusal(&run_resource, Some(&plan.namespace)) {
        return Err(WorkError::permanent(format!(
            "BuildRun of Build {}: {why}",
            plan.build_name
        )));
    }
    if let Some(build) = &plan.build {
        apply_object(ctx, &mut discovery, build, false).await?;
    }
    let name = buildrun_name(
        &plan.build_name,
        order.id,
        order.retry_count,
        &random_suffix(),
    );
    let spec = if run_resource.version == "v1alpha1" {
        json!({"buildRef": {"name": plan.build_name}})
    } else {
        json!({"build": {"name": plan.build_name}})
    };
    let buildrun = json!({
        "apiVersion": run_resource.api_version,
        "kind": "BuildRun",
        "metadata": {
            "name": name,
            "namespace": plan.namespace,
            "labels": {
                WORK_ORDER_LABEL: order.id.to_string(),
                "shipwright.io/build": plan.build_name,
            },
        },
        "spec": spec,
    });
    let object: DynamicObject = serde_json::from_value(buildrun)
        .map_err(|e| WorkError::permanent(format!("building the BuildRun: {e}")))?;
    let api = api_for(
        ctx,
        &run_resource,
        run_caps.scope == Scope::Namespaced,
        Some(&plan.namespace),
    );
    let post = PostParams::default();
    let created = ctx.kube_call("create", || api.create(&post, &object)).await;
    match created {
        Ok(_) => {}
        // A retried create whose first attempt went through: the name is ours alone.
        Err(kube::Error::Api(s)) if s.code == 409 => {}
        Err(e) => {
            return Err(WorkError::from_kube(
                &format!("creating BuildRun {name}"),
                &e,
            ));
        }
    }
    tracing::info!(work_order = %order.id, buildrun = %name, namespace = %plan.namespace, "BuildRun created");
    follow_build(ctx, &api, &name).await
}

/// Polls a BuildRun until it finishes or [`BUILD_TIMEOUT`] passes.
async fn follow_build(
    ctx: &AgentContext,
    api: &Api<DynamicObject>,
    name: &str,
) -> Result<String, WorkError> {
    let deadline = Instant::now() + BUILD_TIMEOUT;
    let mut errors = 0;
    loop {
        match ctx.kube_call("get", || api.get_opt(name)).await {
            Ok(Some(run)) => {
                errors = 0;
                let status = run.data.get("status").cloned().unwrap_or(Value::Null);
                match build_state(&status) {
                    BuildState::Succeeded(Some(digest)) => return Ok(digest),
                    BuildState::Succeeded(None) => {
                        return Ok(format!(
                            "BuildRun {name} succeeded (no image digest reported)"
                        ));
                    }
                    BuildState::Failed(why) => {
                        return Err(WorkError::permanent(format!(
                            "BuildRun {name} failed: {why}"
                        )));
                    }
                    BuildState::Running => {}
                }
            }
            Ok(None) => {
                return Err(WorkError::transient(format!(
                    "BuildRun {name} was deleted before it finished"
                )));
            }
            Err(e) => {
                let failure = WorkError::from_kube(&format!("reading BuildRun {name}"), &e);
                errors += 1;
                if !failure.retryable || errors >= MAX_POLL_ERRORS {
                    return Err(failure);
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(WorkError::transient(format!(
                "timeout: BuildRun {name} did not finish within {}s",
                BUILD_TIMEOUT.as_secs()
            )));
        }
        if !ctx.sleep(BUILD_POLL_INTERVAL).await {
            return Err(WorkError::transient(
                "the agent shut down before the build finished",
            ));
        }
    }
}

/// An agent context on an in-process kubesim, for tests of the feature tasks (the broker URL
/// points nowhere).
#[cfg(test)]
pub(crate) async fn test_context(sim: &brokkr_e2e::kubesim::KubeSim) -> Arc<AgentContext> {
    brokkr_e2e::kubesim::install_crypto_provider();
    let now = chrono::Utc::now();
    let agent = brokkr_schema::models::Agent {
        id: Uuid::new_v4(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        name: "test".into(),
        cluster_name: "sim".into(),
        last_heartbeat: None,
        status: brokkr_schema::models::AgentStatus::Active,
    };
    let broker =
        crate::broker::BrokerClient::new("http://127.0.0.1:9", "pak", Duration::from_secs(1))
            .expect("broker client");
    let kube = sim.client().await.expect("kube client");
    AgentContext::new(
        brokkr_schema::config::AgentSettings::default(),
        agent,
        broker,
        kube,
        tokio_util::sync::CancellationToken::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use brokkr_e2e::kubesim::{KubeSim, Options};
    use chrono::Utc;

    fn order(work_type: &str, yaml: &str) -> WorkOrder {
        WorkOrder {
            id: Uuid::new_v4(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            work_type: work_type.into(),
            yaml_content: yaml.into(),
            status: brokkr_schema::models::WorkOrderStatus::Claimed,
            claimed_by: None,
            claimed_at: None,
            claim_timeout_seconds: 3600,
            max_retries: 3,
            retry_count: 0,
            backoff_seconds: 60,
            next_retry_after: None,
            last_error: None,
            last_error_at: None,
        }
    }

    const CUSTOM: &str = "\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: tools}
spec: {size: 3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: tools}
data: {a: b}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: v1
kind: Namespace
metadata: {name: tools}
";

    #[tokio::test]
    async fn custom_orders_apply_namespaces_and_crds_first() {
        let sim = KubeSim::start().await.unwrap();
        let ctx = test_context(&sim).await;
        let message = execute(&ctx, &order("custom", CUSTOM)).await.unwrap();
        assert_eq!(message, "Applied 4 resource(s)");
        let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
            Api::namespaced(ctx.kube.clone(), "tools");
        let cm = cms.get("c1").await.unwrap();
        assert!(
            cm.metadata
                .managed_fields
                .unwrap_or_default()
                .iter()
                .any(|f| f.manager.as_deref() == Some(FIELD_MANAGER))
        );

        let err = execute(
            &ctx,
            &order(
                "custom",
                "apiVersion: nope.io/v1\nkind: Gadget\nmetadata: {name: g}\n",
            ),
        )
        .await
        .unwrap_err();
        assert!(!err.retryable, "{err:?}");
        assert!(err.message.contains("not served"), "{err:?}");
        let err = execute(&ctx, &order("reboot", "x: 1")).await.unwrap_err();
        assert_eq!(err, WorkError::permanent("Unknown work type: reboot"));
    }

    const BUILD: &str = "\
apiVersion: shipwright.io/v1beta1
kind: Build
metadata: {name: app, namespace: default}
spec:
  source: {type: Git, git: {url: https://example.com/app.git}}
  strategy: {name: buildah, kind: ClusterBuildStrategy}
  output: {image: registry.example.com/app}
";

    #[tokio::test]
    async fn builds_report_the_digest_or_the_failure() {
        let sim = KubeSim::start_with(Options {
            shipwright: true,
            ..Options::default()
        })
        .await
        .unwrap();
        let ctx = test_context(&sim).await;
        let ok = order("build", BUILD);
        let digest = execute(&ctx, &ok).await.unwrap();
        assert!(digest.starts_with("sha256:"), "{digest}");
        // A retry of the same order gets a new BuildRun instead of colliding.
        let mut retry = ok.clone();
        retry.retry_count = 1;
        assert!(execute(&ctx, &retry).await.unwrap().starts_with("sha256:"));

        let failing = BUILD.replace(
            "metadata: {name: app, namespace: default}",
            "metadata: {name: bad, namespace: default, annotations: {kubesim.brokkr.io/fail: StepFailed}}",
        );
        let err = execute(&ctx, &order("build", &failing)).await.unwrap_err();
        assert!(!err.retryable);
        assert!(err.message.contains("StepFailed"), "{err:?}");
    }

    #[tokio::test]
    async fn a_running_build_stops_promptly_on_shutdown() {
        let sim = KubeSim::start_with(Options {
            shipwright: true,
            controller: brokkr_e2e::kubesim::controller::ControllerOptions {
                build_duration: Duration::from_secs(600),
                ..Default::default()
            },
            ..Options::default()
        })
        .await
        .unwrap();
        let ctx = test_context(&sim).await;
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            cancel.cancel();
        });
        let started = Instant::now();
        // `process` completes against an unreachable broker: it must still return promptly.
        tokio::time::timeout(
            Duration::from_secs(10),
            process(&ctx, order("build", BUILD)),
        )
        .await
        .expect("the build stops on shutdown");
        assert!(started.elapsed() < Duration::from_secs(10));
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            execute(&ctx, &order("build", BUILD)),
        )
        .await
        .expect("returns at once when already cancelled")
        .unwrap_err();
        assert!(err.retryable, "{err:?}");
    }

    #[tokio::test]
    async fn builds_without_shipwright_fail_for_good() {
        let sim = KubeSim::start().await.unwrap();
        let ctx = test_context(&sim).await;
        let err = execute(&ctx, &order("build", BUILD)).await.unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.contains("Shipwright is not installed"),
            "{err:?}"
        );
    }

    #[test]
    fn buildrun_names_are_unique_per_attempt_and_short() {
        let order = Uuid::parse_str("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(
            buildrun_name("app", order, 0, "x1y2z"),
            "app-01234567-r0-x1y2z"
        );
        assert_ne!(
            buildrun_name("app", order, 0, "aaaaa"),
            buildrun_name("app", order, 1, "aaaaa")
        );
        let long = buildrun_name(&"b".repeat(100), order, 12, "abcde");
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("-01234567-r12-abcde"));
    }

    #[test]
    fn build_plans_come_from_a_build_or_a_build_ref() {
        let plan = plan_build(
            "apiVersion: shipwright.io/v1beta1\nkind: Build\nmetadata: {name: app, namespace: ci}\nspec: {}\n",
        )
        .unwrap();
        assert_eq!(
            (plan.build_name.as_str(), plan.namespace.as_str()),
            ("app", "ci")
        );
        assert!(plan.build.is_some());

        let plan = plan_build(
            "apiVersion: brokkr.io/v1\nkind: WorkOrder\nmetadata: {name: wo}\nspec: {buildRef: {name: existing}}\n",
        )
        .unwrap();
        assert_eq!(
            (plan.build_name.as_str(), plan.namespace.as_str()),
            ("existing", "default")
        );
        assert!(plan.build.is_none());

        let err = plan_build("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n").unwrap_err();
        assert!(!err.retryable);
        let err = plan_build("::: not yaml").unwrap_err();
        assert!(!err.retryable);
    }

    #[test]
    fn build_states_are_read_from_the_succeeded_condition() {
        assert_eq!(build_state(&Value::Null), BuildState::Running);
        assert_eq!(
            build_state(&json!({"conditions": [{"type": "Succeeded", "status": "Unknown"}]})),
            BuildState::Running
        );
        assert_eq!(
            build_state(
                &json!({"conditions": [{"type": "Succeeded", "status": "True"}],
                                "output": {"digest": "sha256:abc"}})
            ),
            BuildState::Succeeded(Some("sha256:abc".into()))
        );
        assert_eq!(
            build_state(
                &json!({"conditions": [{"type": "Succeeded", "status": "False",
                                                 "reason": "X", "message": "cond"}],
                                "failureDetails": {"reason": "StepFailed", "message": "exit 1"}})
            ),
            BuildState::Failed("StepFailed: exit 1".into())
        );
        assert_eq!(
            build_state(
                &json!({"conditions": [{"type": "Succeeded", "status": "False",
                                                 "reason": "BuildNotFound"}]})
            ),
            BuildState::Failed("BuildNotFound".into())
        );
    }

    #[test]
    fn kubernetes_errors_are_classified_by_status_not_by_words() {
        let api = |code: u16, reason: &str, message: &str| {
            kube::Error::Api(
                kube::core::Status::failure(message, reason)
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(WorkError::from_kube("x", &api(503, "ServiceUnavailable", "")).retryable);
        assert!(WorkError::from_kube("x", &api(429, "TooManyRequests", "")).retryable);
        assert!(WorkError::from_kube("x", &api(409, "Conflict", "conflict")).retryable);
        assert!(!WorkError::from_kube("x", &api(422, "Invalid", "timeout in spec")).retryable);
        assert!(!WorkError::from_kube("x", &api(404, "NotFound", "connection")).retryable);
        assert!(!WorkError::from_kube("x", &api(403, "Forbidden", "")).retryable);
    }
}
