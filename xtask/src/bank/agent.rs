//! The agents: `replay` runs a task's reference plan through a real MCP client (rmcp over
//! stdio to the real binary); anything else is a command template (Claude Code by default)
//! run with the task's prompt and an MCP config that starts the same binary.

use super::task::{Expect, Task};
use anyhow::{Context, Result, bail};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default agent: Claude Code in print mode with only this server's tools allowed.
/// Placeholders are replaced by shell-quoted values.
pub const DEFAULT_AGENT: &str = "claude -p {prompt} --mcp-config {mcp_config} --strict-mcp-config \
--allowedTools mcp__pfsense --output-format stream-json --verbose \
--max-turns {max_turns} --max-budget-usd {budget_usd}";

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "{prompt}",
    "{mcp_config}",
    "{max_turns}",
    "{budget_usd}",
    "{run_dir}",
];

/// What must be stopped or removed if the bank run is interrupted: the agent's process group
/// and the MCP config holding the target's credentials.
#[derive(Default)]
pub struct InFlight {
    pub process_groups: Vec<i32>,
    pub files: Vec<PathBuf>,
}

pub type Running = std::sync::Arc<std::sync::Mutex<InFlight>>;

/// Stop and remove everything in flight (the signal hook; also safe to call twice).
pub fn stop_in_flight(running: &Running) {
    let mut in_flight = running.lock().unwrap_or_else(|p| p.into_inner());
    for pgid in in_flight.process_groups.drain(..) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for file in in_flight.files.drain(..) {
        let _ = std::fs::remove_file(file);
    }
}

/// How the pfsense-mcp server is started for one task.
pub struct ServerLaunch {
    pub binary: PathBuf,
    /// Its arguments (`--confirm flag`, `--audit-log FILE`, …).
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// What one agent run produced.
#[derive(Debug, Default, serde::Serialize)]
pub struct Run {
    /// The agent's final answer (replay: the task's `answer` with saved values filled in).
    pub answer: Option<String>,
    /// Reference-plan steps that did not turn out as the plan expects (replay only).
    pub deviations: Vec<String>,
    pub cost_usd: Option<f64>,
    pub turns: Option<u64>,
    /// `exit 0`, `timed out after 300 s`, …
    pub ended: String,
    pub seconds: f64,
}

/// Fail fast when the agent command cannot be found, before any target is started.
pub fn check_command(template: &str) -> Result<()> {
    let words = shlex::split(template)
        .with_context(|| format!("--agent `{template}`: unbalanced quotes"))?;
    let Some(program) = words.first() else {
        bail!("--agent is empty: pass `replay` or a command template");
    };
    if !template.contains(PLACEHOLDERS[0]) {
        bail!(
            "--agent `{template}` has no {} placeholder, so the agent would never see the task (placeholders: {})",
            PLACEHOLDERS[0],
            PLACEHOLDERS.join(" ")
        );
    }
    let found = if program.contains('/') {
        is_executable(Path::new(program))
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(program))))
            .unwrap_or(false)
    };
    if !found {
        bail!(
            "the agent command `{program}` was not found{}. Install Claude Code \
             (`npm install -g @anthropic-ai/claude-code`, then log in), pass the full path or \
             another command with --agent 'CMD {{prompt}} {{mcp_config}} …', or use \
             --agent replay to run the tasks' reference plans",
            if program.contains('/') {
                String::new()
            } else {
                " on PATH".to_string()
            }
        );
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Fill a command template: every placeholder becomes its shell-quoted value.
pub fn expand(template: &str, values: &[(&str, String)]) -> Result<String> {
    let mut command = template.to_string();
    for (placeholder, value) in values {
        let quoted = shlex::try_quote(value)
            .with_context(|| format!("{placeholder} cannot be quoted for the shell"))?;
        command = command.replace(placeholder, &quoted);
    }
    Ok(command)
}

/// The MCP config file an agent reads (Claude Code's `--mcp-config` format): one stdio server
/// named `pfsense`. It holds the target's credentials, so it is private to the user.
pub fn write_mcp_config(path: &Path, launch: &ServerLaunch) -> Result<()> {
    let env: Map<String, Value> = launch
        .env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let config = json!({
        "mcpServers": {
            "pfsense": {
                "type": "stdio",
                "command": launch.binary,
                "args": launch.args,
                "env": env,
            }
        }
    });
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(&config)?.as_bytes())?;
    Ok(())
}

/// What one agent run may spend.
pub struct Budget {
    pub max_turns: u32,
    pub usd: f64,
    pub timeout: Duration,
}

