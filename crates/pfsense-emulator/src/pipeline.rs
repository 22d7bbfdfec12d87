//! The request pipeline in pfrest's order (first failure wins): API enabled, allowed interfaces,
//! authentication, authorization, access list, Accept, method / read-only mode, body decoding,
//! control parameters. Then the engine runs the operation.

use crate::auth::{self, Presented};
use crate::engine::{self, Answer, Ctx};
use crate::query::{Filter, SortRequest, parse_filter};
use crate::reply::{ApiError, ApiResult, Reply};
use crate::state::Shared;
use crate::store::Store;
use pfsense_spec::php_sort::Flags;
use pfsense_spec::{Method, PathKind};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// A request as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
    pub peer: IpAddr,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The interface every request is considered to arrive on (the emulator listens on loopback;
/// a real box would use the interface owning the address the client reached).
pub const RECEIVING_INTERFACE: &str = "lan";

/// Where the OpenAPI spec is served without authentication.
pub const SCHEMA_PATH: &str = "/api/v2/schema/openapi";

/// Answers with text printed before the JSON body on real boxes.
pub const TEXT_BEFORE_JSON: &[(Method, &str, &str)] = &[
    // "PATCH /system/timezone prints `Setting timezone...done.` before the JSON"
    (
        Method::Patch,
        "system/timezone",
        "Setting timezone...done.\n",
    ),
];

pub fn process(shared: &Shared, req: &Incoming) -> Reply {
    if req.path == SCHEMA_PATH && req.method == "GET" {
        return Reply::raw(200, "application/json", shared.spec_bytes.clone());
    }
    let Some(entry) = shared.catalog.paths.get(&req.path) else {
        return Reply::nginx_404();
    };
    let mut store = match shared.store.lock() {
        Ok(s) => s,
        Err(poisoned) => poisoned.into_inner(),
    };
    match run(shared, &mut store, entry, req) {
        Ok(reply) => reply,
        Err(e) => e.into_reply(),
    }
}

fn setting<'a>(store: &'a Store, name: &str) -> Option<&'a Value> {
    store.singletons.get("RESTAPISettings")?.get(name)
}

fn parse_method(m: &str) -> Option<Method> {
    Method::ALL.into_iter().find(|x| x.as_str() == m)
}

