//! `brokkr-worker`: consumes Brokkr's job queues. See `brokkr_jobs`. Exit codes: 0 success,
//! 1 runtime failure, 2 invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use brokkr_schema::config::{Settings, TelemetryProcess};
use clap::Parser;

use brokkr_runtime::{logging, render_sandbox, signals};
use brokkr_schema::live::{ConfigSource, LiveSettings};

/// Command line of the worker.
#[derive(Debug, Parser)]
#[command(name = "brokkr-worker", version, about = "Brokkr job worker")]
struct Cli {
    /// TOML configuration file (default: $BROKKR_CONFIG_FILE).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    // A child started to render one template.
    if let Some(rendered) = render_sandbox::serve_if_renderer() {
        return rendered;
    }
    let cli = Cli::parse();
    let settings = match Settings::from_process(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brokkr-worker: {e}");
            return ExitCode::from(2);
        }
    };
    let logging = logging::init(&settings, Some(TelemetryProcess::Worker), "");
    let live = LiveSettings::new(settings, ConfigSource::process(cli.config));
    tokio::spawn(logging.level.follow(live.clone()));
    tokio::spawn(signals::reload_on_sighup(
        live.clone(),
        logging::log_reload("SIGHUP"),
    ));
    let result = brokkr_jobs::worker::run_live(live, signals::shutdown()).await;
    logging.telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brokkr-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
