//! Stacks, their labels and annotations, their deployment objects and their health.

use brokkr_schema::models::{
    DeploymentHealthResponse, DeploymentObject, NewDeploymentObject, NewStack, NewStackAnnotation,
    Stack, StackAnnotation, StackHealthResponse, StackLabel, StackRolloutStatus,
    TemplateInstantiationRequest, UpdateStack,
};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `GET /stacks`: all for the admin, its own for a generator.
    pub async fn list_stacks(&self) -> Result<Vec<Stack>> {
        self.json(Call::new(Method::GET, &["api", "v1", "stacks"]))
            .await
    }

    /// `POST /stacks`.
    pub async fn create_stack(&self, body: &NewStack) -> Result<Stack> {
        self.json(Call::new(Method::POST, &["api", "v1", "stacks"]).body(body))
            .await
    }

    /// `GET /stacks/{id}`.
    pub async fn get_stack(&self, id: Uuid) -> Result<Stack> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "stacks", &id.to_string()],
        ))
        .await
    }

    /// `PUT /stacks/{id}`.
    pub async fn update_stack(&self, id: Uuid, body: &UpdateStack) -> Result<Stack> {
        self.json(Call::new(Method::PUT, &["api", "v1", "stacks", &id.to_string()]).body(body))
            .await
    }

    /// `DELETE /stacks/{id}` (agents remove what they applied for it).
    pub async fn delete_stack(&self, id: Uuid) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "stacks", &id.to_string()],
        ))
        .await
    }

    /// `GET /stacks/{id}/labels`.
    pub async fn list_stack_labels(&self, id: Uuid) -> Result<Vec<StackLabel>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "stacks", &id.to_string(), "labels"],
        ))
        .await
    }

    /// `POST /stacks/{id}/labels`.
    pub async fn add_stack_label(&self, id: Uuid, label: &str) -> Result<StackLabel> {
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "stacks", &id.to_string(), "labels"],
            )
            .body(&label.to_owned()),
        )
        .await
    }

    /// `DELETE /stacks/{id}/labels/{label}`.
    pub async fn remove_stack_label(&self, id: Uuid, label: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "stacks", &id.to_string(), "labels", label],
        ))
        .await
    }

    /// `GET /stacks/{id}/annotations`.
    pub async fn list_stack_annotations(&self, id: Uuid) -> Result<Vec<StackAnnotation>> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "stacks", &id.to_string(), "annotations"],
        ))
        .await
    }

    /// `POST /stacks/{id}/annotations`.
    pub async fn add_stack_annotation(
        &self,
        id: Uuid,
        key: &str,
        value: &str,
    ) -> Result<StackAnnotation> {
        let body = NewStackAnnotation {
            stack_id: None,
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.json(
            Call::new(
                Method::POST,
                &["api", "v1", "stacks", &id.to_string(), "annotations"],
            )
            .body(&body),
        )
        .await
    }

    /// `DELETE /stacks/{id}/annotations/{key}`.
    pub async fn remove_stack_annotation(&self, id: Uuid, key: &str) -> Result<()> {
        self.unit(Call::new(
            Method::DELETE,
            &["api", "v1", "stacks", &id.to_string(), "annotations", key],
        ))
        .await
    }

    /// `GET /stacks/{id}/deployment-objects`, newest first.
    pub async fn list_deployment_objects(&self, stack: Uuid) -> Result<Vec<DeploymentObject>> {
        self.json(Call::new(
            Method::GET,
            &[
                "api",
                "v1",
                "stacks",
                &stack.to_string(),
                "deployment-objects",
            ],
        ))
        .await
    }

    /// `POST /stacks/{id}/deployment-objects`: a new version of the stack's desired state.
    pub async fn create_deployment_object(
        &self,
        stack: Uuid,
        body: &NewDeploymentObject,
    ) -> Result<DeploymentObject> {
        self.json(
            Call::new(
                Method::POST,
                &[
                    "api",
                    "v1",
                    "stacks",
                    &stack.to_string(),
                    "deployment-objects",
                ],
            )
            .body(body),
        )
        .await
    }

    /// `GET /deployment-objects/{id}`.
    pub async fn get_deployment_object(&self, id: Uuid) -> Result<DeploymentObject> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "deployment-objects", &id.to_string()],
        ))
        .await
    }

    /// `POST /stacks/{id}/deployment-objects/from-template`: renders a template into a new
    /// deployment object.
    pub async fn instantiate_template(
        &self,
        stack: Uuid,
        body: &TemplateInstantiationRequest,
    ) -> Result<DeploymentObject> {
        self.json(
            Call::new(
                Method::POST,
                &[
                    "api",
                    "v1",
                    "stacks",
                    &stack.to_string(),
                    "deployment-objects",
                    "from-template",
                ],
            )
            .body(body),
        )
        .await
    }

    /// `GET /deployment-objects/{id}/health`: every agent's report and the worst status.
    pub async fn deployment_health(&self, id: Uuid) -> Result<DeploymentHealthResponse> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "deployment-objects", &id.to_string(), "health"],
        ))
        .await
    }

    /// `GET /stacks/{id}/rollout`: each agent running the stack and where it stands with the
    /// stack's newest deployment object (admin or owning generator).
    pub async fn stack_rollout_status(&self, id: Uuid) -> Result<StackRolloutStatus> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "stacks", &id.to_string(), "rollout"],
        ))
        .await
    }

    /// `GET /stacks/{id}/health`.
    pub async fn stack_health(&self, id: Uuid) -> Result<StackHealthResponse> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "stacks", &id.to_string(), "health"],
        ))
        .await
    }
}
