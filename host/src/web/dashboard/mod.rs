//! The dashboard (`/dashboard/`), where staff and partner users run the shop. Its pages call
//! the same use cases as the storefront (`order::manage`, `reports`, …) and render the
//! theme's `dashboard/` templates, which a theme may override like any other.
//!
//! Every page takes a [`CurrentStaff`]: the staff user signed in to this session, re-read
//! from the database on each request (a removed or deactivated account is out at once), whose
//! dashboard sign-in has not expired (staff sign-ins end sooner than a customer's session,
//! `staff_session_ttl_secs`). Without one, a page redirects to the sign-in form; an action
//! is refused. Each handler then asks for the [`Permission`] it needs (403 without it), and
//! passes the user's partner scope to the use case, which applies it in its queries.

mod auth;
mod catalogue;
mod catalogue_categories;
mod catalogue_classes;
mod catalogue_products;
mod catalogue_transfer;
mod category_images;
mod chart;
mod customers;
mod emails;
mod home;
mod images;
mod lookups;
mod offers;
mod order_payments;
mod order_tools;
mod orders;
mod params;
mod partners;
mod plugins;
mod reports;
mod reviews;
mod search;
mod stock;
pub(crate) mod themes;
mod traces;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Value;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::session::Session;
use crate::staff::{Permission, Staff};
use crate::web::WebError;

pub const HOME_URL: &str = "/dashboard/";
pub const LOGIN_URL: &str = "/dashboard/login/";
pub const LOGOUT_URL: &str = "/dashboard/logout/";
pub const ORDERS_URL: &str = "/dashboard/orders/";
pub const SEARCH_URL: &str = "/dashboard/search/";
pub const STOCK_URL: &str = "/dashboard/stock/";
pub const CUSTOMERS_URL: &str = "/dashboard/customers/";
pub const PARTNERS_URL: &str = "/dashboard/partners/";

