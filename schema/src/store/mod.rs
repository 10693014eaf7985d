//! The PostgreSQL store: plain SQL with sqlx, one module per resource (webhooks in
//! [`webhooks`]: subscriptions, fan-out and deliveries; the labels and annotations of agents,
//! stacks and templates in [`metadata`]). No SQL lives outside this module.
//!
//! Functions take a `&mut PgConnection` so a handler can run several of them in one transaction
//! (`&mut *tx`), or a pool connection for single reads. Every state change also goes through
//! [`changes::record`], the single seam that writes the audit entry, the webhook event and the
//! notifications that wake long-polling agents and invalidate caches on every broker replica.
//!
//! # Queries checked at build time
//!
//! A query whose text is fixed is written with sqlx's macros (`sqlx::query!`, `query_as!`,
//! `query_scalar!`, the SQL inline next to its function): the compiler checks it against the
//! schema of `migrations/`, the number and types of its parameters, and the columns it returns
//! (into a model struct with `query_as!`, every field by name). Nullability the database cannot
//! prove is stated in the SQL, not by changing the models: `count(*) AS "count!"` (never NULL),
//! `col AS "col?"` (may be NULL), `col AS "col: _"` (decoded into the field's own type). Builds
//! never ask a database: the macros read what they need from the committed cache `.sqlx/` at the
//! workspace root (`SQLX_OFFLINE=true` in `.cargo/config.toml`, so a `DATABASE_URL` in the
//! environment changes nothing). After changing such a query or a migration, run
//! `scripts/prepare-sqlx.sh` (a scratch database, the migrations, the macros run once against
//! it) and commit `.sqlx/`; `scripts/test.sh` runs it with `--check`.
//!
//! Checked this way: every query of the store but those of [`metadata`], that is of [`agents`],
//! [`agent_events`], [`audit`], [`auth`], [`deployment_objects`], [`diagnostics`],
//! [`generators`], [`health`], [`jobs`], [`notify`], [`outage`], [`registrations`],
//! [`retention`], [`stack_rollout`], [`stacks`], [`target_state`], [`templates`], [`webhooks`]
//! (subscriptions, fan-out, deliveries) and [`work_orders`].
//!
//! The macros take only string literals, joined with `+`. SQL written once and shared by several
//! queries is a *fragment*: a `macro_rules!` macro that [`sql!`] splices into the query's text
//! before handing it to the checked macro, so each query is still checked as a whole and the
//! fragment is still written once. The fragments: the tenancy rule ([`serves_generator!`],
//! [`associated_stack_ids!`], used by target state, agents' stacks, health reports, stack
//! rollouts, deregistration and agent-side webhook claims), and, module by module, column lists
//! (`agent_columns!`, `delivery_columns!`, ...), the overall health of an object (`overall!` in
//! [`health`]), the orders an agent may claim (`eligible_order_ids!` in [`work_orders`]), a
//! template lineage (`same_owner!` in [`templates`]), the attempt insert shared by the two
//! statements that record a webhook attempt (`insert_attempt!` in [`webhooks::deliveries`]), the
//! filter shared by a page of the audit log and its count (`audit_where!` in [`audit`]) and the
//! target-state query, whose text [`target_state::QUERY`] also gives (for `EXPLAIN`).
//!
//! Only the queries of [`metadata`] stay runtime queries (`sqlx::query` with [`sqlf!`], values
//! always bound as parameters): their SQL is not fixed. [`metadata`] names its tables and id
//! columns from the constants of each owner and its columns from the kind of entry, one generic
//! implementation for the labels and annotations of agents, stacks and templates; static SQL
//! would need a copy of each statement per owner and kind.

/// `format!` for SQL assembled from constant fragments only (the table and column names of
/// [`metadata`]); values are always bound as parameters.
macro_rules! sqlf {
    ($($arg:tt)*) => {
        sqlx::AssertSqlSafe(format!($($arg)*))
    };
}

