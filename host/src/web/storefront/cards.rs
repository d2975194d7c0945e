//! View models shared by storefront pages: product cards priced by the active strategy.

use serde::Serialize;

use crate::app::AppState;
use crate::catalogue::{self, Image, ListingRow, Structure};
use crate::pricing::{self, Availability, Price};
use crate::web::WebError;

#[derive(Debug, Clone, Serialize)]
pub struct MoneyView {
    #[serde(flatten)]
    pub shown: crate::money::Money,
    pub incl_tax: crate::money::Money,
    pub excl_tax: crate::money::Money,
}

impl MoneyView {
    pub fn from_price(price: &Price) -> MoneyView {
        MoneyView {
            shown: price.incl_tax,
            incl_tax: price.incl_tax,
            excl_tax: price.excl_tax,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Card {
    pub id: i64,
    pub title: String,
    pub url: String,
    pub image: Option<Image>,
    pub price: Option<MoneyView>,
    pub price_from: bool,
    pub availability: Availability,
    pub class_name: String,
    pub variant_count: i64,
    pub rating: Option<crate::review::RatingView>,
}

pub async fn cards(state: &AppState, rows: &[ListingRow]) -> Result<Vec<Card>, WebError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let listed: Vec<(i64, bool)> = rows.iter().map(|r| (r.id, r.track_stock)).collect();
    let priced = pricing::price_listing(&state.pricing, &state.db.pool, state.currency, &listed)
        .await
        .map_err(WebError::internal)?;
    let titles: Vec<(i64, &str)> = rows.iter().map(|r| (r.id, r.title.as_str())).collect();
    let mut images = catalogue::primary_images(&state.db.pool, &titles).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let info = priced.get(&row.id);
            Card {
                id: row.id,
                title: row.title.clone(),
                url: row.url(),
                image: images.remove(&row.id),
                price: info
                    .and_then(|i| i.price.as_ref())
                    .map(MoneyView::from_price),
                price_from: row.structure == Structure::Parent,
                availability: info
                    .map(|i| i.availability.clone())
                    .unwrap_or_else(Availability::unavailable),
                class_name: row.class_name.clone(),
                variant_count: row.variant_count,
                rating: crate::review::rating_of(row.rating_count, row.rating_sum),
            }
        })
        .collect())
}
