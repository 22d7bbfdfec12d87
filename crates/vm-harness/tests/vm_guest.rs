//! Real QEMU through vm-harness: a small Linux guest built from Debian packages, reached through
//! the harness's forwarded loopback port, snapshot/restore, and cleanup (drop and SIGINT).
//!
//! Needs `qemu-system-x86_64` (Debian package qemu-system-x86) and `apt-get download` access to
//! the Debian archive. Without QEMU these tests FAIL, unless PFSENSE_SKIP_VM_TESTS=1 is set.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use vm_harness::console::Expected;
use vm_harness::guest::{GUEST_PROMPT, GuestBuilder, GuestService};
use vm_harness::vm::find_program;
use vm_harness::{GoldenImage, HttpProbe, ReadinessProbe, RunningVm, Vm, VmOptions};

/// The service inside the guest, and how to change and observe guest state through it: the
/// pfsense-emulator binary (built beforehand, e.g. by `cargo test --workspace` or
/// `cargo build -p pfsense-emulator`) serving HTTPS on 443. `&BusyboxHttpd` is the stand-in that
/// needs nothing but Debian packages; switching is this one line.
const SERVICE: &dyn TestService = &PfSenseEmulator;

trait TestService: Sync {
    fn guest(&self) -> GuestService;
    /// Guest RAM: the initramfs (service binary included) lives in it.
    fn memory_mib(&self) -> u32;
    fn readiness(&self) -> Arc<dyn ReadinessProbe>;
    /// Changes guest state in a way that survives until a restore.
    fn make_change(&self, vm: &mut RunningVm);
    fn change_is_visible(&self, vm: &RunningVm) -> bool;
}

#[allow(dead_code)] // The stand-in; see SERVICE.
struct BusyboxHttpd;

impl TestService for BusyboxHttpd {
    fn guest(&self) -> GuestService {
        GuestService::BusyboxHttpd { port: 443 }
    }
    fn memory_mib(&self) -> u32 {
        256
    }
    fn readiness(&self) -> Arc<dyn ReadinessProbe> {
        Arc::new(HttpProbe {
            guest_port: 443,
            https: false,
            path: "/index.html".into(),
            expect_status: 200,
        })
    }
    fn make_change(&self, vm: &mut RunningVm) {
        let console = vm.console();
        console.discard_pending();
        console
            .send(b"echo changed-by-test > /srv/www/state.txt; echo WROTE-$?\r")
            .unwrap();
        let done = Regex::new(r"WROTE-0").unwrap();
        let got = console.expect(&[done], Duration::from_secs(60)).unwrap();
        assert!(
            matches!(got, Expected::Matched { .. }),
            "{got:?}: {}",
            console.tail(800)
        );
    }
    fn change_is_visible(&self, vm: &RunningVm) -> bool {
        let url = format!("http://127.0.0.1:{}/state.txt", vm.host_port(443).unwrap());
        let response = http().get(&url).send().expect("GET state.txt");
        match response.status().as_u16() {
            200 => {
                assert_eq!(response.text().unwrap(), "changed-by-test\n");
                true
            }
            404 => false,
            other => panic!("unexpected HTTP {other} from {url}"),
        }
    }
}

/// `pfsense-emulator` inside the guest, the REST API probe, and an alias created and looked up
/// over the API.
struct PfSenseEmulator;

