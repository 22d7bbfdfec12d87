//! HTTP client for the pfSense REST API: authentication (API key, Basic, JWT), TLS, timeouts,
//! and reading the answers a real box gives (envelopes, raw GraphQL, binary downloads, text
//! printed before the JSON, HTML error pages).

use crate::catalog::ToolDef;
use crate::request::PreparedRequest;
use crate::resilience::{
    Admission, AttemptFailure, Breaker, CallLog, CallRecord, LatencyWindow, Permit,
    ResilienceOptions, Verdict,
};
use crate::secret::Secret;
use crate::tls::{TlsMode, client_config};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How requests authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// `X-API-Key` header (create a key in System > REST API > Keys).
    Key,
    /// HTTP Basic with a pfSense user's name and password.
    Basic,
    /// A JWT obtained from `/api/v2/auth/jwt` with Basic credentials, renewed before expiry.
    Jwt,
}

/// Everything needed to reach one firewall.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host[:port]`, no path.
    pub base_url: url::Url,
    pub auth: AuthMethod,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: TlsMode,
    /// Whole-request timeout of an ordinary operation (the ceiling adaptive timeouts stay
    /// under); slow operations get at least their `resilience::SLOW_OPERATIONS` ceiling.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Retry budget and circuit breaker.
    pub resilience: ResilienceOptions,
    /// Where the address and certificate were set (flags or a config file's firewall), so
    /// that error hints name the setting to change.
    pub origin: crate::policy::Origin,
}

/// The API's response envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub response_id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub data: Value,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub http_status: u16,
    pub body: ResponseBody,
    /// Text the firewall printed before the JSON (e.g. "Setting timezone...done.").
    pub preamble: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseBody {
    Envelope(Envelope),
    /// An answer without the envelope (GraphQL).
    Raw(Value),
    /// A binary download (PKCS#12 export).
    Binary {
        content_type: String,
        bytes: Vec<u8>,
    },
}

impl ApiResponse {
    /// The payload a tool returns: the envelope's `data`, the raw JSON, or the file as base64.
    pub fn data(&self) -> Value {
        match &self.body {
            ResponseBody::Envelope(e) => e.data.clone(),
            ResponseBody::Raw(v) => v.clone(),
            ResponseBody::Binary {
                content_type,
                bytes,
            } => binary_data(content_type, bytes),
        }
    }

    /// [`ApiResponse::data`], moved out instead of copied (a read's result).
    pub fn into_data(self) -> Value {
        match self.body {
            ResponseBody::Envelope(e) => e.data,
            ResponseBody::Raw(v) => v,
            ResponseBody::Binary {
                content_type,
                bytes,
            } => binary_data(&content_type, &bytes),
        }
    }
}

