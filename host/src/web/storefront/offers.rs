//! The offers pages: every site offer running now, and one offer with its products. Not
//! kept in the page cache: an offer starts, ends or is suspended without a catalogue change.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::Response;

use super::cards;
use super::listing::{listing_params, pagination};
use super::render;
use crate::app::AppState;
use crate::catalogue::{self, SortKey};
use crate::infra::db::now_text;
use crate::offer::browse;
use crate::session::Session;
use crate::web::WebError;

pub(super) async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let offers = browse::open_offers(&state.db.pool, state.currency, &now_text()).await?;
    render(
        &state,
        &session,
        &uri,
        "offers/list.html",
        minijinja::context! { offers => offers },
    )
    .await
}

pub(super) async fn detail(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let params = listing_params(&query, SortKey::Featured)?;
    let offer = browse::by_slug(&state.db.pool, state.currency, &slug, &now_text())
        .await?
        .ok_or(WebError::NotFound)?;
    let size = state.config.page_size;
    let (rows, total) = match offer.range_id {
        Some(range) => {
            let offset = i64::from(params.page - 1) * i64::from(size);
            let (ids, total) =
                browse::products(&state.db.pool, range, i64::from(size), offset).await?;
            (
                catalogue::listing_rows_by_id(&state.db.pool, &ids).await?,
                total,
            )
        }
        None => (Vec::new(), 0),
    };
    if rows.is_empty() && params.page > 1 {
        return Err(WebError::NotFound);
    }
    let base = format!("{}?", offer.url);
    let page = minijinja::context! {
        pagination => pagination(&base, params.page, total, size),
        products => cards::cards(&state, &rows).await?,
        total => total,
        offer => offer,
    };
    render(&state, &session, &uri, "offers/detail.html", page).await
}
