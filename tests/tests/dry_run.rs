//! Issue 19: pfrest's own dry run in previews, against pfrest itself (the lab).
//!
//! The binary here is the one the other tests use, built from the workspace's spec (v2.7.1).
//! That is sound for these tests: whether a preview sends a dry run depends on the version the
//! box reports at run time, not on the spec; the dry run is request-level (`dry_run` in the body
//! or query of the previewed request); and every tool used here has the same shape in v2.7.1 and
//! v2.10.0 (`cargo xtask spec diff openapi-spec.json ../shared/specs/openapi-v2.10.0.json`
//! lists no change to the alias and port forward tools; the rule tools only gained the optional
//! `dscp` and larger `maxItems`). CI also builds the tools from v2.10.0 and runs the exerciser
//! against a v2.10.0 lab (`.ci/run`).
//!
//! Expected `response_id`s were read by hand from the v2.10.0 lab (curl with `dry_run: true`)
//! and are checked again here against the same request sent without dry run.

use serde_json::{Value, json};
use std::path::Path;
use tests::lab::RunningLab;
use tests::mcp::text;
use tests::safety::{Human, HumanAnswer, Session};

async fn session(lab: &RunningLab, dir: &Path) -> Session {
    Session::start_in(dir, &lab.env(), Human::new(false, HumanAnswer::Accept)).await
}

fn confirmed(mut args: Value) -> Value {
    args["confirm"] = json!(true);
    args
}

fn structured(r: &rmcp::model::CallToolResult) -> Value {
    r.structured_content.clone().unwrap_or(Value::Null)
}

/// Fields pfrest computes when it writes, not from the request: the rule's `tracker` and the
/// `created_*`/`updated_*` stamps are taken from the clock (seconds) and the caller at the time
/// of the write (a rule's `updated_by` names the user, `admin@127.0.0.1 (API)`; `created_by`
/// names only the address, `@127.0.0.1 (API)`: lab, every release).
const COMPUTED_AT_WRITE: &[&str] = &[
    "tracker",
    "created_time",
    "created_by",
    "updated_time",
    "updated_by",
];

/// Unset fields pfrest shows as `""` in the dry run and as `null` once written (read back from
/// config.xml): seen on the v2.10.0 lab for a port forward's `associated_rule_id`.
const EMPTY_IS_NULL: &[&str] = &["associated_rule_id"];

fn without_computed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        for k in COMPUTED_AT_WRITE {
            m.remove(*k);
        }
        for k in EMPTY_IS_NULL {
            if m.get(*k) == Some(&json!("")) {
                m.insert(k.to_string(), Value::Null);
            }
        }
    }
    v
}

