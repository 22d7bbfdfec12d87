use pfsense_mcp::allocator::ByTransport;
use std::process::ExitCode;

/// glibc's allocator, or mimalloc once the command turns out to serve HTTP (allocator.rs).
#[global_allocator]
static ALLOCATOR: ByTransport = ByTransport::new();

fn main() -> ExitCode {
    let cli = match pfsense_mcp::config::parse() {
        Ok(cli) => cli,
        // --help and --version exit 0, usage errors 2.
        Err(e) => e.exit(),
    };
    pfsense_mcp::cli::init_logging();
    pfsense_mcp::cli::tune_allocator(&cli, &ALLOCATOR);
    // The audit log and journal open while the runtime and the HTTP client start.
    let guards = pfsense_mcp::cli::open_guards_early(&cli);
    let runtime = match pfsense_mcp::cli::runtime_builder(&cli).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            pfsense_mcp::note!("pfsense-mcp: cannot start the async runtime: {e}");
            return ExitCode::from(pfsense_mcp::config::Failure::Runtime as u8);
        }
    };
    let result = runtime.block_on(pfsense_mcp::cli::run_with(cli, guards));
    // A read of stdin blocked on its thread cannot be cancelled: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            pfsense_mcp::note!("pfsense-mcp: {}", e.message);
            ExitCode::from(e.failure as u8)
        }
    }
}
