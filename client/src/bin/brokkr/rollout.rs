//! `brokkr rollout status`: how far the newest deployment object of a stack has got on each
//! agent that runs the stack — pending, applied, or failed with the agent's message.
//!
//! One call, `GET /stacks/{id}/rollout`, answers it; the admin and the generator that owns the
//! stack may make it, so a CI job runs this with the PAK it applied with.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::bail;
use brokkr_client::Client;
use brokkr_client::models::{AgentRolloutStatus, HealthStatus, RolloutState, Stack};

use crate::output::{Table, one_line};

/// What one agent did with the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Pending,
    Applied,
    Failed(String),
}

/// One agent's line.
#[derive(Debug, Clone)]
pub struct AgentRollout {
    pub agent: String,
    pub state: State,
    /// The health the agent last reported for the object.
    pub health: Option<HealthStatus>,
}

impl AgentRollout {
    fn line(&self) -> String {
        let health = self
            .health
            .map(|h| format!(" (health: {h})"))
            .unwrap_or_default();
        match &self.state {
            State::Pending => format!("agent {}: {}{health}", self.agent, RolloutState::Pending),
            State::Applied => format!("agent {}: {}{health}", self.agent, RolloutState::Applied),
            State::Failed(message) => format!(
                "agent {}: {}: {message}{health}",
                self.agent,
                RolloutState::Failed
            ),
        }
    }
}

impl From<AgentRolloutStatus> for AgentRollout {
    fn from(a: AgentRolloutStatus) -> Self {
        let state = match a.state {
            RolloutState::Pending => State::Pending,
            RolloutState::Applied => State::Applied,
            RolloutState::Failed => {
                State::Failed(one_line(a.message.as_deref().unwrap_or("no message"), 300))
            }
        };
        Self {
            agent: format!("{}/{}", a.agent_name, a.cluster_name),
            state,
            health: a.health,
        }
    }
}

/// How a rollout ended; the process exit code follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every agent applied the object.
    Applied,
    /// At least one agent failed.
    Failed,
    /// Agents are still pending (when not waiting, or at the deadline).
    Pending,
}

impl From<RolloutState> for Outcome {
    fn from(state: RolloutState) -> Self {
        match state {
            RolloutState::Pending => Self::Pending,
            RolloutState::Applied => Self::Applied,
            RolloutState::Failed => Self::Failed,
        }
    }
}

/// The newest object's version, the rollout's outcome so far, and every agent running the
/// stack with what it did with the object.
async fn observe(
    client: &Client,
    stack: &Stack,
) -> anyhow::Result<(i64, Outcome, Vec<AgentRollout>)> {
    let status = client.stack_rollout_status(stack.id).await?;
    let Some(version) = status.sequence_id else {
        bail!("stack '{}' has no deployment objects yet", stack.name);
    };
    let rows = status.agents.into_iter().map(AgentRollout::from).collect();
    Ok((version, status.state.into(), rows))
}

/// Shows the rollout of the stack's newest object; with `wait`, until every agent has answered
/// or `timeout` passes. A terminal gets a table redrawn in place, anything else a line per change.
pub async fn status(
    client: &Client,
    stack: &Stack,
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + timeout;
    let live = std::io::stdout().is_terminal();
    let mut shown: HashMap<String, String> = HashMap::new();
    let mut drawn_lines = 0;
    let mut told_no_agents = false;
    let mut shown_version = None;
    loop {
        let (version, result, rows) = observe(client, stack).await?;
        let mut out = std::io::stdout().lock();
        if shown_version != Some(version) {
            // A newer version applied meanwhile is the one followed from now on.
            writeln!(out, "stack {} version {version}", stack.name)?;
            shown_version = Some(version);
            shown.clear();
            drawn_lines = 0;
        }
        if live {
            let mut table = Table::new(vec!["AGENT", "STATE", "HEALTH", "MESSAGE"]);
            for r in &rows {
                let (state, message) = match &r.state {
                    State::Pending => (RolloutState::Pending, String::new()),
                    State::Applied => (RolloutState::Applied, String::new()),
                    State::Failed(m) => (RolloutState::Failed, m.clone()),
                };
                table.row(vec![
                    r.agent.clone(),
                    state.to_string(),
                    r.health.map_or_else(|| "-".into(), |h| h.to_string()),
                    message,
                ]);
            }
            let text = table.render();
            if drawn_lines > 0 {
                // Back to the top of the previous table, then clear below.
                write!(out, "\x1b[{drawn_lines}A\x1b[J")?;
            }
            write!(out, "{text}")?;
            drawn_lines = text.lines().count();
        } else {
            for r in &rows {
                let line = r.line();
                if shown.get(&r.agent) != Some(&line) {
                    writeln!(out, "{line}")?;
                    shown.insert(r.agent.clone(), line);
                }
            }
        }
        if rows.is_empty() && !told_no_agents {
            writeln!(
                out,
                "no active agent runs stack '{}' (target it with `brokkr target add`, or share a label)",
                stack.name
            )?;
            told_no_agents = true;
        }
        out.flush()?;
        drop(out);
        if result != Outcome::Pending || !wait || Instant::now() >= deadline {
            let count = |f: fn(&State) -> bool| rows.iter().filter(|r| f(&r.state)).count();
            println!(
                "{} applied, {} failed, {} pending",
                count(|s| *s == State::Applied),
                count(|s| matches!(s, State::Failed(_))),
                count(|s| *s == State::Pending)
            );
            return Ok(result);
        }
        tokio::time::sleep(Duration::from_secs(1).min(deadline - Instant::now())).await;
    }
}
