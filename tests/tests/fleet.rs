//! Several named firewalls from a config file (issue #7, part 3), end to end: the real binary
//! over stdio, a real MCP client, and two emulators on loopback standing in for `prod`
//! (read-only) and `lab` (writable). The emulators' request logs show where each call went.

use pfsense_emulator::RunningEmulator;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tests::mcp::text;
use tests::safety::{Human, HumanAnswer, Session, emulator};

const CREATE: &str = "pfsense_create_firewall_alias";
const LIST: &str = "pfsense_list_firewall_aliases";

fn alias(name: &str) -> Value {
    json!({"name": name, "type": "host", "address": ["192.0.2.7"], "descr": "fleet test", "confirm": true})
}

fn with(mut args: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    args
}

/// `prod` read-only (the default), `lab` writable; keys come from the environment.
fn write_config(dir: &Path, prod: &RunningEmulator, lab: &RunningEmulator) -> PathBuf {
    let text = format!(
        r#"# Two firewalls: sessions start on prod, which only reads.
default = "prod"

[firewalls.prod]
url = "{}"
api_key_env = "FLEET_TEST_PROD_KEY"
tls_fingerprint = "{}"
read_only = true

[firewalls.lab]
url = "{}"
api_key_env = "FLEET_TEST_LAB_KEY"
tls_fingerprint = "{}"
"#,
        prod.url(),
        prod.fingerprint(),
        lab.url(),
        lab.fingerprint()
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn env(prod: &RunningEmulator, lab: &RunningEmulator) -> Vec<(String, String)> {
    vec![
        (
            "FLEET_TEST_PROD_KEY".into(),
            prod.api_key().unwrap().to_string(),
        ),
        (
            "FLEET_TEST_LAB_KEY".into(),
            lab.api_key().unwrap().to_string(),
        ),
        // Every offered tool listed, so the listing shows the union of the policies.
        ("PFSENSE_TOOL_MODE".into(), "full".into()),
    ]
}

async fn start(
    dir: &Path,
    prod: &RunningEmulator,
    lab: &RunningEmulator,
    extra: &[&str],
) -> Session {
    let config = write_config(dir, prod, lab);
    let mut args: Vec<String> = vec![
        "--config".into(),
        config.display().to_string(),
        "--audit-log".into(),
        dir.join("audit.jsonl").display().to_string(),
        "--journal".into(),
        dir.join("journal.sqlite").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Session::start(
        &args,
        &env(prod, lab),
        Human::new(false, HumanAnswer::Accept),
        Some(&dir.join("stderr.log")),
    )
    .await
}

/// The requests an emulator got that were not reads.
fn changes(emu: &RunningEmulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {} {}", r.method, r.path, r.body))
        .collect()
}

fn reads_of(emu: &RunningEmulator, path: &str) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == path)
        .count()
}

fn names_in(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn audit(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
        .collect()
}

#[tokio::test]
async fn each_call_goes_to_the_chosen_firewall_under_that_firewalls_policy() {
    let (prod, lab) = (emulator().await, emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &prod, &lab, &[]).await;

    // The instructions name both firewalls and say how to switch.
    let instructions = s
        .client
        .peer_info()
        .and_then(|i| i.instructions.clone())
        .unwrap_or_default();
    assert!(
        instructions.contains("`prod`") && instructions.contains("`lab`"),
        "{instructions}"
    );
    assert!(
        instructions.contains("pfsense_select_firewall"),
        "{instructions}"
    );

    // The listing is the union of the policies; every tool but the selector declares
    // `firewall` (a client that drops undeclared arguments keeps it, issue 14).
    let tools = s.list_tools().await;
    for name in [CREATE, "pfsense_select_firewall", "pfsense_undo", LIST] {
        assert!(tools.iter().any(|t| t.name == name), "{name} is listed");
    }
    for t in &tools {
        let declares = t
            .input_schema
            .get("properties")
            .and_then(|p| p.get("firewall"))
            .is_some();
        assert_eq!(
            declares,
            t.name != "pfsense_select_firewall",
            "{}: `firewall` declared {declares}",
            t.name
        );
    }

    // A write on the default firewall (prod) is refused by prod's rule, naming lab.
    let r = s.call(CREATE, alias("fleet_a")).await;
    assert!(r.is_error.unwrap_or(false), "{}", text(&r));
    let msg = text(&r);
    assert!(msg.contains("firewall `prod`"), "{msg}");
    assert!(msg.contains("read_only = true"), "{msg}");
    assert!(msg.contains("`lab`"), "{msg}");
    assert!(changes(&prod).is_empty(), "prod got {:?}", changes(&prod));

    // Described for prod, the tool says first that prod refuses it; for lab it does not.
    for (firewall, refused) in [("prod", true), ("lab", false)] {
        let r = s
            .call(
                "pfsense_describe_tool",
                json!({"name": CREATE, "firewall": firewall}),
            )
            .await;
        let described = text(&r);
        assert_eq!(
            described.contains("NOT OFFERED on this firewall")
                && described.contains("read_only = true"),
            refused,
            "{firewall}: {described}"
        );
        assert_eq!(
            tests::mcp::structured(&r)["offered"],
            !refused,
            "{firewall}"
        );
    }

    // The same write with `firewall: "lab"` goes to lab only, without the `firewall` field.
    let r = s
        .call(CREATE, with(alias("fleet_a"), json!({"firewall": "lab"})))
        .await;
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    let sent = changes(&lab);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].starts_with("POST /api/v2/firewall/alias "),
        "{sent:?}"
    );
    assert!(sent[0].contains("fleet_a"), "{sent:?}");
    assert!(!sent[0].contains("\"firewall\""), "{sent:?}");
    assert!(changes(&prod).is_empty(), "prod got {:?}", changes(&prod));

    // `firewall` routed one call: the session still reads prod.
    prod.clear_requests();
    lab.clear_requests();
    let list = s.ok(LIST, json!({})).await;
    assert!(!names_in(&list).contains(&"fleet_a".to_string()));
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 1);
    assert_eq!(reads_of(&lab, "/api/v2/firewall/aliases"), 0);

    // Without a name, the select tool lists the firewalls and the selection.
    let listed = s.ok("pfsense_select_firewall", json!({})).await;
    assert_eq!(listed["selected"], "prod");
    let fleet = listed["firewalls"].as_array().unwrap();
    assert_eq!(fleet.len(), 2);
    let prod_row = fleet.iter().find(|f| f["name"] == "prod").unwrap();
    assert_eq!(prod_row["url"], prod.url().trim_end_matches('/'));
    assert!(
        prod_row["policy"].as_str().unwrap().contains("read-only"),
        "{prod_row}"
    );
    assert_eq!(prod_row["selected"], true);

    // Selecting lab switches the session: the next calls without `firewall` go to lab.
    let picked = s
        .ok("pfsense_select_firewall", json!({"name": "lab"}))
        .await;
    assert_eq!(picked["selected"], "lab");
    prod.clear_requests();
    lab.clear_requests();
    let list = s.ok(LIST, json!({})).await;
    assert!(names_in(&list).contains(&"fleet_a".to_string()), "{list}");
    assert_eq!(reads_of(&lab, "/api/v2/firewall/aliases"), 1);
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 0);
    // One call to prod by argument, then the selection (lab) holds again.
    let list = s.ok(LIST, json!({"firewall": "prod"})).await;
    assert!(!names_in(&list).contains(&"fleet_a".to_string()));
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 1);
    let r = s.call(CREATE, alias("fleet_b")).await;
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    assert_eq!(changes(&lab).len(), 1, "{:?}", changes(&lab));
    assert!(changes(&prod).is_empty());

    // pfsense_call declares `firewall` and checks against that firewall's policy.
    let r = s
        .call(
            "pfsense_call",
            json!({"name": CREATE, "arguments": alias("fleet_c"), "firewall": "prod"}),
        )
        .await;
    assert!(r.is_error.unwrap_or(false), "{}", text(&r));
    assert!(text(&r).contains("firewall `prod`"), "{}", text(&r));
    assert!(changes(&prod).is_empty());

    // An unknown name is refused with the names there are; nothing is sent.
    let r = s.call(LIST, json!({"firewall": "staging"})).await;
    assert!(r.is_error.unwrap_or(false));
    assert!(
        text(&r).contains("`staging`") && text(&r).contains("`lab`, `prod`"),
        "{}",
        text(&r)
    );
    let r = s
        .call("pfsense_select_firewall", json!({"name": "staging"}))
        .await;
    assert!(r.is_error.unwrap_or(false));

    // The journal is kept per firewall: lab has its two changes, prod none; undo on prod is
    // refused by prod's read-only rule.
    let lab_changes = s.ok("pfsense_list_changes", json!({})).await;
    assert_eq!(lab_changes["changes"].as_array().unwrap().len(), 2);
    let prod_changes = s
        .ok("pfsense_list_changes", json!({"firewall": "prod"}))
        .await;
    assert_eq!(prod_changes["changes"].as_array().unwrap().len(), 0);
    let r = s
        .call("pfsense_undo", json!({"firewall": "prod", "confirm": true}))
        .await;
    assert!(r.is_error.unwrap_or(false));
    assert!(text(&r).contains("firewall `prod`"), "{}", text(&r));
    // Undo on lab takes back lab's last change (fleet_b) on lab.
    lab.clear_requests();
    let undone = s.ok("pfsense_undo", json!({"confirm": true})).await;
    assert_eq!(undone["executed"], true, "{undone}");
    assert!(
        changes(&lab)
            .iter()
            .any(|c| c.starts_with("DELETE /api/v2/firewall/alias")),
        "{:?}",
        changes(&lab)
    );
    assert!(changes(&prod).is_empty());
    s.close().await;

    // The audit log carries the firewall's name on every line.
    let lines = audit(dir.path());
    let of = |fw: &str, tool: &str, outcome: &str| {
        lines
            .iter()
            .filter(|l| l["firewall"] == fw && l["tool"] == tool && l["outcome"] == outcome)
            .count()
    };
    assert_eq!(of("prod", CREATE, "refused"), 2, "{lines:#?}");
    assert_eq!(of("lab", CREATE, "executed"), 2, "{lines:#?}");
    assert_eq!(of("prod", "pfsense_undo", "refused"), 1, "{lines:#?}");
    assert_eq!(of("lab", "pfsense_undo", "undone"), 1, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l["firewall"] == "prod" || l["firewall"] == "lab"),
        "{lines:#?}"
    );
}

