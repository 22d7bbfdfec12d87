//! The target of a mutation and its current state: which object or collection a call changes,
//! how to read it, how to recognise it again after ids shift (stable identities), its
//! fingerprint, and a field-level diff of what the call would change.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::outcome::REDACTED;
use crate::request::PreparedRequest;
use crate::spec::tables::{STRING_ID_MODELS, is_sensitive_field, is_time_read_as_now};
use crate::spec::{Method, PathKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Fields that identify an object across deletes, by model. pfSense ids are array positions
/// and shift down after a delete (pfsense-rest-api.md, "Objects and ids"); these fields do
/// not. Firewall rules carry a read-only `tracker`; aliases, schedules, users, groups,
/// gateways and tunnels have unique names; certificates and CAs a `refid`; virtual IPs and
/// IPsec phase 2 a `uniqid`; IPsec phase 1 an `ikeid`; OpenVPN instances a `vpnid`.
/// Models with string ids (interfaces, DHCP servers, PF tables) are identified by the id.
pub const STABLE_IDENTITIES: &[(&str, &[&str])] = &[
    ("FirewallRule", &["tracker"]),
    ("FirewallAlias", &["name"]),
    ("FirewallSchedule", &["name"]),
    ("TrafficShaperLimiter", &["name"]),
    ("VirtualIP", &["uniqid"]),
    ("RoutingGateway", &["name"]),
    ("RoutingGatewayGroup", &["name"]),
    ("User", &["name"]),
    ("UserGroup", &["name"]),
    ("AuthServer", &["refid"]),
    ("CertificateAuthority", &["refid"]),
    ("Certificate", &["refid"]),
    ("CertificateRevocationList", &["refid"]),
    ("DNSResolverHostOverride", &["host", "domain"]),
    ("DNSForwarderHostOverride", &["host", "domain"]),
    ("DNSResolverDomainOverride", &["domain"]),
    ("DHCPServerStaticMapping", &["mac"]),
    ("IPsecPhase1", &["ikeid"]),
    ("IPsecPhase2", &["uniqid"]),
    ("OpenVPNServer", &["vpnid"]),
    ("OpenVPNClient", &["vpnid"]),
    ("WireGuardTunnel", &["name"]),
    ("WireGuardPeer", &["publickey"]),
    ("HAProxyBackend", &["name"]),
    ("HAProxyFrontend", &["name"]),
    ("ServiceWatchdog", &["name"]),
    ("BINDZone", &["name"]),
    ("BINDView", &["name"]),
    ("BINDAccessList", &["name"]),
    ("ACMECertificate", &["name"]),
    ("ACMEAccountKey", &["name"]),
    ("SystemTunable", &["tunable"]),
];

/// Control parameters a call may carry next to the model's fields; they are not part of the
/// object and never show up in a diff (pfsense-rest-api.md, "Control parameters").
pub const CONTROL_ARGS: &[&str] = &[
    "id",
    "parent_id",
    "apply",
    "async",
    "placement",
    "append",
    "remove",
    "sort_by",
    "sort_order",
    "sort_flags",
    "reverse",
    "limit",
    "offset",
];

/// What a mutation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// POST on a collection's item path: a new object.
    Create,
    /// PATCH of one object.
    Update,
    /// DELETE of one object.
    Delete,
    /// PUT of a whole collection.
    Replace,
    /// DELETE on a plural path: every object the filters match.
    BulkDelete,
    /// PATCH of a settings singleton.
    Settings,
    /// Actions, applies and anything else with no state we can read back.
    Other,
}

impl ChangeKind {
    pub fn of(def: &ToolDef) -> ChangeKind {
        match (def.path_kind, def.method) {
            (PathKind::Item, Method::Post) => ChangeKind::Create,
            (PathKind::Item, Method::Patch) => ChangeKind::Update,
            (PathKind::Item, Method::Delete) => ChangeKind::Delete,
            (PathKind::Plural, Method::Put) => ChangeKind::Replace,
            (PathKind::Plural, Method::Delete) => ChangeKind::BulkDelete,
            (PathKind::Settings, Method::Patch) => ChangeKind::Settings,
            _ => ChangeKind::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Replace => "replace",
            ChangeKind::BulkDelete => "bulk_delete",
            ChangeKind::Settings => "settings",
            ChangeKind::Other => "other",
        }
    }

