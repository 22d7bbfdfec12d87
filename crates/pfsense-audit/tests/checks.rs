//! Every check against a hardened configuration (it must pass) and against that configuration
//! with one thing changed (it must fail), plus the ways a check becomes unknown.

use pfsense_audit::snapshot::*;
use pfsense_audit::{CHECKS, Finding, PasswordProbe, Read, Snapshot, State, run};
use serde_json::{Value, json};

fn hardened() -> Snapshot {
    serde_json::from_str(include_str!("fixtures/hardened.json")).expect("fixture parses")
}

fn pem(name: &str) -> &'static str {
    match name {
        "expiring" => include_str!("fixtures/certs/expiring.pem"),
        "self" => include_str!("fixtures/certs/self.pem"),
        "weak" => include_str!("fixtures/certs/weak.pem"),
        other => panic!("no certificate {other}"),
    }
}

fn data<'a>(s: &'a mut Snapshot, path: &str) -> &'a mut Value {
    match s.reads.get_mut(path) {
        Some(Read::Data(v)) => v,
        _ => panic!("fixture lacks {path}"),
    }
}

/// Sets a field (JSON pointer into the endpoint's data).
fn set(s: &mut Snapshot, path: &str, pointer: &str, value: Value) {
    *data(s, path)
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{path}{pointer} missing")) = value;
}

fn push(s: &mut Snapshot, path: &str, value: Value) {
    data(s, path).as_array_mut().expect("a list").push(value);
}

fn insert_first(s: &mut Snapshot, path: &str, value: Value) {
    data(s, path)
        .as_array_mut()
        .expect("a list")
        .insert(0, value);
}

fn finding(s: &Snapshot, id: &str) -> Finding {
    CHECKS
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .evaluate(s)
}

fn wan_pass(dst: &str, port: &str, descr: &str) -> Value {
    json!({"id": 9, "type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "tcp",
           "source": "any", "destination": dst, "destination_port": port, "descr": descr,
           "disabled": false, "log": false, "statetype": "keep state", "floating": false,
           "quick": false, "direction": "any", "tracker": 1765432199, "associated_rule_id": ""})
}

/// Checks that cannot be decided from what the REST API shows: they are unknown even on the
/// hardened configuration.
const ALWAYS_UNKNOWN: &[&str] = &["PFS-DNS-001"];

/// (change for check, check that can no longer tell): an HTTP-only webGUI has no certificate;
/// a rule naming an alias that does not exist matches addresses nobody can know.
const NO_LONGER_APPLIES: &[(&str, &str)] = &[
    ("PFS-MGMT-001", "PFS-MGMT-002"),
    ("PFS-MGMT-001", "PFS-MGMT-003"),
    ("PFS-ALIAS-002", "PFS-RULE-009"),
    ("PFS-ALIAS-002", "PFS-RULE-010"),
    ("PFS-ALIAS-002", "PFS-RULE-011"),
    ("PFS-ALIAS-002", "PFS-RULE-012"),
];

type Breaker = fn(&mut Snapshot);

