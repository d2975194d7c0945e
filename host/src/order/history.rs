//! A customer's order history (Oscar's customer order views): their orders searched by
//! number or product title, filtered by status and date, a page at a time; one order and one
//! of its lines; and re-ordering a whole order or one line into their basket.
//!
//! The customer's id is in every query's WHERE: another customer's order number is not
//! found, the same as a number that was never used.

use std::collections::HashMap;

use sqlx::{AnyPool, Row};

use super::{Order, OrderError, OrderLine, OrderSummary, by_number, currency_of, money};
use crate::basket::BasketError;
use crate::basket::Owner;
use crate::basket::actions::{Added, Baskets};

/// Search terms beyond this are refused rather than scanned.
pub const MAX_QUERY_CHARS: usize = 100;

/// What the history can be narrowed to (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// An order number, or part of a product title on one of its lines.
    pub query: Option<String>,
    pub status: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub placed_from: Option<String>,
    pub placed_to: Option<String>,
}

fn is_date(s: &str) -> bool {
    time::Date::parse(
        s,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .is_ok()
}

impl HistoryFilter {
    /// The filters in the query string (`q`, `status`, `from`, `to`), with a problem per field
    /// that can't be used (that field is then left out, the rest still apply).
    pub fn parse(query: &HashMap<String, String>) -> (HistoryFilter, Vec<(&'static str, String)>) {
        let get = |key: &str| {
            query
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let mut filter = HistoryFilter {
            query: get("q"),
            status: get("status"),
            ..HistoryFilter::default()
        };
        if filter
            .query
            .as_ref()
            .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
        {
            problems.push((
                "q",
                format!("Search for at most {MAX_QUERY_CHARS} characters."),
            ));
            filter.query = None;
        }
        if filter.status.as_ref().is_some_and(|s| s.len() > 64) {
            problems.push(("status", "Choose a status from the list.".to_owned()));
            filter.status = None;
        }
        for (key, slot) in [
            ("from", &mut filter.placed_from),
            ("to", &mut filter.placed_to),
        ] {
            match get(key) {
                Some(v) if is_date(&v) => *slot = Some(v),
                Some(_) => problems.push((key, "Enter a date like 2026-12-31.".to_owned())),
                None => {}
            }
        }
        (filter, problems)
    }

    /// The filters as query-string pairs, for links that keep them (pagination).
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", &self.query),
            ("status", &self.status),
            ("from", &self.placed_from),
            ("to", &self.placed_to),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// `%` and `_` in a search term match themselves.
fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    format!("%{escaped}%")
}

/// The condition for the customer's orders (aliased `o`) matching `filter`, and its text
/// binds (`$2`, `$3`, …; `$1` is the customer).
fn where_sql(filter: &HistoryFilter) -> (String, Vec<String>) {
    let mut conditions = vec!["o.customer_id = $1".to_owned()];
    let mut binds: Vec<String> = Vec::new();
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len() + 1)
    };
    if let Some(q) = &filter.query {
        let number = bind(q.clone(), &mut binds);
        let title = bind(like_pattern(q), &mut binds);
        conditions.push(format!(
            "(o.number = {number} OR EXISTS (SELECT 1 FROM order_line ql WHERE ql.order_id = o.id \
             AND LOWER(ql.title) LIKE {title} ESCAPE '\\'))"
        ));
    }
    if let Some(status) = &filter.status {
        conditions.push(format!("o.status = {}", bind(status.clone(), &mut binds)));
    }
    if let Some(from) = &filter.placed_from {
        conditions.push(format!("o.placed_at >= {}", bind(from.clone(), &mut binds)));
    }
    if let Some(to) = &filter.placed_to {
        // Every time on that day sorts before the day's end marker.
        conditions.push(format!(
            "o.placed_at < {}",
            bind(format!("{to}U"), &mut binds)
        ));
    }
    (conditions.join(" AND "), binds)
}

/// One page of the customer's orders matching `filter`, newest first, and how many match.
pub async fn search(
    pool: &AnyPool,
    customer_id: i64,
    filter: &HistoryFilter,
    page: u32,
    page_size: u32,
) -> Result<(Vec<OrderSummary>, i64), sqlx::Error> {
    let (condition, binds) = where_sql(filter);
    let count_sql = format!("SELECT COUNT(*) FROM shop_order o WHERE {condition}");
    let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)).bind(customer_id);
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(pool).await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    let sql = format!(
        "SELECT o.number, o.status, o.currency, o.total_incl_minor, o.placed_at, \
         (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM order_line l WHERE l.order_id = o.id) AS num_items \
         FROM shop_order o WHERE {condition} \
         ORDER BY o.placed_at DESC, o.id DESC LIMIT {page_size} OFFSET {offset}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id);
    for b in binds {
        query = query.bind(b);
    }
    let orders = query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            let currency = currency_of(r)?;
            Ok(OrderSummary {
                number: r.try_get("number")?,
                status: r.try_get("status")?,
                total_incl_tax: money(r, "total_incl_minor", currency)?,
                num_items: r.try_get("num_items")?,
                placed_at: r.try_get("placed_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((orders, total))
}

/// The statuses the customer's orders are in, for the status filter.
pub async fn statuses(pool: &AnyPool, customer_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT status FROM shop_order WHERE customer_id = $1 ORDER BY status",
    )
    .bind(customer_id)
    .fetch_all(pool)
    .await
}

/// One of the customer's orders, by number.
pub async fn order(
    pool: &AnyPool,
    customer_id: i64,
    number: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let owned: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM shop_order WHERE number = $1 AND customer_id = $2",
    )
    .bind(number)
    .bind(customer_id)
    .fetch_one(pool)
    .await?;
    if owned == 0 {
        return Ok(None);
    }
    Ok(by_number(pool, number)
        .await?
        .filter(|o| o.customer_id == Some(customer_id)))
}

/// One line of one of the customer's orders, with its order.
pub async fn line(
    pool: &AnyPool,
    customer_id: i64,
    number: &str,
    line_id: i64,
) -> Result<Option<(Order, OrderLine)>, sqlx::Error> {
    let Some(order) = order(pool, customer_id, number).await? else {
        return Ok(None);
    };
    let line = order.lines.iter().find(|l| l.id == line_id).cloned();
    Ok(line.map(|l| (order, l)))
}

/// A line re-ordering put in the basket.
#[derive(Debug, Clone)]
pub struct ReorderedLine {
    pub product_id: i64,
    pub title: String,
    pub quantity: i64,
}

/// What re-ordering did, line by line.
#[derive(Debug, Default)]
pub struct Reordered {
    /// Each line now in the basket.
    pub added: Vec<ReorderedLine>,
    /// Why each other line could not be added, in words for the customer.
    pub refused: Vec<String>,
}

/// Puts the lines of one of the customer's orders (all, or only `line_id`) back into their
/// basket, each through the basket's own add, so the same availability, stock and limit
/// checks apply as on a product page. Each line is added or refused on its own: what can
/// be bought goes in, and every line that can't says why.
pub async fn reorder(
    baskets: &Baskets<'_>,
    customer_id: i64,
    number: &str,
    line_id: Option<i64>,
) -> Result<Reordered, OrderError> {
    let order = order(baskets.pricer.pool, customer_id, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let lines: Vec<&OrderLine> = match line_id {
        Some(id) => vec![
            order
                .lines
                .iter()
                .find(|l| l.id == id)
                .ok_or(OrderError::NotFound)?,
        ],
        None => order.lines.iter().collect(),
    };
    let mut done = Reordered::default();
    for line in lines {
        let gone = || format!("“{}” is no longer sold, so it was not added.", line.title);
        let Some(product_id) = line.product_id else {
            done.refused.push(gone());
            continue;
        };
        // The options chosen then, as the product form would post them; "Yes" is how a
        // ticked box was stored, and the basket reads it back as ticked.
        let fields: HashMap<String, String> = line
            .options
            .iter()
            .map(|o| (format!("option_{}", o.code), o.value.clone()))
            .collect();
        match baskets
            .add(
                Owner::Customer(customer_id),
                product_id,
                &fields,
                line.quantity,
            )
            .await
        {
            Ok(Added::Added { line: added, .. }) => done.added.push(ReorderedLine {
                product_id,
                title: added.product.title.clone(),
                quantity: line.quantity,
            }),
            Ok(Added::Refused { message, .. }) => done.refused.push(message),
            Err(BasketError::NotFound) => done.refused.push(gone()),
            Err(BasketError::Invalid(message)) => done.refused.push(message),
            Err(e) => return Err(OrderError::Basket(Box::new(e))),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_are_checked_field_by_field() {
        let (f, problems) = HistoryFilter::parse(&query(&[
            ("q", " mug "),
            ("status", "Pending"),
            ("from", "2026-01-01"),
            ("to", "01/02/2026"),
        ]));
        assert_eq!(f.query.as_deref(), Some("mug"));
        assert_eq!(f.placed_from.as_deref(), Some("2026-01-01"));
        assert_eq!(f.placed_to, None);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "to");
        assert_eq!(
            f.pairs(),
            [("q", "mug"), ("status", "Pending"), ("from", "2026-01-01")]
        );
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        let (f, problems) = HistoryFilter::parse(&query(&[("q", &long)]));
        assert!(f.query.is_none() && problems[0].0 == "q");
    }

    #[test]
    fn the_condition_always_names_the_customer() {
        let (sql, binds) = where_sql(&HistoryFilter::default());
        assert_eq!(sql, "o.customer_id = $1");
        assert!(binds.is_empty());
        let (sql, binds) = where_sql(&HistoryFilter {
            query: Some("50%_off".into()),
            placed_to: Some("2026-02-01".into()),
            ..HistoryFilter::default()
        });
        assert!(sql.starts_with("o.customer_id = $1 AND "));
        assert_eq!(binds, ["50%_off", "%50\\%\\_off%", "2026-02-01U"]);
        assert!(sql.contains("LIKE $3") && sql.contains("o.placed_at < $4"));
    }
}