    /// Whether the call's target has a current state to read, fingerprint and diff against.
    pub fn has_target_state(self) -> bool {
        matches!(
            self,
            ChangeKind::Update
                | ChangeKind::Delete
                | ChangeKind::Replace
                | ChangeKind::BulkDelete
                | ChangeKind::Settings
        )
    }
}

/// A tool of the same model by path kind and method (e.g. the list tool of an item's model).
pub fn sibling(def: &ToolDef, kind: PathKind, method: Method) -> Option<&'static ToolDef> {
    if kind == def.path_kind
        && let Some(t) = TOOLS
            .iter()
            .find(|t| t.path == def.path && t.method == method)
    {
        return Some(t);
    }
    TOOLS.iter().find(|t| {
        t.model == def.model
            && t.path_kind == kind
            && t.method == method
            && t.parent_model == def.parent_model
    })
}

/// The id and parent id a call addresses (item calls only).
pub fn address(args: &Value) -> (Option<Value>, Option<Value>) {
    (
        args.get("id").filter(|v| !v.is_null()).cloned(),
        args.get("parent_id").filter(|v| !v.is_null()).cloned(),
    )
}

/// Send a GET tool with these arguments and return its data.
pub async fn read(client: &Client, get: &ToolDef, args: Value) -> Result<Value, String> {
    let request = PreparedRequest::build(get, &args).map_err(|e| e.0)?;
    client
        .send(get, &request)
        .await
        .map(|r| r.data())
        .map_err(|e| e.to_string())
}

/// A local user's endpoint: its dangerous arguments are judged with its groups' privileges.
pub const USER_PATH: &str = "/api/v2/user";

/// A user as read, its `priv` holding what pfSense grants it (auth.inc
/// `get_user_privileges`): its own, those of every group listing it as a member, and those of
/// the group `all`.
pub async fn with_group_privileges(client: &Client, user: &Value) -> Result<Value, String> {
    let groups_tool = TOOLS
        .iter()
        .find(|t| t.path == "/api/v2/user/groups" && t.method == Method::Get)
        .ok_or("this build has no tool that reads the user groups")?;
    let groups = read(client, groups_tool, json!({})).await?;
    let name = user.get("name").and_then(Value::as_str).unwrap_or_default();
    let strings = |v: &Value, field: &str| -> Vec<Value> {
        v.get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut privileges = strings(user, "priv");
    for group in groups.as_array().into_iter().flatten() {
        let member = strings(group, "member")
            .iter()
            .any(|m| m.as_str() == Some(name));
        if member || group.get("name").and_then(Value::as_str) == Some("all") {
            privileges.extend(strings(group, "priv"));
        }
    }
    let mut judged = user.clone();
    if let Some(fields) = judged.as_object_mut() {
        fields.insert("priv".into(), Value::Array(privileges));
    }
    Ok(judged)
}

/// The objects a bulk delete's filters match now (read with the same filters).
pub async fn bulk_delete_matches(
    client: &Client,
    def: &ToolDef,
    args: &Value,
) -> Result<Value, String> {
    let list =
        sibling(def, PathKind::Plural, Method::Get).ok_or("no list tool for this collection")?;
    let mut filters = args.get("query").cloned().unwrap_or(json!({}));
    let all = filters
        .as_object_mut()
        .and_then(|m| m.remove("all"))
        .is_some_and(|v| v == json!(true) || v == json!("true"));
    // The same selection the delete makes: filters, then `offset`, then `limit` (0: all).
    let mut read = json!({
        "limit": args.get("limit").cloned().unwrap_or(json!(0)),
        "offset": args.get("offset").cloned().unwrap_or(json!(0)),
    });
    if !all && filters.as_object().is_some_and(|m| !m.is_empty()) {
        read["query"] = filters;
    }
    self::read(client, list, read).await
}

/// Read the current state of a call's target: the item, the settings object, or the whole
/// collection. None when the call has no readable target.
pub async fn read_target(
    client: &Client,
    def: &ToolDef,
    args: &Value,
) -> Option<Result<Value, String>> {
    match ChangeKind::of(def) {
        ChangeKind::Update | ChangeKind::Delete => {
            let get = sibling(def, PathKind::Item, Method::Get)?;
            let (id, parent_id) = address(args);
            let mut a = Map::new();
            if let Some(id) = id {
                a.insert("id".into(), id);
            }
            if let Some(p) = parent_id {
                a.insert("parent_id".into(), p);
            }
            Some(read(client, get, Value::Object(a)).await)
        }
        ChangeKind::Settings => {
            let get = sibling(def, PathKind::Settings, Method::Get)?;
            Some(read(client, get, json!({})).await)
        }
        ChangeKind::Replace | ChangeKind::BulkDelete => Some(read_collection(client, def).await?),
        ChangeKind::Create | ChangeKind::Other => None,
    }
}

/// The whole collection of a call's model (every parent, for nested models).
pub async fn read_collection(client: &Client, def: &ToolDef) -> Option<Result<Value, String>> {
    let list = sibling(def, PathKind::Plural, Method::Get)?;
    Some(read(client, list, json!({})).await)
}

/// The identity of an object: its stable fields, or its string id. None when the model has
/// none (then only the id and a full comparison can recognise it).
pub fn identity(model: &str, object: &Value) -> Option<Map<String, Value>> {
    if STRING_ID_MODELS.contains(&model) {
        let id = object.get("id").filter(|v| v.is_string())?;
        let mut m = Map::new();
        m.insert("id".into(), id.clone());
        return Some(m);
    }
    let (_, fields) = STABLE_IDENTITIES.iter().find(|(m, _)| *m == model)?;
    let mut out = Map::new();
    for f in *fields {
        let v = object.get(*f).filter(|v| !v.is_null())?;
        out.insert((*f).to_string(), v.clone());
    }
    if let Some(p) = object.get("parent_id").filter(|v| !v.is_null()) {
        out.insert("parent_id".into(), p.clone());
    }
    Some(out)
}

/// `name "web"` / `tracker 1770000003`, for messages.
pub fn describe_identity(identity: &Map<String, Value>) -> String {
    identity
        .iter()
        .filter(|(k, _)| k.as_str() != "parent_id")
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Find an object in a collection by identity.
pub fn find_by_identity<'a>(
    model: &str,
    collection: &'a Value,
    wanted: &Map<String, Value>,
) -> Option<&'a Value> {
    collection
        .as_array()?
        .iter()
        .find(|o| identity(model, o).as_ref() == Some(wanted))
}

