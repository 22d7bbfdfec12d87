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
    /// The output JSON Schema of its structured content (`outcome::output`), as JSON text.
    pub output_schema: &'static str,
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Listed only in compact mode (the full mode lists every generated tool instead; describe
    /// is listed in both, see `server::listed_tools`).
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
        Tool::new(self.name, self.description, self.schema())
            .with_raw_output_schema(crate::outcome::output::parsed(self.output_schema))
            .with_annotations(annotations)
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
        output_schema: crate::outcome::output::OBJECT,
        read_only: false,
        destructive: true,
        idempotent: false,
        compact_only: true,
    },
    MetaTool {
        name: "pfsense_confirm_changes",
        description: "Make provisional changes permanent. With --auto-revert, changes to rules, NAT, interfaces and routing are undone automatically when their deadline passes; call this once you have checked the firewall still works as intended. Without `change_ids`, confirms every provisional change you made (another caller's by its id).",
        input_schema: r#"{"type":"object","properties":{"change_ids":{"type":"array","items":{"type":"integer"},"description":"Only these changes (ids from the change result or pfsense_list_changes)."}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: false,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_describe_tool",
        description: "The full input schema of a tool, with every field's documentation, its risk, apply step and required packages.",
        input_schema: crate::discovery::DESCRIBE_TOOL_SCHEMA,
        output_schema: crate::outcome::output::DESCRIBE_TOOL,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: true,
    },
    MetaTool {
        name: "pfsense_find_tools",
        description: "Find the tools for a task described in plain words (e.g. \"port forward\", \"static DHCP lease\", \"VPN peer\"): the best matches with one-line summaries.",
        input_schema: crate::discovery::FIND_TOOLS_SCHEMA,
        output_schema: crate::outcome::output::FIND_TOOLS,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: true,
    },
    MetaTool {
        name: crate::operator::BLOCK_ADDRESSES,
        description: "Plan blocking addresses or networks on an interface: one alias (mcp_blocked_<interface>) and one floating quick block rule using it, then apply. Idempotent (a second run plans nothing). Returns the tool calls to make; each goes through its own preview and confirmation. With `server_source`, checks the plan does not cut this server off the API.",
        input_schema: r#"{"type":"object","properties":{"addresses":{"type":"array","items":{"type":"string"},"minItems":1,"description":"IP addresses or CIDR networks to block."},"interface":{"type":"string","description":"Interface id (wan, lan, opt1), description or device."},"server_source":{"type":"string","description":"This server's address as the firewall sees it, for the lockout check."}},"required":["addresses","interface"],"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::operator::DIAGNOSE,
        description: "Diagnose one area from the firewall's status: connectivity (gateways, interfaces), dhcp (pools, leases, static mappings) or vpn (IPsec SAs, OpenVPN, WireGuard). Findings with a short Markdown summary.",
        input_schema: r#"{"type":"object","properties":{"area":{"type":"string","enum":["connectivity","dhcp","vpn"],"description":"What to diagnose."}},"required":["area"],"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::operator::EXPLAIN_TRAFFIC,
        description: "Why is this traffic passed or blocked? Evaluates pfSense's rule order (port forwards and 1:1 NAT with their NAT reflection, bogons/private on WAN, anti-lockout, floating, interface groups, interface rules, default deny) with aliases resolved, and names the deciding rule (tracker, description, position) with matching firewall log lines. Says what it cannot know (URL tables, schedules).",
        input_schema: r#"{"type":"object","properties":{"src":{"type":"string","description":"Source IP address."},"dst":{"type":"string","description":"Destination IP address."},"protocol":{"type":"string","description":"tcp, udp, icmp, …"},"dst_port":{"type":"integer","minimum":0,"maximum":65535},"src_port":{"type":"integer","minimum":0,"maximum":65535},"icmp_type":{"type":"string"},"interface":{"type":"string","description":"Interface id (wan, lan, opt1), description or device."},"direction":{"type":"string","enum":["in","out"]}},"required":["src","dst","protocol","interface","direction"],"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::operator::FIREWALL_LOG,
        description: "The firewall log parsed: entries joined to their rules by tracker, filtered (time, address, port, interface, action, direction, rule, protocol), with summaries (top blocked sources, destinations, ports; hits per rule). Lines that do not parse are counted and shown.",
        input_schema: r#"{"type":"object","properties":{"since":{"type":"integer","description":"Unix seconds."},"until":{"type":"integer","description":"Unix seconds."},"address":{"type":"string","description":"Source or destination in this address or CIDR."},"src":{"type":"string"},"dst":{"type":"string"},"port":{"type":"integer","minimum":0,"maximum":65535},"interface":{"type":"string"},"action":{"type":"string","description":"pass, block, reject"},"direction":{"type":"string","enum":["in","out"]},"tracker":{"type":"integer","description":"Rule tracker."},"protocol":{"type":"string"},"top":{"type":"integer","minimum":1,"maximum":100,"default":10}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::health::TOOL_NAME,
        description: "Firewall health: reachability, REST API version vs the tools' spec, pending applies, latency p50/p95/p99, error rate, circuit breaker state. Works while the breaker is open.",
        input_schema: r#"{"type":"object","properties":{},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::operator::HEALTH_REPORT,
        description: "A health report of the firewall: system resources, interface errors, gateways, services down, VPN status, with findings and a short Markdown summary.",
        input_schema: r#"{"type":"object","properties":{},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_list_changes",
        description: "List the change journal of this firewall, newest first: every executed change with its id, tool, status (executed, failed, undone, auto_reverted, not_applied, unknown), whether it can be undone, and its auto-revert deadline if provisional.",
        input_schema: r#"{"type":"object","properties":{"limit":{"type":"integer","minimum":1,"maximum":500,"default":20,"description":"How many changes to show."},"status":{"type":"string","enum":["intent","executed","failed","not_applied","unknown","undone","auto_reverted"],"description":"Only changes with this status."}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: crate::security_audit::TOOL_NAME,
        description: "Security audit of the firewall's configuration: 58 checks (accounts, management access, REST API, rules, NAT, aliases, logging, DNS, NTP, certificates, updates) with DISA, NIST, BSI and Netgate references; each compliant, non-compliant or unknown with evidence and the fix. Reads only.",
        input_schema: r#"{"type":"object","properties":{"probe_default_password":{"type":"boolean","default":false,"description":"Also try one login as admin:pfsense (counts as a failed login on the firewall)."}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: SELECT_FIREWALL,
        description: "Choose the firewall this session's calls go to (listed when several are configured). Without `name`, lists the firewalls with their URL, policy and which is selected. A single call can go elsewhere with the argument `firewall: NAME` on any tool. Over HTTP on MCP 2026-07-28, which has no sessions, a switch would not outlast its call: it is refused, and each call names its firewall instead.",
        input_schema: r#"{"type":"object","properties":{"name":{"type":"string","description":"The firewall to select; leave out to list them."}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: true,
        destructive: false,
        idempotent: true,
        compact_only: false,
    },
    MetaTool {
        name: "pfsense_undo",
        description: "Undo one change from the journal (`change_id`) or the last N undoable ones (`last`, newest first): a create is deleted, a delete re-created between its old neighbours (or where pfSense sorts it), an update's old fields patched back, a replaced list put back, and the subsystem re-applied. Objects are found by stable identity (rule tracker, alias name …), not by stale ids; refused with an explanation when someone changed the object since. Without `confirm: true` it only shows what it would do.",
        input_schema: r#"{"type":"object","properties":{"change_id":{"type":"integer","description":"The change to undo (from pfsense_list_changes or a change result)."},"last":{"type":"integer","minimum":1,"maximum":50,"description":"Undo the last N undoable changes you made, newest first (default 1 when change_id is not given); another caller's change by its change_id."},"confirm":{"type":"boolean","default":false,"description":"Set to true to undo. Without it nothing is sent: the call shows the steps."}},"additionalProperties":false}"#,
        output_schema: crate::outcome::output::OBJECT,
        read_only: false,
        destructive: true,
        idempotent: false,
        compact_only: false,
    },
];

/// Our own read-only analyses: listed in every mode and policy, like health.
pub const OPERATOR_TOOLS: &[&str] = &[
    crate::health::TOOL_NAME,
    crate::operator::FIREWALL_LOG,
    crate::operator::EXPLAIN_TRAFFIC,
    crate::operator::BLOCK_ADDRESSES,
    crate::operator::DIAGNOSE,
    crate::operator::HEALTH_REPORT,
    crate::security_audit::TOOL_NAME,
];

pub fn lookup(name: &str) -> Option<&'static MetaTool> {
    META_TOOLS.iter().find(|m| m.name == name)
}
