//! Webhook deliveries as the worker sends them: claim, record each attempt, then succeed,
//! schedule the next attempt or give up.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::events::BrokkrEvent;
use crate::models::{DeliveryAttempt, DeliveryStatus, WebhookDelivery};
use crate::store::{StoreError, StoreResult};

/// The columns of [`WebhookDelivery`], a fragment of [`sql!`].
macro_rules! delivery_columns {
    (@sql $k:tt) => {
        sql!(@resume $k [
            r#"id, subscription_id, event_type, event_id, payload, target_labels,
               status AS "status: _", acquired_by, acquired_until, attempts, last_attempt_at,
               next_retry_at, last_error, created_at, completed_at"#
        ])
    };
}

/// A delivery claimed for one attempt, with what is needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    /// Attempts made before this one.
    pub attempts: i32,
    pub url_encrypted: Option<Vec<u8>>,
    pub auth_header_encrypted: Option<Vec<u8>>,
    pub secret_encrypted: Option<Vec<u8>>,
    /// False when the subscription was disabled or deleted since the event.
    pub enabled: bool,
    pub max_retries: i32,
    pub timeout_seconds: i32,
}

/// Claims a broker-delivered delivery for one attempt. The lease covers the subscription's
/// timeout plus `grace_seconds`; after that another worker may take over. Returns `None` when it
/// is already done, dead, or held by another live attempt.
pub async fn claim(
    conn: &mut PgConnection,
    id: Uuid,
    grace_seconds: i64,
) -> StoreResult<Option<ClaimedDelivery>> {
    Ok(sqlx::query_as!(
        ClaimedDelivery,
        "UPDATE webhook_deliveries d
            SET status = 'acquired', acquired_by = NULL,
                acquired_until = now() + make_interval(secs => s.timeout_seconds + $2::float8)
           FROM webhook_subscriptions s
          WHERE d.id = $1 AND s.id = d.subscription_id AND d.target_labels IS NULL
            AND (d.status IN ('pending', 'failed')
                 OR (d.status = 'acquired' AND d.acquired_until < now()))
      RETURNING d.id, d.subscription_id, d.event_type, d.payload, d.attempts,
                s.url_encrypted, s.auth_header_encrypted, s.secret_encrypted, s.enabled,
                s.max_retries, s.timeout_seconds",
        id,
        grace_seconds as f64
    )
    .fetch_optional(conn)
    .await?)
}

/// What one attempt produced.
#[derive(Debug, Clone, Default)]
pub struct AttemptRecord {
    pub attempt_number: i32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub response_headers: Option<serde_json::Value>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub delivered_by: String,
}

