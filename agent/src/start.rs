//! `brokkr-agent start`: the start-up sequence, the tasks, and the shutdown.
//!
//! 1. Check the required settings (`agent.broker_url`, `pak`, `agent_name`, `cluster_name`).
//! 2. Wait for the broker's `/readyz` (backoff with jitter, at most `agent.max_retries` tries).
//! 3. Verify the PAK (`POST /api/v1/auth/pak`): it must be an agent's.
//! 4. Find the agent's record (`GET /api/v1/agents/search?name=&cluster_name=`).
//! 5. Connect to Kubernetes and check that its API answers.
//! 6. Bind the health server, then run heartbeat, reconcile and the feature tasks (deployment
//!    health, diagnostics, work orders, webhooks) as independent tokio tasks.
//!
//! SIGTERM or SIGINT cancels the shared token; every loop stops at its next await point and the
//! process exits once the tasks have finished (or after a grace period).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use brokkr_schema::config::AgentSettings;
use brokkr_schema::live::LiveSettings;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::broker::{BrokerClient, BrokerError};
use crate::context::AgentContext;
use crate::kube_retry::backoff_delay;
use crate::{
    deployment_health, diagnostics, health_server, heartbeat, kube_client, reconcile, webhooks,
    work_orders,
};

/// How long tasks get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Attempts at start-up calls that fail transiently (after `/readyz` answered).
const STARTUP_CALL_ATTEMPTS: u32 = 5;

/// A start-up failure caused by the configuration (exit code 2) rather than the environment.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigProblem {
    pub key: &'static str,
    pub message: String,
}

/// The required `[agent]` keys.
pub struct Identity {
    pub broker_url: String,
    pub pak: String,
    pub agent_name: String,
    pub cluster_name: String,
    /// `agent.generator_ids`, parsed.
    pub generator_ids: Vec<Uuid>,
}

