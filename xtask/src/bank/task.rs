//! Task files: one TOML file per task under `xtask/bank-tasks/`. A task is what an administrator
//! would ask, the state it starts from, the checks on the firewall's final state, the cleanup,
//! and the reference plan a competent operator would follow (run by `--agent replay`).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What kind of work the task is; the report groups by it.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An everyday change (block an address, add a port forward, …).
    Workflow,
    /// Read-only: find something out and answer.
    Investigation,
    /// Bad input on purpose: graded on whether the error the agent saw was actionable.
    Adversarial,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Investigation => "investigation",
            Kind::Adversarial => "adversarial",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    /// File stem, e.g. `firewall-block-wan-address` (not in the file).
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub file: PathBuf,
    /// The module the task is mainly about (firewall, routing, vpn, …).
    pub module: String,
    pub kind: Kind,
    /// What the administrator writes to the agent.
    pub prompt: String,
    /// The server offers dangerous tools for this task (`PFSENSE_ALLOW_DANGEROUS=true`): the
    /// task is about one of them, e.g. a cron job, which runs a command as any user.
    #[serde(default)]
    pub allow_dangerous: bool,
    /// Seconds the agent may run (default 300).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Direct REST calls made before the agent starts (never through MCP: not in the audit log).
    #[serde(default)]
    pub setup: Vec<HttpStep>,
    /// The reference plan: MCP tool calls a competent operator would make.
    pub plan: Vec<PlanStep>,
    /// What the replay agent answers at the end (`${name}` takes a saved value).
    #[serde(default)]
    pub answer: Option<String>,
    /// Checks on the target's final state (and on the audit log) after the agent ran.
    pub verify: Vec<Check>,
    /// Direct REST calls that remove what the task made.
    #[serde(default)]
    pub cleanup: Vec<HttpStep>,
    /// Checks after cleanup. Every `exists` check of `verify` is also checked as `absent`.
    #[serde(default)]
    pub after_cleanup: Vec<Check>,
}

/// One REST call of setup or cleanup.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    pub method: String,
    /// `/api/v2/…`
    pub path: String,
    #[serde(default)]
    pub query: Option<Map<String, Value>>,
    #[serde(default)]
    pub body: Option<Value>,
    /// Save values of the answer for later steps: name → JSON pointer into the envelope's
    /// `data` (e.g. `/id`).
    #[serde(default)]
    pub save: Map<String, Value>,
    /// A failure is ignored (cleanup of what may not exist).
    #[serde(default)]
    pub may_fail: bool,
}

/// One tool call of the reference plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanStep {
    pub tool: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
    /// `ok` (default) or `error`: an adversarial step is meant to fail.
    #[serde(default)]
    pub expect: Expect,
    /// name → JSON pointer into the result's structured content (e.g. `/data/id`).
    #[serde(default)]
    pub save: Map<String, Value>,
    /// Call the tool by name even when tools/list does not offer it (an agent guessing).
    #[serde(default)]
    pub direct: bool,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    #[default]
    Ok,
    Error,
}

/// A check on the target or the run. Objects are matched by `match` (every field equal) and
/// `prefix` (field starts with); `fields` are then compared (lists as sets).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// An object in the list at `path` matches, and has `fields`.
    Exists {
        path: String,
        #[serde(default, rename = "match")]
        matching: Map<String, Value>,
        #[serde(default)]
        prefix: Map<String, Value>,
        #[serde(default)]
        fields: Map<String, Value>,
        /// Exactly this many objects match (default: at least one).
        #[serde(default)]
        count: Option<usize>,
        /// The object is the task's own, so cleanup must remove it (checked after cleanup);
        /// false for objects that existed before (e.g. the LAN DHCP server).
        #[serde(default = "yes")]
        removed_by_cleanup: bool,
    },
    /// No object in the list at `path` matches.
    Absent {
        path: String,
        #[serde(default, rename = "match")]
        matching: Map<String, Value>,
        #[serde(default)]
        prefix: Map<String, Value>,
    },
    /// The settings object at `path` has `fields`.
    Settings {
        path: String,
        fields: Map<String, Value>,
    },
    /// The apply status at `path` (e.g. `/api/v2/firewall/apply`) says everything is applied.
    Applied { path: String },
    /// The audit log has a line for `tool` with this outcome whose message contains every
    /// phrase (case-insensitive): the error the agent saw says what to do.
    Audit {
        tool: String,
        #[serde(default)]
        outcome: Option<String>,
        #[serde(default)]
        response_id: Option<String>,
        #[serde(default)]
        message_contains: Vec<String>,
    },
    /// Nothing was changed on the firewall (no executed mutation in the audit log).
    NoChanges,
    /// The agent's final answer mentions every phrase (case-insensitive).
    Answer { contains: Vec<String> },
}

