//! `sqlx::migrate!` embeds the migration folders at compile time; without this a new
//! migration file would not rebuild the host, and a stale binary would miss it.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
