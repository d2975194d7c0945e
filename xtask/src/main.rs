//! Project automation, run as `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! Keeps README's two commands two: `cargo xtask demo` builds everything and serves the demo
//! shop, `cargo xtask test` builds every bundled plugin once and runs the whole test suite.

mod plugins;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
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

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = project_root();
    match cli.command {
        Task::BuildPlugins => plugins::build_all(&root),
        Task::Demo { addr, products } => {
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
            run(Command::new(&bin)
                .current_dir(&root)
                .env("EMPORIUM_SANDBOX_PROVIDER_ADDR", "127.0.0.1:8001")
                .args(["serve", "--addr", &addr]))
        }
        Task::Test { args } => {
            plugins::build_all(&root)?;
            // The Rust guests' own unit tests (their rules, without a host) run natively.
            run(Command::new(cargo())
                .current_dir(root.join("plugins"))
                .args(["test", "--workspace", "--target-dir", "target"])
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET")
                .env_remove("RUSTFLAGS"))?;
            run(Command::new(cargo())
                .current_dir(&root)
                .args(["test", "--workspace"])
                .args(&args))
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
    let status = cmd
        .status()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}
