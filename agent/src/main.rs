//! `brokkr-agent`: see `brokkr_agent` for the pieces. Exit codes: 0 after a clean shutdown,
//! 1 runtime failure, 2 invalid configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use brokkr_agent::start::{self, ConfigProblem};
use brokkr_schema::config::{Settings, TelemetryProcess};
use brokkr_schema::live::{ConfigSource, LiveSettings};
use clap::{Parser, Subcommand};

/// Command line of the agent.
#[derive(Debug, Parser)]
#[command(name = "brokkr-agent", version, about = "Brokkr cluster agent")]
struct Cli {
    /// TOML configuration file (default: $BROKKR_CONFIG_FILE).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Connects to the broker and the cluster and runs until SIGTERM or SIGINT.
    Start,
    /// Work with configuration files without starting anything.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load FILE and the `BROKKR__*` environment exactly as `start` does, required keys
    /// included, and report the first problem naming its key (exit code 2).
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        return match start::check_config(file, std::env::vars()) {
            Ok(()) => {
                println!("configuration OK: {}", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("brokkr-agent: {}: {e}", file.display());
                ExitCode::from(2)
            }
        };
    }
    let settings = match Settings::from_process(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brokkr-agent: {e}");
            return ExitCode::from(2);
        }
    };
    // kube's client logs every failed request at ERROR on its own; the agent reports failures
    // itself (after its retries), so that line is silenced unless RUST_LOG asks for it.
    let process = matches!(cli.command, Command::Start).then_some(TelemetryProcess::Agent);
    let logging =
        brokkr_runtime::logging::init(&settings, process, "kube_client::client::builder=off");
    match cli.command {
        Command::Config(_) => ExitCode::SUCCESS,
        Command::Start => {
            let mut shown = settings.agent.clone();
            if shown.pak.is_some() {
                shown.pak = Some("<redacted>".into());
            }
            let shown = serde_json::to_string(&shown).unwrap_or_default();
            tracing::info!(agent = %shown, "effective configuration");
            let live = LiveSettings::new(settings, ConfigSource::process(cli.config));
            tokio::spawn(logging.level.follow(live.clone()));
            let result = start::run(live, brokkr_runtime::signals::shutdown()).await;
            logging.telemetry.shutdown().await;
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.downcast_ref::<ConfigProblem>().is_some() => {
                    eprintln!("brokkr-agent: {e}");
                    ExitCode::from(2)
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "agent stopped");
                    eprintln!("brokkr-agent: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
