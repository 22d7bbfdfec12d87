//! pfrest's own per-model rules, beyond what the spec states: name and address validators,
//! cross-field checks (`validate_<field>` methods of pfrest's models), delete rules, the
//! interface representation setting. Facts come from pfrest v2.7.1 (`RESTAPI/Models/*.inc`,
//! `Validators/`, `Core/Model.inc`, `Fields/`) and the pfSense functions they call; every table
//! row and rule names the model and behaviour it mirrors. Response ids and HTTP codes are
//! pfrest's own.

use crate::catalog::Catalog;
use crate::reply::{ApiError, ApiResult};
use crate::seed::STRING_ID_KEY;
use crate::store::Store;
use crate::validate::Obj;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};

// ---------------------------------------------------------------------------------------------
// Versions

/// A pfrest version `(major, minor, patch)`.
pub type Version = (u32, u32, u32);

/// pfrest's version as `(major, minor, patch)` from the spec's `info.version` (`v2.7.1`).
pub fn version(catalog: &Catalog) -> (u32, u32, u32) {
    parse_version(&catalog.spec.api_version).unwrap_or((2, 7, 1))
}

pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().unwrap_or("0").parse().ok()?;
    let patch = parts.next().unwrap_or("0").parse().ok()?;
    Some((major, minor, patch))
}

// ---------------------------------------------------------------------------------------------
// Tables

/// Fields that keep their value after creation (`editable: false` in pfrest's models; a PATCH
/// with a different value → 400 `FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE`): (model, field, the
/// first version in which the field became editable, if any).
pub const NOT_EDITABLE: &[(&str, &str, Option<Version>)] = &[
    ("AuthServer", "name", None),
    // CertificateRevocationList: descr, lifetime and serial became editable in v2.7.4.
    ("CertificateRevocationList", "descr", Some((2, 7, 4))),
    ("CertificateRevocationList", "lifetime", Some((2, 7, 4))),
    ("CertificateRevocationList", "serial", Some((2, 7, 4))),
    ("CertificateRevocationList", "method", None),
    ("CertificateRevocationList", "caref", None),
    (
        "CertificateRevocationListRevokedCertificate",
        "certref",
        None,
    ),
    // FirewallAlias.name: renaming an alias is refused.
    ("FirewallAlias", "name", None),
    // FirewallRule.floating: a rule cannot become (or stop being) floating.
    ("FirewallRule", "floating", None),
    // Read-only fields are checked only when they are listed here: pfrest assigns every field
    // a PATCH sends, read-only ones included (`Model::from_representation`), and
    // `Field::is_value_editable` refuses a value that differs (`!==`, so `"5"` is not `5`) from
    // the stored one. Lab (v2.7.1, v2.10.0): another value is 400, the same value passes.
    // FirewallRule.associated_rule_id: a port forward's linked rule, or any rule.
    ("FirewallRule", "associated_rule_id", None),
    // FirewallRule and PortForward: `tracker`, `created_time` and `created_by` are read-only
    // and `editable: false`; `updated_time` and `updated_by` are read-only only (a sent
    // value passes, and is overwritten).
    ("FirewallRule", "tracker", None),
    ("FirewallRule", "created_time", None),
    ("FirewallRule", "created_by", None),
    ("PortForward", "created_time", None),
    ("PortForward", "created_by", None),
    // Every `UIDField` (`Fields/UIDField.inc`: `read_only: true, editable: false`).
    ("AuthServer", "refid", None),
    ("Certificate", "refid", None),
    ("CertificateAuthority", "refid", None),
    ("CertificateRevocationList", "refid", None),
    ("FirewallSchedule", "schedlabel", None),
    ("IPsecPhase2", "uniqid", None),
    ("VirtualIP", "uniqid", None),
    // CertificateRevocationList.text: `editable: false` in every release.
    ("CertificateRevocationList", "text", None),
    ("HAProxyBackendServer", "serverid", None),
    ("IPsecPhase2", "reqid", None),
    ("InterfaceGroup", "ifname", None),
    ("InterfaceVLAN", "if", None),
    ("OpenVPNClient", "vpnid", None),
    ("OpenVPNClient", "vpnif", None),
    ("OpenVPNServer", "vpnid", None),
    ("OpenVPNServer", "vpnif", None),
    ("RoutingGateway", "name", None),
    ("RoutingGatewayGroup", "name", None),
    ("TrafficShaper", "interface", None),
    ("TrafficShaperLimiter", "number", None),
    ("TrafficShaperLimiterQueue", "number", None),
    ("TrafficShaperQueue", "interface", None),
    ("User", "uid", None),
    ("User", "scope", None),
    ("UserGroup", "gid", None),
    ("WireGuardTunnel", "name", None),
];

/// Interface keywords some versions accept on top of the configured interfaces: (model,
/// keyword, first version, only on floating rules). FirewallRule: `any` from v2.7.2 (meant for
/// floating rules; v2.10.0's model offers it as a choice without checking `floating`).
pub const VERSIONED_INTERFACE_KEYWORDS: &[(&str, &str, Version, bool)] =
    &[("FirewallRule", "any", (2, 7, 2), false)];

pub fn extra_interface_allowed(catalog: &Catalog, model: &str, obj: &Obj, value: &str) -> bool {
    let v = version(catalog);
    let floating = crate::validate::truthy(obj.get("floating").unwrap_or(&Value::Null));
    VERSIONED_INTERFACE_KEYWORDS
        .iter()
        .any(|(m, k, since, needs_floating)| {
            *m == model && *k == value && v >= *since && (floating || !needs_floating)
        })
}

pub fn is_not_editable(catalog: &Catalog, model: &str, field: &str) -> bool {
    let v = version(catalog);
    NOT_EDITABLE
        .iter()
        .any(|(m, f, since)| *m == model && *f == field && since.is_none_or(|s| v < s))
}

/// Models that keep at least this many objects (`$many_minimum` in pfrest's models): deleting
/// one when only that many remain → 403 `MODEL_MANY_MINIMUM_REACHED`; a PUT with fewer →
/// 400 `MODEL_REPLACE_ALL_MINIMUM_NOT_MET`. Nested models count within their parent.
pub const MANY_MINIMUM: &[(&str, usize)] = &[
    // FirewallRule: "deleting every rule" stops at the last one.
    ("FirewallRule", 1),
    ("RESTAPIAccessListEntry", 1),
    ("NTPTimeServer", 1),
    ("FirewallScheduleTimeRange", 1),
    ("IPsecPhase1Encryption", 1),
    ("IPsecPhase2Encryption", 1),
    ("RoutingGatewayGroupPriority", 1),
    ("TrafficShaperLimiterBandwidth", 1),
    ("ACMECertificateDomain", 1),
    ("BINDAccessListEntry", 1),
];

