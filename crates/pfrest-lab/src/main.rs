//! `pfrest-lab`: start one pfrest lab, print its ready line, serve until SIGINT/SIGTERM.

use clap::Parser;
use std::path::PathBuf;

/// Run pfrest's own PHP (the pfSense REST API package) on loopback, isolated in its own PID,
/// mount and UTS namespaces and a chroot. Needs root and PHP 8.2 (see the crate README).
///
/// Prints one JSON line on stdout once the API answers: {"url", "username", "password",
/// "pfrest_version", "root"}; logs go to stderr.
#[derive(Debug, Parser)]
#[command(name = "pfrest-lab")]
struct Args {
    /// Sources directory: pfrest tags, pfSense at 6a92af1, php-jwt, graphql-php, Net_IPv6.
    #[arg(
        long,
        env = "PFREST_LAB_SOURCES",
        default_value = "../shared/third-party"
    )]
    sources: PathBuf,
    /// pfrest version to run (v2.7.1, v2.8.4, v2.10.0).
    #[arg(long, default_value = pfrest_lab::DEFAULT_VERSION)]
    version: String,
    /// pfSense config.xml with the REST API package [default: SOURCES/../reference-config.xml].
    #[arg(long, env = "PFREST_LAB_CONFIG")]
    config: Option<PathBuf>,
    /// PHP built-in server workers (concurrent requests).
    #[arg(long, default_value_t = 4)]
    workers: u32,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut options = pfrest_lab::LabOptions::new(args.sources).version(args.version);
    options.config = args.config;
    options.workers = args.workers;
    match pfrest_lab::Lab::start(options) {
        Ok(lab) => {
            println!("{}", lab.ready_json());
            tracing::info!(url = lab.url(), "pfrest lab ready; Ctrl-C stops it");
            // The lab's signal handler stops it and ends the process.
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("pfrest-lab: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
