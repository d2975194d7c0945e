//! What a plugin may know about a product: the facts the shop snapshots into a plugin's
//! [`Product`] (class, categories, attributes, weight, whether it ships). Read in three batched queries for
//! any number of products, whatever the page or basket size.

use std::collections::HashMap;

use sqlx::{AnyPool, Row};

use super::category::CategoryTree;
use crate::infra::db::{optional_flag, placeholders};
use crate::plugins::calls::{Attribute, Product};

#[derive(Debug, Clone, Default)]
pub struct ProductFacts {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub upc: Option<String>,
    pub title: String,
    /// Slug of the product class (a child's is its parent's).
    pub class: String,
    /// Category paths by name, outermost first, joined with " > " ("Clothing > Shirts");
    /// a child's are its parent's.
    pub categories: Vec<String>,
    /// (code, value as text); a child's own values win over its parent's.
    pub attributes: Vec<(String, String)>,
    /// Weight of one unit (a child without one has its parent's).
    pub weight_grams: Option<i64>,
    pub requires_shipping: bool,
}

impl ProductFacts {
    /// The product as a plugin sees it: ids as opaque text, the UPC as its SKU.
    pub fn plugin_product(&self) -> Product {
        Product {
            id: self.id.to_string(),
            parent_id: self.parent_id.map(|p| p.to_string()),
            sku: self.upc.clone(),
            title: self.title.clone(),
            product_class: self.class.clone(),
            categories: self.categories.clone(),
            attributes: self
                .attributes
                .iter()
                .map(|(name, value)| Attribute {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            weight_grams: self.weight_grams.and_then(|w| u32::try_from(w).ok()),
            requires_shipping: self.requires_shipping,
        }
    }
}

/// Facts for every id given (unknown ids are left out).
pub async fn facts(
    pool: &AnyPool,
    tree: &CategoryTree,
    ids: &[i64],
) -> Result<HashMap<i64, ProductFacts>, sqlx::Error> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let list = placeholders(1, ids.len());
    let sql = format!(
        "SELECT p.id, p.parent_id, p.upc, p.title, \
         COALESCE(p.weight_grams, pp.weight_grams) AS weight_grams, \
         COALESCE(pc.slug, ppc.slug) AS class_slug, \
         COALESCE(pc.requires_shipping, ppc.requires_shipping) AS requires_shipping \
         FROM product p LEFT JOIN product pp ON pp.id = p.parent_id \
         LEFT JOIN product_class pc ON pc.id = p.product_class_id \
         LEFT JOIN product_class ppc ON ppc.id = pp.product_class_id \
         WHERE p.id IN ({list})"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut owners: Vec<i64> = Vec::new();
    for row in query.fetch_all(pool).await? {
        let f = ProductFacts {
            id: row.try_get("id")?,
            parent_id: row.try_get("parent_id")?,
            upc: row.try_get("upc")?,
            title: row.try_get("title")?,
            class: row
                .try_get::<Option<String>, _>("class_slug")?
                .unwrap_or_default(),
            categories: Vec::new(),
            attributes: Vec::new(),
            weight_grams: row.try_get("weight_grams")?,
            requires_shipping: optional_flag(&row, "requires_shipping")?.unwrap_or(true),
        };
        owners.push(f.id);
        owners.extend(f.parent_id);
        out.insert(f.id, f);
    }
    owners.sort_unstable();
    owners.dedup();
    let list = placeholders(1, owners.len());

    let sql = format!(
        "SELECT pc.product_id, c.full_slug FROM product_category pc \
         JOIN category c ON c.id = pc.category_id WHERE pc.product_id IN ({list}) \
         ORDER BY c.full_slug"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &owners {
        query = query.bind(*id);
    }
    let mut categories: HashMap<i64, Vec<String>> = HashMap::new();
    for row in query.fetch_all(pool).await? {
        let full_slug: String = row.try_get(1)?;
        let Some(category) = tree.by_full_slug(&full_slug) else {
            continue;
        };
        let path = tree
            .ancestry(category)
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(" > ");
        categories.entry(row.try_get(0)?).or_default().push(path);
    }

    // Text-like kinds only: numbers and dates as their text, options as their label.
    let sql = format!(
        "SELECT v.product_id, a.code, v.value_text, v.value_integer, v.value_date, o.option \
         FROM product_attribute_value v JOIN product_attribute a ON a.id = v.attribute_id \
         LEFT JOIN attribute_option o ON o.id = v.value_option_id \
         WHERE v.product_id IN ({list}) ORDER BY a.code"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &owners {
        query = query.bind(*id);
    }
    let mut attributes: HashMap<i64, Vec<(String, String)>> = HashMap::new();
    for row in query.fetch_all(pool).await? {
        let value = row
            .try_get::<Option<String>, _>(2)?
            .or(row.try_get::<Option<i64>, _>(3)?.map(|n| n.to_string()))
            .or(row.try_get::<Option<String>, _>(4)?)
            .or(row.try_get::<Option<String>, _>(5)?);
        if let Some(value) = value {
            attributes
                .entry(row.try_get(0)?)
                .or_default()
                .push((row.try_get(1)?, value));
        }
    }

    for f in out.values_mut() {
        let owner = f.parent_id.unwrap_or(f.id);
        f.categories = categories.get(&owner).cloned().unwrap_or_default();
        let mut attrs: Vec<(String, String)> = f
            .parent_id
            .and_then(|p| attributes.get(&p).cloned())
            .unwrap_or_default();
        for (code, value) in attributes.get(&f.id).into_iter().flatten() {
            match attrs.iter_mut().find(|(c, _)| c == code) {
                Some(slot) => slot.1 = value.clone(),
                None => attrs.push((code.clone(), value.clone())),
            }
        }
        f.attributes = attrs;
    }
    Ok(out)
}
