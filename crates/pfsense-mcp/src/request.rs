//! The exact HTTP request a tool call becomes. Previews show it; the client sends it.
//!
//! pfrest reads form data from the query string *or* the body, never both, and a GET sent with
//! a JSON content type ignores its query string. So GET and DELETE carry every argument in the
//! query string with no body; POST, PATCH and PUT carry everything (including `id`, `parent_id`
//! and `apply`) in a JSON body. Arguments the caller did not set are never sent.

use crate::catalog::ToolDef;
use crate::spec::{ArgRole, Method};
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreparedRequest {
    pub method: Method,
    pub path: &'static str,
    /// Query string pairs in order (lists as repeated `key[]=value`).
    pub query: Vec<(String, String)>,
    /// JSON body for POST, PATCH and PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    pub accept: &'static str,
}

/// The longest `path?query` sent. pfSense's webGUI is nginx with its default
/// `large_client_header_buffers 4 8k`: a request line over 8 KB gets 414 before pfrest runs,
/// and a far longer one is no URL the HTTP client can build at all.
const MAX_REQUEST_TARGET: usize = 8000;

/// Why arguments cannot become a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError(pub String);

impl PreparedRequest {
    /// Build the request for already-validated arguments (an object).
    pub fn build(def: &ToolDef, args: &Value) -> Result<PreparedRequest, RequestError> {
        let empty = Map::new();
        let args = match args {
            Value::Object(m) => m,
            Value::Null => &empty,
            _ => return Err(RequestError("arguments must be a JSON object".into())),
        };
        let mut query = Vec::new();
        let mut body = None;
        if def.method.sends_query() {
            for arg in def.args {
                let Some(value) = args.get(arg.name) else {
                    continue;
                };
                match arg.role {
                    ArgRole::Confirm | ArgRole::Projection | ArgRole::Guard => {}
                    ArgRole::Filters => {
                        if let Value::Object(filters) = value {
                            for (k, v) in filters {
                                push_query(&mut query, k, v);
                            }
                        }
                    }
                    ArgRole::Field | ArgRole::ListBody => push_query(&mut query, arg.name, value),
                }
            }
        } else if let Some(list) = def
            .args
            .iter()
            .find(|a| a.role == ArgRole::ListBody)
            .and_then(|a| args.get(a.name))
        {
            body = Some(list.clone());
        } else {
            let mut object = Map::new();
            for arg in def.args {
                if matches!(
                    arg.role,
                    ArgRole::Confirm | ArgRole::Projection | ArgRole::Guard
                ) {
                    continue;
                }
                if let Some(v) = args.get(arg.name) {
                    object.insert(arg.name.to_string(), v.clone());
                }
            }
            body = Some(Value::Object(object));
        }
        let request = PreparedRequest {
            method: def.method,
            path: def.path,
            query,
            body,
            accept: if def.binary_response {
                "application/octet-stream"
            } else {
                "application/json"
            },
        };
        let line = request.path_and_query().len();
        if line > MAX_REQUEST_TARGET {
            return Err(RequestError(format!(
                "its query string would make a request line of {line} bytes, and the firewall's web server (nginx) refuses lines over 8 KB: shorten the `query` values or `sort_by`"
            )));
        }
        Ok(request)
    }

    /// `path?query` as it goes on the wire (percent-encoded).
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.to_string();
        }
        let encoded: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("{}?{}", self.path, encoded.join("&"))
    }
}

fn push_query(query: &mut Vec<(String, String)>, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                if let Some(s) = scalar(item) {
                    query.push((format!("{key}[]"), s));
                }
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                query.push((key.to_string(), s));
            }
        }
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
