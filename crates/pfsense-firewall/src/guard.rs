//! The lockout guard: before a change to rules, NAT, aliases, interfaces or the webGUI/SSH
//! settings, does the MCP server's own path to the REST API stay allowed? pfSense has no restore
//! API, so a change that cuts the API off cannot be undone through it. The same evaluator answers
//! for the model before and after the change.

use crate::explain::{Query, RuleRef, Translation, Verdict};
use crate::json::objects;
use crate::model::{ApiInput, Direction, FirewallModel};
use crate::route::RouteBack;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Rule,
    PortForward,
    Alias,
    Interface,
    InterfaceGroup,
    WebGui,
    Ssh,
    /// An entry of the REST API's access list (`api_gate`), not part of the firewall model.
    ApiAccessEntry,
    /// A local user, a user group or an API key: who the REST API lets in and with which
    /// privileges (`api_gate::accounts_change`), not part of the firewall model.
    User,
    UserGroup,
    ApiKey,
    /// A firewall schedule: rules, the REST API's access list and limiters name it
    /// ([`SCHEDULES`]), not part of the firewall model.
    Schedule,
    /// A limiter (dummynet pipe) and a queue of one: rules name them in `dnpipe`/`pdnpipe`
    /// ([`LIMITERS`]), not part of the firewall model.
    Limiter,
    LimiterQueue,
    /// An interface's ALTQ traffic shaper and a queue of one: rules name the queues in
    /// `defaultqueue`/`ackqueue` ([`SHAPER_QUEUES`]), not part of the firewall model.
    Shaper,
    ShaperQueue,
    /// An authentication server (LDAP, RADIUS): OpenVPN servers name it in `authmode`
    /// ([`AUTH_SERVERS`]), not part of the firewall model.
    AuthServer,
    /// A gateway and a gateway group: interfaces, the default gateway and gateway groups name
    /// them ([`GATEWAYS`], [`GATEWAY_GROUPS`]). A gateway is part of the firewall model: the
    /// route back to a server off the firewall's subnets goes through one
    /// ([`crate::route`]); a group is not.
    Gateway,
    GatewayGroup,
    /// A static route and the default gateway setting: the route back to a server off the
    /// firewall's subnets ([`crate::route`]).
    StaticRoute,
    DefaultGateway,
    /// An IPsec phase 1: its phase 2 entries name its `ikeid` ([`IPSEC_PHASE1S`]), not part of
    /// the firewall model.
    IpsecPhase1,
    /// An OpenVPN server: client specific overrides name its `vpnif` ([`OPENVPN_SERVERS`]).
    OpenVpnServer,
    /// A WireGuard tunnel: peers name it in `tun` ([`WIREGUARD_TUNNELS`]).
    WireGuardTunnel,
    /// A virtual IP: a CARP one is an interface of IPsec, OpenVPN and IP aliases, and gateway
    /// groups and DHCP relay name it ([`VIRTUAL_IPS`]). Part of the firewall model: its address
    /// is the firewall's, and may be the one the server's URL leads to.
    VirtualIp,
    /// A VLAN: an interface assigned to it names its device `vlanif` in `if` ([`VLANS`]), not
    /// part of the firewall model.
    InterfaceVlan,
    /// A LAGG: a VLAN names its device `laggif` as its parent in `if` ([`LAGGS`]), not part of
    /// the firewall model.
    InterfaceLagg,
    /// A 1:1 NAT mapping: it may send the server's connections to the API's address to an
    /// inside host (`explain`).
    OneToOneNat,
    /// A host override of the DNS resolver or forwarder, and an alias of one: they may answer
    /// the name this server's URL gives (`api_gate::host_override_change`), not part of the
    /// firewall model.
    DnsHostOverride,
    DnsHostOverrideAlias,
}

