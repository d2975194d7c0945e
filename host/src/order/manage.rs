//! Orders as staff manage them (the dashboard; the admin API next): find them, move them
//! along the pipeline, keep notes. Every change is one transaction with its audit entry, and
//! a partner user's scope is part of every query, so an order of another partner is not found
//! at all rather than hidden in a menu.

use serde::Serialize;
use sqlx::{AnyPool, Row};

pub use super::filter::OrderFilter;
use super::filter::where_sql;
pub use super::find_within as find;
use super::{OrderError, Pipeline, add_shipping_event, currency_of, money, set_status};
use crate::audit::{self, Actor};
use crate::infra::db::{Db, capped_count_sql, now_text};
use crate::mail::{self, Mailer};
use crate::money::Money;
use crate::plugins::lifecycle::trace::{self, StoredTrace};
use crate::staff::Staff;
use crate::themes::Templates;

/// The plugin decisions recorded for an order (see `plugins::lifecycle::trace`): its basket's
/// shipping quotes and offer conditions, the payment's authorisation, and the captures,
/// refunds and voids of its payments, oldest first. Only what the plugins' trace modes chose
/// to record is there.
pub async fn decisions(
    db: &Db,
    scope: Option<&[i64]>,
    number: &str,
) -> Result<Option<(super::Order, Vec<StoredTrace>)>, sqlx::Error> {
    let Some(order) = find(&db.pool, scope, number).await? else {
        return Ok(None);
    };
    let references: Vec<String> =
        sqlx::query_scalar("SELECT reference FROM payment_source WHERE order_id = $1")
            .bind(order.id)
            .fetch_all(&db.pool)
            .await?;
    let traces =
        trace::for_subjects(db, Some(order.basket_id), Some(&order.number), &references).await?;
    Ok(Some((order, traces)))
}

/// Longest note staff may keep on an order.
pub const MAX_NOTE_CHARS: usize = 2000;

/// One row of the order list.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub number: String,
    pub status: String,
    pub email: String,
    pub total_incl_tax: Money,
    pub num_items: i64,
    pub placed_at: String,
}

