//! Dashboard plugins (`/dashboard/plugins/`): the installed plugins with their health over the
//! last hour, the configured plugin directory to browse, and every lifecycle action the CLI
//! has — install (after reviewing the verified package's checksum, signer, permissions and
//! limits, and approving them), enable, disable, re-enable after an automatic switch-off,
//! configure with a form generated from the plugin's schema, approve hosts, upgrade, roll back
//! and remove. Each action is one call of `plugins::lifecycle::service`, the functions the CLI
//! calls, which records it in the audit log and reaches every process sharing the database.
//! Administrators change them (a plugin runs code in the shop); read-only staff see them.
//!
//! Secrets are write-only: a secret field is never filled in, shown or echoed in an error; a
//! blank secret field keeps the stored value.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use semver::Version;
use serde::Serialize;

use super::{CurrentStaff, render};
use crate::app::AppState;
use crate::audit::Actor;
use crate::plugins::distribution::directory::{
    Directory, IndexPlugin, SignatureState, TrustPolicy, signature_state,
};
use crate::plugins::distribution::manifest::{ConfigField, ConfigType, Manifest};
use crate::plugins::lifecycle::{ServiceError, service};
use crate::plugins::runtime::{DisabledReason, HourSummary, InstallOptions};
use crate::staff::Permission;
use crate::web::WebError;

pub const PLUGINS_URL: &str = "/dashboard/plugins/";
pub const DIRECTORY_URL: &str = "/dashboard/plugins/directory/";
pub const REVIEW_URL: &str = "/dashboard/plugins/directory/{plugin_id}/{version}/";
pub const INSTALL_URL: &str = "/dashboard/plugins/install/";
pub const PLUGIN_URL: &str = "/dashboard/plugins/{plugin_id}/";
pub const CONFIG_URL: &str = "/dashboard/plugins/{plugin_id}/config/";
pub const PERMISSIONS_URL: &str = "/dashboard/plugins/{plugin_id}/permissions/";
pub const ENABLE_URL: &str = "/dashboard/plugins/{plugin_id}/enable/";
pub const DISABLE_URL: &str = "/dashboard/plugins/{plugin_id}/disable/";
pub const UPGRADE_URL: &str = "/dashboard/plugins/{plugin_id}/upgrade/";
pub const ROLLBACK_URL: &str = "/dashboard/plugins/{plugin_id}/rollback/";
pub const REMOVE_URL: &str = "/dashboard/plugins/{plugin_id}/remove/";
pub const TRACE_URL: &str = "/dashboard/plugins/{plugin_id}/trace/";
pub const REPLAY_URL: &str = "/dashboard/plugins/{plugin_id}/replay/";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(PLUGINS_URL, get(list))
        .route(DIRECTORY_URL, get(directory))
        .route(REVIEW_URL, get(review))
        .route(INSTALL_URL, post(install))
        .route(PLUGIN_URL, get(detail))
        .route(CONFIG_URL, post(configure))
        .route(PERMISSIONS_URL, post(permissions))
        .route(ENABLE_URL, post(enable))
        .route(DISABLE_URL, post(disable))
        .route(UPGRADE_URL, post(upgrade))
        .route(ROLLBACK_URL, post(rollback))
        .route(REMOVE_URL, post(remove))
        .route(TRACE_URL, post(super::traces::set_mode))
        .route(REPLAY_URL, post(super::traces::replay))
}

pub(super) fn url(template: &str, id: &str) -> String {
    template.replace("{plugin_id}", id)
}

pub(super) fn review_url(id: &str, version: &str) -> String {
    url(REVIEW_URL, id).replace("{version}", version)
}

fn millis(d: Option<std::time::Duration>) -> Option<String> {
    d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
}

#[derive(Serialize)]
struct Health {
    calls: u64,
    failures: u64,
    p50_ms: Option<String>,
    p99_ms: Option<String>,
    last_errors: Vec<ErrorLine>,
}

#[derive(Serialize)]
struct ErrorLine {
    at: String,
    message: String,
}

