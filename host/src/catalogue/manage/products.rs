//! Creating and editing products: standalone, parent, and child (a variant under its parent,
//! with its own attributes, UPC and stock; a blank title means the parent's). The form's
//! attributes are the product class's, each checked by [`AttributeDef::validate`], the same
//! rule the catalogue applies anywhere a value comes in; descriptions and rich-text values are
//! cleaned by [`super::rich_text`].

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use super::stock::{self, StockInput};
use super::{ManageError, scope_condition};
use crate::audit::{self, Actor};
use crate::catalogue::attributes::{AttributeDef, AttributeKind, AttributeValue, RawValue};
use crate::catalogue::category::slugify;
use crate::catalogue::{self, Structure};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, flag, now_text, optional_flag, placeholders, unique_violation};
use crate::money::Currency;
use crate::staff::Staff;

pub const MAX_TITLE_CHARS: usize = 255;
pub const MAX_UPC_CHARS: usize = 64;
pub const MAX_RECOMMENDATIONS: usize = 50;

/// The attributes a product class declares, in their order, with their allowed options.
pub async fn class_attributes(
    conn: &mut AnyConnection,
    class_id: i64,
) -> Result<Vec<AttributeDef>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, code, name, kind, required, option_group_id FROM product_attribute \
         WHERE product_class_id = $1 ORDER BY id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut defs = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = r.try_get("kind")?;
        let Some(kind) = AttributeKind::parse(&kind) else {
            continue;
        };
        let group: Option<i64> = r.try_get("option_group_id")?;
        let options = match group {
            Some(g) => {
                sqlx::query_scalar(
                    "SELECT option FROM attribute_option WHERE group_id = $1 ORDER BY id",
                )
                .bind(g)
                .fetch_all(&mut *conn)
                .await?
            }
            None => Vec::new(),
        };
        defs.push(AttributeDef {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind,
            required: flag(r, "required")?,
            options,
        });
    }
    Ok(defs)
}

/// A product's attribute values as a form shows them (by attribute code): the text that
/// [`AttributeDef::validate`] reads back to the same value; several for a multi-option.
pub async fn attribute_inputs(
    conn: &mut AnyConnection,
    product_id: i64,
) -> Result<HashMap<String, Vec<String>>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT v.id AS value_id, a.code, a.kind, v.value_text, v.value_integer, v.value_boolean, \
         v.value_richtext, v.value_date, v.value_datetime, o.option AS option_value, \
         v.value_entity_type, v.value_entity_id, v.value_file \
         FROM product_attribute_value v JOIN product_attribute a ON a.id = v.attribute_id \
         LEFT JOIN attribute_option o ON o.id = v.value_option_id WHERE v.product_id = $1",
    )
    .bind(product_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in &rows {
        let code: String = r.try_get("code")?;
        let value_id: i64 = r.try_get("value_id")?;
        let values: Vec<String> = match AttributeKind::parse(&r.try_get::<String, _>("kind")?) {
            Some(AttributeKind::Text) => r.try_get::<Option<String>, _>("value_text")?.into_iter().collect(),
            Some(AttributeKind::RichText) => r.try_get::<Option<String>, _>("value_richtext")?.into_iter().collect(),
            Some(AttributeKind::Integer) => r
                .try_get::<Option<i64>, _>("value_integer")?
                .map(|v| v.to_string())
                .into_iter()
                .collect(),
            Some(AttributeKind::Boolean) => optional_flag(r, "value_boolean")?
                .map(|b| if b { "yes" } else { "no" }.to_owned())
                .into_iter()
                .collect(),
            Some(AttributeKind::Float) => {
                sqlx::query("SELECT value_float FROM product_attribute_value WHERE id = $1")
                    .bind(value_id)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get::<Option<f64>, _>(0)?
                    .map(|f| f.to_string())
                    .into_iter()
                    .collect()
            }
            Some(AttributeKind::Date) => r.try_get::<Option<String>, _>("value_date")?.into_iter().collect(),
            Some(AttributeKind::DateTime) => r.try_get::<Option<String>, _>("value_datetime")?.into_iter().collect(),
            Some(AttributeKind::Option) => r.try_get::<Option<String>, _>("option_value")?.into_iter().collect(),
            Some(AttributeKind::MultiOption) => sqlx::query_scalar(
                "SELECT mo.option FROM product_attribute_value_option vo \
                 JOIN attribute_option mo ON mo.id = vo.option_id WHERE vo.value_id = $1 ORDER BY mo.id",
            )
            .bind(value_id)
            .fetch_all(&mut *conn)
            .await?,
            Some(AttributeKind::Entity) => {
                let kind: Option<String> = r.try_get("value_entity_type")?;
                let id: Option<i64> = r.try_get("value_entity_id")?;
                kind.zip(id).map(|(k, i)| format!("{k}:{i}")).into_iter().collect()
            }
            Some(AttributeKind::File) | Some(AttributeKind::Image) => {
                r.try_get::<Option<String>, _>("value_file")?.into_iter().collect()
            }
            None => Vec::new(),
        };
        out.insert(code, values);
    }
    Ok(out)
}

