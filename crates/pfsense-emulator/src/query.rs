//! Filters (`field__op=value`), sorting and pagination of plural reads, in pfrest's order:
//! with filters or `sort_by`: filter → sort → paginate → reverse; otherwise reverse → paginate.

use crate::reply::{ApiError, ApiResult};
use crate::validate::loose_eq;
use pfsense_spec::php_sort::{self, Flags};
use regex::RegexBuilder;
use serde_json::Value;

/// The filter operations pfrest knows.
pub const FILTER_OPS: &[&str] = &[
    "exact",
    "except",
    "contains",
    "startswith",
    "endswith",
    "in",
    "lt",
    "lte",
    "gt",
    "gte",
    "regex",
    "format",
];

/// One parsed filter. `field` may name no model field: such a filter matches everything
/// ("unknown keys count as a filter that matches everything").
#[derive(Debug, Clone)]
pub struct Filter {
    pub field: String,
    pub op: String,
    pub value: Value,
}

pub fn parse_filter(key: &str, value: &Value) -> ApiResult<Filter> {
    if let Some((field, op)) = key.rsplit_once("__") {
        if !FILTER_OPS.contains(&op) {
            return Err(ApiError::new(
                404,
                "QUERY_FILTER_NOT_FOUND",
                format!("No query filter named `{op}` exists."),
            ));
        }
        return Ok(Filter {
            field: field.to_string(),
            op: op.to_string(),
            value: value.clone(),
        });
    }
    Ok(Filter {
        field: key.to_string(),
        op: "exact".into(),
        value: value.clone(),
    })
}

