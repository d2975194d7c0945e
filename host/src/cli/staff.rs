//! `emporium staff …`: dashboard accounts from the command line.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;

use crate::infra::config::Config;
use crate::infra::db::Db;
use crate::staff::{self, Role};

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Add a staff user; the password is read from standard input.
    Add {
        email: String,
        /// admin, catalogue-manager, order-manager, read-only or partner.
        #[arg(long, default_value = "read-only")]
        role: String,
        /// Restrict the user to this partner's products, stock and orders (repeatable;
        /// required for the partner role).
        #[arg(long = "partner", value_name = "CODE")]
        partners: Vec<String>,
        /// Read the password from standard input (the only way: never on the command line,
        /// where other users of the machine could see it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Every staff user with their role and partners.
    List,
    /// Remove a staff user.
    Remove { email: String },
}

pub async fn run(command: StaffCommand, config: Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database_url(), 2).await?;
    match command {
        StaffCommand::Add {
            email,
            role,
            partners,
            password_stdin: _,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!(
                    "unknown role {role:?}; choose one of: {}",
                    Role::ALL.map(|r| r.as_str().replace('_', "-")).join(", ")
                )
            })?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            // A password piped with `echo` ends with a newline that is not part of it.
            let password = password.trim_end_matches(['\r', '\n']);
            let added = staff::add(&db, &email, password, role, &partners).await?;
            println!("added {} ({})", added.email, role.label());
            Ok(())
        }
        StaffCommand::List => {
            let listed = staff::list(&db.pool).await?;
            if listed.is_empty() {
                println!(
                    "no staff users (add one with `emporium staff add EMAIL --password-stdin`)"
                );
            }
            for s in listed {
                let partners = if s.partner_codes.is_empty() {
                    String::new()
                } else {
                    format!("  partners: {}", s.partner_codes.join(", "))
                };
                let inactive = if s.is_active { "" } else { "  (inactive)" };
                println!("{}  {}{partners}{inactive}", s.email, s.role.label());
            }
            Ok(())
        }
        StaffCommand::Remove { email } => {
            if staff::remove(&db, &email).await? {
                println!("removed {email}");
                Ok(())
            } else {
                anyhow::bail!("no staff user has the email {email}")
            }
        }
    }
}

/// The demo shop's dashboard accounts, created once: an administrator and a user of the first
/// partner. Prints how to sign in.
pub async fn add_demo_users(db: &Db) -> anyhow::Result<()> {
    const ADMIN: (&str, &str) = ("admin@example.com", "demo-admin-password");
    const PARTNER: (&str, &str) = ("partner@example.com", "demo-partner-password");
    let partner: Option<String> =
        sqlx::query_scalar("SELECT code FROM partner ORDER BY id LIMIT 1")
            .fetch_optional(&db.pool)
            .await?;
    let existing = staff::list(&db.pool).await?;
    let has = |email: &str| existing.iter().any(|s| s.email == email);
    if !has(ADMIN.0) {
        staff::add(db, ADMIN.0, ADMIN.1, Role::Admin, &[]).await?;
    }
    if let Some(code) = &partner
        && !has(PARTNER.0)
    {
        staff::add(
            db,
            PARTNER.0,
            PARTNER.1,
            Role::Partner,
            std::slice::from_ref(code),
        )
        .await?;
    }
    println!(
        "dashboard: /dashboard/ — sign in as {} / {}",
        ADMIN.0, ADMIN.1
    );
    if let Some(code) = partner {
        println!(
            "           or as partner {code}: {} / {}",
            PARTNER.0, PARTNER.1
        );
    }
    Ok(())
}
