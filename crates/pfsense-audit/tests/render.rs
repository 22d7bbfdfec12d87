//! Golden files of every renderer for a fresh-install-like configuration (checked by hand when
//! written; `PFSENSE_AUDIT_BLESS=1 cargo test -p pfsense-audit --test render` rewrites them after
//! a deliberate change, and the diff is reviewed), plus structural checks of JSON and SARIF.

use pfsense_audit::render::{Format, render};
use pfsense_audit::{CHECKS, Report, Snapshot, State, run};
use serde_json::Value;
use std::path::PathBuf;

fn report() -> Report {
    let s: Snapshot =
        serde_json::from_str(include_str!("fixtures/fresh-install.json")).expect("fixture");
    run(&s, "https://192.168.1.1")
}

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("PFSENSE_AUDIT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless to create)", path.display()));
    assert!(
        expected == actual,
        "{} differs from the renderer's output; review and bless",
        path.display()
    );
}

#[test]
fn text_report() {
    golden("fresh-install.txt", &render(&report(), Format::Text));
}

#[test]
fn markdown_report() {
    golden("fresh-install.md", &render(&report(), Format::Markdown));
}

#[test]
fn html_report() {
    golden("fresh-install.html", &render(&report(), Format::Html));
}

#[test]
fn sarif_report() {
    golden("fresh-install.sarif", &render(&report(), Format::Sarif));
}

#[test]
fn the_fresh_install_fails_what_a_fresh_install_gets_wrong() {
    let r = report();
    let failed: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.state == State::NonCompliant)
        .map(|f| f.id)
        .collect();
    // Read off the fixture by hand: default password, admin enabled with shell, console open,
    // WAN rule to the webGUI, self-signed certificate (HTTPS, so PFS-MGMT-001 passes), SSH passwords, BasicAuth on every
    // interface from anywhere, RDP forwarded, rules without description, a disabled rule, an
    // unused alias, a silent block rule, no remote syslog, the resolver and ntpd on all
    // interfaces, DNS override, REST API v2.7.1, UPnP, no e-mail; the LAN's "No direct SMTP"
    // block (#4) sits below "Default allow LAN to any" (#2): shadowed.
    assert_eq!(
        failed,
        [
            "PFS-AUTH-001",
            "PFS-AUTH-002",
            "PFS-AUTH-007",
            "PFS-MGMT-002",
            "PFS-MGMT-004",
            "PFS-MGMT-006",
            "PFS-API-001",
            "PFS-API-002",
            "PFS-API-003",
            "PFS-API-006",
            "PFS-API-007",
            "PFS-RULE-003",
            "PFS-RULE-004",
            "PFS-RULE-006",
            "PFS-RULE-009",
            "PFS-NAT-002",
            "PFS-ALIAS-001",
            "PFS-LOG-002",
            "PFS-DNS-003",
            "PFS-DNS-004",
            "PFS-NTP-002",
            "PFS-UPD-002",
            "PFS-SVC-001",
            "PFS-SVC-002",
        ]
    );
    let unknown: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.state == State::Unknown)
        .map(|f| f.id)
        .collect();
    assert!(
        unknown.contains(&"PFS-BAK-001"),
        "the 500 makes history unknown"
    );
}

#[test]
fn json_carries_every_finding_with_its_references() {
    let r = report();
    let v: Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), CHECKS.len());
    let f = findings.iter().find(|f| f["id"] == "PFS-LOG-002").unwrap();
    assert_eq!(f["state"], "non_compliant");
    assert_eq!(f["severity"], "medium");
    assert_eq!(f["area"], "logging");
    assert!(
        f["references"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "V-206699" && r["standard"] == "DISA Firewall SRG V3R3")
    );
    assert_eq!(f["fix"]["tool"], "pfsense_update_status_logs_settings");
    assert_eq!(
        v["counts"]["non_compliant"].as_u64().unwrap() as usize,
        r.counts.non_compliant
    );
}

#[test]
fn sarif_is_2_1_0_with_a_rule_per_check() {
    let r = report();
    let v: Value = serde_json::from_str(&render(&r, Format::Sarif)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), CHECKS.len());
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), CHECKS.len());
    for res in results {
        let idx = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], res["ruleId"]);
        match res["kind"].as_str().unwrap() {
            "fail" => assert_ne!(res["level"], "none"),
            "pass" | "review" => assert_eq!(res["level"], "none"),
            other => panic!("kind {other}"),
        }
    }
    let default_pw = results
        .iter()
        .find(|r| r["ruleId"] == "PFS-AUTH-001")
        .unwrap();
    assert_eq!(default_pw["level"], "error");
}

#[test]
fn html_is_self_contained() {
    let html = render(&report(), Format::Html);
    for external in ["<script", "<link", "src=\"http", "@import", "url("] {
        assert!(!html.contains(external), "HTML refers out: {external}");
    }
    assert!(html.contains("<svg id=\"area-chart\""));
    assert_eq!(
        html.matches("class=\"finding\"").count(),
        CHECKS.len(),
        "one card per check"
    );
}