/// Session key of the dashboard sign-in.
const STAFF_KEY: &str = "_staff";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(HOME_URL, get(home::show))
        .route(
            "/dashboard",
            get(|| async { Redirect::permanent(HOME_URL) }),
        )
        .route(LOGIN_URL, get(auth::login_page).post(auth::login))
        .route(LOGOUT_URL, post(auth::logout))
        .route(SEARCH_URL, get(search::show))
        .route(ORDERS_URL, get(orders::list))
        .route("/dashboard/orders/filters/", post(order_tools::save_filter))
        .route(
            "/dashboard/orders/filters/{filter_id}/delete/",
            post(order_tools::delete_filter),
        )
        .route("/dashboard/orders/export/", post(order_tools::start_export))
        .route(
            "/dashboard/exports/{export_id}/",
            get(order_tools::export_page),
        )
        .route(
            "/dashboard/exports/{export_id}/download/",
            get(order_tools::download),
        )
        .route("/dashboard/orders/{number}/", get(orders::detail))
        .route(
            "/dashboard/orders/{number}/status/",
            post(orders::change_status),
        )
        .route("/dashboard/orders/{number}/notes/", post(orders::add_note))
        .route(
            "/dashboard/orders/{number}/decisions/",
            get(orders::decisions),
        )
        .route("/dashboard/orders/{number}/fulfil/", post(orders::fulfil))
        .route(
            "/dashboard/orders/{number}/lines/status/",
            post(orders::change_lines),
        )
        .route(
            "/dashboard/orders/{number}/capture/",
            post(order_payments::capture),
        )
        .route(
            "/dashboard/orders/{number}/refund/",
            post(order_payments::refund),
        )
        .route(
            "/dashboard/orders/{number}/cancel/",
            post(order_payments::cancel),
        )
        .route(
            "/dashboard/orders/{number}/payments/{operation}/resolve/",
            post(order_payments::resolve),
        )
        .route(CUSTOMERS_URL, get(customers::list))
        .route("/dashboard/customers/lookup/", get(lookups::customers))
        .route(
            "/dashboard/catalogue/products/lookup/",
            get(lookups::products),
        )
        .route(
            "/dashboard/catalogue/categories/lookup/",
            get(lookups::categories),
        )
        .route(
            "/dashboard/customers/{customer_id}/",
            get(customers::detail),
        )
        .route(
            "/dashboard/customers/{customer_id}/active/",
            post(customers::set_active),
        )
        .route(
            "/dashboard/customers/{customer_id}/password-reset/",
            post(customers::send_password_reset),
        )
        .route(PARTNERS_URL, get(partners::list).post(partners::add))
        .route(
            "/dashboard/partners/{partner_id}/",
            get(partners::detail).post(partners::update),
        )
        .route(
            "/dashboard/partners/{partner_id}/users/",
            post(partners::add_user),
        )
        .route(
            "/dashboard/partners/{partner_id}/users/{staff_id}/remove/",
            post(partners::remove_user),
        )
        .route(STOCK_URL, get(stock::list))
        .route("/dashboard/stock/{stock_id}/", get(stock::detail))
        .route("/dashboard/stock/{stock_id}/adjust/", post(stock::adjust))
        .route(
            "/dashboard/catalogue/products/{product_id}/images/",
            get(images::list),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/images/upload/",
            // Bounded by `web::limit_body` instead (the configured upload size).
            post(images::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/images/{image_id}/caption/",
            post(images::caption),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/images/{image_id}/move/",
            post(images::move_image),
        )
        .route(
            "/dashboard/catalogue/products/{product_id}/images/{image_id}/delete/",
            post(images::delete),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/image/",
            get(category_images::show),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/image/upload/",
            // Bounded by `web::limit_body` instead (the configured upload size).
            post(category_images::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/image/caption/",
            post(category_images::caption),
        )
        .route(
            "/dashboard/catalogue/categories/{category_id}/image/delete/",
            post(category_images::delete),
        )
        .merge(reviews::router())
        .merge(offers::router())
        .merge(plugins::router())
        .merge(themes::router())
        .route("/dashboard/content/emails/", get(emails::list))
        .route(
            "/dashboard/content/emails/{template}/",
            get(emails::detail).post(emails::save),
        )
        .route(
            "/dashboard/content/emails/{template}/reset/",
            post(emails::reset),
        )
        .merge(catalogue::router())
        .merge(reports::router())
}

pub use images::upload_body_limit;

/// Whether `path` is one of the upload routes (the only ones with a large body: up to
/// `max_upload_bytes`, see `web::limit_body`).
pub fn is_upload(path: &str) -> bool {
    images::is_upload(path)
        || catalogue_transfer::is_upload(path)
        || category_images::is_upload(path)
}

/// A dashboard sign-in as the session keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StaffSignIn {
    id: i64,
    /// Unix seconds; renewed while the user is active.
    expires_at: i64,
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Records the sign-in in the (just rotated) session.
fn remember(session: &Session, staff: &Staff, ttl_secs: u64) {
    session.insert(
        STAFF_KEY,
        StaffSignIn {
            id: staff.id,
            expires_at: now_secs() + i64::try_from(ttl_secs).unwrap_or(i64::MAX / 4),
        },
    );
}

/// The staff user a dashboard request is made by.
pub struct CurrentStaff {
    pub staff: Staff,
    pub session: Session,
}

impl CurrentStaff {
    /// 403 unless the user's role grants `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), WebError> {
        if self.staff.can(permission) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "Your staff role doesn't allow this. Ask an administrator if you need it.".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let signed_in: Option<StaffSignIn> = session.get(STAFF_KEY);
        let now = now_secs();
        let staff = match signed_in.filter(|s| s.expires_at > now) {
            Some(s) => crate::staff::active_by_id(&state.db.pool, s.id)
                .await
                .map_err(|e| WebError::internal(e).into_response())?,
            None => None,
        };
        let Some(staff) = staff else {
            session.remove(STAFF_KEY);
            return Err(
                if parts.method == Method::GET || parts.method == Method::HEAD {
                    let next = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or(HOME_URL);
                    let to = format!(
                        "{LOGIN_URL}?next={}",
                        percent_encoding::utf8_percent_encode(
                            next,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    );
                    Redirect::to(&to).into_response()
                } else {
                    WebError::Forbidden("Please sign in to the dashboard again.".into())
                        .into_response()
                },
            );
        };
        // Sliding expiry: an active user stays signed in; the session is written at most
        // once per half TTL.
        let ttl = state.config.staff_session_ttl_secs;
        if let Some(s) = session.get::<StaffSignIn>(STAFF_KEY)
            && s.expires_at - now < i64::try_from(ttl / 2).unwrap_or(0)
        {
            remember(&session, &staff, ttl);
        }
        Ok(CurrentStaff { staff, session })
    }
}

/// A section in the dashboard's menu, shown to those who may see it.
#[derive(Serialize)]
struct NavItem {
    label: &'static str,
    url: &'static str,
    current: bool,
}

fn nav(staff: &Staff, path: &str) -> Vec<NavItem> {
    let items: [(&str, &str, Permission); 12] = [
        ("Home", HOME_URL, Permission::ViewDashboard),
        ("Orders", ORDERS_URL, Permission::ViewOrders),
        (
            "Catalogue",
            catalogue::CATALOGUE_URL,
            Permission::ViewCatalogue,
        ),
        ("Customers", CUSTOMERS_URL, Permission::ViewCustomers),
        ("Stock", STOCK_URL, Permission::ViewCatalogue),
        ("Partners", PARTNERS_URL, Permission::ViewCatalogue),
        ("Reviews", reviews::REVIEWS_URL, Permission::ViewCatalogue),
        ("Offers", offers::OFFERS_URL, Permission::ViewCatalogue),
        ("Reports", reports::REPORTS_URL, Permission::ViewReports),
        ("Emails", emails::EMAILS_URL, Permission::ViewCustomers),
        ("Plugins", plugins::PLUGINS_URL, Permission::ViewPlugins),
        ("Themes", themes::THEMES_URL, Permission::Administer),
    ];
    items
        .into_iter()
        .filter(|(_, _, p)| staff.can(*p))
        // Partner users don't moderate the shop's reviews.
        .filter(|(_, url, _)| {
            (*url != reviews::REVIEWS_URL && *url != offers::OFFERS_URL)
                || staff.partner_scope().is_none()
        })
        .map(|(label, url, _)| NavItem {
            label,
            url,
            current: if url == HOME_URL {
                path == HOME_URL
            } else {
                path.starts_with(url)
            },
        })
        .collect()
}

/// Renders a dashboard page for `current` with `status`.
fn render(
    state: &AppState,
    current: &CurrentStaff,
    path: &str,
    template: &str,
    status: StatusCode,
    page: Value,
) -> Result<Response, WebError> {
    let messages = current.session.take_messages();
    current.session.ensure_csrf_token();
    let ctx = minijinja::context! {
        staff => minijinja::context! {
            email => current.staff.email.clone(),
            role => current.staff.role.label(),
            is_partner => current.staff.partner_scope().is_some(),
        },
        nav => nav(&current.staff, path),
        csrf_token => current.session.csrf_token(),
        messages => (!messages.is_empty()).then_some(messages),
        shop => minijinja::context! { name => state.config.shop_name.clone() },
        request_path => path,
        logout_url => LOGOUT_URL,
        search_url => SEARCH_URL,
        ..page
    };
    let html = state.templates.render(template, ctx)?;
    let mut response = (status, Html(html)).into_response();
    // Never kept by a browser or a proxy cache: every dashboard page is someone's data.
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}
