//! `brokkr`: the command-line client of Brokkr, for CI pipelines and operators.
//!
//! `apply` makes a folder of manifests a stack's desired state (idempotently, by checksum),
//! `rollout status` waits until every agent running the stack has applied it, `get` and
//! `describe` show the fleet, and the operation commands register agents, rotate PAKs, target
//! stacks, manage webhooks, work orders and templates. Modules: [`config`] (flags, environment,
//! contexts), [`manifests`] (reading and checking files), [`apply`] (apply and diff),
//! [`meta`] (label, annotate, delete),
//! [`rollout`], [`get`] (lists and describe), [`ops`] (operations, the admin's configuration
//! reload), [`resolve`] (names or ids),
//! [`output`] (tables, JSON, YAML). Everything goes through `brokkr-client`.
//!
//! Exit codes: 0 success; 1 failure (an error, or a rollout an agent failed); 2 a wait timed out
//! (or, without `--wait`, agents are still pending); 3 the broker could not be reached; 64 the
//! command line is wrong (clap's own errors, and [`UsageError`]s: flags that do not apply to
//! what was asked).

mod apply;
mod config;
mod get;
mod manifests;
mod meta;
mod ops;
mod output;
mod resolve;
mod rollout;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use brokkr_client::{Client, RetryPolicy};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// Exit code: the command failed.
const EXIT_FAILURE: u8 = 1;
/// Exit code: a wait timed out, or agents are still pending.
const EXIT_TIMEOUT: u8 = 2;
/// Exit code: the broker could not be reached.
const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the command line is wrong.
const EXIT_USAGE: u8 = 64;

/// A command line that parses but cannot be done as written (a flag that does not apply to the
/// kind asked for, a name where none is taken): exit code 64, like clap's own usage errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] as an `anyhow` error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

const AFTER_HELP: &str = "\
Configuration: --url/--pak, else BROKKR_URL/BROKKR_PAK, else the current context of
$XDG_CONFIG_HOME/brokkr/config.toml (~/.config/brokkr/config.toml).

Exit codes: 0 success, 1 failure (error, not found, or failed rollout), 2 timed out or
still pending, 3 broker unreachable, 64 usage error (or a flag where it does not apply).

Examples:
  brokkr config set-context prod --url https://brokkr.example.com --pak-stdin < pak.txt
  brokkr apply -f k8s/ --stack web --label env:prod --wait --timeout 5m
  brokkr rollout status web --wait
  brokkr get agents -o wide
  brokkr describe stack web";

/// The Brokkr command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "brokkr",
    version,
    about = "The Brokkr command-line client: apply manifests to stacks, follow rollouts, operate the fleet",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Broker URL, e.g. https://brokkr.example.com
    #[arg(long, env = "BROKKR_URL", global = true)]
    url: Option<String>,
    /// PAK to authenticate with (admin, generator or agent); prefer BROKKR_PAK or a context
    #[arg(long, env = "BROKKR_PAK", global = true, hide_env_values = true)]
    pak: Option<String>,
    /// Context of the config file to use instead of the current one
    #[arg(long, global = true)]
    context: Option<String>,
    /// Time allowed for each request to the broker
    #[arg(long, global = true, default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Whether `pak` came from the `--pak` flag (not from BROKKR_PAK): `config set-context`
    /// stores a PAK typed on its command line, and one from the environment only when asked.
    #[arg(skip)]
    pak_on_command_line: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Make files of manifests a stack's desired state (a new version only when they changed)
    #[command(after_help = "Examples:
  brokkr apply -f k8s/ --stack web
  brokkr apply -f k8s/ -R --stack web --label env:prod --annotation team=payments --wait --timeout 5m
  helm template web ./chart | brokkr apply -f - --stack web
  brokkr apply -f k8s/ --stack web --dry-run")]
    Apply(ApplyArgs),
    /// Show the differences between a stack's desired state and files, object by object
    #[command(after_help = "Examples:
  brokkr diff -f k8s/ --stack web
  brokkr diff -f k8s/ --stack web --exit-code   # 1 when they differ")]
    Diff(DiffArgs),
    /// Follow the rollout of a stack's newest version to its agents
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// List objects
    #[command(after_help = "Examples:
  brokkr get stacks -l env:prod
  brokkr get agents -o wide
  brokkr get deployments --stack web -o yaml
  brokkr get deliveries --webhook alerts --status dead
  brokkr get audit --limit 20 -o json")]
    Get(get::GetArgs),
    /// Show one object with its related objects, recent events and health
    #[command(after_help = "Examples:
  brokkr describe stack web
  brokkr describe agent prod-eu-1
  brokkr describe work-order 3f0c…")]
    Describe(get::DescribeArgs),
    /// Add or remove labels of an agent, a stack or a template
    #[command(
        after_help = "Labels are plain strings; an agent runs the stacks that share one of its labels.

