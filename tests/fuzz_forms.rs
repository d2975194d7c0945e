//! Fuzzing every form and query parser through the real router (`web::router`, with its
//! session, CSRF, body-limit and error layers) with arbitrary input: no request may panic or
//! be answered with a server error. Bad input is the client's fault, a 4xx or a page with
//! the form's errors.
//!
//! Requests carry a real session and its CSRF token (in the `X-CSRF-Token` header, so even a
//! body of arbitrary bytes reaches the handler's parser), and that session has a basket and a
//! checkout email, so the basket line and checkout parsers are reached too.
//!
//! The case count is bounded so the whole run stays well under a minute in a debug build;
//! `EMPORIUM_FUZZ_CASES` (cases per route and kind of input) raises it for a longer run.

mod support;

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, header};
use emporium::fixtures::{CategoryBuilder, ClassBuilder, OptionBuilder, ProductBuilder};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use support::{Backend, TestApp};
use tower::ServiceExt;

/// Field names the shop's forms and queries read, plus the product options of the demo
/// catalogue (added at run time): arbitrary values under real names reach real parsers.
const FIELDS: &[&str] = &[
    "quantity",
    "score",
    "title",
    "body",
    "helpful",
    "email",
    "password",
    "password_confirm",
    "next",
    "name",
    "line1",
    "line2",
    "city",
    "state",
    "postcode",
    "country",
    "phone",
    "address_id",
    "billing",
    "billing_line1",
    "billing_country",
    "which",
    "default_shipping",
    "save_address",
    "method",
    "gateway",
    "basket_id",
    "fingerprint",
    "card_number",
    "card_expiry",
    "card_cvc",
    "card_name",
    "q",
    "page",
    "sort",
    "token",
    "reference",
    "status",
    "back",
    "open",
    "archive",
    "csrf_token",
];

/// Values that parsers have historically got wrong.
const NASTY: &[&str] = &[
    "",
    "0",
    "-1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "1e309",
    "NaN",
    "0x10",
    "1.5",
    " 7 ",
    "123\u{e9}5",
    "\u{1F4B7}\u{1F4B7}\u{1F4B7}",
    "\u{0}",
    "%",
    "%%",
    "..",
    "../../etc/passwd",
    "//evil.test",
    "https://evil.test/",
    "NL",
    "GB",
    "US",
    "12/30",
    "99/99",
    "\u{202e}",
];

struct Visitor {
    cookie: String,
    token: String,
    line: i64,
}

struct Fuzz {
    router: axum::Router,
    visitor: Visitor,
    product: i64,
    fields: Vec<String>,
}

async fn send(
    router: &axum::Router,
    method: Method,
    uri: &str,
    cookie: Option<&str>,
    token: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
) -> axum::response::Response {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "shop.test")
        .header(header::ORIGIN, "http://shop.test")
        .header(header::CONTENT_TYPE, content_type);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(token) = token {
        request = request.header("x-csrf-token", token);
    }
    let mut request = request.body(Body::from(body)).expect("a valid request");
    // As the server adds it (app::serve), for handlers that look at the client's address.
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40000,
        ))));
    router.clone().oneshot(request).await.expect("infallible")
}

async fn text(response: axum::response::Response) -> String {
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&body).into_owned()
}

fn session_cookie(response: &axum::response::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{}=", emporium::session::COOKIE_NAME)))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
}

