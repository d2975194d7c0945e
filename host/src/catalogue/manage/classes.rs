//! Product classes as staff edit them: a class's name and whether its products ship and track
//! stock, and the typed attributes its products' forms are made of (with the options of
//! option and multi-option attributes). An attribute's kind is fixed once it exists (the
//! values stored under it are of that kind); options can be added. Classes are the shop's:
//! partner users may not change them.

use serde::Serialize;
use sqlx::{AnyPool, Row};

use super::ManageError;
use crate::audit::{self, Actor};
use crate::catalogue;
use crate::catalogue::attributes::AttributeKind;
use crate::catalogue::category::slugify;
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, flag, unique_violation};
use crate::staff::Staff;

pub const MAX_NAME_CHARS: usize = 120;
pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_OPTIONS: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct Class {
    pub id: i64,
    pub name: String,
    pub slug: String,
    pub requires_shipping: bool,
    pub track_stock: bool,
    pub products: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attribute {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub required: bool,
    pub options: Vec<String>,
    /// Products with a value for it.
    pub values: i64,
}

/// Every attribute kind, for the form: (kind, label).
pub const KINDS: [(&str, &str); 12] = [
    ("text", "Text"),
    ("integer", "Whole number"),
    ("float", "Number"),
    ("boolean", "Yes or no"),
    ("richtext", "Rich text"),
    ("date", "Date"),
    ("datetime", "Date and time"),
    ("option", "One of a list"),
    ("multi_option", "Several of a list"),
    ("entity", "Link to an object (kind:id)"),
    ("file", "File"),
    ("image", "Image"),
];

fn refuse_partners(staff: &Staff) -> Result<(), ManageError> {
    if staff.partner_scope().is_some() {
        return Err(ManageError::Refused(
            "Product classes are the shop's: ask a catalogue manager to change them.".into(),
        ));
    }
    Ok(())
}

fn class_from(r: &sqlx::any::AnyRow) -> Result<Class, sqlx::Error> {
    Ok(Class {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        slug: r.try_get("slug")?,
        requires_shipping: flag(r, "requires_shipping")?,
        track_stock: flag(r, "track_stock")?,
        products: r.try_get("products")?,
    })
}

const CLASS_SQL: &str = "SELECT c.id, c.name, c.slug, c.requires_shipping, c.track_stock, \
     (SELECT COUNT(*) FROM product p WHERE p.product_class_id = c.id) AS products \
     FROM product_class c";

pub async fn list(pool: &AnyPool) -> Result<Vec<Class>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{CLASS_SQL} ORDER BY c.name, c.id"
    )))
    .fetch_all(pool)
    .await?
    .iter()
    .map(class_from)
    .collect()
}

pub async fn find(pool: &AnyPool, id: i64) -> Result<Option<Class>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(format!("{CLASS_SQL} WHERE c.id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(class_from)
        .transpose()
}

/// The class's attributes, in order.
pub async fn attributes(pool: &AnyPool, class_id: i64) -> Result<Vec<Attribute>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.code, a.name, a.kind, a.required, a.option_group_id, \
         (SELECT COUNT(*) FROM product_attribute_value v WHERE v.attribute_id = a.id) AS num_values \
         FROM product_attribute a WHERE a.product_class_id = $1 ORDER BY a.id",
    )
    .bind(class_id)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let group: Option<i64> = r.try_get("option_group_id")?;
        let options = match group {
            Some(g) => {
                sqlx::query_scalar(
                    "SELECT option FROM attribute_option WHERE group_id = $1 ORDER BY id",
                )
                .bind(g)
                .fetch_all(pool)
                .await?
            }
            None => Vec::new(),
        };
        out.push(Attribute {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind: AttributeKind::parse(&r.try_get::<String, _>("kind")?)
                .map(AttributeKind::as_str)
                .unwrap_or("text"),
            required: flag(r, "required")?,
            options,
            values: r.try_get("num_values")?,
        });
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<(), ManageError> {
    if name.is_empty() {
        Err(ManageError::field("name", "Give it a name."))
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err(ManageError::field(
            "name",
            format!("Keep the name to {MAX_NAME_CHARS} characters."),
        ))
    } else {
        Ok(())
    }
}

