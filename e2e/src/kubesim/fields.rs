//! Field paths and field sets, the vocabulary of server-side apply's field ownership.
//!
//! A path is a list of the tokens `managedFields[].fieldsV1` uses: `f:<field>` for a map field,
//! `k:{"name":"app"}` for the item of an associative list with that key, and `.` for the list
//! item itself. A field set is the set of *leaf* paths a manager owns: scalars, atomic lists
//! (lists without a merge key, such as `args`), empty maps and list items.
//!
//! Which lists are associative (merged by key) follows the Kubernetes schemas for the common
//! fields (`containers`/`env`/`volumes` by `name`, `ports` by port and protocol, `volumeMounts`
//! by `mountPath`, `conditions` by `type`, `ownerReferences` by `uid`); other lists of objects
//! that all carry a `name` are treated the same way, everything else is atomic.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// One path: tokens as in `fieldsV1`.
pub type FieldPath = Vec<String>;

/// A set of leaf paths.
pub type FieldSet = BTreeSet<FieldPath>;

/// Lists that are atomic even though their items might look keyed.
const ATOMIC_LISTS: &[&str] = &[
    "rules",
    "subjects",
    "tolerations",
    "args",
    "command",
    "envFrom",
    "volumeClaimTemplates",
    "finalizers",
    "accessModes",
];

/// The key fields of an associative list named `field`, given its items; `None` = atomic.
pub fn list_key(field: &str, items: &[Value]) -> Option<&'static [&'static str]> {
    if ATOMIC_LISTS.contains(&field) || items.is_empty() {
        // An empty list has nothing to key; treating it as atomic makes it one leaf.
        return None;
    }
    let all_have = |k: &str| items.iter().all(|i| i.get(k).is_some_and(|v| !v.is_null()));
    let candidates: &[(&[&str], &'static [&'static str])] = &[
        (&["ports"], &["containerPort", "protocol"]),
        (&["ports"], &["port", "protocol"]),
        (&["volumeMounts", "volumeDevices"], &["mountPath"]),
        (&["conditions"], &["type"]),
        (&["ownerReferences"], &["uid"]),
        (&["hostAliases"], &["ip"]),
    ];
    for (fields, key) in candidates {
        if fields.contains(&field) && all_have(key[0]) {
            return Some(key);
        }
    }
    if items.iter().all(Value::is_object) && all_have("name") {
        return Some(&["name"]);
    }
    None
}

/// The `k:{...}` token of an item (key fields sorted, as the API server writes them); `None`
/// when the item lacks the first key field.
pub fn item_token(key: &[&str], item: &Value) -> Option<String> {
    let mut fields: Vec<(&str, &Value)> = key
        .iter()
        .filter_map(|k| item.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
        .collect();
    if fields.is_empty() || item.get(key[0]).is_none_or(Value::is_null) {
        return None;
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String((*k).to_string()), v))
        .collect();
    Some(format!("k:{{{}}}", body.join(",")))
}

/// Does `item` carry exactly the key of `token`?
fn item_matches(token: &str, item: &Value) -> bool {
    let Some(json) = token.strip_prefix("k:") else {
        return false;
    };
    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(json) else {
        return false;
    };
    key.iter().all(|(k, v)| item.get(k) == Some(v))
}

