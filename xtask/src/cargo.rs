//! Cargo run from xtask. `cargo xtask` (a `cargo run -p xtask` alias) sets xtask's own
//! `CARGO_PKG_*`, `CARGO_MANIFEST_*`, `CARGO_CRATE_NAME`…; ring's build script tracks several of
//! them (`rerun-if-env-changed`), so a nested cargo inheriting them rebuilds ring and everything
//! above it (rustls, reqwest, rmcp, pfsense-mcp), and the next shell build rebuilds them back.
//! Checked: `CARGO_PKG_NAME=foo cargo check -p ring` recompiles ring, a plain one again.

use std::process::Command;

/// Variables cargo sets for the crate it runs, never for a shell.
const SET_FOR_THE_RUNNING_CRATE: &[&str] = &[
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_CRATE_",
    "CARGO_BIN_",
    "CARGO_PRIMARY_",
];

/// `cargo` (the one running xtask) with the environment a shell would give it.
pub fn command() -> Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if SET_FOR_THE_RUNNING_CRATE
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}
