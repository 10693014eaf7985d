//! Where the agent may act: the whole cluster, or only the namespaces of `agent.namespaces`
//! (the agent chart's `rbac.mode: namespaced`, where the agent holds Roles in those namespaces
//! and nothing cluster-wide).
//!
//! In namespaced mode every object of a deployment object or a work order must sit in one of
//! the namespaces (cluster-scoped kinds are refused: no Role can grant them), and every list the
//! agent makes (prune candidates, pods for health and diagnostics) is made per namespace, so
//! the agent never asks for what its Roles do not grant.

use brokkr_schema::config::AgentSettings;

/// The namespaces an agent manages.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceScope<'a> {
    /// Empty: the whole cluster.
    namespaces: &'a [String],
}

impl<'a> NamespaceScope<'a> {
    /// The scope of `agent.namespaces`.
    pub fn of(settings: &'a AgentSettings) -> Self {
        Self {
            namespaces: &settings.namespaces,
        }
    }

    /// Whether the agent manages the whole cluster.
    pub fn is_cluster_wide(&self) -> bool {
        self.namespaces.is_empty()
    }

    /// Whether objects in `namespace` are the agent's to manage.
    pub fn allows(&self, namespace: &str) -> bool {
        self.is_cluster_wide() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// Why an object in `namespace` (`None`: a cluster-scoped object) is outside the scope, or
    /// `None` when the agent may manage it.
    pub fn refusal(&self, namespace: Option<&str>) -> Option<String> {
        if self.is_cluster_wide() {
            return None;
        }
        let list = self.namespaces.join(", ");
        match namespace {
            None => Some(format!(
                "cluster-scoped objects are refused: this agent manages only the namespaces \
                 {list} (agent.namespaces)"
            )),
            Some(ns) if !self.allows(ns) => Some(format!(
                "namespace {ns} is not one of this agent's namespaces ({list}; agent.namespaces)"
            )),
            Some(_) => None,
        }
    }

    /// Where to list a kind: `[None]` (all namespaces at once) for a cluster-wide agent, else
    /// each managed namespace; a cluster-scoped kind is not listed at all in namespaced mode.
    pub fn listings(&self, namespaced_kind: bool) -> Vec<Option<&'a str>> {
        if self.is_cluster_wide() {
            vec![None]
        } else if namespaced_kind {
            self.namespaces.iter().map(|n| Some(n.as_str())).collect()
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(namespaces: &[&str]) -> AgentSettings {
        AgentSettings {
            namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
            ..AgentSettings::default()
        }
    }

    #[test]
    fn a_cluster_wide_agent_refuses_nothing_and_lists_across_namespaces() {
        let s = settings(&[]);
        let scope = NamespaceScope::of(&s);
        assert_eq!(scope.refusal(None), None);
        assert_eq!(scope.refusal(Some("anything")), None);
        assert_eq!(scope.listings(true), [None]);
        assert_eq!(scope.listings(false), [None]);
    }

    #[test]
    fn a_namespaced_agent_refuses_other_namespaces_and_cluster_scoped_kinds() {
        let s = settings(&["apps", "jobs"]);
        let scope = NamespaceScope::of(&s);
        assert_eq!(scope.refusal(Some("apps")), None);
        let other = scope.refusal(Some("kube-system")).unwrap();
        assert!(
            other.contains("namespace kube-system") && other.contains("apps, jobs"),
            "{other}"
        );
        assert!(scope.refusal(None).unwrap().contains("cluster-scoped"));
        assert_eq!(scope.listings(true), [Some("apps"), Some("jobs")]);
        assert!(scope.listings(false).is_empty());
    }
}
