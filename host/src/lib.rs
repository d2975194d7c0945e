//! Emporium: a commerce platform whose business rules load as sandboxed WebAssembly plugins.
//!
//! `main.rs` is a thin shim over this library so that integration tests and benchmarks can start
//! the real application in-process.
pub mod plugins;
