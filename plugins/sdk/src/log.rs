//! Logging through the host (the shop's log, tagged with the plugin id and version).
//! Never log customer data, card data or secrets.

use crate::LogLevel;

/// Writes `message` at `level` to the shop's log.
pub fn log(level: LogLevel, message: &str) {
    crate::base::emporium::plugin::host::log(level, message);
}

pub fn debug(message: &str) {
    log(LogLevel::Debug, message);
}

pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

pub fn warn(message: &str) {
    log(LogLevel::Warn, message);
}

pub fn error(message: &str) {
    log(LogLevel::Error, message);
}
