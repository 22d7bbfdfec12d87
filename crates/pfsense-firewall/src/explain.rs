//! "Why is this passed or blocked?": evaluates one new connection against the model the way the
//! ruleset pfSense generates (filter.inc `filter_rules_generate`) treats it in pf.
//!
//! pf evaluates every rule in order; a `quick` rule that matches decides at once, otherwise the
//! last matching rule decides. pfSense's generated order, for what the model covers, is:
//!
//! 1. (IPv6 off) `block quick inet6 all`;
//! 2. `block in quick` from/to 169.254.0.0/16 (unless `no_apipa_block`);
//! 3. the default deny: `block in/out inet|inet6 all`, *not* quick;
//! 4. per interface: bogons (`block in quick on IF from <bogons>`), then private networks;
//! 5. `pass out all keep state` (not quick): the firewall lets out anything;
//! 6. the anti-lockout rule: `pass in quick on LAN proto tcp to (LAN) port {webGUI, 80, ssh}`;
//! 7. user rules: floating (quick or not, any direction), then interface-group rules, then the
//!    interface's own rules (always `quick`, always `in`).
//!
//! Port forwards (`rdr`) translate the destination before filtering; `rdr pass` skips the filter.
//! A connection no port forward translates may be translated by a 1:1 NAT mapping (`binat`).

use crate::matching::Tri;
use crate::model::{
    Action, Direction, FirewallModel, IpFamily, ModelPart, OneToOne, PortForward, Rule, Target,
};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One new connection to evaluate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `tcp`, `udp`, `icmp`, `esp`, … (case-insensitive).
    pub protocol: String,
    #[serde(default)]
    pub src_port: Option<u16>,
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// For ICMP: the type (`echoreq`, …) when rules match on ICMP types.
    #[serde(default)]
    pub icmp_type: Option<String>,
    /// Interface id, description or device (`wan`, `WAN`, `em0`).
    pub interface: String,
    /// `in` (arriving on the interface) or `out` (leaving through it).
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExplainError {
    UnknownInterface(String),
    MixedFamilies,
    DirectionAny,
    UnknownProtocol(String),
}

/// A question's protocol as rules name it: `tcp` for `TCP` or `6`. One protocol: a rule's
/// `tcp/udp` is two questions.
pub fn canonical_protocol(given: &str) -> Result<String, ExplainError> {
    let given = given.trim().to_ascii_lowercase();
    let given = match given.as_str() {
        "ipv6-icmp" | "icmpv6" => "icmp6".to_string(),
        _ => given,
    };
    crate::model::PROTOCOL_NUMBERS
        .iter()
        .find(|(name, number)| *name == given || number.to_string() == given)
        .map(|(name, _)| name.to_string())
        .ok_or(ExplainError::UnknownProtocol(given))
}

