//! The streamable HTTP transport (`--http ADDR`): rmcp's streamable HTTP service at `/mcp`,
//! behind bearer-token authentication (with a lockout of addresses that keep failing),
//! sessions bound to the token that opened them, Host and Origin allow-lists (DNS rebinding
//! and browser cross-origin protection), a request body limit, timeouts for silent, slow and
//! idle connections, caps on connections and sessions per token, optional TLS, and a graceful
//! shutdown. `GET /healthz` answers `ok` without authentication and reveals nothing else.

pub mod auth;
mod body;
mod hosts;
pub mod limits;
mod listen;
pub mod sessions;

use crate::server::PfSenseServer;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Args;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use auth::{Caller, Tokens, caller_of};
pub use sessions::{hold_while_running, sessionless};

/// Default request body limit: 4 MiB (a tool call's arguments are a few KiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A request body must arrive whole within this long of when it is first read (slow-body
/// clients): else 408, and an HTTP/1 connection is closed.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a shutdown waits for connections to close, once the requests in flight are
/// answered (or [`crate::shutdown::DRAIN_TIMEOUT`] has passed).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

// The streamable HTTP transport's settings.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Serve MCP over streamable HTTP at http://ADDR/mcp instead of stdio, e.g.
    /// 127.0.0.1:8787 (an IP address and port; port 0 picks a free one). Requests need
    /// `Authorization: Bearer TOKEN` with a token from --tokens-file or PFSENSE_HTTP_TOKEN; on a
    /// non-loopback address the server refuses to start without one. GET /healthz answers `ok`
    /// without authentication. SIGINT/SIGTERM finish in-flight requests, then stop (a second
    /// signal stops at once).
    #[arg(long = "http", env = "PFSENSE_HTTP", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Bearer tokens for --http, one `NAME:TOKEN` per line (`#` comments allowed), each token
    /// at least 32 characters (e.g. `openssl rand -hex 32`). The NAME of the token a request
    /// presents is the caller recorded in the audit log. A single token can instead come from
    /// PFSENSE_HTTP_TOKEN (named `token`).
    #[arg(long, env = "PFSENSE_TOKENS_FILE", value_name = "FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Also accept this Host header for --http (repeatable; env: comma-separated), e.g.
    /// `mcp.example.net` or `mcp.example.net:8787`. Default: localhost, 127.0.0.1 and [::1] with
    /// the listening port, plus the listening address itself. Other hosts get 403 (protects
    /// against DNS rebinding).
    #[arg(
        long = "allowed-host",
        env = "PFSENSE_ALLOWED_HOST",
        value_name = "HOST",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
    /// Also accept this browser Origin for --http (repeatable; env: comma-separated), e.g.
    /// `https://app.example.net` or `http://localhost:*`. Default: http(s)://localhost,
    /// 127.0.0.1 and [::1] with the listening port. Requests without Origin (non-browser
    /// clients) pass; any other Origin gets 403.
    #[arg(
        long = "allowed-origin",
        env = "PFSENSE_ALLOWED_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Serve --http over TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(
        long,
        env = "PFSENSE_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(
        long,
        env = "PFSENSE_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Largest request body --http accepts, in bytes; larger requests get 413.
    #[arg(
        long,
        env = "PFSENSE_MAX_BODY_BYTES",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_BODY_BYTES
    )]
    pub max_body_bytes: usize,
    /// Most open connections --http keeps (lowered to fit the open-file limit). When full, the
    /// oldest connection that has not authenticated is closed to make room.
    #[arg(
        long,
        env = "PFSENSE_MAX_CONNECTIONS",
        value_name = "N",
        default_value_t = limits::DEFAULT_MAX_CONNECTIONS
    )]
    pub max_connections: usize,
    /// Most live MCP sessions one token may hold over --http; more get 429 until one ends.
    #[arg(
        long,
        env = "PFSENSE_MAX_SESSIONS_PER_TOKEN",
        value_name = "N",
        default_value_t = sessions::DEFAULT_MAX_SESSIONS_PER_TOKEN
    )]
    pub max_sessions_per_token: usize,
}

impl HttpArgs {
    /// Whether the HTTP transport was asked for.
    pub fn enabled(&self) -> bool {
        self.listen.as_deref().is_some_and(|s| !s.trim().is_empty())
    }

