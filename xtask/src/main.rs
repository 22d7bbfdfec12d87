//! `cargo xtask …`: the project's workflows as one plain Rust binary.
//! Each subcommand lives in its own module and is a thin driver over the crates.

mod spec;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "pfsense-mcp developer and release workflows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch or check the OpenAPI spec the tools are generated from.
    Spec(spec::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Spec(args) => spec::run(args),
    }
}
