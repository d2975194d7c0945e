//! The `emporium` command line.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::infra::config::Config;
use crate::infra::db::Db;

mod catalogue;
mod offer;
mod staff;
mod theme;

#[derive(Parser)]
#[command(
    name = "emporium",
    version,
    about = "A commerce platform with WebAssembly plugins"
)]
pub struct Cli {
    /// TOML configuration file; EMPORIUM_* environment variables override it.
    #[arg(long, global = true, env = "EMPORIUM_CONFIG")]
    config: Option<PathBuf>,
    /// Folder for the SQLite database, media and caches.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the shop.
    Serve {
        /// Address to listen on.
        #[arg(long)]
        addr: Option<String>,
        /// Development mode: reload templates and static files when they change.
        #[arg(long)]
        dev: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo catalogue (does nothing if it is already loaded) and install and enable
    /// the bundled plugins.
    Demo {
        /// How many products to generate.
        #[arg(long, default_value_t = 1000)]
        products: u32,
        /// Folder holding the built bundled plugins (`cargo xtask build-plugins`).
        #[arg(long, default_value = "target/plugins")]
        plugins: PathBuf,
    },
    /// Manage plugins: list, search, install, upgrade, remove, enable, disable, configure;
    /// scaffold and try out new ones.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Manage dashboard accounts: add, list, remove.
    Staff {
        #[command(subcommand)]
        command: staff::StaffCommand,
    },
    /// The catalogue as CSV: import (create and update by UPC, with a dry run), export.
    Catalogue {
        #[command(subcommand)]
        command: catalogue::CatalogueCommand,
    },
    /// Manage themes: list, install, activate, rollback, remove.
    Theme {
        #[command(subcommand)]
        command: theme::ThemeCommand,
    },
    /// Offers and vouchers: ranges, offers, voucher codes and sets, and why a basket got
    /// (or did not get) each offer.
    Offer {
        #[command(subcommand)]
        command: offer::OfferCommand,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Installed plugins with their version, world and state (never configuration values).
    List,
    /// Plugins in the directory whose id, name or description contains QUERY.
    Search {
        query: Option<String>,
        /// Plugin directory: a folder or an http(s) URL (default: config `plugin_directory`).
        #[arg(long)]
        directory: Option<String>,
    },
    /// Install a plugin from the directory by id, or from a local folder or .tar.gz package.
    Install {
        /// A plugin id (fetched from the directory) or a path to a package.
        target: String,
        #[arg(long)]
        directory: Option<String>,
        /// Version requirement, e.g. `^0.2` (default: the newest).
        #[arg(long = "version", value_name = "REQ")]
        version_req: Option<String>,
        /// Configuration values, validated against the plugin's schema.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Approve outgoing HTTP to a host the plugin declares (repeatable).
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_host: Vec<String>,
        /// Install switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// Upgrade a plugin from the directory (or a local package); on failure the installed
    /// version stays.
    Upgrade {
        /// A plugin id or a path to a package.
        target: String,
        #[arg(long)]
        directory: Option<String>,
        #[arg(long = "version", value_name = "REQ")]
        version_req: Option<String>,
    },
    /// Go back to the version the last upgrade replaced (kept on disk); a second rollback is
    /// the upgrade again.
    Rollback { id: String },
    /// Uninstall a plugin, its configuration and its secrets.
    Remove { id: String },
    /// Choose which of a plugin's calls are recorded as decision traces: off, sampled (a
    /// share of baskets, `plugin_trace_sample_percent`) or all.
    Trace { id: String, mode: String },
    /// Shadow run: replay a plugin's recorded calls against another version (ID@VERSION from
    /// the directory, or `--package PATH`) and print every decision it makes differently.
    /// Nothing is installed.
    Replay {
        /// The plugin and the candidate version, e.g. `weight-band-shipping@0.2.0`.
        target: String,
        /// Replay the calls in the trace store (the only source today; kept for clarity in
        /// scripts).
        #[arg(long = "from-trace")]
        from_trace: bool,
        /// Only calls recorded at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// At most this many calls, oldest first.
        #[arg(long, default_value_t = 10_000)]
        limit: i64,
        /// The candidate from a local package (folder or .tar.gz) instead of the directory.
        #[arg(long)]
        package: Option<PathBuf>,
        #[arg(long)]
        directory: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve outgoing HTTP to the hosts given (they must be ones the plugin declares);
    /// without hosts, withdraws every approval.
    Approve {
        id: String,
        #[arg(long = "allow-host", value_name = "HOST")]
        allow_host: Vec<String>,
    },
    /// Build or extend a plugin directory from built plugins (folders with plugin.toml and
    /// plugin.wasm, or .tar.gz packages), signing every version with KEY.
    Publish {
        #[arg(required = true)]
        packages: Vec<PathBuf>,
        /// Key file from `plugin keygen` (omit to publish unsigned).
        #[arg(long)]
        key: Option<PathBuf>,
        /// The name merchants trust the key under (default: the key file's name).
        #[arg(long = "key-name")]
        key_name: Option<String>,
        /// The directory folder to write (its index.json is created or extended).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a signing key for `plugin publish`; prints the public key merchants trust.
    Keygen {
        /// Where to write the secret key (readable by you only).
        #[arg(long)]
        out: PathBuf,
    },
    /// Switch a plugin on (in every process sharing the database).
    Enable { id: String },
    /// Switch a plugin off (in every process sharing the database).
    Disable { id: String },
    /// Show a plugin's configuration (secrets masked), or set values: `config ID key=value ...`
    /// (an empty value goes back to the default).
    Config {
        id: String,
        #[arg(value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
    /// Create a plugin project from a template.
    New {
        /// The plugin id and folder name, e.g. `my-shipping`.
        name: String,
        /// The world (extension point): pricing-strategy, offer-condition, shipping-method,
        /// payment-gateway or theme-extension.
        #[arg(long)]
        world: String,
        /// rust, python or js.
        #[arg(long)]
        lang: String,
        /// Folder to create the project in (default: the current folder).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Display name (default: from NAME).
        #[arg(long = "display-name")]
        display_name: Option<String>,
        /// Repository root holding plugins/templates and wit/ (default: found automatically).
        #[arg(long)]
        templates: Option<PathBuf>,
    },
    /// Load a built plugin (DIR with plugin.toml and plugin.wasm) and run it against sample
    /// inputs of its world, printing its decisions.
    Test {
        dir: PathBuf,
        /// Configuration values for the run.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        // Colour codes only for a person at a terminal, never in a log file or a pipe. The
        // logs go to stdout (fmt's default writer), so that is the stream to ask.
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EMPORIUM_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli.command, config))
}

async fn run(command: Command, mut config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { addr, dev } => {
            if let Some(addr) = addr {
                config.addr = addr;
            }
            config.dev |= dev;
            let addr = config.addr.clone();
            let state = crate::app::build_state(config).await?;
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            tracing::info!("serving the shop at http://{}", listener.local_addr()?);
            crate::server::serve(state, listener).await
        }
        Command::Migrate => {
            let url = config.database_url();
            Db::connect(&url, 1)
                .await
                .with_context(|| format!("migrating {}", crate::infra::redact(&url)))?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { products, plugins } => {
            let db = Db::connect(&config.database_url(), 2).await?;
            let media = crate::media::MediaStore::open(&config)?;
            let added =
                crate::demo::load(&db.pool, products, config.default_currency()?, &media, true)
                    .await?;
            if added == 0 {
                println!("the demo catalogue is already loaded");
            } else {
                println!("loaded {added} demo products");
            }
            install_bundled(&config, &db, &plugins).await?;
            publish_demo_directory(&config, &plugins)?;
            offer::add_demo_offers(&db, config.default_currency()?).await?;
            staff::add_demo_users(&db).await
        }
        Command::Plugin { command } => plugin(command, config).await,
        Command::Staff { command } => staff::run(command, config).await,
        Command::Catalogue { command } => catalogue::run(command, config).await,
        Command::Theme { command } => theme::run(command, config).await,
        Command::Offer { command } => offer::run(command, config).await,
    }
}

/// The bundled plugins the demo shop installs, with demo settings (`{currency}` is the shop's).
/// Hostile and test-only guests are never listed here.
/// (plugin id, config settings, approved HTTP hosts).
type Bundled = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const BUNDLED: &[Bundled] = &[
    ("flat-rate-shipping", &[], &[]),
    ("weight-band-shipping", &[], &[]),
    (
        "free-shipping-over",
        &[("threshold", "50.00"), ("currency", "{currency}")],
        &[],
    ),
    ("test-card-gateway", &[], &[]),
    (
        "redirect-gateway",
        &[
            // The sandbox provider `serve` starts when `sandbox_provider_addr` is set
            // (`cargo xtask demo` sets it to this address).
            ("base_url", "http://127.0.0.1:8001/v1"),
            ("api_key", crate::payment::sandbox::DEMO_API_KEY),
        ],
        &["127.0.0.1"],
    ),
    (
        "py-zone-shipping",
        &[
            ("currency", "{currency}"),
            ("zones", "GB=4.95; IE=6.50; FR,DE,NL=9.90; *=24.00"),
        ],
        &[],
    ),
    (
        "js-express-shipping",
        &[
            ("currency", "{currency}"),
            ("countries", "GB, IE"),
            ("base", "9.95"),
            ("per_item", "1.00"),
        ],
        &[],
    ),
    // Decides the demo's "mix and match" offer (see `offer::add_demo_offers`).
    ("py-coverage-condition", &[("min_distinct", "3")], &[]),
];

/// The demo shop's plugin directory: every built plugin (the bundled ones and those the demo
/// does not install, such as the pricing and offer examples), under `<data dir>/`
/// [`DEMO_DIRECTORY`], signed with a key made for this data folder (`demo-publisher.key`, never
/// shared between shops). `cargo xtask demo` serves the shop with the directory configured and
/// the key trusted, reading [`DEMO_TRUST`]; run by hand, the lines printed say how.
pub const DEMO_DIRECTORY: &str = "plugin-directory";
/// The file in the demo directory naming the key that signs it: `name=public hex`.
pub const DEMO_TRUST: &str = "TRUSTED_KEY";

fn publish_demo_directory(config: &Config, built: &std::path::Path) -> anyhow::Result<()> {
    use crate::plugins::distribution::publish::{PublisherKey, publish};
    let Ok(entries) = std::fs::read_dir(built) else {
        return Ok(());
    };
    let mut packages: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("plugin.wasm").is_file() && p.join("plugin.toml").is_file())
        .collect();
    packages.sort();
    if packages.is_empty() {
        return Ok(());
    }
    let key_file = config.data_dir.join("demo-publisher.key");
    let key = if key_file.is_file() {
        PublisherKey::read(&key_file, Some("demo"))?
    } else {
        let key = PublisherKey::generate("demo")?;
        key.write(&key_file)?;
        key
    };
    let out = config.data_dir.join(DEMO_DIRECTORY);
    let published = publish(&packages, Some(&key), &out)?;
    let trust = format!("{}={}", key.name, key.public_hex());
    std::fs::write(out.join(DEMO_TRUST), format!("{trust}\n"))?;
    println!(
        "published {} plugins to the demo directory {}; serve with EMPORIUM_PLUGIN_DIRECTORY={} EMPORIUM_PLUGIN_TRUSTED_KEYS={trust}",
        published.len(),
        out.display(),
        out.display()
    );
    Ok(())
}

/// Installs and enables the bundled plugins through the same path as `plugin install`;
/// idempotent (an unchanged plugin is left alone, a rebuilt one is upgraded). A missing
/// plugins folder or plugin is a warning, not a failure.
async fn install_bundled(config: &Config, db: &Db, dir: &std::path::Path) -> anyhow::Result<()> {
    use crate::plugins::lifecycle::{ServiceError, service};
    if !dir.is_dir() {
        eprintln!(
            "warning: no built plugins at {} (run `cargo xtask build-plugins`); the demo shop has no plugins",
            dir.display()
        );
        return Ok(());
    }
    let plugins = crate::plugins::PluginHost::for_commands(
        &config.data_dir,
        crate::plugins::lifecycle::sync::runtime_config(config),
    )?;
    for (id, settings, hosts) in BUNDLED {
        let package = dir.join(id);
        if !package.join("plugin.wasm").is_file() {
            eprintln!("warning: {} is missing; skipping {id}", package.display());
            continue;
        }
        let values: crate::plugins::ConfigValues = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.replace("{currency}", &config.currency)))
            .collect();
        let options = crate::plugins::InstallOptions {
            config: values,
            approved_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        };
        let before = crate::plugins::lifecycle::store::get(&db.pool, id).await?;
        let outcome = match service::install_package(
            db,
            &plugins,
            crate::audit::Actor::CommandLine,
            &package,
            options,
        )
        .await
        {
            Ok(status) if before.is_some() => format!("{} already installed", status.plugin),
            Ok(status) => format!("installed {}", status.plugin),
            Err(ServiceError::AlreadyInstalled { .. }) => {
                match service::upgrade_package(
                    db,
                    &plugins,
                    crate::audit::Actor::CommandLine,
                    &package,
                )
                .await
                {
                    Ok(up) => format!("upgraded {} to {}", up.from, up.to.version),
                    Err(ServiceError::UpToDate { installed, .. }) => {
                        format!("{id}@{installed} already installed")
                    }
                    Err(e) => {
                        eprintln!("warning: {id}: {e}");
                        continue;
                    }
                }
            }
            Err(e) => {
                eprintln!("warning: installing {id}: {e}");
                continue;
            }
        };
        if let Err(e) = service::enable(db, &plugins, crate::audit::Actor::CommandLine, id).await {
            eprintln!("warning: enabling {id}: {e}");
            continue;
        }
        println!("{outcome}, enabled");
    }
    Ok(())
}

fn key_values(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| anyhow::anyhow!("{p:?}: expected KEY=VALUE"))
        })
        .collect()
}

