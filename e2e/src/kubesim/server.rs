//! The HTTP side: a hyper (HTTP/1.1) accept loop and the router that maps Kubernetes API paths
//! to discovery documents and the verbs of [`super::objects`], plus the admin endpoints under
//! `/_kubesim/` (fault injection, request counts, an object dump).
//!
//! Paths served:
//!
//! ```text
//! /version /api /apis /api/v1 /apis/{group} /apis/{group}/{version}
//! {prefix}/{resource}                                   list (all namespaces), create*, watch
//! {prefix}/{resource}/{name}[/status]                   cluster-scoped objects
//! {prefix}/namespaces/{ns}/{resource}                   list, create, deletecollection, watch
//! {prefix}/namespaces/{ns}/{resource}/{name}[/status]   get, replace, patch, delete
//! /api/v1/namespaces/{ns}/pods/{name}/log               pod logs (tailLines, container)
//! ```
//! where `{prefix}` is `/api/v1` or `/apis/{group}/{version}`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Cluster;
use super::controller;
use super::discovery;
use super::error::{ApiError, ApiResult};
use super::faults::FaultSpec;
use super::objects::{self, PatchKind, Target, WriteOptions};
use super::selectors::Selector;
use super::store::Change;

/// Response body: a full buffer or a watch stream.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Largest accepted request body.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("kubesim: connection refused by fault injection")]
pub struct DropConnection;

/// Accepts connections until the task is aborted; every connection is served on its own task
/// (aborted with the loop).
pub async fn serve(listener: TcpListener, cluster: Arc<Cluster>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Accept errors (e.g. too many open files) are transient; back off briefly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if cluster.faults.refusing() {
                    cluster.faults.record_refused();
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let cluster = cluster.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let cluster = cluster.clone();
                        async move { handle(cluster, req).await }
                    });
                    // Connection errors (client gone, dropped by a fault) end the connection.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

fn percent_decode(input: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], decoded) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string.
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
) -> Result<Response<Body>, DropConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if let Some(admin) = path.strip_prefix("/_kubesim/") {
        let admin = admin.to_string();
        return Ok(handle_admin(&cluster, &method, &admin, req).await);
    }
    if cluster.faults.refusing() {
        cluster.faults.record_refused();
        return Err(DropConnection);
    }
    if let Some(latency) = cluster.faults.latency() {
        tokio::time::sleep(latency).await;
    }
    if let Some(failure) = cluster.faults.take_failure(method.as_str(), &path) {
        let mut response = error_response(&ApiError::injected(failure.status));
        if let Some(seconds) = failure.retry_after
            && let Ok(value) = header::HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        cluster
            .faults
            .record(method.as_str(), &path, failure.status, true);
        return Ok(response);
    }
    let response = match authorize(&cluster, &req) {
        Ok(()) => match route(&cluster, req).await {
            Ok(response) => response,
            Err(err) => error_response(&err),
        },
        Err(err) => error_response(&err),
    };
    cluster
        .faults
        .record(method.as_str(), &path, response.status().as_u16(), false);
    if method != Method::GET {
        cluster.changed.notify_one();
    }
    Ok(response)
}

