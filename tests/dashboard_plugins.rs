//! The dashboard's plugin section over HTTP, against the real app on SQLite and PostgreSQL with
//! real compiled plugins in a real signed directory (written by `plugin publish`'s function):
//! browse the directory with signature states; review a version (checksum, signer, hosts,
//! limits); the approval gate (nothing installs without "I approve", and a gateway with no
//! approved host cannot be enabled); the generated configuration form's field errors; secrets
//! never shown again or echoed; upgrade and rollback; health figures that move after calls;
//! one pricing strategy at a time; every change audited; administrators only.

mod plugins_support;
mod support;

use std::path::{Path, PathBuf};

use emporium::plugins::distribution::publish::{PublisherKey, publish};
use emporium::staff::Role;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, Page, TestApp};

const SECRET: &str = "sk_test_NEVER_SHOWN_42";

fn built(id: &str) -> PathBuf {
    support::repo_root().join("target/plugins").join(id)
}

/// A copy of a built plugin with another id and/or version (same component).
fn variant(dir: &Path, id: &str, new_id: &str, version: &str) -> PathBuf {
    let out = dir.join(format!("{new_id}-{version}"));
    std::fs::create_dir_all(&out).unwrap();
    let manifest = std::fs::read_to_string(built(id).join("plugin.toml")).unwrap();
    let manifest = manifest
        .replacen(&format!("id = \"{id}\""), &format!("id = \"{new_id}\""), 1)
        .replacen(
            "\nversion = \"0.1.0\"",
            &format!("\nversion = \"{version}\""),
            1,
        );
    std::fs::write(out.join("plugin.toml"), manifest).unwrap();
    std::fs::copy(built(id).join("plugin.wasm"), out.join("plugin.wasm")).unwrap();
    out
}

struct Shop {
    app: TestApp,
    admin: Browser,
    _directory: tempfile::TempDir,
}

async fn shop(backend: Backend) -> Shop {
    plugins_support::ensure_built();
    let dir = tempfile::tempdir().unwrap();
    let key = PublisherKey::generate("test-publisher").unwrap();
    let out = dir.path().join("directory");
    let packages = vec![
        built("flat-rate-shipping"),
        variant(
            dir.path(),
            "flat-rate-shipping",
            "flat-rate-shipping",
            "0.2.0",
        ),
        built("redirect-gateway"),
        built("tiered-pricing"),
        variant(dir.path(), "tiered-pricing", "other-pricing", "0.1.0"),
    ];
    publish(&packages, Some(&key), &out).unwrap();
    // One plugin signed by a key the shop does not trust.
    let stranger = PublisherKey::generate("stranger").unwrap();
    publish(&[built("weight-band-shipping")], Some(&stranger), &out).unwrap();
    let trusted = key.public_hex();
    let location = out.display().to_string();
    let app = TestApp::start_tweaked(
        backend,
        Options {
            products: 0,
            ..Default::default()
        },
        move |c| {
            c.plugin_directory = Some(location);
            c.plugin_trusted_keys
                .insert("test-publisher".into(), trusted);
        },
    )
    .await;
    add_staff(&app, "admin@example.com", Role::Admin, &[]).await;
    let admin = staff_browser(&app, "admin@example.com").await;
    Shop {
        app,
        admin,
        _directory: dir,
    }
}

async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    let t = b.get("/dashboard/plugins/").await.csrf_token().unwrap();
    let mut form = form.to_vec();
    form.push(("csrf_token", &t));
    b.post(path, &form).await
}

async fn installed_version(app: &TestApp, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT version FROM plugin_installed WHERE id = $1")
        .bind(id)
        .fetch_optional(&app.state.db.pool)
        .await
        .unwrap()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT action, object_id, after_json FROM audit_log WHERE object_type = 'plugin' \
         ORDER BY id",
    )
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap()
}

fn checksum_of(page: &Page) -> String {
    let at = page.body.find("id=\"checksum\">").expect("a checksum") + "id=\"checksum\">".len();
    page.body[at..at + 64].to_string()
}