/// A new session with a token, one basket line and a checkout email.
async fn new_visitor(router: &axum::Router, product: i64) -> Visitor {
    let login = send(
        router,
        Method::GET,
        "/accounts/login/",
        None,
        None,
        "text/plain",
        vec![],
    )
    .await;
    let cookie = session_cookie(&login).expect("the sign-in page starts a session");
    let page = text(login).await;
    let marker = "name=\"csrf-token\" content=\"";
    let at = page.find(marker).expect("a CSRF token on the page") + marker.len();
    let token = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let form = "application/x-www-form-urlencoded";
    let added = send(
        router,
        Method::POST,
        &format!("/basket/add/{product}/"),
        Some(&cookie),
        Some(&token),
        form,
        b"quantity=2".to_vec(),
    )
    .await;
    assert_eq!(added.status(), 303, "{:?}", added.headers());
    let email = send(
        router,
        Method::POST,
        "/checkout/gateway/",
        Some(&cookie),
        Some(&token),
        form,
        b"email=fuzz%40example.com".to_vec(),
    )
    .await;
    assert_eq!(email.status(), 303, "{}", text(email).await);
    let basket = text(
        send(
            router,
            Method::GET,
            "/basket/",
            Some(&cookie),
            None,
            form,
            vec![],
        )
        .await,
    )
    .await;
    // Each line is `<li class="basket-line" id="line-ID">` (the theme escapes the `/` in its
    // form actions, so those are no marker).
    let marker = "id=\"line-";
    let at = basket
        .find(marker)
        .unwrap_or_else(|| panic!("a line on the basket page: {basket}"))
        + marker.len();
    let line = basket[at..]
        .split('"')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("a line id");
    Visitor {
        cookie,
        token,
        line,
    }
}

/// One fuzzed request: a route (by template), a path parameter, and the input.
#[derive(Debug, Clone)]
enum Input {
    /// `key=value` pairs, url-encoded.
    Pairs(Vec<(String, String)>),
    /// Any bytes at all.
    Raw(Vec<u8>),
}

fn pairs(fields: Vec<String>) -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        4 => proptest::sample::select(fields),
        1 => any::<String>(),
    ];
    let value = prop_oneof![
        2 => proptest::sample::select(NASTY).prop_map(str::to_owned),
        2 => any::<String>(),
        1 => "[0-9]{1,25}",
        1 => "[A-Za-z0-9 ]{0,12}",
    ];
    proptest::collection::vec((name, value), 0..8)
}

fn input(fields: Vec<String>) -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => pairs(fields).prop_map(Input::Pairs),
        1 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Input::Raw),
    ]
}

/// A path parameter: the real one, or anything (percent-encoded into the path).
fn param(real: String) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(real),
        1 => proptest::sample::select(NASTY).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Percent-encodes all but the characters paths and queries commonly carry as they are.
const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn encode(raw: &[u8]) -> String {
    percent_encoding::percent_encode(raw, ENCODE).to_string()
}

impl Input {
    fn form_body(&self, token: &str) -> Vec<u8> {
        match self {
            Input::Pairs(pairs) => {
                let mut body = serde_urlencoded::to_string(pairs).unwrap_or_default();
                // The form's own token as well, where it is not already fuzzed.
                if !pairs.iter().any(|(k, _)| k == "csrf_token") {
                    body.push_str(&format!("&csrf_token={token}"));
                }
                body.into_bytes()
            }
            Input::Raw(bytes) => bytes.clone(),
        }
    }

    fn query(&self) -> String {
        match self {
            Input::Pairs(pairs) => serde_urlencoded::to_string(pairs).unwrap_or_default(),
            // Arbitrary bytes, percent-encoded (so they decode to anything, invalid UTF-8 too),
            // with the separators left as they were.
            Input::Raw(bytes) => bytes
                .split(|b| *b == b'&')
                .map(|part| {
                    part.split(|b| *b == b'=')
                        .map(encode)
                        .collect::<Vec<_>>()
                        .join("=")
                })
                .collect::<Vec<_>>()
                .join("&"),
        }
    }
}