#[derive(Debug, Clone, Serialize)]
pub struct ProductRef {
    pub id: i64,
    pub title: String,
}

/// A product as its edit page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Editable {
    pub id: i64,
    pub structure: &'static str,
    pub parent: Option<ProductRef>,
    /// The product's class (a child's: its parent's).
    pub class_id: i64,
    pub class_name: String,
    /// As stored: a child's may be blank (it shows its parent's).
    pub title: String,
    pub slug: String,
    pub upc: Option<String>,
    pub description: String,
    pub is_public: bool,
    pub category_ids: Vec<i64>,
    pub recommendations: Vec<ProductRef>,
    /// Attribute values by code, as the form shows them.
    pub values: HashMap<String, Vec<String>>,
    /// A parent's variants.
    pub children: Vec<super::list::Listed>,
    pub url: String,
}

/// Who makes a change: who the audit log names, and the partner scope it is made within.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub actor: Actor<'a>,
    pub scope: Option<&'a [i64]>,
}

impl<'a> From<&'a Staff> for Who<'a> {
    fn from(staff: &'a Staff) -> Self {
        Who {
            actor: Actor::from(staff),
            scope: staff.partner_scope(),
        }
    }
}

impl Who<'static> {
    /// `emporium …` on the server: every product, audited as the command line.
    pub const COMMAND_LINE: Who<'static> = Who {
        actor: Actor::CommandLine,
        scope: None,
    };
}

/// The product with `id`, within `scope`.
pub async fn find(
    pool: &AnyPool,
    scope: Option<&[i64]>,
    id: i64,
) -> Result<Option<Editable>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    find_in(&mut conn, scope, id).await
}

