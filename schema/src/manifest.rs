//! Checks that a deployment object's YAML is a list of Kubernetes objects.
//!
//! Every non-empty document of a (multi-document) YAML stream must be a mapping with a string
//! `apiVersion`, a string `kind` and a non-empty string `metadata.name`. Errors name the document
//! index (0-based, counting empty documents too, as `---` separators appear in the text).
//! A stream with no objects at all (empty, comments, `---`) is valid: an empty desired state.
//! A string or key that YAML's escapes (`"\0"`, `"\x00"`, `"\u0000"`) make into a NUL is refused
//! too: agents would send it to Kubernetes and report it back, and PostgreSQL cannot store it.

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::storable;

/// Why a YAML stream is not a list of Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document_index}: {reason}")]
pub struct ManifestError {
    /// Position of the offending document in the stream (0-based).
    pub document_index: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// The identity of one object in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when given.
    pub namespace: Option<String>,
}

/// Parses `yaml` and returns the objects it declares, or the first document that is not one.
pub fn parse_objects(yaml: &str) -> Result<Vec<ObjectRef>, ManifestError> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let value = Value::deserialize(document).map_err(|e| ManifestError {
            document_index: index,
            reason: format!("invalid YAML: {e}"),
        })?;
        if value.is_null() {
            continue;
        }
        if let Some(path) = storable::nul_in_yaml(&value) {
            let field = if path.is_empty() {
                "the document"
            } else {
                &path
            };
            return Err(ManifestError {
                document_index: index,
                reason: storable::nul_message(field, "\\0 in YAML"),
            });
        }
        objects.push(object_ref(index, &value)?);
    }
    // No objects (an empty text, only comments or separators) is a valid desired state: the
    // stack runs nothing, and agents remove what it had.
    Ok(objects)
}

fn object_ref(index: usize, value: &Value) -> Result<ObjectRef, ManifestError> {
    let fail = |reason: &str| ManifestError {
        document_index: index,
        reason: reason.to_owned(),
    };
    let map = value
        .as_mapping()
        .ok_or_else(|| fail("expected a mapping (a Kubernetes object)"))?;
    let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
    let api_version = text("apiVersion")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| fail("missing or non-string apiVersion"))?;
    let kind = text("kind")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| fail("missing or non-string kind"))?;
    let metadata = map
        .get("metadata")
        .and_then(Value::as_mapping)
        .ok_or_else(|| fail("missing metadata"))?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| fail("missing or empty metadata.name"))?
        .to_owned();
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ObjectRef {
        api_version,
        kind,
        name,
        namespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_streams_are_accepted() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  namespace: demo\ndata:\n  a: b\n---\n";
        let objects = parse_objects(yaml).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[1].kind, "ConfigMap");
        assert_eq!(objects[1].namespace.as_deref(), Some("demo"));
    }

    #[test]
    fn errors_name_the_document() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n---\nkind: ConfigMap\nmetadata:\n  name: x\n";
        let err = parse_objects(yaml).unwrap_err();
        assert_eq!(err.document_index, 1);
        assert!(err.reason.contains("apiVersion"), "{err}");

        let err = parse_objects("a: [unclosed").unwrap_err();
        assert_eq!(err.document_index, 0);
        assert!(err.reason.contains("invalid YAML"));

        let err = parse_objects("- a\n- b\n").unwrap_err();
        assert!(err.reason.contains("mapping"));

        let err = parse_objects("apiVersion: v1\nkind: X\nmetadata: {}\n").unwrap_err();
        assert!(err.reason.contains("metadata.name"));

        let err = parse_objects("apiVersion: v1\nkind: X\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: X\nmetadata:\n  name: \"b\\0\"\n").unwrap_err();
        assert_eq!(err.document_index, 1);
        assert!(err.reason.contains("metadata.name contains a NUL"), "{err}");
    }

    #[test]
    fn a_stream_without_objects_is_an_empty_desired_state() {
        for yaml in [
            "",
            "\n",
            "# only a comment\n",
            "---\n",
            "---\n# x\n---\n...\n",
        ] {
            assert_eq!(parse_objects(yaml), Ok(vec![]), "{yaml:?}");
        }
        assert!(parse_objects("---\nfoo: [\n").is_err());
        assert!(parse_objects("# c\n---\nkind: X\nmetadata:\n  name: a\n").is_err());
    }
}
