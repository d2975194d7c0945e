//! Catalogue pages: home, category browse, product detail and search. The shared part of each
//! page is built once per cache generation ([`cached`]); the visitor's parts are added by
//! [`render`].

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::Value;
use serde::Serialize;

use super::cards::{self, Card, MoneyView};
use super::listing::{breadcrumbs, encode, listing_params, pagination, sort_options};
use super::{basket, cached, category_tree, recorded, render, reviews, wishlists};
use crate::analytics::Event;
use crate::app::AppState;
use crate::catalogue::{self, ListingFilter, SortKey, Structure, product_url};
use crate::pricing::Availability;
use crate::session::Session;
use crate::web::WebError;

/// Search terms beyond this many characters are refused rather than scanned.
const MAX_QUERY_CHARS: usize = 200;
const MAX_SEARCH_TERMS: usize = 8;
const HOME_SHELF: i64 = 8;

pub(super) async fn home(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
) -> Result<Response, WebError> {
    let tree = category_tree(&state).await?;
    let page = cached(&state, "home".into(), || async {
        let pool = &state.db.pool;
        let (featured, _) =
            catalogue::list_products(pool, ListingFilter::All, SortKey::Featured, HOME_SHELF, 0)
                .await?;
        let (newest, _) =
            catalogue::list_products(pool, ListingFilter::All, SortKey::Newest, HOME_SHELF, 0)
                .await?;
        let mut categories = Vec::new();
        for root in tree.roots() {
            let (_, count) = catalogue::list_products(
                pool,
                ListingFilter::Category(root),
                SortKey::Featured,
                0,
                0,
            )
            .await?;
            categories.push(minijinja::context! {
                name => root.name.clone(),
                url => root.url(),
                description => root.description.clone(),
                product_count => count,
            });
        }
        Ok(minijinja::context! {
            featured => cards::cards(&state, &featured).await?,
            new_arrivals => cards::cards(&state, &newest).await?,
            categories => categories,
        })
    })
    .await?;
    render(&state, &session, &uri, "home.html", page).await
}

pub(super) async fn category(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(path): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let Some(full_slug) = path.strip_suffix('/') else {
        return Ok(Redirect::permanent(&format!("/catalogue/category/{path}/")).into_response());
    };
    let tree = category_tree(&state).await?;
    let category = tree.by_full_slug(full_slug).ok_or(WebError::NotFound)?;
    let params = listing_params(&query, SortKey::Featured)?;
    let key = format!(
        "cat:{}:{}:{}",
        category.id,
        params.sort.as_str(),
        params.page
    );
    let page = cached(&state, key, || async {
        let size = state.config.page_size;
        let offset = i64::from(params.page - 1) * i64::from(size);
        let (rows, total) = catalogue::list_products(
            &state.db.pool,
            ListingFilter::Category(category),
            params.sort,
            i64::from(size),
            offset,
        )
        .await?;
        if rows.is_empty() && params.page > 1 {
            return Err(WebError::NotFound);
        }
        let url = category.url();
        let sort = params.sort;
        let base = if sort == SortKey::Featured {
            format!("{url}?")
        } else {
            format!("{url}?sort={}&", sort.as_str())
        };
        let image =
            crate::catalogue::category_images::find(&state.db.pool, category.id).await?;
        Ok(minijinja::context! {
            category => minijinja::context! {
                name => category.name.clone(),
                description => category.description.clone(),
                image => image,
                url => url.clone(),
                breadcrumbs => breadcrumbs(&tree, category),
                children => tree.children(category).map(|c| minijinja::context! { name => c.name.clone(), url => c.url() }).collect::<Vec<_>>(),
            },
            products => cards::cards(&state, &rows).await?,
            pagination => pagination(&base, params.page, total, size),
            sort => sort_options(|k| if k == SortKey::Featured { url.clone() } else { format!("{url}?sort={}", k.as_str()) }, sort),
            total => total,
        })
    })
    .await?;
    render(&state, &session, &uri, "catalogue/category.html", page).await
}

