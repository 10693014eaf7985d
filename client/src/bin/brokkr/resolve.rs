//! Finding an object from what the user typed: its id, or its name (with a suggestion when
//! nothing matches: "stack 'web' not found; did you mean 'web-app'?").

use anyhow::bail;
use brokkr_client::Client;
use brokkr_client::models::{Agent, Generator, Stack, StackTemplate, WebhookResponse};
use uuid::Uuid;

/// Picks the one item named `wanted` (an id or a name) from `items`.
fn pick<T: Clone>(
    what: &str,
    wanted: &str,
    items: &[T],
    id: impl Fn(&T) -> Uuid,
    name: impl Fn(&T) -> String,
) -> anyhow::Result<T> {
    if let Ok(wanted_id) = wanted.parse::<Uuid>()
        && let Some(item) = items.iter().find(|i| id(i) == wanted_id)
    {
        return Ok(item.clone());
    }
    let matches: Vec<&T> = items.iter().filter(|i| name(i) == wanted).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let names: Vec<String> = items.iter().map(&name).collect();
            Err(not_found(what, wanted, &names))
        }
        many => bail!(
            "{what} name '{wanted}' is ambiguous ({} match); use an id: {}",
            many.len(),
            many.iter()
                .map(|i| id(i).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// "stack 'web' not found", with "; did you mean 'web-app'?" when a name is close.
pub fn not_found(what: &str, wanted: &str, names: &[String]) -> anyhow::Error {
    match suggestion(wanted, names) {
        Some(close) => anyhow::anyhow!("{what} '{wanted}' not found; did you mean '{close}'?"),
        None => anyhow::anyhow!("{what} '{wanted}' not found"),
    }
}

/// The closest name: one containing the other, or within a third of its length in edits.
pub fn suggestion(wanted: &str, names: &[String]) -> Option<String> {
    names
        .iter()
        .map(|n| (distance(wanted, n), n))
        .filter(|(d, n)| {
            n.contains(wanted) || wanted.contains(n.as_str()) || *d <= wanted.len().max(3) / 3
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.clone())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// A stack by id or name.
pub async fn stack(client: &Client, wanted: &str) -> anyhow::Result<Stack> {
    let stacks = client.list_stacks().await?;
    pick("stack", wanted, &stacks, |s| s.id, |s| s.name.clone())
}

/// A stack by id or name, or `None` when no stack has that name.
pub async fn stack_opt(client: &Client, wanted: &str) -> anyhow::Result<Option<Stack>> {
    let stacks = client.list_stacks().await?;
    if !stacks
        .iter()
        .any(|s| s.name == wanted || s.id.to_string() == wanted)
    {
        return Ok(None);
    }
    pick("stack", wanted, &stacks, |s| s.id, |s| s.name.clone()).map(Some)
}

/// An agent by id, name, or `name/cluster`.
pub async fn agent(client: &Client, wanted: &str) -> anyhow::Result<Agent> {
    let agents = client.list_agents().await?;
    if let Some(agent) = agents
        .iter()
        .find(|a| wanted.contains('/') && is_agent(a, wanted))
    {
        return Ok(agent.clone());
    }
    pick("agent", wanted, &agents, |a| a.id, |a| a.name.clone())
}

/// Whether `wanted` names the agent: its id, its name, or `name/cluster`.
pub fn is_agent(agent: &Agent, wanted: &str) -> bool {
    agent.name == wanted
        || agent.id.to_string() == wanted
        || wanted
            .split_once('/')
            .is_some_and(|(name, cluster)| agent.name == name && agent.cluster_name == cluster)
}

/// A generator by id or name.
pub async fn generator(client: &Client, wanted: &str) -> anyhow::Result<Generator> {
    let generators = client.list_generators().await?;
    pick(
        "generator",
        wanted,
        &generators,
        |g| g.id,
        |g| g.name.clone(),
    )
}

/// A webhook subscription by id or name.
pub async fn webhook(client: &Client, wanted: &str) -> anyhow::Result<WebhookResponse> {
    let webhooks = client.list_webhooks().await?;
    pick("webhook", wanted, &webhooks, |w| w.id, |w| w.name.clone())
}

/// A template by id, or by name (its newest version).
pub async fn template(client: &Client, wanted: &str) -> anyhow::Result<StackTemplate> {
    let mut templates = client.list_templates().await?;
    templates.sort_by_key(|t| std::cmp::Reverse(t.version));
    let mut newest: Vec<StackTemplate> = Vec::new();
    for t in templates {
        if wanted.parse::<Uuid>().ok() == Some(t.id)
            || !newest
                .iter()
                .any(|n| n.name == t.name && n.generator_id == t.generator_id)
        {
            newest.push(t);
        }
    }
    pick("template", wanted, &newest, |t| t.id, |t| t.name.clone())
}

/// An id the user typed (work orders and deliveries have no names).
pub fn id(what: &str, wanted: &str) -> anyhow::Result<Uuid> {
    wanted
        .parse()
        .map_err(|_| anyhow::anyhow!("'{wanted}' is not a {what} id (a UUID)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_close_names_only() {
        let names = vec!["web-app".to_owned(), "billing".to_owned()];
        assert_eq!(suggestion("web", &names).as_deref(), Some("web-app"));
        assert_eq!(suggestion("biling", &names).as_deref(), Some("billing"));
        assert_eq!(suggestion("zzz", &names), None);
    }
}
