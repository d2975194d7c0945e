//! Checkout (Oscar's checkout app): the state a checkout keeps in the session between steps,
//! the fingerprint that tells whether the basket changed since the preview, and paying then
//! placing an order, with the authorization voided when the order can't be written.
//!
//! Order of events at "Place order": authorize with the chosen gateway → one transaction that
//! claims the basket, allocates stock and writes the order → commit. A decline writes nothing
//! and allocates nothing. A failure after an approval (stock ran out meanwhile, the database
//! refused) voids the authorization before the customer is told.

pub mod flow;
pub mod pending;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::address::Address;
use crate::analytics::{Analytics, Event};
use crate::basket::PricedBasket;
use crate::infra::changes::{Change, Changes};
use crate::infra::db::Db;
use crate::mail::{self, Mailer};
use crate::money::Money;
use crate::order::{self, NewOrder, OrderError, Payment, Pipeline, Placed};
use crate::payment::claim::{self, VoidResult};
use crate::payment::{self, CardDetails};
use crate::plugins::calls::{Customer, PaymentRequest};
use crate::plugins::{PaymentOutcome, PluginRegistry};
use crate::shipping::Method;
use crate::themes::Templates;

/// Session key of the checkout state.
pub const SESSION_KEY: &str = "checkout";
/// Session key of the last order placed in this session (for the thank-you page).
pub const LAST_ORDER_KEY: &str = "last_order";

/// What the customer chose so far. Lives in the session; every step re-checks it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CheckoutState {
    /// A guest's email (customers use their account's).
    pub guest_email: Option<String>,
    pub shipping_address: Option<Address>,
    /// A billing address other than the shipping address; `None` bills to the shipping
    /// address (the usual case, and every session from before billing was asked).
    #[serde(default)]
    pub billing_address: Option<Address>,
    /// `plugin:code` of the chosen shipping method.
    pub shipping_method: Option<String>,
    pub gateway: Option<String>,
    /// A redirect payment under way at the provider.
    pub pending: Option<PendingPayment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingPayment {
    pub gateway: String,
    pub reference: String,
    /// The basket's fingerprint when the customer left for the provider.
    pub fingerprint: String,
    pub amount: Money,
    /// The basket being paid for (absent in sessions from before it was recorded).
    #[serde(default)]
    pub basket_id: Option<i64>,
}

/// The order last placed in this session: its number and, for guests, the link secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastOrder {
    pub number: String,
    pub guest_token: Option<String>,
}

impl CheckoutState {
    /// Where the payment is billed: the billing address, else the shipping address.
    pub fn billing(&self) -> Option<&Address> {
        self.billing_address
            .as_ref()
            .or(self.shipping_address.as_ref())
    }
}

