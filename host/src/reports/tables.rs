//! The dashboard's reports (Oscar's reports app) over a date range: orders placed per day,
//! product analytics (views, basket additions, purchases, conversion), customers, open and
//! submitted baskets, and search terms. Each report is a table (shown on screen, first rows
//! only, and written whole as CSV), a few headline figures and a daily series for a chart.
//!
//! The counters come from the analytics tables the recorder fills (see `crate::analytics`);
//! orders, customers and baskets are read from their own tables. Money is summed as integer
//! minor units in SQL and comes back as [`Money`]; the conversion rate is computed in
//! integers (basis points). A partner user sees only the orders and product reports, limited
//! to their own lines and products in the SQL; the others (customers, baskets, searches)
//! are about the whole shop and are refused them.
//!
//! Offers and vouchers do not exist yet: there is no offer report.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{AnyPool, Row};
use time::{Date, Duration};

use crate::catalogue::manage::scope_condition;
use crate::money::{Currency, Money};

/// The longest range a report covers (a little over ten years).
const MAX_DAYS: i64 = 3700;
/// Default range: the last 30 days.
const DEFAULT_DAYS: i64 = 29;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    Orders,
    Products,
    Customers,
    Baskets,
    Searches,
}

impl Report {
    pub const ALL: [Report; 5] = [
        Report::Orders,
        Report::Products,
        Report::Customers,
        Report::Baskets,
        Report::Searches,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Report::Orders => "orders",
            Report::Products => "products",
            Report::Customers => "customers",
            Report::Baskets => "baskets",
            Report::Searches => "searches",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Report::Orders => "Orders placed",
            Report::Products => "Product analytics",
            Report::Customers => "Customers",
            Report::Baskets => "Open and submitted baskets",
            Report::Searches => "Search terms",
        }
    }

    pub fn parse(s: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.slug() == s)
    }

    /// Whether a user with `scope` may run it: a partner user only the reports about their
    /// own lines and products.
    pub fn allowed(self, scope: Option<&[i64]>) -> bool {
        scope.is_none() || matches!(self, Report::Orders | Report::Products)
    }

    /// What its chart shows.
    fn series_title(self) -> &'static str {
        match self {
            Report::Orders => "Revenue per day",
            Report::Products => "Product views per day",
            Report::Customers => "Registrations per day",
            Report::Baskets => "Baskets started per day",
            Report::Searches => "Searches per day",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Report::Orders => ORDERS_COLUMNS,
            Report::Products => PRODUCTS_COLUMNS,
            Report::Customers => CUSTOMERS_COLUMNS,
            Report::Baskets => BASKETS_COLUMNS,
            Report::Searches => SEARCHES_COLUMNS,
        }
    }
}

const fn c(label: &'static str, numeric: bool) -> Column {
    Column { label, numeric }
}

const ORDERS_COLUMNS: &[Column] = &[
    c("Day", false),
    c("Orders", true),
    c("Revenue", true),
    c("Average order", true),
];
const PRODUCTS_COLUMNS: &[Column] = &[
    c("Product", false),
    c("UPC", false),
    c("Views", true),
    c("Basket additions", true),
    c("Units bought", true),
    c("Conversion", true),
];
const CUSTOMERS_COLUMNS: &[Column] = &[
    c("Customer", false),
    c("Registered", false),
    c("Orders", true),
    c("Spent", true),
    c("Product views", true),
    c("Basket additions", true),
];
const BASKETS_COLUMNS: &[Column] = &[
    c("Basket", true),
    c("Status", false),
    c("Customer", false),
    c("Lines", true),
    c("Units", true),
    c("Started", false),
    c("Last changed", false),
    c("Order", false),
];
const SEARCHES_COLUMNS: &[Column] = &[
    c("Search", false),
    c("Searches", true),
    c("Without results", true),
    c("Results last time", true),
    c("Last searched", false),
];

/// How the product report is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductSort {
    Views,
    BasketAdditions,
    Purchases,
    Conversion,
}

