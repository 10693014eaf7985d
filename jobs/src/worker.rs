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
use brokkr_runtime::logging::log_reload;
use brokkr_schema::config::Settings;
use brokkr_schema::crypto::Keyring;
use brokkr_schema::destinations::DestinationPolicy;
use brokkr_schema::jobs::{
    DIAGNOSTIC_CLEANUP, RETENTION_CLEANUP, STALE_CLAIM_REAP, SweepJob, TEMPLATE_RENDER,
    TemplateRenderJob, WEBHOOK_DELIVERY, WORK_ORDER_RETRY, WebhookDeliveryJob, WorkOrderRetryJob,
};
use brokkr_schema::live::{ConfigSource, LiveSettings};
use brokkr_schema::store::{self, notify::Channels};
use brokkr_schema::trace_context::TRACEPARENT;
use futures::StreamExt;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::sync::watch;
use tracing::Instrument;

use crate::consumers::{self, ConsumerStatus};
use crate::metrics::WorkerMetrics;
use crate::queue_wakeups::{JobAnnouncements, NotifiedFetch};
use crate::server::{self, ServerState};
use crate::sweeps::{self, SweepContext};
use crate::template_render::{self, RenderContext};
use crate::webhook_delivery::{self, DeliveryContext};
use crate::work_order_retry::{self, RetryContext};
use brokkr_runtime::webhooks::client::DeliveryClient;

/// The span of one job (`job`): a child of the span that pushed it, whose `traceparent` the
/// job carries in its metadata (see `brokkr_schema::store::jobs::push`); periodic sweeps start
/// their own traces.
fn job_span(queue: &'static str, meta: &MetadataStore, attempt: &Attempt) -> tracing::Span {
    let span = tracing::info_span!(
        "job",
        otel.name = %format!("job {queue}"),
        otel.kind = "consumer",
        messaging.system = "apalis",
        messaging.destination.name = queue,
        brokkr.job.attempt = attempt.current(),
        brokkr.delivery_id = tracing::field::Empty,
    );
    brokkr_runtime::telemetry::continue_trace(&span, meta.get(TRACEPARENT));
    span
}

async fn deliver(
    job: WebhookDeliveryJob,
    ctx: Data<Arc<DeliveryContext>>,
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let span = job_span(WEBHOOK_DELIVERY, &meta, &attempt);
    span.record(
        "brokkr.delivery_id",
        tracing::field::display(job.delivery_id),
    );
    let ctx: Arc<DeliveryContext> = Arc::clone(&ctx);
    let attempt = {
        let ctx = ctx.clone();
        async move { webhook_delivery::run(&ctx, job).await }.instrument(span)
    };
    let Some(running) = ctx.in_flight.start(attempt) else {
        return Err("worker shutting down; the delivery runs again later".into());
    };
    match running.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            if e.is_unavailable() {
                // The consumer reports the outage once; this job runs again after it.
                tracing::debug!(delivery = %job.delivery_id, error = %e, "delivery job stopped by a database outage; it will run again");
            } else {
                tracing::warn!(delivery = %job.delivery_id, error = %e, "delivery job failed; it will run again");
            }
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
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    work_order_retry::run(&ctx, job)
        .instrument(job_span(WORK_ORDER_RETRY, &meta, &attempt))
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::warn!(work_order = %job.work_order_id, error = %e, "work order retry failed; it will run again");
            Box::new(e) as BoxDynError
        })
}

