//! Storefront pages: home, category browse, product detail, search, static and media files.

mod accounts;
mod basket;
mod cards;
pub mod checkout;
mod orders;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::Value;
use serde::Serialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::catalogue::category::{Category, CategoryTree};
use crate::catalogue::{self, ListingFilter, SortKey, Structure, product_url};
use crate::pricing::Availability;
use crate::session::Session;
use crate::web::{AppState, WebError};
use cards::{Card, MoneyView};

/// Search terms beyond this many characters are refused rather than scanned.
const MAX_QUERY_CHARS: usize = 200;
const MAX_SEARCH_TERMS: usize = 8;
const HOME_SHELF: i64 = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/catalogue/category/{*path}", get(category))
        .route("/catalogue/{slug_id}/", get(product))
        .route("/catalogue/{slug_id}", get(product_without_slash))
        .route("/search", get(search))
        .route("/static/{*path}", get(static_file))
        .route("/media/{*path}", get(media_file))
        .merge(basket::router())
        .merge(accounts::router())
        .merge(checkout::router())
        .merge(orders::router())
}

#[derive(Serialize)]
struct NavCategory {
    name: String,
    url: String,
    children: Vec<NavLink>,
}

#[derive(Serialize)]
struct NavLink {
    name: String,
    url: String,
}

/// Context every page has: the shop and the header's category menu.
pub fn globals(state: &AppState, request_path: &str) -> Value {
    let nav = state.nav.get(&()).unwrap_or_default();
    minijinja::context! {
        request_path => request_path,
        shop => minijinja::context! { name => state.config.shop_name.clone(), tagline => "Well-made things, delivered." },
        nav_categories => nav,
    }
}

pub(crate) async fn category_tree(state: &AppState) -> Result<Arc<CategoryTree>, WebError> {
    if let Some(tree) = state.categories.get(&()) {
        return Ok(tree);
    }
    let tree = Arc::new(catalogue::load_category_tree(&state.db.pool).await?);
    let nav: Vec<NavCategory> = tree
        .roots()
        .map(|root| NavCategory {
            name: root.name.clone(),
            url: root.url(),
            children: tree
                .children(root)
                .map(|c| NavLink {
                    name: c.name.clone(),
                    url: c.url(),
                })
                .collect(),
        })
        .collect();
    state.nav.insert((), Value::from_serialize(&nav));
    state.categories.insert((), tree.clone());
    Ok(tree)
}

/// Per-visitor context: who is signed in, the CSRF token (only if the visitor already has a
/// session: reading never creates one), the mini-basket, and (when `take_messages`) the
/// pending flash messages. A visitor without a session costs nothing here.
pub async fn visitor(state: &AppState, session: &Session, take_messages: bool) -> Value {
    let messages = if take_messages {
        session.take_messages()
    } else {
        Vec::new()
    };
    let mini_basket = match basket::mini_basket(state, session).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "mini-basket failed");
            None
        }
    };
    minijinja::context! {
        customer => session.signed_in().map(|c| minijinja::context! { email => c.email }),
        csrf_token => session.csrf_token(),
        messages => (!messages.is_empty()).then_some(messages),
        basket => mini_basket,
    }
}

pub(crate) async fn render(
    state: &AppState,
    session: &Session,
    uri: &Uri,
    template: &str,
    page: Value,
) -> Result<Response, WebError> {
    let visitor = visitor(state, session, true).await;
    let ctx = minijinja::context! { ..page, ..visitor, ..globals(state, uri.path()) };
    let mut response = Html(state.templates.render(template, ctx)?).into_response();
    if session.is_blank() {
        // Nothing on the page is this visitor's own: any cookie-less visitor may be shown it.
        response.extensions_mut().insert(crate::web::SharedPage);
    }
    Ok(response)
}

/// Uses the cached page data for `key`, or builds and caches it. Concurrent misses for one key
/// wait for a single build instead of all querying the database.
async fn cached<F, Fut>(state: &AppState, key: String, build: F) -> Result<Value, WebError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Value, WebError>>,
{
    state
        .cache
        .try_get_with(key, build())
        .await
        .map_err(|e| (*e).clone())
}

async fn home(
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

/// Page number and sort order from the query string, validated.
struct ListingParams {
    page: u32,
    sort: SortKey,
}

fn listing_params(
    query: &HashMap<String, String>,
    default_sort: SortKey,
) -> Result<ListingParams, WebError> {
    let page = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(WebError::BadRequest(format!(
                    "“{}” is not a page number.",
                    p.chars().take(20).collect::<String>()
                )));
            }
        },
    };
    let sort = match query.get("sort").map(|s| s.trim()) {
        None | Some("") => default_sort,
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            WebError::BadRequest("Unknown sort order; choose one from the list.".into())
        })?,
    };
    Ok(ListingParams { page, sort })
}

#[derive(Serialize)]
struct PageLink {
    number: u32,
    url: String,
    current: bool,
    gap: bool,
}

