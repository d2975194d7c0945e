//! `emporium theme …`: the shop's themes from the command line, through the same use cases
//! as the dashboard (`themes::manage`). A switch made here reaches running processes at their
//! next poll.

use anyhow::Context;
use clap::Subcommand;

use crate::audit::Actor;
use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::themes::Templates;
use crate::themes::manage::{self, Themes};

#[derive(Subcommand)]
pub enum ThemeCommand {
    /// Installed and bundled themes, with the active one marked.
    List,
    /// Install a theme from a folder or a .tar.gz (theme.toml, templates/, static/).
    Install { path: std::path::PathBuf },
    /// Make a theme the shop's theme, in every process sharing the database.
    Activate { id: String },
    /// Go back to the theme that was active before the last switch.
    Rollback,
    /// Remove an installed theme that is not in use.
    Remove { id: String },
}

pub async fn run(command: ThemeCommand, config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 2).await?;
    let roots = manage::roots(&config.data_dir, &config.themes_dir);
    let templates = Templates::load_from(roots, &config.theme, vec![], false)
        .with_context(|| format!("loading the configured theme {:?}", config.theme))?;
    let themes = Themes {
        db: &db,
        templates: &templates,
        installed: manage::installed_dir(&config.data_dir),
        configured: &config.theme,
    };
    // What the database names, so `list` marks the theme the shop shows.
    themes.sync().await?;
    match command {
        ThemeCommand::List => {
            for t in themes.list().await? {
                let marks = [
                    t.active.then_some("active"),
                    t.previous.then_some("previous"),
                    Some(if t.bundled { "bundled" } else { "installed" }),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ");
                let version = t.version.as_deref().unwrap_or("-");
                let parent = t
                    .parent
                    .map(|p| format!("  (based on {p})"))
                    .unwrap_or_default();
                println!("{}  {}  {version}  [{marks}]{parent}", t.id, t.name);
                if let Some(problem) = t.problem {
                    println!("    problem: {problem}");
                }
            }
        }
        ThemeCommand::Install { path } => {
            let t = themes.install(Actor::CommandLine, &path).await?;
            println!(
                "installed theme {} ({}) {}",
                t.id,
                t.name,
                t.version.unwrap_or_default()
            );
        }
        ThemeCommand::Activate { id } => {
            themes.activate(Actor::CommandLine, &id).await?;
            println!("{id} is now the shop's theme");
        }
        ThemeCommand::Rollback => {
            let id = themes.rollback(Actor::CommandLine).await?;
            println!("rolled back: {id} is the shop's theme again");
        }
        ThemeCommand::Remove { id } => {
            themes.remove(Actor::CommandLine, &id).await?;
            println!("removed theme {id}");
        }
    }
    Ok(())
}
