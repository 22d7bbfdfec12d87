//! The target of a mutation and its current state: which object or collection a call changes,
//! how to read it, how to recognise it again after ids shift (stable identities), its
//! fingerprint, and a field-level diff of what the call would change.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::outcome::REDACTED;
use crate::request::PreparedRequest;
use crate::spec::tables::{
    STRING_ID_MODELS, is_left_out_of_comparisons, is_sensitive_field, is_time_read_as_now,
};
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

/// Models whose list order is behaviour: pfSense evaluates filter rules and NAT rules in the
/// order config.xml holds them, first match wins (filter.inc writes the ruleset in that order),
/// so moving one changes what the firewall does. A replacement's diff of these says which
/// objects move.
pub const ORDERED_MODELS: &[&str] = &[
    "FirewallRule",
    "PortForward",
    "OutboundNATMapping",
    "OneToOneNATMapping",
];

/// Read-only fields pfrest stores as sent when an object is created or a list is replaced, so
/// a re-create or a list put back sends them too. pfrest's `Model::from_representation` assigns
/// every field the data carries, read-only ones included (v2.7.1 to v2.10.0):
/// - `tracker`: `UnixTimeField(auto_add_now)` fills it with the current second only when none
///   is given (seen on the lab: a PUT keeps the trackers it is sent, while a PUT without them
///   gives every rule the same tracker, and rules created in the same second share one).
///   Without it the rules an undo puts back would be told apart by nothing.
/// - `associated_rule_id`: the link of a port forward's linked rule. Without it the rule an
///   undo makes again is no longer the forward's (seen on the lab: the forward's link named no
///   rule, pfrest refused every update of the forward, and its delete left the rule behind).
pub const KEPT_READ_ONLY_FIELDS: &[(&str, &[&str])] =
    &[("FirewallRule", &["tracker", "associated_rule_id"])];

/// The fields of [`KEPT_READ_ONLY_FIELDS`] of a model.
pub fn kept_read_only_fields(model: &str) -> &'static [&'static str] {
    KEPT_READ_ONLY_FIELDS
        .iter()
        .find(|(m, _)| *m == model)
        .map_or(&[], |(_, fields)| fields)
}

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

/// What a list read from the firewall holds under one identity.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// Exactly one object carries it.
    One(&'a Value),
    /// None does.
    Missing,
    /// Several do, so the identity does not tell them apart: pfrest gives rules created in
    /// the same second one tracker, and every rule of a PUT that sends none the same one
    /// ([`KEPT_READ_ONLY_FIELDS`]).
    Several(Vec<&'a Value>),
}

/// The objects of a collection that carry an identity.
pub fn lookup<'a>(model: &str, collection: &'a Value, wanted: &Map<String, Value>) -> Lookup<'a> {
    let mut found: Vec<&Value> = collection
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| identity(model, o).as_ref() == Some(wanted))
        .collect();
    match found.len() {
        0 => Lookup::Missing,
        1 => Lookup::One(found.remove(0)),
        _ => Lookup::Several(found),
    }
}

/// The object of a collection that carries an identity, when exactly one does: an identity
/// several objects share names none of them.
pub fn find_by_identity<'a>(
    model: &str,
    collection: &'a Value,
    wanted: &Map<String, Value>,
) -> Option<&'a Value> {
    match lookup(model, collection, wanted) {
        Lookup::One(o) => Some(o),
        Lookup::Missing | Lookup::Several(_) => None,
    }
}

/// Whether `object` is as `recorded` (a journal row's state), leaving out ids (they shift).
pub fn is_as_recorded(object: &Value, recorded: &Value) -> bool {
    unchanged_since(&without_id(object), &without_id(recorded))
}

