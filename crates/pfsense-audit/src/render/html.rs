//! One self-contained HTML page (no scripts, fonts or images from elsewhere): severity tiles and
//! an inline SVG bar chart by area, then the findings with evidence, fixes and references.

use super::{in_state, value_text};
use crate::checks::util::format_date;
use crate::model::{Area, Finding, Report, Severity, State};
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#991b1b",
        Severity::High => "#dc2626",
        Severity::Medium => "#d97706",
        Severity::Low => "#2563eb",
        Severity::Info => "#6b7280",
    }
}
const COMPLIANT_COLOR: &str = "#16a34a";
const UNKNOWN_COLOR: &str = "#cbd5e1";

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f8fafc; color: #0f172a; }
main { max-width: 1060px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 12px; border-bottom: 2px solid #e2e8f0; padding-bottom: 6px; }
.meta { color: #475569; margin: 0 0 20px; }
.tiles { display: grid; grid-template-columns: repeat(7, 1fr); gap: 10px; margin-bottom: 22px; }
.tile { background: #fff; border-radius: 10px; padding: 12px 10px; border-top: 6px solid var(--c); box-shadow: 0 1px 3px rgba(0,0,0,.08); text-align: center; }
.tile .n { font-size: 32px; font-weight: 700; color: var(--c); line-height: 1.1; }
.tile .l { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: #475569; }
.chart { background: #fff; border-radius: 10px; padding: 14px 16px 6px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.chart h3 { margin: 0 0 6px; font-size: 15px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; font-size: 12px; color: #475569; margin: 4px 0 10px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.finding { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.08); margin: 0 0 14px; border-left: 6px solid var(--c); }
.finding > summary { cursor: pointer; padding: 12px 16px; list-style: none; }
.finding > summary::-webkit-details-marker { display: none; }
.finding .body { padding: 0 16px 14px; }
.badge { display: inline-block; font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .05em; color: #fff; background: var(--c); border-radius: 4px; padding: 1px 7px; margin-right: 8px; vertical-align: 1px; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: #475569; font-size: 13px; margin-right: 8px; }
.title { font-weight: 600; }
.area { float: right; color: #64748b; font-size: 13px; }
.detail { margin: 6px 0 10px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0 10px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { color: #475569; font-weight: 600; background: #f1f5f9; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12.5px; background: #f1f5f9; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.fix { background: #f0fdf4; border: 1px solid #bbf7d0; border-radius: 6px; padding: 8px 10px; margin: 8px 0; }
.refs { font-size: 13px; color: #334155; }
.refs span { display: inline-block; background: #eef2ff; border-radius: 4px; padding: 1px 6px; margin: 2px 4px 2px 0; }
.refs a { color: #3730a3; }
.plain td:first-child { white-space: nowrap; }
footer { margin-top: 40px; color: #64748b; font-size: 12px; }
@media print { .finding { break-inside: avoid; } }
"#;

/// The bar chart: one row per area, one segment per state (non-compliant split by severity).
fn chart(report: &Report) -> String {
    let areas: Vec<Area> = Area::ALL
        .iter()
        .copied()
        .filter(|a| report.findings.iter().any(|f| f.area == *a))
        .collect();
    let max = areas
        .iter()
        .map(|a| report.findings.iter().filter(|f| f.area == *a).count())
        .max()
        .unwrap_or(1)
        .max(1);
    let (label_w, bar_x, bar_w, row_h) = (150.0, 158.0, 720.0, 26.0);
    let height = areas.len() as f64 * row_h + 6.0;
    let unit = bar_w / max as f64;
    let mut o = format!(
        r#"<svg id="area-chart" role="img" aria-label="Checks by area and result" viewBox="0 0 {w} {height}" width="100%" xmlns="http://www.w3.org/2000/svg">"#,
        w = bar_x + bar_w + 90.0
    );
    for (row, area) in areas.iter().enumerate() {
        let y = row as f64 * row_h + 4.0;
        let in_area: Vec<&Finding> = report.findings.iter().filter(|f| f.area == *area).collect();
        let _ = write!(
            o,
            r##"<text x="{x}" y="{ty}" text-anchor="end" font-size="13" fill="#334155">{name}</text>"##,
            x = label_w,
            ty = y + 14.0,
            name = esc(area.title())
        );
        let mut x = bar_x;
        let mut segments: Vec<(usize, &str, String)> = Severity::ALL
            .iter()
            .map(|s| {
                let n = in_area
                    .iter()
                    .filter(|f| f.state == State::NonCompliant && f.severity == *s)
                    .count();
                (
                    n,
                    severity_color(*s),
                    format!("{} non-compliant", s.as_str()),
                )
            })
            .collect();
        segments.push((
            in_area.iter().filter(|f| f.state == State::Unknown).count(),
            UNKNOWN_COLOR,
            "unknown".into(),
        ));
        segments.push((
            in_area
                .iter()
                .filter(|f| f.state == State::Compliant)
                .count(),
            COMPLIANT_COLOR,
            "compliant".into(),
        ));
        for (n, color, what) in segments {
            if n == 0 {
                continue;
            }
            let w = n as f64 * unit;
            let _ = write!(
                o,
                r##"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="18" rx="3" fill="{color}" stroke="#fff" stroke-width="1"><title>{area}: {n} {what}</title></rect>"##,
                area = esc(area.title())
            );
            x += w;
        }
        let failed = in_area
            .iter()
            .filter(|f| f.state == State::NonCompliant)
            .count();
        let _ = write!(
            o,
            r##"<text x="{tx:.1}" y="{ty}" font-size="12" fill="#475569">{failed}/{total} fail</text>"##,
            tx = x + 6.0,
            ty = y + 14.0,
            total = in_area.len()
        );
    }
    o.push_str("</svg>");
    o
}

fn finding_card(o: &mut String, f: &Finding, open: bool) {
    let color = match f.state {
        State::NonCompliant => severity_color(f.severity),
        State::Unknown => "#94a3b8",
        State::Compliant => COMPLIANT_COLOR,
    };
    let badge = match f.state {
        State::NonCompliant => f.severity.as_str(),
        other => other.as_str(),
    };
    let _ = write!(
        o,
        r#"<details class="finding" style="--c:{color}" data-check-id="{id}" data-state="{state}" data-severity="{sev}"{open}><summary><span class="badge">{badge}</span><span class="id">{id}</span><span class="title">{title}</span><span class="area">{area}</span></summary><div class="body"><p class="detail">{detail}</p>"#,
        id = esc(f.id),
        state = f.state.as_str(),
        sev = f.severity.as_str(),
        open = if open { " open" } else { "" },
        title = esc(f.title),
        area = esc(f.area.title()),
        detail = esc(&f.detail),
    );
    if !f.evidence.is_empty() {
        o.push_str(
            "<table class=\"evidence\"><tr><th>endpoint</th><th>object</th><th>field</th><th>value</th></tr>",
        );
        for e in &f.evidence {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&e.endpoint),
                esc(&e.object),
                esc(&e.field),
                esc(&value_text(&e.value))
            );
        }
        o.push_str("</table>");
    }
    if f.state != State::Compliant {
        let _ = write!(
            o,
            r#"<div class="fix"><strong>Fix:</strong> {} <br>GUI: <em>{}</em>"#,
            esc(f.fix.summary),
            esc(f.fix.gui)
        );
        if let Some(tool) = f.fix.tool {
            let _ = write!(
                o,
                " · MCP tool: <code>{}</code> <code>{}</code>",
                esc(tool),
                esc(f.fix.arguments.unwrap_or(""))
            );
        }
        o.push_str("</div>");
    }
    o.push_str(r#"<div class="refs">References: "#);
    for r in &f.references {
        match r.url {
            Some(url) => {
                let _ = write!(
                    o,
                    r#"<span><a href="{}">{}</a></span>"#,
                    esc(url),
                    esc(&r.label())
                );
            }
            None => {
                let _ = write!(
                    o,
                    r#"<span title="{}">{} · {}</span>"#,
                    esc(r.title),
                    esc(&r.label()),
                    esc(r.title)
                );
            }
        }
    }
    o.push_str("</div></div></details>");
}

pub fn html(report: &Report) -> String {
    let c = &report.counts;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>pfSense security audit: {target}</title><style>{STYLE}</style></head><body><main><h1>pfSense security audit</h1><p class="meta">{target} · snapshot of {date} · {total} checks: <strong>{nc} non-compliant</strong>, {ok} compliant, {unk} unknown</p><section class="tiles" id="summary">"#,
        target = esc(&report.target),
        date = format_date(report.taken_at_unix),
        total = report.findings.len(),
        nc = c.non_compliant,
        ok = c.compliant,
        unk = c.unknown,
    );
    for s in Severity::ALL {
        let _ = write!(
            o,
            r#"<div class="tile" style="--c:{}" data-severity="{}"><div class="n">{}</div><div class="l">{}</div></div>"#,
            severity_color(s),
            s.as_str(),
            report.failed(s),
            s.as_str()
        );
    }
    let _ = write!(
        o,
        r#"<div class="tile" style="--c:#64748b" data-state="unknown"><div class="n">{}</div><div class="l">unknown</div></div><div class="tile" style="--c:{COMPLIANT_COLOR}" data-state="compliant"><div class="n">{}</div><div class="l">compliant</div></div></section>"#,
        c.unknown, c.compliant
    );
    o.push_str(r#"<section class="chart"><h3>Checks by area</h3><div class="legend">"#);
    for s in Severity::ALL {
        let _ = write!(
            o,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            severity_color(s),
            s.as_str()
        );
    }
    let _ = write!(
        o,
        r#"<span><i style="background:{UNKNOWN_COLOR}"></i>unknown</span><span><i style="background:{COMPLIANT_COLOR}"></i>compliant</span></div>"#
    );
    o.push_str(&chart(report));
    o.push_str("</section>");

    let failed = in_state(report, State::NonCompliant);
    let _ = write!(
        o,
        r#"<h2 id="non-compliant">Non-compliant ({})</h2>"#,
        failed.len()
    );
    for f in failed {
        finding_card(&mut o, f, true);
    }
    let unknown = in_state(report, State::Unknown);
    let _ = write!(
        o,
        r#"<h2 id="unknown">Unknown ({}): the API did not show enough to tell</h2>"#,
        unknown.len()
    );
    for f in unknown {
        finding_card(&mut o, f, false);
    }
    let passed = in_state(report, State::Compliant);
    let _ = write!(o, r#"<h2 id="compliant">Compliant ({})</h2>"#, passed.len());
    for f in passed {
        finding_card(&mut o, f, false);
    }
    o.push_str(
        r#"<footer>Generated by pfsense-audit from read-only REST API calls. References: DISA Firewall SRG V3R3, NIST SP 800-41 Rev. 1, BSI IT-Grundschutz NET.3.2, Netgate documentation, Al-Shaer/Hamed rule-anomaly classes.</footer></main></body></html>"#,
    );
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
