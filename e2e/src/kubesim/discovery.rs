//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/{group}`,
//! `/apis/{group}/{version}`, and the aggregated form (`apidiscovery.k8s.io/v2`) of `/api` and
//! `/apis` that clients ask for with an `Accept` header (kube-rs
//! `Discovery::run_aggregated`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::kinds::{ResourceType, VERBS};

/// The Kubernetes version kubesim reports.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-kubesim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn subresources(rt: &ResourceType) -> Vec<(&'static str, Vec<&'static str>)> {
    let mut subs = Vec::new();
    if rt.has_status {
        subs.push(("status", vec!["get", "patch", "update"]));
    }
    if rt.group.is_empty() && rt.plural == "pods" {
        subs.push(("log", vec!["get"]));
    }
    subs
}

/// `APIResourceList` for one group version.
pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    let mut found = false;
    for rt in types
        .iter()
        .filter(|t| t.group == group && t.version == version)
    {
        found = true;
        resources.push(json!({
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": VERBS,
            "shortNames": rt.short_names,
            "categories": rt.categories,
            "storageVersionHash": "",
        }));
        for (sub, verbs) in subresources(rt) {
            resources.push(json!({
                "name": format!("{}/{}", rt.plural, sub),
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": if sub == "log" { "Pod" } else { rt.kind.as_str() },
                "verbs": verbs,
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    found.then(|| {
        json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        })
    })
}

/// `APIVersions` for `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// Versions per non-core group, preferred version first.
fn groups(types: &[ResourceType]) -> BTreeMap<String, Vec<(String, bool)>> {
    let mut groups: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for rt in types.iter().filter(|t| !t.group.is_empty()) {
        let versions = groups.entry(rt.group.clone()).or_default();
        if !versions.iter().any(|(v, _)| *v == rt.version) {
            versions.push((rt.version.clone(), rt.preferred));
        }
    }
    for versions in groups.values_mut() {
        versions.sort_by_key(|(_, preferred)| !*preferred);
    }
    groups
}

fn api_group(name: &str, versions: &[(String, bool)]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|(v, _)| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = entries.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": entries, "preferredVersion": preferred})
}

/// `APIGroupList` for `/apis`.
pub fn group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .map(|(name, versions)| api_group(name, versions))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `APIGroup` for `/apis/{group}`.
pub fn group(types: &[ResourceType], name: &str) -> Option<Value> {
    let groups = groups(types);
    let versions = groups.get(name)?;
    let mut group = api_group(name, versions);
    group["kind"] = json!("APIGroup");
    group["apiVersion"] = json!("v1");
    Some(group)
}

/// The media type of aggregated discovery responses.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Whether an `Accept` header asks for aggregated discovery.
pub fn wants_aggregated(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=APIGroupDiscoveryList"))
}

fn aggregated_resource(rt: &ResourceType) -> Value {
    let kind = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
    let subresources: Vec<Value> = subresources(rt)
        .into_iter()
        .map(|(sub, verbs)| {
            json!({
                "subresource": sub,
                "responseKind": if sub == "log" { json!({"group": "", "version": "v1", "kind": "Pod"}) } else { kind.clone() },
                "verbs": verbs,
            })
        })
        .collect();
    json!({
        "resource": rt.plural,
        "responseKind": kind,
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": VERBS,
        "shortNames": rt.short_names,
        "categories": rt.categories,
        "subresources": subresources,
    })
}

fn aggregated_group(types: &[ResourceType], name: &str, versions: &[(String, bool)]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|(v, _)| {
            let resources: Vec<Value> = types
                .iter()
                .filter(|t| t.group == name && &t.version == v)
                .map(aggregated_resource)
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": name}, "versions": versions})
}

/// Aggregated discovery of the core group (`/api`).
pub fn aggregated_core(types: &[ResourceType]) -> Value {
    let item = aggregated_group(types, "", &[("v1".to_string(), true)]);
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
           "metadata": {}, "items": [item]})
}

/// Aggregated discovery of the named groups (`/apis`).
pub fn aggregated_groups(types: &[ResourceType]) -> Value {
    let items: Vec<Value> = groups(types)
        .iter()
        .map(|(name, versions)| aggregated_group(types, name, versions))
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
           "metadata": {}, "items": items})
}
