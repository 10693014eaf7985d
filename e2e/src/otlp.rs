//! An OTLP trace receiver for end-to-end tests: one loopback port that accepts spans over gRPC
//! (`opentelemetry.proto.collector.trace.v1.TraceService/Export`, HTTP/2, served by the
//! service `opentelemetry-proto` generates for tonic) and over HTTP/protobuf (`POST
//! /v1/traces`, HTTP/1.1), and keeps every span it was sent. Both accept gzip-compressed
//! exports (gRPC `grpc-encoding: gzip`, HTTP `Content-Encoding: gzip`) and remember which spans
//! came compressed.
//!
//! [`SilentCollector`] is the opposite: a port that accepts connections and never answers,
//! the worst a collector can do to the processes exporting to it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::codegen::Service;

use crate::harness::eventually;
use crate::receiver::{read_body, serve_loopback};

/// How the spans reached the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// `service.name` of the resource that sent it.
    pub service: String,
    pub name: String,
    /// Lowercase hex, 32 digits.
    pub trace_id: String,
    /// Lowercase hex, 16 digits.
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Attribute values rendered as text.
    pub attributes: BTreeMap<String, String>,
    /// `(trace_id, span_id)` of each link.
    pub links: Vec<(String, String)>,
    pub protocol: Protocol,
    /// Whether the export that carried it was gzip-compressed.
    pub compressed: bool,
}

impl ReceivedSpan {
    /// The value of attribute `key`, if present.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

type Spans = Arc<Mutex<Vec<ReceivedSpan>>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running OTLP receiver.
#[derive(Clone)]
pub struct OtlpReceiver {
    spans: Spans,
    addr: SocketAddr,
}

struct GrpcTraces(Spans);

#[tonic::async_trait]
impl TraceService for GrpcTraces {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        // tonic has already decompressed the message; the header says how it was sent.
        let compressed = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|v| v.as_bytes() == b"gzip");
        record(&self.0, request.into_inner(), Protocol::Grpc, compressed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl OtlpReceiver {
    /// Binds a loopback port and serves until the test ends.
    pub async fn start() -> OtlpReceiver {
        let spans = Spans::default();
        let grpc = TraceServiceServer::new(GrpcTraces(spans.clone()))
            .accept_compressed(CompressionEncoding::Gzip);
        let served = spans.clone();
        let addr = serve_loopback("OTLP receiver", move |stream| {
            let (grpc, spans) = (grpc.clone(), served.clone());
            async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (mut grpc, spans) = (grpc.clone(), spans.clone());
                    async move {
                        if request.uri().path() == "/v1/traces" {
                            return Ok::<_, Infallible>(http_export(&spans, request).await);
                        }
                        let response = match grpc.call(request).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        };
                        Ok(response
                            .map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })
        .await;
        OtlpReceiver { spans, addr }
    }

    /// `http://127.0.0.1:<port>`: the endpoint for both protocols (HTTP adds `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits (up to `deadline`) for the span called `name` in trace `trace_id`.
    pub async fn wait_for_span(
        &self,
        trace_id: &str,
        name: &str,
        deadline: Duration,
    ) -> ReceivedSpan {
        self.wait_for(&format!("span {name} in trace {trace_id}"), deadline, |s| {
            s.trace_id == trace_id && s.name == name
        })
        .await
    }

    /// Waits (up to `deadline`) for a span that `matches`, and returns it.
    pub async fn wait_for(
        &self,
        what: &str,
        deadline: Duration,
        matches: impl Fn(&ReceivedSpan) -> bool,
    ) -> ReceivedSpan {
        let matches = &matches;
        eventually(what, deadline, || async move {
            let all = self.spans();
            all.iter().find(|s| matches(s)).cloned().ok_or_else(|| {
                let names: Vec<String> = all
                    .iter()
                    .map(|s| format!("{}:{}", s.service, s.name))
                    .collect();
                format!("{} spans: {names:?}", all.len())
            })
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

async fn http_export(
    spans: &Spans,
    request: Request<Incoming>,
) -> Response<UnsyncBoxBody<Bytes, BoxError>> {
    let compressed = request
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = read_body(request).await;
    let body = if compressed {
        let mut inflated = Vec::new();
        match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut inflated) {
            Ok(_) => Some(Bytes::from(inflated)),
            Err(_) => None,
        }
    } else {
        Some(body)
    };
    let status = match body.map(ExportTraceServiceRequest::decode) {
        Some(Ok(export)) => {
            record(spans, export, Protocol::HttpProtobuf, compressed);
            200
        }
        _ => 400,
    };
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    let mut response = Response::new(
        Full::new(Bytes::from(answer))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

fn record(spans: &Spans, export: ExportTraceServiceRequest, protocol: Protocol, compressed: bool) {
    let mut received = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attributes(&r.attributes).remove("service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    service: service.clone(),
                    name: span.name,
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id)))
                        .collect(),
                    protocol,
                    compressed,
                });
            }
        }
    }
    if let Ok(mut all) = spans.lock() {
        all.extend(received);
    }
}

/// A "collector" that accepts connections and never answers: every export to it waits for its
/// timeout.
pub struct SilentCollector {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SilentCollector {
    /// Binds a loopback port; connections are accepted and held, unread, until it is dropped.
    pub async fn start() -> SilentCollector {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("silent collector binds");
        let addr = listener.local_addr().expect("silent collector address");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        SilentCollector { addr, task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilentCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
