//! A bar chart of one value per day, laid out here for an SVG `viewBox` (the page needs no
//! script): the home's revenue chart and every report's chart. Drawn by the theme's
//! `dashboard/partials/chart.html`.

use serde::Serialize;

use crate::reports::tables::Point;

/// Bars for a `viewBox` of [`Chart::WIDTH`] × [`Chart::HEIGHT`].
#[derive(Debug, Serialize)]
pub(super) struct Chart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// The largest day's value as shown, labelling the top of the scale.
    pub max_label: String,
    /// First and last day.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// "2026-12-01: £120.00 (3 orders)", the bar's tooltip and accessible text.
    pub label: String,
}

impl Chart {
    pub const WIDTH: u32 = 600;
    pub const HEIGHT: u32 = 160;

    pub fn of(points: &[Point]) -> Chart {
        let values: Vec<i64> = points.iter().map(|p| p.value.max(0)).collect();
        let max = values.iter().copied().max().unwrap_or(0);
        // At least a pixel per bar: a long range is squeezed, never wider than the box.
        let slot = (Chart::WIDTH / u32::try_from(points.len().max(1)).unwrap_or(u32::MAX)).max(1);
        let bars = points
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (point, v))| {
                // Integer arithmetic: the bar's share of the tallest, in pixels.
                let height = if max == 0 {
                    0
                } else {
                    u32::try_from(v * i64::from(Chart::HEIGHT) / max).unwrap_or(0)
                };
                Bar {
                    x: u32::try_from(i).unwrap_or(0) * slot + u32::from(slot > 2),
                    y: Chart::HEIGHT - height,
                    width: slot.saturating_sub(2).max(1),
                    height,
                    label: format!("{}: {}", point.day, point.shown),
                }
            })
            .collect();
        let max_label = points
            .iter()
            .max_by_key(|p| p.value)
            .map(|p| p.shown.clone())
            .unwrap_or_default();
        Chart {
            width: Chart::WIDTH.max(slot * u32::try_from(points.len()).unwrap_or(0)),
            height: Chart::HEIGHT,
            bars,
            max_label,
            from: points.first().map(|p| p.day.clone()).unwrap_or_default(),
            to: points.last().map(|p| p.day.clone()).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_busiest_day() {
        let point = |d: &str, value: i64, shown: &str| Point {
            day: d.into(),
            value,
            shown: shown.into(),
        };
        let chart = Chart::of(&[
            point("2026-12-01", 0, "£0.00 (0 orders)"),
            point("2026-12-02", 5000, "£50.00 (2 orders)"),
            point("2026-12-03", 10000, "£100.00 (1 order)"),
        ]);
        let heights: Vec<u32> = chart.bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, [0, Chart::HEIGHT / 2, Chart::HEIGHT]);
        assert_eq!(chart.bars[2].y, 0);
        assert_eq!(chart.max_label, "£100.00 (1 order)");
        assert_eq!(chart.bars[1].label, "2026-12-02: £50.00 (2 orders)");
        assert_eq!(
            (chart.from.as_str(), chart.to.as_str()),
            ("2026-12-01", "2026-12-03")
        );
        assert!(Chart::of(&[]).bars.is_empty());
        // Ten years of days still fit, a pixel each.
        let many: Vec<Point> = (0..3700).map(|i| point("d", i, "")).collect();
        let chart = Chart::of(&many);
        assert_eq!(chart.bars[3699].x, 3699);
        assert_eq!(chart.width, 3700);
    }
}
