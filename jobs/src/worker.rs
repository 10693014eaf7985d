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
use brokkr_schema::jobs::{
    DIAGNOSTIC_CLEANUP, RETENTION_CLEANUP, STALE_CLAIM_REAP, SweepJob, TEMPLATE_RENDER,
    TemplateRenderJob, WEBHOOK_DELIVERY, WORK_ORDER_RETRY, WebhookDeliveryJob, WorkOrderRetryJob,
};
use brokkr_schema::live::{ConfigSource, LiveSettings, ReloadOutcome};
use brokkr_schema::store::{self, notify::Channels};
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::watch;

use crate::delivery_client::DeliveryClient;
use crate::metrics::WorkerMetrics;
use crate::queue_wakeups::NotifiedFetch;
use crate::server::{self, ServerState};
use crate::sweeps::{self, SweepContext};
use crate::template_render::{self, RenderContext};
use crate::webhook_delivery::{self, DeliveryContext};
use crate::work_order_retry::{self, RetryContext};

async fn deliver(
    job: WebhookDeliveryJob,
    ctx: Data<Arc<DeliveryContext>>,
) -> Result<(), BoxDynError> {
    let ctx: Arc<DeliveryContext> = Arc::clone(&ctx);
    let attempt = {
        let ctx = ctx.clone();
        async move { webhook_delivery::run(&ctx, job).await }
    };
    let Some(running) = ctx.in_flight.start(attempt) else {
        return Err("worker shutting down; the delivery runs again later".into());
    };
    match running.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(delivery = %job.delivery_id, error = %e, "delivery job failed; it will run again");
            Err(Box::new(e))
        }
        Err(e) => {
            tracing::error!(delivery = %job.delivery_id, error = %e, "delivery attempt panicked; it will run again");
            Err(Box::new(e))
        }
    }
}

async fn retry_work_order(
    job: WorkOrderRetryJob,
    ctx: Data<Arc<RetryContext>>,
) -> Result<(), BoxDynError> {
    work_order_retry::run(&ctx, job)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::warn!(work_order = %job.work_order_id, error = %e, "work order retry failed; it will run again");
            Box::new(e) as BoxDynError
        })
}

