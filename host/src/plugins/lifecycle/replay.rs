//! Shadow runs: a candidate version of an installed plugin answers the calls its current
//! version recorded (see [`super::trace`]), and the report names every decision that would
//! change, before the upgrade goes live.
//!
//! The candidate runs in a registry of its own (nothing the shop calls can reach it) with the
//! installed plugin's configuration and approved hosts, and nothing it answers is recorded.
//! Inputs are the recorded ones, masked as they were stored: a rule that reads a customer's
//! street line or the local part of an email sees `***` in both runs. Payment calls are never
//! replayed: they move money at a provider. A live-rates shipping candidate
//! (`shipping-method-http`) does make its requests, to the hosts approved for the installed
//! version.

use std::path::Path;
use std::sync::Arc;

use semver::VersionReq;

use super::service::{fetch, stage};
use super::sync::load_verified;
use super::trace::{self, StoredTrace};
use super::{PluginHost, ServiceError};
use crate::infra::db::Db;
use crate::plugins::calls::{ConditionInput, PricingContext, PricingItem, ShippingRequest};
use crate::plugins::distribution::directory::{Directory, TrustPolicy};
use crate::plugins::runtime::trace::to_json_scrubbed;
use crate::plugins::runtime::{
    InstallOptions, LoadedPlugin, PluginError, PluginRegistry, TracedCall,
};

/// Where the candidate version comes from.
pub enum Candidate<'a> {
    /// A version from the plugin directory, verified as an install would verify it.
    Directory {
        directory: &'a Directory,
        version: VersionReq,
        trust: &'a TrustPolicy,
    },
    /// A package folder or `.tar.gz` on this machine (a plugin developer's build).
    Package(&'a Path),
}

/// Which recorded calls to replay.
#[derive(Debug, Clone)]
pub struct ReplayScope {
    /// Only calls recorded at or after this time (RFC 3339).
    pub since: Option<String>,
    /// At most this many calls, oldest first.
    pub limit: i64,
}

impl Default for ReplayScope {
    fn default() -> Self {
        ReplayScope {
            since: None,
            limit: 10_000,
        }
    }
}

/// A recorded decision the candidate makes differently.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Changed {
    pub trace: StoredTrace,
    /// The candidate's answer (JSON) or error.
    pub candidate: Result<String, String>,
    /// Where the two answers differ, one line per difference (`[0].charge_excl_tax: "7.00" →
    /// "9.00"`).
    pub differences: Vec<String>,
}

/// What a shadow run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplayReport {
    pub plugin_id: String,
    pub candidate: String,
    /// The versions that made the recorded decisions.
    pub recorded_versions: Vec<String>,
    /// Recorded calls read (replayed or not).
    pub recorded: usize,
    pub replayed: usize,
    pub unchanged: usize,
    pub changed: Vec<Changed>,
    /// Payment calls, and calls whose recorded input could not be read back.
    pub skipped: usize,
}

impl std::fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Replayed {} of {} recorded calls of {} (recorded by {}) against {}: {} unchanged, {} changed, {} skipped.",
            self.replayed,
            self.recorded,
            self.plugin_id,
            if self.recorded_versions.is_empty() {
                "no version".to_string()
            } else {
                self.recorded_versions.join(", ")
            },
            self.candidate,
            self.unchanged,
            self.changed.len(),
            self.skipped
        )?;
        for c in &self.changed {
            let about = match (&c.trace.basket_id, &c.trace.order_number) {
                (Some(b), _) => format!("basket {b}"),
                (None, Some(o)) => format!("order {o}"),
                (None, None) => "no basket".to_string(),
            };
            writeln!(
                f,
                "trace {} ({}, {} {}, {about}):",
                c.trace.id, c.trace.recorded_at, c.trace.call, c.trace.plugin_version
            )?;
            for d in &c.differences {
                writeln!(f, "  {d}")?;
            }
        }
        Ok(())
    }
}

