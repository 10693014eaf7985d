//! `GET /agents/{id}/target-state`: what an agent should run, with ETags and long polling.
//!
//! The ETag is a digest of the answer's content. Each replica remembers the last ETag per agent
//! and mode together with the state version it was computed at ([`crate::propagation`]); while
//! that version is current, a matching `If-None-Match` is answered 304 without touching the
//! database. `?wait=N` (N ≤ 60) holds a request whose ETag still matches until the agent's
//! state changes (woken by NOTIFY) or N seconds pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_schema::models::DeploymentObject;
use brokkr_schema::store;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest `?wait=` accepted, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// Answer of the target-state endpoint.
#[derive(Debug, ApiResponse)]
pub enum TargetStateResponse {
    /// The target state: the newest deployment object of each associated stack, newest first.
    /// `X-Brokkr-Withdrawn-Stacks` lists (comma-separated) the stacks the agent stopped serving
    /// when it deregistered from their generator: it removes their objects.
    #[oai(status = 200)]
    Ok(
        Json<Vec<DeploymentObject>>,
        #[oai(header = "ETag")] String,
        #[oai(header = "X-Brokkr-Withdrawn-Stacks")] Option<String>,
    ),
    /// Unchanged since the ETag given in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

/// Handlers of the target state.
pub struct TargetStateApi {
    state: Arc<AppState>,
}

impl TargetStateApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// The strong ETag of a target state (with the stacks withdrawn from the agent).
pub fn etag_of(full: bool, objects: &[DeploymentObject], withdrawn: &[Uuid]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(if full { b"full" as &[u8] } else { b"incr" });
    for o in objects {
        hasher.update(o.id.as_bytes());
        hasher.update(o.sequence_id.to_be_bytes());
        hasher.update(o.yaml_checksum.as_bytes());
        hasher.update([u8::from(o.is_deletion_marker)]);
    }
    hasher.update(b"withdrawn");
    for id in withdrawn {
        hasher.update(id.as_bytes());
    }
    format!("\"{}\"", &hex::encode(hasher.finalize())[..32])
}

/// Does an `If-None-Match` value (a list of ETags, weak or strong, or `*`) match `etag`?
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

#[OpenApi(tag = "ApiTags::Agents")]
impl TargetStateApi {
    /// The agent's target state (admin, or the agent itself). `mode=full` includes objects the
    /// agent already reported on; `wait=N` long-polls up to N seconds when `If-None-Match`
    /// still matches.
    #[oai(
        path = "/agents/:id/target-state",
        method = "get",
        operation_id = "getAgentTargetState"
    )]
    async fn get_target_state(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        mode: Query<Option<String>>,
        wait: Query<Option<u64>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> ApiResult<TargetStateResponse> {
        let agent = id.0;
        access::on_agent(&auth.0, Action::Read, agent)?;
        let full = mode.0.as_deref() == Some("full");
        let wait = wait.0.unwrap_or(0);
        if wait > MAX_WAIT_SECONDS {
            return Err(ApiError::bad_request(format!(
                "wait must be at most {MAX_WAIT_SECONDS} seconds"
            )));
        }
        if auth.0.is_admin() {
            let mut conn = self.state.pool.acquire().await?;
            store::agents::get(&mut conn, agent)
                .await
                .map_err(|e| ApiError::from_store(e, "Agent"))?;
        }
        let propagation = &self.state.propagation;
        let deadline = Instant::now() + Duration::from_secs(wait);
        let mut wake = propagation.subscribe();
        loop {
            wake.borrow_and_update();
            // Read the version before the database so a change racing the query bumps it.
            let version = propagation.version(agent);
            if let Some(client) = if_none_match.0.as_deref()
                && let Some(etag) = propagation.cached_etag(agent, full, version)
                && if_none_match_matches(client, &etag)
            {
                match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() && !propagation.is_closing() => {
                        let _waiting = self.state.metrics.long_poll_opened();
                        let _ = tokio::time::timeout(left, wake.changed()).await;
                        continue;
                    }
                    _ => return Ok(TargetStateResponse::NotModified(etag)),
                }
            }
            let started = Instant::now();
            let mut conn = self.state.pool.acquire().await?;
            let objects = store::target_state::fetch(&mut conn, agent, full).await?;
            let withdrawn = store::registrations::withdrawn_stacks(&mut conn, agent).await?;
            drop(conn);
            self.state
                .metrics
                .record_db("target_state", started.elapsed());
            let etag = etag_of(full, &objects, &withdrawn);
            propagation.store_etag(agent, full, version, &etag);
            let unchanged = if_none_match
                .0
                .as_deref()
                .is_some_and(|client| if_none_match_matches(client, &etag));
            if !unchanged {
                let withdrawn = (!withdrawn.is_empty()).then(|| {
                    withdrawn
                        .iter()
                        .map(Uuid::to_string)
                        .collect::<Vec<_>>()
                        .join(",")
                });
                return Ok(TargetStateResponse::Ok(Json(objects), etag, withdrawn));
            }
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() && !propagation.is_closing() => {
                    if propagation.version(agent) == version {
                        let _waiting = self.state.metrics.long_poll_opened();
                        let _ = tokio::time::timeout(left, wake.changed()).await;
                    }
                }
                _ => return Ok(TargetStateResponse::NotModified(etag)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        assert!(if_none_match_matches("\"abc\"", "\"abc\""));
        assert!(if_none_match_matches("W/\"abc\"", "\"abc\""));
        assert!(if_none_match_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(if_none_match_matches("*", "\"abc\""));
        assert!(!if_none_match_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn etag_depends_on_mode_and_content() {
        assert_ne!(etag_of(true, &[], &[]), etag_of(false, &[], &[]));
        assert_ne!(etag_of(true, &[], &[]), etag_of(true, &[], &[Uuid::nil()]));
    }
}
