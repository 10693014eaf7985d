//! Applying one deployment object to the cluster, pruning what it no longer contains, and
//! removing a stack.
//!
//! * Discovery is shared by a whole reconcile pass ([`ClusterView`]) and re-run only after CRDs
//!   were applied (or when a kind cannot be resolved), never per object.
//! * Namespaces, then CRDs (waiting until they are Established), then everything else, with
//!   server-side apply under the one field manager `brokkr-agent` (forced), the rest in
//!   parallel up to `agent.apply_concurrency`.
//! * What the agent owns is found with a label selector (`brokkr.io/owner-id=<agent>`, plus the
//!   stack label), never by listing everything. Objects with ownerReferences, objects of other
//!   agents and objects that existed before the agent took them over ("adopted", annotated
//!   `k8s.brokkr.io/adopted`) are never deleted: adopted ones are only released (Brokkr's labels
//!   removed).
//! * A failed attempt deletes what it newly created (it checks beforehand what already existed),
//!   so a namespace that existed before is never deleted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{StreamExt, stream};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::discovery::{Discovery, Scope, verbs};
use serde_json::{Value, json};
use uuid::Uuid;

use brokkr_schema::models::{AgentEventStatus, NewAgentEvent};

use crate::applied::{AppliedDeployment, AppliedRef};
use crate::broker::error_chain;
use crate::context::AgentContext;
use crate::labels::{
    CHECKSUM_ANNOTATION, DEPLOYMENT_OBJECT_LABEL, FIELD_MANAGER, OWNER_LABEL, STACK_LABEL,
};
use crate::manifest::{self, ManifestObject, Stamp};
use crate::scope::NamespaceScope;

/// Annotation on objects that existed before the agent first applied them.
pub const ADOPTED_ANNOTATION: &str = "k8s.brokkr.io/adopted";
/// Longest wait for an applied CRD to become Established.
const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(30);
/// Errors listed in one failure message before "and N more".
const ERRORS_SHOWN: usize = 5;

/// Why a deployment object could not be applied (the message of its FAILURE event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApplyFailure {
    pub message: String,
    /// How many of its objects were refused or failed to apply (or to be removed); 0 when the
    /// deployment object failed as a whole (YAML that does not parse, discovery, a CRD that
    /// never became established, shutdown).
    pub failed_objects: usize,
}

impl ApplyFailure {
    /// A failure of the deployment object as a whole, no object in particular.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            failed_objects: 0,
        }
    }

    /// A failure of `failed_objects` of its objects.
    pub fn objects(message: impl Into<String>, failed_objects: usize) -> Self {
        Self {
            message: message.into(),
            failed_objects,
        }
    }
}

/// The identity of an object in the cluster (version-independent).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object the agent applied earlier (found by label, or remembered).
#[derive(Debug, Clone)]
pub struct OwnedObject {
    pub key: ObjectKey,
    pub resource: ApiResource,
    pub namespaced: bool,
    /// The stack label's value.
    pub stack: Option<Uuid>,
    /// It has ownerReferences: its owner manages it, the agent never deletes it.
    pub has_owner_references: bool,
    /// It existed before the agent took it over.
    pub adopted: bool,
    /// As listed: its `resourceVersion` and the deployment object it was applied from, so a
    /// re-apply that changes an object already at that deployment object is seen as a drift
    /// correction. `None` for objects remembered rather than listed.
    pub listed: Option<Listed>,
}

/// The state of an owned object when it was listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub resource_version: String,
    /// `metadata.generation`, for kinds that count spec changes (status updates by controllers
    /// change the resource version but not the generation).
    pub generation: Option<i64>,
    pub deployment_object_id: Option<Uuid>,
}

impl Listed {
    /// Did an apply that returned `live` change the object?
    fn changed_into(&self, live: &kube::core::ObjectMeta) -> bool {
        match (self.generation, live.generation) {
            (Some(before), Some(after)) => before != after,
            _ => live.resource_version.as_deref() != Some(self.resource_version.as_str()),
        }
    }
}

/// Discovery results shared by a reconcile pass.
#[derive(Default)]
pub struct ClusterView {
    discovery: Option<Arc<Discovery>>,
    refreshed_at: Option<Instant>,
}