impl ObjectKind {
    /// Whether the kind is part of the firewall model the traffic evaluator reads.
    pub fn in_model(self) -> bool {
        !matches!(
            self,
            ObjectKind::ApiAccessEntry
                | ObjectKind::User
                | ObjectKind::UserGroup
                | ObjectKind::ApiKey
                | ObjectKind::Schedule
                | ObjectKind::Limiter
                | ObjectKind::LimiterQueue
                | ObjectKind::Shaper
                | ObjectKind::ShaperQueue
                | ObjectKind::AuthServer
                | ObjectKind::GatewayGroup
                | ObjectKind::IpsecPhase1
                | ObjectKind::OpenVpnServer
                | ObjectKind::WireGuardTunnel
                | ObjectKind::InterfaceVlan
                | ObjectKind::InterfaceLagg
                | ObjectKind::DnsHostOverride
                | ObjectKind::DnsHostOverrideAlias
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeOp {
    Create,
    /// The API's PATCH: the given fields replace those of the object `id`.
    Update,
    Delete,
    /// A bulk delete (DELETE on the collection): `id` is the array of the ids its filters
    /// match, all taken out at once.
    DeleteMany,
    /// A PUT on the collection: `object` is the whole new list.
    Replace,
}

/// A proposed change, in the shape of the API call that would make it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ObjectKind,
    pub op: ChangeOp,
    /// The object's id: its position for rules, forwards, aliases and groups; `wan`/`lan`/… for
    /// interfaces; an array of them for a bulk delete. Ignored for create, replace and the
    /// webGUI/SSH settings.
    #[serde(default)]
    pub id: Option<Value>,
    /// The object (create) or the changed fields (update).
    #[serde(default)]
    pub object: Value,
}

/// How the MCP server reaches the API, as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerPath {
    /// The server's address as the firewall sees it (after any NAT in between).
    pub source: IpAddr,
    /// The interface its packets arrive on; by default the one whose subnet holds `source`.
    #[serde(default)]
    pub interface: Option<String>,
    /// The firewall address the server connects to; by default `connects_to` when the
    /// firewall holds it, else that interface's address.
    #[serde(default)]
    pub api_address: Option<IpAddr>,
    /// The address the server's URL leads to (its host, resolved). Judged as the API address
    /// while the firewall holds it (an interface's or a virtual IP's address): a server on LAN
    /// may reach the API at the WAN address or a CARP address, which the anti-lockout rule
    /// does not cover. Another address (a NAT in between, a proxy) is left aside.
    #[serde(default)]
    pub connects_to: Option<IpAddr>,
    /// The API's ports; by default the webGUI port.
    #[serde(default)]
    pub api_ports: Vec<u16>,
    /// `http` or `https`, as the server connects: a webGUI switched to the other protocol
    /// no longer answers it. None: not checked.
    #[serde(default)]
    pub scheme: Option<String>,
    /// The server pins the webGUI's certificate: another certificate (`sslcertref`) fails
    /// the pin.
    #[serde(default)]
    pub pinned_certificate: bool,
}

impl ServerPath {
    /// The path from `source`, everything else found from the model.
    pub fn from_source(source: IpAddr) -> ServerPath {
        ServerPath {
            source,
            interface: None,
            api_address: None,
            connects_to: None,
            api_ports: Vec::new(),
            scheme: None,
            pinned_certificate: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardDecision {
    Allowed,
    Refused,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortCheck {
    pub port: u16,
    pub before: Verdict,
    pub after: Verdict,
    pub decided_by_after: Option<RuleRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardReport {
    pub decision: GuardDecision,
    pub reason: String,
    pub interface: Option<String>,
    pub api_address: Option<IpAddr>,
    pub ports: Vec<PortCheck>,
    pub cannot_know: Vec<String>,
}

/// What the guard can never see through the API.
const ALWAYS_UNKNOWN: &[&str] = &[
    "The server's address as the firewall sees it is taken as given; NAT or a proxy in between would change it.",
    "Connections already open keep their state until it expires; a lockout shows on the next connection.",
];

fn list_key(kind: ObjectKind) -> Option<fn(&mut ApiInput) -> &mut Value> {
    Some(match kind {
        ObjectKind::Rule => |i| &mut i.rules,
        ObjectKind::PortForward => |i| &mut i.port_forwards,
        ObjectKind::Alias => |i| &mut i.aliases,
        ObjectKind::Interface => |i| &mut i.interfaces,
        ObjectKind::InterfaceGroup => |i| &mut i.interface_groups,
        ObjectKind::Gateway => |i| &mut i.gateways,
        ObjectKind::StaticRoute => |i| &mut i.static_routes,
        ObjectKind::VirtualIp => |i| &mut i.virtual_ips,
        ObjectKind::OneToOneNat => |i| &mut i.one_to_one_nat,
        ObjectKind::WebGui
        | ObjectKind::Ssh
        | ObjectKind::DefaultGateway
        | ObjectKind::ApiAccessEntry
        | ObjectKind::User
        | ObjectKind::UserGroup
        | ObjectKind::ApiKey
        | ObjectKind::Schedule
        | ObjectKind::Limiter
        | ObjectKind::LimiterQueue
        | ObjectKind::Shaper
        | ObjectKind::ShaperQueue
        | ObjectKind::AuthServer
        | ObjectKind::GatewayGroup
        | ObjectKind::IpsecPhase1
        | ObjectKind::OpenVpnServer
        | ObjectKind::WireGuardTunnel
        | ObjectKind::InterfaceVlan
        | ObjectKind::InterfaceLagg
        | ObjectKind::DnsHostOverride
        | ObjectKind::DnsHostOverrideAlias => return None,
    })
}

/// `fields` written over `target`'s (a PATCH as pfrest applies it), `id` left out.
pub fn merge(target: &mut Value, fields: &Value) {
    if let (Some(t), Some(f)) = (target.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            if k != "id" {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Applies a change to the API answers a model was built from. Errors name what is wrong.
pub fn apply_change(input: &ApiInput, change: &Change) -> Result<ApiInput, String> {
    if !change.kind.in_model() {
        return Err(format!(
            "{:?} is not part of the firewall model",
            change.kind
        ));
    }
    let mut out = input.clone();
    let Some(key) = list_key(change.kind) else {
        let single = match change.kind {
            ObjectKind::WebGui => &mut out.webgui,
            ObjectKind::DefaultGateway => &mut out.default_gateway,
            _ => &mut out.ssh,
        };
        let base = single
            .get("data")
            .cloned()
            .unwrap_or_else(|| single.clone());
        let mut base = if base.is_object() {
            base
        } else {
            Value::Object(Default::default())
        };
        match change.op {
            ChangeOp::Delete | ChangeOp::DeleteMany => {
                return Err("settings cannot be deleted".into());
            }
            _ => merge(&mut base, &change.object),
        }
        *single = base;
        return Ok(out);
    };
    let before: Vec<Value> = objects(key(&mut out)).into_iter().cloned().collect();
    let items = change_list(before.clone(), change, change.kind == ObjectKind::Interface)?;
    if change.kind == ObjectKind::Interface {
        forget_replaced_addresses(&mut out.interface_status, &before, &items);
    }
    *key(&mut out) = Value::Array(items);
    Ok(out)
}

/// The status endpoint shows the addresses the running configuration gave each interface: an
/// interface whose address type a change replaces (static to DHCP, …) holds none of them for
/// certain afterwards, so they are taken out of `status` (matched as the model matches them:
/// by the interface's id, or its device as `hwif`).
fn forget_replaced_addresses(status: &mut Value, before: &[Value], after: &[Value]) {
    let entries = match status {
        Value::Object(o) => o.get_mut("data").and_then(Value::as_array_mut),
        Value::Array(a) => Some(a),
        _ => None,
    };
    let Some(entries) = entries else { return };
    for now in after {
        let Some(was) = before.iter().find(|b| b.get("id") == now.get("id")) else {
            continue;
        };
        for (kind, fields) in [
            ("typev4", ["ipaddr", "subnet"]),
            ("typev6", ["ipaddrv6", "subnetv6"]),
        ] {
            if was.get(kind) == now.get(kind) {
                continue;
            }
            for entry in entries.iter_mut().filter(|e| {
                e.get("name") == now.get("id")
                    || (e.get("hwif").is_some() && e.get("hwif") == was.get("if"))
            }) {
                if let Some(e) = entry.as_object_mut() {
                    for field in fields {
                        e.remove(field);
                    }
                }
            }
        }
    }
}

/// A list of API objects after `change` (its `kind` only names it in errors): ids are positions
/// that shift like the API's after a create or delete, or strings (`string_ids`) that stay.
pub fn change_list(
    mut items: Vec<Value>,
    change: &Change,
    string_ids: bool,
) -> Result<Vec<Value>, String> {
    let find_id = |items: &[Value], id: &Value| -> Result<usize, String> {
        let found = if string_ids {
            items
                .iter()
                .position(|o| o.get("id").or_else(|| o.get("__id")) == Some(id))
        } else {
            id.as_u64().and_then(|n| {
                items
                    .iter()
                    .enumerate()
                    .position(|(i, o)| o.get("id").and_then(Value::as_u64).unwrap_or(i as u64) == n)
            })
        };
        found.ok_or_else(|| format!("no {:?} with id {id}", change.kind))
    };
    let find = |items: &[Value]| -> Result<usize, String> {
        let id = change
            .id
            .as_ref()
            .ok_or("update and delete need the object's id")?;
        find_id(items, id)
    };
    match change.op {
        ChangeOp::Create => {
            let mut object = change.object.clone();
            let Some(fields) = object.as_object_mut() else {
                return Err("the object to create must be a JSON object".into());
            };
            // `placement` (a control parameter; an undo re-creates an object between its old
            // neighbours with it) puts the object at that index, as pfrest does.
            let at = fields
                .remove("placement")
                .and_then(|p| p.as_u64())
                .map_or(items.len(), |p| (p as usize).min(items.len()));
            items.insert(at, object);
        }
        ChangeOp::Update => {
            let i = find(&items)?;
            merge(&mut items[i], &change.object);
        }
        ChangeOp::Delete => {
            let i = find(&items)?;
            items.remove(i);
        }
        ChangeOp::DeleteMany => {
            let ids = change
                .id
                .as_ref()
                .and_then(Value::as_array)
                .ok_or("a bulk delete needs the array of the ids it removes")?;
            let mut found = ids
                .iter()
                .map(|id| find_id(&items, id))
                .collect::<Result<Vec<usize>, String>>()?;
            found.sort_unstable();
            found.dedup();
            for i in found.into_iter().rev() {
                items.remove(i);
            }
        }
        ChangeOp::Replace => {
            items = change
                .object
                .as_array()
                .filter(|a| a.iter().all(Value::is_object))
                .ok_or("a replacement must be the list of the new objects")?
                .clone();
        }
    }
    if !string_ids {
        // Positions shift like the API's ids do after a create or delete.
        for (i, o) in items.iter_mut().enumerate() {
            if let Some(m) = o.as_object_mut() {
                m.insert("id".into(), Value::from(i as u64));
            }
        }
    }
    Ok(items)
}

/// What pfSense does at the next filter reload with a rule, port forward, outbound NAT rule or
/// alias naming an alias that is gone: it skips the rule (filter.inc
/// `filter_generate_user_rule`: "Rule skipped: Unresolvable source alias '…' for rule '…'",
/// seen in the lab's generated ruleset) and each port forward redirecting to it
/// ("# Unresolvable alias").
const FILTER_SKIPS: &str = "at the next filter reload it skips each rule naming it (\"Rule skipped: Unresolvable source alias\"), so what they pass or block would change without a word";

/// What pfSense and pfrest do with OpenVPN networks naming an alias that is gone (see the
/// OpenVPN rows of `ALIAS_USERS`).
const OPENVPN_LOSES_ROUTES: &str = "OpenVPN gets the bare name where a network belongs when its configuration is next written, losing the routes the alias gave it, and pfrest refuses every later change to that OpenVPN object";

/// A kind of object whose fields can name an alias, as REST API v2 lists it.
pub struct AliasUser {
    /// What the object is called in a refusal (`rule`, `static route`).
    pub what: &'static str,
    list: AliasList,
    /// The fields pfrest lets name an alias.
    pub fields: &'static [&'static str],
    /// The fields that describe one object to a reader, the first non-empty one shown.
    label: &'static [&'static str],
    /// What pfSense does with the object once the alias is gone.
    pub effect: &'static str,
}

/// Where the firewall's configuration names an alias: every pfrest model (v2.7.1 to v2.10.0)
/// with a field that accepts an existing alias's name (`FilterAddressField` and
/// `SpecialNetworkField` unless `allow_alias: false`, `PortField`, `SubnetValidator` and
/// `IPAddressValidator` with `allow_alias: true`, the alias model's own `address`). pfrest
/// deletes an alias these still name (its `FirewallAlias` model declares no `referenced_by`:
/// "TODO: Set `referenced_by` … once Model dependents like firewall rules are developed"; the
/// DELETE answers 200 on the pfrest lab), where pfSense's webGUI refuses ("Cannot delete alias.
/// Currently in use by …"). pfSense then no longer resolves the name (`effect`).
pub const ALIAS_USERS: &[AliasUser] = &[
    AliasUser {
        what: "rule",
        list: |i| &i.rules,
        fields: &["source", "destination", "source_port", "destination_port"],
        label: &["descr"],
        effect: FILTER_SKIPS,
    },
    AliasUser {
        what: "port forward",
        list: |i| &i.port_forwards,
        fields: &[
            "source",
            "destination",
            "source_port",
            "destination_port",
            "target",
            "local_port",
        ],
        label: &["descr"],
        effect: FILTER_SKIPS,
    },
    AliasUser {
        what: "outbound NAT mapping",
        list: |i| &i.outbound_nat,
        fields: &[
            "source",
            "destination",
            "source_port",
            "destination_port",
            "target",
        ],
        label: &["descr"],
        effect: FILTER_SKIPS,
    },
    AliasUser {
        what: "alias",
        list: |i| &i.aliases,
        fields: &["address"],
        label: &["name"],
        effect: FILTER_SKIPS,
    },
    // Only `destination` takes an alias (`external` and `source` say `allow_alias: false`).
    // filter.inc leaves out a mapping whose destination does not resolve, and writes a
    // negated one as `binat … to ! -> …` (seen in the lab's generated ruleset).
    AliasUser {
        what: "1:1 NAT mapping",
        list: |i| &i.one_to_one_nat,
        fields: &["destination"],
        label: &["descr"],
        effect: "it leaves out each 1:1 NAT mapping naming it, or writes a broken one for a negated name",
    },
    // system.inc expands a route's alias into its networks; a name that is no alias expands
    // into none, and the route is not installed.
    AliasUser {
        what: "static route",
        list: |i| &i.static_routes,
        fields: &["network"],
        label: &["descr"],
        effect: "each static route to it is no longer installed",
    },
    // openvpn.inc `openvpn_gen_routes` expands an alias and writes any other name as it is,
    // where a network belongs, when it next writes the OpenVPN configuration; and pfrest then
    // refuses every change to the server, client or override (its networks fail
    // `SUBNET_VALIDATOR_FAILED`, seen on the pfrest lab v2.10.0).
    AliasUser {
        what: "OpenVPN server",
        list: |i| &i.openvpn_servers,
        fields: &[
            "local_network",
            "local_networkv6",
            "remote_network",
            "remote_networkv6",
        ],
        label: &["description"],
        effect: OPENVPN_LOSES_ROUTES,
    },
    AliasUser {
        what: "OpenVPN client",
        list: |i| &i.openvpn_clients,
        fields: &["remote_network", "remote_networkv6"],
        label: &["description"],
        effect: OPENVPN_LOSES_ROUTES,
    },
    AliasUser {
        what: "OpenVPN client specific override",
        list: |i| &i.openvpn_csos,
        fields: &[
            "local_network",
            "local_networkv6",
            "remote_network",
            "remote_networkv6",
        ],
        label: &["description", "common_name"],
        effect: OPENVPN_LOSES_ROUTES,
    },
];

type AliasList = fn(&ApiInput) -> &Value;

/// A name (an alias's, a schedule's, a limiter's…) that changes take away while objects they leave in place
/// still name it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameInUse {
    pub name: String,
    /// What still names it, each as `rule 2 "descr" on wan (source)`.
    pub used_by: Vec<String>,
    /// What pfSense does with those objects once it is gone (`AliasUser::effect`,
    /// `NameUser::effect`), each once.
    pub effects: Vec<&'static str>,
}

/// Whether a change takes an object's name away: a delete, a rename, or a replacement of the
/// whole list.
fn takes_name_away(change: &Change) -> bool {
    match change.op {
        ChangeOp::Create => false,
        ChangeOp::Update => change.object.get("name").is_some(),
        ChangeOp::Delete | ChangeOp::DeleteMany | ChangeOp::Replace => true,
    }
}

/// Whether a change takes an alias's name away. Only these make the alias guard read its users.
pub fn takes_alias_away(change: &Change) -> bool {
    change.kind == ObjectKind::Alias && takes_name_away(change)
}

/// What pfSense does with a rule naming a schedule that is gone: filter.inc
/// (`filter_generate_user_rule`) looks the name up among the schedules and, finding none,
/// writes the rule without a schedule.
const RULE_ALWAYS_ON: &str = "pfSense then applies each rule naming it at all times (filter.inc looks the schedule up by name and, finding none, writes the rule without one), so a rule meant for some hours passes or blocks around the clock, and pfrest refuses every later change to such a rule until its schedule is cleared";

/// Objects that others name by their `name` (pfrest's `ForeignModelField`s, or a `StringField`
/// it checks the same way), and which pfrest deletes and renames all the same: none of these
/// models declares a `referenced_by`, and none cleans up what names it, where pfSense's webGUI
/// refuses (`is_schedule_inuse`) or rewrites the users (shaper.inc `cleanup_queue_from_rules`,
/// `rename_queue_in_rules` and their dummynet twins). Kept apart from the firewall model: only
/// a change that takes a name away reads them.
pub struct NamedObjects {
    /// The kind whose changes take names away, and the kind nested in each object's `nested`
    /// list (a limiter's queues), if any.
    pub kind: ObjectKind,
    pub child: Option<ObjectKind>,
    /// What one is called in a refusal.
    pub what: &'static str,
    /// Where REST API v2 lists them.
    pub path: &'static str,
    nested: Option<&'static str>,
    /// The field others name them by: `name`, or an IPsec phase 1's `ikeid`; None when only
    /// the nested objects are named (an ALTQ shaper's queues, not the shaper). And what a
    /// refusal calls a key other than a name.
    key: Option<&'static str>,
    pub key_label: Option<&'static str>,
    /// What follows for every user besides its own effect (an interface's id handed on).
    also: Option<&'static str>,
    /// The fields besides the key that name one where REST API v2 shows a reference: an
    /// interface as its `descr` (`LAN`) or device (`vtnet1`), as pfrest's `InterfaceField`
    /// and `FilterAddressField` show them when `represent_interfaces_as` says so.
    also_named_by: &'static [&'static str],
    /// Fields whose update gives an object another key (a VLAN's `tag` makes its `vlanif`
    /// `<if>.<tag>`): changed, the old key is gone.
    renamed_by: &'static [&'static str],
    /// The kinds of object that name them.
    pub users: &'static [NameUser],
}

/// A kind of object whose fields name a [`NamedObjects`].
pub struct NameUser {
    /// What the object is called in a refusal.
    pub what: &'static str,
    /// Where REST API v2 lists them.
    pub path: &'static str,
    /// The fields naming one; on each item of the object's list `within`, if given.
    fields: &'static [&'static str],
    within: Option<&'static str>,
    /// The fields that describe one object to a reader, the first non-empty one shown.
    label: &'static [&'static str],
    /// What pfSense does with the object once the name is gone.
    pub effect: &'static str,
    /// How its fields hold the name.
    naming: Naming,
}

/// How a [`NameUser`]'s field holds a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// The name itself, or a list of names.
    Name,
    /// A firewall address (pfrest's `FilterAddressField`) or an interface list: an interface's
    /// id names its subnet (`lan`), its address (`lan:ip`), either negated (`!lan`).
    InterfaceAddress,
    /// An interface field naming a CARP virtual IP by its unique ID: `_vip<uniqid>` (pfrest's
    /// `InterfaceField` with `allow_carp_interface`).
    CarpInterface,
}

impl Naming {
    fn names(self, value: &str, name: &str) -> bool {
        match self {
            Naming::Name => value == name,
            Naming::InterfaceAddress => {
                let value = value.trim().trim_start_matches('!');
                value.strip_suffix(":ip").unwrap_or(value) == name
            }
            Naming::CarpInterface => value.strip_prefix("_vip") == Some(name),
        }
    }
}

/// Where the configuration names a schedule (pfrest's `ForeignModelField`s to
/// `FirewallSchedule.name`, v2.7.1 to v2.10.0).
pub const SCHEDULES: NamedObjects = NamedObjects {
    kind: ObjectKind::Schedule,
    child: None,
    what: "schedule",
    path: "/api/v2/firewall/schedules",
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[
        NameUser {
            what: "rule",
            path: RULES,
            fields: &["sched"],
            within: None,
            label: &["descr"],
            effect: RULE_ALWAYS_ON,
            naming: Naming::Name,
        },
        // `RESTAPIAccessListEntry::is_schedule_active`: a schedule that no longer exists is
        // logged and the entry counts as inactive, so an allow entry lets nobody in any more.
        NameUser {
            what: "REST API access list entry",
            path: "/api/v2/system/restapi/access_list",
            fields: &["sched"],
            within: None,
            label: &["descr", "network"],
            effect: "the REST API then skips each access list entry naming it (\"no longer exists\"), so an entry that let this server in no longer does",
            naming: Naming::Name,
        },
        // shaper.inc (`dnpipe_class::build_rules`) looks a bandwidth's schedule up by name and
        // uses the first bandwidth whose schedule is found and active; with none, the pipe gets
        // `bw 0`.
        NameUser {
            what: "limiter",
            path: LIMITERS.path,
            fields: &["bwsched"],
            within: Some("bandwidth"),
            label: &["name"],
            effect: "the limiter then never uses a bandwidth naming it, and a limiter left with no bandwidth in use runs unlimited (`bw 0`)",
            naming: Naming::Name,
        },
    ],
};

const RULES: &str = "/api/v2/firewall/rules";

/// Where the virtual IPs and the DHCP relay setting are read: both name interfaces and CARP
/// virtual IPs.
const VIRTUAL_IPS_PATH: &str = "/api/v2/firewall/virtual_ips";
const DHCP_RELAY: &str = "/api/v2/services/dhcp_relay";

/// Where rules name a limiter or a limiter's queue: `dnpipe`/`pdnpipe` (pfrest's
/// `validate_dnpipe` looks the name up among both). filter.inc (`filter_generate_user_rule`)
/// writes `dnpipe`/`dnqueue` only for a name `$dummynet_name_list` holds, and leaves it out
/// otherwise (seen on the pfrest lab's ruleset after a limiter's rename).
pub const LIMITERS: NamedObjects = NamedObjects {
    kind: ObjectKind::Limiter,
    child: Some(ObjectKind::LimiterQueue),
    what: "limiter",
    path: "/api/v2/firewall/traffic_shaper/limiters",
    nested: Some("queue"),
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "rule",
        path: RULES,
        fields: &["dnpipe", "pdnpipe"],
        within: None,
        label: &["descr"],
        effect: "pfSense then writes each rule naming it without a limiter (filter.inc finds no limiter or limiter queue by that name and leaves `dnpipe` out), so its traffic is no longer limited, and pfrest refuses every later change to such a rule until it names an existing limiter (`FIREWALL_RULE_DNPIPE_NOT_FOUND`)",
        naming: Naming::Name,
    }],
};

