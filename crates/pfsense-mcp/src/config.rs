//! Command line and environment.

use crate::client::{AuthMethod, ClientConfig};
use crate::secret::Secret;
use crate::server::Policy;
use crate::spec::Module;
use crate::tls::{TlsMode, parse_fingerprint};
use clap::builder::BoolishValueParser;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Flags may come before or after the subcommand. Environment variables mirror the flags (flags
win): PFSENSE_ and the flag's name, e.g. PFSENSE_READ_ONLY=1 for --read-only; booleans accept
true/false, 1/0, yes/no, on/off in any case. PFSENSE_URL is accepted as another name for
PFSENSE_HOST. Secrets (API key, password) are best given through the environment, not flags,
so they do not show up in process listings.

Without a subcommand the server waits for an MCP client on stdin/stdout: run it from an MCP
client (Claude Code: claude mcp add -s user pfsense -- pfsense-mcp --sandbox), not by hand.

Exit status: 0 success; 1 the server stopped with an error; 2 bad flag, environment variable
or config file; 3 doctor found a failing check (a bad config file among them: doctor reports
it and goes on); 4 audit verify found the log not intact.

Examples:
  pfsense-mcp --sandbox                      (no firewall needed)
  PFSENSE_HOST=https://192.168.1.1 PFSENSE_API_KEY=… pfsense-mcp
  pfsense-mcp --read-only --modules firewall,status
  PFSENSE_HTTP_TOKEN=$(openssl rand -hex 32) pfsense-mcp --sandbox --http 127.0.0.1:8787
  pfsense-mcp --config ~/.config/pfsense-mcp/config.toml   (several named firewalls)
  pfsense-mcp doctor --sandbox
  pfsense-mcp tools --module firewall
  pfsense-mcp tools --json > tools.json";

/// The longest timeout, retry budget or breaker cooldown (a day): beyond it a deadline no
/// longer fits the clock's range, and no wait that long is meant.
pub const MAX_SECONDS: u64 = 86_400;

/// The longest `--auto-revert` (a week).
pub const MAX_AUTO_REVERT_SECONDS: u64 = 7 * 86_400;

/// An MCP server for pfSense firewalls: one typed tool per REST API v2 operation, with previews
/// and confirmation for every change. Serves MCP over stdio (stdout carries the protocol; logs
/// go to stderr), or over streamable HTTP with --http.
#[derive(Debug, Parser)]
#[command(name = "pfsense-mcp", about, long_about = None, after_help = AFTER_HELP, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a subcommand: serve.
    #[command(flatten)]
    pub serve: ServeArgs,
}

// Everything the server uses (no subcommand, or `serve`).
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub safety: SafetyArgs,
    #[command(flatten)]
    pub http: crate::http::HttpArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Tools per tools/list page, 1 to 10000 (clients follow nextCursor for the rest).
    #[arg(
        long,
        env = "PFSENSE_PAGE_SIZE",
        default_value_t = 256,
        value_parser = clap::value_parser!(u64).range(1..=10_000)
    )]
    pub page_size: u64,
    /// Which tools tools/list shows. `compact` (the default) lists the daily core tools plus
    /// pfsense_find_tools / pfsense_describe_tool / pfsense_call for everything else (about 5k
    /// tokens: fits every client). `full` lists every generated tool (about 100k tokens: for
    /// clients that search their tools themselves, such as Claude Code).
    #[arg(long, env = "PFSENSE_TOOL_MODE", value_enum, ignore_case = true, default_value_t = crate::discovery::ToolMode::Compact)]
    pub tool_mode: crate::discovery::ToolMode,
    /// Largest tool result in tokens, at least 1000; larger results are cut with a note on how
    /// to narrow them (Claude Code refuses results over 25,000 tokens by default).
    #[arg(
        long,
        env = "PFSENSE_RESULT_BUDGET",
        default_value_t = crate::bounds::DEFAULT_BUDGET_TOKENS as u64,
        value_parser = clap::value_parser!(u64).range(1000..)
    )]
    pub result_budget: u64,
}

// Which firewall(s): the sandbox, a config file, or the connection flags.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Several named firewalls from a TOML file, each with its own credentials source and
    /// policy (see the README, "Several firewalls"). Default:
    /// $XDG_CONFIG_HOME/pfsense-mcp/config.toml (or ~/.config/…) when it exists and no
    /// PFSENSE_HOST is given. Without one, the flags and environment make one firewall named
    /// `default`.
    #[arg(long, env = "PFSENSE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Try it with no firewall: start an in-memory pfSense REST API emulator on 127.0.0.1
    /// with fresh default state and talk to it. Nothing real is touched.
    #[arg(long, env = "PFSENSE_SANDBOX", value_parser = BoolishValueParser::new())]
    pub sandbox: bool,
}

