//! Coverage and failure categories from the server's own audit log (one JSON line per attempt),
//! never from what the model says it did.

use pfsense_spec::Spec;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One audit line, the fields the bank reads.
#[derive(Debug, Clone)]
pub struct Line {
    pub tool: String,
    pub outcome: String,
    pub arguments: Value,
    pub response_id: Option<String>,
    pub message: String,
}

/// Read an audit log; a missing file is an empty log (the agent made no call).
pub fn read(path: &Path) -> anyhow::Result<Vec<Line>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    };
    let mut lines = Vec::new();
    for (n, raw) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: Value = serde_json::from_str(raw)
            .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
        let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
        // The write-ahead line of a change (its outcome line follows) and the marker that
        // closes off a line cut by a crash are not attempts of their own.
        if matches!(v["outcome"].as_str(), Some("attempt" | "cut_off")) {
            continue;
        }
        lines.push(Line {
            tool: text("tool"),
            outcome: text("outcome"),
            arguments: v["arguments"].clone(),
            response_id: v["response_id"].as_str().map(str::to_string),
            message: text("message"),
        });
    }
    Ok(lines)
}

/// Why an attempt did not do what the agent meant. `api_error` carries the response id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    UnknownTool,
    InvalidArguments,
    ApiError(String),
    ForgotToApply,
    ConfirmationFriction,
    Transport,
    /// Refused by a policy or rate limit.
    Refused,
}

impl Category {
    pub fn key(&self) -> String {
        match self {
            Category::UnknownTool => "unknown_tool".into(),
            Category::InvalidArguments => "invalid_arguments".into(),
            Category::ApiError(id) => format!("api_error:{id}"),
            Category::ForgotToApply => "forgot_to_apply".into(),
            Category::ConfirmationFriction => "confirmation_friction".into(),
            Category::Transport => "transport".into(),
            Category::Refused => "refused".into(),
        }
    }
}

/// The category of one attempt, or None when it did what was asked.
///
/// Messages matched here are the server's own wording (crates/pfsense-mcp/src/server.rs and
/// safety/flow.rs): "unknown tool", "its arguments do not fit", "not approved", "expect_state".
pub fn categorize(line: &Line) -> Option<Category> {
    let message = line.message.to_lowercase();
    match line.outcome.as_str() {
        "executed" | "undone" | "auto_reverted" | "reconciled" => None,
        // A change sent without `confirm: true`: the agent had to call again.
        "preview" => Some(Category::ConfirmationFriction),
        "failed" => Some(match &line.response_id {
            Some(id) if !id.is_empty() => Category::ApiError(id.clone()),
            _ if message.starts_with("pfsense refused") || message.contains("http 4") => {
                Category::ApiError("UNKNOWN".into())
            }
            _ => Category::Transport,
        }),
        "refused" => Some(
            if message.starts_with("unknown tool") || message.contains("there is no generated tool")
            {
                Category::UnknownTool
            } else if message.contains("arguments do not fit")
                || message.contains("redaction placeholder")
                || message.contains("`expect_state` must be")
            {
                Category::InvalidArguments
            } else if message.contains("not approved")
                || message.contains("approval")
                || message.contains("expect_state")
                || message.contains("changed since")
            {
                Category::ConfirmationFriction
            } else {
                Category::Refused
            },
        ),
        _ => None,
    }
}

/// What one task's audit log says.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Usage {
    pub calls: usize,
    /// Calls per tool.
    pub tools: BTreeMap<String, usize>,
    /// Every attempt that went wrong, by category.
    pub failures: BTreeMap<String, usize>,
    /// Only the first attempt of each tool, by category: what a better description prevents.
    pub first_attempt_failures: BTreeMap<String, usize>,
    /// Per tool, the categories of its failed attempts.
    pub failures_by_tool: BTreeMap<String, BTreeMap<String, usize>>,
    /// One example message per (tool, category).
    pub examples: BTreeMap<String, String>,
    /// Executed changes.
    pub changes: usize,
}

