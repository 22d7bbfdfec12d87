//! The MCP conformance suite (@modelcontextprotocol/conformance@0.1.16, every scenario) against
//! `pfsense-mcp --sandbox --http`. Scenarios that need the suite's fixture tools, resources or
//! prompts are in tests/conformance/expected-failures.yml with the reason; every other one must
//! pass, and a listed one that starts passing fails the run too (the suite reports it stale).

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

#[test]
fn conformance_suite_passes_every_scenario_that_needs_no_fixture() {
    if node::skipped("conformance suite") {
        return;
    }
    let tools = node::ensure_installed();
    let dir = tempfile::tempdir().unwrap();
    // Loopback without a token: the suite sends no Authorization header.
    let server = HttpServer::start(
        &["--sandbox", "--http", "127.0.0.1:0"],
        &[],
        &dir.path().join("stderr.log"),
    );
    let out = dir.path().join("results");
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/expected-failures.yml");
    let run = node::npm_bin(&tools, "conformance")
        .args(["server", "--suite", "all", "--url", &server.mcp_url()])
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

    let checks = checks(&out);
    // The scenarios that matter ran and passed (not merely went unreported).
    for scenario in [
        "server-initialize",
        "ping",
        "tools-list",
        "logging-set-level",
        "dns-rebinding-protection",
        "server-sse-multiple-streams",
        "server-sse-polling",
    ] {
        assert!(
            checks
                .iter()
                .any(|(d, c)| d.starts_with(&format!("server-{scenario}-"))
                    && c["status"] == "SUCCESS"),
            "{scenario} did not run or had no passing check:\n{summary}"
        );
    }
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
