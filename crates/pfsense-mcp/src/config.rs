//! Command line and environment.

use crate::client::{AuthMethod, ClientConfig};
use crate::secret::Secret;
use crate::server::Policy;
use crate::spec::Module;
use crate::tls::{TlsMode, parse_fingerprint};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Environment variables mirror the flags (flags win). PFSENSE_URL is accepted as another name for
PFSENSE_HOST. Secrets (API key, password) are best given through the environment, not flags,
so they do not show up in process listings.

Examples:
  pfsense-mcp --sandbox                      (no firewall needed)
  PFSENSE_HOST=https://192.168.1.1 PFSENSE_API_KEY=… pfsense-mcp
  pfsense-mcp --read-only --modules firewall,status
  PFSENSE_MCP_TOKEN=$(openssl rand -hex 32) pfsense-mcp --sandbox --http 127.0.0.1:8787
  pfsense-mcp --config ~/.config/pfsense-mcp/config.toml   (several named firewalls)
  pfsense-mcp tools --module firewall
  pfsense-mcp tools --json > tools.json";

/// An MCP server for pfSense firewalls: one typed tool per REST API v2 operation, with previews
/// and confirmation for every change. Serves MCP over stdio (stdout carries the protocol; logs
/// go to stderr), or over streamable HTTP with --http.
#[derive(Debug, Parser)]
#[command(name = "pfsense-mcp", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub safety: SafetyArgs,
    #[command(flatten)]
    pub http: crate::http::HttpArgs,
    /// Several named firewalls from a TOML file, each with its own credentials source and
    /// policy (see the README, "Several firewalls"). Default:
    /// $XDG_CONFIG_HOME/pfsense-mcp/config.toml (or ~/.config/…) when it exists and no
    /// PFSENSE_HOST is given. Without one, the flags and environment make one firewall named
    /// `default`.
    #[arg(long, env = "PFSENSE_MCP_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Try the server with no firewall: start an in-memory pfSense REST API emulator on
    /// 127.0.0.1 with fresh default state and talk to it. Nothing real is touched.
    #[arg(long, env = "PFSENSE_SANDBOX")]
    pub sandbox: bool,
    /// Tools per tools/list page (clients follow nextCursor for the rest).
    #[arg(long, env = "PFSENSE_PAGE_SIZE", default_value_t = 256, global = true)]
    pub page_size: usize,
    /// Which tools tools/list shows. `compact` (the default) lists the daily core tools plus
    /// pfsense_find_tools / pfsense_describe_tool / pfsense_call for everything else (about 5k
    /// tokens: fits every client). `full` lists every generated tool (about 107k tokens: for
    /// clients that search their tools themselves, such as Claude Code).
    #[arg(long, env = "PFSENSE_TOOL_MODE", value_enum, default_value_t = crate::discovery::ToolMode::Compact, global = true)]
    pub tool_mode: crate::discovery::ToolMode,
    /// Largest tool result in tokens; larger results are cut with a note on how to narrow them
    /// (Claude Code refuses results over 25,000 tokens by default).
    #[arg(long, env = "PFSENSE_RESULT_BUDGET", default_value_t = crate::bounds::DEFAULT_BUDGET_TOKENS, global = true)]
    pub result_budget: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (the default), or over HTTP with --http.
    Serve,
    /// Print the generated tool catalogue.
    Tools(ToolsArgs),
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the way to the firewall step by step: name resolution, TCP, TLS (prints the
    /// certificate's SHA-256 to pin), the REST API (installed, enabled, access list),
    /// authentication (which methods work), privileges, auth_methods, read-only mode, and the
    /// REST API version against the spec the tools were built from. Says what to fix for each
    /// failure; exits non-zero when a check fails. Changes nothing on the firewall.
    /// Checks PFSENSE_HOST when it is set, else every firewall of the config file.
    Doctor {
        /// Only this firewall of the config file.
        #[arg(long, value_name = "NAME")]
        firewall: Option<String>,
    },
    /// Audit the firewall's security configuration (58 checks with DISA, NIST, BSI and Netgate
    /// references; compliant / non-compliant / unknown). Sends only reads. Put --sandbox or the
    /// connection flags before the subcommand.
    SecurityAudit(crate::security_audit::SecurityAuditArgs),
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Print JSON: every tool's name, verb, module, risk, method, path, apply tool,
    /// description, input schema and annotations.
    #[arg(long)]
    pub json: bool,
    /// Print counts by verb and by module instead of the list.
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
    /// Only this module (repeatable).
    #[arg(long = "module", value_name = "MODULE")]
    pub module: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Firewall address, e.g. https://192.168.1.1 or https://fw.example.net:8443.
    #[arg(long, env = "PFSENSE_HOST", global = true)]
    pub host: Option<String>,
    /// REST API key (sent as X-API-Key).
    #[arg(long, env = "PFSENSE_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<Secret>,
    /// pfSense user for Basic or JWT authentication (and for Basic-only operations).
    #[arg(long, env = "PFSENSE_USERNAME", global = true)]
    pub username: Option<String>,
    /// Password of that user.
    #[arg(long, env = "PFSENSE_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<Secret>,
    /// Authentication method. Default: key when an API key is set, else basic.
    #[arg(long, env = "PFSENSE_AUTH", value_enum, global = true)]
    pub auth: Option<AuthMethod>,
    /// Verify the firewall's TLS certificate (false is the same as --insecure).
    #[arg(long, env = "PFSENSE_VERIFY_SSL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub verify_ssl: bool,
    /// Trust only this CA (PEM file) for the firewall's certificate.
    #[arg(long, env = "PFSENSE_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Pin the firewall's certificate by its SHA-256, e.g. sha256:ab12… (the way to trust
    /// pfSense's self-signed certificate without turning verification off).
    #[arg(long, env = "PFSENSE_TLS_FINGERPRINT", global = true)]
    pub tls_fingerprint: Option<String>,
    /// Do not verify the firewall's certificate at all.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Seconds before a request to the firewall is abandoned. Once enough answers were
    /// measured, ordinary operations get less: 4 × the p99 latency, at least 10 s. Package
    /// installs, applies, state table clears and other known-slow operations get their own
    /// longer timeout (60-120 s).
    #[arg(long, env = "PFSENSE_TIMEOUT", default_value_t = 30, global = true)]
    pub timeout: u64,
    /// Seconds within which failed reads are retried (connection errors, 502, 503 honouring
    /// Retry-After, 504; jittered exponential backoff). Writes are retried only when the
    /// failure proves nothing ran. 0 turns retries off.
    #[arg(long, env = "PFSENSE_RETRY_BUDGET", value_name = "SECONDS", default_value_t = crate::resilience::DEFAULT_RETRY_BUDGET_SECS, global = true)]
    pub retry_budget: u64,
    /// Consecutive failed calls (connection errors, timeouts, 5xx) after which the circuit
    /// breaker opens and calls fail fast. 0 turns the breaker off.
    #[arg(long, env = "PFSENSE_BREAKER_THRESHOLD", value_name = "CALLS", default_value_t = crate::resilience::DEFAULT_BREAKER_THRESHOLD, global = true)]
    pub breaker_threshold: u32,
    /// Seconds an open circuit breaker fails calls fast before it lets one probe request
    /// through (success closes it, failure opens it again).
    #[arg(long, env = "PFSENSE_BREAKER_COOLDOWN", value_name = "SECONDS", default_value_t = crate::resilience::DEFAULT_BREAKER_COOLDOWN_SECS, global = true)]
    pub breaker_cooldown: u64,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Offer only reading tools (every non-GET tool is hidden).
    #[arg(long, env = "PFSENSE_READ_ONLY", global = true)]
    pub read_only: bool,
    /// Offer the dangerous tools: halt, reboot, shell commands, GraphQL, bulk clears of the
    /// ARP table, states and config history, REST API reinstall.
    #[arg(long, env = "PFSENSE_ALLOW_DANGEROUS", global = true)]
    pub allow_dangerous: bool,
    /// Offer only these modules (comma-separated): firewall, interface, routing,
    /// vpn_wireguard, vpn_openvpn, vpn_ipsec, services_dhcp, services_dns_resolver,
    /// services_dns_forwarder, services_haproxy, services_bind, services_freeradius,
    /// services_acme, services_misc, system, status, diagnostics, user, auth.
    #[arg(long, env = "PFSENSE_MODULES", value_delimiter = ',', global = true)]
    pub modules: Vec<String>,
    /// Offer only tools whose name matches one of these globs (comma-separated; `*` any run
    /// of characters, `?` one), e.g. `pfsense_list_*,pfsense_*_firewall_alias*`.
    #[arg(long, env = "PFSENSE_ALLOW", value_delimiter = ',', global = true)]
    pub allow: Vec<String>,
    /// Never offer tools whose name matches one of these globs (comma-separated); wins over
    /// everything else, e.g. `pfsense_delete_*,pfsense_replace_*`.
    #[arg(long, env = "PFSENSE_DENY", value_delimiter = ',', global = true)]
    pub deny: Vec<String>,
}

