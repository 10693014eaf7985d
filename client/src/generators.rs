//! Generators: the identities of CI pipelines and provisioning systems.

use brokkr_schema::models::{
    AgentRegistration, Generator, GeneratorPakResponse, NewGenerator, UpdateGenerator,
};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /generators`.
    pub async fn list_generators(&self) -> Result<Vec<Generator>> {
        self.json(Call::new(Method::GET, &["api", "v1", "generators"]))
            .await
    }

    /// `POST /generators` (admin): the generator and its PAK, shown this once.
    pub async fn create_generator(&self, body: &NewGenerator) -> Result<GeneratorPakResponse> {
        self.json(Call::new(Method::POST, &["api", "v1", "generators"]).body(body))
            .await
    }

    /// `GET /generators/{id}`.
    pub async fn get_generator(&self, id: Uuid) -> Result<Generator> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "generators", &id.to_string()],
        ))
        .await
    }

    /// `PUT /generators/{id}`.
    pub async fn update_generator(&self, id: Uuid, body: &UpdateGenerator) -> Result<Generator> {
        self.json(Call::new(Method::PUT, &["api", "v1", "generators", &id.to_string()]).body(body))
            .await
    }

    /// `DELETE /generators/{id}`.
    pub async fn delete_generator(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "generators", &id.to_string()],
        ))
        .await
    }

    /// `POST /generators/{id}/rotate-pak`.
    pub async fn rotate_generator_pak(&self, id: Uuid) -> Result<GeneratorPakResponse> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "generators", &id.to_string(), "rotate-pak"],
        ))
        .await
    }

    /// `GET /generators/{id}/registered-agents`.
    pub async fn list_registered_agents(&self, id: Uuid) -> Result<Vec<AgentRegistration>> {
        self.json(Call::new(
            Method::GET,
            &[
                "api",
                "v1",
                "generators",
                &id.to_string(),
                "registered-agents",
            ],
        ))
        .await
    }
}
