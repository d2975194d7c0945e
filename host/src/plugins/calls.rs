//! What the shop hands a plugin and what it gets back, independent of any WIT version.
//!
//! Domain code builds these and the registry's typed calls take and return them; the adapter of
//! each WIT version (today only [`super::runtime::wit_v0_1`]) converts them to and from that version's
//! generated bindings. A released WIT version is frozen, so these types are where the shop's
//! own vocabulary may grow without breaking a plugin built against an older contract.
//!
//! Money going in is the host's [`Money`] (an exact decimal in a known currency); money coming
//! back is parsed and checked by the adapter first and arrives as a [`Decimal`] in the currency
//! that was asked for.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

// ---- shared snapshots ----

/// A product attribute as shown to customers (typed values formatted as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub value: String,
}

/// A product (or one variant) as a plugin sees it. Ids are opaque to plugins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub parent_id: Option<String>,
    pub sku: Option<String>,
    pub title: String,
    pub product_class: String,
    /// Full category paths, outermost first, joined with " > ".
    pub categories: Vec<String>,
    pub attributes: Vec<Attribute>,
    pub weight_grams: Option<u32>,
    pub requires_shipping: bool,
}

/// A partner's offer of a product: its price before tax and its stock level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRecord {
    pub partner_id: String,
    pub partner_sku: String,
    pub price_excl_tax: Option<Money>,
    /// `None` when the partner does not track stock.
    pub num_in_stock: Option<u32>,
    pub num_allocated: u32,
}

/// What the shop knows about the customer: never passwords, tokens or payment data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: Option<String>,
    pub email: Option<String>,
    pub is_authenticated: bool,
    pub groups: Vec<String>,
}

impl Customer {
    /// A signed-in customer (`customer_id` set) or a guest, with the email when known.
    pub fn new(customer_id: Option<i64>, email: Option<&str>) -> Customer {
        Customer {
            id: customer_id.map(|id| id.to_string()),
            email: email.map(str::to_string),
            is_authenticated: customer_id.is_some(),
            groups: Vec::new(),
        }
    }
}

/// A postal address: an ISO 3166-1 alpha-2 country and one to four street lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub country: String,
    pub postcode: Option<String>,
    pub lines: Vec<String>,
    pub city: String,
    pub state: Option<String>,
}

/// One basket line with the prices the shop's pricing gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasketLine {
    pub line_id: String,
    pub product: Product,
    pub quantity: u32,
    pub unit_price_excl_tax: Money,
    pub unit_price_incl_tax: Money,
    pub line_total_excl_tax: Money,
    pub line_total_incl_tax: Money,
    /// `quantity` times the unit weight (0 when unknown).
    pub weight_grams: u64,
}

/// A basket as it stands at the moment of the call; every amount is in `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Basket {
    pub id: Option<String>,
    pub currency: Currency,
    pub lines: Vec<BasketLine>,
    pub total_excl_tax: Money,
    pub total_incl_tax: Money,
    pub total_weight_grams: u64,
    pub num_items: u32,
}

// ---- shipping ----

/// What a shipping method quotes for; no address yet means an estimate (or nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingRequest {
    pub basket: Basket,
    pub customer: Customer,
    pub address: Option<Address>,
}

/// A validated shipping quote. The currency is the basket's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub code: String,
    pub name: String,
    pub description: String,
    pub charge_excl_tax: Decimal,
    pub charge_incl_tax: Decimal,
    pub currency: String,
}

// ---- pricing ----

/// Who is buying, in which currency, and how many units (1 on a listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingContext {
    pub customer: Customer,
    pub currency: Currency,
    pub quantity: u32,
}

/// A product with every stock record the shop has for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricingItem {
    pub product: Product,
    pub stock_records: Vec<StockRecord>,
}

/// Whether a product can be bought, as a pricing strategy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StockStatus {
    InStock,
    AvailableToOrder,
    OutOfStock,
    Unavailable,
}

/// A validated price decision for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    pub product_id: String,
    pub partner_id: Option<String>,
    /// Unit price (excl. tax, incl. tax); `None` when the product cannot be bought.
    pub unit_price: Option<(Decimal, Decimal)>,
    pub status: StockStatus,
    pub num_available: Option<u32>,
    pub message: String,
}

// ---- offers ----

/// Units of one basket line used up by an offer condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumedLine {
    pub line_id: String,
    pub quantity: u32,
}

/// What an offer condition is evaluated against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionInput {
    pub basket: Basket,
    pub customer: Customer,
    /// Units already used up by offers applied earlier.
    pub already_consumed: Vec<ConsumedLine>,
}

/// A validated condition decision: the lines it consumes exist and are not over-consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionResult {
    pub is_satisfied: bool,
    pub consumed: Vec<ConsumedLine>,
    pub upsell_message: Option<String>,
}

// ---- payment ----

/// Card details for gateways that take card data directly. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Card {
    pub number: String,
    pub expiry_month: u8,
    pub expiry_year: u16,
    pub cvc: String,
    pub holder_name: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A request may end up in a log line; the card must not.
        f.debug_struct("Card").finish_non_exhaustive()
    }
}

/// A request to authorize (reserve) money for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequest {
    pub order_number: String,
    pub amount: Money,
    pub customer: Customer,
    pub billing_address: Option<Address>,
    /// Never serialized: a trace of the call must not hold card data.
    #[serde(skip)]
    pub card: Option<Card>,
    /// Where the provider sends the customer back after a redirect.
    pub return_url: String,
    /// The same for retries of one attempt.
    pub idempotency_key: String,
}

/// Where a payment callback came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallbackKind {
    /// The customer's browser returning from a redirect.
    BrowserReturn,
    /// A server-to-server notification from the provider.
    Webhook,
}

/// An HTTP header of a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A request the provider (or the customer's browser coming back from it) made to the shop,
/// passed through as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    pub kind: CallbackKind,
    pub method: String,
    /// The query string without the leading `?`.
    pub query: String,
    pub headers: Vec<Header>,
    pub body: Vec<u8>,
    /// The reference of the redirect that started the flow, when the shop knows it.
    pub reference: Option<String>,
}

/// A validated payment outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentOutcome {
    Approved {
        reference: String,
        amount: Decimal,
        currency: String,
    },
    /// Shown to the customer.
    Declined {
        message: String,
    },
    /// Gateway fault: logged, not shown.
    Error {
        message: String,
    },
    Redirect {
        url: String,
        reference: String,
    },
}

// ---- theme extensions ----

/// Whether a template helper is a filter or a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FunctionKind {
    Filter,
    Function,
}

/// One validated template helper a theme extension offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionInfo {
    pub name: String,
    pub kind: FunctionKind,
    pub help: String,
}
