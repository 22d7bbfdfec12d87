//! The traffic evaluator, the lockout guard and the block plan against a hand-built rule set.
//! Every expected answer is reasoned in its comment from pfSense's generated ruleset
//! (filter.inc `filter_rules_generate`): quick rules decide at once, otherwise the last match.

use pfsense_firewall::explain::{RuleOrigin, TranslatedBy, Verdict};
use pfsense_firewall::guard::{
    AUTH_SERVERS, ChangeOp, GATEWAYS, INTERFACE_GROUPS, INTERFACES, IPSEC_PHASE1S, LAGGS, LIMITERS,
    ObjectKind, SCHEDULES, SHAPER_QUEUES, USER_NAMES, USERS, VIRTUAL_IPS, VLANS,
    aliases_left_in_use, apply_change, lagg_ports_in_use, names_left_in_use, takes_named_away,
};
use pfsense_firewall::model::{Action, Direction, ModelPart, NotRead, Target};
use pfsense_firewall::{
    ApiInput, Change, FirewallModel, GuardDecision, Query, ServerPath, block_addresses_plan,
    check_lockout, check_lockout_all,
};
use serde_json::{Value, json};

fn rules() -> Value {
    json!([
        // 0: disabled, so LAN → 8.8.4.4 falls through to rule 2.
        {"type": "block", "interface": ["lan"], "ipprotocol": "inet", "source": "any", "destination": "8.8.4.4",
         "disabled": true, "descr": "disabled block", "tracker": 1000},
        // 1: blocks TCP to the LAN address, any port; the anti-lockout rule comes first for 443/80/22.
        {"type": "block", "interface": ["lan"], "ipprotocol": "inet", "protocol": "tcp", "source": "any",
         "destination": "lan:ip", "descr": "no GUI from LAN", "tracker": 1005},
        // 2: the default LAN rule.
        {"type": "pass", "interface": ["lan"], "ipprotocol": "inet", "source": "lan", "destination": "any",
         "descr": "Default allow LAN to any rule", "tracker": 100000101},
        // 3: WAN to the web servers (nested host/network alias, nested port alias).
        {"type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "tcp", "source": "any",
         "destination": "web_servers", "destination_port": "web_ports", "descr": "web to DMZ", "tracker": 1001},
        // 4: the rule associated with the SSH port forward.
        {"type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "tcp", "source": "any",
         "destination": "10.0.10.30", "destination_port": "22", "descr": "NAT ssh to bastion",
         "associated_rule_id": "nat_5f00", "tracker": 1006},
        // 5: OpenVPN to the firewall itself.
        {"type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "udp", "source": "any",
         "destination": "(self)", "destination_port": "1194", "descr": "OpenVPN", "tracker": 1007},
        // 6: remote administration from one address.
        {"type": "pass", "interface": ["wan"], "ipprotocol": "inet", "protocol": "tcp", "source": "5.6.7.8",
         "destination": "wan:ip", "destination_port": "443", "descr": "remote admin", "tracker": 1008},
        // 7, 8: DMZ: a block whose destination is a URL table, then pass all.
        {"type": "block", "interface": ["opt1"], "ipprotocol": "inet", "protocol": "tcp", "source": "opt1",
         "destination": "bad_hosts", "descr": "no bad hosts", "tracker": 1003},
        {"type": "pass", "interface": ["opt1"], "ipprotocol": "inet", "source": "opt1", "destination": "any",
         "descr": "DMZ out", "tracker": 1004},
        // 9: interface group INTERNAL (lan, opt1): no telnet.
        {"type": "block", "interface": ["INTERNAL"], "ipprotocol": "inet", "protocol": "tcp", "source": "any",
         "destination": "any", "destination_port": "23", "descr": "no telnet", "tracker": 3001},
        // 10-13: floating.
        {"type": "block", "interface": ["lan"], "floating": true, "quick": true, "direction": "any",
         "ipprotocol": "inet", "protocol": "tcp", "source": "any", "destination": "9.9.9.9",
         "descr": "no quad9", "tracker": 2001},
        {"type": "pass", "interface": ["wan"], "floating": true, "quick": false, "direction": "in",
         "ipprotocol": "inet", "protocol": "udp", "source": "any", "destination": "any",
         "destination_port": "51820", "descr": "wireguard (non-quick)", "tracker": 2002},
        {"type": "block", "interface": [], "floating": true, "quick": false, "direction": "in",
         "ipprotocol": "inet", "protocol": "tcp", "source": "any", "destination": "any",
         "destination_port": "25", "descr": "smtp (non-quick)", "tracker": 2003},
        {"type": "block", "interface": ["wan"], "floating": true, "quick": true, "direction": "out",
         "ipprotocol": "inet", "protocol": "tcp", "source": "any", "destination": "any",
         "destination_port": "6667", "descr": "no IRC out", "tracker": 2004}
    ])
}

fn input() -> ApiInput {
    ApiInput {
        rules: rules(),
        aliases: json!({"code": 200, "status": "ok", "data": [
            {"id": 0, "name": "web_servers", "type": "host", "address": ["10.0.10.20", "nested_db"]},
            {"id": 1, "name": "nested_db", "type": "network", "address": ["10.0.10.64/28"]},
            {"id": 2, "name": "web_ports", "type": "port", "address": ["80", "443", "nested_ports"]},
            {"id": 3, "name": "nested_ports", "type": "port", "address": ["8000:8010"]},
            {"id": 4, "name": "bad_hosts", "type": "urltable", "address": ["https://lists.example.invalid/bad.txt"]}
        ]}),
        port_forwards: json!([
            {"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any", "destination": "wan:ip",
             "destination_port": "2222", "target": "10.0.10.30", "local_port": "22", "descr": "ssh to bastion",
             "associated_rule_id": "nat_5f00"},
            {"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any", "destination": "wan:ip",
             "destination_port": "3389", "target": "10.0.10.40", "local_port": "3389", "descr": "rdp (rdr pass)",
             "associated_rule_id": "pass"}
        ]),
        interfaces: json!([
            {"id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "static", "ipaddr": "81.2.69.142",
             "subnet": 24, "blockbogons": true, "blockpriv": true, "gateway": "WANGW"},
            {"id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static", "ipaddr": "192.168.1.1", "subnet": 24},
            {"id": "opt1", "if": "em2", "enable": true, "descr": "DMZ", "typev4": "static", "ipaddr": "10.0.10.1", "subnet": 24}
        ]),
        interface_groups: json!([{"ifname": "INTERNAL", "members": ["lan", "opt1"]}]),
        webgui: json!({"data": {"protocol": "https", "port": "443"}}),
        ssh: json!({"data": {"enable": true, "port": "22"}}),
        ..ApiInput::default()
    }
}

fn model() -> FirewallModel {
    FirewallModel::from_api(&input())
}

fn q(iface: &str, proto: &str, src: &str, dst: &str, port: Option<u16>) -> Query {
    Query {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: proto.into(),
        src_port: None,
        dst_port: port,
        icmp_type: None,
        interface: iface.into(),
        direction: Direction::In,
    }
}

#[test]
fn the_model_reads_every_object_without_issues() {
    let m = model();
    assert_eq!(m.issues, vec![], "issues: {:#?}", m.issues);
    assert_eq!(m.rules.len(), 14);
    assert_eq!(m.aliases.len(), 5);
    assert_eq!(m.port_forwards.len(), 2);
    assert_eq!(
        m.rules[1].destination.target,
        Target::InterfaceAddress("lan".into())
    );
    assert_eq!(m.rules[2].source.target, Target::InterfaceNet("lan".into()));
    assert_eq!(m.rules[5].destination.target, Target::SelfAddresses);
    assert!(m.rules[0].disabled);
    assert!(
        !m.rules[11].is_quick(),
        "a floating rule without quick is not quick"
    );
    assert!(m.rules[2].is_quick(), "interface rules are always quick");
    // Anti-lockout ports: 443 (https), 80 (the redirect), 22 (SSH enabled).
    assert_eq!(m.settings.anti_lockout_ports(), vec![443, 80, 22]);
}

#[test]
fn odd_input_is_reported_not_fatal() {
    let bad = ApiInput {
        rules: json!([
            {"type": "allow", "interface": ["lan"], "source": "any", "destination": "any"},
            {"type": "pass", "interface": ["nope"], "source": "no_such_alias", "destination": "any", "destination_port": "http"},
            "not an object", 42
        ]),
        aliases: json!("garbage"),
        interfaces: json!([{"if": "em0"}, {"id": "lan", "if": "em1", "ipaddr": "not-an-ip", "subnet": 99}]),
        webgui: json!(7),
        ..ApiInput::default()
    };
    let m = FirewallModel::from_api(&bad);
    let problems: Vec<(&str, &str)> = m
        .issues
        .iter()
        .map(|i| (i.field.as_str(), i.problem.as_str()))
        .collect();
    assert!(
        problems.contains(&("type", "unknown action; rule ignored")),
        "{problems:?}"
    );
    assert!(problems.contains(&("interface", "no such interface or interface group")));
    assert!(problems.contains(&(
        "source",
        "not an address, alias or interface of this firewall"
    )));
    assert!(problems.contains(&("destination_port", "not a port, range or port alias")));
    assert!(problems.contains(&("id", "interface without an id")));
    // The rule with an unknown action is kept but never evaluated.
    assert!(m.rules[0].disabled);
    assert_eq!(m.interface("lan").unwrap().ipv4, None);
}

#[test]
fn no_matching_rule_hits_the_default_deny() {
    // WAN, TCP 8.8.8.8 → WAN address :22: not a bogon or private source, no floating rule for
    // port 22, no WAN rule passes 22 → the non-quick "Default deny rule IPv4" (block in inet all,
    // tracker 1000000103: base 1000000100, +2 link-local blocks, +1) is the last match.
    let e = model()
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(22)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
    assert_eq!(e.decided_by.tracker, Some(1_000_000_103));
}

