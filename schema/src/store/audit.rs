//! The audit log: append-only, written in the transaction of the change it records.

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreResult;

/// An entry to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub actor_type: &'a str,
    pub actor_id: Option<Uuid>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<Uuid>,
    pub details: Option<serde_json::Value>,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// Appends one entry.
pub async fn insert(conn: &mut PgConnection, entry: &NewAuditEntry<'_>) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_logs (actor_type, actor_id, action, resource_type, resource_id, details, ip_address, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.actor_type)
    .bind(entry.actor_id)
    .bind(entry.action)
    .bind(entry.resource_type)
    .bind(entry.resource_id)
    .bind(&entry.details)
    .bind(entry.ip_address)
    .bind(entry.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}
