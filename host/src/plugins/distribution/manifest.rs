//! `plugin.toml`: what a plugin is, which world it implements, what it may do and which
//! configuration it takes. Parsed and validated before any WebAssembly is touched.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use semver::{Version, VersionReq};
use serde::Deserialize;

/// The WIT package versions this host accepts (see wit/README.md: released versions are frozen,
/// the host keeps adapters for the versions in this range).
pub const ACCEPTED_WIT: &str = ">=0.1.0, <0.2.0";

/// The extension point a plugin implements: one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum World {
    PricingStrategy,
    OfferCondition,
    ShippingMethod,
    /// `shipping-method` plus outgoing HTTP (live carrier rates).
    ShippingMethodHttp,
    PaymentGateway,
    ThemeExtension,
}

impl World {
    pub const ALL: [World; 6] = [
        World::PricingStrategy,
        World::OfferCondition,
        World::ShippingMethod,
        World::ShippingMethodHttp,
        World::PaymentGateway,
        World::ThemeExtension,
    ];

    /// The world's name in WIT and in `plugin.toml`.
    pub fn name(self) -> &'static str {
        match self {
            World::PricingStrategy => "pricing-strategy",
            World::OfferCondition => "offer-condition",
            World::ShippingMethod => "shipping-method",
            World::ShippingMethodHttp => "shipping-method-http",
            World::PaymentGateway => "payment-gateway",
            World::ThemeExtension => "theme-extension",
        }
    }

    /// The interface the component must export (unversioned name).
    pub fn export_interface(self) -> &'static str {
        match self {
            World::PricingStrategy => "emporium:plugin/pricing",
            World::OfferCondition => "emporium:plugin/offer",
            World::ShippingMethod | World::ShippingMethodHttp => "emporium:plugin/shipping",
            World::PaymentGateway => "emporium:plugin/payment",
            World::ThemeExtension => "emporium:plugin/theme",
        }
    }

    /// Whether the world may import `wasi:http/outgoing-handler`.
    pub fn allows_http(self) -> bool {
        matches!(self, World::PaymentGateway | World::ShippingMethodHttp)
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for World {
    type Err = String;
    fn from_str(s: &str) -> Result<World, String> {
        World::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = World::ALL.iter().map(|w| w.name()).collect();
                format!("unknown world {s:?} (expected one of {})", names.join(", "))
            })
    }
}

/// The type of a configuration field. Values are always carried as text (that is what the
/// guest's `config-get` returns); the type says which text is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigType {
    String,
    Integer,
    Decimal,
    Boolean,
}

/// One field of a plugin's configuration schema.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConfigType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    /// Secret values (API keys) are stored apart, never logged, never rendered.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub help: String,
    /// The only values allowed, when the setting is a choice (the dashboard shows a list).
    #[serde(default)]
    pub choices: Vec<String>,
}

/// HTTP permission: the hosts a plugin may call (`[permissions.http] hosts = [...]`). An entry
/// is a host name (any port) or `host:port`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPermission {
    #[serde(default)]
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    #[serde(default)]
    pub http: HttpPermission,
}

/// Resources a plugin asks for beyond the host's defaults (`[limits]`). Interpreted guests
/// (Python, JavaScript) need more time per call than compiled ones: a call costs them a few
/// milliseconds, so under load the default budget is too tight. The host grants at most its own
/// caps (`RuntimeConfig::max_call_budget`, `max_memory_limit`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// CPU budget of one call, in milliseconds.
    #[serde(default)]
    pub time_budget_ms: Option<u64>,
    /// Linear memory cap of one call, in MiB.
    #[serde(default)]
    pub memory_mib: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: String,
    name: String,
    version: String,
    world: String,
    wit_version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    license: String,
    #[serde(default)]
    permissions: Permissions,
    #[serde(default)]
    payment: PaymentOptions,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    config: Vec<ConfigField>,
}

/// `[payment]`: how the shop's checkout talks to a payment gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentOptions {
    /// The shop shows its card form and passes the card in `payment-request.card`
    /// (`card_form = true`); otherwise the gateway is expected to redirect.
    #[serde(default)]
    pub card_form: bool,
}

/// A validated `plugin.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: Version,
    pub world: World,
    pub wit_version: Version,
    pub description: String,
    pub author: String,
    pub license: String,
    pub permissions: Permissions,
    pub payment: PaymentOptions,
    pub limits: Limits,
    pub config: Vec<ConfigField>,
}

/// Why a manifest was refused. Each message names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("plugin.toml is not valid TOML or has unexpected fields: {0}")]
    Syntax(String),
    #[error("plugin.toml field `{field}`: {message}")]
    Field { field: String, message: String },
    #[error("plugin {id} targets WIT {version}, outside the accepted range {accepted}")]
    WitVersion {
        id: String,
        version: Version,
        accepted: String,
    },
}

