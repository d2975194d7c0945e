//! Money as integer minor units (hundredths), parsed from and formatted as the decimal strings
//! the shop exchanges ("12.50"). Never floats.

/// Parses a non-negative amount with at most two decimals ("12", "12.5", "12.50").
pub fn parse(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || frac.len() > 2 || !digits(frac) {
        return Err(format!("{text:?} is not an amount like 12.50"));
    }
    let whole: i64 = whole
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Formats hundredths as "12.50".
pub fn format(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// `amount * percent / 100`, rounded half up to the hundredth.
pub fn percent_of(amount: i64, percent: i64) -> i64 {
    (amount * percent + 50).div_euclid(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse("12").unwrap(), 1200);
        assert_eq!(parse("12.5").unwrap(), 1250);
        assert_eq!(parse(" 0.05 ").unwrap(), 5);
        assert!(parse("-1").is_err());
        assert!(parse("1.234").is_err());
        assert!(parse("1e3").is_err());
        assert_eq!(format(1250), "12.50");
        assert_eq!(format(5), "0.05");
        assert_eq!(percent_of(1000, 20), 200);
    }
}
