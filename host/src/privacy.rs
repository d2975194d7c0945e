//! Deleting a customer's account: the one use case that reaches into several modules' data
//! about a person, so it sits above them (the customer module knows nothing of reviews or
//! plugin traces, which know of customers).
//!
//! In one transaction, after the current password is checked through the sign-in throttle:
//! the plugin decisions recorded for the customer's baskets and orders go
//! ([`crate::plugins::lifecycle::trace::forget_customer`]), their reviews go and the ratings
//! they were part of are recounted ([`crate::review::forget_customer`]), and then the customer
//! module's own part ([`crate::customer::identity::erase_in`]): orders kept but unlinked and
//! stripped of email and phone, baskets, messages and the account gone, the goodbye queued.
//! Every session of the account ends after the commit.

use crate::customer::identity::{self, Checked, Context};
use crate::customer::{CustomerError, SignInAttempt};

/// Deletes customer `id`'s account when `password` is right.
pub async fn delete_account(
    cx: &Context<'_>,
    id: i64,
    password: &str,
) -> Result<Checked, CustomerError> {
    let checked =
        identity::check_password(&cx.db.pool, cx.throttle, id, password, cx.address).await?;
    let SignInAttempt::Welcome(customer) = &checked else {
        return Ok(checked);
    };
    let mut tx = cx.db.begin_write().await?;
    // Before the customer module cuts the links from baskets and orders to the account.
    crate::plugins::lifecycle::trace::forget_customer(&mut tx, id).await?;
    crate::review::forget_customer(&mut tx, id).await?;
    let orders = identity::erase_in(&mut tx, cx.sender, customer).await?;
    tx.commit().await?;
    identity::end_sessions(cx.sessions, id).await;
    tracing::info!(customer = id, orders, "account deleted");
    Ok(checked)
}