/// A digest of everything the customer agreed to at the preview: lines, quantities, prices,
/// shipping method and charge. Any difference at "Place order" sends them back to review.
pub fn fingerprint(basket: &PricedBasket, method: &Method) -> String {
    let mut h = Sha256::new();
    h.update(basket.id.to_le_bytes());
    for line in &basket.lines {
        h.update(line.id.to_le_bytes());
        h.update(line.product_id.to_le_bytes());
        h.update(line.quantity.to_le_bytes());
        if let Some(p) = line.unit_price {
            h.update(p.incl_tax.amount().to_string().as_bytes());
            h.update(p.excl_tax.amount().to_string().as_bytes());
        }
        h.update(serde_json::to_string(&line.options).unwrap_or_default());
        h.update([0]);
    }
    // What the offers take off (a voucher added or an offer ended since the preview).
    h.update(basket.due_incl_tax.amount().to_string().as_bytes());
    for (offer, incl, _) in
        basket.shipping_discounts(method.charge_incl_tax, method.charge_excl_tax)
    {
        h.update(offer.to_le_bytes());
        h.update(incl.amount().to_string().as_bytes());
    }
    h.update(method.key().as_bytes());
    h.update(method.charge_incl_tax.amount().to_string().as_bytes());
    h.update(basket.total_incl_tax.currency().code().as_bytes());
    hex::encode(&h.finalize()[..16])
}

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Money(#[from] crate::money::MoneyError),
    #[error("the basket of a pending payment: {0}")]
    Basket(#[from] crate::basket::BasketError),
    #[error("shipping: {0}")]
    Shipping(#[from] crate::shipping::ShippingError),
    /// A stored pending payment the shop can't read back (or write): a bug, never user input.
    #[error("pending payment record: {0}")]
    Record(#[from] serde_json::Error),
}

/// What happened at "Place order". Its `Debug` leaves out the guest link's secret.
pub enum Outcome {
    Placed {
        placed: Placed,
        guest_token: Option<String>,
    },
    /// The same checkout was placed already (double submit): show that order.
    AlreadyPlaced { number: String },
    /// Off to the provider's page; come back to the return URL.
    Redirect {
        url: String,
        pending: PendingPayment,
    },
    /// Shown to the customer as is (from the gateway or the shop's stock check).
    Refused(String),
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Placed {
                placed,
                guest_token,
            } => f
                .debug_struct("Placed")
                .field("placed", placed)
                .field("guest_token", &guest_token.as_ref().map(|_| "<secret>"))
                .finish(),
            Outcome::AlreadyPlaced { number } => f
                .debug_struct("AlreadyPlaced")
                .field("number", number)
                .finish(),
            Outcome::Redirect { url, pending } => f
                .debug_struct("Redirect")
                .field("url", url)
                .field("pending", pending)
                .finish(),
            Outcome::Refused(message) => f.debug_tuple("Refused").field(message).finish(),
        }
    }
}

/// Where the shop, its plugins and its rules are.
pub struct Deps<'a> {
    pub db: &'a Db,
    pub plugins: &'a Arc<PluginRegistry>,
    pub pipeline: &'a Pipeline,
    /// For the confirmation email (rendered from the theme, queued with the order).
    pub templates: &'a Templates,
    pub mailer: &'a Mailer,
    pub shop_name: &'a str,
    /// Told of the stock an order allocated and the basket it closed.
    pub changes: &'a Changes,
    /// Told of each order placed (the products bought, for the reports).
    pub analytics: &'a Analytics,
}

/// Everything one "Place order" needs.
pub struct Submission<'a> {
    pub basket: &'a PricedBasket,
    pub customer_id: Option<i64>,
    pub email: &'a str,
    pub shipping_address: &'a Address,
    /// The shipping address again when the customer is billed there.
    pub billing_address: &'a Address,
    pub method: &'a Method,
    pub gateway: &'a str,
    pub card: Option<CardDetails>,
    pub return_url: String,
    pub fingerprint: &'a str,
    /// `scheme://host` of the shop, for links in the confirmation email.
    pub site_url: &'a str,
}

/// A gateway fault is logged; the customer is told this, which is true and safe.
pub const PAYMENT_FAILED: &str = "We couldn't take your payment and you have not been charged. \
     Please try again, or choose another way to pay.";

/// Pays (or starts a redirect) and places the order.
pub async fn pay_and_place(deps: &Deps<'_>, sub: Submission<'_>) -> Result<Outcome, CheckoutError> {
    let amount = order::total_incl_tax(sub.basket, sub.method)?;
    if amount.amount().is_zero() {
        return place(deps, &sub, None).await;
    }
    let request = PaymentRequest {
        order_number: order::number_for_basket(sub.basket.id),
        amount,
        customer: Customer::new(sub.customer_id, Some(sub.email)),
        billing_address: Some(sub.billing_address.plugin_address()),
        card: sub.card.as_ref().map(CardDetails::plugin_card),
        return_url: sub.return_url.clone(),
        idempotency_key: format!("{}-{}", sub.basket.id, sub.fingerprint),
    };
    let label = sub
        .card
        .as_ref()
        .map(CardDetails::label)
        .unwrap_or_default();
    match payment::authorize(deps.plugins, sub.gateway, request).await {
        Err(e) => {
            tracing::error!(gateway = sub.gateway, error = %e, "payment authorization failed");
            Ok(Outcome::Refused(PAYMENT_FAILED.into()))
        }
        Ok(PaymentOutcome::Declined { message }) => Ok(Outcome::Refused(message)),
        Ok(PaymentOutcome::Error { message }) => {
            tracing::error!(gateway = sub.gateway, %message, "payment gateway fault");
            Ok(Outcome::Refused(PAYMENT_FAILED.into()))
        }
        Ok(PaymentOutcome::Redirect { url, reference }) => {
            let pending = PendingPayment {
                gateway: sub.gateway.to_string(),
                reference,
                fingerprint: sub.fingerprint.to_string(),
                amount,
                basket_id: Some(sub.basket.id),
            };
            // Without this row only the browser return can complete the payment; that still
            // works, so a failure here is logged rather than refusing the customer.
            if let Err(e) = pending::remember(&deps.db.pool, &sub, &pending).await {
                tracing::error!(gateway = sub.gateway, error = %e, "recording a pending payment failed");
            }
            Ok(Outcome::Redirect { url, pending })
        }
        Ok(PaymentOutcome::Approved {
            reference,
            amount: approved,
            currency,
        }) => {
            let payment = Payment {
                plugin_id: sub.gateway.to_string(),
                reference,
                amount,
                label,
            };
            approved_then_place(deps, &sub, payment, approved, &currency).await
        }
    }
}

