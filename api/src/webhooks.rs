//! `/webhooks`: subscriptions that receive Brokkr's events, and their deliveries (admin only).
//!
//! The URL, auth header and signing secret are encrypted with the keyring of
//! `broker.webhook_encryption_key` (see [`brokkr_schema::crypto`]) before they reach the
//! database, and no response ever contains them: the safe view says only `has_url`,
//! `has_auth_header` and `has_secret` (the one exception: a secret the broker generated on
//! create, `generate_secret: true`, is in that create's answer, once). Without a configured key the broker refuses to store
//! them. URLs are checked against the destination policy ([`brokkr_schema::destinations`]) on
//! create and on every update. Every change is recorded (audit entry with the real actor) in the
//! transaction that makes it.
//!
//! With `validate: true`, create first sends a test delivery and stores nothing unless the
//! endpoint accepts it; `POST /webhooks/{id}/test`, ping, redelivery and delivery inspection are
//! in `crate::webhook_deliveries`.

use std::sync::Arc;

use brokkr_schema::crypto::{Keyring, context};
use brokkr_schema::destinations::DestinationPolicy;
use brokkr_schema::events::EVENT_TYPES;
use brokkr_schema::models::{
    CreateWebhookRequest, DeliveryStatus, UpdateWebhookRequest, WebhookDelivery, WebhookFilters,
    WebhookResponse,
};
use brokkr_schema::store::StoreError;
use brokkr_schema::store::changes::Change;
use brokkr_schema::store::webhooks::deliveries;
use brokkr_schema::store::webhooks::subscriptions::{self, SubscriptionFields};
use brokkr_schema::validation::{self, MAX_NAME_LEN};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, OpenApi};
use uuid::Uuid;

use crate::ApiTags;
use crate::access::{self, Action, Resource};
use crate::auth::Pakauth;
use crate::error::{ApiError, ApiResult, NoContent, OneResponsePerStatus};
use crate::state::AppState;

/// Why a webhook cannot be stored on a broker without an encryption key.
pub const NO_KEY_MESSAGE: &str = "webhook encryption is not configured: set broker.webhook_encryption_key (64 hex characters; deploy/local-stack.sh generates one)";

/// Default and largest retry count.
const DEFAULT_MAX_RETRIES: i32 = 5;
const MAX_MAX_RETRIES: i32 = 20;
/// Default and largest per-attempt timeout, in seconds.
const DEFAULT_TIMEOUT_SECONDS: i32 = 30;
const MAX_TIMEOUT_SECONDS: i32 = 300;
/// Shortest signing secret, in characters.
const MIN_SECRET_LEN: usize = 16;
/// Longest signing secret and auth header, in bytes.
const MAX_SECRET_LEN: usize = 1024;
const MAX_AUTH_HEADER_LEN: usize = 8192;
/// Deliveries listed per page: default and cap.
const DEFAULT_DELIVERY_LIMIT: i64 = 50;
const MAX_DELIVERY_LIMIT: i64 = 500;

fn subscription_not_found() -> ApiError {
    ApiError::not_found("Webhook subscription not found")
}

fn not_found_as_subscription(err: StoreError) -> ApiError {
    ApiError::from_store(err, "Webhook subscription")
}

/// Applies a clearable field of an update (absent: keep, null: clear, value: set) and notes
/// that it changed.
fn apply<T>(
    change: MaybeUndefined<T>,
    slot: &mut Option<T>,
    field: &'static str,
    changed: &mut Vec<&'static str>,
) {
    if !change.is_undefined() {
        changed.push(field);
    }
    change.update_to(slot);
}

/// Handlers of `/webhooks`.
pub struct WebhooksApi {
    state: Arc<AppState>,
    /// `None` when no key is configured: secrets cannot be stored then.
    keyring: Option<Arc<Keyring>>,
    destinations: DestinationPolicy,
}

/// `201 Created` with the safe view.
#[derive(ApiResponse)]
pub enum WebhookCreated {
    /// The subscription was stored.
    #[oai(status = 201)]
    Created(Json<WebhookResponse>),
    /// `validate` was set and the test delivery failed (a `WebhookTestResult`), or the request
    /// is invalid (an `ErrorBody`): nothing was stored.
    #[oai(status = 400)]
    ValidationFailed(Json<brokkr_schema::models::WebhookTestResult>),
}