pub fn many_minimum(model: &str) -> Option<usize> {
    MANY_MINIMUM
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, n)| *n)
}

/// Fields that must be unique together (`$unique_together_fields`) → 400
/// `MODEL_FIELDS_NOT_UNIQUE_TOGETHER`.
pub const UNIQUE_TOGETHER: &[(&str, &[&str])] = &[
    ("DNSForwarderHostOverride", &["host", "domain"]),
    ("DNSResolverHostOverride", &["host", "domain"]),
    ("DNSResolverHostOverrideAlias", &["host", "domain"]),
    ("FreeRADIUSInterface", &["addr", "port", "ip_version"]),
    ("InterfaceVLAN", &["if", "tag"]),
    ("RoutingGateway", &["interface", "ipprotocol", "gateway"]),
    ("WireGuardPeerAllowedIP", &["address", "mask"]),
    ("WireGuardTunnelAddress", &["address", "mask"]),
];

/// Objects whose deletion a model refuses by its own rule (checked after references and the
/// minimum, as pfrest's `_delete` overrides run last): (model, field, value the rule matches,
/// `true` = matches when the field equals the value, `false` = when it differs, status,
/// response id).
pub const DELETE_REFUSALS: &[(&str, &str, &str, bool, u16, &str)] = &[
    // NetworkInterface::_delete: "Interface `wan` cannot be deleted."
    (
        "NetworkInterface",
        STRING_ID_KEY,
        "wan",
        true,
        400,
        "NETWORK_INTERFACE_WAN_CANNOT_BE_DELETED",
    ),
    // User::_delete: only `scope: user` accounts can be deleted (admin is `system`).
    (
        "User",
        "scope",
        "user",
        false,
        400,
        "USER_WITH_SYSTEM_SCOPE_CANNOT_BE_DELETED",
    ),
];

/// Protected objects (`$protected_model_query`) → 403 `MODEL_CANNOT_DELETE_PROTECTED_OBJECT`,
/// checked first: (model, field, value).
pub const PROTECTED: &[(&str, &str, &str)] = &[
    // UserGroup: groups with `scope: system` (all, admins).
    ("UserGroup", "scope", "system"),
];

/// Required fields that still accept `""` / `[]` (`required: true` with `allow_empty: true`);
/// every other required field given an empty value → 400 `FIELD_EMPTY_NOT_ALLOWED`.
pub const REQUIRED_ALLOW_EMPTY: &[(&str, &str)] = &[
    ("BINDZoneRecord", "rdata"),
    ("DNSResolverAccessList", "name"),
    ("DNSResolverAccessListNetwork", "network"),
    ("DNSResolverHostOverride", "host"),
    ("DNSResolverHostOverrideAlias", "host"),
    ("HAProxyBackendACL", "value"),
    ("HAProxyDNSResolver", "name"),
    ("HAProxyEmailMailer", "name"),
    ("HAProxyFrontendACL", "value"),
    ("SystemHostname", "hostname"),
    ("SystemHostname", "domain"),
];

/// Fields that hold interfaces (`InterfaceField` in pfrest's models). Their values are shown and
/// accepted in the form the REST API setting `represent_interfaces_as` names: `id` (wan, lan),
/// `if` (em0) or `descr` (WAN).
pub const INTERFACE_FIELDS: &[(&str, &str)] = &[
    ("AuthServer", "radius_nasip_attribute"),
    ("BINDSettings", "listenon"),
    ("DHCPRelay", "interface"),
    ("DHCPServer", "interface"),
    ("DHCPServerLease", "if"),
    ("DNSResolverSettings", "active_interface"),
    ("DNSResolverSettings", "outgoing_interface"),
    ("FirewallRule", "interface"),
    ("HAProxyBackend", "transparent_interface"),
    ("IPsecPhase1", "interface"),
    ("InterfaceApply", "pending_interfaces"),
    ("InterfaceBridge", "members"),
    ("InterfaceGRE", "if"),
    ("InterfaceGroup", "members"),
    ("LogSettings", "sourceip"),
    ("NTPSettings", "interface"),
    ("NetworkInterface", "track6_interface"),
    ("OneToOneNATMapping", "interface"),
    ("OpenVPNClient", "interface"),
    ("OpenVPNServer", "interface"),
    ("OpenVPNServer", "serverbridge_interface"),
    ("OutboundNATMapping", "interface"),
    ("PortForward", "interface"),
    ("RESTAPISettings", "allowed_interfaces"),
    ("RoutingGateway", "interface"),
    ("TrafficShaper", "interface"),
    ("TrafficShaperQueue", "interface"),
    ("VirtualIP", "interface"),
    ("WakeOnLANSend", "interface"),
];