/// The object a journal row recorded, found in a collection by its identity. When several
/// objects carry that identity, the one still as recorded (compared without ids; of identical
/// copies the one at the recorded id, else the first): an `Err` says why none can be told
/// apart. `Ok(None)` when no object carries it, or the recorded state has no identity.
pub fn find_recorded<'a>(
    model: &str,
    collection: &'a Value,
    recorded: &Value,
) -> Result<Option<&'a Value>, String> {
    let Some(wanted) = identity(model, recorded) else {
        return Ok(None);
    };
    match lookup(model, collection, &wanted) {
        Lookup::One(o) => Ok(Some(o)),
        Lookup::Missing => Ok(None),
        Lookup::Several(all) => {
            let same: Vec<&Value> = all
                .iter()
                .copied()
                .filter(|o| is_as_recorded(o, recorded))
                .collect();
            let at_id = same
                .iter()
                .find(|o| o.get("id").is_some() && o.get("id") == recorded.get("id"));
            match (at_id, same.first()) {
                (Some(o), _) | (None, Some(o)) => Ok(Some(o)),
                (None, None) => Err(format!(
                    "{} objects of the {model} list carry {} (pfSense does not keep it unique), and none of them is as recorded, so which one is meant cannot be told",
                    all.len(),
                    describe_identity(&wanted)
                )),
            }
        }
    }
}

