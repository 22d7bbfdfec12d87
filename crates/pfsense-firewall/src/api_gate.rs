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

    fn keys_of(&self, name: &str) -> usize {
        self.keys
            .iter()
            .filter(|k| text(k, "username") == Some(name))
            .count()
    }
}

/// A change to users, groups or API keys (`before` → `after`) judged for this server's own
/// access: the user it authenticates as must still exist, be enabled, sign in with the
/// credentials it holds and keep `page-all` or `needed` (the privilege that undoes the change).
/// With a key whose owner is not known, every user holding a key is judged.
pub fn accounts_change(
    before: &Accounts,
    after: &Accounts,
    client: &ApiClient,
    needed: &str,
) -> Gate {
    let key_auth = client.auth_method == "KeyAuth";
    let (candidates, guessed): (Vec<&str>, bool) = match &client.username {
        Some(me) => (vec![me.as_str()], false),
        None if key_auth => {
            let mut holders: Vec<&str> = before
                .keys
                .iter()
                .filter_map(|k| text(k, "username"))
                .collect();
            holders.sort_unstable();
            holders.dedup();
            let guessed = holders.len() != 1;
            (holders, guessed)
        }
        None => {
            return Gate::Unknown("which user this server authenticates as is not known".into());
        }
    };
    if candidates.is_empty() {
        return Gate::Unknown(
            "no API key was listed, so whose key this server holds is not known".into(),
        );
    }
    let mut unknown = None;
    for me in candidates {
        let usable = |a: &Accounts| {
            a.user(me)
                .is_some_and(|u| u.get("disabled") != Some(&Value::Bool(true)))
                && a.privileges(me)
                    .iter()
                    .any(|p| *p == "page-all" || *p == needed)
        };
        if !usable(before) {
            // Not this server's user, or one the API already keeps out.
            continue;
        }
        let who = if guessed {
            format!(
                "`{me}` (this server's API key may be theirs: set PFSENSE_USERNAME to the key's user to tell the guard)"
            )
        } else {
            format!("`{me}` (the user this server authenticates as)")
        };
        let lost = match after.user(me) {
            None => Some(format!("it deletes or renames {who}")),
            Some(u) if u.get("disabled") == Some(&Value::Bool(true)) => {
                Some(format!("it disables {who}"))
            }
            Some(u) if !key_auth && u.get("password").is_some() => Some(format!(
                "it changes the password of {who}; the server signs in with the old one (change it in the webGUI, then PFSENSE_PASSWORD)"
            )),
            Some(_) if !usable(after) => Some(format!(
                "it takes from {who} both `page-all` and `{needed}`, the privilege that would undo it"
            )),
            Some(_) if key_auth && before.keys_of(me) > 0 && after.keys_of(me) == 0 => {
                Some(format!("it deletes every API key of {who}"))
            }
            Some(_) if key_auth && after.keys_of(me) < before.keys_of(me) => {
                unknown = Some(format!(
                    "it deletes an API key of `{me}`, and which of their keys this server holds is not known"
                ));
                None
            }
            Some(_) => None,
        };
        if let Some(why) = lost {
            return Gate::Refused(why);
        }
    }
    match unknown {
        Some(why) => Gate::Unknown(why),
        None => Gate::Allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(
            settings_change(&json!({"read_only": true}), &c),
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

    #[test]
    fn a_change_that_takes_the_servers_own_user_off_the_api_is_refused() {
        let me = client();
        let needed = "api-v2-user-group-patch";
        let before = accounts();
        let judge = |edit: &dyn Fn(&mut Accounts), c: &ApiClient| {
            let mut after = before.clone();
            edit(&mut after);
            accounts_change(&before, &after, c, needed)
        };
        // page-all taken from the group admin is in, the probe's lockout.
        let refused = judge(&|a| a.groups[1]["priv"] = json!([]), &me);
        assert!(
            matches!(&refused, Gate::Refused(r) if r.contains("`admin`") && r.contains(needed)),
            "{refused:?}"
        );
        assert!(matches!(
            judge(&|a| a.groups[1]["member"] = json!([]), &me),
            Gate::Refused(_)
        ));
        assert!(
            matches!(judge(&|a| { a.users.remove(0); }, &me), Gate::Refused(r) if r.contains("deletes or renames"))
        );
        assert!(matches!(
            judge(&|a| a.users[0]["disabled"] = json!(true), &me),
            Gate::Refused(_)
        ));
        assert!(
            matches!(judge(&|a| { a.keys.clear(); }, &me), Gate::Refused(r) if r.contains("every API key"))
        );
        // Kept: page-all moves to the user itself, or to the group `all`; bob loses his privilege.
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
            judge(&|a| a.users[1]["priv"] = json!([]), &me),
            Gate::Allowed
        );
        // A password matters to Basic and JWT, not to a key.
        let basic = ApiClient {
            auth_method: "BasicAuth".into(),
            ..client()
        };
        assert_eq!(
            judge(&|a| a.users[0]["password"] = json!("new"), &me),
            Gate::Allowed
        );
        assert!(
            matches!(judge(&|a| a.users[0]["password"] = json!("new"), &basic), Gate::Refused(r) if r.contains("password"))
        );
        // A key of unknown owner: the key holders are judged, and the refusal says how to tell.
        let keyed = ApiClient {
            username: None,
            ..client()
        };
        assert!(
            matches!(judge(&|a| a.groups[1]["priv"] = json!([]), &keyed), Gate::Refused(r) if r.contains("`admin` (the user"))
        );
        let mut two_holders = before.clone();
        two_holders.keys.push(json!({"id": 1, "username": "bob"}));
        let mut bob_gone = two_holders.clone();
        bob_gone.users.remove(1);
        assert!(
            matches!(accounts_change(&two_holders, &bob_gone, &keyed, needed), Gate::Refused(r) if r.contains("PFSENSE_USERNAME"))
        );
        // One of two keys of the user deleted: which one this server holds is not known.
        let mut two_keys = before.clone();
        two_keys.keys.push(json!({"id": 1, "username": "admin"}));
        assert!(matches!(
            accounts_change(&two_keys, &before, &me, needed),
            Gate::Unknown(_)
        ));
    }
}
