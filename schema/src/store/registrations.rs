//! Registrations: which generators (tenants) an agent serves.
//!
//! An agent runs a stack only if it is registered with the stack's generator. The rule is
//! written once, as the SQL condition [`serves_generator!`] (defined in `store/mod.rs`), and
//! joined into [`associated_stack_ids!`] (target state, `GET /agents/{id}/stacks`, health,
//! event reports, stack rollouts) and into agent-side webhook claims ([`super::webhooks::deliveries`]). Every
//! agent is registered with the system generator (`__system__`, the owner of the admin's
//! fleet-wide stacks) when it is created.
//!
//! Deregistering withdraws what the registration allowed, in one transaction: the agent's
//! explicit targets on that generator's stacks are removed, and every stack of that generator
//! the agent was running is remembered as withdrawn, so the agent removes its objects.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{StoreError, StoreResult};
use crate::models::{Agent, AgentRegistration};

/// The id of the system generator `__system__`: it owns the stacks the admin creates for the
/// whole fleet, and every agent is registered with it.
pub const SYSTEM_GENERATOR_ID: Uuid = Uuid::nil();

/// The name of the system generator (reserved).
pub const SYSTEM_GENERATOR_NAME: &str = "__system__";

/// Creates the system generator if it is missing. One idempotent statement, so any number of
/// broker replicas can run it at once.
pub async fn ensure_system_generator(pool: &PgPool) -> StoreResult<()> {
    sqlx::query!(
        "INSERT INTO generators (id, name, description, is_active)
         VALUES ($1, $2, 'System generator: owns fleet-wide stacks; every agent is registered with it', TRUE)
         ON CONFLICT (id) DO NOTHING",
        SYSTEM_GENERATOR_ID,
        SYSTEM_GENERATOR_NAME
    )
    .execute(pool)
    .await
    .map_err(|e| StoreError::classify(e, "another generator is named __system__"))?;
    Ok(())
}

/// Registers `agent_id` with the live generator `generator_id`; true when the registration is
/// new (registering again changes nothing). Stacks withdrawn by an earlier deregistration from
/// that generator are no longer withdrawn.
pub async fn register(
    conn: &mut PgConnection,
    agent_id: Uuid,
    generator_id: Uuid,
) -> StoreResult<bool> {
    let live = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM generators WHERE id = $1 AND deleted_at IS NULL)
               AS "live!""#,
        generator_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !live {
        return Err(StoreError::NotFound);
    }
    let inserted = sqlx::query!(
        "INSERT INTO agent_registrations (agent_id, generator_id) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        agent_id,
        generator_id
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::classify(e, "already registered"))?
    .rows_affected()
        == 1;
    sqlx::query!(
        "DELETE FROM agent_withdrawn_stacks WHERE agent_id = $1 AND generator_id = $2",
        agent_id,
        generator_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(inserted)
}

/// Deregisters `agent_id` from `generator_id` (`NotFound` when it was not registered). In the
/// caller's transaction: every stack of the generator the agent was running is recorded as
/// withdrawn, and its explicit targets on them are removed. Returns the stacks whose targets
/// were removed.
pub async fn deregister(
    conn: &mut PgConnection,
    agent_id: Uuid,
    generator_id: Uuid,
) -> StoreResult<Vec<Uuid>> {
    // Before the registration goes: what the agent runs of this generator now.
    sql!(query!(
        [
            "INSERT INTO agent_withdrawn_stacks (agent_id, stack_id, generator_id)
             SELECT $1, s.id, s.generator_id
               FROM (",
            associated_stack_ids!("$1"),
            ") a JOIN stacks s ON s.id = a.stack_id
              WHERE s.generator_id = $2
             ON CONFLICT (agent_id, stack_id) DO UPDATE
                SET generator_id = EXCLUDED.generator_id, withdrawn_at = now()"
        ],
        agent_id,
        generator_id
    ))
    .execute(&mut *conn)
    .await?;
    let removed = sqlx::query!(
        "DELETE FROM agent_registrations WHERE agent_id = $1 AND generator_id = $2",
        agent_id,
        generator_id
    )
    .execute(&mut *conn)
    .await?;
    if removed.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(sqlx::query_scalar!(
        "DELETE FROM agent_targets t USING stacks s
          WHERE t.agent_id = $1 AND s.id = t.stack_id AND s.generator_id = $2
         RETURNING t.stack_id",
        agent_id,
        generator_id
    )
    .fetch_all(conn)
    .await?)
}

/// Is the agent registered with the generator?
pub async fn is_registered(
    conn: &mut PgConnection,
    agent_id: Uuid,
    generator_id: Uuid,
) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM agent_registrations WHERE agent_id = $1 AND generator_id = $2)
               AS "registered!""#,
        agent_id,
        generator_id
    )
    .fetch_one(conn)
    .await?)
}

/// The live generators an agent is registered with, by name.
pub async fn for_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
) -> StoreResult<Vec<AgentRegistration>> {
    Ok(sqlx::query_as!(
        AgentRegistration,
        "SELECT r.agent_id, r.generator_id, g.name AS generator_name, r.created_at
           FROM agent_registrations r JOIN generators g ON g.id = r.generator_id
          WHERE r.agent_id = $1 AND g.deleted_at IS NULL
          ORDER BY g.name",
        agent_id
    )
    .fetch_all(conn)
    .await?)
}

/// The live agents registered with a generator, by name.
pub async fn agents_of(conn: &mut PgConnection, generator_id: Uuid) -> StoreResult<Vec<Agent>> {
    // `status: _` decodes into whatever type `Agent::status` has.
    Ok(sqlx::query_as!(
        Agent,
        r#"SELECT a.id, a.created_at, a.updated_at, a.deleted_at, a.name, a.cluster_name,
                  a.last_heartbeat, a.status AS "status: _"
             FROM agent_registrations r JOIN agents a ON a.id = r.agent_id
            WHERE r.generator_id = $1 AND a.deleted_at IS NULL
            ORDER BY a.name, a.cluster_name"#,
        generator_id
    )
    .fetch_all(conn)
    .await?)
}

/// Stacks withdrawn from the agent by a deregistration, whose objects it must remove.
pub async fn withdrawn_stacks(conn: &mut PgConnection, agent_id: Uuid) -> StoreResult<Vec<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT stack_id FROM agent_withdrawn_stacks WHERE agent_id = $1 ORDER BY stack_id",
        agent_id
    )
    .fetch_all(conn)
    .await?)
}