#[test]
fn an_interface_rule_passes() {
    // LAN, 192.168.1.10 → 8.8.8.8:443: rule 1 (to the LAN address) does not match, rule 2
    // ("lan" net to any) does and is quick.
    let e = model()
        .explain(&q("lan", "tcp", "192.168.1.10", "8.8.8.8", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.tracker, Some(100000101));
    assert_eq!(e.decided_by.position, Some(2));
}

#[test]
fn a_quick_floating_rule_decides_before_interface_rules() {
    // Floating quick "no quad9" on LAN (direction any) matches before the LAN pass rule.
    let e = model()
        .explain(&q("lan", "tcp", "192.168.1.10", "9.9.9.9", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.tracker, Some(2001));
    assert_eq!(e.decided_by.origin, RuleOrigin::Floating);
}

#[test]
fn a_non_quick_floating_match_overrides_the_default_deny() {
    // WAN udp :51820: nothing quick matches; the non-quick default deny matches first, the
    // non-quick floating pass (after it in the ruleset) matches later → last match wins: pass.
    let e = model()
        .explain(&q("wan", "udp", "8.8.8.8", "81.2.69.142", Some(51820)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.tracker, Some(2002));
}

#[test]
fn a_quick_interface_rule_overrides_a_non_quick_floating_match() {
    // LAN tcp :25: the non-quick floating block matches (remembered), then the LAN pass rule
    // matches and is quick → pass.
    let e = model()
        .explain(&q("lan", "tcp", "192.168.1.10", "8.8.8.8", Some(25)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.tracker, Some(100000101));
    assert!(
        e.path
            .iter()
            .any(|s| s.rule.tracker == Some(2003) && s.matched == pfsense_firewall::Tri::Yes)
    );
}

#[test]
fn group_rules_come_before_the_interface_rules() {
    // LAN tcp :23: the INTERNAL group's quick block is generated before LAN's own rules, so the
    // LAN pass rule never gets to decide.
    let m = model();
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.10", "8.8.8.8", Some(23)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.tracker, Some(3001));
    assert_eq!(e.decided_by.origin, RuleOrigin::Group);
    // Same for the DMZ, also a member; the URL-table rule comes later and does not matter.
    let e = m
        .explain(&q("opt1", "tcp", "10.0.10.20", "8.8.8.8", Some(23)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert!(e.unknowns.is_empty(), "{:?}", e.unknowns);
}

#[test]
fn nested_aliases_resolve() {
    // 10.0.10.70 is in nested_db (10.0.10.64/28) inside web_servers; 8005 is in nested_ports
    // (8000:8010) inside web_ports → rule 3 passes.
    let m = model();
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "10.0.10.70", Some(8005)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.tracker, Some(1001));
    // 10.0.10.99 is outside both → default deny.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "10.0.10.99", Some(8005)))
        .unwrap();
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
    // 8011 is outside the port range → default deny.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "10.0.10.20", Some(8011)))
        .unwrap();
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
}

#[test]
fn a_url_table_makes_the_answer_unknown() {
    // DMZ → 8.8.8.8:443: rule 7 blocks traffic to the URL table bad_hosts, whose addresses the API
    // does not show; if 8.8.8.8 is listed it is blocked, otherwise rule 8 passes it.
    let e = model()
        .explain(&q("opt1", "tcp", "10.0.10.20", "8.8.8.8", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Unknown);
    assert_eq!(e.decided_by.tracker, Some(1004));
    assert_eq!(e.could_also_be, vec![Action::Block]);
    assert!(
        e.unknowns
            .iter()
            .any(|u| u.contains("bad_hosts") && u.contains("URL table")),
        "{:?}",
        e.unknowns
    );
    assert!(
        e.markdown(&q("opt1", "tcp", "10.0.10.20", "8.8.8.8", Some(443)))
            .contains("cannot be decided")
    );
}

#[test]
fn disabled_rules_are_skipped() {
    // Rule 0 would block 8.8.4.4 but is disabled → rule 2 passes, and rule 0 is not on the path.
    let e = model()
        .explain(&q("lan", "tcp", "192.168.1.10", "8.8.4.4", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert!(e.path.iter().all(|s| s.rule.tracker != Some(1000)));
}

#[test]
fn bogons_and_private_networks_are_blocked_on_wan_before_user_rules() {
    let m = model();
    // 198.51.100.7 (TEST-NET-2) is a bogon; WAN's bogon rule is the first bogons rule (11001).
    let e = m
        .explain(&q("wan", "tcp", "198.51.100.7", "10.0.10.20", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.origin, RuleOrigin::Bogons);
    assert_eq!(e.decided_by.tracker, Some(11001));
    // 10.1.2.3: the bogons table may or may not list RFC 1918 (unknown), but both would block;
    // "block private networks" 10/8 is WAN's first RFC 1918 rule (12001) → certain block.
    let e = m
        .explain(&q("wan", "tcp", "10.1.2.3", "10.0.10.20", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.origin, RuleOrigin::PrivateNetworks);
    assert_eq!(e.decided_by.tracker, Some(12001));
    // On LAN (no bogon/private blocking) the same source is passed by the LAN rule? No: it is not
    // in LAN net → default deny.
    let e = m
        .explain(&q("lan", "tcp", "10.1.2.3", "8.8.8.8", Some(443)))
        .unwrap();
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
}

#[test]
fn the_anti_lockout_rule_precedes_user_rules_on_lan() {
    let m = model();
    // Rule 1 blocks TCP to the LAN address, but the anti-lockout rule (pass in quick on LAN to
    // the LAN address, ports 443 80 22) is generated before all user rules.
    for port in [443, 80, 22] {
        let e = m
            .explain(&q("lan", "tcp", "192.168.1.10", "192.168.1.1", Some(port)))
            .unwrap();
        assert_eq!(e.verdict, Verdict::Pass, "port {port}");
        assert_eq!(e.decided_by.origin, RuleOrigin::AntiLockout);
        assert_eq!(e.decided_by.tracker, Some(10001));
    }
    // 8443 is not an anti-lockout port → rule 1 blocks.
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.10", "192.168.1.1", Some(8443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.tracker, Some(1005));
    // Not on WAN.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(80)))
        .unwrap();
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
}

#[test]
fn a_port_forward_translates_before_filtering() {
    // WAN :2222 is redirected to 10.0.10.30:22; the associated rule (tracker 1006) passes that.
    let e = model()
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(2222)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.tracker, Some(1006));
    let t = e.translation.expect("translated");
    assert_eq!(t.dst.to_string(), "10.0.10.30");
    assert_eq!(t.dst_port, Some(22));
    assert_eq!(t.associated_rule.and_then(|r| r.tracker), Some(1006));
    // "pass" association: rdr pass, the filter is skipped.
    let e = model()
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(3389)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.origin, RuleOrigin::PortForwardPass);
}

/// 1:1 NAT mappings on WAN: an exclusion, a host, a /28 (reflected onto the interfaces
/// without a gateway), the WAN address itself for one network of peers, and one whose inside
/// (`any`) names no address. filter.inc writes them as `no binat`/`binat on em0 from INSIDE to PEERS ->
/// EXTERNAL/len` in this order.
fn with_one_to_one() -> FirewallModel {
    let mut input = input();
    input.one_to_one_nat = json!([
        {"interface": "wan", "external": "81.2.69.150", "source": "10.0.10.50",
         "destination": "5.5.5.5", "nobinat": true, "descr": "not for 5.5.5.5"},
        {"interface": "wan", "external": "81.2.69.150", "source": "10.0.10.50",
         "destination": "any", "descr": "mail host"},
        {"interface": "wan", "external": "81.2.69.160", "source": "10.0.10.64/28",
         "destination": "any", "natreflection": "enable", "descr": "db net"},
        {"interface": "wan", "external": "wan:ip", "source": "10.0.10.99",
         "destination": "7.7.7.0/24", "descr": "partner to lab host"},
        {"interface": "wan", "external": "81.2.69.190", "source": "any",
         "destination": "any", "descr": "inside unknown"}
    ]);
    FirewallModel::from_api(&input)
}

#[test]
fn a_one_to_one_mapping_translates_what_no_port_forward_takes() {
    let m = with_one_to_one();
    assert_eq!(m.issues, vec![], "{:#?}", m.issues);
    let by = |e: &pfsense_firewall::explain::Explanation| {
        e.translation
            .as_ref()
            .map(|t| (t.position, t.dst.to_string(), t.dst_port))
    };
    // The host mapping: 81.2.69.150 → 10.0.10.50, the port kept; no rule passes .50.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.150", Some(443)))
        .unwrap();
    assert_eq!(by(&e), Some((1, "10.0.10.50".into(), Some(443))), "{e:#?}");
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
    // The /28: the host part is kept (81.2.69.165 → 10.0.10.69), which rule 3 passes on 443.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.165", Some(443)))
        .unwrap();
    assert_eq!(by(&e), Some((2, "10.0.10.69".into(), Some(443))), "{e:#?}");
    assert_eq!(
        (e.verdict, e.decided_by.tracker),
        (Verdict::Pass, Some(1001))
    );
    // Outside the /28 nothing is translated.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.176", Some(443)))
        .unwrap();
    assert_eq!(by(&e), None, "{e:#?}");
    // `no binat` for 5.5.5.5 comes first: untranslated, and the later mapping is not tried.
    let e = m
        .explain(&q("wan", "tcp", "5.5.5.5", "81.2.69.150", Some(443)))
        .unwrap();
    assert_eq!(by(&e), None, "{e:#?}");
    // The WAN address, for 7.7.7.0/24 only: a port forward takes its port first (pf tries
    // `rdr` before `binat` on the way in), other ports go to the inside host.
    let e = m
        .explain(&q("wan", "tcp", "7.7.7.7", "81.2.69.142", Some(2222)))
        .unwrap();
    let t = e.translation.as_ref().expect("forwarded");
    assert_eq!(
        (t.by, t.dst.to_string()),
        (TranslatedBy::PortForward, "10.0.10.30".into())
    );
    let e = m
        .explain(&q("wan", "tcp", "7.7.7.7", "81.2.69.142", Some(443)))
        .unwrap();
    assert_eq!(by(&e), Some((3, "10.0.10.99".into(), Some(443))), "{e:#?}");
    assert!(
        e.markdown(&q("wan", "tcp", "7.7.7.7", "81.2.69.142", Some(443)))
            .contains("1:1 NAT mapping #3 \"partner to lab host\" redirects"),
        "{}",
        e.markdown(&q("wan", "tcp", "7.7.7.7", "81.2.69.142", Some(443)))
    );
    // Other peers reach the WAN address itself: the remote admin's rule 6 passes.
    let e = m
        .explain(&q("wan", "tcp", "5.6.7.8", "81.2.69.142", Some(443)))
        .unwrap();
    assert_eq!((by(&e), e.decided_by.tracker), (None, Some(1008)));
    // Translated to where the model cannot tell: undecided; its external address alone is.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.190", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Unknown, "{e:#?}");
    assert!(
        e.unknowns
            .iter()
            .any(|u| u.contains("#4 (inside unknown) redirects this connection")),
        "{:?}",
        e.unknowns
    );
    // On LAN, which has no gateway, only the /28 is reflected (`rdr … bitmask`); the host
    // mapping leaves reflection to the system setting, assumed off and said so.
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.50", "81.2.69.165", Some(443)))
        .unwrap();
    assert_eq!(by(&e), Some((2, "10.0.10.69".into(), Some(443))), "{e:#?}");
    assert_eq!(e.decided_by.tracker, Some(100000101), "{e:#?}");
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.50", "81.2.69.150", Some(443)))
        .unwrap();
    assert_eq!(by(&e), None, "{e:#?}");
    assert!(
        e.assumptions
            .iter()
            .any(|a| a.contains("assumed off") && a.contains("#1 (mail host)")),
        "{:?}",
        e.assumptions
    );
}

/// Port forwards on WAN reflected onto LAN, which has no gateway: `purenat` redirects LAN's
/// connections to the forwarded address, `enable` hands them to the proxy on the firewall
/// (undecided: its rules are not modelled), and one that leaves it to the system is assumed
/// off (pfSense's default config: `disablenatreflection`) and says so.
#[test]
fn port_forwards_reflect_onto_interfaces_without_a_gateway() {
    let mut input = input();
    for (port, target, reflection) in [
        ("8443", "10.0.10.50", json!("purenat")),
        ("8444", "10.0.10.51", json!("enable")),
        ("8445", "10.0.10.52", Value::Null),
    ] {
        input.port_forwards.as_array_mut().unwrap().push(json!({
            "interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any",
            "destination": "wan:ip", "destination_port": port, "target": target,
            "local_port": "443", "natreflection": reflection, "descr": format!("to {target}")
        }));
    }
    let m = FirewallModel::from_api(&input);
    let lan = |port| q("lan", "tcp", "192.168.1.50", "81.2.69.142", Some(port));
    let e = m.explain(&lan(8443)).unwrap();
    let t = e.translation.as_ref().expect("reflected");
    assert!(t.reflected, "{t:?}");
    assert_eq!(
        (t.dst.to_string(), t.dst_port),
        ("10.0.10.50".into(), Some(443))
    );
    // LAN's default allow passes it on to the inside host.
    assert_eq!(
        (e.verdict, e.decided_by.tracker),
        (Verdict::Pass, Some(100000101))
    );
    let e = m.explain(&lan(8444)).unwrap();
    assert_eq!(e.verdict, Verdict::Unknown, "{e:#?}");
    assert!(
        e.unknowns
            .iter()
            .any(|u| u.contains("a proxy on the firewall")),
        "{e:#?}"
    );
    let e = m.explain(&lan(8445)).unwrap();
    assert_eq!(e.translation, None, "{e:#?}");
    assert!(
        e.assumptions
            .iter()
            .any(|a| a.contains("NAT reflection for port forwards is assumed off")),
        "{:?}",
        e.assumptions
    );
    // From WAN the forward is WAN's own, reflection or not.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(8443)))
        .unwrap();
    assert!(!e.translation.expect("forwarded").reflected);
    // A server on LAN reaching the API at the WAN address: a forward of 443 on WAN does not
    // see it, unless reflected onto LAN.
    let path = ServerPath {
        connects_to: Some("81.2.69.142".parse().unwrap()),
        ..ServerPath::from_source("192.168.1.50".parse().unwrap())
    };
    let forward = |reflection: &str| Change {
        kind: ObjectKind::PortForward,
        op: ChangeOp::Create,
        id: None,
        object: json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp",
            "source": "any", "destination": "wan:ip", "destination_port": "443",
            "target": "10.0.10.99", "local_port": "443", "natreflection": reflection,
            "descr": "web in"}),
    };
    assert_eq!(
        check_lockout(&model(), &forward("disable"), &path).decision,
        GuardDecision::Allowed
    );
    let r = check_lockout(&model(), &forward("purenat"), &path);
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(
        r.reason.contains(
            "forwarded to 10.0.10.99:443 by the NAT reflection of port forward #2 \"web in\""
        ),
        "{}",
        r.reason
    );
}

/// Without the server's address, a port forward of the address and port its URL leads to, or a
/// 1:1 NAT mapping that covers the address, new or for other peers, is named; one that took
/// them before from the same peers, or takes another address or port, is not.
/// Without a source: an interface disabled gives its address up (pfSense brings it down), so
/// disabling the one that holds the URL's address loses it; disabling another does not.
#[test]
fn disabling_the_urls_interface_loses_its_address() {
    let disable = |id: &str| Change {
        kind: ObjectKind::Interface,
        op: ChangeOp::Update,
        id: Some(json!(id)),
        object: json!({"enable": false}),
    };
    let url: [std::net::IpAddr; 1] = ["81.2.69.142".parse().unwrap()];
    let lost = |c: Change| pfsense_firewall::guard::url_address_lost(&model(), &[c], &url).unwrap();
    assert_eq!(lost(disable("wan")), Some(url[0]));
    assert_eq!(lost(disable("lan")), None);
}

/// Without a source: the interface holding the URL's address moved to another device is
/// named; another interface moved, or the same one changed otherwise, is not.
#[test]
fn the_urls_interface_moved_to_another_device_is_named() {
    let update = |id: &str, fields: Value| Change {
        kind: ObjectKind::Interface,
        op: ChangeOp::Update,
        id: Some(json!(id)),
        object: fields,
    };
    let url = ["81.2.69.142".parse().unwrap()];
    let moved =
        |c: Change| pfsense_firewall::guard::url_interface_changed(&model(), &[c], &url).unwrap();
    assert_eq!(
        moved(update("wan", json!({"if": "em5"}))).as_deref(),
        Some(
            "interface wan \"WAN\", which holds 81.2.69.142, the address this server's URL leads to, moves from device em0 to em5: if this server's requests come in on it, they would arrive at a port that is not cabled to its network"
        )
    );
    assert_eq!(moved(update("lan", json!({"if": "em5"}))), None);
    assert_eq!(moved(update("wan", json!({"descr": "UPLINK"}))), None);
    // Switched to DHCP, WAN may get another address: a "may", not a loss, although the
    // configured address stays in the answer.
    let dhcp = update("wan", json!({"typev4": "dhcp"}));
    assert!(
        moved(dhcp.clone())
            .unwrap()
            .contains("switches its address from static to dhcp"),
    );
    assert_eq!(
        pfsense_firewall::guard::url_address_lost(&model(), &[dhcp], &url).unwrap(),
        None
    );
}

#[test]
fn a_new_redirection_of_the_urls_address_is_named() {
    let create = |external: &str, peers: &str| Change {
        kind: ObjectKind::OneToOneNat,
        op: ChangeOp::Create,
        id: None,
        object: json!({"interface": "wan", "external": external, "source": "10.0.10.60",
                       "destination": peers, "descr": "new"}),
    };
    let url = ["81.2.69.142".parse().unwrap()];
    let mapped = |m: &FirewallModel, c: Change| {
        pfsense_firewall::guard::url_address_redirected(m, &[c], &url, 443).unwrap()
    };
    let said = mapped(&model(), create("wan:ip", "any")).expect("named");
    assert!(
        said.contains("1:1 NAT mapping #0 \"new\" sends connections on wan from any source to 81.2.69.142, the address this server's URL leads to, to 10.0.10.60"),
        "{said}"
    );
    // A /28 around the address maps it with its host part.
    let wide = Change {
        object: json!({"interface": "wan", "external": "81.2.69.130", "source": "10.0.10.64/28",
                       "destination": "any", "descr": "net"}),
        ..create("", "")
    };
    assert!(mapped(&model(), wide).unwrap().contains("to 10.0.10.78"));
    assert_eq!(mapped(&model(), create("81.2.69.150", "any")), None);
    // Mapping #3 covers the WAN address for 7.7.7.0/24 already: a new description changes
    // nothing, other peers do.
    let update = |fields: Value| Change {
        kind: ObjectKind::OneToOneNat,
        op: ChangeOp::Update,
        id: Some(json!(3)),
        object: fields,
    };
    assert_eq!(
        mapped(&with_one_to_one(), update(json!({"descr": "renamed"}))),
        None
    );
    assert!(
        mapped(&with_one_to_one(), update(json!({"destination": "any"})))
            .unwrap()
            .contains("from any source")
    );
    // Port forwards: of the URL's port (443) at the WAN address, not another port; the SSH
    // forward given another target still takes only port 2222.
    let forward = |port: &str| Change {
        kind: ObjectKind::PortForward,
        op: ChangeOp::Create,
        id: None,
        object: json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp",
            "source": "5.6.7.0/24", "destination": "wan:ip", "destination_port": port,
            "target": "10.0.10.99", "local_port": "8443", "descr": "web in"}),
    };
    let said = mapped(&model(), forward("443")).expect("named");
    assert!(
        said.contains("port forward #2 \"web in\" sends tcp connections on wan from sources in `5.6.7.0/24` to 81.2.69.142:443, where this server's URL leads, to 10.0.10.99:8443"),
        "{said}"
    );
    assert_eq!(mapped(&model(), forward("8443")), None);
    let moved = Change {
        kind: ObjectKind::PortForward,
        op: ChangeOp::Update,
        id: Some(json!(0)),
        object: json!({"destination_port": "443"}),
    };
    assert!(
        mapped(&model(), moved).is_some(),
        "the SSH forward moved onto 443"
    );
}

#[test]
fn self_matches_the_firewall_addresses() {
    // udp :1194 to the WAN address: destination (self) holds it → rule 5 passes.
    let m = model();
    let e = m
        .explain(&q("wan", "udp", "8.8.8.8", "81.2.69.142", Some(1194)))
        .unwrap();
    assert_eq!(e.decided_by.tracker, Some(1007));
    // To a DMZ host it is not (self) → default deny.
    let e = m
        .explain(&q("wan", "udp", "8.8.8.8", "10.0.10.20", Some(1194)))
        .unwrap();
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultDeny);
}

#[test]
fn outbound_traffic_is_let_out_unless_a_floating_rule_says_otherwise() {
    let m = model();
    let mut out = q("wan", "tcp", "81.2.69.142", "8.8.8.8", Some(443));
    out.direction = Direction::Out;
    // pfSense's non-quick "pass out all keep state" comes after the non-quick default deny out.
    let e = m.explain(&out).unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
    assert_eq!(e.decided_by.origin, RuleOrigin::DefaultPassOut);
    // The floating quick "no IRC out" (direction out, WAN) blocks :6667.
    out.dst_port = Some(6667);
    let e = m.explain(&out).unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.tracker, Some(2004));
}

#[test]
fn bad_questions_get_clear_errors() {
    let m = model();
    let err = m
        .explain(&q("dmz2", "tcp", "8.8.8.8", "81.2.69.142", Some(22)))
        .unwrap_err();
    assert!(err.to_string().contains("dmz2"));
    let err = m
        .explain(&q("wan", "tcp", "8.8.8.8", "2001:db8::1", Some(22)))
        .unwrap_err();
    assert!(err.to_string().contains("both be IPv4"));
    // Interfaces are found by description and device too.
    assert!(
        m.explain(&q("DMZ", "tcp", "10.0.10.20", "8.8.8.8", Some(23)))
            .is_ok()
    );
    assert!(
        m.explain(&q("em2", "tcp", "10.0.10.20", "8.8.8.8", Some(23)))
            .is_ok()
    );
}

/// pfrest deletes and renames a schedule still in use, and pfSense then applies the rules
/// naming it at all times: the guard names each rule and REST API access list entry left
/// (and limiter bandwidth) naming a schedule the changes take away (a delete, a rename, a bulk
/// delete, a replacement),
/// and nothing for a schedule nobody names, one that stays, or one whose rule goes first.
#[test]
fn a_schedule_taken_away_while_in_use_names_what_still_uses_it() {
    let schedules = json!([{"id": 0, "name": "office"}, {"id": 1, "name": "spare"}]);
    let rules = json!([
        {"id": 0, "descr": "always", "interface": ["lan"]},
        {"id": 1, "descr": "ssh in office hours", "interface": ["wan"], "sched": "office"}
    ]);
    let access = json!([{"id": 0, "network": "192.0.2.0/24", "descr": "", "sched": "office"}]);
    let limiters = json!([
        {"id": 0, "name": "flat", "bandwidth": [{"bw": 10, "bwsched": "none"}]},
        {"id": 1, "name": "daytime", "bandwidth": [
            {"bw": 10, "bwsched": "none"}, {"bw": 5, "bwsched": "office"}]}
    ]);
    let change = |op: ChangeOp, id: Option<Value>, object: Value| Change {
        kind: ObjectKind::Schedule,
        op,
        id,
        object,
    };
    let used_by = |users: &[Value], changes: &[Change]| -> Vec<(String, Vec<String>)> {
        names_left_in_use(&SCHEDULES, &schedules, users, changes)
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.used_by))
            .collect()
    };
    let users = [rules.clone(), access.clone(), limiters.clone()];
    let office = vec![(
        "office".to_string(),
        vec![
            "rule 1 \"ssh in office hours\" on wan (sched)".to_string(),
            "REST API access list entry 0 \"192.0.2.0/24\" (sched)".to_string(),
            "limiter 1 \"daytime\" (bwsched)".to_string(),
        ],
    )];
    let delete = change(ChangeOp::Delete, Some(json!(0)), Value::Null);
    assert_eq!(used_by(&users, std::slice::from_ref(&delete)), office);
    let rename = change(ChangeOp::Update, Some(json!(0)), json!({"name": "office2"}));
    assert_eq!(used_by(&users, &[rename]), office);
    let bulk = change(ChangeOp::DeleteMany, Some(json!([0, 1])), Value::Null);
    assert_eq!(used_by(&users, &[bulk]), office);
    let replace = change(ChangeOp::Replace, None, json!([{"name": "spare"}]));
    assert_eq!(used_by(&users, &[replace]), office);
    // Nobody names `spare`; a description changed keeps the name; no user left.
    assert!(
        used_by(
            &users,
            &[change(ChangeOp::Delete, Some(json!(1)), Value::Null)]
        )
        .is_empty()
    );
    let descr = change(ChangeOp::Update, Some(json!(0)), json!({"descr": "x"}));
    assert!(used_by(&users, &[descr]).is_empty());
    assert!(used_by(&[json!([]), json!([]), json!([])], &[delete]).is_empty());
    // What pfSense does with each kind of user is said once per kind.
    let found = names_left_in_use(
        &SCHEDULES,
        &schedules,
        &users,
        &[change(ChangeOp::Delete, Some(json!(0)), Value::Null)],
    )
    .unwrap();
    assert_eq!(found[0].effects.len(), 3);
}