impl ClusterView {
    /// Runs discovery (with retries).
    pub async fn refresh(&mut self, ctx: &AgentContext) -> Result<(), ApplyFailure> {
        let client = ctx.kube.clone();
        let discovery = ctx
            .kube_call("discovery", || Discovery::new(client.clone()).run())
            .await
            .map_err(|e| ApplyFailure::whole(format!("Kubernetes discovery failed: {e}")))?;
        self.discovery = Some(Arc::new(discovery));
        self.refreshed_at = Some(Instant::now());
        Ok(())
    }

    /// Runs discovery unless it ran within `max_age`.
    pub async fn ensure_fresh(
        &mut self,
        ctx: &AgentContext,
        max_age: Duration,
    ) -> Result<(), ApplyFailure> {
        let fresh = self.refreshed_at.is_some_and(|at| at.elapsed() < max_age);
        if self.discovery.is_none() || !fresh {
            self.refresh(ctx).await?;
        }
        Ok(())
    }

    /// The resource serving `apiVersion` + `kind`, and whether it is namespaced.
    pub fn resolve(&self, group: &str, version: &str, kind: &str) -> Option<(ApiResource, bool)> {
        let discovery = self.discovery.as_ref()?;
        let (resource, caps) =
            discovery.resolve_gvk(&GroupVersionKind::gvk(group, version, kind))?;
        Some((resource, caps.scope == Scope::Namespaced))
    }

    /// Every resource that can be listed and deleted (preferred versions), except Events.
    fn prunable(&self) -> Vec<(ApiResource, bool)> {
        let Some(discovery) = &self.discovery else {
            return Vec::new();
        };
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .filter(|(ar, caps)| {
                caps.supports_operation(verbs::LIST)
                    && caps.supports_operation(verbs::DELETE)
                    && ar.kind != "Event"
            })
            .map(|(ar, caps)| (ar, caps.scope == Scope::Namespaced))
            .collect()
    }
}

/// Lists every object carrying `selector` (a label selector including the owner label), across
/// every listable kind; one list call per kind (per kind and namespace for a namespaced agent,
/// which skips cluster-scoped kinds), in parallel.
pub async fn list_owned(
    ctx: &AgentContext,
    view: &ClusterView,
    selector: &str,
) -> Result<Vec<OwnedObject>, ApplyFailure> {
    let concurrency = usize::try_from(ctx.settings.apply_concurrency).unwrap_or(8);
    let scope = NamespaceScope::of(&ctx.settings);
    let futures: Vec<_> = view
        .prunable()
        .into_iter()
        .flat_map(|(resource, namespaced)| {
            scope
                .listings(&resource, namespaced)
                .into_iter()
                .map(move |namespace| (resource.clone(), namespaced, namespace))
        })
        .map(|(resource, namespaced, namespace)| async move {
            let api: Api<DynamicObject> = match namespace {
                Some(ns) => Api::namespaced_with(ctx.kube.clone(), ns, &resource),
                None => Api::all_with(ctx.kube.clone(), &resource),
            };
            let params = ListParams::default().labels(selector);
            let result = ctx.kube_call("list", || api.list(&params)).await;
            (resource, namespaced, result)
        })
        .collect();
    let lists = stream::iter(futures)
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut owned = Vec::new();
    let mut failures = Vec::new();
    for (resource, namespaced, result) in lists {
        match result {
            Ok(list) => {
                for item in list.items {
                    owned.push(owned_object(&resource, namespaced, &item));
                }
            }
            // A kind the agent may not list (RBAC) cannot hold its objects either.
            Err(kube::Error::Api(status)) if (403..=405).contains(&status.code) => {
                tracing::debug!(kind = %resource.kind, code = status.code, "kind not listable; skipped");
            }
            Err(e) => failures.push(format!("listing {}: {e}", resource.kind)),
        }
    }
    if !failures.is_empty() {
        return Err(ApplyFailure::whole(format!(
            "cannot list the objects this agent owns: {}",
            summarize(&failures)
        )));
    }
    Ok(owned)
}

