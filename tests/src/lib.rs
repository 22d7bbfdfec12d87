//! Shared helpers for the end-to-end tests: the real `pfsense-mcp` binary, a real MCP client
//! (rmcp over stdio), and a real HTTP server on loopback that records every request it gets.

pub mod binary;
pub mod mcp;
pub mod node;
pub mod recorder;
pub mod safety;
