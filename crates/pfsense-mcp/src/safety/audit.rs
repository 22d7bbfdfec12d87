//! The audit log: append-only JSON Lines, one entry per attempt (preview, refused, executed,
//! failed, undone, auto-reverted). Every line carries `prev`, the SHA-256 of the previous line
//! exactly as written (64 zeros for the first), so `pfsense-mcp audit verify FILE` finds an
//! edited, removed or reordered line. It cannot tell that lines were cut off at the end, or that
//! someone rewrote the whole chain: keep a copy of the last hash (`audit verify` prints it)
//! or ship the lines elsewhere for that.
//!
//! At [`ROTATE_BYTES`] the file moves aside to `FILE.<last seq>` and the chain goes on in a new
//! `FILE` (its first `prev` is the old file's last hash); `audit verify FILE` checks the rotated
//! files and the current one as one chain. Start-up reads only the end of the current file.
//!
//! Durability: a line that stands for a change (the attempt written ahead of the request, its
//! outcome, previews, refusals, undos) is synced to disk before its append returns; a writer
//! thread writes and syncs the lines waiting with one `write` and one `fdatasync`, so
//! concurrent calls share a sync instead of queueing for one each (group commit). A read's
//! line is written before its append returns (another process reading the file sees it) and
//! synced within [`SYNC_READS_WITHIN`], or sooner with the next change's line: a crash of the
//! machine can lose the reads of its last second, never a change. A read's line that finds the
//! writer idle is written by the appending task itself, under the log's lock: no thread hop.
//! A write or sync that fails fails every line it carried and the lines chained after them;
//! the file is cut back and the chain goes on from the last line written before them.
//!
//! Several processes may share one log: every MCP client that starts its own server (two
//! Claude Code windows, Claude Desktop beside them) writes the default state directory's
//! `audit.jsonl`. A process chains lines only while it holds an exclusive lock on the file
//! (`flock`), and on taking the lock it checks whether another process wrote to the file or
//! rotated it since; if so it reads the chain's end from the file again and goes on from there,
//! so the lines of all processes form one chain. The lock is held while this process has lines
//! chained but not yet written, and released once they are.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `prev` of the first line.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Longest string kept verbatim in an entry; a longer one is recorded by its length and
/// SHA-256, so one huge argument cannot make a huge line.
pub const MAX_VALUE_BYTES: usize = 2048;
/// Longest line: when the arguments and request are still larger after strings are capped
/// (thousands of small values), each is recorded by its length and SHA-256 as a whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Preview,
    Refused,
    /// The human at the client was asked to approve (an input-required result, 2026-07-28):
    /// nothing ran; the call comes back with the answer.
    Asked,
    /// Written (and synced) before a change is sent; its outcome line follows.
    Attempt,
    Executed,
    Failed,
    /// A journal change was undone on request (`pfsense_undo`).
    Undone,
    /// A provisional change was undone because nobody confirmed it in time.
    AutoReverted,
    /// A journal entry left by a killed process was settled at start.
    Reconciled,
    /// Written at start after a line that a crash cut off: it closes that line off.
    CutOff,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Preview => "preview",
            Outcome::Refused => "refused",
            Outcome::Asked => "asked",
            Outcome::Attempt => "attempt",
            Outcome::Executed => "executed",
            Outcome::Failed => "failed",
            Outcome::Undone => "undone",
            Outcome::AutoReverted => "auto_reverted",
            Outcome::Reconciled => "reconciled",
            Outcome::CutOff => "cut_off",
        }
    }
}

/// Why the audit log could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot create the audit log directory {}: {source}", dir.display())]
    Directory {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the audit log {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the audit log {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit log {} could not be written ({source})", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The directory or the file's mode could not be set up (`private::prepare`).
    #[error("{0}")]
    Prepare(String),
    #[error("an audit entry could not be serialised: {0}")]
    Serialise(#[from] serde_json::Error),
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

/// How long a read's line may stay written but not synced (see the module docs).
pub const SYNC_READS_WITHIN: Duration = Duration::from_secs(1);

/// What an append waits for before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Written and synced to disk: lines that stand for a change.
    Synced,
    /// Written to the file (synced within [`SYNC_READS_WITHIN`]): reads.
    Written,
}

/// The log's state, shared by appenders and the writer thread.
struct Tail {
    /// The chain's head: the last line chained (written or still waiting).
    seq: u64,
    last_hash: String,
    /// Lines chained but not yet handed to the writer thread.
    waiting: Vec<u8>,
    /// Whether a line in `waiting` is to be synced before its append returns.
    waiting_wants_sync: bool,
    /// The file (replaced when it rotates) and its length up to the last line written: a
    /// failed write is cut back to it, so a half-written line never stays in front of the
    /// next one. A length other than the file's means another process wrote to it.
    file: Arc<File>,
    len: u64,
    /// Which file `file` is: another one at `path` means the log was rotated or replaced.
    identity: FileId,
    /// This process holds the file's lock: it has lines chained and not yet written, or is
    /// writing one (see the module docs).
    locked: bool,
    /// The last line written, and its hash: a failed write goes back to it.
    written_seq: u64,
    written_hash: String,
    /// The last line synced.
    synced_seq: u64,
    /// When the oldest line written but not yet synced was written.
    unsynced_since: Option<Instant>,
    /// The writer thread holds a batch (between taking it and settling it): appends queue.
    writer_busy: bool,
    /// The writer thread waits for work and must be woken for it.
    writer_idle: bool,
    /// Bumped when a failed write drops lines, so a `seq` handed out before (and since
    /// reused) is not taken for a later line's.
    epoch: u64,
    /// Per dropped epoch: the last line of it that was written, and why the rest failed.
    failures: std::collections::VecDeque<(u64, u64, std::io::ErrorKind, String)>,
    /// The writer thread ends once nothing is waiting.
    closing: bool,
}

/// Where an append's line is: its epoch and `seq`, and what its append waits for.
#[derive(Debug, Clone, Copy)]
struct Ticket {
    epoch: u64,
    seq: u64,
    durability: Durability,
}

/// What the writer thread does next.
enum Job {
    /// Write (and sync, when a line wants it) the lines that were waiting.
    Batch {
        bytes: Vec<u8>,
        sync: bool,
        seq: u64,
        hash: String,
        file: Arc<File>,
        len: u64,
    },
    /// Sync the lines written since the last sync (their time is up).
    Sync { file: Arc<File>, seq: u64 },
    /// The log closes: sync what is written but not synced (if any), and end.
    Close { unsynced: Option<(Arc<File>, u64)> },
}

struct Shared {
    path: PathBuf,
    rotate_at: u64,
    /// The file system refused the lock once (said once in the log; appends go on unlocked).
    lock_refused: std::sync::atomic::AtomicBool,
    tail: Mutex<Tail>,
    /// The writer thread waits here for lines.
    work: Condvar,
    /// Appends waiting on a thread wait here for the writer to finish a batch.
    done: Condvar,
    /// And appends waiting in a task, here (the number of batches finished).
    batches: tokio::sync::watch::Sender<u64>,
}

/// How many dropped epochs are remembered (an append older than that is long settled).
const REMEMBERED_FAILURES: usize = 64;

/// The open log. Appends are chained in the order they arrive; each returns once its line is
/// written, and a change's line once it is also synced (see the module docs).
pub struct AuditLog {
    shared: Arc<Shared>,
    writer: Option<std::thread::JoinHandle<()>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A value too large to record, recorded by its length and hash instead.
fn digest_of(bytes: &[u8]) -> Value {
    json!({"omitted_bytes": bytes.len(), "sha256": sha256_hex(bytes)})
}

/// `value` with every string longer than [`MAX_VALUE_BYTES`] replaced by its length and hash;
/// borrowed when no string is that long (nearly every call: a read's arguments and request).
fn capped(value: &Value) -> Cow<'_, Value> {
    fn too_long(value: &Value) -> bool {
        match value {
            Value::String(s) => s.len() > MAX_VALUE_BYTES,
            Value::Array(items) => items.iter().any(too_long),
            Value::Object(m) => m.values().any(too_long),
            _ => false,
        }
    }
    fn copy(value: &Value) -> Value {
        match value {
            Value::String(s) if s.len() > MAX_VALUE_BYTES => digest_of(s.as_bytes()),
            Value::Array(items) => Value::Array(items.iter().map(copy).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), copy(v))).collect())
            }
            other => other.clone(),
        }
    }
    if too_long(value) {
        Cow::Owned(copy(value))
    } else {
        Cow::Borrowed(value)
    }
}

