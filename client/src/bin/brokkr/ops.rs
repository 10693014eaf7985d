//! Operations: agents, generators, targets, webhooks, work orders, templates, and the
//! broker's configuration.
//!
//! A PAK is printed only where the broker issues a new one (register, create, rotate-pak): that
//! is the one moment it can be shown. It is then alone on the last line of stdout, so that
//! `| tail -n 1` captures it (as with `brokkr-broker create`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use brokkr_client::Client;
use brokkr_client::models::{
    AgentStatus, CreateTemplateRequest, CreateWebhookRequest, CreateWorkOrderRequest, NewAgent,
    NewGenerator, TemplateInstantiationRequest, UpdateTemplateRequest, WorkOrderTargeting,
};
use clap::Subcommand;

use crate::apply::key_value;
use crate::get::print_deliveries;
use crate::output::{Format, json_of, one_line, print_data, when};
use crate::resolve;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Register an agent; prints its id and PAK (shown only this once)
    #[command(
        after_help = "Example:\n  brokkr agent register prod-eu-1 --cluster prod-eu-1 --generator ci"
    )]
    Register {
        /// Agent name
        name: String,
        /// Cluster name
        #[arg(long)]
        cluster: String,
        /// Generators whose stacks it may run (name or id, repeatable)
        #[arg(long = "generator")]
        generators: Vec<String>,
    },
    /// Let an agent receive its target state
    #[command(after_help = "Example:\n  brokkr agent activate prod-eu-1")]
    Activate {
        /// Agent name, name/cluster, or id
        agent: String,
    },
    /// Stop an agent from receiving its target state
    #[command(after_help = "Example:\n  brokkr agent deactivate prod-eu-1")]
    Deactivate {
        /// Agent name, name/cluster, or id
        agent: String,
    },
    /// Issue a new PAK (the old one stops working at once)
    #[command(after_help = "Example:\n  brokkr agent rotate-pak prod-eu-1")]
    RotatePak {
        /// Agent name, name/cluster, or id
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GeneratorCommand {
    /// Create a generator; prints its id and PAK (shown only this once)
    #[command(
        after_help = "Example:\n  brokkr generator create ci --description \"GitHub Actions\""
    )]
    Create {
        /// Generator name
        name: String,
        /// Description
        #[arg(long)]
        description: Option<String>,
    },
    /// Issue a new PAK (the old one stops working at once)
    #[command(after_help = "Example:\n  brokkr generator rotate-pak ci")]
    RotatePak {
        /// Generator name or id
        generator: String,
    },
    /// Register an existing agent with a generator: its cluster consents to run the
    /// generator's stacks
    #[command(after_help = "Example:\n  brokkr generator register ci prod-eu-1")]
    Register {
        /// Generator name or id
        generator: String,
        /// Agent name, name/cluster, or id
        agent: String,
    },
    /// Withdraw an agent's registration with a generator (its stacks stop running there)
    #[command(after_help = "Example:\n  brokkr generator deregister ci prod-eu-1")]
    Deregister {
        /// Generator name or id
        generator: String,
        /// Agent name, name/cluster, or id
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Make an agent run a stack
    #[command(after_help = "Example:\n  brokkr target add prod-eu-1 web")]
    Add {
        /// Agent name, name/cluster, or id
        agent: String,
        /// Stack name or id
        stack: String,
    },
    /// Stop an agent running a stack (by target; labels may still associate them)
    #[command(after_help = "Example:\n  brokkr target remove prod-eu-1 web")]
    Remove {
        /// Agent name, name/cluster, or id
        agent: String,
        /// Stack name or id
        stack: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe a URL to events
    #[command(after_help = "Examples:
  brokkr webhook create alerts --destination https://hooks.example.com/brokkr --event 'deployment.*'
  SECRET=... brokkr webhook create audit --destination https://x.example.com --event '*' --secret-env SECRET")]
    Create {
        /// Subscription name
        name: String,
        /// Destination URL (stored encrypted, never shown again; `--url` names the broker)
        #[arg(long)]
        destination: String,
        /// Event type or pattern (`*`, `prefix.*`), repeatable
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// Name of an environment variable holding the signing secret
        #[arg(long, conflicts_with = "generate_secret")]
        secret_env: Option<String>,
        /// Have the broker generate a `whsec_` signing secret (Standard Webhooks), printed
        /// alone on the last line, this once
        #[arg(long)]
        generate_secret: bool,
        /// Labels of the agents that deliver it from inside their cluster (repeatable)
        #[arg(long = "agent-label")]
        agent_labels: Vec<String>,
    },
    /// Change a subscription: destination, events, secret, agent labels, enabled
    #[command(after_help = "Examples:
  brokkr webhook update alerts --event 'deployment.*' --event 'agent.*'
  brokkr webhook update alerts --disable
  NEW=... brokkr webhook update alerts --destination https://hooks.example.com/v2 --secret-env NEW")]
    Update {
        /// Webhook name or id
        webhook: String,
        /// New name
        #[arg(long)]
        name: Option<String>,
        /// New destination URL (stored encrypted)
        #[arg(long)]
        destination: Option<String>,
        /// The event types or patterns, replacing the current ones (repeatable)
        #[arg(long = "event")]
        events: Vec<String>,
        /// Name of an environment variable holding the new signing secret
        #[arg(long)]
        secret_env: Option<String>,
        /// Labels of the agents that deliver it, replacing the current ones (repeatable)
        #[arg(long = "agent-label")]
        agent_labels: Vec<String>,
        /// Resume deliveries
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Pause deliveries (events are not queued while disabled)
        #[arg(long)]
        disable: bool,
    },
    /// Send one delivery now and show the receiver's answer
    #[command(
        after_help = "Exits 0 when the receiver answered 2xx, 1 when it refused, failed or could not be
reached (its HTTP status, the error and the start of its answer are shown).

Examples:
  brokkr webhook test alerts
  brokkr webhook test alerts -o json"
    )]
    Test {
        /// Webhook name or id
        webhook: String,
        /// Output format (json and yaml: the API's WebhookTestResult)
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Queue a `ping` event
    #[command(after_help = "Example:\n  brokkr webhook ping alerts")]
    Ping {
        /// Webhook name or id
        webhook: String,
    },
    /// List deliveries (same as `brokkr get deliveries --webhook NAME`)
    #[command(after_help = "Examples:
  brokkr webhook deliveries alerts --status dead
  brokkr webhook deliveries alerts --limit 5 -o wide")]
    Deliveries {
        /// Webhook name or id
        webhook: String,
        /// Only this status (pending, acquired, success, failed, dead)
        #[arg(long)]
        status: Option<String>,
        /// At most this many, newest first
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        limit: Option<i64>,
        /// Output format
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
    /// Queue a delivery again
    #[command(after_help = "Example:\n  brokkr webhook redeliver 6f1e…")]
    Redeliver {
        /// Delivery id
        delivery: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make the broker re-read its configuration (file and BROKKR__* variables) now
    #[command(
        after_help = "Dynamic settings take effect at once, on every broker and worker of the deployment;
static ones that changed are listed as needing a restart. An invalid configuration is refused
(exit 1, naming the key) and nothing changes.

Examples:
  brokkr admin reload-config
  brokkr admin reload-config -o json"
    )]
    ReloadConfig {
        /// Output format (json and yaml: the API's ConfigReloadResponse)
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkOrderCommand {
    /// Queue a work order for agents
    #[command(
        after_help = "Example:\n  brokkr work-order create --type build -f build.yaml --label env:prod"
    )]
    Create {
        /// Work type (`build`, `custom`…)
        #[arg(long = "type")]
        work_type: String,
        /// The task's YAML
        #[arg(short = 'f', long = "filename")]
        file: PathBuf,
        /// Agents that may claim it (name or id, repeatable)
        #[arg(long = "agent")]
        agents: Vec<String>,
        /// Agents with any of these labels may claim it (repeatable)
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Agents with any of these annotations KEY=VALUE may claim it (repeatable)
        #[arg(long = "annotation", value_parser = key_value)]
        annotations: Vec<(String, String)>,
        /// Retries after the first attempt
        #[arg(long)]
        max_retries: Option<i32>,
    },
    /// Show a work order's outcome and message
    #[command(after_help = "Example:\n  brokkr work-order logs 3f0c…")]
    Logs {
        /// Work order id
        id: String,
    },
    /// Cancel a work order not yet finished
    #[command(after_help = "Example:\n  brokkr work-order cancel 3f0c…")]
    Cancel {
        /// Work order id
        id: String,
    },
}