/// pf's reserved words (pfSense `$pf_reserved_keywords`) and reserved table names
/// (`$reserved_table_names`): `FilterNameValidator` refuses them as alias, schedule, gateway …
/// names (exact, case-sensitive match) → 400 `FILTER_NAME_VALIDATOR_RESERVED_NAME_USED`.
pub const PF_RESERVED_NAMES: &[&str] = &[
    "all",
    "allow-opts",
    "altq",
    "anchor",
    "antispoof",
    "any",
    "bandwidth",
    "binat",
    "binat-anchor",
    "bitmask",
    "block",
    "block-policy",
    "buckets",
    "cbq",
    "code",
    "codelq",
    "crop",
    "debug",
    "divert-reply",
    "divert-to",
    "dnpipe",
    "dnqueue",
    "drop",
    "drop-ovl",
    "dup-to",
    "ether",
    "fail-policy",
    "fairq",
    "fastroute",
    "file",
    "fingerprints",
    "flags",
    "floating",
    "flush",
    "for",
    "fragment",
    "from",
    "global",
    "group",
    "hfsc",
    "hogs",
    "hostid",
    "icmp-type",
    "icmp6-type",
    "if-bound",
    "in",
    "include",
    "inet",
    "inet6",
    "interval",
    "keep",
    "keepcounters",
    "l3",
    "label",
    "limit",
    "linkshare",
    "load",
    "log",
    "loginterface",
    "map-e-portset",
    "match",
    "max",
    "max-mss",
    "max-src-conn",
    "max-src-conn-rate",
    "max-src-nodes",
    "max-src-states",
    "min-ttl",
    "modulate",
    "nat",
    "nat-anchor",
    "no",
    "no-df",
    "no-route",
    "no-sync",
    "on",
    "optimization",
    "os",
    "out",
    "overload",
    "pass",
    "port",
    "prio",
    "priority",
    "priq",
    "probability",
    "proto",
    "qlimit",
    "queue",
    "quick",
    "random",
    "random-id",
    "rdr",
    "rdr-anchor",
    "realtime",
    "reassemble",
    "reply-to",
    "require-order",
    "return",
    "return-icmp",
    "return-icmp6",
    "return-rst",
    "ridentifier",
    "round-robin",
    "route",
    "route-to",
    "rtable",
    "rule",
    "ruleset-optimization",
    "scrub",
    "set",
    "set-tos",
    "skip",
    "sloppy",
    "source-hash",
    "source-track",
    "state",
    "state-defaults",
    "state-policy",
    "static-port",
    "sticky-address",
    "syncookies",
    "synproxy",
    "table",
    "tag",
    "tagged",
    "target",
    "tbrsize",
    "timeout",
    "to",
    "tos",
    "ttl",
    "upperlimit",
    "urpf-failed",
    "user",
    "allowopts",
    "binatanchor",
    "blockpolicy",
    "divertreply",
    "divertto",
    "duptoicmptype",
    "icmp6type",
    "ifboundmaxmss",
    "maxsrcconn",
    "maxsrcconnrate",
    "maxsrcnodes",
    "maxsrcstates",
    "minttl",
    "natanchornodf",
    "noroute",
    "nosync",
    "randomidrdranchor",
    "replyto",
    "requireorderreturnicmp",
    "returnicmp6",
    "returnrstroundrobinrouteto",
    "ruleset_optimization",
    "settos",
    "sourcehash",
    "sourcetrackstatedefaults",
    "statepolicy",
    "staticport",
    "stickyaddress",
    "urpffailed",
    "dropovl",
    "failpolicy",
    "mapeportset",
    "arrow",
    "codel",
    "error",
    "filename",
    "fragcrop",
    "fragdrop",
    "IPsec",
    "L2TP",
    "maximummin",
    "OpenVPN",
    "pppoe",
    "pptp",
    "bogons",
    "bogonsv6",
    "sshguard",
    "snort2c",
    "virusprot",
    "vpn_networks",
    "negate_networks",
    "tonatsubnets",
];

/// IP protocol names (`getprotobyname`, FreeBSD `/etc/protocols`; the common ones) that pfSense's
/// `is_validaliasname` refuses as alias names.
pub const PROTOCOL_NAMES: &[&str] = &[
    "ip",
    "icmp",
    "igmp",
    "ggp",
    "ipencap",
    "st2",
    "tcp",
    "cbt",
    "egp",
    "igp",
    "pup",
    "udp",
    "hmp",
    "xns-idp",
    "rdp",
    "iso-tp4",
    "xtp",
    "ddp",
    "idpr-cmtp",
    "ipv6",
    "ipv6-route",
    "ipv6-frag",
    "idrp",
    "rsvp",
    "gre",
    "esp",
    "ah",
    "skip",
    "ipv6-icmp",
    "ipv6-nonxt",
    "ipv6-opts",
    "rspf",
    "vmtp",
    "ospf",
    "ipip",
    "encap",
    "pim",
    "carp",
    "vrrp",
    "l2tp",
    "isis",
    "sctp",
    "fc",
    "pfsync",
    "divert",
    "etherip",
    "mobility-header",
    "udplite",
    "mpls-in-ip",
    "hip",
    "shim6",
    "wesp",
    "rohc",
    "hopopt",
    "icmp6",
];

/// Service names (`getservbyname`, FreeBSD `/etc/services`; the well-known ones) that
/// `is_validaliasname` refuses as alias names and `is_port` accepts as ports.
pub const SERVICE_NAMES: &[&str] = &[
    "echo",
    "discard",
    "daytime",
    "ftp-data",
    "ftp",
    "ssh",
    "telnet",
    "smtp",
    "time",
    "domain",
    "whois",
    "tftp",
    "gopher",
    "finger",
    "http",
    "www",
    "kerberos",
    "pop2",
    "pop3",
    "sunrpc",
    "auth",
    "nntp",
    "ntp",
    "netbios-ns",
    "netbios-dgm",
    "netbios-ssn",
    "imap",
    "snmp",
    "snmp-trap",
    "bgp",
    "irc",
    "ldap",
    "https",
    "microsoft-ds",
    "kpasswd",
    "isakmp",
    "syslog",
    "printer",
    "submission",
    "ldaps",
    "rsync",
    "imaps",
    "pop3s",
    "openvpn",
    "radius",
    "radius-acct",
    "nfsd",
    "mysql",
    "svn",
    "rdp",
    "sip",
    "xmpp-client",
    "http-alt",
    "bootps",
    "bootpc",
    "dhcpv6-client",
    "dhcpv6-server",
    "ipsec-nat-t",
    "l2tp",
    "pptp",
    "socks",
    "squid",
    "webcache",
    "x11",
    "nameserver",
    "mail",
    "smtps",
    "ms-sql-s",
    "postgresql",
    "telnets",
    "ftps",
    "ftps-data",
];

/// Accounts of the firewall's own `/etc/passwd` (FreeBSD base plus pfSense's): `User.name` may
/// not take them → 400 `USER_CANNOT_USE_RESERVED_USERNAME`.
pub const RESERVED_USERNAMES: &[&str] = &[
    "root",
    "toor",
    "daemon",
    "operator",
    "bin",
    "tty",
    "kmem",
    "games",
    "news",
    "man",
    "sshd",
    "smmsp",
    "mailnull",
    "bind",
    "unbound",
    "proxy",
    "_pflogd",
    "_dhcp",
    "uucp",
    "pop",
    "auditdistd",
    "www",
    "ntpd",
    "_ypldap",
    "hast",
    "tests",
    "nobody",
];

// ---------------------------------------------------------------------------------------------
// What a rule sees

pub struct RuleCtx<'a> {
    pub store: &'a Store,
    pub model: &'a str,
    pub obj: &'a Obj,
    /// The stored object a PATCH starts from (None on create).
    pub initial: Option<&'a Obj>,
    /// The parent object of a nested model.
    pub parent: Option<&'a Obj>,
    /// Where the object sits in its list (None on create): other objects are compared without it.
    pub index: Option<usize>,
    /// The other objects of the same list.
    pub siblings: &'a [Value],
}

impl RuleCtx<'_> {
    fn str(&self, field: &str) -> &str {
        self.obj.get(field).and_then(Value::as_str).unwrap_or("")
    }
    fn list(&self, field: &str) -> Vec<&str> {
        match self.obj.get(field) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.as_str()],
            _ => Vec::new(),
        }
    }
    fn flag(&self, field: &str) -> bool {
        crate::validate::truthy(self.obj.get(field).unwrap_or(&Value::Null))
    }
}

