//! A theme extension with three small template helpers. Arguments arrive as a JSON array and the
//! result leaves as JSON; the parsing here is deliberately minimal (strings and integers) to keep
//! the component small.

use emporium_plugin_sdk::theme::{FunctionInfo, FunctionKind};
use emporium_plugin_sdk::{PluginError, ThemeExtension};

/// Splits a flat JSON array of strings and integers into raw items (strings unquoted).
pub fn parse_args(json: &str) -> Result<Vec<String>, PluginError> {
    let inner = json
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| PluginError::InvalidInput("arguments must be a JSON array".into()))?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some(c) => s.push(c),
                            None => return Err(PluginError::InvalidInput("bad escape".into())),
                        },
                        Some(c) => s.push(c),
                        None => {
                            return Err(PluginError::InvalidInput("unterminated string".into()));
                        }
                    }
                }
                out.push(s);
            }
            Some(_) => {
                let mut s = String::new();
                while chars.peek().is_some_and(|c| *c != ',') {
                    s.extend(chars.next());
                }
                out.push(s.trim().to_string());
            }
        }
    }
    Ok(out)
}

/// Quotes a string as JSON.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn call(name: &str, args: &[String]) -> Result<String, PluginError> {
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| PluginError::InvalidInput(format!("{name}: missing argument {}", i + 1)))
    };
    match name {
        "initials" => Ok(json_string(
            &arg(0)?
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .flat_map(char::to_uppercase)
                .collect::<String>(),
        )),
        "pluralize" => {
            let n: i64 = arg(0)?.parse().map_err(|_| {
                PluginError::InvalidInput("pluralize: count must be an integer".into())
            })?;
            let singular = arg(1)?;
            let plural = args
                .get(2)
                .cloned()
                .unwrap_or_else(|| format!("{singular}s"));
            Ok(json_string(&format!(
                "{n} {}",
                if n == 1 { singular } else { &plural }
            )))
        }
        "stars" => {
            let n: usize = arg(0)?
                .parse()
                .map_err(|_| PluginError::InvalidInput("stars: rating must be 0..5".into()))?;
            let n = n.min(5);
            Ok(json_string(&format!(
                "{}{}",
                "★".repeat(n),
                "☆".repeat(5 - n)
            )))
        }
        other => Err(PluginError::InvalidInput(format!(
            "no helper named {other:?}"
        ))),
    }
}

struct TextHelpers;

impl ThemeExtension for TextHelpers {
    fn functions() -> Vec<FunctionInfo> {
        vec![
            FunctionInfo {
                name: "initials".into(),
                kind: FunctionKind::Filter,
                help: "\"Ada Lovelace\" -> \"AL\"".into(),
            },
            FunctionInfo {
                name: "pluralize".into(),
                kind: FunctionKind::Filter,
                help: "3 | pluralize(\"item\") -> \"3 items\"".into(),
            },
            FunctionInfo {
                name: "stars".into(),
                kind: FunctionKind::Function,
                help: "stars(3) -> \"★★★☆☆\"".into(),
            },
        ]
    }

    fn call(name: String, args_json: String) -> Result<String, PluginError> {
        call(&name, &parse_args(&args_json)?)
    }
}

emporium_plugin_sdk::export_theme!(TextHelpers);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let args = parse_args(r#"["ada  lovelace"]"#).unwrap();
        assert_eq!(call("initials", &args).unwrap(), "\"AL\"");
        assert_eq!(
            call("pluralize", &parse_args(r#"[3, "box", "boxes"]"#).unwrap()).unwrap(),
            "\"3 boxes\""
        );
        assert_eq!(
            call("pluralize", &parse_args(r#"[1, "item"]"#).unwrap()).unwrap(),
            "\"1 item\""
        );
        assert_eq!(
            call("stars", &parse_args("[2]").unwrap()).unwrap(),
            "\"★★☆☆☆\""
        );
        assert!(call("nope", &[]).is_err());
        assert!(parse_args("{}").is_err());
    }
}
