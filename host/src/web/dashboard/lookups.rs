//! Dashboard: small JSON searches behind the searchable pickers (`static/js/dashboard.js`
//! turns the plain id inputs and selects into Tom Select pickers that ask these): products
//! (recommendations), categories, customers. Each asks for the permission its page does and
//! applies the user's partner scope (a partner user finds their own products only; customers
//! are not theirs to see at all). Answers `[{"id": 12, "text": "…"}]`, at most [`LIMIT`], never
//! cached.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::CurrentStaff;
use super::params::search_text;
use crate::app::AppState;
use crate::catalogue::manage;
use crate::staff::Permission;
use crate::web::WebError;

/// Most answers per search.
pub const LIMIT: usize = 20;

#[derive(Serialize)]
struct Choice {
    id: i64,
    text: String,
}

fn answer(choices: Vec<Choice>) -> Response {
    let mut response = Json(choices).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /dashboard/catalogue/products/lookup/?q=`: products by title or UPC.
pub(super) async fn products(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let q = search_text(&query, "q")?;
    let found = manage::search(
        &state.db.pool,
        current.staff.partner_scope(),
        &q,
        i64::try_from(LIMIT).unwrap_or(20),
    )
    .await?;
    Ok(answer(
        found
            .into_iter()
            .map(|p| Choice {
                id: p.id,
                text: match &p.upc {
                    Some(upc) if !upc.is_empty() => format!("#{} {} ({upc})", p.id, p.title),
                    _ => format!("#{} {}", p.id, p.title),
                },
            })
            .collect(),
    ))
}

/// `GET /dashboard/catalogue/categories/lookup/?q=`: categories whose name or path has `q`,
/// named with their ancestors ("Books › Fiction").
pub(super) async fn categories(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    let q = search_text(&query, "q")?.to_lowercase();
    let tree = manage::categories::tree(&state.db.pool).await?;
    let names: HashMap<i64, (&str, Option<i64>)> = tree
        .iter()
        .map(|n| (n.id, (n.name.as_str(), n.parent_id)))
        .collect();
    let label = |mut id: Option<i64>| {
        let mut parts = Vec::new();
        while let Some((name, parent)) = id.and_then(|i| names.get(&i)) {
            parts.push(*name);
            id = *parent;
        }
        parts.reverse();
        parts.join(" › ")
    };
    Ok(answer(
        tree.iter()
            .map(|n| Choice {
                id: n.id,
                text: label(Some(n.id)),
            })
            .filter(|c| q.is_empty() || c.text.to_lowercase().contains(&q))
            .take(LIMIT)
            .collect(),
    ))
}

/// `GET /dashboard/customers/lookup/?q=`: customers by email.
pub(super) async fn customers(
    State(state): State<AppState>,
    current: CurrentStaff,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCustomers)?;
    let q = search_text(&query, "q")?;
    let page_size = u32::try_from(LIMIT).unwrap_or(20);
    let (found, _) = crate::customer::manage::search(&state.db.pool, &q, 1, page_size).await?;
    Ok(answer(
        found
            .into_iter()
            .map(|c| Choice {
                id: c.id,
                text: format!("#{} {}", c.id, c.email),
            })
            .collect(),
    ))
}