impl ProductSort {
    pub const ALL: [ProductSort; 4] = [
        ProductSort::Views,
        ProductSort::BasketAdditions,
        ProductSort::Purchases,
        ProductSort::Conversion,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProductSort::Views => "views",
            ProductSort::BasketAdditions => "basket_additions",
            ProductSort::Purchases => "purchases",
            ProductSort::Conversion => "conversion",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ProductSort::Views => "Most viewed",
            ProductSort::BasketAdditions => "Most added to baskets",
            ProductSort::Purchases => "Most bought",
            ProductSort::Conversion => "Best conversion",
        }
    }

    /// An output column of the product query (never user text).
    fn order_by(self) -> &'static str {
        match self {
            ProductSort::Views => "views DESC, purchases DESC",
            ProductSort::BasketAdditions => "additions DESC, views DESC",
            ProductSort::Purchases => "purchases DESC, views DESC",
            ProductSort::Conversion => "conversion DESC, purchases DESC",
        }
    }
}

/// A report asked for: which, over which days (both included, UTC), in which order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub report: Report,
    pub from: Date,
    pub to: Date,
    pub sort: ProductSort,
}

/// The query keys [`Params::parse`] reads.
pub const KEYS: [&str; 4] = ["report", "from", "to", "sort"];

fn parse_day(s: &str) -> Option<Date> {
    Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

impl Params {
    /// The last 30 days' orders.
    pub fn default_for(today: Date) -> Params {
        Params {
            report: Report::Orders,
            from: today - Duration::days(DEFAULT_DAYS),
            to: today,
            sort: ProductSort::Views,
        }
    }

    /// Reads a report form (the page's query). Problems come back by field, with the
    /// parameters as far as they could be read (defaults for the rest).
    pub fn parse(
        query: &HashMap<String, String>,
        today: Date,
    ) -> (Params, HashMap<&'static str, String>) {
        let mut params = Params::default_for(today);
        let mut problems = HashMap::new();
        let given = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(r) = given("report") {
            match Report::parse(r) {
                Some(r) => params.report = r,
                None => {
                    problems.insert("report", "Choose one of the reports.".to_owned());
                }
            }
        }
        if let Some(s) = given("sort") {
            match ProductSort::ALL.into_iter().find(|o| o.slug() == s) {
                Some(s) => params.sort = s,
                None => {
                    problems.insert("sort", "Choose one of the orders.".to_owned());
                }
            }
        }
        for (key, slot) in [("from", &mut params.from), ("to", &mut params.to)] {
            if let Some(v) = given(key) {
                match parse_day(v) {
                    Some(d) => *slot = d,
                    None => {
                        problems.insert(key, "Enter a date as YYYY-MM-DD.".to_owned());
                    }
                }
            }
        }
        if !problems.contains_key("from") && !problems.contains_key("to") {
            if params.to < params.from {
                problems.insert("to", "The end comes before the start.".to_owned());
            } else if (params.to - params.from).whole_days() > MAX_DAYS {
                problems.insert("to", "A report covers ten years at most.".to_owned());
            }
        }
        (params, problems)
    }

    /// The parameters as a query string, in a fixed order (for links, jobs and the audit).
    pub fn query(&self) -> String {
        let mut pairs = vec![
            ("report", self.report.slug().to_owned()),
            ("from", self.from.to_string()),
            ("to", self.to.to_string()),
        ];
        if self.report == Report::Products {
            pairs.push(("sort", self.sort.slug().to_owned()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// `placed_at >= since AND placed_at < until` covers the range: timestamps are RFC 3339
    /// text, so a day compares below every time of the day after it.
    fn since(&self) -> String {
        self.from.to_string()
    }

    fn until(&self) -> String {
        (self.to + Duration::days(1)).to_string()
    }

    fn days(&self) -> Vec<Date> {
        let mut out = Vec::new();
        let mut day = self.from;
        while day <= self.to {
            out.push(day);
            day += Duration::days(1);
        }
        out
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Column {
    pub label: &'static str,
    pub numeric: bool,
}

/// One value of a report row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Count(i64),
    Money(Money),
    /// A ratio in basis points (1/100 of a percent); none when its denominator is zero.
    Ratio(Option<i64>),
}

impl Cell {
    /// As the page shows it.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Money(m) => m.display(),
            Cell::Ratio(Some(bp)) => format!("{}.{:02} %", bp / 100, bp % 100),
            Cell::Ratio(None) => "–".to_owned(),
        }
    }

    /// As a CSV cell: plain numbers a spreadsheet reads (amounts without a symbol, ratios
    /// as a percentage).
    pub fn csv(&self) -> String {
        match self {
            Cell::Text(t) => t.clone(),
            Cell::Count(n) => n.to_string(),
            Cell::Money(m) => m.amount().to_string(),
            Cell::Ratio(Some(bp)) => format!("{}.{:02}", bp / 100, bp % 100),
            Cell::Ratio(None) => String::new(),
        }
    }
}

/// `part` per `whole` in basis points, in integers (none of nothing).
pub fn basis_points(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| part.saturating_mul(10_000) / whole)
}

/// A headline figure of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub label: &'static str,
    pub value: String,
}

/// A day of the report's chart.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// What the bar's height is drawn from (minor units for money).
    pub value: i64,
    /// The value as the tooltip shows it.
    pub shown: String,
}

/// The daily series of a report, every day of the range included.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub title: &'static str,
    pub points: Vec<Point>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("this report is not available to partner users")]
    NotAllowed,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn check(params: &Params, scope: Option<&[i64]>) -> Result<(), ReportError> {
    if params.report.allowed(scope) {
        Ok(())
    } else {
        Err(ReportError::NotAllowed)
    }
}