/// The checkout as the shop finds it when a redirect payment comes back (browser return or
/// webhook).
pub enum Current<'a> {
    /// The checkout the customer left to pay for, as it stands now.
    Ready(Box<Submission<'a>>),
    /// Nothing can be ordered from it any more (emptied, no longer purchasable, the delivery
    /// method withdrawn, or already ordered).
    Gone,
}

/// Told to a customer whose basket changed while they were paying.
pub const CHANGED_WHILE_PAYING: &str = "Your basket changed while you were paying, so the payment \
     was cancelled and nothing was ordered. Please review your order again.";

/// Finishes a redirect payment: the provider's answer (already asked by the gateway's
/// `handle-callback`) decides. An approval for the checkout as the customer left it places the
/// order; an approval for a checkout that changed or is gone is voided unless an order already
/// holds it (the webhook and the browser return race for the same payment).
pub async fn complete_redirect(
    deps: &Deps<'_>,
    pending: &PendingPayment,
    outcome: PaymentOutcome,
    current: Current<'_>,
) -> Result<Outcome, CheckoutError> {
    match outcome {
        PaymentOutcome::Approved {
            reference,
            amount: approved,
            currency,
        } if reference == pending.reference => {
            let payment = Payment {
                plugin_id: pending.gateway.clone(),
                reference,
                amount: pending.amount,
                label: String::new(),
            };
            match current {
                Current::Ready(sub) if sub.fingerprint == pending.fingerprint => {
                    approved_then_place(deps, &sub, payment, approved, &currency).await
                }
                _ => {
                    claim::record_authorized(
                        &deps.db.pool,
                        &payment.plugin_id,
                        &payment.reference,
                        payment.amount,
                    )
                    .await?;
                    match void(deps, &payment).await? {
                        VoidResult::HeldByOrder { order_id: Some(id) } => {
                            match order::number_by_id(&deps.db.pool, id).await? {
                                Some(number) => Ok(Outcome::AlreadyPlaced { number }),
                                None => Ok(Outcome::Refused(CHANGED_WHILE_PAYING.into())),
                            }
                        }
                        _ => Ok(Outcome::Refused(CHANGED_WHILE_PAYING.into())),
                    }
                }
            }
        }
        PaymentOutcome::Approved { reference, .. } => {
            tracing::error!(
                "Gateway {} approved payment {reference}, not the {} this checkout started; \
                 nothing was ordered.",
                pending.gateway,
                pending.reference
            );
            Ok(Outcome::Refused(PAYMENT_FAILED.into()))
        }
        PaymentOutcome::Declined { message } => Ok(Outcome::Refused(message)),
        PaymentOutcome::Error { message } => {
            tracing::error!(gateway = %pending.gateway, %message, "payment return failed");
            Ok(Outcome::Refused(PAYMENT_FAILED.into()))
        }
        PaymentOutcome::Redirect { .. } => {
            tracing::error!(gateway = %pending.gateway, "gateway redirected again on return");
            Ok(Outcome::Refused(PAYMENT_FAILED.into()))
        }
    }
}

