//! What the binary does for each subcommand.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::{Client, ClientConfig};
use crate::config::{AuditCommand, Cli, Command, ToolsArgs, parse_modules};
use crate::server::{Firewall, PfSenseServer, Policy, ServerOptions};
use rmcp::ServiceExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Logs go to stderr: stdout carries the MCP protocol.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PFSENSE_MCP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("pfsense_mcp=info,warn"));
    // rmcp's debug and trace events print whole MCP messages, tool arguments included, and
    // those can hold passwords and keys: never below info, whatever the filter says.
    let filter = match "rmcp=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        // A closed stderr must not panic the logging thread (tracing falls back to eprintln!).
        .log_internal_errors(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Some(Command::Tools(ref args)) => print_tools(args, &cli.policy.policy()?),
        Some(Command::Audit(AuditCommand::Verify { file })) => {
            let v = crate::safety::audit::verify(&file)
                .map_err(|e| format!("audit log {} is NOT intact: {e}", file.display()))?;
            let cut = match v.cut_off {
                0 => String::new(),
                1 => " (1 line cut off by a crash, closed off by a cut_off entry)".into(),
                n => format!(" ({n} lines cut off by crashes, each closed off by a cut_off entry)"),
            };
            println!(
                "{}: {} entries, chain intact{cut}; last hash {}",
                file.display(),
                v.entries,
                v.last_hash
            );
            Ok(())
        }
        Some(Command::Doctor { ref firewall }) => doctor(&cli, firewall.as_deref()).await,
        Some(Command::Serve) | None => serve(build_server(&cli)?, &cli.http).await,
    }
}

