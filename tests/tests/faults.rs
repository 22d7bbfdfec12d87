//! Client resilience end to end: the real binary over stdio with a real MCP client, against
//! an in-process emulator with injected faults. Short timeouts come from flags so the tests
//! stay fast; nothing here asserts how long anything took, only that each call came back
//! with an error naming its cause, and what the emulator's request log saw.

use pfsense_emulator::{Fault, FaultAction, RunningEmulator};
use serde_json::{Value, json};
use std::time::Duration;
use tests::mcp::{is_error, text};
use tests::safety::{Human, HumanAnswer, Session, emulator, env_for};

const LIST: &str = "pfsense_list_firewall_aliases";
const CREATE: &str = "pfsense_create_firewall_alias";
const ALIASES_PATH: &str = "/api/v2/firewall/aliases";
const ALIAS_PATH: &str = "/api/v2/firewall/alias";
const HEALTH: &str = "pfsense_health";
/// Long enough that a loaded CI machine makes its next calls well within it.
const COOLDOWN_S: &str = "3";
/// A little more than the cool-down.
const AFTER_COOLDOWN: Duration = Duration::from_millis(3300);

/// Two-second timeouts, a 6 s retry budget, and a breaker that opens after `breaker`
/// failed calls and probes after `COOLDOWN_S`.
async fn start(emu: &RunningEmulator, breaker: &str) -> Session {
    let args = [
        "--timeout",
        "2",
        "--retry-budget",
        "6",
        "--breaker-threshold",
        breaker,
        "--breaker-cooldown",
        COOLDOWN_S,
        "--journal",
        "memory",
        "--audit-log",
        "off",
        "--confirm",
        "flag",
    ];
    Session::start(
        &args,
        &env_for(emu),
        Human::new(false, HumanAnswer::Accept),
        None,
    )
    .await
}

/// Statuses of the logged requests with this method and path, in order (0 = no answer).
fn statuses(emu: &RunningEmulator, method: &str, path: &str) -> Vec<u16> {
    emu.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| r.status)
        .collect()
}

async fn error_text(s: &Session, tool: &str, args: Value) -> String {
    let r = s.call(tool, args).await;
    assert!(is_error(&r), "{tool} should have failed: {}", text(&r));
    text(&r)
}

async fn health(s: &Session) -> Value {
    s.ok(HEALTH, json!({})).await
}

fn alias(name: &str) -> Value {
    json!({"name": name, "type": "host", "address": ["192.0.2.7"], "confirm": true})
}

#[tokio::test]
async fn reads_retry_through_503_resets_and_gateway_errors() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;

    // 503 with Retry-After: 1, twice; the third attempt succeeds.
    emu.add_fault(
        Fault::new(FaultAction::Unavailable { retry_after: 1 })
            .on_path(ALIASES_PATH)
            .on_method("GET")
            .times(2),
    );
    s.ok(LIST, json!({})).await;
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH), [503, 503, 200]);

    // Connections closed without an answer.
    emu.clear_requests();
    emu.add_fault(
        Fault::new(FaultAction::Reset)
            .on_path(ALIASES_PATH)
            .times(2),
    );
    s.ok(LIST, json!({})).await;
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH), [0, 0, 200]);

    // Gateway errors from a proxy.
    emu.clear_requests();
    emu.add_fault(
        Fault::new(FaultAction::Error { status: 502 })
            .on_path(ALIASES_PATH)
            .times(1),
    );
    emu.add_fault(
        Fault::new(FaultAction::Error { status: 504 })
            .on_path(ALIASES_PATH)
            .times(1),
    );
    s.ok(LIST, json!({})).await;
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH), [502, 504, 200]);

    // A 500 is the API's own verdict: not retried.
    emu.clear_requests();
    emu.add_fault(
        Fault::new(FaultAction::Error { status: 500 })
            .on_path(ALIASES_PATH)
            .times(1),
    );
    let e = error_text(&s, LIST, json!({})).await;
    assert!(
        e.contains("500") && e.contains("ENDPOINT_RECEIVED_UNEXPECTED_ERROR"),
        "{e}"
    );
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH), [500]);

    let h = health(&s).await;
    assert_eq!(h["breaker"]["state"], "closed", "{h}");
    assert!(
        h["metrics"]["retried_calls"].as_u64().unwrap_or(0) >= 3,
        "{h}"
    );
    s.close().await;
}

