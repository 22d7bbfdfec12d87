//! pfrest's sorts: the lists it keeps sorted (`SORTED_MODELS`) and PHP 8's comparisons and
//! sort as `array_multisort` applies them, for both the emulator (which keeps those lists
//! sorted and serves `sort_by`) and the product's undo (which plays a list as the firewall
//! will hold it).
//!
//! pfrest's `Model::sort()` (`Core/Model.inc`) runs after every create (`_create`), update
//! (`_update`) and replacement (`replace_all`) of a model with `$this->sort_by`, not after a
//! delete. It reads the model's objects (under the same parent: `query(parent_id: …)`), sorts
//! them with `ModelSet::sort()` (`Core/ModelSet.inc`) and writes the list back in that order,
//! so ids (array positions) change and a created object lands at its sorted place, wherever it
//! was put first (at the end, or at `placement`). `ModelSet::sort()` calls `array_multisort`
//! with each field's value, `$this->sort_order` and `$this->sort_flags`, and the Model objects
//! themselves last: objects with equal fields are compared as PHP objects, property by
//! property, and the first that differs is the `id` they had before the sort, so equals keep
//! their order (seen on the lab: hosts `m` in domains `z.…` then `a.…` stay so). A plural read
//! or write with a caller's `sort_by` goes through the same `ModelSet::sort()`.

use serde_json::Value;
use std::cmp::Ordering;

/// How pfrest compares a sort field's values (`$this->sort_flags`, or a caller's `sort_flags`),
/// as `array_multisort` does (`php_get_data_compare_func_unstable` in PHP's
/// `ext/standard/array.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flags {
    /// `SORT_REGULAR`, the default: PHP's `<=>` (numbers and numeric strings by value, other
    /// strings byte by byte; see [`php_compare`]).
    Regular,
    /// `SORT_NUMERIC`: both values as floats (`zval_get_double`: a string's leading number,
    /// else 0).
    Numeric,
    /// `SORT_STRING`: both values as strings, byte by byte.
    String,
    /// `SORT_NATURAL`: `strnatcmp` on the values as strings ("…1.9" before "…1.10").
    Natural,
}

impl Flags {
    /// The flags a `sort_flags` constant name selects (pfrest v2.7.1 `Endpoint.inc`
    /// `validate_sort_flags` accepts these six and passes `constant($name)`), None for others.
    pub fn from_constant(name: &str) -> Option<Flags> {
        Some(match name {
            "SORT_REGULAR" => Flags::Regular,
            "SORT_NUMERIC" => Flags::Numeric,
            "SORT_STRING" => Flags::String,
            // `strcoll` in the locale PHP runs in; pfrest sets none, so the C locale, where it
            // is `strcmp`.
            "SORT_LOCALE_STRING" => Flags::String,
            "SORT_NATURAL" => Flags::Natural,
            // SORT_FLAG_CASE (8) alone: PHP masks it off (`sort_type & ~PHP_SORT_FLAG_CASE`)
            // and is left with SORT_REGULAR (0); checked with PHP 8.2's array_multisort:
            // "b","A","a","B" sort A, B, a, b.
            "SORT_FLAG_CASE" => Flags::Regular,
            _ => return None,
        })
    }

    /// Compare two values of a sort field under these flags.
    pub fn compare(self, a: &Value, b: &Value) -> Ordering {
        match self {
            Flags::Regular => php_compare(a, b),
            Flags::Numeric => php_double(a)
                .partial_cmp(&php_double(b))
                .unwrap_or(Ordering::Equal),
            Flags::String => php_string(a).as_bytes().cmp(php_string(b).as_bytes()),
            Flags::Natural => strnatcmp(php_string(a).as_bytes(), php_string(b).as_bytes()),
        }
    }
}

/// A pfrest release as (major, minor, patch), for the table's version bounds.
pub type Release = (u32, u32, u32);

