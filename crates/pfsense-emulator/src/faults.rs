//! Fault injection and the request log, plus the control API under `/__emulator/` that drives
//! them over HTTP (admin Basic credentials required).

use crate::auth::random_bytes;
use crate::pipeline::Incoming;
use crate::reply::Reply;
use crate::state::{Shared, lock};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Where the control API lives; never part of the pfSense API.
pub const CONTROL_PREFIX: &str = "/__emulator/";

/// Requests kept in the log (oldest dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// What a fault does to a matching request. Serialised as `{"kind": "…", …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Only the added latency.
    Delay,
    /// An enveloped pfrest error with this status (default 500 ENDPOINT_RECEIVED_UNEXPECTED_ERROR).
    Error {
        #[serde(default = "default_error_status")]
        status: u16,
    },
    /// 503 `DISPATCHER_TOO_MANY_QUEUED_PROCESSES` with `Retry-After`.
    Unavailable {
        #[serde(default = "default_retry_after")]
        retry_after: u64,
    },
    /// 503 `ENDPOINT_REST_API_IS_NOT_ENABLED` with `Retry-After`: the API switched off, which
    /// pfrest answers before authentication and before any model code runs.
    ApiDisabled {
        #[serde(default = "default_retry_after")]
        retry_after: u64,
    },
    /// Never answer (until the emulator stops).
    Hang,
    /// Close the connection without a response.
    Reset,
    /// 200 with a JSON body cut off in the middle.
    Malformed,
    /// 200 with an HTML/PHP error page instead of JSON.
    NonJson,
    /// nginx's HTML 404, as if the API package were missing.
    Html404,
    /// Processed normally, but this text is printed before the JSON (a real box prints
    /// "Setting timezone...done." on PATCH /system/timezone, OpenVPN log lines on create).
    Preamble {
        #[serde(default = "default_preamble")]
        text: String,
    },
}

fn default_preamble() -> String {
    "Setting timezone...done.\n".into()
}

fn default_error_status() -> u16 {
    500
}
fn default_retry_after() -> u64 {
    5
}
fn default_rate() -> f64 {
    1.0
}

/// One fault rule. The first rule that matches a request (and fires) applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Exact path (`/api/v2/firewall/alias`) or a prefix ending in `*`; none = every API route.
    #[serde(default)]
    pub path: Option<String>,
    /// Only this method (`POST`); none = any.
    #[serde(default)]
    pub method: Option<String>,
    /// Added before the action (or before normal processing for `delay`).
    #[serde(default)]
    pub latency_ms: u64,
    pub action: FaultAction,
    /// Probability (0..=1) that the rule fires on a matching request.
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Fire at most this many times (an error burst), then the rule is spent.
    #[serde(default)]
    pub count: Option<u64>,
}

impl Fault {
    pub fn new(action: FaultAction) -> Fault {
        Fault {
            path: None,
            method: None,
            latency_ms: 0,
            action,
            rate: 1.0,
            count: None,
        }
    }

    pub fn on_path(mut self, path: &str) -> Fault {
        self.path = Some(path.to_string());
        self
    }

    pub fn on_method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    pub fn times(mut self, count: u64) -> Fault {
        self.count = Some(count);
        self
    }

    pub fn with_latency_ms(mut self, ms: u64) -> Fault {
        self.latency_ms = ms;
        self
    }

    pub fn with_rate(mut self, rate: f64) -> Fault {
        self.rate = rate;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let path_ok = match &self.path {
            None => true,
            Some(p) => match p.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => p == path,
            },
        };
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        path_ok && method_ok && self.count != Some(0)
    }
}

/// One logged request, for tests ("no write was sent twice").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedRequest {
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    /// The body as text; values of sensitive fields are replaced with `***`.
    pub body: String,
    /// Response status; 0 when the connection was reset or the request hangs.
    pub status: u16,
    /// The fault applied, if any.
    pub fault: Option<String>,
}

fn random_unit() -> f64 {
    let b = random_bytes(8);
    let mut arr = [0u8; 8];
    arr.copy_from_slice(&b[..8]);
    (u64::from_le_bytes(arr) >> 11) as f64 / (1u64 << 53) as f64
}

/// Pick the fault for a request, consuming one use of a counted rule.
pub fn pick(shared: &Shared, method: &str, path: &str) -> Option<Fault> {
    let mut faults = lock(&shared.faults);
    for rule in faults.iter_mut() {
        if !rule.matches(method, path) {
            continue;
        }
        if rule.rate < 1.0 && random_unit() >= rule.rate {
            continue;
        }
        if let Some(c) = rule.count.as_mut() {
            *c -= 1;
        }
        return Some(rule.clone());
    }
    None
}

/// What the server should do with a faulted request.
pub enum FaultOutcome {
    Reply(Reply),
    Hang,
    Reset,
    /// Only latency: process normally.
    Proceed,
    /// Process normally, then put this text before the body.
    Prefix(String),
}