/// Where rules name an ALTQ queue: `defaultqueue`/`ackqueue`. filter.inc writes the name into
/// the rule's `queue (…)` as it is, whether a shaper still defines it or not (seen on the pfrest
/// lab's ruleset after a queue's delete: the `altq` line without it, the rule still naming it).
/// The same queue name may be defined on several interfaces' shapers: it is gone only when
/// none defines it.
pub const SHAPER_QUEUES: NamedObjects = NamedObjects {
    kind: ObjectKind::Shaper,
    child: Some(ObjectKind::ShaperQueue),
    what: "traffic shaper queue",
    path: "/api/v2/firewall/traffic_shapers",
    nested: Some("queue"),
    key: None,
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "rule",
        path: RULES,
        fields: &["defaultqueue", "ackqueue"],
        within: None,
        label: &["descr"],
        effect: "pfSense then writes each rule naming it with `queue (…)` naming a queue no shaper defines (how pf treats such a rule is not checked here), and pfrest refuses every later change to such a rule until its queue is cleared (`FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`)",
        naming: Naming::Name,
    }],
};

/// Where OpenVPN servers name an authentication server: `authmode`, a list tried in order.
/// openvpn.auth-user.php skips a name `auth_get_authserver` does not find (other than "Local
/// Database"), so with none left no user signs in.
pub const AUTH_SERVERS: NamedObjects = NamedObjects {
    kind: ObjectKind::AuthServer,
    child: None,
    what: "authentication server",
    path: "/api/v2/user/auth_servers",
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "OpenVPN server",
        path: OPENVPN_SERVERS.path,
        fields: &["authmode"],
        within: None,
        label: &["description"],
        effect: "OpenVPN then skips it when a user signs in (openvpn.auth-user.php finds no server by that name), so a VPN whose only authentication server it was lets no user in, and pfrest refuses every later change to that OpenVPN server until its `authmode` names existing ones",
        naming: Naming::Name,
    }],
};

/// Where a local user is named by its `uid`: user groups list their members by it (pfrest shows
/// the name while the user exists). pfrest's `User::apply_delete` calls pfSense's
/// `local_user_del`, which takes the user out of its groups in memory only, with no
/// `write_config` after it (the webGUI writes): the groups keep its uid (seen on the pfrest
/// lab: `<member>2002</member>` left in `admins`, shown as member `2002`). A rename, which the
/// groups follow, takes nothing away here.
pub const USERS: NamedObjects = NamedObjects {
    kind: ObjectKind::User,
    child: None,
    what: "user",
    path: "/api/v2/users",
    nested: None,
    key: Some("uid"),
    key_label: Some("uid"),
    also: None,
    also_named_by: &["name"],
    renamed_by: &[],
    users: &[NameUser {
        what: "user group",
        path: "/api/v2/user/groups",
        fields: &["member"],
        within: None,
        label: &["name"],
        effect: "pfrest leaves its uid among the group's members: it then refuses every later change to the group that does not list its members anew (404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`, seen on the lab), and a user created later with that uid (pfrest takes a `uid` on create) is a member at once, with the group's privileges",
        naming: Naming::Name,
    }],
};

/// Where a local user is named by its name: REST API access list entries (`users`) and the
/// REST API's keys (`username`: `KeyAuth` signs a key in as that name, whoever has it now),
/// which a delete and a rename both leave naming the old name.
pub const USER_NAMES: NamedObjects = NamedObjects {
    kind: ObjectKind::User,
    child: None,
    what: "user",
    path: USERS.path,
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[
        NameUser {
            what: "REST API access list entry",
            path: "/api/v2/system/restapi/access_list",
            fields: &["users"],
            within: None,
            label: &["descr"],
            effect: "an access list entry keeps naming it: pfrest refuses every later change to the entry (400 `FIELD_INVALID_CHOICE`, seen on the lab), and a user created later with that name is under the entry at once",
            naming: Naming::Name,
        },
        NameUser {
            what: "REST API key",
            path: "/api/v2/auth/keys",
            fields: &["username"],
            within: None,
            label: &["descr"],
            effect: "pfrest keeps its API keys: they stop signing in, and sign in again as a user created later under that name, with that user's privileges (seen on the lab: a deleted user's key signed in as the new user of the same name); its keys cannot be brought back once deleted, only made anew",
            naming: Naming::Name,
        },
    ],
};

/// An interface's upstream gateway (`gateway`, `gatewayv6`: pfrest's `ForeignModelField` to a
/// gateway or a gateway group).
const INTERFACE_GATEWAY: NameUser = NameUser {
    what: "interface",
    path: "/api/v2/interfaces",
    fields: &["gateway", "gatewayv6"],
    within: None,
    label: &["descr"],
    effect: "the interface then names a gateway pfSense no longer has, and pfrest refuses every later change to that interface until its gateway is changed",
    naming: Naming::Name,
};

/// The system's default gateways (`defaultgw4`, `defaultgw6`: a gateway or a gateway group).
const DEFAULT_GATEWAY: NameUser = NameUser {
    what: "default gateway setting",
    path: "/api/v2/routing/gateway/default",
    fields: &["defaultgw4", "defaultgw6"],
    within: None,
    label: &[],
    effect: "the default gateway setting keeps naming it; pfrest's delete of the default gateway also removes the default route at once (`RoutingGateway::_delete`: `route_del('default')`), so the firewall no longer reaches, or answers, anything beyond its own subnets: this server too, if it reaches the API through a router",
    naming: Naming::Name,
};

/// Where a gateway's name is used and pfrest does not look before deleting it: its
/// `referenced_by` covers static routes and rules only (those deletes it refuses), while its
/// `validate_disabled` refuses to *disable* one a gateway group uses. A gateway group keeps
/// naming a deleted member (pfrest then shows the group's `ipprotocol` as `unknown`), and the
/// default gateway setting keeps naming a deleted default gateway (both seen on the pfrest lab).
pub const GATEWAYS: NamedObjects = NamedObjects {
    kind: ObjectKind::Gateway,
    child: None,
    what: "gateway",
    path: "/api/v2/routing/gateways",
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[
        INTERFACE_GATEWAY,
        DEFAULT_GATEWAY,
        NameUser {
            what: "gateway group",
            path: "/api/v2/routing/gateway/groups",
            fields: &["gateway"],
            within: Some("priorities"),
            label: &["name"],
            effect: "the gateway group keeps a member pfSense no longer has (pfrest then shows its `ipprotocol` as `unknown`), so its traffic fails over among the rest only",
            naming: Naming::Name,
        },
    ],
};

/// Where a gateway group's name is used besides rules and static routes (its `referenced_by`).
pub const GATEWAY_GROUPS: NamedObjects = NamedObjects {
    kind: ObjectKind::GatewayGroup,
    child: None,
    what: "gateway group",
    path: "/api/v2/routing/gateway/groups",
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[INTERFACE_GATEWAY, DEFAULT_GATEWAY],
};

