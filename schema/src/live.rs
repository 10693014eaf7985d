//! Live configuration: the settings a process runs with, reloadable while it runs.
//!
//! A reload re-reads the process's sources (defaults, the TOML file, the environment captured at
//! start), validates them and applies the *dynamic* keys ([`DYNAMIC_KEYS`]) at once: every loop
//! that holds a [`LiveSettings`] reads the current value each time it needs one, or wakes on
//! [`LiveSettings::subscribe`]. Static keys that changed are reported as needing a restart and
//! keep their old value. An invalid source is refused as a whole and nothing changes.
//!
//! Reloads are triggered by `POST /api/v1/admin/config/reload` (which also tells every other
//! broker and worker through PostgreSQL NOTIFY), by SIGHUP, and by edits to the config file
//! ([`LiveSettings::watch_file`]).
//!
//! ```
//! use brokkr_schema::config::Settings;
//! use brokkr_schema::live::{ConfigSource, LiveSettings};
//! let env = vec![("BROKKR__LOG__LEVEL".to_string(), "warn".to_string())];
//! let source = ConfigSource { env, ..Default::default() };
//! let live = LiveSettings::new(Settings::default(), source);
//! let outcome = live.reload().unwrap();
//! assert_eq!(outcome.changes[0].key, "log.level");
//! assert_eq!(live.current().log.level, "warn");
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::config::{ConfigError, Settings, redact_url};
use crate::models::ConfigChange;

/// Keys applied by a reload while the process runs.
pub const DYNAMIC_KEYS: &[&str] = &[
    "log.level",
    "cors.allowed_origins",
    "cors.allowed_methods",
    "cors.allowed_headers",
    "cors.max_age_seconds",
    "broker.diagnostic_cleanup_interval_seconds",
    "broker.diagnostic_max_age_hours",
    "broker.webhook_cleanup_retention_days",
    "broker.audit_log_retention_days",
    "worker.stale_claim_reap_interval_seconds",
    "worker.retention_cleanup_interval_seconds",
    "worker.webhook_retry_base_seconds",
    "worker.webhook_retry_max_seconds",
    "worker.webhook_disable_after_seconds",
    "agent.polling_interval",
    "agent.deployment_health_enabled",
    "agent.deployment_health_interval",
    "agent.diagnostics_interval",
    "agent.webhook_interval",
    "agent.reconcile_interval",
];

/// Keys whose values never appear in a reload report or an audit entry.
const SECRET_KEYS: &[&str] = &[
    "broker.pak_hash",
    "broker.webhook_encryption_key",
    "broker.webhook_previous_encryption_keys",
    "agent.pak",
];

/// Where a process's settings come from.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// The TOML file, if any.
    pub file: Option<PathBuf>,
    /// The `BROKKR__*` variables (captured once; a process's environment does not change).
    pub env: Vec<(String, String)>,
    /// Watch the file: an edit is applied once the content has been stable this long. `None`
    /// turns the watch off.
    pub watch: Option<Duration>,
}

/// How long an edited config file must stay unchanged before it is applied, by default.
pub const DEFAULT_WATCH_DEBOUNCE: Duration = Duration::from_secs(2);

impl ConfigSource {
    /// This process: `file`, or `BROKKR_CONFIG_FILE`, and its environment. The file is watched
    /// unless `BROKKR_CONFIG_WATCHER_ENABLED` is `false` or `0`; an edit is applied after
    /// `BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS` (default 2) without further changes.
    pub fn process(file: Option<PathBuf>) -> Self {
        let file = file.or_else(|| std::env::var_os("BROKKR_CONFIG_FILE").map(PathBuf::from));
        let enabled = std::env::var("BROKKR_CONFIG_WATCHER_ENABLED")
            .map(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0"))
            .unwrap_or(true);
        let debounce = std::env::var("BROKKR_CONFIG_WATCHER_DEBOUNCE_SECONDS")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_WATCH_DEBOUNCE);
        Self {
            file,
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("BROKKR__"))
                .collect(),
            watch: enabled.then_some(debounce),
        }
    }

    /// Loads and validates the settings these sources describe.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        Settings::load(self.file.as_deref(), self.env.clone())
    }
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReloadOutcome {
    /// Dynamic keys that changed; in effect now.
    pub changes: Vec<ConfigChange>,
    /// Static keys that changed in the sources; in effect after a restart.
    pub restart_required: Vec<ConfigChange>,
}

