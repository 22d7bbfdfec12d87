//! Classification facts of the v2.7.1 spec, pinned. The expected numbers come from
//! `shared/docs/pfsense-rest-api.md` ("Spec statistics") and from reading the spec by hand.

use pfsense_spec::tables::TargetState;
use pfsense_spec::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::LazyLock;

fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("PFSENSE_OPENAPI_SPEC") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi-spec.json")
}

static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    Spec::load(&spec_path()).unwrap_or_else(|e| {
        panic!("{e}\n(copy ../shared/openapi-spec.json to the workspace root, or set PFSENSE_OPENAPI_SPEC)")
    })
});

fn op(name: &str) -> &'static Operation {
    SPEC.operation(name)
        .unwrap_or_else(|| panic!("no tool named {name}"))
}

#[test]
fn spec_statistics() {
    assert_eq!(SPEC.api_version, "v2.7.1");
    assert_eq!(SPEC.stats.paths, 258);
    assert_eq!(SPEC.stats.schemas, 178);
    assert_eq!(SPEC.stats.operations, 677);
    assert!(SPEC.warnings.is_empty(), "{:?}", SPEC.warnings);
    let by_method = count_by(&SPEC.operations, |o| o.method);
    assert_eq!(by_method[&Method::Get], 236);
    assert_eq!(by_method[&Method::Delete], 177);
    assert_eq!(by_method[&Method::Post], 117);
    assert_eq!(by_method[&Method::Patch], 109);
    assert_eq!(by_method[&Method::Put], 38);
}

#[test]
fn path_kinds() {
    let mut kinds = std::collections::HashMap::new();
    for o in &SPEC.operations {
        kinds.insert(o.path.clone(), o.path_kind);
    }
    let count = |k: PathKind| kinds.values().filter(|x| **x == k).count();
    assert_eq!(count(PathKind::Plural), 108);
    assert_eq!(count(PathKind::Settings), 23);
    assert_eq!(count(PathKind::Apply), 10);
    assert_eq!(count(PathKind::WriteOnly), 1);
    assert_eq!(count(PathKind::ReadOnly), 2);
    // The REST API doc counts 96 item paths and 18 POST-only actions; two of the POST-only
    // paths it files under collections. By our rule an item path is one addressed by `id`,
    // so all 20 POST-only singletons are actions: 94 + 20 = 96 + 18.
    assert_eq!(count(PathKind::Item), 94);
    assert_eq!(count(PathKind::Action), 20);
    assert_eq!(count(PathKind::Item) + count(PathKind::Action), 96 + 18);
}

#[test]
fn operation_metadata() {
    let immediate = count_by(&SPEC.operations, |o| o.applies_immediately);
    assert_eq!(immediate[&Some(false)], 353);
    assert_eq!(immediate[&Some(true)], 229);
    assert_eq!(immediate[&None], 95);
    let packages = count_by(&SPEC.operations, |o| o.required_packages.first().cloned());
    assert_eq!(packages[&Some("pfSense-pkg-haproxy".into())], 91);
    assert_eq!(packages[&Some("pfSense-pkg-bind".into())], 42);
    assert_eq!(packages[&Some("pfSense-pkg-acme".into())], 30);
    assert_eq!(packages[&Some("pfSense-pkg-WireGuard".into())], 28);
    assert_eq!(packages[&Some("pfSense-pkg-freeradius3".into())], 21);
    assert_eq!(
        packages[&Some("pfSense-pkg-openvpn-client-export".into())],
        8
    );
    assert_eq!(packages[&Some("pfSense-pkg-Cron".into())], 7);
    assert_eq!(packages[&Some("pfSense-pkg-Service_Watchdog".into())], 7);
    let basic_only: Vec<(Method, &str)> = SPEC
        .operations
        .iter()
        .filter(|o| o.basic_auth_only)
        .map(|o| (o.method, o.path.as_str()))
        .collect();
    assert_eq!(basic_only.len(), 4);
    for expected in [
        (Method::Post, "/api/v2/auth/jwt"),
        (Method::Post, "/api/v2/auth/key"),
        (Method::Delete, "/api/v2/auth/key"),
        (Method::Post, "/api/v2/system/restapi/settings/sync"),
    ] {
        assert!(
            basic_only.contains(&expected),
            "{expected:?} should be Basic-only"
        );
    }
    let binary: Vec<&str> = SPEC
        .operations
        .iter()
        .filter(|o| o.binary_response)
        .map(|o| o.tool_name.as_str())
        .collect();
    assert_eq!(binary, ["pfsense_post_system_certificate_pkcs12_export"]);
    let unenveloped: Vec<&str> = SPEC
        .operations
        .iter()
        .filter(|o| !o.enveloped)
        .map(|o| o.tool_name.as_str())
        .collect();
    assert_eq!(unenveloped, ["pfsense_post_graphql"]);
}

#[test]
fn names_follow_the_rules() {
    let mut seen = std::collections::HashSet::new();
    for o in &SPEC.operations {
        assert!(naming::is_valid_tool_name(&o.tool_name), "{}", o.tool_name);
        assert!(
            seen.insert(o.tool_name.clone()),
            "duplicate {}",
            o.tool_name
        );
        if matches!(
            o.path_kind,
            PathKind::Settings | PathKind::ReadOnly | PathKind::Apply
        ) {
            assert!(
                !o.tool_name.starts_with("pfsense_list_"),
                "singleton named list: {}",
                o.tool_name
            );
        }
        if o.method == Method::Post && o.path_kind == PathKind::Action {
            assert!(o.tool_name.starts_with("pfsense_post_"), "{}", o.tool_name);
        }
    }
    let sorted: Vec<_> = SPEC
        .operations
        .iter()
        .map(|o| o.tool_name.clone())
        .collect();
    let mut resorted = sorted.clone();
    resorted.sort();
    assert_eq!(sorted, resorted, "operations are sorted by tool name");
}

