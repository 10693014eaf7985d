//! Stack templates and template rollouts.

use brokkr_schema::models::{
    AddTemplateAnnotationRequest, CreateTemplateRequest, StackTemplate, TemplateAnnotation,
    TemplateLabel, TemplateRollout, UpdateTemplateRequest,
};
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

    /// `PUT /templates/{id}`: stores the next version of the template.
    pub async fn update_template(
        &self,
        id: Uuid,
        body: &UpdateTemplateRequest,
    ) -> Result<StackTemplate> {
        self.json(Call::new(Method::PUT, &["api", "v1", "templates", &id.to_string()]).body(body))
            .await
    }

    /// `GET /templates/{id}/labels`.
    pub async fn list_template_labels(&self, id: Uuid) -> Result<Vec<TemplateLabel>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "templates", &id.to_string(), "labels"],
        ))
        .await
    }

    /// `POST /templates/{id}/labels`.
    pub async fn add_template_label(&self, id: Uuid, label: &str) -> Result<TemplateLabel> {
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "templates", &id.to_string(), "labels"],
            )
            .body(&label.to_owned()),
        )
        .await
    }

    /// `DELETE /templates/{id}/labels/{label}`.
    pub async fn remove_template_label(&self, id: Uuid, label: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "templates", &id.to_string(), "labels", label],
        ))
        .await
    }

    /// `GET /templates/{id}/annotations`.
    pub async fn list_template_annotations(&self, id: Uuid) -> Result<Vec<TemplateAnnotation>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "templates", &id.to_string(), "annotations"],
        ))
        .await
    }

    /// `POST /templates/{id}/annotations`.
    pub async fn add_template_annotation(
        &self,
        id: Uuid,
        key: &str,
        value: &str,
    ) -> Result<TemplateAnnotation> {
        let body = AddTemplateAnnotationRequest {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "templates", &id.to_string(), "annotations"],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /templates/{id}/annotations/{key}`.
    pub async fn remove_template_annotation(&self, id: Uuid, key: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &[
                "api",
                "v1",
                "templates",
                &id.to_string(),
                "annotations",
                key,
            ],
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
