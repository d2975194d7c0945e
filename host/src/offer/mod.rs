//! Offers and vouchers (Oscar's offer and voucher apps): site, voucher, user and session
//! offers with a condition on a range of products and a benefit, applied to a basket by the
//! pure [`engine`] whenever the basket is priced, and recorded on the order with exact usage
//! counters in the order's transaction.
//!
//! - [`live`] loads the offers a basket may get (type, status, dates, vouchers, groups and
//!   what is left of their limits) and resolves their ranges for the basket's products;
//! - [`discounts`] runs the engine (asking offer-condition plugins where an offer says so) and
//!   turns its answer into money incl. and excl. tax, upsell messages and an explanation;
//! - [`voucher`] adds and removes codes on a basket, with the reason a code is refused;
//! - [`record`] writes an order's discounts and counts the uses, refusing an offer or a
//!   voucher whose limit another checkout reached first;
//! - [`manage`] creates and lists ranges, offers and vouchers (CLI, dashboard).

use std::sync::Arc;

use serde::Serialize;

use crate::catalogue::category::CategoryTree;
use crate::money::Currency;
use crate::plugins::runtime::PluginRegistry;

pub mod browse;
pub mod discounts;
pub mod engine;
pub mod live;
pub mod manage;
pub mod record;
pub mod voucher;

pub use discounts::{BasketDiscounts, Explained, LineDiscount, OfferDiscount, ShippingOffer};

#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("catalogue: {0}")]
    Catalogue(#[from] crate::catalogue::CatalogueError),
    /// Between pricing and placing, another order used what was left of an offer or voucher.
    #[error("{0}")]
    NoLongerAvailable(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Money(#[from] crate::money::MoneyError),
}

/// Who an offer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OfferType {
    /// Every basket.
    Site,
    /// Baskets holding one of its vouchers.
    Voucher,
    /// Signed-in customers of its groups.
    User,
    /// Baskets a link (or the API) activated it for.
    Session,
}

impl OfferType {
    pub const ALL: [OfferType; 4] = [
        OfferType::Site,
        OfferType::Voucher,
        OfferType::User,
        OfferType::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferType::Site => "site",
            OfferType::Voucher => "voucher",
            OfferType::User => "user",
            OfferType::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<OfferType> {
        OfferType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What offers need besides the database: the plugins that decide plugin conditions, the
/// category tree the plugins' basket snapshot names, and the shop's discount basis.
pub struct Offers {
    pub(crate) plugins: Arc<PluginRegistry>,
    pub(crate) categories: moka::sync::Cache<(), Arc<CategoryTree>>,
    /// Discounts are worked out on prices incl. tax (`true`) or excl. tax; the other basis
    /// follows line by line in proportion (`EMPORIUM_OFFERS_INCL_TAX`).
    pub incl_tax: bool,
    pub currency: Currency,
    /// The offer rules as last read, under their generation (see [`live::catalogue`]).
    pub(crate) kept: std::sync::RwLock<Arc<live::Catalogue>>,
}

impl Offers {
    pub fn new(
        plugins: Arc<PluginRegistry>,
        categories: moka::sync::Cache<(), Arc<CategoryTree>>,
        incl_tax: bool,
        currency: Currency,
    ) -> Offers {
        Offers {
            plugins,
            categories,
            incl_tax,
            currency,
            kept: std::sync::RwLock::default(),
        }
    }
}