/// Run a command-template agent on one task; stdout is the transcript.
pub async fn run_command(
    template: &str,
    task: &Task,
    launch: &ServerLaunch,
    run_dir: &Path,
    budget: &Budget,
    running: &Running,
) -> Result<Run> {
    let config = run_dir.join("mcp-config.json");
    running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .files
        .push(config.clone());
    write_mcp_config(&config, launch)?;
    let command = expand(
        template,
        &[
            ("{prompt}", task.prompt.trim().to_string()),
            ("{mcp_config}", config.display().to_string()),
            ("{max_turns}", budget.max_turns.to_string()),
            ("{budget_usd}", format!("{}", budget.usd)),
            ("{run_dir}", run_dir.display().to_string()),
        ],
    )?;
    let transcript = std::fs::File::create(run_dir.join("transcript.jsonl"))?;
    let stderr = std::fs::File::create(run_dir.join("agent-stderr.log"))?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .current_dir(run_dir)
        .stdin(std::process::Stdio::null())
        .stdout(transcript)
        .stderr(stderr)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("starting the agent command")?;
    let pgid = child.id().map(|p| p as i32);
    if let Some(pgid) = pgid {
        running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .process_groups
            .push(pgid);
    }
    let ended = match tokio::time::timeout(budget.timeout, child.wait()).await {
        Ok(status) => match status?.code() {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".to_string(),
        },
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let _ = child.kill().await;
            format!("timed out after {} s", budget.timeout.as_secs())
        }
    };
    // The config holds credentials: it is not kept with the transcript.
    let _ = std::fs::remove_file(&config);
    {
        let mut in_flight = running.lock().unwrap_or_else(|p| p.into_inner());
        in_flight.process_groups.retain(|p| Some(*p) != pgid);
        in_flight.files.retain(|f| f != &config);
    }
    let mut run = Run {
        ended,
        seconds: started.elapsed().as_secs_f64(),
        ..Run::default()
    };
    let output = std::fs::read_to_string(run_dir.join("transcript.jsonl")).unwrap_or_default();
    read_result(&output, &mut run);
    Ok(run)
}

/// The final answer, cost and turns from Claude Code's output (`json` or `stream-json`: the
/// `result` message); any other output counts as the answer as a whole.
fn read_result(output: &str, run: &mut Run) {
    let result = output
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v["type"] == "result");
    match result {
        Some(v) => {
            run.answer = v["result"].as_str().map(str::to_string);
            run.cost_usd = v["total_cost_usd"].as_f64();
            run.turns = v["num_turns"].as_u64();
        }
        None if !output.trim().is_empty() => run.answer = Some(output.trim().to_string()),
        None => {}
    }
}

/// Run a task's reference plan through a real MCP client, in the tool mode users get
/// (compact): listed tools are called by name, the rest through `pfsense_call`, as an agent
/// would after `pfsense_find_tools`.
pub async fn run_replay(
    task: &Task,
    launch: &ServerLaunch,
    run_dir: &Path,
    setup_values: &HashMap<String, Value>,
) -> Result<Run> {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(&launch.binary);
    cmd.env_clear().args(&launch.args);
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    let stderr = std::fs::File::create(run_dir.join("server-stderr.log"))?;
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", launch.binary.display()))?;
    let client = ().serve(transport).await.context("MCP initialize")?;
    let listed: Vec<String> = client
        .peer()
        .list_all_tools()
        .await
        .context("MCP tools/list")?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    let mut transcript = std::fs::File::create(run_dir.join("transcript.jsonl"))?;
    let mut saved: HashMap<String, Value> = setup_values.clone();
    let mut run = Run::default();
    for (index, step) in task.plan.iter().enumerate() {
        let arguments = match substitute(&Value::Object(step.arguments.clone()), &saved) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(missing) => {
                run.deviations.push(format!(
                    "plan step {} ({}): no saved value `{missing}`",
                    index + 1,
                    step.tool
                ));
                continue;
            }
        };
        let direct = step.direct || listed.iter().any(|n| n == &step.tool);
        let params = if direct {
            CallToolRequestParams::new(step.tool.clone()).with_arguments(arguments.clone())
        } else {
            let mut wrapped = Map::new();
            wrapped.insert("name".into(), Value::String(step.tool.clone()));
            wrapped.insert("arguments".into(), Value::Object(arguments.clone()));
            CallToolRequestParams::new("pfsense_call").with_arguments(wrapped)
        };
        let (is_error, content) = match client.peer().call_tool(params).await {
            Ok(result) => {
                let text: String = result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect::<Vec<_>>()
                    .join("\n");
                let structured = result
                    .structured_content
                    .clone()
                    .or_else(|| serde_json::from_str(&text).ok())
                    .unwrap_or(Value::String(text));
                (result.is_error.unwrap_or(false), structured)
            }
            // A protocol error (e.g. an unknown tool called directly) is what the agent sees.
            Err(e) => (true, Value::String(e.to_string())),
        };
        writeln!(
            transcript,
            "{}",
            json!({
                "step": index + 1,
                "tool": step.tool,
                "via": if direct { "direct" } else { "pfsense_call" },
                // Passwords, keys and secrets from the plan or the result stay out of the file.
                "arguments": crate::exercise::redact_args(&Value::Object(arguments.clone())),
                "is_error": is_error,
                "result": crate::exercise::redact_args(&content),
            })
        )?;
        let expected_error = step.expect == Expect::Error;
        if is_error != expected_error {
            let said: String = match &content {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
            .chars()
            .take(300)
            .collect();
            run.deviations.push(format!(
                "plan step {} ({}) was expected to {} but {}: {said}",
                index + 1,
                step.tool,
                if expected_error { "fail" } else { "succeed" },
                if is_error { "failed" } else { "succeeded" },
            ));
        }
        for (name, pointer) in &step.save {
            let pointer = pointer.as_str().unwrap_or_default();
            match content.pointer(pointer) {
                Some(v) => {
                    saved.insert(name.clone(), v.clone());
                }
                None => run.deviations.push(format!(
                    "plan step {} ({}): nothing at `{pointer}` to save as `{name}`",
                    index + 1,
                    step.tool
                )),
            }
        }
    }
    run.answer = match &task.answer {
        Some(template) => match substitute(&Value::String(template.clone()), &saved) {
            Ok(Value::String(s)) => Some(s),
            Ok(other) => Some(other.to_string()),
            Err(missing) => {
                run.deviations
                    .push(format!("answer: no saved value `{missing}`"));
                None
            }
        },
        None => None,
    };
    let _ = client.cancel().await;
    run.ended = "plan finished".into();
    run.seconds = started.elapsed().as_secs_f64();
    Ok(run)
}

