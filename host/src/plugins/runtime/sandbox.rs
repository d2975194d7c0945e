//! Per-call store state: what the call knows of the plugin's installation ([`CallContext`]),
//! the WASI context (no preopens, no env, no args, no network, stdio captured), the optional
//! `wasi:http` gate, the memory limiter, the `host` interface, and `wasi:io` with every wait
//! bounded by the call's deadline.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::io::streams::{
    HostInputStream as AsyncInputStream, HostOutputStream as AsyncOutputStream,
};
use wasmtime_wasi::p2::bindings::sync::io::{poll as sync_poll, streams as sync_streams};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::runtime::in_tokio;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::base::emporium::plugin::host;
use super::bindings::{LogLevel, Timestamp};
use super::error::PluginRef;
use crate::plugins::distribution::manifest::{ConfigValues, Manifest};

/// At most this many `host.log` messages per call, each at most `MAX_LOG_BYTES`.
pub const MAX_LOGS_PER_CALL: u32 = 64;
pub const MAX_LOG_BYTES: usize = 4096;
/// Guest stdout/stderr kept per call (the rest is dropped, never an error).
pub const MAX_STDIO_BYTES: usize = 8192;

/// What a call needs to know about the plugin's installation: its configuration and grants.
pub struct CallContext {
    pub plugin: PluginRef,
    pub manifest: Arc<Manifest>,
    pub config: ConfigValues,
    /// Declared hosts ∩ administrator-approved hosts.
    pub http_allowed: Arc<Vec<String>>,
    pub memory_limit: usize,
}

