//! The registry of applied deployment objects: which deployment object of which stack is in the
//! cluster right now, in which namespaces, as which objects.
//!
//! The reconcile loop writes it after each successful apply (one entry per stack: a newer
//! deployment object replaces the older one; a deletion marker or a stack leaving the target
//! state removes it). Deployment health and diagnostics read it. Because the agent asks for the
//! full target state, the registry is rebuilt after a restart by the first reconcile pass. It
//! is bounded: at most [`MAX_ENTRIES`] entries, the least recently applied go first.
//!
//! ```ignore
//! for deployment in ctx.applied.snapshot() {
//!     let selector = deployment.pod_selector(); // k8s.brokkr.io/stack=<stack id>
//!     for ns in &deployment.namespaces { /* list pods in ns with selector */ }
//! }
//! ```

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::labels::STACK_LABEL;

/// Most entries kept (one per stack, so this bounds the number of stacks tracked).
pub const MAX_ENTRIES: usize = 10_000;

/// One Kubernetes object the agent applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppliedRef {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// Namespace of a namespaced object; `None` for cluster-scoped ones.
    pub namespace: Option<String>,
    pub name: String,
}

/// A deployment object as applied to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedDeployment {
    /// The deployment object's id (also the value of the `brokkr.io/deployment-object-id`
    /// label on its objects).
    pub deployment_object_id: Uuid,
    pub stack_id: Uuid,
    /// The deployment object's `yaml_checksum`.
    pub checksum: String,
    /// Namespaces its namespaced objects live in (sorted, unique).
    pub namespaces: Vec<String>,
    /// Every object applied, in apply order.
    pub objects: Vec<AppliedRef>,
    /// When it was last applied successfully.
    pub applied_at: DateTime<Utc>,
}

impl AppliedDeployment {
    /// The label selector matching its pods: `k8s.brokkr.io/stack=<stack id>` (pod templates
    /// carry the stack label; a stack has one applied deployment object at a time).
    pub fn pod_selector(&self) -> String {
        format!("{STACK_LABEL}={}", self.stack_id)
    }
}

/// The shared registry (see the module documentation).
#[derive(Debug, Default)]
pub struct AppliedObjects {
    by_stack: RwLock<HashMap<Uuid, AppliedDeployment>>,
}

impl AppliedObjects {
    /// Records a successful apply; replaces the stack's previous entry.
    pub fn record(&self, deployment: AppliedDeployment) {
        let mut map = self.by_stack.write().unwrap_or_else(|e| e.into_inner());
        map.insert(deployment.stack_id, deployment);
        while map.len() > MAX_ENTRIES {
            let oldest = map
                .values()
                .min_by_key(|d| d.applied_at)
                .map(|d| d.stack_id);
            match oldest {
                Some(stack) => map.remove(&stack),
                None => break,
            };
        }
    }

    /// Forgets a stack (its objects were removed).
    pub fn remove_stack(&self, stack_id: Uuid) -> Option<AppliedDeployment> {
        self.by_stack
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&stack_id)
    }

    /// Keeps only the stacks in `stacks`.
    pub fn retain_stacks(&self, keep: impl Fn(&Uuid) -> bool) {
        self.by_stack
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|stack, _| keep(stack));
    }

    /// Every applied deployment object (a copy; the registry may change meanwhile).
    pub fn snapshot(&self) -> Vec<AppliedDeployment> {
        let mut all: Vec<AppliedDeployment> = self
            .by_stack
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|d| d.applied_at);
        all
    }

    /// The entry of a deployment object, if it is the one applied for its stack.
    pub fn get(&self, deployment_object_id: Uuid) -> Option<AppliedDeployment> {
        self.by_stack
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|d| d.deployment_object_id == deployment_object_id)
            .cloned()
    }

    /// The entry of a stack.
    pub fn for_stack(&self, stack_id: Uuid) -> Option<AppliedDeployment> {
        self.by_stack
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&stack_id)
            .cloned()
    }

    /// Ids of every applied deployment object.
    pub fn deployment_object_ids(&self) -> Vec<Uuid> {
        self.snapshot()
            .into_iter()
            .map(|d| d.deployment_object_id)
            .collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.by_stack
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Kubernetes objects of every entry: what the agent manages.
    pub fn object_count(&self) -> usize {
        self.by_stack
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|d| d.objects.len())
            .sum()
    }

    /// True when nothing is applied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stack: Uuid, id: Uuid) -> AppliedDeployment {
        AppliedDeployment {
            deployment_object_id: id,
            stack_id: stack,
            checksum: "c".into(),
            namespaces: vec!["default".into()],
            objects: vec![],
            applied_at: Utc::now(),
        }
    }

    #[test]
    fn a_newer_deployment_object_replaces_the_stacks_entry() {
        let registry = AppliedObjects::default();
        let stack = Uuid::new_v4();
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        registry.record(entry(stack, first));
        registry.record(entry(stack, second));
        assert_eq!(registry.len(), 1);
        assert!(registry.get(first).is_none());
        assert_eq!(
            registry.get(second).unwrap().pod_selector(),
            format!("k8s.brokkr.io/stack={stack}")
        );
        registry.remove_stack(stack);
        assert!(registry.is_empty());
    }
}