fn health(h: &HourSummary) -> Health {
    Health {
        calls: h.calls,
        failures: h.failures,
        p50_ms: millis(h.p50),
        p99_ms: millis(h.p99),
        last_errors: h
            .last_errors
            .iter()
            .map(|e| ErrorLine {
                at: time::OffsetDateTime::from_unix_timestamp(i64::try_from(e.at).unwrap_or(0))
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default(),
                message: e.message.clone(),
            })
            .collect(),
    }
}

/// One installed plugin, as its row and this process's registry see it.
#[derive(Serialize)]
struct Installed {
    id: String,
    name: String,
    version: String,
    world: String,
    enabled: bool,
    /// "switched off" by an administrator, or why it switched itself off.
    state: String,
    auto_disabled: bool,
    previous_version: Option<String>,
    url: String,
    health: Option<Health>,
}

fn state_text(enabled: bool, reason: Option<&DisabledReason>) -> (String, bool) {
    match (enabled, reason) {
        (true, _) => ("enabled".into(), false),
        (false, Some(DisabledReason::Failures { count, .. })) => (
            format!("switched off after {count} failures in a row"),
            true,
        ),
        (false, _) => ("disabled".into(), false),
    }
}

async fn installed(state: &AppState) -> Result<Vec<Installed>, WebError> {
    let list = service::list(&state.db, &state.plugins)
        .await
        .map_err(WebError::internal)?;
    Ok(list
        .into_iter()
        .map(|p| {
            // This process's registry knows of a switch-off before the row does.
            let (enabled, reason) = match &p.status {
                Some(s) => (s.enabled, s.disabled_reason.clone()),
                None => (p.stored.enabled, p.stored.disabled_reason.clone()),
            };
            let (state, auto_disabled) = state_text(enabled, reason.as_ref());
            Installed {
                url: url(PLUGIN_URL, &p.stored.id),
                id: p.stored.id,
                name: p.name,
                version: p.stored.version,
                world: p.stored.world,
                enabled,
                state,
                auto_disabled,
                previous_version: p.stored.previous.map(|v| v.version),
                health: p.status.map(|s| health(&s.last_hour)),
            }
        })
        .collect())
}

pub(super) async fn list(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
) -> Result<Response, WebError> {
    current.require(Permission::ViewPlugins)?;
    let plugins = installed(&state).await?;
    let ctx = minijinja::context! {
        plugins => plugins,
        directory_url => DIRECTORY_URL,
        has_directory => state.config.plugin_directory.is_some(),
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/plugins/list.html",
        StatusCode::OK,
        ctx,
    )
}

pub(super) fn configured_directory(state: &AppState) -> Option<Directory> {
    state
        .config
        .plugin_directory
        .as_deref()
        .map(Directory::open)
}

pub(super) fn trust(state: &AppState) -> Result<TrustPolicy, WebError> {
    service::trust_policy(&state.config).map_err(WebError::internal)
}

fn signature_label(s: &SignatureState) -> (String, &'static str) {
    match s {
        SignatureState::Trusted { key } => (format!("signed by {key}"), "ok"),
        SignatureState::UntrustedKey { key } => (
            format!("signed by {key}, a key this shop does not trust"),
            "bad",
        ),
        SignatureState::Invalid { key } => (format!("signature by {key} does not match"), "bad"),
        SignatureState::Unsigned => ("unsigned".into(), "warn"),
    }
}

#[derive(Serialize)]
struct Listed {
    id: String,
    name: String,
    world: String,
    description: String,
    author: String,
    installed_version: Option<String>,
    versions: Vec<ListedVersion>,
}

#[derive(Serialize)]
struct ListedVersion {
    version: String,
    wit_version: String,
    signature: String,
    signature_class: &'static str,
    review_url: String,
}

