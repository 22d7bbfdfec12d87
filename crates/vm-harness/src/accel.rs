//! Accelerator choice by probing. `/dev/kvm` existing proves nothing: under nested
//! virtualisation KVM can open fine and still fail to run a guest (`-cpu host` aborts on
//! MSR 0x10a; the default CPU model hangs a Linux kernel silently). So KVM is used only after a
//! tiny guest, run with the exact flags a real boot would use, has printed a marker.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accelerator {
    Kvm,
    Tcg,
}

impl Accelerator {
    /// QEMU flags for this accelerator. Under KVM the host CPU is passed through; under TCG
    /// `max` emulates every feature TCG has (pfSense 2.8 wants a modern x86-64).
    pub fn qemu_args(self) -> [&'static str; 4] {
        match self {
            Accelerator::Kvm => ["-accel", "kvm", "-cpu", "host"],
            Accelerator::Tcg => ["-accel", "tcg", "-cpu", "max"],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Accelerator::Kvm => "kvm",
            Accelerator::Tcg => "tcg",
        }
    }
}

/// What the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    /// KVM if the probe boots a guest with it, TCG otherwise.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for AccelChoice {
    type Err = String;
    fn from_str(text: &str) -> Result<AccelChoice, String> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            other => Err(format!(
                "unknown accelerator {other:?}: use auto, kvm or tcg"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    pub accelerator: Accelerator,
    pub reason: String,
}

/// Marker the probe guest writes to COM1.
const PROBE_MARKER: &str = "VMHARNESS-ACCEL-OK";
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// A 512-byte boot sector (16-bit real mode) that writes the marker to COM1 (port 0x3f8) and halts.
fn probe_boot_sector() -> Vec<u8> {
    #[rustfmt::skip]
    let code: [u8; 23] = [
        0xFA,             // cli
        0x31, 0xC0,       // xor ax, ax
        0x8E, 0xD8,       // mov ds, ax
        0xFC,             // cld
        0xBA, 0xF8, 0x03, // mov dx, 0x3f8
        0xBE, 0x17, 0x7C, // mov si, 0x7c17 (the message, right after this code)
        0xAC,             // next: lodsb
        0x84, 0xC0,       // test al, al
        0x74, 0x03,       // jz done
        0xEE,             // out dx, al
        0xEB, 0xF8,       // jmp next
        0xF4,             // done: hlt
        0xEB, 0xFD,       // jmp done
    ];
    let mut sector = code.to_vec();
    sector.extend_from_slice(PROBE_MARKER.as_bytes());
    sector.extend_from_slice(b"\r\n\0");
    sector.resize(510, 0);
    sector.extend_from_slice(&[0x55, 0xAA]);
    sector
}

/// Runs the probe guest under KVM. `Ok` means KVM ran it; `Err` says why KVM is unusable.
pub fn probe_kvm(qemu: &Path, scratch_dir: &Path) -> Result<(), String> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Err(format!("/dev/kvm cannot be opened: {e}"));
    }
    let image = scratch_dir.join(format!("accel-probe-{}.img", std::process::id()));
    std::fs::write(&image, probe_boot_sector())
        .map_err(|e| format!("cannot write the probe image {}: {e}", image.display()))?;
    let result = run_probe(qemu, &image);
    let _ = std::fs::remove_file(&image);
    result
}

fn run_probe(qemu: &Path, image: &Path) -> Result<(), String> {
    let mut command = Command::new(qemu);
    command
        .args(["-m", "16", "-drive"])
        .arg(format!("file={},format=raw,if=ide", image.display()));
    watch_probe(command, PROBE_MARKER, PROBE_DEADLINE, "the KVM probe guest")
}

/// What a Linux kernel prints first once it runs in long mode (`earlyprintk`), after the
/// real-mode setup code that a KVM unable to run the kernel still runs ("Probing EDD").
const KERNEL_MARKER: &str = "Linux version";
/// A kernel under working KVM prints its banner well within a second.
const KERNEL_PROBE_DEADLINE: Duration = Duration::from_secs(15);

