//! Stopping over stdio while a call waits for a human's approval, against the real binary and
//! the emulator: at SIGTERM, or when the client closes stdin, the waiting call is answered at
//! once as not approved because the server is shutting down, nothing reaches the firewall, the
//! audit line says why, the client is told the question is withdrawn (`notifications/cancelled`
//! for the `elicitation/create`), and the process exits 0 well inside the 30 s drain. The
//! client here speaks JSON-RPC over the pipes itself, so that it can leave the approval
//! unanswered and check that stdout held JSON-RPC messages and nothing else. (Over HTTP:
//! `http_perimeter.rs`, `a_call_waiting_for_approval_is_refused_at_the_signal`.)

use pfsense_emulator::RunningEmulator;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How the server is told to stop.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM, with stdin left open as a client's would be.
    Signal,
    /// The client closes stdin (the end of the session).
    EndOfInput,
}

/// The binary over stdio, with every line it wrote to stdout.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl Server {
    fn start(emu: &RunningEmulator, dir: &Path) -> Server {
        Server::start_with(emu, dir, &[])
    }

    /// [`Server::start`] with `env` set on top of the emulator's.
    fn start_with(emu: &RunningEmulator, dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(tests::binary::pfsense_mcp());
        cmd.args([
            "--audit-log",
            &dir.join("audit.jsonl").display().to_string(),
            "--journal",
            "memory",
        ])
        .env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in tests::safety::env_for(emu) {
            cmd.env(k, v);
        }
        cmd.envs(env.iter().copied());
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn pfsense-mcp");
        let stdin = child.stdin.take();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Server {
            child,
            stdin,
            out,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    /// The next line of stdout, which must be one JSON-RPC 2.0 message; `None` at its end.
    async fn next(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = tokio::time::timeout(left, self.out.next_line())
            .await
            .unwrap_or_else(|_| panic!("stdout went quiet; it held: {:#?}", self.seen))
            .expect("stdout reads")?;
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout held a line that is not JSON ({e}): {line:?}"));
        assert_eq!(
            message["jsonrpc"], "2.0",
            "stdout held something that is no JSON-RPC 2.0 message: {line}"
        );
        self.seen.push(message.clone());
        Some(message)
    }

    /// Open the session: `initialize` (declaring `capabilities`) answered with a result, then
    /// `notifications/initialized`.
    async fn open_session(&mut self, deadline: Instant, capabilities: Value) {
        self.send(initialize(capabilities)).await;
        let init = self.until(deadline, |m| m["id"] == 1).await;
        assert!(init["result"].is_object(), "{init}");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
    }

    /// The first message from now on that `wanted` picks, read before `deadline`.
    async fn until(&mut self, deadline: Instant, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            match self.next(deadline).await {
                Some(m) if wanted(&m) => return m,
                Some(_) => {}
                None => panic!("stdout ended first; it held: {:#?}", self.seen),
            }
        }
    }
}

/// A reqwest client for the emulator's own API (its certificate is self-signed: the test
/// reads what the emulator holds, it is not the product's TLS under test).
/// This file's client's `initialize` request (id 1), declaring `capabilities`.
fn initialize(capabilities: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": capabilities,
            "clientInfo": {"name": "stdio-shutdown-test", "version": "0"}
        }
    })
}

/// A confirmed call (id 2) creating the host alias `name`.
fn create_alias(name: &str) -> Value {
    json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "pfsense_create_firewall_alias", "arguments": {
            "name": name, "type": "host", "address": ["192.0.2.9"], "confirm": true
        }}
    })
}

