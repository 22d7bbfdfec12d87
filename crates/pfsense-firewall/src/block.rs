//! "Block these addresses on WAN": the idempotent plan. One network alias per interface
//! (`mcp_blocked_<interface>`) holds the addresses; one floating `quick` block rule on the
//! interface references it. REST API v2 creates rules at the end of the list and has no way to
//! insert at the top short of replacing every rule, so the rule is floating and quick: pfSense
//! evaluates floating rules before interface-group and interface rules, and a quick one decides
//! at once. Running the plan again with the same addresses makes no calls.

use crate::model::{Action, AliasKind, Direction, FirewallModel, IpFamily, PortSpec, Rule, Target};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub const ALIAS_PREFIX: &str = "mcp_blocked_";
/// pfSense limits alias names to 31 characters.
const ALIAS_NAME_MAX: usize = 31;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiCall {
    pub method: &'static str,
    pub path: &'static str,
    pub body: Value,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockPlan {
    pub interface: String,
    pub alias: String,
    /// The addresses asked for, normalised to networks.
    pub addresses: Vec<String>,
    /// Of those, the ones not yet in the alias.
    pub new_addresses: Vec<String>,
    /// The calls to make, in order; empty when everything is in place.
    pub calls: Vec<ApiCall>,
    pub notes: Vec<String>,
}

impl BlockPlan {
    pub fn already_in_place(&self) -> bool {
        self.calls.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    NoAddresses,
    HostBitsSet {
        given: String,
        network: String,
        address: String,
    },
    Everything(String),
    BadAddress(String),
    UnknownInterface(String),
    AliasNameTaken {
        alias: String,
        kind: String,
    },
    NetworkInHostAlias {
        alias: String,
        networks: Vec<String>,
    },
    /// A network wider than [`WIDEST_PREFIX`].
    TooWide {
        given: String,
        widest: u8,
    },
    /// The alias the plan adds to also lets traffic through in other rules.
    AliasPassesElsewhere {
        alias: String,
        rules: Vec<String>,
    },
}

/// The widest network the plan blocks, IPv4 and IPv6: wider ones (0.0.0.0/1 and 128.0.0.0/1
/// are every address too) are a rule of their own, not a list of addresses to block.
const WIDEST_PREFIX: (u8, u8) = (8, 16);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::NoAddresses => write!(f, "give at least one address or network to block"),
            PlanError::BadAddress(a) => write!(
                f,
                "`{a}` is not an IP address or network (examples: 203.0.113.5, 198.51.100.0/24, 2001:db8::/32)"
            ),
            PlanError::UnknownInterface(i) => write!(
                f,
                "interface `{i}` is not one of this firewall's interfaces; give its id (wan, lan, opt1), description or device"
            ),
            PlanError::AliasNameTaken { alias, kind } => write!(
                f,
                "an alias named `{alias}` already exists with type `{kind}`; rename or delete it first"
            ),
            PlanError::HostBitsSet {
                given,
                network,
                address,
            } => write!(
                f,
                "`{given}` has bits set past its prefix: give {network} to block the whole network, or {address} for the one address"
            ),
            PlanError::Everything(given) => write!(
                f,
                "`{given}` is every address of its family: blocking all traffic on an interface is not what this tool is for; give the addresses or networks to block"
            ),
            PlanError::TooWide { given, widest } => write!(
                f,
                "`{given}` is wider than a /{widest}: this tool blocks addresses and networks up to /{} (IPv4) or /{} (IPv6); a block that wide is a rule of its own (pfsense_create_firewall_rule)",
                WIDEST_PREFIX.0, WIDEST_PREFIX.1
            ),
            PlanError::AliasPassesElsewhere { alias, rules } => write!(
                f,
                "alias `{alias}` is also used by {}: adding addresses to it would change what {} lets through. Take `{alias}` out of {}, or block with another alias",
                rules.join(", "),
                if rules.len() == 1 {
                    "that rule"
                } else {
                    "those rules"
                },
                if rules.len() == 1 { "it" } else { "them" }
            ),
            PlanError::NetworkInHostAlias { alias, networks } => write!(
                f,
                "alias `{alias}` is a host alias, which holds single addresses only (pfSense refuses a network there), and {} {} a network: give single addresses, or change `{alias}` to a network alias first (type `network`, every entry written as a CIDR such as 203.0.113.5/32)",
                networks.join(", "),
                if networks.len() == 1 { "is" } else { "are" }
            ),
        }
    }
}

