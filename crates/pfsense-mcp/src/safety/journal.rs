//! The change journal (SQLite): for every executed mutation, the state before it, the inverse
//! operation, and what happened. Write-ahead: the intent (with the before-state) is stored
//! before the request goes out and the outcome after it comes back, so a process killed in
//! between leaves an `intent` row that the next start settles (`reconcile` in `undo.rs`). Rows
//! name the process that wrote them (`owners.rs`): those of another server sharing the journal
//! that still runs are its changes in flight, left to it.
//!
//! Nothing secret is stored: requests are redacted, and the firewall never returns secret
//! fields in the states we read.
//!
//! Every start checks every page of a file journal ([`PageCheck`]), even when nothing seems to
//! have touched the file since the last clean check. Skipping the check when the file's
//! identity (device, inode, size, mtime and ctime of the file and its `-wal`, recorded after a
//! clean check) is unchanged was considered and left out: it is not sound, and would seldom
//! apply.
//! - What only a read of every page finds is damage no write through the file system made: a
//!   failing disk, bit rot, a block device or a VM's disk image written underneath. None of it
//!   changes the file's metadata, so an unchanged identity would pass it at every start.
//! - SQLite's counters say nothing across starts: in WAL mode a commit does not advance the
//!   header's file change counter, and `PRAGMA data_version` compares within one connection.
//! - Timestamps are coarse (a clock tick of some milliseconds on most Linux file systems; NFS
//!   caches attributes up to a minute): a write of the same size within the tick of the
//!   recording leaves the identity as it was. A WAL reused after a checkpoint keeps its size.
//! - Every session that writes anything (a change, or the metrics every tool call records)
//!   ends with SQLite checkpointing its WAL into the main file as the last connection closes,
//!   so the next start sees another identity and checks anyway. Recording the identity at exit
//!   instead, trusting the writes since the check, would bless damage done meanwhile.
//! - A crash in the middle of a write would not have been missed (it leaves the WAL behind,
//!   another identity; SQLite's recovery replays or drops its checksummed frames), but that is
//!   SQLite's to handle, not this check's.
//!
//! What is done instead: the check reads the file in order before walking it ([`read_ahead`]),
//! which makes a cold check several times faster (BENCHMARKS.md, "Journal page check").

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Mutex;

/// Status of a change row.
pub mod status {
    /// Recorded before the request; the outcome is not known yet.
    pub const INTENT: &str = "intent";
    /// The firewall accepted the change.
    pub const EXECUTED: &str = "executed";
    /// The firewall refused it or could not be reached; nothing changed.
    pub const FAILED: &str = "failed";
    /// Settled at start: the firewall's state shows the change did not happen.
    pub const NOT_APPLIED: &str = "not_applied";
    /// Settled at start, but the firewall's state cannot tell whether it happened.
    pub const UNKNOWN: &str = "unknown";
    /// Undone through `pfsense_undo`.
    pub const UNDONE: &str = "undone";
    /// Undone because nobody confirmed it before its auto-revert deadline.
    pub const AUTO_REVERTED: &str = "auto_reverted";
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    firewall TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    caller TEXT NOT NULL,
    tool TEXT NOT NULL,
    kind TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT,
    inverse TEXT,
    apply_tool TEXT,
    status TEXT NOT NULL,
    response_id TEXT,
    message TEXT,
    provisional_until INTEGER,
    undo_of INTEGER,
    undone_by INTEGER,
    address TEXT
);
CREATE INDEX IF NOT EXISTS changes_by_firewall ON changes (firewall, id);
CREATE INDEX IF NOT EXISTS changes_provisional ON changes (firewall, provisional_until) WHERE provisional_until IS NOT NULL;
CREATE INDEX IF NOT EXISTS changes_in_flight ON changes (firewall, id) WHERE status = 'intent';
CREATE TABLE IF NOT EXISTS calls (
    ts_ms INTEGER NOT NULL,
    firewall TEXT NOT NULL,
    tool TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    latency_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (firewall, ts_ms);
CREATE TABLE IF NOT EXISTS change_owners (
    change_id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL
);
";

/// [`SCHEMA`]'s mark in the database's `user_version`: a hash of its text, so that a changed
/// schema is applied again without a version number anyone has to remember to raise.
fn schema_mark() -> i32 {
    // FNV-1a: the same in every build and on every platform (std's hashers are not).
    let hash = SCHEMA.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash & 0x7fff_ffff) as i32
}

/// Create what [`SCHEMA`] holds unless the database already carries its mark: the mark is in
/// the file's header, where compiling the `CREATE … IF NOT EXISTS` statements cost 65k
/// instructions at every start.
fn ensure_schema(conn: &Connection) -> rusqlite::Result<()> {
    let mark: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if mark == schema_mark() {
        return Ok(());
    }
    conn.execute_batch(SCHEMA)?;
    // Columns added since a table was first created (`CREATE … IF NOT EXISTS` leaves an
    // existing table as it is).
    let has_address = conn
        .prepare("SELECT 1 FROM pragma_table_info('changes') WHERE name = 'address'")?
        .exists([])?;
    if !has_address {
        conn.execute_batch("ALTER TABLE changes ADD COLUMN address TEXT")?;
    }
    conn.pragma_update(None, "user_version", schema_mark())
}

/// The columns the server reads and writes, per table of [`SCHEMA`]. `changes.address` is
/// left out: journals from before it get it added (`ensure_schema`).
const NEEDED_COLUMNS: &[(&str, &[&str])] = &[
    (
        "changes",
        &[
            "id",
            "firewall",
            "time_ms",
            "caller",
            "tool",
            "kind",
            "model",
            "request",
            "before_state",
            "after_state",
            "inverse",
            "apply_tool",
            "status",
            "response_id",
            "message",
            "provisional_until",
            "undo_of",
            "undone_by",
        ],
    ),
    (
        "calls",
        &[
            "ts_ms",
            "firewall",
            "tool",
            "outcome",
            "http_status",
            "latency_ms",
            "attempts",
        ],
    ),
    ("change_owners", &["change_id", "owner"]),
];

