//! The category tree as staff edit it: add, rename (and hide or show), move under another
//! parent, reorder among siblings.
//!
//! The storefront finds a category by its `full_slug` (its URL) and a subtree by its
//! materialised `path` (see [`crate::catalogue::category`]). Every edit here works out the
//! whole tree anew in memory (sibling positions numbered densely, each path and full slug from
//! its parent's) and writes the rows that changed, in one transaction: first to temporary
//! values, then to their new ones, so no unique constraint trips half-way. So a moved or
//! renamed category takes its subtree's URLs and paths along, and every page shows the new
//! tree at once (`Change::Catalogue`). The tree is the shop's, not a partner's: partner users
//! may not change it.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

use super::ManageError;
use crate::audit::{self, Actor};
use crate::catalogue::category::{PATH_STEP, child_path, slugify};
use crate::infra::changes::{Change, Changes};
use crate::infra::db::{Db, flag};
use crate::staff::Staff;

pub const MAX_NAME_CHARS: usize = 120;
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub full_slug: String,
    pub path: String,
    pub depth: i64,
    pub description: String,
    pub is_public: bool,
    /// Products filed directly in it.
    pub products: i64,
}

impl Node {
    pub fn url(&self) -> String {
        format!("/catalogue/category/{}/", self.full_slug)
    }
}

async fn load(conn: &mut AnyConnection) -> Result<Vec<Node>, sqlx::Error> {
    sqlx::query(
        "SELECT c.id, c.parent_id, c.name, c.slug, c.full_slug, c.path, c.depth, c.description, \
         c.is_public, (SELECT COUNT(*) FROM product_category pc WHERE pc.category_id = c.id) AS products \
         FROM category c ORDER BY c.path",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Node {
            id: r.try_get("id")?,
            parent_id: r.try_get("parent_id")?,
            name: r.try_get("name")?,
            slug: r.try_get("slug")?,
            full_slug: r.try_get("full_slug")?,
            path: r.try_get("path")?,
            depth: r.try_get("depth")?,
            description: r.try_get("description")?,
            is_public: flag(r, "is_public")?,
            products: r.try_get("products")?,
        })
    })
    .collect()
}

/// A category as a picker offers it: depth first, hidden ones too.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub id: i64,
    pub name: String,
    pub depth: i64,
}

/// Every category for a picker (the product list's bulk "file in category"), without
/// [`tree`]'s product counts, which read every filing (about 8 ms a page over 100,000
/// products).
pub async fn choices(pool: &AnyPool) -> Result<Vec<Choice>, sqlx::Error> {
    sqlx::query("SELECT id, name, depth FROM category ORDER BY path")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok(Choice {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                depth: r.try_get("depth")?,
            })
        })
        .collect()
}

/// Every category, hidden ones too, depth first.
pub async fn tree(pool: &AnyPool) -> Result<Vec<Node>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    load(&mut conn).await
}

fn refuse_partners(staff: &Staff) -> Result<(), ManageError> {
    if staff.partner_scope().is_some() {
        return Err(ManageError::Refused(
            "The category tree is the shop's: ask a catalogue manager to change it.".into(),
        ));
    }
    Ok(())
}

fn check_name(name: &str, description: &str) -> Result<(), ManageError> {
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(("name".to_owned(), "Give the category a name.".to_owned()));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push((
            "name".to_owned(),
            format!("Keep the name to {MAX_NAME_CHARS} characters."),
        ));
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push((
            "description".to_owned(),
            format!("Keep the description to {MAX_DESCRIPTION_CHARS} characters."),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ManageError::Invalid(errors))
    }
}

/// Lays the tree out anew: `order` lists each parent's children (key `None`: the roots) in
/// their new order; `nodes` carry their new parent and slug. Fails with a field error when two
/// siblings would share a slug (and so a URL).
fn layout(
    nodes: &mut [Node],
    order: &HashMap<Option<i64>, Vec<i64>>,
    field: &str,
) -> Result<(), ManageError> {
    let index: HashMap<i64, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    // Depth first from the roots, so a parent's new path is known before its children's.
    let mut stack: Vec<(Option<i64>, String, String, i64)> =
        vec![(None, String::new(), String::new(), 0)];
    while let Some((parent, parent_path, parent_slug, depth)) = stack.pop() {
        let children = order.get(&parent).cloned().unwrap_or_default();
        let mut slugs: Vec<String> = Vec::new();
        for (position, id) in children.iter().enumerate() {
            let Some(&i) = index.get(id) else { continue };
            let path = child_path(&parent_path, position + 1).ok_or_else(|| {
                ManageError::field(field, "A category can have at most 9,999 subcategories.")
            })?;
            let node = &mut nodes[i];
            if slugs.contains(&node.slug) {
                return Err(ManageError::field(
                    field,
                    format!(
                        "There is already a category called “{}” there: choose another name or place.",
                        node.name
                    ),
                ));
            }
            node.path = path.clone();
            node.depth = depth + 1;
            node.full_slug = if parent_slug.is_empty() {
                node.slug.clone()
            } else {
                format!("{parent_slug}/{}", node.slug)
            };
            let full = node.full_slug.clone();
            slugs.push(node.slug.clone());
            stack.push((Some(*id), path, full, depth + 1));
        }
    }
    Ok(())
}

