//! Traces end to end: broker, worker and agent export their spans over OTLP to a receiver of
//! ours (`brokkr_e2e::otlp`), and one trace follows a change from the request that posted it,
//! through the worker's job and webhook delivery (and the `traceparent` the receiver got), to
//! the agent's apply, which links to it. A collector that never answers costs nothing the
//! clients can see.

use std::time::{Duration, Instant};

use brokkr_e2e::harness::{Harness, Options};
use brokkr_e2e::otlp::{OtlpReceiver, Protocol, SilentCollector};
use brokkr_e2e::receiver::Receiver;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// A 256-bit webhook encryption key for the broker and worker.
const KEY: &str = "3c1f0e2d4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// Spans reach the receiver within a few export rounds.
const SPANS: Duration = Duration::from_secs(60);

fn env_pair(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// Telemetry on, every trace sampled, batches sent every 200 ms.
fn telemetry_env(endpoint: &str, protocol: &str) -> Vec<(String, String)> {
    vec![
        env_pair("BROKKR__TELEMETRY__ENABLED", "true"),
        env_pair("BROKKR__TELEMETRY__OTLP_ENDPOINT", endpoint),
        env_pair("BROKKR__TELEMETRY__OTLP_PROTOCOL", protocol),
        env_pair("BROKKR__TELEMETRY__SAMPLING_RATE", "1.0"),
        env_pair("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ]
}

fn server_env(mut telemetry: Vec<(String, String)>) -> Vec<(String, String)> {
    telemetry.push(env_pair("BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY", KEY));
    telemetry.push(env_pair(
        "BROKKR__WEBHOOKS__ALLOWED_NETWORKS",
        "127.0.0.0/8",
    ));
    telemetry
}

/// A fresh sampled `traceparent` of the test's own: (header, trace id, span id).
fn our_traceparent() -> (String, String, String) {
    let trace_id = Uuid::new_v4().simple().to_string();
    let span_id = Uuid::new_v4().simple().to_string()[..16].to_owned();
    (format!("00-{trace_id}-{span_id}-01"), trace_id, span_id)
}

async fn subscribe(h: &Harness, url: &str) {
    let body = json!({
        "name": format!("traces-{}", Uuid::new_v4().simple()),
        "url": url,
        "event_types": ["deployment.created"],
        "timeout_seconds": 5,
    });
    let (status, sub) = h
        .api(Method::POST, "/api/v1/webhooks", Some(body))
        .await
        .expect("subscription created");
    assert_eq!(status, 201, "{sub}");
}

/// Posts a deployment object as the generator, sending `traceparent`.
async fn post_object(h: &Harness, stack: Uuid, yaml: &str, traceparent: &str) -> Value {
    let response = h
        .http
        .post(format!(
            "{}/api/v1/stacks/{stack}/deployment-objects",
            h.base
        ))
        .bearer_auth(&h.generator_pak)
        .header("traceparent", traceparent)
        .json(&json!({"yaml_content": yaml}))
        .send()
        .await
        .expect("POST deployment object");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("deployment object JSON")
}

fn config_map(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: traced\n  namespace: {ns}\ndata:\n  color: blue\n"
    )
}

#[tokio::test]
async fn one_trace_connects_the_post_the_job_the_delivery_and_the_agents_apply() {
    let otlp = OtlpReceiver::start().await;
    // Compressed exports, as the standard variable asks.
    let mut telemetry = telemetry_env(&otlp.endpoint(), "grpc");
    telemetry.push(env_pair("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"));
    let mut agent_env = telemetry.clone();
    // Health and diagnostics rounds every second, so theirs reach the collector too.
    agent_env.push(env_pair("BROKKR__AGENT__DEPLOYMENT_HEALTH_INTERVAL", "1"));
    agent_env.push(env_pair("BROKKR__AGENT__DIAGNOSTICS_INTERVAL", "1"));
    let mut h = Harness::start(Options {
        server_env: server_env(telemetry),
        agent_env,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let receiver = Receiver::start().await;
    subscribe(&h, &receiver.url()).await;
    let stack = h.create_stack("traced").await.expect("stack");
    let (traceparent, trace_id, our_span) = our_traceparent();
    let ns = h.ns("traced");
    let object = post_object(&h, stack, &config_map(&ns), &traceparent).await;
    let object_id = object["id"].as_str().expect("object id").to_owned();

    // The deployment object remembers the trace of the request that created it.
    let recorded = object["traceparent"]
        .as_str()
        .expect("traceparent recorded");
    assert!(
        recorded.starts_with(&format!("00-{trace_id}-")),
        "{recorded} is not in trace {trace_id}"
    );

    // The broker's request span continues our trace, with the route template.
    let post = otlp
        .wait_for("the broker's POST span", SPANS, |s| {
            s.trace_id == trace_id && s.name.starts_with("POST ") && s.service == "brokkr-broker"
        })
        .await;
    assert_eq!(post.parent_span_id, our_span, "the POST continues our span");
    assert_eq!(
        post.attribute("http.route"),
        Some("/api/v1/stacks/{id}/deployment-objects"),
        "{post:?}"
    );
    assert_eq!(post.attribute("http.response.status_code"), Some("200"));
    assert_eq!(
        post.attribute("brokkr.generator_id"),
        Some(h.generator_id.to_string().as_str())
    );
    assert!(
        post.attributes
            .values()
            .all(|v| !v.contains(&h.generator_pak)),
        "a PAK in the span: {post:?}"
    );
    // Its write transaction is its child. (The worker's transactions for the delivery are in
    // the same trace, under the job, and may reach the collector first: look for the broker's.)
    let tx = otlp
        .wait_for("the POST's db.transaction span", SPANS, |s| {
            s.trace_id == trace_id && s.name == "db.transaction" && s.service == "brokkr-broker"
        })
        .await;
    assert_eq!(tx.parent_span_id, post.span_id, "{tx:?}");

    // The worker's job for the delivery is a child of the request, the delivery of the job.
    let job = otlp
        .wait_for_span(&trace_id, "job webhook_delivery", SPANS)
        .await;
    assert_eq!(job.service, "brokkr-worker");
    assert_eq!(
        job.parent_span_id, post.span_id,
        "the job continues the request"
    );
    let delivery = otlp
        .wait_for_span(&trace_id, "webhook.delivery", SPANS)
        .await;
    assert_eq!(delivery.parent_span_id, job.span_id);
    assert_eq!(delivery.attribute("http.response.status_code"), Some("200"));
    assert_eq!(delivery.attribute("brokkr.delivery.attempt"), Some("1"));
    assert!(delivery.attribute("brokkr.subscription_id").is_some());
    assert!(delivery.attribute("brokkr.delivery.latency_ms").is_some());
    assert!(
        delivery
            .attributes
            .values()
            .all(|v| !v.contains(&receiver.url())),
        "the URL in the span: {delivery:?}"
    );

    // The receiver got the delivery span's context.
    let received = receiver
        .wait_for("the delivery of deployment.created", |r| {
            r.body["event_type"] == "deployment.created"
        })
        .await;
    assert_eq!(
        received.header("traceparent"),
        Some(format!("00-{trace_id}-{}-01", delivery.span_id).as_str())
    );

    // The agent's apply of the object links to the request that created it.
    let apply = otlp
        .wait_for("the agent's apply span", SPANS, |s| {
            s.name == "agent.apply"
                && s.attribute("brokkr.deployment_object_id") == Some(object_id.as_str())
        })
        .await;
    assert_eq!(apply.service, "brokkr-agent");
    assert!(
        apply
            .links
            .iter()
            .any(|(t, s)| *t == trace_id && *s == post.span_id),
        "the apply links to the POST: {apply:?}"
    );
    assert_eq!(apply.attribute("brokkr.apply.applied"), Some("2"));
    assert_eq!(apply.attribute("brokkr.apply.pruned"), Some("0"));
    assert_eq!(apply.attribute("brokkr.apply.failed"), Some("0"));
    // ... and its Kubernetes calls are its children.
    otlp.wait_for("a kube API span under the apply", SPANS, |s| {
        s.name.starts_with("kube ") && s.parent_span_id == apply.span_id
    })
    .await;

    // The agent's polls continue into the broker: a broker request span whose parent is an
    // agent.poll span, recording the agent's id.
    let polls: Vec<_> = otlp
        .spans()
        .into_iter()
        .filter(|s| s.name == "agent.poll")
        .collect();
    assert!(!polls.is_empty(), "no agent.poll span");
    let poll_request = otlp
        .wait_for("a broker span under an agent poll", SPANS, |s| {
            s.service == "brokkr-broker"
                && s.name == "GET /api/v1/agents/{id}/target-state"
                && otlp
                    .spans()
                    .iter()
                    .any(|p| p.name == "agent.poll" && p.span_id == s.parent_span_id)
        })
        .await;
    assert_eq!(
        poll_request.attribute("brokkr.agent_id"),
        Some(h.agent_id.to_string().as_str())
    );

    // Heartbeats run in their own span, which the broker's request continues.
    let heartbeat_request = otlp
        .wait_for("a broker span under an agent heartbeat", SPANS, |s| {
            s.service == "brokkr-broker"
                && s.name == "POST /api/v1/agents/{id}/heartbeat"
                && otlp.spans().iter().any(|p| {
                    p.name == "agent.heartbeat"
                        && p.service == "brokkr-agent"
                        && p.span_id == s.parent_span_id
                        && p.trace_id == s.trace_id
                })
        })
        .await;
    assert_eq!(
        heartbeat_request.attribute("brokkr.agent_id"),
        Some(h.agent_id.to_string().as_str())
    );
    // So do the work-order, health and diagnostics rounds.
    for round in [
        "agent.work_order_round",
        "agent.health_round",
        "agent.diagnostics_round",
    ] {
        otlp.wait_for(&format!("an {round} span"), SPANS, |s| {
            s.name == round && s.service == "brokkr-agent"
        })
        .await;
    }

    // A new version without the ConfigMap: the agent applies the namespace and prunes the rest.
    let (traceparent, _, _) = our_traceparent();
    let namespace_only = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
    let second = post_object(&h, stack, &namespace_only, &traceparent).await;
    let second_id = second["id"].as_str().expect("object id").to_owned();
    let reapply = otlp
        .wait_for("the apply of the second version", SPANS, |s| {
            s.name == "agent.apply"
                && s.attribute("brokkr.deployment_object_id") == Some(second_id.as_str())
        })
        .await;
    assert_eq!(
        reapply.attribute("brokkr.apply.applied"),
        Some("1"),
        "{reapply:?}"
    );
    assert_eq!(
        reapply.attribute("brokkr.apply.pruned"),
        Some("1"),
        "{reapply:?}"
    );
    assert_eq!(
        reapply.attribute("brokkr.apply.failed"),
        Some("0"),
        "{reapply:?}"
    );

    let spans = otlp.spans();
    assert!(spans.iter().all(|s| s.protocol == Protocol::Grpc));
    let plain: Vec<String> = spans
        .iter()
        .filter(|s| !s.compressed)
        .map(|s| format!("{}:{}", s.service, s.name))
        .collect();
    assert!(plain.is_empty(), "spans exported uncompressed: {plain:?}");

    // JSON logs are not asked for here; the text log of a poll is at DEBUG, so the broker's
    // INFO log names the POST but no target-state poll.
    h.stop_agent().await.expect("agent stops");
    let broker_log = std::fs::read_to_string(h.log_dir().join("broker.log")).unwrap_or_default();
    // (Only request lines count: a slow-statement warning may quote the migrations' comments.)
    let requests: Vec<&str> = broker_log
        .lines()
        .filter(|l| l.contains("http.route"))
        .collect();
    assert!(
        requests
            .iter()
            .any(|l| l.contains("/api/v1/stacks/{id}/deployment-objects"))
    );
    assert!(
        !requests.iter().any(|l| l.contains("target-state")),
        "an agent poll logged at INFO"
    );
}

#[tokio::test]
async fn spans_reach_the_collector_over_http_protobuf_and_json_logs_name_them() {
    let otlp = OtlpReceiver::start().await;
    let mut env = server_env(telemetry_env(&otlp.endpoint(), "http/protobuf"));
    env.push(env_pair("BROKKR__LOG__FORMAT", "json"));
    // The signal's own variable: gzip bodies (`Content-Encoding: gzip`).
    env.push(env_pair("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"));
    // No new trace is sampled: only those a caller sampled (parent-based).
    env.push(env_pair("BROKKR__TELEMETRY__BROKER__SAMPLING_RATE", "0.0"));
    let h = Harness::start(Options {
        worker: false,
        agent: false,
        server_env: env,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    // A request without a trace context: a new trace, not sampled at rate 0.
    let (status, _) = h
        .api(Method::GET, "/api/v1/stacks", None)
        .await
        .expect("GET");
    assert_eq!(status, StatusCode::OK);
    let (traceparent, trace_id, our_span) = our_traceparent();
    let response = h
        .http
        .get(format!("{}/api/v1/stacks", h.base))
        .bearer_auth(&h.admin)
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("GET stacks");
    assert_eq!(response.status(), StatusCode::OK);
    let span = otlp
        .wait_for("the GET span over HTTP/protobuf", SPANS, |s| {
            s.trace_id == trace_id
        })
        .await;
    assert!(
        otlp.spans().iter().all(|s| !s.parent_span_id.is_empty()),
        "a new trace was sampled at rate 0: {:?}",
        otlp.spans()
    );
    assert_eq!(span.protocol, Protocol::HttpProtobuf);
    assert!(span.compressed, "the export was not gzip-compressed");
    assert_eq!(span.name, "GET /api/v1/stacks");
    assert_eq!(span.parent_span_id, our_span);
    assert_eq!(span.service, "brokkr-broker");

    // The request's JSON log line carries the ids of its span.
    let log = std::fs::read_to_string(h.log_dir().join("broker.log")).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("\"trace_id\":\"{trace_id}\"")))
        .unwrap_or_else(|| panic!("no JSON line with trace {trace_id}:\n{log}"));
    let line: Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(line["span_id"], span.span_id.as_str(), "{line}");
    assert_eq!(line["fields"]["route"], "/api/v1/stacks", "{line}");
}

/// `n` authenticated requests one after another: every one must succeed; returns the sorted
/// latencies.
async fn latencies(h: &Harness, n: usize) -> Vec<Duration> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let (status, body) = if i % 2 == 0 {
            h.api(Method::GET, "/api/v1/stacks", None).await
        } else {
            h.api(Method::GET, &format!("/api/v1/agents/{}", h.agent_id), None)
                .await
        }
        .expect("request answered");
        all.push(started.elapsed());
        assert_eq!(status, StatusCode::OK, "request {i} failed: {body}");
    }
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// What one run of the full stack measured.
struct Run {
    /// Sorted latencies of the measured requests.
    requests: Vec<Duration>,
    /// The POST of the deployment object.
    post: Duration,
    /// From the POST to the receiver's delivery and to the agent's SUCCESS event.
    delivered: Duration,
    applied: Duration,
    harness: Harness,
}

/// Starts broker, worker and agent (on kubesim) with `telemetry` (nothing for telemetry off),
/// measures `N` requests after a warm-up, then posts a deployment object with a webhook
/// subscribed and waits for its delivery and the agent's apply.
async fn measure(telemetry: Vec<(String, String)>) -> Run {
    const N: usize = 400;
    let harness = Harness::start(Options {
        server_env: server_env(telemetry.clone()),
        agent_env: telemetry,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let h = &harness;
    let receiver = Receiver::start().await;
    subscribe(h, &receiver.url()).await;
    let stack = h.create_stack("measured").await.expect("stack");
    latencies(h, 50).await;
    let requests = latencies(h, N).await;

    let ns = h.ns("measured");
    let (traceparent, _, _) = our_traceparent();
    let posted = Instant::now();
    let object = post_object(h, stack, &config_map(&ns), &traceparent).await;
    let post = posted.elapsed();
    receiver
        .wait_for("the delivery of deployment.created", |r| {
            r.body["event_type"] == "deployment.created"
                && r.body["data"]["deployment_object_id"] == object["id"]
        })
        .await;
    let delivered = posted.elapsed();
    h.wait_for_event(&object, "SUCCESS")
        .await
        .expect("the agent applies the deployment object");
    let applied = posted.elapsed();
    let config_maps: Api<ConfigMap> = Api::namespaced(h.kube.clone(), &ns);
    let applied_cm = config_maps
        .get_opt("traced")
        .await
        .expect("GET the ConfigMap");
    assert!(applied_cm.is_some(), "the ConfigMap is not in the cluster");
    Run {
        requests,
        post,
        delivered,
        applied,
        harness,
    }
}

#[tokio::test]
async fn a_collector_that_never_answers_costs_the_requests_nothing() {
    let off = measure(Vec::new()).await;
    // A collector that accepts connections and never answers: each export waits 5 s.
    let silent = SilentCollector::start().await;
    let started = Instant::now();
    let dead = measure(telemetry_env(&silent.endpoint(), "grpc")).await;

    let figures = |l: &[Duration]| (percentile(l, 0.5), percentile(l, 0.9));
    let ((p50_off, p90_off), (p50_dead, p90_dead)) =
        (figures(&off.requests), figures(&dead.requests));
    println!(
        "{} requests each: telemetry off p50 {p50_off:?} p90 {p90_off:?}; silent collector \
         p50 {p50_dead:?} p90 {p90_dead:?}; POST {:?} / {:?}, delivered after {:?} / {:?}, \
         applied after {:?} / {:?}",
        dead.requests.len(),
        off.post,
        dead.post,
        off.delivered,
        dead.delivered,
        off.applied,
        dead.applied,
    );
    // An export that held a request, a job or a poll would cost up to its 5 s timeout. The
    // margins are loose on purpose (a shared 2-core machine, other tests running alongside),
    // but a wait for the collector, even one request in ten, breaks them.
    assert!(
        p50_dead <= p50_off * 3 + Duration::from_millis(20),
        "the silent collector slowed requests: p50 {p50_dead:?} against {p50_off:?}"
    );
    assert!(
        p90_dead <= p90_off * 3 + Duration::from_millis(50),
        "the silent collector slowed requests: p90 {p90_dead:?} against {p90_off:?}"
    );
    // A request that waited out one export (5 s) breaks these even if no percentile shows it.
    let total = |l: &[Duration]| l.iter().sum::<Duration>();
    let (total_off, total_dead) = (total(&off.requests), total(&dead.requests));
    let slowest = dead.requests.last().copied().unwrap_or_default();
    println!("in all: off {total_off:?}, silent collector {total_dead:?} (slowest {slowest:?})");
    assert!(
        total_dead <= total_off * 3 + Duration::from_secs(1),
        "the silent collector slowed requests: {total_dead:?} in all against {total_off:?}"
    );
    assert!(
        slowest < Duration::from_secs(4),
        "a request took {slowest:?} with the silent collector"
    );
    let slack = Duration::from_millis(2500);
    assert!(
        dead.post <= off.post * 3 + slack,
        "the POST took {:?} against {:?}",
        dead.post,
        off.post
    );
    assert!(
        dead.delivered <= off.delivered * 3 + slack,
        "the delivery took {:?} against {:?}",
        dead.delivered,
        off.delivered
    );
    assert!(
        dead.applied <= off.applied * 3 + slack,
        "the apply took {:?} against {:?}",
        dead.applied,
        off.applied
    );

    // Every process exported into the silence, and reported the outage once, not once per
    // batch: long enough for two 5 s export timeouts.
    let two_timeouts = Duration::from_secs(12);
    tokio::time::sleep(two_timeouts.saturating_sub(started.elapsed())).await;
    let logs = dead.harness.log_dir();
    for (process, log) in [
        (
            "broker",
            std::fs::read_to_string(logs.join("broker.log")).unwrap_or_default(),
        ),
        (
            "worker",
            std::fs::read_to_string(logs.join("worker.log")).unwrap_or_default(),
        ),
        ("agent", dead.harness.agent_log()),
    ] {
        let reports = log
            .matches("cannot export spans to the OTLP collector")
            .count();
        assert_eq!(reports, 1, "outage reports in the {process} log: {reports}");
    }
}

#[tokio::test]
async fn spans_still_queued_are_flushed_when_the_broker_stops() {
    let otlp = OtlpReceiver::start().await;
    // The standard variables win over the settings: the configured endpoint and protocol
    // lead nowhere, OTEL_EXPORTER_OTLP_* to the receiver.
    let mut env = server_env(telemetry_env("http://127.0.0.1:9", "http/protobuf"));
    env.retain(|(k, _)| k != "OTEL_BSP_SCHEDULE_DELAY");
    env.extend([
        env_pair("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.endpoint()),
        env_pair("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        env_pair("OTEL_SERVICE_NAME", "edge-broker"),
        // No scheduled export during the test: only the shutdown sends the batch.
        env_pair("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ]);
    let mut h = Harness::start(Options {
        worker: false,
        agent: false,
        server_env: env,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let (traceparent, trace_id, _) = our_traceparent();
    let response = h
        .http
        .get(format!("{}/api/v1/stacks", h.base))
        .bearer_auth(&h.admin)
        .header("traceparent", traceparent)
        .send()
        .await
        .expect("GET stacks");
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        otlp.spans().iter().all(|s| s.trace_id != trace_id),
        "exported before the shutdown"
    );

    let mut broker = h.broker.take().expect("the broker runs");
    let pid = broker.id().expect("the broker's pid");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exited = tokio::time::timeout(Duration::from_secs(15), broker.wait())
        .await
        .expect("the broker stops within the grace and flush timeouts")
        .expect("the broker's exit status");
    assert!(exited.success(), "the broker exited with {exited}");
    // Already received when the process ended: the flush completed before the exit.
    let spans = otlp.spans();
    let flushed = spans
        .iter()
        .find(|s| s.trace_id == trace_id && s.name == "GET /api/v1/stacks")
        .unwrap_or_else(|| panic!("the queued span was not flushed at shutdown: {spans:?}"));
    assert_eq!(flushed.service, "edge-broker");
    assert_eq!(flushed.protocol, Protocol::Grpc);
    // No compression was asked for.
    assert!(!flushed.compressed);
}