/// What makes the database not a journal, or None: a database holding tables but no `changes`
/// table (another program's), or a table of ours without the columns the server uses (every
/// write would fail with SQL text). An empty database becomes a journal. Only reads.
fn foreign_schema(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let mark: i32 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if mark == schema_mark() {
        return Ok(None);
    }
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if !tables.is_empty() && !tables.iter().any(|t| t == "changes") {
        return Ok(Some(format!(
            "it holds the tables {} and no `changes` table",
            tables.join(", ")
        )));
    }
    for (table, needed) in NEEDED_COLUMNS {
        if !tables.iter().any(|t| t == table) {
            continue;
        }
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info(?1)")?
            .query_map([table], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let missing: Vec<&str> = needed
            .iter()
            .filter(|c| !columns.iter().any(|have| have == *c))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Ok(Some(format!(
                "its table `{table}` lacks the columns {}",
                missing.join(", ")
            )));
        }
    }
    Ok(None)
}

/// What to say about a journal whose pages SQLite found damaged (`detail`: what it found).
fn damaged(location: &str, detail: &str) -> String {
    format!(
        "the change journal {location} is damaged ({detail}): SQLite's check of its pages failed, so undo and auto-revert cannot rely on it. Stop the server, move the file aside with its -wal and -shm files (`mv {location} {location}.damaged`, the same for {location}-wal and {location}-shm where they exist) and start again: a new journal is created. The changes recorded in the old one can no longer be undone with pfsense_undo; `sqlite3 {location}.damaged .recover` may save its rows"
    )
}

/// What to say about a journal file holding another program's database.
fn not_a_journal(location: &str, problem: &str) -> String {
    format!(
        "the change journal {location} is not a journal of pfsense-mcp: {problem}. Nothing was changed in it; give --journal / PFSENSE_JOURNAL a new file (or `memory`)"
    )
}

/// An error of SQLite about the journal at `location`, said for a reader: damage and a file
/// that is no database get what to do; others `doing` (what failed) and SQLite's words.
fn sql_error(doing: &str, location: &str, e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => damaged(location, &e.to_string()),
        Some(rusqlite::ErrorCode::NotADatabase) => format!(
            "the change journal {location} is not a SQLite database ({e}): another program's file, or a journal whose first page is damaged. Nothing was changed in it; give --journal / PFSENSE_JOURNAL the journal's path (or a new file, or `memory`); if it is the journal, stop the server, move it aside with its -wal and -shm files and start again (a new journal is created)"
        ),
        _ => format!("{doing} the change journal {location}: {e}"),
    }
}

/// Whether SQLite's error says the file is damaged or no database at all.
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// SQLite's own check of every page of the journal, `PRAGMA quick_check`: the b-trees of
/// every table and index (page types, cell and free-space layout, keys in order), overflow
/// chains, the free list, and records matching their columns. Not whether each index holds
/// exactly its table's rows (`integrity_check`, which costs more): an undo finds its rows by
/// the primary key. `None` when intact, else what it found (its first three problems); an
/// error when the check could not run. The cost grows with the file (BENCHMARKS.md,
/// "Journal page check").
fn page_problems(conn: &Connection) -> rusqlite::Result<Option<String>> {
    // Each page is read about once: a small page cache checks as fast (measured) and keeps
    // the check's memory small (SQLite's default is 2 MiB per connection).
    conn.pragma_update(None, "cache_size", -256)?;
    let found = conn
        .prepare("PRAGMA quick_check(3)")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok((found != ["ok"]).then(|| found.join("; ")))
}

/// Read the file at `path` once, start to end, into the page cache, when it fits there easily.
/// `quick_check` walks the b-trees in key order: on a cold file, a random read per page (a
/// journal grown a row at a time interleaves tables, indexes and overflow chains). Read in file
/// order first, the same pages come at the disk's sequential speed and the walk finds them in
/// memory (the walk reads every page anyway, so the page cache holds no more than it would). A
/// file over a quarter of the memory is left to the walk: its first pages would be evicted
/// before the walk reached them, and it would be read twice.
fn read_ahead(path: &Path) {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(path) else {
        return;
    };
    let size = file.metadata().map_or(u64::MAX, |m| m.len());
    if size > physical_memory() / 4 {
        return;
    }
    let mut buffer = vec![0u8; 1 << 20];
    while matches!(file.read(&mut buffer), Ok(n) if n > 0) {}
}

/// The machine's memory in bytes (0 when unknown: nothing is read ahead).
fn physical_memory() -> u64 {
    #[cfg(unix)]
    // SAFETY: sysconf only reads system configuration values.
    unsafe {
        let pages = libc::sysconf(libc::_SC_PHYS_PAGES);
        let page_size = libc::sysconf(libc::_SC_PAGESIZE);
        if pages > 0 && page_size > 0 {
            return (pages as u64).saturating_mul(page_size as u64);
        }
    }
    0
}

/// What the check of a journal file found ([`check_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChecked {
    /// Changes it holds.
    pub changes: i64,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the check of its pages took.
    pub took: std::time::Duration,
}

/// The checks a start makes of the journal file at `path`, made without writing to it
/// (`doctor`): that it is a SQLite database, no other program's (the check before a start
/// writes to it), and that its pages are intact (the check a start runs in the background).
/// `None` when there is no file yet (a start creates it).
pub fn check_file(path: &Path) -> Result<Option<FileChecked>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let location = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error("cannot open", &location, &e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| sql_error("cannot open", &location, &e))?;
    if let Some(problem) =
        foreign_schema(&conn).map_err(|e| sql_error("cannot read", &location, &e))?
    {
        return Err(not_a_journal(&location, &problem));
    }
    let started = std::time::Instant::now();
    read_ahead(path);
    match page_problems(&conn) {
        Ok(None) => {}
        Ok(Some(found)) => return Err(damaged(&location, &found)),
        Err(e) => return Err(sql_error("cannot check", &location, &e)),
    }
    let took = started.elapsed();
    let changes = conn
        .query_row("SELECT COUNT(*) FROM changes", [], |r| r.get(0))
        .unwrap_or(0);
    Ok(Some(FileChecked {
        changes,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        took,
    }))
}

