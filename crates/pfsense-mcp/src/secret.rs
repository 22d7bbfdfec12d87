//! A string that never shows itself in logs, debug output or error messages; and the values
//! of secrets callers sent, scrubbed from every text that leaves the process (results, errors,
//! the firewall's own messages, the audit log, the journal, logs).

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::sync::RwLock;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// What a scrubbed value is replaced with (the same placeholder as redacted fields).
const SCRUBBED: &str = "<redacted>";

/// Secret values shorter than this are not scrubbed from free text: replacing every `ab` in
/// a result would garble it. Fields are still redacted by name whatever their length.
pub const MIN_SCRUBBED_CHARS: usize = 4;

/// How many secret values are remembered: bounded memory (past it, the shortest is dropped).
const REMEMBERED: usize = 4096;

/// The secret values callers sent (sensitive fields of requests), longest first so a value
/// that contains another is replaced whole.
static SEEN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember a secret value so [`scrub`] removes it from text that leaves the process.
pub fn remember(value: &str) {
    if value.chars().count() < MIN_SCRUBBED_CHARS || value.contains(SCRUBBED) {
        return;
    }
    let mut seen = SEEN.write().unwrap_or_else(|e| e.into_inner());
    if seen.iter().any(|s| s == value) {
        return;
    }
    if seen.len() >= REMEMBERED {
        seen.pop();
    }
    seen.push(value.to_string());
    seen.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

fn forms(value: &str) -> [String; 2] {
    // As is, and as it appears in Debug output and JSON (escaped quotes, backslashes, newlines).
    [value.to_string(), value.escape_debug().to_string()]
}

/// `text` with every remembered secret value replaced; borrowed as it is when it holds none
/// (every answer passes through here: most hold no secret, and copying them cost a copy of
/// each answer's text per call).
pub fn scrub(text: &str) -> Cow<'_, str> {
    let seen = SEEN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for value in seen.iter() {
        for form in forms(value) {
            if out.contains(&form) {
                out = Cow::Owned(out.replace(&form, SCRUBBED));
            }
        }
    }
    out
}

/// Whether `text` is, as a whole, a remembered secret value.
fn is_remembered(text: &str) -> bool {
    let seen = SEEN.read().unwrap_or_else(|e| e.into_inner());
    seen.iter().any(|v| v == text)
}

/// Whether any secret value is remembered (when none is, there is nothing to scrub).
pub fn any_remembered() -> bool {
    !SEEN.read().unwrap_or_else(|e| e.into_inner()).is_empty()
}

/// Scrub every string of a JSON value in place. An object key is replaced only when it is a
/// secret as a whole: keys are field names, and scrubbing a short secret out of them (`motp`
/// from `motp_enable`) would garble the object's shape rather than hide anything.
pub fn scrub_value(value: &mut Value) {
    // Nothing remembered (most calls of most sessions): nothing to walk.
    if !any_remembered() {
        return;
    }
    scrub_value_with(value);
}

fn scrub_value_with(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(cleaned) = scrub(s) {
                *s = cleaned;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_value_with),
        Value::Object(map) => {
            let old = std::mem::take(map);
            for (k, mut v) in old {
                scrub_value_with(&mut v);
                let key = if is_remembered(&k) {
                    SCRUBBED.to_string()
                } else {
                    k
                };
                map.insert(key, v);
            }
        }
        _ => {}
    }
}

/// A `tracing` writer: stderr, with remembered secret values scrubbed from every line.
#[derive(Clone, Copy, Default)]
pub struct ScrubbingStderr;

impl std::io::Write for ScrubbingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ScrubbingStderr {
    type Writer = ScrubbingStderr;
    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingStderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn remembered_values_are_scrubbed_from_text_and_json() {
        remember("Zq-scrub-test-\"quoted\"-value");
        remember("Zq-scrub");
        remember("abc");
        let text = r#"bad value Zq-scrub-test-"quoted"-value; also Zq-scrub-test-\"quoted\"-value and abc"#;
        assert_eq!(scrub(text), "bad value <redacted>; also <redacted> and abc");
        let mut v = json!({"message": "echo Zq-scrub here", "Zq-scrub": [1, "Zq-scrub"]});
        scrub_value(&mut v);
        assert_eq!(
            v,
            json!({"message": "echo <redacted> here", "<redacted>": [1, "<redacted>"]})
        );
    }

    #[test]
    fn keys_that_only_contain_a_secret_keep_their_name() {
        remember("Kq7w");
        let mut v = json!({"Kq7w_enable": true, "note": "pin Kq7w"});
        scrub_value(&mut v);
        assert_eq!(v, json!({"Kq7w_enable": true, "note": "pin <redacted>"}));
    }
}
