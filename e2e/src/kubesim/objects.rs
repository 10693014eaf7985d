//! The API verbs on objects: get, list, create, replace, patch (merge, JSON, strategic and
//! server-side apply), delete and deletecollection, with the API server's checks (names,
//! namespaces, resourceVersion preconditions, dryRun) on top of the [`Store`].

use std::collections::HashMap;

use rand::Rng;
use serde_json::{Value, json};

use super::apply::{self, Scope};
use super::error::{ApiError, ApiResult};
use super::kinds::ResourceType;
use super::patch;
use super::selectors::Selector;
use super::store::{ObjKey, Store};

/// Options common to writes, from the query string and headers.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `fieldManager`, or derived from the User-Agent.
    pub field_manager: String,
    /// Whether `fieldManager` was given explicitly.
    pub explicit_manager: bool,
    /// `force=true` for apply.
    pub force: bool,
}

impl WriteOptions {
    /// Reads `dryRun`, `fieldManager`, `force` and the User-Agent.
    pub fn from_query(query: &HashMap<String, String>, user_agent: &str) -> ApiResult<Self> {
        let dry_run = match query.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unsupported dryRun value {other:?}: only \"All\" is supported"
                )));
            }
        };
        let explicit = query.get("fieldManager").filter(|m| !m.is_empty());
        let field_manager = match explicit {
            Some(m) => m.clone(),
            None => {
                // The API server names an unnamed manager after the client's User-Agent.
                let prefix = user_agent.split('/').next().unwrap_or_default();
                if prefix.is_empty() {
                    "unknown".to_string()
                } else {
                    prefix.to_string()
                }
            }
        };
        Ok(WriteOptions {
            dry_run,
            explicit_manager: explicit.is_some(),
            field_manager,
            force: query.get("force").is_some_and(|f| f == "true" || f == "1"),
        })
    }
}

/// Where a request points: a resource type, a namespace, maybe a name and subresource.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource type.
    pub rt: ResourceType,
    /// Namespace from the path (namespaced kinds only).
    pub namespace: Option<String>,
    /// Object name, for object paths.
    pub name: Option<String>,
    /// `status`, `log`, ... for subresource paths.
    pub subresource: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn key(&self, name: &str) -> ObjKey {
        ObjKey::new(&self.rt, self.ns(), name)
    }

    fn scope(&self) -> Scope {
        match (self.subresource.as_deref(), self.rt.has_status) {
            (Some("status"), _) => Scope::StatusOnly,
            (_, true) => Scope::NoStatus,
            (_, false) => Scope::All,
        }
    }
}

/// A DNS-1123 subdomain, as object names must be.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn check_name(rt: &ResourceType, name: &str) -> ApiResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            rt.kind
        )))
    }
}

/// Checks the body's apiVersion/kind/namespace against the path.
fn check_identity(target: &Target, body: &Value) -> ApiResult<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request("the request body must be an object"));
    }
    let rt = &target.rt;
    if let Some(kind) = body["kind"].as_str()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the body ({kind}) does not match the kind of the path ({})",
            rt.kind
        )));
    }
    if let Some(api_version) = body["apiVersion"].as_str()
        && api_version != rt.api_version()
    {
        return Err(ApiError::bad_request(format!(
            "the apiVersion in the body ({api_version}) does not match the path ({})",
            rt.api_version()
        )));
    }
    if rt.namespaced
        && let Some(ns) = body["metadata"]["namespace"].as_str()
        && !ns.is_empty()
        && ns != target.ns()
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

fn body_name_matches(body: &Value, name: &str) -> ApiResult<()> {
    match body["metadata"]["name"].as_str() {
        Some(n) if n != name => Err(ApiError::bad_request(
            "the name of the object does not match the name on the URL",
        )),
        _ => Ok(()),
    }
}

/// An object as returned to the client (apiVersion of the requested version).
fn present(target: &Target, mut object: Value) -> Value {
    object["apiVersion"] = json!(target.rt.api_version());
    object
}

/// GET on an object (or its status subresource).
pub fn get(store: &Store, target: &Target) -> ApiResult<Value> {
    let name = target.name.as_deref().unwrap_or_default();
    let object = store
        .get(&target.key(name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&target.rt.qualified(), name))?;
    Ok(present(target, object))
}

/// The objects a list or deletecollection selects.
fn select(
    store: &Store,
    target: &Target,
    query: &HashMap<String, String>,
) -> ApiResult<Vec<Value>> {
    let labels = match query.get("labelSelector") {
        Some(s) => Selector::parse_labels(s)?,
        None => Selector::default(),
    };
    let field_sel = match query.get("fieldSelector") {
        Some(s) => Selector::parse_fields(s)?,
        None => Selector::default(),
    };
    Ok(store
        .list(&target.rt, target.namespace.as_deref())
        .into_iter()
        .filter(|o| labels.matches_labels(&o["metadata"]["labels"]))
        .filter(|o| field_sel.matches_fields(o))
        .map(|o| present(target, o))
        .collect())
}

