//! Logging: `log.level` (or `RUST_LOG`, which wins) and `log.format` (`text` or `json`), on
//! stderr.

use brokkr_schema::config::Settings;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| EnvFilter::try_new(&settings.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Err only when a subscriber is already installed (tests).
    let _ = if settings.log.format.eq_ignore_ascii_case("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
