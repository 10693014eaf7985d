//! `brokkr get` (lists as tables, JSON or YAML) and `brokkr describe` (one object and what
//! relates to it).

use std::collections::BTreeMap;

use anyhow::bail;
use brokkr_client::models::HealthStatus;
use brokkr_client::{AuditQuery, Client};
use clap::{Args, ValueEnum};

use crate::meta::{Labelled, labels_and_annotations};
use crate::output::{Format, Table, json_of, one_line, opt, print_data, when, when_opt};
use crate::resolve;

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
    /// Only the object with this name or id
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
    /// Only deliveries or work orders with this status
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

/// Whether the selector needs annotations fetched (it has a KEY=VALUE term).
fn wants_annotations(wanted: &[String]) -> bool {
    wanted.iter().any(|t| t.contains('='))
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

/// `brokkr get KIND`.
pub async fn get(client: &Client, args: &GetArgs) -> anyhow::Result<()> {
    let wide = args.output == Format::Wide;
    let wanted = selector(args);
    if !wanted.is_empty() && !matches!(args.kind, Kind::Agents | Kind::Stacks | Kind::Templates) {
        bail!("-l selects agents, stacks and templates only");
    }
    let named = |name: &str, id: uuid::Uuid| {
        args.name
            .as_deref()
            .is_none_or(|n| n == name || n == id.to_string())
    };
    match args.kind {
        Kind::Agents => {
            let mut rows = Vec::new();
            for agent in client.list_agents().await? {
                if !named(&agent.name, agent.id) {
                    continue;
                }
                let (labels, annotations) = if wanted.is_empty() && !wide {
                    (Vec::new(), Vec::new())
                } else {
                    labels_and_annotations(
                        client,
                        Labelled::Agent,
                        agent.id,
                        wants_annotations(&wanted),
                    )
                    .await?
                };
                if selected(&wanted, &labels, &annotations) {
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
            let mut rows = Vec::new();
            for stack in client.list_stacks().await? {
                if !named(&stack.name, stack.id) {
                    continue;
                }
                let (labels, annotations) = if wanted.is_empty() && !wide {
                    (Vec::new(), Vec::new())
                } else {
                    labels_and_annotations(
                        client,
                        Labelled::Stack,
                        stack.id,
                        wants_annotations(&wanted),
                    )
                    .await?
                };
                if selected(&wanted, &labels, &annotations) {
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
                bail!("get deployments needs --stack NAME");
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
            let generators: Vec<_> = client
                .list_generators()
                .await?
                .into_iter()
                .filter(|g| named(&g.name, g.id))
                .collect();
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
            let mut templates = Vec::new();
            for t in client.list_templates().await? {
                if !named(&t.name, t.id) {
                    continue;
                }
                if !wanted.is_empty() {
                    let (labels, annotations) = labels_and_annotations(
                        client,
                        Labelled::Template,
                        t.id,
                        wants_annotations(&wanted),
                    )
                    .await?;
                    if !selected(&wanted, &labels, &annotations) {
                        continue;
                    }
                }
                templates.push(t);
            }
            let mut table = Table::new(vec!["NAME", "VERSION", "OWNER", "CREATED", "ID"]);
            for t in &templates {
                table.row(vec![
                    t.name.clone(),
                    t.version.to_string(),
                    t.generator_id
                        .map(|g| g.to_string())
                        .unwrap_or_else(|| "system".into()),
                    when(&t.created_at),
                    t.id.to_string(),
                ]);
            }
            emit(args.output, table, json_of(&templates))
        }
        Kind::Webhooks => {
            let webhooks: Vec<_> = client
                .list_webhooks()
                .await?
                .into_iter()
                .filter(|w| named(&w.name, w.id))
                .collect();
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
                bail!("get deliveries needs --webhook NAME");
            };
            let webhook = resolve::webhook(client, webhook).await?;
            let deliveries = client
                .list_webhook_deliveries(webhook.id, args.status.as_deref(), args.limit)
                .await?;
            let mut table = Table::new(vec![
                "EVENT",
                "STATUS",
                "ATTEMPTS",
                "CREATED",
                "LAST ERROR",
                "ID",
            ]);
            for d in &deliveries {
                table.row(vec![
                    d.event_type.clone(),
                    d.status.to_string(),
                    d.attempts.to_string(),
                    when(&d.created_at),
                    opt(&d.last_error),
                    d.id.to_string(),
                ]);
            }
            emit(args.output, table, json_of(&deliveries))
        }
        Kind::WorkOrders => {
            let orders = client
                .list_work_orders(args.status.as_deref(), None)
                .await?;
            let mut table = Table::new(vec!["TYPE", "STATUS", "RETRIES", "CREATED", "ID"]);
            for w in &orders {
                table.row(vec![
                    w.work_type.clone(),
                    w.status.to_string(),
                    format!("{}/{}", w.retry_count, w.max_retries),
                    when(&w.created_at),
                    w.id.to_string(),
                ]);
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
            let mut table = Table::new(vec!["TIME", "ACTOR", "ACTION", "RESOURCE"]);
            for e in &page.logs {
                table.row(vec![
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
                ]);
            }
            emit(args.output, table, json_of(&page.logs))
        }
    }
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

/// `brokkr describe KIND NAME`.
pub async fn describe(client: &Client, args: &DescribeArgs) -> anyhow::Result<()> {
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
            section(
                "Stacks",
                &stacks
                    .into_iter()
                    .map(|s| format!("{} ({})", s.name, s.id))
                    .collect::<Vec<_>>(),
            );
            section(
                "Recent events",
                &events
                    .iter()
                    .take(10)
                    .map(|e| {
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
                    })
                    .collect::<Vec<_>>(),
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
            let (labels, annotations) = tokio::try_join!(
                client.list_stack_labels(stack.id),
                client.list_stack_annotations(stack.id),
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
            let objects = client.list_deployment_objects(stack.id).await?;
            let health: BTreeMap<uuid::Uuid, HealthStatus> = client
                .stack_health(stack.id)
                .await
                .map(|h| {
                    h.deployment_objects
                        .into_iter()
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
                            health.get(&o.id).map(|h| h.as_str()).unwrap_or("-")
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
            if let Ok(log) = client.get_work_order_log(id).await {
                fields(&[
                    ("Completed", when(&log.completed_at)),
                    ("Success", log.success.to_string()),
                    ("Result", opt(&log.result_message)),
                ]);
            }
        }
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
