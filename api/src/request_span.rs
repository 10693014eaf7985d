//! One span per HTTP request (`http.request`), the root of the broker's part of a trace.
//!
//! The span continues the caller's trace when the request carries a W3C `traceparent` header
//! (the agent sends one; so can any client), and records the route template (`http.route`,
//! such as `/api/v1/agents/{id}/target-state`, never the raw path with its ids or query), the
//! response status and who called (`brokkr.agent_id` or `brokkr.generator_id`, recorded by
//! [`record_caller`] once the PAK is checked; the PAK itself never). Everything the request
//! does — its database transaction, the jobs it pushes (which carry the span's context to the
//! worker), the deployment objects it creates — happens inside it.
//!
//! Each request also gets one log line when it ends: at `INFO`, except the requests of agents
//! (their polls, heartbeats and claims repeat every few seconds) and the probes, at `DEBUG`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use brokkr_schema::trace_context::TRACEPARENT;
use poem::PathPattern;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;
use tracing::Instrument;
use tracing::field::Empty;

use brokkr_schema::store::auth::Identity;

/// Paths of the probes, polled by orchestrators.
const PROBES: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// The documented path of each operation (`createDeploymentObject` →
/// `/api/v1/stacks/{id}/deployment-objects`): poem routes with positional parameter names,
/// the document has the real ones.
#[derive(Debug, Default)]
pub struct Routes(HashMap<String, String>);

impl Routes {
    /// Reads the operations of the OpenAPI document `document` (JSON) served under `prefix`.
    pub fn from_document(document: &str, prefix: &str) -> Routes {
        let mut routes = HashMap::new();
        let parsed: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        if let Some(paths) = parsed["paths"].as_object() {
            for (path, operations) in paths {
                for operation in operations.as_object().into_iter().flat_map(|o| o.values()) {
                    if let Some(id) = operation["operationId"].as_str() {
                        routes.insert(id.to_owned(), format!("{prefix}{path}"));
                    }
                }
            }
        }
        Routes(routes)
    }
}

/// Middleware: runs the request inside its span and logs its outcome.
pub async fn traced<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    routes: Arc<Routes>,
) -> poem::Result<Response> {
    let method = req.method().as_str().to_owned();
    let probe = PROBES.contains(&req.uri().path());
    let span = tracing::info_span!(
        "http.request",
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = Empty,
        http.response.status_code = Empty,
        brokkr.agent_id = Empty,
        brokkr.generator_id = Empty,
    );
    brokkr_runtime::telemetry::continue_trace(&span, req.header(TRACEPARENT));
    let caller = CallerSlot::default();
    req.set_data(caller.clone());
    let started = Instant::now();
    let response = match ep.call(req).instrument(span.clone()).await {
        Ok(output) => output.into_response(),
        Err(err) => err.into_response(),
    };
    let route = response
        .data::<OperationId>()
        .and_then(|id| routes.0.get(id.0).cloned())
        .or_else(|| response.data::<PathPattern>().map(|p| route_template(&p.0)))
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let status = response.status().as_u16();
    brokkr_runtime::telemetry::rename(&span, format!("{method} {route}"));
    span.record("http.route", route.as_str());
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let by_agent = match caller.0.get() {
        Some(Identity::Agent(id)) => {
            span.record("brokkr.agent_id", tracing::field::display(id));
            true
        }
        Some(Identity::Generator(id)) => {
            span.record("brokkr.generator_id", tracing::field::display(id));
            false
        }
        _ => false,
    };
    let quiet = probe || by_agent;
    // Inside the span, so a JSON line carries its trace and span ids.
    span.in_scope(|| {
        if quiet {
            tracing::debug!(method = %method, route = %route, status, elapsed_ms, "request");
        } else {
            tracing::info!(method = %method, route = %route, status, elapsed_ms, "request");
        }
    });
    Ok(response)
}

/// Who the request turned out to be from, filled in by [`record_caller`].
#[derive(Clone, Default)]
struct CallerSlot(Arc<OnceLock<Identity>>);

/// Notes the authenticated caller of `req` for its span and log line (ids only).
pub fn record_caller(req: &Request, identity: Identity) {
    if let Some(slot) = req.data::<CallerSlot>() {
        let _ = slot.0.set(identity);
    }
}

/// A route outside the OpenAPI document: `/healthz`; `/a/:x` → `/a/{x}`.
fn route_template(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_templates_name_parameters_in_braces() {
        assert_eq!(
            route_template("/api/v1/agents/:id/target-state"),
            "/api/v1/agents/{id}/target-state"
        );
        assert_eq!(route_template("/healthz"), "/healthz");
    }
}