impl Fuzz {
    async fn check(
        &mut self,
        method: Method,
        route: &str,
        param: &str,
        input: &Input,
    ) -> Result<(), TestCaseError> {
        let path = route.replace("{}", &encode(param.as_bytes()));
        let (uri, content_type, body) = if method == Method::GET {
            (
                format!("{path}?{}", input.query()),
                "text/plain",
                Vec::new(),
            )
        } else {
            let content_type = match input {
                Input::Pairs(_) => "application/x-www-form-urlencoded",
                Input::Raw(_) => "application/x-www-form-urlencoded; charset=utf-8",
            };
            (path, content_type, input.form_body(&self.visitor.token))
        };
        let response = send(
            &self.router,
            method.clone(),
            &uri,
            Some(&self.visitor.cookie),
            Some(&self.visitor.token),
            content_type,
            body,
        )
        .await;
        let status = response.status();
        let renewed = session_cookie(&response);
        let page = text(response).await;
        prop_assert!(
            !status.is_server_error(),
            "{method} {uri} with {input:?} was answered {status}: {page}"
        );
        // Signing in, registering or out changes the session: carry on as a new visitor so
        // the next cases reach the parsers again.
        if renewed.is_some_and(|c| c != self.visitor.cookie) {
            self.visitor = new_visitor(&self.router, self.product).await;
        }
        Ok(())
    }
}

