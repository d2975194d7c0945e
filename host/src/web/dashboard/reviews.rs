//! Dashboard reviews: the moderation queue (pending first by default, filtered by status,
//! score and text) and approving, rejecting or deleting the reviews ticked, each recorded in
//! the audit log. Reviews are the shop's to moderate: partner users don't see them.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use super::params::{page_number, pages, search_text};
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::infra::changes::Change;
use crate::review::{self, Decision, QueueFilter, Status};
use crate::staff::Permission;
use crate::web::WebError;

pub const REVIEWS_URL: &str = "/dashboard/reviews/";
pub const MODERATE_URL: &str = "/dashboard/reviews/moderate/";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(REVIEWS_URL, get(list))
        .route(MODERATE_URL, post(moderate))
}

fn shop_staff_only(current: &CurrentStaff) -> Result<(), WebError> {
    if current.staff.partner_scope().is_some() {
        return Err(WebError::Forbidden(
            "Reviews are moderated by the shop's own staff.".into(),
        ));
    }
    Ok(())
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewCatalogue)?;
    shop_staff_only(&current)?;
    let status_raw = query
        .get("status")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "pending".into());
    let status = match status_raw.as_str() {
        "all" => None,
        s => Some(Status::parse(s).ok_or_else(|| {
            WebError::BadRequest(format!("There is no review status \u{201c}{s}\u{201d}."))
        })?),
    };
    let score_raw = search_text(&query, "score")?;
    let score = match score_raw.as_str() {
        "" => None,
        s => Some(
            s.parse::<i64>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .ok_or_else(|| WebError::BadRequest("A score is 1 to 5.".into()))?,
        ),
    };
    let q = search_text(&query, "q")?;
    let page = page_number(&query)?;
    let filter = QueueFilter {
        status,
        score,
        text: Some(q.clone()),
    };
    let (reviews, total) = review::queue(&state.db.pool, &filter, i64::from(page)).await?;
    let pending = review::pending_count(&state.db.pool).await?;
    let statuses: Vec<_> = Status::ALL
        .into_iter()
        .map(|s| minijinja::context! { value => s.as_str(), label => s.label() })
        .collect();
    let status_param = status.map_or("all", Status::as_str);
    let page_size = u32::try_from(review::PAGE_SIZE).unwrap_or(20);
    let ctx = minijinja::context! {
        reviews => reviews,
        total => total,
        pending => pending,
        statuses => statuses,
        status => status_param,
        score => score_raw,
        q => q,
        pages => pages(REVIEWS_URL, &[("status", status_param), ("score", &score_raw), ("q", &q)], page, total, page_size),
        can_moderate => current.staff.can(Permission::ModerateReviews),
        moderate_url => MODERATE_URL,
        back => uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| REVIEWS_URL.into()),
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/reviews.html",
        StatusCode::OK,
        ctx,
    )
}

pub(super) async fn moderate(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::ModerateReviews)?;
    shop_staff_only(&current)?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let decision = field("decision").and_then(Decision::parse).ok_or_else(|| {
        WebError::BadRequest("Choose what to do: approve, reject or delete.".into())
    })?;
    let ids = fields
        .iter()
        .filter(|(k, _)| k == "review")
        .map(|(_, v)| v.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| WebError::BadRequest("A review id is a number.".into()))?;
    let back =
        crate::web::sign_in::safe_next(field("next").map(str::to_owned).as_ref(), REVIEWS_URL);
    if ids.is_empty() {
        current
            .session
            .flash("error", "Tick the reviews to moderate first.");
        return Ok(Redirect::to(&back).into_response());
    }
    let products = review::moderate(&state.db, Actor::from(&current.staff), &ids, decision).await?;
    if !products.is_empty() {
        state.changes.announce(Change::Reviews(products));
    }
    let done = match decision {
        Decision::Approve => "approved",
        Decision::Reject => "rejected",
        Decision::Delete => "deleted",
    };
    current.session.flash(
        "success",
        format!(
            "{} review{} {done}.",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" }
        ),
    );
    Ok(Redirect::to(&back).into_response())
}
