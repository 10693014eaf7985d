//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! Every write records which manager owns which leaf fields (see [`super::fields`]):
//!
//! * **Apply** (`PATCH` with `application/apply-patch+yaml`): the applied configuration's
//!   fields become the manager's `Apply` entry. A field whose value the apply changes and that
//!   another manager owns is a conflict (409) unless `force=true`, which takes the field over.
//!   Fields the manager applied before but no longer does are removed from the object unless
//!   another manager still owns them.
//! * **Update** (create, replace, merge/JSON/strategic patch): the fields whose value changed
//!   move to the manager's `Update` entry.
//!
//! Writes to the main resource of a kind with a status subresource track no `status` fields;
//! writes to `/status` track only those.

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::fields::{self, FieldPath, FieldSet};
use super::store::now;

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedEntry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// When the entry last changed.
    pub time: String,
    /// `status` for writes to the status subresource.
    pub subresource: Option<String>,
    /// The leaf paths owned.
    pub fields: FieldSet,
}

impl ManagedEntry {
    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": fields::to_fields_v1(&self.fields),
        });
        if let Some(sub) = &self.subresource {
            entry["subresource"] = json!(sub);
        }
        entry
    }
}

/// What a write may own: `status` only on the status subresource, everything but `status`
/// on the main resource of kinds with a status subresource, everything otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// All fields.
    All,
    /// All but `status`.
    NoStatus,
    /// Only `status`.
    StatusOnly,
}

impl Scope {
    fn keeps(self, path: &FieldPath) -> bool {
        let is_status = path.first().map(String::as_str) == Some("f:status");
        match self {
            Scope::All => true,
            Scope::NoStatus => !is_status,
            Scope::StatusOnly => is_status,
        }
    }

    fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::StatusOnly => Some("status"),
            _ => None,
        }
    }
}

/// Reads `metadata.managedFields`.
pub fn read_managed(object: &Value) -> Vec<ManagedEntry> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(ManagedEntry {
                manager: e["manager"].as_str()?.to_string(),
                operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                time: e["time"].as_str().unwrap_or_default().to_string(),
                subresource: e["subresource"].as_str().map(str::to_string),
                fields: fields::from_fields_v1(&e["fieldsV1"]),
            })
        })
        .collect()
}

/// Writes `metadata.managedFields`, dropping entries that own nothing and paths that no longer
/// exist in the object.
pub fn write_managed(object: &mut Value, mut entries: Vec<ManagedEntry>) {
    for entry in &mut entries {
        entry.fields.retain(|p| fields::get_at(object, p).is_some());
    }
    entries.retain(|e| !e.fields.is_empty());
    let list: Vec<Value> = entries.iter().map(ManagedEntry::to_json).collect();
    if list.is_empty() {
        if let Some(meta) = object["metadata"].as_object_mut() {
            meta.remove("managedFields");
        }
    } else {
        object["metadata"]["managedFields"] = Value::Array(list);
    }
}

fn scoped_set(object: &Value, scope: Scope) -> FieldSet {
    let mut set = fields::field_set(object);
    set.retain(|p| scope.keeps(p));
    set
}

/// Records an Update by `manager`: fields whose value changed between `old` and `new` move to
/// the manager's Update entry. `new` gets the resulting managedFields; `entries` are the
/// entries to start from (the old object's, or those the request supplied).
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    entries: Vec<ManagedEntry>,
    manager: &str,
    api_version: &str,
    scope: Scope,
) {
    let mut entries = entries;
    let new_set = scoped_set(new, scope);
    let changed: Vec<FieldPath> = new_set
        .iter()
        .filter(|p| {
            p.last().map(String::as_str) == Some(".")
                && old.and_then(|o| fields::get_at(o, p)).is_none()
                || p.last().map(String::as_str) != Some(".")
                    && old.and_then(|o| fields::get_at(o, p)) != fields::get_at(new, p)
        })
        .cloned()
        .collect();
    if changed.is_empty() {
        write_managed(new, entries);
        return;
    }
    let sub = scope.subresource();
    for entry in &mut entries {
        if !entry.same_owner(manager, "Update", sub) {
            for p in &changed {
                entry.fields.remove(p);
            }
        }
    }
    let time = now();
    match entries
        .iter_mut()
        .find(|e| e.same_owner(manager, "Update", sub))
    {
        Some(entry) => {
            entry.fields.extend(changed);
            entry.time = time;
            entry.api_version = api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Update".into(),
            api_version: api_version.to_string(),
            time,
            subresource: sub.map(str::to_string),
            fields: changed.into_iter().collect(),
        }),
    }
    write_managed(new, entries);
}

/// One field another manager owns that an apply wants to change.
#[derive(Debug, Clone)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    /// The field path.
    pub path: FieldPath,
}

