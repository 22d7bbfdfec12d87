//! Issue 7: the streamable HTTP transport of the real binary (`--sandbox --http`), over real
//! loopback sockets: bearer tokens, Host/Origin checks, body limit, /healthz, callers in the
//! audit log, start-up refusals, TLS.

use reqwest::StatusCode;
use rmcp::model::CallToolRequestParams;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tests::http::{HttpServer, connect, initialize_body, test_token};

const JSON_AND_SSE: &str = "application/json, text/event-stream";

fn tokens_file(dir: &Path, alice: &str, bob: &str) -> String {
    let path = dir.join("tokens");
    std::fs::write(&path, format!("# test callers\nalice:{alice}\nbob:{bob}\n")).unwrap();
    path.display().to_string()
}

/// POST an `initialize` to /mcp with the given extra headers; the status and body.
async fn post_initialize(
    http: &reqwest::Client,
    server: &HttpServer,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = http
        .post(server.mcp_url())
        .header("content-type", "application/json")
        .header("accept", JSON_AND_SSE)
        .body(initialize_body());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

async fn create_alias(client: &rmcp::service::RunningService<rmcp::RoleClient, ()>, name: &str) {
    let args = json!({"name": name, "type": "host", "address": ["192.0.2.1"], "confirm": true});
    let mut params = CallToolRequestParams::new("pfsense_create_firewall_alias");
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    let r = client.peer().call_tool(params).await.expect("tools/call");
    assert!(
        !r.is_error.unwrap_or(false),
        "create {name}: {}",
        tests::mcp::text(&r)
    );
}

#[tokio::test]
async fn http_transport_checks_tokens_hosts_origins_and_body_size_and_audits_callers() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (test_token("alice"), test_token("bob"));
    let tokens = tokens_file(dir.path(), &alice, &bob);
    let audit = dir.path().join("audit.jsonl");
    let audit_arg = audit.display().to_string();
    let mut server = HttpServer::start(
        &[
            "--sandbox",
            "--http",
            "127.0.0.1:0",
            "--tokens-file",
            &tokens,
            "--audit-log",
            &audit_arg,
            "--max-body-bytes",
            "100000",
        ],
        &[],
        &dir.path().join("stderr.log"),
    );
    let http = tests::http::client();
    let auth_alice = format!("Bearer {alice}");

    // /healthz: no token needed, nothing revealed.
    let resp = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");

    // No token, a wrong token, a wrong scheme: 401 with a Bearer challenge that names no token.
    let wrong = format!("Bearer {}", test_token("mallory"));
    let basic = format!("Basic {alice}");
    for headers in [
        vec![],
        vec![("authorization", wrong.as_str())],
        vec![("authorization", basic.as_str())],
    ] {
        let (status, h, body) = post_initialize(&http, &server, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {body}");
        let challenge = h
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        for secret in ["alice", "bob", alice.as_str(), bob.as_str()] {
            assert!(!body.contains(secret), "401 body reveals {secret}: {body}");
        }
    }

    // A browser Origin not on the list, a Host not on the list (DNS rebinding): 403.
    let (status, _, body) = post_initialize(
        &http,
        &server,
        &[
            ("authorization", &auth_alice),
            ("origin", "http://evil.example"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let evil_host = format!("evil.example:{}", server.port);
    let (status, _, body) = post_initialize(
        &http,
        &server,
        &[("authorization", &auth_alice), ("host", &evil_host)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The loopback origin with the listening port is allowed by default.
    let local_origin = format!("http://localhost:{}", server.port);
    let (status, _, body) = post_initialize(
        &http,
        &server,
        &[("authorization", &auth_alice), ("origin", &local_origin)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A body over --max-body-bytes: 413, and the server keeps working.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(200_000)
    );
    let resp = http
        .post(server.mcp_url())
        .header("authorization", &auth_alice)
        .header("content-type", "application/json")
        .header("accept", JSON_AND_SSE)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, body) =
        post_initialize(&http, &server, &[("authorization", &auth_alice)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Two MCP clients with different tokens each make a change.
    let a = connect(&server.mcp_url(), Some(&alice), http.clone())
        .await
        .expect("alice connects");
    let b = connect(&server.mcp_url(), Some(&bob), http.clone())
        .await
        .expect("bob connects");
    create_alias(&a, "from_alice").await;
    create_alias(&b, "from_bob").await;
    // An rmcp client without a token is turned away.
    assert!(
        connect(&server.mcp_url(), None, http.clone())
            .await
            .is_err(),
        "a client without a token must not get a session"
    );
    let _ = a.cancel().await;
    let _ = b.cancel().await;

    // The audit log records each change under its token's name.
    let log = std::fs::read_to_string(&audit).expect("the audit log exists");
    let entries: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect();
    let caller_of = |alias: &str| {
        entries
            .iter()
            .find(|e| {
                e["outcome"] == "executed"
                    && e["tool"] == "pfsense_create_firewall_alias"
                    && e.to_string().contains(alias)
            })
            .map(|e| e["caller"].clone())
    };
    assert_eq!(caller_of("from_alice"), Some(json!("alice")), "{log}");
    assert_eq!(caller_of("from_bob"), Some(json!("bob")), "{log}");
    for secret in [&alice, &bob] {
        assert!(!log.contains(secret.as_str()), "a token in the audit log");
        assert!(
            !server.stderr().contains(secret.as_str()),
            "a token in the log"
        );
    }

    // SIGTERM: a clean exit.
    let status = server
        .terminate(Duration::from_secs(30))
        .expect("the server stops on SIGTERM");
    assert!(
        status.success(),
        "exit status {status}: {}",
        server.stderr()
    );
    assert!(server.stderr().contains("HTTP server stopped"));
}

async fn call_as(
    client: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &str,
    args: Value,
) -> rmcp::model::CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client.peer().call_tool(params).await.expect("tools/call")
}

/// Over HTTP each token is a caller of its own: `pfsense_confirm_changes {}` confirms the
/// caller's own provisional changes (another's auto-revert is its safety net) and names the
/// others it left, `pfsense_undo` without `change_id` undoes the caller's own last change,
/// and an undo of another caller's change by its id says whose it is.
#[tokio::test]
async fn confirm_and_undo_without_ids_act_on_the_callers_own_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (test_token("alice"), test_token("bob"));
    let tokens = tokens_file(dir.path(), &alice, &bob);
    let mut server = HttpServer::start(
        &[
            "--sandbox",
            "--http",
            "127.0.0.1:0",
            "--tokens-file",
            &tokens,
            "--auto-revert",
            "600",
        ],
        &[],
        &dir.path().join("stderr.log"),
    );
    let http = tests::http::client();
    let a = connect(&server.mcp_url(), Some(&alice), http.clone())
        .await
        .expect("alice connects");
    let b = connect(&server.mcp_url(), Some(&bob), http.clone())
        .await
        .expect("bob connects");
    let rule = |descr: &str| {
        json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": "any",
            "destination": "any", "descr": descr, "confirm": true})
    };
    let made = |r: &rmcp::model::CallToolResult| -> i64 {
        assert!(!r.is_error.unwrap_or(false), "{}", tests::mcp::text(r));
        r.structured_content.as_ref().unwrap()["change_id"]
            .as_i64()
            .unwrap()
    };
    let alices = made(&call_as(&a, "pfsense_create_firewall_rule", rule("by alice")).await);
    let bobs = made(&call_as(&b, "pfsense_create_firewall_rule", rule("by bob")).await);

    let confirmed = call_as(&b, "pfsense_confirm_changes", json!({})).await;
    let structured = confirmed.structured_content.clone().unwrap();
    assert_eq!(structured["confirmed"], json!([bobs]), "{structured}");
    assert_eq!(
        structured["left_provisional"],
        json!([{"change_id": alices, "caller": "alice"}]),
        "{structured}"
    );
    assert!(
        tests::mcp::text(&confirmed).contains("made by alice"),
        "{}",
        tests::mcp::text(&confirmed)
    );

    // Bob's change is the newest, yet alice's undo without an id is of her own.
    let preview = call_as(&a, "pfsense_undo", json!({})).await;
    let plan = preview.structured_content.clone().unwrap()["plan"].clone();
    assert_eq!(plan[0]["change_id"], alices, "{plan}");
    let preview = call_as(&b, "pfsense_undo", json!({"change_id": alices})).await;
    assert!(
        tests::mcp::text(&preview).contains("made by alice"),
        "{}",
        tests::mcp::text(&preview)
    );
    let _ = a.cancel().await;
    let _ = b.cancel().await;
    server.terminate(Duration::from_secs(30));
}

fn start_and_fail(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(tests::binary::pfsense_mcp());
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run pfsense-mcp");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "it should refuse to start: {stderr}");
    stderr
}

#[test]
fn refuses_a_non_loopback_address_without_tokens() {
    let stderr = start_and_fail(&["--sandbox", "--http", "0.0.0.0:0"], &[]);
    assert!(stderr.contains("refusing to serve"), "{stderr}");
    assert!(stderr.contains("--tokens-file"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}

#[test]
fn refuses_short_tokens_naming_them_without_printing_them() {
    let stderr = start_and_fail(
        &["--sandbox", "--http", "127.0.0.1:0"],
        &[("PFSENSE_HTTP_TOKEN", "too-short-secret")],
    );
    assert!(stderr.contains("`token`"), "{stderr}");
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(!stderr.contains("too-short-secret"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(dir.path(), &test_token("alice"), "bob-is-short");
    let stderr = start_and_fail(
        &["--sandbox", "--http", "127.0.0.1:0", "--tokens-file", &file],
        &[],
    );
    assert!(stderr.contains("`bob`"), "{stderr}");
    assert!(!stderr.contains("bob-is-short"), "{stderr}");

    // A byte-order mark before the first name is not part of it.
    let path = dir.path().join("tokens-bom");
    std::fs::write(&path, "\u{feff}carol:carol-is-short\n").unwrap();
    let stderr = start_and_fail(
        &[
            "--sandbox",
            "--http",
            "127.0.0.1:0",
            "--tokens-file",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        stderr.contains("`carol`") && stderr.contains("at least 32"),
        "{stderr}"
    );
}

/// A 2026-07-28 client's call (no session) whose tool sends nothing before its result is
/// answered as one JSON body, not an event stream (`with_json_response`).
#[tokio::test]
async fn a_call_without_a_session_is_answered_with_a_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let token = test_token("json");
    let server = HttpServer::start(
        &["--sandbox", "--http", "127.0.0.1:0"],
        &[("PFSENSE_HTTP_TOKEN", &token)],
        &dir.path().join("stderr.log"),
    );
    let tool = "pfsense_get_system_version";
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": {}, "_meta": {
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = tests::http::client()
        .post(server.mcp_url())
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("accept", JSON_AND_SSE)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(call.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/json");
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["id"], 1, "{answer}");
    let version = &answer["result"]["structuredContent"]["data"]["version"];
    assert!(version.is_string(), "{answer}");
}

#[tokio::test]
async fn serves_mcp_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("a self-signed certificate");
    let cert_pem = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let token = test_token("tls");
    let cert_arg = dir.path().join("cert.pem").display().to_string();
    let key_arg = dir.path().join("key.pem").display().to_string();
    let server = HttpServer::start(
        &[
            "--sandbox",
            "--http",
            "127.0.0.1:0",
            "--tls-cert",
            &cert_arg,
            "--tls-key",
            &key_arg,
        ],
        &[("PFSENSE_HTTP_TOKEN", &token)],
        &dir.path().join("stderr.log"),
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let http = tests::http::client_builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let client = connect(&server.mcp_url(), Some(&token), http)
        .await
        .expect("an MCP session over https");
    let r = client
        .peer()
        .call_tool(CallToolRequestParams::new("pfsense_list_firewall_aliases"))
        .await
        .expect("tools/call over https");
    assert!(!r.is_error.unwrap_or(false), "{}", tests::mcp::text(&r));
    let _ = client.cancel().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_call_finish_then_exits() {
    use pfsense_emulator::{Fault, FaultAction};
    let dir = tempfile::tempdir().unwrap();
    // The firewall takes 3 s to answer this one list: the call is in flight when SIGTERM comes.
    let (emu, mut server, token) = server_against_a_faulty_firewall(
        dir.path(),
        Fault::new(FaultAction::Delay)
            .on_path(ALIASES_PATH)
            .with_latency_ms(3000)
            .times(1),
        &[],
    )
    .await;
    let call = list_in_flight(&emu, &server, &token).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(60));
        (status, server.stderr())
    })
    .await
    .unwrap();
    let result = call
        .await
        .unwrap()
        .expect("the in-flight call got its answer");
    assert!(
        !result.is_error.unwrap_or(false),
        "{}",
        tests::mcp::text(&result)
    );
    let (status, stderr) = status;
    let status = status.expect("the server exits after the call");
    assert!(status.success(), "exit status {status}: {stderr}");
    // The shutdown saw the call in flight and waited for it.
    assert!(
        stderr.contains("finishing in-flight requests") && !stderr.contains("in_flight=0"),
        "{stderr}"
    );
}

/// A 2026-07-28 (sessionless) `tools/call` as a raw HTTP/1.1 request.
fn raw_sessionless_call(port: u16, token: &str, tool: &str, arguments: Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": tool, "arguments": arguments, "_meta": {
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: {JSON_AND_SSE}\r\nMcp-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: {tool}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// At SIGTERM the server takes no new requests: an idle keep-alive connection is closed at
/// once (before the call in flight is answered), and a request that arrives after the signal
/// (here, on a connection that had sent part of its headers) gets 503 with a JSON-RPC error
/// carrying its id (null for a body that cannot be read) and is not executed, while the call in
/// flight finishes; then the server exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigterm_new_requests_are_refused_and_idle_connections_closed() {
    use pfsense_emulator::{Fault, FaultAction};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    // The call in flight when SIGTERM comes: the firewall takes 8 s to answer it (less than
    // the 10 s after which an idle keep-alive connection is closed anyway).
    let (emu, mut server, token) = server_against_a_faulty_firewall(
        dir.path(),
        Fault::new(FaultAction::Delay)
            .on_path(ALIASES_PATH)
            .with_latency_ms(8_000)
            .times(1),
        &[],
    )
    .await;
    let port = server.port;
    let answered = Arc::new(AtomicBool::new(false));
    let in_flight = tokio::spawn({
        let list = raw_sessionless_call(port, &token, "pfsense_list_firewall_aliases", json!({}));
        let answered = answered.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            s.write_all(list.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 4096];
            // The answer, then the server closes the connection (it is shutting down).
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                answered.store(true, Ordering::SeqCst);
                answer.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&answer).to_string()
        }
    });
    until_the_firewall_has_the_list(&emu).await;
    // A request whose headers are not complete when the signal comes (the server reads it as
    // HTTP/1 by then), and a keep-alive connection that has served a request.
    let create = raw_sessionless_call(
        port,
        &token,
        "pfsense_create_firewall_alias",
        json!({"name": "after_sigterm", "type": "host", "address": ["192.0.2.9"], "confirm": true}),
    );
    let (head, rest) = create.split_at(create.find("\r\n\r\n").unwrap());
    let mut late = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    late.write_all(head.as_bytes()).await.unwrap();
    // Another, whose body is cut off: no id can be read from it.
    let cut_body = r#"{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "par"#;
    let mut late_unreadable = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    late_unreadable
        .write_all(
            format!(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nAccept: {JSON_AND_SSE}\r\nContent-Length: {}",
                cut_body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // The server must have read the partial heads before the signal: a connection whose bytes
    // it has not read yet is idle to it, and closed at the signal.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !seen.ends_with(b"\r\n\r\nok") {
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(30), idle.read(&mut buf))
            .await
            .expect("/healthz answers")
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();

    // The idle keep-alive connection is closed at the signal, not after the drain.
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(60), idle.read(&mut buf))
        .await
        .expect("the idle connection is closed");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "{read:?}: {}",
        String::from_utf8_lossy(&buf)
    );
    assert!(
        !answered.load(Ordering::SeqCst),
        "the idle connection stayed open until the call in flight was answered"
    );
    assert!(
        server.stderr_comes_to_contain("shutting down", Duration::from_secs(30)),
        "{}",
        server.stderr()
    );

    // The request, complete after the signal: 503, a JSON-RPC error, the connection closed,
    // nothing done.
    late.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), late.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())
        .unwrap_or_else(|e| panic!("a JSON-RPC error body: {e}: {answer}"));
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shutting down"),
        "{body}"
    );
    // The request's own id (JSON-RPC 2.0: a response carries its request's id, null only
    // when it cannot be read).
    assert_eq!(body["id"], 1, "{body}");
    late_unreadable
        .write_all(format!("\r\n\r\n{cut_body}").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        late_unreadable.read_to_end(&mut answer),
    )
    .await
    .expect("answered and closed")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default())
        .unwrap_or_else(|e| panic!("a JSON-RPC error body: {e}: {answer}"));
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert!(body["id"].is_null(), "{body}");

    // The call in flight gets its answer; the server exits 0.
    let answer = in_flight.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"result\""), "{answer}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit: {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}: {}", server.stderr());
    assert!(
        !emu.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.starts_with("/api/v2/firewall/alias")),
        "a change reached the firewall after SIGTERM: {:?}",
        emu.requests()
    );
}

