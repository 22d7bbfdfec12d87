//! What the exerciser found, per tool, and the JSON and Markdown reports.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    ApiError,
    /// pfsense-mcp itself refused the call (its safety layer): nothing was sent.
    Refused,
    TransportError,
    NotInvoked,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ApiError => "api_error",
            Outcome::Refused => "refused",
            Outcome::TransportError => "transport_error",
            Outcome::NotInvoked => "not_invoked",
        }
    }
}

/// One tool's record.
#[derive(Debug, Clone, Serialize)]
pub struct ToolRecord {
    pub module: String,
    pub invoked: bool,
    pub outcome: Outcome,
    pub response_id: Option<String>,
    pub message: Option<String>,
    /// Why the tool does not succeed, when that is a known rule of the real API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub calls: u32,
    /// Arguments of the first failing call (sensitive values redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_args: Option<Value>,
}

impl ToolRecord {
    pub fn new(module: &str) -> ToolRecord {
        ToolRecord {
            module: module.to_string(),
            invoked: false,
            outcome: Outcome::NotInvoked,
            response_id: None,
            message: None,
            reason: None,
            calls: 0,
            failed_args: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub total: usize,
    pub invoked: usize,
    pub ok: usize,
    pub seconds: f64,
    /// Notes about the run (skipped dangerous tools and the like).
    pub notes: Vec<String>,
    pub tools: BTreeMap<String, ToolRecord>,
}

impl Report {
    pub fn new(
        target: String,
        tools: BTreeMap<String, ToolRecord>,
        seconds: f64,
        notes: Vec<String>,
    ) -> Report {
        Report {
            target,
            total: tools.len(),
            invoked: tools.values().filter(|t| t.invoked).count(),
            ok: tools.values().filter(|t| t.outcome == Outcome::Ok).count(),
            seconds,
            notes,
            tools,
        }
    }

    pub fn totals_line(&self) -> String {
        format!(
            "exercise: {} tools, {} invoked, {} ok, {} not ok, {:.1} s ({})",
            self.total,
            self.invoked,
            self.ok,
            self.total - self.ok,
            self.seconds,
            self.target
        )
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(self)? + "\n",
        )?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Exercise report\n");
        let _ = writeln!(s, "{}\n", self.totals_line());
        for note in &self.notes {
            let _ = writeln!(s, "- {note}");
        }
        if !self.notes.is_empty() {
            s.push('\n');
        }
        let _ = writeln!(s, "## By module\n");
        let _ = writeln!(s, "| module | tools | invoked | ok | not ok |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        let mut modules: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        for t in self.tools.values() {
            let e = modules.entry(t.module.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(t.invoked);
            e.2 += usize::from(t.outcome == Outcome::Ok);
        }
        for (m, (n, inv, ok)) in &modules {
            let _ = writeln!(s, "| {m} | {n} | {inv} | {ok} | {} |", n - ok);
        }
        let _ = writeln!(s, "\n## Tools that did not succeed\n");
        let failing: Vec<(&String, &ToolRecord)> = self
            .tools
            .iter()
            .filter(|(_, t)| t.outcome != Outcome::Ok)
            .collect();
        if failing.is_empty() {
            let _ = writeln!(s, "None.");
        } else {
            let _ = writeln!(s, "| tool | outcome | response_id | reason |");
            let _ = writeln!(s, "|---|---|---|---|");
            for (name, t) in failing {
                let reason = t
                    .reason
                    .clone()
                    .or_else(|| t.message.clone())
                    .unwrap_or_default()
                    .replace('|', "\\|")
                    .replace('\n', " ");
                let _ = writeln!(
                    s,
                    "| `{name}` | {} | {} | {reason} |",
                    t.outcome.as_str(),
                    t.response_id.as_deref().unwrap_or("")
                );
            }
        }
        s
    }
}