/// A template version's content, from files.
#[derive(Debug, clap::Args)]
pub struct TemplateSource {
    /// The Tera template
    #[arg(short = 'f', long = "filename")]
    file: PathBuf,
    /// JSON Schema of the parameters
    #[arg(long)]
    schema: PathBuf,
    /// Description (for an update, default: the current one)
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Create a template (Tera source rendering Kubernetes YAML) with the JSON Schema of its parameters
    #[command(
        after_help = "Example:\n  brokkr template create web -f web.yaml.tera --schema web.schema.json"
    )]
    Create {
        /// Template name
        name: String,
        #[command(flatten)]
        source: TemplateSource,
        /// Owner (admin only; default: a system template, or the calling generator)
        #[arg(long)]
        generator: Option<String>,
    },
    /// Store the next version of a template (stacks follow with `brokkr template rollout`)
    #[command(
        after_help = "Example:\n  brokkr template update web -f web.yaml.tera --schema web.schema.json\n  brokkr template rollout web"
    )]
    Update {
        /// Template name or id
        template: String,
        #[command(flatten)]
        source: TemplateSource,
    },
    /// Render a template into a new version of a stack
    #[command(
        after_help = "Example:\n  brokkr template instantiate web --stack web-prod --param replicas=3 --param image=nginx:1.27"
    )]
    Instantiate {
        /// Template name or id
        template: String,
        /// Stack name or id
        #[arg(long)]
        stack: String,
        /// A parameter KEY=VALUE (VALUE is parsed as JSON when it can be), repeatable
        #[arg(long = "param", value_parser = key_value)]
        params: Vec<(String, String)>,
        /// A JSON file of parameters (merged under --param)
        #[arg(long)]
        params_file: Option<PathBuf>,
    },
    /// Re-render every stack made from a template with its newest version
    #[command(after_help = "Example:\n  brokkr template rollout web")]
    Rollout {
        /// Template name or id
        template: String,
    },
}

