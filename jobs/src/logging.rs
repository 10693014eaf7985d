//! Logging for Brokkr's server binaries: `log.level` and `log.format`, with the level following
//! configuration reloads (`RUST_LOG`, when set, wins and stays).

use std::sync::Arc;

use brokkr_schema::config::Settings;
use brokkr_schema::live::LiveSettings;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the level of the installed subscriber.
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: the operator's filter stays.
    pinned: bool,
}

/// Installs the global subscriber (stderr, text or JSON).
pub fn init(settings: &Settings) -> LogLevel {
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(&settings.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    if settings.log.format.eq_ignore_ascii_case("json") {
        registry.with(fmt.json()).init();
    } else {
        registry.with(fmt).init();
    }
    LogLevel { handle, pinned }
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
            match EnvFilter::try_new(&level) {
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