/// GET on a collection: `{Kind}List` with selectors, `limit` and `continue`.
pub fn list(store: &Store, target: &Target, query: &HashMap<String, String>) -> ApiResult<Value> {
    let mut items = select(store, target, query)?;
    let offset = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("invalid continue token"))?,
        None => 0,
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let total = items.len();
    items = items.into_iter().skip(offset).collect();
    let mut metadata = json!({"resourceVersion": store.resource_version().to_string()});
    if let Some(limit) = limit
        && items.len() > limit
    {
        items.truncate(limit);
        metadata["continue"] = json!((offset + limit).to_string());
        metadata["remainingItemCount"] = json!(total - offset - limit);
    }
    Ok(json!({
        "apiVersion": target.rt.api_version(),
        "kind": format!("{}List", target.rt.kind),
        "metadata": metadata,
        "items": items,
    }))
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// POST on a collection.
pub fn create(
    store: &mut Store,
    target: &Target,
    mut body: Value,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    check_identity(target, &body)?;
    let rt = &target.rt;
    let name = match body["metadata"]["name"].as_str().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match body["metadata"]["generateName"].as_str() {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", random_suffix()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "{} is invalid: metadata.name: Required value: name or generateName is required",
                    rt.kind
                )));
            }
        },
    };
    check_name(rt, &name)?;
    store.require_namespace(rt, target.ns())?;
    let key = target.key(&name);
    if store.get(&key).is_some() {
        return Err(ApiError::already_exists(&rt.qualified(), &name));
    }
    if let Some(meta) = body["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
    if target.scope() == Scope::NoStatus
        && let Some(map) = body.as_object_mut()
    {
        map.remove("status");
    }
    apply::record_update(
        None,
        &mut body,
        Vec::new(),
        &opts.field_manager,
        &rt.api_version(),
        target.scope(),
    );
    let stored = store.commit(rt, target.ns(), &name, None, body, opts.dry_run)?;
    Ok(present(target, stored))
}

/// Keeps the parts of `new` a write to `target` may change: the status subresource changes
/// only `status` (and metadata), the main resource of a kind with status keeps the old status.
fn restrict_to_scope(target: &Target, old: &Value, mut new: Value) -> Value {
    match target.scope() {
        Scope::StatusOnly => {
            let mut object = old.clone();
            object["status"] = new["status"].take();
            if object["status"].is_null()
                && let Some(map) = object.as_object_mut()
            {
                map.remove("status");
            }
            object["metadata"]["managedFields"] = new["metadata"]["managedFields"].take();
            object
        }
        Scope::NoStatus => {
            match old.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
            new
        }
        Scope::All => new,
    }
}

/// Common tail of replace and the non-apply patches.
fn update_existing(
    store: &mut Store,
    target: &Target,
    old: &Value,
    new: Value,
    supplied_managed: Option<Value>,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    let rt = &target.rt;
    let name = target.name.as_deref().unwrap_or_default();
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != old["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict(format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            rt.qualified()
        )));
    }
    // managedFields in the request replace the stored ones (`[{}]` clears them).
    let entries = match supplied_managed {
        Some(Value::Array(list)) if !list.is_empty() => {
            apply::read_managed(&json!({"metadata": {"managedFields": list}}))
        }
        _ => apply::read_managed(old),
    };
    let mut new = restrict_to_scope(target, old, new);
    apply::record_update(
        Some(old),
        &mut new,
        entries,
        &opts.field_manager,
        &rt.api_version(),
        target.scope(),
    );
    let stored = store.commit(rt, target.ns(), name, Some(old), new, opts.dry_run)?;
    Ok(present(target, stored))
}

/// PUT on an object or its status.
pub fn replace(
    store: &mut Store,
    target: &Target,
    body: Value,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    check_identity(target, &body)?;
    let name = target.name.as_deref().unwrap_or_default();
    body_name_matches(&body, name)?;
    let old = store
        .get(&target.key(name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&target.rt.qualified(), name))?;
    let supplied = body["metadata"].get("managedFields").cloned();
    update_existing(store, target, &old, body, supplied, opts)
}

/// The patch types PATCH accepts, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/apply-patch+yaml`
    Apply,
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

impl PatchKind {
    /// The patch kind of a Content-Type header.
    pub fn from_content_type(content_type: &str) -> ApiResult<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchKind::Apply),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// PATCH on an object or its status. Returns the object and whether it was created.
