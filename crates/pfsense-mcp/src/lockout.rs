//! The lockout guard on the call path: before a confirmed change to firewall rules, port
//! forwards, 1:1 NAT mappings, aliases, interfaces, interface groups or the webGUI settings is
//! sent (one object, a bulk delete, a PUT of the whole list, or an undo's steps), the traffic
//! evaluator of `pfsense-firewall` checks that this server's path to the API stays allowed
//! (`--lockout-source`); before a change to the REST API's settings or access list, its gate
//! (`pfsense_firewall::api_gate`) checks that the API still lets this server in. Changes to
//! users, groups and API keys are checked always, without `--lockout-source`: the user this
//! server authenticates as must keep its way in (`api_gate::accounts_change`); so is what this
//! server's URL and pin need: the webGUI's port, protocol and certificate (`webgui_refusal`),
//! the firewall's name and the DNS resolver that answers it (`hostname_refusal`), the host
//! overrides that may answer the name it gives (`host_override_refusal`), CARP
//! (`carp_refusal`) and the address the URL leads to, kept and not sent elsewhere by a port
//! forward or 1:1 NAT (`url_address_refusal`). pfSense has no
//! restore API: a change that cuts the API off cannot be undone through it, not even by
//! auto-revert. With the model read, an alias that rules still name is not taken away
//! (`guard::aliases_left_in_use`): pfrest would delete it and pfSense skip those rules. Nor is
//! anything else of `guard::NAMED_OBJECTS` that something still names (a schedule, a limiter,
//! a shaper queue, an authentication server, a gateway, an IPsec phase 1, an OpenVPN server, a
//! WireGuard tunnel, an interface, a CARP virtual IP, a VLAN, an interface group, a user a
//! group or the access list names: `guard::names_left_in_use`): pfrest would take it away all
//! the same, and pfSense run rules at all times, unlimited or not at all, lose its default
//! route, an IPsec tunnel or an interface's device, or hand a VPN's children, an interface's
//! NAT, virtual IPs and gateways, or a group's privileges to the next one created.

use crate::catalog::ToolDef;
use crate::client::AuthMethod;
use crate::client::Client;
use crate::safety::SafetyOptions;
use crate::spec::{Method, PathKind};
use pfsense_firewall::api_gate::{self, ApiClient, Gate};
use pfsense_firewall::guard::{ChangeOp, ObjectKind};
use pfsense_firewall::model::ModelPart;
use pfsense_firewall::{Change, GuardDecision, ServerPath};
use serde_json::{Value, json};

/// The API objects whose changes can cut the server's path: the path of one object, of the
/// collection (whose bulk delete and PUT replace them wholesale), and their kind in the model.
const GUARDED: &[(&str, Option<&str>, ObjectKind)] = &[
    (
        "/api/v2/firewall/rule",
        Some("/api/v2/firewall/rules"),
        ObjectKind::Rule,
    ),
    (
        "/api/v2/firewall/nat/port_forward",
        Some("/api/v2/firewall/nat/port_forwards"),
        ObjectKind::PortForward,
    ),
    (
        "/api/v2/firewall/alias",
        Some("/api/v2/firewall/aliases"),
        ObjectKind::Alias,
    ),
    (
        "/api/v2/interface",
        Some("/api/v2/interfaces"),
        ObjectKind::Interface,
    ),
    (
        "/api/v2/interface/group",
        Some("/api/v2/interface/groups"),
        ObjectKind::InterfaceGroup,
    ),
    ("/api/v2/system/webgui/settings", None, ObjectKind::WebGui),
    (
        "/api/v2/system/restapi/access_list/entry",
        Some("/api/v2/system/restapi/access_list"),
        ObjectKind::ApiAccessEntry,
    ),
    ("/api/v2/user", Some("/api/v2/users"), ObjectKind::User),
    (
        "/api/v2/user/group",
        Some("/api/v2/user/groups"),
        ObjectKind::UserGroup,
    ),
    (
        "/api/v2/auth/key",
        Some("/api/v2/auth/keys"),
        ObjectKind::ApiKey,
    ),
    (
        "/api/v2/firewall/schedule",
        Some("/api/v2/firewall/schedules"),
        ObjectKind::Schedule,
    ),
    (
        "/api/v2/firewall/traffic_shaper/limiter",
        Some("/api/v2/firewall/traffic_shaper/limiters"),
        ObjectKind::Limiter,
    ),
    (
        "/api/v2/firewall/traffic_shaper/limiter/queue",
        Some("/api/v2/firewall/traffic_shaper/limiter/queues"),
        ObjectKind::LimiterQueue,
    ),
    (
        "/api/v2/firewall/traffic_shaper",
        Some("/api/v2/firewall/traffic_shapers"),
        ObjectKind::Shaper,
    ),
    (
        "/api/v2/firewall/traffic_shaper/queue",
        Some("/api/v2/firewall/traffic_shaper/queues"),
        ObjectKind::ShaperQueue,
    ),
    (
        "/api/v2/user/auth_server",
        Some("/api/v2/user/auth_servers"),
        ObjectKind::AuthServer,
    ),
    (
        "/api/v2/routing/gateway",
        Some("/api/v2/routing/gateways"),
        ObjectKind::Gateway,
    ),
    (
        "/api/v2/routing/gateway/group",
        Some("/api/v2/routing/gateway/groups"),
        ObjectKind::GatewayGroup,
    ),
    (
        "/api/v2/routing/static_route",
        Some("/api/v2/routing/static_routes"),
        ObjectKind::StaticRoute,
    ),
    (
        "/api/v2/routing/gateway/default",
        None,
        ObjectKind::DefaultGateway,
    ),
    (
        "/api/v2/vpn/ipsec/phase1",
        Some("/api/v2/vpn/ipsec/phase1s"),
        ObjectKind::IpsecPhase1,
    ),
    (
        "/api/v2/vpn/openvpn/server",
        Some("/api/v2/vpn/openvpn/servers"),
        ObjectKind::OpenVpnServer,
    ),
    (
        "/api/v2/vpn/wireguard/tunnel",
        Some("/api/v2/vpn/wireguard/tunnels"),
        ObjectKind::WireGuardTunnel,
    ),
    (
        "/api/v2/firewall/virtual_ip",
        Some("/api/v2/firewall/virtual_ips"),
        ObjectKind::VirtualIp,
    ),
    (
        "/api/v2/interface/vlan",
        Some("/api/v2/interface/vlans"),
        ObjectKind::InterfaceVlan,
    ),
    (
        "/api/v2/interface/lagg",
        Some("/api/v2/interface/laggs"),
        ObjectKind::InterfaceLagg,
    ),
    (
        "/api/v2/firewall/nat/one_to_one/mapping",
        Some("/api/v2/firewall/nat/one_to_one/mappings"),
        ObjectKind::OneToOneNat,
    ),
    (
        "/api/v2/services/dns_resolver/host_override",
        Some("/api/v2/services/dns_resolver/host_overrides"),
        ObjectKind::DnsHostOverride,
    ),
    (
        "/api/v2/services/dns_resolver/host_override/alias",
        Some("/api/v2/services/dns_resolver/host_override/aliases"),
        ObjectKind::DnsHostOverrideAlias,
    ),
    (
        "/api/v2/services/dns_forwarder/host_override",
        Some("/api/v2/services/dns_forwarder/host_overrides"),
        ObjectKind::DnsHostOverride,
    ),
    (
        "/api/v2/services/dns_forwarder/host_override/alias",
        Some("/api/v2/services/dns_forwarder/host_override/aliases"),
        ObjectKind::DnsHostOverrideAlias,
    ),
];

