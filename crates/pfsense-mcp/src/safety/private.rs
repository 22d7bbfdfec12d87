//! The audit log and the journal hold who changed what and the firewall's objects before and
//! after: readable by their owner only. Files are created 0600 and directories this process
//! creates 0700; files (and the state directory) found wider are narrowed, with a log line.

use std::path::Path;

/// Make `path` ready to be opened: its directory exists (created 0700, and the default state
/// directory narrowed to its owner when found open to others) and the file exists (created
/// 0600). An existing file is left as it is until it has been opened as what it should be
/// ([`narrow_file`]): a path given by mistake (a system file) is refused unchanged.
pub fn prepare(path: &Path, what: &str) -> Result<(), String> {
    writable(path, what)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dir(dir)
            .map_err(|e| format!("cannot create the {what} directory {}: {e}", dir.display()))?;
        if super::default_state_dir().is_some_and(|state| same(&state, dir)) {
            narrow(dir, 0o700, "state directory");
        }
    }
    create_file(path).map_err(|e| format!("cannot create the {what} {}: {e}", path.display()))
}

/// Whether this process can write the file at `path`, or create it: a regular file it may
/// append to, or, when there is none, a directory above it it may create entries in. What
/// [`prepare`] checks before it creates anything, and what `doctor` checks instead of creating
/// anything: changes nothing (an existing file is opened for appending and closed).
pub fn writable(path: &Path, what: &str) -> Result<(), String> {
    if let Some(kind) = not_a_regular_file(path) {
        return Err(format!(
            "the {what} {} is {kind}, not a regular file: give the path of a file",
            path.display()
        ));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("cannot write the {what} {}: {e}", path.display()));
    }
    // The nearest directory that exists: the rest is created below it.
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let Some(existing) = absolute.ancestors().skip(1).find(|a| a.exists()) else {
        return Ok(());
    };
    if !existing.is_dir() {
        return Err(format!(
            "cannot create the {what} {}: {} is not a directory",
            path.display(),
            existing.display()
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let Ok(dir) = std::ffi::CString::new(existing.as_os_str().as_bytes()) else {
            return Ok(());
        };
        // SAFETY: `access` only reads the NUL-terminated path it is given.
        if unsafe { libc::access(dir.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(format!(
                "cannot create the {what} {}: {} is not writable for this user ({})",
                path.display(),
                existing.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Narrow the file at `path` (opened and found to be what it should be) and its SQLite
/// companions (`-wal`, `-shm`) to their owner when found open to others.
pub fn narrow_file(path: &Path, what: &str) {
    narrow(path, 0o600, what);
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = Path::new(&companion);
        if companion.exists() {
            narrow(companion, 0o600, what);
        }
    }
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What stands at `path` (symlinks followed) when it exists and is not a regular file, e.g.
/// "a character device" for /dev/null: a log or journal written there is lost, and its
/// permissions are not ours to narrow.
pub fn not_a_regular_file(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    let kind = meta.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
        if kind.is_fifo() {
            return Some("a pipe (FIFO)");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// Whether two paths name one file: the same file when both exist (symlinks and hard links
/// included), else the same place once symlinks and relative parts are resolved.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (x.dev(), x.ino()) == (y.dev(), y.ino());
    }
    resolved(a) == resolved(b)
}

/// `path` made absolute with symlinks resolved as far as it exists (a symlink to a file not
/// yet created included).
fn resolved(path: &Path) -> std::path::PathBuf {
    resolved_within(path, 40)
}

fn resolved_within(path: &Path, links_left: u32) -> std::path::PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(dir), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return absolute;
    };
    let dir = resolved_within(dir, links_left);
    match std::fs::read_link(dir.join(name)) {
        Ok(target) if links_left > 0 => resolved_within(&dir.join(target), links_left - 1),
        _ => dir.join(name),
    }
}

#[cfg(unix)]
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
}

/// A new file only its owner can read (an error if it exists).
pub fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Take away the permission bits beyond `mode`, saying so. Only of a regular file or a
/// directory this process's user owns: a device, a pipe or another user's file given as a
/// path is not ours to change (`--audit-log /dev/null` as root once made /dev/null 0600).
#[cfg(unix)]
fn narrow(path: &Path, mode: u32, what: &str) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    // SAFETY: geteuid only reads the process's effective user id.
    let me = unsafe { libc::geteuid() };
    if !(meta.is_file() || meta.is_dir()) || meta.uid() != me {
        return;
    }
    let current = meta.permissions().mode() & 0o777;
    if current & !mode == 0 {
        return;
    }
    let narrowed = current & mode;
    match std::fs::set_permissions(path, std::fs::Permissions::from_mode(narrowed)) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            from = %format!("{current:o}"),
            to = %format!("{narrowed:o}"),
            "the {what} was readable by others; narrowed its permissions"
        ),
        Err(e) => tracing::warn!(
            path = %path.display(),
            error = %e,
            "the {what} is readable by others and its permissions could not be narrowed"
        ),
    }
}

#[cfg(not(unix))]
fn narrow(_path: &Path, _mode: u32, _what: &str) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_files_and_directories_are_private_and_old_files_are_narrowed() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("a/b/journal.sqlite");
        prepare(&file, "journal").unwrap();
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&root.path().join("a/b")), 0o700);
        assert_eq!(mode(&file), 0o600);
        let wal = root.path().join("a/b/journal.sqlite-wal");
        std::fs::write(&wal, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o664)).unwrap();
        prepare(&file, "journal").unwrap();
        assert_eq!(mode(&file), 0o644, "not before it was opened as a journal");
        narrow_file(&file, "journal");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&wal), 0o600);
    }
}
