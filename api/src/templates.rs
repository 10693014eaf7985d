//! `/templates`: versioned stack templates (Tera source + JSON Schema of the parameters), their
//! labels and annotations, instantiation into a stack
//! (`POST /stacks/{id}/deployment-objects/from-template`) and rollouts of a new version to the
//! stacks rendered from an older one.
//!
//! Access: the admin reaches every template and creates system templates (or, naming
//! `generator_id`, one for a generator). A generator reads system templates and its own, changes
//! only its own, and instantiates only what it may read into stacks it owns. Agents have no
//! business here (403). A template a caller may not read answers the same 404 as a missing one.
//!
//! Versions are immutable: `PUT` stores the next version (new id, labels and annotations carried
//! over) and instantiation always renders the latest live version of the template named by
//! `template_id`. The deployment object and its provenance record are written in one
//! transaction, through the change seam (`deployment.created`, audit entry).

use std::sync::Arc;

use brokkr_runtime::render_sandbox;
use brokkr_schema::jobs::TEMPLATE_RENDER;
use brokkr_schema::models::{
    AddTemplateAnnotationRequest, CreateTemplateRequest, DeploymentObject, ErrorBody,
    StackTemplate, TemplateAnnotation, TemplateErrorBody, TemplateInstantiationRequest,
    TemplateLabel, TemplateRollout, UpdateTemplateRequest,
};
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::metadata::Templates;
use brokkr_schema::store::templates::{self as store_templates, NewVersion};
use brokkr_schema::store::{self, StoreError};
use brokkr_schema::templating::{self, RenderError, Template, TemplateSource};
use brokkr_schema::validation::{self, MAX_NAME_LEN};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::{Caller, Pakauth};
use crate::error::{ApiError, ApiResult, NoContent};
use crate::metadata::{self, Kind, Step};
use crate::state::AppState;

/// `201 Created` with the template.
#[derive(ApiResponse)]
pub enum TemplateCreated {
    #[oai(status = 201)]
    Created(Json<StackTemplate>),
}

/// `201 Created` with the rendered deployment object.
#[derive(ApiResponse)]
pub enum Instantiated {
    #[oai(status = 201)]
    Created(Json<DeploymentObject>),
}

/// `202 Accepted`: the rollout's stacks are re-rendered by the worker.
#[derive(ApiResponse)]
pub enum RolloutAccepted {
    /// Follow it with `GET /templates/{id}/rollouts/{rollout_id}`.
    #[oai(status = 202)]
    Accepted(Json<TemplateRollout>),
}

/// Errors of instantiation: `{"error"}` plus `validation_errors` (400) or `missing_labels` and
/// `missing_annotations` (422).
#[derive(Debug, ApiResponse)]
pub enum InstantiateError {
    /// Invalid parameters, or the template does not render.
    #[oai(status = 400)]
    BadRequest(Json<TemplateErrorBody>),
    #[oai(status = 401)]
    Unauthorized(Json<TemplateErrorBody>),
    #[oai(status = 403)]
    Forbidden(Json<TemplateErrorBody>),
    /// The stack or the template does not exist, or the caller may not see it.
    #[oai(status = 404)]
    NotFound(Json<TemplateErrorBody>),
    #[oai(status = 409)]
    Conflict(Json<TemplateErrorBody>),
    /// The stack lacks labels or annotations of the template, or the output is not Kubernetes
    /// objects.
    #[oai(status = 422)]
    Unprocessable(Json<TemplateErrorBody>),
    #[oai(status = 500)]
    Internal(Json<TemplateErrorBody>),
    #[oai(status = 503)]
    Unavailable(Json<TemplateErrorBody>),
}

fn detailed(body: ErrorBody) -> Json<TemplateErrorBody> {
    Json(TemplateErrorBody {
        error: body.error,
        validation_errors: None,
        missing_labels: None,
        missing_annotations: None,
        document_index: body.document_index,
    })
}

impl From<ApiError> for InstantiateError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::BadRequest(b) => InstantiateError::BadRequest(detailed(b.0)),
            ApiError::Unauthorized(b) => InstantiateError::Unauthorized(detailed(b.0)),
            ApiError::Forbidden(b) => InstantiateError::Forbidden(detailed(b.0)),
            ApiError::NotFound(b) => InstantiateError::NotFound(detailed(b.0)),
            ApiError::Conflict(b) => InstantiateError::Conflict(detailed(b.0)),
            ApiError::Unprocessable(b) => InstantiateError::Unprocessable(detailed(b.0)),
            ApiError::Internal(b) => InstantiateError::Internal(detailed(b.0)),
            ApiError::Unavailable(b) => InstantiateError::Unavailable(detailed(b.0)),
        }
    }
}

impl From<StoreError> for InstantiateError {
    fn from(err: StoreError) -> Self {
        ApiError::from(err).into()
    }
}