/// Where IPsec phase 2 entries name their phase 1, by its `ikeid`. pfrest deletes a phase 1
/// and leaves its phase 2 entries (`IPsecPhase1` declares no `referenced_by`), where pfSense's
/// webGUI deletes them with it; and pfSense gives the next phase 1 the lowest free IKE ID
/// (ipsec.inc `ipsec_ikeid_next`), so a new peer's phase 1 takes the old one's phase 2 entries
/// (seen on the pfrest lab: the new peer's connection in swanctl.conf carries the old one's
/// networks).
pub const IPSEC_PHASE1S: NamedObjects = NamedObjects {
    kind: ObjectKind::IpsecPhase1,
    child: None,
    what: "IPsec phase 1",
    path: "/api/v2/vpn/ipsec/phase1s",
    nested: None,
    key: Some("ikeid"),
    key_label: Some("IKE ID"),
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "IPsec phase 2",
        path: "/api/v2/vpn/ipsec/phase2s",
        fields: &["ikeid"],
        within: None,
        label: &["descr"],
        effect: "its phase 2 entries stay behind, and the next phase 1 created gets the lowest free IKE ID, this one's (ipsec.inc `ipsec_ikeid_next`), and with it these phase 2 entries: their local and remote networks are then offered to that new peer",
        naming: Naming::Name,
    }],
};

/// Where client specific overrides name OpenVPN servers: `server_list`, by `vpnif` (`ovpns1`,
/// stored as the `vpnid`; none: every server). pfrest refuses to delete a server an interface
/// is assigned to, and nothing else: the overrides keep naming its VPN ID, and the next OpenVPN
/// server or client created gets the lowest free one (openvpn.inc `openvpn_vpnid_next`; seen
/// on the pfrest lab).
pub const OPENVPN_SERVERS: NamedObjects = NamedObjects {
    kind: ObjectKind::OpenVpnServer,
    child: None,
    what: "OpenVPN server",
    path: "/api/v2/vpn/openvpn/servers",
    nested: None,
    key: Some("vpnif"),
    key_label: Some("VPN interface"),
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "OpenVPN client specific override",
        path: "/api/v2/vpn/openvpn/csos",
        fields: &["server_list"],
        within: None,
        label: &["description", "common_name"],
        effect: "the client specific overrides naming it stay, and the next OpenVPN server created gets the lowest free VPN ID, this one's (openvpn.inc `openvpn_vpnid_next`), and with it these overrides: its clients of those common names then get their addresses, routes or block",
        naming: Naming::Name,
    }],
};

/// Where WireGuard peers name their tunnel: `tun` (`tun_wg0`), and an interface assigned to it:
/// `if`. pfrest deletes a tunnel and leaves both (it refuses only to disable one that is
/// assigned, `validate_enabled`), and gives the next tunnel created the lowest free name
/// (`next_wg_if`), so that tunnel takes them over, keys and allowed IPs (seen on the pfrest
/// lab; the interface keeps naming `tun_wg0` and pfrest refuses its later changes).
pub const WIREGUARD_TUNNELS: NamedObjects = NamedObjects {
    kind: ObjectKind::WireGuardTunnel,
    child: None,
    what: "WireGuard tunnel",
    path: "/api/v2/vpn/wireguard/tunnels",
    nested: None,
    key: Some("name"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[
        NameUser {
            what: "WireGuard peer",
            path: "/api/v2/vpn/wireguard/peers",
            fields: &["tun"],
            within: None,
            label: &["descr", "endpoint"],
            effect: "its peers stay, and the next WireGuard tunnel created gets the lowest free name, this one's (`next_wg_if`), and with it these peers: their keys may then connect to that tunnel, with their allowed IPs",
            naming: Naming::Name,
        },
        NameUser {
            what: "interface",
            path: INTERFACES.path,
            fields: &["if"],
            within: None,
            label: &["descr"],
            effect: "at the next WireGuard apply the tunnel's device goes, and the interface assigned to it goes down (and with it its gateway, and this server's way in, should it come through that tunnel); pfrest refuses every later change to the interface (\"Field `if` must be one of …\"), and the next tunnel created takes the device's name and with it the interface",
            naming: Naming::Name,
        },
    ],
};

/// What follows an interface's delete for everything below: pfrest gives the next interface
/// assigned the lowest free id (`NetworkInterface::get_next_id`: `lan`, then `opt1`…), seen on
/// the pfrest lab.
const NEXT_INTERFACE_TAKES_IT: &str = "pfrest refuses every later change to what still names it (\"Field `interface` must be one of …\"), and the next interface assigned gets this one's id (`lan` first, then the lowest free `optN`) and with it all of that";

/// Where the configuration names an interface by its id (`lan`, `opt1`). pfrest's
/// `NetworkInterface::_delete` refuses while an interface group, bridge, GRE or GIF tunnel or
/// ALTQ queue uses it, and deletes its DHCP server and the rules and port forwards whose
/// `interface` is that one alone: those undo could not bring back (it re-creates the
/// interface), so they count as users too, to be deleted first, each undoably. Everything else
/// below stays, naming an interface that is gone (seen on the pfrest lab: a floating rule, a
/// rule to `lan:ip`, an outbound and a 1:1 mapping, a virtual IP and a gateway on `lan`, the
/// gateway then routing through the next interface assigned, which got the id `lan`; an IPsec
/// phase 1, OpenVPN server and client, RADIUS NAS address, DNS Resolver, NTP, remote logging
/// and IPv6 tracking on `opt2`, each refusing later changes).
pub const INTERFACES: NamedObjects = NamedObjects {
    kind: ObjectKind::Interface,
    child: None,
    what: "interface",
    path: "/api/v2/interfaces",
    nested: None,
    key: Some("id"),
    key_label: Some("id"),
    also: Some(NEXT_INTERFACE_TAKES_IT),
    also_named_by: &["descr", "if"],
    renamed_by: &[],
    users: &[
        NameUser {
            what: "rule",
            path: RULES,
            fields: &["interface", "source", "destination"],
            within: None,
            label: &["descr"],
            effect: "pfrest deletes the rules on this interface alone with it, which undo cannot bring back (it re-creates the interface only), while a floating rule keeps it among its interfaces and pfSense skips a source or destination naming its subnet or address (\"source address is empty\")",
            naming: Naming::InterfaceAddress,
        },
        NameUser {
            what: "port forward",
            path: "/api/v2/firewall/nat/port_forwards",
            fields: &["interface", "source", "destination"],
            within: None,
            label: &["descr"],
            effect: "pfrest deletes the port forwards on this interface alone with it, which undo cannot bring back, while one on another interface keeps naming its subnet or address",
            naming: Naming::InterfaceAddress,
        },
        NameUser {
            what: "outbound NAT mapping",
            path: "/api/v2/firewall/nat/outbound/mappings",
            fields: &["interface", "source", "destination", "target"],
            within: None,
            label: &["descr"],
            effect: "outbound NAT mappings on it stay (pfSense skips them: \"Missing interface\")",
            naming: Naming::InterfaceAddress,
        },
        NameUser {
            what: "1:1 NAT mapping",
            path: "/api/v2/firewall/nat/one_to_one/mappings",
            fields: &["interface", "source", "destination"],
            within: None,
            label: &["descr"],
            effect: "1:1 NAT mappings on it stay",
            naming: Naming::InterfaceAddress,
        },
        NameUser {
            what: "virtual IP",
            path: VIRTUAL_IPS_PATH,
            fields: &["interface"],
            within: None,
            label: &["descr", "subnet"],
            effect: "virtual IPs on it stay, for the next interface with its id",
            naming: Naming::Name,
        },
        NameUser {
            what: "gateway",
            path: GATEWAYS.path,
            fields: &["interface"],
            within: None,
            label: &["name"],
            effect: "gateways on it stay, and route through the next interface with its id (seen on the pfrest lab: `route-to ( eth0 192.168.1.2 )`)",
            naming: Naming::Name,
        },
        // Its DHCP server (`dhcpd/<id>`), settings, static mappings, address pools and custom
        // options: pfrest deletes them with the interface. The DHCP server's own delete is
        // undone whole: pfrest's create takes its nested objects back (seen on the lab).
        NameUser {
            what: "DHCP server",
            path: "/api/v2/services/dhcp_servers",
            fields: &["interface"],
            within: None,
            label: &[],
            effect: "pfrest deletes its DHCP server with it (settings, static mappings, address pools and custom options), which undo cannot bring back, while the DHCP server's own delete is undone whole",
            naming: Naming::Name,
        },
        // `RESTAPIEndpoint::check_interface_allowed`: the API answers a call only when the
        // address it came in on belongs to a listed interface (or its virtual IP, or `lo0`).
        NameUser {
            what: "REST API setting",
            path: "/api/v2/system/restapi/settings",
            fields: &["allowed_interfaces"],
            within: None,
            label: &[],
            effect: "the REST API then refuses every call, this server's included, and cannot be opened again through the API (seen on the pfrest lab: with `lo0` and this interface allowed, every call after its delete got 403 `ENDPOINT_INTERFACE_NOT_ALLOWED`)",
            naming: Naming::Name,
        },
        NameUser {
            what: "DHCP relay setting",
            path: DHCP_RELAY,
            fields: &["interface"],
            within: None,
            label: &[],
            effect: "DHCP relay keeps it among its interfaces",
            naming: Naming::Name,
        },
        // What a VPN, a service or a RADIUS server binds to or sends from. Each kept naming
        // the deleted interface on the pfrest lab, and pfrest then refused its later changes
        // ("Field `interface` must be one of …", the same for the other fields).
        NameUser {
            what: "IPsec phase 1",
            path: IPSEC_PHASE1S.path,
            fields: &["interface"],
            within: None,
            label: &["descr", "remote_gateway"],
            effect: IPSEC_ON_IT,
            naming: Naming::Name,
        },
        NameUser {
            what: "OpenVPN server",
            path: OPENVPN_SERVERS.path,
            fields: &["interface", "serverbridge_interface"],
            within: None,
            label: &["description"],
            effect: OPENVPN_ON_IT,
            naming: Naming::Name,
        },
        NameUser {
            what: "OpenVPN client",
            path: OPENVPN_CLIENTS,
            fields: &["interface"],
            within: None,
            label: &["description"],
            effect: OPENVPN_ON_IT,
            naming: Naming::Name,
        },
        NameUser {
            what: "authentication server",
            path: AUTH_SERVERS.path,
            fields: &["radius_nasip_attribute"],
            within: None,
            label: &["name"],
            effect: "a RADIUS server keeps it as the interface whose address it sends as NAS-IP-Address",
            naming: Naming::Name,
        },
        NameUser {
            what: "DNS Resolver setting",
            path: "/api/v2/services/dns_resolver/settings",
            fields: &["active_interface", "outgoing_interface"],
            within: None,
            label: &[],
            effect: "the DNS Resolver keeps it among the interfaces it answers on or queries from, and pfrest refuses every later change to the DNS Resolver's settings that does not list them anew",
            naming: Naming::Name,
        },
        NameUser {
            what: "NTP setting",
            path: "/api/v2/services/ntp/settings",
            fields: &["interface"],
            within: None,
            label: &[],
            effect: "NTP keeps it among the interfaces it listens on, and pfrest refuses every later change to the NTP settings that does not list them anew",
            naming: Naming::Name,
        },
        NameUser {
            what: "interface",
            path: "/api/v2/interfaces",
            fields: &["track6_interface"],
            within: None,
            label: &["descr"],
            effect: "an interface tracking it for its IPv6 prefix keeps naming it, and pfrest refuses every later change to that interface (\"Field `track6_interface` must be one of …\")",
            naming: Naming::Name,
        },
        // Read only while remote logging is on: pfrest shows and checks `sourceip` then alone.
        NameUser {
            what: "log setting",
            path: "/api/v2/status/logs/settings",
            fields: &["sourceip"],
            within: None,
            label: &[],
            effect: "remote logging keeps it as the interface it sends from, and pfrest refuses every later change to the log settings (\"Field `sourceip` must be one of …\")",
            naming: Naming::Name,
        },
    ],
};

/// What pfSense does with an IPsec phase 1 whose interface is gone (seen on the pfrest lab, on a
/// deleted interface and on a deleted CARP virtual IP).
const IPSEC_ON_IT: &str = "pfSense then leaves an IPsec tunnel on it out of its configuration (seen on the pfrest lab: its connection gone from swanctl.conf), so the tunnel goes down, and pfrest refuses every later change to that phase 1 (\"Field `interface` must be one of …\")";

const OPENVPN_CLIENTS: &str = "/api/v2/vpn/openvpn/clients";

/// What has a CARP virtual IP as its `interface` (`_vip<uniqid>`): IPsec, OpenVPN, an IP alias.
const fn on_a_carp_vip(
    what: &'static str,
    path: &'static str,
    label: &'static [&'static str],
    effect: &'static str,
) -> NameUser {
    NameUser {
        what,
        path,
        fields: &["interface"],
        within: None,
        label,
        effect,
        naming: Naming::CarpInterface,
    }
}