pub fn outcome(action: &FaultAction) -> FaultOutcome {
    match action {
        FaultAction::Delay => FaultOutcome::Proceed,
        FaultAction::Error { status } => FaultOutcome::Reply(
            crate::reply::ApiError::new(
                *status,
                if *status == 500 {
                    "ENDPOINT_RECEIVED_UNEXPECTED_ERROR"
                } else {
                    "EMULATOR_INJECTED_FAULT"
                },
                "An unexpected error occurred (injected by the emulator).",
            )
            .into_reply(),
        ),
        FaultAction::Unavailable { retry_after } => FaultOutcome::Reply(
            crate::reply::ApiError::new(
                503,
                "DISPATCHER_TOO_MANY_QUEUED_PROCESSES",
                "The dispatcher is busy; retry later (injected by the emulator).",
            )
            .with_header("Retry-After", &retry_after.to_string())
            .into_reply(),
        ),
        FaultAction::ApiDisabled { retry_after } => FaultOutcome::Reply(
            crate::reply::ApiError::new(
                503,
                "ENDPOINT_REST_API_IS_NOT_ENABLED",
                "The REST API is not enabled on this system (injected by the emulator).",
            )
            .with_header("Retry-After", &retry_after.to_string())
            .into_reply(),
        ),
        FaultAction::Hang => FaultOutcome::Hang,
        FaultAction::Reset => FaultOutcome::Reset,
        FaultAction::Malformed => FaultOutcome::Reply(Reply::raw(
            200,
            "application/json",
            r#"{"code": 200, "status": "ok", "response_id": "SUCCESS", "message": "", "data": [{"id": 0, "na"#,
        )),
        FaultAction::NonJson => FaultOutcome::Reply(Reply::raw(
            200,
            "text/html",
            "<br />\n<b>Fatal error</b>:  Uncaught Error in /usr/local/pkg/RESTAPI/Core/Endpoint.inc:1<br />\n",
        )),
        FaultAction::Html404 => FaultOutcome::Reply(Reply::nginx_404()),
        FaultAction::Preamble { text } => FaultOutcome::Prefix(text.clone()),
    }
}

/// A body for the log with secrets masked.
pub fn loggable_body(body: &[u8]) -> String {
    fn mask(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, val) in m.iter_mut() {
                    if pfsense_spec::tables::is_sensitive_field(k) && !val.is_null() {
                        *val = Value::String("***".into());
                    } else {
                        mask(val);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(mask),
            _ => {}
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            mask(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Log a request; returns its sequence number.
pub fn record(shared: &Shared, req: &Incoming, status: u16, fault: Option<&Fault>) -> u64 {
    let mut log = lock(&shared.log);
    let seq = log.back().map_or(1, |l| l.seq + 1);
    if log.len() >= LOG_CAPACITY {
        log.pop_front();
    }
    log.push_back(LoggedRequest {
        seq,
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        body: loggable_body(&req.body),
        status,
        fault: fault.map(|f| {
            serde_json::to_value(&f.action)
                .ok()
                .and_then(|v| v.get("kind").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default()
        }),
    });
    seq
}

/// Set the status of a request logged before it was answered (a delayed one: logged on
/// arrival, so that a request whose client gave up during the delay is still in the log).
pub fn set_status(shared: &Shared, seq: u64, status: u16) {
    if let Some(entry) = lock(&shared.log).iter_mut().rev().find(|l| l.seq == seq) {
        entry.status = status;
    }
}

/// The control API:
/// - `GET /__emulator/faults`, `POST /__emulator/faults` (one Fault as JSON), `DELETE /__emulator/faults`
/// - `GET /__emulator/requests`, `DELETE /__emulator/requests`
/// - `POST /__emulator/reset` (state back to the seed; faults and log kept)
pub fn control(shared: &Shared, req: &Incoming) -> Reply {
    let authorized = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .is_some_and(|b| {
            b == format!("{}:{}", shared.control_username, shared.control_password).as_bytes()
        });
    if !authorized {
        return Reply::json(
            401,
            &json!({"error": "the control API needs the admin Basic credentials"}),
        )
        .with_header(
            "WWW-Authenticate",
            "Basic realm=\"pfsense-emulator control\"",
        );
    }
    let what = &req.path[CONTROL_PREFIX.len()..];
    match (req.method.as_str(), what) {
        ("GET", "faults") => Reply::json(200, &json!(*lock(&shared.faults))),
        ("POST", "faults") => match serde_json::from_slice::<Fault>(&req.body) {
            Ok(f) => {
                lock(&shared.faults).push(f.clone());
                Reply::json(200, &json!(f))
            }
            Err(e) => Reply::json(400, &json!({"error": format!("not a fault rule: {e}")})),
        },
        ("DELETE", "faults") => {
            lock(&shared.faults).clear();
            Reply::json(200, &json!([]))
        }
        ("GET", "requests") => Reply::json(200, &json!(*lock(&shared.log))),
        ("DELETE", "requests") => {
            lock(&shared.log).clear();
            Reply::json(200, &json!([]))
        }
        ("POST", "reset") => {
            shared.reset();
            Reply::json(200, &json!({"reset": true}))
        }
        _ => Reply::json(404, &json!({"error": "unknown control endpoint"})),
    }
}
