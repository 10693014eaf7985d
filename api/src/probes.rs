//! Unauthenticated operational endpoints: liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use brokkr_schema::store::outage;

use crate::http::json_error;
use crate::state::AppState;

/// `GET /healthz`: the process is up.
#[handler]
pub fn healthz() -> &'static str {
    "OK"
}

/// `GET /readyz`: 200 while the database answers and the notification listener is connected
/// (without it, long polls would not wake and cached answers could be stale); 503 otherwise,
/// so a load balancer stops routing here until both are back.
#[handler]
pub async fn readyz(state: Data<&Arc<AppState>>) -> Response {
    match readiness(&state).await {
        Ok(()) => Response::builder().content_type("text/plain").body("Ready"),
        Err(reason) => json_error(StatusCode::SERVICE_UNAVAILABLE, &reason),
    }
}

/// Why the broker is not ready, if it is not (shared by `/readyz` and `brokkr_ready`).
async fn readiness(state: &AppState) -> Result<(), String> {
    // Well inside the 1 s a Kubernetes probe waits by default.
    match outage::probe(&state.pool, Duration::from_millis(800)).await {
        Ok(()) if state.propagation.is_live() => Ok(()),
        Ok(()) => {
            Err("not listening for change notifications (reconnecting to the database)".to_owned())
        }
        Err(e) => {
            tracing::debug!(error = %e, "readiness: database unreachable");
            Err(format!("database unreachable: {e}"))
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
#[handler]
pub async fn metrics(state: Data<&Arc<AppState>>) -> Response {
    let ready = readiness(&state).await.is_ok();
    let text = state.metrics.scrape(&state.pool, ready).await;
    Response::builder()
        .content_type(brokkr_runtime::metrics::CONTENT_TYPE)
        .body(text)
}
