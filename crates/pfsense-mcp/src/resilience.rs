//! Staying sane when a firewall is slow or failing: per-operation timeouts that adapt to the
//! latency we measure, retries (reads; writes only when the answer proves nothing ran), and a
//! circuit breaker per firewall. Pure logic with the clock passed in, so it is unit-tested
//! without sleeping; `client.rs` drives it.

use crate::spec::Method;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Settings from the command line (`--retry-budget`, `--breaker-threshold`,
/// `--breaker-cooldown`); `--timeout` stays in `ClientConfig::timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResilienceOptions {
    /// No retry starts later than this after the call began; zero turns retries off.
    pub retry_budget: Duration,
    /// Consecutive failed calls that open the breaker; zero turns the breaker off.
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls fast before it lets one probe through.
    pub breaker_cooldown: Duration,
}

impl Default for ResilienceOptions {
    fn default() -> Self {
        ResilienceOptions {
            retry_budget: Duration::from_secs(DEFAULT_RETRY_BUDGET_SECS),
            breaker_threshold: DEFAULT_BREAKER_THRESHOLD,
            breaker_cooldown: Duration::from_secs(DEFAULT_BREAKER_COOLDOWN_SECS),
        }
    }
}

pub const DEFAULT_RETRY_BUDGET_SECS: u64 = 20;
pub const DEFAULT_BREAKER_THRESHOLD: u32 = 5;
pub const DEFAULT_BREAKER_COOLDOWN_SECS: u64 = 30;

// ---- Timeouts ----

/// One operation known to take longer than an ordinary API call.
#[derive(Debug, Clone, Copy)]
pub struct SlowOperation {
    pub method: Method,
    /// An exact API path, or `*` followed by a path suffix.
    pub path: &'static str,
    /// Its timeout; `--timeout` wins when it is longer.
    pub ceiling: Duration,
    /// The real-world behaviour this entry covers.
    pub why: &'static str,
}

/// Operations that legitimately run long on a real box (see `pfsense-rest-api.md`). Their
/// timeout is fixed (never adapted down), because their latency says nothing about the
/// firewall's health.
pub static SLOW_OPERATIONS: &[SlowOperation] = &[
    SlowOperation {
        method: Method::Post,
        path: "/api/v2/system/package",
        ceiling: Duration::from_secs(90),
        why: "package installs run pkg; nginx answers 504 after 60 s while the install goes on, and we want to read that answer rather than give up first",
    },
    SlowOperation {
        method: Method::Delete,
        path: "/api/v2/system/package",
        ceiling: Duration::from_secs(90),
        why: "package removal: same nginx 504 after 60 s as installs",
    },
    SlowOperation {
        method: Method::Delete,
        path: "/api/v2/system/packages",
        ceiling: Duration::from_secs(90),
        why: "bulk package removal: same nginx 504 after 60 s as installs",
    },
    SlowOperation {
        method: Method::Delete,
        path: "/api/v2/firewall/states",
        ceiling: Duration::from_secs(120),
        why: "killing states with no limit walks the whole state table and can time out",
    },
    SlowOperation {
        method: Method::Post,
        path: "*/apply",
        ceiling: Duration::from_secs(90),
        why: "applies reload the filter or restart services (synchronously with `async: false`)",
    },
    SlowOperation {
        method: Method::Patch,
        path: "/api/v2/system/restapi/version",
        ceiling: Duration::from_secs(120),
        why: "changing the REST API version reinstalls the package",
    },
    SlowOperation {
        method: Method::Post,
        path: "/api/v2/diagnostics/command_prompt",
        ceiling: Duration::from_secs(90),
        why: "runs an arbitrary shell command and waits for it",
    },
    SlowOperation {
        method: Method::Post,
        path: "/api/v2/diagnostics/ping",
        ceiling: Duration::from_secs(60),
        why: "up to 10 pings, one per second, plus name resolution",
    },
];

pub fn slow_operation(method: Method, path: &str) -> Option<&'static SlowOperation> {
    SLOW_OPERATIONS.iter().find(|s| {
        s.method == method
            && match s.path.strip_prefix('*') {
                Some(suffix) => path.ends_with(suffix),
                None => s.path == path,
            }
    })
}

