//! A deployment object's YAML as the agent applies it: parsed per document, stamped with
//! Brokkr's labels and annotations, ordered (namespaces, then CRDs, then the rest).
//!
//! A document that is not a Kubernetes object fails the whole deployment object with an error
//! that names the document's index (0-based, counting empty documents as the `---` separators
//! show them), so the FAILURE event tells the author what to fix. Stamping merges into the
//! user's labels and annotations (nothing of theirs is dropped) and gives pod templates the
//! stack label, so pods can be selected by `k8s.brokkr.io/stack`.

use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::labels::{CHECKSUM_ANNOTATION, DEPLOYMENT_OBJECT_LABEL, OWNER_LABEL, STACK_LABEL};

/// A document that is not a Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {index}: {reason}")]
pub struct DocumentError {
    /// 0-based index of the document in the YAML stream.
    pub index: usize,
    pub reason: String,
}

/// One object of a deployment object.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestObject {
    /// Index of its document in the YAML stream.
    pub document_index: usize,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `metadata.namespace` as written (cluster-scoped kinds ignore it).
    pub namespace: Option<String>,
    /// The whole object, as JSON.
    pub body: Value,
}

impl ManifestObject {
    /// `Kind/name` (with the namespace when given), for messages.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// The API group of `api_version` (`""` for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    /// The version of `api_version`.
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(&self.api_version)
    }

    /// Apply phase: namespaces (0) before CRDs (1) before everything else (2).
    pub fn phase(&self) -> u8 {
        phase_of(&self.kind, self.group())
    }
}

/// Apply phase of a kind: `Namespace` 0, `CustomResourceDefinition` 1, others 2.
pub fn phase_of(kind: &str, group: &str) -> u8 {
    match (kind, group) {
        ("Namespace", "") => 0,
        ("CustomResourceDefinition", "apiextensions.k8s.io") => 1,
        _ => 2,
    }
}

/// Parses every document of `yaml`; empty documents are skipped.
pub fn parse(yaml: &str) -> Result<Vec<ManifestObject>, DocumentError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(document).map_err(|e| DocumentError {
            index,
            reason: format!("invalid YAML: {e}"),
        })?;
        if value.is_null() {
            continue;
        }
        objects.push(object_of(index, value)?);
    }
    Ok(objects)
}

fn object_of(index: usize, body: Value) -> Result<ManifestObject, DocumentError> {
    let fail = |reason: &str| DocumentError {
        index,
        reason: reason.to_owned(),
    };
    let map = body
        .as_object()
        .ok_or_else(|| fail("not a mapping (expected a Kubernetes object)"))?;
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let api_version =
        text(map.get("apiVersion")).ok_or_else(|| fail("missing or empty apiVersion"))?;
    let kind = text(map.get("kind")).ok_or_else(|| fail("missing or empty kind"))?;
    let metadata = map
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("missing metadata"))?;
    let name = text(metadata.get("name")).ok_or_else(|| fail("missing or empty metadata.name"))?;
    let namespace = text(metadata.get("namespace"));
    for key in ["labels", "annotations"] {
        if let Some(values) = metadata.get(key) {
            let ok = values.is_null()
                || values
                    .as_object()
                    .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err(fail(&format!("metadata.{key} must map names to strings")));
            }
        }
    }
    Ok(ManifestObject {
        document_index: index,
        api_version,
        kind,
        name,
        namespace,
        body,
    })
}

/// What the agent stamps on an object.
#[derive(Debug, Clone)]
pub struct Stamp<'a> {
    pub stack_id: Uuid,
    pub deployment_object_id: Uuid,
    pub agent_id: Uuid,
    pub checksum: &'a str,
}

/// Kinds whose `spec.template` is a pod template.
const POD_TEMPLATE_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "ReplicationController",
];

/// Merges Brokkr's labels and annotations into `object` (and its pod template).
pub fn stamp(object: &mut Value, stamp: &Stamp<'_>) {
    let stack = stamp.stack_id.to_string();
    let deployment = stamp.deployment_object_id.to_string();
    let agent = stamp.agent_id.to_string();
    let labels = [
        (STACK_LABEL, stack.as_str()),
        (DEPLOYMENT_OBJECT_LABEL, deployment.as_str()),
        (OWNER_LABEL, agent.as_str()),
    ];
    let annotations = [
        (OWNER_LABEL, agent.as_str()),
        (CHECKSUM_ANNOTATION, stamp.checksum),
    ];
    merge_strings(object, &["metadata", "labels"], &labels);
    merge_strings(object, &["metadata", "annotations"], &annotations);

    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let template_path: Option<&[&str]> = if POD_TEMPLATE_KINDS.contains(&kind.as_str()) {
        Some(&["spec", "template"])
    } else if kind == "CronJob" {
        Some(&["spec", "jobTemplate", "spec", "template"])
    } else {
        None
    };
    if let Some(path) = template_path
        && get_path(object, path).is_some_and(Value::is_object)
    {
        let mut labels_path = path.to_vec();
        labels_path.extend(["metadata", "labels"]);
        // The stack label, not the deployment object's id: it stays the same across versions,
        // so a new deployment object rolls out only the workloads whose spec changed (and a
        // Job's immutable template is not touched).
        merge_strings(object, &labels_path, &[(STACK_LABEL, stack.as_str())]);
    }
}