/// One change to the hardened configuration that each check must flag.
const FAILING: &[(&str, Breaker)] = &[
    ("PFS-AUTH-001", |s| {
        s.default_password_probe = PasswordProbe::Accepted
    }),
    ("PFS-AUTH-002", |s| {
        set(s, USERS, "/0/disabled", json!(false))
    }),
    ("PFS-AUTH-003", |s| {
        set(s, USERS, "/1/priv", json!(["page-all"]))
    }),
    ("PFS-AUTH-004", |s| {
        set(
            s,
            GROUPS,
            "/1/member",
            json!(["admin", "alice", "bob", "carol", "dave"]),
        );
        push(
            s,
            USERS,
            json!({"id": 3, "name": "carol", "uid": 2002, "priv": [], "disabled": false, "expires": "01/01/2028"}),
        );
        push(
            s,
            USERS,
            json!({"id": 4, "name": "dave", "uid": 2003, "priv": [], "disabled": false, "expires": "01/01/2028"}),
        );
    }),
    ("PFS-AUTH-005", |s| set(s, USERS, "/2/expires", json!(""))),
    ("PFS-AUTH-006", |s| {
        set(s, USERS, "/2/priv", json!(["user-shell-access"]))
    }),
    ("PFS-AUTH-007", |s| {
        set(s, CONSOLE, "/passwd_protect_console", json!(false))
    }),
    ("PFS-MGMT-001", |s| {
        set(s, WEBGUI_SETTINGS, "/protocol", json!("http"))
    }),
    ("PFS-MGMT-002", |s| {
        set(s, CERTIFICATES, "/0/crt", json!(pem("self")))
    }),
    ("PFS-MGMT-003", |s| {
        set(s, CERTIFICATES, "/0/crt", json!(pem("expiring")))
    }),
    ("PFS-MGMT-004", |s| {
        insert_first(s, RULES, wan_pass("wanip", "443", "Remote admin"))
    }),
    ("PFS-MGMT-005", |s| {
        insert_first(s, RULES, wan_pass("(self)", "22", "SSH from anywhere"))
    }),
    ("PFS-MGMT-006", |s| {
        set(s, SSH, "/sshdkeyonly", json!("both"))
    }),
    ("PFS-MGMT-007", |s| {
        set(s, SSH, "/sshdagentforwarding", json!(true))
    }),
    ("PFS-API-001", |s| {
        set(
            s,
            REST_API_SETTINGS,
            "/auth_methods",
            json!(["BasicAuth", "KeyAuth"]),
        )
    }),
    ("PFS-API-002", |s| {
        set(
            s,
            REST_API_SETTINGS,
            "/allowed_interfaces",
            json!(["lan", "wan"]),
        )
    }),
    ("PFS-API-003", |s| {
        set(s, REST_API_ACCESS_LIST, "/0/network", json!("0.0.0.0/0"))
    }),
    ("PFS-API-004", |s| {
        set(s, REST_API_SETTINGS, "/login_protection", json!(false))
    }),
    ("PFS-API-005", |s| {
        set(
            s,
            REST_API_SETTINGS,
            "/override_sensitive_fields",
            json!(["User.password"]),
        )
    }),
    ("PFS-API-006", |s| {
        set(s, REST_API_SETTINGS, "/read_only", json!(false))
    }),
    ("PFS-API-007", |s| {
        set(s, REST_API_SETTINGS, "/log_successful_auth", json!(false))
    }),
    ("PFS-API-008", |s| {
        set(
            s,
            REST_API_SETTINGS,
            "/auth_methods",
            json!(["KeyAuth", "JWTAuth"]),
        );
        set(s, REST_API_SETTINGS, "/jwt_exp", json!(604800));
    }),
    ("PFS-API-009", |s| {
        set(s, REST_API_SETTINGS, "/ha_sync", json!(true));
        set(
            s,
            REST_API_SETTINGS,
            "/ha_sync_validate_certs",
            json!(false),
        );
    }),
    ("PFS-RULE-001", |s| {
        push(
            s,
            RULES,
            json!({"id": 9, "type": "pass", "interface": ["lan"], "ipprotocol": "inet46",
            "protocol": null, "source": "any", "destination": "any", "descr": "temp: allow all",
            "disabled": false, "tracker": 1765432199}),
        )
    }),
    ("PFS-RULE-002", |s| {
        push(
            s,
            RULES,
            wan_pass("web_server", "", "Web server, all ports"),
        )
    }),
    ("PFS-RULE-003", |s| set(s, RULES, "/0/descr", json!(""))),
    ("PFS-RULE-004", |s| {
        set(s, RULES, "/2/disabled", json!(true))
    }),
    ("PFS-RULE-005", |s| {
        set(s, RULES, "/2/source_port", json!("53"))
    }),
    ("PFS-RULE-006", |s| set(s, RULES, "/1/log", json!(false))),
    ("PFS-RULE-007", |s| {
        set(s, INTERFACES, "/0/blockbogons", json!(false))
    }),
    ("PFS-RULE-008", |s| {
        set(s, INTERFACES, "/0/blockpriv", json!(false))
    }),
    // Rule anomalies (Al-Shaer and Hamed). The hardened WAN rules are disjoint: pass to the web
    // server from !bt_blocklist (#0), block bt_blocklist (#1); the LAN rules pass DNS (#2) and
    // web ports (#3) from lan net.
    ("PFS-RULE-009", |s| {
        // A pass for one blocklisted host after the block of the whole list: never matches.
        push(
            s,
            RULES,
            json!({"id": 4, "type": "pass", "interface": ["wan"], "ipprotocol": "inet",
            "protocol": "tcp", "source": "203.0.113.5", "destination": "web_server",
            "destination_port": "443", "descr": "Partner", "disabled": false, "log": false,
            "floating": false, "quick": false, "direction": "any", "tracker": 1765432199}),
        )
    }),
    ("PFS-RULE-010", |s| {
        // HTTPS out after "web ports out" (80 and 443): the same action on a subset.
        push(
            s,
            RULES,
            json!({"id": 4, "type": "pass", "interface": ["lan"], "ipprotocol": "inet",
            "protocol": "tcp", "source": "lan", "destination": "any",
            "destination_port": "443", "descr": "HTTPS out", "disabled": false, "log": false,
            "floating": false, "quick": false, "direction": "any", "tracker": 1765432199}),
        )
    }),
    ("PFS-RULE-011", |s| {
        // Pass to the web server from anywhere, then block the list: the list's hosts reach
        // the web server, and only the order says so.
        set(s, RULES, "/0/source", json!("any"))
    }),
    ("PFS-RULE-012", |s| {
        // A block of everything from lan net below the two LAN passes.
        push(
            s,
            RULES,
            json!({"id": 4, "type": "block", "interface": ["lan"], "ipprotocol": "inet46",
            "protocol": null, "source": "lan", "destination": "any", "descr": "Block the rest",
            "disabled": false, "log": true, "floating": false, "quick": false,
            "direction": "any", "tracker": 1765432199}),
        )
    }),
    ("PFS-NAT-001", |s| {
        set(s, PORT_FORWARDS, "/0/associated_rule_id", json!("pass"))
    }),
    ("PFS-NAT-002", |s| {
        set(s, PORT_FORWARDS, "/0/source", json!("any"));
        set(s, PORT_FORWARDS, "/0/destination_port", json!("3389"));
        set(s, PORT_FORWARDS, "/0/local_port", json!("3389"));
    }),
    ("PFS-ALIAS-001", |s| {
        push(
            s,
            ALIASES,
            json!({"id": 9, "name": "old_servers", "type": "host", "descr": "", "address": ["10.0.0.9"], "detail": [""]}),
        )
    }),
    ("PFS-ALIAS-002", |s| {
        set(s, RULES, "/1/source", json!("bt_blocklst"))
    }),
    ("PFS-ALIAS-003", |s| {
        set(s, ALIASES, "/0/address", json!([]))
    }),
    ("PFS-LOG-001", |s| {
        set(s, LOG_SETTINGS, "/nologdefaultblock", json!(true))
    }),
    ("PFS-LOG-002", |s| {
        set(s, LOG_SETTINGS, "/enableremotelogging", json!(false))
    }),
    ("PFS-LOG-003", |s| {
        set(s, LOG_SETTINGS, "/enableremotelogging", json!(false));
        set(s, LOG_SETTINGS, "/disablelocallogging", json!(true));
    }),
    ("PFS-LOG-004", |s| {
        set(s, LOG_SETTINGS, "/nologbogons", json!(true))
    }),
    ("PFS-LOG-005", |s| {
        set(s, LOG_SETTINGS, "/logconfigchanges", json!(false))
    }),
    ("PFS-DNS-002", |s| {
        set(s, DNS_RESOLVER, "/dnssec", json!(false))
    }),
    ("PFS-DNS-003", |s| {
        set(s, DNS_RESOLVER, "/active_interface", json!(["all"]))
    }),
    ("PFS-DNS-004", |s| {
        set(s, SYSTEM_DNS, "/dnsallowoverride", json!(true))
    }),
    ("PFS-NTP-001", |s| {
        set(
            s,
            NTP_SERVERS,
            "/0",
            json!({"id": 0, "timeserver": "ntp.example.org", "type": "server", "prefer": true, "noselect": false}),
        )
    }),
    ("PFS-NTP-002", |s| {
        set(s, NTP_SETTINGS, "/interface", json!([]))
    }),
    ("PFS-CERT-001", |s| {
        push(
            s,
            CERTIFICATES,
            json!({"id": 1, "descr": "OpenVPN server", "refid": "6981c98d2be60", "caref": "6981c98a1f2e0", "type": "server", "crt": pem("expiring")}),
        )
    }),
    ("PFS-CERT-002", |s| {
        push(
            s,
            CERTIFICATES,
            json!({"id": 1, "descr": "legacy", "refid": "6981c98d2be61", "caref": "", "type": "server", "crt": pem("weak")}),
        )
    }),
    ("PFS-UPD-001", |s| {
        set(s, SYSTEM_VERSION, "/version", json!("2.7.2-RELEASE"))
    }),
    ("PFS-UPD-002", |s| {
        set(s, REST_API_VERSION, "/current_version", json!("v2.7.1"))
    }),
    ("PFS-BAK-001", |s| set(s, CONFIG_HISTORY, "", json!([]))),
    ("PFS-SVC-001", |s| {
        push(
            s,
            SERVICES,
            json!({"id": 9, "name": "miniupnpd", "description": "UPnP IGD & PCP Service", "enabled": true, "status": true}),
        )
    }),
    ("PFS-SVC-002", |s| {
        set(s, EMAIL_NOTIFICATIONS, "/ipaddress", json!(""))
    }),
];