/// [`find`] on a connection (inside a transaction, it sees the transaction's own writes).
pub async fn find_in(
    conn: &mut AnyConnection,
    scope: Option<&[i64]>,
    id: i64,
) -> Result<Option<Editable>, sqlx::Error> {
    let sql = format!(
        "SELECT p.id, p.structure, p.parent_id, pp.title AS parent_title, p.title, p.slug, p.upc, \
         p.description, p.is_public, COALESCE(p.product_class_id, pp.product_class_id) AS class_id, \
         pc.name AS class_name FROM product p LEFT JOIN product pp ON pp.id = p.parent_id \
         JOIN product_class pc ON pc.id = COALESCE(p.product_class_id, pp.product_class_id) \
         WHERE p.id = $1 AND {}",
        scope_condition(scope, "p")
    );
    let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let structure = Structure::parse(&r.try_get::<String, _>("structure")?);
    let parent_id: Option<i64> = r.try_get("parent_id")?;
    let parent_title: Option<String> = r.try_get("parent_title")?;
    let values = attribute_inputs(conn, id).await?;
    let category_ids = sqlx::query_scalar(
        "SELECT category_id FROM product_category WHERE product_id = $1 ORDER BY category_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let recommendations = sqlx::query(
        "SELECT p.id, p.title FROM product_recommendation r JOIN product p ON p.id = r.recommended_id \
         WHERE r.primary_id = $1 ORDER BY r.ranking DESC, r.recommended_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(ProductRef {
            id: r.try_get("id")?,
            title: r.try_get("title")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let children = if structure == Structure::Parent {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM product WHERE parent_id = $1 ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        super::list::rows_by_id(conn, &ids).await?
    } else {
        Vec::new()
    };
    let slug: String = r.try_get("slug")?;
    Ok(Some(Editable {
        id,
        structure: structure.as_str(),
        parent: parent_id.map(|pid| ProductRef {
            id: pid,
            title: parent_title.clone().unwrap_or_default(),
        }),
        class_id: r.try_get("class_id")?,
        class_name: r.try_get("class_name")?,
        title: r.try_get("title")?,
        url: catalogue::product_url(&slug, id),
        slug,
        upc: r.try_get("upc")?,
        description: r.try_get("description")?,
        is_public: flag(&r, "is_public")?,
        category_ids,
        recommendations,
        values,
        children,
    }))
}

/// What the product form sends, as typed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProductInput {
    pub title: String,
    pub upc: String,
    pub description: String,
    pub is_public: bool,
    /// Category ids (ignored for a child: it is filed where its parent is).
    pub categories: Vec<String>,
    /// By attribute code; several values for a multi-option.
    pub attributes: HashMap<String, Vec<String>>,
    /// Product ids, separated by commas or spaces, best first.
    pub recommendations: String,
    /// A new product's first stock record (blank: none; a partner user must give one).
    pub stock: StockInput,
}

/// What kind of product to create.
#[derive(Debug, Clone, Copy)]
pub enum NewKind {
    Standalone { class_id: i64 },
    Parent { class_id: i64 },
    Child { parent_id: i64 },
}

/// The form's field for an attribute.
pub fn attribute_field(code: &str) -> String {
    format!("attr_{code}")
}

/// The input, checked: what will be stored.
#[derive(Debug, Clone)]
struct Valid {
    title: String,
    upc: Option<String>,
    description: String,
    is_public: bool,
    categories: Vec<i64>,
    values: Vec<(AttributeDef, Option<AttributeValue>)>,
    recommendations: Vec<i64>,
}

/// What the audit log keeps of a product.
fn snapshot(valid: &Valid) -> String {
    let attributes: HashMap<&str, String> = valid
        .values
        .iter()
        .filter_map(|(d, v)| v.as_ref().map(|v| (d.code.as_str(), v.display())))
        .collect();
    audit::json(&serde_json::json!({
        "title": valid.title,
        "upc": valid.upc,
        "is_public": valid.is_public,
        "description": valid.description,
        "categories": valid.categories,
        "attributes": attributes,
        "recommendations": valid.recommendations,
    }))
}