/// Adapted timeouts never go below this: a healthy box answering in milliseconds still gets
/// time for a slow moment (a config write, a big log).
pub const ADAPTIVE_FLOOR: Duration = Duration::from_secs(10);
/// Adapted timeout = this many times the p99 of recent answers (then floor and ceiling).
pub const ADAPTIVE_FACTOR: u32 = 4;
/// Answers needed before timeouts adapt; below it the ceiling applies.
pub const ADAPTIVE_MIN_SAMPLES: usize = 20;
/// Latency samples kept, and how old one may be.
pub const LATENCY_WINDOW: usize = 200;
pub const LATENCY_WINDOW_AGE: Duration = Duration::from_secs(15 * 60);

/// Recent latencies of answered requests (ordinary operations only), for adaptive timeouts.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: Mutex<Samples>,
}

#[derive(Debug, Default)]
struct Samples {
    recent: VecDeque<(Instant, Duration)>,
    /// Samples recorded so far.
    recorded: u64,
    /// The last p99: when, after how many samples, and what it was.
    p99: Option<(Instant, u64, Option<Duration>)>,
}

/// How long a p99 stands before it is computed again. A timeout of 4 × p99 (at least
/// [`ADAPTIVE_FLOOR`]) moves nothing within a second; computing it per attempt was over 1%
/// of the HTTP server's CPU per call under load (BENCHMARKS.md).
const P99_REFRESH: Duration = Duration::from_secs(1);

impl LatencyWindow {
    pub fn record(&self, now: Instant, latency: Duration) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.recent.push_back((now, latency));
        s.recorded += 1;
        while s.recent.len() > LATENCY_WINDOW {
            s.recent.pop_front();
        }
    }

    /// The p99 of the samples younger than `LATENCY_WINDOW_AGE`, if there are enough (as of
    /// at most [`P99_REFRESH`] ago; a window that had too few is looked at again as soon as
    /// a sample comes).
    pub fn p99(&self, now: Instant) -> Option<Duration> {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, recorded, p99)) = s.p99
            && now >= at
            && now - at < P99_REFRESH
            && (p99.is_some() || recorded == s.recorded)
        {
            return p99;
        }
        let mut recent: Vec<Duration> = s
            .recent
            .iter()
            .filter(|(t, _)| now.saturating_duration_since(*t) <= LATENCY_WINDOW_AGE)
            .map(|(_, d)| *d)
            .collect();
        let p99 = (recent.len() >= ADAPTIVE_MIN_SAMPLES).then(|| {
            // Only the rank is needed (nearest-rank, as `percentile`): a selection, not a sort.
            let n = recent.len();
            let rank = ((99.0 / 100.0) * n as f64).ceil() as usize;
            *recent.select_nth_unstable(rank.clamp(1, n) - 1).1
        });
        s.p99 = Some((now, s.recorded, p99));
        p99
    }
}

/// The timeout of one attempt: a slow operation's fixed ceiling (or `--timeout` when longer);
/// otherwise `min(ceiling, max(floor, k × p99))` once enough answers were measured, else
/// the ceiling.
pub fn attempt_timeout(
    ceiling: Duration,
    slow: Option<&SlowOperation>,
    p99: Option<Duration>,
) -> Duration {
    if let Some(s) = slow {
        return s.ceiling.max(ceiling);
    }
    match p99 {
        Some(p) => (p * ADAPTIVE_FACTOR).max(ADAPTIVE_FLOOR).min(ceiling),
        None => ceiling,
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

// ---- Retries ----

/// How one attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptFailure {
    /// TCP connect or TLS handshake failed.
    Connect,
    /// No answer within the attempt's timeout.
    Timeout,
    /// The connection broke after the request was sent (reset, closed, body cut off).
    Broken,
    /// An HTTP answer with this status (and pfrest response id, when it sent an envelope).
    Status {
        status: u16,
        response_id: Option<String>,
    },
}

/// Why a write may or may not be sent again after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCase {
    ConnectFailed,
    ApiDisabled,
    DispatcherBusy,
    ConfigLocked,
    ProxyError,
    SentNoAnswer,
    Other,
}