fn field(field: &str, message: impl Into<String>) -> ManifestError {
    ManifestError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Plugin ids and config names: lower-case ASCII letters, digits, `-` and `_`, starting with a
/// letter; they end up in paths, logs and database keys.
fn valid_ident(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn valid_host(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (h, None),
    };
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

impl Manifest {
    /// Parses and validates a manifest; `accepted` is the WIT version range this host loads.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        if !valid_ident(&raw.id, 64) {
            return Err(field(
                "id",
                format!(
                    "{:?} must be 1-64 lower-case letters, digits, `-` or `_`, starting with a letter",
                    raw.id
                ),
            ));
        }
        if raw.name.trim().is_empty() || raw.name.len() > 100 {
            return Err(field("name", "must be 1-100 characters"));
        }
        let version = Version::parse(&raw.version)
            .map_err(|e| field("version", format!("{:?} is not semver: {e}", raw.version)))?;
        let world: World = raw.world.parse().map_err(|e: String| field("world", e))?;
        let wit_version = Version::parse(&raw.wit_version).map_err(|e| {
            field(
                "wit_version",
                format!("{:?} is not semver: {e}", raw.wit_version),
            )
        })?;
        let accepted =
            VersionReq::parse(ACCEPTED_WIT).map_err(|e| field("wit_version", e.to_string()))?;
        if !accepted.matches(&wit_version) {
            return Err(ManifestError::WitVersion {
                id: raw.id,
                version: wit_version,
                accepted: ACCEPTED_WIT.to_string(),
            });
        }
        if !raw.permissions.http.hosts.is_empty() && !world.allows_http() {
            return Err(field(
                "permissions.http.hosts",
                format!("the {world} world cannot make HTTP requests"),
            ));
        }
        for h in &raw.permissions.http.hosts {
            if !valid_host(h) {
                return Err(field(
                    "permissions.http.hosts",
                    format!("{h:?} is not a host name or host:port"),
                ));
            }
        }
        if raw.limits.time_budget_ms == Some(0) {
            return Err(field("limits.time_budget_ms", "must be at least 1"));
        }
        if raw.limits.memory_mib == Some(0) {
            return Err(field("limits.memory_mib", "must be at least 1"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &raw.config {
            let at = format!("config.{}", f.name);
            if !valid_ident(&f.name, 64) {
                return Err(field(
                    &at,
                    "name must be lower-case letters, digits, `-` or `_`",
                ));
            }
            if !seen.insert(f.name.clone()) {
                return Err(field(&at, "declared twice"));
            }
            if let Some(default) = &f.default
                && !default.is_empty()
                && let Err(message) = check_value(f.kind, default)
            {
                return Err(field(&at, format!("default: {message}")));
            }
            if f.secret && f.default.as_deref().is_some_and(|d| !d.is_empty()) {
                return Err(field(&at, "a secret cannot have a default"));
            }
            if let Some(bad) = f.choices.iter().find(|c| check_value(f.kind, c).is_err()) {
                return Err(field(
                    &at,
                    format!("choice {bad:?} is not a valid {:?}", f.kind),
                ));
            }
            if let Some(default) = f.default.as_deref().filter(|d| !d.is_empty())
                && !f.choices.is_empty()
                && !f.choices.iter().any(|c| c == default)
            {
                return Err(field(&at, "the default must be one of the choices"));
            }
        }
        Ok(Manifest {
            id: raw.id,
            name: raw.name,
            version,
            world,
            wit_version,
            description: raw.description,
            author: raw.author,
            license: raw.license,
            permissions: raw.permissions,
            payment: raw.payment,
            limits: raw.limits,
            config: raw.config,
        })
    }

    /// Checks `values` against the schema and returns every problem at once, so an admin form
    /// can show them next to their fields. Unknown keys are errors (a typo must not be ignored
    /// silently); missing required fields without a default are errors.
    pub fn validate_config(&self, values: &ConfigValues) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        for key in values.values.keys() {
            if !self.config.iter().any(|f| &f.name == key) {
                errors.push(FieldError {
                    field: key.clone(),
                    message: "is not a setting of this plugin".into(),
                });
            }
        }
        for f in &self.config {
            match values.values.get(&f.name).filter(|v| !v.is_empty()) {
                Some(value) if !f.choices.is_empty() && !f.choices.iter().any(|c| c == value) => {
                    errors.push(FieldError {
                        field: f.name.clone(),
                        message: format!("must be one of: {}", f.choices.join(", ")),
                    });
                }
                Some(value) => {
                    if let Err(message) = check_value(f.kind, value) {
                        errors.push(FieldError {
                            field: f.name.clone(),
                            // Never echo a secret value back, even in an error.
                            message: if f.secret {
                                "is not valid".to_string()
                            } else {
                                message
                            },
                        });
                    }
                }
                None => {
                    if f.required && f.default.as_deref().is_none_or(str::is_empty) {
                        errors.push(FieldError {
                            field: f.name.clone(),
                            message: "is required".into(),
                        });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The value a guest sees for `key`: the admin's value, else the schema default.
    pub fn config_value<'a>(&'a self, values: &'a ConfigValues, key: &str) -> Option<&'a str> {
        let f = self.config.iter().find(|f| f.name == key)?;
        values
            .values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
            .or(f.default.as_deref())
    }

    /// Names of the secret fields (to store apart and to redact).
    pub fn secret_fields(&self) -> impl Iterator<Item = &str> {
        self.config
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.name.as_str())
    }
}

fn check_value(kind: ConfigType, value: &str) -> Result<(), String> {
    let ok = match kind {
        ConfigType::String => value.len() <= 4096,
        ConfigType::Integer => value.trim().parse::<i64>().is_ok(),
        ConfigType::Decimal => {
            let t = value.trim();
            !t.contains(['e', 'E']) && Decimal::from_str(t).is_ok()
        }
        ConfigType::Boolean => matches!(value, "true" | "false"),
    };
    if ok {
        Ok(())
    } else {
        Err(match kind {
            ConfigType::String => "is longer than 4096 bytes".to_string(),
            ConfigType::Integer => format!("{value:?} is not an integer"),
            ConfigType::Decimal => format!("{value:?} is not a decimal number"),
            ConfigType::Boolean => format!("{value:?} is not `true` or `false`"),
        })
    }
}

/// One invalid configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.message)
    }
}

/// A plugin's configuration values (text, as the guest sees them). `Debug` prints the keys
/// only, so neither secrets nor customer-specific settings reach a log by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConfigValues {
    values: BTreeMap<String, String>,
}

impl ConfigValues {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.into(), value.into());
        self
    }

    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl FromIterator<(String, String)> for ConfigValues {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        ConfigValues {
            values: iter.into_iter().collect(),
        }
    }
}

impl fmt::Debug for ConfigValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.keys().map(|k| (k, "<redacted>")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "redirect-gateway"
name = "Redirect"
version = "1.2.3"
world = "payment-gateway"
wit_version = "0.1.0"

[permissions.http]
hosts = ["127.0.0.1", "api.example.com:8443"]

[[config]]
name = "api_key"
type = "string"
secret = true
required = true

[[config]]
name = "limit"
type = "decimal"
default = "10.50"
"#;

    #[test]
    fn parses_a_valid_manifest() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.world, World::PaymentGateway);
        assert_eq!(m.version, Version::new(1, 2, 3));
        assert_eq!(m.secret_fields().collect::<Vec<_>>(), ["api_key"]);
    }

    #[test]
    fn refuses_bad_manifests_naming_the_field() {
        let cases = [
            (GOOD.replace("redirect-gateway", "Bad Id"), "id"),
            (GOOD.replace("\"1.2.3\"", "\"one\""), "version"),
            (GOOD.replace("payment-gateway", "sorcery"), "world"),
            (GOOD.replace("\"10.50\"", "\"ten\""), "config.limit"),
            (
                GOOD.replace("payment-gateway", "shipping-method"),
                "permissions.http.hosts",
            ),
        ];
        for (text, name) in cases {
            match Manifest::parse(&text) {
                Err(ManifestError::Field { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(matches!(
            Manifest::parse(&GOOD.replace("wit_version = \"0.1.0\"", "wit_version = \"0.2.0\"")),
            Err(ManifestError::WitVersion { .. })
        ));
        assert!(matches!(
            Manifest::parse(&format!("{GOOD}\nsurprise = 1")),
            Err(ManifestError::Syntax(_))
        ));
    }

    #[test]
    fn config_validation_lists_every_field_error() {
        let m = Manifest::parse(GOOD).unwrap();
        let errors = m
            .validate_config(
                &ConfigValues::new()
                    .with("limit", "lots")
                    .with("colour", "red"),
            )
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["colour", "api_key", "limit"]);
        assert!(
            m.validate_config(&ConfigValues::new().with("api_key", "sk_live_1"))
                .is_ok()
        );
    }

    #[test]
    fn defaults_apply_and_secrets_do_not_print() {
        let m = Manifest::parse(GOOD).unwrap();
        let values = ConfigValues::new().with("api_key", "sk_live_SECRET");
        assert_eq!(m.config_value(&values, "limit"), Some("10.50"));
        assert_eq!(m.config_value(&values, "api_key"), Some("sk_live_SECRET"));
        assert_eq!(m.config_value(&values, "nope"), None);
        assert!(!format!("{values:?}").contains("SECRET"));
    }
}
