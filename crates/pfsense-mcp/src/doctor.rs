//! `pfsense-mcp doctor`: checks the way to one firewall step by step (name resolution, TCP,
//! TLS, the REST API itself, authentication, privileges, settings, version) and says what to fix
//! for each failure. Every probe is a single attempt: name resolution, TCP and TLS get at most
//! 10 s, an API request the server's own timeout. The doctor reports what it sees, it does
//! not retry around it.

use crate::client::AuthMethod;
use crate::secret::Secret;
use crate::tls::{TlsMode, client_config};
use pfsense_firewall::Verdict;
use serde_json::Value;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the doctor is pointed at: a firewall's address and whatever credentials are configured
/// (none is fine: the network checks still run).
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: url::Url,
    pub tls: TlsMode,
    /// The method the server would use; `None` when no credentials are configured.
    pub auth: Option<AuthMethod>,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Per-step timeout of name resolution, TCP and TLS (at most 10 s: a dead address is
    /// reported soon).
    pub timeout: Duration,
    /// Timeout of an API request: the server's own (`--timeout`), since a firewall slower than
    /// 10 s still serves the server.
    pub request_timeout: Duration,
    /// `--lockout-source`: the lockout guard's reading of this address's path is checked too.
    pub lockout_source: Option<std::net::IpAddr>,
}

impl From<&crate::client::ClientConfig> for Target {
    fn from(c: &crate::client::ClientConfig) -> Target {
        Target {
            base_url: c.base_url.clone(),
            tls: c.tls.clone(),
            auth: Some(c.auth),
            api_key: c.api_key.clone(),
            username: c.username.clone(),
            password: c.password.clone(),
            timeout: c
                .timeout
                .clamp(Duration::from_secs(1), Duration::from_secs(10)),
            request_timeout: c.timeout.max(Duration::from_secs(1)),
            lockout_source: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not run because an earlier check failed.
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about a failure or warning.
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
        Check {
            name,
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub target: String,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.count(Status::Fail)
    }

    pub fn warnings(&self) -> usize {
        self.count(Status::Warn)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// The report as printed: one line per check, the fix indented under it.
    pub fn render(&self) -> String {
        let mut out = format!(
            "pfsense-mcp doctor: {} (tools built from REST API spec {})\n\n",
            self.target,
            crate::catalog::SPEC_VERSION
        );
        for c in &self.checks {
            let mut lines = c.detail.lines();
            let _ = writeln!(
                out,
                "  {:<5} {:<16} {}",
                c.status.label(),
                c.name,
                lines.next().unwrap_or("")
            );
            for more in lines {
                let _ = writeln!(out, "  {:<5} {:<16} {more}", "", "");
            }
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "        fix: {fix}");
            }
        }
        let _ = write!(
            out,
            "\n{} failed, {} warning{}.",
            plural(self.failures(), "check"),
            self.warnings(),
            if self.warnings() == 1 { "" } else { "s" }
        );
        out
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Read endpoints probed for privileges: one or two per area an administrator uses daily.
/// pfrest checks privileges per endpoint and method (`api-v2-<path>-<method>`), before the
/// method runs, so a GET tells whether the user may read there without changing anything.
const PRIVILEGE_PROBES: &[&str] = &[
    "/api/v2/system/restapi/settings",
    "/api/v2/system/restapi/version",
    "/api/v2/firewall/rules",
    "/api/v2/firewall/aliases",
    "/api/v2/firewall/nat/port_forwards",
    "/api/v2/interfaces",
    "/api/v2/routing/gateways",
    "/api/v2/services/dhcp_servers",
    "/api/v2/status/system",
];

/// The probe that tells whether credentials are accepted: 401 means rejected; anything the API
/// answers after authentication (200, or 403 for a missing privilege) means accepted.
const AUTH_PROBE: &str = "/api/v2/system/version";

/// Boxed once here (lib.rs, "One copy of a big future"): awaited from several places, its future would be
/// compiled into each of their codegen units.
#[inline(never)]
pub fn run<'a>(target: &'a Target) -> futures::future::BoxFuture<'a, Report> {
    Box::pin(run_unboxed(target))
}

/// Run every check in order; later checks are skipped when what they need failed.
async fn run_unboxed(target: &Target) -> Report {
    let mut checks = Vec::new();
    let host = target.base_url.host_str().unwrap_or("").to_string();
    let port = target.base_url.port_or_known_default().unwrap_or(443);
    let label = target.base_url.as_str().trim_end_matches('/').to_string();

    let addrs = match resolve(target, &host, port).await {
        Ok((check, addrs)) => {
            checks.push(check);
            addrs
        }
        Err(check) => {
            checks.push(check);
            return skip_rest(label, checks, "name resolution");
        }
    };
    let addr = match connect(target, &addrs).await {
        Ok((check, addr)) => {
            checks.push(check);
            addr
        }
        Err(check) => {
            checks.push(check);
            return skip_rest(label, checks, "tcp");
        }
    };
    let tls_check = tls(target, &host, addr).await;
    let tls_failed = tls_check.status == Status::Fail;
    checks.push(tls_check);
    if tls_failed {
        return skip_rest(label, checks, "tls");
    }
    let http = match http_client(target) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::new("rest api", Status::Fail, e));
            return skip_rest(label, checks, "rest api");
        }
    };
    let probe = Prober {
        http,
        base: target.base_url.clone(),
    };

    // Authentication, tried with every configured method; the first answer also tells whether
    // the REST API is installed, enabled and lets us in.
    let attempts = auth_attempts(target, &probe).await;
    if let Some(blocker) = attempts.iter().find_map(|a| api_blocker(&a.answer)) {
        checks.push(blocker);
        return skip_rest(label, checks, "rest api");
    }
    checks.push(Check::new(
        "rest api",
        Status::Ok,
        "installed, enabled, and this address passes its access list",
    ));
    let (auth_check, working) = authentication(target, &attempts);
    checks.push(auth_check);
    let Some(credential) = working else {
        return skip_rest(label, checks, "authentication");
    };

    checks.push(privileges(target, &probe, &credential).await);
    let settings = probe
        .get("/api/v2/system/restapi/settings", &credential)
        .await
        .ok_data();
    checks.extend(settings_checks(target, settings.as_ref()));
    checks.push(version(&probe, &credential).await);
    if let Some(source) = target.lockout_source {
        checks.push(lockout_guard(target, &credential, source).await);
    }
    Report {
        target: label,
        checks,
    }
}

