//! Project automation, run as `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! Keeps README's two commands two: `cargo xtask demo` builds everything and serves the demo
//! shop, `cargo xtask test` builds every bundled plugin once and runs the whole test suite.

mod plugins;
mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Emporium project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build every bundled plugin (Rust, Python, JavaScript) into target/plugins/.
    BuildPlugins,
    /// Install the dashboard's npm packages and copy their files into
    /// themes/default/static/vendor/ (`demo` and `test` do this too).
    DashboardAssets,
    /// Build the plugins and the host (release), load the demo catalogue and serve the shop.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8000")]
        addr: String,
        /// Number of demo products.
        #[arg(long, default_value_t = 1000)]
        products: u32,
    },
    /// Build the plugins once, then run the whole test suite (SQLite and PostgreSQL).
    Test {
        /// Extra arguments passed to `cargo test` (after `--`).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run_task(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on: the context chain joined, never a backtrace.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_task(task: Task) -> Result<()> {
    let root = project_root();
    match task {
        Task::DashboardAssets => setup::dashboard_assets(&root),
        Task::BuildPlugins => {
            setup::rust_target(setup::WASM_TARGET)?;
            plugins::build_all(&root)
        }
        Task::Demo { addr, products } => {
            setup::rust_target(setup::WASM_TARGET)?;
            setup::plugin_toolchains(&root)?;
            setup::dashboard_assets(&root)?;
            plugins::build_all(&root)?;
            run(Command::new(cargo()).current_dir(&root).args([
                "build",
                "--release",
                "-p",
                "emporium",
            ]))?;
            let bin = root.join("target/release/emporium");
            run(Command::new(&bin).current_dir(&root).args([
                "demo",
                "--products",
                &products.to_string(),
            ]))?;
            // The redirect gateway's sandbox provider (a stand-in for a hosted payment page).
            let mut serve = Command::new(&bin);
            serve
                .current_dir(&root)
                .env("EMPORIUM_SANDBOX_PROVIDER_ADDR", "127.0.0.1:8001")
                .args(["serve", "--addr", &addr]);
            // The plugin directory `emporium demo` published and signed (see its
            // `publish_demo_directory`), browsable from the dashboard, unless the environment
            // names another.
            let directory = root.join("data/plugin-directory");
            if std::env::var_os("EMPORIUM_PLUGIN_DIRECTORY").is_none()
                && let Ok(trust) = std::fs::read_to_string(directory.join("TRUSTED_KEY"))
            {
                serve
                    .env("EMPORIUM_PLUGIN_DIRECTORY", &directory)
                    .env("EMPORIUM_PLUGIN_TRUSTED_KEYS", trust.trim());
            }
            run(&mut serve)
        }
        Task::Test { args } => {
            setup::rust_target(setup::WASM_TARGET)?;
            // The plugin tests build generated Python/JS projects too, so the toolchains are
            // needed even when every bundled plugin is up to date.
            setup::plugin_toolchains(&root)?;
            setup::smtp_server(&root)?;
            setup::s3_server(&root)?;
            setup::browser()?;
            setup::dashboard_assets(&root)?;
            plugins::build_all(&root)?;
            // Every test binary runs even when one fails, so one run shows every failure.
            let mut failed = Vec::new();
            if args.is_empty() {
                // The Rust guests' own unit tests (their rules, without a host) run natively.
                let guests = run(Command::new(cargo())
                    .current_dir(root.join("plugins"))
                    .args([
                        "test",
                        "--workspace",
                        "--no-fail-fast",
                        "--target-dir",
                        "target",
                    ])
                    .env_remove("CARGO_TARGET_DIR")
                    .env_remove("CARGO_BUILD_TARGET")
                    .env_remove("RUSTFLAGS"));
                if guests.is_err() {
                    failed.push("the Rust plugins' unit tests");
                }
            } else {
                eprintln!("xtask: arguments given, so only the host tests they select run");
            }
            let host = run(Command::new(cargo())
                .current_dir(&root)
                .args(["test", "--workspace", "--no-fail-fast"])
                .args(&args));
            if host.is_err() {
                failed.push("the host tests");
            }
            if !failed.is_empty() {
                bail!(
                    "{} failed (the failing tests are listed above)",
                    failed.join(" and ")
                );
            }
            Ok(())
        }
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs a command, inheriting stdio, and fails with the command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    match cmd.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => bail!("`{}` failed ({status})", describe(cmd)),
        Err(e) => bail!("could not start `{}`: {e}", describe(cmd)),
    }
}

/// A command as a person would type it: the program's name and its arguments (no environment,
/// no absolute path to the program).
fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