/// The check of a file journal's pages, run at every start on a thread of its own
/// ([`read_ahead`], [`page_problems`]): its cost grows with the journal (at 100k changes,
/// 416 MB, about 0.5 s warm and 0.7 s cold), too much to wait for before answering
/// `initialize`. What relies on the journal's rows (recording a
/// change before it is sent, undo, auto-revert, settling, listing changes) waits for its
/// verdict ([`Journal::intact`]); a damaged journal is said on stderr as soon as it is found.
struct PageCheck {
    verdict: Mutex<Option<Result<(), String>>>,
    /// Wakes threads waiting for the verdict ([`PageCheck::wait`]).
    done: std::sync::Condvar,
    /// Wakes tasks waiting for it ([`PageCheck::wait_async`]).
    ready: tokio::sync::Notify,
}

/// Give the calling thread the lowest CPU priority (nice 19): the page check of a large journal
/// runs beside the start and the first calls, which it must not slow (a start with a 100k-change
/// journal took several times longer on two busy cores while the check ran at the normal
/// priority). Linux sets the nice value per thread.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority only read and set the calling thread's scheduling
    // priority; a failure leaves it as it was.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

impl PageCheck {
    /// Start checking the journal at `path` (already opened by this process).
    fn start(path: &Path) -> std::sync::Arc<PageCheck> {
        let check = std::sync::Arc::new(PageCheck {
            verdict: Mutex::new(None),
            done: std::sync::Condvar::new(),
            ready: tokio::sync::Notify::new(),
        });
        let spawned = std::thread::Builder::new()
            .name("journal-check".into())
            .spawn({
                let (check, path) = (check.clone(), path.to_path_buf());
                move || {
                    lowest_priority();
                    check.finish(PageCheck::run(&path))
                }
            });
        if spawned.is_err() {
            // No thread: here, a slower start rather than an unchecked journal.
            check.finish(PageCheck::run(path));
        }
        check
    }

    /// The verdict on the file at `path`. A check that cannot run (the file cannot be opened
    /// a second time, the database stays locked) finds no damage: said, and passed, as before
    /// there was a check; what then fails says so itself.
    fn run(path: &Path) -> Result<(), String> {
        let location = path.display().to_string();
        let started = std::time::Instant::now();
        read_ahead(path);
        let found = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            page_problems(&conn)
        });
        match found {
            Ok(None) => {
                tracing::debug!(journal = %location, ms = started.elapsed().as_millis() as u64, "journal pages checked");
                Ok(())
            }
            Ok(Some(found)) => Err(damaged(&location, &found)),
            Err(e) if is_damage(&e) => Err(sql_error("cannot check", &location, &e)),
            Err(e) => {
                tracing::warn!(journal = %location, error = %e, "the journal's pages could not be checked");
                Ok(())
            }
        }
    }

    /// Keep the verdict (saying a damaged journal on stderr at once) and wake who waits.
    fn finish(&self, verdict: Result<(), String>) {
        if let Err(e) = &verdict {
            tracing::error!("{e}. Until then every change and undo is refused; reads work");
        }
        *self.verdict.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
        self.done.notify_all();
        self.ready.notify_waiters();
    }

    /// The verdict, once there is one.
    fn verdict(&self) -> Option<Result<(), String>> {
        self.verdict
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Wait for the verdict without holding up the runtime's thread: the stdio server runs
    /// every task on one thread, where a blocking wait would stop `initialize` being answered
    /// until the check of a large journal is done.
    async fn wait_async(&self) -> Result<(), String> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            // Registered before the verdict is looked at: a verdict set in between wakes it.
            notified.as_mut().enable();
            if let Some(verdict) = self.verdict() {
                return verdict;
            }
            notified.await;
        }
    }

    /// Wait for the verdict.
    fn wait(&self) -> Result<(), String> {
        let mut verdict = self.verdict.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(v) = &*verdict {
                return v.clone();
            }
            verdict = self.done.wait(verdict).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Call metrics are kept this long (`pfsense_health` looks at the last 15 minutes).
pub const CALLS_RETENTION_MS: i64 = 60 * 60 * 1000;
/// And at most this many rows.
pub const CALLS_MAX_ROWS: i64 = 50_000;
/// Prune after this many inserts.
const CALLS_PRUNE_EVERY: u64 = 256;

/// One row of the `calls` table: a finished call to the firewall.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    pub ts_ms: i64,
    pub tool: String,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub attempts: u32,
}

/// One row.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: i64,
    pub firewall: String,
    pub time_ms: i64,
    pub caller: String,
    pub tool: String,
    pub kind: String,
    pub model: String,
    /// The redacted request.
    pub request: Value,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// How to undo it (see `undo.rs`); None when it cannot be undone.
    pub inverse: Option<Value>,
    pub apply_tool: Option<String>,
    pub status: String,
    pub response_id: Option<String>,
    pub message: Option<String>,
    /// Auto-revert deadline (ms since the epoch) while the change is provisional.
    pub provisional_until: Option<i64>,
    pub undo_of: Option<i64>,
    pub undone_by: Option<i64>,
    /// The address (URL) of the firewall the change was made on; `None` in rows written
    /// before it was recorded.
    pub address: Option<String>,
}

impl Change {
    /// How `pfsense_list_changes` shows it.
    pub fn summary(&self) -> Value {
        json!({
            "change_id": self.id,
            "time": super::time::rfc3339(self.time_ms),
            "tool": self.tool,
            "kind": self.kind,
            "model": self.model,
            "caller": self.caller,
            "status": self.status,
            "request": self.request,
            "undoable": self.undoable(),
            "provisional_until": self.provisional_until.map(super::time::rfc3339),
            "undo_of": self.undo_of,
            "undone_by": self.undone_by,
            "response_id": self.response_id,
            "message": self.message,
        })
    }

    pub fn undoable(&self) -> bool {
        self.status == status::EXECUTED && self.inverse.is_some() && self.undone_by.is_none()
    }
}

#[cfg(test)]
impl Change {
    /// An executed change (id 1) of `tool` on `model` with nothing else recorded: tests set
    /// the fields they need.
    pub fn example(tool: &str, model: &str) -> Change {
        Change {
            id: 1,
            firewall: "default".into(),
            time_ms: 0,
            caller: "test".into(),
            tool: tool.into(),
            kind: String::new(),
            model: model.into(),
            request: json!({}),
            before: None,
            after: None,
            inverse: None,
            apply_tool: None,
            status: status::EXECUTED.into(),
            response_id: None,
            message: None,
            provisional_until: None,
            undo_of: None,
            undone_by: None,
            address: None,
        }
    }
}