/// An approval is on the ledger before anything else happens to it, so whatever fails next
/// (a wrong amount, no stock, a crash) leaves a row that is voided, by this request or by the
/// recovery pass. Only the amount and currency asked for are accepted.
async fn approved_then_place(
    deps: &Deps<'_>,
    sub: &Submission<'_>,
    payment: Payment,
    approved: rust_decimal::Decimal,
    currency: &str,
) -> Result<Outcome, CheckoutError> {
    claim::record_authorized(
        &deps.db.pool,
        &payment.plugin_id,
        &payment.reference,
        payment.amount,
    )
    .await?;
    crate::infra::crash_point("payment-recorded");
    if approved != payment.amount.amount() || currency != payment.amount.currency().code() {
        tracing::error!(
            "Gateway {} approved {approved} {currency} for payment {}, but {} was asked; \
             voiding it.",
            payment.plugin_id,
            payment.reference,
            payment.amount
        );
        void(deps, &payment).await?;
        return Ok(Outcome::Refused(PAYMENT_FAILED.into()));
    }
    place(deps, sub, Some(payment)).await
}

/// Voids `payment` unless an order holds it (decided on the payment ledger, see
/// [`claim`]). A void the provider refuses is recorded and retried by the background sweep.
pub async fn void(deps: &Deps<'_>, payment: &Payment) -> Result<VoidResult, CheckoutError> {
    Ok(claim::void_unless_held(
        deps.db,
        deps.plugins,
        &payment.plugin_id,
        &payment.reference,
        payment.amount,
    )
    .await?)
}

/// Writes the order (one transaction). Any failure voids `payment`.
async fn place(
    deps: &Deps<'_>,
    sub: &Submission<'_>,
    payment: Option<Payment>,
) -> Result<Outcome, CheckoutError> {
    let guest_token = sub.customer_id.is_none().then(crate::infra::random_token);
    let result = async {
        let mut tx = deps.db.begin_write().await?;
        let placed = order::place_in(
            &mut tx,
            NewOrder {
                basket: sub.basket,
                customer_id: sub.customer_id,
                email: sub.email,
                shipping_address: sub.shipping_address,
                billing_address: sub.billing_address,
                shipping: sub.method,
                payment: payment.as_ref(),
                guest_token_hash: guest_token.as_deref().map(order::token_hash),
                pipeline: deps.pipeline,
            },
        )
        .await?;
        queue_confirmation(deps, sub, &placed, guest_token.as_deref(), &mut tx).await?;
        crate::infra::crash_point("order-written");
        tx.commit().await?;
        crate::infra::crash_point("order-committed");
        Ok::<_, OrderError>(placed)
    }
    .await;
    match result {
        Ok(placed) => {
            deps.mailer.wake();
            // Availability shown anywhere must reflect the allocation at once: the last unit
            // sold is sold out on the next page view.
            let products = sub.basket.lines.iter().map(|l| l.product_id).collect();
            deps.changes.announce(Change::Stock(products));
            deps.changes.announce(Change::Basket(sub.basket.id));
            // Recorded here, where every way of placing an order passes (the checkout form,
            // a provider's return, its webhook), and only once the order is committed.
            deps.analytics.record(Event::Purchase {
                customer_id: sub.customer_id,
                lines: sub
                    .basket
                    .lines
                    .iter()
                    .map(|l| (l.product_id, l.quantity))
                    .collect(),
            });
            Ok(Outcome::Placed {
                placed,
                guest_token,
            })
        }
        Err(OrderError::AlreadyPlaced { number }) => {
            // A double submit: the first order keeps its payment; this attempt's is voided
            // unless it is the very same authorization (the ledger says the order holds it).
            if let Some(p) = &payment {
                void(deps, p).await?;
            }
            Ok(Outcome::AlreadyPlaced { number })
        }
        Err(e) => {
            if let Some(p) = &payment {
                void(deps, p).await?;
            }
            match e {
                OrderError::OutOfStock { title, available } => {
                    Ok(Outcome::Refused(match available {
                        0 => format!(
                            "Sorry, “{title}” sold out while you were checking out. You have not been charged."
                        ),
                        n => format!(
                            "Sorry, only {n} of “{title}” are left. Please change the quantity; you have not been charged."
                        ),
                    }))
                }
                OrderError::Unavailable { title } => Ok(Outcome::Refused(format!(
                    "Sorry, “{title}” can't be bought right now. You have not been charged."
                ))),
                OrderError::BasketClosed | OrderError::Empty => Ok(Outcome::Refused(
                    "Your basket changed; please review it again.".into(),
                )),
                OrderError::PaymentWithdrawn => Ok(Outcome::Refused(CHANGED_WHILE_PAYING.into())),
                OrderError::OfferEnded(message) => Ok(Outcome::Refused(format!(
                    "{message} You have not been charged."
                ))),
                other => Err(other.into()),
            }
        }
    }
}

