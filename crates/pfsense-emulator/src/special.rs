//! Endpoints and models that need more than the generic engine: a table of handlers by
//! (method, path) plus per-model hooks (computed fields, value validators, string ids).

use crate::auth;
use crate::engine::{Answer, Ctx, after_write, find_index, list_mut, represent};
use crate::reply::{ApiError, ApiResult, Reply};
use crate::seed::STRING_ID_KEY;
use crate::store::{Store, now_unix};
use crate::tables;
use crate::validate::{Mode, Obj, merge_and_validate};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pfsense_spec::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub type Handler = fn(&mut Ctx) -> ApiResult<Answer>;

/// Special endpoints: (method, path after `/api/v2/`, handler).
pub const HANDLERS: &[(Method, &str, Handler)] = &[
    // "POST /auth/key (Basic only) returns the plaintext key once"
    (Method::Post, "auth/key", create_api_key),
    // "POST /auth/jwt (Basic only) → {token}"
    (Method::Post, "auth/jwt", create_jwt),
    // "POST /diagnostics/command_prompt {command} → {output, result_code}"
    (Method::Post, "diagnostics/command_prompt", command_prompt),
    // "POST /diagnostics/ping {host, count 1-10}"
    (Method::Post, "diagnostics/ping", ping),
    // "POST /graphql returns raw {data} / {errors}, always 200, no envelope"
    (Method::Post, "graphql", graphql),
    // Package install / removal changes the installed list the add-on endpoints check.
    (Method::Post, "system/package", install_package),
    (Method::Delete, "system/package", remove_package),
    (Method::Delete, "system/packages", remove_packages),
    // Service start/stop/restart changes the reported status.
    (Method::Post, "status/service", service_action),
    // Deleting a PF table flushes its entries; the table itself stays.
    (Method::Delete, "diagnostics/table", flush_table),
    // Renewals replace the certificate of an existing object.
    (Method::Post, "system/certificate/renew", renew_certificate),
    (
        Method::Post,
        "system/certificate_authority/renew",
        renew_authority,
    ),
];

pub fn handler(method: Method, rel: &str) -> Option<Handler> {
    HANDLERS
        .iter()
        .find(|(m, p, _)| *m == method && *p == rel)
        .map(|(_, _, h)| *h)
}

fn input(ctx: &Ctx) -> Obj {
    ctx.data.as_object().cloned().unwrap_or_default()
}

fn validated(ctx: &Ctx) -> ApiResult<Obj> {
    merge_and_validate(
        ctx.catalog,
        &ctx.entry.model,
        &Obj::new(),
        &input(ctx),
        Mode::Create,
        None,
    )
}

fn create_api_key(ctx: &mut Ctx) -> ApiResult<Answer> {
    let mut obj = validated(ctx)?;
    let length = obj
        .get("length_bytes")
        .and_then(Value::as_u64)
        .unwrap_or(24) as usize;
    let algo = obj
        .get("hash_algo")
        .and_then(Value::as_str)
        .unwrap_or("sha256")
        .to_string();
    let key = hex::encode(auth::random_bytes(length));
    obj.insert("username".into(), json!(ctx.user));
    obj.insert("hash".into(), json!(auth::hash_key(&algo, &key)));
    obj.insert("key".into(), Value::Null);
    let items = ctx
        .store
        .collections
        .entry("RESTAPIKey".into())
        .or_default();
    items.push(Value::Object(obj.clone()));
    let id = json!(items.len() - 1);
    after_write(ctx, "Added", "RESTAPIKey", Some(&id));
    let mut shown = represent(ctx.catalog, ctx.store, "RESTAPIKey", &obj, Some(id), None);
    // The only time the plaintext key is ever shown.
    shown["key"] = json!(key);
    Ok(Answer::Data(shown))
}

/// Create an API key directly (the `--enable-key-auth` start option).
pub fn seed_api_key(store: &mut Store, user: &str, descr: &str) -> String {
    let key = hex::encode(auth::random_bytes(24));
    let items = store.collections.entry("RESTAPIKey".into()).or_default();
    items.push(
        json!({"descr": descr, "username": user, "hash_algo": "sha256", "length_bytes": 24,
                      "hash": auth::hash_key("sha256", &key), "key": null}),
    );
    key
}

