//! `vmh-boot`: boots a throwaway VM from a golden-image descriptor on a fresh overlay, waits until
//! it is ready, prints one JSON line (url, ports, run directory, QEMU pid) and keeps it running
//! until stdin closes or a signal arrives. Then everything it made is removed.
//!
//! Usage: vmh-boot --golden FILE [--runs-root DIR] [--memory MIB] [--ready-timeout SECS]
//!                 [--http-probe GUEST_PORT:PATH]   (default: the pfSense REST API probe)

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use vm_harness::{GoldenImage, HttpProbe, Vm, VmOptions};

fn main() -> ExitCode {
    tracing_subscriber_init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("vmh-boot: {message}");
            ExitCode::FAILURE
        }
    }
}

fn tracing_subscriber_init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        // A closed stderr must not panic the logging thread (tracing falls back to eprintln!).
        .log_internal_errors(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut golden = None;
    let mut options = VmOptions::default();
    let mut ready_timeout = Duration::from_secs(180);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--golden" => golden = Some(PathBuf::from(value()?)),
            "--runs-root" => options.runs_root = PathBuf::from(value()?),
            "--memory" => {
                options.memory_mib = value()?.parse().map_err(|e| format!("--memory: {e}"))?
            }
            "--ready-timeout" => {
                ready_timeout = Duration::from_secs(
                    value()?
                        .parse()
                        .map_err(|e| format!("--ready-timeout: {e}"))?,
                )
            }
            "--http-probe" => {
                let spec = value()?;
                let (port, path) = spec
                    .split_once(':')
                    .ok_or("--http-probe wants GUEST_PORT:PATH")?;
                let guest_port = port
                    .parse()
                    .map_err(|e| format!("--http-probe port: {e}"))?;
                options.readiness = Some(Arc::new(HttpProbe {
                    guest_port,
                    https: false,
                    path: path.to_owned(),
                    expect_status: 200,
                }));
            }
            "--help" | "-h" => {
                println!(
                    "usage: vmh-boot --golden FILE [--runs-root DIR] [--memory MIB] [--ready-timeout SECS] [--http-probe GUEST_PORT:PATH]"
                );
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let golden = golden.ok_or("--golden FILE is required")?;
    let golden = GoldenImage::load(&golden).map_err(|e| e.to_string())?;
    let mut vm = Vm::boot(&golden, options).map_err(|e| e.to_string())?;
    vm.wait_ready(ready_timeout).map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "ready": true,
        "url": vm.base_url(),
        "forwards": vm.endpoint().forwards,
        "run_dir": vm.run_dir(),
        "qemu_pid": vm.qemu_pid(),
        "accelerator": vm.accelerator().accelerator.name(),
    });
    println!("{line}");
    // Hold the VM until stdin closes; signals are handled by the harness.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    vm.shutdown();
    Ok(())
}