/// Replace `${name}` in strings: a string that is exactly one placeholder takes the saved
/// value as it is (a number stays a number); otherwise the value's text is inserted.
pub fn substitute(value: &Value, saved: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !name.contains('}')
            {
                return saved.get(name).cloned().ok_or_else(|| name.to_string());
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let end = after.find('}').ok_or_else(|| after.to_string())?;
                let name = &after[..end];
                let v = saved.get(name).ok_or_else(|| name.to_string())?;
                match v {
                    Value::String(t) => out.push_str(t),
                    other => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute(v, saved))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, saved)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_quote_every_value() {
        let command = expand(
            "agent -p {prompt} --config {mcp_config}",
            &[
                ("{prompt}", "Block 203.0.113.5; don't `rm`".to_string()),
                ("{mcp_config}", "/tmp/a b/c.json".to_string()),
            ],
        )
        .unwrap();
        assert_eq!(
            shlex::split(&command).unwrap(),
            vec![
                "agent",
                "-p",
                "Block 203.0.113.5; don't `rm`",
                "--config",
                "/tmp/a b/c.json"
            ]
        );
        for placeholder in PLACEHOLDERS {
            assert!(
                DEFAULT_AGENT.contains(placeholder) || *placeholder == "{run_dir}",
                "{placeholder}"
            );
        }
    }

    #[test]
    fn a_missing_agent_command_fails_with_what_to_do() {
        let error = check_command("no-such-agent-xyz -p {prompt}")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`no-such-agent-xyz` was not found on PATH"),
            "{error}"
        );
        assert!(error.contains("--agent replay"), "{error}");
        assert!(check_command("/nonexistent/claude {prompt}").is_err());
        assert!(
            check_command("sh -c true")
                .unwrap_err()
                .to_string()
                .contains("{prompt}")
        );
        assert!(check_command("sh -c {prompt}").is_ok());
    }

    #[test]
    fn saved_values_fill_placeholders() {
        let saved: HashMap<String, Value> = [
            ("id".to_string(), json!(3)),
            ("name".to_string(), json!("bt_x")),
        ]
        .into();
        assert_eq!(
            substitute(&json!({"id": "${id}", "d": "rule ${name} #${id}"}), &saved).unwrap(),
            json!({"id": 3, "d": "rule bt_x #3"})
        );
        assert_eq!(substitute(&json!("${nope}"), &saved).unwrap_err(), "nope");
    }

    #[test]
    fn the_result_message_gives_answer_and_cost() {
        let mut run = Run::default();
        read_result(
            "{\"type\":\"system\"}\n{\"type\":\"result\",\"result\":\"Done: rule 3\",\"total_cost_usd\":0.12,\"num_turns\":7}\n",
            &mut run,
        );
        assert_eq!(run.answer.as_deref(), Some("Done: rule 3"));
        assert_eq!(run.cost_usd, Some(0.12));
        assert_eq!(run.turns, Some(7));
    }
}
