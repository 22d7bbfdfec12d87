//! The REST API's own gate, which pfrest checks before any endpoint runs: the API switched on,
//! the authentication method allowed, the interface the request arrives on allowed
//! (`Endpoint::check_interface_allowed`), and the access list letting the client in
//! (`RESTAPIAccessListEntry::is_allowed_by_acl`). A change to the REST API's settings or access
//! list that shuts this server out cannot be undone through the API.

use ipnet::IpNet;
use serde_json::Value;
use std::net::IpAddr;

/// This server as the REST API's gate sees it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub source: IpAddr,
    /// The names of the interface its requests arrive on (id and description), when known.
    pub interface_names: Vec<String>,
    /// `KeyAuth`, `BasicAuth` or `JWTAuth`.
    pub auth_method: String,
    /// The user it authenticates as, when known (Basic and JWT; with a key, the configured
    /// PFSENSE_USERNAME, taken to be the key's owner).
    pub username: Option<String>,
}

/// The gate's answer about a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Allowed,
    /// The change shuts the server out: why.
    Refused(String),
    /// The change may shut the server out, and what would tell cannot be read (which of a
    /// user's keys the server holds, whose key it is): why. Refused all the same, in words that
    /// say it might.
    Possibly(String),
    /// Cannot tell: why.
    Unknown(String),
}

/// A PATCH of the REST API settings with these fields.
pub fn settings_change(fields: &Value, client: &ApiClient) -> Gate {
    if fields.get("enabled") == Some(&Value::Bool(false)) {
        return Gate::Refused(
            "`enabled: false` switches the REST API off; pfrest can then only be switched on again from the webGUI".into(),
        );
    }
    if fields.get("read_only") == Some(&Value::Bool(true)) {
        return Gate::Refused(
            "`read_only: true` makes the REST API refuse every change, undo included; pfrest turns read-only mode off only from the webGUI".into(),
        );
    }
    if let Some(methods) = fields.get("auth_methods").and_then(Value::as_array)
        && !methods
            .iter()
            .any(|m| m.as_str() == Some(client.auth_method.as_str()))
    {
        return Gate::Refused(format!(
            "`auth_methods` would allow only {}; this server authenticates with {}",
            names(methods),
            client.auth_method
        ));
    }
    if let Some(allowed) = fields.get("allowed_interfaces").and_then(Value::as_array)
        && !allowed.is_empty()
    {
        if client.interface_names.is_empty() {
            return Gate::Unknown(
                "which interface this server's requests arrive on is not known".into(),
            );
        }
        let on_ours = allowed.iter().filter_map(Value::as_str).any(|a| {
            client
                .interface_names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(a))
        });
        if !on_ours {
            return Gate::Refused(format!(
                "`allowed_interfaces` would let the API answer only on {}; this server's requests arrive on {}",
                names(allowed),
                client.interface_names[0]
            ));
        }
    }
    Gate::Allowed
}

fn names(values: &[Value]) -> String {
    let list: Vec<String> = values
        .iter()
        .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
        .collect();
    list.join(", ")
}

/// Whether the access list lets the client in: entries in order of `weight` (lowest first,
/// pfrest's `sort_by`), the first that matches the address, the user and an active schedule
/// decides; none matching denies. Err when it depends on what is not known here.
pub fn access_list_allows(entries: &[Value], client: &ApiClient) -> Result<bool, String> {
    let mut ordered: Vec<&Value> = entries.iter().collect();
    ordered.sort_by_key(|e| e.get("weight").and_then(Value::as_i64).unwrap_or(1));
    for entry in ordered {
        let network = entry.get("network").and_then(Value::as_str).unwrap_or("");
        let Some(net) = parse_network(network) else {
            return Err(format!(
                "the access list entry network `{network}` cannot be read"
            ));
        };
        if !net.contains(&client.source) {
            continue;
        }
        let users: Vec<&str> = entry
            .get("users")
            .and_then(Value::as_array)
            .map(|u| u.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !users.is_empty() {
            match &client.username {
                Some(me) if users.contains(&me.as_str()) => {}
                Some(_) => continue,
                None => {
                    return Err(format!(
                        "the access list entry for {network} names users, and which user this server's key belongs to is not known"
                    ));
                }
            }
        }
        if entry
            .get("sched")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(format!(
                "the access list entry for {network} depends on a schedule"
            ));
        }
        return Ok(entry.get("type").and_then(Value::as_str).unwrap_or("allow") == "allow");
    }
    Ok(false)
}

fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// An access list before and after a change.
pub fn access_list_change(before: &[Value], after: &[Value], client: &ApiClient) -> Gate {
    match (
        access_list_allows(before, client),
        access_list_allows(after, client),
    ) {
        (Ok(true), Ok(false)) => Gate::Refused(format!(
            "after the change the REST API access list no longer lets {} in{}",
            client.source,
            if after.is_empty() {
                " (an empty list denies every client)"
            } else {
                ""
            }
        )),
        (_, Ok(true)) => Gate::Allowed,
        (Ok(false), Ok(false)) => Gate::Unknown(
            "the access list already denies this server's address, yet it reaches the API".into(),
        ),
        (_, Err(why)) | (Err(why), _) => Gate::Unknown(why),
    }
}

/// How this server reaches the webGUI, whose web server serves the REST API: its URL's scheme
/// and port, and whether it pins the certificate the webGUI presents.
#[derive(Debug, Clone)]
pub struct WebGuiClient {
    pub scheme: String,
    pub port: u16,
    pub pinned_certificate: bool,
}