/// With `--lockout-source`: the lockout guard's reading of this server's path now, from the
/// same reads and the same evaluator a guarded change meets (`operator::read_model`,
/// `check_lockout_all` of no change). A path it cannot judge is found here, before a change is
/// sent past the guard with only a warning on stderr.
async fn lockout_guard(
    target: &Target,
    credential: &Credential,
    source: std::net::IpAddr,
) -> Check {
    const NAME: &str = "lockout guard";
    let auth = match credential {
        Credential::Key(_) => AuthMethod::Key,
        Credential::Basic(..) => AuthMethod::Basic,
        Credential::Bearer(_) => AuthMethod::Jwt,
    };
    let client = crate::client::Client::new(crate::client::ClientConfig {
        base_url: target.base_url.clone(),
        auth,
        api_key: target.api_key.clone(),
        username: target.username.clone(),
        password: target.password.clone(),
        tls: target.tls.clone(),
        timeout: target.request_timeout,
        connect_timeout: target.timeout,
        resilience: crate::resilience::ResilienceOptions::default(),
        origin: crate::policy::Origin::Flags,
    });
    let client = match client {
        Ok(c) => c,
        Err(e) => return Check::new(NAME, Status::Fail, e),
    };
    let model = match crate::operator::read_model(&client).await {
        Ok((model, notes)) if notes.is_empty() => model,
        Ok((_, notes)) => {
            return Check::new(
                NAME,
                Status::Fail,
                format!("could not read {}", notes.join("; ")),
            )
            .fix("give this server's user the privileges to read them: the guard refuses every change it is to judge while a part of the firewall's model cannot be read");
        }
        Err(e) => {
            return Check::new(NAME, Status::Fail, format!("could not read {e}"))
                .fix("give this server's user the privileges to read the firewall's rules, aliases and interfaces");
        }
    };
    let path = crate::lockout::server_path(source, &target.base_url, &target.tls).await;
    let report = pfsense_firewall::check_lockout_all(&model, &[], &path);
    let interfaces = match pfsense_firewall::guard::server_interface(&model, &path) {
        Ok(names) => names[0].clone(),
        Err(e) => e,
    };
    // `port 443 passes by rule …`, `port 443 blocked by rule …`.
    let port = |p: &pfsense_firewall::guard::PortCheck, verdict: &str| match &p.decided_by_after {
        Some(rule) => format!("port {} {verdict} by {}", p.port, rule.describe()),
        None => format!("port {} {verdict}", p.port),
    };
    match report.decision {
        pfsense_firewall::GuardDecision::Allowed => {
            let ports: Vec<String> = report.ports.iter().map(|p| port(p, "passes")).collect();
            Check::new(
                NAME,
                Status::Ok,
                format!(
                    "{source} comes in on {interfaces}; to {}, {}: a change that would cut it is refused",
                    report
                        .api_address
                        .map_or("the API".to_string(), |a| a.to_string()),
                    ports.join(", ")
                ),
            )
        }
        _ => {
            let blocked: Vec<String> = report
                .ports
                .iter()
                .filter(|p| matches!(p.before, Verdict::Block | Verdict::Reject))
                .map(|p| port(p, "blocked"))
                .collect();
            let detail = if blocked.is_empty() {
                format!("cannot judge the path from {source}: {}", report.reason)
            } else {
                format!(
                    "cannot judge the path from {source}: it comes in on {interfaces}, where the model finds {}, yet this machine reaches the API: the firewall sees it with another address (NAT, a proxy) or on another interface",
                    blocked.join(", ")
                )
            };
            Check::new(NAME, Status::Warn, detail).fix("a change the guard cannot judge is sent with only a warning on stderr: give --lockout-source as the firewall sees this server (after any NAT in between), with a rule that passes it to the API on the interface it comes in on")
        }
    }
}

fn skip_rest(target: String, mut checks: Vec<Check>, failed: &str) -> Report {
    const ORDER: &[&str] = &[
        "name resolution",
        "tcp",
        "tls",
        "rest api",
        "authentication",
        "privileges",
        "auth methods",
        "read-only",
        "version",
    ];
    let done: Vec<&str> = checks.iter().map(|c| c.name).collect();
    for name in ORDER.iter().filter(|n| !done.contains(n)) {
        checks.push(Check::new(
            name,
            Status::Skip,
            format!("not checked: {failed} failed"),
        ));
    }
    Report { target, checks }
}