type ModelRule = fn(&RuleCtx) -> ApiResult<()>;

/// Per-model checks in pfrest's order (field validators, then `validate_<field>` methods in field
/// order, then unique-together).
pub const MODEL_RULES: &[(&str, ModelRule)] = &[
    ("FirewallAlias", firewall_alias),
    ("FirewallSchedule", filter_name_only),
    ("RoutingGateway", filter_name_only),
    ("RoutingGatewayGroup", filter_name_only),
    ("FirewallRule", firewall_rule),
    ("StaticRoute", static_route),
    ("DHCPServerStaticMapping", dhcp_static_mapping),
    ("User", user),
    ("InterfaceVLAN", interface_vlan),
    ("NetworkInterface", network_interface),
];

/// A field validator of pfrest's (`Validators/*.inc`) that the spec does not state.
#[derive(Clone, Copy)]
pub enum FieldValidator {
    /// `IPAddressValidator(allow_ipv4, allow_ipv6, allow_keywords)` → `IP_ADDRESS_VALIDATOR_FAILED`.
    Ip(bool, bool, &'static [&'static str]),
    /// `SubnetValidator(allow_ipv4, allow_ipv6, allow_alias)` → `SUBNET_VALIDATOR_FAILED`.
    SubnetOrAlias,
    /// `MACAddressValidator` → `MAC_ADDRESS_VALIDATOR_FAILED`.
    Mac,
    /// `HostnameValidator(allow_hostname: true, allow_domain: false)` → `HOSTNAME_VALIDATOR_FAILED`.
    HostnameLabel,
}

/// Field validators by (model, field), from pfrest v2.7.1's model constructors; found missing by
/// the differential test against the lab. Lists are checked item by item; empty values pass.
pub const FIELD_VALIDATORS: &[(&str, &str, FieldValidator)] = &[
    (
        "RoutingGateway",
        "gateway",
        FieldValidator::Ip(true, true, &["dynamic"]),
    ),
    (
        "RoutingGateway",
        "monitor",
        FieldValidator::Ip(true, true, &[]),
    ),
    (
        "DNSResolverHostOverride",
        "ip",
        FieldValidator::Ip(true, true, &[]),
    ),
    ("DHCPServerStaticMapping", "mac", FieldValidator::Mac),
    (
        "DHCPServerStaticMapping",
        "ipaddr",
        FieldValidator::Ip(true, false, &[]),
    ),
    ("StaticRoute", "network", FieldValidator::SubnetOrAlias),
    ("SystemHostname", "hostname", FieldValidator::HostnameLabel),
];

fn check_field_validators(ctx: &RuleCtx) -> ApiResult<()> {
    for (model, field, validator) in FIELD_VALIDATORS {
        if *model != ctx.model {
            continue;
        }
        for value in ctx.list(field) {
            if value.is_empty() {
                continue;
            }
            let (ok, id) = match validator {
                FieldValidator::Ip(v4, v6, keywords) => (
                    keywords.contains(&value)
                        || match value.parse::<IpAddr>() {
                            Ok(IpAddr::V4(_)) => *v4,
                            Ok(IpAddr::V6(_)) => *v6,
                            Err(_) => false,
                        },
                    "IP_ADDRESS_VALIDATOR_FAILED",
                ),
                FieldValidator::SubnetOrAlias => (
                    is_subnet(value) || alias_of_any_type(ctx.store, value),
                    "SUBNET_VALIDATOR_FAILED",
                ),
                FieldValidator::Mac => (
                    value.split(':').count() == 6
                        && value
                            .split(':')
                            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit())),
                    "MAC_ADDRESS_VALIDATOR_FAILED",
                ),
                FieldValidator::HostnameLabel => (
                    value.len() <= 63
                        && !value.starts_with('-')
                        && !value.ends_with('-')
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                    "HOSTNAME_VALIDATOR_FAILED",
                ),
            };
            if !ok {
                return Err(bad(
                    id,
                    format!("Field `{field}` value `{value}` is not valid."),
                ));
            }
        }
    }
    Ok(())
}

fn alias_of_any_type(store: &Store, name: &str) -> bool {
    store
        .collections
        .get("FirewallAlias")
        .into_iter()
        .flatten()
        .any(|a| a.get("name").and_then(Value::as_str) == Some(name))
}

/// InterfaceVLAN `validate_if`: the parent must be a NIC of the system (pfSense's
/// `does_interface_exist`) → 400 `VLAN_INTERFACE_PARENT_NOT_FOUND`.
fn interface_vlan(ctx: &RuleCtx) -> ApiResult<()> {
    let parent = ctx.str("if");
    let exists = ctx
        .store
        .collections
        .get("AvailableInterface")
        .into_iter()
        .flatten()
        .any(|nic| nic.get("if").and_then(Value::as_str) == Some(parent));
    if !parent.is_empty() && !exists {
        return Err(bad(
            "VLAN_INTERFACE_PARENT_NOT_FOUND",
            format!("Parent interface `{parent}` does not exist."),
        ));
    }
    Ok(())
}

/// Run the model's own rules and unique-together on a merged, type-checked object.
pub fn check(ctx: &RuleCtx) -> ApiResult<()> {
    check_field_validators(ctx)?;
    for (model, rule) in MODEL_RULES {
        if *model == ctx.model {
            rule(ctx)?;
        }
    }
    check_unique_together(ctx)
}

fn bad(id: &str, message: String) -> ApiError {
    ApiError::bad(id, message)
}

