//! What more than one Brokkr process (broker, worker, agent) needs at run time and would
//! otherwise write for itself:
//!
//! - [`logging`]: the subscriber, following `log.level` across reloads, and the log lines of a
//!   reload; [`telemetry`]: OTLP trace export, installed by [`logging::init`]; [`signals`]:
//!   shutdown on SIGTERM/SIGINT, reload on SIGHUP;
//! - [`metrics`]: what every `/metrics` carries (`brokkr_build_info`, the process metrics);
//! - [`webhooks`]: sending one webhook delivery — the HTTP client with its destination guard,
//!   the delivery headers and signatures, the retry schedule — used by the worker, the broker's
//!   test sends and the agent;
//! - [`render_sandbox`] (feature `templates`): rendering a template in a child process with
//!   memory and time limits, used by the broker (instantiation) and the worker (rollouts).
//!
//! It sits below the processes: it depends on `brokkr-schema` (settings, destinations,
//! templating) and on nothing of the broker, the worker or the agent.

pub mod logging;
pub mod metrics;
#[cfg(feature = "templates")]
pub mod render_sandbox;
pub mod signals;
pub mod telemetry;
pub mod webhooks;
