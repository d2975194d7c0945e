//! Sessions, CSRF, customer accounts and the basket over HTTP, against the real app on SQLite
//! and PostgreSQL (and Redis for the Redis session store).

mod support;

use emporium::fixtures::{ClassBuilder, CreatedProduct, OptionBuilder, ProductBuilder};
use sqlx::Row;
use support::{Backend, Browser, Options, Page, TestApp};

/// A standalone product with `units` in stock at £12.50.
async fn in_stock(app: &TestApp, units: i64) -> CreatedProduct {
    ProductBuilder::new()
        .price("12.50")
        .stock(units)
        .create(&app.state.db)
        .await
        .unwrap()
}

/// How the shop writes a sterling amount (`£1,234.50`), spelled out here rather than asked of
/// the money code under test.
fn gbp(pence: i64) -> String {
    assert!(pence >= 0, "the basket tests only show positive amounts");
    let pounds = (pence / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in pounds.chars().enumerate() {
        if i > 0 && (pounds.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("£{grouped}.{:02}", pence % 100)
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    app.scalar_i64(sql).await
}

/// Lines (id, quantity, saved) of every open basket, by id.
async fn lines(app: &TestApp) -> Vec<(i64, i64, bool)> {
    sqlx::query(
        "SELECT l.id, l.quantity, l.is_saved FROM basket_line l JOIN basket b ON b.id = l.basket_id \
         WHERE b.status = 'open' ORDER BY l.id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.try_get("id").unwrap(),
            r.try_get("quantity").unwrap(),
            emporium::infra::db::flag(r, "is_saved").unwrap(),
        )
    })
    .collect()
}

/// The CSRF token of the browser's session (every page has it once there is a session).
async fn token(browser: &Browser) -> String {
    browser
        .get("/basket/")
        .await
        .csrf_token()
        .expect("a session with a CSRF token")
}

async fn add(browser: &Browser, id: i64, fields: &[(&str, &str)]) -> Page {
    let path = format!("/basket/add/{id}/");
    let token = browser.get("/basket/").await.csrf_token();
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    if let Some(t) = &token {
        form.push(("csrf_token", t));
    }
    browser.post(&path, &form).await
}

both_backends!(
    add_to_basket_shows_line_and_total,
    |app: TestApp| async move {
        let p = in_stock(&app, 10).await;
        let (id, pence, url, title) = (p.id, p.price_minor(), p.url(), p.title);
        let browser = app.browser();

        // A first-time visitor: the product page offers the form, no session is made.
        let product = browser.get(&url).await;
        assert_eq!(product.status, 200);
        assert!(
            product
                .body
                .contains(&format!("action=\"&#x2f;basket&#x2f;add&#x2f;{id}&#x2f;\"")),
            "add-to-basket form missing"
        );
        assert!(
            product.set_cookie.is_empty(),
            "viewing a product must not start a session"
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM web_session").await, 0);

        let added = browser
            .post(&format!("/basket/add/{id}/"), &[("quantity", "2")])
            .await;
        assert_eq!(added.status, 303, "{}", added.body);
        assert_eq!(added.location.as_deref(), Some(url.as_str()));
        assert!(
            added
                .set_cookie
                .iter()
                .any(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax")),
            "{:?}",
            added.set_cookie
        );
        assert!(browser.session_id().is_some());

        let product = browser.get(&url).await;
        assert!(
            product.body.contains("now in your basket"),
            "flash message missing"
        );
        assert!(product.body.contains("mini-basket"), "mini-basket missing");
        assert!(
            product.body.contains(&gbp(pence * 2)),
            "mini-basket total missing"
        );
        assert!(
            product.csrf_token().is_some(),
            "the form carries the session's token"
        );
        // The flash is shown once.
        assert!(!browser.get(&url).await.body.contains("now in your basket"));

        let basket = browser.get("/basket/").await;
        assert_eq!(basket.status, 200);
        assert!(basket.body.contains(&html(&title)));
        assert!(
            basket.body.contains(&gbp(pence * 2)),
            "line total / total missing"
        );
        assert_eq!(
            lines(&app).await.iter().map(|l| l.1).collect::<Vec<_>>(),
            [2]
        );

        // Adding the same product again adds to its line.
        let t = product.csrf_token().unwrap();
        let again = browser
            .post(
                &format!("/basket/add/{id}/"),
                &[("quantity", "1"), ("csrf_token", &t)],
            )
            .await;
        assert_eq!(again.status, 303);
        assert_eq!(
            lines(&app).await.iter().map(|l| l.1).collect::<Vec<_>>(),
            [3]
        );
    }
);

both_backends!(
    options_make_separate_lines_and_required_options_are_enforced,
    |app: TestApp| async move {
        let engraving = OptionBuilder::new()
            .name("Engraving")
            .create(&app.state.db)
            .await
            .unwrap();
        let engraving_field = format!("option_{}", engraving.code);
        let engravable = ClassBuilder::new()
            .option(&engraving)
            .create(&app.state.db)
            .await
            .unwrap();
        let id = ProductBuilder::new()
            .class(&engravable)
            .create(&app.state.db)
            .await
            .unwrap()
            .id;
        let browser = app.browser();
        for engraving in ["For Ann", "For Bob", "For Ann"] {
            let page = add(
                &browser,
                id,
                &[("quantity", "1"), (engraving_field.as_str(), engraving)],
            )
            .await;
            assert_eq!(page.status, 303);
        }
        let mut quantities: Vec<i64> = lines(&app).await.iter().map(|l| l.1).collect();
        quantities.sort();
        assert_eq!(
            quantities,
            [1, 2],
            "same options share a line, other options make another"
        );
        let basket = browser.get("/basket/").await;
        assert!(basket.body.contains("For Ann") && basket.body.contains("For Bob"));

        // A required option on this product: missing → refused, nothing added.
        let monogram = OptionBuilder::new()
            .code("monogram")
            .name("Monogram")
            .required()
            .create(&app.state.db)
            .await
            .unwrap();
        emporium::catalogue::add_product_option(&app.state.db.pool, id, monogram.id)
            .await
            .unwrap();
        let before = lines(&app).await;
        let refused = add(
            &browser,
            id,
            &[("quantity", "1"), (engraving_field.as_str(), "For Cy")],
        )
        .await;
        assert_eq!(refused.status, 303);
        let shown = browser.get(refused.location.as_deref().unwrap()).await;
        assert!(
            shown.body.contains("Please fill in “Monogram”"),
            "required-option message missing"
        );
        assert_eq!(lines(&app).await, before, "nothing added");
        let ok = add(
            &browser,
            id,
            &[("quantity", "1"), ("option_monogram", "AB")],
        )
        .await;
        assert_eq!(ok.status, 303);
        assert_eq!(lines(&app).await.len(), 3);
    }
);

both_backends!(
    stock_limits_and_bad_input_change_nothing,
    |app: TestApp| async move {
        let id = in_stock(&app, 3).await.id;
        let browser = app.browser();

        // More than the stock: refused with a clear message, nothing added, no basket made.
        let refused = add(&browser, id, &[("quantity", "4")]).await;
        assert_eq!(refused.status, 303);
        let shown = browser.get(refused.location.as_deref().unwrap()).await;
        assert!(
            shown.body.contains("only 3 of"),
            "stock message missing: {}",
            shown.body.len()
        );
        assert!(lines(&app).await.is_empty());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM basket").await, 0);

        assert_eq!(add(&browser, id, &[("quantity", "3")]).await.status, 303);
        let over = add(&browser, id, &[("quantity", "1")]).await;
        assert_eq!(over.status, 303);
        assert!(
            browser
                .get(over.location.as_deref().unwrap())
                .await
                .body
                .contains("only 3 of")
        );
        assert_eq!(
            lines(&app).await.iter().map(|l| l.1).collect::<Vec<_>>(),
            [3]
        );

        // Malformed input: a clean 4xx page, nothing changed.
        let before = lines(&app).await;
        for q in [
            "-1",
            "0",
            "abc",
            "1.5",
            "1000",
            "99999999999999999999999",
            "",
        ] {
            let page = add(&browser, id, &[("quantity", q)]).await;
            assert_eq!(page.status, 400, "quantity {q:?}");
            assert!(
                page.body.contains("whole number"),
                "quantity {q:?}: friendly message"
            );
        }
        assert_eq!(
            add(&browser, 999_999, &[("quantity", "1")]).await.status,
            404
        );
        assert_eq!(add(&browser, -3, &[("quantity", "1")]).await.status, 404);
        let parent = ProductBuilder::parent()
            .variant(ProductBuilder::new())
            .create(&app.state.db)
            .await
            .unwrap();
        let (parent, child) = (parent.id, parent.variants[0].id);
        let page = add(&browser, parent, &[("quantity", "1")]).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("choose one"));
        // A child (variant) can be bought.
        assert_eq!(lines(&app).await, before);
        assert_eq!(add(&browser, child, &[("quantity", "1")]).await.status, 303);
        assert_eq!(lines(&app).await.len(), 2);
    }
);

both_backends!(
    update_remove_save_for_later_and_move_back,
    |app: TestApp| async move {
        let p = in_stock(&app, 10).await;
        let (id, pence, title) = (p.id, p.price_minor(), p.title);
        let browser = app.browser();
        assert_eq!(add(&browser, id, &[("quantity", "1")]).await.status, 303);
        let line = lines(&app).await[0].0;
        let t = token(&browser).await;

        let page = browser
            .post_and_follow(
                &format!("/basket/lines/{line}/quantity/"),
                &[("quantity", "4"), ("csrf_token", &t)],
            )
            .await;
        assert!(page.body.contains(&gbp(pence * 4)));
        assert_eq!(lines(&app).await, [(line, 4, false)]);
        assert_eq!(
            browser
                .post(
                    &format!("/basket/lines/{line}/quantity/"),
                    &[("quantity", "-2"), ("csrf_token", &t)]
                )
                .await
                .status,
            400
        );

        let page = browser
            .post_and_follow(
                &format!("/basket/lines/{line}/save/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert!(page.body.contains("Saved for later"));
        assert!(
            page.body.contains("Your basket is empty"),
            "saved lines are not in the basket"
        );
        assert!(page.body.contains(&html(&title)));
        assert_eq!(lines(&app).await, [(line, 4, true)]);

        // The same product added again while one is saved: two lines; moving back merges them.
        assert_eq!(add(&browser, id, &[("quantity", "1")]).await.status, 303);
        assert_eq!(lines(&app).await.len(), 2);
        let page = browser
            .post_and_follow(
                &format!("/basket/lines/{line}/restore/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert!(page.body.contains("moved back"));
        let now = lines(&app).await;
        assert_eq!(now.len(), 1);
        assert_eq!((now[0].1, now[0].2), (5, false));

        let line = now[0].0;
        let page = browser
            .post_and_follow(
                &format!("/basket/lines/{line}/remove/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert!(page.body.contains("Your basket is empty"));
        assert!(lines(&app).await.is_empty());
        // Gone now: removing it again is a 404.
        assert_eq!(
            browser
                .post(
                    &format!("/basket/lines/{line}/remove/"),
                    &[("csrf_token", &t)]
                )
                .await
                .status,
            404
        );
    }
);

both_backends!(
    price_changes_and_stock_drops_are_flagged,
    |app: TestApp| async move {
        let p = in_stock(&app, 10).await;
        let (id, pence) = (p.id, p.price_minor());
        let browser = app.browser();
        assert_eq!(add(&browser, id, &[("quantity", "3")]).await.status, 303);
        sqlx::query("UPDATE stock_record SET price_minor = price_minor + 100, num_in_stock = 1, num_allocated = 0 WHERE product_id = $1")
        .bind(id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        let page = browser.get("/basket/").await;
        assert!(
            page.body.contains(&format!(
                "The price has changed from {} to {}",
                gbp(pence),
                gbp(pence + 100)
            )),
            "price warning missing"
        );
        assert!(
            page.body.contains("Only 1 can be bought right now"),
            "stock warning missing"
        );
        assert!(
            page.body.contains(&gbp((pence + 100) * 3)),
            "re-priced total"
        );
    }
);

both_backends!(
    register_login_merges_basket_and_rotates_session,
    |app: TestApp| async move {
        let p = in_stock(&app, 10).await;
        let (id, title) = (p.id, p.title);
        let email = "Ann.Buyer@Example.com";

        // Register: validation errors keep the email, never the password.
        let browser = app.browser();
        let form = browser.get("/accounts/register/").await;
        assert_eq!(form.status, 200);
        let t = form.csrf_token().expect("register form has a token");
        let bad = browser
            .post(
                "/accounts/register/",
                &[
                    ("csrf_token", &t),
                    ("email", "not-an-email"),
                    ("password", "short"),
                    ("password_confirm", "short"),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(bad.body.contains("valid email address") && bad.body.contains("at least 8"));
        assert!(bad.body.contains("value=\"not-an-email\""));
        assert!(!bad.body.contains("value=\"short\""));
        let mismatch = browser
            .post(
                "/accounts/register/",
                &[
                    ("csrf_token", &t),
                    ("email", email),
                    ("password", "long enough 1"),
                    ("password_confirm", "long enough 2"),
                ],
            )
            .await;
        assert_eq!(mismatch.status, 422);
        assert!(
            mismatch.body.contains("don’t match") || mismatch.body.contains("don&#x27;t match")
        );
        let ok = browser
            .post(
                "/accounts/register/",
                &[
                    ("csrf_token", &t),
                    ("email", email),
                    ("password", "correct horse"),
                    ("password_confirm", "correct horse"),
                ],
            )
            .await;
        assert_eq!(ok.status, 303, "{}", ok.body);
        // Registering does not sign in (the answer must not tell whether the email was new).
        assert_eq!(ok.location.as_deref(), Some("/accounts/login/"));
        let login = browser.get("/accounts/login/").await;
        assert!(
            login
                .body
                .contains("sent a message to ann.buyer@example.com")
        );
        assert!(!login.body.contains("signed in as"));
        let t = login.csrf_token().unwrap();
        let first = browser
            .post(
                "/accounts/login/",
                &[
                    ("csrf_token", &t),
                    ("email", email),
                    ("password", "correct horse"),
                ],
            )
            .await;
        assert_eq!(first.status, 303, "{}", first.body);
        let home = browser.get("/").await;
        assert!(
            home.body.contains("ann.buyer@example.com"),
            "signed in after registering and signing in"
        );

        // The same email again (any case): answered like a new one, no second account.
        let other = app.browser();
        let t2 = other.get("/accounts/register/").await.csrf_token().unwrap();
        let taken = other
            .post(
                "/accounts/register/",
                &[
                    ("csrf_token", &t2),
                    ("email", " ANN.BUYER@example.com "),
                    ("password", "another pass"),
                    ("password_confirm", "another pass"),
                ],
            )
            .await;
        assert_eq!(taken.status, 303);
        assert_eq!(taken.location, ok.location);
        assert!(
            !other
                .get("/accounts/login/")
                .await
                .body
                .contains("already exists")
        );
        assert_eq!(count(&app, "SELECT COUNT(*) FROM customer").await, 1);

        // Sign out, shop anonymously, sign in: the basket comes along and the session id changes.
        let t = home.csrf_token().unwrap();
        let out = browser
            .post("/accounts/logout/", &[("csrf_token", &t)])
            .await;
        assert_eq!(out.status, 303);
        assert!(
            !browser
                .get("/")
                .await
                .body
                .contains("ann.buyer@example.com")
        );
        assert_eq!(add(&browser, id, &[("quantity", "2")]).await.status, 303);
        let anonymous_id = browser.session_id().unwrap();

        let login = browser.get("/accounts/login/?next=/basket/").await;
        let t = login.csrf_token().unwrap();
        let wrong = browser
            .post(
                "/accounts/login/",
                &[
                    ("csrf_token", &t),
                    ("email", email),
                    ("password", "wrong horse"),
                    ("next", "/basket/"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.body.contains("don’t match") || wrong.body.contains("don&#x27;t match"));
        assert!(wrong.body.contains("value=\"Ann.Buyer@Example.com\""));
        let signed_in = browser
            .post(
                "/accounts/login/",
                &[
                    ("csrf_token", &t),
                    ("email", email),
                    ("password", "correct horse"),
                    ("next", "/basket/"),
                ],
            )
            .await;
        assert_eq!(signed_in.status, 303);
        assert_eq!(signed_in.location.as_deref(), Some("/basket/"));
        let new_id = browser.session_id().unwrap();
        assert_ne!(new_id, anonymous_id, "the session id rotates on login");
        let old_rows: i64 = sqlx::query("SELECT COUNT(*) FROM web_session WHERE key = $1")
            .bind(emporium::session::store_key(&anonymous_id))
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(old_rows, 0, "the pre-login session is gone");

        let basket = browser.get("/basket/").await;
        assert!(
            basket.body.contains("now in your account"),
            "merge message missing"
        );
        assert!(basket.body.contains(&html(&title)));
        let owned: i64 = app
        .scalar_i64(
            "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM basket_line l JOIN basket b ON b.id = l.basket_id \
             JOIN customer c ON c.id = b.owner_id WHERE b.status = 'open'",
        )
        .await;
        assert_eq!(owned, 2);

        // Same customer from another device sees the same basket.
        let phone = app.browser();
        let t = phone.get("/accounts/login/").await.csrf_token().unwrap();
        assert_eq!(
            phone
                .post(
                    "/accounts/login/",
                    &[
                        ("csrf_token", &t),
                        ("email", email),
                        ("password", "correct horse")
                    ]
                )
                .await
                .status,
            303
        );
        assert!(phone.get("/basket/").await.body.contains(&html(&title)));
    }
);

both_backends!(
    csrf_missing_or_wrong_is_refused_and_changes_nothing,
    |app: TestApp| async move {
        let id = in_stock(&app, 10).await.id;

        // No session, no proof of origin: refused, nothing created.
        let stranger = app.browser();
        let page = stranger
            .post_with(&format!("/basket/add/{id}/"), &[("quantity", "1")], &[])
            .await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("Request refused"), "friendly 403 page");
        let page = stranger
            .post_with(
                &format!("/basket/add/{id}/"),
                &[("quantity", "1")],
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(page.status, 403);
        let page = stranger
            .post(
                &format!("/basket/add/{id}/"),
                &[("quantity", "1"), ("csrf_token", "forged")],
            )
            .await;
        assert_eq!(page.status, 403);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM basket").await, 0);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM web_session").await, 0);

        // With a session: the token is required.
        let browser = app.browser();
        assert_eq!(add(&browser, id, &[("quantity", "1")]).await.status, 303);
        let line = lines(&app).await[0].0;
        let t = token(&browser).await;
        let before = lines(&app).await;
        let path = format!("/basket/lines/{line}/quantity/");
        assert_eq!(browser.post(&path, &[("quantity", "3")]).await.status, 403);
        assert_eq!(
            browser
                .post(&path, &[("quantity", "3"), ("csrf_token", "0000")])
                .await
                .status,
            403
        );
        assert_eq!(
            browser
                .post(&format!("/basket/add/{id}/"), &[("quantity", "1")])
                .await
                .status,
            403
        );
        assert_eq!(
            browser
                .post(&format!("/basket/lines/{line}/remove/"), &[])
                .await
                .status,
            403
        );
        let cross = browser
            .post_with(
                &path,
                &[("quantity", "3"), ("csrf_token", &t)],
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(cross.status, 403);
        let fetch = browser
            .post_with(
                &path,
                &[("quantity", "3"), ("csrf_token", &t)],
                &[("sec-fetch-site", "cross-site")],
            )
            .await;
        assert_eq!(fetch.status, 403);
        assert_eq!(lines(&app).await, before, "nothing changed");
        // The right token works, also as a header.
        assert_eq!(
            browser
                .post(&path, &[("quantity", "3"), ("csrf_token", &t)])
                .await
                .status,
            303
        );
        assert_eq!(
            browser
                .post_with(&path, &[("quantity", "2")], &[("x-csrf-token", &t)])
                .await
                .status,
            303
        );
        assert_eq!(lines(&app).await[0].1, 2);
        // Sign-in forms are token-checked too.
        assert_eq!(
            browser
                .post(
                    "/accounts/login/",
                    &[("email", "a@b.cd"), ("password", "x")]
                )
                .await
                .status,
            403
        );
    }
);

both_backends!(
    another_sessions_line_is_not_found,
    |app: TestApp| async move {
        let id = in_stock(&app, 10).await.id;
        let alice = app.browser();
        let mallory = app.browser();
        assert_eq!(add(&alice, id, &[("quantity", "2")]).await.status, 303);
        let alice_line = lines(&app).await[0].0;
        assert_eq!(add(&mallory, id, &[("quantity", "1")]).await.status, 303);
        let t = token(&mallory).await;
        let before = lines(&app).await;
        for action in ["remove", "save", "restore"] {
            let page = mallory
                .post(
                    &format!("/basket/lines/{alice_line}/{action}/"),
                    &[("csrf_token", &t)],
                )
                .await;
            assert_eq!(page.status, 404, "{action}");
        }
        let page = mallory
            .post(
                &format!("/basket/lines/{alice_line}/quantity/"),
                &[("quantity", "9"), ("csrf_token", &t)],
            )
            .await;
        assert_eq!(page.status, 404);
        assert_eq!(
            mallory
                .post("/basket/lines/abc/remove/", &[("csrf_token", &t)])
                .await
                .status,
            404
        );
        assert_eq!(lines(&app).await, before);
        // A visitor without a basket has no lines at all.
        let nobody = app.browser();
        assert_eq!(
            nobody
                .post(&format!("/basket/lines/{alice_line}/remove/"), &[])
                .await
                .status,
            404
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_pages_cost_no_session_for_new_visitors() {
    let app = TestApp::start(Backend::Sqlite).await;
    let browser = app.browser();
    for path in [
        "/",
        "/catalogue/category/books/",
        "/search?q=coffee",
        "/basket/",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.set_cookie.is_empty(), "{path} set a cookie");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM web_session").await, 0);
    // A stale cookie is dropped, so later requests skip the lookup.
    let stale = browser
        .client
        .get(format!("{}/", app.base))
        .header(
            "cookie",
            format!("{}={}", emporium::session::COOKIE_NAME, "ab".repeat(32)),
        )
        .send()
        .await
        .unwrap();
    let cleared = stale
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(cleared.is_some_and(|c| c.contains("Max-Age=0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_session_store_end_to_end() {
    let redis_url = std::env::var("EMPORIUM_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = TestApp::start_with(
        Backend::Sqlite,
        Options {
            redis_url: Some(redis_url.clone()),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(app.state.sessions.name(), "redis");
    let p = in_stock(&app, 10).await;
    let (id, title) = (p.id, p.title);
    let browser = app.browser();
    assert_eq!(add(&browser, id, &[("quantity", "2")]).await.status, 303);
    let basket = browser.get("/basket/").await;
    assert!(basket.body.contains(&html(&title)));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM web_session").await,
        0,
        "nothing in the database"
    );

    let sid = browser.session_id().unwrap();
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("emporium:session:{}", emporium::session::store_key(&sid));
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 0, "the session is in Redis with an expiry");

    // Register, then sign in (rotates): the old key is gone, the basket came along.
    let t = browser
        .get("/accounts/register/")
        .await
        .csrf_token()
        .unwrap();
    let email = format!(
        "redis-{}@example.com",
        emporium::session::random_token().get(..8).unwrap()
    );
    let done = browser
        .post(
            "/accounts/register/",
            &[
                ("csrf_token", &t),
                ("email", &email),
                ("password", "correct horse"),
                ("password_confirm", "correct horse"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let t = browser.get("/accounts/login/").await.csrf_token().unwrap();
    let done = browser
        .post(
            "/accounts/login/",
            &[
                ("csrf_token", &t),
                ("email", &email),
                ("password", "correct horse"),
            ],
        )
        .await;
    assert_eq!(done.status, 303);
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0, "rotated away");
    let new_sid = browser.session_id().unwrap();
    assert_ne!(new_sid, sid);
    let basket = browser.get("/basket/").await;
    assert!(basket.body.contains(&html(&title)) && basket.body.contains(&email));

    // Sign out: the session is replaced again.
    let t = basket.csrf_token().unwrap();
    assert_eq!(
        browser
            .post("/accounts/logout/", &[("csrf_token", &t)])
            .await
            .status,
        303
    );
    let new_key = format!(
        "emporium:session:{}",
        emporium::session::store_key(&new_sid)
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&new_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert!(!browser.get("/basket/").await.body.contains(&email));
}

both_backends!(concurrent_adds_all_land, |app: TestApp| async move {
    let id = in_stock(&app, 100).await.id;
    let browser = app.browser();
    assert_eq!(add(&browser, id, &[("quantity", "1")]).await.status, 303);
    let t = token(&browser).await;
    let path = format!("/basket/add/{id}/");
    let form = [("quantity", "1"), ("csrf_token", t.as_str())];
    let posts = (0..20).map(|_| browser.post(&path, &form));
    for page in futures_join_all(posts).await {
        assert_eq!(page.status, 303, "{}", page.body);
    }
    assert_eq!(
        lines(&app).await.iter().map(|l| l.1).collect::<Vec<_>>(),
        [21]
    );
});

/// The header's mini-basket: (units, total) as shown on a catalogue page.
async fn mini_basket(browser: &Browser, url: &str) -> (String, String) {
    let page = browser.get(url).await;
    let grab = |class: &str| {
        let marker = format!("class=\"{class}\"");
        page.body.find(&marker).map(|at| {
            let rest = &page.body[at + marker.len()..];
            let start = rest.find('>').unwrap() + 1;
            rest[start..start + rest[start..].find('<').unwrap()]
                .trim()
                .to_string()
        })
    };
    (
        grab("mini-basket-count").unwrap_or_default(),
        grab("mini-basket-total").unwrap_or_default(),
    )
}

both_backends!(
    mini_basket_follows_every_change,
    |app: TestApp| async move {
        let p = in_stock(&app, 10).await;
        let (id, pence, url) = (p.id, p.price_minor(), p.url());
        let browser = app.browser();
        add(&browser, id, &[("quantity", "1")]).await;
        // The header summary is cached per basket; every change must show at once.
        assert_eq!(mini_basket(&browser, &url).await, ("1".into(), gbp(pence)));
        add(&browser, id, &[("quantity", "2")]).await;
        assert_eq!(
            mini_basket(&browser, &url).await,
            ("3".into(), gbp(pence * 3))
        );
        let line = lines(&app).await[0].0;
        let t = token(&browser).await;
        let changed = browser
            .post(
                &format!("/basket/lines/{line}/quantity/"),
                &[("quantity", "2"), ("csrf_token", &t)],
            )
            .await;
        assert_eq!(changed.status, 303, "{}", changed.body);
        assert_eq!(
            mini_basket(&browser, &url).await,
            ("2".into(), gbp(pence * 2))
        );
        browser
            .post(
                &format!("/basket/lines/{line}/save/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(mini_basket(&browser, &url).await.0, "0");
        browser
            .post(
                &format!("/basket/lines/{line}/restore/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(
            mini_basket(&browser, &url).await,
            ("2".into(), gbp(pence * 2))
        );
        // A price change in the catalogue (which empties the caches) shows in the header.
        sqlx::query(
            "UPDATE stock_record SET price_minor = price_minor + 100 WHERE product_id = $1",
        )
        .bind(id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
        app.state
            .changes
            .announce(emporium::infra::changes::Change::Catalogue);
        assert_eq!(
            mini_basket(&browser, &url).await,
            ("2".into(), gbp((pence + 100) * 2))
        );
        browser
            .post(
                &format!("/basket/lines/{line}/remove/"),
                &[("csrf_token", &t)],
            )
            .await;
        assert_eq!(mini_basket(&browser, &url).await.0, "0");
    }
);

both_backends!(
    pricing_plugin_prices_pages_and_basket_by_quantity,
    |app: TestApp| async move {
        // A known price, so every expected figure below is a literal: £19.85 excl. tax;
        // with 20% tax £23.82; the 10% tier £17.865 → £17.87 excl., × 1.2 = £21.444 → £21.44
        // incl. (each step rounded half-up, as the plugin does), three of them £64.32.
        let p = ProductBuilder::new()
            .price("19.85")
            .create(&app.state.db)
            .await
            .unwrap();
        let (id, url) = (p.id, p.url());
        // The shop's own strategy (no tax configured) shows the partner price; an anonymous
        // visitor's page is now in the rendered-page cache.
        let (status, before) = app.get(&url).await;
        assert_eq!(status, 200);
        assert!(before.contains("£19.85"), "built-in price missing");

        app.install_plugin(
            "tiered-pricing",
            &[("tiers", "1:0, 3:10"), ("tax_rate", "20")],
            &[],
        )
        .await;
        // Enabling a plugin starts cached pages afresh: the plugin's price shows at once.
        let (_, page) = app.get(&url).await;
        assert!(
            page.contains("£23.82"),
            "plugin price £23.82 missing on the product page"
        );

        // Three in the basket reach the 10% tier: the basket prices on the quantity held.
        let browser = app.browser();
        let added = add(&browser, id, &[("quantity", "3")]).await;
        assert_eq!(added.status, 303, "{}", added.body);
        let basket = browser.get("/basket/").await;
        assert!(
            basket.body.contains("£64.32"),
            "line total £64.32 (3 × £21.44) missing:\n{}",
            basket.body
        );
        let priced = emporium::basket::priced(
            emporium::basket::Pricer {
                db: &app.state.db,
                pool: &app.state.db.pool,
                pricing: &app.state.pricing,
                offers: &app.state.offers,
                currency: app.state.currency,
                customer_id: None,
            },
            open_basket_id(&app).await,
            false,
        )
        .await
        .unwrap();
        let line = &priced.lines[0];
        let unit = line.unit_price.unwrap();
        assert_eq!(
            (
                unit.excl_tax.to_minor().unwrap(),
                unit.incl_tax.to_minor().unwrap(),
                unit.tax.to_minor().unwrap()
            ),
            (1787, 2144, 357)
        );
        assert!(line.stock_record_id.is_some());

        // A plugin that fails (tiers it cannot read) falls back to the built-in prices, as the
        // pricing extension point's policy says, and the page still renders.
        emporium::plugins::lifecycle::service::configure(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            "tiered-pricing",
            &[("tiers".to_string(), "ten:five".to_string())],
        )
        .await
        .unwrap();
        let (status, page) = app.get(&url).await;
        assert_eq!(status, 200);
        assert!(page.contains("£19.85"), "built-in price after a failure");
        assert!(!page.contains("£23.82"));

        // Switched off: the built-in strategy again, at once.
        emporium::plugins::lifecycle::service::configure(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            "tiered-pricing",
            &[("tiers".to_string(), "1:0".to_string())],
        )
        .await
        .unwrap();
        let (_, page) = app.get(&url).await;
        assert!(page.contains("£23.82"));
        emporium::plugins::lifecycle::service::disable(
            &app.state.db,
            &app.state.plugins,
            emporium::audit::Actor::CommandLine,
            "tiered-pricing",
        )
        .await
        .unwrap();
        let (_, page) = app.get(&url).await;
        assert!(page.contains("£19.85") && !page.contains("£23.82"));
    }
);

/// The id of the only open basket.
async fn open_basket_id(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT id FROM basket WHERE status = 'open'")
        .await
}

/// Runs the futures concurrently (on this task) and collects their results in order.
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
