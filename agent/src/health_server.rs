//! The agent's own HTTP endpoints on `agent.health_bind_address:agent.health_port`:
//!
//! * `GET /healthz`: liveness, always `OK`;
//! * `GET /readyz`: 200 `Ready` when the last heartbeat reached the broker and the Kubernetes API
//!   answers now, else 503 with the reason;
//! * `GET /health`: the same as JSON detail (status, kubernetes, broker, uptime, version);
//! * `GET /metrics`: Prometheus text format.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::json;

use crate::context::AgentContext;

/// How long `/readyz` and `/health` wait for the Kubernetes API.
const KUBE_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Broker reachability as last observed by the heartbeat.
#[derive(Debug, Default)]
pub struct ConnectionStatus {
    inner: RwLock<BrokerStatus>,
}

/// A copy of the broker's status.
#[derive(Debug, Clone, Default)]
pub struct BrokerStatus {
    /// The last heartbeat (or the start-up checks) reached the broker.
    pub connected: bool,
    /// Why the last heartbeat failed.
    pub error: Option<String>,
    /// When the broker last accepted a heartbeat.
    pub last_heartbeat: Option<DateTime<Utc>>,
}

impl ConnectionStatus {
    /// The broker answered (start-up checks).
    pub fn broker_reached(&self) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        s.connected = true;
        s.error = None;
    }

    /// The broker accepted a heartbeat.
    pub fn heartbeat_ok(&self) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        s.connected = true;
        s.error = None;
        s.last_heartbeat = Some(Utc::now());
    }

    /// A heartbeat failed.
    pub fn heartbeat_failed(&self, error: String) {
        let mut s = self.inner.write().unwrap_or_else(|e| e.into_inner());
        s.connected = false;
        s.error = Some(error);
    }

    /// The broker's status now.
    pub fn broker(&self) -> BrokerStatus {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Binds the health server's address (an error if it is taken).
pub async fn bind(ctx: &AgentContext) -> anyhow::Result<TcpAcceptor> {
    let ip: IpAddr = ctx.settings.health_bind_address.parse()?;
    let addr = SocketAddr::new(ip, ctx.settings.health_port);
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| anyhow::anyhow!("agent.health_port: cannot listen on {addr}: {e}"))?;
    Ok(acceptor)
}

/// Serves the endpoints until the agent shuts down.
pub async fn serve(ctx: Arc<AgentContext>, acceptor: TcpAcceptor) {
    let bound = acceptor
        .local_addr()
        .first()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(address = %bound, "health server listening");
    let app = Route::new()
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/health", get(health))
        .at("/metrics", get(metrics))
        .data(ctx.clone());
    let cancel = ctx.cancel.clone();
    let result = poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            app,
            async move { cancel.cancelled().await },
            Some(Duration::from_secs(2)),
        )
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "health server stopped");
    }
}

/// Asks the Kubernetes API for its version: None when it answers, else why not.
async fn kubernetes_problem(ctx: &AgentContext) -> Option<String> {
    match tokio::time::timeout(KUBE_PROBE_TIMEOUT, ctx.kube.apiserver_version()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("Kubernetes API unavailable: {e}")),
        Err(_) => Some(format!(
            "Kubernetes API did not answer within {KUBE_PROBE_TIMEOUT:?}"
        )),
    }
}

#[handler]
fn healthz() -> &'static str {
    "OK"
}

#[handler]
async fn readyz(ctx: Data<&Arc<AgentContext>>) -> Response {
    let broker = ctx.status.broker();
    if !broker.connected {
        let why = broker.error.unwrap_or_else(|| "not connected".into());
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Broker unavailable: {why}"),
        )
            .into_response();
    }
    match kubernetes_problem(&ctx).await {
        None => "Ready".into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

#[handler]
async fn health(ctx: Data<&Arc<AgentContext>>) -> Response {
    let kube_problem = kubernetes_problem(&ctx).await;
    let broker = ctx.status.broker();
    let healthy = kube_problem.is_none() && broker.connected;
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "kubernetes": {
            "connected": kube_problem.is_none(),
            "error": kube_problem,
        },
        "broker": {
            "connected": broker.connected,
            "last_heartbeat": broker
                .last_heartbeat
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "error": broker.error,
        },
        "active": ctx.is_active(),
        "applied_deployment_objects": ctx.applied.len(),
        "uptime_seconds": ctx.started_at.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

#[handler]
fn metrics(ctx: Data<&Arc<AgentContext>>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(ctx.metrics.render())
}
