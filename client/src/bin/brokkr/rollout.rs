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

/// What a rollout shows when no agent runs the stack.
fn no_agents(stack: &str) -> String {
    format!(
        "no active agent runs stack '{stack}' (target it with `brokkr target add`, or share a label)"
    )
}

/// The live view: the agents' table, and the no-agent notice when the table is empty. Every
/// line of it is redrawn, so the notice is part of the frame.
fn live_frame(stack: &str, rows: &[AgentRollout]) -> String {
    let mut table = Table::new(vec!["AGENT", "STATE", "HEALTH", "MESSAGE"]);
    for r in rows {
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
    let mut text = table.render();
    if rows.is_empty() {
        text.push_str(&no_agents(stack));
        text.push('\n');
    }
    text
}

/// A frame redrawn in place on a terminal: each draw goes back over every line the previous
/// one printed and clears below.
#[derive(Debug, Default)]
struct LiveTable {
    drawn_lines: usize,
}

impl LiveTable {
    fn draw(&mut self, out: &mut impl Write, frame: &str) -> std::io::Result<()> {
        if self.drawn_lines > 0 {
            write!(out, "\x1b[{}A\x1b[J", self.drawn_lines)?;
        }
        write!(out, "{frame}")?;
        self.drawn_lines = frame.lines().count();
        Ok(())
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
    let mut screen = LiveTable::default();
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
            screen = LiveTable::default();
        }
        if live {
            screen.draw(&mut out, &live_frame(&stack.name, &rows))?;
        } else {
            for r in &rows {
                let line = r.line();
                if shown.get(&r.agent) != Some(&line) {
                    writeln!(out, "{line}")?;
                    shown.insert(r.agent.clone(), line);
                }
            }
            if rows.is_empty() && !told_no_agents {
                writeln!(out, "{}", no_agents(&stack.name))?;
                told_no_agents = true;
            }
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

    /// What a terminal shows after `bytes`: lines, with `ESC[nA` (cursor up) and `ESC[J` (clear
    /// below) applied.
    fn screen(bytes: &str) -> Vec<String> {
        let mut lines: Vec<String> = vec![String::new()];
        let mut row: usize = 0;
        let mut rest = bytes;
        while let Some(c) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("\x1b[") {
                let end = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
                let n: usize = after[..end].parse().unwrap_or(1);
                match after[end..].chars().next() {
                    Some('A') => row = row.saturating_sub(n),
                    Some('J') => {
                        lines.truncate(row + 1);
                        lines[row].clear();
                    }
                    other => panic!("unexpected escape {other:?}"),
                }
                rest = &after[end + 1..];
                continue;
            }
            if c == '\n' {
                row += 1;
                if lines.len() <= row {
                    lines.push(String::new());
                }
            } else {
                lines[row].push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
        lines.into_iter().filter(|l| !l.is_empty()).collect()
    }

    #[test]
    fn the_live_table_without_agents_redraws_its_notice_and_one_header() {
        let mut out = Vec::new();
        let mut live = LiveTable::default();
        for _ in 0..3 {
            live.draw(&mut out, &live_frame("web", &[])).unwrap();
        }
        let shown = screen(&String::from_utf8(out).unwrap());
        assert_eq!(
            shown,
            vec!["AGENT  STATE  HEALTH  MESSAGE".to_owned(), no_agents("web")]
        );
    }

    #[test]
    fn the_live_table_is_redrawn_in_place_when_agents_appear() {
        let mut out = Vec::new();
        let mut live = LiveTable::default();
        live.draw(&mut out, &live_frame("web", &[])).unwrap();
        let agent = AgentRollout {
            agent: "a/c".into(),
            state: State::Applied,
            health: Some(HealthStatus::Healthy),
        };
        live.draw(&mut out, &live_frame("web", &[agent])).unwrap();
        let shown = screen(&String::from_utf8(out).unwrap());
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("AGENT") && shown[1].starts_with("a/c"),
            "{shown:?}"
        );
    }
}
