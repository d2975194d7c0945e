//! Per-call store state: the WASI context (no preopens, no env, no args, no network, stdio
//! captured), the optional `wasi:http` gate, the memory limiter and the `host` interface.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::bindings::base::emporium::plugin::host;
use super::bindings::{LogLevel, Timestamp};
use super::loaded::CallContext;

/// At most this many `host.log` messages per call, each at most `MAX_LOG_BYTES`.
pub const MAX_LOGS_PER_CALL: u32 = 64;
pub const MAX_LOG_BYTES: usize = 4096;
/// Guest stdout/stderr kept per call (the rest is dropped, never an error).
pub const MAX_STDIO_BYTES: usize = 8192;

/// Refuses memory growth past the cap and remembers that it did, so the host can report
/// `OutOfMemory` instead of a generic trap.
pub struct MemoryLimiter {
    pub limit: usize,
    pub hit: bool,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
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
}

/// Whether `host[:port]` matches an allow-list entry (`host` matches any port).
pub fn host_allowed(allowed: &[String], host: &str, port: Option<u16>) -> bool {
    allowed.iter().any(|entry| match entry.rsplit_once(':') {
        Some((h, p)) => h.eq_ignore_ascii_case(host) && p.parse::<u16>().ok() == port,
        None => entry.eq_ignore_ascii_case(host),
    })
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
        if !host_allowed(&self.allowed, &host, port) {
            let target = match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            };
            if let Ok(mut d) = self.denied.lock() {
                d.push(format!("HTTP request to {target}"));
            }
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        // The guest's CPU budget does not run while it waits on the host, so the wall clock
        // of a provider call is bounded here.
        let mut options = options.unwrap_or_default();
        options.connect_timeout.get_or_insert(self.timeout);
        options.first_byte_timeout.get_or_insert(self.timeout);
        options.between_bytes_timeout.get_or_insert(self.timeout);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
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
