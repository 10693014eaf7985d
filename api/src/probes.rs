//! Unauthenticated operational endpoints: liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use crate::http::json_error;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
#[handler]
pub fn healthz() -> &'static str {
    "OK"
}

/// `GET /readyz`: the database answers (503 otherwise), so a load balancer stops routing here.
#[handler]
pub async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&state.pool),
    )
    .await;
    match check {
        Ok(Ok(_)) => Response::builder().content_type("text/plain").body("Ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "database did not answer in time",
        ),
    }
}

/// `GET /metrics`: Prometheus text exposition.
#[handler]
pub async fn metrics(state: Data<&Arc<AppState>>) -> Response {
    let text = state.metrics.scrape(&state.pool).await;
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