fn check_unique_together(ctx: &RuleCtx) -> ApiResult<()> {
    let Some((_, fields)) = UNIQUE_TOGETHER.iter().find(|(m, _)| *m == ctx.model) else {
        return Ok(());
    };
    for (i, other) in ctx.siblings.iter().enumerate() {
        if Some(i) == ctx.index {
            continue;
        }
        let same = fields.iter().all(|f| {
            other.get(*f).unwrap_or(&Value::Null) == ctx.obj.get(*f).unwrap_or(&Value::Null)
        });
        if same {
            return Err(bad(
                "MODEL_FIELDS_NOT_UNIQUE_TOGETHER",
                format!(
                    "Fields [{}] together must be unique from all other objects of its kind. Values in use by object with ID `{i}`.",
                    fields.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Names

/// The ids of the interfaces (`wan`, `lan`, `opt1`).
fn interface_ids(store: &Store) -> Vec<&str> {
    store
        .collections
        .get("NetworkInterface")
        .into_iter()
        .flatten()
        .filter_map(|i| i.get(STRING_ID_KEY).and_then(Value::as_str))
        .collect()
}

/// pfSense's `get_pf_reserved()`: pf's keywords and tables, and every interface id in capitals,
/// alone and with `__NETWORK`.
fn reserved_name(interface_ids: &[&str], name: &str) -> bool {
    PF_RESERVED_NAMES.contains(&name)
        || interface_ids.iter().any(|id| {
            let up = id.to_uppercase();
            name == up || name == format!("{up}__NETWORK")
        })
}

/// pfrest's `FilterNameValidator` on the `name` field (aliases, schedules, gateways …).
fn filter_name(ctx: &RuleCtx, field: &str) -> ApiResult<()> {
    let name = ctx.str(field);
    if name.is_empty() {
        return Ok(());
    }
    let interfaces = interface_ids(ctx.store);
    if reserved_name(&interfaces, name) {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
            format!(
                "Field `{field}` cannot be `{name}` because it is a name reserved by the system."
            ),
        ));
    }
    if name.starts_with("pkg_") {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_CANNOT_START_WITH_PKG",
            format!("Field `{field}` cannot be `{name}` because it starts with `pkg_`."),
        ));
    }
    if is_php_numeric(name) {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_CANNOT_BE_NUMERICAL",
            format!("Field `{field}` cannot be `{name}` because it is entirely numerical."),
        ));
    }
    let in_use_by_group = ctx
        .store
        .collections
        .get("InterfaceGroup")
        .into_iter()
        .flatten()
        .any(|g| g.get("ifname").and_then(Value::as_str) == Some(name));
    if interfaces.contains(&name) || in_use_by_group {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
            format!(
                "Field `{field}` cannot be `{name}` because it is in use by an existing interface."
            ),
        ));
    }
    Ok(())
}

fn filter_name_only(ctx: &RuleCtx) -> ApiResult<()> {
    filter_name(ctx, "name")
}

/// NetworkInterface `descr`: pfrest's `FilterNameValidator` runs on the merged object, and
/// `get_pf_reserved()` reserves every interface id in capitals, so a change to an interface
/// that keeps its default description (its id in capitals, shown when the config holds none)
/// is refused unless the call gives another one (seen on the pfrest lab, v2.7.1 to v2.10.0;
/// pfSense's webGUI leaves interface names out of that check). A name equal to another
/// interface's id is refused too; its own id (`wan` for wan) is not (`id__except`).
fn network_interface(ctx: &RuleCtx) -> ApiResult<()> {
    let descr = ctx.str("descr");
    if descr.is_empty() {
        return Ok(());
    }
    let own_id = ctx.obj.get(STRING_ID_KEY).and_then(Value::as_str);
    let ids = interface_ids(ctx.store);
    if reserved_name(&ids, descr) {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
            format!(
                "Field `descr` cannot be `{descr}` because it is a name reserved by the system."
            ),
        ));
    }
    if ids.iter().any(|id| *id == descr && Some(*id) != own_id) {
        return Err(bad(
            "FILTER_NAME_VALIDATOR_NAME_IN_USE_BY_INTERFACE",
            format!(
                "Field `descr` cannot be `{descr}` because it is in use by an existing interface."
            ),
        ));
    }
    Ok(())
}

/// PHP's `is_numeric` for the strings a name can be: optional sign, digits, one dot, exponent.
fn is_php_numeric(s: &str) -> bool {
    let t = s.trim_start();
    !t.is_empty() && t.parse::<f64>().is_ok() && !t.contains(['i', 'I', 'n', 'N'])
}

/// pfSense's `is_validaliasname`: under 32 characters of a-z, A-Z, 0-9 and `_`, not only digits
/// or underscores, not `port`/`pass`, not an IP protocol or service name.
fn is_valid_alias_name(name: &str) -> bool {
    let chars_ok = name.len() < 32
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.bytes().all(|b| b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    let lower = name.to_ascii_lowercase();
    chars_ok
        && !matches!(name, "port" | "pass")
        && !PROTOCOL_NAMES.contains(&lower.as_str())
        && !SERVICE_NAMES.contains(&lower.as_str())
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// pfSense's `is_fqdn`: dot-separated labels ending in an alphabetic top-level label.
pub fn is_fqdn(value: &str) -> bool {
    let v = value.strip_suffix('.').unwrap_or(value);
    let labels: Vec<&str> = v.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str, underscore: bool| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
    };
    let (tld, rest) = labels.split_last().unwrap_or((&"", &[]));
    let tld = tld.strip_prefix("xn--").unwrap_or(tld);
    let (second, first) = rest.split_last().unwrap_or((&"", &[]));
    !tld.is_empty()
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && label_ok(second, false)
        && first.iter().all(|l| label_ok(l, true))
}

/// pfSense's `is_subnet`: an IPv4 or IPv6 address with a prefix length in range.
pub fn is_subnet(value: &str) -> bool {
    let Some((addr, bits)) = value.split_once('/') else {
        return false;
    };
    if !bits.bytes().all(|b| b.is_ascii_digit()) || bits.is_empty() {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => (1..=32).contains(&bits),
        Ok(IpAddr::V6(_)) => (1..=128).contains(&bits),
        Err(_) => false,
    }
}

/// pfSense's `is_port` (1-65535 or a service name) and `is_portrange` (`a:b`).
pub fn is_port_or_range(value: &str) -> bool {
    let is_port = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
            || SERVICE_NAMES.contains(&p)
    };
    match value.split_once(':') {
        Some((a, b)) => is_port(a) && is_port(b),
        None => is_port(value),
    }
}

fn ipv4_network(addr: Ipv4Addr, bits: u32) -> u32 {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    };
    u32::from(addr) & mask
}

fn alias_of_type(store: &Store, name: &str, port: bool) -> bool {
    store
        .collections
        .get("FirewallAlias")
        .into_iter()
        .flatten()
        .any(|a| {
            a.get("name").and_then(Value::as_str) == Some(name)
                && (a.get("type").and_then(Value::as_str) == Some("port")) == port
        })
}

// ---------------------------------------------------------------------------------------------
// Models