/// Writes are sent again only when the failure proves the firewall did nothing with the
/// request. Everything not marked `true` here is never retried.
pub static WRITE_RETRY_CASES: &[(WriteCase, bool, &str)] = &[
    (
        WriteCase::ConnectFailed,
        true,
        "TCP connect or TLS handshake failed: not one byte of the request was written",
    ),
    (
        WriteCase::ApiDisabled,
        true,
        "503 ENDPOINT_REST_API_IS_NOT_ENABLED is step 1 of pfrest's pipeline, before authentication and any model code; pfrest itself sends Retry-After: 5",
    ),
    (
        WriteCase::DispatcherBusy,
        false,
        "503 DISPATCHER_TOO_MANY_QUEUED_PROCESSES comes from queuing a model's apply process, after config.xml was written: the change may be saved",
    ),
    (
        WriteCase::ConfigLocked,
        false,
        "503 MODEL_WRITE_CONFIG_LOCKED: whether anything ran before the config lock was checked is unverified",
    ),
    (
        WriteCase::ProxyError,
        false,
        "502/504 come from nginx in front of PHP, which may still be running the request (a package install goes on after nginx's 504)",
    ),
    (
        WriteCase::SentNoAnswer,
        false,
        "timeout, reset or a cut-off answer after the request was sent: whether it ran is unknown (the journal settles it by reading)",
    ),
    (
        WriteCase::Other,
        false,
        "any other answer is the firewall's verdict on the request",
    ),
];

pub fn write_case(failure: &AttemptFailure) -> WriteCase {
    match failure {
        AttemptFailure::Connect => WriteCase::ConnectFailed,
        AttemptFailure::Timeout | AttemptFailure::Broken => WriteCase::SentNoAnswer,
        AttemptFailure::Status {
            status,
            response_id,
        } => match (*status, response_id.as_deref()) {
            (503, Some("ENDPOINT_REST_API_IS_NOT_ENABLED")) => WriteCase::ApiDisabled,
            (503, Some("DISPATCHER_TOO_MANY_QUEUED_PROCESSES")) => WriteCase::DispatcherBusy,
            (503, Some("MODEL_WRITE_CONFIG_LOCKED")) => WriteCase::ConfigLocked,
            (502..=504, _) => WriteCase::ProxyError,
            _ => WriteCase::Other,
        },
    }
}

/// Whether a failed attempt may be sent again. Reads: on connection errors (before or after
/// sending) and 502/503/504, not on timeouts (a hung box stays hung, and the caller waits)
/// nor on other answers. Writes: only the cases of [`WRITE_RETRY_CASES`] marked `true`.
pub fn retryable(method: Method, failure: &AttemptFailure) -> bool {
    if method == Method::Get {
        return match failure {
            AttemptFailure::Connect | AttemptFailure::Broken => true,
            AttemptFailure::Timeout => false,
            AttemptFailure::Status { status, .. } => matches!(status, 502..=504),
        };
    }
    let case = write_case(failure);
    WRITE_RETRY_CASES
        .iter()
        .any(|(c, retry, _)| *c == case && *retry)
}

/// Longest `Retry-After` we wait; a longer one ends the call with the firewall's answer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// Most attempts per call, whatever the budget.
pub const MAX_ATTEMPTS: u32 = 6;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(4);

/// `Retry-After` as seconds or an HTTP date (RFC 9110 §10.2.3), relative to `now`.
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Exponential backoff with equal jitter before retry number `retry` (1 = first retry):
/// half of `base × 2^(retry-1)` (capped) plus a random part of the other half, so clients
/// that failed together do not retry together.
pub fn backoff(retry: u32, unit_random: f64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_MAX);
    let half = exp / 2;
    half + half.mul_f64(unit_random.clamp(0.0, 1.0))
}

