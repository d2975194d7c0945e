//! The engine, the compiled-component cache, loading a plugin folder into a pre-instantiated
//! component, and running one call in a fresh store.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use semver::{Version, VersionReq};
use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable, ResourceType};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

use super::bindings::base::emporium::plugin::host;
use super::bindings::{Timestamp, offer, payment, pricing, shipping, theme};
use super::error::{PluginError, PluginRef};
use super::sandbox::{
    BudgetSpent, CallContext, CallState, CappedOutput, HasBoundedIo, HasTable, HttpGate,
    MemoryLimiter,
};
use super::trace::Usage;
use crate::plugins::distribution::manifest::{ACCEPTED_WIT, Manifest, ManifestError, World};

/// The wasmtime release line this host is built against (pinned in host/Cargo.toml). The
/// settings hash in cache file names also covers the exact wasmtime version.
const WASMTIME_LINE: &str = "48";

/// How the sandbox is sized. The defaults suit a shop; tests and benchmarks shrink or vary them.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components (`.cwasm`) are cached. Must be writable by the host only:
    /// files there are loaded as native code.
    pub cache_dir: PathBuf,
    /// CPU budget of a call in worlds without network access.
    pub call_budget: Duration,
    /// Wall-clock budget of a call in worlds that may wait on HTTP (payment, live shipping):
    /// the epoch keeps ticking while the guest waits on the host.
    pub http_call_budget: Duration,
    /// Timeout of each outgoing HTTP request phase (connect, first byte, between bytes).
    pub http_timeout: Duration,
    /// Linear memory cap per call.
    pub memory_limit: usize,
    /// Most CPU budget a plugin may ask for in its manifest (`[limits] time_budget_ms`).
    pub max_call_budget: Duration,
    /// Most memory a plugin may ask for in its manifest (`[limits] memory_mib`).
    pub max_memory_limit: usize,
    /// Epoch tick: the resolution of the CPU budget.
    pub epoch_tick: Duration,
    /// Use fuel instead of epochs (only for measuring; epochs are cheaper).
    pub fuel: Option<u64>,
    /// Concurrent instances the pooling allocator holds.
    pub pool_instances: u32,
    /// Consecutive failures after which a plugin is switched off.
    pub failure_threshold: u32,
    /// A PEM file of root certificates trusted for plugins' `https://` requests beside the
    /// system's (`EMPORIUM_PLUGIN_CA_FILE`).
    pub extra_ca_file: Option<PathBuf>,
    /// How decision traces are sampled and kept.
    pub trace: TraceSettings,
}

/// Decision traces (see [`super::trace`]): the registry uses the share, the lifecycle's store
/// the bounds.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// Percent of baskets (orders) recorded for plugins in sampled mode
    /// (`EMPORIUM_PLUGIN_TRACE_SAMPLE_PERCENT`).
    pub sample_percent: u8,
    /// Records older than this are deleted (`EMPORIUM_PLUGIN_TRACE_RETENTION_HOURS`).
    pub retention: Duration,
    /// The store's size bound: the oldest records go first (`EMPORIUM_PLUGIN_TRACE_MAX_MB`).
    pub max_bytes: u64,
}

impl Default for TraceSettings {
    fn default() -> Self {
        TraceSettings {
            sample_percent: 10,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_bytes: 64 << 20,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: PathBuf::from("data/plugin-cache"),
            call_budget: Duration::from_millis(10),
            http_call_budget: Duration::from_secs(15),
            http_timeout: Duration::from_secs(10),
            memory_limit: 32 << 20,
            max_call_budget: Duration::from_millis(100),
            max_memory_limit: 128 << 20,
            epoch_tick: Duration::from_millis(1),
            fuel: None,
            pool_instances: 64,
            failure_threshold: 5,
            extra_ca_file: None,
            trace: TraceSettings::default(),
        }
    }
}