#[test]
fn at_least_forty_checks_with_unique_ids_and_references() {
    assert!(CHECKS.len() >= 40, "{} checks", CHECKS.len());
    let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), CHECKS.len(), "duplicate check ids");
    for c in CHECKS {
        assert!(!c.references.is_empty(), "{} has no reference", c.id);
        assert!(!c.fix.gui.is_empty(), "{} has no GUI fix", c.id);
        if let Some(tool) = c.fix.tool {
            assert!(tool.starts_with("pfsense_"), "{}: {tool}", c.id);
        }
    }
}

#[test]
fn every_check_that_can_decide_has_a_failing_case() {
    for c in CHECKS {
        let covered = FAILING.iter().any(|(id, _)| *id == c.id);
        let unknown = ALWAYS_UNKNOWN.contains(&c.id);
        assert!(
            covered ^ unknown,
            "{}: needs exactly one of a failing case or ALWAYS_UNKNOWN",
            c.id
        );
    }
}

#[test]
fn hardened_configuration_passes() {
    let s = hardened();
    for c in CHECKS {
        let f = c.evaluate(&s);
        let want = if ALWAYS_UNKNOWN.contains(&c.id) {
            State::Unknown
        } else {
            State::Compliant
        };
        assert_eq!(f.state, want, "{}: {}", c.id, f.detail);
    }
}

