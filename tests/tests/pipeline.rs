//! Issue 12, the call pipeline: confirmations of one preview are serialised (exactly one is
//! sent), nothing is sent before its audit line is on disk, audit lines are capped and a line
//! cut by a crash is closed off, and the previews of deletes say what the call would really do.
//! The real binary over stdio and streamable HTTP, against the emulator's request log.

use pfsense_emulator::{Fault, FaultAction, RunningEmulator};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tests::http::{HttpServer, connect, test_token};
use tests::mcp::text;
use tests::safety::{Human, HumanAnswer, Session, emulator, env_for};

const ALIASES: &str = "pfsense_list_firewall_aliases";
const CREATE: &str = "pfsense_create_firewall_alias";
const DELETE: &str = "pfsense_delete_firewall_alias";
const ALIAS_PATH: &str = "/api/v2/firewall/alias";
/// Twenty confirmed pairs are forty changes: above the default rate limits.
const NO_RATE_LIMITS: &[&str] = &["--rate-limit", "write=off,destructive=off"];

fn alias(name: &str) -> Value {
    json!({"name": name, "type": "host", "address": ["192.0.2.1"], "descr": "pipeline test", "confirm": true})
}

fn is_error(r: &CallToolResult) -> bool {
    r.is_error.unwrap_or(false)
}

async fn start(emu: &RunningEmulator, args: &[String], stderr: &Path) -> Session {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut env = env_for(emu);
    env.push(("PFSENSE_TOOL_MODE".into(), "full".into()));
    Session::start(
        &args,
        &env,
        Human::new(false, HumanAnswer::Accept),
        Some(stderr),
    )
    .await
}

/// The binary on the emulator with its audit log and journal in `dir`: the log's path and the
/// session.
async fn start_in(emu: &RunningEmulator, dir: &Path) -> (std::path::PathBuf, Session) {
    let audit = dir.join("audit.jsonl");
    let s = start(emu, &state_args(dir, &audit), &dir.join("stderr.log")).await;
    (audit, s)
}

/// `pfsense-mcp audit verify PATH`, run.
fn audit_verify(path: &Path) -> std::process::Output {
    Command::new(tests::binary::pfsense_mcp())
        .args(["audit", "verify"])
        .arg(path)
        .output()
        .unwrap()
}

fn state_args(dir: &Path, audit: &Path) -> Vec<String> {
    let mut args = vec![
        "--audit-log".to_string(),
        audit.display().to_string(),
        "--journal".into(),
        dir.join("journal.sqlite").display().to_string(),
    ];
    args.extend(NO_RATE_LIMITS.iter().map(|s| s.to_string()));
    args
}

fn id_of(aliases: &Value, name: &str) -> Option<i64> {
    aliases
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_i64())
}

fn deletes(emu: &RunningEmulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count()
}

