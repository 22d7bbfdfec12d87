//! A security audit of a pfSense firewall. The input is a [`Snapshot`]: the JSON answers of the
//! read-only REST API endpoints listed in [`ENDPOINTS`] (or why an endpoint could not be read).
//! Every [`checks::Check`] reads the snapshot and reports compliant, non-compliant or unknown
//! (never a guess: a missing endpoint, a 403 or a field the API does not show makes a check
//! unknown, with the reason). [`render`] turns a [`Report`] into text, JSON, SARIF 2.1.0,
//! Markdown or one self-contained HTML page.

pub mod checks;
pub mod model;
pub mod render;
pub mod snapshot;

pub use checks::{CHECKS, Check, run};
pub use model::{Area, Evidence, Finding, Fix, Reference, Report, Severity, Standard, State};
pub use snapshot::{ENDPOINTS, Endpoint, PasswordProbe, Read, Snapshot};
