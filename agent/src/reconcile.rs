//! The reconcile loop: long-polls the agent's FULL target state and applies it.
//!
//! `GET /api/v1/agents/{id}/target-state?mode=full&wait=N` with the last `ETag` in
//! `If-None-Match` returns at once when the state changed and otherwise holds the request up to
//! N seconds (`agent.long_poll_wait`). The full mode includes deployment objects the agent
//! already reported on, so after a restart everything is re-applied and the registry of applied
//! objects rebuilt.
//!
//! Three kinds of passes:
//! * a change pass, after a new target state: applies each stack whose latest deployment object
//!   is not the one applied successfully;
//! * a retry pass, when a failed deployment object's backoff is due;
//! * a full pass every `agent.reconcile_interval` seconds: fresh discovery, one label-selected
//!   listing of what the agent owns, and every deployment object re-applied (drift correction;
//!   a server-side apply of unchanged objects changes nothing).
//!
//! Each deployment object ends in a SUCCESS or FAILURE event, sent once per outcome: a drift
//! pass that succeeds again does not repeat it. A malformed document fails only its deployment
//! object; the other stacks go on. Inactive agents apply nothing until they are active again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_client::TargetState;
use brokkr_schema::models::{AgentEventStatus, DeploymentObject, NewAgentEvent};
use rand::Rng;
use tracing::Instrument;
use uuid::Uuid;

use crate::apply::{self, ApplyFailure, ClusterView, ObjectKey, OwnedObject, Target};
use crate::broker::BrokerError;
use crate::context::AgentContext;
use crate::labels::OWNER_LABEL;

/// Longest delay before retrying a failed deployment object (capped by the drift interval).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// What a target-state poll returned.
enum Poll {
    /// The new state, its ETag and the stacks withdrawn from the agent.
    Changed(Vec<DeploymentObject>, Option<String>, Vec<Uuid>),
    Unchanged,
}

struct Retry {
    attempts: u32,
    due: Instant,
}

/// The loop's memory between passes.
struct Reconciler {
    ctx: Arc<AgentContext>,
    view: ClusterView,
    etag: Option<String>,
    /// Latest known target state: the newest deployment object per stack.
    target: Vec<DeploymentObject>,
    /// Per stack, the deployment object applied (or removed) successfully.
    done: HashMap<Uuid, Uuid>,
    /// Failed deployment objects and when to try again.
    retries: HashMap<Uuid, Retry>,
    /// Last outcome reported per deployment object.
    reported: HashMap<Uuid, AgentEventStatus>,
    /// Outcomes the broker did not take yet (sent again after each poll).
    unreported: HashMap<Uuid, (AgentEventStatus, Option<String>)>,
    /// Objects that existed before the agent took them over.
    adopted: HashSet<ObjectKey>,
    /// When the next full pass is due.
    next_full: Instant,
    have_target: bool,
    /// Stacks withdrawn by the broker whose objects are removed already.
    withdrawn_done: HashSet<Uuid>,
}

/// Runs until the agent shuts down.
pub async fn run(ctx: Arc<AgentContext>) {
    let mut r = Reconciler {
        view: ClusterView::default(),
        etag: None,
        target: Vec::new(),
        done: HashMap::new(),
        retries: HashMap::new(),
        reported: HashMap::new(),
        unreported: HashMap::new(),
        adopted: HashSet::new(),
        next_full: Instant::now(),
        have_target: false,
        withdrawn_done: HashSet::new(),
        ctx,
    };
    r.run().await;
}

