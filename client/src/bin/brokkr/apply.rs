//! `brokkr apply` and `brokkr diff`: a folder of manifests as a stack's desired state.
//!
//! Apply is idempotent: the content is compared by checksum (the broker's `yaml_checksum`, the
//! same SHA-256 computed here) with the stack's newest deployment object, and a new version is
//! posted only when it differs.
//!
//! `--generator` and `--description` describe a stack that apply creates. On an existing stack
//! a different `--generator` is refused before anything changes (the pipeline would otherwise
//! overwrite the desired state of a stack another generator owns, under the same name), and a
//! different `--description` is reported on stderr and left as it is (it is informational; the
//! deployment goes ahead).

use std::collections::BTreeSet;

use anyhow::{Context, anyhow, bail};
use brokkr_client::Client;
use brokkr_client::models::{NewDeploymentObject, NewStack, Stack, yaml_checksum};
use brokkr_schema::validation;

use crate::manifests::{self, Manifests, objects_by_key};
use crate::resolve;

/// What `apply` was asked to do.
pub struct ApplyRequest<'a> {
    pub stack: &'a str,
    pub generator: Option<&'a str>,
    pub description: Option<&'a str>,
    pub labels: &'a [String],
    pub annotations: &'a [(String, String)],
    pub dry_run: bool,
}

/// Splits `key=value`.
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

/// Checks everything locally before the first request.
pub fn validate(request: &ApplyRequest<'_>) -> anyhow::Result<()> {
    validation::name("Stack name", request.stack, Some(validation::MAX_NAME_LEN))?;
    for label in request.labels {
        validation::label(label).map_err(|e| anyhow!("--label {label}: {e}"))?;
    }
    for (key, value) in request.annotations {
        validation::annotation(key, value)
            .map_err(|e| anyhow!("--annotation {key}={value}: {e}"))?;
    }
    validation::description(request.description)?;
    Ok(())
}

/// Makes `manifests` the desired state of the stack; returns the stack.
pub async fn apply(
    client: &Client,
    request: &ApplyRequest<'_>,
    manifests: &Manifests,
) -> anyhow::Result<Stack> {
    validate(request)?;
    let existing = resolve::stack_opt(client, request.stack).await?;
    let stack = match existing {
        Some(stack) => {
            check_existing(client, &stack, request).await?;
            stack
        }
        None if request.dry_run => {
            println!(
                "stack '{}' would be created with {} object(s) from {} file(s) (dry run)",
                request.stack,
                objects_by_key(&manifests.yaml).len(),
                manifests.files.len()
            );
            return Ok(placeholder(request.stack));
        }
        None => {
            let generator_id = match request.generator {
                Some(g) => Some(resolve::generator(client, g).await?.id),
                None => None,
            };
            let stack = client
                .create_stack(&NewStack {
                    name: request.stack.to_owned(),
                    description: request.description.map(str::to_owned),
                    generator_id,
                })
                .await
                .with_context(|| format!("creating stack '{}'", request.stack))?;
            println!("stack '{}' created ({})", stack.name, stack.id);
            stack
        }
    };
    ensure_metadata(client, &stack, request).await?;
    let current = client
        .list_deployment_objects(stack.id)
        .await?
        .into_iter()
        .max_by_key(|o| o.sequence_id);
    let checksum = yaml_checksum(&manifests.yaml);
    if let Some(current) = &current
        && !current.is_deletion_marker
        && current.yaml_checksum == checksum
    {
        println!(
            "unchanged: stack '{}' is at version {}",
            stack.name, current.sequence_id
        );
        return Ok(stack);
    }
    if request.dry_run {
        let old = current
            .as_ref()
            .filter(|c| !c.is_deletion_marker)
            .map(|c| objects_by_key(&c.yaml_content))
            .unwrap_or_default();
        let new = objects_by_key(&manifests.yaml);
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys {
            match (old.get(key), new.get(key)) {
                (None, Some(_)) => println!("{key} would be created"),
                (Some(_), None) => println!("{key} would be removed"),
                (Some(a), Some(b)) if a != b => println!("{key} would be changed"),
                _ => println!("{key} unchanged"),
            }
        }
        println!(
            "stack '{}' would get a new version (dry run: nothing sent)",
            stack.name
        );
        return Ok(stack);
    }
    let object = client
        .create_deployment_object(
            stack.id,
            &NewDeploymentObject {
                yaml_content: manifests.yaml.clone(),
                is_deletion_marker: false,
            },
        )
        .await?;
    println!(
        "applied: stack '{}' version {} ({}), {} object(s) from {} file(s)",
        stack.name,
        object.sequence_id,
        object.id,
        objects_by_key(&manifests.yaml).len(),
        manifests.files.len()
    );
    Ok(stack)
}