fn create_jwt(ctx: &mut Ctx) -> ApiResult<Answer> {
    let token = auth::issue_jwt(ctx.store, &ctx.user, ctx.jwt_secret);
    Ok(Answer::Data(json!({"token": token})))
}

fn command_prompt(ctx: &mut Ctx) -> ApiResult<Answer> {
    let obj = validated(ctx)?;
    let command = obj
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    let (program, rest) = command.split_once(' ').unwrap_or((command.as_str(), ""));
    let hostname = ctx
        .store
        .singletons
        .get("SystemHostname")
        .and_then(|h| h.get("hostname"))
        .and_then(Value::as_str)
        .unwrap_or("pfSense")
        .to_string();
    let (output, code) = match program {
        p if !tables::COMMANDS.contains(&p) => (format!("sh: {p}: not found\n"), 127),
        "echo" => (format!("{}\n", rest.trim_matches(['"', '\''])), 0),
        "hostname" => (format!("{hostname}\n"), 0),
        "uname" => ("FreeBSD\n".to_string(), 0),
        "whoami" => ("root\n".to_string(), 0),
        "date" => (format!("{}\n", now_unix()), 0),
        "uptime" => (
            " 1:00AM  up 1:00, 0 users, load averages: 0.10, 0.05, 0.01\n".to_string(),
            0,
        ),
        "false" => (String::new(), 1),
        _ => (String::new(), 0),
    };
    Ok(Answer::Data(json!({"output": output, "result_code": code})))
}

fn ping(ctx: &mut Ctx) -> ApiResult<Answer> {
    let obj = validated(ctx)?;
    let host = obj.get("host").and_then(Value::as_str).unwrap_or("");
    let count = obj.get("count").and_then(Value::as_u64).unwrap_or(3);
    let mut out = format!("PING {host} ({host}): 56 data bytes\n");
    for seq in 0..count {
        out.push_str(&format!(
            "64 bytes from {host}: icmp_seq={seq} ttl=64 time=0.{seq}42 ms\n"
        ));
    }
    out.push_str(&format!(
        "\n--- {host} ping statistics ---\n{count} packets transmitted, {count} packets received, 0.0% packet loss\n"
    ));
    Ok(Answer::Data(json!({"output": out, "result_code": 0})))
}

/// GraphQL support is minimal: `__typename` and `__schema { queryType { name } }` introspection.
/// Anything else gets an `errors` answer saying so (still 200, no envelope).
fn graphql(ctx: &mut Ctx) -> ApiResult<Answer> {
    let query = ctx.data.get("query").and_then(Value::as_str).unwrap_or("");
    let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    let body = match compact.as_str() {
        "{__typename}" | "query{__typename}" => json!({"data": {"__typename": "Query"}}),
        "{__schema{queryType{name}}}" => {
            json!({"data": {"__schema": {"queryType": {"name": "Query"}}}})
        }
        "" => json!({"errors": [{"message": "Syntax Error: Unexpected <EOF>."}]}),
        _ => {
            json!({"errors": [{"message": "The pfsense-emulator GraphQL endpoint supports only `{ __typename }` and `{ __schema { queryType { name } } }`; use the REST endpoints instead."}]})
        }
    };
    Ok(Answer::Reply(Reply::json(200, &body)))
}