// `defer`: a start without a subcommand (how MCP clients start the server) does not define
// the subcommands' arguments (see `parse_from`). The `Args` structs flattened into them carry
// no doc comment (a plain comment instead): a deferred flatten would put it over the
// subcommand's description.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Serve MCP over stdio (the default), or over HTTP with --http.
    Serve(Box<ServeArgs>),
    /// Print the generated tool catalogue.
    Tools(ToolsArgs),
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the way to the firewall step by step: name resolution, TCP, TLS (prints the
    /// certificate's SHA-256 to pin), the REST API (installed, enabled, access list),
    /// authentication (which methods work), privileges, auth_methods, read-only mode, the
    /// REST API version against the spec the tools were built from, and with --lockout-source
    /// how the lockout guard reads this server's path (the interface it comes in on, the rule
    /// that passes it, or why it cannot judge it). Then the settings only
    /// serving uses, as a start checks them: --http (address, tokens, TLS), the audit log and
    /// journal (writable, not one file, the journal's pages), the policy (--modules, --allow,
    /// --deny), rate limits, retries. Says what to fix for each failure; exits 3 when a check
    /// fails. Changes nothing on the firewall, and serves nothing (takes the server's flags).
    /// Checks PFSENSE_HOST when it is set, else every firewall of the config file; with
    /// --sandbox, the sandbox emulator.
    Doctor(Box<DoctorArgs>),
    /// Shell completions and the man page, for packagers (`cargo xtask dist` writes them).
    #[command(hide = true)]
    Generate {
        #[arg(value_enum)]
        what: Generated,
        /// With `man-pages`: the directory to write every page into (the main page and the
        /// pages it lists, such as pfsense-mcp-doctor.1).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Audit the firewall's security configuration (58 checks with DISA, NIST, BSI and Netgate
    /// references; compliant / non-compliant / unknown). Sends only reads; works with --sandbox.
    SecurityAudit(crate::security_audit::SecurityAuditArgs),
}

/// What `pfsense-mcp generate` prints.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Generated {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
    /// The main man page, on stdout.
    Man,
    /// Every man page (the main one and each subcommand's), written into --dir.
    ManPages,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Only this firewall of the config file.
    #[arg(long, value_name = "NAME")]
    pub firewall: Option<String>,
    // Every flag of the server: the doctor checks what a start with them would (the firewall,
    // and the settings only serving uses: --http, the audit log and journal, the policy, rate
    // limits), so that a server's command line can be checked as it is.
    #[command(flatten)]
    pub serve: ServeArgs,
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
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Accepted so that a server command line can be reused: the sandbox offers the same
    /// catalogue.
    #[arg(long, env = "PFSENSE_SANDBOX", value_parser = BoolishValueParser::new(), hide = true)]
    pub sandbox: bool,
}

/// Environment variables renamed to follow the `PFSENSE_<FLAG>` rule: (old, new). The old
/// name is still read when the new one is not set, with a warning on stderr.
pub const RENAMED_ENV: &[(&str, &str)] = &[
    ("PFSENSE_MCP_CONFIG", "PFSENSE_CONFIG"),
    ("PFSENSE_RATE_LIMITS", "PFSENSE_RATE_LIMIT"),
    ("PFSENSE_MCP_HTTP", "PFSENSE_HTTP"),
    ("PFSENSE_MCP_TOKENS_FILE", "PFSENSE_TOKENS_FILE"),
    ("PFSENSE_MCP_ALLOWED_HOSTS", "PFSENSE_ALLOWED_HOST"),
    ("PFSENSE_MCP_ALLOWED_ORIGINS", "PFSENSE_ALLOWED_ORIGIN"),
    ("PFSENSE_MCP_TLS_CERT", "PFSENSE_TLS_CERT"),
    ("PFSENSE_MCP_TLS_KEY", "PFSENSE_TLS_KEY"),
    ("PFSENSE_MCP_MAX_BODY_BYTES", "PFSENSE_MAX_BODY_BYTES"),
    ("PFSENSE_MCP_TOKEN", "PFSENSE_HTTP_TOKEN"),
    ("PFSENSE_MCP_LOG", "PFSENSE_LOG"),
];

/// The value of a variable that may still be set under its old name (see [`RENAMED_ENV`]).
pub fn env_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let (old, _) = RENAMED_ENV.iter().find(|(_, new)| *new == name)?;
    std::env::var(old).ok()
}

/// Why the command failed; decides the exit status (see `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server stopped with an error.
    Runtime = 1,
    /// A bad flag, environment variable or config file.
    Usage = 2,
    /// `doctor` found a failing check.
    CheckFailed = 3,
    /// `audit verify` found the log not intact.
    AuditBroken = 4,
}

/// A failure with its message.
#[derive(Debug)]
pub struct CliError {
    pub failure: Failure,
    pub message: String,
}

