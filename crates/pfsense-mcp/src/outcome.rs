//! What a tool call returns to the model: data on success, an actionable error otherwise, and
//! previews of mutations that were not confirmed. Secrets are redacted from anything we echo.

use crate::catalog::ToolDef;
use crate::client::{ApiResponse, CallError};
use crate::request::PreparedRequest;
use crate::spec::{Risk, tables::is_sensitive_field};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};

/// What to do next for well-known API errors, by `response_id` prefix. Each entry covers a
/// behaviour described in `shared/docs/pfsense-rest-api.md`.
const HINTS: &[(&str, &str)] = &[
    (
        "AUTH_AUTHENTICATION_FAILED",
        "Authentication failed. Check the API key or username/password; a fresh pfSense accepts only BasicAuth until KeyAuth is added to the REST API's auth_methods (System > REST API > Settings).",
    ),
    (
        "AUTH_AUTHORIZATION_FAILED",
        "The user lacks the privilege for this endpoint (page-all, or the api-v2-… privilege named in the tool's path).",
    ),
    (
        "ENDPOINT_REST_API_IS_NOT_ENABLED",
        "The REST API is disabled on the firewall (System > REST API > Settings); it asks to retry after a few seconds.",
    ),
    (
        "ENDPOINT_CLIENT_NOT_ALLOWED_BY_ACL",
        "The REST API access list does not allow this client's address.",
    ),
    (
        "ENDPOINT_INTERFACE_NOT_ALLOWED",
        "The REST API does not listen on the interface this request arrived on (allowed_interfaces).",
    ),
    (
        "ENDPOINT_METHOD_NOT_ALLOWED_IN_READ_ONLY_MODE",
        "The REST API on the firewall is in read-only mode: only reads are accepted.",
    ),
    (
        "MODEL_MISSING_REQUIRED_PACKAGE",
        "The add-on package this endpoint needs is not installed; install it (pfsense_create_system_package) or ask the administrator.",
    ),
    (
        "MODEL_OBJECT_NOT_FOUND",
        "No object has that id. Ids are array positions and shift down after a delete: list the collection again to get current ids.",
    ),
    (
        "MODEL_PARENT_OBJECT_NOT_FOUND",
        "The parent_id does not exist: list the parent collection to find it.",
    ),
    (
        "MODEL_REQUIRES_ID",
        "Pass the object's `id` (list the collection to find it).",
    ),
    (
        "MODEL_PARENT_ID_REQUIRED",
        "Pass `parent_id`: the id of the object this one is nested under.",
    ),
    (
        "FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND",
        "A field refers to an object that does not exist (an alias, interface, certificate, gateway …): create it first or use an existing one.",
    ),
    (
        "FIELD_IS_REQUIRED",
        "A required field is missing: the message names it.",
    ),
    (
        "FIELD_INVALID_CHOICE",
        "A field has a value outside its allowed choices: the tool's schema lists them.",
    ),
    (
        "FIELD_INVALID_TYPE",
        "A field has the wrong type (pfSense does not convert \"1\" to 1): the message names it.",
    ),
    (
        "FIELD_MUST_BE_UNIQUE",
        "Another object already uses this value: pick another, or update that object instead.",
    ),
    (
        "MODEL_CANNOT_BE_DELETED_WHILE_REFERENCED",
        "Other objects still refer to this one (listed in the error data): change or delete them first.",
    ),
    (
        "MODEL_DELETE_MANY_REQUIRES_QUERY_PARAMS",
        "A bulk delete needs filters in `query`, or `query: {\"all\": true}` to delete everything.",
    ),
    (
        "MODEL_MANY_MINIMUM_REACHED",
        "The collection cannot have fewer objects than its minimum.",
    ),
    (
        "MODEL_WRITE_CONFIG_LOCKED",
        "The firewall's configuration is locked by another write: retry in a few seconds.",
    ),
    (
        "DISPATCHER_TOO_MANY_QUEUED_PROCESSES",
        "The firewall is busy applying changes: retry in a few seconds.",
    ),
    (
        "CONTENT_HANDLER_ENCODE_NOT_FOUND",
        "The firewall refused the Accept header for this endpoint.",
    ),
    (
        "MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
        "This nested endpoint needs `parent_id` (and on some package endpoints the singular form does not work at all: use the plural list/create tools).",
    ),
    // Seen on the pfrest lab (v2.7.1 to v2.10.0): an interface update is refused with this
    // when its description is the default, the id in capitals, which pfrest shows when the
    // config holds none (`from_internal_descr`) and then checks against `get_pf_reserved()`,
    // which reserves every interface id in capitals; pfSense's webGUI leaves interface names
    // out of that check.
    (
        "FILTER_NAME_VALIDATOR_RESERVED_NAME_USED",
        "The name is one pf reserves: a pf keyword or table name, or an interface id in capitals (WAN, LAN, OPT1 …). An interface change is refused with it while the interface keeps its default description (its id in capitals): pfrest checks the description again on every change. Pass `descr` with another name in the same call (`wan` in lower case is accepted); pfSense shows it as the interface's name.",
    ),
    (
        "LENGTH_VALIDATOR",
        "A value is too long or too short: the message says the limit.",
    ),
    (
        "NUMERIC_RANGE_VALIDATOR",
        "A number is out of range: the message says the range.",
    ),
];

