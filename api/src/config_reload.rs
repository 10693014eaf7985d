//! `POST /admin/config/reload`: re-reads this broker's configuration sources, applies the
//! dynamic keys at once, reports what changed (and which changed static keys need a restart),
//! audits the reload, and asks every other broker and worker of the tenant to reload too.

use std::sync::Arc;

use brokkr_schema::config::ConfigError;
use brokkr_schema::live::ReloadOutcome;
use brokkr_schema::models::ConfigReloadResponse;
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify;
use chrono::Utc;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Handler of `/admin/config/reload`.
pub struct ConfigApi {
    state: Arc<AppState>,
}

impl ConfigApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ApiTags::Admin")]
impl ConfigApi {
    /// Reloads the configuration (admin). An invalid source is refused with 400 naming the key,
    /// and nothing changes.
    #[oai(
        path = "/admin/config/reload",
        method = "post",
        operation_id = "reloadConfig"
    )]
    async fn reload_config(&self, auth: Pakauth) -> ApiResult<Json<ConfigReloadResponse>> {
        access::require(&auth.0, Action::Reload, Resource::Configuration, false)?;
        let live = self.state.live.clone();
        let outcome = tokio::task::spawn_blocking(move || live.reload())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "configuration reload task failed");
                ApiError::unavailable("configuration reload failed, retry later")
            })?
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let details = outcome.audit_details();
        write
            .record(Change::ConfigReloaded { changes: &details })
            .await?;
        notify::request_reload(write.conn(), &self.state.channels, "api").await?;
        write.commit().await?;
        Ok(Json(ConfigReloadResponse {
            reloaded_at: Utc::now(),
            message: outcome.message(),
            changes: outcome.changes,
            restart_required: outcome.restart_required,
            success: true,
        }))
    }
}

/// Logs a reload that this broker triggered itself (file edit, SIGHUP) and, when something
/// changed, audits it as done by the system.
pub fn report_reload(
    state: Arc<AppState>,
    trigger: &'static str,
) -> impl Fn(Result<ReloadOutcome, ConfigError>) + Send + Sync + 'static {
    let log = brokkr_runtime::logging::log_reload(trigger);
    move |outcome| {
        let audited = match &outcome {
            Ok(o) if !o.changes.is_empty() || !o.restart_required.is_empty() => {
                let mut details = o.audit_details();
                details["trigger"] = trigger.into();
                Some(details)
            }
            _ => None,
        };
        log(outcome);
        if let Some(details) = audited {
            let state = state.clone();
            tokio::spawn(async move {
                let written = async {
                    let mut tx = brokkr_schema::store::begin(&state.pool).await?;
                    changes::record(
                        &mut tx,
                        &state.channels,
                        &Actor::system(),
                        Change::ConfigReloaded { changes: &details },
                    )
                    .await?;
                    tx.commit().await?;
                    brokkr_schema::store::StoreResult::Ok(())
                }
                .await;
                if let Err(e) = written {
                    tracing::error!(error = %e, "cannot audit the configuration reload");
                }
            });
        }
    }
}
