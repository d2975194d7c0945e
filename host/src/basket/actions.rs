//! What a shopper does to a basket, whichever front door they use (storefront, API): add a
//! product, change a line, save it for later or move it back, and merge the anonymous basket
//! into the account's at sign-in. Each action is its own transaction and announces the
//! baskets it changed ([`Change::Basket`]) once it committed, so that no caller clears a
//! cache.

use std::collections::HashMap;

use super::{
    BasketError, Limits, NewLine, Owner, Pricer, add_line, find_open, merge, move_line,
    open_basket, prepare_line, products, remove_line, set_quantity,
};
use crate::infra::changes::{Change, Changes};

/// What the basket actions work with: prices as this shopper sees them, the shop's limits,
/// and where changes are announced.
#[derive(Clone, Copy)]
pub struct Baskets<'a> {
    pub pricer: Pricer<'a>,
    pub limits: Limits,
    pub changes: &'a Changes,
}

/// The result of adding a product.
#[derive(Debug)]
pub enum Added {
    /// In the basket (a new one for an anonymous shopper without one).
    Added { basket_id: i64, line: Box<NewLine> },
    /// The shop's rules refused it (sold out, too many, limits); nothing changed. `back_to`
    /// is the product's page, or the basket's when the product can't be shown.
    Refused {
        message: String,
        back_to: Option<String>,
    },
}

/// A change to one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineChange {
    /// A new quantity; 0 removes the line.
    Quantity(i64),
    Remove,
    SaveForLater,
    MoveToBasket,
}

impl Baskets<'_> {
    /// Adds `quantity` of `product_id` with the options in `fields` to the owner's basket,
    /// opening one if needed.
    pub async fn add(
        &self,
        owner: Owner,
        product_id: i64,
        fields: &HashMap<String, String>,
        quantity: i64,
    ) -> Result<Added, BasketError> {
        let line = match prepare_line(self.pricer, product_id, fields).await {
            Ok(line) => line,
            Err(BasketError::Refused(message)) => {
                // Refusals come after the product was found: back to its page.
                let back_to = products(self.pricer.pool, &[product_id])
                    .await?
                    .remove(&product_id)
                    .map(|p| p.url);
                return Ok(Added::Refused { message, back_to });
            }
            Err(e) => return Err(e),
        };
        let mut tx = self.pricer.db.begin_write().await?;
        let basket_id = open_basket(&mut tx, owner).await?;
        match add_line(&mut tx, basket_id, &line, quantity, self.limits).await {
            Ok(_) => {
                tx.commit().await?;
                self.changes.announce(Change::Basket(basket_id));
                Ok(Added::Added {
                    basket_id,
                    line: Box::new(line),
                })
            }
            Err(BasketError::Refused(message)) => {
                tx.rollback().await?;
                Ok(Added::Refused {
                    message,
                    back_to: Some(line.product.url),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Changes one line of `basket_id`. A refusal ([`BasketError::Refused`]: not enough
    /// stock, over a limit) changes nothing.
    pub async fn change_line(
        &self,
        basket_id: i64,
        line_id: i64,
        change: LineChange,
    ) -> Result<(), BasketError> {
        let (pricer, limits) = (self.pricer, self.limits);
        let result = match change {
            LineChange::Quantity(0) | LineChange::Remove => {
                remove_line(pricer.db, basket_id, line_id).await
            }
            LineChange::Quantity(q) => set_quantity(pricer, basket_id, line_id, q, limits).await,
            LineChange::SaveForLater => move_line(pricer, basket_id, line_id, true, limits).await,
            LineChange::MoveToBasket => move_line(pricer, basket_id, line_id, false, limits).await,
        };
        // Announced whatever the outcome: a refused change may have found prices or stock
        // that differ from the summary shown so far.
        self.changes.announce(Change::Basket(basket_id));
        result
    }

    /// At sign-in: the anonymous basket `from` (if it is still open) moves into the
    /// customer's basket, within the limits. Returns how many lines moved.
    pub async fn merge_at_sign_in(
        &self,
        from: Option<i64>,
        customer_id: i64,
    ) -> Result<u64, BasketError> {
        let Some(from) = find_open(self.pricer.pool, Owner::Session(from)).await? else {
            return Ok(0);
        };
        let mut tx = self.pricer.db.begin_write().await?;
        let into = open_basket(&mut tx, Owner::Customer(customer_id)).await?;
        tx.commit().await?;
        let moved = merge(self.pricer.db, from, into, self.limits).await;
        self.changes.announce(Change::Basket(from));
        self.changes.announce(Change::Basket(into));
        moved
    }

    /// Puts a voucher on `basket_id` and keeps it only when the basket gets something from
    /// it: `Ok(message)` says what it gives, `Err(reason)` why it was refused (unknown,
    /// expired, used up, for signed-in customers, or the basket does not qualify — and by
    /// how much). A refused code leaves the basket as it was.
    pub async fn add_voucher(
        &self,
        basket_id: i64,
        code: &str,
    ) -> Result<Result<String, String>, BasketError> {
        let pricer = self.pricer;
        let now = crate::infra::db::now_text();
        let added =
            crate::offer::voucher::add(pricer.db, basket_id, pricer.customer_id, code, &now)
                .await?;
        let voucher = match added {
            Ok(v) => v,
            Err(reason) => return Ok(Err(reason)),
        };
        let priced = super::priced(pricer, basket_id, false).await?;
        let d = &priced.discounts;
        let gives = d
            .offers
            .iter()
            .any(|o| o.voucher.as_ref().is_some_and(|v| v.id == voucher.id))
            || d.shipping
                .iter()
                .any(|s| s.voucher.as_ref().is_some_and(|v| v.id == voucher.id));
        self.changes.announce(Change::Basket(basket_id));
        if gives {
            return Ok(Ok(format!(
                "Voucher {} was added to your basket.",
                voucher.code
            )));
        }
        crate::offer::voucher::remove(pricer.db, basket_id, &voucher.code).await?;
        let mine: Vec<&crate::offer::Explained> = d
            .explained
            .iter()
            .filter(|e| e.voucher.as_deref() == Some(voucher.code.as_str()))
            .collect();
        let why = mine.iter().find_map(|e| e.reason.clone());
        let upsell = mine.iter().find_map(|e| e.upsell.clone());
        Ok(Err(match (why, upsell) {
            (_, Some(hint)) => format!(
                "Your basket does not qualify for voucher {} yet. {hint}",
                voucher.code
            ),
            (Some(reason), None) => format!(
                "Your basket does not qualify for voucher {}: {}.",
                voucher.code,
                reason.to_lowercase()
            ),
            (None, None) => format!("Your basket does not qualify for voucher {}.", voucher.code),
        }))
    }

    /// Takes a voucher off `basket_id`; `false` when the basket did not hold it.
    pub async fn remove_voucher(&self, basket_id: i64, code: &str) -> Result<bool, BasketError> {
        let removed = crate::offer::voucher::remove(self.pricer.db, basket_id, code).await?;
        self.changes.announce(Change::Basket(basket_id));
        Ok(removed)
    }
}
