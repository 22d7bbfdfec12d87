//! What the binary does for each subcommand.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::{Client, ClientConfig};
use crate::config::{
    AuditCommand, Cli, CliError, Command, DoctorArgs, Failure, Generated, ServeArgs, ToolsArgs,
    parse_modules,
};
use crate::safety::Safety;
use crate::server::{
    Firewall, GuardsOpening, PfSenseServer, Policy, ServerOptions, WhenGuardsOpen,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// rmcp's session manager, held to warnings: it logs session ids at info.
const SESSION_LOG_TARGET: &str = "rmcp::transport::streamable_http_server::session=warn";

/// Logs go to stderr: stdout carries the MCP protocol.
pub fn init_logging() {
    let filter = crate::config::env_var("PFSENSE_LOG")
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("pfsense_mcp=info,warn"));
    // rmcp's debug and trace events print whole MCP messages, tool arguments included, and
    // those can hold passwords and keys: never below info, whatever the filter says.
    // rmcp's HTTP session manager logs (and spans) session ids at info: keep them out.
    let filter = ["rmcp=info", SESSION_LOG_TARGET]
        .iter()
        .filter_map(|d| d.parse().ok())
        .fold(filter, |f, d| f.add_directive(d));
    let _ = tracing_subscriber::fmt()
        // A closed stderr must not panic the logging thread (tracing falls back to eprintln!).
        .log_internal_errors(false)
        .with_env_filter(filter)
        // Secret values callers sent never reach the log, whatever logged them.
        .with_writer(crate::secret::ScrubbingStderr)
        .with_ansi(false)
        .try_init();
}

