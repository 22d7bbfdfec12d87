//! `cargo xtask bank-test [--agent CMD|replay] [--target emulator|vm|URL] [TASKS…]`: runs an
//! agent through realistic firewall tasks (xtask/bank-tasks/*.toml) against a live target,
//! grades each task by the firewall's final state, and counts coverage and failure categories
//! from the server's own audit log.

mod agent;
mod audit;
mod checks;
mod lab_failures;
mod report;
mod target;
mod task;

use anyhow::{Context, Result, bail};
use pfsense_spec::Spec;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELP: &str = "\
Agents:
  replay    run each task's reference plan through a real MCP client (rmcp over stdio). No AI:
            this is what CI runs to keep the pipeline itself tested.
  CMD       a command template run with `sh -c` in the task's run directory, stdout kept as the
            transcript. Placeholders (replaced by shell-quoted values): {prompt} {mcp_config}
            {max_turns} {budget_usd} {run_dir}. The default is Claude Code in print mode:
            claude -p {prompt} --mcp-config {mcp_config} --strict-mcp-config
              --allowedTools mcp__pfsense --output-format stream-json --verbose
              --max-turns {max_turns} --max-budget-usd {budget_usd}
            A command that is not found fails at once, before any target starts.

Targets:
  emulator  an in-process pfsense-emulator (every add-on package), reset before every task
  lab       a pfrest lab (pfrest's own PHP on loopback, crates/pfrest-lab; needs root and PHP
            8.2, no add-on packages); its pristine config is restored before every task
  vm        a throwaway VM from the golden image (--golden); its snapshot is restored before
            every task
  URL       an existing firewall (credentials from PFSENSE_API_KEY or PFSENSE_USERNAME /
            PFSENSE_PASSWORD, certificate from PFSENSE_TLS_FINGERPRINT for the server and
            PFSENSE_CA_CERT or PFSENSE_VERIFY_SSL=false for the checks). Not reset: only the
            tasks' cleanup keeps it tidy. Tasks create objects named bt_*.

Per task: fresh target state, setup (direct REST calls), the agent with the server in its
default (compact) tool mode, PFSENSE_CONFIRM=flag (changes need `confirm: true` from the agent;
nobody is asked), PFSENSE_RATE_LIMIT as --rate-limits, its own audit log; then the verify
checks, cleanup, and the cleanup checks. Everything lands in --report: report.json, report.md,
runs/<task>/{transcript.jsonl, audit.jsonl, server-stderr.log or agent-stderr.log}.
Exits non-zero when any task fails, naming the failed checks.";

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// `replay`, or an agent command template (see below).
    #[arg(long, default_value = agent::DEFAULT_AGENT)]
    pub agent: String,
    /// `emulator`, `lab`, `vm`, or the URL of a firewall.
    #[arg(long, default_value = "emulator")]
    pub target: String,
    /// Where a `--target lab` comes from.
    #[command(flatten)]
    pub lab: crate::lab::LabArgs,
    /// Tasks to run (file stems in --tasks-dir, or paths); default: all.
    pub tasks: Vec<String>,
    /// Where the task files are.
    #[arg(long, default_value = "xtask/bank-tasks")]
    pub tasks_dir: PathBuf,
    /// Where the report and the per-task runs go.
    #[arg(long, default_value = "target/bank")]
    pub report: PathBuf,
    /// The pfsense-mcp binary (default: build it with cargo).
    #[arg(long, env = "PFSENSE_MCP_BIN")]
    pub binary: Option<PathBuf>,
    /// The OpenAPI spec the tools were generated from.
    #[arg(
        long,
        env = "PFSENSE_OPENAPI_SPEC",
        default_value = "openapi-spec.json"
    )]
    pub spec: PathBuf,
    /// Golden image descriptor for --target vm.
    #[arg(long, default_value = "vm/golden.json")]
    pub golden: PathBuf,
    /// Memory of the VM (--target vm); the golden pfSense image wants 2048.
    #[arg(long, default_value_t = 2048)]
    pub vm_memory_mib: u32,
    /// auto, kvm or tcg (--target vm).
    #[arg(long, env = "PFSENSE_VM_ACCEL", default_value = "auto")]
    pub accel: String,
    /// Turns the agent may take per task ({max_turns}).
    #[arg(long, default_value_t = 40)]
    pub max_turns: u32,
    /// Dollars the agent may spend per task ({budget_usd}).
    #[arg(long, default_value_t = 1.0)]
    pub budget_usd: f64,
    /// Seconds per task when the task file does not say.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// The server's rate limits during the run. Each task gets a fresh server, so the limits
    /// apply per task; these leave room for an agent that retries, and still stop a loop.
    #[arg(
        long,
        default_value = "write=60/min,destructive=30/min,dangerous=3/hour"
    )]
    pub rate_limits: String,
    /// Pass when at least this many tasks pass and every failed task is classified (against
    /// the lab: a row of bank/lab_failures.rs); without it, any failed task fails the run.
    #[arg(long)]
    pub min_pass: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    crate::block_on(run_async(args))?
}