impl std::error::Error for PlanError {}

/// The entries to add to an alias of `kind`, written the way pfrest accepts them
/// (`FirewallAlias::validate_address`): a `host` alias takes bare IP addresses (a `/32` there
/// is refused with INVALID_HOST_ALIAS_ADDRESS) and no networks; a `network` alias takes CIDRs.
fn alias_entries(kind: &AliasKind, alias: &str, nets: &[IpNet]) -> Result<Vec<String>, PlanError> {
    if *kind != AliasKind::Host {
        return Ok(nets.iter().map(IpNet::to_string).collect());
    }
    let networks: Vec<String> = nets
        .iter()
        .filter(|n| n.prefix_len() != n.max_prefix_len())
        .map(IpNet::to_string)
        .collect();
    if !networks.is_empty() {
        return Err(PlanError::NetworkInHostAlias {
            alias: alias.to_string(),
            networks,
        });
    }
    Ok(nets.iter().map(|n| n.addr().to_string()).collect())
}

/// An alias entry as a network (a bare address is its /32 or /128); None for names and ranges.
fn entry_network(a: &str) -> Option<IpNet> {
    let a = a.trim();
    IpAddr::from_str(a)
        .map(IpNet::from)
        .or_else(|_| IpNet::from_str(a).map(|n| n.trunc()))
        .ok()
}

/// An address or network asked for. A network with bits set past its prefix is refused rather
/// than silently widened, and so is a /0, which is every address of the family.
fn requested_network(a: &str) -> Result<IpNet, PlanError> {
    let a = a.trim();
    if let Ok(ip) = IpAddr::from_str(a) {
        return Ok(IpNet::from(ip));
    }
    let net = IpNet::from_str(a).map_err(|_| PlanError::BadAddress(a.to_string()))?;
    if net.prefix_len() == 0 {
        return Err(PlanError::Everything(a.to_string()));
    }
    let widest = match net {
        IpNet::V4(_) => WIDEST_PREFIX.0,
        IpNet::V6(_) => WIDEST_PREFIX.1,
    };
    if net.prefix_len() < widest {
        return Err(PlanError::TooWide {
            given: a.to_string(),
            widest,
        });
    }
    if net.trunc() != net {
        return Err(PlanError::HostBitsSet {
            given: a.to_string(),
            network: net.trunc().to_string(),
            address: net.addr().to_string(),
        });
    }
    Ok(net)
}

/// Networks listed at most in a note.
const NOTE_LIST_MAX: usize = 10;

fn listed(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(NOTE_LIST_MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NOTE_LIST_MAX {
        s.push_str(&format!(" and {} more", items.len() - NOTE_LIST_MAX));
    }
    s
}

/// The networks sorted, with those that another one holds taken out: (kept, each dropped one
/// with the network that holds it). Sorted by address then prefix length, a network that holds
/// others comes right before them, so one pass keeps it n log n.
fn without_covered(mut nets: Vec<IpNet>) -> (Vec<IpNet>, Vec<(IpNet, IpNet)>) {
    nets.sort_unstable();
    nets.dedup();
    let mut kept: Vec<IpNet> = Vec::with_capacity(nets.len());
    let mut dropped = Vec::new();
    for n in nets {
        match kept.last() {
            Some(k) if k.contains(&n) => dropped.push((n, *k)),
            _ => kept.push(n),
        }
    }
    (kept, dropped)
}

/// The network of `disjoint` (sorted, none holding another) that holds `n`, found by binary
/// search: only the last one starting at or before `n` can.
fn holder(disjoint: &[IpNet], n: &IpNet) -> Option<IpNet> {
    let at = disjoint.partition_point(|d| d <= n);
    at.checked_sub(1)
        .map(|i| disjoint[i])
        .filter(|d| d.contains(n))
}

/// Which address families (IPv4, IPv6) the networks hold.
fn families_of<'a>(nets: impl Iterator<Item = &'a IpNet>) -> (bool, bool) {
    nets.fold((false, false), |(v4, v6), n| {
        (
            v4 || matches!(n, IpNet::V4(_)),
            v6 || matches!(n, IpNet::V6(_)),
        )
    })
}

