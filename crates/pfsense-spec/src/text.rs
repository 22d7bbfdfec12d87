//! Text of the spec: operation metadata lines, HTML cleanup, "only available when" conditions.

use crate::model::{ConditionTest, FieldCondition};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// The marker pfrest puts before a field's conditions.
const CONDITIONS_MARKER: &str =
    "This field is only available when the following conditions are met:";

/// Metadata lines of an operation description, e.g. `**Endpoint type**: Singular<br>`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OperationMeta {
    pub description: String,
    pub endpoint_type: Option<String>,
    pub model: Option<String>,
    pub parent_model: Option<String>,
    pub auth_modes: Vec<String>,
    pub required_packages: Vec<String>,
    pub applies_immediately: Option<String>,
}

static META_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\*\*([A-Za-z ]+?):?\*\*:?\s*([^<]*)").expect("static regex"));
static DESCRIPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<h3>Description:</h3>(.*?)(?:<h3>|$)").expect("static regex")
});
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("static regex"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").expect("static regex"));
static CONDITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(Parent field )?`([^`]+)` must (not )?be (equal to `(.*)`|one of \[(.*)\])$")
        .expect("static regex")
});

fn bracket_list(s: &str) -> Vec<String> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty() && x != "None")
        .collect()
}

/// Parse the metadata lines pfrest writes into every operation description.
pub fn parse_operation_meta(description: &str) -> OperationMeta {
    let mut meta = OperationMeta {
        description: DESCRIPTION
            .captures(description)
            .map(|c| clean_html(&c[1]))
            .unwrap_or_else(|| clean_html(description)),
        ..OperationMeta::default()
    };
    for cap in META_LINE.captures_iter(description) {
        let value = cap[2].trim().to_string();
        match cap[1].trim() {
            "Endpoint type" => meta.endpoint_type = Some(value),
            "Associated model" => meta.model = Some(value),
            "Parent model" => meta.parent_model = (value != "None").then_some(value),
            "Supported authentication modes" => meta.auth_modes = bracket_list(&value),
            "Required packages" => meta.required_packages = bracket_list(&value),
            "Applies immediately" => meta.applies_immediately = Some(value),
            _ => {}
        }
    }
    meta
}

/// Correct the spec's known typos ([`crate::tables::TEXT_FIXES`]), whole words only.
pub fn fix_typos(s: &str) -> String {
    static FIXES: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        crate::tables::TEXT_FIXES
            .iter()
            .map(|(wrong, right)| {
                let re = Regex::new(&format!(r"\b{}\b", regex::escape(wrong))).expect("escaped");
                (re, *right)
            })
            .collect()
    });
    let mut out = s.to_string();
    for (re, right) in FIXES.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *right).into_owned();
        }
    }
    out
}

/// Strip HTML, turn line breaks into spaces, collapse whitespace, correct known typos.
pub fn clean_html(s: &str) -> String {
    let s = s.replace("<br>", " ").replace("<br/>", " ");
    let s = TAG.replace_all(&s, " ");
    let s = s
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    fix_typos(&SPACES.replace_all(s.trim(), " "))
}

/// The first sentence of a cleaned text (up to the first ". " or the end).
pub fn first_sentence(s: &str) -> String {
    let s = s.trim();
    match s.find(". ") {
        Some(i) => s[..=i].to_string(),
        None => {
            let mut out = s.to_string();
            if !out.is_empty() && !out.ends_with('.') {
                out.push('.');
            }
            out
        }
    }
}

/// Split a field description into its own text and its parsed conditions.
pub fn split_conditions(description: &str) -> (String, Vec<FieldCondition>) {
    let Some(pos) = description.find(CONDITIONS_MARKER) else {
        return (clean_html(description), Vec::new());
    };
    let text = clean_html(&description[..pos]);
    let tail = &description[pos + CONDITIONS_MARKER.len()..];
    let conditions = tail
        .split("<br>")
        .filter_map(|line| line.trim().strip_prefix("- "))
        .filter_map(parse_condition)
        .collect();
    (text, conditions)
}

/// One condition line such as ``- `type` must be equal to `'host'` `` (without the dash).
pub fn parse_condition(line: &str) -> Option<FieldCondition> {
    let cap = CONDITION.captures(line.trim())?;
    let negated = cap.get(3).is_some();
    let test = if let Some(v) = cap.get(5) {
        let v = php_literal(v.as_str());
        if negated {
            ConditionTest::NotEquals(v)
        } else {
            ConditionTest::Equals(v)
        }
    } else {
        let values = cap[6]
            .split(',')
            .map(|x| php_literal(x.trim()))
            .collect::<Vec<_>>();
        if negated {
            ConditionTest::NotOneOf(values)
        } else {
            ConditionTest::OneOf(values)
        }
    };
    Some(FieldCondition {
        field: cap[2].to_string(),
        on_parent: cap.get(1).is_some(),
        test,
    })
}

/// pfrest prints condition values as PHP literals: `true`, `NULL`, `'ldap'`, `5`, or bare words
/// inside lists.
fn php_literal(s: &str) -> Value {
    let s = s.trim();
    match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "NULL" | "null" => return Value::Null,
        _ => {}
    }
    if let Some(inner) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Value::String(inner.to_string());
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    Value::String(s.to_string())
}

fn literal_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// "Only when `type` is `host`." — the form conditions take in property descriptions.
pub fn describe_conditions(conditions: &[FieldCondition]) -> String {
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| {
            let field = if c.on_parent {
                format!("parent's `{}`", c.field)
            } else {
                format!("`{}`", c.field)
            };
            let list = |vs: &[Value]| vs.iter().map(literal_text).collect::<Vec<_>>().join(", ");
            match &c.test {
                ConditionTest::Equals(v) => format!("{field} is {}", literal_text(v)),
                ConditionTest::NotEquals(v) => format!("{field} is not {}", literal_text(v)),
                ConditionTest::OneOf(vs) => format!("{field} is one of {}", list(vs)),
                ConditionTest::NotOneOf(vs) => format!("{field} is not one of {}", list(vs)),
            }
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("Only when {}.", parts.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_lines() {
        let d = "<h3>Description:</h3>Reads an existing Firewall Alias.<br><h3>Details:</h3>**Endpoint type**: Singular<br>**Associated model**: FirewallAlias<br>**Parent model**: None<br>**Requires authentication**: Yes<br>**Supported authentication modes:** [ BasicAuth, JWTAuth, KeyAuth ]<br>**Allowed privileges**: [ page-all, api-v2-firewall-alias-get ]<br>**Required packages**: [ None ]<br>**Applies immediately**: No<br>**Utilizes cache**: None";
        let m = parse_operation_meta(d);
        assert_eq!(m.description, "Reads an existing Firewall Alias.");
        assert_eq!(m.endpoint_type.as_deref(), Some("Singular"));
        assert_eq!(m.model.as_deref(), Some("FirewallAlias"));
        assert_eq!(m.parent_model, None);
        assert_eq!(m.auth_modes, vec!["BasicAuth", "JWTAuth", "KeyAuth"]);
        assert!(m.required_packages.is_empty());
        assert_eq!(m.applies_immediately.as_deref(), Some("No"));
    }

    #[test]
    fn conditions_parse_all_forms() {
        let d = "The priority.<br><br>This field is only available when the following conditions are met:<br>- Parent field `scheduler` must be one of [ FAIRQ, CBQ, PRIQ ]<br>- `type` must be equal to `'host'`<br>- `enable` must be equal to `true`<br>- `mode` must not be one of [ UDP, TCP ]<br>- `x` must not be equal to `NULL`<br>";
        let (text, conds) = split_conditions(d);
        assert_eq!(text, "The priority.");
        assert_eq!(conds.len(), 5);
        assert!(conds[0].on_parent);
        assert_eq!(
            conds[0].test,
            ConditionTest::OneOf(vec![json!("FAIRQ"), json!("CBQ"), json!("PRIQ")])
        );
        assert_eq!(conds[1].test, ConditionTest::Equals(json!("host")));
        assert_eq!(conds[2].test, ConditionTest::Equals(json!(true)));
        assert_eq!(
            conds[3].test,
            ConditionTest::NotOneOf(vec![json!("UDP"), json!("TCP")])
        );
        assert_eq!(conds[4].test, ConditionTest::NotEquals(Value::Null));
        assert_eq!(
            describe_conditions(&conds[1..3]),
            "Only when `type` is `host` and `enable` is `true`."
        );
    }
}