const OPENVPN_ON_IT: &str =
    "an OpenVPN server or client on it keeps naming an interface pfSense no longer has";

/// Where the configuration names a virtual IP by its unique ID, and pfrest's delete does not
/// look (`VirtualIP` declares no `referenced_by`; the `ForeignModelField`s of DHCP relay and
/// gateway group priorities and the CARP choices of `InterfaceField` point at it): all of
/// these keep naming it (seen on the pfrest lab, with an IPsec tunnel then left out of
/// swanctl.conf). Not here: HAProxy's `carpdev` (a package's list, which a firewall without it
/// cannot read), and what names the address itself rather than the virtual IP.
pub const VIRTUAL_IPS: NamedObjects = NamedObjects {
    kind: ObjectKind::VirtualIp,
    child: None,
    what: "virtual IP",
    path: VIRTUAL_IPS_PATH,
    nested: None,
    key: Some("uniqid"),
    key_label: Some("unique ID"),
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[
        on_a_carp_vip(
            "IPsec phase 1",
            IPSEC_PHASE1S.path,
            &["descr", "remote_gateway"],
            IPSEC_ON_IT,
        ),
        on_a_carp_vip(
            "OpenVPN server",
            OPENVPN_SERVERS.path,
            &["description"],
            OPENVPN_ON_IT,
        ),
        on_a_carp_vip(
            "OpenVPN client",
            OPENVPN_CLIENTS,
            &["description"],
            OPENVPN_ON_IT,
        ),
        on_a_carp_vip(
            "virtual IP",
            VIRTUAL_IPS_PATH,
            &["descr", "subnet"],
            "an IP alias on it stays on a CARP address that is gone",
        ),
        NameUser {
            what: "gateway group",
            path: GATEWAY_GROUPS.path,
            fields: &["virtual_ip"],
            within: Some("priorities"),
            label: &["name"],
            effect: "a gateway group keeps it as a member's virtual IP",
            naming: Naming::Name,
        },
        NameUser {
            what: "DHCP relay setting",
            path: DHCP_RELAY,
            fields: &["carpstatusvip"],
            within: None,
            label: &[],
            effect: "DHCP relay keeps it as the CARP address whose status starts and stops it",
            naming: Naming::Name,
        },
    ],
};

/// Where the configuration names a VLAN by its device (`vtnet2.10`): an interface assigned to
/// it. pfrest's `InterfaceVLAN` checks neither its delete nor a new `tag` against assigned
/// interfaces, and destroys the old device at once (`apply_delete`, `apply_update`:
/// `pfSense_interface_destroy`), where pfSense's webGUI refuses while the VLAN is assigned.
/// Seen on the pfrest lab: the interface keeps naming the deleted VLAN's device.
pub const VLANS: NamedObjects = NamedObjects {
    kind: ObjectKind::InterfaceVlan,
    child: None,
    what: "VLAN",
    path: "/api/v2/interface/vlans",
    nested: None,
    key: Some("vlanif"),
    key_label: Some("device"),
    also: None,
    also_named_by: &[],
    renamed_by: &["tag"],
    users: &[NameUser {
        what: "interface",
        path: INTERFACES.path,
        fields: &["if"],
        within: None,
        label: &["descr"],
        effect: "pfrest destroys the VLAN's device at once, so the interface assigned to it goes down (and with it this server's way in, should it come through that VLAN), and pfrest refuses every later change to the interface (\"Field `if` must be one of …\")",
        naming: Naming::Name,
    }],
};

/// Where the configuration names a LAGG by its device (`lagg0`): a VLAN on it. pfrest's
/// `InterfaceLAGG::_delete` refuses while an interface is assigned to the LAGG itself, but not
/// while a VLAN is on it, and destroys the device at once (`apply_delete`:
/// `pfSense_interface_destroy`). Seen on the pfrest lab: the LAGG under a VLAN an interface is
/// assigned to goes, the VLAN keeps naming `lagg0`, and pfrest refuses its later changes.
pub const LAGGS: NamedObjects = NamedObjects {
    kind: ObjectKind::InterfaceLagg,
    child: None,
    what: "LAGG",
    path: "/api/v2/interface/laggs",
    nested: None,
    key: Some("laggif"),
    key_label: Some("device"),
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "VLAN",
        path: VLANS.path,
        fields: &["if"],
        within: None,
        label: &["descr", "vlanif"],
        effect: "pfrest destroys the LAGG's device at once, the parent of the VLAN: an interface assigned to the VLAN goes down (and with it this server's way in, should it come through that VLAN), and pfrest refuses every later change to the VLAN (\"Parent interface … does not exist\")",
        naming: Naming::Name,
    }],
};

/// The devices `changes` newly make ports of a LAGG while an interface is assigned to them,
/// or they are the parent of a VLAN one is assigned to: each as `vtnet1 (the device of
/// interface lan "LAN")`. pfSense's `interface_lagg_configure`, which pfrest runs at once on a
/// create or update, adds every member with `ifconfig laggN laggport DEVICE`, and pfrest checks
/// only that the device exists (`validate_members`); FreeBSD then hands every frame the port
/// receives to the LAGG, so the interface on the device (or on its VLAN) stops carrying its
/// traffic. Seen on the pfrest lab: LAN's device made a LAGG port, `laggport vtnet1` run.
/// `laggs` is the list of LAGGs now; Err when the changes cannot be applied to it.
pub fn lagg_ports_in_use(
    laggs: &Value,
    interfaces: &Value,
    vlans: &Value,
    changes: &[Change],
) -> Result<Vec<String>, String> {
    // The API's list, or config.xml's comma-separated form.
    let ports = |list: &[Value]| -> Vec<String> {
        list.iter()
            .flat_map(|lagg| crate::json::string_list(lagg, "members"))
            .collect()
    };
    let before: Vec<Value> = objects(laggs).into_iter().cloned().collect();
    let mut after = before.clone();
    for change in changes
        .iter()
        .filter(|c| c.kind == ObjectKind::InterfaceLagg)
    {
        after = change_list(after, change, false)?;
    }
    let were_ports = ports(&before);
    let mut new_ports = ports(&after);
    new_ports.retain(|p| !were_ports.contains(p));
    new_ports.dedup();
    let interface = |device: &str| {
        objects(interfaces).into_iter().find_map(|i| {
            (i.get("if").and_then(Value::as_str) == Some(device)).then(|| {
                let id = key_text(i.get("id")).unwrap_or_default();
                match i.get("descr").and_then(Value::as_str) {
                    Some(d) if !d.is_empty() => format!("interface {id} \"{d}\""),
                    _ => format!("interface {id}"),
                }
            })
        })
    };
    let mut in_use = Vec::new();
    for port in new_ports {
        if let Some(on) = interface(&port) {
            in_use.push(format!("{port} (the device of {on})"));
            continue;
        }
        let carried: Vec<String> = objects(vlans)
            .into_iter()
            .filter(|v| v.get("if").and_then(Value::as_str) == Some(port.as_str()))
            .filter_map(|v| {
                let device = v.get("vlanif").and_then(Value::as_str)?;
                interface(device).map(|on| format!("VLAN {device} of {on}"))
            })
            .collect();
        if !carried.is_empty() {
            in_use.push(format!("{port} (the parent of {})", carried.join(", ")));
        }
    }
    Ok(in_use)
}

/// Where rules name an interface group: their `interface`, by its `ifname`. pfrest's
/// `InterfaceGroup` declares no `referenced_by` and deletes a group rules are on; the rules stay
/// and pfSense skips them (seen on the pfrest lab: `# array key "LABGRP" does not exist for "on
/// the group"`).
pub const INTERFACE_GROUPS: NamedObjects = NamedObjects {
    kind: ObjectKind::InterfaceGroup,
    child: None,
    what: "interface group",
    path: "/api/v2/interface/groups",
    nested: None,
    key: Some("ifname"),
    key_label: None,
    also: None,
    also_named_by: &[],
    renamed_by: &[],
    users: &[NameUser {
        what: "rule",
        path: RULES,
        fields: &["interface"],
        within: None,
        label: &["descr"],
        effect: "pfSense then skips each rule on it (filter.inc: \"array key … does not exist\"), so what it passed or blocked changes without a word, and pfrest refuses every later change to such a rule (\"Field `interface` must be one of …\")",
        naming: Naming::Name,
    }],
};

/// Every kind of object the name guard keeps while something names it.
pub const NAMED_OBJECTS: &[&NamedObjects] = &[
    &INTERFACES,
    &VIRTUAL_IPS,
    &VLANS,
    &LAGGS,
    &INTERFACE_GROUPS,
    &SCHEDULES,
    &LIMITERS,
    &SHAPER_QUEUES,
    &AUTH_SERVERS,
    &GATEWAYS,
    &GATEWAY_GROUPS,
    &IPSEC_PHASE1S,
    &OPENVPN_SERVERS,
    &WIREGUARD_TUNNELS,
    &USERS,
    &USER_NAMES,
];

/// Whether changes of `kind` change objects of [`NAMED_OBJECTS`] (a kind may be named by
/// several keys: a user by uid and by name).
pub fn is_named(kind: ObjectKind) -> bool {
    NAMED_OBJECTS
        .iter()
        .any(|n| n.kind == kind || n.child == Some(kind))
}

/// Whether a change takes a name of `named` away: a delete, a rename of its key, a
/// replacement of the whole list, or an update replacing the nested list (a limiter's
/// `queue`). Only these make the guard read the names' users.
pub fn takes_named_away(named: &NamedObjects, change: &Change) -> bool {
    if change.kind != named.kind && named.child != Some(change.kind) {
        return false;
    }
    match change.op {
        ChangeOp::Update if change.kind == named.kind => {
            named
                .key
                .is_some_and(|key| change.object.get(key).is_some())
                || named.nested.is_some_and(|f| change.object.get(f).is_some())
                || named
                    .renamed_by
                    .iter()
                    .any(|f| change.object.get(*f).is_some())
        }
        _ => takes_name_away(change),
    }
}