/// The allocator for this command (call before the runtime starts its threads). The HTTP
/// transport, with many concurrent sessions, takes its blocks from mimalloc from here on
/// (allocator.rs). Everything else keeps glibc's allocator with one arena: glibc gives each
/// thread that allocates an arena of its own, and memory freed in an arena stays with it: a
/// tools/list page built on one worker and the next on another kept both pages' peaks
/// resident (about 1.8 MiB more peak RSS after a full tools/list, measured).
pub fn tune_allocator(cli: &Cli, allocator: &crate::allocator::ByTransport) {
    if serves_http(cli) {
        allocator.cache_per_thread();
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; called from `main` before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The async runtime for this command. The HTTP transport serves many sessions at once and
/// gets a worker per core. Everything else, the stdio server included, serves one client and
/// runs on the main thread: a start then skips creating and waking the worker threads
/// (spawn → initialize about 10% faster, measured; BENCHMARKS.md). Work that blocks keeps its
/// own threads either way: stdin and stdout (tokio's blocking pool), the audit log's writer,
/// the guards being opened.
pub fn runtime_builder(cli: &Cli) -> tokio::runtime::Builder {
    if serves_http(cli) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
}

/// Whether this command serves MCP over streamable HTTP (many sessions at once).
fn serves_http(cli: &Cli) -> bool {
    serve_args(cli).is_some_and(|args| args.http.enabled())
}

/// The arguments of a server command (no subcommand, or `serve`); None for other commands.
fn serve_args(cli: &Cli) -> Option<&ServeArgs> {
    match &cli.command {
        None => Some(&cli.serve),
        Some(Command::Serve(args)) => Some(args),
        Some(_) => None,
    }
}

/// The audit log and journal of a server command, being opened on a thread of their own.
pub struct OpeningGuards {
    options: crate::safety::SafetyOptions,
    sandbox: bool,
    opening: std::thread::JoinHandle<Result<Arc<Safety>, String>>,
}

/// Start opening the guards of a server command (no subcommand, or `serve`) on a thread of
/// their own, so that their file and SQLite work overlaps the start of the async runtime, of
/// the HTTP client and of serving: the server answers `initialize` and lists its tools while
/// they open, and what needs them waits for them (`PfSenseServer::safety`; BENCHMARKS.md,
/// "Twenty-first session"). A start whose guards cannot open still ends with exit status 2
/// ([`Guards::opening`]). `None` for other commands, or when the settings are wrong
/// (`build_server` reports that).
pub fn open_guards_early(cli: &Cli) -> Option<OpeningGuards> {
    let args = serve_args(cli)?;
    let sandbox = args.target.sandbox;
    let options = args.safety.options(sandbox).ok()?;
    let for_thread = options.clone();
    let opening = std::thread::Builder::new()
        .name("open-guards".into())
        .spawn(move || Safety::open(for_thread).map(Arc::new))
        .ok()?;
    Some(OpeningGuards {
        options,
        sandbox,
        opening,
    })
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    run_with(cli, None).await
}

/// [`run`] with the guards already being opened ([`open_guards_early`]).
pub async fn run_with(cli: Cli, guards: Option<OpeningGuards>) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Tools(ref args)) => {
            print_tools(args, &args.policy.policy().map_err(CliError::usage)?)
        }
        Some(Command::Audit(AuditCommand::Verify { file })) => {
            // A file that is not there is a wrong path, not a log someone tampered with.
            let rotated = crate::safety::audit::rotated_files(&file).unwrap_or_default();
            if !file.exists() && rotated.is_empty() {
                return Err(CliError::usage(format!(
                    "there is no audit log at {} (the default is $XDG_STATE_HOME/pfsense-mcp/audit.jsonl, else ~/.local/state/pfsense-mcp/audit.jsonl)",
                    file.display()
                )));
            }
            if let Some(what) = crate::safety::audit::not_an_audit_log(&file) {
                return Err(CliError::usage(format!(
                    "{} is not an audit log: it is {what}. Give the audit log's path (the default is $XDG_STATE_HOME/pfsense-mcp/audit.jsonl, else ~/.local/state/pfsense-mcp/audit.jsonl)",
                    file.display()
                )));
            }
            if let Some(note) = crate::safety::audit::other_numbered_files_note(&file) {
                for line in note.lines() {
                    crate::note!("pfsense-mcp: warning: {line}");
                }
            }
            let v = crate::safety::audit::verify(&file).map_err(|e| {
                CliError::new(
                    Failure::AuditBroken,
                    format!("audit log {} is NOT intact: {e}", file.display()),
                )
            })?;
            let cut = match (v.cut_off, v.open_cut) {
                (0, _) => String::new(),
                (1, false) => " (1 line cut off by a crash, closed off by a cut_off entry)".into(),
                (1, true) => " (its last line was cut off by a crash; the server closes it off with a cut_off entry when it next starts)".into(),
                (n, false) => format!(" ({n} lines cut off by crashes, each closed off by a cut_off entry)"),
                (n, true) => format!(" ({n} lines cut off by crashes; the last one the server closes off with a cut_off entry when it next starts)"),
            };
            let files = match v.files {
                0 | 1 => String::new(),
                n => format!(" across {n} files (the rotated ones and the current one)"),
            };
            emit(&format!(
                "{}: {} entries{files}, chain intact{cut}; last hash {}\n",
                file.display(),
                v.entries,
                v.last_hash
            ))
        }
        Some(Command::Doctor(ref args)) => doctor(args).await,
        Some(Command::Generate { what, ref dir }) => generate(what, dir.as_deref()),
        Some(Command::SecurityAudit(ref args)) => crate::security_audit::run_cli(args)
            .await
            .map_err(|e| CliError::new(Failure::Runtime, e)),
        Some(Command::Serve(ref args)) => serve_command(args, guards).await,
        None => serve_command(&cli.serve, guards).await,
    }
}

/// Boxed once here (lib.rs, "One copy of a big future"): awaited from several places, its future would be
/// compiled into each of their codegen units.
#[inline(never)]
fn serve_command<'a>(
    args: &'a ServeArgs,
    guards: Option<OpeningGuards>,
) -> futures::future::BoxFuture<'a, Result<(), CliError>> {
    Box::pin(serve_command_unboxed(args, guards))
}

async fn serve_command_unboxed(
    args: &ServeArgs,
    guards: Option<OpeningGuards>,
) -> Result<(), CliError> {
    // HTTP settings first: a bad one is a usage error, found before anything starts.
    let http = if args.http.enabled() {
        Some(crate::http::check(&args.http).map_err(CliError::usage)?)
    } else {
        let unused = args.http.given_without_http();
        if !unused.is_empty() {
            crate::note!(
                "pfsense-mcp: warning: {} only apply with --http (PFSENSE_HTTP); serving MCP over stdio, where they do nothing",
                unused.join(", ")
            );
        }
        None
    };
    let server = build_server_with(args, guards).map_err(CliError::usage)?;
    // Waited for off the runtime's thread while the server serves: a start whose guards cannot
    // open ends without waiting for a call, and the start's note comes as soon as they are open.
    let opening = server.new_session();
    tokio::task::spawn_blocking(move || {
        opening.safety();
    });
    let after = server.new_session();
    let served = match http {
        Some(checked) => crate::http::serve(server, &args.http, checked).await,
        None => serve_stdio(server).await,
    };
    note_provisional_changes_left(&after);
    served.map_err(|e| CliError::new(Failure::Runtime, e))
}

