//! Webhook deliveries queued for events.
//!
//! An event becomes one `pending` delivery per enabled subscription whose event-type pattern
//! (`*`, `prefix.*`, exact) and filters (agent id, stack id, labels of the event's stack or
//! agent) match. The `(subscription, event)`
//! uniqueness makes a re-emitted event a no-op.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::{BrokkrEvent, pattern_matches};
use crate::jobs::{self, WebhookDeliveryJob};
use crate::store::StoreResult;
use crate::store::notify::Channels;

struct Candidate {
    id: Uuid,
    event_types: Vec<String>,
    filters: Option<serde_json::Value>,
    target_labels: Option<Vec<String>>,
}

/// Does a subscription's `filters` object accept this event's data?
pub fn filters_accept(filters: Option<&serde_json::Value>, data: &serde_json::Value) -> bool {
    let Some(filters) = filters.and_then(|f| f.as_object()) else {
        return true;
    };
    for key in ["agent_id", "stack_id"] {
        if let Some(wanted) = filters.get(key).and_then(|v| v.as_str())
            && data.get(key).and_then(|v| v.as_str()) != Some(wanted)
        {
            return false;
        }
    }
    true
}

/// Does the event's stack or agent carry every `filters.labels` pair? A pair `k: v` is carried
/// as an annotation `k=v`, or as a label `k:v` or `k=v`. No `labels` filter accepts everything.
async fn labels_accept(
    conn: &mut PgConnection,
    filters: Option<&serde_json::Value>,
    data: &serde_json::Value,
) -> StoreResult<bool> {
    let Some(labels) = filters
        .and_then(|f| f.get("labels"))
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
    else {
        return Ok(true);
    };
    let id = |key: &str| {
        data.get(key)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
    };
    Ok(sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (
             SELECT 1 FROM jsonb_each_text($1) f
              WHERE NOT EXISTS (SELECT 1 FROM stack_annotations a
                                 WHERE a.stack_id = $2 AND a.key = f.key AND a.value = f.value)
                AND NOT EXISTS (SELECT 1 FROM stack_labels l
                                 WHERE l.stack_id = $2
                                   AND l.label IN (f.key || ':' || f.value, f.key || '=' || f.value))
                AND NOT EXISTS (SELECT 1 FROM agent_annotations a
                                 WHERE a.agent_id = $3 AND a.key = f.key AND a.value = f.value)
                AND NOT EXISTS (SELECT 1 FROM agent_labels l
                                 WHERE l.agent_id = $3
                                   AND l.label IN (f.key || ':' || f.value, f.key || '=' || f.value)))
               AS "accepted!""#,
        labels,
        id("stack_id"),
        id("agent_id")
    )
    .fetch_one(conn)
    .await?)
}

/// Queues deliveries of `event` for every matching enabled subscription; returns how many.
/// Deliveries the broker's workers send (no `target_labels`) get their first
/// `webhook_delivery` job in the same transaction.
pub async fn enqueue_deliveries(
    conn: &mut PgConnection,
    channels: &Channels,
    event: &BrokkrEvent,
) -> StoreResult<u64> {
    let candidates = sqlx::query_as!(
        Candidate,
        "SELECT id, event_types, filters, target_labels FROM webhook_subscriptions WHERE enabled"
    )
    .fetch_all(&mut *conn)
    .await?;
    let payload = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    let queue = channels.queue(jobs::WEBHOOK_DELIVERY);
    let mut queued = 0;
    for sub in candidates {
        let wanted = sub
            .event_types
            .iter()
            .any(|p| pattern_matches(p, &event.event_type));
        if !wanted
            || !filters_accept(sub.filters.as_ref(), &event.data)
            || !labels_accept(&mut *conn, sub.filters.as_ref(), &event.data).await?
        {
            continue;
        }
        let inserted = sqlx::query_scalar!(
            "INSERT INTO webhook_deliveries (subscription_id, event_type, event_id, payload, target_labels)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id, event_id) DO NOTHING
             RETURNING id",
            sub.id,
            event.event_type,
            event.id,
            payload,
            sub.target_labels.as_deref()
        )
        .fetch_optional(&mut *conn)
        .await?;
        let Some(delivery_id) = inserted else {
            continue;
        };
        queued += 1;
        if sub.target_labels.is_none() {
            let job = WebhookDeliveryJob {
                delivery_id,
                attempt: 1,
            };
            crate::store::jobs::push(&mut *conn, &queue, &job, None, &job.idempotency_key())
                .await?;
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_narrow_by_ids() {
        let data = json!({"agent_id": "a", "stack_id": "s"});
        assert!(filters_accept(None, &data));
        assert!(filters_accept(Some(&json!({"agent_id": "a"})), &data));
        assert!(!filters_accept(Some(&json!({"agent_id": "b"})), &data));
        assert!(!filters_accept(Some(&json!({"stack_id": "x"})), &json!({})));
    }
}