/// One wasmtime engine for the whole process, with its epoch ticker thread.
pub struct PluginRuntime {
    pub(crate) engine: Engine,
    pub(crate) config: RuntimeConfig,
    /// How allowed HTTP requests leave (TLS roots), shared by every call.
    outbound: Arc<super::outbound::Outbound>,
    settings_hash: String,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    pub fn new(config: RuntimeConfig) -> Result<PluginRuntime, PluginError> {
        let mut wasm = Config::new();
        wasm.wasm_component_model(true);
        if config.fuel.is_some() {
            wasm.consume_fuel(true);
        } else {
            wasm.epoch_interruption(true);
        }
        let mut pool = PoolingAllocationConfig::default();
        let n = config.pool_instances.max(1);
        pool.total_component_instances(n)
            .total_core_instances(n * 4)
            .total_memories(n * 2)
            .total_tables(n * 4)
            // Components of interpreted guests (Python, JS) are large.
            .max_component_instance_size(8 << 20)
            .max_core_instance_size(8 << 20)
            .max_memory_size((config.memory_limit.max(1 << 20) * 8).max(config.max_memory_limit));
        // A fresh instance per call makes resetting a memory slot the biggest cost of a call:
        // by default wasmtime gives the pages back with madvise, and the next call faults them
        // in again (with TLB shootdowns on every drop). Keeping up to 1 MiB per slot resident
        // and resetting only the pages the guest dirtied (found with the PAGEMAP_SCAN ioctl,
        // Linux 6.7+; elsewhere this falls back to madvise) took a 10-line shipping quote from
        // 43.6 to 19.8 µs (BENCHMARKS.md). Resident cost: at most 1 MiB per warm slot.
        pool.linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 20)
            .pagemap_scan(wasmtime::Enabled::Auto);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
        let outbound = Arc::new(
            super::outbound::Outbound::new(config.extra_ca_file.as_deref())
                .map_err(PluginError::Runtime)?,
        );
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let settings_hash = format!("{:016x}", h.finish());
        std::fs::create_dir_all(&config.cache_dir)
            .map_err(|e| PluginError::Runtime(format!("cache dir {:?}: {e}", config.cache_dir)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = if config.fuel.is_none() {
            let (engine, stop, tick) = (engine.clone(), stop.clone(), config.epoch_tick);
            Some(
                std::thread::Builder::new()
                    .name("plugin-epoch".into())
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(tick);
                            engine.increment_epoch();
                        }
                    })
                    .map_err(|e| PluginError::Runtime(format!("epoch thread: {e}")))?,
            )
        } else {
            None
        };
        Ok(PluginRuntime {
            engine,
            config,
            outbound,
            settings_hash,
            stop,
            ticker: Mutex::new(ticker),
        })
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The CPU budget of one call of a plugin: the host's default for its world, or what its
    /// manifest asks for (`[limits] time_budget_ms`), at most `max_call_budget`. A manifest can
    /// only raise the budget, never shorten a world's (HTTP calls wait on the network).
    pub fn budget_for(&self, manifest: &Manifest) -> Duration {
        // Only a plugin that may wait on HTTP gets the long wall-clock budget.
        let default = if manifest.world.allows_http() && !manifest.permissions.http.hosts.is_empty()
        {
            self.config.http_call_budget
        } else {
            self.config.call_budget
        };
        match manifest.limits.time_budget_ms {
            Some(ms) => default.max(Duration::from_millis(ms).min(self.config.max_call_budget)),
            None => default,
        }
    }

    /// The memory cap of one call: the installation's or the runtime's default, raised to what
    /// the manifest asks for (`[limits] memory_mib`) up to `max_memory_limit`.
    pub fn memory_for(&self, manifest: &Manifest, installed: Option<usize>) -> usize {
        let default = installed.unwrap_or(self.config.memory_limit);
        match manifest.limits.memory_mib {
            Some(mib) => {
                let asked = usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
                default.max(asked.min(self.config.max_memory_limit))
            }
            None => default,
        }
    }

    /// The cache file for a component: content hash + wasmtime version + engine settings, so a
    /// changed component, a wasmtime upgrade or a different engine configuration never picks
    /// up a stale compilation.
    pub fn cache_path(&self, wasm: &[u8]) -> PathBuf {
        let digest = hex::encode(Sha256::digest(wasm));
        self.config.cache_dir.join(format!(
            "{digest}-wasmtime{WASMTIME_LINE}-{}.cwasm",
            self.settings_hash
        ))
    }

    /// Compiles `wasm` (or reuses the cached compilation) and returns the component. Compiling
    /// happens at install/load time, never on a request.
    pub fn compile_cached(&self, wasm: &[u8]) -> Result<(Component, PathBuf), String> {
        let path = self.cache_path(wasm);
        if !path.exists() {
            let bytes = self
                .engine
                .precompile_component(wasm)
                .map_err(|e| format!("not a valid component: {e:#}"))?;
            // Write to a temporary name first so a crash never leaves a truncated file under
            // the final name. The name is unique per writer: two threads of one process may
            // compile the same component at once, and each must rename its own file.
            static WRITER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = WRITER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
            std::fs::write(&tmp, &bytes).map_err(|e| format!("writing {tmp:?}: {e}"))?;
            std::fs::rename(&tmp, &path).map_err(|e| format!("renaming {tmp:?}: {e}"))?;
        }
        Ok((self.load_cached(&path)?, path))
    }

    /// Loads a `.cwasm` this host wrote into its own cache directory.
    pub fn load_cached(&self, path: &Path) -> Result<Component, String> {
        if !path.starts_with(&self.config.cache_dir) {
            return Err(format!("{path:?} is not in the host's cache directory"));
        }
        // SAFETY: `deserialize_file` trusts its input to be wasmtime-compiled code. The file
        // was written by `compile_cached` above into the host's private cache directory, and
        // its name binds it to the component's hash, the wasmtime version and the engine
        // settings; wasmtime additionally checks version and settings in the file header.
        unsafe { Component::deserialize_file(&self.engine, path) }
            .map_err(|e| format!("loading cached compilation {path:?}: {e:#}"))
    }

    /// Reads a plugin folder (`plugin.toml` + `plugin.wasm`), validates it and pre-instantiates
    /// it. `approved_hosts` is the administrator's HTTP approval for this plugin.
    pub fn load_dir(&self, dir: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let manifest_path = dir.join("plugin.toml");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| PluginError::Manifest {
            path: manifest_path.clone(),
            source: ManifestError::Syntax(e.to_string()),
        })?;
        let manifest = Manifest::parse(&text).map_err(|source| PluginError::Manifest {
            path: manifest_path,
            source,
        })?;
        let wasm = std::fs::read(dir.join("plugin.wasm")).map_err(|e| PluginError::Load {
            plugin: plugin_ref(&manifest),
            reason: format!("reading plugin.wasm: {e}"),
        })?;
        self.load(manifest, &wasm)
    }

    /// Validates a component against its manifest and pre-instantiates it.
    pub fn load(&self, manifest: Manifest, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, PluginError> {
        let plugin = plugin_ref(&manifest);
        let load_err = |reason: String| PluginError::Load {
            plugin: plugin.clone(),
            reason,
        };
        let started = Instant::now();
        let (component, cache_file) = self.compile_cached(wasm).map_err(load_err)?;
        check_component(&self.engine, &component, manifest.world).map_err(load_err)?;
        let world = manifest.world;
        let linker = link(&self.engine, &component, &manifest).map_err(load_err)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(format!("{e:#}")))?;
        let pre = match world {
            World::PricingStrategy => pricing::PricingStrategyPre::new(pre).map(WorldPre::Pricing),
            World::OfferCondition => offer::OfferConditionPre::new(pre).map(WorldPre::Offer),
            World::ShippingMethod | World::ShippingMethodHttp => {
                shipping::ShippingMethodPre::new(pre).map(WorldPre::Shipping)
            }
            World::PaymentGateway => payment::PaymentGatewayPre::new(pre).map(WorldPre::Payment),
            World::ThemeExtension => theme::ThemeExtensionPre::new(pre).map(WorldPre::Theme),
        }
        .map_err(|e| load_err(format!("missing or mistyped exports: {e:#}")))?;
        tracing::debug!(plugin = %plugin, elapsed = ?started.elapsed(), "plugin loaded");
        Ok(Arc::new(LoadedPlugin {
            plugin,
            manifest: Arc::new(manifest),
            pre,
            cache_file,
            sha256: hex::encode(Sha256::digest(wasm)),
        }))
    }

    /// Runs `f` against a fresh instance of `plugin` in a fresh store with the call's budget
    /// and memory cap, and turns every way it can go wrong into a typed error.
    pub(crate) fn call<R>(
        &self,
        plugin: &LoadedPlugin,
        call: Arc<CallContext>,
        usage: &mut Usage,
        f: impl FnOnce(&WorldPre, &mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let stdout = CappedOutput::default();
        let stderr = CappedOutput::default();
        // No preopened directories, no environment, no arguments, no stdin, no sockets
        // (TCP/UDP and name lookup are off by default in WasiCtxBuilder).
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .build();
        let denied = Arc::new(Mutex::new(Vec::new()));
        let budget = self.budget_for(&plugin.manifest);
        let state = CallState {
            wasi,
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http_gate: HttpGate {
                allowed: call.http_allowed.clone(),
                denied: denied.clone(),
                timeout: self.config.http_timeout,
                outbound: self.outbound.clone(),
            },
            limiter: MemoryLimiter {
                limit: call.memory_limit,
                hit: false,
                peak: 0,
            },
            call: call.clone(),
            now: Timestamp {
                seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
                nanoseconds: now.subsec_nanos(),
            },
            logs: 0,
            deadline: Instant::now() + budget,
            denied: denied.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        match self.config.fuel {
            Some(fuel) => {
                store
                    .set_fuel(fuel)
                    .map_err(|e| PluginError::Runtime(format!("{e:#}")))?;
            }
            None => {
                let tick = self.config.epoch_tick.as_nanos().max(1);
                let ticks = budget.as_nanos().div_ceil(tick).max(1);
                store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
                store.epoch_deadline_trap();
            }
        }
        // WASI's sync bindings block on a tokio runtime of their own when the guest touches
        // stdio; on a tokio worker thread that would panic ("cannot start a runtime from
        // within a runtime"), so a call made from async code moves off the worker first.
        let result = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| f(&plugin.pre, &mut store))
            }
            _ => f(&plugin.pre, &mut store),
        };
        *usage = Usage {
            fuel_used: self
                .config
                .fuel
                .map(|given| given.saturating_sub(store.get_fuel().unwrap_or(0))),
            memory_peak_bytes: u64::try_from(store.data().limiter.peak).unwrap_or(u64::MAX),
        };
        let state = store.data();
        for (name, out) in [("stdout", &stdout), ("stderr", &stderr)] {
            let text = out.take();
            if !text.is_empty() {
                tracing::info!(plugin = %plugin.plugin, stream = name, "{}", String::from_utf8_lossy(&text));
            }
        }
        let denied: Vec<String> = denied.lock().map(|d| d.clone()).unwrap_or_default();
        match result {
            // A guest that tried a capability it was not granted fails the call even if it
            // carried on: the attempt itself is the misbehaviour, and a payment must not be
            // decided by a plugin that is probing its sandbox.
            Ok(_) if !denied.is_empty() => Err(PluginError::Denied {
                plugin: plugin.plugin.clone(),
                capability: denied.join(", "),
            }),
            Ok(r) => Ok(r),
            Err(e) => Err(classify(
                &plugin.plugin,
                e,
                state.limiter.hit,
                call.memory_limit,
                budget,
                denied,
            )),
        }
    }
}

