//! Load benchmark of the dashboard's two big lists, on PostgreSQL over HTTP on loopback
//! against the real app, with `STAFF` signed-in staff browsing at once:
//! - the order list over `ORDERS` orders with random filters (status, email search, number,
//!   date ranges, deep pages, payment state, total range);
//! - the product list over `PRODUCTS` demo products (standalone, parents with variants) with
//!   random title and UPC searches, class and structure filters and deep pages.
//!
//! Reports requests/s and p50/p99 for each.
//!
//! Run from the repo root:
//!   cargo bench -p emporium --bench dashboard_load
//! env: ORDERS=100000  PRODUCTS=100000  STAFF=8  SECONDS=10
//!      PG_ADMIN=postgres://postgres@127.0.0.1:5432/postgres

use std::time::{Duration, Instant};

use emporium::infra::config::Config;
use sqlx::Connection;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// A small deterministic generator, so every run asks for the same mix.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// `ORDERS` orders over the last 90 days, one line each from the demo's stock, written with
/// set-based SQL (a checkout per order would take hours).
async fn seed(pool: &sqlx::AnyPool, orders: i64) {
    let statements = [
        format!(
            "INSERT INTO basket (owner_id, status, created_at, updated_at) \
             SELECT NULL, 'submitted', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' \
             FROM generate_series(1, {orders})"
        ),
        "INSERT INTO shop_order (number, basket_id, email, status, currency, lines_excl_minor, \
         lines_incl_minor, shipping_excl_minor, shipping_incl_minor, total_excl_minor, \
         total_incl_minor, shipping_plugin, shipping_code, shipping_name, shipping_address, \
         billing_address, placed_at) \
         SELECT (100000 + b.id)::text, b.id, 'shopper' || (b.id % 5000) || '@example.com', \
         (ARRAY['Pending','Being processed','Shipped','Complete','Cancelled'])[1 + b.id % 5], \
         'GBP', 1000 + b.id % 9000, 1000 + b.id % 9000, 495, 495, 1495 + b.id % 9000, \
         1495 + b.id % 9000, 'flat-rate-shipping', 'standard', 'Standard delivery', \
         '{\"name\":\"Ada\",\"line1\":\"1 High St\",\"city\":\"London\",\"postcode\":\"SW1A 1AA\",\"country\":\"GB\"}', \
         '{\"name\":\"Ada\",\"line1\":\"1 High St\",\"city\":\"London\",\"postcode\":\"SW1A 1AA\",\"country\":\"GB\"}', \
         to_char(TIMESTAMP '2026-12-01' - (b.id % 90) * INTERVAL '1 day' - (b.id % 86400) * INTERVAL '1 second', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
         FROM basket b WHERE b.status = 'submitted'"
            .to_owned(),
        "INSERT INTO order_line (order_id, product_id, stock_record_id, partner_name, partner_sku, \
         title, quantity, unit_excl_minor, unit_incl_minor, line_excl_minor, line_incl_minor, status) \
         SELECT o.id, sr.product_id, sr.id, 'Emporium Warehouse', sr.partner_sku, 'A product', 1, \
         1000, 1000, 1000, 1000, 'Pending' FROM shop_order o \
         JOIN stock_record sr ON sr.id = (SELECT MIN(id) FROM stock_record) + o.id % 100"
            .to_owned(),
        // A card payment per order: a third captured, a tenth of those partly refunded.
        "INSERT INTO payment_source (order_id, plugin_id, reference, currency, allocated_minor, \
         debited_minor, refunded_minor, label) SELECT o.id, 'test-card-gateway', 'tc_' || o.number, \
         'GBP', o.total_incl_minor, CASE WHEN o.id % 3 = 0 THEN o.total_incl_minor ELSE 0 END, \
         CASE WHEN o.id % 30 = 0 THEN 495 ELSE 0 END, 'Card ending 4242' FROM shop_order o"
            .to_owned(),
        // What autovacuum does to a shop's tables in its first minutes: the statistics, and
        // the visibility map that lets a count or a page be read from an index alone.
        "VACUUM (ANALYZE)".to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .expect("seeding orders");
    }
}

/// Demo products a load of `demo::load` makes (a catalogue with every kind of product,
/// category, class and image); the rest of `PRODUCTS` are copies of its standalone products.
const DEMO_PRODUCTS: u32 = 500;