fn directory_of(
    config: &Config,
    directory: Option<String>,
) -> anyhow::Result<crate::plugins::distribution::directory::Directory> {
    let location = directory
        .or_else(|| config.plugin_directory.clone())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no plugin directory: pass --directory URL_OR_PATH or set plugin_directory"
            )
        })?;
    Ok(crate::plugins::distribution::directory::Directory::open(
        &location,
    ))
}

fn version_req(req: Option<String>) -> anyhow::Result<semver::VersionReq> {
    match req {
        Some(r) => semver::VersionReq::parse(&r).with_context(|| format!("version {r:?}")),
        None => Ok(semver::VersionReq::STAR),
    }
}

/// Turns a service error into a CLI error that lists configuration field errors one a line.
fn explain(e: crate::plugins::lifecycle::ServiceError) -> anyhow::Error {
    let fields: Option<Vec<String>> = e.field_errors().map(|errors| {
        errors
            .iter()
            .map(|f| format!("\n  {}: {}", f.field, f.message))
            .collect()
    });
    match fields {
        Some(lines) => anyhow::anyhow!("{e}\ninvalid settings:{}", lines.concat()),
        None => anyhow::Error::new(e),
    }
}

fn state_text(s: &crate::plugins::lifecycle::store::StoredPlugin) -> String {
    use crate::plugins::DisabledReason;
    match (s.enabled, &s.disabled_reason) {
        (true, _) => "enabled".into(),
        (false, Some(DisabledReason::Failures { count, last_error })) => {
            format!("disabled after {count} failures in a row ({last_error})")
        }
        (false, _) => "disabled".into(),
    }
}