#[test]
fn each_change_fails_its_check() {
    for (id, breaker) in FAILING {
        let mut s = hardened();
        breaker(&mut s);
        let f = finding(&s, id);
        assert_eq!(f.state, State::NonCompliant, "{id}: {}", f.detail);
        assert!(!f.evidence.is_empty(), "{id} failed without evidence");
    }
}

#[test]
fn each_change_fails_only_what_it_should() {
    // A change may fail other checks too (a typo'd alias also leaves the real one unused), but
    // it must not turn the rest of the audit unknown.
    for (id, breaker) in FAILING {
        let mut s = hardened();
        breaker(&mut s);
        let report = run(&s, "test");
        for f in &report.findings {
            if f.state == State::Unknown {
                assert!(
                    ALWAYS_UNKNOWN.contains(&f.id) || NO_LONGER_APPLIES.contains(&(*id, f.id)),
                    "changing for {id} made {} unknown: {}",
                    f.id,
                    f.detail
                );
            }
        }
    }
}

#[test]
fn evidence_names_the_object_and_field() {
    let mut s = hardened();
    set(&mut s, RULES, "/1/log", json!(false));
    let f = finding(&s, "PFS-RULE-006");
    assert_eq!(f.evidence.len(), 1);
    assert_eq!(f.evidence[0].endpoint, RULES);
    assert_eq!(
        f.evidence[0].object,
        "rule #1 (tracker 1765432102, \"Block known attackers\", on wan)"
    );
    assert_eq!(f.evidence[0].field, "log");
    assert_eq!(f.evidence[0].value, json!(false));
}

