//! The audit log and the broker's probes.

use brokkr_schema::models::{AuditLogListResponse, AuthResponse};
use reqwest::Method;

use crate::client::Call;
use crate::{Client, Result};

/// Filters of [`Client::list_audit_logs`]; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor_type: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Client {
    /// `GET /admin/audit-logs` (admin), newest first.
    pub async fn list_audit_logs(&self, query: &AuditQuery) -> Result<AuditLogListResponse> {
        self.json(
            Call::new(Method::GET, &["api", "v1", "admin", "audit-logs"])
                .query_opt("actor_type", query.actor_type.as_deref())
                .query_opt("action", query.action.as_deref())
                .query_opt("resource_type", query.resource_type.as_deref())
                .query_opt("limit", query.limit)
                .query_opt("offset", query.offset),
        )
        .await
    }

    /// `POST /auth/pak`: who the client's PAK belongs to.
    pub async fn whoami(&self) -> Result<AuthResponse> {
        self.json(Call::new(Method::POST, &["api", "v1", "auth", "pak"]))
            .await
    }

    /// `GET /readyz`: Ok when the broker and its database answer.
    pub async fn readyz(&self) -> Result<()> {
        self.unit(Call::new(Method::GET, &["readyz"])).await
    }

    /// `GET /healthz`: Ok when the broker process answers.
    pub async fn healthz(&self) -> Result<()> {
        self.unit(Call::new(Method::GET, &["healthz"])).await
    }
}
