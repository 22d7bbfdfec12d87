//! pfrest's own dry run in previews (`dry_run`, REST API v2.8.0 and later).
//!
//! On a box that has it, the preview of a single-object create, update or delete (and of a
//! settings change) sends the previewed request once more with pfrest's `dry_run` control
//! parameter: pfrest runs its full validation (field validators, cross-field checks,
//! uniqueness, references) and answers with the would-be object, writing nothing. The preview
//! then shows the firewall's verdict; a refusal is the preview's answer (nothing to confirm).
//! Confirming sends the very request object the preview showed, without the parameter.
//!
//! The parameter rather than the `Prefer: dry-run` header: both work on every single-object
//! write from v2.8.0 on (`../shared/docs/pfrest-versions.md`, measured on the lab), and a body
//! field or query pair cannot be dropped on the way by a proxy that strips headers.
//!
//! Where pfrest's dry run is wrong or unavailable, nothing is sent: [`NO_DRY_RUN`], versions
//! before [`DRY_RUN_SINCE`], and a box whose version cannot be read.

use super::audit::Entry;
use super::state::ChangeKind;
use crate::catalog::ToolDef;
use crate::client::{CallError, Client};
use crate::outcome::{self, redact};
use crate::request::PreparedRequest;
use crate::spec::{Method, Risk};
use crate::version::{self, Version};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// The first pfrest release with the `dry_run` control parameter. v2.7.x ignores both
/// `dry_run` and `Prefer: dry-run` and performs the write (measured on the lab): a dry run sent
/// there is a real change.
pub const DRY_RUN_SINCE: Version = Version::new(2, 8, 0);

/// Calls never sent as dry runs, whatever the version, and why. They keep the preview computed
/// by this server (request, diff against the state read, undo).
pub const NO_DRY_RUN: &[(ChangeKind, &str)] = &[
    (
        ChangeKind::BulkDelete,
        "a DELETE on a plural endpoint ignores `dry_run` and `Prefer: dry-run` and really deletes (measured on the lab, v2.8.4 to v2.10.0: `?name=x&dry_run=true` removed the alias, `?all=true` with the header removed every alias)",
    ),
    (
        ChangeKind::Replace,
        "a PUT on a plural endpoint (bulk replacement) with dry run answers 500 (measured on the lab, v2.8.4 to v2.10.0), and its array body cannot carry the `dry_run` field",
    ),
    (
        ChangeKind::Other,
        "actions, applies and write-only singletons store no object a dry run could show, and what they do is their endpoint's own code; their dry run was not measured on the lab",
    ),
];

/// What the preview learned from the firewall's dry run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not sent, and why.
    NotSent(String),
    /// The firewall validated the request and would store (or delete) this object.
    Accepted {
        rest_api_version: String,
        would_be: Value,
        response_id: Option<String>,
    },
    /// The firewall refused the request (a 4xx envelope): the real call would be refused the
    /// same way. Also a 404 page: the endpoint is not on the box.
    Refused {
        rest_api_version: String,
        error: CallError,
    },
    /// Sent, but the answer says nothing about the request itself (no answer, a 5xx, a proxy
    /// error): the preview stands as computed here.
    Inconclusive {
        rest_api_version: String,
        error: CallError,
    },
}

/// Why a call of this tool is never dry-run, by the table and the tool's nature.
pub fn excluded(def: &ToolDef) -> Option<String> {
    let kind = ChangeKind::of(def);
    if let Some((_, why)) = NO_DRY_RUN.iter().find(|(k, _)| *k == kind) {
        return Some((*why).to_string());
    }
    if def.risk >= Risk::Dangerous {
        return Some("dangerous operations are never sent before they are confirmed".into());
    }
    if !def.enveloped || def.binary_response {
        return Some("this endpoint does not answer with the REST API's envelope".into());
    }
    None
}

/// The request a dry run sends: the previewed one plus `dry_run: true` (in the body of a POST
/// or PATCH, in the query of a DELETE). `None` when the request cannot carry it.
pub fn dry_run_request(request: &PreparedRequest) -> Option<PreparedRequest> {
    let mut dry = request.clone();
    match request.method {
        Method::Delete => {
            if dry.query.iter().any(|(k, _)| k == "dry_run") {
                return None;
            }
            dry.query.push(("dry_run".into(), "true".into()));
        }
        Method::Post | Method::Patch => match dry.body.as_mut() {
            Some(Value::Object(m)) if !m.contains_key("dry_run") => {
                m.insert("dry_run".into(), Value::Bool(true));
            }
            _ => return None,
        },
        Method::Get | Method::Put => return None,
    }
    Some(dry)
}

