//! Stopping over stdio while a call waits for a human's approval, against the real binary and
//! the emulator: at SIGTERM, or when the client closes stdin, the waiting call is answered at
//! once as not approved because the server is shutting down, nothing reaches the firewall, the
//! audit line says why, and the process exits 0 well inside the 30 s drain. The client here
//! speaks JSON-RPC over the pipes itself, so that it can leave the approval unanswered and
//! check that stdout held JSON-RPC messages and nothing else. (Over HTTP:
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
        .send(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"elicitation": {"form": {}}},
                "clientInfo": {"name": "stdio-shutdown-test", "version": "0"}
            }
        }))
        .await;
    let init = server.until(soon(), |m| m["id"] == 1).await;
    assert!(init["result"].is_object(), "{init}");
    server
        .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
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
