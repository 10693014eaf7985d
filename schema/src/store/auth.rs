//! Credentials: finding the identity behind a PAK hash, and the admin key.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::StoreResult;

/// The identity a PAK authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The admin.
    Admin,
    /// An agent (live, not deleted).
    Agent(Uuid),
    /// A generator (live, not deleted).
    Generator(Uuid),
}

/// Finds who owns `hash`: one round trip over three indexed lookups. The stored hash is compared
/// again in constant time by the caller's [`crate::pak::hashes_equal`].
pub async fn find_identity(pool: &PgPool, hash: &str) -> StoreResult<Option<(Identity, String)>> {
    // Every branch matches `pak_hash = $1`, so the hash is never NULL.
    let row = sqlx::query!(
        r#"SELECT 'admin' AS "kind!", NULL::uuid AS id, pak_hash AS "pak_hash!"
             FROM admin_role WHERE pak_hash = $1
           UNION ALL
           SELECT 'agent', id, pak_hash FROM agents WHERE pak_hash = $1 AND deleted_at IS NULL
           UNION ALL
           SELECT 'generator', id, pak_hash FROM generators WHERE pak_hash = $1 AND deleted_at IS NULL
           LIMIT 1"#,
        hash
    )
    .fetch_optional(pool)
    .await?
    .map(|r| (r.kind, r.id, r.pak_hash));
    Ok(row.and_then(|(kind, id, stored)| {
        let identity = match (kind.as_str(), id) {
            ("admin", _) => Identity::Admin,
            ("agent", Some(id)) => Identity::Agent(id),
            ("generator", Some(id)) => Identity::Generator(id),
            _ => return None,
        };
        Some((identity, stored))
    }))
}

/// Marks the database initialised; true when this call did it (the first start).
/// Runs under a transaction-scoped advisory lock so concurrent first starts agree.
pub async fn claim_first_start(conn: &mut PgConnection) -> StoreResult<bool> {
    sqlx::query!("SELECT pg_advisory_xact_lock(7262615)")
        .execute(&mut *conn)
        .await?;
    let count = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM app_initialization"#)
        .fetch_one(&mut *conn)
        .await?;
    if count > 0 {
        return Ok(false);
    }
    sqlx::query!("INSERT INTO app_initialization DEFAULT VALUES")
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Sets the admin key hash (creating the admin row when missing).
pub async fn set_admin_hash(conn: &mut PgConnection, hash: &str) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO admin_role (pak_hash) VALUES ($1)
         ON CONFLICT (singleton) DO UPDATE SET pak_hash = EXCLUDED.pak_hash",
        hash
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored admin key hash, if an admin exists.
pub async fn admin_hash(conn: &mut PgConnection) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar!("SELECT pak_hash FROM admin_role")
        .fetch_optional(conn)
        .await?)
}
