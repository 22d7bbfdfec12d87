//! The MCP conformance suite against `pfsense-mcp --sandbox --http`, on both protocol revisions
//! the server and a suite release can speak:
//! - 2025-11-25 (initialize, sessions): @modelcontextprotocol/conformance@0.1.16, every
//!   scenario; expected failures in tests/conformance/expected-failures.yml.
//! - 2026-07-28 (stateless: `server/discover`, per-request `_meta`, standard headers, caching,
//!   input-required results): only the suite's pre-release 0.2.0-alpha.12 has these scenarios
//!   (`--spec-version 2026-07-28`); rmcp 3.9 serves the revision for us. Expected failures in
//!   tests/conformance/expected-failures-2026-07-28.yml.
//!
//! Not run on its own: 2025-06-18 (and older). In both suite releases `--spec-version
//! 2025-06-18` only selects scenarios and the wire schema; the suite's client (the v1 TypeScript
//! SDK) still initializes with 2025-11-25, so nothing would speak 2025-06-18 to the server.
//! (tests/tests/cli.rs and the quick-start step initialize with 2025-06-18.)
//!
//! Listed scenarios need the suite's fixture tools, resources or prompts, with the reason
//! beside each; every other one must pass, and a listed one that starts passing fails the run
//! too (the suite reports it stale).

use serde_json::Value;
use std::path::Path;
use tests::http::HttpServer;
use tests::node;

/// Every check of every scenario in the suite's output directory: (scenario dir, check).
fn checks(out: &Path) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(out).expect("the suite wrote results") {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("checks.json")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let list: Vec<Value> = serde_json::from_str(&text).expect("checks.json is JSON");
        all.extend(list.into_iter().map(|c| (name.clone(), c)));
    }
    all
}

fn status<'a>(checks: &'a [(String, Value)], scenario: &str, id: &str) -> Vec<&'a str> {
    checks
        .iter()
        .filter(|(dir, c)| dir.starts_with(&format!("server-{scenario}-")) && c["id"] == id)
        .filter_map(|(_, c)| c["status"].as_str())
        .collect()
}

/// Runs the suite installed in `suite_dir` (`--suite all` plus `extra`) against a fresh
/// `--sandbox --http` server with the `expected` baseline; every check and the summary.
fn run_suite(suite_dir: &Path, expected: &str, extra: &[&str]) -> (Vec<(String, Value)>, String) {
    let tools = node::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    // Loopback without a token: the suite sends no Authorization header.
    let server = HttpServer::start(
        &["--sandbox", "--http", "127.0.0.1:0"],
        &[],
        &dir.path().join("stderr.log"),
    );
    let out = dir.path().join("results");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(expected);
    let mut cmd = node::npm_bin(suite_dir, "conformance");
    // Node 22 from the pinned tools (the suite needs it; the system's may be older).
    let path = std::env::var("PATH").unwrap_or_default();
    let node_dir = node::node_bin(&tools);
    cmd.env(
        "PATH",
        format!("{}:{path}", node_dir.parent().unwrap().display()),
    );
    let run = cmd
        .args(["server", "--suite", "all", "--url", &server.mcp_url()])
        .args(extra)
        .arg("--expected-failures")
        .arg(&expected)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run the conformance suite");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let summary = stdout
        .split("=== SUMMARY ===")
        .nth(1)
        .unwrap_or(&stdout)
        .to_string();
    assert!(
        run.status.success(),
        "conformance suite failed:\n{summary}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        server.stderr()
    );
    (checks(&out), summary)
}

#[test]
fn conformance_suite_passes_every_scenario_that_needs_no_fixture() {
    if node::skipped("conformance suite") {
        return;
    }
    let tools = node::ensure_installed();
    let (checks, summary) = run_suite(&tools, "expected-failures.yml", &[]);
    // The scenarios that matter ran and passed (not merely went unreported).
    ran_and_passed(
        &checks,
        &summary,
        &[
            "server-initialize",
            "ping",
            "tools-list",
            "logging-set-level",
            "dns-rebinding-protection",
            "server-sse-multiple-streams",
            "server-sse-polling",
        ],
    );
    // server-sse-polling is listed only because its resume check needs the fixture tool
    // test_reconnection; the checks that need no fixture must succeed.
    for id in ["server-sse-priming-event", "server-sse-retry-field"] {
        assert_eq!(
            status(&checks, "server-sse-polling", id),
            ["SUCCESS"],
            "{id}:\n{summary}"
        );
    }
    let polling_failures: Vec<&Value> = checks
        .iter()
        .filter(|(d, c)| d.starts_with("server-server-sse-polling-") && c["status"] == "FAILURE")
        .map(|(_, c)| c)
        .collect();
    assert!(polling_failures.is_empty(), "{polling_failures:?}");
}

#[test]
fn conformance_suite_2026_07_28_passes_every_scenario_that_needs_no_fixture() {
    if node::skipped("conformance suite 2026-07-28") {
        return;
    }
    let suite = node::ensure_conformance_next();
    let (checks, summary) = run_suite(
        &suite,
        "expected-failures-2026-07-28.yml",
        &["--spec-version", "2026-07-28"],
    );
    ran_and_passed(
        &checks,
        &summary,
        &[
            "server-stateless",
            "tools-list",
            "completion-complete",
            "caching",
            "http-header-validation",
            "dns-rebinding-protection",
            "server-sse-multiple-streams",
            "input-required-result-unsupported-methods",
            "input-required-result-validate-input",
        ],
    );
    // server-stateless is listed only for the checks that need the suite's diagnostic tools;
    // the rest (discover, per-request _meta, the prompts capability) must succeed.
    for id in [
        "sep-2575-server-implements-discover",
        "sep-2575-server-declares-prompts-in-discover",
        "sep-2575-discover-capabilities-match-handlers",
    ] {
        assert_eq!(
            status(&checks, "server-stateless", id),
            ["SUCCESS"],
            "{id}:\n{summary}"
        );
    }
    for scenario in ["server-stateless", "http-custom-header-server-validation"] {
        let untestable_only = checks
            .iter()
            .filter(|(d, c)| {
                d.starts_with(&format!("server-{scenario}-")) && c["status"] == "FAILURE"
            })
            .all(|(_, c)| {
                c["errorMessage"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Not testable"))
            });
        assert!(
            untestable_only,
            "{scenario} failed a check that needs no fixture:\n{summary}"
        );
    }
}

/// Each scenario ran and had at least one passing check (not merely went unreported).
fn ran_and_passed(checks: &[(String, Value)], summary: &str, scenarios: &[&str]) {
    for scenario in scenarios {
        assert!(
            checks
                .iter()
                .any(|(d, c)| d.starts_with(&format!("server-{scenario}-"))
                    && c["status"] == "SUCCESS"),
            "{scenario} did not run or had no passing check:\n{summary}"
        );
    }
}
