//! Brokkr's job platform (the `brokkr-worker`): PostgreSQL-backed queues for webhook delivery,
//! work-order retries, stale-claim reaping, retention cleanup and template rendering.
//!
//! Not built yet: this crate is a placeholder member of the workspace until the job-platform issue
//! lands. The broker already routes every state change through `brokkr_api::changes`, the seam the
//! worker will consume.
