//! Rich text (product descriptions, rich-text attributes) as staff write it: HTML, cleaned on
//! the server with `ammonia` (no scripts, no event handlers, no `javascript:` links, only
//! harmless tags), whatever the editor in the browser sent. Text without any markup is plain
//! text and becomes paragraphs, as the storefront has always shown it.

/// Longest description accepted, in characters (before cleaning).
pub const MAX_CHARS: usize = 50_000;

/// The HTML to store for what was submitted.
pub fn clean(submitted: &str) -> String {
    let text = submitted.trim();
    if text.is_empty() {
        return String::new();
    }
    if !text.contains('<') {
        return paragraphs(text);
    }
    ammonia::clean(text)
}

/// Stored text as HTML safe to show: [`clean`]ed again (the storefront caches the page, so
/// this costs once per change), or older plain text as paragraphs.
pub fn to_html(stored: &str) -> String {
    if is_html(stored) {
        ammonia::clean(stored)
    } else {
        paragraphs(stored.trim())
    }
}

/// Whether stored text is HTML (written through [`clean`]) rather than older plain text.
pub fn is_html(stored: &str) -> bool {
    stored.trim_start().starts_with('<')
}

/// Plain text as HTML paragraphs: blank lines split paragraphs, single newlines are `<br>`.
fn paragraphs(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let lines: Vec<String> = p.split('\n').map(escape).collect();
            format!("<p>{}</p>", lines.join("<br>"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_handlers_are_removed() {
        let html = clean(
            "<p onclick=\"x()\">Hi <strong>there</strong><script>alert(1)</script>\
             <a href=\"javascript:alert(1)\">link</a></p>",
        );
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert!(!html.contains("javascript"), "{html}");
        assert!(html.contains("<strong>there</strong>"), "{html}");
    }

    #[test]
    fn plain_text_becomes_paragraphs() {
        assert_eq!(
            clean("Fish & chips\nwith peas\n\nSecond"),
            "<p>Fish &amp; chips<br>with peas</p>\n<p>Second</p>"
        );
        assert_eq!(clean("   "), "");
        assert!(is_html(&clean("plain")));
        assert_eq!(to_html("a < b"), "<p>a &lt; b</p>");
        assert_eq!(to_html("<p>x<script>y</script></p>"), "<p>x</p>");
    }
}
