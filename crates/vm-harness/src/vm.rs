//! One QEMU process per run: overlay disk, loopback port forwards, serial console, QMP, cleanup.
//!
//! Each run lives in its own directory under `runs_root` (overlay, sockets, pid files, QEMU's
//! log). The directory goes away when the run ends: on `shutdown`, on `Drop` (also while a panic
//! unwinds), and on SIGINT/SIGTERM/SIGHUP through a process-wide handler. A run left behind by a
//! process that died anyway (SIGKILL, power loss) is removed by the stale-run sweep that every
//! boot performs.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::accel::{AccelChoice, AccelDecision, Accelerator, choose};
use crate::console::Console;
use crate::golden::GoldenImage;
use crate::qmp::Qmp;
use crate::ready::{Endpoint, PfSenseApiProbe, ReadinessProbe};

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(
        "{0} was not found. Install QEMU (Debian/Ubuntu: `apt-get install qemu-system-x86 qemu-utils`)."
    )]
    QemuMissing(String),
    #[error("{0}")]
    Accelerator(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("qemu-img failed to create the overlay: {0}")]
    Overlay(String),
    #[error("QEMU failed to start: {message}\n--- QEMU log ---\n{log}")]
    Start { message: String, log: String },
    #[error(
        "QEMU exited while {doing}\n--- QEMU log ---\n{log}\n--- last console output ---\n{console}"
    )]
    Exited {
        doing: String,
        log: String,
        console: String,
    },
    #[error(
        "the guest was not ready within {seconds} s ({probe}); last try: {last_error}\n--- last console output ---\n{console}"
    )]
    NotReady {
        seconds: u64,
        probe: String,
        last_error: String,
        console: String,
    },
    #[error("snapshot {name:?}: {message}")]
    Snapshot { name: String, message: String },
    #[error("QMP: {0}")]
    Qmp(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VmError {
    let what = what.into();
    move |source| VmError::Io { what, source }
}

/// Extra disk attached as a USB stick (the pfSense installer memstick). Never written to.
#[derive(Debug, Clone)]
pub struct UsbStick {
    pub raw_image: PathBuf,
}

pub struct VmOptions {
    pub qemu: PathBuf,
    pub qemu_img: PathBuf,
    pub accel: AccelChoice,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Parent of the per-run directories; also scanned for stale runs.
    pub runs_root: PathBuf,
    /// Full console transcript; kept after the run. Default: `runs_root/logs/RUN.console.log`.
    pub transcript: Option<PathBuf>,
    /// Guest TCP ports forwarded from free loopback ports. 443 and 22 are always forwarded.
    pub extra_forwards: Vec<u16>,
    /// `restrict=on` on every NIC: the guest reaches nothing outside itself (host forwards work).
    /// Only the golden-image build turns this off, because pfSense has to download packages.
    pub restrict_network: bool,
    /// How long QEMU may take to start and accept the console and monitor connections.
    pub start_deadline: Duration,
    /// How long `shutdown` waits for QEMU to quit before killing it.
    pub quit_grace: Duration,
    /// Default: the pfSense REST API version endpoint with the golden image's credentials.
    pub readiness: Option<Arc<dyn ReadinessProbe>>,
    pub usb_stick: Option<UsbStick>,
    /// QEMU exits instead of rebooting the guest (the installer's final reboot ends the run).
    pub no_reboot: bool,
    /// Clean up on SIGINT/SIGTERM/SIGHUP (then the process ends as the signal asks).
    pub install_signal_handler: bool,
}

impl Default for VmOptions {
    fn default() -> VmOptions {
        VmOptions {
            qemu: std::env::var_os("PFSENSE_QEMU")
                .map(PathBuf::from)
                .unwrap_or_else(|| "qemu-system-x86_64".into()),
            qemu_img: "qemu-img".into(),
            accel: std::env::var("PFSENSE_VM_ACCEL")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or_default(),
            memory_mib: 2048,
            cpus: 2,
            runs_root: default_runs_root(),
            transcript: None,
            extra_forwards: Vec::new(),
            restrict_network: true,
            start_deadline: Duration::from_secs(30),
            quit_grace: Duration::from_secs(10),
            readiness: None,
            usb_stick: None,
            no_reboot: false,
            install_signal_handler: true,
        }
    }
}

/// `$TMPDIR/pfsense-vm-runs`: short, because unix socket paths are limited to ~107 bytes.
pub fn default_runs_root() -> PathBuf {
    std::env::temp_dir().join("pfsense-vm-runs")
}

/// Finds a program on `PATH` (or checks an explicit path).
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

pub struct Vm;

impl Vm {
    /// Boots a fresh overlay on top of `golden` (the golden disk is only ever read).
    pub fn boot(golden: &GoldenImage, options: VmOptions) -> Result<RunningVm, VmError> {
        launch(golden, DiskUse::Overlay, options)
    }

    /// Boots `golden.disk` itself, writing to it. Only for building a golden image.
    pub fn boot_in_place(golden: &GoldenImage, options: VmOptions) -> Result<RunningVm, VmError> {
        launch(golden, DiskUse::InPlace, options)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DiskUse {
    Overlay,
    InPlace,
}

/// What the cleanup paths (drop, signal handler) share about one run.
struct RunState {
    id: String,
    run_dir: PathBuf,
    pid: Pid,
    phase: Mutex<Phase>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Exited,
    Cleaned,
}

impl RunState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reaps QEMU if it has exited; true when it is gone.
    fn has_exited(&self) -> bool {
        let mut phase = self.lock();
        if *phase != Phase::Running {
            return true;
        }
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => false,
            _ => {
                *phase = Phase::Exited;
                true
            }
        }
    }

    /// Ends QEMU (asked nicely through `quit`, then SIGTERM, then SIGKILL) and removes the run dir.
    fn stop(&self, quit: Option<&mut Qmp>, grace: Duration) {
        let mut phase = self.lock();
        if *phase == Phase::Cleaned {
            return;
        }
        if *phase == Phase::Running {
            let asked =
                quit.is_some_and(|qmp| qmp.execute("quit", None, Duration::from_secs(2)).is_ok());
            if !asked {
                let _ = kill(self.pid, Signal::SIGTERM);
            }
            let deadline = Instant::now() + grace;
            loop {
                match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    Ok(WaitStatus::StillAlive) => {
                        tracing::warn!(run = %self.id, "QEMU did not quit in time; killing it");
                        let _ = kill(self.pid, Signal::SIGKILL);
                        let _ = waitpid(self.pid, None);
                        break;
                    }
                    _ => break,
                }
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.run_dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(run = %self.id, error = %e, "could not remove the run directory");
        }
        *phase = Phase::Cleaned;
        tracing::info!(run = %self.id, "VM stopped and cleaned up");
    }
}

fn live_runs() -> &'static Mutex<Vec<Weak<RunState>>> {
    static LIVE: OnceLock<Mutex<Vec<Weak<RunState>>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(Vec::new()))
}

