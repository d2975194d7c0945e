//! Wishlists over HTTP, on SQLite and PostgreSQL: adding from a product page (the default
//! list made on first use, or a chosen list), several named lists, renaming and visibility,
//! share links (private lists are a 404 for all but their owner), moving lines between lists
//! and into the basket (through the basket's own checks), removing lines and lists, the
//! per-customer limits; and another customer changing none of it, by URL or by form.

mod support;

use emporium::fixtures::ProductBuilder;
use support::customers;
use support::{Backend, Browser, Options, Page, TestApp};

async fn start(backend: Backend) -> TestApp {
    TestApp::start_tweaked(
        backend,
        Options {
            products: 4,
            ..Options::default()
        },
        |c| {
            c.max_wishlists = 3;
            c.max_wishlist_lines = 4;
        },
    )
    .await
}

/// Runs a test body once per backend on this file's [`start`] (the shared `both_backends!`
/// starts a default shop).
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(start(Backend::Sqlite).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(start(Backend::Postgres).await).await;
            }
        }
    };
}

async fn token(b: &Browser) -> String {
    b.get("/accounts/wishlists/").await.csrf_token().unwrap()
}

struct Product {
    id: i64,
    url: String,
    stock: i64,
}

async fn product(app: &TestApp, title: &str, units: i64) -> Product {
    let p = ProductBuilder::new()
        .title(title)
        .price("10.00")
        .stock(units)
        .create(&app.state.db)
        .await
        .unwrap();
    Product {
        id: p.id,
        url: p.url(),
        stock: p.stock_record_id.unwrap(),
    }
}

/// Posts and expects a redirect; returns where to.
async fn post_ok(b: &Browser, path: &str, form: &[(&str, &str)]) -> String {
    let page = b.post(path, form).await;
    assert_eq!(page.status, 303, "POST {path}: {}", page.body);
    page.location.unwrap()
}

async fn follow(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    b.post_and_follow(path, form).await
}

/// The customer's lists as (id, name, visibility, default), oldest first.
async fn lists(app: &TestApp, email: &str) -> Vec<(i64, String, String, bool)> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT w.id, w.name, w.visibility, CASE WHEN w.is_default THEN 1 ELSE 0 END \
         FROM wishlist w JOIN customer c ON c.id = w.customer_id WHERE c.email = $1 ORDER BY w.id",
    )
    .bind(email)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, name, v, d)| (id, name, v, d == 1))
        .collect()
}

/// A list's lines as (line id, product id, quantity).
async fn lines(app: &TestApp, list: i64) -> Vec<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT id, product_id, quantity FROM wishlist_line WHERE wishlist_id = $1 ORDER BY id",
    )
    .bind(list)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