/// One object kind: its create tool, its list tool, a valid and an invalid object, and the
/// `response_id` pfrest answers the invalid one with.
struct Case {
    create: &'static str,
    list: &'static str,
    valid: Value,
    invalid: Value,
    invalid_id: &'static str,
    /// The endpoint, to send the invalid object for real with the lab's BasicAuth.
    path: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            create: "pfsense_create_firewall_alias",
            list: "pfsense_list_firewall_aliases",
            valid: json!({"name": "dr_ok", "type": "host", "address": ["192.0.2.10"], "descr": "dry run"}),
            invalid: json!({"name": "dr bad!", "type": "host", "address": ["192.0.2.10"]}),
            invalid_id: "FILTER_NAME_VALIDATOR_INVALID_CHARACTERS",
            path: "/api/v2/firewall/alias",
        },
        Case {
            create: "pfsense_create_firewall_rule",
            list: "pfsense_list_firewall_rules",
            valid: json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "protocol": "tcp",
                          "source": "any", "destination": "any", "destination_port": "443", "descr": "dry run"}),
            invalid: json!({"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "protocol": "tcp",
                            "source": "any", "destination": "any", "destination_port": "99999", "descr": "dry run bad"}),
            invalid_id: "PORT_FIELD_INVALID",
            path: "/api/v2/firewall/rule",
        },
        Case {
            create: "pfsense_create_firewall_nat_port_forward",
            list: "pfsense_list_firewall_nat_port_forwards",
            valid: json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any",
                          "destination": "wan:ip", "destination_port": "8443", "target": "192.168.1.10",
                          "local_port": "443", "descr": "dry run"}),
            invalid: json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any",
                            "destination": "wan:ip", "destination_port": "8443", "target": "not-an-ip!",
                            "local_port": "443", "descr": "dry run bad"}),
            invalid_id: "SPECIAL_NETWORK_FIELD_INVALID",
            path: "/api/v2/firewall/nat/port_forward",
        },
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_10_previews_carry_pfrests_own_verdict_and_confirming_writes_it() {
    let Some(lab) = tests::lab::start("v2.10.0") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = session(&lab, dir.path()).await;
    for case in cases() {
        // Invalid: refused in the preview with pfrest's own response_id, nothing written.
        let before = lab.config_xml();
        let r = s.call(case.create, case.invalid.clone()).await;
        let st = structured(&r);
        assert!(r.is_error.unwrap_or(false), "{}: {}", case.create, text(&r));
        assert_eq!(st["dry_run"]["sent"], true, "{}: {st}", case.create);
        assert_eq!(st["dry_run"]["accepted"], false, "{}: {st}", case.create);
        assert_eq!(st["error"]["response_id"], case.invalid_id, "{st}");
        assert_eq!(st["dry_run"]["rest_api_version"], "v2.10.0", "{st}");
        assert_eq!(st["executed"], false);
        assert!(st.get("fingerprint").is_none() && st.get("next").is_none());
        assert!(text(&r).contains(case.invalid_id), "{}", text(&r));
        assert!(text(&r).contains("nothing to confirm"), "{}", text(&r));
        assert!(
            lab.config_xml() == before,
            "{}: the refused preview wrote",
            case.create
        );
        // The same request sent for real gets the same answer from pfrest (and writes nothing).
        let (status, body) = lab
            .lab
            .request("POST", case.path, Some(&case.invalid.to_string()))
            .unwrap();
        assert_eq!(status, 400, "{body}");
        let real: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(real["response_id"], case.invalid_id);
        assert!(lab.config_xml() == before, "config.xml changed");

        // Valid: the preview shows what pfrest would store, and nothing is written.
        let r = s.call(case.create, case.valid.clone()).await;
        let st = structured(&r);
        assert!(
            !r.is_error.unwrap_or(false),
            "{}: {}",
            case.create,
            text(&r)
        );
        assert_eq!(st["preview"], true);
        assert_eq!(st["dry_run"]["sent"], true, "{st}");
        assert_eq!(st["dry_run"]["accepted"], true, "{st}");
        let would_be = st["dry_run"]["would_be"].clone();
        for (k, v) in case.valid.as_object().unwrap() {
            assert_eq!(&would_be[k], v, "{}: {k} in {would_be}", case.create);
        }
        assert!(
            text(&r).contains("dry run (REST API v2.10.0) accepts this"),
            "{}",
            text(&r)
        );
        assert!(
            lab.config_xml() == before,
            "{}: the dry-run preview wrote",
            case.create
        );
        let count = s.ok(case.list, json!({})).await["data"]
            .as_array()
            .unwrap()
            .len();

        // Confirmed: the same request without dry run writes exactly what the dry run showed.
        let r = s.call(case.create, confirmed(case.valid.clone())).await;
        assert!(
            !r.is_error.unwrap_or(false),
            "{}: {}",
            case.create,
            text(&r)
        );
        let written = structured(&r)["data"].clone();
        assert_eq!(
            without_computed(&written),
            without_computed(&would_be),
            "{}: written vs dry run",
            case.create
        );
        assert!(
            lab.config_xml() != before,
            "{}: nothing written",
            case.create
        );
        let listed = s.ok(case.list, json!({})).await["data"].clone();
        assert_eq!(listed.as_array().unwrap().len(), count + 1);
        let stored = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == written["id"])
            .cloned()
            .unwrap();
        assert_eq!(without_computed(&stored), without_computed(&would_be));
    }

    // A single-object delete is dry-run too: it names what it would delete, and deletes nothing.
    let before = lab.config_xml();
    let r = s
        .call("pfsense_delete_firewall_alias", json!({"id": 0}))
        .await;
    let st = structured(&r);
    assert_eq!(st["dry_run"]["accepted"], true, "{}", text(&r));
    assert_eq!(st["dry_run"]["would_be"]["name"], "dr_ok");
    assert!(text(&r).contains("it would delete"), "{}", text(&r));
    assert!(lab.config_xml() == before, "config.xml changed");

    // The audit log records the dry runs as previews, with pfrest's response_id.
    let audit = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let refused: Vec<Value> = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["outcome"] == "preview"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("dry run: refused"))
        })
        .collect();
    assert_eq!(refused.len(), 3, "{audit}");
    assert_eq!(
        refused[0]["response_id"],
        "FILTER_NAME_VALIDATOR_INVALID_CHARACTERS"
    );
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_10_previews_of_bulk_deletes_and_replacements_change_nothing() {
    let Some(lab) = tests::lab::start("v2.10.0") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = session(&lab, dir.path()).await;
    for name in ["dr_one", "dr_two"] {
        let r = s
            .call(
                "pfsense_create_firewall_alias",
                confirmed(json!({"name": name, "type": "host", "address": ["192.0.2.20"]})),
            )
            .await;
        assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    }
    let before = lab.config_xml();
    // pfrest really deletes on a plural DELETE with dry run, and answers a plural PUT with 500:
    // these previews must not send one (safety/dry_run.rs, NO_DRY_RUN).
    let previews = [
        (
            "pfsense_delete_firewall_aliases",
            json!({"query": {"all": true}}),
        ),
        (
            "pfsense_delete_firewall_aliases",
            json!({"query": {"name": "dr_one"}}),
        ),
        ("pfsense_replace_firewall_aliases", json!({"objects": []})),
        (
            "pfsense_replace_firewall_aliases",
            json!({"objects": [{"name": "dr_three", "type": "host", "address": ["192.0.2.30"]}]}),
        ),
    ];
    for (tool, args) in previews {
        let r = s.call(tool, args.clone()).await;
        let st = structured(&r);
        assert!(
            lab.config_xml() == before,
            "{tool} {args}: the preview wrote"
        );
        assert!(!r.is_error.unwrap_or(false), "{tool}: {}", text(&r));
        assert_eq!(st["preview"], true, "{tool}");
        assert_eq!(st["dry_run"]["sent"], false, "{tool}: {st}");
        assert!(
            text(&r).contains("No dry run was sent"),
            "{tool}: {}",
            text(&r)
        );
    }
    let aliases = s.ok("pfsense_list_firewall_aliases", json!({})).await["data"].clone();
    assert_eq!(aliases.as_array().unwrap().len(), 2, "{aliases}");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_7_gets_no_dry_run() {
    let Some(lab) = tests::lab::start("v2.7.1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = session(&lab, dir.path()).await;
    // v2.7.x ignores `dry_run` and performs the write: a dry run sent here would create the
    // alias and change config.xml.
    let before = lab.config_xml();
    let r = s
        .call(
            "pfsense_create_firewall_alias",
            json!({"name": "dr_old", "type": "host", "address": ["192.0.2.40"]}),
        )
        .await;
    let st = structured(&r);
    assert!(lab.config_xml() == before, "a preview on v2.7.1 wrote");
    assert!(!r.is_error.unwrap_or(false), "{}", text(&r));
    assert_eq!(st["dry_run"]["sent"], false, "{st}");
    let why = st["dry_run"]["why"].as_str().unwrap();
    assert!(
        why.contains("v2.7.1") && why.contains("v2.8.0"),
        "the preview names both versions: {why}"
    );
    assert!(text(&r).contains("No dry run was sent"), "{}", text(&r));
    let aliases = s.ok("pfsense_list_firewall_aliases", json!({})).await["data"].clone();
    assert_eq!(aliases, json!([]));
    s.close().await;
}

/// A tool whose endpoint the box's REST API lacks: the error names both versions instead of an
/// opaque 404. The box is the emulator serving a copy of the spec that claims v2.6.0 and lacks
/// `/api/v2/status/carp` (unknown paths answer nginx's HTML 404, as on a box); the binary's
/// tools are the workspace spec's.
#[tokio::test(flavor = "multi_thread")]
async fn a_tool_the_box_lacks_names_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let raw = std::fs::read_to_string(tests::safety::spec_path()).unwrap();
    let mut spec: Value = serde_json::from_str(&raw).unwrap();
    let built_from = spec["info"]["version"].as_str().unwrap().to_string();
    spec["info"]["version"] = json!("v2.6.0");
    assert!(
        spec["paths"]
            .as_object_mut()
            .unwrap()
            .remove("/api/v2/status/carp")
            .is_some()
    );
    let path = dir.path().join("openapi-v2.6.0.json");
    std::fs::write(&path, spec.to_string()).unwrap();
    let mut config = pfsense_emulator::EmulatorConfig::new(&path);
    config.enable_key_auth = true;
    let emu = pfsense_emulator::start(config).await.unwrap();
    let mut env = tests::safety::env_for(&emu);
    env.push(("PFSENSE_TOOL_MODE".into(), "full".into()));
    let s = Session::start(&[], &env, Human::new(false, HumanAnswer::Accept), None).await;

    let r = s.call("pfsense_get_status_carp", json!({})).await;
    assert!(r.is_error.unwrap_or(false), "{}", text(&r));
    let message = text(&r);
    assert!(
        message.contains("runs REST API v2.6.0") && message.contains(&built_from),
        "{message}"
    );
    assert!(message.contains("cargo xtask spec pull"), "{message}");
    let st = structured(&r);
    assert_eq!(st["error"]["rest_api_version"]["on_firewall"], "v2.6.0");
    assert_eq!(st["error"]["rest_api_version"]["tools_spec"], built_from);

    // A tool the box has still works, and health says the versions differ.
    s.ok("pfsense_list_firewall_aliases", json!({})).await;
    let h = s.ok("pfsense_health", json!({})).await;
    assert_eq!(h["rest_api_version"]["matches"], false, "{h}");
    assert_eq!(h["rest_api_version"]["on_firewall"], "v2.6.0", "{h}");
    assert_eq!(h["rest_api_version"]["dry_run_previews"], false, "{h}");
    s.close().await;
}
