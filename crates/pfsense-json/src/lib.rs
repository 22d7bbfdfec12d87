//! The JSON work every read does, in a crate of its own so that it is compiled at the release
//! profile's opt-level 3. `pfsense-mcp` is built at opt-level "s" to keep its binary under
//! budget, and serde_json's generic functions are compiled in the crate that calls them, at that
//! crate's level: parsing a firewall's answer into a `Value` there ran at "s". Calling these
//! non-generic functions instead puts that code here (BENCHMARKS.md, "Sixteenth session").

use serde_json::Value;

/// `text` as one JSON value (serde_json's `from_str`).
pub fn parse(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str(text)
}

/// `value` as compact JSON, appended to `out` (serde_json's `to_writer`; writing a `Value` to
/// memory cannot fail).
pub fn write(out: &mut Vec<u8>, value: &Value) {
    let _ = serde_json::to_writer(out, value);
}

/// `text` as a JSON string, quotes and escapes included, appended to `out` (what serde_json
/// writes for a `str`).
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

/// `value` as compact JSON text.
pub fn to_string(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    write(&mut out, value);
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_and_errors_as_serde_json() {
        for text in [
            r#"{"b":1,"a":[true,null,"x\u00e9\n"],"c":{"d":-1.5e3}}"#,
            "[]",
            "\"\\ud83d\\ude00\"",
        ] {
            let ours = parse(text).unwrap();
            assert_eq!(ours, serde_json::from_str::<Value>(text).unwrap());
            assert_eq!(to_string(&ours), ours.to_string());
            if let Some(text) = ours[1][2].as_str() {
                let mut out = Vec::new();
                write_str(&mut out, text);
                assert_eq!(out, serde_json::to_vec(text).unwrap());
            }
        }
        for bad in ["{", "[1,]", "nul", "{} x"] {
            assert_eq!(
                parse(bad).unwrap_err().to_string(),
                serde_json::from_str::<Value>(bad).unwrap_err().to_string()
            );
        }
    }
}
