//! The order list's filters: read from a query string (the dashboard's form, a saved filter,
//! an export job), checked field by field, and turned into one SQL condition that the list,
//! its count and the CSV export share.

use std::collections::HashMap;

use serde::Serialize;

use crate::money::{Currency, Money};

/// What the order list can be narrowed to (all optional; `Default` is every order).
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// An order number, or part of the customer's email or of the shipping address (name).
    pub query: Option<String>,
    pub status: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    pub placed_from: Option<String>,
    pub placed_to: Option<String>,
    pub customer_id: Option<i64>,
    /// A partner's code: orders with at least one of its lines.
    pub partner: Option<String>,
    pub payment: Option<PaymentState>,
    /// Order total bounds in minor units, inclusive.
    pub min_total_minor: Option<i64>,
    pub max_total_minor: Option<i64>,
}

/// Where an order's money stands, as the list filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PaymentState {
    /// No payment recorded.
    Unpaid,
    /// Authorised, nothing captured or voided yet.
    Authorised,
    /// Captured, not all refunded.
    Captured,
    /// Some money refunded.
    Refunded,
    Voided,
    /// An action still with the gateway, or whose outcome was never recorded.
    Pending,
}

impl PaymentState {
    pub const ALL: [PaymentState; 6] = [
        PaymentState::Unpaid,
        PaymentState::Authorised,
        PaymentState::Captured,
        PaymentState::Refunded,
        PaymentState::Voided,
        PaymentState::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Unpaid => "unpaid",
            PaymentState::Authorised => "authorised",
            PaymentState::Captured => "captured",
            PaymentState::Refunded => "refunded",
            PaymentState::Voided => "voided",
            PaymentState::Pending => "pending",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentState::Unpaid => "No payment",
            PaymentState::Authorised => "Authorised, not captured",
            PaymentState::Captured => "Captured",
            PaymentState::Refunded => "Refunded (part or all)",
            PaymentState::Voided => "Voided",
            PaymentState::Pending => "Needs attention (with the gateway)",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// SQL true for an order (aliased `o`) in this state.
    fn condition(self) -> &'static str {
        match self {
            PaymentState::Unpaid => {
                "NOT EXISTS (SELECT 1 FROM payment_source ps WHERE ps.order_id = o.id)"
            }
            PaymentState::Authorised => {
                "EXISTS (SELECT 1 FROM payment_source ps WHERE ps.order_id = o.id \
                 AND ps.debited_minor = 0 AND ps.voided_minor = 0)"
            }
            PaymentState::Captured => {
                "EXISTS (SELECT 1 FROM payment_source ps WHERE ps.order_id = o.id \
                 AND ps.debited_minor > ps.refunded_minor)"
            }
            PaymentState::Refunded => {
                "EXISTS (SELECT 1 FROM payment_source ps WHERE ps.order_id = o.id \
                 AND ps.refunded_minor > 0)"
            }
            PaymentState::Voided => {
                "EXISTS (SELECT 1 FROM payment_source ps WHERE ps.order_id = o.id \
                 AND ps.voided_minor > 0)"
            }
            PaymentState::Pending => {
                "EXISTS (SELECT 1 FROM payment_operation po WHERE po.order_id = o.id \
                 AND po.state = 'pending')"
            }
        }
    }
}

/// The query-string keys the filters are read from, in the form's order.
pub const KEYS: [&str; 9] = [
    "q",
    "status",
    "from",
    "to",
    "customer",
    "partner",
    "payment",
    "min_total",
    "max_total",
];

/// The filters in `query` as a query string: only the filter keys, only those given, in a
/// stable order (what a saved filter and an export keep).
pub fn canonical_query(query: &HashMap<String, String>) -> String {
    let kept: std::collections::BTreeMap<&str, &str> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.trim()))
        .filter(|(k, v)| KEYS.contains(k) && !v.is_empty())
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

