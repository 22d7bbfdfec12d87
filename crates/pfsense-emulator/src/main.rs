//! `pfsense-emulator`: serve the emulated pfSense REST API until SIGINT/SIGTERM.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A stand-in for the pfSense REST API v2 over HTTPS with a self-signed certificate.
///
/// Prints one JSON line on stdout once ready:
/// {"url", "username", "password", "api_key", "fingerprint"}; logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "pfsense-emulator", version)]
struct Args {
    /// The pfSense REST API OpenAPI spec (also served at /api/v2/schema/openapi).
    #[arg(
        long,
        env = "PFSENSE_OPENAPI_SPEC",
        default_value = "openapi-spec.json"
    )]
    spec: PathBuf,
    /// Address to listen on; port 0 picks a free port. Use 0.0.0.0:443 inside a VM guest.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Enable API key authentication besides Basic and create (and print) a key for admin.
    #[arg(long)]
    enable_key_auth: bool,
    /// Installed add-on packages, comma separated (e.g. pfSense-pkg-haproxy,pfSense-pkg-WireGuard),
    /// or `all`. Writes to endpoints of missing packages answer 404 MODEL_MISSING_REQUIRED_PACKAGE.
    #[arg(long, value_delimiter = ',')]
    packages: Vec<String>,
    /// JSON state file overlaying the compiled-in seed: {"collections": {Model: [...]}, "singletons": {Model: {...}}}.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Seed a third, disabled interface `opt1`.
    #[arg(long)]
    opt1: bool,
    /// Admin user name (Basic auth and the /__emulator/ control API).
    #[arg(long, default_value = "admin")]
    username: String,
    /// Admin password.
    #[arg(long, default_value = "pfsense")]
    password: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // A closed stderr must not panic the logging thread (tracing falls back to eprintln!).
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = pfsense_emulator::EmulatorConfig::new(&args.spec);
    config.listen = args.listen;
    config.enable_key_auth = args.enable_key_auth;
    config.installed_packages = args.packages;
    config.state_file = args.state;
    config.with_opt1 = args.opt1;
    config.username = args.username;
    config.password = args.password;
    let emulator = pfsense_emulator::start(config).await?;
    println!("{}", emulator.ready_json());
    tracing::info!(url = emulator.url(), "pfsense-emulator ready");
    wait_for_stop().await;
    tracing::info!("stopping");
    emulator.shutdown().await;
    Ok(())
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