/// What is known before the request goes out.
#[derive(Debug, Clone)]
pub struct Intent<'a> {
    pub firewall: &'a str,
    pub caller: &'a str,
    pub tool: &'a str,
    pub kind: &'a str,
    pub model: &'a str,
    pub request: &'a Value,
    pub before: Option<&'a Value>,
    pub inverse: Option<&'a Value>,
    pub apply_tool: Option<&'a str>,
    pub undo_of: Option<i64>,
}

/// The connection of a file journal for call metrics, opened on first use.
struct CallsDb {
    path: std::path::PathBuf,
    conn: std::sync::OnceLock<Option<Mutex<Connection>>>,
}

impl CallsDb {
    fn conn(&self) -> Option<&Mutex<Connection>> {
        self.conn
            .get_or_init(|| {
                Connection::open(&self.path)
                    .and_then(|c| {
                        c.pragma_update(None, "synchronous", "NORMAL")?;
                        c.busy_timeout(std::time::Duration::from_secs(5))?;
                        Ok(c)
                    })
                    .map_err(|e| {
                        tracing::warn!(
                            journal = %self.path.display(),
                            error = %e,
                            "no connection of its own for call metrics: they share the journal's"
                        )
                    })
                    .ok()
                    .map(Mutex::new)
            })
            .as_ref()
    }
}

pub struct Journal {
    db: Mutex<Connection>,
    /// A second connection for call metrics on a file journal: without the full sync of every
    /// change row (losing the last metrics in a crash is fine; a read should not wait for
    /// an fsync).
    /// Opened on the first flush of call metrics (not at start: a start that serves no call
    /// does not pay for it); `None` inside when it cannot be opened (then the main one).
    calls_db: Option<CallsDb>,
    calls_inserted: std::sync::atomic::AtomicU64,
    /// Finished calls not yet in the `calls` table: written [`CALLS_FLUSH_EVERY`] at a time in
    /// one transaction (and before any read of the table), not one insert per call.
    pending_calls: Mutex<Vec<PendingCall>>,
    location: String,
    /// This process's owner file, for a file journal that other processes may share
    /// (`owners.rs`): named in the rows it writes.
    owner: Option<super::owners::Owner>,
    /// The address each firewall name stands for in this server ([`Journal::bind`]).
    addresses: Mutex<std::collections::HashMap<String, String>>,
    /// The check of a file journal's pages, started when it was opened.
    pages: Option<std::sync::Arc<PageCheck>>,
}

/// Calls buffered before they are written together; a crash loses at most these (metrics
/// only: changes are journaled and synced one by one).
pub const CALLS_FLUSH_EVERY: usize = 64;

struct PendingCall {
    ts_ms: i64,
    firewall: String,
    call: crate::resilience::CallRecord,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(e) = self.flush_calls() {
            tracing::warn!("call metrics: {e}");
        }
    }
}

/// A stored JSON column, with every secret value a caller sent scrubbed.
fn text(v: Option<&Value>) -> Option<String> {
    v.map(|v| {
        let mut v = v.clone();
        crate::secret::scrub_value(&mut v);
        v.to_string()
    })
}

fn parse(s: Option<String>) -> Option<Value> {
    s.and_then(|s| serde_json::from_str(&s).ok())
}

const COLUMNS: &str = "id, firewall, time_ms, caller, tool, kind, model, request, before_state, after_state, inverse, apply_tool, status, response_id, message, provisional_until, undo_of, undone_by, address";

/// The rows of one firewall: its name (`?1`) and its address (`?2`), or no address recorded.
/// Two servers whose firewalls share a name (every firewall is `default` without a config file)
/// do not see, undo, revert or confirm each other's changes.
const OF_FIREWALL: &str = "firewall = ?1 AND (address IS NULL OR address = ?2)";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
    Ok(Change {
        id: r.get(0)?,
        firewall: r.get(1)?,
        time_ms: r.get(2)?,
        caller: r.get(3)?,
        tool: r.get(4)?,
        kind: r.get(5)?,
        model: r.get(6)?,
        request: parse(r.get(7)?).unwrap_or(Value::Null),
        before: parse(r.get(8)?),
        after: parse(r.get(9)?),
        inverse: parse(r.get(10)?),
        apply_tool: r.get(11)?,
        status: r.get(12)?,
        response_id: r.get(13)?,
        message: r.get(14)?,
        provisional_until: r.get(15)?,
        undo_of: r.get(16)?,
        undone_by: r.get(17)?,
        address: r.get(18)?,
    })
}

impl Journal {
    /// Open (or create) the journal file.
    pub fn open(path: &Path) -> Result<Journal, String> {
        super::private::prepare(path, "change journal")?;
        let conn = Connection::open(path)
            .map_err(|e| format!("cannot open the change journal {}: {e}", path.display()))?;
        let mut journal = Journal::init(conn, path.display().to_string())?;
        journal.pages = Some(PageCheck::start(path));
        super::private::narrow_file(path, "change journal");
        journal.owner = super::owners::Owner::claim(path);
        journal.calls_db = Some(CallsDb {
            path: path.to_path_buf(),
            conn: std::sync::OnceLock::new(),
        });
        Ok(journal)
    }

    /// A journal that lives only as long as the process (sandbox mode: the emulator's state
    /// is gone at exit too).
    pub fn in_memory() -> Result<Journal, String> {
        let conn = Connection::open_in_memory()
            .map_err(|e| format!("cannot open an in-memory journal: {e}"))?;
        Journal::init(conn, "memory (lost at exit)".into())
    }

    fn init(conn: Connection, location: String) -> Result<Journal, String> {
        let cannot = |e: rusqlite::Error| sql_error("cannot prepare", &location, &e);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(cannot)?;
        // Before anything is written to it: a database of something else is left as it was.
        if let Some(problem) = foreign_schema(&conn).map_err(cannot)? {
            return Err(not_a_journal(&location, &problem));
        }
        // WAL + full sync: a row written before the request survives a kill -9.
        conn.pragma_update(None, "journal_mode", "WAL")
            .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|_| ensure_schema(&conn))
            .map_err(cannot)?;
        Ok(Journal {
            db: Mutex::new(conn),
            calls_db: None,
            calls_inserted: std::sync::atomic::AtomicU64::new(0),
            pending_calls: Mutex::new(Vec::new()),
            location,
            owner: None,
            addresses: Mutex::new(Default::default()),
            pages: None,
        })
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether the journal's pages were found intact, waiting for the check started at open
    /// ([`PageCheck`]): what relies on its rows calls this first, so that a damaged journal
    /// refuses a change before it is sent, not in the middle of an undo.
    pub fn intact(&self) -> Result<(), String> {
        match &self.pages {
            Some(check) => check.wait(),
            None => Ok(()),
        }
    }