/// Inserts attempt `$2` of delivery `$1` (a repeated record of the same attempt is ignored), a
/// fragment of [`sql!`].
macro_rules! insert_attempt {
    (@sql $k:tt) => {
        sql!(@resume $k [
            "INSERT INTO webhook_delivery_attempts
                     (delivery_id, attempt_number, started_at, duration_ms, status_code,
                      response_headers, response_body, error, delivered_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (delivery_id, attempt_number) DO NOTHING"
        ])
    };
}

/// `sqlx::query!` of `[pieces]` with the parameters `$1`..`$9` of [`insert_attempt!`]: delivery
/// `$id` and the fields of `$attempt` (an [`AttemptRecord`]).
macro_rules! with_attempt {
    ([$($piece:tt)*], $id:ident, $attempt:ident) => {
        sql!(query!(
            [$($piece)*],
            $id,
            $attempt.attempt_number,
            $attempt.started_at,
            $attempt.duration_ms,
            $attempt.status_code,
            $attempt.response_headers.as_ref(),
            $attempt.response_body.as_deref(),
            $attempt.error.as_deref(),
            &$attempt.delivered_by
        ))
    };
}

/// Records an attempt (a repeated record of the same attempt number is ignored).
pub async fn record_attempt(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    attempt: &AttemptRecord,
) -> StoreResult<()> {
    with_attempt!([insert_attempt!()], delivery_id, attempt)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a successful attempt and marks the delivery delivered, its subscription healthy
/// again, in one statement (one round trip: the worker's hot path).
pub async fn record_success(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    attempt: &AttemptRecord,
) -> StoreResult<()> {
    with_attempt!(
        [
            "WITH attempt AS (",
            insert_attempt!(),
            "),
              delivered AS (
                  UPDATE webhook_deliveries
                     SET status = 'success', attempts = $2, last_attempt_at = now(),
                         completed_at = now(), acquired_until = NULL, next_retry_at = NULL,
                         last_error = NULL
                   WHERE id = $1 RETURNING subscription_id)
             UPDATE webhook_subscriptions s SET failing_since = NULL
               FROM delivered d
              WHERE s.id = d.subscription_id AND s.failing_since IS NOT NULL"
        ],
        delivery_id,
        attempt
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a delivery delivered after `attempts` attempts; its subscription is healthy again.
pub async fn mark_success(conn: &mut PgConnection, id: Uuid, attempts: i32) -> StoreResult<()> {
    let subscription = sqlx::query_scalar!(
        "UPDATE webhook_deliveries
            SET status = 'success', attempts = $2, last_attempt_at = now(), completed_at = now(),
                acquired_until = NULL, next_retry_at = NULL, last_error = NULL
          WHERE id = $1 RETURNING subscription_id",
        id,
        attempts
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(subscription) = subscription {
        sqlx::query!(
            "UPDATE webhook_subscriptions SET failing_since = NULL
              WHERE id = $1 AND failing_since IS NOT NULL",
            subscription
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Marks an attempt failed: `failed` with the next attempt at `next_retry_at`, or `dead` when
/// `next_retry_at` is `None`. The subscription starts (or keeps) failing.
pub async fn mark_failure(
    conn: &mut PgConnection,
    id: Uuid,
    attempts: i32,
    error: &str,
    next_retry_at: Option<DateTime<Utc>>,
) -> StoreResult<()> {
    let subscription = sqlx::query_scalar!(
        "UPDATE webhook_deliveries
            SET status = CASE WHEN $4::timestamptz IS NULL THEN 'dead' ELSE 'failed' END,
                attempts = $2, last_attempt_at = now(), last_error = $3, next_retry_at = $4,
                acquired_until = NULL,
                completed_at = CASE WHEN $4::timestamptz IS NULL THEN now() ELSE NULL END
          WHERE id = $1 RETURNING subscription_id",
        id,
        attempts,
        error,
        next_retry_at
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(subscription) = subscription {
        sqlx::query!(
            "UPDATE webhook_subscriptions SET failing_since = now()
              WHERE id = $1 AND failing_since IS NULL",
            subscription
        )
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// A delivery.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<WebhookDelivery> {
    sql!(query_as!(
        WebhookDelivery,
        [
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries WHERE id = $1"
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// A delivery's attempts, first to last.
pub async fn attempts(conn: &mut PgConnection, id: Uuid) -> StoreResult<Vec<DeliveryAttempt>> {
    Ok(sqlx::query_as!(
        DeliveryAttempt,
        "SELECT id, attempt_number, started_at, duration_ms, status_code, response_headers,
                response_body, error, delivered_by
           FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt_number",
        id
    )
    .fetch_all(conn)
    .await?)
}

/// Puts a delivery back to `pending` for one more attempt (whatever its state, unless an
/// attempt is in flight right now).
pub async fn reset_for_redelivery(
    conn: &mut PgConnection,
    id: Uuid,
) -> StoreResult<WebhookDelivery> {
    let current = get(&mut *conn, id).await?;
    if current.status == DeliveryStatus::Acquired
        && current
            .acquired_until
            .is_some_and(|until| until > Utc::now())
    {
        return Err(StoreError::Conflict(
            "an attempt of this delivery is in flight; try again when it ends".into(),
        ));
    }
    sql!(query_as!(
        WebhookDelivery,
        [
            "UPDATE webhook_deliveries
                SET status = 'pending', next_retry_at = NULL, completed_at = NULL,
                    acquired_by = NULL, acquired_until = NULL
              WHERE id = $1 RETURNING ",
            delivery_columns!()
        ],
        id
    ))
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Queues `event` for one subscription only (pings); returns the delivery id.
pub async fn insert_for_subscription(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    event: &BrokkrEvent,
    target_labels: Option<&[String]>,
) -> StoreResult<Uuid> {
    let payload = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    Ok(sqlx::query_scalar!(
        "INSERT INTO webhook_deliveries (subscription_id, event_type, event_id, payload, target_labels)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
        subscription_id,
        &event.event_type,
        event.id,
        payload,
        target_labels
    )
    .fetch_one(conn)
    .await?)
}

/// Claims up to `limit` agent-delivered deliveries whose target labels are all on `agent_id`
/// (pending, due for a retry, or with a lapsed lease), with a lease of `lease_seconds`. One
/// statement: two agents racing for a delivery cannot both get it.
pub async fn claim_for_agent(
    conn: &mut PgConnection,
    agent_id: Uuid,
    limit: i64,
    lease_seconds: i64,
) -> StoreResult<Vec<AgentClaim>> {
    Ok(sql!(query_as!(
        AgentClaim,
        [
        "WITH mine AS (
             SELECT COALESCE(array_agg(label::text), '{}'::text[]) AS labels FROM agent_labels WHERE agent_id = $1),
         picked AS (
             SELECT d.id FROM webhook_deliveries d, mine
              WHERE d.target_labels IS NOT NULL AND d.target_labels <@ mine.labels
                AND (d.status = 'pending'
                     OR (d.status = 'failed' AND d.next_retry_at <= now())
                     OR (d.status = 'acquired' AND d.acquired_until < now()))
                -- Tenancy: an event about a generator's stack (or the generator itself) is
                -- delivered only by agents registered with that generator.
                AND NOT EXISTS (
                    SELECT 1 FROM (SELECT COALESCE(
                        brokkr_uuid_or_null(d.payload->'data'->>'generator_id'),
                        (SELECT s.generator_id FROM stacks s
                          WHERE s.id = brokkr_uuid_or_null(d.payload->'data'->>'stack_id'))) AS owner) o
                     WHERE o.owner IS NOT NULL AND NOT ",
        serves_generator!("$1", "o.owner"),
        r#")
              ORDER BY d.created_at
              LIMIT $2
              FOR UPDATE OF d SKIP LOCKED),
         claimed AS (
             UPDATE webhook_deliveries d
                SET status = 'acquired', acquired_by = $1,
                    acquired_until = now() + make_interval(secs => $3::float8)
               FROM picked WHERE d.id = picked.id
          RETURNING d.id, d.subscription_id, d.event_type, d.payload, d.attempts, d.acquired_until)
         SELECT c.id AS "id!", c.subscription_id AS "subscription_id!",
                c.event_type AS "event_type!", c.payload AS "payload!", c.attempts AS "attempts!",
                c.acquired_until, s.url_encrypted AS "url_encrypted?",
                s.auth_header_encrypted, s.secret_encrypted,
                COALESCE(s.enabled, FALSE) AS "enabled!",
                COALESCE(s.max_retries, 0) AS "max_retries!",
                COALESCE(s.timeout_seconds, 30) AS "timeout_seconds!"
           FROM claimed c LEFT JOIN webhook_subscriptions s ON s.id = c.subscription_id
          ORDER BY c.id"#
        ],
        agent_id,
        limit,
        lease_seconds as f64
    ))
    .fetch_all(conn)
    .await?)
}

/// A delivery claimed by an agent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentClaim {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub acquired_until: Option<DateTime<Utc>>,
    pub url_encrypted: Option<Vec<u8>>,
    pub auth_header_encrypted: Option<Vec<u8>>,
    pub secret_encrypted: Option<Vec<u8>>,
    pub enabled: bool,
    pub max_retries: i32,
    pub timeout_seconds: i32,
}

/// The delivery an agent holds, locked for recording its result; `None` when the agent does
/// not hold it (never claimed, lease taken over, already reported).
pub async fn held_by_agent(
    conn: &mut PgConnection,
    id: Uuid,
    agent_id: Uuid,
) -> StoreResult<Option<(i32, i32)>> {
    Ok(sqlx::query!(
        r#"SELECT d.attempts, COALESCE(s.max_retries, 0) AS "max_retries!"
             FROM webhook_deliveries d
             LEFT JOIN webhook_subscriptions s ON s.id = d.subscription_id
            WHERE d.id = $1 AND d.status = 'acquired' AND d.acquired_by = $2
            FOR UPDATE OF d"#,
        id,
        agent_id
    )
    .fetch_optional(conn)
    .await?
    .map(|row| (row.attempts, row.max_retries)))
}

/// Gives back the lease of a claim whose attempt was already made (a duplicate job after a
/// worker crash): the delivery returns to what it was before the claim.
pub async fn release_duplicate_claim(conn: &mut PgConnection, id: Uuid) -> StoreResult<()> {
    sqlx::query!(
        "UPDATE webhook_deliveries
            SET status = CASE WHEN next_retry_at IS NULL AND attempts = 0 THEN 'pending' ELSE 'failed' END,
                acquired_until = NULL
          WHERE id = $1 AND status = 'acquired'",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Lapsed leases (worker- or agent-held) go back to pending. Returns, for each broker-delivered
/// one, its id and the attempt to make next: its job may have ended while another attempt held
/// the lease, so the caller queues it again.
pub async fn release_lapsed(conn: &mut PgConnection) -> StoreResult<Vec<(Uuid, i32)>> {
    let released = sqlx::query!(
        r#"UPDATE webhook_deliveries SET status = 'pending', acquired_by = NULL, acquired_until = NULL
            WHERE status = 'acquired' AND acquired_until < now()
        RETURNING id, attempts + 1 AS "next!", target_labels IS NULL AS "broker!""#
    )
    .fetch_all(conn)
    .await?;
    Ok(released
        .into_iter()
        .filter(|row| row.broker)
        .map(|row| (row.id, row.next))
        .collect())
}

/// Disables a subscription whose deliveries have all failed for more than `after_seconds`;
/// returns its name when this call disabled it.
pub async fn disable_if_failing(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    after_seconds: i64,
    reason: &str,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar!(
        "UPDATE webhook_subscriptions SET enabled = FALSE, disabled_reason = $3
          WHERE id = $1 AND enabled AND failing_since IS NOT NULL
            AND failing_since < now() - make_interval(secs => $2::float8)
         RETURNING name",
        subscription_id,
        after_seconds as f64,
        reason
    )
    .fetch_optional(conn)
    .await?)
}

/// A page of a subscription's deliveries, newest first, optionally of one status.
pub async fn of_subscription(
    conn: &mut PgConnection,
    subscription_id: Uuid,
    status: Option<DeliveryStatus>,
    limit: i64,
    offset: i64,
) -> StoreResult<Vec<WebhookDelivery>> {
    Ok(sql!(query_as!(
        WebhookDelivery,
        [
            "SELECT ",
            delivery_columns!(),
            " FROM webhook_deliveries
              WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2)
              ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        ],
        subscription_id,
        status.map(DeliveryStatus::as_str),
        limit,
        offset
    ))
    .fetch_all(conn)
    .await?)
}
