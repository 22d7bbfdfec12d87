//! Just enough of pf to evaluate the ruleset text pfSense's own `filter_configure()` writes
//! (`/tmp/rules.debug` in the pfrest lab's root) for one new inbound IPv4/IPv6 connection: the
//! reference the traffic evaluator of `pfsense-firewall` is checked against.
//!
//! Semantics (pf.conf(5), and pf's `pf_get_translation` for the order on the way in): translation
//! first, `rdr` and then `binat`, first match wins, a `no rdr`/`no binat` match translating
//! nothing (and leaving `binat` to be tried after `no rdr`); then every filter rule in
//! order, the last matching rule decides unless a matching `quick` rule decides at once; no
//! matching rule passes. `antispoof for IF` expands to `block in on ! IF from IF's networks` and
//! `block in from IF's addresses` (not quick). Rules that need a tag (`tagged`) or an ICMP type
//! never match the packets evaluated here. Anchors are taken as empty: pfSense writes user rules
//! inline, not into `userrules/*`. `persist file` tables are read from the lab's root.
//!
//! Anything this does not understand is an error naming the line, never a guess.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

/// One new connection arriving on an interface.
#[derive(Debug, Clone)]
pub struct Packet {
    /// The device it arrives on (`vtnet0`).
    pub device: String,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// `tcp`, `udp`, `icmp`.
    pub proto: String,
    pub dst_port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `pass` or `block` (pf's default, no rule matched, is `pass` with no rule).
    pub action: String,
    pub ridentifier: Option<u64>,
    pub label: Option<String>,
    /// The line of rules.debug that decided.
    pub line: Option<String>,
    /// Where `rdr` or `binat` sent the packet, if one did.
    pub translated: Option<(IpAddr, Option<u16>)>,
}

/// What the ruleset needs to know about the box that the text does not say.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// Device → its addresses with prefix lengths (`vtnet1` → `192.168.1.1/24`).
    pub addresses: HashMap<String, Vec<(IpAddr, u8)>>,
    /// Interface group name → member devices.
    pub groups: HashMap<String, Vec<String>>,
    /// The lab's root, for `persist file "/etc/bogons"` tables.
    pub root: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
enum Addr {
    Any,
    Net(IpAddr, u8),
    Table(String),
    /// `(vtnet1)`: the device's addresses.
    Device(String),
    /// `(self)`: every address of the box.
    SelfAddrs,
}

#[derive(Debug, Clone)]
struct AddrSpec {
    negated: bool,
    items: Vec<Addr>,
}

#[derive(Debug, Clone)]
enum Port {
    Eq(u16),
    Range(u16, u16),
}

#[derive(Debug, Clone)]
struct Rule {
    action: String,
    dir: Option<String>,
    quick: bool,
    on: Option<(bool, Vec<String>)>,
    af: Option<u8>,
    protos: Vec<String>,
    from: Option<AddrSpec>,
    from_ports: Vec<Port>,
    to: Option<AddrSpec>,
    to_ports: Vec<Port>,
    never: bool,
    ridentifier: Option<u64>,
    label: Option<String>,
    line: String,
    rdr_to: Option<(IpAddr, Option<u16>)>,
    /// The prefix length after the target (`-> 10.0.2.32/28`), which `binat` maps.
    target_len: Option<u8>,
    /// `bitmask`: an `rdr` to a network keeps the destination's host part.
    bitmask: bool,
}

pub struct Ruleset {
    tables: HashMap<String, Vec<(IpAddr, u8)>>,
    rdrs: Vec<Rule>,
    binats: Vec<Rule>,
    filters: Vec<Rule>,
    host: Host,
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut q = String::from("\"");
                for d in chars.by_ref() {
                    if d == '"' {
                        break;
                    }
                    q.push(d);
                }
                out.push(q);
            }
            '{' | '}' | ',' | '!' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
        None => (s, None),
    };
    let ip: IpAddr = a.parse().ok()?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    Some((ip, len.unwrap_or(full)))
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
        IpAddr::V6(v) => (u128::from(v), 128),
    }
}