impl TestService for PfSenseEmulator {
    fn guest(&self) -> GuestService {
        let binary = std::env::var_os("PFSENSE_EMULATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| profile_dir().join("pfsense-emulator"));
        assert!(
            binary.is_file(),
            "{} not found: build it first (`cargo build -p pfsense-emulator`) or set PFSENSE_EMULATOR_BIN",
            binary.display()
        );
        let spec = workspace_root().join("openapi-spec.json");
        assert!(
            spec.is_file(),
            "{} not found: copy ../shared/openapi-spec.json there (see docs/architecture.md)",
            spec.display()
        );
        GuestService::Binary {
            binary,
            args: vec![
                "--spec".into(),
                "/app/openapi-spec.json".into(),
                "--listen".into(),
                "0.0.0.0:443".into(),
            ],
            files: vec![(spec, "/app/openapi-spec.json".into())],
        }
    }
    fn memory_mib(&self) -> u32 {
        512
    }
    fn readiness(&self) -> Arc<dyn ReadinessProbe> {
        Arc::new(vm_harness::PfSenseApiProbe::new(Default::default()))
    }
    fn make_change(&self, vm: &mut RunningVm) {
        let response = http()
            .post(format!("{}/api/v2/firewall/alias", vm.base_url()))
            .basic_auth("admin", Some("pfsense"))
            .json(&serde_json::json!({"name": "vmh_test_alias", "type": "host", "address": ["192.0.2.1"]}))
            .send()
            .expect("create alias");
        assert!(response.status().is_success(), "{}", response.status());
    }
    fn change_is_visible(&self, vm: &RunningVm) -> bool {
        let body: serde_json::Value = http()
            .get(format!("{}/api/v2/firewall/aliases", vm.base_url()))
            .basic_auth("admin", Some("pfsense"))
            .send()
            .expect("list aliases")
            .json()
            .expect("JSON");
        body["data"]
            .as_array()
            .is_some_and(|aliases| aliases.iter().any(|a| a["name"] == "vmh_test_alias"))
    }
}

fn http() -> reqwest::blocking::Client {
    vm_harness::install_ring_provider();
    reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .unwrap()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `TARGET/PROFILE`, where cargo put this test's binaries (this test runs from `PROFILE/deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("tests run from TARGET/PROFILE/deps")
        .to_owned()
}

/// False (with a message) when the VM tests are explicitly skipped; panics when QEMU is missing.
fn vm_tests_enabled() -> bool {
    if find_program(Path::new("qemu-system-x86_64")).is_some() {
        return true;
    }
    if std::env::var("PFSENSE_SKIP_VM_TESTS").as_deref() == Ok("1") {
        eprintln!("SKIPPED: qemu-system-x86_64 is missing and PFSENSE_SKIP_VM_TESTS=1");
        return false;
    }
    panic!(
        "qemu-system-x86_64 not found: install it (Debian/Ubuntu: `apt-get install qemu-system-x86`), \
         or set PFSENSE_SKIP_VM_TESTS=1 to skip the VM tests"
    );
}

/// Builds the guest once per test process (tests share it; the cache is under the target dir).
fn guest_descriptor() -> PathBuf {
    static BUILT: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();
    let lock = BUILT.get_or_init(|| Mutex::new(None));
    let mut built = lock.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.as_ref() {
        return path.clone();
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-guest-cache");
    let started = Instant::now();
    let path = GuestBuilder::new(cache, SERVICE.guest())
        .build()
        .unwrap_or_else(|e| panic!("building the test guest failed: {e}"));
    eprintln!(
        "test guest ready in {:?}: {}",
        started.elapsed(),
        path.display()
    );
    *built = Some(path.clone());
    path
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "vm_harness=info".into()),
        )
        .with_test_writer()
        .try_init();
}

fn options(runs_root: &Path) -> VmOptions {
    VmOptions {
        memory_mib: SERVICE.memory_mib(),
        runs_root: runs_root.to_owned(),
        readiness: Some(SERVICE.readiness()),
        ..VmOptions::default()
    }
}

/// Running (not a zombie: an orphaned QEMU is reaped by whatever init the machine has).
fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Nothing of a run may remain: no QEMU, no run dir (overlay, sockets, pid files).
fn assert_nothing_left(runs_root: &Path, qemu_pid: u32, run_dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_exists(qemu_pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !process_exists(qemu_pid),
        "QEMU {qemu_pid} is still running"
    );
    assert!(!run_dir.exists(), "{} is still there", run_dir.display());
    let leftovers: Vec<PathBuf> = walk(runs_root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".sock")
                || name.ends_with(".qcow2")
                || (name.starts_with("run-") && p.is_dir())
        })
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
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

#[test]
fn guest_serves_through_forwarded_port_and_restore_undoes_a_change() {
    init_logging();
    if !vm_tests_enabled() {
        return;
    }
    let golden = GoldenImage::load(&guest_descriptor()).unwrap();
    let runs_root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut vm = Vm::boot(&golden, options(runs_root.path())).unwrap_or_else(|e| panic!("{e}"));
    let qemu_pid = vm.qemu_pid();
    let run_dir = vm.run_dir().to_owned();
    let transcript = vm.transcript_path().to_owned();
    assert!(run_dir.join("overlay.qcow2").is_file());
    assert!(run_dir.join("serial.sock").exists() && run_dir.join("qmp.sock").exists());
    // Every NIC is cut off from the outside (host forwards still work).
    let cmdline = std::fs::read(format!("/proc/{qemu_pid}/cmdline")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&cmdline)
            .matches("restrict=on")
            .count(),
        3
    );
    eprintln!(
        "accelerator: {:?} ({})",
        vm.accelerator().accelerator,
        vm.accelerator().reason
    );
    let took = vm
        .wait_ready(Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "ready {took:?} after ready-wait start, {:?} after boot start",
        started.elapsed()
    );

    // The console works: the guest's shell answers.
    let prompt = Regex::new(&regex::escape(GUEST_PROMPT)).unwrap();
    vm.console().send(b"\r").unwrap();
    let got = vm
        .console()
        .expect(&[prompt], Duration::from_secs(30))
        .unwrap();
    assert!(matches!(got, Expected::Matched { .. }), "{got:?}");

    assert!(
        !SERVICE.change_is_visible(&vm),
        "fresh guest already has the change"
    );
    let snap = Instant::now();
    vm.snapshot("clean").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("savevm took {:?}", snap.elapsed());
    SERVICE.make_change(&mut vm);
    assert!(SERVICE.change_is_visible(&vm), "the change did not take");
    let restore = Instant::now();
    vm.restore("clean").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("loadvm took {:?}", restore.elapsed());
    vm.wait_ready(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !SERVICE.change_is_visible(&vm),
        "restore did not undo the change"
    );

    // Bad snapshot names are refused before they reach the monitor.
    assert!(vm.snapshot("x; quit").is_err());

    drop(vm);
    assert_nothing_left(runs_root.path(), qemu_pid, &run_dir);
    // The transcript is kept on purpose and holds what the guest printed.
    let log = std::fs::read_to_string(&transcript).unwrap();
    assert!(log.contains("vmh-guest: network up"), "transcript: {log}");
    eprintln!("whole test took {:?}", started.elapsed());
}

