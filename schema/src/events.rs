//! Events: what Brokkr announces to the outside world when a change commits.
//!
//! The envelope `{id, event_type, timestamp, data}` is the body of every webhook delivery.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every event type a subscription can ask for.
pub const EVENT_TYPES: &[&str] = &[
    AGENT_REGISTERED,
    AGENT_DEREGISTERED,
    STACK_CREATED,
    STACK_DELETED,
    DEPLOYMENT_CREATED,
    DEPLOYMENT_APPLIED,
    DEPLOYMENT_FAILED,
    DEPLOYMENT_DELETED,
    DEPLOYMENT_HEALTH_CHANGED,
    WORKORDER_CREATED,
    WORKORDER_CLAIMED,
    WORKORDER_COMPLETED,
    WORKORDER_FAILED,
    WEBHOOK_DISABLED,
];

/// An agent registered with a generator (at creation: with the system generator).
pub const AGENT_REGISTERED: &str = "agent.registered";
/// An agent deregistered from a generator, or was deleted.
pub const AGENT_DEREGISTERED: &str = "agent.deregistered";
/// A stack was created.
pub const STACK_CREATED: &str = "stack.created";
/// A stack was deleted.
pub const STACK_DELETED: &str = "stack.deleted";
/// A deployment object was stored.
pub const DEPLOYMENT_CREATED: &str = "deployment.created";
/// An agent reported a successful apply.
pub const DEPLOYMENT_APPLIED: &str = "deployment.applied";
/// An agent reported a failed apply.
pub const DEPLOYMENT_FAILED: &str = "deployment.failed";
/// A deletion marker was stored.
pub const DEPLOYMENT_DELETED: &str = "deployment.deleted";
/// The overall health of a deployment object changed.
pub const DEPLOYMENT_HEALTH_CHANGED: &str = "deployment.health_changed";
/// A work order was created.
pub const WORKORDER_CREATED: &str = "workorder.created";
/// A work order was claimed by an agent.
pub const WORKORDER_CLAIMED: &str = "workorder.claimed";
/// A work order completed successfully.
pub const WORKORDER_COMPLETED: &str = "workorder.completed";
/// A work order failed for good.
pub const WORKORDER_FAILED: &str = "workorder.failed";

/// A subscription was disabled because its deliveries kept failing.
pub const WEBHOOK_DISABLED: &str = "webhook.disabled";

/// The envelope delivered to webhook receivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokkrEvent {
    /// Unique id; also the idempotency key of its deliveries.
    pub id: Uuid,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    /// When the change committed.
    pub timestamp: DateTime<Utc>,
    /// Event-specific payload.
    pub data: serde_json::Value,
}

impl BrokkrEvent {
    /// A new event with a fresh id, stamped now.
    pub fn new(event_type: &str, data: serde_json::Value) -> Self {
        Self {
            id: Uuid::new_v4(),
            event_type: event_type.to_owned(),
            timestamp: Utc::now(),
            data,
        }
    }
}

/// Does a subscription pattern (`*`, `prefix.*` or an exact type) match `event_type`?
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix(".*") {
        return event_type
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1);
    }
    pattern == event_type
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_the_seed() {
        assert!(pattern_matches("*", "agent.registered"));
        assert!(pattern_matches("deployment.*", "deployment.applied"));
        assert!(pattern_matches("health.*", "health.a.b"));
        assert!(!pattern_matches("health.*", "health"));
        assert!(!pattern_matches("health.*", "healthy.x"));
        assert!(pattern_matches("stack.created", "stack.created"));
        assert!(!pattern_matches("stack.created", "stack.deleted"));
        assert!(!pattern_matches("stack*", "stack.created"));
    }
}
