//! Global search from every dashboard page: orders (number, email), customers (email) and
//! products (title, UPC), each within what the user may see.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;

use super::params::search_text;
use super::{CUSTOMERS_URL, CurrentStaff, ORDERS_URL, STOCK_URL, render};
use crate::app::AppState;
use crate::order::manage::OrderFilter;
use crate::staff::Permission;
use crate::web::WebError;

/// Hits shown per kind; the section's own page has the rest.
const PER_KIND: u32 = 10;

pub(super) async fn show(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewDashboard)?;
    let q = search_text(&query, "q")?;
    let scope = current.staff.partner_scope();
    let pool = &state.db.pool;
    let searching = !q.is_empty();
    let orders = if searching && current.staff.can(Permission::ViewOrders) {
        let filter = OrderFilter {
            query: Some(q.clone()),
            ..OrderFilter::default()
        };
        let (found, _) = crate::order::manage::search(pool, scope, &filter, 1, PER_KIND).await?;
        found
            .into_iter()
            .map(|o| minijinja::context! { url => format!("{ORDERS_URL}{}/", o.number), ..minijinja::Value::from_serialize(&o) })
            .collect()
    } else {
        Vec::new()
    };
    let customers = if searching && current.staff.can(Permission::ViewCustomers) {
        let (found, _) = crate::customer::manage::search(pool, &q, 1, PER_KIND).await?;
        found
            .into_iter()
            .map(|c| minijinja::context! { url => format!("{CUSTOMERS_URL}{}/", c.id), ..minijinja::Value::from_serialize(&c) })
            .collect()
    } else {
        Vec::new()
    };
    let products = if searching && current.staff.can(Permission::ViewCatalogue) {
        crate::catalogue::manage::search(pool, scope, &q, i64::from(PER_KIND))
            .await?
            .into_iter()
            .map(|p| {
                let stock = format!(
                    "{STOCK_URL}?q={}",
                    percent_encoding::utf8_percent_encode(
                        &p.title,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                minijinja::context! { stock_url => stock, ..minijinja::Value::from_serialize(&p) }
            })
            .collect()
    } else {
        Vec::new()
    };
    let ctx = minijinja::context! {
        q => q,
        searching => searching,
        orders => orders,
        customers => customers,
        products => products,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/search.html",
        StatusCode::OK,
        ctx,
    )
}
