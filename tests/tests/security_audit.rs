//! `pfsense-mcp --sandbox --read-only security-audit` as a user runs it: the real binary reads
//! the emulator over HTTPS (GETs only) and prints the report.

use serde_json::Value;
use std::process::Command;

fn security_audit(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(tests::binary::pfsense_mcp())
        .env_remove("PFSENSE_HOST")
        .env_remove("PFSENSE_URL")
        .args(["--sandbox", "--read-only", "security-audit"])
        .args(args)
        .output()
        .expect("run pfsense-mcp security-audit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn state<'a>(report: &'a Value, id: &str) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))["state"]
        .as_str()
        .unwrap()
}

#[test]
fn audits_the_emulators_default_state_read_only() {
    let (code, stdout, stderr) = security_audit(&["--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["findings"].as_array().unwrap().len(), 58);
    // Read off the emulator's seed (crates/pfsense-emulator/src/seed.rs) by hand: the REST API
    // access list allows 0.0.0.0/0 and ::/0, allowed_interfaces is empty, the resolver listens
    // on "all" and validates DNSSEC, WAN blocks bogons and private networks, no UPnP runs,
    // REST API v2.7.1 is behind v2.10.0.
    for (id, want) in [
        ("PFS-API-003", "non_compliant"),
        ("PFS-API-002", "non_compliant"),
        ("PFS-DNS-003", "non_compliant"),
        ("PFS-UPD-002", "non_compliant"),
        ("PFS-DNS-002", "compliant"),
        ("PFS-RULE-007", "compliant"),
        ("PFS-RULE-008", "compliant"),
        ("PFS-SVC-001", "compliant"),
        // The seed's two LAN rules (IPv4 and IPv6 allow) share no packet: no anomaly.
        ("PFS-RULE-009", "compliant"),
        ("PFS-RULE-010", "compliant"),
        ("PFS-RULE-011", "compliant"),
        ("PFS-RULE-012", "compliant"),
        // The console is not password protected: the emulator answers pfrest's falsy default
        // (`passwd_protect_console: false`), as a box with the default config does.
        ("PFS-AUTH-007", "non_compliant"),
        // Not tried without --probe-default-password; no API field for DNS rebinding.
        ("PFS-AUTH-001", "unknown"),
        ("PFS-DNS-001", "unknown"),
    ] {
        assert_eq!(state(&report, id), want, "{id}");
    }
}

#[test]
fn the_default_password_probe_finds_admin_pfsense() {
    let (code, stdout, stderr) = security_audit(&["--format", "json", "--probe-default-password"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    // The emulator's admin keeps the install default password.
    assert_eq!(state(&report, "PFS-AUTH-001"), "non_compliant");
    assert!(
        !stderr.contains("pfsense\""),
        "no password in the logs: {stderr}"
    );
}

#[test]
fn writes_an_html_report_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.html");
    let (code, stdout, stderr) =
        security_audit(&["--format", "html", "--output", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "the report goes to the file");
    assert!(stderr.contains("report in"), "{stderr}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg id=\"area-chart\""));
    // It tells where the firewall is weak: for its owner's eyes only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
}

#[test]
fn an_unknown_format_is_refused_with_the_choices() {
    let (code, _, stderr) = security_audit(&["--format", "pdf"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("text"), "{stderr}");
    assert!(stderr.contains("sarif"), "{stderr}");
}

/// The emulator started with a state file whose rules hold one anomaly of each kind, audited
/// read-only over HTTPS by the real binary.
#[tokio::test(flavor = "multi_thread")]
async fn rule_anomalies_in_an_emulator_seeded_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let rule = |typ: &str,
                iface: &str,
                family: &str,
                proto: Value,
                src: &str,
                dst: &str,
                port: Value,
                descr: &str| {
        serde_json::json!({"type": typ, "interface": [iface], "ipprotocol": family,
            "protocol": proto, "source": src, "destination": dst, "destination_port": port,
            "descr": descr, "log": typ == "block", "disabled": false})
    };
    let rules = vec![
        // #0 LAN to anywhere; #1 below it never matches (shadowed); #2 inside #0 and inside #3
        // with nothing between acting otherwise (redundant, 1 rule, 2 pairs); #3 any to any over
        // the block #1 (generalised).
        rule(
            "pass",
            "lan",
            "inet",
            Value::Null,
            "lan",
            "any",
            Value::Null,
            "Default allow LAN",
        ),
        rule(
            "block",
            "lan",
            "inet",
            "tcp".into(),
            "lan",
            "any",
            "25".into(),
            "No SMTP",
        ),
        rule(
            "pass",
            "lan",
            "inet",
            "tcp".into(),
            "lan",
            "any",
            "443".into(),
            "HTTPS",
        ),
        rule(
            "pass",
            "lan",
            "inet46",
            Value::Null,
            "any",
            "any",
            Value::Null,
            "temp: allow all",
        ),
        // #4 the web server from anywhere, #5 the list blocked after it: they overlap in part.
        rule(
            "pass",
            "wan",
            "inet",
            "tcp".into(),
            "any",
            "192.168.1.10",
            "443".into(),
            "Web server",
        ),
        rule(
            "block",
            "wan",
            "inet",
            Value::Null,
            "bt_blocklist",
            "any",
            Value::Null,
            "Known attackers",
        ),
    ];
    std::fs::write(
        &state_file,
        serde_json::json!({"collections": {
            "FirewallRule": rules,
            "FirewallAlias": [{"name": "bt_blocklist", "type": "host", "descr": "",
                "address": ["203.0.113.5", "198.51.100.66"], "detail": ["", ""]}],
        }})
        .to_string(),
    )
    .unwrap();
    let mut config = pfsense_emulator::EmulatorConfig::new(tests::safety::spec_path());
    config.spec = Some(tests::safety::spec());
    config.enable_key_auth = true;
    config.state_file = Some(state_file);
    let emu = pfsense_emulator::start(config)
        .await
        .expect("the emulator starts");
    let out = tokio::process::Command::new(tests::binary::pfsense_mcp())
        .env_remove("PFSENSE_URL")
        .envs(tests::safety::env_for(&emu))
        .args(["--read-only", "security-audit", "--format", "json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (id, starts) in [
        ("PFS-RULE-009", "1 shadowed rule(s)"),
        (
            "PFS-RULE-010",
            "1 redundant rule(s): removing them changes nothing (2 pairs)",
        ),
        (
            "PFS-RULE-011",
            "1 rule(s) partly overlap an earlier rule with another action;",
        ),
        ("PFS-RULE-012", "1 rule(s) generalise"),
    ] {
        let f = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap();
        assert_eq!(f["state"], "non_compliant", "{id}: {}", f["detail"]);
        let detail = f["detail"].as_str().unwrap();
        assert!(detail.starts_with(starts), "{id}: {detail}");
    }
    // The plainer rule checks on the same rules: #3 passes any to any; both blocks log.
    assert_eq!(state(&report, "PFS-RULE-001"), "non_compliant");
    assert_eq!(state(&report, "PFS-RULE-006"), "compliant");
    emu.shutdown().await;
}

/// A report that could decide nothing (a wrong API key: every read answered 401) still goes
/// out, but the exit code says the audit failed, naming the read that failed: cron jobs and
/// CI read it, and "0 non-compliant" there is no clean bill of health.
#[tokio::test(flavor = "multi_thread")]
async fn an_audit_that_could_read_nothing_fails() {
    let mut config = pfsense_emulator::EmulatorConfig::new(tests::safety::spec_path());
    config.spec = Some(tests::safety::spec());
    config.enable_key_auth = true;
    let emu = pfsense_emulator::start(config)
        .await
        .expect("the emulator starts");
    let mut env = tests::safety::env_for(&emu);
    for (k, v) in env.iter_mut() {
        if k == "PFSENSE_API_KEY" {
            *v = "0123456789abcdef0123456789abcdef".into();
        }
    }
    let out = tokio::process::Command::new(tests::binary::pfsense_mcp())
        .env_remove("PFSENSE_URL")
        .envs(env)
        .args(["security-audit", "--format", "json"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("decided none of its") && stderr.contains("401"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["compliant"], 0, "{report}");
}