/// The DNS services whose host overrides may answer the name this server's URL gives: the
/// prefix of their host override endpoints, their list, and their name in words.
const HOST_OVERRIDE_SERVICES: &[(&str, &str, &str)] = &[
    (
        "/api/v2/services/dns_resolver/host_override",
        "/api/v2/services/dns_resolver/host_overrides",
        "DNS resolver",
    ),
    (
        "/api/v2/services/dns_forwarder/host_override",
        "/api/v2/services/dns_forwarder/host_overrides",
        "DNS forwarder",
    ),
];

/// Where the account guard reads each kind of account object.
const ACCOUNT_LISTS: &[(ObjectKind, &str)] = &[
    (ObjectKind::User, "/api/v2/users"),
    (ObjectKind::UserGroup, "/api/v2/user/groups"),
    (ObjectKind::ApiKey, "/api/v2/auth/keys"),
];

/// The REST API's settings: switching it off, its authentication methods and the interfaces
/// it answers on are part of the server's way in (`pfsense_firewall::api_gate`).
const REST_API_SETTINGS: &str = "/api/v2/system/restapi/settings";

/// The change a call of `def` with `args` would make, when the guard covers it. A bulk
/// delete's ids are left empty here: which objects its filters match is read at the time
/// (`matched`).
pub fn change_of(def: &ToolDef, args: &Value) -> Option<Change> {
    let (kind, collection) = GUARDED.iter().find_map(|(one, many, kind)| {
        if *one == def.path {
            Some((*kind, false))
        } else if *many == Some(def.path) {
            Some((*kind, true))
        } else {
            None
        }
    })?;
    let op = match (def.method, collection) {
        // Settings singletons are always an update of the one object.
        (Method::Post | Method::Patch | Method::Put, false)
            if matches!(kind, ObjectKind::WebGui | ObjectKind::DefaultGateway) =>
        {
            ChangeOp::Update
        }
        (Method::Post, false) => ChangeOp::Create,
        (Method::Patch | Method::Put, false) => ChangeOp::Update,
        (Method::Delete, false) => ChangeOp::Delete,
        (Method::Delete, true) => ChangeOp::DeleteMany,
        (Method::Put, true) => ChangeOp::Replace,
        _ => return None,
    };
    let mut object = args.clone();
    let id = object.as_object_mut().and_then(|m| m.remove("id"));
    let object = match op {
        ChangeOp::Replace => object.get("objects").cloned().unwrap_or(Value::Null),
        ChangeOp::DeleteMany => Value::Null,
        _ => object,
    };
    Some(Change {
        kind,
        op,
        id: if op == ChangeOp::DeleteMany { None } else { id },
        object,
    })
}

/// The ids a bulk delete's filters match on the firewall now; `{parent_id, id}` for a nested
/// object (a limiter's queue), whose id counts within its parent.
async fn matched(client: &Client, def: &ToolDef, args: &Value) -> Result<Value, String> {
    let objects = crate::safety::state::bulk_delete_matches(client, def, args).await?;
    let ids = objects
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let id = o.get("id").cloned().ok_or("an object without an id")?;
            Ok(match o.get("parent_id") {
                Some(parent) => json!({"parent_id": parent, "id": id}),
                None => id,
            })
        })
        .collect::<Result<Vec<Value>, &str>>()?;
    Ok(Value::Array(ids))
}

/// A bulk delete's ids, read into `change` (`matched`); other changes are left as they are.
/// Err is the refusal when they cannot be read.
async fn read_bulk_delete_ids(
    client: &Client,
    def: &ToolDef,
    args: &Value,
    change: &mut Change,
) -> Result<(), String> {
    if change.op == ChangeOp::DeleteMany {
        let ids = matched(client, def, args).await.map_err(|e| {
            format!(
                "the lockout guard could not read which objects `{}` would delete: {e}",
                def.name
            )
        })?;
        change.id = Some(ids);
    }
    Ok(())
}

/// Why a call of `def` with `args` must not be sent, if the guard finds it would lock this
/// server out (or take away an alias still in use). Judged alike for a preview and for its
/// confirmation, so that a preview says what its confirmation would meet; only reads are
/// sent. `None` when the guard is off (no `--lockout-source`), the call is not a guarded
/// change, or the evaluator finds the path stays allowed or cannot decide (the cannot-decide
/// case is logged on stderr: refusing what the model cannot see would block every change on
/// firewalls with URL tables or schedules).
pub async fn refusal(
    client: &Client,
    def: &ToolDef,
    args: &Value,
    options: &SafetyOptions,
) -> Option<String> {
    steps_refusal(client, &[(def, args)], options).await
}

/// Why these calls, made one after the other (an undo's steps), must not be sent: the guard
/// judges the state after the last. `None` as for [`refusal`].
#[inline(never)]
pub fn steps_refusal<'a>(
    client: &'a Client,
    calls: &'a [(&'a ToolDef, &'a Value)],
    options: &'a SafetyOptions,
) -> futures::future::BoxFuture<'a, Option<String>> {
    // Boxed once here (lib.rs, "One copy of a big future"): awaited from a call and from an undo.
    Box::pin(steps_refusal_unboxed(client, calls, options))
}

