//! The set of installed plugins, their health, and the typed calls the shop makes.
//!
//! The map of plugins is an `ArcSwap`: a call takes a snapshot (`Arc`) of the plugin's entry
//! and runs on it to the end, so installing, upgrading, reconfiguring or removing a plugin while
//! calls run is safe — in-flight calls finish on the old entry, new calls see the new one.
//! Persistence of the installed/enabled set is not the registry's: [`crate::plugins::lifecycle`]
//! subscribes with [`PluginRegistry::on_change`] and writes the changes to the database.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use rust_decimal::Decimal;

use super::engine::{LoadedPlugin, PluginRuntime, WorldPre};
use super::error::{PluginError, PluginRef};
use super::health::{CallWindow, HourSummary};
use super::sandbox::{CallContext, CallState, host_allowed};
use super::trace::{self, Subject, TraceMode, TraceRecord, TraceSink, TracedCall, Usage};
use super::wit_v0_1::{self, Answer, Check, PaymentCall};
use crate::money::Money;
use crate::plugins::calls::{
    Callback, ConditionInput, ConditionResult, FunctionInfo, PaymentOutcome, PaymentRequest,
    Priced, PricingContext, PricingItem, Quote, ShippingRequest,
};
use crate::plugins::distribution::manifest::{ConfigValues, Manifest, World};

/// The extension points, each with its own failure policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExtensionPoint {
    Pricing,
    Offer,
    Shipping,
    Payment,
    Theme,
}

impl ExtensionPoint {
    pub fn of(world: World) -> ExtensionPoint {
        match world {
            World::PricingStrategy => ExtensionPoint::Pricing,
            World::OfferCondition => ExtensionPoint::Offer,
            World::ShippingMethod | World::ShippingMethodHttp => ExtensionPoint::Shipping,
            World::PaymentGateway => ExtensionPoint::Payment,
            World::ThemeExtension => ExtensionPoint::Theme,
        }
    }
}

/// What the shop does when a plugin call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailurePolicy {
    /// The request fails (payment always does this).
    FailClosed,
    /// Carry on without this plugin's answer (e.g. one shipping method fewer).
    Skip,
    /// Carry on with the shop's built-in behaviour (e.g. the default pricing strategy).
    Builtin,
}

/// The result of a call after the failure policy was applied.
#[derive(Debug)]
pub enum Decision<T> {
    /// The plugin answered.
    Plugin(T),
    /// The plugin failed and the policy says to leave it out.
    Skip(PluginError),
    /// The plugin failed and the policy says to use the built-in behaviour.
    Builtin(PluginError),
}

/// Why a plugin is switched off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisabledReason {
    /// An administrator switched it off.
    Admin,
    /// It failed `count` times in a row; `last_error` is the last failure.
    Failures { count: u32, last_error: String },
}

/// A change of the installed set or of a plugin's state, for persistence and for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Installed(PluginRef),
    Upgraded {
        from: PluginRef,
        to: PluginRef,
    },
    Removed(PluginRef),
    Enabled(PluginRef),
    Disabled {
        plugin: PluginRef,
        reason: DisabledReason,
    },
    Configured(PluginRef),
}

impl std::fmt::Display for StateChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateChange::Installed(p) => write!(f, "Plugin {p} was installed."),
            StateChange::Upgraded { from, to } => {
                write!(
                    f,
                    "Plugin {} was upgraded from {} to {}.",
                    to.id, from.version, to.version
                )
            }
            StateChange::Removed(p) => write!(f, "Plugin {p} was removed."),
            StateChange::Enabled(p) => write!(f, "Plugin {p} was switched on."),
            StateChange::Disabled {
                plugin,
                reason: DisabledReason::Admin,
            } => write!(f, "Plugin {plugin} was switched off by an administrator."),
            StateChange::Disabled {
                plugin,
                reason: DisabledReason::Failures { count, last_error },
            } => write!(
                f,
                "Plugin {plugin} was switched off after {count} failures in a row; the last one: {last_error}"
            ),
            StateChange::Configured(p) => write!(f, "Plugin {p} was reconfigured."),
        }
    }
}

/// Installation settings chosen by the administrator.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    pub config: ConfigValues,
    /// Hosts the administrator approved for HTTP; only those also declared in the manifest
    /// are reachable.
    pub approved_hosts: Vec<String>,
    /// Memory cap for this plugin's calls (default: the runtime's); interpreted guests need
    /// more than compiled ones.
    pub memory_limit: Option<usize>,
    /// Start disabled (the default is enabled).
    pub start_disabled: bool,
}

