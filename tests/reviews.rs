//! Product reviews over HTTP, on SQLite and PostgreSQL: a customer who bought a product
//! reviews it (a verified purchase), the form's problems come back per field, staff moderate
//! from the dashboard (audited; read-only and partner users can't), the rating is kept on the
//! product and shown on its page, its review list and on listing cards (and sorts them) as
//! soon as it changes, even with a long page cache; helpfulness votes; one's own reviews are
//! edited and deleted, never someone else's; anonymous reviews behind the setting; a variant
//! shows its parent's reviews; deleting an account takes its reviews out of the rating.

mod support;

use emporium::fixtures::ProductBuilder;
use emporium::staff::Role;
use support::customers::{self, PASSWORD};
use support::shopper;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, TestApp};

/// Pages stay cached for an hour: what a review changes must reach them by invalidation.
async fn start(backend: Backend, anonymous: bool, moderated: bool) -> TestApp {
    TestApp::start_tweaked(
        backend,
        Options {
            products: 4,
            cache_ttl_secs: 3600,
            ..Options::default()
        },
        |c| {
            c.reviews_anonymous = anonymous;
            c.reviews_moderated = moderated;
        },
    )
    .await
}

macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(Backend::Postgres).await;
            }
        }
    };
}

struct Product {
    id: i64,
    url: String,
}

async fn product(app: &TestApp, title: &str) -> Product {
    let p = ProductBuilder::new()
        .title(title)
        .price("20.00")
        .stock(10)
        .create(&app.state.db)
        .await
        .unwrap();
    Product {
        id: p.id,
        url: p.url(),
    }
}

async fn token(b: &Browser, path: &str) -> String {
    b.get(path).await.csrf_token().unwrap()
}

/// Posts the review form at `path` (a product's `reviews/add/` or an edit page).
async fn send(b: &Browser, path: &str, fields: &[(&str, &str)]) -> support::Page {
    let t = token(b, path).await;
    let mut form = vec![("csrf_token", t.as_str())];
    form.extend_from_slice(fields);
    b.post(path, &form).await
}

const GOOD: &[(&str, &str)] = &[
    ("score", "4"),
    ("title", "Warm and well made"),
    ("body", "Wore it all winter.\n\nStill like new."),
    ("name", "Ann"),
];

/// (status, score, verified) of each review of `product`, oldest first.
async fn reviews_of(app: &TestApp, product: i64) -> Vec<(String, i64, bool)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT status, CAST(score AS BIGINT), CASE WHEN verified_purchase THEN 1 ELSE 0 END \
         FROM product_review WHERE product_id = $1 ORDER BY id",
    )
    .bind(product)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    rows.into_iter().map(|(s, n, v)| (s, n, v == 1)).collect()
}

