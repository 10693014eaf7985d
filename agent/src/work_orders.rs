//! Work orders: claims pending work orders (custom YAML, Shipwright builds), runs them and reports completion.
//!
//! TEMPORARY placeholder: filled in by the feature branch (this file is owned by the feature
//! engineer). It only waits for shutdown so the agent can spawn it.

use std::sync::Arc;

use crate::context::AgentContext;

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    ctx.cancel.cancelled().await;
}
