//! What every product listing (category, search) shares: page and sort parameters from the
//! query string, pagination links, sort options, breadcrumbs.

use std::collections::HashMap;

use minijinja::Value;
use serde::Serialize;

use crate::catalogue::SortKey;
use crate::catalogue::category::{Category, CategoryTree};
use crate::web::WebError;

/// Page number and sort order from the query string, validated.
pub(super) struct ListingParams {
    pub page: u32,
    pub sort: SortKey,
}

pub(super) fn listing_params(
    query: &HashMap<String, String>,
    default_sort: SortKey,
) -> Result<ListingParams, WebError> {
    let page = match query.get("page").map(|p| p.trim()) {
        None | Some("") => 1,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(WebError::BadRequest(format!(
                    "“{}” is not a page number.",
                    p.chars().take(20).collect::<String>()
                )));
            }
        },
    };
    let sort = match query.get("sort").map(|s| s.trim()) {
        None | Some("") => default_sort,
        Some(s) => SortKey::parse(s).ok_or_else(|| {
            WebError::BadRequest("Unknown sort order; choose one from the list.".into())
        })?,
    };
    Ok(ListingParams { page, sort })
}

#[derive(Serialize)]
struct PageLink {
    number: u32,
    url: String,
    current: bool,
    gap: bool,
}

/// Builds links that keep the other parameters (`base` already holds them).
pub(super) fn pagination(base: &str, page: u32, total: i64, page_size: u32) -> Value {
    let num_pages = ((total.max(0) as u64).div_ceil(u64::from(page_size))).max(1) as u32;
    let url = |n: u32| {
        if n == 1 {
            base.trim_end_matches(['?', '&']).to_owned()
        } else {
            format!("{base}page={n}")
        }
    };
    let mut pages = Vec::new();
    let mut last = 0;
    for n in 1..=num_pages {
        let near = n == 1 || n == num_pages || n.abs_diff(page) <= 2;
        if !near {
            continue;
        }
        if last != 0 && n > last + 1 {
            pages.push(PageLink {
                number: 0,
                url: String::new(),
                current: false,
                gap: true,
            });
        }
        pages.push(PageLink {
            number: n,
            url: url(n),
            current: n == page,
            gap: false,
        });
        last = n;
    }
    minijinja::context! {
        page => page,
        num_pages => num_pages,
        total => total,
        has_prev => page > 1,
        has_next => page < num_pages,
        prev_url => (page > 1).then(|| url(page - 1)),
        next_url => (page < num_pages).then(|| url(page + 1)),
        pages => pages,
    }
}

pub(super) fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(super) fn sort_options(path_and_query: impl Fn(SortKey) -> String, current: SortKey) -> Value {
    let options: Vec<Value> = SortKey::ALL
        .iter()
        .map(|k| {
            minijinja::context! {
                key => k.as_str(),
                label => k.label(),
                url => path_and_query(*k),
                selected => *k == current,
            }
        })
        .collect();
    minijinja::context! { current => current.as_str(), options => options }
}

pub(super) fn breadcrumbs(tree: &CategoryTree, category: &Category) -> Vec<Value> {
    tree.ancestry(category)
        .iter()
        .map(|c| minijinja::context! { name => c.name.clone(), url => c.url() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_has_gaps_and_keeps_params() {
        let p = pagination("/c/?sort=title&", 10, 480, 24);
        assert_eq!(p.get_attr("num_pages").unwrap().as_i64(), Some(20));
        let pages = p.get_attr("pages").unwrap();
        let numbers: Vec<i64> = pages
            .try_iter()
            .unwrap()
            .map(|v| v.get_attr("number").unwrap().as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [1, 0, 8, 9, 10, 11, 12, 0, 20]);
        assert_eq!(
            p.get_attr("prev_url").unwrap().as_str(),
            Some("/c/?sort=title&page=9")
        );
        let first = pagination("/c/?", 2, 30, 24);
        assert_eq!(first.get_attr("prev_url").unwrap().as_str(), Some("/c/"));
    }

    #[test]
    fn listing_params_reject_junk() {
        let q = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        assert!(listing_params(&q("page", "-1"), SortKey::Featured).is_err());
        assert!(listing_params(&q("page", "abc"), SortKey::Featured).is_err());
        assert!(listing_params(&q("page", "0"), SortKey::Featured).is_err());
        assert!(listing_params(&q("sort", "bogus"), SortKey::Featured).is_err());
        let ok = listing_params(&q("sort", "price-desc"), SortKey::Featured).unwrap();
        assert_eq!((ok.page, ok.sort), (1, SortKey::PriceDesc));
    }
}
