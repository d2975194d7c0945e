//! Typed product attributes (Oscar's EAV): each product class declares attributes of a kind;
//! values are validated against that kind before they are stored.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    Text,
    Integer,
    Boolean,
    Float,
    RichText,
    Date,
    DateTime,
    Option,
    MultiOption,
    Entity,
    File,
    Image,
}

impl AttributeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeKind::Text => "text",
            AttributeKind::Integer => "integer",
            AttributeKind::Boolean => "boolean",
            AttributeKind::Float => "float",
            AttributeKind::RichText => "richtext",
            AttributeKind::Date => "date",
            AttributeKind::DateTime => "datetime",
            AttributeKind::Option => "option",
            AttributeKind::MultiOption => "multi_option",
            AttributeKind::Entity => "entity",
            AttributeKind::File => "file",
            AttributeKind::Image => "image",
        }
    }

    pub fn parse(s: &str) -> Option<AttributeKind> {
        Some(match s {
            "text" => AttributeKind::Text,
            "integer" => AttributeKind::Integer,
            "boolean" => AttributeKind::Boolean,
            "float" => AttributeKind::Float,
            "richtext" => AttributeKind::RichText,
            "date" => AttributeKind::Date,
            "datetime" => AttributeKind::DateTime,
            "option" => AttributeKind::Option,
            "multi_option" => AttributeKind::MultiOption,
            "entity" => AttributeKind::Entity,
            "file" => AttributeKind::File,
            "image" => AttributeKind::Image,
            _ => return None,
        })
    }
}

/// An attribute as a product class declares it.
#[derive(Debug, Clone)]
pub struct AttributeDef {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: AttributeKind,
    pub required: bool,
    /// Allowed values for option and multi-option attributes.
    pub options: Vec<String>,
}

/// A validated value, ready to store in the column its kind uses.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Float(f64),
    RichText(String),
    Date(time::Date),
    DateTime(time::OffsetDateTime),
    Option(String),
    MultiOption(Vec<String>),
    Entity {
        kind: String,
        id: i64,
    },
    /// A path relative to the media folder (files and images).
    File(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{attribute}: {message}")]
pub struct AttributeError {
    pub attribute: String,
    pub message: String,
}

/// What a caller submits for an attribute: text from a form, CSV or API.
#[derive(Debug, Clone)]
pub enum RawValue<'a> {
    One(&'a str),
    Many(&'a [&'a str]),
}

impl AttributeDef {
    /// Checks `raw` against this attribute's kind; `Ok(None)` means "no value" (allowed only when
    /// the attribute is optional).
    pub fn validate(&self, raw: RawValue<'_>) -> Result<Option<AttributeValue>, AttributeError> {
        let fail = |message: String| AttributeError {
            attribute: self.name.clone(),
            message,
        };
        let one = match raw {
            RawValue::One(s) => s.trim(),
            RawValue::Many(values) if self.kind == AttributeKind::MultiOption => {
                return self.validate_multi(values);
            }
            RawValue::Many(_) => return Err(fail("takes a single value".into())),
        };
        if one.is_empty() {
            return if self.required {
                Err(fail("is required".into()))
            } else {
                Ok(None)
            };
        }
        let value = match self.kind {
            AttributeKind::Text => AttributeValue::Text(one.to_owned()),
            AttributeKind::RichText => AttributeValue::RichText(one.to_owned()),
            AttributeKind::Integer => AttributeValue::Integer(
                one.parse()
                    .map_err(|_| fail(format!("{one:?} is not a whole number")))?,
            ),
            AttributeKind::Boolean => {
                AttributeValue::Boolean(match one.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "on" => true,
                    "false" | "no" | "0" | "off" => false,
                    _ => return Err(fail(format!("{one:?} is not yes or no"))),
                })
            }
            AttributeKind::Float => {
                let v: f64 = one
                    .parse()
                    .map_err(|_| fail(format!("{one:?} is not a number")))?;
                if !v.is_finite() {
                    return Err(fail(format!("{one:?} is not a finite number")));
                }
                AttributeValue::Float(v)
            }
            AttributeKind::Date => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                AttributeValue::Date(
                    time::Date::parse(one, &format)
                        .map_err(|_| fail(format!("{one:?} is not a date (YYYY-MM-DD)")))?,
                )
            }
            AttributeKind::DateTime => AttributeValue::DateTime(
                time::OffsetDateTime::parse(one, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| fail(format!("{one:?} is not an RFC 3339 date-time")))?,
            ),
            AttributeKind::Option => {
                if !self.options.iter().any(|o| o == one) {
                    return Err(fail(format!(
                        "{one:?} is not one of: {}",
                        self.options.join(", ")
                    )));
                }
                AttributeValue::Option(one.to_owned())
            }
            AttributeKind::MultiOption => return self.validate_multi(&[one]),
            AttributeKind::Entity => {
                let (kind, id) = one
                    .split_once(':')
                    .ok_or_else(|| fail(format!("{one:?} is not kind:id")))?;
                let id = id
                    .parse()
                    .map_err(|_| fail(format!("{one:?} has no numeric id")))?;
                AttributeValue::Entity {
                    kind: kind.to_owned(),
                    id,
                }
            }
            AttributeKind::File | AttributeKind::Image => {
                if one.starts_with('/') || one.split('/').any(|part| part == "..") {
                    return Err(fail(format!(
                        "{one:?} must be a path inside the media folder"
                    )));
                }
                AttributeValue::File(one.to_owned())
            }
        };
        Ok(Some(value))
    }

    fn validate_multi(&self, values: &[&str]) -> Result<Option<AttributeValue>, AttributeError> {
        let mut chosen: Vec<String> = Vec::new();
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            if !self.options.iter().any(|o| o == v) {
                return Err(AttributeError {
                    attribute: self.name.clone(),
                    message: format!("{v:?} is not one of: {}", self.options.join(", ")),
                });
            }
            if !chosen.iter().any(|c| c == v) {
                chosen.push(v.to_owned());
            }
        }
        match (chosen.is_empty(), self.required) {
            (true, true) => Err(AttributeError {
                attribute: self.name.clone(),
                message: "is required".into(),
            }),
            (true, false) => Ok(None),
            (false, _) => Ok(Some(AttributeValue::MultiOption(chosen))),
        }
    }
}