fn owned_object(resource: &ApiResource, namespaced: bool, item: &DynamicObject) -> OwnedObject {
    let meta = &item.metadata;
    let label = |k: &str| meta.labels.as_ref().and_then(|l| l.get(k)).cloned();
    OwnedObject {
        key: ObjectKey {
            group: resource.group.clone(),
            kind: resource.kind.clone(),
            namespace: if namespaced {
                meta.namespace.clone()
            } else {
                None
            },
            name: meta.name.clone().unwrap_or_default(),
        },
        resource: resource.clone(),
        namespaced,
        stack: label(STACK_LABEL).and_then(|s| s.parse().ok()),
        has_owner_references: meta
            .owner_references
            .as_ref()
            .is_some_and(|r| !r.is_empty()),
        adopted: meta
            .annotations
            .as_ref()
            .is_some_and(|a| a.get(ADOPTED_ANNOTATION).is_some_and(|v| v == "true")),
        listed: meta
            .resource_version
            .clone()
            .map(|resource_version| Listed {
                resource_version,
                generation: meta.generation,
                deployment_object_id: label(DEPLOYMENT_OBJECT_LABEL).and_then(|d| d.parse().ok()),
            }),
    }
}

/// Turns remembered [`AppliedRef`]s back into owned objects (kinds no longer served are
/// skipped: their objects are gone with their CRD).
pub fn owned_from_registry(
    view: &ClusterView,
    entry: &AppliedDeployment,
    adopted: &HashSet<ObjectKey>,
) -> Vec<OwnedObject> {
    entry
        .objects
        .iter()
        .filter_map(|r| {
            let (group, version) = match r.api_version.rsplit_once('/') {
                Some((g, v)) => (g, v),
                None => ("", r.api_version.as_str()),
            };
            let (resource, namespaced) = view.resolve(group, version, &r.kind)?;
            let key = ObjectKey {
                group: group.to_owned(),
                kind: r.kind.clone(),
                namespace: if namespaced {
                    r.namespace.clone()
                } else {
                    None
                },
                name: r.name.clone(),
            };
            Some(OwnedObject {
                adopted: adopted.contains(&key),
                key,
                resource,
                namespaced,
                stack: Some(entry.stack_id),
                has_owner_references: false,
                listed: None,
            })
        })
        .collect()
}

/// One deployment object to apply.
pub struct Target<'a> {
    pub deployment_object_id: Uuid,
    pub stack_id: Uuid,
    pub checksum: &'a str,
    pub yaml: &'a str,
}

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// It did not exist.
    Created,
    /// It existed and was not the agent's: taken over, never deleted by the agent.
    Adopted,
    /// The agent owned it already.
    Updated,
    /// The agent owned it already, at this deployment object, and it had drifted: the apply
    /// changed it back.
    Corrected,
}

/// An object of the deployment object, resolved against discovery.
struct Planned {
    object: ManifestObject,
    key: ObjectKey,
    resource: Option<ApiResource>,
}

