//! `brokkr-broker`: see `brokkr_api` for the pieces. Exit codes: 0 success, 1 runtime failure,
//! 2 invalid configuration or usage.

use std::process::ExitCode;

use brokkr_api::cli::{Cli, Command, ConfigCommand};
use brokkr_api::server;
use brokkr_schema::config::{Settings, TelemetryProcess};
use brokkr_schema::live::{ConfigSource, LiveSettings};
use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    // A child started to render one template.
    if let Some(rendered) = brokkr_runtime::render_sandbox::serve_if_renderer() {
        return rendered;
    }
    let cli = Cli::parse();
    if let Some(Command::Config(ConfigCommand::Check { file })) = &cli.command {
        return match brokkr_api::cli::check_config(file, std::env::vars()) {
            Ok(_) => {
                println!("configuration OK: {}", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("brokkr-broker: {}: {e}", file.display());
                ExitCode::from(2)
            }
        };
    }
    if let Some(Command::Openapi) = &cli.command {
        return match brokkr_api::openapi::offline_document() {
            Ok(document) => {
                print!("{document}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("brokkr-broker: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_process(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brokkr-broker: {e}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    // Only the server exports traces; the admin commands log and leave.
    let process = matches!(command, Command::Serve).then_some(TelemetryProcess::Broker);
    let logging = brokkr_runtime::logging::init(&settings, process, "");
    let result = match command {
        Command::Serve => run_server(settings, cli.config, logging.level).await,
        Command::Migrate => migrate(settings).await,
        Command::Config(_) | Command::Openapi => Ok(()),
        command => match brokkr_api::cli::run_admin_command(&settings, command).await {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    logging.telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brokkr-broker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(
    settings: Settings,
    config: Option<std::path::PathBuf>,
    log_level: brokkr_runtime::logging::LogLevel,
) -> anyhow::Result<()> {
    tracing::info!(config = %settings.redacted(), "effective configuration");
    let live = LiveSettings::new(settings, ConfigSource::process(config));
    tokio::spawn(log_level.follow(live.clone()));
    let state = server::prepare_live(live).await?;
    let report = brokkr_api::config_reload::report_reload(state.clone(), "SIGHUP");
    tokio::spawn(brokkr_runtime::signals::reload_on_sighup(
        state.live.clone(),
        report,
    ));
    server::serve(state, server::shutdown_signal()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let pool = brokkr_schema::store::connect(&settings.database).await?;
    brokkr_schema::store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}
