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
}

#[test]
fn an_unknown_format_is_refused_with_the_choices() {
    let (code, _, stderr) = security_audit(&["--format", "pdf"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("text"), "{stderr}");
    assert!(stderr.contains("sarif"), "{stderr}");
}
