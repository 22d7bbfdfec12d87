//! What every transport checks before rmcp sees a message, so stdio and streamable HTTP answer
//! the same input with the same error: input that is not JSON (garbage, cut off, nesting deeper
//! than 128 levels) gets a parse error (-32700, id null), and JSON that is no JSON-RPC 2.0
//! message gets an invalid request (-32600) with its id when it has a readable one, and why
//! (rmcp's own answers have neither). Only the advice differs: a line (stdio) or an HTTP
//! request (HTTP) carries one message.

use serde_json::Value;

/// JSON-RPC 2.0: the input is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the JSON is no valid request (or other message).
pub const INVALID_REQUEST: i64 = -32600;

/// What carries one message, as the advice in an error names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// stdio: one message per line.
    Line,
    /// streamable HTTP: one message per request body.
    HttpRequest,
}

impl Framing {
    fn per(self) -> &'static str {
        match self {
            Framing::Line => "per line",
            Framing::HttpRequest => "per HTTP request",
        }
    }
}

/// A message refused before rmcp sees it: the JSON-RPC error that answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The message's id when it has a readable one, else null.
    pub id: Value,
    pub code: i64,
    pub message: String,
}

impl Refusal {
    /// The JSON-RPC error response.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        })
    }
}

/// `bytes` as one JSON value, or why they are not one.
pub fn read(bytes: &[u8]) -> Result<Value, String> {
    // Into a `Value`: that also applies serde_json's nesting limit (128), which skipping the
    // input (`IgnoredAny`) does not.
    serde_json::from_slice::<Value>(bytes).map_err(|e| e.to_string())
}

/// The parse error for input that is not JSON, saying why.
pub fn parse_error(why: &str, framing: Framing) -> Refusal {
    Refusal {
        id: Value::Null,
        code: PARSE_ERROR,
        message: format!(
            "Parse error: {why}. Send one JSON-RPC 2.0 message {}.",
            framing.per()
        ),
    }
}

/// The invalid-request error for a value that is no JSON-RPC 2.0 message; `None` for a
/// message (request, notification or response) rmcp can be given.
pub fn invalid_request(message: &Value, framing: Framing) -> Option<Refusal> {
    let why = match message {
        Value::Array(_) => format!(
            "a batch (a JSON array) is not supported: send one message {}",
            framing.per()
        ),
        Value::Object(m) => {
            let id_ok = m
                .get("id")
                .is_none_or(|id| id.is_string() || id.is_i64() || id.is_u64());
            if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                "`jsonrpc` must be \"2.0\"".to_string()
            } else if !id_ok {
                "`id` must be a string or an integer".to_string()
            } else if let Some(method) = m.get("method") {
                if !method.is_string() {
                    "`method` must be a string".to_string()
                } else if m
                    .get("params")
                    .is_some_and(|p| !p.is_object() && !p.is_null())
                {
                    "`params` must be an object".to_string()
                } else {
                    return None;
                }
            } else if m.contains_key("result") || m.contains_key("error") {
                return None;
            } else {
                "a message needs a `method` (a request or notification), or `result` or `error` (a response)".to_string()
            }
        }
        _ => "a JSON-RPC message is a JSON object".to_string(),
    };
    Some(Refusal {
        id: readable_id(message).cloned().unwrap_or(Value::Null),
        code: INVALID_REQUEST,
        message: format!("Invalid request: {why}."),
    })
}

/// The message's id when it is one JSON-RPC allows (a string or an integer).
pub fn readable_id(message: &Value) -> Option<&Value> {
    message
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
}

/// `bytes` as a JSON-RPC 2.0 message rmcp can be given, or the error that answers them.
pub fn check(bytes: &[u8], framing: Framing) -> Result<Value, Refusal> {
    let message = read(bytes).map_err(|why| parse_error(&why, framing))?;
    match invalid_request(&message, framing) {
        Some(refusal) => Err(refusal),
        None => Ok(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_that_is_not_json_is_named() {
        assert!(read(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(
            read(b"42").is_ok(),
            "JSON, if no JSON-RPC: `invalid_request` answers it"
        );
        assert!(read(b"hello").is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(
            read(deep.as_bytes())
                .unwrap_err()
                .contains("recursion limit")
        );
        let e = parse_error("x", Framing::Line);
        assert_eq!(e.to_json()["error"]["code"], PARSE_ERROR);
        assert!(e.to_json()["id"].is_null());
        assert!(e.message.ends_with("per line."), "{}", e.message);
        let e = check(b"{", Framing::HttpRequest).unwrap_err();
        assert_eq!(e.code, PARSE_ERROR);
        assert!(e.message.ends_with("per HTTP request."), "{}", e.message);
    }

    #[test]
    fn messages_that_are_no_json_rpc_get_their_id_and_the_reason() {
        let answer = |line: &str| -> Option<Value> {
            invalid_request(&serde_json::from_str(line).unwrap(), Framing::Line)
                .map(|a| a.to_json())
        };
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":"a","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":null}"#,
        ] {
            assert!(answer(ok).is_none(), "{ok}");
        }
        for (line, id, why) in [
            (
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":[1]}"#,
                json!(4),
                "`params` must be an object",
            ),
            (
                r#"{"jsonrpc":"1.0","id":30,"method":"ping"}"#,
                json!(30),
                "`jsonrpc` must be",
            ),
            (r#"{"id":5,"method":"ping"}"#, json!(5), "`jsonrpc` must be"),
            (
                r#"{"jsonrpc":"2.0","id":32}"#,
                json!(32),
                "needs a `method`",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                Value::Null,
                "`id` must be",
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Value::Null,
                "`id` must be",
            ),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Value::Null,
                "batch (a JSON array) is not supported: send one message per line",
            ),
            ("42", Value::Null, "is a JSON object"),
        ] {
            let a = answer(line).unwrap_or_else(|| panic!("{line} passed"));
            assert_eq!(a["error"]["code"], INVALID_REQUEST, "{line}");
            assert_eq!(a["id"], id, "{line}");
            assert!(
                a["error"]["message"].as_str().unwrap().contains(why),
                "{line}: {a}"
            );
        }
        let batch = check(b"[]", Framing::HttpRequest).unwrap_err();
        assert!(batch.message.contains("per HTTP request"), "{batch:?}");
    }
}
