//! Small readers shared by the checks.

use crate::model::Evidence;
use crate::snapshot::{INTERFACES, Snapshot, Unknown};
use serde_json::Value;

pub fn ev(endpoint: &str, object: impl Into<String>, field: &str, value: Value) -> Evidence {
    Evidence {
        endpoint: endpoint.to_string(),
        object: object.into(),
        field: field.to_string(),
        value,
    }
}

/// A boolean field; pfrest leaves unset booleans out or sends null, both mean false.
pub fn flag(v: &Value, field: &str) -> bool {
    v.get(field).and_then(Value::as_bool).unwrap_or(false)
}

/// A string field, empty when unset.
pub fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field).and_then(Value::as_str).unwrap_or("")
}

/// A list of strings, empty when unset.
pub fn strings(v: &Value, field: &str) -> Vec<String> {
    match v.get(field) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The singleton's field as given, for evidence.
pub fn field_value(s: &Snapshot, path: &str, field: &str) -> Result<Value, Unknown> {
    s.field(path, field).cloned()
}

/// A boolean field of a singleton that must be present.
pub fn required_flag(s: &Snapshot, path: &str, field: &str) -> Result<bool, Unknown> {
    let v = s.field(path, field)?;
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        other => Err(Unknown(format!(
            "GET {path} `{field}` is {other}, not a boolean"
        ))),
    }
}

/// An interface as the rules and settings may name it: by id (`wan`), description (`WAN`) or
/// device (`em0`), depending on the REST API's `represent_interfaces_as`.
#[derive(Clone, Debug)]
pub struct Iface {
    pub id: String,
    pub descr: String,
    pub device: String,
    pub value: Value,
}

impl Iface {
    pub fn named_by(&self, name: &str) -> bool {
        let name = name.trim();
        (!self.id.is_empty() && name.eq_ignore_ascii_case(&self.id))
            || (!self.descr.is_empty() && name.eq_ignore_ascii_case(&self.descr))
            || (!self.device.is_empty() && name == self.device)
    }

    pub fn label(&self) -> String {
        if self.descr.is_empty() || self.descr.eq_ignore_ascii_case(&self.id) {
            format!("interface {}", self.id)
        } else {
            format!("interface {} ({})", self.id, self.descr)
        }
    }
}

pub fn interfaces(s: &Snapshot) -> Result<Vec<Iface>, Unknown> {
    Ok(s.list(INTERFACES)?
        .iter()
        .map(|v| Iface {
            id: text(v, "id").to_string(),
            descr: text(v, "descr").to_string(),
            device: text(v, "if").to_string(),
            value: v.clone(),
        })
        .collect())
}

/// Interfaces that face the Internet. pfSense marks none explicitly; these are the signs its own
/// setup wizard and GUI use: the interface named `wan`, or one with an upstream gateway (a
/// static `gateway`, or an address obtained by DHCP/PPP from the provider).
pub fn internet_facing(s: &Snapshot) -> Result<Vec<Iface>, Unknown> {
    Ok(interfaces(s)?
        .into_iter()
        .filter(|i| {
            i.id == "wan"
                || !text(&i.value, "gateway").is_empty()
                || matches!(text(&i.value, "typev4"), "dhcp" | "pppoe" | "pptp" | "l2tp")
        })
        .filter(|i| i.value.get("enable").and_then(Value::as_bool) != Some(false))
        .collect())
}

/// "rule 3 (tracker 100000101, "Default allow LAN", on lan)".
pub fn rule_label(index: usize, rule: &Value) -> String {
    let tracker = rule
        .get("tracker")
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".into());
    let ifaces = strings(rule, "interface").join(",");
    let descr = text(rule, "descr");
    if descr.is_empty() {
        format!("rule #{index} (tracker {tracker}, on {ifaces})")
    } else {
        format!("rule #{index} (tracker {tracker}, \"{descr}\", on {ifaces})")
    }
}

/// "any" in a rule's address or port field: unset, empty or the keyword.
pub fn is_any(v: &Value, field: &str) -> bool {
    matches!(text(v, field).trim(), "" | "any")
}

/// Parses `Y-m-d H:i:s` (pfrest's certificate dates) to Unix seconds.
pub fn parse_ymd_hms(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let min: i64 = t.next()?.parse().ok()?;
    let sec: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-03` from Unix seconds.
pub fn format_date(unix: i64) -> String {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(parse_ymd_hms("2026-12-03 05:20:00"), Some(1_796_275_200));
        assert_eq!(format_date(1_796_275_200), "2026-12-03");
        assert_eq!(parse_ymd_hms("not a date"), None);
    }
}
