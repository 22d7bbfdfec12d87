//! `cargo xtask bank-test`: a reference plan broken on purpose (it forgets to apply, or leaves
//! an object behind) fails its task with a message naming the check; a missing agent command
//! fails at once; a command agent gets an MCP config a real MCP client can use.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn task_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../xtask/bank-tasks")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The same task file with one plan step taken out (the step must be in the file).
fn without(text: &str, step: &str) -> String {
    assert!(
        text.contains(step),
        "the task file no longer has the step {step:?}"
    );
    text.replacen(step, "", 1)
}

/// `cargo xtask bank-test` (the built xtask binary) on these tasks, with this report
/// directory, agent and target, and `extra_path` first on PATH.
fn bank_command(
    tasks_dir: &Path,
    report: &Path,
    agent: &str,
    target: &str,
    extra_path: Option<PathBuf>,
) -> Command {
    let mut cmd = Command::new(tests::binary::workspace_binary("xtask", "xtask"));
    cmd.args(["bank-test", "--target", target, "--agent", agent])
        .arg("--tasks-dir")
        .arg(tasks_dir)
        .arg("--report")
        .arg(report)
        .arg("--binary")
        .arg(tests::binary::pfsense_mcp())
        .arg("--spec")
        .arg(tests::spec_path());
    if let Some(dir) = extra_path {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![dir];
        dirs.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    }
    cmd
}

fn bank_test(tasks_dir: &Path, report: &Path, agent: &str, extra_path: Option<PathBuf>) -> Output {
    bank_command(tasks_dir, report, agent, "emulator", extra_path)
        .output()
        .expect("run cargo xtask bank-test")
}

fn report_json(report: &Path) -> Value {
    let text = std::fs::read_to_string(report.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("report.json is JSON")
}

fn task<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == id))
        .unwrap_or_else(|| panic!("no task {id} in the report"))
}

#[test]
fn broken_reference_plans_fail_naming_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    // Forgets to apply: the rule is saved but pending.
    std::fs::write(
        tasks.join("forgets-to-apply.toml"),
        without(
            &task_file("firewall-block-wan-address"),
            "[[plan]]\ntool = \"pfsense_firewall_apply\"\narguments = { confirm = true }\n",
        ),
    )
    .unwrap();
    // Leaves the alias behind: the rule is deleted, the alias is not.
    std::fs::write(
        tasks.join("leaves-alias-behind.toml"),
        without(
            &task_file("firewall-remove-rule-and-alias"),
            "[[plan]]\ntool = \"pfsense_delete_firewall_alias\"\narguments = { id = \"${alias_id}\", confirm = true }\n",
        ),
    )
    .unwrap();
    // Unbroken, as a control.
    std::fs::write(
        tasks.join("intact.toml"),
        task_file("firewall-update-alias"),
    )
    .unwrap();
    let report = tmp.path().join("report");
    let out = bank_test(&tasks, &report, "replay", None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "broken tasks must fail the run: {stdout}{stderr}"
    );
    assert!(
        stderr.contains("2 task(s) failed"),
        "the error names how many failed: {stderr}"
    );
    assert!(stdout.contains("bank-test: 1/3 tasks passed"), "{stdout}");

    let markdown = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    for section in [
        "## Tasks",
        "## Coverage (from the audit log)",
        "## Failure categories",
        "## Worst tools",
        "## Suggestions",
        "| forgot_to_apply | 0 | 1 |",
        "| forgets-to-apply | firewall | workflow | **FAIL** |",
        "2 task(s) failed their checks (forgets-to-apply, leaves-alias-behind)",
        "`pfsense_create_firewall_rule`: 1 change(s) were left pending",
    ] {
        assert!(
            markdown.contains(section),
            "report.md lacks {section:?}:\n{markdown}"
        );
    }
    let report = report_json(&report);
    let forgot = task(&report, "forgets-to-apply");
    assert_eq!(forgot["passed"], false);
    let failures = forgot["failures"].to_string();
    assert!(
        failures.contains(
            "check 2 (applied /api/v2/firewall/apply) failed: changes are saved but not applied"
        ),
        "{failures}"
    );
    // The audit log shows it too: the change was left pending.
    assert_eq!(
        forgot["usage"]["failures"]["forgot_to_apply"], 1,
        "{forgot}"
    );
    // The rule itself is right, and cleanup removed it.
    assert_eq!(forgot["checks"][0]["passed"], true);
    assert!(
        forgot["cleanup_checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true),
        "{forgot}"
    );

    let left = task(&report, "leaves-alias-behind");
    assert_eq!(left["passed"], false);
    let failures = left["failures"].to_string();
    assert!(
        failures.contains("check 2 (absent /api/v2/firewall/aliases [name starts with \\\"bt_old\\\"]) failed: 1 object(s) left behind"),
        "{failures}"
    );
    assert!(failures.contains("bt_old_hosts"), "{failures}");
    assert_eq!(left["checks"][0]["passed"], true, "the rule was deleted");

    let intact = task(&report, "intact");
    assert_eq!(intact["passed"], true, "{intact}");
    // Coverage is counted from the audit log: the tools the plans called.
    let calls = &report["calls_by_tool"];
    assert_eq!(calls["pfsense_update_firewall_alias"], 1, "{calls}");
    assert_eq!(calls["pfsense_delete_firewall_rule"], 1, "{calls}");
    assert!(
        calls.get("pfsense_delete_firewall_alias").is_none(),
        "{calls}"
    );
}

