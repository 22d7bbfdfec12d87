//! The call pipeline of a generated tool, after the server has chosen the firewall and its
//! policy allows the tool: our own arguments are taken out once, the rest is checked,
//! normalised and built into one [`PreparedRequest`], and that request is what a read sends
//! and audits, and what a change previews, fingerprints, audits, journals and sends (through
//! the guards, `safety::flow`). Every refusal on the way leaves one audit line
//! ([`Refusals::refuse`]).

use crate::bounds::Paging;
use crate::catalog::ToolDef;
use crate::client::{CallError, Client};
use crate::outcome;
use crate::request::PreparedRequest;
use crate::safety::Safety;
use crate::safety::audit::{Entry, Outcome};
use crate::server::CallContext;
use rmcp::model::CallToolResult;
use serde_json::Value;
use std::sync::Arc;

/// Arguments as an object: a call without arguments has an empty one.
pub fn object_args(args: Value) -> Value {
    match args {
        Value::Null => Value::Object(Default::default()),
        other => other,
    }
}

/// Writes the audit line of a call refused before it reached the firewall.
pub struct Refusals<'a> {
    pub safety: Option<&'a Arc<Safety>>,
    pub firewall: &'a str,
    pub tool: &'a str,
    pub caller: &'a str,
}

impl Refusals<'_> {
    /// The refusal: an audit line with the (redacted) arguments and the message, and the
    /// error result that carries the message.
    pub fn refuse(&self, args: &Value, message: String) -> CallToolResult {
        if let Some(s) = self.safety {
            let mut entry = Entry::new(self.firewall, self.tool, self.caller, Outcome::Refused);
            entry.arguments = outcome::redact(&unknown_masked(self.tool, args));
            entry.message = Some(message.clone());
            s.record(&entry);
        }
        outcome::error(message)
    }
}

/// What an argument the tool does not have is recorded as.
pub const NOT_AN_ARGUMENT: &str = "<not recorded: not an argument of this tool>";

/// `args` with the values of arguments `tool` does not have masked: a misspelt secret field
/// (`passwrod`) is not known to be secret by its name, and the call is refused anyway.
fn unknown_masked(tool: &str, args: &Value) -> Value {
    let (Some(def), Value::Object(map)) = (crate::catalog::tool(tool), args) else {
        return args.clone();
    };
    Value::Object(
        map.iter()
            .map(|(k, v)| match def.arg(k).is_some() || k == "firewall" {
                true => (k.clone(), v.clone()),
                false => (k.clone(), Value::String(NOT_AN_ARGUMENT.into())),
            })
            .collect(),
    )
}

/// A call split into ours and the operation's, with its request built.
pub struct Prepared {
    /// The fingerprint a preview handed out (ours, never sent).
    pub expect_state: Option<String>,
    /// `confirm: true` (ours, never sent).
    pub confirmed: bool,
    /// `fields` and the page limit of a read (ours, never sent).
    pub paging: Paging,
    /// The operation's arguments, normalised by the tool's typed struct.
    pub normalized: Value,
    /// The one request: previewed, audited, journaled and sent.
    pub request: PreparedRequest,
}

