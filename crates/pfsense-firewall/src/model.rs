//! The typed firewall model: rules, aliases, NAT, interfaces, groups, gateways and the settings
//! that change how traffic is filtered, built from what the REST API returns. One constructor,
//! [`FirewallModel::from_api`], reads everything and lists what it could not understand instead of
//! failing: a model of an odd configuration is still useful, and the evaluator reports the parts it
//! could not resolve as unknown.

use crate::json::{
    bool_field, flag, object, objects, opt_string, str_field, string_list, u64_field,
};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;
use std::net::IpAddr;
use std::str::FromStr;

/// The protocols a pfSense rule can name (the webGUI's choices besides `any` and `tcp/udp`),
/// with their IANA numbers: what pf matches, and what a question may give either way.
pub const PROTOCOL_NUMBERS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmp6", 58),
    ("ospf", 89),
    ("etherip", 97),
    ("pim", 103),
    ("carp", 112),
    ("sctp", 132),
    ("pfsync", 240),
];

/// The API answers the model is built from. Each field holds an API answer (the envelope or its
/// `data`); `Value::Null` means "not read" and leaves that part of the model empty.
#[derive(Debug, Clone, Default)]
pub struct ApiInput {
    /// `GET /api/v2/firewall/rules`
    pub rules: Value,
    /// `GET /api/v2/firewall/aliases`
    pub aliases: Value,
    /// `GET /api/v2/firewall/nat/port_forwards`
    pub port_forwards: Value,
    /// `GET /api/v2/firewall/nat/outbound/mappings`
    pub outbound_nat: Value,
    /// `GET /api/v2/interfaces`
    pub interfaces: Value,
    /// `GET /api/v2/status/interfaces`: the addresses DHCP-configured interfaces actually hold.
    pub interface_status: Value,
    /// `GET /api/v2/interface/groups`
    pub interface_groups: Value,
    /// `GET /api/v2/routing/gateways`
    pub gateways: Value,
    /// `GET /api/v2/routing/static_routes`
    pub static_routes: Value,
    /// `GET /api/v2/routing/gateway/default`
    pub default_gateway: Value,
    /// `GET /api/v2/system/webgui/settings`
    pub webgui: Value,
    /// `GET /api/v2/system/ssh`
    pub ssh: Value,
    /// `GET /api/v2/firewall/virtual_ips`
    pub virtual_ips: Value,
    /// `GET /api/v2/firewall/nat/one_to_one/mappings`: 1:1 NAT (`binat`), which may send a
    /// connection to the firewall's address to an inside host.
    pub one_to_one_nat: Value,
    /// `GET /api/v2/vpn/openvpn/servers`. This and the OpenVPN lists below are read only when
    /// a change takes an alias away: only `guard::aliases_left_in_use` looks at them (their
    /// fields may name an alias, `guard::ALIAS_USERS`).
    pub openvpn_servers: Value,
    /// `GET /api/v2/vpn/openvpn/clients`
    pub openvpn_clients: Value,
    /// `GET /api/v2/vpn/openvpn/csos` (client specific overrides)
    pub openvpn_csos: Value,
    /// Settings the REST API does not expose (anti-lockout, IPv6 allow, …), when the caller knows
    /// them from elsewhere (config.xml, the operator). Unset ones are assumed at pfSense's default
    /// and the evaluator says so.
    pub known_settings: KnownSettings,
    /// The optional parts whose read failed, with the error: the model is built without them,
    /// and the evaluator treats what they could change as unknown instead of absent.
    pub not_read: Vec<NotRead>,
}

/// An optional part of [`ApiInput`]. Rules, aliases and interfaces are not optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelPart {
    PortForwards,
    OutboundNat,
    InterfaceStatus,
    InterfaceGroups,
    Gateways,
    StaticRoutes,
    DefaultGateway,
    WebGui,
    Ssh,
    VirtualIps,
    OneToOneNat,
}

/// A part of the model that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotRead {
    pub part: ModelPart,
    /// The failed read, e.g. `GET /api/v2/firewall/nat/port_forwards: 403 …`.
    pub error: String,
}

/// Settings that pfSense keeps in config.xml but REST API v2 does not return.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KnownSettings {
    /// `system/webgui/noantilockout`
    pub anti_lockout_disabled: Option<bool>,
    /// `system/webgui/disablehttpredirect`
    pub http_redirect_disabled: Option<bool>,
    /// `system/ipv6allow`
    pub ipv6_allowed: Option<bool>,
    /// `system/no_apipa_block` (blocking of 169.254.0.0/16)
    pub link_local_block_disabled: Option<bool>,
    /// `system/enablebinatreflection`: NAT reflection for the 1:1 mappings that leave it to
    /// the system (`natreflection` unset); off in pfSense's default config.
    pub one_to_one_reflection: Option<bool>,
    /// NAT reflection for the port forwards that leave it to the system, in their
    /// `natreflection` words: `disable` (`system/disablenatreflection`, pfSense's default
    /// config), `purenat` (`system/enablenatreflectionpurenat`) or `enable` (the proxy).
    pub port_forward_reflection: Option<String>,
}