async fn resolve(
    target: &Target,
    host: &str,
    port: u16,
) -> Result<(Check, Vec<SocketAddr>), Check> {
    const NAME: &str = "name resolution";
    // `host_str` keeps IPv6 literals in brackets; `url::Host` tells literals from names.
    match target.base_url.host() {
        Some(url::Host::Ipv4(ip)) => {
            return Ok((
                Check::new(
                    NAME,
                    Status::Ok,
                    format!("{ip} is an address: nothing to resolve"),
                ),
                vec![SocketAddr::from((ip, port))],
            ));
        }
        Some(url::Host::Ipv6(ip)) => {
            return Ok((
                Check::new(
                    NAME,
                    Status::Ok,
                    format!("{ip} is an address: nothing to resolve"),
                ),
                vec![SocketAddr::from((ip, port))],
            ));
        }
        _ => {}
    }
    let lookup = tokio::net::lookup_host((host.to_string(), port));
    match tokio::time::timeout(target.timeout, lookup).await {
        Ok(Ok(found)) => {
            let addrs: Vec<SocketAddr> = found.collect();
            if addrs.is_empty() {
                return Err(
                    Check::new(NAME, Status::Fail, format!("`{host}` has no address"))
                        .fix(resolution_fix(host)),
                );
            }
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            Ok((
                Check::new(NAME, Status::Ok, format!("{host} → {}", shown.join(", "))),
                addrs,
            ))
        }
        Ok(Err(e)) => Err(Check::new(
            NAME,
            Status::Fail,
            format!("`{host}` does not resolve: {e}"),
        )
        .fix(resolution_fix(host))),
        Err(_) => Err(Check::new(
            NAME,
            Status::Fail,
            format!(
                "no answer for `{host}` within {} s",
                target.timeout.as_secs()
            ),
        )
        .fix(resolution_fix(host))),
    }
}

fn resolution_fix(host: &str) -> String {
    format!(
        "check the spelling of the host in PFSENSE_HOST, and this machine's DNS (`getent hosts {host}`); or use the firewall's IP address"
    )
}

async fn connect(target: &Target, addrs: &[SocketAddr]) -> Result<(Check, SocketAddr), Check> {
    const NAME: &str = "tcp";
    let mut errors = Vec::new();
    for addr in addrs {
        let started = Instant::now();
        match tokio::time::timeout(target.timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                return Ok((
                    Check::new(
                        NAME,
                        Status::Ok,
                        format!(
                            "{addr} accepts connections ({} ms)",
                            started.elapsed().as_millis()
                        ),
                    ),
                    *addr,
                ));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => errors.push((
                *addr,
                "connection refused: nothing listens there".to_string(),
            )),
            Ok(Err(e)) => errors.push((*addr, e.to_string())),
            Err(_) => errors.push((
                *addr,
                format!("no answer within {} s", target.timeout.as_secs()),
            )),
        }
    }
    let refused = errors
        .iter()
        .all(|(_, e)| e.starts_with("connection refused"));
    let detail: Vec<String> = errors.iter().map(|(a, e)| format!("{a}: {e}")).collect();
    let fix = if refused {
        "the host answers but nothing listens on that port: use the webGUI's port (System > Advanced > Admin Access; 443 by default) in PFSENSE_HOST, e.g. https://HOST:PORT"
    } else {
        "check that the firewall is up and that its webGUI port is reachable from this machine (a rule on the interface you come in on must pass to This Firewall; the anti-lockout rule covers LAN only)"
    };
    Err(Check::new(NAME, Status::Fail, detail.join("\n")).fix(fix))
}

async fn tls(target: &Target, host: &str, addr: SocketAddr) -> Check {
    const NAME: &str = "tls";
    if target.base_url.scheme() == "http" {
        return Check::new(NAME, Status::Warn, "plain http: no TLS")
            .fix("the API key or password crosses the network unencrypted: use https://");
    }
    // First look at the certificate whatever it is, to print its fingerprint; then judge it
    // the way the server will (the configured verification mode).
    let seen = Arc::new(Mutex::new(None));
    let capture = match crate::tls::observing_config(seen.clone()) {
        Ok(c) => c,
        Err(e) => return Check::new(NAME, Status::Fail, e),
    };
    if let Err(e) = handshake(capture, host, addr, target.timeout).await {
        return Check::new(NAME, Status::Fail, format!("no TLS handshake with {addr}: {e}")).fix(
            "the port answers but does not speak TLS: check the port, or use http:// if the webGUI really serves plain HTTP",
        );
    }
    let fingerprint = seen
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .unwrap_or_else(|| "(no certificate)".into());
    let judged = match client_config(&target.tls) {
        Ok(c) => handshake(c, host, addr, target.timeout).await,
        Err(e) => Err(e),
    };
    let how = match &target.tls {
        TlsMode::Verify { ca_file: Some(f) } => format!("verified against {}", f.display()),
        TlsMode::Verify { ca_file: None } => "verified against the system's CAs".to_string(),
        TlsMode::Pinned(_) => "matches the pinned fingerprint".to_string(),
        TlsMode::Insecure => "NOT verified (--insecure)".to_string(),
    };
    match judged {
        Ok(()) if matches!(target.tls, TlsMode::Insecure) => Check::new(
            NAME,
            Status::Warn,
            format!("certificate {how}\ncertificate {fingerprint}"),
        )
        .fix(format!(
            "pin it instead of turning verification off: PFSENSE_TLS_FINGERPRINT={fingerprint} (after checking it on the firewall)"
        )),
        Ok(()) => Check::new(
            NAME,
            Status::Ok,
            format!("certificate {how}\ncertificate {fingerprint}"),
        ),
        Err(e) => {
            let fix = match &target.tls {
                TlsMode::Pinned(_) => format!(
                    "the firewall now presents {fingerprint}. If the certificate was renewed on purpose, pin the new one: PFSENSE_TLS_FINGERPRINT={fingerprint}; if not, find out who is answering"
                ),
                _ => format!(
                    "pfSense ships a self-signed certificate. Check the fingerprint on the firewall (System > Certificates) and pin it: PFSENSE_TLS_FINGERPRINT={fingerprint}; or give the issuing CA with PFSENSE_CA_CERT"
                ),
            };
            Check::new(
                NAME,
                Status::Fail,
                format!("certificate not accepted: {e}\ncertificate {fingerprint}"),
            )
            .fix(fix)
        }
    }
}

