//! A shopper's moves through the storefront over HTTP (add to basket, the checkout steps,
//! place the order), shared by the checkout and crash-safety tests.

use super::{Browser, Page};

/// Approved by the test card gateway.
pub const GOOD_CARD: &str = "4242424242424242";
/// A card expiry in the future whenever the test runs (December next year, MM/YY): the test
/// gateway checks it against the clock.
pub fn card_expiry() -> String {
    let year = time::OffsetDateTime::now_utc().year() + 1;
    format!("12/{:02}", year % 100)
}

/// The value of a hidden or pre-filled input.
pub fn field(page: &Page, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.body.find(&marker)?;
    let rest = &page.body[at + marker.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Every `value` of the radio inputs named `name`, in page order.
pub fn radios(page: &Page, name: &str) -> Vec<String> {
    let marker = format!("type=\"radio\" name=\"{name}\" value=\"");
    page.body
        .match_indices(&marker)
        .map(|(at, _)| {
            let rest = &page.body[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

pub async fn token(b: &Browser) -> String {
    b.get("/basket/")
        .await
        .csrf_token()
        .expect("a session with a CSRF token")
}

/// Adds to the basket; a first visit has no session yet, so no token (same-origin proof).
pub async fn add(b: &Browser, product: i64, quantity: i64) {
    let t = b.get("/basket/").await.csrf_token();
    let q = quantity.to_string();
    let mut form = vec![("quantity", q.as_str())];
    if let Some(t) = &t {
        form.push(("csrf_token", t));
    }
    let page = b.post(&format!("/basket/add/{product}/"), &form).await;
    assert_eq!(page.status, 303, "{}", page.body);
}

pub fn address(t: &str) -> Vec<(&str, &str)> {
    vec![
        ("csrf_token", t),
        ("name", "Ada Lovelace"),
        ("line1", "12 St James's Square"),
        ("city", "London"),
        ("postcode", "SW1Y 4JH"),
        ("country", "GB"),
        ("phone", "+44 20 7946 0000"),
    ]
}

/// Walks gateway → address → method → payment and returns the preview page.
/// `method`: which method key to choose (`None`: the first offered).
pub async fn to_preview(
    b: &Browser,
    guest_email: Option<&str>,
    method: Option<&str>,
    gateway: &str,
) -> Page {
    let t = token(b).await;
    if let Some(email) = guest_email {
        let page = b
            .post(
                "/checkout/gateway/",
                &[("csrf_token", &t), ("email", email)],
            )
            .await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
    let page = b.post("/checkout/shipping-address/", &address(&t)).await;
    assert_eq!(
        page.location.as_deref(),
        Some("/checkout/shipping-method/"),
        "{}",
        page.body
    );
    let methods = b.get("/checkout/shipping-method/").await;
    let keys = radios(&methods, "method");
    let key = match method {
        Some(k) => {
            assert!(
                keys.iter().any(|x| x == k),
                "{k} not offered among {keys:?}"
            );
            k.to_string()
        }
        None => keys.first().expect("a shipping method").clone(),
    };
    let page = b
        .post(
            "/checkout/shipping-method/",
            &[("csrf_token", &t), ("method", &key)],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/checkout/payment-method/"),
        "{}",
        page.body
    );
    let page = b
        .post(
            "/checkout/payment-method/",
            &[("csrf_token", &t), ("gateway", gateway)],
        )
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("/checkout/preview/"),
        "{}",
        page.body
    );
    let preview = b.get("/checkout/preview/").await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    preview
}

pub async fn place(b: &Browser, preview: &Page, card: Option<&str>) -> Page {
    place_expiring(b, preview, card, &card_expiry()).await
}

pub async fn place_expiring(b: &Browser, preview: &Page, card: Option<&str>, expiry: &str) -> Page {
    let t = preview.csrf_token().unwrap();
    let basket = field(preview, "basket_id").expect("basket id on the preview");
    let fp = field(preview, "fingerprint").expect("fingerprint on the preview");
    let mut form = vec![
        ("csrf_token", t.as_str()),
        ("basket_id", basket.as_str()),
        ("fingerprint", fp.as_str()),
    ];
    if let Some(card) = card {
        form.extend([
            ("card_number", card),
            ("card_expiry", expiry),
            ("card_cvc", "123"),
            ("card_name", "Ada Lovelace"),
        ]);
    }
    b.post("/checkout/place/", &form).await
}
