//! A typed model of a pfSense firewall read through the REST API, and what is built on it: the
//! filter log parser, the traffic evaluator ("why is this blocked?"), the lockout guard, the
//! block-addresses plan and health summaries. Pure functions over API JSON: no HTTP, no MCP.

mod json;

pub mod explain;
pub mod matching;
pub mod model;

pub use explain::{Explanation, Query, Verdict};
pub use matching::Tri;
pub use model::{ApiInput, FirewallModel, KnownSettings};