pub fn parse_modules(names: &[String]) -> Result<Option<Vec<Module>>, String> {
    let names: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for n in names {
        match Module::parse(n) {
            Some(m) => out.push(m),
            None => {
                let all: Vec<&str> = Module::ALL.iter().map(|m| m.as_str()).collect();
                return Err(format!(
                    "unknown module `{n}`; modules are: {}",
                    all.join(", ")
                ));
            }
        }
    }
    Ok(Some(out))
}

impl PolicyArgs {
    pub fn policy(&self) -> Result<Policy, String> {
        Policy {
            read_only: self.read_only,
            allow_dangerous: self.allow_dangerous,
            modules: parse_modules(&self.modules)?,
            allow: clean_patterns(&self.allow),
            deny: clean_patterns(&self.deny),
            ..Policy::default()
        }
        .checked()
    }
}

pub fn clean_patterns(patterns: &[String]) -> Vec<String> {
    patterns
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

// ---- Safety (issue 5): audit log, journal, confirmation, rate limits, auto-revert ----

/// Where the audit log and journal go, how changes are confirmed, rate limits, auto-revert.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Audit log file (JSON Lines, hash-chained; check it with `pfsense-mcp audit verify FILE`).
    /// Default: $XDG_STATE_HOME/pfsense-mcp/audit.jsonl (or ~/.local/state/…); none in
    /// --sandbox unless given. `off` disables it.
    #[arg(long, env = "PFSENSE_AUDIT_LOG", global = true)]
    pub audit_log: Option<PathBuf>,
    /// Change journal (SQLite) for pfsense_undo and auto-revert. Default:
    /// $XDG_STATE_HOME/pfsense-mcp/journal.sqlite (or ~/.local/state/…); in memory in
    /// --sandbox unless given. `memory` keeps it in memory only.
    #[arg(long, env = "PFSENSE_JOURNAL", global = true)]
    pub journal: Option<PathBuf>,
    /// How destructive and dangerous changes are confirmed: `elicit` asks the human through
    /// MCP elicitation and falls back to `confirm: true` when the client cannot ask;
    /// `elicit-required` refuses them when the client cannot ask; `flag` never asks.
    #[arg(
        long = "confirm",
        env = "PFSENSE_CONFIRM",
        value_enum,
        default_value = "elicit",
        global = true
    )]
    pub confirm_mode: crate::safety::elicit::ConfirmMode,
    /// Rate limits on executed changes per risk class, comma-separated RISK=COUNT/PERIOD
    /// (PERIOD: s, min, hour, day, or seconds; COUNT `off` for none). Defaults:
    /// write=30/min, destructive=10/min, dangerous=3/hour. Previews and refusals are free.
    #[arg(
        long = "rate-limit",
        env = "PFSENSE_RATE_LIMITS",
        value_delimiter = ',',
        global = true
    )]
    pub rate_limits: Vec<String>,
    /// Make changes to rules, NAT, interfaces and routing provisional: unless
    /// pfsense_confirm_changes is called within SECONDS, the server undoes them. Protects
    /// against bad changes while the API stays reachable, not against a lockout.
    #[arg(
        long,
        env = "PFSENSE_AUTO_REVERT",
        value_name = "SECONDS",
        global = true
    )]
    pub auto_revert: Option<u64>,
}