pub fn hint_for(response_id: &str) -> Option<&'static str> {
    HINTS
        .iter()
        .find(|(prefix, _)| response_id.starts_with(prefix))
        .map(|(_, h)| *h)
}

/// Replace the values of sensitive fields (by name, at any depth) with a placeholder.
pub fn redact(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if is_sensitive_field(k)
                    && !v.is_null()
                    && v != &Value::Bool(false)
                    && !v.is_boolean()
                {
                    out.insert(k.clone(), Value::String(REDACTED.into()));
                } else {
                    out.insert(k.clone(), redact(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        // An object sent as its JSON text (a common slip of models: `"objects": "[{…}]"`)
        // holds its secret fields all the same.
        Value::String(text) => match json_text(text) {
            Some(inner) => {
                let redacted = redact(&inner);
                if redacted == inner {
                    value.clone()
                } else {
                    Value::String(redacted.to_string())
                }
            }
            None => value.clone(),
        },
        other => other.clone(),
    }
}

/// The object or array a string holds as JSON text, if it does.
pub fn json_text(text: &str) -> Option<Value> {
    let t = text.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// What a redacted value looks like.
pub const REDACTED: &str = "<redacted>";

/// A result with a text block and structured content.
pub fn result(text: String, structured: Value, is_error: bool) -> CallToolResult {
    let mut r = if is_error {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    r.structured_content = Some(structured);
    r
}

/// A tool-level error with a message the model can act on.
pub fn error(message: impl Into<String>) -> CallToolResult {
    let message = message.into();
    result(
        message.clone(),
        json!({"error": {"message": message}}),
        true,
    )
}

/// The result of a mutation that was not confirmed: the exact request, nothing sent.
/// What a preview shows beyond the request: the target's current state, the diff, the
/// fingerprint to pass back as `expect_state`, and whether the change can be undone.
#[derive(Debug, Default, Clone)]
pub struct PreviewExtras {
    /// The target's current state (already redacted).
    pub current: Option<Value>,
    /// Why the current state could not be read.
    pub state_error: Option<String>,
    /// Field-level changes (already redacted).
    pub diff: Option<Value>,
    /// The same diff as short lines for the text block.
    pub diff_lines: Vec<String>,
    pub fingerprint: Option<String>,
    pub undoable: bool,
    /// "yes: …" or "no: …".
    pub undo: Option<String>,
    /// Whether and how a human will be asked when the call is confirmed.
    pub human: Option<String>,
    /// Why the guards would refuse the call when confirmed (`crate::lockout`): the preview is
    /// then an error with nothing to confirm, saying why first.
    pub refused_when_confirmed: Option<String>,
}

pub fn preview(
    def: &ToolDef,
    request: &PreparedRequest,
    base_url: &str,
    extras: &PreviewExtras,
) -> CallToolResult {
    let mut query = Map::new();
    for (k, v) in &request.query {
        let shown = if is_sensitive_field(k.trim_end_matches("[]")) {
            REDACTED.to_string()
        } else {
            v.clone()
        };
        query.insert(k.clone(), Value::String(shown));
    }
    let redacted_request = PreparedRequest {
        query: request
            .query
            .iter()
            .map(|(k, v)| {
                let shown = if is_sensitive_field(k.trim_end_matches("[]")) {
                    REDACTED.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect(),
        body: request.body.as_ref().map(redact),
        ..request.clone()
    };
    let url = format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        redacted_request.path_and_query()
    );
    let mut structured = json!({
        "preview": true,
        "executed": false,
        "tool": def.name,
        "risk": def.risk.as_str(),
        "request": {
            "method": request.method.as_str(),
            "url": url,
            "path": request.path,
            "query": query,
        },
    });
    if let Some(body) = &redacted_request.body {
        structured["request"]["body"] = body.clone();
    }
    if let Some(reason) = def.danger {
        structured["danger"] = Value::String(reason.to_string());
    }
    let apply_note = apply_note(def, &request.body, &request.query);
    if let Some(note) = &apply_note {
        structured["apply"] = Value::String(note.clone());
    }
    // What refuses the confirmation comes first: a text cut to the result budget keeps its head.
    let mut text = match &extras.refused_when_confirmed {
        Some(why) => format!(
            "Preview only, nothing was changed, and confirming would be refused: {}. Without that refusal, {} {} would be sent to the firewall ({} risk).",
            why.trim_end_matches('.'),
            request.method,
            redacted_request.path_and_query(),
            def.risk.as_str()
        ),
        None => format!(
            "Preview only, nothing was changed. {} {} would be sent to the firewall ({} risk).",
            request.method,
            redacted_request.path_and_query(),
            def.risk.as_str()
        ),
    };
    if let Some(note) = apply_note {
        text.push(' ');
        text.push_str(&note);
    }
    if def.risk >= Risk::Destructive {
        text.push_str(" This removes or replaces configuration.");
    }
    if let Some(current) = &extras.current {
        structured["current"] = current.clone();
    }
    if let Some(e) = &extras.state_error {
        structured["current_error"] = Value::String(e.clone());
        text.push_str(&format!(" The current state could not be read: {e}."));
    }
    if let Some(diff) = &extras.diff {
        structured["diff"] = diff.clone();
    }
    // What changes comes before the body: a text cut to the result budget keeps its head, and
    // the body is the caller's own arguments.
    if !extras.diff_lines.is_empty() {
        text.push_str("\nWhat changes:\n");
        text.push_str(&extras.diff_lines.join("\n"));
        text.push('\n');
    }
    if let Some(body) = &redacted_request.body {
        text.push_str(&format!(" Body: {body}."));
    }
    structured["undoable"] = Value::Bool(extras.undoable);
    if let Some(undo) = &extras.undo {
        structured["undo"] = Value::String(undo.clone());
        text.push_str(&format!(" Undo: {undo}."));
    }
    if let Some(human) = &extras.human {
        structured["human_confirmation"] = Value::String(human.clone());
        text.push_str(&format!(" {human}"));
    }
    if let Some(why) = &extras.refused_when_confirmed {
        // Nothing to confirm (as when pfrest's dry run refuses): no fingerprint to confirm with.
        let next = "nothing to confirm: the same call with confirm: true is refused for the reason above; do what it says, then preview again".to_string();
        structured["refused_when_confirmed"] = Value::String(why.clone());
        text.push_str(&format!(" Next: {next}."));
        structured["next"] = Value::String(next);
        return result(text, structured, true);
    }
    let next = match &extras.fingerprint {
        Some(fp) => {
            structured["fingerprint"] = Value::String(fp.clone());
            format!(
                "call again with the same arguments plus confirm: true and expect_state: \"{fp}\" (refused if the target changes in between)"
            )
        }
        None => "call again with the same arguments and confirm: true".to_string(),
    };
    text.push_str(&format!(" To execute, {next}."));
    structured["next"] = Value::String(next);
    result(text, structured, false)
}

fn apply_requested(body: &Option<Value>, query: &[(String, String)]) -> bool {
    body.as_ref()
        .and_then(|b| b.get("apply"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || query.iter().any(|(k, v)| k == "apply" && v == "true")
}

fn apply_note(def: &ToolDef, body: &Option<Value>, query: &[(String, String)]) -> Option<String> {
    let step = def.apply?;
    if apply_requested(body, query) {
        Some(format!(
            "The change is applied in the same request (`apply: true`); `{}` shows whether anything is still pending.",
            step.status_tool
        ))
    } else {
        Some(format!(
            "The change stays pending until `{}` runs (or pass `apply: true`).",
            step.tool
        ))
    }
}

/// A successful call.
pub fn success(def: &ToolDef, request: &PreparedRequest, response: &ApiResponse) -> CallToolResult {
    let data = response.data();
    let mut structured = json!({ "data": data });
    let mut text = data.to_string();
    if def.is_mutation()
        && let Some(step) = def.apply
        && !apply_requested(&request.body, &request.query)
    {
        structured["pending_apply"] = json!({
            "subsystem": step.subsystem,
            "tool": step.tool,
            "status_tool": step.status_tool,
        });
        text.push_str(&format!(
            "\nThe change is saved but not active yet: call `{}` to apply it.",
            step.tool
        ));
    }
    if let Some(pre) = &response.preamble {
        structured["firewall_output"] = Value::String(pre.clone());
    }
    result(text, structured, false)
}

/// A successful read, before `bounds::bound_result` shapes it and writes its text: the data
/// is not serialised here only to be serialised again there.
pub fn read_success(mut response: ApiResponse) -> CallToolResult {
    let preamble = response.preamble.take();
    let mut structured = Map::new();
    structured.insert("data".into(), response.into_data());
    if let Some(pre) = preamble {
        structured.insert("firewall_output".into(), Value::String(pre));
    }
    result(String::new(), Value::Object(structured), false)
}

/// A failed call.
pub fn failure(def: &ToolDef, call_error: &CallError) -> CallToolResult {
    match call_error {
        CallError::Api {
            http_status,
            envelope,
        } => {
            let hint = hint_for(&envelope.response_id);
            let mut text = format!(
                "pfSense refused {}: HTTP {} {} (response_id {}): {}",
                def.name, http_status, envelope.status, envelope.response_id, envelope.message
            );
            if let Some(h) = hint {
                text.push_str(&format!(" Next: {h}"));
            }
            let mut err = json!({
                "http_status": http_status,
                "status": envelope.status,
                "response_id": envelope.response_id,
                "message": envelope.message,
            });
            if let Some(h) = hint {
                err["hint"] = Value::String(h.into());
            }
            if !envelope.data.is_null() && envelope.data != json!([]) {
                err["data"] = redact(&envelope.data);
            }
            result(text, json!({ "error": err }), true)
        }
        CallError::NotJson {
            http_status,
            content_type,
            snippet,
        } => {
            let hint = if (300..400).contains(http_status) {
                "pfsense-mcp does not follow redirects (the credentials would go along to wherever they point): set PFSENSE_HOST to the address the firewall serves the API on, e.g. https:// when its webGUI redirects http:// there."
            } else if *http_status == 404 {
                "The URL is not an API endpoint on this firewall: is the REST API package installed, and is it v2 (the tools were generated from a v2 spec)?"
            } else if *http_status >= 500 {
                "The firewall or a proxy in front of it failed; retry, and check the firewall's logs."
            } else {
                "Check that PFSENSE_HOST points at the firewall's webGUI address."
            };
            let text = format!(
                "{} got HTTP {http_status} with {content_type} instead of the REST API's JSON: {snippet}. {hint}",
                def.name
            );
            result(
                text.clone(),
                json!({"error": {"http_status": http_status, "content_type": content_type, "message": text}}),
                true,
            )
        }
        other => error(format!("{} failed: {other}", def.name)),
    }
}

/// Output schemas: JSON Schema 2020-12 with a root of type object (MCP 2025-11-25), one per
/// kind of result, shared by the tools that return it.
///
/// Every result carries structured content: `{data, paging?, pending_apply?, change_id?, …}`
/// on success, the preview (`{preview, executed, request, …}`) of an unconfirmed change, and
/// `{error: {message, …}}` on failure. An error result is checked against the schema too (the
/// TypeScript client validates any structured content), so no property is required. A
/// generated tool's schema says only that much: typing `data` from the spec's response schemas
/// would not fit full mode's tools/list budget (100k tokens for 677 tools). Our own tools'
/// results are described in their descriptions; typed schemas for them would push compact
/// mode past its 6k tokens (5.7k with these), so only find / describe have one.
pub mod output {
    use serde_json::{Map, Value};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    /// Generated tools, `pfsense_call` and our own tools whose results are objects of their own.
    pub const OBJECT: &str = r#"{"type":"object"}"#;
    /// `pfsense_find_tools`.
    pub const FIND_TOOLS: &str = r#"{"type":"object","properties":{"tools":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"summary":{"type":"string"},"module":{"type":"string"},"risk":{"type":"string"}},"required":["name"]}}}}"#;
    /// `pfsense_describe_tool`.
    pub const DESCRIBE_TOOL: &str = r#"{"type":"object","properties":{"name":{"type":"string"},"description":{"type":"string"},"method":{"type":"string"},"path":{"type":"string"},"risk":{"type":"string"},"input_schema":{"type":"object"},"offered":{"type":"boolean"},"apply_tool":{"type":"string"},"required_packages":{"type":"array","items":{"type":"string"}},"not_offered_because":{"type":"string"}}}"#;

    type Schema = Arc<Map<String, Value>>;

    /// The schema text parsed, once per distinct text.
    pub fn parsed(text: &'static str) -> Schema {
        static CACHE: OnceLock<Mutex<HashMap<&'static str, Schema>>> = OnceLock::new();
        let mut cache = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        cache
            .entry(text)
            .or_insert_with(|| Arc::new(serde_json::from_str(text).unwrap_or_default()))
            .clone()
    }

    /// The output schema of every generated tool.
    pub fn generated() -> Schema {
        parsed(OBJECT)
    }
}