/// A downloaded file as a tool returns it.
fn binary_data(content_type: &str, bytes: &[u8]) -> Value {
    serde_json::json!({
        "content_type": content_type,
        "size": bytes.len(),
        "base64": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

/// Why a call did not succeed. Every message says what happened and what to do.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The arguments do not fit the tool.
    Arguments(String),
    /// The API answered with an error envelope.
    Api {
        http_status: u16,
        envelope: Box<Envelope>,
    },
    /// The answer was not the JSON the API sends (an HTML page, garbage, a proxy error).
    NotJson {
        http_status: u16,
        content_type: String,
        snippet: String,
    },
    /// The firewall did not answer in time, or the connection broke after the request went
    /// out: whether it ran is unknown.
    Transport(String),
    /// No connection was made (TCP connect or the TLS handshake failed, a certificate that
    /// does not match included): not one byte of the request was written.
    Unreachable(String),
    /// The call needs credentials that are not configured.
    Auth(String),
    /// Not sent: the circuit breaker is open (the message says when it probes again).
    Unavailable(String),
}

impl CallError {
    pub fn arguments(e: impl fmt::Display) -> CallError {
        CallError::Arguments(e.to_string())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Arguments(m) => write!(f, "invalid arguments: {m}"),
            CallError::Api {
                http_status,
                envelope,
            } => write!(
                f,
                "pfSense answered {http_status} {}: {}",
                envelope.response_id, envelope.message
            ),
            CallError::NotJson {
                http_status,
                content_type,
                snippet,
            } => write!(
                f,
                "pfSense answered HTTP {http_status} with {content_type} instead of the REST API's JSON: {snippet}"
            ),
            CallError::Transport(m) | CallError::Unreachable(m) => f.write_str(m),
            CallError::Auth(m) => f.write_str(m),
            CallError::Unavailable(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CallError {}

/// A redirect the firewall answered, described for an error (`None` for any other status).
/// Redirects are not followed: reqwest keeps a custom header such as `X-API-Key` on a redirect
/// to another host, so following one would hand the API key to wherever it points; and a
/// webGUI that redirects http:// to https:// is fixed once in PFSENSE_HOST, not on every call.
pub fn redirect_target(status: u16, headers: &reqwest::header::HeaderMap) -> Option<String> {
    if !(300..400).contains(&status) {
        return None;
    }
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    Some(match location {
        Some(l) => format!("a redirect to {l}"),
        None => "a redirect without a Location".into(),
    })
}

/// Largest response body read (status logs and state tables can be big).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Renew a JWT this long before it expires.
const JWT_RENEW_MARGIN: Duration = Duration::from_secs(60);
/// pfrest's default `jwt_exp` when the token carries no readable expiry.
const JWT_DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    jwt: Mutex<Option<(Secret, Instant)>>,
    breaker: Breaker,
    latency: LatencyWindow,
    call_log: OnceLock<Arc<dyn CallLog>>,
}

/// A failed attempt, with what retrying needs to know.
struct Failed {
    error: CallError,
    /// None when retrying cannot help (bad arguments, missing credentials, a certificate
    /// that does not match).
    failure: Option<AttemptFailure>,
    retry_after: Option<Duration>,
}

impl From<CallError> for Failed {
    fn from(error: CallError) -> Failed {
        Failed {
            error,
            failure: None,
            retry_after: None,
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.config.base_url.as_str())
            .field("auth", &self.config.auth)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, String> {
        if let Some(key) = &config.api_key
            && reqwest::header::HeaderValue::from_str(key.expose()).is_err()
        {
            // Otherwise every call fails with "failed to parse header value", and retries.
            return Err("the API key cannot be sent in an HTTP header: it holds a control character such as a newline (PFSENSE_API_KEY, or a key file of more than one line?). Give the key alone, as System > REST API > Keys showed it".into());
        }
        match config.auth {
            AuthMethod::Key if config.api_key.is_none() => {
                return Err(
                    "authentication `key` needs an API key: set PFSENSE_API_KEY (or --api-key)"
                        .into(),
                );
            }
            AuthMethod::Basic | AuthMethod::Jwt
                if config.username.is_none() || config.password.is_none() =>
            {
                return Err(format!(
                    "authentication `{}` needs a username and password: set PFSENSE_USERNAME and PFSENSE_PASSWORD",
                    serde_json::to_value(config.auth)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ));
            }
            _ => {}
        }
        // The firewall's free text can carry them back (a PHP notice printing the request).
        for own in [&config.api_key, &config.password].into_iter().flatten() {
            crate::secret::remember_own(own.expose());
        }
        // And as the Basic `Authorization` header carries them (base64 of `user:password`).
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            use base64::Engine as _;
            let header = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", password.expose()));
            crate::secret::remember_own(&header);
        }
        // An http:// firewall never handshakes: reading the system certificate store (a large
        // part of a start) is skipped for it.
        let tls = match config.base_url.scheme() {
            "http" => crate::tls::unused_config()?,
            _ => client_config(&config.tls)?,
        };
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("pfsense-mcp/", env!("CARGO_PKG_VERSION")))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Client {
            http,
            breaker: Breaker::new(
                config.resilience.breaker_threshold,
                config.resilience.breaker_cooldown,
            ),
            config,
            jwt: Mutex::new(None),
            latency: LatencyWindow::default(),
            call_log: OnceLock::new(),
        })
    }

    pub fn base_url(&self) -> &url::Url {
        &self.config.base_url
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Build the request for a tool's arguments and send it.
    pub async fn call(&self, def: &ToolDef, args: &Value) -> Result<ApiResponse, CallError> {
        let request = PreparedRequest::build(def, args).map_err(|e| CallError::Arguments(e.0))?;
        self.send(def, &request).await
    }

    /// Send a prepared request: through the circuit breaker, with the operation's timeout,
    /// retried when `resilience::retryable` allows it, and recorded in the call log.
    pub async fn send(
        &self,
        def: &ToolDef,
        request: &PreparedRequest,
    ) -> Result<ApiResponse, CallError> {
        let started = Instant::now();
        let probe = match self.breaker.admit(started, self.label()) {
            Admission::Allowed => false,
            Admission::Probe => true,
            Admission::Rejected(message) => {
                let result = Err(CallError::Unavailable(message));
                self.log_call(def, &result, started.elapsed(), 0);
                return result;
            }
        };
        let permit = Permit::new(&self.breaker, probe);
        let (result, attempts) = self.send_with_retries(def, request, started, probe).await;
        permit.finish(&verdict(&result));
        self.log_call(def, &result, started.elapsed(), attempts);
        result
    }

    /// One attempt past the breaker and without retries or call log: `pfsense_health`'s
    /// probe, which must work while the breaker is open.
    pub async fn probe(
        &self,
        def: &ToolDef,
        request: &PreparedRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, CallError> {
        self.send_authenticated(def, request, timeout)
            .await
            .map_err(|f| f.error)
    }

    async fn send_with_retries(
        &self,
        def: &ToolDef,
        request: &PreparedRequest,
        started: Instant,
        probe: bool,
    ) -> (Result<ApiResponse, CallError>, u32) {
        use crate::resilience as r;
        let slow = r::slow_operation(request.method, def.path);
        // The probe is one request: its answer alone decides the breaker.
        let budget = if probe {
            Duration::ZERO
        } else {
            self.config.resilience.retry_budget
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let timeout =
                r::attempt_timeout(self.config.timeout, slow, self.latency.p99(Instant::now()));
            let sent = Instant::now();
            let outcome = self.send_authenticated(def, request, timeout).await;
            let answered = match &outcome {
                Ok(_) => true,
                Err(f) => matches!(f.failure, Some(AttemptFailure::Status { .. })),
            };
            if answered && slow.is_none() {
                self.latency.record(Instant::now(), sent.elapsed());
            }
            let failed = match outcome {
                Ok(response) => return (Ok(response), attempt),
                Err(f) => f,
            };
            let wait = match &failed.failure {
                Some(failure) if r::retryable(request.method, failure) => r::next_wait(
                    attempt,
                    failed.retry_after,
                    started.elapsed(),
                    budget,
                    r::unit_random(),
                ),
                _ => None,
            };
            let Some(wait) = wait else {
                let gave_up = |m: String| {
                    format!(
                        "{m} (gave up after {attempt} attempts in {:.1} s)",
                        started.elapsed().as_secs_f64()
                    )
                };
                let error = match failed.error {
                    CallError::Transport(m) if attempt > 1 => CallError::Transport(gave_up(m)),
                    CallError::Unreachable(m) if attempt > 1 => CallError::Unreachable(gave_up(m)),
                    other => other,
                };
                return (Err(error), attempt);
            };
            tracing::info!(
                tool = def.name,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %failed.error,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt; a rejected JWT is renewed once. Nothing ran on the firewall then, since
    /// authentication is checked before anything else.
    async fn send_authenticated(
        &self,
        def: &ToolDef,
        request: &PreparedRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, Failed> {
        let response = self.send_once(def, request, timeout).await;
        if self.config.auth == AuthMethod::Jwt
            && !def.basic_auth_only
            && matches!(
                &response,
                Err(Failed {
                    error: CallError::Api {
                        http_status: 401,
                        ..
                    },
                    ..
                })
            )
        {
            *self.jwt.lock().await = None;
            return self.send_once(def, request, timeout).await;
        }
        response
    }

    /// One request and its answer read. Boxed once here (lib.rs, "One copy of a big future"):
    /// its state machine was compiled into 8 codegen units, 82 KB of copies, against one small
    /// allocation per request.
    #[inline(never)]
    fn send_once<'a>(
        &'a self,
        def: &'a ToolDef,
        request: &'a PreparedRequest,
        timeout: Duration,
    ) -> futures::future::BoxFuture<'a, Result<ApiResponse, Failed>> {
        Box::pin(self.send_once_unboxed(def, request, timeout))
    }

    async fn send_once_unboxed(
        &self,
        def: &ToolDef,
        request: &PreparedRequest,
        timeout: Duration,
    ) -> Result<ApiResponse, Failed> {
        let url = self.url_for(&request.path_and_query())?;
        let method = match request.method {
            crate::spec::Method::Get => reqwest::Method::GET,
            crate::spec::Method::Post => reqwest::Method::POST,
            crate::spec::Method::Put => reqwest::Method::PUT,
            crate::spec::Method::Patch => reqwest::Method::PATCH,
            crate::spec::Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, url)
            .timeout(timeout)
            .header(reqwest::header::ACCEPT, request.accept);
        if let Some(body) = &request.body {
            let bytes = serde_json::to_vec(body).map_err(CallError::arguments)?;
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes);
        }
        builder = self.authenticate(builder, def.basic_auth_only).await?;
        let started = Instant::now();
        let response = builder
            .send()
            .await
            .map_err(|e| self.transport_failure(e, timeout))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::resilience::parse_retry_after(v, std::time::SystemTime::now()));
        let redirect = redirect_target(status, response.headers());
        let bytes = read_limited(response)
            .await
            .map_err(|e| self.transport_failure(e, timeout))?;
        if let Some(location) = redirect {
            return Err(Failed {
                error: CallError::NotJson {
                    http_status: status,
                    content_type: location,
                    snippet: snippet(&String::from_utf8_lossy(&bytes)),
                },
                failure: Some(AttemptFailure::Status {
                    status,
                    response_id: None,
                }),
                retry_after: None,
            });
        }
        tracing::debug!(
            tool = def.name,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pfSense answered"
        );
        interpret(def, status, &content_type, bytes).map_err(|error| {
            let response_id = match &error {
                CallError::Api { envelope, .. } => Some(envelope.response_id.clone()),
                _ => None,
            };
            Failed {
                error,
                failure: Some(AttemptFailure::Status {
                    status,
                    response_id,
                }),
                retry_after,
            }
        })
    }

    /// Record calls in the log `make` builds, from now on (the first log attached stays).
    pub fn attach_call_log(&self, make: impl FnOnce() -> Arc<dyn CallLog>) {
        self.call_log.get_or_init(make);
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The timeout an ordinary operation gets right now (adapted to measured latency).
    pub fn current_timeout(&self) -> Duration {
        crate::resilience::attempt_timeout(
            self.config.timeout,
            None,
            self.latency.p99(Instant::now()),
        )
    }

    fn label(&self) -> &str {
        self.config.base_url.as_str().trim_end_matches('/')
    }

    fn log_call(
        &self,
        def: &ToolDef,
        result: &Result<ApiResponse, CallError>,
        latency: Duration,
        attempts: u32,
    ) {
        let Some(log) = self.call_log.get() else {
            return;
        };
        let (outcome, http_status) = match result {
            Ok(r) => ("ok", Some(r.http_status)),
            Err(CallError::Api { http_status, .. }) if *http_status >= 500 => {
                ("server_error", Some(*http_status))
            }
            Err(CallError::Api { http_status, .. }) => ("api_error", Some(*http_status)),
            Err(CallError::NotJson { http_status, .. }) => ("not_json", Some(*http_status)),
            Err(CallError::Transport(_) | CallError::Unreachable(_)) => ("transport", None),
            Err(CallError::Unavailable(_)) => ("not_sent", None),
            Err(CallError::Arguments(_) | CallError::Auth(_)) => ("not_sent", None),
        };
        log.record(&CallRecord {
            tool: def.name.to_string(),
            outcome,
            http_status,
            latency_ms: latency.as_millis() as u64,
            attempts,
        });
    }

    fn url_for(&self, path_and_query: &str) -> Result<url::Url, CallError> {
        self.config
            .base_url
            .join(path_and_query)
            .map_err(|e| CallError::Arguments(format!("cannot build the URL: {e}")))
    }

    async fn authenticate(
        &self,
        builder: reqwest::RequestBuilder,
        basic_only: bool,
    ) -> Result<reqwest::RequestBuilder, CallError> {
        if basic_only {
            return match (&self.config.username, &self.config.password) {
                (Some(u), Some(p)) => Ok(builder.basic_auth(u, Some(p.expose()))),
                _ => Err(CallError::Auth(
                    "this operation accepts Basic authentication only: set PFSENSE_USERNAME and PFSENSE_PASSWORD (a pfSense user with the needed privileges)".into(),
                )),
            };
        }
        match self.config.auth {
            AuthMethod::Key => {
                let key = self.config.api_key.as_ref().ok_or_else(|| {
                    CallError::Auth("no API key configured: set PFSENSE_API_KEY".into())
                })?;
                Ok(builder.header("X-API-Key", key.expose()))
            }
            AuthMethod::Basic => match (&self.config.username, &self.config.password) {
                (Some(u), Some(p)) => Ok(builder.basic_auth(u, Some(p.expose()))),
                _ => Err(CallError::Auth(
                    "Basic authentication needs PFSENSE_USERNAME and PFSENSE_PASSWORD".into(),
                )),
            },
            AuthMethod::Jwt => {
                let token = self.jwt_token().await?;
                Ok(builder.bearer_auth(token.expose()))
            }
        }
    }

    async fn jwt_token(&self) -> Result<Secret, CallError> {
        let mut cached = self.jwt.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + JWT_RENEW_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let (Some(user), Some(pass)) = (&self.config.username, &self.config.password) else {
            return Err(CallError::Auth(
                "JWT authentication needs PFSENSE_USERNAME and PFSENSE_PASSWORD to obtain a token"
                    .into(),
            ));
        };
        let url = self.url_for("/api/v2/auth/jwt")?;
        let response = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body("{}")
            .basic_auth(user, Some(pass.expose()))
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status().as_u16();
        let bytes = read_limited(response)
            .await
            .map_err(|e| self.transport_error(e))?;
        let envelope: Envelope = serde_json::from_slice(&bytes).map_err(|_| {
            CallError::Auth(format!(
                "could not obtain a JWT: /api/v2/auth/jwt answered HTTP {status} without the API's JSON; check {}",
                self.config.origin.setting("--host", "PFSENSE_HOST", "url")
            ))
        })?;
        if status >= 400 {
            return Err(CallError::Auth(format!(
                "could not obtain a JWT: {} {} ({}). Check PFSENSE_USERNAME / PFSENSE_PASSWORD and that JWTAuth is in the REST API's auth_methods.",
                status, envelope.response_id, envelope.message
            )));
        }
        let token = envelope
            .data
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| CallError::Auth("the JWT endpoint answered without a token".into()))?
            .to_string();
        let lifetime = jwt_lifetime(&token).unwrap_or(JWT_DEFAULT_LIFETIME);
        crate::secret::remember_own(&token);
        let secret = Secret::new(token);
        *cached = Some((secret.clone(), Instant::now() + lifetime));
        Ok(secret)
    }

    fn transport_error(&self, e: reqwest::Error) -> CallError {
        self.transport_failure(e, self.config.timeout).error
    }

    fn transport_failure(&self, e: reqwest::Error, timeout: Duration) -> Failed {
        let host = self.label();
        let mut chain = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        let what = if e.is_timeout() {
            format!(
                "no answer from {host} within {} (the timeout of this operation)",
                seconds(timeout)
            )
        } else if e.is_connect() {
            format!("cannot connect to {host}")
        } else {
            format!("request to {host} failed")
        };
        let certificate = chain.contains("certificate") || chain.contains("fingerprint");
        let origin = &self.config.origin;
        let hint = if certificate {
            format!(
                " Check the firewall's certificate: pin its SHA-256 in {} (`pfsense-mcp doctor` shows it), or give its CA in {}.",
                origin.setting(
                    "--tls-fingerprint",
                    "PFSENSE_TLS_FINGERPRINT",
                    "tls_fingerprint"
                ),
                origin.setting("--ca-cert", "PFSENSE_CA_CERT", "ca_cert")
            )
        } else if e.is_timeout() || e.is_connect() {
            format!(
                " Check {}, that the firewall is up, and that its webGUI/API port is reachable from here.",
                origin.setting("--host", "PFSENSE_HOST", "url")
            )
        } else {
            String::new()
        };
        if e.is_builder() {
            // No request was made: what the arguments gave cannot be sent (a URL too long
            // to parse). Not the firewall's failure, and the same on every attempt.
            return Failed {
                error: CallError::Arguments(format!(
                    "the request could not be built{chain}; no request was sent"
                )),
                failure: None,
                retry_after: None,
            };
        }
        let failure = if certificate {
            // A certificate that does not match will not match on the next attempt either.
            None
        } else if e.is_timeout() {
            Some(AttemptFailure::Timeout)
        } else if e.is_connect() {
            Some(AttemptFailure::Connect)
        } else {
            Some(AttemptFailure::Broken)
        };
        let message = format!("{what}{chain}.{hint}");
        // A write is sent again only after failures that prove nothing ran
        // (`resilience::WRITE_RETRY_CASES`), so a last attempt that made no connection means no
        // attempt ran.
        let error = if certificate || e.is_connect() {
            CallError::Unreachable(message)
        } else {
            CallError::Transport(message)
        };
        Failed {
            error,
            failure,
            retry_after: None,
        }
    }
}

/// "2 s", "1.5 s".
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// What a call's outcome tells the circuit breaker: transport errors and 5xx count against
/// the firewall; any other answer shows it working.
fn verdict(result: &Result<ApiResponse, CallError>) -> Verdict {
    let short = |s: String| -> String {
        if s.chars().count() > 160 {
            format!("{}…", s.chars().take(160).collect::<String>())
        } else {
            s
        }
    };
    match result {
        Ok(_) => Verdict::Success,
        Err(CallError::Api {
            http_status,
            envelope,
        }) if crate::resilience::counts_as_failure(*http_status, &envelope.response_id) => {
            Verdict::Failure(format!("HTTP {http_status} {}", envelope.response_id))
        }
        Err(CallError::NotJson {
            http_status,
            content_type,
            ..
        }) if *http_status >= 500 => {
            Verdict::Failure(format!("HTTP {http_status} ({content_type})"))
        }
        Err(CallError::Transport(m) | CallError::Unreachable(m)) => {
            Verdict::Failure(short(m.clone()))
        }
        Err(CallError::Api { .. } | CallError::NotJson { .. }) => Verdict::Success,
        Err(CallError::Arguments(_) | CallError::Auth(_) | CallError::Unavailable(_)) => {
            Verdict::Neutral
        }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            out.extend_from_slice(&chunk[..MAX_BODY_BYTES - out.len()]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Seconds until the `exp` claim of a JWT, read without verifying it (we only schedule renewal).
fn jwt_lifetime(token: &str) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(exp.saturating_sub(now)))
}

/// Split off text printed before the JSON document (a real box prints "Setting
/// timezone...done." before the envelope on PATCH /system/timezone, and OpenVPN server
/// creation can print log lines).
fn split_preamble(text: &str) -> Option<(Option<String>, Value)> {
    let trimmed = text.trim_start();
    if let Ok(v) = pfsense_json::parse(trimmed) {
        return Some((None, v));
    }
    for (i, _) in text.match_indices('{') {
        if let Ok(v) = pfsense_json::parse(&text[i..])
            && v.is_object()
        {
            let pre = text[..i].trim();
            let pre = crate::secret::scrub_firewall_text(pre);
            return Some(((!pre.is_empty()).then(|| pre.into_owned()), v));
        }
    }
    None
}

fn snippet(text: &str) -> String {
    let text = crate::secret::scrub_firewall_text(text);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.chars().count() > 200 {
        format!("{}…", cleaned.chars().take(200).collect::<String>())
    } else if cleaned.is_empty() {
        "(empty body)".into()
    } else {
        cleaned
    }
}

/// Turn an HTTP answer into a result.
pub fn interpret(
    def: &ToolDef,
    status: u16,
    content_type: &str,
    bytes: Vec<u8>,
) -> Result<ApiResponse, CallError> {
    let is_json_type = content_type.contains("json");
    if def.binary_response && status < 400 && !is_json_type {
        return Ok(ApiResponse {
            http_status: status,
            body: ResponseBody::Binary {
                content_type: if content_type.is_empty() {
                    "application/octet-stream".into()
                } else {
                    content_type.to_string()
                },
                bytes,
            },
            preamble: None,
        });
    }
    // Valid UTF-8 (the usual case) is checked by the faster validator, without a copy.
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(&bytes),
    };
    let Some((preamble, value)) = split_preamble(&text) else {
        return Err(CallError::NotJson {
            http_status: status,
            content_type: if content_type.is_empty() {
                "no content type".into()
            } else {
                content_type.to_string()
            },
            snippet: snippet(&text),
        });
    };
    if !def.enveloped {
        return Ok(ApiResponse {
            http_status: status,
            body: ResponseBody::Raw(value),
            preamble,
        });
    }
    let looks_enveloped = value.get("response_id").is_some() || value.get("code").is_some();
    if !looks_enveloped {
        if status >= 400 {
            return Err(CallError::NotJson {
                http_status: status,
                content_type: content_type.to_string(),
                snippet: snippet(&text),
            });
        }
        return Ok(ApiResponse {
            http_status: status,
            body: ResponseBody::Raw(value),
            preamble,
        });
    }
    let envelope = envelope_of(value).map_err(|e| CallError::NotJson {
        http_status: status,
        content_type: content_type.to_string(),
        snippet: format!("unexpected envelope ({e}): {}", snippet(&text)),
    })?;
    if status >= 400 {
        let mut envelope = envelope;
        // pfrest's messages quote what was sent; the data of an error is small.
        if let std::borrow::Cow::Owned(m) = crate::secret::scrub_firewall_text(&envelope.message) {
            envelope.message = m;
        }
        crate::secret::scrub_firewall_value(&mut envelope.data);
        return Err(CallError::Api {
            http_status: status,
            envelope: Box::new(envelope),
        });
    }
    Ok(ApiResponse {
        http_status: status,
        body: ResponseBody::Envelope(envelope),
        preamble,
    })
}

/// The envelope of a parsed answer. `data` is moved out of the answer first and the other
/// (small) fields deserialised alone: deserialising the whole answer into [`Envelope`] copied
/// `data` node by node, 2.6% of the HTTP server's CPU per call (BENCHMARKS.md).
fn envelope_of(value: Value) -> Result<Envelope, serde_json::Error> {
    let Value::Object(mut fields) = value else {
        return serde_json::from_value(value);
    };
    let data = fields.remove("data").unwrap_or(Value::Null);
    let mut envelope: Envelope = serde_json::from_value(Value::Object(fields))?;
    envelope.data = data;
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_read_with_its_data_moved_and_bad_fields_refused() {
        let answer = serde_json::json!({"code": 200, "status": "ok", "response_id": "SUCCESS",
            "message": "", "data": [{"id": 0, "descr": "x"}], "_links": {}});
        let envelope = envelope_of(answer.clone()).unwrap();
        assert_eq!(
            envelope,
            serde_json::from_value::<Envelope>(answer).unwrap()
        );
        assert_eq!(envelope.data, serde_json::json!([{"id": 0, "descr": "x"}]));
        let no_data =
            envelope_of(serde_json::json!({"code": 404, "response_id": "NOT_FOUND"})).unwrap();
        assert_eq!((no_data.code, no_data.data), (404, Value::Null));
        assert!(envelope_of(serde_json::json!({"code": "two hundred", "data": []})).is_err());
    }

    #[test]
    fn preamble_before_json_is_split_off() {
        let (pre, v) =
            split_preamble("Setting timezone...done.\n{\"code\":200,\"data\":{}}").unwrap();
        assert_eq!(pre.as_deref(), Some("Setting timezone...done."));
        assert_eq!(v["code"], 200);
        assert!(split_preamble("<html><body>404 Not Found</body></html>").is_none());
        let (pre, _) = split_preamble("  {\"a\":1}").unwrap();
        assert!(pre.is_none());
    }

    #[test]
    fn jwt_lifetime_reads_exp() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{{\"exp\":{}}}", now + 600));
        let token = format!("x.{payload}.y");
        let life = jwt_lifetime(&token).unwrap().as_secs();
        assert!((590..=600).contains(&life), "{life}");
        assert!(jwt_lifetime("garbage").is_none());
    }
}
