//! Lenient readers for REST API objects: the API answers booleans as `true`/`false`, but older
//! versions and config-derived values use `""`/`"yes"`, numbers sometimes arrive as strings.
//! Each reader returns `None` for a value it cannot read so the caller can report it.

use serde_json::Value;

pub fn str_field<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    match obj.get(key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// A string field that is absent, null or empty reads as `None`.
pub fn opt_string(obj: &Value, key: &str) -> Option<String> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Booleans: JSON booleans, and the config-style forms pfSense uses (`"yes"`, `""` for set).
pub fn bool_field(obj: &Value, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::Null => Some(false),
        Value::Number(n) => Some(n.as_i64().unwrap_or(0) != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "enabled" => Some(true),
            "false" | "no" | "off" | "0" | "disabled" => Some(false),
            // A present, empty config element means "set" in pfSense's config.xml.
            "" => Some(true),
            _ => None,
        },
        _ => None,
    }
}

pub fn flag(obj: &Value, key: &str) -> bool {
    bool_field(obj, key).unwrap_or(false)
}

pub fn u64_field(obj: &Value, key: &str) -> Option<u64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn f64_field(obj: &Value, key: &str) -> Option<f64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok(),
        _ => None,
    }
}

/// A list of strings: a JSON array, or a comma-separated string (config form).
pub fn string_list(obj: &Value, key: &str) -> Vec<String> {
    match obj.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => s
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The objects of an API answer: the `data` array of an envelope, or a bare array.
pub fn objects(value: &Value) -> Vec<&Value> {
    let data = value.get("data").unwrap_or(value);
    match data {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![data],
        _ => Vec::new(),
    }
}

/// The object of a singleton answer: the `data` object of an envelope, or the bare object.
pub fn object(value: &Value) -> Option<&Value> {
    let data = value.get("data").unwrap_or(value);
    data.is_object().then_some(data)
}
