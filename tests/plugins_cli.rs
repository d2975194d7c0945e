//! The `emporium plugin ...` commands end to end, by running the built binary: search, install
//! from a directory folder, list, config (masked secrets, field errors), enable/disable seen by
//! another process on the same database, upgrade, remove; `plugin new` for every world in
//! every language and `plugin test` printing each template's decisions (the Rust projects are
//! built here; the Python/JS ones are compared with what `cargo xtask build-plugins` built from
//! the same templates, and that build is tested); `emporium demo` installing the bundled
//! plugins idempotently.

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
    /// TMPDIR for the binary (`plugin test` keeps its compiled components there).
    tmp: Option<PathBuf>,
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
        if let Some(tmp) = &self.tmp {
            cmd.env("TMPDIR", tmp);
        }
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
        tmp: None,
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
        tmp: None,
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
        "py-coverage-condition",
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

/// Every world a plugin can target with `plugin new`, and every language: the promise
/// is a template for each pair.
const WORLDS: [&str; 5] = [
    "pricing-strategy",
    "offer-condition",
    "shipping-method",
    "payment-gateway",
    "theme-extension",
];
const LANGUAGES: [&str; 3] = ["rust", "python", "js"];

/// What the template's rule answers on `plugin test`'s samples of its world
/// (host/src/plugins/runtime/samples.rs). The three languages' templates of a world implement
/// the same rule, so they must print the same decisions.
fn expected_decisions(world: &str) -> &'static [&'static str] {
    match world {
        // 4.95 flat, free_over unset.
        "shipping-method" => &[
            "1 line, 1 item, 0.5 kg, to GB: flat \"Standard delivery\" 4.95 GBP (incl. tax 4.95)",
            "1 line, 1 item, 0.5 kg, to US: flat \"Standard delivery\" 4.95 GBP",
        ],
        // 10.00 a unit; 5 % off from 10 units; then 20 % tax.
        "pricing-strategy" => &[
            "quantity 1: p1: 10.00 GBP (incl. tax 12.00), InStock",
            "quantity 10: p1: 9.50 GBP (incl. tax 11.40), InStock; p2: 9.50 GBP (incl. tax 11.40)",
        ],
        // min_total 50 incl. tax; the samples' units cost 12.00 incl. tax.
        "offer-condition" => &[
            "1 line, 1 item: satisfied=false consumed=[] upsell=\"Spend 38.00 GBP more to qualify\"",
            "4 lines, 12 items: satisfied=true consumed=[line-0x3, line-1x3, line-2x3, line-3x3]",
        ],
        "payment-gateway" => &[
            "card 4242 4242 4242 4242, 25.00 GBP: approved 25.00 GBP (reference sandbox-SAMPLE-1)",
            "card 4000 0000 0000 0002, 25.00 GBP: declined: Your card was declined.",
            "card 4242 4242 4242 4242, 5000.00 GBP: approved 5000.00 GBP",
        ],
        "theme-extension" => &[
            "functions: format_amount (Filter), percent_off (Filter)",
            "format_amount: \"1234.5\" | format_amount(\"GBP\") = \"£1,234.50\"",
            "percent_off: \"20.00\" | percent_off(\"15.00\") = \"25%\"",
        ],
        other => panic!("no expected decisions for {other}"),
    }
}