/// Refuses a `--generator` other than the existing stack's owner; warns about a
/// `--description` other than its own.
async fn check_existing(
    client: &Client,
    stack: &Stack,
    request: &ApplyRequest<'_>,
) -> anyhow::Result<()> {
    if let Some(wanted) = request.generator {
        let generator = resolve::generator(client, wanted).await?;
        if generator.id != stack.generator_id {
            let owner = client
                .list_generators()
                .await
                .ok()
                .and_then(|all| all.into_iter().find(|g| g.id == stack.generator_id))
                .map(|g| format!("'{}'", g.name))
                .unwrap_or_else(|| stack.generator_id.to_string());
            bail!(
                "stack '{}' exists and belongs to generator {owner}, not '{}'; nothing applied \
                 (--generator names the owner of a stack apply creates)",
                stack.name,
                generator.name
            );
        }
    }
    if let Some(wanted) = request.description
        && stack.description.as_deref() != Some(wanted)
    {
        eprintln!(
            "warning: stack '{}' exists with description {}; --description is used only when \
             apply creates the stack, so it is left as it is",
            stack.name,
            stack
                .description
                .as_deref()
                .map(|d| format!("'{d}'"))
                .unwrap_or_else(|| "none".into())
        );
    }
    Ok(())
}

fn placeholder(name: &str) -> Stack {
    Stack {
        id: uuid::Uuid::nil(),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
        deleted_at: None,
        name: name.to_owned(),
        description: None,
        generator_id: uuid::Uuid::nil(),
    }
}

/// Adds the labels and annotations the stack lacks (existing ones are kept).
async fn ensure_metadata(
    client: &Client,
    stack: &Stack,
    request: &ApplyRequest<'_>,
) -> anyhow::Result<()> {
    if !request.labels.is_empty() {
        let have: BTreeSet<String> = client
            .list_stack_labels(stack.id)
            .await?
            .into_iter()
            .map(|l| l.label)
            .collect();
        for label in request.labels.iter().filter(|l| !have.contains(*l)) {
            if request.dry_run {
                println!("label {label} would be added");
            } else {
                client.add_stack_label(stack.id, label).await?;
                println!("label {label} added");
            }
        }
    }
    if !request.annotations.is_empty() {
        let have = client.list_stack_annotations(stack.id).await?;
        for (key, value) in request.annotations {
            match have.iter().find(|a| &a.key == key) {
                Some(a) if &a.value == value => continue,
                Some(_) if !request.dry_run => {
                    client.remove_stack_annotation(stack.id, key).await?;
                }
                _ => {}
            }
            if request.dry_run {
                println!("annotation {key}={value} would be set");
            } else {
                client.add_stack_annotation(stack.id, key, value).await?;
                println!("annotation {key}={value} set");
            }
        }
    }
    Ok(())
}

/// `brokkr diff`: a unified diff per object between the stack's current desired state and the
/// files. True when they differ.
pub async fn diff(client: &Client, stack: &str, manifests: &Manifests) -> anyhow::Result<bool> {
    let stack = resolve::stack(client, stack).await?;
    let current = client
        .list_deployment_objects(stack.id)
        .await?
        .into_iter()
        .max_by_key(|o| o.sequence_id);
    let old = current
        .as_ref()
        .filter(|c| !c.is_deletion_marker)
        .map(|c| objects_by_key(&c.yaml_content))
        .unwrap_or_default();
    let new = objects_by_key(&manifests.yaml);
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut differs = false;
    for key in keys {
        let a = old.get(key).map(String::as_str).unwrap_or("");
        let b = new.get(key).map(String::as_str).unwrap_or("");
        if a == b {
            continue;
        }
        differs = true;
        let from = if old.contains_key(key) {
            format!("a/{key}")
        } else {
            "/dev/null".into()
        };
        let to = if new.contains_key(key) {
            format!("b/{key}")
        } else {
            "/dev/null".into()
        };
        print!(
            "{}",
            similar::TextDiff::from_lines(a, b)
                .unified_diff()
                .context_radius(3)
                .header(&from, &to)
        );
    }
    if !differs {
        let version = current
            .map(|c| c.sequence_id.to_string())
            .unwrap_or_else(|| "none".into());
        eprintln!(
            "no differences with stack '{}' version {version}",
            stack.name
        );
    }
    Ok(differs)
}

/// Reads manifests (a thin wrapper so main stays declarative).
pub fn read(files: &[std::path::PathBuf], recursive: bool) -> anyhow::Result<Manifests> {
    manifests::read(files, recursive)
}