impl CliError {
    pub fn new(failure: Failure, message: impl Into<String>) -> Self {
        CliError {
            failure,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(Failure::Usage, message)
    }
}

/// The command line as clap sees it, with the version naming the spec the tools were built
/// from and the old names of renamed variables read where the new ones are not set.
pub fn command() -> clap::Command {
    let version = format!(
        "{} (tools built from the pfSense REST API {} spec)",
        env!("CARGO_PKG_VERSION"),
        crate::catalog::SPEC_VERSION
    );
    let cmd = Cli::command().version(version);
    with_old_env_names(cmd)
}

fn with_old_env_names(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|arg| {
        let Some(env) = arg.get_env().and_then(|e| e.to_str()).map(str::to_string) else {
            return arg;
        };
        match RENAMED_ENV.iter().find(|(_, new)| *new == env) {
            Some((old, new))
                if std::env::var_os(new).is_none() && std::env::var_os(old).is_some() =>
            {
                arg.env(*old)
            }
            _ => arg,
        }
    });
    cmd.mut_subcommands(with_old_env_names)
}

/// Parse the process's arguments: flags may come before the subcommand; environment values
/// are checked first so that a bad one is named by its variable.
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

pub fn parse_from(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let args = subcommand_first(&cmd, args.into_iter().collect());
    // Subcommands are defined when one is used (`Command`'s `defer`: defining them all was a
    // fifth of a start's instructions). When one may be (a word first), all are defined here,
    // so that their arguments read the old variable names too.
    if args
        .get(1)
        .is_some_and(|a| !a.to_string_lossy().starts_with('-'))
    {
        cmd.build();
        cmd = with_old_env_names(cmd);
    }
    for (old, new) in RENAMED_ENV {
        if std::env::var_os(old).is_some() {
            let effect = if std::env::var_os(new).is_some() {
                format!("ignored, {new} is set")
            } else {
                "still read".to_string()
            };
            crate::note!(
                "pfsense-mcp: warning: {old} is deprecated ({effect}): rename it to {new}"
            );
        }
    }
    // With a subcommand the top-level (serve) arguments cannot be given (they conflict with
    // it), but their variables would still be read and checked: a bad PFSENSE_TIMEOUT broke
    // `audit verify`. Each subcommand declares and reads the variables it uses.
    let subcommand = args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|name| !name.starts_with('-') && cmd.find_subcommand(name).is_some());
    if subcommand {
        cmd = cmd.mut_args(|a| a.env(None::<&str>));
    }
    let matches = match cmd.try_get_matches_from_mut(&args) {
        Ok(m) => m,
        Err(e) => {
            let chosen = args
                .get(1)
                .and_then(|a| a.to_str())
                .and_then(|name| cmd.find_subcommand(name))
                .unwrap_or(&cmd);
            return Err(name_the_variable(e, chosen, &args));
        }
    };
    Cli::from_arg_matches(&matches)
}

