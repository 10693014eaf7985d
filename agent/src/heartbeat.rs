//! Heartbeats: every `agent.polling_interval`, `POST /agents/{id}/heartbeat`, then re-read the
//! agent's record so a status change (ACTIVE ⇄ INACTIVE) reaches the other tasks. Runs in its
//! own task: nothing else the agent does can delay it. Each beat runs in an `agent.heartbeat`
//! span, so the broker's request spans of the beat are its children.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tracing::Instrument;

use crate::broker::BrokerError;
use crate::context::AgentContext;

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    loop {
        beat(&ctx).await;
        // `agent.polling_interval` may change on a reload.
        let interval = Duration::from_secs(ctx.current_settings().polling_interval);
        if !ctx.sleep(jittered(interval)).await {
            return;
        }
    }
}

/// One heartbeat and, when it was accepted, a refresh of the agent's record, in an
/// `agent.heartbeat` span.
pub async fn beat(ctx: &AgentContext) {
    let span = tracing::info_span!(
        "agent.heartbeat",
        otel.status_code = tracing::field::Empty,
        brokkr.heartbeat.outcome = tracing::field::Empty,
    );
    let accepted = beat_once(ctx).instrument(span.clone()).await;
    span.record(
        "brokkr.heartbeat.outcome",
        if accepted { "accepted" } else { "failed" },
    );
    if !accepted {
        span.record("otel.status_code", "ERROR");
    }
}

/// The requests of one beat; whether the broker accepted the heartbeat.
async fn beat_once(ctx: &AgentContext) -> bool {
    let api = ctx.broker.api();
    match api.heartbeat(ctx.agent_id).await.map_err(BrokerError::from) {
        Ok(_) => {
            ctx.metrics.heartbeats.inc();
            ctx.status.heartbeat_ok();
            tracing::debug!("heartbeat accepted");
        }
        Err(e) => {
            tracing::warn!(error = %e, "heartbeat failed");
            ctx.status.heartbeat_failed(e.to_string());
            return false;
        }
    }
    match api.get_agent(ctx.agent_id).await.map_err(BrokerError::from) {
        Ok(agent) => {
            let before = ctx.agent().status;
            if before != agent.status {
                tracing::info!(from = %before, to = %agent.status, "agent status changed");
            }
            ctx.set_agent(agent);
        }
        Err(e) => tracing::warn!(error = %e, "cannot refresh the agent record"),
    }
    true
}

/// `base` ± 10 %, so a fleet of agents does not beat in step.
fn jittered(base: Duration) -> Duration {
    let factor = rand::rng().random_range(0.9..=1.1);
    base.mul_f64(factor)
}