impl ReloadOutcome {
    /// `"N setting(s) updated"`, or `"No changes detected"`, plus the restart note.
    pub fn message(&self) -> String {
        let mut message = if self.changes.is_empty() {
            "No changes detected".to_owned()
        } else {
            format!("{} setting(s) updated", self.changes.len())
        };
        if !self.restart_required.is_empty() {
            message.push_str(&format!(
                "; {} changed setting(s) need a restart: {}",
                self.restart_required.len(),
                self.restart_required
                    .iter()
                    .map(|c| c.key.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        message
    }

    /// The changes as JSON for an audit entry (keys and redacted values).
    pub fn audit_details(&self) -> Value {
        let list = |changes: &[ConfigChange]| {
            changes
                .iter()
                .map(|c| serde_json::json!({"key": c.key, "old_value": c.old_value, "new_value": c.new_value}))
                .collect::<Vec<_>>()
        };
        serde_json::json!({"applied": list(&self.changes), "restart_required": list(&self.restart_required)})
    }
}

/// The settings of a running process, with reload.
pub struct LiveSettings {
    source: ConfigSource,
    tx: watch::Sender<Arc<Settings>>,
    /// One reload at a time (API, SIGHUP and file watch may race).
    reloading: Mutex<()>,
}

impl LiveSettings {
    /// Starts with `settings`, loaded from `source`.
    pub fn new(settings: Settings, source: ConfigSource) -> Arc<Self> {
        let (tx, _) = watch::channel(Arc::new(settings));
        Arc::new(Self {
            source,
            tx,
            reloading: Mutex::new(()),
        })
    }

    /// The settings in effect now.
    pub fn current(&self) -> Arc<Settings> {
        self.tx.borrow().clone()
    }

    /// A receiver that sees every applied reload.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Settings>> {
        self.tx.subscribe()
    }

    /// The config file, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.source.file.as_deref()
    }

    /// Re-reads the sources and applies the dynamic keys that changed.
    pub fn reload(&self) -> Result<ReloadOutcome, ConfigError> {
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = self.source.load()?;
        let current = self.current();
        let (next, outcome) = apply_dynamic(&current, &loaded)?;
        if !outcome.changes.is_empty() {
            self.tx.send_replace(Arc::new(next));
        }
        Ok(outcome)
    }

    /// Reloads whenever the config file's content changes and then stays unchanged for the
    /// source's debounce period (so a half-written file is not read). Runs until `stop` turns
    /// true; does nothing without a file or with the watch turned off.
    pub async fn watch_file(
        self: Arc<Self>,
        mut stop: watch::Receiver<bool>,
        on_reload: impl Fn(Result<ReloadOutcome, ConfigError>) + Send + 'static,
    ) {
        let (Some(path), Some(debounce)) = (self.source.file.clone(), self.source.watch) else {
            return;
        };
        let poll = debounce.clamp(Duration::from_millis(100), Duration::from_secs(1));
        let read = |path: PathBuf| async move { tokio::fs::read(&path).await.ok() };
        let mut applied = read(path.clone()).await;
        let mut seen = applied.clone();
        let mut stable_since = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let now = read(path.clone()).await;
            if now != seen {
                seen = now;
                stable_since = tokio::time::Instant::now();
                continue;
            }
            if now != applied && stable_since.elapsed() >= debounce {
                applied = now;
                let this = self.clone();
                let outcome = tokio::task::spawn_blocking(move || this.reload())
                    .await
                    .unwrap_or_else(|e| {
                        Err(ConfigError {
                            key: "reload".into(),
                            message: e.to_string(),
                        })
                    });
                on_reload(outcome);
            }
        }
    }
}

/// `current` with the dynamic keys of `loaded`, and the report of what differs.
pub fn apply_dynamic(
    current: &Settings,
    loaded: &Settings,
) -> Result<(Settings, ReloadOutcome), ConfigError> {
    let to_json = |s: &Settings| {
        serde_json::to_value(s).map_err(|e| ConfigError {
            key: "settings".into(),
            message: e.to_string(),
        })
    };
    let mut next = to_json(current)?;
    let old_flat = flatten(&next);
    let new_flat = flatten(&to_json(loaded)?);
    let mut outcome = ReloadOutcome::default();
    for (key, new_value) in &new_flat {
        let old_value = old_flat
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null);
        if &old_value == new_value {
            continue;
        }
        let change = ConfigChange {
            key: key.clone(),
            old_value: shown(key, &old_value),
            new_value: shown(key, new_value),
        };
        if DYNAMIC_KEYS.contains(&key.as_str()) {
            set(&mut next, key, new_value.clone());
            outcome.changes.push(change);
        } else {
            outcome.restart_required.push(change);
        }
    }
    outcome.changes.sort_by(|a, b| a.key.cmp(&b.key));
    outcome.restart_required.sort_by(|a, b| a.key.cmp(&b.key));
    let next: Settings = serde_json::from_value(next).map_err(|e| ConfigError {
        key: "settings".into(),
        message: e.to_string(),
    })?;
    next.validate()?;
    Ok((next, outcome))
}

