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

/// What the transports need of a message: its id (when it is one JSON-RPC allows: a string
/// or an integer) and its method (when it is a string).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub id: Option<Value>,
    pub method: Option<String>,
}

/// `bytes` as one JSON value, or why they are not one; of the value, only what the checks
/// read ([`Outline`]).
pub fn read(bytes: &[u8]) -> Result<Outline, String> {
    // Walked by serde_json without building a `Value` (a `Value` of each HTTP body was 17k
    // instructions of a call: its maps, keys and strings allocated to be thrown away), but
    // through `deserialize_any` at every level, so serde_json's nesting limit (128) and its
    // errors are those of parsing the value; skipping the input (`IgnoredAny`) would not
    // apply the limit.
    serde_json::from_slice::<Outline>(bytes).map_err(|e| e.to_string())
}

/// A visitor's methods for the scalars other than strings: each gives `$of(kind)`.
macro_rules! scalar_kinds {
    ($of:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($of(Kind::Null))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($of(Kind::Bool))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($of(Kind::Number))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($of(Kind::Number))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($of(Kind::Number))
        }
    };
}

/// A JSON value's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// What the checks read of a JSON value: its kind and, of an object, the fields JSON-RPC
/// names (the last of a key given twice, as in a parsed value).
#[derive(Debug, Clone, PartialEq)]
pub struct Outline {
    kind: Kind,
    /// `jsonrpc`: whether it is the string "2.0".
    jsonrpc_2: Option<bool>,
    /// `id`, kept whole: it is small, and an error answers with it.
    id: Option<Value>,
    /// `method`: the string, or `None` when it is no string.
    method: Option<Option<String>>,
    params: Option<Kind>,
    result_or_error: bool,
}

impl Outline {
    fn of(kind: Kind) -> Outline {
        Outline {
            kind,
            jsonrpc_2: None,
            id: None,
            method: None,
            params: None,
            result_or_error: false,
        }
    }

    /// The id when it is one JSON-RPC allows (a string or an integer).
    pub fn readable_id(&self) -> Option<&Value> {
        self.id
            .as_ref()
            .filter(|id| id.is_string() || id.is_i64() || id.is_u64())
    }
}

impl<'de> serde::Deserialize<'de> for Outline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OutlineVisitor)
    }
}

struct OutlineVisitor;

impl<'de> serde::de::Visitor<'de> for OutlineVisitor {
    type Value = Outline;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
        let mut outline = Outline::of(Kind::Object);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Jsonrpc => {
                    let value = map.next_value::<Text>()?;
                    outline.jsonrpc_2 = Some(value.0.as_deref() == Some("2.0"));
                }
                Field::Id => outline.id = Some(map.next_value::<Value>()?),
                Field::Method => outline.method = Some(map.next_value::<Text>()?.0),
                Field::Params => outline.params = Some(map.next_value::<Skim>()?.0),
                Field::ResultOrError => {
                    map.next_value::<Skim>()?;
                    outline.result_or_error = true;
                }
                Field::Other => {
                    map.next_value::<Skim>()?;
                }
            }
        }
        Ok(outline)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Outline, A::Error> {
        SkimVisitor.visit_seq(seq)?;
        Ok(Outline::of(Kind::Array))
    }

    scalar_kinds!(Outline::of);
    fn visit_str<E>(self, _: &str) -> Result<Outline, E> {
        Ok(Outline::of(Kind::String))
    }
}

/// The keys JSON-RPC names, told apart without copying any key.
enum Field {
    Jsonrpc,
    Id,
    Method,
    Params,
    ResultOrError,
    Other,
}

impl<'de> serde::Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl serde::de::Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, key: &str) -> Result<Field, E> {
                Ok(match key {
                    "jsonrpc" => Field::Jsonrpc,
                    "id" => Field::Id,
                    "method" => Field::Method,
                    "params" => Field::Params,
                    "result" | "error" => Field::ResultOrError,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_str(FieldVisitor)
    }
}