/// The names of `named` these changes (made one after the other to `list`, as REST API v2
/// lists it) take away while an object of `users` (the lists of `named.users`, in order) still
/// names them. Changes of other kinds are skipped. Err when a change cannot be applied.
pub fn names_left_in_use(
    named: &NamedObjects,
    list: &Value,
    users: &[Value],
    changes: &[Change],
) -> Result<Vec<NameInUse>, String> {
    let mut after: Vec<Value> = objects(list).into_iter().cloned().collect();
    for change in changes {
        if change.kind == named.kind {
            // The list before an update, for the keys that follow other fields.
            let before = (change.op == ChangeOp::Update && !named.renamed_by.is_empty())
                .then(|| after.clone());
            after = change_list(after, change, named.kind == ObjectKind::Interface)?;
            if let Some(before) = before {
                forget_renamed_keys(named, &before, &mut after, change);
            }
        } else if Some(change.kind) == named.child {
            after = change_nested(named, after, change)?;
        }
    }
    let kept = provided_names(named, &after);
    let mut gone = provided_names(named, objects(list));
    gone.retain(|n| !kept.contains(n));
    gone.dedup();
    let mut in_use = Vec::new();
    for name in gone {
        let mut used_by = Vec::new();
        let mut effects = Vec::new();
        let mut names = vec![name.clone()];
        if let Some(object) = objects(list)
            .into_iter()
            .find(|o| named.key.and_then(|k| key_text(o.get(k))).as_ref() == Some(&name))
        {
            names.extend(
                named
                    .also_named_by
                    .iter()
                    .filter_map(|f| object.get(*f).and_then(Value::as_str))
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
            );
        }
        for (user, list) in named.users.iter().zip(users) {
            for (index, object) in objects(list).into_iter().enumerate() {
                let is_it = |v: Option<&Value>| {
                    key_text(v).is_some_and(|v| names.iter().any(|n| user.naming.names(&v, n)))
                };
                // A field names one (`sched`) or a list of them (`authmode`).
                let names_it = |o: &Value, f: &str| match o.get(f) {
                    Some(Value::Array(all)) => all.iter().any(|v| is_it(Some(v))),
                    one => is_it(one),
                };
                let naming: Vec<&str> = user
                    .fields
                    .iter()
                    .copied()
                    .filter(|f| match user.within {
                        Some(items) => objects(object.get(items).unwrap_or(&Value::Null))
                            .into_iter()
                            .any(|o| names_it(o, f)),
                        None => names_it(object, f),
                    })
                    .collect();
                if naming.is_empty() {
                    continue;
                }
                used_by.push(if crate::json::object(list).is_some() {
                    // A settings singleton (the default gateways): no id to name.
                    format!("the {} ({})", user.what, naming.join(", "))
                } else {
                    describe(user.what, user.label, index, object, &naming)
                });
                if !effects.contains(&user.effect) {
                    effects.push(user.effect);
                }
            }
        }
        if !used_by.is_empty() {
            effects.extend(named.also);
            in_use.push(NameInUse {
                name,
                used_by,
                effects,
            });
        }
    }
    Ok(in_use)
}

/// After an update that changes a field the key follows (`named.renamed_by`), the object's
/// old key is no longer given: it is taken out (the new one pfSense computes is not needed to
/// know the old one is gone).
fn forget_renamed_keys(
    named: &NamedObjects,
    before: &[Value],
    after: &mut [Value],
    change: &Change,
) {
    let (Some(key), Some(id)) = (named.key, change.id.as_ref()) else {
        return;
    };
    let was = before.iter().find(|o| o.get("id") == Some(id));
    let renamed = named.renamed_by.iter().any(|f| {
        change
            .object
            .get(*f)
            .is_some_and(|v| was.and_then(|o| o.get(*f)) != Some(v))
    });
    if renamed
        && let Some(object) = after
            .iter_mut()
            .find(|o| o.get("id") == Some(id))
            .and_then(Value::as_object_mut)
    {
        object.remove(key);
    }
}

/// The names `named`'s objects give: their own and their nested objects'.
fn provided_names<'a>(
    named: &NamedObjects,
    items: impl IntoIterator<Item = &'a Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    for object in items {
        if let Some(key) = named.key.and_then(|key| key_text(object.get(key))) {
            out.push(key);
        }
        if let Some(field) = named.nested {
            out.extend(names(object.get(field).unwrap_or(&Value::Null)));
        }
    }
    out.sort();
    out
}

/// A key as text: a name, or a number (`ikeid`).
fn key_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `items` after a change of a nested object (`named.child`): made to the nested list of its
/// parent, which the change's `parent_id` names (a bulk delete's ids are `{parent_id, id}`
/// pairs, as the objects it matched carry them).
fn change_nested(
    named: &NamedObjects,
    items: Vec<Value>,
    change: &Change,
) -> Result<Vec<Value>, String> {
    let field = named
        .nested
        .ok_or_else(|| format!("{:?} has no nested objects", named.kind))?;
    change_children(items, field, named.kind, change)
}

/// `items` (objects of `parent_kind`) after a change of the objects nested in their `field`,
/// made to the list of the parent the change's `parent_id` names (a bulk delete's ids are
/// `{parent_id, id}` pairs).
pub fn change_children(
    mut items: Vec<Value>,
    field: &str,
    parent_kind: ObjectKind,
    change: &Change,
) -> Result<Vec<Value>, String> {
    let mut on_parent = |parent: &Value, change: &Change| -> Result<(), String> {
        let at = items
            .iter()
            .enumerate()
            .position(|(i, o)| {
                parent.as_u64() == Some(o.get("id").and_then(Value::as_u64).unwrap_or(i as u64))
            })
            .ok_or_else(|| format!("no {parent_kind:?} with id {parent}"))?;
        let children = objects(items[at].get(field).unwrap_or(&Value::Null))
            .into_iter()
            .cloned()
            .collect();
        let children = change_list(children, change, false)?;
        if let Some(o) = items[at].as_object_mut() {
            o.insert(field.to_string(), Value::Array(children));
        }
        Ok(())
    };
    match change.op {
        ChangeOp::DeleteMany => {
            let pairs = change
                .id
                .as_ref()
                .and_then(Value::as_array)
                .ok_or("a bulk delete needs the objects it removes")?;
            let mut parents: Vec<&Value> = Vec::new();
            for pair in pairs {
                let parent = pair
                    .get("parent_id")
                    .ok_or("a nested object without its parent_id")?;
                if !parents.contains(&parent) {
                    parents.push(parent);
                }
            }
            for parent in parents {
                let ids: Vec<Value> = pairs
                    .iter()
                    .filter(|p| p.get("parent_id") == Some(parent))
                    .filter_map(|p| p.get("id").cloned())
                    .collect();
                let one = Change {
                    id: Some(Value::Array(ids)),
                    ..change.clone()
                };
                on_parent(parent, &one)?;
            }
        }
        ChangeOp::Replace => return Err("nested objects are replaced through their parent".into()),
        _ => {
            let parent = change
                .object
                .get("parent_id")
                .cloned()
                .ok_or("a nested object's change needs its parent_id")?;
            let mut one = change.clone();
            if let Some(o) = one.object.as_object_mut() {
                o.remove("parent_id");
            }
            on_parent(&parent, &one)?;
        }
    }
    Ok(items)
}