#[test]
fn webgui_from_wan_names_the_deciding_rule() {
    let mut s = hardened();
    insert_first(&mut s, RULES, wan_pass("wanip", "443", "Remote admin"));
    let f = finding(&s, "PFS-MGMT-004");
    assert_eq!(f.state, State::NonCompliant);
    assert!(f.detail.contains("port 443"), "{}", f.detail);
    assert!(f.detail.contains("Remote admin"), "{}", f.detail);
    // Passing only a trusted source is not "from the Internet".
    let mut s = hardened();
    let mut rule = wan_pass("wanip", "443", "Admin from the office");
    rule["source"] = json!("192.0.2.10");
    insert_first(&mut s, RULES, rule);
    assert_eq!(finding(&s, "PFS-MGMT-004").state, State::Compliant);
}

#[test]
fn ssh_checks_pass_when_ssh_is_off() {
    let mut s = hardened();
    set(&mut s, SSH, "/enable", json!(false));
    set(&mut s, SSH, "/sshdkeyonly", json!("both"));
    insert_first(&mut s, RULES, wan_pass("(self)", "22", "SSH from anywhere"));
    for id in ["PFS-MGMT-005", "PFS-MGMT-006", "PFS-MGMT-007"] {
        assert_eq!(finding(&s, id).state, State::Compliant, "{id}");
    }
}

/// Every address, however written: pfrest's own default IPv6 entry is `0::/0`.
#[test]
fn every_way_of_writing_every_address_fails_the_access_list_check() {
    for network in ["0.0.0.0/0", "::/0", "0::/0", "any"] {
        let mut s = hardened();
        set(&mut s, REST_API_ACCESS_LIST, "/0/network", json!(network));
        let f = finding(&s, "PFS-API-003");
        assert_eq!(f.state, State::NonCompliant, "{network}");
        assert_eq!(f.evidence[0].value, json!(network), "{network}");
    }
    let mut s = hardened();
    set(
        &mut s,
        REST_API_ACCESS_LIST,
        "/0/network",
        json!("10.0.0.0/8"),
    );
    assert_eq!(finding(&s, "PFS-API-003").state, State::Compliant);
}

#[test]
fn api_on_every_interface_fails() {
    let mut s = hardened();
    set(&mut s, REST_API_SETTINGS, "/allowed_interfaces", json!([]));
    let f = finding(&s, "PFS-API-002");
    assert_eq!(f.state, State::NonCompliant);
    assert!(f.detail.contains("every interface"));
}

#[test]
fn a_missing_endpoint_makes_its_checks_unknown_with_the_reason() {
    let mut s = hardened();
    s.reads.remove(LOG_SETTINGS);
    let f = finding(&s, "PFS-LOG-001");
    assert_eq!(f.state, State::Unknown);
    assert_eq!(f.detail, format!("GET {LOG_SETTINGS} was not read"));
    assert!(f.evidence.is_empty());
}

