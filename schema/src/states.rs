//! Every status and kind that crosses a boundary (HTTP, the database, webhook payloads, the
//! audit log), as an enum.
//!
//! Each enum is declared once, through [`states!`], with the text of every value written once:
//! that one string is its name on the wire (the poem-openapi `Enum` of the OpenAPI document, and
//! serde for event payloads and audit details), its value in the database (a TEXT column, through
//! `sqlx::Type` under feature `db`) and what [`as_str`](AgentStatus::as_str),
//! [`Display`](std::fmt::Display) and [`FromStr`](std::str::FromStr) produce and accept.
//!
//! Request bodies and query parameters keep their status fields as strings and check them with
//! [`crate::validation::state`], so a bad value keeps its `400` and its message
//! (`status must be one of ACTIVE, INACTIVE`).
//!
//! ```
//! use brokkr_schema::states::{AgentStatus, HealthStatus};
//! assert_eq!(AgentStatus::Active.as_str(), "ACTIVE");
//! assert_eq!("degraded".parse(), Ok(HealthStatus::Degraded));
//! assert!("DEGRADED".parse::<HealthStatus>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

/// Text that names no value of a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{text}'")]
pub struct UnknownState {
    /// What the text should have named (`agent status`).
    pub kind: &'static str,
    /// The text.
    pub text: String,
}

/// What every state enum offers, for code generic over them (validation messages).
pub trait State: Copy + Eq + FromStr<Err = UnknownState> + fmt::Display + 'static {
    /// What the value is the state of, for messages (`agent status`).
    const KIND: &'static str;
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];
    /// The text of the value on the wire and in the database.
    fn text(self) -> &'static str;
}

/// The values of `states`, as messages list them: `ACTIVE, INACTIVE`.
pub fn list<T: State>(states: &[T]) -> String {
    states
        .iter()
        .map(|s| s.text())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Declares state enums: `enum Name("what it is") { Variant = "text", ... }`.
macro_rules! states {
    ($(
        $(#[$meta:meta])*
        pub enum $name:ident ($kind:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt, )+
        }
    )+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum)]
        #[cfg_attr(feature = "db", derive(sqlx::Type))]
        #[cfg_attr(feature = "db", sqlx(type_name = "text"))]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[oai(rename = $text)]
                #[cfg_attr(feature = "db", sqlx(rename = $text))]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the order messages list them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The text of the value on the wire and in the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl State for $name {
            const KIND: &'static str = $kind;
            const ALL: &'static [Self] = $name::ALL;

            fn text(self) -> &'static str {
                self.as_str()
            }
        }

        impl FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownState { kind: $kind, text: text.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )+};
}

states! {
    /// Whether an agent takes part: only `ACTIVE` agents do deployment work (new agents start
    /// `INACTIVE`).
    pub enum AgentStatus("agent status") {
        Active = "ACTIVE",
        Inactive = "INACTIVE",
    }

    /// The outcome an agent reports for applying a deployment object.
    pub enum AgentEventStatus("agent event status") {
        Success = "SUCCESS",
        Failure = "FAILURE",
    }

    /// The health of a deployment object on an agent (and, overall, the worst over its agents).
    pub enum HealthStatus("health status") {
        Healthy = "healthy",
        Degraded = "degraded",
        Failing = "failing",
        /// Nothing known (no report, or the agent cannot tell).
        Unknown = "unknown",
    }

    /// Where an on-demand diagnostic request stands.
    pub enum DiagnosticStatus("diagnostic status") {
        Pending = "pending",
        Claimed = "claimed",
        Completed = "completed",
        Failed = "failed",
        /// Not finished before it expired.
        Expired = "expired",
    }

    /// Where a work order stands: `PENDING`, `CLAIMED` or `RETRY_PENDING` in the active queue,
    /// `COMPLETED` or `FAILED` once it is in the log.
    pub enum WorkOrderStatus("work order status") {
        Pending = "PENDING",
        Claimed = "CLAIMED",
        /// Failed, waiting for its backoff before it is `PENDING` again.
        RetryPending = "RETRY_PENDING",
        Completed = "COMPLETED",
        Failed = "FAILED",
    }

    /// Where a webhook delivery stands.
    pub enum DeliveryStatus("delivery status") {
        Pending = "pending",
        /// An attempt holds its lease.
        Acquired = "acquired",
        Success = "success",
        /// The last attempt failed; another is scheduled.
        Failed = "failed",
        /// Attempts used up.
        Dead = "dead",
    }

    /// The outcome of a template rollout for one stack.
    pub enum TemplateRolloutStackStatus("template rollout stack status") {
        Pending = "pending",
        /// A deployment object was created.
        Rendered = "rendered",
        /// The stored parameters break the new schema; the stack is unchanged.
        InvalidParameters = "invalid_parameters",
        /// Rendering or matching failed; the stack is unchanged.
        Failed = "failed",
        /// The stack changed or went away since the rollout started.
        Skipped = "skipped",
    }

    /// A template rollout: `running` while a stack is pending, then `completed`.
    pub enum TemplateRolloutStatus("template rollout status") {
        Running = "running",
        Completed = "completed",
    }

    /// Where a rollout stands: for one agent, or for every agent running the stack.
    pub enum RolloutState("rollout state") {
        /// Not reported yet (or, for a whole rollout, no agent runs the stack).
        Pending = "pending",
        /// Applied (for a whole rollout: by every agent).
        Applied = "applied",
        /// The agent reported a failure (for a whole rollout: at least one did).
        Failed = "failed",
    }

    /// Who made a change (the audit log's `actor_type`).
    pub enum ActorKind("actor type") {
        /// The admin PAK.
        Admin = "admin",
        /// An agent PAK.
        Agent = "agent",
        /// A generator PAK.
        Generator = "generator",
        /// Brokkr itself (CLI, background work).
        System = "system",
    }
}