async fn steps_refusal_unboxed(
    client: &Client,
    calls: &[(&ToolDef, &Value)],
    options: &SafetyOptions,
) -> Option<String> {
    let source = options.lockout_source;
    let mut changes = Vec::new();
    let mut access_changes = Vec::new();
    let mut account_changes = Vec::new();
    let mut settings_changes = Vec::new();
    let mut named_changes = Vec::new();
    let mut access_list_tool = None;
    let mut webgui_changes = Vec::new();
    let mut certificate_changes = Vec::new();
    let mut hostname_changes = Vec::new();
    let mut resolver_changes = Vec::new();
    let mut carp_changes = Vec::new();
    let mut address_changes = Vec::new();
    let mut host_override_changes = Vec::new();
    let mut lagg_changes = Vec::new();
    let url_names_a_host = matches!(client.base_url().host(), Some(url::Host::Domain(_)));
    for (def, args) in calls {
        if def.path == REST_API_SETTINGS && def.method != Method::Get {
            settings_changes.push(*args);
            continue;
        }
        if def.path == HOSTNAME && def.method != Method::Get {
            hostname_changes.push(*args);
            continue;
        }
        if def.path == DNS_RESOLVER && def.method != Method::Get {
            resolver_changes.push(*args);
            continue;
        }
        if def.path == CARP && def.method != Method::Get {
            carp_changes.push(*args);
            continue;
        }
        if let Some(certificate) = certificate_change_of(client, def, args) {
            certificate_changes.push(certificate);
            continue;
        }
        let Some(mut change) = change_of(def, args) else {
            continue;
        };
        // What the firewall's DNS answers for the name this server's URL gives.
        if matches!(
            change.kind,
            ObjectKind::DnsHostOverride | ObjectKind::DnsHostOverrideAlias
        ) {
            if url_names_a_host {
                if let Err(refusal) = read_bulk_delete_ids(client, def, args, &mut change).await {
                    return Some(refusal);
                }
                host_override_changes.push((def.path, change));
            }
            continue;
        }
        // The webGUI's port, protocol and certificate are this server's way in whatever its
        // address; with `--lockout-source` the whole path is judged below.
        if change.kind == ObjectKind::WebGui && source.is_none() {
            webgui_changes.push(change);
            continue;
        }
        let account = ACCOUNT_LISTS.iter().any(|(kind, _)| *kind == change.kind);
        // Creating a user, group or key takes no one's access away; API keys are no way in
        // of a server that signs in otherwise.
        let not_its_key =
            change.kind == ObjectKind::ApiKey && identity(client).auth_method != "KeyAuth";
        // An alias taken away (deleted, renamed, left out of a PUT) is checked for rules
        // still naming it whatever `--lockout-source` says: as pfSense's webGUI refuses it.
        let alias_removal = pfsense_firewall::guard::takes_alias_away(&change);
        // So is anything of `guard::NAMED_OBJECTS` (a schedule, a limiter, a gateway, an
        // IPsec phase 1…) taken away while something names it; their other changes are kept
        // too, for the list they leave.
        let named = pfsense_firewall::guard::is_named(change.kind);
        // A port forward or 1:1 NAT mapping of the address this server's URL leads to needs
        // no source to suspect; with `--lockout-source` the path guard judges it exactly.
        // Taking them away redirects nothing new.
        if source.is_none() && REDIRECTS.contains(&change.kind) {
            if !matches!(change.op, ChangeOp::Delete | ChangeOp::DeleteMany) {
                address_changes.push(change);
            }
            continue;
        }
        if (account && change.op == ChangeOp::Create)
            || not_its_key
            || (!account && source.is_none() && !alias_removal && !named)
        {
            continue;
        }
        if let Err(refusal) = read_bulk_delete_ids(client, def, args, &mut change).await {
            return Some(refusal);
        }
        // The address this server's URL leads to, held by an interface or a virtual IP, needs
        // no source to judge; with `--lockout-source` the path guard judges it too.
        if source.is_none() && TAKES_ADDRESSES.contains(&change.kind) {
            address_changes.push(change.clone());
        }
        // A device made a LAGG port stops carrying the interface assigned to it, whatever
        // this server's address.
        if change.kind == ObjectKind::InterfaceLagg
            && !matches!(change.op, ChangeOp::Delete | ChangeOp::DeleteMany)
        {
            lagg_changes.push(change.clone());
        }
        // An interface is both named (by rules, NAT, virtual IPs…) and part of the model the
        // path is judged on; a user is both named (by groups, the access list) and an account
        // this server may sign in as.
        if named {
            let judged_too = account || (change.kind.in_model() && source.is_some());
            if !judged_too {
                named_changes.push(change);
                continue;
            }
            named_changes.push(change.clone());
        }
        if account {
            account_changes.push((change, needed_privileges(def, client)));
        } else if change.kind == ObjectKind::ApiAccessEntry {
            access_list_tool = crate::safety::state::sibling(def, PathKind::Plural, Method::Get);
            access_changes.push(change);
        } else {
            changes.push(change);
        }
    }
    let tools: Vec<&str> = calls.iter().map(|(d, _)| d.name).collect();
    if !account_changes.is_empty() {
        let gate = match accounts_gate(client, &account_changes).await {
            Ok(gate) => gate,
            Err(unread) => {
                return Some(unread_refusal(&unread, "this server keeps its access"));
            }
        };
        if let Some(refusal) = verdict(gate, &tools, ACCOUNTS_SHUT_OUT, ACCOUNTS_MAY_SHUT_OUT) {
            return Some(refusal);
        }
    }
    // After the account gate: shutting this server out is the graver refusal of a user's delete.
    if let Some(refusal) = names_in_use_refusal(client, &named_changes).await {
        return Some(refusal);
    }
    if let Some(refusal) = lagg_ports_refusal(client, &lagg_changes).await {
        return Some(refusal);
    }
    // Switching the API off or leaving out this server's authentication method needs no
    // address to judge; the interfaces it answers on and the access list do.
    if source.is_none() {
        let me = identity(client);
        for fields in &settings_changes {
            let what_to_do = "A REST API that shuts this server out cannot be opened again through the API; make the change from the webGUI.";
            if let Some(refusal) = verdict(
                api_gate::settings_change(fields, &me),
                &tools,
                what_to_do,
                what_to_do,
            ) {
                return Some(refusal);
            }
        }
    }
    if let Some(refusal) =
        webgui_refusal(client, &webgui_changes, &certificate_changes, &tools).await
    {
        return Some(refusal);
    }
    if let Some(refusal) =
        hostname_refusal(client, &hostname_changes, &resolver_changes, &tools).await
    {
        return Some(refusal);
    }
    if let Some(refusal) = host_override_refusal(client, &host_override_changes, &tools).await {
        return Some(refusal);
    }
    if let Some(refusal) = carp_refusal(client, &carp_changes, &tools).await {
        return Some(refusal);
    }
    if let Some(refusal) = url_address_refusal(client, &address_changes, &tools).await {
        return Some(refusal);
    }
    let Some(source) = source else {
        return aliases_in_use_refusal(client, &changes).await;
    };
    if changes.is_empty() && access_changes.is_empty() && settings_changes.is_empty() {
        return None;
    }
    // Every part of the model can decide the path (a port forward, an interface group's
    // rules, the webGUI port, a dynamic address): one left unread could hide the lockout.
    let model = match whole_model(client).await {
        Ok(model) => model,
        Err(unread) => {
            return Some(format!(
                "the lockout guard (--lockout-source {source}) could not read {unread} to check the change against. Retry, or give this server's user the privileges to read them"
            ));
        }
    };
    // An alias deleted while rules still name it: not a question of this server's path, but
    // the model after it would hold names pfSense no longer resolves.
    if let Some(refusal) = alias_users_refusal(client, &model, &changes).await {
        return Some(refusal);
    }
    let path = server_path(source, client.base_url(), &client.config().tls).await;
    if !settings_changes.is_empty() || !access_changes.is_empty() {
        let gate = gate_refusal(
            client,
            &model,
            &path,
            &settings_changes,
            &access_changes,
            access_list_tool,
        )
        .await;
        let what_to_do = format!(
            "This server reaches the API from {source} (--lockout-source) and a REST API that shuts it out cannot be opened again through the API. Keep this server's way in, or make the change from the webGUI."
        );
        if let Some(refusal) = verdict(gate, &tools, &what_to_do, &what_to_do) {
            return Some(refusal);
        }
    }
    if changes.is_empty() {
        return None;
    }
    let report = pfsense_firewall::check_lockout_all(&model, &changes, &path);
    match report.decision {
        GuardDecision::Refused => Some(format!(
            "the lockout guard refuses it: {}. This server reaches the API from {source} (--lockout-source); pfSense has no restore API, so a change that cuts that path cannot be undone through it. Change it so that this path stays open (a rule that no longer matches it, a route back through the interface it comes in on), or make the change from the console or webGUI.",
            report.reason
        )),
        GuardDecision::Unknown => {
            tracing::warn!(tools = ?tools, reason = %report.reason, "lockout guard cannot decide; the change is sent");
            None
        }
        GuardDecision::Allowed => None,
    }
}