async fn key_of(app: &TestApp, list: i64) -> String {
    sqlx::query_scalar("SELECT share_key FROM wishlist WHERE id = $1")
        .bind(list)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn basket_units(app: &TestApp, email: &str) -> Vec<(i64, i64)> {
    sqlx::query_as(
        "SELECT l.product_id, l.quantity FROM basket_line l JOIN basket b ON b.id = l.basket_id \
         JOIN customer c ON c.id = b.owner_id WHERE c.email = $1 AND b.status = 'open' \
         AND l.is_saved = FALSE ORDER BY l.product_id",
    )
    .bind(email)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

/// Everything about every wishlist, to compare before and after refused requests.
async fn everything(app: &TestApp) -> Vec<String> {
    let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT id, customer_id, name, visibility, share_key FROM wishlist ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let lines: Vec<(i64, i64, Option<i64>, i64)> = sqlx::query_as(
        "SELECT id, wishlist_id, product_id, quantity FROM wishlist_line ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    let basket: i64 = app
        .scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM basket_line")
        .await;
    vec![
        format!("{rows:?}"),
        format!("{lines:?}"),
        format!("basket lines {basket}"),
    ]
}

async fn lists_lines_and_sharing(app: TestApp) {
    let teapot = product(&app, "Brown Betty Teapot", 10).await;
    let mug = product(&app, "Enamel Mug", 10).await;
    let email = "ada@example.com";

    // A visitor is asked to sign in, and comes back to the product.
    let anon = app.browser();
    let page = anon.get(&teapot.url).await;
    assert!(
        page.body.contains("Sign in to add this to a wishlist"),
        "{}",
        page.body
    );
    assert!(page.body.contains("?next=%2Fcatalogue%2F"));
    let to = anon
        .post(&format!("/accounts/wishlists/add/{}/", teapot.id), &[])
        .await;
    assert_eq!(to.status, 303);
    assert!(to.location.unwrap().starts_with("/accounts/login/?next="));
    assert_eq!(
        app.scalar_i64("SELECT CAST(COUNT(*) AS BIGINT) FROM wishlist")
            .await,
        0
    );
    let to = anon.get("/accounts/wishlists/").await;
    assert!(to.location.unwrap().starts_with("/accounts/login/"));

    // Signed in: the first add makes the default list.
    let b = customers::registered(&app, email).await;
    let page = b.get(&teapot.url).await;
    assert!(page.body.contains("Add to wishlist"));
    let t = page.csrf_token().unwrap();
    let add = format!("/accounts/wishlists/add/{}/", teapot.id);
    let back = follow(&b, &add, &[("csrf_token", &t)]).await;
    assert!(
        back.body
            .contains("“Brown Betty Teapot” is on your wishlist “My wishlist”."),
        "{}",
        back.body
    );
    let all = lists(&app, email).await;
    assert_eq!(all.len(), 1);
    let (default, _, visibility, is_default) = all[0].clone();
    assert_eq!((visibility.as_str(), is_default), ("private", true));
    // Again: the same line adds up.
    post_ok(
        &b,
        &add,
        &[("csrf_token", &t), ("list", &default.to_string())],
    )
    .await;
    assert_eq!(lines(&app, default).await[0].2, 2);
    // Junk is a 400 and changes nothing.
    for form in [
        vec![("csrf_token", t.as_str()), ("quantity", "0")],
        vec![("csrf_token", t.as_str()), ("quantity", "lots")],
        vec![("csrf_token", t.as_str()), ("list", "x")],
    ] {
        assert_eq!(b.post(&add, &form).await.status, 400, "{form:?}");
    }
    assert_eq!(
        b.post("/accounts/wishlists/add/999999/", &[("csrf_token", &t)])
            .await
            .status,
        404
    );
    assert_eq!(lines(&app, default).await[0].2, 2);

    // A second, shared list; the product page now offers both.
    let to = post_ok(
        &b,
        "/accounts/wishlists/",
        &[
            ("csrf_token", &t),
            ("name", " Birthday "),
            ("visibility", "shared"),
        ],
    )
    .await;
    let birthday = lists(&app, email).await[1].0;
    assert_eq!(to, format!("/accounts/wishlists/{birthday}/"));
    assert_eq!(lists(&app, email).await[1].1, "Birthday");
    let page = b.get(&mug.url).await;
    assert!(
        page.body
            .contains(&format!("<option value=\"{birthday}\">Birthday</option>")),
        "{}",
        page.body
    );
    let mug_add = format!("/accounts/wishlists/add/{}/", mug.id);
    post_ok(
        &b,
        &mug_add,
        &[("csrf_token", &t), ("list", &birthday.to_string())],
    )
    .await;
    post_ok(
        &b,
        &add,
        &[("csrf_token", &t), ("list", &birthday.to_string())],
    )
    .await;
    // A nameless list, or a visibility that isn't one: refused, nothing made.
    let refused = follow(
        &b,
        "/accounts/wishlists/",
        &[("csrf_token", &t), ("name", "  ")],
    )
    .await;
    assert!(refused.body.contains("Give the list a name."));
    assert_eq!(
        b.post(
            "/accounts/wishlists/",
            &[("csrf_token", &t), ("name", "X"), ("visibility", "secret")]
        )
        .await
        .status,
        400
    );
    assert_eq!(lists(&app, email).await.len(), 2);

    // The pages.
    let index = b.get("/accounts/wishlists/").await;
    assert!(index.body.contains("My wishlist") && index.body.contains("Birthday"));
    let detail = b.get(&format!("/accounts/wishlists/{birthday}/")).await;
    assert!(detail.body.contains("Enamel Mug") && detail.body.contains("Brown Betty Teapot"));

    // Share links: the shared list for anyone with the link, not indexed; private is a 404
    // for all but the owner; public is indexable; a new link retires the old one.
    let shared_url = format!("/wishlists/{}/", key_of(&app, birthday).await);
    // (Slashes in attribute values come HTML-escaped.)
    assert!(detail.body.contains(&key_of(&app, birthday).await));
    let seen = anon.get(&shared_url).await;
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("Enamel Mug") && seen.body.contains("noindex"));
    assert!(!seen.body.contains("Move to basket") && !seen.body.contains("Edit your list"));
    let response = app.get_response(&shared_url).await;
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "private, no-store"
    );
    let private_url = format!("/wishlists/{}/", key_of(&app, default).await);
    assert_eq!(anon.get(&private_url).await.status, 404);
    let owner_view = b.get(&private_url).await;
    assert_eq!(owner_view.status, 200);
    assert!(owner_view.body.contains("Edit your list"));
    assert_eq!(anon.get("/wishlists/not-a-key/").await.status, 404);
    assert_eq!(
        anon.get(&format!("/wishlists/{}/", "0".repeat(32)))
            .await
            .status,
        404
    );
    let settings = format!("/accounts/wishlists/{birthday}/");
    post_ok(
        &b,
        &settings,
        &[
            ("csrf_token", &t),
            ("name", "Birthday 2027"),
            ("visibility", "public"),
        ],
    )
    .await;
    let seen = anon.get(&shared_url).await;
    assert!(seen.body.contains("Birthday 2027") && !seen.body.contains("noindex"));
    post_ok(
        &b,
        &settings,
        &[
            ("csrf_token", &t),
            ("name", "Birthday 2027"),
            ("visibility", "public"),
            ("new_link", "1"),
        ],
    )
    .await;
    assert_eq!(anon.get(&shared_url).await.status, 404);
    let shared_url = format!("/wishlists/{}/", key_of(&app, birthday).await);
    assert_eq!(anon.get(&shared_url).await.status, 200);
    post_ok(
        &b,
        &settings,
        &[
            ("csrf_token", &t),
            ("name", "Birthday 2027"),
            ("visibility", "private"),
        ],
    )
    .await;
    assert_eq!(anon.get(&shared_url).await.status, 404);
    // A bad rename says why and keeps the old name.
    let refused = follow(
        &b,
        &settings,
        &[("csrf_token", &t), ("name", &"x".repeat(101))],
    )
    .await;
    assert!(
        refused.body.contains("at most 100 characters"),
        "{}",
        refused.body
    );
    assert_eq!(lists(&app, email).await[1].1, "Birthday 2027");

    // Move the default list's teapot line to Birthday: it adds up with the one there.
    let teapot_line = lines(&app, default).await[0].0;
    let moved = follow(
        &b,
        &format!("/accounts/wishlists/{default}/lines/{teapot_line}/move/"),
        &[("csrf_token", &t), ("to", &birthday.to_string())],
    )
    .await;
    assert!(
        moved
            .body
            .contains("“Brown Betty Teapot” was moved to “Birthday 2027”.")
    );
    assert!(lines(&app, default).await.is_empty());
    let on_birthday = lines(&app, birthday).await;
    assert_eq!(
        on_birthday.iter().map(|l| (l.1, l.2)).collect::<Vec<_>>(),
        [(mug.id, 1), (teapot.id, 3)]
    );
    // And back, where there is none: the line itself moves.
    let (mug_line, teapot_line) = (on_birthday[0].0, on_birthday[1].0);
    post_ok(
        &b,
        &format!("/accounts/wishlists/{birthday}/lines/{mug_line}/move/"),
        &[("csrf_token", &t), ("to", &default.to_string())],
    )
    .await;
    assert_eq!(lines(&app, default).await, [(mug_line, mug.id, 1)]);

    // Into the basket: through the basket's checks. Only 2 teapots are left: refused, and the
    // line stays; with stock back it moves, and leaves the list.
    sqlx::query("UPDATE stock_record SET num_in_stock = num_allocated + 2 WHERE id = $1")
        .bind(teapot.stock)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let to_basket = format!("/accounts/wishlists/{birthday}/lines/{teapot_line}/basket/");
    let refused = follow(&b, &to_basket, &[("csrf_token", &t)]).await;
    assert!(
        refused.body.contains("only 2 of “Brown Betty Teapot”"),
        "{}",
        refused.body
    );
    assert_eq!(lines(&app, birthday).await.len(), 1);
    assert!(basket_units(&app, email).await.is_empty());
    sqlx::query("UPDATE stock_record SET num_in_stock = num_allocated + 10 WHERE id = $1")
        .bind(teapot.stock)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let moved = follow(&b, &to_basket, &[("csrf_token", &t)]).await;
    assert!(
        moved
            .body
            .contains("3 × “Brown Betty Teapot” were moved to your basket.")
    );
    assert!(lines(&app, birthday).await.is_empty());
    assert_eq!(basket_units(&app, email).await, [(teapot.id, 3)]);
    // A product no longer sold stays on the list, named, and can't go in.
    sqlx::query("UPDATE product SET is_public = FALSE WHERE id = $1")
        .bind(mug.id)
        .execute(&app.state.db.pool)
        .await
        .unwrap();
    let gone = follow(
        &b,
        &format!("/accounts/wishlists/{default}/lines/{mug_line}/basket/"),
        &[("csrf_token", &t)],
    )
    .await;
    assert!(
        gone.body.contains("Sorry, “Enamel Mug” is no longer sold."),
        "{}",
        gone.body
    );
    assert!(gone.body.contains("(no longer sold)"));
    assert_eq!(basket_units(&app, email).await, [(teapot.id, 3)]);

    // Remove the line, then delete the default list: the other list becomes the default.
    let removed = follow(
        &b,
        &format!("/accounts/wishlists/{default}/lines/{mug_line}/remove/"),
        &[("csrf_token", &t)],
    )
    .await;
    assert!(
        removed
            .body
            .contains("“Enamel Mug” was removed from the list.")
    );
    assert!(lines(&app, default).await.is_empty());
    let deleted = follow(
        &b,
        &format!("/accounts/wishlists/{default}/delete/"),
        &[("csrf_token", &t)],
    )
    .await;
    assert!(
        deleted
            .body
            .contains("Your wishlist “My wishlist” was deleted.")
    );
    let left = lists(&app, email).await;
    assert_eq!(left.len(), 1);
    assert_eq!((left[0].0, left[0].3), (birthday, true));
    assert_eq!(
        b.get(&format!("/accounts/wishlists/{default}/"))
            .await
            .status,
        404
    );

    // Every form needs the token.
    let before = everything(&app).await;
    for path in [
        "/accounts/wishlists/".to_owned(),
        add.clone(),
        settings.clone(),
        format!("/accounts/wishlists/{birthday}/delete/"),
    ] {
        assert_eq!(
            b.post(&path, &[("name", "Forged")]).await.status,
            403,
            "POST {path}"
        );
    }
    assert_eq!(everything(&app).await, before);
}

both!(lists_db, lists_lines_and_sharing);

async fn limits_hold(app: TestApp) {
    let email = "ada@example.com";
    let b = customers::registered(&app, email).await;
    let t = token(&b).await;
    for name in ["One", "Two", "Three"] {
        post_ok(
            &b,
            "/accounts/wishlists/",
            &[("csrf_token", &t), ("name", name)],
        )
        .await;
    }
    let refused = follow(
        &b,
        "/accounts/wishlists/",
        &[("csrf_token", &t), ("name", "Four")],
    )
    .await;
    assert!(
        refused.body.contains("You can keep at most 3 wishlists"),
        "{}",
        refused.body
    );
    assert_eq!(lists(&app, email).await.len(), 3);
    assert!(
        !refused.body.contains("Start a new list"),
        "no form once full"
    );

    let first = lists(&app, email).await[0].0;
    let mut products = Vec::new();
    for i in 0..5 {
        products.push(product(&app, &format!("Thing {i}"), 5).await);
    }
    for p in &products[..4] {
        post_ok(
            &b,
            &format!("/accounts/wishlists/add/{}/", p.id),
            &[("csrf_token", &t)],
        )
        .await;
    }
    let refused = b
        .post_and_follow(
            &format!("/accounts/wishlists/add/{}/", products[4].id),
            &[("csrf_token", &t)],
        )
        .await;
    assert!(
        refused.body.contains("at most 4 items between them"),
        "{}",
        refused.body
    );
    assert_eq!(lines(&app, first).await.len(), 4);
    // Adding more of a product already there is no new line.
    post_ok(
        &b,
        &format!("/accounts/wishlists/add/{}/", products[0].id),
        &[("csrf_token", &t), ("quantity", "2")],
    )
    .await;
    assert_eq!(lines(&app, first).await[0].2, 3);
}

both!(limits_db, limits_hold);

async fn another_customer_changes_nothing(app: TestApp) {
    let teapot = product(&app, "Brown Betty Teapot", 10).await;
    let ada = customers::registered(&app, "ada@example.com").await;
    let t = token(&ada).await;
    post_ok(
        &ada,
        &format!("/accounts/wishlists/add/{}/", teapot.id),
        &[("csrf_token", &t)],
    )
    .await;
    post_ok(
        &ada,
        "/accounts/wishlists/",
        &[("csrf_token", &t), ("name", "Second")],
    )
    .await;
    let ada_lists = lists(&app, "ada@example.com").await;
    let (list, other) = (ada_lists[0].0, ada_lists[1].0);
    let line = lines(&app, list).await[0].0;

    let eve = customers::registered(&app, "eve@example.com").await;
    let et = token(&eve).await;
    // Eve has a list and a line of her own, to aim at Ada's from.
    post_ok(
        &eve,
        &format!("/accounts/wishlists/add/{}/", teapot.id),
        &[("csrf_token", &et)],
    )
    .await;
    let eve_list = lists(&app, "eve@example.com").await[0].0;
    let eve_line = lines(&app, eve_list).await[0].0;
    let before = everything(&app).await;

    // By URL.
    assert_eq!(
        eve.get(&format!("/accounts/wishlists/{list}/"))
            .await
            .status,
        404
    );
    let index = eve.get("/accounts/wishlists/").await;
    assert!(!index.body.contains("Second"));
    let private_url = format!("/wishlists/{}/", key_of(&app, list).await);
    assert_eq!(eve.get(&private_url).await.status, 404);

    // By form, with Eve's own valid token: each a 404, nothing changed.
    let forms: Vec<(String, Vec<(&str, String)>)> = vec![
        (
            format!("/accounts/wishlists/{list}/"),
            vec![("name", "Hacked".into()), ("visibility", "public".into())],
        ),
        (format!("/accounts/wishlists/{list}/delete/"), vec![]),
        (
            format!("/accounts/wishlists/{list}/lines/{line}/remove/"),
            vec![],
        ),
        (
            format!("/accounts/wishlists/{list}/lines/{line}/move/"),
            vec![("to", eve_list.to_string())],
        ),
        (
            format!("/accounts/wishlists/{list}/lines/{line}/basket/"),
            vec![],
        ),
        // Ada's line under Eve's own list id.
        (
            format!("/accounts/wishlists/{eve_list}/lines/{line}/remove/"),
            vec![],
        ),
        (
            format!("/accounts/wishlists/{eve_list}/lines/{line}/basket/"),
            vec![],
        ),
        // Eve's own line moved into Ada's list.
        (
            format!("/accounts/wishlists/{eve_list}/lines/{eve_line}/move/"),
            vec![("to", other.to_string())],
        ),
        // Eve adding to Ada's list.
        (
            format!("/accounts/wishlists/add/{}/", teapot.id),
            vec![("list", list.to_string())],
        ),
    ];
    for (path, fields) in &forms {
        let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        form.push(("csrf_token", &et));
        let page = eve.post(path, &form).await;
        assert_eq!(page.status, 404, "POST {path}: {}", page.body);
    }
    assert_eq!(everything(&app).await, before, "nothing changed");
    assert!(basket_units(&app, "eve@example.com").await.is_empty());
    // And the same forms without a token are refused before they are read.
    for (path, _) in &forms {
        assert_eq!(eve.post(path, &[]).await.status, 403, "POST {path}");
    }
    assert_eq!(everything(&app).await, before);
}

both!(isolation_db, another_customer_changes_nothing);
