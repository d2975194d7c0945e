//! The checkout step machine: Oscar's steps in order, what each needs before it, and the
//! delivery methods the shipping plugins quote for a checkout. Every front door (storefront,
//! API) asks these functions where a shopper may be and what they may choose; none keeps its
//! own copy of the rules.

use std::sync::Arc;

use sqlx::AnyPool;

use super::{CheckoutError, CheckoutState, Deps};
use crate::address::{self, Address};
use crate::basket::{self, PricedBasket, Pricer, snapshot};
use crate::catalogue::category::CategoryTree;
use crate::money::Currency;
use crate::plugins::calls::{Customer, ShippingRequest};
use crate::shipping::{self, Method};

/// The steps, in the order a shopper goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A guest's email (customers have their account's).
    Email,
    Address,
    Method,
    Payment,
    /// Review and pay.
    Preview,
}

/// A checkout as it stands: the shopper's purchasable basket and what they chose so far.
pub struct Checkout {
    pub basket: PricedBasket,
    pub state: CheckoutState,
    pub customer_id: Option<i64>,
    /// The customer's email, or the guest's once given.
    pub email: Option<String>,
}

/// Why there is no checkout to be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReady {
    EmptyBasket,
    /// Some line can't be bought as it stands (out of stock, unavailable, options missing).
    NotPurchasable,
}

/// Why a step can't be taken yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// An earlier step is not done: go there.
    Needs(Step),
    /// The chosen delivery method is no longer offered for this basket and address.
    MethodWithdrawn,
}

/// Who is checking out: a signed-in customer (id and email) or a guest.
pub struct Shopper {
    pub customer: Option<(i64, String)>,
}

/// Loads the checkout of `basket_id` (the shopper's open basket, if any).
pub async fn load(
    pricer: Pricer<'_>,
    basket_id: Option<i64>,
    shopper: Shopper,
    state: CheckoutState,
) -> Result<Result<Checkout, NotReady>, CheckoutError> {
    let Some(basket_id) = basket_id else {
        return Ok(Err(NotReady::EmptyBasket));
    };
    let basket = basket::priced(pricer, basket_id, true).await?;
    if basket.lines.is_empty() {
        return Ok(Err(NotReady::EmptyBasket));
    }
    if !basket.is_purchasable {
        return Ok(Err(NotReady::NotPurchasable));
    }
    let (customer_id, email) = match shopper.customer {
        Some((id, email)) => (Some(id), Some(email)),
        None => (None, state.guest_email.clone()),
    };
    Ok(Ok(Checkout {
        basket,
        state,
        customer_id,
        email,
    }))
}

impl Checkout {
    /// The first step this checkout hasn't completed.
    pub fn next_step(&self) -> Step {
        if self.email.is_none() {
            Step::Email
        } else if self.state.shipping_address.is_none() {
            Step::Address
        } else if self.state.shipping_method.is_none() {
            Step::Method
        } else if self.state.gateway.is_none() {
            Step::Payment
        } else {
            Step::Preview
        }
    }

    /// Whether `step` may be shown: every step before it is done.
    pub fn may_enter(&self, step: Step) -> Result<(), Blocked> {
        match self.next_step() {
            next if next >= step => Ok(()),
            next => Err(Blocked::Needs(next)),
        }
    }

    /// Takes a delivery address; a different address forgets the chosen method (methods and
    /// charges depend on it).
    pub fn choose_address(&mut self, address: Address) {
        if self.state.shipping_address.as_ref() != Some(&address) {
            self.state.shipping_method = None;
        }
        self.state.shipping_address = Some(address);
    }

    /// Takes a billing address (`None`: bill to the delivery address). The same address as
    /// the delivery one is kept as `None`, so "same as delivery" has one spelling. Nothing
    /// quoted depends on it, so the chosen method stays.
    pub fn choose_billing(&mut self, billing: Option<Address>) {
        self.state.billing_address =
            billing.filter(|b| self.state.shipping_address.as_ref() != Some(b));
    }
}

/// An address as the address step gives it: one from the customer's book, or one typed
/// (and validated) on the form.
#[derive(Debug, Clone)]
pub enum Chosen {
    Saved(i64),
    Typed(Address),
}

/// A saved address id that is not in this shopper's book (someone else's, or none at all;
/// a guest has no book).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotYours;

/// The address step: the delivery address and, unless billed there, the billing address.
/// Saved addresses are looked up in this customer's own book only.
pub async fn choose_addresses(
    pool: &AnyPool,
    checkout: &mut Checkout,
    shipping: Chosen,
    billing: Option<Chosen>,
) -> Result<Result<(), NotYours>, CheckoutError> {
    let Some(shipping) = resolve(pool, checkout.customer_id, shipping).await? else {
        return Ok(Err(NotYours));
    };
    let billing = match billing {
        None => None,
        Some(chosen) => match resolve(pool, checkout.customer_id, chosen).await? {
            Some(address) => Some(address),
            None => return Ok(Err(NotYours)),
        },
    };
    checkout.choose_address(shipping);
    checkout.choose_billing(billing);
    Ok(Ok(()))
}