impl Reconciler {
    async fn run(&mut self) {
        let mut was_active = true;
        while !self.ctx.is_cancelled() {
            // Intervals are dynamic keys: read them afresh each round.
            let current = self.ctx.current_settings();
            let polling = Duration::from_secs(current.polling_interval);
            let drift = Duration::from_secs(current.reconcile_interval);
            if self.next_full > Instant::now() + drift {
                self.next_full = Instant::now() + drift;
            }
            if !self.ctx.is_active() {
                if was_active {
                    tracing::info!("agent is not ACTIVE: deployment work paused");
                }
                was_active = false;
                if !self.ctx.sleep(polling).await {
                    return;
                }
                continue;
            }
            if !was_active {
                tracing::info!("agent is ACTIVE again: re-applying the target state");
                was_active = true;
                // Fetch the state afresh and treat it as a first (full) pass.
                self.etag = None;
                self.have_target = false;
            }
            let now = Instant::now();
            if self.have_target && now >= self.next_full {
                self.pass(true).await;
                self.next_full = Instant::now() + drift;
                continue;
            }
            if self.retries.values().any(|r| r.due <= now) {
                self.pass(false).await;
                continue;
            }
            // Wait for a change, but not past the next full pass or retry.
            let mut until = self.next_full;
            if let Some(due) = self.retries.values().map(|r| r.due).min() {
                until = until.min(due);
            }
            let left = until.saturating_duration_since(now);
            let long_poll = self.ctx.settings.long_poll_wait > 0;
            let wait = if self.have_target && long_poll {
                left.as_secs().min(self.ctx.settings.long_poll_wait)
            } else {
                0
            };
            if self.have_target && long_poll && wait == 0 && !left.is_zero() {
                if !self.ctx.sleep(left).await {
                    return;
                }
                continue;
            }
            let polled = tokio::select! {
                _ = self.ctx.cancel.cancelled() => return,
                polled = self.poll(wait) => polled,
            };
            match polled {
                Ok(Poll::Changed(objects, etag, withdrawn)) => {
                    self.etag = etag;
                    self.target = latest_per_stack(objects);
                    self.withdraw(&withdrawn).await;
                    let first = !self.have_target;
                    self.have_target = true;
                    if first && self.reported.is_empty() {
                        self.load_reported().await;
                    }
                    self.pass(first).await;
                    if first {
                        self.next_full = Instant::now() + drift;
                    }
                    self.flush_unreported().await;
                }
                Ok(Poll::Unchanged) => self.flush_unreported().await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot fetch the target state");
                    if !self.ctx.sleep(jittered(polling)).await {
                        return;
                    }
                    continue;
                }
            }
            // Plain polling (`long_poll_wait = 0`): the next poll after `polling_interval`,
            // earlier when a full pass or a retry is due.
            if !long_poll {
                let mut until = self.next_full;
                if let Some(due) = self.retries.values().map(|r| r.due).min() {
                    until = until.min(due);
                }
                let pause = polling.min(until.saturating_duration_since(Instant::now()));
                if !self.ctx.sleep(pause).await {
                    return;
                }
            }
        }
    }

    /// One target-state request, in the `agent.poll` span (the broker's request span is its
    /// child: the client sends the span's `traceparent`).
    async fn poll(&self, wait: u64) -> Result<Poll, BrokerError> {
        let span = tracing::info_span!(
            "agent.poll",
            brokkr.poll.wait_seconds = wait,
            brokkr.poll.outcome = tracing::field::Empty,
        );
        let outcome = self.poll_broker(wait).instrument(span.clone()).await;
        span.record(
            "brokkr.poll.outcome",
            match &outcome {
                Ok(Poll::Changed(..)) => "changed",
                Ok(Poll::Unchanged) => "unchanged",
                Err(_) => "error",
            },
        );
        outcome
    }

    async fn poll_broker(&self, wait: u64) -> Result<Poll, BrokerError> {
        let ctx = &self.ctx;
        let started = Instant::now();
        // Full mode: objects already reported on are included (the agent corrects drift).
        let result = ctx
            .broker
            .api()
            .target_state(ctx.agent_id, true, self.etag.as_deref(), Some(wait))
            .await;
        ctx.metrics
            .poll_duration
            .observe(started.elapsed().as_secs_f64());
        let outcome = match result {
            Ok(TargetState::NotModified { .. }) => Ok(Poll::Unchanged),
            Ok(TargetState::Changed {
                objects,
                etag,
                withdrawn_stacks,
            }) => Ok(Poll::Changed(
                objects,
                (!etag.is_empty()).then_some(etag),
                withdrawn_stacks,
            )),
            Err(e) => Err(BrokerError::from(e)),
        };
        match &outcome {
            Ok(_) => {
                ctx.metrics
                    .poll_requests
                    .with_label_values(&["success"])
                    .inc();
                ctx.metrics
                    .last_successful_poll
                    .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
            }
            Err(_) => ctx
                .metrics
                .poll_requests
                .with_label_values(&["error"])
                .inc(),
        }
        outcome
    }

    /// Remembers the outcomes reported before a restart (the newest event per deployment
    /// object), so a restart does not repeat them. Best effort.
    async fn load_reported(&mut self) {
        match self
            .ctx
            .broker
            .api()
            .list_agent_events_of(self.ctx.agent_id)
            .await
        {
            Ok(events) => {
                let current: HashSet<Uuid> = self.target.iter().map(|d| d.id).collect();
                // Newest first: the first event seen per deployment object is its latest.
                for event in events {
                    if !current.contains(&event.deployment_object_id)
                        || self.reported.contains_key(&event.deployment_object_id)
                    {
                        continue;
                    }
                    self.reported
                        .insert(event.deployment_object_id, event.status);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read earlier events"),
        }
    }

    /// Removes the objects of stacks withdrawn from the agent (it deregistered from their
    /// generator), like a deletion marker would; each stack once. Unlike a removed target,
    /// which leaves objects in place, a withdrawal means the agent no longer has the consent to
    /// run them. A failure is retried with the next target state.
    async fn withdraw(&mut self, withdrawn: &[Uuid]) {
        let ctx = self.ctx.clone();
        self.withdrawn_done.retain(|s| withdrawn.contains(s));
        let in_target: HashSet<Uuid> = self.target.iter().map(|d| d.stack_id).collect();
        let todo: Vec<Uuid> = withdrawn
            .iter()
            .filter(|s| !in_target.contains(s) && !self.withdrawn_done.contains(s))
            .copied()
            .collect();
        if todo.is_empty() || !ctx.is_active() {
            return;
        }
        if let Err(e) = self.view.ensure_fresh(&ctx, Duration::ZERO).await {
            tracing::warn!(error = %e, "cannot remove the objects of withdrawn stacks yet");
            return;
        }
        let selector = format!("{OWNER_LABEL}={}", ctx.agent_id);
        let owned = match apply::list_owned(&ctx, &self.view, &selector).await {
            Ok(owned) => owned,
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove the objects of withdrawn stacks yet");
                return;
            }
        };
        for stack in todo {
            let objects: Vec<OwnedObject> = owned
                .iter()
                .filter(|o| o.stack == Some(stack))
                .cloned()
                .collect();
            match apply::remove_stack(&ctx, &objects, &mut self.adopted).await {
                Ok(()) => {
                    ctx.applied.remove_stack(stack);
                    self.done.remove(&stack);
                    self.withdrawn_done.insert(stack);
                    tracing::info!(
                        %stack,
                        objects = objects.len(),
                        "stack withdrawn (deregistered from its generator): objects removed"
                    );
                }
                Err(e) => {
                    tracing::warn!(%stack, error = %e, "cannot remove a withdrawn stack's objects")
                }
            }
        }
    }

    /// Applies what needs applying; `full` re-applies everything (drift correction).
    async fn pass(&mut self, full: bool) {
        let ctx = self.ctx.clone();
        // The status may have changed during a long poll.
        if !ctx.is_active() {
            return;
        }
        let started = Instant::now();
        let stacks: HashSet<Uuid> = self.target.iter().map(|d| d.stack_id).collect();
        // Stacks no longer targeted: forget them (their objects stay, as the broker decided).
        self.done.retain(|s, _| stacks.contains(s));
        ctx.applied.retain_stacks(|s| stacks.contains(s));
        let ids: HashSet<Uuid> = self.target.iter().map(|d| d.id).collect();
        self.reported.retain(|id, _| ids.contains(id));
        self.unreported.retain(|id, _| ids.contains(id));
        self.retries.retain(|id, _| ids.contains(id));

        let now = Instant::now();
        let todo: Vec<DeploymentObject> = self
            .target
            .iter()
            .filter(|d| {
                if let Some(retry) = self.retries.get(&d.id) {
                    return full || retry.due <= now;
                }
                full || self.done.get(&d.stack_id) != Some(&d.id)
            })
            .cloned()
            .collect();
        if todo.is_empty() {
            return;
        }
        let max_age = if full {
            Duration::ZERO
        } else {
            Duration::from_secs(ctx.current_settings().reconcile_interval)
        };
        if let Err(e) = self.view.ensure_fresh(&ctx, max_age).await {
            tracing::warn!(error = %e, "reconcile pass skipped");
            for d in &todo {
                self.failed(d, &e).await;
            }
            return;
        }
        // What the agent owns, per stack: listed on full passes and for stacks the registry
        // does not know (after a restart); remembered otherwise.
        let needs_listing = full
            || todo
                .iter()
                .any(|d| ctx.applied.for_stack(d.stack_id).is_none());
        let mut listed: Option<HashMap<Uuid, Vec<OwnedObject>>> = None;
        if needs_listing {
            let selector = format!("{OWNER_LABEL}={}", ctx.agent_id);
            match apply::list_owned(&ctx, &self.view, &selector).await {
                Ok(owned) => {
                    let mut by_stack: HashMap<Uuid, Vec<OwnedObject>> = HashMap::new();
                    for o in owned {
                        if o.adopted {
                            self.adopted.insert(o.key.clone());
                        }
                        if let Some(stack) = o.stack {
                            by_stack.entry(stack).or_default().push(o);
                        }
                    }
                    listed = Some(by_stack);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list owned objects; using what the agent remembers");
                }
            }
        }
        for d in &todo {
            if ctx.is_cancelled() {
                return;
            }
            let previous = match listed.as_ref() {
                Some(by_stack) => by_stack.get(&d.stack_id).cloned().unwrap_or_default(),
                None => ctx
                    .applied
                    .for_stack(d.stack_id)
                    .map(|entry| apply::owned_from_registry(&self.view, &entry, &self.adopted))
                    .unwrap_or_default(),
            };
            let span = apply_span(d);
            let result = if d.is_deletion_marker {
                apply::remove_stack(&ctx, &previous, &mut self.adopted)
                    .instrument(span.clone())
                    .await
                    .map(|()| None)
            } else {
                let target = Target {
                    deployment_object_id: d.id,
                    stack_id: d.stack_id,
                    checksum: &d.yaml_checksum,
                    yaml: &d.yaml_content,
                };
                apply::apply_deployment(&ctx, &mut self.view, &target, &previous, &mut self.adopted)
                    .instrument(span.clone())
                    .await
                    .map(Some)
            };
            match &result {
                Ok(entry) => {
                    let applied = entry.as_ref().map_or(0, |e| e.objects.len());
                    span.record("brokkr.apply.applied", applied);
                    span.record("brokkr.apply.failed", 0);
                }
                Err(e) => {
                    span.record("brokkr.apply.failed", e.failed_objects);
                    span.record("otel.status_code", "ERROR");
                    span.record("error.message", e.message.as_str());
                }
            }
            match result {
                Ok(entry) => {
                    match entry {
                        Some(entry) => ctx.applied.record(entry),
                        None => {
                            ctx.applied.remove_stack(d.stack_id);
                        }
                    }
                    self.done.insert(d.stack_id, d.id);
                    self.retries.remove(&d.id);
                    ctx.metrics.reconciles.with_label_values(&["success"]).inc();
                    if self.reported.get(&d.id) != Some(&AgentEventStatus::Success) {
                        tracing::info!(
                            deployment_object = %d.id,
                            stack = %d.stack_id,
                            deletion_marker = d.is_deletion_marker,
                            "deployment object applied"
                        );
                    }
                    self.report(d.id, AgentEventStatus::Success, None).await;
                }
                Err(e) => self.failed(d, &e).await,
            }
        }
        ctx.metrics
            .applied_deployment_objects
            .set(i64::try_from(ctx.applied.len()).unwrap_or(i64::MAX));
        ctx.metrics
            .managed_objects
            .set(i64::try_from(ctx.applied.object_count()).unwrap_or(i64::MAX));
        tracing::debug!(full, count = todo.len(), elapsed = ?started.elapsed(), "reconcile pass done");
    }

    async fn failed(&mut self, d: &DeploymentObject, e: &ApplyFailure) {
        let ctx = self.ctx.clone();
        ctx.metrics.reconciles.with_label_values(&["failure"]).inc();
        let attempts = self.retries.get(&d.id).map_or(0, |r| r.attempts) + 1;
        let cap = MAX_RETRY_DELAY.min(Duration::from_secs(
            ctx.current_settings().reconcile_interval,
        ));
        let delay = retry_delay(attempts, cap);
        self.retries.insert(
            d.id,
            Retry {
                attempts,
                due: Instant::now() + delay,
            },
        );
        if self.reported.get(&d.id) != Some(&AgentEventStatus::Failure) {
            tracing::warn!(deployment_object = %d.id, stack = %d.stack_id, error = %e, "deployment object failed");
        }
        self.report(d.id, AgentEventStatus::Failure, Some(e.message.clone()))
            .await;
    }

    /// Sends the events the broker did not take earlier.
    async fn flush_unreported(&mut self) {
        let pending: Vec<(Uuid, (AgentEventStatus, Option<String>))> =
            self.unreported.drain().collect();
        for (id, (outcome, message)) in pending {
            self.report(id, outcome, message).await;
        }
    }

    /// Sends the event unless this outcome was already reported for this deployment object.
    async fn report(&mut self, id: Uuid, outcome: AgentEventStatus, message: Option<String>) {
        if self.reported.get(&id) == Some(&outcome) {
            self.unreported.remove(&id);
            return;
        }
        let ctx = &self.ctx;
        let body = NewAgentEvent {
            agent_id: Some(ctx.agent_id),
            deployment_object_id: id,
            event_type: "DEPLOY".into(),
            status: outcome.as_str().into(),
            message: message.clone(),
        };
        let mut delay = Duration::from_secs(ctx.settings.event_message_retry_delay.max(1));
        let mut attempt = 0;
        loop {
            match ctx
                .broker
                .api()
                .report_agent_event(ctx.agent_id, &body)
                .await
                .map_err(BrokerError::from)
            {
                Ok(_) => {
                    self.reported.insert(id, outcome);
                    self.unreported.remove(&id);
                    return;
                }
                Err(e) if e.is_transient() && attempt < ctx.settings.max_event_message_retries => {
                    tracing::warn!(error = %e, "event report failed; retrying");
                    if !ctx.sleep(delay).await {
                        return;
                    }
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    tracing::warn!(deployment_object = %id, error = %e, "cannot report the event");
                    // A broker that could not be reached gets it again after the next poll; one
                    // that refused it (4xx) would refuse it again.
                    if e.is_transient() {
                        self.unreported.insert(id, (outcome, message));
                    }
                    return;
                }
            }
        }
    }
}