async fn install_gateway(backend: Backend) {
    let Shop {
        app,
        admin,
        _directory: _kept,
    } = shop(backend).await;

    // The directory, with each version's signature state.
    let listing = admin.get("/dashboard/plugins/directory/").await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    for id in [
        "flat-rate-shipping",
        "redirect-gateway",
        "tiered-pricing",
        "weight-band-shipping",
    ] {
        assert!(
            listing.body.contains(&format!("id=\"directory-{id}\"")),
            "{id} listed: {}",
            listing.body
        );
    }
    assert!(listing.body.contains("signed by test-publisher"));
    assert!(
        listing
            .body
            .contains("signed by stranger, a key this shop does not trust")
    );
    let searched = admin.get("/dashboard/plugins/directory/?q=hosted").await;
    assert!(searched.body.contains("directory-redirect-gateway"));
    assert!(!searched.body.contains("directory-flat-rate-shipping"));
    // An untrusted signature cannot even be reviewed.
    let refused = admin
        .get("/dashboard/plugins/directory/weight-band-shipping/0.1.0/")
        .await;
    assert_eq!(refused.status, 303);
    let back = admin.get("/dashboard/plugins/directory/").await;
    assert!(
        back.body
            .contains("weight-band-shipping 0.1.0 cannot be installed"),
        "{}",
        back.body
    );

    // The review page: checksum, signer, hosts and limits.
    let review = admin
        .get("/dashboard/plugins/directory/redirect-gateway/0.1.0/")
        .await;
    assert_eq!(review.status, 200, "{}", review.body);
    let sha = checksum_of(&review);
    let wasm = std::fs::read(built("redirect-gateway").join("plugin.wasm")).unwrap();
    assert_eq!(
        sha,
        emporium::plugins::distribution::directory::sha256_hex(&wasm)
    );
    assert!(
        review
            .body
            .contains("test-publisher (a key this shop trusts; verified)")
    );
    assert!(review.body.contains("<code>127.0.0.1</code>"));
    assert!(review.body.contains("Time per call"));

    let base = [
        ("plugin_id", "redirect-gateway"),
        ("version", "0.1.0"),
        ("wasm_sha256", sha.as_str()),
        ("cfg_base_url", "http://127.0.0.1:9/v1"),
        ("cfg_api_key", SECRET),
        ("enable", "1"),
    ];
    // Not approved: nothing happens.
    let page = post(&admin, "/dashboard/plugins/install/", &base).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("to confirm the permissions"));
    assert!(!page.body.contains(SECRET), "a secret is never echoed");
    assert_eq!(installed_version(&app, "redirect-gateway").await, None);
    // Approved, but with no host: a gateway that cannot reach its provider cannot run.
    let mut approved = base.to_vec();
    approved.push(("approve", "1"));
    let page = post(&admin, "/dashboard/plugins/install/", &approved).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("approve its hosts"), "{}", page.body);
    assert_eq!(installed_version(&app, "redirect-gateway").await, None);
    // A required setting missing: the field's own error, the rest kept.
    let mut missing: Vec<_> = approved
        .iter()
        .copied()
        .filter(|(k, _)| *k != "cfg_base_url")
        .collect();
    missing.push(("host", "127.0.0.1"));
    let page = post(&admin, "/dashboard/plugins/install/", &missing).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("base_url is required"), "{}", page.body);
    assert!(!page.body.contains(SECRET));
    assert_eq!(installed_version(&app, "redirect-gateway").await, None);
    // A checksum other than the one reviewed is refused.
    let mut other = approved.clone();
    other.push(("host", "127.0.0.1"));
    other.retain(|(k, _)| *k != "wasm_sha256");
    let zeros = "0".repeat(64);
    other.push(("wasm_sha256", &zeros));
    let page = post(&admin, "/dashboard/plugins/install/", &other).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("not the package you approved"));
    assert_eq!(installed_version(&app, "redirect-gateway").await, None);

    // Everything approved and set: installed, enabled, the secret stored and never shown.
    let mut good = approved.clone();
    good.push(("host", "127.0.0.1"));
    let page = post(&admin, "/dashboard/plugins/install/", &good).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(
        installed_version(&app, "redirect-gateway").await.as_deref(),
        Some("0.1.0")
    );
    let detail = admin.get("/dashboard/plugins/redirect-gateway/").await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(detail.body.contains(">enabled<"), "{}", detail.body);
    assert!(detail.body.contains("set — leave blank to keep it"));
    assert!(!detail.body.contains(SECRET));
    assert!(
        detail
            .body
            .contains("value=\"http:&#x2f;&#x2f;127.0.0.1:9&#x2f;v1\"")
    );

    // A bad setting beside a new secret: the field error, the secret not echoed, nothing kept.
    let page = post(
        &admin,
        "/dashboard/plugins/redirect-gateway/config/",
        &[("cfg_base_url", ""), ("cfg_api_key", "sk_second_SECRET")],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("base_url is required"));
    assert!(!page.body.contains("sk_second_SECRET"));
    // A blank secret keeps the stored one.
    let page = post(
        &admin,
        "/dashboard/plugins/redirect-gateway/config/",
        &[
            ("cfg_base_url", "http://127.0.0.1:10/v1"),
            ("cfg_api_key", ""),
        ],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let secret: String = sqlx::query_scalar(
        "SELECT value FROM plugin_secret WHERE plugin_id = 'redirect-gateway' AND key = 'api_key'",
    )
    .fetch_one(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(secret, SECRET);

    // Withdrawing every host approval switches nothing on again until one is approved.
    let page = post(&admin, "/dashboard/plugins/redirect-gateway/disable/", &[]).await;
    assert_eq!(page.status, 303);
    let page = post(
        &admin,
        "/dashboard/plugins/redirect-gateway/permissions/",
        &[],
    )
    .await;
    assert_eq!(page.status, 303);
    post(&admin, "/dashboard/plugins/redirect-gateway/enable/", &[]).await;
    let detail = admin.get("/dashboard/plugins/redirect-gateway/").await;
    assert!(detail.body.contains("approve its hosts"), "{}", detail.body);
    assert!(detail.body.contains(">disabled<"));
    post(
        &admin,
        "/dashboard/plugins/redirect-gateway/permissions/",
        &[("host", "localhost")],
    )
    .await;
    post(&admin, "/dashboard/plugins/redirect-gateway/enable/", &[]).await;
    let detail = admin.get("/dashboard/plugins/redirect-gateway/").await;
    assert!(detail.body.contains(">enabled<"), "{}", detail.body);

    // Every change is audited, never with a secret.
    let entries = audit_actions(&app).await;
    let actions: Vec<&str> = entries.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(
        actions,
        [
            "plugin.install",
            "plugin.configure",
            "plugin.disable",
            "plugin.approve",
            "plugin.approve",
            "plugin.enable"
        ]
    );
    assert!(entries.iter().all(|(_, id, _)| id == "redirect-gateway"));
    for (_, _, after) in &entries {
        assert!(!after.as_deref().unwrap_or("").contains(SECRET));
    }
}

async fn upgrade_rollback_health(backend: Backend) {
    let Shop {
        app,
        admin,
        _directory: _kept,
    } = shop(backend).await;
    let review = admin
        .get("/dashboard/plugins/directory/flat-rate-shipping/0.1.0/")
        .await;
    let sha = checksum_of(&review);
    let page = post(
        &admin,
        "/dashboard/plugins/install/",
        &[
            ("plugin_id", "flat-rate-shipping"),
            ("version", "0.1.0"),
            ("wasm_sha256", &sha),
            ("approve", "1"),
            ("enable", "1"),
        ],
    )
    .await;
    assert_eq!(page.status, 303, "{}", page.body);

    // Health moves with calls.
    let detail = admin.get("/dashboard/plugins/flat-rate-shipping/").await;
    assert!(
        detail.body.contains("<dd id=\"health-calls\">0</dd>"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("Review the upgrade to 0.2.0"));
    let request = plugins_support::shipping_request(2);
    for _ in 0..3 {
        app.state
            .plugins
            .registry()
            .quote_shipping("flat-rate-shipping", &request)
            .unwrap();
    }
    let detail = admin.get("/dashboard/plugins/flat-rate-shipping/").await;
    assert!(
        detail.body.contains("<dd id=\"health-calls\">3</dd>"),
        "{}",
        detail.body
    );
    assert!(detail.body.contains("<dd id=\"health-failures\">0</dd>"));
    assert!(detail.body.contains("p50 "), "times shown: {}", detail.body);
    let list = admin.get("/dashboard/plugins/").await;
    assert!(list.body.contains("id=\"plugin-flat-rate-shipping\""));

    // Upgrade (approved on its review page), then roll back, then forward again.
    let review = admin
        .get("/dashboard/plugins/directory/flat-rate-shipping/0.2.0/")
        .await;
    assert!(review.body.contains("Upgrade Flat rate"), "{}", review.body);
    let unapproved = post(
        &admin,
        "/dashboard/plugins/flat-rate-shipping/upgrade/",
        &[("version", "0.2.0")],
    )
    .await;
    assert_eq!(unapproved.status, 303);
    assert_eq!(
        installed_version(&app, "flat-rate-shipping")
            .await
            .as_deref(),
        Some("0.1.0")
    );
    let page = post(
        &admin,
        "/dashboard/plugins/flat-rate-shipping/upgrade/",
        &[("version", "0.2.0"), ("approve", "1")],
    )
    .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        installed_version(&app, "flat-rate-shipping")
            .await
            .as_deref(),
        Some("0.2.0")
    );
    let detail = admin.get("/dashboard/plugins/flat-rate-shipping/").await;
    assert!(
        detail.body.contains("Roll back to 0.1.0"),
        "{}",
        detail.body
    );
    assert_eq!(
        app.state
            .plugins
            .registry()
            .status("flat-rate-shipping")
            .unwrap()
            .plugin
            .version
            .to_string(),
        "0.2.0"
    );
    let page = post(
        &admin,
        "/dashboard/plugins/flat-rate-shipping/rollback/",
        &[],
    )
    .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        installed_version(&app, "flat-rate-shipping")
            .await
            .as_deref(),
        Some("0.1.0")
    );
    let status = app
        .state
        .plugins
        .registry()
        .status("flat-rate-shipping")
        .unwrap();
    assert_eq!(status.plugin.version.to_string(), "0.1.0");
    assert!(status.enabled);
    let detail = admin.get("/dashboard/plugins/flat-rate-shipping/").await;
    assert!(
        detail.body.contains("Roll back to 0.2.0"),
        "{}",
        detail.body
    );
    post(
        &admin,
        "/dashboard/plugins/flat-rate-shipping/rollback/",
        &[],
    )
    .await;
    assert_eq!(
        installed_version(&app, "flat-rate-shipping")
            .await
            .as_deref(),
        Some("0.2.0")
    );
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|a| a.0).collect();
    assert_eq!(
        actions,
        [
            "plugin.install",
            "plugin.upgrade",
            "plugin.rollback",
            "plugin.rollback"
        ]
    );

    // One pricing strategy at a time.
    for id in ["tiered-pricing", "other-pricing"] {
        let review = admin
            .get(&format!("/dashboard/plugins/directory/{id}/0.1.0/"))
            .await;
        let sha = checksum_of(&review);
        post(
            &admin,
            "/dashboard/plugins/install/",
            &[
                ("plugin_id", id),
                ("version", "0.1.0"),
                ("wasm_sha256", &sha),
                ("approve", "1"),
            ],
        )
        .await;
    }
    post(&admin, "/dashboard/plugins/tiered-pricing/enable/", &[]).await;
    post(&admin, "/dashboard/plugins/other-pricing/enable/", &[]).await;
    let detail = admin.get("/dashboard/plugins/other-pricing/").await;
    assert!(
        detail.body.contains("tiered-pricing is already enabled"),
        "{}",
        detail.body
    );
    let enabled: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM plugin_installed WHERE world = 'pricing-strategy' AND enabled = $1",
    )
    .bind(true)
    .fetch_all(&app.state.db.pool)
    .await
    .unwrap();
    assert_eq!(enabled, ["tiered-pricing"]);

    // Remove: gone with its packages.
    let page = post(&admin, "/dashboard/plugins/flat-rate-shipping/remove/", &[]).await;
    assert_eq!(page.status, 303);
    assert_eq!(installed_version(&app, "flat-rate-shipping").await, None);
    assert!(
        !app.state
            .config
            .data_dir
            .join("plugins/flat-rate-shipping")
            .exists(),
        "both kept packages removed"
    );

    // Administrators only.
    add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
    let cat = staff_browser(&app, "cat@example.com").await;
    assert_eq!(cat.get("/dashboard/plugins/").await.status, 403);
    assert_eq!(cat.get("/dashboard/plugins/directory/").await.status, 403);
    let t = cat.get("/dashboard/").await.csrf_token().unwrap();
    let refused = cat
        .post(
            "/dashboard/plugins/tiered-pricing/disable/",
            &[("csrf_token", &t)],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        !cat.get("/dashboard/")
            .await
            .body
            .contains("/dashboard/plugins/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_gateway_sqlite() {
    install_gateway(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_gateway_postgres() {
    install_gateway(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_rollback_health_sqlite() {
    upgrade_rollback_health(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_rollback_health_postgres() {
    upgrade_rollback_health(Backend::Postgres).await;
}