/// A message cut to [`MAX_VALUE_BYTES`] (on a character boundary).
fn capped_message(message: &str) -> Cow<'_, str> {
    if message.len() <= MAX_VALUE_BYTES {
        return Cow::Borrowed(message);
    }
    let mut end = MAX_VALUE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… ({} bytes in all)",
        &message[..end],
        message.len()
    ))
}

/// The log moves aside once it reaches this size (`audit.jsonl` → `audit.jsonl.<last seq>`),
/// and the chain goes on in a new file: start-up reads only the end of the current file.
pub const ROTATE_BYTES: u64 = 64 * 1024 * 1024;

/// How much of a log's end start-up reads first to find where the chain ends: room for a few
/// lines of the usual size. A window that holds no whole line of the chain (a long line, a
/// cut-off one) grows fourfold until it does. 256 KiB at once cost a start about 0.1 ms more
/// with a large log than with a fresh one (measured with `cargo xtask bench`).
const TAIL_WINDOW: u64 = 16 * 1024;

/// What a scan of an existing log found: where the chain ends, and a cut-off last line.
struct Scan {
    seq: u64,
    last_hash: String,
    /// Bytes after the last newline: a line a crash cut off (empty when it is a whole entry
    /// that only lacks its newline).
    fragment: Option<Vec<u8>>,
    len: u64,
    /// Whether the file holds any entry of the chain.
    found: bool,
    /// Whether it holds whole lines none of which is an entry: not an audit log.
    foreign: bool,
}

/// The `seq` and hash of a line of the chain (a JSON object carrying its `seq`).
fn chained(line: &[u8]) -> Option<(u64, String)> {
    let value = serde_json::from_slice::<Value>(line).ok()?;
    let seq = value.get("seq").and_then(Value::as_u64)?;
    Some((seq, sha256_hex(line)))
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the chain of `path` ends, from the last [`TAIL_WINDOW`] bytes (the whole file only
/// when that window holds no line of the chain): the cost of a start does not grow with the
/// log. Lines a crash cut off (closed off by a marker) are not part of the chain.
fn scan(path: &Path) -> Result<Scan, AuditError> {
    use std::io::{Seek, SeekFrom};
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Scan {
                seq: 0,
                last_hash: GENESIS.to_string(),
                fragment: None,
                len: 0,
                found: false,
                foreign: false,
            });
        }
        Err(source) => return Err(read_error(path)(source)),
    };
    let len = file.metadata().map_err(read_error(path))?.len();
    let mut window = TAIL_WINDOW;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))
            .map_err(read_error(path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(read_error(path))?;
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        // The window's first line is a whole line only when the window is the whole file.
        let first = if start == 0 {
            0
        } else {
            bytes[..complete]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(complete, |i| i + 1)
        };
        let mut end = bytes[first..complete]
            .split(|b| *b == b'\n')
            .rev()
            .find_map(chained);
        let mut fragment = (complete < bytes.len()).then(|| bytes[complete..].to_vec());
        // A whole line whose newline did not make it: it is part of the chain, only unended.
        if let Some(line) = &fragment
            && let Some(last) = chained(line)
        {
            end = Some(last);
            fragment = Some(Vec::new());
        }
        if end.is_some() || start == 0 {
            let found = end.is_some();
            let (seq, last_hash) = end.unwrap_or((0, GENESIS.to_string()));
            return Ok(Scan {
                seq,
                last_hash,
                fragment,
                len,
                found,
                foreign: !found && complete > 0,
            });
        }
        window = window.saturating_mul(4);
    }
}

/// The file a log moves to when it is rotated after the entry `last_seq`.
fn rotated_name(path: &Path, last_seq: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{last_seq:012}"));
    path.with_file_name(name)
}

/// Digits in the name of a rotated file at the least (`rotated_name` pads `seq` to 12):
/// shorter numbers are another tool's (logrotate's `.1`, a dated copy `.20261205`).
const ROTATED_DIGITS: usize = 12;

/// A file beside a log named like one of its rotated files (`FILE.<digits>`) that is no part
/// of its chain, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub path: PathBuf,
    pub why: String,
}

/// Why `path`, named `FILE.<number>` with [`ROTATED_DIGITS`] digits or more, is not a file
/// this server rotated, or None when it is one. The server names a rotated file after the last
/// entry it holds (`rotated_name`), so a file whose last entry is another (a backup copy named
/// by its date, `audit.jsonl.202612051200`) or that holds none is not one. Reads the file's end
/// only. A file that cannot be read is taken for one: `audit verify` then names the error.
fn not_rotated(path: &Path, number: u64) -> Option<String> {
    match scan(path) {
        Err(_) => None,
        Ok(found) if !found.found => Some("it holds no entry of an audit log".into()),
        Ok(found) if found.seq != number => Some(format!(
            "its last entry is number {}, and a file the server rotates is named after its last entry",
            found.seq
        )),
        Ok(_) => None,
    }
}

/// What to say about a file given as the audit log that holds none of its entries.
fn not_a_log(path: &Path) -> String {
    format!(
        "{} is not an audit log of pfsense-mcp: none of its lines is an entry of a hash chain. Nothing was written to it; give the audit log a new file (or an existing audit log)",
        path.display()
    )
}

/// What [`check_file`] found of an audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecked {
    /// Whether the file exists (a start creates it).
    pub exists: bool,
    /// The number of the chain's last entry (0: none yet).
    pub last_seq: u64,
    /// Its rotated files.
    pub rotated: usize,
    /// Files beside it named like rotated ones and left out of the chain, and why.
    pub left_out: Option<String>,
}

/// The checks a start makes of the audit log at `path`, made without writing (`doctor`): that
/// it can be written or created, and that it is an audit log (where its chain ends, in it or in
/// its newest rotated file); and the files beside it left out of the chain, each one checked
/// ([`other_numbered_files_note`]). Not its chain: `audit verify` checks that.
pub fn check_file(path: &Path) -> Result<FileChecked, String> {
    super::private::writable(path, "audit log")?;
    let found = locate(path).map_err(|e| e.to_string())?;
    if found.foreign {
        return Err(not_a_log(path));
    }
    Ok(FileChecked {
        exists: path.exists(),
        last_seq: found.seq,
        rotated: rotated_files(path)?.len(),
        left_out: other_numbered_files_note(path),
    })
}

/// The rotated files of a log, oldest first (named after the last `seq` they hold,
/// [`ROTATED_DIGITS`] digits at the least, and holding that entry last), and the files named
/// like them that are not (`not_rotated`). A copy taken for a rotated file would be merged
/// into the chain by `audit verify` (which then fails), or taken for the newest rotated file
/// by a start after a rotation, forking the chain from the copy's end. Files named
/// `FILE.<fewer digits>` are neither ([`other_numbered_files`]).
pub fn rotated_chain(path: &Path) -> Result<(Vec<PathBuf>, Vec<LeftOut>), String> {
    let mut rotated = Vec::new();
    let mut left_out = Vec::new();
    for (digits, number, file) in numbered_files(path)? {
        if digits < ROTATED_DIGITS {
            continue;
        }
        match not_rotated(&file, number) {
            None => rotated.push(file),
            Some(why) => left_out.push(LeftOut { path: file, why }),
        }
    }
    Ok((rotated, left_out))
}

/// The newest rotated file of a log ([`rotated_chain`]'s last), reading the ends of the
/// files named like rotated ones from the highest number down only until one is.
fn newest_rotated(path: &Path) -> Result<Option<PathBuf>, String> {
    Ok(numbered_files(path)?
        .into_iter()
        .rev()
        .filter(|(digits, _, _)| *digits >= ROTATED_DIGITS)
        .find(|(_, number, file)| not_rotated(file, *number).is_none())
        .map(|(_, _, file)| file))
}

/// The rotated files of a log, oldest first ([`rotated_chain`]).
pub fn rotated_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(rotated_chain(path)?.0)
}

/// Files beside a log named like its rotated files but with fewer digits: logrotate's
/// (`.1`, `.2`) or a copy (`.20261205`). They are no part of this log's chain.
pub fn other_numbered_files(path: &Path) -> Vec<PathBuf> {
    numbered_files(path)
        .unwrap_or_default()
        .into_iter()
        .filter(|(digits, _, _)| *digits < ROTATED_DIGITS)
        .map(|(_, _, p)| p)
        .collect()
}

/// Files named `FILE.<digits>` beside `path`, by number: (how many digits, number, path).
fn numbered_files(path: &Path) -> Result<Vec<(usize, u64, PathBuf)>, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!("{name}.");
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot list {}: {e}", dir.display())),
    };
    let mut found: Vec<(usize, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let digits = file.strip_prefix(&prefix)?;
            let seq = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse::<u64>().ok())??;
            Some((digits.len(), seq, path.with_file_name(file)))
        })
        .collect();
    found.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
    Ok(found)
}