/// A model pfrest keeps sorted.
#[derive(Debug)]
pub struct Sorted {
    pub model: &'static str,
    /// `$this->sort_by`, compared in that order.
    pub by: &'static [&'static str],
    /// `$this->sort_order == SORT_DESC` (every model in the table sorts ascending).
    pub descending: bool,
    pub flags: Flags,
    /// The first pfrest release that no longer sorts it; None while every version does.
    pub until: Option<Release>,
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
        until: Some((2, 8, 0)),
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
    pub fn applies_to<V: Into<Release>>(&self, version: Option<V>) -> bool {
        match (self.until, version) {
            (Some(until), Some(v)) => v.into() < until,
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
        let mut group: Vec<Value> = slots
            .iter()
            .map(|i| std::mem::take(&mut items[*i]))
            .collect();
        self.sort(&mut group);
        for (slot, object) in slots.into_iter().zip(group) {
            items[slot] = object;
        }
    }

    /// Sort `items`, one parent's objects (or a top-level model's), as pfrest does.
    pub fn sort(&self, items: &mut [Value]) {
        sort_objects(items, self.by, self.descending, self.flags);
    }
}

/// `ModelSet::sort($by, $order, $flags)`: sort objects by the fields `by` (each compared under
/// `flags`, a missing field as null), descending when asked; equals keep their order (the
/// trailing Model objects compare by their old ids). Never panics, whatever the comparisons
/// (see [`stable_sort_by`]).
pub fn sort_objects<S: AsRef<str>>(items: &mut [Value], by: &[S], descending: bool, flags: Flags) {
    stable_sort_by(items, |a, b| {
        for field in by {
            let field = field.as_ref();
            let o = flags.compare(
                a.get(field).unwrap_or(&Value::Null),
                b.get(field).unwrap_or(&Value::Null),
            );
            if o != Ordering::Equal {
                return if descending { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    });
}

/// Runs this short are sorted by insertion before merging (PHP's `zend_sort` also switches to
/// insertion at 16).
const INSERTION_RUN: usize = 16;

/// A stable sort that takes any comparison. PHP's comparisons are no total order ("9" < "10"
/// by value, "10" < "1a" < "9" byte by byte), and Rust's `slice::sort_by` may panic on one
/// since 1.81 ("user-provided comparison function does not correctly implement a total
/// order"): this sort only ever reads positions it holds, so an inconsistent comparison gives
/// some order of the same items, never a panic. Runs of 16 are sorted by insertion, then
/// merged. For a consistent comparison the order is PHP's (`array_multisort` is stable too);
/// for an inconsistent one it may differ from PHP's `zend_sort` (a hybrid insertion/quick sort
/// whose small-array insertion sort skips comparisons this one makes: measured on the lab, 16
/// values under `SORT_REGULAR` already part).
pub fn stable_sort_by<T, F>(items: &mut [T], mut compare: F)
where
    F: FnMut(&T, &T) -> Ordering,
{
    let n = items.len();
    if n < 2 {
        return;
    }
    // Sort positions, then move the items once.
    let mut order: Vec<usize> = (0..n).collect();
    {
        let items = &*items;
        let mut less_or_equal =
            |a: usize, b: usize| compare(&items[a], &items[b]) != Ordering::Greater;
        for run in order.chunks_mut(INSERTION_RUN) {
            for i in 1..run.len() {
                let mut j = i;
                while j > 0 && !less_or_equal(run[j - 1], run[j]) {
                    run.swap(j - 1, j);
                    j -= 1;
                }
            }
        }
        let mut width = INSERTION_RUN;
        let mut merged: Vec<usize> = Vec::with_capacity(n);
        while width < n {
            merged.clear();
            for start in (0..n).step_by(2 * width) {
                let mid = (start + width).min(n);
                let end = (start + 2 * width).min(n);
                let (mut l, mut r) = (start, mid);
                while l < mid && r < end {
                    // The right one goes first only when strictly less: stable.
                    if less_or_equal(order[l], order[r]) {
                        merged.push(order[l]);
                        l += 1;
                    } else {
                        merged.push(order[r]);
                        r += 1;
                    }
                }
                merged.extend_from_slice(&order[l..mid]);
                merged.extend_from_slice(&order[r..end]);
            }
            std::mem::swap(&mut order, &mut merged);
            width *= 2;
        }
    }
    // Put the item from position order[k] at k, cycle by cycle (order[k] = k marks it done).
    for start in 0..n {
        let mut k = start;
        while order[k] != k {
            let from = order[k];
            order[k] = k;
            if from == start {
                break;
            }
            items.swap(k, from);
            k = from;
        }
    }
}

/// A JSON value as PHP's string conversion gives it (null and false: "", true: "1", a whole
/// float without its ".0"; a list or object: "Array").
fn php_string(v: &Value) -> String {
    match v {
        Value::Null | Value::Bool(false) => String::new(),
        Value::Bool(true) => "1".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        },
        Value::Array(_) | Value::Object(_) => "Array".into(),
    }
}

/// The whitespace PHP skips around numeric strings (" \t\n\r\v\f").
const PHP_SPACE: [char; 6] = [' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// A JSON value as PHP's `zval_get_double` gives it: a string's leading number (after
/// whitespace; no hex, no "inf"), else 0; a list or object 1 when not empty.
fn php_double(v: &Value) -> f64 {
    match v {
        Value::Null | Value::Bool(false) => 0.0,
        Value::Bool(true) => 1.0,
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => {
            let t = s.trim_start_matches(PHP_SPACE);
            let end = numeric_prefix(t.as_bytes());
            t[..end].parse::<f64>().unwrap_or(0.0)
        }
        Value::Array(a) => f64::from(u8::from(!a.is_empty())),
        Value::Object(o) => f64::from(u8::from(!o.is_empty())),
    }
}

/// The length of the number at the start of `b` (a sign, digits with an optional fraction and
/// exponent), 0 when none.
fn numeric_prefix(b: &[u8]) -> usize {
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
        return 0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let j = i + 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let end = digits(j);
        if end > j {
            i = end;
        }
    }
    i
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
    let t = s.trim_matches(PHP_SPACE);
    let end = numeric_prefix(t.as_bytes());
    if end == 0 || end != t.len() {
        return None;
    }
    t.parse::<i64>()
        .map(Num::Int)
        .ok()
        .or_else(|| t.parse::<f64>().ok().map(Num::Float))
}

/// PHP 8's `<=>` (what `SORT_REGULAR` uses) on the JSON values a sort field holds: numbers and
/// numeric strings by value, other strings byte by byte, null as "" against a string and as
/// false against a number or boolean. Lists and objects are PHP arrays: greater than any
/// other value but null and booleans, compared with each other by size, then element by
/// element (an object's by key: a key the other lacks makes it greater, PHP's "uncomparable";
/// a list against an object of the same size: equal, not modelled further).
pub fn php_compare(a: &Value, b: &Value) -> Ordering {
    use Value::{Array, Bool, Null, Number, Object, String};
    let truthy = |v: &Value| match v {
        Null => false,
        Bool(b) => *b,
        Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        String(s) => !(s.is_empty() || s == "0"),
        Array(a) => !a.is_empty(),
        Object(o) => !o.is_empty(),
    };
    match (a, b) {
        (Number(x), Number(y)) => Num::of(x).cmp(Num::of(y)),
        (String(x), String(y)) => match (numeric(x), numeric(y)) {
            (Some(m), Some(n)) => m.cmp(n),
            _ => x.as_bytes().cmp(y.as_bytes()),
        },
        (Number(x), String(y)) => match numeric(y) {
            Some(n) => Num::of(x).cmp(n),
            None => php_string(a).as_bytes().cmp(y.as_bytes()),
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
        (Array(x), Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(v, w)| php_compare(v, w))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (Object(x), Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .map(|(k, v)| y.get(k).map_or(Ordering::Greater, |w| php_compare(v, w)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (Array(x), Object(y)) => x.len().cmp(&y.len()),
        (Object(x), Array(y)) => x.len().cmp(&y.len()),
        (Array(_) | Object(_), _) => Ordering::Greater,
        (_, Array(_) | Object(_)) => Ordering::Less,
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

    #[test]
    fn port_forwards_are_sorted_only_before_v2_8_0() {
        let forwards = row("PortForward").unwrap();
        assert!(forwards.applies_to(Some((2, 7, 1))));
        assert!(forwards.applies_to(Some((2, 7, 7))));
        assert!(!forwards.applies_to(Some((2, 8, 4))));
        assert!(!forwards.applies_to(Some((2, 10, 0))));
        assert!(forwards.applies_to(None::<Release>));
        let hosts = row("DNSResolverHostOverride").unwrap();
        assert!(hosts.applies_to(Some((2, 10, 0))) && !hosts.depends_on_version());
    }

    fn ordered(values: &Value, flags: Flags) -> Value {
        let mut items: Vec<Value> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!({ "f": v }))
            .collect();
        sort_objects(&mut items, &["f"], false, flags);
        items.into_iter().map(|o| o["f"].clone()).collect()
    }

    /// PHP 8.2.36's `array_multisort($values, SORT_ASC, <flags>, $ids)` on the same values.
    #[test]
    fn numeric_string_and_regular_flags_order_as_php_does() {
        assert_eq!(
            ordered(
                &json!([" 3", "\n4", "abc", "0x1A", "inf", "1e1x"]),
                Flags::Numeric
            ),
            json!(["abc", "0x1A", "inf", " 3", "\n4", "1e1x"])
        );
        assert_eq!(
            ordered(
                &json!(["10abc", "9", "abc", null, true, "1e1", " 3"]),
                Flags::Numeric
            ),
            json!(["abc", null, true, " 3", "9", "10abc", "1e1"])
        );
        assert_eq!(
            ordered(&json!(["b", "A", "10", "9", null, 5]), Flags::String),
            json!([null, "10", 5, "9", "A", "b"])
        );
        assert_eq!(
            ordered(&json!([[1, 2], [3], "z", 5, null]), Flags::Regular),
            json!([null, 5, "z", [3], [1, 2]])
        );
        // "inf" and "NaN" are no numeric strings in PHP: compared byte by byte.
        assert_eq!(php_compare(&json!("inf"), &json!("10")), Ordering::Greater);
        assert_eq!(php_compare(&json!("NaN"), &json!("9")), Ordering::Greater);
        assert_eq!(Flags::from_constant("SORT_FLAG_CASE"), Some(Flags::Regular));
        assert_eq!(Flags::from_constant("SORT_DESC"), None);
    }

    /// Values `<=>` orders inconsistently, in an order on which `slice::sort_by` panics: every
    /// flag sorts them into some order of the same values, and a consistent part (the numbers)
    /// stays correct under SORT_NUMERIC.
    #[test]
    fn inconsistent_comparisons_never_panic() {
        let values = json!([
            "9", "10", "1a", "8", "100", "2b", "11", "7", "1000", "3c", "99", "0a", "20", "5",
            "12a", "300", "4", "1", "9z", "21", "80", "b", "6", "15", "2"
        ]);
        let mut want: Vec<String> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        want.sort();
        for flags in [
            Flags::Regular,
            Flags::Numeric,
            Flags::String,
            Flags::Natural,
        ] {
            let got = ordered(&values, flags);
            let mut got: Vec<String> = got
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect();
            got.sort();
            assert_eq!(got, want, "{flags:?}");
        }
        // A consistent comparison on more than one run: the same as a stable std sort.
        let mut a: Vec<(u8, usize)> = (0..100).map(|i| ((i * 37 % 11) as u8, i)).collect();
        let mut b = a.clone();
        stable_sort_by(&mut a, |x, y| x.0.cmp(&y.0));
        b.sort_by_key(|x| x.0);
        assert_eq!(a, b);
        // Descending keeps equals in their order too.
        let mut items = vec![
            json!({"f": 1, "i": 0}),
            json!({"f": 2, "i": 1}),
            json!({"f": 1, "i": 2}),
        ];
        sort_objects(&mut items, &["f"], true, Flags::Regular);
        assert_eq!(
            items,
            vec![
                json!({"f": 2, "i": 1}),
                json!({"f": 1, "i": 0}),
                json!({"f": 1, "i": 2})
            ]
        );
    }
}
