//! Running the shop: the HTTP server over the [`Shop`](crate::app::Shop)'s router, and the
//! background tasks beside it (mail delivery, sweeps, the payment recovery pass, the demo's
//! sandbox payment provider).

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::web;

/// Serves until the listener fails or the process receives Ctrl-C / SIGTERM.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    let sweeper = spawn_sweeper(state.clone());
    let voids = spawn_void_retries(state.clone());
    let alerts = spawn_alerts(state.clone());
    let sandbox = match &state.config.sandbox_provider_addr {
        Some(addr) => {
            let sandbox_listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} for the sandbox payment provider"))?;
            let base = format!("http://{}", sandbox_listener.local_addr()?);
            tracing::info!(
                "sandbox payment provider at {base}/v1 (API key {})",
                crate::payment::sandbox::DEMO_API_KEY
            );
            // The demo's redirect gateway is told of decided payments like a real provider
            // would tell a shop, through the shop's webhook route.
            let shop = listener.local_addr()?;
            let sandbox =
                crate::payment::sandbox::Sandbox::new(crate::payment::sandbox::DEMO_API_KEY, &base)
                    .with_webhook(&format!("http://{shop}/payment/redirect-gateway/webhook/"));
            Some(tokio::spawn(crate::payment::sandbox::serve(
                sandbox,
                sandbox_listener,
            )))
        }
        None => None,
    };
    // Delivers queued mail in the background, never in a request.
    let mail_sender = state.mailer.spawn();
    let header_read_timeout = Duration::from_secs(state.config.header_read_timeout_secs);
    let analytics = state.analytics.clone();
    let app = web::router(state);
    serve_http(listener, app, header_read_timeout, shutdown_signal())
        .await
        .context("serving HTTP")?;
    // The requests are answered: what they recorded is written before the process ends
    // (bounded, so a database that has gone away cannot hold the shutdown).
    if tokio::time::timeout(Duration::from_secs(10), analytics.flush())
        .await
        .is_err()
    {
        tracing::warn!("analytics events still queued at shutdown were not written");
    }
    sweeper.abort();
    voids.abort();
    alerts.abort();
    if let Some(sandbox) = sandbox {
        sandbox.abort();
    }
    mail_sender.abort();
    Ok(())
}

/// Accepts HTTP/1.1 connections until `shutdown` resolves, then lets the requests in flight
/// finish (idle keep-alive connections are closed at once).
///
/// `axum::serve` has no header read timeout, so a client that sends its request one byte at
/// a time (slowloris) would hold a connection and its task forever. Here hyper's own timer
/// closes a connection whose request head is not complete `header_read_timeout` after the
/// server started waiting for it; that also bounds how long an idle keep-alive connection
/// stays open. HTTP/2 is not offered: browsers speak it only over TLS, which a proxy in front
/// of the shop terminates, and the cleartext HTTP/2 detection reads the client's first bytes
/// with no timer at all.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // Handlers read the client's address with `ConnectInfo<SocketAddr>`, as under
        // `into_make_service_with_connect_info`.
        let service = hyper::service::service_fn(move |mut request: http::Request<_>| {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timed-out heads, resets and malformed requests: the client's doing.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection that has gone before it was accepted; the listener is fine.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Every ten minutes: expired sessions out of the database, and anonymous baskets whose
/// session is surely gone (untouched for twice as long as an idle session lives).
fn spawn_sweeper(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = state.sessions.cleanup().await {
                tracing::warn!(error = %e, "session sweep failed");
            }
            let ttl = i64::try_from(state.config.session_ttl_secs.saturating_mul(2))
                .unwrap_or(i64::MAX / 4);
            let before = time::OffsetDateTime::now_utc() - time::Duration::seconds(ttl);
            let before = before
                .replace_nanosecond(0)
                .unwrap_or(before)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            if let Err(e) = crate::basket::sweep_abandoned(&state.db.pool, &before).await {
                tracing::warn!(error = %e, "abandoned basket sweep failed");
            }
            if let Err(e) = crate::checkout::pending::sweep(&state.db.pool, &before).await {
                tracing::warn!(error = %e, "pending payment sweep failed");
            }
        }
    })
}

/// Back-in-stock alerts: every `alert_interval_secs`, the emails of alerts whose product can
/// be bought again are queued, and the mailer is woken.
fn spawn_alerts(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.alert_interval_secs);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let sender = crate::customer::Sender::new(&state.templates, &state.config);
            let shop = crate::alerts::Shop {
                db: &state.db,
                pricing: &state.pricing,
                currency: state.currency,
                sender: &sender,
            };
            match crate::alerts::dispatch(&shop).await {
                Ok(0) => {}
                Ok(_) => state.mailer.wake(),
                Err(e) => tracing::warn!(error = %e, "back-in-stock alerts not sent"),
            }
        }
    })
}

/// The payment recovery pass: at start-up, then every minute. Retries voids the provider
/// refused (with back-off) and voids approvals that a crash left without an order.
fn spawn_void_retries(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match crate::payment::claim::retry_due(
                &state.db,
                state.plugins.registry(),
                Duration::from_secs(state.config.payment_recovery_grace_secs),
            )
            .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!("Payment recovery pass tried {n} voids."),
                Err(e) => tracing::warn!("Payment recovery pass failed: {e}"),
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