async fn handshake(
    config: rustls::ClientConfig,
    host: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(), String> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is not a valid TLS server name: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        connector
            .connect(name, tcp)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no handshake within {} s", timeout.as_secs())))
}

fn http_client(target: &Target) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(client_config(&target.tls)?)
        .timeout(target.request_timeout)
        .connect_timeout(target.timeout)
        .user_agent(concat!("pfsense-mcp-doctor/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        // As the server's client: a redirect is reported, never followed with the credentials.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// How a probe authenticates.
#[derive(Clone)]
enum Credential {
    Key(Secret),
    Basic(String, Secret),
    Bearer(Secret),
}

/// One HTTP answer, reduced to what the doctor needs.
#[derive(Debug, Clone)]
enum Answer {
    Json {
        status: u16,
        response_id: String,
        message: String,
        data: Value,
    },
    NotJson {
        status: u16,
        snippet: String,
    },
    Transport(String),
}

impl Answer {
    fn ok_data(self) -> Option<Value> {
        match self {
            Answer::Json {
                status: 200, data, ..
            } => Some(data),
            _ => None,
        }
    }

    fn summary(&self) -> String {
        match self {
            Answer::Json {
                status,
                response_id,
                message,
                ..
            } => format!("{status} {response_id}: {message}"),
            Answer::NotJson { status, snippet } => {
                format!("HTTP {status} without the API's JSON: {snippet}")
            }
            Answer::Transport(e) => e.clone(),
        }
    }
}

struct Prober {
    http: reqwest::Client,
    base: url::Url,
}

impl Prober {
    async fn get(&self, path: &str, credential: &Credential) -> Answer {
        self.send(reqwest::Method::GET, path, Some(credential))
            .await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: Option<&Credential>,
    ) -> Answer {
        let Ok(url) = self.base.join(path) else {
            return Answer::Transport(format!("cannot build a URL for {path}"));
        };
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::ACCEPT, "application/json");
        if method == reqwest::Method::POST {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body("{}");
        }
        request = match credential {
            Some(Credential::Key(k)) => request.header("X-API-Key", k.expose()),
            Some(Credential::Basic(u, p)) => request.basic_auth(u, Some(p.expose())),
            Some(Credential::Bearer(t)) => request.bearer_auth(t.expose()),
            None => request,
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    let _ = write!(text, ": {s}");
                    source = s.source();
                }
                return Answer::Transport(text);
            }
        };
        let status = response.status().as_u16();
        if let Some(redirect) = crate::client::redirect_target(status, response.headers()) {
            return Answer::NotJson {
                status,
                snippet: redirect,
            };
        }
        let body = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v.get("response_id").is_some() || v.get("code").is_some() => Answer::Json {
                status,
                response_id: str_field(&v, "response_id"),
                message: str_field(&v, "message"),
                data: v.get("data").cloned().unwrap_or(Value::Null),
            },
            _ => Answer::NotJson {
                status,
                snippet: String::from_utf8_lossy(&body)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(120)
                    .collect(),
            },
        }
    }
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The answers that mean the API itself is not usable from here, whatever the credentials.
fn api_blocker(answer: &Answer) -> Option<Check> {
    const NAME: &str = "rest api";
    match answer {
        Answer::NotJson { status: 404, .. } => Some(
            Check::new(
                NAME,
                Status::Fail,
                format!("{AUTH_PROBE} answered an HTML 404: the REST API package is not installed"),
            )
            .fix("install the pfSense REST API package (pfSense-pkg-RESTAPI, from the pfrest project) on the firewall"),
        ),
        Answer::Json {
            response_id, message, ..
        } => match response_id.as_str() {
            "ENDPOINT_REST_API_IS_NOT_ENABLED" => Some(
                Check::new(NAME, Status::Fail, format!("the REST API is disabled: {message}"))
                    .fix("enable it on the firewall: System > REST API > Settings > Enable"),
            ),
            "ENDPOINT_CLIENT_NOT_ALLOWED_BY_ACL" => Some(
                Check::new(NAME, Status::Fail, format!("this address is refused by the REST API's access list: {message}"))
                    .fix("add an allow entry for this machine's address: System > REST API > Access List"),
            ),
            "ENDPOINT_INTERFACE_NOT_ALLOWED" => Some(
                Check::new(NAME, Status::Fail, format!("the REST API does not answer on this interface: {message}"))
                    .fix("add the interface you connect through to System > REST API > Settings > Allowed Interfaces, or connect through an allowed one"),
            ),
            _ => None,
        },
        Answer::NotJson {
            status: status @ 300..=399,
            snippet,
        } => Some(
            Check::new(NAME, Status::Fail, format!("{AUTH_PROBE} answered HTTP {status}, {snippet}: pfsense-mcp does not follow redirects, since the credentials would go along"))
                .fix("set PFSENSE_HOST to the address the firewall serves the API on (the redirect's scheme, host and port)"),
        ),
        Answer::NotJson { .. } => Some(
            Check::new(NAME, Status::Fail, format!("the answer is not the REST API's: {}", answer.summary()))
                .fix("check that PFSENSE_HOST points at the pfSense webGUI (scheme, host and port) and not at a proxy or another service"),
        ),
        Answer::Transport(e) => Some(
            Check::new(NAME, Status::Fail, format!("request failed: {e}"))
                .fix("the TLS and TCP checks passed, so the connection broke during the request: try again, and check for a proxy or an overloaded firewall"),
        ),
    }
}

