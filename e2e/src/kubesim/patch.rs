//! The non-apply patch types: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an
//! approximation of strategic merge patch (merge patch whose lists of keyed items are merged
//! by key, with `$patch: delete` items removed).

use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::fields::{item_token, list_key};

/// Applies a JSON merge patch to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (k, v) in patch_map {
        if v.is_null() {
            target_map.remove(k);
        } else {
            merge_patch(target_map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Applies a strategic merge patch (approximation, see the module docs).
pub fn strategic_merge_patch(target: &mut Value, patch: &Value, field: &str) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if k.starts_with("$") {
                    continue;
                }
                if v.is_null() {
                    t.remove(k);
                    continue;
                }
                match t.get_mut(k) {
                    Some(existing) => strategic_merge_patch(existing, v, k),
                    None => {
                        let mut fresh = Value::Null;
                        strategic_merge_patch(&mut fresh, v, k);
                        t.insert(k.clone(), fresh);
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(p)) => {
            let key = list_key(field, p).filter(|key| {
                p.iter()
                    .chain(t.iter())
                    .all(|i| item_token(key, i).is_some())
            });
            let Some(key) = key else {
                *t = p.clone();
                return;
            };
            for item in p {
                let token = item_token(key, item);
                let delete = item["$patch"] == "delete";
                let position = t.iter().position(|i| item_token(key, i) == token);
                match (position, delete) {
                    (Some(i), true) => {
                        t.remove(i);
                    }
                    (Some(i), false) => strategic_merge_patch(&mut t[i], item, field),
                    (None, true) => {}
                    (None, false) => {
                        let mut fresh = Value::Null;
                        strategic_merge_patch(&mut fresh, item, field);
                        t.push(fresh);
                    }
                }
            }
        }
        (t, p) => {
            if let Value::Object(map) = p {
                // A new map: apply it to an empty one so nulls and directives drop out.
                let mut fresh = Value::Object(Default::default());
                strategic_merge_patch(&mut fresh, &Value::Object(map.clone()), field);
                *t = fresh;
            } else {
                *t = p.clone();
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(pointer: &str) -> ApiResult<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {pointer:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(root: &'a mut Value, tokens: &[String]) -> ApiResult<&'a mut Value> {
    let mut node = root;
    for t in tokens {
        node = match node {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| ApiError::invalid(format!("JSON patch path not found: {t:?}")))?;
    }
    Ok(node)
}

fn add(root: &mut Value, pointer: &str, value: Value) -> ApiResult<()> {
    let tokens = split_pointer(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *root = value;
        return Ok(());
    };
    match parent_mut(root, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let index = if last == "-" {
                a.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| ApiError::invalid(format!("invalid array index {last:?}")))?
            };
            a.insert(index, value);
            Ok(())
        }
        _ => Err(ApiError::invalid(format!(
            "cannot add at {pointer:?}: parent is not a container"
        ))),
    }
}

fn remove(root: &mut Value, pointer: &str) -> ApiResult<Value> {
    let tokens = split_pointer(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err(ApiError::invalid("cannot remove the whole document"));
    };
    let removed = match parent_mut(root, parents)? {
        Value::Object(m) => m.remove(last),
        Value::Array(a) => last
            .parse::<usize>()
            .ok()
            .filter(|i| *i < a.len())
            .map(|i| a.remove(i)),
        _ => None,
    };
    removed.ok_or_else(|| ApiError::invalid(format!("JSON patch path not found: {pointer:?}")))
}

/// Applies a JSON patch (list of operations) to `target`.
pub fn json_patch(target: &mut Value, patch: &Value) -> ApiResult<()> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be a list of operations"))?;
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| ApiError::bad_request("JSON patch operation without a path"))?;
        match op["op"].as_str() {
            Some("add") => add(target, path, op["value"].clone())?,
            Some("remove") => {
                remove(target, path)?;
            }
            Some("replace") => {
                remove(target, path)?;
                add(target, path, op["value"].clone())?;
            }
            Some("move") | Some("copy") => {
                let from = op["from"]
                    .as_str()
                    .ok_or_else(|| ApiError::bad_request("JSON patch move/copy without from"))?;
                let value = if op["op"] == "move" {
                    remove(target, from)?
                } else {
                    target
                        .pointer(from)
                        .cloned()
                        .ok_or_else(|| ApiError::invalid(format!("path not found: {from:?}")))?
                };
                add(target, path, value)?;
            }
            Some("test") => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(ApiError::invalid(format!(
                        "JSON patch test failed at {path:?}"
                    )));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown JSON patch operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut t = json!({"spec": {"replicas": 1, "list": [1, 2]}});
        json_patch(
            &mut t,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3},
                    {"op": "add", "path": "/spec/list/-", "value": 3},
                    {"op": "remove", "path": "/spec/list/0"},
                    {"op": "test", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap();
        assert_eq!(t, json!({"spec": {"replicas": 3, "list": [2, 3]}}));
        assert!(
            json_patch(
                &mut t,
                &json!([{"op": "test", "path": "/spec/replicas", "value": 1}])
            )
            .is_err()
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}});
        strategic_merge_patch(
            &mut t,
            &json!({"spec": {"containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}]}}),
            "",
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "b", "image": "2"}]}})
        );
    }
}
