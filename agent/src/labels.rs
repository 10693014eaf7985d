//! The labels and annotations the agent stamps on what it applies, and its field manager.
//!
//! Labels (selectable): the stack (also on pod templates, so pods can be found with
//! `k8s.brokkr.io/stack=<id>`; it stays the same across versions, so a new deployment object
//! does not roll every workload), the deployment object, and the owning agent. Annotations: the
//! owning agent and the deployment object's checksum.

/// Label: the stack an object (or pod) belongs to.
pub const STACK_LABEL: &str = "k8s.brokkr.io/stack";
/// Label: the deployment object an object came from.
pub const DEPLOYMENT_OBJECT_LABEL: &str = "brokkr.io/deployment-object-id";
/// Label and annotation: the agent that applied an object.
pub const OWNER_LABEL: &str = "brokkr.io/owner-id";
/// Annotation: the `yaml_checksum` of the deployment object an object came from.
pub const CHECKSUM_ANNOTATION: &str = "k8s.brokkr.io/deployment-checksum";
/// The one server-side-apply field manager of everything the agent applies.
pub const FIELD_MANAGER: &str = "brokkr-agent";
