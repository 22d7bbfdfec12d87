//! Which running process a journal row belongs to. Several servers may share one journal
//! (every MCP client starts its own, and they all use the default state directory), so a row
//! in `intent` may be another server's change still in flight, and a provisional change
//! another server's to revert. Each server holds a lock on a file of its own in
//! `<journal>.owners/` while it runs and names that file in the rows it writes; a row whose
//! file can be locked by someone else belongs to a process that has ended.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An unlocked owner file older than this is a stopped process's, and is removed. Younger
/// ones may belong to a process between creating its file and locking it.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// This process's owner file, locked while it runs and removed when it ends.
pub struct Owner {
    id: String,
    dir: PathBuf,
    _file: File,
}

/// Whether the process that wrote a row still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// This process.
    Me,
    /// Another process that still runs: the row is its own to settle or revert.
    Other,
    /// No process (it ended, or the row has no owner: in-memory journals, older versions).
    Gone,
}

/// The directory of the owner files of the journal at `journal`.
fn dir_of(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".owners");
    PathBuf::from(name)
}

/// An owner file's name: the process id and a random part (process ids are reused).
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

impl Owner {
    /// Create and lock this process's owner file; `None` (said in the log) when the file
    /// system refuses: rows are then written without an owner, as before owners existed.
    pub fn claim(journal: &Path) -> Option<Owner> {
        let dir = dir_of(journal);
        let id = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let made = super::private::create_dir(&dir).and_then(|()| {
            let file = super::private::create_new(&dir.join(&id))?;
            file.try_lock().map_err(std::io::Error::from)?;
            Ok(file)
        });
        match made {
            Ok(file) => Some(Owner {
                id,
                dir,
                _file: file,
            }),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "no owner file for this process: another pfsense-mcp sharing the journal may settle this one's changes in flight as if it had been killed");
                None
            }
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the process named `owner` (a row's owner, `None` when it has none) still runs.
    pub fn running(&self, owner: Option<&str>) -> Running {
        let Some(owner) = owner.filter(|o| valid_id(o)) else {
            return Running::Gone;
        };
        if owner == self.id {
            return Running::Me;
        }
        let path = self.dir.join(owner);
        let Ok(file) = File::open(&path) else {
            return Running::Gone;
        };
        match file.try_lock() {
            Ok(()) => {
                // Its process ended without removing it (killed).
                let _ = std::fs::remove_file(&path);
                Running::Gone
            }
            Err(std::fs::TryLockError::WouldBlock) => Running::Other,
            Err(std::fs::TryLockError::Error(_)) => Running::Gone,
        }
    }

    /// Remove the owner files that killed processes left (their lock is free).
    pub fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| valid_id(n) && *n != self.id) else {
                continue;
            };
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER);
            if old {
                self.running(Some(name));
            }
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(&self.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_owner_is_told_from_an_ended_one() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.sqlite");
        let me = Owner::claim(&journal).unwrap();
        let other = Owner::claim(&journal).unwrap();
        assert_eq!(me.running(Some(me.id())), Running::Me);
        assert_eq!(me.running(Some(other.id())), Running::Other);
        assert_eq!(me.running(None), Running::Gone);
        assert_eq!(me.running(Some("../journal.sqlite")), Running::Gone);
        // Ended normally: its file is gone.
        let other_id = other.id().to_string();
        drop(other);
        assert_eq!(me.running(Some(&other_id)), Running::Gone);
        // Killed: the file stays, unlocked; it is found ended and removed.
        let killed = dir_of(&journal).join("1-00000000000000aa");
        std::fs::write(&killed, b"").unwrap();
        assert_eq!(me.running(Some("1-00000000000000aa")), Running::Gone);
        assert!(!killed.exists());
    }
}
