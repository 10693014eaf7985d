//! W3C trace context: the `traceparent` value that carries a trace across process boundaries
//! (HTTP requests, jobs in the queue, webhook deliveries, deployment objects).
//!
//! `00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>`. [`current`] reads the span
//! running now (the `tracing` span entered, whose OpenTelemetry context the telemetry layer
//! activates); without telemetry there is none and nothing is propagated.
//!
//! ```
//! use brokkr_schema::trace_context;
//! let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! let parsed = trace_context::parse(value).unwrap();
//! assert!(parsed.is_sampled());
//! assert_eq!(trace_context::format(&parsed).as_deref(), Some(value));
//! ```

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

/// The HTTP header (and job metadata key) that carries the context.
pub const TRACEPARENT: &str = "traceparent";

/// The `traceparent` of the span running now, if it is traced.
pub fn current() -> Option<String> {
    let cx = opentelemetry::Context::current();
    format(cx.span().span_context())
}

/// The `traceparent` header of the span running now, for an outgoing request (a broker call,
/// a webhook delivery), if it is traced.
pub fn header() -> Option<(&'static str, String)> {
    current().map(|value| (TRACEPARENT, value))
}

/// The `traceparent` of `context`, if it is valid.
pub fn format(context: &SpanContext) -> Option<String> {
    context.is_valid().then(|| {
        format!(
            "00-{:032x}-{:016x}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )
    })
}

/// Parses a `traceparent` (version `00`, or a later version read as `00` as the standard
/// asks); `None` for anything malformed or all-zero.
pub fn parse(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    let rest = parts.next();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || version == "ff" || (version == "00" && rest.is_some()) {
        return None;
    }
    if !hex(trace_id, 32) || !hex(span_id, 16) || !hex(flags, 2) {
        return None;
    }
    let context = SpanContext::new(
        TraceId::from_hex(trace_id).ok()?,
        SpanId::from_hex(span_id).ok()?,
        TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8()),
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_or_zero_contexts_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} was accepted");
        }
        let unsampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.is_sampled());
        assert!(unsampled.is_remote());
    }

    #[test]
    fn no_span_no_context() {
        assert_eq!(current(), None);
    }
}