/// What a block rule whose source is the alias lets through of the traffic from it: empty when
/// it blocks every protocol, port and destination of the families the alias holds, at once.
fn what_it_leaves_through(r: &Rule, (v4, v6): (bool, bool)) -> Vec<String> {
    let mut gaps = Vec::new();
    match r.ipprotocol {
        IpFamily::Inet if v6 => gaps.push("blocks IPv4 only".to_string()),
        IpFamily::Inet6 if v4 => gaps.push("blocks IPv6 only".to_string()),
        _ => {}
    }
    if !r.quick {
        gaps.push("is not quick (a later rule can still pass the traffic)".into());
    }
    if let Some(p) = &r.protocol {
        gaps.push(format!("blocks protocol {p} only"));
    }
    if !r.icmptypes.is_empty() {
        gaps.push(format!("blocks ICMP types {} only", r.icmptypes.join(", ")));
    }
    if r.source_port != PortSpec::Any {
        gaps.push("matches some source ports only".into());
    }
    if r.destination.target != Target::Any || r.destination.negated {
        gaps.push(format!("blocks destination {} only", r.destination.raw));
    }
    if r.destination_port != PortSpec::Any {
        gaps.push("matches some destination ports only".into());
    }
    if let Some(s) = &r.schedule {
        gaps.push(format!("is active during schedule `{s}` only"));
    }
    gaps
}