#[test]
fn a_refused_read_makes_its_checks_unknown_with_the_status() {
    let mut s = hardened();
    s.reads.insert(
        USERS.into(),
        Read::Error {
            status: Some(403),
            message: "AUTH_AUTHORIZATION_FAILED".into(),
        },
    );
    let f = finding(&s, "PFS-AUTH-002");
    assert_eq!(f.state, State::Unknown);
    assert!(f.detail.contains("403"), "{}", f.detail);
    // pfrest#836: config history answers 500 on Plus 25.11.
    s.reads.insert(
        CONFIG_HISTORY.into(),
        Read::Error {
            status: Some(500),
            message: "internal error".into(),
        },
    );
    assert_eq!(finding(&s, "PFS-BAK-001").state, State::Unknown);
}

#[test]
fn a_field_the_api_does_not_show_is_unknown_not_false() {
    let mut s = hardened();
    data(&mut s, SSH)
        .as_object_mut()
        .unwrap()
        .remove("sshdkeyonly");
    let f = finding(&s, "PFS-MGMT-006");
    assert_eq!(f.state, State::Unknown);
    assert!(f.detail.contains("sshdkeyonly"), "{}", f.detail);
}

#[test]
fn default_password_is_unknown_unless_tried() {
    let mut s = hardened();
    s.default_password_probe = PasswordProbe::NotRun;
    let f = finding(&s, "PFS-AUTH-001");
    assert_eq!(f.state, State::Unknown);
    assert!(f.detail.contains("admin:pfsense"), "{}", f.detail);
    s.default_password_probe = PasswordProbe::BasicAuthDisabled;
    assert_eq!(finding(&s, "PFS-AUTH-001").state, State::Unknown);
}

#[test]
fn certificate_dates_from_valid_until_when_the_pem_is_missing() {
    // v2.8+ shows valid_until; a hidden crt must not stop the expiry check.
    let mut s = hardened();
    set(&mut s, CERTIFICATES, "/0/crt", json!(""));
    set(&mut s, CERTIFICATE_AUTHORITIES, "/0/crt", json!(""));
    push(
        &mut s,
        CERTIFICATES,
        json!({"id": 1, "descr": "x", "refid": "r1", "crt": "", "valid_until": "2026-12-10 00:00:00"}),
    );
    data(&mut s, CERTIFICATES)[0]["valid_until"] = json!("2028-11-02 05:47:44");
    data(&mut s, CERTIFICATE_AUTHORITIES)[0]["valid_until"] = json!("2036-11-30 05:47:43");
    let f = finding(&s, "PFS-CERT-001");
    assert_eq!(f.state, State::NonCompliant, "{}", f.detail);
    assert_eq!(f.evidence.len(), 1);
    assert_eq!(f.evidence[0].value, json!("2026-12-10 (6 days)"));
}

#[test]
fn dhcp_wan_without_its_status_is_unknown() {
    let mut s = hardened();
    set(&mut s, INTERFACES, "/0/typev4", json!("dhcp"));
    set(&mut s, INTERFACES, "/0/ipaddr", Value::Null);
    s.reads.remove(INTERFACE_STATUS);
    let f = finding(&s, "PFS-MGMT-004");
    assert_eq!(f.state, State::Unknown, "{}", f.detail);
    assert!(f.detail.contains("not known"), "{}", f.detail);
}

#[test]
fn resolver_off_leaves_dnssec_unknown() {
    let mut s = hardened();
    set(&mut s, DNS_RESOLVER, "/enable", json!(false));
    assert_eq!(finding(&s, "PFS-DNS-002").state, State::Unknown);
    assert_eq!(finding(&s, "PFS-DNS-003").state, State::Compliant);
}

