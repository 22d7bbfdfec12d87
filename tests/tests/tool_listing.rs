//! Issue 14: what every client sees in `tools/list`, in each mode (compact, full, read-only,
//! fleet), through a real MCP client and the real binary against the emulator:
//!
//! - every name fits Claude Code's 64 characters after `mcp__pfsense__`;
//! - every input and output schema is a valid JSON Schema under 2020-12 and draft 7, and every
//!   output schema's root is an object (MCP 2025-11-25);
//! - the server's own arguments are declared wherever the server accepts them: `confirm` and
//!   `expect_state` (as the full catalogue has them), `firewall` on every tool of a fleet;
//! - in full mode every tool is called (reads with their required arguments, changes without
//!   `confirm`, so only previews, plus one confirmed change) and each structured content,
//!   error results included (the TypeScript client validates those too), matches the tool's
//!   output schema.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use tests::mcp::{McpSession, is_error, structured, text};

/// How Claude Code names a tool of the server `pfsense`; the whole name must fit 64 characters.
const CLAUDE_CODE_PREFIX: &str = "mcp__pfsense__";

/// The full input schemas, as `pfsense-mcp tools --json` prints them.
fn catalogue(bin: &Path) -> HashMap<String, Value> {
    let out = Command::new(bin)
        .args(["tools", "--json", "--allow-dangerous"])
        .env_clear()
        .output()
        .expect("run pfsense-mcp tools --json");
    assert!(out.status.success());
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    tools
        .into_iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["input_schema"].clone(),
            )
        })
        .collect()
}

async fn emulator() -> pfsense_emulator::RunningEmulator {
    let mut config = pfsense_emulator::EmulatorConfig::new(tests::spec_path());
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    pfsense_emulator::start(config).await.expect("emulator")
}

async fn session(
    emu: &pfsense_emulator::RunningEmulator,
    dir: &Path,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> McpSession {
    let key = emu.api_key().unwrap().to_string();
    let audit = dir.join("audit.jsonl").display().to_string();
    let journal = dir.join("journal.sqlite").display().to_string();
    let mut all_args = vec!["--audit-log", &audit, "--journal", &journal];
    all_args.extend_from_slice(args);
    // A fleet comes from `--config`, a single firewall from the environment.
    let mut env = if args.contains(&"--config") {
        vec![]
    } else {
        vec![
            ("PFSENSE_HOST", emu.url()),
            ("PFSENSE_API_KEY", key.as_str()),
            ("PFSENSE_TLS_FINGERPRINT", emu.fingerprint()),
        ]
    };
    env.extend_from_slice(extra_env);
    McpSession::spawn(&tests::binary::pfsense_mcp(), &all_args, &env)
        .await
        .expect("start pfsense-mcp")
}

fn schema_of(v: &std::sync::Arc<serde_json::Map<String, Value>>) -> Value {
    Value::Object((**v).clone())
}

/// Schema validity under both drafts, output schemas on every tool, and `confirm` /
/// `expect_state` declared as the catalogue has them. Returns the listing's output validators.
fn check_listing(
    mode: &str,
    tools: &[rmcp::model::Tool],
    catalogue: &HashMap<String, Value>,
) -> HashMap<String, jsonschema::Validator> {
    let meta_2020 = jsonschema::draft202012::meta::validator();
    let meta_7 = jsonschema::draft7::meta::validator();
    let mut validators = HashMap::new();
    for t in tools {
        let name = t.name.as_ref();
        assert!(
            CLAUDE_CODE_PREFIX.len() + name.len() <= 64,
            "{mode}: {CLAUDE_CODE_PREFIX}{name} is longer than Claude Code's 64 characters"
        );
        let input = schema_of(&t.input_schema);
        let output = schema_of(
            t.output_schema
                .as_ref()
                .unwrap_or_else(|| panic!("{mode}: {name} has no outputSchema")),
        );
        for (what, schema) in [("inputSchema", &input), ("outputSchema", &output)] {
            assert_eq!(schema["type"], "object", "{mode}: {name} {what}");
            assert!(
                meta_2020.is_valid(schema),
                "{mode}: {name} {what} is not valid JSON Schema 2020-12: {schema}"
            );
            assert!(
                meta_7.is_valid(schema),
                "{mode}: {name} {what} is not valid JSON Schema draft 7: {schema}"
            );
        }
        if let Some(full) = catalogue.get(name) {
            for ours in ["confirm", "expect_state"] {
                assert_eq!(
                    full["properties"].get(ours).is_some(),
                    input["properties"].get(ours).is_some(),
                    "{mode}: {name} accepts `{ours}` but does not declare it (or the reverse)"
                );
            }
        }
        validators.insert(
            name.to_string(),
            jsonschema::draft202012::new(&output).expect("output schema compiles"),
        );
    }
    assert!(
        tools
            .iter()
            .filter(|t| t.name == "pfsense_undo")
            .all(|t| t.input_schema["properties"].get("confirm").is_some()),
        "{mode}: pfsense_undo takes confirm"
    );
    validators
}

/// A value the schema accepts, for a required argument (harmless: ids 0, short strings).
fn value_for(schema: &Value) -> Value {
    if let Some(Value::Array(choices)) = schema.get("enum")
        && let Some(first) = choices.iter().find(|c| !c.is_null())
    {
        return first.clone();
    }
    if let Some(Value::Array(branches)) = schema.get("anyOf")
        && let Some(first) = branches.iter().find(|b| b["type"] != "null")
    {
        return value_for(first);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("boolean") => json!(false),
        Some("integer") | Some("number") => {
            json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(0))
        }
        Some("array") => json!([]),
        Some("object") => json!({}),
        _ => json!("mcp_schema_test"),
    }
}