/// Refuses memory growth past the cap and remembers that it did, so the host can report
/// `OutOfMemory` instead of a generic trap.
pub struct MemoryLimiter {
    pub limit: usize,
    pub hit: bool,
    /// The largest size a memory asked for (its initial size included), for traces.
    pub peak: usize,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.peak = self.peak.max(desired);
        if desired > self.limit {
            self.hit = true;
            // Trapping (instead of returning false) stops the guest right here, rather than
            // letting its allocator spin on failed grows.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached (wanted {desired})",
                self.limit
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// A stdout/stderr sink that keeps the first `MAX_STDIO_BYTES` and silently drops the rest, so a
/// chatty guest can neither fill the host's memory nor fail because of it.
#[derive(Clone, Default)]
pub struct CappedOutput {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CappedOutput {
    pub fn take(&self) -> Vec<u8> {
        match self.buffer.lock() {
            Ok(mut b) => std::mem::take(&mut *b),
            Err(_) => Vec::new(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        if let Ok(mut b) = self.buffer.lock() {
            let room = MAX_STDIO_BYTES.saturating_sub(b.len());
            b.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// The only gate for outgoing HTTP: a request leaves only when its host is both declared in the
/// manifest and approved by the administrator (`allowed` is that intersection).
pub struct HttpGate {
    pub allowed: Arc<Vec<String>>,
    pub denied: Arc<Mutex<Vec<String>>>,
    pub timeout: std::time::Duration,
    /// Sends what the gate lets through.
    pub outbound: Arc<super::outbound::Outbound>,
}

/// Whether `host[:port]` matches an allow-list entry (`host` matches any port).
pub fn host_allowed(allowed: &[String], host: &str, port: Option<u16>) -> bool {
    allowed.iter().any(|entry| match entry.rsplit_once(':') {
        Some((h, p)) => h.eq_ignore_ascii_case(host) && p.parse::<u16>().ok() == port,
        None => entry.eq_ignore_ascii_case(host),
    })
}

/// Whether `host` is this machine (a sandbox provider or a test server), the only place a
/// plugin may reach over plain `http://`.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why a request may not leave, or `None`: its host must be allowed, and anything but
/// loopback must be `https://` (a payment provider's API key and the customer's payment never
/// cross the network in clear).
pub fn refusal(allowed: &[String], https: bool, host: &str, port: Option<u16>) -> Option<String> {
    let target = match port {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    if !host_allowed(allowed, host, port) {
        return Some(format!("HTTP request to {target}"));
    }
    if !https && !is_loopback(host) {
        return Some(format!(
            "plain http:// request to {target} (only https:// leaves this machine)"
        ));
    }
    None
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for HttpGate {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let _ = fut;
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri.port_u16();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        if let Some(refusal) = refusal(&self.allowed, https, &host, port) {
            if let Ok(mut d) = self.denied.lock() {
                d.push(refusal);
            }
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // The guest's CPU budget does not run while it waits on the host, so the wall clock
        // of a provider call is bounded here.
        let mut options = options.unwrap_or_default();
        options.connect_timeout.get_or_insert(self.timeout);
        options.first_byte_timeout.get_or_insert(self.timeout);
        options.between_bytes_timeout.get_or_insert(self.timeout);
        let outbound = self.outbound.clone();
        Box::new(async move { outbound.send(request, options).await })
    }
}

/// Everything a call's `Store` holds.
pub struct CallState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub http_ctx: WasiHttpCtx,
    /// Present for every call; `wasi:http` itself is only linked for worlds that grant it, so
    /// for the others this gate is never reached (and its allow-list is empty anyway).
    pub http_gate: HttpGate,
    pub limiter: MemoryLimiter,
    pub call: Arc<CallContext>,
    pub now: Timestamp,
    pub logs: u32,
    /// When the call's budget runs out. The epoch deadline stops running wasm at this point;
    /// this stops the host from waiting past it on the guest's behalf (see [`BoundedIo`]).
    pub deadline: Instant,
    /// Capabilities the guest tried without a grant (shared with the HTTP gate).
    pub denied: Arc<Mutex<Vec<String>>>,
}

impl CallState {
    /// `wasi:io` for this call, bounded by its deadline.
    pub fn bounded_io(&mut self) -> BoundedIo<'_> {
        BoundedIo {
            table: &mut self.table,
            deadline: self.deadline,
        }
    }

    /// Records that the guest called something it was not granted; the call then fails as
    /// [`super::PluginError::Denied`].
    pub fn deny(&self, what: String) {
        if let Ok(mut d) = self.denied.lock() {
            d.push(what);
        }
    }
}

/// The host waited on the guest's behalf (a sleep, a poll, a blocking stream operation) until
/// the call's time budget ran out. Classified as [`super::PluginError::Timeout`].
#[derive(Debug)]
pub struct BudgetSpent {
    pub waiting_in: &'static str,
}

impl std::fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the call's time budget ran out while the plugin waited in {}",
            self.waiting_in
        )
    }
}

impl std::error::Error for BudgetSpent {}

/// `wasi:io` (poll and streams) for one call. wasmtime-wasi's own sync bindings wait for as
/// long as the guest asks (a guest sleeping for an hour, or polling a pollable that never
/// becomes ready, would hold its thread and its instance slot for that long, and the epoch
/// deadline cannot interrupt host code). These do the same work but give up at the call's
/// deadline, failing the call as a timeout.
pub struct BoundedIo<'a> {
    pub table: &'a mut ResourceTable,
    pub deadline: Instant,
}

/// [`HasData`] for linking [`BoundedIo`].
pub struct HasBoundedIo;

impl HasData for HasBoundedIo {
    type Data<'a> = BoundedIo<'a>;
}

/// [`HasData`] for interfaces that only need the resource table (`wasi:io/error`).
pub struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// Runs a host wait to completion or until `deadline`, whichever comes first. A wait that is
/// ready at once still completes after the deadline (`timeout` polls it before the clock).
fn bounded<F: std::future::Future>(
    deadline: Instant,
    waiting_in: &'static str,
    wait: F,
) -> wasmtime::Result<F::Output> {
    let left = deadline.saturating_duration_since(Instant::now());
    in_tokio(async move { tokio::time::timeout(left, wait).await })
        .map_err(|_| wasmtime::Error::new(BudgetSpent { waiting_in }))
}

fn bounded_stream<T, F: std::future::Future<Output = StreamResult<T>>>(
    deadline: Instant,
    waiting_in: &'static str,
    wait: F,
) -> StreamResult<T> {
    bounded(deadline, waiting_in, wait).map_err(StreamError::Trap)?
}

impl sync_poll::Host for BoundedIo<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let table = &mut *self.table;
        bounded(self.deadline, "wasi:io/poll.poll", async move {
            async_poll::Host::poll(table, pollables).await
        })?
    }
}

impl sync_poll::HostPollable for BoundedIo<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let table = &mut *self.table;
        bounded(self.deadline, "wasi:io/poll.pollable.ready", async move {
            async_poll::HostPollable::ready(table, pollable).await
        })?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        bounded(self.deadline, "wasi:io/poll.pollable.block", async move {
            async_poll::HostPollable::block(table, pollable).await
        })?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(&mut *self.table, pollable)
    }
}

type SyncInput = sync_streams::InputStream;
type SyncOutput = sync_streams::OutputStream;

impl sync_streams::Host for BoundedIo<'_> {
    fn convert_stream_error(
        &mut self,
        err: StreamError,
    ) -> wasmtime::Result<sync_streams::StreamError> {
        sync_streams::Host::convert_stream_error(&mut *self.table, err)
    }
}