/// JSON with object keys sorted at every level, without the time stamps pfrest reads as now
/// ([`TIMES_READ_AS_NOW`](crate::spec::tables::TIMES_READ_AS_NOW)) and the writers it stamps
/// ([`WRITERS_STAMPED`](crate::spec::tables::WRITERS_STAMPED)), and with an empty string or
/// list written as null ([`unset`]): the same state always hashes the same, even a default
/// rule read a second later or put back by a PUT.
fn canonical(value: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            v if unset(v) => out.push_str("null"),
            Value::Object(m) => {
                let mut keys: Vec<&String> = m
                    .keys()
                    .filter(|k| !is_left_out_of_comparisons(k))
                    .collect();
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

/// Whether a value is unset as pfrest writes one back: `null`, `""` or `[]`, depending on the
/// path that wrote it (seen on the lab: a rule's `icmptype` read `[]` after a PATCH and `null`
/// after a PUT of the list; a DHCP server's `domain` and `mac_allow` `null` before a PATCH and
/// `""` or `[]` after).
pub fn unset(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
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

/// The names of the fields two reads of an object differ in, as [`canonical`] compares them:
/// leaving out `id`, the times pfrest reads as now and the writers it stamps, unset values
/// alike; values that are not objects differ as a whole.
pub fn differing_fields(a: &Value, b: &Value) -> Vec<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return vec!["(the whole value)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| {
            let differ = match (a.get(*k), b.get(*k)) {
                (Some(x), Some(y)) => x != y && !(unset(x) && unset(y)),
                (Some(v), None) | (None, Some(v)) => !unset(v),
                (None, None) => false,
            };
            k.as_str() != "id" && !is_left_out_of_comparisons(k) && differ
        })
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

/// What replacing a collection changes: objects removed, added and changed, and in an
/// ordered list ([`ORDERED_MODELS`]) the objects that move. Objects are paired by a stable
/// identity exactly one object carries on each side, then by content (what the new object
/// states, the old one holds), then in order where identities do not say they differ: an
/// identity several objects share (pfrest's rule trackers can) pairs nothing by itself.
pub fn diff_collection(model: &str, before: &Value, after: &Value) -> Value {
    let old: Vec<Value> = before.as_array().cloned().unwrap_or_default();
    let new: Vec<Value> = after.as_array().cloned().unwrap_or_default();
    let old_ids: Vec<Option<Map<String, Value>>> = old.iter().map(|o| identity(model, o)).collect();
    let pairs = pair_objects(model, &old, &new);
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for (i, o) in old.iter().enumerate() {
        match pairs[i] {
            None => removed.push(crate::outcome::redact(o)),
            Some(j) => {
                let fields = diff_fields(o, &new[j]);
                if fields.is_empty() {
                    continue;
                }
                let unique = old_ids[i]
                    .as_ref()
                    .filter(|id| old_ids.iter().filter(|x| x.as_ref() == Some(id)).count() == 1);
                changed.push(match unique {
                    Some(id) => json!({"identity": id, "changes": fields}),
                    None => json!({"position": i, "changes": fields}),
                });
            }
        }
    }
    for (j, n) in new.iter().enumerate() {
        if !pairs.contains(&Some(j)) {
            added.push(crate::outcome::redact(n));
        }
    }
    let moved: Vec<Value> = if ORDERED_MODELS.contains(&model) {
        moves(&pairs)
            .into_iter()
            .map(|(i, j)| json!({"object": label(model, &old[i]), "from": i, "to": j}))
            .collect()
    } else {
        Vec::new()
    };
    let has_identity = STABLE_IDENTITIES.iter().any(|(m, _)| *m == model);
    json!({
        "removed": removed,
        "added": added,
        "changed": changed,
        "moved": moved,
        "matched_by": if has_identity { "stable identity (where one object carries it), else content" } else { "content, else position" },
    })
}

/// For each old object, the new object it pairs with (see [`diff_collection`]).
fn pair_objects(model: &str, old: &[Value], new: &[Value]) -> Vec<Option<usize>> {
    let key = |o: &Value| identity(model, o).map(|m| Value::Object(m).to_string());
    let old_ids: Vec<Option<String>> = old.iter().map(key).collect();
    let new_ids: Vec<Option<String>> = new.iter().map(key).collect();
    let mut counts: std::collections::HashMap<(bool, &str), usize> = Default::default();
    for (side, ids) in [(false, &old_ids), (true, &new_ids)] {
        for id in ids.iter().flatten() {
            *counts.entry((side, id.as_str())).or_default() += 1;
        }
    }
    let once = |side: bool, id: &str| counts.get(&(side, id)) == Some(&1);
    // Identities that do not say two objects differ: the same, or one of them has none.
    let compatible = |i: usize, j: usize| match (&old_ids[i], &new_ids[j]) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let mut pairs: Vec<Option<usize>> = vec![None; old.len()];
    let mut taken = vec![false; new.len()];
    fn pair(pairs: &mut [Option<usize>], taken: &mut [bool], i: usize, j: usize) {
        pairs[i] = Some(j);
        taken[j] = true;
    }
    // 1. an identity one object carries on each side
    for (i, id) in old_ids.iter().enumerate() {
        let Some(id) = id else { continue };
        if once(false, id) && once(true, id) {
            let j = new_ids
                .iter()
                .position(|n| n.as_ref() == Some(id))
                .unwrap_or_default();
            pair(&mut pairs, &mut taken, i, j);
        }
    }
    // 2. the same content, 3. the same (shared) identity, 4. in order
    let steps: [&dyn Fn(usize, usize) -> bool; 3] = [
        &|i, j| compatible(i, j) && states_alike(&old[i], &new[j]),
        &|i, j| old_ids[i].is_some() && old_ids[i] == new_ids[j],
        &|i, j| compatible(i, j),
    ];
    for fits in steps {
        for i in 0..old.len() {
            if pairs[i].is_some() {
                continue;
            }
            if let Some(j) = (0..new.len()).find(|&j| !taken[j] && fits(i, j)) {
                pair(&mut pairs, &mut taken, i, j);
            }
        }
    }
    pairs
}

/// Whether every field the new object states holds the same value in the old one (ids and
/// the times pfrest reads as now left out): a replacement leaves it as it is.
fn states_alike(old: &Value, new: &Value) -> bool {
    let Some(fields) = new.as_object() else {
        return old == new;
    };
    fields.iter().all(|(k, v)| {
        CONTROL_ARGS.contains(&k.as_str())
            || is_time_read_as_now(k)
            || match old.get(k) {
                Some(o) => o == v,
                None => v.is_null(),
            }
    })
}

/// The pairs (old position, new position) whose objects move: those outside a longest run of
/// pairs that keep their relative order (a delete before an object shifts it without moving
/// it; an object taken out and put elsewhere moves).
fn moves(pairs: &[Option<usize>]) -> Vec<(usize, usize)> {
    let kept: Vec<(usize, usize)> = pairs
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect();
    // Longest increasing subsequence of the new positions, in old order (patience sorting).
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; kept.len()];
    for (k, &(_, j)) in kept.iter().enumerate() {
        let at = tails.partition_point(|&t| kept[t].1 < j);
        if at > 0 {
            before[k] = Some(tails[at - 1]);
        }
        if at == tails.len() {
            tails.push(k);
        } else {
            tails[at] = k;
        }
    }
    let mut in_order = vec![false; kept.len()];
    let mut next = tails.last().copied();
    while let Some(k) = next {
        in_order[k] = true;
        next = before[k];
    }
    kept.into_iter()
        .zip(in_order)
        .filter(|(_, keeps)| !keeps)
        .map(|(p, _)| p)
        .collect()
}

/// An object in a few words for a line of a diff: its name, else its description, else its
/// identity.
fn label(model: &str, object: &Value) -> String {
    if let Some(name) = object.get("name").and_then(Value::as_str) {
        return name.to_string();
    }
    if let Some(descr) = object
        .get("descr")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        return format!("\"{}\"", crate::bounds::head(descr, 60));
    }
    match identity(model, object) {
        Some(id) => describe_identity(&id),
        None => "an object without a name".into(),
    }
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

    /// A rule put back by a PUT of the list (seen on the lab) is stamped with the undoing user
    /// and reads an unset `icmptype` as null where a PATCH had left `[]`: the same state. A
    /// value set, or changed, is not.
    #[test]
    fn states_compare_without_writers_and_with_unset_values_alike() {
        let patched = json!({"id": 0, "tracker": 1, "icmptype": [], "tag": "", "descr": "a",
            "created_by": "@127.0.0.1 (API)", "updated_by": "admin@127.0.0.1 (API)"});
        let put_back = json!({"id": 0, "tracker": 1, "icmptype": null, "tag": null, "descr": "a",
            "created_by": "admin@127.0.0.1 (API)", "updated_by": "admin@127.0.0.1 (API)"});
        assert!(same_state(&patched, &put_back));
        assert_eq!(fingerprint(&patched), fingerprint(&put_back));
        assert!(differing_fields(&patched, &put_back).is_empty());
        let mut set = put_back.clone();
        set["icmptype"] = json!(["echoreq"]);
        assert!(!same_state(&patched, &set));
        assert_eq!(differing_fields(&patched, &set), ["icmptype"]);
        let mut descr = put_back.clone();
        descr["descr"] = json!("b");
        assert_eq!(differing_fields(&patched, &descr), ["descr"]);
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

    fn rule(id: u64, tracker: u64, descr: &str) -> Value {
        json!({"id": id, "tracker": tracker, "type": "pass", "descr": descr})
    }

    /// A PUT that only reorders rules changes what the firewall does: the diff says what moves.
    #[test]
    fn a_reorder_of_an_ordered_list_names_what_moves() {
        let old = json!([
            rule(0, 10, "A"),
            rule(1, 11, "B"),
            rule(2, 12, "C"),
            rule(3, 13, "ssh-block")
        ]);
        let new = json!([
            rule(0, 13, "ssh-block"),
            rule(1, 10, "A"),
            rule(2, 11, "B"),
            rule(3, 12, "C")
        ]);
        let d = diff_collection("FirewallRule", &old, &new);
        assert_eq!(d["removed"], json!([]), "{d}");
        assert_eq!(d["added"], json!([]), "{d}");
        assert_eq!(d["changed"], json!([]), "{d}");
        assert_eq!(
            d["moved"],
            json!([{"object": "\"ssh-block\"", "from": 3, "to": 0}]),
            "{d}"
        );
        // a delete shifts later objects without moving them
        let fewer = json!([rule(0, 10, "A"), rule(1, 12, "C"), rule(2, 13, "ssh-block")]);
        let d = diff_collection("FirewallRule", &old, &fewer);
        assert_eq!(d["moved"], json!([]), "{d}");
        assert_eq!(d["removed"].as_array().unwrap().len(), 1, "{d}");
        // an unordered list (aliases) reports no move; nor does a model without identity lose it
        let aliases = |names: &[&str]| {
            Value::Array(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| json!({"id": i, "name": n}))
                    .collect(),
            )
        };
        let d = diff_collection(
            "FirewallAlias",
            &aliases(&["a", "b"]),
            &aliases(&["b", "a"]),
        );
        assert_eq!(d["moved"], json!([]), "{d}");
        let forward =
            |i: u64, p: &str| json!({"id": i, "local_port": p, "descr": format!("fwd {p}")});
        let d = diff_collection(
            "PortForward",
            &json!([forward(0, "80"), forward(1, "443")]),
            &json!([forward(0, "443"), forward(1, "80")]),
        );
        assert_eq!(d["changed"], json!([]), "{d}");
        assert_eq!(d["moved"].as_array().unwrap().len(), 1, "{d}");
    }

    /// pfrest gives rules created in the same second one tracker: a shared tracker pairs nothing
    /// by itself, so identical rules are not reported as changed, and a real change once.
    #[test]
    fn a_shared_tracker_does_not_pair_different_rules() {
        let old = json!([rule(0, 7, "A"), rule(1, 7, "B"), rule(2, 7, "C")]);
        let d = diff_collection("FirewallRule", &old, &old);
        assert_eq!(
            (
                d["removed"].clone(),
                d["added"].clone(),
                d["changed"].clone(),
                d["moved"].clone()
            ),
            (json!([]), json!([]), json!([]), json!([])),
            "{d}"
        );
        let mut new = old.clone();
        new[1]["descr"] = json!("B2");
        let d = diff_collection("FirewallRule", &old, &new);
        assert_eq!(d["changed"].as_array().unwrap().len(), 1, "{d}");
        assert_eq!(d["changed"][0]["position"], 1, "{d}");
        assert_eq!(d["changed"][0]["changes"][0]["after"], "B2", "{d}");
        assert_eq!(d["moved"], json!([]), "{d}");
    }

    #[test]
    fn an_identity_counts_only_when_one_object_carries_it() {
        let list = json!([rule(0, 7, "A"), rule(1, 7, "B"), rule(2, 8, "C")]);
        let tracker = |t: u64| identity("FirewallRule", &json!({"tracker": t})).unwrap();
        assert!(
            matches!(lookup("FirewallRule", &list, &tracker(7)), Lookup::Several(v) if v.len() == 2)
        );
        assert!(find_by_identity("FirewallRule", &list, &tracker(7)).is_none());
        assert_eq!(
            find_by_identity("FirewallRule", &list, &tracker(8)).unwrap()["descr"],
            "C"
        );
        assert!(matches!(
            lookup("FirewallRule", &list, &tracker(9)),
            Lookup::Missing
        ));
        // the recorded one among several: by its whole state, its id left out (ids shift)
        let found = find_recorded("FirewallRule", &list, &rule(5, 7, "B"))
            .unwrap()
            .unwrap();
        assert_eq!(found["id"], 1);
        let none = find_recorded("FirewallRule", &list, &rule(1, 7, "changed"));
        assert!(
            none.unwrap_err()
                .contains("2 objects of the FirewallRule list carry tracker 7")
        );
        assert!(
            find_recorded("FirewallRule", &list, &rule(1, 9, "A"))
                .unwrap()
                .is_none()
        );
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