Examples:
  brokkr label agent prod-eu-1 env:prod region:eu
  brokkr label stack web env:prod
  brokkr label template web tier:frontend
  brokkr label agent prod-eu-1 env:prod --remove"
    )]
    Label(meta::LabelArgs),
    /// Set or remove annotations (KEY=VALUE) of an agent, a stack or a template
    #[command(
        after_help = "An agent runs the stacks that share one of its annotations (same key and value).

Examples:
  brokkr annotate agent prod-eu-1 region=eu team=payments
  brokkr annotate stack web region=eu
  brokkr annotate stack web --remove region"
    )]
    Annotate(meta::AnnotateArgs),
    /// Delete an agent, a stack, a generator, a template or a webhook
    #[command(
        after_help = "Deleting a stack makes its agents remove what they applied for it.

Examples:
  brokkr delete stack web
  brokkr delete agent prod-eu-1/prod-eu-1
  brokkr delete webhook alerts"
    )]
    Delete(meta::DeleteArgs),
    /// Register, activate, deactivate agents; rotate their PAKs
    #[command(subcommand)]
    Agent(ops::AgentCommand),
    /// Create generators; register agents with them; rotate their PAKs
    #[command(subcommand)]
    Generator(ops::GeneratorCommand),
    /// Make an agent run a stack, or stop running it
    #[command(subcommand)]
    Target(ops::TargetCommand),
    /// Webhook subscriptions and their deliveries
    #[command(subcommand)]
    Webhook(ops::WebhookCommand),
    /// One-off tasks run by agents
    #[command(subcommand, name = "work-order")]
    WorkOrder(ops::WorkOrderCommand),
    /// Stack templates
    #[command(subcommand)]
    Template(ops::TemplateCommand),
    /// Manage contexts (broker URL and PAK) in the config file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administration of the broker itself (admin PAK)
    #[command(subcommand)]
    Admin(ops::AdminCommand),
    /// Print a shell completion script
    #[command(after_help = "Examples:
  brokkr completion bash > /etc/bash_completion.d/brokkr
  brokkr completion zsh > \"${fpath[1]}/_brokkr\"
  brokkr completion fish > ~/.config/fish/completions/brokkr.fish")]
    Completion {
        /// The shell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// A directory, a file, or - for stdin (repeatable)
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Read directories recursively
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The stack (name or id); created when missing
    #[arg(long)]
    stack: String,
    /// Owner of a stack created by the admin (generator name or id)
    #[arg(long)]
    generator: Option<String>,
    /// Description of a stack created now
    #[arg(long)]
    description: Option<String>,
    /// A label the stack must carry (repeatable; labels are plain strings such as env:prod)
    #[arg(long = "label")]
    labels: Vec<String>,
    /// An annotation KEY=VALUE the stack must carry (repeatable)
    #[arg(long = "annotation", value_parser = apply::key_value)]
    annotations: Vec<(String, String)>,
    /// Show what would change; send nothing
    #[arg(long)]
    dry_run: bool,
    /// Then wait until every agent running the stack has applied it (as `rollout status --wait`)
    #[arg(long)]
    wait: bool,
    /// How long --wait waits
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// A directory, a file, or - for stdin (repeatable)
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Read directories recursively
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The stack (name or id)
    #[arg(long)]
    stack: String,
    /// Exit with 1 when there are differences
    #[arg(long)]
    exit_code: bool,
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Each agent's state for the stack's newest version: pending, applied, or failed
    #[command(
        after_help = "Exit codes: 0 every agent applied it, 1 an agent failed, 2 timed out
(or, without --wait, still pending).

Examples:
  brokkr rollout status web
  brokkr rollout status web --wait --timeout 10m"
    )]
    Status {
        /// The stack (name or id)
        stack: String,
        /// Wait until every agent has answered
        #[arg(long)]
        wait: bool,
        /// How long --wait waits
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        timeout: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Add or change a context (its URL, and its PAK when one is given)
    #[command(
        after_help = "The PAK is stored when given with --pak-stdin, --pak-from-env (BROKKR_PAK) or --pak
(prefer the first two: a --pak value stays in shell history and process lists). It is never
printed; the file is written with mode 600.

Examples:
  brokkr config set-context prod --url https://brokkr.example.com --pak-stdin < admin.pak
  BROKKR_PAK=... brokkr config set-context ci --url http://localhost:3000 --pak-from-env"
    )]
    SetContext {
        /// Context name (the broker URL is given with --url or BROKKR_URL)
        name: String,
        /// Read the PAK from stdin (first line)
        #[arg(long, conflicts_with = "pak_from_env")]
        pak_stdin: bool,
        /// Take the PAK from BROKKR_PAK (or --pak)
        #[arg(long)]
        pak_from_env: bool,
    },
    /// Make a context the current one
    #[command(after_help = "Example:\n  brokkr config use-context prod")]
    UseContext {
        /// Context name
        name: String,
    },
    /// List contexts (PAKs are never shown)
    #[command(after_help = "Example:\n  brokkr config get-contexts")]
    GetContexts,
    /// Remove a context
    #[command(after_help = "Example:\n  brokkr config delete-context old-prod")]
    DeleteContext {
        /// Context name
        name: String,
    },
}

