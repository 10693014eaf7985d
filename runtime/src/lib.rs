//! What every Brokkr process (broker, worker, agent) needs at run time and would otherwise write
//! for itself: logging set-up that follows configuration reloads ([`logging`]), OTLP trace
//! export ([`telemetry`], installed by [`logging::init`]), the process signals ([`signals`]:
//! shutdown on SIGTERM/SIGINT, reload on SIGHUP), and what every `/metrics` carries
//! ([`metrics`]: `brokkr_build_info` and the process metrics).
//!
//! It sits below the processes: it depends on `brokkr-schema` (for the settings types) and on
//! nothing of the broker, the worker or the agent.

pub mod logging;
pub mod metrics;
pub mod signals;
pub mod telemetry;
