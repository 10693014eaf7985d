//! Where the agent may act: the whole cluster, or only the namespaces of `agent.namespaces`
//! (the agent chart's `rbac.mode: namespaced`, where the agent holds Roles in those namespaces
//! and nothing cluster-wide).
//!
//! In namespaced mode every object of a deployment object or a work order must sit in one of
//! the namespaces, and cluster-scoped kinds are refused unless listed in
//! `agent.cluster_resources` (the chart's `rbac.clusterResources`, granted by a ClusterRole).
//! Every list the agent makes (prune candidates, pods for health and diagnostics) is made per
//! namespace (granted cluster-scoped kinds: cluster-wide), so the agent never asks for what its
//! Roles do not grant.

use brokkr_schema::config::AgentSettings;
use kube::api::ApiResource;

/// The namespaces an agent manages.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceScope<'a> {
    /// Empty: the whole cluster.
    namespaces: &'a [String],
    /// Cluster-scoped resources granted in namespaced mode (`plural[.group]`).
    cluster_resources: &'a [String],
}

/// How RBAC and `agent.cluster_resources` name a resource: `plural`, then `.group` unless core.
pub fn resource_name(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

impl<'a> NamespaceScope<'a> {
    /// The scope of `agent.namespaces` and `agent.cluster_resources`.
    pub fn of(settings: &'a AgentSettings) -> Self {
        Self {
            namespaces: &settings.namespaces,
            cluster_resources: &settings.cluster_resources,
        }
    }

    /// Whether a namespaced agent was granted this cluster-scoped resource.
    fn grants_cluster(&self, resource: &ApiResource) -> bool {
        let name = resource_name(resource);
        self.cluster_resources.contains(&name)
    }

    /// Whether the agent manages the whole cluster.
    pub fn is_cluster_wide(&self) -> bool {
        self.namespaces.is_empty()
    }

    /// Whether objects in `namespace` are the agent's to manage.
    pub fn allows(&self, namespace: &str) -> bool {
        self.is_cluster_wide() || self.namespaces.iter().any(|n| n == namespace)
    }

    /// Why an object of `resource` in `namespace` (`None`: a cluster-scoped object) is
    /// outside the scope, or `None` when the agent may manage it.
    pub fn refusal(&self, resource: &ApiResource, namespace: Option<&str>) -> Option<String> {
        if self.is_cluster_wide() {
            return None;
        }
        let list = self.namespaces.join(", ");
        match namespace {
            None if self.grants_cluster(resource) => None,
            None => Some(format!(
                "cluster-scoped {} are refused: this agent manages only the namespaces {list} \
                 (agent.namespaces; agent.cluster_resources grants cluster-scoped resources)",
                resource_name(resource)
            )),
            Some(ns) if !self.allows(ns) => Some(format!(
                "namespace {ns} is not one of this agent's namespaces ({list}; agent.namespaces)"
            )),
            Some(_) => None,
        }
    }

    /// Where to list `resource`: `[None]` (all namespaces at once) for a cluster-wide agent,
    /// else each managed namespace; in namespaced mode a cluster-scoped resource is listed
    /// (`[None]`) only when granted.
    pub fn listings(&self, resource: &ApiResource, namespaced: bool) -> Vec<Option<&'a str>> {
        if self.is_cluster_wide() || (!namespaced && self.grants_cluster(resource)) {
            vec![None]
        } else if namespaced {
            self.namespaces.iter().map(|n| Some(n.as_str())).collect()
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::GroupVersionKind;

    fn settings(namespaces: &[&str], cluster: &[&str]) -> AgentSettings {
        let list = |l: &[&str]| l.iter().map(|n| (*n).to_owned()).collect();
        AgentSettings {
            namespaces: list(namespaces),
            cluster_resources: list(cluster),
            ..AgentSettings::default()
        }
    }

    fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", kind), plural)
    }

    #[test]
    fn a_cluster_wide_agent_refuses_nothing_and_lists_across_namespaces() {
        let s = settings(&[], &[]);
        let scope = NamespaceScope::of(&s);
        let (cm, ns) = (
            resource("", "ConfigMap", "configmaps"),
            resource("", "Namespace", "namespaces"),
        );
        assert_eq!(scope.refusal(&ns, None), None);
        assert_eq!(scope.refusal(&cm, Some("anything")), None);
        assert_eq!(scope.listings(&cm, true), [None]);
        assert_eq!(scope.listings(&ns, false), [None]);
    }

    #[test]
    fn a_namespaced_agent_refuses_other_namespaces_and_ungranted_cluster_scoped_kinds() {
        let s = settings(&["apps", "jobs"], &["namespaces"]);
        let scope = NamespaceScope::of(&s);
        let cm = resource("", "ConfigMap", "configmaps");
        let ns = resource("", "Namespace", "namespaces");
        let crd = resource(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        );
        assert_eq!(scope.refusal(&cm, Some("apps")), None);
        let other = scope.refusal(&cm, Some("kube-system")).unwrap();
        assert!(
            other.contains("namespace kube-system") && other.contains("apps, jobs"),
            "{other}"
        );
        assert_eq!(scope.refusal(&ns, None), None, "granted");
        let refused = scope.refusal(&crd, None).unwrap();
        assert!(
            refused.contains("cluster-scoped customresourcedefinitions.apiextensions.k8s.io"),
            "{refused}"
        );
        assert_eq!(scope.listings(&cm, true), [Some("apps"), Some("jobs")]);
        assert_eq!(scope.listings(&ns, false), [None]);
        assert!(scope.listings(&crd, false).is_empty());
    }
}
