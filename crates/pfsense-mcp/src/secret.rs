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

/// A remembered secret and the forms it takes in text that carries it.
struct Remembered {
    value: String,
    /// The value as is and each escaping of it that differs, longest first.
    forms: Vec<String>,
    /// Scrubbed wherever it stands; else (a word such as `firewall`, the default `pfsense`)
    /// only where it stands as a word of its own, not inside a name or path.
    anywhere: bool,
}

/// Whether a secret is unlikely to be part of ordinary text: long, or of three kinds of
/// character. A weak one scrubbed everywhere garbled tool names (`pfsense_<redacted>_rule`),
/// API paths, descriptions and the journal's undo steps.
fn distinctive(value: &str) -> bool {
    let length = value.chars().count();
    let kinds = [
        value.chars().any(|c| c.is_lowercase()),
        value.chars().any(|c| c.is_uppercase()),
        value.chars().any(|c| c.is_ascii_digit()),
        value.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|k| **k)
    .count();
    length >= 12 || (length >= 8 && kinds >= 3)
}

/// Whether `c` continues a name: a weak secret next to one is part of a tool name
/// (`pfsense_firewall_…`), a path (`/api/v2/firewall/…`) or a longer word, not a value.
fn continues_a_name(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '/')
}

/// `text` with `form` replaced where it stands as a word of its own.
fn scrub_standing_alone(text: &str, form: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut changed = false;
    for (at, _) in text.match_indices(form) {
        let end = at + form.len();
        let alone = !text[..at].chars().next_back().is_some_and(continues_a_name)
            && !text[end..].chars().next().is_some_and(continues_a_name);
        if alone {
            out.push_str(&text[last..at]);
            out.push_str(SCRUBBED);
            last = end;
            changed = true;
        }
    }
    changed.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

impl Remembered {
    /// `anywhere` scrubs even a weak value wherever it stands.
    fn new(value: &str, anywhere: bool) -> Remembered {
        let mut forms = vec![
            value.to_string(),
            // Debug output (escaped quotes, backslashes, newlines).
            value.escape_debug().to_string(),
        ];
        // JSON as each writer escapes it: serde (only `"`, `\\` and control characters),
        // PHP's json_encode by default (`/` and non-ASCII too, pfrest's own answers), with
        // JSON_UNESCAPED_SLASHES or JSON_UNESCAPED_UNICODE, and upper-case hex digits.
        for slash in [false, true] {
            for unicode in [Unicode::Raw, Unicode::Lower, Unicode::Upper] {
                forms.push(json_escaped(value, slash, unicode));
            }
        }
        // An HTML page (a proxy's or PHP's error page): named or numeric quotes.
        for (quot, apos) in [("&quot;", "&#039;"), ("&#34;", "&#39;")] {
            forms.push(html_escaped(value, quot, apos));
        }
        // pfrest's messages quote values with backticks and turn a value's own `"` into one.
        forms.push(value.replace('"', "`"));
        // A URL or form body echoed back: PHP's rawurlencode and urlencode, either hex case.
        for (space, upper) in [("%20", true), ("+", true), ("%20", false), ("+", false)] {
            forms.push(percent_encoded(value, space, upper));
        }
        forms.retain(|f| !f.is_empty());
        forms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        forms.dedup();
        Remembered {
            value: value.to_string(),
            forms,
            anywhere: anywhere || distinctive(value),
        }
    }

    fn scrub_from(&self, out: &mut Cow<'_, str>) {
        for form in &self.forms {
            if !out.contains(form.as_str()) {
                continue;
            }
            if self.anywhere {
                *out = Cow::Owned(out.replace(form.as_str(), SCRUBBED));
            } else if let Some(scrubbed) = scrub_standing_alone(out, form) {
                *out = Cow::Owned(scrubbed);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Unicode {
    Raw,
    Lower,
    Upper,
}

fn json_escaped(value: &str, slash: bool, unicode: Unicode) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c if !c.is_ascii() && matches!(unicode, Unicode::Raw) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&match unicode {
                        Unicode::Upper => format!("\\u{unit:04X}"),
                        _ => format!("\\u{unit:04x}"),
                    });
                }
            }
        }
    }
    out
}

fn html_escaped(value: &str, quot: &str, apos: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str(quot),
            '\'' => out.push_str(apos),
            c => out.push(c),
        }
    }
    out
}

fn percent_encoded(value: &str, space: &str, upper: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push_str(space),
            b if upper => out.push_str(&format!("%{b:02X}")),
            b => out.push_str(&format!("%{b:02x}")),
        }
    }
    out
}

/// The secret values callers sent (sensitive fields of requests), longest first so a value
/// that contains another is replaced whole.
static SEEN: RwLock<Vec<Remembered>> = RwLock::new(Vec::new());

/// This server's own credentials (API key, Basic password, JWT). Kept apart from [`SEEN`]:
/// the firewall only ever shows them in its free text (a PHP notice printing the request's
/// headers before the JSON, an error page), so only that text is searched for them
/// ([`scrub_firewall_text`]) and results need no extra pass per call.
static OWN: RwLock<Vec<Remembered>> = RwLock::new(Vec::new());