/// Each parent's children in their current (path) order.
fn sibling_order(nodes: &[Node]) -> HashMap<Option<i64>, Vec<i64>> {
    let mut order: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    for n in nodes {
        order.entry(n.parent_id).or_default().push(n.id);
    }
    order
}

/// Writes every node whose place, name or URL changed: to temporary unique values first.
async fn write(
    conn: &mut AnyConnection,
    before: &[Node],
    after: &[Node],
) -> Result<(), sqlx::Error> {
    let old: HashMap<i64, &Node> = before.iter().map(|n| (n.id, n)).collect();
    let changed: Vec<&Node> = after
        .iter()
        .filter(|n| {
            old.get(&n.id).is_none_or(|o| {
                o.path != n.path
                    || o.full_slug != n.full_slug
                    || o.parent_id != n.parent_id
                    || o.slug != n.slug
                    || o.name != n.name
                    || o.depth != n.depth
                    || o.description != n.description
                    || o.is_public != n.is_public
            })
        })
        .collect();
    for n in &changed {
        sqlx::query("UPDATE category SET path = $2, full_slug = $2 WHERE id = $1")
            .bind(n.id)
            .bind(format!("~{}", n.id))
            .execute(&mut *conn)
            .await?;
    }
    for n in &changed {
        sqlx::query(
            "UPDATE category SET parent_id = $2, name = $3, slug = $4, full_slug = $5, path = $6, \
             depth = $7, description = $8, is_public = $9 WHERE id = $1",
        )
        .bind(n.id)
        .bind(n.parent_id)
        .bind(&n.name)
        .bind(&n.slug)
        .bind(&n.full_slug)
        .bind(&n.path)
        .bind(n.depth)
        .bind(&n.description)
        .bind(n.is_public)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn summary(n: &Node) -> String {
    audit::json(&serde_json::json!({
        "name": n.name,
        "parent_id": n.parent_id,
        "full_slug": n.full_slug,
        "path": n.path,
        "is_public": n.is_public,
    }))
}

/// Lays out and writes the edited tree, audits it, commits and announces it.
#[allow(clippy::too_many_arguments)]
async fn finish(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    changes: &Changes,
    staff: &Staff,
    action: &str,
    id: i64,
    before: Vec<Node>,
    mut after: Vec<Node>,
    order: HashMap<Option<i64>, Vec<i64>>,
    field: &str,
) -> Result<(), ManageError> {
    layout(&mut after, &order, field)?;
    write(&mut tx, &before, &after).await?;
    let old = before.iter().find(|n| n.id == id).map(summary);
    let new = after.iter().find(|n| n.id == id).map(summary);
    audit::record(
        &mut tx,
        Actor::from(staff),
        action,
        "category",
        &id.to_string(),
        old.as_deref(),
        new.as_deref(),
    )
    .await?;
    tx.commit().await?;
    changes.announce(Change::Catalogue);
    Ok(())
}

/// Adds a category as the last child of `parent_id` (or as the last root); returns its id.
pub async fn create(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    parent_id: Option<i64>,
    name: &str,
    description: &str,
) -> Result<i64, ManageError> {
    refuse_partners(staff)?;
    let (name, description) = (name.trim(), description.trim());
    check_name(name, description)?;
    let mut tx = db.begin_write().await?;
    let before = load(&mut tx).await?;
    if let Some(p) = parent_id
        && !before.iter().any(|n| n.id == p)
    {
        return Err(ManageError::field(
            "parent",
            "Choose a parent from the list.",
        ));
    }
    let slug = slugify(name);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO category (parent_id, name, slug, full_slug, path, depth, description, is_public) \
         VALUES ($1, $2, $3, '~new', '~new', 0, $4, TRUE) RETURNING id",
    )
    .bind(parent_id)
    .bind(name)
    .bind(&slug)
    .bind(description)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
            ManageError::field(
                "name",
                format!("There is already a category called “{name}” there."),
            )
        } else {
            ManageError::Db(e)
        }
    })?;
    let node = Node {
        id,
        parent_id,
        name: name.to_owned(),
        slug,
        full_slug: "~new".into(),
        path: "~new".into(),
        depth: 0,
        description: description.to_owned(),
        is_public: true,
        products: 0,
    };
    let mut order = sibling_order(&before);
    order.entry(parent_id).or_default().push(id);
    let mut before = before;
    before.push(node);
    let after = before.clone();
    // The new row is "changed" against its placeholder, so it is written too.
    finish(
        tx,
        changes,
        staff,
        "category.create",
        id,
        before,
        after,
        order,
        "name",
    )
    .await?;
    Ok(id)
}

