//! Firewall rules, NAT port forwards and aliases.

use super::refs::*;
use super::util::*;
use super::{Check, CheckResult, Outcome};
use crate::model::{Area, Evidence, Fix, Severity};
use crate::snapshot::*;
use pfsense_firewall::anomaly::Kind;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Rules that are active (not disabled).
fn active_rules(s: &Snapshot) -> Result<Vec<(usize, &Value)>, Unknown> {
    Ok(s.list(RULES)?
        .iter()
        .enumerate()
        .filter(|(_, r)| !flag(r, "disabled"))
        .collect())
}

/// An address that admits (nearly) everything: `any`, or a negated one (`!x`, everything but
/// x).
fn is_broad(rule: &Value, field: &str) -> bool {
    is_any(rule, field) || text(rule, field).trim_start().starts_with('!')
}

/// A port field that admits every port: unset, `any`, or the full range.
fn every_port(rule: &Value, field: &str) -> bool {
    is_any(rule, field)
        || matches!(
            text(rule, field).trim(),
            "1:65535" | "0:65535" | "1-65535" | "0-65535"
        )
}

/// A rule's protocol is "any" (unset, null, empty or the keyword).
fn any_protocol(rule: &Value) -> bool {
    matches!(rule.get("protocol"), None | Some(Value::Null))
        || matches!(text(rule, "protocol"), "" | "any")
}

fn rule_ev(index: usize, rule: &Value, field: &str) -> Evidence {
    ev(
        RULES,
        rule_label(index, rule),
        field,
        rule.get(field).cloned().unwrap_or(Value::Null),
    )
}

fn listing(e: Vec<Evidence>, what: &str, none: &str) -> CheckResult {
    if e.is_empty() {
        Ok(Outcome::pass(none, e))
    } else {
        Ok(Outcome::fail(format!("{} {what}", e.len()), e))
    }
}

pub const ANY_TO_ANY: Check = Check {
    id: "PFS-RULE-001",
    title: "Pass rules from any source to any destination on any protocol",
    area: Area::FirewallRules,
    severity: Severity::High,
    fix: Fix {
        summary: "Narrow the rule to the sources, destinations and ports that need it (lan net, an alias of servers, a port alias).",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some(
            "{\"id\": <rule id>, \"source\": ..., \"destination\": ..., \"protocol\": ..., \"destination_port\": ...} then pfsense_firewall_apply",
        ),
        gui: "Firewall > Rules > (interface)",
    },
    references: &[V206694, NIST_4, BSI_A3, NG_RULES],
    run: |s| {
        let mut e = Vec::new();
        for (i, r) in active_rules(s)? {
            if text(r, "type") == "pass"
                && is_broad(r, "source")
                && is_broad(r, "destination")
                && any_protocol(r)
            {
                e.push(rule_ev(i, r, "source"));
                e.push(rule_ev(i, r, "destination"));
            }
        }
        let n = e.len() / 2;
        if n == 0 {
            Ok(Outcome::pass("no any-to-any pass rule", e))
        } else {
            Ok(Outcome::fail(
                format!("{n} rule(s) pass everything: deny by default no longer holds there"),
                e,
            ))
        }
    },
};

/// Rules that apply on one of these interfaces (floating rules list several), directly or
/// through an interface group holding it.
fn on_interfaces(s: &Snapshot, rule: &Value, ifaces: &[Iface]) -> bool {
    let groups = s.list(INTERFACE_GROUPS).ok();
    let holds_one = |group: &str| {
        groups.into_iter().flatten().any(|g| {
            text(g, "ifname") == group
                && strings(g, "members")
                    .iter()
                    .any(|m| ifaces.iter().any(|i| i.named_by(m)))
        })
    };
    strings(rule, "interface")
        .iter()
        .any(|n| n == "any" || ifaces.iter().any(|i| i.named_by(n)) || holds_one(n))
}

