//! Compact mode against the emulator: the daily core plus find / describe / call, `pfsense_call`
//! refusing exactly what a direct call refuses, and lists bounded to a page with the total.

use serde_json::{Value, json};
use tests::mcp::{McpSession, is_error, structured, text};

async fn start(
    state_file: Option<std::path::PathBuf>,
    extra: &[(&str, &str)],
) -> (pfsense_emulator::RunningEmulator, McpSession) {
    let mut config = pfsense_emulator::EmulatorConfig::new(tests::spec_path());
    config.enable_key_auth = true;
    config.state_file = state_file;
    let emu = pfsense_emulator::start(config).await.expect("emulator");
    let key = emu.api_key().expect("api key").to_string();
    let mut env = vec![
        ("PFSENSE_HOST", emu.url().to_string()),
        ("PFSENSE_API_KEY", key),
        ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint().to_string()),
    ];
    for (k, v) in extra {
        env.push((k, v.to_string()));
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let session = McpSession::spawn(&tests::binary::pfsense_mcp(), &[], &env_refs)
        .await
        .expect("start pfsense-mcp");
    (emu, session)
}

#[tokio::test(flavor = "multi_thread")]
async fn compact_mode_lists_the_core_and_reaches_every_tool() {
    let (emu, s) = start(None, &[]).await;
    let tools = s.list_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert!(
        (20..=40).contains(&names.len()),
        "{} tools: {names:?}",
        names.len()
    );
    for n in [
        "pfsense_find_tools",
        "pfsense_describe_tool",
        "pfsense_call",
        "pfsense_create_firewall_rule",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"pfsense_create_services_dhcp_server_static_mapping"));
    let instructions = s
        .client
        .peer_info()
        .unwrap()
        .instructions
        .clone()
        .unwrap_or_default();
    assert!(
        instructions.contains("pfsense_find_tools"),
        "{instructions}"
    );

    // Find → describe → call.
    let r = s
        .call(
            "pfsense_find_tools",
            json!({"query": "add a static DHCP lease"}),
        )
        .await
        .unwrap();
    let found: Vec<String> = structured(&r)["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        found
            .iter()
            .take(3)
            .any(|n| n == "pfsense_create_services_dhcp_server_static_mapping"),
        "{found:?}"
    );
    let r = s
        .call(
            "pfsense_describe_tool",
            json!({"name": "pfsense_create_services_dhcp_server_static_mapping"}),
        )
        .await
        .unwrap();
    let schema = &structured(&r)["input_schema"];
    assert_eq!(schema["required"], json!(["parent_id", "mac"]));
    assert!(
        schema["properties"]["mac"]["description"]
            .as_str()
            .unwrap()
            .contains("MAC")
    );

    let before = emu.requests().len();
    let r = s
        .call(
            "pfsense_call",
            json!({"name": "pfsense_create_services_dhcp_server_static_mapping",
                   "arguments": {"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": "192.168.1.60"}}),
        )
        .await
        .unwrap();
    assert_eq!(structured(&r)["preview"], true, "{}", text(&r));
    // Only the REST API version is read (to decide whether pfrest's dry run can be asked for:
    // not on v2.7.1): nothing is written.
    let sent = emu.requests();
    assert!(
        sent[before..]
            .iter()
            .all(|q| q.method == "GET" && q.path == "/api/v2/system/restapi/version"),
        "a preview through pfsense_call writes nothing either: {:?}",
        sent[before..]
            .iter()
            .map(|q| format!("{} {}", q.method, q.path))
            .collect::<Vec<_>>()
    );
    let r = s
        .call(
            "pfsense_call",
            json!({"name": "pfsense_create_services_dhcp_server_static_mapping",
                   "arguments": {"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": "192.168.1.60", "confirm": true}}),
        )
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(structured(&r)["data"]["mac"], "00:11:22:33:44:55");
    assert_eq!(
        structured(&r)["pending_apply"]["tool"],
        "pfsense_services_dhcp_server_apply"
    );
    s.close().await;
}

/// The text and error flag of a call, for comparing a direct call with the same call through
/// `pfsense_call`.
async fn outcome(s: &McpSession, tool: &str, args: Value, via_call: bool) -> (bool, String) {
    let r = if via_call {
        s.call("pfsense_call", json!({"name": tool, "arguments": args}))
            .await
            .unwrap()
    } else {
        s.call(tool, args).await.unwrap()
    };
    (is_error(&r), text(&r))
}