/// A value as shown in a report: secrets redacted, URLs without passwords.
fn shown(key: &str, value: &Value) -> String {
    if SECRET_KEYS.contains(&key) {
        return match value {
            Value::Null => "null".into(),
            _ => "[redacted]".into(),
        };
    }
    match value {
        Value::String(s) if key == "database.url" => redact_url(s),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Dotted keys of every leaf (arrays are leaves).
fn flatten(value: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            leaf => out.push((prefix.to_owned(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", value, &mut out);
    out
}

fn set(root: &mut Value, key: &str, value: Value) {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let Value::Object(map) = node else { return };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        let Some(child) = map.get_mut(*part) else {
            return;
        };
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_keys_apply_and_static_keys_wait_for_a_restart() {
        let current = Settings::default();
        let mut loaded = Settings::default();
        loaded.worker.retention_cleanup_interval_seconds = 5;
        loaded.database.url = "postgres://u:secret@db/brokkr".into();
        loaded.broker.webhook_encryption_key = Some("00".repeat(32));
        let (next, outcome) = apply_dynamic(&current, &loaded).unwrap();
        assert_eq!(next.worker.retention_cleanup_interval_seconds, 5);
        assert_eq!(next.database.url, current.database.url);
        assert_eq!(
            outcome.changes,
            vec![ConfigChange {
                key: "worker.retention_cleanup_interval_seconds".into(),
                old_value: current
                    .worker
                    .retention_cleanup_interval_seconds
                    .to_string(),
                new_value: "5".into(),
            }]
        );
        let keys: Vec<&str> = outcome
            .restart_required
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(keys, ["broker.webhook_encryption_key", "database.url"]);
        let shown: Vec<&str> = outcome
            .restart_required
            .iter()
            .map(|c| c.new_value.as_str())
            .collect();
        assert_eq!(shown, ["[redacted]", "postgres://u:***@db/brokkr"]);
    }

    #[test]
    fn every_dynamic_key_names_a_setting() {
        let flat = flatten(&serde_json::to_value(Settings::default()).unwrap());
        for key in DYNAMIC_KEYS {
            assert!(flat.iter().any(|(k, _)| k == key), "{key} is not a setting");
        }
    }

    #[test]
    fn an_invalid_source_changes_nothing() {
        let source = ConfigSource {
            env: vec![(
                "BROKKR__WORKER__RETENTION_CLEANUP_INTERVAL_SECONDS".into(),
                "soon".into(),
            )],
            ..Default::default()
        };
        let live = LiveSettings::new(Settings::default(), source);
        let err = live.reload().unwrap_err();
        assert_eq!(err.key, "worker.retention_cleanup_interval_seconds");
        assert_eq!(*live.current(), Settings::default());
    }
}