/// Names checked by hand against the spec's operationIds and the naming rules.
#[test]
fn hand_checked_names() {
    let expected: &[(Method, &str, &str)] = &[
        (Method::Get, "firewall/alias", "pfsense_get_firewall_alias"),
        (
            Method::Post,
            "firewall/alias",
            "pfsense_create_firewall_alias",
        ),
        (
            Method::Patch,
            "firewall/alias",
            "pfsense_update_firewall_alias",
        ),
        (
            Method::Delete,
            "firewall/alias",
            "pfsense_delete_firewall_alias",
        ),
        (
            Method::Get,
            "firewall/aliases",
            "pfsense_list_firewall_aliases",
        ),
        (
            Method::Put,
            "firewall/aliases",
            "pfsense_replace_firewall_aliases",
        ),
        (
            Method::Delete,
            "firewall/aliases",
            "pfsense_delete_firewall_aliases",
        ),
        (Method::Post, "firewall/apply", "pfsense_firewall_apply"),
        (
            Method::Get,
            "firewall/apply",
            "pfsense_get_firewall_apply_status",
        ),
        (
            Method::Post,
            "firewall/virtual_ip/apply",
            "pfsense_firewall_virtual_ip_apply",
        ),
        (
            Method::Post,
            "services/dhcp_server/apply",
            "pfsense_services_dhcp_server_apply",
        ),
        (
            Method::Get,
            "vpn/wireguard/apply",
            "pfsense_get_vpn_wireguard_apply_status",
        ),
        (
            Method::Post,
            "diagnostics/reboot",
            "pfsense_post_diagnostics_reboot",
        ),
        (
            Method::Post,
            "diagnostics/halt_system",
            "pfsense_post_diagnostics_halt_system",
        ),
        (
            Method::Post,
            "diagnostics/ping",
            "pfsense_post_diagnostics_ping",
        ),
        (Method::Post, "graphql", "pfsense_post_graphql"),
        (Method::Post, "auth/jwt", "pfsense_post_auth_jwt"),
        (Method::Post, "auth/key", "pfsense_create_auth_key"),
        (
            Method::Get,
            "interface/vlans",
            "pfsense_list_interface_vlans",
        ),
        (
            Method::Post,
            "interface/vlan",
            "pfsense_create_interface_vlan",
        ),
        (
            Method::Get,
            "interface/laggs",
            "pfsense_list_interface_laggs",
        ),
        (Method::Get, "interface/gres", "pfsense_list_interface_gres"),
        (Method::Get, "interfaces", "pfsense_list_network_interfaces"),
        (
            Method::Get,
            "vpn/wireguard/peer/allowed_ips",
            "pfsense_list_vpn_wireguard_peer_allowed_ips",
        ),
        (
            Method::Post,
            "vpn/wireguard/tunnel",
            "pfsense_create_vpn_wireguard_tunnel",
        ),
        (
            Method::Get,
            "vpn/openvpn/csos",
            "pfsense_list_vpn_openvpn_csos",
        ),
        (
            Method::Get,
            "vpn/ipsec/phase1s",
            "pfsense_list_vpn_ipsec_phase1s",
        ),
        (
            Method::Patch,
            "vpn/ipsec/phase2/encryption",
            "pfsense_update_vpn_ipsec_phase2_encryption",
        ),
        (
            Method::Get,
            "services/haproxy/backend/acls",
            "pfsense_list_services_haproxy_backend_acls",
        ),
        (
            Method::Get,
            "services/freeradius/users",
            "pfsense_list_services_freeradius_users",
        ),
        (
            Method::Get,
            "status/ipsec/child_sas",
            "pfsense_list_status_ipsec_child_sas",
        ),
        (
            Method::Get,
            "firewall/virtual_ips",
            "pfsense_list_firewall_virtual_ips",
        ),
        (Method::Get, "system/crls", "pfsense_list_system_crls"),
        (
            Method::Post,
            "system/certificate/pkcs12/export",
            "pfsense_post_system_certificate_pkcs12_export",
        ),
        (
            Method::Post,
            "system/certificate/generate",
            "pfsense_post_system_certificate_generate",
        ),
        (
            Method::Patch,
            "system/webgui/settings",
            "pfsense_update_system_webgui_settings",
        ),
        (
            Method::Get,
            "system/restapi/settings",
            "pfsense_get_system_restapi_settings",
        ),
        (Method::Get, "system/version", "pfsense_get_system_version"),
        (Method::Get, "status/system", "pfsense_get_status_system"),
        (
            Method::Patch,
            "services/dhcp_server/backend",
            "pfsense_update_services_dhcp_server_backend",
        ),
        (
            Method::Get,
            "status/logs/firewall",
            "pfsense_list_status_logs_firewall",
        ),
        (
            Method::Patch,
            "firewall/nat/outbound/mode",
            "pfsense_update_firewall_nat_outbound_mode",
        ),
        (
            Method::Get,
            "firewall/nat/port_forwards",
            "pfsense_list_firewall_nat_port_forwards",
        ),
        (
            Method::Post,
            "services/dhcp_server/static_mapping",
            "pfsense_create_services_dhcp_server_static_mapping",
        ),
        (
            Method::Get,
            "routing/gateway/default",
            "pfsense_get_routing_gateway_default",
        ),
        (
            Method::Post,
            "services/wake_on_lan/send",
            "pfsense_post_services_wake_on_lan_send",
        ),
        (
            Method::Post,
            "status/service",
            "pfsense_post_status_service",
        ),
        (
            Method::Delete,
            "firewall/states",
            "pfsense_delete_firewall_states",
        ),
        (
            Method::Get,
            "status/logs/packages/restapi",
            "pfsense_list_status_logs_packages_restapi",
        ),
        (Method::Patch, "services/ssh", "pfsense_update_services_ssh"),
    ];
    for (method, path, name) in expected {
        let o = SPEC
            .find(*method, &format!("/api/v2/{path}"))
            .unwrap_or_else(|| panic!("no {method} {path}"));
        assert_eq!(o.tool_name, *name, "{method} {path}");
    }
    assert!(expected.len() >= 30);
}

