//! When a queue consumer looks for jobs: at once when PostgreSQL announces a new job
//! (`LISTEN`), and again shortly after the last announcement.
//!
//! apalis-postgres announces every new job of every queue on one channel
//! (`apalis::job::insert`, with the queue in the payload), so one listener per process
//! ([`JobAnnouncements`]) serves all consumers: one connection instead of one per queue. It
//! reconnects by itself after the connection is lost (backoff with jitter, logged once per
//! outage) and then wakes every consumer, since announcements may have been missed meanwhile;
//! until then the periodic poll (`worker.poll_interval_ms`) keeps jobs moving.
//!
//! The second look ([`NotifiedFetch`]) closes a race in the consumer: an announcement that
//! arrives while a fetch is already running is consumed by that poll, but the running fetch
//! took its snapshot before the new job committed and comes back empty, so the consumer would
//! sleep until its next periodic poll with a job waiting. A re-check a few milliseconds after
//! the last announcement (and a later one, for a slow database) starts a fetch that certainly
//! sees every job announced so far. Bursts cost nothing extra: each announcement's own fetch
//! already takes what is there, and the re-check timer only runs once the burst is over.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use futures::StreamExt;
use futures::channel::mpsc;
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::time::Sleep;

use brokkr_schema::error_chain;
use brokkr_schema::store::outage::{Backoff, Outage};

/// The channel apalis-postgres announces new jobs on.
const INSERT_CHANNEL: &str = "apalis::job::insert";
/// First re-check after the last announcement: longer than a fetch normally takes.
const FIRST_RECHECK: Duration = Duration::from_millis(20);
/// Second re-check, for a fetch slowed down by a busy database.
const SECOND_RECHECK: Duration = Duration::from_millis(250);

#[derive(Deserialize)]
struct InsertEvent {
    job_type: String,
}

/// The process's one listener for new jobs, fanned out to the consumers of each queue.
#[derive(Default)]
pub struct JobAnnouncements {
    subscribers: Mutex<HashMap<String, Vec<mpsc::Sender<()>>>>,
    listening: AtomicBool,
}

impl JobAnnouncements {
    /// A stream of wake-ups for `queue`. Wake-ups coalesce: a consumer that has one pending
    /// gets no second one until it took the first.
    pub fn subscribe(&self, queue: &str) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(0);
        if let Ok(mut subscribers) = self.subscribers.lock() {
            let list = subscribers.entry(queue.to_owned()).or_default();
            list.retain(|s| !s.is_closed());
            list.push(tx);
        }
        rx
    }

    /// True while the listener is connected.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    fn wake(&self, queue: Option<&str>) {
        let Ok(mut subscribers) = self.subscribers.lock() else {
            return;
        };
        let wake_list = |list: &mut Vec<mpsc::Sender<()>>| {
            list.retain_mut(|s| match s.try_send(()) {
                Ok(()) => true,
                // Full: a wake-up is already pending, which is all we want.
                Err(e) => !e.is_disconnected(),
            });
        };
        match queue {
            Some(queue) => {
                if let Some(list) = subscribers.get_mut(queue) {
                    wake_list(list);
                }
            }
            None => subscribers.values_mut().for_each(wake_list),
        }
    }

    /// Listens until `stop` turns true, reconnecting after every lost connection.
    pub async fn run(self: Arc<Self>, pool: PgPool, mut stop: watch::Receiver<bool>) {
        let mut outage = Outage::new("job announcements");
        let mut backoff = Backoff::default();
        loop {
            let connected = tokio::select! {
                l = listen(&pool) => l,
                _ = stop.wait_for(|s| *s) => return,
            };
            match connected {
                Ok(mut listener) => {
                    self.listening.store(true, Ordering::Release);
                    outage.resolved();
                    backoff.reset();
                    // Jobs announced while we were not listening: every consumer looks again.
                    self.wake(None);
                    let lost = loop {
                        let next = tokio::select! {
                            n = listener.try_recv() => n,
                            _ = stop.wait_for(|s| *s) => return,
                        };
                        match next {
                            Ok(Some(n)) => {
                                if let Ok(event) = serde_json::from_str::<InsertEvent>(n.payload())
                                {
                                    self.wake(Some(&event.job_type));
                                }
                            }
                            Ok(None) => break "connection lost".to_owned(),
                            Err(e) => break error_chain(&e),
                        }
                    };
                    self.listening.store(false, Ordering::Release);
                    outage.failed(&lost);
                }
                Err(e) => outage.failed(&error_chain(&e)),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.next_delay()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(INSERT_CHANNEL).await?;
    Ok(listener)
}

/// Wakes a queue consumer on announcements of its queue, with the re-checks described in the
/// module documentation.
pub struct NotifiedFetch {
    announcements: mpsc::Receiver<()>,
    /// The next re-check, and whether it is the first one after an announcement.
    recheck: Option<(Pin<Box<Sleep>>, bool)>,
}

impl NotifiedFetch {
    /// Wakes on `hub`'s announcements for `queue`.
    pub fn new(hub: &JobAnnouncements, queue: &str) -> Self {
        Self {
            announcements: hub.subscribe(queue),
            recheck: None,
        }
    }

    /// Takes every announcement that has arrived; true if there was at least one.
    fn drain_announcements(&mut self, cx: &mut Context<'_>) -> bool {
        let mut announced = false;
        while let Poll::Ready(Some(())) = self.announcements.poll_next_unpin(cx) {
            announced = true;
        }
        announced
    }
}

impl PollStrategy for NotifiedFetch {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut wake = false;
        if self.drain_announcements(cx) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn announcements_reach_only_their_queue_and_coalesce() {
        let hub = JobAnnouncements::default();
        let mut a = hub.subscribe("a");
        let mut b = hub.subscribe("b");
        hub.wake(Some("a"));
        hub.wake(Some("a"));
        hub.wake(Some("a"));
        assert_eq!(a.try_recv().ok(), Some(()));
        assert!(a.try_recv().is_err(), "wake-ups coalesce into one");
        assert!(b.try_recv().is_err(), "queue b was not announced");
        hub.wake(None);
        assert_eq!(a.try_recv().ok(), Some(()));
        assert_eq!(b.try_recv().ok(), Some(()));
    }

    #[tokio::test]
    async fn closed_subscribers_are_forgotten() {
        let hub = JobAnnouncements::default();
        drop(hub.subscribe("a"));
        let mut live = hub.subscribe("a");
        hub.wake(Some("a"));
        assert_eq!(live.try_recv().ok(), Some(()));
        let count = hub.subscribers.lock().map(|s| s["a"].len()).unwrap_or(0);
        assert_eq!(count, 1);
    }
}
