//! Does an address or port belong to a rule's source/destination? Three answers: yes, no, or
//! unknown with the reason (a URL table, an FQDN, a DHCP address the API did not report).

use crate::model::{AliasKind, FirewallModel, ModelPart, PortSpec, Target};
use ipnet::IpNet;
use serde::Serialize;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "answer", content = "reason", rename_all = "lowercase")]
pub enum Tri {
    Yes,
    No,
    Unknown(String),
}

impl Tri {
    pub fn from_bool(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }

    pub fn negated(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            u => u,
        }
    }

    /// Logical and: a definite "no" wins over an unknown.
    pub fn and(self, other: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::No => Tri::No,
            Tri::Yes => other(),
            Tri::Unknown(r) => match other() {
                Tri::No => Tri::No,
                _ => Tri::Unknown(r),
            },
        }
    }
}

/// Nested aliases deeper than this are reported as unknown (pfSense itself refuses loops).
const MAX_ALIAS_DEPTH: usize = 16;

/// The addresses an alias stands for, and what of it cannot be known.
#[derive(Debug, Default, Clone)]
pub struct ResolvedAlias {
    pub nets: Vec<IpNet>,
    pub ranges: Vec<(IpAddr, IpAddr)>,
    pub unknown: Vec<String>,
}

impl ResolvedAlias {
    fn contains(&self, ip: &IpAddr) -> Tri {
        if self.nets.iter().any(|n| n.contains(ip))
            || self.ranges.iter().any(|(a, b)| a <= ip && ip <= b)
        {
            return Tri::Yes;
        }
        match self.unknown.first() {
            Some(r) => Tri::Unknown(r.clone()),
            None => Tri::No,
        }
    }
}

impl FirewallModel {
    /// Resolves a host/network alias, following nested aliases.
    pub fn resolve_alias(&self, name: &str) -> ResolvedAlias {
        let mut out = ResolvedAlias::default();
        self.resolve_into(name, 0, &mut out);
        out
    }

    fn resolve_into(&self, name: &str, depth: usize, out: &mut ResolvedAlias) {
        let Some(alias) = self.alias(name) else {
            out.unknown.push(format!("alias `{name}` does not exist"));
            return;
        };
        if depth > MAX_ALIAS_DEPTH {
            out.unknown.push(format!(
                "alias `{name}` nests deeper than {MAX_ALIAS_DEPTH} levels"
            ));
            return;
        }
        if alias.kind.is_downloaded() {
            out.unknown.push(format!(
                "alias `{name}` is a URL table: its addresses are downloaded by the firewall and the API does not show them"
            ));
            return;
        }
        if alias.kind.is_port() {
            out.unknown
                .push(format!("alias `{name}` is a port alias used as an address"));
            return;
        }
        for entry in &alias.entries {
            let e = entry.trim();
            if let Ok(ip) = IpAddr::from_str(e) {
                out.nets.push(IpNet::from(ip));
            } else if let Ok(net) = IpNet::from_str(e) {
                out.nets.push(net.trunc());
            } else if let Some((a, b)) = e.split_once('-')
                && let (Ok(a), Ok(b)) = (IpAddr::from_str(a.trim()), IpAddr::from_str(b.trim()))
            {
                out.ranges.push((a.min(b), a.max(b)));
            } else if self.alias(e).is_some() {
                self.resolve_into(e, depth + 1, out);
            } else if matches!(alias.kind, AliasKind::Host | AliasKind::Network) && e.contains('.')
            {
                out.unknown.push(format!(
                    "alias `{name}` holds the host name `{e}`, resolved by the firewall at run time"
                ));
            } else {
                out.unknown.push(format!(
                    "alias `{name}` holds `{e}`, which is not an address"
                ));
            }
        }
    }

    /// The port ranges a port alias stands for, and what cannot be known.
    pub fn resolve_port_alias(&self, name: &str) -> (Vec<(u16, u16)>, Vec<String>) {
        let mut ranges = Vec::new();
        let mut unknown = Vec::new();
        self.resolve_ports_into(name, 0, &mut ranges, &mut unknown);
        (ranges, unknown)
    }