#[test]
fn verbs_and_risk() {
    let read = SPEC
        .operations
        .iter()
        .filter(|o| o.risk == Risk::Read)
        .count();
    assert_eq!(read, 236, "every GET and only GETs read");
    assert!(
        SPEC.operations
            .iter()
            .all(|o| (o.risk == Risk::Read) == (o.method == Method::Get))
    );
    let dangerous: Vec<&str> = SPEC
        .operations
        .iter()
        .filter(|o| o.risk == Risk::Dangerous)
        .map(|o| o.tool_name.as_str())
        .collect();
    assert_eq!(
        dangerous,
        [
            "pfsense_create_services_acme_certificate_action",
            "pfsense_create_services_cron_job",
            "pfsense_create_system_package",
            "pfsense_delete_diag_config_history_revisions",
            "pfsense_delete_diagnostics_arp_table",
            "pfsense_delete_firewall_states",
            "pfsense_delete_system_package",
            "pfsense_delete_system_packages",
            "pfsense_post_diagnostics_command_prompt",
            "pfsense_post_diagnostics_halt_system",
            "pfsense_post_diagnostics_reboot",
            "pfsense_post_graphql",
            "pfsense_post_system_restapi_settings_sync",
            "pfsense_replace_services_cron_jobs",
            "pfsense_update_services_acme_certificate_action",
            "pfsense_update_services_cron_job",
            "pfsense_update_system_restapi_version",
        ]
    );
    // An ACME certificate carries its actions inline: only shell and PHP commands among them
    // make the call dangerous (checked per call, the tool stays a write).
    assert_eq!(
        op("pfsense_create_services_acme_certificate").risk,
        Risk::Write
    );
    let cert = "services/acme/certificate";
    let action = |method: &str| json!({"name": "c", "a_actionlist": [{"status": "active", "command": "x", "method": method}]});
    assert!(tables::argument_danger(cert, &action("shellcommand")).is_some());
    assert!(tables::argument_danger(cert, &action("php_command")).is_some());
    assert!(tables::argument_danger(cert, &action("servicerestart")).is_none());
    assert!(tables::argument_danger(cert, &json!({"name": "c"})).is_none());
    // A PUT nests the list in each certificate of `objects`.
    let put = json!({"objects": [{"name": "a"}, action("shellcommand")]});
    assert!(tables::argument_danger("services/acme/certificates", &put).is_some());
    assert!(tables::argument_danger("firewall/alias", &action("shellcommand")).is_none());
    // Root-equivalent privileges, raw OpenVPN directives, raw HAProxy configuration.
    let user = |privs: Value| json!({"name": "u", "priv": privs});
    assert!(tables::argument_danger("user", &user(json!(["user-shell-access"]))).is_some());
    assert!(tables::argument_danger("user/group", &user(json!(["page-all"]))).is_some());
    assert!(tables::argument_danger("user", &user(json!(["page-dashboard-all"]))).is_none());
    // The API's own privileges of dangerous operations and of writes that can grant or take
    // over accounts are root's too (a user with `api-v2-diagnostics-command-prompt-post` runs
    // shell commands).
    for p in [
        "api-v2-diagnostics-command-prompt-post",
        "api-v2-graphql-post",
        "api-v2-services-cron-job-post",
        "api-v2-system-package-post",
        "api-v2-user-patch",
        "api-v2-user-post",
        "api-v2-user-group-patch",
        "api-v2-user-groups-put",
        "api-v2-vpn-openvpn-server-patch",
        "api-v2-system-restapi-settings-sync-post",
    ] {
        assert!(tables::is_root_privilege(p), "{p}");
        assert!(
            tables::argument_danger("user", &user(json!([p]))).is_some(),
            "{p}"
        );
    }
    for p in [
        "api-v2-firewall-alias-post",
        "api-v2-user-get",
        "api-v2-users-delete",
        "api-v2-diagnostics-command-prompt-get",
        "page-dashboard-all",
        "api-v2-",
        // Dangerous to do, not root to hold.
        "api-v2-diagnostics-reboot-post",
        "api-v2-firewall-states-delete",
        "api-v2-diagnostics-arp-table-delete",
        "api-v2-services-haproxy-apply-post",
    ] {
        assert!(!tables::is_root_privilege(p), "{p}");
    }
    // A member added to a group holding a root-equivalent privilege, read from the arguments
    // or the group's current state; the members it already has are no addition.
    let admins = json!({"name": "admins", "member": ["admin"], "priv": ["page-all"]});
    let viewers = json!({"name": "viewers", "member": [], "priv": ["page-dashboard-all"]});
    let join = json!({"id": 1, "member": ["admin", "bob"]});
    let at = |args: &Value, current: Option<&Value>| {
        let state = current.map_or(TargetState::NotRead, TargetState::Known);
        tables::argument_danger_at("user/group", args, state).is_some()
    };
    assert!(at(&join, Some(&admins)));
    assert!(!at(&join, Some(&viewers)));
    assert!(!at(&json!({"id": 1, "member": ["admin"]}), Some(&admins)));
    assert!(at(
        &json!({"id": 1, "member": ["admin", "bob"], "priv": ["page-all"]}),
        Some(&viewers)
    ));
    assert!(!at(
        &json!({"id": 1, "member": ["admin", "bob"], "priv": []}),
        Some(&admins)
    ));
    assert!(at(
        &json!({"name": "g", "member": ["bob"], "priv": ["page-system-usermanager"]}),
        None
    ));
    // A group that could not be read is judged at its worst: any member may be an addition,
    // and its privileges may be root's, unless the arguments set them.
    let unreadable = |args: &Value| {
        tables::argument_danger_at("user/group", args, TargetState::Unreadable).is_some()
    };
    assert!(unreadable(&json!({"id": 1, "member": ["admin"]})));
    assert!(!unreadable(
        &json!({"id": 1, "member": ["admin"], "priv": []})
    ));
    assert!(!unreadable(&json!({"id": 1, "description": "no members"})));
    // A credential of a user holding a root-equivalent privilege (read with its groups'),
    // or of one that could not be read; a new user's password is judged by its privileges.
    let credential = |args: Value, state: TargetState| {
        tables::argument_danger_at("user", &args, state).is_some()
    };
    let root = json!({"name": "admin", "priv": ["user-shell-access", "page-all"]});
    let plain = json!({"name": "bob", "priv": ["page-dashboard-all"]});
    for field in ["password", "authorizedkeys"] {
        assert!(credential(
            json!({"id": 0, field: "x"}),
            TargetState::Known(&root)
        ));
        assert!(!credential(
            json!({"id": 1, field: "x"}),
            TargetState::Known(&plain)
        ));
        assert!(credential(
            json!({"id": 1, field: "x"}),
            TargetState::Unreadable
        ));
        assert!(!credential(
            json!({"id": 0, field: ""}),
            TargetState::Known(&root)
        ));
    }
    assert!(!credential(
        json!({"id": 0, "descr": "x"}),
        TargetState::Known(&root)
    ));
    assert!(!credential(
        json!({"name": "new", "password": "x"}),
        TargetState::NotRead
    ));
    // A PUT of every group judges each against nothing: a root group's members are added.
    let put = |objects: Value| {
        tables::argument_danger_at(
            "user/groups",
            &json!({"objects": objects}),
            TargetState::NotRead,
        )
    };
    assert!(put(json!([admins.clone()])).is_some());
    assert!(put(json!([viewers.clone()])).is_none());
    // With the groups read, each is judged against the group of its name: keeping `admins`
    // as it is grants nothing; a member added to it, or page-all given to another, does.
    let groups = json!([admins.clone(), viewers.clone()]);
    let put_read = |objects: Value| {
        tables::argument_danger_at(
            "user/groups",
            &json!({"objects": objects}),
            TargetState::Known(&groups),
        )
    };
    assert!(put_read(json!([admins.clone(), viewers.clone()])).is_none());
    let mut joined = admins.clone();
    joined["member"] = json!(["admin", "bob"]);
    assert!(put_read(json!([joined, viewers.clone()])).is_some());
    let mut raised = viewers.clone();
    raised["priv"] = json!(["page-all"]);
    assert!(put_read(json!([admins.clone(), raised])).is_some());
    // A user keeping its root privilege and adding an ordinary one grants nothing new.
    let root_user = json!({"name": "admin", "priv": ["user-shell-access"]});
    assert!(
        tables::argument_danger_at(
            "user",
            &json!({"id": 0, "priv": ["user-shell-access", "page-dashboard-all"]}),
            TargetState::Known(&root_user)
        )
        .is_none()
    );
    let openvpn = |opts: Value| json!({"custom_options": opts});
    assert!(
        tables::argument_danger("vpn/openvpn/server", &openvpn(json!(["up /bin/sh"]))).is_some()
    );
    assert!(
        tables::argument_danger(
            "vpn/openvpn/csos",
            &json!({"objects": [openvpn(json!(["x"]))]})
        )
        .is_some()
    );
    assert!(tables::argument_danger("vpn/openvpn/server", &openvpn(json!([]))).is_none());
    assert!(tables::argument_danger("vpn/openvpn/server", &openvpn(json!([""]))).is_none());
    assert!(
        tables::argument_danger(
            "services/haproxy/settings",
            &json!({"advanced": "external-check"})
        )
        .is_some()
    );
    assert!(
        tables::argument_danger("services/haproxy/backend", &json!({"advanced_backend": ""}))
            .is_none()
    );
    // Every field named exists in the spec under its path.
    for d in tables::DANGEROUS_ARGUMENTS {
        assert!(
            SPEC.operations.iter().any(|o| {
                tables::prefix_matches(d.path, o.path.trim_start_matches(API_PREFIX))
                    && o.input_schema["properties"].get(d.field).is_some()
            }),
            "{} {}",
            d.path,
            d.field
        );
    }
    assert_eq!(op("pfsense_delete_firewall_alias").risk, Risk::Destructive);
    assert_eq!(
        op("pfsense_replace_firewall_aliases").risk,
        Risk::Destructive
    );
    assert_eq!(op("pfsense_create_firewall_alias").risk, Risk::Write);
    assert_eq!(op("pfsense_firewall_apply").verb, Verb::Apply);
    // Reviewed actions: stopping a service is destructive, a ping is not.
    assert_eq!(op("pfsense_post_status_service").risk, Risk::Destructive);
    assert_eq!(op("pfsense_post_diagnostics_ping").risk, Risk::Write);
    assert_eq!(
        op("pfsense_list_status_interfaces").summary,
        "Reads all existing Interface Stats."
    );
}

