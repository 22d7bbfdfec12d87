//! Bearer tokens for the HTTP transport: loading them (tokens file, `PFSENSE_HTTP_TOKEN`),
//! checking a request's `Authorization` header in constant time, and handing the token's name
//! on as the caller identity the audit log records.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Shortest token accepted: 32 characters (e.g. `openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_CHARS: usize = 32;

/// The environment variable holding a single token, named [`ENV_TOKEN_NAME`].
pub const ENV_TOKEN: &str = "PFSENSE_HTTP_TOKEN";
pub const ENV_TOKEN_NAME: &str = "token";

/// The caller name when no token is configured (loopback only).
pub const ANONYMOUS: &str = "http-anonymous";

/// Who sent an HTTP request: the name of the token it presented. The auth middleware puts it
/// into the request's extensions; rmcp passes the request's parts on to the tool call.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<str>);

/// The caller of an MCP request that came over HTTP; `None` for stdio.
pub fn caller_of(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<axum::http::request::Parts>()?
        .extensions
        .get::<Caller>()
        .map(|c| c.0.to_string())
}

/// The configured tokens: names and SHA-256 digests (the tokens themselves are not kept).
/// Comparing digests keeps the comparison constant-time whatever the presented length.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<(Arc<str>, [u8; 32])>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.entries.iter().map(|(n, _)| &**n).collect();
        f.debug_struct("Tokens").field("names", &names).finish()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'))
}

