//! `cargo xtask …`: the project's workflows as one plain Rust binary.
//! Each subcommand lives in its own module and is a thin driver over the crates.

mod bank;
mod bench;
mod bench_build;
mod bench_cost;
mod bench_http;
mod dist;
mod exercise;
mod golden;
mod lab;
mod link_order;
mod live_test;
mod spec;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "pfsense-mcp developer and release workflows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch or check the OpenAPI spec the tools are generated from.
    Spec(spec::Args),
    /// Build the golden pfSense VM image (vm/golden.qcow2 + vm/golden.json), in resumable stages.
    Golden(golden::Args),
    /// Start a pfrest lab (pfrest's own PHP on loopback; needs root and PHP 8.2) until Ctrl-C.
    Lab(lab::Args),
    /// Run test groups against a golden-image VM, the emulator, or a firewall URL.
    LiveTest(live_test::Args),
    /// Drive every generated tool through the real binary and report what succeeded.
    Exercise(exercise::Args),
    /// Run an agent (Claude Code, or `replay`) through the bank of firewall tasks; grade the
    /// final state, count coverage and failures from the audit log.
    BankTest(bank::Args),
    /// Measure start-up, tools/list size and time per mode, memory, tool-call latency against
    /// the emulator, or (--build) build costs; writes BENCHMARKS.md.
    Bench(bench::Args),
    /// Write shell completions and the man page into target/dist.
    Dist(dist::Args),
    /// Record the functions the release binary runs from spawn through its first answers (under
    /// valgrind) into crates/pfsense-mcp/link-order.txt, which the release link lays out
    /// together; or (--check) say whether the list still names this build's functions.
    LinkOrder(link_order::Args),
}

/// Run a workflow's async body on the small runtime every workflow uses (2 worker threads,
/// like the CI box).
fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// `cargo` (the one running xtask) as a shell would run it. `cargo run -p xtask` gives xtask its
/// own `CARGO_PKG_*`, `CARGO_MANIFEST_*`, `CARGO_CRATE_*`, `CARGO_BIN_*` and `CARGO_PRIMARY_*`;
/// ring's build script tracks several of them (rerun-if-env-changed), so passing them on
/// rebuilds ring and everything above it, and the next shell build rebuilds them back.
pub(crate) fn shell_cargo() -> std::process::Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

fn main() -> anyhow::Result<()> {
    // reqwest has no crypto provider of its own: ring, the workspace's one (workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Spec(args) => spec::run(args),
        Command::Golden(args) => golden::run(args),
        Command::Lab(args) => lab::run(args),
        Command::LiveTest(args) => live_test::run(args),
        Command::Exercise(args) => exercise::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BankTest(args) => bank::run(args),
        Command::Dist(args) => dist::run(args),
        Command::LinkOrder(args) => link_order::run(args),
    }
}
