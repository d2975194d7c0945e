//! The `emporium plugin ...` commands end to end, by running the built binary: search, install
//! from a directory folder, list, config (masked secrets, field errors), enable/disable seen by
//! another process on the same database, upgrade, remove; `plugin new` for every language
//! (building the Rust projects, and the Python/JS ones when their toolchains are installed)
//! and `plugin test`; `emporium demo` installing the bundled plugins idempotently.

mod plugins_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use emporium::infra::db::Db;
use emporium::plugins::PluginHost;
use plugins_support::*;

struct Cli {
    data: PathBuf,
    directory: PathBuf,
}

impl Cli {
    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_emporium"));
        cmd.arg("--data-dir")
            .arg(&self.data)
            .env("EMPORIUM_PLUGIN_DIRECTORY", &self.directory)
            .env(
                "EMPORIUM_PLUGIN_TRUSTED_KEYS",
                format!("shop-key={}", public_key_hex()),
            )
            .env("EMPORIUM_PLUGIN_REQUIRE_SIGNATURES", "true")
            .env("EMPORIUM_LOG", "warn")
            .env_remove("EMPORIUM_DATABASE_URL")
            .env_remove("EMPORIUM_CONFIG")
            .env_remove("EMPORIUM_DATA_DIR");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self
            .command()
            .args(args)
            .output()
            .expect("running emporium");
        eprintln!(
            "$ emporium {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "emporium {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "emporium {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }
}

/// Waits until the serving process shows a change, without blocking the runtime's threads.
/// The limit only stops a test that would never finish; a loaded machine may take a while.
async fn wait(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the shop did not follow: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn database_url(data: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data.join("emporium.db").display())
}

/// Shares the test cache of compiled components with the CLI's data dir, so the binary does
/// not recompile what other tests compiled (the cache is keyed by content and settings).
fn share_cache(data: &Path) {
    let shared = root().join("target/plugin-cli-test-cache");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(data).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&shared, data.join("plugin-cache")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_installs_configures_and_another_process_follows() {
    ensure_built();
    let mut publisher = Publisher::new("cli-directory");
    publisher.publish(
        &manifest_text("flat-rate-shipping", "0.1.0"),
        &wasm_of("flat-rate-shipping"),
        false,
        true,
    );
    let data = scratch("cli-data");
    share_cache(&data);
    let cli = Cli {
        data: data.clone(),
        directory: publisher.dir.clone(),
    };

    let found = cli.ok(&["plugin", "search", "flat"]);
    assert!(
        found.contains("flat-rate-shipping\t0.1.0\tshipping-method"),
        "{found}"
    );
    assert!(cli.ok(&["plugin", "list"]).contains("no plugins installed"));

    let out = cli.ok(&[
        "plugin",
        "install",
        "flat-rate-shipping",
        "--set",
        "charge=2.50",
    ]);
    assert!(out.contains("installed flat-rate-shipping@0.1.0"), "{out}");
    assert!(out.contains("enabled"), "{out}");
    let list = cli.ok(&["plugin", "list"]);
    assert!(
        list.contains("flat-rate-shipping\t0.1.0\tshipping-method\tenabled"),
        "{list}"
    );
    let config = cli.ok(&["plugin", "config", "flat-rate-shipping"]);
    assert!(config.contains("charge\t2.50\t"), "{config}");
    assert!(
        config.contains("method_name\tStandard delivery (default)"),
        "{config}"
    );

    // Invalid settings: refused with one line per field.
    let err = cli.fails(&[
        "plugin",
        "config",
        "flat-rate-shipping",
        "charge=abc",
        "colour=red",
    ]);
    assert!(
        err.contains("charge: \"abc\" is not a decimal number"),
        "{err}"
    );
    assert!(
        err.contains("colour: is not a setting of this plugin"),
        "{err}"
    );
    cli.ok(&["plugin", "config", "flat-rate-shipping", "charge=3.00"]);
    assert!(
        cli.ok(&["plugin", "config", "flat-rate-shipping"])
            .contains("charge\t3.00\t")
    );

    // Secrets: set through the CLI, never printed back.
    const SECRET: &str = "sk_cli_SECRET_0815";
    let out = cli.ok(&[
        "plugin",
        "install",
        plugin_dir("redirect-gateway").to_str().unwrap(),
        "--set",
        "base_url=http://127.0.0.1:9/pay",
        "--set",
        &format!("api_key={SECRET}"),
        "--allow-host",
        "127.0.0.1",
    ]);
    assert!(!out.contains(SECRET));
    let list = cli.ok(&["plugin", "list"]);
    let config = cli.ok(&["plugin", "config", "redirect-gateway"]);
    assert!(
        !list.contains(SECRET) && !config.contains(SECRET),
        "{list}{config}"
    );
    assert!(
        config.contains("api_key\t******** (secret, set)"),
        "{config}"
    );

    // A serving process on the same database follows the CLI's changes (it polls every 200 ms).
    let db = Db::connect(&database_url(&data), 2).await.unwrap();
    let host = PluginHost::open_with(&data, lifecycle_runtime(), &db, Duration::from_millis(200))
        .await
        .unwrap();
    let shop = host.registry();
    assert!(shop.status("flat-rate-shipping").unwrap().enabled);
    let quote = |shop: &emporium::plugins::PluginRegistry| {
        shop.quote_shipping("flat-rate-shipping", &shipping_request(1))
            .map(|q| q[0].charge_excl_tax.to_string())
    };
    assert_eq!(quote(shop).unwrap(), "3.00");
    cli.ok(&["plugin", "disable", "flat-rate-shipping"]);
    wait("disable", || {
        !shop.status("flat-rate-shipping").unwrap().enabled
    })
    .await;
    cli.ok(&["plugin", "enable", "flat-rate-shipping"]);
    wait("enable", || {
        shop.status("flat-rate-shipping").unwrap().enabled
    })
    .await;
    cli.ok(&["plugin", "config", "flat-rate-shipping", "charge=6.10"]);
    wait("config", || quote(shop).is_ok_and(|c| c == "6.10")).await;

    // Upgrade from the directory, then nothing newer.
    publisher.publish(
        &manifest_text("flat-rate-shipping", "0.2.0"),
        &wasm_of("flat-rate-shipping"),
        true,
        true,
    );
    let out = cli.ok(&["plugin", "upgrade", "flat-rate-shipping"]);
    assert!(
        out.contains("upgraded flat-rate-shipping@0.1.0 to 0.2.0"),
        "{out}"
    );
    wait("upgrade", || {
        shop.status("flat-rate-shipping")
            .is_ok_and(|s| s.plugin.version.to_string() == "0.2.0")
    })
    .await;
    let err = cli.fails(&["plugin", "upgrade", "flat-rate-shipping"]);
    assert!(err.contains("already at 0.2.0"), "{err}");
    // A bad signature is refused by the CLI's trust settings.
    let mut other = Publisher::new("cli-untrusted");
    other.publish(
        &manifest_text("weight-band-shipping", "0.1.0"),
        &wasm_of("weight-band-shipping"),
        false,
        false,
    );
    let err = cli.fails(&[
        "plugin",
        "install",
        "weight-band-shipping",
        "--directory",
        other.dir.to_str().unwrap(),
    ]);
    assert!(err.contains("requires signatures"), "{err}");

    cli.ok(&["plugin", "remove", "flat-rate-shipping"]);
    wait("remove", || shop.status("flat-rate-shipping").is_err()).await;
    assert!(!cli.ok(&["plugin", "list"]).contains("flat-rate-shipping"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_installs_the_bundled_plugins_idempotently() {
    ensure_built();
    let data = scratch("cli-demo");
    share_cache(&data);
    let cli = Cli {
        data: data.clone(),
        directory: data.join("no-directory"),
    };
    let plugins = root().join("target/plugins");
    let args = [
        "demo",
        "--products",
        "5",
        "--plugins",
        plugins.to_str().unwrap(),
    ];
    let first = cli.ok(&args);
    let list = cli.ok(&["plugin", "list"]);
    for id in [
        "flat-rate-shipping",
        "weight-band-shipping",
        "free-shipping-over",
        "test-card-gateway",
        "redirect-gateway",
        "py-zone-shipping",
        "js-express-shipping",
    ] {
        assert!(first.contains(id), "{id} not installed: {first}");
        assert!(
            list.lines()
                .any(|l| l.starts_with(id) && l.contains("\tenabled\t")),
            "{id}: {list}"
        );
    }
    assert!(!list.contains("hostile"));
    let second = cli.ok(&args);
    assert!(second.contains("already installed"), "{second}");
    assert!(!second.contains("installed flat-rate"), "{second}");
    // A missing plugins folder is a warning, not a failure.
    let out = cli.run(&[
        "demo",
        "--products",
        "5",
        "--plugins",
        "/nonexistent/plugins",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning"));
}

fn toolchain(path: &str) -> Option<PathBuf> {
    let p = root().join(path);
    p.exists().then_some(p)
}

/// Builds a generated project the way its README says; returns whether it was built.
fn build_project(lang: &str, dir: &Path) -> bool {
    let mut cmd;
    match lang {
        "rust" => {
            // Reuse one target dir for every generated Rust project (wit-bindgen compiles once),
            // and the plugins workspace's lock file (versions known to build here).
            std::fs::copy(root().join("plugins/Cargo.lock"), dir.join("Cargo.lock")).unwrap();
            cmd = Command::new("bash");
            cmd.arg("build.sh")
                .env("CARGO_TARGET_DIR", root().join("target/template-projects"))
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_BUILD_TARGET");
        }
        "python" => {
            let Some(cpy) = toolchain("target/toolchains/venv/bin/componentize-py") else {
                // CI installs every toolchain (cargo xtask test does): a skip there would
                // hide a broken install, so it fails instead.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "componentize-py is not installed in CI (cargo xtask test installs it)"
                );
                eprintln!(
                    "componentize-py not installed (bash plugins/toolchains.sh): not building"
                );
                return false;
            };
            cmd = Command::new("bash");
            cmd.arg("build.sh").env("COMPONENTIZE_PY", cpy);
        }
        _ => {
            let Some(bin) = toolchain("plugins/js/node_modules/.bin") else {
                // CI installs every toolchain (cargo xtask test does): a skip there would
                // hide a broken install, so it fails instead.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "componentize-js is not installed in CI (cargo xtask test installs it)"
                );
                eprintln!(
                    "componentize-js not installed (bash plugins/toolchains.sh): not building"
                );
                return false;
            };
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![bin];
            paths.extend(std::env::split_paths(&path));
            cmd = Command::new("npm");
            cmd.args(["run", "--silent", "build"])
                .env("PATH", std::env::join_paths(paths).unwrap());
        }
    }
    let out = cmd.current_dir(dir).output().expect("running the build");
    assert!(
        out.status.success(),
        "{lang} project build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("plugin.wasm").is_file());
    true
}

#[test]
fn plugin_new_for_every_language_builds_and_plugin_test_prints_decisions() {
    ensure_built();
    let work = scratch("plugin-new");
    let cli = Cli {
        data: work.join("data"),
        directory: work.join("none"),
    };
    let cases = [
        (
            "rust",
            "shipping-method",
            "flat \"Standard delivery\" 4.95 GBP",
        ),
        (
            "rust",
            "pricing-strategy",
            "quantity 10: p1: 9.50 GBP (incl. tax 11.40)",
        ),
        (
            "rust",
            "payment-gateway",
            "card 4000 0000 0000 0002, 25.00 GBP: declined",
        ),
        (
            "python",
            "shipping-method",
            "flat \"Standard delivery\" 4.95 GBP",
        ),
        (
            "js",
            "shipping-method",
            "flat \"Standard delivery\" 4.95 GBP",
        ),
    ];
    for (lang, world, expected) in cases {
        let name = format!("my-{lang}-{world}");
        let out = cli.ok(&[
            "plugin",
            "new",
            &name,
            "--world",
            world,
            "--lang",
            lang,
            "--dir",
            work.to_str().unwrap(),
        ]);
        assert!(out.contains("created"), "{out}");
        let dir = work.join(&name);
        let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
        assert!(manifest.contains(&format!("id = \"{name}\"")), "{manifest}");
        assert!(dir.join("wit/worlds.wit").is_file());
        for file in walk(&dir) {
            if let Ok(text) = std::fs::read_to_string(&file) {
                assert!(!text.contains("{{"), "unrendered placeholder in {file:?}");
            }
        }
        if build_project(lang, &dir) {
            let report = cli.ok(&["plugin", "test", dir.to_str().unwrap()]);
            assert!(report.contains(expected), "{lang}/{world}: {report}");
        }
    }
    // A world without a template, and a name that is not an id, are clear errors.
    let err = cli.fails(&[
        "plugin",
        "new",
        "x-theme",
        "--world",
        "theme-extension",
        "--lang",
        "python",
        "--dir",
        work.to_str().unwrap(),
    ]);
    assert!(
        err.contains("no python template for the theme-extension world"),
        "{err}"
    );
    let err = cli.fails(&[
        "plugin",
        "new",
        "Bad Name",
        "--world",
        "shipping-method",
        "--lang",
        "rust",
        "--dir",
        work.to_str().unwrap(),
    ]);
    assert!(err.contains("lower-case"), "{err}");
    // `plugin test` on a bundled plugin prints its decisions for the world's sample inputs.
    let report = cli.ok(&[
        "plugin",
        "test",
        plugin_dir("weight-band-shipping").to_str().unwrap(),
    ]);
    assert!(report.contains("to GB:"), "{report}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        if ["target", "node_modules", ".venv", "build", "wit"].contains(&&*name.to_string_lossy()) {
            continue;
        }
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