/// Plans blocking `addresses` (inbound, as sources) on `interface`.
pub fn block_addresses_plan(
    model: &FirewallModel,
    addresses: &[String],
    interface: &str,
) -> Result<BlockPlan, PlanError> {
    let iface = model
        .interface(interface)
        .ok_or_else(|| PlanError::UnknownInterface(interface.to_string()))?;
    let requested = addresses
        .iter()
        .map(|a| requested_network(a))
        .collect::<Result<Vec<IpNet>, PlanError>>()?;
    if requested.is_empty() {
        return Err(PlanError::NoAddresses);
    }
    let (wanted, covered) = without_covered(requested);
    let mut notes = Vec::new();
    if !covered.is_empty() {
        let pairs: Vec<String> = covered
            .iter()
            .map(|(n, k)| format!("{n} (in {k})"))
            .collect();
        notes.push(format!(
            "left out as another network asked for holds them: {}",
            listed(&pairs)
        ));
    }
    let sanitized: String = iface
        .id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let alias: String = format!("{ALIAS_PREFIX}{sanitized}")
        .chars()
        .take(ALIAS_NAME_MAX)
        .collect();
    let mut calls = Vec::new();
    let new: Vec<IpNet>;
    let mut existing_entries: Vec<IpNet> = Vec::new();
    match model.alias(&alias) {
        Some(existing) => {
            if !matches!(existing.kind, AliasKind::Network | AliasKind::Host) {
                return Err(PlanError::AliasNameTaken {
                    alias,
                    kind: serde_json::to_value(&existing.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                });
            }
            // A rule that passes traffic through the alias, or blocks all but it (`!alias`),
            // would let more through with every address added.
            let elsewhere: Vec<String> = model
                .rules
                .iter()
                .filter(|r| {
                    [&r.source, &r.destination].iter().any(|a| {
                        a.target == Target::Alias(alias.clone())
                            && (a.negated || !matches!(r.action, Action::Block | Action::Reject))
                    })
                })
                .map(|r| format!("rule #{} \"{}\"", r.position, r.descr))
                .collect();
            if !elsewhere.is_empty() {
                return Err(PlanError::AliasPassesElsewhere {
                    alias,
                    rules: elsewhere,
                });
            }
            existing_entries = existing
                .entries
                .iter()
                .filter_map(|e| entry_network(e))
                .collect();
            let (held, _) = without_covered(existing_entries.clone());
            let mut in_alias = Vec::new();
            new = wanted
                .iter()
                .filter(|n| match holder(&held, n) {
                    Some(h) if h != **n => {
                        in_alias.push(format!("{n} (in {h})"));
                        false
                    }
                    Some(_) => false,
                    None => true,
                })
                .copied()
                .collect();
            if !in_alias.is_empty() {
                notes.push(format!(
                    "already blocked through a wider network in {alias}: {}",
                    listed(&in_alias)
                ));
            }
            if !new.is_empty() {
                let mut all: Vec<String> = existing.entries.clone();
                all.extend(alias_entries(&existing.kind, &alias, &new)?);
                calls.push(ApiCall {
                    method: "PATCH",
                    path: "/api/v2/firewall/alias",
                    body: json!({"id": existing.position, "address": all}),
                    why: format!("add {} address(es) to alias {alias}", new.len()),
                });
            }
        }
        None => {
            new = wanted.clone();
            calls.push(ApiCall {
                method: "POST",
                path: "/api/v2/firewall/alias",
                body: json!({
                    "name": alias,
                    "type": "network",
                    "descr": format!("Addresses blocked on {} through pfsense-mcp", iface.descr),
                    "address": wanted.iter().map(IpNet::to_string).collect::<Vec<_>>(),
                }),
                why: format!("create alias {alias} holding the addresses"),
            });
        }
    }
    let families = families_of(existing_entries.iter().chain(wanted.iter()));
    // Every floating block rule on the interface whose source is the alias: the first that
    // blocks everything from it counts; narrower ones are reported and left alone.
    let candidates: Vec<&Rule> = model
        .rules
        .iter()
        .filter(|r| {
            r.floating
                && matches!(r.action, Action::Block | Action::Reject)
                && r.direction != Direction::Out
                && r.source.target == Target::Alias(alias.clone())
                && !r.source.negated
                && r.interfaces
                    .iter()
                    .any(|i| model.interface(i).is_some_and(|x| x.id == iface.id))
        })
        .collect();
    let full = |r: &&&Rule| what_it_leaves_through(r, families).is_empty();
    let enabled_full = candidates.iter().find(|r| !r.disabled && full(r));
    let disabled_full = candidates.iter().find(|r| r.disabled && full(r));
    match (enabled_full, disabled_full) {
        (Some(_), _) => {}
        (None, Some(r)) => calls.push(ApiCall {
            method: "PATCH",
            path: "/api/v2/firewall/rule",
            body: json!({"id": r.position, "disabled": false}),
            why: format!("enable the existing block rule #{} for {alias}", r.position),
        }),
        (None, None) => {
            for r in &candidates {
                notes.push(format!(
                    "rule #{} \"{}\" names {alias} as its source but {}{}; a rule blocking everything from {alias} is created instead",
                    r.position,
                    r.descr,
                    if r.disabled { "is disabled and " } else { "" },
                    what_it_leaves_through(r, families).join(", ")
                ));
            }
            calls.push(ApiCall {
                method: "POST",
                path: "/api/v2/firewall/rule",
                body: json!({
                    "type": "block",
                    "interface": [iface.id],
                    "ipprotocol": "inet46",
                    "source": alias,
                    "destination": "any",
                    "floating": true,
                    "quick": true,
                    "direction": "in",
                    "log": true,
                    "descr": format!("Block addresses in {alias} (pfsense-mcp)"),
                }),
                why: format!(
                    "block traffic from {alias} arriving on {} before any other rule",
                    iface.descr
                ),
            });
        }
    }
    // Floating quick pass rules created earlier are evaluated before the new rule.
    for r in model.rules.iter().filter(|r| {
        !r.disabled
            && r.floating
            && r.quick
            && r.action == Action::Pass
            && r.direction != Direction::Out
            && (r.interfaces.is_empty()
                || r.interfaces
                    .iter()
                    .any(|i| i == "any" || model.interface(i).is_some_and(|x| x.id == iface.id)))
    }) {
        notes.push(format!(
            "floating quick pass rule #{} \"{}\" comes first and may still pass some of these addresses",
            r.position, r.descr
        ));
    }
    if !calls.is_empty() {
        calls.push(ApiCall {
            method: "POST",
            path: "/api/v2/firewall/apply",
            body: json!({}),
            why: "reload the filter so the alias and rule take effect".into(),
        });
    }
    notes.push("Blocks the addresses as sources of traffic arriving on the interface; connections already open keep their state until it expires.".into());
    Ok(BlockPlan {
        interface: iface.id.clone(),
        alias,
        addresses: wanted.iter().map(IpNet::to_string).collect(),
        new_addresses: new.iter().map(IpNet::to_string).collect(),
        calls,
        notes,
    })
}
