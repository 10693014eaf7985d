//! `brokkr-broker`: see `brokkr_api` for the pieces. Exit codes: 0 success, 1 runtime failure,
//! 2 invalid configuration or usage.

use std::process::ExitCode;

use brokkr_api::cli::{Cli, Command};
use brokkr_api::server;
use brokkr_schema::config::Settings;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn init_tracing(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if settings.log.format.eq_ignore_ascii_case("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_process(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brokkr-broker: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => run_server(settings).await,
        Command::Migrate => migrate(settings).await,
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
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brokkr-broker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_server(settings: Settings) -> anyhow::Result<()> {
    tracing::info!(config = %settings.redacted(), "effective configuration");
    let state = server::prepare(settings).await?;
    server::serve(state, server::shutdown_signal()).await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let pool = brokkr_schema::store::connect(&settings.database).await?;
    brokkr_schema::store::migrate(&pool).await?;
    println!("migrations applied");
    Ok(())
}
