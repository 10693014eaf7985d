//! Where the CLI finds its broker and PAK: flags, then `BROKKR_URL`/`BROKKR_PAK`, then the
//! named context of `~/.config/brokkr/config.toml` (`$XDG_CONFIG_HOME/brokkr/config.toml`).
//!
//! The file holds PAKs, so it is written with mode 600 (through a temporary file renamed into
//! place) and no command ever prints a PAK from it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};

/// The configuration file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// The context used when `--context` is not given.
    #[serde(rename = "current-context", skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Named brokers and credentials.
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// One broker and the PAK to use with it.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Context {
    pub url: Option<String>,
    pub pak: Option<String>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("url", &self.url)
            .field("pak", &self.pak.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// `$XDG_CONFIG_HOME/brokkr/config.toml`, else `$HOME/.config/brokkr/config.toml`.
pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("brokkr").join("config.toml"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot find the config file")
        })?;
    Ok(PathBuf::from(home)
        .join(".config")
        .join("brokkr")
        .join("config.toml"))
}

impl ConfigFile {
    /// Reads the file; a missing file is an empty configuration.
    pub fn load() -> anyhow::Result<Self> {
        let path = path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("{} is not a valid brokkr config file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the file with mode 600.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = path()?;
        let dir = path
            .parent()
            .ok_or_else(|| anyhow!("{} has no parent directory", path.display()))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let text = toml::to_string_pretty(self)?;
        let tmp = dir.join(format!(".config.toml.{}", std::process::id()));
        write_private(&tmp, text.as_bytes())
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// The context named, or the current one.
    pub fn context(&self, name: Option<&str>) -> anyhow::Result<Option<(String, Context)>> {
        let Some(name) = name.or(self.current_context.as_deref()) else {
            return Ok(None);
        };
        match self.contexts.get(name) {
            Some(context) => Ok(Some((name.to_owned(), context.clone()))),
            None => bail!(
                "context '{name}' not found in {}; known: {}",
                path()?.display(),
                known(self)
            ),
        }
    }
}

fn known(file: &ConfigFile) -> String {
    if file.contexts.is_empty() {
        "none (add one with `brokkr config set-context`)".into()
    } else {
        file.contexts.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