/// Partner ids are integers read from the database, so they are formatted, not bound.
fn ids(scope: &[i64]) -> String {
    if scope.is_empty() {
        return "NULL".to_owned();
    }
    scope
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Orders and revenue (minor units) per placed day in the range; for a partner scope, the
/// orders with their lines and the revenue of those lines only.
async fn orders_by_day(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    currency: Currency,
    params: &Params,
) -> Result<HashMap<String, (i64, i64)>, sqlx::Error> {
    let sql = match scope {
        None => "SELECT SUBSTR(o.placed_at, 1, 10) AS day, COUNT(*) AS orders, \
                 CAST(COALESCE(SUM(o.total_incl_minor), 0) AS BIGINT) AS revenue \
                 FROM shop_order o WHERE o.placed_at >= $1 AND o.placed_at < $2 \
                 AND o.currency = $3 AND o.status <> 'Cancelled' \
                 GROUP BY SUBSTR(o.placed_at, 1, 10)"
            .to_owned(),
        Some(scope) => format!(
            "SELECT SUBSTR(o.placed_at, 1, 10) AS day, COUNT(DISTINCT o.id) AS orders, \
             CAST(COALESCE(SUM(l.line_incl_minor), 0) AS BIGINT) AS revenue \
             FROM shop_order o JOIN order_line l ON l.order_id = o.id \
             JOIN stock_record sr ON sr.id = l.stock_record_id \
             WHERE o.placed_at >= $1 AND o.placed_at < $2 AND o.currency = $3 \
             AND o.status <> 'Cancelled' AND sr.partner_id IN ({}) \
             GROUP BY SUBSTR(o.placed_at, 1, 10)",
            ids(scope)
        ),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(params.since())
        .bind(params.until())
        .bind(currency.code())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("day")?,
                (r.try_get("orders")?, r.try_get("revenue")?),
            ))
        })
        .collect()
}

/// A count per day (`day` column, `n` column) filled in for every day of the range.
async fn daily(
    pool: &AnyPool,
    sql: String,
    params: &Params,
) -> Result<HashMap<String, i64>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(params.since())
        .bind(params.until())
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>("day")?, r.try_get::<i64, _>("n")?)))
        .collect()
}

fn fill(params: &Params, by_day: &HashMap<String, i64>) -> Vec<Point> {
    params
        .days()
        .into_iter()
        .map(|d| {
            let day = d.to_string();
            let value = by_day.get(&day).copied().unwrap_or(0);
            Point {
                shown: value.to_string(),
                day,
                value,
            }
        })
        .collect()
}

