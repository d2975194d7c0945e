//! What the plugin decides, in plain Rust (no WIT imports), so `cargo test` checks it natively.
//!
//! Two template filters for prices:
//! `{{ "1234.5" | format_amount("GBP") }}` gives `£1,234.50`;
//! `{{ "20.00" | percent_off("15.00") }}` gives `25%`.
//! The JSON handling is deliberately minimal (a flat array of strings and numbers) so the
//! component needs no JSON library and stays small.

use crate::money;

/// (name, is a filter, help): what `functions` lists.
pub const HELPERS: [(&str, bool, &str); 2] = [
    (
        "format_amount",
        true,
        "\"1234.5\" | format_amount(\"GBP\") -> \"£1,234.50\"",
    ),
    (
        "percent_off",
        true,
        "\"20.00\" | percent_off(\"15.00\") -> \"25%\"",
    ),
];

/// One template argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    /// Anything that is not a string (numbers, booleans, null).
    Other,
}

/// Splits a flat JSON array of strings and scalars.
pub fn parse_args(json: &str) -> Result<Vec<Arg>, String> {
    let inner = json
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or("arguments must be a JSON array")?;
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
                            Some('t') => s.push('\t'),
                            Some('u') => {
                                let hex: String = chars.by_ref().take(4).collect();
                                let c = u32::from_str_radix(&hex, 16)
                                    .ok()
                                    .and_then(char::from_u32)
                                    .ok_or("bad \\u escape")?;
                                s.push(c);
                            }
                            Some(c) => s.push(c),
                            None => return Err("bad escape".into()),
                        },
                        Some(c) => s.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Arg::Text(s));
            }
            Some('[' | '{') => return Err("nested arrays and objects are not supported".into()),
            Some(_) => {
                while chars.peek().is_some_and(|c| *c != ',') {
                    chars.next();
                }
                out.push(Arg::Other);
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

/// Argument `i` as hundredths. Only decimal strings: a JSON number may already have lost cents
/// on its way through a float.
fn amount_arg(name: &str, args: &[Arg], i: usize) -> Result<i64, String> {
    match args.get(i) {
        None => Err(format!("{name}: missing argument {}", i + 1)),
        Some(Arg::Text(t)) => money::parse(t)
            .map_err(|_| format!("{name}: argument {}, {t:?}, is not a decimal amount", i + 1)),
        Some(Arg::Other) => Err(format!(
            "{name}: argument {} must be a decimal string like \"12.50\"",
            i + 1
        )),
    }
}

/// "1234567" -> "1,234,567".
fn group(digits: &str, separator: &str) -> String {
    let head = match digits.len() % 3 {
        0 => 3.min(digits.len()),
        n => n,
    };
    let mut out = digits[..head].to_string();
    let mut i = head;
    while i < digits.len() {
        out.push_str(separator);
        out.push_str(&digits[i..i + 3]);
        i += 3;
    }
    out
}

fn format_amount(separator: &str, args: &[Arg]) -> Result<String, String> {
    let minor = amount_arg("format_amount", args, 0)?;
    let currency = match args.get(1) {
        None => None,
        Some(Arg::Text(c)) => Some(c.as_str()),
        Some(Arg::Other) => {
            return Err("format_amount: the currency must be a code like \"GBP\"".into());
        }
    };
    let plain = money::format(minor);
    let (whole, cents) = plain.split_once('.').unwrap_or((plain.as_str(), "00"));
    let number = format!("{}.{cents}", group(whole, separator));
    Ok(match currency {
        Some("GBP") => format!("£{number}"),
        Some("EUR") => format!("€{number}"),
        Some("USD") => format!("${number}"),
        Some(code) if !code.is_empty() => format!("{number} {code}"),
        _ => number,
    })
}

fn percent_off(args: &[Arg]) -> Result<String, String> {
    let was = amount_arg("percent_off", args, 0)?;
    let now = amount_arg("percent_off", args, 1)?;
    if was <= 0 {
        return Err("percent_off: the old price must be more than 0".into());
    }
    if now >= was {
        return Ok("0%".into());
    }
    // (was - now) / was in whole per cent, rounded half up: exact in integer hundredths.
    let off = ((was - now) * 200 + was) / (2 * was);
    Ok(format!("{off}%"))
}

/// The helper's result as JSON text; `separator` is the `thousands_separator` setting.
pub fn call(separator: &str, name: &str, args: &[Arg]) -> Result<String, String> {
    let text = match name {
        "format_amount" => format_amount(separator, args)?,
        "percent_off" => percent_off(args)?,
        other => return Err(format!("no helper named {other:?}")),
    };
    Ok(json_string(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(separator: &str, name: &str, json: &str) -> Result<String, String> {
        call(separator, name, &parse_args(json)?)
    }

    #[test]
    fn format_amount_groups_digits_with_a_symbol_or_code() {
        assert_eq!(run(",", "format_amount", r#"["1234.5", "GBP"]"#).unwrap(), "\"£1,234.50\"");
        assert_eq!(
            run(",", "format_amount", r#"["1234567", "CHF"]"#).unwrap(),
            "\"1,234,567.00 CHF\""
        );
        assert_eq!(run(",", "format_amount", r#"["999"]"#).unwrap(), "\"999.00\"");
        assert_eq!(run(" ", "format_amount", r#"["1000", "EUR"]"#).unwrap(), "\"€1 000.00\"");
    }

    #[test]
    fn percent_off_rounds_half_up() {
        assert_eq!(run(",", "percent_off", r#"["20.00", "15.00"]"#).unwrap(), "\"25%\"");
        assert_eq!(run(",", "percent_off", r#"["3", "2"]"#).unwrap(), "\"33%\"");
        assert_eq!(run(",", "percent_off", r#"["8", "7"]"#).unwrap(), "\"13%\"");
        assert_eq!(run(",", "percent_off", r#"["10", "12"]"#).unwrap(), "\"0%\"");
    }

    #[test]
    fn bad_arguments_are_errors() {
        for (name, json) in [
            ("format_amount", r#"["Ada Lovelace"]"#),
            ("format_amount", r#"[12.5, "GBP"]"#),
            ("percent_off", r#"["20.00"]"#),
            ("percent_off", r#"["0", "0"]"#),
            ("nope", "[]"),
            ("format_amount", "{}"),
        ] {
            assert!(run(",", name, json).is_err(), "{name}{json}");
        }
    }
}
