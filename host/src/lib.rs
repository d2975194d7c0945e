//! Emporium: a commerce platform whose business rules load as sandboxed WebAssembly plugins.
//!
//! `main.rs` is a thin shim over this library so that integration tests and benchmarks can start
//! the real application in-process.

pub mod address;
pub mod alerts;
pub mod analytics;
pub mod app;
pub mod audit;
pub mod basket;
pub mod catalogue;
pub mod checkout;
pub mod cli;
pub mod communication;
pub mod customer;
pub mod demo;
pub mod exports;
pub mod fixtures;
pub mod infra;
pub mod mail;
pub mod media;
pub mod money;
pub mod offer;
pub mod order;
pub mod partner;
pub mod payment;
pub mod plugins;
pub mod pricing;
pub mod privacy;
pub mod reports;
pub mod review;
pub mod server;
pub mod session;
pub mod shipping;
pub mod staff;
pub mod themes;
pub mod web;
pub mod wishlist;
