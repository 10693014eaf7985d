//! The worker's own HTTP endpoints: `/healthz` (alive), `/readyz` (the database answers),
//! `/metrics` (Prometheus).

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Response, Route, handler};
use sqlx::PgPool;

use crate::metrics::WorkerMetrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct ServerState {
    pub pool: PgPool,
    pub metrics: Arc<WorkerMetrics>,
    /// Queue names shown in the queue metrics.
    pub queues: Arc<Vec<String>>,
}

#[handler]
fn healthz() -> &'static str {
    "OK"
}

#[handler]
async fn readyz(state: Data<&ServerState>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool),
    )
    .await;
    match check {
        Ok(Ok(_)) => Response::builder().content_type("text/plain").body("Ready"),
        _ => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .body(r#"{"error":"database unreachable"}"#),
    }
}

#[handler]
async fn metrics(state: Data<&ServerState>) -> Response {
    let text = state.metrics.scrape(&state.pool, &state.queues).await;
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// The routes of the worker's HTTP server.
pub fn app(state: ServerState) -> impl poem::Endpoint {
    Route::new()
        .at("/healthz", poem::get(healthz))
        .at("/readyz", poem::get(readyz))
        .at("/metrics", poem::get(metrics))
        .data(state)
}