/// One authentication method tried.
struct Attempt {
    method: AuthMethod,
    answer: Answer,
    credential: Option<Credential>,
    /// The method got past authentication. Not for JWT when no token was issued: a 403 on
    /// `POST /auth/jwt` is a refusal to issue one (the privilege `api-v2-auth-jwt-post`), not
    /// a missing privilege further on.
    works: bool,
}

async fn auth_attempts(target: &Target, probe: &Prober) -> Vec<Attempt> {
    let mut out = Vec::new();
    if let Some(key) = &target.api_key {
        let credential = Credential::Key(key.clone());
        let answer = probe.get(AUTH_PROBE, &credential).await;
        out.push(Attempt {
            method: AuthMethod::Key,
            works: accepted(&answer),
            answer,
            credential: Some(credential),
        });
    }
    if let (Some(user), Some(pass)) = (&target.username, &target.password) {
        let basic = Credential::Basic(user.clone(), pass.clone());
        let answer = probe.get(AUTH_PROBE, &basic).await;
        out.push(Attempt {
            method: AuthMethod::Basic,
            works: accepted(&answer),
            answer,
            credential: Some(basic.clone()),
        });
        let issued = probe
            .send(reqwest::Method::POST, "/api/v2/auth/jwt", Some(&basic))
            .await;
        let token = match &issued {
            Answer::Json {
                status: 200, data, ..
            } => data.get("token").and_then(Value::as_str).map(Secret::new),
            _ => None,
        };
        match token {
            Some(t) => {
                let bearer = Credential::Bearer(t);
                let answer = probe.get(AUTH_PROBE, &bearer).await;
                out.push(Attempt {
                    method: AuthMethod::Jwt,
                    works: accepted(&answer),
                    answer,
                    credential: Some(bearer),
                });
            }
            None => out.push(Attempt {
                method: AuthMethod::Jwt,
                answer: issued,
                credential: None,
                works: false,
            }),
        }
    }
    out
}

fn method_name(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::Key => "key",
        AuthMethod::Basic => "basic",
        AuthMethod::Jwt => "jwt",
    }
}

/// Accepted: the API answered past authentication (200, or 403 for a missing privilege).
fn accepted(answer: &Answer) -> bool {
    match answer {
        Answer::Json {
            status,
            response_id,
            ..
        } => *status == 200 || response_id == "AUTH_AUTHORIZATION_FAILED",
        _ => false,
    }
}

fn authentication(target: &Target, attempts: &[Attempt]) -> (Check, Option<Credential>) {
    const NAME: &str = "authentication";
    if attempts.is_empty() {
        return (
            Check::new(NAME, Status::Fail, "no credentials configured").fix(
                "set PFSENSE_API_KEY (create a key in System > REST API > Keys), or PFSENSE_USERNAME and PFSENSE_PASSWORD",
            ),
            None,
        );
    }
    let lines: Vec<String> = attempts
        .iter()
        .map(|a| {
            let verdict = if a.works {
                "works".to_string()
            } else if a.method == AuthMethod::Jwt && a.credential.is_none() {
                format!("no token issued ({})", a.answer.summary())
            } else {
                format!("refused ({})", a.answer.summary())
            };
            format!("{}: {verdict}", method_name(a.method))
        })
        .collect();
    let configured = target.auth.or_else(|| attempts.first().map(|a| a.method));
    let chosen = attempts
        .iter()
        .find(|a| Some(a.method) == configured && a.works);
    if let Some(a) = chosen {
        return (
            Check::new(
                NAME,
                Status::Ok,
                format!(
                    "{} (the server uses {})",
                    lines.join("; "),
                    method_name(a.method)
                ),
            ),
            a.credential.clone(),
        );
    }
    let other = attempts.iter().find(|a| a.works);
    let jwt_not_issued = configured == Some(AuthMethod::Jwt)
        && attempts
            .iter()
            .any(|a| a.method == AuthMethod::Jwt && a.credential.is_none());
    // Every login answered with a server error (500, 503 busy…): the firewall is failing or
    // busy, which says nothing about the credentials.
    let server_error = attempts.iter().all(|a| {
        matches!(&a.answer, Answer::Json { status, .. } if *status >= 500)
            || matches!(&a.answer, Answer::NotJson { status, .. } if *status >= 500)
    });
    let fix = match other {
        _ if server_error => "the firewall answered every login with a server error, not a refusal of the credentials: it is busy or failing (pfSense's dispatcher queue, PHP errors). Try again in a minute; if it persists, look at Status > System Logs on the firewall".to_string(),
        _ if jwt_not_issued => "no JWT could be obtained (POST /api/v2/auth/jwt): JWTAuth must be among System > REST API > Settings > Authentication Methods, and the user needs the privilege `api-v2-auth-jwt-post` (or page-all); or use another method with PFSENSE_AUTH".to_string(),
        Some(a) => format!(
            "the configured method `{}` is refused but `{}` works: set PFSENSE_AUTH={} (or fix the {} credentials)",
            configured.map(method_name).unwrap_or("?"),
            method_name(a.method),
            method_name(a.method),
            configured.map(method_name).unwrap_or("?"),
        ),
        None => "check the credentials: PFSENSE_API_KEY must be a key created in System > REST API > Keys (shown once, when created); PFSENSE_USERNAME / PFSENSE_PASSWORD a pfSense user's login. A method missing from System > REST API > Settings > Authentication Methods is refused too".to_string(),
    };
    (
        Check::new(NAME, Status::Fail, lines.join("\n")).fix(fix),
        other.and_then(|a| a.credential.clone()),
    )
}

