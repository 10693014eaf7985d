//! Process signals: SIGTERM/SIGINT ask a process to shut down; SIGHUP asks it to reload its
//! configuration file ([`reload_on_sighup`]).

use std::sync::Arc;

use brokkr_schema::config::ConfigError;
use brokkr_schema::live::{LiveSettings, ReloadOutcome};

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Resolves at each SIGHUP (never on platforms without it).
pub async fn sighup() -> Option<()> {
    #[cfg(unix)]
    {
        use std::sync::OnceLock;
        use tokio::sync::Mutex;
        static SIGNAL: OnceLock<Option<Mutex<tokio::signal::unix::Signal>>> = OnceLock::new();
        let signal = SIGNAL.get_or_init(|| {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .ok()
                .map(Mutex::new)
        });
        match signal {
            Some(s) => s.lock().await.recv().await,
            None => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    std::future::pending().await
}

/// Reloads `live` at each SIGHUP and hands the outcome to `report` (see
/// [`crate::logging::log_reload`]). Runs until the process ends.
pub async fn reload_on_sighup(
    live: Arc<LiveSettings>,
    report: impl Fn(Result<ReloadOutcome, ConfigError>),
) {
    while sighup().await.is_some() {
        let live = live.clone();
        if let Ok(outcome) = tokio::task::spawn_blocking(move || live.reload()).await {
            report(outcome);
        }
    }
}