async fn reap(
    job: SweepJob,
    ctx: Data<Arc<SweepContext>>,
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    sweeps::reap_stale_claims(&ctx, job)
        .instrument(job_span(STALE_CLAIM_REAP, &meta, &attempt))
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn clean(
    _job: SweepJob,
    ctx: Data<Arc<SweepContext>>,
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    sweeps::clean_up(&ctx)
        .instrument(job_span(RETENTION_CLEANUP, &meta, &attempt))
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn clean_diagnostics(
    _job: SweepJob,
    ctx: Data<Arc<SweepContext>>,
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    sweeps::clean_diagnostics(&ctx)
        .instrument(job_span(DIAGNOSTIC_CLEANUP, &meta, &attempt))
        .await
        .map(|_| ())
        .map_err(|e| Box::new(e) as BoxDynError)
}

async fn render_template(
    job: TemplateRenderJob,
    ctx: Data<Arc<RenderContext>>,
    meta: MetadataStore,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let span = job_span(TEMPLATE_RENDER, &meta, &attempt);
    match template_render::run(&ctx, job).instrument(span).await {
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

/// The pool sizes of a worker whose budget is `database.max_connections` connections in all,
/// listeners included: (pool for deliveries, sweeps and bookkeeping, pool for the queue
/// machinery). The queue pool holds the one job-announcement listener plus connections for
/// fetching, acknowledging and heartbeats; the other pool holds the config-reload listener.
pub fn pool_sizes(max_connections: u32) -> (u32, u32) {
    let total = max_connections.max(MIN_WORKER_CONNECTIONS);
    let queue = (total * 2 / 5).max(4);
    (total - queue, queue)
}

/// The fewest connections a worker runs with (two listeners, six consumers' bookkeeping).
pub const MIN_WORKER_CONNECTIONS: u32 = 8;

/// Asks the consumer of `ctx` to finish its jobs and stop once `stop` turns true; returns early
/// when the consumer ended by itself (its backend failed), so the supervisor can restart it.
async fn stop_when_asked(
    ctx: WorkerContext,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    loop {
        let asked = tokio::select! {
            stopped = stop.wait_for(|s| *s) => stopped.is_ok(),
            _ = tokio::time::sleep(Duration::from_millis(500)) => false,
        };
        if asked {
            // A consumer that has not started yet cannot be stopped: wait until it runs.
            while ctx.stop().is_err() && !ctx.is_terminated() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Ok(());
        }
        if ctx.is_terminated() {
            return Ok(());
        }
    }
}

/// Runs the worker until `shutdown` resolves. Dynamic settings are followed as they are
/// reloaded (config file edits, reload requests from the broker, SIGHUP in the binary).
///
/// Queue consumers survive database outages (see [`crate::consumers`]); the worker returns an
/// error only when a consumer had to be given up, so the process exits non-zero and is
/// restarted by whatever supervises it.
pub async fn run_live(
    live: Arc<LiveSettings>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = (*live.current()).clone();
    if let Some(renderer) = &settings.broker.template_renderer {
        brokkr_runtime::render_sandbox::set_renderer(renderer.into());
    }
    let session = [(
        "synchronous_commit",
        settings.worker.synchronous_commit.as_str(),
    )];
    let (work_connections, queue_connections) = pool_sizes(settings.database.max_connections);
    let mut work_database = settings.database.clone();
    work_database.max_connections = work_connections;
    let pool = store::connect_with(&work_database, &session).await?;
    if settings.database.run_migrations {
        store::migrate(&pool).await?;
    }
    // The queue machinery (fetching, acknowledging, heartbeats) gets connections of its own: a
    // consumer stopped mid-query at shutdown can leave its connection inside a transaction, and
    // a record written on such a connection would be rolled back with it. Deliveries, sweeps
    // and their bookkeeping never share a connection with it.
    let mut queue_database = settings.database.clone();
    queue_database.max_connections = queue_connections;
    let queue_pool = store::connect_with(&queue_database, &session).await?;
    let channels = Channels::for_schema(settings.database.schema.as_deref());
    let keyring = Keyring::from_settings(&settings.broker)?.map(Arc::new);
    if keyring.is_none() {
        tracing::warn!(
            "broker.webhook_encryption_key is not set: webhook deliveries cannot be decrypted and will fail"
        );
    }
    let policy = DestinationPolicy::from_networks(&settings.webhooks.allowed_networks)
        .map_err(|e| anyhow::anyhow!("webhooks.allowed_networks: {e}"))?;
    let proxy = settings
        .webhooks
        .proxy_url()
        .map_err(|e| anyhow::anyhow!("webhooks.proxy: {e}"))?;
    let metrics = Arc::new(WorkerMetrics::new()?);
    let name = worker_name();
    let ctx = Arc::new(DeliveryContext {
        pool: pool.clone(),
        channels: channels.clone(),
        keyring,
        client: DeliveryClient::with_proxy(policy, proxy.as_ref())?,
        metrics: metrics.clone(),
        worker_name: name.clone(),
        live: live.clone(),
        in_flight: webhook_delivery::InFlight::default(),
    });
    let delivery_ctx = ctx.clone();
    let statuses: Vec<Arc<ConsumerStatus>> = brokkr_schema::jobs::QUEUES
        .iter()
        .map(|q| ConsumerStatus::new(q))
        .collect();
    let status_of = |queue: &str| {
        statuses
            .iter()
            .find(|s| s.queue == queue)
            .cloned()
            .unwrap_or_else(|| ConsumerStatus::new("unknown"))
    };
    let announcements = Arc::new(JobAnnouncements::default());

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
        consumers: Arc::new(statuses.clone()),
        announcements: announcements.clone(),
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
    // due, jobs re-enqueued from a dead worker, jobs announced while the listener was down.
    let poll_interval = Duration::from_millis(settings.worker.poll_interval_ms);
    let strategy = {
        let announcements = announcements.clone();
        move |queue: &str| {
            Strategy::new()
                .apply(NotifiedFetch::new(&announcements, queue))
                .interval(poll_interval)
        }
    };
    let queue_config = move |queue: &str| {
        Config::default()
            .queue(queue)
            .batch_size(batch)
            .heartbeat_interval(heartbeat)
            // A job whose worker missed three heartbeats runs again elsewhere.
            .missed_heartbeats(3)
    };
    // One consumer of `$queue` for jobs of type `$job`, handled by `$handler` with `$data`, run
    // under `consumers::supervise` (a new consumer after every failure).
    macro_rules! consumer {
        ($base:expr, $job:ty, $concurrency:expr, $data:expr, $handler:expr) => {{
            let queue = channels.queue($base);
            let pool_of_consumer = queue_pool.clone();
            let strategy = strategy.clone();
            let data = $data;
            let start = move |worker: String, stop: watch::Receiver<bool>| {
                WorkerBuilder::new(worker)
                    .backend(
                        PostgresStorage::<$job>::new(&pool_of_consumer)
                            .with_config(queue_config(&queue))
                            .poll_with_strategy(strategy(&queue)),
                    )
                    .concurrency($concurrency)
                    .data(data.clone())
                    .build($handler)
                    .run_with_ctx(move |ctx| stop_when_asked(ctx, stop.clone()))
            };
            tokio::spawn(consumers::supervise(
                status_of($base),
                name.clone(),
                queue_pool.clone(),
                stop_rx.clone(),
                start,
            ))
        }};
    }
    let concurrency = usize::try_from(settings.worker.webhook_delivery_concurrency).unwrap_or(32);
    let sweep_ctx = Arc::new(SweepContext {
        pool: pool.clone(),
        channels: channels.clone(),
        metrics: metrics.clone(),
        live: live.clone(),
    });
    let retry_ctx = Arc::new(RetryContext {
        pool: pool.clone(),
        channels: channels.clone(),
        metrics: metrics.clone(),
    });
    let render_ctx = Arc::new(RenderContext {
        pool: pool.clone(),
        channels: channels.clone(),
        metrics: metrics.clone(),
    });
    // Each consumer runs on its own task, so one queue's wake-ups never make the others poll.
    let consumers = vec![
        consumer!(
            WEBHOOK_DELIVERY,
            WebhookDeliveryJob,
            concurrency,
            ctx,
            deliver
        ),
        consumer!(STALE_CLAIM_REAP, SweepJob, 1, sweep_ctx.clone(), reap),
        consumer!(RETENTION_CLEANUP, SweepJob, 1, sweep_ctx.clone(), clean),
        consumer!(
            DIAGNOSTIC_CLEANUP,
            SweepJob,
            1,
            sweep_ctx,
            clean_diagnostics
        ),
        consumer!(
            WORK_ORDER_RETRY,
            WorkOrderRetryJob,
            4,
            retry_ctx,
            retry_work_order
        ),
        consumer!(
            TEMPLATE_RENDER,
            TemplateRenderJob,
            2,
            render_ctx,
            render_template
        ),
    ];
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
        tokio::spawn(
            announcements
                .clone()
                .run(queue_pool.clone(), stop_rx.clone()),
        ),
    ];
    let shutdown_requested = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop_tx = stop_tx.clone();
        let requested = shutdown_requested.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: finishing in-flight jobs");
            requested.store(true, std::sync::atomic::Ordering::Release);
            let _ = stop_tx.send(true);
        });
    }
    let deadline = Duration::from_secs(settings.worker.shutdown_deadline_seconds);
    let mut all: futures::stream::FuturesUnordered<_> = consumers.into_iter().collect();
    // Run until the shutdown signal, or until a consumer is given up (which stops the others).
    let mut stop_seen = stop_rx.clone();
    let mut gave_up: Option<anyhow::Error> = None;
    loop {
        tokio::select! {
            next = all.next() => match next {
                None => break,
                Some(result) => {
                    let failure = match result {
                        Ok(Ok(())) if *stop_rx.borrow() => continue,
                        Ok(Ok(())) => anyhow::anyhow!("a queue consumer stopped unexpectedly"),
                        Ok(Err(e)) => anyhow::Error::new(e),
                        Err(e) => anyhow::anyhow!("a queue consumer's supervisor failed: {e}"),
                    };
                    tracing::error!(error = %failure, "stopping the worker: it cannot consume every queue");
                    gave_up.get_or_insert(failure);
                    let _ = stop_tx.send(true);
                }
            },
            _ = stop_seen.wait_for(|stop| *stop) => break,
        }
    }
    // Stopping: no new attempt starts from here on; the consumers and the attempts already
    // sending get the deadline to finish and record their outcome.
    let until = tokio::time::Instant::now() + deadline + Duration::from_secs(1);
    let (consumers_done, drained) = tokio::join!(
        tokio::time::timeout_at(until, async {
            while let Some(result) = all.next().await {
                if let Ok(Err(e)) = result {
                    gave_up.get_or_insert(anyhow::Error::new(e));
                }
            }
        }),
        tokio::time::timeout_at(until, delivery_ctx.in_flight.drain()),
    );
    if consumers_done.is_ok() && drained.is_ok() {
        tracing::info!("worker stopped");
    } else {
        tracing::warn!(
            "in-flight jobs did not finish within worker.shutdown_deadline_seconds; they will run again"
        );
    }
    for scheduler in schedulers {
        scheduler.abort();
    }
    let _ = stop_http.send(());
    let _ = http.await;
    queue_pool.close().await;
    pool.close().await;
    match gave_up {
        Some(e) if !shutdown_requested.load(std::sync::atomic::Ordering::Acquire) => Err(e),
        _ => Ok(()),
    }
}
