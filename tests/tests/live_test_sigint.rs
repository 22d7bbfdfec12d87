//! Killing a `cargo xtask live-test --target vm` run with SIGINT leaves nothing behind: no QEMU,
//! no overlay, no sockets, no run directory.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigint_during_a_live_test_run_leaves_nothing_behind() {
    if !tests::vm::vm_tests_enabled() {
        return;
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-guest-cache");
    let descriptor = tests::vm::emulator_guest(&cache);
    let xtask = tests::binary::workspace_binary("xtask", "xtask");
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(xtask)
        .args([
            "live-test",
            "--target",
            "vm",
            "--ready-timeout",
            "240",
            "--golden",
        ])
        .arg(&descriptor)
        .args(["--group", "hold=sleep 600", "--report"])
        .arg(tmp.path().join("report.json"))
        // The harness keeps its runs under $TMPDIR/pfsense-vm-runs: isolate them here.
        .env("TMPDIR", tmp.path())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Interrupt while the VM runs (it may still be booting: a run is a run from the moment
    // QEMU is up, and the boot is the longest phase under TCG).
    // The accelerator probes (a QEMU each, the kernel's up to 30 s where KVM hangs it) come
    // first: the run is up once its directory exists and a QEMU runs.
    let runs_root = tmp.path().join("pfsense-vm-runs");
    let run_exists = || {
        std::fs::read_dir(&runs_root).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("run-")))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(300);
    while !run_exists() || qemu_under(tmp.path()).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "live-test ended before its VM started"
        );
        assert!(
            Instant::now() < deadline,
            "no run directory under {} with a QEMU in time",
            runs_root.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));

    // SIGINT, as Ctrl-C would.
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "live-test should report the interruption"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    while !qemu_under(tmp.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        qemu_under(tmp.path()).is_empty(),
        "QEMU still running after SIGINT"
    );
    // Console transcripts under logs/ are kept on purpose; runs, overlays and sockets are not.
    let left: Vec<String> = walk(&runs_root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".sock")
                || name.ends_with(".qcow2")
                || (name.starts_with("run-") && p.is_dir())
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// QEMU processes whose command line mentions `dir`.
fn qemu_under(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            cmd.contains("qemu-system") && cmd.contains(&needle) && !stat.contains(") Z")
        })
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            }
            found.push(path);
        }
    }
    found
}