/// Server-side apply of `applied` by `manager` onto `old` (None = create). Returns the new
/// object with its managedFields (server-set metadata is stamped by the store).
pub fn apply(
    old: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    scope: Scope,
) -> ApiResult<Value> {
    let mut applied = fields::strip_nulls(applied);
    match scope {
        Scope::NoStatus => {
            if let Some(map) = applied.as_object_mut() {
                map.remove("status");
            }
        }
        Scope::StatusOnly => {
            let status = applied["status"].clone();
            applied = json!({"metadata": {}, "status": status});
        }
        Scope::All => {}
    }
    if let Some(meta) = applied["metadata"].as_object_mut() {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
        meta.remove("uid");
        meta.remove("creationTimestamp");
        meta.remove("generation");
    }
    let empty = json!({});
    let current = old.unwrap_or(&empty);
    let mut entries = old.map(read_managed).unwrap_or_default();
    let sub = scope.subresource();
    let applied_set = scoped_set(&applied, scope);

    let mut conflicts = Vec::new();
    for path in &applied_set {
        if path.last().map(String::as_str) == Some(".") {
            continue;
        }
        let Some(have) = fields::get_at(current, path) else {
            continue;
        };
        if Some(have) == fields::get_at(&applied, path) {
            continue;
        }
        for entry in &entries {
            if entry.manager != manager && entry.fields.contains(path) {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflict_error(&conflicts, api_version));
        }
        for entry in &mut entries {
            if entry.manager != manager {
                for c in &conflicts {
                    entry.fields.remove(&c.path);
                }
            }
        }
    }

    let previous: FieldSet = entries
        .iter()
        .find(|e| e.same_owner(manager, "Apply", sub))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let mut object = current.clone();
    for path in previous.difference(&applied_set) {
        let base: &[String] = match path.split_last() {
            Some((last, base)) if last == "." => base,
            _ => path,
        };
        let owned_elsewhere = entries.iter().any(|e| {
            !e.same_owner(manager, "Apply", sub) && e.fields.iter().any(|q| q.starts_with(base))
        });
        if !owned_elsewhere {
            fields::remove_at(&mut object, path);
        }
    }
    fields::merge_applied(&mut object, &applied, "");

    let time = now();
    let unchanged_object = strip_managed(&object) == strip_managed(current);
    match entries
        .iter_mut()
        .find(|e| e.same_owner(manager, "Apply", sub))
    {
        // A no-op apply leaves the entry (and its time) alone, so the write is a no-op too.
        Some(entry) if unchanged_object && entry.fields == applied_set => {}
        Some(entry) => {
            entry.fields = applied_set;
            entry.time = time;
            entry.api_version = api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: manager.to_string(),
            operation: "Apply".into(),
            api_version: api_version.to_string(),
            time,
            subresource: sub.map(str::to_string),
            fields: applied_set,
        }),
    }
    write_managed(&mut object, entries);
    Ok(object)
}

fn strip_managed(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy["metadata"].as_object_mut() {
        meta.remove("managedFields");
    }
    copy
}

fn conflict_error(conflicts: &[Conflict], api_version: &str) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with \"{}\" using {}: {}",
                c.manager,
                api_version,
                fields::display_path(&c.path)
            )
        })
        .collect();
    let message = if lines.len() == 1 {
        format!("Apply failed with 1 conflict: {}", lines[0])
    } else {
        format!(
            "Apply failed with {} conflicts: {}",
            lines.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({
                "reason": "FieldManagerConflict",
                "message": format!("conflict with \"{}\"", c.manager),
                "field": fields::display_path(&c.path),
            })
        })
        .collect();
    ApiError::conflict(message).with_details(json!({ "causes": causes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn create_update_conflict_force() {
        let a = apply(
            None,
            &cm(json!({"x": "1", "y": "1"})),
            "a",
            false,
            "v1",
            Scope::All,
        )
        .unwrap();
        assert_eq!(a["data"], json!({"x": "1", "y": "1"}));
        let entries = read_managed(&a);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].operation, "Apply");

        // Same value from another manager: shared ownership, no conflict.
        let b = apply(
            Some(&a),
            &cm(json!({"x": "1"})),
            "b",
            false,
            "v1",
            Scope::All,
        )
        .unwrap();
        assert_eq!(read_managed(&b).len(), 2);

        // Changing a field owned by a and b: conflict naming both.
        let err = apply(
            Some(&b),
            &cm(json!({"y": "2"})),
            "c",
            false,
            "v1",
            Scope::All,
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("\"a\"") && err.message.contains(".data.y"),
            "{}",
            err.message
        );

        let forced = apply(
            Some(&b),
            &cm(json!({"y": "2"})),
            "c",
            true,
            "v1",
            Scope::All,
        )
        .unwrap();
        assert_eq!(forced["data"]["y"], "2");
        let owners: Vec<_> = read_managed(&forced)
            .into_iter()
            .filter(|e| {
                e.fields
                    .iter()
                    .any(|p| fields::display_path(p) == ".data.y")
            })
            .map(|e| e.manager)
            .collect();
        assert_eq!(owners, vec!["c".to_string()]);
    }

    #[test]
    fn dropped_fields_are_removed_unless_shared() {
        let a = apply(
            None,
            &cm(json!({"x": "1", "y": "1"})),
            "a",
            false,
            "v1",
            Scope::All,
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &cm(json!({"y": "1"})),
            "b",
            false,
            "v1",
            Scope::All,
        )
        .unwrap();
        let a2 = apply(Some(&b), &cm(json!({})), "a", false, "v1", Scope::All).unwrap();
        assert_eq!(a2["data"], json!({"y": "1"}));
    }

    #[test]
    fn update_takes_changed_fields() {
        let a = apply(None, &cm(json!({"x": "1"})), "a", false, "v1", Scope::All).unwrap();
        let mut edited = a.clone();
        edited["data"]["x"] = json!("2");
        record_update(
            Some(&a),
            &mut edited,
            read_managed(&a),
            "kubectl-edit",
            "v1",
            Scope::All,
        );
        let entries = read_managed(&edited);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manager, "kubectl-edit");
        // Re-applying the old value now conflicts.
        assert!(
            apply(
                Some(&edited),
                &cm(json!({"x": "1"})),
                "a",
                false,
                "v1",
                Scope::All
            )
            .is_err()
        );
    }
}