pub async fn agent(client: &Client, command: AgentCommand) -> anyhow::Result<ExitCode> {
    match command {
        AgentCommand::Register {
            name,
            cluster,
            generators,
        } => {
            let mut generator_ids = Vec::new();
            for g in &generators {
                generator_ids.push(resolve::generator(client, g).await?.id);
            }
            let created = client
                .create_agent(&NewAgent {
                    name,
                    cluster_name: cluster,
                    generator_ids: Some(generator_ids),
                })
                .await?;
            println!(
                "agent '{}' registered ({}), status {}; its PAK (shown only now) on the next line",
                created.agent.name, created.agent.id, created.agent.status
            );
            println!("{}", created.initial_pak);
        }
        AgentCommand::Activate { agent } => {
            let agent = resolve::agent(client, &agent).await?;
            let agent = client
                .set_agent_status(agent.id, AgentStatus::Active)
                .await?;
            println!("agent '{}' is {}", agent.name, agent.status);
        }
        AgentCommand::Deactivate { agent } => {
            let agent = resolve::agent(client, &agent).await?;
            let agent = client
                .set_agent_status(agent.id, AgentStatus::Inactive)
                .await?;
            println!("agent '{}' is {}", agent.name, agent.status);
        }
        AgentCommand::RotatePak { agent } => {
            let agent = resolve::agent(client, &agent).await?;
            let rotated = client.rotate_agent_pak(agent.id).await?;
            println!(
                "agent '{}': new PAK (shown only now) on the next line",
                agent.name
            );
            println!("{}", rotated.pak);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn generator(client: &Client, command: GeneratorCommand) -> anyhow::Result<ExitCode> {
    match command {
        GeneratorCommand::Create { name, description } => {
            let created = client
                .create_generator(&NewGenerator { name, description })
                .await?;
            println!(
                "generator '{}' created ({}); its PAK (shown only now) on the next line",
                created.generator.name, created.generator.id
            );
            println!("{}", created.pak);
        }
        GeneratorCommand::Register { generator, agent } => {
            let generator = resolve::generator(client, &generator).await?;
            let agent = resolve::agent(client, &agent).await?;
            client.register_agent(generator.id, Some(agent.id)).await?;
            println!(
                "agent '{}' registered with generator '{}'",
                agent.name, generator.name
            );
        }
        GeneratorCommand::Deregister { generator, agent } => {
            let generator = resolve::generator(client, &generator).await?;
            let agent = resolve::agent(client, &agent).await?;
            client
                .deregister_agent(generator.id, Some(agent.id))
                .await?;
            println!(
                "agent '{}' no longer registered with generator '{}'",
                agent.name, generator.name
            );
        }
        GeneratorCommand::RotatePak { generator } => {
            let generator = resolve::generator(client, &generator).await?;
            let rotated = client.rotate_generator_pak(generator.id).await?;
            println!(
                "generator '{}': new PAK (shown only now) on the next line",
                generator.name
            );
            println!("{}", rotated.pak);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn target(client: &Client, command: TargetCommand) -> anyhow::Result<ExitCode> {
    let (agent, stack, add) = match command {
        TargetCommand::Add { agent, stack } => (agent, stack, true),
        TargetCommand::Remove { agent, stack } => (agent, stack, false),
    };
    let agent = resolve::agent(client, &agent).await?;
    let stack = resolve::stack(client, &stack).await?;
    if add {
        client.add_agent_target(agent.id, stack.id).await?;
        println!("agent '{}' now runs stack '{}'", agent.name, stack.name);
    } else {
        client.remove_agent_target(agent.id, stack.id).await?;
        println!(
            "agent '{}' no longer targets stack '{}'",
            agent.name, stack.name
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn webhook(client: &Client, command: WebhookCommand) -> anyhow::Result<ExitCode> {
    match command {
        WebhookCommand::Create {
            name,
            destination,
            events,
            secret_env,
            generate_secret,
            agent_labels,
        } => {
            let secret = match secret_env {
                Some(var) => Some(
                    std::env::var(&var).map_err(|_| anyhow!("--secret-env: {var} is not set"))?,
                ),
                None => None,
            };
            let created = client
                .create_webhook(&CreateWebhookRequest {
                    name,
                    url: destination,
                    auth_header: None,
                    secret,
                    generate_secret,
                    event_types: events,
                    filters: None,
                    max_retries: None,
                    timeout_seconds: None,
                    validate: false,
                    target_labels: (!agent_labels.is_empty()).then_some(agent_labels),
                })
                .await?;
            println!("webhook '{}' created ({})", created.name, created.id);
            if let Some(secret) = &created.secret {
                // Alone on the last line, like a new PAK, so scripts capture it with tail -n 1.
                println!("{secret}");
            }
        }
        WebhookCommand::Update {
            webhook,
            name,
            destination,
            events,
            secret_env,
            agent_labels,
            enable,
            disable,
        } => {
            use brokkr_client::models::UpdateWebhookRequest;
            use poem_openapi::types::MaybeUndefined;
            let webhook = resolve::webhook(client, &webhook).await?;
            let secret = match secret_env {
                Some(var) => MaybeUndefined::Value(
                    std::env::var(&var).map_err(|_| anyhow!("--secret-env: {var} is not set"))?,
                ),
                None => MaybeUndefined::Undefined,
            };
            let body = UpdateWebhookRequest {
                name,
                url: destination,
                auth_header: MaybeUndefined::Undefined,
                secret,
                event_types: (!events.is_empty()).then_some(events),
                filters: MaybeUndefined::Undefined,
                enabled: (enable || disable).then_some(enable),
                max_retries: None,
                timeout_seconds: None,
                target_labels: if agent_labels.is_empty() {
                    MaybeUndefined::Undefined
                } else {
                    MaybeUndefined::Value(agent_labels)
                },
            };
            let updated = client.update_webhook(webhook.id, &body).await?;
            println!(
                "webhook '{}' updated: {}, events {}",
                updated.name,
                if updated.enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                updated.event_types.join(",")
            );
        }
        WebhookCommand::Test { webhook, output } => {
            let webhook = resolve::webhook(client, &webhook).await?;
            let result = client.test_webhook(webhook.id).await?;
            if matches!(output, Format::Json | Format::Yaml) {
                print_data(output, &json_of(&result))?;
            } else {
                let status = result
                    .status_code
                    .map(|s| format!("HTTP {s}"))
                    .unwrap_or_else(|| "no answer".into());
                if result.success {
                    println!(
                        "webhook '{}': test delivery accepted ({status}){}",
                        webhook.name,
                        result
                            .message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                } else {
                    println!(
                        "webhook '{}': test delivery failed ({status}): {}",
                        webhook.name,
                        result.error.as_deref().unwrap_or("no explanation")
                    );
                    if let Some(body) = result.body.as_deref().filter(|b| !b.is_empty()) {
                        println!("receiver answered: {}", one_line(body, 500));
                    }
                }
            }
            if !result.success {
                return Ok(ExitCode::FAILURE);
            }
        }
        WebhookCommand::Ping { webhook } => {
            let webhook = resolve::webhook(client, &webhook).await?;
            let delivery = client.ping_webhook(webhook.id).await?;
            println!("ping queued: delivery {}", delivery.id);
        }
        WebhookCommand::Deliveries {
            webhook,
            status,
            limit,
            output,
        } => {
            let webhook = resolve::webhook(client, &webhook).await?;
            let deliveries = client
                .list_webhook_deliveries(
                    webhook.id,
                    status.map(|s| s.to_ascii_lowercase()).as_deref(),
                    limit,
                )
                .await?;
            print_deliveries(output, &deliveries)?;
        }
        WebhookCommand::Redeliver { delivery } => {
            let id = resolve::id("delivery", &delivery)?;
            let delivery = client.redeliver_webhook_delivery(id).await?;
            println!(
                "delivery {} queued again ({})",
                delivery.id, delivery.status
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn work_order(client: &Client, command: WorkOrderCommand) -> anyhow::Result<ExitCode> {
    match command {
        WorkOrderCommand::Create {
            work_type,
            file,
            agents,
            labels,
            annotations,
            max_retries,
        } => {
            let yaml_content = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut agent_ids = Vec::new();
            for a in &agents {
                agent_ids.push(resolve::agent(client, a).await?.id);
            }
            let targeting = WorkOrderTargeting {
                agent_ids: (!agent_ids.is_empty()).then_some(agent_ids),
                labels: (!labels.is_empty()).then_some(labels),
                annotations: (!annotations.is_empty()).then(|| annotations.into_iter().collect()),
            };
            let order = client
                .create_work_order(&CreateWorkOrderRequest {
                    work_type,
                    yaml_content,
                    max_retries,
                    backoff_seconds: None,
                    claim_timeout_seconds: None,
                    targeting: Some(targeting),
                    target_agent_ids: None,
                })
                .await?;
            println!("work order {} queued ({})", order.id, order.status);
        }
        WorkOrderCommand::Logs { id } => {
            let id = resolve::id("work order", &id)?;
            match client.get_work_order_log(id).await {
                Ok(log) => {
                    println!(
                        "{} {} after {} retries on agent {}",
                        if log.success { "succeeded" } else { "failed" },
                        when(&log.completed_at),
                        log.retries_attempted,
                        log.claimed_by
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into())
                    );
                    println!("{}", log.result_message.unwrap_or_default());
                    if !log.success {
                        return Ok(ExitCode::FAILURE);
                    }
                }
                Err(e) if e.is_not_found() => {
                    let order = client.get_work_order(id).await?;
                    println!(
                        "not finished: {} (retries {}/{}){}",
                        order.status,
                        order.retry_count,
                        order.max_retries,
                        order
                            .last_error
                            .as_deref()
                            .map(|m| format!("; last error: {}", one_line(m, 300)))
                            .unwrap_or_default()
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        WorkOrderCommand::Cancel { id } => {
            let id = resolve::id("work order", &id)?;
            client.cancel_work_order(id).await?;
            println!("work order {id} cancelled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn template(client: &Client, command: TemplateCommand) -> anyhow::Result<ExitCode> {
    match command {
        TemplateCommand::Create {
            name,
            source,
            generator,
        } => {
            let (template_content, parameters_schema) = source.read()?;
            let description = source.description;
            let generator_id = match generator {
                Some(g) => Some(resolve::generator(client, &g).await?.id),
                None => None,
            };
            let template = client
                .create_template(&CreateTemplateRequest {
                    name,
                    description,
                    template_content,
                    parameters_schema,
                    generator_id,
                })
                .await?;
            println!(
                "template '{}' version {} created ({})",
                template.name, template.version, template.id
            );
        }
        TemplateCommand::Update { template, source } => {
            let (template_content, parameters_schema) = source.read()?;
            let description = source.description;
            let current = resolve::template(client, &template).await?;
            let template = client
                .update_template(
                    current.id,
                    &UpdateTemplateRequest {
                        description,
                        template_content,
                        parameters_schema,
                    },
                )
                .await?;
            println!(
                "template '{}' version {} stored ({})",
                template.name, template.version, template.id
            );
        }
        TemplateCommand::Instantiate {
            template,
            stack,
            params,
            params_file,
        } => {
            let template = resolve::template(client, &template).await?;
            let stack = resolve::stack(client, &stack).await?;
            let mut parameters = match params_file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                        .with_context(|| format!("{} is not a JSON object", path.display()))?
                }
                None => serde_json::Map::new(),
            };
            for (key, value) in params {
                let value =
                    serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
                parameters.insert(key, value);
            }
            let object = client
                .instantiate_template(
                    stack.id,
                    &TemplateInstantiationRequest {
                        template_id: template.id,
                        parameters: serde_json::Value::Object(parameters),
                    },
                )
                .await?;
            println!(
                "stack '{}' version {} ({}) rendered from template '{}' version {}",
                stack.name, object.sequence_id, object.id, template.name, template.version
            );
        }
        TemplateCommand::Rollout { template } => {
            let template = resolve::template(client, &template).await?;
            let rollout = client.rollout_template(template.id).await?;
            println!(
                "rollout {} of template '{}' version {}: {}",
                rollout.id, rollout.template_name, rollout.template_version, rollout.status
            );
            for s in &rollout.stacks {
                println!(
                    "  stack {}: {}{}",
                    s.stack_id,
                    s.status,
                    s.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl TemplateSource {
    /// The template's source and parameter schema (which must be JSON), read from the files.
    fn read(&self) -> anyhow::Result<(String, String)> {
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let template_content = read(&self.file)?;
        let parameters_schema = read(&self.schema)?;
        serde_json::from_str::<serde_json::Value>(&parameters_schema)
            .with_context(|| format!("{} is not JSON", self.schema.display()))?;
        Ok((template_content, parameters_schema))
    }
}

pub async fn admin(client: &Client, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::ReloadConfig { output } => {
            let reloaded = client.reload_config().await?;
            if matches!(output, Format::Json | Format::Yaml) {
                print_data(output, &json_of(&reloaded))?;
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "configuration reloaded at {}: {}",
                when(&reloaded.reloaded_at),
                reloaded.message
            );
            for c in &reloaded.changes {
                println!("changed: {}: {} -> {}", c.key, c.old_value, c.new_value);
            }
            for c in &reloaded.restart_required {
                println!(
                    "needs a restart: {}: {} -> {}",
                    c.key, c.old_value, c.new_value
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
