//! Logging for Brokkr's processes: `log.level` and `log.format` (`text` or `json`) on stderr,
//! with the level following configuration reloads (`RUST_LOG`, when set, wins and stays), and
//! the OpenTelemetry layer of [`crate::telemetry`] that turns the processes' spans into traces,
//! and the log lines of a reload ([`log_reload`]).
//!
//! The level filters the log lines only: the spans of Brokkr's own crates reach the trace
//! exporter at `INFO` whatever `log.level` says (and nothing of the HTTP, gRPC or Kubernetes
//! client libraries does, so exporting never traces itself). In JSON mode every line inside a
//! traced span carries its `trace_id` and `span_id`.

use std::fmt;
use std::sync::Arc;

use brokkr_schema::config::{ConfigError, Settings, TelemetryProcess};
use brokkr_schema::live::{LiveSettings, ReloadOutcome};
use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Json, Writer};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

use crate::telemetry::Telemetry;

/// The crates whose spans become traces.
const TRACED_CRATES: &[&str] = &[
    "brokkr_api",
    "brokkr_broker",
    "brokkr_jobs",
    "brokkr_worker",
    "brokkr_agent",
    "brokkr_client",
    "brokkr_schema",
    "brokkr_runtime",
];

/// Changes the level of the installed subscriber.
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `RUST_LOG` was set: the operator's filter stays.
    pinned: bool,
    /// Directives appended to every `log.level` (see [`init`]).
    quiet: &'static str,
}

/// What [`init`] installed: the level control and the trace exporter (to flush at shutdown).
pub struct Logging {
    pub level: LogLevel,
    pub telemetry: Telemetry,
}

/// Installs the global subscriber (stderr, text or JSON) with, when telemetry is on for
/// `process` (`None`: a command-line run that exports nothing), the OpenTelemetry layer.
/// `quiet` holds filter directives added after `log.level` (comma-separated, empty for none),
/// for a dependency's lines the process reports better itself; `RUST_LOG` replaces them too. When a subscriber is already installed (tests), that
/// one stays. Must run inside a Tokio runtime (see [`Telemetry::start`]).
pub fn init(
    settings: &Settings,
    process: Option<TelemetryProcess>,
    quiet: &'static str,
) -> Logging {
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(directives(&settings.log.level, quiet)).ok())
        .unwrap_or_else(|| EnvFilter::new(directives("info", quiet)));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> =
        if settings.log.format.eq_ignore_ascii_case("json") {
            fmt.json()
                .event_format(WithTraceIds(format().json()))
                .boxed()
        } else {
            fmt.boxed()
        };
    let telemetry = process
        .map(|p| Telemetry::start(settings, p))
        .unwrap_or_default();
    let otel = telemetry.tracer().map(|tracer| {
        let traced = TRACED_CRATES
            .iter()
            .fold(Targets::new(), |t, c| t.with_target(*c, LevelFilter::INFO));
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(traced)
    });
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    Logging {
        level: LogLevel {
            handle,
            pinned,
            quiet,
        },
        telemetry,
    }
}

fn format() -> format::Format {
    format::Format::default()
}

/// The JSON line of an event, with the `trace_id` and `span_id` of the span it happened in.
struct WithTraceIds(format::Format<Json>);

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The OpenTelemetry layer activates the context of the span it enters.
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        let body = line.trim_end_matches('\n');
        match body.strip_suffix('}') {
            Some(open) if sc.is_valid() => writeln!(
                writer,
                "{open},\"trace_id\":\"{:032x}\",\"span_id\":\"{:016x}\"}}",
                sc.trace_id(),
                sc.span_id()
            ),
            _ => writer.write_str(&line),
        }
    }
}

fn directives(level: &str, quiet: &str) -> String {
    if quiet.is_empty() {
        level.to_string()
    } else {
        format!("{level},{quiet}")
    }
}

impl LogLevel {
    /// Applies `log.level` of every reload until the settings go away.
    pub async fn follow(self, live: Arc<LiveSettings>) {
        let mut reloads = live.subscribe();
        let mut level = live.current().log.level.clone();
        while reloads.changed().await.is_ok() {
            let next = reloads.borrow_and_update().log.level.clone();
            if next == level {
                continue;
            }
            level = next;
            if self.pinned {
                tracing::warn!(level = %level, "log.level reloaded but RUST_LOG is set and wins");
                continue;
            }
            match EnvFilter::try_new(directives(&level, self.quiet)) {
                Ok(filter) => match self.handle.reload(filter) {
                    Ok(()) => tracing::info!(level = %level, "log level changed"),
                    Err(e) => tracing::error!(error = %e, "cannot change the log level"),
                },
                Err(e) => {
                    tracing::error!(level = %level, error = %e, "invalid log.level; unchanged")
                }
            }
        }
    }
}

/// Logs what a reload did (`trigger` says what asked for it).
pub fn log_reload(
    trigger: &'static str,
) -> impl Fn(Result<ReloadOutcome, ConfigError>) + Send + Sync + 'static {
    move |outcome| match outcome {
        Ok(outcome) => {
            for change in &outcome.changes {
                tracing::info!(trigger, key = %change.key, old = %change.old_value, new = %change.new_value, "setting reloaded");
            }
            for change in &outcome.restart_required {
                tracing::warn!(trigger, key = %change.key, "setting changed but needs a restart");
            }
        }
        Err(e) => {
            tracing::error!(trigger, error = %e, "configuration reload refused; settings unchanged")
        }
    }
}
