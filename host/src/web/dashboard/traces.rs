//! Decision traces in the dashboard: a plugin's trace mode (off, sampled, all), the shadow run
//! of a candidate version against its recorded calls, and how a recorded call is shown (on an
//! order's decisions page and in a shadow-run report). Each action is one call of
//! `plugins::lifecycle`, the functions the CLI calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::plugins::{PLUGIN_URL, act, field, need_directory, parse_version, refused, trust, url};
use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::plugins::lifecycle::replay::{self, Candidate, ReplayScope};
use crate::plugins::lifecycle::service;
use crate::plugins::lifecycle::trace::StoredTrace;
use crate::plugins::runtime::TraceMode;
use crate::staff::Permission;
use crate::web::WebError;

/// Most changed decisions a shadow-run page lists.
const SHOWN_CHANGES: usize = 200;

/// A recorded call as the templates show it: the answer in a line, input and answer in full.
pub(super) fn view(t: &StoredTrace) -> minijinja::Value {
    let pretty = |json: &str| {
        serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| json.to_string())
    };
    let (answer, error) = match &t.output {
        Ok(o) => (Some(pretty(o)), None),
        Err(e) => (None, Some(e.clone())),
    };
    minijinja::context! {
        id => t.id,
        recorded_at => t.recorded_at.clone(),
        plugin => format!("{}@{}", t.plugin_id, t.plugin_version),
        plugin_url => url(PLUGIN_URL, &t.plugin_id),
        call => t.call.clone(),
        summary => summary(t),
        input => pretty(&t.input),
        answer => answer,
        error => error,
        duration_us => t.duration_us,
        memory_kib => t.memory_peak_bytes / 1024,
        fuel_used => t.fuel_used,
    }
}

/// One line saying what the plugin decided: the quotes with their prices, a condition's
/// verdict, a payment's outcome; the JSON (shortened) for anything else.
fn summary(t: &StoredTrace) -> String {
    let output = match &t.output {
        Ok(o) => o,
        Err(e) => return format!("failed: {e}"),
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(output) else {
        return output.chars().take(200).collect();
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    match t.call.as_str() {
        "quote" => match v.as_array() {
            Some(quotes) if quotes.is_empty() => "no quote".into(),
            Some(quotes) => quotes
                .iter()
                .map(|q| {
                    format!(
                        "{}: {} {} ({} excl. tax)",
                        text(q, "name"),
                        text(q, "charge_incl_tax"),
                        text(q, "currency"),
                        text(q, "charge_excl_tax")
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            None => output.chars().take(200).collect(),
        },
        "check-condition" => {
            if v.get("is_satisfied").and_then(|s| s.as_bool()) == Some(true) {
                "condition met".into()
            } else {
                "condition not met".into()
            }
        }
        _ => {
            let compact = v.to_string();
            if compact.chars().count() > 200 {
                format!("{}…", compact.chars().take(200).collect::<String>())
            } else {
                compact
            }
        }
    }
}

/// Sets which of a plugin's calls are recorded.
pub(super) async fn set_mode(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let asked = field(&fields, "mode").unwrap_or_default();
    let Some(mode) = TraceMode::parse(asked) else {
        current.session.flash(
            "error",
            format!("{asked:?} is not a trace mode: choose off, sampled or all."),
        );
        return Ok(Redirect::to(&url(PLUGIN_URL, &id)).into_response());
    };
    let said = match mode {
        TraceMode::Off => format!("{id}'s calls are no longer recorded."),
        TraceMode::Sampled => format!(
            "{id}'s calls are recorded for {} % of baskets.",
            state.config.plugin_trace_sample_percent
        ),
        TraceMode::All => format!("Every call of {id} is recorded."),
    };
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::set_trace_mode(&state.db, &state.plugins, actor, &id, mode),
        |()| said,
    )
    .await
}

/// Runs a version from the directory against the plugin's recorded calls and shows what it
/// would decide differently. Nothing is installed.
pub(super) async fn replay(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    if state.plugins.registry().installed(&id).is_none() {
        return Err(WebError::NotFound);
    }
    let directory = need_directory(&state)?;
    let version = parse_version(field(&fields, "version").unwrap_or_default())?;
    let wanted = semver::VersionReq::parse(&format!("={version}"))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let trust = trust(&state)?;
    if let Some(traces) = state.plugins.traces() {
        traces.flush_within(std::time::Duration::from_secs(2)).await;
    }
    let candidate = Candidate::Directory {
        directory: &directory,
        version: wanted,
        trust: &trust,
    };
    let report = match replay::replay(
        &state.db,
        &state.plugins,
        &id,
        candidate,
        &ReplayScope::default(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            current.session.flash(
                "error",
                format!("The shadow run of {id} {version} failed: {}", refused(&e)),
            );
            return Ok(Redirect::to(&url(PLUGIN_URL, &id)).into_response());
        }
    };
    // A page of the first changes; the counts above it cover them all (the CLI's `--json`
    // has every one).
    let changed: Vec<_> = report
        .changed
        .iter()
        .take(SHOWN_CHANGES)
        .map(|c| {
            let (candidate_answer, candidate_error) = match &c.candidate {
                Ok(a) => (Some(a.clone()), None),
                Err(e) => (None, Some(e.clone())),
            };
            minijinja::context! {
                call => view(&c.trace),
                differences => c.differences.clone(),
                candidate_answer => candidate_answer,
                candidate_error => candidate_error,
                order_url => c.trace.order_number.as_deref().map(super::orders::order_url),
            }
        })
        .collect();
    let page = minijinja::context! {
        changed_count => report.changed.len(),
        not_shown => report.changed.len().saturating_sub(SHOWN_CHANGES),
        report => report,
        changed => changed,
        plugin_url => url(PLUGIN_URL, &id),
        upgrade_review_url => super::plugins::review_url(&id, &version.to_string()),
    };
    let path = url(PLUGIN_URL, &id);
    render(
        &state,
        &current,
        &path,
        "dashboard/plugins/replay.html",
        StatusCode::OK,
        page,
    )
}