#[test]
fn apply_subsystems_follow_applies_immediately() {
    let cases = [
        (
            "pfsense_create_firewall_alias",
            Some("pfsense_firewall_apply"),
        ),
        (
            "pfsense_update_firewall_nat_port_forward",
            Some("pfsense_firewall_apply"),
        ),
        (
            "pfsense_create_firewall_virtual_ip",
            Some("pfsense_firewall_virtual_ip_apply"),
        ),
        (
            "pfsense_delete_firewall_virtual_ips",
            Some("pfsense_firewall_virtual_ip_apply"),
        ),
        (
            "pfsense_update_services_dhcp_server",
            Some("pfsense_services_dhcp_server_apply"),
        ),
        (
            "pfsense_create_services_dhcp_server_static_mapping",
            Some("pfsense_services_dhcp_server_apply"),
        ),
        (
            "pfsense_create_routing_static_route",
            Some("pfsense_routing_apply"),
        ),
        (
            "pfsense_update_routing_gateway_default",
            Some("pfsense_routing_apply"),
        ),
        (
            "pfsense_create_network_interface",
            Some("pfsense_interface_apply"),
        ),
        (
            "pfsense_delete_network_interfaces",
            Some("pfsense_interface_apply"),
        ),
        (
            "pfsense_create_vpn_wireguard_peer",
            Some("pfsense_vpn_wireguard_apply"),
        ),
        (
            "pfsense_create_vpn_ipsec_phase1",
            Some("pfsense_vpn_ipsec_apply"),
        ),
        (
            "pfsense_create_services_haproxy_backend",
            Some("pfsense_services_haproxy_apply"),
        ),
        (
            "pfsense_create_services_dns_resolver_host_override",
            Some("pfsense_services_dns_resolver_apply"),
        ),
        (
            "pfsense_create_svc_dns_forwarder_host_override",
            Some("pfsense_services_dns_forwarder_apply"),
        ),
        // "Applies immediately: Yes": nothing pending.
        ("pfsense_create_interface_vlan", None),
        ("pfsense_create_firewall_schedule", None),
        ("pfsense_update_system_hostname", None),
        // "No", but no apply endpoint exists for certificates.
        ("pfsense_create_system_certificate", None),
        // Reads never leave anything pending.
        ("pfsense_get_firewall_alias", None),
    ];
    for (name, apply) in cases {
        assert_eq!(
            op(name).apply.as_ref().map(|a| a.apply_tool.as_str()),
            apply,
            "{name}"
        );
    }
    let a = op("pfsense_create_firewall_alias").apply.clone().unwrap();
    assert_eq!(a.subsystem, "firewall");
    assert_eq!(a.status_tool, "pfsense_get_firewall_apply_status");
    assert_eq!(a.path, "/api/v2/firewall/apply");
    // Every apply tool named by an operation exists.
    for o in &SPEC.operations {
        if let Some(a) = &o.apply {
            assert!(SPEC.operation(&a.apply_tool).is_some(), "{}", a.apply_tool);
            assert!(
                SPEC.operation(&a.status_tool).is_some(),
                "{}",
                a.status_tool
            );
        }
    }
}