fn cases() -> u32 {
    std::env::var("EMPORIUM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

#[test]
fn every_form_and_query_parser_refuses_bad_input_cleanly() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let app = TestApp::start(Backend::Sqlite).await;
        app.install_plugin("flat-rate-shipping", &[("charge", "4.95")], &[])
            .await;
        app.install_plugin("test-card-gateway", &[], &[]).await;
        app
    });
    // A plain product in its own category, and one with options of two kinds (one offered
    // by its class, one by the product itself) whose fields the fuzzer fills in.
    let (product, slug, category, product_with_options, options) = rt.block_on(async {
        let db = &app.state.db;
        let category = CategoryBuilder::new().create(db).await.unwrap();
        let plain = ProductBuilder::new()
            .category(&category)
            .create(db)
            .await
            .unwrap();
        let gift_wrap = OptionBuilder::new()
            .kind("boolean")
            .create(db)
            .await
            .unwrap();
        let message = OptionBuilder::new().create(db).await.unwrap();
        let class = ClassBuilder::new()
            .option(&gift_wrap)
            .create(db)
            .await
            .unwrap();
        let with_options = ProductBuilder::new()
            .class(&class)
            .option(&message)
            .create(db)
            .await
            .unwrap();
        let options: Vec<String> = [gift_wrap, message]
            .iter()
            .map(|o| format!("option_{}", o.code))
            .collect();
        (
            plain.id,
            plain.slug,
            category.full_slug,
            with_options.id,
            options,
        )
    });
    let router = emporium::web::router(app.state.clone());
    let visitor = rt.block_on(new_visitor(&router, product));
    let line = visitor.line.to_string();
    let fuzz = std::cell::RefCell::new(Fuzz {
        router,
        visitor,
        product,
        fields: FIELDS
            .iter()
            .map(|f| f.to_string())
            .chain(options)
            .collect(),
    });

    let post = Method::POST;
    let get = Method::GET;
    // Every route of the storefront, by method, with its real path parameter.
    let routes: Vec<(Method, &str, String)> = vec![
        (get.clone(), "/", String::new()),
        (get.clone(), "/search", String::new()),
        (get.clone(), "/catalogue/category/{}/", category),
        (get.clone(), "/catalogue/{}/", format!("{slug}_{product}")),
        (get.clone(), "/catalogue/{}", format!("{slug}_{product}")),
        (
            get.clone(),
            "/catalogue/{}/reviews/",
            format!("{slug}_{product}"),
        ),
        (
            get.clone(),
            "/catalogue/{}/reviews/add/",
            format!("{slug}_{product}"),
        ),
        (
            post.clone(),
            "/catalogue/{}/reviews/add/",
            format!("{slug}_{product}"),
        ),
        (post.clone(), "/reviews/{}/vote/", "1".into()),
        (get.clone(), "/static/{}", "css/shop.css".into()),
        (get.clone(), "/media/{}", "none.png".into()),
        (get.clone(), "/basket/", String::new()),
        (post.clone(), "/basket/add/{}/", product.to_string()),
        (
            post.clone(),
            "/basket/add/{}/",
            product_with_options.to_string(),
        ),
        (post.clone(), "/basket/lines/{}/quantity/", line.clone()),
        (post.clone(), "/basket/lines/{}/save/", line.clone()),
        (post.clone(), "/basket/lines/{}/restore/", line.clone()),
        (post.clone(), "/basket/lines/{}/remove/", line.clone()),
        (get.clone(), "/accounts/login/", String::new()),
        (post.clone(), "/accounts/login/", String::new()),
        (get.clone(), "/accounts/register/", String::new()),
        (post.clone(), "/accounts/register/", String::new()),
        (post.clone(), "/accounts/logout/", String::new()),
        (get.clone(), "/accounts/orders/", String::new()),
        (get.clone(), "/accounts/addresses/", String::new()),
        (post.clone(), "/accounts/addresses/new/", String::new()),
        (post.clone(), "/accounts/addresses/{}/edit/", "1".into()),
        (post.clone(), "/accounts/addresses/{}/default/", "1".into()),
        (get.clone(), "/accounts/orders/{}/", "100001".into()),
        (get.clone(), "/accounts/notifications/", String::new()),
        (
            get.clone(),
            "/accounts/notifications/archive/",
            String::new(),
        ),
        (
            post.clone(),
            "/accounts/notifications/read-all/",
            String::new(),
        ),
        (post.clone(), "/accounts/notifications/{}/read/", "1".into()),
        (
            post.clone(),
            "/accounts/notifications/{}/archive/",
            "1".into(),
        ),
        (
            post.clone(),
            "/accounts/notifications/{}/delete/",
            "1".into(),
        ),
        (get.clone(), "/accounts/emails/", String::new()),
        (get.clone(), "/accounts/emails/{}/", "1".into()),
        (get.clone(), "/orders/{}/", "100001".into()),
        (get.clone(), "/checkout/", String::new()),
        (get.clone(), "/checkout/gateway/", String::new()),
        (post.clone(), "/checkout/gateway/", String::new()),
        (get.clone(), "/checkout/shipping-address/", String::new()),
        (post.clone(), "/checkout/shipping-address/", String::new()),
        (get.clone(), "/checkout/shipping-method/", String::new()),
        (post.clone(), "/checkout/shipping-method/", String::new()),
        (get.clone(), "/checkout/payment-method/", String::new()),
        (post.clone(), "/checkout/payment-method/", String::new()),
        (get.clone(), "/checkout/preview/", String::new()),
        (post.clone(), "/checkout/place/", String::new()),
        (
            get.clone(),
            "/checkout/payment/return/{}/",
            "redirect-gateway".into(),
        ),
        (get.clone(), "/checkout/thank-you/", String::new()),
        (
            post.clone(),
            "/payment/{}/webhook/",
            "test-card-gateway".into(),
        ),
        (
            get.clone(),
            "/payment/{}/webhook/",
            "test-card-gateway".into(),
        ),
    ];
    let started = std::time::Instant::now();
    let requests = std::cell::Cell::new(0u32);
    for (method, route, real) in routes {
        let mut runner = TestRunner::new(RunnerConfig {
            cases: cases(),
            // Nothing written beside the sources; a failure prints its smallest input.
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let strategy = (param(real), input(fuzz.borrow().fields.clone()));
        let result = runner.run(&strategy, |(param, input)| {
            requests.set(requests.get() + 1);
            rt.block_on(
                fuzz.borrow_mut()
                    .check(method.clone(), route, &param, &input),
            )
        });
        if let Err(failure) = result {
            panic!("{method} {route}: {failure}");
        }
    }
    println!(
        "{} fuzzed requests in {:.1} s",
        requests.get(),
        started.elapsed().as_secs_f64()
    );
}