    /// The HTTP settings given (flag or variable) that do nothing without --http.
    pub fn given_without_http(&self) -> Vec<&'static str> {
        if self.enabled() {
            return Vec::new();
        }
        [
            ("--tokens-file", self.tokens_file.is_some()),
            ("--allowed-host", !self.allowed_hosts.is_empty()),
            ("--allowed-origin", !self.allowed_origins.is_empty()),
            ("--tls-cert", self.tls_cert.is_some()),
            ("--tls-key", self.tls_key.is_some()),
            (
                "--max-body-bytes",
                self.max_body_bytes != DEFAULT_MAX_BODY_BYTES,
            ),
            (
                "--max-connections",
                self.max_connections != limits::DEFAULT_MAX_CONNECTIONS,
            ),
            (
                "--max-sessions-per-token",
                self.max_sessions_per_token != sessions::DEFAULT_MAX_SESSIONS_PER_TOKEN,
            ),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

fn parse_listen(addr: &str) -> Result<SocketAddr, String> {
    let addr = addr.trim();
    // `localhost:PORT` is what people type; it means the IPv4 loopback here.
    let resolved = match addr.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => addr.to_string(),
    };
    resolved.parse().map_err(|_| {
        format!("--http `{addr}` is not an address: give an IP address and port, e.g. 127.0.0.1:8787 or [::1]:8787")
    })
}

/// The Host and Origin allow-lists: loopback names with the listening port, the listening
/// address itself when it is a specific one, and what the user added.
fn allow_lists(local: SocketAddr, tls: bool, args: &HttpArgs) -> (Vec<String>, Vec<String>) {
    let port = local.port();
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .map(|h| format!("{h}:{port}"))
        .collect();
    if !local.ip().is_unspecified() && !local.ip().is_loopback() {
        hosts.push(match local.ip() {
            IpAddr::V4(ip) => format!("{ip}:{port}"),
            IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        });
    }
    let scheme = if tls { "https" } else { "http" };
    let mut origins: Vec<String> = hosts.iter().map(|h| format!("{scheme}://{h}")).collect();
    hosts.extend(
        args.allowed_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty()),
    );
    origins.extend(
        args.allowed_origins
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty()),
    );
    (hosts, origins)
}

fn check_origins(origins: &[String]) -> Result<(), String> {
    for o in origins {
        if o != "null" && !o.contains("://") {
            return Err(format!(
                "--allowed-origin `{o}` needs a scheme, e.g. https://{o} (add :PORT or :* for a port)"
            ));
        }
    }
    Ok(())
}

/// The HTTP settings checked: what a serve needs from them. Bad settings are found before
/// anything starts (the sandbox's emulator included), and exit like every bad flag (2);
/// `doctor` reports the same check.
pub struct Checked {
    pub listen: SocketAddr,
    pub tokens: Tokens,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// What the settings allow that the reader should know, and what to do about it (logged at
    /// start).
    pub warnings: Vec<(String, String)>,
}

pub fn check(args: &HttpArgs) -> Result<Checked, String> {
    let listen = parse_listen(args.listen.as_deref().unwrap_or_default())?;
    let env_token = crate::config::env_var(auth::ENV_TOKEN);
    let tokens = Tokens::load(args.tokens_file.as_deref(), env_token.as_deref())?;
    let mut warnings = Vec::new();
    if tokens.is_empty() {
        if !listen.ip().is_loopback() {
            return Err(format!(
                "refusing to serve MCP on {listen} without a bearer token: anyone who can reach it could change the firewall. Give tokens with --tokens-file FILE (lines NAME:TOKEN) or PFSENSE_HTTP_TOKEN, or listen on 127.0.0.1"
            ));
        }
        warnings.push((
            "no bearer token configured: any local process can use this server".to_string(),
            "set PFSENSE_HTTP_TOKEN (e.g. `openssl rand -hex 32`) or --tokens-file".to_string(),
        ));
    }
    if args.max_body_bytes == 0 {
        return Err("--max-body-bytes must be at least 1".into());
    }
    if args.max_connections == 0 || args.max_sessions_per_token == 0 {
        return Err("--max-connections and --max-sessions-per-token must be at least 1".into());
    }
    check_origins(&args.allowed_origins)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(listen::tls_acceptor(cert, key)?),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    if tls.is_none() && !listen.ip().is_loopback() {
        warnings.push((
            format!(
                "serving MCP over plain HTTP on {listen}, not a loopback address: bearer tokens and tool results cross the network unencrypted"
            ),
            "use --tls-cert/--tls-key or a TLS-terminating proxy".to_string(),
        ));
    }
    Ok(Checked {
        listen,
        tokens,
        tls,
        warnings,
    })
}

