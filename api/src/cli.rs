//! The `brokkr-broker` command line: `serve`, `migrate`, `create`, `rotate`, `config check`,
//! `openapi`.
//!
//! `create` and `rotate` print the new PAK alone on the last line of stdout, so scripts can take
//! it with `tail -n1`. They write through the same change seam as the API, so running brokers
//! drop the old key at once.

use std::path::PathBuf;

use brokkr_schema::config::Settings;
use brokkr_schema::crypto::Keyring;
use brokkr_schema::models::AgentStatus;
use brokkr_schema::pak::Pak;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::{self, StoreError};
use brokkr_schema::validation;
use clap::{Parser, Subcommand};
use uuid::Uuid;

/// Command-line interface of the broker.
#[derive(Debug, Parser)]
#[command(name = "brokkr-broker", version, about = "Brokkr control-plane broker")]
pub struct Cli {
    /// TOML configuration file (default: $BROKKR_CONFIG_FILE).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do (default: `serve`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an agent or a generator and print its PAK.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Issue a new PAK for the admin, an agent or a generator; the old one stops working.
    #[command(subcommand)]
    Rotate(RotateCommand),
    /// After a webhook key rotation: rewrite every stored webhook secret under the current key.
    ReencryptWebhooks,
    /// Work with configuration files without starting anything.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI document of the API (as served at `/docs/openapi.json` and committed
    /// as `api/openapi.json`); needs no database.
    Openapi,
}

/// `config` actions.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load FILE and the `BROKKR__*` environment exactly as `serve` and `brokkr-worker` do and
    /// report the first problem, naming its key (exit code 2), or print `configuration OK`.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