fn authorize(cluster: &Cluster, req: &Request<Incoming>) -> ApiResult<()> {
    let Some(token) = &cluster.token else {
        return Ok(());
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given == Some(token.as_str()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

async fn read_body(req: Request<Incoming>) -> ApiResult<Bytes> {
    Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| ApiError::too_large())
}

/// Parses a body as JSON, or YAML when it is not JSON.
fn parse_object(bytes: &[u8]) -> ApiResult<Value> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(json_err) => serde_yaml_ng::from_slice::<Value>(bytes).map_err(|_| {
            ApiError::bad_request(format!(
                "the request body is neither JSON nor YAML: {json_err}"
            ))
        }),
    }
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn route(cluster: &Arc<Cluster>, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let accept = header_str(&req, header::ACCEPT);
    let is_get = req.method() == Method::GET;
    let types = cluster.store().resource_types();
    let discovery_doc = |value: Option<Value>| -> ApiResult<Response<Body>> {
        if !is_get {
            return Err(ApiError::method_not_allowed(
                "discovery documents are read-only",
            ));
        }
        value
            .map(|v| json_response(200, &v))
            .ok_or_else(ApiError::unknown_resource)
    };
    match segs.as_slice() {
        [] => discovery_doc(Some(
            json!({"paths": ["/api", "/api/v1", "/apis", "/version"]}),
        )),
        ["version"] => discovery_doc(Some(discovery::version())),
        ["healthz"] | ["readyz"] | ["livez"] => Ok(Response::new(full("ok"))),
        ["api"] if discovery::wants_aggregated(&accept) => {
            let mut response = discovery_doc(Some(discovery::aggregated_core(&types)))?;
            set_content_type(&mut response, discovery::AGGREGATED_CONTENT_TYPE);
            Ok(response)
        }
        ["api"] => discovery_doc(Some(discovery::core_versions(&cluster.address))),
        ["apis"] if discovery::wants_aggregated(&accept) => {
            let mut response = discovery_doc(Some(discovery::aggregated_groups(&types)))?;
            set_content_type(&mut response, discovery::AGGREGATED_CONTENT_TYPE);
            Ok(response)
        }
        ["apis"] => discovery_doc(Some(discovery::group_list(&types))),
        ["api", "v1"] => discovery_doc(discovery::resource_list(&types, "", "v1")),
        ["apis", group] => discovery_doc(discovery::group(&types, group)),
        ["apis", group, version] => discovery_doc(discovery::resource_list(&types, group, version)),
        ["api", "v1", rest @ ..] => {
            let target = resolve_target(cluster, "", "v1", rest)?;
            serve_resource(cluster, target, req).await
        }
        ["apis", group, version, rest @ ..] => {
            let target = resolve_target(cluster, group, version, rest)?;
            serve_resource(cluster, target, req).await
        }
        _ => Err(ApiError::unknown_resource()),
    }
}

fn set_content_type(response: &mut Response<Body>, value: &'static str) {
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(value),
    );
}

/// Maps the path segments after the group-version prefix to a [`Target`].
fn resolve_target(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &[&str],
) -> ApiResult<Target> {
    let store = cluster.store();
    let lookup = |resource: &str| {
        store
            .resolve(group, version, resource)
            .ok_or_else(ApiError::unknown_resource)
    };
    // `/api/v1/namespaces/{name}/status|finalize` address the namespace itself.
    let namespaced_path = rest.len() >= 3
        && rest[0] == "namespaces"
        && !(group.is_empty() && matches!(rest[2], "status" | "finalize"));
    let (rt, namespace, name, sub) = if namespaced_path {
        let rt = lookup(rest[2])?;
        if !rt.namespaced {
            return Err(ApiError::unknown_resource());
        }
        (rt, Some(rest[1].to_string()), rest.get(3), rest.get(4))
    } else {
        let Some(resource) = rest.first() else {
            return Err(ApiError::unknown_resource());
        };
        let rt = lookup(resource)?;
        // Named namespaced objects are only reachable under /namespaces/{ns}/.
        if rt.namespaced && rest.len() > 1 {
            return Err(ApiError::unknown_resource());
        }
        (rt, None, rest.get(1), rest.get(2))
    };
    if rest.len() > if namespace.is_some() { 5 } else { 3 } {
        return Err(ApiError::unknown_resource());
    }
    if let Some(sub) = sub {
        let known = (*sub == "status" && rt.has_status)
            || (*sub == "log" && rt.group.is_empty() && rt.plural == "pods");
        if !known {
            return Err(ApiError::unknown_resource());
        }
    }
    Ok(Target {
        rt,
        namespace,
        name: name.map(|n| (*n).to_string()),
        subresource: sub.map(|s| (*s).to_string()),
    })
}