impl sync_streams::HostOutputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<SyncOutput>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        bounded(
            self.deadline,
            "wasi:io/streams.output-stream.drop",
            async move { AsyncOutputStream::drop(table, stream).await },
        )?
    }

    fn check_write(&mut self, stream: Resource<SyncOutput>) -> StreamResult<u64> {
        sync_streams::HostOutputStream::check_write(&mut *self.table, stream)
    }

    fn write(&mut self, stream: Resource<SyncOutput>, bytes: Vec<u8>) -> StreamResult<()> {
        sync_streams::HostOutputStream::write(&mut *self.table, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<SyncOutput>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        let table = &mut *self.table;
        bounded_stream(
            self.deadline,
            "wasi:io/streams.blocking-write-and-flush",
            async move { AsyncOutputStream::blocking_write_and_flush(table, stream, bytes).await },
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<SyncOutput>,
        len: u64,
    ) -> StreamResult<()> {
        let table = &mut *self.table;
        bounded_stream(
            self.deadline,
            "wasi:io/streams.blocking-write-zeroes-and-flush",
            async move { AsyncOutputStream::blocking_write_zeroes_and_flush(table, stream, len).await },
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<SyncOutput>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        sync_streams::HostOutputStream::subscribe(&mut *self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<SyncOutput>, len: u64) -> StreamResult<()> {
        sync_streams::HostOutputStream::write_zeroes(&mut *self.table, stream, len)
    }

    fn flush(&mut self, stream: Resource<SyncOutput>) -> StreamResult<()> {
        sync_streams::HostOutputStream::flush(&mut *self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<SyncOutput>) -> StreamResult<()> {
        let table = &mut *self.table;
        bounded_stream(
            self.deadline,
            "wasi:io/streams.blocking-flush",
            async move {
                AsyncOutputStream::blocking_flush(table, Resource::new_borrow(stream.rep())).await
            },
        )
    }

    fn splice(
        &mut self,
        dst: Resource<SyncOutput>,
        src: Resource<SyncInput>,
        len: u64,
    ) -> StreamResult<u64> {
        sync_streams::HostOutputStream::splice(&mut *self.table, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<SyncOutput>,
        src: Resource<SyncInput>,
        len: u64,
    ) -> StreamResult<u64> {
        let table = &mut *self.table;
        bounded_stream(
            self.deadline,
            "wasi:io/streams.blocking-splice",
            async move { AsyncOutputStream::blocking_splice(table, dst, src, len).await },
        )
    }
}

impl sync_streams::HostInputStream for BoundedIo<'_> {
    fn drop(&mut self, stream: Resource<SyncInput>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        bounded(
            self.deadline,
            "wasi:io/streams.input-stream.drop",
            async move { AsyncInputStream::drop(table, stream).await },
        )?
    }

    fn read(&mut self, stream: Resource<SyncInput>, len: u64) -> StreamResult<Vec<u8>> {
        sync_streams::HostInputStream::read(&mut *self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<SyncInput>, len: u64) -> StreamResult<Vec<u8>> {
        let table = &mut *self.table;
        bounded_stream(self.deadline, "wasi:io/streams.blocking-read", async move {
            AsyncInputStream::blocking_read(table, stream, len).await
        })
    }

    fn skip(&mut self, stream: Resource<SyncInput>, len: u64) -> StreamResult<u64> {
        sync_streams::HostInputStream::skip(&mut *self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<SyncInput>, len: u64) -> StreamResult<u64> {
        let table = &mut *self.table;
        bounded_stream(self.deadline, "wasi:io/streams.blocking-skip", async move {
            AsyncInputStream::blocking_skip(table, stream, len).await
        })
    }

    fn subscribe(
        &mut self,
        stream: Resource<SyncInput>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        sync_streams::HostInputStream::subscribe(&mut *self.table, stream)
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http_gate,
        }
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: LogLevel, message: String) {
        if self.logs >= MAX_LOGS_PER_CALL {
            return;
        }
        self.logs += 1;
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let plugin = &self.call.plugin;
        match level {
            LogLevel::Trace => tracing::trace!(plugin = %plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin = %plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.call
            .manifest
            .config_value(&self.call.config, &key)
            .map(str::to_string)
    }

    fn now(&mut self) -> Timestamp {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn only_allowed_hosts_and_only_https_beyond_loopback() {
        let allowed = vec![
            "api.provider.test".to_string(),
            "127.0.0.1".to_string(),
            "localhost:9000".to_string(),
        ];
        assert_eq!(refusal(&allowed, true, "api.provider.test", None), None);
        assert!(
            refusal(&allowed, false, "api.provider.test", None)
                .unwrap()
                .contains("plain http://")
        );
        assert_eq!(refusal(&allowed, false, "127.0.0.1", Some(8001)), None);
        assert_eq!(refusal(&allowed, false, "localhost", Some(9000)), None);
        assert!(
            refusal(&allowed, true, "evil.test", None)
                .unwrap()
                .starts_with("HTTP request to evil.test")
        );
        assert!(refusal(&allowed, true, "localhost", Some(9001)).is_some());
    }
}