fn is_date(s: &str) -> bool {
    time::Date::parse(
        s,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .is_ok()
}

impl OrderFilter {
    /// Reads the filters from query-string values (amounts in `currency`), with a problem
    /// per field that can't be used (that field is then left out).
    pub fn parse(
        query: &HashMap<String, String>,
        currency: Currency,
    ) -> (OrderFilter, Vec<(&'static str, String)>) {
        let get = |key: &str| {
            query
                .get(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let mut filter = OrderFilter {
            query: get("q"),
            status: get("status"),
            partner: get("partner"),
            ..OrderFilter::default()
        };
        if filter
            .query
            .as_ref()
            .is_some_and(|q| q.chars().count() > 200)
        {
            problems.push(("q", "Search for at most 200 characters.".to_owned()));
            filter.query = None;
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
        if let Some(v) = get("customer") {
            match v.parse::<i64>() {
                Ok(id) if id > 0 => filter.customer_id = Some(id),
                _ => problems.push(("customer", "That is not a customer number.".to_owned())),
            }
        }
        if let Some(v) = get("payment") {
            match PaymentState::parse(&v) {
                Some(p) => filter.payment = Some(p),
                None => problems.push((
                    "payment",
                    "Choose a payment state from the list.".to_owned(),
                )),
            }
        }
        for (key, slot) in [
            ("min_total", &mut filter.min_total_minor),
            ("max_total", &mut filter.max_total_minor),
        ] {
            if let Some(v) = get(key) {
                match Money::parse(v.trim_start_matches(['£', '$', '€']), currency)
                    .and_then(Money::to_minor)
                {
                    Ok(minor) if minor >= 0 => *slot = Some(minor),
                    _ => problems.push((key, "Enter an amount like 25.00.".to_owned())),
                }
            }
        }
        (filter, problems)
    }
}

/// SQL that is true for an order (aliased `o`) within `scope`. Partner ids are integers
/// read from the database, so writing them into the statement is safe.
pub(super) fn scope_condition(scope: Option<&[i64]>) -> String {
    match scope {
        None => "1 = 1".to_owned(),
        Some(partners) => {
            let ids: Vec<String> = partners.iter().map(i64::to_string).collect();
            format!(
                "EXISTS (SELECT 1 FROM order_line sl JOIN stock_record ss ON ss.id = sl.stock_record_id \
                 WHERE sl.order_id = o.id AND ss.partner_id IN ({}))",
                ids.join(", ")
            )
        }
    }
}

/// Whether a search is a whole email address (`local@domain.tld`, no spaces).
fn is_whole_email(q: &str) -> bool {
    match q.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !q.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The condition for `filter` within `scope`, and the text values it binds (`$1`, `$2`, …
/// in order). Numbers are parsed integers and are written into the statement.
pub(super) fn where_sql(scope: Option<&[i64]>, filter: &OrderFilter) -> (String, Vec<String>) {
    let mut conditions = vec![scope_condition(scope)];
    let mut binds: Vec<String> = Vec::new();
    let bind = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len())
    };
    if let Some(q) = &filter.query {
        if is_whole_email(q) {
            // A whole address is that customer's orders, read from the email index; a part
            // of one ("ada@", "example.com") is searched for anywhere below.
            let email = bind(q.to_lowercase(), &mut binds);
            conditions.push(format!("o.email = {email}"));
        } else {
            let number = bind(q.clone(), &mut binds);
            let text = bind(format!("%{}%", q.to_lowercase()), &mut binds);
            conditions.push(format!(
                "(o.number = {number} OR o.email LIKE {text} OR LOWER(o.shipping_address) LIKE {text})"
            ));
        }
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
    if let Some(customer) = filter.customer_id {
        conditions.push(format!("o.customer_id = {customer}"));
    }
    if let Some(partner) = &filter.partner {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM order_line pl JOIN stock_record psr ON psr.id = pl.stock_record_id \
             JOIN partner pp ON pp.id = psr.partner_id WHERE pl.order_id = o.id AND pp.code = {})",
            bind(partner.clone(), &mut binds)
        ));
    }
    if let Some(payment) = filter.payment {
        conditions.push(payment.condition().to_owned());
    }
    if let Some(min) = filter.min_total_minor {
        conditions.push(format!("o.total_incl_minor >= {min}"));
    }
    if let Some(max) = filter.max_total_minor {
        conditions.push(format!("o.total_incl_minor <= {max}"));
    }
    (conditions.join(" AND "), binds)
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
    fn filters_are_read_and_checked_field_by_field() {
        let gbp = Currency::from_code("GBP").unwrap();
        let (f, problems) = OrderFilter::parse(
            &query(&[
                ("q", " ada "),
                ("min_total", "£10.50"),
                ("payment", "captured"),
                ("customer", "7"),
            ]),
            gbp,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(f.query.as_deref(), Some("ada"));
        assert_eq!(f.min_total_minor, Some(1050));
        assert_eq!(f.payment, Some(PaymentState::Captured));
        assert_eq!(f.customer_id, Some(7));
        let (f, problems) = OrderFilter::parse(
            &query(&[
                ("from", "31/12/2026"),
                ("max_total", "1.234"),
                ("payment", "paid?"),
                ("customer", "x"),
            ]),
            gbp,
        );
        let fields: Vec<_> = problems.iter().map(|(k, _)| *k).collect();
        assert_eq!(fields, ["from", "customer", "payment", "max_total"]);
        assert!(f.placed_from.is_none() && f.max_total_minor.is_none() && f.payment.is_none());
    }

    #[test]
    fn the_condition_binds_text_and_writes_numbers() {
        let filter = OrderFilter {
            query: Some("Ada".into()),
            partner: Some("acme".into()),
            min_total_minor: Some(500),
            ..OrderFilter::default()
        };
        let (sql, binds) = where_sql(Some(&[3]), &filter);
        assert_eq!(binds, ["Ada", "%ada%", "acme"]);
        assert!(sql.contains("ss.partner_id IN (3)"));
        assert!(sql.contains("pp.code = $3"));
        assert!(sql.contains("o.total_incl_minor >= 500"));
    }

    #[test]
    fn a_whole_email_is_matched_exactly_and_a_part_anywhere() {
        let search = |q: &str| {
            where_sql(
                None,
                &OrderFilter {
                    query: Some(q.into()),
                    ..OrderFilter::default()
                },
            )
        };
        let (sql, binds) = search("Ada@Example.com");
        assert!(
            sql.contains("o.email = $1") && !sql.contains("LIKE"),
            "{sql}"
        );
        assert_eq!(binds, ["ada@example.com"]);
        for part in ["ada@", "@example.com", "example.com", "ada smith", "a@b"] {
            let (sql, _) = search(part);
            assert!(sql.contains("o.email LIKE"), "{part}: {sql}");
        }
    }
}