/// Grows the demo catalogue to about `products` products with set-based SQL: each standalone
/// demo product is copied with its stock record and categories under a new title, slug, UPC
/// and SKU (`demo::load` makes one product at a time, which takes hours at 100,000).
async fn grow_catalogue(pool: &sqlx::AnyPool, products: u32) {
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM product")
        .fetch_one(pool)
        .await
        .unwrap();
    let standalone: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM product WHERE structure = 'standalone'")
            .fetch_one(pool)
            .await
            .unwrap();
    let copies = (i64::from(products) - have).max(0) / standalone.max(1);
    if copies == 0 {
        return;
    }
    let statements = [
        format!(
            "INSERT INTO product (structure, product_class_id, upc, title, slug, description, \
             is_public, priority, weight_grams, created_at, updated_at) \
             SELECT 'standalone', p.product_class_id, p.upc || '-' || k, p.title || ' ' || k, \
             p.slug || '-' || k, p.description, p.is_public, p.priority, p.weight_grams, \
             p.created_at, p.updated_at \
             FROM product p CROSS JOIN generate_series(1, {copies}) k \
             WHERE p.structure = 'standalone' AND p.upc NOT LIKE '%-%'"
        ),
        "INSERT INTO stock_record (product_id, partner_id, partner_sku, currency, price_minor, \
         num_in_stock, num_allocated, low_stock_threshold, updated_at) \
         SELECT c.id, sr.partner_id, sr.partner_sku || '-' || split_part(c.upc, '-', 2), \
         sr.currency, sr.price_minor, sr.num_in_stock, 0, sr.low_stock_threshold, sr.updated_at \
         FROM product c JOIN product o ON o.upc = split_part(c.upc, '-', 1) \
         JOIN stock_record sr ON sr.product_id = o.id WHERE c.upc LIKE '%-%'"
            .to_owned(),
        "INSERT INTO product_category (product_id, category_id) \
         SELECT c.id, pc.category_id FROM product c JOIN product o \
         ON o.upc = split_part(c.upc, '-', 1) JOIN product_category pc ON pc.product_id = o.id \
         WHERE c.upc LIKE '%-%'"
            .to_owned(),
        // What autovacuum does to a shop's tables in its first minutes: the statistics, and
        // the visibility map that lets a count or a page be read from an index alone.
        "VACUUM (ANALYZE)".to_owned(),
    ];
    for sql in statements {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .expect("growing the catalogue");
    }
}

fn token(body: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let at = body.find(marker).expect("a CSRF token") + marker.len();
    body[at..at + body[at..].find('"').unwrap()].to_owned()
}

