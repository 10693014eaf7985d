//! Reading a folder, a file or stdin of manifests into one deployment object, checked locally
//! with the broker's own rules (`brokkr_schema::manifest`) before anything is sent.
//!
//! Files are taken in path order so the same folder always gives the same bytes, and so the
//! same checksum: that is what makes `apply` idempotent. JSON files are converted to YAML.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use brokkr_schema::manifest;

/// The manifests read, joined into one multi-document YAML stream.
#[derive(Debug)]
pub struct Manifests {
    /// The stream as it is posted.
    pub yaml: String,
    /// The files read (`-` for stdin), in order.
    pub files: Vec<String>,
}

/// Reads every `-f` source; directories give their `*.yaml`, `*.yml` and `*.json` files
/// (and those of subdirectories with `recursive`).
pub fn read(sources: &[PathBuf], recursive: bool) -> anyhow::Result<Manifests> {
    let mut files = Vec::new();
    for source in sources {
        if source.as_os_str() == "-" {
            files.push(source.clone());
        } else if source.is_dir() {
            let mut found = Vec::new();
            collect(source, recursive, &mut found)?;
            if found.is_empty() {
                bail!(
                    "{} has no *.yaml, *.yml or *.json files{}",
                    source.display(),
                    if recursive {
                        ""
                    } else {
                        " (use -R for subdirectories)"
                    }
                );
            }
            found.sort();
            files.extend(found);
        } else if source.is_file() {
            files.push(source.clone());
        } else {
            bail!("{}: no such file or directory", source.display());
        }
    }
    let mut yaml = String::new();
    let mut names = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        let text = if file.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from stdin")?;
            text
        } else {
            std::fs::read_to_string(file).with_context(|| format!("reading {name}"))?
        };
        let text = if is_json(file) {
            json_to_yaml(&name, &text)?
        } else {
            text
        };
        check(&name, &text)?;
        if text.trim().is_empty() {
            continue;
        }
        if !yaml.is_empty() {
            yaml.push_str("---\n");
        }
        yaml.push_str(text.trim_start_matches("---\n"));
        if !yaml.ends_with('\n') {
            yaml.push('\n');
        }
        names.push(name);
    }
    if names.is_empty() {
        bail!(
            "no Kubernetes objects found in {}",
            display_sources(sources)
        );
    }
    manifest::parse_objects(&yaml).map_err(|e| anyhow!("the manifests are not valid: {e}"))?;
    Ok(Manifests { yaml, files: names })
}

fn display_sources(sources: &[PathBuf]) -> String {
    sources
        .iter()
        .map(|s| s.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_json(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

fn collect(dir: &Path, recursive: bool, into: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            if recursive {
                collect(&path, recursive, into)?;
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
        {
            into.push(path);
        }
    }
    Ok(())
}

/// A JSON object, or an array of objects, as YAML documents.
fn json_to_yaml(name: &str, text: &str) -> anyhow::Result<String> {
    let value: serde_json::Value =
        serde_json::from_str(text).with_context(|| format!("{name} is not valid JSON"))?;
    let documents = match value {
        serde_json::Value::Array(items) => items,
        other => vec![other],
    };
    let mut yaml = String::new();
    for document in documents {
        if !yaml.is_empty() {
            yaml.push_str("---\n");
        }
        yaml.push_str(&serde_yaml_ng::to_string(&document)?);
    }
    Ok(yaml)
}

/// The broker's rules on one file, so an error names the file and its document.
fn check(name: &str, text: &str) -> anyhow::Result<()> {
    let only_empty_documents = serde_yaml_ng::Deserializer::from_str(text).all(|d| {
        serde::Deserialize::deserialize(d)
            .map(|v: serde_yaml_ng::Value| v.is_null())
            .unwrap_or(false)
    });
    if only_empty_documents {
        return Ok(());
    }
    manifest::parse_objects(text).map_err(|e| anyhow!("{name}: {e}"))?;
    Ok(())
}

/// The objects of a YAML stream by `kind/namespace/name`, each as its own YAML text (for diffs).
pub fn objects_by_key(yaml: &str) -> BTreeMap<String, String> {
    let mut objects = BTreeMap::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let Ok(value) = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(document) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let text = |v: Option<&serde_yaml_ng::Value>| {
            v.and_then(serde_yaml_ng::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kind = text(value.get("kind"));
        let metadata = value.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name")));
        let namespace = text(metadata.and_then(|m| m.get("namespace")));
        let key = if namespace.is_empty() {
            format!("{kind}/{name}")
        } else {
            format!("{kind}/{namespace}/{name}")
        };
        let rendered = serde_yaml_ng::to_string(&value).unwrap_or_default();
        objects.insert(key, rendered);
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_read_in_path_order_and_json_becomes_yaml() {
        let dir = std::env::temp_dir().join(format!("brokkr-cli-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(
            dir.join("b.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("a.json"),
            r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        std::fs::write(
            dir.join("sub/c.yml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )
        .unwrap();
        let flat = read(std::slice::from_ref(&dir), false).unwrap();
        assert_eq!(flat.files.len(), 2);
        assert!(
            flat.yaml.starts_with("apiVersion: v1\nkind: Namespace"),
            "{}",
            flat.yaml
        );
        let again = read(std::slice::from_ref(&dir), false).unwrap();
        assert_eq!(flat.yaml, again.yaml);
        let deep = read(std::slice::from_ref(&dir), true).unwrap();
        assert_eq!(deep.files.len(), 3);
        assert_eq!(objects_by_key(&deep.yaml).len(), 3);
        std::fs::write(dir.join("bad.yaml"), "apiVersion: v1\nkind: ConfigMap\n").unwrap();
        let err = read(std::slice::from_ref(&dir), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.yaml") && err.contains("metadata"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