/// A field of a settings answer (`data` of the envelope, or the object itself).
fn setting<'a>(answer: &'a Value, key: &str) -> Option<&'a Value> {
    crate::json::object(answer)?.get(key)
}

/// The webGUI's protocol in a settings answer, as the model reads it.
fn webgui_protocol(settings: &Value) -> String {
    crate::model::webgui_protocol_and_port(settings).0
}

/// The port the webGUI listens on, as the model reads it: its `port`, else 443 or 80 by
/// protocol.
fn webgui_port(settings: &Value) -> u16 {
    let (protocol, port) = crate::model::webgui_protocol_and_port(settings);
    port.unwrap_or_else(|| crate::model::default_webgui_port(&protocol))
}

/// Why a change of the webGUI's settings from `before` to `after` (`GET
/// /api/v2/system/webgui/settings` answers) loses this server its connection, judged by protocol
/// and certificate alone (`scheme`: how it connects, when known): pfrest restarts the webGUI
/// with them at once, and the REST API with it.
pub fn webgui_protocol_or_certificate(
    before: &Value,
    after: &Value,
    scheme: Option<&str>,
    pinned_certificate: bool,
) -> Option<String> {
    let (was, will) = (webgui_protocol(before), webgui_protocol(after));
    if let Some(scheme) = scheme
        && was != will
        && will != scheme
    {
        return Some(format!(
            "the webGUI and REST API switch from {was} to {will}; the server connects with {scheme}"
        ));
    }
    let certificate = |s: &Value| setting(s, "sslcertref").cloned();
    if pinned_certificate && certificate(before) != certificate(after) {
        return Some("the webGUI's certificate changes (`sslcertref`), and the server pins the current one's fingerprint: it would refuse the new certificate. Change the pin (PFSENSE_TLS_FINGERPRINT) together with the certificate, from the console or webGUI".into());
    }
    None
}

/// A change of the webGUI's settings judged without this server's address (no
/// `--lockout-source`): what its URL and pin need of the listener. A server whose URL names
/// the webGUI's port and protocol connects to it directly; another port means something in
/// between (a port forward, a proxy), where the port after a move cannot be judged.
pub fn webgui_change(before: &Value, after: &Value, client: &WebGuiClient) -> Gate {
    let direct = webgui_protocol(before) == client.scheme;
    if let Some(reason) = webgui_protocol_or_certificate(
        before,
        after,
        direct.then_some(client.scheme.as_str()),
        client.pinned_certificate,
    ) {
        return Gate::Refused(reason);
    }
    let (was, will) = (webgui_port(before), webgui_port(after));
    if was == will {
        return Gate::Allowed;
    }
    if will == client.port {
        // Moved to the port this server connects to: it now answers the server directly.
        Gate::Allowed
    } else if direct && was == client.port {
        Gate::Refused(format!(
            "the webGUI and REST API move from port {was} to {will}; this server connects to port {was}"
        ))
    } else {
        Gate::Unknown(format!(
            "this server connects to port {} with {}, and the webGUI listens on port {was} with {}: something in between forwards it, and where to after the move to port {will} cannot be judged",
            client.port,
            client.scheme,
            webgui_protocol(before)
        ))
    }
}

/// A change to the certificate `certref` (a renewal, or its `crt` replaced): refused while the
/// webGUI presents it (`sslcertref` of its settings, `webgui`) and this server pins its
/// fingerprint. pfrest's renewal restarts the services that use it at once
/// (`cert_restart_services`); a replaced `crt` is presented from the webGUI's next restart.
pub fn webgui_certificate_change(webgui: &Value, certref: &str, client: &WebGuiClient) -> Gate {
    let presented = setting(webgui, "sslcertref").and_then(Value::as_str);
    if client.pinned_certificate && presented == Some(certref) {
        Gate::Refused(format!(
            "certificate `{certref}` is the one the webGUI presents, and this server pins its fingerprint: the changed certificate has another, and this server would refuse it once the webGUI presents it: at once after a renewal (pfrest restarts the services that use it), from the webGUI's next restart after its `crt` is replaced"
        ))
    } else {
        Gate::Allowed
    }
}

/// A change of the firewall's name (`before` and `after`: `GET /api/v2/system/hostname`
/// answers) while this server's URL names it (`url_host`): pfSense's DNS resolver and forwarder
/// answer the firewall's own name, `hostname.domain`, with its LAN address
/// (`system_hosts_local_entries`), and pfrest reconfigures them at once with the new name. A
/// server that resolves the name through the firewall then no longer finds the API; one that
/// resolves it elsewhere is not touched, and which it does cannot be seen from here.
pub fn hostname_change(before: &Value, after: &Value, url_host: &str) -> Gate {
    hostname_answered(before, after, true, url_host)
}

/// The DNS resolver switched off (`resolver_stays` false) while this server's URL names the
/// firewall's own name (`name`: `GET /api/v2/system/hostname`), which the resolver answers: only
/// the DNS forwarder, which the REST API does not show, could answer it in its place.
pub fn resolver_change(name: &Value, resolver_stays: bool, url_host: &str) -> Gate {
    hostname_answered(name, name, resolver_stays, url_host)
}

