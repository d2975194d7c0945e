//! Per-country address rules: which countries need a state, province or territory (and, where
//! the list is short and settled, which ones exist), and the postcode formats where a wrong
//! one surely means a typo that would send a parcel astray.
//!
//! The rules look at characters, never at byte positions: every field is whatever the visitor
//! typed, and slicing it by bytes would split a multibyte character (and panic).

/// The regions a country's post office needs in an address, `(code, name)`. Either is
/// accepted as typed, in any case; the address keeps the code, which couriers and tax
/// plugins read.
const US_STATES: &[Region] = &[
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("DC", "District of Columbia"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
    // Territories and military post, which USPS addresses like states.
    ("AS", "American Samoa"),
    ("GU", "Guam"),
    ("MP", "Northern Mariana Islands"),
    ("PR", "Puerto Rico"),
    ("VI", "U.S. Virgin Islands"),
    ("AA", "Armed Forces Americas"),
    ("AE", "Armed Forces Europe"),
    ("AP", "Armed Forces Pacific"),
];

const CA_PROVINCES: &[Region] = &[
    ("AB", "Alberta"),
    ("BC", "British Columbia"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick"),
    ("NL", "Newfoundland and Labrador"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island"),
    ("QC", "Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon"),
];

const AU_STATES: &[Region] = &[
    ("ACT", "Australian Capital Territory"),
    ("NSW", "New South Wales"),
    ("NT", "Northern Territory"),
    ("QLD", "Queensland"),
    ("SA", "South Australia"),
    ("TAS", "Tasmania"),
    ("VIC", "Victoria"),
    ("WA", "Western Australia"),
];

/// A region's `(code, name)`.
type Region = (&'static str, &'static str);

/// Countries whose addresses need a region, with the list to check it against (empty: any
/// non-empty text) and what to ask for.
const REGIONS: &[(&str, &[Region], &str)] = &[
    ("US", US_STATES, "Enter the state, like CA or California."),
    (
        "CA",
        CA_PROVINCES,
        "Enter the province or territory, like ON or Ontario.",
    ),
    (
        "AU",
        AU_STATES,
        "Enter the state or territory, like NSW or New South Wales.",
    ),
    ("BR", &[], "Enter the state."),
    ("MX", &[], "Enter the state."),
    ("IN", &[], "Enter the state or union territory."),
    ("CN", &[], "Enter the province."),
    ("JP", &[], "Enter the prefecture."),
];

/// The region's code when `state` names one of `country`'s listed regions; `state` itself
/// otherwise (a country without a list, or a typo that [`region_problem`] reports).
pub(super) fn region_code(country: &str, state: &str) -> String {
    REGIONS
        .iter()
        .find(|(c, ..)| *c == country)
        .and_then(|(_, list, _)| {
            list.iter()
                .find(|(code, name)| {
                    code.eq_ignore_ascii_case(state) || name.eq_ignore_ascii_case(state)
                })
                .map(|(code, _)| (*code).to_owned())
        })
        .unwrap_or_else(|| state.to_owned())
}

/// What is wrong with `state` for an address in `country`, if anything.
pub(super) fn region_problem(country: &str, state: &str) -> Option<&'static str> {
    let (_, list, ask) = REGIONS.iter().find(|(c, ..)| *c == country)?;
    let known = (list.is_empty() && !state.is_empty())
        || list.iter().any(|(code, name)| {
            code.eq_ignore_ascii_case(state) || name.eq_ignore_ascii_case(state)
        });
    (!known).then_some(*ask)
}

/// Postcode shapes: `#` a digit (ASCII: full-width digits are digits to Unicode, not to a post
/// office), `@` a letter, anything else itself (letters in any case). Matched against the
/// postcode with its spaces removed, so "123 45" and "12345" are the same Swedish postcode.
const POSTCODES: &[(&str, &[&str], &str)] = &[
    (
        "US",
        &["#####", "#####-####"],
        "Enter a ZIP code, like 94105 or 94105-1234.",
    ),
    ("CA", &["@#@#@#"], "Enter a postal code, like K1A 0B1."),
    ("NL", &["####@@"], "Enter a postcode like 1234 AB."),
    ("DE", &["#####"], "Enter a five-digit postcode."),
    ("FR", &["#####"], "Enter a five-digit postcode."),
    ("ES", &["#####"], "Enter a five-digit postcode."),
    ("IT", &["#####"], "Enter a five-digit postcode."),
    ("FI", &["#####"], "Enter a five-digit postcode."),
    ("SE", &["#####"], "Enter a postcode like 123 45."),
    ("CZ", &["#####"], "Enter a postcode like 123 45."),
    ("SK", &["#####"], "Enter a postcode like 123 45."),
    ("GR", &["#####"], "Enter a postcode like 123 45."),
    ("HR", &["#####"], "Enter a five-digit postcode."),
    ("EE", &["#####"], "Enter a five-digit postcode."),
    ("MX", &["#####"], "Enter a five-digit postcode."),
    ("KR", &["#####"], "Enter a five-digit postcode."),
    (
        "LT",
        &["#####", "LT-#####"],
        "Enter a postcode like LT-12345.",
    ),
    ("LV", &["####", "LV-####"], "Enter a postcode like LV-1234."),
    ("LU", &["####", "L-####"], "Enter a postcode like L-1234."),
    ("AT", &["####"], "Enter a four-digit postcode."),
    ("BE", &["####"], "Enter a four-digit postcode."),
    ("CH", &["####"], "Enter a four-digit postcode."),
    ("DK", &["####"], "Enter a four-digit postcode."),
    ("NO", &["####"], "Enter a four-digit postcode."),
    ("HU", &["####"], "Enter a four-digit postcode."),
    ("SI", &["####"], "Enter a four-digit postcode."),
    ("BG", &["####"], "Enter a four-digit postcode."),
    ("CY", &["####"], "Enter a four-digit postcode."),
    ("AU", &["####"], "Enter a four-digit postcode."),
    ("NZ", &["####"], "Enter a four-digit postcode."),
    ("ZA", &["####"], "Enter a four-digit postcode."),
    ("IS", &["###"], "Enter a three-digit postcode."),
    ("PL", &["##-###"], "Enter a postcode like 00-950."),
    ("PT", &["####-###"], "Enter a postcode like 1000-001."),
    (
        "JP",
        &["###-####", "#######"],
        "Enter a postcode like 100-0001.",
    ),
    (
        "BR",
        &["#####-###", "########"],
        "Enter a CEP like 01310-100.",
    ),
    ("RO", &["######"], "Enter a six-digit postcode."),
    ("CN", &["######"], "Enter a six-digit postcode."),
    ("SG", &["######"], "Enter a six-digit postcode."),
    ("IN", &["######"], "Enter a six-digit PIN code."),
    ("IL", &["#######"], "Enter a seven-digit postcode."),
    ("CL", &["#######"], "Enter a seven-digit postcode."),
    (
        "MT",
        &["@@@####", "@@####"],
        "Enter a postcode like VLT 1117.",
    ),
];

/// Countries where many addresses have no postcode (Ireland's Eircode is optional; Hong Kong
/// and the Emirates have none): an empty one is fine there, anything typed is kept.
const POSTCODE_OPTIONAL: &[&str] = &["IE", "HK", "AE"];

fn matches(pattern: &str, compact: &[char]) -> bool {
    pattern.chars().count() == compact.len()
        && pattern.chars().zip(compact).all(|(p, c)| match p {
            '#' => c.is_ascii_digit(),
            '@' => c.is_ascii_alphabetic(),
            literal => literal.eq_ignore_ascii_case(c),
        })
}

/// What is wrong with `postcode` for an address in `country`, if anything.
pub(super) fn postcode_problem(country: &str, postcode: &str) -> Option<&'static str> {
    let compact: Vec<char> = postcode.chars().filter(|c| !c.is_whitespace()).collect();
    if country == "GB" {
        return (!uk_postcode(&compact)).then_some("Enter a UK postcode, like SW1A 1AA.");
    }
    if let Some((_, patterns, message)) = POSTCODES.iter().find(|(c, ..)| *c == country) {
        return (!patterns.iter().any(|p| matches(p, &compact))).then_some(*message);
    }
    (compact.is_empty() && !POSTCODE_OPTIONAL.contains(&country)).then_some("Enter the postcode.")
}

/// Outward code (a letter, then letters and digits) and inward code (a digit, two letters).
fn uk_postcode(compact: &[char]) -> bool {
    let all = |part: &[char], test: fn(&char) -> bool| part.iter().all(test);
    (5..=7).contains(&compact.len())
        && all(compact, char::is_ascii_alphanumeric)
        && compact[0].is_ascii_alphabetic()
        && {
            let inward = &compact[compact.len() - 3..];
            inward[0].is_ascii_digit()
                && inward[1].is_ascii_alphabetic()
                && inward[2].is_ascii_alphabetic()
        }
}

/// A valid postcode as its post office writes it, where the space is part of the format and
/// people often leave it out ("sw1a1aa" → "SW1A 1AA"): the same address then reads, prints
/// and fingerprints the same however it was typed. Other postcodes are kept as typed
/// (uppercased by the form).
pub(super) fn tidy_postcode(country: &str, postcode: &str) -> String {
    let compact: String = postcode.chars().filter(|c| !c.is_whitespace()).collect();
    match country {
        "GB" | "CA" if postcode_problem(country, postcode).is_none() => {
            // Both end in a three-character inward part, ASCII by now.
            let (outward, inward) = compact.split_at(compact.len() - 3);
            format!("{outward} {inward}")
        }
        _ => postcode.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_by_country() {
        assert!(postcode_problem("GB", "EC1A 1BB").is_none());
        assert!(postcode_problem("GB", "12345").is_some());
        assert!(postcode_problem("US", "94105-1234").is_none());
        assert!(postcode_problem("US", "9410").is_some());
        assert!(postcode_problem("NL", "1234 AB").is_none());
        assert!(postcode_problem("IE", "").is_none());
        assert!(postcode_problem("JP", "").is_some());
        assert!(postcode_problem("JP", "100-0001").is_none());
        assert!(postcode_problem("CA", "k1a 0b1").is_none());
        assert!(postcode_problem("CA", "K1A 0B").is_some());
        assert!(postcode_problem("SE", "123 45").is_none());
        assert!(postcode_problem("PL", "00-950").is_none());
        assert!(postcode_problem("PL", "00950").is_some());
        assert!(postcode_problem("AU", "2000").is_none());
        assert!(postcode_problem("AU", "20000").is_some());
        assert!(postcode_problem("LV", "lv-1050").is_none());
        assert!(postcode_problem("MT", "VLT 1117").is_none());
        // No rule for the country: anything but nothing.
        assert!(postcode_problem("AR", "C1425").is_none());
        assert!(postcode_problem("AR", " ").is_some());
    }

    #[test]
    fn every_shipping_country_has_a_rule_or_is_optional() {
        for (code, _) in super::super::COUNTRIES {
            let listed = *code == "GB"
                || POSTCODES.iter().any(|(c, ..)| c == code)
                || POSTCODE_OPTIONAL.contains(code);
            // Argentina's two formats (old four digits, new CPA) live side by side.
            assert!(listed || *code == "AR", "no postcode rule for {code}");
        }
        let ruled = POSTCODES.iter().map(|(c, ..)| *c);
        for code in ruled.chain(REGIONS.iter().map(|(c, ..)| *c)) {
            assert!(
                super::super::country_name(code).is_some(),
                "{code} has rules but isn't a country the shop ships to"
            );
        }
    }

    #[test]
    fn multibyte_postcodes_are_refused_not_sliced() {
        // "123é5" is six bytes: a byte-position rule would slice inside the "é" and panic.
        for country in ["NL", "US", "GB", "DE", "FR", "JP", "IE", "CA", "PL"] {
            for postcode in [
                "123é5",
                "1234 ÅB",
                "12345-678é",
                "é",
                "SW1A 1Aé",
                "ｓｗ１ａ１ａａ",
                "💷💷💷💷💷💷",
            ] {
                let problem = postcode_problem(country, postcode);
                if country != "IE" {
                    assert!(problem.is_some(), "{country} accepted {postcode:?}");
                }
                // Tidying never slices either.
                let _ = tidy_postcode(country, postcode);
            }
        }
        // Full-width digits are digits to Unicode, not to the Dutch post office.
        assert!(postcode_problem("NL", "１２３４AB").is_some());
        assert!(postcode_problem("NL", "1234ÅB").is_some());
        assert!(postcode_problem("NL", "1234 ab").is_none());
    }

    #[test]
    fn tidy_postcodes_put_the_space_back() {
        assert_eq!(tidy_postcode("GB", "SW1A1AA"), "SW1A 1AA");
        assert_eq!(tidy_postcode("GB", "SW1A  1AA"), "SW1A 1AA");
        assert_eq!(tidy_postcode("CA", "K1A0B1"), "K1A 0B1");
        assert_eq!(tidy_postcode("GB", "NOPE"), "NOPE");
        assert_eq!(tidy_postcode("SE", "12345"), "12345");
    }

    #[test]
    fn regions_where_the_post_needs_them() {
        assert!(region_problem("US", "").is_some());
        assert!(region_problem("US", "ca").is_none());
        assert!(region_problem("US", "california").is_none());
        assert!(region_problem("US", "Narnia").is_some());
        assert!(region_problem("CA", "Quebec").is_none());
        assert!(region_problem("AU", "nsw").is_none());
        assert!(region_problem("AU", "ON").is_some());
        assert!(region_problem("BR", "São Paulo").is_none());
        assert!(region_problem("BR", "").is_some());
        assert!(region_problem("GB", "").is_none());
        assert_eq!(region_code("US", "new york"), "NY");
        assert_eq!(region_code("AU", "Victoria"), "VIC");
        assert_eq!(region_code("GB", "Kent"), "Kent");
    }
}