pub(super) async fn read_directory(
    directory: Directory,
    q: String,
) -> Result<Vec<IndexPlugin>, String> {
    tokio::task::spawn_blocking(move || directory.search(&q))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

pub(super) async fn directory(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewPlugins)?;
    let q = super::params::search_text(&query, "q")?;
    let trust = trust(&state)?;
    let installed = installed(&state).await?;
    let (plugins, problem) = match configured_directory(&state) {
        None => (vec![], Some("No plugin directory is configured: set EMPORIUM_PLUGIN_DIRECTORY to a folder or an http(s) address holding index.json.".to_string())),
        Some(d) => match read_directory(d, q.clone()).await {
            Ok(found) => (found, None),
            Err(e) => (vec![], Some(format!("The plugin directory could not be read: {e}"))),
        },
    };
    let listed: Vec<Listed> = plugins
        .into_iter()
        .map(|p| {
            let mut versions: Vec<ListedVersion> = p
                .versions
                .iter()
                .map(|v| {
                    let (signature, signature_class) =
                        signature_label(&signature_state(&p.id, v, &trust));
                    ListedVersion {
                        review_url: review_url(&p.id, &v.version),
                        version: v.version.clone(),
                        wit_version: v.wit_version.clone(),
                        signature,
                        signature_class,
                    }
                })
                .collect();
            versions.reverse();
            Listed {
                installed_version: installed
                    .iter()
                    .find(|i| i.id == p.id)
                    .map(|i| i.version.clone()),
                id: p.id,
                name: p.name,
                world: p.world,
                description: p.description,
                author: p.author,
                versions,
            }
        })
        .collect();
    let ctx = minijinja::context! {
        plugins => listed,
        q => q,
        problem => problem,
        location => state.config.plugin_directory.clone(),
        require_signatures => state.config.plugin_require_signatures,
        plugins_url => PLUGINS_URL,
    };
    render(
        &state,
        &current,
        uri.path(),
        "dashboard/plugins/directory.html",
        StatusCode::OK,
        ctx,
    )
}

/// One field of a generated configuration form.
#[derive(Serialize)]
struct FormField {
    name: String,
    input: String,
    kind: &'static str,
    required: bool,
    secret: bool,
    /// For a secret: whether one is stored (its value is never shown).
    secret_set: bool,
    help: String,
    default: Option<String>,
    choices: Vec<String>,
    /// What the form shows in the field (never a secret).
    value: String,
    error: Option<String>,
}

fn kind_name(kind: ConfigType) -> &'static str {
    match kind {
        ConfigType::String => "text",
        ConfigType::Integer => "integer",
        ConfigType::Decimal => "decimal",
        ConfigType::Boolean => "boolean",
    }
}

fn input_name(field: &str) -> String {
    format!("cfg_{field}")
}

fn form_fields(
    schema: &[ConfigField],
    values: &HashMap<String, String>,
    secrets_set: &[String],
    errors: &HashMap<String, String>,
) -> Vec<FormField> {
    schema
        .iter()
        .map(|f| FormField {
            input: input_name(&f.name),
            kind: kind_name(f.kind),
            required: f.required,
            secret: f.secret,
            secret_set: secrets_set.contains(&f.name),
            help: f.help.clone(),
            default: f.default.clone().filter(|d| !d.is_empty()),
            choices: f.choices.clone(),
            value: if f.secret {
                String::new()
            } else {
                values.get(&f.name).cloned().unwrap_or_default()
            },
            error: errors.get(&f.name).cloned(),
            name: f.name.clone(),
        })
        .collect()
}