/// With a config file, hints name the config file's settings (not PFSENSE_HOST, which it
/// ignores), and the undo a change result suggests names the firewall, so it works verbatim
/// while another firewall is selected.
#[tokio::test]
async fn hints_name_the_config_files_settings_and_the_firewall_to_undo_on() {
    let (prod, lab) = (emulator().await, emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &prod, &lab);
    let mut text_of = std::fs::read_to_string(&config).unwrap();
    // Nothing listens on loopback's discard port.
    text_of.push_str(&format!(
        "\n[firewalls.down]\nurl = \"https://127.0.0.1:9\"\napi_key_env = \"FLEET_TEST_LAB_KEY\"\ntls_fingerprint = \"{}\"\n",
        lab.fingerprint()
    ));
    std::fs::write(&config, text_of).unwrap();
    let args: Vec<String> = vec![
        "--config".into(),
        config.display().to_string(),
        "--audit-log".into(),
        dir.path().join("audit.jsonl").display().to_string(),
        "--journal".into(),
        dir.path().join("journal.sqlite").display().to_string(),
        "--retry-budget".into(),
        "0".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Session::start(
        &args,
        &env(&prod, &lab),
        Human::new(false, HumanAnswer::Accept),
        Some(&dir.path().join("stderr.log")),
    )
    .await;
    let r = s.call(LIST, json!({"firewall": "down"})).await;
    let msg = text(&r);
    assert!(
        msg.contains("`url` of firewall `down`") && !msg.contains("PFSENSE_HOST"),
        "{msg}"
    );

    let made = s
        .call(
            CREATE,
            with(
                alias("fleet_hint"),
                json!({"firewall": "lab", "confirm": true}),
            ),
        )
        .await;
    let made_text = text(&made);
    let id = tests::mcp::structured(&made)["change_id"].as_i64().unwrap();
    let hint = format!("pfsense_undo {{\"change_id\": {id}, \"firewall\": \"lab\"}}");
    assert!(made_text.contains(&hint), "{made_text}");
    let r = s
        .call("pfsense_undo", json!({"change_id": id, "firewall": "lab"}))
        .await;
    assert!(!r.is_error.unwrap_or(false), "the hint works: {}", text(&r));
    // Without it, prod (selected) has no such change, and the answer says which firewall.
    let r = s.call("pfsense_undo", json!({"change_id": id})).await;
    assert!(
        r.is_error.unwrap_or(false) && text(&r).contains("firewall `prod`"),
        "{}",
        text(&r)
    );
    s.close().await;
}

#[tokio::test]
async fn server_flags_narrow_every_firewall_and_cannot_widen_one() {
    let (prod, lab) = (emulator().await, emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), &prod, &lab, &["--read-only"]).await;
    let tools = s.list_tools().await;
    assert!(!tools.iter().any(|t| t.name == CREATE), "read-only for all");
    let r = s
        .call(CREATE, with(alias("fleet_ro"), json!({"firewall": "lab"})))
        .await;
    assert!(r.is_error.unwrap_or(false));
    assert!(text(&r).contains("read-only mode"), "{}", text(&r));
    assert!(changes(&lab).is_empty());
    s.close().await;

    // --allow-dangerous would widen the file's policies: refused at start, nothing served.
    let config = write_config(dir.path(), &prod, &lab);
    let out = std::process::Command::new(tests::binary::pfsense_mcp())
        .args([
            "--config",
            &config.display().to_string(),
            "--allow-dangerous",
        ])
        .env_clear()
        .envs(env(&prod, &lab))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("allow_dangerous = true"), "{err}");
}

