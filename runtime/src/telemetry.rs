//! OTLP trace export: the OpenTelemetry tracer provider behind the `tracing` spans of a process,
//! and the helpers that continue a trace from a `traceparent` received from elsewhere.
//!
//! With `telemetry.enabled` (or the process's override, see
//! [`TelemetrySettings::effective`](brokkr_schema::config::TelemetrySettings::effective)),
//! [`Telemetry::start`] builds a provider that
//! - exports over OTLP to `telemetry.otlp_endpoint`, by gRPC (tonic) or HTTP/protobuf as
//!   `telemetry.otlp_protocol` says; the standard `OTEL_EXPORTER_OTLP_*` variables (endpoint,
//!   protocol, headers, timeout, compression: `gzip` for either protocol), `OTEL_SERVICE_NAME`,
//!   `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_BSP_*` win over the settings when set;
//! - speaks TLS to an `https://` endpoint (gRPC: rustls, trusting the webpki roots; HTTP:
//!   reqwest's rustls client);
//! - samples new traces at `telemetry.sampling_rate`, parent-based, so a trace sampled upstream
//!   stays whole and an unsampled one stays out;
//! - exports from the SDK's own batch thread through a bounded queue: a request or a job only
//!   hands its span to the queue, and a full queue drops spans instead of waiting. A collector
//!   that cannot be reached costs one warning when exports start failing and one line when they
//!   work again, never one line per batch.
//!
//! [`Telemetry::shutdown`] flushes what is queued, bounded by [`FLUSH_TIMEOUT`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brokkr_schema::config::{
    EffectiveTelemetry, OTLP_GRPC, OTLP_HTTP_PROTOBUF, Settings, TelemetryProcess,
};
use brokkr_schema::trace_context;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData,
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How long [`Telemetry::shutdown`] waits for queued spans to reach the collector.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Spans waiting for export at most; more are dropped (counted by the SDK, never waited for).
pub const MAX_QUEUE: usize = 2048;
/// Per-export timeout unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer provider of a process, or nothing when telemetry is off.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Builds the provider for `process` from the settings, if telemetry is on for it. Must run
    /// inside a Tokio runtime (the gRPC channel lives on it). A provider that cannot be built
    /// (say, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) is reported on stderr and telemetry stays
    /// off: the process itself works without it.
    pub fn start(settings: &Settings, process: TelemetryProcess) -> Telemetry {
        let effective = settings.telemetry.effective(process);
        if !effective.enabled {
            return Telemetry::default();
        }
        match provider(&effective) {
            Ok(provider) => Telemetry {
                provider: Some(provider),
            },
            Err(e) => {
                // The subscriber is not installed yet: straight to stderr.
                eprintln!("brokkr: telemetry disabled: {e}");
                Telemetry::default()
            }
        }
    }

    /// A tracer of this provider for the `tracing` bridge.
    pub(crate) fn tracer(&self) -> Option<opentelemetry_sdk::trace::Tracer> {
        self.provider.as_ref().map(|p| p.tracer("brokkr"))
    }

    /// Whether spans are exported.
    pub fn is_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is still queued (at most [`FLUSH_TIMEOUT`]) and stops the export thread.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks while it flushes: not on a runtime thread.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_TIMEOUT));
        match tokio::time::timeout(FLUSH_TIMEOUT + Duration::from_secs(1), flushed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "spans not flushed at shutdown"),
            Ok(Err(e)) => tracing::warn!(error = %e, "spans not flushed at shutdown"),
            Err(_) => tracing::warn!("spans not flushed at shutdown: the collector is too slow"),
        }
    }
}

/// The protocol to use: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`,
/// else the setting.
fn protocol(effective: &EffectiveTelemetry) -> String {
    env_value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .unwrap_or_else(|| effective.otlp_protocol.clone())
}

fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint to configure, or `None` when a standard variable names it (the exporter reads
/// it then, appending `/v1/traces` to the generic one for HTTP as the standard says).
fn endpoint(effective: &EffectiveTelemetry, protocol: &str) -> Option<String> {
    if env_value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        || env_value("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
    {
        return None;
    }
    let base = match (effective.otlp_endpoint.as_str(), protocol) {
        ("", OTLP_HTTP_PROTOBUF) => "http://localhost:4318",
        ("", _) => "http://localhost:4317",
        (configured, _) => configured,
    };
    Some(signal_url(base, protocol))
}

/// For HTTP the traces path is part of the URL: a base URL without a path gets `/v1/traces`.
fn signal_url(base: &str, protocol: &str) -> String {
    if protocol != OTLP_HTTP_PROTOBUF {
        return base.to_owned();
    }
    match url::Url::parse(base) {
        Ok(url) if url.path() == "/" || url.path().is_empty() => {
            format!("{}/v1/traces", base.trim_end_matches('/'))
        }
        _ => base.to_owned(),
    }
}

/// Sets the endpoint and timeout that the standard variables do not set.
fn configure<B: WithExportConfig>(
    mut builder: B,
    endpoint: Option<String>,
    timeout: Option<Duration>,
) -> B {
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(timeout) = timeout {
        builder = builder.with_timeout(timeout);
    }
    builder
}

fn provider(effective: &EffectiveTelemetry) -> Result<SdkTracerProvider, String> {
    let protocol = protocol(effective);
    let endpoint = endpoint(effective, &protocol);
    let timeout = env_value("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| env_value("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .is_none()
        .then_some(EXPORT_TIMEOUT);
    let exporter = match protocol.as_str() {
        // Without a TLS configuration of ours the exporter would meet an `https://` endpoint with
        // an empty trust store; this one trusts the webpki (Mozilla) roots. A plain `http://`
        // endpoint is unaffected: tonic only uses it for the `https` scheme.
        OTLP_GRPC => configure(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_tls_config(ClientTlsConfig::new().with_webpki_roots()),
            endpoint,
            timeout,
        )
        .build(),
        // The exporter's default client is reqwest's blocking one: the SDK's batch thread is no
        // runtime thread, and that client is the one it can drive.
        OTLP_HTTP_PROTOBUF => configure(
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary),
            endpoint,
            timeout,
        )
        .build(),
        other => {
            return Err(format!(
                "OTLP protocol {other:?} is not supported (use `grpc` or `http/protobuf`)"
            ));
        }
    }
    .map_err(|e| format!("the OTLP exporter could not be built: {e}"))?;
    let processor = BatchSpanProcessor::builder(ReportingExporter::new(exporter))
        .with_batch_config(
            // `BatchConfigBuilder::default` reads the `OTEL_BSP_*` variables; the queue bound
            // applies unless one of them changes it.
            match env_value("OTEL_BSP_MAX_QUEUE_SIZE") {
                Some(_) => BatchConfigBuilder::default(),
                None => BatchConfigBuilder::default().with_max_queue_size(MAX_QUEUE),
            }
            .build(),
        )
        .build();
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if env_value("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(effective.service_name.clone());
    }
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            effective.sampling_rate,
        ))))
        .with_resource(resource.build())
        .build())
}

/// The OTLP exporter, reporting the state of the collector once per change instead of once
/// per failed batch.
#[derive(Debug)]
struct ReportingExporter {
    inner: opentelemetry_otlp::SpanExporter,
    failing: AtomicBool,
}

impl ReportingExporter {
    fn new(inner: opentelemetry_otlp::SpanExporter) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
        }
    }
}

impl opentelemetry_sdk::trace::SpanExporter for ReportingExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::AcqRel) {
                    tracing::info!("exporting spans again: the OTLP collector answers");
                }
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        error = %e,
                        spans,
                        "cannot export spans to the OTLP collector; dropping them until it \
                         answers (reported once)"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Makes `span` continue the trace of `traceparent` (a request's header, a job's metadata).