/// Sets `extra` in the string map at `path`, creating maps on the way (a `null` counts as
/// missing); keys already there keep their other entries.
fn merge_strings(object: &mut Value, path: &[&str], extra: &[(&str, &str)]) {
    let mut node = object;
    for key in path {
        let Some(map) = as_object_or_init(node) else {
            return;
        };
        node = map
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = as_object_or_init(node) {
        for (k, v) in extra {
            map.insert((*k).to_owned(), Value::String((*v).to_owned()));
        }
    }
}

fn as_object_or_init(node: &mut Value) -> Option<&mut Map<String, Value>> {
    if node.is_null() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut()
}

fn get_path<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |node, key| node.get(key))
}

/// Orders objects for applying: namespaces, then CRDs, then the rest, each in document order.
pub fn order(objects: &mut [ManifestObject]) {
    objects.sort_by_key(|o| (o.phase(), o.document_index));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MULTI: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
  labels: {team: blue}
  annotations: {note: keep-me}
data: {a: b}
---
---
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
";

    #[test]
    fn documents_parse_and_empty_ones_are_skipped() {
        let objects = parse(MULTI).unwrap();
        assert_eq!(objects.len(), 4);
        assert_eq!(objects[0].kind, "ConfigMap");
        assert_eq!(objects[0].namespace.as_deref(), Some("demo"));
        assert_eq!(objects[1].document_index, 2, "the empty document counts");
        assert_eq!(objects[2].group(), "apiextensions.k8s.io");
        assert_eq!(objects[2].version(), "v1");
        assert_eq!(objects[1].group(), "");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn namespaces_then_crds_then_the_rest_in_document_order() {
        let mut objects = parse(MULTI).unwrap();
        order(&mut objects);
        let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["demo", "other", "widgets.example.com", "settings"]);
    }

    #[test]
    fn a_bad_document_is_named_by_its_index() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: [unclosed\n";
        let err = parse(yaml).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.reason.contains("invalid YAML"), "{err}");
        let err = parse("apiVersion: v1\nmetadata: {name: a}\n").unwrap_err();
        assert_eq!(err.index, 0);
        assert!(err.reason.contains("kind"));
        let err = parse("---\n- just\n- a list\n").unwrap_err();
        assert_eq!(err.index, 0);
        let err =
            parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {n: {x: 1}}}\n")
                .unwrap_err();
        assert!(err.reason.contains("labels"), "{err}");
        let err = parse("apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n").unwrap_err();
        assert!(err.reason.contains("metadata.name"), "{err}");
    }

    fn ids() -> Stamp<'static> {
        Stamp {
            stack_id: Uuid::from_u128(1),
            deployment_object_id: Uuid::from_u128(2),
            agent_id: Uuid::from_u128(3),
            checksum: "abc",
        }
    }

    #[test]
    fn stamping_keeps_the_users_labels_and_annotations() {
        let mut object = parse(MULTI).unwrap().remove(0).body;
        stamp(&mut object, &ids());
        let meta = &object["metadata"];
        assert_eq!(meta["labels"]["team"], "blue");
        assert_eq!(meta["labels"][STACK_LABEL], Uuid::from_u128(1).to_string());
        assert_eq!(
            meta["labels"][DEPLOYMENT_OBJECT_LABEL],
            Uuid::from_u128(2).to_string()
        );
        assert_eq!(meta["labels"][OWNER_LABEL], Uuid::from_u128(3).to_string());
        assert_eq!(meta["annotations"]["note"], "keep-me");
        assert_eq!(meta["annotations"][CHECKSUM_ANNOTATION], "abc");
        assert_eq!(
            meta["annotations"][OWNER_LABEL],
            Uuid::from_u128(3).to_string()
        );
        assert_eq!(object["data"]["a"], "b");
    }

    #[test]
    fn pod_templates_get_the_stack_label_only() {
        let stack_id = Uuid::from_u128(1).to_string();
        let mut deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": null},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": []}}}
        });
        stamp(&mut deployment, &ids());
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"][STACK_LABEL],
            stack_id
        );
        assert!(
            deployment["spec"]["template"]["metadata"]["labels"]
                .get(DEPLOYMENT_OBJECT_LABEL)
                .is_none(),
            "a new deployment object must not change every pod template"
        );
        assert_eq!(
            deployment["spec"]["template"]["metadata"]["labels"]["app"],
            "web"
        );
        assert_eq!(
            deployment["metadata"]["labels"][STACK_LABEL],
            Uuid::from_u128(1).to_string()
        );

        let mut cron = json!({
            "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}
        });
        stamp(&mut cron, &ids());
        assert_eq!(
            cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"][STACK_LABEL],
            stack_id
        );

        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
                            "data": {"template": "not a pod"}});
        stamp(&mut cm, &ids());
        assert_eq!(cm["data"]["template"], "not a pod");
    }
}
