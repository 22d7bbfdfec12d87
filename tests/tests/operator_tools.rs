//! The operator tools and the security audit through MCP: the real binary in sandbox mode (the
//! emulator), listed in compact mode and under --read-only, each answering from the emulator's
//! seed (LAN 192.168.1.1/24 with "Default allow LAN to any rule", tracker 100000101; WAN with
//! private networks blocked; no WAN pass rules).

use serde_json::{Value, json};
use tests::mcp::{McpSession, is_error, structured, text};

const OPERATOR_TOOLS: [&str; 6] = [
    "pfsense_firewall_log",
    "pfsense_explain_traffic",
    "pfsense_block_addresses",
    "pfsense_diagnose",
    "pfsense_health_report",
    "pfsense_security_audit",
];

async fn sandbox(extra: &[&str]) -> McpSession {
    let mut args = vec!["--sandbox"];
    args.extend(extra);
    McpSession::spawn(&tests::binary::pfsense_mcp(), &args, &[])
        .await
        .expect("start the sandbox server")
}

async fn call(s: &McpSession, name: &str, args: Value) -> (String, Value) {
    let r = s.call(name, args.clone()).await.expect("tools/call");
    assert!(!is_error(&r), "{name} {args}: {}", text(&r));
    (text(&r), structured(&r))
}

#[tokio::test]
async fn listed_in_compact_mode_and_read_only() {
    for extra in [&[][..], &["--read-only"][..]] {
        let s = sandbox(extra).await;
        let listed: Vec<String> = s
            .list_tools()
            .await
            .unwrap()
            .iter()
            .map(|t| t.name.to_string())
            .collect();
        for name in OPERATOR_TOOLS {
            assert!(
                listed.contains(&name.to_string()),
                "{extra:?}: {name} not listed"
            );
        }
        s.close().await;
    }
}

#[tokio::test]
async fn explain_traffic_names_the_deciding_rule() {
    let s = sandbox(&[]).await;
    // LAN client to the Internet: the default LAN pass rule decides.
    let (md, data) = call(
        &s,
        "pfsense_explain_traffic",
        json!({"src": "192.168.1.100", "dst": "1.1.1.1", "protocol": "tcp", "dst_port": 443,
               "interface": "lan", "direction": "in"}),
    )
    .await;
    assert!(md.contains("Default allow LAN to any rule"), "{md}");
    assert!(
        data["explanation"]["decided_by"]
            .to_string()
            .contains("100000101"),
        "{data}"
    );
    // From the Internet to the firewall's WAN: no pass rule on WAN, so pfSense's default deny.
    let (md, data) = call(
        &s,
        "pfsense_explain_traffic",
        json!({"src": "198.51.100.7", "dst": "10.0.2.15", "protocol": "tcp", "dst_port": 22,
               "interface": "wan", "direction": "in"}),
    )
    .await;
    let decided = data["explanation"]["decided_by"].to_string();
    assert!(!decided.contains("100000101"), "{decided}");
    assert!(md.to_lowercase().contains("block"), "{md}");
    // Bad input: a clear error, nothing read.
    let r = s
        .call(
            "pfsense_explain_traffic",
            json!({"src": "192.168.1.100", "dst": "1.1.1.1", "protocol": "tcp",
                   "interface": "nowhere", "direction": "in"}),
        )
        .await
        .unwrap();
    assert!(is_error(&r), "{}", text(&r));
    assert!(text(&r).contains("nowhere"), "{}", text(&r));
    let r = s
        .call("pfsense_explain_traffic", json!({"src": "192.168.1.100"}))
        .await
        .unwrap();
    assert!(
        is_error(&r) && text(&r).contains("do not fit"),
        "{}",
        text(&r)
    );
    s.close().await;
}

#[tokio::test]
async fn block_addresses_plans_calls_of_generated_tools_and_changes_nothing() {
    let s = sandbox(&[]).await;
    let before = call(&s, "pfsense_list_firewall_aliases", json!({})).await.1;
    let (_, data) = call(
        &s,
        "pfsense_block_addresses",
        json!({"addresses": ["203.0.113.9", "198.51.100.0/24"], "interface": "wan",
               "server_source": "192.168.1.50"}),
    )
    .await;
    let steps = data["steps"].as_array().expect("steps");
    assert!(!steps.is_empty(), "{data}");
    let tools: Vec<&str> = steps.iter().filter_map(|s| s["tool"].as_str()).collect();
    assert!(
        tools.contains(&"pfsense_create_firewall_alias"),
        "{tools:?}"
    );
    assert!(tools.contains(&"pfsense_create_firewall_rule"), "{tools:?}");
    // Only a plan: the aliases are as they were.
    let after = call(&s, "pfsense_list_firewall_aliases", json!({})).await.1;
    assert_eq!(before, after);
    s.close().await;
}

#[tokio::test]
async fn log_diagnose_health_and_audit_answer() {
    let s = sandbox(&["--read-only"]).await;
    let (_, log) = call(
        &s,
        "pfsense_firewall_log",
        json!({"action": "block", "top": 5}),
    )
    .await;
    assert!(log["total_lines"].is_number(), "{log}");
    assert!(log["rejected_count"].is_number(), "{log}");
    for area in ["connectivity", "dhcp", "vpn"] {
        let (md, _) = call(&s, "pfsense_diagnose", json!({"area": area})).await;
        assert!(!md.is_empty(), "{area}");
    }
    let r = s
        .call("pfsense_diagnose", json!({"area": "everything"}))
        .await
        .unwrap();
    assert!(is_error(&r), "{}", text(&r));
    let (md, _) = call(&s, "pfsense_health_report", json!({})).await;
    assert!(!md.is_empty());
    let (md, audit) = call(&s, "pfsense_security_audit", json!({})).await;
    assert!(!md.is_empty());
    assert!(audit["counts"]["non_compliant"].is_number(), "{audit}");
    s.close().await;
}