/// Builds links that keep the other parameters (`base` already holds them).
fn pagination(base: &str, page: u32, total: i64, page_size: u32) -> Value {
    let num_pages = ((total.max(0) as u64).div_ceil(u64::from(page_size))).max(1) as u32;
    let url = |n: u32| {
        if n == 1 {
            base.trim_end_matches(['?', '&']).to_owned()
        } else {
            format!("{base}page={n}")
        }
    };
    let mut pages = Vec::new();
    let mut last = 0;
    for n in 1..=num_pages {
        let near = n == 1 || n == num_pages || n.abs_diff(page) <= 2;
        if !near {
            continue;
        }
        if last != 0 && n > last + 1 {
            pages.push(PageLink {
                number: 0,
                url: String::new(),
                current: false,
                gap: true,
            });
        }
        pages.push(PageLink {
            number: n,
            url: url(n),
            current: n == page,
            gap: false,
        });
        last = n;
    }
    minijinja::context! {
        page => page,
        num_pages => num_pages,
        total => total,
        has_prev => page > 1,
        has_next => page < num_pages,
        prev_url => (page > 1).then(|| url(page - 1)),
        next_url => (page < num_pages).then(|| url(page + 1)),
        pages => pages,
    }
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn sort_options(path_and_query: impl Fn(SortKey) -> String, current: SortKey) -> Value {
    let options: Vec<Value> = SortKey::ALL
        .iter()
        .map(|k| {
            minijinja::context! {
                key => k.as_str(),
                label => k.label(),
                url => path_and_query(*k),
                selected => *k == current,
            }
        })
        .collect();
    minijinja::context! { current => current.as_str(), options => options }
}

fn breadcrumbs(tree: &CategoryTree, category: &Category) -> Vec<Value> {
    tree.ancestry(category)
        .iter()
        .map(|c| minijinja::context! { name => c.name.clone(), url => c.url() })
        .collect()
}

async fn category(
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
        Ok(minijinja::context! {
            category => minijinja::context! {
                name => category.name.clone(),
                description => category.description.clone(),
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
fn parse_slug_id(slug_id: &str) -> Option<(&str, i64)> {
    let (slug, id) = slug_id.rsplit_once('_')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    Some((slug, id))
}

async fn product_without_slash(Path(slug_id): Path<String>) -> Result<Response, WebError> {
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

async fn product(
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
        ..page
    };
    render(&state, &session, &uri, "catalogue/product.html", page).await
}

async fn product_page(state: &AppState, id: i64) -> Result<Value, WebError> {
    let pool = &state.db.pool;
    let detail = catalogue::product_detail(pool, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let tree = category_tree(state).await?;
    let root_id = detail.parent.as_ref().map(|p| p.id).unwrap_or(detail.id);
    let priced = cards::price_listing(state, &[(root_id, detail.track_stock)]).await?;
    let info = priced.infos.get(&detail.id);
    let variants: Vec<VariantView> = detail
        .variants
        .iter()
        .map(|v| {
            let vi = priced.infos.get(&v.id);
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
    Ok(minijinja::context! {
        product => minijinja::context! {
            id => detail.id,
            title => detail.title.clone(),
            upc => detail.upc.clone(),
            description => detail.description.clone(),
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

async fn search(
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
    render(&state, &session, &uri, "search.html", page).await
}

/// Theme static files, found through the theme chain. Versioned URLs (`?v=`) are immutable.
async fn static_file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request<Body>,
) -> Result<Response, WebError> {
    let file = state
        .templates
        .chain
        .find(&format!("static/{path}"))
        .ok_or(WebError::NotFound)?;
    let versioned = request.uri().query().is_some_and(|q| q.starts_with("v="));
    let mut response = ServeFile::new(file)
        .oneshot(request)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .into_response();
    if response.status() == StatusCode::OK || response.status() == StatusCode::NOT_MODIFIED {
        let cache = if versioned && !state.config.dev {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=300"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    Ok(response)
}

async fn media_file(
    State(state): State<AppState>,
    Path(path): Path<String>,
    request: Request<Body>,
) -> Result<Response, WebError> {
    if path.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(WebError::NotFound);
    }
    let mut response = ServeFile::new(state.config.media_dir().join(&path))
        .oneshot(request)
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .into_response();
    if response.status() == StatusCode::OK {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=86400"),
        );
    }
    Ok(response)
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

    #[test]
    fn pagination_has_gaps_and_keeps_params() {
        let p = pagination("/c/?sort=title&", 10, 480, 24);
        assert_eq!(p.get_attr("num_pages").unwrap().as_i64(), Some(20));
        let pages = p.get_attr("pages").unwrap();
        let numbers: Vec<i64> = pages
            .try_iter()
            .unwrap()
            .map(|v| v.get_attr("number").unwrap().as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [1, 0, 8, 9, 10, 11, 12, 0, 20]);
        assert_eq!(
            p.get_attr("prev_url").unwrap().as_str(),
            Some("/c/?sort=title&page=9")
        );
        let first = pagination("/c/?", 2, 30, 24);
        assert_eq!(first.get_attr("prev_url").unwrap().as_str(), Some("/c/"));
    }

    #[test]
    fn listing_params_reject_junk() {
        let q = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        assert!(listing_params(&q("page", "-1"), SortKey::Featured).is_err());
        assert!(listing_params(&q("page", "abc"), SortKey::Featured).is_err());
        assert!(listing_params(&q("page", "0"), SortKey::Featured).is_err());
        assert!(listing_params(&q("sort", "bogus"), SortKey::Featured).is_err());
        let ok = listing_params(&q("sort", "price-desc"), SortKey::Featured).unwrap();
        assert_eq!((ok.page, ok.sort), (1, SortKey::PriceDesc));
    }
}
