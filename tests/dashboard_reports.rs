//! Reports (`/dashboard/reports/`) over HTTP against the real app, on SQLite and PostgreSQL:
//! storefront visits, basket additions, searches and a checkout are recorded (off the request
//! path, flushed here through the app's handle) and show in the product, search, order and
//! basket reports and their CSV; a partner user sees only their own products; a bad date range
//! is refused field by field; a report too large to send at once is written by a background
//! job and downloaded from its page.

mod support;

use std::time::Duration;

use emporium::fixtures::{PartnerBuilder, ProductBuilder};
use emporium::staff::Role;
use support::shopper::{GOOD_CARD, add, place, to_preview};
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, TestApp};

/// Runs `$body(app)` once per backend, on an app with few demo products (and `$tweak` applied
/// to its configuration).
macro_rules! on_both {
    ($name:ident, $tweak:expr, $body:expr) => {
        mod $name {
            use super::*;
            async fn app(backend: Backend) -> TestApp {
                let options = Options {
                    products: 4,
                    ..Options::default()
                };
                TestApp::start_tweaked(backend, options, $tweak).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(app(Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(app(Backend::Postgres).await).await;
            }
        }
    };
}

/// A public product of its own partner, 10 in stock at £12.50: (id, page URL, partner code).
async fn product(app: &TestApp, title: &str, upc: &str) -> (i64, String, String) {
    let mut conn = app.state.db.pool.acquire().await.unwrap();
    let partner = PartnerBuilder::new().create_in(&mut conn).await.unwrap();
    drop(conn);
    let product = ProductBuilder::new()
        .title(title)
        .upc(upc)
        .price("12.50")
        .stock(10)
        .partner(&partner)
        .create(&app.state.db)
        .await
        .unwrap();
    (product.id, product.url(), partner.code)
}

async fn admin(app: &TestApp) -> Browser {
    add_staff(app, "admin@example.com", Role::Admin, &[]).await;
    staff_browser(app, "admin@example.com").await
}

/// The start of a report's table row as the page draws it: text cells, then numbers.
fn row(text: &[&str], numbers: &[&str]) -> String {
    let mut out = String::from("<tr>");
    for t in text {
        out.push_str(&format!("<td>{t}</td>"));
    }
    for n in numbers {
        out.push_str(&format!("<td class=\"num\">{n}</td>"));
    }
    out
}

async fn csv(b: &Browser, path: &str) -> String {
    let response = b
        .client
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET {path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8",
        "GET {path}"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    response.text().await.unwrap()
}

on_both!(
    storefront_activity_shows_in_the_reports,
    |_| {},
    |app: TestApp| async move {
        let (id, url, _) = product(&app, "Report Widget", "RW-1").await;
        // Two cookie-less views: the second is the page cache's, and counts all the same.
        for _ in 0..2 {
            assert_eq!(app.get(&url).await.0, 200);
        }
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        let buyer = app.browser();
        assert_eq!(buyer.get(&url).await.status, 200);
        add(&buyer, id, 1).await;
        let found = buyer.get("/search?q=Report+widget").await;
        assert_eq!(found.status, 200);
        assert_eq!(buyer.get("/search?q=zzz+nothing").await.status, 200);
        assert_eq!(buyer.get("/search?q=ZZZ++Nothing").await.status, 200);
        let preview = to_preview(&buyer, Some("ada@example.com"), None, "test-card-gateway").await;
        let done = place(&buyer, &preview, Some(GOOD_CARD)).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let number = app.scalar_text("SELECT number FROM shop_order").await;
        app.state.analytics.flush().await;
        assert_eq!(app.state.analytics.dropped(), 0);

        let b = admin(&app).await;
        let page = b.get("/dashboard/reports/?report=products").await;
        assert_eq!(page.status, 200, "{}", page.body);
        // 3 views, 1 basket addition, 1 unit bought: 33.33 % conversion.
        let expected = row(&["Report Widget", "RW-1"], &["3", "1", "1", "33.33 %"]);
        assert!(page.body.contains(&expected), "{expected} in {}", page.body);
        assert!(page.body.contains("<svg"), "a chart");
        assert!(
            page.body.contains("id=\"report-download\""),
            "small enough to send at once"
        );
        let today = time::OffsetDateTime::now_utc().date();
        let from = today - time::Duration::days(6);
        let file = csv(
            &b,
            &format!("/dashboard/reports/download/?report=products&from={from}&to={today}&sort=conversion"),
        )
        .await;
        let mut lines = file.lines();
        assert_eq!(
            lines.next(),
            Some("Product,UPC,Views,Basket additions,Units bought,Conversion")
        );
        assert!(file.contains("Report Widget,RW-1,3,1,1,33.33"), "{file}");
        // A range without the day of the visits has nothing.
        let old = b
            .get("/dashboard/reports/?report=products&from=2020-01-01&to=2020-01-31")
            .await;
        assert_eq!(old.status, 200);
        assert!(!old.body.contains("Report Widget"));

        // Searches: counted alike whatever the case and spacing, the empty ones noticed.
        let searches = b.get("/dashboard/reports/?report=searches").await;
        assert_eq!(searches.status, 200);
        assert!(
            searches
                .body
                .contains(&row(&["zzz nothing"], &["2", "2", "0"])),
            "{}",
            searches.body
        );
        assert!(
            searches
                .body
                .contains("<td>report widget</td><td class=\"num\">1</td><td class=\"num\">0</td>")
        );

        // The order: today's revenue (£12.50 + £4.95), and its submitted basket.
        let orders = b.get("/dashboard/reports/?report=orders").await;
        assert_eq!(orders.status, 200);
        assert!(
            orders
                .body
                .contains(&row(&[&today.to_string()], &["1", "£17.45", "£17.45"])),
            "{}",
            orders.body
        );
        let baskets = b.get("/dashboard/reports/?report=baskets").await;
        assert!(
            baskets.body.contains("<td>submitted</td>"),
            "{}",
            baskets.body
        );
        assert!(baskets.body.contains(&format!("<td>{number}</td>")));
        assert_eq!(
            b.get("/dashboard/reports/?report=customers").await.status,
            200
        );
        // The menu leads here.
        assert!(
            page.body.contains(" aria-current=\"page\">Reports</a>"),
            "{}",
            page.body
        );
    }
);

on_both!(
    a_partner_sees_only_their_own_products,
    |_| {},
    |app: TestApp| async move {
        let (_, mine, code) = product(&app, "Partner Own Lamp", "OWN-1").await;
        let (_, theirs, _) = product(&app, "Someone Else Chair", "ELSE-1").await;
        for url in [&mine, &theirs] {
            assert_eq!(app.get(url).await.0, 200);
        }
        app.state.analytics.flush().await;
        add_staff(&app, "own@example.com", Role::Partner, &[&code]).await;
        let partner = staff_browser(&app, "own@example.com").await;
        let page = partner.get("/dashboard/reports/?report=products").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Partner Own Lamp"), "{}", page.body);
        assert!(!page.body.contains("Someone Else Chair"));
        // The whole shop's reports are neither offered nor shown.
        assert!(!page.body.contains("value=\"customers\""));
        for report in ["customers", "baskets", "searches"] {
            let path = format!("/dashboard/reports/?report={report}");
            assert_eq!(partner.get(&path).await.status, 403, "{path}");
            let path = format!("/dashboard/reports/download/?report={report}");
            assert_eq!(partner.get(&path).await.status, 403, "{path}");
        }
        let file = csv(&partner, "/dashboard/reports/download/?report=products").await;
        assert!(
            file.contains("Partner Own Lamp") && !file.contains("Someone Else"),
            "{file}"
        );
        // An administrator sees both.
        let b = admin(&app).await;
        let all = b.get("/dashboard/reports/?report=products").await;
        assert!(all.body.contains("Partner Own Lamp") && all.body.contains("Someone Else Chair"));
    }
);

on_both!(
    a_bad_date_range_is_refused_field_by_field,
    |_| {},
    |app: TestApp| async move {
        let b = admin(&app).await;
        let page = b
            .get("/dashboard/reports/?report=orders&from=2026-13-01&to=2026-01-05")
            .await;
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("Enter a date as YYYY-MM-DD."));
        assert!(
            page.body.contains("value=\"2026-13-01\""),
            "what was typed stays"
        );
        assert!(!page.body.contains("<table"), "no report");
        let backwards = b
            .get("/dashboard/reports/?report=orders&from=2026-02-01&to=2026-01-05")
            .await;
        assert_eq!(backwards.status, 422);
        assert!(backwards.body.contains("The end comes before the start."));
        let download = b.get("/dashboard/reports/download/?from=yesterday").await;
        assert_eq!(download.status, 422);
        let unknown = b.get("/dashboard/reports/?report=offers").await;
        assert_eq!(unknown.status, 422);
        assert!(unknown.body.contains("Choose one of the reports."));
    }
);

on_both!(
    a_large_report_is_written_by_a_background_job,
    |config| config.report_csv_rows = 3,
    |app: TestApp| async move {
        let b = admin(&app).await;
        let today = time::OffsetDateTime::now_utc().date();
        let from = today - time::Duration::days(9);
        let query = format!("report=orders&from={from}&to={today}");
        // Ten days, more rows than may be sent at once: the page offers the job instead.
        let page = b.get(&format!("/dashboard/reports/?{query}")).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("id=\"report-export\""), "{}", page.body);
        assert!(!page.body.contains("id=\"report-download\""));
        let refused = b
            .get(&format!("/dashboard/reports/download/?{query}"))
            .await;
        assert_eq!(refused.status, 303);
        let audited =
            || app.scalar_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'export.report'");
        assert_eq!(audited().await, 0);

        let t = page.csrf_token().unwrap();
        let (from, to) = (from.to_string(), today.to_string());
        let started = b
            .post(
                "/dashboard/reports/export/",
                &[
                    ("csrf_token", &t),
                    ("report", "orders"),
                    ("from", &from),
                    ("to", &to),
                ],
            )
            .await;
        assert_eq!(started.status, 303, "{}", started.body);
        let job = started.location.unwrap();
        assert!(job.starts_with("/dashboard/exports/"), "{job}");
        assert_eq!(audited().await, 1, "starting a job is audited");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let page = b.get(&job).await;
            assert_eq!(page.status, 200, "{}", page.body);
            if page.body.contains("data-export=\"done\"") {
                assert!(page.body.contains("10 rows exported"), "{}", page.body);
                assert!(page.body.contains("Back to the report"));
                break;
            }
            assert!(
                !page.body.contains("data-export=\"failed\""),
                "{}",
                page.body
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "the job never finished"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let file = csv(&b, &format!("{job}download/")).await;
        let lines: Vec<&str> = file.lines().collect();
        assert_eq!(lines[0], "Day,Orders,Revenue,Average order");
        assert_eq!(lines.len(), 11, "{file}");
        assert_eq!(lines[1], format!("{from},0,0.00,"));
        // Someone else's job is nobody else's.
        add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
        let viewer = staff_browser(&app, "viewer@example.com").await;
        assert_eq!(viewer.get(&job).await.status, 404);
    }
);