async fn privileges(target: &Target, probe: &Prober, credential: &Credential) -> Check {
    const NAME: &str = "privileges";
    let mut forbidden = Vec::new();
    let mut other = Vec::new();
    for path in PRIVILEGE_PROBES {
        match probe.get(path, credential).await {
            Answer::Json { status: 200, .. } => {}
            Answer::Json { response_id, .. } if response_id == "AUTH_AUTHORIZATION_FAILED" => {
                forbidden.push(privilege_name(path))
            }
            a => other.push(format!("{path}: {}", a.summary())),
        }
    }
    let who = target.username.as_deref().unwrap_or("the API key's user");
    if !forbidden.is_empty() {
        return Check::new(
            NAME,
            Status::Fail,
            format!(
                "{} of {} probed reads are forbidden: {}",
                forbidden.len(),
                PRIVILEGE_PROBES.len(),
                forbidden.join(", ")
            ),
        )
        .fix(format!(
            "give {who} the privilege `WebCfg - All pages` (page-all) or the ones listed, in System > User Manager (an API key acts with its user's privileges)"
        ));
    }
    if !other.is_empty() {
        return Check::new(
            NAME,
            Status::Warn,
            format!("unexpected answers: {}", other.join("; ")),
        );
    }
    Check::new(
        NAME,
        Status::Ok,
        format!(
            "all {} probed reads allowed (writes are not probed: the doctor changes nothing)",
            PRIVILEGE_PROBES.len()
        ),
    )
}

/// pfrest's privilege name for a GET: `api-v2-<path with / and _ as ->-get`.
fn privilege_name(path: &str) -> String {
    let tail = path.trim_start_matches("/api/v2/").replace(['/', '_'], "-");
    format!("api-v2-{tail}-get")
}

fn settings_checks(target: &Target, settings: Option<&Value>) -> Vec<Check> {
    let Some(settings) = settings else {
        return vec![
            Check::new(
                "auth methods",
                Status::Warn,
                "cannot read System > REST API > Settings (no privilege)",
            ),
            Check::new(
                "read-only",
                Status::Warn,
                "cannot read System > REST API > Settings (no privilege)",
            ),
        ];
    };
    let methods: Vec<String> = settings
        .get("auth_methods")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let listed = format!("auth_methods = [{}]", methods.join(", "));
    if methods.iter().any(|m| m == "KeyAuth") {
        out.push(Check::new("auth methods", Status::Ok, listed));
    } else {
        let fix = if target.api_key.is_some() {
            "PFSENSE_API_KEY cannot work until KeyAuth is enabled: System > REST API > Settings > Authentication Methods, add API Key"
        } else {
            "API keys are the recommended credential (no password on this machine, revocable): enable KeyAuth in System > REST API > Settings > Authentication Methods, create a key, set PFSENSE_API_KEY"
        };
        out.push(
            Check::new(
                "auth methods",
                Status::Warn,
                format!("{listed}: API keys are refused"),
            )
            .fix(fix),
        );
    }
    if settings.get("read_only").and_then(Value::as_bool) == Some(true) {
        out.push(
            Check::new(
                "read-only",
                Status::Warn,
                "the REST API is in read-only mode: every change will be refused (405)",
            )
            .fix("run the server with PFSENSE_READ_ONLY=true so it offers only reading tools, or turn read-only off in System > REST API > Settings"),
        );
    } else {
        out.push(Check::new(
            "read-only",
            Status::Ok,
            "changes allowed (read_only is off)",
        ));
    }
    out
}

async fn version(probe: &Prober, credential: &Credential) -> Check {
    const NAME: &str = "version";
    let spec = crate::catalog::SPEC_VERSION;
    let Some(data) = probe
        .get("/api/v2/system/restapi/version", credential)
        .await
        .ok_data()
    else {
        return Check::new(
            NAME,
            Status::Warn,
            "cannot read the REST API version (/api/v2/system/restapi/version)",
        );
    };
    let installed = str_field(&data, "current_version");
    let pfsense = probe
        .get("/api/v2/system/version", credential)
        .await
        .ok_data()
        .map(|v| format!(" on pfSense {}", str_field(&v, "version")))
        .unwrap_or_default();
    if same_version(&installed, spec) {
        Check::new(
            NAME,
            Status::Ok,
            format!("REST API {installed}{pfsense}, the same as the tools' spec"),
        )
    } else {
        Check::new(
            NAME,
            Status::Fail,
            format!("REST API {installed}{pfsense}, but the tools were built from spec {spec}"),
        )
        .fix("rebuild the tools from this firewall's own spec: `cargo xtask spec pull --host URL` then `cargo build --release` (or update the REST API package to match)")
    }
}

