//! Facts that hold for every spec we know: tool names fit [`naming::MAX_TOOL_NAME_LEN`] (so
//! that `mcp__pfsense__<tool>` fits the 64 characters Claude Code allows) and stay unique,
//! every action endpoint was reviewed, no known typo reaches a description. Reads `openapi-spec.json` at the workspace root and every spec in `../shared/specs/` (or in
//! `PFSENSE_OPENAPI_SPECS_DIR`).

use pfsense_spec::{ArgType, Risk, Spec, Verb, naming, tables};
use std::collections::HashSet;
use std::path::PathBuf;

fn specs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("PFSENSE_OPENAPI_SPECS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/specs"));
    let mut out = vec![
        std::env::var_os("PFSENSE_OPENAPI_SPEC")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("openapi-spec.json")),
    ];
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read the spec folder {}: {e} (set PFSENSE_OPENAPI_SPECS_DIR)",
            dir.display()
        )
    });
    for entry in entries {
        let path = entry.expect("spec folder entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out
}

#[test]
fn names_fit_with_the_claude_code_prefix_in_every_spec() {
    let specs = specs();
    assert!(
        specs.len() >= 3,
        "expected v2.7.1 plus the specs in ../shared/specs: {specs:?}"
    );
    for path in specs {
        let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut seen = HashSet::new();
        for op in &spec.operations {
            let full = format!("mcp__pfsense__{}", op.tool_name);
            assert!(
                full.len() <= 64,
                "{}: {full} is {} characters",
                path.display(),
                full.len()
            );
            assert!(
                naming::is_valid_tool_name(&op.tool_name),
                "{}",
                op.tool_name
            );
            assert!(
                seen.insert(&op.tool_name),
                "{}: duplicate {}",
                path.display(),
                op.tool_name
            );
            if let Some(apply) = &op.apply {
                assert!(apply.apply_tool.len() <= naming::MAX_TOOL_NAME_LEN);
                assert!(
                    spec.operation(&apply.apply_tool).is_some(),
                    "{}",
                    apply.apply_tool
                );
            }
        }
    }
}

/// A name that fits is never abbreviated, so short names do not change between spec versions;
/// a shortened name is shortened the same way in every spec.
#[test]
fn only_long_names_are_abbreviated() {
    for path in specs() {
        let spec = Spec::load(&path).unwrap();
        for op in &spec.operations {
            assert_eq!(
                naming::fit_length(&op.tool_name),
                op.tool_name,
                "idempotent"
            );
            // Search writes abbreviations out again: that must give the full name back.
            let full = naming::full_tool_name(naming::operation_noun(&op.operation_id), op.verb);
            assert_eq!(
                naming::unabbreviated(&op.tool_name),
                full,
                "{}",
                op.tool_name
            );
        }
        // v2.7.1 names checked by hand: short ones kept, long ones shortened.
        for name in [
            "pfsense_list_services_dns_resolver_host_overrides",
            "pfsense_create_services_dns_resolver_host_override",
            "pfsense_delete_svc_dns_forwarder_host_ovr_aliases",
            "pfsense_create_svc_dns_forwarder_host_override",
            "pfsense_delete_firewall_shaper_limiter_bandwidths",
            "pfsense_post_system_cert_signing_request_sign",
            "pfsense_delete_diag_config_history_revisions",
            "pfsense_list_svc_dns_resolver_access_list_networks",
            "pfsense_update_svc_dns_resolver_access_list_net",
        ] {
            assert!(
                spec.operation(name).is_some(),
                "{}: no {name}",
                path.display()
            );
        }
    }
}

/// Every action endpoint is either dangerous or reviewed in `tables::ACTION_RISKS`, and every
/// entry of that table exists in some spec (no stale rows).
#[test]
fn every_action_endpoint_is_reviewed() {
    let mut used = HashSet::new();
    for path in specs() {
        let spec = Spec::load(&path).unwrap();
        assert!(
            !spec.warnings.iter().any(|w| w.contains("ACTION_RISKS")),
            "{}: {:?}",
            path.display(),
            spec.warnings
        );
        for op in spec.operations.iter().filter(|o| o.verb == Verb::Action) {
            let rel = op.path.trim_start_matches(pfsense_spec::API_PREFIX);
            match tables::action_risk(op.method, rel) {
                Some((risk, _)) => {
                    used.insert(rel.to_string());
                    assert_eq!(op.risk, risk, "{}", op.tool_name);
                }
                None => assert_eq!(op.risk, Risk::Dangerous, "{}", op.tool_name),
            }
            if op.risk == Risk::Destructive {
                assert!(
                    op.description.contains("Destructive: "),
                    "{}",
                    op.description
                );
            }
        }
    }
    for (_, rel, _, _) in tables::ACTION_RISKS {
        assert!(
            used.contains(*rel),
            "ACTION_RISKS row {rel} matches no action in any spec"
        );
    }
}

fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn no_known_typo_reaches_a_description() {
    for path in specs() {
        let spec = Spec::load(&path).unwrap();
        for op in &spec.operations {
            let mut texts = vec![op.summary.clone(), op.description.clone()];
            strings(&op.input_schema, &mut texts);
            for text in texts {
                for (wrong, _) in tables::TEXT_FIXES {
                    assert!(!text.contains(wrong), "{}: {text}", op.tool_name);
                }
            }
        }
    }
    // The fixes themselves, checked by hand against the v2.7.1 spec.
    assert_eq!(
        pfsense_spec::text::fix_typos("Reads all existing Interface Statses."),
        "Reads all existing Interface Stats."
    );
    assert_eq!(
        pfsense_spec::text::fix_typos("Creates a new HA Proxy Backend."),
        "Creates a new HAProxy Backend."
    );
}

/// A flag or a number holds no secret, whatever its name says (`username_as_common_name`,
/// `passwd_protect_console`): treated as one, its value is hidden from previews and the audit
/// log, and undo leaves it out, so an undo of a change to it restores nothing (seen on the
/// pfrest lab: the console's password protection stayed on after "Undone").
#[test]
fn no_flag_or_number_is_a_secret_in_any_spec() {
    for path in specs() {
        let spec = Spec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for op in &spec.operations {
            for arg in &op.args {
                if matches!(
                    arg.ty,
                    ArgType::Boolean | ArgType::Integer | ArgType::Number | ArgType::IntegerList
                ) {
                    assert!(
                        !arg.sensitive && !tables::is_sensitive_field(&arg.name),
                        "{}: {} `{}` ({:?}) counts as a secret",
                        path.display(),
                        op.tool_name,
                        arg.name,
                        arg.ty
                    );
                }
            }
        }
    }
}
