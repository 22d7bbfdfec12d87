//! Issue 13 on stdio, against the real binary: input that is not JSON gets JSON-RPC errors
//! instead of silence, and control and bidirectional characters reach neither previews nor
//! approval prompts unescaped.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use tests::safety::{Human, HumanAnswer, Session, emulator, env_for};

#[test]
fn stdin_that_is_not_json_rpc_gets_json_rpc_errors() {
    let mut child = Command::new(tests::binary::pfsense_mcp())
        .arg("--sandbox")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pfsense-mcp");
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "garbage-test", "version": "0"}}
    });
    let bad_arguments = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
        "params": {"name": "pfsense_list_firewall_aliases", "arguments": [1]}});
    let no_name =
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"arguments": {}}});
    let no_method = json!({"jsonrpc": "2.0", "id": 10, "method": "tools/cal", "params": {}});
    let bad_level = json!({"jsonrpc": "2.0", "id": 11, "method": "logging/setLevel", "params": {"level": "loud"}});
    let mut stdin = child.stdin.take().unwrap();
    let input = format!(
        "this is not json\n{deep}\n{init}\n{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}}\n\0\u{1}\u{2}\n42\n{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":{{}}}}\n{bad_arguments}\n{no_name}\n{no_method}\n{bad_level}\n{{\"unfinished\": \n"
    );
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let answers: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).unwrap_or_else(|e| panic!("stdout is JSON: {e}: {l}")))
        .collect();
    let _ = child.wait();
    let parse_errors: Vec<&Value> = answers
        .iter()
        .filter(|a| a["error"]["code"] == -32700)
        .collect();
    // garbage, over-deep, NUL and control bytes, the cut-off last line.
    assert_eq!(parse_errors.len(), 4, "{answers:#?}");
    assert!(parse_errors.iter().all(|e| e["id"].is_null()));
    assert!(
        parse_errors.iter().any(|e| e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("recursion limit")),
        "{parse_errors:#?}"
    );
    // `42` is JSON but no JSON-RPC message: invalid request.
    assert!(
        answers.iter().any(|a| a["error"]["code"] == -32600),
        "{answers:#?}"
    );
    // The well-formed messages around them were answered as usual.
    assert!(
        answers
            .iter()
            .any(|a| a["id"] == 1 && a["result"].is_object())
    );
    assert!(
        answers
            .iter()
            .any(|a| a["id"] == 7 && a["result"]["tools"].is_array()),
        "{answers:#?}"
    );
    // A method the server has, with params that do not fit: invalid params saying what does
    // not fit (rmcp alone answered "method not found"); an unknown method: method not found.
    let error = |id: i64| {
        let a = answers.iter().find(|a| a["id"] == id).expect("answered");
        (
            a["error"]["code"].clone(),
            a["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (code, message) = error(8);
    assert_eq!(code, -32602, "{message}");
    assert!(
        message.contains("`arguments` is an array, not an object"),
        "{message}"
    );
    let (code, message) = error(9);
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("`name` is missing"), "{message}");
    let (code, message) = error(10);
    assert_eq!(code, -32601, "{message}");
    assert!(message.contains("`tools/cal`"), "{message}");
    let (code, message) = error(11);
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("`level` must be one of"), "{message}");
}

const SNEAKY: &str = "allow\u{202e}ynedx\u{0}\u{1b}[2J";

fn text_of(r: &rmcp::model::CallToolResult) -> String {
    tests::mcp::text(r)
}

fn assert_escaped(shown: &str) {
    for c in ['\u{202e}', '\u{0}', '\u{1b}'] {
        assert!(!shown.contains(c), "raw {c:?} shown: {shown:?}");
    }
    assert!(shown.contains("\\u{202e}"), "{shown:?}");
}

#[tokio::test]
async fn previews_and_approval_prompts_show_control_and_bidi_characters_escaped() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let human = Human::new(true, HumanAnswer::Accept);
    let audit = dir.path().join("audit.jsonl").display().to_string();
    let journal = dir.path().join("journal.sqlite").display().to_string();
    let s = Session::start(
        &["--audit-log", &audit, "--journal", &journal],
        &env_for(&emu),
        human.clone(),
        None,
    )
    .await;
    let args = json!({"name": "sneaky", "type": "host", "address": ["192.0.2.1"], "descr": SNEAKY});
    let preview = s.call("pfsense_create_firewall_alias", args.clone()).await;
    assert_escaped(&text_of(&preview));
    let mut confirmed = args;
    confirmed["confirm"] = json!(true);
    let made = s.ok("pfsense_create_firewall_alias", confirmed).await;
    // The data itself keeps its characters: it is what the firewall holds.
    assert_eq!(made["data"]["descr"], SNEAKY);
    let id = made["data"]["id"].clone();
    let deleted = s
        .call(
            "pfsense_delete_firewall_alias",
            json!({"id": id, "confirm": true}),
        )
        .await;
    assert!(!deleted.is_error.unwrap_or(false), "{}", text_of(&deleted));
    let asked = human.asked();
    assert!(!asked.is_empty(), "deleting asks the human");
    for prompt in &asked {
        assert_escaped(prompt);
    }
    s.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_journal_and_audit_log_are_private_and_old_wide_modes_are_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let emu = emulator().await;
    let home = tempfile::tempdir().unwrap();
    // The default state directory under XDG_STATE_HOME, created by the binary.
    let state = home.path().join("state/pfsense-mcp");
    let mut env = env_for(&emu);
    env.push((
        "XDG_STATE_HOME".into(),
        home.path().join("state").display().to_string(),
    ));
    let s = Session::start(&[], &env, Human::new(false, HumanAnswer::Accept), None).await;
    s.ok(
        "pfsense_create_firewall_alias",
        json!({"name": "modes", "type": "host", "address": ["192.0.2.1"], "confirm": true}),
    )
    .await;
    s.close().await;
    let files: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() >= 2, "{files:?}");
    // Files 0600; directories (the journal's owner files, `journal.sqlite.owners`) 0700.
    let private = |p: &std::path::Path| if p.is_dir() { 0o700 } else { 0o600 };
    assert_eq!(mode(&state), 0o700);
    for f in &files {
        assert_eq!(mode(f), private(f), "{}", f.display());
    }
    // Files and the directory left wide by an older version are narrowed at the next start.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let files: Vec<_> = files.into_iter().filter(|f| f.is_file()).collect();
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let stderr = home.path().join("stderr.log");
    let s = Session::start(
        &[],
        &env,
        Human::new(false, HumanAnswer::Accept),
        Some(&stderr),
    )
    .await;
    s.ok("pfsense_list_firewall_aliases", json!({})).await;
    s.close().await;
    assert_eq!(mode(&state), 0o700);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(log.contains("narrowed its permissions"), "{log}");
}