/// Whether the firewall's REST API version has a dry run that can be trusted.
pub fn supported(box_version: &str) -> Result<(), String> {
    match Version::parse(box_version) {
        Some(v) if v >= DRY_RUN_SINCE => Ok(()),
        Some(_) => Err(format!(
            "the firewall runs REST API {box_version}, which has no dry run (it came in {DRY_RUN_SINCE}; earlier versions ignore `dry_run` and perform the write)"
        )),
        None => Err(format!(
            "the firewall's REST API version `{box_version}` is not one this server can compare"
        )),
    }
}

/// Send the dry run of a previewed call when it is safe to, and say what the firewall answered.
pub async fn run(client: &Client, def: &ToolDef, request: &PreparedRequest) -> Verdict {
    if let Some(why) = excluded(def) {
        return Verdict::NotSent(why);
    }
    let Some(dry) = dry_run_request(request) else {
        return Verdict::NotSent("the request already carries a `dry_run` argument".into());
    };
    let rest_api_version = match version::read(client).await {
        Ok(v) => v,
        Err(e) => {
            return Verdict::NotSent(format!(
                "the firewall's REST API version could not be read ({e}), and a version without dry run would perform the write"
            ));
        }
    };
    if let Err(why) = supported(&rest_api_version) {
        return Verdict::NotSent(why);
    }
    tracing::info!(tool = def.name, method = %def.method, path = def.path, "dry run for a preview");
    match client.send(def, &dry).await {
        Ok(response) => Verdict::Accepted {
            rest_api_version,
            would_be: response.data(),
            response_id: match &response.body {
                crate::client::ResponseBody::Envelope(e) => Some(e.response_id.clone()),
                _ => None,
            },
        },
        // The firewall's own verdict on the request (4xx): the real call gets the same.
        Err(error @ CallError::Api { http_status, .. }) if http_status < 500 => Verdict::Refused {
            rest_api_version,
            error,
        },
        Err(error) if version::endpoint_missing(&error) => Verdict::Refused {
            rest_api_version,
            error,
        },
        Err(error) => Verdict::Inconclusive {
            rest_api_version,
            error,
        },
    }
}

impl Verdict {
    /// What the audit line of the preview records about the dry run.
    pub fn audit(&self, entry: &mut Entry) {
        let note = match self {
            Verdict::NotSent(_) => return,
            Verdict::Accepted { response_id, .. } => {
                entry.response_id = response_id.clone();
                "dry run: accepted by the firewall".to_string()
            }
            Verdict::Refused { error, .. } => {
                if let CallError::Api { envelope, .. } = error {
                    entry.response_id = Some(envelope.response_id.clone());
                }
                format!("dry run: refused by the firewall: {error}")
            }
            Verdict::Inconclusive { error, .. } => format!("dry run: no verdict: {error}"),
        };
        entry.message = Some(match entry.message.take() {
            Some(m) => format!("{m}; {note}"),
            None => note,
        });
    }

    /// The preview as the model sees it: annotated with the verdict, or replaced by the
    /// firewall's refusal (an error: there is nothing to confirm).
    pub fn apply(&self, def: &ToolDef, mut preview: CallToolResult) -> CallToolResult {
        let (structured, line) = match self {
            Verdict::NotSent(why) => (
                json!({"sent": false, "why": why}),
                format!(" No dry run was sent: {why}."),
            ),
            Verdict::Accepted {
                rest_api_version,
                would_be,
                response_id,
            } => {
                let shown = redact(would_be);
                let what = if def.method == Method::Delete {
                    "it would delete"
                } else {
                    "it would store"
                };
                (
                    json!({"sent": true, "accepted": true, "rest_api_version": rest_api_version,
                           "response_id": response_id, "would_be": shown}),
                    format!(
                        "\nThe firewall's own dry run (REST API {rest_api_version}) accepts this; {what} {shown}. Nothing was written."
                    ),
                )
            }
            Verdict::Inconclusive {
                rest_api_version,
                error,
            } => (
                json!({"sent": true, "accepted": null, "rest_api_version": rest_api_version,
                       "error": error.to_string()}),
                format!(
                    "\nThe firewall's dry run (REST API {rest_api_version}) gave no verdict ({error}); the preview above is this server's own."
                ),
            ),
            Verdict::Refused {
                rest_api_version,
                error,
            } => return refusal(def, rest_api_version, error, preview),
        };
        if let Some(s) = preview.structured_content.as_mut() {
            s["dry_run"] = structured;
        }
        append_text(&mut preview, &line);
        preview
    }
}