/// At start without --auto-revert: provisional changes of an earlier run that are past their
/// deadline stay on the firewall, since nothing here reverts them.
fn note_overdue_provisional_changes(server: &PfSenseServer) {
    for (firewall, _, overdue) in server.provisional_changes() {
        if overdue > 0 {
            crate::note!(
                "pfsense-mcp: warning: firewall `{firewall}`: {overdue} provisional {} of an earlier run {} past {} auto-revert deadline and {} on the firewall: this server runs without --auto-revert, so nothing reverts {}. Restart with --auto-revert SECONDS to revert {}, or keep {} with pfsense_confirm_changes (pfsense_list_changes lists {})",
                plural(overdue, "change", "changes"),
                plural(overdue, "is", "are"),
                plural(overdue, "its", "their"),
                plural(overdue, "stays", "stay"),
                plural(overdue, "it", "them"),
                plural(overdue, "it", "them"),
                plural(overdue, "it", "them"),
                plural(overdue, "it", "them"),
            );
        }
    }
}

/// At exit: provisional changes nobody confirmed or reverted stay on the firewall.
fn note_provisional_changes_left(server: &PfSenseServer) {
    for (firewall, left, _) in server.provisional_changes() {
        crate::note!(
            "pfsense-mcp: warning: firewall `{firewall}`: {left} provisional {} (--auto-revert) {} neither confirmed nor reverted and {} on the firewall as the server exits. A restart with --auto-revert reverts {} once past {} deadline; pfsense_confirm_changes keeps {}",
            plural(left, "change", "changes"),
            plural(left, "was", "were"),
            plural(left, "stays", "stay"),
            plural(left, "it", "them"),
            plural(left, "its", "their"),
            plural(left, "it", "them"),
        );
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Write to stdout; a reader that went away (`pfsense-mcp tools | head`) is not an error.
fn emit(text: &str) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::new(
            Failure::Runtime,
            format!("cannot write to stdout: {e}"),
        )),
        _ => Ok(()),
    }
}

/// `pfsense-mcp generate …`: shell completions or the main man page on stdout, or every man
/// page into a directory.
fn generate(what: Generated, dir: Option<&std::path::Path>) -> Result<(), CliError> {
    use clap_complete::Shell;
    let mut cmd = crate::config::command();
    let mut out = Vec::new();
    let shell = match (what, dir) {
        (Generated::ManPages, Some(dir)) => {
            // `help` repeats each page's content: no page of its own. Subcommands are defined
            // on use (`Command`'s `defer`): all of them here.
            let mut cmd = cmd
                .disable_help_subcommand(true)
                .mut_subcommand("audit", |audit| audit.disable_help_subcommand(true));
            cmd.build();
            return write_man_pages(&cmd, dir);
        }
        (Generated::ManPages, None) => {
            return Err(CliError::usage(
                "`generate man-pages` needs --dir DIR to write the pages into",
            ));
        }
        (_, Some(_)) => {
            return Err(CliError::usage(
                "only `generate man-pages` takes --dir; the others print to stdout",
            ));
        }
        (Generated::Bash, None) => Shell::Bash,
        (Generated::Zsh, None) => Shell::Zsh,
        (Generated::Fish, None) => Shell::Fish,
        (Generated::Elvish, None) => Shell::Elvish,
        (Generated::Powershell, None) => Shell::PowerShell,
        (Generated::Man, None) => {
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| CliError::new(Failure::Runtime, e.to_string()))?;
            return emit(&String::from_utf8_lossy(&out));
        }
    };
    clap_complete::generate(shell, &mut cmd, "pfsense-mcp", &mut out);
    emit(&String::from_utf8_lossy(&out))
}

/// `cmd`'s man page and those of its subcommands (the pages it lists), as
/// `DIR/pfsense-mcp-doctor.1`, …; each path on stdout.
fn write_man_pages(cmd: &clap::Command, dir: &std::path::Path) -> Result<(), CliError> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| CliError::new(Failure::Runtime, e.to_string()))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, page))
        .map_err(|e| {
            CliError::new(
                Failure::Runtime,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
    emit(&format!("{}\n", path.display()))?;
    for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
        write_man_pages(sub, dir)?;
    }
    Ok(())
}

/// Boxed once here (lib.rs, "One copy of a big future"): awaited from several places, its future would be
/// compiled into each of their codegen units.
#[inline(never)]
fn doctor<'a>(args: &'a DoctorArgs) -> futures::future::BoxFuture<'a, Result<(), CliError>> {
    Box::pin(doctor_unboxed(args))
}