/// `pfsense-mcp --sandbox doctor` → `pfsense-mcp doctor --sandbox`: each subcommand declares
/// the flags it uses, and people put them on either side of it.
fn subcommand_first(cmd: &clap::Command, args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut i = 1;
    while i < args.len() {
        let Some(token) = args[i].to_str() else {
            return args;
        };
        if token == "--" {
            return args;
        }
        if let Some(long) = token.strip_prefix("--") {
            let takes_value = !long.contains('=')
                && cmd
                    .get_arguments()
                    .find(|a| a.get_long() == Some(long))
                    .is_some_and(|a| a.get_action().takes_values());
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if token.starts_with('-') {
            i += 1;
            continue;
        }
        if i > 1 && cmd.find_subcommand(token).is_some() {
            let mut out = vec![args[0].clone(), args[i].clone()];
            out.extend(args[1..i].iter().cloned());
            out.extend(args[i + 1..].iter().cloned());
            return out;
        }
        return args;
    }
    args
}

/// clap names the flag when a value is bad; when the value came from the environment, name the
/// variable instead (`PFSENSE_READ_ONLY`), and never show a secret's value.
fn name_the_variable(
    e: clap::Error,
    cmd: &clap::Command,
    args: &[std::ffi::OsString],
) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return e;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else {
        return e;
    };
    let Some(long) = flag
        .strip_prefix("--")
        .and_then(|f| f.split([' ', '=']).next())
    else {
        return e;
    };
    let on_command_line = args.iter().filter_map(|a| a.to_str()).any(|a| {
        a.strip_prefix("--")
            .is_some_and(|rest| rest == long || rest.starts_with(&format!("{long}=")))
    });
    let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(long)) else {
        return e;
    };
    let Some(var) = arg.get_env().filter(|v| std::env::var_os(v).is_some()) else {
        return e;
    };
    if on_command_line {
        return e;
    }
    let var = var.to_string_lossy();
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => v.clone(),
        _ => String::new(),
    };
    let message = if arg.is_hide_env_values_set() {
        format!("environment variable {var} has an invalid value (not shown: it is a secret)")
    } else if !arg.get_action().takes_values() {
        format!(
            "environment variable {var} is `{value}`, not a boolean: use true/false, 1/0, yes/no or on/off (any case)"
        )
    } else {
        let detail = e.to_string();
        let detail = detail.lines().next().unwrap_or_default();
        let detail = detail.strip_prefix("error: ").unwrap_or(detail);
        format!("environment variable {var} is `{value}`: {detail}")
    };
    clap::Error::raw(ErrorKind::InvalidValue, format!("{message}\n"))
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Firewall address, e.g. https://192.168.1.1 or https://fw.example.net:8443.
    #[arg(long, env = "PFSENSE_HOST", hide_env_values = true)]
    pub host: Option<String>,
    /// REST API key (sent as X-API-Key).
    #[arg(long, env = "PFSENSE_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// pfSense user for Basic or JWT authentication (and for Basic-only operations).
    #[arg(long, env = "PFSENSE_USERNAME")]
    pub username: Option<String>,
    /// Password of that user.
    #[arg(long, env = "PFSENSE_PASSWORD", hide_env_values = true)]
    pub password: Option<Secret>,
    /// Authentication method. Default: key when an API key is set, else basic.
    #[arg(long, env = "PFSENSE_AUTH", value_enum, ignore_case = true)]
    pub auth: Option<AuthMethod>,
    /// Verify the firewall's TLS certificate (false is the same as --insecure).
    #[arg(long, env = "PFSENSE_VERIFY_SSL", default_value_t = true, action = clap::ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub verify_ssl: bool,
    /// Trust only this CA (PEM file) for the firewall's certificate.
    #[arg(long, env = "PFSENSE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Pin the firewall's certificate by its SHA-256, e.g. sha256:ab12… (the way to trust
    /// pfSense's self-signed certificate without turning verification off).
    #[arg(long, env = "PFSENSE_TLS_FINGERPRINT")]
    pub tls_fingerprint: Option<String>,
    /// Do not verify the firewall's certificate at all.
    #[arg(long)]
    pub insecure: bool,
    /// Seconds before a request to the firewall is abandoned. Once enough answers were
    /// measured, ordinary operations get less: 4 × the p99 latency, at least 10 s. Package
    /// installs, applies, state table clears and other known-slow operations get their own
    /// longer timeout (60-120 s).
    #[arg(long, env = "PFSENSE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub timeout: u64,
    /// Seconds within which failed reads are retried (connection errors, 502, 503 honouring
    /// Retry-After, 504; jittered exponential backoff). Writes are retried only when the
    /// failure proves nothing ran. 0 turns retries off.
    #[arg(long, env = "PFSENSE_RETRY_BUDGET", value_name = "SECONDS", default_value_t = crate::resilience::DEFAULT_RETRY_BUDGET_SECS, value_parser = clap::value_parser!(u64).range(..=MAX_SECONDS))]
    pub retry_budget: u64,
    /// Consecutive failed calls (connection errors, timeouts, 5xx) after which the circuit
    /// breaker opens and calls fail fast. 0 turns the breaker off.
    #[arg(long, env = "PFSENSE_BREAKER_THRESHOLD", value_name = "CALLS", default_value_t = crate::resilience::DEFAULT_BREAKER_THRESHOLD)]
    pub breaker_threshold: u32,
    /// Seconds an open circuit breaker fails calls fast before it lets one probe request
    /// through (success closes it, failure opens it again).
    #[arg(long, env = "PFSENSE_BREAKER_COOLDOWN", value_name = "SECONDS", default_value_t = crate::resilience::DEFAULT_BREAKER_COOLDOWN_SECS, value_parser = clap::value_parser!(u64).range(..=MAX_SECONDS))]
    pub breaker_cooldown: u64,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Offer only reading tools (every non-GET tool is hidden).
    #[arg(long, env = "PFSENSE_READ_ONLY", value_parser = BoolishValueParser::new())]
    pub read_only: bool,
    /// Offer the dangerous tools: halt, reboot, shell commands, cron jobs and ACME shell
    /// actions (commands run as root), package installs and removals, GraphQL, bulk clears of
    /// the ARP table, states and config history, REST API reinstall.
    #[arg(long, env = "PFSENSE_ALLOW_DANGEROUS", value_parser = BoolishValueParser::new())]
    pub allow_dangerous: bool,
    /// Offer only these modules (comma-separated): firewall, interface, routing,
    /// vpn_wireguard, vpn_openvpn, vpn_ipsec, services_dhcp, services_dns_resolver,
    /// services_dns_forwarder, services_haproxy, services_bind, services_freeradius,
    /// services_acme, services_misc, system, status, diagnostics, user, auth.
    #[arg(long, env = "PFSENSE_MODULES", value_delimiter = ',')]
    pub modules: Vec<String>,
    /// Offer only tools whose name matches one of these globs (comma-separated; `*` any run
    /// of characters, `?` one), e.g. `pfsense_list_*,pfsense_*_firewall_alias*`.
    #[arg(long, env = "PFSENSE_ALLOW", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Never offer tools whose name matches one of these globs (comma-separated); wins over
    /// everything else, e.g. `pfsense_delete_*,pfsense_replace_*`.
    #[arg(long, env = "PFSENSE_DENY", value_delimiter = ',')]
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
        // A restriction given empty (`PFSENSE_MODULES=` from a variable that was not set) would
        // offer everything: said, not read as "no restriction".
        let modules = parse_modules(&self.modules)?;
        if !self.modules.is_empty() && modules.is_none() {
            return Err("--modules (PFSENSE_MODULES) is given but names no module: name at least one (e.g. firewall,status), or leave it out to offer every module".into());
        }
        let allow = clean_patterns(&self.allow);
        if !self.allow.is_empty() && allow.is_empty() {
            return Err("--allow (PFSENSE_ALLOW) is given but names no pattern: name at least one (e.g. pfsense_list_*), or leave it out to offer every tool".into());
        }
        Policy {
            read_only: self.read_only,
            allow_dangerous: self.allow_dangerous,
            modules,
            allow,
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

// Where the audit log and journal go, how changes are confirmed, rate limits, auto-revert.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// Audit log file (JSON Lines, hash-chained; check it with `pfsense-mcp audit verify FILE`).
    /// Default: $XDG_STATE_HOME/pfsense-mcp/audit.jsonl (or ~/.local/state/…); none in
    /// --sandbox unless given. `off` disables it.
    #[arg(long, env = "PFSENSE_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Change journal (SQLite) for pfsense_undo and auto-revert. Default:
    /// $XDG_STATE_HOME/pfsense-mcp/journal.sqlite (or ~/.local/state/…); in memory in
    /// --sandbox unless given. `memory` keeps it in memory only.
    #[arg(long, env = "PFSENSE_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// How destructive and dangerous changes are confirmed: `elicit` asks the human through
    /// MCP elicitation and falls back to `confirm: true` when the client cannot ask;
    /// `elicit-required` refuses them when the client cannot ask; `flag` never asks.
    #[arg(
        long = "confirm",
        env = "PFSENSE_CONFIRM",
        value_enum,
        ignore_case = true,
        default_value = "elicit"
    )]
    pub confirm_mode: crate::safety::elicit::ConfirmMode,
    /// Rate limits on executed changes per risk class, comma-separated RISK=COUNT/PERIOD
    /// (PERIOD: s, min, hour, day, or seconds; COUNT `off` for none). Defaults:
    /// write=30/min, destructive=10/min, dangerous=3/hour. Previews and refusals are free.
    #[arg(long = "rate-limit", env = "PFSENSE_RATE_LIMIT", value_delimiter = ',')]
    pub rate_limits: Vec<String>,
    /// Make changes to rules, NAT, interfaces and routing provisional: unless
    /// pfsense_confirm_changes is called within SECONDS, the server undoes them. Protects
    /// against bad changes while the API stays reachable, not against a lockout.
    #[arg(long, env = "PFSENSE_AUTO_REVERT", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=MAX_AUTO_REVERT_SECONDS))]
    pub auto_revert: Option<u64>,
    /// This server's address as the firewall sees it (after any NAT in between). When given,
    /// a confirmed change to firewall rules, port forwards, 1:1 NAT mappings, aliases,
    /// interfaces, interface groups, virtual IPs, gateways, static routes or the webGUI settings
    /// is first evaluated with the traffic evaluator, and refused when it would block this
    /// address's path to the API (the webGUI port on the interface whose subnet holds the
    /// address; for an address on none of the firewall's subnets, the interface the route back
    /// to it leads out of and any interface with a gateway whose rules let it in now), send its
    /// connections to another host (a port forward, 1:1 NAT) or send the replies to it out
    /// another way.
    #[arg(long, env = "PFSENSE_LOCKOUT_SOURCE", value_name = "IP")]
    pub lockout_source: Option<std::net::IpAddr>,
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
        let (audit_log, journal) = self.state_files(sandbox)?;
        if let Some(warning) = self.no_state_dir(sandbox) {
            tracing::warn!("{warning}");
        }
        Ok(crate::safety::SafetyOptions {
            audit_log,
            journal,
            confirm: self.confirm_mode,
            rate_limits: self.rate_limits()?,
            auto_revert: self.auto_revert.map(Duration::from_secs),
            lockout_source: self.lockout_source,
        })
    }

    /// Where the audit log and the journal go (the defaults in the state directory, none and
    /// memory in --sandbox), refused when neither can be one (`check_state_files`).
    pub fn state_files(
        &self,
        sandbox: bool,
    ) -> Result<(Option<PathBuf>, crate::safety::JournalLocation), String> {
        use crate::safety::{JournalLocation, default_state_dir};
        let state_dir = default_state_dir();
        let audit_log = match &self.audit_log {
            Some(p) if is_keyword(p, "off") => None,
            Some(p) => Some(p.clone()),
            None if sandbox => None,
            None => state_dir.as_ref().map(|d| d.join("audit.jsonl")),
        };
        let journal = match &self.journal {
            Some(p) if is_keyword(p, "memory") => JournalLocation::Memory,
            Some(p) => JournalLocation::File(p.clone()),
            None if sandbox => JournalLocation::Memory,
            None => match &state_dir {
                Some(d) => JournalLocation::File(d.join("journal.sqlite")),
                None => JournalLocation::Memory,
            },
        };
        check_state_files(audit_log.as_deref(), &journal)?;
        Ok((audit_log, journal))
    }

    /// The warning when the audit log and journal would have gone to the state directory and
    /// there is none.
    pub fn no_state_dir(&self, sandbox: bool) -> Option<String> {
        let defaults = self.audit_log.is_none() || self.journal.is_none();
        (!sandbox && defaults && crate::safety::default_state_dir().is_none()).then(|| {
            "no state directory (neither XDG_STATE_HOME nor HOME is set): the audit log is off and the journal is kept in memory unless --audit-log / --journal are given".to_string()
        })
    }

    /// The rate limits: the defaults, changed by each `RISK=COUNT/PERIOD` given.
    pub fn rate_limits(&self) -> Result<crate::safety::ratelimit::RateLimits, String> {
        let mut rate_limits = crate::safety::ratelimit::RateLimits::default();
        for spec in self.rate_limits.iter().filter(|s| !s.trim().is_empty()) {
            rate_limits.set(spec)?;
        }
        Ok(rate_limits)
    }
}

