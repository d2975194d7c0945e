//! The storefront over HTTP against the real app on SQLite and on PostgreSQL: the right
//! products, prices, variants, pagination and sorting; clean 4xx pages for bad input.

mod support;

use support::{Backend, Options, TestApp};

/// Escapes text the way the templates' HTML auto-escaping does.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// Asserts each needle occurs in `haystack`, in this order.
fn assert_in_order(haystack: &str, needles: &[String]) {
    let mut from = 0;
    for needle in needles {
        match haystack[from..].find(needle.as_str()) {
            Some(at) => from += at + needle.len(),
            None => panic!("{needle:?} missing or out of order (searched from byte {from})"),
        }
    }
}

async fn titles(app: &TestApp, sql: &'static str, bind: &str) -> Vec<String> {
    use sqlx::Row;
    sqlx::query(sql)
        .bind(bind.to_owned())
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| html(&r.try_get::<String, _>(0).unwrap()))
        .collect()
}

const CATEGORY_BY_TITLE: &str = "SELECT p.title FROM product p \
     JOIN product_category pc ON pc.product_id = p.id JOIN category c ON c.id = pc.category_id \
     WHERE c.full_slug LIKE $1 AND p.parent_id IS NULL ORDER BY p.title, p.id";

const CATEGORY_BY_PRICE: &str = "SELECT p.title FROM product p \
     JOIN product_category pc ON pc.product_id = p.id JOIN category c ON c.id = pc.category_id \
     WHERE c.full_slug LIKE $1 AND p.parent_id IS NULL ORDER BY \
     (SELECT MIN(sr.price_minor) FROM stock_record sr JOIN product x ON x.id = sr.product_id \
      WHERE x.id = p.id OR x.parent_id = p.id), p.id";

both_backends!(
    home_page_lists_products_and_categories,
    |app: TestApp| async move {
        let (status, body) = app.get("/").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Emporium Demo"));
        for category in ["Clothing", "Books", "Coffee"] {
            assert!(body.contains(category), "{category} missing from home");
        }
        let top = app
        .scalar_text(
            "SELECT title FROM product WHERE parent_id IS NULL ORDER BY priority DESC, id LIMIT 1",
        )
        .await;
        assert!(body.contains(&html(&top)), "featured product {top} missing");
    }
);

both_backends!(
    category_pages_sort_and_paginate,
    |app: TestApp| async move {
        // Books in the whole "books" subtree, by title: page 1 then page 2 (page size 12).
        let expected = titles(&app, CATEGORY_BY_TITLE, "books%").await;
        assert!(
            expected.len() > 24,
            "demo should have more than two pages of books"
        );
        let (status, page1) = app.get("/catalogue/category/books/?sort=title").await;
        assert_eq!(status, 200);
        assert_in_order(&page1, &expected[..12]);
        assert!(
            !page1.contains(&format!(">{}<", expected[12])),
            "page 1 shows item 13"
        );
        assert!(page1.contains(&format!("{} products", expected.len())));
        let (status, page2) = app
            .get("/catalogue/category/books/?sort=title&page=2")
            .await;
        assert_eq!(status, 200);
        assert_in_order(&page2, &expected[12..24]);

        // Price order matches the stock records.
        let by_price = titles(&app, CATEGORY_BY_PRICE, "books/fiction%").await;
        let (status, priced) = app
            .get("/catalogue/category/books/fiction/?sort=price-asc")
            .await;
        assert_eq!(status, 200);
        assert_in_order(&priced, &by_price[..by_price.len().min(12)]);

        // A leaf category only shows its own products.
        let crime = titles(&app, CATEGORY_BY_TITLE, "books/fiction/crime").await;
        let history = titles(&app, CATEGORY_BY_TITLE, "books/non-fiction/history").await;
        let (_, crime_page) = app
            .get("/catalogue/category/books/fiction/crime/?sort=title")
            .await;
        assert_in_order(&crime_page, &crime[..crime.len().min(12)]);
        assert!(!crime_page.contains(&format!(">{}<", history[0])));

        // Past the last page is a 404, not an empty page.
        let (status, _) = app.get("/catalogue/category/books/?page=99").await;
        assert_eq!(status, 404);
    }
);