/// SQL text written as pieces: string literals and fragments, `name!(args)` calls of macros
/// that hold SQL written once (the tenancy rule [`serves_generator!`] and
/// [`associated_stack_ids!`] below, a module's shared conditions). sqlx's macros take only
/// literals, joined with `+`; this joins the pieces that way, so a checked query can share a
/// fragment with others:
///
/// - `sql!(query!([pieces], args..))`, `sql!(query_scalar!([pieces], args..))` and
///   `sql!(query_as!(Model, [pieces], args..))` are `sqlx::query!("a" + "b" + .., args..)` and so
///   on (arguments as the sqlx macro takes them, `value as _` included);
/// - `sql!(concat!(pieces))` is the text as one `&'static str`.
///
/// A fragment macro has one rule, `(@sql $k:tt <its parameters>) => { sql!(@resume $k [pieces]) }`:
/// it hands its own pieces (which may call fragments in turn) back to the expansion.
macro_rules! sql {
    (query!([$($piece:tt)*] $($args:tt)*)) => {
        sql!(@munch [sqlx::query () ($($args)*)] [] [$($piece)*])
    };
    (query_scalar!([$($piece:tt)*] $($args:tt)*)) => {
        sql!(@munch [sqlx::query_scalar () ($($args)*)] [] [$($piece)*])
    };
    (query_as!($model:ident, [$($piece:tt)*] $($args:tt)*)) => {
        sql!(@munch [sqlx::query_as ($model,) ($($args)*)] [] [$($piece)*])
    };
    (concat!($($piece:tt)*)) => {
        sql!(@munch [concat] [] [$($piece)*])
    };
    // A fragment: it continues the expansion with its pieces in front of the rest.
    (@munch $out:tt $done:tt [$frag:ident ! ($($fargs:tt)*) $(, $($rest:tt)*)?]) => {
        $frag!(@sql [$out $done [$($($rest)*)?]] $($fargs)*)
    };
    (@munch $out:tt [$($done:tt)*] [$piece:literal $(, $($rest:tt)*)?]) => {
        sql!(@munch $out [$($done)* $piece] [$($($rest)*)?])
    };
    (@munch $out:tt $done:tt [, $($rest:tt)*]) => {
        sql!(@munch $out $done [$($rest)*])
    };
    (@munch [concat] [$($done:literal)*] []) => {
        concat!($($done),*)
    };
    (@munch [$($mac:ident)::+ ($($lead:tt)*) ($($args:tt)*)] [$first:literal $($done:literal)*] []) => {
        $($mac)::+!($($lead)* $first $(+ $done)* $($args)*)
    };
    (@resume [$out:tt $done:tt [$($rest:tt)*]] [$($piece:tt)*]) => {
        sql!(@munch $out $done [$($piece)*, $($rest)*])
    };
}

/// The tenancy rule as an SQL condition, a fragment of [`sql!`]: agent `$agent` is registered
/// with generator `$generator` (both SQL expressions, given as literals). Every query that lets
/// an agent see a generator's work uses it (see [`registrations`]).
macro_rules! serves_generator {
    (@sql $k:tt $agent:literal, $generator:literal) => {
        sql!(@resume $k [
            "EXISTS (SELECT 1 FROM agent_registrations reg WHERE reg.agent_id = ",
            $agent,
            " AND reg.generator_id = ",
            $generator,
            ")"
        ])
    };
}

/// Stack ids associated with agent `$agent` (an SQL expression, given as a literal), a fragment
/// of [`sql!`]: explicit targets, plus stacks sharing one of its labels, plus stacks sharing one
/// of its annotations (same key and value); of each, only the stacks of generators the agent is
/// registered with (the tenancy rule, [`serves_generator!`]).
macro_rules! associated_stack_ids {
    (@sql $k:tt $agent:literal) => {
        sql!(@resume $k [
            "
    SELECT c.stack_id FROM (
        SELECT t.stack_id FROM agent_targets t WHERE t.agent_id = ",
            $agent,
            "
        UNION
        SELECT sl.stack_id FROM agent_labels al JOIN stack_labels sl ON sl.label = al.label
         WHERE al.agent_id = ",
            $agent,
            "
        UNION
        SELECT sa.stack_id FROM agent_annotations aa
          JOIN stack_annotations sa ON sa.key = aa.key AND sa.value = aa.value
         WHERE aa.agent_id = ",
            $agent,
            ") c
      JOIN stacks cs ON cs.id = c.stack_id
     WHERE ",
            serves_generator!($agent, "cs.generator_id")
        ])
    };
}

pub mod agent_events;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod deployment_objects;
pub mod diagnostics;
pub mod generators;
pub mod health;
pub mod jobs;
pub mod metadata;
pub mod notify;
pub mod outage;
pub mod registrations;
pub mod retention;
pub mod stack_rollout;
pub mod stacks;
pub mod target_state;
pub mod templates;
pub mod webhooks;
pub mod work_orders;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor, PgConnection, PgPool};
use tracing::Instrument;