/// Whether the firewall's DNS still answers the name this server's URL names, when that is the
/// firewall's own name: renamed (`before` to `after`) or with the resolver off, possibly not.
fn hostname_answered(before: &Value, after: &Value, resolver_stays: bool, url_host: &str) -> Gate {
    let name = |s: &Value| {
        let part = |k: &str| setting(s, k).and_then(Value::as_str).unwrap_or_default();
        // An empty domain leaves pfSense's `hostname.` (`system_hosts_local_entries`).
        let name = format!("{}.{}", part("hostname"), part("domain"));
        name.trim_end_matches('.').to_ascii_lowercase()
    };
    let (was, will) = (name(before), name(after));
    let host = url_host.trim_end_matches('.').to_ascii_lowercase();
    if host != was {
        Gate::Allowed
    } else if !resolver_stays {
        Gate::Possibly(format!(
            "this server's URL names `{was}`, the firewall's own name, which its DNS resolver answers with its LAN address; switched off, the resolver answers nothing, so a server that resolves `{was}` through the firewall no longer finds the API (unless the DNS forwarder answers in its place)"
        ))
    } else if was != will {
        Gate::Possibly(format!(
            "this server's URL names `{was}`, the firewall's own name, which its DNS resolver and forwarder answer with its LAN address; after the change they answer `{will}` instead, so a server that resolves `{was}` through the firewall no longer finds the API"
        ))
    } else {
        Gate::Allowed
    }
}

/// The addresses the host overrides of a DNS service (`overrides`: the list its
/// `host_overrides` endpoint answers) give `name`, by their own `host.domain` or one of their
/// aliases', sorted. The resolver's `ip` is a list, the forwarder's one address.
fn host_override_answers(overrides: &[Value], name: &str) -> Vec<String> {
    let fqdn = |o: &Value| {
        let part = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default();
        // An empty host overrides the domain itself.
        let joined = format!("{}.{}", part("host"), part("domain"));
        joined
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    let mut answers: Vec<String> = overrides
        .iter()
        .filter(|o| {
            fqdn(o) == name
                || o.get("aliases")
                    .and_then(Value::as_array)
                    .is_some_and(|aliases| aliases.iter().any(|a| fqdn(a) == name))
        })
        .flat_map(|o| match o.get("ip") {
            Some(Value::Array(ips)) => ips.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(ip)) => vec![ip.as_str()],
            _ => Vec::new(),
        })
        .map(str::to_string)
        .collect();
    answers.sort();
    answers.dedup();
    answers
}

/// A change of a DNS service's host overrides (`before` and `after`: its list) while this
/// server's URL names a host (`url_host`): an override (or an override's alias) for that name
/// added, pointed elsewhere or taken away changes what the firewall's DNS answers for it
/// (pfrest reconfigures the service at once). A server that resolves the name through the
/// firewall then reaches another address; one that resolves it elsewhere is not touched, and
/// which it does cannot be seen from here. `service`: `DNS resolver`, `DNS forwarder`.
pub fn host_override_change(
    before: &[Value],
    after: &[Value],
    url_host: &str,
    service: &str,
) -> Gate {
    let host = url_host.trim_end_matches('.').to_ascii_lowercase();
    let (was, will) = (
        host_override_answers(before, &host),
        host_override_answers(after, &host),
    );
    if was == will {
        return Gate::Allowed;
    }
    let listed = |ips: &[String]| match ips {
        [] => "no host override".to_string(),
        ips => ips.join(", "),
    };
    Gate::Possibly(format!(
        "this server's URL names `{host}`, and after the change the {service}'s host overrides answer it with {} instead of {}, so a server that resolves `{host}` through the firewall may no longer find the API",
        listed(&will),
        listed(&was)
    ))
}

/// The virtual IP of `vips` (`GET /api/v2/firewall/virtual_ips`) at one of `addresses` that
/// CARP holds: a CARP address, or an IP alias on one (its interface `_vip<uniqid>`).
fn carp_address<'a>(vips: &'a [Value], addresses: &[IpAddr]) -> Option<&'a Value> {
    vips.iter().find(|vip| {
        let field = |k: &str| vip.get(k).and_then(Value::as_str).unwrap_or_default();
        let on_carp = field("mode") == "carp"
            || (field("mode") == "ipalias" && field("interface").starts_with("_vip"));
        on_carp
            && field("subnet")
                .parse::<IpAddr>()
                .is_ok_and(|a| addresses.contains(&a))
    })
}

/// A PATCH of CARP's state (`fields`; `now`: `GET /api/v2/status/carp`) while this server's
/// URL leads to one of `addresses`. pfrest's `CARP::setup_carp` brings every CARP address down
/// when CARP is switched off (`interface_vip_bring_down`, IP aliases on them too), so an API
/// reached at one is gone; maintenance mode demotes this firewall (`interfaces_carp_set_maintenancemode`),
/// and a peer in the cluster, if there is one, takes the address and answers this server's
/// calls in its place.
pub fn carp_change(fields: &Value, now: &Value, vips: &[Value], addresses: &[IpAddr]) -> Gate {
    let Some(vip) = carp_address(vips, addresses) else {
        return Gate::Allowed;
    };
    let flag = |v: &Value, k: &str| setting(v, k).and_then(Value::as_bool);
    let address = vip
        .get("subnet")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let named = match vip.get("descr").and_then(Value::as_str) {
        Some(d) if !d.is_empty() => format!("{address} (\"{d}\")"),
        _ => address.to_string(),
    };
    if flag(fields, "enable") == Some(false) && flag(now, "enable") != Some(false) {
        return Gate::Refused(format!(
            "`enable: false` switches CARP off and brings down every CARP address, {named} among them, the address this server's URL leads to"
        ));
    }
    if flag(fields, "maintenance_mode") == Some(true) && flag(now, "maintenance_mode") != Some(true)
    {
        return Gate::Possibly(format!(
            "maintenance mode demotes this firewall's CARP addresses, {named} among them, the address this server's URL leads to: a peer in the cluster, if there is one, takes it, and this server's calls then go to the peer instead of this firewall"
        ));
    }
    Gate::Allowed
}