/// A value's kind, the value walked and dropped.
struct Skim(Kind);

impl<'de> serde::Deserialize<'de> for Skim {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkimVisitor).map(Skim)
    }
}

struct SkimVisitor;

impl<'de> serde::de::Visitor<'de> for SkimVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        while map.next_key::<Skim>()?.is_some() {
            map.next_value::<Skim>()?;
        }
        Ok(Kind::Object)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        while seq.next_element::<Skim>()?.is_some() {}
        Ok(Kind::Array)
    }
    scalar_kinds!(std::convert::identity);
    fn visit_str<E>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::String)
    }
}

/// A value that is kept when it is a string (`jsonrpc`, `method`), else walked and dropped.
struct Text(Option<String>);

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Option<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<Option<String>, E> {
                Ok(Some(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                SkimVisitor.visit_map(map).map(|_| None)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Self::Value, A::Error> {
                SkimVisitor.visit_seq(seq).map(|_| None)
            }
            scalar_kinds!(|_: Kind| None);
        }
        d.deserialize_any(TextVisitor).map(Text)
    }
}

/// What a message the server writes is to a drain waiting for its answers ([`answer_to`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Written {
    /// A response (`result` or `error`, no `method`) to the request with this id.
    Answer(Value),
    /// A response without an id (rmcp's answer to a line it could not read).
    AnswerWithoutId,
    /// A request or notification of the server's own (it has a `method`), or no message.
    Other,
}

/// What the message `bytes` (one the server wrote: rmcp's JSON) is, reading its top level only
/// as far as needed: rmcp writes `jsonrpc`, `id`, then `result` or `error` (or `method`), so a
/// response's result (a `tools/list` answer is hundreds of kB) is not read at all. Keys in any
/// other order are read too, only further.
pub fn answer_to(bytes: &[u8]) -> Written {
    let mut seen = Seen::default();
    // Stopping early leaves the object unfinished, which serde_json reports as an error after
    // the visitor returns: what the visitor saw is in `seen` either way.
    let _ = serde::de::DeserializeSeed::deserialize(
        &mut seen,
        &mut serde_json::Deserializer::from_slice(bytes),
    );
    match seen {
        Seen { method: true, .. } | Seen { answer: false, .. } => Written::Other,
        Seen { id: Some(id), .. } if !id.is_null() => Written::Answer(id),
        Seen { .. } => Written::AnswerWithoutId,
    }
}

