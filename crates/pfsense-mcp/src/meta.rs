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

/// Every meta tool, sorted by name.
pub static META_TOOLS: &[MetaTool] = &[];

pub fn lookup(name: &str) -> Option<&'static MetaTool> {
    META_TOOLS.iter().find(|m| m.name == name)
}