/// The configuration changes a submitted form asks for: every non-secret field as typed (blank
/// = back to the default); a secret only when something was typed, or "clear" was ticked.
fn submitted_config(schema: &[ConfigField], fields: &[(String, String)]) -> Vec<(String, String)> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
    };
    schema
        .iter()
        .filter_map(|f| {
            let typed = get(&input_name(&f.name)).unwrap_or_default();
            if f.secret {
                let clear = get(&format!("clear_{}", f.name)).is_some();
                return match (typed.is_empty(), clear) {
                    (false, _) => Some((f.name.clone(), typed)),
                    (true, true) => Some((f.name.clone(), String::new())),
                    (true, false) => None,
                };
            }
            Some((f.name.clone(), typed))
        })
        .collect()
}

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn ticked(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Field errors of a refused configuration, by field name; secrets' values never appear in
/// them (the manifest's validation words them so).
fn field_errors(e: &ServiceError) -> Option<HashMap<String, String>> {
    e.field_errors().map(|errors| {
        errors
            .iter()
            .map(|fe| (fe.field.clone(), fe.message.clone()))
            .collect()
    })
}

#[derive(Serialize)]
struct ReviewPage {
    id: String,
    name: String,
    version: String,
    world: String,
    description: String,
    author: String,
    license: String,
    wasm_sha256: String,
    signed_by: Option<String>,
    hosts: Vec<String>,
    time_budget_ms: Option<u64>,
    memory_mib: Option<u64>,
    /// What the host grants without asking, and at most.
    default_budget_ms: u128,
    max_budget_ms: u128,
    default_memory_mib: usize,
    max_memory_mib: usize,
}

fn review_page(state: &AppState, manifest: &Manifest, review: &service::Review) -> ReviewPage {
    let runtime = &state.plugins.registry().runtime().config;
    ReviewPage {
        id: manifest.id.clone(),
        name: manifest.name.clone(),
        version: manifest.version.to_string(),
        world: manifest.world.name().to_string(),
        description: manifest.description.clone(),
        author: manifest.author.clone(),
        license: manifest.license.clone(),
        wasm_sha256: review.wasm_sha256.clone(),
        signed_by: review.signed_by.clone(),
        hosts: manifest.permissions.http.hosts.clone(),
        time_budget_ms: manifest.limits.time_budget_ms,
        memory_mib: manifest.limits.memory_mib,
        default_budget_ms: runtime.call_budget.as_millis(),
        max_budget_ms: runtime.max_call_budget.as_millis(),
        default_memory_mib: runtime.memory_limit >> 20,
        max_memory_mib: runtime.max_memory_limit >> 20,
    }
}

#[allow(clippy::too_many_arguments)]
fn render_review(
    state: &AppState,
    current: &CurrentStaff,
    path: &str,
    status: StatusCode,
    review: &service::Review,
    fields: &[(String, String)],
    errors: &HashMap<String, String>,
    problem: Option<String>,
    installed_version: Option<String>,
) -> Result<Response, WebError> {
    let manifest = &review.manifest;
    let values: HashMap<String, String> = manifest
        .config
        .iter()
        .filter_map(|f| {
            field(fields, &input_name(&f.name)).map(|v| (f.name.clone(), v.to_string()))
        })
        .collect();
    let approved = ticked(fields, "host");
    let ctx = minijinja::context! {
        plugin => review_page(state, manifest, review),
        fields => form_fields(&manifest.config, &values, &[], errors),
        // A fresh form approves every declared host; a re-rendered one keeps the ticks.
        approved_hosts => if fields.is_empty() { manifest.permissions.http.hosts.clone() } else { approved },
        problem => problem,
        installed_version => installed_version.clone(),
        action => match installed_version {
            Some(_) => url(UPGRADE_URL, &manifest.id),
            None => INSTALL_URL.to_string(),
        },
        directory_url => DIRECTORY_URL,
        can_manage => current.staff.can(Permission::Administer),
    };
    render(
        state,
        current,
        path,
        "dashboard/plugins/review.html",
        status,
        ctx,
    )
}

pub(super) fn parse_version(v: &str) -> Result<Version, WebError> {
    Version::parse(v.trim())
        .map_err(|_| WebError::BadRequest(format!("{v:?} is not a version number.")))
}

pub(super) fn need_directory(state: &AppState) -> Result<Directory, WebError> {
    configured_directory(state).ok_or_else(|| {
        WebError::BadRequest(
            "No plugin directory is configured (EMPORIUM_PLUGIN_DIRECTORY).".into(),
        )
    })
}

/// A service failure shown to the administrator: the service's own sentence.
pub(super) fn refused(e: &ServiceError) -> String {
    e.to_string()
}

pub(super) async fn review(
    State(state): State<AppState>,
    current: CurrentStaff,
    uri: Uri,
    Path((id, version)): Path<(String, String)>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewPlugins)?;
    // Without a directory there is nothing to review.
    let directory = configured_directory(&state).ok_or(WebError::NotFound)?;
    let version = parse_version(&version)?;
    let trust = trust(&state)?;
    let reviewed = match service::review(&state.plugins, &directory, &id, &version, &trust).await {
        Ok(r) => r,
        Err(e) => {
            current.session.flash(
                "error",
                format!("{id} {version} cannot be installed: {}", refused(&e)),
            );
            return Ok(Redirect::to(DIRECTORY_URL).into_response());
        }
    };
    let installed_version = crate::plugins::lifecycle::store::get(&state.db.pool, &id)
        .await?
        .map(|p| p.version);
    render_review(
        &state,
        &current,
        uri.path(),
        StatusCode::OK,
        &reviewed,
        &[],
        &HashMap::new(),
        None,
        installed_version,
    )
}