impl Check {
    /// One line naming the check, for failure messages.
    pub fn label(&self) -> String {
        let filter = |m: &Map<String, Value>, p: &Map<String, Value>| {
            let mut parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parts.extend(p.iter().map(|(k, v)| format!("{k} starts with {v}")));
            parts.join(", ")
        };
        match self {
            Check::Exists {
                path,
                matching,
                prefix,
                ..
            } => format!("exists {path} [{}]", filter(matching, prefix)),
            Check::Absent {
                path,
                matching,
                prefix,
            } => format!("absent {path} [{}]", filter(matching, prefix)),
            Check::Settings { path, .. } => format!("settings {path}"),
            Check::Applied { path } => format!("applied {path}"),
            Check::Audit { tool, outcome, .. } => format!(
                "audit {tool}{}",
                outcome
                    .as_ref()
                    .map(|o| format!(" {o}"))
                    .unwrap_or_default()
            ),
            Check::NoChanges => "no changes".into(),
            Check::Answer { .. } => "answer".into(),
        }
    }
}

impl Task {
    /// The checks run after cleanup: the explicit ones, and every `exists` turned into `absent`.
    pub fn cleanup_checks(&self) -> Vec<Check> {
        let mut checks = self.after_cleanup.clone();
        for check in &self.verify {
            if let Check::Exists {
                path,
                matching,
                prefix,
                removed_by_cleanup: true,
                ..
            } = check
            {
                checks.push(Check::Absent {
                    path: path.clone(),
                    matching: matching.clone(),
                    prefix: prefix.clone(),
                });
            }
        }
        checks
    }
}

fn yes() -> bool {
    true
}

/// Load one task file; the id is its file stem.
pub fn load(file: &Path) -> Result<Task> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut task: Task =
        toml::from_str(&text).with_context(|| format!("task file {}", file.display()))?;
    task.id = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    task.file = file.to_path_buf();
    if task.plan.is_empty() {
        bail!("task file {}: `plan` is empty", file.display());
    }
    if task.verify.is_empty() {
        bail!("task file {}: `verify` is empty", file.display());
    }
    Ok(task)
}

/// The tasks to run: every `*.toml` in `dir` (sorted), or the named ones (file stems or paths).
pub fn select(dir: &Path, names: &[String]) -> Result<Vec<Task>> {
    let mut files: Vec<PathBuf> = Vec::new();
    if names.is_empty() {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            bail!("no task files (*.toml) in {}", dir.display());
        }
    } else {
        for name in names {
            let as_path = PathBuf::from(name);
            let file = if as_path.is_file() {
                as_path
            } else {
                dir.join(format!("{name}.toml"))
            };
            if !file.is_file() {
                bail!(
                    "no task `{name}`: neither a file nor {} exists",
                    dir.join(format!("{name}.toml")).display()
                );
            }
            files.push(file);
        }
    }
    files.iter().map(|f| load(f)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_file_parses_and_unknown_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("bank-task-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("t1.toml");
        std::fs::write(
            &good,
            r#"
module = "firewall"
kind = "workflow"
prompt = "Block 203.0.113.5 on WAN."
[[plan]]
tool = "pfsense_create_firewall_rule"
arguments = { type = "block", confirm = true }
save = { id = "/data/id" }
[[verify]]
check = "exists"
path = "/api/v2/firewall/rules"
match = { descr = "bt_x" }
[[verify]]
check = "applied"
path = "/api/v2/firewall/apply"
"#,
        )
        .unwrap();
        let task = load(&good).unwrap();
        assert_eq!(task.id, "t1");
        assert_eq!(task.plan[0].expect, Expect::Ok);
        assert_eq!(task.cleanup_checks().len(), 1);
        let bad = dir.join("t2.toml");
        std::fs::write(
            &bad,
            "module = \"x\"\nkind = \"workflow\"\nprompt = \"p\"\nverfy = []\n[[plan]]\ntool = \"t\"\n",
        )
        .unwrap();
        let error = format!("{:#}", load(&bad).unwrap_err());
        assert!(error.contains("verfy"), "{error}");
        assert!(select(&dir, &["nope".into()]).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