/// Applies `target` and prunes what `previous` holds but `target` no longer does. `adopted`
/// remembers objects that existed before the agent took them over (updated here).
pub async fn apply_deployment(
    ctx: &AgentContext,
    view: &mut ClusterView,
    target: &Target<'_>,
    previous: &[OwnedObject],
    adopted: &mut HashSet<ObjectKey>,
) -> Result<AppliedDeployment, ApplyFailure> {
    // No objects (empty YAML, comments only) is an empty desired state: nothing is applied and
    // the prune below removes everything the stack had, as for a deletion marker.
    let mut objects =
        manifest::parse(target.yaml).map_err(|e| ApplyFailure::whole(e.to_string()))?;
    manifest::order(&mut objects);
    let has_crds = objects.iter().any(|o| o.phase() == 1);
    let mut planned = plan(view, objects);
    // A kind unknown to a cached discovery may be new: look again once.
    if !has_crds && planned.iter().any(|p| p.resource.is_none()) {
        view.refresh(ctx).await?;
        let objects = planned.into_iter().map(|p| p.object).collect();
        planned = plan(view, objects);
    }
    if !has_crds {
        check_resolved(&planned)?;
    }
    check_scope(ctx, &planned)?;
    let stamp = Stamp {
        stack_id: target.stack_id,
        deployment_object_id: target.deployment_object_id,
        agent_id: ctx.agent_id,
        checksum: target.checksum,
    };
    let previous_keys: HashMap<&ObjectKey, Option<&Listed>> = previous
        .iter()
        .map(|o| (&o.key, o.listed.as_ref()))
        .collect();
    // Objects whose drift this apply corrected: changed ones, and, when the deployment object
    // was applied before, ones it had to create again (deleted behind the agent's back).
    let mut corrected: Vec<ObjectKey> = Vec::new();
    let applied_before = previous.iter().any(|o| {
        o.listed
            .as_ref()
            .is_some_and(|l| l.deployment_object_id == Some(target.deployment_object_id))
    });
    // What this attempt created or took over, to undo if it fails.
    let mut created: Vec<(ApiResource, ObjectKey, Applied)> = Vec::new();

    // Phase 0 and 1: namespaces and CRDs, one by one.
    let split = planned.iter().position(|p| p.object.phase() == 2);
    let rest = match split {
        Some(i) => planned.split_off(i),
        None => Vec::new(),
    };
    let priority = planned;
    let mut crds = Vec::new();
    for p in &priority {
        let result = apply_planned(ctx, p, &stamp, &previous_keys, adopted).await;
        match result {
            Ok(Applied::Corrected) => corrected.push(p.key.clone()),
            Ok(applied) => {
                if applied == Applied::Created && applied_before {
                    corrected.push(p.key.clone());
                }
                if applied != Applied::Updated
                    && let Some(resource) = &p.resource
                {
                    created.push((resource.clone(), p.key.clone(), applied));
                }
                if p.object.phase() == 1 {
                    crds.push(p.object.name.clone());
                }
            }
            Err(e) => {
                rollback(ctx, &created).await;
                return Err(ApplyFailure::objects(
                    format!(
                        "document {} ({}): {e}",
                        p.object.document_index,
                        p.object.describe()
                    ),
                    1,
                ));
            }
        }
    }
    let mut rest = rest;
    if !crds.is_empty() {
        for name in &crds {
            if let Err(e) = wait_established(ctx, name).await {
                rollback(ctx, &created).await;
                return Err(e);
            }
        }
        if let Err(e) = view.refresh(ctx).await {
            rollback(ctx, &created).await;
            return Err(e);
        }
        rest = plan(view, rest.into_iter().map(|p| p.object).collect());
        if let Err(e) = check_resolved(&rest).and_then(|()| check_scope(ctx, &rest)) {
            rollback(ctx, &created).await;
            return Err(e);
        }
    }

    // Phase 2: everything else, in parallel.
    let concurrency = usize::try_from(ctx.settings.apply_concurrency).unwrap_or(8);
    let mut adopted_now = adopted.clone();
    let futures: Vec<_> = rest
        .iter()
        .map(|p| {
            let stamp = &stamp;
            let previous_keys = &previous_keys;
            let mut local_adopted = adopted.clone();
            async move {
                let r = apply_planned(ctx, p, stamp, previous_keys, &mut local_adopted).await;
                (p, r, local_adopted.contains(&p.key))
            }
        })
        .collect();
    let results = stream::iter(futures)
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut failures = Vec::new();
    for (p, result, is_adopted) in results {
        if is_adopted {
            adopted_now.insert(p.key.clone());
        }
        match result {
            Ok(Applied::Updated) => {}
            Ok(Applied::Corrected) => corrected.push(p.key.clone()),
            Ok(applied) => {
                if applied == Applied::Created && applied_before {
                    corrected.push(p.key.clone());
                }
                if let Some(resource) = &p.resource {
                    created.push((resource.clone(), p.key.clone(), applied));
                }
            }
            Err(e) => failures.push((
                p.object.document_index,
                format!(
                    "document {} ({}): {e}",
                    p.object.document_index,
                    p.object.describe()
                ),
            )),
        }
    }
    *adopted = adopted_now;
    if !failures.is_empty() {
        failures.sort();
        rollback(ctx, &created).await;
        let messages: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        return Err(ApplyFailure::objects(summarize(&messages), messages.len()));
    }

    // Prune what the previous version had and this one does not.
    let desired: HashSet<ObjectKey> = priority
        .iter()
        .chain(rest.iter())
        .map(|p| p.key.clone())
        .collect();
    let stale: Vec<&OwnedObject> = previous
        .iter()
        .filter(|o| !desired.contains(&o.key))
        .collect();
    let removed = remove_objects(ctx, &stale, adopted).await;
    record_pruned(stale.len(), &removed);
    removed.map_err(|e| ApplyFailure {
        message: format!("applied, but pruning failed: {}", e.message),
        ..e
    })?;

    if !corrected.is_empty() {
        report_drift(ctx, target, &corrected).await;
    }
    let all: Vec<&Planned> = priority.iter().chain(rest.iter()).collect();
    let mut namespaces: Vec<String> = all.iter().filter_map(|p| p.key.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    Ok(AppliedDeployment {
        deployment_object_id: target.deployment_object_id,
        stack_id: target.stack_id,
        checksum: target.checksum.to_owned(),
        namespaces,
        objects: all
            .iter()
            .map(|p| AppliedRef {
                api_version: p.object.api_version.clone(),
                kind: p.object.kind.clone(),
                namespace: p.key.namespace.clone(),
                name: p.object.name.clone(),
            })
            .collect(),
        applied_at: Utc::now(),
    })
}

/// Removes everything the agent applied for a stack (a deletion marker).
pub async fn remove_stack(
    ctx: &AgentContext,
    owned: &[OwnedObject],
    adopted: &mut HashSet<ObjectKey>,
) -> Result<(), ApplyFailure> {
    let refs: Vec<&OwnedObject> = owned.iter().collect();
    let removed = remove_objects(ctx, &refs, adopted).await;
    record_pruned(refs.len(), &removed);
    removed.map_err(|e| ApplyFailure {
        message: format!("removing the stack's objects failed: {}", e.message),
        ..e
    })
}

/// `brokkr.apply.pruned` on the apply span: the objects removed (or released) of `stale`.
fn record_pruned(stale: usize, removed: &Result<(), ApplyFailure>) {
    let failed = removed.as_ref().err().map_or(0, |e| e.failed_objects);
    tracing::Span::current().record("brokkr.apply.pruned", stale.saturating_sub(failed));
}

fn plan(view: &ClusterView, objects: Vec<ManifestObject>) -> Vec<Planned> {
    objects
        .into_iter()
        .map(|object| {
            let resolved = view.resolve(object.group(), object.version(), &object.kind);
            let namespaced = resolved.as_ref().is_some_and(|(_, n)| *n);
            let key = ObjectKey {
                group: object.group().to_owned(),
                kind: object.kind.clone(),
                namespace: namespaced
                    .then(|| object.namespace.clone().unwrap_or_else(|| "default".into())),
                name: object.name.clone(),
            };
            Planned {
                key,
                resource: resolved.map(|(r, _)| r),
                object,
            }
        })
        .collect()
}

fn check_resolved(planned: &[Planned]) -> Result<(), ApplyFailure> {
    let unknown: Vec<String> = planned
        .iter()
        .filter(|p| p.resource.is_none())
        .map(|p| {
            format!(
                "document {} ({}): kind {} of {} is not served by the cluster",
                p.object.document_index,
                p.object.describe(),
                p.object.kind,
                p.object.api_version
            )
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApplyFailure::objects(summarize(&unknown), unknown.len()))
    }
}

/// Refuses, before anything is applied, every object outside the agent's namespaces (one line
/// per object: document, kind, namespace/name and why).
fn check_scope(ctx: &AgentContext, planned: &[Planned]) -> Result<(), ApplyFailure> {
    let scope = NamespaceScope::of(&ctx.settings);
    let refused: Vec<String> = planned
        .iter()
        .filter_map(|p| {
            let why = scope.refusal(p.resource.as_ref()?, p.key.namespace.as_deref())?;
            Some(format!(
                "document {} ({}): {why}",
                p.object.document_index,
                p.object.describe()
            ))
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(ApplyFailure::objects(summarize(&refused), refused.len()))
    }
}

fn api_for(ctx: &AgentContext, resource: &ApiResource, key: &ObjectKey) -> Api<DynamicObject> {
    match &key.namespace {
        Some(ns) => Api::namespaced_with(ctx.kube.clone(), ns, resource),
        None => Api::all_with(ctx.kube.clone(), resource),
    }
}

/// Applies one object; true when this apply created it. Objects the agent did not own before
/// are looked up first: one that exists is adopted (never deleted by the agent later).
async fn apply_planned(
    ctx: &AgentContext,
    p: &Planned,
    stamp: &Stamp<'_>,
    previous_keys: &HashMap<&ObjectKey, Option<&Listed>>,
    adopted: &mut HashSet<ObjectKey>,
) -> Result<Applied, String> {
    let Some(resource) = &p.resource else {
        return Err(format!(
            "kind {} of {} is not served by the cluster",
            p.object.kind, p.object.api_version
        ));
    };
    let api = api_for(ctx, resource, &p.key);
    let mut applied = Applied::Updated;
    if !previous_keys.contains_key(&p.key) && !adopted.contains(&p.key) {
        match ctx.kube_call("get", || api.get_opt(&p.key.name)).await {
            Ok(None) => applied = Applied::Created,
            Ok(Some(existing)) => {
                let owner = existing
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(OWNER_LABEL))
                    .cloned();
                let ours = owner.as_deref() == Some(ctx.agent_id.to_string().as_str());
                let marked = existing
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.get(ADOPTED_ANNOTATION).is_some_and(|v| v == "true"));
                if !ours || marked {
                    adopted.insert(p.key.clone());
                }
                if !ours {
                    applied = Applied::Adopted;
                }
            }
            Err(e) => return Err(format!("cannot read it before applying: {e}")),
        }
    }
    let mut body = p.object.body.clone();
    manifest::stamp(&mut body, stamp);
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        match &p.key.namespace {
            Some(ns) => {
                meta.insert("namespace".into(), Value::String(ns.clone()));
            }
            None => {
                meta.remove("namespace");
            }
        }
        if adopted.contains(&p.key)
            && let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut)
        {
            annotations.insert(ADOPTED_ANNOTATION.into(), Value::String("true".into()));
        }
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&body);
    let before = previous_keys.get(&p.key).copied().flatten();
    ctx.kube_call("apply", || api.patch(&p.key.name, &params, &patch))
        .await
        .map(|live| match before {
            // Already at this deployment object, yet the apply changed it: someone else had.
            Some(listed)
                if applied == Applied::Updated
                    && listed.deployment_object_id == Some(stamp.deployment_object_id)
                    && listed.changed_into(&live.metadata) =>
            {
                Applied::Corrected
            }
            _ => applied,
        })
        .map_err(|e| e.to_string())
}

