//! The audit log: append-only JSON Lines, one entry per attempt (preview, refused, executed,
//! failed, undone, auto-reverted). Every line carries `prev`, the SHA-256 of the previous line
//! exactly as written (64 zeros for the first), so `pfsense-mcp audit verify FILE` finds an
//! edited, removed or reordered line. It cannot tell that lines were cut off at the end, or that
//! someone rewrote the whole chain: keep a copy of the last hash (`audit verify` prints it)
//! or ship the lines elsewhere for that.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Preview,
    Refused,
    Executed,
    Failed,
    /// A journal change was undone on request (`pfsense_undo`).
    Undone,
    /// A provisional change was undone because nobody confirmed it in time.
    AutoReverted,
    /// A journal entry left by a killed process was settled at start.
    Reconciled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Preview => "preview",
            Outcome::Refused => "refused",
            Outcome::Executed => "executed",
            Outcome::Failed => "failed",
            Outcome::Undone => "undone",
            Outcome::AutoReverted => "auto_reverted",
            Outcome::Reconciled => "reconciled",
        }
    }
}

/// One entry before it is chained. Arguments and request must already be redacted.
#[derive(Debug, Clone)]
pub struct Entry {
    pub firewall: String,
    pub tool: String,
    pub caller: String,
    pub outcome: Outcome,
    pub arguments: Value,
    pub request: Value,
    pub response_id: Option<String>,
    pub change_id: Option<i64>,
    /// Why it was refused or failed, or a short note.
    pub message: Option<String>,
}

impl Entry {
    pub fn new(firewall: &str, tool: &str, caller: &str, outcome: Outcome) -> Entry {
        Entry {
            firewall: firewall.to_string(),
            tool: tool.to_string(),
            caller: caller.to_string(),
            outcome,
            arguments: Value::Null,
            request: Value::Null,
            response_id: None,
            change_id: None,
            message: None,
        }
    }
}

struct Tail {
    file: File,
    seq: u64,
    last_hash: String,
}

/// The open log. Appends are serialised; each is flushed before the call returns.
pub struct AuditLog {
    path: PathBuf,
    tail: Mutex<Tail>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl AuditLog {
    /// Open (or create) the log and find where the chain ends.
    pub fn open(path: &Path) -> Result<AuditLog, String> {
        super::private::prepare(path, "audit log")?;
        let (seq, last_hash) = match File::open(path) {
            Ok(f) => {
                let mut seq = 0;
                let mut last = GENESIS.to_string();
                for line in BufReader::new(f).split(b'\n') {
                    let line = line.map_err(|e| {
                        format!("cannot read the audit log {}: {e}", path.display())
                    })?;
                    if line.is_empty() {
                        continue;
                    }
                    seq += 1;
                    last = sha256_hex(&line);
                }
                (seq, last)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, GENESIS.to_string()),
            Err(e) => return Err(format!("cannot read the audit log {}: {e}", path.display())),
        };
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(path)
            .map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            tail: Mutex::new(Tail {
                file,
                seq,
                last_hash,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one entry. A failure to write is logged, never fatal to the call: the caller
    /// gets its answer, and stderr says the audit log is broken.
    pub fn append(&self, entry: &Entry) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let seq = tail.seq + 1;
        let mut line = Map::new();
        line.insert("seq".into(), json!(seq));
        line.insert(
            "time".into(),
            json!(super::time::rfc3339(super::time::now_millis())),
        );
        line.insert("firewall".into(), json!(entry.firewall));
        line.insert("tool".into(), json!(entry.tool));
        line.insert("caller".into(), json!(entry.caller));
        line.insert("outcome".into(), json!(entry.outcome.as_str()));
        line.insert("arguments".into(), entry.arguments.clone());
        line.insert("request".into(), entry.request.clone());
        line.insert("response_id".into(), json!(entry.response_id));
        line.insert("change_id".into(), json!(entry.change_id));
        line.insert("message".into(), json!(entry.message));
        line.insert("prev".into(), json!(tail.last_hash));
        let mut line = Value::Object(line);
        crate::secret::scrub_value(&mut line);
        let mut text = match serde_json::to_string(&line) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "audit entry could not be serialised");
                return;
            }
        };
        let hash = sha256_hex(text.as_bytes());
        text.push('\n');
        match tail
            .file
            .write_all(text.as_bytes())
            .and_then(|_| tail.file.flush())
        {
            Ok(()) => {
                tail.seq = seq;
                tail.last_hash = hash;
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "audit log write failed")
            }
        }
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// SHA-256 of the last line: keep it elsewhere to detect a cut-off tail later.
    pub last_hash: String,
}

/// Check the chain of a log file. The error names the first line that breaks it and why.
pub fn verify(path: &Path) -> Result<Verified, String> {
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut prev = GENESIS.to_string();
    let mut entries = 0u64;
    for (index, line) in BufReader::new(f).split(b'\n').enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if line.is_empty() {
            return Err(format!(
                "line {number} is empty: a line was removed or the file was edited"
            ));
        }
        let value: Value = serde_json::from_slice(&line)
            .map_err(|e| format!("line {number} is not JSON ({e}): it was edited"))?;
        let claimed = value.get("prev").and_then(Value::as_str).unwrap_or("");
        if claimed != prev {
            return Err(if number == 1 {
                format!(
                    "line 1 does not start the chain (its prev is not {GENESIS}): earlier lines were removed"
                )
            } else {
                format!(
                    "line {number} does not follow line {}: its prev hash does not match, so line {} was edited, or a line was removed or moved here",
                    number - 1,
                    number - 1
                )
            });
        }
        let seq = value.get("seq").and_then(Value::as_u64).unwrap_or(0);
        if seq != number as u64 {
            return Err(format!(
                "line {number} carries seq {seq}: lines were removed or reordered"
            ));
        }
        prev = sha256_hex(&line);
        entries += 1;
    }
    Ok(Verified {
        entries,
        last_hash: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..n {
            log.append(&Entry::new(
                "fw",
                &format!("tool{i}"),
                "stdio",
                Outcome::Preview,
            ));
        }
        (dir, path)
    }

    #[test]
    fn an_intact_chain_verifies_and_reopening_continues_it() {
        let (_dir, path) = log_with(3);
        AuditLog::open(&path).unwrap().append(&Entry::new(
            "fw",
            "later",
            "stdio",
            Outcome::Executed,
        ));
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 4);
    }

    #[test]
    fn edits_removals_and_reorders_are_found() {
        let (_dir, path) = log_with(4);
        let original = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = original.lines().collect();

        let edited = original.replace("tool1", "tool9");
        std::fs::write(&path, edited).unwrap();
        assert!(verify(&path).unwrap_err().contains("line 3"));

        let removed = [lines[0], lines[2], lines[3]].join("\n") + "\n";
        std::fs::write(&path, removed).unwrap();
        assert!(verify(&path).is_err());

        let swapped = [lines[0], lines[2], lines[1], lines[3]].join("\n") + "\n";
        std::fs::write(&path, swapped).unwrap();
        assert!(verify(&path).is_err());

        let first_removed = lines[1..].join("\n") + "\n";
        std::fs::write(&path, first_removed).unwrap();
        assert!(verify(&path).unwrap_err().contains("line 1"));
    }
}