/// Why the server cannot listen on `listen`, with what to do.
pub fn listen_error(listen: SocketAddr, e: &std::io::Error) -> String {
    format!("cannot listen on {listen}: {e}; {}", listen_fix(e))
}

/// What to do when the server cannot listen, by why.
pub fn listen_fix(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process listens there (a pfsense-mcp already serving?): stop it, or give --http another port"
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: give --http a port from 1024 up"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "the address is none of this machine's: give --http one of its addresses, 127.0.0.1 or 0.0.0.0"
        }
        _ => "give --http another address or port",
    }
}

/// Whether the server could listen on `listen` now: bound and let go at once (`doctor`).
pub fn try_listen(listen: SocketAddr) -> Result<(), std::io::Error> {
    std::net::TcpListener::bind(listen).map(drop)
}

/// Serve `server` over streamable HTTP with checked settings until SIGINT or SIGTERM, then
/// drain (`crate::shutdown`): an error when requests in flight were left unanswered.
pub async fn serve(server: PfSenseServer, args: &HttpArgs, checked: Checked) -> Result<(), String> {
    let Checked {
        listen,
        tokens,
        tls,
        warnings,
    } = checked;
    for (what, what_to_do) in &warnings {
        tracing::warn!("{what}; {what_to_do}");
    }
    if !tokens.is_empty() {
        let names: Vec<&str> = tokens.names().collect();
        tracing::info!(tokens = %names.join(","), "bearer tokens loaded");
    }
    // From the start: a signal while the listener is being set up is not lost.
    let signals = crate::shutdown::Signals::listen();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| listen_error(listen, &e))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let (hosts, origins) = allow_lists(local, tls.is_some(), args);
    let allowed = Arc::new(hosts::AllowLists::new(&hosts, &origins));

    let sessions = CancellationToken::new();
    // A sessionless call (2026-07-28) whose handler sends nothing before its result is
    // answered as one JSON body instead of an event stream (rmcp falls back to the stream when
    // a notification or request comes first): no stream framing per call. Within a session
    // (2025-11-25) rmcp always answers with an event stream, whatever this says.
    let config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(args.max_body_bytes)
        .with_cancellation_token(sessions.clone());
    let tools = server.offered().len();
    let manager = Arc::new(LocalSessionManager::default());
    let mcp = pfsense_mcp_transport::HttpService::new(
        // One server value per MCP session: shared fleet and guards, its own selected firewall.
        move || pfsense_mcp_transport::Erased::new(server.new_session()),
        manager.clone(),
        config,
    );
    let sessions_of_tokens = Arc::new(sessions::Sessions::new(
        manager,
        args.max_sessions_per_token,
        args.max_body_bytes,
    ));
    let in_flight = TaskTracker::new();
    let gate = Arc::new(auth::Gate::new(tokens));
    // Layers run outside in: the last added first.
    let app = Router::new()
        .route_service("/mcp", SharedMcp(Arc::new(mcp)))
        .route_layer(middleware::from_fn(json_rpc_body_errors))
        // On the MCP route only: another path is 404, not a session's business. It reads the
        // bodies (within BODY_TIMEOUT).
        .route_layer(middleware::from_fn_with_state(
            sessions_of_tokens,
            sessions::bind_to_token,
        ))
        .layer(middleware::from_fn_with_state(
            gate.clone(),
            auth::require_bearer,
        ))
        // Before the token: a refused Host or Origin never counts as a failed attempt.
        .layer(middleware::from_fn_with_state(
            allowed.clone(),
            hosts::require_allowed_host_and_origin,
        ))
        .layer(middleware::from_fn_with_state(
            InFlight {
                tracker: in_flight.clone(),
                max_body_bytes: args.max_body_bytes,
            },
            track_in_flight,
        ))
        // Routes added after the layers are outside them: no token needed.
        .route("/healthz", get(|| async { "ok" }));
    // The counts of rejected requests not logged one by one, once a minute.
    let summaries = tokio::spawn({
        let (gate, allowed) = (gate.clone(), allowed.clone());
        async move {
            let mut every = tokio::time::interval(limits::FAILURE_WINDOW);
            every.tick().await;
            loop {
                every.tick().await;
                let now = std::time::Instant::now();
                gate.rejections.summarise(now, false);
                allowed.rejections.summarise(now, false);
            }
        }
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        url = %format!("{scheme}://{local}/mcp"),
        tools,
        "serving MCP over streamable HTTP"
    );
    // Tests and scripts read the actual port (with port 0) from this line.
    crate::note!("pfsense-mcp: listening on {scheme}://{local}/mcp");

    let connections = Arc::new(limits::Connections::new(args.max_connections));
    let unanswered = listen::run(
        listener,
        tls,
        app,
        signals,
        &in_flight,
        &sessions,
        connections,
    )
    .await;
    summaries.abort();
    let now = std::time::Instant::now();
    gate.rejections.summarise(now, true);
    allowed.rejections.summarise(now, true);
    match unanswered {
        0 => Ok(()),
        n => Err(format!(
            "stopped on a signal with {n} request(s) in flight unanswered"
        )),
    }
}

