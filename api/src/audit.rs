//! The audit log: `GET /admin/audit-logs`, and the rate-limited record of authentication
//! failures.
//!
//! State changes are audited by `brokkr_schema::store::changes::record` inside their own
//! transaction. Failed authentications have no transaction to join: they are written in the
//! background, at most [`PER_IP_PER_MINUTE`] per client address and [`TOTAL_PER_MINUTE`] in all,
//! so a flood of bad keys cannot fill the table (every failure is still counted in the
//! `brokkr_auth_failures_total` metric).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brokkr_schema::models::{ActorKind, AuditLogListResponse};
use brokkr_schema::store::audit::{self as audit_store, AuditFilter, NewAuditEntry};
use brokkr_schema::validation;
use chrono::{DateTime, Utc};
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Failed authentications recorded per client address per minute.
pub const PER_IP_PER_MINUTE: u32 = 5;
/// Failed authentications recorded per minute in all.
pub const TOTAL_PER_MINUTE: u32 = 60;
/// Default page size of the audit-log listing.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size of the audit-log listing.
pub const MAX_LIMIT: i64 = 1000;

const WINDOW: Duration = Duration::from_secs(60);

/// Fixed one-minute windows counting recorded failures, per address and in total.
#[derive(Default)]
pub struct AuthFailureLimiter {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    started: Option<Instant>,
    total: u32,
    per_ip: HashMap<String, u32>,
}

impl AuthFailureLimiter {
    /// Should a failure from `ip` be written to the audit log?
    pub fn allow(&self, ip: &str) -> bool {
        let Ok(mut w) = self.windows.lock() else {
            return false;
        };
        let now = Instant::now();
        if w.started.is_none_or(|s| now.duration_since(s) >= WINDOW) {
            *w = Windows {
                started: Some(now),
                ..Windows::default()
            };
        }
        if w.total >= TOTAL_PER_MINUTE {
            return false;
        }
        let count = w.per_ip.entry(ip.to_owned()).or_insert(0);
        if *count >= PER_IP_PER_MINUTE {
            return false;
        }
        *count += 1;
        w.total += 1;
        true
    }
}

/// Counts an authentication failure and, within the rate limit, audits it in the background.
pub fn record_auth_failure(
    state: &Arc<AppState>,
    reason: &'static str,
    ip: Option<String>,
    user_agent: Option<String>,
) {
    state.metrics.record_auth_failure(reason);
    if !state
        .auth_failures
        .allow(ip.as_deref().unwrap_or("unknown"))
    {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let entry = NewAuditEntry {
            actor_type: ActorKind::System.as_str(),
            actor_id: None,
            action: "auth.failed",
            resource_type: "auth",
            resource_id: None,
            details: Some(serde_json::json!({ "reason": reason })),
            ip_address: ip.as_deref(),
            user_agent: user_agent.as_deref(),
        };
        let result = match state.pool.acquire().await {
            Ok(mut conn) => audit_store::insert(&mut conn, &entry).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not audit an authentication failure");
        }
    });
}

/// Handlers of `/admin/audit-logs`.
pub struct AuditApi {
    state: Arc<AppState>,
}

impl AuditApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "ApiTags::Admin")]
impl AuditApi {
    /// Lists audit entries, newest first, with filters and pagination (admin). `action` matches
    /// exactly, or as a prefix when it ends with `*`; `from` is inclusive, `to` exclusive.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/admin/audit-logs",
        method = "get",
        operation_id = "listAuditLogs"
    )]
    async fn list_audit_logs(
        &self,
        auth: Pakauth,
        actor_type: Query<Option<String>>,
        actor_id: Query<Option<Uuid>>,
        action: Query<Option<String>>,
        resource_type: Query<Option<String>>,
        resource_id: Query<Option<Uuid>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> ApiResult<Json<AuditLogListResponse>> {
        access::require(&auth.0, Action::List, Resource::AuditLog, false)?;
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        let offset = offset.0.unwrap_or(0);
        if limit < 1 {
            return Err(ApiError::bad_request("limit must be at least 1"));
        }
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        let limit = limit.min(MAX_LIMIT);
        for (what, at) in [("from", &from.0), ("to", &to.0)] {
            if let Some(at) = at {
                validation::timestamp(what, at)?;
            }
        }
        let filter = AuditFilter {
            actor_type: actor_type.0,
            actor_id: actor_id.0,
            action: action.0,
            resource_type: resource_type.0,
            resource_id: resource_id.0,
            from: from.0,
            to: to.0,
        };
        let (logs, total) = audit_store::list(&self.state.pool, &filter, limit, offset).await?;
        Ok(Json(AuditLogListResponse {
            count: logs.len() as i64,
            logs,
            total,
            limit,
            offset,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_limited_per_address_and_in_total() {
        let limiter = AuthFailureLimiter::default();
        let allowed = (0..10).filter(|_| limiter.allow("10.0.0.1")).count();
        assert_eq!(allowed as u32, PER_IP_PER_MINUTE);
        let mut total = PER_IP_PER_MINUTE;
        for i in 0..100 {
            if limiter.allow(&format!("10.0.1.{i}")) {
                total += 1;
            }
        }
        assert_eq!(total, TOTAL_PER_MINUTE);
    }
}
