//! Secrets: redacted copies of requests for previews, the audit log and the journal; the
//! refusal of a redaction placeholder sent back as a value; the marking of secret fields
//! in results, so a model knows what not to repeat; and the values of a call's secret fields,
//! remembered so they are scrubbed from whatever text comes back (a firewall that echoes the
//! request in an error message or an HTML page).

use crate::outcome::{REDACTED, redact};
use crate::request::PreparedRequest;
use crate::spec::tables::is_sensitive_field;
use serde_json::{Value, json};
use std::borrow::Cow;

/// A request as it may be stored or shown: secret query values and body fields replaced.
pub fn redacted_request(request: &PreparedRequest) -> Value {
    let query: Vec<(String, String)> = request
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
        .collect();
    let shown = PreparedRequest {
        query,
        body: request.body.as_ref().map(redact),
        ..request.clone()
    };
    let mut v = json!({
        "method": request.method.as_str(),
        "path": shown.path_and_query(),
    });
    if let Some(body) = &shown.body {
        v["body"] = body.clone();
    }
    v
}

/// Where a redaction placeholder appears as a value (`field` or `objects[2].password`), so
/// the call can be refused: sending it would store the text `<redacted>` as the secret.
pub fn placeholder_paths(args: &Value) -> Vec<String> {
    fn walk(v: &Value, path: &str, out: &mut Vec<String>) {
        match v {
            Value::String(s) if s.contains(REDACTED) => out.push(path.to_string()),
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(args, "", &mut out);
    out
}

/// Paths of fields in a result that hold secrets (non-empty values of sensitive fields).
pub fn sensitive_paths(data: &Value) -> Vec<String> {
    /// A step of the path to where the walk is: written out only for a hit (a read's result
    /// has hundreds of keys and rarely a secret).
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    fn written(steps: &[Step<'_>]) -> String {
        use std::fmt::Write as _;
        let mut path = String::new();
        for step in steps {
            match step {
                Step::Key(k) if path.is_empty() => path.push_str(k),
                Step::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        path
    }
    fn walk<'a>(v: &'a Value, steps: &mut Vec<Step<'a>>, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    steps.push(Step::Key(k));
                    let secret = match v {
                        Value::Null | Value::Bool(_) => false,
                        Value::String(s) if s.is_empty() => false,
                        _ => is_sensitive_field(k),
                    };
                    if secret {
                        out.push(written(steps));
                    } else {
                        walk(v, steps, out);
                    }
                    steps.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    steps.push(Step::Index(i));
                    walk(v, steps, out);
                    steps.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(data, &mut Vec::new(), &mut out);
    out
}

/// Mark the secret fields of a successful result: `structuredContent.sensitive_fields` lists
/// their paths under `data`, and the text says not to repeat them. The values stay: the
/// caller asked the firewall for them.
pub fn mark_sensitive(result: &mut rmcp::model::CallToolResult) {
    let Some(structured) = result.structured_content.as_mut() else {
        return;
    };
    let paths = sensitive_paths(structured.get("data").unwrap_or(&Value::Null));
    if paths.is_empty() {
        return;
    }
    let note = format!(
        "\nThese fields hold secrets: do not repeat, summarise or log their values: {}.",
        paths.join(", ")
    );
    structured["sensitive_fields"] = json!(paths);
    if let Some(text) = result
        .content
        .iter_mut()
        .find_map(|c| c.as_text().map(|t| t.text.clone()).map(|t| (c, t)))
    {
        let (block, old) = text;
        *block = rmcp::model::ContentBlock::text(format!("{old}{note}"));
    }
}

/// Remember the values of the sensitive fields of a call's arguments (at any depth), so
/// [`crate::secret::scrub`] removes them from results, errors, the audit log, the journal and
/// logs. Call it before anything about the call is written.
pub fn remember_secrets_of(args: &Value) {
    fn walk(v: &Value, secret: bool) {
        match v {
            Value::String(s) if secret => crate::secret::remember(s),
            Value::Object(m) => {
                for (k, v) in m {
                    walk(v, secret || is_sensitive_field(k));
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, secret)),
            _ => {}
        }
    }
    walk(args, false);
}

/// Make a tool result fit to leave: every remembered secret value scrubbed from its text and
/// structured content, and control and bidirectional characters in its text (what people
/// read: previews, errors) escaped. Structured data keeps its characters (JSON escapes
/// controls; rewriting values would change what a caller writes back).
pub fn clean_result(result: &mut rmcp::model::CallToolResult) {
    for block in result.content.iter_mut() {
        if let Some(text) = block.as_text() {
            let scrubbed = crate::secret::scrub(&text.text);
            // A copy only when something was scrubbed or escaped.
            let cleaned = match super::elicit::printable(&scrubbed) {
                Cow::Owned(printed) => Some(printed),
                Cow::Borrowed(_) => match scrubbed {
                    Cow::Owned(scrubbed) => Some(scrubbed),
                    Cow::Borrowed(_) => None,
                },
            };
            if let Some(cleaned) = cleaned {
                *block = rmcp::model::ContentBlock::text(cleaned);
            }
        }
    }
    if let Some(structured) = result.structured_content.as_mut() {
        crate::secret::scrub_value(structured);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_sensitive_paths() {
        let args = json!({"name": "x", "objects": [{"password": "<redacted>"}]});
        assert_eq!(placeholder_paths(&args), vec!["objects[0].password"]);
        let data =
            json!({"name": "u", "password": "s3cret", "ipsecpsk": null, "keys": [{"key": "k"}]});
        assert_eq!(sensitive_paths(&data), vec!["password", "keys[0].key"]);
    }

    #[test]
    fn secret_values_of_a_call_are_scrubbed_from_its_result() {
        remember_secrets_of(
            &json!({"descr": "not-secret-descr", "ldap_bindpw": "Bind-PW-1f3a", "keys": [{"tls": "static-key-77"}]}),
        );
        let mut result = rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(
            "pfSense said: bad bind password Bind-PW-1f3a for not-secret-descr; key static-key-77",
        )]);
        result.structured_content =
            Some(json!({"error": {"message": "<html>Bind-PW-1f3a</html>"}}));
        clean_result(&mut result);
        let shown = serde_json::to_string(&result).unwrap();
        assert!(
            !shown.contains("Bind-PW-1f3a") && !shown.contains("static-key-77"),
            "{shown}"
        );
        assert!(shown.contains("not-secret-descr"), "{shown}");
    }
}
