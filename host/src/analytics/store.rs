//! The analytics writer: drains the queue in batches and adds each to the counter tables in
//! one transaction.

use std::collections::HashMap;

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};

use super::{BATCH_EVENTS, BATCH_WINDOW, Event, Message, normalise_query};
use crate::infra::db::Db;

/// Until the queue closes (the shop is gone). The writer wakes once for the first event of a
/// window, sleeps through the rest of it (waking per event cost the request threads a
/// measurable share of the CPU under load), then writes everything queued in transactions of
/// at most [`BATCH_EVENTS`] events. Someone waiting on a flush cuts the window short.
pub(super) async fn run(db: Db, mut queue: mpsc::Receiver<Message>, flushes: Arc<Notify>) {
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    loop {
        if queue.recv_many(&mut batch, BATCH_EVENTS).await == 0 {
            return;
        }
        if !batch.iter().any(|m| matches!(m, Message::Flush(_))) {
            tokio::select! {
                _ = tokio::time::sleep(BATCH_WINDOW) => {}
                _ = flushes.notified() => {}
            }
        }
        loop {
            while batch.len() < BATCH_EVENTS {
                match queue.try_recv() {
                    Ok(message) => batch.push(message),
                    Err(_) => break,
                }
            }
            let full = batch.len() == BATCH_EVENTS;
            write_batch(&db, &mut batch).await;
            if !full {
                break;
            }
        }
    }
}

/// Writes the events of `batch` (emptying it) and answers the flushes in it.
async fn write_batch(db: &Db, batch: &mut Vec<Message>) {
    let mut waiting = Vec::new();
    let mut counts = Counts::default();
    for message in batch.drain(..) {
        match message {
            Message::Event(event, at) => counts.add(event, at),
            Message::Flush(done) => waiting.push(done),
        }
    }
    if !counts.is_empty() {
        let events = counts.events;
        if let Err(e) = write(db, counts).await {
            tracing::warn!(error = %e, events, "analytics batch not written");
        }
    }
    for done in waiting {
        let _ = done.send(());
    }
}

#[derive(Default)]
struct ProductDay {
    views: i64,
    basket_additions: i64,
    purchases: i64,
}

#[derive(Default)]
struct Customer {
    views: i64,
    basket_additions: i64,
    orders: i64,
    searches: i64,
    last_seen: i64,
}

#[derive(Default)]
struct SearchDay {
    searches: i64,
    zero_results: i64,
    /// The result count of the latest search, and when it was.
    last: (i64, i64),
}

/// One batch, summed.
#[derive(Default)]
struct Counts {
    events: usize,
    products: HashMap<(i64, String), ProductDay>,
    customers: HashMap<i64, Customer>,
    searches: HashMap<(String, String), SearchDay>,
}

fn day_of(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn text_of(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.events == 0
    }

    fn customer(&mut self, id: Option<i64>, at: i64) -> Option<&mut Customer> {
        let c = self.customers.entry(id?).or_default();
        c.last_seen = c.last_seen.max(at);
        Some(c)
    }

    fn add(&mut self, event: Event, at: i64) {
        self.events += 1;
        let day = day_of(at);
        match event {
            Event::ProductView {
                product_id,
                customer_id,
            } => {
                self.products.entry((product_id, day)).or_default().views += 1;
                if let Some(c) = self.customer(customer_id, at) {
                    c.views += 1;
                }
            }
            // An addition is one, whatever its quantity (Oscar counts it so too).
            Event::BasketAddition {
                product_id,
                quantity: _,
                customer_id,
            } => {
                self.products
                    .entry((product_id, day))
                    .or_default()
                    .basket_additions += 1;
                if let Some(c) = self.customer(customer_id, at) {
                    c.basket_additions += 1;
                }
            }
            Event::Purchase { customer_id, lines } => {
                for (product_id, units) in lines {
                    self.products
                        .entry((product_id, day.clone()))
                        .or_default()
                        .purchases += units;
                }
                if let Some(c) = self.customer(customer_id, at) {
                    c.orders += 1;
                }
            }
            Event::Search {
                query,
                results,
                customer_id,
            } => {
                let query = normalise_query(&query);
                if query.is_empty() {
                    return;
                }
                let s = self.searches.entry((query, day)).or_default();
                s.searches += 1;
                if results == 0 {
                    s.zero_results += 1;
                }
                if at >= s.last.1 {
                    s.last = (results, at);
                }
                if let Some(c) = self.customer(customer_id, at) {
                    c.searches += 1;
                }
            }
        }
    }
}