/// How long to wait before the next attempt, or None to stop: the server's `Retry-After`
/// (when not above [`MAX_RETRY_AFTER`]) or the backoff, and only if the retry would start
/// within the budget.
pub fn next_wait(
    retry: u32,
    retry_after: Option<Duration>,
    elapsed: Duration,
    budget: Duration,
    unit_random: f64,
) -> Option<Duration> {
    if retry >= MAX_ATTEMPTS {
        return None;
    }
    let wait = match retry_after {
        Some(d) if d > MAX_RETRY_AFTER => return None,
        Some(d) => d,
        None => backoff(retry, unit_random),
    };
    (elapsed + wait < budget).then_some(wait)
}

// ---- Circuit breaker ----

/// 5xx answers that are pfrest's deterministic verdict on one request, not a sign of a failing
/// firewall: the breaker does not count them (the same call fails the same way on a healthy
/// box, and a model retrying it must not lock every other tool out).
pub static NOT_FIREWALL_FAILURES: &[(u16, &str, &str)] = &[
    (
        500,
        "MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
        "HAProxy settings dns_resolver / email_mailer singular GET/PATCH/DELETE always answer this on real boxes",
    ),
    (
        500,
        "API_KEY_CANNOT_BE_UPDATED",
        "API keys cannot be changed after creation, by design",
    ),
    (
        500,
        "MODEL_WITH_FAILED_INCLUDE",
        "a model whose add-on package is installed but one of its PHP include files is missing (pfrest's Model::check_packages throws this ServerError per model): every other model of the firewall still answers",
    ),
];

/// Whether an enveloped error answer counts against the firewall's health.
pub fn counts_as_failure(status: u16, response_id: &str) -> bool {
    status >= 500
        && !NOT_FIREWALL_FAILURES
            .iter()
            .any(|(s, id, _)| *s == status && *id == response_id)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed,
    Open {
        until: Instant,
    },
    /// Cool-down over; one probe request is on its way.
    HalfOpen,
}

#[derive(Debug)]
struct BreakerInner {
    state: BreakerState,
    consecutive_failures: u32,
    total_failures: u64,
    times_opened: u64,
    last_failure: Option<String>,
    opened_at: Option<std::time::SystemTime>,
}

/// One firewall's breaker: opens after `threshold` consecutive failed calls (transport
/// errors and 5xx; a 4xx is the firewall answering), fails calls fast for `cooldown`, then
/// lets one probe through: success closes it, failure opens it again.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<BreakerInner>,
}

/// Whether a call may go out.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Allowed,
    /// Allowed as the half-open probe: its outcome decides the breaker's state.
    Probe,
    /// Fail fast; the message says why and when the next probe goes out.
    Rejected(String),
}