impl Drop for PluginRuntime {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(mut t) = self.ticker.lock()
            && let Some(handle) = t.take()
        {
            let _ = handle.join();
        }
    }
}

fn classify(
    plugin: &PluginRef,
    error: wasmtime::Error,
    memory_hit: bool,
    memory_limit: usize,
    budget: Duration,
    denied: Vec<String>,
) -> PluginError {
    let plugin = plugin.clone();
    if memory_hit {
        return PluginError::OutOfMemory {
            plugin,
            limit_bytes: memory_limit,
        };
    }
    if let Some(trap) = error.downcast_ref::<Trap>()
        && matches!(trap, Trap::Interrupt | Trap::OutOfFuel)
    {
        return PluginError::Timeout { plugin, budget };
    }
    // The host gave up waiting (sleep, poll, a blocking stream) at the call's deadline.
    if caused_by::<BudgetSpent>(&error) {
        return PluginError::Timeout { plugin, budget };
    }
    // Every instance slot (or memory, table, stack) of the pool is in use: the host is at
    // capacity, which says nothing about this plugin.
    if caused_by::<wasmtime::PoolConcurrencyLimitError>(&error) {
        return PluginError::Capacity {
            plugin,
            message: format!("{error:#}"),
        };
    }
    if let Some(capability) = denied.into_iter().next() {
        return PluginError::Denied { plugin, capability };
    }
    PluginError::Trap {
        plugin,
        message: format!("{error:#}"),
    }
}

