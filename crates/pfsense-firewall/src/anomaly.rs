//! Rule anomalies after Al-Shaer and Hamed ("Firewall policy advisor for anomaly discovery and
//! rule editing", 2003): for two rules `Ri` before `Rj` in pf's order,
//!
//! - shadowing: `Rj ⊆ Ri` and the actions differ (`Rj` never matches);
//! - redundancy: the same action and `Rj ⊆ Ri` (`Rj` never matches and would do the same), or
//!   `Ri ⊆ Rj` with no rule between them that overlaps `Ri` with another action (removing `Ri`
//!   changes nothing);
//! - generalisation: `Ri ⊊ Rj` and the actions differ (an exception above a broader rule);
//! - correlation: `Ri` and `Rj` overlap, neither contains the other, and the actions differ (the
//!   order decides the overlap).
//!
//! A rule is the set of packets it matches: interfaces × direction × schedule × protocol (with the
//! ports of TCP/UDP and the ICMP types) × source × destination, the address family folded into
//! the addresses. Every answer is three-valued: a dimension the API does not let us resolve (a
//! URL table alias, `(self)`, a DHCP address the API did not report, a schedule, TCP flags) makes
//! a relation unknown unless the other dimensions already decide it.
//!
//! Scope: the user rules pfSense evaluates first-match (`quick`): every interface and group rule,
//! and floating rules marked quick, in pfSense's order (floating, then group, then interface
//! rules; filter.inc). Floating rules that are not quick (last match wins) are not compared; one
//! that overlaps another rule makes the checks unknown. pfrest does not show the GUI-only match
//! options `tagged` and `os`: rules are compared on the fields the API shows.

use crate::matching::Tri;
use crate::model::{Action, Direction, FirewallModel, IpFamily, PortSpec, Rule, Target};
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Shadowed,
    Redundant,
    Correlated,
    Generalised,
}

/// One anomaly between two rules (positions are the API ids).
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub kind: Kind,
    /// The rule the finding is about: the shadowed, redundant, or later (broader/overlapping) one.
    pub rule: usize,
    /// The other rule: the one that shadows/covers it, or the earlier one.
    pub other: usize,
    pub explanation: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    pub anomalies: Vec<Anomaly>,
    /// Per kind, why some pairs could not be decided.
    pub undecided: Vec<(Kind, String)>,
    /// Rules compared.
    pub compared: usize,
}

impl Analysis {
    pub fn of(&self, kind: Kind) -> (Vec<&Anomaly>, Vec<&str>) {
        let found = self.anomalies.iter().filter(|a| a.kind == kind).collect();
        let mut why: Vec<&str> = self
            .undecided
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, w)| w.as_str())
            .collect();
        why.sort_unstable();
        why.dedup();
        (found, why)
    }
}

/// A set of integers as sorted, disjoint, non-adjacent closed intervals.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iv(Vec<(u128, u128)>);

impl Iv {
    fn new(mut v: Vec<(u128, u128)>) -> Iv {
        v.sort_unstable();
        let mut out: Vec<(u128, u128)> = Vec::new();
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Iv(out)
    }

    fn range(a: u128, b: u128) -> Iv {
        Iv(vec![(a, b)])
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn intersect(&self, o: &Iv) -> Iv {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            for &(c, d) in &o.0 {
                let (lo, hi) = (a.max(c), b.min(d));
                if lo <= hi {
                    out.push((lo, hi));
                }
            }
        }
        Iv::new(out)
    }

    /// `self \ o`.
    fn minus(&self, o: &Iv) -> Iv {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            let mut lo = a;
            let mut done = false;
            for &(c, d) in &o.0 {
                if d < lo || c > b {
                    continue;
                }
                if c > lo {
                    out.push((lo, c - 1));
                }
                if d >= b {
                    done = true;
                    break;
                }
                lo = d + 1;
            }
            if !done {
                out.push((lo, b));
            }
        }
        Iv::new(out)
    }

    fn subset_of(&self, o: &Iv) -> bool {
        self.minus(o).is_empty()
    }
}

/// One dimension of a rule: a known set, or a set the API does not let us know, with a known
/// envelope (what it is at most) and a key (two opaque sets with the same key are equal).
#[derive(Debug, Clone)]
enum Dim {
    Known(Iv),
    Opaque {
        key: String,
        envelope: Iv,
        nonempty: bool,
        why: String,
    },
}

