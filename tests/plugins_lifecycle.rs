//! Plugin lifecycle through the service API with the database: install/verify (bad checksum,
//! bad signature, wrong world), enable/disable, configure (field errors, secrets apart),
//! upgrade, failing upgrade rolls back, remove; `.tar.gz` packages (and a malicious one); two
//! registries on one database (as two processes would be) following each other's changes,
//! including an automatic switch-off. Every test runs on SQLite and on PostgreSQL.

mod plugins_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emporium::infra::db::Db;
use emporium::plugins::distribution::directory::TrustPolicy;
use emporium::plugins::lifecycle::ServiceError;
use emporium::plugins::lifecycle::service::{self, Shown};

use emporium::plugins::*;
use plugins_support::*;
use semver::VersionReq;

struct Shop {
    db: Db,
    url: String,
    data: tempfile::TempDir,
    host: Arc<PluginHost>,
}

async fn shop(backend: DbKind) -> Shop {
    ensure_built();
    let data = tempfile::tempdir().unwrap();
    let url = fresh_database(backend, data.path()).await;
    let db = Db::connect(&url, 4).await.expect("database");
    let host = process(&db, data.path()).await;
    Shop {
        db,
        url,
        data,
        host,
    }
}

/// Plugins as a host process opens them (polling for other processes' changes quickly).
async fn process(db: &Db, data_dir: &Path) -> Arc<PluginHost> {
    PluginHost::open_with(
        data_dir,
        lifecycle_runtime(),
        db,
        Duration::from_millis(100),
    )
    .await
    .expect("open the plugin registry")
}

fn trust() -> TrustPolicy {
    let mut t = TrustPolicy {
        require_signature: true,
        ..TrustPolicy::default()
    };
    t.trust_hex("shop-key", &public_key_hex()).unwrap();
    t
}

