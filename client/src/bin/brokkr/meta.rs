//! `brokkr label`, `brokkr annotate` and `brokkr delete`: one implementation for every kind
//! that carries labels and annotations (agents, stacks, templates) or can be deleted.
//!
//! Labels are plain strings (`env:prod`); annotations are KEY=VALUE pairs. They decide which
//! agents run which stacks (an agent runs the stacks sharing one of its labels or annotations).

use std::process::ExitCode;

use brokkr_client::Client;
use clap::{Args, ValueEnum};
use uuid::Uuid;

use crate::apply::key_value;
use crate::resolve;

/// What carries labels and annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Labelled {
    Agent,
    Stack,
    Template,
}

/// What `brokkr delete` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deletable {
    Agent,
    Stack,
    Generator,
    Template,
    Webhook,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The kind of object
    kind: Labelled,
    /// Its name or id (agents also name/cluster)
    name: String,
    /// Labels to add (or with --remove, to remove)
    #[arg(required = true)]
    labels: Vec<String>,
    /// Remove the labels instead
    #[arg(long)]
    remove: bool,
}

#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// The kind of object
    kind: Labelled,
    /// Its name or id (agents also name/cluster)
    name: String,
    /// Annotations KEY=VALUE to set (a key already set gets the new value)
    #[arg(value_parser = key_value)]
    annotations: Vec<(String, String)>,
    /// Keys of annotations to remove (repeatable)
    #[arg(long = "remove")]
    remove: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The kind of object
    kind: Deletable,
    /// Its name or id
    name: String,
}

/// The id and display name of the object the user named.
async fn find(client: &Client, kind: Labelled, name: &str) -> anyhow::Result<(Uuid, String)> {
    Ok(match kind {
        Labelled::Agent => {
            let a = resolve::agent(client, name).await?;
            (a.id, format!("agent '{}'", a.name))
        }
        Labelled::Stack => {
            let s = resolve::stack(client, name).await?;
            (s.id, format!("stack '{}'", s.name))
        }
        Labelled::Template => {
            let t = resolve::template(client, name).await?;
            (t.id, format!("template '{}'", t.name))
        }
    })
}

/// The labels of an object, and its annotations when `with_annotations` (else none).
pub async fn labels_and_annotations(
    client: &Client,
    kind: Labelled,
    id: Uuid,
    with_annotations: bool,
) -> anyhow::Result<(Vec<String>, Vec<(String, String)>)> {
    let labels = match kind {
        Labelled::Agent => client
            .list_agent_labels(id)
            .await?
            .into_iter()
            .map(|l| l.label)
            .collect(),
        Labelled::Stack => client
            .list_stack_labels(id)
            .await?
            .into_iter()
            .map(|l| l.label)
            .collect(),
        Labelled::Template => client
            .list_template_labels(id)
            .await?
            .into_iter()
            .map(|l| l.label)
            .collect(),
    };
    let annotations = match (kind, with_annotations) {
        (_, false) => Vec::new(),
        (Labelled::Agent, true) => client
            .list_agent_annotations(id)
            .await?
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect(),
        (Labelled::Stack, true) => client
            .list_stack_annotations(id)
            .await?
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect(),
        (Labelled::Template, true) => client
            .list_template_annotations(id)
            .await?
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect(),
    };
    Ok((labels, annotations))
}

/// `brokkr label KIND NAME LABEL... [--remove]`.
pub async fn label(client: &Client, args: LabelArgs) -> anyhow::Result<ExitCode> {
    let (id, what) = find(client, args.kind, &args.name).await?;
    for label in &args.labels {
        match (args.kind, args.remove) {
            (Labelled::Agent, false) => client.add_agent_label(id, label).await.map(drop),
            (Labelled::Agent, true) => client.remove_agent_label(id, label).await,
            (Labelled::Stack, false) => client.add_stack_label(id, label).await.map(drop),
            (Labelled::Stack, true) => client.remove_stack_label(id, label).await,
            (Labelled::Template, false) => client.add_template_label(id, label).await.map(drop),
            (Labelled::Template, true) => client.remove_template_label(id, label).await,
        }?;
        let done = if args.remove {
            "removed from"
        } else {
            "added to"
        };
        println!("label '{label}' {done} {what}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `brokkr annotate KIND NAME KEY=VALUE... [--remove KEY]...`.
pub async fn annotate(client: &Client, args: AnnotateArgs) -> anyhow::Result<ExitCode> {
    if args.annotations.is_empty() && args.remove.is_empty() {
        anyhow::bail!("give annotations KEY=VALUE to set, or --remove KEY");
    }
    let (id, what) = find(client, args.kind, &args.name).await?;
    // An annotation key holds one value: a new value replaces the old one.
    let (_, existing) = labels_and_annotations(client, args.kind, id, true).await?;
    let replaced = args
        .annotations
        .iter()
        .map(|(k, _)| k)
        .filter(|k| existing.iter().any(|(e, _)| e == *k));
    for key in args.remove.iter().chain(replaced) {
        match args.kind {
            Labelled::Agent => client.remove_agent_annotation(id, key).await,
            Labelled::Stack => client.remove_stack_annotation(id, key).await,
            Labelled::Template => client.remove_template_annotation(id, key).await,
        }?;
        if args.remove.contains(key) {
            println!("annotation '{key}' removed from {what}");
        }
    }
    for (key, value) in &args.annotations {
        match args.kind {
            Labelled::Agent => client.add_agent_annotation(id, key, value).await.map(drop),
            Labelled::Stack => client.add_stack_annotation(id, key, value).await.map(drop),
            Labelled::Template => client
                .add_template_annotation(id, key, value)
                .await
                .map(drop),
        }?;
        println!("annotation '{key}={value}' set on {what}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `brokkr delete KIND NAME`.
pub async fn delete(client: &Client, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let what = match args.kind {
        Deletable::Agent => {
            let a = resolve::agent(client, &args.name).await?;
            client.delete_agent(a.id).await?;
            format!("agent '{}'", a.name)
        }
        Deletable::Stack => {
            let s = resolve::stack(client, &args.name).await?;
            client.delete_stack(s.id).await?;
            format!(
                "stack '{}' (its agents remove what they applied for it)",
                s.name
            )
        }
        Deletable::Generator => {
            let g = resolve::generator(client, &args.name).await?;
            client.delete_generator(g.id).await?;
            format!("generator '{}'", g.name)
        }
        Deletable::Template => {
            let t = resolve::template(client, &args.name).await?;
            client.delete_template(t.id).await?;
            format!("template '{}'", t.name)
        }
        Deletable::Webhook => {
            let w = resolve::webhook(client, &args.name).await?;
            client.delete_webhook(w.id).await?;
            format!("webhook '{}'", w.name)
        }
    };
    println!("deleted {what}");
    Ok(ExitCode::SUCCESS)
}
