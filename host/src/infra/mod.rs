//! Infrastructure the domain modules share: configuration and the database.
pub mod config;
pub mod db;