/// `/catalogue/<slug>_<id>/` → the id; anything else is not a product address.
pub(super) fn parse_slug_id(slug_id: &str) -> Option<(&str, i64)> {
    let (slug, id) = slug_id.rsplit_once('_')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    Some((slug, id))
}

pub(super) async fn product_without_slash(
    Path(slug_id): Path<String>,
) -> Result<Response, WebError> {
    let (slug, id) = parse_slug_id(&slug_id).ok_or(WebError::NotFound)?;
    Ok(Redirect::permanent(&product_url(slug, id)).into_response())
}

#[derive(Serialize)]
struct VariantView {
    id: i64,
    title: String,
    url: String,
    sku: Option<String>,
    summary: String,
    price: Option<MoneyView>,
    availability: Availability,
    selected: bool,
}

pub(super) async fn product(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Path(slug_id): Path<String>,
) -> Result<Response, WebError> {
    let (slug, id) = parse_slug_id(&slug_id).ok_or(WebError::NotFound)?;
    category_tree(&state).await?;
    let page = cached(&state, format!("p:{id}"), || product_page(&state, id)).await?;
    // Old or mistyped slugs redirect to the canonical address.
    let canonical = page
        .get_attr("product")
        .and_then(|p| p.get_attr("url"))
        .ok()
        .and_then(|u| u.as_str().map(str::to_owned))
        .unwrap_or_default();
    if canonical != product_url(slug, id) {
        return Ok(Redirect::permanent(&canonical).into_response());
    }
    // Per-visitor parts are added here, never to the cached page.
    let structure = page
        .get_attr("product")
        .and_then(|p| p.get_attr("structure"))
        .ok()
        .and_then(|s| s.as_str().map(str::to_owned))
        .unwrap_or_default();
    let page = minijinja::context! {
        basket_add_url => (structure != "parent").then(|| basket::add_url(id)),
        wishlist => wishlists::product_form(&state, &session, id, &canonical).await?,
        ..page
    };
    let response = render(&state, &session, &uri, "catalogue/product.html", page).await?;
    let viewed = Event::ProductView {
        product_id: id,
        customer_id: session.customer_id(),
    };
    Ok(recorded(&state, response, viewed))
}