/// This server's path as the guard judges it: from `source` to the address its URL leads to,
/// in the scheme it speaks, pinning the certificate or not.
pub async fn server_path(
    source: std::net::IpAddr,
    base_url: &url::Url,
    tls: &crate::tls::TlsMode,
) -> ServerPath {
    ServerPath {
        scheme: Some(base_url.scheme().to_string()),
        pinned_certificate: matches!(tls, crate::tls::TlsMode::Pinned(_)),
        connects_to: url_address(base_url, source.is_ipv6()).await,
        ..ServerPath::from_source(source)
    }
}

/// The address a URL's host is or resolves to (of the family of `v6` when it has one); None
/// when the name does not resolve within two seconds.
async fn url_address(url: &url::Url, v6: bool) -> Option<std::net::IpAddr> {
    let found = url_addresses(url).await;
    found
        .iter()
        .find(|a| a.is_ipv6() == v6)
        .or(found.first())
        .copied()
}

/// Every address a URL's host is or resolves to; none when the name does not resolve within
/// two seconds.
async fn url_addresses(url: &url::Url) -> Vec<std::net::IpAddr> {
    match url.host() {
        None => Vec::new(),
        Some(url::Host::Ipv4(a)) => vec![a.into()],
        Some(url::Host::Ipv6(a)) => vec![a.into()],
        Some(url::Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
    }
}

/// A call that gives a certificate another fingerprint: its renewal (by `certref`), or its
/// `crt` replaced (by `id`, the certificate's position).
#[derive(Debug)]
enum CertificateChange {
    Renewed(String),
    Replaced { id: Value, crt: Value },
}

/// The certificate a call of `def` gives another fingerprint, when this server pins the one
/// the webGUI presents (nothing else makes a certificate's change its concern).
fn certificate_change_of(
    client: &Client,
    def: &ToolDef,
    args: &Value,
) -> Option<CertificateChange> {
    if !pins_certificate(client) {
        return None;
    }
    match (def.method, def.path) {
        (Method::Post, "/api/v2/system/certificate/renew") => Some(CertificateChange::Renewed(
            args.get("certref")?.as_str()?.to_string(),
        )),
        (Method::Patch | Method::Put, "/api/v2/system/certificate") => {
            Some(CertificateChange::Replaced {
                id: args.get("id")?.clone(),
                crt: args.get("crt")?.clone(),
            })
        }
        _ => None,
    }
}

/// Whether this server pins the certificate the firewall presents (`PFSENSE_TLS_FINGERPRINT`).
fn pins_certificate(client: &Client) -> bool {
    matches!(client.config().tls, crate::tls::TlsMode::Pinned(_))
}

/// Why a change is not sent when what the guard must judge it by could not be read (`unread`,
/// the failed read): it cannot tell whether `what_stays` stays true.
fn unread_refusal(unread: &str, what_stays: &str) -> String {
    format!(
        "the lockout guard could not read {unread}, so it cannot check that {what_stays}. Retry, or make the change from the webGUI"
    )
}

/// The firewall's name (`hostname`, `domain`), which its DNS servers answer.
const HOSTNAME: &str = "/api/v2/system/hostname";

/// The DNS resolver's settings: switched on or off.
const DNS_RESOLVER: &str = "/api/v2/services/dns_resolver/settings";

/// Refused as possibly shutting this server out when its URL names the firewall by its own
/// name and the change renames it (`api_gate::hostname_change`) or switches the DNS resolver
/// that answers it off (`api_gate::resolver_change`). Reads the name (and the resolver's
/// settings) only then, and only for a URL that names a host.
async fn hostname_refusal(
    client: &Client,
    changes: &[&Value],
    resolver_changes: &[&Value],
    tools: &[&str],
) -> Option<String> {
    let Some(url::Host::Domain(host)) = client.base_url().host() else {
        return None;
    };
    let switches_off = |fields: &&Value| fields.get("enable") == Some(&Value::Bool(false));
    let resolver_off = resolver_changes.iter().any(switches_off);
    if changes.is_empty() && !resolver_off {
        return None;
    }
    let unread = |e: String| unread_refusal(&e, "this server's URL still leads to the firewall");
    let before = match crate::operator::read(client, HOSTNAME, json!({})).await {
        Ok(name) => name,
        Err(e) => return Some(unread(e)),
    };
    let mut after = before.clone();
    for fields in changes {
        pfsense_firewall::guard::merge(&mut after, fields);
    }
    let what_to_do = resolve_elsewhere(host);
    if let Some(refusal) = verdict(
        api_gate::hostname_change(&before, &after, host),
        tools,
        &what_to_do,
        &what_to_do,
    ) {
        return Some(refusal);
    }
    if !resolver_off {
        return None;
    }
    let resolver = match crate::operator::read(client, DNS_RESOLVER, json!({})).await {
        Ok(settings) => settings,
        Err(e) => return Some(unread(e)),
    };
    // Switched off now already: the change takes nothing away.
    let on_now = resolver.get("enable") != Some(&Value::Bool(false));
    verdict(
        api_gate::resolver_change(&after, !on_now, host),
        tools,
        &what_to_do,
        &what_to_do,
    )
}

/// What to do when a change may leave the firewall's DNS answering `host`, the name this
/// server's URL gives, otherwise.
fn resolve_elsewhere(host: &str) -> String {
    format!(
        "If this server resolves `{host}` elsewhere, or to go on either way, give it the firewall's address instead (PFSENSE_HOST) and restart it, or make the change from the webGUI."
    )
}

/// Refused as possibly shutting this server out when its URL names a host and the changes
/// (each with the path it was made at) make a DNS service's host overrides answer that name
/// otherwise (`api_gate::host_override_change`). Reads each service's overrides only then.
async fn host_override_refusal(
    client: &Client,
    changes: &[(&str, Change)],
    tools: &[&str],
) -> Option<String> {
    let Some(url::Host::Domain(host)) = client.base_url().host() else {
        return None;
    };
    for (prefix, list, service) in HOST_OVERRIDE_SERVICES {
        let mine: Vec<&Change> = changes
            .iter()
            .filter(|(path, _)| path.starts_with(prefix))
            .map(|(_, change)| change)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let before = match crate::operator::read(client, list, json!({})).await {
            Ok(Value::Array(overrides)) => overrides,
            Ok(_) => Vec::new(),
            Err(e) => {
                return Some(unread_refusal(
                    &e,
                    "this server's URL still leads to the firewall",
                ));
            }
        };
        let mut after = before.clone();
        for change in mine {
            let next = match change.kind {
                ObjectKind::DnsHostOverrideAlias => pfsense_firewall::guard::change_children(
                    after,
                    "aliases",
                    ObjectKind::DnsHostOverride,
                    change,
                ),
                _ => pfsense_firewall::guard::change_list(after, change, false),
            };
            match next {
                Ok(next) => after = next,
                // No such object (pfrest answers 404): cannot decide, and sends.
                Err(e) => {
                    tracing::warn!(reason = %e, "lockout guard cannot tell what the firewall's DNS answers for this server's URL after the change; the change is sent");
                    return None;
                }
            }
        }
        let what_to_do = resolve_elsewhere(host);
        let gate = api_gate::host_override_change(&before, &after, host, service);
        if let Some(refusal) = verdict(gate, tools, &what_to_do, &what_to_do) {
            return Some(refusal);
        }
    }
    None
}

/// The kinds that may take connections to the address this server's URL leads to elsewhere.
const REDIRECTS: &[ObjectKind] = &[ObjectKind::PortForward, ObjectKind::OneToOneNat];

/// The kinds whose changes take an address from the firewall: an interface's, a virtual IP's.
const TAKES_ADDRESSES: &[ObjectKind] = &[ObjectKind::Interface, ObjectKind::VirtualIp];

/// Without `--lockout-source`: refused when the changes take from the firewall the address
/// this server's URL leads to (`guard::url_address_lost`), or (possibly) when a port forward
/// or 1:1 NAT mapping they make sends connections to it to another host
/// (`guard::url_address_redirected`). Reads the model only when the URL leads to an address
/// at all, and the NAT only for a change of it.
async fn url_address_refusal(
    client: &Client,
    changes: &[Change],
    tools: &[&str],
) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let addresses = url_addresses(client.base_url()).await;
    if addresses.is_empty() {
        return None;
    }
    let what_stays = "the firewall keeps the address this server's URL leads to";
    // Only the parts that hold addresses are read and decide: another part unread (a user may
    // lack the privilege to read routes) does not stop an interface's change.
    let nat = changes.iter().any(|c| REDIRECTS.contains(&c.kind));
    let model = match crate::operator::read_addresses(client, nat).await {
        Ok(model) => model,
        Err(unread) => return Some(unread_refusal(&unread, what_stays)),
    };
    if let Some(unread) = [
        ModelPart::InterfaceStatus,
        ModelPart::VirtualIps,
        ModelPart::PortForwards,
        ModelPart::OneToOneNat,
    ]
    .into_iter()
    .find_map(|part| model.read_failure(part))
    {
        return Some(unread_refusal(unread, what_stays));
    }
    // No such object (pfrest answers 404): as the path guard, it cannot decide, and sends.
    let undecided = |e: String| {
        tracing::warn!(reason = %e, "lockout guard cannot tell whether this server's URL still leads to the API; the change is sent");
        None
    };
    match pfsense_firewall::guard::url_address_lost(&model, changes, &addresses) {
        Ok(Some(address)) => {
            return Some(format!(
                "the lockout guard refuses it: after the change the firewall no longer holds {address}, the address this server's URL leads to, so this server could no longer reach the API, not even to undo the change. Give this server an address the firewall keeps (PFSENSE_HOST) and restart it, or make the change from the console or webGUI."
            ));
        }
        Ok(None) => {}
        Err(e) => return undecided(e),
    }
    let what_to_do = "Where this server comes in cannot be told without its address: give it (--lockout-source) to have the path judged, or make the change from the console or webGUI.";
    match pfsense_firewall::guard::url_interface_changed(&model, changes, &addresses) {
        Ok(Some(reason)) => return verdict(Gate::Possibly(reason), tools, what_to_do, what_to_do),
        Ok(None) => {}
        Err(e) => return undecided(e),
    }
    if !nat {
        return None;
    }
    let port = client.base_url().port_or_known_default().unwrap_or(443);
    match pfsense_firewall::guard::url_address_redirected(&model, changes, &addresses, port) {
        Ok(Some(reason)) => verdict(Gate::Possibly(reason), tools, what_to_do, what_to_do),
        Ok(None) => None,
        Err(e) => undecided(e),
    }
}

