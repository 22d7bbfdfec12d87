//! Builds a small Linux test guest from Debian packages, so the harness can be proven under real
//! QEMU without pfSense: the kernel and e1000 module from `linux-image-amd64`, busybox from
//! `busybox-static`, and one service (any binary with its shared libraries, or busybox httpd)
//! listening inside the guest. Packages come through `apt-get download` + `dpkg-deb -x`; nothing
//! is installed on the host. Results are cached by a hash of their inputs.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::golden::{Credentials, DirectKernel, GoldenImage};

#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    #[error("{0}")]
    Tool(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Layout(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> GuestError {
    let what = what.into();
    move |source| GuestError::Io { what, source }
}

/// What runs inside the guest once its network is up.
#[derive(Debug, Clone)]
pub enum GuestService {
    /// `busybox httpd` serving `/srv/www` over plain HTTP.
    BusyboxHttpd { port: u16 },
    /// Any host binary, copied with the shared libraries `ldd` lists.
    Binary {
        binary: PathBuf,
        args: Vec<String>,
        /// Extra host files and where they go in the guest (absolute paths).
        files: Vec<(PathBuf, String)>,
    },
}

pub struct GuestBuilder {
    cache_dir: PathBuf,
    service: GuestService,
}

/// Where the guest prints its shell prompt (console) and what the init script says when done.
pub const GUEST_PROMPT: &str = "vmh-guest# ";
pub const GUEST_SERVICE_STARTED: &str = "vmh-guest: service started";

impl GuestBuilder {
    pub fn new(cache_dir: impl Into<PathBuf>, service: GuestService) -> GuestBuilder {
        GuestBuilder {
            cache_dir: cache_dir.into(),
            service,
        }
    }

    /// Builds (or reuses) the guest and returns its golden-image descriptor path.
    pub fn build(&self) -> Result<PathBuf, GuestError> {
        let debs = self.cache_dir.join("debs");
        std::fs::create_dir_all(&debs).map_err(io(format!("creating {}", debs.display())))?;
        let kernel_meta = fetch_deb(&debs, "linux-image-amd64")?;
        let kernel_package = first_dependency(&kernel_meta)?;
        let kernel_deb = fetch_deb(&debs, &kernel_package)?;
        let busybox_deb = fetch_deb(&debs, "busybox-static")?;
        let kernel_root = extract(&self.cache_dir, &kernel_deb)?;
        let busybox_root = extract(&self.cache_dir, &busybox_deb)?;

        let vmlinuz = find_vmlinuz(&kernel_root)?;
        let modules = module_load_order(&kernel_root, "e1000")?;
        let busybox = busybox_root.join("bin/busybox");
        if !busybox.is_file() {
            return Err(GuestError::Layout(format!(
                "{} has no bin/busybox",
                busybox_deb.display()
            )));
        }

        let mut archive = Initramfs::default();
        for dir in [
            "/bin",
            "/sbin",
            "/usr",
            "/usr/bin",
            "/usr/sbin",
            "/dev",
            "/proc",
            "/sys",
            "/tmp",
            "/etc",
            "/lib",
            "/lib/modules",
            "/srv",
            "/srv/www",
            "/app",
        ] {
            archive.dir(dir);
        }
        archive.char_device("/dev/console", 5, 1);
        archive.file_from("/bin/busybox", &busybox, 0o755)?;
        let mut module_names = Vec::new();
        for module in &modules {
            let name = module
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| GuestError::Layout(format!("odd module path {}", module.display())))?
                .to_owned();
            archive.file_from(&format!("/lib/modules/{name}"), module, 0o644)?;
            module_names.push(name);
        }
        archive.file(
            "/srv/www/index.html",
            b"vmh-guest is serving\n".to_vec(),
            0o644,
        );
        let service_command = match &self.service {
            GuestService::BusyboxHttpd { port } => format!("httpd -f -p {port} -h /srv/www"),
            GuestService::Binary {
                binary,
                args,
                files,
            } => {
                let name = binary.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    GuestError::Layout(format!("odd binary path {}", binary.display()))
                })?;
                let guest_path = format!("/app/{name}");
                archive.file_from(&guest_path, binary, 0o755)?;
                for library in shared_libraries(binary)? {
                    let guest = library.to_string_lossy().into_owned();
                    archive.parents(&guest);
                    archive.file_from(&guest, &library, 0o755)?;
                }
                for (host, guest) in files {
                    archive.parents(guest);
                    archive.file_from(guest, host, 0o644)?;
                }
                std::iter::once(guest_path)
                    .chain(args.iter().cloned())
                    .map(|word| shell_quote(&word))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let init = init_script(&module_names, &service_command);
        archive.file("/init", init.into_bytes(), 0o755);

        let digest = archive.digest(&kernel_package);
        let out = self.cache_dir.join(format!("guest-{}", &digest[..16]));
        let descriptor = out.join("golden.json");
        if descriptor.is_file() {
            tracing::info!(guest = %out.display(), "reusing the cached test guest");
            return Ok(descriptor);
        }
        let staging = self
            .cache_dir
            .join(format!("staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).map_err(io("creating the staging directory"))?;
        archive.write_gzip(&staging.join("initrd.img"))?;
        std::fs::copy(&vmlinuz, staging.join("vmlinuz")).map_err(io("copying the kernel"))?;
        run(Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(staging.join("disk.qcow2"))
            .arg("64M"))?;
        let golden = GoldenImage {
            disk: "disk.qcow2".into(),
            credentials: Credentials::default(),
            direct_kernel: Some(DirectKernel {
                kernel: "vmlinuz".into(),
                initrd: "initrd.img".into(),
                append: "console=ttyS0 panic=-1 quiet".into(),
            }),
            provenance: [
                ("kernel_package".to_owned(), kernel_package),
                ("inputs_sha256".to_owned(), digest),
            ]
            .into(),
        };
        golden
            .save(&staging.join("golden.json"))
            .map_err(|e| GuestError::Tool(e.to_string()))?;
        let _ = std::fs::remove_dir_all(&out);
        std::fs::rename(&staging, &out).map_err(io("moving the built guest into the cache"))?;
        tracing::info!(guest = %out.display(), "test guest built");
        prune_old_guests(&self.cache_dir, 3);
        Ok(descriptor)
    }
}

/// Keeps the `keep` most recently built guests (each holds a copy of its service binary).
fn prune_old_guests(cache: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    let mut guests: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("guest-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    guests.sort();
    let excess = guests.len().saturating_sub(keep);
    for (_, dir) in guests.into_iter().take(excess) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn init_script(modules: &[String], service_command: &str) -> String {
    let modules = modules.join(" ");
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {modules}; do insmod /lib/modules/$m || echo "vmh-guest: insmod $m failed"; done
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
echo "vmh-guest: network up"
cd /srv
({service_command}) >/tmp/service.log 2>&1 &
echo "{GUEST_SERVICE_STARTED}"
export PS1='{GUEST_PROMPT}'
while true; do setsid cttyhack sh; done
"#
    )
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn run(command: &mut Command) -> Result<String, GuestError> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| GuestError::Tool(format!("cannot run {shown}: {e}")))?;
    if !output.status.success() {
        return Err(GuestError::Tool(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The cached `.deb` of `package`, downloaded with `apt-get download` when missing.
fn fetch_deb(dir: &Path, package: &str) -> Result<PathBuf, GuestError> {
    let find = || -> Option<PathBuf> {
        let prefix = format!("{package}_");
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
            .max()
    };
    if let Some(deb) = find() {
        return Ok(deb);
    }
    tracing::info!(package, "downloading the Debian package");
    run(Command::new("apt-get").current_dir(dir).args(["download", "-q", package])).map_err(
        |e| {
            GuestError::Tool(format!(
                "{e}\nThe test guest is built from Debian packages: run `apt-get update` first (needs access to the Debian archive)."
            ))
        },
    )?;
    find().ok_or_else(|| GuestError::Tool(format!("apt-get download {package} left no .deb")))
}

/// `linux-image-amd64` is a meta package: the real kernel package is its first dependency.
fn first_dependency(meta_deb: &Path) -> Result<String, GuestError> {
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(meta_deb)
        .arg("Depends"))?;
    depends
        .split([',', ' ', '|'])
        .find(|word| word.starts_with("linux-image-"))
        .map(str::to_owned)
        .ok_or_else(|| GuestError::Layout(format!("no linux-image dependency in {depends:?}")))
}

fn extract(cache: &Path, deb: &Path) -> Result<PathBuf, GuestError> {
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("package")
        .replace('%', "_");
    let root = cache.join(format!("root-{stem}"));
    let done = root.join(".extracted");
    if done.is_file() {
        return Ok(root);
    }
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(io("creating an extraction directory"))?;
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root))?;
    std::fs::write(&done, b"").map_err(io("marking an extraction done"))?;
    Ok(root)
}

fn find_vmlinuz(root: &Path) -> Result<PathBuf, GuestError> {
    std::fs::read_dir(root.join("boot"))
        .map_err(io("reading the kernel package's boot/"))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| GuestError::Layout("the kernel package has no boot/vmlinuz-*".into()))
}

/// Module files to insmod, dependencies first, read from each module's `depends=` modinfo.
fn module_load_order(kernel_root: &Path, module: &str) -> Result<Vec<PathBuf>, GuestError> {
    let modules_dir = std::fs::read_dir(kernel_root.join("lib/modules"))
        .or_else(|_| std::fs::read_dir(kernel_root.join("usr/lib/modules")))
        .map_err(io("reading the kernel package's lib/modules"))?
        .flatten()
        .map(|e| e.path())
        .next()
        .ok_or_else(|| GuestError::Layout("no module directory in the kernel package".into()))?;
    let mut all = Vec::new();
    collect_modules(&modules_dir, &mut all);
    let path_of = |name: &str| -> Option<PathBuf> {
        let wanted = format!("{}.ko", name.replace('-', "_"));
        all.iter()
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.replace('-', "_") == wanted)
            })
            .cloned()
    };
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        name: &str,
        path_of: &dyn Fn(&str) -> Option<PathBuf>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<PathBuf>,
    ) -> Result<(), GuestError> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let path = path_of(name).ok_or_else(|| {
            GuestError::Layout(format!(
                "module {name} is not in the kernel package (is it built in or compressed?)"
            ))
        })?;
        let bytes = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
        for dependency in modinfo_depends(&bytes) {
            visit(&dependency, path_of, seen, order)?;
        }
        order.push(path);
        Ok(())
    }
    visit(module, &path_of, &mut seen, &mut order)?;
    Ok(order)
}