/// The firewall's aliases list, the read the tests below keep in flight.
const ALIASES_PATH: &str = "/api/v2/firewall/aliases";

/// `--http` (an in-memory journal, no audit log, `extra` besides) against a fresh emulator
/// given `fault`, with a bearer token: the emulator, the server and the token.
async fn server_against_a_faulty_firewall(
    dir: &Path,
    fault: pfsense_emulator::Fault,
    extra: &[&str],
) -> (pfsense_emulator::RunningEmulator, HttpServer, String) {
    let emu = tests::safety::emulator().await;
    emu.add_fault(fault);
    let token = test_token("drain");
    let mut env: Vec<(String, String)> = tests::safety::env_for(&emu);
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
    args.extend_from_slice(extra);
    let server = HttpServer::start(&args, &env, &dir.join("stderr.log"));
    (emu, server, token)
}

/// Wait until the firewall has the aliases list (the emulator logs delayed and held requests
/// on arrival).
async fn until_the_firewall_has_the_list(emu: &pfsense_emulator::RunningEmulator) {
    let mut waited = 0;
    while !emu.requests().iter().any(|r| r.path == ALIASES_PATH) {
        assert!(waited < 600, "the call never reached the firewall");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
}

/// An rmcp session calling the aliases list, in a task that holds the client; the call's
/// result once the firewall has the request.
async fn list_in_flight(
    emu: &pfsense_emulator::RunningEmulator,
    server: &HttpServer,
    token: &str,
) -> tokio::task::JoinHandle<Result<rmcp::model::CallToolResult, rmcp::ServiceError>> {
    let client = connect(&server.mcp_url(), Some(token), tests::http::client())
        .await
        .expect("an MCP session");
    let call = tokio::spawn(async move {
        let r = client
            .peer()
            .call_tool(CallToolRequestParams::new("pfsense_list_firewall_aliases"))
            .await;
        let _ = client.cancel().await;
        r
    });
    until_the_firewall_has_the_list(emu).await;
    call
}

/// The server over HTTP against an emulator that never answers the aliases list, with one
/// call of it in flight (the firewall has the request). The call's task holds its client.
async fn server_with_a_call_that_never_ends(
    dir: &Path,
) -> (
    pfsense_emulator::RunningEmulator,
    HttpServer,
    tokio::task::JoinHandle<Result<rmcp::model::CallToolResult, rmcp::ServiceError>>,
) {
    use pfsense_emulator::{Fault, FaultAction};
    let (emu, server, token) = server_against_a_faulty_firewall(
        dir,
        Fault::new(FaultAction::Hang).on_path(ALIASES_PATH),
        // Longer than the drain: the call ends only when the process does.
        &["--timeout", "600"],
    )
    .await;
    let call = list_in_flight(&emu, &server, &token).await;
    (emu, server, call)
}

/// As over stdio: a second SIGTERM while a request is still in flight exits at once, with
/// status 1 and a note that it went unanswered (before, `--http` waited out the 30 s drain
/// whatever came after the first signal, and then exited 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_with_the_unanswered_request_said() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, mut server, call) = server_with_a_call_that_never_ends(dir.path()).await;
    let started = std::time::Instant::now();
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        server.sigterm();
        assert!(
            server.stderr_comes_to_contain("finishing in-flight requests", Duration::from_secs(10)),
            "the first signal starts the drain: {}",
            server.stderr()
        );
        server.sigterm();
        (server.exit_within(Duration::from_secs(60)), server.stderr())
    })
    .await
    .unwrap();
    let status = status.expect("the server exits");
    assert_eq!(status.code(), Some(1), "{stderr}");
    // Well inside the 30 s the drain would wait.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("a second signal") && stderr.contains("1 request(s) unanswered"),
        "{stderr}"
    );
    call.abort();
    emu.shutdown().await;
}

/// A drain that times out (the request is still unanswered after 30 s) exits 1, as over
/// stdio, saying how many requests went unanswered (before: exit 0, as if all was well).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_times_out_exits_1_saying_what_went_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let (emu, mut server, call) = server_with_a_call_that_never_ends(dir.path()).await;
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        server.sigterm();
        // The drain's 30 s and the connections' 5 s, with room to spare.
        (server.exit_within(Duration::from_secs(90)), server.stderr())
    })
    .await
    .unwrap();
    let status = status.expect("the server exits once the drain times out");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("did not finish in time") && stderr.contains("1 request(s) unanswered"),
        "{stderr}"
    );
    call.abort();
    emu.shutdown().await;
}