#[tokio::test]
async fn config_mistakes_stop_the_server_at_start_with_the_firewall_and_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str, env: &[(&str, &str)]| {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(tests::binary::pfsense_mcp())
            .args(["--config", &path.display().to_string()])
            .env_clear()
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{text}");
        assert!(out.stdout.is_empty(), "nothing on the MCP channel");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run(
        "[firewalls.prod]\nurl = \"https://127.0.0.1:1\"\napi_key = \"fleet-secret-value\"\n",
        &[],
    );
    assert!(
        err.contains("firewall `prod`") && err.contains("api_key_env"),
        "{err}"
    );
    assert!(!err.contains("fleet-secret-value"), "{err}");
    let err = run(
        "[firewalls.prod]\nurl = \"https://127.0.0.1:1\"\napi_key_env = \"FLEET_UNSET_KEY\"\n",
        &[],
    );
    assert!(
        err.contains("FLEET_UNSET_KEY") && err.contains("not set"),
        "{err}"
    );
    let err = run(
        "[firewalls.prod]\nurl = \"https://127.0.0.1:1\"\napi_key_env = \"K\"\nreadonly = true\n",
        &[("K", "k")],
    );
    assert!(
        err.contains("readonly") && err.contains("bad.toml"),
        "{err}"
    );
}

