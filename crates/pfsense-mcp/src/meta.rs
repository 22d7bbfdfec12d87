//! Tools of our own, next to the generated ones: finding and calling tools (compact mode),
//! and safety tools (changes, undo). Each is listed with its schema and annotations and
//! dispatched by name in `server.rs`.

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Map, Value};
use std::sync::Arc;

/// One meta tool.
pub struct MetaTool {
    pub name: &'static str,
    pub description: &'static str,
    /// The input JSON Schema (an object schema), as JSON text.
    pub input_schema: &'static str,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Listed only in compact mode (the full mode lists every generated tool instead).
    pub compact_only: bool,
}

impl MetaTool {
    pub fn schema(&self) -> Arc<Map<String, Value>> {
        Arc::new(serde_json::from_str(self.input_schema).unwrap_or_default())
    }

    pub fn mcp_tool(&self) -> Tool {
        let annotations = ToolAnnotations::new()
            .read_only(self.read_only)
            .destructive(self.destructive)
            .idempotent(self.idempotent)
            .open_world(false);
        Tool::new(self.name, self.description, self.schema()).with_annotations(annotations)
    }
}

/// Switches the session's firewall; listed only when more than one is configured.
pub const SELECT_FIREWALL: &str = "pfsense_select_firewall";

/// Every meta tool, sorted by name.
pub static META_TOOLS: &[MetaTool] = &[
    MetaTool {
        name: "pfsense_call",
        description: "Run any generated tool by name, with exactly the checks, previews, confirmation, audit and journal of a direct call. Find it with pfsense_find_tools, read its arguments with pfsense_describe_tool.",
        input_schema: crate::discovery::CALL_SCHEMA,
        read_only: false,
        destructive: true,
        idempotent: false,
        compact_only: true,
    },
    MetaTool {
        name: "pfsense_confirm_changes",
        description: "Make provisional changes permanent. With --auto-revert, changes to rules, NAT, interfaces and routing are undone automatically when their deadline passes; call this once you have checked the firewall still works as intended. Without `change_ids`, confirms every provisional change.",
        input_schema: r#"{"type":"object","properties":{"change_ids":{"type":"array","items":{"type":"integer"},"description":"Only these changes (ids from the change result or pfsense_list_changes)."}},"additionalProperties":false}"#,
        read_only: false,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_describe_tool",
        description: "The full input schema of a tool, with every field's documentation, its risk, apply step and required packages.",
        input_schema: crate::discovery::DESCRIBE_TOOL_SCHEMA,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: true,
    },
    MetaTool {
        name: "pfsense_find_tools",
        description: "Find the tools for a task described in plain words (e.g. \"port forward\", \"static DHCP lease\", \"VPN peer\"): the best matches with one-line summaries.",
        input_schema: crate::discovery::FIND_TOOLS_SCHEMA,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: true,
    },
    MetaTool {
        name: crate::health::TOOL_NAME,
        description: "Firewall health: reachability, REST API version vs the tools' spec, pending applies, latency p50/p95/p99, error rate, circuit breaker state. Works while the breaker is open.",
        input_schema: r#"{"type":"object","properties":{},"additionalProperties":false}"#,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_list_changes",
        description: "List the change journal of this firewall, newest first: every executed change with its id, tool, status (executed, failed, undone, auto_reverted, not_applied, unknown), whether it can be undone, and its auto-revert deadline if provisional.",
        input_schema: r#"{"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":500,"default":20,"description":"How many changes to show."},"status":{"type":"string","enum":["intent","executed","failed","not_applied","unknown","undone","auto_reverted"],"description":"Only changes with this status."}},"additionalProperties":false}"#,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: SELECT_FIREWALL,
        description: "Choose the firewall this session's calls go to (listed when several are configured). Without `name`, lists the firewalls with their URL, policy and which is selected. A single call can go elsewhere with the argument `firewall: NAME` on any tool.",
        input_schema: r#"{"type":"object","properties":{"name":{"type":"string","description":"The firewall to select; leave out to list them."}},"additionalProperties":false}"#,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_undo",
        description: "Undo one change from the journal (`change_id`) or the last N undoable ones (`last`, newest first): a create is deleted, a delete re-created at its old position, an update's old fields patched back, a replaced list put back, and the subsystem re-applied. Objects are found by stable identity (rule tracker, alias name …), not by stale ids; refused with an explanation when someone changed the object since. Without `confirm: true` it only shows what it would do.",
        input_schema: r#"{"type":"object","properties":{"change_id":{"type":"integer","description":"The change to undo (from pfsense_list_changes or a change result)."},"last":{"type":"integer","minimum":1,"maximum":50,"description":"Undo the last N undoable changes, newest first (default 1 when change_id is not given)."},"confirm":{"type":"boolean","default":false,"description":"Set to true to undo. Without it nothing is sent: the call shows the steps."}},"additionalProperties":false}"#,
        read_only: false,
        destructive: true,
        idempotent: false,
        compact_only: false,
    },
];

pub fn lookup(name: &str) -> Option<&'static MetaTool> {
    META_TOOLS.iter().find(|m| m.name == name)
}