pub(super) async fn install(
    State(state): State<AppState>,
    current: CurrentStaff,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let directory = need_directory(&state)?;
    let id = field(&fields, "plugin_id")
        .unwrap_or_default()
        .trim()
        .to_string();
    let version = parse_version(field(&fields, "version").unwrap_or_default())?;
    let sha = field(&fields, "wasm_sha256")
        .unwrap_or_default()
        .trim()
        .to_string();
    let trust = trust(&state)?;
    let path = review_url(&id, &version.to_string());
    let reviewed = match service::review(&state.plugins, &directory, &id, &version, &trust).await {
        Ok(r) => r,
        Err(e) => {
            current.session.flash(
                "error",
                format!("{id} {version} cannot be installed: {}", refused(&e)),
            );
            return Ok(Redirect::to(DIRECTORY_URL).into_response());
        }
    };
    let again = |status, errors: &HashMap<String, String>, problem: Option<String>| {
        render_review(
            &state, &current, &path, status, &reviewed, &fields, errors, problem, None,
        )
    };
    if field(&fields, "approve").is_none() {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HashMap::new(),
            Some("Tick \u{201c}I approve\u{201d} to confirm the permissions and limits this plugin asks for.".into()),
        );
    }
    let hosts = ticked(&fields, "host");
    let declared = &reviewed.manifest.permissions.http.hosts;
    if let Some(stray) = hosts.iter().find(|h| !declared.contains(h)) {
        return Err(WebError::BadRequest(format!(
            "{stray} is not a host this plugin declares."
        )));
    }
    let config = submitted_config(&reviewed.manifest.config, &fields)
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let options = InstallOptions {
        config,
        approved_hosts: hosts,
        memory_limit: None,
        start_disabled: field(&fields, "enable").is_none(),
    };
    match service::install_reviewed(
        &state.db,
        &state.plugins,
        Actor::from(&current.staff),
        &directory,
        &id,
        &version,
        &sha,
        &trust,
        options,
    )
    .await
    {
        Ok(status) => {
            current.session.flash(
                "success",
                format!(
                    "Installed {} {}{}.",
                    status.name,
                    status.plugin.version,
                    if status.enabled {
                        ", enabled"
                    } else {
                        " (disabled: enable it when it is configured)"
                    }
                ),
            );
            Ok(Redirect::to(&url(PLUGIN_URL, &id)).into_response())
        }
        Err(e) => match field_errors(&e) {
            Some(errors) => again(StatusCode::UNPROCESSABLE_ENTITY, &errors, None),
            None => again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &HashMap::new(),
                Some(refused(&e)),
            ),
        },
    }
}

/// A refused settings form: what was typed, and the error of each field.
type Submitted<'a> = (&'a [(String, String)], HashMap<String, String>);

#[derive(Serialize)]
struct Detail {
    installed: Installed,
    sha256: String,
    package_path: String,
    installed_at: String,
    updated_at: String,
    description: String,
    author: String,
    declared_hosts: Vec<String>,
    approved_hosts: Vec<String>,
    time_budget_ms: Option<u64>,
    memory_mib: Option<u64>,
    newest: Option<String>,
    newest_review_url: Option<String>,
    /// Every version the directory offers other than this one (candidates for a shadow run).
    other_versions: Vec<String>,
    trace_mode: String,
    traces_recorded: i64,
    newest_trace: Option<String>,
}