async fn run_async(args: Args) -> Result<()> {
    let started = Instant::now();
    let replay = args.agent == "replay";
    if !replay {
        agent::check_command(&args.agent)?;
    }
    let tasks_dir = resolve(&args.tasks_dir);
    let tasks = task::select(&tasks_dir, &args.tasks)?;
    let spec_path = resolve(&args.spec);
    let spec = Arc::new(
        Spec::load(&spec_path)
            .with_context(|| format!("loading the spec {}", spec_path.display()))?,
    );
    check_plans(&tasks, &spec)?;
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => crate::exercise::build_binary()?,
    };
    // The agent runs in the task's directory: the MCP config needs an absolute path.
    let binary = std::fs::canonicalize(&binary)
        .with_context(|| format!("the pfsense-mcp binary {}", binary.display()))?;
    let report_dir = resolve(&args.report);
    let vm = target::VmSettings {
        golden: resolve(&args.golden),
        memory_mib: args.vm_memory_mib,
        accel: args.accel.clone(),
    };
    let (mut target, access) =
        target::Target::start(&args.target, &spec_path, spec.clone(), &vm, &args.lab).await?;
    eprintln!(
        "bank: {} task(s), agent {}, target {}",
        tasks.len(),
        if replay { "replay" } else { "command" },
        target.describe()
    );

    // Ctrl-C or SIGTERM: stop the running agent and remove its MCP config (the VM, if any, is
    // stopped by vm-harness's own hook).
    let running = agent::Running::default();
    let on_signal = running.clone();
    let _hook = vm_harness::vm::on_signal(move || agent::stop_in_flight(&on_signal));

    let mut results = Vec::new();
    for (index, task) in tasks.iter().enumerate() {
        let context = TaskContext {
            args: &args,
            binary: &binary,
            access: &access,
            spec: &spec,
            report_dir: &report_dir,
            running: &running,
        };
        let result = run_task(task, &context, &mut target).await;
        let result = match result {
            Ok(r) => r,
            Err(e) => report::TaskResult {
                id: task.id.clone(),
                module: task.module.clone(),
                kind: task.kind,
                passed: false,
                failures: vec![format!("the run broke: {e:#}")],
                checks: Vec::new(),
                cleanup_checks: Vec::new(),
                run: agent::Run::default(),
                usage: audit::Usage::default(),
                seconds: 0.0,
            },
        };
        eprintln!(
            "bank: [{}/{}] {} {} ({:.1} s, {} calls){}",
            index + 1,
            tasks.len(),
            task.id,
            if result.passed { "pass" } else { "FAIL" },
            result.seconds,
            result.usage.calls,
            if result.passed {
                String::new()
            } else {
                format!(
                    " [agent: {}]: {}",
                    result.run.ended,
                    result.failures.join("; ")
                )
            }
        );
        results.push(result);
    }
    target.stop().await;

    let report = report::Report::new(
        if replay {
            "replay".into()
        } else {
            args.agent.clone()
        },
        args.target.clone(),
        results,
        &spec,
        started.elapsed().as_secs_f64(),
    );
    report.write(&report_dir)?;
    println!("{}", report.totals_line());
    println!(
        "bank-test: report in {}",
        report_dir.join("report.md").display()
    );
    let lab = args.target == "lab";
    let mut unexplained = Vec::new();
    for t in report.tasks.iter().filter(|t| !t.passed) {
        match lab_failures::classify(&t.id).filter(|_| lab) {
            Some((class, why)) => {
                eprintln!("bank: {} fails on the lab: {}: {why}", t.id, class.label())
            }
            None => unexplained.push(format!("{} ({})", t.id, t.failures.join("; "))),
        }
    }
    match args.min_pass {
        Some(min) => {
            if report.tasks_passed < min {
                bail!(
                    "only {} task(s) passed; at least {min} must{}",
                    report.tasks_passed,
                    if unexplained.is_empty() {
                        String::new()
                    } else {
                        format!(". Unclassified failures: {}", unexplained.join(" | "))
                    }
                );
            }
            if !unexplained.is_empty() {
                bail!(
                    "{} task(s) failed without a row in bank/lab_failures.rs: {}",
                    unexplained.len(),
                    unexplained.join(" | ")
                );
            }
        }
        None => {
            let failed: Vec<String> = report
                .tasks
                .iter()
                .filter(|t| !t.passed)
                .map(|t| format!("{} ({})", t.id, t.failures.join("; ")))
                .collect();
            if !failed.is_empty() {
                bail!("{} task(s) failed: {}", failed.len(), failed.join(" | "));
            }
        }
    }
    Ok(())
}