#[test]
fn modules() {
    let by_module = count_by(&SPEC.operations, |o| o.module);
    assert_eq!(by_module.len(), 19, "every module has tools: {by_module:?}");
    let m = |n: &str| op(n).module;
    assert_eq!(m("pfsense_list_firewall_aliases"), Module::Firewall);
    assert_eq!(m("pfsense_list_network_interfaces"), Module::Interface);
    assert_eq!(m("pfsense_list_interface_vlans"), Module::Interface);
    assert_eq!(m("pfsense_get_services_dhcp_relay"), Module::ServicesDhcp);
    assert_eq!(m("pfsense_list_services_cron_jobs"), Module::ServicesMisc);
    assert_eq!(m("pfsense_get_services_ssh"), Module::ServicesMisc);
    assert_eq!(m("pfsense_list_status_dhcp_server_leases"), Module::Status);
    assert_eq!(m("pfsense_list_users"), Module::User);
    assert_eq!(m("pfsense_post_auth_jwt"), Module::Auth);
    assert_eq!(m("pfsense_list_vpn_openvpn_servers"), Module::VpnOpenvpn);
}

fn props(o: &Operation) -> &serde_json::Map<String, Value> {
    o.input_schema["properties"].as_object().unwrap()
}

fn required(o: &Operation) -> Vec<&str> {
    o.input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn input_schema_rules() {
    let create = op("pfsense_create_firewall_alias");
    assert_eq!(required(create), ["name", "type"]);
    assert_eq!(
        props(create)["type"]["enum"],
        json!(["host", "network", "port"])
    );
    assert!(props(create).contains_key("confirm"));
    assert!(props(create).contains_key("apply"));
    assert!(!props(create).contains_key("id"), "POST takes no id");
    // maxItems 0 means no limit.
    assert!(props(create)["address"].get("maxItems").is_none());

    let patch = op("pfsense_update_firewall_alias");
    assert_eq!(required(patch), ["id"]);
    assert!(
        props(patch).values().all(|p| p.get("default").is_none()
            || p == &props(patch)["apply"]
            || p == &props(patch)["confirm"]),
        "PATCH schemas carry no spec defaults"
    );

    // Nested sub-resource: parent_id typed by the parent (DHCP servers are named by interface).
    let sm = op("pfsense_create_services_dhcp_server_static_mapping");
    assert_eq!(required(sm), ["parent_id", "mac"]);
    assert_eq!(props(sm)["parent_id"]["type"], "string");
    let iface = op("pfsense_get_network_interface");
    assert_eq!(props(iface)["id"]["type"], "string");
    assert_eq!(
        props(op("pfsense_get_firewall_alias"))["id"]["type"],
        "integer"
    );

    // Field names stay as the API spells them.
    let rule = op("pfsense_create_firewall_rule");
    for field in ["type", "interface", "ipprotocol"] {
        assert!(props(rule).contains_key(field), "{field}");
    }
    // readOnly fields (the rule tracker) are not inputs.
    assert!(!props(rule).contains_key("tracker"));

    // PUT takes the complete list with full item schemas.
    let put = op("pfsense_replace_firewall_aliases");
    assert_eq!(required(put), ["objects"]);
    let item = &props(put)["objects"]["items"];
    assert_eq!(item["required"], json!(["name", "type"]));
    assert_eq!(
        item["properties"]["type"]["enum"],
        json!(["host", "network", "port"])
    );

    // Arrays of objects keep their full item schema.
    let sched = op("pfsense_create_firewall_schedule");
    let tr = &props(sched)["timerange"]["items"];
    assert_eq!(tr["type"], "object");
    assert!(tr["properties"].as_object().unwrap().contains_key("month"));

    // Plural reads: paging, sorting with enums, and filters.
    let list = op("pfsense_list_firewall_aliases");
    assert_eq!(
        props(list)["sort_order"]["enum"],
        json!(["SORT_ASC", "SORT_DESC"])
    );
    assert_eq!(props(list)["query"]["type"], "object");
    assert!(
        !props(list).contains_key("confirm"),
        "reads need no confirmation"
    );
}

#[test]
fn conditions_are_stated_not_required() {
    let mut with_conditions = 0;
    for o in &SPEC.operations {
        let req = required(o);
        for a in &o.args {
            if !a.conditions.is_empty() {
                with_conditions += 1;
                assert!(
                    !req.contains(&a.name.as_str()),
                    "{}: conditional `{}` is required",
                    o.tool_name,
                    a.name
                );
                let d = props(o)[&a.name]["description"].as_str().unwrap_or("");
                assert!(
                    d.contains("Only when"),
                    "{}: `{}` does not state its condition: {d}",
                    o.tool_name,
                    a.name
                );
            }
        }
    }
    assert!(with_conditions > 500, "{with_conditions}");
    let rule = op("pfsense_create_firewall_rule");
    let a = rule.arg("icmptype").expect("icmptype");
    assert_eq!(a.conditions[0].field, "protocol");
}

fn walk(v: &Value, f: &mut impl FnMut(&Value)) {
    f(v);
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(x, f)),
        Value::Object(m) => m.values().for_each(|x| walk(x, f)),
        _ => {}
    }
}

