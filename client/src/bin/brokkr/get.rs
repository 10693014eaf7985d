//! `brokkr get` (lists as tables, JSON or YAML) and `brokkr describe` (one object and what
//! relates to it).

use std::collections::BTreeMap;

use anyhow::bail;
use brokkr_client::models::{
    AgentEvent, AgentRolloutStatus, HealthStatus, RolloutState, WebhookDelivery,
};
use brokkr_client::{AuditQuery, Client};
use clap::{Args, ValueEnum};

use crate::meta::{Labelled, labels_and_annotations};
use crate::output::{Format, Table, json_of, one_line, opt, print_data, when, when_opt};
use crate::resolve;
use crate::usage;

/// What `get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Agents,
    Stacks,
    Deployments,
    Generators,
    Templates,
    Webhooks,
    Deliveries,
    #[value(name = "work-orders")]
    WorkOrders,
    Audit,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to list
    kind: Kind,
    /// Only the object with this name or id (work orders: an id; deployments: the stack;
    /// deliveries: the webhook). Nothing by that name is an error (exit 1)
    name: Option<String>,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Only agents, stacks or templates matching every term (comma-separated): a label
    /// (`env:prod`), or KEY=VALUE, which an annotation with that key and value matches (or a
    /// label spelled so). Matched here, on what the broker lists.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// The stack whose deployments to list
    #[arg(long)]
    stack: Option<String>,
    /// The webhook whose deliveries to list
    #[arg(long)]
    webhook: Option<String>,
    /// Only deliveries (pending, acquired, success, failed, dead) or work orders (pending,
    /// claimed, retry_pending) with this status, in any case
    #[arg(long)]
    status: Option<String>,
    /// At most this many entries (audit, deliveries)
    #[arg(long)]
    limit: Option<i64>,
}

/// What `describe` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DescribeKind {
    Agent,
    Stack,
    Webhook,
    #[value(name = "work-order")]
    WorkOrder,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// What to show
    kind: DescribeKind,
    /// Name or id
    name: String,
}