fn collect_modules(dir: &Path, into: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_modules(&path, into);
        } else if path.extension().is_some_and(|e| e == "ko") {
            into.push(path);
        }
    }
}

/// The `depends=a,b` string of a module's `.modinfo` section (NUL-separated key=value pairs).
fn modinfo_depends(module: &[u8]) -> Vec<String> {
    module
        .split(|&b| b == 0)
        .find_map(|field| field.strip_prefix(b"depends="))
        .map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Shared libraries (and the dynamic loader) a binary needs, from `ldd`.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, GuestError> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| GuestError::Tool(format!("cannot run ldd: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // Static binaries make ldd fail with "not a dynamic executable".
        return Ok(Vec::new());
    }
    let mut libraries = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        } else if line.contains("not found") {
            return Err(GuestError::Layout(format!(
                "{} needs a library that is missing: {line}",
                binary.display()
            )));
        }
    }
    Ok(libraries)
}

/// One archive member: path, mode (type and permissions), contents, device numbers.
type CpioEntry = (String, u32, Vec<u8>, (u32, u32));

/// A newc cpio archive built in memory.
#[derive(Default)]
struct Initramfs {
    entries: Vec<CpioEntry>,
    paths: BTreeSet<String>,
}

impl Initramfs {
    fn push(&mut self, path: &str, mode: u32, data: Vec<u8>, rdev: (u32, u32)) {
        if self.paths.insert(path.to_owned()) {
            self.entries.push((path.to_owned(), mode, data, rdev));
        }
    }
    fn dir(&mut self, path: &str) {
        self.push(path, 0o040755, Vec::new(), (0, 0));
    }
    fn parents(&mut self, path: &str) {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            prefix.push('/');
            prefix.push_str(part);
            self.dir(&prefix.clone());
        }
    }
    fn file(&mut self, path: &str, data: Vec<u8>, permissions: u32) {
        self.push(path, 0o100000 | permissions, data, (0, 0));
    }
    fn file_from(&mut self, path: &str, host: &Path, permissions: u32) -> Result<(), GuestError> {
        let data = std::fs::read(host).map_err(io(format!("reading {}", host.display())))?;
        self.file(path, data, permissions);
        Ok(())
    }
    fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.push(path, 0o020600, Vec::new(), (major, minor));
    }

    fn digest(&self, kernel_package: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(kernel_package.as_bytes());
        for (path, mode, data, rdev) in &self.entries {
            hasher.update(path.as_bytes());
            hasher.update(mode.to_le_bytes());
            hasher.update(rdev.0.to_le_bytes());
            hasher.update((data.len() as u64).to_le_bytes());
            hasher.update(data);
        }
        format!("{:x}", hasher.finalize())
    }

    fn write_gzip(&self, path: &Path) -> Result<(), GuestError> {
        let file =
            std::fs::File::create(path).map_err(io(format!("creating {}", path.display())))?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        let mut write = |bytes: &[u8]| gz.write_all(bytes).map_err(io("writing the initramfs"));
        let mut written = 0usize;
        let trailer: CpioEntry = ("TRAILER!!!".to_owned(), 0, Vec::new(), (0, 0));
        for (index, (path, mode, data, (major, minor))) in self
            .entries
            .iter()
            .chain(std::iter::once(&trailer))
            .enumerate()
        {
            let name = path.trim_start_matches('/');
            let header = format!(
                "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                index + 1,
                mode,
                0,
                0,
                1,
                0,
                data.len(),
                0,
                0,
                major,
                minor,
                name.len() + 1,
                0
            );
            write(header.as_bytes())?;
            write(name.as_bytes())?;
            write(&[0])?;
            written += header.len() + name.len() + 1;
            let pad = (4 - written % 4) % 4;
            write(&[0; 3][..pad])?;
            written += pad;
            write(data)?;
            written += data.len();
            let pad = (4 - written % 4) % 4;
            write(&[0; 3][..pad])?;
            written += pad;
        }
        gz.finish()
            .and_then(|mut w| w.flush())
            .map_err(io("finishing the initramfs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modinfo_depends_is_read_from_nul_separated_fields() {
        let module = b"\x7fELF...\0license=GPL\0depends=mii,libphy\0vermagic=6.1\0";
        assert_eq!(modinfo_depends(module), vec!["mii", "libphy"]);
        assert!(modinfo_depends(b"\0depends=\0").is_empty());
    }

    #[test]
    fn cpio_entries_are_aligned_and_end_with_trailer() {
        let dir = tempfile::tempdir().unwrap();
        let mut archive = Initramfs::default();
        archive.dir("/bin");
        archive.file("/bin/x", b"abc".to_vec(), 0o755);
        let path = dir.path().join("i.gz");
        archive.write_gzip(&path).unwrap();
        let mut raw = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw.len() % 4, 0);
        assert!(raw.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("bin/x\0"));
        assert!(text.contains("TRAILER!!!\0"));
    }

    #[test]
    fn shell_quote_survives_quotes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