/// `v2.7.1` and `2.7.1` are the same version.
fn same_version(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().trim_start_matches(['v', 'V']).to_string();
    !a.trim().is_empty() && norm(a) == norm(b)
}

/// The report of a config file that cannot be used (`error`: `FleetConfig::load`'s, naming
/// the file and the line or the firewall and key): its firewalls cannot be checked, and a
/// start would stop on it.
pub fn config_file_report(path: &std::path::Path, error: String) -> Report {
    Report {
        target: format!("config file {}", path.display()),
        checks: vec![
            Check::new("config file", Status::Fail, error).fix(format!(
                "a start stops here (exit status 2), and no firewall of the file can be checked: correct what is named in {} (the README's \"Several firewalls\" lists its keys), then run the doctor again",
                path.display()
            )),
        ],
    }
}

/// The settings only serving uses, checked as a start checks them and with the same
/// functions (`http::check`, `PolicyArgs::policy`, `cli::config_file_refuses`,
/// `SafetyArgs::state_files` and `rate_limits`, `audit::check_file`, `journal::check_file`,
/// `ConnectionArgs::resilience`), without serving or writing anything: a setting the server
/// would refuse is found before a client starts it. `config_file`: the config file whose
/// firewalls the server would serve; `config_file_read`: whether it could be read.
pub fn serve_settings(
    args: &crate::config::ServeArgs,
    config_file: Option<&std::path::Path>,
    config_file_read: bool,
) -> Report {
    /// A start refuses these settings: said in every fix of a failure.
    const REFUSED: &str = "a start stops here (exit status 2)";
    let mut checks = http_checks(&args.http);
    checks.push(match args.policy.policy() {
        Err(e) => Check::new("policy", Status::Fail, e).fix(format!(
            "{REFUSED}: correct the module or pattern named (`pfsense-mcp tools` lists every tool, `pfsense-mcp tools --summary` every module)"
        )),
        Ok(flags) => match config_file.map(|path| crate::cli::config_file_refuses(&flags, path)) {
            Some(Err(e)) => Check::new("policy", Status::Fail, e).fix(format!("{REFUSED}: drop --allow-dangerous / PFSENSE_ALLOW_DANGEROUS")),
            _ => {
                let offered = crate::catalog::TOOLS.iter().filter(|d| flags.offers(d)).count();
                let mut detail = format!(
                    "{offered} of {} generated tools offered ({})",
                    crate::catalog::TOOLS.len(),
                    flags.summary()
                );
                match config_file {
                    Some(path) if config_file_read => detail.push_str(&format!(
                        "; each firewall of {} narrows this with its own rules",
                        path.display()
                    )),
                    Some(path) => detail.push_str(&format!(
                        "; the firewalls of {} would narrow this with their own rules once it can be read",
                        path.display()
                    )),
                    None => {}
                }
                if offered == 0 {
                    Check::new("policy", Status::Warn, format!("{detail}: no generated tool is offered"))
                        .fix("every tool is refused by --read-only, --modules, --allow and --deny together: loosen one of them")
                } else {
                    Check::new("policy", Status::Ok, detail)
                }
            }
        },
    });
    checks.extend(state_checks(&args.safety, args.target.sandbox));
    checks.push(match args.safety.rate_limits() {
        Err(e) => Check::new("rate limits", Status::Fail, e).fix(format!(
            "{REFUSED}: give RISK=COUNT/PERIOD, e.g. destructive=10/min (PERIOD: s, min, hour, day or seconds; COUNT `off` for no limit)"
        )),
        Ok(limits) => {
            let describe = |limit: Option<crate::safety::ratelimit::Limit>| {
                limit.map_or("unlimited".to_string(), |l| l.describe())
            };
            Check::new(
                "rate limits",
                Status::Ok,
                format!(
                    "write {}, destructive {}, dangerous {}",
                    describe(limits.write),
                    describe(limits.destructive),
                    describe(limits.dangerous)
                ),
            )
        }
    });
    checks.push(match args.connection.resilience() {
        Err(e) => Check::new("retries", Status::Fail, e).fix(REFUSED),
        Ok(r) => Check::new(
            "retries",
            Status::Ok,
            format!(
                "failed reads retried within {} s; {}",
                r.retry_budget.as_secs(),
                match r.breaker_threshold {
                    0 => "no circuit breaker".to_string(),
                    n => format!(
                        "circuit breaker opens after {n} failed calls, for {} s",
                        r.breaker_cooldown.as_secs()
                    ),
                }
            ),
        ),
    });
    Report {
        target: "this server's own settings, as a start checks them; nothing is served".into(),
        checks,
    }
}

