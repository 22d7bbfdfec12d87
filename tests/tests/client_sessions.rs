//! A create → preview → confirm → apply → undo session through two real MCP clients that are
//! not ours, over stdio and streamable HTTP:
//! - the official TypeScript SDK client (tests/clients/ts-session.mjs checks every step and
//!   answers the server's elicitation form as a person approving it would), on both protocol
//!   revisions: the v1 SDK with 2025-11-25, the v2 client with 2026-07-28;
//! - the MCP Inspector CLI, one call per process. Over stdio every call starts a new server, so
//!   the firewall is an emulator started here and the journal (which undo reads) is a file;
//!   over HTTP one server with `--sandbox` serves every call.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tests::http::{HttpServer, test_token};
use tests::node;

fn ts_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/ts-session.mjs")
}

/// The TypeScript SDK line and the protocol revision it speaks (tests/clients/ts-session.mjs).
#[derive(Clone, Copy)]
enum Sdk {
    /// `@modelcontextprotocol/sdk` 1.x: initialize with 2025-11-25.
    V1,
    /// `@modelcontextprotocol/client` 2.x pinned to 2026-07-28 (stateless, no initialize).
    V2,
}

impl Sdk {
    fn name(self) -> &'static str {
        match self {
            Sdk::V1 => "v1",
            Sdk::V2 => "v2",
        }
    }
    fn revision(self) -> &'static str {
        match self {
            Sdk::V1 => "2025-11-25",
            Sdk::V2 => "2026-07-28",
        }
    }
    /// Confirmation forms the person at the client is shown in the session: one, for the
    /// undo (a delete: destructive), on both revisions: an `elicitation/create` request on
    /// 2025-11-25, an input-required result that the v2 client fulfils and retries on
    /// 2026-07-28.
    fn forms_shown(self) -> usize {
        match self {
            Sdk::V1 | Sdk::V2 => 1,
        }
    }
}

fn ts_command(tools: &Path, sdk: Sdk) -> Command {
    let mut cmd = node::node_script(tools, &ts_script());
    cmd.env("TS_SDK", sdk.name());
    cmd
}

/// Runs the TypeScript session and checks its report of every step.
fn ts_session(cmd: &mut Command, sdk: Sdk, what: &str) {
    let out = cmd.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "TypeScript SDK {} session over {what} failed:\n{stdout}\n{stderr}",
        sdk.name()
    );
    for step in ["connect", "preview", "confirm", "apply", "undo"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok {step}: "))),
            "step {step} not reported:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("5 steps passed")
            && stdout.contains(&format!("protocol {}", sdk.revision())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("elicitation forms shown: {}\n", sdk.forms_shown())),
        "{stdout}"
    );
}

/// Audit log and journal in `dir`, never in the user's home.
fn state_args(dir: &Path) -> Vec<String> {
    vec![
        "--audit-log".into(),
        dir.join("audit.jsonl").display().to_string(),
        "--journal".into(),
        dir.join("journal.sqlite").display().to_string(),
    ]
}

fn typescript_session_over_stdio(sdk: Sdk) {
    let tools = node::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = ts_command(&tools, sdk);
    cmd.arg("stdio")
        .arg(tests::binary::pfsense_mcp())
        .arg("--sandbox")
        .args(state_args(dir.path()));
    ts_session(&mut cmd, sdk, "stdio");
}

