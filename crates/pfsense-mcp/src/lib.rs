//! pfsense-mcp: an MCP server that operates a pfSense firewall through the REST API v2.
//!
//! The tools are generated at compile time by `pfsense_tools!` from the OpenAPI spec (see
//! [`catalog`]); this crate is the runtime around them: configuration, the HTTP client, argument
//! validation, previews and the MCP server.
//!
//! One copy of a big future: in an optimised build an `async fn`'s state machine is compiled
//! into every codegen unit that awaits it (this crate builds incrementally, in 256 units), and
//! the copies of a few large ones were over 0.3 MB of the binary. Those awaited from several
//! places and off the per-read path (the CLI's commands, settling and undoing changes, the
//! lockout guard) return their future boxed from one `#[inline(never)]` function instead.

// The generated catalogue names its runtime as `::pfsense_mcp::…`, also from inside this crate.
extern crate self as pfsense_mcp;

pub use pfsense_spec as spec;

/// `eprintln!` that never panics: a closed stderr (`pfsense-mcp tools 2>&1 | head -1` closes
/// it with stdout) is ignored, as `tracing` does.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod allocator;
pub mod bounds;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod discovery;
pub mod doctor;
pub mod fleet;
pub mod health;
pub mod http;
pub mod jsonrpc;
pub mod lockout;
pub mod meta;
pub mod operator;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod request;
pub mod resilience;
pub mod safety;
pub mod sandbox;
pub mod search;
pub mod secret;
pub mod security_audit;
pub mod server;
pub mod shutdown;
pub mod stdio;
pub mod tls;
pub mod validate;
pub mod version;