/// Boots a guest's own Linux kernel under KVM until it prints its banner. On some nested
/// hosts KVM runs the boot-sector probe (real mode) and still hangs a Linux kernel before its
/// first line, with `-cpu host` as with every other CPU model (seen 2026-12-05: Debian's
/// 6.1.192 kernel on an Intel Xeon host; it boots under TCG), so a direct-kernel guest is
/// given KVM only when its kernel has shown it runs there.
pub fn probe_kvm_kernel(qemu: &Path, kernel: &Path, initrd: &Path) -> Result<(), String> {
    static PROBED: Mutex<Vec<(PathBuf, Result<(), String>)>> = Mutex::new(Vec::new());
    let mut probed = PROBED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, result)) = probed.iter().find(|(k, _)| k == kernel) {
        return result.clone();
    }
    let mut command = Command::new(qemu);
    command
        .args(["-m", "256", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1"]);
    let result = watch_probe(
        command,
        KERNEL_MARKER,
        KERNEL_PROBE_DEADLINE,
        "the guest's kernel",
    );
    probed.push((kernel.to_owned(), result.clone()));
    result
}

/// Runs `command` (QEMU with a guest's own arguments) under KVM until `marker` appears on its
/// serial console: Ok, or why KVM does not run it (`what`: the guest, in the message).
fn watch_probe(
    mut command: Command,
    marker: &str,
    deadline: Duration,
    what: &str,
) -> Result<(), String> {
    let qemu = command.get_program().to_owned();
    let mut child = command
        .args(Accelerator::Kvm.qemu_args())
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-serial",
            "stdio",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", Path::new(&qemu).display()))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let seen = std::sync::Arc::new(Mutex::new(String::new()));
    let seen_by_reader = std::sync::Arc::clone(&seen);
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 256];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let mut seen = seen_by_reader.lock().unwrap_or_else(|p| p.into_inner());
            seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let started = Instant::now();
    let outcome = loop {
        if seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(marker)
        {
            break Ok(());
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut message = String::new();
                let _ = stderr.read_to_string(&mut message);
                let message = message
                    .trim()
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join("; ");
                break Err(format!("{what} died under KVM ({status}): {message}"));
            }
            Ok(None) => {}
            Err(e) => break Err(format!("cannot watch the probe: {e}")),
        }
        if started.elapsed() > deadline {
            break Err(format!(
                "{what} printed no {marker:?} in {} s under KVM (KVM opens but does not run it)",
                deadline.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    outcome
}

/// Decides the accelerator. The probe result is cached for the life of the process.
pub fn choose(
    choice: AccelChoice,
    qemu: &Path,
    scratch_dir: &Path,
) -> Result<AccelDecision, String> {
    static PROBED: Mutex<Option<(PathBuf, Result<(), String>)>> = Mutex::new(None);
    match choice {
        AccelChoice::Tcg => Ok(AccelDecision {
            accelerator: Accelerator::Tcg,
            reason: "TCG was asked for".into(),
        }),
        AccelChoice::Kvm | AccelChoice::Auto => {
            let probed = {
                let mut cache = PROBED.lock().unwrap_or_else(|p| p.into_inner());
                match cache.as_ref() {
                    Some((path, result)) if path == qemu => result.clone(),
                    _ => {
                        let result = probe_kvm(qemu, scratch_dir);
                        *cache = Some((qemu.to_owned(), result.clone()));
                        result
                    }
                }
            };
            match (probed, choice) {
                (Ok(()), _) => Ok(AccelDecision {
                    accelerator: Accelerator::Kvm,
                    reason: "the KVM probe guest ran with -cpu host".into(),
                }),
                (Err(why), AccelChoice::Kvm) => {
                    Err(format!("KVM was asked for but is unusable: {why}"))
                }
                (Err(why), _) => Ok(AccelDecision {
                    accelerator: Accelerator::Tcg,
                    reason: format!("KVM is unusable ({why}); falling back to TCG"),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sector_is_one_sector_with_signature_and_marker() {
        let sector = probe_boot_sector();
        assert_eq!(sector.len(), 512);
        assert_eq!(&sector[510..], &[0x55, 0xAA]);
        // `mov si` must point at the message: 0x7c00 + offset of the marker.
        let offset = sector
            .windows(PROBE_MARKER.len())
            .position(|w| w == PROBE_MARKER.as_bytes())
            .unwrap();
        assert_eq!(0x7c00 + offset, 0x7c17);
    }

    #[test]
    fn choice_parses_and_rejects_unknown() {
        assert_eq!("KVM".parse::<AccelChoice>().unwrap(), AccelChoice::Kvm);
        assert!(
            "hvf"
                .parse::<AccelChoice>()
                .unwrap_err()
                .contains("auto, kvm or tcg")
        );
    }

    #[test]
    fn missing_qemu_makes_the_probe_fail_with_the_path() {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
        {
            return; // The /dev/kvm check answers first; nothing else to see here.
        }
        let dir = tempfile::tempdir().unwrap();
        let error =
            probe_kvm(Path::new("/nonexistent/qemu-system-x86_64"), dir.path()).unwrap_err();
        assert!(error.contains("/nonexistent/qemu-system-x86_64"), "{error}");
    }
}
