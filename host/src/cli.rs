//! The `emporium` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::infra::config::Config;
use crate::infra::db::Db;

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
    /// Load the demo catalogue (does nothing if it is already loaded).
    Demo {
        /// How many products to generate.
        #[arg(long, default_value_t = 1000)]
        products: u32,
    },
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
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
            crate::app::serve(state, listener).await
        }
        Command::Migrate => {
            let url = config.database_url();
            Db::connect(&url, 1)
                .await
                .with_context(|| format!("migrating {}", crate::app::redact(&url)))?;
            println!("database is up to date");
            Ok(())
        }
        Command::Demo { products } => {
            let db = Db::connect(&config.database_url(), 2).await?;
            let added = crate::demo::load(
                &db.pool,
                products,
                config.default_currency()?,
                &config.media_dir(),
                true,
            )
            .await?;
            if added == 0 {
                println!("the demo catalogue is already loaded");
            } else {
                println!("loaded {added} demo products");
            }
            Ok(())
        }
    }
}