/// The product analytics rows' query: days are `YYYY-MM-DD` text, so `day >= $1 AND day < $2`
/// with [`Params::since`] and [`Params::until`] covers the range.
fn products_sql(scope: Option<&[i64]>, tail: &str) -> String {
    format!(
        "SELECT p.id, p.title, COALESCE(p.upc, '') AS upc, \
         CAST(SUM(a.num_views) AS BIGINT) AS views, \
         CAST(SUM(a.num_basket_additions) AS BIGINT) AS additions, \
         CAST(SUM(a.num_purchases) AS BIGINT) AS purchases, \
         CASE WHEN SUM(a.num_views) = 0 THEN -1 ELSE \
         CAST(SUM(a.num_purchases) AS BIGINT) * 10000 / CAST(SUM(a.num_views) AS BIGINT) END \
         AS conversion \
         FROM analytics_product_day a JOIN product p ON p.id = a.product_id \
         WHERE a.day >= $1 AND a.day < $2 AND {} \
         GROUP BY p.id, p.title, p.upc {tail}",
        scope_condition(scope, "p")
    )
}

/// How many rows the report has.
pub async fn count(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    params: &Params,
) -> Result<i64, ReportError> {
    check(params, scope)?;
    let sql = match params.report {
        Report::Orders => return Ok(i64::try_from(params.days().len()).unwrap_or(0)),
        Report::Products => format!("SELECT COUNT(*) FROM ({}) t", products_sql(scope, "")),
        Report::Customers => "SELECT COUNT(DISTINCT o.customer_id) FROM shop_order o \
             WHERE o.customer_id IS NOT NULL AND o.placed_at >= $1 AND o.placed_at < $2 \
             AND o.status <> 'Cancelled'"
            .to_owned(),
        Report::Baskets => format!("SELECT COUNT(*) FROM basket b WHERE {BASKETS_WHERE}"),
        Report::Searches => "SELECT COUNT(DISTINCT s.query) FROM analytics_search_day s \
             WHERE s.day >= $1 AND s.day < $2"
            .to_owned(),
    };
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(params.since())
        .bind(params.until())
        .fetch_one(pool)
        .await?)
}

/// Baskets started in the range that are still open with something in them, or were
/// ordered.
const BASKETS_WHERE: &str = "b.created_at >= $1 AND b.created_at < $2 AND (b.status = 'submitted' \
     OR (b.status = 'open' AND EXISTS (SELECT 1 FROM basket_line bl WHERE bl.basket_id = b.id)))";