fn typescript_session_over_http(sdk: Sdk) {
    let tools = node::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let token = test_token("ts-sdk");
    let mut args = vec!["--sandbox", "--http", "127.0.0.1:0"];
    let state = state_args(dir.path());
    args.extend(state.iter().map(String::as_str));
    let server = HttpServer::start(
        &args,
        &[("PFSENSE_HTTP_TOKEN", &token)],
        &dir.path().join("stderr.log"),
    );
    let mut cmd = ts_command(&tools, sdk);
    cmd.arg("http")
        .arg(server.mcp_url())
        .env("MCP_BEARER_TOKEN", &token);
    ts_session(&mut cmd, sdk, "HTTP");

    // With a wrong token the same client is turned away before any tool runs.
    let mut cmd = ts_command(&tools, sdk);
    cmd.arg("http")
        .arg(server.mcp_url())
        .env("MCP_BEARER_TOKEN", test_token("mallory"));
    let out = cmd.output().expect("run node");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("step 'connect' failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn typescript_sdk_session_over_stdio() {
    if !node::skipped("typescript_sdk_session_over_stdio") {
        typescript_session_over_stdio(Sdk::V1);
    }
}

#[test]
fn typescript_sdk_session_over_http() {
    if !node::skipped("typescript_sdk_session_over_http") {
        typescript_session_over_http(Sdk::V1);
    }
}

#[test]
fn typescript_sdk_v2_session_on_2026_07_28_over_stdio() {
    if !node::skipped("typescript_sdk_v2_session_on_2026_07_28_over_stdio") {
        typescript_session_over_stdio(Sdk::V2);
    }
}

#[test]
fn typescript_sdk_v2_session_on_2026_07_28_over_http() {
    if !node::skipped("typescript_sdk_v2_session_on_2026_07_28_over_http") {
        typescript_session_over_http(Sdk::V2);
    }
}

/// One Inspector CLI call (`--method tools/call`): the result JSON. `target` is what comes
/// after `--cli`: a command with its arguments and `-e` variables, or a URL with its flags.
async fn inspector_call(tools: &Path, target: &[String], tool: &str, args: &[&str]) -> Value {
    let mut cmd = tokio::process::Command::from(node::npm_bin(tools, "mcp-inspector"));
    cmd.arg("--cli")
        .args(target)
        .args(["--method", "tools/call", "--tool-name", tool]);
    for a in args {
        cmd.args(["--tool-arg", a]);
    }
    let out = cmd.output().await.expect("run the Inspector CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Inspector CLI {tool} {args:?} failed ({:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(&stdout).expect("the Inspector CLI prints JSON");
    assert_ne!(result["isError"], true, "{tool} {args:?}: {result}");
    result
}

async fn alias_names(tools: &Path, target: &[String]) -> Vec<String> {
    let listed = inspector_call(tools, target, "pfsense_list_firewall_aliases", &[]).await;
    listed["structuredContent"]["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list of aliases: {listed}"))
        .iter()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect()
}

/// create → preview → confirm → apply → undo, one Inspector CLI process per call.
async fn inspector_session(tools: &Path, target: &[String], alias: &str) {
    let name = format!("name={alias}");
    let create = [
        name.as_str(),
        "type=host",
        "descr=Inspector CLI session",
        r#"address=["192.0.2.20"]"#,
    ];
    assert!(
        !alias_names(tools, target)
            .await
            .contains(&alias.to_string())
    );

    let preview = inspector_call(tools, target, "pfsense_create_firewall_alias", &create).await;
    let p = &preview["structuredContent"];
    assert_eq!(p["preview"], true, "{preview}");
    assert_eq!(p["diff"]["name"], alias, "{preview}");
    assert!(
        preview["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Preview only, nothing was changed")),
        "{preview}"
    );
    assert!(
        !alias_names(tools, target)
            .await
            .contains(&alias.to_string()),
        "the preview created nothing"
    );

    let mut confirmed = create.to_vec();
    confirmed.push("confirm=true");
    let created = inspector_call(tools, target, "pfsense_create_firewall_alias", &confirmed).await;
    let c = &created["structuredContent"];
    assert_eq!(c["data"]["name"], alias, "{created}");
    assert_eq!(
        c["pending_apply"]["tool"], "pfsense_firewall_apply",
        "{created}"
    );
    assert!(c["change_id"].is_u64(), "{created}");
    assert!(
        alias_names(tools, target)
            .await
            .contains(&alias.to_string())
    );

    let apply_preview = inspector_call(tools, target, "pfsense_firewall_apply", &[]).await;
    assert_eq!(
        apply_preview["structuredContent"]["preview"], true,
        "{apply_preview}"
    );
    let applied = inspector_call(tools, target, "pfsense_firewall_apply", &["confirm=true"]).await;
    assert_eq!(
        applied["structuredContent"]["data"]["applied"], true,
        "{applied}"
    );

    let undo_preview = inspector_call(tools, target, "pfsense_undo", &["last=1"]).await;
    assert_eq!(
        undo_preview["structuredContent"]["preview"], true,
        "{undo_preview}"
    );
    assert!(
        alias_names(tools, target)
            .await
            .contains(&alias.to_string())
    );
    // The Inspector CLI declares no elicitation: under the default `--confirm elicit` the
    // model's `confirm: true` is the confirmation.
    let undone = inspector_call(tools, target, "pfsense_undo", &["last=1", "confirm=true"]).await;
    let done = &undone["structuredContent"]["undone"][0];
    assert_eq!(done["change_id"], c["change_id"], "{undone}");
    assert!(
        done["done"][0]
            .as_str()
            .is_some_and(|d| d.starts_with("delete the FirewallAlias") && d.contains(alias)),
        "{undone}"
    );
    assert!(
        !alias_names(tools, target)
            .await
            .contains(&alias.to_string()),
        "undo removed the alias"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_cli_session_over_stdio() {
    if node::skipped("inspector_cli_session_over_stdio") {
        return;
    }
    let tools = node::ensure_installed();
    let emu = tests::safety::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    // Every call is a new server process: they share the emulator and the journal file.
    let mut target = vec![tests::binary::pfsense_mcp().display().to_string()];
    target.extend(state_args(dir.path()));
    for (k, v) in tests::safety::env_for(&emu) {
        target.extend(["-e".to_string(), format!("{k}={v}")]);
    }
    inspector_session(&tools, &target, "inspector_stdio").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspector_cli_session_over_http() {
    if node::skipped("inspector_cli_session_over_http") {
        return;
    }
    let tools = node::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    let token = test_token("inspector");
    let mut args = vec!["--sandbox", "--http", "127.0.0.1:0"];
    let state = state_args(dir.path());
    args.extend(state.iter().map(String::as_str));
    let server = HttpServer::start(
        &args,
        &[("PFSENSE_HTTP_TOKEN", &token)],
        &dir.path().join("stderr.log"),
    );
    let target = vec![
        server.mcp_url(),
        "--transport".into(),
        "http".into(),
        "--header".into(),
        format!("Authorization: Bearer {token}"),
    ];
    inspector_session(&tools, &target, "inspector_http").await;
}