/// Reports objects whose drift an apply corrected: a log line, the counter
/// `brokkr_agent_drift_corrections_total` (one per object) and a `DRIFT_CORRECTED` agent event on
/// the deployment object (best effort: a broker that cannot be reached only loses the event).
async fn report_drift(ctx: &AgentContext, target: &Target<'_>, corrected: &[ObjectKey]) {
    let objects: Vec<String> = corrected.iter().map(ObjectKey::to_string).collect();
    let objects = objects.join(", ");
    tracing::info!(
        deployment_object = %target.deployment_object_id,
        stack = %target.stack_id,
        count = corrected.len(),
        objects = %objects,
        "drift corrected: objects changed outside Brokkr were applied again"
    );
    ctx.metrics
        .drift_corrections
        .inc_by(u64::try_from(corrected.len()).unwrap_or(u64::MAX));
    let event = NewAgentEvent {
        agent_id: Some(ctx.agent_id),
        deployment_object_id: target.deployment_object_id,
        event_type: DRIFT_CORRECTED.into(),
        status: AgentEventStatus::Success.as_str().into(),
        message: Some(format!("corrected drift of {objects}")),
    };
    if let Err(e) = ctx
        .broker
        .api()
        .report_agent_event(ctx.agent_id, &event)
        .await
    {
        tracing::warn!(deployment_object = %target.deployment_object_id, error = %error_chain(&e), "cannot report a drift correction");
    }
}