fn install_package(ctx: &mut Ctx) -> ApiResult<Answer> {
    let obj = validated(ctx)?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.starts_with("pfSense-pkg-") {
        return Err(ApiError::bad(
            "PACKAGE_NAME_INVALID",
            format!("Package `{name}` is not a pfSense package (names start with `pfSense-pkg-`)."),
        ));
    }
    if ctx.store.installed_packages.contains(&name) {
        return Err(ApiError::bad(
            "FIELD_MUST_BE_UNIQUE",
            format!("Package `{name}` is already installed."),
        ));
    }
    ctx.store.installed_packages.insert(name.clone());
    ctx.store.refresh_packages();
    let items = ctx
        .store
        .collections
        .get("Package")
        .cloned()
        .unwrap_or_default();
    let idx = items
        .iter()
        .position(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
        .unwrap_or(0);
    let pkg = items
        .get(idx)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    after_write(ctx, "Added", "Package", None);
    Ok(Answer::Data(represent(
        ctx.catalog,
        ctx.store,
        "Package",
        &pkg,
        Some(json!(idx)),
        None,
    )))
}

fn remove_package(ctx: &mut Ctx) -> ApiResult<Answer> {
    let Some(id) = ctx.control.id.clone() else {
        return Err(ApiError::bad(
            "MODEL_REQUIRES_ID",
            "This operation requires an `id`.",
        ));
    };
    let items = ctx
        .store
        .collections
        .get("Package")
        .cloned()
        .unwrap_or_default();
    let idx = find_index("Package", &items, &id)?;
    let pkg = items[idx].as_object().cloned().unwrap_or_default();
    if let Some(name) = pkg.get("name").and_then(Value::as_str) {
        ctx.store.installed_packages.remove(name);
    }
    ctx.store.refresh_packages();
    after_write(ctx, "Deleted", "Package", None);
    Ok(Answer::Data(represent(
        ctx.catalog,
        ctx.store,
        "Package",
        &pkg,
        Some(id),
        None,
    )))
}

fn remove_packages(ctx: &mut Ctx) -> ApiResult<Answer> {
    if !ctx.control.all && ctx.control.filters.is_empty() {
        return Err(ApiError::bad(
            "MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS",
            "Deleting many objects requires `all=true` or at least one query filter.",
        ));
    }
    let items = ctx
        .store
        .collections
        .get("Package")
        .cloned()
        .unwrap_or_default();
    let mut removed = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let shown = represent(
            ctx.catalog,
            ctx.store,
            "Package",
            &p.as_object().cloned().unwrap_or_default(),
            Some(json!(i)),
            None,
        );
        let mut hit = true;
        for f in &ctx.control.filters {
            hit &= crate::query::matches(&shown, f)?;
        }
        if hit || ctx.control.all {
            removed.push(shown);
        }
    }
    for p in &removed {
        if let Some(name) = p.get("name").and_then(Value::as_str) {
            ctx.store.installed_packages.remove(name);
        }
    }
    ctx.store.refresh_packages();
    if !removed.is_empty() {
        after_write(ctx, "Deleted", "Package", None);
    }
    Ok(Answer::Data(Value::Array(removed)))
}

/// `POST /status/service {id, action}`: the spec requires `id` (the service's position in
/// `GET /status/services`); a `name` is accepted as well.
fn service_action(ctx: &mut Ctx) -> ApiResult<Answer> {
    let mut given = input(ctx);
    given.remove("id");
    let by_name = given.remove("name");
    let services = ctx
        .store
        .collections
        .get("Service")
        .cloned()
        .unwrap_or_default();
    let idx = match (ctx.control.id.clone(), by_name) {
        (Some(id), _) => find_index("Service", &services, &id)?,
        (None, Some(Value::String(name))) => services
            .iter()
            .position(|s| s.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
                    format!("Field `name` could not locate a service named `{name}`."),
                )
            })?,
        (None, Some(other)) => {
            return Err(ApiError::bad(
                "FIELD_INVALID_TYPE",
                format!(
                    "Field `name` must be of type `string`, received `{}`.",
                    crate::reply::php_type(&other)
                ),
            ));
        }
        (None, None) => {
            return Err(ApiError::bad(
                "MODEL_REQUIRES_ID",
                "This operation requires an `id`.",
            ));
        }
    };
    let obj = merge_and_validate(
        ctx.catalog,
        "Service",
        &Obj::new(),
        &given,
        Mode::Create,
        None,
    )?;
    let action = obj
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("restart")
        .to_string();
    let services = ctx.store.collections.entry("Service".into()).or_default();
    if let Some(Value::Object(s)) = services.get_mut(idx) {
        s.insert("status".into(), json!(action != "stop"));
    }
    let svc = services[idx].as_object().cloned().unwrap_or_default();
    Ok(Answer::Data(represent(
        ctx.catalog,
        ctx.store,
        "Service",
        &svc,
        Some(json!(idx)),
        None,
    )))
}

