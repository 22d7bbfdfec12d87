//! Every tool schema passes the MCP Inspector CLI's `--strict` portability lint.

use serde_json::Value;

fn lint(extra_args: &[&str]) -> (usize, String) {
    let dir = tests::node::ensure_installed();
    let bin = tests::binary::pfsense_mcp();
    let mut cmd = tests::node::npm_bin(&dir, "mcp-inspector");
    cmd.arg("--cli").arg(&bin).args(extra_args).args([
        "-e",
        // Never contacted: tools/list needs no firewall.
        "PFSENSE_HOST=http://127.0.0.1:9",
        "-e",
        "PFSENSE_API_KEY=unused",
        "--method",
        "tools/list",
        "--strict",
    ]);
    let out = cmd.output().expect("run the Inspector CLI");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "Inspector --strict failed (exit {:?}): {stderr}",
        out.status.code()
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("tools/list JSON");
    let count = listed["tools"].as_array().map(Vec::len).unwrap_or(0);
    (count, stderr)
}

#[test]
fn all_tool_schemas_pass_the_strict_lint() {
    if tests::node::skipped("all_tool_schemas_pass_the_strict_lint") {
        return;
    }
    // --allow-dangerous so that all 677 generated tools are listed and linted.
    let (count, stderr) = lint(&["--allow-dangerous", "--tool-mode", "full"]);
    assert!(count >= 677, "{count} tools listed");
    assert!(
        !stderr.contains("Warning: tool"),
        "portability warnings: {stderr}"
    );
    let (count, _) = lint(&["--read-only", "--tool-mode", "full"]);
    // 236 reading tools plus our own reads (health, operator tools, audit, change list).
    assert!((236..=250).contains(&count), "{count} tools listed");
    let (count, _) = lint(&["--tool-mode", "compact"]);
    assert!((20..=40).contains(&count), "{count} tools listed");
}
