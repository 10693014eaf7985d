//! The audit log: append-only, written in the transaction of the change it records.

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoreResult;
use crate::models::AuditLog;

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
    sqlx::query!(
        "INSERT INTO audit_logs (actor_type, actor_id, action, resource_type, resource_id, details, ip_address, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        entry.actor_type,
        entry.actor_id,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        entry.details,
        entry.ip_address,
        entry.user_agent,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters of the audit-log listing; `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_type: Option<String>,
    pub actor_id: Option<Uuid>,
    /// Exact action, or a prefix when it ends with `*` (`agent.*`).
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<Uuid>,
    /// Inclusive lower bound.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Exclusive upper bound.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

impl AuditFilter {
    /// (exact action, LIKE pattern) for the action filter.
    fn action_terms(&self) -> (Option<String>, Option<String>) {
        match self.action.as_deref() {
            Some(a) if a.ends_with('*') => {
                let prefix = a.trim_end_matches('*');
                let escaped = prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                (None, Some(format!("{escaped}%")))
            }
            Some(a) => (Some(a.to_owned()), None),
            None => (None, None),
        }
    }
}

/// The filter condition of the listing, a fragment of [`sql!`]: `$1`..`$8` are bound by
/// [`filtered!`].
macro_rules! audit_where {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r"($1::text IS NULL OR actor_type = $1)
    AND ($2::uuid IS NULL OR actor_id = $2)
    AND ($3::text IS NULL OR action = $3)
    AND ($4::text IS NULL OR action LIKE $4 ESCAPE '\')
    AND ($5::text IS NULL OR resource_type = $5)
    AND ($6::uuid IS NULL OR resource_id = $6)
    AND ($7::timestamptz IS NULL OR timestamp >= $7)
    AND ($8::timestamptz IS NULL OR timestamp < $8)"
        ])
    };
}

/// `sql!($query!(..))` of `[pieces]`, whose parameters `$1`..`$8` are those of [`audit_where!`]
/// (from `$filter` and the action terms `$exact`, `$like`), then the `[tail]` arguments.
macro_rules! filtered {
    ($query:ident!($($model:ident,)? [$($piece:tt)*], $filter:ident, $exact:ident, $like:ident
     $(, $tail:expr)*)) => {
        sql!($query!(
            $($model,)?
            [$($piece)*],
            $filter.actor_type.as_deref(),
            $filter.actor_id,
            $exact.as_deref(),
            $like.as_deref(),
            $filter.resource_type.as_deref(),
            $filter.resource_id,
            $filter.from,
            $filter.to
            $(, $tail)*
        ))
    };
}

/// One page of matching entries, newest first, and the total number of matches.
pub async fn list(
    pool: &sqlx::PgPool,
    filter: &AuditFilter,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<AuditLog>, i64)> {
    let (exact, like) = filter.action_terms();
    let total = filtered!(query_scalar!(
        [
            r#"SELECT count(*) AS "count!" FROM audit_logs WHERE "#,
            audit_where!()
        ],
        filter,
        exact,
        like
    ))
    .fetch_one(pool)
    .await?;
    let logs = filtered!(query_as!(
        AuditLog,
        [
            r#"SELECT id, timestamp, actor_type AS "actor_type: _", actor_id, action, resource_type,
                      resource_id, details, ip_address, user_agent, created_at
                 FROM audit_logs WHERE "#,
            audit_where!(),
            " ORDER BY timestamp DESC, id DESC LIMIT $9 OFFSET $10"
        ],
        filter,
        exact,
        like,
        limit,
        offset
    ))
    .fetch_all(pool)
    .await?;
    Ok((logs, total))
}