/// The warning about files beside the log that are named like its rotated files and left out
/// of its chain: those with fewer digits ([`other_numbered_files`]) and those with enough
/// digits whose content says otherwise ([`rotated_chain`]; reads each one's end). None when
/// there are none.
pub fn other_numbered_files_note(path: &Path) -> Option<String> {
    let strays = rotated_chain(path).map(|(_, s)| s).unwrap_or_default();
    left_out_note(path, &other_numbered_files(path), &strays)
}

/// [`other_numbered_files_note`] as a start gives it, reading no file: of the names with
/// enough digits, those numbered beyond `chain_end` (the last entry of the chain, which a
/// rotated file's number never is) are left out; the others are checked by `audit verify`.
fn left_out_note_at_start(path: &Path, chain_end: u64) -> Option<String> {
    let numbered = numbered_files(path).unwrap_or_default();
    let others: Vec<PathBuf> = numbered
        .iter()
        .filter(|(digits, _, _)| *digits < ROTATED_DIGITS)
        .map(|(_, _, p)| p.clone())
        .collect();
    let strays: Vec<LeftOut> = numbered
        .into_iter()
        .filter(|(digits, number, _)| *digits >= ROTATED_DIGITS && *number > chain_end)
        .map(|(_, _, path)| LeftOut {
            path,
            why: format!("its number is beyond the chain's last entry, number {chain_end}"),
        })
        .collect();
    left_out_note(path, &others, &strays)
}

