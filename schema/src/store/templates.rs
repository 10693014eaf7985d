//! Stack templates: versions (their labels and annotations live in [`super::metadata`]), the
//! provenance of deployment objects rendered from them, and rollouts of a new version to the
//! stacks that use an older one.
//!
//! A template's versions share `(generator_id, name)` (NULL owner: a system template). Versions
//! are numbered under a transaction-scoped advisory lock on that pair, counting deleted versions
//! too, so a number is never reused. A new version carries the labels and annotations of the
//! latest live one.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{StoreError, StoreResult, deployment_objects};
use crate::jobs::TemplateRenderJob;
use crate::models::{
    ActorKind, DeploymentObject, StackTemplate, TemplateRollout, TemplateRolloutStack,
    TemplateRolloutStackStatus, TemplateRolloutStatus, yaml_checksum,
};

/// The columns of [`StackTemplate`], a fragment of [`sql!`].
macro_rules! template_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "id, created_at, updated_at, deleted_at, generator_id, name, description, version,
             template_content, parameters_schema, checksum"
        ])
    };
}

/// `(generator_id, name)` of a lineage (`$1`, `$2`) compared through the same expression as its
/// indexes, a fragment of [`sql!`].
macro_rules! same_owner {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "COALESCE(generator_id, '00000000-0000-0000-0000-000000000000'::uuid)
             = COALESCE($1::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AND name = $2"
        ])
    };
}