async fn plugin(command: PluginCommand, config: Config) -> anyhow::Result<()> {
    use crate::plugins::InstallOptions;
    use crate::plugins::distribution::scaffold;
    use crate::plugins::lifecycle::service;
    use crate::plugins::runtime::samples;
    // Commands that need no database.
    match command {
        PluginCommand::New {
            name,
            world,
            lang,
            dir,
            display_name,
            templates,
        } => {
            let world: crate::plugins::World =
                world.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            let (templates, wit) = scaffold::find_sources(templates.as_deref())?;
            let parent = match dir {
                Some(d) => d,
                None => std::env::current_dir()?,
            };
            let dest = scaffold::new_project(
                &templates,
                &wit,
                &parent,
                &name,
                display_name.as_deref(),
                world,
                &lang,
            )?;
            println!("created {} ({lang}, {world})", dest.display());
            println!(
                "build it: cd {} && {}",
                dest.display(),
                scaffold::build_hint(&lang)
            );
            println!("try it:   emporium plugin test {}", dest.display());
            return Ok(());
        }
        PluginCommand::Test { dir, set } => {
            let values: crate::plugins::ConfigValues = key_values(&set)?.into_iter().collect();
            let report =
                tokio::task::spawn_blocking(move || samples::run_samples(&dir, values)).await??;
            print!("{report}");
            return Ok(());
        }
        PluginCommand::Publish {
            packages,
            key,
            key_name,
            out,
        } => {
            use crate::plugins::distribution::publish::{PublisherKey, publish};
            let key = match &key {
                Some(path) => Some(PublisherKey::read(path, key_name.as_deref())?),
                None => None,
            };
            for p in publish(&packages, key.as_ref(), &out)? {
                println!(
                    "{} {}@{} (sha256 {})",
                    if p.replaced { "replaced" } else { "published" },
                    p.id,
                    p.version,
                    p.wasm_sha256
                );
            }
            match &key {
                Some(k) => println!(
                    "signed with {:?}; shops trust it with EMPORIUM_PLUGIN_TRUSTED_KEYS={}={}",
                    k.name,
                    k.name,
                    k.public_hex()
                ),
                None => println!("unsigned: shops that require signatures will refuse it"),
            }
            return Ok(());
        }
        PluginCommand::Keygen { out } => {
            use crate::plugins::distribution::publish::PublisherKey;
            if out.exists() {
                anyhow::bail!("{} exists; not overwriting a key", out.display());
            }
            let name = out
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("publisher")
                .to_string();
            let key = PublisherKey::generate(&name)?;
            key.write(&out)?;
            println!("wrote {} (keep it secret)", out.display());
            println!("public key {}: {}", key.name, key.public_hex());
            return Ok(());
        }
        PluginCommand::Search { query, directory } => {
            let directory = directory_of(&config, directory)?;
            let q = query.unwrap_or_default();
            let found = tokio::task::spawn_blocking(move || directory.search(&q)).await??;
            if found.is_empty() {
                println!("no plugins found");
            }
            for p in found {
                let versions: Vec<&str> = p.versions.iter().map(|v| v.version.as_str()).collect();
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    p.id,
                    versions.join(", "),
                    p.world,
                    p.name,
                    p.description
                );
            }
            return Ok(());
        }
        _ => {}
    }
    let db = Db::connect(&config.database_url(), 2)
        .await
        .with_context(|| format!("opening {}", crate::infra::redact(&config.database_url())))?;
    let plugins = crate::plugins::PluginHost::for_commands(
        &config.data_dir,
        crate::plugins::lifecycle::sync::runtime_config(&config),
    )?;
    match command {
        PluginCommand::List => {
            let list = service::list(&db, &plugins).await?;
            if list.is_empty() {
                println!("no plugins installed");
            }
            for p in list {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    p.stored.id,
                    p.stored.version,
                    p.stored.world,
                    state_text(&p.stored),
                    p.name
                );
            }
        }
        PluginCommand::Install {
            target,
            directory,
            version_req: req,
            set,
            allow_host,
            disabled,
        } => {
            let options = InstallOptions {
                config: key_values(&set)?.into_iter().collect(),
                approved_hosts: allow_host,
                memory_limit: None,
                start_disabled: disabled,
            };
            let path = std::path::Path::new(&target);
            let status = if path.exists() {
                service::install_package(
                    &db,
                    &plugins,
                    crate::audit::Actor::CommandLine,
                    path,
                    options,
                )
                .await
                .map_err(explain)?
            } else {
                let directory = directory_of(&config, directory)?;
                let trust = service::trust_policy(&config)?;
                service::install_from_directory(
                    &db,
                    &plugins,
                    crate::audit::Actor::CommandLine,
                    &directory,
                    &target,
                    &version_req(req)?,
                    &trust,
                    options,
                )
                .await
                .map_err(explain)?
            };
            println!(
                "installed {} ({}), {}",
                status.plugin,
                status.world,
                if status.enabled {
                    "enabled"
                } else {
                    "disabled"
                }
            );
        }
        PluginCommand::Upgrade {
            target,
            directory,
            version_req: req,
        } => {
            let path = std::path::Path::new(&target);
            let done = if path.exists() {
                service::upgrade_package(&db, &plugins, crate::audit::Actor::CommandLine, path)
                    .await
                    .map_err(explain)?
            } else {
                let directory = directory_of(&config, directory)?;
                let trust = service::trust_policy(&config)?;
                service::upgrade(
                    &db,
                    &plugins,
                    crate::audit::Actor::CommandLine,
                    &directory,
                    &target,
                    &version_req(req)?,
                    &trust,
                )
                .await
                .map_err(explain)?
            };
            println!("upgraded {} to {}", done.from, done.to.version);
        }
        PluginCommand::Rollback { id } => {
            let done = service::rollback(&db, &plugins, crate::audit::Actor::CommandLine, &id)
                .await
                .map_err(explain)?;
            println!("rolled {} back to {}", done.from, done.to.version);
        }
        PluginCommand::Approve { id, allow_host } => {
            service::approve_hosts(
                &db,
                &plugins,
                crate::audit::Actor::CommandLine,
                &id,
                allow_host.clone(),
            )
            .await
            .map_err(explain)?;
            if allow_host.is_empty() {
                println!("{id} may call no host");
            } else {
                println!("{id} may call {}", allow_host.join(", "));
            }
        }
        PluginCommand::Remove { id } => {
            let removed =
                service::remove(&db, &plugins, crate::audit::Actor::CommandLine, &id).await?;
            println!("removed {removed}");
        }
        PluginCommand::Trace { id, mode } => {
            let mode = crate::plugins::runtime::TraceMode::parse(&mode).ok_or_else(|| {
                anyhow::anyhow!("{mode:?} is not a trace mode: use off, sampled or all")
            })?;
            service::set_trace_mode(&db, &plugins, crate::audit::Actor::CommandLine, &id, mode)
                .await
                .map_err(explain)?;
            println!("{id}: trace mode {mode}");
        }
        PluginCommand::Replay {
            target,
            from_trace: _,
            since,
            limit,
            package,
            directory,
            json,
        } => {
            use crate::plugins::lifecycle::replay::{self, Candidate, ReplayScope};
            let (id, version) = match target.split_once('@') {
                Some((id, v)) => (id.to_string(), Some(v.to_string())),
                None => (target.clone(), None),
            };
            let scope = ReplayScope { since, limit };
            let report = match (&package, version) {
                (Some(path), _) => {
                    replay::replay(&db, &plugins, &id, Candidate::Package(path), &scope).await
                }
                (None, Some(v)) => {
                    let directory = directory_of(&config, directory)?;
                    let trust = service::trust_policy(&config)?;
                    let wanted = semver::VersionReq::parse(&format!("={v}"))
                        .with_context(|| format!("{v:?} is not a version"))?;
                    let candidate = Candidate::Directory {
                        directory: &directory,
                        version: wanted,
                        trust: &trust,
                    };
                    replay::replay(&db, &plugins, &id, candidate, &scope).await
                }
                (None, None) => anyhow::bail!(
                    "name the candidate: ID@VERSION (from the directory) or --package PATH"
                ),
            }
            .map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
        }
        PluginCommand::Enable { id } => {
            service::enable(&db, &plugins, crate::audit::Actor::CommandLine, &id)
                .await
                .map_err(explain)?;
            println!("enabled {id}");
        }
        PluginCommand::Disable { id } => {
            service::disable(&db, &plugins, crate::audit::Actor::CommandLine, &id).await?;
            println!("disabled {id}");
        }
        PluginCommand::Config { id, settings } => {
            if settings.is_empty() {
                for entry in service::config_view(&db, &plugins, &id).await? {
                    println!(
                        "{}\t{}\t[{:?}{}]\t{}",
                        entry.name,
                        entry.shown,
                        entry.kind,
                        if entry.required { ", required" } else { "" },
                        entry.help
                    );
                }
            } else {
                service::configure(
                    &db,
                    &plugins,
                    crate::audit::Actor::CommandLine,
                    &id,
                    &key_values(&settings)?,
                )
                .await
                .map_err(explain)?;
                println!("configured {id}");
            }
        }
        PluginCommand::New { .. }
        | PluginCommand::Test { .. }
        | PluginCommand::Search { .. }
        | PluginCommand::Publish { .. }
        | PluginCommand::Keygen { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(())
}
