//! Offers and vouchers (issue 12). Today: the [`engine`] that applies offers to a basket, pure
//! and table-tested; the offer tables, vouchers, the basket and checkout use cases that call
//! it, and the dashboard come next.

pub mod engine;