impl WorkOrderStatus {
    /// The states of an order in the active queue.
    pub const QUEUED: &'static [Self] = &[Self::Pending, Self::Claimed, Self::RetryPending];

    /// How a finished order is shown: `COMPLETED` or `FAILED`.
    pub fn finished(success: bool) -> Self {
        if success {
            Self::Completed
        } else {
            Self::Failed
        }
    }
}

impl HealthStatus {
    /// How bad the status is (the worst wins): failing > degraded > healthy > unknown.
    pub fn severity(self) -> u8 {
        match self {
            Self::Failing => 3,
            Self::Degraded => 2,
            Self::Healthy => 1,
            Self::Unknown => 0,
        }
    }

    /// The status of a severity (what [`severity`](Self::severity) gives; anything else is
    /// `unknown`).
    pub fn of_severity(severity: i64) -> Self {
        match severity {
            3 => Self::Failing,
            2 => Self::Degraded,
            1 => Self::Healthy,
            _ => Self::Unknown,
        }
    }

    /// The worst of `statuses`, `unknown` when there are none.
    pub fn worst(statuses: impl IntoIterator<Item = Self>) -> Self {
        statuses
            .into_iter()
            .max_by_key(|s| s.severity())
            .unwrap_or(Self::Unknown)
    }
}

impl RolloutState {
    /// The state of a whole rollout from its agents' states.
    pub fn overall(agents: impl IntoIterator<Item = Self>) -> Self {
        let mut any = false;
        let mut pending = false;
        for state in agents {
            any = true;
            match state {
                Self::Failed => return Self::Failed,
                Self::Pending => pending = true,
                Self::Applied => {}
            }
        }
        if any && !pending {
            Self::Applied
        } else {
            Self::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: State + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned>() {
        for &state in T::ALL {
            assert_eq!(state.text().parse::<T>(), Ok(state));
            assert_eq!(state.to_string(), state.text());
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json, serde_json::Value::String(state.text().to_owned()));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), state);
        }
        let err = "no such state".parse::<T>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("unknown {} 'no such state'", T::KIND)
        );
    }

    #[test]
    fn every_state_reads_back_what_it_writes() {
        round_trips::<AgentStatus>();
        round_trips::<AgentEventStatus>();
        round_trips::<HealthStatus>();
        round_trips::<DiagnosticStatus>();
        round_trips::<WorkOrderStatus>();
        round_trips::<DeliveryStatus>();
        round_trips::<TemplateRolloutStackStatus>();
        round_trips::<TemplateRolloutStatus>();
        round_trips::<RolloutState>();
        round_trips::<ActorKind>();
    }

    #[test]
    fn the_wire_text_is_the_documented_text() {
        assert_eq!(list(AgentStatus::ALL), "ACTIVE, INACTIVE");
        assert_eq!(list(AgentEventStatus::ALL), "SUCCESS, FAILURE");
        assert_eq!(
            list(HealthStatus::ALL),
            "healthy, degraded, failing, unknown"
        );
        assert_eq!(
            list(DiagnosticStatus::ALL),
            "pending, claimed, completed, failed, expired"
        );
        assert_eq!(
            list(WorkOrderStatus::QUEUED),
            "PENDING, CLAIMED, RETRY_PENDING"
        );
        assert_eq!(
            list(WorkOrderStatus::ALL),
            "PENDING, CLAIMED, RETRY_PENDING, COMPLETED, FAILED"
        );
        assert_eq!(
            list(DeliveryStatus::ALL),
            "pending, acquired, success, failed, dead"
        );
        assert_eq!(
            list(TemplateRolloutStackStatus::ALL),
            "pending, rendered, invalid_parameters, failed, skipped"
        );
        assert_eq!(list(TemplateRolloutStatus::ALL), "running, completed");
        assert_eq!(list(RolloutState::ALL), "pending, applied, failed");
        assert_eq!(list(ActorKind::ALL), "admin, agent, generator, system");
    }

    #[test]
    fn the_worst_health_wins_and_nothing_is_unknown() {
        use HealthStatus::*;
        assert_eq!(HealthStatus::worst([]), Unknown);
        assert_eq!(HealthStatus::worst([Healthy, Unknown]), Healthy);
        assert_eq!(HealthStatus::worst([Healthy, Failing, Degraded]), Failing);
        for &s in HealthStatus::ALL {
            assert_eq!(HealthStatus::of_severity(i64::from(s.severity())), s);
        }
    }

    #[test]
    fn any_failure_fails_a_rollout_and_no_agents_leaves_it_pending() {
        use RolloutState::{Applied, Failed, Pending};
        assert_eq!(RolloutState::overall([]), Pending);
        assert_eq!(RolloutState::overall([Applied]), Applied);
        assert_eq!(RolloutState::overall([Pending, Failed]), Failed);
        assert_eq!(RolloutState::overall([Applied, Pending]), Pending);
    }
}
