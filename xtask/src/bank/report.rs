//! The summary report: report.json and report.md.

use super::agent::Run;
use super::audit::Usage;
use super::task::Kind;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub check: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TaskResult {
    pub id: String,
    pub module: String,
    pub kind: Kind,
    pub passed: bool,
    /// Why it failed: failed checks, plan deviations, setup or cleanup errors.
    pub failures: Vec<String>,
    pub checks: Vec<CheckResult>,
    pub cleanup_checks: Vec<CheckResult>,
    pub run: Run,
    pub usage: Usage,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct ModuleCoverage {
    pub invoked: usize,
    pub total: usize,
}

#[derive(Debug, Serialize)]
pub struct WorstTool {
    pub tool: String,
    pub failures: usize,
    pub categories: BTreeMap<String, usize>,
    /// One message per category, as the audit log recorded it.
    pub examples: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub agent: String,
    pub target: String,
    pub tasks_total: usize,
    pub tasks_passed: usize,
    pub seconds: f64,
    pub cost_usd: Option<f64>,
    /// From the audit logs: distinct tools invoked, calls, per module.
    pub tools_total: usize,
    pub tools_invoked: usize,
    pub calls: usize,
    pub coverage_by_module: BTreeMap<String, ModuleCoverage>,
    pub calls_by_tool: BTreeMap<String, usize>,
    pub failures: BTreeMap<String, usize>,
    pub first_attempt_failures: BTreeMap<String, usize>,
    pub worst_tools: Vec<WorstTool>,
    pub suggestions: Vec<String>,
    pub tasks: Vec<TaskResult>,
}

fn add_all(into: &mut BTreeMap<String, usize>, from: &BTreeMap<String, usize>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

impl Report {
    pub fn new(
        agent: String,
        target: String,
        tasks: Vec<TaskResult>,
        spec: &pfsense_spec::Spec,
        seconds: f64,
    ) -> Report {
        let mut calls_by_tool = BTreeMap::new();
        let mut failures = BTreeMap::new();
        let mut first_attempt_failures = BTreeMap::new();
        let mut by_tool: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut examples: BTreeMap<String, String> = BTreeMap::new();
        let mut calls = 0;
        for t in &tasks {
            calls += t.usage.calls;
            add_all(&mut calls_by_tool, &t.usage.tools);
            add_all(&mut failures, &t.usage.failures);
            add_all(&mut first_attempt_failures, &t.usage.first_attempt_failures);
            for (tool, cats) in &t.usage.failures_by_tool {
                add_all(by_tool.entry(tool.clone()).or_default(), cats);
            }
            for (k, v) in &t.usage.examples {
                examples.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let mut coverage_by_module: BTreeMap<String, ModuleCoverage> = BTreeMap::new();
        for op in &spec.operations {
            let m = coverage_by_module
                .entry(op.module.as_str().to_string())
                .or_insert(ModuleCoverage {
                    invoked: 0,
                    total: 0,
                });
            m.total += 1;
            if calls_by_tool.contains_key(&op.tool_name) {
                m.invoked += 1;
            }
        }
        let tools_invoked = calls_by_tool
            .keys()
            .filter(|t| spec.operation(t).is_some())
            .count();
        let mut worst_tools: Vec<WorstTool> = by_tool
            .into_iter()
            .map(|(tool, categories)| {
                let failures = categories.values().sum();
                let examples = categories
                    .keys()
                    .filter_map(|c| {
                        examples
                            .get(&format!("{tool} {c}"))
                            .map(|m| (c.clone(), m.clone()))
                    })
                    .collect();
                WorstTool {
                    tool,
                    failures,
                    categories,
                    examples,
                }
            })
            .collect();
        worst_tools.sort_by(|a, b| b.failures.cmp(&a.failures).then(a.tool.cmp(&b.tool)));
        worst_tools.truncate(10);
        let suggestions = suggestions(&tasks, &worst_tools, &failures);
        let costs: Vec<f64> = tasks.iter().filter_map(|t| t.run.cost_usd).collect();
        Report {
            agent,
            target,
            tasks_total: tasks.len(),
            tasks_passed: tasks.iter().filter(|t| t.passed).count(),
            seconds,
            cost_usd: (!costs.is_empty()).then(|| costs.iter().sum()),
            tools_total: spec.operations.len(),
            tools_invoked,
            calls,
            coverage_by_module,
            calls_by_tool,
            failures,
            first_attempt_failures,
            worst_tools,
            suggestions,
            tasks,
        }
    }

    pub fn totals_line(&self) -> String {
        format!(
            "bank-test: {}/{} tasks passed; {} tools invoked of {} ({} calls, from the audit log); {} first-attempt failures; {:.1} s ({}, {})",
            self.tasks_passed,
            self.tasks_total,
            self.tools_invoked,
            self.tools_total,
            self.calls,
            self.first_attempt_failures.values().sum::<usize>(),
            self.seconds,
            self.agent,
            self.target
        )
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(self)?)?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# Bank test report\n");
        let _ = writeln!(
            s,
            "Agent: `{}`. Target: {}. {}/{} tasks passed in {:.1} s{}.\n",
            self.agent,
            self.target,
            self.tasks_passed,
            self.tasks_total,
            self.seconds,
            self.cost_usd
                .map(|c| format!(", cost ${c:.2}"))
                .unwrap_or_default()
        );
        let _ = writeln!(s, "## Tasks\n");
        let _ = writeln!(
            s,
            "| task | module | kind | result | calls | tools | first-attempt failures | why it failed |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for t in &self.tasks {
            let firsts: Vec<String> = t
                .usage
                .first_attempt_failures
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                t.id,
                t.module,
                t.kind.as_str(),
                if t.passed { "pass" } else { "**FAIL**" },
                t.usage.calls,
                t.usage.tools.len(),
                firsts.join(", "),
                t.failures.join("<br>").replace('|', "\\|")
            );
        }
        let _ = writeln!(
            s,
            "\n## Coverage (from the audit log)\n\n{} of {} tools invoked, {} calls.\n",
            self.tools_invoked, self.tools_total, self.calls
        );
        let server_tools: Vec<String> = self
            .calls_by_tool
            .iter()
            .filter(|(tool, _)| !self.coverage_by_module.is_empty() && is_server_tool(tool))
            .map(|(tool, n)| format!("`{tool}` ×{n}"))
            .collect();
        if !server_tools.is_empty() {
            let _ = writeln!(s, "The server's own tools: {}.\n", server_tools.join(", "));
        }
        let _ = writeln!(s, "| module | tools invoked | tools |\n|---|---|---|");
        for (module, c) in &self.coverage_by_module {
            let _ = writeln!(s, "| {module} | {} | {} |", c.invoked, c.total);
        }
        let _ = writeln!(s, "\n## Failure categories\n");
        let _ = writeln!(
            s,
            "| category | first attempts | all attempts |\n|---|---|---|"
        );
        for (category, all) in &self.failures {
            let _ = writeln!(
                s,
                "| {category} | {} | {all} |",
                self.first_attempt_failures.get(category).unwrap_or(&0)
            );
        }
        if self.failures.is_empty() {
            let _ = writeln!(s, "| (none) | 0 | 0 |");
        }
        let _ = writeln!(s, "\n## Worst tools\n");
        let _ = writeln!(
            s,
            "| tool | failed attempts | categories | what the agent was told (first of each) |\n|---|---|---|---|"
        );
        for w in &self.worst_tools {
            let cats: Vec<String> = w
                .categories
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect();
            let told: Vec<String> = w.examples.values().cloned().collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                w.tool,
                w.failures,
                cats.join(", "),
                told.join("<br>").replace('|', "\\|").replace('\n', " ")
            );
        }
        let _ = writeln!(s, "\n## Suggestions\n");
        for suggestion in &self.suggestions {
            let _ = writeln!(s, "- {suggestion}");
        }
        if self.suggestions.is_empty() {
            let _ = writeln!(s, "- none: no attempt failed");
        }
        s
    }
}

/// Tools of the server itself (discovery and safety), not generated from the spec.
fn is_server_tool(tool: &str) -> bool {
    crate::bank::SERVER_TOOLS.contains(&tool)
}

/// What the failures suggest, one line each, most frequent first.
fn suggestions(
    tasks: &[TaskResult],
    worst: &[WorstTool],
    failures: &BTreeMap<String, usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    let failed: Vec<&str> = tasks
        .iter()
        .filter(|t| !t.passed)
        .map(|t| t.id.as_str())
        .collect();
    if !failed.is_empty() {
        out.push(format!(
            "{} task(s) failed their checks ({}): read their transcripts under runs/<task>/ first.",
            failed.len(),
            failed.join(", ")
        ));
    }
    for w in worst {
        for (category, n) in &w.categories {
            let example: String = w
                .examples
                .get(category)
                .map(|m| m.chars().take(160).collect())
                .unwrap_or_default();
            let line = match category.as_str() {
                "unknown_tool" => format!(
                    "`{}` was called {n}× but no such tool exists: if agents keep guessing this name, make `pfsense_find_tools` rank the real tool for it, or name the real tool in the server instructions.",
                    w.tool
                ),
                "invalid_arguments" => format!(
                    "`{}`: {n} call(s) had arguments that do not fit its schema (e.g. \"{}\"): state the expected form of that field in the tool description or schema.",
                    w.tool, example
                ),
                "forgot_to_apply" => format!(
                    "`{}`: {n} change(s) were left pending: the result already names the apply tool; consider mentioning `apply: true` earlier in the description.",
                    w.tool
                ),
                "confirmation_friction" => format!(
                    "`{}`: {n} attempt(s) were previews or refused confirmations before the change went through: say `confirm: true` is needed in the first sentence of the description.",
                    w.tool
                ),
                "transport" => format!(
                    "`{}`: {n} attempt(s) failed in transport: check the target's reachability and the client's retry rules.",
                    w.tool
                ),
                c if c.starts_with("api_error:") => format!(
                    "`{}`: pfSense answered {} {n}×: if the agent could not act on it, add a hint for that response id (crates/pfsense-mcp/src/outcome.rs).",
                    w.tool,
                    &c["api_error:".len()..]
                ),
                _ => format!("`{}`: {n} attempt(s) refused ({category}).", w.tool),
            };
            out.push(line);
        }
    }
    if failures.is_empty() && failed.is_empty() {
        out.push("No attempt failed and every task passed.".into());
    }
    out
}