/// Whether a path setting is the word `word` (`off`, `memory`) rather than a file: in any
/// case and with spaces around it, as booleans are read (`OFF` made a file named `OFF`).
fn is_keyword(path: &std::path::Path, word: &str) -> bool {
    path.to_str()
        .is_some_and(|p| p.trim().eq_ignore_ascii_case(word))
}

/// Refuse an audit log or journal path that cannot be one: a device, pipe or directory (a log
/// written to /dev/null is lost, and its mode is not ours to narrow), or one file for both
/// (SQLite would write over the audit lines).
fn check_state_files(
    audit_log: Option<&std::path::Path>,
    journal: &crate::safety::JournalLocation,
) -> Result<(), String> {
    use crate::safety::private::{not_a_regular_file, same_file};
    let journal = match journal {
        crate::safety::JournalLocation::File(p) => Some(p.as_path()),
        crate::safety::JournalLocation::Memory => None,
    };
    if let Some(p) = audit_log
        && let Some(kind) = not_a_regular_file(p)
    {
        return Err(format!(
            "--audit-log / PFSENSE_AUDIT_LOG: {} is {kind}, not a regular file: give the path of a file (created if missing), or `off` to disable the audit log",
            p.display()
        ));
    }
    if let Some(p) = journal
        && let Some(kind) = not_a_regular_file(p)
    {
        return Err(format!(
            "--journal / PFSENSE_JOURNAL: {} is {kind}, not a regular file: give the path of a file (created if missing), or `memory` to keep the journal in memory",
            p.display()
        ));
    }
    if let (Some(log), Some(db)) = (audit_log, journal) {
        // SQLite's companions too: its write-ahead log would take the audit lines as well.
        let companions = ["", "-wal", "-shm"].map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        });
        if let Some(clash) = companions.iter().find(|c| same_file(log, c)) {
            return Err(format!(
                "--audit-log / PFSENSE_AUDIT_LOG ({}) and --journal / PFSENSE_JOURNAL ({}) are the same file{}: the journal's SQLite writes would destroy the audit lines; give them different files",
                log.display(),
                db.display(),
                if clash.as_path() == db {
                    String::new()
                } else {
                    format!(" (the journal's {})", clash.display())
                }
            ));
        }
    }
    Ok(())
}