#[test]
fn a_missing_agent_command_fails_at_once_with_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report");
    let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/bank-tasks");
    let out = bank_test(&tasks, &report, "no-such-agent-7f3 -p {prompt}", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("the agent command `no-such-agent-7f3` was not found on PATH"),
        "{stderr}"
    );
    assert!(stderr.contains("--agent replay"), "{stderr}");
    assert!(!report.exists(), "nothing ran, so no report");
}

/// A command agent: a shell script that drives the server through the MCP Inspector CLI (a real
/// MCP client) using the MCP config the bank wrote, then prints a Claude-Code-style result.
#[test]
fn a_command_agent_uses_the_mcp_config_and_is_graded_by_state() {
    if tests::node::skipped("a_command_agent_uses_the_mcp_config_and_is_graded_by_state") {
        return;
    }
    let npm = tests::node::ensure_installed();
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let inspector = npm.join("node_modules/.bin/mcp-inspector");
    let node_dir = tests::node::node_bin(&npm).parent().unwrap().to_path_buf();
    let agent = bin.join("fake-agent");
    std::fs::write(
        &agent,
        format!(
            r#"#!/bin/sh
# $1: the prompt, $2: the MCP config written by the bank.
set -e
case "$1" in *203.0.113.5*) ;; *) echo "prompt not passed: $1" >&2; exit 2;; esac
PATH="{node}:$PATH"
"{inspector}" --cli --config "$2" --server pfsense --method tools/call --tool-name pfsense_create_firewall_rule \
  --tool-arg type=block --tool-arg 'interface=["wan"]' --tool-arg ipprotocol=inet \
  --tool-arg source=203.0.113.5 --tool-arg destination=any --tool-arg descr=bt_block_scanner \
  --tool-arg confirm=true
echo '{{"type":"result","result":"Blocked 203.0.113.5 with rule bt_block_scanner.","total_cost_usd":0.01,"num_turns":3}}'
"#,
            node = node_dir.display(),
            inspector = inspector.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("block.toml"),
        task_file("firewall-block-wan-address"),
    )
    .unwrap();
    let report = tmp.path().join("report");
    let out = bank_test(
        &tasks,
        &report,
        "fake-agent {prompt} {mcp_config}",
        Some(bin.clone()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The agent made the rule but never applied it: the rule exists, and the task fails on the
    // apply check only. pfrest's apply status shows nothing pending after a rule create (the
    // emulator answers as the lab does), so the check finds it in the audit log, which also
    // counts it as forgotten.
    assert!(!out.status.success(), "{stdout}{stderr}");
    let report_value = report_json(&report);
    let block = task(&report_value, "block");
    assert_eq!(block["checks"][0]["passed"], true, "{block}");
    assert_eq!(block["checks"][1]["passed"], false, "{block}");
    assert_eq!(block["usage"]["tools"]["pfsense_create_firewall_rule"], 1);
    assert_eq!(block["usage"]["failures"]["forgot_to_apply"], 1);
    assert_eq!(
        block["run"]["answer"],
        "Blocked 203.0.113.5 with rule bt_block_scanner."
    );
    assert_eq!(block["run"]["cost_usd"], 0.01);
    assert_eq!(block["run"]["ended"], "exit 0");
    let run_dir = report.join("runs/block");
    assert!(run_dir.join("transcript.jsonl").is_file());
    assert!(
        !run_dir.join("mcp-config.json").exists(),
        "the MCP config holds credentials and is removed after the run"
    );
}

/// `--target vm`: a QEMU guest from a golden image (here the emulator guest the VM tests use),
/// its snapshot restored before every task. The first task leaves an alias behind on purpose
/// (no cleanup); the second passes only if the restore removed it.
#[test]
fn a_vm_target_restores_its_snapshot_before_every_task() {
    if !tests::vm::vm_tests_enabled() {
        return;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-guest-cache");
    let descriptor = tests::vm::emulator_guest(&cache);
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("a-leaves-an-alias.toml"),
        r#"
module = "firewall"
kind = "workflow"
prompt = "Create the host alias bt_vm_probe with 192.0.2.55."
[[plan]]
tool = "pfsense_create_firewall_alias"
arguments = { name = "bt_vm_probe", type = "host", address = ["192.0.2.55"], apply = true, confirm = true }
[[verify]]
check = "exists"
path = "/api/v2/firewall/aliases"
match = { name = "bt_vm_probe" }
removed_by_cleanup = false
"#,
    )
    .unwrap();
    std::fs::write(
        tasks.join("b-starts-fresh.toml"),
        r#"
module = "firewall"
kind = "investigation"
prompt = "Which aliases exist?"
[[plan]]
tool = "pfsense_list_firewall_aliases"
[[verify]]
check = "absent"
path = "/api/v2/firewall/aliases"
match = { name = "bt_vm_probe" }
[[verify]]
check = "no_changes"
"#,
    )
    .unwrap();
    let report = tmp.path().join("report");
    let out = bank_command(&tasks, &report, "replay", "vm", None)
        .args(["--vm-memory-mib", "512", "--golden"])
        .arg(&descriptor)
        // The harness keeps its runs under $TMPDIR/pfsense-vm-runs: isolate them here.
        .env("TMPDIR", tmp.path())
        .output()
        .expect("run cargo xtask bank-test --target vm");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("bank-test: 2/2 tasks passed"), "{stdout}");
    let report = report_json(&report);
    assert_eq!(task(&report, "b-starts-fresh")["passed"], true);
    assert_eq!(report["calls_by_tool"]["pfsense_create_firewall_alias"], 1);
}

