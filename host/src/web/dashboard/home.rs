//! The dashboard home: today, this week and this month at a glance, a revenue chart (an SVG
//! drawn here, so the page needs no script), and what needs attention.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;

use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::reports::{self, Day};
use crate::staff::Permission;
use crate::web::WebError;

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
    let chart = Chart::of(&summary.revenue_by_day);
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

/// A bar chart of revenue by day, laid out for an SVG `viewBox` of [`Chart::WIDTH`] ×
/// [`Chart::HEIGHT`].
#[derive(Debug, Serialize)]
struct Chart {
    width: u32,
    height: u32,
    bars: Vec<Bar>,
    /// The largest day's revenue, labelling the top of the scale.
    max_label: String,
}

#[derive(Debug, Serialize)]
struct Bar {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    /// "2026-12-01: £120.00 (3 orders)", the bar's tooltip and accessible text.
    label: String,
}

impl Chart {
    const WIDTH: u32 = 600;
    const HEIGHT: u32 = 160;

    fn of(days: &[Day]) -> Chart {
        let minor: Vec<i64> = days
            .iter()
            .map(|d| d.revenue.to_minor().unwrap_or(0).max(0))
            .collect();
        let max = minor.iter().copied().max().unwrap_or(0);
        let slot = Chart::WIDTH / u32::try_from(days.len().max(1)).unwrap_or(1);
        let bars = days
            .iter()
            .zip(&minor)
            .enumerate()
            .map(|(i, (day, m))| {
                // Integer arithmetic: the bar's share of the tallest, in pixels.
                let height = if max == 0 {
                    0
                } else {
                    u32::try_from(m * i64::from(Chart::HEIGHT) / max).unwrap_or(0)
                };
                let orders = if day.orders == 1 {
                    "1 order".to_owned()
                } else {
                    format!("{} orders", day.orders)
                };
                Bar {
                    x: u32::try_from(i).unwrap_or(0) * slot + 1,
                    y: Chart::HEIGHT - height,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    label: format!("{}: {} ({orders})", day.day, day.revenue.display()),
                }
            })
            .collect();
        let max_label = days
            .first()
            .map(|d| crate::money::Money::from_minor(max, d.revenue.currency()).display())
            .unwrap_or_default();
        Chart {
            width: Chart::WIDTH,
            height: Chart::HEIGHT,
            bars,
            max_label,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Money};

    #[test]
    fn bars_scale_to_the_busiest_day() {
        let gbp = Currency::from_code("GBP").unwrap();
        let day = |d: &str, pence: i64, orders: i64| Day {
            day: d.into(),
            orders,
            revenue: Money::from_minor(pence, gbp),
        };
        let chart = Chart::of(&[
            day("2026-12-01", 0, 0),
            day("2026-12-02", 5000, 2),
            day("2026-12-03", 10000, 1),
        ]);
        let heights: Vec<u32> = chart.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, [0, Chart::HEIGHT / 2, Chart::HEIGHT]);
        assert_eq!(chart.bars[2].y, 0);
        assert_eq!(chart.max_label, "£100.00");
        assert_eq!(chart.bars[1].label, "2026-12-02: £50.00 (2 orders)");
        assert!(Chart::of(&[]).bars.is_empty());
    }
}