pub const WAN_ALL_PORTS: Check = Check {
    id: "PFS-RULE-002",
    title: "Pass rules on an Internet-facing interface from any source to every port",
    area: Area::FirewallRules,
    severity: Severity::High,
    fix: Fix {
        summary: "Name the ports (a port alias) and, where possible, the allowed sources.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some(
            "{\"id\": <rule id>, \"destination_port\": \"443\"} then pfsense_firewall_apply",
        ),
        gui: "Firewall > Rules > WAN",
    },
    references: &[V206694, V206703, NIST_4, BSI_A3],
    run: |s| {
        let wan = internet_facing(s)?;
        let mut e = Vec::new();
        for (i, r) in active_rules(s)? {
            let portless = matches!(text(r, "protocol"), "" | "any" | "tcp" | "udp" | "tcp/udp");
            if text(r, "type") == "pass"
                && on_interfaces(s, r, &wan)
                && is_broad(r, "source")
                && every_port(r, "destination_port")
                && portless
            {
                e.push(rule_ev(i, r, "destination_port"));
            }
        }
        listing(
            e,
            "rule(s) open every port to the Internet",
            "no Internet-facing pass rule opens every port to any source",
        )
    },
};

pub const NO_DESCRIPTION: Check = Check {
    id: "PFS-RULE-003",
    title: "Rules without a description",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Describe each rule's purpose (and owner or ticket) so reviews can tell why it exists.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some("{\"id\": <rule id>, \"descr\": \"...\"}"),
        gui: "Firewall > Rules > (interface) > Edit > Description",
    },
    references: &[NIST_522, BSI_A2, NG_RULES],
    run: |s| {
        let e = s
            .list(RULES)?
            .iter()
            .enumerate()
            .filter(|(_, r)| text(r, "descr").trim().is_empty())
            .map(|(i, r)| rule_ev(i, r, "descr"))
            .collect();
        listing(
            e,
            "rule(s) have no description",
            "every rule has a description",
        )
    },
};

pub const DISABLED_KEPT: Check = Check {
    id: "PFS-RULE-004",
    title: "Disabled rules kept in the rule set",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Delete rules that are no longer needed (the config history keeps them).",
        tool: Some("pfsense_delete_firewall_rule"),
        arguments: Some("{\"id\": <rule id>} then pfsense_firewall_apply"),
        gui: "Firewall > Rules > (interface)",
    },
    references: &[NIST_522, BSI_A2, NG_RULES],
    run: |s| {
        let e = s
            .list(RULES)?
            .iter()
            .enumerate()
            .filter(|(_, r)| flag(r, "disabled"))
            .map(|(i, r)| rule_ev(i, r, "disabled"))
            .collect();
        listing(
            e,
            "disabled rule(s) clutter the rule set and can be re-enabled by mistake",
            "no disabled rules",
        )
    },
};

pub const SOURCE_PORT_SET: Check = Check {
    id: "PFS-RULE-005",
    title: "Pass rules that restrict the source port",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Clients pick random source ports: set the source port to any and filter on the destination port.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some("{\"id\": <rule id>, \"source_port\": null}"),
        gui: "Firewall > Rules > (interface) > Edit > Source Port Range",
    },
    references: &[NG_METHODOLOGY],
    run: |s| {
        let e = active_rules(s)?
            .into_iter()
            .filter(|(_, r)| text(r, "type") == "pass" && !is_any(r, "source_port"))
            .map(|(i, r)| rule_ev(i, r, "source_port"))
            .collect();
        listing(
            e,
            "pass rule(s) set a source port (almost always a mistake for the destination port)",
            "no pass rule restricts the source port",
        )
    },
};

pub const BLOCK_NOT_LOGGED: Check = Check {
    id: "PFS-RULE-006",
    title: "Block and reject rules that do not log",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Log what the explicit block rules drop.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some("{\"id\": <rule id>, \"log\": true} then pfsense_firewall_apply"),
        gui: "Firewall > Rules > (interface) > Edit > Log",
    },
    references: &[V206713, V206678, BSI_A9, NIST_523],
    run: |s| {
        let e = active_rules(s)?
            .into_iter()
            .filter(|(_, r)| matches!(text(r, "type"), "block" | "reject") && !flag(r, "log"))
            .map(|(i, r)| rule_ev(i, r, "log"))
            .collect();
        listing(
            e,
            "block/reject rule(s) drop traffic without a trace",
            "every block and reject rule logs",
        )
    },
};

