//! pfrest's own per-model rules (v2.7.1 `Models/*.inc`, `Validators/`, `Core/Field.inc`,
//! `Core/Model.inc`), over HTTP: what a real box refuses, the sandbox refuses with the same
//! status and `response_id`, and nothing is written.

mod common;

use common::{Emu, start, with_query};
use serde_json::{Value, json};

/// Assert a refusal and that the collection behind `list_path` did not change.
async fn refused(
    emu: &Emu,
    method: &str,
    path: &str,
    body: Value,
    status: u16,
    id: &str,
    list_path: &str,
) {
    let before = steady(emu.get(list_path).await.data());
    let r = emu.json(method, path, body).await;
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.response_id(), id, "{}", r.text);
    assert_eq!(
        steady(emu.get(list_path).await.data()),
        before,
        "a refused write changed nothing"
    );
}

/// A list without the time stamps pfrest reads as the current second where config.xml lacks
/// them (the default LAN rules': `TIMES_READ_AS_NOW`): two reads a second apart differ there
/// with nothing written.
fn steady(mut list: Value) -> Value {
    for object in list.as_array_mut().into_iter().flatten() {
        if let Some(o) = object.as_object_mut() {
            o.retain(|field, _| !pfsense_spec::tables::is_time_read_as_now(field));
        }
    }
    list
}