/// FirewallAlias: FilterNameValidator and `validate_name` (is_validaliasname →
/// `INVALID_FIREWALL_ALIAS_NAME`), `validate_address` per type, `validate_detail`.
fn firewall_alias(ctx: &RuleCtx) -> ApiResult<()> {
    filter_name(ctx, "name")?;
    let name = ctx.str("name");
    if !is_valid_alias_name(name) {
        return Err(bad(
            "INVALID_FIREWALL_ALIAS_NAME",
            format!("Invalid firewall alias name `{name}`."),
        ));
    }
    let kind = ctx.str("type");
    for address in ctx.list("address") {
        let (ok, id, what) = match kind {
            "port" => (
                is_port_or_range(address) || alias_of_type(ctx.store, address, true),
                "INVALID_PORT_ALIAS_ADDRESS",
                "a valid port, range, or alias",
            ),
            "host" => (
                address.parse::<IpAddr>().is_ok()
                    || is_fqdn(address)
                    || alias_of_type(ctx.store, address, false),
                "INVALID_HOST_ALIAS_ADDRESS",
                "a valid IP, FQDN, or alias",
            ),
            "network" => (
                is_subnet(address) || is_fqdn(address) || alias_of_type(ctx.store, address, false),
                "INVALID_NETWORK_ALIAS_ADDRESS",
                "a valid CIDR, FQDN, or alias",
            ),
            _ => (true, "", ""),
        };
        if !ok {
            let label = match kind {
                "port" => "Port",
                "host" => "Host",
                _ => "Network",
            };
            return Err(bad(
                id,
                format!("{label} alias `address` value `{address}` is not {what}."),
            ));
        }
    }
    if ctx.list("detail").len() > ctx.list("address").len() {
        return Err(bad(
            "TOO_MANY_ALIAS_DETAILS",
            "Aliases cannot contain more `detail` items than `address` items.".into(),
        ));
    }
    Ok(())
}

/// FirewallAlias `validate_detail`: when some details are given, missing ones are filled with
/// "Entry added <date>" (pfrest runs the method once per given detail, so none → none).
pub fn complete(model: &str, obj: &mut Obj) {
    // InterfaceVLAN `validate_vlanif`: `vlanif` is always `<if>.<tag>`.
    if model == "InterfaceVLAN" {
        let vlanif = format!(
            "{}.{}",
            obj.get("if").and_then(Value::as_str).unwrap_or(""),
            obj.get("tag").map(|t| t.to_string()).unwrap_or_default()
        );
        obj.insert("vlanif".into(), json!(vlanif));
        return;
    }
    if model != "FirewallAlias" {
        return;
    }
    let addresses = obj
        .get("address")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let mut details = obj
        .get("detail")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !details.is_empty() && details.len() < addresses {
        let stamp = httpdate_now();
        while details.len() < addresses {
            details.push(json!(format!("Entry added {stamp}")));
        }
        obj.insert("detail".into(), Value::Array(details));
    }
}

/// An RFC 2822 date like PHP's `date('r')`, in UTC.
fn httpdate_now() -> String {
    let secs = crate::store::now_unix();
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil calendar algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// FirewallRule `validate_interface`, `validate_statetype`, `validate_tcp_flags_set`,
/// `validate_dnpipe`/`validate_pdnpipe`, `validate_ackqueue`.
fn firewall_rule(ctx: &RuleCtx) -> ApiResult<()> {
    if !ctx.flag("floating") && ctx.list("interface").len() > 1 {
        return Err(bad(
            "FIREWALL_RULE_MULTIPLE_INTERFACE_WITHOUT_FLOATING",
            "Field `interface` cannot contain more than one value unless `floating` is enabled."
                .into(),
        ));
    }
    if ctx.str("statetype") == "synproxy state" {
        if ctx.str("protocol") != "tcp" {
            return Err(bad(
                "FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_NON_TCP_PROTOCOL",
                "Field `statetype` cannot be set to `synproxy state` unless `protocol` is set to `tcp`.".into(),
            ));
        }
        if !ctx.str("gateway").is_empty() {
            return Err(bad(
                "FIREWALL_RULE_SYNPROXY_STATE_TYPE_WITH_GATEWAY",
                "Field `statetype` cannot be set to `synproxy state` when a `gateway` value is set."
                    .into(),
            ));
        }
    }
    let out_of = ctx.list("tcp_flags_out_of");
    for flag in ctx.list("tcp_flags_set") {
        if !out_of.contains(&flag) {
            return Err(bad(
                "FIREWALL_RULE_TCP_FLAGS_SET_NOT_IN_TCP_FLAGS_OUT_OF",
                format!(
                    "Field `tcp_flags_set` value `{flag}` is not present in `tcp_flags_out_of`."
                ),
            ));
        }
    }
    let limiter = |name: &str| -> Option<&'static str> {
        let limiters = ctx.store.collections.get("TrafficShaperLimiter");
        for l in limiters.into_iter().flatten() {
            if l.get("name").and_then(Value::as_str) == Some(name) {
                return Some("limiter");
            }
            let in_queue = l
                .get("queue")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|q| q.get("name").and_then(Value::as_str) == Some(name));
            if in_queue {
                return Some("queue");
            }
        }
        None
    };
    let dnpipe = ctx.str("dnpipe");
    if !dnpipe.is_empty() && limiter(dnpipe).is_none() {
        return Err(ApiError::new(
            404,
            "FIREWALL_RULE_DNPIPE_NOT_FOUND",
            format!(
                "Field `dnpipe` must be an existing Traffic Shaper Limiter or Limiter Queue. Could not locate object with `name` value `{dnpipe}`"
            ),
        ));
    }
    let pdnpipe = ctx.str("pdnpipe");
    if !pdnpipe.is_empty() {
        if dnpipe.is_empty() {
            return Err(bad(
                "FIREWALL_RULE_PDNPIPE_SET_WITHOUT_DNPIPE",
                "Field `pdnpipe` cannot be set unless `dnpipe` is also set.".into(),
            ));
        }
        if pdnpipe == dnpipe {
            return Err(bad(
                "FIREWALL_RULE_PDNPIPE_CANNOT_MATCH_DNPIPE",
                "Field `pdnpipe` cannot use the same limiter as `dnpipe`.".into(),
            ));
        }
        match limiter(pdnpipe) {
            None => {
                return Err(ApiError::new(
                    404,
                    "FIREWALL_RULE_PDNPIPE_NOT_FOUND",
                    format!(
                        "Field `pdnpipe` must be an existing Traffic Shaper Limiter or Limiter Queue. Could not locate object with `name` value `{pdnpipe}`"
                    ),
                ));
            }
            Some(kind) if Some(kind) != limiter(dnpipe) => {
                return Err(ApiError::new(
                    409,
                    "FIREWALL_RULE_PDNPIPE_DOES_NOT_MATCH_DNPIPE_LIMITER_TYPE",
                    "Field `pdnpipe` must be of the same limiter type as `dnpipe`. A pipe and a queue cannot be used concurrently.",
                ));
            }
            _ => {}
        }
    }
    let ackqueue = ctx.str("ackqueue");
    if !ackqueue.is_empty() {
        if ctx.str("defaultqueue").is_empty() {
            return Err(bad(
                "FIREWALL_RULE_ACKQUEUE_WITHOUT_DEFAULTQUEUE",
                "Field `ackqueue` cannot be defined without `defaultqueue`.".into(),
            ));
        }
        if ackqueue == ctx.str("defaultqueue") {
            return Err(bad(
                "FIREWALL_RULE_ACKQUEUE_MATCHES_DEFAULTQUEUE",
                "Field `ackqueue` cannot match the value of `defaultqueue`.".into(),
            ));
        }
    }
    Ok(())
}

