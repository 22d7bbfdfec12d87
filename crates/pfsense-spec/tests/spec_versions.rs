//! Every current REST API version loads and classifies, and `diff` reports what changed from
//! v2.7.1 to v2.10.0. The expected facts come from `shared/docs/pfrest-versions.md` ("New
//! endpoints", "Behaviour changes") and were checked by hand against the two specs.

use pfsense_spec::diff::{Change, diff};
use pfsense_spec::*;
use std::path::PathBuf;

/// `../shared/specs` beside the workspace, or `PFSENSE_SPECS_DIR`.
fn specs_dir() -> PathBuf {
    if let Ok(p) = std::env::var("PFSENSE_SPECS_DIR") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
}

fn load(version: &str) -> Spec {
    let path = if version == "v2.7.1" {
        std::env::var("PFSENSE_OPENAPI_SPEC")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi-spec.json")
            })
    } else {
        specs_dir().join(format!("openapi-{version}.json"))
    };
    Spec::load(&path).unwrap_or_else(|e| {
        panic!("{e}\n(the specs of later versions are in ../shared/specs; set PFSENSE_SPECS_DIR)")
    })
}

#[test]
fn every_version_classifies_without_guessing() {
    for (version, paths, operations) in [("v2.8.4", 264, 690), ("v2.10.0", 267, 694)] {
        let spec = load(version);
        assert_eq!(spec.api_version, version);
        assert_eq!(spec.stats.paths, paths, "{version}");
        assert_eq!(spec.stats.operations, operations, "{version}");
        assert!(spec.warnings.is_empty(), "{version}: {:?}", spec.warnings);
        let mut names: Vec<&str> = spec
            .operations
            .iter()
            .map(|o| o.tool_name.as_str())
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(
            names.len(),
            operations,
            "{version}: tool names are not unique"
        );
    }
}

#[test]
fn diff_v2_7_1_to_v2_10_0_matches_the_release_notes() {
    let d = diff(&load("v2.7.1"), &load("v2.10.0"));
    assert_eq!((d.old_operations, d.new_operations), (677, 694));
    assert!(d.removed.is_empty(), "{:?}", d.removed);
    // pfrest-versions.md "New endpoints": FreeRADIUS eap and ldap (GET, PATCH), mac (CRUD),
    // macs (GET, PUT, DELETE); system/enum and system/update (POST); system/hasync (GET,
    // PATCH); status/wireguard tunnels and peers (GET): 4 + 4 + 3 + 2 + 2 + 2 = 17.
    let mut added: Vec<String> = d
        .added
        .iter()
        .map(|t| format!("{} {}", t.method, t.path.trim_start_matches("/api/v2/")))
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            "DELETE services/freeradius/mac",
            "DELETE services/freeradius/macs",
            "GET services/freeradius/eap",
            "GET services/freeradius/ldap",
            "GET services/freeradius/mac",
            "GET services/freeradius/macs",
            "GET status/wireguard/peers",
            "GET status/wireguard/tunnels",
            "GET system/hasync",
            "PATCH services/freeradius/eap",
            "PATCH services/freeradius/ldap",
            "PATCH services/freeradius/mac",
            "PATCH system/hasync",
            "POST services/freeradius/mac",
            "POST system/enum",
            "POST system/update",
            "PUT services/freeradius/macs",
        ]
    );
    let changes_of = |tool: &str| -> Vec<Change> {
        d.changed
            .iter()
            .find(|c| c.tool == tool)
            .unwrap_or_else(|| panic!("{tool} is not among the changed tools"))
            .changes
            .clone()
    };
    // Firewall rule: `dscp` (v2.8.4).
    assert!(
        changes_of("pfsense_create_firewall_rule").contains(&Change::ArgumentAdded {
            name: "dscp".into(),
            required: false
        })
    );
    // The per-model `dry_run` fields of SystemHalt and SystemReboot were removed.
    assert!(
        changes_of("pfsense_post_diagnostics_reboot").contains(&Change::ArgumentRemoved {
            name: "dry_run".into()
        })
    );
    // `Service.name` required and writable (v2.7.5): the service action gains the argument.
    assert!(
        changes_of("pfsense_post_status_service")
            .iter()
            .any(|c| matches!(c, Change::ArgumentAdded { name, .. } if name == "name"))
    );
    // Default `many_maximum` 128 → 65535 (v2.7.7).
    assert!(
        changes_of("pfsense_create_firewall_rule").contains(&Change::ConstraintChanged {
            name: "interface".into(),
            constraint: "maxItems".into(),
            old: "128".into(),
            new: "65535".into(),
        })
    );
    // Random defaults (refid, uniqid, …) differ between any two generated specs: not changes.
    for c in &d.changed {
        for change in &c.changes {
            if let Change::DefaultChanged { name, .. } = change {
                assert!(
                    !["refid", "uniqid", "schedlabel"].contains(&name.as_str()),
                    "{c:?}"
                );
            }
        }
    }
    let text = d.to_text();
    assert!(text.starts_with("v2.7.1 (677 tools) → v2.10.0 (694 tools): 17 added, 0 removed,"));
}

#[test]
fn a_spec_compared_with_itself_has_no_differences() {
    let spec = load("v2.10.0");
    let d = diff(&spec, &spec);
    assert!(d.added.is_empty() && d.removed.is_empty() && d.changed.is_empty());
}
