//! The broker's configuration, reloaded on demand.

use brokkr_schema::models::ConfigReloadResponse;
use reqwest::Method;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `POST /admin/config/reload` (admin): the broker re-reads its configuration sources,
    /// applies the dynamic settings at once and asks the other brokers and workers to do the
    /// same; the answer lists what changed and which static settings need a restart. An invalid
    /// source is refused (400, naming the key) and nothing changes.
    pub async fn reload_config(&self) -> Result<ConfigReloadResponse> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "admin", "config", "reload"],
        ))
        .await
    }
}