/// rmcp's streamable HTTP service behind an `Arc`. axum and every middleware layer clone
/// the service beneath them once per request, and rmcp's own `call` clones it again; a clone
/// of `StreamableHttpService` copies its configuration (the host and origin allow-lists, a
/// cancellation token whose clone and drop take a lock shared by every request). Those copies
/// were 3% of a read's instructions (callgrind); this clone is a reference count.
#[derive(Clone)]
struct SharedMcp(Arc<pfsense_mcp_transport::HttpService>);

impl tower::Service<Request> for SharedMcp {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        accept_any_as_both(request.headers_mut());
        let answer = self.0.clone().handle(request);
        Box::pin(async move { Ok(answer.await) })
    }
}

/// The media types MCP requires a client to accept, which rmcp looks for by name.
const JSON_AND_EVENT_STREAM: &str = "application/json, text/event-stream";

/// `Accept: */*` (curl's default, many HTTP libraries') accepts both media types MCP answers
/// in, but rmcp looks for both by name and answers 406: such a request is given them by name.
/// A `*/*` with `q=0` accepts nothing and is left to be refused.
fn accept_any_as_both(headers: &mut axum::http::HeaderMap) {
    let any = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';');
            parts.next().map(str::trim) == Some("*/*")
                && !parts.any(|p| {
                    p.split_once('=').is_some_and(|(name, q)| {
                        name.trim().eq_ignore_ascii_case("q")
                            && q.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
                    })
                })
        });
    if any {
        headers.append(
            axum::http::header::ACCEPT,
            axum::http::HeaderValue::from_static(JSON_AND_EVENT_STREAM),
        );
    }
}

/// The requests being answered, and the body limit a late request's body is read within.
#[derive(Clone)]
struct InFlight {
    tracker: TaskTracker,
    max_body_bytes: usize,
}

/// Counts requests that are being answered (POST and DELETE; GET opens a standing event
/// stream that only ends with the session) until their response body is sent, so a shutdown
/// can wait for them. Once the shutdown began (the tracker is closed), a request that still
/// arrives is not served: 503, answering its JSON-RPC id when its body gives one.
async fn track_in_flight(
    State(in_flight): State<InFlight>,
    request: Request,
    next: Next,
) -> Response {
    // Taken before looking: a request counted before the shutdown closed the tracker is
    // waited for; one that finds it closed lets go of its token unused, so reading its body
    // below never holds up the drain.
    let token = (request.method() != Method::GET).then(|| in_flight.tracker.token());
    if in_flight.tracker.is_closed() {
        drop(token);
        let version = request.version();
        let id = body::id_of_late_request(request, in_flight.max_body_bytes).await;
        return shutting_down(version, id);
    }
    let response = next.run(request).await;
    match token {
        Some(token) => held_until_sent(response, token),
        None => response,
    }
}