/// pfrest deletes and renames limiters, limiter queues and ALTQ queues that rules still name
/// (`dnpipe`/`pdnpipe`, `defaultqueue`/`ackqueue`), and pfSense then writes those rules without
/// their limiter, or with a queue no shaper defines. The guard follows the changes of the
/// objects and of their nested queues (by `parent_id`; a bulk delete's matches as
/// `{parent_id, id}`), and a queue name another interface's shaper still defines is not gone.
#[test]
fn a_limiter_or_a_queue_taken_away_while_in_use_names_the_rules() {
    let limiters = json!([
        {"id": 0, "name": "up", "queue": [{"parent_id": 0, "id": 0, "name": "up_q"}]},
        {"id": 1, "name": "down", "queue": [
            {"parent_id": 1, "id": 0, "name": "down_a"}, {"parent_id": 1, "id": 1, "name": "down_b"}]}
    ]);
    let rules = json!([
        {"id": 0, "descr": "plain", "interface": ["lan"]},
        {"id": 1, "descr": "limited", "interface": ["lan"], "dnpipe": "up", "pdnpipe": "down"},
        {"id": 2, "descr": "queued", "interface": ["lan"], "dnpipe": "down_b"},
        {"id": 3, "descr": "voip", "interface": ["wan"], "defaultqueue": "qVoIP", "ackqueue": "qACK"}
    ]);
    let change = |kind: ObjectKind, op: ChangeOp, id: Option<Value>, object: Value| Change {
        kind,
        op,
        id,
        object,
    };
    let used_by = |named, list: &Value, changes: &[Change]| -> Vec<(String, Vec<String>)> {
        names_left_in_use(named, list, std::slice::from_ref(&rules), changes)
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.used_by))
            .collect()
    };
    let limited = |name: &str, fields: &str| {
        vec![(
            name.to_string(),
            vec![format!("rule 1 \"limited\" on lan ({fields})")],
        )]
    };
    // A limiter deleted, renamed, or left out of a PUT; its queue too when a rule names it.
    let delete = change(
        ObjectKind::Limiter,
        ChangeOp::Delete,
        Some(json!(0)),
        Value::Null,
    );
    assert_eq!(
        used_by(&LIMITERS, &limiters, &[delete]),
        limited("up", "dnpipe")
    );
    let rename = change(
        ObjectKind::Limiter,
        ChangeOp::Update,
        Some(json!(1)),
        json!({"name": "dn"}),
    );
    assert_eq!(
        used_by(&LIMITERS, &limiters, &[rename]),
        limited("down", "pdnpipe")
    );
    let delete_down = change(
        ObjectKind::Limiter,
        ChangeOp::Delete,
        Some(json!(1)),
        Value::Null,
    );
    let found = used_by(&LIMITERS, &limiters, &[delete_down]);
    assert_eq!(
        found.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["down", "down_b"],
        "{found:?}"
    );
    let replace = change(
        ObjectKind::Limiter,
        ChangeOp::Replace,
        None,
        json!([{"name": "up"}]),
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[replace]).len(), 2);
    // A limiter's queue deleted or renamed through its own endpoint, by its parent's id; the
    // queue list replaced by a PATCH of the limiter; a bulk delete of queues.
    let queued = vec![(
        "down_b".to_string(),
        vec!["rule 2 \"queued\" on lan (dnpipe)".to_string()],
    )];
    let queue_delete = change(
        ObjectKind::LimiterQueue,
        ChangeOp::Delete,
        Some(json!(1)),
        json!({"parent_id": 1}),
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[queue_delete]), queued);
    let queue_rename = change(
        ObjectKind::LimiterQueue,
        ChangeOp::Update,
        Some(json!(1)),
        json!({"parent_id": 1, "name": "down_c"}),
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[queue_rename]), queued);
    let queues_patched = change(
        ObjectKind::Limiter,
        ChangeOp::Update,
        Some(json!(1)),
        json!({"queue": [{"name": "down_a"}]}),
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[queues_patched]), queued);
    let bulk = change(
        ObjectKind::LimiterQueue,
        ChangeOp::DeleteMany,
        Some(
            json!([{"parent_id": 1, "id": 0}, {"parent_id": 1, "id": 1}, {"parent_id": 0, "id": 0}]),
        ),
        Value::Null,
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[bulk]), queued);
    // Nobody names `down_a` or `up_q`; the queue deleted after its rule stopped naming it is
    // another call, so here the first queue goes, and the second's id shifts to 0 after it.
    let first = change(
        ObjectKind::LimiterQueue,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({"parent_id": 1}),
    );
    assert!(used_by(&LIMITERS, &limiters, std::slice::from_ref(&first)).is_empty());
    let second = change(
        ObjectKind::LimiterQueue,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({"parent_id": 1}),
    );
    assert_eq!(used_by(&LIMITERS, &limiters, &[first, second]), queued);
    // A queue change without its parent cannot be placed: an error, not a pass.
    let orphan = change(
        ObjectKind::LimiterQueue,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({}),
    );
    assert!(
        names_left_in_use(
            &LIMITERS,
            &limiters,
            std::slice::from_ref(&rules),
            &[orphan]
        )
        .is_err()
    );

    // ALTQ: each interface's shaper defines its queues; `qACK` is defined on both.
    let shapers = json!([
        {"id": 0, "interface": "wan", "name": null, "queue": [
            {"parent_id": 0, "id": 0, "name": "qVoIP"}, {"parent_id": 0, "id": 1, "name": "qACK"}]},
        {"id": 1, "interface": "lan", "name": null, "queue": [
            {"parent_id": 1, "id": 0, "name": "qACK"}, {"parent_id": 1, "id": 1, "name": "qDefault"}]}
    ]);
    let voip = |fields: &str| vec![format!("rule 3 \"voip\" on wan ({fields})")];
    let wan_shaper_gone = change(
        ObjectKind::Shaper,
        ChangeOp::Delete,
        Some(json!(0)),
        Value::Null,
    );
    assert_eq!(
        used_by(&SHAPER_QUEUES, &shapers, &[wan_shaper_gone]),
        vec![("qVoIP".to_string(), voip("defaultqueue"))],
        "qACK stays defined on lan"
    );
    let all_gone = change(
        ObjectKind::Shaper,
        ChangeOp::DeleteMany,
        Some(json!([0, 1])),
        Value::Null,
    );
    assert_eq!(used_by(&SHAPER_QUEUES, &shapers, &[all_gone]).len(), 2);
    let lan_ack = change(
        ObjectKind::ShaperQueue,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({"parent_id": 1}),
    );
    assert!(used_by(&SHAPER_QUEUES, &shapers, &[lan_ack]).is_empty());
    let wan_ack = change(
        ObjectKind::ShaperQueue,
        ChangeOp::Delete,
        Some(json!(1)),
        json!({"parent_id": 0}),
    );
    let lan_ack = change(
        ObjectKind::ShaperQueue,
        ChangeOp::Delete,
        Some(json!(0)),
        json!({"parent_id": 1}),
    );
    assert_eq!(
        used_by(&SHAPER_QUEUES, &shapers, &[wan_ack, lan_ack]),
        vec![("qACK".to_string(), voip("ackqueue"))]
    );
    // A shaper's own name is no queue's: renaming the shaper takes nothing away.
    let shaper_named = change(
        ObjectKind::Shaper,
        ChangeOp::Update,
        Some(json!(0)),
        json!({"name": "x"}),
    );
    assert!(used_by(&SHAPER_QUEUES, &shapers, &[shaper_named]).is_empty());
}

