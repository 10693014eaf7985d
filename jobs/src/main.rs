//! `brokkr-worker`: consumes Brokkr's job queues. See `brokkr_jobs`. Exit codes: 0 success,
//! 1 runtime failure, 2 invalid configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use brokkr_schema::config::{Settings, TelemetryProcess};
use clap::Parser;
use std::sync::Arc;

use brokkr_runtime::{logging, signals};
use brokkr_schema::live::{ConfigSource, LiveSettings};

/// Command line of the worker.
#[derive(Debug, Parser)]
#[command(name = "brokkr-worker", version, about = "Brokkr job worker")]
struct Cli {
    /// TOML configuration file (default: $BROKKR_CONFIG_FILE).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// SIGHUP reloads the configuration.
async fn reload_on_sighup(live: Arc<LiveSettings>) {
    let report = brokkr_jobs::worker::log_reload("SIGHUP");
    while signals::sighup().await.is_some() {
        let live = live.clone();
        if let Ok(outcome) = tokio::task::spawn_blocking(move || live.reload()).await {
            report(outcome);
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // A child started to render one template (see `brokkr_jobs::render_sandbox`).
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(
            brokkr_jobs::render_sandbox::RENDER_ARGUMENT,
        ))
    {
        return brokkr_jobs::render_sandbox::serve();
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
    tokio::spawn(reload_on_sighup(live.clone()));
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
