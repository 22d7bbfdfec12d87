//! The guards around every change: audit log, previews with diffs and fingerprints, human
//! confirmation, rate limits, the change journal with undo, and auto-revert. `server.rs`
//! hands each generated tool call to [`Safety`]; `crates/pfsense-mcp/README.md` ("Safety")
//! says what each guard does and does not do.

pub mod audit;
pub mod dry_run;
pub mod elicit;
pub mod flow;
pub mod glob;
pub mod journal;
pub mod meta;
pub mod owners;
pub mod private;
pub mod ratelimit;
pub mod revert;
pub mod secrets;
pub mod serial;
pub mod sorted;
pub mod state;
pub mod time;
pub mod undo;

use crate::client::Client;
use crate::spec::Module;
use audit::{AuditLog, Entry};
use elicit::ConfirmMode;
use journal::Journal;
use ratelimit::{RateLimiter, RateLimits};
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Modules whose changes become provisional under `--auto-revert`: rules and NAT (firewall),
/// interfaces, routing — the changes that can cut connectivity.
pub const AUTO_REVERT_MODULES: &[Module] = &[Module::Firewall, Module::Interface, Module::Routing];

/// Where the journal lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalLocation {
    File(PathBuf),
    /// Kept in memory only (sandbox default): lost at exit, like the sandbox's state.
    Memory,
}

/// Safety settings (from the command line).
#[derive(Debug, Clone)]
pub struct SafetyOptions {
    /// None: no audit file (the sandbox default, or when no state directory exists).
    pub audit_log: Option<PathBuf>,
    pub journal: JournalLocation,
    pub confirm: ConfirmMode,
    pub rate_limits: RateLimits,
    /// `--auto-revert SECONDS`.
    pub auto_revert: Option<Duration>,
    /// `--lockout-source IP`: this server's address as the firewall sees it; confirmed changes
    /// that would block its path to the API are refused (see `crate::lockout`).
    pub lockout_source: Option<std::net::IpAddr>,
}

impl Default for SafetyOptions {
    fn default() -> Self {
        SafetyOptions {
            audit_log: None,
            journal: JournalLocation::Memory,
            confirm: ConfirmMode::default(),
            rate_limits: RateLimits::default(),
            auto_revert: None,
            lockout_source: None,
        }
    }
}

/// The default directory for the audit log and the journal:
/// `$XDG_STATE_HOME/pfsense-mcp`, else `$HOME/.local/state/pfsense-mcp`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("pfsense-mcp"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".local/state/pfsense-mcp"))
}

/// A fingerprint a preview handed out, with what it was computed from, so that a refused
/// `expect_state` can say what changed (and whether the id now points at another object).
#[derive(Debug, Clone)]
struct IssuedPreview {
    fingerprint: String,
    tool: String,
    state: Value,
}

/// How many issued previews are remembered for better refusal messages.
const REMEMBERED_PREVIEWS: usize = 256;

/// The running guards of one server, shared by its firewalls: one audit log and one journal
/// whose rows carry the firewall's name.
pub struct Safety {
    pub options: SafetyOptions,
    pub audit: Option<AuditLog>,
    pub journal: Journal,
    pub limiter: RateLimiter,
    previews: Mutex<VecDeque<IssuedPreview>>,
    /// Confirmed changes run one at a time per firewall and collection.
    pub serial: serial::Serialiser,
    /// Per firewall name: whether its leftover journal rows were settled in this process.
    settled: Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<()>>>>,
}

impl Safety {
    pub fn open(options: SafetyOptions) -> Result<Safety, String> {
        let audit = match &options.audit_log {
            Some(p) => Some(AuditLog::open(p).map_err(|e| e.to_string())?),
            None => None,
        };
        let journal = match &options.journal {
            JournalLocation::File(p) => Journal::open(p)?,
            JournalLocation::Memory => Journal::in_memory()?,
        };
        Ok(Safety {
            limiter: RateLimiter::new(options.rate_limits.clone()),
            options,
            audit,
            journal,
            previews: Mutex::new(VecDeque::new()),
            serial: serial::Serialiser::default(),
            settled: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Audit a line whose loss must not stop the call (previews, refusals, outcomes): a
    /// failure is logged to stderr.
    pub fn record(&self, entry: &Entry) {
        if let Some(a) = &self.audit
            && let Err(e) = a.append(entry)
        {
            tracing::error!(error = %e, outcome = entry.outcome.as_str(), "audit line lost");
        }
    }

    /// A read's line, from a task: written before it returns, synced within a second (a
    /// read changes nothing, so it does not wait for the disk; see `audit`'s module docs).
    pub async fn record_read(&self, entry: &Entry) {
        if let Some(a) = &self.audit
            && let Err(e) = a.append_read(entry).await
        {
            tracing::error!(error = %e, outcome = entry.outcome.as_str(), "audit line lost");
        }
    }

    /// Write-ahead: the attempt line of a change, synced to disk before the request goes out.
    /// The caller refuses the change when this fails.
    pub fn record_attempt(&self, entry: &Entry) -> Result<(), audit::AuditError> {
        match &self.audit {
            Some(a) => a.append(entry),
            None => Ok(()),
        }
    }

    fn remember_preview(&self, fingerprint: &str, tool: &str, state: &Value) {
        let mut p = self.previews.lock().unwrap_or_else(|e| e.into_inner());
        if p.iter()
            .any(|x| x.fingerprint == fingerprint && x.tool == tool)
        {
            return;
        }
        if p.len() >= REMEMBERED_PREVIEWS {
            p.pop_front();
        }
        p.push_back(IssuedPreview {
            fingerprint: fingerprint.to_string(),
            tool: tool.to_string(),
            state: state.clone(),
        });
    }

    fn issued_state(&self, fingerprint: &str) -> Option<Value> {
        let p = self.previews.lock().unwrap_or_else(|e| e.into_inner());
        p.iter()
            .rev()
            .find(|x| x.fingerprint == fingerprint)
            .map(|x| x.state.clone())
    }

    /// Settle journal rows a killed process left (once per firewall and process, before its
    /// first change).
    #[inline(never)]
    pub fn settle<'a>(
        &'a self,
        client: &'a Client,
        firewall: &'a str,
    ) -> futures::future::BoxFuture<'a, ()> {
        // Boxed once here (lib.rs, "One copy of a big future"): awaited before every change and at start.
        Box::pin(self.settle_unboxed(client, firewall))
    }

    async fn settle_unboxed(&self, client: &Client, firewall: &str) {
        // The check of the journal's pages, started when it opened: waited for here, off the
        // runtime's thread, so that the journal's calls below and in the caller find its
        // verdict in (a damaged journal then refuses them, saying so).
        let _ = self.journal.checked().await;
        let once = self
            .settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(firewall.to_string())
            .or_default()
            .clone();
        once.get_or_init(|| async {
            revert::reconcile_all(self, client, firewall).await;
        })
        .await;
    }
}

/// Start the background work once the firewall is reachable: settle the journal, then run
/// the auto-revert clock (when enabled).
pub fn spawn_background(
    safety: Arc<Safety>,
    client: futures::future::BoxFuture<'static, Result<Arc<Client>, String>>,
    firewall: String,
    policy: crate::policy::Policy,
) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    tokio::spawn(async move {
        let Ok(client) = client.await else {
            return;
        };
        safety.settle(&client, &firewall).await;
        if safety.options.auto_revert.is_some() {
            revert::run_clock(safety, client, firewall, policy).await;
        }
    });
}
