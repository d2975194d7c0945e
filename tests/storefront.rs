//! The storefront over HTTP against the real app on SQLite and on PostgreSQL: the right
//! products, prices, variants, pagination and sorting; clean 4xx pages for bad input.

mod support;

use emporium::catalogue::attributes::AttributeKind;
use emporium::fixtures::{AttributeSpec, CategoryBuilder, ClassBuilder, ProductBuilder};
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

both_backends!(
    home_page_lists_products_and_categories,
    |app: TestApp| async move {
        // Above every demo product in priority: the first featured product.
        let top = ProductBuilder::new()
            .title("Lantern & Compass Gift Set")
            .priority(100)
            .create(&app.state.db)
            .await
            .unwrap()
            .title;
        let (status, body) = app.get("/").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Emporium Demo"));
        for category in ["Clothing", "Books", "Coffee"] {
            assert!(body.contains(category), "{category} missing from home");
        }
        assert!(body.contains(&html(&top)), "featured product {top} missing");
    }
);

both_backends!(
    category_pages_sort_and_paginate,
    |app: TestApp| async move {
        // A bookshop of its own: Fiction/Crime and Non-fiction/History under a new root, with
        // 14 crime novels and 13 history books created in neither title nor price order.
        let db = &app.state.db;
        let root = CategoryBuilder::new().create(db).await.unwrap();
        let fiction = CategoryBuilder::new()
            .name("Fiction")
            .parent(&root)
            .create(db)
            .await
            .unwrap();
        let crime_shelf = CategoryBuilder::new()
            .name("Crime")
            .parent(&fiction)
            .create(db)
            .await
            .unwrap();
        let non_fiction = CategoryBuilder::new()
            .name("Non-fiction")
            .parent(&root)
            .create(db)
            .await
            .unwrap();
        let history_shelf = CategoryBuilder::new()
            .name("History")
            .parent(&non_fiction)
            .create(db)
            .await
            .unwrap();
        // (title, price in pounds) of each shelf's books.
        let mut crime: Vec<(String, u32)> = Vec::new();
        let mut history: Vec<(String, u32)> = Vec::new();
        for i in 0..27u32 {
            let number = (i * 11) % 27;
            let pounds = 5 + (i * 37) % 50;
            let (shelf, books, title) = if i % 2 == 0 {
                (&crime_shelf, &mut crime, format!("Crime Novel {number:02}"))
            } else {
                (
                    &history_shelf,
                    &mut history,
                    format!("History Book {number:02}"),
                )
            };
            ProductBuilder::new()
                .title(&title)
                .price(&format!("{pounds}.99"))
                .category(shelf)
                .create(db)
                .await
                .unwrap();
            books.push((title, pounds));
        }
        let by_title = |books: &[&(String, u32)]| {
            let mut titles: Vec<String> = books.iter().map(|(t, _)| t.clone()).collect();
            titles.sort();
            titles
        };

        // Books in the whole subtree, by title: page 1 then page 2 (page size 12).
        let expected = by_title(&crime.iter().chain(&history).collect::<Vec<_>>());
        assert_eq!(expected.len(), 27);
        let url = root.url();
        let (status, page1) = app.get(&format!("{url}?sort=title")).await;
        assert_eq!(status, 200);
        assert_in_order(&page1, &expected[..12]);
        assert!(
            !page1.contains(&format!(">{}<", expected[12])),
            "page 1 shows item 13"
        );
        assert!(page1.contains(&format!("{} products", expected.len())));
        let (status, page2) = app.get(&format!("{url}?sort=title&page=2")).await;
        assert_eq!(status, 200);
        assert_in_order(&page2, &expected[12..24]);

        // Price order matches the stock records.
        let mut by_price = crime.clone();
        by_price.sort_by_key(|(_, pounds)| *pounds);
        let by_price: Vec<String> = by_price.into_iter().map(|(t, _)| t).collect();
        let (status, priced) = app.get(&format!("{}?sort=price-asc", fiction.url())).await;
        assert_eq!(status, 200);
        assert_in_order(&priced, &by_price[..12]);

        // A leaf category only shows its own products.
        let crime_titles = by_title(&crime.iter().collect::<Vec<_>>());
        let history_titles = by_title(&history.iter().collect::<Vec<_>>());
        let (_, crime_page) = app.get(&format!("{}?sort=title", crime_shelf.url())).await;
        assert_in_order(&crime_page, &crime_titles[..12]);
        assert!(!crime_page.contains(&format!(">{}<", history_titles[0])));

        // Past the last page is a 404, not an empty page.
        let (status, _) = app.get(&format!("{url}?page=99")).await;
        assert_eq!(status, 404);
    }
);

both_backends!(
    product_pages_show_variants_prices_and_attributes,
    |app: TestApp| async move {
        // A coffee parent with two bag sizes, the larger one nearly sold out.
        let db = &app.state.db;
        let coffee = ClassBuilder::new()
            .attribute(
                AttributeSpec::new("roast", "Roast", AttributeKind::Option)
                    .choices(&["Light", "Medium", "Dark"]),
            )
            .create(db)
            .await
            .unwrap();
        let parent = ProductBuilder::parent()
            .class(&coffee)
            .title("Harbour Blend")
            .attribute("roast", "Medium")
            .variant(
                ProductBuilder::new()
                    .title("Harbour Blend – 250 g")
                    .price("8.50")
                    .stock(20)
                    .low_stock_threshold(5),
            )
            .variant(
                ProductBuilder::new()
                    .title("Harbour Blend – 1 kg")
                    .price("25.50")
                    .stock(3)
                    .low_stock_threshold(5),
            )
            .create(db)
            .await
            .unwrap();
        let (id, slug) = (parent.id, parent.slug.clone());
        let (status, body) = app.get(&parent.url()).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&html(&parent.title)));
        assert!(body.contains("Roast"), "attributes missing");
        for (child, price) in parent.variants.iter().zip(["£8.50", "£25.50"]) {
            assert!(
                body.contains(&html(&child.title)),
                "variant {} missing",
                child.title
            );
            assert!(body.contains(price), "variant price {price} missing");
        }
        // A child page shows its own price and availability.
        let (status, body) = app.get(&parent.variants[1].url()).await;
        assert_eq!(status, 200);
        assert!(body.contains("£25.50"));
        assert!(body.contains("Only 3 left"), "low stock missing");
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
    let product = ProductBuilder::new()
        .title("Enamel Lighthouse Mug")
        .create(&app.state.db)
        .await
        .unwrap();
    let (title, upc) = (product.title, product.upc);
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
    let id = ProductBuilder::new()
        .title("<script>alert(1)</script> Mug")
        .description("Line one\n\n<b>bold?</b>")
        .create(&app.state.db)
        .await
        .unwrap()
        .id;
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
        let db = &app.state.db;
        let blends = CategoryBuilder::new().create(db).await.unwrap();
        ProductBuilder::new()
            .category(&blends)
            .created_at("2026-01-01T00:00:00Z")
            .create(db)
            .await
            .unwrap();
        let path = format!("{}?sort=newest", blends.url());
        let (_, before) = app.get(&path).await;
        let (_, again) = app.get(&path).await;
        assert_eq!(
            before, again,
            "a cookie-less visitor gets the same cached page"
        );
        ProductBuilder::new()
            .title("Freshly Added Espresso Blend")
            .category(&blends)
            .created_at("2030-01-01T00:00:00Z")
            .create(db)
            .await
            .unwrap();
        app.state
            .changes
            .announce(emporium::infra::changes::Change::Catalogue);
        let (status, after) = app.get(&path).await;
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