impl ConnectionArgs {
    /// The firewall URL from --host, PFSENSE_HOST or PFSENSE_URL.
    pub fn host(&self) -> Option<String> {
        self.host
            .clone()
            .or_else(|| std::env::var("PFSENSE_URL").ok())
            .filter(|h| !h.trim().is_empty())
    }

    /// How the firewall's certificate is checked. Settings that contradict each other are
    /// refused, as in a config file: one of them would be ignored without a word.
    pub fn tls_mode(&self) -> Result<TlsMode, String> {
        const FINGERPRINT: &str = "--tls-fingerprint / PFSENSE_TLS_FINGERPRINT";
        const CA: &str = "--ca-cert / PFSENSE_CA_CERT";
        let verification_off = if self.insecure {
            "--insecure"
        } else {
            "--verify-ssl false (PFSENSE_VERIFY_SSL=false)"
        };
        if let Some(ca) = &self.ca_cert {
            if self.tls_fingerprint.is_some() {
                return Err(format!(
                    "{CA} and {FINGERPRINT} contradict each other: a pinned certificate is trusted whatever its issuer, so the CA would be ignored; give one of them"
                ));
            }
            if self.insecure || !self.verify_ssl {
                return Err(format!(
                    "{verification_off} and {CA} contradict each other: without verification the CA would be ignored; keep the CA and drop {verification_off}"
                ));
            }
            if !ca.is_file() {
                return Err(format!(
                    "{CA}: {} {}: give the CA's PEM file",
                    ca.display(),
                    if ca.exists() {
                        "is not a file"
                    } else {
                        "does not exist"
                    }
                ));
            }
        }
        if let Some(fp) = &self.tls_fingerprint {
            let pinned = parse_fingerprint(fp)
                .map_err(|e| format!("PFSENSE_TLS_FINGERPRINT / --tls-fingerprint: {e}"))?;
            if self.insecure {
                return Err(format!(
                    "--insecure and {FINGERPRINT} contradict each other; keep the fingerprint (it trusts exactly that certificate) and drop --insecure"
                ));
            }
            if !self.verify_ssl {
                // Often set in the environment for other tools: the stricter setting wins.
                crate::note!(
                    "pfsense-mcp: warning: PFSENSE_VERIFY_SSL=false is ignored: the certificate is pinned ({FINGERPRINT}), which is checked"
                );
            }
            return Ok(TlsMode::Pinned(pinned));
        }
        if self.insecure || !self.verify_ssl {
            return Ok(TlsMode::Insecure);
        }
        Ok(TlsMode::Verify {
            ca_file: self.ca_cert.clone(),
        })
    }