fn main() {
    let orders: i64 = env_or("ORDERS", 100_000);
    let products: u32 = env_or("PRODUCTS", 100_000);
    let staff: usize = env_or("STAFF", 8);
    let seconds: u64 = env_or("SECONDS", 10);
    let admin = std::env::var("PG_ADMIN")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let name = format!("emporium_bench_dashboard_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (base_url, _) = admin.rsplit_once('/').unwrap();
        let data = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let config = Config {
            data_dir: data.path().to_path_buf(),
            database_url: Some(format!("{base_url}/{name}")),
            themes_dir: root.join("themes"),
            db_max_connections: 16,
            ..Config::default()
        };
        let currency = config.default_currency().unwrap();
        let state = emporium::app::build_state(config).await.unwrap();
        let started = Instant::now();
        emporium::demo::load(
            &state.db.pool,
            products.min(DEMO_PRODUCTS),
            currency,
            &state.media,
            false,
        )
        .await
        .unwrap();
        grow_catalogue(&state.db.pool, products).await;
        let seeded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM product")
            .fetch_one(&state.db.pool)
            .await
            .unwrap();
        println!("seeded {seeded} products in {:.1} s", started.elapsed().as_secs_f64());
        let started = Instant::now();
        seed(&state.db.pool, orders).await;
        println!("seeded {orders} orders in {:.1} s", started.elapsed().as_secs_f64());
        emporium::staff::add(&state.db, "bench@example.com", "bench password", emporium::staff::Role::Admin, &[])
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(emporium::server::serve(state.clone(), listener));

        // Signed in one after another: the sign-in throttle counts attempts on one account
        // before it checks them, so eight at once would lock it.
        let mut clients = Vec::new();
        for _ in 0..staff {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap();
            let login = client.get(format!("{base}/dashboard/login/")).send().await.unwrap();
            let t = token(&login.text().await.unwrap());
            let signed_in = client
                .post(format!("{base}/dashboard/login/"))
                .header("origin", &base)
                .form(&[
                    ("csrf_token", t.as_str()),
                    ("email", "bench@example.com"),
                    ("password", "bench password"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(signed_in.status().as_u16(), 303);
            clients.push(client);
        }
        let classes: Vec<i64> = sqlx::query_scalar("SELECT id FROM product_class ORDER BY id")
            .fetch_all(&state.db.pool)
            .await
            .unwrap();
        let top_level: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM product WHERE parent_id IS NULL")
                .fetch_one(&state.db.pool)
                .await
                .unwrap();
        let order_paths = move |rng: &mut Rng| {
            let statuses = ["Pending", "Being processed", "Shipped", "Complete", "Cancelled"];
            let payments = ["captured", "authorised", "refunded"];
            match rng.below(7) {
                5 => ("payment state", format!("/dashboard/orders/?payment={}", payments[rng.below(3) as usize])),
                6 => ("total range", format!(
                    "/dashboard/orders/?min_total={}&max_total={}",
                    20 + rng.below(40),
                    70 + rng.below(30)
                )),
                0 => ("status", format!(
                    "/dashboard/orders/?status={}",
                    statuses[rng.below(5) as usize].replace(' ', "+")
                )),
                1 => ("email search", format!("/dashboard/orders/?q=shopper{}%40example.com", rng.below(5000))),
                2 => ("number search", format!("/dashboard/orders/?q={}", 100_001 + rng.below(orders as u64))),
                3 => {
                    let day = 1 + rng.below(28);
                    ("date range", format!(
                        "/dashboard/orders/?from=2026-11-{day:02}&to=2026-11-{:02}",
                        (day + 2).min(30)
                    ))
                }
                _ => ("page", format!("/dashboard/orders/?page={}", 1 + rng.below(200))),
            }
        };
        let product_pages = (top_level as u64).div_ceil(50).max(1);
        let product_paths = move |rng: &mut Rng| {
            let words = ["Classic", "Harbour", "Midnight", "linen", "Vintage", "by"];
            match rng.below(6) {
                0 => ("title search", format!("/dashboard/catalogue/?q={}", words[rng.below(6) as usize])),
                // The demo's UPCs: 5, the product's number in 7 digits, the variant in 4.
                1 => ("upc search", format!(
                    "/dashboard/catalogue/?q=5{:07}0000",
                    1 + rng.below(u64::from(products))
                )),
                2 => ("class", format!(
                    "/dashboard/catalogue/?class={}&page={}",
                    classes[rng.below(classes.len() as u64) as usize],
                    1 + rng.below(20)
                )),
                3 => ("children", format!("/dashboard/catalogue/?structure=child&page={}", 1 + rng.below(50))),
                _ => ("page", format!("/dashboard/catalogue/?page={}", 1 + rng.below(product_pages))),
            }
        };
        let (rate, p50, p99, kinds) = load(&clients, &base, seconds, order_paths).await;
        println!(
            "dashboard order list, {orders} orders, {staff} staff: {rate:.0} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
        print!("{kinds}");
        let (rate, p50, p99, kinds) = load(&clients, &base, seconds, product_paths).await;
        println!(
            "dashboard product list, {products} products, {staff} staff: {rate:.0} req/s, p50 {p50:.1} ms, p99 {p99:.1} ms"
        );
        print!("{kinds}");
        state.db.pool.close().await;
        if std::env::var_os("KEEP_DB").is_some() {
            println!("kept the database {base_url}/{name}");
            return;
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
            .execute(&mut conn)
            .await
            .unwrap();
    });
}

/// Every client asks for `paths` (a kind of request and its path) one request after another
/// for `seconds`: (requests/s, p50 ms, p99 ms, a line per kind with its own p50 and p99).
async fn load<F>(
    clients: &[reqwest::Client],
    base: &str,
    seconds: u64,
    paths: F,
) -> (f64, f64, f64, String)
where
    F: Fn(&mut Rng) -> (&'static str, String) + Clone + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (n, client) in clients.iter().cloned().enumerate() {
        let (base, paths) = (base.to_owned(), paths.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let (kind, path) = paths(&mut rng);
                let at = Instant::now();
                let r = client.get(format!("{base}{path}")).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200, "{path}");
                r.bytes().await.unwrap();
                latencies.push((kind, at.elapsed()));
            }
            latencies
        }));
    }
    let mut by_kind: std::collections::BTreeMap<&str, Vec<Duration>> = Default::default();
    let mut all = Vec::new();
    for task in tasks {
        for (kind, latency) in task.await.unwrap() {
            by_kind.entry(kind).or_default().push(latency);
            all.push(latency);
        }
    }
    all.sort_unstable();
    let mut kinds = String::new();
    for (kind, mut latencies) in by_kind {
        latencies.sort_unstable();
        kinds.push_str(&format!(
            "  {kind:<14} {:>5} requests, p50 {:.1} ms, p99 {:.1} ms\n",
            latencies.len(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99)
        ));
    }
    (
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        kinds,
    )
}