fn wan_flag(s: &Snapshot, field: &str, good: &str, bad: &str) -> CheckResult {
    let wan = internet_facing(s)?;
    if wan.is_empty() {
        return Err(Unknown(format!(
            "GET {INTERFACES} shows no Internet-facing interface (none named wan, none with a gateway or DHCP/PPP address)"
        )));
    }
    let e: Vec<Evidence> = wan
        .iter()
        .map(|i| ev(INTERFACES, i.label(), field, json!(flag(&i.value, field))))
        .collect();
    let off: Vec<String> = wan
        .iter()
        .filter(|i| !flag(&i.value, field))
        .map(|i| i.id.clone())
        .collect();
    if off.is_empty() {
        Ok(Outcome::pass(good, e))
    } else {
        Ok(Outcome::fail(format!("{bad}: {}", off.join(", ")), e))
    }
}

pub const WAN_BOGONS: Check = Check {
    id: "PFS-RULE-007",
    title: "Bogon networks are not blocked on an Internet-facing interface",
    area: Area::FirewallRules,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Turn on Block bogon networks on every Internet-facing interface.",
        tool: Some("pfsense_update_network_interface"),
        arguments: Some("{\"id\": \"wan\", \"blockbogons\": true} then pfsense_interface_apply"),
        gui: "Interfaces > WAN > Reserved Networks",
    },
    references: &[V206703, NIST_411, BSI_A3],
    run: |s| {
        wan_flag(
            s,
            "blockbogons",
            "every Internet-facing interface blocks bogon sources",
            "unallocated or reserved source addresses are accepted on",
        )
    },
};

pub const WAN_PRIVATE: Check = Check {
    id: "PFS-RULE-008",
    title: "Private networks are not blocked on an Internet-facing interface",
    area: Area::FirewallRules,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Turn on Block private networks on every Internet-facing interface (not on a WAN inside a private network).",
        tool: Some("pfsense_update_network_interface"),
        arguments: Some("{\"id\": \"wan\", \"blockpriv\": true} then pfsense_interface_apply"),
        gui: "Interfaces > WAN > Reserved Networks",
    },
    references: &[V206703, NIST_411, BSI_A3],
    run: |s| {
        wan_flag(
            s,
            "blockpriv",
            "every Internet-facing interface blocks RFC 1918 and loopback sources",
            "spoofed private source addresses are accepted on",
        )
    },
};

pub const SHADOWED: Check = Check {
    id: "PFS-RULE-009",
    title: "Shadowed rules (never match: an earlier rule takes all their traffic with another action)",
    area: Area::FirewallRules,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Move the shadowed rule above the rule that shadows it, or delete it.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: Some("reorder with the rules' PUT, or delete the dead rule"),
        gui: "Firewall > Rules > (interface) (drag to reorder)",
    },
    references: &[SHADOWING, NIST_522, BSI_A2],
    run: |s| anomalies(s, Kind::Shadowed),
};

pub const REDUNDANT: Check = Check {
    id: "PFS-RULE-010",
    title: "Redundant rules (another rule already matches their traffic with the same action)",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Delete the redundant rule.",
        tool: Some("pfsense_delete_firewall_rule"),
        arguments: Some("{\"id\": <rule id>} then pfsense_firewall_apply"),
        gui: "Firewall > Rules > (interface)",
    },
    references: &[REDUNDANCY, NIST_522, BSI_A2],
    run: |s| anomalies(s, Kind::Redundant),
};

pub const CORRELATED: Check = Check {
    id: "PFS-RULE-011",
    title: "Correlated rules (partly overlapping, different actions: the order decides)",
    area: Area::FirewallRules,
    severity: Severity::Low,
    fix: Fix {
        summary: "Split the overlap into its own rule so the intent does not hang on rule order.",
        tool: Some("pfsense_update_firewall_rule"),
        arguments: None,
        gui: "Firewall > Rules > (interface)",
    },
    references: &[CORRELATION, NIST_522],
    run: |s| anomalies(s, Kind::Correlated),
};

pub const GENERALISED: Check = Check {
    id: "PFS-RULE-012",
    title: "Generalised rules (a later, broader rule with another action covers an earlier one)",
    area: Area::FirewallRules,
    severity: Severity::Info,
    fix: Fix {
        summary: "Check that the exception above the broad rule is intended.",
        tool: None,
        arguments: None,
        gui: "Firewall > Rules > (interface)",
    },
    references: &[GENERALISATION, NIST_522],
    run: |s| anomalies(s, Kind::Generalised),
};

