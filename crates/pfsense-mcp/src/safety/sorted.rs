//! The lists pfrest keeps sorted, and its sort, so that a batch undo's preview plays a list as
//! the firewall will hold it (`undo::read_left_by_newer`).
//!
//! pfrest's `Model::sort()` (`Core/Model.inc`) runs after every create (`_create`), update
//! (`_update`) and replacement (`replace_all`) of a model with `$this->sort_by`, not after a
//! delete. It reads the model's objects (under the same parent: `query(parent_id: …)`), sorts
//! them with `ModelSet::sort()` (`Core/ModelSet.inc`) and writes the list back in that order,
//! so ids (array positions) change and a created object lands at its sorted place, wherever it
//! was put first (at the end, or at `placement`). `ModelSet::sort()` calls `array_multisort`
//! with each field's representation value, `$this->sort_order` and `$this->sort_flags`, and
//! the Model objects themselves last: objects with equal fields are compared as PHP objects,
//! property by property, and the first that differs is the `id` they had before the sort, so
//! equals keep their order (seen on the lab: hosts `m` in domains `z.…` then `a.…` stay so).

use crate::version::Version;
use serde_json::Value;
use std::cmp::Ordering;

/// How pfrest compares a sort field's values (`$this->sort_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// `SORT_REGULAR`, the default: PHP's `<=>` (numbers and numeric strings by value, other
    /// strings byte by byte).
    Regular,
    /// `SORT_NATURAL`: `strnatcmp` on the values as strings ("…1.9" before "…1.10").
    Natural,
}

/// A model pfrest keeps sorted.
#[derive(Debug)]
pub struct Sorted {
    pub model: &'static str,
    /// `$this->sort_by`, compared in that order.
    pub by: &'static [&'static str],
    /// `$this->sort_order == SORT_DESC` (every model in the table sorts ascending).
    pub descending: bool,
    pub flags: Flags,
    /// The first pfrest version that no longer sorts it; None while every version does.
    pub until: Option<Version>,
}

/// Every model with `$this->sort_by` in pfrest's Models (grep `this->sort_by = ` in
/// `Models/*.inc`), read in v2.7.1, v2.8.4 and v2.10.0: the same list and fields in all three,
/// except `PortForward`, sorted by interface only up to v2.7.x (v2.8.0 dropped it: "port
/// forward sorting presets removed"; v2.8.4's and v2.10.0's `PortForward.inc` set no
/// `sort_by`). `DHCPServerStaticMapping` sets `sort_flags = SORT_NATURAL`; the others keep
/// `SORT_REGULAR`, and all set or keep `SORT_ASC`. The two nested models (static mappings
/// under a DHCP server, host override aliases under a host override) sort under their parent.
pub const SORTED_MODELS: &[Sorted] = &[
    Sorted {
        model: "FirewallSchedule",
        by: &["name"],
        descending: false,
        flags: Flags::Regular,
        until: None,
    },
    Sorted {
        model: "PortForward",
        by: &["interface"],
        descending: false,
        flags: Flags::Regular,
        until: Some(Version::new(2, 8, 0)),
    },
    Sorted {
        model: "DNSResolverHostOverride",
        by: &["host"],
        descending: false,
        flags: Flags::Regular,
        until: None,
    },
    Sorted {
        model: "DNSResolverHostOverrideAlias",
        by: &["host"],
        descending: false,
        flags: Flags::Regular,
        until: None,
    },
    Sorted {
        model: "RESTAPIAccessListEntry",
        by: &["weight"],
        descending: false,
        flags: Flags::Regular,
        until: None,
    },
    Sorted {
        model: "UserGroup",
        by: &["name"],
        descending: false,
        flags: Flags::Regular,
        until: None,
    },
    Sorted {
        model: "DHCPServerStaticMapping",
        by: &["ipaddr"],
        descending: false,
        flags: Flags::Natural,
        until: None,
    },
];

/// The table's row for `model`, whatever the version.
pub fn row(model: &str) -> Option<&'static Sorted> {
    SORTED_MODELS.iter().find(|s| s.model == model)
}