/// Split `args` (an object, `firewall` already taken out) and build the request, or say why
/// the call is not made. `args` is left as far as the split got, for the refusal's audit line.
pub fn prepare(def: &'static ToolDef, args: &mut Value) -> Result<Prepared, String> {
    let expect_state = take_expect_state(def, args)?;
    if let Some(message) = arguments_misfit(def.name, def.schema(), args) {
        return Err(message);
    }
    let placeholders = crate::safety::secrets::placeholder_paths(args);
    if !placeholders.is_empty() {
        return Err(format!(
            "{} was not called: {} carries the redaction placeholder `{}` instead of a real value. Previews and results hide secrets; pass the real secret, or leave the field out to keep the current one.",
            def.name,
            placeholders.join(", "),
            outcome::REDACTED
        ));
    }
    let confirmed = args
        .as_object_mut()
        .and_then(|m| m.remove("confirm"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    // Ours, never sent: `fields`, and a page limit for reads that could be huge.
    let paging = match args.as_object_mut() {
        Some(m) => crate::bounds::plan(def, m),
        None => Paging::default(),
    };
    let normalized = def
        .normalize(args.clone())
        .map_err(|e| format!("{} was not called; its arguments do not fit: {e}", def.name))?;
    let request = PreparedRequest::build(def, &normalized)
        .map_err(|e| format!("{} was not called: {}", def.name, e.0))?;
    Ok(Prepared {
        expect_state,
        confirmed,
        paging,
        normalized,
        request,
    })
}

/// Ours, never sent: the fingerprint a preview handed out (mutations only).
fn take_expect_state(def: &ToolDef, args: &mut Value) -> Result<Option<String>, String> {
    match args.as_object_mut().and_then(|m| m.remove("expect_state")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if def.is_mutation() => Ok(Some(s)),
        Some(_) => Err(format!(
            "{} was not called: `expect_state` must be the fingerprint string from this tool's preview (mutations only)",
            def.name
        )),
    }
}

/// Why a call of `tool` was not made when its arguments do not fit `schema`: every problem.
pub fn arguments_misfit(
    tool: &str,
    schema: &serde_json::Map<String, Value>,
    args: &Value,
) -> Option<String> {
    let problems = crate::validate::validate(schema, args);
    if problems.is_empty() {
        return None;
    }
    let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    Some(format!(
        "{tool} was not called; its arguments do not fit: {}",
        list.join("; ")
    ))
}

/// A prepared call on its way to one firewall.
pub struct Run<'a> {
    pub def: &'static ToolDef,
    pub prepared: Prepared,
    pub client: Arc<Client>,
    /// The firewall's name (the key of audit lines and journal rows).
    pub firewall: &'a str,
    pub ctx: &'a CallContext,
    pub refusals: Refusals<'a>,
    pub policy: &'a crate::policy::Policy,
}

impl Run<'_> {
    /// A change: through the guards (preview, or confirmation and execution). Refused when
    /// the guards could not start (`why`).
    pub async fn mutate(self, safety: Result<&Arc<Safety>, &String>) -> CallToolResult {
        let def = self.def;
        let safety = match safety {
            Ok(s) => s,
            Err(why) => {
                return self.refusals.refuse(
                    &self.prepared.normalized,
                    format!(
                        "{} was not called: the safety guards could not start ({why}), so no change is sent",
                        def.name
                    ),
                );
            }
        };
        // A change that would cut off the server's own way in (lockout.rs): refused when
        // confirmed; its preview, judged the same way, says so.
        let guard = crate::lockout::refusal(
            &self.client,
            def,
            &self.prepared.normalized,
            &safety.options,
        )
        .await;
        if self.prepared.confirmed
            && let Some(why) = guard
        {
            return self.refusals.refuse(
                &self.prepared.normalized,
                format!("{} was not called: {why}", def.name),
            );
        }
        let call = crate::safety::flow::Call {
            def,
            args: &self.prepared.normalized,
            request: &self.prepared.request,
            confirmed: self.prepared.confirmed,
            refused_when_confirmed: guard.as_deref(),
            expect_state: self.prepared.expect_state.clone(),
            caller: &self.ctx.caller,
            human: &self.ctx.human,
            firewall: self.firewall,
            policy: self.policy,
        };
        safety.mutate(&self.client, call).await
    }

    /// A read: sent as prepared, one audit line, the result bounded to the token budget.
    pub async fn read(self, budget_tokens: usize) -> CallToolResult {
        let def = self.def;
        let request = &self.prepared.request;
        // Debug, not info: every read is in the audit log already, and a line on stderr per
        // read was a sizeable part of the server's CPU per call under load.
        tracing::debug!(firewall = %self.firewall, tool = def.name, method = %def.method, path = def.path, "calling pfSense");
        let result = self.client.send(def, request).await;
        if let Some(s) = self.refusals.safety {
            s.record_read(&self.read_entry(&result)).await;
        }
        match result {
            Ok(response) => {
                let mut r = outcome::read_success(response);
                crate::bounds::bound_result(&mut r, &self.prepared.paging, budget_tokens);
                crate::safety::secrets::mark_sensitive(&mut r);
                r
            }
            Err(e) => {
                tracing::info!(tool = def.name, error = %e, "call failed");
                // A 404 from a tool the box's pfrest lacks names both versions.
                Box::pin(crate::version::failure(&self.client, def, &e)).await
            }
        }
    }

    /// The audit line of a read: what was sent and how it ended.
    fn read_entry(&self, result: &Result<crate::client::ApiResponse, CallError>) -> Entry {
        let (outcome_kind, response_id, message) = match result {
            Ok(_) => (Outcome::Executed, None, None),
            Err(e @ CallError::Api { envelope, .. }) => (
                Outcome::Failed,
                Some(envelope.response_id.clone()),
                Some(e.to_string()),
            ),
            Err(e) => (Outcome::Failed, None, Some(e.to_string())),
        };
        let mut entry = Entry::new(self.firewall, self.def.name, &self.ctx.caller, outcome_kind);
        entry.arguments = outcome::redact(&self.prepared.normalized);
        entry.request = crate::safety::secrets::redacted_request(&self.prepared.request);
        entry.response_id = response_id;
        entry.message = message;
        entry
    }
}