fn selector(args: &GetArgs) -> Vec<String> {
    args.selector
        .as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an object with `labels` and `annotations` matches every term of `wanted`.
fn selected(wanted: &[String], labels: &[String], annotations: &[(String, String)]) -> bool {
    wanted.iter().all(|term| {
        labels.contains(term)
            || term
                .split_once('=')
                .is_some_and(|(k, v)| annotations.iter().any(|(ak, av)| ak == k && av == v))
    })
}

/// The labels of a listed object when it matches the selector `wanted` (`None` when it does
/// not). The broker is asked only when the selector or `-o wide` needs them, and for
/// annotations only when a term is `KEY=VALUE`.
async fn selected_labels(
    client: &Client,
    kind: Labelled,
    id: uuid::Uuid,
    wanted: &[String],
    wide: bool,
) -> anyhow::Result<Option<Vec<String>>> {
    if wanted.is_empty() && !wide {
        return Ok(Some(Vec::new()));
    }
    let with_annotations = wanted.iter().any(|t| t.contains('='));
    let (labels, annotations) = labels_and_annotations(client, kind, id, with_annotations).await?;
    Ok(selected(wanted, &labels, &annotations).then_some(labels))
}

fn emit(format: Format, table: Table, data: serde_json::Value) -> anyhow::Result<()> {
    match format {
        Format::Table | Format::Wide => {
            print!("{}", table.render());
            Ok(())
        }
        _ => print_data(format, &data),
    }
}

/// The name `get` shows for `kind` (`work-orders`).
fn kind_name(kind: Kind) -> String {
    kind.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// Refuses flags that do not apply to the kind listed (a flag accepted and ignored would
/// mislead), as usage errors (exit 64).
pub fn check(args: &GetArgs) -> anyhow::Result<()> {
    use Kind::*;
    let kind = kind_name(args.kind);
    let refuse = |flag: &str, kinds: &str| -> anyhow::Result<()> {
        Err(usage(format!(
            "{flag} applies to {kinds} only, not to get {kind}"
        )))
    };
    if !selector(args).is_empty() && !matches!(args.kind, Agents | Stacks | Templates) {
        return refuse("-l", "agents, stacks and templates");
    }
    if args.status.is_some() && !matches!(args.kind, Deliveries | WorkOrders) {
        return refuse("--status", "deliveries and work-orders");
    }
    if args.stack.is_some() && args.kind != Deployments {
        return refuse("--stack", "deployments");
    }
    if args.webhook.is_some() && args.kind != Deliveries {
        return refuse("--webhook", "deliveries");
    }
    if args.limit.is_some() && !matches!(args.kind, Audit | Deliveries) {
        return refuse("--limit", "audit and deliveries");
    }
    if args.limit.is_some_and(|l| l < 1) {
        return Err(usage("--limit must be at least 1"));
    }
    match (args.kind, args.name.is_some()) {
        (Audit, true) => Err(usage(
            "get audit takes no NAME (audit entries have none); use --limit, or -o json",
        )),
        (Deployments, true) if args.stack.is_some() => Err(usage(
            "get deployments: name the stack once, as NAME or with --stack",
        )),
        (Deliveries, true) if args.webhook.is_some() => Err(usage(
            "get deliveries: name the webhook once, as NAME or with --webhook",
        )),
        (WorkOrders, true) if args.status.is_some() => Err(usage(
            "--status filters the list of work orders, not one named by id",
        )),
        _ => Ok(()),
    }
}

/// Fails with "KIND 'NAME' not found" (and a close name) when `NAME` was given and nothing
/// listed is it.
fn require_named<T>(
    args: &GetArgs,
    what: &str,
    items: &[T],
    is: impl Fn(&T, &str) -> bool,
    name: impl Fn(&T) -> String,
) -> anyhow::Result<()> {
    match args.name.as_deref() {
        Some(wanted) if !items.iter().any(|i| is(i, wanted)) => {
            let names: Vec<String> = items.iter().map(name).collect();
            Err(resolve::not_found(what, wanted, &names))
        }
        _ => Ok(()),
    }
}

/// `brokkr get KIND` (flags already passed [`check`]).
pub async fn get(client: &Client, args: &GetArgs) -> anyhow::Result<()> {
    let wide = args.output == Format::Wide;
    let wanted = selector(args);
    let by_name =
        |name: &str, id: uuid::Uuid, wanted: &str| wanted == name || wanted == id.to_string();
    let named =
        |name: &str, id: uuid::Uuid| args.name.as_deref().is_none_or(|n| by_name(name, id, n));
    match args.kind {
        Kind::Agents => {
            let all = client.list_agents().await?;
            require_named(args, "agent", &all, resolve::is_agent, |a| a.name.clone())?;
            let mut rows = Vec::new();
            for agent in all {
                if args
                    .name
                    .as_deref()
                    .is_some_and(|n| !resolve::is_agent(&agent, n))
                {
                    continue;
                }
                if let Some(labels) =
                    selected_labels(client, Labelled::Agent, agent.id, &wanted, wide).await?
                {
                    rows.push((agent, labels));
                }
            }
            let mut table = Table::new(if wide {
                vec![
                    "NAME",
                    "CLUSTER",
                    "STATUS",
                    "LAST HEARTBEAT",
                    "LABELS",
                    "ID",
                ]
            } else {
                vec!["NAME", "CLUSTER", "STATUS", "LAST HEARTBEAT"]
            });
            for (a, labels) in &rows {
                let mut row = vec![
                    a.name.clone(),
                    a.cluster_name.clone(),
                    a.status.to_string(),
                    when_opt(&a.last_heartbeat),
                ];
                if wide {
                    row.push(join(labels));
                    row.push(a.id.to_string());
                }
                table.row(row);
            }
            let data = rows.iter().map(|(a, _)| json_of(a)).collect();
            emit(args.output, table, serde_json::Value::Array(data))
        }
        Kind::Stacks => {
            let all = client.list_stacks().await?;
            require_named(
                args,
                "stack",
                &all,
                |s, n| by_name(&s.name, s.id, n),
                |s| s.name.clone(),
            )?;
            let mut rows = Vec::new();
            for stack in all {
                if !named(&stack.name, stack.id) {
                    continue;
                }
                if let Some(labels) =
                    selected_labels(client, Labelled::Stack, stack.id, &wanted, wide).await?
                {
                    rows.push((stack, labels));
                }
            }
            let mut table = Table::new(if wide {
                vec!["NAME", "CREATED", "LABELS", "GENERATOR", "ID"]
            } else {
                vec!["NAME", "CREATED", "ID"]
            });
            for (s, labels) in &rows {
                let mut row = vec![s.name.clone(), when(&s.created_at)];
                if wide {
                    row.push(join(labels));
                    row.push(s.generator_id.to_string());
                }
                row.push(s.id.to_string());
                table.row(row);
            }
            let data = rows.iter().map(|(s, _)| json_of(s)).collect();
            emit(args.output, table, serde_json::Value::Array(data))
        }
        Kind::Deployments => {
            let Some(stack) = args.stack.as_deref().or(args.name.as_deref()) else {
                return Err(usage(
                    "get deployments needs --stack NAME (or the stack as NAME)",
                ));
            };
            let stack = resolve::stack(client, stack).await?;
            let objects = client.list_deployment_objects(stack.id).await?;
            let mut table = Table::new(if wide {
                vec!["VERSION", "SUBMITTED", "DELETION", "CHECKSUM", "ID"]
            } else {
                vec!["VERSION", "SUBMITTED", "DELETION", "ID"]
            });
            for o in &objects {
                let mut row = vec![
                    o.sequence_id.to_string(),
                    when(&o.submitted_at),
                    if o.is_deletion_marker { "yes" } else { "no" }.into(),
                ];
                if wide {
                    row.push(o.yaml_checksum.clone());
                }
                row.push(o.id.to_string());
                table.row(row);
            }
            emit(args.output, table, json_of(&objects))
        }
        Kind::Generators => {
            let all = client.list_generators().await?;
            require_named(
                args,
                "generator",
                &all,
                |g, n| by_name(&g.name, g.id, n),
                |g| g.name.clone(),
            )?;
            let generators: Vec<_> = all.into_iter().filter(|g| named(&g.name, g.id)).collect();
            let mut table = Table::new(if wide {
                vec!["NAME", "ACTIVE", "LAST ACTIVE", "DESCRIPTION", "ID"]
            } else {
                vec!["NAME", "ACTIVE", "LAST ACTIVE", "ID"]
            });
            for g in &generators {
                let mut row = vec![
                    g.name.clone(),
                    g.is_active.to_string(),
                    when_opt(&g.last_active_at),
                ];
                if wide {
                    row.push(opt(&g.description));
                }
                row.push(g.id.to_string());
                table.row(row);
            }
            emit(args.output, table, json_of(&generators))
        }
        Kind::Templates => {
            let all = client.list_templates().await?;
            require_named(
                args,
                "template",
                &all,
                |t, n| by_name(&t.name, t.id, n),
                |t| t.name.clone(),
            )?;
            let mut rows = Vec::new();
            for t in all {
                if !named(&t.name, t.id) {
                    continue;
                }
                if let Some(labels) =
                    selected_labels(client, Labelled::Template, t.id, &wanted, wide).await?
                {
                    rows.push((t, labels));
                }
            }
            let mut table = Table::new(if wide {
                vec![
                    "NAME",
                    "VERSION",
                    "OWNER",
                    "CREATED",
                    "LABELS",
                    "CHECKSUM",
                    "DESCRIPTION",
                    "ID",
                ]
            } else {
                vec!["NAME", "VERSION", "OWNER", "CREATED", "ID"]
            });
            for (t, labels) in &rows {
                let mut row = vec![
                    t.name.clone(),
                    t.version.to_string(),
                    t.generator_id
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "system".into()),
                    when(&t.created_at),
                ];
                if wide {
                    row.push(join(labels));
                    row.push(short(&t.checksum));
                    row.push(opt(&t.description));
                }
                row.push(t.id.to_string());
                table.row(row);
            }
            let data = rows.iter().map(|(t, _)| json_of(t)).collect();
            emit(args.output, table, serde_json::Value::Array(data))
        }
        Kind::Webhooks => {
            let all = client.list_webhooks().await?;
            require_named(
                args,
                "webhook",
                &all,
                |w, n| by_name(&w.name, w.id, n),
                |w| w.name.clone(),
            )?;
            let webhooks: Vec<_> = all.into_iter().filter(|w| named(&w.name, w.id)).collect();
            let mut table = Table::new(if wide {
                vec!["NAME", "ENABLED", "EVENTS", "SIGNED", "AGENT LABELS", "ID"]
            } else {
                vec!["NAME", "ENABLED", "EVENTS", "ID"]
            });
            for w in &webhooks {
                let mut row = vec![w.name.clone(), w.enabled.to_string(), join(&w.event_types)];
                if wide {
                    row.push(w.has_secret.to_string());
                    row.push(join(w.target_labels.as_deref().unwrap_or_default()));
                }
                row.push(w.id.to_string());
                table.row(row);
            }
            emit(args.output, table, json_of(&webhooks))
        }
        Kind::Deliveries => {
            let Some(webhook) = args.webhook.as_deref().or(args.name.as_deref()) else {
                return Err(usage(
                    "get deliveries needs --webhook NAME (or the webhook as NAME)",
                ));
            };
            let webhook = resolve::webhook(client, webhook).await?;
            let deliveries = client
                .list_webhook_deliveries(
                    webhook.id,
                    args.status
                        .as_deref()
                        .map(|s| s.to_ascii_lowercase())
                        .as_deref(),
                    args.limit,
                )
                .await?;
            print_deliveries(args.output, &deliveries)
        }
        Kind::WorkOrders => {
            let orders = match args.name.as_deref() {
                Some(wanted) => {
                    let id = resolve::id("work order", wanted)?;
                    match client.get_work_order(id).await {
                        Ok(order) => vec![order],
                        Err(e) if e.is_not_found() => bail!("work order '{wanted}' not found"),
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    client
                        .list_work_orders(
                            args.status
                                .as_deref()
                                .map(|s| s.to_ascii_uppercase())
                                .as_deref(),
                            None,
                        )
                        .await?
                }
            };
            // Who claimed each order, by name (one list, only when shown).
            let agents: BTreeMap<uuid::Uuid, String> =
                if wide && orders.iter().any(|w| w.claimed_by.is_some()) {
                    client
                        .list_agents()
                        .await?
                        .into_iter()
                        .map(|a| (a.id, format!("{}/{}", a.name, a.cluster_name)))
                        .collect()
                } else {
                    BTreeMap::new()
                };
            let mut table = Table::new(if wide {
                vec![
                    "TYPE",
                    "STATUS",
                    "RETRIES",
                    "CREATED",
                    "CLAIMED BY",
                    "CLAIMED AT",
                    "NEXT RETRY",
                    "LAST ERROR",
                    "ID",
                ]
            } else {
                vec!["TYPE", "STATUS", "RETRIES", "CREATED", "ID"]
            });
            for w in &orders {
                let mut row = vec![
                    w.work_type.clone(),
                    w.status.to_string(),
                    format!("{}/{}", w.retry_count, w.max_retries),
                    when(&w.created_at),
                ];
                if wide {
                    row.push(match w.claimed_by {
                        Some(id) => agents.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                        None => "-".into(),
                    });
                    row.push(when_opt(&w.claimed_at));
                    row.push(when_opt(&w.next_retry_after));
                    row.push(opt(&w.last_error));
                }
                row.push(w.id.to_string());
                table.row(row);
            }
            emit(args.output, table, json_of(&orders))
        }
        Kind::Audit => {
            let page = client
                .list_audit_logs(&AuditQuery {
                    limit: args.limit.or(Some(50)),
                    ..AuditQuery::default()
                })
                .await?;
            let mut table = Table::new(if wide {
                vec![
                    "TIME",
                    "ACTOR",
                    "ACTION",
                    "RESOURCE",
                    "CLIENT",
                    "USER AGENT",
                    "DETAILS",
                    "ID",
                ]
            } else {
                vec!["TIME", "ACTOR", "ACTION", "RESOURCE"]
            });
            for e in &page.logs {
                let mut row = vec![
                    when(&e.timestamp),
                    match e.actor_id {
                        Some(id) => format!("{}:{id}", e.actor_type),
                        None => e.actor_type.to_string(),
                    },
                    e.action.clone(),
                    match e.resource_id {
                        Some(id) => format!("{}:{id}", e.resource_type),
                        None => e.resource_type.clone(),
                    },
                ];
                if wide {
                    row.push(opt(&e.ip_address));
                    row.push(opt(&e.user_agent));
                    row.push(match &e.details {
                        Some(d) if !d.is_null() => one_line(&d.to_string(), 80),
                        _ => "-".into(),
                    });
                    row.push(e.id.to_string());
                }
                table.row(row);
            }
            emit(args.output, table, json_of(&page.logs))
        }
    }
}

/// A webhook's deliveries (`get deliveries`, `webhook deliveries`).
pub fn print_deliveries(format: Format, deliveries: &[WebhookDelivery]) -> anyhow::Result<()> {
    let wide = format == Format::Wide;
    let mut table = Table::new(if wide {
        vec![
            "EVENT",
            "STATUS",
            "ATTEMPTS",
            "CREATED",
            "LAST ERROR",
            "LAST ATTEMPT",
            "NEXT RETRY",
            "COMPLETED",
            "AGENT LABELS",
            "ID",
        ]
    } else {
        vec!["EVENT", "STATUS", "ATTEMPTS", "CREATED", "LAST ERROR", "ID"]
    });
    for d in deliveries {
        let mut row = vec![
            d.event_type.clone(),
            d.status.to_string(),
            d.attempts.to_string(),
            when(&d.created_at),
            opt(&d.last_error),
        ];
        if wide {
            row.push(when_opt(&d.last_attempt_at));
            row.push(when_opt(&d.next_retry_at));
            row.push(when_opt(&d.completed_at));
            row.push(join(d.target_labels.as_deref().unwrap_or_default()));
        }
        row.push(d.id.to_string());
        table.row(row);
    }
    emit(format, table, json_of(&deliveries.to_vec()))
}

/// The start of a checksum (enough to tell versions apart in a table).
fn short(checksum: &str) -> String {
    checksum.chars().take(12).collect()
}

fn join(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(",")
    }
}

fn section(title: &str, lines: &[String]) {
    println!("{title}:");
    if lines.is_empty() {
        println!("  <none>");
    }
    for line in lines {
        println!("  {line}");
    }
}

fn fields(pairs: &[(&str, String)]) {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in pairs {
        println!("{:width$} {value}", format!("{key}:"));
    }
}

/// An agent event on one line.
fn event_line(e: &AgentEvent) -> String {
    format!(
        "{}  {}  {}  deployment object {}{}",
        when(&e.created_at),
        e.event_type,
        e.status,
        e.deployment_object_id,
        e.message
            .as_deref()
            .map(|m| format!(": {}", one_line(m, 120)))
            .unwrap_or_default()
    )
}

/// One agent of a rollout on one line: its state, the agent's message when it failed, and the
/// health it reported.
fn rollout_line(a: &AgentRolloutStatus) -> String {
    format!(
        "{}/{}  {}{}  health: {}{}",
        a.agent_name,
        a.cluster_name,
        a.state,
        match (a.state, a.message.as_deref()) {
            (RolloutState::Failed, Some(m)) => format!(": {}", one_line(m, 200)),
            _ => String::new(),
        },
        a.health.map_or_else(|| "-".into(), |h| h.to_string()),
        a.reported_at
            .map(|t| format!("  (reported {})", when(&t)))
            .unwrap_or_default()
    )
}

/// `brokkr describe KIND NAME`. What cannot be read is shown in its place, and the command
/// then fails naming it (a 403 only notes that the PAK may not read it).
pub async fn describe(client: &Client, args: &DescribeArgs) -> anyhow::Result<()> {
    let mut unreadable: Vec<String> = Vec::new();
    match args.kind {
        DescribeKind::Agent => {
            let agent = resolve::agent(client, &args.name).await?;
            fields(&[
                ("Name", agent.name.clone()),
                ("Cluster", agent.cluster_name.clone()),
                ("Id", agent.id.to_string()),
                ("Status", agent.status.to_string()),
                ("Last heartbeat", when_opt(&agent.last_heartbeat)),
                ("Created", when(&agent.created_at)),
            ]);
            // Independent reads: one round trip's wait, not five.
            let (labels, annotations, registrations, stacks, events) = tokio::try_join!(
                client.list_agent_labels(agent.id),
                client.list_agent_annotations(agent.id),
                client.list_agent_registrations(agent.id),
                client.list_agent_stacks(agent.id),
                client.list_agent_events_of(agent.id),
            )?;
            section(
                "Labels",
                &labels.into_iter().map(|l| l.label).collect::<Vec<_>>(),
            );
            section(
                "Annotations",
                &annotations
                    .into_iter()
                    .map(|a| format!("{}={}", a.key, a.value))
                    .collect::<Vec<_>>(),
            );
            section(
                "Registered with generators",
                &registrations
                    .into_iter()
                    .map(|r| format!("{} ({})", r.generator_name, r.generator_id))
                    .collect::<Vec<_>>(),
            );
            // Each stack's newest version on this agent: the rollout state and health.
            let mut lines = Vec::new();
            let mut health: BTreeMap<String, usize> = BTreeMap::new();
            for stack in &stacks {
                let head = format!("{} ({})", stack.name, stack.id);
                match client.stack_rollout_status(stack.id).await {
                    Ok(rollout) => match (
                        rollout.sequence_id,
                        rollout.agents.iter().find(|a| a.agent_id == agent.id),
                    ) {
                        (None, _) => lines.push(format!("{head}  no deployment objects yet")),
                        (Some(version), Some(a)) => {
                            let h = a.health.map_or_else(|| "-".to_owned(), |h| h.to_string());
                            let counted = a.health.map_or("not reported", |h| h.as_str());
                            *health.entry(counted.to_owned()).or_default() += 1;
                            lines.push(format!(
                                "{head}  version {version}: {}{}  health: {h}",
                                a.state,
                                match (a.state, a.message.as_deref()) {
                                    (RolloutState::Failed, Some(m)) =>
                                        format!(": {}", one_line(m, 200)),
                                    _ => String::new(),
                                }
                            ));
                        }
                        (Some(version), None) => lines.push(format!(
                            "{head}  version {version}: not followed (the agent is not active)"
                        )),
                    },
                    Err(e) => {
                        lines.push(format!("{head}  rollout cannot be read: {e}"));
                        unreadable.push(format!("the rollout of stack '{}'", stack.name));
                    }
                }
            }
            fields(&[(
                "Health",
                if health.is_empty() {
                    "no reports".into()
                } else {
                    format!(
                        "{} (newest version of each stack)",
                        health
                            .iter()
                            .map(|(h, n)| format!("{n} {h}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            )]);
            section("Stacks (newest version: rollout state, health)", &lines);
            section(
                "Recent events",
                &events.iter().take(10).map(event_line).collect::<Vec<_>>(),
            );
        }
        DescribeKind::Stack => {
            let stack = resolve::stack(client, &args.name).await?;
            fields(&[
                ("Name", stack.name.clone()),
                ("Id", stack.id.to_string()),
                ("Description", opt(&stack.description)),
                ("Generator", stack.generator_id.to_string()),
                ("Created", when(&stack.created_at)),
            ]);
            let (labels, annotations, objects, rollout) = tokio::try_join!(
                client.list_stack_labels(stack.id),
                client.list_stack_annotations(stack.id),
                client.list_deployment_objects(stack.id),
                client.stack_rollout_status(stack.id),
            )?;
            let health = client.stack_health(stack.id).await;
            section(
                "Labels",
                &labels.into_iter().map(|l| l.label).collect::<Vec<_>>(),
            );
            section(
                "Annotations",
                &annotations
                    .into_iter()
                    .map(|a| format!("{}={}", a.key, a.value))
                    .collect::<Vec<_>>(),
            );
            match &health {
                Ok(h) => fields(&[("Health", h.overall_status.to_string())]),
                Err(e) => {
                    fields(&[("Health", format!("cannot be read: {e}"))]);
                    unreadable.push("the stack's health".into());
                }
            }
            match rollout.sequence_id {
                None => section("Rollout", &["no deployment objects yet".to_owned()]),
                Some(version) => {
                    let mut lines: Vec<String> = rollout.agents.iter().map(rollout_line).collect();
                    if lines.is_empty() {
                        lines.push(format!(
                            "no active agent runs stack '{}' (target it with `brokkr target add`, or share a label)",
                            stack.name
                        ));
                    }
                    section(
                        &format!("Rollout of version {version}: {}, by agent", rollout.state),
                        &lines,
                    );
                }
            }
            // The agents' events about this stack's objects, newest first.
            let ids: std::collections::BTreeSet<uuid::Uuid> =
                objects.iter().map(|o| o.id).collect();
            let mut events: Vec<AgentEvent> = Vec::new();
            let mut note = None;
            for a in &rollout.agents {
                match client.list_agent_events_of(a.agent_id).await {
                    Ok(list) => events.extend(
                        list.into_iter()
                            .filter(|e| ids.contains(&e.deployment_object_id)),
                    ),
                    Err(e) if e.status() == Some(403) => {
                        note = Some("not shown: this PAK may not read agents' events".to_owned());
                        break;
                    }
                    Err(e) => {
                        note = Some(format!("cannot be read: {e}"));
                        unreadable.push("the agents' events".into());
                        break;
                    }
                }
            }
            events.sort_by_key(|e| std::cmp::Reverse(e.created_at));
            let mut lines: Vec<String> = events.iter().take(10).map(event_line).collect();
            lines.extend(note);
            section("Recent events", &lines);
            let by_object: BTreeMap<uuid::Uuid, HealthStatus> = health
                .as_ref()
                .map(|h| {
                    h.deployment_objects
                        .iter()
                        .map(|o| (o.id, o.status))
                        .collect()
                })
                .unwrap_or_default();
            section(
                "Deployment objects (newest first)",
                &objects
                    .iter()
                    .take(10)
                    .map(|o| {
                        format!(
                            "version {}  {}  {}{}  health: {}",
                            o.sequence_id,
                            when(&o.submitted_at),
                            o.id,
                            if o.is_deletion_marker {
                                "  (deletion marker)"
                            } else {
                                ""
                            },
                            by_object.get(&o.id).map(|h| h.as_str()).unwrap_or("-")
                        )
                    })
                    .collect::<Vec<_>>(),
            );
        }
        DescribeKind::Webhook => {
            let w = resolve::webhook(client, &args.name).await?;
            fields(&[
                ("Name", w.name.clone()),
                ("Id", w.id.to_string()),
                ("Enabled", w.enabled.to_string()),
                ("Events", join(&w.event_types)),
                ("Signed", w.has_secret.to_string()),
                ("Auth header", w.has_auth_header.to_string()),
                (
                    "Delivered by agents with",
                    join(w.target_labels.as_deref().unwrap_or_default()),
                ),
                ("Max retries", w.max_retries.to_string()),
                ("Timeout", format!("{}s", w.timeout_seconds)),
                ("Disabled reason", opt(&w.disabled_reason)),
            ]);
            let deliveries = client.list_webhook_deliveries(w.id, None, Some(10)).await?;
            section(
                "Recent deliveries",
                &deliveries
                    .iter()
                    .map(|d| {
                        format!(
                            "{}  {}  {}  attempts {}  {}",
                            when(&d.created_at),
                            d.event_type,
                            d.status,
                            d.attempts,
                            d.id
                        )
                    })
                    .collect::<Vec<_>>(),
            );
        }
        DescribeKind::WorkOrder => {
            let id = resolve::id("work order", &args.name)?;
            let w = client.get_work_order(id).await?;
            fields(&[
                ("Id", w.id.to_string()),
                ("Type", w.work_type.clone()),
                ("Status", w.status.to_string()),
                (
                    "Claimed by",
                    w.claimed_by.map(|a| a.to_string()).unwrap_or("-".into()),
                ),
                ("Retries", format!("{}/{}", w.retry_count, w.max_retries)),
                ("Created", when(&w.created_at)),
                ("Last error", opt(&w.last_error)),
            ]);
            match client.get_work_order_log(id).await {
                Ok(log) => fields(&[
                    ("Completed", when(&log.completed_at)),
                    ("Success", log.success.to_string()),
                    ("Result", opt(&log.result_message)),
                ]),
                // Not finished: no log entry yet.
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    fields(&[("Outcome", format!("cannot be read: {e}"))]);
                    unreadable.push("the work order's log".into());
                }
            }
        }
    }
    if !unreadable.is_empty() {
        bail!("could not read {} (shown above)", unreadable.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::selected;

    #[test]
    fn selector_terms_match_labels_or_annotations_and_all_must_match() {
        let labels = vec!["env:prod".to_owned()];
        let annotations = vec![("region".to_owned(), "eu".to_owned())];
        let terms = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(selected(&terms(&["env:prod"]), &labels, &annotations));
        assert!(selected(&terms(&["region=eu"]), &labels, &annotations));
        assert!(selected(
            &terms(&["env:prod", "region=eu"]),
            &labels,
            &annotations
        ));
        assert!(!selected(&terms(&["region=us"]), &labels, &annotations));
        assert!(!selected(
            &terms(&["env:prod", "tier:web"]),
            &labels,
            &annotations
        ));
        assert!(selected(&[], &[], &[]));
    }
}