/// The executed changes that leave their subsystem pending with no later apply of it (neither
/// the apply tool nor a change of the same subsystem sent with `apply: true`): each change's
/// tool and the apply tool it needed, in the log's order.
pub fn unapplied<'a>(lines: &'a [Line], spec: &'a Spec) -> Vec<(&'a str, &'a str)> {
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if line.outcome != "executed" {
            continue;
        }
        let Some(apply) = spec.operation(&line.tool).and_then(|op| op.apply.as_ref()) else {
            continue;
        };
        if line.arguments.get("apply").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let applied_later = lines[index + 1..].iter().any(|later| {
            later.outcome == "executed"
                && (later.tool == apply.apply_tool
                    || (later.arguments.get("apply").and_then(Value::as_bool) == Some(true)
                        && spec
                            .operation(&later.tool)
                            .and_then(|op| op.apply.as_ref())
                            .is_some_and(|a| a.apply_tool == apply.apply_tool)))
        });
        if !applied_later {
            found.push((line.tool.as_str(), apply.apply_tool.as_str()));
        }
    }
    found
}

/// Count one task's audit lines. `spec` names the apply tool of every tool whose change stays
/// pending, to find changes nobody applied.
pub fn usage(lines: &[Line], spec: &Spec) -> Usage {
    let mut usage = Usage::default();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let add = |usage: &mut Usage, tool: &str, category: Category, first: bool, msg: &str| {
        let key = category.key();
        *usage.failures.entry(key.clone()).or_default() += 1;
        if first {
            *usage.first_attempt_failures.entry(key.clone()).or_default() += 1;
        }
        *usage
            .failures_by_tool
            .entry(tool.to_string())
            .or_default()
            .entry(key.clone())
            .or_default() += 1;
        usage
            .examples
            .entry(format!("{tool} {key}"))
            .or_insert_with(|| msg.chars().take(300).collect());
    };
    for line in lines {
        usage.calls += 1;
        *usage.tools.entry(line.tool.clone()).or_default() += 1;
        let first = seen.insert(line.tool.as_str());
        if line.outcome == "executed"
            && spec
                .operation(&line.tool)
                .is_some_and(|op| op.is_mutation())
        {
            usage.changes += 1;
        }
        if let Some(category) = categorize(line) {
            // A preview's message is its fingerprint: say what happened instead.
            let message = if line.outcome == "preview" {
                "previewed: called without `confirm: true`, nothing was sent"
            } else {
                line.message.as_str()
            };
            add(&mut usage, &line.tool, category, first, message);
        }
    }
    for (tool, apply_tool) in unapplied(lines, spec) {
        let note = format!("left pending: {apply_tool} was never called afterwards");
        add(&mut usage, tool, Category::ForgotToApply, false, &note);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tool: &str, outcome: &str, rid: Option<&str>, message: &str) -> Line {
        Line {
            tool: tool.into(),
            outcome: outcome.into(),
            arguments: Value::Null,
            response_id: rid.map(str::to_string),
            message: message.into(),
        }
    }

    #[test]
    fn attempts_fall_into_the_issue_categories() {
        let cases = [
            (
                line(
                    "pfsense_nope",
                    "refused",
                    None,
                    "unknown tool `pfsense_nope`: …",
                ),
                Some("unknown_tool"),
            ),
            (
                line(
                    "t",
                    "refused",
                    None,
                    "t was not called; its arguments do not fit: `type` must be one of …",
                ),
                Some("invalid_arguments"),
            ),
            (
                line("t", "failed", Some("FIELD_MUST_BE_UNIQUE"), "x"),
                Some("api_error:FIELD_MUST_BE_UNIQUE"),
            ),
            (
                line("t", "failed", None, "cannot reach https://127.0.0.1:1"),
                Some("transport"),
            ),
            (
                line("t", "preview", None, ""),
                Some("confirmation_friction"),
            ),
            (
                line(
                    "t",
                    "refused",
                    None,
                    "t was not called: the change was not approved (declined).",
                ),
                Some("confirmation_friction"),
            ),
            (line("t", "executed", None, "confirmed by flag"), None),
        ];
        for (l, want) in cases {
            assert_eq!(categorize(&l).map(|c| c.key()).as_deref(), want, "{l:?}");
        }
    }
}