impl Dim {
    fn envelope(&self) -> &Iv {
        match self {
            Dim::Known(s) => s,
            Dim::Opaque { envelope, .. } => envelope,
        }
    }

    fn subset(&self, o: &Dim) -> Tri {
        match (self, o) {
            (Dim::Known(a), Dim::Known(b)) => Tri::from_bool(a.subset_of(b)),
            (Dim::Opaque { key: x, .. }, Dim::Opaque { key: y, .. }) if x == y => Tri::Yes,
            (Dim::Opaque { envelope, why, .. }, Dim::Known(b)) => {
                if envelope.subset_of(b) {
                    Tri::Yes
                } else {
                    Tri::Unknown(why.clone())
                }
            }
            (Dim::Known(a), Dim::Opaque { why, .. }) => {
                if a.is_empty() {
                    Tri::Yes
                } else {
                    Tri::Unknown(why.clone())
                }
            }
            (Dim::Opaque { envelope, why, .. }, Dim::Opaque { .. }) => {
                if envelope.is_empty() {
                    Tri::Yes
                } else {
                    Tri::Unknown(why.clone())
                }
            }
        }
    }

    fn intersects(&self, o: &Dim) -> Tri {
        if self.envelope().intersect(o.envelope()).is_empty() {
            return Tri::No;
        }
        match (self, o) {
            (Dim::Known(_), Dim::Known(_)) => Tri::Yes,
            (
                Dim::Opaque {
                    key: x,
                    nonempty,
                    why,
                    ..
                },
                Dim::Opaque { key: y, .. },
            ) if x == y => {
                if *nonempty {
                    Tri::Yes
                } else {
                    Tri::Unknown(why.clone())
                }
            }
            (
                Dim::Opaque {
                    envelope,
                    nonempty: true,
                    ..
                },
                Dim::Known(b),
            )
            | (
                Dim::Known(b),
                Dim::Opaque {
                    envelope,
                    nonempty: true,
                    ..
                },
            ) if envelope.subset_of(b) => Tri::Yes,
            (Dim::Opaque { why, .. }, _) | (_, Dim::Opaque { why, .. }) => {
                Tri::Unknown(why.clone())
            }
        }
    }

    fn is_known_empty(&self) -> bool {
        self.envelope().is_empty()
    }
}

fn or(a: Tri, b: impl FnOnce() -> Tri) -> Tri {
    match a {
        Tri::Yes => Tri::Yes,
        Tri::No => b(),
        Tri::Unknown(r) => match b() {
            Tri::Yes => Tri::Yes,
            _ => Tri::Unknown(r),
        },
    }
}

/// `a ⇒ b`.
fn implies(a: Tri, b: impl FnOnce() -> Tri) -> Tri {
    or(a.negated(), b)
}

const V4_BASE: u128 = 0xffff_0000_0000;
const V4_MAX: u128 = V4_BASE + u32::MAX as u128;