    /// [`Self::tls_mode`] for the firewall at `base_url`: certificate settings with a plain
    /// `http://` URL are refused.
    fn tls_for(&self, base_url: &url::Url) -> Result<TlsMode, String> {
        let tls = self.tls_mode()?;
        certificate_settings_over_plain_http(
            base_url,
            self.tls_fingerprint
                .as_ref()
                .map(|_| "--tls-fingerprint / PFSENSE_TLS_FINGERPRINT"),
            self.ca_cert.as_ref().map(|_| "--ca-cert / PFSENSE_CA_CERT"),
        )?;
        Ok(tls)
    }

    /// The firewall's base URL (`https://host[:port]/`) from --host / PFSENSE_HOST.
    pub fn base_url(&self) -> Result<url::Url, String> {
        let host = self.host().ok_or(
            "no firewall configured: set PFSENSE_HOST to its address (e.g. https://192.168.1.1) and PFSENSE_API_KEY, or pass --host",
        )?;
        let base_url = parse_base_url(&host, "--host / PFSENSE_HOST")?;
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
            tls: self.tls_for(&self.base_url()?)?,
            auth,
            api_key: self.api_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            timeout: Duration::from_secs(self.timeout.clamp(1, 10)),
            request_timeout: Duration::from_secs(self.timeout.max(1)),
            lockout_source: None,
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
        let tls = self.tls_for(&base_url)?;
        Ok(ClientConfig {
            base_url,
            auth,
            api_key: self.api_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            tls,
            timeout: Duration::from_secs(self.timeout),
            connect_timeout: Duration::from_secs(self.timeout.min(10)),
            resilience: self.resilience()?,
            origin: crate::policy::Origin::Flags,
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

/// A pinned fingerprint or a CA with a plain `http://` URL: no certificate is presented over
/// plain HTTP, so the setting would be ignored without a word while the credentials cross the
/// network unencrypted. `fingerprint` and `ca` name the settings given.
pub fn certificate_settings_over_plain_http(
    base_url: &url::Url,
    fingerprint: Option<&str>,
    ca: Option<&str>,
) -> Result<(), String> {
    if base_url.scheme() != "http" {
        return Ok(());
    }
    match fingerprint.or(ca) {
        Some(setting) => Err(format!(
            "{setting} checks the firewall's TLS certificate, but its URL is plain http://, which has none: the setting would be ignored and the credentials sent unencrypted. Use https:// (pfSense's webGUI serves HTTPS), or drop {setting}"
        )),
        None => Ok(()),
    }
}

/// The firewall's base URL (`https://host[:port]/`) from what a person wrote; `setting` names
/// where it was written, for the error. A user name or password in it is refused (they would
/// be shown wherever the URL is, and sent as Basic credentials besides the configured ones);
/// errors show the URL with them masked.
pub fn parse_base_url(host: &str, setting: &str) -> Result<url::Url, String> {
    let with_scheme = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    let shown = without_credentials(host);
    // `${VAR}` is not expanded (not in the environment's values, nor in a config file): say so
    // whatever else is wrong with the value.
    let unexpanded = if host.contains('$') {
        " Variables such as `${NAME}` are not expanded here: write the address itself."
    } else {
        ""
    };
    let mut base_url = url::Url::parse(&with_scheme)
        .map_err(|e| format!("{setting} `{shown}` is not a URL: {e}.{unexpanded}"))?;
    // The URL parser takes characters (`{`, `}`, `|`, `^`…) an HTTP request's URI cannot carry:
    // every call would then fail as "the request could not be built", blaming its arguments.
    let not_in_a_uri: String = base_url
        .as_str()
        .chars()
        .filter(|c| !(c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(*c)))
        .collect();
    if !not_in_a_uri.is_empty() || base_url.as_str().parse::<hyper::Uri>().is_err() {
        let shown_chars: String = not_in_a_uri.chars().flat_map(char::escape_debug).collect();
        return Err(format!(
            "{setting} `{shown}` holds characters a URL sent to the firewall cannot carry{}: give the firewall's address, e.g. https://192.168.1.1.{unexpanded}",
            if shown_chars.is_empty() {
                String::new()
            } else {
                format!(" (`{shown_chars}`)")
            }
        ));
    }
    if base_url.scheme() != "https" && base_url.scheme() != "http" {
        return Err(format!(
            "{setting} `{shown}` must start with https:// (or http://)"
        ));
    }
    if base_url.host_str().is_none() {
        return Err(format!("{setting} `{shown}` has no host name"));
    }
    // A URL may carry `$` in its host, no firewall's name does: a variable left unexpanded.
    if base_url.host_str().is_some_and(|h| h.contains('$')) {
        return Err(format!(
            "{setting} `{shown}` has `$` in its host name.{unexpanded}"
        ));
    }
    if !base_url.username().is_empty() || base_url.password().is_some() {
        return Err(format!(
            "{setting} `{shown}` holds a user name or password: give the firewall's address alone, and the credentials with PFSENSE_API_KEY, or PFSENSE_USERNAME and PFSENSE_PASSWORD (`api_key_env` or `api_key_file`, `username`, `password_env` or `password_file` in a config file)"
        ));
    }
    // pfrest answers at the root (`/api/v2/…`): a path naming that is the same address, any
    // other would be dropped and the requests sent elsewhere than meant (a reverse proxy's
    // sub-path is not supported).
    let path = base_url.path().trim_end_matches('/');
    if !matches!(path, "" | "/api" | "/api/v2") {
        return Err(format!(
            "{setting} `{shown}` has the path `{}`: the REST API is served at the firewall's root (/api/v2/…), so give its address alone, e.g. https://fw.example.net:8443",
            base_url.path()
        ));
    }
    if base_url.query().is_some() || base_url.fragment().is_some() {
        return Err(format!(
            "{setting} `{shown}` has a query or fragment (`?…` / `#…`): give the firewall's address alone, e.g. https://fw.example.net:8443"
        ));
    }
    base_url.set_path("/");
    Ok(base_url)
}

/// `host` with anything before an `@` in its authority (`user:password@`) masked.
fn without_credentials(host: &str) -> std::borrow::Cow<'_, str> {
    let start = host.find("://").map_or(0, |i| i + 3);
    let authority_end = host[start..]
        .find(['/', '?', '#'])
        .map_or(host.len(), |i| start + i);
    match host[start..authority_end].rfind('@') {
        Some(at) => format!("{}…@{}", &host[..start], &host[start + at + 1..]).into(),
        None => host.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_firewalls_url_are_refused_and_never_shown() {
        for host in [
            "https://admin:Url-Secret-77@192.168.1.1",
            "admin:Url-Secret-77@fw.example",
            "https://admin:Url-Secret-77@[::1",
            "ftp://admin:Url-Secret-77@fw.example/x",
        ] {
            let error = parse_base_url(host, "PFSENSE_HOST").unwrap_err();
            assert!(!error.contains("Url-Secret-77"), "{error}");
            assert!(error.contains("…@"), "{error}");
        }
        let error = parse_base_url("https://admin@fw.example", "PFSENSE_HOST").unwrap_err();
        assert!(error.contains("holds a user name or password"), "{error}");
        // The API's own path is the same address; another path, a query or a fragment would
        // be dropped, so they are refused.
        for same in [
            "fw.example:8443",
            "fw.example:8443/api",
            "https://fw.example:8443/api/v2/",
        ] {
            assert_eq!(
                parse_base_url(same, "PFSENSE_HOST").unwrap().as_str(),
                "https://fw.example:8443/",
                "{same}"
            );
        }
        let error = parse_base_url("https://fw.example/pfsense/", "PFSENSE_HOST").unwrap_err();
        assert!(error.contains("the path `/pfsense/`"), "{error}");
        for other in ["fw.example:8443/api?x=1", "https://fw.example/#frag"] {
            let error = parse_base_url(other, "PFSENSE_HOST").unwrap_err();
            assert!(error.contains("query or fragment"), "{other}: {error}");
        }
    }

    #[test]
    fn subcommands_defined_late_keep_their_own_descriptions() {
        let mut cmd = command();
        cmd.build();
        let about = |name: &str| {
            cmd.find_subcommand(name)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        // Not the doc comment of an `Args` struct flattened into them.
        for (name, start) in [
            ("doctor", "Check the way to the firewall"),
            ("serve", "Serve MCP over stdio"),
            ("security-audit", "Audit the firewall's security"),
        ] {
            assert!(about(name).starts_with(start), "{name}: {}", about(name));
        }
        // And their arguments are there once defined.
        let doctor = cmd.find_subcommand("doctor").unwrap();
        assert!(doctor.get_arguments().any(|a| a.get_long() == Some("host")));
    }
}
