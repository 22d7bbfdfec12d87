//! HTTPS listener: TLS with rustls, HTTP/1.1 with hyper, one task per connection.

use crate::faults::{self, CONTROL_PREFIX, FaultOutcome};
use crate::pipeline::{Incoming, process};
use crate::reply::Reply;
use crate::state::Shared;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming as Body;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Largest request body accepted (pfSense's nginx allows about this much).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why a connection is dropped without an answer (the `reset` fault).
#[derive(Debug)]
pub struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

pub async fn serve(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                connections.spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!("TLS handshake with {peer} failed: {e}");
                            return;
                        }
                    };
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { handle(shared, peer, req).await }
                    });
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(tls), service)
                        .await
                    {
                        tracing::debug!("connection from {peer} ended: {e}");
                    }
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.abort_all();
}

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(to_response(Reply::raw(
                413,
                "text/html",
                "<html><body><h1>413 Request Entity Too Large</h1></body></html>",
            )));
        }
    };
    let incoming = Incoming {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
        peer: peer.ip(),
    };
    if incoming.path.starts_with(CONTROL_PREFIX) {
        return Ok(to_response(faults::control(&shared, &incoming)));
    }
    let fault = faults::pick(&shared, &incoming.method, &incoming.path);
    let mut preamble = None;
    // Delayed requests are logged on arrival (status 0 until answered): a client that gives
    // up during the delay closes the connection, and hyper drops this future with it.
    let mut logged = None;
    let log = |status: u16, logged: Option<u64>| match logged {
        Some(seq) => faults::set_status(&shared, seq, status),
        None => {
            faults::record(&shared, &incoming, status, fault.as_ref());
        }
    };
    if let Some(f) = &fault {
        if f.latency_ms > 0 {
            logged = Some(faults::record(&shared, &incoming, 0, fault.as_ref()));
            tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        }
        match faults::outcome(&f.action) {
            FaultOutcome::Proceed => {}
            FaultOutcome::Prefix(text) => preamble = Some(text),
            FaultOutcome::Reply(reply) => {
                log(reply.status, logged);
                return Ok(to_response(reply));
            }
            FaultOutcome::Reset => {
                log(0, logged);
                return Err(DropConnection);
            }
            FaultOutcome::Hang => {
                log(0, logged);
                // Until the emulator stops (the connection task is aborted then).
                loop {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            }
        }
    }
    let mut reply = process(&shared, &incoming);
    if let Some(text) = preamble {
        let mut body = text.into_bytes();
        body.extend_from_slice(&reply.body);
        reply.body = Bytes::from(body);
    }
    tracing::debug!(
        method = %incoming.method,
        path = %incoming.path,
        status = reply.status,
        "request"
    );
    log(reply.status, logged);
    Ok(to_response(reply))
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", reply.content_type)
        .header("server", "nginx");
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(Full::new(reply.body)).unwrap_or_else(|_| {
        let mut r = Response::new(Full::new(Bytes::from_static(b"internal error")));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