fn flush_table(ctx: &mut Ctx) -> ApiResult<Answer> {
    let Some(id) = ctx.control.id.clone() else {
        return Err(ApiError::bad(
            "MODEL_REQUIRES_ID",
            "This operation requires an `id`.",
        ));
    };
    let tables_list = ctx.store.collections.entry("Table".into()).or_default();
    let idx = find_index("Table", tables_list, &id)?;
    let before = tables_list[idx].as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(t)) = tables_list.get_mut(idx) {
        t.insert("entries".into(), json!([]));
    }
    Ok(Answer::Data(represent(
        ctx.catalog,
        ctx.store,
        "Table",
        &before,
        Some(id),
        None,
    )))
}

fn renew(ctx: &mut Ctx, model: &str, ref_field: &str) -> ApiResult<Answer> {
    let mut obj = validated(ctx)?;
    crate::engine::check_references(ctx.catalog, ctx.store, &ctx.entry.model, &obj)?;
    let refid = obj
        .get(ref_field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let items = list_mut(ctx.catalog, ctx.store, model, None)?;
    let n = items.len() as u64;
    if let Some(Value::Object(target)) = items
        .iter_mut()
        .find(|o| o.get("refid").and_then(Value::as_str) == Some(refid.as_str()))
    {
        let (crt, _) = make_pem(&format!("renewed-{refid}"));
        target.insert("crt".into(), json!(crt));
    }
    obj.insert("oldserial".into(), json!(format!("{:x}", 1000 + n)));
    obj.insert(
        "newserial".into(),
        json!(format!("{:x}", 2000 + now_unix() % 1000)),
    );
    after_write(ctx, "Modified", model, None);
    Ok(Answer::Data(represent(
        ctx.catalog,
        ctx.store,
        &ctx.entry.model,
        &obj,
        None,
        None,
    )))
}

fn renew_certificate(ctx: &mut Ctx) -> ApiResult<Answer> {
    renew(ctx, "Certificate", "certref")
}

fn renew_authority(ctx: &mut Ctx) -> ApiResult<Answer> {
    renew(ctx, "CertificateAuthority", "caref")
}

/// A PEM certificate and key (ECDSA P-256, whatever key type was asked for).
pub fn make_pem(common_name: &str) -> (String, String) {
    let made = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).and_then(|key| {
        let mut params = rcgen::CertificateParams::new(vec![common_name.to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params.self_signed(&key)?;
        Ok((cert.pem(), key.serialize_pem()))
    });
    made.unwrap_or_else(|_| (String::new(), String::new()))
}

/// Computed fields of objects made by creates and actions.
pub fn enrich_created(ctx: &mut Ctx, model: &str, obj: &mut Obj) {
    match model {
        "CertificateGenerate"
        | "CertificateAuthorityGenerate"
        | "CertificateSigningRequestSign" => {
            let cn = obj
                .get("dn_commonname")
                .and_then(Value::as_str)
                .or_else(|| obj.get("descr").and_then(Value::as_str))
                .unwrap_or("certificate")
                .to_string();
            let (crt, prv) = make_pem(&cn);
            obj.insert("crt".into(), json!(crt));
            if obj.get("prv").is_none_or(Value::is_null) {
                obj.insert("prv".into(), json!(prv));
            }
        }
        "CertificateSigningRequest" => {
            let cn = obj
                .get("dn_commonname")
                .and_then(Value::as_str)
                .unwrap_or("csr")
                .to_string();
            let (crt, prv) = make_pem(&cn);
            // Not a real CSR: a PEM block with the request's subject, clearly labelled.
            let body = STANDARD.encode(format!(
                "emulated certificate signing request for {cn}\n{crt}"
            ));
            obj.insert("csr".into(), json!(format!("-----BEGIN CERTIFICATE REQUEST-----\n{body}\n-----END CERTIFICATE REQUEST-----\n")));
            obj.insert("prv".into(), json!(prv));
        }
        "OpenVPNServer" | "OpenVPNClient" => {
            let used: Vec<i64> = ["OpenVPNServer", "OpenVPNClient"]
                .iter()
                .flat_map(|m| ctx.store.collections.get(*m).cloned().unwrap_or_default())
                .filter_map(|o| o.get("vpnid").and_then(Value::as_i64))
                .collect();
            let vpnid = used.iter().max().copied().unwrap_or(0) + 1;
            obj.insert("vpnid".into(), json!(vpnid));
            let prefix = if model == "OpenVPNServer" {
                "ovpns"
            } else {
                "ovpnc"
            };
            obj.insert("vpnif".into(), json!(format!("{prefix}{vpnid}")));
        }
        "WireGuardTunnel" => {
            let n = ctx
                .store
                .collections
                .get("WireGuardTunnel")
                .map_or(0, Vec::len);
            obj.insert("name".into(), json!(format!("tun_wg{n}")));
            enrich_updated(model, obj);
        }
        _ => {}
    }
}

/// Computed fields that follow other fields on every write.
pub fn enrich_updated(model: &str, obj: &mut Obj) {
    if model == "WireGuardTunnel"
        && let Some(private) = obj.get("privatekey").and_then(Value::as_str)
    {
        // Not a real Curve25519 derivation: a stable stand-in derived from the private key.
        let public = STANDARD.encode(Sha256::digest(private.as_bytes()));
        obj.insert("publickey".into(), json!(public));
    }
}

/// Value checks beyond the schema: "WireGuard private keys must be valid Curve25519".
pub const VALUE_VALIDATORS: &[(&str, &str)] = &[
    ("WireGuardTunnel", "privatekey"),
    ("WireGuardPeer", "publickey"),
    ("WireGuardPeer", "presharedkey"),
];

pub fn validate_values(model: &str, obj: &Obj) -> ApiResult<()> {
    for (m, field) in VALUE_VALIDATORS {
        if *m != model {
            continue;
        }
        let Some(value) = obj
            .get(*field)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        let ok = STANDARD.decode(value).is_ok_and(|b| b.len() == 32);
        if !ok {
            return Err(ApiError::bad(
                "WIREGUARD_KEY_VALIDATOR_FAILED",
                format!("Field `{field}` must be a valid WireGuard key (32 bytes, base64)."),
            ));
        }
    }
    Ok(())
}

/// String ids for new objects of named models: `lan` if there is none, else the next free
/// `optN`, for interfaces (`NetworkInterface::get_next_id`); the interface id for DHCP servers.
pub fn assign_string_id(
    store: &Store,
    model: &str,
    existing: &[Value],
    obj: &mut Obj,
) -> ApiResult<()> {
    match model {
        "NetworkInterface" => {
            let id = if Store::string_id_index(existing, "lan").is_none() {
                "lan".to_string()
            } else {
                let n = (1..)
                    .find(|n| Store::string_id_index(existing, &format!("opt{n}")).is_none())
                    .unwrap_or(1);
                format!("opt{n}")
            };
            obj.insert(STRING_ID_KEY.into(), json!(id));
        }
        "DHCPServer" => {
            let iface = obj
                .get("interface")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if Store::string_id_index(existing, &iface).is_some() {
                return Err(ApiError::bad(
                    "FIELD_MUST_BE_UNIQUE",
                    format!(
                        "Field `interface` must be unique: interface `{iface}` already has a DHCP server."
                    ),
                ));
            }
            let _ = store;
            obj.insert(STRING_ID_KEY.into(), json!(iface));
        }
        m if tables::is_string_id(m) => {
            let n = existing.len();
            obj.insert(
                STRING_ID_KEY.into(),
                json!(format!("{}{n}", m.to_lowercase())),
            );
        }
        _ => {}
    }
    Ok(())
}

/// pfrest's `User::_create` and `UserGroup::_create` set `system/nextuid` (`nextgid`) to one
/// past the id created, given or not.
pub fn count_next_id(store: &mut Store, model: &str, obj: &Obj) {
    let field = match model {
        "User" => "uid",
        "UserGroup" => "gid",
        _ => return,
    };
    if let Some(id) = obj.get(field).and_then(Value::as_i64) {
        store.next_ids.insert(model.to_string(), id + 1);
    }
}

/// A group's `member` holds uids, shown as names (pfrest's `ForeignModelField` with
/// `model_field_internal: uid`): the emulator keeps names, so a user's rename is carried into
/// its groups, and its delete leaves the bare uid (see [`after_delete`]).
pub fn after_update(store: &mut Store, model: &str, before: &Obj, after: &Obj) {
    if model == "User"
        && let (Some(old), Some(new)) = (before.get("name"), after.get("name"))
        && old != new
    {
        replace_group_member(store, old, new.clone());
    }
}

fn replace_group_member(store: &mut Store, member: &Value, with: Value) {
    for group in store.collections.get_mut("UserGroup").into_iter().flatten() {
        if let Some(Value::Array(members)) = group.get_mut("member") {
            for m in members.iter_mut().filter(|m| *m == member) {
                *m = with.clone();
            }
        }
    }
}

/// Side effects of deletes on other state.
pub fn after_delete(store: &mut Store, model: &str, obj: &Obj) {
    // pfrest's `User::apply_delete` calls `local_user_del`, which takes the user out of its
    // groups in memory only, never written: the groups keep its uid, and pfrest shows it bare
    // (lab-tested: `what_names_a_renamed_or_deleted_user_stays_like_pfrest`).
    if model == "User"
        && let (Some(name), Some(uid)) = (obj.get("name"), obj.get("uid").and_then(Value::as_i64))
    {
        replace_group_member(store, name, json!(uid.to_string()));
    }
    // pfrest's CertificateAuthority::_delete removes the CA from the certificates it signed
    // (seen on the pfrest lab) and deletes its certificate revocation lists (read in its source:
    // the lab cannot make a CRL).
    if model == "CertificateAuthority"
        && let Some(refid) = obj.get("refid").and_then(Value::as_str)
    {
        let by_it = |o: &Value| o.get("caref").and_then(Value::as_str) == Some(refid);
        for cert in store
            .collections
            .get_mut("Certificate")
            .into_iter()
            .flatten()
        {
            if by_it(cert)
                && let Some(c) = cert.as_object_mut()
            {
                c.insert("caref".into(), Value::Null);
            }
        }
        if let Some(crls) = store.collections.get_mut("CertificateRevocationList") {
            crls.retain(|crl| !by_it(crl));
        }
    }
    if model == "NetworkInterface"
        && let Some(id) = obj.get(STRING_ID_KEY).and_then(Value::as_str)
    {
        if let Some(list) = store.collections.get_mut("DHCPServer") {
            list.retain(|d| d.get(STRING_ID_KEY).and_then(Value::as_str) != Some(id));
        }
        // NetworkInterface::_delete also deletes the rules and port forwards whose `interface`
        // is this one alone (`$rule['interface'] == $this->id` on config.xml's comma-joined
        // text); a floating rule listing it among others, NAT mappings and virtual IPs keep
        // naming it (lab-tested: `what_names_a_deleted_interface_or_vip_stays_like_pfrest`).
        let on_it_alone = |o: &Value| match o.get("interface") {
            Some(Value::String(s)) => s == id,
            Some(Value::Array(all)) => all.len() == 1 && all[0] == id,
            _ => false,
        };
        for model in ["FirewallRule", "PortForward"] {
            if let Some(list) = store.collections.get_mut(model) {
                list.retain(|o| !on_it_alone(o));
            }
        }
    }
}

/// Singletons with live values.
pub fn refresh_singleton(store: &Store, model: &str, obj: &mut Obj) {
    if model == "FirewallStatesSize" {
        let n = store.collections.get("FirewallState").map_or(0, Vec::len);
        obj.insert("currentstates".into(), json!(n));
    }
}

/// The body of a binary download (PKCS12 export). Not a real PKCS#12 archive: a DER-free
/// placeholder naming the certificate, so clients can test the octet-stream path.
pub fn binary_download(model: &str, obj: &Obj) -> Reply {
    let certref = obj.get("certref").and_then(Value::as_str).unwrap_or("");
    let mut body = vec![0x30, 0x82];
    body.extend_from_slice(format!("pfsense-emulator {model} {certref}").as_bytes());
    Reply::raw(200, "application/octet-stream", body).with_header(
        "Content-Disposition",
        &format!("attachment; filename=\"{certref}.p12\""),
    )
}

/// Every add-on package the spec names (`--packages all`).
pub fn all_package_names(spec: &pfsense_spec::Spec) -> Vec<String> {
    // Only the packages the spec's endpoints need: the other known packages (nmap, iperf)
    // stay available to install through `/system/package`.
    let mut names: Vec<String> = Vec::new();
    for op in &spec.operations {
        for p in &op.required_packages {
            if !names.contains(p) {
                names.push(p.clone());
            }
        }
    }
    names
}