/// The outcome of a call, for the breaker.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Success,
    Failure(String),
    /// Nothing was learnt about the firewall (bad arguments, missing credentials).
    Neutral,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold,
            cooldown,
            inner: Mutex::new(BreakerInner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                total_failures: 0,
                times_opened: 0,
                last_failure: None,
                opened_at: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn enabled(&self) -> bool {
        self.threshold > 0
    }

    pub fn admit(&self, now: Instant, firewall: &str) -> Admission {
        if !self.enabled() {
            return Admission::Allowed;
        }
        let mut b = self.lock();
        match b.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open { until } if now >= until => {
                b.state = BreakerState::HalfOpen;
                Admission::Probe
            }
            BreakerState::Open { until } => Admission::Rejected(format!(
                "not sent: the circuit breaker for {firewall} is open after {} consecutive failed calls (last: {}); calls fail fast until it lets one probe request through in {} s. pfsense_health shows the firewall's state.",
                b.consecutive_failures,
                b.last_failure.as_deref().unwrap_or("unknown"),
                until.saturating_duration_since(now).as_secs_f64().ceil() as u64,
            )),
            BreakerState::HalfOpen => Admission::Rejected(format!(
                "not sent: the circuit breaker for {firewall} is half-open: one probe request is testing the firewall right now; try again in a moment."
            )),
        }
    }

    /// Record a call's outcome. `probe` says whether it was admitted as the probe.
    pub fn record(&self, probe: bool, verdict: &Verdict, now: Instant) {
        if !self.enabled() {
            return;
        }
        let mut b = self.lock();
        let in_charge = match b.state {
            BreakerState::Closed => true,
            BreakerState::HalfOpen => probe,
            // A call let through before the breaker opened says nothing new.
            BreakerState::Open { .. } => false,
        };
        if !in_charge {
            return;
        }
        match verdict {
            Verdict::Success => {
                b.state = BreakerState::Closed;
                b.consecutive_failures = 0;
            }
            Verdict::Failure(why) => {
                b.consecutive_failures = b.consecutive_failures.saturating_add(1);
                b.total_failures += 1;
                b.last_failure = Some(why.clone());
                if probe || b.consecutive_failures >= self.threshold {
                    b.state = BreakerState::Open {
                        until: now + self.cooldown,
                    };
                    b.times_opened += 1;
                    b.opened_at = Some(std::time::SystemTime::now());
                }
            }
            Verdict::Neutral if probe => {
                // The probe learnt nothing: the next call probes again.
                b.state = BreakerState::Open { until: now };
            }
            Verdict::Neutral => {}
        }
    }

    /// For `pfsense_health`.
    pub fn snapshot(&self, now: Instant) -> Value {
        if !self.enabled() {
            return json!({"state": "disabled"});
        }
        let b = self.lock();
        let (state, next_probe) = match b.state {
            BreakerState::Closed => ("closed", None),
            BreakerState::Open { until } => (
                "open",
                Some(until.saturating_duration_since(now).as_secs_f64()),
            ),
            BreakerState::HalfOpen => ("half_open", Some(0.0)),
        };
        json!({
            "state": state,
            "consecutive_failures": b.consecutive_failures,
            "threshold": self.threshold,
            "cooldown_s": self.cooldown.as_secs_f64(),
            "next_probe_in_s": next_probe.map(|s| (s * 10.0).ceil() / 10.0),
            "failures_total": b.total_failures,
            "times_opened": b.times_opened,
            "last_opened": b.opened_at.map(|t| crate::safety::time::rfc3339(
                t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0))),
            "last_failure": b.last_failure,
        })
    }

    pub fn state_name(&self) -> &'static str {
        if !self.enabled() {
            return "disabled";
        }
        match self.lock().state {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Admission for one call; dropped without a verdict (the caller went away), a probe lets
/// the next call probe again instead of leaving the breaker half-open for ever.
pub struct Permit<'a> {
    breaker: &'a Breaker,
    pub probe: bool,
    done: bool,
}

impl<'a> Permit<'a> {
    pub fn new(breaker: &'a Breaker, probe: bool) -> Permit<'a> {
        Permit {
            breaker,
            probe,
            done: false,
        }
    }

    pub fn finish(mut self, verdict: &Verdict) {
        self.done = true;
        self.breaker.record(self.probe, verdict, Instant::now());
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            self.breaker.record(true, &Verdict::Neutral, Instant::now());
        }
    }
}

/// A uniformly distributed number in [0, 1) for jitter.
pub fn unit_random() -> f64 {
    fastrand::f64()
}

/// One finished call to the firewall, for the metrics table (`journal.rs`, `calls`).
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub tool: String,
    /// `ok`, `api_error` (4xx), `server_error` (5xx), `not_json`, `transport`, `not_sent`.
    pub outcome: &'static str,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub attempts: u32,
}