both_backends!(
    product_pages_show_variants_prices_and_attributes,
    |app: TestApp| async move {
        use sqlx::Row;
        // A coffee parent with two bag sizes.
        let row = sqlx::query(
        "SELECT p.id, p.slug, p.title FROM product p JOIN product_class c ON c.id = p.product_class_id \
         WHERE c.name = 'Coffee' AND p.structure = 'parent' ORDER BY p.id LIMIT 1",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
        let (id, slug, title): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
        let children = sqlx::query(
            "SELECT ch.id, ch.slug, ch.title, sr.price_minor, sr.num_in_stock FROM product ch \
         JOIN stock_record sr ON sr.product_id = ch.id WHERE ch.parent_id = $1 ORDER BY ch.id",
        )
        .bind(id)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap();
        assert_eq!(children.len(), 2);
        let (status, body) = app.get(&format!("/catalogue/{slug}_{id}/")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&html(&title)));
        assert!(body.contains("Roast"), "attributes missing");
        for child in &children {
            let child_title: String = child.get(2);
            let pence: i64 = child.get(3);
            assert!(
                body.contains(&html(&child_title)),
                "variant {child_title} missing"
            );
            let price = format!("£{}.{:02}", pence / 100, pence % 100);
            assert!(body.contains(&price), "variant price {price} missing");
        }
        // A child page shows its own price and availability.
        let child = &children[1];
        let (cid, cslug, pence, stock): (i64, String, i64, i64) =
            (child.get(0), child.get(1), child.get(3), child.get(4));
        let (status, body) = app.get(&format!("/catalogue/{cslug}_{cid}/")).await;
        assert_eq!(status, 200);
        assert!(body.contains(&format!("£{}.{:02}", pence / 100, pence % 100)));
        let expected_availability = if stock == 0 {
            "Out of stock".to_owned()
        } else if stock <= 5 {
            format!("Only {stock} left")
        } else {
            format!("In stock ({stock} available)")
        };
        assert!(
            body.contains(&expected_availability),
            "{expected_availability} missing"
        );
        // A wrong slug redirects to the canonical address.
        let response = app
            .get_response(&format!("/catalogue/old-name_{id}/"))
            .await;
        assert_eq!(response.status().as_u16(), 308);
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("/catalogue/{slug}_{id}/")
        );
    }
);

both_backends!(search_finds_by_title_and_upc, |app: TestApp| async move {
    let title = app
        .scalar_text("SELECT title FROM product WHERE structure = 'standalone' ORDER BY id LIMIT 1")
        .await;
    let upc = app
        .scalar_text("SELECT upc FROM product WHERE structure = 'standalone' ORDER BY id LIMIT 1")
        .await;
    let term: String = title.split_whitespace().last().unwrap().to_owned();
    let (status, body) = app.get(&format!("/search?q={}", urlencode(&title))).await;
    assert_eq!(status, 200);
    assert!(body.contains(&html(&title)), "search by title; term {term}");
    let (_, body) = app.get(&format!("/search?q={upc}")).await;
    assert!(body.contains(&html(&title)), "search by UPC");
    let (status, body) = app.get("/search?q=%25%25%25_").await;
    assert_eq!(status, 200);
    assert!(body.contains("0 products") || !body.contains("class=\"product-grid\""));
});

both_backends!(
    unknown_addresses_are_friendly_404s,
    |app: TestApp| async move {
        for path in [
            "/catalogue/category/no-such-category/",
            "/catalogue/nothing_999999/",
            "/catalogue/not-a-product/",
            "/no/such/page",
            "/static/css/missing.css",
        ] {
            let response = app.get_response(path).await;
            assert_eq!(response.status().as_u16(), 404, "{path}");
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let body = response.text().await.unwrap();
            assert!(
                body.contains("Emporium Demo"),
                "{path}: the 404 page uses the theme"
            );
        }
    }
);

both_backends!(bad_input_gets_clean_4xx_pages, |app: TestApp| async move {
    let long = "x".repeat(10 * 1024);
    let cases = [
        "/catalogue/category/books/?page=-1".to_owned(),
        "/catalogue/category/books/?page=abc".to_owned(),
        "/catalogue/category/books/?page=0".to_owned(),
        "/catalogue/category/books/?page=99999999999999999999".to_owned(),
        "/catalogue/category/books/?sort=price%3B%20DROP%20TABLE%20product".to_owned(),
        "/search?q=tee&sort=nope".to_owned(),
        format!("/search?q={long}"),
        format!("/catalogue/category/books/?{long}=1"),
        "/catalogue/%FF%FE_1/".to_owned(),
        "/catalogue/category/%C3%28/".to_owned(),
    ];
    for path in cases {
        let response = app.get_response(&path).await;
        let status = response.status().as_u16();
        let shown = &path[..path.len().min(60)];
        assert!((400..500).contains(&status), "{shown} gave {status}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{shown}: not an HTML error page"
        );
        let body = response.text().await.unwrap();
        assert!(
            body.contains("Emporium Demo"),
            "{shown}: error page is themed"
        );
    }
    // Undecodable search text is searched for as it decodes (replacement characters): no error.
    assert_eq!(app.get("/search?q=%FF").await.0, 200);
    // The shop is still fine afterwards.
    assert_eq!(app.get("/").await.0, 200);
});

