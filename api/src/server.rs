//! Start-up and serving: connect, migrate, bootstrap the admin, listen for notifications,
//! serve HTTP until a shutdown signal, then drain in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::config::Settings;
use brokkr_schema::store;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::middleware::{Cors, Tracing};
use poem::{EndpointExt, Route, Server};
use poem_openapi::OpenApiService;

use crate::metrics::Metrics;
use crate::state::AppState;
use crate::{
    agent_events, agents, audit, auth, deployment_objects, generators, http, probes, propagation,
    stacks, target_state, templates, webhook_deliveries, webhooks,
};

/// Every handler group of `/api/v1`.
pub type ApiV1 = (
    auth::AuthApi,
    agents::AgentsApi,
    target_state::TargetStateApi,
    agent_events::AgentEventsApi,
    generators::GeneratorsApi,
    stacks::StacksApi,
    deployment_objects::DeploymentObjectsApi,
    audit::AuditApi,
    webhooks::WebhooksApi,
    webhook_deliveries::WebhookDeliveriesApi,
    templates::TemplatesApi,
);

/// The OpenAPI service of `/api/v1`.
pub fn openapi(state: &Arc<AppState>) -> OpenApiService<ApiV1, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            agents::AgentsApi::new(state.clone()),
            target_state::TargetStateApi::new(state.clone()),
            agent_events::AgentEventsApi::new(state.clone()),
            generators::GeneratorsApi::new(state.clone()),
            stacks::StacksApi::new(state.clone()),
            deployment_objects::DeploymentObjectsApi::new(state.clone()),
            audit::AuditApi::new(state.clone()),
            webhooks::WebhooksApi::new(state.clone()),
            webhook_deliveries::WebhookDeliveriesApi::new(state.clone()),
            templates::TemplatesApi::new(state.clone()),
        ),
        "Brokkr",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Control plane for fleets of Kubernetes clusters.")
    .server("/api/v1")
}

/// The whole HTTP application.
pub fn app(state: Arc<AppState>) -> impl poem::Endpoint {
    let api = openapi(&state);
    let spec = api.spec_endpoint();
    let swagger = api.swagger_ui();
    let cors_settings = &state.settings.cors;
    let mut cors = Cors::new().max_age(cors_settings.max_age_seconds.min(i32::MAX as u64) as i32);
    if !cors_settings.allowed_origins.iter().any(|o| o == "*") {
        cors = cors.allow_origins(cors_settings.allowed_origins.iter().map(String::as_str));
    }
    for method in &cors_settings.allowed_methods {
        if let Ok(m) = method.parse::<poem::http::Method>() {
            cors = cors.allow_method(m);
        }
    }
    cors = cors.allow_headers(cors_settings.allowed_headers.iter().map(String::as_str));
    Route::new()
        .nest("/api/v1", api)
        .at("/docs/openapi.json", spec)
        .nest("/swagger-ui", swagger)
        .at("/healthz", poem::get(probes::healthz))
        .at("/readyz", poem::get(probes::readyz))
        .at("/metrics", poem::get(probes::metrics))
        .with(cors)
        .around(http::envelope)
        .with(Tracing)
        .data(state)
}

/// Connects, migrates (unless disabled) and starts the notification listener.
pub async fn prepare(settings: Settings) -> anyhow::Result<Arc<AppState>> {
    let pool = store::connect(&settings.database).await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    crate::bootstrap::ensure_admin(&pool, &settings).await?;
    let metrics = Arc::new(Metrics::new()?);
    let state = Arc::new(AppState::new(pool, settings, metrics));
    tokio::spawn(propagation::run_listener(
        state.pool.clone(),
        state.channels.clone(),
        state.propagation.clone(),
        state.auth_cache.clone(),
    ));
    Ok(state)
}

/// Serves on `broker.listen_addr` until `shutdown` resolves, then drains in-flight requests for
/// up to `broker.shutdown_grace_seconds`.
pub async fn serve(
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let acceptor = TcpListener::bind(state.settings.broker.listen_addr.clone())
        .into_acceptor()
        .await?;
    serve_on(state, acceptor, shutdown).await
}

/// Serves on an already bound acceptor (tests bind port 0).
pub async fn serve_on(
    state: Arc<AppState>,
    acceptor: impl Acceptor + 'static,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    for addr in acceptor.local_addr() {
        tracing::info!(addr = %addr, "brokkr-broker listening");
    }
    let grace = Duration::from_secs(state.settings.broker.shutdown_grace_seconds);
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state), shutdown, Some(grace))
        .await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}