fn remember_in(list: &RwLock<Vec<Remembered>>, value: &str, anywhere: bool) {
    if value.chars().count() < MIN_SCRUBBED_CHARS || value.contains(SCRUBBED) {
        return;
    }
    let mut seen = list.write().unwrap_or_else(|e| e.into_inner());
    if seen.iter().any(|s| s.value == value) {
        return;
    }
    if seen.len() >= REMEMBERED {
        seen.pop();
    }
    seen.push(Remembered::new(value, anywhere));
    seen.sort_by_key(|v| std::cmp::Reverse(v.value.len()));
}

/// Remember a secret value so [`scrub`] removes it from text that leaves the process.
pub fn remember(value: &str) {
    remember_in(&SEEN, value, false);
}

/// Remember one of this server's own credentials, for [`scrub_firewall_text`].
pub fn remember_own(value: &str) {
    // Searched for in the firewall's free text only, where even a weak one goes wherever
    // it stands (a PHP notice printing `PHP_AUTH_PW: pfsense`).
    remember_in(&OWN, value, true);
}

/// `text` with every remembered secret value replaced; borrowed as it is when it holds none
/// (every answer passes through here: most hold no secret, and copying them cost a copy of
/// each answer's text per call).
pub fn scrub(text: &str) -> Cow<'_, str> {
    let seen = SEEN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for value in seen.iter() {
        value.scrub_from(&mut out);
    }
    out
}

/// Free text the firewall wrote (what came before its JSON, an error page, an error's
/// message): this server's own credentials and every remembered secret replaced.
pub fn scrub_firewall_text(text: &str) -> Cow<'_, str> {
    let own = OWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for value in own.iter() {
        value.scrub_from(&mut out);
    }
    match out {
        Cow::Borrowed(text) => scrub(text),
        Cow::Owned(text) => Cow::Owned(scrub(&text).into_owned()),
    }
}

/// [`scrub_firewall_text`] on every string of a JSON value (a small one: an error's data).
pub fn scrub_firewall_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(cleaned) = scrub_firewall_text(s) {
                *s = cleaned;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_firewall_value),
        Value::Object(map) => map.values_mut().for_each(scrub_firewall_value),
        _ => {}
    }
}

/// Whether `text` is, as a whole, a remembered secret value.
fn is_remembered(text: &str) -> bool {
    let seen = SEEN.read().unwrap_or_else(|e| e.into_inner());
    seen.iter().any(|v| v.value == text)
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
    fn a_weak_secret_is_scrubbed_only_where_it_stands_as_a_value() {
        remember("firewall");
        let text = r#"pfsense_create_firewall_rule /api/v2/firewall/rule firewalls value `firewall`, {"password":"firewall"} ?password=firewall&x=1 ?p=firewall"#;
        assert_eq!(
            scrub(text),
            r#"pfsense_create_firewall_rule /api/v2/firewall/rule firewalls value `<redacted>`, {"password":"<redacted>"} ?password=<redacted>&x=1 ?p=<redacted>"#
        );
        remember_own("pfsense");
        assert_eq!(
            scrub_firewall_text("PHP_AUTH_PW: pfsense"),
            "PHP_AUTH_PW: <redacted>"
        );
    }

    #[test]
    fn escaped_echoes_are_scrubbed_and_own_credentials_only_from_the_firewalls_text() {
        remember("Zq/é<&>'\"x");
        for echo in [
            r#"Zq\/\u00e9<&>'\"x"#,
            r#"Zq/\u00E9<&>'\"x"#,
            r#"Zq\/é<&>'\"x"#,
            "Zq/é&lt;&amp;&gt;&#039;&quot;x",
            "Zq/é&lt;&amp;&gt;&#39;&#34;x",
            "Zq/é<&>'\\\"x",
            "Zq%2F%C3%A9%3C%26%3E%27%22x",
            "Zq%2f%c3%a9%3c%26%3e%27%22x",
        ] {
            assert_eq!(scrub(&format!("[{echo}]")), "[<redacted>]", "{echo}");
        }
        remember_own("Own-key-4f1c9a");
        let page = "HTTP_X_API_KEY: Own-key-4f1c9a";
        assert_eq!(scrub(page), page, "results are not searched for it");
        assert_eq!(scrub_firewall_text(page), "HTTP_X_API_KEY: <redacted>");
        let mut data = json!({"errors": ["key Own-key-4f1c9a"], "n": 1});
        scrub_firewall_value(&mut data);
        assert_eq!(data, json!({"errors": ["key <redacted>"], "n": 1}));
    }

    #[test]
    fn keys_that_only_contain_a_secret_keep_their_name() {
        remember("Kq7w");
        let mut v = json!({"Kq7w_enable": true, "note": "pin Kq7w"});
        scrub_value(&mut v);
        assert_eq!(v, json!({"Kq7w_enable": true, "note": "pin <redacted>"}));
    }
}