/// Paths relative to the workspace root when run through `cargo xtask` from elsewhere.
fn resolve(path: &Path) -> PathBuf {
    if path.is_absolute() || path.exists() {
        path.to_path_buf()
    } else {
        crate::spec::workspace_root().join(path)
    }
}

/// Every tool a reference plan names exists in the spec (or is one of the server's own tools),
/// so a typo in a task file is caught before anything runs. Adversarial plans may call a
/// made-up tool on purpose: those steps say `expect = "error"`.
fn check_plans(tasks: &[task::Task], spec: &Spec) -> Result<()> {
    let mut problems = Vec::new();
    for t in tasks {
        for (i, step) in t.plan.iter().enumerate() {
            let known = spec.operation(&step.tool).is_some()
                || step.tool.starts_with("pfsense_") && SERVER_TOOLS.contains(&step.tool.as_str());
            if !known && step.expect != task::Expect::Error {
                problems.push(format!(
                    "{} plan step {}: no tool `{}`",
                    t.id,
                    i + 1,
                    step.tool
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "task files name tools that do not exist: {}",
            problems.join("; ")
        );
    }
    Ok(())
}

/// The server's own tools (not generated from the spec).
pub const SERVER_TOOLS: &[&str] = &[
    "pfsense_find_tools",
    "pfsense_describe_tool",
    "pfsense_call",
    "pfsense_list_changes",
    "pfsense_undo",
    "pfsense_confirm_changes",
    "pfsense_health",
    "pfsense_firewall_log",
    "pfsense_explain_traffic",
    "pfsense_block_addresses",
    "pfsense_diagnose",
    "pfsense_health_report",
    "pfsense_security_audit",
];

/// What every task run shares.
struct TaskContext<'a> {
    args: &'a Args,
    binary: &'a Path,
    access: &'a target::Access,
    spec: &'a Spec,
    report_dir: &'a Path,
    running: &'a agent::Running,
}

async fn run_task(
    task: &task::Task,
    context: &TaskContext<'_>,
    target: &mut target::Target,
) -> Result<report::TaskResult> {
    let TaskContext {
        args,
        binary,
        access,
        spec,
        report_dir,
        running,
    } = *context;
    let started = Instant::now();
    let run_dir = report_dir.join("runs").join(&task.id);
    let _ = std::fs::remove_dir_all(&run_dir);
    std::fs::create_dir_all(&run_dir)?;
    target.reset(access).await.context("resetting the target")?;
    let mut failures = Vec::new();

    let mut saved: HashMap<String, Value> = HashMap::new();
    for (i, step) in task.setup.iter().enumerate() {
        if let Err(e) = http_step(access, step, &mut saved).await {
            failures.push(format!("setup step {} failed: {e}", i + 1));
        }
    }

    let audit_path = run_dir.join("audit.jsonl");
    let mut env = access.server_env.clone();
    env.extend([
        (
            "PFSENSE_AUDIT_LOG".to_string(),
            audit_path.display().to_string(),
        ),
        ("PFSENSE_JOURNAL".to_string(), "memory".to_string()),
        // The agent confirms with `confirm: true`; nobody is there to answer elicitation.
        ("PFSENSE_CONFIRM".to_string(), "flag".to_string()),
        ("PFSENSE_RATE_LIMIT".to_string(), args.rate_limits.clone()),
    ]);
    if task.allow_dangerous {
        env.push(("PFSENSE_ALLOW_DANGEROUS".to_string(), "true".to_string()));
    }
    let launch = agent::ServerLaunch {
        binary: binary.to_path_buf(),
        args: Vec::new(),
        env,
    };
    let run = if !failures.is_empty() {
        agent::Run {
            ended: "not run: setup failed".into(),
            ..agent::Run::default()
        }
    } else if args.agent == "replay" {
        agent::run_replay(task, &launch, &run_dir, &saved).await?
    } else {
        agent::run_command(
            &args.agent,
            task,
            &launch,
            &run_dir,
            &agent::Budget {
                max_turns: args.max_turns,
                usd: args.budget_usd,
                timeout: Duration::from_secs(task.timeout_secs.unwrap_or(args.timeout)),
            },
            running,
        )
        .await?
    };
    failures.extend(run.deviations.iter().cloned());

    let lines = audit::read(&audit_path)?;
    let usage = audit::usage(&lines, spec);
    let mut checks = Vec::new();
    for (i, check) in task.verify.iter().enumerate() {
        let outcome = checks::run(check, access, &lines, run.answer.as_deref(), spec).await;
        if let Err(message) = &outcome {
            failures.push(format!(
                "check {} ({}) failed: {message}",
                i + 1,
                check.label()
            ));
        }
        checks.push(report::CheckResult {
            check: check.label(),
            passed: outcome.is_ok(),
            message: outcome.err(),
        });
    }

    target.settle().await;
    for (i, step) in task.cleanup.iter().enumerate() {
        if let Err(e) = http_step(access, step, &mut saved).await {
            failures.push(format!("cleanup step {} failed: {e}", i + 1));
        }
    }
    let mut cleanup_checks = Vec::new();
    for check in task.cleanup_checks() {
        let outcome = checks::run(&check, access, &lines, run.answer.as_deref(), spec).await;
        if let Err(message) = &outcome {
            failures.push(format!(
                "after cleanup, {} failed: {message}",
                check.label()
            ));
        }
        cleanup_checks.push(report::CheckResult {
            check: check.label(),
            passed: outcome.is_ok(),
            message: outcome.err(),
        });
    }

    Ok(report::TaskResult {
        id: task.id.clone(),
        module: task.module.clone(),
        kind: task.kind,
        passed: failures.is_empty(),
        failures,
        checks,
        cleanup_checks,
        run,
        usage,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One setup or cleanup call; `${name}` takes values saved by earlier steps.
async fn http_step(
    access: &target::Access,
    step: &task::HttpStep,
    saved: &mut HashMap<String, Value>,
) -> Result<(), String> {
    let fill = |v: &Value| agent::substitute(v, saved).map_err(|n| format!("no saved value `{n}`"));
    let path = match fill(&Value::String(step.path.clone()))? {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let query: Option<Map<String, Value>> = match &step.query {
        Some(q) => match fill(&Value::Object(q.clone()))? {
            Value::Object(m) => Some(m),
            _ => None,
        },
        None => None,
    };
    let body = match &step.body {
        Some(b) => Some(fill(b)?),
        None => None,
    };
    let answer = access
        .call(&step.method, &path, query.as_ref(), body.as_ref())
        .await
        .map_err(|e| format!("{e:#}"))?;
    if !answer.ok() {
        if step.may_fail {
            return Ok(());
        }
        return Err(format!("{} {path}: {}", step.method, answer.summary()));
    }
    for (name, pointer) in &step.save {
        let pointer = pointer.as_str().unwrap_or_default();
        match answer.data().pointer(pointer) {
            Some(v) => {
                saved.insert(name.clone(), v.clone());
            }
            None => {
                return Err(format!(
                    "{} {path}: nothing at `{pointer}` to save",
                    step.method
                ));
            }
        }
    }
    Ok(())
}
