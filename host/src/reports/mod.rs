//! Figures for staff: the dashboard home's summary (orders and revenue today, this week, this
//! month; revenue by day; new customers; open baskets; low stock; orders to fulfil). Amounts
//! are summed as integer minor units in the database and come back as [`Money`]; a partner
//! user's figures count only their own lines and stock.

pub mod tables;

use serde::Serialize;
use sqlx::{AnyPool, Row};
use time::{Date, Duration};

use crate::money::{Currency, Money};
use crate::partner::stock::DEFAULT_LOW_STOCK;

/// Orders and their revenue over a period.
#[derive(Debug, Clone, Serialize)]
pub struct Period {
    pub orders: i64,
    pub revenue: Money,
}

#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub orders: i64,
    pub revenue: Money,
}

#[derive(Debug, Clone, Serialize)]
pub struct LowStock {
    pub product_id: i64,
    pub title: String,
    pub partner: String,
    pub partner_sku: String,
    /// In stock and not allocated to an order.
    pub free: i64,
    pub threshold: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub today: Period,
    pub this_week: Period,
    pub this_month: Period,
    /// This month's revenue over its orders; none without orders.
    pub average_order_value: Option<Money>,
    /// The last 30 days, oldest first, days without orders included.
    pub revenue_by_day: Vec<Day>,
    /// Registered since the start of the week (not shown to partner users).
    pub new_customers: Option<i64>,
    /// Open baskets with at least one line (not shown to partner users).
    pub open_baskets: Option<i64>,
    pub low_stock: Vec<LowStock>,
    /// Orders in a status that still leads to shipping.
    pub awaiting_fulfilment: i64,
}

const LOW_STOCK_ROWS: i64 = 10;

fn ids(scope: &[i64]) -> String {
    scope
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Orders placed from `since` (`YYYY-MM-DD`) by day: (day, orders, revenue in minor units).
/// For a partner scope, the revenue of their lines only.
async fn by_day(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    currency: Currency,
    since: &str,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    let sql = match scope {
        None => "SELECT SUBSTR(o.placed_at, 1, 10) AS day, COUNT(*) AS orders, \
                 CAST(COALESCE(SUM(o.total_incl_minor), 0) AS BIGINT) AS revenue \
                 FROM shop_order o WHERE o.placed_at >= $1 AND o.currency = $2 \
                 AND o.status <> 'Cancelled' GROUP BY SUBSTR(o.placed_at, 1, 10)"
            .to_owned(),
        // Partner ids are integers read from the database.
        Some(scope) => format!(
            "SELECT SUBSTR(o.placed_at, 1, 10) AS day, COUNT(DISTINCT o.id) AS orders, \
             CAST(COALESCE(SUM(l.line_incl_minor), 0) AS BIGINT) AS revenue \
             FROM shop_order o JOIN order_line l ON l.order_id = o.id \
             JOIN stock_record sr ON sr.id = l.stock_record_id \
             WHERE o.placed_at >= $1 AND o.currency = $2 AND o.status <> 'Cancelled' \
             AND sr.partner_id IN ({}) GROUP BY SUBSTR(o.placed_at, 1, 10)",
            ids(scope)
        ),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(since)
        .bind(currency.code())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("day")?,
                r.try_get("orders")?,
                r.try_get("revenue")?,
            ))
        })
        .collect()
}

