//! The catalogue: product classes with typed attributes, products (standalone, parent, child),
//! options, images, categories and recommendations. This module owns their SQL.

pub mod attributes;
pub mod category;
pub mod category_images;
pub mod images;
pub mod manage;
pub mod snapshot;

use std::collections::HashMap;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Executor, Row};

use crate::infra::db::{flag, now_text, optional_flag, placeholders};
use attributes::{AttributeDef, AttributeKind, AttributeValue};
use category::{Category, CategoryTree, child_path, slugify};

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Attribute(#[from] attributes::AttributeError),
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Structure {
    Standalone,
    Parent,
    Child,
}

impl Structure {
    pub fn parse(s: &str) -> Structure {
        match s {
            "parent" => Structure::Parent,
            "child" => Structure::Child,
            _ => Structure::Standalone,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Structure::Standalone => "standalone",
            Structure::Parent => "parent",
            Structure::Child => "child",
        }
    }
}

pub fn product_url(slug: &str, id: i64) -> String {
    format!("/catalogue/{slug}_{id}/")
}

/// How listings can be ordered; the URL names them with [`SortKey::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Featured,
    Newest,
    PriceAsc,
    PriceDesc,
    Title,
    /// Best average customer rating first; unrated products last.
    Rating,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Featured,
        SortKey::Newest,
        SortKey::PriceAsc,
        SortKey::PriceDesc,
        SortKey::Title,
        SortKey::Rating,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Featured => "featured",
            SortKey::Newest => "newest",
            SortKey::PriceAsc => "price-asc",
            SortKey::PriceDesc => "price-desc",
            SortKey::Title => "title",
            SortKey::Rating => "rating",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Featured => "Featured",
            SortKey::Newest => "Newest",
            SortKey::PriceAsc => "Price: low to high",
            SortKey::PriceDesc => "Price: high to low",
            SortKey::Title => "Title A–Z",
            SortKey::Rating => "Customer rating",
        }
    }

    pub fn parse(s: &str) -> Option<SortKey> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A fixed SQL fragment per key: user input never reaches ORDER BY.
    fn order_by(self) -> &'static str {
        match self {
            SortKey::Featured => "p.priority DESC, p.id",
            SortKey::Newest => "p.created_at DESC, p.id DESC",
            SortKey::PriceAsc => "prices.min_price IS NULL, prices.min_price, p.id",
            SortKey::PriceDesc => "prices.min_price IS NULL, prices.min_price DESC, p.id",
            SortKey::Title => "p.title, p.id",
            // The average in thousandths (whole numbers on both databases), then the
            // better-known product.
            SortKey::Rating => {
                "CASE WHEN p.rating_count = 0 THEN -1 \
                 ELSE p.rating_sum * 1000 / p.rating_count END DESC, p.rating_count DESC, p.id"
            }
        }
    }
}