impl WebhooksApi {
    /// Uses the keyring and destination policy the state built from the settings.
    pub fn new(state: Arc<AppState>) -> Self {
        Self {
            keyring: state.keyring.clone(),
            destinations: state.destinations.clone(),
            state,
        }
    }

    fn keyring(&self) -> ApiResult<&Keyring> {
        self.keyring
            .as_deref()
            .ok_or_else(|| ApiError::bad_request(NO_KEY_MESSAGE))
    }

    /// Checks a URL against the syntax rules and the destination policy; returns it normalised.
    fn check_url(&self, url: &str) -> ApiResult<String> {
        self.destinations
            .check_url(url)
            .map(|u| u.to_string())
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    fn encrypt(&self, ctx: &str, plaintext: &str) -> ApiResult<Vec<u8>> {
        self.keyring()?.encrypt_str(ctx, plaintext).map_err(|e| {
            tracing::error!(error = %e, "webhook encryption failed");
            ApiError::Internal(Json(brokkr_schema::models::ErrorBody {
                error: "Failed to encrypt data".into(),
                document_index: None,
                code: None,
            }))
        })
    }

    async fn create(
        &self,
        auth: Pakauth,
        body: Json<CreateWebhookRequest>,
    ) -> ApiResult<WebhookCreated> {
        access::require(
            &auth.0,
            Action::Create,
            Resource::WebhookSubscription,
            false,
        )?;
        self.keyring()?;
        let body = body.0;
        let name = check_name(&body.name)?;
        let url = self.check_url(&body.url)?;
        let event_types = check_event_types(&body.event_types)?;
        if let Some(h) = &body.auth_header {
            check_auth_header(h)?;
        }
        if let Some(s) = &body.secret {
            check_secret(s)?;
        }
        let generated = match (body.generate_secret, &body.secret) {
            (true, Some(_)) => {
                return Err(ApiError::bad_request(
                    "send either secret or generate_secret: true, not both",
                ));
            }
            (true, None) => Some(brokkr_runtime::webhooks::signing::generate_secret()),
            (false, _) => None,
        };
        let secret = generated.clone().or_else(|| body.secret.clone());
        let max_retries = check_max_retries(body.max_retries.unwrap_or(DEFAULT_MAX_RETRIES))?;
        let timeout_seconds =
            check_timeout(body.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS))?;
        let target_labels = body
            .target_labels
            .as_deref()
            .map(check_target_labels)
            .transpose()?;
        let filters = match &body.filters {
            Some(f) => check_filters(f)?,
            None => None,
        };
        if body.validate {
            // The endpoint must accept a test delivery before anything is stored.
            let result = crate::webhook_deliveries::send_test(
                &self.state,
                &url,
                body.auth_header.as_deref(),
                secret.as_deref(),
                timeout_seconds,
                None,
            )
            .await;
            if !result.success {
                return Ok(WebhookCreated::ValidationFailed(Json(result)));
            }
        }
        let fields = SubscriptionFields {
            name,
            url_encrypted: self.encrypt(context::WEBHOOK_URL, &url)?,
            auth_header_encrypted: body
                .auth_header
                .as_deref()
                .map(|h| self.encrypt(context::WEBHOOK_AUTH_HEADER, h))
                .transpose()?,
            secret_encrypted: secret
                .as_deref()
                .map(|s| self.encrypt(context::WEBHOOK_SECRET, s))
                .transpose()?,
            event_types,
            filters,
            target_labels,
            enabled: true,
            max_retries,
            timeout_seconds,
        };
        let actor = auth.0.actor();
        let created_by = actor.kind.as_str();
        let mut write = self.state.write(actor.clone()).await?;
        let sub = subscriptions::create(write.conn(), &fields, Some(created_by)).await?;
        write
            .record(Change::WebhookCreated {
                id: sub.id,
                name: &sub.name,
                event_types: &sub.event_types,
            })
            .await?;
        write.commit().await?;
        let mut view = sub.view();
        view.secret = generated;
        Ok(WebhookCreated::Created(Json(view)))
    }
}