fn flat_rate_request_charge(reg: &PluginRegistry) -> Result<String, PluginError> {
    reg.quote_shipping("flat-rate-shipping", &shipping_request(2))
        .map(|q| q[0].charge_excl_tax.to_string())
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        // Only stops a test that would never finish; a loaded machine may take a while.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn package_dirs(data: &Path, id: &str) -> Vec<String> {
    std::fs::read_dir(data.join("plugins").join(id))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn any() -> VersionReq {
    VersionReq::STAR
}

async fn lifecycle(backend: DbKind) {
    let s = shop(backend).await;
    let flat = "flat-rate-shipping";
    let mut publisher = Publisher::new("lifecycle");
    publisher.publish(&manifest_text(flat, "0.1.0"), &wasm_of(flat), false, true);

    // Bad checksum: refused before anything is stored or loaded.
    publisher.edit(flat, "0.1.0", |v| v.wasm_sha256 = "00".repeat(32));
    let err = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
        InstallOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");

    // Bad signature (right checksums, signed by a key the shop does not trust).
    let mut publisher = Publisher::new("lifecycle");
    publisher.publish(&manifest_text(flat, "0.1.0"), &wasm_of(flat), false, true);
    publisher.edit(flat, "0.1.0", |v| {
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        v.signature = Some(emporium::plugins::distribution::directory::sign(
            &other, flat, v,
        ));
    });
    let err = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
        InstallOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("bad signature"), "{err}");

    // Wrong world: the manifest says pricing, the component is a shipping method.
    let mut wrong = Publisher::new("wrong-world");
    let manifest = manifest_text(flat, "0.1.0")
        .replace(
            "world = \"shipping-method\"",
            "world = \"pricing-strategy\"",
        )
        .replace("id = \"flat-rate-shipping\"", "id = \"not-pricing\"");
    wrong.publish(&manifest, &wasm_of(flat), false, true);
    let err = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &wrong.directory(),
        "not-pricing",
        &any(),
        &trust(),
        InstallOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("world"), "{err}");
    assert!(service::list(&s.db, &s.host).await.unwrap().is_empty());
    assert!(package_dirs(s.data.path(), "not-pricing").is_empty());
    assert!(package_dirs(s.data.path(), flat).is_empty());

    // A good install, with configuration.
    let mut publisher = Publisher::new("lifecycle");
    publisher.publish(&manifest_text(flat, "0.1.0"), &wasm_of(flat), false, true);
    let status = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
        InstallOptions {
            config: ConfigValues::new().with("charge", "3.50"),
            ..InstallOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(status.enabled);
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "3.50");
    let listed = service::list(&s.db, &s.host).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].stored.version, "0.1.0");
    assert!(listed[0].stored.enabled);
    // Installing it again is refused (upgrade is the way to change versions).
    let err = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
        InstallOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, ServiceError::AlreadyInstalled { .. }),
        "{err}"
    );

    // Invalid configuration: every field error, nothing changed.
    let err = service::configure(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        flat,
        &[
            ("charge".into(), "lots".into()),
            ("colour".into(), "red".into()),
        ],
    )
    .await
    .unwrap_err();
    let fields: Vec<&str> = err
        .field_errors()
        .expect("field errors")
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, ["colour", "charge"], "{err}");
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "3.50");

    // Valid configuration applies at once and is stored.
    service::configure(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        flat,
        &[("charge".into(), "4.00".into())],
    )
    .await
    .unwrap();
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "4.00");
    let view = service::config_view(&s.db, &s.host, flat).await.unwrap();
    let charge = view.iter().find(|e| e.name == "charge").unwrap();
    assert_eq!(charge.shown, Shown::Value("4.00".into()));
    let method = view.iter().find(|e| e.name == "method_name").unwrap();
    assert!(matches!(method.shown, Shown::Default(_)));

    // Disable and enable.
    service::disable(&s.db, &s.host, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    assert!(matches!(
        flat_rate_request_charge(s.host.registry()),
        Err(PluginError::Disabled { .. })
    ));
    assert!(
        !service::list(&s.db, &s.host).await.unwrap()[0]
            .stored
            .enabled
    );
    service::enable(&s.db, &s.host, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "4.00");

    // Upgrade: the new version replaces the old, configuration and state kept.
    publisher.publish(&manifest_text(flat, "0.2.0"), &wasm_of(flat), false, true);
    let up = service::upgrade(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
    )
    .await
    .unwrap();
    assert_eq!(up.from.version.to_string(), "0.1.0");
    assert_eq!(up.to.version.to_string(), "0.2.0");
    assert_eq!(
        s.host
            .registry()
            .status(flat)
            .unwrap()
            .plugin
            .version
            .to_string(),
        "0.2.0"
    );
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "4.00");
    assert_eq!(
        service::list(&s.db, &s.host).await.unwrap()[0]
            .stored
            .version,
        "0.2.0"
    );
    // The replaced package is kept for a rollback, and recorded.
    let mut dirs = package_dirs(s.data.path(), flat);
    dirs.sort();
    assert_eq!(dirs.len(), 2, "the old package is kept: {dirs:?}");
    assert!(
        dirs[0].starts_with("0.1.0-") && dirs[1].starts_with("0.2.0-"),
        "{dirs:?}"
    );
    let row = &service::list(&s.db, &s.host).await.unwrap()[0].stored;
    assert_eq!(
        row.previous.as_ref().map(|p| p.version.as_str()),
        Some("0.1.0")
    );
    // Nothing newer: up to date.
    let err = service::upgrade(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ServiceError::UpToDate { .. }), "{err}");

    // A failing upgrade (checksums fine, but not a component) rolls back.
    publisher.publish(
        &manifest_text(flat, "0.3.0"),
        b"\0asm this is not a component",
        false,
        true,
    );
    let err = service::upgrade(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("0.2.0 stays installed") && text.contains("not a valid component"),
        "{text}"
    );
    let status = s.host.registry().status(flat).unwrap();
    assert_eq!(status.plugin.version.to_string(), "0.2.0");
    assert!(status.enabled);
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "4.00");
    let row = &service::list(&s.db, &s.host).await.unwrap()[0].stored;
    assert_eq!((row.version.as_str(), row.enabled), ("0.2.0", true));
    // The failed upgrade left the running package and the kept one, nothing else.
    assert_eq!(package_dirs(s.data.path(), flat).len(), 2);

    // An upgrade whose new schema needs a setting the shop has not set rolls back too.
    let needs_more = manifest_text(flat, "0.4.0").replacen(
        "[[config]]",
        "[[config]]\nname = \"zone\"\ntype = \"string\"\nrequired = true\n\n[[config]]",
        1,
    );
    publisher.publish(&needs_more, &wasm_of(flat), false, true);
    let err = service::upgrade(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        flat,
        &any(),
        &trust(),
    )
    .await
    .unwrap_err();
    assert!(
        err.field_errors()
            .is_some_and(|f| f.iter().any(|e| e.field == "zone")),
        "{err}"
    );
    assert_eq!(
        s.host
            .registry()
            .status(flat)
            .unwrap()
            .plugin
            .version
            .to_string(),
        "0.2.0"
    );

    // Remove: row, config and package gone, calls refused.
    service::remove(&s.db, &s.host, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    assert!(service::list(&s.db, &s.host).await.unwrap().is_empty());
    assert!(matches!(
        flat_rate_request_charge(s.host.registry()),
        Err(PluginError::NotFound(_))
    ));
    assert!(package_dirs(s.data.path(), flat).is_empty());
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM plugin_config")
        .fetch_one(&s.db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let _ = &s.url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_sqlite() {
    lifecycle(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_postgres() {
    lifecycle(DbKind::Postgres).await;
}

/// Collects every log line of this test binary (to prove secrets never reach one).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .try_init();
        logs
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn secrets(backend: DbKind) {
    let logs = captured_logs();
    let s = shop(backend).await;
    const SECRET: &str = "sk_live_TOPSECRET_4711";
    service::install_package(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &plugin_dir("redirect-gateway"),
        InstallOptions {
            config: ConfigValues::new()
                .with("base_url", "http://127.0.0.1:9/pay")
                .with("api_key", SECRET),
            approved_hosts: vec!["127.0.0.1".into()],
            ..InstallOptions::default()
        },
    )
    .await
    .unwrap();
    // Stored apart: not in plugin_config, only in plugin_secret.
    let public: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM plugin_config WHERE key = 'api_key'")
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    let secret: String =
        sqlx::query_scalar("SELECT value FROM plugin_secret WHERE key = 'api_key'")
            .fetch_one(&s.db.pool)
            .await
            .unwrap();
    assert_eq!((public, secret.as_str()), (0, SECRET));
    // Never listed, rendered or debug-printed.
    let list = service::list(&s.db, &s.host).await.unwrap();
    assert!(!format!("{list:?}").contains(SECRET));
    let view = service::config_view(&s.db, &s.host, "redirect-gateway")
        .await
        .unwrap();
    let key = view.iter().find(|e| e.name == "api_key").unwrap();
    assert_eq!(key.shown, Shown::SecretSet);
    assert!(!format!("{view:?}").contains(SECRET));
    // Changing another field keeps the secret.
    service::configure(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        "redirect-gateway",
        &[("base_url".into(), "http://127.0.0.1:9/other".into())],
    )
    .await
    .unwrap();
    assert_eq!(
        service::config_view(&s.db, &s.host, "redirect-gateway")
            .await
            .unwrap()
            .iter()
            .find(|e| e.name == "api_key")
            .unwrap()
            .shown,
        Shown::SecretSet
    );
    // A second process loads the secret from the database (it can call the plugin).
    let other = process(&s.db, s.data.path()).await;
    assert!(other.registry().status("redirect-gateway").unwrap().enabled);
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("Plugin redirect-gateway@"),
        "logging is captured"
    );
    assert!(!logs.contains(SECRET), "a secret reached the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_sqlite() {
    secrets(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_postgres() {
    secrets(DbKind::Postgres).await;
}

async fn archives(backend: DbKind) {
    let s = shop(backend).await;
    let scratch = scratch("archives");
    // A local .tar.gz package installs (idempotently) and runs.
    let archive = scratch.join("flat.tar.gz");
    emporium::plugins::distribution::package::pack(&plugin_dir("flat-rate-shipping"), &archive)
        .unwrap();
    service::install_package(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &archive,
        InstallOptions::default(),
    )
    .await
    .unwrap();
    service::install_package(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &archive,
        InstallOptions::default(),
    )
    .await
    .expect("installing the same package again changes nothing");
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "5.00");

    // A directory entry pointing at a signed .tar.gz.
    let mut publisher = Publisher::new("archives");
    publisher.publish(
        &manifest_text("weight-band-shipping", "0.1.0"),
        &wasm_of("weight-band-shipping"),
        true,
        true,
    );
    let status = service::install_from_directory(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        "weight-band-shipping",
        &any(),
        &trust(),
        InstallOptions::default(),
    )
    .await
    .unwrap();
    assert!(status.enabled);
    // ...and a tampered archive is refused by its checksum before it is unpacked.
    publisher.publish(
        &manifest_text("weight-band-shipping", "0.2.0"),
        &wasm_of("weight-band-shipping"),
        true,
        true,
    );
    std::fs::write(
        publisher.dir.join("weight-band-shipping-0.2.0.tar.gz"),
        b"tampered",
    )
    .unwrap();
    let err = service::upgrade(
        &s.db,
        &s.host,
        emporium::audit::Actor::CommandLine,
        &publisher.directory(),
        "weight-band-shipping",
        &any(),
        &trust(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(err.to_string().contains("0.1.0 stays installed"), "{err}");

    // A malicious archive: a path climbing out of the package folder.
    let evil = scratch.join("evil.tar.gz");
    {
        let wasm = wasm_of("flat-rate-shipping");
        let manifest = manifest_text("flat-rate-shipping", "0.9.0");
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("plugin.toml", manifest.as_bytes()),
            ("plugin.wasm", &wasm[..]),
            ("../../../escaped.txt", b"pwned"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, data).unwrap();
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        std::fs::write(&evil, gz.finish().unwrap()).unwrap();
    }
    let err = service::upgrade_package(&s.db, &s.host, emporium::audit::Actor::CommandLine, &evil)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`..`"), "{err}");
    assert!(!s.data.path().join("escaped.txt").exists());
    assert!(!s.data.path().join("plugins/escaped.txt").exists());
    // A symlink entry.
    let link = scratch.join("link.tar.gz");
    {
        let mut tar = tar::Builder::new(Vec::new());
        let manifest = manifest_text("flat-rate-shipping", "0.9.0");
        let mut h = tar::Header::new_gnu();
        h.set_size(manifest.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, "plugin.toml", manifest.as_bytes())
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        tar.append_link(&mut h, "plugin.wasm", "/etc/passwd")
            .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
        std::fs::write(&link, gz.finish().unwrap()).unwrap();
    }
    let err = service::upgrade_package(&s.db, &s.host, emporium::audit::Actor::CommandLine, &link)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // Still the original version, still serving.
    assert_eq!(flat_rate_request_charge(s.host.registry()).unwrap(), "5.00");
    assert_eq!(
        s.host
            .registry()
            .status("flat-rate-shipping")
            .unwrap()
            .plugin
            .version
            .to_string(),
        "0.1.0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_sqlite() {
    archives(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_postgres() {
    archives(DbKind::Postgres).await;
}

/// Two registries on one database, each with its own connection pool, as two host processes
/// would have: each sees the other's install, configuration, enable/disable, automatic
/// switch-off and removal within a couple of seconds.
async fn two_processes(backend: DbKind) {
    let a = shop(backend).await;
    let db_b = Db::connect(&a.url, 2).await.unwrap();
    let b = process(&db_b, a.data.path()).await;
    let flat = "flat-rate-shipping";

    service::install_package(
        &a.db,
        &a.host,
        emporium::audit::Actor::CommandLine,
        &plugin_dir(flat),
        InstallOptions::default(),
    )
    .await
    .unwrap();
    wait_for("B to load the plugin A installed", || {
        b.registry().status(flat).is_ok_and(|s| s.enabled)
    })
    .await;
    assert_eq!(flat_rate_request_charge(b.registry()).unwrap(), "5.00");

    service::disable(&db_b, &b, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    wait_for("A to see B's disable", || {
        a.host.registry().status(flat).is_ok_and(|s| !s.enabled)
    })
    .await;
    service::enable(&a.db, &a.host, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    wait_for("B to see A's enable", || {
        b.registry().status(flat).is_ok_and(|s| s.enabled)
    })
    .await;

    service::configure(
        &a.db,
        &a.host,
        emporium::audit::Actor::CommandLine,
        flat,
        &[("charge".into(), "7.25".into())],
    )
    .await
    .unwrap();
    wait_for("B to see A's configuration", || {
        flat_rate_request_charge(b.registry()).is_ok_and(|c| c == "7.25")
    })
    .await;

    // A plugin failing in A is switched off there and, through the database, in B.
    service::install_package(
        &a.db,
        &a.host,
        emporium::audit::Actor::CommandLine,
        &plugin_dir("hostile"),
        InstallOptions {
            config: ConfigValues::new().with("mode", "panic"),
            ..InstallOptions::default()
        },
    )
    .await
    .unwrap();
    wait_for("B to load the hostile plugin", || {
        b.registry().status("hostile").is_ok()
    })
    .await;
    let threshold = lifecycle_runtime().failure_threshold;
    for _ in 0..threshold {
        assert!(
            a.host
                .registry()
                .quote_shipping("hostile", &shipping_request(1))
                .is_err()
        );
    }
    assert!(!a.host.registry().status("hostile").unwrap().enabled);
    wait_for("B to see the automatic switch-off", || {
        b.registry().status("hostile").is_ok_and(|s| {
            !s.enabled && matches!(s.disabled_reason, Some(DisabledReason::Failures { .. }))
        })
    })
    .await;
    let row = service::list(&db_b, &b)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.stored.id == "hostile")
        .unwrap();
    assert!(matches!(
        row.stored.disabled_reason,
        Some(DisabledReason::Failures { count, .. }) if count == threshold
    ));

    // A third process starting now loads the state as stored.
    let db_c = Db::connect(&a.url, 2).await.unwrap();
    let c = process(&db_c, a.data.path()).await;
    assert_eq!(flat_rate_request_charge(c.registry()).unwrap(), "7.25");
    assert!(!c.registry().status("hostile").unwrap().enabled);

    service::remove(&db_b, &b, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    wait_for("A to see B's removal", || {
        a.host.registry().status(flat).is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sqlite() {
    two_processes(DbKind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_postgres() {
    two_processes(DbKind::Postgres).await;
}

/// On PostgreSQL another process follows a change as soon as it commits (LISTEN/NOTIFY), not
/// at its next poll: here the next poll is an hour away, so following at all proves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_peers_follow_at_once() {
    let a = shop(DbKind::Postgres).await;
    let db_b = Db::connect(&a.url, 2).await.unwrap();
    let b = PluginHost::open_with(
        a.data.path(),
        lifecycle_runtime(),
        &db_b,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    // The listener connects in the background: wait until it listens, so the change below is
    // announced to it (one made earlier would only be picked up by the poll).
    wait_for("B to listen for changes", || b.listening()).await;
    let flat = "flat-rate-shipping";
    service::install_package(
        &a.db,
        &a.host,
        emporium::audit::Actor::CommandLine,
        &plugin_dir(flat),
        InstallOptions::default(),
    )
    .await
    .unwrap();
    wait_for("B to load the plugin A installed", || {
        b.registry().status(flat).is_ok_and(|s| s.enabled)
    })
    .await;
    service::disable(&a.db, &a.host, emporium::audit::Actor::CommandLine, flat)
        .await
        .unwrap();
    wait_for("B to see A's disable", || {
        b.registry().status(flat).is_ok_and(|s| !s.enabled)
    })
    .await;
}