async fn reap(job: SweepJob, ctx: Data<Arc<SweepContext>>) -> Result<(), BoxDynError> {
    sweeps::reap_stale_claims(&ctx, job)
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn clean(_job: SweepJob, ctx: Data<Arc<SweepContext>>) -> Result<(), BoxDynError> {
    sweeps::clean_up(&ctx)
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn clean_diagnostics(
    _job: SweepJob,
    ctx: Data<Arc<SweepContext>>,
) -> Result<(), BoxDynError> {
    sweeps::clean_diagnostics(&ctx)
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

/// Logs what a reload did (`trigger` says what asked for it).
pub fn log_reload(
    trigger: &'static str,
) -> impl Fn(Result<ReloadOutcome, brokkr_schema::config::ConfigError>) + Send + Sync + 'static {
    move |outcome| match outcome {
        Ok(outcome) => {
            for change in &outcome.changes {
                tracing::info!(trigger, key = %change.key, old = %change.old_value, new = %change.new_value, "setting reloaded");
            }
            for change in &outcome.restart_required {
                tracing::warn!(trigger, key = %change.key, "setting changed but needs a restart");
            }
        }
        Err(e) => {
            tracing::error!(trigger, error = %e, "configuration reload refused; settings unchanged")
        }
    }
}

async fn render_template(
    job: TemplateRenderJob,
    ctx: Data<Arc<RenderContext>>,
) -> Result<(), BoxDynError> {
    match template_render::run(&ctx, job).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(rollout = %job.rollout_id, stack = %job.stack_id, error = %e, "template render job failed; it will run again");
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

/// Runs the worker until `shutdown` resolves, with the settings of this process's sources.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_live(
        LiveSettings::new(settings, ConfigSource::process(None)),
        shutdown,
    )
    .await
}

/// Runs the worker until `shutdown` resolves. Dynamic settings are followed as they are
/// reloaded (config file edits, reload requests from the broker, SIGHUP in the binary).
pub async fn run_live(
    live: Arc<LiveSettings>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = (*live.current()).clone();
    if let Some(renderer) = &settings.broker.template_renderer {
        crate::render_sandbox::set_renderer(renderer.into());
    }
    let pool = store::connect_with(
        &settings.database,
        &[(
            "synchronous_commit",
            settings.worker.synchronous_commit.as_str(),
        )],
    )
    .await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    // The queue machinery (fetching, acknowledging, heartbeats) gets connections of its own: a
    // consumer stopped mid-query at shutdown can leave its connection inside a transaction, and
    // a record written on such a connection would be rolled back with it. Deliveries, sweeps
    // and their bookkeeping never share a connection with it.
    // Each queue consumer keeps one connection listening for new jobs; fetching, acknowledging
    // and heartbeats share the rest.
    let mut queue_database = settings.database.clone();
    let consumers = u32::try_from(brokkr_schema::jobs::QUEUES.len()).unwrap_or(u32::MAX);
    queue_database.max_connections =
        consumers.saturating_add((settings.database.max_connections / 2).max(4));
    let queue_pool = store::connect_with(
        &queue_database,
        &[(
            "synchronous_commit",
            settings.worker.synchronous_commit.as_str(),
        )],
    )
    .await?;
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
        metrics: metrics.clone(),
        worker_name: name.clone(),
        live: live.clone(),
        in_flight: webhook_delivery::InFlight::default(),
    });
    let delivery_ctx = ctx.clone();

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

    let (stop_tx, stop_rx) = watch::channel(false);
    let heartbeat = Duration::from_secs(settings.worker.heartbeat_interval_seconds);
    let batch = usize::try_from(settings.worker.batch_size).unwrap_or(32);
    // New jobs wake consumers at once (LISTEN/NOTIFY, with a re-check that closes the race of
    // a notification arriving mid-fetch: see `queue_wakeups`); a poll every
    // `worker.poll_interval_ms` also picks up what no notification announces: retries coming
    // due, jobs re-enqueued from a dead worker.
    let poll_interval = Duration::from_millis(settings.worker.poll_interval_ms);
    let strategy = |queue: &str| {
        Strategy::new()
            .apply(NotifiedFetch::new(queue_pool.clone(), queue.to_owned()))
            .interval(poll_interval)
    };
    let queue_config = |queue: String| {
        Config::default()
            .queue(queue.as_str())
            .batch_size(batch)
            .heartbeat_interval(heartbeat)
            // A job whose worker missed three heartbeats runs again elsewhere.
            .missed_heartbeats(3)
    };
    let concurrency = usize::try_from(settings.worker.webhook_delivery_concurrency).unwrap_or(32);
    let deliveries = WorkerBuilder::new(format!("{name}-{WEBHOOK_DELIVERY}"))
        .backend(
            PostgresStorage::<WebhookDeliveryJob>::new(&queue_pool)
                .with_config(queue_config(queue.clone()))
                .poll_with_strategy(strategy(&queue)),
        )
        .concurrency(concurrency)
        .data(ctx)
        .build(deliver);

    let sweep_ctx = Arc::new(SweepContext {
        pool: pool.clone(),
        channels: channels.clone(),
        metrics: metrics.clone(),
        live: live.clone(),
    });
    let reaper = WorkerBuilder::new(format!("{name}-{STALE_CLAIM_REAP}"))
        .backend(
            PostgresStorage::<SweepJob>::new(&queue_pool)
                .with_config(queue_config(channels.queue(STALE_CLAIM_REAP)))
                .poll_with_strategy(strategy(&channels.queue(STALE_CLAIM_REAP))),
        )
        .concurrency(1)
        .data(sweep_ctx.clone())
        .build(reap);
    let cleaner = WorkerBuilder::new(format!("{name}-{RETENTION_CLEANUP}"))
        .backend(
            PostgresStorage::<SweepJob>::new(&queue_pool)
                .with_config(queue_config(channels.queue(RETENTION_CLEANUP)))
                .poll_with_strategy(strategy(&channels.queue(RETENTION_CLEANUP))),
        )
        .concurrency(1)
        .data(sweep_ctx.clone())
        .build(clean);
    let diagnostics_cleaner = WorkerBuilder::new(format!("{name}-{DIAGNOSTIC_CLEANUP}"))
        .backend(
            PostgresStorage::<SweepJob>::new(&queue_pool)
                .with_config(queue_config(channels.queue(DIAGNOSTIC_CLEANUP)))
                .poll_with_strategy(strategy(&channels.queue(DIAGNOSTIC_CLEANUP))),
        )
        .concurrency(1)
        .data(sweep_ctx)
        .build(clean_diagnostics);
    let sweep = |base: &'static str, interval: fn(&Settings) -> u64| {
        tokio::spawn(sweeps::schedule(
            pool.clone(),
            channels.clone(),
            base,
            live.clone(),
            interval,
            stop_rx.clone(),
        ))
    };
    let retries = WorkerBuilder::new(format!("{name}-{WORK_ORDER_RETRY}"))
        .backend(
            PostgresStorage::<WorkOrderRetryJob>::new(&queue_pool)
                .with_config(queue_config(channels.queue(WORK_ORDER_RETRY)))
                .poll_with_strategy(strategy(&channels.queue(WORK_ORDER_RETRY))),
        )
        .concurrency(4)
        .data(Arc::new(RetryContext {
            pool: pool.clone(),
            channels: channels.clone(),
            metrics: metrics.clone(),
        }))
        .build(retry_work_order);
    let render_ctx = Arc::new(RenderContext {
        pool: pool.clone(),
        channels: channels.clone(),
        metrics: metrics.clone(),
    });
    let renderer = WorkerBuilder::new(format!("{name}-{TEMPLATE_RENDER}"))
        .backend(
            PostgresStorage::<TemplateRenderJob>::new(&queue_pool)
                .with_config(queue_config(channels.queue(TEMPLATE_RENDER)))
                .poll_with_strategy(strategy(&channels.queue(TEMPLATE_RENDER))),
        )
        .concurrency(2)
        .data(render_ctx)
        .build(render_template);
    let schedulers = [
        sweep(STALE_CLAIM_REAP, |s| {
            s.worker.stale_claim_reap_interval_seconds
        }),
        sweep(RETENTION_CLEANUP, |s| {
            s.worker.retention_cleanup_interval_seconds
        }),
        sweep(DIAGNOSTIC_CLEANUP, |s| {
            s.broker.diagnostic_cleanup_interval_seconds
        }),
        tokio::spawn(
            live.clone()
                .watch_file(stop_rx.clone(), log_reload("config file changed")),
        ),
        tokio::spawn(store::notify::follow_reloads(
            pool.clone(),
            channels.clone(),
            live.clone(),
            stop_rx.clone(),
            log_reload("reload requested through the API"),
        )),
    ];
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown requested: finishing in-flight jobs");
        let _ = stop_tx.send(true);
    });
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
        Ok::<(), std::io::Error>(())
    };
    let deadline = Duration::from_secs(settings.worker.shutdown_deadline_seconds);
    // Each consumer runs on its own task, so one queue's wake-ups never make the others poll.
    let consumers = [
        tokio::spawn(deliveries.run_until(until_stopped(stop_rx.clone()))),
        tokio::spawn(reaper.run_until(until_stopped(stop_rx.clone()))),
        tokio::spawn(cleaner.run_until(until_stopped(stop_rx.clone()))),
        tokio::spawn(diagnostics_cleaner.run_until(until_stopped(stop_rx.clone()))),
        tokio::spawn(retries.run_until(until_stopped(stop_rx.clone()))),
        tokio::spawn(renderer.run_until(until_stopped(stop_rx.clone()))),
    ];
    let all = futures::future::join_all(consumers);
    // Run until the shutdown signal, then give in-flight jobs the deadline.
    let mut stop_seen = stop_rx.clone();
    tokio::pin!(all);
    let consumers = tokio::select! {
        results = &mut all => Some(results),
        _ = stop_seen.wait_for(|stop| *stop) => None,
    };
    // Stopping (or every consumer ended): no new attempt starts from here on; the consumers and
    // the attempts already sending get the deadline to finish and record their outcome.
    let until = tokio::time::Instant::now() + deadline + Duration::from_secs(1);
    let (consumers, drained) = tokio::join!(
        async {
            match consumers {
                Some(results) => Some(results),
                None => tokio::time::timeout_at(until, &mut all).await.ok(),
            }
        },
        tokio::time::timeout_at(until, delivery_ctx.in_flight.drain()),
    );
    let finished = if drained.is_ok() { consumers } else { None };
    match finished {
        Some(results) => {
            for result in results {
                match result {
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "a queue consumer stopped with an error")
                    }
                    Err(e) => tracing::error!(error = %e, "a queue consumer task failed"),
                    Ok(Ok(())) => {}
                }
            }
            tracing::info!("worker stopped");
        }
        None => tracing::warn!(
            "in-flight jobs did not finish within worker.shutdown_deadline_seconds; they will run again"
        ),
    }
    for scheduler in schedulers {
        scheduler.abort();
    }
    let _ = stop_http.send(());
    let _ = http.await;
    queue_pool.close().await;
    pool.close().await;
    Ok(())
}