/// Checks that the required keys are set.
pub fn identity(settings: &AgentSettings) -> Result<Identity, ConfigProblem> {
    let required = |key: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or(ConfigProblem {
                key,
                message: "required (set it in the config file or BROKKR__AGENT__…)".into(),
            })
    };
    let broker_url = required("agent.broker_url", &settings.broker_url)?;
    if !broker_url.starts_with("http://") && !broker_url.starts_with("https://") {
        return Err(ConfigProblem {
            key: "agent.broker_url",
            message: "must be an http:// or https:// URL".into(),
        });
    }
    let generator_ids = settings
        .generator_ids
        .iter()
        .map(|id| {
            id.trim().parse::<Uuid>().map_err(|_| ConfigProblem {
                key: "agent.generator_ids",
                message: format!("{id:?} is not a generator id (a UUID)"),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Identity {
        broker_url,
        pak: required("agent.pak", &settings.pak)?,
        agent_name: required("agent.agent_name", &settings.agent_name)?,
        cluster_name: required("agent.cluster_name", &settings.cluster_name)?,
        generator_ids,
    })
}

/// `brokkr-agent config check`: loads `file` and `env` as the process does and checks the
/// required keys as [`run`] does, so a file that passes gets past the configuration step of
/// start-up.
pub fn check_config(
    file: &std::path::Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<()> {
    let settings = brokkr_schema::config::Settings::load(Some(file), env)?;
    identity(&settings.agent)?;
    Ok(())
}

/// Runs the agent until `shutdown` resolves (normally SIGTERM/SIGINT). The dynamic keys of
/// `live` are reloaded on SIGHUP and when the config file changes.
pub async fn run(
    live: Arc<LiveSettings>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = live.current().agent.clone();
    let id = identity(&settings)?;
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested");
            cancel.cancel();
        });
    }
    let broker = BrokerClient::new(
        &id.broker_url,
        &id.pak,
        Duration::from_secs(settings.request_timeout),
    )
    .map_err(|e| anyhow!("agent.pak: {e}"))?;

    wait_for_broker(&broker, settings.max_retries, &cancel).await?;
    let auth = with_startup_retries(&cancel, "PAK verification", || async {
        Ok(broker.api().whoami().await?)
    })
    .await
    .map_err(|e| match e.status() {
        Some(401) => anyhow!("Invalid agent PAK: the broker rejected agent.pak"),
        _ => anyhow!("cannot verify the agent PAK: {e}"),
    })?;
    let Some(pak_agent) = auth.agent else {
        bail!("agent.pak is not an agent's PAK (it belongs to an admin or a generator)");
    };
    let agent = with_startup_retries(&cancel, "agent lookup", || async {
        Ok(broker
            .api()
            .find_agent(&id.agent_name, &id.cluster_name)
            .await?)
    })
    .await
    .map_err(|e| match e.status() {
        Some(404) => anyhow!(
            "Agent not found: no agent named {:?} in cluster {:?} for this PAK (register it first)",
            id.agent_name,
            id.cluster_name
        ),
        _ => anyhow!("cannot look up the agent record: {e}"),
    })?;
    if agent.id.to_string() != pak_agent {
        bail!(
            "agent.pak belongs to another agent than {:?}",
            id.agent_name
        );
    }
    tracing::info!(
        broker = %broker.base_url(),
        agent_id = %agent.id,
        agent = %agent.name,
        cluster = %agent.cluster_name,
        status = %agent.status,
        "connected to broker"
    );

    register_with_generators(&broker, &id.generator_ids, &cancel).await;

    let kube = kube_client::connect(settings.kubeconfig_path.as_deref()).await?;
    wait_for_kubernetes(&kube, settings.max_retries, &cancel).await?;

    let ctx = AgentContext::with_live(live.clone(), agent, broker, kube, cancel.clone());
    ctx.status.broker_reached();
    let acceptor = health_server::bind(&ctx).await?;

    let mut tasks = JoinSet::new();
    tasks.spawn(health_server::serve(ctx.clone(), acceptor));
    tasks.spawn(heartbeat::run(ctx.clone()));
    tasks.spawn(reconcile::run(ctx.clone()));
    tasks.spawn(deployment_health::run(ctx.clone()));
    tasks.spawn(diagnostics::run(ctx.clone()));
    tasks.spawn(work_orders::run(ctx.clone()));
    tasks.spawn(webhooks::run(ctx.clone()));
    tasks.spawn(reload_on_sighup(live.clone(), cancel.clone()));
    {
        // Without a config file the watch returns at once; the task then just waits.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (live, cancel) = (live.clone(), cancel.clone());
        tasks.spawn(async move {
            let stop = async {
                cancel.cancelled().await;
                let _ = stop_tx.send(true);
            };
            let watch = async {
                live.watch_file(stop_rx, |outcome| {
                    report_reload("config file changed", outcome)
                })
                .await;
                cancel.cancelled().await;
            };
            tokio::join!(stop, watch);
        });
    }
    tracing::info!("agent running");

    // A task that ends before shutdown is a bug: log it, keep the others running.
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            done = tasks.join_next() => match done {
                Some(Err(e)) => tracing::error!(error = %e, "an agent task panicked"),
                Some(Ok(())) => tracing::warn!("an agent task ended before shutdown"),
                None => break,
            },
        }
    }
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("tasks still running after {SHUTDOWN_GRACE:?}; stopping them");
        tasks.abort_all();
    }
    tracing::info!("shutdown complete");
    Ok(())
}

/// Reloads the settings on each SIGHUP until shutdown.
async fn reload_on_sighup(live: Arc<LiveSettings>, cancel: CancellationToken) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        cancel.cancelled().await;
        return;
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            received = hangup.recv() => if received.is_none() {
                cancel.cancelled().await;
                return;
            },
        }
        let live = live.clone();
        if let Ok(outcome) = tokio::task::spawn_blocking(move || live.reload()).await {
            report_reload("SIGHUP", outcome);
        }
    }
}

fn report_reload(
    trigger: &str,
    outcome: Result<brokkr_schema::live::ReloadOutcome, brokkr_schema::config::ConfigError>,
) {
    match outcome {
        Ok(outcome) => {
            tracing::info!(trigger, result = %outcome.message(), "configuration reloaded")
        }
        Err(e) => {
            tracing::error!(trigger, error = %e, "configuration reload failed; nothing changed")
        }
    }
}

/// Polls the broker's `/readyz` until it answers 2xx, at most `attempts` times.
async fn wait_for_broker(
    broker: &BrokerClient,
    attempts: u64,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match broker.readyz().await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::info!(attempt, error = %e, "broker not ready yet");
                last = e.to_string();
            }
        }
        if attempt < attempts && !sleep_or_cancel(startup_delay(attempt), cancel).await {
            bail!("shutdown requested while waiting for the broker");
        }
    }
    Err(anyhow!(
        "broker at {} not ready after {attempts} attempts: {last}",
        broker.base_url()
    ))
}