/// What the dashboard shows about a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    pub plugin: PluginRef,
    pub name: String,
    pub world: World,
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReason>,
    pub consecutive_failures: u32,
    pub calls: u64,
    pub failures: u64,
    pub sha256: String,
    /// This process's calls of the last hour: counts, p50/p99 and the last errors.
    pub last_hour: HourSummary,
    /// Which of its calls are recorded as decision traces.
    pub trace_mode: TraceMode,
}

/// A snapshot of one installation (see [`PluginRegistry::installed`]).
pub(crate) struct Installed {
    pub loaded: Arc<LoadedPlugin>,
    pub config: ConfigValues,
    pub approved_hosts: Vec<String>,
    pub enabled: bool,
    pub reason: Option<DisabledReason>,
}

/// Health shared by every entry of one installation (survives reconfiguration, reset on
/// upgrade or reinstall).
#[derive(Default)]
struct Health {
    enabled: AtomicBool,
    disabled_reason: Mutex<Option<DisabledReason>>,
    consecutive: AtomicU32,
    calls: AtomicU64,
    failures: AtomicU64,
    /// The last hour's calls, times and errors (see [`super::health`]).
    window: Mutex<CallWindow>,
    /// [`TraceMode`] as a number: read on every call, so an atomic rather than a lock.
    trace_mode: AtomicU8,
}

struct Entry {
    loaded: Arc<LoadedPlugin>,
    call: Arc<CallContext>,
    options: InstallOptions,
    health: Arc<Health>,
}

type Listener = Arc<dyn Fn(&StateChange) + Send + Sync>;

pub struct PluginRegistry {
    runtime: Arc<PluginRuntime>,
    plugins: ArcSwap<BTreeMap<String, Arc<Entry>>>,
    /// Serialises writers (install, remove, enable...); readers never take it.
    write: Mutex<()>,
    listeners: RwLock<Vec<Listener>>,
    policies: RwLock<BTreeMap<ExtensionPoint, FailurePolicy>>,
    /// Where decision traces go; none means nothing is recorded whatever the modes say.
    traces: RwLock<Option<Arc<dyn TraceSink>>>,
    /// Picks calls without a basket or order in sampled mode (see [`trace::chosen`]).
    unkeyed_calls: AtomicU64,
}

/// What a typed call tells [`PluginRegistry::run`] so it can record the call: the function,
/// what it was about, and its input as JSON (masked; built only when the call is recorded).
struct Traced<'a> {
    call: TracedCall,
    subject: Subject,
    input: &'a dyn Fn(&[&str]) -> String,
}