/// Renders the order confirmation from the theme and queues it in the order's transaction, so
/// it goes out exactly when the order exists (and once: keyed by the order number). A template
/// or address problem is logged and the order still stands; a database error fails the order.
async fn queue_confirmation(
    deps: &Deps<'_>,
    sub: &Submission<'_>,
    placed: &Placed,
    guest_token: Option<&str>,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), OrderError> {
    let status_path = match (sub.customer_id, guest_token) {
        (Some(_), _) => Some(format!("/accounts/orders/{}/", placed.number)),
        (None, Some(token)) => Some(format!("/orders/{}/?token={token}", placed.number)),
        (None, None) => None,
    };
    let lines: Vec<minijinja::Value> = sub
        .basket
        .lines
        .iter()
        .map(|l| {
            minijinja::context! {
                title => l.title.clone(), quantity => l.quantity, options => l.options.clone(),
                line_total => l.line_total,
            }
        })
        .collect();
    let total = order::total_incl_tax(sub.basket, sub.method)?;
    let mut discounts: Vec<minijinja::Value> = sub
        .basket
        .discounts
        .offers
        .iter()
        .map(|d| minijinja::context! { name => d.name.clone(), amount => d.incl_tax })
        .collect();
    for (s, incl, _) in sub
        .basket
        .discounts
        .on_shipping(sub.method.charge_incl_tax, sub.method.charge_excl_tax)
    {
        discounts.push(minijinja::context! { name => s.name.clone(), amount => incl });
    }
    let ctx = minijinja::context! {
        shop_name => deps.shop_name,
        status_link => status_path.map(|p| format!("{}{p}", sub.site_url)),
        order => minijinja::context! {
            number => placed.number.clone(),
            lines => lines,
            lines_total => sub.basket.total_incl_tax,
            discounts => discounts,
            shipping_name => sub.method.name.clone(),
            shipping_charge => sub.method.charge_incl_tax,
            total => total,
            address => sub.shipping_address.lines(),
        },
    };
    let key = format!("order-confirmation-{}", placed.number);
    if let Some(customer_id) = sub.customer_id {
        let subject = format!("Order {} placed", placed.number);
        let body = format!(
            "Thank you for your order {}. We'll tell you here and by email when it ships.",
            placed.number
        );
        let link = format!("/accounts/orders/{}/", placed.number);
        let notice = crate::communication::notifications::Notice {
            subject: &subject,
            body: &body,
            link: Some(&link),
        };
        crate::communication::notifications::add(tx, customer_id, &notice, Some(&key)).await?;
    }
    let email = match mail::render_in(tx, deps.templates, "order_confirmation", ctx).await {
        Ok(body) => body.to(sub.email),
        Err(mail::MailError::Db(e)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(order = %placed.number, error = %e, "order confirmation not rendered");
            return Ok(());
        }
    };
    // A customer's confirmation links to their account, not to a secret: it stays readable
    // in their email history. A guest's carries the order's secret link and is in none.
    let history = sub.customer_id.map(|customer_id| mail::History {
        customer_id,
        keep_body: true,
    });
    match mail::enqueue_for(tx, &email, Some(&key), history).await {
        Ok(_) => Ok(()),
        Err(mail::MailError::Db(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(order = %placed.number, error = %e, "order confirmation not queued");
            Ok(())
        }
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_guest_secret() {
        let outcome = Outcome::Placed {
            placed: Placed {
                id: 1,
                number: "100001".into(),
                next_basket: None,
            },
            guest_token: Some("f97ce3bd19e7b06a".into()),
        };
        let shown = format!("{outcome:?}");
        assert!(
            shown.contains("100001") && shown.contains("<secret>"),
            "{shown}"
        );
        assert!(!shown.contains("f97ce3bd19e7b06a"), "{shown}");
    }
}