/// Something the constructor could not understand. The object is still in the model where that
/// makes sense (a rule with an unresolvable address stays, and never matches for certain).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelIssue {
    /// e.g. `FirewallRule[3]`, `FirewallAlias[web]`
    pub object: String,
    pub field: String,
    pub value: String,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Pass,
    Block,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Block => "block",
            Action::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Inet,
    Inet6,
    Inet46,
}

impl IpFamily {
    pub fn admits(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (IpFamily::Inet46, _)
                | (IpFamily::Inet, IpAddr::V4(_))
                | (IpFamily::Inet6, IpAddr::V6(_))
        )
    }
}

/// What a source or destination field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    Any,
    Ip(IpAddr),
    Net(IpNet),
    Alias(String),
    /// `lan` (REST API) / `lannet` (config and pf macro form): the interface's subnet.
    InterfaceNet(String),
    /// `lan:ip` (REST API) / `lanip` (config form): the interface's own address.
    InterfaceAddress(String),
    /// `(self)`: every address of the firewall.
    SelfAddresses,
    /// `pppoe`, `l2tp`: the clients of those servers (not modelled).
    Special(String),
    /// A name that is neither an alias nor an interface of this model.
    Unresolved(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    pub raw: String,
    pub negated: bool,
    pub target: Target,
}