/// Adds `counts` to the tables, all or nothing.
async fn write(db: &Db, counts: Counts) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for ((product_id, day), p) in counts.products {
        sqlx::query(
            "INSERT INTO analytics_product_day (product_id, day, num_views, num_basket_additions, \
             num_purchases) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (product_id, day) DO UPDATE SET \
             num_views = analytics_product_day.num_views + excluded.num_views, \
             num_basket_additions = analytics_product_day.num_basket_additions + excluded.num_basket_additions, \
             num_purchases = analytics_product_day.num_purchases + excluded.num_purchases",
        )
        .bind(product_id)
        .bind(day)
        .bind(p.views)
        .bind(p.basket_additions)
        .bind(p.purchases)
        .execute(&mut *tx)
        .await?;
    }
    for (customer_id, c) in counts.customers {
        sqlx::query(
            "INSERT INTO analytics_customer (customer_id, num_product_views, num_basket_additions, \
             num_orders, num_searches, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (customer_id) DO UPDATE SET \
             num_product_views = analytics_customer.num_product_views + excluded.num_product_views, \
             num_basket_additions = analytics_customer.num_basket_additions + excluded.num_basket_additions, \
             num_orders = analytics_customer.num_orders + excluded.num_orders, \
             num_searches = analytics_customer.num_searches + excluded.num_searches, \
             last_seen_at = excluded.last_seen_at",
        )
        .bind(customer_id)
        .bind(c.views)
        .bind(c.basket_additions)
        .bind(c.orders)
        .bind(c.searches)
        .bind(text_of(c.last_seen))
        .execute(&mut *tx)
        .await?;
    }
    for ((query, day), s) in counts.searches {
        sqlx::query(
            "INSERT INTO analytics_search_day (query, day, num_searches, num_zero_results, \
             last_results, last_searched_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (query, day) DO UPDATE SET \
             num_searches = analytics_search_day.num_searches + excluded.num_searches, \
             num_zero_results = analytics_search_day.num_zero_results + excluded.num_zero_results, \
             last_results = excluded.last_results, last_searched_at = excluded.last_searched_at",
        )
        .bind(query)
        .bind(day)
        .bind(s.searches)
        .bind(s.zero_results)
        .bind(s.last.0)
        .bind(text_of(s.last.1))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_sums_before_it_writes() {
        let mut c = Counts::default();
        let at = 1_800_000_000;
        for _ in 0..3 {
            c.add(
                Event::ProductView {
                    product_id: 7,
                    customer_id: Some(1),
                },
                at,
            );
        }
        c.add(
            Event::Purchase {
                customer_id: Some(1),
                lines: vec![(7, 2)],
            },
            at,
        );
        c.add(
            Event::Search {
                query: " Nothing  Here".into(),
                results: 0,
                customer_id: None,
            },
            at,
        );
        c.add(
            Event::Search {
                query: "nothing here".into(),
                results: 4,
                customer_id: None,
            },
            at + 1,
        );
        assert_eq!(c.events, 6);
        assert_eq!(c.products.len(), 1);
        let p = c.products.values().next().unwrap();
        assert_eq!((p.views, p.purchases), (3, 2));
        let customer = &c.customers[&1];
        assert_eq!((customer.views, customer.orders), (3, 1));
        let s = c.searches.values().next().unwrap();
        assert_eq!((s.searches, s.zero_results, s.last.0), (2, 1, 4));
    }
}