both_backends!(
    static_files_are_cached_and_pages_compressed,
    |app: TestApp| async move {
        let (_, home) = app.get("/").await;
        let css = home
            .split('"')
            .find(|s| s.starts_with("/static/css/shop.css?v="))
            .expect("versioned stylesheet link")
            .replace("&amp;", "&");
        let response = app.get_response(&css).await;
        assert_eq!(response.status().as_u16(), 200);
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        let response = app
            .client
            .get(format!("{}/catalogue/category/books/", app.base))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-encoding"], "gzip");
    }
);

both_backends!(titles_are_escaped, |app: TestApp| async move {
    use emporium::catalogue::{self, NewProduct, Structure};
    let class_id = app
        .scalar_i64("SELECT id FROM product_class ORDER BY id LIMIT 1")
        .await;
    let id = catalogue::create_product(
        &app.state.db.pool,
        &NewProduct {
            structure: Structure::Standalone,
            parent_id: None,
            class_id: Some(class_id),
            upc: None,
            title: "<script>alert(1)</script> Mug",
            description: "Line one\n\n<b>bold?</b>",
            priority: 0,
            weight_grams: None,
            created_at: "2026-11-01T00:00:00Z",
        },
    )
    .await
    .unwrap();
    let (status, body) = app
        .get(&format!("/catalogue/script-alert-1-script-mug_{id}/"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("<script>alert(1)"));
    assert!(body.contains("&lt;script&gt;alert(1)"));
    assert!(body.contains("&lt;b&gt;bold?&lt;&#x2f;b&gt;"));
});

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

both_backends!(
    catalogue_changes_show_after_invalidation,
    |app: TestApp| async move {
        use emporium::catalogue::{self, NewProduct, Structure};
        let path = "/catalogue/category/coffee/blends/?sort=newest";
        let (_, before) = app.get(path).await;
        let (_, again) = app.get(path).await;
        assert_eq!(
            before, again,
            "a cookie-less visitor gets the same cached page"
        );
        let class_id = app
            .scalar_i64("SELECT id FROM product_class WHERE name = 'Coffee'")
            .await;
        let category_id = app
            .scalar_i64("SELECT id FROM category WHERE full_slug = 'coffee/blends'")
            .await;
        let id = catalogue::create_product(
            &app.state.db.pool,
            &NewProduct {
                structure: Structure::Standalone,
                parent_id: None,
                class_id: Some(class_id),
                upc: None,
                title: "Freshly Added Espresso Blend",
                description: "",
                priority: 0,
                weight_grams: None,
                created_at: "2030-01-01T00:00:00Z",
            },
        )
        .await
        .unwrap();
        catalogue::add_to_category(&app.state.db.pool, id, category_id)
            .await
            .unwrap();
        app.state.invalidate_catalogue();
        let (status, after) = app.get(path).await;
        assert_eq!(status, 200);
        assert!(
            after.contains("Freshly Added Espresso Blend"),
            "new product shown after invalidation"
        );
    }
);

/// The demo loader makes a working shop of any size, down to none at all (in a small shop
/// the recommended neighbours of a product wrap round onto each other).
async fn demo_shops_of_any_size(backend: Backend) {
    for products in [0, 1, 2, 8] {
        let app = TestApp::start_with(
            backend,
            Options {
                products,
                ..Options::default()
            },
        )
        .await;
        assert_eq!(
            app.scalar_i64("SELECT COUNT(*) FROM product WHERE parent_id IS NULL")
                .await,
            i64::from(products)
        );
        let (status, body) = app.get("/").await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shops_of_any_size_sqlite() {
    demo_shops_of_any_size(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shops_of_any_size_postgres() {
    demo_shops_of_any_size(Backend::Postgres).await;
}