/// The summary as of `today` (UTC), in the shop's `currency`; `open_statuses` are the order
/// statuses that still lead to shipping.
pub async fn summary(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    currency: Currency,
    today: Date,
    open_statuses: &[String],
) -> Result<Summary, sqlx::Error> {
    let month_start = today.replace_day(1).unwrap_or(today);
    let week_start = today - Duration::days(i64::from(today.weekday().number_days_from_monday()));
    let chart_start = today - Duration::days(29);
    let since = month_start.min(chart_start).min(week_start);
    let days = by_day(pool, scope, currency, &since.to_string()).await?;
    let period = |from: Date| {
        let from = from.to_string();
        let (orders, minor) = days
            .iter()
            .filter(|(day, ..)| *day >= from)
            .fold((0, 0), |(o, m), (_, orders, minor)| (o + orders, m + minor));
        Period {
            orders,
            revenue: Money::from_minor(minor, currency),
        }
    };
    let this_month = period(month_start);
    let average_order_value = (this_month.orders > 0).then(|| {
        let minor = this_month.revenue.to_minor().unwrap_or(0);
        // Rounded half up to the minor unit, in integers.
        let average = (2 * minor + this_month.orders) / (2 * this_month.orders);
        Money::from_minor(average, currency)
    });
    let mut revenue_by_day = Vec::with_capacity(30);
    let mut day = chart_start;
    while day <= today {
        let key = day.to_string();
        let (orders, minor) = days
            .iter()
            .find(|(d, ..)| *d == key)
            .map(|(_, o, m)| (*o, *m))
            .unwrap_or((0, 0));
        revenue_by_day.push(Day {
            day: key,
            orders,
            revenue: Money::from_minor(minor, currency),
        });
        day += Duration::days(1);
    }
    let (new_customers, open_baskets) = if scope.is_none() {
        let week = format!("{week_start}");
        let customers: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM customer WHERE created_at >= $1")
                .bind(week)
                .fetch_one(pool)
                .await?;
        let baskets: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM basket b WHERE b.status = 'open' \
             AND EXISTS (SELECT 1 FROM basket_line l WHERE l.basket_id = b.id)",
        )
        .fetch_one(pool)
        .await?;
        (Some(customers), Some(baskets))
    } else {
        (None, None)
    };
    let partner_filter = match scope {
        None => String::new(),
        Some(scope) => format!("AND sr.partner_id IN ({})", ids(scope)),
    };
    let low_sql = format!(
        "SELECT p.id, p.title, pa.name AS partner, sr.partner_sku, \
         sr.num_in_stock - sr.num_allocated AS free, \
         COALESCE(sr.low_stock_threshold, {DEFAULT_LOW_STOCK}) AS threshold \
         FROM stock_record sr JOIN product p ON p.id = sr.product_id \
         JOIN partner pa ON pa.id = sr.partner_id \
         WHERE sr.num_in_stock - sr.num_allocated <= COALESCE(sr.low_stock_threshold, {DEFAULT_LOW_STOCK}) \
         {partner_filter} ORDER BY free, p.title LIMIT {LOW_STOCK_ROWS}"
    );
    let low_stock = sqlx::query(sqlx::AssertSqlSafe(low_sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(LowStock {
                product_id: r.try_get("id")?,
                title: r.try_get("title")?,
                partner: r.try_get("partner")?,
                partner_sku: r.try_get("partner_sku")?,
                free: r.try_get("free")?,
                threshold: r.try_get("threshold")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let awaiting_fulfilment = if open_statuses.is_empty() {
        0
    } else {
        let placeholders: Vec<String> =
            (1..=open_statuses.len()).map(|n| format!("${n}")).collect();
        let scope_sql = match scope {
            None => String::new(),
            Some(scope) => format!(
                "AND EXISTS (SELECT 1 FROM order_line l JOIN stock_record sr ON sr.id = l.stock_record_id \
                 WHERE l.order_id = o.id AND sr.partner_id IN ({}))",
                ids(scope)
            ),
        };
        let sql = format!(
            "SELECT COUNT(*) FROM shop_order o WHERE o.status IN ({}) {scope_sql}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for status in open_statuses {
            query = query.bind(status.clone());
        }
        query.fetch_one(pool).await?
    };
    Ok(Summary {
        today: period(today),
        this_week: period(week_start),
        this_month,
        average_order_value,
        revenue_by_day,
        new_customers,
        open_baskets,
        low_stock,
        awaiting_fulfilment,
    })
}
