//! Accepting connections (plain TCP or TLS) and serving them with hyper until shutdown, then
//! draining: new requests are refused and idle connections closed, in-flight requests finish,
//! sessions close, connections close.

use super::limits::Connections;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A TLS handshake that takes longer than this is dropped (slow or idle clients).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long after it opens is closed.
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/1 request headers must arrive within this long, counted from when the server waits
/// for them: it also closes keep-alive connections idle this long between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 connections are pinged this often, and closed when a ping goes unanswered this long.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(30);

/// The TLS acceptor for a PEM certificate chain and key (ring provider, as the client uses).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "the TLS certificate {} is not valid PEM: {e}",
                cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "the TLS certificate file {} holds no CERTIFICATE block",
            cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "cannot read a private key (PEM) from {}: {e}",
            key.display()
        )
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup failed: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("the TLS certificate and key do not make a usable pair: {e}"))?;
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serve `app` on `listener` until a first signal; then stop accepting, refuse new requests
/// and close idle connections, wait for the requests `in_flight` tracks, close the MCP
/// sessions and the connections. A second signal meanwhile exits at once (status 1). The
/// number of requests left unanswered (0 when every one was answered within the drain's time).
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut signals: crate::shutdown::Signals,
    in_flight: &TaskTracker,
    sessions: &CancellationToken,
    connections: Arc<Connections>,
) -> usize {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: make room, and wait a moment
                    // rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    connections.evict_oldest_unauthenticated();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = signals.next() => break,
        };
        let Some(slot) = connections.admit(peer) else {
            tracing::warn!(%peer, max = connections.max(), "refused a connection: every open connection is in use by an authenticated caller (raise --max-connections)");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        // Every request carries what the bearer check needs to know about its connection.
        let info = slot.info.clone();
        let router = app.clone();
        let service = TowerToHyperService::new(tower::ServiceExt::map_request(
            router,
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                request
            },
        ));
        let watcher = graceful.watcher();
        let tls = tls.clone();
        // Nothing sent within FIRST_BYTE_TIMEOUT closes the connection; then the TLS
        // handshake (if any), and HTTP/1 or HTTP/2 with header-read and keep-alive timeouts.
        let serve = async move {
            let mut probe = [0u8; 1];
            match tokio::time::timeout(FIRST_BYTE_TIMEOUT, tcp.peek(&mut probe)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return,
                Err(_) => {
                    tracing::debug!(%peer, "closed a connection that sent nothing");
                    return;
                }
            }
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(H2_KEEP_ALIVE)
                .keep_alive_timeout(H2_KEEP_ALIVE);
            let result = match tls {
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        };
        tokio::spawn(async move {
            let close = slot.close.clone();
            tokio::select! {
                () = serve => {}
                () = close.cancelled() => {
                    tracing::debug!(%peer, "closed an unauthenticated connection to make room");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    // From now on a request that arrives is refused (503, `track_in_flight`), and a call
    // waiting for a human's approval stops waiting (`safety::elicit`).
    in_flight.close();
    crate::shutdown::begin();
    // Every connection is told now (the first poll sends the signal; the rest waits for the
    // connections to close): an idle keep-alive connection closes at once, a busy one once
    // its response is sent, an HTTP/2 one gets GOAWAY. Only requests already in flight go on.
    let closed = graceful.shutdown();
    tokio::pin!(closed);
    // Ready at once when no connection is open: then it must not be polled again.
    let all_closed = futures::poll!(closed.as_mut()).is_ready();
    tracing::info!(
        in_flight = in_flight.len(),
        "shutting down: finishing in-flight requests (a second signal exits at once)"
    );
    let drained = tokio::select! {
        done = tokio::time::timeout(crate::shutdown::DRAIN_TIMEOUT, in_flight.wait()) => done.is_ok(),
        () = signals.next() => crate::shutdown::exit_on_signal_during_drain("a second signal", in_flight.len(), "request"),
    };
    let unanswered = if drained {
        0
    } else {
        let n = in_flight.len().max(1);
        crate::shutdown::note_unanswered(
            "the requests in flight did not finish in time",
            n,
            "request",
        );
        n
    };
    // Ends every MCP session and its standing event streams.
    sessions.cancel();
    if !all_closed {
        tokio::select! {
            done = tokio::time::timeout(super::CLOSE_TIMEOUT, closed.as_mut()) => {
                if done.is_err() {
                    tracing::warn!("some connections did not close in time");
                }
            }
            () = signals.next() => crate::shutdown::exit_on_signal_during_drain("a second signal", in_flight.len(), "request"),
        }
    }
    tracing::info!("HTTP server stopped");
    unanswered
}