/// An OpenVPN server's `authmode` lists authentication servers: one taken away is found in the
/// list, and "Local Database" (no object) is never one.
#[test]
fn an_authentication_server_in_a_vpns_list_is_named() {
    let servers = json!([{"id": 0, "name": "corp ldap"}, {"id": 1, "name": "radius"}]);
    let vpns = json!([{"id": 0, "description": "staff vpn", "interface": "wan",
        "authmode": ["Local Database", "corp ldap"]}]);
    let delete = |id: u64| Change {
        kind: ObjectKind::AuthServer,
        op: ChangeOp::Delete,
        id: Some(json!(id)),
        object: Value::Null,
    };
    let found = names_left_in_use(
        &AUTH_SERVERS,
        &servers,
        std::slice::from_ref(&vpns),
        &[delete(0)],
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "corp ldap");
    assert_eq!(
        found[0].used_by,
        ["OpenVPN server 0 \"staff vpn\" on wan (authmode)"]
    );
    assert!(
        names_left_in_use(
            &AUTH_SERVERS,
            &servers,
            std::slice::from_ref(&vpns),
            &[delete(1)]
        )
        .unwrap()
        .is_empty()
    );
}

/// A gateway is named by an interface (string ids), by the default gateway setting (a
/// singleton: no id) and by a gateway group's priorities; a bulk delete takes them all.
#[test]
fn a_gateway_in_use_names_interfaces_the_default_and_groups() {
    let gateways = json!([{"id": 0, "name": "WAN_GW"}, {"id": 1, "name": "BACKUP_GW"}]);
    let users = [
        json!([{"id": "wan", "descr": "WAN", "gateway": "WAN_GW"}, {"id": "lan", "descr": "LAN"}]),
        json!({"defaultgw4": "WAN_GW", "defaultgw6": ""}),
        json!([{"id": 0, "name": "FAILOVER", "priorities": [
            {"gateway": "WAN_GW", "tier": 1}, {"gateway": "BACKUP_GW", "tier": 2}]}]),
    ];
    let bulk = Change {
        kind: ObjectKind::Gateway,
        op: ChangeOp::DeleteMany,
        id: Some(json!([0, 1])),
        object: Value::Null,
    };
    let found: Vec<(String, Vec<String>)> =
        names_left_in_use(&GATEWAYS, &gateways, &users, &[bulk])
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.used_by))
            .collect();
    assert_eq!(
        found,
        [
            (
                "BACKUP_GW".to_string(),
                vec!["gateway group 0 \"FAILOVER\" (gateway)".to_string()]
            ),
            (
                "WAN_GW".to_string(),
                vec![
                    "interface wan \"WAN\" (gateway)".to_string(),
                    "the default gateway setting (defaultgw4)".to_string(),
                    "gateway group 0 \"FAILOVER\" (gateway)".to_string(),
                ]
            ),
        ]
    );
}

