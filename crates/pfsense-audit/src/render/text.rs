//! The terminal report.

use super::{in_state, severity_line, value_text};
use crate::checks::util::format_date;
use crate::model::{Report, State};
use std::fmt::Write;

pub fn text(report: &Report) -> String {
    let mut o = String::new();
    let c = &report.counts;
    let _ = writeln!(
        o,
        "pfSense security audit of {} ({})",
        report.target,
        format_date(report.taken_at_unix)
    );
    let _ = writeln!(
        o,
        "{} checks: {} non-compliant, {} compliant, {} unknown",
        report.findings.len(),
        c.non_compliant,
        c.compliant,
        c.unknown
    );
    let _ = writeln!(o, "non-compliant by severity: {}", severity_line(report));
    let failed = in_state(report, State::NonCompliant);
    if !failed.is_empty() {
        let _ = writeln!(o, "\nNON-COMPLIANT");
        for f in failed {
            let _ = writeln!(o, "\n  [{}] {}  {}", f.severity.as_str(), f.id, f.title);
            let _ = writeln!(o, "      {}", f.detail);
            for e in &f.evidence {
                let _ = writeln!(
                    o,
                    "      evidence: {} · {} · {} = {}",
                    e.endpoint,
                    e.object,
                    e.field,
                    value_text(&e.value)
                );
            }
            let _ = writeln!(o, "      fix: {}", f.fix.summary);
            if let Some(tool) = f.fix.tool {
                let _ = writeln!(
                    o,
                    "           tool {tool} {}",
                    f.fix.arguments.unwrap_or("")
                );
            }
            let _ = writeln!(o, "           GUI {}", f.fix.gui);
            let refs: Vec<String> = f.references.iter().map(|r| r.label()).collect();
            let _ = writeln!(o, "      refs: {}", refs.join(", "));
        }
    }
    let unknown = in_state(report, State::Unknown);
    if !unknown.is_empty() {
        let _ = writeln!(o, "\nUNKNOWN (the API did not show enough to tell)");
        for f in unknown {
            let _ = writeln!(o, "  {}  {}\n      {}", f.id, f.title, f.detail);
        }
    }
    let passed = in_state(report, State::Compliant);
    if !passed.is_empty() {
        let _ = writeln!(o, "\nCOMPLIANT");
        for f in passed {
            let _ = writeln!(o, "  {}  {}: {}", f.id, f.title, f.detail);
        }
    }
    o
}