fn parse_ids(raw: &str) -> Result<Vec<i64>, String> {
    let mut ids = Vec::new();
    for part in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
    {
        let id = part
            .trim_start_matches('#')
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| format!("“{part}” is not a product id (a whole number)."))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Checks the input against the class's attributes (`defs`) and the database; `self_id` is the
/// product being edited. A child's required attribute may stay blank when its parent has a
/// value (`inherited` codes).
async fn validate(
    conn: &mut AnyConnection,
    structure: Structure,
    self_id: Option<i64>,
    defs: &[AttributeDef],
    inherited: &[String],
    input: &ProductInput,
) -> Result<Result<Valid, Vec<(String, String)>>, sqlx::Error> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let title = input.title.trim().to_owned();
    if title.is_empty() && structure != Structure::Child {
        errors.push(("title".into(), "Give the product a title.".into()));
    } else if title.chars().count() > MAX_TITLE_CHARS {
        errors.push((
            "title".into(),
            format!("Keep the title to {MAX_TITLE_CHARS} characters."),
        ));
    }
    let upc = input.upc.trim();
    if upc.chars().count() > MAX_UPC_CHARS {
        errors.push((
            "upc".into(),
            format!("A UPC has at most {MAX_UPC_CHARS} characters."),
        ));
    }
    if input.description.chars().count() > super::rich_text::MAX_CHARS {
        errors.push((
            "description".into(),
            format!(
                "Keep the description to {} characters.",
                super::rich_text::MAX_CHARS
            ),
        ));
    }
    let mut values = Vec::with_capacity(defs.len());
    for def in defs {
        let raw: Vec<&str> = input
            .attributes
            .get(&def.code)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let mut def_here = def.clone();
        if structure == Structure::Child && inherited.contains(&def.code) {
            def_here.required = false;
        }
        let checked = if def.kind == AttributeKind::MultiOption {
            def_here.validate(RawValue::Many(&raw))
        } else {
            def_here.validate(RawValue::One(raw.first().copied().unwrap_or_default()))
        };
        match checked {
            Ok(value) => {
                let value = match value {
                    Some(AttributeValue::RichText(html)) => {
                        Some(AttributeValue::RichText(super::rich_text::clean(&html)))
                    }
                    other => other,
                };
                values.push((def.clone(), value));
            }
            Err(e) => errors.push((
                attribute_field(&def.code),
                format!("{} {}.", e.attribute, e.message),
            )),
        }
    }
    let mut categories = Vec::new();
    if structure != Structure::Child {
        for raw in input.categories.iter().filter(|c| !c.trim().is_empty()) {
            match raw.trim().parse::<i64>() {
                Ok(id) if id > 0 => {
                    if !categories.contains(&id) {
                        categories.push(id);
                    }
                }
                _ => errors.push((
                    "categories".into(),
                    "Choose categories from the list.".into(),
                )),
            }
        }
        if !categories.is_empty() {
            let sql = format!(
                "SELECT COUNT(*) FROM category WHERE id IN ({})",
                placeholders(1, categories.len())
            );
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for id in &categories {
                q = q.bind(*id);
            }
            let found: i64 = q.fetch_one(&mut *conn).await?;
            if found != categories.len() as i64 {
                errors.push((
                    "categories".into(),
                    "One of those categories no longer exists.".into(),
                ));
            }
        }
    }
    let mut recommendations = Vec::new();
    if structure != Structure::Child {
        match parse_ids(&input.recommendations) {
            Err(message) => errors.push(("recommendations".into(), message)),
            Ok(ids) if ids.len() > MAX_RECOMMENDATIONS => errors.push((
                "recommendations".into(),
                format!("Recommend at most {MAX_RECOMMENDATIONS} products."),
            )),
            Ok(ids) if self_id.is_some_and(|me| ids.contains(&me)) => errors.push((
                "recommendations".into(),
                "A product can't recommend itself.".into(),
            )),
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => {
                let sql = format!(
                    "SELECT id FROM product WHERE id IN ({})",
                    placeholders(1, ids.len())
                );
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                for id in &ids {
                    q = q.bind(*id);
                }
                let found: Vec<i64> = q.fetch_all(&mut *conn).await?;
                let missing: Vec<String> = ids
                    .iter()
                    .filter(|id| !found.contains(id))
                    .map(|id| format!("#{id}"))
                    .collect();
                if missing.is_empty() {
                    recommendations = ids;
                } else {
                    errors.push((
                        "recommendations".into(),
                        format!("There is no product {}.", missing.join(", ")),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    Ok(Ok(Valid {
        title,
        upc: (!upc.is_empty()).then(|| upc.to_owned()),
        description: super::rich_text::clean(&input.description),
        is_public: input.is_public,
        categories,
        values,
        recommendations,
    }))
}

fn upc_clash(e: sqlx::Error, upc: Option<&str>) -> ManageError {
    if unique_violation(&e, "product").as_deref() == Some("upc") {
        ManageError::field(
            "upc",
            format!(
                "Another product already has the UPC {}.",
                upc.unwrap_or_default()
            ),
        )
    } else {
        ManageError::Db(e)
    }
}

/// Writes what belongs to the product besides its own row: attribute values, categories,
/// recommendations.
async fn write_relations(
    conn: &mut AnyConnection,
    id: i64,
    structure: Structure,
    valid: &Valid,
) -> Result<(), ManageError> {
    for (def, value) in &valid.values {
        match value {
            Some(v) => catalogue::set_attribute_value(conn, id, def, v).await?,
            None => {
                sqlx::query(
                    "DELETE FROM product_attribute_value WHERE product_id = $1 AND attribute_id = $2",
                )
                .bind(id)
                .bind(def.id)
                .execute(&mut *conn)
                .await?;
            }
        }
    }
    if structure != Structure::Child {
        sqlx::query("DELETE FROM product_category WHERE product_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        for category in &valid.categories {
            catalogue::add_to_category(&mut *conn, id, *category).await?;
        }
        sqlx::query("DELETE FROM product_recommendation WHERE primary_id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
        let n = valid.recommendations.len() as i64;
        for (i, rec) in valid.recommendations.iter().enumerate() {
            catalogue::add_recommendation(&mut *conn, id, *rec, n - i as i64).await?;
        }
    }
    Ok(())
}

/// Creates a product from the form; returns its id. A partner user creates standalone
/// products and variants of their own parents, each with a first stock record of one of
/// their partners (so that it is theirs).
pub async fn create(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    currency: Currency,
    kind: NewKind,
    input: &ProductInput,
) -> Result<i64, ManageError> {
    let mut tx = db.begin_write().await?;
    let id = create_in(&mut tx, Who::from(staff), currency, kind, input).await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(id)
}

/// [`create`] inside the caller's transaction (which announces the change once committed).
pub async fn create_in(
    tx: &mut Transaction<'_, Any>,
    who: Who<'_>,
    currency: Currency,
    kind: NewKind,
    input: &ProductInput,
) -> Result<i64, ManageError> {
    let scope = who.scope;
    let (structure, class_id, parent) = match kind {
        NewKind::Standalone { class_id } => (Structure::Standalone, class_id, None),
        NewKind::Parent { class_id } => {
            if scope.is_some() {
                return Err(ManageError::Refused(
                    "Partner users add standalone products and variants; ask a catalogue manager for a new parent product.".into(),
                ));
            }
            (Structure::Parent, class_id, None)
        }
        NewKind::Child { parent_id } => {
            let sql = format!(
                "SELECT p.id, p.title, p.product_class_id FROM product p \
                 WHERE p.id = $1 AND p.structure = 'parent' AND {}",
                scope_condition(scope, "p")
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(parent_id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(ManageError::NotFound)?;
            let class_id: i64 = row.try_get("product_class_id")?;
            let title: String = row.try_get("title")?;
            (Structure::Child, class_id, Some((parent_id, title)))
        }
    };
    let class_exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM product_class WHERE id = $1")
            .bind(class_id)
            .fetch_optional(&mut **tx)
            .await?;
    if class_exists.is_none() {
        return Err(ManageError::NotFound);
    }
    let defs = class_attributes(tx, class_id).await?;
    let inherited: Vec<String> = match &parent {
        Some((pid, _)) => attribute_inputs(tx, *pid).await?.into_keys().collect(),
        None => Vec::new(),
    };
    let mut errors = Vec::new();
    let valid = match validate(tx, structure, None, &defs, &inherited, input).await? {
        Ok(v) => Some(v),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let partners = stock::partners(tx, scope).await?;
    let first_stock =
        if structure == Structure::Parent || (input.stock.is_blank() && scope.is_none()) {
            None
        } else {
            match stock::validate(&input.stock, currency, true, &partners) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            }
        };
    let Some(valid) = valid.filter(|_| errors.is_empty()) else {
        return Err(ManageError::Invalid(errors));
    };
    let shown_title = if valid.title.is_empty() {
        parent.as_ref().map(|(_, t)| t.clone()).unwrap_or_default()
    } else {
        valid.title.clone()
    };
    let now = now_text();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO product (structure, parent_id, product_class_id, upc, title, slug, description, \
         is_public, is_discountable, priority, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, TRUE, 0, $9, $10) RETURNING id",
    )
    .bind(structure.as_str())
    .bind(parent.as_ref().map(|(pid, _)| *pid))
    .bind((structure != Structure::Child).then_some(class_id))
    .bind(valid.upc.as_deref())
    .bind(&valid.title)
    .bind(slugify(&shown_title))
    .bind(&valid.description)
    .bind(valid.is_public)
    .bind(&now)
    .bind(&now)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| upc_clash(e, valid.upc.as_deref()))?;
    write_relations(tx, id, structure, &valid).await?;
    if let Some(s) = &first_stock {
        stock::insert(tx, id, s).await?;
    }
    audit::record(
        tx,
        who.actor,
        "product.create",
        "product",
        &id.to_string(),
        None,
        Some(&snapshot(&valid)),
    )
    .await?;
    Ok(id)
}

/// Saves the form over product `id` (within the user's scope).
pub async fn update(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    input: &ProductInput,
) -> Result<(), ManageError> {
    let mut tx = db.begin_write().await?;
    update_in(&mut tx, Who::from(staff), id, input).await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

/// [`update`] inside the caller's transaction (which announces the change once committed).
pub async fn update_in(
    tx: &mut Transaction<'_, Any>,
    who: Who<'_>,
    id: i64,
    input: &ProductInput,
) -> Result<(), ManageError> {
    let before = find_in(tx, who.scope, id)
        .await?
        .ok_or(ManageError::NotFound)?;
    let structure = Structure::parse(before.structure);
    let defs = class_attributes(tx, before.class_id).await?;
    let inherited: Vec<String> = match &before.parent {
        Some(p) => attribute_inputs(tx, p.id).await?.into_keys().collect(),
        None => Vec::new(),
    };
    let old_valid = Valid {
        title: before.title.clone(),
        upc: before.upc.clone(),
        description: before.description.clone(),
        is_public: before.is_public,
        categories: before.category_ids.clone(),
        values: Vec::new(),
        recommendations: before.recommendations.iter().map(|r| r.id).collect(),
    };
    let valid = validate(tx, structure, Some(id), &defs, &inherited, input)
        .await?
        .map_err(ManageError::Invalid)?;
    let shown_title = if valid.title.is_empty() {
        before
            .parent
            .as_ref()
            .map(|p| p.title.clone())
            .unwrap_or_default()
    } else {
        valid.title.clone()
    };
    sqlx::query(
        "UPDATE product SET title = $2, slug = $3, upc = $4, description = $5, is_public = $6, \
         updated_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(&valid.title)
    .bind(slugify(&shown_title))
    .bind(valid.upc.as_deref())
    .bind(&valid.description)
    .bind(valid.is_public)
    .bind(now_text())
    .execute(&mut **tx)
    .await
    .map_err(|e| upc_clash(e, valid.upc.as_deref()))?;
    if structure == Structure::Parent && shown_title != before.title {
        // Children without a title of their own are addressed by the parent's.
        sqlx::query("UPDATE product SET slug = $2 WHERE parent_id = $1 AND title = ''")
            .bind(id)
            .bind(slugify(&shown_title))
            .execute(&mut **tx)
            .await?;
    }
    write_relations(tx, id, structure, &valid).await?;
    audit::record(
        tx,
        who.actor,
        "product.update",
        "product",
        &id.to_string(),
        Some(&snapshot(&old_valid)),
        Some(&snapshot(&valid)),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recommendation_ids() {
        assert_eq!(parse_ids("3, 5 #7,3").unwrap(), vec![3, 5, 7]);
        assert_eq!(parse_ids("  ").unwrap(), Vec::<i64>::new());
        assert!(parse_ids("3, x").is_err());
        assert!(parse_ids("-2").is_err());
    }
}
