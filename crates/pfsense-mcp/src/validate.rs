//! Check tool arguments against the tool's input schema before anything is sent.
//!
//! rmcp does not validate arguments, and pfSense reports only the first error it finds. This
//! checks the JSON Schema subset `pfsense-spec` emits and reports every problem at once, each
//! naming the field, what was expected and what was given.

use serde_json::{Map, Value};

/// One problem with the arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Dotted path to the field, e.g. `objects[2].name`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.field, self.message)
        }
    }
}

/// Validate `args` against an object schema. Returns every problem found (at most 20).
pub fn validate(schema: &Map<String, Value>, args: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    check(schema, args, "", &mut problems);
    problems.truncate(20);
    problems
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The wrong value in a type error: its type and value (`string "80"`), or just `null`.
fn got(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        // JSON text is shown as its kind: it may hold secret fields, which are not echoed.
        Value::String(s) if let Some(inner) = crate::outcome::json_text(s) => {
            format!("a string holding {} as JSON text", kind(&inner))
        }
        other => format!("{} {}", type_name(other), show(other)),
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Check a secret field without its value ever reaching a message: problems are found with
/// the real value and described with a mask of the same shape (`*` per character). A mask
/// keeps the shape of strings only: a secret sent as a number, boolean or object (whose keys
/// are part of it) is described by its kind alone.
fn check_secret(schema: &Map<String, Value>, v: &Value, path: &str, out: &mut Vec<Problem>) {
    fn strings_only(v: &Value) -> bool {
        match v {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(strings_only),
            _ => false,
        }
    }
    fn mask(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String("*".repeat(s.chars().count())),
            Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
            other => other.clone(),
        }
    }
    let mut real = Vec::new();
    check(schema, v, path, &mut real);
    if real.is_empty() {
        return;
    }
    let mut masked = Vec::new();
    if strings_only(v) {
        check(schema, &mask(v), path, &mut masked);
    }
    if masked.is_empty() {
        let expected = match schema.get("type").and_then(Value::as_str) {
            Some(t) => format!("expected {t}, got {}", kind(v)),
            None => format!("got {}", kind(v)),
        };
        masked.push(Problem {
            field: path.to_string(),
            message: format!(
                "{expected}; it does not fit its schema (the value is a secret and is not shown)"
            ),
        });
    }
    out.extend(masked);
}

/// The JSON kind of a value, without the value.
/// A JSON value's kind as errors name it: "an array", "a string", …
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    // A key is the caller's text: control characters shown escaped, like every echo of it.
    let key: String = key
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    match expected {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        // PHP's integers are 64-bit and signed: a u64 above i64::MAX is none.
        "integer" => v.is_i64(),
        "number" => v.is_number(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn check(schema: &Map<String, Value>, v: &Value, path: &str, out: &mut Vec<Problem>) {
    let mut push = |message: String| {
        out.push(Problem {
            field: path.to_string(),
            message,
        })
    };
    if let Some(Value::Array(branches)) = schema.get("anyOf") {
        let fits = branches.iter().any(|b| {
            b.as_object().is_some_and(|b| {
                let mut scratch = Vec::new();
                check(b, v, path, &mut scratch);
                scratch.is_empty()
            })
        });
        if !fits {
            let kinds: Vec<&str> = branches
                .iter()
                .filter_map(|b| b.get("type").and_then(Value::as_str))
                .collect();
            push(format!("expected {}, got {}", kinds.join(" or "), got(v)));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !type_matches(expected, v)
    {
        let hint = match (expected, v) {
            ("integer" | "number", Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
                " (send the number without quotes)"
            }
            ("boolean", Value::String(s)) if s == "true" || s == "false" => {
                " (send true or false without quotes)"
            }
            ("array" | "object", Value::String(s))
                if crate::outcome::json_text(s)
                    .is_some_and(|inner| type_matches(expected, &inner)) =>
            {
                " (send the value itself, not its JSON text in a string)"
            }
            ("array", Value::String(_)) => " (wrap the value in a list: [\"…\"])",
            // Beyond PHP's 64-bit integers: serde reads it as u64 or as a float.
            ("integer", Value::Number(n))
                if n.is_u64() || n.as_f64().is_some_and(|x| x.abs() >= 9.2e18) =>
            {
                " (too large: the firewall's integers go from -9223372036854775808 to 9223372036854775807)"
            }
            // 100.0, 1e2, -0.0: a whole number written as a float.
            ("integer", Value::Number(n)) if n.as_f64().is_some_and(|x| x.fract() == 0.0) => {
                " (send the whole number without a decimal point or exponent)"
            }
            _ => "",
        };
        push(format!("expected {expected}, got {}{hint}", got(v)));
        return;
    }
    if let Some(Value::Array(choices)) = schema.get("enum")
        && !choices.contains(v)
    {
        let list: Vec<String> = choices.iter().map(show).collect();
        push(format!(
            "{} is not allowed; allowed values: {}",
            show(v),
            list.join(", ")
        ));
        return;
    }
    match v {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                push(format!("must be at least {min} characters, got {len}"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                push(format!("must be at most {max} characters, got {len}"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(pattern)
                && !re.is_match(s)
            {
                push(format!("must match the pattern {pattern}"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                push(format!("must be at least {min}, got {n}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                push(format!("must be at most {max}, got {n}"));
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                push(format!("needs at least {min} items, got {}", items.len()));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                push(format!("takes at most {max} items, got {}", items.len()));
            }
            if let Some(Value::Object(item_schema)) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => check_object(schema, map, path, out),
        _ => {}
    }
}

fn check_object(
    schema: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Problem>,
) {
    let props = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                let what = props
                    .and_then(|p| p.get(r))
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str)
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default();
                out.push(Problem {
                    field: join(path, r),
                    message: format!("is required{what} but missing"),
                });
            }
        }
    }
    let required = |key: &str| {
        schema
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(key)))
    };
    for (key, value) in map {
        let field = join(path, key);
        // Inside a list of objects (a PUT's `objects`, nested lists), `null` for an optional
        // field is what a read shows for an unset one, and pfrest takes it as the default:
        // a list read and sent back fits. At the top level an update's `null` would reset the
        // field, which only the fields marked so take.
        if value.is_null() && !path.is_empty() && !required(key) {
            continue;
        }
        match props.and_then(|p| p.get(key)).and_then(Value::as_object) {
            Some(prop_schema) if crate::spec::tables::is_sensitive_field(key) => {
                check_secret(prop_schema, value, &field, out)
            }
            Some(prop_schema) => check(prop_schema, value, &field, out),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let suggestion = closest(key, &known)
                        .map(|s| format!(" Did you mean `{s}`?"))
                        .unwrap_or_default();
                    out.push(Problem {
                        field,
                        message: format!(
                            "is not an argument of this tool.{suggestion} Known arguments: {}",
                            known.join(", ")
                        ),
                    });
                }
                Some(Value::Object(extra)) => check(extra, value, &field, out),
                _ => {}
            },
        }
    }
}

/// The known name closest to `name` by edit distance, when it is close enough to be a typo.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 5},
                "type": {"type": "string", "enum": ["host", "network"]},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "address": {"type": "array", "items": {"type": "string"}},
                "id": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
            },
            "required": ["name"],
            "additionalProperties": false
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_secret_of_the_wrong_kind_is_described_without_its_value() {
        let schema = json!({
            "type": "object",
            "properties": {"password": {"type": "string", "minLength": 3}}
        });
        let schema = schema.as_object().unwrap();
        for (value, kind) in [
            (json!(918273645), "an integer"),
            (json!(3.25), "a number"),
            (json!([8675309123u64]), "an array"),
            (json!({"Key-As-Secret-41": 1}), "an object"),
        ] {
            let problems = validate(schema, &json!({"password": value}));
            let text = format!("{problems:?}");
            assert_eq!(problems.len(), 1, "{text}");
            assert!(
                text.contains(&format!("expected string, got {kind}")),
                "{text}"
            );
            for leaked in ["918273645", "3.25", "8675309123", "Key-As-Secret-41"] {
                assert!(!text.contains(leaked), "{text}");
            }
        }
        // A string secret keeps the masked description of its shape.
        let problems = validate(schema, &json!({"password": "ab"}));
        assert!(format!("{problems:?}").contains("at least 3 characters"));
    }

    #[test]
    fn reports_every_problem_with_the_field() {
        let problems = validate(
            &schema(),
            &json!({"type": "hots", "port": "80", "address": "1.2.3.4", "nmae": "x", "id": true}),
        );
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text.contains(&"`name`: is required (string) but missing".to_string()),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with(
                "`type`: \"hots\" is not allowed; allowed values: \"host\", \"network\""
            )),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t
                == "`port`: expected integer, got string \"80\" (send the number without quotes)"),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("`address`: expected array")),
            "{text:?}"
        );
        let big = validate(
            &schema(),
            &serde_json::from_str::<Value>(r#"{"name": "x", "port": 99999999999999999999}"#)
                .unwrap(),
        );
        assert!(
            big.iter().any(|p| p.to_string().contains("too large")),
            "{big:?}"
        );
        for (port, hint) in [
            ("18446744073709551615", "too large"),
            ("100.0", "without a decimal point or exponent"),
            ("1e2", "without a decimal point or exponent"),
            ("-0.0", "without a decimal point or exponent"),
        ] {
            let args = format!(r#"{{"name": "x", "port": {port}}}"#);
            let problems = validate(&schema(), &serde_json::from_str::<Value>(&args).unwrap());
            assert!(
                problems.iter().any(|p| p.to_string().contains(hint)),
                "{port}: {problems:?}"
            );
        }
        assert!(
            text.iter()
                .any(|t| t
                    .starts_with("`nmae`: is not an argument of this tool. Did you mean `name`?")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("`id`: expected integer or string, got boolean")),
            "{text:?}"
        );
        // A null says so once ("got null", not "got null null").
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
        let problems = validate(schema.as_object().expect("object"), &json!({"name": null}));
        let text: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(text, vec!["`name`: expected string, got null".to_string()]);
    }

    #[test]
    fn accepts_valid_arguments() {
        assert!(validate(&schema(), &json!({"name": "web", "port": 443, "id": "lan"})).is_empty());
        let long = validate(&schema(), &json!({"name": "toolong"}));
        assert_eq!(long[0].message, "must be at most 5 characters, got 7");
    }
}
