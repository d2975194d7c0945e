//! Decision traces and shadow runs against the real app, on SQLite and PostgreSQL, with real
//! compiled plugins: a day of shipping quotes recorded from version 0.1.0 of
//! weight-band-shipping, then replayed from the dashboard (and the library the CLI calls)
//! against a 0.2.0 that changes one rule (baskets over the top band get its price instead of no
//! quote): the report names exactly the changed decisions. An order's decisions page after a
//! real checkout; masking of personal data and card data; the trace-mode switch (audited,
//! administrators only); sampled mode keeping baskets whole; the store's age and size bounds.

mod plugins_support;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use emporium::plugins::distribution::publish::{PublisherKey, publish};
use emporium::plugins::lifecycle::replay::{self, Candidate, ReplayScope};
use emporium::plugins::lifecycle::{service, trace};
use emporium::plugins::runtime::{TraceMode, TraceSettings};
use emporium::staff::Role;
use support::shopper::*;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp};

const PLUGIN: &str = "weight-band-shipping";
const BANDS: &str = "1000:3.50, 5000:4.95, 20000:15.00";

/// The changed rule: weight-band-shipping built with `heavy-parcels`, published as 0.2.0.
fn candidate(dir: &Path) -> PathBuf {
    let heavy = support::repo_root().join("target/test-plugins/weight-band-shipping-heavy");
    let out = dir.join("weight-band-shipping-0.2.0");
    std::fs::create_dir_all(&out).unwrap();
    let manifest = std::fs::read_to_string(heavy.join("plugin.toml"))
        .unwrap()
        .replacen("\nversion = \"0.1.0\"", "\nversion = \"0.2.0\"", 1);
    std::fs::write(out.join("plugin.toml"), manifest).unwrap();
    std::fs::copy(heavy.join("plugin.wasm"), out.join("plugin.wasm")).unwrap();
    out
}

struct Shop {
    app: TestApp,
    admin: Browser,
    directory: emporium::plugins::distribution::directory::Directory,
    trust: emporium::plugins::distribution::directory::TrustPolicy,
    _dir: tempfile::TempDir,
}

async fn shop(
    backend: Backend,
    products: u32,
    tweak: impl FnOnce(&mut emporium::infra::config::Config) + Send + 'static,
) -> Shop {
    plugins_support::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let key = PublisherKey::generate("test-publisher").unwrap();
    let out = dir.path().join("directory");
    publish(&[candidate(dir.path())], Some(&key), &out).unwrap();
    let trusted = key.public_hex();
    let location = out.display().to_string();
    let app = TestApp::start_tweaked(
        backend,
        Options {
            products,
            ..Default::default()
        },
        move |c| {
            c.plugin_directory = Some(location);
            c.plugin_trusted_keys
                .insert("test-publisher".into(), trusted);
            tweak(c);
        },
    )
    .await;
    app.install_plugin(PLUGIN, &[("bands", BANDS)], &[]).await;
    add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
    let admin = staff_browser(&app, "admin@example.com").await;
    let directory =
        emporium::plugins::distribution::directory::Directory::open(&out.display().to_string());
    let trust = service::trust_policy(&app.state.config).unwrap();
    Shop {
        app,
        admin,
        directory,
        trust,
        _dir: dir,
    }
}

async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let t = b.get("/dashboard/plugins/").await.csrf_token().unwrap();
    let mut form = form.to_vec();
    form.push(("csrf_token", &t));
    b.post(path, &form).await
}