/// The server the flags, environment and config file describe: the sandbox, the firewalls of
/// the config file, or the one firewall the flags name. Each MCP session gets its own value
/// through `PfSenseServer::new_session`.
/// `pfsense-mcp doctor`: PFSENSE_HOST when set, else the firewalls of the config file (all, or
/// the one named). One report per firewall; fails when any check of any firewall fails.
async fn doctor(cli: &Cli, only: Option<&str>) -> Result<(), String> {
    let config = crate::fleet::config_path(cli.config.as_deref());
    let targets: Vec<(String, Result<crate::doctor::Target, String>)> = match (
        &config,
        cli.connection.host().is_some(),
    ) {
        (Some((path, _)), false) => {
            let fleet = crate::fleet::FleetConfig::load(path)?;
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
        _ if only.is_some() => {
            return Err(
                    "--firewall names a firewall of the config file, but no config file is in use (PFSENSE_HOST is set, or there is no --config / PFSENSE_MCP_CONFIG)"
                        .into(),
                );
        }
        _ => vec![(String::new(), cli.connection.doctor_target())],
    };
    let mut failed = 0;
    for (i, (label, target)) in targets.iter().enumerate() {
        if i > 0 {
            println!();
        }
        if !label.is_empty() {
            println!("== {label}");
        }
        match target {
            Ok(target) => {
                let report = crate::doctor::run(target).await;
                println!("{}", report.render());
                failed += report.failures();
            }
            Err(e) if label.is_empty() => return Err(e.clone()),
            Err(e) => {
                println!("  FAIL  config           {e}");
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(format!(
            "doctor: {n} check{} failed",
            if n == 1 { "" } else { "s" }
        )),
    }
}

pub fn build_server(cli: &Cli) -> Result<PfSenseServer, String> {
    let flags = cli.policy.policy()?;
    let mut options = ServerOptions {
        page_size: cli.page_size,
        banner: None,
        safety: checked_safety(&cli.safety, cli.sandbox)?,
        tool_mode: cli.tool_mode,
        result_budget_tokens: cli.result_budget.max(1000),
    };
    if cli.sandbox {
        eprintln!("pfsense-mcp: {}", crate::sandbox::BANNER);
        if cli.connection.host().is_some() {
            eprintln!("pfsense-mcp: PFSENSE_HOST is ignored in sandbox mode");
        }
        if cli.config.is_some() {
            eprintln!("pfsense-mcp: the config file is ignored in sandbox mode");
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
        return PfSenseServer::new(vec![firewall], crate::fleet::SANDBOX_NAME, options);
    }
    let host_given = cli.connection.host().is_some();
    match crate::fleet::config_path(cli.config.as_deref()) {
        Some((path, true)) if host_given => Err(format!(
            "both a config file ({}) and PFSENSE_HOST / --host name a firewall: put every firewall in the config file, or drop --config / PFSENSE_MCP_CONFIG",
            path.display()
        )),
        Some((path, false)) if host_given => {
            tracing::info!(
                "PFSENSE_HOST is set: using it, not the firewalls of {}",
                path.display()
            );
            serve_flags_firewall(cli, flags, options)
        }
        Some((path, _)) => serve_config_file(cli, &path, flags, options),
        None => serve_flags_firewall(cli, flags, options),
    }
}

/// Without a config file: one firewall named `default` from the flags and environment.
fn serve_flags_firewall(
    cli: &Cli,
    flags: Policy,
    options: ServerOptions,
) -> Result<PfSenseServer, String> {
    let config = cli.connection.client_config()?;
    let firewall = connect(crate::fleet::DEFAULT_NAME, config, flags)?;
    PfSenseServer::new(vec![firewall], crate::fleet::DEFAULT_NAME, options)
}

/// The firewalls of a config file, each under its own policy narrowed by the flags.
fn serve_config_file(
    cli: &Cli,
    path: &std::path::Path,
    flags: Policy,
    options: ServerOptions,
) -> Result<PfSenseServer, String> {
    if flags.allow_dangerous {
        return Err(format!(
            "--allow-dangerous (PFSENSE_ALLOW_DANGEROUS) cannot widen the firewalls of a config file: set `allow_dangerous = true` on the firewalls that may use dangerous tools in {}",
            path.display()
        ));
    }
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
        firewalls.push(connect(&fw.name, client, policy)?);
    }
    tracing::info!(
        config = %path.display(),
        firewalls = %fleet.names().join(","),
        default = fleet.default_name(),
        "firewalls from the config file"
    );
    PfSenseServer::new(firewalls, fleet.default_name(), options)
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

/// The safety settings, with the audit log and journal opened once to fail at start (not at
/// the first change) when they cannot be written.
fn checked_safety(
    args: &crate::config::SafetyArgs,
    sandbox: bool,
) -> Result<crate::safety::SafetyOptions, String> {
    let options = args.options(sandbox)?;
    drop(crate::safety::Safety::open(options.clone())?);
    if let Some(p) = &options.audit_log {
        tracing::info!(path = %p.display(), "audit log");
    }
    Ok(options)
}

/// Serve over HTTP when --http is given, else over stdio.
pub async fn serve(server: PfSenseServer, http: &crate::http::HttpArgs) -> Result<(), String> {
    if http.enabled() {
        crate::http::serve(server, http).await
    } else {
        serve_stdio(server).await
    }
}

pub async fn serve_stdio(server: PfSenseServer) -> Result<(), String> {
    tracing::info!(tools = server.offered().len(), "serving MCP on stdio");
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP session failed to start: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| format!("MCP session ended with an error: {e}"))?;
    Ok(())
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

fn print_tools(args: &ToolsArgs, policy: &Policy) -> Result<(), String> {
    let only = parse_modules(&args.module)?;
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
    if args.json {
        let list: Vec<Value> = selected.iter().map(|d| tool_json(d, policy)).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
        );
    } else if args.summary {
        let mut by_verb: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_module: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &selected {
            *by_verb.entry(d.verb.as_str()).or_default() += 1;
            *by_module.entry(d.module.as_str()).or_default() += 1;
        }
        println!(
            "{} tools (spec {})",
            selected.len(),
            crate::catalog::SPEC_VERSION
        );
        println!("\nby verb:");
        for (k, v) in by_verb {
            println!("  {k:<14} {v}");
        }
        println!("\nby module:");
        for (k, v) in by_module {
            println!("  {k:<24} {v}");
        }
    } else {
        println!(
            "{:<58} {:<12} {:<22} {:<11} {:<6} {:<50} APPLY",
            "NAME", "VERB", "MODULE", "RISK", "METHOD", "PATH"
        );
        for d in &selected {
            println!(
                "{:<58} {:<12} {:<22} {:<11} {:<6} {:<50} {}",
                d.name,
                d.verb.as_str(),
                d.module.as_str(),
                d.risk.as_str(),
                d.method.as_str(),
                d.path,
                d.apply.map(|a| a.tool).unwrap_or("-")
            );
        }
        eprintln!("{} tools", selected.len());
    }
    Ok(())
}