impl Sorted {
    /// Whether pfrest `version` sorts this model (an unknown version: as the oldest does).
    pub fn applies_to(&self, version: Option<Version>) -> bool {
        match (self.until, version) {
            (Some(until), Some(v)) => v < until,
            _ => true,
        }
    }

    /// Whether the answer depends on the firewall's version.
    pub fn depends_on_version(&self) -> bool {
        self.until.is_some()
    }

    /// Sort the objects under `parent` (None: top-level objects) in `items` as pfrest does,
    /// leaving the others where they are. A stable sort: equals keep their order.
    pub fn sort_group(&self, items: &mut [Value], parent: Option<&Value>) {
        let slots: Vec<usize> = (0..items.len())
            .filter(|i| items[*i].get("parent_id").filter(|v| !v.is_null()) == parent)
            .collect();
        let mut group: Vec<Value> = slots.iter().map(|i| items[*i].clone()).collect();
        // An insertion sort, not `sort_by`: PHP's `<=>` is no total order on strings ("9" <
        // "10" by value, "10" < "1a" < "9" byte by byte), and `sort_by` may panic on one.
        for i in 1..group.len() {
            let mut j = i;
            while j > 0 && self.compare(&group[j - 1], &group[j]) == Ordering::Greater {
                group.swap(j - 1, j);
                j -= 1;
            }
        }
        for (slot, object) in slots.into_iter().zip(group) {
            items[slot] = object;
        }
    }

    fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for field in self.by {
            let (x, y) = (
                a.get(*field).unwrap_or(&Value::Null),
                b.get(*field).unwrap_or(&Value::Null),
            );
            let o = match self.flags {
                Flags::Regular => php_compare(x, y),
                Flags::Natural => strnatcmp(php_string(x).as_bytes(), php_string(y).as_bytes()),
            };
            let o = if self.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}

/// A JSON scalar as PHP's string conversion gives it (null and false: "", true: "1").
fn php_string(v: &Value) -> String {
    match v {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "1".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number PHP reads from a numeric string (`is_numeric`: whitespace around, a sign, digits
/// with an optional fraction and exponent; no hex), as an integer when it is one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn of(n: &serde_json::Number) -> Num {
        n.as_i64()
            .map(Num::Int)
            .unwrap_or_else(|| Num::Float(n.as_f64().unwrap_or(f64::NAN)))
    }

    fn cmp(self, other: Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(&b),
            (a, b) => a.float().partial_cmp(&b.float()).unwrap_or(Ordering::Equal),
        }
    }

    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn numeric(s: &str) -> Option<Num> {
    let t = s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
    let b = t.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits(i);
    let mut seen = int_end > i;
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = digits(i + 1);
        seen |= frac_end > i + 1;
        i = frac_end;
    }
    if !seen {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let j = i + 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let end = digits(j);
        if end > j {
            i = end;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<i64>()
        .map(Num::Int)
        .ok()
        .or_else(|| t.parse::<f64>().ok().map(Num::Float))
}

/// PHP 8's `<=>` (what `SORT_REGULAR` uses) on the JSON values a sort field holds: numbers and
/// numeric strings by value, other strings byte by byte, null as "" against a string and as
/// false against a number or boolean. Lists and objects (no sort field holds one) are equal.
pub fn php_compare(a: &Value, b: &Value) -> Ordering {
    use Value::{Bool, Null, Number, String};
    let truthy = |v: &Value| match v {
        Null => false,
        Bool(b) => *b,
        Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        String(s) => !(s.is_empty() || s == "0"),
        _ => true,
    };
    match (a, b) {
        (Number(x), Number(y)) => Num::of(x).cmp(Num::of(y)),
        (String(x), String(y)) => match (numeric(x), numeric(y)) {
            (Some(m), Some(n)) => m.cmp(n),
            _ => x.as_bytes().cmp(y.as_bytes()),
        },
        (Number(x), String(y)) => match numeric(y) {
            Some(n) => Num::of(x).cmp(n),
            None => x.to_string().as_bytes().cmp(y.as_bytes()),
        },
        (String(_), Number(_)) => php_compare(b, a).reverse(),
        (Null, String(s)) => {
            if s.is_empty() {
                Ordering::Equal
            } else {
                Ordering::Less
            }
        }
        (String(_), Null) => php_compare(b, a).reverse(),
        (Null | Bool(_), _) | (_, Null | Bool(_)) => truthy(a).cmp(&truthy(b)),
        _ => Ordering::Equal,
    }
}

/// PHP's `strnatcmp` (`ext/standard/strnatcmp.c`, `strnatcmp_ex` without case folding): runs
/// of digits compared by value (right-aligned), or left-aligned when one starts with 0 (a
/// fraction), leading zeros and whitespace skipped, other bytes compared as bytes.
pub fn strnatcmp(a: &[u8], b: &[u8]) -> Ordering {
    if a.is_empty() || b.is_empty() {
        return a.len().cmp(&b.len());
    }
    let at = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(0);
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let (mut ai, mut bi) = (0, 0);
    let (mut ca, mut cb) = (a[0], b[0]);
    // Leading zeros, at the start only.
    while ca == b'0' && a.get(ai + 1).is_some_and(u8::is_ascii_digit) {
        ai += 1;
        ca = a[ai];
    }
    while cb == b'0' && b.get(bi + 1).is_some_and(u8::is_ascii_digit) {
        bi += 1;
        cb = b[bi];
    }
    loop {
        while space(ca) {
            ai += 1;
            ca = at(a, ai);
        }
        while space(cb) {
            bi += 1;
            cb = at(b, bi);
        }
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let fractional = ca == b'0' || cb == b'0';
            let r = if fractional {
                compare_left(a, &mut ai, b, &mut bi)
            } else {
                compare_right(a, &mut ai, b, &mut bi)
            };
            if r != Ordering::Equal {
                return r;
            }
            match (ai >= a.len(), bi >= b.len()) {
                (true, true) => return Ordering::Equal,
                (true, false) => return Ordering::Less,
                (false, true) => return Ordering::Greater,
                (false, false) => {
                    ca = a[ai];
                    cb = b[bi];
                }
            }
        }
        if ca != cb {
            return ca.cmp(&cb);
        }
        ai += 1;
        bi += 1;
        match (ai >= a.len(), bi >= b.len()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {
                ca = a[ai];
                cb = b[bi];
            }
        }
    }
}

fn digit_at(s: &[u8], i: usize) -> bool {
    s.get(i).is_some_and(u8::is_ascii_digit)
}

/// Two runs of digits, right-aligned: the longer run is greater, else the first difference.
fn compare_right(a: &[u8], ai: &mut usize, b: &[u8], bi: &mut usize) -> Ordering {
    let mut bias = Ordering::Equal;
    loop {
        match (digit_at(a, *ai), digit_at(b, *bi)) {
            (false, false) => return bias,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => {
                if bias == Ordering::Equal {
                    bias = a[*ai].cmp(&b[*bi]);
                }
            }
        }
        *ai += 1;
        *bi += 1;
    }
}

/// Two runs of digits, left-aligned (fractions): the first difference wins.
fn compare_left(a: &[u8], ai: &mut usize, b: &[u8], bi: &mut usize) -> Ordering {
    loop {
        match (digit_at(a, *ai), digit_at(b, *bi)) {
            (false, false) => return Ordering::Equal,
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => match a[*ai].cmp(&b[*bi]) {
                Ordering::Equal => {}
                o => return o,
            },
        }
        *ai += 1;
        *bi += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sorted_by(model: &str, values: &[Value], field: &str) -> Vec<Value> {
        let mut items: Vec<Value> = values.iter().map(|v| json!({ field: v })).collect();
        row(model).unwrap().sort_group(&mut items, None);
        items.into_iter().map(|o| o[field].clone()).collect()
    }

    /// The expected orders are PHP 8.2.36's `array_multisort($values, SORT_ASC, <flags>, $ids)`
    /// on the same values.
    #[test]
    fn natural_sort_orders_addresses_as_php_does() {
        let ips = json!([
            "192.168.1.10",
            "192.168.1.9",
            "192.168.1.100",
            "",
            "10.0.0.1",
            "192.168.01.5",
            "192.168.1.09"
        ]);
        assert_eq!(
            sorted_by("DHCPServerStaticMapping", ips.as_array().unwrap(), "ipaddr"),
            json!([
                "",
                "10.0.0.1",
                "192.168.01.5",
                "192.168.1.09",
                "192.168.1.9",
                "192.168.1.10",
                "192.168.1.100"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        // php -r 'var_dump(strnatcmp("a01","a1"), strnatcmp("x 1","x1"), …)'
        assert_eq!(strnatcmp(b"a01", b"a1"), Ordering::Less);
        assert_eq!(strnatcmp(b"x 1", b"x1"), Ordering::Equal);
        assert_eq!(strnatcmp(b"1.10", b"1.9"), Ordering::Greater);
        assert_eq!(strnatcmp(b"0.5", b"0.25"), Ordering::Less);
    }

    #[test]
    fn regular_sort_compares_numeric_strings_by_value_and_keeps_equals_in_order() {
        let hosts = json!([
            "10", "9", "9a", "1e1", "b", "B", "", " 5", "5 ", "0x1A", "abc", "ab"
        ]);
        assert_eq!(
            sorted_by("DNSResolverHostOverride", hosts.as_array().unwrap(), "host"),
            json!([
                "", " 5", "0x1A", "5 ", "9", "10", "1e1", "9a", "B", "ab", "abc", "b"
            ])
            .as_array()
            .unwrap()
            .clone()
        );
        assert_eq!(php_compare(&json!(null), &json!("")), Ordering::Equal);
        assert_eq!(php_compare(&json!(null), &json!("a")), Ordering::Less);
        assert_eq!(php_compare(&json!(10), &json!(9)), Ordering::Greater);
        assert_eq!(php_compare(&json!(10), &json!("9")), Ordering::Greater);
        assert_eq!(php_compare(&json!(10), &json!("a")), Ordering::Less);
    }

    #[test]
    fn a_nested_model_sorts_under_its_parent_only() {
        let mut items = vec![
            json!({"parent_id": 0, "host": "z"}),
            json!({"parent_id": 1, "host": "y"}),
            json!({"parent_id": 0, "host": "a"}),
            json!({"parent_id": 1, "host": "b"}),
        ];
        row("DNSResolverHostOverrideAlias")
            .unwrap()
            .sort_group(&mut items, Some(&json!(0)));
        assert_eq!(
            items,
            vec![
                json!({"parent_id": 0, "host": "a"}),
                json!({"parent_id": 1, "host": "y"}),
                json!({"parent_id": 0, "host": "z"}),
                json!({"parent_id": 1, "host": "b"}),
            ]
        );
    }

    /// Every row names a model the tools have, with a list to read and sort fields its create
    /// takes.
    #[test]
    fn the_sorted_models_table_names_models_and_fields_the_tools_have() {
        use crate::catalog::TOOLS;
        use crate::spec::{Method, PathKind};
        for row in SORTED_MODELS {
            let has = |method: Method, kind: PathKind| {
                TOOLS
                    .iter()
                    .find(|d| d.model == row.model && d.method == method && d.path_kind == kind)
            };
            assert!(
                has(Method::Get, PathKind::Plural).is_some(),
                "{} has a list",
                row.model
            );
            let create = has(Method::Post, PathKind::Item)
                .unwrap_or_else(|| panic!("{} has a create", row.model));
            for field in row.by {
                assert!(
                    create.args.iter().any(|a| a.name == *field),
                    "{} takes {field}",
                    create.name
                );
            }
        }
    }

    #[test]
    fn port_forwards_are_sorted_only_before_v2_8_0() {
        let forwards = row("PortForward").unwrap();
        assert!(forwards.applies_to(Version::parse("v2.7.1")));
        assert!(forwards.applies_to(Version::parse("v2.7.7")));
        assert!(!forwards.applies_to(Version::parse("v2.8.4")));
        assert!(!forwards.applies_to(Version::parse("v2.10.0")));
        let hosts = row("DNSResolverHostOverride").unwrap();
        assert!(hosts.applies_to(Version::parse("v2.10.0")) && !hosts.depends_on_version());
    }
}