#[tokio::test]
async fn writes_are_never_sent_twice() {
    let emu = emulator().await;
    // Breaker off: this test is about retries only.
    let s = start(&emu, "0").await;
    let faults: Vec<(FaultAction, &[&str])> = vec![
        (
            FaultAction::Unavailable { retry_after: 1 },
            &["503", "DISPATCHER_TOO_MANY_QUEUED_PROCESSES"],
        ),
        (FaultAction::Error { status: 502 }, &["502"]),
        (FaultAction::Error { status: 504 }, &["504"]),
        (FaultAction::Error { status: 500 }, &["500"]),
        (FaultAction::Reset, &["request to", "failed"]),
        (FaultAction::Hang, &["no answer", "within 2 s"]),
        (FaultAction::Delay, &["no answer", "within 2 s"]),
    ];
    for (i, (action, words)) in faults.iter().enumerate() {
        emu.add_fault(
            Fault::new(action.clone())
                .on_path(ALIAS_PATH)
                .on_method("POST")
                .with_latency_ms(if *action == FaultAction::Delay {
                    4000
                } else {
                    0
                })
                .times(1),
        );
        let e = error_text(&s, CREATE, alias(&format!("faulted{i}"))).await;
        for w in *words {
            assert!(e.contains(w), "{action:?}: `{w}` missing from: {e}");
        }
        assert_eq!(
            statuses(&emu, "POST", ALIAS_PATH).len(),
            i + 1,
            "{action:?}: the write went out exactly once"
        );
    }
    assert_eq!(
        statuses(&emu, "POST", ALIAS_PATH),
        [503, 502, 504, 500, 0, 0, 0]
    );
    // The server is still up and writes go through once the faults are spent.
    s.ok(CREATE, alias("after_faults")).await;
    assert_eq!(statuses(&emu, "POST", ALIAS_PATH).len(), 8);
    let names: Vec<Value> = s.ok(LIST, json!({})).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("after_faults")], "faulted writes did nothing");
    s.close().await;
}

#[tokio::test]
async fn a_write_is_sent_again_only_when_the_answer_proves_nothing_ran() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;
    // The API switched off answers before any model code runs: safe to send again.
    emu.add_fault(
        Fault::new(FaultAction::ApiDisabled { retry_after: 1 })
            .on_path(ALIAS_PATH)
            .on_method("POST")
            .times(1),
    );
    s.ok(CREATE, alias("once")).await;
    assert_eq!(statuses(&emu, "POST", ALIAS_PATH), [503, 200]);
    // The dispatcher being busy may come after the change was saved: never sent again.
    emu.add_fault(
        Fault::new(FaultAction::Unavailable { retry_after: 1 })
            .on_path(ALIAS_PATH)
            .on_method("POST")
            .times(1),
    );
    let e = error_text(&s, CREATE, alias("twice")).await;
    assert!(e.contains("DISPATCHER_TOO_MANY_QUEUED_PROCESSES"), "{e}");
    assert_eq!(statuses(&emu, "POST", ALIAS_PATH), [503, 200, 503]);
    let names: Vec<Value> = s.ok(LIST, json!({})).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(names, [json!("once")]);
    s.close().await;
}

#[tokio::test]
async fn added_latency_and_hangs_end_with_a_timeout_error() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;
    emu.add_fault(
        Fault::new(FaultAction::Delay)
            .with_latency_ms(4000)
            .on_path(ALIASES_PATH)
            .times(1),
    );
    let e = error_text(&s, LIST, json!({})).await;
    assert!(e.contains("no answer") && e.contains("within 2 s"), "{e}");
    emu.add_fault(Fault::new(FaultAction::Hang).on_path(ALIASES_PATH).times(1));
    let e = error_text(&s, LIST, json!({})).await;
    assert!(e.contains("no answer") && e.contains("within 2 s"), "{e}");
    // Faults spent: the server is up and reads work.
    s.ok(LIST, json!({})).await;
    // A timed-out read is not retried (a hung box stays hung): one request per call. The
    // emulator logs delayed requests on arrival; this one was never answered (status 0):
    // its client gave up and closed the connection during the delay.
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH), [0, 0, 200]);
    s.close().await;
}