/// Rows `offset ..` (at most `limit`) of the report.
pub async fn rows(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    currency: Currency,
    params: &Params,
    limit: i64,
    offset: i64,
) -> Result<Vec<Vec<Cell>>, ReportError> {
    check(params, scope)?;
    let (limit, offset) = (limit.max(0), offset.max(0));
    let page = format!("LIMIT {limit} OFFSET {offset}");
    let money = |minor: i64| Cell::Money(Money::from_minor(minor, currency));
    let rows = match params.report {
        Report::Orders => {
            let by_day = orders_by_day(pool, scope, currency, params).await?;
            return Ok(params
                .days()
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(0))
                .map(|d| {
                    let day = d.to_string();
                    let (orders, minor) = by_day.get(&day).copied().unwrap_or((0, 0));
                    // Rounded half up to the minor unit, in integers.
                    let average = (orders > 0).then(|| (2 * minor + orders) / (2 * orders));
                    vec![
                        Cell::Text(day),
                        Cell::Count(orders),
                        money(minor),
                        average.map_or(Cell::Text(String::new()), money),
                    ]
                })
                .collect());
        }
        Report::Products => {
            let sql = products_sql(
                scope,
                &format!("ORDER BY {}, p.id {page}", params.sort.order_by()),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(params.since())
                .bind(params.until())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    let conversion: i64 = r.try_get("conversion")?;
                    Ok(vec![
                        Cell::Text(r.try_get("title")?),
                        Cell::Text(r.try_get("upc")?),
                        Cell::Count(r.try_get("views")?),
                        Cell::Count(r.try_get("additions")?),
                        Cell::Count(r.try_get("purchases")?),
                        Cell::Ratio((conversion >= 0).then_some(conversion)),
                    ])
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
        Report::Customers => {
            let sql = format!(
                "SELECT c.id, c.email, SUBSTR(c.created_at, 1, 10) AS registered, \
                 COUNT(o.id) AS orders, CAST(COALESCE(SUM(o.total_incl_minor), 0) AS BIGINT) AS spent, \
                 COALESCE(MAX(ac.num_product_views), 0) AS views, \
                 COALESCE(MAX(ac.num_basket_additions), 0) AS additions \
                 FROM customer c JOIN shop_order o ON o.customer_id = c.id \
                 LEFT JOIN analytics_customer ac ON ac.customer_id = c.id \
                 WHERE o.placed_at >= $1 AND o.placed_at < $2 AND o.currency = $3 \
                 AND o.status <> 'Cancelled' \
                 GROUP BY c.id, c.email, c.created_at ORDER BY spent DESC, orders DESC, c.id {page}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(params.since())
                .bind(params.until())
                .bind(currency.code())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(vec![
                        Cell::Text(r.try_get("email")?),
                        Cell::Text(r.try_get("registered")?),
                        Cell::Count(r.try_get("orders")?),
                        money(r.try_get("spent")?),
                        Cell::Count(r.try_get("views")?),
                        Cell::Count(r.try_get("additions")?),
                    ])
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
        Report::Baskets => {
            let sql = format!(
                "SELECT b.id, b.status, COALESCE(c.email, o.email, '') AS owner, \
                 SUBSTR(b.created_at, 1, 16) AS started, SUBSTR(b.updated_at, 1, 16) AS changed, \
                 (SELECT COUNT(*) FROM basket_line l WHERE l.basket_id = b.id) AS lines, \
                 (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM basket_line l \
                  WHERE l.basket_id = b.id) AS units, COALESCE(o.number, '') AS number \
                 FROM basket b LEFT JOIN customer c ON c.id = b.owner_id \
                 LEFT JOIN shop_order o ON o.basket_id = b.id \
                 WHERE {BASKETS_WHERE} ORDER BY b.created_at DESC, b.id DESC {page}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(params.since())
                .bind(params.until())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    let owner: String = r.try_get("owner")?;
                    Ok(vec![
                        Cell::Count(r.try_get("id")?),
                        Cell::Text(r.try_get("status")?),
                        Cell::Text(if owner.is_empty() {
                            "(a visitor)".to_owned()
                        } else {
                            owner
                        }),
                        Cell::Count(r.try_get("lines")?),
                        Cell::Count(r.try_get("units")?),
                        Cell::Text(r.try_get::<String, _>("started")?.replace('T', " ")),
                        Cell::Text(r.try_get::<String, _>("changed")?.replace('T', " ")),
                        Cell::Text(r.try_get("number")?),
                    ])
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
        Report::Searches => {
            let sql = format!(
                "SELECT s.query, CAST(SUM(s.num_searches) AS BIGINT) AS searches, \
                 CAST(SUM(s.num_zero_results) AS BIGINT) AS zero, \
                 MAX(s.last_searched_at) AS last_at, \
                 (SELECT l.last_results FROM analytics_search_day l WHERE l.query = s.query \
                  AND l.day >= $1 AND l.day < $2 ORDER BY l.last_searched_at DESC LIMIT 1) \
                 AS last_results \
                 FROM analytics_search_day s WHERE s.day >= $1 AND s.day < $2 \
                 GROUP BY s.query ORDER BY searches DESC, s.query {page}"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(params.since())
                .bind(params.until())
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| {
                    Ok(vec![
                        Cell::Text(r.try_get("query")?),
                        Cell::Count(r.try_get("searches")?),
                        Cell::Count(r.try_get("zero")?),
                        Cell::Count(r.try_get("last_results")?),
                        Cell::Text(
                            r.try_get::<String, _>("last_at")?
                                .replace('T', " ")
                                .trim_end_matches('Z')
                                .to_owned(),
                        ),
                    ])
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
    };
    Ok(rows)
}

/// The report's headline figures and its daily series.
pub async fn overview(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    currency: Currency,
    params: &Params,
) -> Result<(Vec<Figure>, Series), ReportError> {
    check(params, scope)?;
    let figure = |label, value: String| Figure { label, value };
    let (figures, points) = match params.report {
        Report::Orders => {
            let by_day = orders_by_day(pool, scope, currency, params).await?;
            let (orders, minor) = by_day
                .values()
                .fold((0, 0), |(o, m), (orders, minor)| (o + orders, m + minor));
            let points = params
                .days()
                .into_iter()
                .map(|d| {
                    let day = d.to_string();
                    let (orders, minor) = by_day.get(&day).copied().unwrap_or((0, 0));
                    let n = if orders == 1 { "order" } else { "orders" };
                    Point {
                        shown: format!(
                            "{} ({orders} {n})",
                            Money::from_minor(minor, currency).display()
                        ),
                        day,
                        value: minor,
                    }
                })
                .collect();
            (
                vec![
                    figure("Orders", orders.to_string()),
                    figure("Revenue", Money::from_minor(minor, currency).display()),
                ],
                points,
            )
        }
        Report::Products => {
            let sql = format!(
                "SELECT CAST(COALESCE(SUM(a.num_views), 0) AS BIGINT) AS views, \
                 CAST(COALESCE(SUM(a.num_basket_additions), 0) AS BIGINT) AS additions, \
                 CAST(COALESCE(SUM(a.num_purchases), 0) AS BIGINT) AS purchases \
                 FROM analytics_product_day a JOIN product p ON p.id = a.product_id \
                 WHERE a.day >= $1 AND a.day < $2 AND {}",
                scope_condition(scope, "p")
            );
            let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(params.since())
                .bind(params.until())
                .fetch_one(pool)
                .await?;
            let (views, additions, purchases): (i64, i64, i64) = (
                r.try_get("views")?,
                r.try_get("additions")?,
                r.try_get("purchases")?,
            );
            let by_day = daily(
                pool,
                format!(
                    "SELECT a.day, CAST(SUM(a.num_views) AS BIGINT) AS n \
                     FROM analytics_product_day a JOIN product p ON p.id = a.product_id \
                     WHERE a.day >= $1 AND a.day < $2 AND {} GROUP BY a.day",
                    scope_condition(scope, "p")
                ),
                params,
            )
            .await?;
            (
                vec![
                    figure("Views", views.to_string()),
                    figure("Basket additions", additions.to_string()),
                    figure("Units bought", purchases.to_string()),
                    figure(
                        "Conversion",
                        Cell::Ratio(basis_points(purchases, views)).display(),
                    ),
                ],
                fill(params, &by_day),
            )
        }
        Report::Customers => {
            let by_day = daily(
                pool,
                "SELECT SUBSTR(c.created_at, 1, 10) AS day, COUNT(*) AS n FROM customer c \
                 WHERE c.created_at >= $1 AND c.created_at < $2 \
                 GROUP BY SUBSTR(c.created_at, 1, 10)"
                    .to_owned(),
                params,
            )
            .await?;
            let registered: i64 = by_day.values().sum();
            let r = sqlx::query(
                "SELECT COUNT(DISTINCT o.customer_id) AS customers, COUNT(o.id) AS orders \
                 FROM shop_order o WHERE o.customer_id IS NOT NULL AND o.placed_at >= $1 \
                 AND o.placed_at < $2 AND o.status <> 'Cancelled'",
            )
            .bind(params.since())
            .bind(params.until())
            .fetch_one(pool)
            .await?;
            let (customers, orders): (i64, i64) = (r.try_get("customers")?, r.try_get("orders")?);
            // Orders per ordering customer with two decimals, in integers.
            let per = (customers > 0).then(|| orders * 100 / customers);
            (
                vec![
                    figure("Registrations", registered.to_string()),
                    figure("Customers who ordered", customers.to_string()),
                    figure(
                        "Orders per customer",
                        per.map_or("–".to_owned(), |p| format!("{}.{:02}", p / 100, p % 100)),
                    ),
                ],
                fill(params, &by_day),
            )
        }
        Report::Baskets => {
            let by_day = daily(
                pool,
                format!(
                    "SELECT SUBSTR(b.created_at, 1, 10) AS day, COUNT(*) AS n FROM basket b \
                     WHERE {BASKETS_WHERE} GROUP BY SUBSTR(b.created_at, 1, 10)"
                ),
                params,
            )
            .await?;
            let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(CASE WHEN b.status = 'open' THEN 1 ELSE 0 END), 0) AS BIGINT) AS open, \
                 CAST(COALESCE(SUM(CASE WHEN b.status = 'submitted' THEN 1 ELSE 0 END), 0) AS BIGINT) AS submitted \
                 FROM basket b WHERE {BASKETS_WHERE}"
            )))
            .bind(params.since())
            .bind(params.until())
            .fetch_one(pool)
            .await?;
            (
                vec![
                    figure("Open", r.try_get::<i64, _>("open")?.to_string()),
                    figure("Submitted", r.try_get::<i64, _>("submitted")?.to_string()),
                ],
                fill(params, &by_day),
            )
        }
        Report::Searches => {
            let by_day = daily(
                pool,
                "SELECT s.day, CAST(SUM(s.num_searches) AS BIGINT) AS n FROM analytics_search_day s \
                 WHERE s.day >= $1 AND s.day < $2 GROUP BY s.day"
                    .to_owned(),
                params,
            )
            .await?;
            let zero: i64 = sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(s.num_zero_results), 0) AS BIGINT) \
                 FROM analytics_search_day s WHERE s.day >= $1 AND s.day < $2",
            )
            .bind(params.since())
            .bind(params.until())
            .fetch_one(pool)
            .await?;
            (
                vec![
                    figure("Searches", by_day.values().sum::<i64>().to_string()),
                    figure("Without results", zero.to_string()),
                ],
                fill(params, &by_day),
            )
        }
    };
    Ok((
        figures,
        Series {
            title: params.report.series_title(),
            points,
        },
    ))
}

