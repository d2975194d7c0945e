//! Dashboard users for tests: made with one password, signed in through the real form.

use emporium::staff::Role;

use super::{Browser, TestApp};

/// Every test staff user's password.
pub const PASSWORD: &str = "staff password";

/// A staff user with `role`, limited to `partners` (codes).
pub async fn add_staff(app: &TestApp, email: &str, role: Role, partners: &[&str]) {
    let partners: Vec<String> = partners.iter().map(|p| p.to_string()).collect();
    emporium::staff::add(&app.state.db, email, PASSWORD, role, &partners)
        .await
        .unwrap();
}

/// A browser signed in to the dashboard as `email` (an existing staff user).
pub async fn staff_browser(app: &TestApp, email: &str) -> Browser {
    let b = app.browser();
    let t = b.get("/dashboard/login/").await.csrf_token().unwrap();
    let page = b
        .post(
            "/dashboard/login/",
            &[("csrf_token", &t), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    b
}