#[tokio::test]
async fn answers_that_are_not_the_api_json() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;
    let cases: Vec<(FaultAction, &[&str])> = vec![
        (
            FaultAction::NonJson,
            &["text/html", "instead of the REST API's JSON", "Fatal error"],
        ),
        (
            FaultAction::Html404,
            &["404", "is the REST API package installed"],
        ),
        (FaultAction::Malformed, &["instead of the REST API's JSON"]),
    ];
    for (action, words) in &cases {
        emu.add_fault(Fault::new(action.clone()).on_path(ALIASES_PATH).times(1));
        let e = error_text(&s, LIST, json!({})).await;
        for w in *words {
            assert!(e.contains(w), "{action:?}: `{w}` missing from: {e}");
        }
    }
    // Text before the JSON is kept apart from the data.
    emu.add_fault(
        Fault::new(FaultAction::Preamble {
            text: "Setting timezone...done.\n".into(),
        })
        .on_path(ALIASES_PATH)
        .times(1),
    );
    let v = s.ok(LIST, json!({})).await;
    assert_eq!(v["firewall_output"], "Setting timezone...done.", "{v}");
    assert!(v["data"].is_array(), "{v}");
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH).len(), 4, "none retried");
    // A PHP notice that prints the request's headers carries this server's own API key: it
    // is scrubbed from the firewall's text like the secrets callers send.
    let key = emu.api_key().unwrap().to_string();
    emu.add_fault(
        Fault::new(FaultAction::Preamble {
            text: format!("Notice: Undefined index: HTTP_X_API_KEY => {key} in Auth.inc\n"),
        })
        .on_path(ALIASES_PATH)
        .times(1),
    );
    let r = s.call(LIST, json!({})).await;
    let v = tests::mcp::structured(&r);
    let shown = format!("{} {v}", text(&r));
    assert!(!shown.contains(&key), "the API key was shown: {shown}");
    assert_eq!(
        v["firewall_output"], "Notice: Undefined index: HTTP_X_API_KEY => <redacted> in Auth.inc",
        "{v}"
    );
    s.close().await;
    // With Basic authentication the header carries `user:password` in base64: scrubbed too.
    let mut env = env_for(&emu);
    env.retain(|(k, _)| k != "PFSENSE_API_KEY");
    env.extend([
        ("PFSENSE_AUTH".to_string(), "basic".to_string()),
        ("PFSENSE_USERNAME".to_string(), emu.username().to_string()),
        ("PFSENSE_PASSWORD".to_string(), emu.password().to_string()),
    ]);
    let s = Session::start(
        &["--journal", "memory", "--audit-log", "off"],
        &env,
        Human::new(false, HumanAnswer::Accept),
        None,
    )
    .await;
    use base64::Engine as _;
    let header = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        emu.username(),
        emu.password()
    ));
    emu.add_fault(
        Fault::new(FaultAction::Preamble {
            text: format!("HTTP_AUTHORIZATION => Basic {header}\n"),
        })
        .on_path(ALIASES_PATH)
        .times(1),
    );
    let r = s.call(LIST, json!({})).await;
    let v = tests::mcp::structured(&r);
    assert!(!format!("{} {v}", text(&r)).contains(&header), "{v}");
    assert_eq!(
        v["firewall_output"], "HTTP_AUTHORIZATION => Basic <redacted>",
        "{v}"
    );
    s.close().await;
}