use crate::config::DatabaseSettings;

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or is soft-deleted).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// A referenced row does not exist.
    #[error("{0}")]
    MissingReference(String),
    /// The job queue refused a job.
    #[error("{0}")]
    Queue(String),
    /// A migration could not be applied.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Maps a unique violation to [`StoreError::Conflict`] with `message`, a foreign-key
    /// violation to [`StoreError::MissingReference`], anything else to `Database`.
    pub fn classify(err: sqlx::Error, conflict: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &err {
            match db.code().as_deref() {
                Some("23505") => return StoreError::Conflict(conflict.to_owned()),
                Some("23503") => {
                    return StoreError::MissingReference(
                        "a referenced record does not exist".into(),
                    );
                }
                _ => {}
            }
        }
        StoreError::Database(err)
    }

    /// True when the database could not be reached or refuses work for now (restart,
    /// failover, too many clients), as opposed to refusing a statement: see
    /// [`outage::is_unavailable`].
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => outage::is_unavailable(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => {
                outage::is_unavailable(e)
            }
            _ => false,
        }
    }
}

/// A database transaction with its span (`db.transaction`), open from `BEGIN` until the commit
/// or rollback, so a trace shows how long the transaction held its connection. Every transaction
/// of the broker and the worker is one of these ([`begin`]); it derefs to the connection, so
/// store functions take `&mut tx` as they would a plain transaction.
pub struct Transaction {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    span: tracing::Span,
}

/// Begins a [`Transaction`] on a connection from `pool`, its span a child of the current one.
pub async fn begin(pool: &PgPool) -> StoreResult<Transaction> {
    let span = tracing::info_span!(
        "db.transaction",
        otel.kind = "client",
        db.system.name = "postgresql",
    );
    let tx = pool.begin().instrument(span.clone()).await?;
    Ok(Transaction { tx, span })
}

impl Transaction {
    /// Commits; the span ends with it.
    pub async fn commit(self) -> StoreResult<()> {
        Ok(self.tx.commit().instrument(self.span).await?)
    }
}

impl std::ops::Deref for Transaction {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// Connection options for `settings`, with the tenant schema as `search_path`.
pub fn connect_options(settings: &DatabaseSettings) -> Result<PgConnectOptions, sqlx::Error> {
    let mut options: PgConnectOptions = settings.url.parse()?;
    options = options.application_name("brokkr");
    if let Some(schema) = &settings.schema {
        // The name was validated (letters, digits, '_'), so quoting it is safe.
        options = options.options([("search_path", format!("\"{schema}\",public"))]);
    }
    Ok(options)
}

/// Opens a pool, creating the tenant schema first when one is configured.
pub async fn connect(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    connect_with(settings, &[]).await
}

/// [`connect`] with extra session settings (`("synchronous_commit", "off")`) on every
/// connection.
pub async fn connect_with(
    settings: &DatabaseSettings,
    session: &[(&str, &str)],
) -> Result<PgPool, sqlx::Error> {
    let mut options = connect_options(settings)?;
    if !session.is_empty() {
        options = options.options(session.iter().copied());
    }
    let timeout = Duration::from_secs(settings.connect_timeout_seconds.max(1));
    if let Some(schema) = &settings.schema {
        let bootstrap = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(settings.url.parse::<PgConnectOptions>()?)
            .await?;
        bootstrap
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .await?;
        bootstrap.close().await;
    }
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(timeout)
        // No ping before every checkout: it costs a round trip per request on the hot path.
        // Only connections that sat idle since an outage was noticed are pinged (and replaced
        // when dead), so after a database restart no request gets a connection the restart
        // killed; see `outage::mark_connections_suspect`.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if !outage::idle_since_outage(meta.idle_for) {
                    return Ok(true);
                }
                Ok(sqlx::Connection::ping(conn).await.is_ok())
            })
        })
        .idle_timeout(Duration::from_secs(300))
        .connect_with(options)
        .await
}

/// Applies pending migrations (serialised across processes by sqlx's advisory lock): Brokkr's
/// own, then those of the job queues.
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    MIGRATOR.run(pool).await?;
    jobs::migrate_queues(pool).await
}
