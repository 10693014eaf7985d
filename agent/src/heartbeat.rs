//! Heartbeats: every `agent.polling_interval`, `POST /agents/{id}/heartbeat`, then re-read the
//! agent's record so a status change (ACTIVE ⇄ INACTIVE) reaches the other tasks. Runs in its
//! own task: nothing else the agent does can delay it.

use std::sync::Arc;
use std::time::Duration;

use brokkr_schema::models::Agent;
use rand::Rng;

use crate::context::AgentContext;

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    let interval = Duration::from_secs(ctx.settings.polling_interval);
    loop {
        beat(&ctx).await;
        if !ctx.sleep(jittered(interval)).await {
            return;
        }
    }
}

/// One heartbeat and, when it was accepted, a refresh of the agent's record.
pub async fn beat(ctx: &AgentContext) {
    let path = format!("/api/v1/agents/{}/heartbeat", ctx.agent_id);
    match ctx.broker.post_empty::<serde_json::Value>(&path).await {
        Ok(_) => {
            ctx.metrics.heartbeats.inc();
            ctx.status.heartbeat_ok();
            tracing::debug!("heartbeat accepted");
        }
        Err(e) => {
            tracing::warn!(error = %e, "heartbeat failed");
            ctx.status.heartbeat_failed(e.to_string());
            return;
        }
    }
    let path = format!("/api/v1/agents/{}", ctx.agent_id);
    match ctx.broker.get_json::<Agent>(&path).await {
        Ok(agent) => {
            let before = ctx.agent().status;
            if !before.eq_ignore_ascii_case(&agent.status) {
                tracing::info!(from = %before, to = %agent.status, "agent status changed");
            }
            ctx.set_agent(agent);
        }
        Err(e) => tracing::warn!(error = %e, "cannot refresh the agent record"),
    }
}

/// `base` ± 10 %, so a fleet of agents does not beat in step.
fn jittered(base: Duration) -> Duration {
    let factor = rand::rng().random_range(0.9..=1.1);
    base.mul_f64(factor)
}