/// The rule anomalies of one kind, from the firewall model's pairwise comparison
/// (`pfsense_firewall::anomaly`). Found anomalies are certain; pairs the model cannot decide (an
/// unresolvable alias, a schedule, `(self)`) make the check unknown only when nothing was found.
fn anomalies(s: &Snapshot, kind: Kind) -> CheckResult {
    let model = super::reach::firewall_model(s)?;
    let analysis = model.rule_anomalies();
    let (found, why) = analysis.of(kind);
    let list = s.list(RULES)?;
    let label = |position: usize| {
        list.iter()
            .enumerate()
            .find(|(i, r)| {
                r.get("id")
                    .and_then(Value::as_u64)
                    .map(|n| n as usize)
                    .unwrap_or(*i)
                    == position
            })
            .map(|(i, r)| rule_label(i, r))
            .unwrap_or_else(|| format!("rule #{position}"))
    };
    let field = match kind {
        Kind::Shadowed => "shadowed by",
        Kind::Redundant => "redundant with",
        Kind::Correlated => "correlated with",
        Kind::Generalised => "generalises",
    };
    let what = match kind {
        Kind::Shadowed => "shadowed rule(s): they never match",
        Kind::Redundant => "redundant rule(s): removing them changes nothing",
        Kind::Correlated => "rule(s) partly overlap an earlier rule with another action",
        Kind::Generalised => "rule(s) generalise an earlier rule with another action",
    };
    // pfrest v2 does not show the GUI-only match options `tagged` and `os`.
    const CAVEAT: &str =
        "compared on the fields the REST API shows (not the GUI-only `tagged` and `os` options)";
    if !found.is_empty() {
        let e = found
            .iter()
            .map(|a| {
                ev(
                    RULES,
                    label(a.rule),
                    field,
                    json!(format!("{}: {}", label(a.other), a.explanation)),
                )
            })
            .collect::<Vec<_>>();
        let mut rules: Vec<usize> = found.iter().map(|a| a.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        let pairs = if rules.len() == found.len() {
            String::new()
        } else {
            format!(" ({} pairs)", found.len())
        };
        return Ok(Outcome::fail(
            format!("{} {what}{pairs}; {CAVEAT}", rules.len()),
            e,
        ));
    }
    if !why.is_empty() {
        let more = if why.len() > 3 {
            format!(" (and {} more)", why.len() - 3)
        } else {
            String::new()
        };
        return Err(Unknown(format!(
            "none found, but {} pair(s) could not be decided: {}{more}",
            why.len(),
            why[..why.len().min(3)].join("; ")
        )));
    }
    Ok(Outcome::pass(
        format!(
            "none among {} enabled first-match rules; {CAVEAT}",
            analysis.compared
        ),
        Vec::new(),
    ))
}

fn forward_label(index: usize, pf: &Value) -> String {
    let descr = text(pf, "descr");
    format!(
        "port forward #{index} ({} {} → {}:{}{})",
        text(pf, "interface"),
        text(pf, "destination_port"),
        text(pf, "target"),
        text(pf, "local_port"),
        if descr.is_empty() {
            String::new()
        } else {
            format!(", \"{descr}\"")
        }
    )
}

/// Port forwards that redirect (not disabled, not `nordr`).
fn active_forwards(s: &Snapshot) -> Result<Vec<(usize, &Value)>, Unknown> {
    Ok(s.list(PORT_FORWARDS)?
        .iter()
        .enumerate()
        .filter(|(_, p)| !flag(p, "disabled") && !flag(p, "nordr"))
        .collect())
}

pub const PORT_FORWARD_NO_RULE: Check = Check {
    id: "PFS-NAT-001",
    title: "Port forwards that pass traffic without a filter rule",
    area: Area::Nat,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Associate a filter rule with the port forward so it is visible, logged and ordered with the other rules.",
        tool: Some("pfsense_update_firewall_nat_port_forward"),
        arguments: Some(
            "{\"id\": <forward id>, \"associated_rule_id\": \"new\"} then pfsense_firewall_apply",
        ),
        gui: "Firewall > NAT > Port Forward > Edit > Filter rule association",
    },
    references: &[V206694, BSI_A3, NG_NAT],
    run: |s| {
        let rule_ids: BTreeSet<&str> = s
            .list(RULES)?
            .iter()
            .map(|r| text(r, "associated_rule_id"))
            .filter(|id| !id.is_empty())
            .collect();
        let mut e = Vec::new();
        for (i, pf) in active_forwards(s)? {
            let assoc = text(pf, "associated_rule_id");
            let bad = assoc == "pass" || (!assoc.is_empty() && !rule_ids.contains(assoc));
            if bad {
                e.push(ev(
                    PORT_FORWARDS,
                    forward_label(i, pf),
                    "associated_rule_id",
                    json!(assoc),
                ));
            }
        }
        listing(
            e,
            "port forward(s) pass traffic with no filter rule (\"pass\") or name a rule that does not exist",
            "every port forward is governed by a filter rule (or by none, so it passes nothing)",
        )
    },
};

