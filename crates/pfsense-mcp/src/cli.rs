//! What the binary does for each subcommand.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::config::{AuditCommand, Cli, Command, ToolsArgs, parse_modules};
use crate::server::{PfSenseServer, Policy, ServerOptions};
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
    let policy = cli.policy.policy()?;
    match cli.command {
        Some(Command::Tools(args)) => print_tools(&args, &policy),
        Some(Command::Audit(AuditCommand::Verify { file })) => {
            let v = crate::safety::audit::verify(&file)
                .map_err(|e| format!("audit log {} is NOT intact: {e}", file.display()))?;
            println!(
                "{}: {} entries, chain intact; last hash {}",
                file.display(),
                v.entries,
                v.last_hash
            );
            Ok(())
        }
        Some(Command::Doctor) => {
            let target = cli.connection.doctor_target()?;
            let report = crate::doctor::run(&target).await;
            println!("{}", report.render());
            match report.failures() {
                0 => Ok(()),
                n => Err(format!(
                    "doctor: {n} check{} failed",
                    if n == 1 { "" } else { "s" }
                )),
            }
        }
        Some(Command::Serve) | None if cli.sandbox => {
            eprintln!("pfsense-mcp: {}", crate::sandbox::BANNER);
            if cli.connection.host().is_some() {
                eprintln!("pfsense-mcp: PFSENSE_HOST is ignored in sandbox mode");
            }
            let target = crate::sandbox::start(
                std::time::Duration::from_secs(cli.connection.timeout.max(1)),
                cli.connection.resilience()?,
            );
            let options = ServerOptions {
                policy,
                page_size: cli.page_size,
                banner: Some(crate::sandbox::BANNER.to_string()),
                safety: checked_safety(&cli.safety, true)?,
                tool_mode: cli.tool_mode,
                result_budget_tokens: cli.result_budget.max(1000),
            };
            let server = PfSenseServer::with_target(
                target,
                Some("a sandbox emulator of pfSense (no real firewall)".into()),
                options,
            );
            serve(server, &cli.http).await
        }
        Some(Command::Serve) | None => {
            let config = cli.connection.client_config()?;
            if matches!(config.tls, crate::tls::TlsMode::Insecure) {
                tracing::warn!(
                    "TLS certificate verification is OFF; pin the certificate with PFSENSE_TLS_FINGERPRINT instead"
                );
            }
            let client = Client::new(config)?;
            let options = ServerOptions {
                policy,
                page_size: cli.page_size,
                banner: None,
                safety: checked_safety(&cli.safety, false)?,
                tool_mode: cli.tool_mode,
                result_budget_tokens: cli.result_budget.max(1000),
            };
            serve(PfSenseServer::new(client, options), &cli.http).await
        }
    }
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
        .filter(|d| !policy.read_only || d.method == crate::spec::Method::Get)
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