/// Checks that the Kubernetes API answers, at most `attempts` times.
async fn wait_for_kubernetes(
    kube: &kube::Client,
    attempts: u64,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match tokio::time::timeout(Duration::from_secs(10), kube.apiserver_version()).await {
            Ok(Ok(version)) => {
                tracing::info!(
                    version = %format!("{}.{}", version.major, version.minor),
                    "connected to Kubernetes"
                );
                return Ok(());
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no answer within 10 s".into(),
        }
        tracing::info!(attempt, error = %last, "Kubernetes API not reachable yet");
        if attempt < attempts && !sleep_or_cancel(startup_delay(attempt), cancel).await {
            bail!("shutdown requested while waiting for Kubernetes");
        }
    }
    Err(anyhow!(
        "Kubernetes API not reachable after {attempts} attempts: {last}"
    ))
    .context("check agent.kubeconfig_path, KUBECONFIG or the in-cluster service account")
}

/// Registers the agent with each configured generator (`agent.generator_ids`): its consent to
/// run their stacks. Registering again changes nothing. A generator that does not exist is
/// logged and skipped, so one stale id does not keep the agent from serving the others.
async fn register_with_generators(
    broker: &BrokerClient,
    generator_ids: &[Uuid],
    cancel: &CancellationToken,
) {
    for generator in generator_ids {
        // No agent id: an agent registers itself.
        let result = with_startup_retries(cancel, "generator registration", || async {
            Ok(broker.api().register_agent(*generator, None).await?)
        })
        .await;
        match result {
            Ok(_) => tracing::info!(%generator, "registered with generator"),
            Err(e) => tracing::error!(
                %generator,
                error = %e,
                "cannot register with a generator of agent.generator_ids; its stacks will not run here"
            ),
        }
    }
}

/// Retries a start-up call that failed transiently (timeouts, 429, 5xx).
async fn with_startup_retries<T, F, Fut>(
    cancel: &CancellationToken,
    what: &str,
    mut call: F,
) -> Result<T, BrokerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BrokerError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_transient() && attempt < STARTUP_CALL_ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "{what} failed; retrying");
                if !sleep_or_cancel(startup_delay(u64::from(attempt)), cancel).await {
                    return Err(BrokerError::Cancelled);
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Start-up backoff: 0.5 s doubling up to 5 s, with jitter.
fn startup_delay(attempt: u64) -> Duration {
    let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
    // kube_retry's schedule starts at 200 ms; two steps further gives 0.4–0.8 s first.
    backoff_delay(attempt.saturating_add(2)).max(Duration::from_millis(250))
}

async fn sleep_or_cancel(delay: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_keys_are_named() {
        let mut settings = AgentSettings::default();
        let err = identity(&settings).err().unwrap();
        assert_eq!(err.key, "agent.broker_url");
        settings.broker_url = Some("ftp://x".into());
        assert_eq!(identity(&settings).err().unwrap().key, "agent.broker_url");
        settings.broker_url = Some("http://127.0.0.1:3000".into());
        assert_eq!(identity(&settings).err().unwrap().key, "agent.pak");
        settings.pak = Some("p".into());
        settings.agent_name = Some("a".into());
        assert_eq!(identity(&settings).err().unwrap().key, "agent.cluster_name");
        settings.cluster_name = Some("c".into());
        assert!(identity(&settings).is_ok());
    }

    #[test]
    fn config_check_loads_the_file_and_env_as_start_does() {
        let dir = std::env::temp_dir().join(format!("brokkr-agent-check-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agent.toml");
        std::fs::write(
            &file,
            "[agent]\nbroker_url = \"http://brokkr:3000\"\nagent_name = \"a\"\ncluster_name = \"c\"\n",
        )
        .unwrap();
        let pak = || vec![("BROKKR__AGENT__PAK".to_string(), "secret".to_string())];
        check_config(&file, pak()).unwrap();
        // The PAK comes from the environment (a Secret in the chart); without it start fails.
        let err = check_config(&file, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("agent.pak"), "{err}");
        std::fs::write(&file, "[agent]\nreconcile_intervall = 5\n").unwrap();
        let err = check_config(&file, pak()).unwrap_err();
        assert!(err.to_string().contains("reconcile_intervall"), "{err}");
        std::fs::write(
            &file,
            "[agent]\nbroker_url = \"http://b\"\nhealth_port = \"x\"\n",
        )
        .unwrap();
        let err = check_config(&file, pak()).unwrap_err();
        assert!(err.to_string().contains("agent.health_port"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
