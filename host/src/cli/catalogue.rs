//! `emporium catalogue …`: the catalogue as CSV (see [`crate::catalogue::manage::transfer`]).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalogue::manage::transfer;
use crate::infra::changes::Changes;
use crate::infra::config::Config;
use crate::infra::db::Db;

#[derive(Subcommand)]
pub enum CatalogueCommand {
    /// Create and update products by UPC from a CSV file; rows with problems are reported
    /// with their line and change nothing.
    Import {
        file: PathBuf,
        /// Check every row and report, changing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every product as CSV (to FILE, or to standard output).
    Export { file: Option<PathBuf> },
}

fn bar(what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

pub async fn run(command: CatalogueCommand, config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 2).await?;
    let show = std::io::stderr().is_terminal();
    match command {
        CatalogueCommand::Import { file, dry_run } => {
            let currency = config.default_currency()?;
            let input = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let progress = bar(if dry_run { "checking" } else { "importing" }, show);
            let report = transfer::import(
                &db,
                &Changes::new(),
                currency,
                input,
                dry_run,
                crate::catalogue::manage::products::Who::COMMAND_LINE,
                &|done, total| {
                    progress.set_length(total);
                    progress.set_position(done);
                },
            )
            .await?;
            progress.finish_and_clear();
            for e in &report.errors {
                eprintln!("line {} (UPC {:?}): {}", e.line, e.upc, e.message);
            }
            println!(
                "{}{} rows: {} created, {} updated, {} unchanged, {} with problems",
                if dry_run {
                    "dry run, nothing changed: "
                } else {
                    ""
                },
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                report.errors.len()
            );
            if report.errors.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("{} rows were not imported", report.errors.len())
            }
        }
        CatalogueCommand::Export { file } => {
            let progress = bar("exporting", show && file.is_some());
            let report = |done, total| {
                progress.set_length(total);
                progress.set_position(done);
            };
            let n = match &file {
                Some(path) => {
                    let out = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    transfer::export(&db.pool, None, out, &report).await?
                }
                None => transfer::export(&db.pool, None, std::io::stdout().lock(), &report).await?,
            };
            progress.finish_and_clear();
            if let Some(path) = file {
                println!("{n} products written to {}", path.display());
            }
            Ok(())
        }
    }
}
