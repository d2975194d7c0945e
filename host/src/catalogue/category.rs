//! The category tree: any depth, stored as a materialised path so that "this category and
//! everything below it" is one indexed prefix match, and addressed by its full slug path.

use serde::Serialize;

/// Each level of the materialised path is this many digits: 9,999 siblings per parent.
pub const PATH_STEP: usize = 4;

#[derive(Debug, Clone, Serialize)]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub full_slug: String,
    pub path: String,
    pub depth: i64,
    pub description: String,
}

impl Category {
    pub fn url(&self) -> String {
        format!("/catalogue/category/{}/", self.full_slug)
    }

    /// The `LIKE` pattern matching this category and its descendants (paths are digits only,
    /// so nothing needs escaping).
    pub fn subtree_pattern(&self) -> String {
        format!("{}%", self.path)
    }
}

/// The path of the `position`-th child (1-based) under `parent_path`.
pub fn child_path(parent_path: &str, position: usize) -> Option<String> {
    if position == 0 || position >= 10usize.pow(PATH_STEP as u32) {
        return None;
    }
    Some(format!(
        "{parent_path}{position:0width$}",
        width = PATH_STEP
    ))
}

/// A URL-safe slug (transliterated to ASCII, lowercase, hyphenated); never empty.
pub fn slugify(text: &str) -> String {
    let slug = slug::slugify(text);
    if slug.is_empty() { "item".into() } else { slug }
}

/// Categories sorted by path, with parents before children, arranged as a tree for menus.
#[derive(Debug, Clone, Default)]
pub struct CategoryTree {
    /// Every category, in path order (depth-first).
    pub all: Vec<Category>,
}

impl CategoryTree {
    pub fn new(mut all: Vec<Category>) -> Self {
        all.sort_by(|a, b| a.path.cmp(&b.path));
        CategoryTree { all }
    }

    pub fn by_full_slug(&self, full_slug: &str) -> Option<&Category> {
        self.all.iter().find(|c| c.full_slug == full_slug)
    }

    pub fn roots(&self) -> impl Iterator<Item = &Category> {
        self.all.iter().filter(|c| c.parent_id.is_none())
    }

    pub fn children<'a>(&'a self, parent: &'a Category) -> impl Iterator<Item = &'a Category> {
        self.all
            .iter()
            .filter(move |c| c.parent_id == Some(parent.id))
    }

    /// The category and its ancestors, root first.
    pub fn ancestry<'a>(&'a self, category: &'a Category) -> Vec<&'a Category> {
        let mut chain = Vec::with_capacity(category.depth as usize);
        let mut len = PATH_STEP;
        while len <= category.path.len() {
            let prefix = &category.path[..len];
            if let Some(c) = self.all.iter().find(|c| c.path == prefix) {
                chain.push(c);
            }
            len += PATH_STEP;
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: i64, parent: Option<i64>, name: &str, full_slug: &str, path: &str) -> Category {
        Category {
            id,
            parent_id: parent,
            name: name.into(),
            slug: slugify(name),
            full_slug: full_slug.into(),
            path: path.into(),
            depth: (path.len() / PATH_STEP) as i64,
            description: String::new(),
        }
    }

    fn tree() -> CategoryTree {
        CategoryTree::new(vec![
            cat(3, Some(1), "Shirts", "clothing/shirts", "00010001"),
            cat(1, None, "Clothing", "clothing", "0001"),
            cat(4, Some(3), "Linen", "clothing/shirts/linen", "000100010001"),
            cat(2, None, "Books", "books", "0002"),
            cat(5, Some(1), "Shoes", "clothing/shoes", "00010002"),
        ])
    }

    #[test]
    fn depth_first_order_and_roots() {
        let t = tree();
        let ids: Vec<_> = t.all.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 3, 4, 5, 2]);
        assert_eq!(t.roots().map(|c| c.id).collect::<Vec<_>>(), [1, 2]);
        let clothing = t.by_full_slug("clothing").unwrap();
        assert_eq!(
            t.children(clothing).map(|c| c.id).collect::<Vec<_>>(),
            [3, 5]
        );
    }

    #[test]
    fn ancestry_walks_to_the_root() {
        let t = tree();
        let linen = t.by_full_slug("clothing/shirts/linen").unwrap();
        let names: Vec<_> = t.ancestry(linen).iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Clothing", "Shirts", "Linen"]);
        assert_eq!(linen.url(), "/catalogue/category/clothing/shirts/linen/");
        assert_eq!(linen.subtree_pattern(), "000100010001%");
    }

    #[test]
    fn child_paths_and_limits() {
        assert_eq!(child_path("0001", 12).unwrap(), "00010012");
        assert_eq!(child_path("", 1).unwrap(), "0001");
        assert!(child_path("0001", 0).is_none());
        assert!(child_path("0001", 10_000).is_none());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Men's Shirts & Ties"), "men-s-shirts-ties");
        assert_eq!(slugify("  --Ünïcode--  "), "unicode");
        assert_eq!(slugify("!!!"), "item");
    }
}
