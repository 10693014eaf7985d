//! The HTTP envelope around every route: body-size limit, input PostgreSQL cannot store, JSON
//! errors, request metrics.
//!
//! Whatever fails — an unknown route, malformed JSON, a wrong content type, an invalid UUID, a
//! missing key, an oversized body, a NUL character in any input — the caller gets
//! `{"error": "..."}` with the right status.

use std::sync::Arc;
use std::time::Instant;

use poem::error::{MethodNotAllowedError, NotFoundError};
use poem::http::{StatusCode, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};

use crate::state::AppState;

/// The original API's agent search path (trailing slash), which OpenAPI cannot tell apart
/// from `/agents`; it is served by [`AGENT_SEARCH_PATH`].
const AGENT_SEARCH_ALIAS: &str = "/api/v1/agents/";
/// Where agent search is documented.
const AGENT_SEARCH_PATH: &str = "/api/v1/agents/search";

fn rewrite_path(req: &mut Request, path: &str) {
    let target = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    if let Ok(uri) = target.parse() {
        *req.uri_mut() = uri;
    }
}

/// `Retry-After` of every 503: database outages (a restart, a failover) last seconds.
const RETRY_AFTER_SECONDS: &str = "2";

/// A JSON error response.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message });
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// Turns any error into a JSON response (keeping responses that already are JSON).
fn error_response(err: poem::Error) -> Response {
    let status = err.status();
    let message = err.to_string();
    let response = err.into_response();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return response;
    }
    let message = if status == StatusCode::UNAUTHORIZED && message == "authorization error" {
        "missing Authorization header: send `Authorization: Bearer <PAK>`".to_owned()
    } else if message.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        message
    };
    json_error(status, &message)
}

/// The outermost middleware: enforces the body limit, refuses unstorable input, renders errors
/// as JSON and records metrics.
pub async fn envelope<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let Some(state) = req.data::<Arc<AppState>>().cloned() else {
        return Ok(json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application state missing",
        ));
    };
    let started = Instant::now();
    if req.uri().path() == AGENT_SEARCH_ALIAS {
        rewrite_path(&mut req, AGENT_SEARCH_PATH);
    }
    let path = req.uri().path().to_owned();
    let method = req.method().as_str().to_owned();

    let limit = usize::try_from(state.settings.broker.max_body_bytes).unwrap_or(usize::MAX);
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than the limit of {limit} bytes"),
        )
    };
    let limited = match declared {
        Some(n) if n > limit as u64 => Err(too_large()),
        Some(_) => Ok(()),
        None if req.header(header::TRANSFER_ENCODING).is_some() => {
            // No declared length: read at most `limit` bytes before handing the body on.
            match req.take_body().into_bytes_limit(limit).await {
                Ok(bytes) => {
                    req.set_body(Body::from(bytes));
                    Ok(())
                }
                Err(_) => Err(too_large()),
            }
        }
        None => Ok(()),
    };

    // Only a body within the limit is read to look for input PostgreSQL cannot store.
    let admitted = match limited {
        Ok(()) => crate::unstorable_input::refuse_nul(&mut req)
            .await
            .map_err(|message| json_error(StatusCode::BAD_REQUEST, &message)),
        Err(response) => Err(response),
    };

    let (mut response, unmatched) = match admitted {
        Err(response) => (response, false),
        Ok(()) => match ep.call(req).await {
            Ok(output) => (output.into_response(), false),
            Err(err) => {
                let unmatched = err.is::<NotFoundError>() || err.is::<MethodNotAllowedError>();
                (error_response(err), unmatched)
            }
        },
    };
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        // The database is away: tell clients when trying again makes sense.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    if path != "/metrics" {
        // Unmatched paths share one label value so scanners cannot blow up cardinality.
        let endpoint = if unmatched {
            "<unmatched>"
        } else {
            path.as_str()
        };
        state.metrics.record_http(
            endpoint,
            &method,
            response.status().as_u16(),
            started.elapsed(),
        );
    }
    Ok(response)
}
