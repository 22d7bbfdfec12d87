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
    /// The user it authenticates as, when known (Basic and JWT; a key's owner is not known).
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
}