/// Parses `90`, `30s`, `5m`, `2h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 30s, 5m or 1h, got '{text}'"))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(format!("unknown unit '{unit}' in '{text}' (use s, m or h)")),
    };
    Ok(Duration::from_secs(seconds))
}

/// Builds the client from flags, environment and the config file.
fn client(global: &Global) -> anyhow::Result<Client> {
    let file = config::ConfigFile::load()?;
    let context = file.context(global.context.as_deref())?;
    let url = global
        .url
        .clone()
        .or_else(|| context.as_ref().and_then(|(_, c)| c.url.clone()))
        .ok_or_else(|| {
            anyhow!("no broker URL: pass --url, set BROKKR_URL, or add a context (brokkr config set-context)")
        })?;
    let pak = global
        .pak
        .clone()
        .or_else(|| context.as_ref().and_then(|(_, c)| c.pak.clone()))
        .ok_or_else(|| {
            anyhow!("no PAK: set BROKKR_PAK, pass --pak, or add one to a context (brokkr config set-context --pak-stdin)")
        })?;
    Ok(Client::builder(&url)
        .pak(pak)
        .timeout(global.request_timeout)
        .retry(RetryPolicy::default())
        .user_agent(concat!("brokkr-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

fn rollout_exit(outcome: rollout::Outcome, stack: &str, wait: bool, timeout: Duration) -> ExitCode {
    match outcome {
        rollout::Outcome::Applied => ExitCode::SUCCESS,
        rollout::Outcome::Failed => {
            eprintln!("error: the rollout of stack '{stack}' failed on at least one agent");
            ExitCode::from(EXIT_FAILURE)
        }
        rollout::Outcome::Pending if wait => {
            eprintln!(
                "error: timed out after {} waiting for the rollout of stack '{stack}'",
                human(timeout)
            );
            ExitCode::from(EXIT_TIMEOUT)
        }
        rollout::Outcome::Pending => ExitCode::from(EXIT_TIMEOUT),
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Apply(args) => {
            let manifests = apply::read(&args.files, args.recursive)?;
            let client = client(global)?;
            let request = apply::ApplyRequest {
                stack: &args.stack,
                generator: args.generator.as_deref(),
                description: args.description.as_deref(),
                labels: &args.labels,
                annotations: &args.annotations,
                dry_run: args.dry_run,
            };
            let stack = apply::apply(&client, &request, &manifests).await?;
            if args.wait && !args.dry_run {
                let outcome = rollout::status(&client, &stack, true, args.timeout).await?;
                return Ok(rollout_exit(outcome, &stack.name, true, args.timeout));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff(args) => {
            let manifests = apply::read(&args.files, args.recursive)?;
            let client = client(global)?;
            let differs = apply::diff(&client, &args.stack, &manifests).await?;
            Ok(if differs && args.exit_code {
                ExitCode::from(EXIT_FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Rollout(RolloutCommand::Status {
            stack,
            wait,
            timeout,
        }) => {
            let client = client(global)?;
            let stack = resolve::stack(&client, &stack).await?;
            let outcome = rollout::status(&client, &stack, wait, timeout).await?;
            Ok(rollout_exit(outcome, &stack.name, wait, timeout))
        }
        Command::Get(args) => {
            // Flags that do not apply are refused before anything is asked of the broker.
            get::check(&args)?;
            get::get(&client(global)?, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe(args) => {
            get::describe(&client(global)?, &args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Label(args) => meta::label(&client(global)?, args).await,
        Command::Annotate(args) => meta::annotate(&client(global)?, args).await,
        Command::Delete(args) => meta::delete(&client(global)?, args).await,
        Command::Agent(command) => ops::agent(&client(global)?, command).await,
        Command::Generator(command) => ops::generator(&client(global)?, command).await,
        Command::Target(command) => ops::target(&client(global)?, command).await,
        Command::Webhook(command) => ops::webhook(&client(global)?, command).await,
        Command::WorkOrder(command) => ops::work_order(&client(global)?, command).await,
        Command::Template(command) => ops::template(&client(global)?, command).await,
        Command::Admin(command) => ops::admin(&client(global)?, command).await,
        Command::Config(command) => {
            config_command(global, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "brokkr", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_command(global: &Global, command: ConfigCommand) -> anyhow::Result<()> {
    let mut file = config::ConfigFile::load()?;
    match command {
        ConfigCommand::SetContext {
            name,
            pak_stdin,
            pak_from_env,
        } => {
            if pak_stdin && global.pak_on_command_line {
                return Err(usage(
                    "set-context: give the PAK once, with --pak-stdin or --pak, not both",
                ));
            }
            let pak = if pak_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let pak = line.trim();
                if pak.is_empty() {
                    bail!("no PAK on stdin");
                }
                Some(pak.to_owned())
            } else if pak_from_env {
                Some(
                    global
                        .pak
                        .clone()
                        .ok_or_else(|| anyhow!("--pak-from-env: BROKKR_PAK is not set"))?,
                )
            } else if global.pak_on_command_line {
                // Typed on purpose: stored, as the user asked (BROKKR_PAK alone is not, since
                // it may be exported for another broker).
                global.pak.clone()
            } else {
                None
            };
            let context = file.contexts.entry(name.clone()).or_default();
            if let Some(url) = &global.url {
                context.url = Some(url.clone());
            }
            if let Some(pak) = pak {
                context.pak = Some(pak);
            }
            let has_pak = context.pak.is_some();
            if file.current_context.is_none() {
                file.current_context = Some(name.clone());
            }
            let path = file.save()?;
            println!(
                "context '{name}' saved in {} (PAK {})",
                path.display(),
                if has_pak { "set" } else { "not set" }
            );
        }
        ConfigCommand::UseContext { name } => {
            if !file.contexts.contains_key(&name) {
                let names: Vec<String> = file.contexts.keys().cloned().collect();
                match resolve::suggestion(&name, &names) {
                    Some(close) => bail!("context '{name}' not found; did you mean '{close}'?"),
                    None => bail!("context '{name}' not found"),
                }
            }
            file.current_context = Some(name.clone());
            file.save()?;
            println!("current context: {name}");
        }
        ConfigCommand::GetContexts => {
            let mut table = output::Table::new(vec!["CURRENT", "NAME", "URL", "PAK"]);
            for (name, context) in &file.contexts {
                let current = file.current_context.as_deref() == Some(name.as_str());
                table.row(vec![
                    if current { "*".into() } else { String::new() },
                    name.clone(),
                    context.url.clone().unwrap_or_else(|| "-".into()),
                    if context.pak.is_some() { "set" } else { "-" }.into(),
                ]);
            }
            print!("{}", table.render());
        }
        ConfigCommand::DeleteContext { name } => {
            if file.contexts.remove(&name).is_none() {
                bail!("context '{name}' not found");
            }
            if file.current_context.as_deref() == Some(name.as_str()) {
                file.current_context = None;
            }
            file.save()?;
            println!("context '{name}' deleted");
        }
    }
    Ok(())
}

/// The command line, and where the PAK came from (a flag or the environment).
fn parse() -> Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches()?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.pak_on_command_line = pak_source(&matches) == Some(ValueSource::CommandLine);
    Ok(cli)
}

/// The source of `--pak`, looked up where it was given (a global flag may follow the
/// subcommand).
fn pak_source(matches: &clap::ArgMatches) -> Option<ValueSource> {
    let mut source = matches.value_source("pak");
    let mut current = matches;
    while let Some((_, sub)) = current.subcommand() {
        if let Some(s) = sub.value_source("pak") {
            source = Some(source.map_or(s, |t| t.max(s)));
        }
        current = sub;
    }
    source
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let unreachable = e.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<brokkr_client::Error>(),
                    Some(brokkr_client::Error::Connect(_) | brokkr_client::Error::Timeout(_))
                )
            });
            let misused = e.chain().any(|cause| cause.is::<UsageError>());
            eprintln!("error: {}", one_line_error(&e));
            ExitCode::from(if misused {
                EXIT_USAGE
            } else if unreachable {
                EXIT_UNREACHABLE
            } else {
                EXIT_FAILURE
            })
        }
    }
}

/// The error and its causes on one line.
fn one_line_error(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    output::one_line(&text, 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command a user runs shows examples in its `--help`.
    #[test]
    fn every_command_has_examples_in_its_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let leaf = command.get_subcommands().next().is_none();
            let help = command
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if leaf && !help.contains("Example") {
                missing.push(path.to_owned());
            }
            for sub in command.get_subcommands() {
                if sub.get_name() != "help" {
                    walk(sub, &format!("{path} {}", sub.get_name()), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "brokkr", &mut missing);
        assert!(missing.is_empty(), "no examples in --help: {missing:?}");
    }

    /// A subcommand flag named like a global one (`--url`) would silently take its value.
    #[test]
    fn no_subcommand_shadows_a_global_flag() {
        fn walk(command: &clap::Command, globals: &[String], path: &str) {
            for arg in command.get_arguments() {
                if let Some(long) = arg.get_long() {
                    for global in globals {
                        assert!(
                            long != global || arg.is_global_set(),
                            "{path} --{long} shadows the global flag"
                        );
                    }
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, globals, &format!("{path} {}", sub.get_name()));
            }
        }
        let mut root = Cli::command();
        root.build();
        let globals: Vec<String> = root
            .get_arguments()
            .filter(|a| a.is_global_set())
            .filter_map(|a| Some(a.get_long()?.to_owned()))
            .collect();
        assert!(globals.iter().any(|l| l == "url"), "{globals:?}");
        walk(&root, &globals, "brokkr");
    }
}