/// Arguments for a call: every required property of the full schema, never `confirm`.
fn arguments(full: &Value) -> Value {
    let mut args = serde_json::Map::new();
    for r in full["required"].as_array().into_iter().flatten() {
        let r = r.as_str().unwrap();
        args.insert(r.into(), value_for(&full["properties"][r]));
    }
    Value::Object(args)
}

/// Arguments for our own tools (their schemas are closed; these are valid, harmless reads).
fn own_arguments(name: &str) -> Value {
    match name {
        "pfsense_find_tools" => json!({"query": "static DHCP lease"}),
        "pfsense_describe_tool" => json!({"name": "pfsense_create_firewall_alias"}),
        "pfsense_call" => json!({"name": "pfsense_list_firewall_aliases", "arguments": {}}),
        "pfsense_diagnose" => json!({"area": "connectivity"}),
        "pfsense_explain_traffic" => json!({
            "src": "198.51.100.7", "dst": "192.0.2.10", "protocol": "tcp",
            "dst_port": 443, "interface": "wan", "direction": "in"
        }),
        "pfsense_block_addresses" => json!({"addresses": ["198.51.100.9"], "interface": "wan"}),
        // Without confirm: shows the steps only.
        "pfsense_undo" => json!({}),
        _ => json!({}),
    }
}

