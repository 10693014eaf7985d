//! The reconcile loop (being written).

use std::sync::Arc;

use crate::context::AgentContext;

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    ctx.cancel.cancelled().await;
}