/// Renames a category (its slug, and so its subtree's URLs, follow the name), changes its
/// description, hides or shows it.
pub async fn update(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    name: &str,
    description: &str,
    is_public: bool,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let (name, description) = (name.trim(), description.trim());
    let mut tx = db.begin_write().await?;
    let before = load(&mut tx).await?;
    if !before.iter().any(|n| n.id == id) {
        return Err(ManageError::NotFound);
    }
    check_name(name, description)?;
    let mut after = before.clone();
    for n in after.iter_mut().filter(|n| n.id == id) {
        n.name = name.to_owned();
        n.slug = slugify(name);
        n.description = description.to_owned();
        n.is_public = is_public;
    }
    let order = sibling_order(&before);
    finish(
        tx,
        changes,
        staff,
        "category.update",
        id,
        before,
        after,
        order,
        "name",
    )
    .await
}

/// Moves a category (with its subtree) to the end of `new_parent`'s children, or to the end of
/// the roots; never under itself or one of its own descendants.
pub async fn move_to(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    new_parent: Option<i64>,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let mut tx = db.begin_write().await?;
    let before = load(&mut tx).await?;
    let node = before
        .iter()
        .find(|n| n.id == id)
        .ok_or(ManageError::NotFound)?
        .clone();
    if let Some(p) = new_parent {
        let parent = before
            .iter()
            .find(|n| n.id == p)
            .ok_or_else(|| ManageError::field("parent", "Choose a parent from the list."))?;
        if parent.path.starts_with(&node.path) {
            return Err(ManageError::field(
                "parent",
                format!(
                    "“{}” can't go under itself or one of its own subcategories.",
                    node.name
                ),
            ));
        }
    }
    if node.parent_id == new_parent {
        return Ok(());
    }
    let mut order = sibling_order(&before);
    if let Some(list) = order.get_mut(&node.parent_id) {
        list.retain(|c| *c != id);
    }
    order.entry(new_parent).or_default().push(id);
    let mut after = before.clone();
    for n in after.iter_mut().filter(|n| n.id == id) {
        n.parent_id = new_parent;
    }
    finish(
        tx,
        changes,
        staff,
        "category.move",
        id,
        before,
        after,
        order,
        "parent",
    )
    .await
}

/// Moves a category one place up or down among its siblings.
pub async fn reorder(
    db: &Db,
    changes: &Changes,
    staff: &Staff,
    id: i64,
    up: bool,
) -> Result<(), ManageError> {
    refuse_partners(staff)?;
    let mut tx = db.begin_write().await?;
    let before = load(&mut tx).await?;
    let node = before
        .iter()
        .find(|n| n.id == id)
        .ok_or(ManageError::NotFound)?
        .clone();
    let mut order = sibling_order(&before);
    let siblings = order.entry(node.parent_id).or_default();
    let Some(at) = siblings.iter().position(|c| *c == id) else {
        return Err(ManageError::NotFound);
    };
    let to = if up {
        at.checked_sub(1)
    } else {
        Some(at + 1).filter(|t| *t < siblings.len())
    };
    let Some(to) = to else {
        return Ok(());
    };
    siblings.swap(at, to);
    let after = before.clone();
    finish(
        tx,
        changes,
        staff,
        "category.reorder",
        id,
        before,
        after,
        order,
        "order",
    )
    .await
}

/// How deep `path` is, for indenting.
pub fn depth_of(path: &str) -> usize {
    path.len() / PATH_STEP
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, parent: Option<i64>, name: &str) -> Node {
        Node {
            id,
            parent_id: parent,
            name: name.into(),
            slug: slugify(name),
            full_slug: String::new(),
            path: String::new(),
            depth: 0,
            description: String::new(),
            is_public: true,
            products: 0,
        }
    }

    #[test]
    fn layout_numbers_siblings_and_builds_urls() {
        let mut nodes = vec![
            node(1, None, "Clothing"),
            node(2, Some(1), "Shirts"),
            node(3, Some(2), "Linen"),
            node(4, None, "Books"),
        ];
        let order = HashMap::from([(None, vec![4, 1]), (Some(1), vec![2]), (Some(2), vec![3])]);
        layout(&mut nodes, &order, "x").unwrap();
        let by: HashMap<i64, &Node> = nodes.iter().map(|n| (n.id, n)).collect();
        assert_eq!(by[&4].path, "0001");
        assert_eq!(by[&1].path, "0002");
        assert_eq!(by[&3].path, "000200010001");
        assert_eq!(by[&3].full_slug, "clothing/shirts/linen");
        assert_eq!(by[&3].depth, 3);
    }

    #[test]
    fn siblings_may_not_share_a_slug() {
        let mut nodes = vec![node(1, None, "Shoes"), node(2, None, "shoes")];
        let order = HashMap::from([(None, vec![1, 2])]);
        assert!(layout(&mut nodes, &order, "name").is_err());
    }
}
