//! `pfsense-mcp --sandbox`: a new user lists and creates aliases with no firewall at all.

use serde_json::json;
use std::io::Read;
use std::process::{Command, Stdio};
use tests::mcp::{McpSession, is_error, structured, text};

#[tokio::test]
async fn sandbox_lists_and_creates_aliases() {
    let s = McpSession::spawn(&tests::binary::pfsense_mcp(), &["--sandbox"], &[])
        .await
        .expect("start the sandbox");
    let info = s.client.peer_info().expect("server info");
    let instructions = info.instructions.clone().unwrap_or_default();
    assert!(instructions.contains("SANDBOX MODE"), "{instructions}");
    assert!(instructions.contains("no real firewall"), "{instructions}");

    let r = s
        .call("pfsense_list_firewall_aliases", json!({}))
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    let before = structured(&r)["data"].as_array().map(Vec::len).unwrap_or(0);

    let args = json!({"name": "sandbox_test", "type": "host", "address": ["192.0.2.10"]});
    let preview = s
        .call("pfsense_create_firewall_alias", args.clone())
        .await
        .unwrap();
    assert_eq!(structured(&preview)["preview"], true);
    assert!(
        structured(&preview)["request"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:"),
        "the sandbox listens on loopback"
    );

    let mut confirmed = args;
    confirmed["confirm"] = json!(true);
    let r = s
        .call("pfsense_create_firewall_alias", confirmed)
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(structured(&r)["data"]["name"], "sandbox_test");
    assert_eq!(
        structured(&r)["pending_apply"]["tool"],
        "pfsense_firewall_apply"
    );

    let r = s
        .call("pfsense_list_firewall_aliases", json!({}))
        .await
        .unwrap();
    let aliases = structured(&r)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(aliases.len(), before + 1);
    assert!(aliases.iter().any(|a| a["name"] == "sandbox_test"));
    s.close().await;
}

#[test]
fn sandbox_says_on_stderr_that_no_firewall_is_involved() {
    let mut child = Command::new(tests::binary::pfsense_mcp())
        .arg("--sandbox")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdin is closed: the server ends after printing its banner.
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    assert!(
        err.contains("SANDBOX MODE: no real firewall is involved"),
        "{err}"
    );
}