/// The fleet server over streamable HTTP on loopback, and its bearer token.
fn start_http(
    dir: &Path,
    prod: &RunningEmulator,
    lab: &RunningEmulator,
) -> (tests::http::HttpServer, String) {
    let config = write_config(dir, prod, lab).display().to_string();
    let token = tests::http::test_token("fleet");
    let mut env = env(prod, lab);
    env.push(("PFSENSE_HTTP_TOKEN".into(), token.clone()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = tests::http::HttpServer::start(
        &[
            "--config",
            &config,
            "--http",
            "127.0.0.1:0",
            "--audit-log",
            "off",
            "--journal",
            "memory",
        ],
        &env,
        &dir.join("http-stderr.log"),
    );
    (server, token)
}

/// A tool call with `args` (a JSON object).
fn call(name: &str, args: Value) -> rmcp::model::CallToolRequestParams {
    let mut p = rmcp::model::CallToolRequestParams::new(name.to_string());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    p
}

#[tokio::test]
async fn over_http_each_session_has_its_own_selected_firewall() {
    let (prod, lab) = (emulator().await, emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start_http(dir.path(), &prod, &lab);
    let url = server.mcp_url();
    let a = tests::http::connect(&url, Some(&token), tests::http::client())
        .await
        .unwrap();
    let b = tests::http::connect(&url, Some(&token), tests::http::client())
        .await
        .unwrap();
    // Session A switches to lab; session B never switches and stays on prod.
    let r = a
        .peer()
        .call_tool(call("pfsense_select_firewall", json!({"name": "lab"})))
        .await
        .unwrap();
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    prod.clear_requests();
    lab.clear_requests();
    let r = a.peer().call_tool(call(LIST, json!({}))).await.unwrap();
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    assert_eq!(reads_of(&lab, "/api/v2/firewall/aliases"), 1);
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 0);
    let r = b.peer().call_tool(call(LIST, json!({}))).await.unwrap();
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 1);
    assert_eq!(reads_of(&lab, "/api/v2/firewall/aliases"), 1);
    let listed = b
        .peer()
        .call_tool(call("pfsense_select_firewall", json!({})))
        .await
        .unwrap();
    assert_eq!(
        listed.structured_content.unwrap_or(Value::Null)["selected"],
        "prod"
    );
    let _ = a.cancel().await;
    let _ = b.cancel().await;
}

/// 2026-07-28 has no sessions: over HTTP every request is served on its own, so a switch of
/// the selected firewall cannot outlive the call that made it. The switch is refused, saying
/// to name the firewall on each call, and a call with `firewall: NAME` goes there.
#[tokio::test]
async fn over_http_a_sessionless_client_cannot_switch_firewalls_and_is_told_to_name_one_per_call() {
    use rmcp::model::ProtocolVersion;
    use rmcp::service::ClientLifecycleMode;
    let (prod, lab) = (emulator().await, emulator().await);
    let dir = tempfile::tempdir().unwrap();
    let (server, token) = start_http(dir.path(), &prod, &lab);
    let client = tests::http::connect_with(
        &server.mcp_url(),
        Some(&token),
        tests::http::client(),
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    )
    .await
    .unwrap();
    // The switch is refused (it would end with this request), and says what to do instead.
    let r = client
        .peer()
        .call_tool(call("pfsense_select_firewall", json!({"name": "lab"})))
        .await
        .unwrap();
    assert!(r.is_error.unwrap_or(false), "{}", text(&r));
    assert!(text(&r).contains("cannot switch to `lab`"), "{}", text(&r));
    assert!(text(&r).contains("`firewall: NAME`"), "{}", text(&r));
    assert!(text(&r).contains("go to `prod`"), "{}", text(&r));
    let listed = client
        .peer()
        .call_tool(call("pfsense_select_firewall", json!({})))
        .await
        .unwrap();
    assert!(!listed.is_error.unwrap_or(false), "{}", text(&listed));
    assert!(text(&listed).contains("no sessions"), "{}", text(&listed));
    assert_eq!(
        listed.structured_content.clone().unwrap_or(Value::Null)["selected"],
        "prod"
    );
    // Calls go where they say, and to the default without `firewall`.
    prod.clear_requests();
    lab.clear_requests();
    let r = client
        .peer()
        .call_tool(call(LIST, json!({"firewall": "lab"})))
        .await
        .unwrap();
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    let r = client
        .peer()
        .call_tool(call(LIST, json!({})))
        .await
        .unwrap();
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    assert_eq!(reads_of(&lab, "/api/v2/firewall/aliases"), 1);
    assert_eq!(reads_of(&prod, "/api/v2/firewall/aliases"), 1);
    let _ = client.cancel().await;
}