fn ip_num(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => V4_BASE + u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

fn net_iv(net: &ipnet::IpNet) -> (u128, u128) {
    (ip_num(&net.network()), ip_num(&net.broadcast()))
}

fn family_universe(f: IpFamily) -> Iv {
    let v4 = Iv::range(V4_BASE, V4_MAX);
    match f {
        IpFamily::Inet => v4,
        IpFamily::Inet6 => Iv::range(0, u128::MAX).minus(&v4),
        IpFamily::Inet46 => Iv::range(0, u128::MAX),
    }
}

const TCP: u128 = 6;
const UDP: u128 = 17;
const ICMP: u128 = 1;

/// A rule as a set of packets.
struct Space {
    position: usize,
    action: String,
    ifaces: Dim,
    dirs: Dim,
    sched: Dim,
    protos: Dim,
    sports: Dim,
    dports: Dim,
    icmp: Dim,
    src: Dim,
    dst: Dim,
    /// Match conditions the model leaves out (TCP flags): the rule matches less than its set.
    narrowed: Option<String>,
}

impl Space {
    fn dims(&self) -> [&Dim; 9] {
        [
            &self.ifaces,
            &self.dirs,
            &self.sched,
            &self.protos,
            &self.sports,
            &self.dports,
            &self.icmp,
            &self.src,
            &self.dst,
        ]
    }

    /// `self ⊆ o`.
    fn subset(&self, o: &Space) -> Tri {
        let base = self
            .ifaces
            .subset(&o.ifaces)
            .and(|| self.dirs.subset(&o.dirs))
            .and(|| self.sched.subset(&o.sched))
            .and(|| self.protos.subset(&o.protos))
            .and(|| self.src.subset(&o.src))
            .and(|| self.dst.subset(&o.dst))
            .and(|| {
                implies(
                    self.protos
                        .intersects(&Dim::Known(Iv::new(vec![(TCP, TCP), (UDP, UDP)]))),
                    || {
                        self.sports
                            .subset(&o.sports)
                            .and(|| self.dports.subset(&o.dports))
                    },
                )
            })
            .and(|| {
                implies(
                    self.protos.intersects(&Dim::Known(Iv::range(ICMP, ICMP))),
                    || self.icmp.subset(&o.icmp),
                )
            });
        match (base, &o.narrowed) {
            (Tri::Yes, Some(why)) => Tri::Unknown(why.clone()),
            (t, _) => t,
        }
    }

    fn intersects(&self, o: &Space) -> Tri {
        let common = match (&self.protos, &o.protos) {
            (Dim::Known(a), Dim::Known(b)) => Some(a.intersect(b)),
            _ => None,
        };
        let proto_part = match common {
            None => self.protos.intersects(&o.protos).and(|| {
                Tri::Unknown("a protocol this analysis does not know is compared to another".into())
            }),
            Some(c) if c.is_empty() => Tri::No,
            Some(c) => {
                let ports = Iv::new(vec![(TCP, TCP), (UDP, UDP)]);
                let icmp = Iv::range(ICMP, ICMP);
                let other = !c.minus(&ports).minus(&icmp).is_empty();
                if other {
                    Tri::Yes
                } else {
                    let via_ports = Tri::from_bool(!c.intersect(&ports).is_empty())
                        .and(|| self.sports.intersects(&o.sports))
                        .and(|| self.dports.intersects(&o.dports));
                    or(via_ports, || {
                        Tri::from_bool(!c.intersect(&icmp).is_empty())
                            .and(|| self.icmp.intersects(&o.icmp))
                    })
                }
            }
        };
        let t = self
            .ifaces
            .intersects(&o.ifaces)
            .and(|| self.dirs.intersects(&o.dirs))
            .and(|| self.sched.intersects(&o.sched))
            .and(|| self.src.intersects(&o.src))
            .and(|| self.dst.intersects(&o.dst))
            .and(|| proto_part);
        match (t, self.narrowed.as_ref().or(o.narrowed.as_ref())) {
            (Tri::Yes, Some(why)) => Tri::Unknown(why.clone()),
            (t, _) => t,
        }
    }
}

fn opaque(key: String, envelope: Iv, nonempty: bool, why: String) -> Dim {
    Dim::Opaque {
        key,
        envelope,
        nonempty,
        why,
    }
}

impl FirewallModel {
    /// The rule anomalies among the enabled user rules (see the module documentation). Fields
    /// the model leaves out (gateway, limiters, queues, TCP flags) are read from the API answer
    /// the model was built from (`self.source.rules`).
    pub fn rule_anomalies(&self) -> Analysis {
        let raw: Vec<Value> = self.source.rules.as_array().cloned().unwrap_or_default();
        let mut analysis = Analysis::default();
        let mut quick: Vec<(u8, usize, &Rule, Option<&Value>)> = Vec::new();
        let mut lazy: Vec<(&Rule, Option<&Value>)> = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if r.disabled {
                continue;
            }
            let raw_rule = raw.get(i);
            if r.floating && !r.quick {
                lazy.push((r, raw_rule));
                continue;
            }
            let category = if r.floating {
                0
            } else if r.interfaces.iter().any(|n| self.group(n).is_some()) {
                1
            } else {
                2
            };
            quick.push((category, i, r, raw_rule));
        }
        // Within a category, the API's list order is pfSense's order.
        quick.sort_by_key(|(c, i, _, _)| (*c, *i));
        let mut spaces: Vec<Space> = Vec::new();
        for (_, _, r, raw_rule) in &quick {
            match self.space(r, *raw_rule) {
                Ok(s) => {
                    if s.dims().iter().any(|d| d.is_known_empty()) {
                        // Matches nothing (an empty alias, a negated `any`): PFS-ALIAS-003's
                        // concern, not an ordering anomaly.
                        continue;
                    }
                    spaces.push(s)
                }
                Err(why) => {
                    for k in ALL_KINDS {
                        analysis
                            .undecided
                            .push((k, format!("rule #{}: {why}", r.position)));
                    }
                }
            }
        }
        analysis.compared = spaces.len();
        for j in 0..spaces.len() {
            for i in 0..j {
                self.compare(&spaces, i, j, &mut analysis);
            }
        }
        for (r, raw_rule) in lazy {
            let Ok(l) = self.space(r, raw_rule) else {
                continue;
            };
            if spaces.iter().any(|s| !matches!(s.intersects(&l), Tri::No)) {
                for k in ALL_KINDS {
                    analysis.undecided.push((
                        k,
                        format!(
                            "floating rule #{} is not quick (the last match wins), which this analysis does not order",
                            r.position
                        ),
                    ));
                }
            }
        }
        analysis
    }

    fn compare(&self, spaces: &[Space], i: usize, j: usize, out: &mut Analysis) {
        let (ri, rj) = (&spaces[i], &spaces[j]);
        let same = ri.action == rj.action;
        let j_in_i = rj.subset(ri);
        let mut note = |kind: Kind, t: Tri, rule: usize, other: usize, explanation: String| match t
        {
            Tri::Yes => out.anomalies.push(Anomaly {
                kind,
                rule,
                other,
                explanation,
            }),
            Tri::No => {}
            Tri::Unknown(why) => out.undecided.push((
                kind,
                format!("rules #{} and #{}: {why}", ri.position, rj.position),
            )),
        };
        if same {
            if matches!(j_in_i, Tri::Yes) {
                note(
                    Kind::Redundant,
                    Tri::Yes,
                    rj.position,
                    ri.position,
                    format!(
                        "every packet it matches is matched first by rule #{} with the same action ({})",
                        ri.position, ri.action
                    ),
                );
                return;
            }
            // Ri ⊊ Rj and nothing in between overlaps Ri with another action.
            let i_in_j = ri.subset(rj);
            let t = j_in_i.clone().negated().and(|| i_in_j).and(|| {
                let mut acc = Tri::Yes;
                for k in &spaces[i + 1..j] {
                    if k.action != ri.action {
                        acc = acc.and(|| k.intersects(ri).negated());
                    }
                }
                acc
            });
            note(
                Kind::Redundant,
                or(j_in_i, || t),
                ri.position,
                rj.position,
                format!(
                    "the later rule #{} matches all of it with the same action ({}) and no rule in between decides otherwise",
                    rj.position, ri.action
                ),
            );
            return;
        }
        note(
            Kind::Shadowed,
            j_in_i.clone(),
            rj.position,
            ri.position,
            format!(
                "never matches: rule #{} above it matches all its packets and acts differently ({} before {})",
                ri.position, ri.action, rj.action
            ),
        );
        if matches!(j_in_i, Tri::Yes) {
            return;
        }
        let i_in_j = ri.subset(rj);
        note(
            Kind::Generalised,
            i_in_j.clone().and(|| j_in_i.clone().negated()),
            rj.position,
            ri.position,
            format!(
                "broader than rule #{} above it, which acts differently on part of its packets ({} before {})",
                ri.position, ri.action, rj.action
            ),
        );
        let t = ri
            .intersects(rj)
            .and(|| i_in_j.negated())
            .and(|| j_in_i.negated());
        note(
            Kind::Correlated,
            t,
            rj.position,
            ri.position,
            format!(
                "overlaps rule #{} above it in part, with another action ({} before {}): the order decides the overlap",
                ri.position, ri.action, rj.action
            ),
        );
    }

    fn space(&self, r: &Rule, raw: Option<&Value>) -> Result<Space, String> {
        if self
            .issues
            .iter()
            .any(|i| i.object == format!("FirewallRule[{}]", r.position) && (i.field == "type"))
        {
            return Err("its action is not pass, block or reject".into());
        }
        let text = |f: &str| {
            raw.and_then(|v| v.get(f))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let action = match r.action {
            Action::Pass => {
                let mut a = "pass".to_string();
                for (field, label) in [
                    ("gateway", "gateway"),
                    ("dnpipe", "limiter"),
                    ("pdnpipe", "limiter"),
                    ("defaultqueue", "queue"),
                    ("ackqueue", "queue"),
                ] {
                    if let Some(v) = text(field) {
                        a.push_str(&format!(" ({label} {v})"));
                    }
                }
                a
            }
            Action::Block | Action::Reject => "block/reject".to_string(),
        };
        let narrowed = {
            let flags_any = raw
                .and_then(|v| v.get("tcp_flags_any"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            // pfSense writes flags for protocol `tcp` only (model.rs, `Rule::tcp_flags`).
            (r.protocol.as_deref() == Some("tcp")
                && (flags_any
                    || text("tcp_flags_set").is_some()
                    || text("tcp_flags_out_of").is_some()))
            .then(|| {
                format!(
                    "rule #{} matches TCP flags, which this analysis does not model",
                    r.position
                )
            })
        };
        let n = self.interfaces.len() as u128;
        let ifaces = if r.floating
            && (r.interfaces.is_empty() || r.interfaces.iter().any(|i| i == "any"))
        {
            Dim::Known(Iv::range(0, n.max(1) - 1))
        } else {
            let mut idx = Vec::new();
            let mut bad = None;
            for name in &r.interfaces {
                if let Some(pos) = self
                    .interface(name)
                    .and_then(|x| self.interfaces.iter().position(|y| y.id == x.id))
                {
                    idx.push((pos as u128, pos as u128));
                } else if let Some(g) = self.group(name) {
                    for m in &g.members {
                        match self
                            .interface(m)
                            .and_then(|x| self.interfaces.iter().position(|y| y.id == x.id))
                        {
                            Some(p) => idx.push((p as u128, p as u128)),
                            None => {
                                bad = Some(format!(
                                    "interface group `{name}` names `{m}`, which is not an interface"
                                ))
                            }
                        }
                    }
                } else {
                    bad = Some(format!(
                        "rule #{} is on `{name}`, which is neither an interface nor a group",
                        r.position
                    ));
                }
            }
            match bad {
                None => Dim::Known(Iv::new(idx)),
                Some(why) => opaque(
                    format!("iface:{:?}", r.interfaces),
                    Iv::range(0, n.max(1) - 1),
                    false,
                    why,
                ),
            }
        };
        let dirs = Dim::Known(match r.direction {
            Direction::In => Iv::range(0, 0),
            Direction::Out => Iv::range(1, 1),
            Direction::Any => Iv::range(0, 1),
        });
        let sched = match &r.schedule {
            None => Dim::Known(Iv::range(0, 0)),
            Some(s) => opaque(
                format!("sched:{s}"),
                Iv::range(0, 0),
                true,
                format!(
                    "rule #{} applies only during schedule `{s}`, which the audit does not read",
                    r.position
                ),
            ),
        };
        let protos = match r.protocol.as_deref() {
            None | Some("any") | Some("") => Dim::Known(Iv::range(0, 255)),
            Some("tcp/udp") => Dim::Known(Iv::new(vec![(TCP, TCP), (UDP, UDP)])),
            Some(p) => match crate::model::PROTOCOL_NUMBERS.iter().find(|(n, _)| *n == p) {
                Some((_, num)) => Dim::Known(Iv::range(u128::from(*num), u128::from(*num))),
                None => opaque(
                    format!("proto:{p}"),
                    Iv::range(0, 255),
                    true,
                    format!(
                        "rule #{}: protocol `{p}` is not one this analysis knows",
                        r.position
                    ),
                ),
            },
        };
        let sports = self.port_dim(&r.source_port, r.position);
        let dports = self.port_dim(&r.destination_port, r.position);
        let icmp = if r.icmptypes.is_empty() || r.icmptypes.iter().any(|t| t == "any") {
            Dim::Known(Iv::range(0, u128::MAX))
        } else {
            let mut types = r.icmptypes.clone();
            types.sort();
            opaque(
                format!("icmp:{types:?}"),
                Iv::range(0, u128::MAX),
                true,
                format!(
                    "rule #{} matches ICMP types {}, which this analysis compares only when equal",
                    r.position,
                    types.join(",")
                ),
            )
        };
        let family = family_universe(r.ipprotocol);
        let src = self.address_dim(&r.source, &family, r.position);
        let dst = self.address_dim(&r.destination, &family, r.position);
        Ok(Space {
            position: r.position,
            action,
            ifaces,
            dirs,
            sched,
            protos,
            sports,
            dports,
            icmp,
            src,
            dst,
            narrowed,
        })
    }

    fn port_dim(&self, spec: &PortSpec, position: usize) -> Dim {
        let full = Iv::range(0, 65_535);
        match spec {
            PortSpec::Any => Dim::Known(full),
            PortSpec::Single(p) => Dim::Known(Iv::range(*p as u128, *p as u128)),
            PortSpec::Range(a, b) => Dim::Known(Iv::range(*a as u128, *b as u128)),
            PortSpec::Alias(name) => {
                let (ranges, unknown) = self.resolve_port_alias(name);
                match unknown.into_iter().next() {
                    None => Dim::Known(Iv::new(
                        ranges
                            .into_iter()
                            .map(|(a, b)| (a as u128, b as u128))
                            .collect(),
                    )),
                    Some(why) => opaque(format!("port:{name}"), full, false, why),
                }
            }
            PortSpec::Unresolved(v) => opaque(
                format!("port:{v}"),
                full,
                false,
                format!("rule #{position}: `{v}` is not a port, range or port alias"),
            ),
        }
    }

    fn address_dim(&self, a: &crate::model::Address, family: &Iv, position: usize) -> Dim {
        let v4 = Iv::range(V4_BASE, V4_MAX);
        let needs_v4 = !family.intersect(&v4).is_empty();
        let needs_v6 = !family.minus(&v4).is_empty();
        let known: Result<Iv, (String, bool)> = match &a.target {
            Target::Any => Ok(Iv::range(0, u128::MAX)),
            Target::Ip(ip) => Ok(Iv::range(ip_num(ip), ip_num(ip))),
            Target::Net(n) => {
                let (lo, hi) = net_iv(n);
                Ok(Iv::range(lo, hi))
            }
            Target::Alias(name) => {
                let res = self.resolve_alias(name);
                match res.unknown.into_iter().next() {
                    None => Ok(Iv::new(
                        res.nets
                            .iter()
                            .map(net_iv)
                            .chain(res.ranges.iter().map(|(x, y)| (ip_num(x), ip_num(y))))
                            .collect(),
                    )),
                    Some(why) => Err((why, false)),
                }
            }
            Target::InterfaceNet(id) | Target::InterfaceAddress(id) => match self.interface(id) {
                None => Err((format!("interface `{id}` does not exist"), false)),
                Some(iface) => {
                    if (needs_v4 && iface.address_unknown(false))
                        || (needs_v6 && iface.address_unknown(true))
                    {
                        Err((
                            format!(
                                "interface {id} gets its address dynamically and the API did not report it"
                            ),
                            false,
                        ))
                    } else if matches!(a.target, Target::InterfaceNet(_)) {
                        Ok(Iv::new(iface.networks().iter().map(net_iv).collect()))
                    } else {
                        Ok(Iv::new(
                            iface
                                .addresses()
                                .iter()
                                .map(|ip| (ip_num(ip), ip_num(ip)))
                                .collect(),
                        ))
                    }
                }
            },
            Target::SelfAddresses => Err((
                "`(self)` also covers virtual IPs, which the audit does not read".into(),
                true,
            )),
            Target::Special(s) => Err((format!("`{s}` clients are not modelled"), false)),
            Target::Unresolved(s) => Err((
                format!("`{s}` is not an address, alias or interface"),
                false,
            )),
        };
        match known {
            Ok(set) => {
                let set = if a.negated {
                    family.minus(&set)
                } else {
                    family.intersect(&set)
                };
                Dim::Known(set)
            }
            Err((why, nonempty)) => opaque(
                format!(
                    "{}{}@{:?}",
                    if a.negated { "!" } else { "" },
                    a.raw,
                    family.0
                ),
                family.clone(),
                nonempty && !a.negated,
                format!("rule #{position}: {why}"),
            ),
        }
    }
}

const ALL_KINDS: [Kind; 4] = [
    Kind::Shadowed,
    Kind::Redundant,
    Kind::Correlated,
    Kind::Generalised,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_sets() {
        let a = Iv::new(vec![(0, 10), (20, 30)]);
        assert_eq!(a.minus(&Iv::range(5, 25)), Iv::new(vec![(0, 4), (26, 30)]));
        assert!(Iv::range(21, 29).subset_of(&a));
        assert!(!Iv::range(9, 21).subset_of(&a));
        assert!(a.intersect(&Iv::range(11, 19)).is_empty());
        assert_eq!(Iv::new(vec![(0, 4), (5, 9)]), Iv::range(0, 9));
        assert_eq!(
            Iv::range(0, u128::MAX).minus(&Iv::range(0, u128::MAX)),
            Iv(Vec::new())
        );
    }
}