/// Event types a subscription may name: known types, `*`, or `<known prefix>.*`.
fn check_event_types(types: &[String]) -> ApiResult<Vec<String>> {
    if types.is_empty() {
        return Err(ApiError::bad_request("At least one event type is required"));
    }
    let mut checked: Vec<String> = Vec::with_capacity(types.len());
    for raw in types {
        let t = raw.trim();
        let known = t == "*"
            || EVENT_TYPES.contains(&t)
            || t.strip_suffix(".*").is_some_and(|prefix| {
                !prefix.is_empty()
                    && EVENT_TYPES
                        .iter()
                        .any(|e| e.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
            });
        if !known {
            let shown: String = t.chars().take(64).collect();
            return Err(ApiError::bad_request(format!(
                "unknown event type {shown:?}: use a type listed by GET /api/v1/webhooks/event-types, a prefix pattern such as \"deployment.*\", or \"*\""
            )));
        }
        if !checked.iter().any(|c| c == t) {
            checked.push(t.to_owned());
        }
    }
    Ok(checked)
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    validation::name("Webhook name", name, Some(MAX_NAME_LEN))?;
    Ok(name.to_owned())
}

fn check_auth_header(value: &str) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::bad_request(
            "auth_header cannot be empty; send null to remove it",
        ));
    }
    if value.len() > MAX_AUTH_HEADER_LEN {
        return Err(ApiError::bad_request(format!(
            "auth_header cannot be longer than {MAX_AUTH_HEADER_LEN} characters"
        )));
    }
    // Only what an HTTP header value may hold (no CR/LF: no header injection).
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ApiError::bad_request(
            "auth_header must be a valid HTTP header value (no control characters)",
        ));
    }
    Ok(())
}

fn check_secret(value: &str) -> ApiResult<()> {
    let chars = value.chars().count();
    if chars < MIN_SECRET_LEN || value.trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "secret must be at least {MIN_SECRET_LEN} characters"
        )));
    }
    if value.len() > MAX_SECRET_LEN {
        return Err(ApiError::bad_request(format!(
            "secret cannot be longer than {MAX_SECRET_LEN} characters"
        )));
    }
    Ok(())
}

fn check_max_retries(value: i32) -> ApiResult<i32> {
    if (0..=MAX_MAX_RETRIES).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "max_retries must be between 0 and {MAX_MAX_RETRIES}"
        )))
    }
}

fn check_timeout(value: i32) -> ApiResult<i32> {
    if (1..=MAX_TIMEOUT_SECONDS).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}"
        )))
    }
}