/// An interface is named by its string id (or its description or device, as pfrest may show
/// it): in a floating rule's interfaces, a rule's address
/// (`lan`, `lan:ip`, `!lan`), an outbound mapping's target, a virtual IP, a gateway and the
/// DHCP relay setting; and by the rules and port forwards on it and its DHCP server, which
/// pfrest would delete with it beyond undo's reach. `lan` is not `lanx`.
#[test]
fn an_interface_is_named_by_its_id_in_addresses_and_lists() {
    let interfaces = json!([{"id": "wan", "descr": "WAN", "if": "vtnet0"},
        {"id": "lan", "descr": "LAN", "if": "vtnet1"}, {"id": "lanx", "descr": "OTHER", "if": ""}]);
    let users = [
        json!([
            {"id": 0, "interface": ["lan"], "source": "lan", "destination": "any", "descr": "default"},
            {"id": 1, "interface": ["wan", "lan"], "floating": true, "source": "any",
             "destination": "any", "descr": "floating"},
            {"id": 2, "interface": ["wan"], "source": "!lan", "destination": "lan:ip", "descr": "to lan"},
            {"id": 3, "interface": ["wan"], "source": "lanx", "destination": "lanx:ip", "descr": "other"},
            // `represent_interfaces_as` = descr.
            {"id": 4, "interface": ["WAN"], "source": "any", "destination": "LAN:ip", "descr": "by descr"},
        ]),
        json!([{"id": 0, "interface": "lan", "source": "any", "destination": "lan:ip", "descr": "fwd"}]),
        json!([{"id": 0, "interface": "wan", "source": "10.9.0.0/16", "destination": "any",
            "target": "lan:ip", "descr": "out"}]),
        json!([{"id": 0, "interface": "lan", "source": "10.9.9.9", "destination": "any", "descr": "binat"}]),
        json!([{"id": 0, "interface": "lan", "subnet": "192.168.1.250", "descr": ""}]),
        json!([{"id": 0, "name": "LAN_GW", "interface": "lan"}]),
        // DHCP servers: `lan`'s, and one on `lanx` (an interface named like it) with nothing but
        // a custom option.
        json!([
            {"id": "lan", "interface": "lan", "enable": true, "range_from": "192.168.1.100",
             "staticmap": [{"parent_id": "lan", "id": 0, "mac": "00:11:22:33:44:55"}]},
            {"id": "lanx", "interface": "lanx", "enable": false,
             "numberoptions": [{"parent_id": "lanx", "id": 0, "number": 66, "value": "tftp.lan"}]},
        ]),
        json!({"allowed_interfaces": ["lo0", "vtnet1"]}),
        json!({"enable": true, "interface": ["lan", "wan"]}),
    ];
    let delete = |id: &str| Change {
        kind: ObjectKind::Interface,
        op: ChangeOp::Delete,
        id: Some(json!(id)),
        object: Value::Null,
    };
    let found = names_left_in_use(&INTERFACES, &interfaces, &users, &[delete("lan")]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "lan");
    assert_eq!(
        found[0].used_by,
        [
            "rule 0 \"default\" on lan (interface, source)",
            "floating rule 1 \"floating\" on wan, lan (interface)",
            "rule 2 \"to lan\" on wan (source, destination)",
            "rule 4 \"by descr\" on WAN (destination)",
            "port forward 0 \"fwd\" on lan (interface, destination)",
            "outbound NAT mapping 0 \"out\" on wan (target)",
            "1:1 NAT mapping 0 \"binat\" on lan (interface)",
            "virtual IP 0 \"192.168.1.250\" on lan (interface)",
            "gateway 0 \"LAN_GW\" on lan (interface)",
            "DHCP server lan on lan (interface)",
            "the REST API setting (allowed_interfaces)",
            "the DHCP relay setting (interface)",
        ]
    );
    // Each user's effect once, then the id handed on.
    assert_eq!(found[0].effects.len(), 10);
    assert!(found[0].effects[9].contains("next interface assigned gets this one's id"));
    // Nothing names `lanx` but one rule's addresses and its DHCP server.
    let lanx = names_left_in_use(&INTERFACES, &interfaces, &users, &[delete("lanx")]).unwrap();
    assert_eq!(
        lanx[0].used_by,
        [
            "rule 3 \"other\" on wan (source, destination)",
            "DHCP server lanx on lanx (interface)",
        ]
    );
    // With its users gone first, the interface goes.
    let mut bare = vec![json!([]); users.len() - 2];
    bare.extend([json!({}), json!({})]);
    assert!(
        names_left_in_use(&INTERFACES, &interfaces, &bare, &[delete("lan")])
            .unwrap()
            .is_empty()
    );
}

/// A CARP virtual IP is named by its unique ID: as an interface `_vip<uniqid>` (IPsec, an IP
/// alias), as a gateway group member's `virtual_ip` and as DHCP relay's `carpstatusvip`; an IP
/// alias on `lan` names no virtual IP.
#[test]
fn a_carp_virtual_ip_is_named_by_its_unique_id() {
    let vips = json!([
        {"id": 0, "uniqid": "5f00c0ffee", "mode": "carp", "interface": "lan", "descr": "carp"},
        {"id": 1, "uniqid": "5f00beef", "mode": "ipalias", "interface": "_vip5f00c0ffee",
         "descr": "alias"},
    ]);
    let users = [
        json!([{"id": 0, "interface": "_vip5f00c0ffee", "descr": "ha peer"}]),
        json!([{"id": 0, "interface": "wan", "description": "vpn"}]),
        json!([]),
        vips.clone(),
        json!([{"id": 0, "name": "G", "priorities": [{"gateway": "GW", "virtual_ip": "5f00c0ffee"}]}]),
        json!({"carpstatusvip": "none"}),
    ];
    let delete = |id: u64| Change {
        kind: ObjectKind::VirtualIp,
        op: ChangeOp::Delete,
        id: Some(json!(id)),
        object: Value::Null,
    };
    let found = names_left_in_use(&VIRTUAL_IPS, &vips, &users, &[delete(0)]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "5f00c0ffee");
    assert_eq!(
        found[0].used_by,
        [
            "IPsec phase 1 0 \"ha peer\" on _vip5f00c0ffee (interface)",
            "virtual IP 1 \"alias\" on _vip5f00c0ffee (interface)",
            "gateway group 0 \"G\" (virtual_ip)",
        ]
    );
    assert!(
        names_left_in_use(&VIRTUAL_IPS, &vips, &users, &[delete(1)])
            .unwrap()
            .is_empty()
    );
}

/// A VLAN is named by its device `vlanif` in an interface's `if`: its delete takes the name
/// away, and so does a new `tag` (the device becomes `<if>.<tag>`); a new description or the
/// same tag does not.
#[test]
fn a_vlan_an_interface_is_assigned_to_is_named_by_its_device() {
    let vlans = json!([
        {"id": 0, "if": "vtnet2", "tag": 10, "vlanif": "vtnet2.10", "descr": "office"},
        {"id": 1, "if": "vtnet2", "tag": 20, "vlanif": "vtnet2.20", "descr": "spare"},
    ]);
    let interfaces = json!([{"id": "opt2", "if": "vtnet2.10", "descr": "OFFICE"}]);
    let users = std::slice::from_ref(&interfaces);
    let change = |op: ChangeOp, id: u64, object: Value| Change {
        kind: ObjectKind::InterfaceVlan,
        op,
        id: Some(json!(id)),
        object,
    };
    let in_use = |c: Change| -> Vec<Vec<String>> {
        names_left_in_use(&VLANS, &vlans, users, &[c])
            .unwrap()
            .into_iter()
            .map(|n| n.used_by)
            .collect()
    };
    let office = vec![vec!["interface opt2 \"OFFICE\" (if)".to_string()]];
    assert_eq!(in_use(change(ChangeOp::Delete, 0, Value::Null)), office);
    assert_eq!(
        in_use(change(ChangeOp::Update, 0, json!({"tag": 11}))),
        office
    );
    assert!(in_use(change(ChangeOp::Update, 0, json!({"tag": 10}))).is_empty());
    assert!(in_use(change(ChangeOp::Update, 0, json!({"descr": "x"}))).is_empty());
    assert!(in_use(change(ChangeOp::Delete, 1, Value::Null)).is_empty());
}

/// A LAGG is named by its device `laggif` as a VLAN's parent: its delete takes the name away,
/// a new description does not, and a LAGG no VLAN is on goes.
#[test]
fn a_lagg_a_vlan_is_on_is_named_by_its_device() {
    let laggs = json!([
        {"id": 0, "laggif": "lagg0", "members": ["vtnet3"], "descr": "uplink"},
        {"id": 1, "laggif": "lagg1", "members": ["vtnet3"], "descr": "spare"},
    ]);
    let vlans =
        json!([{"id": 0, "if": "lagg0", "tag": 30, "vlanif": "lagg0.30", "descr": "on it"}]);
    let users = std::slice::from_ref(&vlans);
    let change = |op: ChangeOp, id: u64, object: Value| Change {
        kind: ObjectKind::InterfaceLagg,
        op,
        id: Some(json!(id)),
        object,
    };
    let in_use = |c: Change| -> Vec<Vec<String>> {
        names_left_in_use(&LAGGS, &laggs, users, &[c])
            .unwrap()
            .into_iter()
            .map(|n| n.used_by)
            .collect()
    };
    assert_eq!(
        in_use(change(ChangeOp::Delete, 0, Value::Null)),
        vec![vec!["VLAN 0 \"on it\" (if)".to_string()]]
    );
    assert!(in_use(change(ChangeOp::Update, 0, json!({"descr": "x"}))).is_empty());
    assert!(in_use(change(ChangeOp::Delete, 1, Value::Null)).is_empty());
}

/// A device newly made a LAGG port is named when an interface is assigned to it or to a VLAN
/// on it; one already a port, an unassigned one and an unassigned VLAN's parent are not.
#[test]
fn a_lagg_port_that_carries_an_interface_is_named() {
    let laggs = json!([{"id": 0, "laggif": "lagg0", "members": "vtnet3", "descr": "spare"}]);
    let interfaces = json!([
        {"id": "lan", "if": "vtnet1", "descr": "LAN"},
        {"id": "opt2", "if": "vtnet2.40", "descr": ""},
    ]);
    let vlans = json!([
        {"id": 0, "if": "vtnet2", "tag": 40, "vlanif": "vtnet2.40"},
        {"id": 1, "if": "vtnet4", "tag": 50, "vlanif": "vtnet4.50"},
    ]);
    let ports = |op: ChangeOp, id: Option<u64>, object: Value| {
        let change = Change {
            kind: ObjectKind::InterfaceLagg,
            op,
            id: id.map(|i| json!(i)),
            object,
        };
        lagg_ports_in_use(&laggs, &interfaces, &vlans, &[change]).unwrap()
    };
    assert_eq!(
        ports(
            ChangeOp::Create,
            None,
            json!({"members": ["vtnet1", "vtnet5"]})
        ),
        ["vtnet1 (the device of interface lan \"LAN\")"]
    );
    assert_eq!(
        ports(
            ChangeOp::Update,
            Some(0),
            json!({"members": ["vtnet3", "vtnet2"]})
        ),
        ["vtnet2 (the parent of VLAN vtnet2.40 of interface opt2)"]
    );
    assert!(ports(ChangeOp::Update, Some(0), json!({"descr": "x"})).is_empty());
    assert!(
        ports(
            ChangeOp::Create,
            None,
            json!({"members": ["vtnet3", "vtnet4"]})
        )
        .is_empty()
    );
}

/// An interface group is named by its `ifname` among a rule's interfaces; a PUT that keeps it
/// takes nothing away.
#[test]
fn an_interface_group_is_named_by_the_rules_on_it() {
    let groups = json!([{"id": 0, "ifname": "LABGRP", "members": ["lan"]},
        {"id": 1, "ifname": "SPARE", "members": ["lan"]}]);
    let rules = json!([{"id": 0, "interface": ["LABGRP"], "descr": "on the group"}]);
    let users = std::slice::from_ref(&rules);
    let change = |op: ChangeOp, id: Option<Value>, object: Value| Change {
        kind: ObjectKind::InterfaceGroup,
        op,
        id,
        object,
    };
    let found = |c: Change| names_left_in_use(&INTERFACE_GROUPS, &groups, users, &[c]).unwrap();
    let deleted = found(change(ChangeOp::Delete, Some(json!(0)), Value::Null));
    assert_eq!(
        deleted[0].used_by,
        ["rule 0 \"on the group\" on LABGRP (interface)"]
    );
    let kept = json!([{"ifname": "LABGRP", "members": ["lan", "wan"]}]);
    assert!(found(change(ChangeOp::Replace, None, kept)).is_empty());
    assert!(found(change(ChangeOp::Delete, Some(json!(1)), Value::Null)).is_empty());
}