/// `pfsense-mcp doctor`: the sandbox with --sandbox, PFSENSE_HOST when set, else the firewalls
/// of the config file (all, or the one named). One report per firewall; fails when any check
/// of any firewall fails.
async fn doctor_unboxed(args: &DoctorArgs) -> Result<(), CliError> {
    let only = args.firewall.as_deref();
    let serve = &args.serve;
    let config = crate::fleet::config_path(serve.target.config.as_deref());
    // A config file that cannot be used is a failed check, not the end of the report: its
    // firewalls cannot be checked, this server's own settings still can.
    let mut config_file_failed = None;
    let targets: Vec<(String, Result<crate::doctor::Target, String>)> = if serve.target.sandbox {
        vec![(
            "the sandbox emulator".into(),
            crate::sandbox::doctor_target().await,
        )]
    } else {
        match (&config, serve.connection.host().is_some()) {
            // As the server: an explicit config file and a host are two answers to "which
            // firewall", and the doctor must check what the server would run.
            (Some((path, true)), true) => {
                return Err(CliError::usage(format!(
                    "both a config file ({}) and PFSENSE_HOST / --host name a firewall: put every firewall in the config file, or drop --config / PFSENSE_CONFIG",
                    path.display()
                )));
            }
            (Some((path, _)), false) => match crate::fleet::FleetConfig::load(path) {
                Ok(fleet) => {
                    let names: Vec<String> = match only {
                        Some(n) => vec![n.to_string()],
                        None => fleet.names().into_iter().map(String::from).collect(),
                    };
                    names
                        .into_iter()
                        .map(|name| {
                            let target = fleet
                                .resolve(&name, &crate::fleet::process_env)
                                .map(|f| crate::doctor::Target::from(&f.client));
                            (format!("firewall `{name}` of {}", path.display()), target)
                        })
                        .collect()
                }
                Err(e) => {
                    config_file_failed = Some(crate::doctor::config_file_report(path, e));
                    Vec::new()
                }
            },
            _ if only.is_some() => {
                return Err(CliError::usage(
                    "--firewall names a firewall of the config file, but no config file is in use (PFSENSE_HOST is set, or there is no --config / PFSENSE_CONFIG)",
                ));
            }
            _ => vec![(String::new(), serve.connection.doctor_target())],
        }
    };
    let mut failed = 0;
    if let Some(report) = &config_file_failed {
        emit(&format!("{}\n", report.render()))?;
        failed += report.failures();
    }
    let targets = targets.into_iter().map(|(label, target)| {
        let target = target.map(|t| crate::doctor::Target {
            lockout_source: serve.safety.lockout_source,
            ..t
        });
        (label, target)
    });
    for (i, (label, target)) in targets.enumerate() {
        let mut text = String::new();
        if i > 0 {
            text.push('\n');
        }
        if !label.is_empty() {
            text.push_str(&format!("== {label}\n"));
        }
        match &target {
            Ok(target) => {
                let report = crate::doctor::run(target).await;
                text.push_str(&report.render());
                text.push('\n');
                failed += report.failures();
            }
            Err(e) if label.is_empty() => return Err(CliError::usage(e.clone())),
            Err(e) => {
                text.push_str(&format!("  FAIL  config           {e}\n"));
                failed += 1;
            }
        }
        emit(&text)?;
    }
    // The settings only serving uses, checked as a start would: the config file's firewalls
    // are served when it is in use (not with PFSENSE_HOST, nor in the sandbox).
    let config_file = match (&config, serve.target.sandbox, serve.connection.host()) {
        (Some((path, _)), false, None) => Some(path.as_path()),
        _ => None,
    };
    let settings = crate::doctor::serve_settings(serve, config_file, config_file_failed.is_none());
    emit(&format!("\n{}\n", settings.render()))?;
    failed += settings.failures();
    match failed {
        0 => Ok(()),
        n => Err(CliError::new(
            Failure::CheckFailed,
            format!("doctor: {n} check{} failed", if n == 1 { "" } else { "s" }),
        )),
    }
}

/// The server the flags, environment and config file describe: the sandbox, the firewalls of
/// the config file, or the one firewall the flags name. Each MCP session gets its own value
/// through `PfSenseServer::new_session`.
pub fn build_server(cli: &ServeArgs) -> Result<PfSenseServer, String> {
    build_server_with(cli, None)
}