/// CARP's state on this firewall: switched on, in maintenance mode.
const CARP: &str = "/api/v2/status/carp";

/// Refused when CARP switched off, or (possibly) maintenance mode, takes away the CARP address
/// this server's URL leads to (`api_gate::carp_change`). Reads CARP's state and the virtual IPs
/// only for such a change.
async fn carp_refusal(client: &Client, changes: &[&Value], tools: &[&str]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let unread = |e: String| unread_refusal(&e, "the address this server's URL leads to stays");
    let now = match crate::operator::read(client, CARP, json!({})).await {
        Ok(now) => now,
        Err(e) => return Some(unread(e)),
    };
    let vips = match crate::operator::read(client, "/api/v2/firewall/virtual_ips", json!({})).await
    {
        Ok(Value::Array(vips)) => vips,
        Ok(_) => Vec::new(),
        Err(e) => return Some(unread(e)),
    };
    let addresses = url_addresses(client.base_url()).await;
    let what_to_do = "Give this server an address of this firewall's own, not a CARP address (PFSENSE_HOST), and restart it, or make the change from the webGUI.";
    for fields in changes {
        let gate = api_gate::carp_change(fields, &now, &vips, &addresses);
        if let Some(refusal) = verdict(gate, tools, what_to_do, what_to_do) {
            return Some(refusal);
        }
    }
    None
}

