//! Worker set-up: connect, build the queue consumers, serve health and metrics, and stop
//! gracefully: on SIGTERM no new job is taken and in-flight jobs get
//! `worker.shutdown_deadline_seconds` to finish. A job cut short (or a worker killed outright)
//! runs again once its lock lapses, and a delivery attempt that was already recorded is not
//! repeated.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use apalis_postgres::{Config, PostgresStorage};
use brokkr_schema::config::Settings;
use brokkr_schema::crypto::Keyring;
use brokkr_schema::destinations::DestinationPolicy;
use brokkr_schema::jobs::{WEBHOOK_DELIVERY, WebhookDeliveryJob};
use brokkr_schema::store::{self, notify::Channels};
use poem::listener::{Acceptor, Listener, TcpListener};

use crate::delivery_client::DeliveryClient;
use crate::metrics::WorkerMetrics;
use crate::server::{self, ServerState};
use crate::webhook_delivery::{self, DeliveryContext, RetrySchedule};

async fn deliver(
    job: WebhookDeliveryJob,
    ctx: Data<Arc<DeliveryContext>>,
) -> Result<(), BoxDynError> {
    match webhook_delivery::run(&ctx, job).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(delivery = %job.delivery_id, error = %e, "delivery job failed; it will run again");
            Err(Box::new(e))
        }
    }
}

/// A unique name for this worker process.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    format!(
        "brokkr-worker-{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Runs the worker until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let pool = store::connect(&settings.database).await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    let channels = Channels::for_schema(settings.database.schema.as_deref());
    let keyring = Keyring::from_settings(&settings.broker)?.map(Arc::new);
    if keyring.is_none() {
        tracing::warn!(
            "broker.webhook_encryption_key is not set: webhook deliveries cannot be decrypted and will fail"
        );
    }
    let policy = DestinationPolicy::from_networks(&settings.webhooks.allowed_networks)
        .map_err(|e| anyhow::anyhow!("webhooks.allowed_networks: {e}"))?;
    let metrics = Arc::new(WorkerMetrics::new()?);
    let name = worker_name();
    let queue = channels.queue(WEBHOOK_DELIVERY);
    let ctx = Arc::new(DeliveryContext {
        pool: pool.clone(),
        channels: channels.clone(),
        keyring,
        client: DeliveryClient::new(policy)?,
        retry: RetrySchedule {
            base: Duration::from_secs(settings.worker.webhook_retry_base_seconds),
            max: Duration::from_secs(settings.worker.webhook_retry_max_seconds),
        },
        metrics: metrics.clone(),
        worker_name: name.clone(),
    });

    let acceptor = TcpListener::bind(settings.worker.listen_addr.clone())
        .into_acceptor()
        .await?;
    for addr in acceptor.local_addr() {
        tracing::info!(addr = %addr, worker = %name, "brokkr-worker serving health and metrics");
    }
    let server_state = ServerState {
        pool: pool.clone(),
        metrics: metrics.clone(),
        queues: Arc::new(
            brokkr_schema::jobs::QUEUES
                .iter()
                .map(|q| channels.queue(q))
                .collect(),
        ),
    };
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(
        poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
            server::app(server_state),
            async {
                let _ = http_stopped.await;
            },
            Some(Duration::from_secs(5)),
        ),
    );

    let config = Config::default()
        .queue(queue.as_str())
        .batch_size(usize::try_from(settings.worker.batch_size).unwrap_or(32))
        .heartbeat_interval(Duration::from_secs(
            settings.worker.heartbeat_interval_seconds,
        ));
    let backend = PostgresStorage::<WebhookDeliveryJob>::new(&pool)
        .with_config(config)
        .with_pubsub();
    let concurrency = usize::try_from(settings.worker.webhook_delivery_concurrency).unwrap_or(32);
    let deadline = Duration::from_secs(settings.worker.shutdown_deadline_seconds);
    let deliveries = WorkerBuilder::new(format!("{name}-{WEBHOOK_DELIVERY}"))
        .backend(backend)
        .concurrency(concurrency)
        .data(ctx)
        .build(deliver);
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: finishing in-flight jobs");
        let _ = signal_tx.send(());
    });
    let stopped = deliveries.run_until(async move {
        let _ = signal_rx.await;
        Ok::<(), std::io::Error>(())
    });
    match tokio::time::timeout(deadline + Duration::from_secs(1), stopped).await {
        Ok(Ok(())) => tracing::info!("worker stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "worker stopped with an error"),
        Err(_) => tracing::warn!(
            "in-flight jobs did not finish within worker.shutdown_deadline_seconds; they will run again"
        ),
    }
    let _ = stop_http.send(());
    let _ = http.await;
    pool.close().await;
    Ok(())
}