/// [`build_server`] with the guards already being opened for these arguments.
fn build_server_with(
    cli: &ServeArgs,
    guards: Option<OpeningGuards>,
) -> Result<PfSenseServer, String> {
    let flags = cli.policy.policy()?;
    let guards = Guards::new(&cli.safety, cli.target.sandbox, guards)?;
    let mut options = ServerOptions {
        page_size: usize::try_from(cli.page_size).unwrap_or(usize::MAX),
        banner: None,
        safety: guards.options.clone(),
        tool_mode: cli.tool_mode,
        result_budget_tokens: usize::try_from(cli.result_budget).unwrap_or(usize::MAX),
    };
    if cli.target.sandbox {
        crate::note!("pfsense-mcp: {}", crate::sandbox::BANNER);
        if cli.connection.host().is_some() {
            crate::note!("pfsense-mcp: PFSENSE_HOST is ignored in sandbox mode");
        }
        if cli.target.config.is_some() {
            crate::note!("pfsense-mcp: the config file is ignored in sandbox mode");
        }
        options.banner = Some(crate::sandbox::BANNER.to_string());
        let target = crate::sandbox::start(
            std::time::Duration::from_secs(cli.connection.timeout.max(1)),
            cli.connection.resilience()?,
        );
        let firewall = Firewall {
            name: crate::fleet::SANDBOX_NAME.into(),
            label: "a sandbox emulator of pfSense (no real firewall)".into(),
            target,
            policy: flags,
        };
        let (opening, then) = guards.opening();
        return PfSenseServer::with_guards_opening(
            vec![firewall],
            crate::fleet::SANDBOX_NAME,
            options,
            opening,
            then,
        );
    }
    let host_given = cli.connection.host().is_some();
    match crate::fleet::config_path(cli.target.config.as_deref()) {
        Some((path, true)) if host_given => Err(format!(
            "both a config file ({}) and PFSENSE_HOST / --host name a firewall: put every firewall in the config file, or drop --config / PFSENSE_CONFIG",
            path.display()
        )),
        Some((path, false)) if host_given => {
            tracing::info!(
                "PFSENSE_HOST is set: using it, not the firewalls of {}",
                path.display()
            );
            serve_flags_firewall(cli, flags, options, guards)
        }
        Some((path, _)) => serve_config_file(cli, &path, flags, options, guards),
        None => serve_flags_firewall(cli, flags, options, guards),
    }
}

/// Without a config file: one firewall named `default` from the flags and environment.
fn serve_flags_firewall(
    cli: &ServeArgs,
    flags: Policy,
    options: ServerOptions,
    guards: Guards,
) -> Result<PfSenseServer, String> {
    let config = cli.connection.client_config()?;
    let firewall = connect(crate::fleet::DEFAULT_NAME, config, flags)?;
    let (opening, then) = guards.opening();
    PfSenseServer::with_guards_opening(
        vec![firewall],
        crate::fleet::DEFAULT_NAME,
        options,
        opening,
        then,
    )
}

/// The flags a config file's firewalls refuse: --allow-dangerous cannot widen them.
pub fn config_file_refuses(flags: &Policy, path: &std::path::Path) -> Result<(), String> {
    if flags.allow_dangerous {
        return Err(format!(
            "--allow-dangerous (PFSENSE_ALLOW_DANGEROUS) cannot widen the firewalls of a config file: set `allow_dangerous = true` on the firewalls that may use dangerous tools in {}",
            path.display()
        ));
    }
    Ok(())
}