/// 503 with a JSON-RPC error for a request that arrived after SIGINT or SIGTERM, carrying the
/// request's `id` (null when it could not be read, as JSON-RPC 2.0 says of a response whose
/// request's id cannot be detected); an HTTP/1 connection is closed after it.
fn shutting_down(version: axum::http::Version, id: serde_json::Value) -> Response {
    let mut response = json_rpc_error(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        id,
        SHUTTING_DOWN,
        "Service Unavailable: the server is shutting down (SIGINT or SIGTERM); it finishes the requests that arrived before and takes no new ones. This request was not executed.".into(),
    );
    if version < axum::http::Version::HTTP_2 {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// The JSON-RPC error code (implementation-defined server error) of a request refused because
/// the server is shutting down.
pub const SHUTTING_DOWN: i64 = -32000;

/// `response` with `guard` kept alive until its body has been sent (or dropped, when the
/// client left): an answer on an event stream goes on after the handler returned it.
fn held_until_sent<G: Send + 'static>(response: Response, guard: G) -> Response {
    let (parts, body) = response.into_parts();
    let body = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
        let _held = &guard;
        chunk
    });
    Response::from_parts(parts, axum::body::Body::from_stream(body))
}

/// An HTTP answer carrying one JSON-RPC error.
fn json_rpc_error(
    status: axum::http::StatusCode,
    id: serde_json::Value,
    code: i64,
    message: String,
) -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": code, "message": message},
    });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A body declared JSON that is no JSON-RPC 2.0 message is answered before rmcp sees it, as
/// stdio answers it ([`body`]). What passes that check and still does not read as one of
/// rmcp's messages (an id beyond 64-bit, a key given twice), rmcp answers with 415 Unsupported
/// Media Type in plain text although the media type is right: given as 400 with the JSON-RPC
/// invalid request stdio gives. A body of another media type keeps its 415.
async fn json_rpc_body_errors(request: Request, next: Next) -> Response {
    let json_body = body::declared_json(request.headers());
    let response = next.run(request).await;
    if !json_body || response.status() != axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let why: String = text.chars().take(300).collect();
    json_rpc_error(
        axum::http::StatusCode::BAD_REQUEST,
        serde_json::Value::Null,
        crate::jsonrpc::INVALID_REQUEST,
        format!(
            "Invalid request: the body is no JSON-RPC 2.0 message this server can read ({why})."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> HttpArgs {
        HttpArgs {
            listen: None,
            tokens_file: None,
            allowed_hosts: vec!["mcp.example.net".into()],
            allowed_origins: vec!["https://app.example.net".into()],
            tls_cert: None,
            tls_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
            max_sessions_per_token: sessions::DEFAULT_MAX_SESSIONS_PER_TOKEN,
        }
    }

    #[test]
    fn listen_addresses_parse_or_say_what_to_give() {
        assert_eq!(
            parse_listen("127.0.0.1:8787").unwrap(),
            "127.0.0.1:8787".parse().unwrap()
        );
        assert_eq!(
            parse_listen("localhost:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(parse_listen("[::1]:8787").is_ok());
        let e = parse_listen("fw.example.net").unwrap_err();
        assert!(e.contains("127.0.0.1:8787"), "{e}");
    }

    #[test]
    fn allow_lists_are_loopback_with_the_port_plus_additions() {
        let (hosts, origins) = allow_lists("127.0.0.1:8787".parse().unwrap(), false, &args());
        assert_eq!(
            hosts,
            [
                "localhost:8787",
                "127.0.0.1:8787",
                "[::1]:8787",
                "mcp.example.net"
            ]
        );
        assert_eq!(origins[0], "http://localhost:8787");
        assert!(origins.contains(&"https://app.example.net".to_string()));
        let (hosts, origins) = allow_lists("192.0.2.7:443".parse().unwrap(), true, &args());
        assert!(hosts.contains(&"192.0.2.7:443".to_string()));
        assert!(origins.contains(&"https://192.0.2.7:443".to_string()));
        let (hosts, _) = allow_lists("0.0.0.0:8787".parse().unwrap(), false, &args());
        assert!(!hosts.iter().any(|h| h.starts_with("0.0.0.0")));
    }

    #[test]
    fn origins_need_a_scheme() {
        assert!(check_origins(&["app.example.net".into()]).is_err());
        assert!(check_origins(&["null".into(), "http://localhost:*".into()]).is_ok());
    }
}