/// The top-level keys of a written message [`answer_to`] has seen.
#[derive(Default)]
struct Seen {
    id: Option<Value>,
    method: bool,
    answer: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut Seen {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut Seen {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Id => {
                    self.id = Some(map.next_value::<Value>()?);
                    if self.answer {
                        return Ok(());
                    }
                }
                Field::Method => {
                    self.method = true;
                    return Ok(());
                }
                Field::ResultOrError => {
                    self.answer = true;
                    if self.id.is_some() {
                        // The result is left unread.
                        return Ok(());
                    }
                    // `result` before `id`: read past it for the id.
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                Field::Jsonrpc | Field::Params | Field::Other => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
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
pub fn invalid_request(message: &Outline, framing: Framing) -> Option<Refusal> {
    let why = match message.kind {
        Kind::Array => format!(
            "a batch (a JSON array) is not supported: send one message {}",
            framing.per()
        ),
        Kind::Object => {
            let id_ok = message.id.is_none() || message.readable_id().is_some();
            if message.jsonrpc_2 != Some(true) {
                "`jsonrpc` must be \"2.0\"".to_string()
            } else if !id_ok {
                "`id` must be a string or an integer".to_string()
            } else if let Some(method) = &message.method {
                if method.is_none() {
                    "`method` must be a string".to_string()
                } else if message
                    .params
                    .is_some_and(|p| p != Kind::Object && p != Kind::Null)
                {
                    "`params` must be an object".to_string()
                } else {
                    return None;
                }
            } else if message.result_or_error {
                return None;
            } else {
                "a message needs a `method` (a request or notification), or `result` or `error` (a response)".to_string()
            }
        }
        _ => "a JSON-RPC message is a JSON object".to_string(),
    };
    Some(Refusal {
        id: message.readable_id().cloned().unwrap_or(Value::Null),
        code: INVALID_REQUEST,
        message: format!("Invalid request: {why}."),
    })
}

/// `bytes` as a JSON-RPC 2.0 message rmcp can be given (its id and method), or the error
/// that answers them.
pub fn check(bytes: &[u8], framing: Framing) -> Result<Message, Refusal> {
    let outline = read(bytes).map_err(|why| parse_error(&why, framing))?;
    match invalid_request(&outline, framing) {
        Some(refusal) => Err(refusal),
        None => Ok(Message {
            id: outline.readable_id().cloned(),
            method: outline.method.flatten(),
        }),
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
            check(line.as_bytes(), Framing::Line)
                .err()
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

    #[test]
    fn the_outline_reads_what_a_parsed_value_would() {
        // Errors are serde_json's own for the value (so stdio and HTTP keep their wording).
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(130), "}".repeat(130));
        for bad in [
            &b"{"[..],
            b"{\"jsonrpc\":\"2.0\",}",
            b"[1,2",
            b"\"cut",
            b"{} {}",
            b"nul",
            b"{\"a\":1e999999}",
            b"\"\\ud800x\"",
            deep_object.as_bytes(),
        ] {
            let value = serde_json::from_slice::<Value>(bad).map(|_| ());
            assert_eq!(
                read(bad).map(|_| ()),
                value.map_err(|e| e.to_string()),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Escaped names are read as what they say; a key given twice counts once, the last.
        let m = check(
            br#"{"jsonrpc":"2.0","id":"a\u0062","method":"initial\u0069ze","params":{"x":[{"y":null}]}}"#,
            Framing::HttpRequest,
        )
        .unwrap();
        assert_eq!(m.id, Some(json!("ab")));
        assert_eq!(m.method.as_deref(), Some("initialize"));
        let m = check(
            br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping","method":"tools/list"}"#,
            Framing::Line,
        )
        .unwrap();
        assert_eq!(
            (m.id, m.method.as_deref()),
            (Some(json!(2)), Some("tools/list"))
        );
        let e = check(
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","id":[1]}"#,
            Framing::Line,
        )
        .unwrap_err();
        assert!(e.message.contains("`id` must be"), "{e:?}");
        // A response has no method: no id is held for it.
        let m = check(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#, Framing::Line).unwrap();
        assert_eq!((m.id, m.method), (Some(json!(7)), None));
    }

    #[test]
    fn a_written_message_is_told_apart_by_its_top_level() {
        let big = format!(
            r#"{{"jsonrpc":"2.0","id":7,"result":{{"tools":[{}]}}}}"#,
            vec![r#"{"name":"t","inputSchema":{"type":"object"}}"#; 1000].join(",")
        );
        for (line, written) in [
            (big.as_str(), Written::Answer(json!(7))),
            (
                r#"{"jsonrpc":"2.0","id":"a","error":{"code":1,"message":"m"}}"#,
                Written::Answer(json!("a")),
            ),
            // Keys in another order are read too.
            (
                r#"{"result":{"x":[1,{"id":3}]},"id":4,"jsonrpc":"2.0"}"#,
                Written::Answer(json!(4)),
            ),
            (
                r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid request"}}"#,
                Written::AnswerWithoutId,
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"m"}}"#,
                Written::AnswerWithoutId,
            ),
            // The server's own request, a notification, and what is no message.
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"elicitation/create","params":{}}"#,
                Written::Other,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"id":1}}"#,
                Written::Other,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, Written::Other),
            ("[1]", Written::Other),
            ("nope", Written::Other),
        ] {
            assert_eq!(answer_to(line.as_bytes()), written, "{line}");
        }
    }
}
