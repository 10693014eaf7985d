//! `brokkr-agent`: see `brokkr_agent` for the pieces. Exit codes: 0 after a clean shutdown,
//! 1 runtime failure, 2 invalid configuration or usage.

use std::path::PathBuf;
use std::process::ExitCode;

use brokkr_agent::start::{self, ConfigProblem};
use brokkr_schema::config::Settings;
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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brokkr-agent: {e}");
            return ExitCode::from(2);
        }
    };
    brokkr_agent::logging::init(&settings);
    match cli.command {
        Command::Start => {
            let mut shown = settings.agent.clone();
            if shown.pak.is_some() {
                shown.pak = Some("<redacted>".into());
            }
            let shown = serde_json::to_string(&shown).unwrap_or_default();
            tracing::info!(agent = %shown, "effective configuration");
            match start::run(settings.agent, start::shutdown_signal()).await {
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