/// `pfsense-mcp audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of an audit log: finds any edited, removed or reordered line.
    /// Prints the number of entries and the last hash (keep it to detect a cut-off tail).
    Verify {
        /// The audit log file.
        file: PathBuf,
    },
}

impl SafetyArgs {
    /// The safety settings; `sandbox` changes the defaults (nothing written to disk).
    pub fn options(&self, sandbox: bool) -> Result<crate::safety::SafetyOptions, String> {
        use crate::safety::{JournalLocation, default_state_dir};
        let state_dir = default_state_dir();
        let audit_log = match &self.audit_log {
            Some(p) if p.as_os_str() == "off" => None,
            Some(p) => Some(p.clone()),
            None if sandbox => None,
            None => state_dir.as_ref().map(|d| d.join("audit.jsonl")),
        };
        let journal = match &self.journal {
            Some(p) if p.as_os_str() == "memory" => JournalLocation::Memory,
            Some(p) => JournalLocation::File(p.clone()),
            None if sandbox => JournalLocation::Memory,
            None => match &state_dir {
                Some(d) => JournalLocation::File(d.join("journal.sqlite")),
                None => JournalLocation::Memory,
            },
        };
        if !sandbox && state_dir.is_none() && (self.audit_log.is_none() || self.journal.is_none()) {
            tracing::warn!(
                "no state directory (neither XDG_STATE_HOME nor HOME is set): the audit log is off and the journal is kept in memory unless --audit-log / --journal are given"
            );
        }
        let mut rate_limits = crate::safety::ratelimit::RateLimits::default();
        for spec in self.rate_limits.iter().filter(|s| !s.trim().is_empty()) {
            rate_limits.set(spec)?;
        }
        let auto_revert = match self.auto_revert {
            Some(0) => return Err("--auto-revert must be at least 1 second".into()),
            Some(s) => Some(Duration::from_secs(s)),
            None => None,
        };
        Ok(crate::safety::SafetyOptions {
            audit_log,
            journal,
            confirm: self.confirm_mode,
            rate_limits,
            auto_revert,
        })
    }
}