/// What to do when a change leaves the webGUI no longer answering this server's URL or pin.
const WEBGUI_SHUT_OUT: &str = "This server could then no longer reach the API, not even to undo the change. Make the change from the webGUI or console, then give this server the new URL (PFSENSE_HOST) or certificate fingerprint (PFSENSE_TLS_FINGERPRINT).";

/// Without `--lockout-source`: refused when a change of the webGUI's settings leaves it no
/// longer answering this server's URL (another port or protocol) or pin (another
/// certificate), or when the certificate it presents gets another fingerprint while this
/// server pins it. Reads the webGUI's settings (and a replaced certificate) only for such calls.
async fn webgui_refusal(
    client: &Client,
    webgui_changes: &[Change],
    certificate_changes: &[CertificateChange],
    tools: &[&str],
) -> Option<String> {
    if webgui_changes.is_empty() && certificate_changes.is_empty() {
        return None;
    }
    let unread = |e: String| unread_refusal(&e, "this server keeps its way in");
    let before =
        match crate::operator::read(client, "/api/v2/system/webgui/settings", json!({})).await {
            Ok(settings) => settings,
            Err(e) => return Some(unread(e)),
        };
    let url = client.base_url();
    let me = api_gate::WebGuiClient {
        scheme: url.scheme().to_string(),
        port: url.port_or_known_default().unwrap_or(443),
        pinned_certificate: pins_certificate(client),
    };
    if !webgui_changes.is_empty() {
        let mut after = pfsense_firewall::model::ApiInput {
            webgui: before.clone(),
            ..Default::default()
        };
        for change in webgui_changes {
            match pfsense_firewall::guard::apply_change(&after, change) {
                Ok(next) => after = next,
                Err(e) => {
                    let gate = Gate::Unknown(format!("the change cannot be applied: {e}"));
                    return verdict(gate, tools, WEBGUI_SHUT_OUT, WEBGUI_SHUT_OUT);
                }
            }
        }
        let gate = api_gate::webgui_change(&before, &after.webgui, &me);
        if let Some(refusal) = verdict(gate, tools, WEBGUI_SHUT_OUT, WEBGUI_SHUT_OUT) {
            return Some(refusal);
        }
    }
    for change in certificate_changes {
        let certref = match change {
            CertificateChange::Renewed(certref) => certref.clone(),
            CertificateChange::Replaced { id, crt } => {
                // The list, not the one object: an id it does not hold is pfrest's 404 to
                // answer, not a read the guard failed.
                let listed =
                    match crate::operator::read(client, "/api/v2/system/certificates", json!({}))
                        .await
                    {
                        Ok(listed) => listed,
                        Err(e) => return Some(unread(e)),
                    };
                let current = listed
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c.get("id") == Some(id));
                match current {
                    Some(c) if c.get("crt") != Some(crt) => {
                        let refid = c.get("refid").and_then(Value::as_str);
                        refid.unwrap_or_default().to_string()
                    }
                    _ => continue,
                }
            }
        };
        let gate = api_gate::webgui_certificate_change(&before, &certref, &me);
        if let Some(refusal) = verdict(gate, tools, WEBGUI_SHUT_OUT, WEBGUI_SHUT_OUT) {
            return Some(refusal);
        }
    }
    None
}

/// What to do when a change to users, groups or API keys certainly shuts this server out.
const ACCOUNTS_SHUT_OUT: &str = "The REST API would then refuse this server, undo included, and cannot be opened again through the API. Make this change from the webGUI.";

/// What to do when it might (`Gate::Possibly`: which key this server holds, or whose, cannot be
/// read): a credential the change cannot touch lets the guard judge it (with Basic auth the
/// keys are not this server's way in; with another user's key named by PFSENSE_USERNAME, only
/// that user is judged).
const ACCOUNTS_MAY_SHUT_OUT: &str = "Should that be this server's own way in, the REST API would then refuse this server, undo included, and could not be opened again through the API. Make this change from the webGUI, or run this server with a credential the change certainly leaves alone: Basic auth (PFSENSE_AUTH=basic with PFSENSE_USERNAME and PFSENSE_PASSWORD), or an API key of another user with PFSENSE_USERNAME naming that user.";

/// The firewall model with every part read, or what could not be read.
async fn whole_model(client: &Client) -> Result<pfsense_firewall::model::FirewallModel, String> {
    match crate::operator::read_model(client).await {
        Ok((model, notes)) if notes.is_empty() => Ok(model),
        Ok((_, notes)) => Err(notes.join("; ")),
        Err(e) => Err(format!("the firewall's rules ({e})")),
    }
}

/// Without `--lockout-source` only aliases taken away are judged (`changes` holds nothing
/// else): refused while anything in `guard::ALIAS_USERS` still names one. pfSense's webGUI refuses
/// such a delete; pfrest performs it and pfSense then skips those rules.
async fn aliases_in_use_refusal(client: &Client, changes: &[Change]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let model = match whole_model(client).await {
        Ok(model) => model,
        Err(unread) => return Some(unread_alias_users(&unread)),
    };
    alias_users_refusal(client, &model, changes).await
}

/// Refused while an alias these changes take away is still named by anything in `model`, or in
/// the lists only this check reads (`operator::read_alias_users`, read only when an alias is
/// taken away).
async fn alias_users_refusal(
    client: &Client,
    model: &pfsense_firewall::model::FirewallModel,
    changes: &[Change],
) -> Option<String> {
    if !changes
        .iter()
        .any(pfsense_firewall::guard::takes_alias_away)
    {
        return None;
    }
    let mut input = model.source.clone();
    if let Err(unread) = crate::operator::read_alias_users(client, &mut input).await {
        return Some(unread_alias_users(&unread));
    }
    match pfsense_firewall::guard::aliases_left_in_use(&input, changes) {
        Ok(in_use) if !in_use.is_empty() => {
            Some(in_use_refusal("alias", None, ObjectKind::Alias, &in_use))
        }
        _ => None,
    }
}

fn unread_alias_users(unread: &str) -> String {
    unread_users("alias", unread)
}

fn unread_users(what: &str, unread: &str) -> String {
    format!(
        "whether the {what} is still used could not be checked: {unread} could not be read. Retry, or give this server's user the privileges to read them"
    )
}