#[tokio::test]
async fn breaker_opens_fails_fast_probes_and_closes() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;
    emu.add_fault(
        Fault::new(FaultAction::Error { status: 500 })
            .on_path(ALIASES_PATH)
            .times(4),
    );
    for _ in 0..3 {
        let e = error_text(&s, LIST, json!({})).await;
        assert!(e.contains("500"), "{e}");
    }
    // Open: fails fast, nothing sent.
    let e = error_text(&s, LIST, json!({})).await;
    assert!(
        e.contains("circuit breaker") && e.contains("is open after 3 consecutive failed calls"),
        "{e}"
    );
    assert!(e.contains("probe request through in"), "{e}");
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH).len(), 3);

    // Health works while the breaker is open: its own probe reaches the firewall.
    let h = health(&s).await;
    assert_eq!(h["breaker"]["state"], "open", "{h}");
    assert_eq!(h["breaker"]["consecutive_failures"], 3, "{h}");
    assert_eq!(h["probe"]["reachable"], true, "{h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(h["breaker"]["next_probe_in_s"].as_f64().is_some(), "{h}");

    // After the cool-down one probe goes out; it meets the 4th 500 and the breaker re-opens.
    tokio::time::sleep(AFTER_COOLDOWN).await;
    let e = error_text(&s, LIST, json!({})).await;
    assert!(e.contains("500"), "{e}");
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH).len(), 4);
    let e = error_text(&s, LIST, json!({})).await;
    assert!(e.contains("circuit breaker"), "{e}");
    assert_eq!(statuses(&emu, "GET", ALIASES_PATH).len(), 4, "failed fast");
    let h = health(&s).await;
    assert_eq!(h["breaker"]["state"], "open", "{h}");
    assert_eq!(h["breaker"]["times_opened"], 2, "{h}");

    // The next probe succeeds (the burst is spent): closed again.
    tokio::time::sleep(AFTER_COOLDOWN).await;
    s.ok(LIST, json!({})).await;
    s.ok(LIST, json!({})).await;
    let h = health(&s).await;
    assert_eq!(h["breaker"]["state"], "closed", "{h}");
    assert_eq!(h["breaker"]["consecutive_failures"], 0, "{h}");
    assert!(h["metrics"]["failures"].as_u64().unwrap_or(0) >= 6, "{h}");
    s.close().await;
}

#[tokio::test]
async fn health_reports_version_pending_applies_and_latency() {
    let emu = emulator().await;
    let s = start(&emu, "3").await;
    // Listed in compact mode (the default), read-only.
    let tools = s.list_tools().await;
    let tool = tools
        .iter()
        .find(|t| t.name == HEALTH)
        .expect("pfsense_health is listed in compact mode");
    assert_eq!(
        tool.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true)
    );
    s.ok(CREATE, alias("pending_one")).await;
    for _ in 0..3 {
        s.ok(LIST, json!({})).await;
    }
    let h = health(&s).await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["probe"]["reachable"], true, "{h}");
    assert_eq!(h["rest_api_version"]["matches"], true, "{h}");
    assert_eq!(h["rest_api_version"]["on_firewall"], "v2.7.1", "{h}");
    let pending: Vec<&str> = h["applies"]["pending"]
        .as_array()
        .unwrap_or_else(|| panic!("{h}"))
        .iter()
        .filter_map(|p| p["subsystem"].as_str())
        .collect();
    assert!(pending.contains(&"firewall"), "{h}");
    assert!(h["metrics"]["calls"].as_u64().unwrap_or(0) >= 4, "{h}");
    assert!(h["metrics"]["latency_ms"]["p50"].is_u64(), "{h}");
    assert!(h["metrics"]["latency_ms"]["p99"].is_u64(), "{h}");
    assert_eq!(h["metrics"]["error_rate"], 0.0, "{h}");
    s.close().await;

    // Listed in full mode too.
    let mut env = env_for(&emu);
    env.push(("PFSENSE_TOOL_MODE".into(), "full".into()));
    let full = Session::start(
        &["--journal", "memory", "--audit-log", "off"],
        &env,
        Human::new(false, HumanAnswer::Accept),
        None,
    )
    .await;
    assert!(full.list_tools().await.iter().any(|t| t.name == HEALTH));
    full.close().await;
}
