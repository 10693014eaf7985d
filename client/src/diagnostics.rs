//! Diagnostic requests: an admin asks an agent to collect pod statuses, events and logs of a
//! deployment object; the agent claims the request and submits what it found.

use brokkr_schema::models::{
    CreateDiagnosticRequest, DiagnosticRequest, DiagnosticResponse, SubmitDiagnosticResult,
};
use reqwest::Method;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

impl Client {
    /// `POST /deployment-objects/{id}/diagnostics`.
    pub async fn request_diagnostics(
        &self,
        deployment_object: Uuid,
        body: &CreateDiagnosticRequest,
    ) -> Result<DiagnosticRequest> {
        self.json(
            Call::new(
                Method::POST,
                &[
                    "api",
                    "v1",
                    "deployment-objects",
                    &deployment_object.to_string(),
                    "diagnostics",
                ],
            )
            .body(body),
        )
        .await
    }

    /// `GET /diagnostics/{id}`: the request and, once submitted, its result.
    pub async fn get_diagnostic(&self, id: Uuid) -> Result<DiagnosticResponse> {
        self.json(Call::new(
            Method::GET,
            &["api", "v1", "diagnostics", &id.to_string()],
        ))
        .await
    }

    /// `GET /agents/{id}/diagnostics/pending`, oldest first.
    pub async fn pending_diagnostics(&self, agent: Uuid) -> Result<Vec<DiagnosticRequest>> {
        self.json(Call::new(
            Method::GET,
            &[
                "api",
                "v1",
                "agents",
                &agent.to_string(),
                "diagnostics",
                "pending",
            ],
        ))
        .await
    }

    /// `POST /diagnostics/{id}/claim` (409 when another claim won).
    pub async fn claim_diagnostic(&self, id: Uuid) -> Result<DiagnosticRequest> {
        self.json(Call::new(
            Method::POST,
            &["api", "v1", "diagnostics", &id.to_string(), "claim"],
        ))
        .await
    }

    /// `POST /diagnostics/{id}/result`.
    pub async fn submit_diagnostic_result(
        &self,
        id: Uuid,
        body: &SubmitDiagnosticResult,
    ) -> Result<()> {
        self.unit(
            Call::new(
                Method::POST,
                &["api", "v1", "diagnostics", &id.to_string(), "result"],
            )
            .body(body),
        )
        .await
    }
}