/// The static IPv4 address and prefix of an interface, if it has one.
fn interface_ipv4(store: &Store, id: &str) -> Option<(Ipv4Addr, u32)> {
    let iface = store
        .collections
        .get("NetworkInterface")?
        .iter()
        .find(|i| i.get(STRING_ID_KEY).and_then(Value::as_str) == Some(id))?;
    if iface.get("typev4").and_then(Value::as_str) != Some("static") {
        return None;
    }
    let addr = iface.get("ipaddr")?.as_str()?.parse::<Ipv4Addr>().ok()?;
    let bits = match iface.get("subnet")? {
        Value::Number(n) => n.as_u64()? as u32,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some((addr, bits))
}

/// StaticRoute `validate_network` (the destination may not be an interface's own subnet) and
/// `validate_gateway` (IP versions of network and gateway match).
fn static_route(ctx: &RuleCtx) -> ApiResult<()> {
    let network = ctx.str("network");
    let Some((addr, bits)) = network.split_once('/') else {
        return Ok(());
    };
    let bits: u32 = bits.parse().unwrap_or(32);
    let parsed = addr.parse::<IpAddr>().ok();
    if let Some(IpAddr::V4(v4)) = parsed {
        let net = ipv4_network(v4, bits);
        for iface in ctx
            .store
            .collections
            .get("NetworkInterface")
            .into_iter()
            .flatten()
        {
            let Some(id) = iface.get(STRING_ID_KEY).and_then(Value::as_str) else {
                continue;
            };
            if let Some((if_addr, if_bits)) = interface_ipv4(ctx.store, id)
                && ipv4_network(if_addr, if_bits) == net
            {
                return Err(bad(
                    "STATIC_ROUTE_CONFLICTS_WITH_IPV4_INTERFACE",
                    format!(
                        "Destination network `{}/{bits}` conflicts with the IP address of interface with ID `{id}`",
                        Ipv4Addr::from(net)
                    ),
                ));
            }
        }
    }
    let gateway = ctx.str("gateway");
    let gw_proto = ctx
        .store
        .collections
        .get("RoutingGateway")
        .into_iter()
        .flatten()
        .find(|g| g.get("name").and_then(Value::as_str) == Some(gateway))
        .and_then(|g| g.get("ipprotocol").and_then(Value::as_str));
    match (gw_proto, parsed) {
        (Some("inet"), Some(IpAddr::V6(_))) => Err(bad(
            "STATIC_ROUTE_NON_IPV4_NETWORK_WITH_IPV4_GATEWAY",
            "Cannot assign non-IPv4 `network` to IPv4 `gateway`.".into(),
        )),
        (Some("inet6"), Some(IpAddr::V4(_))) => Err(bad(
            "STATIC_ROUTE_NON_IPV6_NETWORK_WITH_IPV6_GATEWAY",
            "Cannot assign non-IPv6 `network` to IPv6 `gateway`.".into(),
        )),
        _ => Ok(()),
    }
}

fn ipv4_in_range(ip: Ipv4Addr, from: &str, to: &str) -> bool {
    match (from.parse::<Ipv4Addr>(), to.parse::<Ipv4Addr>()) {
        (Ok(a), Ok(b)) => (u32::from(a)..=u32::from(b)).contains(&u32::from(ip)),
        _ => false,
    }
}

/// DHCPServerStaticMapping `validate_ipaddr`: not inside the server's pool or an extra pool, not
/// a virtual IP (409), and within the interface's subnet (400).
fn dhcp_static_mapping(ctx: &RuleCtx) -> ApiResult<()> {
    let ipaddr = ctx.str("ipaddr");
    let Ok(ip) = ipaddr.parse::<Ipv4Addr>() else {
        return Ok(());
    };
    let Some(parent) = ctx.parent else {
        return Ok(());
    };
    let field = |o: &Obj, f: &str| o.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    let conflict = |what: &str| {
        ApiError::new(
            409,
            "DHCP_SERVER_STATIC_MAPPING_IPADDR_OVERLAPS_EXISTING_OBJECT",
            format!("Field `ipaddr` overlaps existing {what}."),
        )
    };
    if ipv4_in_range(ip, &field(parent, "range_from"), &field(parent, "range_to")) {
        return Err(conflict(
            "DHCP Server Static Mapping (the server's address pool)",
        ));
    }
    for (i, pool) in parent
        .get("pool")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(p) = pool.as_object()
            && ipv4_in_range(ip, &field(p, "range_from"), &field(p, "range_to"))
        {
            return Err(conflict(&format!("DHCP Server Address Pool with ID `{i}`")));
        }
    }
    for (i, vip) in ctx
        .store
        .collections
        .get("VirtualIP")
        .into_iter()
        .flatten()
        .enumerate()
    {
        if vip.get("subnet").and_then(Value::as_str) == Some(ipaddr) {
            return Err(conflict(&format!("Virtual IP with ID `{i}`")));
        }
    }
    let iface = parent
        .get("interface")
        .and_then(Value::as_str)
        .or_else(|| parent.get(STRING_ID_KEY).and_then(Value::as_str))
        .unwrap_or("");
    if let Some((if_addr, bits)) = interface_ipv4(ctx.store, iface)
        && ipv4_network(ip, bits) != ipv4_network(if_addr, bits)
    {
        return Err(bad(
            "DHCP_SERVER_STATIC_MAPPING_IPADDR_NOT_WITHIN_SUBNET",
            "Field `ipaddr` must be within the interface's subnet.".into(),
        ));
    }
    Ok(())
}