fn run(
    shared: &Shared,
    store: &mut Store,
    entry: &crate::catalog::PathEntry,
    req: &Incoming,
) -> ApiResult<Reply> {
    // 1. API enabled.
    if setting(store, "enabled").and_then(Value::as_bool) == Some(false) {
        return Err(ApiError::new(
            503,
            "ENDPOINT_REST_API_IS_NOT_ENABLED",
            "The REST API is not enabled.",
        )
        .with_header("Retry-After", "5"));
    }
    // 2. Allowed interfaces (empty = any).
    if let Some(Value::Array(allowed)) = setting(store, "allowed_interfaces")
        && !allowed.is_empty()
        && !allowed
            .iter()
            .any(|a| a.as_str() == Some(RECEIVING_INTERFACE) || a.as_str() == Some("any"))
    {
        return Err(ApiError::new(
            403,
            "ENDPOINT_INTERFACE_NOT_ALLOWED",
            "The REST API is not allowed on the interface that received this request.",
        ));
    }
    let method = parse_method(&req.method);
    let op_index = method.and_then(|m| entry.ops.get(&m).copied());
    let op = op_index.map(|i| shared.catalog.op(i));

    // 3. Authentication (endpoint overrides: Basic only) and authorization.
    let methods: Vec<String> = if op.is_some_and(|o| o.basic_auth_only) {
        vec!["BasicAuth".into()]
    } else {
        setting(store, "auth_methods")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_else(|| vec!["BasicAuth".into()])
    };
    let presented = Presented {
        authorization: req.header("authorization"),
        api_key: req.header("x-api-key"),
    };
    let rule = auth::requested_rule(crate::rules::version(&shared.catalog));
    let user = auth::authenticate(store, &methods, &presented, &shared.jwt_secret, rule)?;
    auth::authorize(
        store,
        &user,
        &pfsense_spec::naming::endpoint_privilege(&req.path, &req.method),
    )?;

    // 4. Access list: by weight, first match; no match denies.
    check_access_list(store, req.peer, &user)?;

    // 5. Accept, compared as one whole lower-cased string.
    let accept = req
        .header("accept")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let binary = op.is_some_and(|o| o.binary_response);
    let accept_ok = match accept.as_str() {
        "application/octet-stream" => binary,
        "" | "*/*" | "application/json" => !binary,
        _ => false,
    };
    if !accept_ok {
        return Err(ApiError::new(
            406,
            "CONTENT_HANDLER_ENCODE_NOT_FOUND",
            format!("No content handler can encode the response as `{accept}`."),
        ));
    }

    // 6. Method offered; read-only mode.
    let (Some(method), Some(op)) = (method, op) else {
        return Err(ApiError::new(
            405,
            "ENDPOINT_METHOD_NOT_ALLOWED",
            format!("Method `{}` is not allowed for this endpoint.", req.method),
        ));
    };
    if method != Method::Get && setting(store, "read_only").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::new(
            405,
            "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE",
            "The REST API is in read-only mode: only GET requests are allowed.",
        ));
    }

    // 7. Body by content type.
    let data = decode_body(method, req)?;

    // 8. Control parameters, validated and removed.
    let plural_read = entry.kind == PathKind::Plural && method.sends_query();
    let dry_run_known = crate::rules::version(&shared.catalog) >= DRY_RUN_SINCE;
    // `sort_by` names fields of the endpoint's model (the generic collection endpoints; the
    // special ones take none).
    let sorted_model = (matches!(entry.kind, PathKind::Plural | PathKind::Item)
        && crate::special::handler(method, &entry.rel).is_none())
    .then_some(entry.model.as_str());
    let is_sort_field =
        |field: &str| sorted_model.is_none_or(|model| shared.catalog.field(model, field).is_some());
    let (mut control, data) = extract_control(
        data,
        plural_read,
        entry.kind,
        method,
        dry_run_known,
        &is_sort_field,
    )?;
    // "the header can turn a dry run on but not off"
    if dry_run_known
        && req.header("prefer").is_some_and(|p| {
            p.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("dry-run"))
        })
    {
        control.dry_run = true;
    }
    // Measured on the lab (v2.8.4 to v2.10.0): a plural DELETE ignores dry run and deletes; a
    // plural PUT with dry run answers 500.
    if control.dry_run && entry.kind == PathKind::Plural {
        match method {
            Method::Delete => control.dry_run = false,
            Method::Put => {
                return Err(ApiError::new(
                    500,
                    "ENDPOINT_RECEIVED_UNEXPECTED_ERROR",
                    "A dry run of a replace-all fails on pfrest.",
                ));
            }
            _ => {}
        }
    }

    let mut ctx = Ctx {
        catalog: &shared.catalog,
        store,
        user,
        entry,
        op,
        method,
        control,
        data,
        jwt_secret: &shared.jwt_secret,
        started: crate::store::now_unix(),
        peer: req.peer,
    };
    // A dry run validates and answers the would-be object; the configuration, pending changes
    // and history stay as they were.
    let saved = ctx.control.dry_run.then(|| ctx.store.clone());
    let answer = engine::execute(&mut ctx);
    if let Some(saved) = saved {
        *ctx.store = saved;
    }
    let answer = answer?;
    Ok(match answer {
        Answer::Data(data) if !op.enveloped => Reply::json(200, &data),
        Answer::Data(data) => {
            let mut reply = Reply::ok(data);
            if let Some((_, _, text)) = TEXT_BEFORE_JSON
                .iter()
                .find(|(m, p, _)| *m == method && *p == entry.rel)
            {
                let mut body = text.as_bytes().to_vec();
                body.extend_from_slice(&reply.body);
                reply.body = body.into();
            }
            reply
        }
        Answer::Reply(reply) => reply,
    })
}

fn check_access_list(store: &Store, peer: IpAddr, user: &str) -> ApiResult<()> {
    let mut entries: Vec<&Value> = store
        .collections
        .get("RESTAPIAccessListEntry")
        .into_iter()
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.get("weight").and_then(Value::as_i64).unwrap_or(0));
    for e in entries {
        let network = e.get("network").and_then(Value::as_str).unwrap_or("");
        let users_ok = match e.get("users").and_then(Value::as_array) {
            Some(u) if !u.is_empty() => u.iter().any(|x| x.as_str() == Some(user)),
            _ => true,
        };
        if users_ok && network_contains(network, peer) {
            if e.get("type").and_then(Value::as_str) == Some("deny") {
                break;
            }
            return Ok(());
        }
    }
    Err(ApiError::new(
        403,
        "ENDPOINT_CLIENT_NOT_ALLOWED_BY_ACL",
        "The client is not allowed by the REST API access list.",
    ))
}