/// Wait until the slow firewall holds the create: its delayed POST has arrived.
async fn held_at_the_firewall(emu: &RunningEmulator, until: Instant, stderr: impl Fn() -> String) {
    while !emu
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.fault.is_some())
    {
        assert!(Instant::now() < until, "no POST: {}", stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn firewall_client() -> reqwest::Client {
    tests::http::client_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// `METHOD /api/v2/firewall/alias` on the emulator directly, with its API key.
async fn alias_api(
    emu: &RunningEmulator,
    method: reqwest::Method,
    query: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = firewall_client()
        .request(
            method,
            format!("{}/api/v2/firewall/alias{query}", emu.url()),
        )
        .header("x-api-key", emu.api_key().unwrap());
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("the emulator answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn refused_at(stop: Stop) {
    let emu = tests::safety::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    // The alias to delete, made on the firewall directly.
    let (status, made) = alias_api(
        &emu,
        reqwest::Method::POST,
        "",
        Some(json!({"name": "stays", "type": "host", "address": ["192.0.2.1"]})),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let id = made["data"]["id"].clone();
    assert!(id.is_number(), "{made}");

    let mut server = Server::start(&emu, dir.path());
    let soon = || Instant::now() + Duration::from_secs(60);
    server
        .open_session(soon(), json!({"elicitation": {"form": {}}}))
        .await;

    // The delete asks the human, who does not answer.
    server
        .send(json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "pfsense_delete_firewall_alias", "arguments": {"id": id, "confirm": true}}
        }))
        .await;
    let asked = server
        .until(soon(), |m| m["method"] == "elicitation/create")
        .await;
    assert!(
        asked["id"].is_number() || asked["id"].is_string(),
        "{asked}"
    );
    assert!(
        !server.seen.iter().any(|m| m["id"] == 3),
        "the call waits for the human: {:#?}",
        server.seen
    );

    let stopped = Instant::now();
    match stop {
        Stop::Signal => {
            let kill = std::process::Command::new("kill")
                .args(["-TERM", &server.child.id().unwrap().to_string()])
                .status()
                .unwrap();
            assert!(kill.success());
        }
        Stop::EndOfInput => drop(server.stdin.take()),
    }
    // Well inside the 30 s the drain would wait for a call.
    let quick = stopped + Duration::from_secs(15);
    let answer = server.until(quick, |m| m["id"] == 3).await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("was not called")
            && text.contains("not approved")
            && text.contains("shutting down"),
        "{text}"
    );
    // The rest of stdout, to its end: JSON-RPC messages only (`next` checks each).
    while server.next(quick).await.is_some() {}
    // The question was withdrawn at the client, so that it can take the form down.
    assert!(
        server
            .seen
            .iter()
            .any(|m| m["method"] == "notifications/cancelled"
                && m["params"]["requestId"] == asked["id"]
                && m["params"]["reason"] == "the server is shutting down"),
        "{:#?}",
        server.seen
    );
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < quick,
            "no exit {:?} after {stop:?}: {}",
            stopped.elapsed(),
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(dir.path().join("stderr.log")).unwrap()
    );
    drop(server.stdin.take());

    // Nothing reached the firewall: the alias is still there.
    assert!(
        !emu.requests().iter().any(|r| r.method == "DELETE"),
        "a delete reached the firewall: {:?}",
        emu.requests()
    );
    let (status, held) = alias_api(&emu, reqwest::Method::GET, &format!("?id={id}"), None).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(held["data"]["name"], "stays", "{held}");

    // The audit line says the call was refused, and why.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let delete: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["tool"] == "pfsense_delete_firewall_alias")
        .collect();
    assert_eq!(delete.len(), 1, "{audit}");
    assert_eq!(delete[0]["outcome"], "refused", "{}", delete[0]);
    assert!(
        delete[0]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{}",
        delete[0]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn a_call_waiting_for_approval_is_refused_at_sigterm() {
    refused_at(Stop::Signal).await;
}

#[tokio::test]
async fn a_call_waiting_for_approval_is_refused_when_stdin_closes() {
    refused_at(Stop::EndOfInput).await;
}

/// A scripted client (`printf '<initialize>\n<initialized>\n<tools/call>\n' | pfsense-mcp`)
/// writes its lines and closes stdin at once, while the call (a change, to a firewall that takes
/// 8 s to answer) is in flight: the call is answered before the process exits, with status 0,
/// and stdout holds JSON-RPC only. (rmcp alone gives the calls in flight 5 s once its input
/// ends, then drops their answers: the change was made and its answer lost.) A request rmcp
/// cannot read (an id beyond i64, which rmcp answers without the id) does not hold the exit
/// up to the 30 s drain.
#[tokio::test]
async fn a_slow_call_is_answered_when_the_client_closes_stdin_at_once() {
    let emu = tests::safety::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    slow_alias_create(&emu, 8_000);
    let mut server = Server::start(&emu, dir.path());
    let started = Instant::now();
    for message in [
        initialize(json!({})),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        create_alias("slow_one"),
        // An id too big for rmcp (its ids are i64).
        json!({"jsonrpc": "2.0", "id": u64::MAX, "method": "ping"}),
    ] {
        server.send(message).await;
    }
    drop(server.stdin.take());

    // Everything on stdout, to its end (`next` checks each line is a JSON-RPC message).
    let deadline = started + Duration::from_secs(60);
    while server.next(deadline).await.is_some() {}
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let status = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        server.child.wait(),
    )
    .await
    .unwrap_or_else(|_| panic!("no exit: {}", stderr()))
    .unwrap();
    let took = started.elapsed();

    let answer = server
        .seen
        .iter()
        .find(|m| m["id"] == 2)
        .unwrap_or_else(|| panic!("the call went unanswered: {:#?}\n{}", server.seen, stderr()));
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    assert!(
        server
            .seen
            .iter()
            .any(|m| m.get("id").is_none() && m["error"]["code"] == -32600),
        "rmcp answers the request it cannot read without its id: {:#?}",
        server.seen
    );
    assert_eq!(status.code(), Some(0), "{:#?}\n{}", server.seen, stderr());
    assert!(
        stderr().contains("stdin closed: answering the"),
        "{}",
        stderr()
    );
    // The call took the firewall's 8 s; the request rmcp could not read was not waited for.
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(25),
        "{took:?}: {}",
        stderr()
    );
    // The change is on the firewall (`GET /firewall/aliases`).
    let (status, held) = alias_api(&emu, reqwest::Method::GET, "es", None).await;
    assert_eq!(status, 200, "{held}");
    assert!(
        held["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "slow_one"),
        "{held}"
    );
    emu.shutdown().await;
}

/// A signal while the drain that closing stdin began waits for a call exits at once, with
/// status 1, saying on stderr that the call went unanswered (the signal path's code, shared),
/// and that a signal came after stdin closed: no first signal came, so not "a second signal".
#[tokio::test]
async fn a_signal_during_the_drain_of_a_closed_stdin_exits_at_once() {
    let emu = tests::safety::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    slow_alias_create(&emu, 20_000);
    let mut server = Server::start(&emu, dir.path());
    let soon = || Instant::now() + Duration::from_secs(60);
    server.open_session(soon(), json!({})).await;
    server.send(create_alias("never_answered")).await;
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    // The change is at the firewall, which holds it for 20 s.
    let until = soon();
    held_at_the_firewall(&emu, until, stderr).await;
    drop(server.stdin.take());
    while !stderr().contains("stdin closed: answering the 1 call(s) in flight, then exiting") {
        assert!(Instant::now() < until, "no drain: {}", stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .unwrap_or_else(|_| panic!("no exit at the signal: {}", stderr()))
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "{}", stderr());
    assert!(
        stderr().contains("a signal after stdin closed: exiting with 1 call(s) unanswered")
            && !stderr().contains("second signal"),
        "{}",
        stderr()
    );
    // stdout held JSON-RPC only, and no answer to the call.
    while server.next(soon()).await.is_some() {}
    assert!(
        !server.seen.iter().any(|m| m["id"] == 2),
        "{:#?}",
        server.seen
    );
    drop(emu);
}

/// The drain that closing stdin begins gives up on a call the firewall does not answer within
/// its 30 s (the request's own timeout raised so that it does not end the call first): the
/// process exits with status 1 without the call's answer, and stderr says the calls in flight
/// did not finish in time and how many went unanswered. Most of its time is the drain's wait:
/// cargo runs it beside this file's other tests.
#[tokio::test]
async fn the_drain_of_a_closed_stdin_gives_up_on_a_call_after_30_s() {
    let emu = tests::safety::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    slow_alias_create(&emu, 90_000);
    let mut server = Server::start_with(&emu, dir.path(), &[("PFSENSE_TIMEOUT", "120")]);
    let soon = || Instant::now() + Duration::from_secs(60);
    server.open_session(soon(), json!({})).await;
    server.send(create_alias("too_slow")).await;
    let stderr = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    // The change is at the firewall, which holds it for 90 s.
    let until = soon();
    held_at_the_firewall(&emu, until, stderr).await;
    let closed = Instant::now();
    drop(server.stdin.take());

    // stdout to its end: JSON-RPC only (`next` checks each line), and no answer to the call.
    let deadline = closed + Duration::from_secs(60);
    while server.next(deadline).await.is_some() {}
    let status = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        server.child.wait(),
    )
    .await
    .unwrap_or_else(|_| panic!("no exit: {}", stderr()))
    .unwrap();
    let took = closed.elapsed();
    assert!(
        !server.seen.iter().any(|m| m["id"] == 2),
        "{:#?}",
        server.seen
    );
    assert_eq!(status.code(), Some(1), "{}", stderr());
    // The drain's 30 s, and rmcp's and the writer's few seconds after it at most.
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(45),
        "{took:?}: {}",
        stderr()
    );
    assert!(
        stderr().contains(
            "the calls in flight did not finish in time: exiting with 1 call(s) unanswered"
        ) && stderr().contains("stdin closed with 1 call(s) in flight unanswered"),
        "{}",
        stderr()
    );
    drop(emu);
}

/// The emulator answers the next alias create after `ms` milliseconds: a slow firewall.
fn slow_alias_create(emu: &pfsense_emulator::RunningEmulator, ms: u64) {
    emu.add_fault(
        pfsense_emulator::Fault::new(pfsense_emulator::FaultAction::Delay)
            .with_latency_ms(ms)
            .on_path("/api/v2/firewall/alias")
            .on_method("POST")
            .times(1),
    );
}