#[test]
fn schemas_are_valid_json_schema_with_safe_integers() {
    let meta = jsonschema::draft202012::meta::validator();
    let limit = 2f64.powi(53);
    let mut enums_in_items = 0;
    for o in &SPEC.operations {
        assert!(
            meta.is_valid(&o.input_schema),
            "{}: {:?}",
            o.tool_name,
            meta.validate(&o.input_schema).err()
        );
        jsonschema::validator_for(&o.input_schema)
            .unwrap_or_else(|e| panic!("{}: {e}", o.tool_name));
        walk(&o.input_schema, &mut |v| {
            if let Some(n) = v.as_f64() {
                assert!(n.abs() < limit, "{}: integer {v} too large", o.tool_name);
            }
            if let Some(m) = v.as_object() {
                assert!(
                    !m.contains_key("nullable"),
                    "{}: nullable is not JSON Schema",
                    o.tool_name
                );
                assert!(!m.contains_key("readOnly"));
                if m.get("type") == Some(&json!("array")) && m["items"].get("enum").is_some() {
                    enums_in_items += 1;
                }
            }
        });
    }
    assert!(enums_in_items > 0);
}

#[test]
fn sensitive_fields_are_marked() {
    let key = op("pfsense_create_vpn_wireguard_tunnel");
    assert!(key.arg("privatekey").unwrap().sensitive);
    // The tunnel's public key is derived (readOnly) and so is no input at all.
    assert!(key.arg("publickey").is_none());
    assert!(!key.arg("listenport").unwrap().sensitive);
    let peer = op("pfsense_create_vpn_wireguard_peer");
    assert!(!peer.arg("publickey").unwrap().sensitive);
    assert!(peer.arg("presharedkey").unwrap().sensitive);
    let user = op("pfsense_create_user");
    assert!(user.arg("password").unwrap().sensitive);
    assert!(!user.arg("name").unwrap().sensitive);
    let cert = op("pfsense_create_system_certificate");
    assert!(cert.arg("prv").unwrap().sensitive);
    assert!(!cert.arg("crt").unwrap().sensitive);
}

