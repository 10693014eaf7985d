//! LISTEN/NOTIFY channels shared by every broker replica.
//!
//! Channel names carry the tenant schema, so tenants sharing one database never see each
//! other's notifications. Notifications are sent inside the writing transaction and delivered
//! by PostgreSQL at commit, so a listener never hears of a change it cannot yet read.

use sqlx::PgConnection;
use uuid::Uuid;

/// Target-state changes. Payload: `agent:<id>` (one agent's state) or `stack:<id>` (a stack's
/// content or labels, which may touch any agent).
pub const STATE: &str = "brokkr_state";
/// Credential changes. Payload: `admin`, `agent:<id>` or `generator:<id>`.
pub const AUTH: &str = "brokkr_auth";
/// Configuration reload requests (`POST /admin/config/reload`): every broker and worker of the
/// tenant reloads its own sources. Payload: the id of the audit entry that asked.
pub const CONFIG: &str = "brokkr_config";

/// The channel name for `base` in the tenant `schema`.
pub fn channel(base: &str, schema: Option<&str>) -> String {
    match schema {
        Some(s) => format!("{base}__{s}"),
        None => base.to_owned(),
    }
}

/// What changed, as carried in a notification payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Something about one agent (targets, labels, events, record).
    Agent(Uuid),
    /// Something about one stack (new deployment object, labels, deletion).
    Stack(Uuid),
    /// The admin credential.
    Admin,
    /// One generator's credential.
    Generator(Uuid),
}

impl Scope {
    /// The payload text.
    pub fn payload(&self) -> String {
        match self {
            Scope::Agent(id) => format!("agent:{id}"),
            Scope::Stack(id) => format!("stack:{id}"),
            Scope::Admin => "admin".into(),
            Scope::Generator(id) => format!("generator:{id}"),
        }
    }

    /// Parses a payload; unknown payloads give `None` (treated as "anything may have changed").
    pub fn parse(payload: &str) -> Option<Scope> {
        if payload == "admin" {
            return Some(Scope::Admin);
        }
        let (kind, id) = payload.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "agent" => Some(Scope::Agent(id)),
            "stack" => Some(Scope::Stack(id)),
            "generator" => Some(Scope::Generator(id)),
            _ => None,
        }
    }
}

/// Queues a notification on `channel` (delivered at commit).
pub async fn send(conn: &mut PgConnection, channel: &str, scope: Scope) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_notify($1, $2)", channel, scope.payload())
        .execute(conn)
        .await?;
    Ok(())
}

/// The database-wide names of one tenant: its notification channels and job queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    /// Target-state changes.
    pub state: String,
    /// Credential changes.
    pub auth: String,
    /// Configuration reload requests.
    pub config: String,
    /// The tenant schema, which qualifies queue names (`crate::jobs::queue_name`).
    pub tenant: Option<String>,
}

impl Channels {
    /// Channels for the tenant `schema` (or the default tenant).
    pub fn for_schema(schema: Option<&str>) -> Self {
        Self {
            state: channel(STATE, schema),
            auth: channel(AUTH, schema),
            config: channel(CONFIG, schema),
            tenant: schema.map(str::to_owned),
        }
    }

    /// The tenant's name of queue `base`.
    pub fn queue(&self, base: &str) -> String {
        crate::jobs::queue_name(base, self.tenant.as_deref())
    }
}

/// Queues a reload request for every process of the tenant (delivered at commit).
pub async fn request_reload(
    conn: &mut PgConnection,
    channels: &Channels,
    origin: &str,
) -> sqlx::Result<()> {
    sqlx::query!("SELECT pg_notify($1, $2)", channels.config, origin)
        .execute(conn)
        .await?;
    Ok(())
}

/// Reloads `live` whenever a reload request arrives on the tenant's config channel, until `stop`
/// turns true; reconnects with backoff when the connection drops (the outage is logged once) and
/// then reloads once, since a request may have been missed meanwhile. `on_reload` sees each
/// outcome.
pub async fn follow_reloads(
    pool: sqlx::PgPool,
    channels: Channels,
    live: std::sync::Arc<crate::live::LiveSettings>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    on_reload: impl Fn(Result<crate::live::ReloadOutcome, crate::config::ConfigError>) + Send,
) {
    use super::outage::{Backoff, Outage};
    use crate::error_chain;
    let reload = || async {
        let live = live.clone();
        let outcome = tokio::task::spawn_blocking(move || live.reload())
            .await
            .unwrap_or_else(|e| {
                Err(crate::config::ConfigError {
                    key: "reload".into(),
                    message: e.to_string(),
                })
            });
        on_reload(outcome);
    };
    let mut outage = Outage::new("config reload listener");
    let mut backoff = Backoff::default();
    let mut lost_before = false;
    loop {
        let listener = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(&channels.config).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            l = listener => l,
            _ = stop.changed() => return,
        };
        match listener {
            Ok(mut listener) => {
                outage.resolved();
                backoff.reset();
                if lost_before {
                    reload().await;
                }
                let lost = loop {
                    tokio::select! {
                        n = listener.try_recv() => match n {
                            Ok(Some(_)) => reload().await,
                            Ok(None) => break "connection lost".to_owned(),
                            Err(e) => break error_chain(&e),
                        },
                        _ = stop.changed() => return,
                    }
                };
                lost_before = true;
                outage.failed(&lost);
            }
            Err(e) => {
                lost_before = true;
                outage.failed(&error_chain(&e));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let id = Uuid::new_v4();
        for scope in [
            Scope::Agent(id),
            Scope::Stack(id),
            Scope::Admin,
            Scope::Generator(id),
        ] {
            assert_eq!(Scope::parse(&scope.payload()), Some(scope));
        }
        assert_eq!(Scope::parse("nonsense"), None);
        assert_eq!(channel(STATE, Some("tenant_a")), "brokkr_state__tenant_a");
    }
}
