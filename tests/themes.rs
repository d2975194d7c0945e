//! Themes over HTTP and through the theme use cases, on SQLite and PostgreSQL: the bundled
//! second theme inherits from Default one file at a time; installing from a folder and a
//! `.tar.gz` (a bad manifest, a broken template and a taken id are refused with a clear
//! error); a staff user previews a theme while every other visitor keeps the active one (and
//! no preview reaches the page cache); activating reaches a second process on the same
//! database without a restart; rolling back; removing; the theme-extension plugin's helpers on
//! real pages, their fallback when the plugin is off or fails, and cached pages following
//! plugin changes; uploading a package from the dashboard; administrators only.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use emporium::audit::Actor;
use emporium::staff::Role;
use emporium::themes::ThemeError;
use emporium::themes::manage::ManageError;
use support::staff::{add_staff, staff_browser};
use support::{Backend, Browser, Options, TestApp};

/// Harbour's footer says so; Default's does not.
const HARBOUR: &str = "Harbour theme";
/// The dashboard menu's link (escaped, as every URL the templates print).
const NAV_LINK: &str = "&#x2f;dashboard&#x2f;themes&#x2f;";
/// The storefront's bar while previewing.
const PREVIEW_BAR: &str = "theme-preview-bar";

/// Pages stay cached for an hour: whatever changes a page must reach it by the cache's key or
/// its invalidation, not by expiry.
async fn start(backend: Backend) -> TestApp {
    TestApp::start_with(
        backend,
        Options {
            products: 8,
            cache_ttl_secs: 3600,
            ..Options::default()
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
    b.get("/dashboard/").await.csrf_token().unwrap()
}

async fn admin(app: &TestApp) -> Browser {
    add_staff(app, "admin@example.com", Role::Admin, &[]).await;
    staff_browser(app, "admin@example.com").await
}

async fn post(b: &Browser, path: &str) -> support::Page {
    let t = token(b).await;
    b.post(path, &[("csrf_token", &t)]).await
}

/// An anonymous visitor's page (no cookies: the page cache may serve it).
async fn anonymous(app: &TestApp, path: &str) -> String {
    let (status, body) = app.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

fn audited(action: &'static str) -> String {
    format!("SELECT CAST(COUNT(*) AS BIGINT) FROM audit_log WHERE action = '{action}'")
}

async fn count(app: &TestApp, sql: String) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bundled_theme_inherits_and_switches_for_everyone(app: TestApp) {
    let b = admin(&app).await;
    let list = b.get("/dashboard/themes/").await;
    assert_eq!(list.status, 200, "{}", list.body);
    for shown in [
        "Harbour",
        "Default",
        "/dashboard/themes/harbour/screenshot/",
        "/dashboard/themes/harbour/activate/",
    ] {
        assert!(list.body.contains(shown), "the list shows {shown}");
    }
    let shot = b.get("/dashboard/themes/harbour/screenshot/").await;
    assert_eq!(shot.status, 200);
    assert!(shot.body.contains("<svg"));

    let home = anonymous(&app, "/").await;
    assert!(!home.contains(HARBOUR), "Default is active");
    let activated = post(&b, "/dashboard/themes/harbour/activate/").await;
    assert_eq!(activated.status, 303, "{}", activated.body);
    // The cached home page is not shown again: every visitor sees Harbour at once.
    let home = anonymous(&app, "/").await;
    assert!(home.contains(HARBOUR), "Harbour's footer");
    // Its own stylesheet, and what it does not override comes from Default.
    assert!(home.contains("class=\"monogram\""), "Harbour's brand");
    assert!(home.contains("site-header"), "Default's header");
    let css_url = |name: &str| {
        home.split("href=\"")
            .find(|s| {
                s.starts_with(&format!("&#x2f;static&#x2f;css&#x2f;{name}"))
                    || s.starts_with(&format!("/static/css/{name}"))
            })
            .map(|s| s[..s.find('"').unwrap()].replace("&#x2f;", "/"))
            .unwrap_or_else(|| panic!("the {name} link"))
    };
    let (status, css) = app.get(&css_url("theme.css")).await;
    assert_eq!(status, 200);
    assert!(css.contains("Harbour's own"), "Harbour's stylesheet");
    // Default's stylesheet is still there, before it.
    let (status, css) = app.get(&css_url("shop.css")).await;
    assert_eq!(status, 200);
    assert!(
        css.contains("Emporium default theme"),
        "Default's stylesheet"
    );
    let (status, missing) = app.get("/no-such-page/").await;
    assert_eq!(status, 404);
    assert!(
        missing.contains("drifted out of the harbour"),
        "Harbour's error page"
    );
    assert_eq!(count(&app, audited("theme.activate")).await, 1);

    // Rolling back returns to Default (and a second rollback to Harbour).
    let back = post(&b, "/dashboard/themes/rollback/").await;
    assert_eq!(back.status, 303);
    assert!(!anonymous(&app, "/").await.contains(HARBOUR));
    assert_eq!(count(&app, audited("theme.rollback")).await, 1);
    assert_eq!(post(&b, "/dashboard/themes/rollback/").await.status, 303);
    assert!(anonymous(&app, "/").await.contains(HARBOUR));
    // A bundled theme stays.
    let refused = b
        .post_and_follow(
            "/dashboard/themes/default/remove/",
            &[("csrf_token", &token(&b).await)],
        )
        .await;
    assert!(
        refused.body.contains("cannot be removed"),
        "{}",
        refused.body
    );
}
both!(
    bundled_theme_db,
    bundled_theme_inherits_and_switches_for_everyone
);

async fn preview_is_for_one_staff_user_only(app: TestApp) {
    let b = admin(&app).await;
    add_staff(&app, "other@example.com", Role::Admin, &[]).await;
    let other = staff_browser(&app, "other@example.com").await;
    // The anonymous home page is in the page cache before the preview starts.
    assert!(!anonymous(&app, "/").await.contains(HARBOUR));

    let started = post(&b, "/dashboard/themes/harbour/preview/").await;
    assert_eq!(started.status, 303, "{}", started.body);
    let response = b.client.get(format!("{}/", b.base)).send().await.unwrap();
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "private, no-store",
        "a preview is kept by no cache"
    );
    let home = response.text().await.unwrap();
    assert!(home.contains(HARBOUR), "the previewing user sees Harbour");
    assert!(home.contains(PREVIEW_BAR) && home.contains("Stop previewing"));
    let product_page = b.get("/search?q=a").await;
    assert!(
        product_page.body.contains(HARBOUR),
        "on every storefront page"
    );
    // Their dashboard stays on the active theme.
    assert!(
        b.get("/dashboard/themes/")
            .await
            .body
            .contains("Previewing")
    );

    for (who, page) in [
        ("an anonymous visitor", anonymous(&app, "/").await),
        ("an anonymous visitor, again", anonymous(&app, "/").await),
        (
            "an anonymous visitor's search",
            anonymous(&app, "/search?q=a").await,
        ),
        ("another staff user", other.get("/").await.body),
        ("a visitor with a session", {
            let v = app.browser();
            v.get("/accounts/login/").await;
            v.get("/").await.body
        }),
    ] {
        assert!(!page.contains(HARBOUR), "{who} sees the active theme");
        assert!(!page.contains(PREVIEW_BAR), "{who} sees no preview bar");
    }

    // The bar's button ends it.
    let t = b.get("/").await.csrf_token().unwrap();
    let stopped = b
        .post(
            "/dashboard/themes/stop-preview/",
            &[("csrf_token", &t), ("next", "/search?q=a")],
        )
        .await;
    assert_eq!(stopped.status, 303);
    assert_eq!(stopped.location.as_deref(), Some("/search?q=a"));
    assert!(!b.get("/").await.body.contains(HARBOUR));

    // Signing out of the dashboard ends a preview too.
    assert_eq!(
        post(&b, "/dashboard/themes/harbour/preview/").await.status,
        303
    );
    assert!(b.get("/").await.body.contains(HARBOUR));
    assert_eq!(post(&b, "/dashboard/logout/").await.status, 303);
    assert!(!b.get("/").await.body.contains(HARBOUR));
}
both!(preview_db, preview_is_for_one_staff_user_only);

async fn a_switch_reaches_a_second_process(app: TestApp) {
    // A second process: its own state (templates, caches, plugins) over the same database.
    let second = emporium::app::build_state(app.state.config.clone())
        .await
        .expect("a second app state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = second.clone();
    tokio::spawn(async move {
        let _ = emporium::server::serve(serving, listener).await;
    });
    let page = |base: String| async move {
        reqwest::get(format!("{base}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(!page(base.clone()).await.contains(HARBOUR));
    app.state
        .themes()
        .activate(Actor::CommandLine, "harbour")
        .await
        .unwrap();
    wait_for("the second process to switch", async || {
        page(base.clone()).await.contains(HARBOUR)
    })
    .await;
    assert_eq!(second.templates.active_id(), "harbour");
    // And back, by a rollback in the second process.
    second.themes().rollback(Actor::CommandLine).await.unwrap();
    wait_for("the first process to roll back", async || {
        !anonymous(&app, "/").await.contains(HARBOUR)
    })
    .await;
    // A process started later reads the active theme from the database.
    app.state
        .themes()
        .activate(Actor::CommandLine, "harbour")
        .await
        .unwrap();
    let third = emporium::app::build_state(app.state.config.clone())
        .await
        .unwrap();
    assert_eq!(third.templates.active_id(), "harbour");
}
both!(second_process_db, a_switch_reaches_a_second_process);

async fn themes_install_from_a_folder_and_an_archive(app: TestApp) {
    let work = tempfile::tempdir().unwrap();
    let themes = app.state.themes();
    // A folder: a child of Harbour (three themes deep) overriding one template.
    let coast = work.path().join("coast");
    write(
        &coast,
        &[
            (
                "theme.toml",
                "name = \"Coast\"\nversion = \"1.0.0\"\nparent = \"harbour\"\ndescription = \"Sea air.\"\n",
            ),
            (
                "templates/partials/messages.html",
                "<p class=\"coast-mark\">Coast messages</p>",
            ),
        ],
    );
    let info = themes.install(Actor::CommandLine, &coast).await.unwrap();
    assert_eq!(info.id, "coast");
    assert_eq!(info.parent.as_deref(), Some("harbour"));
    assert!(!info.bundled);
    themes.activate(Actor::CommandLine, "coast").await.unwrap();
    let home = anonymous(&app, "/").await;
    assert!(home.contains("Coast messages"), "its own template");
    assert!(home.contains(HARBOUR), "its parent's");
    assert!(home.contains("site-header"), "Default's");
    // Taken ids are refused, and so is removing what is in use.
    assert!(matches!(
        themes.install(Actor::CommandLine, &coast).await,
        Err(ManageError::Refused(_))
    ));
    assert!(matches!(
        themes.remove(Actor::CommandLine, "coast").await,
        Err(ManageError::Refused(_))
    ));

    // A .tar.gz with one top-level folder, its id set in the manifest.
    let archive = work.path().join("dune-1.2.0.tar.gz");
    std::fs::write(
        &archive,
        tar_gz(&[
            (
                "dune/theme.toml",
                "id = \"dune\"\nname = \"Dune\"\nversion = \"1.2.0\"\nscreenshot = \"shot.svg\"\n",
            ),
            (
                "dune/shot.svg",
                "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            ),
            (
                "dune/templates/partials/messages.html",
                "<p>Dune messages</p>",
            ),
            ("dune/static/css/extra.css", "body{}"),
        ]),
    )
    .unwrap();
    let info = themes.install(Actor::CommandLine, &archive).await.unwrap();
    assert_eq!((info.id.as_str(), info.name.as_str()), ("dune", "Dune"));
    assert_eq!(info.screenshot.as_deref(), Some("shot.svg"));
    themes.activate(Actor::CommandLine, "dune").await.unwrap();
    let home = anonymous(&app, "/").await;
    assert!(home.contains("Dune messages") && !home.contains(HARBOUR));
    assert_eq!(count(&app, audited("theme.install")).await, 2);

    // Coast is no longer in use: it can go.
    themes.remove(Actor::CommandLine, "coast").await.unwrap();
    assert!(!app.state.config.data_dir.join("themes/coast").exists());
    assert!(themes.list().await.unwrap().iter().all(|t| t.id != "coast"));
    assert_eq!(count(&app, audited("theme.remove")).await, 1);
}
both!(install_db, themes_install_from_a_folder_and_an_archive);

/// A `.tar.gz` of `(path, text)` files.
fn tar_gz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, body) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, body.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

const INSTALL_URL: &str = "/dashboard/themes/install/";

/// Uploads `bytes` as the install form's package; the list page that follows.
async fn upload(b: &Browser, file_name: &str, bytes: &[u8]) -> String {
    let t = token(b).await;
    let posted = b
        .post_multipart(
            INSTALL_URL,
            &t,
            &[],
            "package",
            (file_name, "application/gzip", bytes),
        )
        .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    assert_eq!(posted.location.as_deref(), Some("/dashboard/themes/"));
    b.get("/dashboard/themes/").await.body
}

async fn an_administrator_uploads_a_theme_package(app: TestApp) {
    let b = admin(&app).await;
    let form = b.get("/dashboard/themes/").await.body;
    assert!(
        form.contains("enctype=\"multipart/form-data\""),
        "the install form"
    );

    // The file name names the theme when its manifest sets no id.
    let reef = tar_gz(&[
        (
            "theme.toml",
            "name = \"Reef\"\nversion = \"0.3.0\"\nparent = \"harbour\"\n",
        ),
        (
            "templates/partials/messages.html",
            "<p class=\"reef-mark\">Reef messages</p>",
        ),
    ]);
    let list = upload(&b, "Reef.tar.gz", &reef).await;
    assert!(list.contains("Reef is installed"), "{list}");
    assert!(list.contains("id=\"theme-reef\""), "{list}");
    assert_eq!(count(&app, audited("theme.install")).await, 1);
    assert_eq!(
        post(&b, "/dashboard/themes/reef/activate/").await.status,
        303
    );
    let home = anonymous(&app, "/").await;
    assert!(home.contains("Reef messages") && home.contains(HARBOUR));

    // Refused with the reason, and nothing installed: not an archive, a broken template, the
    // same id again, no file at all.
    let list = upload(&b, "notes.txt", b"just text").await;
    assert!(list.contains("is not a theme package"), "{list}");
    let broken = tar_gz(&[
        ("theme.toml", "name = \"Wreck\"\n"),
        ("templates/home.html", "{% block content %}{{ unclosed"),
    ]);
    let list = upload(&b, "wreck.tar.gz", &broken).await;
    assert!(list.contains("dash-message dash-message--error"), "{list}");
    assert!(!list.contains("id=\"theme-wreck\""), "{list}");
    assert!(!app.state.config.data_dir.join("themes/wreck").exists());
    let list = upload(&b, "reef.tar.gz", &reef).await;
    assert!(list.contains("is installed already"), "{list}");
    let list = upload(&b, "empty.tar.gz", b"").await;
    assert!(list.contains("Choose a theme package"), "{list}");
    assert_eq!(count(&app, audited("theme.install")).await, 1);
    // No upload is left behind in the themes folder.
    let left: Vec<_> = std::fs::read_dir(app.state.config.data_dir.join("themes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
both!(upload_db, an_administrator_uploads_a_theme_package);

async fn bad_packages_are_refused_with_a_clear_error(app: TestApp) {
    let work = tempfile::tempdir().unwrap();
    let themes = app.state.themes();
    let bad = |name: &str, files: &[(&str, &str)]| {
        let dir = work.path().join(name);
        write(&dir, files);
        dir
    };
    let version = bad(
        "badversion",
        &[
            ("theme.toml", "name = \"Bad\"\nversion = \"soon\"\n"),
            ("templates/home.html", "x"),
        ],
    );
    match themes.install(Actor::CommandLine, &version).await {
        Err(ManageError::Theme(ThemeError::BadManifest { message, .. })) => {
            assert!(message.contains("version"), "{message}")
        }
        other => panic!("a bad version: {other:?}"),
    }
    // The refusal names what is wrong: an unknown key, a parent that does not exist.
    for (name, manifest, named) in [
        ("unknownkey", "name = \"Bad\"\ncolour = \"red\"\n", "colour"),
        (
            "orphan",
            "name = \"Orphan\"\nparent = \"nobody\"\n",
            "nobody",
        ),
    ] {
        let dir = bad(
            name,
            &[("theme.toml", manifest), ("templates/home.html", "x")],
        );
        let e = themes.install(Actor::CommandLine, &dir).await.unwrap_err();
        assert!(e.to_string().contains(named), "{e}");
    }
    let broken = bad(
        "broken",
        &[
            ("theme.toml", "name = \"Broken\"\n"),
            ("templates/home.html", "{% if %}"),
        ],
    );
    assert!(matches!(
        themes.install(Actor::CommandLine, &broken).await,
        Err(ManageError::Theme(ThemeError::Template(_)))
    ));
    let empty = bad("empty", &[("README.md", "no theme here")]);
    let e = themes
        .install(Actor::CommandLine, &empty)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("theme.toml"), "{e}");
    let taken = bad(
        "default",
        &[
            ("theme.toml", "name = \"Mine\"\n"),
            ("templates/home.html", "x"),
        ],
    );
    assert!(matches!(
        themes.install(Actor::CommandLine, &taken).await,
        Err(ManageError::Refused(_))
    ));
    // An archive that climbs out of its folder.
    let evil = work.path().join("evil.tar.gz");
    {
        let file = std::fs::File::create(&evil).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let body = b"name = \"Evil\"\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        // `append_data` refuses `..`; a hostile archive is not built with it.
        header.as_gnu_mut().unwrap().name[..16].copy_from_slice(b"../../theme.toml");
        header.set_cksum();
        tar.append(&header, &body[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    assert!(matches!(
        themes.install(Actor::CommandLine, &evil).await,
        Err(ManageError::Refused(_))
    ));
    // Nothing was installed, nothing left behind.
    let installed: Vec<_> = std::fs::read_dir(app.state.config.data_dir.join("themes"))
        .unwrap()
        .collect();
    assert!(installed.is_empty(), "{installed:?}");
    assert_eq!(count(&app, audited("theme.install")).await, 0);
    assert!(matches!(
        themes.activate(Actor::CommandLine, "nobody").await,
        Err(ManageError::NotFound(_))
    ));
    assert!(matches!(
        themes.rollback(Actor::CommandLine).await,
        Err(ManageError::NoPrevious)
    ));
}
both!(bad_packages_db, bad_packages_are_refused_with_a_clear_error);

async fn extension_helpers_on_pages_with_their_fallbacks(app: TestApp) {
    use emporium::plugins::lifecycle::service;
    // Built by `cargo xtask build-plugins` (`cargo xtask test` builds them first).
    let built = support::repo_root().join("target/plugins/text-helpers/plugin.wasm");
    assert!(
        built.is_file(),
        "{} is missing: run `cargo xtask build-plugins`",
        built.display()
    );
    let themes = app.state.themes();
    themes
        .activate(Actor::CommandLine, "harbour")
        .await
        .unwrap();
    // No theme extension yet: the helpers render their fallbacks.
    let home = anonymous(&app, "/").await;
    assert!(home.contains("<span class=\"monogram\" aria-hidden=\"true\">Emporium Demo</span>"));
    assert!(
        !home.contains("department"),
        "no count's noun without the plugin"
    );

    app.install_plugin("text-helpers", &[], &[]).await;
    // The cached page is not shown again: the plugin change starts pages afresh.
    let home = anonymous(&app, "/").await;
    assert!(
        home.contains("<span class=\"monogram\" aria-hidden=\"true\">ED</span>"),
        "`initials` from the plugin"
    );
    assert!(
        home.contains("departments to browse") || home.contains("department to browse"),
        "`pluralize` from the plugin"
    );

    service::disable(
        &app.state.db,
        &app.state.plugins,
        emporium::audit::Actor::CommandLine,
        "text-helpers",
    )
    .await
    .unwrap();
    let home = anonymous(&app, "/").await;
    assert!(
        home.contains("<span class=\"monogram\" aria-hidden=\"true\">Emporium Demo</span>"),
        "disabled: the fallback, and the page still renders"
    );
    service::enable(
        &app.state.db,
        &app.state.plugins,
        emporium::audit::Actor::CommandLine,
        "text-helpers",
    )
    .await
    .unwrap();
    assert!(
        anonymous(&app, "/")
            .await
            .contains("aria-hidden=\"true\">ED</span>")
    );

    // A helper call that fails (the plugin refuses its arguments) renders the fallback.
    let work = tempfile::tempdir().unwrap();
    let odd = work.path().join("odd");
    write(
        &odd,
        &[
            (
                "theme.toml",
                "name = \"Odd\"\nparent = \"harbour\"\n[extension]\nhelpers = [\"pluralize\"]\n",
            ),
            (
                "templates/partials/messages.html",
                "<p id=\"odd\">{{ \"many\"|pluralize(\"box\") }}</p>",
            ),
        ],
    );
    themes.install(Actor::CommandLine, &odd).await.unwrap();
    themes.activate(Actor::CommandLine, "odd").await.unwrap();
    for _ in 0..5 {
        // Repeated failures may switch the plugin off: the page renders either way.
        let page = anonymous(&app, "/search?q=odd").await;
        assert!(page.contains("<p id=\"odd\">many</p>"), "the fallback");
    }
}
both!(
    extension_db,
    extension_helpers_on_pages_with_their_fallbacks
);

async fn only_administrators_manage_themes(app: TestApp) {
    add_staff(&app, "viewer@example.com", Role::ReadOnly, &[]).await;
    add_staff(&app, "cat@example.com", Role::CatalogueManager, &[]).await;
    for email in ["viewer@example.com", "cat@example.com"] {
        let b = staff_browser(&app, email).await;
        assert_eq!(b.get("/dashboard/themes/").await.status, 403, "{email}");
        assert!(!b.get("/dashboard/").await.body.contains(NAV_LINK));
        for path in [
            "/dashboard/themes/harbour/activate/",
            "/dashboard/themes/harbour/preview/",
            "/dashboard/themes/rollback/",
            INSTALL_URL,
        ] {
            assert_eq!(post(&b, path).await.status, 403, "{email} POST {path}");
        }
        assert!(!b.get("/").await.body.contains(HARBOUR));
    }
    assert!(!anonymous(&app, "/").await.contains(HARBOUR));
    assert_eq!(count(&app, audited("theme.activate")).await, 0);
    // An administrator has the menu entry.
    let b = admin(&app).await;
    assert!(b.get("/dashboard/").await.body.contains(NAV_LINK));
}
both!(permissions_db, only_administrators_manage_themes);