/// User `validate_name`: the firewall's own accounts are reserved.
fn user(ctx: &RuleCtx) -> ApiResult<()> {
    let name = ctx.str("name");
    let unchanged = ctx
        .initial
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str)
        == Some(name);
    if RESERVED_USERNAMES.contains(&name) && !unchanged {
        return Err(bad(
            "USER_CANNOT_USE_RESERVED_USERNAME",
            format!("Field `username` cannot use system reserved username `{name}`."),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Deletes

/// pfrest's delete checks for one object, in its order: protected (403), referenced (409, by the
/// caller), many_minimum (403), the model's own `_delete` refusals (400).
pub fn check_protected(model: &str, obj: &Obj) -> ApiResult<()> {
    if PROTECTED
        .iter()
        .any(|(m, f, v)| *m == model && obj.get(*f).and_then(Value::as_str) == Some(*v))
    {
        return Err(ApiError::new(
            403,
            "MODEL_CANNOT_DELETE_PROTECTED_OBJECT",
            "This object cannot be deleted because it is protected.",
        ));
    }
    Ok(())
}

pub fn check_minimum(model: &str, remaining: usize) -> ApiResult<()> {
    if let Some(min) = many_minimum(model)
        && remaining <= min
    {
        return Err(ApiError::new(
            403,
            "MODEL_MANY_MINIMUM_REACHED",
            format!(
                "Object deletion denied. Deleting this object would result in the number of existing objects falling below the minimum number allowed for this Model, {min}."
            ),
        ));
    }
    Ok(())
}

/// Where a certificate authority counts as in use (pfSense's `ca_in_use`: OpenVPN servers and
/// clients, IPsec peers, LDAP servers): (model, field holding the CA's refid).
pub const CA_USERS: &[(&str, &str)] = &[
    ("OpenVPNServer", "caref"),
    ("OpenVPNClient", "caref"),
    ("IPsecPhase1", "caref"),
    ("AuthServer", "ldap_caref"),
];

/// The status pfrest answers when a CA in use is deleted: 403 (ForbiddenError) before v2.7.4,
/// 409 (ConflictError) from v2.7.4 on, keyed by the first version of each.
pub const CA_IN_USE_STATUS: &[((u32, u32, u32), u16)] = &[((0, 0, 0), 403), ((2, 7, 4), 409)];

pub fn check_refusals(catalog: &Catalog, store: &Store, model: &str, obj: &Obj) -> ApiResult<()> {
    if model == "CertificateAuthority"
        && let Some(refid) = obj.get("refid").and_then(Value::as_str)
    {
        let in_use = CA_USERS.iter().any(|(m, f)| {
            store
                .collections
                .get(*m)
                .into_iter()
                .flatten()
                .any(|o| o.get(*f).and_then(Value::as_str) == Some(refid))
        });
        if in_use {
            let v = version(catalog);
            let status = CA_IN_USE_STATUS
                .iter()
                .rev()
                .find(|(since, _)| v >= *since)
                .map_or(409, |(_, s)| *s);
            return Err(ApiError::new(
                status,
                "CERTIFICATE_AUTHORITY_CANNOT_BE_DELETED_WHILE_IN_USE",
                "Certificate authority cannot be deleted because it is in use.",
            ));
        }
    }
    for (m, field, value, when_equal, status, id) in DELETE_REFUSALS {
        if *m != model {
            continue;
        }
        let actual = obj.get(*field).and_then(Value::as_str).unwrap_or("");
        if (actual == *value) == *when_equal {
            return Err(ApiError::new(
                *status,
                id,
                format!("This object cannot be deleted (`{field}` is `{actual}`)."),
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Interface representation

/// The REST API setting `represent_interfaces_as`: `id` (default), `if` or `descr`.
pub fn interface_form(store: &Store) -> &str {
    store
        .singletons
        .get("RESTAPISettings")
        .and_then(|s| s.get("represent_interfaces_as"))
        .and_then(Value::as_str)
        .unwrap_or("id")
}

fn map_interface_values(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => {
            for item in items {
                map_interface_values(item, f);
            }
        }
        _ => {}
    }
}

fn interfaces(store: &Store) -> impl Iterator<Item = &Value> {
    store
        .collections
        .get("NetworkInterface")
        .into_iter()
        .flatten()
}

/// The representation of interface `id` under the current setting.
fn shown_interface(store: &Store, form: &str, id: &str) -> Option<String> {
    let iface =
        interfaces(store).find(|i| i.get(STRING_ID_KEY).and_then(Value::as_str) == Some(id))?;
    match form {
        "if" => iface.get("if").and_then(Value::as_str).map(str::to_string),
        "descr" => Some(
            iface
                .get("descr")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| id.to_uppercase()),
        ),
        _ => None,
    }
}

/// Interface fields of an object as the client sees them.
pub fn interfaces_to_shown(store: &Store, model: &str, obj: &mut serde_json::Map<String, Value>) {
    let form = interface_form(store);
    if form == "id" {
        return;
    }
    for (m, field) in INTERFACE_FIELDS {
        if *m == model
            && let Some(v) = obj.get_mut(*field)
        {
            map_interface_values(v, &|s| shown_interface(store, form, s));
        }
    }
}

/// Interface fields of a request back to interface ids (values that name no interface stay as
/// they are, as in pfrest).
pub fn interfaces_to_internal(store: &Store, model: &str, obj: &mut Obj) {
    let form = interface_form(store);
    if form == "id" {
        return;
    }
    for (m, field) in INTERFACE_FIELDS {
        if *m == model
            && let Some(v) = obj.get_mut(*field)
        {
            map_interface_values(v, &|s| {
                interfaces(store)
                    .find(|i| {
                        let id = i.get(STRING_ID_KEY).and_then(Value::as_str).unwrap_or("");
                        shown_interface(store, form, id).as_deref() == Some(s)
                    })
                    .and_then(|i| i.get(STRING_ID_KEY).and_then(Value::as_str))
                    .map(str::to_string)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_follow_pfsense_predicates() {
        assert!(is_subnet("10.0.0.0/8"));
        assert!(!is_subnet("10.0.0.0/33"));
        assert!(!is_subnet("10.0.0.0"));
        assert!(is_subnet("2001:db8::/64"));
        assert!(is_fqdn("www.example.com"));
        assert!(is_fqdn("example.com."));
        assert!(!is_fqdn("localhost"));
        assert!(!is_fqdn("10.0.0.300"));
        assert!(!is_fqdn("-bad.example.com"));
        assert!(is_port_or_range("443"));
        assert!(is_port_or_range("1000:2000"));
        assert!(is_port_or_range("https"));
        assert!(!is_port_or_range("70000"));
        assert!(!is_port_or_range("1000-2000"));
    }

    #[test]
    fn alias_names_follow_is_validaliasname() {
        assert!(is_valid_alias_name("web_servers"));
        assert!(!is_valid_alias_name("web-servers"));
        assert!(!is_valid_alias_name("___"));
        assert!(!is_valid_alias_name("12345"));
        assert!(!is_valid_alias_name("ssh"));
        assert!(!is_valid_alias_name("tcp"));
        assert!(!is_valid_alias_name(&"a".repeat(32)));
    }

    #[test]
    fn dates_read_like_php_date_r() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }
}
