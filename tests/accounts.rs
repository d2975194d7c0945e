//! Customer accounts and sessions over HTTP, against the real app on SQLite and PostgreSQL
//! (and Redis for the Redis session store): sign-in throttling, registration that does not
//! tell who is registered, the session id and CSRF token rotating at sign-in, the basket
//! merge limits, sessions that cannot be brought back after logout, and session expiry.

mod support;

use std::time::{Duration, Instant};

use emporium::fixtures::{BasketBuilder, CreatedProduct, CustomerBuilder, ProductBuilder};
use emporium::session::store::{Record, now_secs};
use emporium::session::{DbStore, RedisStore, SessionStore, store_key};
use sqlx::Row;
use support::{Backend, Browser, Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Long enough that a loaded machine finishes a hundred refused attempts inside it, short
/// enough to wait for in a test.
const TEST_LOCK_SECS: u64 = 20;

async fn start(backend: Backend) -> TestApp {
    TestApp::start_tweaked(backend, Options::default(), |c| {
        c.sign_in_lock_secs = TEST_LOCK_SECS;
    })
    .await
}

/// A response with the headers the tests look at.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

async fn post_form(b: &Browser, path: &str, form: &[(&str, &str)]) -> Answer {
    let response = b
        .client
        .post(format!("{}{path}", b.base))
        .header("origin", &b.base)
        .form(form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    Answer {
        status: response.status().as_u16(),
        retry_after: response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.text().await.unwrap_or_default(),
    }
}

async fn register(b: &Browser, email: &str, password: &str) -> support::Page {
    let t = b.get("/accounts/register/").await.csrf_token().unwrap();
    b.post(
        "/accounts/register/",
        &[
            ("csrf_token", &t),
            ("email", email),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

async fn login(b: &Browser, email: &str, password: &str) -> Answer {
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    post_form(
        b,
        "/accounts/login/",
        &[("csrf_token", &t), ("email", email), ("password", password)],
    )
    .await
}

/// A registered account (created through the page, like a shopper would).
async fn account(app: &TestApp, email: &str) {
    let page = register(&app.browser(), email, "correct horse").await;
    assert_eq!(page.status, 303, "{}", page.body);
}

fn wrong_password(body: &str) -> bool {
    body.contains("don’t match") || body.contains("don&#x27;t match")
}

fn locked(answer: &Answer) -> bool {
    answer.status == 429
        && answer.body.contains("paused")
        && answer.body.contains("try again in")
        && answer.retry_after.is_some()
}

async fn signed_in_as(b: &Browser, email: &str) -> bool {
    b.get("/").await.body.contains(email)
}

async fn sign_in_is_slowed_then_locked_and_unlocks(app: TestApp) {
    account(&app, "owner@example.com").await;
    account(&app, "bystander@example.com").await;
    let attacker = app.browser();

    // The first two wrong guesses are answered at once; the third and fourth only after a
    // delay (the server sleeps 1 s, then 2 s: lower bounds, which a slow machine only makes
    // longer); the fifth locks the account.
    let mut checked = 0;
    for n in 1..=5 {
        let started = Instant::now();
        let answer = login(&attacker, "owner@example.com", &format!("guess {n} x")).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 422, "attempt {n}: {}", answer.body);
        assert!(wrong_password(&answer.body), "attempt {n}");
        checked += 1;
        match n {
            3 => assert!(took >= Duration::from_secs(1), "third failure slowed"),
            4 => assert!(took >= Duration::from_secs(2), "fourth failure slowed"),
            5 => assert!(answer.body.contains("now paused"), "{}", answer.body),
            _ => {}
        }
    }

    // Locked: even the right password is refused, with a clear message and Retry-After.
    let owner = app.browser();
    let refused = login(&owner, "owner@example.com", "correct horse").await;
    assert!(locked(&refused), "{} {}", refused.status, refused.body);
    assert!(!signed_in_as(&owner, "owner@example.com").await);

    // The other 95 guesses are all refused without being checked.
    for n in 6..=100 {
        let answer = login(&attacker, "OWNER@example.com", &format!("guess {n} x")).await;
        assert!(
            locked(&answer),
            "attempt {n}: {} {}",
            answer.status,
            answer.body
        );
    }
    assert_eq!(checked, 5, "only five guesses were ever checked");

    // Another account, from the same address, is not affected.
    let bystander = app.browser();
    let ok = login(&bystander, "bystander@example.com", "correct horse").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(signed_in_as(&bystander, "bystander@example.com").await);

    // Once the lock has run out the owner gets in (polled: refusals until then are not
    // counted as failures).
    let deadline = Instant::now() + Duration::from_secs(TEST_LOCK_SECS * 10);
    loop {
        let answer = login(&owner, "owner@example.com", "correct horse").await;
        if answer.status == 303 {
            break;
        }
        assert!(locked(&answer), "{} {}", answer.status, answer.body);
        assert!(Instant::now() < deadline, "the lock never ran out");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(signed_in_as(&owner, "owner@example.com").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_slowed_then_locked_and_unlocks_sqlite() {
    sign_in_is_slowed_then_locked_and_unlocks(start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_slowed_then_locked_and_unlocks_postgres() {
    sign_in_is_slowed_then_locked_and_unlocks(start(Backend::Postgres).await).await;
}

/// Guesses sent all at once are counted before any is checked: five get checked, no more.
async fn parallel_guesses_are_counted_before_checking(app: TestApp) {
    account(&app, "target@example.com").await;
    let attacker = app.browser();
    let t = attacker.get("/accounts/login/").await.csrf_token().unwrap();
    let guesses = (0..20).map(|n| {
        let (attacker, t) = (&attacker, t.clone());
        async move {
            let password = format!("parallel {n}");
            post_form(
                attacker,
                "/accounts/login/",
                &[
                    ("csrf_token", &t),
                    ("email", "target@example.com"),
                    ("password", &password),
                ],
            )
            .await
        }
    });
    let answers = futures_join_all(guesses).await;
    let checked = answers.iter().filter(|a| a.status == 422).count();
    let refused = answers.iter().filter(|a| locked(a)).count();
    assert_eq!(checked, 5, "checked guesses");
    assert_eq!(refused, 15, "refused guesses");
}

/// `join_all` without another dependency: spawn-free, polls every future to the end.
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
    out.into_iter().map(|v| v.unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_before_checking_sqlite() {
    parallel_guesses_are_counted_before_checking(start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_counted_before_checking_postgres() {
    parallel_guesses_are_counted_before_checking(start(Backend::Postgres).await).await;
}

async fn outbox(app: &TestApp, recipient: &str) -> Vec<String> {
    sqlx::query("SELECT subject FROM mail_outbox WHERE recipient = $1 ORDER BY id")
        .bind(recipient)
        .fetch_all(&app.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>(0).unwrap())
        .collect()
}

/// Registering an email that has an account answers exactly like a new one; the owner gets a
/// note, the account and its password stay as they were.
async fn registration_does_not_tell_who_is_registered(app: TestApp) {
    let first = app.browser();
    let new = register(&first, "Owner@Example.com", "correct horse").await;
    assert_eq!(new.status, 303, "{}", new.body);
    let new_page = first.get(new.location.as_deref().unwrap()).await;

    let second = app.browser();
    let again = register(&second, "  owner@example.COM ", "another pass").await;
    assert_eq!(again.status, new.status);
    assert_eq!(again.location, new.location);
    let again_page = second.get(again.location.as_deref().unwrap()).await;
    let flash = |body: &str| {
        let at = body.find("Thank you.").expect("the registration message");
        body[at..].chars().take(120).collect::<String>()
    };
    assert_eq!(flash(&again_page.body), flash(&new_page.body));
    assert!(!again_page.body.contains("already exists"));

    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM customer").await,
        1,
        "no second account"
    );
    let subjects = outbox(&app, "owner@example.com").await;
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[0].starts_with("Your account at"), "{subjects:?}");
    assert!(
        subjects[1].starts_with("Someone tried to register your address"),
        "{subjects:?}"
    );
    // The second registration's password does not open the account; the owner's does.
    let b = app.browser();
    assert_eq!(
        login(&b, "owner@example.com", "another pass").await.status,
        422
    );
    assert_eq!(
        login(&b, "owner@example.com", "correct horse").await.status,
        303
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_does_not_tell_who_is_registered_sqlite() {
    registration_does_not_tell_who_is_registered(start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_does_not_tell_who_is_registered_postgres() {
    registration_does_not_tell_who_is_registered(start(Backend::Postgres).await).await;
}

/// The CSRF token of the pre-sign-in session is worthless afterwards: whoever planted or read
/// it before sign-in cannot post as the customer.
async fn csrf_token_rotates_at_sign_in(app: TestApp) {
    account(&app, "rotate@example.com").await;
    let b = app.browser();
    let before = b.get("/accounts/login/").await.csrf_token().unwrap();
    let signed_in = post_form(
        &b,
        "/accounts/login/",
        &[
            ("csrf_token", &before),
            ("email", "rotate@example.com"),
            ("password", "correct horse"),
        ],
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let after = b.get("/").await.csrf_token().unwrap();
    assert_ne!(after, before, "a new token comes with the new session id");
    let stale = b
        .post("/accounts/logout/", &[("csrf_token", &before)])
        .await;
    assert_eq!(stale.status, 403);
    assert!(signed_in_as(&b, "rotate@example.com").await);
    let fresh = b.post("/accounts/logout/", &[("csrf_token", &after)]).await;
    assert_eq!(fresh.status, 303);
    assert!(!signed_in_as(&b, "rotate@example.com").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_token_rotates_at_sign_in_sqlite() {
    csrf_token_rotates_at_sign_in(start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_token_rotates_at_sign_in_postgres() {
    csrf_token_rotates_at_sign_in(start(Backend::Postgres).await).await;
}

/// Two standalone products with 10 in stock each.
async fn two_products(app: &TestApp) -> (CreatedProduct, CreatedProduct) {
    let db = &app.state.db;
    (
        ProductBuilder::new().create(db).await.unwrap(),
        ProductBuilder::new().create(db).await.unwrap(),
    )
}

async fn add(b: &Browser, product: i64, quantity: &str) {
    let t = b.get("/basket/").await.csrf_token().unwrap_or_default();
    let mut form = vec![("quantity", quantity)];
    if !t.is_empty() {
        form.push(("csrf_token", &t));
    }
    let page = b.post(&format!("/basket/add/{product}/"), &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

/// (units in the basket, units saved for later) of the customer's open basket.
async fn customer_units(app: &TestApp, email: &str) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT \
           CAST(COALESCE(SUM(CASE WHEN l.is_saved = FALSE THEN l.quantity ELSE 0 END), 0) AS BIGINT), \
           CAST(COALESCE(SUM(CASE WHEN l.is_saved = TRUE THEN l.quantity ELSE 0 END), 0) AS BIGINT) \
         FROM basket_line l JOIN basket b ON b.id = l.basket_id \
         JOIN customer c ON c.id = b.owner_id WHERE b.status = 'open' AND c.email = $1",
    )
    .bind(email)
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    (row.try_get(0).unwrap(), row.try_get(1).unwrap())
}

/// A basket merged at sign-in stays within the basket's total limit: what does not fit is
/// saved for later, nothing is lost.
async fn merged_basket_keeps_the_total_limit(app: TestApp) {
    let (a, b) = two_products(&app).await;
    // The customer's basket from an earlier visit holds 5 of one product…
    let customer = CustomerBuilder::new()
        .email("merge@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    BasketBuilder::for_customer(customer.id)
        .line(&a, 5)
        .create(
            &app.state.db,
            &app.state.pricing,
            &app.state.offers,
            app.state.currency,
        )
        .await
        .unwrap();
    // …and they come back signed out and put 5 of another in an anonymous basket.
    let shopper = app.browser();
    add(&shopper, b.id, "5").await;
    assert_eq!(
        login(&shopper, &customer.email, &customer.password)
            .await
            .status,
        303
    );
    // Limits: 5 a line, 6 a basket. 5 + 5 would be 10.
    assert_eq!(customer_units(&app, "merge@example.com").await, (6, 4));
}

async fn start_small_baskets(backend: Backend) -> TestApp {
    TestApp::start_tweaked(backend, Options::default(), |c| {
        c.max_line_quantity = 5;
        c.max_basket_quantity = 6;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_basket_keeps_the_total_limit_sqlite() {
    merged_basket_keeps_the_total_limit(start_small_baskets(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_basket_keeps_the_total_limit_postgres() {
    merged_basket_keeps_the_total_limit(start_small_baskets(Backend::Postgres).await).await;
}

/// Reads an HTTP/1.1 response head (up to the blank line) from `stream`.
async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.unwrap();
        assert_eq!(n, 1, "connection closed in a response head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// A request that loaded the session before a logout and finishes after it must not save the
/// signed-in session back. The request is held between the two with `Expect: 100-continue`:
/// the server says "100 Continue" only when the handler chain (after the session was loaded)
/// asks for the body, so no timing is involved.
async fn logout_is_not_undone_by_a_request_in_flight(app: TestApp) {
    let product = two_products(&app).await.0.id;
    let customer = CustomerBuilder::new()
        .email("inflight@example.com")
        .create(&app.state.db)
        .await
        .unwrap();
    let b = app.browser();
    assert_eq!(
        login(&b, &customer.email, &customer.password).await.status,
        303
    );
    let token = b.get("/").await.csrf_token().unwrap();
    let sid = b.session_id().unwrap();

    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = format!("csrf_token={token}&quantity=1");
    let head = format!(
        "POST /basket/add/{product}/ HTTP/1.1\r\nHost: {addr}\r\nOrigin: {}\r\n\
         Cookie: {}={sid}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        app.base,
        emporium::session::COOKIE_NAME,
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let interim = read_head(&mut slow).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");

    // Meanwhile the customer signs out.
    let out = b.post("/accounts/logout/", &[("csrf_token", &token)]).await;
    assert_eq!(out.status, 303);

    slow.write_all(body.as_bytes()).await.unwrap();
    let response = read_head(&mut slow).await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    assert!(
        !response.to_ascii_lowercase().contains(&format!(
            "set-cookie: {}={sid}",
            emporium::session::COOKIE_NAME
        )),
        "the old id is not handed out again: {response}"
    );

    // The old id stays dead: not in the store, and a visitor presenting it is nobody.
    assert!(
        app.state
            .sessions
            .load(&store_key(&sid))
            .await
            .unwrap()
            .is_none()
    );
    let replay = app
        .client
        .get(format!("{}/", app.base))
        .header(
            "cookie",
            format!("{}={sid}", emporium::session::COOKIE_NAME),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!replay.contains("inflight@example.com"), "signed in again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_not_undone_by_a_request_in_flight_sqlite() {
    logout_is_not_undone_by_a_request_in_flight(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_not_undone_by_a_request_in_flight_postgres() {
    logout_is_not_undone_by_a_request_in_flight(TestApp::start(Backend::Postgres).await).await;
}

fn redis_options() -> Options {
    Options {
        redis_url: Some(REDIS_URL.into()),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_is_not_undone_by_a_request_in_flight_redis() {
    let app = TestApp::start_with(Backend::Sqlite, redis_options()).await;
    assert_eq!(app.state.sessions.name(), "redis");
    logout_is_not_undone_by_a_request_in_flight(app).await;
}

// --- Session expiry: the expiry filter, sliding renewal, cleanup -------------------------

fn record(expires_at: i64) -> Record {
    Record {
        data: r#"{"_csrf":"t"}"#.into(),
        expires_at,
        customer_id: None,
    }
}

fn fresh_key() -> String {
    store_key(&emporium::session::random_token())
}

/// What every store must do with expiry.
async fn store_honours_expiry(store: &dyn SessionStore) {
    let now = now_secs();
    let expired = fresh_key();
    store.create(&expired, &record(now - 10)).await.unwrap();
    assert!(
        store.load(&expired).await.unwrap().is_none(),
        "expired is not loaded"
    );
    assert!(
        !store.update(&expired, &record(now + 600)).await.unwrap(),
        "an expired session is not renewed"
    );
    assert!(store.load(&expired).await.unwrap().is_none());

    let live = fresh_key();
    store.create(&live, &record(now + 600)).await.unwrap();
    assert_eq!(store.load(&live).await.unwrap(), Some(record(now + 600)));
    assert!(store.update(&live, &record(now + 900)).await.unwrap());
    assert_eq!(store.load(&live).await.unwrap(), Some(record(now + 900)));
    store.delete(&live).await.unwrap();
    assert!(
        !store.update(&live, &record(now + 900)).await.unwrap(),
        "a deleted session is not brought back"
    );
    assert!(store.load(&live).await.unwrap().is_none());
}

/// What every store must do to end one customer's sessions: all of theirs go, in one call;
/// a visitor's and another customer's stay; an ended session is not brought back by a request
/// that was still running.
async fn store_ends_customer_sessions(store: &dyn SessionStore, customer: i64) {
    let live = now_secs() + 600;
    let of = |customer_id: Option<i64>| Record {
        customer_id,
        ..record(live)
    };
    let (first, second, other, visitor) = (fresh_key(), fresh_key(), fresh_key(), fresh_key());
    store.create(&first, &of(Some(customer))).await.unwrap();
    store.create(&second, &of(None)).await.unwrap();
    // Signed in later, on a session that was a visitor's.
    assert!(store.update(&second, &of(Some(customer))).await.unwrap());
    store.create(&other, &of(Some(customer + 1))).await.unwrap();
    store.create(&visitor, &of(None)).await.unwrap();
    assert_eq!(
        store.load(&second).await.unwrap().unwrap().customer_id,
        Some(customer)
    );
    assert_eq!(store.end_customer_sessions(customer).await.unwrap(), 2);
    assert!(store.load(&first).await.unwrap().is_none());
    assert!(store.load(&second).await.unwrap().is_none());
    assert!(!store.update(&first, &of(Some(customer))).await.unwrap());
    assert!(store.load(&other).await.unwrap().is_some());
    assert!(store.load(&visitor).await.unwrap().is_some());
    assert_eq!(store.end_customer_sessions(customer).await.unwrap(), 0);
}

async fn db_store_expiry(app: TestApp) {
    let store = DbStore::new(app.state.db.pool.clone());
    store_honours_expiry(&store).await;
    store_ends_customer_sessions(&store, 41).await;

    // Cleanup removes the expired rows and only those.
    let now = now_secs();
    let (old, young) = (fresh_key(), fresh_key());
    store.create(&old, &record(now - 1)).await.unwrap();
    store.create(&young, &record(now + 600)).await.unwrap();
    let rows = |key: String| {
        let pool = app.state.db.pool.clone();
        async move {
            sqlx::query("SELECT COUNT(*) FROM web_session WHERE key = $1")
                .bind(key)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    assert_eq!(rows(old.clone()).await, 1, "kept until the sweep");
    // The app's own background sweep runs the same cleanup and may get there first, so the
    // count this call returns can be 0; what matters is that the row is gone after it.
    store.cleanup().await.unwrap();
    assert_eq!(rows(old).await, 0, "swept");
    assert_eq!(rows(young).await, 1, "a live session survives the sweep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_store_expiry_sqlite() {
    db_store_expiry(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_store_expiry_postgres() {
    db_store_expiry(TestApp::start(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_expiry() {
    let prefix = format!(
        "emporium:test:{}:",
        &emporium::session::random_token()[..12]
    );
    let store = RedisStore::connect(REDIS_URL, &prefix).await.unwrap();
    store_honours_expiry(&store).await;
    store_ends_customer_sessions(&store, 41).await;

    // Redis drops a key when it expires; cleanup has nothing to do.
    let key = fresh_key();
    store.create(&key, &record(now_secs() + 1)).await.unwrap();
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(format!("{prefix}{key}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if exists == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "Redis never expired the key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(store.cleanup().await.unwrap(), 0);
}

fn session_cookie(set_cookie: &[String]) -> Option<String> {
    set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{}=", emporium::session::COOKIE_NAME)))
        .cloned()
}

/// Over HTTP: a session is renewed once it is half-way to expiry (not before), and an
/// expired one is treated as absent and its cookie dropped.
async fn sessions_slide_and_expire(app: TestApp) {
    let ttl = i64::try_from(app.state.config.session_ttl_secs).unwrap();
    let b = app.browser();
    b.get("/accounts/login/").await; // shows a form, so it starts a session
    let sid = b.session_id().expect("a session");
    let key = store_key(&sid);
    let store = &app.state.sessions;

    // Fresh: reading pages does not rewrite it.
    let page = b.get("/").await;
    assert_eq!(
        session_cookie(&page.set_cookie),
        None,
        "no renewal before half-way"
    );

    // Past half-way: the next page renews it (same id, full lifetime again).
    let mut current = store.load(&key).await.unwrap().unwrap();
    let old_expiry = now_secs() + ttl / 2 - 60;
    current.expires_at = old_expiry;
    assert!(store.update(&key, &current).await.unwrap());
    let page = b.get("/").await;
    let cookie = session_cookie(&page.set_cookie).expect("renewed");
    assert!(cookie.contains(&sid), "{cookie}");
    assert!(cookie.contains(&format!("Max-Age={ttl}")), "{cookie}");
    let renewed = store.load(&key).await.unwrap().unwrap();
    assert!(
        renewed.expires_at >= old_expiry + 60,
        "{} vs {old_expiry}",
        renewed.expires_at
    );
    assert_eq!(renewed.data, current.data);

    // Expired: the record is ignored, the visitor starts afresh and the cookie is dropped.
    let mut current = renewed;
    current.expires_at = now_secs() - 1;
    // (Redis deletes rather than keep an expired record; either way it is gone for reads.)
    store.update(&key, &current).await.unwrap();
    let page = b.get("/").await;
    let cookie = session_cookie(&page.set_cookie).expect("the stale cookie is cleared");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(b.session_id(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_slide_and_expire_sqlite() {
    sessions_slide_and_expire(TestApp::start(Backend::Sqlite).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_slide_and_expire_postgres() {
    sessions_slide_and_expire(TestApp::start(Backend::Postgres).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_slide_and_expire_redis() {
    let app = TestApp::start_with(Backend::Sqlite, redis_options()).await;
    assert_eq!(app.state.sessions.name(), "redis");
    sessions_slide_and_expire(app).await;
}