/// Runs `candidate` against the recorded calls of installed (or once installed) plugin `id`.
pub async fn replay(
    db: &Db,
    host: &PluginHost,
    id: &str,
    candidate: Candidate<'_>,
    scope: &ReplayScope,
) -> Result<ReplayReport, ServiceError> {
    let loaded = load_candidate(host, id, candidate).await?;
    let traces = trace::for_plugin(db, id, scope.since.as_deref(), scope.limit.max(1)).await?;
    // The installed plugin's settings, from the database (a one-shot command has nothing
    // loaded); a plugin removed since its calls were recorded runs on its defaults.
    let stored = super::store::get(&db.pool, id).await?;
    let options = InstallOptions {
        config: match &stored {
            Some(_) => super::store::full_config(&db.pool, id).await?,
            None => Default::default(),
        },
        approved_hosts: stored.map(|s| s.approved_hosts).unwrap_or_default(),
        ..InstallOptions::default()
    };
    let secrets: Vec<String> = loaded
        .manifest
        .config
        .iter()
        .filter(|f| f.secret)
        .filter_map(|f| options.config.get(&f.name).map(str::to_string))
        .collect();
    let shadow = Arc::new(PluginRegistry::new(host.registry().runtime().clone()));
    shadow.install(loaded.clone(), options)?;
    let candidate_ref = loaded.plugin.to_string();
    let id = id.to_string();
    // Plugin calls are blocking work; a day of quotes is thousands of them.
    tokio::task::spawn_blocking(move || {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let mut report = ReplayReport {
            plugin_id: id.clone(),
            candidate: candidate_ref,
            recorded_versions: Vec::new(),
            recorded: traces.len(),
            replayed: 0,
            unchanged: 0,
            changed: Vec::new(),
            skipped: 0,
        };
        for t in traces {
            if !report.recorded_versions.contains(&t.plugin_version) {
                report.recorded_versions.push(t.plugin_version.clone());
            }
            // A failing candidate is a finding, not a reason to stop the run.
            let _ = shadow.set_enabled(&id, true);
            let Some(answer) = call_again(&shadow, &id, &t, &secrets) else {
                report.skipped += 1;
                continue;
            };
            report.replayed += 1;
            match compare(&t.output, &answer) {
                None => report.unchanged += 1,
                Some(differences) => report.changed.push(Changed {
                    trace: t,
                    candidate: answer,
                    differences,
                }),
            }
        }
        report
    })
    .await
    .map_err(|e| ServiceError::Other(format!("the replay stopped: {e}")))
}

async fn load_candidate(
    host: &PluginHost,
    id: &str,
    candidate: Candidate<'_>,
) -> Result<Arc<LoadedPlugin>, ServiceError> {
    let staged = match candidate {
        Candidate::Directory {
            directory,
            version,
            trust,
        } => fetch(host, directory, id, &version, trust).await?,
        Candidate::Package(path) => stage(host, path).await?.0,
    };
    let loaded = load_verified(host.registry().runtime().clone(), staged.clone(), None).await;
    // The candidate is compiled and held in memory; its files are not kept.
    let _ = std::fs::remove_dir_all(&staged);
    let loaded = loaded?;
    if loaded.plugin.id != id {
        return Err(ServiceError::Other(format!(
            "the candidate is {}, not a version of {id}",
            loaded.plugin
        )));
    }
    Ok(loaded)
}