async fn serve_resource(
    cluster: &Arc<Cluster>,
    target: Target,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let query = parse_query(req.uri().query());
    let method = req.method().clone();
    let user_agent = header_str(&req, header::USER_AGENT);
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let opts = WriteOptions::from_query(&query, &user_agent)?;
    if target.subresource.as_deref() == Some("log") {
        if method != Method::GET {
            return Err(ApiError::method_not_allowed("pod logs are read-only"));
        }
        let name = target.name.clone().unwrap_or_default();
        let pod = objects::get(&cluster.store(), &target)?;
        let text = controller::pod_log(&pod, &name, &query)?;
        let mut response = Response::new(full(text));
        set_content_type(&mut response, "text/plain");
        return Ok(response);
    }
    let is_watch = matches!(
        query.get("watch").map(String::as_str),
        Some("true") | Some("1")
    );
    match (&method, target.name.is_some()) {
        (&Method::GET, false) if is_watch => watch(cluster, target, &query),
        (&Method::GET, false) => Ok(json_response(
            200,
            &objects::list(&cluster.store(), &target, &query)?,
        )),
        (&Method::GET, true) => Ok(json_response(
            200,
            &objects::get(&cluster.store(), &target)?,
        )),
        (&Method::POST, false) if target.namespace.is_some() || !target.rt.namespaced => {
            let body = parse_object(&read_body(req).await?)?;
            let created = objects::create(&mut cluster.store(), &target, body, &opts)?;
            Ok(json_response(201, &created))
        }
        (&Method::PUT, true) => {
            let body = parse_object(&read_body(req).await?)?;
            let replaced = objects::replace(&mut cluster.store(), &target, body, &opts)?;
            Ok(json_response(200, &replaced))
        }
        (&Method::PATCH, true) => {
            let kind = PatchKind::from_content_type(&content_type)?;
            let body = parse_object(&read_body(req).await?)?;
            let (object, created) =
                objects::patch(&mut cluster.store(), &target, kind, body, &opts)?;
            Ok(json_response(if created { 201 } else { 200 }, &object))
        }
        (&Method::DELETE, true) if target.subresource.is_none() => {
            let body = parse_object(&read_body(req).await?)?;
            let result = objects::delete(&mut cluster.store(), &target, &body, &query, &opts)?;
            Ok(json_response(200, &result))
        }
        (&Method::DELETE, false) if target.namespace.is_some() || !target.rt.namespaced => {
            let body = parse_object(&read_body(req).await?)?;
            let result =
                objects::delete_collection(&mut cluster.store(), &target, &body, &query, &opts)?;
            Ok(json_response(200, &result))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    }
}

/// Does a change concern this watch?
fn watch_matches(target: &Target, labels: &Selector, fields: &Selector, change: &Change) -> bool {
    change.key.group == target.rt.group
        && change.key.resource == target.rt.plural
        && target
            .namespace
            .as_ref()
            .is_none_or(|ns| *ns == change.key.namespace)
        && labels.matches_labels(&change.object["metadata"]["labels"])
        && fields.matches_fields(&change.object)
}

fn watch_line(kind: &str, mut object: Value, target: &Target) -> Bytes {
    if object.is_object() && object["kind"] != "Status" {
        object["apiVersion"] = json!(target.rt.api_version());
    }
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// `?watch=true`: streams changes as JSON lines. Without a resourceVersion (or with "0") the
/// current objects come first as ADDED; with `sendInitialEvents=true` they are followed by the
/// initial-events-end BOOKMARK. Ends after `timeoutSeconds` (default 30 minutes).
fn watch(
    cluster: &Arc<Cluster>,
    target: Target,
    query: &HashMap<String, String>,
) -> ApiResult<Response<Body>> {
    let labels = match query.get("labelSelector") {
        Some(s) => Selector::parse_labels(s)?,
        None => Selector::default(),
    };
    let fields = match query.get("fieldSelector") {
        Some(s) => Selector::parse_fields(s)?,
        None => Selector::default(),
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    let send_initial = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let requested_rv = query
        .get("resourceVersion")
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .cloned();
    let (mut receiver, initial, mut last_rv) = {
        let store = cluster.store();
        let receiver = store.subscribe();
        let mut initial = Vec::new();
        let current = store.resource_version();
        match requested_rv.as_deref() {
            Some(rv) if !send_initial => {
                let rv: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                })?;
                match store.changes_since(rv) {
                    Some(changes) => {
                        for c in changes
                            .into_iter()
                            .filter(|c| watch_matches(&target, &labels, &fields, c))
                        {
                            initial.push(watch_line(c.kind, c.object, &target));
                        }
                    }
                    None => {
                        let gone =
                            ApiError::gone(format!("too old resource version: {rv} ({current})"));
                        initial.push(watch_line("ERROR", gone.to_status(), &target));
                    }
                }
            }
            _ => {
                for object in store.list(&target.rt, target.namespace.as_deref()) {
                    if labels.matches_labels(&object["metadata"]["labels"])
                        && fields.matches_fields(&object)
                    {
                        initial.push(watch_line("ADDED", object, &target));
                    }
                }
                if send_initial {
                    let bookmark = json!({
                        "apiVersion": target.rt.api_version(), "kind": target.rt.kind,
                        "metadata": {"resourceVersion": current.to_string(),
                                     "annotations": {"k8s.io/initial-events-end": "true"}},
                    });
                    initial.push(watch_line("BOOKMARK", bookmark, &target));
                }
            }
        }
        (receiver, initial, current)
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        for line in initial {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(deadline);
        let mut bookmark_tick = tokio::time::interval(Duration::from_secs(60));
        bookmark_tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = bookmark_tick.tick(), if bookmarks => {
                    let bookmark = json!({"apiVersion": target.rt.api_version(), "kind": target.rt.kind,
                                          "metadata": {"resourceVersion": last_rv.to_string()}});
                    if tx.send(watch_line("BOOKMARK", bookmark, &target)).await.is_err() {
                        return;
                    }
                }
                change = receiver.recv() => match change {
                    Ok(change) => {
                        if change.rv <= last_rv {
                            continue;
                        }
                        last_rv = change.rv;
                        if watch_matches(&target, &labels, &fields, &change)
                            && tx.send(watch_line(change.kind, change.object, &target)).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let gone = ApiError::gone("watch fell behind; relist");
                        let _ = tx.send(watch_line("ERROR", gone.to_status(), &target)).await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, Infallible>(Frame::data(line)), rx))
    });
    let mut response = Response::new(StreamBody::new(stream).boxed_unsync());
    set_content_type(&mut response, "application/json");
    Ok(response)
}

async fn handle_admin(
    cluster: &Cluster,
    method: &Method,
    path: &str,
    req: Request<Incoming>,
) -> Response<Body> {
    let result: ApiResult<Value> = async {
        match (method, path.trim_end_matches('/')) {
            (&Method::GET, "healthz") => Ok(json!({"ok": true})),
            (&Method::GET, "faults") => Ok(cluster.faults.describe()),
            (&Method::POST, "faults") => {
                let body = read_body(req).await?;
                let spec: FaultSpec = serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("invalid fault spec: {e}")))?;
                cluster.faults.set(&spec).map_err(ApiError::bad_request)?;
                Ok(cluster.faults.describe())
            }
            (&Method::DELETE, "faults") => {
                cluster.faults.clear();
                Ok(cluster.faults.describe())
            }
            (&Method::GET, "requests") => Ok(cluster.faults.requests()),
            (&Method::DELETE, "requests") => {
                cluster.faults.reset_requests();
                Ok(cluster.faults.requests())
            }
            (&Method::GET, "objects") => {
                let store = cluster.store();
                let objects: Vec<Value> = store
                    .all()
                    .map(|(k, o)| {
                        json!({"group": k.group, "resource": k.resource, "namespace": k.namespace,
                               "name": k.name, "kind": o["kind"],
                               "resourceVersion": o["metadata"]["resourceVersion"]})
                    })
                    .collect();
                Ok(json!({"resourceVersion": store.resource_version(), "objects": objects}))
            }
            _ => Err(ApiError::unknown_resource()),
        }
    }
    .await;
    match result {
        Ok(value) => json_response(200, &value),
        Err(err) => error_response(&err),
    }
}
