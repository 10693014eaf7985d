//! `brokkr rollout status`: how far the newest deployment object of a stack has got on each
//! agent that runs the stack — pending, applied, or failed with the agent's message.
//!
//! The agents running a stack are those whose associated stacks include it (targets, labels,
//! annotations); their verdict is their newest event about the object. Listing agents and their
//! events is the admin's right, so this needs the admin PAK.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::bail;
use brokkr_client::Client;
use brokkr_client::models::{DeploymentObject, Stack};

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
    /// The health the agent last reported for the object (`healthy`, `degraded`…).
    pub health: Option<String>,
}

impl AgentRollout {
    fn line(&self) -> String {
        let health = self
            .health
            .as_deref()
            .map(|h| format!(" (health: {h})"))
            .unwrap_or_default();
        match &self.state {
            State::Pending => format!("agent {}: pending{health}", self.agent),
            State::Applied => format!("agent {}: applied{health}", self.agent),
            State::Failed(message) => format!("agent {}: failed: {message}{health}", self.agent),
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

/// The newest deployment object of a stack.
pub async fn newest_object(client: &Client, stack: &Stack) -> anyhow::Result<DeploymentObject> {
    let objects = client.list_deployment_objects(stack.id).await?;
    match objects.into_iter().max_by_key(|o| o.sequence_id) {
        Some(object) => Ok(object),
        None => bail!("stack '{}' has no deployment objects yet", stack.name),
    }
}

/// Every agent running the stack and what it did with `object`.
pub async fn observe(
    client: &Client,
    stack: &Stack,
    object: &DeploymentObject,
) -> anyhow::Result<Vec<AgentRollout>> {
    let agents = match client.list_agents().await {
        Ok(agents) => agents,
        Err(e) if e.status() == Some(403) => {
            bail!("rollout status reads agents and their events, which needs the admin PAK ({e})")
        }
        Err(e) => return Err(e.into()),
    };
    let health: HashMap<uuid::Uuid, String> = client
        .deployment_health(object.id)
        .await
        .map(|h| {
            h.health_records
                .into_iter()
                .map(|r| (r.agent_id, r.status))
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for agent in agents.into_iter().filter(|a| a.status == "ACTIVE") {
        let stacks = client.list_agent_stacks(agent.id).await?;
        if !stacks.iter().any(|s| s.id == stack.id) {
            continue;
        }
        let events = client.list_agent_events_of(agent.id).await?;
        let verdict = events
            .iter()
            .filter(|e| e.deployment_object_id == object.id)
            .max_by_key(|e| e.created_at);
        let state = match verdict {
            None => State::Pending,
            Some(e) if e.status == "SUCCESS" => State::Applied,
            Some(e) => State::Failed(one_line(e.message.as_deref().unwrap_or("no message"), 300)),
        };
        rows.push(AgentRollout {
            agent: format!("{}/{}", agent.name, agent.cluster_name),
            state,
            health: health.get(&agent.id).cloned(),
        });
    }
    rows.sort_by(|a, b| a.agent.cmp(&b.agent));
    Ok(rows)
}

fn outcome(rows: &[AgentRollout]) -> Outcome {
    if rows.iter().any(|r| matches!(r.state, State::Failed(_))) {
        Outcome::Failed
    } else if rows.is_empty() || rows.iter().any(|r| r.state == State::Pending) {
        Outcome::Pending
    } else {
        Outcome::Applied
    }
}

/// Shows the rollout of the stack's newest object; with `wait`, until every agent has answered
/// or `timeout` passes. A terminal gets a table redrawn in place, anything else a line per change.
pub async fn status(
    client: &Client,
    stack: &Stack,
    wait: bool,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let object = newest_object(client, stack).await?;
    let deadline = Instant::now() + timeout;
    let live = std::io::stdout().is_terminal();
    let mut shown: HashMap<String, String> = HashMap::new();
    let mut drawn_lines = 0;
    let mut told_no_agents = false;
    let header = format!(
        "stack {} version {} ({})",
        stack.name, object.sequence_id, object.id
    );
    println!("{header}");
    loop {
        let rows = observe(client, stack, &object).await?;
        let result = outcome(&rows);
        let mut out = std::io::stdout().lock();
        if live {
            let mut table = Table::new(vec!["AGENT", "STATE", "HEALTH", "MESSAGE"]);
            for r in &rows {
                let (state, message) = match &r.state {
                    State::Pending => ("pending", String::new()),
                    State::Applied => ("applied", String::new()),
                    State::Failed(m) => ("failed", m.clone()),
                };
                table.row(vec![
                    r.agent.clone(),
                    state.into(),
                    r.health.clone().unwrap_or_else(|| "-".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: State) -> AgentRollout {
        AgentRollout {
            agent: "a/c".into(),
            state,
            health: None,
        }
    }

    #[test]
    fn any_failure_fails_and_no_agents_is_pending() {
        assert_eq!(outcome(&[]), Outcome::Pending);
        assert_eq!(outcome(&[row(State::Applied)]), Outcome::Applied);
        assert_eq!(
            outcome(&[row(State::Pending), row(State::Failed("x".into()))]),
            Outcome::Failed
        );
        assert_eq!(
            outcome(&[row(State::Applied), row(State::Pending)]),
            Outcome::Pending
        );
    }
}
