//! The change journal (SQLite): for every executed mutation, the state before it, the inverse
//! operation, and what happened. Write-ahead: the intent (with the before-state) is stored
//! before the request goes out and the outcome after it comes back, so a process killed in
//! between leaves an `intent` row that the next start settles (`reconcile` in `undo.rs`). Rows
//! name the process that wrote them (`owners.rs`): those of another server sharing the journal
//! that still runs are its changes in flight, left to it.
//!
//! Nothing secret is stored: requests are redacted, and the firewall never returns secret
//! fields in the states we read.

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
        let cannot =
            |e: rusqlite::Error| format!("cannot prepare the change journal {location}: {e}");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(cannot)?;
        // Before anything is written to it: a database of something else is left as it was.
        if let Some(problem) = foreign_schema(&conn).map_err(cannot)? {
            return Err(format!(
                "the change journal {location} is not a journal of pfsense-mcp: {problem}. Nothing was changed in it; give --journal / PFSENSE_JOURNAL a new file (or `memory`)"
            ));
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
        })
    }

    pub fn location(&self) -> &str {
        &self.location
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
        let failed =
            |e: rusqlite::Error| format!("the change journal could not record the intent: {e}");
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
        self.query(
            &format!("SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} ORDER BY id DESC LIMIT ?3"),
            &[&firewall, &self.address_of(firewall), &limit],
        )
    }

    /// Rows a killed process left behind.
    pub fn intents(&self, firewall: &str) -> Result<Vec<Change>, String> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND status = ?3 ORDER BY id"
            ),
            &[&firewall, &self.address_of(firewall), &status::INTENT],
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
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM changes WHERE {OF_FIREWALL} AND status = ?3 AND inverse IS NOT NULL AND undone_by IS NULL AND undo_of IS NULL AND caller = ?5 ORDER BY id DESC LIMIT ?4"
            ),
            &[&firewall, &self.address_of(firewall), &status::EXECUTED, &n, &caller],
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
        if full {
            self.flush_calls()?;
        }
        Ok(())
    }

    /// Write the buffered calls in one transaction.
    pub fn flush_calls(&self) -> Result<(), String> {
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

    /// Rows an older version keyed by the firewall's URL (before firewalls had names) move to
    /// its name, so undo, auto-revert and the settling at start still find them. Returns how
    /// many rows moved.
    pub fn adopt(&self, url: &str, name: &str) -> Result<usize, String> {
        if url == name {
            return Ok(0);
        }
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
