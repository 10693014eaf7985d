//! Logging for Brokkr's processes: `log.level` and `log.format` (`text` or `json`) on stderr,
//! with the level following configuration reloads (`RUST_LOG`, when set, wins and stays), and
//! the log lines of a reload ([`log_reload`]).

use std::sync::Arc;

use brokkr_schema::config::{ConfigError, Settings};
use brokkr_schema::live::{LiveSettings, ReloadOutcome};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the level of the installed subscriber.
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: the operator's filter stays.
    pinned: bool,
    /// Directives appended to every `log.level` (see [`init`]).
    quiet: &'static str,
}

/// Installs the global subscriber (stderr, text or JSON). `quiet` holds filter directives added
/// after `log.level` (comma-separated, empty for none), for a dependency's lines the process
/// reports better itself; `RUST_LOG` replaces them too. When a subscriber is already installed
/// (tests), that one stays.
pub fn init(settings: &Settings, quiet: &'static str) -> LogLevel {
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(directives(&settings.log.level, quiet)).ok())
        .unwrap_or_else(|| EnvFilter::new(directives("info", quiet)));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if settings.log.format.eq_ignore_ascii_case("json") {
        registry.with(fmt.json()).try_init()
    } else {
        registry.with(fmt).try_init()
    };
    LogLevel {
        handle,
        pinned,
        quiet,
    }
}

fn directives(level: &str, quiet: &str) -> String {
    if quiet.is_empty() {
        level.to_string()
    } else {
        format!("{level},{quiet}")
    }
}

impl LogLevel {
    /// Applies `log.level` of every reload until the settings go away.
    pub async fn follow(self, live: Arc<LiveSettings>) {
        let mut reloads = live.subscribe();
        let mut level = live.current().log.level.clone();
        while reloads.changed().await.is_ok() {
            let next = reloads.borrow_and_update().log.level.clone();
            if next == level {
                continue;
            }
            level = next;
            if self.pinned {
                tracing::warn!(level = %level, "log.level reloaded but RUST_LOG is set and wins");
                continue;
            }
            match EnvFilter::try_new(directives(&level, self.quiet)) {
                Ok(filter) => match self.handle.reload(filter) {
                    Ok(()) => tracing::info!(level = %level, "log level changed"),
                    Err(e) => tracing::error!(error = %e, "cannot change the log level"),
                },
                Err(e) => {
                    tracing::error!(level = %level, error = %e, "invalid log.level; unchanged")
                }
            }
        }
    }
}

/// Logs what a reload did (`trigger` says what asked for it).
pub fn log_reload(
    trigger: &'static str,
) -> impl Fn(Result<ReloadOutcome, ConfigError>) + Send + Sync + 'static {
    move |outcome| match outcome {
        Ok(outcome) => {
            for change in &outcome.changes {
                tracing::info!(trigger, key = %change.key, old = %change.old_value, new = %change.new_value, "setting reloaded");
            }
            for change in &outcome.restart_required {
                tracing::warn!(trigger, key = %change.key, "setting changed but needs a restart");
            }
        }
        Err(e) => {
            tracing::error!(trigger, error = %e, "configuration reload refused; settings unchanged")
        }
    }
}
