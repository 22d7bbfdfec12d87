//! Markdown: the full report, and a short summary for an MCP tool answer.

use super::{in_state, severity_line, value_text};
use crate::checks::util::format_date;
use crate::model::{Area, Finding, Report, Severity, State};
use std::fmt::Write;

/// Pipes and newlines would break a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn header(o: &mut String, report: &Report) {
    let c = &report.counts;
    let _ = writeln!(
        o,
        "# pfSense security audit: {}\n\nSnapshot of {}. {} checks: **{} non-compliant**, {} compliant, {} unknown.\n",
        report.target,
        format_date(report.taken_at_unix),
        report.findings.len(),
        c.non_compliant,
        c.compliant,
        c.unknown
    );
    let _ = writeln!(o, "| severity | non-compliant |\n|---|---|");
    for s in Severity::ALL {
        let _ = writeln!(o, "| {} | {} |", s.as_str(), report.failed(s));
    }
    let _ = writeln!(o);
}

fn finding(o: &mut String, f: &Finding) {
    let _ = writeln!(
        o,
        "### {} · {} · {}\n\n**{}** ({})\n",
        f.severity.as_str(),
        f.id,
        f.title,
        f.detail,
        f.area.title()
    );
    if !f.evidence.is_empty() {
        let _ = writeln!(
            o,
            "| endpoint | object | field | value |\n|---|---|---|---|"
        );
        for e in &f.evidence {
            let _ = writeln!(
                o,
                "| `{}` | {} | `{}` | `{}` |",
                cell(&e.endpoint),
                cell(&e.object),
                cell(&e.field),
                cell(&value_text(&e.value))
            );
        }
        let _ = writeln!(o);
    }
    let _ = write!(o, "**Fix:** {} GUI: *{}*.", f.fix.summary, f.fix.gui);
    if let Some(tool) = f.fix.tool {
        let _ = write!(o, " Tool: `{tool}` {}", f.fix.arguments.unwrap_or(""));
    }
    let refs: Vec<String> = f
        .references
        .iter()
        .map(|r| match r.url {
            Some(url) => format!("[{}]({url})", r.label()),
            None => format!("{} ({})", r.label(), r.title),
        })
        .collect();
    let _ = writeln!(o, "\n\n**References:** {}\n", refs.join("; "));
}

pub fn markdown(report: &Report) -> String {
    let mut o = String::new();
    header(&mut o, report);
    let _ = writeln!(
        o,
        "| area | non-compliant | unknown | compliant |\n|---|---|---|---|"
    );
    for a in Area::ALL {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            a.title(),
            report.in_area(a, State::NonCompliant),
            report.in_area(a, State::Unknown),
            report.in_area(a, State::Compliant)
        );
    }
    let _ = writeln!(o, "\n## Non-compliant\n");
    for f in in_state(report, State::NonCompliant) {
        finding(&mut o, f);
    }
    let _ = writeln!(o, "## Unknown\n\n| id | check | why |\n|---|---|---|");
    for f in in_state(report, State::Unknown) {
        let _ = writeln!(o, "| {} | {} | {} |", f.id, cell(f.title), cell(&f.detail));
    }
    let _ = writeln!(o, "\n## Compliant\n\n| id | check | found |\n|---|---|---|");
    for f in in_state(report, State::Compliant) {
        let _ = writeln!(o, "| {} | {} | {} |", f.id, cell(f.title), cell(&f.detail));
    }
    o
}

/// The counts and one line per non-compliant finding: what an MCP tool returns next to the
/// structured findings.
pub fn markdown_summary(report: &Report) -> String {
    let c = &report.counts;
    let mut o = format!(
        "**pfSense security audit** of {}: {} non-compliant ({}), {} compliant, {} unknown.\n",
        report.target,
        c.non_compliant,
        severity_line(report),
        c.compliant,
        c.unknown
    );
    for f in in_state(report, State::NonCompliant) {
        let fix = f.fix.tool.unwrap_or(f.fix.gui);
        let _ = writeln!(
            o,
            "- **{}** `{}` {}: {} (fix: {})",
            f.severity.as_str(),
            f.id,
            f.title,
            f.detail,
            fix
        );
    }
    if c.unknown > 0 {
        let ids: Vec<&str> = in_state(report, State::Unknown)
            .iter()
            .map(|f| f.id)
            .collect();
        let _ = writeln!(o, "- unknown (API did not show enough): {}", ids.join(", "));
    }
    o
}