fn template_not_found() -> ApiError {
    ApiError::not_found("Template not found")
}

/// A live template version the caller may do `action` on. A template without a generator (a
/// system template) is its own resource in the policy: every generator reads it, only the
/// admin changes it.
async fn authorize(
    conn: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    action: Action,
) -> ApiResult<StackTemplate> {
    let ask = access::ask(caller, action, Resource::Template)?;
    let template = store_templates::get(conn, id)
        .await
        .map_err(|e| ApiError::from_store(e, "Template"))?;
    let ask = match template.generator_id {
        None => ask.on(Resource::SystemTemplate, caller)?,
        Some(_) => ask,
    };
    ask.given(
        template
            .generator_id
            .is_some_and(|g| caller.is_generator(g)),
    )?;
    Ok(template)
}

/// Checks non-blank content and schema, and that both compile.
fn check_source(content: &str, schema: &str) -> ApiResult<()> {
    validation::name("Template content", content, None)?;
    validation::name("Parameters schema", schema, None)?;
    Template::compile(&TemplateSource {
        content,
        parameters_schema: schema,
    })
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(())
}

/// Handlers of `/templates` and template instantiation.
pub struct TemplatesApi {
    state: Arc<AppState>,
}

impl TemplatesApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Stores a version and records it.
    async fn store_version(
        &self,
        caller: &Caller,
        new: NewVersion<'_>,
    ) -> ApiResult<StackTemplate> {
        let mut write = self.state.write(caller.actor()).await?;
        let (created, previous) = store_templates::create_version(write.conn(), &new).await?;
        write
            .record(Change::TemplateVersionCreated {
                id: created.id,
                previous_id: previous.as_ref().map(|p| p.id),
                name: &created.name,
                version: created.version,
                generator_id: created.generator_id,
            })
            .await?;
        write.commit().await?;
        Ok(created)
    }
}

/// A live template version the caller may read (to list) or label (to add and remove).
impl metadata::Gate for Templates {
    async fn admit(conn: &mut PgConnection, who: &Caller, id: Uuid, step: Step) -> ApiResult<()> {
        authorize(conn, who, id, step.action()).await.map(drop)
    }
}

