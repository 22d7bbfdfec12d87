//! Report renderers: terminal text, JSON, SARIF 2.1.0, Markdown and a self-contained HTML page.

mod html;
mod markdown;
mod sarif;
mod text;

pub use html::html;
pub use markdown::{markdown, markdown_summary};
pub use sarif::sarif;
pub use text::text;

use crate::model::{Finding, Report, Severity, State};

/// The formats a caller can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Markdown,
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            other => Err(format!(
                "unknown report format {other:?}: use text, json, sarif, md or html"
            )),
        }
    }
}

/// Renders a report in a format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => json(report),
        Format::Sarif => sarif(report),
        Format::Markdown => markdown(report),
        Format::Html => html(report),
    }
}

pub fn json(report: &Report) -> String {
    // A Report holds only strings, numbers and JSON values: serialising cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Findings in a state, most severe first, then by id.
pub(crate) fn in_state(report: &Report, state: State) -> Vec<&Finding> {
    let mut v: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.state == state)
        .collect();
    v.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(b.id)));
    v
}

/// "critical 1 · high 3 · …" of the non-compliant findings.
pub(crate) fn severity_line(report: &Report) -> String {
    Severity::ALL
        .iter()
        .map(|s| format!("{} {}", s.as_str(), report.failed(*s)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A value as evidence text: strings without quotes, everything else as JSON.
pub(crate) fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