/// Refused while anything of `guard::NAMED_OBJECTS` these changes take away is still named (by
/// a rule, a REST API access list entry, a limiter's bandwidth, an OpenVPN server, an
/// interface, the default gateway setting, a gateway group, a phase 2, an override, a peer, a
/// NAT mapping, a virtual IP, the REST API's settings, a user group), whatever
/// `--lockout-source` says: pfrest deletes and renames it all the same, where pfSense's webGUI
/// refuses or rewrites what names it. Every such refusal is given at once (a user is named by
/// uid and by name).
async fn names_in_use_refusal(client: &Client, changes: &[Change]) -> Option<String> {
    let mut refusals = Vec::new();
    for named in pfsense_firewall::guard::NAMED_OBJECTS {
        let takes_away = changes
            .iter()
            .any(|c| pfsense_firewall::guard::takes_named_away(named, c));
        if !takes_away {
            continue;
        }
        let (list, users) = match crate::operator::read_name_users(client, named).await {
            Ok(read) => read,
            Err(unread) => return Some(unread_users(named.what, &unread)),
        };
        if let Ok(in_use) =
            pfsense_firewall::guard::names_left_in_use(named, &list, &users, changes)
            && !in_use.is_empty()
        {
            refusals.push(in_use_refusal(
                named.what,
                named.key_label,
                named.kind,
                &in_use,
            ));
        }
    }
    (!refusals.is_empty()).then(|| refusals.join("\n"))
}

/// Where the LAGGs, interfaces and VLANs are read for [`lagg_ports_refusal`].
const LAGG_PORT_LISTS: [&str; 3] = [
    pfsense_firewall::guard::LAGGS.path,
    pfsense_firewall::guard::INTERFACES.path,
    pfsense_firewall::guard::VLANS.path,
];

/// Refused when a LAGG's create, update or replacement makes a port of a device an interface
/// is assigned to, or of a VLAN's parent (`guard::lagg_ports_in_use`): that interface stops
/// carrying its traffic, whatever this server's address. Reads the LAGGs, interfaces and
/// VLANs only for such a change.
async fn lagg_ports_refusal(client: &Client, changes: &[Change]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let mut lists = Vec::new();
    for path in LAGG_PORT_LISTS {
        match crate::operator::read(client, path, json!({})).await {
            Ok(list) => lists.push(list),
            Err(e) => {
                return Some(unread_refusal(
                    &e,
                    "no assigned interface's device becomes a LAGG port",
                ));
            }
        }
    }
    let in_use = match pfsense_firewall::guard::lagg_ports_in_use(
        &lists[0], &lists[1], &lists[2], changes,
    ) {
        Ok(in_use) => in_use,
        // No such LAGG (pfrest answers 404): as the path guard, nothing to judge, and sent.
        Err(e) => {
            tracing::warn!(reason = %e, "lockout guard cannot tell which devices the LAGG change makes ports; the change is sent");
            return None;
        }
    };
    (!in_use.is_empty()).then(|| {
        format!(
            "it makes a LAGG port of {}. pfSense adds each member with `ifconfig laggN laggport DEVICE` at once, and pfrest checks only that the device exists; FreeBSD then hands every frame the port receives to the LAGG, so that interface stops carrying its traffic (and with it this server's way in, should it come through there). Make the LAGG of unassigned devices, or move the interface onto the LAGG from the console or webGUI",
            in_use.join(", ")
        )
    })
}

/// Kinds renamed in place once what names them lets go,/// Kinds renamed in place once what names them lets go, not replaced by a new object under
/// the new name: a new user would be another account (password, keys, uid).
const RENAMED_IN_PLACE: &[ObjectKind] = &[ObjectKind::User];

/// Objects named per alias in a refusal at most (the rest are counted).
const USERS_SHOWN: usize = 10;

/// Why a change that takes away aliases (or schedules…: `what`, named by their name or by
/// `key_label`, an IPsec phase 1's IKE ID) still in use is not sent: what uses each (id,
/// description, interface, field), what pfrest and pfSense would do (`guard::ALIAS_USERS`,
/// `guard::NAMED_OBJECTS`), and what to do first.
fn in_use_refusal(
    what: &str,
    key_label: Option<&str>,
    kind: ObjectKind,
    in_use: &[pfsense_firewall::guard::NameInUse],
) -> String {
    let with = key_label.map(|l| format!(" with {l}")).unwrap_or_default();
    let each: Vec<String> = in_use
        .iter()
        .map(|a| {
            let shown: Vec<&str> = a
                .used_by
                .iter()
                .take(USERS_SHOWN)
                .map(String::as_str)
                .collect();
            let more = match a.used_by.len().saturating_sub(USERS_SHOWN) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            format!(
                "{what}{with} `{}` is still used by {}{more}",
                a.name,
                shown.join(", ")
            )
        })
        .collect();
    let mut effects: Vec<&str> = Vec::new();
    for effect in in_use.iter().flat_map(|a| &a.effects) {
        if !effects.contains(effect) {
            effects.push(effect);
        }
    }
    let (resolves, rename) = match key_label {
        None if RENAMED_IN_PLACE.contains(&kind) => (
            ", and pfSense no longer resolves the name",
            "; to rename it, take it out of those first, rename it, then name it there again",
        ),
        None => (
            ", and pfSense no longer resolves the name",
            "; to rename it, create one under the new name, point those users at it, then delete this one",
        ),
        Some(_) => ("", ""),
    };
    format!(
        "{}. pfrest takes the {what} away all the same{resolves}: {}. Change or delete what uses the {what} first, then delete it{rename}.",
        each.join("; "),
        effects.join("; ")
    )
}

/// What the guard does with a gate's answer: a refusal saying why and `what_to_do` (or
/// `if_possibly` when the change only might shut this server out), or, when the gate cannot
/// decide, a warning on stderr and the change sent (refusing what cannot be seen would block
/// changes on firewalls the model reads only in part).
fn verdict(gate: Gate, tools: &[&str], what_to_do: &str, if_possibly: &str) -> Option<String> {
    match gate {
        Gate::Refused(reason) => Some(format!(
            "the lockout guard refuses it: {reason}. {what_to_do}"
        )),
        Gate::Possibly(reason) => Some(format!(
            "the lockout guard refuses it: {reason}. {if_possibly}"
        )),
        Gate::Unknown(reason) => {
            tracing::warn!(tools = ?tools, reason = %reason, "lockout guard cannot decide whether this server keeps its way in; the change is sent");
            None
        }
        Gate::Allowed => None,
    }
}

/// The privileges this server needs after a call of `def` to an account endpoint: the one
/// that undoes it (the same endpoint's for an update or a replacement, the singular POST for a
/// delete, the DELETE for a create), the reads of the object and its list (undo reads the
/// state first), and the account reads this guard makes before the next change.
fn needed_privileges(def: &ToolDef, client: &Client) -> Vec<String> {
    let privilege = pfsense_spec::naming::endpoint_privilege;
    let (one, many) = GUARDED
        .iter()
        .find(|(one, many, _)| *one == def.path || *many == Some(def.path))
        .map_or((def.path, None), |(one, many, _)| (*one, *many));
    let mut needed = vec![match def.method {
        Method::Delete => privilege(one, "post"),
        Method::Post => privilege(def.path, "delete"),
        other => privilege(def.path, other.as_str()),
    }];
    needed.push(privilege(one, "get"));
    needed.extend(many.map(|many| privilege(many, "get")));
    for (kind, path) in ACCOUNT_LISTS {
        if *kind != ObjectKind::ApiKey || identity(client).auth_method == "KeyAuth" {
            needed.push(privilege(path, "get"));
        }
    }
    needed.sort();
    needed.dedup();
    needed
}