fn name_clash(e: sqlx::Error, name: &str) -> ManageError {
    if unique_violation(&e, "product_class").as_deref() == Some("slug") {
        ManageError::field(
            "name",
            format!("There is already a class called “{name}” (or a name very like it)."),
        )
    } else {
        ManageError::Db(e)
    }
}

fn class_json(name: &str, requires_shipping: bool, track_stock: bool) -> String {
    audit::json(&serde_json::json!({
        "name": name,
        "requires_shipping": requires_shipping,
        "track_stock": track_stock,
    }))
}

pub async fn create(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    name: &str,
    requires_shipping: bool,
    track_stock: bool,
) -> Result<i64, ManageError> {
    refuse_partners(staff)?;
    let name = name.trim();
    check_name(name)?;
    let mut tx = db.begin_write().await?;
    let id = catalogue::create_product_class(&mut *tx, name, requires_shipping, track_stock)
        .await
        .map_err(|e| match e {
            catalogue::CatalogueError::Db(e) => name_clash(e, name),
            other => other.into(),
        })?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_class.create",
        "product_class",
        &id.to_string(),
        None,
        Some(&class_json(name, requires_shipping, track_stock)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(id)
}

pub async fn update(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    name: &str,
    requires_shipping: bool,
    track_stock: bool,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let before = find(&db.pool, id).await?.ok_or(ManageError::NotFound)?;
    let name = name.trim();
    check_name(name)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE product_class SET name = $2, slug = $3, requires_shipping = $4, track_stock = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(slugify(name))
    .bind(requires_shipping)
    .bind(track_stock)
    .execute(&mut *tx)
    .await
    .map_err(|e| name_clash(e, name))?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_class.update",
        "product_class",
        &id.to_string(),
        Some(&class_json(
            &before.name,
            before.requires_shipping,
            before.track_stock,
        )),
        Some(&class_json(name, requires_shipping, track_stock)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

/// Options typed one a line (or separated by commas), trimmed, without repeats.
pub fn parse_options(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in raw
        .split(['\n', ','])
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        if !out.iter().any(|x| x == o) {
            out.push(o.to_owned());
        }
    }
    out
}

/// What the attribute form sends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttributeInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    /// One a line, or separated by commas.
    pub options: String,
}

/// Adds an attribute to class `class_id`; returns its id.
pub async fn add_attribute(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    class_id: i64,
    input: &AttributeInput,
) -> Result<i64, ManageError> {
    refuse_partners(staff)?;
    find(&db.pool, class_id)
        .await?
        .ok_or(ManageError::NotFound)?;
    let mut errors = Vec::new();
    let code = input.code.trim();
    if code.is_empty()
        || code.chars().count() > MAX_CODE_CHARS
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        errors.push((
            "code".to_owned(),
            format!(
                "A code is lower-case letters, digits, - and _ (at most {MAX_CODE_CHARS}), e.g. “pages”."
            ),
        ));
    }
    let name = input.name.trim();
    if let Err(ManageError::Invalid(e)) = check_name(name) {
        errors.extend(e);
    }
    let kind = AttributeKind::parse(input.kind.trim());
    if kind.is_none() {
        errors.push((
            "kind".to_owned(),
            "Choose what kind of value it takes.".to_owned(),
        ));
    }
    let options = parse_options(&input.options);
    let listed = matches!(
        kind,
        Some(AttributeKind::Option | AttributeKind::MultiOption)
    );
    if listed && options.is_empty() {
        errors.push((
            "options".to_owned(),
            "List the values it may take, one a line.".to_owned(),
        ));
    } else if options.len() > MAX_OPTIONS {
        errors.push((
            "options".to_owned(),
            format!("At most {MAX_OPTIONS} values."),
        ));
    }
    let Some(kind) = kind.filter(|_| errors.is_empty()) else {
        return Err(ManageError::Invalid(errors));
    };
    let options: Vec<&str> = if listed {
        options.iter().map(String::as_str).collect()
    } else {
        Vec::new()
    };
    let mut tx = db.begin_write().await?;
    let def = catalogue::create_attribute(
        &mut tx,
        class_id,
        code,
        name,
        kind,
        input.required,
        &options,
    )
    .await
    .map_err(|e| match e {
        catalogue::CatalogueError::Db(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            ManageError::field(
                "code",
                format!("The class already has an attribute “{code}”."),
            )
        }
        other => other.into(),
    })?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_attribute.create",
        "product_attribute",
        &def.id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({
            "class_id": class_id,
            "code": code,
            "name": name,
            "kind": kind.as_str(),
            "required": input.required,
            "options": options,
        }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(def.id)
}

/// Renames an attribute, makes it required or optional, and adds `new_options` to its list.
#[allow(clippy::too_many_arguments)]
pub async fn update_attribute(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    class_id: i64,
    attribute_id: i64,
    name: &str,
    required: bool,
    new_options: &str,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let name = name.trim();
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT name, required, option_group_id FROM product_attribute \
         WHERE id = $1 AND product_class_id = $2",
    )
    .bind(attribute_id)
    .bind(class_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ManageError::NotFound)?;
    check_name(name)?;
    let group: Option<i64> = row.try_get("option_group_id")?;
    let added = parse_options(new_options);
    if !added.is_empty() && group.is_none() {
        return Err(ManageError::field(
            "options",
            "Only option attributes have a list of values.",
        ));
    }
    sqlx::query("UPDATE product_attribute SET name = $2, required = $3 WHERE id = $1")
        .bind(attribute_id)
        .bind(name)
        .bind(required)
        .execute(&mut *tx)
        .await?;
    if let Some(g) = group {
        for option in &added {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM attribute_option WHERE group_id = $1 AND option = $2",
            )
            .bind(g)
            .bind(option)
            .fetch_optional(&mut *tx)
            .await?;
            if exists.is_none() {
                sqlx::query("INSERT INTO attribute_option (group_id, option) VALUES ($1, $2)")
                    .bind(g)
                    .bind(option)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_attribute.update",
        "product_attribute",
        &attribute_id.to_string(),
        Some(&audit::json(&serde_json::json!({
            "name": row.try_get::<String, _>("name")?,
            "required": flag(&row, "required")?,
        }))),
        Some(&audit::json(&serde_json::json!({
            "name": name,
            "required": required,
            "added_options": added,
        }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

/// Removes an attribute and every value stored under it.
pub async fn delete_attribute(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    class_id: i64,
    attribute_id: i64,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "SELECT code, name, kind, option_group_id FROM product_attribute \
         WHERE id = $1 AND product_class_id = $2",
    )
    .bind(attribute_id)
    .bind(class_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ManageError::NotFound)?;
    sqlx::query("DELETE FROM product_attribute WHERE id = $1")
        .bind(attribute_id)
        .execute(&mut *tx)
        .await?;
    if let Some(group) = row.try_get::<Option<i64>, _>("option_group_id")? {
        sqlx::query("DELETE FROM attribute_option_group WHERE id = $1")
            .bind(group)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_attribute.delete",
        "product_attribute",
        &attribute_id.to_string(),
        Some(&audit::json(&serde_json::json!({
            "class_id": class_id,
            "code": row.try_get::<String, _>("code")?,
            "name": row.try_get::<String, _>("name")?,
            "kind": row.try_get::<String, _>("kind")?,
        }))),
        None,
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

/// Purchase-time options (what a customer fills in when buying: an engraving, gift wrap), and
/// which of them a class's products offer.
#[derive(Debug, Clone, Serialize)]
pub struct PurchaseOption {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub help: String,
    /// Whether the class being shown offers it.
    pub offered: bool,
}

/// The kinds a purchase-time option takes: (kind, label).
pub const OPTION_KINDS: [(&str, &str); 5] = [
    ("text", "Text"),
    ("integer", "Whole number"),
    ("boolean", "Yes or no"),
    ("date", "Date"),
    ("select", "Choice"),
];

/// Every option, each marked with whether class `class_id` offers it.
pub async fn options(pool: &AnyPool, class_id: i64) -> Result<Vec<PurchaseOption>, sqlx::Error> {
    sqlx::query(
        "SELECT o.id, o.code, o.name, o.kind, o.required, o.help_text, \
         (SELECT COUNT(*) FROM product_class_option co WHERE co.option_id = o.id \
            AND co.product_class_id = $1) AS offered \
         FROM product_option o ORDER BY o.sort_order, o.name, o.id",
    )
    .bind(class_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(PurchaseOption {
            id: r.try_get("id")?,
            code: r.try_get("code")?,
            name: r.try_get("name")?,
            kind: r.try_get("kind")?,
            required: flag(r, "required")?,
            help: r.try_get("help_text")?,
            offered: r.try_get::<i64, _>("offered")? > 0,
        })
    })
    .collect()
}

/// What the new-option form sends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OptionInput {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub help: String,
}

/// Adds an option, offered by class `class_id` from the start; returns its id.
pub async fn add_option(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    class_id: i64,
    input: &OptionInput,
) -> Result<i64, ManageError> {
    refuse_partners(staff)?;
    find(&db.pool, class_id)
        .await?
        .ok_or(ManageError::NotFound)?;
    let (code, name, kind, help) = (
        input.code.trim(),
        input.name.trim(),
        input.kind.trim(),
        input.help.trim(),
    );
    let mut errors = Vec::new();
    if code.is_empty()
        || code.chars().count() > MAX_CODE_CHARS
        || !code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        errors.push((
            "option_code".to_owned(),
            format!(
                "A code is lower-case letters, digits, - and _ (at most {MAX_CODE_CHARS}), e.g. “engraving”."
            ),
        ));
    }
    if let Err(ManageError::Invalid(e)) = check_name(name) {
        errors.extend(e.into_iter().map(|(_, m)| ("option_name".to_owned(), m)));
    }
    if !OPTION_KINDS.iter().any(|(k, _)| *k == kind) {
        errors.push((
            "option_kind".to_owned(),
            "Choose the kind of answer.".to_owned(),
        ));
    }
    if help.chars().count() > 500 {
        errors.push((
            "option_help".to_owned(),
            "Keep the help to 500 characters.".to_owned(),
        ));
    }
    if !errors.is_empty() {
        return Err(ManageError::Invalid(errors));
    }
    let mut tx = db.begin_write().await?;
    let id = catalogue::create_option(&mut *tx, code, name, kind, input.required, help)
        .await
        .map_err(|e| match e {
            catalogue::CatalogueError::Db(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                ManageError::field(
                    "option_code",
                    format!("There is already an option “{code}”."),
                )
            }
            other => other.into(),
        })?;
    catalogue::add_class_option(&mut *tx, class_id, id).await?;
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_option.create",
        "product_option",
        &id.to_string(),
        None,
        Some(&audit::json(&serde_json::json!({
            "code": code, "name": name, "kind": kind, "required": input.required,
            "help": help, "class_id": class_id,
        }))),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(id)
}

/// Makes class `class_id` offer exactly the options `option_ids`.
pub async fn set_options(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    class_id: i64,
    option_ids: &[i64],
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let all = options(&db.pool, class_id).await?;
    if find(&db.pool, class_id).await?.is_none() {
        return Err(ManageError::NotFound);
    }
    if option_ids.iter().any(|id| !all.iter().any(|o| o.id == *id)) {
        return Err(ManageError::field(
            "options",
            "Choose options from the list.",
        ));
    }
    let before: Vec<i64> = all.iter().filter(|o| o.offered).map(|o| o.id).collect();
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM product_class_option WHERE product_class_id = $1")
        .bind(class_id)
        .execute(&mut *tx)
        .await?;
    let mut after: Vec<i64> = option_ids.to_vec();
    after.sort_unstable();
    after.dedup();
    for id in &after {
        catalogue::add_class_option(&mut *tx, class_id, *id).await?;
    }
    audit::record(
        &mut tx,
        Actor::from(staff),
        "product_class.options",
        "product_class",
        &class_id.to_string(),
        Some(&audit::json(&before)),
        Some(&audit::json(&after)),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_one_a_line_or_comma_separated() {
        assert_eq!(
            parse_options("Red\n Blue , Green\n\nRed"),
            vec!["Red", "Blue", "Green"]
        );
        assert!(parse_options("  ").is_empty());
        for (kind, _) in KINDS {
            assert!(AttributeKind::parse(kind).is_some(), "{kind}");
        }
    }
}