/// The candidate's answer to a recorded call (JSON, scrubbed as the recording was), or `None`
/// when the call is not replayed.
fn call_again(
    shadow: &PluginRegistry,
    id: &str,
    t: &StoredTrace,
    secrets: &[&str],
) -> Option<Result<String, String>> {
    let call = t.traced_call().filter(|c| c.replayable())?;
    fn answer<T: serde::Serialize>(
        r: Result<T, PluginError>,
        secrets: &[&str],
    ) -> Result<String, String> {
        r.map(|v| to_json_scrubbed(&v, secrets))
            .map_err(|e| e.to_string())
    }
    let input = &t.input;
    Some(match call {
        TracedCall::Quote => {
            let request: ShippingRequest = serde_json::from_str(input).ok()?;
            answer(shadow.quote_shipping(id, &request), secrets)
        }
        TracedCall::Price => {
            let (context, items): (PricingContext, Vec<PricingItem>) =
                serde_json::from_str(input).ok()?;
            answer(shadow.price(id, &context, &items), secrets)
        }
        TracedCall::CheckCondition => {
            let input: ConditionInput = serde_json::from_str(input).ok()?;
            answer(shadow.check_condition(id, &input), secrets)
        }
        TracedCall::ThemeFunctions => answer(shadow.theme_functions(id), secrets),
        TracedCall::ThemeCall => {
            #[derive(serde::Deserialize)]
            struct Call {
                name: String,
                args: serde_json::Value,
            }
            let c: Call = serde_json::from_str(input).ok()?;
            answer(shadow.theme_call(id, &c.name, &c.args), secrets)
        }
        TracedCall::Authorize
        | TracedCall::Capture
        | TracedCall::Refund
        | TracedCall::Void
        | TracedCall::HandleCallback => return None,
    })
}

/// `None` when the two answers are the same decision, else where they differ. Two failures
/// count as the same decision: their messages name the version that failed, so they always
/// differ in wording.
fn compare(
    recorded: &Result<String, String>,
    candidate: &Result<String, String>,
) -> Option<Vec<String>> {
    match (recorded, candidate) {
        (Err(_), Err(_)) => None,
        (Ok(before), Err(after)) => Some(vec![format!("answered {before}, now fails: {after}")]),
        (Err(before), Ok(after)) => Some(vec![format!("failed ({before}), now answers {after}")]),
        (Ok(before), Ok(after)) => {
            let (b, a) = match (
                serde_json::from_str::<serde_json::Value>(before),
                serde_json::from_str::<serde_json::Value>(after),
            ) {
                (Ok(b), Ok(a)) => (b, a),
                _ => {
                    return (before != after).then(|| vec![format!("{before} → {after}")]);
                }
            };
            let mut out = Vec::new();
            diff("", &b, &a, &mut out);
            (!out.is_empty()).then_some(out)
        }
    }
}

/// Appends one line per leaf that differs between `before` and `after`.
fn diff(path: &str, before: &serde_json::Value, after: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    let here = |p: &str| {
        if p.is_empty() {
            "answer".to_string()
        } else {
            p.to_string()
        }
    };
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (b.get(k), a.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: {x} → (absent)")),
                    (None, Some(y)) => out.push(format!("{p}: (absent) → {y}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for i in 0..b.len().max(a.len()) {
                let p = format!("{path}[{i}]");
                match (b.get(i), a.get(i)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: {x} → (absent)")),
                    (None, Some(y)) => out.push(format!("{p}: (absent) → {y}")),
                    (None, None) => {}
                }
            }
        }
        (b, a) if b != a => out.push(format!("{}: {b} → {a}", here(path))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_changed_leaves() {
        let before = Ok(
            r#"[{"code":"weight-band","charge_excl_tax":"7.00","name":"Standard"}]"#.to_string(),
        );
        let after = Ok(
            r#"[{"code":"weight-band","charge_excl_tax":"9.00","name":"Standard"}]"#.to_string(),
        );
        assert_eq!(
            compare(&before, &after),
            Some(vec![r#"[0].charge_excl_tax: "7.00" → "9.00""#.to_string()])
        );
        assert_eq!(compare(&before, &before.clone()), None);
        let none = Ok("[]".to_string());
        let d = compare(&none, &after).expect("a new quote is a change");
        assert!(d[0].starts_with("[0]: (absent) → {"), "{d:?}");
        assert_eq!(compare(&Err("a".into()), &Err("b".into())), None);
        assert!(compare(&before, &Err("trapped".into())).is_some());
    }
}