async fn ok(emu: &Emu, method: &str, path: &str, body: Value) -> Value {
    let r = emu.json(method, path, body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.data()
}

const ALIAS: &str = "/api/v2/firewall/alias";
const ALIASES: &str = "/api/v2/firewall/aliases";

fn alias(name: &str, kind: &str, address: &[&str]) -> Value {
    json!({"name": name, "type": kind, "address": address})
}

#[tokio::test]
async fn alias_names_follow_pfsense_and_the_filter_name_validator() {
    let emu = start().await;
    for (name, id) in [
        ("web-servers", "INVALID_FIREWALL_ALIAS_NAME"),
        ("ssh", "INVALID_FIREWALL_ALIAS_NAME"),
        ("pkg_mine", "FILTER_NAME_VALIDATOR_CANNOT_START_WITH_PKG"),
        ("12345", "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL"),
        ("any", "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED"),
        ("bogons", "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED"),
        ("LAN__NETWORK", "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED"),
        ("lan", "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE"),
    ] {
        refused(
            &emu,
            "POST",
            ALIAS,
            alias(name, "host", &["10.0.0.1"]),
            400,
            id,
            ALIASES,
        )
        .await;
    }
    ok(
        &emu,
        "POST",
        ALIAS,
        alias("web_servers", "host", &["10.0.0.1"]),
    )
    .await;
}

#[tokio::test]
async fn alias_addresses_are_checked_by_type() {
    let emu = start().await;
    for (kind, address, id) in [
        ("network", "10.0.0.0/33", "INVALID_NETWORK_ALIAS_ADDRESS"),
        ("network", "10.0.0.1", "INVALID_NETWORK_ALIAS_ADDRESS"),
        ("host", "10.0.0.300", "INVALID_HOST_ALIAS_ADDRESS"),
        ("host", "10.0.0.0/24", "INVALID_HOST_ALIAS_ADDRESS"),
        ("port", "70000", "INVALID_PORT_ALIAS_ADDRESS"),
        ("port", "80-90", "INVALID_PORT_ALIAS_ADDRESS"),
    ] {
        refused(
            &emu,
            "POST",
            ALIAS,
            alias("a1", kind, &[address]),
            400,
            id,
            ALIASES,
        )
        .await;
    }
    ok(
        &emu,
        "POST",
        ALIAS,
        alias("nets", "network", &["10.0.0.0/8", "www.example.com"]),
    )
    .await;
    ok(
        &emu,
        "POST",
        ALIAS,
        alias("hosts", "host", &["10.0.0.1", "nets"]),
    )
    .await;
    ok(
        &emu,
        "POST",
        ALIAS,
        alias("ports", "port", &["80", "8000:8080", "https"]),
    )
    .await;
    // A port alias cannot nest a host alias.
    refused(
        &emu,
        "POST",
        ALIAS,
        alias("p2", "port", &["hosts"]),
        400,
        "INVALID_PORT_ALIAS_ADDRESS",
        ALIASES,
    )
    .await;
    // More details than addresses.
    let mut body = alias("d1", "host", &["10.0.0.1"]);
    body["detail"] = json!(["one", "two"]);
    refused(
        &emu,
        "POST",
        ALIAS,
        body,
        400,
        "TOO_MANY_ALIAS_DETAILS",
        ALIASES,
    )
    .await;
    // Fewer details than addresses: the rest is filled in.
    let mut body = alias("d2", "host", &["10.0.0.1", "10.0.0.2"]);
    body["detail"] = json!(["first"]);
    let a = ok(&emu, "POST", ALIAS, body).await;
    assert_eq!(a["detail"][0], "first");
    assert!(
        a["detail"][1].as_str().unwrap().starts_with("Entry added "),
        "{a}"
    );
}

#[tokio::test]
async fn non_editable_fields_keep_their_value() {
    let emu = start().await;
    let a = ok(&emu, "POST", ALIAS, alias("kept", "host", &["10.0.0.1"])).await;
    refused(
        &emu,
        "PATCH",
        ALIAS,
        json!({"id": a["id"], "name": "renamed"}),
        400,
        "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
        ALIASES,
    )
    .await;
    // Sending the same value is fine.
    ok(
        &emu,
        "PATCH",
        ALIAS,
        json!({"id": a["id"], "name": "kept", "descr": "x"}),
    )
    .await;
    // A rule cannot become floating after creation.
    refused(
        &emu,
        "PATCH",
        "/api/v2/firewall/rule",
        json!({"id": 0, "floating": true}),
        400,
        "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
        "/api/v2/firewall/rules",
    )
    .await;
    // The message writes values as PHP interpolates them: a null as nothing (lab v2.7.1:
    // "requested value `` differs from its current value `100000101`").
    let tracker = emu.get("/api/v2/firewall/rule?id=0").await.data()["tracker"].clone();
    let r = emu
        .json(
            "PATCH",
            "/api/v2/firewall/rule",
            json!({"id": 0, "tracker": null}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains(&format!(
            "requested value `` differs from its current value `{tracker}`"
        )),
        "{}",
        r.text
    );
}

fn rule(interfaces: &[&str]) -> Value {
    json!({"type": "pass", "interface": interfaces, "ipprotocol": "inet", "source": "any", "destination": "any"})
}

#[tokio::test]
async fn firewall_rule_cross_field_rules() {
    let emu = start().await;
    let rules = "/api/v2/firewall/rules";
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        rule(&["lan", "wan"]),
        400,
        "FIREWALL_RULE_MULTIPLE_INTERFACE_WITHOUT_FLOATING",
        rules,
    )
    .await;
    let mut floating = rule(&["lan", "wan"]);
    floating["floating"] = json!(true);
    ok(&emu, "POST", "/api/v2/firewall/rule", floating).await;
    let mut synproxy = rule(&["lan"]);
    synproxy["protocol"] = json!("udp");
    synproxy["statetype"] = json!("synproxy state");
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        synproxy,
        400,
        "FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_NON_TCP_PROTOCOL",
        rules,
    )
    .await;
    let mut flags = rule(&["lan"]);
    flags["protocol"] = json!("tcp");
    flags["tcp_flags_out_of"] = json!(["syn", "ack"]);
    flags["tcp_flags_set"] = json!(["fin"]);
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        flags,
        400,
        "FIREWALL_RULE_TCP_FLAGS_SET_NOT_IN_TCP_FLAGS_OUT_OF",
        rules,
    )
    .await;
    let mut pipe = rule(&["lan"]);
    pipe["dnpipe"] = json!("nolimiter");
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        pipe,
        404,
        "FIREWALL_RULE_DNPIPE_NOT_FOUND",
        rules,
    )
    .await;
    // `any` is not an interface of a non-floating rule in v2.7.1.
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        rule(&["any"]),
        400,
        "FIELD_INVALID_CHOICE",
        rules,
    )
    .await;
}