/// Where finished calls are recorded (the journal's SQLite database).
pub trait CallLog: Send + Sync {
    fn record(&self, call: &CallRecord);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("5", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(250));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(3, 0.5), Duration::from_millis(750));
        assert_eq!(backoff(30, 1.0), BACKOFF_MAX);
        assert_eq!(backoff(30, 0.0), BACKOFF_MAX / 2);
    }

    #[test]
    fn waits_respect_retry_after_cap_budget_and_attempts() {
        let budget = Duration::from_secs(5);
        assert_eq!(
            next_wait(1, Some(Duration::from_secs(2)), Duration::ZERO, budget, 0.5),
            Some(Duration::from_secs(2))
        );
        // Beyond the cap: stop with the firewall's answer instead of sleeping for it.
        assert_eq!(
            next_wait(
                1,
                Some(Duration::from_secs(60)),
                Duration::ZERO,
                Duration::from_secs(600),
                0.5
            ),
            None
        );
        // Would start after the budget.
        assert_eq!(
            next_wait(
                1,
                Some(Duration::from_secs(2)),
                Duration::from_secs(4),
                budget,
                0.5
            ),
            None
        );
        assert_eq!(
            next_wait(1, None, Duration::ZERO, Duration::ZERO, 0.5),
            None
        );
        assert_eq!(
            next_wait(MAX_ATTEMPTS, None, Duration::ZERO, budget, 0.5),
            None
        );
    }

    #[test]
    fn reads_retry_gateway_errors_and_broken_connections_not_timeouts() {
        let status = |s: u16| AttemptFailure::Status {
            status: s,
            response_id: None,
        };
        for f in [
            AttemptFailure::Connect,
            AttemptFailure::Broken,
            status(502),
            status(503),
            status(504),
        ] {
            assert!(retryable(Method::Get, &f), "{f:?}");
        }
        for f in [
            AttemptFailure::Timeout,
            status(500),
            status(404),
            status(400),
        ] {
            assert!(!retryable(Method::Get, &f), "{f:?}");
        }
    }

    #[test]
    fn writes_retry_only_when_nothing_ran() {
        let s = |status: u16, id: &str| AttemptFailure::Status {
            status,
            response_id: Some(id.into()),
        };
        for m in [Method::Post, Method::Patch, Method::Put, Method::Delete] {
            assert!(retryable(m, &AttemptFailure::Connect));
            assert!(retryable(m, &s(503, "ENDPOINT_REST_API_IS_NOT_ENABLED")));
            for f in [
                AttemptFailure::Timeout,
                AttemptFailure::Broken,
                s(503, "DISPATCHER_TOO_MANY_QUEUED_PROCESSES"),
                s(503, "MODEL_WRITE_CONFIG_LOCKED"),
                s(502, ""),
                s(504, ""),
                s(500, "ENDPOINT_RECEIVED_UNEXPECTED_ERROR"),
            ] {
                assert!(!retryable(m, &f), "{m:?} {f:?}");
            }
        }
        // Every case has exactly one table row.
        for case in [
            WriteCase::ConnectFailed,
            WriteCase::ApiDisabled,
            WriteCase::DispatcherBusy,
            WriteCase::ConfigLocked,
            WriteCase::ProxyError,
            WriteCase::SentNoAnswer,
            WriteCase::Other,
        ] {
            assert_eq!(
                WRITE_RETRY_CASES
                    .iter()
                    .filter(|(c, ..)| *c == case)
                    .count(),
                1
            );
        }
    }

    #[test]
    fn slow_operations_get_their_ceiling_others_adapt() {
        let ceiling = Duration::from_secs(30);
        let apply = slow_operation(Method::Post, "/api/v2/firewall/apply");
        assert!(apply.is_some());
        assert!(slow_operation(Method::Get, "/api/v2/firewall/apply").is_none());
        assert!(slow_operation(Method::Delete, "/api/v2/firewall/states").is_some());
        assert_eq!(
            attempt_timeout(ceiling, apply, None),
            Duration::from_secs(90)
        );
        assert_eq!(
            attempt_timeout(Duration::from_secs(300), apply, None),
            Duration::from_secs(300)
        );
        assert_eq!(attempt_timeout(ceiling, None, None), ceiling);
        // Fast box: the floor.
        assert_eq!(
            attempt_timeout(ceiling, None, Some(Duration::from_millis(40))),
            ADAPTIVE_FLOOR
        );
        // Slow box: k × p99, capped by the ceiling.
        assert_eq!(
            attempt_timeout(ceiling, None, Some(Duration::from_secs(4))),
            Duration::from_secs(16)
        );
        assert_eq!(
            attempt_timeout(ceiling, None, Some(Duration::from_secs(20))),
            ceiling
        );
        // A short --timeout wins over the floor.
        assert_eq!(
            attempt_timeout(Duration::from_secs(2), None, Some(Duration::from_millis(5))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn latency_window_needs_enough_recent_samples() {
        let w = LatencyWindow::default();
        let t0 = Instant::now();
        for i in 0..(ADAPTIVE_MIN_SAMPLES as u64 - 1) {
            w.record(t0, Duration::from_millis(10 + i));
        }
        assert_eq!(w.p99(t0), None);
        w.record(t0, Duration::from_millis(500));
        assert_eq!(w.p99(t0), Some(Duration::from_millis(500)));
        assert_eq!(
            w.p99(t0 + LATENCY_WINDOW_AGE + Duration::from_secs(1)),
            None
        );
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 99.0), 4);
        assert_eq!(percentile(&[7], 1.0), 7);
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = Breaker::new(3, Duration::from_secs(30));
        let t0 = Instant::now();
        let fail = Verdict::Failure("HTTP 500".into());
        for _ in 0..2 {
            assert_eq!(b.admit(t0, "fw"), Admission::Allowed);
            b.record(false, &fail, t0);
        }
        // A success in between resets the count.
        b.record(false, &Verdict::Success, t0);
        for _ in 0..2 {
            b.record(false, &fail, t0);
        }
        assert_eq!(b.state_name(), "closed");
        b.record(false, &fail, t0);
        assert_eq!(b.state_name(), "open");
        match b.admit(t0 + Duration::from_secs(10), "fw") {
            Admission::Rejected(m) => {
                assert!(m.contains("open after 3 consecutive failed calls"), "{m}");
                assert!(m.contains("in 20 s"), "{m}");
                assert!(m.contains("HTTP 500"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // Cool-down over: exactly one probe.
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(b.admit(t1, "fw"), Admission::Probe);
        assert!(matches!(b.admit(t1, "fw"), Admission::Rejected(m) if m.contains("half-open")));
        // The probe fails: open again for a full cool-down.
        b.record(true, &fail, t1);
        assert_eq!(b.state_name(), "open");
        assert!(matches!(
            b.admit(t1 + Duration::from_secs(29), "fw"),
            Admission::Rejected(_)
        ));
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(b.admit(t2, "fw"), Admission::Probe);
        // A late result of a call admitted earlier does not decide for the probe.
        b.record(false, &Verdict::Success, t2);
        assert_eq!(b.state_name(), "half_open");
        b.record(true, &Verdict::Success, t2);
        assert_eq!(b.state_name(), "closed");
        assert_eq!(b.snapshot(t2)["times_opened"], 2);
        assert_eq!(b.snapshot(t2)["consecutive_failures"], 0);
    }

    #[test]
    fn a_dropped_probe_lets_the_next_call_probe() {
        let b = Breaker::new(1, Duration::from_secs(5));
        let t0 = Instant::now();
        b.record(false, &Verdict::Failure("reset".into()), t0);
        assert_eq!(b.admit(t0 + Duration::from_secs(5), "fw"), Admission::Probe);
        drop(Permit::new(&b, true));
        assert_eq!(b.admit(Instant::now(), "fw"), Admission::Probe);
        // 4xx and neutral outcomes never open it; threshold 0 disables it.
        let b = Breaker::new(1, Duration::from_secs(5));
        b.record(false, &Verdict::Neutral, t0);
        assert_eq!(b.state_name(), "closed");
        let off = Breaker::new(0, Duration::from_secs(5));
        off.record(false, &Verdict::Failure("x".into()), t0);
        assert_eq!(off.admit(t0, "fw"), Admission::Allowed);
        assert_eq!(off.snapshot(t0)["state"], "disabled");
    }

    #[test]
    fn deterministic_pfrest_errors_do_not_count_against_the_firewall() {
        assert!(counts_as_failure(500, "ENDPOINT_RECEIVED_UNEXPECTED_ERROR"));
        assert!(counts_as_failure(
            503,
            "DISPATCHER_TOO_MANY_QUEUED_PROCESSES"
        ));
        assert!(!counts_as_failure(
            500,
            "MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL"
        ));
        assert!(!counts_as_failure(404, "MODEL_OBJECT_NOT_FOUND"));
        assert!(!counts_as_failure(500, "MODEL_WITH_FAILED_INCLUDE"));
    }
}