impl ConnectionArgs {
    /// The firewall URL from --host, PFSENSE_HOST or PFSENSE_URL.
    pub fn host(&self) -> Option<String> {
        self.host
            .clone()
            .or_else(|| std::env::var("PFSENSE_URL").ok())
            .filter(|h| !h.trim().is_empty())
    }

    pub fn tls_mode(&self) -> Result<TlsMode, String> {
        if let Some(fp) = &self.tls_fingerprint {
            return Ok(TlsMode::Pinned(parse_fingerprint(fp)?));
        }
        if self.insecure || !self.verify_ssl {
            return Ok(TlsMode::Insecure);
        }
        Ok(TlsMode::Verify {
            ca_file: self.ca_cert.clone(),
        })
    }

    /// The firewall's base URL (`https://host[:port]/`) from --host / PFSENSE_HOST.
    pub fn base_url(&self) -> Result<url::Url, String> {
        let host = self.host().ok_or(
            "no firewall configured: set PFSENSE_HOST to its address (e.g. https://192.168.1.1) and PFSENSE_API_KEY, or pass --host",
        )?;
        let base_url = parse_base_url(&host, "PFSENSE_HOST")?;
        Ok(base_url)
    }

    /// What `doctor` checks: the address and whatever credentials are set (none is fine).
    pub fn doctor_target(&self) -> Result<crate::doctor::Target, String> {
        let auth = match self.auth {
            Some(a) => Some(a),
            None if self.api_key.is_some() => Some(AuthMethod::Key),
            None if self.username.is_some() && self.password.is_some() => Some(AuthMethod::Basic),
            None => None,
        };
        Ok(crate::doctor::Target {
            base_url: self.base_url()?,
            tls: self.tls_mode()?,
            auth,
            api_key: self.api_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            timeout: Duration::from_secs(self.timeout.clamp(1, 10)),
        })
    }

    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let base_url = self.base_url()?;
        let auth = match self.auth {
            Some(a) => a,
            None if self.api_key.is_some() => AuthMethod::Key,
            None if self.username.is_some() && self.password.is_some() => AuthMethod::Basic,
            None => {
                return Err(
                    "no credentials: set PFSENSE_API_KEY, or PFSENSE_USERNAME and PFSENSE_PASSWORD"
                        .into(),
                );
            }
        };
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        Ok(ClientConfig {
            base_url,
            auth,
            api_key: self.api_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            tls: self.tls_mode()?,
            timeout: Duration::from_secs(self.timeout),
            connect_timeout: Duration::from_secs(self.timeout.min(10)),
            resilience: self.resilience()?,
        })
    }

    /// Retry budget and circuit breaker settings.
    pub fn resilience(&self) -> Result<crate::resilience::ResilienceOptions, String> {
        if self.breaker_threshold > 0 && self.breaker_cooldown == 0 {
            return Err("--breaker-cooldown must be at least 1 second (or turn the breaker off with --breaker-threshold 0)".into());
        }
        Ok(crate::resilience::ResilienceOptions {
            retry_budget: Duration::from_secs(self.retry_budget),
            breaker_threshold: self.breaker_threshold,
            breaker_cooldown: Duration::from_secs(self.breaker_cooldown),
        })
    }
}

/// The firewall's base URL (`https://host[:port]/`) from what a person wrote; `setting` names
/// where it was written, for the error.
pub fn parse_base_url(host: &str, setting: &str) -> Result<url::Url, String> {
    let with_scheme = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    let mut base_url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("{setting} `{host}` is not a URL: {e}"))?;
    if base_url.scheme() != "https" && base_url.scheme() != "http" {
        return Err(format!(
            "{setting} `{host}` must start with https:// (or http://)"
        ));
    }
    if base_url.host_str().is_none() {
        return Err(format!("{setting} `{host}` has no host name"));
    }
    base_url.set_path("/");
    base_url.set_query(None);
    Ok(base_url)
}
