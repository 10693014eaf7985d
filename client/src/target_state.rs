//! An agent's target state, with ETags and long polling.
//!
//! ```no_run
//! # async fn demo(client: brokkr_client::Client, agent: uuid::Uuid) -> brokkr_client::Result<()> {
//! use brokkr_client::TargetState;
//! let mut etag = None;
//! loop {
//!     match client.target_state(agent, false, etag.as_deref(), Some(30)).await? {
//!         TargetState::Changed { objects, etag: new, .. } => {
//!             println!("{} objects to apply", objects.len());
//!             etag = Some(new);
//!         }
//!         TargetState::NotModified { .. } => {}
//!     }
//! }
//! # }
//! ```

use brokkr_schema::models::DeploymentObject;
use reqwest::{Method, StatusCode};
use std::time::Duration;
use uuid::Uuid;

use crate::client::Call;
use crate::{Client, Result};

/// Answer of [`Client::target_state`].
#[derive(Debug, Clone)]
pub enum TargetState {
    /// The state differs from the ETag given (or none was given).
    Changed {
        /// The newest deployment object of every associated stack, newest first.
        objects: Vec<DeploymentObject>,
        /// Give it back next time.
        etag: String,
        /// Stacks the agent stopped serving (deregistered from their generator).
        withdrawn_stacks: Vec<Uuid>,
    },
    /// Unchanged since the ETag given (after waiting, for a long poll).
    NotModified {
        /// The current ETag.
        etag: String,
    },
}

impl Client {
    /// `GET /agents/{id}/target-state`. `full` includes objects already reported on;
    /// `if_none_match` is the last ETag seen; `wait_seconds` (≤ 60) holds the request until the
    /// state changes. The request's timeout is extended by the wait.
    pub async fn target_state(
        &self,
        agent: Uuid,
        full: bool,
        if_none_match: Option<&str>,
        wait_seconds: Option<u64>,
    ) -> Result<TargetState> {
        let mut call = Call::new(
            Method::GET,
            &["api", "v1", "agents", &agent.to_string(), "target-state"],
        )
        .query_opt("mode", full.then_some("full"))
        .query_opt("wait", wait_seconds.filter(|w| *w > 0));
        if let Some(etag) = if_none_match {
            call.headers.push(("If-None-Match", etag.to_owned()));
        }
        call.extra_timeout = Duration::from_secs(wait_seconds.unwrap_or(0));
        let answer = self.execute(call).await?;
        let etag = answer.header("etag").unwrap_or_default().to_owned();
        if answer.status == StatusCode::NOT_MODIFIED {
            return Ok(TargetState::NotModified { etag });
        }
        let withdrawn_stacks = answer
            .header("x-brokkr-withdrawn-stacks")
            .map(|list| {
                list.split(',')
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(TargetState::Changed {
            objects: answer.json()?,
            etag,
            withdrawn_stacks,
        })
    }
}
