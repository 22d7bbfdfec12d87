//! Tool modes and the discovery tools of compact mode: `pfsense_find_tools`,
//! `pfsense_describe_tool` and `pfsense_call`.
//!
//! `full` lists every generated tool (about 100k tokens for all 677). `compact` (the default)
//! lists the core tools an administrator uses daily plus the three discovery tools (about 5k
//! tokens), which fits every client: Cursor sends only the first 40 tools, smaller contexts
//! cannot hold 100k tokens of definitions, and Claude Code would hide a large set behind its
//! own search anyway. `pfsense_call` runs any tool through exactly the same checks, previews,
//! confirmation, audit and journal as a direct call.

use crate::catalog::ToolDef;
use crate::outcome;
use crate::search::Index;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

/// Which tools `tools/list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ToolMode {
    /// Every generated tool the policy allows.
    Full,
    /// The daily core plus find / describe / call for everything else.
    #[default]
    Compact,
}

/// The tools compact mode lists directly: what an administrator uses daily. Everything else is
/// one `pfsense_find_tools` away.
pub const COMPACT_CORE: &[&str] = &[
    // Rules and aliases: the bulk of daily work.
    "pfsense_list_firewall_rules",
    "pfsense_create_firewall_rule",
    "pfsense_update_firewall_rule",
    "pfsense_delete_firewall_rule",
    "pfsense_list_firewall_aliases",
    "pfsense_create_firewall_alias",
    "pfsense_update_firewall_alias",
    "pfsense_delete_firewall_alias",
    // NAT port forwards.
    "pfsense_list_firewall_nat_port_forwards",
    "pfsense_create_firewall_nat_port_forward",
    "pfsense_delete_firewall_nat_port_forward",
    // Applying pending changes.
    "pfsense_firewall_apply",
    "pfsense_get_firewall_apply_status",
    // Interfaces, gateways, DHCP leases.
    "pfsense_list_network_interfaces",
    "pfsense_list_status_interfaces",
    "pfsense_list_status_gateways",
    "pfsense_list_status_dhcp_server_leases",
    // Logs and services.
    "pfsense_list_status_logs_firewall",
    "pfsense_list_status_logs_system",
    "pfsense_list_status_services",
    "pfsense_post_status_service",
    // The box itself.
    "pfsense_get_status_system",
    "pfsense_get_system_version",
];

/// Input schemas of the discovery tools (JSON text, see `meta.rs`).
pub const FIND_TOOLS_SCHEMA: &str = r#"{"type":"object","properties":{"query":{"type":"string","description":"What you want to do, in plain words (e.g. \"static DHCP lease\", \"block an IP on WAN\")."},"module":{"type":"string","enum":["firewall","interface","routing","vpn_wireguard","vpn_openvpn","vpn_ipsec","services_dhcp","services_dns_resolver","services_dns_forwarder","services_haproxy","services_bind","services_freeradius","services_acme","services_misc","system","status","diagnostics","user","auth"]},"limit":{"type":"integer","minimum":1,"maximum":25,"default":8}},"required":["query"],"additionalProperties":false}"#;
pub const DESCRIBE_TOOL_SCHEMA: &str = r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}"#;
pub const CALL_SCHEMA: &str = r#"{"type":"object","properties":{"name":{"type":"string","description":"A tool from pfsense_find_tools."},"arguments":{"type":"object","description":"Its arguments, as pfsense_describe_tool shows them (include confirm: true to execute a change)."},"firewall":{"type":"string","description":"Send it to this firewall instead of the selected one."}},"required":["name"],"additionalProperties":false}"#;

/// `pfsense_find_tools`: the best matches with one-line summaries.
pub fn find_tools(index: &Index, args: &Value) -> CallToolResult {
    let Some(query) = args.get("query").and_then(Value::as_str) else {
        return outcome::error(
            "pfsense_find_tools needs `query`: what you want to do, in plain words",
        );
    };
    let module = match args.get("module").and_then(Value::as_str) {
        Some(m) => match crate::spec::Module::parse(m) {
            Some(m) => Some(m),
            None => return outcome::error(format!("unknown module `{m}`")),
        },
        None => None,
    };
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(8)
        .clamp(1, 25) as usize;
    let hits = index.find(query, module, limit);
    let tools: Vec<Value> = hits
        .iter()
        .map(|h| {
            json!({
                "name": h.tool.name,
                "summary": h.tool.description,
                "module": h.tool.module.as_str(),
                "risk": h.tool.risk.as_str(),
            })
        })
        .collect();
    let mut text = if tools.is_empty() {
        format!("No tool matches `{query}`. Try other words, or drop `module`.")
    } else {
        let lines: Vec<String> = hits
            .iter()
            .map(|h| format!("{}: {}", h.tool.name, h.tool.description))
            .collect();
        lines.join("\n")
    };
    if !tools.is_empty() {
        text.push_str("\nNext: pfsense_describe_tool for a tool's arguments, then pfsense_call.");
    }
    let mut r = CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)]);
    r.structured_content = Some(json!({ "tools": tools }));
    r
}

/// `pfsense_describe_tool`: the full schema (with field documentation) and the notes.
pub fn describe_tool(def: &ToolDef, offered: bool, refusal: Option<String>) -> CallToolResult {
    let schema = Value::Object((**def.schema()).clone());
    let mut v = json!({
        "name": def.name,
        "description": def.description,
        "method": def.method.as_str(),
        "path": def.path,
        "module": def.module.as_str(),
        "risk": def.risk.as_str(),
        "input_schema": schema,
        "offered": offered,
    });
    if let Some(step) = def.apply {
        v["apply_tool"] = json!(step.tool);
    }
    if !def.required_packages.is_empty() {
        v["required_packages"] = json!(def.required_packages);
    }
    let mut text = format!(
        "{} ({} {}): {}",
        def.name, def.method, def.path, def.description
    );
    match &refusal {
        // Said first: the schema below is of no use on this firewall.
        Some(reason) => text.push_str(&format!(" NOT OFFERED on this firewall: {reason}")),
        None if def.is_mutation() => {
            text.push_str(" Needs confirm: true to execute; without it you get a preview.")
        }
        None => {}
    }
    if let Some(reason) = refusal {
        v["not_offered_because"] = json!(reason);
    }
    text.push_str(&format!("\nInput schema: {}", v["input_schema"]));
    let mut r = CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)]);
    r.structured_content = Some(v);
    r
}

#[cfg(test)]
mod tests {
    /// The compact listing looks each name up once (`server::listed_tools`): a name written
    /// twice would list its tool twice.
    #[test]
    fn the_compact_core_names_each_tool_once() {
        let mut names = super::COMPACT_CORE.to_vec();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a name is in COMPACT_CORE twice");
    }
}