impl Address {
    pub fn any() -> Address {
        Address {
            raw: "any".into(),
            negated: false,
            target: Target::Any,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PortSpec {
    Any,
    Single(u16),
    Range(u16, u16),
    Alias(String),
    Unresolved(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Index in the API's rule list (the `id` the API addresses it by); the order pfSense
    /// evaluates rules of one interface in.
    pub position: usize,
    pub tracker: Option<u64>,
    /// Interface ids (or group names); floating rules may name several, or none for any.
    pub interfaces: Vec<String>,
    pub floating: bool,
    pub quick: bool,
    pub direction: Direction,
    pub disabled: bool,
    pub action: Action,
    pub ipprotocol: IpFamily,
    /// `None` is any protocol.
    pub protocol: Option<String>,
    pub icmptypes: Vec<String>,
    pub source: Address,
    pub source_port: PortSpec,
    pub destination: Address,
    pub destination_port: PortSpec,
    pub log: bool,
    pub descr: String,
    pub associated_rule_id: Option<String>,
    pub gateway: Option<String>,
    pub schedule: Option<String>,
    /// TCP flags the rule asks for, as (set, out of), lower case; None: pfSense's default
    /// for a rule keeping state (`flags S/SA`) or `tcp_flags_any`, which a new connection's
    /// SYN always meets.
    pub tcp_flags: Option<(Vec<String>, Vec<String>)>,
}

impl Rule {
    /// Whether the first packet of a new TCP connection (SYN alone) meets the rule's flags:
    /// pf matches `flags SET/OUT_OF` when the packet's flags among OUT_OF are exactly SET.
    pub fn admits_syn(&self) -> bool {
        match &self.tcp_flags {
            None => true,
            Some((set, out_of)) => {
                let syn_counted = out_of.iter().any(|f| f == "syn");
                let wanted: Vec<&String> = set.iter().filter(|f| out_of.contains(f)).collect();
                if syn_counted {
                    wanted.len() == 1 && wanted[0] == "syn"
                } else {
                    wanted.is_empty()
                }
            }
        }
    }

    /// pfSense writes every non-floating rule as `quick`; floating ones only when asked
    /// (filter.inc, `filter_generate_user_rule`).
    pub fn is_quick(&self) -> bool {
        !self.floating || self.quick
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AliasKind {
    Host,
    Network,
    Port,
    Url,
    UrlTable,
    UrlPorts,
    UrlTablePorts,
    Other(String),
}

impl AliasKind {
    fn parse(s: &str) -> AliasKind {
        match s {
            "host" => AliasKind::Host,
            "network" => AliasKind::Network,
            "port" => AliasKind::Port,
            "url" => AliasKind::Url,
            "urltable" => AliasKind::UrlTable,
            "url_ports" => AliasKind::UrlPorts,
            "urltable_ports" => AliasKind::UrlTablePorts,
            other => AliasKind::Other(other.to_string()),
        }
    }

    pub fn is_port(&self) -> bool {
        matches!(
            self,
            AliasKind::Port | AliasKind::UrlPorts | AliasKind::UrlTablePorts
        )
    }

    /// Content downloaded by the firewall: the API shows the URL, never the addresses.
    pub fn is_downloaded(&self) -> bool {
        matches!(
            self,
            AliasKind::Url | AliasKind::UrlTable | AliasKind::UrlPorts | AliasKind::UrlTablePorts
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alias {
    pub position: usize,
    pub name: String,
    pub kind: AliasKind,
    pub entries: Vec<String>,
    pub descr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortForward {
    pub position: usize,
    pub interface: String,
    pub ipprotocol: IpFamily,
    pub protocol: Option<String>,
    pub source: Address,
    pub source_port: PortSpec,
    pub destination: Address,
    pub destination_port: PortSpec,
    /// The internal host: an IP address or a host alias.
    pub target: String,
    pub local_port: Option<u16>,
    pub disabled: bool,
    pub nordr: bool,
    pub descr: String,
    /// Empty: no rule; `pass`: `rdr pass` (no filter rule at all); otherwise the id that the
    /// associated filter rule carries too.
    pub associated_rule_id: Option<String>,
    /// `natreflection`: `enable` (through a proxy on the firewall), `purenat`, `disable`, or
    /// None for the system's setting. Reflection redirects connections to the forward's
    /// destination arriving on the interfaces without a gateway and the interface groups too
    /// (filter.inc `filter_get_reflection_interfaces`).
    pub reflection: Option<String>,
}

/// A 1:1 NAT mapping. filter.inc writes it as `binat on IF from INSIDE to PEERS -> EXTERNAL/len`
/// (len: the inside network's prefix length), or `no binat on IF from INSIDE to PEERS`. pf
/// translates an inbound connection from PEERS to an address of EXTERNAL/len into the inside
/// address with the same host part, when no port forward (`rdr`) took it first
/// (`pf_get_translation`: on the way in, the `rdr` rules, then the `binat` rules).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OneToOne {
    pub position: usize,
    pub interface: String,
    pub ipprotocol: IpFamily,
    /// `external`: an address, or an interface's (`wan:ip`).
    pub external: Address,
    /// `source`: the inside address or network.
    pub internal: Address,
    /// `destination`: the peers it applies to; on the way in, the connection's source.
    pub destination: Address,
    pub disabled: bool,
    /// `no binat`: traffic it matches is not translated, and later mappings are not tried.
    pub nobinat: bool,
    /// `natreflection`: `enable`/`disable`, or None for the system's setting. Reflection adds
    /// `rdr on {interfaces without a gateway but this one} from PEERS to EXTERNAL/len ->
    /// INSIDE bitmask` after the port forwards (filter.inc `filter_get_reflection_interfaces`).
    pub reflection: Option<bool>,
    pub descr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundNat {
    pub position: usize,
    pub interface: String,
    pub source: String,
    pub destination: String,
    pub target: Option<String>,
    pub disabled: bool,
    pub nonat: bool,
    pub descr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interface {
    /// `wan`, `lan`, `opt1`
    pub id: String,
    /// The real device, e.g. `em0`; the filter log names interfaces by it.
    pub device: String,
    pub descr: String,
    pub enabled: bool,
    pub typev4: Option<String>,
    pub typev6: Option<String>,
    /// Address and prefix length, from the configuration or (for DHCP) the status endpoint.
    pub ipv4: Option<(IpAddr, u8)>,
    pub ipv6: Option<(IpAddr, u8)>,
    pub gateway: Option<String>,
    pub gatewayv6: Option<String>,
    pub block_bogons: bool,
    pub block_private: bool,
}

impl Interface {
    pub fn networks(&self) -> Vec<IpNet> {
        [self.ipv4, self.ipv6]
            .into_iter()
            .flatten()
            .filter_map(|(ip, len)| IpNet::new(ip, len).ok().map(|n| n.trunc()))
            .collect()
    }

    pub fn addresses(&self) -> Vec<IpAddr> {
        [self.ipv4, self.ipv6]
            .into_iter()
            .flatten()
            .map(|(ip, _)| ip)
            .collect()
    }

    /// True when the address of a family is configured dynamically and not known.
    pub fn address_unknown(&self, v6: bool) -> bool {
        let (addr, typ) = if v6 {
            (self.ipv6, &self.typev6)
        } else {
            (self.ipv4, &self.typev4)
        };
        addr.is_none()
            && typ
                .as_deref()
                .is_some_and(|t| t != "none" && t != "static" && t != "staticv6")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterfaceGroup {
    pub name: String,
    pub members: Vec<String>,
    pub descr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gateway {
    pub name: String,
    pub interface: String,
    pub address: Option<String>,
    pub ipprotocol: Option<String>,
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticRoute {
    pub network: String,
    pub gateway: String,
    pub disabled: bool,
    pub descr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub webgui_protocol: String,
    pub webgui_port: Option<u16>,
    pub ssh_enabled: Option<bool>,
    pub ssh_port: u16,
    /// `defaultgw4` / `defaultgw6` of `GET /api/v2/routing/gateway/default`: a gateway or
    /// gateway group name, empty for pfSense's automatic choice, `-` for none; None when not read.
    pub default_gateway_v4: Option<String>,
    pub default_gateway_v6: Option<String>,
    pub known: KnownSettings,
}

impl Settings {
    /// The ports the anti-lockout rule opens (filter.inc `filter_get_antilockout_ports`): the
    /// webGUI port (443/80 by protocol unless set), 80 as well for the HTTPS redirect unless
    /// disabled or already 80, and the SSH port when SSH is enabled.
    pub fn anti_lockout_ports(&self) -> Vec<u16> {
        let https = self.webgui_protocol != "http";
        let gui = self.webgui_port.unwrap_or(if https { 443 } else { 80 });
        let mut ports = vec![gui];
        if https && self.known.http_redirect_disabled != Some(true) && gui != 80 {
            ports.push(80);
        }
        if self.ssh_enabled == Some(true) {
            ports.push(self.ssh_port);
        }
        ports
    }

    /// The port the webGUI (and with it the REST API) listens on.
    pub fn api_port(&self) -> u16 {
        self.webgui_port
            .unwrap_or_else(|| default_webgui_port(&self.webgui_protocol))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallModel {
    pub rules: Vec<Rule>,
    pub aliases: Vec<Alias>,
    pub port_forwards: Vec<PortForward>,
    pub one_to_one: Vec<OneToOne>,
    pub outbound_nat: Vec<OutboundNat>,
    pub interfaces: Vec<Interface>,
    pub groups: Vec<InterfaceGroup>,
    pub gateways: Vec<Gateway>,
    pub static_routes: Vec<StaticRoute>,
    /// The addresses of IP alias and CARP virtual IPs. pf's `(self)` holds every address
    /// assigned to an interface, these included; proxy ARP and "other" virtual IPs are not
    /// assigned to one.
    pub virtual_addresses: Vec<IpAddr>,
    pub settings: Settings,
    /// What could not be understood while building.
    pub issues: Vec<ModelIssue>,
    /// The parts that could not be read (from [`ApiInput::not_read`]).
    pub not_read: Vec<NotRead>,
    /// The answers this model was built from, so a proposed change can be applied to them and the
    /// model rebuilt (the lockout guard).
    #[serde(skip)]
    pub source: ApiInput,
}

/// The position of an object: the API's `id` when it is a number, else its index in the list.
fn position(obj: &Value, index: usize) -> usize {
    u64_field(obj, "id").map(|n| n as usize).unwrap_or(index)
}

/// The webGUI's port when its settings set none: 80 for `http`, else 443.
pub(crate) fn default_webgui_port(protocol: &str) -> u16 {
    if protocol == "http" { 80 } else { 443 }
}

fn parse_port_number(s: &str) -> Option<u16> {
    s.trim().parse::<u16>().ok()
}

impl FirewallModel {
    /// Builds the model. Never fails: what it cannot read is listed in `issues`.
    pub fn from_api(input: &ApiInput) -> FirewallModel {
        let mut issues = Vec::new();
        let interfaces = build_interfaces(input, &mut issues);
        let groups: Vec<InterfaceGroup> = objects(&input.interface_groups)
            .into_iter()
            .filter_map(|g| {
                Some(InterfaceGroup {
                    name: opt_string(g, "ifname")?,
                    members: string_list(g, "members"),
                    descr: opt_string(g, "descr").unwrap_or_default(),
                })
            })
            .collect();
        let aliases: Vec<Alias> = objects(&input.aliases)
            .into_iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let Some(name) = opt_string(a, "name") else {
                    issues.push(issue(
                        format!("FirewallAlias[{i}]"),
                        "name",
                        a,
                        "alias without a name",
                    ));
                    return None;
                };
                Some(Alias {
                    position: position(a, i),
                    kind: AliasKind::parse(str_field(a, "type").unwrap_or("")),
                    entries: string_list(a, "address"),
                    descr: opt_string(a, "descr").unwrap_or_default(),
                    name,
                })
            })
            .collect();
        let mut model = FirewallModel {
            rules: Vec::new(),
            aliases,
            port_forwards: Vec::new(),
            one_to_one: Vec::new(),
            outbound_nat: Vec::new(),
            interfaces,
            groups,
            gateways: Vec::new(),
            static_routes: Vec::new(),
            virtual_addresses: objects(&input.virtual_ips)
                .into_iter()
                .filter(|v| matches!(str_field(v, "mode"), Some("ipalias" | "carp")))
                .filter_map(|v| str_field(v, "subnet")?.trim().parse().ok())
                .collect(),
            settings: build_settings(input),
            issues: Vec::new(),
            not_read: input.not_read.clone(),
            source: input.clone(),
        };
        for a in &model.aliases {
            if let AliasKind::Other(k) = &a.kind {
                issues.push(ModelIssue {
                    object: format!("FirewallAlias[{}]", a.name),
                    field: "type".into(),
                    value: k.clone(),
                    problem: "unknown alias type".into(),
                });
            }
        }
        let rules: Vec<Rule> = objects(&input.rules)
            .into_iter()
            .enumerate()
            .map(|(i, r)| model.build_rule(r, i, &mut issues))
            .collect();
        model.rules = rules;
        let forwards: Vec<PortForward> = objects(&input.port_forwards)
            .into_iter()
            .enumerate()
            .map(|(i, r)| model.build_port_forward(r, i, &mut issues))
            .collect();
        model.port_forwards = forwards;
        model.one_to_one = objects(&input.one_to_one_nat)
            .into_iter()
            .enumerate()
            .map(|(i, m)| model.build_one_to_one(m, i, &mut issues))
            .collect();
        model.outbound_nat = objects(&input.outbound_nat)
            .into_iter()
            .enumerate()
            .map(|(i, o)| OutboundNat {
                position: position(o, i),
                interface: opt_string(o, "interface").unwrap_or_default(),
                source: opt_string(o, "source").unwrap_or_else(|| "any".into()),
                destination: opt_string(o, "destination").unwrap_or_else(|| "any".into()),
                target: opt_string(o, "target"),
                disabled: flag(o, "disabled"),
                nonat: flag(o, "nonat"),
                descr: opt_string(o, "descr").unwrap_or_default(),
            })
            .collect();
        model.gateways = objects(&input.gateways)
            .into_iter()
            .filter_map(|g| {
                Some(Gateway {
                    name: opt_string(g, "name")?,
                    interface: opt_string(g, "interface").unwrap_or_default(),
                    address: opt_string(g, "gateway"),
                    ipprotocol: opt_string(g, "ipprotocol"),
                    disabled: flag(g, "disabled"),
                })
            })
            .collect();
        model.static_routes = objects(&input.static_routes)
            .into_iter()
            .filter_map(|r| {
                Some(StaticRoute {
                    network: opt_string(r, "network")?,
                    gateway: opt_string(r, "gateway").unwrap_or_default(),
                    disabled: flag(r, "disabled"),
                    descr: opt_string(r, "descr").unwrap_or_default(),
                })
            })
            .collect();
        model.issues = issues;
        model
    }

    /// An interface by id (`lan`), description (`LAN`, any case) or device (`em1`).
    pub fn interface(&self, name: &str) -> Option<&Interface> {
        let name = name.trim();
        self.interfaces
            .iter()
            .find(|i| i.id == name)
            .or_else(|| {
                self.interfaces
                    .iter()
                    .find(|i| i.descr.eq_ignore_ascii_case(name))
            })
            .or_else(|| self.interfaces.iter().find(|i| i.device == name))
    }

    /// The failed read of `part`, when it failed.
    pub fn read_failure(&self, part: ModelPart) -> Option<&str> {
        self.not_read
            .iter()
            .find(|n| n.part == part)
            .map(|n| n.error.as_str())
    }

    pub fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&InterfaceGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The groups an interface belongs to.
    pub fn groups_of(&self, interface_id: &str) -> Vec<&InterfaceGroup> {
        self.groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == interface_id))
            .collect()
    }

    pub fn rule_by_tracker(&self, tracker: u64) -> Option<&Rule> {
        self.rules.iter().find(|r| r.tracker == Some(tracker))
    }

    /// The filter rule created together with a port forward (same `associated_rule_id`).
    pub fn associated_rule(&self, forward: &PortForward) -> Option<&Rule> {
        let id = forward
            .associated_rule_id
            .as_deref()
            .filter(|id| *id != "pass")?;
        self.rules
            .iter()
            .find(|r| r.associated_rule_id.as_deref() == Some(id))
    }

    /// Parses a source/destination value the way pfrest validates it: address, subnet, alias,
    /// `any`, `(self)`, `pppoe`/`l2tp`, then an interface (`lan`, `lan:ip`); config forms
    /// `lannet`/`lanip` are read too. A leading `!` negates.
    pub fn parse_address(&self, raw: &str) -> Address {
        let raw = raw.trim();
        let (negated, body) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, raw),
        };
        let target = if body.is_empty() || body == "any" {
            Target::Any
        } else if let Ok(ip) = IpAddr::from_str(body) {
            Target::Ip(ip)
        } else if let Ok(net) = IpNet::from_str(body) {
            Target::Net(net.trunc())
        } else if self.alias(body).is_some() {
            Target::Alias(body.to_string())
        } else if body == "(self)" || body == "self" || body == "This Firewall" {
            Target::SelfAddresses
        } else if body == "pppoe" || body == "l2tp" {
            Target::Special(body.to_string())
        } else if let Some(ifname) = body.strip_suffix(":ip") {
            match self.interface(ifname) {
                Some(i) => Target::InterfaceAddress(i.id.clone()),
                None => Target::Unresolved(body.to_string()),
            }
        } else if let Some(i) = self.interface(body) {
            Target::InterfaceNet(i.id.clone())
        } else if let Some(i) = body.strip_suffix("net").and_then(|n| self.interface(n)) {
            Target::InterfaceNet(i.id.clone())
        } else if let Some(i) = body.strip_suffix("ip").and_then(|n| self.interface(n)) {
            Target::InterfaceAddress(i.id.clone())
        } else {
            Target::Unresolved(body.to_string())
        };
        Address {
            raw: raw.to_string(),
            negated,
            target,
        }
    }

    /// Ports: `443`, `1000:2000` (API form), `1000-2000` (config form), a port alias, empty = any.
    pub fn parse_port(&self, raw: Option<&str>) -> PortSpec {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty() && *s != "any") else {
            return PortSpec::Any;
        };
        if let Some(p) = parse_port_number(raw) {
            return PortSpec::Single(p);
        }
        if let Some((a, b)) = raw.split_once([':', '-'])
            && let (Some(a), Some(b)) = (parse_port_number(a), parse_port_number(b))
        {
            return PortSpec::Range(a.min(b), a.max(b));
        }
        if self.alias(raw).is_some_and(|a| a.kind.is_port()) {
            return PortSpec::Alias(raw.to_string());
        }
        PortSpec::Unresolved(raw.to_string())
    }

    fn build_rule(&self, r: &Value, index: usize, issues: &mut Vec<ModelIssue>) -> Rule {
        let pos = position(r, index);
        let label = format!("FirewallRule[{pos}]");
        let action = match str_field(r, "type") {
            Some("pass") => Action::Pass,
            Some("block") => Action::Block,
            Some("reject") => Action::Reject,
            _ => {
                // An unreadable action cannot be evaluated; treat the rule as disabled and say so.
                issues.push(issue(
                    label.clone(),
                    "type",
                    r,
                    "unknown action; rule ignored",
                ));
                Action::Block
            }
        };
        let action_known = matches!(str_field(r, "type"), Some("pass" | "block" | "reject"));
        let floating = flag(r, "floating");
        let direction = match str_field(r, "direction") {
            Some("in") => Direction::In,
            Some("out") => Direction::Out,
            Some("any") | None => {
                if floating {
                    Direction::Any
                } else {
                    Direction::In
                }
            }
            Some(_) => {
                issues.push(issue(
                    label.clone(),
                    "direction",
                    r,
                    "unknown direction; read as any",
                ));
                Direction::Any
            }
        };
        // Non-floating rules always filter inbound (filter.inc: "ensure the direction is in").
        let direction = if floating { direction } else { Direction::In };
        let ipprotocol = match str_field(r, "ipprotocol") {
            Some("inet6") => IpFamily::Inet6,
            Some("inet46") => IpFamily::Inet46,
            Some("inet") | None => IpFamily::Inet,
            Some(_) => {
                issues.push(issue(
                    label.clone(),
                    "ipprotocol",
                    r,
                    "unknown IP version; read as inet46",
                ));
                IpFamily::Inet46
            }
        };
        let interfaces = string_list(r, "interface");
        for i in &interfaces {
            if i != "any" && self.interface(i).is_none() && self.group(i).is_none() {
                issues.push(ModelIssue {
                    object: label.clone(),
                    field: "interface".into(),
                    value: i.clone(),
                    problem: "no such interface or interface group".into(),
                });
            }
        }
        let source = self.parse_address(str_field(r, "source").unwrap_or("any"));
        let destination = self.parse_address(str_field(r, "destination").unwrap_or("any"));
        for (field, a) in [("source", &source), ("destination", &destination)] {
            if let Target::Unresolved(v) = &a.target {
                issues.push(ModelIssue {
                    object: label.clone(),
                    field: field.into(),
                    value: v.clone(),
                    problem: "not an address, alias or interface of this firewall".into(),
                });
            }
        }
        let source_port = self.parse_port(str_field(r, "source_port"));
        let destination_port = self.parse_port(str_field(r, "destination_port"));
        for (field, p) in [
            ("source_port", &source_port),
            ("destination_port", &destination_port),
        ] {
            if let PortSpec::Unresolved(v) = p {
                issues.push(ModelIssue {
                    object: label.clone(),
                    field: field.into(),
                    value: v.clone(),
                    problem: "not a port, range or port alias".into(),
                });
            }
        }
        let protocol = opt_string(r, "protocol")
            .map(|p| p.to_ascii_lowercase())
            .filter(|p| p != "any");
        Rule {
            position: pos,
            tracker: u64_field(r, "tracker"),
            interfaces,
            floating,
            quick: flag(r, "quick"),
            direction,
            disabled: flag(r, "disabled") || !action_known,
            action,
            ipprotocol,
            protocol: protocol.clone(),
            icmptypes: string_list(r, "icmptype")
                .into_iter()
                .filter(|t| t != "any")
                .collect(),
            source,
            source_port,
            destination,
            destination_port,
            log: flag(r, "log"),
            descr: opt_string(r, "descr").unwrap_or_default(),
            associated_rule_id: opt_string(r, "associated_rule_id"),
            gateway: opt_string(r, "gateway"),
            schedule: opt_string(r, "sched"),
            tcp_flags: {
                let out_of: Vec<String> = string_list(r, "tcp_flags_out_of")
                    .into_iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect();
                let set: Vec<String> = string_list(r, "tcp_flags_set")
                    .into_iter()
                    .map(|f| f.to_ascii_lowercase())
                    .collect();
                // pfSense writes `flags` only for protocol `tcp` (filter.inc,
                // `filter_generate_user_rule`): on `tcp/udp` or no protocol the REST API keeps
                // the fields, but the rule matches every packet.
                (protocol.as_deref() == Some("tcp")
                    && !flag(r, "tcp_flags_any")
                    && !out_of.is_empty())
                .then_some((set, out_of))
            },
        }
    }

    fn build_port_forward(
        &self,
        r: &Value,
        index: usize,
        issues: &mut Vec<ModelIssue>,
    ) -> PortForward {
        let pos = position(r, index);
        let label = format!("PortForward[{pos}]");
        let interface = opt_string(r, "interface").unwrap_or_default();
        let interface = match self.interface(&interface) {
            Some(i) => i.id.clone(),
            None => {
                issues.push(ModelIssue {
                    object: label.clone(),
                    field: "interface".into(),
                    value: interface.clone(),
                    problem: "no such interface".into(),
                });
                interface
            }
        };
        let local_port = match opt_string(r, "local_port") {
            None => None,
            Some(p) => {
                let first = p.split([':', '-']).next().unwrap_or("");
                let parsed = parse_port_number(first);
                if parsed.is_none() {
                    issues.push(issue(label.clone(), "local_port", r, "not a port number"));
                }
                parsed
            }
        };
        let target = opt_string(r, "target").unwrap_or_default();
        if target.is_empty() {
            issues.push(issue(
                label.clone(),
                "target",
                r,
                "port forward without a target",
            ));
        }
        PortForward {
            position: pos,
            interface,
            ipprotocol: match str_field(r, "ipprotocol") {
                Some("inet6") => IpFamily::Inet6,
                Some("inet46") => IpFamily::Inet46,
                _ => IpFamily::Inet,
            },
            protocol: opt_string(r, "protocol")
                .map(|p| p.to_ascii_lowercase())
                .filter(|p| p != "any"),
            source: self.parse_address(str_field(r, "source").unwrap_or("any")),
            source_port: self.parse_port(str_field(r, "source_port")),
            destination: self.parse_address(str_field(r, "destination").unwrap_or("any")),
            destination_port: self.parse_port(str_field(r, "destination_port")),
            target,
            local_port,
            disabled: flag(r, "disabled"),
            nordr: flag(r, "nordr"),
            descr: opt_string(r, "descr").unwrap_or_default(),
            associated_rule_id: opt_string(r, "associated_rule_id"),
            reflection: opt_string(r, "natreflection"),
        }
    }

    fn build_one_to_one(&self, m: &Value, index: usize, issues: &mut Vec<ModelIssue>) -> OneToOne {
        let pos = position(m, index);
        let raw_interface = opt_string(m, "interface").unwrap_or_else(|| "wan".into());
        let interface = match self.interface(&raw_interface) {
            Some(i) => i.id.clone(),
            None => {
                issues.push(issue(
                    format!("OneToOneNat[{pos}]"),
                    "interface",
                    m,
                    "no such interface",
                ));
                raw_interface
            }
        };
        let external = self.parse_address(str_field(m, "external").unwrap_or(""));
        // filter.inc: inet6 when the mapping says so or its external address is IPv6.
        let v6 = str_field(m, "ipprotocol") == Some("inet6")
            || matches!(external.target, Target::Ip(IpAddr::V6(_)));
        OneToOne {
            position: pos,
            interface,
            ipprotocol: if v6 { IpFamily::Inet6 } else { IpFamily::Inet },
            external,
            internal: self.parse_address(str_field(m, "source").unwrap_or("any")),
            destination: self.parse_address(str_field(m, "destination").unwrap_or("any")),
            disabled: flag(m, "disabled"),
            nobinat: flag(m, "nobinat"),
            reflection: match str_field(m, "natreflection") {
                Some("enable") => Some(true),
                Some("disable") => Some(false),
                _ => None,
            },
            descr: opt_string(m, "descr").unwrap_or_default(),
        }
    }
}

fn issue(object: String, field: &str, obj: &Value, problem: &str) -> ModelIssue {
    ModelIssue {
        object,
        field: field.to_string(),
        value: obj.get(field).map(|v| v.to_string()).unwrap_or_default(),
        problem: problem.to_string(),
    }
}

fn parse_ip_len(ip: Option<String>, len: Option<u64>, v6: bool) -> Option<(IpAddr, u8)> {
    let ip = IpAddr::from_str(ip?.split('/').next()?).ok()?;
    if ip.is_ipv6() != v6 {
        return None;
    }
    let max = if v6 { 128 } else { 32 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((ip, len as u8))
}

/// A prefix length given as a number (`24`, the config's form) or as a dotted netmask
/// (`255.255.255.0`): `GET /status/interfaces` answers pfSense's `get_interface_info()`, whose
/// `subnet` is the netmask `pfSense_get_interface_addresses()` reports (seen on the pfrest lab).
fn prefix_len_field(obj: &Value, key: &str) -> Option<u64> {
    if let Some(n) = u64_field(obj, key) {
        return Some(n);
    }
    let mask: std::net::Ipv4Addr = str_field(obj, key)?.trim().parse().ok()?;
    let bits = u32::from(mask);
    // Only contiguous masks are prefix lengths.
    (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(u64::from(bits.leading_ones()))
}

fn build_interfaces(input: &ApiInput, issues: &mut Vec<ModelIssue>) -> Vec<Interface> {
    let status = objects(&input.interface_status);
    objects(&input.interfaces)
        .into_iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let id = opt_string(o, "id").or_else(|| opt_string(o, "__id"));
            let Some(id) = id else {
                issues.push(issue(
                    format!("NetworkInterface[{i}]"),
                    "id",
                    o,
                    "interface without an id",
                ));
                return None;
            };
            let device = opt_string(o, "if").unwrap_or_default();
            let st = status.iter().find(|s| {
                str_field(s, "name") == Some(id.as_str())
                    || (!device.is_empty() && str_field(s, "hwif") == Some(device.as_str()))
            });
            // The configured address counts only for a static type: one a change left behind
            // when it switched the interface to DHCP is not what the interface will hold.
            let typev4 = opt_string(o, "typev4");
            let typev6 = opt_string(o, "typev6");
            let configured =
                |t: &Option<String>, stat: &str| t.as_deref().is_none_or(|t| t == stat);
            let ipv4 = configured(&typev4, "static")
                .then(|| parse_ip_len(opt_string(o, "ipaddr"), u64_field(o, "subnet"), false))
                .flatten()
                .or_else(|| {
                    let s = st?;
                    parse_ip_len(
                        opt_string(s, "ipaddr"),
                        prefix_len_field(s, "subnet"),
                        false,
                    )
                });
            let ipv6 = configured(&typev6, "staticv6")
                .then(|| parse_ip_len(opt_string(o, "ipaddrv6"), u64_field(o, "subnetv6"), true))
                .flatten()
                .or_else(|| {
                    let s = st?;
                    parse_ip_len(opt_string(s, "ipaddrv6"), u64_field(s, "subnetv6"), true)
                });
            Some(Interface {
                descr: opt_string(o, "descr").unwrap_or_else(|| id.to_ascii_uppercase()),
                device,
                enabled: bool_field(o, "enable").unwrap_or(true),
                typev4,
                typev6,
                ipv4,
                ipv6,
                gateway: opt_string(o, "gateway"),
                gatewayv6: opt_string(o, "gatewayv6"),
                block_bogons: flag(o, "blockbogons"),
                block_private: flag(o, "blockpriv"),
                id,
            })
        })
        .collect()
}

/// The webGUI's protocol (`https` unless set) and `port` (None when unset) in a `GET
/// /api/v2/system/webgui/settings` answer: read alike by the model and by `api_gate`.
pub(crate) fn webgui_protocol_and_port(answer: &Value) -> (String, Option<u16>) {
    let gui = object(answer);
    (
        gui.and_then(|g| opt_string(g, "protocol"))
            .unwrap_or_else(|| "https".into()),
        gui.and_then(|g| opt_string(g, "port"))
            .and_then(|p| parse_port_number(&p)),
    )
}

fn build_settings(input: &ApiInput) -> Settings {
    let (webgui_protocol, webgui_port) = webgui_protocol_and_port(&input.webgui);
    let ssh = object(&input.ssh);
    let default_gateway = object(&input.default_gateway);
    Settings {
        webgui_protocol,
        webgui_port,
        ssh_enabled: ssh.and_then(|s| bool_field(s, "enable")),
        ssh_port: ssh
            .and_then(|s| opt_string(s, "port"))
            .and_then(|p| parse_port_number(&p))
            .unwrap_or(22),
        default_gateway_v4: default_gateway
            .map(|d| opt_string(d, "defaultgw4").unwrap_or_default()),
        default_gateway_v6: default_gateway
            .map(|d| opt_string(d, "defaultgw6").unwrap_or_default()),
        known: input.known_settings.clone(),
    }
}
