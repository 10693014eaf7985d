//! Start-up and serving: connect, migrate, bootstrap the admin, listen for notifications,
//! serve HTTP until a shutdown signal, then drain in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::config::Settings;
use brokkr_schema::live::{ConfigSource, LiveSettings};
use brokkr_schema::store;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, Server};
use poem_openapi::OpenApiService;

use crate::metrics::Metrics;
use crate::state::AppState;
use crate::{
    agent_events, agents, audit, auth, config_reload, deployment_objects, diagnostics, generators,
    health, http, probes, propagation, registrations, stacks, target_state, templates,
    webhook_deliveries, webhooks, work_orders,
};

/// Every handler group of `/api/v1`.
pub type ApiV1 = (
    auth::AuthApi,
    agents::AgentsApi,
    target_state::TargetStateApi,
    agent_events::AgentEventsApi,
    generators::GeneratorsApi,
    registrations::RegistrationsApi,
    stacks::StacksApi,
    deployment_objects::DeploymentObjectsApi,
    audit::AuditApi,
    webhooks::WebhooksApi,
    webhook_deliveries::WebhookDeliveriesApi,
    (
        diagnostics::DiagnosticsApi,
        health::HealthApi,
        config_reload::ConfigApi,
    ),
    work_orders::WorkOrdersApi,
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
            registrations::RegistrationsApi::new(state.clone()),
            stacks::StacksApi::new(state.clone()),
            deployment_objects::DeploymentObjectsApi::new(state.clone()),
            audit::AuditApi::new(state.clone()),
            webhooks::WebhooksApi::new(state.clone()),
            webhook_deliveries::WebhookDeliveriesApi::new(state.clone()),
            (
                diagnostics::DiagnosticsApi::new(state.clone()),
                health::HealthApi::new(state.clone()),
                config_reload::ConfigApi::new(state.clone()),
            ),
            work_orders::WorkOrdersApi::new(state.clone()),
            templates::TemplatesApi::new(state.clone()),
        ),
        "Brokkr",
        env!("CARGO_PKG_VERSION"),
    )
    .description("Control plane for fleets of Kubernetes clusters.")
    .license(
        poem_openapi::LicenseObject::new(env!("CARGO_PKG_LICENSE"))
            .url("https://www.apache.org/licenses/LICENSE-2.0"),
    )
    .server("/api/v1")
}

/// The whole HTTP application.
pub fn app(state: Arc<AppState>) -> impl poem::Endpoint {
    let api = openapi(&state);
    let document = match crate::openapi::document(&api) {
        Ok(doc) => crate::openapi::render(&doc),
        Err(e) => {
            tracing::error!(error = %e, "serving the OpenAPI document as poem-openapi made it");
            api.spec()
        }
    };
    let routes = Arc::new(crate::request_span::Routes::from_document(
        &document, "/api/v1",
    ));
    let spec = poem::get(poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    }));
    let swagger = api.swagger_ui();
    let cors = crate::cors::LiveCors::new(state.live.clone());
    Route::new()
        .nest("/api/v1", api)
        .at("/docs/openapi.json", spec)
        .nest("/swagger-ui", swagger)
        .at("/healthz", poem::get(probes::healthz))
        .at("/readyz", poem::get(probes::readyz))
        .at("/metrics", poem::get(probes::metrics))
        .with(cors)
        .around(http::envelope)
        .around(move |ep, req| crate::request_span::traced(ep, req, routes.clone()))
        .data(state)
}

/// Connects, migrates (unless disabled) and starts the notification listener, with the settings
/// of this process's sources (`BROKKR_CONFIG_FILE` and the environment) for reloads.
pub async fn prepare(settings: Settings) -> anyhow::Result<Arc<AppState>> {
    prepare_live(LiveSettings::new(settings, ConfigSource::process(None))).await
}

/// [`prepare`] for settings that follow reloads: the config file is watched and reload requests
/// of other replicas (`POST /admin/config/reload`) are followed.
pub async fn prepare_live(live: Arc<LiveSettings>) -> anyhow::Result<Arc<AppState>> {
    if let Some(renderer) = &live.current().broker.template_renderer {
        brokkr_runtime::render_sandbox::set_renderer(renderer.into());
    }
    let settings = (*live.current()).clone();
    let pool = store::connect(&settings.database).await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    crate::bootstrap::ensure_admin(&pool, &settings).await?;
    store::registrations::ensure_system_generator(&pool).await?;
    let metrics = Arc::new(Metrics::new()?);
    let state = Arc::new(AppState::with_live(pool, live.clone(), metrics));
    tokio::spawn(propagation::run_listener(
        state.pool.clone(),
        state.channels.clone(),
        state.propagation.clone(),
        state.auth_cache.clone(),
    ));
    let stop = state.stopped.subscribe();
    tokio::spawn(live.clone().watch_file(
        stop.clone(),
        crate::config_reload::report_reload(state.clone(), "config file changed"),
    ));
    tokio::spawn(store::notify::follow_reloads(
        state.pool.clone(),
        state.channels.clone(),
        live,
        stop,
        brokkr_runtime::logging::log_reload("reload requested by another replica"),
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
    let propagation = state.propagation.clone();
    let shutdown = async move {
        shutdown.await;
        // Long polls would hold the drain until their deadlines: answer them now.
        propagation.close();
    };
    let acceptor = crate::connections::CountingAcceptor::new(
        acceptor,
        state.metrics.connections_open().clone(),
    );
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(app(state.clone()), shutdown, Some(grace))
        .await;
    state.stopped.send_replace(true);
    served?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    brokkr_runtime::signals::shutdown().await;
    tracing::info!("shutdown requested; draining in-flight requests");
}