#[OpenApi(tag = "ApiTags::Templates")]
impl TemplatesApi {
    /// Lists live template versions: all for the admin, system templates and its own for a
    /// generator.
    #[oai(path = "/templates", method = "get", operation_id = "listTemplates")]
    async fn list_templates(&self, auth: Pakauth) -> ApiResult<Json<Vec<StackTemplate>>> {
        access::require(&auth.0, Action::List, Resource::Template, true)?;
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            store_templates::list(&mut conn, auth.0.generator()).await?,
        ))
    }

    /// Creates a template (version 1, or the next version when the owner already has a
    /// template of that name). The admin creates system templates, or one for `generator_id`;
    /// a generator creates its own. The Tera source and the JSON Schema are checked (400).
    #[oai(path = "/templates", method = "post", operation_id = "createTemplate")]
    async fn create_template(
        &self,
        auth: Pakauth,
        body: Json<CreateTemplateRequest>,
    ) -> ApiResult<TemplateCreated> {
        access::require(&auth.0, Action::Create, Resource::Template, true)?;
        let body = body.0;
        let owner = match (auth.0.generator(), body.generator_id) {
            (Some(me), Some(named)) if named != me => {
                return Err(ApiError::forbidden(
                    "Generator can only create templates for itself",
                ));
            }
            (Some(me), _) => Some(me),
            (None, named) => named,
        };
        let name = body.name.trim();
        validation::name("Template name", name, Some(MAX_NAME_LEN))?;
        validation::description(body.description.as_deref())?;
        check_source(&body.template_content, &body.parameters_schema)?;
        if let Some(owner) = owner {
            let mut conn = self.state.pool.acquire().await?;
            store::generators::get(&mut conn, owner)
                .await
                .map_err(|e| ApiError::from_store(e, "Generator"))?;
        }
        let created = self
            .store_version(
                &auth.0,
                NewVersion {
                    generator_id: owner,
                    name,
                    description: body.description.as_deref(),
                    template_content: &body.template_content,
                    parameters_schema: &body.parameters_schema,
                },
            )
            .await?;
        Ok(TemplateCreated::Created(Json(created)))
    }

    /// Reads a template version.
    #[oai(path = "/templates/:id", method = "get", operation_id = "getTemplate")]
    async fn get_template(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<StackTemplate>> {
        let mut conn = self.state.pool.acquire().await?;
        Ok(Json(
            authorize(&mut conn, &auth.0, id.0, Action::Read).await?,
        ))
    }

    /// Stores the next version of a template (new id, version + 1, same name and owner, labels
    /// and annotations carried over); the old version stays. `description` defaults to the
    /// current one.
    #[oai(
        path = "/templates/:id",
        method = "put",
        operation_id = "updateTemplate"
    )]
    async fn update_template(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<UpdateTemplateRequest>,
    ) -> ApiResult<Json<StackTemplate>> {
        let body = body.0;
        validation::description(body.description.as_deref())?;
        check_source(&body.template_content, &body.parameters_schema)?;
        let current = {
            let mut conn = self.state.pool.acquire().await?;
            authorize(&mut conn, &auth.0, id.0, Action::Update).await?
        };
        let description = body.description.or(current.description.clone());
        let created = self
            .store_version(
                &auth.0,
                NewVersion {
                    generator_id: current.generator_id,
                    name: &current.name,
                    description: description.as_deref(),
                    template_content: &body.template_content,
                    parameters_schema: &body.parameters_schema,
                },
            )
            .await?;
        Ok(Json(created))
    }

    /// Deletes one template version (soft delete); other versions stay.
    #[oai(
        path = "/templates/:id",
        method = "delete",
        operation_id = "deleteTemplate"
    )]
    async fn delete_template(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        let mut write = self.state.write(auth.0.actor()).await?;
        authorize(write.conn(), &auth.0, id.0, Action::Delete).await?;
        let deleted = store_templates::soft_delete(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Template"))?;
        write
            .record(Change::TemplateDeleted {
                id: deleted.id,
                name: &deleted.name,
                version: deleted.version,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Lists a template version's labels.
    #[oai(
        path = "/templates/:id/labels",
        method = "get",
        operation_id = "listTemplateLabels"
    )]
    async fn list_labels(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<TemplateLabel>>> {
        metadata::list::<Templates, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds a label (a bare JSON string, e.g. `"env=production"`); a stack must carry every
    /// label of a template to receive it.
    #[oai(
        path = "/templates/:id/labels",
        method = "post",
        operation_id = "addTemplateLabel"
    )]
    async fn add_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<String>,
    ) -> ApiResult<Json<TemplateLabel>> {
        metadata::add_label::<Templates>(&self.state, &auth.0, id.0, &body.0).await
    }

    /// Removes a label.
    #[oai(
        path = "/templates/:id/labels/:label",
        method = "delete",
        operation_id = "removeTemplateLabel"
    )]
    async fn remove_label(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        label: Path<String>,
    ) -> ApiResult<NoContent> {
        metadata::remove::<Templates>(&self.state, &auth.0, id.0, Kind::Label, &label.0).await
    }

    /// Lists a template version's annotations.
    #[oai(
        path = "/templates/:id/annotations",
        method = "get",
        operation_id = "listTemplateAnnotations"
    )]
    async fn list_annotations(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<Vec<TemplateAnnotation>>> {
        metadata::list::<Templates, _>(&self.state, &auth.0, id.0).await
    }

    /// Adds an annotation; a stack must carry it with the same value to receive the template.
    #[oai(
        path = "/templates/:id/annotations",
        method = "post",
        operation_id = "addTemplateAnnotation"
    )]
    async fn add_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<AddTemplateAnnotationRequest>,
    ) -> ApiResult<Json<TemplateAnnotation>> {
        metadata::add_annotation::<Templates>(
            &self.state,
            &auth.0,
            id.0,
            &body.0.key,
            &body.0.value,
        )
        .await
    }

    /// Removes an annotation by key.
    #[oai(
        path = "/templates/:id/annotations/:key",
        method = "delete",
        operation_id = "removeTemplateAnnotation"
    )]
    async fn remove_annotation(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        key: Path<String>,
    ) -> ApiResult<NoContent> {
        metadata::remove::<Templates>(&self.state, &auth.0, id.0, Kind::Annotation, &key.0).await
    }

    /// Rolls the template's latest version out: every stack whose latest deployment object was
    /// rendered from an older version (a generator: of its own stacks) is re-rendered by the
    /// worker with the parameters stored in that object's provenance. Stacks whose parameters
    /// break the new schema are reported, not changed.
    #[oai(
        path = "/templates/:id/rollout",
        method = "post",
        operation_id = "startTemplateRollout"
    )]
    async fn start_rollout(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<RolloutAccepted> {
        let actor = auth.0.actor();
        let mut write = self.state.write(actor.clone()).await?;
        let named = authorize(write.conn(), &auth.0, id.0, Action::Rollout).await?;
        let latest = store_templates::latest_version(write.conn(), named.generator_id, &named.name)
            .await?
            .ok_or_else(template_not_found)?;
        let queue = self.state.channels.queue(TEMPLATE_RENDER);
        let (rollout_id, stacks) = store_templates::start_rollout(
            write.conn(),
            &queue,
            &latest,
            auth.0.generator(),
            actor.kind,
            actor.id,
        )
        .await?;
        write
            .record(Change::TemplateRolloutStarted {
                template_id: latest.id,
                rollout_id,
                version: latest.version,
                stacks,
            })
            .await?;
        let rollout = store_templates::rollout(write.conn(), rollout_id).await?;
        write.commit().await?;
        Ok(RolloutAccepted::Accepted(Json(rollout)))
    }

    /// A rollout of this template and what happened to each of its stacks (admin or owning
    /// generator).
    #[oai(
        path = "/templates/:id/rollouts/:rollout_id",
        method = "get",
        operation_id = "getTemplateRollout"
    )]
    async fn get_rollout(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        rollout_id: Path<Uuid>,
    ) -> ApiResult<Json<TemplateRollout>> {
        let mut conn = self.state.pool.acquire().await?;
        let named = authorize(&mut conn, &auth.0, id.0, Action::Rollout).await?;
        let not_found = || ApiError::not_found("Rollout not found");
        let rollout = match store_templates::rollout(&mut conn, rollout_id.0).await {
            Ok(r) => r,
            Err(StoreError::NotFound) => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        // The rollout must belong to the template named in the path.
        if rollout.template_name != named.name || rollout.generator_id != named.generator_id {
            return Err(not_found());
        }
        Ok(Json(rollout))
    }

    /// Renders the latest version of a template with `parameters` into a new deployment object
    /// of the stack (admin, or the generator owning the stack with a template it may read).
    /// The template's labels and annotations must all be on the stack (422 with
    /// `missing_labels` and `missing_annotations`); the parameters must satisfy the schema after
    /// its defaults are applied (400 with `validation_errors`).
    #[oai(
        path = "/stacks/:id/deployment-objects/from-template",
        method = "post",
        operation_id = "instantiateTemplate",
        tag = "ApiTags::Stacks"
    )]
    async fn instantiate_template(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<TemplateInstantiationRequest>,
    ) -> Result<Instantiated, InstantiateError> {
        let caller = &auth.0;
        let ask = access::ask(caller, Action::Deploy, Resource::Stack)?;
        let body = body.0;
        let template = {
            let mut conn = self.state.pool.acquire().await.map_err(ApiError::from)?;
            let stack = match store::stacks::get(&mut conn, id.0).await {
                Ok(stack) => stack,
                Err(StoreError::NotFound) => return Err(Resource::Stack.not_found().into()),
                Err(e) => return Err(e.into()),
            };
            ask.given(caller.is_generator(stack.generator_id))?;
            let named = authorize(&mut conn, caller, body.template_id, Action::Read).await?;
            let latest =
                store_templates::latest_version(&mut conn, named.generator_id, &named.name)
                    .await?
                    .ok_or_else(template_not_found)?;
            let wanted = store_templates::template_terms(&mut conn, latest.id).await?;
            let has = store_templates::stack_terms(&mut conn, stack.id).await?;
            let mismatch = templating::match_stack(
                &wanted.labels,
                &wanted.annotations,
                &has.labels,
                &has.annotations,
            );
            if !mismatch.is_empty() {
                return Err(InstantiateError::Unprocessable(Json(TemplateErrorBody {
                    error: "Template labels do not match stack".into(),
                    validation_errors: None,
                    missing_labels: Some(mismatch.missing_labels),
                    missing_annotations: Some(
                        mismatch
                            .missing_annotations
                            .into_iter()
                            .map(|(k, v)| vec![k, v])
                            .collect(),
                    ),
                    document_index: None,
                })));
            }
            latest
        };
        let yaml = render_sandbox::render(
            template.template_content.clone(),
            template.parameters_schema.clone(),
            body.parameters.clone(),
        )
        .await
        .map_err(|e| match e {
            RenderError::InvalidParameters(errors) => {
                InstantiateError::BadRequest(Json(TemplateErrorBody {
                    error: "Invalid parameters".into(),
                    validation_errors: Some(errors),
                    missing_labels: None,
                    missing_annotations: None,
                    document_index: None,
                }))
            }
            RenderError::Manifest(ref m) => {
                ApiError::unprocessable(e.to_string(), Some(m.document_index as u64)).into()
            }
            RenderError::Render(_) => ApiError::bad_request(e.to_string()).into(),
        })?;
        let mut write = self.state.write(caller.actor()).await?;
        // The stack may have been deleted while the template rendered.
        store::stacks::get(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Stack"))?;
        let object = store_templates::insert_rendered(
            write.conn(),
            id.0,
            &yaml,
            &template,
            &body.parameters,
        )
        .await?;
        write
            .record(Change::DeploymentObjectCreated { object: &object })
            .await?;
        write.commit().await?;
        Ok(Instantiated::Created(Json(object)))
    }
}