async fn product_page(state: &AppState, id: i64) -> Result<Value, WebError> {
    let pool = &state.db.pool;
    let detail = catalogue::product_detail(pool, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let tree = category_tree(state).await?;
    let root_id = detail.parent.as_ref().map(|p| p.id).unwrap_or(detail.id);
    let priced = crate::pricing::price_listing(
        &state.pricing,
        &state.db.pool,
        state.currency,
        &[(root_id, detail.track_stock)],
    )
    .await?;
    let info = priced.get(&detail.id);
    let variants: Vec<VariantView> = detail
        .variants
        .iter()
        .map(|v| {
            let vi = priced.get(&v.id);
            VariantView {
                id: v.id,
                title: v.title.clone(),
                url: product_url(&v.slug, v.id),
                sku: v.upc.clone(),
                summary: v.summary.clone(),
                price: vi.and_then(|i| i.price.as_ref()).map(MoneyView::from_price),
                availability: vi
                    .map(|i| i.availability.clone())
                    .unwrap_or_else(Availability::unavailable),
                selected: v.id == detail.id,
            }
        })
        .collect();
    let crumbs = detail
        .category_ids
        .first()
        .and_then(|cid| tree.all.iter().find(|c| c.id == *cid))
        .map(|c| breadcrumbs(&tree, c))
        .unwrap_or_default();
    let recommendations = catalogue::listing_rows_by_id(pool, &detail.recommendation_ids).await?;
    let recommendations: Vec<Card> = cards::cards(state, &recommendations).await?;
    let partner_sku = info.and_then(|i| i.stock_record_id).and(detail.upc.clone());
    // A variant shows (and takes) its parent's reviews.
    let reviewed_url = detail.parent.as_ref().map_or_else(
        || product_url(&detail.slug, detail.id),
        |p| product_url(&p.slug, p.id),
    );
    let reviews = reviews::on_product_page(state, root_id, &reviewed_url).await?;
    Ok(minijinja::context! {
        reviews => reviews,
        product => minijinja::context! {
            id => detail.id,
            title => detail.title.clone(),
            upc => detail.upc.clone(),
            description => detail.description.clone(),
            // Cleaned HTML (descriptions are written as rich text in the dashboard).
            description_html => Value::from_safe_string(
                crate::catalogue::manage::rich_text::to_html(&detail.description),
            ),
            url => product_url(&detail.slug, detail.id),
            class_name => detail.class_name.clone(),
            images => detail.images.clone(),
            attributes => detail.attributes.iter().map(|(n, v)| minijinja::context! { name => n, value => v }).collect::<Vec<_>>(),
            price => info.and_then(|i| i.price.as_ref()).map(MoneyView::from_price),
            price_from => detail.structure == Structure::Parent,
            availability => info.map(|i| i.availability.clone()).unwrap_or_else(Availability::unavailable),
            structure => detail.structure.as_str(),
            variants => variants,
            options => detail.options.clone(),
            breadcrumbs => crumbs,
            recommendations => recommendations,
            partner_sku => partner_sku,
            parent_url => detail.parent.as_ref().map(|p| product_url(&p.slug, p.id)),
            parent_title => detail.parent.as_ref().map(|p| p.title.clone()),
        },
    })
}

pub(super) async fn search(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    category_tree(&state).await?;
    let q = query
        .get("q")
        .map(|q| q.trim())
        .unwrap_or_default()
        .to_owned();
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(WebError::BadRequest(format!(
            "Searches can be at most {MAX_QUERY_CHARS} characters long."
        )));
    }
    let params = listing_params(&query, SortKey::Featured)?;
    let terms: Vec<String> = q
        .split_whitespace()
        .take(MAX_SEARCH_TERMS)
        .map(str::to_owned)
        .collect();
    let key = format!(
        "s:{}:{}:{}",
        terms.join(" "),
        params.sort.as_str(),
        params.page
    );
    let page = cached(&state, key, || async {
        let size = state.config.page_size;
        let (rows, total) = if terms.is_empty() {
            (Vec::new(), 0)
        } else {
            catalogue::list_products(
                &state.db.pool,
                ListingFilter::Search(&terms),
                params.sort,
                i64::from(size),
                i64::from(params.page - 1) * i64::from(size),
            )
            .await?
        };
        if rows.is_empty() && params.page > 1 {
            return Err(WebError::NotFound);
        }
        let q_enc = encode(&q);
        let sort = params.sort;
        let base = format!("/search?q={q_enc}&sort={}&", sort.as_str());
        Ok(minijinja::context! {
            query => q.clone(),
            search_query => q.clone(),
            products => cards::cards(&state, &rows).await?,
            pagination => pagination(&base, params.page, total, size),
            sort => sort_options(|k| format!("/search?q={q_enc}&sort={}", k.as_str()), sort),
            total => total,
        })
    })
    .await?;
    let response = render(&state, &session, &uri, "search.html", page.clone()).await?;
    // A search is counted once, on its first page; an empty box searched nothing.
    if terms.is_empty() || params.page > 1 {
        return Ok(response);
    }
    let results = page
        .get_attr("total")
        .ok()
        .and_then(|t| i64::try_from(t).ok())
        .unwrap_or(0);
    let searched = Event::Search {
        query: terms.join(" "),
        results,
        customer_id: session.customer_id(),
    };
    Ok(recorded(&state, response, searched))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_ids() {
        assert_eq!(parse_slug_id("blue-tee_12"), Some(("blue-tee", 12)));
        assert_eq!(parse_slug_id("a_b_3"), Some(("a_b", 3)));
        assert_eq!(parse_slug_id("blue-tee"), None);
        assert_eq!(parse_slug_id("x_-1"), None);
        assert_eq!(parse_slug_id("x_99999999999999999999"), None);
    }
}