/// The orders matching `filter` within `scope`, newest first: one page of `page_size` and
/// the number of matches, counted up to [`crate::infra::db::COUNT_CAP`] + 1 (past the cap: "more than").
pub async fn search(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    filter: &OrderFilter,
    page: u32,
    page_size: u32,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let (condition, binds) = where_sql(scope, filter);
    let count_sql = capped_count_sql(&format!("shop_order o WHERE {condition}"));
    // Not kept as a prepared statement: PostgreSQL then plans each search with its own
    // values (a generic plan of `LIKE $1` cannot know the trigram index fits, and reads every
    // order).
    let mut count = sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)).persistent(false);
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(pool).await?;
    let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
    // The page's ids first, from the (placed_at, id) index alone, then their rows: a deep
    // page then skips index entries, not whole rows.
    let sql = format!(
        "SELECT o.number, o.status, o.email, o.currency, o.total_incl_minor, o.placed_at, \
         (SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM order_line l WHERE l.order_id = o.id) AS num_items \
         FROM shop_order o WHERE o.id IN (SELECT o.id FROM shop_order o WHERE {condition} \
         ORDER BY o.placed_at DESC, o.id DESC LIMIT {page_size} OFFSET {offset}) \
         ORDER BY o.placed_at DESC, o.id DESC"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    for b in binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(pool).await?;
    let listed = rows
        .iter()
        .map(|r| {
            let currency = currency_of(r)?;
            Ok(Listed {
                number: r.try_get("number")?,
                status: r.try_get("status")?,
                email: r.try_get("email")?,
                total_incl_tax: money(r, "total_incl_minor", currency)?,
                num_items: r.try_get("num_items")?,
                placed_at: r.try_get("placed_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((listed, total))
}

/// Moves the order along the pipeline for `staff`, with their note, in one transaction with
/// its audit entry. Cancelling is not a move: [`super::payments::cancel`] voids the payment too.
pub async fn change_status(
    db: &Db,
    pipeline: &Pipeline,
    notify: &Notify<'_>,
    staff: &Staff,
    number: &str,
    to: &str,
    note: &str,
) -> Result<(), OrderError> {
    if to == super::payments::CANCELLED {
        return Err(OrderError::UseCancel);
    }
    let scope = staff.partner_scope();
    let order = find(&db.pool, scope, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    if let Some(partners) = scope {
        // The order's status is every partner's: a partner user moves it only when all of
        // its lines are theirs (they ship their own lines whatever the others hold).
        let ids: Vec<String> = partners.iter().map(i64::to_string).collect();
        let sql = format!(
            "SELECT COUNT(*) FROM order_line l LEFT JOIN stock_record sr ON sr.id = l.stock_record_id \
             WHERE l.order_id = $1 AND (sr.partner_id IS NULL OR sr.partner_id NOT IN ({}))",
            ids.join(", ")
        );
        let others: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(order.id)
            .fetch_one(&db.pool)
            .await?;
        if others > 0 {
            return Err(OrderError::SharedWithOtherPartners);
        }
    }
    let mut tx = db.begin_write().await?;
    set_status(&mut tx, pipeline, order.id, to, note).await?;
    super::tell_status(&mut tx, order.id, to).await?;
    if to == SHIPPED {
        // Shipped as a whole without a shipment recorded line by line: the customer is told
        // about the lines not yet told of (all of them when none are left).
        let unshipped: Vec<&super::OrderLine> = order
            .lines
            .iter()
            .filter(|l| l.status != SHIPPED && l.status != super::payments::CANCELLED)
            .collect();
        let lines = if unshipped.is_empty() {
            order
                .lines
                .iter()
                .filter(|l| l.status != super::payments::CANCELLED)
                .collect()
        } else {
            unshipped
        };
        let key = format!("order-shipped-{}-status", order.number);
        queue_shipped_email(&mut tx, notify, &order, &lines, "", &key).await?;
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order.status",
        "order",
        number,
        Some(&audit::json(&serde_json::json!({ "status": order.status }))),
        Some(&audit::json(
            &serde_json::json!({ "status": to, "note": note }),
        )),
    )
    .await?;
    tx.commit().await?;
    if to == SHIPPED {
        notify.mailer.wake();
    }
    Ok(())
}

/// The status an order or line has once it has left.
const SHIPPED: &str = "Shipped";

/// A staff note on an order's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub actor: String,
    pub body: String,
    pub created_at: String,
}

/// Keeps a note on the order (1 to [`MAX_NOTE_CHARS`] characters; the caller checks).
pub async fn add_note(db: &Db, staff: &Staff, number: &str, body: &str) -> Result<(), OrderError> {
    let order = find(&db.pool, staff.partner_scope(), number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO order_note (order_id, staff_id, actor, body, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order.id)
    .bind(staff.id)
    .bind(&staff.email)
    .bind(body)
    .bind(now_text())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order.note",
        "order",
        number,
        None,
        Some(&audit::json(&serde_json::json!({ "note": body }))),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The order's notes, oldest first.
pub async fn notes(pool: &AnyPool, order_id: i64) -> Result<Vec<Note>, sqlx::Error> {
    sqlx::query("SELECT actor, body, created_at FROM order_note WHERE order_id = $1 ORDER BY id")
        .bind(order_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Note {
                actor: r.try_get("actor")?,
                body: r.try_get("body")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// The lines of order `order_id` a partner user with `scope` may act on (`None`: all).
async fn own_line_ids(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    order_id: i64,
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let Some(partners) = scope else {
        return Ok(None);
    };
    let ids: Vec<String> = partners.iter().map(i64::to_string).collect();
    let sql = format!(
        "SELECT l.id FROM order_line l JOIN stock_record sr ON sr.id = l.stock_record_id \
         WHERE l.order_id = $1 AND sr.partner_id IN ({})",
        ids.join(", ")
    );
    Ok(Some(
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_all(pool)
            .await?,
    ))
}

/// The lines `line_ids` of `order` (each one the user may act on: `own`, or all), when every
/// one of them may move to `to` (`may_move(status)`); a line of someone else's is not found.
fn pick_lines<'o>(
    order: &'o super::Order,
    own: Option<&[i64]>,
    line_ids: &[i64],
    to: &str,
    may_move: impl Fn(&str) -> bool,
) -> Result<Vec<&'o super::OrderLine>, OrderError> {
    line_ids
        .iter()
        .map(|id| {
            let line = order
                .lines
                .iter()
                .find(|l| l.id == *id)
                .filter(|_| own.is_none_or(|own| own.contains(id)))
                .ok_or(OrderError::NotFound)?;
            if !may_move(&line.status) {
                return Err(OrderError::BadTransition {
                    from: line.status.clone(),
                    to: to.to_owned(),
                });
            }
            Ok(line)
        })
        .collect()
}

/// Moves lines of the order along the line pipeline (each by one allowed move to `to`), in
/// one transaction with its audit entry. A cancelled line gives its allocated stock back. A
/// partner user moves only their own lines. Shipping has its own action ([`fulfil`]), which
/// also records the shipment and emails the customer.
pub async fn change_line_status(
    db: &Db,
    pipeline: &Pipeline,
    staff: &Staff,
    number: &str,
    line_ids: &[i64],
    to: &str,
) -> Result<Vec<i64>, OrderError> {
    let scope = staff.partner_scope();
    let order = find(&db.pool, scope, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let own_lines = own_line_ids(&db.pool, scope, order.id).await?;
    let chosen = pick_lines(&order, own_lines.as_deref(), line_ids, to, |status| {
        pipeline
            .line_statuses
            .get(status)
            .is_some_and(|next| next.iter().any(|s| s == to))
    })?;
    let mut tx = db.begin_write().await?;
    if to == super::payments::CANCELLED {
        let ids: Vec<i64> = chosen.iter().map(|l| l.id).collect();
        super::release_allocations(&mut tx, order.id, Some(&ids)).await?;
    }
    for line in &chosen {
        let moved = sqlx::query("UPDATE order_line SET status = $3 WHERE id = $1 AND status = $2")
            .bind(line.id)
            .bind(&line.status)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved != 1 {
            return Err(OrderError::BadTransition {
                from: line.status.clone(),
                to: to.to_owned(),
            });
        }
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order.line_status",
        "order",
        number,
        Some(&audit::json(
            &chosen
                .iter()
                .map(|l| (l.id, l.status.clone()))
                .collect::<Vec<_>>(),
        )),
        Some(&audit::json(
            &serde_json::json!({ "lines": line_ids, "status": to }),
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(chosen.iter().filter_map(|l| l.product_id).collect())
}

/// Longest tracking reference kept.
pub const MAX_TRACKING_CHARS: usize = 100;

/// What the customer is told with, and where their email comes from.
pub struct Notify<'a> {
    pub templates: &'a Templates,
    pub mailer: &'a Mailer,
    pub shop_name: &'a str,
    /// `scheme://host` of the shop, for the link to a customer's order page.
    pub site_url: &'a str,
}

/// Ships `line_ids` of the order: each line walks the line pipeline to `Shipped`, a shipping
/// event records them with the tracking reference, the order itself moves on to `Shipped`
/// once no line is left to ship, and the customer's email is queued, all in one transaction
/// with its audit entry. A partner user ships only their own lines; a line of someone else's
/// (or of another order) is not found.
pub async fn fulfil(
    db: &Db,
    pipeline: &Pipeline,
    notify: &Notify<'_>,
    staff: &Staff,
    number: &str,
    line_ids: &[i64],
    tracking: &str,
) -> Result<(), OrderError> {
    let scope = staff.partner_scope();
    let order = find(&db.pool, scope, number)
        .await?
        .ok_or(OrderError::NotFound)?;
    let own_lines = own_line_ids(&db.pool, scope, order.id).await?;
    let chosen = pick_lines(&order, own_lines.as_deref(), line_ids, SHIPPED, |status| {
        status != SHIPPED && pipeline.line_path(status, SHIPPED).is_some()
    })?;
    let mut tx = db.begin_write().await?;
    let ids: Vec<i64> = chosen.iter().map(|l| l.id).collect();
    super::consume_allocations(&mut tx, order.id, &ids).await?;
    for line in &chosen {
        // Conditional on the status read: a concurrent change makes this fail, not repeat.
        let moved = sqlx::query("UPDATE order_line SET status = $3 WHERE id = $1 AND status = $2")
            .bind(line.id)
            .bind(&line.status)
            .bind(SHIPPED)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved != 1 {
            return Err(OrderError::BadTransition {
                from: line.status.clone(),
                to: SHIPPED.into(),
            });
        }
    }
    let shipped: Vec<(i64, i64)> = chosen.iter().map(|l| (l.id, l.quantity)).collect();
    add_shipping_event(&mut tx, order.id, SHIPPED, &shipped, tracking).await?;
    let unshipped: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM order_line WHERE order_id = $1 AND status NOT IN ('Shipped', 'Cancelled')",
    )
    .bind(order.id)
    .fetch_one(&mut *tx)
    .await?;
    let mut order_moved = false;
    if unshipped == 0
        && let Some(path) = pipeline.path(&order.status, SHIPPED)
    {
        for status in path {
            set_status(&mut tx, pipeline, order.id, &status, "all lines shipped").await?;
            order_moved = true;
        }
    }
    if order_moved {
        super::tell_status(&mut tx, order.id, SHIPPED).await?;
    } else if let Some(customer_id) = order.customer_id {
        // A part of the order shipped; the rest follows.
        let subject = format!("Part of order {number} is on its way");
        let units: i64 = chosen.iter().map(|l| l.quantity).sum();
        let body = format!(
            "{units} item{} of your order {number} {} been shipped; the rest follows.",
            if units == 1 { "" } else { "s" },
            if units == 1 { "has" } else { "have" }
        );
        let link = format!("/accounts/orders/{number}/");
        let notice = crate::communication::notifications::Notice {
            subject: &subject,
            body: &body,
            link: Some(&link),
        };
        crate::communication::notifications::add(&mut tx, customer_id, &notice, None).await?;
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "order.fulfil",
        "order",
        number,
        None,
        Some(&audit::json(&serde_json::json!({
            "lines": shipped.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            "tracking": tracking,
        }))),
    )
    .await?;
    let ids: Vec<String> = chosen.iter().map(|l| l.id.to_string()).collect();
    let key = format!("order-shipped-{}-{}", order.number, ids.join("-"));
    queue_shipped_email(&mut tx, notify, &order, &chosen, tracking, &key).await?;
    tx.commit().await?;
    notify.mailer.wake();
    Ok(())
}

/// The "on its way" email, queued in the fulfilment's transaction (once per shipment: keyed by
/// the lines it ships). A template or address problem is logged and the shipment stands.
async fn queue_shipped_email(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    notify: &Notify<'_>,
    order: &super::Order,
    lines: &[&super::OrderLine],
    tracking: &str,
    key: &str,
) -> Result<(), OrderError> {
    let ctx = minijinja::context! {
        shop_name => notify.shop_name,
        tracking => (!tracking.is_empty()).then_some(tracking),
        status_link => order.customer_id.map(|_| format!("{}/accounts/orders/{}/", notify.site_url, order.number)),
        order => minijinja::context! {
            number => order.number.clone(),
            lines => lines.iter().map(|l| minijinja::context! { title => l.title.clone(), quantity => l.quantity }).collect::<Vec<_>>(),
            address => order.shipping_address_lines.clone(),
        },
    };
    if order.email.is_empty() {
        // The account that placed it was deleted: nobody to write to.
        return Ok(());
    }
    let email = match mail::render_in(tx, notify.templates, "order_shipped", ctx).await {
        Ok(body) => body.to(&order.email),
        Err(mail::MailError::Db(e)) => return Err(e.into()),
        Err(e) => {
            tracing::error!(order = %order.number, error = %e, "shipping email not rendered");
            return Ok(());
        }
    };
    let history = order.customer_id.map(|customer_id| mail::History {
        customer_id,
        keep_body: true,
    });
    match mail::enqueue_for(tx, &email, Some(key), history).await {
        Ok(_) => Ok(()),
        Err(mail::MailError::Db(e)) => Err(e.into()),
        Err(e) => {
            tracing::error!(order = %order.number, error = %e, "shipping email not queued");
            Ok(())
        }
    }
}

/// A shipping event as the order's timeline shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Shipment {
    pub kind: String,
    /// How many lines it covered.
    pub lines: usize,
    /// The tracking reference, if any.
    pub note: String,
    pub created_at: String,
}

pub async fn shipments(pool: &AnyPool, order_id: i64) -> Result<Vec<Shipment>, sqlx::Error> {
    sqlx::query(
        "SELECT kind, lines, note, created_at FROM shipping_event WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        let lines: String = r.try_get("lines")?;
        let lines = serde_json::from_str::<Vec<serde_json::Value>>(&lines)
            .map(|l| l.len())
            .unwrap_or(0);
        Ok(Shipment {
            kind: r.try_get("kind")?,
            lines,
            note: r.try_get("note")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}

/// One event on an order's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub at: String,
    pub what: String,
    /// Who did it: the customer for the order itself, the staff member for their actions.
    pub who: Option<String>,
    pub detail: Option<String>,
}

/// Everything that happened to `order`, oldest first: placed, status moves (with the staff
/// member from the audit log), shipments with their tracking references, notes.
pub async fn timeline(
    pool: &AnyPool,
    order: &super::Order,
) -> Result<Vec<TimelineEvent>, sqlx::Error> {
    let notes = notes(pool, order.id).await?;
    let audit = audit::for_object(pool, "order", &order.number).await?;
    let mut timeline = vec![TimelineEvent {
        at: order.placed_at.clone(),
        what: format!("Placed ({})", order.total_incl_tax.display()),
        who: Some(order.email.clone()),
        detail: None,
    }];
    // Status moves by staff are in the audit log with who made them; the pipeline's own
    // history covers every move (and the ones made before the audit log existed).
    let by_staff: Vec<&audit::Entry> = audit
        .iter()
        .filter(|e| e.action == "order.status")
        .collect();
    for change in &order.history {
        let who = by_staff
            .iter()
            .find(|e| {
                e.after
                    .as_deref()
                    .is_some_and(|a| a.contains(&format!("\"status\":\"{}\"", change.new_status)))
            })
            .map(|e| e.actor.clone());
        timeline.push(TimelineEvent {
            at: change.at.clone(),
            what: format!("{} → {}", change.old_status, change.new_status),
            who,
            detail: None,
        });
    }
    for shipment in shipments(pool, order.id).await? {
        timeline.push(TimelineEvent {
            at: shipment.created_at,
            what: format!(
                "{} ({} line{})",
                shipment.kind,
                shipment.lines,
                if shipment.lines == 1 { "" } else { "s" }
            ),
            who: None,
            detail: (!shipment.note.is_empty()).then(|| format!("Tracking: {}", shipment.note)),
        });
    }
    for entry in audit.iter().filter(|e| e.action == "order.fulfil") {
        // The shipment's staff member, from the audit log.
        if let Some(event) = timeline
            .iter_mut()
            .rev()
            .find(|e| e.who.is_none() && e.at == entry.created_at)
        {
            event.who = Some(entry.actor.clone());
        }
    }
    for payment in &order.payments {
        timeline.push(TimelineEvent {
            at: order.placed_at.clone(),
            what: format!("Authorised {}", payment.allocated.display()),
            who: None,
            detail: Some(format!("{} at {}", payment.label, payment.plugin_id)),
        });
    }
    for operation in super::payments::operations(pool, order.id).await? {
        timeline.push(TimelineEvent {
            at: operation.updated_at.clone(),
            what: operation.summary(),
            who: Some(operation.actor.clone()),
            detail: (!operation.message.is_empty()).then(|| operation.message.clone()),
        });
    }
    for note in &notes {
        timeline.push(TimelineEvent {
            at: note.created_at.clone(),
            what: "Note".into(),
            who: Some(note.actor.clone()),
            detail: Some(note.body.clone()),
        });
    }
    timeline.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(timeline)
}