/// The `name`s of a list's objects.
fn names(list: &Value) -> Vec<String> {
    objects(list)
        .into_iter()
        .filter_map(|a| a.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The aliases these changes (made one after the other) remove while an object left after
/// them still names them (`ALIAS_USERS`): pfrest deletes them all the same, and pfSense then
/// skips what names them. Err when a change cannot be applied.
pub fn aliases_left_in_use(input: &ApiInput, changes: &[Change]) -> Result<Vec<NameInUse>, String> {
    if !changes.iter().any(|c| c.kind == ObjectKind::Alias) {
        return Ok(Vec::new());
    }
    let after = changes
        .iter()
        .try_fold(input.clone(), |input, change| apply_change(&input, change))?;
    let kept = names(&after.aliases);
    let mut in_use = Vec::new();
    for alias in names(&input.aliases) {
        if kept.contains(&alias) {
            continue;
        }
        let mut used_by = Vec::new();
        let mut effects = Vec::new();
        for user in ALIAS_USERS {
            for (index, object) in objects((user.list)(&after)).into_iter().enumerate() {
                let naming: Vec<&str> = user
                    .fields
                    .iter()
                    .copied()
                    .filter(|f| names_alias(object.get(*f), &alias))
                    .collect();
                if naming.is_empty() {
                    continue;
                }
                used_by.push(describe(user.what, user.label, index, object, &naming));
                if !effects.contains(&user.effect) {
                    effects.push(user.effect);
                }
            }
        }
        if !used_by.is_empty() {
            in_use.push(NameInUse {
                name: alias,
                used_by,
                effects,
            });
        }
    }
    Ok(in_use)
}

/// Whether a field's value names `alias`: the name itself, negated (`!name`), or among a list.
fn names_alias(value: Option<&Value>, alias: &str) -> bool {
    match value {
        Some(Value::String(s)) => s.trim().trim_start_matches('!').trim() == alias,
        Some(Value::Array(items)) => items.iter().any(|i| names_alias(Some(i), alias)),
        _ => false,
    }
}

/// `rule 2 "allow ssh" on wan (source)`, `alias `outer` (address)`: an object of a kind called
/// `what`, described by the first non-empty of its `label` fields.
fn describe(what: &str, label: &[&str], index: usize, object: &Value, fields: &[&str]) -> String {
    let fields = fields.join(", ");
    if what == "alias" {
        let name = object.get("name").and_then(Value::as_str).unwrap_or("?");
        return format!("alias `{name}` ({fields})");
    }
    let id = match object.get("id") {
        // Interfaces have string ids (`wan`, `opt1`).
        Some(Value::String(id)) => id.clone(),
        Some(id) => id.to_string(),
        None => index.to_string(),
    };
    let descr = label
        .iter()
        .find_map(|f| {
            object
                .get(*f)
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
        })
        .map(|d| format!(" \"{d}\""))
        .unwrap_or_default();
    let interfaces = crate::json::string_list(object, "interface");
    let on = if interfaces.is_empty() {
        String::new()
    } else {
        format!(" on {}", interfaces.join(", "))
    };
    let floating = if crate::json::flag(object, "floating") {
        "floating "
    } else {
        ""
    };
    format!("{floating}{what} {id}{descr}{on} ({fields})")
}

/// The interface the server's requests arrive on, by the same reading the guard makes: its id
/// and description.
pub fn server_interface(model: &FirewallModel, path: &ServerPath) -> Result<Vec<String>, String> {
    let interface = if path.interface.is_none() && interface_on_subnet(model, path.source).is_none()
    {
        match arrivals(model, path).0.as_slice() {
            [one] => one.to_string(),
            [] => return Err(format!("where {} comes in is not known", path.source)),
            several => {
                return Err(format!(
                    "{} may come in on {}",
                    path.source,
                    several.join(" or ")
                ));
            }
        }
    } else {
        resolve_path(model, path)?.interface
    };
    let mut names = vec![interface.clone()];
    if let Some(i) = model.interface(&interface)
        && !i.descr.is_empty()
    {
        names.push(i.descr.clone());
    }
    Ok(names)
}

/// The interface whose subnet holds `source`.
fn interface_on_subnet(model: &FirewallModel, source: IpAddr) -> Option<&crate::model::Interface> {
    model
        .interfaces
        .iter()
        .find(|i| i.networks().iter().any(|n| n.contains(&source)))
}

/// Where a server on none of the firewall's subnets may come in (`check_routed`): the
/// interface the route back to it leads out of, then each interface with a gateway whose rules
/// pass it to the API now; and that route, or why it cannot be told.
fn arrivals<'m>(
    model: &'m FirewallModel,
    path: &ServerPath,
) -> (Vec<&'m str>, Result<RouteBack, String>) {
    let v6 = path.source.is_ipv6();
    let back = model.route_back(path.source);
    let mut arrivals: Vec<&str> = Vec::new();
    if let Ok(b) = &back
        && let Some(i) = model.interface(&b.interface)
    {
        arrivals.push(&i.id);
    }
    for i in &model.interfaces {
        let pinned = ServerPath {
            interface: Some(i.id.clone()),
            ..path.clone()
        };
        if !arrivals.contains(&i.id.as_str())
            && model.has_reply_to(&i.id, v6)
            && passes_now(model, &pinned)
        {
            arrivals.push(&i.id);
        }
    }
    (arrivals, back)
}

struct Resolved {
    interface: String,
    address: IpAddr,
    ports: Vec<u16>,
    /// `address` is the server's `connects_to`, an address the firewall holds.
    connects_to_held: bool,
}

fn resolve_path(model: &FirewallModel, path: &ServerPath) -> Result<Resolved, String> {
    let iface = match &path.interface {
        Some(i) => model
            .interface(i)
            .ok_or_else(|| format!("interface `{i}` does not exist"))?,
        None => interface_on_subnet(model, path.source).ok_or_else(|| {
            format!(
                "no interface subnet holds {}; say which interface the server's traffic arrives on",
                path.source
            )
        })?,
    };
    let held = path.connects_to.filter(|a| model.holds_address(a));
    let address = match path.api_address.or(held) {
        Some(a) => a,
        None => iface
            .addresses()
            .into_iter()
            .find(|a| a.is_ipv6() == path.source.is_ipv6())
            .ok_or_else(|| {
                format!(
                    "the address of interface {} is not known; give the API address",
                    iface.id
                )
            })?,
    };
    let ports = if path.api_ports.is_empty() {
        vec![model.settings.api_port()]
    } else {
        path.api_ports.clone()
    };
    Ok(Resolved {
        interface: iface.id.clone(),
        address,
        ports,
        connects_to_held: path.api_address.is_none() && held.is_some(),
    })
}

fn verdicts(
    model: &FirewallModel,
    path: &ServerPath,
    r: &Resolved,
    unknown: &mut Vec<String>,
) -> Vec<(u16, Verdict, Option<RuleRef>, Option<Translation>)> {
    r.ports
        .iter()
        .map(|&port| {
            let q = Query {
                src: path.source,
                dst: r.address,
                protocol: "tcp".into(),
                src_port: None,
                dst_port: Some(port),
                icmp_type: None,
                interface: r.interface.clone(),
                direction: Direction::In,
            };
            match model.explain(&q) {
                Ok(e) => {
                    for u in e.unknowns {
                        if !unknown.contains(&u) {
                            unknown.push(u);
                        }
                    }
                    (port, e.verdict, Some(e.decided_by), e.translation)
                }
                Err(err) => {
                    unknown.push(err.to_string());
                    (port, Verdict::Unknown, None, None)
                }
            }
        })
        .collect()
}

/// Would the change cut the server off from the API?
pub fn check_lockout(model: &FirewallModel, change: &Change, path: &ServerPath) -> GuardReport {
    check_lockout_all(model, std::slice::from_ref(change), path)
}

/// Would these changes, made one after the other (the steps of an undo), cut the server off
/// from the API? Only the state after the last one is judged.
pub fn check_lockout_all(
    model: &FirewallModel,
    changes: &[Change],
    path: &ServerPath,
) -> GuardReport {
    let after = match answers_after(model, changes) {
        Ok(input) => FirewallModel::from_api(&input),
        Err(e) => return unknown(e, always_unknown()),
    };
    if path.interface.is_none() && interface_on_subnet(model, path.source).is_none() {
        return check_routed(model, &after, path);
    }
    check_path(model, &after, path)
}

fn always_unknown() -> Vec<String> {
    ALWAYS_UNKNOWN.iter().map(|s| s.to_string()).collect()
}

fn unknown(reason: String, cannot_know: Vec<String>) -> GuardReport {
    GuardReport {
        decision: GuardDecision::Unknown,
        reason,
        interface: None,
        api_address: None,
        ports: Vec::new(),
        cannot_know,
    }
}

/// The API answers after `changes`, made one after the other.
fn answers_after(model: &FirewallModel, changes: &[Change]) -> Result<ApiInput, String> {
    changes
        .iter()
        .try_fold(model.source.clone(), |input, change| {
            apply_change(&input, change)
        })
        .map_err(|e| format!("the change cannot be applied to the model: {e}"))
}

/// Which of `addresses` (where this server's URL leads) the firewall holds now, on an
/// interface or as a virtual IP, and no longer after `changes`: judged without the server's
/// own address (no `--lockout-source`), since a server whose URL leads to an address the
/// firewall gives up reaches nothing there, wherever it is. Err when the changes cannot be
/// applied to the model.
pub fn url_address_lost(
    model: &FirewallModel,
    changes: &[Change],
    addresses: &[IpAddr],
) -> Result<Option<IpAddr>, String> {
    let after = FirewallModel::from_api(&answers_after(model, changes)?);
    Ok(addresses
        .iter()
        .find(|a| {
            model.holds_address(a)
                && !after.holds_address(a)
                && dynamic_after(model, &after, a).is_none()
        })
        .copied())
}

/// The interface that holds `address` in `model` and, in `after`, gets its address of that
/// family dynamically (a change switched it from static to DHCP…): whether it will hold it
/// the API cannot tell beforehand. With its type before and after.
fn dynamic_after<'a>(
    model: &'a FirewallModel,
    after: &'a FirewallModel,
    address: &IpAddr,
) -> Option<(&'a crate::model::Interface, &'a crate::model::Interface)> {
    model
        .interfaces
        .iter()
        .filter(|i| i.enabled && i.addresses().contains(address))
        .find_map(|before| {
            let now = after.interface(&before.id)?;
            (now.enabled && now.address_unknown(address.is_ipv6())).then_some((before, now))
        })
}

/// Without the server's own address (no `--lockout-source`): the interface holding an address
/// of `addresses` (where this server's URL leads) that `changes` switch to a dynamic address
/// (static to DHCP…: it may get another) or move to another device (its `if`), as the words of
/// a refusal. A moved interface keeps the address, but a server that comes in on it then
/// arrives at a port that is not cabled to its network; whether this server comes in there
/// takes its address to tell. Both answers are a "may". Err when the changes cannot be applied
/// to the model.
pub fn url_interface_changed(
    model: &FirewallModel,
    changes: &[Change],
    addresses: &[IpAddr],
) -> Result<Option<String>, String> {
    let after = FirewallModel::from_api(&answers_after(model, changes)?);
    for address in addresses {
        if let Some((before, now)) = dynamic_after(model, &after, address) {
            let (was, will) = if address.is_ipv6() {
                (&before.typev6, &now.typev6)
            } else {
                (&before.typev4, &now.typev4)
            };
            return Ok(Some(format!(
                "interface {} \"{}\", which holds {address}, the address this server's URL leads to, switches its address from {} to {}: it may then hold another address, which the API cannot tell beforehand",
                before.id,
                before.descr,
                was.as_deref().unwrap_or("static"),
                will.as_deref().unwrap_or("none")
            )));
        }
        for before in model
            .interfaces
            .iter()
            .filter(|i| i.addresses().contains(address))
        {
            if let Some(now) = after.interface(&before.id)
                && now.device != before.device
            {
                return Ok(Some(format!(
                    "interface {} \"{}\", which holds {address}, the address this server's URL leads to, moves from device {} to {}: if this server's requests come in on it, they would arrive at a port that is not cabled to its network",
                    before.id, before.descr, before.device, now.device
                )));
            }
        }
    }
    Ok(None)
}

/// Without the server's own address (no `--lockout-source`): a port forward or a 1:1 NAT
/// mapping, new or changed by `changes`, that takes connections to an address of `addresses`
/// (where this server's URL leads) the firewall holds, on `port` (the URL's), elsewhere. pf
/// sends the connections of its peers arriving on its interface (or reflected onto another)
/// to another host, before any rule; whether this server is among them, and comes in there,
/// takes its address to tell, so the answer is a "may". One that took them before from the
/// same peers on the same interfaces changes nothing for a server that reaches the API now.
/// Err when the changes cannot be applied to the model.
pub fn url_address_redirected(
    model: &FirewallModel,
    changes: &[Change],
    addresses: &[IpAddr],
    port: u16,
) -> Result<Option<String>, String> {
    let after = FirewallModel::from_api(&answers_after(model, changes)?);
    for address in addresses.iter().filter(|a| after.holds_address(a)) {
        let before: Vec<Redirection> = redirections(model, address, port);
        if let Some(new) = redirections(&after, address, port)
            .into_iter()
            .find(|r| !before.iter().any(|b| b.applies == r.applies))
        {
            return Ok(Some(format!(
                "after the change {}: if this server's requests come in there, they would reach that host instead of the API",
                new.what
            )));
        }
    }
    Ok(None)
}