/// Which products a listing shows.
#[derive(Debug, Clone, Copy)]
pub enum ListingFilter<'a> {
    All,
    /// The category and everything below it.
    Category(&'a Category),
    /// Every term must appear in the title, or equal the UPC.
    Search(&'a [String]),
}

/// One product on a listing page: a standalone or parent product (children are reached
/// through their parent).
#[derive(Debug, Clone)]
pub struct ListingRow {
    pub id: i64,
    pub title: String,
    pub slug: String,
    pub structure: Structure,
    pub class_name: String,
    pub track_stock: bool,
    pub variant_count: i64,
    /// Approved reviews and their scores added up (see `review`).
    pub rating_count: i64,
    pub rating_sum: i64,
}

impl ListingRow {
    pub fn url(&self) -> String {
        product_url(&self.slug, self.id)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub url: String,
    pub caption: String,
    pub alt: String,
    pub width: i64,
    pub height: i64,
}

fn image_from_row(row: &AnyRow, title: &str) -> Result<Image, sqlx::Error> {
    let caption: String = row.try_get("caption")?;
    Ok(Image {
        url: format!("/media/{}", row.try_get::<String, _>("original")?),
        alt: if caption.is_empty() {
            title.to_owned()
        } else {
            caption.clone()
        },
        caption,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
    })
}

/// Escapes `%`, `_` and `\` so that user text matches literally inside `LIKE … ESCAPE '\'`.
pub(crate) fn like_literal(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// What a listing row needs; [`listing_row`] reads it.
const LISTING_COLUMNS: &str = "p.id, p.title, p.slug, p.structure, pc.name AS class_name, \
     pc.track_stock, (SELECT COUNT(*) FROM product ch \
     WHERE ch.parent_id = p.id AND ch.is_public = TRUE) AS variant_count, \
     p.rating_count, p.rating_sum";

fn listing_row(row: &AnyRow) -> Result<ListingRow, sqlx::Error> {
    Ok(ListingRow {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        slug: row.try_get("slug")?,
        structure: Structure::parse(&row.try_get::<String, _>("structure")?),
        class_name: row.try_get("class_name")?,
        track_stock: flag(row, "track_stock")?,
        variant_count: row.try_get("variant_count")?,
        rating_count: row.try_get("rating_count")?,
        rating_sum: row.try_get("rating_sum")?,
    })
}

const LISTING_FROM: &str = "FROM product p \
     JOIN product_class pc ON pc.id = p.product_class_id";

/// The cheapest stock price per listed product (a parent takes its children's), joined only when
/// a listing is sorted by price.
const PRICES_JOIN: &str = " LEFT JOIN (SELECT COALESCE(pp.parent_id, pp.id) AS listing_id, \
     MIN(sr.price_minor) AS min_price \
     FROM stock_record sr JOIN product pp ON pp.id = sr.product_id WHERE pp.is_public = TRUE \
     GROUP BY COALESCE(pp.parent_id, pp.id)) prices ON prices.listing_id = p.id";

const LISTING_WHERE: &str = " WHERE p.is_public = TRUE AND p.parent_id IS NULL";

/// One page of a listing plus the total count, in two indexed queries.
pub async fn list_products(
    pool: &AnyPool,
    filter: ListingFilter<'_>,
    sort: SortKey,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ListingRow>, i64), CatalogueError> {
    let mut binds: Vec<String> = Vec::new();
    let mut condition = String::new();
    match filter {
        ListingFilter::All => {}
        ListingFilter::Category(category) => {
            binds.push(category.subtree_pattern());
            condition.push_str(
                " AND EXISTS (SELECT 1 FROM product_category x JOIN category c ON c.id = x.category_id \
                 WHERE x.product_id = p.id AND c.path LIKE $1 AND c.is_public = TRUE)",
            );
        }
        ListingFilter::Search(terms) => {
            for term in terms {
                let n = binds.len() + 1;
                binds.push(format!("%{}%", like_literal(&term.to_lowercase())));
                binds.push(term.clone());
                condition.push_str(&format!(
                    " AND (LOWER(p.title) LIKE ${n} ESCAPE '\\' OR p.upc = ${})",
                    n + 1
                ));
            }
        }
    }
    let count_sql = format!(
        "SELECT COUNT(*) FROM product p WHERE p.is_public = TRUE AND p.parent_id IS NULL{condition}"
    );
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(pool).await?.try_get(0)?;
    if total == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let n = binds.len();
    let prices = if matches!(sort, SortKey::PriceAsc | SortKey::PriceDesc) {
        PRICES_JOIN
    } else {
        ""
    };
    let page_sql = format!(
        "SELECT {LISTING_COLUMNS} {LISTING_FROM}{prices}{LISTING_WHERE}{condition} ORDER BY {} LIMIT ${} OFFSET ${}",
        sort.order_by(),
        n + 1,
        n + 2
    );
    let mut page = sqlx::query(sqlx::AssertSqlSafe(page_sql));
    for b in binds {
        page = page.bind(b);
    }
    let rows = page.bind(limit).bind(offset).fetch_all(pool).await?;
    let rows = rows
        .iter()
        .map(listing_row)
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok((rows, total))
}

/// The first image of each product (children fall back to their parent's in the caller).
pub async fn primary_images(
    pool: &AnyPool,
    products: &[(i64, &str)],
) -> Result<HashMap<i64, Image>, CatalogueError> {
    if products.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT i.product_id, i.original, i.caption, i.width, i.height FROM product_image i \
         WHERE i.product_id IN ({}) ORDER BY i.product_id, i.display_order, i.id",
        placeholders(1, products.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (id, _) in products {
        query = query.bind(*id);
    }
    let titles: HashMap<i64, &str> = products.iter().copied().collect();
    let mut images = HashMap::new();
    for row in query.fetch_all(pool).await? {
        let id: i64 = row.try_get("product_id")?;
        if images.contains_key(&id) {
            continue;
        }
        let title = titles.get(&id).copied().unwrap_or_default();
        images.insert(id, image_from_row(&row, title)?);
    }
    Ok(images)
}

pub async fn load_category_tree(pool: &AnyPool) -> Result<CategoryTree, CatalogueError> {
    let rows = sqlx::query(
        "SELECT id, parent_id, name, slug, full_slug, path, depth, description FROM category \
         WHERE is_public = TRUE ORDER BY path",
    )
    .fetch_all(pool)
    .await?;
    let all = rows
        .iter()
        .map(|row| {
            Ok(Category {
                id: row.try_get("id")?,
                parent_id: row.try_get("parent_id")?,
                name: row.try_get("name")?,
                slug: row.try_get("slug")?,
                full_slug: row.try_get("full_slug")?,
                path: row.try_get("path")?,
                depth: row.try_get("depth")?,
                description: row.try_get("description")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // A category hidden by an admin hides its subtree too.
    let visible_paths: Vec<String> = all.iter().map(|c: &Category| c.path.clone()).collect();
    let all = all
        .into_iter()
        .filter(|c| {
            (1..c.path.len() / category::PATH_STEP).all(|level| {
                let prefix = &c.path[..level * category::PATH_STEP];
                visible_paths.iter().any(|p| p == prefix)
            })
        })
        .collect();
    Ok(CategoryTree::new(all))
}

/// Everything a product page shows.
#[derive(Debug, Clone)]
pub struct ProductDetail {
    pub id: i64,
    pub structure: Structure,
    pub parent_id: Option<i64>,
    pub title: String,
    pub slug: String,
    pub upc: Option<String>,
    pub description: String,
    pub class_name: String,
    pub track_stock: bool,
    /// The parent's attributes overlaid with the product's own, in the class's order.
    pub attributes: Vec<(String, String)>,
    pub images: Vec<Image>,
    pub category_ids: Vec<i64>,
    pub options: Vec<ProductOption>,
    /// For a parent its children; for a child its siblings (itself included).
    pub variants: Vec<Variant>,
    pub parent: Option<ParentRef>,
    pub recommendation_ids: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct ParentRef {
    pub id: i64,
    pub title: String,
    pub slug: String,
}

#[derive(Debug, Clone)]
pub struct Variant {
    pub id: i64,
    pub title: String,
    pub slug: String,
    pub upc: Option<String>,
    /// Attribute values that tell the variants apart, e.g. "Size: M, Colour: Blue".
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductOption {
    pub code: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub help: String,
}

struct ProductRow {
    id: i64,
    structure: Structure,
    parent_id: Option<i64>,
    class_id: Option<i64>,
    title: String,
    slug: String,
    upc: Option<String>,
    description: String,
}

async fn product_row(pool: &AnyPool, id: i64) -> Result<Option<ProductRow>, CatalogueError> {
    let row = sqlx::query(
        "SELECT id, structure, parent_id, product_class_id, title, slug, upc, description \
         FROM product WHERE id = $1 AND is_public = TRUE",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(ProductRow {
        id: row.try_get("id")?,
        structure: Structure::parse(&row.try_get::<String, _>("structure")?),
        parent_id: row.try_get("parent_id")?,
        class_id: row.try_get("product_class_id")?,
        title: row.try_get("title")?,
        slug: row.try_get("slug")?,
        upc: row.try_get("upc")?,
        description: row.try_get("description")?,
    }))
}

/// Attribute values of the given products as (product id, attribute id, display value), with
/// the attribute's position in its class.
async fn attribute_values(
    pool: &AnyPool,
    product_ids: &[i64],
) -> Result<Vec<(i64, i64, String, String)>, CatalogueError> {
    if product_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT v.product_id, a.id AS attribute_id, a.name, a.kind, v.value_text, v.value_integer, \
         v.value_boolean, v.value_float, v.value_richtext, v.value_date, v.value_datetime, \
         o.option AS option_value, v.value_entity_type, v.value_entity_id, v.value_file, \
         (SELECT {agg} FROM product_attribute_value_option vo \
            JOIN attribute_option mo ON mo.id = vo.option_id WHERE vo.value_id = v.id) AS multi \
         FROM product_attribute_value v \
         JOIN product_attribute a ON a.id = v.attribute_id \
         LEFT JOIN attribute_option o ON o.id = v.value_option_id \
         WHERE v.product_id IN ({}) ORDER BY a.id",
        placeholders(1, product_ids.len()),
        agg = "STRING_AGG(mo.option, ', ')"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in product_ids {
        query = query.bind(*id);
    }
    let mut out = Vec::new();
    for row in query.fetch_all(pool).await? {
        let kind = AttributeKind::parse(&row.try_get::<String, _>("kind")?);
        let value = match kind {
            Some(AttributeKind::Text) => row.try_get::<Option<String>, _>("value_text")?,
            Some(AttributeKind::RichText) => row.try_get("value_richtext")?,
            Some(AttributeKind::Integer) => row
                .try_get::<Option<i64>, _>("value_integer")?
                .map(|v| v.to_string()),
            Some(AttributeKind::Boolean) => {
                optional_flag(&row, "value_boolean")?.map(|b| AttributeValue::Boolean(b).display())
            }
            Some(AttributeKind::Float) => row
                .try_get::<Option<f64>, _>("value_float")?
                .map(|f| f.to_string()),
            Some(AttributeKind::Date) => row.try_get("value_date")?,
            Some(AttributeKind::DateTime) => row.try_get("value_datetime")?,
            Some(AttributeKind::Option) => row.try_get("option_value")?,
            Some(AttributeKind::MultiOption) => row.try_get("multi")?,
            Some(AttributeKind::Entity) => {
                let kind: Option<String> = row.try_get("value_entity_type")?;
                let id: Option<i64> = row.try_get("value_entity_id")?;
                kind.zip(id)
                    .map(|(kind, id)| AttributeValue::Entity { kind, id }.display())
            }
            Some(AttributeKind::File) | Some(AttributeKind::Image) => row.try_get("value_file")?,
            None => None,
        };
        if let Some(value) = value {
            out.push((
                row.try_get("product_id")?,
                row.try_get("attribute_id")?,
                row.try_get("name")?,
                value,
            ));
        }
    }
    Ok(out)
}

pub async fn product_detail(
    pool: &AnyPool,
    id: i64,
) -> Result<Option<ProductDetail>, CatalogueError> {
    let Some(product) = product_row(pool, id).await? else {
        return Ok(None);
    };
    let parent = match product.parent_id {
        Some(parent_id) => match product_row(pool, parent_id).await? {
            Some(parent) => Some(parent),
            // A child of a hidden parent is hidden too.
            None => return Ok(None),
        },
        None => None,
    };
    let root = parent.as_ref().unwrap_or(&product);
    let class_id = root.class_id.unwrap_or_default();
    let class_row = sqlx::query("SELECT name, track_stock FROM product_class WHERE id = $1")
        .bind(class_id)
        .fetch_one(pool)
        .await?;

    let family = sqlx::query(
        "SELECT id, title, slug, upc FROM product WHERE parent_id = $1 AND is_public = TRUE ORDER BY id",
    )
    .bind(root.id)
    .fetch_all(pool)
    .await?;
    let mut variant_ids = Vec::with_capacity(family.len());
    let mut variants = Vec::with_capacity(family.len());
    for row in &family {
        let vid: i64 = row.try_get("id")?;
        variant_ids.push(vid);
        variants.push(Variant {
            id: vid,
            title: {
                // A variant without a title of its own is called by its parent's.
                let title: String = row.try_get("title")?;
                if title.is_empty() {
                    root.title.clone()
                } else {
                    title
                }
            },
            slug: row.try_get("slug")?,
            upc: row.try_get("upc")?,
            summary: String::new(),
        });
    }

    let mut ids = vec![root.id];
    ids.extend(&variant_ids);
    let values = attribute_values(pool, &ids).await?;
    // The product's attributes: the root's, overlaid with the child's own.
    let mut attributes: Vec<(i64, String, String)> = values
        .iter()
        .filter(|(pid, ..)| *pid == root.id)
        .map(|(_, aid, name, v)| (*aid, name.clone(), v.clone()))
        .collect();
    if product.structure == Structure::Child {
        for (_, aid, name, v) in values.iter().filter(|(pid, ..)| *pid == product.id) {
            match attributes.iter_mut().find(|(a, ..)| a == aid) {
                Some(slot) => slot.2 = v.clone(),
                None => attributes.push((*aid, name.clone(), v.clone())),
            }
        }
        attributes.sort_by_key(|(aid, ..)| *aid);
    }
    for variant in &mut variants {
        variant.summary = values
            .iter()
            .filter(|(pid, ..)| *pid == variant.id)
            .map(|(_, _, name, v)| format!("{name}: {v}"))
            .collect::<Vec<_>>()
            .join(", ");
    }

    let mut images = load_images(pool, product.id, &product.title).await?;
    if images.is_empty() && product.id != root.id {
        images = load_images(pool, root.id, &root.title).await?;
    }

    let category_ids =
        sqlx::query("SELECT category_id FROM product_category WHERE product_id = $1")
            .bind(root.id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<i64>, _>>()?;

    let options = sqlx::query(
        "SELECT o.code, o.name, o.kind, o.required, o.help_text, o.sort_order FROM product_option o \
         WHERE o.id IN (SELECT option_id FROM product_class_option WHERE product_class_id = $1) \
            OR o.id IN (SELECT option_id FROM product_product_option WHERE product_id = $2) \
         ORDER BY o.sort_order, o.id",
    )
    .bind(class_id)
    .bind(root.id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(ProductOption {
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            required: flag(r, "required")?,
            help: r.try_get("help_text")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;

    let recommendation_ids = sqlx::query(
        "SELECT r.recommended_id FROM product_recommendation r JOIN product p ON p.id = r.recommended_id \
         WHERE r.primary_id = $1 AND p.is_public = TRUE ORDER BY r.ranking DESC, r.recommended_id",
    )
    .bind(root.id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get(0))
    .collect::<Result<Vec<i64>, _>>()?;

    Ok(Some(ProductDetail {
        id: product.id,
        structure: product.structure,
        parent_id: product.parent_id,
        title: if product.title.is_empty() {
            root.title.clone()
        } else {
            product.title.clone()
        },
        slug: product.slug.clone(),
        upc: product.upc.clone(),
        description: if product.description.is_empty() {
            root.description.clone()
        } else {
            product.description.clone()
        },
        class_name: class_row.try_get("name")?,
        track_stock: flag(&class_row, "track_stock")?,
        attributes: attributes.into_iter().map(|(_, n, v)| (n, v)).collect(),
        images,
        category_ids,
        options,
        variants,
        parent: parent.map(|p| ParentRef {
            id: p.id,
            title: p.title,
            slug: p.slug,
        }),
        recommendation_ids,
    }))
}

async fn load_images(
    pool: &AnyPool,
    product_id: i64,
    title: &str,
) -> Result<Vec<Image>, CatalogueError> {
    let rows = sqlx::query(
        "SELECT original, caption, width, height FROM product_image WHERE product_id = $1 \
         ORDER BY display_order, id",
    )
    .bind(product_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| image_from_row(r, title))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Listing rows for specific products (recommendations), in the order given.
pub async fn listing_rows_by_id(
    pool: &AnyPool,
    ids: &[i64],
) -> Result<Vec<ListingRow>, CatalogueError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {LISTING_COLUMNS} {LISTING_FROM} WHERE p.is_public = TRUE AND p.id IN ({})",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut rows: HashMap<i64, ListingRow> = HashMap::new();
    for row in query.fetch_all(pool).await? {
        let r = listing_row(&row)?;
        rows.insert(r.id, r);
    }
    Ok(ids.iter().filter_map(|id| rows.remove(id)).collect())
}

// ---- Writes (used by the demo loader now, by the dashboard and importers later) ----

pub async fn create_product_class<'e, E: Executor<'e, Database = Any>>(
    db: E,
    name: &str,
    requires_shipping: bool,
    track_stock: bool,
) -> Result<i64, CatalogueError> {
    let row = sqlx::query(
        "INSERT INTO product_class (name, slug, requires_shipping, track_stock) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(slugify(name))
    .bind(requires_shipping)
    .bind(track_stock)
    .fetch_one(db)
    .await?;
    Ok(row.try_get(0)?)
}

/// Declares an attribute on a class; option kinds get their option group created here.
pub async fn create_attribute(
    tx: &mut sqlx::AnyConnection,
    class_id: i64,
    code: &str,
    name: &str,
    kind: AttributeKind,
    required: bool,
    options: &[&str],
) -> Result<AttributeDef, CatalogueError> {
    let group_id: Option<i64> =
        if matches!(kind, AttributeKind::Option | AttributeKind::MultiOption) {
            let group_name = format!("{class_id}:{code}");
            let gid: i64 =
                sqlx::query("INSERT INTO attribute_option_group (name) VALUES ($1) RETURNING id")
                    .bind(group_name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            for option in options {
                sqlx::query("INSERT INTO attribute_option (group_id, option) VALUES ($1, $2)")
                    .bind(gid)
                    .bind(*option)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(gid)
        } else {
            None
        };
    let id: i64 = sqlx::query(
        "INSERT INTO product_attribute (product_class_id, name, code, kind, option_group_id, required) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(class_id)
    .bind(name)
    .bind(code)
    .bind(kind.as_str())
    .bind(group_id)
    .bind(required)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    Ok(AttributeDef {
        id,
        code: code.into(),
        name: name.into(),
        kind,
        required,
        options: options.iter().map(|o| o.to_string()).collect(),
    })
}

/// Adds a category as the last child of `parent` (or as a root).
pub async fn create_category(
    tx: &mut sqlx::AnyConnection,
    parent: Option<&Category>,
    name: &str,
    description: &str,
) -> Result<Category, CatalogueError> {
    let siblings: i64 = match parent {
        Some(p) => sqlx::query("SELECT COUNT(*) FROM category WHERE parent_id = $1")
            .bind(p.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
        None => sqlx::query("SELECT COUNT(*) FROM category WHERE parent_id IS NULL")
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?,
    };
    let parent_path = parent.map(|p| p.path.as_str()).unwrap_or("");
    let path = child_path(parent_path, siblings as usize + 1)
        .ok_or_else(|| CatalogueError::Invalid("too many sibling categories".into()))?;
    let slug = slugify(name);
    let full_slug = match parent {
        Some(p) => format!("{}/{slug}", p.full_slug),
        None => slug.clone(),
    };
    let depth = (path.len() / category::PATH_STEP) as i64;
    let id: i64 = sqlx::query(
        "INSERT INTO category (parent_id, name, slug, full_slug, path, depth, description, is_public) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE) RETURNING id",
    )
    .bind(parent.map(|p| p.id))
    .bind(name)
    .bind(&slug)
    .bind(&full_slug)
    .bind(&path)
    .bind(depth)
    .bind(description)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    Ok(Category {
        id,
        parent_id: parent.map(|p| p.id),
        name: name.into(),
        slug,
        full_slug,
        path,
        depth,
        description: description.into(),
    })
}

pub struct NewProduct<'a> {
    pub structure: Structure,
    pub parent_id: Option<i64>,
    pub class_id: Option<i64>,
    pub upc: Option<&'a str>,
    pub title: &'a str,
    pub description: &'a str,
    pub priority: i64,
    pub weight_grams: Option<i64>,
    pub created_at: &'a str,
}

pub async fn create_product<'e, E: Executor<'e, Database = Any>>(
    db: E,
    p: &NewProduct<'_>,
) -> Result<i64, CatalogueError> {
    if (p.structure == Structure::Child) != p.parent_id.is_some() {
        return Err(CatalogueError::Invalid(
            "a child product needs a parent, and only a child has one".into(),
        ));
    }
    let now = now_text();
    let row = sqlx::query(
        "INSERT INTO product (structure, parent_id, product_class_id, upc, title, slug, description, \
         is_public, is_discountable, priority, weight_grams, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, TRUE, $8, $9, $10, $11) RETURNING id",
    )
    .bind(p.structure.as_str())
    .bind(p.parent_id)
    .bind(p.class_id)
    .bind(p.upc)
    .bind(p.title)
    .bind(slugify(p.title))
    .bind(p.description)
    .bind(p.priority)
    .bind(p.weight_grams)
    .bind(p.created_at)
    .bind(now)
    .fetch_one(db)
    .await?;
    Ok(row.try_get(0)?)
}

/// Stores an already validated attribute value (see [`AttributeDef::validate`]).
pub async fn set_attribute_value(
    tx: &mut sqlx::AnyConnection,
    product_id: i64,
    attribute: &AttributeDef,
    value: &AttributeValue,
) -> Result<(), CatalogueError> {
    sqlx::query("DELETE FROM product_attribute_value WHERE product_id = $1 AND attribute_id = $2")
        .bind(product_id)
        .bind(attribute.id)
        .execute(&mut *tx)
        .await?;
    let option_id = |name: &str| {
        let name = name.to_owned();
        let attribute_id = attribute.id;
        async move {
            sqlx::query(
                "SELECT o.id FROM attribute_option o JOIN product_attribute a ON a.option_group_id = o.group_id \
                 WHERE a.id = $1 AND o.option = $2",
            )
            .bind(attribute_id)
            .bind(name)
        }
    };
    let mut text = None;
    let mut integer = None;
    let mut boolean = None;
    let mut float = None;
    let mut richtext = None;
    let mut date = None;
    let mut datetime = None;
    let mut option = None;
    let mut entity = (None, None);
    let mut file = None;
    match value {
        AttributeValue::Text(s) => text = Some(s.clone()),
        AttributeValue::Integer(i) => integer = Some(*i),
        AttributeValue::Boolean(b) => boolean = Some(*b),
        AttributeValue::Float(f) => float = Some(*f),
        AttributeValue::RichText(s) => richtext = Some(s.clone()),
        AttributeValue::Date(_) | AttributeValue::DateTime(_) => {
            let shown = Some(value.display());
            if matches!(value, AttributeValue::Date(_)) {
                date = shown;
            } else {
                datetime = shown;
            }
        }
        AttributeValue::Option(name) => {
            let row = option_id(name).await.fetch_one(&mut *tx).await?;
            option = Some(row.try_get::<i64, _>(0)?);
        }
        AttributeValue::MultiOption(_) => {}
        AttributeValue::Entity { kind, id } => entity = (Some(kind.clone()), Some(*id)),
        AttributeValue::File(path) => file = Some(path.clone()),
    }
    let value_id: i64 = sqlx::query(
        "INSERT INTO product_attribute_value (product_id, attribute_id, value_text, value_integer, \
         value_boolean, value_richtext, value_date, value_datetime, value_option_id, \
         value_entity_type, value_entity_id, value_file) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(product_id)
    .bind(attribute.id)
    .bind(text)
    .bind(integer)
    .bind(boolean)
    .bind(richtext)
    .bind(date)
    .bind(datetime)
    .bind(option)
    .bind(entity.0)
    .bind(entity.1)
    .bind(file)
    .fetch_one(&mut *tx)
    .await?
    .try_get(0)?;
    // Floats are written only when present: sqlx's Any driver sends a NULL f64 as a 4-byte
    // float, and PostgreSQL then rejects the 8-byte value in the reused prepared statement.
    if let Some(float) = float {
        sqlx::query("UPDATE product_attribute_value SET value_float = $1 WHERE id = $2")
            .bind(float)
            .bind(value_id)
            .execute(&mut *tx)
            .await?;
    }
    if let AttributeValue::MultiOption(names) = value {
        for name in names {
            let row = option_id(name).await.fetch_one(&mut *tx).await?;
            let oid: i64 = row.try_get(0)?;
            sqlx::query(
                "INSERT INTO product_attribute_value_option (value_id, option_id) VALUES ($1, $2)",
            )
            .bind(value_id)
            .bind(oid)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

pub async fn add_to_category<'e, E: Executor<'e, Database = Any>>(
    db: E,
    product_id: i64,
    category_id: i64,
) -> Result<(), CatalogueError> {
    sqlx::query("INSERT INTO product_category (product_id, category_id) VALUES ($1, $2)")
        .bind(product_id)
        .bind(category_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn add_image<'e, E: Executor<'e, Database = Any>>(
    db: E,
    product_id: i64,
    original: &str,
    caption: &str,
    display_order: i64,
    (width, height): (i64, i64),
) -> Result<(), CatalogueError> {
    sqlx::query(
        "INSERT INTO product_image (product_id, original, caption, display_order, width, height) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(product_id)
    .bind(original)
    .bind(caption)
    .bind(display_order)
    .bind(width)
    .bind(height)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn add_recommendation<'e, E: Executor<'e, Database = Any>>(
    db: E,
    primary_id: i64,
    recommended_id: i64,
    ranking: i64,
) -> Result<(), CatalogueError> {
    sqlx::query(
        "INSERT INTO product_recommendation (primary_id, recommended_id, ranking) VALUES ($1, $2, $3)",
    )
    .bind(primary_id)
    .bind(recommended_id)
    .bind(ranking)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn create_option<'e, E: Executor<'e, Database = Any>>(
    db: E,
    code: &str,
    name: &str,
    kind: &str,
    required: bool,
    help: &str,
) -> Result<i64, CatalogueError> {
    let row = sqlx::query(
        "INSERT INTO product_option (name, code, kind, required, help_text, sort_order) \
         VALUES ($1, $2, $3, $4, $5, 0) RETURNING id",
    )
    .bind(name)
    .bind(code)
    .bind(kind)
    .bind(required)
    .bind(help)
    .fetch_one(db)
    .await?;
    Ok(row.try_get(0)?)
}

pub async fn add_class_option<'e, E: Executor<'e, Database = Any>>(
    db: E,
    class_id: i64,
    option_id: i64,
) -> Result<(), CatalogueError> {
    sqlx::query("INSERT INTO product_class_option (product_class_id, option_id) VALUES ($1, $2)")
        .bind(class_id)
        .bind(option_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Offers an option on one product (beside the options its class offers).
pub async fn add_product_option<'e, E: Executor<'e, Database = Any>>(
    db: E,
    product_id: i64,
    option_id: i64,
) -> Result<(), CatalogueError> {
    sqlx::query("INSERT INTO product_product_option (product_id, option_id) VALUES ($1, $2)")
        .bind(product_id)
        .bind(option_id)
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_literal("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn sort_keys_round_trip() {
        for key in SortKey::ALL {
            assert_eq!(SortKey::parse(key.as_str()), Some(key));
        }
        assert_eq!(SortKey::parse("price; DROP TABLE product"), None);
    }
}