fn net_contains(net: (IpAddr, u8), ip: IpAddr) -> bool {
    let (n, width) = bits(net.0);
    let (i, iw) = bits(ip);
    if width != iw {
        return false;
    }
    let len = u32::from(net.1.min(width));
    if len == 0 {
        return true;
    }
    let shift = u32::from(width) - len;
    (n >> shift) == (i >> shift)
}

struct Cursor {
    toks: Vec<String>,
    i: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.i).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    /// One item or a `{ a, b }` list.
    fn list(&mut self) -> Vec<String> {
        if self.peek() == Some("{") {
            self.i += 1;
            let mut v = Vec::new();
            while let Some(t) = self.next() {
                match t.as_str() {
                    "}" => break,
                    "," => {}
                    _ => v.push(t),
                }
            }
            v
        } else {
            self.next().into_iter().collect()
        }
    }
}

impl Ruleset {
    /// Parse rules.debug; macros are expanded as pfctl does.
    pub fn parse(text: &str, host: Host) -> Result<Ruleset, String> {
        let mut macros: HashMap<String, String> = HashMap::new();
        let mut set = Ruleset {
            tables: HashMap::new(),
            rdrs: Vec::new(),
            binats: Vec::new(),
            filters: Vec::new(),
            host,
        };
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            // Expand $macros (longest names first so $WAN__NETWORK is not read as $WAN).
            let mut expanded = line.to_string();
            if !line.contains(" = \"") {
                let mut names: Vec<&String> = macros.keys().collect();
                names.sort_by_key(|n| std::cmp::Reverse(n.len()));
                for n in names {
                    expanded = expanded.replace(&format!("${n}"), &macros[n]);
                }
            }
            let toks = tokenize(&expanded);
            let first = toks[0].as_str();
            if toks.len() >= 3 && toks[1] == "=" {
                macros.insert(toks[0].clone(), toks[2].trim_start_matches('"').to_string());
                continue;
            }
            match first {
                "table" => set.parse_table(&toks, line)?,
                "pass" | "block" => {
                    let r = parse_rule(toks, line, false)?;
                    set.filters.push(r);
                }
                "rdr" => {
                    let r = parse_rule(toks, line, true)?;
                    set.rdrs.push(r);
                }
                "binat" => {
                    let r = parse_rule(toks, line, true)?;
                    set.binats.push(r);
                }
                // `no rdr …`, `no binat …`: a match that translates nothing.
                "no" if matches!(toks.get(1).map(String::as_str), Some("rdr" | "binat")) => {
                    let kind = toks[1].clone();
                    let mut r = parse_rule(toks[1..].to_vec(), line, false)?;
                    r.action = format!("no {kind}");
                    if kind == "rdr" {
                        set.rdrs.push(r);
                    } else {
                        set.binats.push(r);
                    }
                }
                "antispoof" => set.antispoof(&toks, line)?,
                "set" | "scrub" | "anchor" | "nat-anchor" | "rdr-anchor" | "binat-anchor"
                | "no" | "nat" | "altq" | "queue" | "ether" => {}
                other => return Err(format!("rules.debug: `{other}` not understood: {line}")),
            }
        }
        Ok(set)
    }

    fn parse_table(&mut self, toks: &[String], line: &str) -> Result<(), String> {
        let name = toks
            .get(1)
            .map(|t| t.trim_matches(|c| c == '<' || c == '>').to_string())
            .ok_or_else(|| format!("table without a name: {line}"))?;
        let mut entries = Vec::new();
        let mut c = Cursor {
            toks: toks[2..].to_vec(),
            i: 0,
        };
        while let Some(t) = c.peek().map(str::to_string) {
            match t.as_str() {
                "persist" | "const" | "counters" => c.i += 1,
                "file" => {
                    c.i += 1;
                    let path = c.next().unwrap_or_default();
                    let path = path.trim_start_matches('"');
                    if let Some(root) = &self.host.root {
                        let file = root.join(path.trim_start_matches('/'));
                        if let Ok(body) = std::fs::read_to_string(&file) {
                            entries.extend(
                                body.lines()
                                    .map(|l| l.split('#').next().unwrap_or("").trim())
                                    .filter_map(parse_net),
                            );
                        }
                    }
                }
                "{" => {
                    for item in c.list() {
                        entries.push(
                            parse_net(&item)
                                .ok_or_else(|| format!("table entry `{item}`: {line}"))?,
                        );
                    }
                }
                _ => return Err(format!("table option `{t}` not understood: {line}")),
            }
        }
        self.tables.insert(name, entries);
        Ok(())
    }

    fn antispoof(&mut self, toks: &[String], line: &str) -> Result<(), String> {
        let mut c = Cursor {
            toks: toks[1..].to_vec(),
            i: 0,
        };
        let mut devices = Vec::new();
        let mut ridentifier = None;
        while let Some(t) = c.next() {
            match t.as_str() {
                "log" | "quick" | "inet" | "inet6" => {}
                "for" => devices = c.list(),
                "ridentifier" => ridentifier = c.next().and_then(|v| v.parse().ok()),
                other => return Err(format!("antispoof option `{other}`: {line}")),
            }
        }
        for d in devices {
            let addrs = self.host.addresses.get(&d).cloned().unwrap_or_default();
            let base = |on, from| Rule {
                action: "block".into(),
                dir: Some("in".into()),
                quick: false,
                on,
                af: None,
                protos: vec![],
                from: Some(from),
                from_ports: vec![],
                to: None,
                to_ports: vec![],
                never: false,
                ridentifier,
                label: Some(format!("antispoof for {d}")),
                line: line.to_string(),
                rdr_to: None,
                target_len: None,
                bitmask: false,
            };
            // block in on ! IF from IF's networks to any
            let nets: Vec<Addr> = addrs.iter().map(|&(ip, len)| Addr::Net(ip, len)).collect();
            self.filters.push(base(
                Some((true, vec![d.clone()])),
                AddrSpec {
                    negated: false,
                    items: nets,
                },
            ));
            // block in from IF's own addresses to any
            let own: Vec<Addr> = addrs
                .iter()
                .map(|&(ip, _)| Addr::Net(ip, if ip.is_ipv4() { 32 } else { 128 }))
                .collect();
            self.filters.push(base(
                None,
                AddrSpec {
                    negated: false,
                    items: own,
                },
            ));
        }
        Ok(())
    }

    fn addr_matches(&self, spec: &AddrSpec, ip: IpAddr) -> bool {
        let hit = spec.items.iter().any(|a| match a {
            Addr::Any => true,
            Addr::Net(n, l) => net_contains((*n, *l), ip),
            Addr::Table(t) => self
                .tables
                .get(t)
                .is_some_and(|e| e.iter().any(|n| net_contains(*n, ip))),
            Addr::Device(d) => self
                .host
                .addresses
                .get(d)
                .is_some_and(|a| a.iter().any(|(a, _)| *a == ip)),
            Addr::SelfAddrs => self
                .host
                .addresses
                .values()
                .flatten()
                .any(|(a, _)| *a == ip),
        });
        hit != spec.negated
    }

    fn on_matches(&self, on: &Option<(bool, Vec<String>)>, device: &str) -> bool {
        let Some((negated, names)) = on else {
            return true;
        };
        let hit = names.iter().any(|n| {
            n == device
                || self
                    .host
                    .groups
                    .get(n)
                    .is_some_and(|m| m.iter().any(|d| d == device))
        });
        hit != *negated
    }

    fn matches(&self, r: &Rule, p: &Packet) -> bool {
        if r.never || r.dir.as_deref() == Some("out") {
            return false;
        }
        if !self.on_matches(&r.on, &p.device) {
            return false;
        }
        let af = if p.src.is_ipv4() { 4 } else { 6 };
        if r.af.is_some_and(|a| a != af) {
            return false;
        }
        if !r.protos.is_empty() && !r.protos.contains(&p.proto) {
            return false;
        }
        if let Some(f) = &r.from
            && !self.addr_matches(f, p.src)
        {
            return false;
        }
        if let Some(t) = &r.to
            && !self.addr_matches(t, p.dst)
        {
            return false;
        }
        // Packets here carry no source port constraint: a rule on source ports matches only
        // port 0 rules' complement; treat any source-port rule as not matching.
        if !r.from_ports.is_empty() {
            return false;
        }
        if !r.to_ports.is_empty() {
            let Some(port) = p.dst_port else { return false };
            if !r.to_ports.iter().any(|q| match q {
                Port::Eq(n) => *n == port,
                Port::Range(a, b) => (*a..=*b).contains(&port),
            }) {
                return false;
            }
        }
        true
    }

    /// Whether an inbound packet meets a `binat` (or `no binat`) rule: pf matches its source
    /// against the rule's `to` and its destination against the external network after `->`.
    fn binat_matches(&self, r: &Rule, p: &Packet) -> bool {
        let af = if p.src.is_ipv4() { 4 } else { 6 };
        let external = r.rdr_to.zip(r.target_len).map(|((ip, _), len)| (ip, len));
        self.on_matches(&r.on, &p.device)
            && r.af.is_none_or(|a| a == af)
            && (r.protos.is_empty() || r.protos.contains(&p.proto))
            && r.to.as_ref().is_none_or(|t| self.addr_matches(t, p.src))
            && external.is_none_or(|n| net_contains(n, p.dst))
    }

    /// The decision pf would make for `p`.
    pub fn evaluate(&self, p: &Packet) -> Decision {
        let mut p = p.clone();
        let mut translated = None;
        let rdr = self.rdrs.iter().find(|r| self.matches(r, &p));
        if let Some(r) = rdr.filter(|r| r.action == "rdr") {
            let (ip, port) = r.rdr_to.expect("rdr rules carry a target");
            p.dst = match (r.bitmask, r.target_len) {
                (true, Some(len)) => with_host_part(ip, len, p.dst),
                _ => ip,
            };
            if port.is_some() {
                p.dst_port = port;
            }
            translated = Some((p.dst, port));
        } else if let Some(r) = self.binats.iter().find(|r| self.binat_matches(r, &p))
            && r.action == "binat"
        {
            // The inside network with the packet's host part.
            let inside = r.from.as_ref().and_then(|f| match f.items.first() {
                Some(Addr::Net(ip, len)) => Some((*ip, *len)),
                _ => None,
            });
            let (net, len) = inside.expect("binat rules name their inside network");
            p.dst = with_host_part(net, len, p.dst);
            translated = Some((p.dst, None));
        }
        let mut last: Option<&Rule> = None;
        for r in &self.filters {
            if self.matches(r, &p) {
                last = Some(r);
                if r.quick {
                    break;
                }
            }
        }
        Decision {
            action: last
                .map(|r| r.action.clone())
                .unwrap_or_else(|| "pass".into()),
            ridentifier: last.and_then(|r| r.ridentifier),
            label: last.and_then(|r| r.label.clone()),
            line: last.map(|r| r.line.clone()),
            translated,
        }
    }

    /// How many filter rules were read (a sanity check that the text was the real ruleset).
    pub fn filter_rules(&self) -> usize {
        self.filters.len()
    }
}