/// A user is named by a group as a member (by name while it exists, by uid once pfrest has
/// deleted it: [`USERS`], keyed by uid), and by name by an access list entry and an API key
/// ([`USER_NAMES`]). A rename takes the name from those but nothing from the group, which
/// follows the uid; a user nothing names goes.
#[test]
fn a_user_is_named_by_its_groups_and_the_access_list() {
    let users = json!([{"id": 0, "name": "admin", "uid": 0},
        {"id": 1, "name": "alice", "uid": 2000}, {"id": 2, "name": "bob", "uid": 2001}]);
    let groups = json!([{"id": 0, "name": "admins", "member": ["admin", "alice"]},
        {"id": 1, "name": "ops", "member": ["2001"]}]);
    let by_name_lists = [
        json!([{"id": 0, "type": "allow", "users": ["alice"], "descr": "alice only"}]),
        json!([{"id": 0, "username": "admin", "descr": ""},
            {"id": 1, "username": "alice", "descr": "deploy"}]),
    ];
    let change = |op: ChangeOp, id: u64, object: Value| Change {
        kind: ObjectKind::User,
        op,
        id: Some(json!(id)),
        object,
    };
    let by_uid =
        |c: Change| names_left_in_use(&USERS, &users, std::slice::from_ref(&groups), &[c]).unwrap();
    let by_name = |c: Change| names_left_in_use(&USER_NAMES, &users, &by_name_lists, &[c]).unwrap();
    let delete = |id| change(ChangeOp::Delete, id, Value::Null);
    let rename = change(ChangeOp::Update, 1, json!({"name": "alicia"}));
    let alice = by_uid(delete(1));
    assert_eq!(alice[0].name, "2000");
    assert_eq!(alice[0].used_by, ["user group 0 \"admins\" (member)"]);
    assert_eq!(
        by_name(delete(1))[0].used_by,
        [
            "REST API access list entry 0 \"alice only\" (users)",
            "REST API key 1 \"deploy\" (username)",
        ]
    );
    assert_eq!(
        by_uid(delete(2))[0].used_by,
        ["user group 1 \"ops\" (member)"]
    );
    assert!(by_name(delete(2)).is_empty());
    assert!(by_uid(rename.clone()).is_empty());
    assert_eq!(by_name(rename)[0].name, "alice");
    assert!(takes_named_away(
        &USER_NAMES,
        &change(ChangeOp::Update, 1, json!({"name": "x"}))
    ));
    assert!(!takes_named_away(
        &USERS,
        &change(ChangeOp::Update, 1, json!({"name": "x"}))
    ));
    let lone = json!([{"id": 0, "name": "carol", "uid": 2002}]);
    assert!(
        names_left_in_use(&USERS, &lone, std::slice::from_ref(&groups), &[delete(0)])
            .unwrap()
            .is_empty()
    );
}

/// IPsec phase 2 entries name their phase 1 by its number `ikeid`, not by a name: the phase 1
/// deleted is found by it, the other is not.
#[test]
fn an_ipsec_phase_1_is_named_by_its_ike_id() {
    let phase1s = json!([{"id": 0, "ikeid": 1, "descr": "a"}, {"id": 1, "ikeid": 3, "descr": "b"}]);
    let phase2s = json!([{"id": 0, "ikeid": 1, "descr": "a nets"}]);
    let delete = |id: u64| Change {
        kind: ObjectKind::IpsecPhase1,
        op: ChangeOp::Delete,
        id: Some(json!(id)),
        object: Value::Null,
    };
    let users = std::slice::from_ref(&phase2s);
    let found = names_left_in_use(&IPSEC_PHASE1S, &phase1s, users, &[delete(0)]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].name, "1");
    assert_eq!(found[0].used_by, ["IPsec phase 2 0 \"a nets\" (ikeid)"]);
    assert!(
        names_left_in_use(&IPSEC_PHASE1S, &phase1s, users, &[delete(1)])
            .unwrap()
            .is_empty()
    );
}

/// pfrest deletes an alias still in use and pfSense then skips what names it: the guard names
/// every object left naming an alias a change removes (rules by source, destination or port,
/// port forwards, nested aliases), and nothing when the change keeps the alias or takes its
/// users away first.
#[test]
fn an_alias_removed_while_in_use_names_what_still_uses_it() {
    let input = input();
    let delete = |id: u64| Change {
        kind: ObjectKind::Alias,
        op: ChangeOp::Delete,
        id: Some(json!(id)),
        object: Value::Null,
    };
    let used_by = |changes: &[Change]| -> Vec<(String, Vec<String>)> {
        aliases_left_in_use(&input, changes)
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.used_by))
            .collect()
    };
    assert_eq!(
        used_by(&[delete(0)]),
        [(
            "web_servers".to_string(),
            vec!["rule 3 \"web to DMZ\" on wan (destination)".to_string()]
        )]
    );
    assert_eq!(
        used_by(&[delete(1)]),
        [(
            "nested_db".to_string(),
            vec!["alias `web_servers` (address)".to_string()]
        )]
    );
    assert_eq!(
        used_by(&[delete(2)])[0].1,
        ["rule 3 \"web to DMZ\" on wan (destination_port)"]
    );
    // A bulk delete and a replacement name each alias they take away.
    let bulk = Change {
        kind: ObjectKind::Alias,
        op: ChangeOp::DeleteMany,
        id: Some(json!([3, 4])),
        object: Value::Null,
    };
    let names: Vec<String> = used_by(&[bulk]).into_iter().map(|(a, _)| a).collect();
    assert_eq!(names, ["nested_ports", "bad_hosts"]);
    let replace = Change {
        kind: ObjectKind::Alias,
        op: ChangeOp::Replace,
        id: None,
        object: json!([{"name": "web_servers", "type": "host", "address": ["10.0.10.20"]}]),
    };
    let names: Vec<String> = used_by(&[replace]).into_iter().map(|(a, _)| a).collect();
    assert_eq!(names, ["web_ports", "bad_hosts"]);
    // A port forward redirecting to an alias; a negated alias in a floating rule.
    let mut forwarded = input.clone();
    forwarded.port_forwards[0]["target"] = json!("web_servers");
    forwarded.rules[10]["destination"] = json!("!web_servers");
    let found = aliases_left_in_use(&forwarded, &[delete(0)]).unwrap();
    assert_eq!(
        found[0].used_by,
        [
            "rule 3 \"web to DMZ\" on wan (destination)",
            "floating rule 10 \"no quad9\" on lan (destination)",
            "port forward 0 \"ssh to bastion\" on wan (target)"
        ]
    );
    // Beyond the filter: a static route, a 1:1 NAT mapping and the OpenVPN networks (the
    // lists read only for this check), each with what pfSense then does.
    let mut beyond = input.clone();
    beyond.rules = json!([]);
    beyond.aliases["data"][0]["address"] = json!(["10.0.10.20"]);
    beyond.static_routes =
        json!([{"id": 0, "network": "nested_db", "gateway": "GW", "descr": "to db"}]);
    beyond.one_to_one_nat = json!([{"id": 0, "interface": "wan", "external": "203.0.113.5",
        "source": "any", "destination": "!nested_db", "descr": ""}]);
    beyond.openvpn_servers = json!([{"id": 0, "description": "road warriors",
        "local_network": ["10.0.0.0/24", "nested_db"], "local_networkv6": [],
        "remote_network": [], "remote_networkv6": []}]);
    beyond.openvpn_clients = json!([{"id": 0, "description": "site b",
        "remote_network": ["nested_db"], "remote_networkv6": []}]);
    beyond.openvpn_csos = json!([{"id": 0, "common_name": "laptop", "description": "",
        "remote_network": ["nested_db"]}]);
    let found = aliases_left_in_use(&beyond, &[delete(1)]).unwrap();
    assert_eq!(
        found[0].used_by,
        [
            "1:1 NAT mapping 0 on wan (destination)",
            "static route 0 \"to db\" (network)",
            "OpenVPN server 0 \"road warriors\" (local_network)",
            "OpenVPN client 0 \"site b\" (remote_network)",
            "OpenVPN client specific override 0 \"laptop\" (remote_network)",
        ]
    );
    assert_eq!(found[0].effects.len(), 3, "{:?}", found[0].effects);
    // An undo's steps: `web_ports` re-created at its old index (`placement`) shifts the later
    // ids, so id 3 is `web_ports`'s old neighbour again, `nested_ports`, and deleting it takes
    // away an alias `web_ports` names.
    let mut without = input.clone();
    without.aliases["data"].as_array_mut().unwrap().remove(2);
    let recreate = Change {
        kind: ObjectKind::Alias,
        op: ChangeOp::Create,
        id: None,
        object: json!({"name": "web_ports", "type": "port",
            "address": ["80", "443", "nested_ports"], "placement": 2}),
    };
    let found = aliases_left_in_use(&without, &[recreate, delete(3)]).unwrap();
    assert_eq!(
        (found[0].name.as_str(), found[0].used_by.clone()),
        (
            "nested_ports",
            vec!["alias `web_ports` (address)".to_string()]
        )
    );
    // Unused, or its rule deleted first (an undo's steps): nothing in the way.
    let mut unused = input.clone();
    unused.aliases["data"][3]["name"] = json!("spare");
    assert!(
        aliases_left_in_use(&unused, &[delete(3)])
            .unwrap()
            .is_empty()
    );
    let rule_first = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Delete,
        id: Some(json!(3)),
        object: Value::Null,
    };
    assert!(used_by(&[rule_first, delete(0)]).is_empty());
    // No alias removed: nothing read.
    let rule = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Update,
        id: Some(json!(3)),
        object: json!({"descr": "renamed"}),
    };
    assert!(used_by(&[rule]).is_empty());
}

fn remote_admin() -> ServerPath {
    ServerPath {
        interface: Some("wan".into()),
        ..ServerPath::from_source("5.6.7.8".parse().unwrap())
    }
}

#[test]
fn the_guard_refuses_a_rule_that_blocks_the_server() {
    // The server at 5.6.7.8 reaches the API on WAN:443 through rule 6. A floating quick block of
    // 5.6.7.8 on WAN comes before rule 6 → the API would be cut off.
    let change = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Create,
        id: None,
        object: json!({"type": "block", "interface": ["wan"], "floating": true, "quick": true, "direction": "in",
                       "ipprotocol": "inet", "protocol": "tcp", "source": "5.6.7.8", "destination": "any",
                       "descr": "block the admin by mistake"}),
    };
    let r = check_lockout(&model(), &change, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(
        r.reason.contains("block the admin by mistake"),
        "{}",
        r.reason
    );
    assert_eq!(r.ports[0].before, Verdict::Pass);
    // Disabling rule 6 lets the default deny decide → refused too.
    let change = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Update,
        id: Some(json!(6)),
        object: json!({"disabled": true}),
    };
    let r = check_lockout(&model(), &change, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused);
    assert!(r.reason.contains("Default deny"), "{}", r.reason);
}

