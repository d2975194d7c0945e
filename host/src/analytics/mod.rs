//! Storefront analytics (Oscar's analytics app): product views, basket additions, purchases
//! and searches with their result counts, recorded off the request path.
//!
//! A request calls [`Analytics::record`], which only tries to put the event on a bounded
//! channel: it never waits and never touches the database. When the channel is full (the
//! database is slow or down) the event is dropped and counted ([`Analytics::dropped`]), so a
//! storefront page costs the same whatever the analytics writer is doing. One background task
//! drains the channel about once per [`BATCH_WINDOW`] and adds what it found, in batches of at
//! most [`BATCH_EVENTS`] events, to counter tables, one transaction per batch: per product and
//! day, per customer, per search query and day. Events of one batch are summed in memory first, so a busy
//! product costs one upsert per batch, not one per view. The reports read those counters.
//!
//! At shutdown the server calls [`Analytics::flush`], which returns once everything recorded
//! before it is written; tests call it too, to read what their visits recorded.

mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::infra::db::Db;

/// Events a batch takes at most.
pub const BATCH_EVENTS: usize = 500;
/// How long the writer gathers events after the first of a batch.
pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// Events waiting to be written at most; more are dropped.
const QUEUE: usize = 10_000;

/// One thing a shopper did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    ProductView {
        product_id: i64,
        customer_id: Option<i64>,
    },
    BasketAddition {
        product_id: i64,
        quantity: i64,
        customer_id: Option<i64>,
    },
    /// An order placed: its lines as (product, units).
    Purchase {
        customer_id: Option<i64>,
        lines: Vec<(i64, i64)>,
    },
    Search {
        query: String,
        results: i64,
        customer_id: Option<i64>,
    },
}

enum Message {
    /// An event and when it happened (Unix seconds).
    Event(Event, i64),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The recorder's handle: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Analytics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: mpsc::Sender<Message>,
    /// Wakes the writer early for a flush.
    flushes: Arc<Notify>,
    dropped: AtomicU64,
}

impl Analytics {
    /// Starts the writer over `db`. Outside a Tokio runtime (nothing could drain the queue)
    /// or when `enabled` is false, every event is ignored.
    pub fn start(db: Db, enabled: bool) -> Analytics {
        let Some(runtime) = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|_| enabled)
        else {
            return Analytics::disabled();
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let flushes = Arc::new(Notify::new());
        runtime.spawn(store::run(db, receiver, flushes.clone()));
        Analytics {
            inner: Some(Arc::new(Inner {
                queue,
                flushes,
                dropped: AtomicU64::new(0),
            })),
        }
    }

    /// A recorder that records nothing.
    pub fn disabled() -> Analytics {
        Analytics { inner: None }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues `event` if there is room; never waits.
    pub fn record(&self, event: Event) {
        let Some(inner) = &self.inner else {
            return;
        };
        let at = time::OffsetDateTime::now_utc().unix_timestamp();
        if inner.queue.try_send(Message::Event(event, at)).is_err() {
            let dropped = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Once at the first, then every thousandth: a full queue must not also flood
            // the log.
            if dropped == 1 || dropped.is_multiple_of(1000) {
                tracing::warn!(dropped, "analytics queue full: events dropped");
            }
        }
    }

    /// Events dropped since start because the queue was full (or the writer gone).
    pub fn dropped(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.dropped.load(Ordering::Relaxed))
    }

    /// Waits until every event recorded before this call is written (or failed to be).
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let (done, written) = oneshot::channel();
        if inner.queue.send(Message::Flush(done)).await.is_ok() {
            inner.flushes.notify_one();
            let _ = written.await;
        }
    }
}

/// A search query as it is counted: trimmed, lower-cased, one space between words.
pub fn normalise_query(query: &str) -> String {
    query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_counted_alike() {
        assert_eq!(normalise_query("  Red   SHOES "), "red shoes");
        assert_eq!(normalise_query(""), "");
    }

    #[test]
    fn a_disabled_recorder_takes_everything_and_keeps_nothing() {
        let a = Analytics::disabled();
        a.record(Event::ProductView {
            product_id: 1,
            customer_id: None,
        });
        assert_eq!(a.dropped(), 0);
        assert!(!a.is_enabled());
    }
}