/// A port forward or 1:1 mapping that takes connections to an address elsewhere: where it
/// applies (what, its interface, its peers, whether it reflects onto other interfaces) and
/// what it does, in words.
struct Redirection {
    applies: (&'static str, String, String, bool),
    what: String,
}

/// What in `m` takes tcp connections to `address`:`port` elsewhere: each enabled port forward
/// (not `no rdr`) and 1:1 mapping (not `no binat`) whose destination holds them for certain.
fn redirections(m: &FirewallModel, address: &IpAddr, port: u16) -> Vec<Redirection> {
    let from = |peers: &crate::model::Address| {
        if peers.raw == "any" {
            "any source".to_string()
        } else {
            format!("sources in `{}`", peers.raw)
        }
    };
    let holds = |a: &crate::model::Address| {
        let hit = m.target_contains(&a.target, address);
        (if a.negated { hit.negated() } else { hit }) == crate::matching::Tri::Yes
    };
    let forwards = m
        .port_forwards
        .iter()
        .filter(|f| !f.disabled && !f.nordr && f.ipprotocol.admits(address))
        .filter(|f| crate::explain::protocol_matches(f.protocol.as_deref(), f.ipprotocol, "tcp"))
        .filter(|f| {
            holds(&f.destination)
                && m.port_matches(&f.destination_port, Some(port)) == crate::matching::Tri::Yes
        })
        .map(|f| Redirection {
            applies: (
                "port forward",
                f.interface.clone(),
                f.source.raw.clone(),
                matches!(f.reflection.as_deref(), Some("enable" | "purenat")),
            ),
            what: format!(
                "port forward #{} \"{}\" sends tcp connections on {} from {} to {address}:{port}, where this server's URL leads, to {}{}",
                f.position,
                f.descr,
                f.interface,
                from(&f.source),
                f.target,
                f.local_port.map(|p| format!(":{p}")).unwrap_or_default()
            ),
        });
    let mappings = m
        .one_to_one
        .iter()
        .filter(|o| !o.disabled && !o.nobinat)
        .filter_map(|o| {
            let (external, internal) = m.one_to_one_networks(o).ok()?;
            external.contains(address).then(|| {
                let inside = match internal {
                    Ok(internal) => {
                        crate::explain::same_host_part(*address, &external, &internal).to_string()
                    }
                    Err(_) => format!("`{}`", o.internal.raw),
                };
                Redirection {
                    applies: (
                        "1:1 NAT mapping",
                        o.interface.clone(),
                        o.destination.raw.clone(),
                        o.reflection == Some(true),
                    ),
                    what: format!(
                        "1:1 NAT mapping #{} \"{}\" sends connections on {} from {} to {address}, the address this server's URL leads to, to {inside}",
                        o.position,
                        o.descr,
                        o.interface,
                        from(&o.destination)
                    ),
                }
            })
        });
    forwards.chain(mappings).collect()
}

/// A server off the firewall's subnets, on no interface it was told: its requests come in
/// where the firewall's route back to it leads (routing taken as symmetric), or on an
/// interface with a gateway whose rules let it reach the API now (their pass rules answer it by
/// reply-to, whatever the routes say). Each such interface is judged as a path of its own, and
/// a change is refused that sends the replies out another way: the route back moved (static
/// route, gateway, default gateway), or the reply-to taken away.
fn check_routed(model: &FirewallModel, after: &FirewallModel, path: &ServerPath) -> GuardReport {
    let source = path.source;
    let v6 = source.is_ipv6();
    let mut cannot_know = always_unknown();
    cannot_know.push(format!(
        "{source} is on none of the firewall's subnets: its requests are taken to come in where the firewall's route back to it leads, or on an interface with a gateway whose rules pass it to the API now; routing upstream that brings them in elsewhere would change that. Routes the REST API does not list (OpenVPN and IPsec networks, a routing package's) are not seen."
    ));
    cannot_know.push("Pass rules on an interface with a gateway answer by reply-to; \"Disable reply-to\" (System > Advanced > Firewall & NAT, not in the REST API) would send those replies by the routing table instead.".into());
    let pinned = |interface: &str| ServerPath {
        interface: Some(interface.to_string()),
        ..path.clone()
    };
    let (arrivals, back) = arrivals(model, path);
    if arrivals.is_empty() {
        let why = match &back {
            Err(e) => e.clone(),
            Ok(b) => format!(
                "the route back to it leads out of `{}`, which is no interface",
                b.interface
            ),
        };
        return unknown(
            format!(
                "{source} is on none of the firewall's subnets, and neither the firewall's routes nor its rules tell where its traffic comes in: {why}"
            ),
            cannot_know,
        );
    }
    let back_after = after.route_back(source);
    for &arrival in &arrivals {
        if model.has_reply_to(arrival, v6) && after.has_reply_to(arrival, v6) {
            continue;
        }
        // The routing table carries the replies: its route back must keep leading out here.
        let before = back.as_ref().ok().filter(|b| b.interface == arrival);
        let kept = match (before, &back_after) {
            (Some(b), Ok(a)) => a.interface == b.interface && a.next_hop() == b.next_hop(),
            (None, Ok(a)) => a.interface == arrival,
            (_, Err(_)) => false,
        };
        if kept {
            continue;
        }
        let leads = match &back_after {
            Ok(a) => match a.next_hop() {
                Some(hop) => format!("its replies would leave by {} to {hop}", a.interface),
                None => format!("its replies would leave by {}", a.interface),
            },
            Err(e) => format!("its replies would have no route ({e})"),
        };
        let after_text = match &back_after {
            Ok(a) => a.describe(),
            Err(_) => "none".into(),
        };
        let reason = match before {
            Some(b) => format!(
                "the firewall's route back to {source} moves from {} to {after_text}: this server's requests come in on {arrival}, and {leads}",
                b.describe()
            ),
            None => format!(
                "interface {arrival} no longer has a gateway, so its rules stop answering {source} by reply-to: this server's requests come in on {arrival}, and {leads}"
            ),
        };
        return GuardReport {
            decision: GuardDecision::Refused,
            reason,
            interface: Some(arrival.to_string()),
            api_address: None,
            ports: Vec::new(),
            cannot_know,
        };
    }
    // Refused on any of them is refused; else undecided on any is undecided.
    let mut reports = Vec::new();
    for &arrival in &arrivals {
        let mut report = check_path(model, after, &pinned(arrival));
        for note in &cannot_know {
            if !report.cannot_know.contains(note) {
                report.cannot_know.push(note.clone());
            }
        }
        if report.decision == GuardDecision::Refused {
            return report;
        }
        reports.push(report);
    }
    match reports
        .iter()
        .position(|r| r.decision == GuardDecision::Unknown)
    {
        Some(i) => reports.swap_remove(i),
        None => reports.swap_remove(0),
    }
}

/// Whether the model lets the server reach the API on every port by `path` now.
fn passes_now(model: &FirewallModel, path: &ServerPath) -> bool {
    let Ok(r) = resolve_path(model, path) else {
        return false;
    };
    verdicts(model, path, &r, &mut Vec::new())
        .iter()
        .all(|(_, verdict, ..)| *verdict == Verdict::Pass)
}

/// The path `path` names (its interface given, or the one whose subnet holds the server) before
/// and `after` the change.
fn check_path(model: &FirewallModel, after: &FirewallModel, path: &ServerPath) -> GuardReport {
    let mut cannot_know = always_unknown();
    let before_r = match resolve_path(model, path) {
        Ok(r) => r,
        Err(e) => return unknown(e, cannot_know),
    };
    // The change may move the webGUI port or the interface address itself.
    let after_r = match resolve_path(after, path) {
        Ok(r) => r,
        Err(e) => {
            return GuardReport {
                decision: GuardDecision::Refused,
                reason: format!("after the change the server's path is gone: {e}"),
                interface: Some(before_r.interface),
                api_address: Some(before_r.address),
                ports: Vec::new(),
                cannot_know,
            };
        }
    };
    if path.api_ports.is_empty() && after_r.ports != before_r.ports {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "the webGUI and REST API move from port {:?} to {:?}; the server is configured for the old port",
                before_r.ports, after_r.ports
            ),
            interface: Some(after_r.interface),
            api_address: Some(after_r.address),
            ports: Vec::new(),
            cannot_know,
        };
    }
    if before_r.connects_to_held && !after_r.connects_to_held {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "after the change the firewall no longer holds {}, the address this server's URL leads to",
                before_r.address
            ),
            interface: Some(after_r.interface),
            api_address: Some(before_r.address),
            ports: Vec::new(),
            cannot_know,
        };
    }
    // A renumbered interface; not an address of the URL's the firewall takes on (a virtual IP
    // created at it), which the server connects to from then on.
    if path.api_address.is_none()
        && !after_r.connects_to_held
        && after_r.address != before_r.address
    {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "interface {} changes its address from {} to {}; the server connects to the old one",
                before_r.interface, before_r.address, after_r.address
            ),
            interface: Some(after_r.interface),
            api_address: Some(after_r.address),
            ports: Vec::new(),
            cannot_know,
        };
    }
    let refused = |reason: String, cannot_know: Vec<String>| GuardReport {
        decision: GuardDecision::Refused,
        reason,
        interface: Some(after_r.interface.clone()),
        api_address: Some(after_r.address),
        ports: Vec::new(),
        cannot_know,
    };
    if let Some(reason) = crate::api_gate::webgui_protocol_or_certificate(
        &model.source.webgui,
        &after.source.webgui,
        path.scheme.as_deref(),
        path.pinned_certificate,
    ) {
        return refused(reason, cannot_know);
    }
    if let (Some(b), Some(a)) = (
        model.interface(&before_r.interface),
        after.interface(&after_r.interface),
    ) && b.device != a.device
    {
        return refused(
            format!(
                "interface {} moves from device {} to {}, away from the network the server's traffic arrives on",
                b.id, b.device, a.device
            ),
            cannot_know,
        );
    }
    if after
        .interface(&after_r.interface)
        .is_some_and(|i| !i.enabled)
    {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "the change disables interface {}, which the server's traffic arrives on",
                after_r.interface
            ),
            interface: Some(after_r.interface),
            api_address: Some(after_r.address),
            ports: Vec::new(),
            cannot_know,
        };
    }
    let mut unknown_before = Vec::new();
    let before_v = verdicts(model, path, &before_r, &mut unknown_before);
    let after_v = verdicts(after, path, &after_r, &mut cannot_know);
    let ports: Vec<PortCheck> = before_v
        .iter()
        .zip(&after_v)
        .map(|(b, a)| PortCheck {
            port: a.0,
            before: b.1,
            after: a.1,
            decided_by_after: a.2.clone(),
        })
        .collect();
    // A port forward that now takes the API's port elsewhere: the verdict may still be pass,
    // but the server's connections reach another host.
    let forwarded = before_v.iter().zip(&after_v).find_map(|(b, a)| {
        let t = a.3.as_ref()?;
        let moved =
            b.3.as_ref()
                .is_none_or(|bt| (bt.dst, bt.dst_port) != (t.dst, t.dst_port));
        moved.then_some(t)
    });
    if let Some(t) = forwarded {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "after the change, tcp {} → {}:{} on {} is forwarded to {}{} by {}: the server would reach that host instead of the API",
                path.source,
                t.original_dst,
                t.original_dst_port
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                after_r.interface,
                t.dst,
                t.dst_port.map(|p| format!(":{p}")).unwrap_or_default(),
                t.describe()
            ),
            interface: Some(after_r.interface),
            api_address: Some(after_r.address),
            ports,
            cannot_know,
        };
    }
    // A path that was known to pass and that the change makes undecidable (a schedule, a
    // URL table, a port range the model cannot read): refused. Failing open here let a
    // later change cut the path while the guard could no longer tell.
    if let Some(p) = ports
        .iter()
        .find(|p| p.before == Verdict::Pass && p.after == Verdict::Unknown)
    {
        return GuardReport {
            decision: GuardDecision::Refused,
            reason: format!(
                "after the change, whether tcp {} → {}:{} on {} stays allowed depends on what the model cannot decide ({}); before it, the path was known to pass",
                path.source,
                after_r.address,
                p.port,
                after_r.interface,
                if cannot_know.len() > ALWAYS_UNKNOWN.len() {
                    cannot_know[ALWAYS_UNKNOWN.len()..].join("; ")
                } else {
                    "see the rule that decides".to_string()
                }
            ),
            interface: Some(after_r.interface),
            api_address: Some(after_r.address),
            ports,
            cannot_know,
        };
    }
    let blocked: Vec<&PortCheck> = ports
        .iter()
        .filter(|p| matches!(p.after, Verdict::Block | Verdict::Reject))
        .collect();
    let (decision, reason) = if let Some(p) = blocked.iter().find(|p| p.before == Verdict::Pass) {
        let by = p.decided_by_after.as_ref();
        (
            GuardDecision::Refused,
            format!(
                "after the change, tcp {} → {}:{} on {} is {} by {}",
                path.source,
                after_r.address,
                p.port,
                after_r.interface,
                if p.after == Verdict::Reject {
                    "rejected"
                } else {
                    "blocked"
                },
                by.map(RuleRef::describe)
                    .unwrap_or_else(|| "an unknown rule".into())
            ),
        )
    } else if !blocked.is_empty() {
        (
            GuardDecision::Unknown,
            "the model already finds the server's path blocked before the change, yet the server reaches the API: something the API does not show is in play".into(),
        )
    } else if ports.iter().any(|p| p.after == Verdict::Unknown) {
        (
            GuardDecision::Unknown,
            "whether the path stays allowed depends on matches the model cannot decide".into(),
        )
    } else {
        (
            GuardDecision::Allowed,
            format!(
                "the server's path to the API (tcp {:?}) stays allowed",
                after_r.ports
            ),
        )
    };
    GuardReport {
        decision,
        reason,
        interface: Some(after_r.interface),
        api_address: Some(after_r.address),
        ports,
        cannot_know,
    }
}