fn caused_by<E: std::error::Error + Send + Sync + 'static>(error: &wasmtime::Error) -> bool {
    error.is::<E>()
        || error
            .chain()
            .any(|cause| cause.downcast_ref::<E>().is_some())
}

/// The WASI interfaces every world gets. None of them reaches outside the call: stdio is
/// captured, the environment and arguments are empty, there are no preopened directories (the
/// filesystem interfaces are linked because interpreted runtimes import them at start-up;
/// without a preopen there is no descriptor to call them on), and `wasi:io` waits end at the
/// call's deadline. Sockets are never linked: no world has raw network access.
const WASI_FOR_EVERY_WORLD: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// Linked for worlds that may call out over HTTP, when the manifest declares hosts; every
/// request still goes through the [`HttpGate`] (declared ∩ approved).
const WASI_HTTP: &[&str] = &["wasi:http/types", "wasi:http/outgoing-handler"];

/// The host's own interfaces.
const OURS: &[&str] = &["emporium:plugin/host", "emporium:plugin/types"];

/// Builds the linker for one plugin: exactly the interfaces its world and manifest grant.
/// Whatever else the component imports (sockets, or HTTP without a grant) is linked to a
/// function that records the attempt and fails the call as [`PluginError::Denied`], so a
/// component that merely imports more than it may use still loads (language runtimes import
/// a lot), and one that calls it is caught.
fn link(
    engine: &Engine,
    component: &Component,
    manifest: &Manifest,
) -> Result<Linker<CallState>, String> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
    use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sync};
    use wasmtime_wasi::random::{WasiRandom, WasiRandomView};

    let mut linker: Linker<CallState> = Linker::new(engine);
    let wasi = |e: wasmtime::Error| format!("linking WASI: {e:#}");
    let l = &mut linker;
    io::error::add_to_linker::<CallState, HasTable>(l, |s| &mut s.table).map_err(wasi)?;
    sync::io::poll::add_to_linker::<CallState, HasBoundedIo>(l, CallState::bounded_io)
        .map_err(wasi)?;
    sync::io::streams::add_to_linker::<CallState, HasBoundedIo>(l, CallState::bounded_io)
        .map_err(wasi)?;
    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)
        .map_err(wasi)?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)
        .map_err(wasi)?;
    random::random::add_to_linker::<CallState, WasiRandom>(l, CallState::random).map_err(wasi)?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, CallState::random).map_err(wasi)?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, CallState::random)
        .map_err(wasi)?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::exit::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli).map_err(wasi)?;
    filesystem::preopens::add_to_linker::<CallState, WasiFilesystem>(l, CallState::filesystem)
        .map_err(wasi)?;
    sync::filesystem::types::add_to_linker::<CallState, WasiFilesystem>(l, CallState::filesystem)
        .map_err(wasi)?;
    let mut granted: Vec<&str> = WASI_FOR_EVERY_WORLD.iter().chain(OURS).copied().collect();
    if manifest.world.allows_http() && !manifest.permissions.http.hosts.is_empty() {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(l)
            .map_err(|e| format!("linking wasi:http: {e:#}"))?;
        granted.extend(WASI_HTTP);
    }
    host::add_to_linker::<CallState, HasSelf<CallState>>(l, |s| s)
        .map_err(|e| format!("linking host: {e:#}"))?;
    deny_the_rest(l, engine, component, &granted)?;
    Ok(linker)
}