    fn resolve_ports_into(
        &self,
        name: &str,
        depth: usize,
        ranges: &mut Vec<(u16, u16)>,
        unknown: &mut Vec<String>,
    ) {
        let Some(alias) = self.alias(name) else {
            unknown.push(format!("port alias `{name}` does not exist"));
            return;
        };
        if depth > MAX_ALIAS_DEPTH || alias.kind.is_downloaded() {
            unknown.push(format!(
                "port alias `{name}` cannot be resolved from the API"
            ));
            return;
        }
        for entry in &alias.entries {
            match self.parse_port(Some(entry)) {
                PortSpec::Single(p) => ranges.push((p, p)),
                PortSpec::Range(a, b) => ranges.push((a, b)),
                PortSpec::Alias(n) => self.resolve_ports_into(&n, depth + 1, ranges, unknown),
                PortSpec::Any => ranges.push((0, u16::MAX)),
                PortSpec::Unresolved(v) => unknown.push(format!(
                    "port alias `{name}` holds `{v}`, which is not a port"
                )),
            }
        }
    }

    /// Whether an enabled interface or a virtual IP holds the address (loopback aside). A
    /// disabled interface holds none: pfSense brings it down with its addresses.
    pub fn holds_address(&self, ip: &IpAddr) -> bool {
        self.interfaces
            .iter()
            .any(|i| i.enabled && i.addresses().contains(ip))
            || self.virtual_addresses.contains(ip)
    }

    /// Every address of the firewall as far as the model knows them, for `(self)`.
    fn self_contains(&self, ip: &IpAddr) -> Tri {
        if ip.is_loopback() {
            return Tri::Yes;
        }
        if self.holds_address(ip) {
            return Tri::Yes;
        }
        if let Some(i) = self
            .interfaces
            .iter()
            .find(|i| i.enabled && i.address_unknown(ip.is_ipv6()))
        {
            return Tri::Unknown(format!(
                "interface {} gets its address dynamically and the API did not report it",
                i.id
            ));
        }
        if let Some(e) = self.read_failure(ModelPart::VirtualIps) {
            return Tri::Unknown(format!(
                "the virtual IPs, which are the firewall's addresses too, could not be read ({e})"
            ));
        }
        Tri::No
    }

    /// Does `ip` belong to the target (before negation)?
    pub fn target_contains(&self, target: &Target, ip: &IpAddr) -> Tri {
        match target {
            Target::Any => Tri::Yes,
            Target::Ip(a) => Tri::from_bool(a == ip),
            Target::Net(n) => Tri::from_bool(n.contains(ip)),
            Target::Alias(name) => self.resolve_alias(name).contains(ip),
            Target::InterfaceNet(id) | Target::InterfaceAddress(id) => {
                let Some(iface) = self.interface(id) else {
                    return Tri::Unknown(format!("interface `{id}` does not exist"));
                };
                let hit = match target {
                    Target::InterfaceNet(_) => iface.networks().iter().any(|n| n.contains(ip)),
                    _ => iface.addresses().contains(ip),
                };
                // An address another interface holds (or a virtual IP) is not this one's,
                // whatever it gets dynamically.
                let held_elsewhere =
                    || {
                        matches!(target, Target::InterfaceAddress(_))
                            && (self.interfaces.iter().any(|other| {
                                other.id != iface.id && other.addresses().contains(ip)
                            }) || self.virtual_addresses.contains(ip))
                    };
                if hit {
                    Tri::Yes
                } else if iface.address_unknown(ip.is_ipv6()) && !held_elsewhere() {
                    Tri::Unknown(format!(
                        "interface {id} gets its address dynamically and the API did not report it"
                    ))
                } else {
                    Tri::No
                }
            }
            Target::SelfAddresses => self.self_contains(ip),
            Target::Special(s) => Tri::Unknown(format!("`{s}` clients are not modelled")),
            Target::Unresolved(s) => {
                Tri::Unknown(format!("`{s}` is not an address, alias or interface"))
            }
        }
    }

    /// Does `port` (None when the query did not give one) match the spec?
    pub fn port_matches(&self, spec: &PortSpec, port: Option<u16>) -> Tri {
        if *spec == PortSpec::Any {
            return Tri::Yes;
        }
        let Some(port) = port else {
            return Tri::Unknown("the rule matches on a port and the question gave none".into());
        };
        match spec {
            PortSpec::Any => Tri::Yes,
            PortSpec::Single(p) => Tri::from_bool(*p == port),
            PortSpec::Range(a, b) => Tri::from_bool(*a <= port && port <= *b),
            PortSpec::Alias(name) => {
                let (ranges, unknown) = self.resolve_port_alias(name);
                if ranges.iter().any(|(a, b)| *a <= port && port <= *b) {
                    Tri::Yes
                } else if let Some(r) = unknown.into_iter().next() {
                    Tri::Unknown(r)
                } else {
                    Tri::No
                }
            }
            PortSpec::Unresolved(v) => Tri::Unknown(format!("`{v}` is not a port")),
        }
    }
}