async fn resolve(
    pool: &AnyPool,
    customer_id: Option<i64>,
    chosen: Chosen,
) -> Result<Option<Address>, CheckoutError> {
    Ok(match (chosen, customer_id) {
        (Chosen::Typed(address), _) => Some(address),
        (Chosen::Saved(id), Some(customer)) => address::get(pool, customer, id)
            .await?
            .map(|saved| saved.address),
        (Chosen::Saved(_), None) => None,
    })
}

/// What quoting needs: the catalogue facts plugins see, and the shop's currency.
pub struct Quoting<'a> {
    pub deps: &'a Deps<'a>,
    pub tree: &'a Arc<CategoryTree>,
    pub currency: Currency,
}

/// Every method the enabled shipping plugins offer for this checkout to `address`.
pub async fn quote(
    q: &Quoting<'_>,
    checkout: &Checkout,
    address: &Address,
) -> Result<Vec<Method>, CheckoutError> {
    let mut ids: Vec<i64> = checkout.basket.lines.iter().map(|l| l.product_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let facts = crate::catalogue::snapshot::facts(&q.deps.db.pool, q.tree, &ids).await?;
    let request = ShippingRequest {
        basket: snapshot::basket(&checkout.basket, &facts),
        customer: Customer::new(checkout.customer_id, checkout.email.as_deref()),
        address: Some(address.plugin_address()),
    };
    Ok(shipping::methods(q.deps.plugins, request, q.currency).await?)
}

/// The chosen method as quoted now.
pub async fn chosen_method(
    q: &Quoting<'_>,
    checkout: &Checkout,
) -> Result<Result<Method, Blocked>, CheckoutError> {
    let Some(address) = &checkout.state.shipping_address else {
        return Ok(Err(Blocked::Needs(Step::Address)));
    };
    let Some(key) = &checkout.state.shipping_method else {
        return Ok(Err(Blocked::Needs(Step::Method)));
    };
    let methods = quote(q, checkout, address).await?;
    Ok(methods
        .into_iter()
        .find(|m| &m.key() == key)
        .ok_or(Blocked::MethodWithdrawn))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Money;

    fn checkout(state: CheckoutState, email: Option<&str>) -> Checkout {
        let gbp = Currency::from_code("GBP").unwrap();
        Checkout {
            basket: PricedBasket {
                id: 1,
                lines: Vec::new(),
                saved: Vec::new(),
                num_items: 0,
                total_incl_tax: Money::zero(gbp),
                total_excl_tax: Money::zero(gbp),
                total_tax: Money::zero(gbp),
                is_purchasable: true,
                discounts: crate::offer::BasketDiscounts::none(gbp),
                due_incl_tax: Money::zero(gbp),
                due_excl_tax: Money::zero(gbp),
            },
            state,
            customer_id: None,
            email: email.map(str::to_string),
        }
    }

    #[test]
    fn steps_come_in_order() {
        let mut c = checkout(CheckoutState::default(), None);
        assert_eq!(c.next_step(), Step::Email);
        assert_eq!(c.may_enter(Step::Address), Err(Blocked::Needs(Step::Email)));
        c.email = Some("a@example.com".into());
        assert_eq!(c.next_step(), Step::Address);
        c.choose_address(Address {
            country: "GB".into(),
            ..Address::default()
        });
        c.state.shipping_method = Some("flat:standard".into());
        assert_eq!(c.next_step(), Step::Payment);
        assert_eq!(c.may_enter(Step::Method), Ok(()));
        assert_eq!(
            c.may_enter(Step::Preview),
            Err(Blocked::Needs(Step::Payment))
        );
        c.state.gateway = Some("test-card-gateway".into());
        assert_eq!(c.may_enter(Step::Preview), Ok(()));
        // Another address: the method must be chosen again.
        c.choose_address(Address {
            country: "NL".into(),
            ..Address::default()
        });
        assert_eq!(c.next_step(), Step::Method);
    }

    #[test]
    fn billing_to_the_delivery_address_is_kept_as_none() {
        let mut c = checkout(CheckoutState::default(), Some("a@example.com"));
        let home = Address {
            name: "Ada".into(),
            country: "GB".into(),
            ..Address::default()
        };
        let office = Address {
            name: "Ada's office".into(),
            ..home.clone()
        };
        c.choose_address(home.clone());
        c.state.shipping_method = Some("flat:standard".into());
        c.choose_billing(Some(home.clone()));
        assert_eq!(c.state.billing_address, None);
        assert_eq!(c.state.billing(), Some(&home));
        c.choose_billing(Some(office.clone()));
        assert_eq!(c.state.billing(), Some(&office));
        // Billing elsewhere changes no delivery quote.
        assert_eq!(c.state.shipping_method.as_deref(), Some("flat:standard"));
    }
}