async fn rating_of(app: &TestApp, product: i64) -> (i64, i64) {
    sqlx::query_as("SELECT rating_count, rating_sum FROM product WHERE id = $1")
        .bind(product)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn review_id(app: &TestApp, product: i64, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM product_review WHERE product_id = $1 AND name = $2")
        .bind(product)
        .bind(name)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn votes(app: &TestApp, review: i64) -> (i64, i64) {
    sqlx::query_as("SELECT helpful_count, unhelpful_count FROM product_review WHERE id = $1")
        .bind(review)
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

/// The dashboard moderates `ids` with `decision` as `b`; returns the answer's status.
async fn moderate(b: &Browser, ids: &[i64], decision: &str) -> u16 {
    let t = token(b, "/dashboard/reviews/").await;
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let mut form = vec![("csrf_token", t.as_str()), ("decision", decision)];
    for id in &ids {
        form.push(("review", id));
    }
    b.post("/dashboard/reviews/moderate/", &form).await.status
}

async fn buy(app: &TestApp, b: &Browser, product: i64) {
    shopper::add(b, product, 1).await;
    let preview = shopper::to_preview(b, None, None, "test-card-gateway").await;
    let placed = shopper::place(b, &preview, Some(shopper::GOOD_CARD)).await;
    assert_eq!(placed.status, 303, "{}", placed.body);
    let _ = app;
}

async fn customers_review_and_staff_moderate(backend: Backend) {
    let app = start(backend, false, true).await;
    app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
        .await;
    app.install_plugin("test-card-gateway", &[], &[]).await;
    let coat = product(&app, "Reviewed Duffel Coat").await;
    let scarf = product(&app, "Reviewed Wool Scarf").await;
    let add = format!("{}reviews/add/", coat.url);
    let ann = customers::registered(&app, "ann@example.com").await;
    buy(&app, &ann, coat.id).await;

    let page = app.browser().get(&coat.url).await;
    assert!(page.body.contains("No reviews yet"), "{}", page.body);
    assert!(page.body.contains("Write a review"));
    // A visitor is asked to sign in first (anonymous reviews are off).
    let visitor = app.browser();
    let asked = visitor.get(&add).await;
    assert_eq!(asked.status, 303);
    assert!(
        asked
            .location
            .as_deref()
            .unwrap()
            .starts_with("/accounts/login/?next="),
        "{:?}",
        asked.location
    );

    // Problems come back per field, with what was typed, and nothing is written.
    let bad = send(
        &ann,
        &add,
        &[
            ("score", "9"),
            ("title", ""),
            ("body", "Kept this text"),
            ("name", "Ann"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("Choose a score from 1 to 5 stars."));
    assert!(bad.body.contains("Please write a title."));
    assert!(bad.body.contains("Kept this text"));
    assert!(reviews_of(&app, coat.id).await.is_empty());

    let sent = send(&ann, &add, GOOD).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(sent.location.as_deref(), Some(coat.url.as_str()));
    assert_eq!(
        reviews_of(&app, coat.id).await,
        vec![("pending".to_owned(), 4, true)],
        "waiting for a moderator, from a buyer"
    );
    assert!(
        !app.browser()
            .get(&coat.url)
            .await
            .body
            .contains("Warm and well made")
    );
    assert_eq!(rating_of(&app, coat.id).await, (0, 0));
    // A second review of the same product goes to the first one's edit page.
    let ann_review = review_id(&app, coat.id, "Ann").await;
    let again = ann.get(&add).await;
    assert_eq!(
        again.location,
        Some(format!("/accounts/reviews/{ann_review}/edit/"))
    );

    // Staff: read-only staff see the queue and can't moderate; partner users see nothing.
    emporium::partner::create_partner(&app.state.db.pool, "elsewhere", "Elsewhere Ltd")
        .await
        .unwrap();
    add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
    add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
    add_staff(&app, "partner@example.com", Role::Partner, &["elsewhere"]).await;
    let cat = staff_browser(&app, "cat@example.com").await;
    let viewer = staff_browser(&app, "viewer@example.com").await;
    let partner = staff_browser(&app, "partner@example.com").await;
    let queue = viewer.get("/dashboard/reviews/").await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("Warm and well made"));
    assert!(queue.body.contains("ann@example.com"));
    assert_eq!(moderate(&viewer, &[ann_review], "approve").await, 403);
    assert_eq!(partner.get("/dashboard/reviews/").await.status, 403);
    assert_eq!(reviews_of(&app, coat.id).await[0].0, "pending");

    let audited = "SELECT COUNT(*) FROM audit_log WHERE action = 'review.approve'";
    assert_eq!(moderate(&cat, &[ann_review], "approve").await, 303);
    assert_eq!(app.scalar_i64(audited).await, 1);
    assert_eq!(rating_of(&app, coat.id).await, (1, 4));
    // Shown at once, though pages are cached for an hour.
    let page = app.browser().get(&coat.url).await;
    assert!(page.body.contains("Warm and well made"), "{}", page.body);
    assert!(page.body.contains("4.0 (1 review)"));
    assert!(page.body.contains("Verified purchase"));
    // The approved review has left the pending queue.
    assert!(
        !cat.get("/dashboard/reviews/")
            .await
            .body
            .contains("Warm and well made")
    );

    // A second customer's review of the coat, a five-star one of the scarf.
    let bob = customers::registered(&app, "bob@example.com").await;
    let coat_by_bob = [
        ("score", "1"),
        ("title", "Too small"),
        ("body", "Runs small."),
        ("name", "Bob"),
    ];
    assert_eq!(send(&bob, &add, &coat_by_bob).await.status, 303);
    let scarf_by_bob = [
        ("score", "5"),
        ("title", "Lovely"),
        ("body", "Soft."),
        ("name", "Bob"),
    ];
    let scarf_add = format!("{}reviews/add/", scarf.url);
    assert_eq!(send(&bob, &scarf_add, &scarf_by_bob).await.status, 303);
    let bob_coat = review_id(&app, coat.id, "Bob").await;
    let bob_scarf = review_id(&app, scarf.id, "Bob").await;
    assert_eq!(
        reviews_of(&app, coat.id).await[1],
        ("pending".into(), 1, false)
    );
    assert_eq!(moderate(&cat, &[bob_coat, bob_scarf], "approve").await, 303);
    assert_eq!(rating_of(&app, coat.id).await, (2, 5));
    assert_eq!(rating_of(&app, scarf.id).await, (1, 5));
    // Listing cards show the rating, and sort by it.
    let search = app.browser().get("/search?q=Reviewed&sort=rating").await;
    assert_eq!(search.status, 200);
    assert!(
        search.body.contains("Rated 2.5 out of 5"),
        "{}",
        search.body
    );
    assert!(search.body.contains("Rated 5.0 out of 5"));
    let scarf_at = search.body.find("Reviewed Wool Scarf").unwrap();
    let coat_at = search.body.find("Reviewed Duffel Coat").unwrap();
    assert!(scarf_at < coat_at, "the better-rated product comes first");
    // The review list, in each order; an unknown order is a 400.
    let list = format!("{}reviews/", coat.url);
    let low = app.browser().get(&format!("{list}?sort=score-low")).await;
    assert_eq!(low.status, 200);
    assert!(low.body.find("Too small").unwrap() < low.body.find("Warm and well made").unwrap());
    let high = app.browser().get(&format!("{list}?sort=score-high")).await;
    assert!(high.body.find("Warm and well made").unwrap() < high.body.find("Too small").unwrap());
    assert_eq!(
        app.browser().get(&format!("{list}?sort=nope")).await.status,
        400
    );

    // Votes: one per customer (a second replaces it), never on one's own review, and a
    // visitor is asked to sign in.
    let vote = format!("/reviews/{ann_review}/vote/");
    let t = token(&bob, &coat.url).await;
    let voted = bob
        .post(
            &vote,
            &[("csrf_token", &t), ("helpful", "yes"), ("next", &coat.url)],
        )
        .await;
    assert_eq!(voted.status, 303, "{}", voted.body);
    assert_eq!(voted.location.as_deref(), Some(coat.url.as_str()));
    assert_eq!(votes(&app, ann_review).await, (1, 0));
    bob.post(&vote, &[("csrf_token", &t), ("helpful", "yes")])
        .await;
    assert_eq!(votes(&app, ann_review).await, (1, 0), "still one vote");
    bob.post(&vote, &[("csrf_token", &t), ("helpful", "no")])
        .await;
    assert_eq!(votes(&app, ann_review).await, (0, 1), "changed");
    let t_ann = token(&ann, &coat.url).await;
    let own = ann
        .post(&vote, &[("csrf_token", &t_ann), ("helpful", "yes")])
        .await;
    assert_eq!(own.status, 303);
    assert_eq!(votes(&app, ann_review).await, (0, 1), "not on one's own");
    let anonymous = app.browser();
    let asked = anonymous
        .post_with(&vote, &[("helpful", "yes")], &[("origin", &anonymous.base)])
        .await;
    assert_eq!(asked.status, 303);
    assert!(asked.location.unwrap().starts_with("/accounts/login/"));
    assert_eq!(
        bob.post(&vote, &[("csrf_token", &t), ("helpful", "maybe")])
            .await
            .status,
        400
    );

    // Another customer's review is not there for anyone else, by URL or by form.
    let ann_edit = format!("/accounts/reviews/{ann_review}/edit/");
    assert_eq!(bob.get(&ann_edit).await.status, 404);
    let t = token(&bob, "/accounts/reviews/").await;
    let mut forged = vec![("csrf_token", t.as_str())];
    forged.extend_from_slice(&coat_by_bob);
    assert_eq!(bob.post(&ann_edit, &forged).await.status, 404);
    let ann_delete = format!("/accounts/reviews/{ann_review}/delete/");
    assert_eq!(
        bob.post(&ann_delete, &[("csrf_token", &t)]).await.status,
        404
    );
    assert_eq!(
        reviews_of(&app, coat.id).await[0],
        ("approved".into(), 4, true)
    );
    let bobs = bob.get("/accounts/reviews/").await;
    assert!(bobs.body.contains("Too small") && !bobs.body.contains("Warm and well made"));

    // Editing one's own review sends it back to the moderators and out of the rating.
    let anns = ann.get("/accounts/reviews/").await;
    assert!(anns.body.contains("Warm and well made"));
    let edited = send(
        &ann,
        &ann_edit,
        &[
            ("score", "2"),
            ("title", "Went bobbly"),
            ("body", "After a month."),
            ("name", "Ann"),
        ],
    )
    .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    assert_eq!(
        reviews_of(&app, coat.id).await[0],
        ("pending".into(), 2, true)
    );
    assert_eq!(rating_of(&app, coat.id).await, (1, 1));
    assert_eq!(
        votes(&app, ann_review).await,
        (0, 0),
        "votes were for the old text"
    );
    let page = app.browser().get(&coat.url).await;
    assert!(!page.body.contains("Warm and well made"));
    assert!(page.body.contains("1.0 (1 review)"));
    // Rejecting keeps it out; deleting one's own removes it.
    assert_eq!(moderate(&cat, &[ann_review], "reject").await, 303);
    assert_eq!(reviews_of(&app, coat.id).await[0].0, "rejected");
    let t = token(&ann, "/accounts/reviews/").await;
    let deleted = ann.post(&ann_delete, &[("csrf_token", &t)]).await;
    assert_eq!(deleted.status, 303);
    assert_eq!(reviews_of(&app, coat.id).await.len(), 1);

    // Deleting an account takes its reviews out of the rating.
    let t = token(&bob, "/accounts/delete/").await;
    let gone = bob
        .post(
            "/accounts/delete/",
            &[("csrf_token", &t), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert!(reviews_of(&app, coat.id).await.is_empty());
    assert_eq!(rating_of(&app, coat.id).await, (0, 0));
    assert_eq!(rating_of(&app, scarf.id).await, (0, 0));
}
both!(
    customers_review_and_staff_moderate_db,
    customers_review_and_staff_moderate
);

/// With anonymous reviews on and moderation off: a guest's review (name and address, the
/// address never shown) still waits for a moderator; a customer's is shown at once.
async fn anonymous_and_unmoderated(backend: Backend) {
    let app = start(backend, true, false).await;
    let hat = product(&app, "Felt Hat").await;
    let add = format!("{}reviews/add/", hat.url);
    let guest = app.browser();
    let form = guest.get(&add).await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Your email address"));
    let bad = send(
        &guest,
        &add,
        &[
            ("score", "3"),
            ("title", "Fine"),
            ("body", "Fine hat."),
            ("name", "Guest"),
            ("email", "not an address"),
        ],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(reviews_of(&app, hat.id).await.is_empty());
    let sent = send(
        &guest,
        &add,
        &[
            ("score", "3"),
            ("title", "Fine"),
            ("body", "Fine hat."),
            ("name", "Guest"),
            ("email", "guest@example.com"),
        ],
    )
    .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(
        reviews_of(&app, hat.id).await,
        vec![("pending".into(), 3, false)]
    );

    let cy = customers::registered(&app, "cy@example.com").await;
    assert!(!cy.get(&add).await.body.contains("Your email address"));
    let sent = send(
        &cy,
        &add,
        &[
            ("score", "5"),
            ("title", "Perfect fit"),
            ("body", "Just right."),
            ("name", "Cy"),
        ],
    )
    .await;
    assert_eq!(sent.status, 303);
    assert_eq!(rating_of(&app, hat.id).await, (1, 5));
    let page = app.browser().get(&hat.url).await;
    assert!(page.body.contains("Perfect fit"), "{}", page.body);
    assert!(!page.body.contains("Fine hat."), "the guest's waits");
    assert!(!page.body.contains("guest@example.com"));
}
both!(anonymous_and_unmoderated_db, anonymous_and_unmoderated);

/// A variant's review addresses lead to its parent's; the parent's page and the variant's
/// show the same reviews.
async fn variants_share_their_parents_reviews(backend: Backend) {
    let app = start(backend, false, false).await;
    let parent = ProductBuilder::parent()
        .title("Linen Shirt")
        .variant(ProductBuilder::new().title("Linen Shirt, S"))
        .create(&app.state.db)
        .await
        .unwrap();
    let child = &parent.variants[0];
    let moved = app.browser().get(&format!("{}reviews/", child.url())).await;
    assert_eq!(moved.status, 308);
    assert_eq!(moved.location, Some(format!("{}reviews/", parent.url())));
    let dee = customers::registered(&app, "dee@example.com").await;
    let sent = send(&dee, &format!("{}reviews/add/", parent.url()), GOOD).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    assert_eq!(rating_of(&app, parent.id).await, (1, 4));
    let child_page = app.browser().get(&child.url()).await;
    assert!(
        child_page.body.contains("Warm and well made"),
        "{}",
        child_page.body
    );
    assert!(
        app.browser()
            .get(&format!("/catalogue/nope_{}/reviews/", parent.id))
            .await
            .location
            .is_some(),
        "an old slug moves to the canonical address"
    );
    assert_eq!(
        app.browser()
            .get("/catalogue/nope_999999/reviews/")
            .await
            .status,
        404
    );
}
both!(
    variants_share_their_parents_reviews_db,
    variants_share_their_parents_reviews
);
