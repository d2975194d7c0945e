//! The dashboard home: today, this week and this month at a glance, a revenue chart (an SVG
//! laid out by [`Chart`], so the page needs no script), and what needs attention.

use super::chart::Chart;
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::reports::tables::Point;
use crate::reports::{self, Day};
use crate::staff::Permission;
use crate::web::WebError;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;

/// Statuses an order still has to move out of before it ships: those with a way on, other
/// than a shipped one.
fn open_statuses(state: &AppState) -> Vec<String> {
    state
        .pipeline
        .statuses
        .iter()
        .filter(|(status, next)| !next.is_empty() && !status.eq_ignore_ascii_case("Shipped"))
        .map(|(status, _)| status.clone())
        .collect()
}

pub(super) async fn show(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    current.require(Permission::ViewDashboard)?;
    let today = time::OffsetDateTime::now_utc().date();
    let summary = reports::summary(
        &state.db.pool,
        current.staff.partner_scope(),
        state.currency,
        today,
        &open_statuses(&state),
    )
    .await?;
    let chart = Chart::of(&points(&summary.revenue_by_day));
    let page = minijinja::context! {
        summary => summary,
        chart => chart,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/home.html",
        StatusCode::OK,
        page,
    )
}

/// The revenue chart's days.
fn points(days: &[Day]) -> Vec<Point> {
    days.iter()
        .map(|d| {
            let orders = if d.orders == 1 {
                "1 order".to_owned()
            } else {
                format!("{} orders", d.orders)
            };
            Point {
                day: d.day.clone(),
                value: d.revenue.to_minor().unwrap_or(0),
                shown: format!("{} ({orders})", d.revenue.display()),
            }
        })
        .collect()
}