/// The newest deployment object of each stack (the broker sends one per stack already; this
/// keeps the agent correct if it ever sends more).
/// The span of applying one deployment object (`agent.apply`), linked to the request that
/// created the object (its `traceparent`): the apply happens in the agent's own trace, often
/// long after that request ended, and the link ties the two together.
fn apply_span(d: &DeploymentObject) -> tracing::Span {
    let span = tracing::info_span!(
        "agent.apply",
        otel.status_code = tracing::field::Empty,
        brokkr.deployment_object_id = %d.id,
        brokkr.stack_id = %d.stack_id,
        brokkr.deletion_marker = d.is_deletion_marker,
        brokkr.apply.applied = tracing::field::Empty,
        brokkr.apply.pruned = tracing::field::Empty,
        brokkr.apply.failed = tracing::field::Empty,
        error.message = tracing::field::Empty,
    );
    brokkr_runtime::telemetry::link_to(&span, d.traceparent.as_deref());
    span
}

fn latest_per_stack(objects: Vec<DeploymentObject>) -> Vec<DeploymentObject> {
    let mut by_stack: HashMap<Uuid, DeploymentObject> = HashMap::new();
    for o in objects {
        match by_stack.get(&o.stack_id) {
            Some(existing) if existing.sequence_id >= o.sequence_id => {}
            _ => {
                by_stack.insert(o.stack_id, o);
            }
        }
    }
    let mut latest: Vec<DeploymentObject> = by_stack.into_values().collect();
    latest.sort_by_key(|d| d.sequence_id);
    latest
}