/// An absent or malformed value leaves `span` a root (or the child of the current span).
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(remote) = traceparent.and_then(trace_context::parse) {
        let _ = span.set_parent(Context::new().with_remote_span_context(remote));
    }
}

/// Links `span` to the span of `traceparent` (a cause that is not its parent, such as the
/// request that created the deployment object an agent applies).
pub fn link_to(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(remote) = traceparent.and_then(trace_context::parse) {
        span.add_link(remote);
    }
}

/// Renames `span` in its trace (a name known only once the span runs, such as an HTTP
/// request's `METHOD /route/{template}`).
pub fn rename(span: &tracing::Span, name: String) {
    span.context().span().update_name(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, protocol: &str) -> EffectiveTelemetry {
        EffectiveTelemetry {
            enabled: true,
            otlp_endpoint: endpoint.into(),
            otlp_protocol: protocol.into(),
            service_name: "brokkr-broker".into(),
            sampling_rate: 1.0,
        }
    }

    #[test]
    fn endpoints_default_per_protocol_and_http_gets_the_traces_path() {
        // Only meaningful without the standard variables set around the test run.
        if env_value("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || env_value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
        {
            return;
        }
        assert_eq!(
            endpoint(&settings("", OTLP_GRPC), OTLP_GRPC).as_deref(),
            Some("http://localhost:4317")
        );
        assert_eq!(
            endpoint(&settings("", OTLP_HTTP_PROTOBUF), OTLP_HTTP_PROTOBUF).as_deref(),
            Some("http://localhost:4318/v1/traces")
        );
        assert_eq!(
            endpoint(
                &settings("http://collector:4318/", OTLP_HTTP_PROTOBUF),
                OTLP_HTTP_PROTOBUF
            )
            .as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            endpoint(
                &settings("http://collector:4318/custom/traces", OTLP_HTTP_PROTOBUF),
                OTLP_HTTP_PROTOBUF
            )
            .as_deref(),
            Some("http://collector:4318/custom/traces")
        );
    }

    /// Whether a standard variable would replace the endpoint or protocol of the settings.
    fn standard_variables_set() -> bool {
        [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ]
        .iter()
        .any(|v| env_value(v).is_some())
    }

    #[tokio::test]
    async fn exporters_for_https_collectors_build_for_both_protocols() {
        if standard_variables_set() {
            return;
        }
        // Building connects nothing: no collector needs to exist.
        for protocol in [OTLP_GRPC, OTLP_HTTP_PROTOBUF] {
            let built = provider(&settings("https://collector.invalid:4317", protocol));
            let provider = built.unwrap_or_else(|e| panic!("{protocol} over https: {e}"));
            let _ = provider.shutdown_with_timeout(Duration::from_millis(100));
        }
    }

    #[tokio::test]
    async fn an_https_grpc_collector_is_greeted_with_a_tls_handshake() {
        if standard_variables_set() {
            return;
        }
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let first_bytes = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("the exporter connects");
            let mut head = [0u8; 2];
            stream
                .read_exact(&mut head)
                .await
                .expect("the exporter sends");
            head
        });
        let provider = provider(&settings(&format!("https://127.0.0.1:{port}"), OTLP_GRPC))
            .expect("the https exporter builds");
        let tracer = provider.tracer("test");
        opentelemetry::trace::Tracer::in_span(&tracer, "probe", |_| {});
        // The flush blocks until the export fails (the handshake goes unanswered).
        let flushing = tokio::task::spawn_blocking(move || {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(2));
        });
        let head = tokio::time::timeout(Duration::from_secs(10), first_bytes)
            .await
            .expect("the exporter connected within 10 s")
            .expect("the listener task");
        // A TLS record of type handshake (22), protocol major version 3: a ClientHello, not the
        // HTTP/2 preface (`PRI * HTTP/2.0`) of a plain-text channel.
        assert_eq!(head, [0x16, 0x03], "not a TLS ClientHello: {head:?}");
        let _ = flushing.await;
    }
}