fn left_out_note(path: &Path, others: &[PathBuf], strays: &[LeftOut]) -> Option<String> {
    let mut parts = Vec::new();
    if !others.is_empty() {
        let names: Vec<String> = others.iter().map(|p| p.display().to_string()).collect();
        parts.push(format!(
            "{} {} named like rotated files of the audit log {} but not by pfsense-mcp (its rotated files end in {ROTATED_DIGITS} digits): another tool's rotations or copies, left out of this chain. Check each with `pfsense-mcp audit verify FILE`",
            names.join(", "),
            if names.len() == 1 { "is" } else { "are" },
            path.display()
        ));
    }
    for stray in strays {
        parts.push(format!(
            "{} is named like a rotated file of the audit log {} but is none of its chain ({}): a copy made by hand or by another tool? It is left out of the chain, neither checked with it nor continued at start; move it out of that directory (or rename it) to keep such copies apart, and check it alone with `pfsense-mcp audit verify FILE`",
            stray.path.display(),
            path.display(),
            stray.why
        ));
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn open_for_append(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn lock(tail: &Mutex<Tail>) -> MutexGuard<'_, Tail> {
    tail.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Whether the line of `ticket` is settled: written (and synced when it wants that), or
    /// dropped by a failed write.
    fn settled(&self, tail: &Tail, ticket: Ticket) -> Option<Result<(), AuditError>> {
        if ticket.epoch == tail.epoch {
            let through = match ticket.durability {
                Durability::Synced => tail.synced_seq,
                Durability::Written => tail.written_seq,
            };
            return (through >= ticket.seq).then_some(Ok(()));
        }
        // A line written before a failed batch was settled with its own batch (a batch with
        // a line that wants a sync is synced before it settles).
        let failure = tail.failures.iter().find(|f| f.0 == ticket.epoch);
        Some(match failure {
            Some((_, written, _, _)) if ticket.seq <= *written => Ok(()),
            Some((_, _, kind, message)) => Err(AuditError::Write {
                path: self.path.clone(),
                source: std::io::Error::new(*kind, message.clone()),
            }),
            None => Err(AuditError::Write {
                path: self.path.clone(),
                source: std::io::Error::other("an earlier write failed"),
            }),
        })
    }

    /// Wait for the writer thread's next job.
    fn next_job(&self) -> Job {
        let mut tail = lock(&self.tail);
        loop {
            if !tail.waiting.is_empty() {
                tail.writer_busy = true;
                return Job::Batch {
                    bytes: std::mem::take(&mut tail.waiting),
                    sync: std::mem::take(&mut tail.waiting_wants_sync),
                    seq: tail.seq,
                    hash: tail.last_hash.clone(),
                    file: tail.file.clone(),
                    len: tail.len,
                };
            }
            if tail.closing {
                let unsynced = tail
                    .unsynced_since
                    .map(|_| (tail.file.clone(), tail.written_seq));
                return Job::Close { unsynced };
            }
            tail.writer_idle = true;
            tail = match tail.unsynced_since {
                None => self.work.wait(tail).unwrap_or_else(|e| e.into_inner()),
                Some(since) => match SYNC_READS_WITHIN.checked_sub(since.elapsed()) {
                    Some(left) if !left.is_zero() => {
                        self.work
                            .wait_timeout(tail, left)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    _ => {
                        tail.writer_idle = false;
                        return Job::Sync {
                            file: tail.file.clone(),
                            seq: tail.written_seq,
                        };
                    }
                },
            };
            tail.writer_idle = false;
        }
    }

    /// Cut the file back to `len` after a failed write (a full disk takes part of it), so a
    /// half-written line never stays in front of the next one.
    fn cut_back(&self, file: &File, len: u64) {
        if let Err(e) = file.set_len(len) {
            tracing::error!(path = %self.path.display(), error = %e, "a half-written audit line could not be removed");
        }
    }

    /// Lines up to `seq` are synced (or could not be: nothing waits for them any more, so
    /// the failure is only logged).
    fn sync_written(&self, file: &File, seq: u64) {
        let synced = file.sync_data();
        let mut tail = lock(&self.tail);
        match synced {
            Ok(()) => {
                tail.synced_seq = tail.synced_seq.max(seq);
                // Lines written while it synced wait for the next one.
                tail.unsynced_since = (tail.written_seq != seq).then(Instant::now);
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "audit lines of reads could not be synced to disk");
                tail.unsynced_since = None;
            }
        }
    }

    /// The writer thread: write (and sync) what is waiting, one batch at a time, and sync
    /// reads' lines in time, until the log closes and nothing is left.
    fn write_batches(&self) {
        loop {
            let (bytes, sync, seq, hash, file, len) = match self.next_job() {
                Job::Batch {
                    bytes,
                    sync,
                    seq,
                    hash,
                    file,
                    len,
                } => (bytes, sync, seq, hash, file, len),
                Job::Sync { file, seq } => {
                    self.sync_written(&file, seq);
                    continue;
                }
                Job::Close { unsynced } => {
                    if let Some((file, seq)) = unsynced {
                        self.sync_written(&file, seq);
                    }
                    return;
                }
            };
            let written = (&*file)
                .write_all(&bytes)
                .and_then(|_| if sync { file.sync_data() } else { Ok(()) });
            {
                let mut tail = lock(&self.tail);
                tail.writer_busy = false;
                match written {
                    Ok(()) => {
                        tail.len = len + bytes.len() as u64;
                        tail.written_seq = seq;
                        tail.written_hash = hash;
                        if sync {
                            tail.synced_seq = seq;
                            tail.unsynced_since = None;
                        } else if tail.unsynced_since.is_none() {
                            tail.unsynced_since = Some(Instant::now());
                        }
                    }
                    Err(e) => {
                        // Cut back what part of the batch reached the file (a full disk
                        // takes some), and go on from the last line written: the lines of
                        // this batch and those chained after them fail.
                        self.cut_back(&file, len);
                        let dropped = tail.epoch;
                        let written = tail.written_seq;
                        tail.failures
                            .push_back((dropped, written, e.kind(), e.to_string()));
                        if tail.failures.len() > REMEMBERED_FAILURES {
                            tail.failures.pop_front();
                        }
                        tail.epoch += 1;
                        tail.seq = tail.written_seq;
                        tail.last_hash = tail.written_hash.clone();
                        tail.waiting.clear();
                        tail.waiting_wants_sync = false;
                    }
                }
                // Lines chained while this batch was written keep the lock for the next one.
                if tail.waiting.is_empty() {
                    self.release(&mut tail);
                }
            }
            self.done.notify_all();
            self.batches.send_modify(|n| *n += 1);
        }
    }

    /// Take the file's lock before chaining, and go on from where the chain really ends:
    /// another process may have written lines since this one last held the lock, rotated
    /// the file, or someone removed it. Rotates the file when it is due. Called with nothing
    /// of this process waiting or being written (the lock is not held then).
    fn claim(&self, tail: &mut Tail) -> Result<(), AuditError> {
        if tail.locked {
            return Ok(());
        }
        loop {
            if !tail.locked {
                self.lock_file(&tail.file);
                tail.locked = true;
            }
            match std::fs::metadata(&self.path) {
                Ok(meta) if file_id(&meta) == tail.identity => {
                    if meta.len() != tail.len
                        && let Err(e) = self.resync(tail)
                    {
                        self.release(tail);
                        return Err(e);
                    }
                    if tail.len >= self.rotate_at && self.move_aside(tail) {
                        // The next turn finds no file (or another process's new one) at the path.
                        continue;
                    }
                    return Ok(());
                }
                Ok(_) => self.reopen(tail)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.reopen(tail)?,
                Err(source) => {
                    self.release(tail);
                    return Err(read_error(&self.path)(source));
                }
            }
        }
    }

    /// Go on in the file now at the path (created when there is none): the old one was
    /// rotated or removed. This process's lines in the old one are synced first.
    fn reopen(&self, tail: &mut Tail) -> Result<(), AuditError> {
        self.sync_unsynced(tail);
        self.release(tail);
        let file = open_for_append(&self.path).map_err(|source| AuditError::Open {
            path: self.path.clone(),
            source,
        })?;
        tail.identity = file
            .metadata()
            .map(|m| file_id(&m))
            .map_err(read_error(&self.path))?;
        tail.file = Arc::new(file);
        // Unknown: the next turn reads where the chain ends.
        tail.len = u64::MAX;
        Ok(())
    }

    /// Read where the chain ends from the file (its last lines; the newest rotated file's
    /// when it has none), after another process wrote to it or at start. A line cut off by a
    /// crash is ended, and closed off by a `cut_off` entry, so the chain goes on from the line
    /// before it and `audit verify` accepts it.
    fn resync(&self, tail: &mut Tail) -> Result<(), AuditError> {
        let found = locate(&self.path)?;
        if found.foreign {
            return Err(AuditError::Prepare(not_a_log(&self.path)));
        }
        let (mut seq, mut hash, mut len) = (found.seq, found.last_hash, found.len);
        if let Some(fragment) = found.fragment {
            let mut text = b"\n".to_vec();
            if !fragment.is_empty() {
                tracing::warn!(path = %self.path.display(), bytes = fragment.len(), "the audit log's last line was cut off (a crash while writing it); closed off with a cut_off entry");
                let mut marker = Entry::new("", "", "pfsense-mcp", Outcome::CutOff);
                marker.message = Some(format!(
                    "the line before this one was cut off by a crash while it was written ({} bytes); it is not part of the chain",
                    fragment.len()
                ));
                marker.request = json!({"cut": digest_of(&fragment)});
                seq += 1;
                let line = line_text(&line_body(&marker)?, seq, &hash);
                hash = sha256_hex(line.as_bytes());
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            (&*tail.file)
                .write_all(&text)
                .and_then(|_| tail.file.sync_data())
                .map_err(|source| AuditError::Write {
                    path: self.path.clone(),
                    source,
                })?;
            len += text.len() as u64;
        }
        if seq < tail.written_seq {
            // The chain went back (the file was replaced): `seq`s handed out before may come
            // again, so appends still waiting on them settle through the failures list.
            let (epoch, written) = (tail.epoch, tail.written_seq);
            tail.failures.push_back((
                epoch,
                written,
                std::io::ErrorKind::Other,
                "the audit log was replaced".into(),
            ));
            if tail.failures.len() > REMEMBERED_FAILURES {
                tail.failures.pop_front();
            }
            tail.epoch += 1;
            tail.synced_seq = seq;
        }
        tail.seq = seq;
        tail.written_seq = seq;
        tail.last_hash = hash.clone();
        tail.written_hash = hash;
        tail.len = len;
        Ok(())
    }

    /// Move the full file aside (`FILE.<last seq>`); the chain goes on in a new file, whose
    /// first line carries the old file's last hash and the next `seq`. Reads' lines not yet
    /// synced are synced first: the file moved aside is complete on disk. A failure leaves
    /// the log growing in the same file (the lines are already written).
    fn move_aside(&self, tail: &mut Tail) -> bool {
        if !self.sync_unsynced(tail) {
            tracing::warn!(path = %self.path.display(), "the audit log could not be synced before rotating it; it keeps growing");
            return false;
        }
        let aside = rotated_name(&self.path, tail.written_seq);
        if let Err(e) = std::fs::rename(&self.path, &aside) {
            tracing::warn!(path = %self.path.display(), error = %e, "the audit log could not be rotated; it keeps growing");
            return false;
        }
        if let Some(dir) = self.path.parent()
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        true
    }

    /// Sync this process's lines written but not yet synced; false when that failed.
    fn sync_unsynced(&self, tail: &mut Tail) -> bool {
        if tail.unsynced_since.is_none() {
            return true;
        }
        match tail.file.sync_data() {
            Ok(()) => {
                tail.synced_seq = tail.written_seq;
                tail.unsynced_since = None;
                true
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "audit lines of reads could not be synced to disk");
                false
            }
        }
    }

    /// Wait for the file's lock. A file system without locks (some network file systems)
    /// is said once; the log then goes on without it.
    fn lock_file(&self, file: &File) {
        use std::sync::atomic::Ordering;
        if let Err(e) = file.lock()
            && !self.lock_refused.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(path = %self.path.display(), error = %e, "the audit log cannot be locked: several pfsense-mcp processes writing it at once could break its chain");
        }
    }

    fn release(&self, tail: &mut Tail) {
        if std::mem::take(&mut tail.locked) {
            let _ = tail.file.unlock();
        }
    }
}

/// Which file an open file or a path is (device and inode).
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Elsewhere an open file cannot be renamed or removed: the path is always the same file.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> FileId {
    (0, 0)
}

/// Where the chain of `path` ends: in the file, or (when it holds no line of the chain, as
/// right after a rotation) in the newest rotated file.
fn locate(path: &Path) -> Result<Scan, AuditError> {
    let mut found = scan(path)?;
    if !found.found
        && let Some(newest) = newest_rotated(path).map_err(AuditError::Prepare)?
    {
        let before = scan(&newest)?;
        found.seq = before.seq;
        found.last_hash = before.last_hash;
    }
    Ok(found)
}

impl AuditLog {
    /// Open (or create) the log and find where the chain ends. A last line cut off by a crash
    /// is ended and followed by a `cut_off` entry naming its length and hash, so the chain
    /// goes on from the line before it and `audit verify` accepts it.
    pub fn open(path: &Path) -> Result<AuditLog, AuditError> {
        AuditLog::open_rotating(path, ROTATE_BYTES)
    }

    /// [`AuditLog::open`], rotating once the file reaches `rotate_at` bytes.
    pub fn open_rotating(path: &Path, rotate_at: u64) -> Result<AuditLog, AuditError> {
        super::private::prepare(path, "audit log").map_err(AuditError::Prepare)?;
        let file = open_for_append(path).map_err(|source| AuditError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let identity = file
            .metadata()
            .map(|m| file_id(&m))
            .map_err(read_error(path))?;
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            rotate_at,
            lock_refused: Default::default(),
            tail: Mutex::new(Tail {
                seq: 0,
                last_hash: GENESIS.to_string(),
                waiting: Vec::new(),
                waiting_wants_sync: false,
                file: Arc::new(file),
                // Unknown until the chain's end is read, under the lock, below.
                len: u64::MAX,
                identity,
                locked: false,
                written_seq: 0,
                written_hash: GENESIS.to_string(),
                synced_seq: 0,
                unsynced_since: None,
                writer_busy: false,
                writer_idle: false,
                epoch: 0,
                failures: Default::default(),
                closing: false,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            batches: tokio::sync::watch::Sender::new(0),
        });
        {
            // Where the chain ends (and a line a crash cut off, closed off), read now so
            // that a damaged log is found at start.
            let mut tail = lock(&shared.tail);
            shared.claim(&mut tail)?;
            tail.synced_seq = tail.written_seq;
            shared.release(&mut tail);
        }
        super::private::narrow_file(path, "audit log");
        let chain_end = lock(&shared.tail).seq;
        if let Some(note) = left_out_note_at_start(path, chain_end) {
            for line in note.lines() {
                tracing::warn!("{line}");
            }
        }
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("audit-log".into())
                .spawn(move || shared.write_batches())
                .map_err(|source| AuditError::Open {
                    path: path.to_path_buf(),
                    source,
                })?
        };
        Ok(AuditLog {
            shared,
            writer: Some(writer),
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Chain one entry. A read's line that finds nothing waiting and the writer thread free
    /// is written here at once (settled: `None`); other lines go to the writer thread.
    fn chain(&self, entry: &Entry, durability: Durability) -> Result<Option<Ticket>, AuditError> {
        let body = line_body(entry)?;
        let mut tail = lock(&self.shared.tail);
        self.shared.claim(&mut tail)?;
        let seq = tail.seq + 1;
        let mut text = line_text(&body, seq, &tail.last_hash);
        let hash = sha256_hex(text.as_bytes());
        text.push('\n');
        if durability == Durability::Written && tail.waiting.is_empty() && !tail.writer_busy {
            let written = (&*tail.file).write_all(text.as_bytes());
            if let Err(source) = written {
                // Nothing else is in flight: cut back what reached the file; the chain
                // stays where it was.
                self.shared.cut_back(&tail.file, tail.len);
                self.shared.release(&mut tail);
                return Err(AuditError::Write {
                    path: self.shared.path.clone(),
                    source,
                });
            }
            self.shared.release(&mut tail);
            tail.len += text.len() as u64;
            tail.seq = seq;
            tail.written_seq = seq;
            tail.written_hash = hash.clone();
            tail.last_hash = hash;
            if tail.unsynced_since.is_none() {
                // The writer thread syncs it in time: tell it when the clock starts.
                tail.unsynced_since = Some(Instant::now());
                if std::mem::take(&mut tail.writer_idle) {
                    self.shared.work.notify_one();
                }
            }
            return Ok(None);
        }
        tail.waiting.extend_from_slice(text.as_bytes());
        tail.waiting_wants_sync |= durability == Durability::Synced;
        tail.seq = seq;
        tail.last_hash = hash;
        let ticket = Ticket {
            epoch: tail.epoch,
            seq,
            durability,
        };
        // A busy writer takes the line with its next batch: no wake-up needed.
        if std::mem::take(&mut tail.writer_idle) {
            self.shared.work.notify_one();
        }
        Ok(Some(ticket))
    }

    /// Append one entry that stands for a change (or for the safety layer's decision about
    /// one); returns once it is written and synced to disk. On failure nothing of the line
    /// stays in the file and the chain goes on from the last line written.
    pub fn append(&self, entry: &Entry) -> Result<(), AuditError> {
        let Some(ticket) = self.chain(entry, Durability::Synced)? else {
            return Ok(());
        };
        let mut tail = lock(&self.shared.tail);
        loop {
            if let Some(result) = self.shared.settled(&tail, ticket) {
                return result;
            }
            tail = self
                .shared
                .done
                .wait(tail)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Append a read's entry from a task: returns once the line is written to the file (it
    /// is synced within [`SYNC_READS_WITHIN`]), waiting without holding its thread.
    pub async fn append_read(&self, entry: &Entry) -> Result<(), AuditError> {
        let Some(ticket) = self.chain(entry, Durability::Written)? else {
            return Ok(());
        };
        // Subscribed only for a line the writer thread takes: a read written at once needs
        // no wake-up, and a subscription updates a counter every worker thread shares (in a
        // `perf` profile under load). A batch finished before the subscription is seen by
        // `settled`, one finished after it by `changed`.
        let mut batches = self.shared.batches.subscribe();
        loop {
            if let Some(result) = self.shared.settled(&lock(&self.shared.tail), ticket) {
                return result;
            }
            if batches.changed().await.is_err() {
                return Err(AuditError::Write {
                    path: self.shared.path.clone(),
                    source: std::io::Error::other("the audit log's writer stopped"),
                });
            }
        }
    }

    /// The last line synced to disk (tests).
    #[cfg(test)]
    fn synced_seq(&self) -> u64 {
        lock(&self.shared.tail).synced_seq
    }
}

impl Drop for AuditLog {
    /// The writer thread writes what is waiting, then ends.
    fn drop(&mut self) {
        lock(&self.shared.tail).closing = true;
        self.shared.work.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Bytes a line holds around its body: `{"seq":N,` and `,"prev":"<64 hex>"}` (with room).
const LINE_FRAME_BYTES: usize = 128;

/// The members of one line between `seq` and `prev`, in the order they are written.
#[derive(Serialize)]
struct LineBody<'a> {
    time: Cow<'a, str>,
    firewall: Cow<'a, str>,
    tool: Cow<'a, str>,
    caller: Cow<'a, str>,
    outcome: Cow<'a, str>,
    arguments: Cow<'a, Value>,
    request: Cow<'a, Value>,
    response_id: Option<Cow<'a, str>>,
    change_id: Option<i64>,
    message: Option<Cow<'a, str>>,
}

/// The fields of one line between `seq` and `prev` ("time" … "message") as JSON object
/// members, without the braces; with `seq` and `prev` ([`line_text`]) within
/// [`MAX_LINE_BYTES`]. Built before the line is chained, outside the log's lock. The entry is
/// serialised where it lies: a line is written per call, reads included.
fn line_body(entry: &Entry) -> Result<String, AuditError> {
    // Secret values a call sent never reach the log, whichever field carries them.
    use crate::secret::scrub as text;
    fn value(v: &Value) -> Cow<'_, Value> {
        let mut v = capped(v);
        if crate::secret::any_remembered() {
            crate::secret::scrub_value(v.to_mut());
        }
        v
    }
    let time = super::time::rfc3339(super::time::now_millis());
    let mut line = LineBody {
        time: Cow::Owned(text(&time).into_owned()),
        firewall: text(&entry.firewall),
        tool: text(&entry.tool),
        caller: text(&entry.caller),
        outcome: text(entry.outcome.as_str()),
        arguments: value(&entry.arguments),
        request: value(&entry.request),
        response_id: entry.response_id.as_deref().map(text),
        change_id: entry.change_id,
        message: entry.message.as_deref().map(|m| match capped_message(m) {
            Cow::Borrowed(m) => text(m),
            Cow::Owned(m) => Cow::Owned(text(&m).into_owned()),
        }),
    };
    let mut body = line.members();
    if body.len() + LINE_FRAME_BYTES > MAX_LINE_BYTES {
        line.arguments = Cow::Owned(digest_of(&serde_json::to_vec(&line.arguments)?));
        line.request = Cow::Owned(digest_of(&serde_json::to_vec(&line.request)?));
        body = line.members();
    }
    Ok(body)
}

impl LineBody<'_> {
    /// The members as serde_json writes the struct (`{…}` without the braces), each value by
    /// `pfsense-json`, compiled at opt-level 3: serde's derived code ran at this crate's "s",
    /// 11k instructions of every read's line under callgrind. A unit test holds the two equal.
    fn members(&self) -> String {
        let mut out = Vec::with_capacity(512);
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        let text = |out: &mut Vec<u8>, value: Option<&str>| match value {
            Some(t) => pfsense_json::write_str(out, t),
            None => out.extend_from_slice(b"null"),
        };
        for (name, value) in [
            ("time", &self.time),
            ("firewall", &self.firewall),
            ("tool", &self.tool),
            ("caller", &self.caller),
            ("outcome", &self.outcome),
        ] {
            key(&mut out, name);
            text(&mut out, Some(value));
        }
        key(&mut out, "arguments");
        pfsense_json::write(&mut out, &self.arguments);
        key(&mut out, "request");
        pfsense_json::write(&mut out, &self.request);
        key(&mut out, "response_id");
        text(&mut out, self.response_id.as_deref());
        key(&mut out, "change_id");
        match self.change_id {
            Some(n) => out.extend_from_slice(n.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        key(&mut out, "message");
        text(&mut out, self.message.as_deref());
        // Only JSON text was written: UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The JSON text of one line (no newline): `seq`, the body, `prev`.
fn line_text(body: &str, seq: u64, prev: &str) -> String {
    format!("{{\"seq\":{seq},{body},\"prev\":\"{prev}\"}}")
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: u64,
    /// SHA-256 of the last line: keep it elsewhere to detect a cut-off tail later.
    pub last_hash: String,
    /// Lines a crash cut off, each closed off by a `cut_off` entry.
    pub cut_off: u64,
    /// Files checked: the log and its rotated files.
    pub files: usize,
    /// The log ends in a line a crash cut off that no server has closed off yet (the next
    /// start does, with a `cut_off` entry).
    pub open_cut: bool,
}

/// Whether `marker` is the `cut_off` entry that closes off `fragment` after `prev`.
fn closes_off(marker: Option<&&[u8]>, fragment: &[u8], prev: &str) -> bool {
    let Some(value) = marker.and_then(|m| serde_json::from_slice::<Value>(m).ok()) else {
        return false;
    };
    value["outcome"] == Outcome::CutOff.as_str()
        && value["prev"] == prev
        && value["request"]["cut"]["sha256"] == sha256_hex(fragment)
}

/// What `path` is when it is plainly not an audit log (a directory, a device, a SQLite
/// database, a binary file, text without a single JSON line), or None: `audit verify` calls
/// that a wrong path rather than a log someone edited. A log whose lines are JSON but do not
/// chain is an edited log, not this.
pub fn not_an_audit_log(path: &Path) -> Option<String> {
    if let Some(kind) = super::private::not_a_regular_file(path) {
        return Some(kind.to_string());
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.starts_with(b"SQLite format 3\0") {
        return Some("a SQLite database (the change journal?)".into());
    }
    if bytes.contains(&0) || std::str::from_utf8(&bytes).is_err() {
        return Some("a binary file".into());
    }
    // Whole lines only: a first line a crash cut off is a log's, not a stranger's.
    let whole = &bytes[..bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)];
    let json_lines = whole
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .any(|l| serde_json::from_slice::<serde::de::IgnoredAny>(l).is_ok());
    let has_lines = whole.iter().any(|b| !b.is_ascii_whitespace());
    (has_lines && !json_lines).then(|| "a text file none of whose lines is JSON".into())
}

/// Check the chain of a log: its rotated files oldest first (`FILE.<last seq>`), then the file
/// itself. The error names the first line that breaks it and why.
pub fn verify(path: &Path) -> Result<Verified, String> {
    let mut files = rotated_files(path)?;
    if files.is_empty() || path.exists() {
        files.push(path.to_path_buf());
    }
    let mut chain = Chain {
        prev: GENESIS.to_string(),
        entries: 0,
        cut_off: 0,
        open_cut: false,
    };
    let named = files.len() > 1;
    let count = files.len();
    for (n, file) in files.iter().enumerate() {
        let bytes =
            std::fs::read(file).map_err(|e| format!("cannot open {}: {e}", file.display()))?;
        chain
            .check(&bytes, n + 1 == count)
            .map_err(|e| match named {
                true => format!("{}: {e}", file.display()),
                false => e,
            })?;
    }
    Ok(Verified {
        entries: chain.entries,
        last_hash: chain.prev,
        cut_off: chain.cut_off,
        files: files.len(),
        open_cut: chain.open_cut,
    })
}

/// The chain so far, carried from one file of a rotated log to the next.
struct Chain {
    prev: String,
    entries: u64,
    cut_off: u64,
    open_cut: bool,
}

impl Chain {
    /// Check one file's lines as the chain's continuation; `last`: the current file, whose
    /// end a crash may have cut off.
    fn check(&mut self, bytes: &[u8], last: bool) -> Result<(), String> {
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let lines: Vec<&[u8]> = if body.is_empty() {
            Vec::new()
        } else {
            body.split(|b| *b == b'\n').collect()
        };
        for (index, line) in lines.iter().enumerate() {
            let number = index + 1;
            if line.is_empty() {
                return Err(format!(
                    "line {number} is empty: a line was removed or the file was edited"
                ));
            }
            let value: Value = match serde_json::from_slice(line) {
                Ok(v) => v,
                Err(_) if closes_off(lines.get(index + 1), line, &self.prev) => {
                    self.cut_off += 1;
                    continue;
                }
                // The log's last line, with no newline: a write a crash interrupted, which
                // the next start closes off. Not an edit.
                Err(_) if last && index + 1 == lines.len() && !bytes.ends_with(b"\n") => {
                    self.cut_off += 1;
                    self.open_cut = true;
                    continue;
                }
                Err(e) => {
                    return Err(format!("line {number} is not JSON ({e}): it was edited"));
                }
            };
            let claimed = value.get("prev").and_then(Value::as_str).unwrap_or("");
            if claimed != self.prev {
                return Err(if self.entries == 0 {
                    format!(
                        "line {number} does not start the chain (its prev is not {GENESIS}): earlier lines were removed"
                    )
                } else if number == 1 {
                    "line 1 does not follow the end of the previous file: that file was edited, or lines or a whole file were removed".to_string()
                } else {
                    format!(
                        "line {number} does not follow line {}: its prev hash does not match, so line {} was edited, or a line was removed or moved here",
                        number - 1,
                        number - 1
                    )
                });
            }
            let seq = value.get("seq").and_then(Value::as_u64).unwrap_or(0);
            if seq != self.entries + 1 {
                return Err(format!(
                    "line {number} carries seq {seq}: lines were removed or reordered"
                ));
            }
            self.prev = sha256_hex(line);
            self.entries += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    /// The members written by hand are serde_json's text of the struct, without the braces.
    #[test]
    fn a_line_body_is_written_as_serde_json_writes_the_struct() {
        let arguments = json!({"id": 3, "descr": "quote \" back\\slash \u{1}\u{7f} é ü"});
        let request = json!({"method": "GET", "path": "/api/v2/firewall/rule", "query": {"id": 3}});
        for (response_id, change_id, message) in [
            (None, None, None),
            (Some("r-1"), Some(42), Some("refused:\n\t\"why\" ✓")),
            (Some(""), Some(-7), None),
            (None, Some(i64::MAX), Some("")),
        ] {
            let line = LineBody {
                time: "2026-12-05T23:50:00.123Z".into(),
                firewall: "edge \"1\"".into(),
                tool: "pfsense_get_firewall_rule".into(),
                caller: "alice\u{0}".into(),
                outcome: "executed".into(),
                arguments: Cow::Borrowed(&arguments),
                request: Cow::Borrowed(&request),
                response_id: response_id.map(Cow::Borrowed),
                change_id,
                message: message.map(Cow::Borrowed),
            };
            let serde = serde_json::to_string(&line).unwrap();
            assert_eq!(format!("{{{}}}", line.members()), serde);
        }
    }

    /// A line's members after `time` (which changes), for the tests of [`line_body`].
    fn body_after_time(entry: &Entry) -> String {
        let body = line_body(entry).unwrap();
        let rest = body.strip_prefix("\"time\":\"").unwrap();
        let (time, rest) = rest.split_once("\",").unwrap();
        assert_eq!(time.len(), "2026-12-04T17:00:00.000Z".len(), "{time}");
        rest.to_string()
    }

    #[test]
    fn a_line_body_holds_the_entry_in_order_with_long_values_capped_and_secrets_scrubbed() {
        crate::secret::remember("Line-Body-Secret-5e1d");
        let mut entry = Entry::new(
            "fw-ü",
            "pfsense_update_user",
            "http:Line-Body-Secret-5e1d",
            Outcome::Executed,
        );
        entry.arguments = json!({
            "descr": "quote \" and Line-Body-Secret-5e1d",
            "long": "x".repeat(MAX_VALUE_BYTES + 1),
            "nested": [{"short": "y".repeat(MAX_VALUE_BYTES), "n": 1.5}],
            "Line-Body-Secret-5e1d": true,
        });
        entry.request = json!({"method": "PATCH", "path": "/api/v2/user"});
        entry.response_id = Some("SUCCESS".into());
        entry.change_id = Some(7);
        entry.message = Some(format!("{}é", "m".repeat(MAX_VALUE_BYTES - 1)));
        let expected = format!(
            "\"firewall\":\"fw-ü\",\"tool\":\"pfsense_update_user\",\"caller\":\"http:<redacted>\",\"outcome\":\"executed\",\"arguments\":{{\"descr\":\"quote \\\" and <redacted>\",\"long\":{{\"omitted_bytes\":2049,\"sha256\":\"{}\"}},\"nested\":[{{\"short\":\"{}\",\"n\":1.5}}],\"<redacted>\":true}},\"request\":{{\"method\":\"PATCH\",\"path\":\"/api/v2/user\"}},\"response_id\":\"SUCCESS\",\"change_id\":7,\"message\":\"{}… (2049 bytes in all)\"",
            sha256_hex("x".repeat(MAX_VALUE_BYTES + 1).as_bytes()),
            "y".repeat(MAX_VALUE_BYTES),
            "m".repeat(MAX_VALUE_BYTES - 1),
        );
        assert_eq!(body_after_time(&entry), expected);
        // Nothing set: nulls, in the same order.
        let bare = Entry::new("fw", "t", "stdio", Outcome::Refused);
        assert_eq!(
            body_after_time(&bare),
            "\"firewall\":\"fw\",\"tool\":\"t\",\"caller\":\"stdio\",\"outcome\":\"refused\",\"arguments\":null,\"request\":null,\"response_id\":null,\"change_id\":null,\"message\":null"
        );
    }

    #[test]
    fn a_line_over_the_limit_records_its_arguments_and_request_by_hash() {
        let mut entry = Entry::new("fw", "t", "stdio", Outcome::Executed);
        let args: Map<String, Value> = (0..40)
            .map(|i| (format!("f{i}"), json!("z".repeat(MAX_VALUE_BYTES))))
            .collect();
        entry.arguments = Value::Object(args);
        entry.request = json!({"method": "POST"});
        let whole_args = serde_json::to_vec(&entry.arguments).unwrap();
        assert_eq!(
            body_after_time(&entry),
            format!(
                "\"firewall\":\"fw\",\"tool\":\"t\",\"caller\":\"stdio\",\"outcome\":\"executed\",\"arguments\":{{\"omitted_bytes\":{},\"sha256\":\"{}\"}},\"request\":{{\"omitted_bytes\":17,\"sha256\":\"{}\"}},\"response_id\":null,\"change_id\":null,\"message\":null",
                whole_args.len(),
                sha256_hex(&whole_args),
                sha256_hex(br#"{"method":"POST"}"#),
            )
        );
    }

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
            ))
            .unwrap();
        }
        (dir, path)
    }

    #[test]
    fn concurrent_appends_share_syncs_and_every_line_is_written_or_synced_when_they_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = Arc::new(AuditLog::open(&path).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        // Tasks (reads) and threads (attempts) at once.
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let log = log.clone();
                runtime.spawn(async move {
                    let entry = Entry::new("fw", &format!("read{i}"), "http", Outcome::Executed);
                    log.append_read(&entry).await.unwrap();
                    // Returned: the line is in the file.
                    let text = std::fs::read_to_string(log.path()).unwrap();
                    assert!(text.contains(&format!("\"read{i}\"")));
                })
            })
            .collect();
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for j in 0..10 {
                        let tool = format!("attempt{i}-{j}");
                        log.append(&Entry::new("fw", &tool, "stdio", Outcome::Attempt))
                            .unwrap();
                        // Returned: the line is in the file, and synced.
                        let text = std::fs::read_to_string(log.path()).unwrap();
                        let line = text
                            .lines()
                            .find(|l| l.contains(&format!("\"{tool}\"")))
                            .unwrap();
                        let seq = chained(line.as_bytes()).unwrap().0;
                        assert!(log.synced_seq() >= seq, "{tool} (line {seq}) not synced");
                    }
                })
            })
            .collect();
        runtime.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        drop(log);
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 80);
    }

    #[test]
    fn reads_lines_are_synced_in_time_or_with_the_next_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let read = |i: usize| Entry::new("fw", &format!("read{i}"), "http", Outcome::Executed);
        for i in 0..3 {
            runtime.block_on(log.append_read(&read(i))).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        // A change's line syncs the reads' lines before it with its own.
        log.append(&Entry::new("fw", "change", "stdio", Outcome::Attempt))
            .unwrap();
        assert_eq!(log.synced_seq(), 4);
        // With no change after it, the writer syncs a read's line on its own.
        runtime.block_on(log.append_read(&read(3))).unwrap();
        let deadline = Instant::now() + SYNC_READS_WITHIN * 10;
        while log.synced_seq() < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(log.synced_seq(), 5);
        drop(log);
        assert_eq!(verify(&path).unwrap().entries, 5);
    }

    #[test]
    fn an_intact_chain_verifies_and_reopening_continues_it() {
        let (_dir, path) = log_with(3);
        AuditLog::open(&path)
            .unwrap()
            .append(&Entry::new("fw", "later", "stdio", Outcome::Executed))
            .unwrap();
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

    #[test]
    fn a_line_cut_by_a_crash_is_closed_off_at_the_next_start() {
        let (_dir, path) = log_with(3);
        let whole = std::fs::read_to_string(&path).unwrap();
        // A crash in the middle of writing a fourth line.
        let cut = format!("{whole}{{\"seq\":4,\"time\":\"2026-");
        std::fs::write(&path, &cut).unwrap();
        // Before a start closes it off, it is reported as cut, not as an edit.
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.cut_off, v.open_cut), (3, 1, true));
        let log = AuditLog::open(&path).unwrap();
        log.append(&Entry::new("fw", "after", "stdio", Outcome::Executed))
            .unwrap();
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.cut_off), (5, 1), "3 + marker + new line");
        assert!(!v.open_cut);
        let text = std::fs::read_to_string(&path).unwrap();
        let marker: Value = serde_json::from_str(text.lines().nth(4).unwrap()).unwrap();
        assert_eq!(marker["outcome"], "cut_off");
        assert_eq!(marker["seq"], 4);
        // Editing the cut line is still found: the marker names its hash.
        std::fs::write(
            &path,
            text.replacen("\"time\":\"2026-", "\"time\":\"2027-", 1),
        )
        .unwrap();
        assert!(verify(&path).is_err());
    }

    #[test]
    fn a_whole_line_without_its_newline_stays_in_the_chain() {
        let (_dir, path) = log_with(2);
        let whole = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, whole.trim_end()).unwrap();
        AuditLog::open(&path)
            .unwrap()
            .append(&Entry::new("fw", "after", "stdio", Outcome::Executed))
            .unwrap();
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.cut_off), (3, 0));
    }

    #[test]
    fn large_values_are_recorded_by_length_and_hash() {
        let (_dir, path) = log_with(0);
        let log = AuditLog::open(&path).unwrap();
        let big = "x".repeat(10 * 1024 * 1024);
        let mut entry = Entry::new("fw", "create", "stdio", Outcome::Attempt);
        entry.arguments = json!({"descr": big, "name": "web"});
        entry.request = json!({"body": {"descr": big}});
        entry.message = Some(big.clone());
        log.append(&entry).unwrap();
        let many: Vec<String> = (0..20_000)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        entry.arguments = json!({"address": many});
        entry.request = json!(null);
        entry.message = None;
        log.append(&entry).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(
            text.lines().all(|l| l.len() <= MAX_LINE_BYTES),
            "lines are capped"
        );
        let hash = sha256_hex(big.as_bytes());
        assert_eq!(
            lines[0]["arguments"]["descr"],
            json!({"omitted_bytes": big.len(), "sha256": hash})
        );
        assert_eq!(lines[0]["arguments"]["name"], "web");
        assert_eq!(lines[0]["request"]["body"]["descr"]["sha256"], hash);
        assert!(lines[1]["arguments"]["omitted_bytes"].as_u64().unwrap() > MAX_LINE_BYTES as u64);
        assert_eq!(verify(&path).unwrap().entries, 2);
    }

    /// `n` lines, changes' and reads' in turn (a read's line is written by its task unless
    /// the file is due to rotate: then the writer thread writes it and rotates).
    fn append_n(log: &AuditLog, from: usize, n: usize) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for i in from..from + n {
            let entry = Entry::new("fw", &format!("tool{i}"), "stdio", Outcome::Executed);
            if i % 2 == 0 {
                log.append(&entry).unwrap();
            } else {
                runtime.block_on(log.append_read(&entry)).unwrap();
            }
        }
    }

    #[test]
    fn rotation_carries_the_chain_across_files_and_reopening_continues_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open_rotating(&path, 1000).unwrap();
        append_n(&log, 0, 20);
        drop(log);
        let rotated = rotated_files(&path).unwrap();
        assert!(rotated.len() >= 3, "{rotated:?}");
        for file in &rotated {
            assert!(std::fs::metadata(file).unwrap().len() >= 1000);
        }
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.files), (20, rotated.len() + 1));
        // The name of each rotated file is the last seq it holds.
        let last = std::fs::read_to_string(rotated.last().unwrap()).unwrap();
        let last: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
        assert!(
            rotated
                .last()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!(".{:012}", last["seq"].as_u64().unwrap()))
        );
        let log = AuditLog::open_rotating(&path, 1000).unwrap();
        append_n(&log, 20, 5);
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 25);
    }

    #[test]
    fn tampering_across_rotated_files_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        append_n(&AuditLog::open_rotating(&path, 600).unwrap(), 0, 12);
        let rotated = rotated_files(&path).unwrap();
        assert!(rotated.len() >= 3, "{rotated:?}");
        let middle = &rotated[1];
        let original = std::fs::read_to_string(middle).unwrap();

        let edited = original.replacen("\"fw\"", "\"fx\"", 1);
        std::fs::write(middle, &edited).unwrap();
        let error = verify(&path).unwrap_err();
        assert!(
            error.contains(&*rotated[2].to_string_lossy())
                || error.contains(&*middle.to_string_lossy()),
            "{error}"
        );

        std::fs::remove_file(middle).unwrap();
        let error = verify(&path).unwrap_err();
        assert!(error.contains("previous file"), "a removed file: {error}");
        std::fs::write(middle, &original).unwrap();
        assert_eq!(verify(&path).unwrap().entries, 12);

        std::fs::remove_file(&rotated[0]).unwrap();
        let error = verify(&path).unwrap_err();
        assert!(error.contains("earlier lines were removed"), "{error}");
    }

    /// A backup copy whose name has 12 digits (`cp audit.jsonl audit.jsonl.$(date
    /// +%Y%m%d%H%M)`) is not a rotated file: its last entry is not the number in its name.
    /// Left out of the chain with the reason, `verify` stays intact.
    #[test]
    fn a_copy_named_like_a_rotated_file_is_left_out_of_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        append_n(&AuditLog::open_rotating(&path, 600).unwrap(), 0, 8);
        let rotated = rotated_files(&path).unwrap();
        assert!(!rotated.is_empty(), "{rotated:?}");
        let copy = dir.path().join("audit.jsonl.202612051200");
        std::fs::copy(&path, &copy).unwrap();
        let (chain, left_out) = rotated_chain(&path).unwrap();
        assert_eq!(chain, rotated);
        assert_eq!(left_out.len(), 1, "{left_out:?}");
        assert_eq!(left_out[0].path, copy);
        assert!(
            left_out[0].why.contains("last entry is number 8"),
            "{left_out:?}"
        );
        assert_eq!(verify(&path).unwrap().entries, 8);
        let note = other_numbered_files_note(&path).unwrap();
        assert!(
            note.contains("audit.jsonl.202612051200") && note.contains("move it"),
            "{note}"
        );
    }

    /// Leaving out what does not end in the entry its name says weakens nothing: a rotated
    /// file cut short (its last lines removed) is left out, and the file after it then does
    /// not follow the chain.
    #[test]
    fn a_rotated_file_cut_short_still_breaks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        append_n(&AuditLog::open_rotating(&path, 600).unwrap(), 0, 12);
        let rotated = rotated_files(&path).unwrap();
        assert!(rotated.len() >= 3, "{rotated:?}");
        let text = std::fs::read_to_string(&rotated[1]).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        std::fs::write(&rotated[1], lines[..lines.len() - 1].join("\n") + "\n").unwrap();
        let error = verify(&path).unwrap_err();
        assert!(
            error.contains(&*rotated[2].to_string_lossy()) && error.contains("previous file"),
            "{error}"
        );
        assert!(
            other_numbered_files_note(&path)
                .is_some_and(|n| n.contains(&*rotated[1].to_string_lossy())),
            "named as left out"
        );
    }

    /// Right after a rotation (the current file not yet there) a start goes on from the newest
    /// rotated file: never from a copy named like one with a larger number, whose end would
    /// fork the chain.
    #[test]
    fn a_start_after_a_rotation_goes_on_from_the_rotated_file_not_a_copy() {
        let (_dir, path) = log_with(2);
        let copy = path.with_file_name("audit.jsonl.202612051200");
        std::fs::copy(&path, &copy).unwrap();
        {
            let log = AuditLog::open(&path).unwrap();
            log.append(&Entry::new("fw", "third", "stdio", Outcome::Executed))
                .unwrap();
        }
        std::fs::rename(&path, rotated_name(&path, 3)).unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(&Entry::new("fw", "after", "stdio", Outcome::Executed))
            .unwrap();
        drop(log);
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.files), (4, 2));
        // The start named the copy as left out (its number is beyond the chain's end).
        assert!(
            left_out_note_at_start(&path, 4).is_some_and(|n| n.contains("202612051200")),
            "{:?}",
            left_out_note_at_start(&path, 4)
        );
        assert_eq!(left_out_note_at_start(&path, 999_999_999_999), None);
    }

    #[test]
    fn a_crash_between_moving_the_file_aside_and_creating_the_next_keeps_the_chain() {
        let (_dir, path) = log_with(3);
        // What `rotate` does first; the crash comes before the new file exists.
        std::fs::rename(&path, rotated_name(&path, 3)).unwrap();
        let log = AuditLog::open(&path).unwrap();
        log.append(&Entry::new("fw", "after", "stdio", Outcome::Executed))
            .unwrap();
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.files), (4, 2));
    }

    #[test]
    fn start_up_widens_its_window_past_a_cut_off_line_longer_than_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.append(&Entry::new("fw", "before", "stdio", Outcome::Executed))
            .unwrap();
        drop(log);
        // A crash cut off a line five windows long: no newline in the first two windows.
        let mut cut = b"{\"seq\":2,\"message\":\"".to_vec();
        cut.extend(std::iter::repeat_n(b'x', 5 * TAIL_WINDOW as usize));
        closes_off_a_cut_line_and_goes_on(&path, &cut);
    }

    /// Append `cut` (a line a crash cut off) to the log at `path`, reopen it and append one
    /// entry: the cut line is closed off by a marker and the chain goes on from the line before.
    fn closes_off_a_cut_line_and_goes_on(path: &Path, cut: &[u8]) {
        let whole = verify(path).unwrap();
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend_from_slice(cut);
        std::fs::write(path, &bytes).unwrap();
        let log = AuditLog::open(path).unwrap();
        log.append(&Entry::new("fw", "after", "stdio", Outcome::Executed))
            .unwrap();
        let v = verify(path).unwrap();
        assert_eq!((v.entries, v.cut_off), (whole.entries + 2, 1));
    }

    #[test]
    fn start_up_finds_the_end_of_a_log_larger_than_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        let mut entry = Entry::new("fw", "bulk", "stdio", Outcome::Executed);
        entry.message = Some("m".repeat(MAX_VALUE_BYTES));
        for _ in 0..(2 * TAIL_WINDOW as usize / MAX_VALUE_BYTES) {
            log.append(&entry).unwrap();
        }
        drop(log);
        assert!(std::fs::metadata(&path).unwrap().len() > 2 * TAIL_WINDOW);
        // A crash cut the next line off: start-up closes it off from the end alone.
        closes_off_a_cut_line_and_goes_on(&path, b"{\"seq\":");
    }
    /// Appends from `logs` in turn, reads' and changes' lines mixed, from threads at once.
    fn append_from_all(logs: &[Arc<AuditLog>], per_log: usize) {
        let threads: Vec<_> = logs
            .iter()
            .enumerate()
            .map(|(n, log)| {
                let log = log.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    for i in 0..per_log {
                        let entry =
                            Entry::new("fw", &format!("p{n}-{i}"), "stdio", Outcome::Executed);
                        if i % 3 == 0 {
                            log.append(&entry).unwrap();
                        } else {
                            runtime.block_on(log.append_read(&entry)).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn several_processes_appending_to_one_log_form_one_chain() {
        // Each `open` is a file description of its own, as in another process: the file's
        // lock is what keeps them apart.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let logs: Vec<_> = (0..3)
            .map(|_| Arc::new(AuditLog::open(&path).unwrap()))
            .collect();
        append_from_all(&logs, 60);
        drop(logs);
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 180);
        // And a later start goes on from the end all of them wrote.
        AuditLog::open(&path)
            .unwrap()
            .append(&Entry::new("fw", "later", "stdio", Outcome::Executed))
            .unwrap();
        assert_eq!(verify(&path).unwrap().entries, 181);
    }

    #[test]
    fn a_log_rotated_by_one_process_goes_on_in_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let logs: Vec<_> = (0..2)
            .map(|_| Arc::new(AuditLog::open_rotating(&path, 2000).unwrap()))
            .collect();
        append_from_all(&logs, 40);
        drop(logs);
        let rotated = rotated_files(&path).unwrap();
        assert!(rotated.len() >= 5, "{rotated:?}");
        let v = verify(&path).unwrap();
        assert_eq!((v.entries, v.files), (80, rotated.len() + 1));
    }

    #[test]
    fn a_log_removed_while_open_starts_again_in_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        append_n(&log, 0, 4);
        std::fs::remove_file(&path).unwrap();
        // Without the check, these lines went to the removed file and were lost.
        append_n(&log, 4, 3);
        let v = verify(&path).unwrap();
        assert_eq!(v.entries, 3);
        drop(log);
    }

    #[test]
    fn a_file_that_is_not_an_audit_log_is_refused_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        let text = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n";
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let error = AuditLog::open(&path).err().expect("refused").to_string();
        assert!(error.contains("is not an audit log"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "its permissions are left as they were");
        }
    }
}