impl AttributeValue {
    /// How a value reads on a product page.
    pub fn display(&self) -> String {
        match self {
            AttributeValue::Text(s)
            | AttributeValue::RichText(s)
            | AttributeValue::Option(s)
            | AttributeValue::File(s) => s.clone(),
            AttributeValue::Integer(i) => i.to_string(),
            AttributeValue::Boolean(b) => if *b { "Yes" } else { "No" }.into(),
            AttributeValue::Float(f) => f.to_string(),
            AttributeValue::Date(d) => d.to_string(),
            AttributeValue::DateTime(d) => d
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            AttributeValue::MultiOption(v) => v.join(", "),
            AttributeValue::Entity { kind, id } => format!("{kind} #{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: AttributeKind, required: bool) -> AttributeDef {
        AttributeDef {
            id: 1,
            code: "a".into(),
            name: "Attr".into(),
            kind,
            required,
            options: vec!["Red".into(), "Blue".into()],
        }
    }

    #[test]
    fn each_kind_parses_its_values() {
        let ok = |k, s| def(k, false).validate(RawValue::One(s)).unwrap().unwrap();
        assert_eq!(
            ok(AttributeKind::Integer, " 42 "),
            AttributeValue::Integer(42)
        );
        assert_eq!(
            ok(AttributeKind::Boolean, "Yes"),
            AttributeValue::Boolean(true)
        );
        assert_eq!(ok(AttributeKind::Float, "1.5"), AttributeValue::Float(1.5));
        assert_eq!(
            ok(AttributeKind::Option, "Red"),
            AttributeValue::Option("Red".into())
        );
        assert_eq!(
            ok(AttributeKind::Date, "2026-02-28").display(),
            "2026-02-28"
        );
        assert_eq!(
            ok(AttributeKind::Entity, "partner:3"),
            AttributeValue::Entity {
                kind: "partner".into(),
                id: 3
            }
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_attribute_named() {
        let bad = |k, s: &str| def(k, false).validate(RawValue::One(s)).unwrap_err();
        assert!(
            bad(AttributeKind::Integer, "4.5")
                .message
                .contains("whole number")
        );
        assert!(bad(AttributeKind::Float, "NaN").message.contains("finite"));
        assert!(bad(AttributeKind::Float, "inf").message.contains("finite"));
        assert!(
            bad(AttributeKind::Boolean, "maybe")
                .message
                .contains("yes or no")
        );
        assert!(
            bad(AttributeKind::Date, "2026-02-30")
                .message
                .contains("date")
        );
        assert!(
            bad(AttributeKind::Option, "Green")
                .message
                .contains("Red, Blue")
        );
        assert!(
            bad(AttributeKind::File, "../etc/passwd")
                .message
                .contains("media")
        );
        assert_eq!(bad(AttributeKind::Option, "Pink").attribute, "Attr");
    }

    #[test]
    fn required_and_optional() {
        let required = def(AttributeKind::Text, true);
        assert_eq!(
            required.validate(RawValue::One("  ")).unwrap_err().message,
            "is required"
        );
        assert_eq!(
            def(AttributeKind::Text, false)
                .validate(RawValue::One(""))
                .unwrap(),
            None
        );
        let multi = def(AttributeKind::MultiOption, true);
        assert!(multi.validate(RawValue::Many(&[])).is_err());
        assert_eq!(
            multi
                .validate(RawValue::Many(&["Blue", "Red", "Blue"]))
                .unwrap(),
            Some(AttributeValue::MultiOption(vec![
                "Blue".into(),
                "Red".into()
            ]))
        );
        assert!(multi.validate(RawValue::Many(&["Blue", "Pink"])).is_err());
        assert!(
            def(AttributeKind::Integer, false)
                .validate(RawValue::Many(&["1"]))
                .is_err()
        );
    }
}