#[test]
fn a_plan_naming_a_tool_that_does_not_exist_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("typo.toml"),
        task_file("firewall-block-wan-address")
            .replace("pfsense_firewall_apply", "pfsense_firewal_apply"),
    )
    .unwrap();
    let report = tmp.path().join("report");
    let out = bank_test(&tasks, &report, "replay", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("typo plan step 2: no tool `pfsense_firewal_apply`"),
        "{stderr}"
    );
    assert!(!report.exists(), "nothing ran, so no report");
}

/// Ctrl-C during an agent run stops the agent's whole process group and removes the MCP config
/// (it holds the target's credentials).
#[test]
fn an_interrupted_run_stops_the_agent_and_removes_its_mcp_config() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pid_file = tmp.path().join("agent.pid");
    let agent = bin.join("slow-agent");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\n# $1 prompt, $2 MCP config\ncp \"$2\" /dev/null\nsleep 600 &\necho $! > '{}'\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::write(
        tasks.join("block.toml"),
        task_file("firewall-block-wan-address"),
    )
    .unwrap();
    let report = tmp.path().join("report");
    let mut child = bank_command(
        &tasks,
        &report,
        "slow-agent {prompt} {mcp_config}",
        "emulator",
        Some(bin.clone()),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let sleeper: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "bank-test ended before its agent started"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let config = report.join("runs/block/mcp-config.json");
    assert!(config.is_file(), "the agent gets its MCP config");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "an interrupted run does not succeed");
    // The sleeper is in the agent's process group: it was stopped with the agent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Path::new(&format!("/proc/{sleeper}")).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !Path::new(&format!("/proc/{sleeper}")).exists(),
        "the agent's process group is still running"
    );
    assert!(!config.exists(), "the MCP config was left behind");
}

/// `--target URL`: an existing firewall (here an emulator the test starts) is never reset, so
/// the second run of the same task passes only because the first one's cleanup removed
/// everything (otherwise the alias name is taken: FIELD_MUST_BE_UNIQUE).
#[tokio::test(flavor = "multi_thread")]
async fn a_url_target_is_kept_tidy_by_cleanup_alone() {
    let mut config = pfsense_emulator::EmulatorConfig::new(tests::spec_path());
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    let emulator = pfsense_emulator::start(config).await.expect("emulator");
    let tmp = tempfile::tempdir().unwrap();
    let tasks = tmp.path().join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    for name in ["first", "second"] {
        std::fs::write(
            tasks.join(format!("{name}.toml")),
            task_file("firewall-alias-blocklist"),
        )
        .unwrap();
    }
    let report = tmp.path().join("report");
    let mut cmd = bank_command(&tasks, &report, "replay", emulator.url(), None);
    cmd.env("PFSENSE_API_KEY", emulator.api_key().expect("a key"))
        .env("PFSENSE_TLS_FINGERPRINT", emulator.fingerprint())
        // The checks' own REST reads: the emulator's certificate is self-signed.
        .env("PFSENSE_VERIFY_SSL", "false");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run bank-test"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("bank-test: 2/2 tasks passed"), "{stdout}");
    assert!(
        stderr.contains("not reset; cleanup only"),
        "the run says the target is not reset: {stderr}"
    );
    // Both runs created the alias (the second could, since the first cleaned up); the
    // cleanup checks of both runs found nothing named bt_* left.
    let created = emulator
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v2/firewall/alias" && r.status == 200)
        .count();
    assert_eq!(created, 2, "each run created the alias once");
    emulator.shutdown().await;
}