async fn flush(app: &TestApp) {
    app.state
        .plugins
        .traces()
        .expect("a serving process records traces")
        .flush()
        .await;
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// A basket `id` weighing `grams`, for a guest with a street address.
fn request(id: i64, grams: u64) -> emporium::plugins::calls::ShippingRequest {
    let mut r = plugins_support::shipping_request(1);
    r.basket.id = Some(id.to_string());
    r.basket.total_weight_grams = grams;
    r.customer.email = Some("ada.lovelace@example.com".into());
    r.address.as_mut().unwrap().lines = vec!["12 Lovelace Lane".into()];
    r
}

async fn a_day_of_quotes_replayed(backend: Backend) {
    let Shop {
        app,
        admin,
        directory,
        trust,
        _dir,
    } = shop(backend, 0, |_| {}).await;
    let registry = app.state.plugins.registry().clone();

    // Off by default: calls leave nothing behind.
    registry.quote_shipping(PLUGIN, &request(999, 500)).unwrap();
    flush(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM plugin_trace").await, 0);

    // The switch: a bad mode is refused, `all` is saved, audited and shown.
    let bad = post(
        &admin,
        "/dashboard/plugins/weight-band-shipping/trace/",
        &[("mode", "some")],
    )
    .await;
    assert_eq!(bad.status, 303);
    let detail = admin.get("/dashboard/plugins/weight-band-shipping/").await;
    assert!(
        detail.body.contains("is not a trace mode"),
        "{}",
        detail.body
    );
    let saved = post(
        &admin,
        "/dashboard/plugins/weight-band-shipping/trace/",
        &[("mode", "all")],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let detail = admin.get("/dashboard/plugins/weight-band-shipping/").await;
    assert!(
        detail
            .body
            .contains("<strong id=\"trace-mode\">all</strong>"),
        "{}",
        detail.body
    );
    assert!(
        detail.body.contains("id=\"shadow-run\""),
        "0.2.0 offered for a shadow run"
    );
    let audited: Option<String> = sqlx::query_scalar(
        "SELECT after_json FROM audit_log WHERE action = 'plugin.trace' AND object_id = $1",
    )
    .bind(PLUGIN)
    .fetch_optional(&app.state.db.pool)
    .await
    .unwrap();
    assert!(audited.expect("audited").contains("\"trace_mode\":\"all\""));

    // A day of quotes: one basket an hour, three of them over the top band (no quote in 0.1.0).
    let weights: [u64; 8] = [400, 900, 2_500, 4_999, 12_000, 19_999, 20_001, 35_000];
    let mut heavy_baskets = BTreeSet::new();
    for hour in 0..24i64 {
        let grams = weights[(hour as usize * 5) % weights.len()];
        if grams > 20_000 {
            heavy_baskets.insert(100 + hour);
        }
        registry
            .quote_shipping(PLUGIN, &request(100 + hour, grams))
            .unwrap();
    }
    assert!(!heavy_baskets.is_empty() && heavy_baskets.len() < 24);
    flush(&app).await;
    let rows = trace::for_plugin(&app.state.db, PLUGIN, None, 1000)
        .await
        .unwrap();
    assert_eq!(rows.len(), 24);
    for r in &rows {
        assert_eq!(
            (r.plugin_version.as_str(), r.call.as_str()),
            ("0.1.0", "quote")
        );
        assert!(r.basket_id.is_some());
        // Personal data masked; what a shipping rule reads kept.
        assert!(!r.input.contains("ada.lovelace"), "{}", r.input);
        assert!(!r.input.contains("Lovelace Lane"), "{}", r.input);
        assert!(r.input.contains("***@example.com"), "{}", r.input);
        assert!(r.input.contains("SW1A 1AA"), "{}", r.input);
        assert!(r.memory_peak_bytes > 0);
    }
    let heavy_ids: BTreeSet<i64> = rows
        .iter()
        .filter(|r| heavy_baskets.contains(&r.basket_id.unwrap()))
        .map(|r| r.id)
        .collect();
    assert!(
        rows.iter()
            .filter(|r| heavy_ids.contains(&r.id))
            .all(|r| r.output == Ok("[]".to_string()))
    );

    // The shadow run from the dashboard names exactly the changed decisions.
    let report = post(
        &admin,
        "/dashboard/plugins/weight-band-shipping/replay/",
        &[("version", "0.2.0")],
    )
    .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert!(
        report.body.contains(&format!(
            "id=\"replay-changed\">{} changed",
            heavy_ids.len()
        )),
        "{}",
        report.body
    );
    assert!(report.body.contains(&format!(
        "<strong>{} unchanged</strong>",
        24 - heavy_ids.len()
    )));
    for r in &rows {
        assert_eq!(
            report.body.contains(&format!("id=\"changed-{}\"", r.id)),
            heavy_ids.contains(&r.id),
            "trace {} (basket {:?})",
            r.id,
            r.basket_id
        );
    }
    assert!(
        report
            .body
            .contains("Review the upgrade to weight-band-shipping@0.2.0")
    );

    // The same through the library the CLI calls, with the differences spelled out.
    let report = replay::replay(
        &app.state.db,
        &app.state.plugins,
        PLUGIN,
        Candidate::Directory {
            directory: &directory,
            version: semver::VersionReq::parse("=0.2.0").unwrap(),
            trust: &trust,
        },
        &ReplayScope::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.candidate, "weight-band-shipping@0.2.0");
    assert_eq!(report.recorded_versions, vec!["0.1.0".to_string()]);
    assert_eq!(
        (report.recorded, report.replayed, report.skipped),
        (24, 24, 0)
    );
    assert_eq!(report.unchanged, 24 - heavy_ids.len());
    let changed: BTreeSet<i64> = report.changed.iter().map(|c| c.trace.id).collect();
    assert_eq!(changed, heavy_ids);
    for c in &report.changed {
        assert!(
            c.differences[0].starts_with("[0]: (absent) → {"),
            "{:?}",
            c.differences
        );
        assert!(
            c.differences[0].contains("\"charge_excl_tax\":\"15.00\""),
            "{:?}",
            c.differences
        );
    }
    // The shadow run installed nothing and recorded nothing.
    assert_eq!(
        app.state
            .plugins
            .registry()
            .status(PLUGIN)
            .unwrap()
            .plugin
            .version
            .to_string(),
        "0.1.0"
    );
    flush(&app).await;
    assert_eq!(count(&app, "SELECT COUNT(*) FROM plugin_trace").await, 24);
    // A candidate of another plugin is refused.
    let wrong = replay::replay(
        &app.state.db,
        &app.state.plugins,
        "flat-rate-shipping",
        Candidate::Package(&support::repo_root().join("target/plugins/weight-band-shipping")),
        &ReplayScope::default(),
    )
    .await
    .unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("not a version of flat-rate-shipping"),
        "{wrong}"
    );

    // The upgrade goes live after the shadow run; recording carries on with the new version.
    service::upgrade(
        &app.state.db,
        &app.state.plugins,
        emporium::audit::Actor::CommandLine,
        &directory,
        PLUGIN,
        &semver::VersionReq::parse("=0.2.0").unwrap(),
        &trust,
    )
    .await
    .unwrap();
    let status = app.state.plugins.registry().status(PLUGIN).unwrap();
    assert_eq!(status.plugin.version.to_string(), "0.2.0");
    assert_eq!(status.trace_mode, TraceMode::All);
    let heavy = registry
        .quote_shipping(PLUGIN, &request(500, 30_000))
        .unwrap();
    assert_eq!(heavy[0].charge_excl_tax.to_string(), "15.00");
    flush(&app).await;
    let newest = trace::for_plugin(&app.state.db, PLUGIN, None, 1000)
        .await
        .unwrap();
    assert_eq!(newest.last().unwrap().plugin_version, "0.2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_quotes_replayed_sqlite() {
    a_day_of_quotes_replayed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_of_quotes_replayed_postgres() {
    a_day_of_quotes_replayed(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_decisions_page_explains_its_shipping_price() {
    let Shop { app, admin, .. } = shop(Backend::Sqlite, 0, |_| {}).await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    app.install_plugin("tiered-pricing", &[], &[]).await;
    for id in [PLUGIN, "test-card-gateway", "tiered-pricing"] {
        service::set_trace_mode(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            id,
            TraceMode::All,
        )
        .await
        .unwrap();
    }
    let product = emporium::fixtures::ProductBuilder::new()
        .title("Heavy Anvil")
        .price("20.00")
        .stock(5)
        .create(&app.state.db)
        .await
        .unwrap();
    let b = app.browser();
    add(&b, product.id, 1).await;
    let preview = to_preview(&b, Some("ada@example.com"), None, "test-card-gateway").await;
    let done = place(&b, &preview, Some(GOOD_CARD)).await;
    assert_eq!(
        done.location.as_deref(),
        Some("/checkout/thank-you/"),
        "{}",
        done.body
    );
    let number = app.scalar_text("SELECT number FROM shop_order").await;

    let order = admin.get(&format!("/dashboard/orders/{number}/")).await;
    // (Template output escapes `/` as `&#x2f;`.)
    assert!(
        order.body.contains(&format!(
            "&#x2f;dashboard&#x2f;orders&#x2f;{number}&#x2f;decisions&#x2f;"
        )),
        "{}",
        order.body
    );
    let page = admin
        .get(&format!("/dashboard/orders/{number}/decisions/"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("weight-band-shipping@0.1.0"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<code>quote</code>"));
    assert!(page.body.contains("Standard delivery: "), "{}", page.body);
    assert!(
        page.body.contains("<code>authorize</code>"),
        "the payment's decision too"
    );
    // The prices the basket's lines were given, by the pricing strategy.
    assert!(page.body.contains("tiered-pricing@0.1.0"), "{}", page.body);
    assert!(page.body.contains("<code>price</code>"));
    // Masked: no card number, no street line, no mailbox.
    assert!(!page.body.contains(GOOD_CARD));
    assert!(!page.body.contains("St James"));
    assert!(!page.body.contains("ada@example.com"));
    assert!(page.body.contains("***@example.com"));

    // Another order with nothing recorded says how to record.
    let none = admin.get("/dashboard/orders/NOPE-1/decisions/").await;
    assert_eq!(none.status, 404);
    // Partner users cannot see a whole basket's decisions.
    add_staff(&app, "partner@example.com", Role::Partner, &["demo"]).await;
    let partner = staff_browser(&app, "partner@example.com").await;
    let refused = partner
        .get(&format!("/dashboard/orders/{number}/decisions/"))
        .await;
    assert!(matches!(refused.status, 403 | 404), "{}", refused.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_mode_keeps_baskets_whole_and_the_store_stays_bounded() {
    let Shop { app, .. } = shop(Backend::Sqlite, 0, |c| {
        c.plugin_trace_sample_percent = 40;
    })
    .await;
    service::set_trace_mode(
        &app.state.db,
        &app.state.plugins,
        emporium::audit::Actor::CommandLine,
        PLUGIN,
        TraceMode::Sampled,
    )
    .await
    .unwrap();
    let registry = app.state.plugins.registry().clone();
    for basket in 0..200i64 {
        for _ in 0..3 {
            registry
                .quote_shipping(PLUGIN, &request(basket, 700))
                .unwrap();
        }
    }
    flush(&app).await;
    let per_basket: Vec<(i64, i64)> =
        sqlx::query_as("SELECT basket_id, COUNT(*) FROM plugin_trace GROUP BY basket_id")
            .fetch_all(&app.state.db.pool)
            .await
            .unwrap();
    assert!(per_basket.iter().all(|(_, n)| *n == 3), "{per_basket:?}");
    assert!(
        (40..=120).contains(&per_basket.len()),
        "{} of 200 baskets",
        per_basket.len()
    );

    // Size bound: the oldest go first until the rest fit in nine tenths of it.
    let total = count(
        &app,
        "SELECT CAST(SUM(size_bytes) AS BIGINT) FROM plugin_trace",
    )
    .await;
    let newest = count(&app, "SELECT MAX(id) FROM plugin_trace").await;
    let settings = TraceSettings {
        max_bytes: u64::try_from(total / 2).unwrap(),
        ..TraceSettings::default()
    };
    let pruned = trace::prune(&app.state.db, &settings).await.unwrap();
    assert!(pruned.over_size > 0 && pruned.expired == 0, "{pruned:?}");
    let left = count(
        &app,
        "SELECT CAST(SUM(size_bytes) AS BIGINT) FROM plugin_trace",
    )
    .await;
    assert!(left <= total / 2 / 10 * 9, "{left} of {total}");
    assert_eq!(
        count(&app, "SELECT MAX(id) FROM plugin_trace").await,
        newest
    );

    // Age bound.
    sqlx::query("UPDATE plugin_trace SET recorded_at = '2020-01-01T00:00:00.000Z' WHERE id < $1")
        .bind(newest)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let pruned = trace::prune(&app.state.db, &TraceSettings::default())
        .await
        .unwrap();
    assert!(pruned.expired > 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM plugin_trace").await, 1);
}
