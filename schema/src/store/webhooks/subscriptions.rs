//! Webhook subscriptions, stored with their URL, auth header and signing secret encrypted
//! ([`crate::crypto`]).
//!
//! Nothing here encrypts or decrypts on its own: callers pass ciphertexts in and get them back,
//! so the store never holds a plaintext secret. [`reencrypt`] is the exception, for key
//! rotation.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::crypto::{self, Keyring};
use crate::models::{WebhookFilters, WebhookResponse};
use crate::store::{StoreError, StoreResult};

/// A subscription row. Its `Debug` output leaves the encrypted fields out.
#[derive(Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: Uuid,
    pub name: String,
    pub url_encrypted: Vec<u8>,
    pub auth_header_encrypted: Option<Vec<u8>>,
    pub secret_encrypted: Option<Vec<u8>>,
    pub event_types: Vec<String>,
    pub filters: Option<serde_json::Value>,
    pub target_labels: Option<Vec<String>>,
    pub enabled: bool,
    pub max_retries: i32,
    pub timeout_seconds: i32,
    pub failing_since: Option<chrono::DateTime<chrono::Utc>>,
    pub disabled_reason: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub created_by: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The `filters` column as its wire type (`None` when unset or unreadable).
    pub fn filters(&self) -> Option<WebhookFilters> {
        self.filters
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
    }

    /// The safe view returned by the API.
    pub fn view(&self) -> WebhookResponse {
        WebhookResponse {
            id: self.id,
            name: self.name.clone(),
            has_url: !self.url_encrypted.is_empty(),
            has_auth_header: self.auth_header_encrypted.is_some(),
            has_secret: self.secret_encrypted.is_some(),
            event_types: self.event_types.clone(),
            filters: self.filters(),
            target_labels: self.target_labels.clone(),
            enabled: self.enabled,
            max_retries: self.max_retries,
            timeout_seconds: self.timeout_seconds,
            created_at: self.created_at,
            updated_at: self.updated_at,
            created_by: self.created_by.clone(),
            disabled_reason: self.disabled_reason.clone(),
            secret: None,
        }
    }

    /// The settable fields, as a starting point for an update.
    pub fn fields(&self) -> SubscriptionFields {
        SubscriptionFields {
            name: self.name.clone(),
            url_encrypted: self.url_encrypted.clone(),
            auth_header_encrypted: self.auth_header_encrypted.clone(),
            secret_encrypted: self.secret_encrypted.clone(),
            event_types: self.event_types.clone(),
            filters: self.filters.clone(),
            target_labels: self.target_labels.clone(),
            enabled: self.enabled,
            max_retries: self.max_retries,
            timeout_seconds: self.timeout_seconds,
        }
    }
}

/// The settable fields of a subscription, secrets already encrypted.
#[derive(Clone)]
pub struct SubscriptionFields {
    pub name: String,
    pub url_encrypted: Vec<u8>,
    pub auth_header_encrypted: Option<Vec<u8>>,
    pub secret_encrypted: Option<Vec<u8>>,
    pub event_types: Vec<String>,
    /// A [`WebhookFilters`] object, or `None` for no filter.
    pub filters: Option<serde_json::Value>,
    pub target_labels: Option<Vec<String>>,
    pub enabled: bool,
    pub max_retries: i32,
    pub timeout_seconds: i32,
}

/// Every subscription, disabled ones included, oldest first.
pub async fn list(conn: &mut PgConnection) -> StoreResult<Vec<Subscription>> {
    Ok(sqlx::query_as!(
        Subscription,
        "SELECT id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                disabled_reason, created_at, updated_at, created_by
           FROM webhook_subscriptions ORDER BY created_at, id"
    )
    .fetch_all(conn)
    .await?)
}

/// One subscription.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> StoreResult<Subscription> {
    sqlx::query_as!(
        Subscription,
        "SELECT id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                disabled_reason, created_at, updated_at, created_by
           FROM webhook_subscriptions WHERE id = $1",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// One subscription, locked until the transaction ends (for read-modify-write updates).
pub async fn get_for_update(conn: &mut PgConnection, id: Uuid) -> StoreResult<Subscription> {
    sqlx::query_as!(
        Subscription,
        "SELECT id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                disabled_reason, created_at, updated_at, created_by
           FROM webhook_subscriptions WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Does the subscription exist?
pub async fn exists(conn: &mut PgConnection, id: Uuid) -> StoreResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE id = $1) AS "exists!""#,
        id
    )
    .fetch_one(conn)
    .await?)
}

