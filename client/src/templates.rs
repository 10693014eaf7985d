//! Stack templates and template rollouts.

use brokkr_schema::models::{CreateTemplateRequest, StackTemplate, TemplateRollout};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /templates`.
    pub async fn list_templates(&self) -> Result<Vec<StackTemplate>> {
        self.json(Call::new(Method::GET, &["api", "v1", "templates"]))
            .await
    }

    /// `POST /templates`.
    pub async fn create_template(&self, body: &CreateTemplateRequest) -> Result<StackTemplate> {
        self.json(Call::new(Method::POST, &["api", "v1", "templates"]).body(body))
            .await
    }

    /// `GET /templates/{id}`.
    pub async fn get_template(&self, id: Uuid) -> Result<StackTemplate> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "templates", &id.to_string()],
        ))
        .await
    }

    /// `DELETE /templates/{id}`.
    pub async fn delete_template(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "templates", &id.to_string()],
        ))
        .await
    }

    /// `POST /templates/{id}/rollout`: re-renders every stack instantiated from the template.
    pub async fn rollout_template(&self, id: Uuid) -> Result<TemplateRollout> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "templates", &id.to_string(), "rollout"],
        ))
        .await
    }

    /// `GET /templates/{id}/rollouts/{rollout_id}`.
    pub async fn get_template_rollout(&self, id: Uuid, rollout: Uuid) -> Result<TemplateRollout> {
        self.json(Call::new(
            Method::GET,
            &[
                "api",
                "v1",
                "templates",
                &id.to_string(),
                "rollouts",
                &rollout.to_string(),
            ],
        ))
        .await
    }
}