fn check_result(
    name: &str,
    result: &rmcp::model::CallToolResult,
    validators: &HashMap<String, jsonschema::Validator>,
) {
    let content = structured(result);
    assert!(
        content.is_object(),
        "{name}: no structured content (error: {}): {}",
        is_error(result),
        text(result)
    );
    let errors: Vec<String> = validators[name]
        .iter_errors(&content)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{name}: structured content does not match its outputSchema: {errors:?}\n{content}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mode_lists_valid_schemas_and_every_result_matches_its_output_schema() {
    let bin = tests::binary::pfsense_mcp();
    let catalogue = catalogue(&bin);
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();

    // Compact (the default).
    let s = session(&emu, dir.path(), &[], &[]).await;
    let compact = s.list_tools().await.unwrap();
    check_listing("compact", &compact, &catalogue);
    s.close().await;

    // Read-only: only reading tools.
    let s = session(
        &emu,
        dir.path(),
        &["--read-only"],
        &[("PFSENSE_TOOL_MODE", "full")],
    )
    .await;
    let read_only = s.list_tools().await.unwrap();
    check_listing("read-only", &read_only, &catalogue);
    for t in read_only
        .iter()
        .filter(|t| catalogue.contains_key(t.name.as_ref()))
    {
        assert!(
            t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true),
            "read-only lists {}",
            t.name
        );
    }
    s.close().await;

    // Full, every tool offered: list, then call each one.
    let s = session(
        &emu,
        dir.path(),
        &["--allow-dangerous"],
        &[("PFSENSE_TOOL_MODE", "full")],
    )
    .await;
    let full = s.list_tools().await.unwrap();
    let validators = check_listing("full", &full, &catalogue);
    assert!(full.len() > catalogue.len() / 2, "{} tools", full.len());
    let mut errors = 0;
    for t in &full {
        let name = t.name.as_ref();
        let args = match catalogue.get(name) {
            Some(schema) => arguments(schema),
            None => own_arguments(name),
        };
        let r = s
            .call(name, args.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} {args}: protocol error {e}"));
        errors += usize::from(is_error(&r));
        check_result(name, &r, &validators);
        if catalogue.contains_key(name)
            && t.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true)
        {
            // Unconfirmed: a preview, nothing sent.
            if !is_error(&r) {
                assert_eq!(structured(&r)["executed"], false, "{name}: {}", text(&r));
            }
        }
    }
    // Reads succeed mostly; errors (ids that do not exist, refusals) are covered too.
    eprintln!(
        "full mode: {} tools called, {errors} error results",
        full.len()
    );
    assert!(
        errors < full.len() / 2,
        "{errors} of {} calls failed",
        full.len()
    );
    // One executed change and its undo, the result shapes a preview does not show.
    let alias =
        json!({"name": "schema_test", "type": "host", "address": ["192.0.2.7"], "confirm": true});
    let r = s
        .call("pfsense_create_firewall_alias", alias)
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    check_result("pfsense_create_firewall_alias", &r, &validators);
    for (tool, args) in [
        ("pfsense_list_changes", json!({})),
        ("pfsense_undo", json!({"confirm": true})),
    ] {
        let r = s.call(tool, args).await.unwrap();
        assert!(!is_error(&r), "{tool}: {}", text(&r));
        check_result(tool, &r, &validators);
    }
    s.close().await;

    // Fleet: two firewalls; every tool but the selector declares `firewall`.
    let lab = emulator().await;
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "default = \"prod\"\n[firewalls.prod]\nurl = \"{}\"\napi_key_env = \"SCHEMA_TEST_PROD_KEY\"\ntls_fingerprint = \"{}\"\n[firewalls.lab]\nurl = \"{}\"\napi_key_env = \"SCHEMA_TEST_LAB_KEY\"\ntls_fingerprint = \"{}\"\n",
            emu.url(),
            emu.fingerprint(),
            lab.url(),
            lab.fingerprint()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let s = session(
        &emu,
        dir.path(),
        &["--config", &config],
        &[
            ("PFSENSE_TOOL_MODE", "full"),
            ("SCHEMA_TEST_PROD_KEY", emu.api_key().unwrap()),
            ("SCHEMA_TEST_LAB_KEY", lab.api_key().unwrap()),
        ],
    )
    .await;
    let fleet = s.list_tools().await.unwrap();
    check_listing("fleet", &fleet, &catalogue);
    assert!(fleet.iter().any(|t| t.name == "pfsense_select_firewall"));
    for t in fleet.iter().filter(|t| t.name != "pfsense_select_firewall") {
        assert!(
            t.input_schema["properties"].get("firewall").is_some(),
            "fleet: {} accepts `firewall` but does not declare it",
            t.name
        );
    }
    // The declared argument is accepted: a read sent to the other firewall.
    let r = s
        .call("pfsense_list_firewall_aliases", json!({"firewall": "lab"}))
        .await
        .unwrap();
    assert!(!is_error(&r), "{}", text(&r));
    s.close().await;
}