/// Who the REST API lets in and with which privileges, as it lists them: `GET /api/v2/users`,
/// `/api/v2/user/groups` and `/api/v2/auth/keys` (group members are user names there).
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub users: Vec<Value>,
    pub groups: Vec<Value>,
    pub keys: Vec<Value>,
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

fn strings<'a>(object: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    object
        .get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

impl Accounts {
    fn user(&self, name: &str) -> Option<&Value> {
        self.users.iter().find(|u| text(u, "name") == Some(name))
    }

    /// A user's privileges as pfSense computes them (auth.inc `get_user_privileges`): its own,
    /// those of every group listing it as a member, and those of the group `all`.
    fn privileges(&self, name: &str) -> Vec<&str> {
        let own = self.user(name).into_iter().flat_map(|u| strings(u, "priv"));
        let groups = self
            .groups
            .iter()
            .filter(|g| text(g, "name") == Some("all") || strings(g, "member").any(|m| m == name))
            .flat_map(|g| strings(g, "priv"));
        own.chain(groups).collect()
    }

    /// Whether `name` holds `privilege`, itself or through `page-all`.
    fn holds(&self, name: &str, privilege: &str) -> bool {
        let held = self.privileges(name);
        held.contains(&"page-all") || held.contains(&privilege)
    }

    fn keys_of(&self, name: &str) -> usize {
        self.keys
            .iter()
            .filter(|k| text(k, "username") == Some(name))
            .count()
    }
}

/// A civil date, `(year, month, day)`.
pub type Date = (i64, u32, u32);

/// `mm/dd/YYYY` (User.expires) as a date.
fn parse_expiry(text: &str) -> Option<Date> {
    let mut parts = text.trim().split('/');
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    let year = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((year, month, day))
}

/// Who this server may be among the accounts: its configured user, or, when it signs in with
/// a key whose owner is not known (no PFSENSE_USERNAME, or one that holds no key or could not
/// have made the reads this guard just made), every user holding a key. `Err` when nobody can
/// be named.
fn candidates<'a>(
    before: &'a Accounts,
    client: &'a ApiClient,
    reads: &[&String],
) -> Result<(Vec<&'a str>, Option<String>), String> {
    let key_auth = client.auth_method == "KeyAuth";
    let holders = || {
        let mut holders: Vec<&str> = before
            .keys
            .iter()
            .filter_map(|k| text(k, "username"))
            .collect();
        holders.sort_unstable();
        holders.dedup();
        holders
    };
    let guessed = |why: String| -> Result<(Vec<&'a str>, Option<String>), String> {
        let all = holders();
        if all.is_empty() {
            return Err(format!("{why}, and no API key was listed"));
        }
        if all.len() == 1 {
            return Ok((all, None));
        }
        Ok((all, Some(why)))
    };
    match &client.username {
        Some(me) if !key_auth => Ok((vec![me.as_str()], None)),
        Some(me) if before.keys_of(me) > 0 && reads.iter().all(|p| before.holds(me, p)) => {
            Ok((vec![me.as_str()], None))
        }
        Some(me) => guessed(format!(
            "PFSENSE_USERNAME `{me}` holds no API key or lacks the reads this server makes, so whose key this server holds is not known"
        )),
        None if key_auth => guessed("whose API key this server holds is not known".to_string()),
        None => Err("which user this server authenticates as is not known".into()),
    }
}

/// How a change takes `me`'s way in away, or may: why, and whether it certainly does (`false`:
/// it deletes one of several keys of `me`, and which of them this server holds cannot be
/// read). Each check on its own (a user that keeps its privileges may still lose its key).
#[allow(clippy::too_many_arguments)]
fn lost_access(
    before: &Accounts,
    after: &Accounts,
    me: &str,
    user: &Value,
    who: &str,
    needed: &[String],
    key_auth: bool,
    today: Date,
) -> Option<(String, bool)> {
    let certain = |why: String| Some((why, true));
    let Some(now) = after.user(me) else {
        return certain(format!("it deletes or renames {who}"));
    };
    if now.get("disabled") == Some(&Value::Bool(true)) {
        return certain(format!("it disables {who}"));
    }
    if !key_auth && now.get("password").is_some() {
        return certain(format!(
            "it changes the password of {who}; the server signs in with the old one (change it in the webGUI, then PFSENSE_PASSWORD)"
        ));
    }
    let expired = |u: &Value| {
        text(u, "expires")
            .filter(|e| !e.trim().is_empty())
            .and_then(parse_expiry)
            .is_some_and(|date| date < today)
    };
    // auth.inc `local_backed`: an expired account cannot sign in (Basic, and the JWT it is
    // issued with); a key is checked for `disabled` only.
    if !key_auth && expired(now) && !expired(user) {
        return certain(format!(
            "it sets `expires` of {who} to a day already past; pfSense refuses the sign-in of an expired account"
        ));
    }
    // The privileges held before (themselves or through page-all) and not after.
    let lost: Vec<String> = needed
        .iter()
        .filter(|p| before.holds(me, p) && !after.holds(me, p))
        .map(|p| format!("`{p}`"))
        .collect();
    if !lost.is_empty() {
        let page_all = if before.holds(me, "page-all") && !after.holds(me, "page-all") {
            "`page-all` and with it "
        } else {
            ""
        };
        return certain(format!(
            "it takes from {who} {page_all}{}: the privileges this server needs to undo the change and to check the next one",
            lost.join(", ")
        ));
    }
    let (held, kept) = (before.keys_of(me), after.keys_of(me));
    if key_auth && kept < held {
        if kept == 0 {
            return certain(format!("it deletes every API key of {who}"));
        }
        // pfrest lists a key's user, algorithm and length, never its hash: which of the user's
        // keys this server sends cannot be matched.
        let why = if held - kept == 1 {
            format!(
                "it deletes one of the {held} API keys of {who}, and this server cannot tell whether that key is the one it signs in with (pfrest never shows key hashes): deleting it might lock this server out"
            )
        } else {
            format!(
                "it deletes {} of the {held} API keys of {who}, and this server cannot tell whether the one it signs in with is among them (pfrest never shows key hashes): deleting them might lock this server out",
                held - kept
            )
        };
        return Some((why, false));
    }
    None
}

