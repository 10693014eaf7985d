//! The API's error type: every failure becomes `{"error": "..."}` with its status, in one place.

use brokkr_schema::models::ErrorBody;
use brokkr_schema::store::StoreError;
use brokkr_schema::validation::ValidationError;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

/// An error answered to the caller.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed or breaks a validation rule.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No valid credential.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// The caller's role may not do this.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// The resource does not exist, or the caller may not see it.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The change conflicts with existing data (e.g. a duplicate name).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is well-formed but its content is unusable (e.g. YAML that is not Kubernetes objects).
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Something failed on our side.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database cannot be reached; retry later.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

fn body(message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: message.into(),
        document_index: None,
        code: None,
    })
}

/// `code` of the 403 refusing to tie an agent to a stack of a generator it is not registered
/// with (the tenancy boundary, which the admin cannot override).
pub const AGENT_NOT_REGISTERED: &str = "agent_not_registered";

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(body(message))
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized(body(message))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden(body(message))
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::NotFound(body(message))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict(body(message))
    }
    pub fn unprocessable(message: impl Into<String>, document_index: Option<u64>) -> Self {
        ApiError::Unprocessable(Json(ErrorBody {
            error: message.into(),
            document_index,
            code: None,
        }))
    }
    /// 403 `agent_not_registered`: the agent has not registered with the stack's generator.
    pub fn agent_not_registered(message: impl Into<String>) -> Self {
        ApiError::Forbidden(Json(ErrorBody {
            error: message.into(),
            document_index: None,
            code: Some(AGENT_NOT_REGISTERED.into()),
        }))
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::Unavailable(body(message))
    }

    /// A store failure, with `what` naming the missing thing for `NotFound`.
    pub fn from_store(err: StoreError, what: &str) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(format!("{what} not found")),
            other => other.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::Unprocessable(_) => 422,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("Not found"),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::MissingReference(message) => ApiError::bad_request(message),
            e if e.is_unavailable() => {
                brokkr_schema::store::outage::mark_connections_suspect();
                log_unavailable(&e);
                ApiError::unavailable("database unavailable")
            }
            e => {
                tracing::error!(error = %e, "database error");
                ApiError::Internal(body("internal error"))
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::Database(err).into()
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        ApiError::bad_request(err.0)
    }
}

/// Logs a request refused because the database is away: a warning at most every 10 s (an
/// outage refuses many requests), the rest at debug level.
fn log_unavailable(err: &StoreError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARNING: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = LAST_WARNING.load(Ordering::Relaxed);
    if now >= last.saturating_add(10)
        && LAST_WARNING
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(error = %err, "database unavailable: answering 503 (further refusals in the next 10 s are logged at debug level)");
    } else {
        tracing::debug!(error = %err, "database unavailable: answering 503");
    }
}

/// A success without a body.
#[derive(Debug, ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A handler answer whose own responses share a status with [`ApiError`] (the 400 of a failed
/// test delivery, whose body is a `WebhookTestResult`). poem-openapi would list that status
/// twice, which is a duplicate key in the document; this lists it once, with a body of either
/// shape (`anyOf`). The answer itself is the wrapped result, unchanged.
pub struct OneResponsePerStatus<T>(pub ApiResult<T>);

impl<T: poem_openapi::ApiResponse> poem_openapi::ApiResponse for OneResponsePerStatus<T> {
    fn meta() -> poem_openapi::registry::MetaResponses {
        use poem_openapi::registry::{MetaResponse, MetaSchema, MetaSchemaRef};
        let mut merged: Vec<MetaResponse> = Vec::new();
        for response in ApiResult::<T>::meta().responses {
            let Some(kept) = merged
                .iter_mut()
                .find(|m| m.status == response.status && m.status_range == response.status_range)
            else {
                merged.push(response);
                continue;
            };
            for media in response.content {
                match kept
                    .content
                    .iter_mut()
                    .find(|m| m.content_type == media.content_type)
                {
                    Some(same) if same.schema != media.schema => {
                        let mut shapes = match &same.schema {
                            MetaSchemaRef::Inline(s) if !s.any_of.is_empty() => s.any_of.clone(),
                            other => vec![other.clone()],
                        };
                        shapes.push(media.schema);
                        same.schema = MetaSchemaRef::Inline(Box::new(MetaSchema {
                            any_of: shapes,
                            ..MetaSchema::ANY
                        }));
                    }
                    Some(_) => {}
                    None => kept.content.push(media),
                }
            }
        }
        poem_openapi::registry::MetaResponses { responses: merged }
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        ApiResult::<T>::register(registry);
    }
}

impl<T: poem::IntoResponse> poem::error::IntoResult<T> for OneResponsePerStatus<T> {
    fn into_result(self) -> poem::Result<T> {
        self.0.map_err(Into::into)
    }
}
