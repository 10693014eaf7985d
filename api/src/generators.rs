//! `/generators`: automation identities (CI pipelines, provisioning systems) that own stacks.
//!
//! The admin manages all of them; a generator reads, changes, rotates and deletes only itself.
//! Deleting a generator deletes its stacks, each with a deletion marker so agents clean up.

use std::sync::Arc;

use brokkr_schema::models::{Generator, GeneratorPakResponse, NewGenerator, UpdateGenerator};
use brokkr_schema::pak::Pak;
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::generators::ADMIN_GENERATOR_ID;
use brokkr_schema::store::registrations::SYSTEM_GENERATOR_NAME;
use brokkr_schema::store::{self};
use brokkr_schema::validation::{self, MAX_NAME_LEN};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::agents::check_body_id;
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult, NoContent};
use crate::state::AppState;

/// Handlers of `/generators`.
pub struct GeneratorsApi {
    state: Arc<AppState>,
}

impl GeneratorsApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

fn refuse_builtin(id: Uuid, what: &str) -> ApiResult<()> {
    if id == ADMIN_GENERATOR_ID {
        return Err(ApiError::bad_request(format!(
            "the system generator cannot be {what}"
        )));
    }
    Ok(())
}

/// The system generator's name is reserved.
fn refuse_reserved_name(name: &str) -> ApiResult<()> {
    if name == SYSTEM_GENERATOR_NAME {
        return Err(ApiError::bad_request(format!(
            "the generator name {SYSTEM_GENERATOR_NAME} is reserved"
        )));
    }
    Ok(())
}

#[OpenApi(tag = "ApiTags::Generators")]
impl GeneratorsApi {
    /// Lists generators (admin).
    #[oai(path = "/generators", method = "get", operation_id = "listGenerators")]
    async fn list_generators(&self, auth: Pakauth) -> ApiResult<Json<Vec<Generator>>> {
        access::require(&auth.0, Action::List, Resource::Generator, false)?;
        Ok(Json(store::generators::list(&self.state.pool).await?))
    }

    /// Creates a generator and returns its PAK, shown only this once (admin).
    #[oai(
        path = "/generators",
        method = "post",
        operation_id = "createGenerator"
    )]
    async fn create_generator(
        &self,
        auth: Pakauth,
        body: Json<NewGenerator>,
    ) -> ApiResult<Json<GeneratorPakResponse>> {
        access::require(&auth.0, Action::Create, Resource::Generator, false)?;
        let name = body.0.name.trim();
        validation::name("Generator name", name, Some(MAX_NAME_LEN))?;
        refuse_reserved_name(name)?;
        validation::description(body.0.description.as_deref())?;
        let pak = Pak::generate(&self.state.settings.pak);
        let mut write = self.state.write(auth.0.actor()).await?;
        let generator = store::generators::create(
            write.conn(),
            name,
            body.0.description.as_deref(),
            &pak.hash(),
        )
        .await?;
        write
            .record(Change::GeneratorCreated {
                id: generator.id,
                name: &generator.name,
            })
            .await?;
        write.commit().await?;
        Ok(Json(GeneratorPakResponse {
            generator,
            pak: pak.as_str().to_owned(),
        }))
    }

    /// Reads a generator (admin, or the generator itself).
    #[oai(
        path = "/generators/:id",
        method = "get",
        operation_id = "getGenerator"
    )]
    async fn get_generator(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<Generator>> {
        access::on_generator(&auth.0, Action::Read, id.0)?;
        let mut conn = self.state.pool.acquire().await?;
        let generator = store::generators::get(&mut conn, id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Generator"))?;
        Ok(Json(generator))
    }

    /// Changes a generator's name or description (admin, or the generator itself); only the
    /// admin may change `is_active`. Other fields of the body are ignored.
    #[oai(
        path = "/generators/:id",
        method = "put",
        operation_id = "updateGenerator"
    )]
    async fn update_generator(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<UpdateGenerator>,
    ) -> ApiResult<Json<Generator>> {
        access::on_generator(&auth.0, Action::Update, id.0)?;
        refuse_builtin(id.0, "changed")?;
        let body = body.0;
        check_body_id(body.id, id.0, "id")?;
        let name = body.name.as_deref().map(str::trim);
        if let Some(n) = name {
            validation::name("Generator name", n, Some(MAX_NAME_LEN))?;
            refuse_reserved_name(n)?;
        }
        validation::description(body.description.as_deref())?;
        let is_active = if auth.0.is_admin() {
            body.is_active
        } else {
            None
        };
        let mut write = self.state.write(auth.0.actor()).await?;
        let generator = store::generators::update(
            write.conn(),
            id.0,
            name,
            body.description.as_deref(),
            is_active,
        )
        .await
        .map_err(|e| ApiError::from_store(e, "Generator"))?;
        write
            .record(Change::GeneratorUpdated {
                id: generator.id,
                name: &generator.name,
            })
            .await?;
        write.commit().await?;
        Ok(Json(generator))
    }

    /// Deletes a generator and its stacks (admin, or the generator itself).
    #[oai(
        path = "/generators/:id",
        method = "delete",
        operation_id = "deleteGenerator"
    )]
    async fn delete_generator(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        access::on_generator(&auth.0, Action::Delete, id.0)?;
        refuse_builtin(id.0, "deleted")?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let generator = store::generators::soft_delete(write.conn(), id.0)
            .await
            .map_err(|e| ApiError::from_store(e, "Generator"))?;
        for stack_id in store::stacks::ids_owned_by(write.conn(), id.0).await? {
            let (stack, marker) = store::stacks::soft_delete(write.conn(), stack_id).await?;
            write
                .record(Change::DeploymentObjectCreated { object: &marker })
                .await?;
            write
                .record(Change::StackDeleted {
                    id: stack.id,
                    name: &stack.name,
                    generator_id: stack.generator_id,
                })
                .await?;
        }
        write
            .record(Change::GeneratorDeleted {
                id: generator.id,
                name: &generator.name,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Issues a new PAK; the old one stops working at once (admin, or the generator itself).
    #[oai(
        path = "/generators/:id/rotate-pak",
        method = "post",
        operation_id = "rotateGeneratorPak"
    )]
    async fn rotate_generator_pak(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
    ) -> ApiResult<Json<GeneratorPakResponse>> {
        access::on_generator(&auth.0, Action::RotateKey, id.0)?;
        refuse_builtin(id.0, "given a PAK")?;
        let pak = Pak::generate(&self.state.settings.pak);
        let mut write = self.state.write(auth.0.actor()).await?;
        let generator = store::generators::set_pak_hash(write.conn(), id.0, &pak.hash())
            .await
            .map_err(|e| ApiError::from_store(e, "Generator"))?;
        write
            .record(Change::GeneratorPakRotated { id: id.0 })
            .await?;
        write.commit().await?;
        Ok(Json(GeneratorPakResponse {
            generator,
            pak: pak.as_str().to_owned(),
        }))
    }
}