/// `ip`'s host part on the network `net`/`len`.
fn with_host_part(net: IpAddr, len: u8, ip: IpAddr) -> IpAddr {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4(((u32::from(n) & mask) | (u32::from(a) & !mask)).into())
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6(((u128::from(n) & mask) | (u128::from(a) & !mask)).into())
        }
        _ => ip,
    }
}

fn parse_addr(item: &str, line: &str) -> Result<Addr, String> {
    if item == "any" {
        return Ok(Addr::Any);
    }
    if let Some(t) = item.strip_prefix('<') {
        return Ok(Addr::Table(t.trim_end_matches('>').to_string()));
    }
    if let Some(d) = item.strip_prefix('(') {
        let d = d.trim_end_matches(')');
        return Ok(if d == "self" {
            Addr::SelfAddrs
        } else {
            Addr::Device(d.to_string())
        });
    }
    parse_net(item)
        .map(|(ip, l)| Addr::Net(ip, l))
        .ok_or_else(|| format!("address `{item}` not understood: {line}"))
}

fn parse_ports(c: &mut Cursor, line: &str) -> Result<Vec<Port>, String> {
    if c.peek() != Some("port") {
        return Ok(Vec::new());
    }
    c.i += 1;
    if c.peek() == Some("=") {
        c.i += 1;
    }
    c.list()
        .iter()
        .map(|p| {
            if let Some((a, b)) = p.split_once(':') {
                Ok(Port::Range(
                    a.parse().map_err(|_| format!("port `{p}`: {line}"))?,
                    b.parse().map_err(|_| format!("port `{p}`: {line}"))?,
                ))
            } else {
                p.parse()
                    .map(Port::Eq)
                    .map_err(|_| format!("port `{p}`: {line}"))
            }
        })
        .collect()
}