/// A change to users, groups or API keys (`before` → `after`) judged for this server's own
/// access. The user it authenticates as must still exist, be enabled and unexpired, sign in
/// with the credentials it holds, keep its API keys (key auth) and keep every privilege of
/// `needed` it holds (those that undo the change and let the guard read the accounts next
/// time), itself or through `page-all`. With a key whose owner is not known, every user
/// holding a key is judged. `today` dates the expiry. [`Gate::Refused`] when the change
/// certainly shuts this server out; [`Gate::Possibly`] when it would if the user judged is
/// this server's (a guessed owner) or the key deleted is the one it holds (one of several).
pub fn accounts_change(
    before: &Accounts,
    after: &Accounts,
    client: &ApiClient,
    needed: &[String],
    today: Date,
) -> Gate {
    let key_auth = client.auth_method == "KeyAuth";
    let reads: Vec<&String> = needed.iter().filter(|p| p.ends_with("-get")).collect();
    let (candidates, guess) = match candidates(before, client, &reads) {
        Ok(c) => c,
        Err(why) => return Gate::Unknown(why),
    };
    for me in candidates {
        let Some(user) = before.user(me) else {
            continue;
        };
        // Not this server's user, or one the API already keeps out.
        if user.get("disabled") == Some(&Value::Bool(true))
            || !needed.iter().any(|p| before.holds(me, p))
        {
            continue;
        }
        let who = match &guess {
            Some(why) => {
                format!("`{me}` ({why}: set PFSENSE_USERNAME to the key's user to tell the guard)")
            }
            None => format!("`{me}` (the user this server authenticates as)"),
        };
        if let Some((why, certain)) =
            lost_access(before, after, me, user, &who, needed, key_auth, today)
        {
            return if certain && guess.is_none() {
                Gate::Refused(why)
            } else {
                Gate::Possibly(why)
            };
        }
    }
    Gate::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A webGUI change judged by what this server's URL and pin need: a move of the port the
    /// URL names (the default one when `port` is empty) or of the protocol, another certificate
    /// while pinned; a move to the URL's port goes; behind a forward (another port) it cannot
    /// be judged; the certificate presented renewed while pinned.
    #[test]
    fn webgui_changes_are_judged_by_the_servers_url_and_pin() {
        let direct = WebGuiClient {
            scheme: "https".into(),
            port: 443,
            pinned_certificate: true,
        };
        let gui = |protocol: &str, port: &str, cert: &str| json!({"data": {"protocol": protocol, "port": port, "sslcertref": cert}});
        let now = gui("https", "", "a1");
        let refused = |g: Gate, words: &str| matches!(g, Gate::Refused(r) if r.contains(words));
        assert!(refused(
            webgui_change(&now, &gui("https", "8443", "a1"), &direct),
            "move from port 443 to 8443; this server connects to port 443"
        ));
        assert!(refused(
            webgui_change(&now, &gui("http", "", "a1"), &direct),
            "switch from https to http"
        ));
        assert!(refused(
            webgui_change(&now, &gui("https", "", "b2"), &direct),
            "certificate changes"
        ));
        assert_eq!(
            webgui_change(&now, &gui("https", "443", "a1"), &direct),
            Gate::Allowed
        );
        let unpinned = WebGuiClient {
            pinned_certificate: false,
            ..direct.clone()
        };
        assert_eq!(
            webgui_change(&now, &gui("https", "", "b2"), &unpinned),
            Gate::Allowed
        );
        let forwarded = WebGuiClient {
            port: 8443,
            ..unpinned.clone()
        };
        assert!(matches!(
            webgui_change(&now, &gui("https", "9443", "a1"), &forwarded),
            Gate::Unknown(r) if r.contains("something in between forwards it")
        ));
        assert_eq!(
            webgui_change(&now, &gui("https", "8443", "a1"), &forwarded),
            Gate::Allowed
        );
        assert!(refused(
            webgui_certificate_change(&now, "a1", &direct),
            "is the one the webGUI presents"
        ));
        assert_eq!(
            webgui_certificate_change(&now, "b2", &direct),
            Gate::Allowed
        );
        assert_eq!(
            webgui_certificate_change(&now, "a1", &unpinned),
            Gate::Allowed
        );
    }

    /// A rename of the firewall refused as possibly cutting this server off when its URL names
    /// the firewall's name (any case, a trailing dot), not when it names another.
    #[test]
    fn a_rename_of_the_firewall_its_url_names_might_shut_it_out() {
        let name = |h: &str, d: &str| json!({"hostname": h, "domain": d});
        let now = name("pfSense", "home.arpa");
        assert!(matches!(
            hostname_change(&now, &name("fw1", "home.arpa"), "PFSENSE.home.arpa."),
            Gate::Possibly(r) if r.contains("answer `fw1.home.arpa` instead")
        ));
        assert!(matches!(
            hostname_change(&now, &name("pfSense", "example.org"), "pfsense.home.arpa"),
            Gate::Possibly(_)
        ));
        assert!(matches!(
            hostname_change(&name("localhost", ""), &name("fw1", ""), "localhost"),
            Gate::Possibly(r) if r.contains("names `localhost`")
        ));
        assert_eq!(
            hostname_change(&now, &name("fw1", "home.arpa"), "fw.example.org"),
            Gate::Allowed
        );
        assert_eq!(
            hostname_change(&now, &name("PFSENSE", "home.arpa"), "pfsense.home.arpa"),
            Gate::Allowed
        );
        assert!(matches!(
            resolver_change(&now, false, "pfsense.home.arpa"),
            Gate::Possibly(r) if r.contains("switched off, the resolver answers nothing")
        ));
        assert_eq!(
            resolver_change(&now, true, "pfsense.home.arpa"),
            Gate::Allowed
        );
        assert_eq!(
            resolver_change(&now, false, "fw.example.org"),
            Gate::Allowed
        );
    }

    /// CARP switched off while this server's URL leads to a CARP address (or an IP alias on
    /// one) is refused; maintenance mode possibly; neither when CARP is off already, when the
    /// URL leads elsewhere, or for an IP alias on an interface.
    #[test]
    fn carp_off_or_in_maintenance_takes_the_address_the_url_leads_to() {
        let vips = vec![
            json!({"mode": "carp", "interface": "wan", "subnet": "198.51.100.10", "descr": "api"}),
            json!({"mode": "ipalias", "interface": "_vip6b16e52a5e863", "subnet": "198.51.100.11"}),
            json!({"mode": "ipalias", "interface": "lan", "subnet": "192.168.1.2"}),
        ];
        let on = json!({"enable": true, "maintenance_mode": false});
        let at = |a: &str| vec![a.parse::<IpAddr>().unwrap()];
        let off = json!({"enable": false, "maintenance_mode": false});
        let maintenance = json!({"enable": true, "maintenance_mode": true});
        assert!(matches!(
            carp_change(&off, &on, &vips, &at("198.51.100.10")),
            Gate::Refused(r) if r.contains("198.51.100.10 (\"api\") among them")
        ));
        assert!(matches!(
            carp_change(&off, &on, &vips, &at("198.51.100.11")),
            Gate::Refused(_)
        ));
        assert!(matches!(
            carp_change(&maintenance, &on, &vips, &at("198.51.100.10")),
            Gate::Possibly(r) if r.contains("a peer in the cluster")
        ));
        assert_eq!(
            carp_change(&off, &on, &vips, &at("192.168.1.2")),
            Gate::Allowed
        );
        assert_eq!(
            carp_change(&off, &off, &vips, &at("198.51.100.10")),
            Gate::Allowed
        );
        assert_eq!(
            carp_change(&maintenance, &maintenance, &vips, &at("198.51.100.10")),
            Gate::Allowed
        );
    }

    fn client() -> ApiClient {
        ApiClient {
            source: "192.168.1.100".parse().unwrap(),
            interface_names: vec!["lan".into(), "LAN".into()],
            auth_method: "KeyAuth".into(),
            username: Some("admin".into()),
        }
    }

    #[test]
    fn settings_that_shut_the_server_out() {
        let c = client();
        assert!(matches!(
            settings_change(&json!({"enabled": false}), &c),
            Gate::Refused(_)
        ));
        assert!(matches!(
            settings_change(&json!({"auth_methods": ["BasicAuth"]}), &c),
            Gate::Refused(r) if r.contains("KeyAuth")
        ));
        assert_eq!(
            settings_change(&json!({"auth_methods": ["KeyAuth", "BasicAuth"]}), &c),
            Gate::Allowed
        );
        assert!(matches!(
            settings_change(&json!({"allowed_interfaces": ["wan"]}), &c),
            Gate::Refused(r) if r.contains("arrive on lan")
        ));
        assert_eq!(
            settings_change(&json!({"allowed_interfaces": ["LAN"]}), &c),
            Gate::Allowed
        );
        assert_eq!(
            settings_change(&json!({"allowed_interfaces": []}), &c),
            Gate::Allowed
        );
        assert!(matches!(
            settings_change(&json!({"read_only": true}), &c),
            Gate::Refused(r) if r.contains("webGUI")
        ));
        assert_eq!(
            settings_change(&json!({"read_only": false}), &c),
            Gate::Allowed
        );
    }

    #[test]
    fn the_access_list_is_read_by_weight_and_denies_what_matches_nothing() {
        let c = client();
        let allow_all = json!({"type": "allow", "weight": 10, "network": "0.0.0.0/0"});
        let deny_lan = json!({"type": "deny", "weight": 5, "network": "192.168.1.0/24"});
        let allow_me = json!({"type": "allow", "weight": 1, "network": "192.168.1.100"});
        assert_eq!(
            access_list_allows(std::slice::from_ref(&allow_all), &c),
            Ok(true)
        );
        assert_eq!(
            access_list_allows(&[allow_all.clone(), deny_lan.clone()], &c),
            Ok(false)
        );
        assert_eq!(
            access_list_allows(&[allow_all.clone(), deny_lan.clone(), allow_me], &c),
            Ok(true)
        );
        assert_eq!(access_list_allows(&[], &c), Ok(false));
        let for_bob = json!({"type": "allow", "network": "0.0.0.0/0", "users": ["bob"]});
        assert_eq!(
            access_list_allows(std::slice::from_ref(&for_bob), &c),
            Ok(false)
        );
        let unknown_user = ApiClient {
            username: None,
            ..client()
        };
        assert!(access_list_allows(&[for_bob], &unknown_user).is_err());
        assert!(matches!(
            access_list_change(
                std::slice::from_ref(&allow_all),
                &[allow_all.clone(), deny_lan],
                &c
            ),
            Gate::Refused(_)
        ));
        assert!(matches!(
            access_list_change(&[allow_all], &[], &c),
            Gate::Refused(r) if r.contains("empty list")
        ));
    }

    fn accounts() -> Accounts {
        Accounts {
            users: vec![
                json!({"id": 0, "name": "admin", "priv": []}),
                json!({"id": 1, "name": "bob", "priv": ["api-v2-user-group-patch"]}),
            ],
            groups: vec![
                json!({"id": 0, "name": "all", "member": [], "priv": []}),
                json!({"id": 1, "name": "admins", "member": ["admin"], "priv": ["page-all"]}),
            ],
            keys: vec![json!({"id": 0, "username": "admin"})],
        }
    }

    const TODAY: Date = (2026, 12, 5);

    #[test]
    fn a_change_that_takes_the_servers_own_user_off_the_api_is_refused() {
        let me = client();
        let needed = vec![
            "api-v2-user-group-patch".to_string(),
            "api-v2-user-groups-get".to_string(),
        ];
        let before = accounts();
        let judge = |edit: &dyn Fn(&mut Accounts), c: &ApiClient| {
            let mut after = before.clone();
            edit(&mut after);
            accounts_change(&before, &after, c, &needed, TODAY)
        };
        let refused = |g: Gate, words: &str| matches!(&g, Gate::Refused(r) if r.contains(words));
        // Refused in words that say it might: the guard cannot tell the key or its owner.
        let possibly = |g: Gate, words: &str| matches!(&g, Gate::Possibly(r) if r.contains(words));
        // page-all taken from the group admin is in, the probe's lockout.
        let g = judge(&|a| a.groups[1]["priv"] = json!([]), &me);
        assert!(
            refused(g.clone(), "`admin` (the user")
                && refused(g.clone(), "`api-v2-user-groups-get`"),
            "{g:?}"
        );
        assert!(refused(g.clone(), "`page-all` and with it"), "{g:?}");
        // One needed privilege swapped for another: the one lost counts.
        let mut partial = before.clone();
        partial.groups[1]["priv"] = json!(["api-v2-user-group-patch"]);
        let mut swapped = partial.clone();
        swapped.groups[1]["priv"] = json!(["api-v2-user-groups-get"]);
        assert!(refused(
            accounts_change(&partial, &swapped, &me, &needed, TODAY),
            "`api-v2-user-group-patch`"
        ));
        // Privileges kept do not hide a key deleted.
        let mut with_key = before.clone();
        with_key.groups[1]["priv"] = json!(needed.clone());
        let mut keyless = with_key.clone();
        keyless.keys.clear();
        assert!(refused(
            accounts_change(&with_key, &keyless, &me, &needed, TODAY),
            "every API key"
        ));
        // bob holds a key but not the reads this server just made: not the key's owner.
        let mut bob_keyed = before.clone();
        bob_keyed.keys.push(json!({"id": 1, "username": "bob"}));
        let bob = ApiClient {
            username: Some("bob".into()),
            ..client()
        };
        let mut cut = bob_keyed.clone();
        cut.groups[1]["priv"] = json!([]);
        assert!(possibly(
            accounts_change(&bob_keyed, &cut, &bob, &needed, TODAY),
            "`admin`"
        ));
        // page-all replaced by only the privilege the PATCH itself needs: undo would still
        // need the reads.
        let g = judge(
            &|a| a.groups[1]["priv"] = json!(["api-v2-user-group-patch"]),
            &me,
        );
        assert!(refused(g.clone(), "`api-v2-user-groups-get`"), "{g:?}");
        assert!(refused(
            judge(&|a| a.groups[1]["member"] = json!([]), &me),
            "page-all"
        ));
        assert!(refused(
            judge(
                &|a| {
                    a.users.remove(0);
                },
                &me
            ),
            "deletes or renames"
        ));
        assert!(refused(
            judge(&|a| a.users[0]["disabled"] = json!(true), &me),
            "disables"
        ));
        assert!(refused(
            judge(
                &|a| {
                    a.keys.clear();
                },
                &me
            ),
            "every API key"
        ));
        // Kept: page-all moves to the user itself, or to the group `all`; every privilege
        // needed instead of page-all; bob loses his privilege.
        assert_eq!(
            judge(
                &|a| {
                    a.groups[1]["priv"] = json!([]);
                    a.users[0]["priv"] = json!(["page-all"]);
                },
                &me
            ),
            Gate::Allowed
        );
        assert_eq!(
            judge(
                &|a| {
                    a.groups[1]["priv"] = json!([]);
                    a.groups[0]["priv"] = json!(["page-all"]);
                },
                &me
            ),
            Gate::Allowed
        );
        assert_eq!(
            judge(&|a| a.groups[1]["priv"] = json!(needed.clone()), &me),
            Gate::Allowed
        );
        assert_eq!(
            judge(&|a| a.users[1]["priv"] = json!([]), &me),
            Gate::Allowed
        );
        // A password or a past expiry matters to Basic and JWT, not to a key.
        let basic = ApiClient {
            auth_method: "BasicAuth".into(),
            ..client()
        };
        assert_eq!(
            judge(&|a| a.users[0]["password"] = json!("new"), &me),
            Gate::Allowed
        );
        assert!(refused(
            judge(&|a| a.users[0]["password"] = json!("new"), &basic),
            "password"
        ));
        assert!(refused(
            judge(&|a| a.users[0]["expires"] = json!("12/04/2026"), &basic),
            "expires"
        ));
        assert_eq!(
            judge(&|a| a.users[0]["expires"] = json!("12/05/2026"), &basic),
            Gate::Allowed
        );
        assert_eq!(
            judge(&|a| a.users[0]["expires"] = json!("01/01/2000"), &me),
            Gate::Allowed
        );
        // A key of unknown owner, or a PFSENSE_USERNAME holding no key: the key holders are
        // judged, and the refusal says how to tell.
        for keyed in [
            ApiClient {
                username: None,
                ..client()
            },
            ApiClient {
                username: Some("Admin".into()),
                ..client()
            },
        ] {
            let g = judge(&|a| a.groups[1]["priv"] = json!([]), &keyed);
            assert!(refused(g.clone(), "`admin`"), "{keyed:?}: {g:?}");
        }
        let mut two_holders = before.clone();
        two_holders.keys.push(json!({"id": 1, "username": "bob"}));
        let mut bob_gone = two_holders.clone();
        bob_gone.users.remove(1);
        let keyed = ApiClient {
            username: None,
            ..client()
        };
        assert!(possibly(
            accounts_change(&two_holders, &bob_gone, &keyed, &needed, TODAY),
            "PFSENSE_USERNAME"
        ));
        // One of two keys of the user deleted: which one this server holds cannot be read, so
        // it might be this server's; both deleted, certainly.
        let mut two_keys = before.clone();
        two_keys.keys.push(json!({"id": 1, "username": "admin"}));
        let g = accounts_change(&two_keys, &before, &me, &needed, TODAY);
        assert!(
            possibly(g.clone(), "one of the 2 API keys of `admin`")
                && possibly(
                    g.clone(),
                    "cannot tell whether that key is the one it signs in with"
                ),
            "{g:?}"
        );
        let mut three_keys = two_keys.clone();
        three_keys.keys.push(json!({"id": 2, "username": "admin"}));
        assert!(possibly(
            accounts_change(&three_keys, &before, &me, &needed, TODAY),
            "deletes 2 of the 3 API keys"
        ));
        let mut none = two_keys.clone();
        none.keys.clear();
        assert!(refused(
            accounts_change(&two_keys, &none, &me, &needed, TODAY),
            "every API key of `admin`"
        ));
    }

    /// Host overrides judged by what they answer for the URL's name (case and a trailing dot
    /// aside): by their own name or an alias, the resolver's list of addresses or the
    /// forwarder's one; another name, or the same answer, goes.
    #[test]
    fn host_overrides_are_judged_by_what_they_answer_for_the_urls_name() {
        let resolver = |host: &str, ips: &[&str], alias: Option<&str>| {
            json!({"host": host, "domain": "home.arpa", "ip": ips,
                   "aliases": alias.map(|a| vec![json!({"host": a, "domain": "home.arpa"})]).unwrap_or_default()})
        };
        let possibly = |g: Gate, words: &str| matches!(g, Gate::Possibly(r) if r.contains(words));
        let url = "FW.home.arpa.";
        let now = vec![resolver("www", &["10.0.0.5"], None)];
        assert!(possibly(
            host_override_change(
                &now,
                &[
                    now[0].clone(),
                    resolver("fw", &["10.0.0.9", "10.0.0.8"], None)
                ],
                url,
                "DNS resolver"
            ),
            "answer it with 10.0.0.8, 10.0.0.9 instead of no host override"
        ));
        assert!(possibly(
            host_override_change(
                &now,
                &[resolver("www", &["10.0.0.5"], Some("fw"))],
                url,
                "DNS resolver"
            ),
            "with 10.0.0.5 instead of no host override"
        ));
        let named = vec![resolver("fw", &["192.168.1.1"], None)];
        assert!(possibly(
            host_override_change(&named, &[], url, "DNS resolver"),
            "with no host override instead of 192.168.1.1"
        ));
        let renamed = vec![
            json!({"host": "fw", "domain": "home.arpa", "ip": ["192.168.1.1"], "descr": "new"}),
        ];
        assert_eq!(
            host_override_change(&named, &renamed, url, "DNS resolver"),
            Gate::Allowed
        );
        assert_eq!(
            host_override_change(
                &now,
                &[resolver("mail", &["10.0.0.7"], None)],
                url,
                "DNS resolver"
            ),
            Gate::Allowed
        );
        let forwarder = |ip: &str| vec![json!({"host": "fw", "domain": "home.arpa", "ip": ip})];
        assert!(possibly(
            host_override_change(
                &forwarder("192.168.1.1"),
                &forwarder("10.0.0.2"),
                url,
                "DNS forwarder"
            ),
            "the DNS forwarder's host overrides answer it with 10.0.0.2 instead of 192.168.1.1"
        ));
    }
}