/// The firewalls of a config file, each under its own policy narrowed by the flags.
fn serve_config_file(
    cli: &ServeArgs,
    path: &std::path::Path,
    flags: Policy,
    options: ServerOptions,
    guards: Guards,
) -> Result<PfSenseServer, String> {
    config_file_refuses(&flags, path)?;
    let c = &cli.connection;
    let ignored: Vec<&str> = [
        ("--api-key / PFSENSE_API_KEY", c.api_key.is_some()),
        ("--username / PFSENSE_USERNAME", c.username.is_some()),
        ("--password / PFSENSE_PASSWORD", c.password.is_some()),
        ("--auth / PFSENSE_AUTH", c.auth.is_some()),
        (
            "--tls-fingerprint / PFSENSE_TLS_FINGERPRINT",
            c.tls_fingerprint.is_some(),
        ),
        ("--ca-cert / PFSENSE_CA_CERT", c.ca_cert.is_some()),
        (
            "--insecure / PFSENSE_VERIFY_SSL",
            c.insecure || !c.verify_ssl,
        ),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if !ignored.is_empty() {
        tracing::warn!(
            "{} ignored: the config file {} says how to reach each firewall",
            ignored.join(", "),
            path.display()
        );
    }
    let fleet = crate::fleet::FleetConfig::load(path)?;
    let mut firewalls = Vec::new();
    // Retries and the circuit breaker follow the flags, the same for every firewall.
    let resilience = c.resilience()?;
    for fw in fleet.resolve_all(&crate::fleet::process_env)? {
        let policy = fw.policy.narrowed(&flags);
        let client = ClientConfig {
            resilience,
            ..fw.client
        };
        firewalls.push(
            connect(&fw.name, client, policy)
                .map_err(|e| format!("config file {}: {e}", path.display()))?,
        );
    }
    tracing::info!(
        config = %path.display(),
        firewalls = %fleet.names().join(","),
        default = fleet.default_name(),
        "firewalls from the config file"
    );
    let (opening, then) = guards.opening();
    PfSenseServer::with_guards_opening(firewalls, fleet.default_name(), options, opening, then)
}

/// A firewall of the fleet with its HTTP client.
fn connect(name: &str, config: ClientConfig, policy: Policy) -> Result<Firewall, String> {
    if matches!(config.tls, crate::tls::TlsMode::Insecure) {
        tracing::warn!(
            firewall = name,
            "TLS certificate verification is OFF; pin the certificate with a TLS fingerprint instead"
        );
    }
    let label = config.base_url.as_str().trim_end_matches('/').to_string();
    let client = Client::new(config).map_err(|e| format!("firewall `{name}`: {e}"))?;
    Ok(Firewall {
        name: name.to_string(),
        label,
        target: crate::server::Target::Ready(std::sync::Arc::new(client)),
        policy,
    })
}

/// The guards of the server being built: their settings, and the guards themselves opening on
/// their own thread ([`open_guards_early`]) or opened when first needed. A task waits for them
/// as soon as the server serves (`serve_command_unboxed`), so that a server whose audit log or
/// journal cannot be written still fails at start (not at the first change).
struct Guards {
    options: crate::safety::SafetyOptions,
    opening: Option<std::thread::JoinHandle<Result<Arc<Safety>, String>>>,
}

impl Guards {
    fn new(
        args: &crate::config::SafetyArgs,
        sandbox: bool,
        early: Option<OpeningGuards>,
    ) -> Result<Guards, String> {
        Ok(match early.filter(|g| g.sandbox == sandbox) {
            Some(g) => Guards {
                options: g.options,
                opening: Some(g.opening),
            },
            None => Guards {
                options: args.options(sandbox)?,
                opening: None,
            },
        })
    }

    /// How the server gets its guards (waiting for their thread, or opening them), and what it
    /// does once it has: say the audit log and the overdue provisional changes, or end the
    /// start as before serving when they cannot open (status 2, the error on stderr), although
    /// the answer to `initialize` may have gone out.
    fn opening(self) -> (GuardsOpening, WhenGuardsOpen) {
        let opening: GuardsOpening = match self.opening {
            Some(thread) => Box::new(move || {
                thread
                    .join()
                    .map_err(|_| "opening the audit log and journal failed".to_string())?
            }),
            None => {
                let options = self.options.clone();
                Box::new(move || Safety::open(options).map(Arc::new))
            }
        };
        let audit_log = self.options.audit_log;
        let auto_revert = self.options.auto_revert.is_some();
        let then: WhenGuardsOpen = Box::new(move |server| match server.safety() {
            Ok(_) => {
                if let Some(p) = &audit_log {
                    tracing::info!(path = %p.display(), "audit log");
                }
                if !auto_revert {
                    note_overdue_provisional_changes(server);
                }
            }
            Err(e) => {
                crate::note!("pfsense-mcp: {e}");
                std::process::exit(i32::from(Failure::Usage as u8));
            }
        });
        (opening, then)
    }
}

pub async fn serve_stdio(server: PfSenseServer) -> Result<(), String> {
    tracing::info!(tools = server.offered().len(), "serving MCP on stdio");
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        crate::note!(
            "pfsense-mcp: waiting for an MCP client on stdin (this is not an interactive prompt: add the server to an MCP client, e.g. `claude mcp add -s user pfsense -- pfsense-mcp --sandbox`; Ctrl-C to quit)"
        );
    }
    // rmcp's input ends when `stop` is cancelled: after the drain (`drain_stdio`).
    let stop = tokio_util::sync::CancellationToken::new();
    let closed = tokio_util::sync::CancellationToken::new();
    let stdin = StdinUntil {
        inner: tokio::io::stdin(),
        closed: Some(closed.clone()),
        stop: Box::pin(stop.clone().cancelled_owned()),
    };
    // Lines that are not JSON are answered before rmcp sees them (stdio.rs).
    let (input, output, writer, owed) = crate::stdio::guarded(stdin, tokio::io::stdout());
    // Requests left unanswered at exit: the exit is then a failure (status 1).
    let abandoned = Arc::new(std::sync::OnceLock::new());
    tokio::spawn(drain_stdio(
        crate::shutdown::Signals::listen(),
        closed,
        owed,
        stop,
        abandoned.clone(),
    ));
    let result = pfsense_mcp_transport::serve_streams(
        pfsense_mcp_transport::Erased::new(server),
        input,
        output,
    )
    .await;
    // Answers to the last lines read are written before the process ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), writer).await;
    match abandoned.get() {
        None => result,
        Some((why, n)) => Err(format!("{why} with {n} call(s) in flight unanswered")),
    }
}

