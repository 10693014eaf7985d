//! Living through database outages: which errors mean "PostgreSQL cannot be reached right now",
//! how long to wait before trying again, and how to say so in the log once per outage.
//!
//! A restart, a failover, a dropped connection or an exhausted server (`too many clients`) is an
//! ordinary event for a long-running process: every loop that talks to the database backs off
//! with [`Backoff`] and resumes by itself, and reports the outage through [`Outage`] (one warning
//! with the cause when it starts, one line with its duration when it ends), never once per try.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;

static PROCESS_START: LazyLock<Instant> = LazyLock::new(Instant::now);
/// When this process last noticed the database go away (milliseconds after
/// [`PROCESS_START`], plus one; 0: never).
static SUSPECT_SINCE: AtomicU64 = AtomicU64::new(0);

fn now_millis() -> u64 {
    u64::try_from(PROCESS_START.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Notes that the database went away: pooled connections that were idle at this moment may
/// have been closed by the server (a restart or failover ends every session), so each is pinged
/// once before its next use and replaced when dead.
pub fn mark_connections_suspect() {
    SUSPECT_SINCE.store(now_millis().saturating_add(1), Ordering::Release);
}

/// True when a connection idle for `idle_for` went idle before the last noticed outage.
pub fn idle_since_outage(idle_for: Duration) -> bool {
    let suspect = SUSPECT_SINCE.load(Ordering::Acquire);
    if suspect == 0 {
        return false;
    }
    let idle_since = now_millis()
        .saturating_sub(u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX))
        .saturating_add(1);
    idle_since <= suspect
}

/// True when `err` means the database is unreachable or refusing work for now (connection
/// refused or reset, server shutting down or starting up, too many clients, pool exhausted),
/// as opposed to refusing this statement. Retrying later can succeed.
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| unavailable_code(&code)),
        _ => false,
    }
}

/// SQLSTATEs of an unavailable server: class 08 (connection exception), 53300 (too many
/// connections), 57P01–57P03 (shutting down, crashed, cannot connect now), 25006 (read-only
/// transaction: a standby that was not promoted yet, or a demoted primary after a failover).
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "53300" | "57P01" | "57P02" | "57P03" | "25006")
}

/// One `SELECT 1` through `pool`, bounded by `timeout`: the readiness probes of the broker and
/// the worker, and the worker's check before restarting a queue consumer.
pub async fn probe(pool: &sqlx::PgPool, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, sqlx::query_scalar!("SELECT 1").fetch_one(pool)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(crate::error_chain(&e)),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f32())),
    }
}

/// Exponential backoff with full jitter: each delay is random between half and all of the
/// current step, which doubles from `initial` up to `max`. Processes that lost the database at
/// the same moment do not all come back at the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
}

impl Default for Backoff {
    /// 200 ms doubling to 5 s: after an outage of any length, whatever waits on the database
    /// tries again within 5 s of its return (so readiness comes back within that), while each
    /// process makes at most a few connection attempts a second while it is away.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(200), Duration::from_secs(5))
    }
}

impl Backoff {
    /// Starts at `initial`, never waits longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            step: initial,
        }
    }

    /// The next delay (and doubles the step).
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter)
    }

    /// Back to the initial step (after a success).
    pub fn reset(&mut self) {
        self.step = self.initial;
    }
}

/// Logs an outage of `what` once when it starts (with the cause) and once when it ends (with
/// its duration and how many tries failed); tries in between are logged at debug level.
#[derive(Debug)]
pub struct Outage {
    what: &'static str,
    since: Option<Instant>,
    failures: u64,
}

impl Outage {
    /// No outage yet.
    pub fn new(what: &'static str) -> Self {
        Outage {
            what,
            since: None,
            failures: 0,
        }
    }

    /// True while an outage is going on.
    pub fn ongoing(&self) -> bool {
        self.since.is_some()
    }

    /// A try failed with `cause`.
    pub fn failed(&mut self, cause: &str) {
        mark_connections_suspect();
        self.failures += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            tracing::warn!(
                what = self.what,
                cause,
                "database unavailable; retrying with backoff until it is back"
            );
        } else {
            tracing::debug!(
                what = self.what,
                cause,
                failures = self.failures,
                "still unavailable"
            );
        }
    }

    /// A try succeeded: ends the outage, if there was one.
    pub fn resolved(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                what = self.what,
                outage_seconds = format!("{:.1}", since.elapsed().as_secs_f64()),
                failed_tries = self.failures,
                "database reachable again; resumed"
            );
        }
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_its_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let step = Duration::from_millis(100 * (1 << i.min(3)));
            assert!(
                *d >= step / 2 && *d <= step,
                "delay {i} = {d:?}, step {step:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn server_shutdown_and_connection_loss_are_unavailability() {
        for code in ["08006", "08001", "57P01", "57P03", "53300", "25006"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "22021", "42P01", "40001"] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
    }

    // One test owns the process-wide outage mark, so no other test races it.
    #[test]
    fn an_outage_is_reported_once_and_marks_idle_connections_suspect() {
        let mut o = Outage::new("test");
        assert!(!o.ongoing());
        std::thread::sleep(Duration::from_millis(5));
        o.failed("refused");
        o.failed("refused");
        assert!(o.ongoing());
        assert_eq!(o.failures, 2);
        assert!(
            idle_since_outage(Duration::from_secs(3600)),
            "a connection idle since before the outage is suspect"
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !idle_since_outage(Duration::from_millis(1)),
            "a connection used after the outage is not"
        );
        o.resolved();
        assert!(!o.ongoing());
        assert_eq!(o.failures, 0);
    }
}
