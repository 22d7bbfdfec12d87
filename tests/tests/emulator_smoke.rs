//! The seed smoke test through MCP: the real binary, driven by a real MCP client, against a
//! fresh in-process pfsense-emulator reached through its pinned certificate fingerprint.
//! Create an alias, read it back, update it, apply, delete it, and watch later ids shift down.

use serde_json::{Value, json};
use tests::mcp::{McpSession, is_error, structured, text};

/// Call a tool that must succeed and return its `data`.
async fn ok(session: &McpSession, tool: &str, args: Value) -> Value {
    let result = session
        .call(tool, args)
        .await
        .unwrap_or_else(|e| panic!("{tool}: MCP error {e}"));
    assert!(!is_error(&result), "{tool} failed: {}", text(&result));
    let s = structured(&result);
    assert!(
        s.get("preview").is_none(),
        "{tool} answered with a preview: {s}"
    );
    s["data"].clone()
}

fn names(list: &Value) -> Vec<(u64, String)> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|a| {
            (
                a["id"].as_u64().expect("integer id"),
                a["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn alias_lifecycle_through_mcp_against_the_emulator() {
    let emu = pfsense_emulator::start(pfsense_emulator::EmulatorConfig::new(tests::spec_path()))
        .await
        .expect("start the emulator");
    let session = McpSession::spawn(
        &tests::binary::pfsense_mcp(),
        &[],
        &[
            ("PFSENSE_HOST", emu.url()),
            ("PFSENSE_USERNAME", emu.username()),
            ("PFSENSE_PASSWORD", emu.password()),
            ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint()),
        ],
    )
    .await
    .expect("start pfsense-mcp");

    let before = ok(&session, "pfsense_list_firewall_aliases", json!({})).await;
    let first_new = before.as_array().expect("a list").len() as u64;

    // Create three aliases: they take the next ids in order.
    let mut created = Vec::new();
    for (name, addr) in [
        ("smoke_web", "198.51.100.10"),
        ("smoke_db", "198.51.100.20"),
        ("smoke_dns", "198.51.100.30"),
    ] {
        let result = session
            .call(
                "pfsense_create_firewall_alias",
                json!({"name": name, "type": "host", "address": [addr], "descr": "smoke", "confirm": true}),
            )
            .await
            .expect("create over MCP");
        assert!(!is_error(&result), "create {name}: {}", text(&result));
        let s = structured(&result);
        assert_eq!(
            s["pending_apply"]["tool"], "pfsense_firewall_apply",
            "an alias change stays pending until the firewall apply: {s}"
        );
        created.push(s["data"]["id"].as_u64().expect("new id"));
    }
    assert_eq!(created, vec![first_new, first_new + 1, first_new + 2]);

    // Read it back.
    let got = ok(
        &session,
        "pfsense_get_firewall_alias",
        json!({"id": first_new}),
    )
    .await;
    assert_eq!(got["name"], "smoke_web");
    assert_eq!(got["address"], json!(["198.51.100.10"]));

    // Update it: the given fields change, the rest stays.
    let updated = ok(
        &session,
        "pfsense_update_firewall_alias",
        json!({"id": first_new, "address": ["198.51.100.11", "198.51.100.12"], "descr": "smoke, updated", "confirm": true}),
    )
    .await;
    assert_eq!(updated["name"], "smoke_web");
    assert_eq!(
        updated["address"],
        json!(["198.51.100.11", "198.51.100.12"])
    );
    let reread = ok(
        &session,
        "pfsense_get_firewall_alias",
        json!({"id": first_new}),
    )
    .await;
    assert_eq!(reread["descr"], "smoke, updated");

    // Apply: pending before, applied after.
    let status = ok(&session, "pfsense_get_firewall_apply_status", json!({})).await;
    assert_eq!(
        status["applied"], false,
        "alias changes are pending: {status}"
    );
    ok(&session, "pfsense_firewall_apply", json!({"confirm": true})).await;
    let status = ok(&session, "pfsense_get_firewall_apply_status", json!({})).await;
    assert_eq!(
        status["applied"], true,
        "nothing pending after apply: {status}"
    );

    // Delete the first: it comes back in the answer, and the later aliases move down by one.
    let deleted = ok(
        &session,
        "pfsense_delete_firewall_alias",
        json!({"id": first_new, "confirm": true}),
    )
    .await;
    assert_eq!(deleted["name"], "smoke_web");
    let after = ok(&session, "pfsense_list_firewall_aliases", json!({})).await;
    let ours: Vec<(u64, String)> = names(&after)
        .into_iter()
        .filter(|(_, n)| n.starts_with("smoke_"))
        .collect();
    assert_eq!(
        ours,
        vec![
            (first_new, "smoke_db".to_string()),
            (first_new + 1, "smoke_dns".to_string()),
        ],
        "ids are positions: the aliases after the deleted one shift down"
    );
    let shifted = ok(
        &session,
        "pfsense_get_firewall_alias",
        json!({"id": first_new}),
    )
    .await;
    assert_eq!(shifted["name"], "smoke_db");

    // The old last id is gone.
    let gone = session
        .call("pfsense_get_firewall_alias", json!({"id": first_new + 2}))
        .await
        .expect("MCP call");
    assert!(is_error(&gone));
    assert_eq!(
        structured(&gone)["error"]["response_id"],
        "MODEL_OBJECT_NOT_FOUND"
    );

    session.close().await;
    emu.shutdown().await;
}
