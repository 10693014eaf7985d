//! The worker's own HTTP endpoints: `/healthz` (alive: the process runs and can still recover),
//! `/readyz` (the database answers, every queue consumer runs and the job-announcement listener
//! is connected), `/metrics` (Prometheus).

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{EndpointExt, Response, Route, handler};
use sqlx::PgPool;

use crate::consumers::ConsumerStatus;
use crate::metrics::WorkerMetrics;
use crate::queue_wakeups::JobAnnouncements;

/// What the endpoints read.
#[derive(Clone)]
pub struct ServerState {
    pub pool: PgPool,
    pub metrics: Arc<WorkerMetrics>,
    /// Queue names shown in the queue metrics.
    pub queues: Arc<Vec<String>>,
    /// One per queue: is its consumer running?
    pub consumers: Arc<Vec<Arc<ConsumerStatus>>>,
    /// The job-announcement listener.
    pub announcements: Arc<JobAnnouncements>,
}

#[handler]
fn healthz() -> &'static str {
    "OK"
}

/// Well inside the 1 s a Kubernetes probe waits by default.
const READINESS_TIMEOUT: Duration = Duration::from_millis(800);

#[handler]
async fn readyz(state: Data<&ServerState>) -> Response {
    match readiness(&state).await {
        Ok(()) => Response::builder().content_type("text/plain").body("Ready"),
        Err(error) => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .content_type("application/json")
            .body(serde_json::json!({ "error": error }).to_string()),
    }
}

/// Why the worker is not ready, if it is not (shared by `/readyz` and `brokkr_ready`).
async fn readiness(state: &ServerState) -> Result<(), String> {
    if let Err(e) = brokkr_schema::store::outage::probe(&state.pool, READINESS_TIMEOUT).await {
        return Err(format!("database unreachable: {e}"));
    }
    let stopped: Vec<&str> = state
        .consumers
        .iter()
        .filter(|c| !c.is_running())
        .map(|c| c.queue)
        .collect();
    if !stopped.is_empty() {
        return Err(format!(
            "queue consumers waiting for the database: {}",
            stopped.join(", ")
        ));
    }
    if !state.announcements.is_listening() {
        return Err("not listening for new jobs (reconnecting to the database)".into());
    }
    Ok(())
}

#[handler]
async fn metrics(state: Data<&ServerState>) -> Response {
    state.metrics.record_consumers(&state.consumers);
    let ready = readiness(&state).await.is_ok();
    let text = state
        .metrics
        .scrape(&state.pool, &state.queues, ready)
        .await;
    Response::builder()
        .content_type(brokkr_runtime::metrics::CONTENT_TYPE)
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