#[tokio::test]
async fn deleting_every_rule_keeps_the_first_and_answers_403() {
    let emu = start().await;
    let all = emu
        .query("DELETE", "/api/v2/firewall/rules", &[("all", "true")])
        .await;
    assert_eq!(all.status, 403, "{}", all.text);
    assert_eq!(all.response_id(), "MODEL_MANY_MINIMUM_REACHED");
    // pfrest deletes one by one in reverse order: all but the first are gone.
    let left = emu.get("/api/v2/firewall/rules").await.data();
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    assert_eq!(left[0]["descr"], "Default allow LAN to any rule");
    let one = emu
        .query("DELETE", "/api/v2/firewall/rule", &[("id", "0")])
        .await;
    assert_eq!(one.status, 403);
    assert_eq!(one.response_id(), "MODEL_MANY_MINIMUM_REACHED");
    let put = emu.json("PUT", "/api/v2/firewall/rules", json!([])).await;
    assert_eq!(put.status, 400);
    assert_eq!(put.response_id(), "MODEL_REPLACE_ALL_MINIMUM_NOT_MET");
    assert_eq!(
        emu.get("/api/v2/firewall/rules")
            .await
            .data()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn port_forward_needs_local_port_for_tcp_and_udp() {
    let emu = start().await;
    let pf = json!({"interface": "wan", "protocol": "tcp", "source": "any", "destination": "wanip",
                    "destination_port": "443", "target": "192.168.1.10"});
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/nat/port_forward",
        pf.clone(),
        400,
        "FIELD_IS_REQUIRED",
        "/api/v2/firewall/nat/port_forwards",
    )
    .await;
    let mut icmp = pf.clone();
    icmp["protocol"] = json!("icmp");
    ok(&emu, "POST", "/api/v2/firewall/nat/port_forward", icmp).await;
    let mut good = pf;
    good["local_port"] = json!("443");
    ok(&emu, "POST", "/api/v2/firewall/nat/port_forward", good).await;
}

#[tokio::test]
async fn static_route_to_a_connected_subnet_is_refused() {
    let emu = start().await;
    let gw = ok(&emu, "POST", "/api/v2/routing/gateway",
        json!({"name": "LANGW", "interface": "lan", "ipprotocol": "inet", "gateway": "192.168.1.254"})).await;
    let route = |network: &str| json!({"network": network, "gateway": gw["name"]});
    refused(
        &emu,
        "POST",
        "/api/v2/routing/static_route",
        route("192.168.1.0/24"),
        400,
        "STATIC_ROUTE_CONFLICTS_WITH_IPV4_INTERFACE",
        "/api/v2/routing/static_routes",
    )
    .await;
    refused(
        &emu,
        "POST",
        "/api/v2/routing/static_route",
        route("2001:db8::/64"),
        400,
        "STATIC_ROUTE_NON_IPV4_NETWORK_WITH_IPV4_GATEWAY",
        "/api/v2/routing/static_routes",
    )
    .await;
    ok(
        &emu,
        "POST",
        "/api/v2/routing/static_route",
        route("10.20.0.0/16"),
    )
    .await;
}

#[tokio::test]
async fn dhcp_static_mapping_outside_the_pool_and_inside_the_subnet() {
    let emu = start().await;
    let path = "/api/v2/services/dhcp_server/static_mapping";
    let list = &with_query(
        "/api/v2/services/dhcp_server/static_mappings",
        &[("parent_id", "lan")],
    );
    let mapping = |ip: &str| json!({"parent_id": "lan", "mac": "00:11:22:33:44:55", "ipaddr": ip});
    refused(
        &emu,
        "POST",
        path,
        mapping("192.168.1.150"),
        409,
        "DHCP_SERVER_STATIC_MAPPING_IPADDR_OVERLAPS_EXISTING_OBJECT",
        list,
    )
    .await;
    refused(
        &emu,
        "POST",
        path,
        mapping("10.9.9.9"),
        400,
        "DHCP_SERVER_STATIC_MAPPING_IPADDR_NOT_WITHIN_SUBNET",
        list,
    )
    .await;
    ok(&emu, "POST", path, mapping("192.168.1.50")).await;
}

#[tokio::test]
async fn reserved_usernames_and_system_accounts() {
    let emu = start().await;
    for name in ["root", "nobody", "sshd"] {
        refused(
            &emu,
            "POST",
            "/api/v2/user",
            json!({"name": name, "password": "S3cret-pass"}),
            400,
            "USER_CANNOT_USE_RESERVED_USERNAME",
            "/api/v2/users",
        )
        .await;
    }
    let admin = emu.query("DELETE", "/api/v2/user", &[("id", "0")]).await;
    assert_eq!(admin.status, 400, "{}", admin.text);
    assert_eq!(
        admin.response_id(),
        "USER_WITH_SYSTEM_SCOPE_CANNOT_BE_DELETED"
    );
    let group = emu
        .query("DELETE", "/api/v2/user/group", &[("id", "0")])
        .await;
    assert_eq!(group.status, 403, "{}", group.text);
    assert_eq!(group.response_id(), "MODEL_CANNOT_DELETE_PROTECTED_OBJECT");
    let wan = emu
        .query("DELETE", "/api/v2/interface", &[("id", "wan")])
        .await;
    assert_eq!(wan.status, 400, "{}", wan.text);
    assert_eq!(wan.response_id(), "NETWORK_INTERFACE_WAN_CANNOT_BE_DELETED");
}

#[tokio::test]
async fn defaults_read_like_pfrest_not_null() {
    let emu = start().await;
    let a = ok(&emu, "POST", ALIAS, alias("plain", "host", &["10.0.0.1"])).await;
    assert_eq!(a["descr"], "");
    let r = ok(&emu, "POST", "/api/v2/firewall/rule", rule(&["lan"])).await;
    assert_eq!(r["descr"], "");
    assert_eq!(r["disabled"], false);
    assert_eq!(r["log"], false);
    assert_eq!(r["floating"], false);
    // Fields whose conditions are not met stay null, as in pfrest.
    assert_eq!(r["direction"], Value::Null);
    assert_eq!(r["source_port"], Value::Null);
    // The nullable ones stay null.
    assert_eq!(r["protocol"], Value::Null);
    assert_eq!(r["gateway"], Value::Null);
}

/// The default LAN rules carry no `<created>`/`<updated>`: pfrest reads both as the current
/// second (two GETs of rule 0 on the lab a second apart differed), until an update stores them.
#[tokio::test]
async fn a_default_rules_missing_times_read_as_now_until_an_update() {
    let emu = start().await;
    let rule0 = || async { emu.get("/api/v2/firewall/rule?id=0").await.data() };
    let first = rule0().await;
    assert!(
        first["created_time"].as_i64().unwrap() > 1_700_000_000,
        "{first}"
    );
    assert_eq!(first["created_time"], first["updated_time"]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = rule0().await;
    assert_ne!(later["created_time"], first["created_time"]);
    ok(
        &emu,
        "PATCH",
        "/api/v2/firewall/rule",
        json!({"id": 0, "descr": "edited"}),
    )
    .await;
    let stored = rule0().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(rule0().await, stored);
}

#[tokio::test]
async fn list_lengths_use_the_length_validator_ids() {
    let emu = start().await;
    // An alias address list has no maximum (`many_maximum: 0`).
    let many: Vec<String> = (0..300)
        .map(|i| format!("10.1.{}.{}", i / 250, i % 250 + 1))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    ok(&emu, "POST", ALIAS, alias("big", "host", &many)).await;
    // A required list may not be empty.
    refused(
        &emu,
        "POST",
        "/api/v2/firewall/rule",
        rule(&[]),
        400,
        "FIELD_EMPTY_NOT_ALLOWED",
        "/api/v2/firewall/rules",
    )
    .await;
    // `many_minimum` of a list field: at least one auth method.
    let before = emu.get("/api/v2/system/restapi/settings").await.data();
    let r = emu
        .json(
            "PATCH",
            "/api/v2/system/restapi/settings",
            json!({"auth_methods": []}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.response_id(), "LENGTH_VALIDATOR_MINIMUM_CONSTRAINT");
    assert_eq!(
        emu.get("/api/v2/system/restapi/settings").await.data(),
        before
    );
}

#[tokio::test]
async fn unique_together_fields() {
    let emu = start().await;
    let path = "/api/v2/services/dns_resolver/host_override";
    let host = json!({"host": "nas", "domain": "home.arpa", "ip": ["192.168.1.5"]});
    ok(&emu, "POST", path, host.clone()).await;
    refused(
        &emu,
        "POST",
        path,
        host,
        400,
        "MODEL_FIELDS_NOT_UNIQUE_TOGETHER",
        "/api/v2/services/dns_resolver/host_overrides",
    )
    .await;
}

#[tokio::test]
async fn represent_interfaces_as_changes_what_is_shown_and_accepted() {
    let emu = start().await;
    ok(
        &emu,
        "PATCH",
        "/api/v2/system/restapi/settings",
        json!({"represent_interfaces_as": "descr"}),
    )
    .await;
    let rules = emu.get("/api/v2/firewall/rules").await.data();
    assert_eq!(rules[0]["interface"], json!(["LAN"]), "{rules}");
    let r = ok(&emu, "POST", "/api/v2/firewall/rule", rule(&["WAN"])).await;
    assert_eq!(r["interface"], json!(["WAN"]));
    ok(
        &emu,
        "PATCH",
        "/api/v2/system/restapi/settings",
        json!({"represent_interfaces_as": "if"}),
    )
    .await;
    let rules = emu.get("/api/v2/firewall/rules").await.data();
    assert_eq!(
        rules[2]["interface"],
        json!(["em0"]),
        "stored as the interface id `wan`"
    );
    let pf = ok(
        &emu,
        "POST",
        "/api/v2/firewall/nat/port_forward",
        json!({"interface": "em0", "protocol": "tcp", "source": "any", "destination": "wanip",
               "destination_port": "80", "target": "192.168.1.10", "local_port": "80"}),
    )
    .await;
    assert_eq!(pf["interface"], "em0");
    ok(
        &emu,
        "PATCH",
        "/api/v2/system/restapi/settings",
        json!({"represent_interfaces_as": "id"}),
    )
    .await;
    let pfs = emu.get("/api/v2/firewall/nat/port_forwards").await.data();
    assert_eq!(pfs[0]["interface"], "wan");
}

/// A spec of another pfrest version from `../shared/specs` (or `PFSENSE_SPECS_DIR`).
fn versioned_spec(version: &str) -> std::path::PathBuf {
    let dir = std::env::var("PFSENSE_SPECS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs")
        });
    let path = dir.join(format!("openapi-{version}.json"));
    assert!(
        path.exists(),
        "{} is missing (set PFSENSE_SPECS_DIR)",
        path.display()
    );
    path
}

/// An emulator of `spec` (None = v2.7.1) seeded with a CA `ca1` that an OpenVPN server uses and
/// a CA `ca2` that only signed a certificate.
async fn with_cas(spec: Option<std::path::PathBuf>) -> Emu {
    let state = json!({"collections": {
        "CertificateAuthority": [
            {"refid": "ca1", "descr": "VPN CA", "crt": "", "prv": ""},
            {"refid": "ca2", "descr": "Web CA", "crt": "", "prv": ""}
        ],
        "Certificate": [{"refid": "c1", "descr": "web", "caref": "ca2", "crt": "", "prv": ""}],
        "OpenVPNServer": [{"vpnid": 1, "mode": "server_tls", "caref": "ca1", "certref": "c1"}]
    }});
    let name = format!("cas-{}", spec.is_some());
    start_with_state(spec, &state, &name).await
}

/// An emulator of `spec` (None = v2.7.1) starting from `state`, written to a state file named
/// after `name` and the process, removed once the emulator has read it (it reads it at start).
async fn start_with_state(spec: Option<std::path::PathBuf>, state: &Value, name: &str) -> Emu {
    let file = std::env::temp_dir().join(format!("emu-{name}-{}.json", std::process::id()));
    std::fs::write(&file, state.to_string()).unwrap();
    let mut config = match spec {
        Some(path) => pfsense_emulator::EmulatorConfig::new(path),
        None => common::config(),
    };
    config.state_file = Some(file.clone());
    let emu = common::start_with(config).await;
    let _ = std::fs::remove_file(&file);
    emu
}

#[tokio::test]
async fn certificate_authorities_in_use_by_version() {
    let emu = with_cas(None).await;
    let cas = "/api/v2/system/certificate_authorities";
    let r = emu
        .query(
            "DELETE",
            "/api/v2/system/certificate_authority",
            &[("id", "0")],
        )
        .await;
    assert_eq!(r.status, 403, "v2.7.1 answers ForbiddenError: {}", r.text);
    assert_eq!(
        r.response_id(),
        "CERTIFICATE_AUTHORITY_CANNOT_BE_DELETED_WHILE_IN_USE"
    );
    assert_eq!(emu.get(cas).await.data().as_array().unwrap().len(), 2);
    // A CA that only signed certificates goes, and the certificates lose their `caref`.
    let r = emu
        .query(
            "DELETE",
            "/api/v2/system/certificate_authority",
            &[("id", "1")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let certs = emu.get("/api/v2/system/certificates").await.data();
    assert_eq!(certs[0]["caref"], Value::Null, "{certs}");

    let emu = with_cas(Some(versioned_spec("v2.10.0"))).await;
    let r = emu
        .query(
            "DELETE",
            "/api/v2/system/certificate_authority",
            &[("id", "0")],
        )
        .await;
    assert_eq!(
        r.status, 409,
        "v2.7.4 and later answer ConflictError: {}",
        r.text
    );
    assert_eq!(
        r.response_id(),
        "CERTIFICATE_AUTHORITY_CANNOT_BE_DELETED_WHILE_IN_USE"
    );
}

#[tokio::test]
async fn crl_fields_editable_by_version() {
    let state = json!({"collections": {
        "CertificateAuthority": [{"refid": "ca1", "descr": "CA", "crt": "", "prv": ""}],
        "CertificateRevocationList": [{"refid": "crl1", "caref": "ca1", "descr": "old", "method": "internal", "lifetime": 730, "serial": 0}]
    }});
    for (spec, status) in [(None, 400), (Some(versioned_spec("v2.10.0")), 200)] {
        let emu = start_with_state(spec, &state, &format!("crl-{status}")).await;
        let r = emu
            .json(
                "PATCH",
                "/api/v2/system/crl",
                json!({"id": 0, "descr": "renamed"}),
            )
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        if status == 400 {
            assert_eq!(r.response_id(), "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE");
        }
        // `method` stays fixed in every version.
        let r = emu
            .json(
                "PATCH",
                "/api/v2/system/crl",
                json!({"id": 0, "method": "existing"}),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.response_id(), "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE");
    }
}

#[tokio::test]
async fn an_invalid_api_key_is_skipped_before_v2_10_and_fails_after() {
    for (spec, status) in [(None, 200), (Some(versioned_spec("v2.10.0")), 401)] {
        let mut config = match spec {
            Some(path) => pfsense_emulator::EmulatorConfig::new(path),
            None => common::config(),
        };
        config.enable_key_auth = true;
        let emu = common::start_with(config).await;
        ok(
            &emu,
            "PATCH",
            "/api/v2/system/restapi/settings",
            json!({"auth_methods": ["KeyAuth", "BasicAuth"]}),
        )
        .await;
        let r = emu
            .send(
                emu.client
                    .get(emu.url("/api/v2/system/version"))
                    .basic_auth("admin", Some("pfsense"))
                    .header("X-API-Key", "0123456789abcdef"),
            )
            .await;
        assert_eq!(r.status, status, "{}", r.text);
        if status == 401 {
            assert_eq!(r.response_id(), "AUTH_AUTHENTICATION_FAILED");
        }
        // A valid key works in both.
        let key = emu.emu.api_key().unwrap().to_string();
        let r = emu
            .send(
                emu.client
                    .get(emu.url("/api/v2/system/version"))
                    .header("X-API-Key", key),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

/// A user's API key outlives the user, as on pfrest (lab: `lab_safety::
/// a_user_with_api_keys_is_not_deleted_or_renamed`): it stops signing in when the user is
/// deleted, and signs in again as the next user created under that name.
#[tokio::test]
async fn an_api_key_signs_in_as_whoever_has_its_user_name() {
    let mut config = common::config();
    config.enable_key_auth = true;
    let emu = common::start_with(config).await;
    let frank = json!({"name": "frank", "password": "Secret-123-abc", "priv": ["page-all"]});
    let id = ok(&emu, "POST", "/api/v2/user", frank.clone()).await["id"].clone();
    let r = emu
        .send(
            emu.client
                .post(emu.url("/api/v2/auth/key"))
                .basic_auth("frank", Some("Secret-123-abc"))
                .json(&json!({"descr": "frank's key"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let key = r.data()["key"].as_str().unwrap().to_string();
    let signs_in = || async {
        emu.send(
            emu.client
                .get(emu.url("/api/v2/system/version"))
                .header("X-API-Key", key.clone()),
        )
        .await
        .status
    };
    assert_eq!(signs_in().await, 200);
    let r = emu.json("DELETE", "/api/v2/user", json!({"id": id})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(signs_in().await, 401);
    ok(&emu, "POST", "/api/v2/user", frank).await;
    assert_eq!(signs_in().await, 200);
}

#[tokio::test]
async fn any_interface_on_rules_from_v2_7_2() {
    let mut floating_any = rule(&["any"]);
    floating_any["floating"] = json!(true);
    let emu = start().await;
    let r = emu
        .json("POST", "/api/v2/firewall/rule", floating_any.clone())
        .await;
    assert_eq!(r.status, 400, "v2.7.1 has no `any` interface: {}", r.text);
    assert_eq!(r.response_id(), "FIELD_INVALID_CHOICE");
    let emu = common::start_with(pfsense_emulator::EmulatorConfig::new(versioned_spec(
        "v2.10.0",
    )))
    .await;
    ok(&emu, "POST", "/api/v2/firewall/rule", floating_any).await;
}

#[tokio::test]
async fn dry_run_from_v2_8_with_pfrest_plural_quirks() {
    let emu = common::start_with(pfsense_emulator::EmulatorConfig::new(versioned_spec(
        "v2.10.0",
    )))
    .await;
    let mut body = alias("dry", "host", &["10.0.0.1"]);
    body["dry_run"] = json!(true);
    let a = ok(&emu, "POST", ALIAS, body).await;
    assert_eq!(a["name"], "dry", "the would-be object");
    assert_eq!(emu.get(ALIASES).await.data(), json!([]), "nothing written");
    let pending = emu.get("/api/v2/firewall/apply").await.data();
    assert_eq!(pending["applied"], true, "nothing pending: {pending}");
    // The firewall's own verdict on an invalid one.
    let mut bad = alias("dry-run", "host", &["10.0.0.1"]);
    bad["dry_run"] = json!(true);
    refused(
        &emu,
        "POST",
        ALIAS,
        bad,
        400,
        "INVALID_FIREWALL_ALIAS_NAME",
        ALIASES,
    )
    .await;
    // The header does the same, on PATCH and DELETE too.
    ok(&emu, "POST", ALIAS, alias("real", "host", &["10.0.0.1"])).await;
    let before = emu.get(ALIASES).await.data();
    let r = emu
        .send(
            emu.request("PATCH", ALIAS)
                .header("Prefer", "dry-run")
                .json(&json!({"id": 0, "descr": "changed"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.data()["descr"], "changed");
    let r = emu
        .send(
            emu.request("DELETE", &with_query(ALIAS, &[("id", "0")]))
                .header("Prefer", "dry-run"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(emu.get(ALIASES).await.data(), before);
    // Type and method checks.
    let r = emu
        .json(
            "POST",
            ALIAS,
            json!({"name": "x1", "type": "host", "dry_run": "yes"}),
        )
        .await;
    assert_eq!(
        r.response_id(),
        "ENDPOINT_DRY_RUN_FIELD_INVALID_TYPE",
        "{}",
        r.text
    );
    let r = emu.query("GET", ALIASES, &[("dry_run", "true")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.response_id(), "ENDPOINT_DRY_RUN_NOT_SUPPORTED_ON_GET");
    // Plural PUT with dry run answers 500 and changes nothing; plural DELETE ignores it.
    let r = emu
        .send(
            emu.request("PUT", ALIASES)
                .header("Prefer", "dry-run")
                .json(&json!([])),
        )
        .await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert_eq!(emu.get(ALIASES).await.data(), before);
    let r = emu
        .query("DELETE", ALIASES, &[("name", "real"), ("dry_run", "true")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        emu.get(ALIASES).await.data(),
        json!([]),
        "really deleted, as pfrest does"
    );

    // v2.7.1 knows no dry run: the write happens.
    let emu = start().await;
    let mut body = alias("written", "host", &["10.0.0.1"]);
    body["dry_run"] = json!(true);
    ok(&emu, "POST", ALIAS, body).await;
    assert_eq!(emu.get(ALIASES).await.data().as_array().unwrap().len(), 1);
}

/// pfrest's `DHCPServerStaticMapping` sets `sort_by = ['ipaddr']` with
/// `sort_flags = SORT_NATURAL` (`Models/DHCPServerStaticMapping.inc`): after each create the
/// server's mappings are in `strnatcmp` order, .9 before .10 (byte order would put .10 first).
#[tokio::test]
async fn dhcp_static_mappings_sort_naturally_by_address() {
    let emu = start().await;
    let path = "/api/v2/services/dhcp_server/static_mapping";
    for (i, ip) in ["192.168.1.10", "192.168.1.9", "192.168.1.20", "192.168.1.2"]
        .iter()
        .enumerate()
    {
        let mac = format!("00:11:22:33:44:5{i}");
        ok(
            &emu,
            "POST",
            path,
            json!({"parent_id": "lan", "mac": mac, "ipaddr": ip}),
        )
        .await;
    }
    let list = emu
        .get(&with_query(
            "/api/v2/services/dhcp_server/static_mappings",
            &[("parent_id", "lan")],
        ))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ips: Vec<Value> = list
        .data()
        .as_array()
        .map(|a| a.iter().map(|m| m["ipaddr"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        ips,
        ["192.168.1.2", "192.168.1.9", "192.168.1.10", "192.168.1.20"].map(|s| json!(s))
    );
}

/// The audit strings of rules and port forwards, with an API key as with Basic (expected values
/// measured on the pfrest lab, v2.7.1, v2.8.4 and v2.10.0, both ways of signing in):
/// `created_by` names no user (`"@127.0.0.1 (API)"`: pfrest makes the field default before it
/// knows the caller), a port forward's `updated_by` neither, on a create and an update; a rule's
/// `updated_by` names the caller (`FirewallRule::validate_updated_by`).
#[tokio::test]
async fn audit_strings_name_the_caller_like_pfrest() {
    let mut config = common::config();
    config.enable_key_auth = true;
    let emu = common::start_with(config).await;
    let key = emu.emu.api_key().expect("a key").to_string();
    let with_key = |method: &str, path: &str, body: Value| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        emu.client
            .request(method, emu.url(path))
            .header("X-API-Key", key.clone())
            .json(&body)
    };
    let rule = json!({"type": "block", "interface": ["wan"], "ipprotocol": "inet",
                      "protocol": "tcp", "source": "any", "destination": "any"});
    let forward = json!({"interface": "wan", "protocol": "tcp", "source": "any",
                         "destination": "wan:ip", "destination_port": "8443",
                         "target": "192.168.1.10", "local_port": "443",
                         "associated_rule_id": ""});
    let nobody = "@127.0.0.1 (API)";
    let caller = "admin@127.0.0.1 (API)";
    for (path, body, updated_by) in [
        ("/api/v2/firewall/rule", rule, caller),
        ("/api/v2/firewall/nat/port_forward", forward, nobody),
    ] {
        for key_auth in [false, true] {
            let send = |method: &str, body: Value| {
                if key_auth {
                    with_key(method, path, body)
                } else {
                    emu.request(method, path).json(&body)
                }
            };
            let created = emu.send(send("POST", body.clone())).await;
            assert_eq!(created.status, 200, "{}", created.text);
            let created = created.data();
            assert_eq!(created["created_by"], nobody, "{path}: {created}");
            assert_eq!(created["updated_by"], updated_by, "{path}: {created}");
            let updated = emu
                .send(send(
                    "PATCH",
                    json!({"id": created["id"], "descr": "updated"}),
                ))
                .await;
            assert_eq!(updated.status, 200, "{}", updated.text);
            let updated = updated.data();
            assert_eq!(updated["created_by"], nobody, "{path}: {updated}");
            assert_eq!(updated["updated_by"], updated_by, "{path}: {updated}");
        }
    }
}

/// pfrest keeps a read-only value of the wrong type a create sends, and then cannot read its
/// list back (lab, every release: a rule created with `tracker: "abc"` makes `GET
/// /firewall/rules` answer 500 `ENDPOINT_RECEIVED_UNEXPECTED_ERROR`). The emulator refuses it
/// instead and writes nothing.
#[tokio::test]
async fn a_read_only_value_of_the_wrong_type_is_refused() {
    let emu = start().await;
    for (field, value) in [
        ("tracker", json!("abc")),
        ("created_time", json!("x")),
        ("created_by", json!(5)),
    ] {
        let mut rule = json!({"type": "block", "interface": ["wan"], "ipprotocol": "inet",
                              "protocol": "tcp", "source": "any", "destination": "any"});
        rule[field] = value;
        refused(
            &emu,
            "POST",
            "/api/v2/firewall/rule",
            rule,
            400,
            "FIELD_INVALID_TYPE",
            "/api/v2/firewall/rules",
        )
        .await;
    }
}

/// pfrest checks an interface's description again on every change, and reserves every
/// interface id in capitals (`get_pf_reserved()`): a change to an interface that keeps its
/// default description (`WAN`) is refused, and with another one in the same call it goes; its
/// own id in lower case is no other interface's name (seen on the pfrest lab, every release).
#[tokio::test]
async fn an_interface_keeping_its_default_description_refuses_changes_like_pfrest() {
    let emu = start().await;
    let r = emu
        .json(
            "PATCH",
            "/api/v2/interface",
            json!({"id": "wan", "blockbogons": true}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.response_id(), "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED");
    assert!(
        r.text
            .contains("Field `descr` cannot be `WAN` because it is a name reserved by the system."),
        "{}",
        r.text
    );
    let r = emu
        .json(
            "PATCH",
            "/api/v2/interface",
            json!({"id": "wan", "descr": "wan", "blockbogons": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = emu
        .json(
            "PATCH",
            "/api/v2/interface",
            json!({"id": "lan", "descr": "WAN__NETWORK"}),
        )
        .await;
    assert_eq!(r.response_id(), "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED");
}