/// Whether an object passes a filter. Fields the object does not have match everything.
pub fn matches(obj: &Value, filter: &Filter) -> ApiResult<bool> {
    let Some(actual) = obj.get(&filter.field) else {
        return Ok(true);
    };
    let want = &filter.value;
    let as_text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(match filter.op.as_str() {
        "exact" => loose_eq(actual, want),
        "except" => !loose_eq(actual, want),
        "contains" => match actual {
            Value::Array(items) => items.iter().any(|i| loose_eq(i, want)),
            other => as_text(other).contains(&as_text(want)),
        },
        "startswith" => as_text(actual).starts_with(&as_text(want)),
        "endswith" => as_text(actual).ends_with(&as_text(want)),
        "in" => match want {
            Value::Array(options) => options.iter().any(|o| loose_eq(actual, o)),
            other => as_text(other)
                .split(',')
                .any(|o| loose_eq(actual, &Value::String(o.trim().to_string()))),
        },
        "lt" | "lte" | "gt" | "gte" => {
            let (Some(a), Some(b)) = (number(actual), number(want)) else {
                return Ok(false);
            };
            match filter.op.as_str() {
                "lt" => a < b,
                "lte" => a <= b,
                "gt" => a > b,
                _ => a >= b,
            }
        }
        "regex" => pcre_match(&as_text(want), &as_text(actual))?,
        "format" => format_matches(&as_text(want), &as_text(actual)),
        _ => true,
    })
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// PCRE with delimiters (`/^foo/i`); a pattern without delimiters is used as is.
fn pcre_match(pattern: &str, text: &str) -> ApiResult<bool> {
    let (body, flags) = match pattern.chars().next() {
        Some(d) if !d.is_alphanumeric() && d != '\\' && pattern.len() >= 2 => {
            let end = if d == '(' {
                ')'
            } else if d == '{' {
                '}'
            } else {
                d
            };
            // Byte offsets: the delimiter may be a multi-byte character.
            let start = d.len_utf8();
            match pattern[start..].rfind(end) {
                Some(pos) => (
                    &pattern[start..start + pos],
                    &pattern[start + pos + end.len_utf8()..],
                ),
                None => (pattern, ""),
            }
        }
        _ => (pattern, ""),
    };
    let re = RegexBuilder::new(body)
        .case_insensitive(flags.contains('i'))
        .multi_line(flags.contains('m'))
        .dot_matches_new_line(flags.contains('s'))
        .build()
        .map_err(|e| {
            ApiError::bad(
                "QUERY_FILTER_REGEX_INVALID",
                format!("The regex filter pattern is not valid: {e}"),
            )
        })?;
    Ok(re.is_match(text))
}

fn format_matches(format: &str, text: &str) -> bool {
    use std::net::IpAddr;
    match format {
        "ipv4" => text.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<std::net::Ipv6Addr>().is_ok(),
        "ip" => text.parse::<IpAddr>().is_ok(),
        "subnet" | "cidr" => text
            .split_once('/')
            .is_some_and(|(a, p)| a.parse::<IpAddr>().is_ok() && p.parse::<u8>().is_ok()),
        "mac" => {
            let parts: Vec<&str> = text.split(':').collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        "numeric" => text.parse::<f64>().is_ok(),
        "email" => text.contains('@') && text.contains('.'),
        "url" => text.starts_with("http://") || text.starts_with("https://"),
        "hostname" | "fqdn" => {
            !text.is_empty()
                && text.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        }
        _ => false,
    }
}

/// Sort options shared by plural reads and writes with `sort_by`.
#[derive(Debug, Clone)]
pub struct SortSpec {
    pub by: Vec<String>,
    pub descending: bool,
    pub flag: Flags,
}

/// A caller's `sort_by`, `sort_order` and `sort_flags`, each as sent (already validated).
#[derive(Debug, Clone, Default)]
pub struct SortRequest {
    /// None when not sent; `Some(vec![])` for `sort_by: []`.
    pub by: Option<Vec<String>>,
    /// `sort_order: SORT_DESC`.
    pub descending: bool,
    pub flags: Option<Flags>,
}

impl SortRequest {
    /// The flags pfrest sorts with: the caller's, else the model's own `$sort_flags` (pfrest
    /// v2.7.1 `Endpoint.inc`, reads and writes alike: `$this->sort_flags ? constant(…) :
    /// $this->model->sort_flags`; only static mappings set theirs, `SORT_NATURAL`).
    fn flags(&self, model: &str) -> Flags {
        self.flags
            .or_else(|| php_sort::row(model).map(|r| r.flags))
            .unwrap_or(Flags::Regular)
    }

    /// The sort of a plural read: only with the caller's fields.
    pub fn for_read(&self, model: &str) -> Option<SortSpec> {
        let by = self.by.clone().filter(|by| !by.is_empty())?;
        Some(SortSpec {
            by,
            descending: self.descending,
            flag: self.flags(model),
        })
    }

    /// The sort pfrest's `Model::sort()` runs after a POST or PATCH (pfrest v2.7.1 to v2.10.0
    /// `Endpoint::post()`/`patch()`): the caller's `sort_by` replaces the model's own
    /// (`$this->sort_by ?? $this->model->sort_by`), `sort_order` is the caller's or the
    /// endpoint's default `SORT_ASC` (never the model's), the flags as [`Self::flags`]. An
    /// empty `sort_by` turns the sort off (`Model::sort()` returns on an empty list). Measured
    /// on the lab: host overrides (sorted by `host`) created with `sort_by: domain` and
    /// `sort_order: SORT_DESC` end sorted by domain, descending; with `sort_order: SORT_DESC`
    /// alone, by host descending; with `sort_by: []`, appended unsorted.
    pub fn for_write(
        &self,
        model_sort: Option<&php_sort::Sorted>,
        model: &str,
    ) -> Option<SortSpec> {
        let by = match &self.by {
            Some(by) => by.clone(),
            None => model_sort?.by.iter().map(|f| f.to_string()).collect(),
        };
        if by.is_empty() {
            return None;
        }
        Some(SortSpec {
            by,
            descending: self.descending,
            flag: self.flags(model),
        })
    }
}

/// pfrest's `ModelSet::sort()` with a caller's `sort_by`: PHP's comparisons and a stable sort
/// that cannot panic on them (`pfsense_spec::php_sort`).
pub fn sort_values(items: &mut [Value], spec: &SortSpec) {
    php_sort::sort_objects(items, &spec.by, spec.descending, spec.flag);
}

/// Apply filters, sort, offset/limit and reverse to represented objects (which carry their ids).
pub fn select(
    mut items: Vec<Value>,
    filters: &[Filter],
    sort: Option<&SortSpec>,
    offset: usize,
    limit: usize,
    reverse: bool,
) -> ApiResult<Vec<Value>> {
    let page = |items: Vec<Value>| -> Vec<Value> {
        let iter = items.into_iter().skip(offset);
        if limit > 0 {
            iter.take(limit).collect()
        } else {
            iter.collect()
        }
    };
    if filters.is_empty() && sort.is_none() {
        if reverse {
            items.reverse();
        }
        return Ok(page(items));
    }
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let mut keep = true;
        for f in filters {
            if !matches(&item, f)? {
                keep = false;
                break;
            }
        }
        if keep {
            kept.push(item);
        }
    }
    if let Some(spec) = sort {
        sort_values(&mut kept, spec);
    }
    let mut out = page(kept);
    if reverse {
        out.reverse();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regex_filters_take_pcre_delimiters_and_flags() {
        assert!(pcre_match("/^foo/i", "FOObar").unwrap_or(false));
        assert!(!pcre_match("/^foo/", "FOObar").unwrap_or(true));
        assert!(pcre_match("#a.c#", "abc").unwrap_or(false));
        // A multi-byte delimiter must not panic.
        assert!(pcre_match("€abc€", "xabcx").unwrap_or(false));
        assert!(pcre_match("/[/", "x").is_err());
    }

    #[test]
    fn natural_sort_orders_numbers_inside_text() {
        let mut items = vec![
            json!({"n": "img10"}),
            json!({"n": "img2"}),
            json!({"n": "img1"}),
        ];
        sort_values(
            &mut items,
            &SortSpec {
                by: vec!["n".into()],
                descending: false,
                flag: Flags::Natural,
            },
        );
        let order: Vec<&str> = items.iter().filter_map(|i| i["n"].as_str()).collect();
        assert_eq!(order, ["img1", "img2", "img10"]);
    }
}