#[test]
fn sigint_to_a_process_holding_a_vm_leaves_nothing_behind() {
    init_logging();
    if !vm_tests_enabled() {
        return;
    }
    let descriptor = guest_descriptor();
    let runs_root = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_vmh-boot"));
    command
        .arg("--golden")
        .arg(&descriptor)
        .arg("--runs-root")
        .arg(runs_root.path())
        .args([
            "--memory",
            &SERVICE.memory_mib().to_string(),
            "--ready-timeout",
            "90",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if matches!(SERVICE.guest(), GuestService::BusyboxHttpd { .. }) {
        command.args(["--http-probe", "443:/index.html"]);
    }
    let mut child = command.spawn().expect("start vmh-boot");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ready: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("vmh-boot printed {line:?}: {e}"));
    let qemu_pid = ready["qemu_pid"].as_u64().unwrap() as u32;
    let run_dir = PathBuf::from(ready["run_dir"].as_str().unwrap());
    assert!(process_exists(qemu_pid) && run_dir.join("overlay.qcow2").is_file());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "vmh-boot did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        !status.success(),
        "a SIGINT'd run must not report success: {status}"
    );
    assert_nothing_left(runs_root.path(), qemu_pid, &run_dir);
}

/// A run whose owner died without cleaning up (SIGKILL) is removed, QEMU included, by the sweep.
#[test]
fn stale_run_of_a_killed_process_is_swept() {
    init_logging();
    if !vm_tests_enabled() {
        return;
    }
    let descriptor = guest_descriptor();
    let runs_root = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmh-boot"))
        .arg("--golden")
        .arg(&descriptor)
        .arg("--runs-root")
        .arg(runs_root.path())
        .args([
            "--memory",
            "128",
            "--http-probe",
            "443:/index.html",
            "--ready-timeout",
            "90",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vmh-boot");
    // Wait for the run dir and QEMU's pid file, then kill the owner without giving it a chance.
    // The accelerator probes come first (up to 10 s, and 15 s for the kernel where KVM hangs
    // it, accel.rs).
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_dir = loop {
        let found = walk(runs_root.path())
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == "qemu.pid"));
        if let Some(pid_file) = found {
            break pid_file.parent().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "no run appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(200));
    let qemu_pid: u32 = std::fs::read_to_string(run_dir.join("qemu.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        process_exists(qemu_pid),
        "QEMU should outlive a SIGKILLed owner"
    );
    let removed = vm_harness::vm::sweep_stale_runs(runs_root.path());
    assert_eq!(removed, 1);
    // QEMU was not our child: it is reaped by init, so give it a moment.
    assert_nothing_left(runs_root.path(), qemu_pid, &run_dir);
}

/// A panic while a VM is held unwinds through its `Drop`: QEMU and the run directory go away.
#[test]
fn panic_while_holding_a_vm_leaves_nothing_behind() {
    init_logging();
    if !vm_tests_enabled() {
        return;
    }
    let golden = GoldenImage::load(&guest_descriptor()).unwrap();
    let runs_root = tempfile::tempdir().unwrap();
    let seen: Mutex<Option<(u32, PathBuf)>> = Mutex::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let vm = Vm::boot(&golden, options(runs_root.path())).unwrap_or_else(|e| panic!("{e}"));
        *seen.lock().unwrap() = Some((vm.qemu_pid(), vm.run_dir().to_owned()));
        panic!("deliberate panic with a live VM");
    }));
    assert!(outcome.is_err());
    let (qemu_pid, run_dir) = seen.lock().unwrap().clone().expect("the VM booted");
    assert_nothing_left(runs_root.path(), qemu_pid, &run_dir);
}

/// QEMU refusing to start is an error carrying QEMU's own words, and leaves no run behind.
#[test]
fn qemu_start_failure_reports_its_log_and_cleans_up() {
    init_logging();
    if !vm_tests_enabled() {
        return;
    }
    let mut golden = GoldenImage::load(&guest_descriptor()).unwrap();
    if let Some(direct) = golden.direct_kernel.as_mut() {
        direct.kernel = PathBuf::from("/nonexistent/vmlinuz");
    }
    let runs_root = tempfile::tempdir().unwrap();
    let error = match Vm::boot(&golden, options(runs_root.path())) {
        Ok(_) => panic!("QEMU started without a kernel"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("QEMU failed to start"), "{error}");
    assert!(error.contains("/nonexistent/vmlinuz"), "{error}");
    let left: Vec<PathBuf> = walk(runs_root.path())
        .into_iter()
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
