//! When a queue consumer looks for jobs: at once when PostgreSQL announces a new job
//! (`LISTEN`), and again shortly after the last announcement.
//!
//! The second look closes a race in the consumer: a notification that arrives while a fetch is
//! already running is consumed by that poll, but the running fetch took its snapshot before the
//! new job committed and comes back empty, so the consumer would sleep until its next periodic
//! poll (`worker.poll_interval_ms`) with a job waiting. A re-check a few milliseconds after the
//! last notification (and a later one, for a slow database) starts a fetch that certainly sees
//! every job announced so far. Bursts cost nothing extra: each notification's own fetch already
//! takes what is there, and the re-check timer only runs once the burst is over.
//!
//! The listener reconnects after its connection was lost (with a pause), so wake-ups resume
//! without a restart; until then the periodic poll keeps jobs moving.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use apalis_postgres::Pubsub;
use futures::StreamExt;
use tokio::time::Sleep;

/// First re-check after the last notification: longer than a fetch normally takes.
const FIRST_RECHECK: Duration = Duration::from_millis(20);
/// Second re-check, for a fetch slowed down by a busy database.
const SECOND_RECHECK: Duration = Duration::from_millis(250);
/// Pause before listening again after the listener's connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Wakes a queue consumer on `apalis::job::insert` notifications for its queue, with the
/// re-checks described in the module documentation.
pub struct NotifiedFetch {
    pool: sqlx::PgPool,
    queue: String,
    listener: Pubsub,
    /// The next re-check, and whether it is the first one after a notification.
    recheck: Option<(Pin<Box<Sleep>>, bool)>,
    /// Set while the listener waits to reconnect.
    reconnect: Option<Pin<Box<Sleep>>>,
}

impl NotifiedFetch {
    /// Listens on `pool` for new jobs of `queue`.
    pub fn new(pool: sqlx::PgPool, queue: String) -> Self {
        Self {
            listener: Pubsub::new(pool.clone(), queue.clone()),
            pool,
            queue,
            recheck: None,
            reconnect: None,
        }
    }

    /// Takes every notification that has arrived; true if there was at least one.
    fn drain_notifications(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(pause) = self.reconnect.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.reconnect = None;
            self.listener = Pubsub::new(self.pool.clone(), self.queue.clone());
        }
        let mut notified = false;
        loop {
            match self.listener.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(_))) => notified = true,
                Poll::Ready(Some(Err(e))) => {
                    tracing::warn!(queue = %self.queue, error = %e, "job notifications unavailable; polling until the listener reconnects");
                }
                Poll::Ready(None) => {
                    let mut pause = Box::pin(tokio::time::sleep(RECONNECT_PAUSE));
                    // Registers the waker, so the reconnect happens even on an idle queue.
                    let _ = pause.as_mut().poll(cx);
                    self.reconnect = Some(pause);
                    break;
                }
                Poll::Pending => break,
            }
        }
        notified
    }
}

impl PollStrategy for NotifiedFetch {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut wake = false;
        if self.drain_notifications(cx) {
            wake = true;
            self.recheck = Some((Box::pin(tokio::time::sleep(FIRST_RECHECK)), true));
        }
        if let Some((timer, first)) = self.recheck.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            wake = true;
            if *first {
                let mut second = Box::pin(tokio::time::sleep(SECOND_RECHECK));
                let _ = second.as_mut().poll(cx);
                self.recheck = Some((second, false));
            } else {
                self.recheck = None;
            }
        }
        if wake {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}
