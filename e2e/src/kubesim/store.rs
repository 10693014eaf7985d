//! The object store: every object as JSON, keyed by (group, resource, namespace, name), with
//! one global `resourceVersion` counter, the server-set metadata (uid, creationTimestamp,
//! generation), cascading deletes (a namespace's objects, a CRD's custom objects, dependents
//! through `ownerReferences`) and a short history of changes for watches.
//!
//! The store knows nothing about HTTP; [`super::objects`] implements the API verbs on top.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::error::{ApiError, ApiResult};
use super::kinds::{self, ResourceType};

/// How many changes are kept for watches that resume from an older resourceVersion.
const HISTORY: usize = 4096;

/// Identity of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjKey {
    /// API group ("" for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace ("" for cluster-scoped objects).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl ObjKey {
    /// The key of an object of `rt`.
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> Self {
        ObjKey {
            group: rt.group.clone(),
            resource: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// One change, as sent to watchers.
#[derive(Debug, Clone)]
pub struct Change {
    /// resourceVersion of the change.
    pub rv: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The object's key.
    pub key: ObjKey,
    /// The object after (or, for DELETED, at) the change.
    pub object: Value,
}

/// The stored cluster state.
pub struct Store {
    objects: BTreeMap<ObjKey, Value>,
    rv: u64,
    history: VecDeque<Change>,
    changes: broadcast::Sender<Change>,
    crd_types: Vec<ResourceType>,
}

/// Current time as the API server writes it.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `ownerReferences` uids of an object.
pub fn owner_uids(object: &Value) -> Vec<String> {
    object["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(str::to_string))
        .collect()
}

/// Everything except metadata and status, for generation tracking.
fn spec_part(object: &Value) -> Value {
    match object {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// A store holding the namespaces every cluster starts with.
    pub fn new() -> Self {
        let (changes, _) = broadcast::channel(1024);
        let mut store = Store {
            objects: BTreeMap::new(),
            rv: 0,
            history: VecDeque::new(),
            changes,
            crd_types: Vec::new(),
        };
        let ns_type = kinds::builtins()
            .into_iter()
            .find(ResourceType::is_namespace);
        if let Some(ns_type) = ns_type {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let object = json!({"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": name}, "spec": {}});
                // Creating the built-in namespaces cannot conflict in an empty store.
                let _ = store.commit(&ns_type, "", name, None, object, false);
            }
        }
        store
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Subscribes to changes (for watches).
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Changes after `rv` still in the history; `None` when some were already dropped.
    pub fn changes_since(&self, rv: u64) -> Option<Vec<Change>> {
        if let Some(first) = self.history.front()
            && first.rv > rv + 1
            && rv < self.rv
        {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// All served resource types: built-ins plus those of Established CRDs.
    pub fn resource_types(&self) -> Vec<ResourceType> {
        let mut all = kinds::builtins();
        all.extend(self.crd_types.iter().cloned());
        all
    }

    /// The resource type a path addresses.
    pub fn resolve(&self, group: &str, version: &str, resource: &str) -> Option<ResourceType> {
        self.resource_types()
            .into_iter()
            .find(|t| t.group == group && t.version == version && t.plural == resource)
    }

    /// The preferred resource type for a kind of an API version (e.g. the controller's owner
    /// lookups).
    pub fn resolve_kind(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        let (group, version) = kinds::split_api_version(api_version);
        self.resource_types()
            .into_iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
    }

    /// A stored object.
    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one resource, in one namespace (or all when `namespace` is `None`), sorted by
    /// namespace and name.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<Value> {
        let start = ObjKey {
            group: rt.group.clone(),
            resource: rt.plural.clone(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(|(k, _)| {
                k.group == rt.group
                    && k.resource == rt.plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a namespace exists (and is not being deleted).
    pub fn namespace_exists(&self, name: &str) -> bool {
        self.objects
            .get(&ObjKey {
                group: String::new(),
                resource: "namespaces".into(),
                namespace: String::new(),
                name: name.into(),
            })
            .is_some_and(|ns| !ns["metadata"]["deletionTimestamp"].is_string())
    }

    /// 404 unless the namespace of a namespaced write exists.
    pub fn require_namespace(&self, rt: &ResourceType, namespace: &str) -> ApiResult<()> {
        if rt.namespaced && !self.namespace_exists(namespace) {
            return Err(ApiError::not_found("namespaces", namespace));
        }
        Ok(())
    }

    /// Stores `object` as the new state of (rt, namespace, name), stamping the server-set
    /// metadata. `old` is the current object (None for a create). With `dry_run` nothing is
    /// stored. Returns the object as stored.
    pub fn commit(
        &mut self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        old: Option<&Value>,
        mut object: Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        if !object.is_object() {
            return Err(ApiError::bad_request("the object must be a JSON object"));
        }
        object["apiVersion"] = json!(rt.api_version());
        object["kind"] = json!(rt.kind);
        if !object["metadata"].is_object() {
            object["metadata"] = Value::Object(Map::new());
        }
        let (uid, created, generation) = match old {
            Some(old) => {
                let old_meta = &old["metadata"];
                let mut generation = old_meta["generation"].as_i64().unwrap_or(1);
                if spec_part(old) != spec_part(&object) {
                    generation += 1;
                }
                (
                    old_meta["uid"].clone(),
                    old_meta["creationTimestamp"].clone(),
                    generation,
                )
            }
            None => (json!(uuid::Uuid::new_v4().to_string()), json!(now()), 1),
        };
        let meta = &mut object["metadata"];
        meta["name"] = json!(name);
        if rt.namespaced {
            meta["namespace"] = json!(namespace);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        meta["uid"] = uid;
        meta["creationTimestamp"] = created;
        meta["generation"] = json!(generation);
        if let Some(old) = old
            && let Some(ts) = old["metadata"]["deletionTimestamp"].as_str()
        {
            meta["deletionTimestamp"] = json!(ts);
        }
        if rt.is_crd() {
            accept_crd(&mut object)?;
        }
        if old.is_none() && rt.group.is_empty() && rt.plural == "services" {
            assign_cluster_ip(&mut object);
        }
        if rt.is_namespace() && !object["status"]["phase"].is_string() {
            object["status"] = json!({"phase": "Active"});
        }
        if dry_run {
            if let Some(old) = old {
                object["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            }
            return Ok(object);
        }
        if let Some(old) = old {
            // A write that changes nothing is not stored: no new resourceVersion, no event.
            let mut probe = object.clone();
            probe["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if probe == *old {
                return Ok(old.clone());
            }
        }
        let key = ObjKey::new(rt, namespace, name);
        // An object marked for deletion goes once its last finalizer is removed.
        let finalizers_left = object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if object["metadata"]["deletionTimestamp"].is_string() && !finalizers_left {
            self.remove_cascading(&key, true);
            return Ok(object);
        }
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.objects.insert(key.clone(), object.clone());
        self.record(kind, key, object.clone());
        if rt.is_crd() {
            self.refresh_crd_types();
        }
        Ok(object)
    }

    fn record(&mut self, kind: &'static str, key: ObjKey, object: Value) {
        let change = Change {
            rv: self.rv,
            kind,
            key,
            object,
        };
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(change.clone());
        // No receivers is fine: nobody is watching.
        let _ = self.changes.send(change);
    }

    fn refresh_crd_types(&mut self) {
        self.crd_types = self
            .objects
            .iter()
            .filter(|(k, _)| {
                k.group == "apiextensions.k8s.io" && k.resource == "customresourcedefinitions"
            })
            .flat_map(|(_, crd)| kinds::from_crd(crd))
            .collect();
    }

    /// Marks an object for deletion (it has finalizers): sets deletionTimestamp.
    pub fn mark_deleting(&mut self, rt: &ResourceType, key: &ObjKey) -> ApiResult<Value> {
        let Some(old) = self.objects.get(key).cloned() else {
            return Err(ApiError::not_found(&rt.qualified(), &key.name));
        };
        if old["metadata"]["deletionTimestamp"].is_string() {
            return Ok(old);
        }
        let mut object = old.clone();
        object["metadata"]["deletionTimestamp"] = json!(now());
        object["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if rt.is_namespace() {
            object["status"]["phase"] = json!("Terminating");
        }
        self.rv += 1;
        object["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.objects.insert(key.clone(), object.clone());
        self.record("MODIFIED", key.clone(), object.clone());
        if rt.is_crd() {
            self.refresh_crd_types();
        }
        Ok(object)
    }

    /// Removes an object and everything that depends on it: a namespace's objects, a CRD's
    /// custom objects and (unless `orphan`... i.e. when `cascade`) objects owned through
    /// `ownerReferences`. Returns the removed object.
    pub fn remove_cascading(&mut self, key: &ObjKey, cascade: bool) -> Option<Value> {
        let object = self.objects.remove(key)?;
        self.rv += 1;
        let mut gone = object.clone();
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.record("DELETED", key.clone(), gone);
        let is_namespace = key.group.is_empty() && key.resource == "namespaces";
        let is_crd =
            key.group == "apiextensions.k8s.io" && key.resource == "customresourcedefinitions";
        let mut dependents: Vec<ObjKey> = Vec::new();
        if is_namespace {
            dependents.extend(
                self.objects
                    .keys()
                    .filter(|k| k.namespace == key.name)
                    .cloned(),
            );
        }
        if is_crd {
            let group = object["spec"]["group"].as_str().unwrap_or_default();
            let plural = object["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default();
            dependents.extend(
                self.objects
                    .keys()
                    .filter(|k| k.group == group && k.resource == plural)
                    .cloned(),
            );
            self.refresh_crd_types();
        }
        if cascade && let Some(uid) = object["metadata"]["uid"].as_str() {
            dependents.extend(
                self.objects
                    .iter()
                    .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
                    .map(|(k, _)| k.clone()),
            );
        }
        for dependent in dependents {
            self.remove_cascading(&dependent, true);
        }
        Some(object)
    }

    /// Every stored object (for the controller's scans), with its key.
    pub fn all(&self) -> impl Iterator<Item = (&ObjKey, &Value)> {
        self.objects.iter()
    }
}

/// Gives a new Service a cluster IP, as the API server does (not for ExternalName or headless
/// services, nor when one was requested).
fn assign_cluster_ip(service: &mut Value) {
    let spec = &mut service["spec"];
    if !spec.is_object() || spec["type"] == "ExternalName" || spec["clusterIP"].is_string() {
        return;
    }
    let digest = uuid::Uuid::new_v4();
    let bytes = digest.as_bytes();
    let ip = format!("10.96.{}.{}", bytes[0], bytes[1].max(1));
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if spec["type"].is_null() {
        spec["type"] = json!("ClusterIP");
    }
}

/// Validates a CRD and marks it accepted and Established (kubesim establishes CRDs at once).
fn accept_crd(crd: &mut Value) -> ApiResult<()> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let plural = spec["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    let versions = spec["versions"].as_array().map(Vec::len).unwrap_or(0);
    if group.is_empty() || plural.is_empty() || kind.is_empty() || versions == 0 {
        return Err(ApiError::invalid(format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: spec.group, spec.names.plural, spec.names.kind and spec.versions are required"
        )));
    }
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        )));
    }
    if !matches!(spec["scope"].as_str(), Some("Namespaced") | Some("Cluster")) {
        return Err(ApiError::invalid(format!(
            "CustomResourceDefinition.apiextensions.k8s.io \"{name}\" is invalid: spec.scope: Unsupported value: must be Namespaced or Cluster"
        )));
    }
    let now = now();
    let mut names = spec["names"].clone();
    if names["singular"].is_null() {
        names["singular"] = json!(kind.to_lowercase());
    }
    if names["listKind"].is_null() {
        names["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
    Ok(())
}