pub fn patch(
    store: &mut Store,
    target: &Target,
    kind: PatchKind,
    body: Value,
    opts: &WriteOptions,
) -> ApiResult<(Value, bool)> {
    let rt = &target.rt;
    let name = target.name.as_deref().unwrap_or_default();
    let key = target.key(name);
    let old = store.get(&key).cloned();
    if kind == PatchKind::Apply {
        if !opts.explicit_manager {
            return Err(ApiError::bad_request(
                "PATCH requests require fieldManager for apply",
            ));
        }
        check_identity(target, &body)?;
        if body["apiVersion"].as_str().is_none() || body["kind"].as_str().is_none() {
            return Err(ApiError::bad_request(
                "apply configurations must set apiVersion and kind",
            ));
        }
        body_name_matches(&body, name)?;
        if old.is_none() {
            if target.scope() == Scope::StatusOnly {
                return Err(ApiError::not_found(&rt.qualified(), name));
            }
            check_name(rt, name)?;
            store.require_namespace(rt, target.ns())?;
        }
        let mut new = apply::apply(
            old.as_ref(),
            &body,
            &opts.field_manager,
            opts.force,
            &rt.api_version(),
            target.scope(),
        )?;
        if let Some(old) = &old
            && target.scope() == Scope::NoStatus
        {
            match old.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Some(map) = new.as_object_mut() {
                        map.remove("status");
                    }
                }
            }
        }
        let created = old.is_none();
        let stored = store.commit(rt, target.ns(), name, old.as_ref(), new, opts.dry_run)?;
        return Ok((present(target, stored), created));
    }
    let old = old.ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
    let mut new = old.clone();
    match kind {
        PatchKind::Merge => patch::merge_patch(&mut new, &body),
        PatchKind::Strategic => patch::strategic_merge_patch(&mut new, &body, ""),
        PatchKind::Json => patch::json_patch(&mut new, &body)?,
        PatchKind::Apply => {}
    }
    check_identity(target, &new)?;
    body_name_matches(&new, name)?;
    // A patch that touches managedFields replaces them like a PUT would.
    let supplied = match kind {
        PatchKind::Json => None,
        _ => body["metadata"].get("managedFields").cloned(),
    };
    // The precondition is the resourceVersion in the patch itself, not the stored one.
    let precondition = match kind {
        PatchKind::Json => None,
        _ => body["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    };
    match precondition {
        Some(rv) => new["metadata"]["resourceVersion"] = json!(rv),
        None => {
            if let Some(meta) = new["metadata"].as_object_mut() {
                meta.remove("resourceVersion");
            }
        }
    }
    let stored = update_existing(store, target, &old, new, supplied, opts)?;
    Ok((stored, false))
}

/// DELETE on an object: removes it (with its dependents) or, when it has finalizers, marks it
/// for deletion. Returns a `Status` (immediate delete) or the object (deferred).
pub fn delete(
    store: &mut Store,
    target: &Target,
    body: &Value,
    query: &HashMap<String, String>,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    let rt = &target.rt;
    let name = target.name.as_deref().unwrap_or_default();
    let key = target.key(name);
    let old = store
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.qualified(), name))?;
    let pre = &body["preconditions"];
    if let Some(rv) = pre["resourceVersion"].as_str()
        && Some(rv) != old["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::conflict(format!(
            "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
            rt.qualified(),
            old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
        )));
    }
    if let Some(uid) = pre["uid"].as_str()
        && Some(uid) != old["metadata"]["uid"].as_str()
    {
        return Err(ApiError::conflict(format!(
            "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            rt.qualified(),
            old["metadata"]["uid"].as_str().unwrap_or_default()
        )));
    }
    let policy = body["propagationPolicy"]
        .as_str()
        .or(query.get("propagationPolicy").map(String::as_str))
        .unwrap_or("Background");
    let success = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": rt.group, "kind": rt.plural,
                    "uid": old["metadata"]["uid"]},
    });
    // DeleteOptions may carry dryRun in the body instead of the query.
    let body_dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    if opts.dry_run || body_dry_run {
        return Ok(success);
    }
    let has_finalizers = old["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if has_finalizers {
        let marked = store.mark_deleting(rt, &key)?;
        return Ok(present(target, marked));
    }
    store.remove_cascading(&key, policy != "Orphan");
    Ok(success)
}

/// DELETE on a collection: deletes every selected object, returns them as a list.
pub fn delete_collection(
    store: &mut Store,
    target: &Target,
    body: &Value,
    query: &HashMap<String, String>,
    opts: &WriteOptions,
) -> ApiResult<Value> {
    let selected = select(store, target, query)?;
    let mut deleted = Vec::new();
    for object in selected {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let ns = object["metadata"]["namespace"].as_str().map(str::to_string);
        let one = Target {
            rt: target.rt.clone(),
            namespace: ns,
            name: Some(name.to_string()),
            subresource: None,
        };
        delete(store, &one, body, query, opts)?;
        deleted.push(object);
    }
    Ok(json!({
        "apiVersion": target.rt.api_version(),
        "kind": format!("{}List", target.rt.kind),
        "metadata": {"resourceVersion": store.resource_version().to_string()},
        "items": deleted,
    }))
}
