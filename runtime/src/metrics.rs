//! What the `/metrics` of every process shares: a registry that already carries
//! `brokkr_build_info` and the process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, ...), and the text rendering.
//!
//! ```ignore
//! let registry = brokkr_runtime::metrics::registry("worker")?;
//! registry.register(Box::new(my_counter.clone()))?;
//! let body = brokkr_runtime::metrics::render(&registry);
//! ```

use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};

/// The version every process reports in `brokkr_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A registry for `process` (`broker`, `worker` or `agent`) with `brokkr_build_info` and, on
/// Linux, the process collector registered.
pub fn registry(process: &str) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let build_info = IntGaugeVec::new(
        Opts::new(
            "brokkr_build_info",
            "Always 1; the labels say which Brokkr process and version this is",
        ),
        &["process", "version"],
    )?;
    build_info.with_label_values(&[process, VERSION]).set(1);
    registry.register(Box::new(build_info))?;
    #[cfg(target_os = "linux")]
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))?;
    Ok(registry)
}

/// The registry's metrics in the Prometheus text format (empty, with a log line, if encoding
/// fails: a scrape must not take the process down).
pub fn render(registry: &Registry) -> String {
    let mut buffer = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::error!(error = %e, "metrics: encoding failed");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_and_process_metrics_are_registered() {
        let text = render(&registry("worker").expect("registry"));
        assert!(
            text.contains(&format!(
                "brokkr_build_info{{process=\"worker\",version=\"{VERSION}\"}} 1"
            )),
            "{text}"
        );
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
    }
}
