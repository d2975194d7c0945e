//! Shared by the plugin tests: builds the guests once (via `cargo xtask build-plugins` when
//! their components are missing), one runtime per test binary, and snapshot builders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use emporium::money::{Currency, Money};
use emporium::plugins::calls::{
    Address, Basket, BasketLine, ConditionInput, Customer, Product, ShippingRequest,
};
use emporium::plugins::{PluginRuntime, RuntimeConfig};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Makes sure the bundled and test guests are built. `cargo xtask test` builds them before the
/// test run; a bare `cargo test` builds them here once if they are missing.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let marker = root().join("target/test-plugins/hostile/plugin.wasm");
        if marker.exists()
            && root()
                .join("target/plugins/flat-rate-shipping/plugin.wasm")
                .exists()
        {
            return;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["run", "--quiet", "--package", "xtask", "--target-dir"])
            .arg(root().join("target/xtask-for-tests"))
            .args(["--", "build-plugins"])
            .status()
            .expect("running cargo xtask build-plugins");
        assert!(status.success(), "building the plugins failed");
    });
}

pub fn plugin_dir(id: &str) -> PathBuf {
    ensure_built();
    let shipped = root().join("target/plugins").join(id);
    if shipped.exists() {
        shipped
    } else {
        root().join("target/test-plugins").join(id)
    }
}

pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: root().join("target/plugin-test-cache"),
        // Debug builds of the host run slower; the budget is for the guest and stays tight.
        call_budget: std::time::Duration::from_millis(50),
        http_call_budget: std::time::Duration::from_secs(5),
        http_timeout: std::time::Duration::from_secs(2),
        failure_threshold: 3,
        pool_instances: 32,
        ..RuntimeConfig::default()
    }
}

/// One runtime (engine + epoch thread) per test binary, as in the shop.
pub fn runtime() -> Arc<PluginRuntime> {
    static RT: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RT.get_or_init(|| Arc::new(PluginRuntime::new(test_config()).expect("runtime")))
        .clone()
}

pub fn currency(code: &str) -> Currency {
    Currency::from_code(code).expect("a test currency")
}

/// Money as the test writes it ("10.00" stays two places when it crosses to a plugin).
pub fn money(amount: &str, code: &str) -> Money {
    Money::parse(amount, currency(code)).expect("a test amount")
}

pub fn customer() -> Customer {
    Customer {
        id: Some("c1".into()),
        email: Some("ada@example.com".into()),
        is_authenticated: true,
        groups: vec![],
    }
}

pub fn address(country: &str) -> Address {
    Address {
        country: country.into(),
        postcode: Some("SW1A 1AA".into()),
        lines: vec!["1 Test Street".into()],
        city: "London".into(),
        state: None,
    }
}

pub fn product(id: &str, category: &str, grams: u32) -> Product {
    Product {
        id: id.into(),
        parent_id: None,
        sku: Some(format!("SKU-{id}")),
        title: format!("Product {id}"),
        product_class: "Book".into(),
        categories: vec![category.into()],
        attributes: vec![],
        weight_grams: Some(grams),
        requires_shipping: true,
    }
}

/// A basket of `lines` lines, each 2 units of a 10.00 (12.00 incl. tax) product of 250 g.
pub fn basket(code: &str, lines: usize) -> Basket {
    let lines: Vec<BasketLine> = (0..lines)
        .map(|i| BasketLine {
            line_id: format!("l{i}"),
            product: product(
                &format!("p{i}"),
                if i % 2 == 0 {
                    "Books > Fiction"
                } else {
                    "Music"
                },
                250,
            ),
            quantity: 2,
            unit_price_excl_tax: money("10.00", code),
            unit_price_incl_tax: money("12.00", code),
            line_total_excl_tax: money("20.00", code),
            line_total_incl_tax: money("24.00", code),
            weight_grams: 500,
        })
        .collect();
    let n = lines.len() as u64;
    Basket {
        id: Some("b1".into()),
        currency: currency(code),
        total_excl_tax: money(&format!("{}.00", 20 * n), code),
        total_incl_tax: money(&format!("{}.00", 24 * n), code),
        total_weight_grams: 500 * n,
        num_items: 2 * n as u32,
        lines,
    }
}

pub fn shipping_request(lines: usize) -> ShippingRequest {
    ShippingRequest {
        basket: basket("GBP", lines),
        customer: customer(),
        address: Some(address("GB")),
    }
}

pub fn condition_input(lines: usize) -> ConditionInput {
    ConditionInput {
        basket: basket("EUR", lines),
        customer: customer(),
        already_consumed: vec![],
    }
}

