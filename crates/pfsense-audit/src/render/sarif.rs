//! SARIF 2.1.0: one rule per check, one result per finding. Non-compliant findings are
//! `kind: fail` with a level from the severity; compliant ones `pass`, unknown ones `review`
//! (level `none`, as SARIF requires for kinds other than `fail`).

use crate::checks::CHECKS;
use crate::model::{Report, Severity, State};
use serde_json::{Value, json};

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` scale (0.0–10.0).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

pub fn sarif(report: &Report) -> String {
    let rules: Vec<Value> = CHECKS
        .iter()
        .map(|c| {
            let refs: Vec<String> = c.references.iter().map(|r| r.label()).collect();
            let mut help = format!("{}\nGUI: {}", c.fix.summary, c.fix.gui);
            if let Some(tool) = c.fix.tool {
                help.push_str(&format!(
                    "\nMCP tool: {tool} {}",
                    c.fix.arguments.unwrap_or("")
                ));
            }
            json!({
                "id": c.id,
                "name": c.id.replace('-', ""),
                "shortDescription": {"text": c.title},
                "help": {"text": help},
                "defaultConfiguration": {"level": level(c.severity)},
                "properties": {
                    "area": c.area.title(),
                    "severity": c.severity.as_str(),
                    "security-severity": security_severity(c.severity),
                    "tags": ["security", c.area.title()],
                    "references": refs,
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = CHECKS.iter().position(|c| c.id == f.id);
            let (kind, lvl) = match f.state {
                State::NonCompliant => ("fail", level(f.severity)),
                State::Compliant => ("pass", "none"),
                State::Unknown => ("review", "none"),
            };
            let locations: Vec<Value> = f
                .evidence
                .iter()
                .map(|e| {
                    json!({"logicalLocations": [{
                        "fullyQualifiedName": format!("{} {}", e.endpoint, e.object),
                        "kind": "resource",
                    }]})
                })
                .collect();
            json!({
                "ruleId": f.id,
                "ruleIndex": index,
                "kind": kind,
                "level": lvl,
                "message": {"text": format!("{}: {}", f.title, f.detail)},
                "locations": locations,
                "properties": {"state": f.state.as_str(), "evidence": f.evidence},
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pfsense-audit",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/pfsense-mcp",
                "rules": rules,
            }},
            "automationDetails": {"id": format!("pfsense-audit/{}", report.target)},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