impl Tokens {
    /// The tokens from `file` (lines `NAME:TOKEN`; `#` comments and blank lines skipped) and
    /// from `env_token` (`PFSENSE_HTTP_TOKEN`, named `token`). Errors name the file, line and
    /// token name, never the token.
    pub fn load(file: Option<&Path>, env_token: Option<&str>) -> Result<Tokens, String> {
        let mut tokens = Tokens::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
            warn_if_readable_by_others(path);
            // A byte-order mark (editors on Windows write one) is not part of the first name.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            for (index, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let place = format!("tokens file {} line {}", path.display(), index + 1);
                let Some((name, token)) = line.split_once(':') else {
                    return Err(format!(
                        "{place}: expected NAME:TOKEN (e.g. alice:<64 hex characters>)"
                    ));
                };
                tokens.add(name.trim(), token.trim(), &place)?;
            }
            if tokens.entries.is_empty() {
                return Err(format!(
                    "the tokens file {} holds no tokens (lines NAME:TOKEN)",
                    path.display()
                ));
            }
        }
        if let Some(token) = env_token.filter(|t| !t.trim().is_empty()) {
            tokens.add(ENV_TOKEN_NAME, token.trim(), ENV_TOKEN)?;
        }
        Ok(tokens)
    }

    fn add(&mut self, name: &str, token: &str, place: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "{place}: token name `{name}` must be 1-64 letters, digits, `_`, `-`, `.` or `@`"
            ));
        }
        let chars = token.chars().count();
        if chars < MIN_TOKEN_CHARS {
            return Err(format!(
                "{place}: token `{name}` is {chars} characters long; tokens must be at least {MIN_TOKEN_CHARS} (make one with `openssl rand -hex 32`)"
            ));
        }
        // It travels in an HTTP header: visible ASCII only.
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "{place}: token `{name}` may only hold visible ASCII characters (no spaces)"
            ));
        }
        if self.entries.iter().any(|(n, _)| &**n == name) {
            return Err(format!("{place}: token name `{name}` is used twice"));
        }
        let d = digest(token);
        if let Some((other, _)) = self.entries.iter().find(|(_, e)| *e == d) {
            return Err(format!(
                "{place}: token `{name}` is the same as token `{other}`; give every caller its own"
            ));
        }
        self.entries.push((name.into(), d));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| &**n)
    }

    /// The name of the token `presented` matches. Every entry is compared (no early exit),
    /// each in constant time.
    pub fn identify(&self, presented: &str) -> Option<Arc<str>> {
        let d = digest(presented);
        let mut found = None;
        for (name, expected) in &self.entries {
            if bool::from(expected.ct_eq(&d)) {
                found = Some(name.clone());
            }
        }
        found
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the tokens file is readable by other users; restrict it with chmod 600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The token in an `Authorization: Bearer …` header (scheme case-insensitive).
fn bearer(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The bearer check's state: the tokens, the failed attempts per address, and the log lines
/// of rejected requests.
pub struct Gate {
    pub tokens: Tokens,
    pub failures: super::limits::AuthFailures,
    pub rejections: super::limits::RejectionLog,
}

impl Gate {
    pub fn new(tokens: Tokens) -> Gate {
        Gate {
            tokens,
            failures: Default::default(),
            rejections: super::limits::RejectionLog::new(
                "rejected requests without a valid bearer token",
            ),
        }
    }
}

/// Middleware: let the request through with its [`Caller`] when it carries a known token (or
/// when no token is configured), else 401. The answer says nothing about which tokens exist.
/// An address that failed [`super::limits::MAX_AUTH_FAILURES`] times in a minute gets 429 for
/// a minute for every request without a known token: the lockout refuses guesses, not the
/// callers that share the address with the guesser (everyone behind a proxy, every local
/// client when a web page on the machine guesses). So it does not slow guessing: a right
/// guess is served like any caller's token. Guessing is hopeless against a token made as the
/// errors advise (`openssl rand -hex 32`: 256 bits; [`MIN_TOKEN_CHARS`] at least); what the
/// lockout spares is the log (a locked-out guesser's requests are not logged or counted).
/// A connection that carried an
/// authenticated request is marked, so it is not the one closed when connections run short.
pub async fn require_bearer(
    State(gate): State<Arc<Gate>>,
    request: Request,
    next: Next,
) -> Response {
    let conn = request
        .extensions()
        .get::<super::limits::ConnInfo>()
        .cloned();
    let authenticated = |name: Arc<str>, mut request: Request| {
        if let Some(c) = &conn {
            c.authenticated
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        request.extensions_mut().insert(Caller(name));
        next.run(request)
    };
    if gate.tokens.is_empty() {
        return authenticated(Arc::from(ANONYMOUS), request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(bearer);
    let token_presented = presented.is_some();
    // Compared whether the address is locked out or not, always the same way (constant time,
    // against every token): how long the answer takes says nothing about either.
    if let Some(name) = presented.and_then(|t| gate.tokens.identify(t)) {
        return authenticated(name, request).await;
    }
    let now = std::time::Instant::now();
    let ip = conn.as_ref().map(|c| c.peer.ip());
    if let Some(wait) = ip.and_then(|ip| gate.failures.locked_for(ip, now)) {
        let secs = wait.as_secs().max(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            format!(
                "Too Many Requests: too many failed authentication attempts from this address; try again in {secs} s.\n"
            ),
        )
            .into_response();
    }
    if gate.rejections.should_log(ip, now) {
        tracing::info!(
            ip = %ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            token_presented,
            "rejected an HTTP request without a valid bearer token (more from this address within a minute are counted, not logged)"
        );
    }
    // Only guesses count: a request without a token is no attempt.
    if token_presented
        && let Some(ip) = ip
        && gate.failures.failed(ip, now)
    {
        tracing::warn!(%ip, "locked out for a minute after repeated failed authentication attempts (requests with a valid token are still served)");
    }
    let challenge = if token_presented {
        r#"Bearer error="invalid_token""#
    } else {
        "Bearer"
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        "Unauthorized: send the header `Authorization: Bearer <token>` with a token this server knows.\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn names_come_from_the_file_and_the_environment() {
        let f = file(&format!("# callers\nalice:{A}\n\n"));
        let t = Tokens::load(Some(f.path()), Some(B)).unwrap();
        assert_eq!(t.identify(A).as_deref(), Some("alice"));
        assert_eq!(t.identify(B).as_deref(), Some(ENV_TOKEN_NAME));
        assert_eq!(t.identify("aaaa"), None);
        assert_eq!(t.identify(&format!("{A}a")), None);
    }

    #[test]
    fn a_short_token_is_refused_by_name_without_showing_it() {
        let f = file(&format!("alice:{A}\nbob:short-secret-value\n"));
        let e = Tokens::load(Some(f.path()), None).unwrap_err();
        assert!(e.contains("`bob`") && e.contains("line 2"), "{e}");
        assert!(!e.contains("short-secret-value"), "{e}");
        let e = Tokens::load(None, Some("tiny")).unwrap_err();
        assert!(e.contains(ENV_TOKEN) && !e.contains("tiny"), "{e}");
    }

    #[test]
    fn malformed_files_are_refused() {
        for (text, needle) in [
            (format!("alice {A}"), "NAME:TOKEN"),
            (format!("alice:{A}\nalice:{B}"), "twice"),
            (format!("alice:{A}\nbob:{A}"), "same as"),
            (format!("al ice:{A}"), "token name"),
            ("# nothing\n".to_string(), "no tokens"),
        ] {
            let f = file(&text);
            let e = Tokens::load(Some(f.path()), None).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(!e.contains(A) && !e.contains(B), "{e}");
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let v = HeaderValue::from_static("bearer abc");
        assert_eq!(bearer(&v), Some("abc"));
        assert_eq!(bearer(&HeaderValue::from_static("Basic abc")), None);
        assert_eq!(bearer(&HeaderValue::from_static("Bearer ")), None);
    }
}