async fn render_detail(
    state: &AppState,
    current: &CurrentStaff,
    id: &str,
    status: StatusCode,
    submitted: Option<Submitted<'_>>,
) -> Result<Response, WebError> {
    let Some(row) = crate::plugins::lifecycle::store::get(&state.db.pool, id).await? else {
        return Err(WebError::NotFound);
    };
    let installed = installed(state)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(WebError::NotFound)?;
    let manifest = state
        .plugins
        .registry()
        .manifest(id)
        .map_err(WebError::internal)?;
    let entries = service::config_view(&state.db, &state.plugins, id)
        .await
        .map_err(WebError::internal)?;
    let (values, errors): (HashMap<String, String>, HashMap<String, String>) = match submitted {
        Some((fields, errors)) => (
            manifest
                .config
                .iter()
                .filter_map(|f| {
                    field(fields, &input_name(&f.name)).map(|v| (f.name.clone(), v.to_string()))
                })
                .collect(),
            errors,
        ),
        None => (
            entries
                .iter()
                .filter_map(|e| match &e.shown {
                    service::Shown::Value(v) => Some((e.name.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
            HashMap::new(),
        ),
    };
    let secrets_set: Vec<String> = entries
        .iter()
        .filter(|e| e.shown == service::Shown::SecretSet)
        .map(|e| e.name.clone())
        .collect();
    // The versions the directory offers; the newest, if newer than this one, is an upgrade.
    let mut offered: Vec<Version> = match configured_directory(state) {
        Some(d) => read_directory(d, String::new())
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|p| p.id == id))
            .map(|p| {
                p.versions
                    .iter()
                    .filter_map(|v| Version::parse(&v.version).ok())
                    .collect()
            })
            .unwrap_or_default(),
        None => Vec::new(),
    };
    offered.sort();
    offered.retain(|v| *v != manifest.version);
    let newest = offered.last().filter(|v| **v > manifest.version).cloned();
    let (traces_recorded, newest_trace) =
        crate::plugins::lifecycle::trace::summary(&state.db, id).await?;
    let detail = Detail {
        sha256: row.sha256.clone(),
        package_path: row.package_path.clone(),
        installed_at: row.installed_at.clone(),
        updated_at: row.updated_at.clone(),
        description: manifest.description.clone(),
        author: manifest.author.clone(),
        declared_hosts: manifest.permissions.http.hosts.clone(),
        approved_hosts: row.approved_hosts.clone(),
        time_budget_ms: manifest.limits.time_budget_ms,
        memory_mib: manifest.limits.memory_mib,
        newest_review_url: newest.as_ref().map(|v| review_url(id, &v.to_string())),
        newest: newest.map(|v| v.to_string()),
        other_versions: offered.iter().rev().map(Version::to_string).collect(),
        trace_mode: row.trace_mode.to_string(),
        traces_recorded,
        newest_trace,
        installed,
    };
    let ctx = minijinja::context! {
        plugin => detail,
        fields => form_fields(&manifest.config, &values, &secrets_set, &errors),
        config_url => url(CONFIG_URL, id),
        permissions_url => url(PERMISSIONS_URL, id),
        enable_url => url(ENABLE_URL, id),
        disable_url => url(DISABLE_URL, id),
        rollback_url => url(ROLLBACK_URL, id),
        remove_url => url(REMOVE_URL, id),
        trace_url => url(TRACE_URL, id),
        replay_url => url(REPLAY_URL, id),
        trace_modes => crate::plugins::runtime::TraceMode::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        sample_percent => state.config.plugin_trace_sample_percent,
        plugins_url => PLUGINS_URL,
        can_manage => current.staff.can(Permission::Administer),
    };
    render(
        state,
        current,
        &url(PLUGIN_URL, id),
        "dashboard/plugins/detail.html",
        status,
        ctx,
    )
}

pub(super) async fn detail(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::ViewPlugins)?;
    render_detail(&state, &current, &id, StatusCode::OK, None).await
}

pub(super) async fn configure(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let manifest = state
        .plugins
        .registry()
        .manifest(&id)
        .map_err(|_| WebError::NotFound)?;
    let changes = submitted_config(&manifest.config, &fields);
    match service::configure(
        &state.db,
        &state.plugins,
        Actor::from(&current.staff),
        &id,
        &changes,
    )
    .await
    {
        Ok(()) => {
            current.session.flash(
                "success",
                format!("Saved the settings of {}.", manifest.name),
            );
            Ok(Redirect::to(&url(PLUGIN_URL, &id)).into_response())
        }
        Err(e) => {
            let errors = field_errors(&e).ok_or_else(|| WebError::internal(e))?;
            render_detail(
                &state,
                &current,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((&fields, errors)),
            )
            .await
        }
    }
}

/// Runs one lifecycle action and goes back to the plugin's page with its outcome.
pub(super) async fn act<F, T>(
    current: &CurrentStaff,
    id: &str,
    action: F,
    done: impl FnOnce(T) -> String,
) -> Result<Response, WebError>
where
    F: std::future::Future<Output = Result<T, ServiceError>>,
{
    match action.await {
        Ok(value) => current.session.flash("success", done(value)),
        Err(ServiceError::NotInstalled(_)) => return Err(WebError::NotFound),
        Err(e) => current.session.flash("error", refused(&e)),
    }
    Ok(Redirect::to(&url(PLUGIN_URL, id)).into_response())
}

pub(super) async fn permissions(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let hosts = ticked(&fields, "host");
    let said = if hosts.is_empty() {
        format!("{id} may call no host now.")
    } else {
        format!("{id} may call {}.", hosts.join(", "))
    };
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::approve_hosts(&state.db, &state.plugins, actor, &id, hosts),
        |()| said,
    )
    .await
}