impl std::fmt::Debug for PluginRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRegistry")
            .field("plugins", &self.plugins.load().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn poisoned<T>(_: T) -> PluginError {
    PluginError::Runtime("plugin registry lock poisoned".into())
}

impl PluginRegistry {
    pub fn new(runtime: Arc<PluginRuntime>) -> PluginRegistry {
        let policies = [
            (ExtensionPoint::Pricing, FailurePolicy::Builtin),
            (ExtensionPoint::Offer, FailurePolicy::Skip),
            (ExtensionPoint::Shipping, FailurePolicy::Skip),
            (ExtensionPoint::Payment, FailurePolicy::FailClosed),
            (ExtensionPoint::Theme, FailurePolicy::Skip),
        ];
        PluginRegistry {
            runtime,
            plugins: ArcSwap::from_pointee(BTreeMap::new()),
            write: Mutex::new(()),
            listeners: RwLock::new(Vec::new()),
            policies: RwLock::new(policies.into_iter().collect()),
            traces: RwLock::new(None),
            unkeyed_calls: AtomicU64::new(0),
        }
    }

    /// Sends decision traces of plugins whose mode is not off to `sink`.
    pub fn set_trace_sink(&self, sink: Arc<dyn TraceSink>) {
        if let Ok(mut t) = self.traces.write() {
            *t = Some(sink);
        }
    }

    /// Chooses which of a plugin's calls are recorded (kept across reconfiguration and
    /// upgrades; the lifecycle mirrors what the database says).
    pub fn set_trace_mode(&self, id: &str, mode: TraceMode) -> Result<(), PluginError> {
        self.entry(id)?
            .health
            .trace_mode
            .store(mode.to_u8(), Ordering::Relaxed);
        Ok(())
    }

    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    /// Calls `listener` after every state change (install, upgrade, remove, enable, disable,
    /// configure), on the thread that made the change.
    pub fn on_change(&self, listener: impl Fn(&StateChange) + Send + Sync + 'static) {
        if let Ok(mut l) = self.listeners.write() {
            l.push(Arc::new(listener));
        }
    }

    fn notify(&self, change: StateChange) {
        tracing::info!("{change}");
        let listeners: Vec<Listener> = self.listeners.read().map(|l| l.clone()).unwrap_or_default();
        for l in listeners {
            l(&change);
        }
    }

    /// Sets the failure policy of an extension point. Payment always fails closed.
    pub fn set_policy(
        &self,
        point: ExtensionPoint,
        policy: FailurePolicy,
    ) -> Result<(), PluginError> {
        if point == ExtensionPoint::Payment && policy != FailurePolicy::FailClosed {
            return Err(PluginError::Runtime(
                "payment plugins always fail closed".into(),
            ));
        }
        self.policies
            .write()
            .map_err(poisoned)?
            .insert(point, policy);
        Ok(())
    }

    pub fn policy(&self, point: ExtensionPoint) -> FailurePolicy {
        if point == ExtensionPoint::Payment {
            return FailurePolicy::FailClosed;
        }
        self.policies
            .read()
            .ok()
            .and_then(|p| p.get(&point).copied())
            .unwrap_or(FailurePolicy::FailClosed)
    }

    /// Applies the extension point's failure policy to a call's result.
    pub fn decide<T>(
        &self,
        point: ExtensionPoint,
        result: Result<T, PluginError>,
    ) -> Result<Decision<T>, PluginError> {
        match result {
            Ok(v) => Ok(Decision::Plugin(v)),
            Err(e) => match self.policy(point) {
                FailurePolicy::FailClosed => Err(e),
                FailurePolicy::Skip => Ok(Decision::Skip(e)),
                FailurePolicy::Builtin => Ok(Decision::Builtin(e)),
            },
        }
    }

    /// Loads a plugin folder and installs it (see [`Self::install`]).
    pub fn install_dir(
        &self,
        dir: &Path,
        options: InstallOptions,
    ) -> Result<PluginStatus, PluginError> {
        let loaded = self.runtime.load_dir(dir)?;
        self.install(loaded, options)
    }

    /// Installs a loaded plugin, replacing any installed version of the same id atomically
    /// (calls in flight finish on the old one). The configuration is validated first.
    pub fn install(
        &self,
        loaded: Arc<LoadedPlugin>,
        options: InstallOptions,
    ) -> Result<PluginStatus, PluginError> {
        let _w = self.write.lock().map_err(poisoned)?;
        let entry = self.entry_for(loaded, options, None)?;
        entry
            .health
            .enabled
            .store(!entry.options.start_disabled, Ordering::SeqCst);
        if entry.options.start_disabled {
            set_reason(&entry.health, Some(DisabledReason::Admin));
        }
        let id = entry.loaded.plugin.id.clone();
        let new_ref = entry.loaded.plugin.clone();
        // An upgrade keeps recording as the version before did (its health starts afresh).
        if let Some(before) = self.plugins.load().get(&id) {
            let mode = before.health.trace_mode.load(Ordering::Relaxed);
            entry.health.trace_mode.store(mode, Ordering::Relaxed);
        }
        let status = status_of(&entry);
        let mut map = BTreeMap::clone(&self.plugins.load());
        let old = map.insert(id, Arc::new(entry));
        self.plugins.store(Arc::new(map));
        drop(_w);
        self.notify(match old {
            Some(old) => StateChange::Upgraded {
                from: old.loaded.plugin.clone(),
                to: new_ref,
            },
            None => StateChange::Installed(new_ref),
        });
        Ok(status)
    }

    fn entry_for(
        &self,
        loaded: Arc<LoadedPlugin>,
        options: InstallOptions,
        health: Option<Arc<Health>>,
    ) -> Result<Entry, PluginError> {
        let manifest = loaded.manifest.clone();
        manifest
            .validate_config(&options.config)
            .map_err(|errors| PluginError::Config {
                plugin: loaded.plugin.clone(),
                errors,
            })?;
        let http_allowed: Vec<String> = manifest
            .permissions
            .http
            .hosts
            .iter()
            .filter(|declared| {
                let (host, port) = match declared.rsplit_once(':') {
                    Some((h, p)) => (h, p.parse().ok()),
                    None => (declared.as_str(), None),
                };
                host_allowed(&options.approved_hosts, host, port)
                    || options
                        .approved_hosts
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(declared))
            })
            .cloned()
            .collect();
        let call = Arc::new(CallContext {
            plugin: loaded.plugin.clone(),
            manifest,
            config: options.config.clone(),
            http_allowed: Arc::new(http_allowed),
            memory_limit: self
                .runtime
                .memory_for(&loaded.manifest, options.memory_limit),
        });
        Ok(Entry {
            loaded,
            call,
            options,
            health: health.unwrap_or_default(),
        })
    }

    /// Removes a plugin. Calls in flight finish; new calls get `NotFound`.
    pub fn remove(&self, id: &str) -> Result<PluginRef, PluginError> {
        let _w = self.write.lock().map_err(poisoned)?;
        let mut map = BTreeMap::clone(&self.plugins.load());
        let old = map
            .remove(id)
            .ok_or_else(|| PluginError::NotFound(id.to_string()))?;
        self.plugins.store(Arc::new(map));
        drop(_w);
        self.notify(StateChange::Removed(old.loaded.plugin.clone()));
        Ok(old.loaded.plugin.clone())
    }

    /// Changes a plugin's configuration (validated against its schema) without reloading it.
    pub fn configure(&self, id: &str, config: ConfigValues) -> Result<(), PluginError> {
        let _w = self.write.lock().map_err(poisoned)?;
        let old = self.entry(id)?;
        let options = InstallOptions {
            config,
            ..old.options.clone()
        };
        let entry = self.entry_for(old.loaded.clone(), options, Some(old.health.clone()))?;
        let plugin = entry.loaded.plugin.clone();
        let mut map = BTreeMap::clone(&self.plugins.load());
        map.insert(id.to_string(), Arc::new(entry));
        self.plugins.store(Arc::new(map));
        drop(_w);
        self.notify(StateChange::Configured(plugin));
        Ok(())
    }

    /// Switches a plugin on (and forgets its failure streak) or off by the administrator.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<(), PluginError> {
        self.set_state(id, enabled, None)
    }

    /// Switches a plugin on or off with a given reason (`None` when disabling means
    /// [`DisabledReason::Admin`]); used to mirror a state another process wrote. Notifies the
    /// listeners when the state or reason changed.
    pub fn set_state(
        &self,
        id: &str,
        enabled: bool,
        reason: Option<DisabledReason>,
    ) -> Result<(), PluginError> {
        let entry = self.entry(id)?;
        let reason = if enabled {
            None
        } else {
            Some(reason.unwrap_or(DisabledReason::Admin))
        };
        let was = entry.health.enabled.swap(enabled, Ordering::SeqCst);
        if enabled {
            entry.health.consecutive.store(0, Ordering::SeqCst);
        }
        let old_reason = entry
            .health
            .disabled_reason
            .lock()
            .map(|mut r| std::mem::replace(&mut *r, reason.clone()))
            .unwrap_or_default();
        if was != enabled || old_reason != reason {
            let plugin = entry.loaded.plugin.clone();
            self.notify(match reason {
                None => StateChange::Enabled(plugin),
                Some(reason) => StateChange::Disabled { plugin, reason },
            });
        }
        Ok(())
    }

    /// Replaces a plugin's configuration and approved HTTP hosts (validated against its schema)
    /// without reloading it; its health is kept.
    pub fn reconfigure(
        &self,
        id: &str,
        config: ConfigValues,
        approved_hosts: Vec<String>,
    ) -> Result<(), PluginError> {
        let _w = self.write.lock().map_err(poisoned)?;
        let old = self.entry(id)?;
        let options = InstallOptions {
            config,
            approved_hosts,
            ..old.options.clone()
        };
        let entry = self.entry_for(old.loaded.clone(), options, Some(old.health.clone()))?;
        let plugin = entry.loaded.plugin.clone();
        let mut map = BTreeMap::clone(&self.plugins.load());
        map.insert(id.to_string(), Arc::new(entry));
        self.plugins.store(Arc::new(map));
        drop(_w);
        self.notify(StateChange::Configured(plugin));
        Ok(())
    }

    /// What is installed under `id`, with its configuration (secrets included: crate-only, for
    /// keeping the registry in step with the database).
    pub(crate) fn installed(&self, id: &str) -> Option<Installed> {
        let entry = self.entry(id).ok()?;
        Some(Installed {
            loaded: entry.loaded.clone(),
            config: entry.options.config.clone(),
            approved_hosts: entry.options.approved_hosts.clone(),
            enabled: entry.health.enabled.load(Ordering::SeqCst),
            reason: entry
                .health
                .disabled_reason
                .lock()
                .ok()
                .and_then(|r| r.clone()),
        })
    }

    /// Ids of every installed plugin.
    pub fn ids(&self) -> Vec<String> {
        self.plugins.load().keys().cloned().collect()
    }

    pub fn status(&self, id: &str) -> Result<PluginStatus, PluginError> {
        let entry = self.entry(id)?;
        Ok(status_of(&entry))
    }

    pub fn list(&self) -> Vec<PluginStatus> {
        self.plugins.load().values().map(|e| status_of(e)).collect()
    }

    /// Ids of the enabled plugins of a world, e.g. every shipping method to quote.
    pub fn enabled_ids(&self, point: ExtensionPoint) -> Vec<String> {
        self.plugins
            .load()
            .values()
            .filter(|e| {
                ExtensionPoint::of(e.loaded.manifest.world) == point
                    && e.health.enabled.load(Ordering::SeqCst)
            })
            .map(|e| e.loaded.plugin.id.clone())
            .collect()
    }

    /// The manifest of an installed plugin.
    pub fn manifest(&self, id: &str) -> Result<Manifest, PluginError> {
        Ok((*self.entry(id)?.loaded.manifest).clone())
    }

    fn entry(&self, id: &str) -> Result<Arc<Entry>, PluginError> {
        self.plugins
            .load()
            .get(id)
            .cloned()
            .ok_or_else(|| PluginError::NotFound(id.to_string()))
    }

    /// Runs one call: checks the plugin is enabled and of the right extension point, runs it,
    /// validates, and keeps the failure count (switching the plugin off at the threshold).
    fn run<R: serde::Serialize>(
        &self,
        id: &str,
        point: ExtensionPoint,
        traced: Traced<'_>,
        f: impl FnOnce(&Check<'_>, &WorldPre, &mut wasmtime::Store<CallState>) -> Answer<R>,
    ) -> Result<R, PluginError> {
        let entry = self.entry(id)?;
        let plugin = &entry.loaded.plugin;
        if ExtensionPoint::of(entry.loaded.manifest.world) != point {
            return Err(PluginError::WrongWorld {
                plugin: plugin.clone(),
                expected: expected_world(point),
                actual: entry.loaded.manifest.world,
            });
        }
        if !entry.health.enabled.load(Ordering::SeqCst) {
            return Err(PluginError::Disabled {
                plugin: plugin.clone(),
            });
        }
        entry.health.calls.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let check = Check { plugin };
        // The closure returns the guest's result wrapped twice: the outer `Result` carries
        // validation errors, the inner one wasmtime errors (traps) which `call` classifies.
        let mut validation = None;
        let mut usage = Usage::default();
        let recorded_at = std::time::SystemTime::now();
        let result = self.runtime.call(
            &entry.loaded,
            entry.call.clone(),
            &mut usage,
            |pre, store| match f(&check, pre, store) {
                Ok(inner) => inner,
                Err(e) => {
                    validation = Some(e);
                    Err(wasmtime::format_err!("output rejected"))
                }
            },
        );
        let result = match (result, validation) {
            (_, Some(e)) => Err(e),
            (r, None) => r,
        };
        let took = started.elapsed();
        let window = |failure: Option<&str>| {
            if let Ok(mut w) = entry.health.window.lock() {
                w.record(took, failure);
            }
        };
        match &result {
            Ok(_) => {
                window(None);
                entry.health.consecutive.store(0, Ordering::SeqCst)
            }
            Err(e) if e.counts_as_failure() => {
                window(Some(&e.to_string()));
                self.record_failure(&entry, e)
            }
            // The plugin did not get to run: neither a failure nor a success of its own.
            Err(e @ PluginError::Capacity { .. }) => {
                tracing::warn!(
                    "A call of plugin {plugin} was refused, the host is at capacity: {e}"
                )
            }
            Err(_) => {}
        }
        if !matches!(result, Err(PluginError::Capacity { .. })) {
            self.trace(&entry, traced, &result, recorded_at, took, usage);
        }
        result
    }

    /// Hands the call to the trace sink when the plugin's mode chooses it.
    fn trace<R: serde::Serialize>(
        &self,
        entry: &Entry,
        traced: Traced<'_>,
        result: &Result<R, PluginError>,
        recorded_at: std::time::SystemTime,
        duration: std::time::Duration,
        usage: Usage,
    ) {
        let mode = TraceMode::from_u8(entry.health.trace_mode.load(Ordering::Relaxed));
        if mode == TraceMode::Off {
            return;
        }
        let Some(sink) = self.traces.read().ok().and_then(|t| t.clone()) else {
            return;
        };
        let counter = if traced.subject == Subject::default() {
            self.unkeyed_calls.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let percent = self.runtime.config.trace.sample_percent;
        if !trace::chosen(mode, percent, &traced.subject, counter) {
            return;
        }
        let manifest = &entry.loaded.manifest;
        let secrets: Vec<&str> = manifest
            .config
            .iter()
            .filter(|f| f.secret)
            .filter_map(|f| entry.options.config.get(&f.name))
            .collect();
        let output = match result {
            Ok(answer) => Ok(trace::to_json_scrubbed(answer, &secrets)),
            Err(e) => Err(trace::scrub(e.to_string(), &secrets)),
        };
        sink.record(TraceRecord {
            plugin: entry.loaded.plugin.clone(),
            world: manifest.world,
            call: traced.call,
            subject: traced.subject,
            recorded_at,
            input: (traced.input)(&secrets),
            output,
            duration,
            fuel_used: usage.fuel_used,
            memory_peak_bytes: usage.memory_peak_bytes,
        });
    }

    fn record_failure(&self, entry: &Entry, error: &PluginError) {
        entry.health.failures.fetch_add(1, Ordering::Relaxed);
        let n = entry.health.consecutive.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::warn!(plugin = %entry.loaded.plugin, consecutive = n, %error, "plugin call failed");
        let threshold = self.runtime.config.failure_threshold.max(1);
        if n >= threshold && entry.health.enabled.swap(false, Ordering::SeqCst) {
            let reason = DisabledReason::Failures {
                count: n,
                last_error: error.to_string(),
            };
            set_reason(&entry.health, Some(reason.clone()));
            tracing::error!(plugin = %entry.loaded.plugin, "plugin switched off after {n} failures in a row");
            self.notify(StateChange::Disabled {
                plugin: entry.loaded.plugin.clone(),
                reason,
            });
        }
    }

    // ---- typed calls, one per world function ----
    //
    // Each converts its arguments to the plugin's WIT version before the call starts (so the
    // conversion does not eat into the guest's budget), and the adapter reads the answer back.

    /// Quotes every method of one shipping plugin for a basket.
    pub fn quote_shipping(
        &self,
        id: &str,
        request: &ShippingRequest,
    ) -> Result<Vec<Quote>, PluginError> {
        let input =
            |secrets: &[&str]| trace::to_json_scrubbed(&trace::mask_shipping(request), secrets);
        let traced = Traced {
            call: TracedCall::Quote,
            subject: Subject::basket(&request.basket),
            input: &input,
        };
        let request = wit_v0_1::shipping_request(request);
        self.run(id, ExtensionPoint::Shipping, traced, |check, pre, store| {
            wit_v0_1::quote(check, pre, store, &request)
        })
    }

    /// [`Self::quote_shipping`] with the request exactly as it crosses WIT 0.1, which can hold
    /// what the host's own types cannot (an amount that is not a decimal): tests use it to see
    /// how a guest treats input it cannot read. The shop itself calls `quote_shipping`.
    pub fn quote_shipping_v0_1(
        &self,
        id: &str,
        request: &super::bindings::shipping::ShippingRequest,
    ) -> Result<Vec<Quote>, PluginError> {
        let input = |_: &[&str]| "\"a raw WIT 0.1 request\"".to_string();
        let traced = Traced {
            call: TracedCall::Quote,
            subject: Subject::default(),
            input: &input,
        };
        self.run(id, ExtensionPoint::Shipping, traced, |check, pre, store| {
            wit_v0_1::quote(check, pre, store, request)
        })
    }

    /// Prices a whole page (or basket) of products in one call.
    pub fn price(
        &self,
        id: &str,
        context: &PricingContext,
        items: &[PricingItem],
    ) -> Result<Vec<Priced>, PluginError> {
        self.price_for_basket(id, None, context, items)
    }

    /// [`Self::price`] for the lines of basket `basket_id`, so a decision trace of the call
    /// belongs to the basket (and to the order it becomes).
    pub fn price_for_basket(
        &self,
        id: &str,
        basket_id: Option<i64>,
        context: &PricingContext,
        items: &[PricingItem],
    ) -> Result<Vec<Priced>, PluginError> {
        let input = |secrets: &[&str]| {
            let masked = trace::mask_pricing(context);
            trace::to_json_scrubbed(&(masked, items), secrets)
        };
        let traced = Traced {
            call: TracedCall::Price,
            subject: Subject {
                basket_id,
                ..Subject::default()
            },
            input: &input,
        };
        let context = wit_v0_1::pricing_context(context);
        let items = wit_v0_1::pricing_items(items);
        self.run(id, ExtensionPoint::Pricing, traced, |check, pre, store| {
            wit_v0_1::price(check, pre, store, &context, &items)
        })
    }

    /// Evaluates an offer condition against a basket.
    pub fn check_condition(
        &self,
        id: &str,
        input: &ConditionInput,
    ) -> Result<ConditionResult, PluginError> {
        let json =
            |secrets: &[&str]| trace::to_json_scrubbed(&trace::mask_condition(input), secrets);
        let traced = Traced {
            call: TracedCall::CheckCondition,
            subject: Subject::basket(&input.basket),
            input: &json,
        };
        let input = wit_v0_1::condition_input(input);
        self.run(id, ExtensionPoint::Offer, traced, |check, pre, store| {
            wit_v0_1::check_condition(check, pre, store, &input)
        })
    }

    fn payment_call(
        &self,
        id: &str,
        call: PaymentCall,
        traced: Traced<'_>,
        currency: Option<&str>,
        limit: Option<Decimal>,
    ) -> Result<PaymentOutcome, PluginError> {
        self.run(id, ExtensionPoint::Payment, traced, |check, pre, store| {
            wit_v0_1::pay(check, pre, store, &call, currency, limit)
        })
    }

    /// Authorizes a payment. Never apply a failure policy to payments: any error means unpaid.
    /// The approved amount and currency are only checked for shape here: checkout compares
    /// them with what it asked and voids a mismatch, which needs the approval's reference (a
    /// validation error here would lose it and leave the customer's money held).
    pub fn authorize(
        &self,
        id: &str,
        request: &PaymentRequest,
    ) -> Result<PaymentOutcome, PluginError> {
        let input =
            |secrets: &[&str]| trace::to_json_scrubbed(&trace::mask_payment(request), secrets);
        let traced = Traced {
            call: TracedCall::Authorize,
            subject: Subject::order(&request.order_number),
            input: &input,
        };
        self.payment_call(id, PaymentCall::authorize(request), traced, None, None)
    }

    pub fn capture(
        &self,
        id: &str,
        reference: &str,
        amount: &Money,
    ) -> Result<PaymentOutcome, PluginError> {
        let currency = amount.currency().code();
        let input = |secrets: &[&str]| money_call_json(reference, amount, secrets);
        let traced = Traced {
            call: TracedCall::Capture,
            subject: Subject::payment(reference),
            input: &input,
        };
        self.payment_call(
            id,
            PaymentCall::capture(reference, amount),
            traced,
            Some(currency),
            None,
        )
    }

    pub fn refund(
        &self,
        id: &str,
        reference: &str,
        amount: &Money,
    ) -> Result<PaymentOutcome, PluginError> {
        let currency = amount.currency().code();
        let input = |secrets: &[&str]| money_call_json(reference, amount, secrets);
        let traced = Traced {
            call: TracedCall::Refund,
            subject: Subject::payment(reference),
            input: &input,
        };
        self.payment_call(
            id,
            PaymentCall::refund(reference, amount),
            traced,
            Some(currency),
            None,
        )
    }

    pub fn void(&self, id: &str, reference: &str) -> Result<PaymentOutcome, PluginError> {
        let input = |secrets: &[&str]| {
            trace::to_json_scrubbed(&serde_json::json!({ "reference": reference }), secrets)
        };
        let traced = Traced {
            call: TracedCall::Void,
            subject: Subject::payment(reference),
            input: &input,
        };
        self.payment_call(id, PaymentCall::void(reference), traced, None, None)
    }

    /// Finishes a redirect flow or handles a provider webhook.
    pub fn handle_callback(
        &self,
        id: &str,
        callback: &Callback,
    ) -> Result<PaymentOutcome, PluginError> {
        let input =
            |secrets: &[&str]| trace::to_json_scrubbed(&trace::mask_callback(callback), secrets);
        let traced = Traced {
            call: TracedCall::HandleCallback,
            subject: Subject::default(),
            input: &input,
        };
        self.payment_call(
            id,
            PaymentCall::handle_callback(callback),
            traced,
            None,
            None,
        )
    }

    /// The template filters and functions a theme extension offers.
    pub fn theme_functions(&self, id: &str) -> Result<Vec<FunctionInfo>, PluginError> {
        let input = |_: &[&str]| "null".to_string();
        let traced = Traced {
            call: TracedCall::ThemeFunctions,
            subject: Subject::default(),
            input: &input,
        };
        self.run(id, ExtensionPoint::Theme, traced, wit_v0_1::theme_functions)
    }

    /// Calls a template helper with JSON arguments; returns its JSON result.
    pub fn theme_call(
        &self,
        id: &str,
        name: &str,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, PluginError> {
        let input = |secrets: &[&str]| {
            trace::to_json_scrubbed(&serde_json::json!({ "name": name, "args": args }), secrets)
        };
        let traced = Traced {
            call: TracedCall::ThemeCall,
            subject: Subject::default(),
            input: &input,
        };
        let args = args.to_string();
        self.run(id, ExtensionPoint::Theme, traced, |check, pre, store| {
            wit_v0_1::theme_call(check, pre, store, name, &args)
        })
    }
}

/// The input of a capture or refund: the approval's reference and the amount.
fn money_call_json(reference: &str, amount: &Money, secrets: &[&str]) -> String {
    trace::to_json_scrubbed(
        &serde_json::json!({ "reference": reference, "amount": amount }),
        secrets,
    )
}

fn set_reason(health: &Health, reason: Option<DisabledReason>) {
    if let Ok(mut r) = health.disabled_reason.lock() {
        *r = reason;
    }
}

fn status_of(e: &Entry) -> PluginStatus {
    PluginStatus {
        plugin: e.loaded.plugin.clone(),
        name: e.loaded.manifest.name.clone(),
        world: e.loaded.manifest.world,
        enabled: e.health.enabled.load(Ordering::SeqCst),
        disabled_reason: e.health.disabled_reason.lock().ok().and_then(|r| r.clone()),
        consecutive_failures: e.health.consecutive.load(Ordering::SeqCst),
        calls: e.health.calls.load(Ordering::Relaxed),
        failures: e.health.failures.load(Ordering::Relaxed),
        sha256: e.loaded.sha256.clone(),
        last_hour: e
            .health
            .window
            .lock()
            .map(|w| w.summary())
            .unwrap_or_default(),
        trace_mode: TraceMode::from_u8(e.health.trace_mode.load(Ordering::Relaxed)),
    }
}

fn expected_world(point: ExtensionPoint) -> World {
    match point {
        ExtensionPoint::Pricing => World::PricingStrategy,
        ExtensionPoint::Offer => World::OfferCondition,
        ExtensionPoint::Shipping => World::ShippingMethod,
        ExtensionPoint::Payment => World::PaymentGateway,
        ExtensionPoint::Theme => World::ThemeExtension,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(id: &str, version: &str) -> PluginRef {
        PluginRef {
            id: id.into(),
            version: semver::Version::parse(version).expect("a test version"),
        }
    }

    #[test]
    fn a_state_change_is_logged_as_a_sentence() {
        let off = StateChange::Disabled {
            plugin: plugin("flat-rate-shipping", "1.2.0"),
            reason: DisabledReason::Failures {
                count: 5,
                last_error: "trapped".into(),
            },
        };
        assert_eq!(
            off.to_string(),
            "Plugin flat-rate-shipping@1.2.0 was switched off after 5 failures in a row; the \
             last one: trapped"
        );
        let up = StateChange::Upgraded {
            from: plugin("tiered-pricing", "1.0.0"),
            to: plugin("tiered-pricing", "1.1.0"),
        };
        assert_eq!(
            up.to_string(),
            "Plugin tiered-pricing was upgraded from 1.0.0 to 1.1.0."
        );
    }
}