#[test]
fn snapshot_round_trips_through_json() {
    let s = hardened();
    let text = serde_json::to_string(&s).unwrap();
    let back: Snapshot = serde_json::from_str(&text).unwrap();
    assert_eq!(back.reads.len(), s.reads.len());
    assert_eq!(
        ENDPOINTS.len(),
        s.reads.len(),
        "the fixture reads every endpoint"
    );
    for e in ENDPOINTS {
        assert!(s.reads.contains_key(e.path), "fixture lacks {}", e.path);
    }
}

#[test]
fn anomalies_name_both_rules() {
    let mut s = hardened();
    set(&mut s, RULES, "/0/source", json!("any"));
    let f = finding(&s, "PFS-RULE-011");
    assert_eq!(f.state, State::NonCompliant, "{}", f.detail);
    assert_eq!(f.evidence.len(), 1);
    assert_eq!(
        f.evidence[0].object,
        "rule #1 (tracker 1765432102, \"Block known attackers\", on wan)"
    );
    assert_eq!(f.evidence[0].field, "correlated with");
    let v = f.evidence[0].value.as_str().unwrap();
    assert!(v.starts_with("rule #0 (tracker"), "{v}");
    // Correlated only: neither rule contains the other.
    for id in ["PFS-RULE-009", "PFS-RULE-010", "PFS-RULE-012"] {
        assert_eq!(finding(&s, id).state, State::Compliant, "{id}");
    }
}

#[test]
fn a_block_before_a_broader_pass_is_a_generalisation_and_the_reverse_shadows() {
    let block = json!({"id": 4, "type": "block", "interface": ["lan"], "ipprotocol": "inet",
        "protocol": "tcp", "source": "192.168.1.50", "destination": "any",
        "destination_port": "80", "descr": "No plain HTTP for the kiosk", "disabled": false,
        "log": true, "floating": false, "quick": false, "direction": "any", "tracker": 1765432199});
    // Above the web-ports pass: an exception (generalisation), nothing shadowed.
    let mut s = hardened();
    data(&mut s, RULES)
        .as_array_mut()
        .unwrap()
        .insert(3, block.clone());
    assert_eq!(finding(&s, "PFS-RULE-012").state, State::NonCompliant);
    assert_eq!(finding(&s, "PFS-RULE-009").state, State::Compliant);
    // Below it: the block never matches.
    let mut s = hardened();
    push(&mut s, RULES, block);
    assert_eq!(finding(&s, "PFS-RULE-009").state, State::NonCompliant);
    assert_eq!(finding(&s, "PFS-RULE-012").state, State::Compliant);
}

#[test]
fn other_families_and_protocols_do_not_overlap() {
    // The same addresses over IPv6, or UDP instead of TCP: disjoint, no anomaly.
    for (field, value) in [("ipprotocol", "inet6"), ("protocol", "udp")] {
        let mut s = hardened();
        let mut rule = json!({"id": 4, "type": "block", "interface": ["lan"], "ipprotocol": "inet",
            "protocol": "tcp", "source": "any", "destination": "any", "destination_port": "80",
            "descr": "x", "disabled": false, "log": true, "floating": false, "quick": false,
            "direction": "any", "tracker": 1765432199});
        rule[field] = json!(value);
        push(&mut s, RULES, rule);
        for id in [
            "PFS-RULE-009",
            "PFS-RULE-010",
            "PFS-RULE-011",
            "PFS-RULE-012",
        ] {
            assert_eq!(
                finding(&s, id).state,
                State::Compliant,
                "{field}={value} {id}"
            );
        }
    }
}