/// A preview the firewall refused: its own `response_id`, message and hint, the request that
/// was previewed, and nothing to confirm.
fn refusal(
    def: &ToolDef,
    rest_api_version: &str,
    error: &CallError,
    preview: CallToolResult,
) -> CallToolResult {
    let mut failed = if version::endpoint_missing(error) {
        let mut r = outcome::failure(def, error);
        if let Some(m) = version::missing_message(def, rest_api_version) {
            version::annotate_missing(&mut r, &m, rest_api_version);
        }
        r
    } else {
        outcome::failure(def, error)
    };
    let err = failed
        .structured_content
        .as_ref()
        .map(|s| s["error"].clone())
        .unwrap_or(Value::Null);
    let mut structured = preview.structured_content.unwrap_or_else(|| json!({}));
    structured["preview"] = Value::Bool(true);
    structured["executed"] = Value::Bool(false);
    structured["dry_run"] = json!({
        "sent": true,
        "accepted": false,
        "rest_api_version": rest_api_version,
        "response_id": err.get("response_id"),
    });
    structured["error"] = err;
    for k in ["fingerprint", "next"] {
        if let Some(m) = structured.as_object_mut() {
            m.remove(k);
        }
    }
    failed.structured_content = Some(structured);
    append_text(
        &mut failed,
        &format!(
            " (The firewall's own dry run, REST API {rest_api_version}, refused the previewed request: nothing was written and there is nothing to confirm. Fix the arguments and preview again.)"
        ),
    );
    failed
}

fn append_text(result: &mut CallToolResult, line: &str) {
    if let Some(block) = result.content.iter_mut().find(|c| c.as_text().is_some()) {
        let old = block.as_text().map(|t| t.text.clone()).unwrap_or_default();
        *block = ContentBlock::text(format!("{old}{line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TOOLS;
    use crate::spec::PathKind;

    fn tool(kind: PathKind, method: Method) -> &'static ToolDef {
        TOOLS
            .iter()
            .find(|d| {
                d.path_kind == kind
                    && d.method == method
                    && d.risk < Risk::Dangerous
                    && d.enveloped
                    && !d.binary_response
            })
            .expect("a tool of that kind")
    }

    #[test]
    fn single_object_writes_are_dry_run_and_the_table_excludes_the_rest() {
        assert_eq!(excluded(tool(PathKind::Item, Method::Post)), None);
        assert_eq!(excluded(tool(PathKind::Item, Method::Patch)), None);
        assert_eq!(excluded(tool(PathKind::Item, Method::Delete)), None);
        assert_eq!(excluded(tool(PathKind::Settings, Method::Patch)), None);
        let bulk = excluded(tool(PathKind::Plural, Method::Delete)).unwrap();
        assert!(bulk.contains("really deletes"), "{bulk}");
        let replace = excluded(tool(PathKind::Plural, Method::Put)).unwrap();
        assert!(replace.contains("500"), "{replace}");
        assert!(excluded(tool(PathKind::Apply, Method::Post)).is_some());
        let dangerous = TOOLS.iter().find(|d| d.risk == Risk::Dangerous).unwrap();
        assert!(excluded(dangerous).is_some());
    }

    #[test]
    fn the_dry_run_request_is_the_previewed_one_plus_the_parameter() {
        let post = PreparedRequest {
            method: Method::Post,
            path: "/api/v2/firewall/alias",
            query: vec![],
            body: Some(json!({"name": "a", "type": "host"})),
            accept: "application/json",
        };
        let dry = dry_run_request(&post).unwrap();
        assert_eq!(
            dry.body,
            Some(json!({"name": "a", "type": "host", "dry_run": true}))
        );
        assert_eq!(
            PreparedRequest {
                body: post.body.clone(),
                ..dry.clone()
            },
            post
        );
        let delete = PreparedRequest {
            method: Method::Delete,
            path: "/api/v2/firewall/alias",
            query: vec![("id".into(), "3".into())],
            body: None,
            accept: "application/json",
        };
        assert_eq!(
            dry_run_request(&delete).unwrap().path_and_query(),
            "/api/v2/firewall/alias?id=3&dry_run=true"
        );
        let put = PreparedRequest {
            method: Method::Put,
            body: Some(json!([])),
            ..post.clone()
        };
        assert_eq!(dry_run_request(&put), None);
        let already = PreparedRequest {
            body: Some(json!({"dry_run": false})),
            ..post
        };
        assert_eq!(dry_run_request(&already), None);
    }

    #[test]
    fn only_versions_with_dry_run_get_one() {
        assert!(supported("v2.8.0").is_ok());
        assert!(supported("v2.10.0").is_ok());
        let old = supported("v2.7.1").unwrap_err();
        assert!(old.contains("v2.7.1") && old.contains("v2.8.0"), "{old}");
        assert!(supported("v2.7.7").is_err());
        assert!(supported("unknown").is_err());
    }
}