/// Secrets deny-by-default: the runtime redacts by field name, so every field the spec marks
/// secret (write-only, `format: password`) and every field pfrest marks sensitive must be
/// caught by the name rule; and every such field is a sensitive argument of the tools.
#[test]
fn every_spec_or_pfrest_secret_is_caught_by_the_name_rule() {
    let mut spec_marked = 0;
    for (model, schema) in &SPEC.models {
        for field in &schema.fields {
            if field.sensitive {
                spec_marked += 1;
                assert!(
                    tables::is_sensitive_field(&field.name),
                    "{model}.{} is secret by the spec but the name rule misses it",
                    field.name
                );
            }
        }
    }
    assert!(spec_marked > 150, "{spec_marked}");
    for (model, fields) in tables::PFREST_SENSITIVE {
        let schema = SPEC
            .models
            .get(*model)
            .unwrap_or_else(|| panic!("pfrest model {model} is not in the spec"));
        for field in *fields {
            let f = schema
                .field(field)
                .unwrap_or_else(|| panic!("{model}.{field} is not in the spec"));
            assert!(f.sensitive, "{model}.{field}");
        }
    }
    // The fields the name words missed before (issue 13), by name and as tool arguments.
    for name in [
        "ldap_bindpw",
        "tls",
        "keypaste",
        "do_pw",
        "infoblox_creds",
        "motp_pin",
        "proxypass",
        "hash",
        "ipsecpsk",
        "presharedkey",
        "auth_pass",
        "nm_sha256",
    ] {
        assert!(tables::is_sensitive_field(name), "{name}");
    }
    let post = |path: &str| {
        SPEC.operations
            .iter()
            .find(|o| o.path == path && o.method == Method::Post)
            .unwrap_or_else(|| panic!("no POST {path}"))
    };
    assert!(
        post("/api/v2/user/auth_server")
            .arg("ldap_bindpw")
            .unwrap()
            .sensitive
    );
    assert!(!tables::is_sensitive_field("use_tls"));
    // Public keys, as the WireGuard status reads spell them, are no secret.
    assert!(!tables::is_sensitive_field("public_key"));
    assert!(tables::is_sensitive_field("preshared_key"));
    // Case does not matter (most names are lower case and go unlowered).
    assert!(tables::is_sensitive_field("Auth_Pass"));
    assert!(tables::is_sensitive_field("PRESHAREDKEY"));
    assert!(!tables::is_sensitive_field("Use_TLS"));
    // A query filter (`field__op`) is as secret as its field; the operator alone decides nothing.
    assert!(tables::is_sensitive_field("ldap_bindpw__contains"));
    assert!(tables::is_sensitive_field("LDAP_BINDPW__startswith"));
    assert!(!tables::is_sensitive_field("descr__contains"));
    assert!(tables::is_sensitive_field("__password"));
    assert!(tables::is_sensitive_field("password___x"));
    // Write-only fields that are no secret stay visible.
    let ping = post("/api/v2/diagnostics/ping");
    assert!(!ping.arg("host").unwrap().sensitive);
    assert!(tables::pfrest_hides("OpenVPNServer", "tls"));
    assert!(!tables::pfrest_hides("User", "ipsecpsk"));
}

#[test]
fn descriptions_are_clean() {
    for o in &SPEC.operations {
        assert!(
            !o.description.contains('<'),
            "{}: {}",
            o.tool_name,
            o.description
        );
        assert!(!o.summary.is_empty(), "{}", o.tool_name);
    }
    assert_eq!(
        op("pfsense_create_firewall_alias").description,
        "Creates a new Firewall Alias. Pending until `pfsense_firewall_apply`."
    );
}

#[test]
fn models_keep_every_field() {
    assert_eq!(SPEC.models.len(), 178);
    let rule = &SPEC.models["FirewallRule"];
    let tracker = rule.field("tracker").expect("tracker");
    assert!(tracker.read_only);
    let statetype = rule.field("statetype").unwrap();
    assert_eq!(statetype.schema["default"], "keep state");
    let wg = &SPEC.models["WireGuardTunnel"];
    assert!(wg.field("privatekey").unwrap().sensitive);
    let writeonly = SPEC
        .models
        .values()
        .flat_map(|m| &m.fields)
        .filter(|f| f.write_only)
        .count();
    assert_eq!(writeonly, 83);
    let readonly = SPEC
        .models
        .values()
        .flat_map(|m| &m.fields)
        .filter(|f| f.read_only)
        .count();
    assert_eq!(readonly, 231);
}

/// Five representative tools, pinned whole: a CRUD create, a PATCH, a settings singleton, a
/// nested sub-resource and an apply endpoint. Reviewed by hand against the spec when accepted.
#[test]
fn representative_tools_snapshot() {
    for name in [
        "pfsense_create_firewall_alias",
        "pfsense_update_firewall_nat_port_forward",
        "pfsense_update_system_dns",
        "pfsense_create_services_dhcp_server_static_mapping",
        "pfsense_firewall_apply",
    ] {
        insta::assert_json_snapshot!(name, op(name));
    }
}