/// `--http`: its settings as `http::check` finds them, and whether the address can be listened
/// on now (bound and let go at once); or, without --http, HTTP settings given for nothing.
fn http_checks(args: &crate::http::HttpArgs) -> Vec<Check> {
    if !args.enabled() {
        let unused = args.given_without_http();
        if unused.is_empty() {
            return vec![Check::new(
                "http",
                Status::Ok,
                "not asked for: MCP over stdio (--http ADDR serves it over HTTP)",
            )];
        }
        return vec![
            Check::new(
                "http",
                Status::Warn,
                format!(
                    "{} only apply with --http (PFSENSE_HTTP): over stdio they do nothing",
                    unused.join(", ")
                ),
            )
            .fix("add --http ADDR to serve over HTTP, or drop them"),
        ];
    }
    let checked = match crate::http::check(args) {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::new("http", Status::Fail, e).fix(
                "a start stops here (exit status 2): change the --http setting named (`pfsense-mcp --help` describes each)",
            )];
        }
    };
    let scheme = if checked.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let names: Vec<&str> = checked.tokens.names().collect();
    let mut detail = format!(
        "serves MCP at {scheme}://{}/mcp; {}",
        checked.listen,
        match names.len() {
            0 => "no bearer token".to_string(),
            n => format!(
                "{n} bearer token{} ({})",
                if n == 1 { "" } else { "s" },
                names.join(", ")
            ),
        }
    );
    let mut fixes = Vec::new();
    for (what, what_to_do) in &checked.warnings {
        detail.push('\n');
        detail.push_str(what);
        fixes.push(what_to_do.as_str());
    }
    let http = if fixes.is_empty() {
        Check::new("http", Status::Ok, detail)
    } else {
        Check::new("http", Status::Warn, detail).fix(fixes.join("; "))
    };
    let listen = match crate::http::try_listen(checked.listen) {
        Ok(()) if checked.listen.port() == 0 => Check::new(
            "http listen",
            Status::Ok,
            format!("{}: port 0, a free port is picked at start", checked.listen),
        ),
        Ok(()) => Check::new(
            "http listen",
            Status::Ok,
            format!("{} can be listened on now", checked.listen),
        ),
        // Perhaps this very server, already serving: a second one could not start there.
        Err(e) => Check::new(
            "http listen",
            if e.kind() == std::io::ErrorKind::AddrInUse {
                Status::Warn
            } else {
                Status::Fail
            },
            format!("cannot listen on {}: {e}", checked.listen),
        )
        .fix(crate::http::listen_fix(&e)),
    };
    vec![http, listen]
}

/// The audit log and the journal: where they go, and whether a start could open them.
fn state_checks(args: &crate::config::SafetyArgs, sandbox: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let (audit_log, journal) = match args.state_files(sandbox) {
        Ok(files) => files,
        Err(e) => {
            return vec![Check::new("state files", Status::Fail, e).fix(
                "a start stops here (exit status 2): give --audit-log and --journal a regular file each (created if missing), or `off` / `memory`",
            )];
        }
    };
    if let Some(warning) = args.no_state_dir(sandbox) {
        checks.push(
            Check::new("state dir", Status::Warn, warning)
                .fix("set XDG_STATE_HOME or HOME, or give --audit-log FILE and --journal FILE"),
        );
    }
    checks.push(match &audit_log {
        None => Check::new("audit log", Status::Ok, "off: no audit log is written"),
        Some(path) => match crate::safety::audit::check_file(path) {
            Err(e) => Check::new("audit log", Status::Fail, e).fix(
                "a start stops here: give --audit-log / PFSENSE_AUDIT_LOG a file this user can write (created if missing), or `off`",
            ),
            Ok(found) => {
                let entries = |n: u64| format!("{n} entr{}", if n == 1 { "y" } else { "ies" });
                let detail = match (found.exists, found.last_seq, found.rotated) {
                    (false, 0, _) => format!("{}: created at start", path.display()),
                    (_, seq, 0) => format!("{}: {}, appended to", path.display(), entries(seq)),
                    (_, seq, n) => format!(
                        "{}: {}, {n} rotated file{}, appended to",
                        path.display(),
                        entries(seq),
                        if n == 1 { "" } else { "s" }
                    ),
                };
                match found.left_out {
                    None => Check::new("audit log", Status::Ok, detail),
                    Some(note) => Check::new("audit log", Status::Warn, format!("{detail}\n{note}"))
                        .fix("move the files named out of the log's directory, or rename them; `pfsense-mcp audit verify FILE` checks each"),
                }
            }
        },
    });
    checks.push(match &journal {
        crate::safety::JournalLocation::Memory => Check::new(
            "journal",
            Status::Ok,
            "in memory: changes can be undone only while this server runs",
        ),
        crate::safety::JournalLocation::File(path) => {
            match crate::safety::private::writable(path, "change journal")
                .and_then(|()| crate::safety::journal::check_file(path))
            {
                Err(e) => Check::new("journal", Status::Fail, e).fix(
                    "a start refuses it (or, damaged, every change): give --journal / PFSENSE_JOURNAL a file this user can write, move a damaged one aside with its -wal and -shm files, or `memory`",
                ),
                Ok(None) => Check::new("journal", Status::Ok, format!("{}: created at start", path.display())),
                Ok(Some(found)) => Check::new(
                    "journal",
                    Status::Ok,
                    format!(
                        "{}: {} change{}, {:.1} MiB, pages intact (SQLite's quick_check, {} ms)",
                        path.display(),
                        found.changes,
                        if found.changes == 1 { "" } else { "s" },
                        found.bytes as f64 / 1_048_576.0,
                        found.took.as_millis()
                    ),
                ),
            }
        }
    });
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_names_follow_pfrest() {
        assert_eq!(
            privilege_name("/api/v2/firewall/nat/port_forwards"),
            "api-v2-firewall-nat-port-forwards-get"
        );
    }

    #[test]
    fn versions_compare_without_the_v() {
        assert!(same_version("v2.7.1", "2.7.1"));
        assert!(!same_version("v2.6.0", "v2.7.1"));
        assert!(!same_version("", "v2.7.1"));
    }
}
