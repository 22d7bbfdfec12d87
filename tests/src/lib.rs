//! Shared helpers for the end-to-end tests: the real `pfsense-mcp` binary, a real MCP client
//! (rmcp over stdio), and a real HTTP server on loopback that records every request it gets.

pub mod binary;
pub mod http;
pub mod lab;
pub mod mcp;
pub mod node;
pub mod pf;
pub mod recorder;
pub mod safety;
pub mod vm;

/// The OpenAPI spec the tools were generated from: `PFSENSE_OPENAPI_SPEC`, else the workspace
/// root's `openapi-spec.json`.
pub fn spec_path() -> std::path::PathBuf {
    std::env::var_os("PFSENSE_OPENAPI_SPEC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi-spec.json")
        })
}
