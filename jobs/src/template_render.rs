//! `template_render`: re-renders one stack of a template rollout with the rolled-out version.
//!
//! The job locks the stack's pending result, then, in one transaction: checks that the stack
//! still exists and that its latest deployment object is still the one the rollout saw (a stack
//! that changed since is skipped, so a newer manual deployment is never overwritten), reads the
//! parameters stored in that object's provenance, checks them against the new version's schema
//! (with its defaults) and the template's labels and annotations against the stack's, renders,
//! and stores the new deployment object with its provenance through the change seam
//! (`deployment.created`, audit entry in the name of whoever started the rollout). Parameters
//! that break the new schema are reported with their validation errors and change nothing.
//!
//! Rendering itself is [`render_sandbox::render`] (shared with the broker, which uses it to
//! instantiate a template): Tera runs in a child process with memory and time limits, never in
//! this process.

use std::sync::Arc;
use std::time::Instant;

use brokkr_runtime::render_sandbox;
use brokkr_schema::jobs::{TEMPLATE_RENDER, TemplateRenderJob};
use brokkr_schema::store::changes::{self, Actor, Change};
use brokkr_schema::store::notify::Channels;
use brokkr_schema::store::templates::{self, RenderOutcome};
use brokkr_schema::store::{StoreError, StoreResult, stacks};
use brokkr_schema::templating::{self, RenderError};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::metrics::WorkerMetrics;

/// What the `template_render` handler needs.
pub struct RenderContext {
    pub pool: PgPool,
    pub channels: Channels,
    pub metrics: Arc<WorkerMetrics>,
}

/// Decides and, when rendering succeeds, writes the new deployment object.
async fn render_stack(
    conn: &mut PgConnection,
    channels: &Channels,
    job: TemplateRenderJob,
    pending: &templates::PendingRender,
) -> StoreResult<RenderOutcome> {
    let template = templates::get_any(&mut *conn, pending.template_id).await?;
    if template.deleted_at.is_some() {
        return Ok(RenderOutcome::Skipped(
            "the template version was deleted".into(),
        ));
    }
    match stacks::get(&mut *conn, job.stack_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Ok(RenderOutcome::Skipped("the stack was deleted".into()));
        }
        Err(e) => return Err(e),
    }
    let latest = templates::latest_deployment_object_id(&mut *conn, job.stack_id).await?;
    if latest != Some(pending.previous_deployment_object_id) {
        return Ok(RenderOutcome::Skipped(
            "the stack has a newer deployment object than when the rollout started".into(),
        ));
    }
    let Some((_, _, stored)) =
        templates::provenance(&mut *conn, pending.previous_deployment_object_id).await?
    else {
        return Ok(RenderOutcome::Skipped(
            "the stack's deployment object was not rendered from a template".into(),
        ));
    };
    let parameters: Value = match serde_json::from_str(&stored) {
        Ok(p) => p,
        Err(e) => {
            return Ok(RenderOutcome::Failed(format!(
                "the stored parameters are not JSON: {e}"
            )));
        }
    };
    let wanted = templates::template_terms(&mut *conn, template.id).await?;
    let has = templates::stack_terms(&mut *conn, job.stack_id).await?;
    let mismatch = templating::match_stack(
        &wanted.labels,
        &wanted.annotations,
        &has.labels,
        &has.annotations,
    );
    if !mismatch.is_empty() {
        return Ok(RenderOutcome::Failed(format!(
            "Template labels do not match stack: missing labels {:?}, missing annotations {:?}",
            mismatch.missing_labels, mismatch.missing_annotations
        )));
    }
    let yaml = match render_sandbox::render(
        template.template_content.clone(),
        template.parameters_schema.clone(),
        parameters.clone(),
    )
    .await
    {
        Ok(yaml) => yaml,
        Err(RenderError::InvalidParameters(errors)) => {
            return Ok(RenderOutcome::InvalidParameters(errors));
        }
        Err(e) => return Ok(RenderOutcome::Failed(e.to_string())),
    };
    let object =
        templates::insert_rendered(&mut *conn, job.stack_id, &yaml, &template, &parameters).await?;
    let actor = Actor {
        kind: pending.actor_type,
        id: pending.actor_id,
        ip_address: None,
        user_agent: None,
    };
    changes::record(
        &mut *conn,
        channels,
        &actor,
        Change::DeploymentObjectCreated { object: &object },
    )
    .await?;
    Ok(RenderOutcome::Rendered(object.id))
}

/// Runs one `template_render` job. `None` when the stack's result was already decided (the job
/// ran before). Database failures are errors (the job runs again); everything else is an
/// outcome stored on the rollout.
pub async fn run(
    ctx: &RenderContext,
    job: TemplateRenderJob,
) -> StoreResult<Option<RenderOutcome>> {
    let started = Instant::now();
    let result = async {
        let mut tx = brokkr_schema::store::begin(&ctx.pool).await?;
        let Some(pending) =
            templates::lock_pending_render(&mut tx, job.rollout_id, job.stack_id).await?
        else {
            return StoreResult::Ok(None);
        };
        let outcome = render_stack(&mut tx, &ctx.channels, job, &pending).await?;
        templates::finish_render(&mut tx, job.rollout_id, job.stack_id, &outcome).await?;
        tx.commit().await?;
        Ok(Some(outcome))
    }
    .await;
    let label = match &result {
        Ok(Some(outcome)) => outcome.status().as_str(),
        Ok(None) => "duplicate",
        Err(_) => "error",
    };
    ctx.metrics
        .record_job(TEMPLATE_RENDER, label, started.elapsed());
    if let Ok(Some(outcome)) = &result {
        tracing::info!(
            rollout = %job.rollout_id,
            stack = %job.stack_id,
            outcome = outcome.status().as_str(),
            "template rollout: stack processed"
        );
    }
    result
}
