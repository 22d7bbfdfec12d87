//! The REST API version the firewall runs, read at run time (`GET /api/v2/system/restapi/version`),
//! against the spec version the tools were generated from (`catalog::SPEC_VERSION`): whether the
//! box has pfrest's dry run, and a clear error when a tool's endpoint is not on the box's version.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::{CallError, Client};
use crate::outcome;
use crate::request::PreparedRequest;
use crate::spec::Method;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::fmt;

/// Where pfrest says which version it is (`data.current_version`, e.g. `v2.10.0`).
pub const VERSION_PATH: &str = "/api/v2/system/restapi/version";

/// A pfrest version: `v2.10.0`, `2.7.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// `v2.10.0`, `2.7.1`, `v2.8` (patch 0); anything else is `None`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches(['v', 'V']);
        // Pre-release or build suffixes (`2.8.0-rc1`) count as their release.
        let core = s.split(['-', '+', ' ']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = match parts.next() {
            Some(p) => p?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(Version::new(major, minor, patch))
    }
}

/// A version as the (major, minor, patch) bounds of `pfsense_spec`'s tables
/// (`php_sort::SORTED_MODELS`) take it.
impl From<Version> for (u32, u32, u32) {
    fn from(v: Version) -> (u32, u32, u32) {
        (v.major, v.minor, v.patch)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The spec version the tools were generated from.
pub fn spec_version() -> Option<Version> {
    Version::parse(crate::catalog::SPEC_VERSION)
}

fn version_def() -> Option<&'static ToolDef> {
    TOOLS
        .iter()
        .find(|d| d.method == Method::Get && d.path == VERSION_PATH)
}

/// The firewall's REST API version as it reports it (`v2.10.0`), or why it could not be read.
/// Read afresh on every call: a box can be updated (or rolled back) while the server runs, and
/// a dry run sent to a version without it would be a real write.
pub async fn read(client: &Client) -> Result<String, String> {
    let def = version_def().ok_or_else(|| {
        format!("the tools' spec has no GET {VERSION_PATH}, so the firewall's version is unknown")
    })?;
    let request = PreparedRequest::build(def, &json!({})).map_err(|e| e.0)?;
    let response = client
        .send(def, &request)
        .await
        .map_err(|e| format!("GET {VERSION_PATH}: {e}"))?;
    response
        .data()
        .get("current_version")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("GET {VERSION_PATH} answered without `current_version`"))
}

/// Whether an error says the endpoint does not exist on the firewall at all: the web server's
/// 404 page instead of the REST API's JSON (pfrest answers its own 404s with an envelope).
pub fn endpoint_missing(e: &CallError) -> bool {
    matches!(
        e,
        CallError::NotJson {
            http_status: 404,
            ..
        }
    )
}

/// The message for a tool whose endpoint the firewall's REST API version lacks, when the box's
/// version differs from the tools' spec; `None` when they are the same (then the 404 has another
/// cause: no REST API package, a proxy, a wrong host).
pub fn missing_message(def: &ToolDef, box_version: &str) -> Option<String> {
    let spec = crate::catalog::SPEC_VERSION;
    let same = match (Version::parse(box_version), spec_version()) {
        (Some(a), Some(b)) => a == b,
        _ => box_version.trim_start_matches('v') == spec.trim_start_matches('v'),
    };
    if same {
        return None;
    }
    let direction = match (Version::parse(box_version), spec_version()) {
        (Some(a), Some(b)) if a.cmp(&b) == Ordering::Less => format!(
            "the endpoint is probably newer than the firewall's REST API: update the REST API package to {spec}, or "
        ),
        (Some(_), Some(_)) => {
            "the endpoint was probably removed or renamed in the firewall's newer REST API: ".into()
        }
        _ => "".into(),
    };
    Some(format!(
        "{} is not available on this firewall: it runs REST API {box_version}, but the tools were built from the spec of REST API {spec}, and {} {} answered HTTP 404 (no such endpoint). Next: {direction}rebuild the tools from the firewall's own spec (`cargo xtask spec pull --host URL`, then `cargo build --release`; `cargo xtask spec diff OLD NEW` shows which tools differ).",
        def.name, def.method, def.path
    ))
}

/// A failed call's result, naming both versions when the endpoint is missing on the box.
pub async fn failure(client: &Client, def: &ToolDef, e: &CallError) -> CallToolResult {
    let mut result = outcome::failure(def, e);
    if endpoint_missing(e)
        && let Ok(box_version) = read(client).await
        && let Some(message) = missing_message(def, &box_version)
    {
        annotate_missing(&mut result, &message, &box_version);
    }
    result
}

/// Put the versioned message first in a failure's text and structured error.
pub fn annotate_missing(result: &mut CallToolResult, message: &str, box_version: &str) {
    if let Some(structured) = result.structured_content.as_mut() {
        structured["error"]["message"] = Value::String(message.to_string());
        structured["error"]["rest_api_version"] = json!({
            "on_firewall": box_version,
            "tools_spec": crate::catalog::SPEC_VERSION,
        });
    }
    if let Some(block) = result.content.iter_mut().find(|c| c.as_text().is_some()) {
        *block = ContentBlock::text(message.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("v2.10.0"), Some(Version::new(2, 10, 0)));
        assert_eq!(Version::parse("2.7.1"), Some(Version::new(2, 7, 1)));
        assert_eq!(Version::parse(" v2.8 "), Some(Version::new(2, 8, 0)));
        assert_eq!(Version::parse("2.8.0-rc1"), Some(Version::new(2, 8, 0)));
        assert_eq!(Version::parse(""), None);
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(Version::parse("2.x.1"), None);
        assert_eq!(Version::parse("2.8.0.1"), None);
        // Numeric, not lexical: 2.10 is after 2.8.
        assert!(Version::parse("v2.10.0") > Version::parse("v2.8.4"));
        assert!(Version::parse("v2.7.7") < Version::parse("v2.8.0"));
        assert_eq!(Version::new(2, 10, 0).to_string(), "v2.10.0");
    }

    #[test]
    fn the_version_endpoint_is_in_the_spec() {
        assert!(version_def().is_some());
        assert!(spec_version().is_some());
    }

    #[test]
    fn a_missing_endpoint_names_both_versions_only_when_they_differ() {
        let def = TOOLS.iter().find(|d| d.method == Method::Get).unwrap();
        let spec = crate::catalog::SPEC_VERSION;
        assert_eq!(missing_message(def, spec), None);
        let m = missing_message(def, "v0.1.0").unwrap();
        assert!(m.contains("v0.1.0") && m.contains(spec), "{m}");
        assert!(m.contains("update the REST API package"), "{m}");
        let m = missing_message(def, "v99.0.0").unwrap();
        assert!(m.contains("removed or renamed"), "{m}");
        assert!(m.contains("cargo xtask spec pull"), "{m}");
        assert!(endpoint_missing(&CallError::NotJson {
            http_status: 404,
            content_type: "text/html".into(),
            snippet: String::new()
        }));
        assert!(!endpoint_missing(&CallError::Transport("x".into())));
    }
}