fn register(run: &Arc<RunState>) {
    let mut live = live_runs().lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|weak| weak.strong_count() > 0);
    live.push(Arc::downgrade(run));
}

type SignalHook = Box<dyn Fn() + Send + Sync>;

fn signal_hooks() -> &'static Mutex<Vec<(u64, SignalHook)>> {
    static HOOKS: OnceLock<Mutex<Vec<(u64, SignalHook)>>> = OnceLock::new();
    HOOKS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Keeps a hook registered with [`on_signal`] until dropped.
pub struct SignalHookGuard(u64);

impl Drop for SignalHookGuard {
    fn drop(&mut self) {
        signal_hooks()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != self.0);
    }
}

/// Runs `hook` (before the VMs are stopped) if SIGINT/SIGTERM/SIGHUP arrives while the guard
/// lives; e.g. to stop a test command the caller started.
pub fn on_signal(hook: impl Fn() + Send + Sync + 'static) -> SignalHookGuard {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    signal_hooks()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, Box::new(hook)));
    install_signal_handler();
    SignalHookGuard(id)
}

/// Installs (once) the handler that cleans up every live run on SIGINT, SIGTERM or SIGHUP and
/// then lets the signal end the process as it would have.
pub fn install_signal_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(signals) => signals,
            Err(e) => {
                tracing::warn!(error = %e, "cannot install the VM cleanup signal handler");
                return;
            }
        };
        let spawned = std::thread::Builder::new()
            .name("vm-harness-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    tracing::warn!(signal, "signal received: stopping every VM of this process");
                    for (_, hook) in signal_hooks()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                    {
                        hook();
                    }
                    let runs: Vec<Arc<RunState>> = live_runs()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .filter_map(Weak::upgrade)
                        .collect();
                    for run in runs {
                        run.stop(None, Duration::from_secs(5));
                    }
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                    std::process::exit(128 + signal);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the VM cleanup signal thread");
        }
    });
}