/// Collects the leaf paths of `value` under `prefix` (`field` is the name of the field holding
/// `value`, used to recognise associative lists). Nulls are skipped.
pub fn collect_leaves(value: &Value, field: &str, prefix: &mut FieldPath, out: &mut FieldSet) {
    match value {
        Value::Null => {}
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(format!("f:{k}"));
                collect_leaves(v, k, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => match list_key(field, items) {
            Some(key) if items.iter().all(|i| item_token(key, i).is_some()) => {
                for item in items {
                    let Some(token) = item_token(key, item) else {
                        continue;
                    };
                    prefix.push(token);
                    prefix.push(".".to_string());
                    out.insert(prefix.clone());
                    prefix.pop();
                    if let Value::Object(map) = item {
                        for (k, v) in map {
                            prefix.push(format!("f:{k}"));
                            collect_leaves(v, k, prefix, out);
                            prefix.pop();
                        }
                    }
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        },
        _ => {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
        }
    }
}

/// Whether a path is outside field ownership (identity and server-set metadata).
pub fn is_untracked(path: &[String]) -> bool {
    match path.first().map(String::as_str) {
        Some("f:apiVersion") | Some("f:kind") => path.len() == 1,
        Some("f:metadata") => matches!(
            path.get(1).map(String::as_str),
            Some(
                "f:name"
                    | "f:namespace"
                    | "f:uid"
                    | "f:resourceVersion"
                    | "f:generation"
                    | "f:creationTimestamp"
                    | "f:managedFields"
                    | "f:deletionTimestamp"
                    | "f:selfLink"
                    | "f:generateName"
            )
        ),
        _ => false,
    }
}

/// The tracked leaf paths of a whole object.
pub fn field_set(object: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    collect_leaves(object, "", &mut Vec::new(), &mut out);
    out.retain(|p| !is_untracked(p));
    out
}

/// The node a path addresses, if present.
pub fn get_at<'a>(root: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = root;
    for token in path {
        node = if let Some(field) = token.strip_prefix("f:") {
            node.get(field)?
        } else if token == "." {
            node
        } else {
            node.as_array()?.iter().find(|i| item_matches(token, i))?
        };
    }
    Some(node)
}

/// Removes the node a path addresses (a list item for paths ending in `.`), pruning maps that
/// the removal left empty below the top level. Returns whether something was removed.
pub fn remove_at(root: &mut Value, path: &[String]) -> bool {
    fn go(node: &mut Value, path: &[String], depth: usize) -> bool {
        match path {
            [] => false,
            [last] => match last.strip_prefix("f:") {
                Some(field) => node
                    .as_object_mut()
                    .is_some_and(|m| m.remove(field).is_some()),
                None => false,
            },
            [token, dot] if dot == "." && token.starts_with("k:") => {
                let Some(items) = node.as_array_mut() else {
                    return false;
                };
                let before = items.len();
                items.retain(|i| !item_matches(token, i));
                items.len() != before
            }
            [first, rest @ ..] => {
                let removed;
                if let Some(field) = first.strip_prefix("f:") {
                    let Some(map) = node.as_object_mut() else {
                        return false;
                    };
                    let Some(child) = map.get_mut(field) else {
                        return false;
                    };
                    removed = go(child, rest, depth + 1);
                    if removed && depth >= 1 && child.as_object().is_some_and(Map::is_empty) {
                        map.remove(field);
                    }
                } else {
                    let Some(items) = node.as_array_mut() else {
                        return false;
                    };
                    let Some(item) = items.iter_mut().find(|i| item_matches(first, i)) else {
                        return false;
                    };
                    removed = go(item, rest, depth + 1);
                }
                removed
            }
        }
    }
    go(root, path, 0)
}

/// Encodes a field set as `fieldsV1` (nested maps; list items get a `.` entry).
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for token in path {
            let entry = node
                .entry(token.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(next) = entry else {
                break;
            };
            node = next;
        }
    }
    Value::Object(root)
}

/// Decodes `fieldsV1` into leaf paths (a node with no children is a leaf; `.` marks an item).
pub fn from_fields_v1(fields: &Value) -> FieldSet {
    fn go(node: &Value, prefix: &mut FieldPath, out: &mut FieldSet) {
        match node.as_object() {
            Some(map) if !map.is_empty() => {
                for (token, child) in map {
                    prefix.push(token.clone());
                    go(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = FieldSet::new();
    go(fields, &mut Vec::new(), &mut out);
    out
}

/// A path in the `.spec.replicas` notation of conflict messages.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for token in path {
        if let Some(field) = token.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = token.strip_prefix("k:") {
            out.push('[');
            out.push_str(key);
            out.push(']');
        }
    }
    out
}

/// Merges an applied configuration into `target`: maps recursively, associative lists by key,
/// everything else replaced. Nulls in `applied` are ignored.
pub fn merge_applied(target: &mut Value, applied: &Value, field: &str) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, av) in a {
                if av.is_null() {
                    continue;
                }
                match t.get_mut(k) {
                    Some(tv) if !tv.is_null() => merge_applied(tv, av, k),
                    _ => {
                        t.insert(k.clone(), strip_nulls(av));
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(a)) => {
            let key = list_key(field, a).filter(|key| {
                a.iter()
                    .chain(t.iter())
                    .all(|i| item_token(key, i).is_some())
            });
            let Some(key) = key else {
                *t = a.iter().map(strip_nulls).collect();
                return;
            };
            for item in a {
                let token = item_token(key, item);
                match t.iter_mut().find(|i| item_token(key, i) == token) {
                    Some(existing) => merge_applied(existing, item, field),
                    None => t.push(strip_nulls(item)),
                }
            }
        }
        (t, a) => *t = strip_nulls(a),
    }
}

/// A copy without null map entries.
pub fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_and_round_trip() {
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx", "args": ["a", "b"],
                 "ports": [{"containerPort": 80}]}
            ]}}}
        });
        let set = field_set(&obj);
        let paths: Vec<String> = set.iter().map(|p| display_path(p)).collect();
        assert!(paths.contains(&".spec.replicas".to_string()));
        assert!(paths.contains(&".metadata.labels.app".to_string()));
        assert!(
            paths.contains(&".spec.template.spec.containers[{\"name\":\"app\"}].image".to_string())
        );
        assert!(!paths.iter().any(|p| p.contains("metadata.name")));
        assert_eq!(from_fields_v1(&to_fields_v1(&set)), set);
        for p in &set {
            assert!(get_at(&obj, p).is_some(), "{p:?}");
        }
    }

    #[test]
    fn remove_item_and_prune() {
        let mut obj = json!({"metadata": {"labels": {"a": "1"}},
                             "spec": {"containers": [{"name": "x"}, {"name": "y"}]}});
        let path: FieldPath = vec![
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"x\"}".into(),
            ".".into(),
        ];
        assert!(remove_at(&mut obj, &path));
        assert_eq!(obj["spec"]["containers"], json!([{"name": "y"}]));
        assert!(remove_at(
            &mut obj,
            &["f:metadata".into(), "f:labels".into(), "f:a".into()]
        ));
        assert_eq!(obj["metadata"], json!({}));
    }

    #[test]
    fn merge_by_key() {
        let mut t = json!({"containers": [{"name": "a", "image": "1", "x": true}, {"name": "b"}]});
        merge_applied(
            &mut t,
            &json!({"containers": [{"name": "a", "image": "2"}, {"name": "c"}]}),
            "",
        );
        assert_eq!(
            t,
            json!({"containers": [{"name": "a", "image": "2", "x": true}, {"name": "b"}, {"name": "c"}]})
        );
    }
}