/// Services that should not be forwarded from any source on the Internet: remote administration,
/// file sharing and databases (the services behind most ransomware and data-theft entry points).
const RISKY_PORTS: &[(u16, &str)] = &[
    (21, "FTP"),
    (22, "SSH"),
    (23, "Telnet"),
    (135, "MS RPC"),
    (139, "NetBIOS"),
    (445, "SMB"),
    (1433, "MS SQL"),
    (3306, "MySQL"),
    (3389, "RDP"),
    (5432, "PostgreSQL"),
    (5900, "VNC"),
    (6379, "Redis"),
    (9200, "Elasticsearch"),
    (27017, "MongoDB"),
];

/// Whether a port field (`3389`, `3380:3390`, `3380-3390`) includes a port.
fn port_field_includes(field: &str, port: u16) -> bool {
    let f = field.trim();
    if let Some((a, b)) = f.split_once([':', '-']) {
        match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&port),
            _ => false,
        }
    } else {
        f.parse::<u16>() == Ok(port)
    }
}

pub const PORT_FORWARD_RISKY: Check = Check {
    id: "PFS-NAT-002",
    title: "Remote-administration, file-sharing or database ports forwarded from any source",
    area: Area::Nat,
    severity: Severity::High,
    fix: Fix {
        summary: "Remove the forward and reach the service over a VPN, or restrict its source to known addresses.",
        tool: Some("pfsense_update_firewall_nat_port_forward"),
        arguments: Some(
            "{\"id\": <forward id>, \"source\": \"<trusted alias>\"} then pfsense_firewall_apply",
        ),
        gui: "Firewall > NAT > Port Forward",
    },
    references: &[V206703, V206694, BSI_A3, NG_NAT],
    run: |s| {
        let mut e = Vec::new();
        for (i, pf) in active_forwards(s)? {
            if !is_any(pf, "source") {
                continue;
            }
            for field in ["destination_port", "local_port"] {
                let value = text(pf, field);
                if let Some((port, name)) = RISKY_PORTS
                    .iter()
                    .find(|(p, _)| port_field_includes(value, *p))
                {
                    e.push(ev(
                        PORT_FORWARDS,
                        forward_label(i, pf),
                        field,
                        json!(format!("{value} ({name} {port})")),
                    ));
                    break;
                }
            }
        }
        listing(
            e,
            "port forward(s) expose risky services to the whole Internet",
            "no risky service is forwarded from any source",
        )
    },
};

/// Fields of rules and port forwards that may name an alias.
const RULE_ALIAS_FIELDS: &[&str] = &["source", "destination", "source_port", "destination_port"];
const FORWARD_ALIAS_FIELDS: &[&str] = &[
    "source",
    "destination",
    "source_port",
    "destination_port",
    "target",
    "local_port",
];

/// Every value that may name an alias, with where it was found.
fn references(s: &Snapshot) -> Result<Vec<(String, String, String)>, Unknown> {
    let mut out = Vec::new();
    for (i, r) in s.list(RULES)?.iter().enumerate() {
        for f in RULE_ALIAS_FIELDS {
            let v = text(r, f).trim_start_matches('!');
            if !v.is_empty() {
                out.push((v.to_string(), rule_label(i, r), f.to_string()));
            }
        }
    }
    for (i, pf) in s.list(PORT_FORWARDS)?.iter().enumerate() {
        for f in FORWARD_ALIAS_FIELDS {
            let v = text(pf, f).trim_start_matches('!');
            if !v.is_empty() {
                out.push((v.to_string(), forward_label(i, pf), f.to_string()));
            }
        }
    }
    for a in s.list(ALIASES)? {
        for entry in strings(a, "address") {
            out.push((
                entry,
                format!("alias {}", text(a, "name")),
                "address".into(),
            ));
        }
    }
    Ok(out)
}

