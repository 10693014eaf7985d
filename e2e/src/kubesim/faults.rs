//! Fault injection and the request log behind the admin endpoints.
//!
//! `POST /_kubesim/faults` takes a [`FaultSpec`] (every field optional, given fields replace
//! the current setting):
//!
//! ```json
//! {"fail_next": 3, "status": 503, "path_prefix": "/apis/apps", "methods": ["PATCH"],
//!  "retry_after_seconds": 1, "latency_ms": 200, "latency_for_ms": 5000,
//!  "refuse_connections_ms": 2000}
//! ```
//!
//! * `fail_next` + `status` (429, 500, 503, ...; default 503): the next N API requests (matching
//!   `path_prefix`/`methods` when given) answer with that status and a `Status` body.
//! * `latency_ms`: every API request waits that long first (for `latency_for_ms`, or until
//!   cleared).
//! * `refuse_connections_ms`: for that long, new connections are closed at once and requests
//!   on open connections are dropped without an answer.
//!
//! `DELETE /_kubesim/faults` clears everything; `GET /_kubesim/faults` shows the settings.
//! `GET /_kubesim/requests` counts requests (total, per method, per status, faults injected,
//! the last 200); `DELETE /_kubesim/requests` resets the counts. Admin requests are never
//! faulted or counted.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A fault setting, as posted to `/_kubesim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Fail this many of the next matching requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// Status code of the failures (default 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Only requests whose path starts with this fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Only requests with one of these methods fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// `Retry-After` header on the failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Added latency per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// How long the latency lasts (until cleared when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_for_ms: Option<u64>,
    /// Refuse connections for this long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_connections_ms: Option<u64>,
}

#[derive(Debug, Default)]
struct FaultState {
    fail_remaining: u32,
    fail_status: u16,
    path_prefix: Option<String>,
    methods: Option<Vec<String>>,
    retry_after: Option<u64>,
    latency: Option<Duration>,
    latency_until: Option<Instant>,
    refuse_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct RequestLog {
    total: u64,
    by_method: BTreeMap<String, u64>,
    by_status: BTreeMap<u16, u64>,
    faults_injected: u64,
    connections_refused: u64,
    recent: VecDeque<Value>,
}

/// Fault settings and request counters, shared by the server and tests.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
    log: Mutex<RequestLog>,
}

/// An injected failure for one request.
#[derive(Debug, Clone, Copy)]
pub struct InjectedFailure {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
}

impl Faults {
    /// Applies a fault setting (given fields replace the current ones).
    pub fn set(&self, spec: &FaultSpec) -> Result<(), String> {
        if let Some(status) = spec.status
            && !(400..=599).contains(&status)
        {
            return Err(format!("status must be a 4xx or 5xx code, got {status}"));
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(n) = spec.fail_next {
            state.fail_remaining = n;
            state.fail_status = spec.status.unwrap_or(503);
            state.path_prefix = spec.path_prefix.clone();
            state.methods = spec
                .methods
                .as_ref()
                .map(|m| m.iter().map(|s| s.to_uppercase()).collect());
            state.retry_after = spec.retry_after_seconds;
        }
        if let Some(ms) = spec.latency_ms {
            state.latency = (ms > 0).then(|| Duration::from_millis(ms));
            state.latency_until = spec.latency_for_ms.map(|d| now + Duration::from_millis(d));
        }
        if let Some(ms) = spec.refuse_connections_ms {
            state.refuse_until = (ms > 0).then(|| now + Duration::from_millis(ms));
        }
        Ok(())
    }

    /// Removes every fault.
    pub fn clear(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = FaultState::default();
    }

    /// The current settings, for `GET /_kubesim/faults`.
    pub fn describe(&self) -> Value {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let remaining_ms =
            |until: Option<Instant>| until.map(|u| u.saturating_duration_since(now).as_millis());
        json!({
            "fail_next": state.fail_remaining,
            "status": state.fail_status,
            "path_prefix": state.path_prefix,
            "methods": state.methods,
            "retry_after_seconds": state.retry_after,
            "latency_ms": state.latency.map(|d| d.as_millis()),
            "latency_remaining_ms": remaining_ms(state.latency_until),
            "refusing_connections": state.refuse_until.is_some_and(|u| u > now),
            "refuse_remaining_ms": remaining_ms(state.refuse_until.filter(|u| *u > now)),
        })
    }

    /// Whether connections are being refused right now.
    pub fn refusing(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.refuse_until.is_some_and(|u| u > Instant::now())
    }

    /// The latency to add to a request now.
    pub fn latency(&self) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.latency_until.is_some_and(|u| u <= Instant::now()) {
            state.latency = None;
            state.latency_until = None;
        }
        state.latency
    }

    /// Takes one injected failure for this request, if one is pending and it matches.
    pub fn take_failure(&self, method: &str, path: &str) -> Option<InjectedFailure> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.fail_remaining == 0 {
            return None;
        }
        if state
            .path_prefix
            .as_ref()
            .is_some_and(|p| !path.starts_with(p.as_str()))
        {
            return None;
        }
        if state
            .methods
            .as_ref()
            .is_some_and(|m| !m.iter().any(|x| x == method))
        {
            return None;
        }
        state.fail_remaining -= 1;
        Some(InjectedFailure {
            status: state.fail_status,
            retry_after: state.retry_after,
        })
    }

    /// Counts one answered API request.
    pub fn record(&self, method: &str, path: &str, status: u16, injected: bool) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.total += 1;
        *log.by_method.entry(method.to_string()).or_default() += 1;
        *log.by_status.entry(status).or_default() += 1;
        if injected {
            log.faults_injected += 1;
        }
        if log.recent.len() >= 200 {
            log.recent.pop_front();
        }
        log.recent
            .push_back(json!({"method": method, "path": path, "status": status,
                                    "injected": injected}));
    }

    /// Counts one refused connection or dropped request.
    pub fn record_refused(&self) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.connections_refused += 1;
    }

    /// The counters, for `GET /_kubesim/requests`.
    pub fn requests(&self) -> Value {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let by_status: BTreeMap<String, u64> = log
            .by_status
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        json!({
            "total": log.total,
            "by_method": log.by_method,
            "by_status": by_status,
            "faults_injected": log.faults_injected,
            "connections_refused": log.connections_refused,
            "recent": log.recent,
        })
    }

    /// Resets the counters.
    pub fn reset_requests(&self) {
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = RequestLog::default();
    }
}