#[tokio::test(flavor = "multi_thread")]
async fn pfsense_call_refuses_exactly_what_a_direct_call_refuses() {
    let cases: Vec<(&str, Value)> = vec![
        // Wrong type, unknown field, missing required field, bad enum.
        ("pfsense_get_firewall_alias", json!({"id": "seven"})),
        ("pfsense_list_firewall_aliases", json!({"limt": 5})),
        (
            "pfsense_create_firewall_alias",
            json!({"type": "host", "confirm": true}),
        ),
        (
            "pfsense_create_firewall_alias",
            json!({"name": "a", "type": "hosts", "confirm": true}),
        ),
        // Dangerous without --allow-dangerous: the tool, or the arguments (an ACME action
        // that runs a shell command).
        ("pfsense_post_diagnostics_reboot", json!({"confirm": true})),
        (
            "pfsense_create_services_acme_certificate",
            json!({"name": "c", "acmeaccount": "a", "confirm": true,
                "a_domainlist": [{"status": "enable", "name": "fw.example.com", "method": "standalone"}],
                "a_actionlist": [{"status": "active", "command": "id", "method": "shellcommand"}]}),
        ),
        // An API error: no alias with that id.
        ("pfsense_get_firewall_alias", json!({"id": 4242})),
    ];
    let (emu, s) = start(None, &[]).await;
    for (tool, args) in &cases {
        let direct = outcome(&s, tool, args.clone(), false).await;
        let via = outcome(&s, tool, args.clone(), true).await;
        assert!(
            direct.0,
            "{tool} {args}: the direct call should be refused: {}",
            direct.1
        );
        assert_eq!(direct, via, "{tool} {args}");
    }
    // `confirm` beside `name` instead of inside `arguments`: refused, saying where it goes
    // (it was ignored, and the call only previewed).
    emu.clear_requests();
    let r = s
        .call(
            "pfsense_call",
            json!({"name": "pfsense_create_firewall_alias", "confirm": true,
                "arguments": {"name": "outside", "type": "host", "address": ["192.0.2.7"]}}),
        )
        .await
        .unwrap();
    let shown = tests::mcp::text(&r);
    assert!(r.is_error == Some(true), "{shown}");
    assert!(
        shown.contains("`confirm` belongs inside `arguments`"),
        "{shown}"
    );
    assert!(
        emu.requests().iter().all(|q| q.method == "GET"),
        "{:?}",
        emu.requests()
    );
    // An unknown name is shown escaped: it is the caller's text, not ours.
    let r = s
        .call("pfsense_call", json!({"name": "pfsense_\u{1b}[2J_nope"}))
        .await
        .unwrap();
    let shown = format!(
        "{} {}",
        tests::mcp::text(&r),
        tests::mcp::structured(&r)["error"]["message"]
            .as_str()
            .unwrap_or_default()
    );
    assert!(r.is_error == Some(true), "{shown}");
    assert!(
        !shown.contains('\u{1b}') && shown.contains("no generated tool `pfsense_\\u{1b}[2J_nope`"),
        "{shown:?}"
    );
    s.close().await;
    drop(emu);

    // Read-only mode refuses changes the same way too.
    let (emu, s) = start(None, &[("PFSENSE_READ_ONLY", "true")]).await;
    let args = json!({"name": "x", "type": "host", "confirm": true});
    let direct = outcome(&s, "pfsense_create_firewall_alias", args.clone(), false).await;
    let via = outcome(&s, "pfsense_create_firewall_alias", args, true).await;
    assert!(direct.0 && direct.1.contains("read-only"), "{}", direct.1);
    assert_eq!(direct, via);
    let tools = s.list_tools().await.unwrap();
    assert!(tools.iter().all(|t| {
        t.annotations
            .as_ref()
            .is_some_and(|a| a.read_only_hint == Some(true))
            || t.name == "pfsense_call"
    }));
    s.close().await;
    drop(emu);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_of_5000_objects_returns_a_bounded_page_with_the_total() {
    let aliases: Vec<Value> = (0..5000)
        .map(|i| json!({"name": format!("bulk_{i}"), "type": "host", "address": [format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)]}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        json!({"collections": {"FirewallAlias": aliases}}).to_string(),
    )
    .unwrap();
    let (_emu, s) = start(Some(state), &[]).await;

    let r = s
        .call("pfsense_list_firewall_aliases", json!({}))
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    let v = structured(&r);
    assert_eq!(v["data"].as_array().unwrap().len(), 50);
    assert_eq!(v["paging"]["total"], 5000);
    assert_eq!(v["paging"]["next_offset"], 50);
    assert!(
        text(&r).contains("offset=50"),
        "paging instructions: {}",
        text(&r)
    );
    assert!(
        text(&r).len() < 20_000 * 4,
        "bounded: {} chars",
        text(&r).len()
    );

    // The next page, with only some fields.
    let r = s
        .call(
            "pfsense_list_firewall_aliases",
            json!({"offset": 50, "fields": ["name"]}),
        )
        .await
        .unwrap();
    let v = structured(&r);
    assert_eq!(v["data"][0], json!({"id": 50, "name": "bulk_50"}));
    assert_eq!(v["paging"]["offset"], 50);
    assert!(v.get("fields_not_found").is_none(), "{v}");
    // A misspelt field name is said, not silently dropped.
    let r = s
        .call(
            "pfsense_list_firewall_aliases",
            json!({"limit": 2, "fields": ["name", "adress"]}),
        )
        .await
        .unwrap();
    let v = structured(&r);
    assert_eq!(v["fields_not_found"], json!(["adress"]), "{v}");
    assert!(
        text(&r).contains("No object has the field `adress`"),
        "{}",
        text(&r)
    );
    s.close().await;
}