/// The one drain of stdio, whatever began it (SIGTERM/SIGINT, or the client closing stdin):
/// the shutdown begins ([`crate::shutdown::begin`]: a call waiting for a human's approval is
/// refused now), then rmcp's input ends (`stop`) only once every request rmcp read is
/// answered on stdout, or after [`crate::shutdown::DRAIN_TIMEOUT`], which leaves the number
/// unanswered in `abandoned`. rmcp itself waits only 5 s for the calls in flight once its input
/// ends, then drops their answers, and a call to a slow firewall takes longer. A signal during
/// the drain (a second one, or the first after stdin closed) exits at once.
async fn drain_stdio(
    mut signals: crate::shutdown::Signals,
    closed: tokio_util::sync::CancellationToken,
    owed: crate::stdio::Owed,
    stop: tokio_util::sync::CancellationToken,
    abandoned: Arc<std::sync::OnceLock<(&'static str, usize)>>,
) {
    let began = tokio::select! {
        () = signals.next() => Began::Signal,
        () = closed.cancelled() => Began::StdinClosed,
    };
    crate::shutdown::begin();
    owed.drain();
    match began {
        Began::StdinClosed => tracing::info!(
            "stdin closed: answering the {} call(s) in flight, then exiting (a signal exits at once)",
            owed.len()
        ),
        Began::Signal => tracing::info!(
            calls = owed.len(),
            "signal received: answering the calls in flight, then exiting (a second signal exits at once)"
        ),
    }
    tokio::select! {
        done = tokio::time::timeout(crate::shutdown::DRAIN_TIMEOUT, owed.answered()) => {
            if done.is_err() || !owed.is_empty() {
                let left = owed.len().max(1);
                let _ = abandoned.set((began.why(), left));
                crate::shutdown::note_unanswered(
                    if done.is_err() {
                        "the calls in flight did not finish in time"
                    } else {
                        "stdout closed before the calls in flight were answered"
                    },
                    left,
                    "call",
                );
            }
        }
        () = signals.next() => crate::shutdown::exit_on_signal_during_drain(
            began.signal_during_drain(),
            owed.len(),
            "call",
        ),
    }
    stop.cancel();
}

/// What began the drain of stdio.
#[derive(Clone, Copy)]
enum Began {
    Signal,
    StdinClosed,
}

impl Began {
    /// The start of the error a drain that left calls unanswered ends with.
    fn why(self) -> &'static str {
        match self {
            Began::Signal => "stopped on a signal",
            Began::StdinClosed => "stdin closed",
        }
    }

    /// A signal that comes during the drain, as the note on stderr names it: after a closed
    /// stdin it is the first signal, not a second.
    fn signal_during_drain(self) -> &'static str {
        match self {
            Began::Signal => "a second signal",
            Began::StdinClosed => "a signal after stdin closed",
        }
    }
}

