//! Storefront customers for tests: registered and signed in through the real forms.

use super::{Browser, TestApp};

/// Every customer's password here.
pub const PASSWORD: &str = "correct horse";

/// A visitor who registers `email` (with [`PASSWORD`]) and signs in, through the forms.
pub async fn registered(app: &TestApp, email: &str) -> Browser {
    let b = app.browser();
    let t = b.get("/accounts/register/").await.csrf_token().unwrap();
    let reg = b
        .post(
            "/accounts/register/",
            &[
                ("csrf_token", &t),
                ("email", email),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(reg.status, 303, "{}", reg.body);
    let t = b.get("/accounts/login/").await.csrf_token().unwrap();
    let login = b
        .post(
            "/accounts/login/",
            &[("csrf_token", &t), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(login.status, 303, "{}", login.body);
    b
}