/// `query_as!(Subscription, sql, ..)` with the settable `fields` bound in their order between
/// the `[lead]` and `[tail]` arguments (the two statements that write them list them alike).
macro_rules! with_fields {
    ($sql:literal, [$($lead:expr),*], $fields:expr, [$($tail:expr),*]) => {
        sqlx::query_as!(
            Subscription,
            $sql,
            $($lead,)*
            $fields.name,
            $fields.url_encrypted,
            $fields.auth_header_encrypted,
            $fields.secret_encrypted,
            &$fields.event_types,
            $fields.filters,
            $fields.target_labels.as_deref(),
            $fields.enabled,
            $fields.max_retries,
            $fields.timeout_seconds,
            $($tail,)*
        )
    };
}

/// Stores a new subscription.
pub async fn create(
    conn: &mut PgConnection,
    fields: &SubscriptionFields,
    created_by: Option<&str>,
) -> StoreResult<Subscription> {
    Ok(with_fields!(
        "INSERT INTO webhook_subscriptions
                (name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types, filters,
                 target_labels, enabled, max_retries, timeout_seconds, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         RETURNING id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                   filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                   disabled_reason, created_at, updated_at, created_by",
        [],
        fields,
        [created_by]
    )
    .fetch_one(conn)
    .await?)
}

/// Replaces the settable fields. Re-enabling a disabled subscription also forgets why it was
/// disabled and since when it was failing, so it gets a fresh start.
pub async fn update(
    conn: &mut PgConnection,
    id: Uuid,
    fields: &SubscriptionFields,
) -> StoreResult<Subscription> {
    with_fields!(
        "UPDATE webhook_subscriptions
            SET name = $2, url_encrypted = $3, auth_header_encrypted = $4, secret_encrypted = $5,
                event_types = $6, filters = $7, target_labels = $8, enabled = $9,
                max_retries = $10, timeout_seconds = $11,
                failing_since = CASE WHEN $9 AND NOT enabled THEN NULL ELSE failing_since END,
                disabled_reason = CASE WHEN $9 THEN NULL ELSE disabled_reason END
          WHERE id = $1
         RETURNING id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                   filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                   disabled_reason, created_at, updated_at, created_by",
        [id],
        fields,
        []
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// Deletes a subscription and (by cascade) its deliveries and their attempts; returns it.
pub async fn delete(conn: &mut PgConnection, id: Uuid) -> StoreResult<Subscription> {
    sqlx::query_as!(
        Subscription,
        "DELETE FROM webhook_subscriptions WHERE id = $1
         RETURNING id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                   filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                   disabled_reason, created_at, updated_at, created_by",
        id
    )
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)
}

/// What [`reencrypt`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Subscriptions whose values were rewritten under the current key.
    pub rewritten: u64,
    /// Subscriptions with a value no configured key can read (left as they are).
    pub unreadable: Vec<Uuid>,
}

/// After a key rotation: rewrites, under the current key, every encrypted value written by
/// another key. Run it in one transaction; values nobody can decrypt are reported, not lost.
pub async fn reencrypt(conn: &mut PgConnection, keyring: &Keyring) -> StoreResult<Reencrypted> {
    let rows = sqlx::query_as!(
        Subscription,
        "SELECT id, name, url_encrypted, auth_header_encrypted, secret_encrypted, event_types,
                filters, target_labels, enabled, max_retries, timeout_seconds, failing_since,
                disabled_reason, created_at, updated_at, created_by
           FROM webhook_subscriptions ORDER BY id FOR UPDATE"
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut done = Reencrypted::default();
    for row in rows {
        let stale =
            |v: &Option<Vec<u8>>| v.as_deref().is_some_and(|v| keyring.needs_reencryption(v));
        if !keyring.needs_reencryption(&row.url_encrypted)
            && !stale(&row.auth_header_encrypted)
            && !stale(&row.secret_encrypted)
        {
            continue;
        }
        let rewrite = |ctx: &str, value: &[u8]| -> Result<Vec<u8>, crypto::CryptoError> {
            keyring.encrypt(ctx, &keyring.decrypt(ctx, value)?)
        };
        let rewritten = (|| {
            Ok::<_, crypto::CryptoError>((
                rewrite(crypto::context::WEBHOOK_URL, &row.url_encrypted)?,
                row.auth_header_encrypted
                    .as_deref()
                    .map(|v| rewrite(crypto::context::WEBHOOK_AUTH_HEADER, v))
                    .transpose()?,
                row.secret_encrypted
                    .as_deref()
                    .map(|v| rewrite(crypto::context::WEBHOOK_SECRET, v))
                    .transpose()?,
            ))
        })();
        let Ok((url, auth_header, secret)) = rewritten else {
            done.unreadable.push(row.id);
            continue;
        };
        sqlx::query!(
            "UPDATE webhook_subscriptions
                SET url_encrypted = $2, auth_header_encrypted = $3, secret_encrypted = $4
              WHERE id = $1",
            row.id,
            url,
            auth_header,
            secret
        )
        .execute(&mut *conn)
        .await?;
        done.rewritten += 1;
    }
    Ok(done)
}
