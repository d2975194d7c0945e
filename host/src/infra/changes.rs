//! Change notification: a write announces what it changed after its transaction commits, and
//! whatever keeps copies of that data (the storefront's page and query caches, the header's
//! mini-baskets) subscribes here once, at start-up. Use cases announce; handlers never clear
//! caches themselves, so a new front door (dashboard, API) that calls the same use cases keeps
//! the pages right without knowing they exist.
//!
//! Listeners run synchronously in the announcing task and must be cheap (forget a cache entry,
//! not rebuild it). The announcement reaches this process only; other processes see the
//! change when their cached copies expire.

use std::sync::{Arc, RwLock};

/// What a committed write changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything a catalogue page may show: products, categories, classes, images, prices,
    /// and the plugins that price or render them.
    Catalogue,
    /// Stock of these products (an order's allocation, a stock edit): their availability
    /// on every page that lists them.
    Stock(Vec<i64>),
    /// Approved reviews of these products: their ratings (on every listing) and review lists.
    Reviews(Vec<i64>),
    /// The lines of one basket.
    Basket(i64),
}

type Listener = Arc<dyn Fn(&Change) + Send + Sync>;

/// Where changes are announced. Cheap to clone; clones share the listeners.
#[derive(Clone, Default)]
pub struct Changes {
    listeners: Arc<RwLock<Vec<Listener>>>,
}

impl Changes {
    pub fn new() -> Changes {
        Changes::default()
    }

    /// Calls `listener` for every change announced from now on.
    pub fn subscribe(&self, listener: impl Fn(&Change) + Send + Sync + 'static) {
        self.listeners
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::new(listener));
    }

    /// Tells every listener. Call it after the write's transaction committed: a listener that
    /// forgets a cached page before the commit could have it rebuilt from the old data.
    pub fn announce(&self, change: Change) {
        let listeners = self
            .listeners
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for listener in listeners {
            listener(&change);
        }
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.listeners.read().map(|l| l.len()).unwrap_or_default();
        f.debug_struct("Changes").field("listeners", &n).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_listener_hears_every_change_in_order() {
        let changes = Changes::new();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for n in 0..2 {
            let heard = heard.clone();
            changes.subscribe(move |c| heard.lock().unwrap().push((n, c.clone())));
        }
        changes.announce(Change::Basket(7));
        changes.clone().announce(Change::Stock(vec![1, 2]));
        assert_eq!(
            *heard.lock().unwrap(),
            vec![
                (0, Change::Basket(7)),
                (1, Change::Basket(7)),
                (0, Change::Stock(vec![1, 2])),
                (1, Change::Stock(vec![1, 2])),
            ]
        );
    }
}