/// Whether `addr` lies in `cidr` (`0.0.0.0/0`, `::/0`, `127.0.0.1/32`, a bare address).
pub fn network_contains(cidr: &str, addr: IpAddr) -> bool {
    let (net, prefix) = match cidr.split_once('/') {
        Some((n, p)) => (n, p.parse::<u32>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    // Loopback IPv6 clients match IPv4-mapped rules and the other way round only when equal.
    let addr = match (net, addr) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        _ => addr,
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let p = prefix.unwrap_or(32).min(32);
            let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            (u32::from(n) & mask) == (u32::from(a) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let p = prefix.unwrap_or(128).min(128);
            let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            (u128::from(n) & mask) == (u128::from(a) & mask)
        }
        _ => false,
    }
}

fn decode_body(method: Method, req: &Incoming) -> ApiResult<Value> {
    let content_type = req
        .header("content-type")
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|c| !c.is_empty());
    let content_type = content_type.unwrap_or_else(|| {
        if method.sends_query() {
            "application/x-www-form-urlencoded".into()
        } else {
            "application/json".into()
        }
    });
    match content_type.as_str() {
        "application/json" => {
            if req.body.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(Value::Object(Map::new()));
            }
            let value: Value = serde_json::from_slice(&req.body).map_err(|e| {
                ApiError::bad(
                    "JSON_CONTENT_HANDLER_COULD_NOT_DECODE_JSON",
                    format!("The request body could not be decoded as JSON: {e}"),
                )
            })?;
            match value {
                Value::Object(_) | Value::Array(_) => Ok(value),
                _ => Err(ApiError::bad(
                    "JSON_CONTENT_HANDLER_COULD_NOT_DECODE_JSON",
                    "The request body must be a JSON object or list.",
                )),
            }
        }
        "application/x-www-form-urlencoded" => {
            // The query string if it is non-empty, else the body: never both.
            let source: &[u8] = if !req.query.is_empty() {
                req.query.as_bytes()
            } else {
                &req.body
            };
            Ok(Value::Object(parse_form(source)))
        }
        other => Err(ApiError::new(
            415,
            "CONTENT_HANDLER_DECODE_NOT_FOUND",
            format!("No content handler can decode `{other}`."),
        )),
    }
}

/// Form data with pfrest's value guessing: true/false/null, all-digit → int ("-1" stays a
/// string), numeric with "." → float, `a[]=` → list.
pub fn parse_form(source: &[u8]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(source) {
        let guessed = guess(&value);
        if let Some(list_key) = key.strip_suffix("[]") {
            match out
                .entry(list_key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(items) => items.push(guessed),
                slot => *slot = Value::Array(vec![guessed]),
            }
        } else {
            out.insert(key.into_owned(), guessed);
        }
    }
    out
}

fn guess(v: &str) -> Value {
    match v {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "null" => return Value::Null,
        _ => {}
    }
    if !v.is_empty()
        && v.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = v.parse::<u64>()
    {
        return Value::from(n);
    }
    if v.contains('.')
        && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && v.matches('.').count() == 1
        && let Ok(f) = v.parse::<f64>()
    {
        return Value::from(f);
    }
    Value::String(v.to_string())
}

/// Control parameters, already validated.
#[derive(Debug, Clone, Default)]
pub struct Control {
    pub id: Option<Value>,
    pub parent_id: Option<Value>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub sort: SortRequest,
    pub reverse: bool,
    pub append: bool,
    pub remove: bool,
    pub placement: Option<usize>,
    pub apply: bool,
    pub run_async: bool,
    pub all: bool,
    pub filters: Vec<Filter>,
    /// `dry_run` (v2.8.0 and later): validate everything, write nothing.
    pub dry_run: bool,
}

/// pfrest versions with the `dry_run` control parameter and the `Prefer: dry-run` header.
pub const DRY_RUN_SINCE: (u32, u32, u32) = (2, 8, 0);

fn type_error(name: &str, expected: &str) -> ApiError {
    ApiError::bad(
        &format!("ENDPOINT_{}_FIELD_INVALID_TYPE", name.to_ascii_uppercase()),
        format!("The `{name}` parameter must be of type `{expected}`."),
    )
}

/// pfrest's answer to a sort parameter of the wrong type ("Field `sort_by` must be of type
/// `string`.").
fn field_type_error(name: &str) -> ApiError {
    ApiError::bad(
        &format!("ENDPOINT_{}_FIELD_INVALID_TYPE", name.to_ascii_uppercase()),
        format!("Field `{name}` must be of type `string`."),
    )
}

fn as_bool(name: &str, v: &Value) -> ApiResult<bool> {
    v.as_bool().ok_or_else(|| type_error(name, "boolean"))
}

fn as_count(name: &str, v: &Value) -> ApiResult<usize> {
    v.as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| type_error(name, "integer"))
}