/// Builds a generated Rust project the way its README says.
fn build_rust_project(dir: &Path) {
    // Reuse one target dir for every generated Rust project (wit-bindgen compiles once), and
    // the plugins workspace's lock file (versions known to build here).
    std::fs::copy(root().join("plugins/Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let out = Command::new("bash")
        .arg("build.sh")
        .env("CARGO_TARGET_DIR", root().join("target/template-projects"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .current_dir(dir)
        .output()
        .expect("running the build");
    assert!(
        out.status.success(),
        "rust project build failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("plugin.wasm").is_file());
}

/// Where `cargo xtask build-plugins` rendered and built the Python/JS template of `world`
/// (with id `tpl-<lang>-<world>`, see xtask/src/plugins/templates.rs).
fn built_template(lang: &str, world: &str) -> PathBuf {
    root()
        .join("target/templates")
        .join(format!("{lang}-{world}"))
}

/// Runs `cargo xtask build-plugins` when a Python/JS template has not been built yet (a bare
/// `cargo test`); `cargo xtask test`, and so CI, has built them before the tests start.
fn ensure_templates_built() {
    let missing = LANGUAGES[1..].iter().any(|lang| {
        WORLDS
            .iter()
            .any(|world| !built_template(lang, world).join("plugin.wasm").is_file())
    });
    if !missing {
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
}

/// The project `plugin new` generated has exactly the files (names and contents) of the one
/// xtask rendered and built, so `plugin test` on the built one tests what a plugin author
/// gets, without building the same 12-19 MB Python/JS component twice per run.
fn assert_same_project(generated: &Path, built: &Path) {
    let rel = |dir: &Path| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = walk_all(dir)
            .into_iter()
            .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
            .collect();
        files.sort();
        files
    };
    let files = rel(generated);
    assert_eq!(
        files,
        rel(built),
        "{} differs from {}: the template changed since `cargo xtask build-plugins` ran",
        generated.display(),
        built.display()
    );
    for f in files {
        assert!(
            std::fs::read(generated.join(&f)).unwrap() == std::fs::read(built.join(&f)).unwrap(),
            "{} differs from the built template: run `cargo xtask build-plugins`",
            f.display()
        );
    }
}

/// A TMPDIR for `plugin test`, which caches compiled components in
/// `$TMPDIR/emporium-plugin-test-cache`: there it finds the cache the other plugin test
/// binaries share (target/plugin-test-cache, keyed by content, wasmtime version and engine
/// settings), so each 12-19 MB Python/JS template is compiled once per run (seconds each), by
/// this test or by tests/plugins_polyglot.rs, whichever comes first.
fn shared_compile_cache() -> PathBuf {
    let tmp = root().join("target/plugin-cli-tmp");
    let shared = root().join("target/plugin-test-cache");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    let link = tmp.join("emporium-plugin-test-cache");
    if !link.exists() {
        #[cfg(unix)]
        if let Err(e) = std::os::unix::fs::symlink(&shared, &link) {
            // Another test process made it first.
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
        }
    }
    tmp
}

/// True when `text` holds a placeholder `plugin new` should have replaced (`{{id}}`); a theme
/// template's own `{{ price | filter }}` is not one.
fn has_placeholder(text: &str) -> bool {
    text.split("{{").skip(1).any(|rest| {
        rest.split_once("}}").is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
    })
}

#[test]
fn plugin_new_for_every_world_and_language_builds_and_plugin_test_prints_decisions() {
    ensure_built();
    ensure_templates_built();
    let work = scratch("plugin-new");
    let cli = Cli {
        data: work.join("data"),
        directory: work.join("none"),
        tmp: Some(shared_compile_cache()),
    };
    for lang in LANGUAGES {
        for world in WORLDS {
            // The id and name xtask renders the template with, so the two projects are equal.
            let name = format!("tpl-{lang}-{world}");
            let out = cli.ok(&[
                "plugin",
                "new",
                &name,
                "--display-name",
                &format!("Template {lang} {world}"),
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
            assert!(
                manifest.contains(&format!("world = \"{world}\"")),
                "{manifest}"
            );
            assert!(dir.join("wit/worlds.wit").is_file());
            assert!(dir.join("README.md").is_file());
            let sdk = match lang {
                "python" => Some("plugins/sdk-python/emporium_sdk.py"),
                "js" => Some("plugins/sdk-js/emporium-sdk.js"),
                _ => None,
            };
            if let Some(sdk) = sdk {
                let file = Path::new(sdk).file_name().unwrap();
                assert_eq!(
                    std::fs::read(dir.join(file)).unwrap(),
                    std::fs::read(root().join(sdk)).unwrap(),
                    "{lang}/{world}: the SDK module is copied into the project"
                );
                // Interpreted guests ask for a budget of their own.
                assert!(manifest.contains("time_budget_ms"), "{manifest}");
            }
            for file in walk(&dir) {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    assert!(
                        !has_placeholder(&text),
                        "unrendered placeholder in {file:?}"
                    );
                }
            }
            let built = if lang == "rust" {
                build_rust_project(&dir);
                dir.clone()
            } else {
                let built = built_template(lang, world);
                assert_same_project(&dir, &built);
                built
            };
            let report = cli.ok(&["plugin", "test", built.to_str().unwrap()]);
            // (Warnings the host logs go to the same output, before the report.)
            assert!(
                report.contains(&format!("{name}@0.1.0 ({world})")),
                "{report}"
            );
            assert!(!report.contains("ERROR"), "{lang}/{world}: {report}");
            for expected in expected_decisions(world) {
                assert!(
                    report.contains(expected),
                    "{lang}/{world}: expected {expected:?} in\n{report}"
                );
            }
        }
    }
    // A language without templates, and a name that is not an id, are clear errors.
    let err = cli.fails(&[
        "plugin",
        "new",
        "x-theme",
        "--world",
        "theme-extension",
        "--lang",
        "cobol",
        "--dir",
        work.to_str().unwrap(),
    ]);
    assert!(err.contains("unknown language \"cobol\""), "{err}");
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
    // A bundled theme extension's helpers are each shown on the samples they accept.
    let report = cli.ok(&[
        "plugin",
        "test",
        plugin_dir("text-helpers").to_str().unwrap(),
    ]);
    assert!(
        report.contains("initials: \"Ada Lovelace\" | initials = \"AL\""),
        "{report}"
    );
    assert!(
        report.contains("pluralize: 3 | pluralize(\"item\") = \"3 items\""),
        "{report}"
    );
    assert!(
        report.contains("stars: stars(3, \"item\") = \"★★★☆☆\""),
        "{report}"
    );
}

/// The files of a generated project a person edits (no wit/, no build outputs).
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

/// Every file of a project except what its build writes (so a generated project and a built
/// one compare equal).
fn walk_all(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if [
            "node_modules",
            ".venv",
            "build",
            "__pycache__",
            "plugin.wasm",
            ".build-hash",
        ]
        .contains(&&*name)
        {
            continue;
        }
        if p.is_dir() {
            out.extend(walk_all(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `plugin trace` switches recording on for every process; a serving process on the same
/// database records its quotes; `plugin replay --package` runs a changed rule against them and
/// prints exactly the changed decision (text and `--json`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_switches_tracing_on_and_replays_a_candidate() {
    ensure_built();
    let data = scratch("cli-trace");
    share_cache(&data);
    let cli = Cli {
        data: data.clone(),
        directory: data.join("no-directory"),
        tmp: None,
    };
    let shipped = root().join("target/plugins/weight-band-shipping");
    cli.ok(&[
        "plugin",
        "install",
        shipped.to_str().unwrap(),
        "--set",
        "bands=1000:3.50, 20000:15.00",
    ]);
    let refused = cli.fails(&["plugin", "trace", "weight-band-shipping", "loud"]);
    assert!(refused.contains("not a trace mode"), "{refused}");
    let said = cli.ok(&["plugin", "trace", "weight-band-shipping", "all"]);
    assert!(said.contains("trace mode all"), "{said}");

    let db = Db::connect(&database_url(&data), 2).await.unwrap();
    let host = PluginHost::open_with(&data, lifecycle_runtime(), &db, Duration::from_millis(100))
        .await
        .unwrap();
    for (basket, grams) in [(1, 500), (2, 30_000), (3, 2_000)] {
        let mut request = shipping_request(1);
        request.basket.id = Some(basket.to_string());
        request.basket.total_weight_grams = grams;
        host.registry()
            .quote_shipping("weight-band-shipping", &request)
            .unwrap();
    }
    host.traces().unwrap().flush().await;

    let heavy = root().join("target/test-plugins/weight-band-shipping-heavy");
    let args = [
        "plugin",
        "replay",
        "weight-band-shipping",
        "--from-trace",
        "--package",
        heavy.to_str().unwrap(),
    ];
    let out = cli.ok(&args);
    assert!(
        out.contains(
            "Replayed 3 of 3 recorded calls of weight-band-shipping (recorded by 0.1.0) against \
             weight-band-shipping@0.1.0: 2 unchanged, 1 changed, 0 skipped."
        ),
        "{out}"
    );
    assert!(out.contains("basket 2):"), "{out}");
    assert!(
        !out.contains("basket 1)") && !out.contains("basket 3)"),
        "{out}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report: serde_json::Value = serde_json::from_str(&cli.ok(&json_args)).unwrap();
    assert_eq!(report["changed"].as_array().unwrap().len(), 1);
    assert_eq!(report["changed"][0]["trace"]["basket_id"], 2);
    let unnamed = cli.fails(&["plugin", "replay", "weight-band-shipping", "--from-trace"]);
    assert!(unnamed.contains("name the candidate"), "{unnamed}");
}