/// JSON with object keys sorted at every level and without the time stamps pfrest reads as
/// now ([`TIMES_READ_AS_NOW`](crate::spec::tables::TIMES_READ_AS_NOW)): the same state always
/// hashes the same, even a default rule read a second later.
fn canonical(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().filter(|k| !is_time_read_as_now(k)).collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    write(&m[*k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    write(value, &mut s);
    s
}

/// The fingerprint of a state, as previews show it and `expect_state` takes it back.
pub fn fingerprint(state: &Value) -> String {
    let digest = Sha256::digest(canonical(state).as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..32])
}

/// Whether two reads found the same state, as their fingerprints would say.
pub fn same_state(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// Whether the firewall's `current` state is still the `recorded` one (a journal row's). A
/// secret the caller sent was scrubbed to the placeholder before the row was stored, while
/// the firewall may return it (pfrest v2.7.1 returns `User.ipsecpsk`): where the recorded
/// value carries the placeholder, the current value matches when it fits around it.
pub fn unchanged_since(current: &Value, recorded: &Value) -> bool {
    same_state(&as_recorded(current, recorded), recorded)
}

/// `current` with each value that fits a scrubbed recorded value replaced by that value.
pub fn as_recorded(current: &Value, recorded: &Value) -> Value {
    match (current, recorded) {
        (Value::String(c), Value::String(r)) if r.contains(REDACTED) && fits(c, r) => {
            recorded.clone()
        }
        (Value::Object(c), Value::Object(r)) => Value::Object(
            c.iter()
                .map(|(k, v)| {
                    let v = match r.get(k) {
                        Some(rv) => as_recorded(v, rv),
                        None => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Value::Array(c), Value::Array(r)) if c.len() == r.len() => {
            Value::Array(c.iter().zip(r).map(|(c, r)| as_recorded(c, r)).collect())
        }
        _ => current.clone(),
    }
}

/// Whether `text` reads as `pattern` with each placeholder standing for any text.
fn fits(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split(REDACTED).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if text.len() < first.len() + last.len() || !text.starts_with(first) || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The names of the fields two reads of an object differ in, leaving out `id` and the times
/// pfrest reads as now; values that are not objects differ as a whole.
pub fn differing_fields(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["(the whole value)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "id" && !is_time_read_as_now(k) && a.get(*k) != b.get(*k))
        .map(|k| k.to_string())
        .collect()
}

/// A value as a diff shows it: secrets never appear.
fn shown(field: &str, v: Option<&Value>) -> Value {
    match v {
        None => Value::Null,
        Some(v) if is_sensitive_field(field) && !v.is_null() && !v.is_boolean() => {
            Value::String(REDACTED.into())
        }
        Some(v) => crate::outcome::redact(v),
    }
}

/// Field-level changes a PATCH makes: `[{field, before, after}]`, changed fields only.
/// Secrets are shown as changing without their values (the API never returns them).
pub fn diff_fields(before: &Value, patch: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(patch) = patch.as_object() else {
        return out;
    };
    for (field, after) in patch {
        if CONTROL_ARGS.contains(&field.as_str()) || is_time_read_as_now(field) {
            continue;
        }
        let old = before.get(field);
        // Two states read alike (an object a bulk delete or a PUT leaves as it is) change no
        // secret; a secret given in the arguments is never among what was read.
        if old == Some(after) {
            continue;
        }
        if is_sensitive_field(field) {
            out.push(json!({"field": field, "before": REDACTED, "after": REDACTED, "note": "a secret: the firewall never returns it, so the change cannot be shown or undone"}));
            continue;
        }
        if old == Some(after) || (old.is_none() && after.is_null()) {
            continue;
        }
        let mut change = json!({"field": field, "before": shown(field, old), "after": shown(field, Some(after))});
        if after.is_null() {
            change["note"] = json!("null resets the field to its default");
        }
        out.push(change);
    }
    out
}

/// Every field of an object that a delete removes.
pub fn diff_removed(before: &Value) -> Vec<Value> {
    before
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| json!({"field": k, "before": shown(k, Some(v)), "after": null}))
                .collect()
        })
        .unwrap_or_default()
}

/// What replacing a collection changes: objects removed, added and changed, matched by stable
/// identity when the model has one, else by position.
pub fn diff_collection(model: &str, before: &Value, after: &Value) -> Value {
    let old: Vec<Value> = before.as_array().cloned().unwrap_or_default();
    let new: Vec<Value> = after.as_array().cloned().unwrap_or_default();
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let by_identity = STABLE_IDENTITIES.iter().any(|(m, _)| *m == model)
        && new.iter().all(|o| identity(model, o).is_some());
    if by_identity {
        for o in &old {
            let Some(id) = identity(model, o) else {
                removed.push(crate::outcome::redact(o));
                continue;
            };
            match new
                .iter()
                .find(|n| identity(model, n).as_ref() == Some(&id))
            {
                None => removed.push(crate::outcome::redact(o)),
                Some(n) => {
                    let fields = diff_fields(o, n);
                    if !fields.is_empty() {
                        changed.push(json!({"identity": id, "changes": fields}));
                    }
                }
            }
        }
        for n in &new {
            let id = identity(model, n);
            if !old.iter().any(|o| identity(model, o) == id) {
                added.push(crate::outcome::redact(n));
            }
        }
    } else {
        for (i, o) in old.iter().enumerate() {
            match new.get(i) {
                None => removed.push(crate::outcome::redact(o)),
                Some(n) => {
                    let fields = diff_fields(o, n);
                    if !fields.is_empty() {
                        changed.push(json!({"position": i, "changes": fields}));
                    }
                }
            }
        }
        for n in new.iter().skip(old.len()) {
            added.push(crate::outcome::redact(n));
        }
    }
    json!({
        "removed": removed,
        "added": added,
        "changed": changed,
        "matched_by": if by_identity { "stable identity" } else { "position" },
    })
}

/// The fields of an object a create call accepts (what a re-create may send back): the
/// model's writable fields as the create tool lists them.
pub fn writable_fields(create: &ToolDef, object: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = object.as_object() else {
        return out;
    };
    for arg in create.args {
        if matches!(arg.name, "id" | "apply" | "placement" | "async") || arg.sensitive {
            continue;
        }
        if arg.role != crate::spec::ArgRole::Field {
            continue;
        }
        if let Some(v) = obj.get(arg.name) {
            out.insert(arg.name.to_string(), v.clone());
        }
    }
    out
}

/// An object without its id: ids shift, so comparisons across time leave them out.
pub fn without_id(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut m = m.clone();
            m.remove("id");
            Value::Object(m)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order() {
        let a = json!({"b": 1, "a": [1, {"y": 2, "x": 1}]});
        let b = json!({"a": [1, {"x": 1, "y": 2}], "b": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&json!({"b": 2})));
    }

    /// pfrest reads a default rule's missing `created_time`/`updated_time` as the current
    /// second (seen on the lab): the same rule read a second later is the same state.
    #[test]
    fn states_compare_without_the_times_pfrest_reads_as_now() {
        let rule = |t: i64| json!({"id": 0, "tracker": 100000101, "descr": "Default allow LAN to any rule", "created_time": t, "updated_time": t});
        assert_eq!(
            fingerprint(&rule(1796419439)),
            fingerprint(&rule(1796419440))
        );
        assert!(same_state(
            &json!([rule(1), rule(2)]),
            &json!([rule(3), rule(4)])
        ));
        let mut other = rule(1);
        other["descr"] = json!("changed");
        assert_ne!(fingerprint(&rule(1)), fingerprint(&other));
        assert!(!same_state(&json!([rule(1)]), &json!([other])));
        assert!(diff_fields(&rule(1), &json!({"updated_time": 2})).is_empty());
        assert!(differing_fields(&rule(1), &rule(2)).is_empty());
        // a field one read has and the other lacks is named too
        let mut fewer = rule(1);
        fewer.as_object_mut().unwrap().remove("descr");
        assert_eq!(differing_fields(&rule(1), &fewer), ["descr"]);
        assert_eq!(differing_fields(&other, &rule(3)), ["descr"]);
    }

    #[test]
    fn a_scrubbed_secret_in_a_recorded_state_matches_what_the_firewall_returns() {
        let recorded = json!({"name": "bob", "ipsecpsk": REDACTED, "note": format!("psk {REDACTED} end"),
            "list": [{"key": REDACTED}]});
        let current = json!({"name": "bob", "ipsecpsk": "s3cr3t-psk", "note": "psk s3cr3t-psk end",
            "list": [{"key": "k-value"}]});
        assert!(unchanged_since(&current, &recorded));
        assert!(
            !same_state(&current, &recorded),
            "a plain comparison differs"
        );
        let renamed = json!({"name": "eve", "ipsecpsk": "s3cr3t-psk", "note": "psk x end",
            "list": [{"key": "k-value"}]});
        assert!(!unchanged_since(&renamed, &recorded));
        assert_eq!(
            differing_fields(&as_recorded(&renamed, &recorded), &recorded),
            ["name"]
        );
        assert!(!unchanged_since(
            &json!({"name": "bob", "ipsecpsk": "x", "note": "psk x END", "list": [{"key": "k"}]}),
            &recorded
        ));
    }

    #[test]
    fn diffs_show_changed_fields_and_hide_secrets() {
        let before = json!({"id": 1, "name": "web", "descr": "old", "password": null});
        let d = diff_fields(
            &before,
            &json!({"id": 1, "name": "web", "descr": "new", "password": "hunter2"}),
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["field"], "descr");
        assert_eq!(d[0]["before"], "old");
        assert!(!serde_json::to_string(&d).unwrap().contains("hunter2"));
    }

    #[test]
    fn identities() {
        let rule = json!({"id": 4, "tracker": 17, "descr": "x"});
        assert_eq!(identity("FirewallRule", &rule).unwrap()["tracker"], 17);
        assert!(identity("PortForward", &json!({"id": 1})).is_none());
        assert_eq!(
            identity("NetworkInterface", &json!({"id": "lan"})).unwrap()["id"],
            "lan"
        );
    }
}