impl fmt::Display for ExplainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExplainError::UnknownInterface(i) => write!(
                f,
                "interface `{i}` is not one of this firewall's interfaces; give its id (wan, lan, opt1), description or device"
            ),
            ExplainError::MixedFamilies => {
                write!(
                    f,
                    "source and destination must both be IPv4 or both be IPv6"
                )
            }
            ExplainError::DirectionAny => write!(f, "direction must be `in` or `out`"),
            ExplainError::UnknownProtocol(p) => {
                let names: Vec<&str> = crate::model::PROTOCOL_NUMBERS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect();
                let one = if p.contains('/') {
                    " (ask about one protocol at a time: a rule's `tcp/udp` matches each)"
                } else {
                    ""
                };
                write!(
                    f,
                    "protocol `{p}` is not one a pfSense rule names{one}; give one of {} or its number",
                    names.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for ExplainError {}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// A rule on the interface's own tab.
    Interface,
    /// A rule on an interface group's tab.
    Group,
    Floating,
    BlockAllIpv6,
    LinkLocal,
    DefaultDeny,
    Bogons,
    PrivateNetworks,
    DefaultPassOut,
    AntiLockout,
    /// A port forward with "pass" as its filter rule association (`rdr pass`).
    PortForwardPass,
    /// The IPv6 ICMP pfSense passes when IPv6 is allowed (unreachable, too big, neighbour
    /// discovery; link-local router and neighbour messages).
    Icmp6Required,
    /// pfSense blocks TCP and UDP from or to port 0.
    PortZero,
}

impl RuleOrigin {
    pub fn is_user(self) -> bool {
        matches!(
            self,
            RuleOrigin::Interface | RuleOrigin::Group | RuleOrigin::Floating
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleRef {
    pub origin: RuleOrigin,
    pub action: Action,
    pub quick: bool,
    pub tracker: Option<u64>,
    pub descr: String,
    /// Position in the API's rule list (user rules) or port forward list.
    pub position: Option<usize>,
    /// Interface id or group name the rule is on.
    pub interface: Option<String>,
}

impl RuleRef {
    /// `rule #3 "block the WAN subnet", tracker 1700000000`: position and tracker when known.
    pub fn describe(&self) -> String {
        let position = self.position.map(|p| format!(" #{p}")).unwrap_or_default();
        let tracker = self
            .tracker
            .map(|t| format!(", tracker {t}"))
            .unwrap_or_default();
        format!("rule{position} \"{}\"{tracker}", self.descr)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub rule: RuleRef,
    /// Did the connection match this rule?
    pub matched: Tri,
    /// Which part did not match, or why the match is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Block,
    Reject,
    /// Rules whose match the model cannot decide would change the answer.
    Unknown,
}

impl From<Action> for Verdict {
    fn from(a: Action) -> Verdict {
        match a {
            Action::Pass => Verdict::Pass,
            Action::Block => Verdict::Block,
            Action::Reject => Verdict::Reject,
        }
    }
}

/// How a port forward on another interface reaches a connection (its `natreflection`, or the
/// system's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reflection {
    /// `rdr` to the forward's target.
    PureNat,
    /// `rdr` to a proxy on the firewall (xinetd on 127.0.0.1), which connects to the target.
    Proxy,
    /// Left to the system's setting, which the API does not show: off by pfSense's default.
    AssumedOff,
}

/// What translated a connection's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TranslatedBy {
    PortForward,
    OneToOneNat,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Translation {
    pub by: TranslatedBy,
    /// By the NAT reflection of a port forward or 1:1 mapping on another interface.
    pub reflected: bool,
    /// The port forward's or the 1:1 NAT mapping's position in its list.
    pub position: usize,
    pub descr: String,
    pub original_dst: IpAddr,
    pub original_dst_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    /// The filter rule created with the port forward, if any.
    pub associated_rule: Option<RuleRef>,
}

impl Translation {
    /// `port forward #2 "ssh in"`, `1:1 NAT mapping #0 "web server"`.
    pub fn describe(&self) -> String {
        let what = match self.by {
            TranslatedBy::PortForward => "port forward",
            TranslatedBy::OneToOneNat => "1:1 NAT mapping",
        };
        let reflection = if self.reflected {
            "the NAT reflection of "
        } else {
            ""
        };
        format!("{reflection}{what} #{} \"{}\"", self.position, self.descr)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    pub verdict: Verdict,
    /// The rule that decides when every unknown match is read as "no match".
    pub decided_by: RuleRef,
    /// Actions the unknown matches could lead to besides the decided one.
    pub could_also_be: Vec<Action>,
    pub interface: String,
    pub translation: Option<Translation>,
    /// Every rule considered, in pf's order, up to the decision.
    pub path: Vec<Step>,
    /// What the model cannot know that matters here.
    pub unknowns: Vec<String>,
    /// Defaults assumed for settings the API does not show, and what is not modelled.
    pub assumptions: Vec<String>,
}

/// Trackers pfSense gives its generated rules (filter.inc): a counter from 1000000000 that jumps
/// by 100 before the link-local blocks, and fixed ranges for anti-lockout, bogons and RFC 1918.
pub mod trackers {
    pub const BASE: u64 = 1_000_000_100;
    pub const ANTI_LOCKOUT_FIRST: u64 = 10_001;
    pub const BOGONS_FIRST: u64 = 11_001;
    pub const PRIVATE_FIRST: u64 = 12_001;
}

/// IPv4 bogons that pfSense's `<bogons>` table always holds: Team Cymru's bogon list
/// (filter.inc cites bogon-bn-nonagg.txt), which since IPv4 exhaustion is the special-purpose
/// space. The RFC 1918 ranges are not among them: rc.update_bogons.sh filters them out of the
/// downloaded list (`egrep -v "^192.168.0.0/16|^172.16.0.0/12|^10.0.0.0/8"`), and "block
/// private networks" blocks them instead.
const BOGONS_V4: &[&str] = &[
    "0.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
];
/// The networks "block private networks" blocks, in filter.inc's order.
const PRIVATE_NETWORKS: &[&str] = &[
    "10.0.0.0/8",
    "127.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// IPv4 ICMP types by number and the name pf gives them, which pfSense's rules store
/// (filter.inc `$icmptypes`, the entries valid for IPv4; numbers from icmp(4) and pf's
/// `icmp_type` table).
const ICMP4_TYPES: &[(u8, &str)] = &[
    (0, "echorep"),
    (3, "unreach"),
    (4, "squench"),
    (5, "redir"),
    (6, "althost"),
    (8, "echoreq"),
    (9, "routeradv"),
    (10, "routersol"),
    (11, "timex"),
    (12, "paramprob"),
    (13, "timereq"),
    (14, "timerep"),
    (15, "inforeq"),
    (16, "inforep"),
    (17, "maskreq"),
    (18, "maskrep"),
    (30, "trace"),
    (31, "dataconv"),
    (32, "mobredir"),
    (33, "ipv6-where"),
    (34, "ipv6-here"),
    (35, "mobregreq"),
    (36, "mobregrep"),
    (39, "skip"),
    (40, "photuris"),
];

/// IPv6 ICMP types by number and pf's name (icmp6(4); filter.inc `$icmptypes`, the entries
/// valid for IPv6). Some numbers carry two names in pf.
const ICMP6_TYPES: &[(u8, &str)] = &[
    (1, "unreach"),
    (2, "toobig"),
    (3, "timex"),
    (4, "paramprob"),
    (128, "echoreq"),
    (129, "echorep"),
    (130, "groupqry"),
    (130, "listqry"),
    (131, "grouprep"),
    (131, "listenrep"),
    (132, "groupterm"),
    (132, "listendone"),
    (133, "routersol"),
    (134, "routeradv"),
    (135, "neighbrsol"),
    (136, "neighbradv"),
    (137, "redir"),
    (138, "routrrenum"),
    (139, "wrureq"),
    (139, "fqdnreq"),
    (139, "niqry"),
    (140, "wrurep"),
    (140, "fqdnrep"),
    (140, "nirep"),
    (200, "mtraceresp"),
    (201, "mtrace"),
];

/// The number of an ICMP type given as a number or pf's name, for the address family; None
/// when the family's table does not know it.
fn icmp_type_number(t: &str, v6: bool) -> Option<u8> {
    let table = if v6 { ICMP6_TYPES } else { ICMP4_TYPES };
    let t = t.trim();
    match t.parse::<u8>() {
        Ok(n) => table.iter().any(|(k, _)| *k == n).then_some(n),
        Err(_) => table
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(t))
            .map(|(n, _)| *n),
    }
}

/// Whether the question's ICMP type is one of `types` (names or numbers of the family).
fn icmp_type_among<'a>(q: &Query, v6: bool, types: impl IntoIterator<Item = &'a str>) -> Tri {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let Some(t) = &q.icmp_type else {
        return Tri::Unknown("the question gave no ICMP type".into());
    };
    let Some(asked) = icmp_type_number(t, v6) else {
        return Tri::Unknown(format!(
            "`{t}` is not an {family} ICMP type pfSense knows (give a number or pf's name, e.g. echoreq)"
        ));
    };
    let mut unknown = None;
    for ty in types {
        match icmp_type_number(ty, v6) {
            Some(n) if n == asked => return Tri::Yes,
            Some(_) => {}
            None => {
                unknown.get_or_insert(format!(
                    "the rule's ICMP type `{ty}` is not an {family} type pfSense knows"
                ));
            }
        }
    }
    unknown.map_or(Tri::No, Tri::Unknown)
}

/// Whether the question's ICMP type (a name or a number) is one of `types`.
fn icmp6_type_in(q: &Query, types: &[u8]) -> Tri {
    let names: Vec<String> = types.iter().map(u8::to_string).collect();
    icmp_type_among(q, true, names.iter().map(String::as_str))
}

fn in_list(list: &[&str], ip: &IpAddr) -> bool {
    list.iter()
        .filter_map(|n| IpNet::from_str(n).ok())
        .any(|n| n.contains(ip))
}

fn bogon(ip: &IpAddr) -> Tri {
    match ip {
        IpAddr::V4(_) if in_list(BOGONS_V4, ip) => Tri::Yes,
        IpAddr::V4(_) => Tri::No,
        // Full IPv6 bogons: everything outside global unicast 2000::/3, and documentation space.
        IpAddr::V6(_) => {
            Tri::from_bool(!in_list(&["2000::/3"], ip) || in_list(&["2001:db8::/32"], ip))
        }
    }
}

/// `ip`, an address of `from`, moved to the address of `to` with the same host part (pf's
/// `bitmask` pool, as `binat` uses it); both networks have the same prefix length.
pub(crate) fn same_host_part(ip: IpAddr, from: &IpNet, to: &IpNet) -> IpAddr {
    match (ip, to.network(), from.hostmask()) {
        (IpAddr::V4(a), IpAddr::V4(n), IpAddr::V4(host)) => {
            IpAddr::V4((u32::from(n) | (u32::from(a) & u32::from(host))).into())
        }
        (IpAddr::V6(a), IpAddr::V6(n), IpAddr::V6(host)) => {
            IpAddr::V6((u128::from(n) | (u128::from(a) & u128::from(host))).into())
        }
        _ => ip,
    }
}

/// Whether a translation (`label`: `port forward #2 (ssh in)`) applies for certain; one that
/// may apply is noted as unknown, and makes whatever decides after it undecided.
fn applies(hit: Tri, label: &str, unknowns: &mut Vec<String>, maybe_forwarded: &mut bool) -> bool {
    match hit {
        Tri::Yes => true,
        Tri::No => false,
        Tri::Unknown(r) => {
            unknowns.push(format!("{label} may apply: {r}"));
            *maybe_forwarded = true;
            false
        }
    }
}

struct Candidate<'a> {
    rule: RuleRef,
    user: Option<&'a Rule>,
    /// For generated rules: the match, computed up front.
    fixed: Option<(Tri, Option<String>)>,
}

pub(crate) fn protocol_matches(rule_proto: Option<&str>, family: IpFamily, query: &str) -> bool {
    let Some(p) = rule_proto else { return true };
    let q = query.to_ascii_lowercase();
    match p {
        "tcp/udp" => q == "tcp" || q == "udp",
        "icmp" => {
            q == "icmp"
                || (family != IpFamily::Inet && (q == "icmp6" || q == "ipv6-icmp" || q == "icmpv6"))
        }
        other => other == q,
    }
}

impl FirewallModel {
    fn user_ref(&self, r: &Rule, origin: RuleOrigin) -> RuleRef {
        RuleRef {
            origin,
            action: r.action,
            quick: r.is_quick(),
            tracker: r.tracker,
            descr: r.descr.clone(),
            position: Some(r.position),
            interface: r.interfaces.first().cloned(),
        }
    }

    /// Does the query match a user rule? (Interface and direction are checked by the caller.)
    fn rule_matches(
        &self,
        r: &Rule,
        q: &Query,
        src: IpAddr,
        dst: IpAddr,
        dport: Option<u16>,
    ) -> (Tri, Option<String>) {
        if !r.ipprotocol.admits(&src) {
            return (Tri::No, Some("IP version".into()));
        }
        if !protocol_matches(r.protocol.as_deref(), r.ipprotocol, &q.protocol) {
            return (
                Tri::No,
                Some(format!(
                    "protocol is {}",
                    r.protocol.as_deref().unwrap_or("any")
                )),
            );
        }
        // A new connection's first packet carries SYN alone: a rule asking for other flags
        // never sees it (pf keeps state from that packet).
        if q.protocol.eq_ignore_ascii_case("tcp") && !r.admits_syn() {
            return (Tri::No, Some("TCP flags".into()));
        }
        let mut unknown: Option<String> = None;
        let mut check = |t: Tri, what: &str| -> bool {
            match t {
                Tri::Yes => true,
                Tri::No => false,
                Tri::Unknown(reason) => {
                    unknown.get_or_insert(format!("{what}: {reason}"));
                    true
                }
            }
        };
        if let Some(s) = &r.schedule
            && !check(
                Tri::Unknown(format!("active only during schedule `{s}`")),
                "schedule",
            )
        {
            return (Tri::No, None);
        }
        let src_hit = self.target_contains(&r.source.target, &src);
        let src_hit = if r.source.negated {
            src_hit.negated()
        } else {
            src_hit
        };
        if !check(src_hit, "source") {
            return (Tri::No, Some(format!("source is {}", r.source.raw)));
        }
        if !check(self.port_matches(&r.source_port, q.src_port), "source port") {
            return (Tri::No, Some("source port".into()));
        }
        let dst_hit = self.target_contains(&r.destination.target, &dst);
        let dst_hit = if r.destination.negated {
            dst_hit.negated()
        } else {
            dst_hit
        };
        if !check(dst_hit, "destination") {
            return (
                Tri::No,
                Some(format!("destination is {}", r.destination.raw)),
            );
        }
        if !check(
            self.port_matches(&r.destination_port, dport),
            "destination port",
        ) {
            return (Tri::No, Some("destination port".into()));
        }
        if !r.icmptypes.is_empty() {
            let t = match &q.icmp_type {
                Some(_) => {
                    icmp_type_among(q, src.is_ipv6(), r.icmptypes.iter().map(String::as_str))
                }
                None => {
                    Tri::Unknown("the rule matches on ICMP types and the question gave none".into())
                }
            };
            if !check(t, "ICMP type") {
                return (Tri::No, Some("ICMP type".into()));
            }
        }
        match unknown {
            Some(u) => (Tri::Unknown(u.clone()), Some(u)),
            None => (Tri::Yes, None),
        }
    }

    fn rule_applies_to_interface(&self, r: &Rule, iface: &str) -> bool {
        if r.floating && (r.interfaces.is_empty() || r.interfaces.iter().any(|i| i == "any")) {
            return true;
        }
        r.interfaces.iter().any(|i| {
            self.interface(i).is_some_and(|x| x.id == iface)
                || self
                    .group(i)
                    .is_some_and(|g| g.members.iter().any(|m| m == iface))
        })
    }

    /// Whether filter.inc's NAT reflection of something on `natif` reaches connections
    /// arriving on `iface` (`filter_get_reflection_interfaces`): every interface without a
    /// gateway but `natif`, and every interface group, whose members it then covers (seen on
    /// the pfrest lab: `rdr on { vtnet1 trusted }`).
    fn reflects_onto(&self, natif: &str, iface: &str) -> bool {
        natif != iface
            && self.interface(natif).is_some_and(|i| i.enabled)
            && (!self.has_reply_to(iface, false) || !self.groups_of(iface).is_empty())
    }

    /// The first port forward that matches, with the translated destination and, for one on
    /// another interface, the reflection that brings it here; `no_rdr` set when a `no rdr`
    /// forward matched (the rest of the `rdr` rules are then not tried). filter.inc writes
    /// each forward's reflection redirect right after its own `rdr`.
    fn port_forward_for(
        &self,
        q: &Query,
        iface: &str,
        unknowns: &mut Vec<String>,
        maybe_forwarded: &mut bool,
        no_rdr: &mut bool,
        assumptions: &mut Vec<String>,
    ) -> Option<(&PortForward, IpAddr, Option<u16>, Option<Reflection>)> {
        for pf in self.port_forwards.iter().filter(|p| {
            !p.disabled && (p.interface == iface || self.reflects_onto(&p.interface, iface))
        }) {
            if !pf.ipprotocol.admits(&q.src)
                || !protocol_matches(pf.protocol.as_deref(), pf.ipprotocol, &q.protocol)
            {
                continue;
            }
            let reflected = pf.interface != iface;
            let system = self.settings.known.port_forward_reflection.as_deref();
            let reflection = match pf.reflection.as_deref().or(system) {
                _ if !reflected => None,
                Some("purenat") => Some(Reflection::PureNat),
                // filter.inc writes no proxy for IPv6 (redmine 12319).
                Some("enable") if pf.ipprotocol == IpFamily::Inet => Some(Reflection::Proxy),
                Some(_) => continue,
                None => Some(Reflection::AssumedOff),
            };
            let t = |a: &crate::model::Address, ip: &IpAddr| {
                let hit = self.target_contains(&a.target, ip);
                if a.negated { hit.negated() } else { hit }
            };
            // A reflected forward to `any` redirects connections to its interface's subnet.
            let subnet;
            let destination = match &pf.destination {
                d if reflected && d.target == Target::Any && !d.negated => {
                    subnet = crate::model::Address {
                        raw: pf.interface.clone(),
                        negated: false,
                        target: Target::InterfaceNet(pf.interface.clone()),
                    };
                    &subnet
                }
                d => d,
            };
            let m = t(&pf.source, &q.src)
                .and(|| self.port_matches(&pf.source_port, q.src_port))
                .and(|| t(destination, &q.dst))
                .and(|| self.port_matches(&pf.destination_port, q.dst_port));
            let what = if reflected {
                "the NAT reflection of port forward"
            } else {
                "port forward"
            };
            if reflection == Some(Reflection::AssumedOff) {
                if m == Tri::Yes {
                    assumptions.push(format!(
                        "NAT reflection for port forwards is assumed off (System > Advanced > Firewall & NAT, pfSense's default; not visible through the API): if it is on, port forward #{} ({}) sends this connection to {}.",
                        pf.position, pf.descr, pf.target
                    ));
                }
                continue;
            }
            let label = format!("{what} #{} ({})", pf.position, pf.descr);
            if !applies(m, &label, unknowns, maybe_forwarded) {
                continue;
            }
            // `no rdr`: matching traffic is not translated and later forwards are not tried.
            if pf.nordr {
                *no_rdr = true;
                return None;
            }
            let new_dst = match IpAddr::from_str(&pf.target) {
                Ok(ip) => ip,
                Err(_) => {
                    let resolved = self.resolve_alias(&pf.target);
                    match resolved.nets.first() {
                        Some(n)
                            if resolved.nets.len() == 1 && n.prefix_len() == n.max_prefix_len() =>
                        {
                            n.addr()
                        }
                        _ => {
                            unknowns.push(format!(
                                "port forward #{} redirects to `{}`, which is not a single known address",
                                pf.position, pf.target
                            ));
                            return None;
                        }
                    }
                }
            };
            // A forwarded range keeps its offset: external start+n goes to local_port+n.
            let new_port = match (pf.local_port, q.dst_port, &pf.destination_port) {
                (Some(lp), Some(p), crate::model::PortSpec::Range(a, _)) => {
                    Some(lp.saturating_add(p - a))
                }
                (Some(lp), _, _) => Some(lp),
                (None, p, _) => p,
            };
            return Some((pf, new_dst, new_port, reflection));
        }
        None
    }

    /// The first 1:1 NAT mapping that translates an inbound connection no port forward took,
    /// with the translated destination. First the reflection redirects of mappings on other
    /// interfaces (`rdr`, after the port forwards; not after a `no rdr` match), then the
    /// interface's own mappings (`binat`). Either way pf matches the connection's source
    /// against the mapping's `destination` and its destination against the external network;
    /// `no binat` stops the search untranslated.
    fn one_to_one_for(
        &self,
        q: &Query,
        iface: &str,
        after_no_rdr: bool,
        unknowns: &mut Vec<String>,
        maybe_forwarded: &mut bool,
        assumptions: &mut Vec<String>,
    ) -> Option<(&OneToOne, IpAddr, bool)> {
        let enabled = |m: &&OneToOne| !m.disabled && m.ipprotocol.admits(&q.src);
        // Not for a negated inside address (filter.inc).
        let reflects_here = |m: &&OneToOne| {
            !after_no_rdr
                && !m.nobinat
                && !m.internal.negated
                && self.reflects_onto(&m.interface, iface)
        };
        let reflected = self.one_to_one.iter().filter(enabled).filter(reflects_here);
        let own = self
            .one_to_one
            .iter()
            .filter(enabled)
            .filter(|m| m.interface == iface);
        for (m, reflection) in reflected.map(|m| (m, true)).chain(own.map(|m| (m, false))) {
            // A mapping leaving reflection to the system: off by pfSense's default.
            let reflection_on = m.reflection.or(self.settings.known.one_to_one_reflection);
            if reflection && reflection_on == Some(false) {
                continue;
            }
            let peer = self.target_contains(&m.destination.target, &q.src);
            let peer = if m.destination.negated {
                peer.negated()
            } else {
                peer
            };
            let networks = self.one_to_one_networks(m);
            let hit = if m.nobinat {
                peer
            } else {
                peer.and(|| match &networks {
                    Ok((external, _)) => Tri::from_bool(external.contains(&q.dst)),
                    Err(why) => Tri::Unknown(why.clone()),
                })
            };
            let what = if reflection {
                "the NAT reflection of 1:1 NAT mapping"
            } else {
                "1:1 NAT mapping"
            };
            if reflection && reflection_on.is_none() {
                if hit == Tri::Yes {
                    assumptions.push(format!(
                        "NAT reflection for 1:1 mappings is assumed off (System > Advanced > Firewall & NAT, not visible through the API): if it is on, 1:1 NAT mapping #{} ({}) sends this connection to its inside host.",
                        m.position, m.descr
                    ));
                }
                continue;
            }
            let label = format!("{what} #{} ({})", m.position, m.descr);
            if !applies(hit, &label, unknowns, maybe_forwarded) {
                continue;
            }
            if m.nobinat {
                return None;
            }
            let (external, internal) = networks.ok()?;
            return match internal {
                Ok(internal) => Some((m, same_host_part(q.dst, &external, &internal), reflection)),
                // Translated, to where the model cannot tell: the rules decide nothing.
                Err(why) => {
                    unknowns.push(format!(
                        "{what} #{} ({}) redirects this connection: {why}",
                        m.position, m.descr
                    ));
                    *maybe_forwarded = true;
                    None
                }
            };
        }
        None
    }

    /// A 1:1 NAT mapping's external network and inside network as pf reads `binat … from
    /// INSIDE … -> EXTERNAL/len`: filter.inc widens the external address to the inside
    /// network's prefix length when it has one. Err when the external network cannot be read;
    /// the inside one is Err alone when only where it translates to cannot be.
    pub(crate) fn one_to_one_networks(
        &self,
        m: &OneToOne,
    ) -> Result<(IpNet, Result<IpNet, String>), String> {
        let v6 = m.ipprotocol == IpFamily::Inet6;
        let single = |ip: IpAddr| IpNet::from(ip);
        let unreadable = |what: &str, raw: &str| {
            format!(
                "its {what} `{raw}` is not an address or network the model can read (mapping #{})",
                m.position
            )
        };
        let of_family = |list: Vec<IpNet>| list.into_iter().find(|n| n.addr().is_ipv6() == v6);
        let internal = match (&m.internal.target, m.internal.negated) {
            (Target::Ip(ip), false) => Some(single(*ip)),
            (Target::Net(n), false) => Some(*n),
            (Target::InterfaceNet(id), false) => {
                self.interface(id).and_then(|i| of_family(i.networks()))
            }
            (Target::InterfaceAddress(id), false) => self
                .interface(id)
                .and_then(|i| of_family(i.addresses().into_iter().map(single).collect())),
            _ => None,
        }
        .filter(|n| n.addr().is_ipv6() == v6)
        .ok_or_else(|| unreadable("inside address", &m.internal.raw));
        let external = match &m.external.target {
            Target::Ip(ip) => Some(*ip),
            Target::InterfaceAddress(id) => self
                .interface(id)
                .and_then(|i| i.addresses().into_iter().find(|a| a.is_ipv6() == v6)),
            _ => None,
        }
        .filter(|a| a.is_ipv6() == v6)
        .ok_or_else(|| unreadable("external address", &m.external.raw))?;
        let full = if v6 { 128 } else { 32 };
        let len = internal.as_ref().map_or(full, IpNet::prefix_len);
        let external = IpNet::new(external, len)
            .map_err(|_| unreadable("external address", &m.external.raw))?
            .trunc();
        Ok((external, internal))
    }

    /// Evaluates a new connection. Errors only for questions that cannot be asked of this model
    /// (no such interface, mixed address families).
    pub fn explain(&self, q: &Query) -> Result<Explanation, ExplainError> {
        if q.direction == Direction::Any {
            return Err(ExplainError::DirectionAny);
        }
        let normalized;
        let q = match canonical_protocol(&q.protocol)? {
            p if p == q.protocol => q,
            p => {
                normalized = Query {
                    protocol: p,
                    ..q.clone()
                };
                &normalized
            }
        };
        if q.src.is_ipv6() != q.dst.is_ipv6() {
            return Err(ExplainError::MixedFamilies);
        }
        let iface = self
            .interface(&q.interface)
            .ok_or_else(|| ExplainError::UnknownInterface(q.interface.clone()))?;
        let id = iface.id.clone();
        let v6 = q.src.is_ipv6();
        let known = &self.settings.known;
        let mut unknowns = Vec::new();
        let mut assumptions = vec![
            "Rules pfSense generates for DHCP, VPNs, CARP, the NAT reflection proxy, captive portal, packages and the sshguard/virusprot tables are not modelled.".to_string(),
        ];
        let assume = |list: &mut Vec<String>, setting: Option<bool>, text: &str| {
            if setting.is_none() {
                list.push(text.to_string());
            }
        };
        let ipv6_allowed = known.ipv6_allowed.unwrap_or(true);
        if v6 {
            assume(
                &mut assumptions,
                known.ipv6_allowed,
                "IPv6 is assumed allowed (System > Advanced > Networking; not visible through the API).",
            );
        }
        let link_local_block = !known.link_local_block_disabled.unwrap_or(false);
        if q.direction == Direction::Out {
            // pf translates before it filters: a rule on the way out sees the source after
            // outbound NAT (the interface's address for LAN hosts leaving by WAN).
            assumptions.push("Leaving through an interface, a packet is matched after outbound NAT: give the source as it is after translation (for a LAN host leaving by WAN with NAT, the WAN address).".to_string());
        }

        let mut cands: Vec<Candidate> = Vec::new();
        let fixed = |origin, action, quick, tracker, descr: &str, m: Tri| Candidate {
            rule: RuleRef {
                origin,
                action,
                quick,
                tracker,
                descr: descr.to_string(),
                position: None,
                interface: None,
            },
            user: None,
            fixed: Some((m, None)),
        };

        // Port forwards translate the destination before any filter rule sees the packet.
        let src = q.src;
        let (mut dst, mut dport) = (q.dst, q.dst_port);
        let mut translation = None;
        // A forward that may apply sends the packet elsewhere (or passes it, `rdr pass`): the
        // rules below then decide nothing for certain.
        let mut maybe_forwarded = false;
        let mut no_rdr = false;
        if q.direction == Direction::In
            && let Some(e) = self.read_failure(ModelPart::PortForwards)
        {
            unknowns.push(format!(
                "the port forwards could not be read ({e}): one may redirect this connection"
            ));
            maybe_forwarded = true;
        }
        if q.direction == Direction::In
            && let Some((pf, new_dst, new_port, reflection)) = self.port_forward_for(
                q,
                &id,
                &mut unknowns,
                &mut maybe_forwarded,
                &mut no_rdr,
                &mut assumptions,
            )
        {
            let assoc = self
                .associated_rule(pf)
                .map(|r| self.user_ref(r, RuleOrigin::Interface));
            // The proxy connects from the firewall itself (filter.inc passes what it is
            // redirected to by the tag PFREFLECT): the rules here do not see that connection.
            let proxied = reflection == Some(Reflection::Proxy);
            if proxied {
                unknowns.push(format!(
                    "the NAT reflection of port forward #{} ({}) hands this connection to a proxy on the firewall, which connects to {}; the rules for that are not modelled",
                    pf.position, pf.descr, pf.target
                ));
                maybe_forwarded = true;
            }
            translation = Some(Translation {
                by: TranslatedBy::PortForward,
                reflected: reflection.is_some(),
                position: pf.position,
                descr: pf.descr.clone(),
                original_dst: dst,
                original_dst_port: dport,
                dst: new_dst,
                dst_port: new_port,
                associated_rule: assoc,
            });
            dst = new_dst;
            dport = new_port;
            if pf.associated_rule_id.as_deref() == Some("pass") && !proxied {
                let rule = RuleRef {
                    origin: RuleOrigin::PortForwardPass,
                    action: Action::Pass,
                    quick: true,
                    tracker: None,
                    descr: format!("rdr pass: port forward #{} {}", pf.position, pf.descr),
                    position: Some(pf.position),
                    interface: Some(id.clone()),
                };
                let could_also_be = if maybe_forwarded {
                    vec![Action::Block]
                } else {
                    Vec::new()
                };
                return Ok(Explanation {
                    verdict: if maybe_forwarded {
                        Verdict::Unknown
                    } else {
                        Verdict::Pass
                    },
                    decided_by: rule.clone(),
                    could_also_be,
                    interface: id,
                    translation,
                    path: vec![Step {
                        rule,
                        matched: Tri::Yes,
                        why: None,
                    }],
                    unknowns,
                    assumptions,
                });
            }
        }

        // What no port forward translated, a 1:1 NAT mapping may.
        if q.direction == Direction::In && translation.is_none() {
            if let Some(e) = self.read_failure(ModelPart::OneToOneNat) {
                unknowns.push(format!(
                    "the 1:1 NAT mappings could not be read ({e}): one may redirect this connection"
                ));
                maybe_forwarded = true;
            } else if let Some((m, new_dst, reflected)) = self.one_to_one_for(
                q,
                &id,
                no_rdr,
                &mut unknowns,
                &mut maybe_forwarded,
                &mut assumptions,
            ) {
                translation = Some(Translation {
                    by: TranslatedBy::OneToOneNat,
                    reflected,
                    position: m.position,
                    descr: m.descr.clone(),
                    original_dst: dst,
                    original_dst_port: dport,
                    dst: new_dst,
                    dst_port: dport,
                    associated_rule: None,
                });
                dst = new_dst;
            }
        }

        // Generated rules before the user rules.
        let mut tracker = trackers::BASE;
        if !ipv6_allowed {
            tracker += 4;
            cands.push(fixed(
                RuleOrigin::BlockAllIpv6,
                Action::Block,
                true,
                None,
                "Block all IPv6",
                Tri::from_bool(v6),
            ));
        }
        if link_local_block {
            let ll = |ip: &IpAddr| in_list(&["169.254.0.0/16"], ip);
            let from = q.direction == Direction::In && ll(&src);
            let to = q.direction == Direction::In && ll(&dst);
            cands.push(fixed(
                RuleOrigin::LinkLocal,
                Action::Block,
                true,
                Some(tracker + 1),
                "Block IPv4 link-local",
                Tri::from_bool(from),
            ));
            cands.push(fixed(
                RuleOrigin::LinkLocal,
                Action::Block,
                true,
                Some(tracker + 2),
                "Block IPv4 link-local",
                Tri::from_bool(to),
            ));
            tracker += 2;
        }
        // Default deny: in v4, out v4, in v6, out v6.
        let deny_tracker = tracker
            + 1
            + match (v6, q.direction) {
                (false, Direction::In) => 0,
                (false, _) => 1,
                (true, Direction::In) => 2,
                (true, _) => 3,
            };
        cands.push(fixed(
            RuleOrigin::DefaultDeny,
            Action::Block,
            false,
            Some(deny_tracker),
            if v6 {
                "Default deny rule IPv6"
            } else {
                "Default deny rule IPv4"
            },
            Tri::Yes,
        ));
        // After the default deny rules (filter.inc): the IPv6 ICMP IPv6 needs, when IPv6 is
        // allowed, then TCP and UDP from or to port 0 blocked.
        let mut tracker = tracker + 4;
        if ipv6_allowed {
            let icmp6 = v6
                && ["icmp", "icmp6", "icmpv6", "ipv6-icmp"]
                    .iter()
                    .any(|p| q.protocol.eq_ignore_ascii_case(p));
            let any_direction = |_: Direction| true;
            let out = |d: Direction| d == Direction::Out;
            let inward = |d: Direction| d == Direction::In;
            type Icmp6Pass<'a> = (&'a dyn Fn(Direction) -> bool, &'a str, &'a str, &'a [u8]);
            let lines: [Icmp6Pass; 7] = [
                (&any_direction, "::/0", "::/0", &[1, 2, 135, 136]),
                (&out, "fe80::/10", "fe80::/10", &[129, 133, 134, 135, 136]),
                (&out, "fe80::/10", "ff02::/16", &[129, 133, 134, 135, 136]),
                (
                    &inward,
                    "fe80::/10",
                    "fe80::/10",
                    &[128, 133, 134, 135, 136],
                ),
                (
                    &inward,
                    "ff02::/16",
                    "fe80::/10",
                    &[128, 133, 134, 135, 136],
                ),
                (
                    &inward,
                    "fe80::/10",
                    "ff02::/16",
                    &[128, 133, 134, 135, 136],
                ),
                (&inward, "::/128", "ff02::/16", &[128, 133, 134, 135, 136]),
            ];
            for (direction, from, to, types) in lines {
                tracker += 1;
                let m = Tri::from_bool(
                    icmp6
                        && direction(q.direction)
                        && in_list(&[from], &src)
                        && in_list(&[to], &dst),
                )
                .and(|| icmp6_type_in(q, types));
                cands.push(fixed(
                    RuleOrigin::Icmp6Required,
                    Action::Pass,
                    true,
                    Some(tracker),
                    "IPv6 ICMP required for operation",
                    m,
                ));
            }
        }
        let tcp_or_udp = ["tcp", "udp"]
            .iter()
            .any(|p| q.protocol.eq_ignore_ascii_case(p));
        // The IPv4 pair, then the IPv6 pair when IPv6 is allowed. A question without a port
        // is about a real connection, whose ports are never 0.
        let zero_t = if v6 { tracker + 2 } else { tracker };
        for (n, (port, descr)) in [
            (q.src_port, "Block traffic from port 0"),
            (dport, "Block traffic to port 0"),
        ]
        .into_iter()
        .enumerate()
        {
            cands.push(fixed(
                RuleOrigin::PortZero,
                Action::Block,
                true,
                Some(zero_t + 1 + n as u64),
                descr,
                Tri::from_bool(tcp_or_udp && port == Some(0)),
            ));
        }

        if q.direction == Direction::In {
            let mut bogon_t = trackers::BOGONS_FIRST;
            let mut priv_t = trackers::PRIVATE_FIRST;
            for i in self.interfaces.iter().filter(|i| i.enabled) {
                let here = i.id == id;
                if i.block_bogons {
                    let v4_t = bogon_t;
                    bogon_t += 1;
                    let v6_t = ipv6_allowed.then(|| {
                        bogon_t += 1;
                        bogon_t - 1
                    });
                    if here && (!v6 || v6_t.is_some()) {
                        let t = if v6 { v6_t } else { Some(v4_t) };
                        let descr = format!(
                            "block bogon IPv{} networks from {}",
                            if v6 { 6 } else { 4 },
                            i.descr
                        );
                        let m = bogon(&src);
                        cands.push(fixed(RuleOrigin::Bogons, Action::Block, true, t, &descr, m));
                    }
                }
                if i.block_private {
                    for net in PRIVATE_NETWORKS {
                        let t = priv_t;
                        priv_t += 1;
                        if here {
                            let hit = in_list(&[net], &src);
                            cands.push(fixed(
                                RuleOrigin::PrivateNetworks,
                                Action::Block,
                                true,
                                Some(t),
                                &format!("Block private networks from {} block {net}", i.descr),
                                Tri::from_bool(hit),
                            ));
                        }
                    }
                }
            }
        } else {
            cands.push(fixed(
                RuleOrigin::DefaultPassOut,
                Action::Pass,
                false,
                None,
                "let out anything from firewall host itself",
                Tri::Yes,
            ));
        }

        // Anti-lockout: on LAN when there is more than one interface, on WAN when it is the only one.
        if q.direction == Direction::In && !known.anti_lockout_disabled.unwrap_or(false) {
            assume(
                &mut assumptions,
                known.anti_lockout_disabled,
                "The anti-lockout rule is assumed enabled (System > Advanced > Admin Access; not visible through the API).",
            );
            let target = if self.interfaces.len() > 1 {
                self.interface("lan").filter(|l| l.id == "lan")
            } else {
                self.interfaces.first()
            };
            if let Some(t) = target
                && t.id == id
            {
                let ports = self.settings.anti_lockout_ports();
                let proto_ok = q.protocol.eq_ignore_ascii_case("tcp");
                let to_if = self.target_contains(&Target::InterfaceAddress(t.id.clone()), &dst);
                let port_ok = match dport {
                    Some(p) if ports.contains(&p) => Tri::Yes,
                    Some(_) => match self
                        .read_failure(ModelPart::WebGui)
                        .or_else(|| self.read_failure(ModelPart::Ssh))
                    {
                        Some(e) => Tri::Unknown(format!(
                            "its ports come from the webGUI and SSH settings, which could not be read ({e})"
                        )),
                        None => Tri::No,
                    },
                    None => Tri::Unknown("the question gave no destination port".into()),
                };
                let m = Tri::from_bool(proto_ok).and(|| to_if).and(|| port_ok);
                let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                cands.push(fixed(
                    RuleOrigin::AntiLockout,
                    Action::Pass,
                    true,
                    Some(trackers::ANTI_LOCKOUT_FIRST),
                    &format!(
                        "Anti-Lockout Rule (tcp to {} address, ports {})",
                        t.descr,
                        list.join(" ")
                    ),
                    m,
                ));
            }
        }

        // User rules: floating, then group rules, then the interface's own (filter.inc: "The
        // order must be: Floating rules, then interface group and then regular ones").
        let active = self.rules.iter().filter(|r| !r.disabled);
        // Without the interface groups, a rule on a name that is no interface may be on a
        // group that holds this one: whether it applies is unknown.
        let maybe_on_group = |r: &Rule| -> Option<Tri> {
            let e = self.read_failure(ModelPart::InterfaceGroups)?;
            let name = r
                .interfaces
                .iter()
                .find(|i| *i != "any" && self.interface(i).is_none() && self.group(i).is_none())?;
            let on_group = Tri::Unknown(format!(
                "it is on `{name}`, which may be an interface group holding {id}; the interface groups could not be read ({e})"
            ));
            Some(on_group.and(|| self.rule_matches(r, q, src, dst, dport).0))
        };
        for r in active.clone().filter(|r| r.floating) {
            if r.direction != Direction::Any && r.direction != q.direction {
                continue;
            }
            if self.rule_applies_to_interface(r, &id) {
                cands.push(Candidate {
                    rule: self.user_ref(r, RuleOrigin::Floating),
                    user: Some(r),
                    fixed: None,
                });
            } else if let Some(m) = maybe_on_group(r) {
                cands.push(Candidate {
                    rule: self.user_ref(r, RuleOrigin::Floating),
                    user: None,
                    fixed: Some((m, None)),
                });
            }
        }
        if q.direction == Direction::In {
            let groups: Vec<&str> = self
                .groups_of(&id)
                .iter()
                .map(|g| g.name.as_str())
                .collect();
            for r in active.clone().filter(|r| !r.floating) {
                if r.interfaces.iter().any(|i| groups.contains(&i.as_str())) {
                    cands.push(Candidate {
                        rule: self.user_ref(r, RuleOrigin::Group),
                        user: Some(r),
                        fixed: None,
                    });
                } else if let Some(m) = maybe_on_group(r) {
                    cands.push(Candidate {
                        rule: self.user_ref(r, RuleOrigin::Group),
                        user: None,
                        fixed: Some((m, None)),
                    });
                }
            }
            for r in active.filter(|r| !r.floating) {
                if r.interfaces
                    .iter()
                    .any(|i| self.interface(i).is_some_and(|x| x.id == id))
                {
                    cands.push(Candidate {
                        rule: self.user_ref(r, RuleOrigin::Interface),
                        user: Some(r),
                        fixed: None,
                    });
                }
            }
        }

        // Walk in pf's order.
        let mut path = Vec::new();
        let mut decided: Option<usize> = None;
        let mut last_nonquick: Option<usize> = None;
        let mut uncertain: Vec<(usize, String)> = Vec::new();
        for (idx, c) in cands.iter().enumerate() {
            let (m, why) = match (&c.fixed, c.user) {
                (Some(f), _) => f.clone(),
                (None, Some(r)) => self.rule_matches(r, q, src, dst, dport),
                (None, None) => (Tri::No, None),
            };
            path.push(Step {
                rule: c.rule.clone(),
                matched: m.clone(),
                why,
            });
            match m {
                Tri::Yes if c.rule.quick => {
                    decided = Some(idx);
                    break;
                }
                Tri::Yes => last_nonquick = Some(idx),
                Tri::No => {}
                Tri::Unknown(r) => uncertain.push((idx, r)),
            }
        }
        let decider = decided.or(last_nonquick).unwrap_or(0);
        let decided_by = cands[decider].rule.clone();
        let mut could_also_be = Vec::new();
        for (idx, reason) in &uncertain {
            let c = &cands[*idx].rule;
            let matters = if decided.is_some() {
                c.quick && *idx < decider
            } else {
                c.quick || *idx > decider
            };
            if matters {
                unknowns.push(format!("{} ({}): {reason}", c.descr, c.origin_label()));
                if c.action != decided_by.action && !could_also_be.contains(&c.action) {
                    could_also_be.push(c.action);
                }
            }
        }
        if maybe_forwarded {
            let other = match decided_by.action {
                Action::Pass => Action::Block,
                Action::Block | Action::Reject => Action::Pass,
            };
            if !could_also_be.contains(&other) {
                could_also_be.push(other);
            }
        }
        let verdict = if could_also_be.is_empty() {
            Verdict::from(decided_by.action)
        } else {
            Verdict::Unknown
        };
        Ok(Explanation {
            verdict,
            decided_by,
            could_also_be,
            interface: id,
            translation,
            path,
            unknowns,
            assumptions,
        })
    }
}

impl RuleRef {
    fn origin_label(&self) -> String {
        match (self.origin, self.position) {
            (o, Some(p)) if o.is_user() => format!("rule #{p}"),
            _ => serde_json::to_value(self.origin)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        }
    }
}

impl Explanation {
    /// A short Markdown answer for a person.
    pub fn markdown(&self, q: &Query) -> String {
        let mut s = String::new();
        let port = |p: Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        let verdict = match self.verdict {
            Verdict::Pass => "**passed**",
            Verdict::Block => "**blocked**",
            Verdict::Reject => "**rejected**",
            Verdict::Unknown => "**cannot be decided from what the API shows**",
        };
        s.push_str(&format!(
            "{} {}{} → {}{} ({}, {} on {}) is {verdict}",
            q.protocol.to_ascii_uppercase(),
            q.src,
            port(q.src_port),
            q.dst,
            port(q.dst_port),
            q.protocol,
            if q.direction == Direction::In {
                "in"
            } else {
                "out"
            },
            self.interface
        ));
        let d = &self.decided_by;
        let tracker = d
            .tracker
            .map(|t| format!(", tracker {t}"))
            .unwrap_or_default();
        let pos = d.position.map(|p| format!(" #{p}")).unwrap_or_default();
        // The origin's name (`interface`, `floating`, `bogons`, …), not `origin_label`, which
        // already says `rule #N` for user rules.
        let origin = serde_json::to_value(d.origin)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default();
        // An undecided answer names the rule that decides when the unknown matches do not
        // apply (said below), not a rule that decided.
        let by = if self.verdict == Verdict::Unknown {
            "; without the unknown matches it falls to"
        } else {
            " by"
        };
        s.push_str(&format!(
            "{by} {origin} rule{pos} \"{}\"{tracker}.\n",
            d.descr
        ));
        if self.verdict == Verdict::Unknown {
            let alts: Vec<&str> = self.could_also_be.iter().map(|a| a.as_str()).collect();
            s.push_str(&format!(
                "\nIf the unknown matches below do not apply it is {}; otherwise {}.\n",
                d.action.as_str(),
                alts.join(" or ")
            ));
        }
        if let Some(t) = &self.translation {
            let mut by = t.describe();
            by[..1].make_ascii_uppercase();
            s.push_str(&format!(
                "\n{by} redirects {}{} to {}{}.\n",
                t.original_dst,
                port(t.original_dst_port),
                t.dst,
                port(t.dst_port)
            ));
        }
        if !self.unknowns.is_empty() {
            s.push_str("\nCannot know:\n");
            for u in &self.unknowns {
                s.push_str(&format!("- {u}\n"));
            }
        }
        s
    }
}