/// stdin as rmcp's input (through `stdio::guarded`): it ends when `stop` is cancelled, after
/// the drain ([`drain_stdio`]). The client closing stdin (or reading it failing) cancels
/// `closed`, which begins the drain, and the end is held back until the drain is over: rmcp
/// must not see its input end while it owes answers (it would give them 5 s, then drop them).
struct StdinUntil {
    inner: tokio::io::Stdin,
    /// Cancelled (and taken) once stdin ended; no more is read from it then.
    closed: Option<tokio_util::sync::CancellationToken>,
    stop: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl tokio::io::AsyncRead for StdinUntil {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        use std::task::Poll;
        if self.stop.as_mut().poll(cx).is_ready() {
            // End of file: no bytes.
            return Poll::Ready(Ok(()));
        }
        if self.closed.is_none() {
            // stdin ended; `stop` wakes this reader when the drain is over.
            return Poll::Pending;
        }
        let (before, room) = (buf.filled().len(), buf.remaining());
        let ended = match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            // No bytes into room for some: the client closed stdin.
            Poll::Ready(Ok(())) => room > 0 && buf.filled().len() == before,
            Poll::Ready(Err(e)) => {
                tracing::warn!(error = %e, "reading stdin failed");
                true
            }
            Poll::Pending => return Poll::Pending,
        };
        if !ended {
            return Poll::Ready(Ok(()));
        }
        if let Some(closed) = self.closed.take() {
            closed.cancel();
        }
        // Polled again (the drain may already be over): registers this reader's waker.
        if self.stop.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

/// One catalogue entry as `tools --json` prints it.
pub fn tool_json(def: &ToolDef, policy: &Policy) -> Value {
    json!({
        "name": def.name,
        "verb": def.verb.as_str(),
        "module": def.module.as_str(),
        "risk": def.risk.as_str(),
        "method": def.method.as_str(),
        "path": def.path,
        "apply_tool": def.apply.map(|a| a.tool),
        "required_packages": def.required_packages,
        "offered": policy.offers(def),
        "description": def.description,
        "input_schema": Value::Object((**def.schema()).clone()),
        "listed_schema": Value::Object((*def.listed()).clone()),
        "annotations": {
            "readOnlyHint": def.read_only_hint(),
            "destructiveHint": def.destructive_hint(),
            "idempotentHint": def.idempotent_hint(),
            "openWorldHint": false,
        },
    })
}

fn print_tools(args: &ToolsArgs, policy: &Policy) -> Result<(), CliError> {
    let only = parse_modules(&args.module).map_err(CliError::usage)?;
    // `tools` shows the catalogue; read-only and modules narrow it, dangerous tools stay
    // listed (marked not offered unless --allow-dangerous).
    let selected: Vec<&ToolDef> = TOOLS
        .iter()
        .filter(|d| !policy.is_read_only() || d.method == crate::spec::Method::Get)
        .filter(|d| {
            policy
                .modules
                .as_ref()
                .is_none_or(|m| m.contains(&d.module))
        })
        .filter(|d| only.as_ref().is_none_or(|m| m.contains(&d.module)))
        .collect();
    let mut out = String::new();
    if args.json {
        let list: Vec<Value> = selected.iter().map(|d| tool_json(d, policy)).collect();
        out = serde_json::to_string_pretty(&list)
            .map_err(|e| CliError::new(Failure::Runtime, e.to_string()))?;
        out.push('\n');
    } else if args.summary {
        let mut by_verb: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_module: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &selected {
            *by_verb.entry(d.verb.as_str()).or_default() += 1;
            *by_module.entry(d.module.as_str()).or_default() += 1;
        }
        out.push_str(&format!(
            "{} tools (spec {}), {} offered with these settings (--allow, --deny, --allow-dangerous)\n\nby verb:\n",
            selected.len(),
            crate::catalog::SPEC_VERSION,
            selected.iter().filter(|d| policy.offers(d)).count()
        ));
        for (k, v) in by_verb {
            out.push_str(&format!("  {k:<14} {v}\n"));
        }
        out.push_str("\nby module:\n");
        for (k, v) in by_module {
            out.push_str(&format!("  {k:<24} {v}\n"));
        }
    } else {
        let width = crate::spec::naming::MAX_TOOL_NAME_LEN;
        out.push_str(&format!(
            "{:<width$} {:<12} {:<22} {:<11} {:<6} {:<50} APPLY\n",
            "NAME", "VERB", "MODULE", "RISK", "METHOD", "PATH"
        ));
        for d in &selected {
            out.push_str(&format!(
                "{:<width$} {:<12} {:<22} {:<11} {:<6} {:<50} {}\n",
                d.name,
                d.verb.as_str(),
                d.module.as_str(),
                d.risk.as_str(),
                d.method.as_str(),
                d.path,
                match (d.apply.map(|a| a.tool), policy.offers(d)) {
                    (apply, true) => apply.unwrap_or("-").to_string(),
                    (apply, false) => format!("{} (not offered)", apply.unwrap_or("-")),
                }
            ));
        }
    }
    emit(&out)?;
    if !args.json && !args.summary {
        crate::note!(
            "{} tools, {} offered with these settings",
            selected.len(),
            selected.iter().filter(|d| policy.offers(d)).count()
        );
    }
    Ok(())
}