#[test]
fn model_fields_keep_raw_defaults_and_item_models() {
    let rule = &SPEC.models["FirewallRule"];
    let direction = rule.field("direction").unwrap();
    assert!(!direction.conditions.is_empty());
    assert!(
        direction.schema.get("default").is_none(),
        "conditional defaults stay out of the schema"
    );
    assert_eq!(direction.default, Some(json!("any")));
    assert_eq!(
        SPEC.models["FirewallSchedule"]
            .field("timerange")
            .unwrap()
            .item_model
            .as_deref(),
        Some("FirewallScheduleTimeRange")
    );
    assert_eq!(
        SPEC.models["IPsecSAStatus"]
            .field("child_sas")
            .unwrap()
            .item_model
            .as_deref(),
        Some("IPsecChildSAStatus")
    );
    assert_eq!(
        SPEC.models["FirewallAlias"]
            .field("address")
            .unwrap()
            .item_model,
        None
    );
}

/// The listed form keeps every property, enum and condition of the full schema, except the
/// families a selector enables (`lean::FOLD_MIN_FIELDS`), which the selector names, and the
/// choices of the list parameters the instructions state.
#[test]
fn listed_schemas_keep_properties_enums_and_conditions() {
    fn enums(v: &Value, out: &mut Vec<Value>) {
        walk(v, &mut |x| {
            if let Some(e) = x.get("enum") {
                out.push(e.clone());
            }
        });
    }
    let meta = jsonschema::draft202012::meta::validator();
    let mut folded_ops = 0;
    for o in &SPEC.operations {
        let full = props(o);
        let listed = o.listed_schema["properties"].as_object().unwrap();
        let text = o.listed_schema.to_string();
        let folds = text.contains("not listed here");
        folded_ops += usize::from(folds);
        for name in full.keys().filter(|k| !listed.contains_key(*k)) {
            // Only a folded field is left out, and its selector says so.
            let arg = o.arg(name).unwrap();
            let named = arg.conditions.iter().any(|c| {
                listed
                    .get(&c.field)
                    .and_then(|f| f.get("description"))
                    .and_then(Value::as_str)
                    .is_some_and(|d| d.contains("not listed here"))
            });
            assert!(named, "{}: `{name}` left out of the listing", o.tool_name);
            assert!(!arg.required, "{}: required `{name}` folded", o.tool_name);
        }
        assert!(
            listed.keys().all(|k| full.contains_key(k)),
            "{}",
            o.tool_name
        );
        for ours in ["confirm", "expect_state"] {
            assert_eq!(
                full.contains_key(ours),
                listed.contains_key(ours),
                "{}: {ours}",
                o.tool_name
            );
        }
        assert_eq!(
            o.listed_schema.get("required"),
            o.input_schema.get("required"),
            "{}",
            o.tool_name
        );
        assert!(meta.is_valid(&o.listed_schema), "{}", o.tool_name);
        // Top-level enums are all still there.
        for (name, p) in full.iter().filter(|(n, _)| listed.contains_key(*n)) {
            if pfsense_spec::lean::LIST_CHOICE_ARGS.contains(&name.as_str()) {
                continue;
            }
            assert_eq!(
                p.get("enum"),
                listed[name].get("enum"),
                "{} {name}",
                o.tool_name
            );
        }
        // Every top-level condition is stated on the field or grouped on the field it reads.
        for a in o.args.iter().filter(|a| listed.contains_key(&a.name)) {
            for c in &a.conditions {
                assert!(
                    text.contains(&c.field),
                    "{}: condition on {} lost",
                    o.tool_name,
                    c.field
                );
            }
            if !a.conditions.is_empty() {
                let own = listed[&a.name]
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let grouped = a.conditions.iter().any(|c| {
                    listed
                        .get(&c.field)
                        .and_then(|f| f.get("description"))
                        .and_then(Value::as_str)
                        .is_some_and(|d| d.contains(a.name.as_str()))
                });
                assert!(
                    own.contains("Only if") || grouped,
                    "{}: `{}` lost its condition",
                    o.tool_name,
                    a.name
                );
            }
        }
        // Nested enums survive unless the items refer to another tool or a family is folded.
        let mut full_enums = Vec::new();
        enums(&o.input_schema, &mut full_enums);
        let mut listed_enums = Vec::new();
        enums(&o.listed_schema, &mut listed_enums);
        let list_choices = full
            .keys()
            .filter(|k| pfsense_spec::lean::LIST_CHOICE_ARGS.contains(&k.as_str()))
            .filter(|k| full[*k].get("enum").is_some())
            .count();
        if !text.contains("the fields of `") && !folds {
            assert_eq!(
                full_enums.len(),
                listed_enums.len() + list_choices,
                "{}",
                o.tool_name
            );
        }
    }
    // ACME's DNS providers (create and update of a certificate domain, and more).
    assert!(folded_ops >= 2, "{folded_ops}");
    let put = op("pfsense_replace_firewall_aliases");
    assert!(
        put.listed_schema
            .to_string()
            .contains("Each item takes the fields of `pfsense_create_firewall_alias`")
    );
    let acme = op("pfsense_create_services_acme_certificate");
    assert!(
        acme.listed_schema
            .to_string()
            .contains("`pfsense_create_services_acme_certificate_domain`")
    );
    let domain = op("pfsense_create_services_acme_certificate_domain");
    let method = domain.listed_schema["properties"]["method"]["description"]
        .as_str()
        .unwrap();
    assert!(method.contains("not listed here"), "{method}");
    assert!(
        domain.input_schema["properties"]
            .get("aws_access_key_id")
            .is_some()
    );
}