// ---- lifecycle tests: databases, directories, packages ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// A fresh database URL: a SQLite file in `dir`, or a new database on the test PostgreSQL
/// server (`EMPORIUM_TEST_POSTGRES_URL`, default postgres@127.0.0.1:5432).
pub async fn fresh_database(backend: DbKind, dir: &Path) -> String {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    match backend {
        DbKind::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("shop.db").display()),
        DbKind::Postgres => {
            let admin = std::env::var("EMPORIUM_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!(
                "emporium_plugins_{}_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
            );
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be running at {admin}: {e}"));
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (base, _) = admin.rsplit_once('/').expect("admin URL names a database");
            format!("{base}/{name}")
        }
    }
}

/// Runtime settings for a process in a lifecycle test: the shared compiled-component cache
/// (so tests do not recompile), the test budgets.
pub fn lifecycle_runtime() -> RuntimeConfig {
    test_config()
}

/// A fresh scratch folder under target/tmp-tests.
pub fn scratch(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join("target/tmp-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A plugin directory being written by a test: versions of packages with their index.
pub struct Publisher {
    pub dir: PathBuf,
    index: emporium::plugins::distribution::directory::Index,
}

pub const SIGNING_KEY: [u8; 32] = [7; 32];

pub fn signing_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&SIGNING_KEY)
}

/// The hex public key of [`SIGNING_KEY`], to trust.
pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

impl Publisher {
    pub fn new(name: &str) -> Publisher {
        Publisher {
            dir: scratch(name),
            index: emporium::plugins::distribution::directory::Index { plugins: vec![] },
        }
    }

    /// Publishes `manifest` + `wasm` as `id@version` (a folder package, or a `.tar.gz` when
    /// `archive`), signed with [`SIGNING_KEY`] as "shop-key" when `signed`. Returns the entry
    /// for the test to tamper with via [`Publisher::edit`].
    pub fn publish(&mut self, manifest: &str, wasm: &[u8], archive: bool, signed: bool) {
        use emporium::plugins::distribution::directory::*;
        let parsed = emporium::plugins::Manifest::parse(manifest).expect("test manifest");
        let (id, version) = (parsed.id.clone(), parsed.version.to_string());
        let pkg = self.dir.join(&id).join(&version);
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("plugin.toml"), manifest).unwrap();
        std::fs::write(pkg.join("plugin.wasm"), wasm).unwrap();
        let mut entry = IndexVersion {
            version: version.clone(),
            wit_version: parsed.wit_version.to_string(),
            manifest: String::new(),
            manifest_sha256: String::new(),
            wasm: String::new(),
            wasm_sha256: String::new(),
            package: None,
            package_sha256: None,
            key: None,
            signature: None,
        };
        if archive {
            let file = self.dir.join(format!("{id}-{version}.tar.gz"));
            emporium::plugins::distribution::package::pack(&pkg, &file).unwrap();
            entry.package = Some(format!("{id}-{version}.tar.gz"));
            entry.package_sha256 = Some(sha256_hex(&std::fs::read(&file).unwrap()));
        } else {
            entry.manifest = format!("{id}/{version}/plugin.toml");
            entry.manifest_sha256 = sha256_hex(manifest.as_bytes());
            entry.wasm = format!("{id}/{version}/plugin.wasm");
            entry.wasm_sha256 = sha256_hex(wasm);
        }
        if signed {
            entry.key = Some("shop-key".into());
            entry.signature = Some(sign(&signing_key(), &id, &entry));
        }
        match self.index.plugins.iter_mut().find(|p| p.id == id) {
            Some(p) => p.versions.push(entry),
            None => self.index.plugins.push(IndexPlugin {
                id: id.clone(),
                name: parsed.name.clone(),
                world: parsed.world.name().into(),
                description: parsed.description.clone(),
                author: parsed.author.clone(),
                versions: vec![entry],
            }),
        }
        self.write();
    }

    /// Changes the index entry of `id@version`.
    pub fn edit(
        &mut self,
        id: &str,
        version: &str,
        f: impl FnOnce(&mut emporium::plugins::distribution::directory::IndexVersion),
    ) {
        let p = self.index.plugins.iter_mut().find(|p| p.id == id).unwrap();
        f(p.versions
            .iter_mut()
            .find(|v| v.version == version)
            .unwrap());
        self.write();
    }

    fn write(&self) {
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec_pretty(&self.index).unwrap(),
        )
        .unwrap();
    }

    pub fn directory(&self) -> emporium::plugins::distribution::directory::Directory {
        emporium::plugins::distribution::directory::Directory::Folder(self.dir.clone())
    }
}

/// A bundled plugin's manifest text with `version` (and optionally other replacements).
pub fn manifest_text(id: &str, version: &str) -> String {
    let text = std::fs::read_to_string(plugin_dir(id).join("plugin.toml")).unwrap();
    text.replacen(
        "version = \"0.1.0\"",
        &format!("version = \"{version}\""),
        1,
    )
}

pub fn wasm_of(id: &str) -> Vec<u8> {
    std::fs::read(plugin_dir(id).join("plugin.wasm")).unwrap()
}