fn writes(emu: &RunningEmulator) -> Vec<String> {
    emu.requests()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Check one raced pair: exactly one DELETE went out, the previewed alias is gone, the one
/// that moved into its id is still there, and the loser names the change that won.
fn check_pair(round: usize, emu: &RunningEmulator, a: &CallToolResult, b: &CallToolResult) {
    assert_eq!(deletes(emu), 1, "round {round}: {:?}", writes(emu));
    let (won, lost) = match (is_error(a), is_error(b)) {
        (false, true) => (a, b),
        (true, false) => (b, a),
        _ => panic!(
            "round {round}: one must win and one be refused:\n{}\n{}",
            text(a),
            text(b)
        ),
    };
    let change = won.structured_content.as_ref().unwrap()["change_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("round {round}: {}", text(won)));
    let refusal = text(lost);
    assert!(
        refusal.contains(&format!("change {change} (")) && refusal.contains("confirmed first"),
        "round {round}: the refusal names change {change}: {refusal}"
    );
}

#[tokio::test]
async fn of_two_concurrent_confirmations_of_one_preview_exactly_one_is_sent_over_stdio() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let args = state_args(dir.path(), &dir.path().join("audit.jsonl"));
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;
    for round in 0..20 {
        let (first, second) = (format!("race{round}a"), format!("race{round}b"));
        s.ok(CREATE, alias(&first)).await;
        s.ok(CREATE, alias(&second)).await;
        let id = id_of(&s.ok(ALIASES, json!({})).await["data"], &first).unwrap();
        let preview = s.ok(DELETE, json!({"id": id})).await;
        let fingerprint = preview["fingerprint"].as_str().unwrap().to_string();
        let confirm = json!({"id": id, "confirm": true, "expect_state": fingerprint});
        emu.clear_requests();
        let (a, b) = tokio::join!(s.call(DELETE, confirm.clone()), s.call(DELETE, confirm));
        check_pair(round, &emu, &a, &b);
        let left = s.ok(ALIASES, json!({})).await["data"].clone();
        assert!(id_of(&left, &first).is_none(), "round {round}: {left}");
        assert!(
            id_of(&left, &second).is_some(),
            "round {round}: the alias that moved into the id survives: {left}"
        );
    }
    s.close().await;
    // Journal and audit agree with the firewall: twenty deletes, each of the previewed alias.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let executed: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["tool"] == DELETE && l["outcome"] == "executed")
        .collect();
    assert_eq!(executed.len(), 20);
}

async fn http_call(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let mut params = CallToolRequestParams::new(name.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client.peer().call_tool(params).await.expect("tools/call")
}

#[tokio::test]
async fn of_two_concurrent_confirmations_of_one_preview_exactly_one_is_sent_over_http() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let token = test_token("race");
    let mut env = env_for(&emu);
    env.push(("PFSENSE_HTTP_TOKEN".into(), token.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut args = vec![
        "--http",
        "127.0.0.1:0",
        "--audit-log",
        "off",
        "--journal",
        "memory",
    ];
    args.extend_from_slice(NO_RATE_LIMITS);
    let server = HttpServer::start(&args, &env, &dir.path().join("stderr.log"));
    // Two sessions, as two clients would confirm the same preview.
    let one = connect(&server.mcp_url(), Some(&token), tests::http::client())
        .await
        .expect("session one");
    let two = connect(&server.mcp_url(), Some(&token), tests::http::client())
        .await
        .expect("session two");
    for round in 0..20 {
        let (first, second) = (format!("web{round}a"), format!("web{round}b"));
        for name in [&first, &second] {
            let r = http_call(&one, CREATE, alias(name)).await;
            assert!(!is_error(&r), "{}", text(&r));
        }
        let list = http_call(&one, ALIASES, json!({})).await;
        let id = id_of(&list.structured_content.unwrap()["data"], &first).unwrap();
        let preview = http_call(&one, DELETE, json!({"id": id})).await;
        let fingerprint = preview.structured_content.unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_string();
        let confirm = json!({"id": id, "confirm": true, "expect_state": fingerprint});
        emu.clear_requests();
        let (a, b) = tokio::join!(
            http_call(&one, DELETE, confirm.clone()),
            http_call(&two, DELETE, confirm)
        );
        check_pair(round, &emu, &a, &b);
    }
    let _ = one.cancel().await;
    let _ = two.cancel().await;
}

/// A small tmpfs the test mounts (CI runs as root), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    /// Fill the rest of the file system.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.path().join("filler")).unwrap();
        let block = vec![b'x'; 4096];
        while f.write_all(&block).and_then(|_| f.sync_data()).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[tokio::test]
async fn nothing_is_sent_when_the_audit_line_cannot_be_written() {
    let Some(disk) = Tmpfs::mount("256k") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = disk.0.path().join("audit.jsonl");
    let args = state_args(dir.path(), &audit);
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;
    s.ok(CREATE, alias("before_full")).await;
    disk.fill();
    emu.clear_requests();
    // Larger than the slack of the audit file's last page (tmpfs allocates whole pages).
    let mut args = alias("after_full");
    args["address"] = json!(
        (0..400)
            .map(|i| format!("10.1.{}.{}", i / 250, i % 250))
            .collect::<Vec<_>>()
    );
    let r = s.call(CREATE, args).await;
    assert!(is_error(&r), "{}", text(&r));
    let message = text(&r);
    assert!(
        message.contains("audit log") && message.contains("nothing is sent without an audit line"),
        "{message}"
    );
    assert!(writes(&emu).is_empty(), "nothing sent: {:?}", writes(&emu));
    // Space again: the chain goes on intact, and the next change goes out.
    std::fs::remove_file(disk.0.path().join("filler")).unwrap();
    s.ok(CREATE, alias("after_space")).await;
    assert_eq!(writes(&emu), vec![format!("POST {ALIAS_PATH}")]);
    s.close().await;
    let verify = audit_verify(&audit);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test]
async fn a_huge_argument_makes_a_capped_audit_line() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (audit, s) = start_in(&emu, dir.path()).await;
    // 6 MB (rmcp's client drops messages over 16 MB). pfrest allows `descr` 1024 characters
    // (the spec's maxLength, its LengthValidator): refused before anything is sent or
    // previewed, and the refusal's audit line holds a digest of the value, not the value.
    let descr = "d".repeat(6 * 1024 * 1024);
    let mut args = alias("huge");
    args["descr"] = json!(descr);
    let r = s.call(CREATE, args).await;
    assert!(is_error(&r));
    let shown = tests::mcp::text(&r);
    assert!(
        shown.len() < 1000 && shown.contains("must be at most 1024 characters, got 6291456"),
        "{}",
        &shown[..shown.len().min(500)]
    );
    assert!(writes(&emu).is_empty(), "{:?}", writes(&emu));
    s.close().await;
    let text = std::fs::read_to_string(&audit).unwrap();
    let longest = text.lines().map(str::len).max().unwrap();
    assert!(longest <= 64 * 1024, "longest audit line {longest} bytes");
    let attempt: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["tool"] == CREATE && l["outcome"] == "refused")
        .expect("a refused line");
    assert_eq!(attempt["arguments"]["descr"]["omitted_bytes"], descr.len());
    assert_eq!(
        attempt["arguments"]["descr"]["sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[tokio::test]
async fn a_line_cut_by_a_crash_is_closed_off_at_the_next_start() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = state_args(dir.path(), &audit);
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;
    s.ok(CREATE, alias("cut1")).await;
    s.close().await;
    // A crash while the next line was written.
    let mut whole = std::fs::read_to_string(&audit).unwrap();
    whole.push_str(r#"{"seq":99,"time":"2026-12-03T05:00:00Z","firewall":"defa"#);
    std::fs::write(&audit, whole).unwrap();
    let verify = || audit_verify(&audit);
    // Before any start closes it off, the cut line is said to be one, not an edit.
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("cut off by a crash")
            && stdout.contains("when it next starts"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same text with a newline after it is a finished line that is no JSON: an edit.
    let mut edited = std::fs::read_to_string(&audit).unwrap();
    edited.push('\n');
    let copy = dir.path().join("edited.jsonl");
    std::fs::write(&copy, edited).unwrap();
    let out = audit_verify(&copy);
    assert!(
        !out.status.success(),
        "a finished line that is no JSON breaks the chain"
    );
    let s = start(&emu, &args, &dir.path().join("stderr2.log")).await;
    s.ok(CREATE, alias("cut2")).await;
    s.close().await;
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 line cut off"), "{stdout}");
    let marker = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["outcome"] == "cut_off")
        .expect("a cut_off marker");
    assert!(marker["message"].as_str().unwrap().contains("cut off"));
}

#[tokio::test]
async fn a_write_answered_200_with_cut_off_json_is_settled_by_reading() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let args = state_args(dir.path(), &dir.path().join("audit.jsonl"));
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;
    emu.add_fault(
        Fault::new(FaultAction::Malformed)
            .on_path(ALIAS_PATH)
            .on_method("POST")
            .times(1),
    );
    let r = s.call(CREATE, alias("garbled")).await;
    assert!(is_error(&r), "{}", text(&r));
    let changes = s.ok("pfsense_list_changes", json!({})).await;
    let row = &changes["changes"][0];
    assert_eq!(row["tool"], CREATE, "{changes}");
    // The emulator answered without creating it: reading shows the create did not happen.
    assert_eq!(row["status"], "not_applied", "{changes}");
    assert!(
        text(&r).contains("not_applied") && text(&r).contains("no object with name"),
        "{}",
        text(&r)
    );
    s.close().await;
}

#[tokio::test]
async fn delete_previews_say_what_the_call_would_do() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let args = state_args(dir.path(), &dir.path().join("audit.jsonl"));
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;

    // A missing id: an error, not an invitation to confirm.
    let r = s.call(DELETE, json!({"id": 999})).await;
    assert!(is_error(&r), "{}", text(&r));
    assert!(
        text(&r).contains("does not exist") && !text(&r).contains("confirm: true"),
        "{}",
        text(&r)
    );

    // A bulk delete with limit and offset: the preview lists exactly what is deleted.
    for i in 0..6 {
        s.ok(CREATE, alias(&format!("bulk{i}"))).await;
    }
    let bulk = "pfsense_delete_firewall_aliases";
    let args = json!({"query": {"name__startswith": "bulk"}, "limit": 2, "offset": 1});
    let preview = s.ok(bulk, args.clone()).await;
    let mut previewed: Vec<String> = preview["diff"]["removed"]
        .as_array()
        .unwrap_or_else(|| panic!("{preview}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();
    previewed.sort();
    assert_eq!(previewed, vec!["bulk1", "bulk2"], "{preview}");
    let mut confirm = args.clone();
    confirm["confirm"] = json!(true);
    s.ok(bulk, confirm).await;
    let left = s.ok(ALIASES, json!({})).await["data"].clone();
    let mut gone: Vec<String> = (0..6)
        .map(|i| format!("bulk{i}"))
        .filter(|n| id_of(&left, n).is_none())
        .collect();
    gone.sort();
    assert_eq!(gone, previewed, "the preview equals what was deleted");
    s.close().await;
}

#[tokio::test]
async fn a_batch_undo_of_create_then_update_restores_the_original() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let args = state_args(dir.path(), &dir.path().join("audit.jsonl"));
    let s = start(&emu, &args, &dir.path().join("stderr.log")).await;
    let original = s.ok(ALIASES, json!({})).await["data"].clone();
    s.ok(CREATE, alias("batch")).await;
    let id = id_of(&s.ok(ALIASES, json!({})).await["data"], "batch").unwrap();
    s.ok(
        "pfsense_update_firewall_alias",
        json!({"id": id, "descr": "changed", "confirm": true}),
    )
    .await;
    // The older change is checked against the state the newer undo leaves.
    let preview = s.ok("pfsense_undo", json!({"last": 2})).await;
    assert_eq!(preview["plan"].as_array().unwrap().len(), 2, "{preview}");
    s.ok("pfsense_undo", json!({"last": 2, "confirm": true}))
        .await;
    let now = s.ok(ALIASES, json!({})).await["data"].clone();
    assert_eq!(now, original, "the batch undo restores the original");
    s.close().await;
}

/// A query string no firewall takes (pfSense's nginx refuses request lines over 8 KB) is the
/// caller's to shorten: refused before anything is sent, never retried, and never counted by
/// the circuit breaker against the firewall, which other callers share.
#[tokio::test]
async fn an_over_long_query_is_refused_locally_and_leaves_the_breaker_closed() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (_audit, s) = start_in(&emu, dir.path()).await;
    let long = "a".repeat(70_000);
    emu.clear_requests();
    for args in [
        json!({"sort_by": [long]}),
        json!({"query": {"descr": long}}),
    ] {
        for _ in 0..3 {
            let r = s.call(ALIASES, args.clone()).await;
            assert!(is_error(&r));
            assert!(
                text(&r).contains("refuses lines over 8 KB"),
                "{}",
                &text(&r)[..text(&r).len().min(300)]
            );
        }
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests().len());
    // The firewall is still there for everyone.
    s.ok(ALIASES, json!({})).await;
    let health = s.ok("pfsense_health", json!({})).await;
    assert_eq!(health["breaker"]["state"], "closed", "{health}");
    s.close().await;
}

/// A streamable-HTTP POST of `message` in `session` (none: opening one), with the token.
async fn post_raw(
    server: &HttpServer,
    token: &str,
    session: Option<&str>,
    message: Value,
) -> reqwest::Response {
    let mut r = tests::http::client()
        .post(server.mcp_url())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25");
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r.body(message.to_string())
        .send()
        .await
        .expect("the server answers")
}

/// The JSON-RPC messages of an SSE body.
fn sse_messages(body: &str) -> Vec<Value> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

/// rmcp routes an answer to its HTTP request by the JSON-RPC id: a request reusing the id of
/// one still being answered took its route, so the first request never got its answer. The
/// reused id is refused with -32600 on its own HTTP response; the first request gets its own
/// answer, and the id can be used again once it is answered.
#[tokio::test]
async fn a_request_reusing_the_id_of_one_in_flight_is_refused_and_the_first_is_answered() {
    let emu = emulator().await;
    // The first call's read takes 1.5 s.
    emu.add_fault(
        Fault::new(FaultAction::Delay)
            .with_latency_ms(1500)
            .on_path("/api/v2/system/version")
            .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let token = test_token("ids");
    let mut env = env_for(&emu);
    env.push(("PFSENSE_HTTP_TOKEN".into(), token.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let args = [
        "--http",
        "127.0.0.1:0",
        "--audit-log",
        "off",
        "--journal",
        "memory",
    ];
    let server = HttpServer::start(&args, &env, &dir.path().join("stderr.log"));
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "ids", "version": "0"}}
    });
    let opened = post_raw(&server, &token, None, init).await;
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = opened.text().await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let _ = post_raw(&server, &token, Some(&session), initialized).await;
    let call = |id: Value, tool: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": {}}})
    };
    // Whether the SSE `body` holds the answer to request `id`, with a list as its data.
    let lists = |body: String, id: i64| {
        sse_messages(&body)
            .iter()
            .any(|m| m["id"] == id && m["result"]["structuredContent"]["data"].is_array())
    };
    let slow = post_raw(
        &server,
        &token,
        Some(&session),
        call(json!(7), "pfsense_get_system_version"),
    );
    let reused = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        post_raw(&server, &token, Some(&session), call(json!(7), ALIASES)).await
    };
    let (slow, reused) = tokio::join!(slow, reused);
    assert_eq!(reused.status(), reqwest::StatusCode::BAD_REQUEST);
    let refusal: Value = reused.json().await.unwrap();
    assert_eq!(refusal["error"]["code"], -32600, "{refusal}");
    assert_eq!(refusal["id"], 7, "{refusal}");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("still being answered"),
        "{refusal}"
    );
    // The first request's own answer, on its own response.
    let answers = sse_messages(&slow.text().await.unwrap());
    let answer = answers.iter().find(|m| m["id"] == 7).expect("answered");
    assert!(
        answer["result"]["structuredContent"]["data"]["version"].is_string(),
        "{answer}"
    );
    // Answered: the id is free again.
    let again = post_raw(&server, &token, Some(&session), call(json!(7), ALIASES)).await;
    assert_eq!(again.status(), reqwest::StatusCode::OK);
    assert!(lists(again.text().await.unwrap(), 7));
    // The same id written as a float is the same id to rmcp; and a client that hung up does
    // not free its id while the call still runs on the server.
    emu.add_fault(
        Fault::new(FaultAction::Delay)
            .with_latency_ms(2500)
            .on_path("/api/v2/firewall/rules")
            .times(1),
    );
    let slow = call(json!(8), "pfsense_list_firewall_rules");
    // The answer's event stream opens at once; the client drops it before the answer.
    let stream = post_raw(&server, &token, Some(&session), slow).await;
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for reused in [json!(8), json!(8.0)] {
        let message = call(reused.clone(), ALIASES);
        let r = post_raw(&server, &token, Some(&session), message).await;
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST, "{reused}");
    }
    // Once the call has ended on the server, the id is free.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let r = post_raw(&server, &token, Some(&session), call(json!(8), ALIASES)).await;
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert!(lists(r.text().await.unwrap(), 8));
}