fn check_target_labels(labels: &[String]) -> ApiResult<Vec<String>> {
    if labels.is_empty() {
        return Err(ApiError::bad_request(
            "target_labels cannot be empty; omit it (or send null) to have the broker deliver",
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(labels.len());
    for label in labels {
        validation::label(label)?;
        if !checked.contains(label) {
            checked.push(label.clone());
        }
    }
    Ok(checked)
}

/// The stored form of `filters`: `None` when it narrows nothing.
fn check_filters(filters: &WebhookFilters) -> ApiResult<Option<serde_json::Value>> {
    if let Some(labels) = &filters.labels {
        for (key, value) in labels {
            validation::annotation(key, value)
                .map_err(|e| ApiError::bad_request(format!("filters.labels: {e}")))?;
        }
    }
    let empty = filters.agent_id.is_none()
        && filters.stack_id.is_none()
        && filters.labels.as_ref().is_none_or(|l| l.is_empty());
    if empty {
        return Ok(None);
    }
    serde_json::to_value(filters).map(Some).map_err(|e| {
        tracing::error!(error = %e, "serialising webhook filters");
        ApiError::bad_request("filters cannot be stored")
    })
}

#[OpenApi(tag = "ApiTags::Webhooks")]
impl WebhooksApi {
    /// Lists every subscription, disabled ones included (admin).
    #[oai(path = "/webhooks", method = "get", operation_id = "listWebhooks")]
    async fn list_webhooks(&self, auth: Pakauth) -> ApiResult<Json<Vec<WebhookResponse>>> {
        access::require(&auth.0, Action::List, Resource::WebhookSubscription, false)?;
        let mut conn = self.state.pool.acquire().await?;
        let subs = subscriptions::list(&mut conn).await?;
        Ok(Json(subs.iter().map(|s| s.view()).collect()))
    }

    /// Subscribes a URL to events (admin). The URL, `auth_header` and `secret` are stored
    /// encrypted and never returned. Needs `broker.webhook_encryption_key`.
    #[oai(path = "/webhooks", method = "post", operation_id = "createWebhook")]
    async fn create_webhook(
        &self,
        auth: Pakauth,
        body: Json<CreateWebhookRequest>,
    ) -> OneResponsePerStatus<WebhookCreated> {
        OneResponsePerStatus(self.create(auth, body).await)
    }

    /// Lists the event types a subscription can name; `*` and `<prefix>.*` patterns are also
    /// accepted (admin).
    #[oai(
        path = "/webhooks/event-types",
        method = "get",
        operation_id = "listWebhookEventTypes"
    )]
    async fn list_event_types(&self, auth: Pakauth) -> ApiResult<Json<Vec<String>>> {
        access::require(&auth.0, Action::List, Resource::WebhookSubscription, false)?;
        Ok(Json(EVENT_TYPES.iter().map(|t| (*t).to_owned()).collect()))
    }

    /// Reads a subscription (admin).
    #[oai(path = "/webhooks/:id", method = "get", operation_id = "getWebhook")]
    async fn get_webhook(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<Json<WebhookResponse>> {
        access::require(&auth.0, Action::Read, Resource::WebhookSubscription, false)?;
        let mut conn = self.state.pool.acquire().await?;
        let sub = subscriptions::get(&mut conn, id.0)
            .await
            .map_err(not_found_as_subscription)?;
        Ok(Json(sub.view()))
    }

    /// Changes a subscription (admin). Absent fields are kept; `null` clears `auth_header`,
    /// `secret`, `filters` and `target_labels`. A new URL is checked like on creation;
    /// re-enabling clears `disabled_reason`.
    #[oai(path = "/webhooks/:id", method = "put", operation_id = "updateWebhook")]
    async fn update_webhook(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        body: Json<UpdateWebhookRequest>,
    ) -> ApiResult<Json<WebhookResponse>> {
        access::require(
            &auth.0,
            Action::Update,
            Resource::WebhookSubscription,
            false,
        )?;
        let body = body.0;
        let mut changed: Vec<&'static str> = Vec::new();
        let name = body.name.as_deref().map(check_name).transpose()?;
        let url = body.url.as_deref().map(|u| self.check_url(u)).transpose()?;
        let event_types = body
            .event_types
            .as_deref()
            .map(check_event_types)
            .transpose()?;
        if let MaybeUndefined::Value(h) = &body.auth_header {
            check_auth_header(h)?;
        }
        if let MaybeUndefined::Value(s) = &body.secret {
            check_secret(s)?;
        }
        let max_retries = body.max_retries.map(check_max_retries).transpose()?;
        let timeout_seconds = body.timeout_seconds.map(check_timeout).transpose()?;
        let target_labels = body
            .target_labels
            .as_ref()
            .map_value(|l| check_target_labels(l))
            .transpose()?;
        // Empty filters narrow nothing, which is the same as clearing them.
        let filters = match body.filters.as_ref().map_value(check_filters).transpose()? {
            MaybeUndefined::Value(Some(stored)) => MaybeUndefined::Value(stored),
            MaybeUndefined::Value(None) | MaybeUndefined::Null => MaybeUndefined::Null,
            MaybeUndefined::Undefined => MaybeUndefined::Undefined,
        };
        // New secrets need the key; keeping or clearing them does not.
        let url_encrypted = url
            .as_deref()
            .map(|u| self.encrypt(context::WEBHOOK_URL, u))
            .transpose()?;
        let auth_header_encrypted = body
            .auth_header
            .as_ref()
            .map_value(|h| self.encrypt(context::WEBHOOK_AUTH_HEADER, h))
            .transpose()?;
        let secret_encrypted = body
            .secret
            .as_ref()
            .map_value(|s| self.encrypt(context::WEBHOOK_SECRET, s))
            .transpose()?;

        let mut write = self.state.write(auth.0.actor()).await?;
        let current = subscriptions::get_for_update(write.conn(), id.0)
            .await
            .map_err(not_found_as_subscription)?;
        let mut fields = current.fields();
        if let Some(name) = name {
            fields.name = name;
            changed.push("name");
        }
        if let Some(url) = url_encrypted {
            fields.url_encrypted = url;
            changed.push("url");
        }
        apply(
            auth_header_encrypted,
            &mut fields.auth_header_encrypted,
            "auth_header",
            &mut changed,
        );
        apply(
            secret_encrypted,
            &mut fields.secret_encrypted,
            "secret",
            &mut changed,
        );
        if let Some(types) = event_types {
            fields.event_types = types;
            changed.push("event_types");
        }
        apply(filters, &mut fields.filters, "filters", &mut changed);
        if let Some(enabled) = body.enabled {
            fields.enabled = enabled;
            changed.push("enabled");
        }
        if let Some(n) = max_retries {
            fields.max_retries = n;
            changed.push("max_retries");
        }
        if let Some(t) = timeout_seconds {
            fields.timeout_seconds = t;
            changed.push("timeout_seconds");
        }
        apply(
            target_labels,
            &mut fields.target_labels,
            "target_labels",
            &mut changed,
        );
        let sub = subscriptions::update(write.conn(), id.0, &fields)
            .await
            .map_err(not_found_as_subscription)?;
        write
            .record(Change::WebhookUpdated {
                id: sub.id,
                name: &sub.name,
                enabled: sub.enabled,
                changed: &changed,
            })
            .await?;
        write.commit().await?;
        Ok(Json(sub.view()))
    }

    /// Deletes a subscription with its deliveries (admin).
    #[oai(
        path = "/webhooks/:id",
        method = "delete",
        operation_id = "deleteWebhook"
    )]
    async fn delete_webhook(&self, auth: Pakauth, id: Path<Uuid>) -> ApiResult<NoContent> {
        access::require(
            &auth.0,
            Action::Delete,
            Resource::WebhookSubscription,
            false,
        )?;
        let mut write = self.state.write(auth.0.actor()).await?;
        let sub = subscriptions::delete(write.conn(), id.0)
            .await
            .map_err(not_found_as_subscription)?;
        write
            .record(Change::WebhookDeleted {
                id: sub.id,
                name: &sub.name,
            })
            .await?;
        write.commit().await?;
        Ok(NoContent::Done)
    }

    /// Lists a subscription's deliveries, newest first (admin). `status` is one of `pending`,
    /// `acquired`, `success`, `failed`, `dead`; `limit` defaults to 50 and is capped at 500.
    #[oai(
        path = "/webhooks/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn list_deliveries(
        &self,
        auth: Pakauth,
        id: Path<Uuid>,
        status: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> ApiResult<Json<Vec<WebhookDelivery>>> {
        access::require(&auth.0, Action::Read, Resource::WebhookSubscription, false)?;
        let status = status
            .0
            .as_deref()
            .map(|s| validation::state::<DeliveryStatus>("status", s))
            .transpose()?;
        let limit = limit.0.unwrap_or(DEFAULT_DELIVERY_LIMIT);
        let offset = offset.0.unwrap_or(0);
        if limit < 1 {
            return Err(ApiError::bad_request("limit must be at least 1"));
        }
        if offset < 0 {
            return Err(ApiError::bad_request("offset must not be negative"));
        }
        let limit = limit.min(MAX_DELIVERY_LIMIT);
        let mut conn = self.state.pool.acquire().await?;
        if !subscriptions::exists(&mut conn, id.0).await? {
            return Err(subscription_not_found());
        }
        Ok(Json(
            deliveries::of_subscription(&mut conn, id.0, status, limit, offset).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn event_types_are_known_types_or_patterns() {
        assert!(check_event_types(&strings(&["*"])).is_ok());
        assert!(check_event_types(&strings(&["stack.created", "deployment.*"])).is_ok());
        assert!(check_event_types(&strings(&["workorder.*"])).is_ok());
        assert_eq!(
            check_event_types(&strings(&["stack.created", " stack.created "])).unwrap(),
            strings(&["stack.created"])
        );
        for bad in [
            "",
            "stack",
            "stack.",
            "stack*",
            "nothing.*",
            ".*",
            "stack.exploded",
        ] {
            assert!(check_event_types(&strings(&[bad])).is_err(), "{bad}");
        }
        assert!(check_event_types(&[]).is_err());
    }

    #[test]
    fn field_rules() {
        assert!(check_secret("0123456789abcdef").is_ok());
        assert!(check_secret("short").is_err());
        assert!(check_secret(&" ".repeat(20)).is_err());
        assert!(check_auth_header("Bearer abc").is_ok());
        assert!(check_auth_header("Bearer abc\r\nX-Evil: 1").is_err());
        assert!(check_auth_header(" ").is_err());
        assert!(check_max_retries(0).is_ok() && check_max_retries(20).is_ok());
        assert!(check_max_retries(-1).is_err() && check_max_retries(21).is_err());
        assert!(check_timeout(1).is_ok() && check_timeout(300).is_ok());
        assert!(check_timeout(0).is_err() && check_timeout(301).is_err());
        assert!(check_target_labels(&[]).is_err());
        assert!(check_target_labels(&strings(&["env:prod"])).is_ok());
        assert!(check_target_labels(&strings(&["a b"])).is_err());
        assert_eq!(check_filters(&WebhookFilters::default()).unwrap(), None);
    }
}