/// Retry delay after `attempts` failures: 2 s doubling, capped, with jitter.
fn retry_delay(attempts: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(2)
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(16)));
    jittered(base.min(cap))
}

/// `base` ± 10 %.
fn jittered(base: Duration) -> Duration {
    base.mul_f64(rand::rng().random_range(0.9..=1.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn deployment_object(stack: Uuid, sequence: i64) -> DeploymentObject {
        DeploymentObject {
            id: Uuid::new_v4(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
            deleted_at: None,
            sequence_id: sequence,
            stack_id: stack,
            yaml_content: String::new(),
            yaml_checksum: String::new(),
            submitted_at: Utc::now(),
            is_deletion_marker: false,
            traceparent: None,
        }
    }

    #[test]
    fn only_the_newest_object_of_each_stack_is_kept() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let newest_a = deployment_object(a, 5);
        let keep = newest_a.id;
        let latest = latest_per_stack(vec![
            deployment_object(a, 1),
            newest_a,
            deployment_object(b, 3),
            deployment_object(a, 2),
        ]);
        assert_eq!(latest.len(), 2);
        assert!(latest.iter().any(|d| d.id == keep));
    }

    #[test]
    fn retry_delays_grow_up_to_the_cap() {
        let cap = Duration::from_secs(60);
        assert!(retry_delay(1, cap) <= Duration::from_millis(2200));
        assert!(retry_delay(20, cap) <= cap.mul_f64(1.1));
        assert!(retry_delay(20, cap) >= cap.mul_f64(0.9));
    }
}
