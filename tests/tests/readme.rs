//! The numbers the READMEs state about the tools agree with the real binary: `pfsense-mcp
//! tools --json` for the catalogue, and tools/list over MCP for what compact mode lists.

use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tests::mcp::McpSession;

fn read(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(path)).expect("README");
    // Sentences wrap anywhere: compare with single spaces.
    Regex::new(r"\s+")
        .unwrap()
        .replace_all(&text, " ")
        .into_owned()
}

struct Facts {
    total: usize,
    reads: usize,
    by_verb: BTreeMap<String, usize>,
    by_module: BTreeMap<String, usize>,
    compact_listed: usize,
    compact_generated: usize,
}

async fn facts() -> Facts {
    let bin = tests::binary::pfsense_mcp();
    let out = std::process::Command::new(&bin)
        .args(["tools", "--json"])
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success());
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut by_verb = BTreeMap::new();
    let mut by_module = BTreeMap::new();
    for t in &tools {
        *by_verb
            .entry(t["verb"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
        *by_module
            .entry(t["module"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    let generated: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let session = McpSession::spawn(&bin, &["--sandbox"], &[]).await.unwrap();
    let listed = session.list_tools().await.unwrap();
    session.close().await;
    Facts {
        total: tools.len(),
        reads: tools.iter().filter(|t| t["method"] == "GET").count(),
        by_verb,
        by_module,
        compact_listed: listed.len(),
        compact_generated: listed
            .iter()
            .filter(|t| generated.contains(&t.name.as_ref()))
            .count(),
    }
}

fn expect(text: &str, file: &str, phrase: String) {
    assert!(text.contains(&phrase), "{file} should say `{phrase}`");
}

#[tokio::test]
async fn tool_counts_in_the_readmes_match_the_binary() {
    let f = facts().await;
    let readme = read("README.md");
    let r = "README.md";
    expect(&readme, r, format!("{} tools for REST API v2.7.1", f.total));
    expect(
        &readme,
        r,
        format!(
            "lists {} tools in about 5k tokens: {} daily ones, find / describe / call",
            f.compact_listed, f.compact_generated
        ),
    );
    expect(&readme, r, format!("full mode lists all {} in", f.total));
    expect(&readme, r, format!("every one of the {} tools", f.total));
    expect(&readme, r, format!("exactly the {} reading tools", f.reads));
    expect(&readme, r, format!("drives all {} tools", f.total));
    // The catalogue table: every verb and module row.
    let label = |verb: &str| match verb {
        "action" => "action (`post_…`)".to_string(),
        "apply_status" => "apply status".to_string(),
        v => v.to_string(),
    };
    for (verb, n) in &f.by_verb {
        expect(&readme, r, format!("| {} | {n} |", label(verb)));
    }
    for (module, n) in &f.by_module {
        expect(&readme, r, format!("| {module} | {n} |"));
    }
    // No other total anywhere: every number in the catalogue's range is the total, except the
    // exerciser's thresholds and results (`--min-ok 660`, `660 against`, `670 ok`) and the
    // tool counts of later REST API versions (`v2.10.0 (694 tools)` in the spec diff).
    let numbers =
        Regex::new(r"(--min-ok |v2\.(?:8|9|1\d)\.\d+ \()?\b(6\d\d)\b( ok| against| tools\))?")
            .unwrap();
    for file in ["README.md", "xtask/README.md", "tests/README.md"] {
        let text = read(file);
        for c in numbers.captures_iter(&text) {
            let n: usize = c[2].parse().unwrap();
            let exerciser = c.get(1).is_some() || c.get(3).is_some_and(|m| m.as_str() != " tools)");
            assert!(
                n == f.total || exerciser,
                "{file} says {n} where the catalogue has {} tools",
                f.total
            );
        }
    }
    let crate_readme = read("crates/pfsense-mcp/README.md");
    expect(
        &crate_readme,
        "crates/pfsense-mcp/README.md",
        format!(
            "lists the {} tools of `discovery::COMPACT_CORE`",
            f.compact_generated
        ),
    );
}
