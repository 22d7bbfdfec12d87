//! A typed model of a pfSense firewall read through the REST API, and what is built on it: the
//! filter log parser, the traffic evaluator ("why is this blocked?"), the lockout guard and the
//! REST API's own gate, the block-addresses plan and health summaries. Pure functions over API JSON: no HTTP, no MCP.

mod json;

pub mod anomaly;
pub mod api_gate;
pub mod block;
pub mod explain;
pub mod guard;
pub mod health;
pub mod log;
pub mod matching;
pub mod model;
pub mod route;

pub use block::{BlockPlan, block_addresses_plan};
pub use explain::{Explanation, Query, Verdict};
pub use guard::{Change, GuardDecision, GuardReport, ServerPath, check_lockout, check_lockout_all};
pub use matching::Tri;
pub use model::{ApiInput, FirewallModel, KnownSettings};