pub(super) async fn enable(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::enable(&state.db, &state.plugins, actor, &id),
        |()| format!("Enabled {id}."),
    )
    .await
}

pub(super) async fn disable(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::disable(&state.db, &state.plugins, actor, &id),
        |()| format!("Disabled {id}."),
    )
    .await
}

pub(super) async fn upgrade(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let directory = need_directory(&state)?;
    let version = parse_version(field(&fields, "version").unwrap_or_default())?;
    if field(&fields, "approve").is_none() {
        current.session.flash(
            "error",
            "Tick \u{201c}I approve\u{201d} to confirm the permissions and limits of the new version.",
        );
        return Ok(Redirect::to(&review_url(&id, &version.to_string())).into_response());
    }
    let wanted = semver::VersionReq::parse(&format!("={version}"))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let trust = trust(&state)?;
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::upgrade(
            &state.db,
            &state.plugins,
            actor,
            &directory,
            &id,
            &wanted,
            &trust,
        ),
        |up| format!("Upgraded {} to {}.", up.from, up.to.version),
    )
    .await
}

pub(super) async fn rollback(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let actor = Actor::from(&current.staff);
    act(
        &current,
        &id,
        service::rollback(&state.db, &state.plugins, actor, &id),
        |up| format!("Rolled {} back to {}.", up.from, up.to.version),
    )
    .await
}

pub(super) async fn remove(
    State(state): State<AppState>,
    current: CurrentStaff,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    current.require(Permission::Administer)?;
    let actor = Actor::from(&current.staff);
    match service::remove(&state.db, &state.plugins, actor, &id).await {
        Ok(removed) => {
            current.session.flash(
                "success",
                format!("Removed {removed}, its settings and secrets."),
            );
            Ok(Redirect::to(PLUGINS_URL).into_response())
        }
        Err(ServiceError::NotInstalled(_)) => Err(WebError::NotFound),
        Err(e) => {
            current.session.flash("error", refused(&e));
            Ok(Redirect::to(&url(PLUGIN_URL, &id)).into_response())
        }
    }
}