/// `config check`: the settings `file` plus `env` would give a broker or a worker, or the
/// error that would stop them, naming the key.
pub fn check_config(
    file: &std::path::Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, brokkr_schema::config::ConfigError> {
    Settings::load(Some(file), env)
}

/// `create` targets.
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// Register an agent.
    Agent {
        #[arg(long)]
        name: String,
        #[arg(long = "cluster-name", alias = "cluster_name")]
        cluster_name: String,
        /// Activate it at once (a new agent starts INACTIVE and gets no work until activated).
        #[arg(long)]
        activate: bool,
    },
    /// Create a generator.
    Generator {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
}

/// `rotate` targets.
#[derive(Debug, Subcommand)]
pub enum RotateCommand {
    /// The admin PAK.
    Admin,
    /// An agent's PAK.
    Agent {
        /// The agent id.
        #[arg(long = "uuid", alias = "id")]
        id: Uuid,
    },
    /// A generator's PAK.
    Generator {
        /// The generator id.
        #[arg(long = "uuid", alias = "id")]
        id: Uuid,
    },
}

/// Runs `create`, `rotate` or `reencrypt-webhooks`; returns the lines to print (for `create`
/// and `rotate`, the PAK last).
pub async fn run_admin_command(
    settings: &Settings,
    command: Command,
) -> anyhow::Result<Vec<String>> {
    let pool = store::connect(&settings.database).await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    store::registrations::ensure_system_generator(&pool).await?;
    let channels = Channels::for_schema(settings.database.schema.as_deref());
    let actor = Actor::system();
    let pak = Pak::generate(&settings.pak);
    let hash = pak.hash();
    let mut tx = brokkr_schema::store::begin(&pool).await?;
    let mut lines = Vec::new();
    match command {
        Command::Create(CreateCommand::Agent {
            name,
            cluster_name,
            activate,
        }) => {
            validation::name("Agent name", &name, Some(validation::MAX_NAME_LEN))?;
            validation::name(
                "Cluster name",
                &cluster_name,
                Some(validation::MAX_NAME_LEN),
            )?;
            let agent = store::agents::create(&mut tx, &name, &cluster_name, &hash).await?;
            changes::record(
                &mut tx,
                &channels,
                &actor,
                Change::AgentCreated {
                    id: agent.id,
                    name: &agent.name,
                    cluster_name: &agent.cluster_name,
                },
            )
            .await?;
            crate::registrations::register_new_agent(&mut tx, &channels, &actor, &agent, &[])
                .await?;
            let agent = if activate {
                let active =
                    store::agents::update(&mut tx, agent.id, None, None, Some(AgentStatus::Active))
                        .await?;
                changes::record(
                    &mut tx,
                    &channels,
                    &actor,
                    Change::AgentUpdated {
                        id: active.id,
                        name: &active.name,
                        cluster_name: &active.cluster_name,
                        status: active.status.as_str(),
                    },
                )
                .await?;
                active
            } else {
                agent
            };
            lines.push("Agent created successfully:".into());
            lines.push(format!("ID: {}", agent.id));
            lines.push(format!("Name: {}", agent.name));
            lines.push(format!("Cluster: {}", agent.cluster_name));
            lines.push(format!("Status: {}", agent.status));
        }
        Command::Create(CreateCommand::Generator { name, description }) => {
            validation::name("Generator name", &name, Some(validation::MAX_NAME_LEN))?;
            validation::description(description.as_deref())?;
            let generator =
                store::generators::create(&mut tx, &name, description.as_deref(), &hash).await?;
            changes::record(
                &mut tx,
                &channels,
                &actor,
                Change::GeneratorCreated {
                    id: generator.id,
                    name: &generator.name,
                },
            )
            .await?;
            lines.push("Generator created successfully:".into());
            lines.push(format!("ID: {}", generator.id));
            lines.push(format!("Name: {}", generator.name));
        }
        Command::Rotate(RotateCommand::Admin) => {
            store::auth::set_admin_hash(&mut tx, &hash).await?;
            changes::record(&mut tx, &channels, &actor, Change::AdminPakRotated).await?;
            lines.push("Admin PAK rotated; the previous admin PAK no longer works.".into());
        }
        Command::Rotate(RotateCommand::Agent { id }) => {
            let agent = store::agents::set_pak_hash(&mut tx, id, &hash)
                .await
                .map_err(|e| not_found(e, "agent", id))?;
            changes::record(&mut tx, &channels, &actor, Change::AgentPakRotated { id }).await?;
            lines.push(format!(
                "PAK rotated for agent {} ({})",
                agent.name, agent.id
            ));
        }
        Command::Rotate(RotateCommand::Generator { id }) => {
            let generator = store::generators::set_pak_hash(&mut tx, id, &hash)
                .await
                .map_err(|e| not_found(e, "generator", id))?;
            changes::record(
                &mut tx,
                &channels,
                &actor,
                Change::GeneratorPakRotated { id },
            )
            .await?;
            lines.push(format!(
                "PAK rotated for generator {} ({})",
                generator.name, generator.id
            ));
        }
        Command::ReencryptWebhooks => {
            let keyring = Keyring::from_settings(&settings.broker)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "broker.webhook_encryption_key is not set: nothing to re-encrypt with"
                )
            })?;
            let done = store::webhooks::subscriptions::reencrypt(&mut tx, &keyring).await?;
            tx.commit().await?;
            pool.close().await;
            let mut lines = vec![format!(
                "{} subscription(s) rewritten under key {}",
                done.rewritten,
                keyring.current().fingerprint()
            )];
            if !done.unreadable.is_empty() {
                lines.push(format!(
                    "{} subscription(s) hold values no configured key can read (left as they are): {}",
                    done.unreadable.len(),
                    done.unreadable
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            return Ok(lines);
        }
        Command::Serve | Command::Migrate | Command::Config(_) | Command::Openapi => {
            anyhow::bail!("not an admin command")
        }
    }
    tx.commit().await?;
    pool.close().await;
    lines.push(pak.as_str().to_owned());
    Ok(lines)
}

fn not_found(err: StoreError, what: &str, id: Uuid) -> anyhow::Error {
    match err {
        StoreError::NotFound => anyhow::anyhow!("{what} {id} not found"),
        other => other.into(),
    }
}