/// Removes run directories whose owning process is gone, killing their QEMU if it still runs.
/// Returns how many were removed.
pub fn sweep_stale_runs(runs_root: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(runs_root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_run = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("run-"));
        if !is_run || !dir.is_dir() {
            continue;
        }
        let owner_alive = match std::fs::read_to_string(dir.join("owner.pid")) {
            Ok(text) => owner_is_alive(&text),
            // A run dir without an owner file is a boot that died half-way; give it a minute.
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_none_or(|age| age < Duration::from_secs(60)),
        };
        if owner_alive {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("qemu.pid"))
            && let Ok(pid) = text.trim().parse::<i32>()
        {
            // Only kill it if it really is this run's QEMU (pids get reused).
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let marker = dir.to_string_lossy();
            if String::from_utf8_lossy(&cmdline).contains(marker.as_ref()) {
                tracing::warn!(pid, dir = %dir.display(), "killing the QEMU of a stale run");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::warn!(dir = %dir.display(), "removed a stale run left by a dead process");
                removed += 1;
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a stale run"),
        }
    }
    removed
}

/// `owner.pid` holds "PID STARTTIME" so a reused pid is not mistaken for the owner.
fn owner_is_alive(owner_file: &str) -> bool {
    let mut parts = owner_file.split_whitespace();
    let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
        return false;
    };
    process_start_time(pid).is_some_and(|actual| actual == start)
}

fn process_start_time(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    // State is field 3; start time is field 22, i.e. index 19 of the remaining fields.
    rest.split_whitespace().nth(19).map(str::to_owned)
}

fn free_loopback_port() -> Result<u16, VmError> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(io("binding a free loopback port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading a bound port"))?
        .port())
}

fn next_run_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "run-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn launch(
    golden: &GoldenImage,
    disk_use: DiskUse,
    options: VmOptions,
) -> Result<RunningVm, VmError> {
    let qemu = find_program(&options.qemu)
        .ok_or_else(|| VmError::QemuMissing(options.qemu.display().to_string()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&options.runs_root)
        .map_err(io(format!("creating {}", options.runs_root.display())))?;
    let swept = sweep_stale_runs(&options.runs_root);
    if swept > 0 {
        tracing::info!(swept, "removed stale runs");
    }
    let mut decision =
        choose(options.accel, &qemu, &options.runs_root).map_err(VmError::Accelerator)?;
    // A direct-kernel guest's own kernel must run under KVM too (accel.rs, probe_kvm_kernel).
    if let (AccelChoice::Auto, Accelerator::Kvm, Some(direct)) = (
        options.accel,
        decision.accelerator,
        golden.direct_kernel.as_ref(),
    ) && let Err(why) = crate::accel::probe_kvm_kernel(&qemu, &direct.kernel, &direct.initrd)
    {
        decision = AccelDecision {
            accelerator: Accelerator::Tcg,
            reason: format!("KVM does not run this guest ({why}); falling back to TCG"),
        };
    }
    tracing::info!(
        accelerator = decision.accelerator.name(),
        reason = %decision.reason,
        "accelerator chosen"
    );
    // The host forward can lose a race for its port with another process: try again then.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match launch_once(golden, disk_use, &options, &qemu, &decision) {
            Err(VmError::Start { message, log })
                if attempt < 3 && log.contains("host forwarding rule") =>
            {
                tracing::warn!(%message, "a forwarded port was taken meanwhile; retrying");
            }
            other => return other,
        }
    }
}