pub const ALIAS_UNUSED: Check = Check {
    id: "PFS-ALIAS-001",
    title: "Aliases that no rule, port forward or other alias uses",
    area: Area::Aliases,
    severity: Severity::Low,
    fix: Fix {
        summary: "Delete aliases nothing uses (or add the rule they were meant for).",
        tool: Some("pfsense_delete_firewall_alias"),
        arguments: Some("{\"id\": <alias id>} then pfsense_firewall_apply"),
        gui: "Firewall > Aliases",
    },
    references: &[NIST_522, BSI_A2],
    run: |s| {
        let used: BTreeSet<String> = references(s)?.into_iter().map(|(v, _, _)| v).collect();
        let e = s
            .list(ALIASES)?
            .iter()
            .filter(|a| !used.contains(text(a, "name")))
            .map(|a| {
                ev(
                    ALIASES,
                    format!("alias {}", text(a, "name")),
                    "name",
                    json!(text(a, "name")),
                )
            })
            .collect();
        listing(e, "alias(es) are not used anywhere", "every alias is used")
    },
};

/// Words pfSense accepts in address fields that are neither addresses nor aliases.
const ADDRESS_KEYWORDS: &[&str] = &["any", "(self)", "l2tp", "pppoe", "openvpn", "enc0"];

/// Whether a value can only be an alias name: a plain word (aliases are `[A-Za-z0-9_]`) that is
/// not a number, port range, keyword, or interface (`lan`, `lanip`, `lan:ip`, `lannet`).
fn alias_like(v: &str, ifaces: &[Iface]) -> bool {
    if v.is_empty()
        || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || v.chars().all(|c| c.is_ascii_digit())
        || ADDRESS_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(v))
    {
        return false;
    }
    let base = v
        .strip_suffix("ip")
        .or_else(|| v.strip_suffix("net"))
        .unwrap_or(v);
    !ifaces.iter().any(|i| i.named_by(v) || i.named_by(base))
}

pub const ALIAS_DANGLING: Check = Check {
    id: "PFS-ALIAS-002",
    title: "References to aliases that do not exist",
    area: Area::Aliases,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Create the missing alias or correct the reference (a rule naming a missing alias fails to load).",
        tool: Some("pfsense_create_firewall_alias"),
        arguments: Some("{\"name\": \"...\", \"type\": \"host\", \"address\": [...]}"),
        gui: "Firewall > Aliases",
    },
    references: &[NIST_522, BSI_A2],
    run: |s| {
        let ifaces = interfaces(s)?;
        let names: BTreeSet<&str> = s.list(ALIASES)?.iter().map(|a| text(a, "name")).collect();
        let mut e = Vec::new();
        for (value, object, field) in references(s)? {
            for part in value.split(' ') {
                if alias_like(part, &ifaces) && !names.contains(part) {
                    e.push(ev(
                        if object.starts_with("alias") {
                            ALIASES
                        } else if object.starts_with("port forward") {
                            PORT_FORWARDS
                        } else {
                            RULES
                        },
                        object.clone(),
                        &field,
                        json!(part),
                    ));
                }
            }
        }
        listing(
            e,
            "reference(s) name an alias that does not exist",
            "every alias reference resolves",
        )
    },
};

pub const ALIAS_EMPTY: Check = Check {
    id: "PFS-ALIAS-003",
    title: "Empty aliases",
    area: Area::Aliases,
    severity: Severity::Low,
    fix: Fix {
        summary: "Fill or delete the alias: a block rule on an empty alias blocks nothing.",
        tool: Some("pfsense_update_firewall_alias"),
        arguments: Some("{\"id\": <alias id>, \"address\": [...]}"),
        gui: "Firewall > Aliases",
    },
    references: &[BSI_A2],
    run: |s| {
        let e = s
            .list(ALIASES)?
            .iter()
            .filter(|a| strings(a, "address").is_empty())
            .map(|a| {
                ev(
                    ALIASES,
                    format!("alias {}", text(a, "name")),
                    "address",
                    a.get("address").cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        listing(e, "alias(es) are empty", "no alias is empty")
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert!(port_field_includes("3389", 3389));
        assert!(port_field_includes("3380:3390", 3389));
        assert!(port_field_includes("3380-3390", 3389));
        assert!(!port_field_includes("8080", 80));
        assert!(!port_field_includes("web_ports", 80));
    }
}