/// A live template version.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<StackTemplate> {
    sql!(query_as!(
        StackTemplate,
        [
            "SELECT ",
            template_columns!(),
            " FROM stack_templates WHERE id = $1 AND deleted_at IS NULL"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// The latest live version of a lineage, if any.
pub async fn latest_version(
    conn: &mut PgConnection,
    generator_id: Option<Uuid>,
    name: &str,
) -> StoreResult<Option<StackTemplate>> {
    Ok(sql!(query_as!(
        StackTemplate,
        [
            "SELECT ",
            template_columns!(),
            " FROM stack_templates
          WHERE ",
            same_owner!(),
            " AND deleted_at IS NULL ORDER BY version DESC LIMIT 1"
        ],
        generator_id,
        name
    ))
    .fetch_optional(conn)
    .await?)
}

/// Live templates, all versions: every one for the admin (`None`), system templates and its
/// own for a generator.
pub async fn list(
    conn: &mut PgConnection,
    generator_id: Option<Uuid>,
) -> StoreResult<Vec<StackTemplate>> {
    Ok(sql!(query_as!(
        StackTemplate,
        [
            "SELECT ",
            template_columns!(),
            " FROM stack_templates
          WHERE deleted_at IS NULL
            AND ($1::uuid IS NULL OR generator_id IS NULL OR generator_id = $1)
          ORDER BY name, generator_id NULLS FIRST, version"
        ],
        generator_id
    ))
    .fetch_all(conn)
    .await?)
}

/// What a new version consists of.
#[derive(Debug, Clone, Copy)]
pub struct NewVersion<'a> {
    pub generator_id: Option<Uuid>,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub template_content: &'a str,
    pub parameters_schema: &'a str,
}

/// Stores the next version of `(generator_id, name)` (1 for a new template), carrying over the
/// labels and annotations of the latest live version. Returns the new version and the one it
/// follows, if any.
pub async fn create_version(
    conn: &mut PgConnection,
    new: &NewVersion<'_>,
) -> StoreResult<(StackTemplate, Option<StackTemplate>)> {
    // Serialises version numbering of this lineage until the transaction ends.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('brokkr-template:' || COALESCE($1::uuid::text, '') || ':' || $2, 0))",
        new.generator_id,
        new.name
    )
    .execute(&mut *conn)
    .await?;
    let previous = latest_version(&mut *conn, new.generator_id, new.name).await?;
    let next = sql!(query_scalar!(
        [
            r#"SELECT COALESCE(max(version), 0) + 1 AS "next!" FROM stack_templates WHERE "#,
            same_owner!()
        ],
        new.generator_id,
        new.name
    ))
    .fetch_one(&mut *conn)
    .await?;
    let created = sql!(query_as!(
        StackTemplate,
        [
            "INSERT INTO stack_templates
             (generator_id, name, description, version, template_content, parameters_schema, checksum)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
            template_columns!()
        ],
        new.generator_id,
        new.name,
        new.description,
        next,
        new.template_content,
        new.parameters_schema,
        yaml_checksum(new.template_content)
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::classify(e, "this template version already exists"))?;
    if let Some(previous) = &previous {
        sqlx::query!(
            "INSERT INTO template_labels (template_id, label)
             SELECT $1, label FROM template_labels WHERE template_id = $2",
            created.id,
            previous.id
        )
        .execute(&mut *conn)
        .await?;
        sqlx::query!(
            "INSERT INTO template_annotations (template_id, key, value)
             SELECT $1, key, value FROM template_annotations WHERE template_id = $2",
            created.id,
            previous.id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok((created, previous))
}

/// Soft-deletes one version.
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> StoreResult<StackTemplate> {
    sql!(query_as!(
        StackTemplate,
        [
            "UPDATE stack_templates SET deleted_at = now()
          WHERE id = $1 AND deleted_at IS NULL RETURNING ",
            template_columns!()
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// What a template and a stack are matched on: labels and `(key, value)` annotations.
#[derive(Debug, Clone, Default)]
pub struct MatchTerms {
    pub labels: Vec<String>,
    pub annotations: Vec<(String, String)>,
}

/// The [`MatchTerms`] of resource `$id`: `$labels` selects its labels, `$annotations` its
/// `(key, value)` annotations (both with the id as `$1`).
macro_rules! match_terms {
    ($conn:ident, $id:ident, $labels:literal, $annotations:literal) => {
        MatchTerms {
            labels: sqlx::query_scalar!($labels, $id)
                .fetch_all(&mut *$conn)
                .await?,
            annotations: sqlx::query!($annotations, $id)
                .fetch_all(&mut *$conn)
                .await?
                .into_iter()
                .map(|row| (row.key, row.value))
                .collect(),
        }
    };
}

/// A template version's labels and annotations.
pub async fn template_terms(conn: &mut PgConnection, template_id: Uuid) -> StoreResult<MatchTerms> {
    Ok(match_terms!(
        conn,
        template_id,
        "SELECT label FROM template_labels WHERE template_id = $1",
        "SELECT key, value FROM template_annotations WHERE template_id = $1"
    ))
}

/// A stack's labels and annotations.
pub async fn stack_terms(conn: &mut PgConnection, stack_id: Uuid) -> StoreResult<MatchTerms> {
    Ok(match_terms!(
        conn,
        stack_id,
        "SELECT label FROM stack_labels WHERE stack_id = $1",
        "SELECT key, value FROM stack_annotations WHERE stack_id = $1"
    ))
}

/// Stores a deployment object rendered from `template` with `parameters` (as the caller gave
/// them, before defaults) and its provenance record. The caller records the change in the same
/// transaction.
pub async fn insert_rendered(
    conn: &mut PgConnection,
    stack_id: Uuid,
    yaml: &str,
    template: &StackTemplate,
    parameters: &Value,
) -> StoreResult<DeploymentObject> {
    let object = deployment_objects::insert(&mut *conn, stack_id, yaml, false).await?;
    sqlx::query!(
        "INSERT INTO rendered_deployment_objects
             (deployment_object_id, template_id, template_version, template_parameters)
         VALUES ($1, $2, $3, $4)",
        object.id,
        template.id,
        template.version,
        parameters.to_string()
    )
    .execute(&mut *conn)
    .await?;
    Ok(object)
}

/// Where a deployment object came from: `(template_id, template_version, parameters JSON)`.
pub async fn provenance(
    conn: &mut PgConnection,
    deployment_object_id: Uuid,
) -> StoreResult<Option<(Uuid, i32, String)>> {
    Ok(sqlx::query!(
        "SELECT template_id, template_version, template_parameters
           FROM rendered_deployment_objects WHERE deployment_object_id = $1",
        deployment_object_id
    )
    .fetch_optional(conn)
    .await?
    .map(|row| {
        (
            row.template_id,
            row.template_version,
            row.template_parameters,
        )
    }))
}

/// The id of a stack's latest live deployment object, if it has one.
pub async fn latest_deployment_object_id(
    conn: &mut PgConnection,
    stack_id: Uuid,
) -> StoreResult<Option<Uuid>> {
    Ok(sqlx::query_scalar!(
        "SELECT id FROM deployment_objects WHERE stack_id = $1 AND deleted_at IS NULL
          ORDER BY sequence_id DESC LIMIT 1",
        stack_id
    )
    .fetch_optional(conn)
    .await?)
}

/// Starts a rollout of `template` (the latest version of its lineage): every live stack whose
/// latest deployment object was rendered from an older version of the lineage gets a pending
/// result and a `template_render` job on `queue`. `owner`, when given, limits the rollout to
/// that generator's stacks. Returns the rollout id and the number of stacks.
pub async fn start_rollout(
    conn: &mut PgConnection,
    queue: &str,
    template: &StackTemplate,
    owner: Option<Uuid>,
    actor_type: ActorKind,
    actor_id: Option<Uuid>,
) -> StoreResult<(Uuid, usize)> {
    let rollout_id = sqlx::query_scalar!(
        "INSERT INTO template_rollouts (template_id, template_version, actor_type, actor_id)
         VALUES ($1, $2, $3, $4) RETURNING id",
        template.id,
        template.version,
        actor_type as _,
        actor_id
    )
    .fetch_one(&mut *conn)
    .await?;
    let stacks: Vec<Uuid> = sql!(query_scalar!(
        [
            "WITH lineage AS (
             SELECT id FROM stack_templates WHERE ",
            same_owner!(),
            "
         ), used_by AS (
             SELECT DISTINCT d.stack_id FROM rendered_deployment_objects r
               JOIN deployment_objects d ON d.id = r.deployment_object_id
              WHERE r.template_id IN (SELECT id FROM lineage)
         )
         INSERT INTO template_rollout_stacks
             (rollout_id, stack_id, previous_deployment_object_id, previous_template_version)
         SELECT $5, s.id, latest.id, r.template_version
           FROM stacks s
           JOIN used_by u ON u.stack_id = s.id
           CROSS JOIN LATERAL (
               SELECT d.id FROM deployment_objects d
                WHERE d.stack_id = s.id AND d.deleted_at IS NULL
                ORDER BY d.sequence_id DESC LIMIT 1
           ) latest
           JOIN rendered_deployment_objects r ON r.deployment_object_id = latest.id
          WHERE s.deleted_at IS NULL
            AND r.template_id IN (SELECT id FROM lineage)
            AND r.template_version < $3
            AND ($4::uuid IS NULL OR s.generator_id = $4)
         RETURNING stack_id"
        ],
        template.generator_id,
        &template.name,
        template.version,
        owner,
        rollout_id
    ))
    .fetch_all(&mut *conn)
    .await?;
    for stack_id in &stacks {
        let job = TemplateRenderJob {
            rollout_id,
            stack_id: *stack_id,
        };
        super::jobs::push(&mut *conn, queue, &job, None, &job.idempotency_key()).await?;
    }
    if stacks.is_empty() {
        sqlx::query!(
            "UPDATE template_rollouts SET completed_at = now() WHERE id = $1",
            rollout_id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok((rollout_id, stacks.len()))
}

struct RolloutRow {
    id: Uuid,
    template_id: Uuid,
    template_name: String,
    template_version: i32,
    generator_id: Option<Uuid>,
    created_at: chrono::DateTime<chrono::Utc>,
    completed_at: Option<chrono::DateTime<chrono::Utc>>,
}

struct RolloutStackRow {
    stack_id: Uuid,
    status: TemplateRolloutStackStatus,
    previous_deployment_object_id: Uuid,
    previous_template_version: i32,
    deployment_object_id: Option<Uuid>,
    error: Option<String>,
    validation_errors: Option<sqlx::types::Json<Vec<String>>>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// A rollout with its per-stack results.
pub async fn rollout(conn: &mut PgConnection, id: Uuid) -> StoreResult<TemplateRollout> {
    let row = sqlx::query_as!(
        RolloutRow,
        "SELECT r.id, r.template_id, t.name AS template_name, r.template_version, t.generator_id,
                r.created_at, r.completed_at
           FROM template_rollouts r JOIN stack_templates t ON t.id = r.template_id
          WHERE r.id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let stacks = sqlx::query_as!(
        RolloutStackRow,
        r#"SELECT stack_id, status AS "status: _", previous_deployment_object_id,
                  previous_template_version, deployment_object_id, error,
                  validation_errors AS "validation_errors: sqlx::types::Json<Vec<String>>",
                  updated_at
             FROM template_rollout_stacks WHERE rollout_id = $1 ORDER BY stack_id"#,
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    let running = stacks
        .iter()
        .any(|s| s.status == TemplateRolloutStackStatus::Pending);
    Ok(TemplateRollout {
        id: row.id,
        template_id: row.template_id,
        template_name: row.template_name,
        template_version: row.template_version,
        generator_id: row.generator_id,
        status: if running {
            TemplateRolloutStatus::Running
        } else {
            TemplateRolloutStatus::Completed
        },
        created_at: row.created_at,
        completed_at: row.completed_at,
        stacks: stacks
            .into_iter()
            .map(|s| TemplateRolloutStack {
                stack_id: s.stack_id,
                status: s.status,
                previous_deployment_object_id: s.previous_deployment_object_id,
                previous_template_version: s.previous_template_version,
                deployment_object_id: s.deployment_object_id,
                error: s.error,
                validation_errors: s.validation_errors.map(|j| j.0).unwrap_or_default(),
                updated_at: s.updated_at,
            })
            .collect(),
    })
}

/// A pending rollout result, locked for the rest of the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingRender {
    pub template_id: Uuid,
    pub previous_deployment_object_id: Uuid,
    pub actor_type: ActorKind,
    pub actor_id: Option<Uuid>,
}

/// Locks the pending result of `stack_id` in `rollout_id`; `None` when it already has an
/// outcome (the job ran before) or does not exist.
pub async fn lock_pending_render(
    conn: &mut PgConnection,
    rollout_id: Uuid,
    stack_id: Uuid,
) -> StoreResult<Option<PendingRender>> {
    Ok(sqlx::query_as!(
        PendingRender,
        r#"SELECT r.template_id, s.previous_deployment_object_id, r.actor_type AS "actor_type: _",
                  r.actor_id
             FROM template_rollout_stacks s JOIN template_rollouts r ON r.id = s.rollout_id
            WHERE s.rollout_id = $1 AND s.stack_id = $2 AND s.status = 'pending'
              FOR UPDATE OF s"#,
        rollout_id,
        stack_id
    )
    .fetch_optional(conn)
    .await?)
}

/// The outcome of one stack of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderOutcome {
    /// A deployment object was created.
    Rendered(Uuid),
    /// The stored parameters break the new schema.
    InvalidParameters(Vec<String>),
    /// Rendering or matching failed.
    Failed(String),
    /// The stack changed or went away since the rollout started.
    Skipped(String),
}

impl RenderOutcome {
    /// The stored status.
    pub fn status(&self) -> TemplateRolloutStackStatus {
        match self {
            RenderOutcome::Rendered(_) => TemplateRolloutStackStatus::Rendered,
            RenderOutcome::InvalidParameters(_) => TemplateRolloutStackStatus::InvalidParameters,
            RenderOutcome::Failed(_) => TemplateRolloutStackStatus::Failed,
            RenderOutcome::Skipped(_) => TemplateRolloutStackStatus::Skipped,
        }
    }
}

/// Stores the outcome of one stack and completes the rollout when none is pending any more.
pub async fn finish_render(
    conn: &mut PgConnection,
    rollout_id: Uuid,
    stack_id: Uuid,
    outcome: &RenderOutcome,
) -> StoreResult<()> {
    let (object, error, errors) = match outcome {
        RenderOutcome::Rendered(id) => (Some(*id), None, None),
        RenderOutcome::InvalidParameters(errors) => (
            None,
            Some("the stored parameters do not satisfy the new schema".to_owned()),
            Some(sqlx::types::Json(errors.clone())),
        ),
        RenderOutcome::Failed(e) | RenderOutcome::Skipped(e) => (None, Some(e.clone()), None),
    };
    sqlx::query!(
        "UPDATE template_rollout_stacks
            SET status = $3, deployment_object_id = $4, error = $5, validation_errors = $6,
                updated_at = now()
          WHERE rollout_id = $1 AND stack_id = $2",
        rollout_id,
        stack_id,
        outcome.status() as _,
        object,
        error,
        errors as _
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE template_rollouts SET completed_at = now()
          WHERE id = $1 AND completed_at IS NULL
            AND NOT EXISTS (SELECT 1 FROM template_rollout_stacks
                             WHERE rollout_id = $1 AND status = 'pending')",
        rollout_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Any template version, deleted or not (a rollout's version may be deleted after it started).
pub async fn get_any(conn: &mut PgConnection, id: Uuid) -> StoreResult<StackTemplate> {
    sql!(query_as!(
        StackTemplate,
        [
            "SELECT ",
            template_columns!(),
            " FROM stack_templates WHERE id = $1"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}