/// The control parameters, validated and removed in pfrest's order (v2.7.1 to v2.10.0
/// `Endpoint::validate_endpoint_fields`: async, reverse, sort_by, sort_order, sort_flags, append,
/// remove, limit, offset, and from v2.8.0 dry_run; the first bad one answers), then placement and
/// apply. `is_sort_field`
/// tells whether `sort_by` may name a field: pfrest checks each one against the model
/// (`get_fields()`, which holds neither `id` nor `parent_id`) before it looks at `sort_order`.
fn extract_control(
    data: Value,
    plural_read: bool,
    kind: PathKind,
    method: Method,
    dry_run_known: bool,
    is_sort_field: &dyn Fn(&str) -> bool,
) -> ApiResult<(Control, Value)> {
    let mut control = Control {
        run_async: true,
        ..Control::default()
    };
    let Value::Object(mut map) = data else {
        // A JSON list (PUT replace-all): no control parameters possible.
        return Ok((control, data));
    };
    let mut take = |name: &str| map.remove(name);
    if let Some(v) = take("async") {
        control.run_async = as_bool("async", &v)?;
    }
    if let Some(v) = take("reverse") {
        control.reverse = as_bool("reverse", &v)?;
    }
    // A null counts as not sent (`isset`).
    if let Some(v) = take("sort_by").filter(|v| !v.is_null()) {
        let fields = match v {
            Value::Array(items) => items,
            one => vec![one],
        };
        let mut by = Vec::with_capacity(fields.len());
        for field in fields {
            let Value::String(field) = field else {
                return Err(field_type_error("sort_by"));
            };
            if !is_sort_field(&field) {
                return Err(ApiError::bad(
                    "ENDPOINT_SORT_BY_FIELD_NON_EXISTENT_FIELD",
                    "Field `sort_by` must be a valid field in the Model.",
                ));
            }
            by.push(field);
        }
        control.sort.by = Some(by);
    }
    if let Some(v) = take("sort_order").filter(|v| !v.is_null()) {
        control.sort.descending = match v.as_str() {
            None => return Err(field_type_error("sort_order")),
            Some("SORT_ASC") => false,
            Some("SORT_DESC") => true,
            Some(_) => {
                return Err(ApiError::bad(
                    "ENDPOINT_SORT_ORDER_FIELD_UNKNOWN_SORT_ORDER",
                    "Field `sort_order` must be one of: [`SORT_ASC`, `SORT_DESC`].",
                ));
            }
        };
    }
    if let Some(v) = take("sort_flags").filter(|v| !v.is_null()) {
        let name = v.as_str().ok_or_else(|| field_type_error("sort_flags"))?;
        control.sort.flags = Some(Flags::from_constant(name).ok_or_else(|| {
            ApiError::bad(
                "ENDPOINT_SORT_FLAGS_FIELD_UNKNOWN_SORT_FLAGS",
                "Field `sort_flags` must be one of: [`SORT_REGULAR`,`SORT_NUMERIC`,`SORT_STRING`,`SORT_LOCALE_STRING`,`SORT_NATURAL`,`SORT_FLAG_CASE`]",
            )
        })?);
    }
    if let Some(v) = take("append") {
        control.append = as_bool("append", &v)?;
    }
    if let Some(v) = take("remove") {
        control.remove = as_bool("remove", &v)?;
    }
    if let Some(v) = take("limit") {
        control.limit = Some(as_count("limit", &v)?);
    }
    if let Some(v) = take("offset") {
        control.offset = as_count("offset", &v)?;
    }
    if dry_run_known && let Some(v) = take("dry_run") {
        if method == Method::Get {
            return Err(ApiError::bad(
                "ENDPOINT_DRY_RUN_NOT_SUPPORTED_ON_GET",
                "The `dry_run` parameter is not supported on GET requests.",
            ));
        }
        control.dry_run = as_bool("dry_run", &v)?;
    }
    if let Some(v) = take("placement") {
        control.placement = Some(as_count("placement", &v)?);
    }
    // Only boolean true counts.
    if let Some(v) = take("apply") {
        control.apply = v == Value::Bool(true);
    }
    if kind != PathKind::Plural {
        control.id = take("id");
        control.parent_id = take("parent_id");
    }
    if plural_read {
        if let Some(v) = map.remove("all") {
            control.all = v == Value::Bool(true);
        }
        // Everything else in the query string of a plural read or delete is a filter.
        for (key, value) in std::mem::take(&mut map) {
            control.filters.push(parse_filter(&key, &value)?);
        }
    }
    Ok((control, Value::Object(map)))
}