fn launch_once(
    golden: &GoldenImage,
    disk_use: DiskUse,
    options: &VmOptions,
    qemu: &Path,
    decision: &AccelDecision,
) -> Result<RunningVm, VmError> {
    let id = next_run_id();
    let run_dir = options.runs_root.join(&id);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&run_dir)
        .map_err(io(format!("creating {}", run_dir.display())))?;
    // From here on the guard removes the directory if anything below fails.
    let mut guard = DirGuard(Some(run_dir.clone()));
    let own_pid = std::process::id().to_string();
    let start = process_start_time(&own_pid).unwrap_or_default();
    std::fs::write(run_dir.join("owner.pid"), format!("{own_pid} {start}\n"))
        .map_err(io("writing owner.pid"))?;

    let serial_socket = run_dir.join("serial.sock");
    let qmp_socket = run_dir.join("qmp.sock");
    if qmp_socket.as_os_str().len() > 100 {
        return Err(VmError::Io {
            what: format!("socket path {} is too long", qmp_socket.display()),
            source: std::io::Error::other("use a shorter runs_root"),
        });
    }
    let golden_disk =
        std::path::absolute(&golden.disk).map_err(io("resolving the golden disk path"))?;
    let disk = match disk_use {
        DiskUse::InPlace => golden_disk,
        DiskUse::Overlay => {
            let overlay = run_dir.join("overlay.qcow2");
            let qemu_img = find_program(&options.qemu_img)
                .ok_or_else(|| VmError::QemuMissing(options.qemu_img.display().to_string()))?;
            let output = Command::new(qemu_img)
                .args(["create", "-f", "qcow2", "-F", "qcow2", "-b"])
                .arg(&golden_disk)
                .arg(&overlay)
                .stdin(Stdio::null())
                .output()
                .map_err(io("running qemu-img"))?;
            if !output.status.success() {
                return Err(VmError::Overlay(
                    String::from_utf8_lossy(&output.stderr).trim().to_owned(),
                ));
            }
            overlay
        }
    };

    let mut forwards = BTreeMap::new();
    for guest_port in [443, 22]
        .into_iter()
        .chain(options.extra_forwards.iter().copied())
    {
        forwards.insert(guest_port, free_loopback_port()?);
    }
    let restrict = if options.restrict_network {
        ",restrict=on"
    } else {
        ""
    };
    let wan_forwards: String = forwards
        .iter()
        .map(|(guest, host)| format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"))
        .collect();

    let mut command = Command::new(qemu);
    command
        .args(["-name", &format!("vmh-{id}")])
        .args(decision.accelerator.qemu_args())
        .args(["-m", &options.memory_mib.to_string()])
        .args(["-smp", &options.cpus.to_string()])
        .args(["-nodefaults", "-display", "none", "-S"])
        .arg("-pidfile")
        .arg(run_dir.join("qemu.pid"))
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_socket.display()))
        .arg("-serial")
        .arg(format!(
            "unix:{},server=on,wait=off",
            serial_socket.display()
        ))
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2", disk.display()))
        .args(["-device", "virtio-rng-pci"]);
    if let Some(stick) = &options.usb_stick {
        command
            .arg("-drive")
            .arg(format!(
                "file={},format=raw,if=none,id=usbstick,snapshot=on",
                stick.raw_image.display()
            ))
            .args([
                "-device",
                "usb-ehci",
                "-device",
                "usb-storage,drive=usbstick,bootindex=0",
            ]);
    }
    if let Some(direct) = &golden.direct_kernel {
        command
            .arg("-kernel")
            .arg(&direct.kernel)
            .arg("-initrd")
            .arg(&direct.initrd)
            .args(["-append", &direct.append]);
    }
    // em0 WAN (forwards), em1 LAN, em2 spare for LAGG/VLAN tests.
    for (index, (name, net, extra)) in [
        ("wan0", "10.0.2.0/24", wan_forwards.as_str()),
        ("lan0", "10.0.3.0/24", ""),
        ("opt0", "10.0.4.0/24", ""),
    ]
    .into_iter()
    .enumerate()
    {
        command
            .arg("-netdev")
            .arg(format!("user,id={name},net={net}{restrict}{extra}"))
            .arg("-device")
            .arg(format!(
                "e1000,netdev={name},mac=52:54:00:00:00:0{}",
                index + 1
            ));
    }
    if options.no_reboot {
        command.arg("-no-reboot");
    }
    let log_path = run_dir.join("qemu.log");
    let log = std::fs::File::create(&log_path).map_err(io("creating qemu.log"))?;
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("qemu.log"))?)
        .stderr(log)
        // Its own process group: a Ctrl-C at the terminal reaches us, and we stop QEMU cleanly.
        .process_group(0);
    tracing::debug!(?command, "starting QEMU");
    let child = command
        .spawn()
        .map_err(io(format!("starting {}", qemu.display())))?;
    let run = Arc::new(RunState {
        id: id.clone(),
        run_dir: run_dir.clone(),
        pid: Pid::from_raw(child.id() as i32),
        phase: Mutex::new(Phase::Running),
    });
    // The child is reaped through `waitpid` by RunState; std's handle is not needed.
    drop(child);
    guard.0 = None;
    register(&run);
    if options.install_signal_handler {
        install_signal_handler();
    }
    let fail_start = |run: &Arc<RunState>, message: String| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        run.stop(None, Duration::from_secs(2));
        VmError::Start { message, log }
    };

    let deadline = Instant::now() + options.start_deadline;
    let serial = loop {
        match UnixStream::connect(&serial_socket) {
            Ok(stream) => break stream,
            Err(_) if run.has_exited() => {
                return Err(fail_start(&run, "QEMU exited during start-up".into()));
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(fail_start(&run, format!("no serial console socket: {e}")));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let transcript = match &options.transcript {
        Some(path) => path.clone(),
        None => options
            .runs_root
            .join("logs")
            .join(format!("{id}.console.log")),
    };
    // QEMU is running: any failure from here on must stop it too.
    let opened = transcript
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| serial.try_clone())
        .and_then(|reader| Console::new(reader, serial, Some(&transcript)));
    let console = match opened {
        Ok(console) => console,
        Err(e) => {
            let message = format!(
                "opening the console transcript {}: {e}",
                transcript.display()
            );
            return Err(fail_start(&run, message));
        }
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut qmp = match Qmp::connect(&qmp_socket, remaining) {
        Ok(qmp) => qmp,
        Err(message) => return Err(fail_start(&run, message)),
    };
    // QEMU started paused (-S) so that no console output is lost before we are connected.
    if let Err(message) = qmp.execute("cont", None, Duration::from_secs(10)) {
        return Err(fail_start(&run, message));
    }
    let readiness = options
        .readiness
        .clone()
        .unwrap_or_else(|| Arc::new(PfSenseApiProbe::new(golden.credentials.clone())));
    tracing::info!(
        run = %id,
        accelerator = decision.accelerator.name(),
        https = forwards.get(&443).copied().unwrap_or(0),
        ssh = forwards.get(&22).copied().unwrap_or(0),
        transcript = %transcript.display(),
        "VM started"
    );
    Ok(RunningVm {
        run,
        qmp,
        console,
        endpoint: Endpoint {
            host: "127.0.0.1".into(),
            forwards,
        },
        accelerator: decision.clone(),
        readiness,
        transcript,
        log_path,
        quit_grace: options.quit_grace,
    })
}

/// Removes a half-made run directory when start-up fails before QEMU exists.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A booted VM. Dropping it stops QEMU and removes the run directory.
pub struct RunningVm {
    run: Arc<RunState>,
    qmp: Qmp,
    console: Console,
    endpoint: Endpoint,
    accelerator: AccelDecision,
    readiness: Arc<dyn ReadinessProbe>,
    transcript: PathBuf,
    log_path: PathBuf,
    quit_grace: Duration,
}

impl RunningVm {
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `https://127.0.0.1:PORT` for the guest's port 443.
    pub fn base_url(&self) -> String {
        self.endpoint.https_url()
    }

    pub fn host_port(&self, guest_port: u16) -> Option<u16> {
        self.endpoint.host_port(guest_port)
    }

    pub fn console(&mut self) -> &mut Console {
        &mut self.console
    }

    pub fn accelerator(&self) -> &AccelDecision {
        &self.accelerator
    }

    pub fn run_dir(&self) -> &Path {
        &self.run.run_dir
    }

    pub fn transcript_path(&self) -> &Path {
        &self.transcript
    }

    pub fn qemu_pid(&self) -> u32 {
        self.run.pid.as_raw() as u32
    }

    fn exited_error(&self, doing: &str) -> VmError {
        VmError::Exited {
            doing: doing.into(),
            log: std::fs::read_to_string(&self.log_path).unwrap_or_default(),
            console: self.console.tail(1500),
        }
    }

    /// Polls the readiness probe until it succeeds; fails early if QEMU exits.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, VmError> {
        let started = Instant::now();
        let mut last_error = String::from("no try finished yet");
        while started.elapsed() < timeout {
            if self.run.has_exited() {
                return Err(self.exited_error("waiting for the guest to become ready"));
            }
            match self.readiness.try_once(&self.endpoint) {
                Ok(()) => {
                    let took = started.elapsed();
                    tracing::info!(run = %self.run.id, took_ms = took.as_millis() as u64, "guest ready");
                    return Ok(took);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "not ready yet");
                    last_error = e;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(VmError::NotReady {
            seconds: timeout.as_secs(),
            probe: self.readiness.describe(),
            last_error,
            console: self.console.tail(1500),
        })
    }

    fn check_snapshot_name(name: &str) -> Result<(), VmError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(())
        } else {
            Err(VmError::Snapshot {
                name: name.into(),
                message: "use 1-64 letters, digits, '-' or '_'".into(),
            })
        }
    }

    /// Saves the whole machine (RAM and disk) into the overlay under `name`.
    pub fn snapshot(&mut self, name: &str) -> Result<(), VmError> {
        Self::check_snapshot_name(name)?;
        let started = Instant::now();
        self.qmp
            .human(&format!("savevm {name}"), Duration::from_secs(600))
            .map_err(|message| VmError::Snapshot {
                name: name.into(),
                message,
            })?;
        tracing::info!(
            name,
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot saved"
        );
        Ok(())
    }

    /// Puts the machine back exactly as it was at `snapshot(name)`.
    pub fn restore(&mut self, name: &str) -> Result<(), VmError> {
        Self::check_snapshot_name(name)?;
        let started = Instant::now();
        self.qmp
            .human(&format!("loadvm {name}"), Duration::from_secs(600))
            .map_err(|message| VmError::Snapshot {
                name: name.into(),
                message,
            })?;
        tracing::info!(
            name,
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot restored"
        );
        Ok(())
    }

    /// Waits for the guest to end QEMU by itself (power-off, `-no-reboot` reboot).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.run.has_exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Quits QEMU through QMP (killing it after the grace period) and removes the run directory.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let grace = self.quit_grace;
        self.run.stop(Some(&mut self.qmp), grace);
        let _ = std::io::stderr().flush();
    }
}

impl Drop for RunningVm {
    fn drop(&mut self) {
        self.stop();
    }
}