fn parse_addr_spec(c: &mut Cursor, line: &str) -> Result<AddrSpec, String> {
    let negated = c.peek() == Some("!");
    if negated {
        c.i += 1;
    }
    let items = c
        .list()
        .iter()
        .map(|i| parse_addr(i, line))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AddrSpec { negated, items })
}

fn parse_rule(toks: Vec<String>, line: &str, rdr: bool) -> Result<Rule, String> {
    let mut c = Cursor { toks, i: 0 };
    let action = c.next().unwrap_or_default();
    let mut r = Rule {
        action,
        dir: None,
        quick: false,
        on: None,
        af: None,
        protos: vec![],
        from: None,
        from_ports: vec![],
        to: None,
        to_ports: vec![],
        never: false,
        ridentifier: None,
        label: None,
        line: line.to_string(),
        rdr_to: None,
        target_len: None,
        bitmask: false,
    };
    while let Some(t) = c.next() {
        match t.as_str() {
            "in" | "out" => r.dir = Some(t),
            "log" | "keep" | "state" | "allow-opts" | "no" | "drop" | "return" => {}
            "quick" => r.quick = true,
            "on" => {
                let negated = c.peek() == Some("!");
                if negated {
                    c.i += 1;
                }
                r.on = Some((negated, c.list()));
            }
            "inet" => r.af = Some(4),
            "inet6" => r.af = Some(6),
            "proto" => r.protos = c.list(),
            "all" => {}
            "from" => {
                r.from = Some(parse_addr_spec(&mut c, line)?);
                r.from_ports = parse_ports(&mut c, line)?;
            }
            "to" => {
                r.to = Some(parse_addr_spec(&mut c, line)?);
                r.to_ports = parse_ports(&mut c, line)?;
            }
            "->" => {
                let target = c.next().unwrap_or_default();
                let (ip, len) =
                    parse_net(&target).ok_or_else(|| format!("rdr target `{target}`: {line}"))?;
                r.target_len = Some(len);
                let port = parse_ports(&mut c, line)?.first().map(|p| match p {
                    Port::Eq(n) | Port::Range(n, _) => *n,
                });
                r.rdr_to = Some((ip, port));
            }
            "icmp-type" | "icmp6-type" | "tagged" => {
                // The connections evaluated here carry no ICMP type and no tag.
                c.list();
                r.never = true;
            }
            "tag" | "flags" | "max-src-conn" | "max-src-nodes" | "max" => {
                c.list();
            }
            "ridentifier" => r.ridentifier = c.next().and_then(|v| v.parse().ok()),
            "bitmask" => r.bitmask = true,
            "label" => {
                let l = c.next().unwrap_or_default();
                if r.label.is_none() {
                    r.label = Some(l.trim_start_matches('"').to_string());
                }
            }
            other => return Err(format!("rule word `{other}` not understood: {line}")),
        }
    }
    if rdr && r.rdr_to.is_none() {
        return Err(format!("rdr without a target: {line}"));
    }
    Ok(r)
}