/// The header row of the report's CSV.
pub fn header(report: Report) -> Vec<&'static str> {
    report.columns().iter().map(|c| c.label).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ranges_are_checked() {
        let today = time::macros::date!(2026 - 03 - 15);
        let (p, problems) = Params::parse(&q(&[]), today);
        assert!(problems.is_empty());
        assert_eq!((p.from, p.to), (time::macros::date!(2026 - 02 - 14), today));
        let (_, problems) = Params::parse(&q(&[("from", "2026-13-01"), ("to", "x")]), today);
        assert!(problems.contains_key("from") && problems.contains_key("to"));
        let (_, problems) =
            Params::parse(&q(&[("from", "2026-03-02"), ("to", "2026-03-01")]), today);
        assert_eq!(problems["to"], "The end comes before the start.");
        let (p, problems) = Params::parse(
            &q(&[
                ("report", "products"),
                ("sort", "conversion"),
                ("from", "2026-03-01"),
                ("to", "2026-03-01"),
            ]),
            today,
        );
        assert!(problems.is_empty());
        assert_eq!(
            p.query(),
            "report=products&from=2026-03-01&to=2026-03-01&sort=conversion"
        );
        assert_eq!(p.until(), "2026-03-02");
        let (_, problems) = Params::parse(&q(&[("report", "offers")]), today);
        assert!(problems.contains_key("report"));
    }

    #[test]
    fn ratios_are_integers() {
        assert_eq!(basis_points(1, 3), Some(3333));
        assert_eq!(Cell::Ratio(basis_points(1, 3)).display(), "33.33 %");
        assert_eq!(Cell::Ratio(basis_points(0, 0)).display(), "–");
        assert_eq!(Cell::Ratio(Some(25_000)).csv(), "250.00");
    }

    #[test]
    fn partners_see_their_own_reports_only() {
        assert!(Report::Products.allowed(Some(&[1])));
        assert!(!Report::Customers.allowed(Some(&[1])));
        assert!(Report::ALL.iter().all(|r| r.allowed(None)));
    }
}