/// Links every import of `component` outside `granted` to a function that records the attempt
/// (the call then fails as denied) and traps, so the guest cannot carry on as if it had it.
fn deny_the_rest(
    linker: &mut Linker<CallState>,
    engine: &Engine,
    component: &Component,
    granted: &[&str],
) -> Result<(), String> {
    let err = |e: wasmtime::Error| format!("linking denied imports: {e:#}");
    for (name, item) in component.component_type().imports(engine) {
        let interface = name.split('@').next().unwrap_or(name);
        if granted.contains(&interface) {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            // A bare function or type import: instantiation names it as missing.
            continue;
        };
        let mut li = linker.instance(name).map_err(err)?;
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{interface}.{export}");
                    li.func_new(export, move |store, _, _, _| {
                        store.data().deny(what.clone());
                        Err(wasmtime::format_err!(
                            "{what} is not granted to this plugin"
                        ))
                    })
                    .map_err(err)?;
                }
                ComponentItem::Resource(_) => {
                    li.resource(export, stub_resource(export), |_, _| Ok(()))
                        .map_err(err)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The resource type to give a resource export of a denied interface. Resources it only
/// `use`s from `wasi:io` (which every world links) must be exactly those; the ones it defines
/// itself (a socket, an HTTP request) can be any type nothing else has, as no value of them is
/// ever made.
fn stub_resource(name: &str) -> ResourceType {
    use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, IoError};
    match name {
        "pollable" => ResourceType::host::<DynPollable>(),
        "input-stream" => ResourceType::host::<DynInputStream>(),
        "output-stream" => ResourceType::host::<DynOutputStream>(),
        "error" | "io-error" => ResourceType::host::<IoError>(),
        _ => ResourceType::host::<()>(),
    }
}

pub(crate) fn plugin_ref(manifest: &Manifest) -> PluginRef {
    PluginRef {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
    }
}

/// Checks a component's exports and imports against its declared world before linking, so
/// the errors say what is wrong in plugin terms.
fn check_component(engine: &Engine, component: &Component, world: World) -> Result<(), String> {
    let ty = component.component_type();
    let wanted = world.export_interface();
    let accepted = VersionReq::parse(ACCEPTED_WIT).map_err(|e| e.to_string())?;
    let mut found = None;
    let mut exports = Vec::new();
    for (name, _) in ty.exports(engine) {
        exports.push(name.to_string());
        if let Some((iface, version)) = name.split_once('@')
            && iface == wanted
        {
            found = Some(version.to_string());
        }
    }
    let Some(version) = found else {
        return Err(format!(
            "world mismatch or missing export: the {world} world needs `{wanted}`, the component exports {exports:?}"
        ));
    };
    let version = Version::parse(&version).map_err(|e| format!("export version {version}: {e}"))?;
    if !accepted.matches(&version) {
        return Err(format!(
            "component targets WIT {version}, outside the accepted range {ACCEPTED_WIT}"
        ));
    }
    for (name, _) in ty.imports(engine) {
        if name.starts_with("wasi:http/") && !world.allows_http() {
            return Err(format!(
                "imports `{name}`, but the {world} world does not grant HTTP"
            ));
        }
        // `types` is a types-only import; `host` is the host interface.
        let ours = ["emporium:plugin/host@", "emporium:plugin/types@"];
        if name.starts_with("emporium:plugin/") && !ours.iter().any(|p| name.starts_with(p)) {
            return Err(format!("imports `{name}`, which the host does not provide"));
        }
    }
    Ok(())
}

/// The pre-instantiated component, typed by world.
pub enum WorldPre {
    Pricing(pricing::PricingStrategyPre<CallState>),
    Offer(offer::OfferConditionPre<CallState>),
    Shipping(shipping::ShippingMethodPre<CallState>),
    Payment(payment::PaymentGatewayPre<CallState>),
    Theme(theme::ThemeExtensionPre<CallState>),
}

/// A validated, compiled, pre-instantiated plugin. Immutable: a new version or a new
/// configuration makes a new registry entry, and calls in flight keep the one they started with.
pub struct LoadedPlugin {
    pub plugin: PluginRef,
    pub manifest: Arc<Manifest>,
    pub(crate) pre: WorldPre,
    pub cache_file: PathBuf,
    pub sha256: String,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("plugin", &self.plugin)
            .field("world", &self.manifest.world)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}