/// This server as the REST API's gate sees it: its authentication method and user; its
/// address and interface left unknown (the callers that know them fill them in).
fn identity(client: &Client) -> ApiClient {
    let method = match client.config().auth {
        AuthMethod::Key => "KeyAuth",
        AuthMethod::Basic => "BasicAuth",
        AuthMethod::Jwt => "JWTAuth",
    };
    ApiClient {
        source: std::net::Ipv4Addr::UNSPECIFIED.into(),
        interface_names: Vec::new(),
        auth_method: method.to_string(),
        username: client.config().username.clone(),
    }
}

/// Users, groups and keys after these changes, judged for this server's own access
/// (`api_gate::accounts_change`). Err names the account list that could not be read: the
/// guard cannot see whether the change shuts this server out, so it is refused.
async fn accounts_gate(client: &Client, changes: &[(Change, Vec<String>)]) -> Result<Gate, String> {
    let me = identity(client);
    let mut before = api_gate::Accounts::default();
    for (kind, path) in ACCOUNT_LISTS {
        // Keys matter only to a server that signs in with one.
        if *kind == ObjectKind::ApiKey && me.auth_method != "KeyAuth" {
            continue;
        }
        let Some(tool) = crate::catalog::TOOLS
            .iter()
            .find(|t| t.path == *path && t.method == Method::Get)
        else {
            return Ok(Gate::Unknown(format!(
                "this build has no tool that reads {path}"
            )));
        };
        *account_list(&mut before, *kind) =
            match crate::safety::state::read(client, tool, json!({})).await {
                Ok(Value::Array(list)) => list,
                Ok(_) => return Err(format!("{path} (it read as no list)")),
                Err(e) => return Err(format!("{path} ({})", e.trim_end_matches('.'))),
            };
    }
    let mut after = before.clone();
    for (change, _) in changes {
        let list = account_list(&mut after, change.kind);
        match pfsense_firewall::guard::change_list(std::mem::take(list), change, false) {
            Ok(changed) => *list = changed,
            Err(e) => {
                return Ok(Gate::Unknown(format!(
                    "the change cannot be applied to the accounts: {e}"
                )));
            }
        }
    }
    let mut needed: Vec<String> = changes.iter().flat_map(|(_, n)| n.clone()).collect();
    needed.sort();
    needed.dedup();
    let today = crate::safety::time::today();
    Ok(api_gate::accounts_change(
        &before, &after, &me, &needed, today,
    ))
}

fn account_list(accounts: &mut api_gate::Accounts, kind: ObjectKind) -> &mut Vec<Value> {
    match kind {
        ObjectKind::User => &mut accounts.users,
        ObjectKind::UserGroup => &mut accounts.groups,
        _ => &mut accounts.keys,
    }
}

/// The REST API's gate after these settings changes and access list changes.
async fn gate_refusal(
    client: &Client,
    model: &pfsense_firewall::FirewallModel,
    path: &ServerPath,
    settings_changes: &[&Value],
    access_changes: &[Change],
    access_list_tool: Option<&ToolDef>,
) -> Gate {
    let me = ApiClient {
        source: path.source,
        interface_names: pfsense_firewall::guard::server_interface(model, path).unwrap_or_default(),
        ..identity(client)
    };
    for fields in settings_changes {
        let gate = api_gate::settings_change(fields, &me);
        if gate != Gate::Allowed {
            return gate;
        }
    }
    if access_changes.is_empty() {
        return Gate::Allowed;
    }
    let Some(list_tool) = access_list_tool else {
        return Gate::Unknown("this build has no tool that reads the access list".into());
    };
    let before = match crate::safety::state::read(client, list_tool, json!({})).await {
        Ok(Value::Array(list)) => list,
        Ok(_) => return Gate::Unknown("the access list read as no list".into()),
        Err(e) => return Gate::Unknown(format!("the access list could not be read: {e}")),
    };
    let after = access_changes.iter().try_fold(before.clone(), |list, c| {
        pfsense_firewall::guard::change_list(list, c, false)
    });
    match after {
        Ok(after) => api_gate::access_list_change(&before, &after, &me),
        Err(e) => Gate::Unknown(format!(
            "the change cannot be applied to the access list: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(method: Method, path: &str) -> &'static ToolDef {
        crate::catalog::TOOLS
            .iter()
            .find(|d| d.method == method && d.path == path)
            .unwrap_or_else(|| panic!("no tool for {method:?} {path}"))
    }

    #[test]
    fn every_guarded_path_has_tools_and_reads_map_to_no_change() {
        for (path, collection, _) in GUARDED {
            // The settings singletons take a PATCH only.
            let method = if matches!(
                *path,
                "/api/v2/system/webgui/settings" | "/api/v2/routing/gateway/default"
            ) {
                Method::Patch
            } else {
                Method::Post
            };
            assert!(change_of(def(method, path), &json!({})).is_some(), "{path}");
            // A collection takes a bulk delete, a PUT or both (the limiters only a PUT).
            if let Some(many) = collection {
                let on_many: Vec<&ToolDef> = crate::catalog::TOOLS
                    .iter()
                    .filter(|d| d.path == *many && d.method != Method::Get)
                    .collect();
                assert!(!on_many.is_empty(), "no bulk delete or PUT on {many}");
                for d in on_many {
                    let c = change_of(d, &json!({"query": {"descr": "x"}, "objects": []}));
                    let expected = match d.method {
                        Method::Delete => (ChangeOp::DeleteMany, None),
                        _ => (ChangeOp::Replace, None),
                    };
                    assert_eq!(
                        c.map(|c| (c.op, c.id)),
                        Some(expected),
                        "{:?} {many}",
                        d.method
                    );
                }
            }
        }
        let put = change_of(
            def(Method::Put, "/api/v2/firewall/rules"),
            &json!({"objects": [{"type": "pass"}]}),
        )
        .unwrap();
        assert_eq!(
            (put.op, put.object),
            (ChangeOp::Replace, json!([{"type": "pass"}]))
        );
        assert!(change_of(def(Method::Get, "/api/v2/firewall/rule"), &json!({"id": 1})).is_none());
        assert!(change_of(def(Method::Post, "/api/v2/firewall/apply"), &json!({})).is_none());
        let c = change_of(
            def(Method::Patch, "/api/v2/firewall/rule"),
            &json!({"id": 3, "type": "block"}),
        )
        .unwrap();
        assert_eq!(
            (c.op, c.id, c.object),
            (ChangeOp::Update, Some(json!(3)), json!({"type": "block"}))
        );
    }
}
