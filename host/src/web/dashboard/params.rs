//! What the dashboard's lists read from the address (ids, search text, page numbers) and the
//! page links they show, in one place.

use std::collections::HashMap;

use minijinja::Value;

use crate::infra::db::COUNT_CAP;
use crate::web::WebError;

/// Longest search text any list accepts.
const MAX_SEARCH_CHARS: usize = 200;

/// A positive id from the path; anything else is no page of ours.
pub(super) fn path_id(raw: &str) -> Result<i64, WebError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(WebError::NotFound)
}

/// The trimmed text of `?{key}=` (empty when absent); too long a text is a 400.
pub(super) fn search_text(query: &HashMap<String, String>, key: &str) -> Result<String, WebError> {
    let text = query.get(key).map(|q| q.trim()).unwrap_or_default();
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(WebError::BadRequest(format!(
            "Search for at most {MAX_SEARCH_CHARS} characters."
        )));
    }
    Ok(text.to_owned())
}

/// `?page=`: 1 when absent, a 400 when it is not a page number.
pub(super) fn page_number(query: &HashMap<String, String>) -> Result<u32, WebError> {
    match query.get("page").map(|p| p.trim()) {
        None | Some("") => Ok(1),
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest("That is not a page number.".into())),
    }
}

/// The pages of a list whose count stopped at the cap ([`COUNT_CAP`] + 1 means "more"): as
/// [`pages`], but past the cap a full page always has a next one, and the context says the
/// count is a floor (`capped`).
pub(super) fn capped_pages(
    base: &str,
    params: &[(&str, &str)],
    page: u32,
    total: i64,
    page_size: u32,
    shown: usize,
) -> Value {
    if total <= COUNT_CAP {
        return pages(base, params, page, total, page_size);
    }
    let full = shown >= usize::try_from(page_size).unwrap_or(usize::MAX);
    let counted = i64::from(page) * i64::from(page_size) + i64::from(full);
    let pages = pages(base, params, page, total.max(counted), page_size);
    minijinja::context! { capped => true, cap => COUNT_CAP, ..pages }
}

/// The pages of a list of `total` rows, `page_size` a page, for the `dashboard/partials/
/// pages.html` partial: links to `base` keep the list's other (non-empty) parameters.
pub(super) fn pages(
    base: &str,
    params: &[(&str, &str)],
    page: u32,
    total: i64,
    page_size: u32,
) -> Value {
    let num_pages = u32::try_from((total.max(0) as u64).div_ceil(u64::from(page_size)).max(1))
        .unwrap_or(u32::MAX);
    let link = |n: u32| {
        let mut query: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        query.push(format!("page={n}"));
        format!("{base}?{}", query.join("&"))
    };
    minijinja::context! {
        page => page,
        num_pages => num_pages,
        prev_url => (page > 1).then(|| link(page - 1)),
        next_url => (page < num_pages).then(|| link(page + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_filters() {
        let p = pages(
            "/dashboard/orders/",
            &[("q", "ada smith"), ("status", "")],
            2,
            120,
            50,
        );
        assert_eq!(p.get_attr("num_pages").unwrap().as_usize(), Some(3));
        assert_eq!(
            p.get_attr("prev_url").unwrap().as_str(),
            Some("/dashboard/orders/?q=ada%20smith&page=1")
        );
        assert_eq!(
            p.get_attr("next_url").unwrap().as_str(),
            Some("/dashboard/orders/?q=ada%20smith&page=3")
        );
        let one = pages("/x/", &[], 1, 0, 50);
        assert!(one.get_attr("prev_url").unwrap().is_none());
        assert!(one.get_attr("next_url").unwrap().is_none());
        let q = |v: &str| HashMap::from([("page".to_owned(), v.to_owned())]);
        assert_eq!(page_number(&q("3")).ok(), Some(3));
        assert!(page_number(&q("0")).is_err() && page_number(&q("x")).is_err());
        assert!(path_id("12").is_ok() && path_id("-1").is_err() && path_id("a").is_err());
    }
}