#[test]
fn a_url_table_alias_leaves_anomalies_unknown_with_the_reason() {
    let mut s = hardened();
    push(
        &mut s,
        ALIASES,
        json!({"id": 4, "name": "spamhaus", "type": "urltable", "descr": "",
        "address": ["https://www.spamhaus.org/drop/drop.txt"], "detail": [""]}),
    );
    push(
        &mut s,
        RULES,
        json!({"id": 4, "type": "block", "interface": ["wan"], "ipprotocol": "inet",
        "protocol": null, "source": "spamhaus", "destination": "any", "descr": "DROP list",
        "disabled": false, "log": true, "floating": false, "quick": false,
        "direction": "any", "tracker": 1765432199}),
    );
    // Is the web server's pass (from !bt_blocklist) inside the downloaded list, or overlapping?
    for id in ["PFS-RULE-011", "PFS-RULE-012"] {
        let f = finding(&s, id);
        assert_eq!(f.state, State::Unknown, "{id}: {}", f.detail);
        assert!(f.detail.contains("spamhaus"), "{}", f.detail);
    }
    // A later rule cannot be inside an earlier one it is partly outside of: decided.
    assert_eq!(finding(&s, "PFS-RULE-009").state, State::Compliant);
}

#[test]
fn a_schedule_keeps_a_covering_rule_from_shadowing() {
    let mut s = hardened();
    // The block of the list only applies during a schedule: the partner pass is not dead.
    set(&mut s, RULES, "/1/sched", json!("office_hours"));
    push(
        &mut s,
        RULES,
        json!({"id": 4, "type": "pass", "interface": ["wan"], "ipprotocol": "inet",
        "protocol": "tcp", "source": "203.0.113.5", "destination": "web_server",
        "destination_port": "443", "descr": "Partner", "disabled": false, "log": false,
        "floating": false, "quick": false, "direction": "any", "tracker": 1765432199}),
    );
    let f = finding(&s, "PFS-RULE-009");
    assert_eq!(f.state, State::Unknown, "{}", f.detail);
    assert!(f.detail.contains("office_hours"), "{}", f.detail);
}

#[test]
fn a_rest_api_version_pfrest_cannot_tell_is_unknown_not_current() {
    // pfrest answers `unknown` when `pkg-static info pfSense-pkg-RESTAPI` shows no version.
    let mut s = hardened();
    set(
        &mut s,
        REST_API_VERSION,
        "/current_version",
        json!("unknown"),
    );
    let f = finding(&s, "PFS-UPD-002");
    assert_eq!(f.state, State::Unknown, "{}", f.detail);
    assert!(f.detail.contains("\"unknown\""), "{}", f.detail);
    // Unless the box itself says an update is available.
    set(&mut s, REST_API_VERSION, "/update_available", json!(true));
    assert_eq!(finding(&s, "PFS-UPD-002").state, State::NonCompliant);
}

#[test]
fn broad_rules_are_found_however_they_are_written() {
    // A pass from `!one host` is a pass from nearly any source; `1:65535` is every port; a rule
    // on an interface group holding WAN is a WAN rule (the webGUI check already reads groups).
    let mut negated = hardened();
    push(
        &mut negated,
        RULES,
        json!({"id": 9, "type": "pass", "interface": ["lan"], "ipprotocol": "inet",
               "protocol": null, "source": "!192.0.2.1", "destination": "any",
               "descr": "all but one", "disabled": false, "tracker": 1765432199}),
    );
    assert_eq!(finding(&negated, "PFS-RULE-001").state, State::NonCompliant);
    let mut range = hardened();
    push(
        &mut range,
        RULES,
        wan_pass("web_server", "1:65535", "every port by range"),
    );
    assert_eq!(finding(&range, "PFS-RULE-002").state, State::NonCompliant);
    let mut grouped = hardened();
    set(
        &mut grouped,
        INTERFACE_GROUPS,
        "",
        json!([{"ifname": "edge", "members": ["wan"], "descr": "edge"}]),
    );
    let mut rule = wan_pass("web_server", "", "group rule, every port");
    rule["interface"] = json!(["edge"]);
    push(&mut grouped, RULES, rule);
    assert_eq!(finding(&grouped, "PFS-RULE-002").state, State::NonCompliant);
    // The hardened set's narrow rules still pass.
    for id in ["PFS-RULE-001", "PFS-RULE-002"] {
        assert_eq!(finding(&hardened(), id).state, State::Compliant, "{id}");
    }
}