/// Read and parse `tmp/rules.debug` from a lab root.
pub fn load(root: &Path, mut host: Host) -> Result<Ruleset, String> {
    let path = root.join("tmp/rules.debug");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    host.root = Some(root.to_path_buf());
    Ruleset::parse(&text, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        let mut h = Host::default();
        h.addresses
            .insert("em0".into(), vec![("10.0.0.1".parse().unwrap(), 24)]);
        h.groups.insert("grp".into(), vec!["em1".into()]);
        h
    }

    fn pkt(dev: &str, src: &str, dst: &str, port: u16) -> Packet {
        Packet {
            device: dev.into(),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: "tcp".into(),
            dst_port: Some(port),
        }
    }

    #[test]
    fn last_match_unless_quick() {
        let text = r#"
WAN = "{ em0 }"
table <t> { 1.2.3.0/24 }
ports = "{ 80 443 }"
block in log inet all ridentifier 1 label "deny"
pass in on $WAN proto tcp from any to (em0) port $ports ridentifier 2
block in quick on $WAN from <t> to any ridentifier 3
pass in quick on grp proto tcp from any to any port 22 ridentifier 4
rdr on em0 inet proto tcp from any to 10.0.0.1 port 8080 -> 10.0.0.9 port 22
pass in quick on $WAN proto tcp from any to 10.0.0.9 port 22 ridentifier 5
no binat on em0 inet from 10.0.5.0/28 to 7.7.7.7
binat on em0 inet from 10.0.5.0/28 to any -> 10.0.0.32/28
rdr on { em1 } inet from any to 10.0.0.32/28 -> 10.0.5.0/28 bitmask
pass in quick on $WAN proto tcp from any to 10.0.5.3 port 443 ridentifier 6
"#;
        let rs = Ruleset::parse(text, host()).unwrap();
        // Non-quick pass after the non-quick default deny: the last match passes.
        let d = rs.evaluate(&pkt("em0", "8.8.8.8", "10.0.0.1", 443));
        assert_eq!((d.action.as_str(), d.ridentifier), ("pass", Some(2)));
        // The quick block decides for the table's sources.
        let d = rs.evaluate(&pkt("em0", "1.2.3.4", "10.0.0.1", 443));
        assert_eq!(d.ridentifier, Some(3));
        // Group membership.
        assert_eq!(
            rs.evaluate(&pkt("em1", "8.8.8.8", "9.9.9.9", 22))
                .ridentifier,
            Some(4)
        );
        assert_eq!(
            rs.evaluate(&pkt("em2", "8.8.8.8", "9.9.9.9", 22))
                .ridentifier,
            Some(1)
        );
        // rdr first, then the filter sees the translated destination.
        let d = rs.evaluate(&pkt("em0", "8.8.8.8", "10.0.0.1", 8080));
        assert_eq!(d.ridentifier, Some(5));
        // binat: the external /28 maps onto the inside /28, host part kept; after rdr.
        let d = rs.evaluate(&pkt("em0", "8.8.8.8", "10.0.0.35", 443));
        assert_eq!(d.translated, Some(("10.0.5.3".parse().unwrap(), None)));
        assert_eq!(d.ridentifier, Some(6));
        // `no binat` for one peer: untranslated, the default deny decides.
        let d = rs.evaluate(&pkt("em0", "7.7.7.7", "10.0.0.35", 443));
        assert_eq!((d.translated, d.ridentifier), (None, Some(1)));
        // The reflection `rdr` on another interface, host part kept by `bitmask`.
        let d = rs.evaluate(&pkt("em1", "192.168.9.9", "10.0.0.36", 443));
        assert_eq!(d.translated, Some(("10.0.5.4".parse().unwrap(), None)));
        // Outside the external network nothing is translated.
        let d = rs.evaluate(&pkt("em0", "8.8.8.8", "10.0.0.48", 443));
        assert_eq!(d.translated, None);
        // Nothing understood is guessed.
        assert!(Ruleset::parse("pass in frobnicate", host()).is_err());
    }
}