/// `event_type` of the agent event sent when an apply corrected drift.
pub const DRIFT_CORRECTED: &str = "DRIFT_CORRECTED";

/// Waits until CRD `name` is Established.
async fn wait_established(ctx: &AgentContext, name: &str) -> Result<(), ApplyFailure> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api: Api<CustomResourceDefinition> = Api::all(ctx.kube.clone());
    let deadline = Instant::now() + CRD_ESTABLISHED_TIMEOUT;
    loop {
        let crd = ctx
            .kube_call("get", || api.get(name))
            .await
            .map_err(|e| ApplyFailure::whole(format!("CustomResourceDefinition {name}: {e}")))?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ApplyFailure::whole(format!(
                "CustomResourceDefinition {name} not Established after {CRD_ESTABLISHED_TIMEOUT:?}"
            )));
        }
        if !ctx.sleep(Duration::from_millis(200)).await {
            return Err(ApplyFailure::whole("the agent is shutting down"));
        }
    }
}

/// Deletes what one failed attempt created, newest first (best effort).
async fn rollback(ctx: &AgentContext, created: &[(ApiResource, ObjectKey, Applied)]) {
    let params = DeleteParams::background();
    for (resource, key, applied) in created.iter().rev() {
        let api = api_for(ctx, resource, key);
        if *applied == Applied::Adopted {
            if let Err(e) = release(ctx, &api, &key.name).await {
                tracing::warn!(object = %key, error = %e, "rollback could not release");
            }
            continue;
        }
        match ctx
            .kube_call("delete", || api.delete(&key.name, &params))
            .await
        {
            Ok(_) => {
                tracing::info!(object = %key, "rolled back: deleted what the failed attempt created")
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => tracing::warn!(object = %key, error = %e, "rollback could not delete"),
        }
    }
}

/// Deletes objects the agent owns (everything else first, then CRDs, then namespaces), skipping
/// those with ownerReferences and releasing adopted ones.
async fn remove_objects(
    ctx: &AgentContext,
    objects: &[&OwnedObject],
    adopted: &mut HashSet<ObjectKey>,
) -> Result<(), ApplyFailure> {
    let mut by_phase: HashMap<u8, Vec<&OwnedObject>> = HashMap::new();
    for o in objects {
        if o.has_owner_references {
            continue;
        }
        by_phase
            .entry(manifest::phase_of(&o.key.kind, &o.key.group))
            .or_default()
            .push(o);
    }
    let concurrency = usize::try_from(ctx.settings.apply_concurrency).unwrap_or(8);
    let mut failures = Vec::new();
    for phase in [2u8, 1, 0] {
        let Some(batch) = by_phase.remove(&phase) else {
            continue;
        };
        let adopted_now = &*adopted;
        let futures: Vec<_> = batch
            .into_iter()
            .map(|o| async move {
                let api = api_for(ctx, &o.resource, &o.key);
                let params = DeleteParams::background();
                let outcome = if o.adopted || adopted_now.contains(&o.key) {
                    release(ctx, &api, &o.key.name).await.map(|()| "released")
                } else {
                    match ctx
                        .kube_call("delete", || api.delete(&o.key.name, &params))
                        .await
                    {
                        Ok(_) => Ok("deleted"),
                        Err(kube::Error::Api(s)) if s.code == 404 => Ok("already gone"),
                        Err(e) => Err(e.to_string()),
                    }
                };
                (o, outcome)
            })
            .collect();
        let results = stream::iter(futures)
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        for (o, outcome) in results {
            match outcome {
                Ok(what) => {
                    tracing::info!(object = %o.key, "{what}");
                    if what == "released" {
                        adopted.remove(&o.key);
                    }
                }
                Err(e) => failures.push(format!("{}: {e}", o.key)),
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ApplyFailure::objects(summarize(&failures), failures.len()))
    }
}

/// Removes Brokkr's labels and annotations from an adopted object, leaving it in place.
async fn release(ctx: &AgentContext, api: &Api<DynamicObject>, name: &str) -> Result<(), String> {
    let patch = json!({"metadata": {
        "labels": {STACK_LABEL: null, DEPLOYMENT_OBJECT_LABEL: null, OWNER_LABEL: null},
        "annotations": {OWNER_LABEL: null, CHECKSUM_ANNOTATION: null, ADOPTED_ANNOTATION: null},
    }});
    let params = PatchParams::default();
    let patch = Patch::Merge(&patch);
    match ctx
        .kube_call("patch", || api.patch(name, &params, &patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

fn summarize(messages: &[String]) -> String {
    let mut text = messages
        .iter()
        .take(ERRORS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if messages.len() > ERRORS_SHOWN {
        text.push_str(&format!("; and {} more", messages.len() - ERRORS_SHOWN));
    }
    text
}