#[test]
fn the_guard_allows_an_unrelated_rule() {
    let change = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Create,
        id: None,
        object: json!({"type": "block", "interface": ["wan"], "floating": true, "quick": true, "direction": "in",
                       "ipprotocol": "inet", "protocol": "tcp", "source": "45.33.32.156", "destination": "any"}),
    };
    let r = check_lockout(&model(), &change, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    assert!(!r.cannot_know.is_empty());
}

#[test]
fn the_guard_knows_the_anti_lockout_rule_protects_lan() {
    // From LAN, even a floating quick block of the server comes after the anti-lockout rule.
    let change = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Create,
        id: None,
        object: json!({"type": "block", "interface": ["lan"], "floating": true, "quick": true,
                       "ipprotocol": "inet", "source": "192.168.1.50", "destination": "any"}),
    };
    let path = ServerPath::from_source("192.168.1.50".parse().unwrap());
    let r = check_lockout(&model(), &change, &path);
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    assert_eq!(r.interface.as_deref(), Some("lan"));
}

#[test]
fn the_guard_refuses_moving_the_api_port_and_disabling_its_interface() {
    let change = Change {
        kind: ObjectKind::WebGui,
        op: ChangeOp::Update,
        id: None,
        object: json!({"port": "8443"}),
    };
    let r = check_lockout(&model(), &change, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused);
    assert!(r.reason.contains("8443"));
    let change = Change {
        kind: ObjectKind::Interface,
        op: ChangeOp::Update,
        id: Some(json!("wan")),
        object: json!({"enable": false}),
    };
    let r = check_lockout(&model(), &change, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
}

#[test]
fn the_guard_judges_bulk_deletes_replacements_and_steps_in_turn() {
    let bulk = |ids: Value| Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::DeleteMany,
        id: Some(ids),
        object: Value::Null,
    };
    // Taking out rules 5 and 6 at once removes the remote admin's pass: default deny decides.
    let r = check_lockout(&model(), &bulk(json!([5, 6])), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    // Rules 0 and 7 (ids before the delete) leave rule 6's pass in place.
    let r = check_lockout(&model(), &bulk(json!([0, 7])), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    let r = check_lockout(&model(), &bulk(json!([6, 99])), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Unknown, "{r:#?}");
    assert!(r.reason.contains("no Rule with id 99"), "{}", r.reason);
    // A replacement by every rule but the remote admin's.
    let mut kept: Vec<Value> = rules().as_array().unwrap().clone();
    kept.remove(6);
    let replace = |list: Vec<Value>| Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Replace,
        id: None,
        object: Value::Array(list),
    };
    let r = check_lockout(&model(), &replace(kept.clone()), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    let r = check_lockout(
        &model(),
        &replace(rules().as_array().unwrap().clone()),
        &remote_admin(),
    );
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    // Steps in turn: deleting rule 6 then creating it again leaves the path open; only the end
    // state is judged.
    let mut admin = rules()[6].clone();
    admin.as_object_mut().unwrap().remove("tracker");
    let steps = [
        Change {
            kind: ObjectKind::Rule,
            op: ChangeOp::Delete,
            id: Some(json!(6)),
            object: Value::Null,
        },
        Change {
            kind: ObjectKind::Rule,
            op: ChangeOp::Create,
            id: None,
            object: admin,
        },
    ];
    let r = check_lockout_all(&model(), &steps, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    let r = check_lockout_all(&model(), &steps[..1], &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
}

#[test]
fn the_guard_refuses_what_cuts_the_path_without_a_block() {
    let change = |kind, id: Option<Value>, object: Value| Change {
        kind,
        op: if id.is_some() || kind == ObjectKind::WebGui {
            ChangeOp::Update
        } else {
            ChangeOp::Create
        },
        id,
        object,
    };
    let refused = |c: &Change, path: &ServerPath, words: &str| {
        let r = check_lockout(&model(), c, path);
        assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
        assert!(r.reason.contains(words), "{}", r.reason);
    };
    // A port forward sends the API's port to another host: the filter still passes.
    let forward = change(
        ObjectKind::PortForward,
        None,
        json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "any",
               "destination": "wan:ip", "destination_port": "443", "target": "10.99.99.99",
               "local_port": "443", "descr": "steal the API", "associated_rule_id": "pass"}),
    );
    refused(&forward, &remote_admin(), "forwarded to 10.99.99.99:443");
    // A 1:1 NAT mapping of the API's address sends the server's connections inside: pf
    // translates them before any rule, and the anti-lockout rule no longer sees the firewall.
    let one_to_one = |peers: &str| {
        change(
            ObjectKind::OneToOneNat,
            None,
            json!({"interface": "wan", "external": "wan:ip", "source": "10.0.10.99",
                   "destination": peers, "descr": "all of WAN to the lab"}),
        )
    };
    refused(
        &one_to_one("any"),
        &remote_admin(),
        "forwarded to 10.0.10.99:443 by 1:1 NAT mapping #0 \"all of WAN to the lab\"",
    );
    // One for other peers leaves the server's path as it was.
    assert_eq!(
        check_lockout(&model(), &one_to_one("7.7.7.0/24"), &remote_admin()).decision,
        GuardDecision::Allowed
    );
    // The pass rule made to depend on a schedule: known to pass before, undecidable after.
    let scheduled = change(
        ObjectKind::Rule,
        Some(json!(6)),
        json!({"sched": "office_hours"}),
    );
    refused(&scheduled, &remote_admin(), "was known to pass");
    // The webGUI switched to http while the server speaks https.
    let https = ServerPath {
        scheme: Some("https".into()),
        ..remote_admin()
    };
    let http = change(
        ObjectKind::WebGui,
        None,
        json!({"protocol": "http", "port": "443"}),
    );
    refused(&http, &https, "switch from https to http");
    assert_eq!(
        check_lockout(&model(), &http, &remote_admin()).decision,
        GuardDecision::Allowed,
        "without a scheme the protocol is not checked"
    );
    // Another certificate while the server pins the current one.
    let pinned = ServerPath {
        pinned_certificate: true,
        ..remote_admin()
    };
    let cert = change(
        ObjectKind::WebGui,
        None,
        json!({"sslcertref": "65a1b2c3d4e5f"}),
    );
    refused(&cert, &pinned, "pins the current one");
    assert_eq!(
        check_lockout(&model(), &cert, &remote_admin()).decision,
        GuardDecision::Allowed
    );
    // TCP flags a new connection's SYN does not carry: the pass rule no longer matches.
    let flags = change(
        ObjectKind::Rule,
        Some(json!(6)),
        json!({"tcp_flags_set": ["fin"], "tcp_flags_out_of": ["fin", "syn"]}),
    );
    refused(&flags, &remote_admin(), "Default deny");
    let syn = change(
        ObjectKind::Rule,
        Some(json!(6)),
        json!({"tcp_flags_set": ["syn"], "tcp_flags_out_of": ["syn", "ack"]}),
    );
    assert_eq!(
        check_lockout(&model(), &syn, &remote_admin()).decision,
        GuardDecision::Allowed,
        "flags S/SA is what a new connection carries"
    );
    // WAN moved to another network card.
    let nic = change(
        ObjectKind::Interface,
        Some(json!("wan")),
        json!({"if": "em7"}),
    );
    refused(&nic, &remote_admin(), "moves from device em0 to em7");
}

/// Applies a plan's create/update calls to the model's input, as the API would.
fn apply_plan(input: &ApiInput, plan: &pfsense_firewall::BlockPlan) -> ApiInput {
    let mut cur = input.clone();
    for call in &plan.calls {
        let kind = match call.path {
            "/api/v2/firewall/alias" => ObjectKind::Alias,
            "/api/v2/firewall/rule" => ObjectKind::Rule,
            _ => continue,
        };
        let change = match call.method {
            "POST" => Change {
                kind,
                op: ChangeOp::Create,
                id: None,
                object: call.body.clone(),
            },
            _ => Change {
                kind,
                op: ChangeOp::Update,
                id: call.body.get("id").cloned(),
                object: call.body.clone(),
            },
        };
        cur = apply_change(&cur, &change).unwrap();
    }
    cur
}

#[test]
fn the_block_plan_is_idempotent_and_blocks() {
    let m = model();
    let addrs = vec![
        "45.33.32.156".to_string(),
        "91.198.174.0/24".to_string(),
        "45.33.32.156".to_string(),
    ];
    let plan = block_addresses_plan(&m, &addrs, "WAN").unwrap();
    assert_eq!(plan.alias, "mcp_blocked_wan");
    assert_eq!(plan.addresses, vec!["45.33.32.156/32", "91.198.174.0/24"]);
    let calls: Vec<(&str, &str)> = plan.calls.iter().map(|c| (c.method, c.path)).collect();
    assert_eq!(
        calls,
        vec![
            ("POST", "/api/v2/firewall/alias"),
            ("POST", "/api/v2/firewall/rule"),
            ("POST", "/api/v2/firewall/apply"),
        ]
    );
    // Before: udp 1194 from 91.198.174.10 to the WAN address passes (rule 5); after: blocked by
    // the floating quick rule, evaluated before the WAN rules.
    let after_input = apply_plan(&input(), &plan);
    let after = FirewallModel::from_api(&after_input);
    assert_eq!(after.issues, vec![]);
    let query = q("wan", "udp", "91.198.174.10", "81.2.69.142", Some(1194));
    assert_eq!(m.explain(&query).unwrap().verdict, Verdict::Pass);
    let e = after.explain(&query).unwrap();
    assert_eq!(e.verdict, Verdict::Block);
    assert_eq!(e.decided_by.origin, RuleOrigin::Floating);
    // Again with the same addresses: nothing to do.
    let again = block_addresses_plan(&after, &addrs, "wan").unwrap();
    assert!(again.already_in_place(), "{:#?}", again.calls);
    // One more address: only the alias grows, then apply.
    let more = block_addresses_plan(&after, &["203.0.113.9".to_string()], "wan").unwrap();
    let calls: Vec<(&str, &str)> = more.calls.iter().map(|c| (c.method, c.path)).collect();
    assert_eq!(
        calls,
        vec![
            ("PATCH", "/api/v2/firewall/alias"),
            ("POST", "/api/v2/firewall/apply")
        ]
    );
    assert_eq!(
        more.calls[0].body["address"],
        json!(["45.33.32.156/32", "91.198.174.0/24", "203.0.113.9/32"])
    );
}

#[test]
fn the_block_plan_refuses_bad_input() {
    let m = model();
    let err = block_addresses_plan(&m, &["10.0.0.300".to_string()], "wan").unwrap_err();
    assert!(err.to_string().contains("10.0.0.300"));
    assert!(block_addresses_plan(&m, &[], "wan").is_err());
    assert!(block_addresses_plan(&m, &["1.2.3.4".to_string()], "nope").is_err());
    let mut i = input();
    i.aliases = json!([{"name": "mcp_blocked_wan", "type": "port", "address": ["80"]}]);
    let err = block_addresses_plan(
        &FirewallModel::from_api(&i),
        &["1.2.3.4".to_string()],
        "wan",
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"));
}

#[test]
fn a_dhcp_interface_takes_its_subnet_from_the_status_netmask() {
    // GET /status/interfaces gives `subnet` as a dotted netmask (pfSense's get_interface_info,
    // as the pfrest lab answers); the config of a DHCP interface has no subnet at all.
    let mut i = input();
    i.interfaces =
        json!([{"id": "wan", "if": "vtnet0", "enable": true, "typev4": "dhcp", "ipaddr": "dhcp"}]);
    i.interface_status = json!([{"name": "wan", "hwif": "vtnet0", "ipaddr": "10.0.2.15", "subnet": "255.255.255.0"}]);
    let m = FirewallModel::from_api(&i);
    let wan = m.interface("wan").expect("wan");
    assert_eq!(wan.networks().len(), 1);
    assert!(wan.networks()[0].contains(&"10.0.2.2".parse::<std::net::IpAddr>().unwrap()));
    // A non-contiguous mask is no prefix length: the address alone.
    i.interface_status =
        json!([{"name": "wan", "hwif": "vtnet0", "ipaddr": "10.0.2.15", "subnet": "255.0.255.0"}]);
    let m = FirewallModel::from_api(&i);
    assert!(
        !m.interface("wan").unwrap().networks()[0]
            .contains(&"10.0.2.2".parse::<std::net::IpAddr>().unwrap())
    );
}

#[test]
fn tcp_flags_count_on_tcp_rules_only() {
    // pfSense writes `flags …` only when the protocol is `tcp` (filter.inc,
    // filter_generate_user_rule); the REST API keeps the fields on `tcp/udp` or no protocol,
    // where the rule matches every packet. A floating quick block of WAN:443 with flags A/SA:
    let block = |protocol: Option<&str>| {
        let mut rule = json!({"type": "block", "interface": ["wan"], "floating": true, "quick": true,
            "direction": "in", "ipprotocol": "inet", "source": "any", "destination": "wan:ip",
            "destination_port": "443", "tcp_flags_set": ["ack"], "tcp_flags_out_of": ["syn", "ack"],
            "descr": "flagged block"});
        if let Some(p) = protocol {
            rule["protocol"] = json!(p);
        }
        Change {
            kind: ObjectKind::Rule,
            op: ChangeOp::Create,
            id: None,
            object: rule,
        }
    };
    // On `tcp` a new connection's SYN does not carry ACK: the rule does not match it.
    let r = check_lockout(&model(), &block(Some("tcp")), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    // On `tcp/udp` the flags are not written: the rule blocks the server's path.
    let r = check_lockout(&model(), &block(Some("tcp/udp")), &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
    assert!(r.reason.contains("flagged block"), "{}", r.reason);
    // With no protocol (a pfSense rule matching every protocol) too. Only port-less, as the API
    // takes ports with tcp/udp only: to the WAN address, any port.
    let mut any = block(None);
    any.object
        .as_object_mut()
        .unwrap()
        .remove("destination_port");
    let r = check_lockout(&model(), &any, &remote_admin());
    assert_eq!(r.decision, GuardDecision::Refused, "{r:#?}");
}

#[test]
fn a_port_forward_that_may_apply_leaves_the_verdict_open() {
    // A forward from the URL table `bad_hosts` (contents unknown) of WAN:8443 to a DMZ host
    // with `rdr pass`: whether 8.8.8.8's connection is forwarded (and passed) cannot be known,
    // so the default deny that decides otherwise is not the answer.
    let mut with_forward = input();
    with_forward.port_forwards.as_array_mut().unwrap().insert(
        0,
        json!({"interface": "wan", "ipprotocol": "inet", "protocol": "tcp", "source": "bad_hosts",
               "destination": "wan:ip", "destination_port": "8443", "target": "10.0.10.50",
               "local_port": "443", "descr": "from the list", "associated_rule_id": "pass"}),
    );
    let m = FirewallModel::from_api(&with_forward);
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(8443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Unknown, "{e:#?}");
    assert_eq!(e.could_also_be, vec![Action::Pass]);
    assert!(
        e.unknowns.iter().any(|u| u.contains("from the list")),
        "{:?}",
        e.unknowns
    );
    // Another port: the forward does not apply, the default deny decides.
    let e = m
        .explain(&q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(8444)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
}

#[test]
fn self_holds_ip_alias_and_carp_virtual_ips() {
    // pf's `(self)` is every address assigned to an interface: IP alias and CARP virtual IPs
    // too, not proxy ARP ones (never assigned). Rule 5 passes udp :1194 to (self).
    let mut with_vips = input();
    with_vips.virtual_ips = json!([
        {"mode": "ipalias", "interface": "wan", "type": "single", "subnet": "81.2.69.150", "subnet_bits": 24},
        {"mode": "carp", "interface": "wan", "type": "single", "subnet": "81.2.69.151", "subnet_bits": 24, "vhid": 1},
        {"mode": "proxyarp", "interface": "wan", "type": "single", "subnet": "81.2.69.152", "subnet_bits": 32}
    ]);
    let m = FirewallModel::from_api(&with_vips);
    for (vip, passed) in [
        ("81.2.69.150", true),
        ("81.2.69.151", true),
        ("81.2.69.152", false),
    ] {
        let e = m
            .explain(&q("wan", "udp", "8.8.8.8", vip, Some(1194)))
            .unwrap();
        assert_eq!(e.verdict == Verdict::Pass, passed, "{vip}: {e:#?}");
    }
    // Without the virtual IPs read, the alias address is nobody's.
    let e = model()
        .explain(&q("wan", "udp", "8.8.8.8", "81.2.69.150", Some(1194)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block);
}

#[test]
fn generated_rules_pass_needed_icmp6_and_block_port_zero() {
    let m = model();
    // filter.inc after the default deny rules: IPv6 ICMP unreachable, too big and neighbour
    // discovery pass quick (IPv6 allowed, the default), in both directions.
    let mut icmp6 = q("wan", "icmp6", "2001:db9::5", "2001:470::2", None);
    icmp6.icmp_type = Some("toobig".into());
    let e = m.explain(&icmp6).unwrap();
    assert_eq!(e.verdict, Verdict::Pass, "{e:#?}");
    assert_eq!(e.decided_by.origin, RuleOrigin::Icmp6Required);
    // An echo request from afar is not among them: the default deny decides.
    icmp6.icmp_type = Some("128".into());
    assert_eq!(m.explain(&icmp6).unwrap().verdict, Verdict::Block);
    // Link-local router solicitation in: passed.
    let mut rs = q("lan", "icmp6", "fe80::1", "ff02::2", None);
    rs.icmp_type = Some("routersol".into());
    assert_eq!(m.explain(&rs).unwrap().verdict, Verdict::Pass);
    // Without a type the answer is open.
    icmp6.icmp_type = None;
    assert_eq!(m.explain(&icmp6).unwrap().verdict, Verdict::Unknown);
    // TCP to port 0 is blocked before the LAN's pass rule.
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.50", "1.1.1.1", Some(0)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Block, "{e:#?}");
    assert_eq!(e.decided_by.origin, RuleOrigin::PortZero);
    let e = m
        .explain(&q("lan", "tcp", "192.168.1.50", "1.1.1.1", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass);
}

#[test]
fn an_address_of_another_interface_is_not_a_dynamic_interfaces_address() {
    // WAN by DHCP with no address reported; the server reaches the API from the DMZ at the
    // DMZ's own address. A rule blocking the DMZ from the WAN address cannot touch that path:
    // the DMZ's address is not WAN's, whatever WAN gets.
    let mut i = input();
    i.interfaces = json!([
        {"id": "wan", "if": "em0", "enable": true, "descr": "WAN", "typev4": "dhcp", "ipaddr": "dhcp"},
        {"id": "lan", "if": "em1", "enable": true, "descr": "LAN", "typev4": "static", "ipaddr": "192.168.1.1", "subnet": 24},
        {"id": "opt1", "if": "em2", "enable": true, "descr": "DMZ", "typev4": "static", "ipaddr": "10.0.10.1", "subnet": 24}
    ]);
    i.rules = json!([
        {"type": "pass", "interface": ["opt1"], "ipprotocol": "inet", "protocol": "tcp", "source": "opt1",
         "destination": "opt1:ip", "destination_port": "443", "descr": "DMZ to the GUI", "tracker": 1}
    ]);
    let m = FirewallModel::from_api(&i);
    let path = ServerPath {
        interface: Some("opt1".into()),
        ..ServerPath::from_source("10.0.10.5".parse().unwrap())
    };
    let no_wan_gui = Change {
        kind: ObjectKind::Rule,
        op: ChangeOp::Create,
        id: None,
        object: json!({"type": "block", "interface": ["opt1"], "floating": true, "quick": true,
            "direction": "in", "ipprotocol": "inet", "protocol": "tcp", "source": "opt1",
            "destination": "wan:ip", "destination_port": "443", "descr": "no WAN GUI from DMZ"}),
    };
    let r = check_lockout(&m, &no_wan_gui, &path);
    assert_eq!(r.decision, GuardDecision::Allowed, "{r:#?}");
    // Whether an address no interface holds is WAN's stays open.
    let dmz = m.interface("opt1").unwrap().id.clone();
    let wan_address = Target::InterfaceAddress("wan".into());
    for (ip, open) in [("10.0.10.1", false), ("203.0.113.7", true)] {
        let hit = m.target_contains(&wan_address, &ip.parse().unwrap());
        assert_eq!(
            matches!(hit, pfsense_firewall::matching::Tri::Unknown(_)),
            open,
            "{ip} ({dmz}): {hit:?}"
        );
    }
}

/// The model with `part` read as failed (and emptied), as the operator tools build it.
fn model_without(part: ModelPart) -> FirewallModel {
    let mut input = input();
    match part {
        ModelPart::InterfaceGroups => input.interface_groups = Value::Null,
        ModelPart::WebGui => input.webgui = Value::Null,
        ModelPart::VirtualIps => input.virtual_ips = Value::Null,
        ModelPart::PortForwards => input.port_forwards = Value::Null,
        ModelPart::OneToOneNat => input.one_to_one_nat = Value::Null,
        _ => {}
    }
    input.not_read = vec![NotRead {
        part,
        error: "GET /api/v2/…: 403 Forbidden".into(),
    }];
    FirewallModel::from_api(&input)
}

/// What an unread part could change is unknown, not absent: a rule on a name that may be an
/// interface group (telnet from LAN), the anti-lockout rule's ports when the webGUI settings
/// are missing (8443 might be the webGUI port), the firewall's own addresses without the
/// virtual IPs (OpenVPN to an address no interface holds), a port forward of the WAN address.
/// What the part cannot change keeps its definite answer.
#[test]
fn unread_parts_make_what_they_could_change_unknown() {
    let cases = [
        (
            ModelPart::InterfaceGroups,
            q("lan", "tcp", "192.168.1.50", "8.8.8.8", Some(23)),
            Verdict::Block,
        ),
        (
            ModelPart::WebGui,
            q("lan", "tcp", "192.168.1.50", "192.168.1.1", Some(8443)),
            Verdict::Block,
        ),
        (
            ModelPart::VirtualIps,
            q("wan", "udp", "8.8.8.8", "81.2.69.200", Some(1194)),
            Verdict::Block,
        ),
        (
            ModelPart::PortForwards,
            q("wan", "tcp", "8.8.8.8", "81.2.69.142", Some(3389)),
            Verdict::Pass,
        ),
        (
            ModelPart::OneToOneNat,
            q("wan", "tcp", "5.6.7.8", "81.2.69.142", Some(443)),
            Verdict::Pass,
        ),
    ];
    for (part, query, read) in cases {
        let e = model().explain(&query).unwrap();
        assert_eq!(e.verdict, read, "{part:?} read: {e:#?}");
        let e = model_without(part).explain(&query).unwrap();
        assert_eq!(e.verdict, Verdict::Unknown, "{part:?} not read: {e:#?}");
        assert!(
            e.unknowns.iter().any(|u| u.contains("403 Forbidden")),
            "{part:?}: {:?}",
            e.unknowns
        );
    }
    // The LAN default allow passes web traffic whatever the groups hold (no group rule
    // matches tcp/443).
    let e = model_without(ModelPart::InterfaceGroups)
        .explain(&q("lan", "tcp", "192.168.1.50", "8.8.8.8", Some(443)))
        .unwrap();
    assert_eq!(e.verdict, Verdict::Pass, "{e:#?}");
}
