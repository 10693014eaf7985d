//! Authentication: PAK in `Authorization` (`Bearer <pak>` or the bare PAK) → [`Caller`].
//!
//! The key's SHA-256 is looked up with one indexed query and compared again in constant time.
//! Successful lookups are cached for `broker.auth_cache_ttl_seconds`; rotation and deletion
//! drop the cached entry on every replica through LISTEN/NOTIFY (see [`crate::propagation`]),
//! and the cache is bypassed whenever that listener is disconnected.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use brokkr_schema::models::AuthResponse;
use brokkr_schema::pak::{self, Pak};
use brokkr_schema::store::auth::{self as auth_store, Identity};
use brokkr_schema::store::changes::{Actor, ActorKind};
use brokkr_schema::store::notify::Scope;
use poem::Request;
use poem_openapi::auth::ApiKey;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, SecurityScheme};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most entries the auth cache holds.
const AUTH_CACHE_CAPACITY: usize = 10_000;

/// Cache of PAK hash → identity.
pub struct AuthCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Identity, Instant)>>,
}

impl AuthCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &str) -> Option<Identity> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        match entries.get(hash) {
            Some((identity, at)) if at.elapsed() < self.ttl => Some(*identity),
            _ => None,
        }
    }

    fn insert(&self, hash: String, identity: Identity) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= AUTH_CACHE_CAPACITY {
                let ttl = self.ttl;
                entries.retain(|_, (_, at)| at.elapsed() < ttl);
                if entries.len() >= AUTH_CACHE_CAPACITY {
                    return;
                }
            }
            entries.insert(hash, (identity, Instant::now()));
        }
    }

    /// Drops every entry of the identity named by `scope`.
    pub fn invalidate(&self, scope: Scope) {
        let matches = move |identity: &Identity| match (scope, identity) {
            (Scope::Admin, Identity::Admin) => true,
            (Scope::Agent(a), Identity::Agent(b)) => a == *b,
            (Scope::Generator(a), Identity::Generator(b)) => a == *b,
            _ => false,
        };
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, (identity, _)| !matches(identity));
        }
    }

    /// Drops everything.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Identity,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.identity == Identity::Admin
    }

    /// The agent id, for an agent caller.
    pub fn agent(&self) -> Option<Uuid> {
        match self.identity {
            Identity::Agent(id) => Some(id),
            _ => None,
        }
    }

    /// The generator id, for a generator caller.
    pub fn generator(&self) -> Option<Uuid> {
        match self.identity {
            Identity::Generator(id) => Some(id),
            _ => None,
        }
    }

    /// Is this the agent `id`?
    pub fn is_agent(&self, id: Uuid) -> bool {
        self.agent() == Some(id)
    }

    /// Is this the generator `id`?
    pub fn is_generator(&self, id: Uuid) -> bool {
        self.generator() == Some(id)
    }

    /// The actor recorded for changes this caller makes.
    pub fn actor(&self) -> Actor {
        let (kind, id) = match self.identity {
            Identity::Admin => (ActorKind::Admin, None),
            Identity::Agent(id) => (ActorKind::Agent, Some(id)),
            Identity::Generator(id) => (ActorKind::Generator, Some(id)),
        };
        Actor {
            kind,
            id,
            ip_address: self.ip_address.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// A Prefixed API Key: `Authorization: Bearer <pak>` or `Authorization: <pak>`.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "Authorization",
    key_in = "header",
    checker = "authenticate"
)]
pub struct Pakauth(pub Caller);

async fn authenticate(req: &Request, key: ApiKey) -> poem::Result<Caller> {
    let state = req.data::<Arc<AppState>>().ok_or_else(|| {
        poem::Error::from(ApiError::Internal(Json(brokkr_schema::models::ErrorBody {
            error: "application state missing".into(),
            document_index: None,
            code: None,
        })))
    })?;
    let ip_address = req
        .remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string());
    let user_agent: Option<String> = req
        .header(poem::http::header::USER_AGENT)
        .map(|ua| ua.chars().take(512).collect());
    match identify(state, &key.key).await {
        Ok(identity) => {
            crate::request_span::record_caller(req, identity);
            Ok(Caller {
                identity,
                ip_address,
                user_agent,
            })
        }
        Err(err) => {
            let reason = match &err {
                ApiError::Unauthorized(body) if body.0.error.starts_with("Malformed") => {
                    Some("malformed_key")
                }
                ApiError::Unauthorized(_) => Some("unknown_key"),
                _ => None,
            };
            if let Some(reason) = reason {
                crate::audit::record_auth_failure(state, reason, ip_address, user_agent);
            }
            Err(err.into())
        }
    }
}

/// Resolves an `Authorization` value to an identity.
pub async fn identify(state: &AppState, header: &str) -> ApiResult<Identity> {
    let pak = Pak::from_authorization(header)
        .map_err(|_| ApiError::unauthorized("Malformed API key: expected a Brokkr PAK"))?;
    let hash = pak.hash();
    let cache_usable = state.propagation.is_live();
    if cache_usable && let Some(identity) = state.auth_cache.get(&hash) {
        return Ok(identity);
    }
    let started = Instant::now();
    let found = auth_store::find_identity(&state.pool, &hash).await;
    state.metrics.record_db("auth_lookup", started.elapsed());
    match found? {
        Some((identity, stored)) if pak::hashes_equal(&stored, &hash) => {
            if cache_usable {
                state.auth_cache.insert(hash, identity);
            }
            Ok(identity)
        }
        _ => Err(ApiError::unauthorized("Invalid API key")),
    }
}

/// `POST /auth/pak`.
pub struct AuthApi;

#[OpenApi(prefix_path = "/auth", tag = "crate::ApiTags::Auth")]
impl AuthApi {
    /// Tells who the presented PAK belongs to.
    #[oai(path = "/pak", method = "post", operation_id = "verifyPak")]
    async fn verify_pak(&self, auth: Pakauth) -> Json<AuthResponse> {
        let caller = auth.0;
        Json(AuthResponse {
            admin: caller.is_admin(),
            agent: caller.agent().map(|id| id.to_string()),
            generator: caller.generator().map(|id| id.to_string()),
        })
    }
}