    /// Whether the check of the pages is done (whatever it found).
    fn checked_yet(&self) -> bool {
        self.pages.as_ref().is_none_or(|p| p.verdict().is_some())
    }

    /// [`Journal::intact`] for async code, waiting without blocking the runtime's thread:
    /// `Safety::settle` awaits it before a change, an undo or the journal's tools use the
    /// journal, so that their calls of `intact` find the verdict in.
    pub async fn checked(&self) -> Result<(), String> {
        match &self.pages {
            Some(check) => check.wait_async().await,
            None => Ok(()),
        }
    }

    /// Say which address (URL) the firewall `name` is in this server: rows are written with it,
    /// and only rows of that address (or of none, from older versions) are this firewall's.
    pub fn bind(&self, name: &str, address: &str) {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), address.to_string());
    }

    fn address_of(&self, name: &str) -> Option<String> {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Whether `change` is one of the firewall `name`'s in this server.
    pub fn is_of(&self, change: &Change, name: &str) -> bool {
        change.firewall == name
            && (change.address.is_none() || change.address == self.address_of(name))
    }

    /// How many changes are recorded under the name `name` for another address.
    pub fn elsewhere(&self, name: &str) -> usize {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM changes WHERE firewall = ?1 AND address IS NOT NULL AND address IS NOT ?2",
                params![name, self.address_of(name)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .unwrap_or(0)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record the intent; returns the change id.
    pub fn record_intent(&self, intent: &Intent<'_>) -> Result<i64, String> {
        self.intact()?;
        let failed =
            |e: rusqlite::Error| sql_error("could not record the intent in", &self.location, &e);
        let mut db = self.db();
        // The row and its owner together, in one sync; the write lock is taken at once, so
        // another process holding it is waited for (`busy_timeout`).
        let db = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        // An undo claims its change under the write lock: of two undos of one change (two
        // calls at once, or two servers sharing the journal) only the first runs. One that
        // failed, or was interrupted (`unknown`: undo checks the object's state again), does
        // not hold it.
        if let Some(of) = intent.undo_of {
            let claimed: Option<(i64, String)> = db
                .query_row(
                    "SELECT id, status FROM changes WHERE undo_of = ?1 AND status IN (?2, ?3) ORDER BY id LIMIT 1",
                    params![of, status::INTENT, status::EXECUTED],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(failed)?;
            if let Some((by, state)) = claimed {
                return Err(if state == status::INTENT {
                    format!(
                        "change {of} is being undone by change {by} (another call, or another server sharing the journal); nothing was sent"
                    )
                } else {
                    format!("change {of} was already undone by change {by}; nothing was sent")
                });
            }
        }
        db.execute(
            "INSERT INTO changes (firewall, time_ms, caller, tool, kind, model, request, before_state, inverse, apply_tool, status, undo_of, address)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                intent.firewall,
                super::time::now_millis(),
                intent.caller,
                intent.tool,
                intent.kind,
                intent.model,
                text(Some(intent.request)),
                text(intent.before),
                text(intent.inverse),
                intent.apply_tool,
                status::INTENT,
                intent.undo_of,
                self.address_of(intent.firewall),
            ],
        )
        .map_err(failed)?;
        let id = db.last_insert_rowid();
        if let Some(owner) = &self.owner {
            db.execute(
                "INSERT INTO change_owners (change_id, owner) VALUES (?1, ?2)",
                params![id, owner.id()],
            )
            .map_err(failed)?;
        }
        db.commit().map_err(failed)?;
        Ok(id)
    }

    /// Whether the process that recorded change `id` still runs: another one's change in
    /// flight is not this process's to settle, nor its provisional change to revert.
    pub fn running(&self, id: i64) -> super::owners::Running {
        use super::owners::Running;
        let Some(me) = &self.owner else {
            return Running::Gone;
        };
        let owner: Option<String> = self
            .db()
            .query_row(
                "SELECT owner FROM change_owners WHERE change_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten();
        me.running(owner.as_deref())
    }

    /// Remove the owner files of processes that were killed.
    pub fn sweep_owners(&self) {
        if let Some(owner) = &self.owner {
            owner.sweep();
        }
    }

    /// Record how a change ended.
    pub fn record_outcome(
        &self,
        id: i64,
        status: &str,
        after: Option<&Value>,
        inverse: Option<&Value>,
        response_id: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), String> {
        self.db()
            .execute(
                "UPDATE changes SET status = ?2, after_state = COALESCE(?3, after_state), inverse = ?4, response_id = ?5, message = ?6 WHERE id = ?1",
                params![id, status, text(after), text(inverse), response_id, message.map(crate::secret::scrub)],
            )
            .map(|_| ())
            .map_err(|e| format!("the change journal could not record the outcome of change {id}: {e}"))
    }

    pub fn set_provisional(&self, id: i64, until_ms: Option<i64>) -> Result<(), String> {
        self.intact()?;
        self.db()
            .execute(
                "UPDATE changes SET provisional_until = ?2 WHERE id = ?1",
                params![id, until_ms],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Mark a change undone by another change.
    pub fn mark_undone(&self, id: i64, by: i64, status: &str) -> Result<(), String> {
        self.intact()?;
        self.db()
            .execute(
                "UPDATE changes SET status = ?2, undone_by = ?3, provisional_until = NULL WHERE id = ?1",
                params![id, status, by],
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn query(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Change>, String> {
        let db = self.db();
        let mut stmt = db.prepare(sql).map_err(|e| e.to_string())?;
        stmt.query_map(args, row)
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }

    pub fn get(&self, id: i64) -> Result<Option<Change>, String> {
        self.intact()?;
        let db = self.db();
        db.query_row(
            &format!("SELECT {COLUMNS} FROM changes WHERE id = ?1"),
            params![id],
            row,
        )
        .optional()
        .map_err(|e| e.to_string())
    }

    /// The newest changes of a firewall, newest first.
    pub fn list(&self, firewall: &str, limit: i64) -> Result<Vec<Change>, String> {
        self.intact()?;
        self.query(
            &format!("SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} ORDER BY id DESC LIMIT ?3"),
            &[&firewall, &self.address_of(firewall), &limit],
        )
    }

    /// Rows a killed process left behind.
    pub fn intents(&self, firewall: &str) -> Result<Vec<Change>, String> {
        self.intact()?;
        self.query(
            &format!(
                // The literal lets SQLite use the partial index `changes_in_flight` (a
                // bound parameter does not prove the index's condition).
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND status = 'intent' ORDER BY id"
            ),
            &[&firewall, &self.address_of(firewall)],
        )
    }

    /// The newest `n` changes `caller` made (the token's name over HTTP, `stdio`) that can
    /// still be undone (not undos themselves), newest first.
    pub fn last_undoable(
        &self,
        firewall: &str,
        caller: &str,
        n: i64,
    ) -> Result<Vec<Change>, String> {
        self.intact()?;
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND status = ?3 AND inverse IS NOT NULL AND undone_by IS NULL AND undo_of IS NULL AND caller = ?5 ORDER BY id DESC LIMIT ?4"
            ),
            &[&firewall, &self.address_of(firewall), &status::EXECUTED, &n, &caller],
        )
    }

    /// The undos of a firewall recorded after change `id` that re-created an object (their
    /// `after` is the object made), oldest first: a later undo learns from them which links
    /// pfSense drew anew (`undo::Redrawn`).
    pub fn recreating_undos_since(&self, firewall: &str, id: i64) -> Result<Vec<Change>, String> {
        self.intact()?;
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND id > ?3 AND undo_of IS NOT NULL AND after_state IS NOT NULL ORDER BY id"
            ),
            &[&firewall, &self.address_of(firewall), &id],
        )
    }

    fn calls_db(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.calls_db.as_ref().and_then(CallsDb::conn) {
            Some(db) => db.lock().unwrap_or_else(|e| e.into_inner()),
            None => self.db(),
        }
    }

    /// Record a finished call (buffered: see [`CALLS_FLUSH_EVERY`]); prunes rows older than
    /// [`CALLS_RETENTION_MS`] now and then.
    pub fn record_call(
        &self,
        firewall: &str,
        call: &crate::resilience::CallRecord,
    ) -> Result<(), String> {
        let full = {
            let mut pending = self.pending_calls.lock().unwrap_or_else(|e| e.into_inner());
            pending.push(PendingCall {
                ts_ms: super::time::now_millis(),
                firewall: firewall.to_string(),
                call: call.clone(),
            });
            pending.len() >= CALLS_FLUSH_EVERY
        };
        // Written once the journal's pages are known intact; until then (the check of a large
        // journal at start) they stay buffered rather than a read waiting for the check.
        if full && self.checked_yet() {
            self.flush_calls()?;
        }
        Ok(())
    }

    /// Write the buffered calls in one transaction (once the check of the journal's pages is
    /// done: this waits for it).
    pub fn flush_calls(&self) -> Result<(), String> {
        // Nothing is written to a damaged journal, call metrics included (already said).
        if self.intact().is_err() {
            self.pending_calls
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
            return Ok(());
        }
        let batch =
            std::mem::take(&mut *self.pending_calls.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        let mut db = self.calls_db();
        let tx = db
            .transaction()
            .map_err(|e| format!("cannot record the calls: {e}"))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO calls (ts_ms, firewall, tool, outcome, http_status, latency_ms, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| format!("cannot record the calls: {e}"))?;
            for p in &batch {
                insert
                    .execute(params![
                        p.ts_ms,
                        p.firewall,
                        p.call.tool,
                        p.call.outcome,
                        p.call.http_status,
                        p.call.latency_ms as i64,
                        p.call.attempts,
                    ])
                    .map_err(|e| format!("cannot record the call: {e}"))?;
            }
        }
        let before = self
            .calls_inserted
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let after = before + batch.len() as u64;
        if before.is_multiple_of(CALLS_PRUNE_EVERY)
            || before / CALLS_PRUNE_EVERY != after / CALLS_PRUNE_EVERY
        {
            let now = super::time::now_millis();
            // Rows go in in time order, so the old ones are the first rows: both deletes walk
            // the rowid order from the start and stop at the first row to keep, instead of
            // reading the whole table (up to CALLS_MAX_ROWS rows) at every prune. A row left
            // behind a newer one by a clock set back goes once the rows before it are old.
            tx.execute(
                "DELETE FROM calls WHERE rowid < COALESCE((SELECT rowid FROM calls WHERE ts_ms >= ?1 ORDER BY rowid LIMIT 1), (SELECT MAX(rowid) FROM calls) + 1)",
                params![now - CALLS_RETENTION_MS],
            )
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM calls WHERE rowid <= (SELECT MAX(rowid) FROM calls) - ?1",
                    params![CALLS_MAX_ROWS],
                )
            })
            .map_err(|e| format!("cannot prune the call metrics: {e}"))?;
        }
        tx.commit()
            .map_err(|e| format!("cannot record the calls: {e}"))
    }

    /// Calls of a firewall since `since_ms`, newest first, at most `limit`.
    pub fn recent_calls(
        &self,
        firewall: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<CallRow>, String> {
        self.flush_calls()?;
        let db = self.calls_db();
        let mut stmt = db
            .prepare(
                "SELECT ts_ms, tool, outcome, http_status, latency_ms, attempts FROM calls WHERE firewall = ?1 AND ts_ms >= ?2 ORDER BY ts_ms DESC, rowid DESC LIMIT ?3",
            )
            .map_err(|e| e.to_string())?;
        stmt.query_map(params![firewall, since_ms, limit], |r| {
            Ok(CallRow {
                ts_ms: r.get(0)?,
                tool: r.get(1)?,
                outcome: r.get(2)?,
                http_status: r.get(3)?,
                latency_ms: r.get::<_, i64>(4)?.max(0) as u64,
                attempts: r.get(5)?,
            })
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
    }

    /// Provisional changes, soonest deadline first.
    pub fn provisional(&self, firewall: &str) -> Result<Vec<Change>, String> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND provisional_until IS NOT NULL ORDER BY provisional_until, id"
            ),
            &[&firewall, &self.address_of(firewall)],
        )
    }

    /// How many provisional changes a firewall has, and how many of them are due at `now_ms`:
    /// counted, not read (the notes at start and exit; a start compiles this instead of the
    /// 19-column query of [`Journal::provisional`]).
    pub fn provisional_count(&self, firewall: &str, now_ms: i64) -> Result<(usize, usize), String> {
        self.db()
            .query_row(
                &format!(
                    "SELECT COUNT(*), COUNT(CASE WHEN provisional_until <= ?3 THEN 1 END) FROM changes WHERE {OF_FIREWALL} AND provisional_until IS NOT NULL"
                ),
                params![firewall, self.address_of(firewall), now_ms],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
            )
            .map_err(|e| e.to_string())
    }

    /// Rows an older version keyed by the firewall's URL (before firewalls had names) move to
    /// its name, so undo, auto-revert and the settling at start still find them. Returns how
    /// many rows moved.
    pub fn adopt(&self, url: &str, name: &str) -> Result<usize, String> {
        if url == name {
            return Ok(0);
        }
        let keyed_by_url = self
            .db()
            .prepare_cached("SELECT 1 FROM changes WHERE firewall = ?1 LIMIT 1")
            .and_then(|mut stmt| stmt.exists(params![url]))
            .map_err(|e| sql_error("cannot read", &self.location, &e))?;
        if !keyed_by_url {
            return Ok(0);
        }
        // A write: only to a journal found intact (this waits for the check at start, once,
        // for a journal from before firewalls had names).
        self.intact()?;
        self.db()
            .execute(
                "UPDATE changes SET firewall = ?2, address = ?1 WHERE firewall = ?1",
                params![url, name],
            )
            .map_err(|e| format!("the change journal could not be updated: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_that_is_not_a_journal_is_refused_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let text = "not a database, but long enough to have a header page: ".repeat(4);
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Journal::open(&path).err().expect("refused");
        assert!(error.contains("not a database"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "its permissions are left as they were");
    }

    #[test]
    fn the_schema_is_applied_once_and_again_when_the_mark_differs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let mark = |conn: &Connection| -> i32 {
            conn.pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap()
        };
        drop(Journal::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        assert_eq!(mark(&conn), schema_mark());
        // A database from before the mark (or with another schema): a table and a column are
        // missing and the mark differs; opening it creates them again.
        conn.execute_batch(
            "DROP TABLE calls; ALTER TABLE changes DROP COLUMN address; PRAGMA user_version = 0;",
        )
        .unwrap();
        drop(conn);
        let journal = Journal::open(&path).unwrap();
        journal
            .record_call(
                "fw",
                &crate::resilience::CallRecord {
                    tool: "t".into(),
                    outcome: "ok",
                    http_status: Some(200),
                    latency_ms: 1,
                    attempts: 1,
                },
            )
            .unwrap();
        journal.flush_calls().unwrap();
        journal.bind("fw", "https://192.0.2.1");
        let req = json!({});
        let id = journal.record_intent(&intent("fw", &req, None)).unwrap();
        assert_eq!(
            journal.get(id).unwrap().unwrap().address.as_deref(),
            Some("https://192.0.2.1")
        );
        drop(journal);
        let conn = Connection::open(&path).unwrap();
        assert_eq!(mark(&conn), schema_mark());
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM calls", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn intents_outcomes_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let j = Journal::open(&path).unwrap();
        let req = json!({"method": "PATCH"});
        let before = json!({"id": 1, "descr": "a"});
        let id = j
            .record_intent(&Intent {
                firewall: "fw",
                caller: "stdio",
                tool: "pfsense_update_firewall_alias",
                kind: "update",
                model: "FirewallAlias",
                request: &req,
                before: Some(&before),
                inverse: Some(&json!({"kind": "restore_fields"})),
                apply_tool: Some("pfsense_firewall_apply"),
                undo_of: None,
            })
            .unwrap();
        drop(j);
        let j = Journal::open(&path).unwrap();
        assert_eq!(j.intents("fw").unwrap().len(), 1);
        j.record_outcome(
            id,
            status::EXECUTED,
            Some(&json!({"descr": "b"})),
            Some(&json!({"kind": "restore_fields"})),
            Some("SUCCESS"),
            None,
        )
        .unwrap();
        assert!(j.intents("fw").unwrap().is_empty());
        let c = j.get(id).unwrap().unwrap();
        assert!(c.undoable());
        assert_eq!(c.before, Some(before));
        assert_eq!(j.last_undoable("fw", "stdio", 5).unwrap().len(), 1);
        assert!(j.last_undoable("other", "stdio", 5).unwrap().is_empty());
        // Rows keyed by an address move to the firewall's name (with that address), others
        // stay.
        j.bind("prod", "fw");
        assert_eq!(j.adopt("fw", "prod").unwrap(), 1);
        assert_eq!(j.last_undoable("prod", "stdio", 5).unwrap().len(), 1);
        assert!(j.last_undoable("fw", "stdio", 5).unwrap().is_empty());
        assert_eq!(j.adopt("elsewhere", "lab").unwrap(), 0);
    }

    /// A journal of 40 changes of 3 KB each, closed, then a page in its middle overwritten (as
    /// a disk, or a copy taken while it was written, can leave it). Its path and bytes.
    fn damaged_journal(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.join("journal.sqlite");
        let journal = Journal::open(&path).unwrap();
        let req = json!({"descr": "x".repeat(3000)});
        for _ in 0..40 {
            journal.record_intent(&intent("fw", &req, None)).unwrap();
        }
        drop(journal);
        let mut bytes = std::fs::read(&path).unwrap();
        let pages = bytes.len() / 4096;
        assert!(pages >= 20, "{pages} pages");
        let middle = pages / 2 * 4096;
        bytes[middle..middle + 4096].fill(0xA5);
        std::fs::write(&path, &bytes).unwrap();
        (path, bytes)
    }

    /// The page check started at open finds the damage: what relies on the rows is refused
    /// with the file and what to do, and nothing is written to it (call metrics included).
    #[test]
    fn a_journal_with_a_damaged_page_refuses_what_relies_on_it_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (path, bytes) = damaged_journal(dir.path());
        let journal = Journal::open(&path).expect("its first page is intact: it opens");
        let shown = path.display().to_string();
        let said = |e: String| {
            assert!(
                e.contains(&shown) && e.contains("is damaged") && e.contains("move the file aside"),
                "{e}"
            );
        };
        let req = json!({"descr": "after"});
        said(
            journal
                .record_intent(&intent("fw", &req, None))
                .unwrap_err(),
        );
        said(journal.list("fw", 10).unwrap_err());
        said(journal.get(1).unwrap_err());
        said(journal.last_undoable("fw", "stdio", 1).unwrap_err());
        said(journal.intents("fw").unwrap_err());
        said(check_file(&path).unwrap_err());
        let call = crate::resilience::CallRecord {
            tool: "pfsense_list_firewall_aliases".into(),
            outcome: "ok",
            http_status: Some(200),
            latency_ms: 3,
            attempts: 1,
        };
        journal.record_call("fw", &call).unwrap();
        drop(journal);
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "nothing was written to it"
        );
    }

    #[test]
    fn the_file_check_counts_a_healthy_journal_and_knows_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        assert_eq!(check_file(&path).unwrap(), None);
        let journal = Journal::open(&path).unwrap();
        journal.intact().unwrap();
        let req = json!({"descr": "a"});
        journal.record_intent(&intent("fw", &req, None)).unwrap();
        drop(journal);
        let checked = check_file(&path).unwrap().expect("a file");
        assert_eq!(checked.changes, 1);
        assert!(checked.bytes > 0);
        // Read only: the file is as it was.
        let before = std::fs::read(&path).unwrap();
        check_file(&path).unwrap();
        assert!(std::fs::read(&path).unwrap() == before);
    }

    fn intent<'a>(firewall: &'a str, request: &'a Value, undo_of: Option<i64>) -> Intent<'a> {
        Intent {
            firewall,
            caller: "stdio",
            tool: "pfsense_create_firewall_alias",
            kind: "create",
            model: "FirewallAlias",
            request,
            before: None,
            inverse: Some(request),
            apply_tool: None,
            undo_of,
        }
    }

    #[test]
    fn rows_belong_to_a_firewall_by_name_and_address_and_an_undo_claims_its_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.sqlite");
        let req = json!({"kind": "delete_created"});
        // Two servers sharing the journal, each with a firewall named `default`.
        let a = Journal::open(&path).unwrap();
        a.bind("default", "https://192.0.2.1");
        let b = Journal::open(&path).unwrap();
        b.bind("default", "https://192.0.2.2");
        let id = a.record_intent(&intent("default", &req, None)).unwrap();
        a.record_outcome(id, status::EXECUTED, None, Some(&req), None, None)
            .unwrap();
        let change = a.get(id).unwrap().unwrap();
        assert_eq!(change.address.as_deref(), Some("https://192.0.2.1"));
        assert!(a.is_of(&change, "default") && !b.is_of(&change, "default"));
        assert_eq!(a.last_undoable("default", "stdio", 5).unwrap().len(), 1);
        assert!(b.list("default", 5).unwrap().is_empty());
        assert!(b.last_undoable("default", "stdio", 5).unwrap().is_empty());
        assert_eq!((a.elsewhere("default"), b.elsewhere("default")), (0, 1));
        // A row from before addresses were recorded is either's.
        a.db()
            .execute(
                "UPDATE changes SET address = NULL WHERE id = ?1",
                params![id],
            )
            .unwrap();
        assert_eq!(b.list("default", 5).unwrap().len(), 1);
        // The first undo claims the change; another is refused while it runs and after it
        // ran; a failed undo leaves the change to be undone again.
        let first = a.record_intent(&intent("default", &req, Some(id))).unwrap();
        let running = b
            .record_intent(&intent("default", &req, Some(id)))
            .unwrap_err();
        assert!(
            running.contains(&format!("being undone by change {first}")),
            "{running}"
        );
        a.record_outcome(first, status::FAILED, None, None, None, None)
            .unwrap();
        let second = b.record_intent(&intent("default", &req, Some(id))).unwrap();
        b.record_outcome(second, status::EXECUTED, None, None, None, None)
            .unwrap();
        let done = a
            .record_intent(&intent("default", &req, Some(id)))
            .unwrap_err();
        assert!(
            done.contains(&format!("already undone by change {second}")),
            "{done}"
        );
    }

    #[test]
    fn calls_are_recorded_per_firewall_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.sqlite")).unwrap();
        let call = |tool: &str, latency_ms| crate::resilience::CallRecord {
            tool: tool.into(),
            outcome: "ok",
            http_status: Some(200),
            latency_ms,
            attempts: 1,
        };
        j.record_call("fw", &call("a", 5)).unwrap();
        j.record_call("fw", &call("b", 7)).unwrap();
        j.record_call("other", &call("c", 9)).unwrap();
        let rows = j.recent_calls("fw", 0, 100).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].tool, "b");
        assert_eq!(rows[0].http_status, Some(200));
        // Rows older than the retention go at the next prune.
        j.calls_db()
            .execute("UPDATE calls SET ts_ms = 0 WHERE tool = 'a'", [])
            .unwrap();
        j.calls_inserted
            .store(0, std::sync::atomic::Ordering::Relaxed);
        j.record_call("fw", &call("d", 1)).unwrap();
        let tools: Vec<String> = j
            .recent_calls("fw", 0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.tool)
            .collect();
        assert_eq!(tools, ["d", "b"]);
    }

    #[test]
    fn buffered_call_metrics_reach_the_file_when_the_journal_closes_or_the_buffer_fills() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sqlite");
        let call = |tool: &str| crate::resilience::CallRecord {
            tool: tool.into(),
            outcome: "ok",
            http_status: Some(200),
            latency_ms: 1,
            attempts: 1,
        };
        let j = Journal::open(&path).unwrap();
        // Calls stay buffered until the check of the pages started at open is done.
        j.intact().unwrap();
        for i in 0..CALLS_FLUSH_EVERY + 3 {
            j.record_call("fw", &call(&format!("t{i}"))).unwrap();
        }
        // Another process (a second journal on the file) sees the full batch already.
        let other = Journal::open(&path).unwrap();
        assert_eq!(
            other.recent_calls("fw", 0, 1000).unwrap().len(),
            CALLS_FLUSH_EVERY
        );
        drop(j);
        assert_eq!(
            other.recent_calls("fw", 0, 1000).unwrap().len(),
            CALLS_FLUSH_EVERY + 3
        );
    }
}
