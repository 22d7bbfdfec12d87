//! `cargo xtask exercise --target emulator|URL`: drives every generated tool through the real
//! `pfsense-mcp` binary with a real MCP client (rmcp over stdio), creating what each tool
//! depends on first, and writes a JSON and a Markdown report of what succeeded.

mod driver;
mod lab_failures;
mod report;
mod values;

pub(crate) use driver::redact_args;

use anyhow::{Context, Result, bail};
use pfsense_spec::Spec;
use rmcp::ServiceExt;
use rmcp::transport::TokioChildProcess;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const HELP: &str = "\
Targets:
  emulator  a fresh in-process pfsense-emulator (KeyAuth enabled, every add-on package installed),
            reached through its pinned certificate fingerprint; dangerous tools run last
  lab       a fresh pfrest lab (pfrest's own PHP on loopback, crates/pfrest-lab; needs root and
            PHP 8.2): KeyAuth enabled, add-on packages as stand-ins; dangerous tools run last (they reach
            only the lab's namespaces and stand-ins)
  URL       an existing firewall, e.g. https://192.168.1.1, with credentials from the environment:
            PFSENSE_API_KEY and PFSENSE_USERNAME / PFSENSE_PASSWORD (both, so Basic-only tools
            work), and PFSENSE_TLS_FINGERPRINT or PFSENSE_CA_CERT for its certificate.
            Dangerous tools (halt, reboot, shell, cron, packages, bulk clears) are skipped unless
            --include-dangerous. The exerciser creates, changes and deletes objects there.

The report (report.json, report.md) lists every tool: invoked or not, outcome, response_id,
message, number of calls, and for tools that fail by a known rule of the real API, the reason.
Exits non-zero when fewer than --min-ok tools succeed or any tool was not invoked, and against
the emulator when any tool fails without a known reason.";

/// What a firewall URL target takes from the environment (credentials, certificate pinning).
pub(crate) const URL_TARGET_ENV: &[&str] = &[
    "PFSENSE_API_KEY",
    "PFSENSE_USERNAME",
    "PFSENSE_PASSWORD",
    "PFSENSE_TLS_FINGERPRINT",
    "PFSENSE_CA_CERT",
    "PFSENSE_VERIFY_SSL",
];

#[derive(clap::Args, Debug)]
#[command(after_long_help = HELP)]
pub struct Args {
    /// `emulator`, `lab`, or the URL of a firewall.
    #[arg(long)]
    pub target: String,
    /// Where a `--target lab` comes from.
    #[command(flatten)]
    pub lab: crate::lab::LabArgs,
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/exercise")]
    pub report: PathBuf,
    /// Fewest tools that must succeed (default: 660 against the emulator, 500 against the lab, 0 against a URL).
    #[arg(long)]
    pub min_ok: Option<usize>,
    /// Also run the dangerous tools against a URL target (always run against the emulator).
    #[arg(long)]
    pub include_dangerous: bool,
    /// The pfsense-mcp binary to drive (default: build it with cargo).
    #[arg(long, env = "PFSENSE_MCP_BIN")]
    pub binary: Option<PathBuf>,
    /// The OpenAPI spec the tools were generated from.
    #[arg(
        long,
        env = "PFSENSE_OPENAPI_SPEC",
        default_value = "openapi-spec.json"
    )]
    pub spec: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    crate::block_on(run_async(args))?
}

async fn run_async(args: Args) -> Result<()> {
    let started = Instant::now();
    let spec = Arc::new(
        Spec::load(&args.spec)
            .with_context(|| format!("loading the spec {}", args.spec.display()))?,
    );
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => build_binary()?,
    };
    let emulator_target = args.target == "emulator";
    let mut notes = Vec::new();
    let mut _lab = None;
    let (env, _emulator, run_dangerous) = if args.target == "lab" {
        let lab = tokio::task::block_in_place(|| crate::lab::start(&args.lab, 8))?;
        let key = tokio::task::block_in_place(|| lab.enable_key_auth())
            .context("enabling KeyAuth on the lab")?;
        let env = vec![
            ("PFSENSE_HOST".to_string(), lab.url().to_string()),
            ("PFSENSE_API_KEY".to_string(), key),
            ("PFSENSE_USERNAME".to_string(), lab.username().to_string()),
            ("PFSENSE_PASSWORD".to_string(), lab.password().to_string()),
        ];
        notes.push(format!(
            "Target: a fresh pfrest lab {} (pfrest's own PHP, KeyAuth and BasicAuth, add-on package includes stood in); dangerous tools ran last.",
            lab.version()
        ));
        _lab = Some(lab);
        (env, None, true)
    } else if emulator_target {
        let mut config = pfsense_emulator::EmulatorConfig::new(&args.spec);
        config.spec = Some(spec.clone());
        config.enable_key_auth = true;
        config.installed_packages = vec!["all".into()];
        let emu = pfsense_emulator::start(config).await?;
        let env = vec![
            ("PFSENSE_HOST".to_string(), emu.url().to_string()),
            (
                "PFSENSE_API_KEY".to_string(),
                emu.api_key().unwrap_or_default().to_string(),
            ),
            ("PFSENSE_USERNAME".to_string(), emu.username().to_string()),
            ("PFSENSE_PASSWORD".to_string(), emu.password().to_string()),
            (
                "PFSENSE_TLS_FINGERPRINT".to_string(),
                emu.fingerprint().to_string(),
            ),
        ];
        notes.push(
            "Target: a fresh pfsense-emulator (KeyAuth and BasicAuth, all add-on packages); dangerous tools ran last.".to_string(),
        );
        (env, Some(emu), true)
    } else {
        if !args.target.starts_with("https://") && !args.target.starts_with("http://") {
            bail!(
                "--target must be `emulator`, `lab` or a firewall URL (https://…), not `{}`",
                args.target
            );
        }
        let mut env = vec![("PFSENSE_HOST".to_string(), args.target.clone())];
        for name in URL_TARGET_ENV {
            if let Ok(v) = std::env::var(name) {
                env.push((name.to_string(), v));
            }
        }
        if !env.iter().any(|(k, _)| k == "PFSENSE_API_KEY")
            || !env.iter().any(|(k, _)| k == "PFSENSE_PASSWORD")
        {
            eprintln!(
                "exercise: set PFSENSE_API_KEY and PFSENSE_USERNAME/PFSENSE_PASSWORD so both key and Basic-only tools work"
            );
        }
        if args.include_dangerous {
            notes.push(
                "Target: a firewall URL; dangerous tools were included (--include-dangerous)."
                    .to_string(),
            );
        } else {
            notes.push("Target: a firewall URL; dangerous tools were skipped (pass --include-dangerous to run them).".to_string());
        }
        (env, None, args.include_dangerous)
    };

    let mut cmd = tokio::process::Command::new(&binary);
    cmd.env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in &env {
        cmd.env(k, v);
    }
    // Every tool must be listed and callable in quick succession: the full catalogue, no rate
    // limits, nothing written outside the target dir, changes confirmed by the flag alone.
    cmd.env("PFSENSE_TOOL_MODE", "full")
        .env(
            "PFSENSE_RATE_LIMIT",
            "write=off,destructive=off,dangerous=off",
        )
        .env("PFSENSE_AUDIT_LOG", "off")
        .env("PFSENSE_JOURNAL", "memory")
        .env("PFSENSE_CONFIRM", "flag");
    if args.target == "lab" {
        // The lab's stand-in gaps answer some tools 500 (classified in lab_failures.rs) and the
        // breaker counts 500s: an open breaker would keep every later tool from being invoked.
        cmd.env("PFSENSE_BREAKER_THRESHOLD", "0");
    }
    if run_dangerous {
        cmd.arg("--allow-dangerous");
    }
    let (transport, _stderr) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let client = ().serve(transport).await.context("MCP initialize")?;
    let listed = client
        .peer()
        .list_all_tools()
        .await
        .context("MCP tools/list")?;

    if std::env::var_os("EXERCISE_DUMP_TOOLS").is_some() {
        std::fs::create_dir_all(&args.report)?;
        std::fs::write(
            args.report.join("tools.json"),
            serde_json::to_string_pretty(&listed)?,
        )?;
    }
    let secrets: Vec<String> = env
        .iter()
        .filter(|(k, _)| k == "PFSENSE_API_KEY" || k == "PFSENSE_PASSWORD")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
        .collect();
    let mut driver = driver::Driver::new(client, spec.clone(), listed, run_dangerous, secrets);
    driver.run_all().await;
    let mut records = driver.finish(run_dangerous).await;
    if args.target == "lab" {
        let counts = lab_failures::classify_all(&mut records, &spec);
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        notes.push(format!("Lab failures by class: {}.", counts.join(", ")));
    }

    let report = report::Report::new(
        args.target.clone(),
        records,
        started.elapsed().as_secs_f64(),
        notes,
    );
    report.write(&args.report)?;
    println!("{}", report.totals_line());
    println!(
        "exercise: report in {}",
        args.report.join("report.md").display()
    );
    let min_ok = args.min_ok.unwrap_or(match args.target.as_str() {
        "emulator" => 660,
        "lab" => 500,
        _ => 0,
    });
    let not_invoked: Vec<&String> = report
        .tools
        .iter()
        .filter(|(_, t)| !t.invoked && !(t.reason.as_deref().is_some_and(is_skip_reason)))
        .map(|(n, _)| n)
        .collect();
    if !not_invoked.is_empty() {
        bail!(
            "{} tool(s) were not invoked: {}",
            not_invoked.len(),
            not_invoked
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // On the emulator every failure is known (a real-box quirk it copies, or a refusal of
    // ours by design): one without a reason is a regression, whatever the count.
    if args.target == "emulator" {
        let unexplained: Vec<&str> = report
            .tools
            .iter()
            .filter(|(_, t)| t.outcome != report::Outcome::Ok && t.reason.is_none())
            .map(|(n, _)| n.as_str())
            .collect();
        if !unexplained.is_empty() {
            bail!(
                "{} tool(s) failed without a known reason: {} (see {})",
                unexplained.len(),
                unexplained.join(", "),
                args.report.join("report.md").display()
            );
        }
    }
    if report.ok < min_ok {
        bail!(
            "only {} tools succeeded; at least {min_ok} must (see {})",
            report.ok,
            args.report.join("report.md").display()
        );
    }
    Ok(())
}

/// Tools deliberately left out (dangerous tools against a firewall URL).
fn is_skip_reason(reason: &str) -> bool {
    reason.starts_with(driver::SKIPPED_DANGEROUS)
}

/// Build the product binary with cargo and return its path.
pub(crate) fn build_binary() -> Result<PathBuf> {
    let output = crate::shell_cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "pfsense-mcp",
            "--bin",
            "pfsense-mcp",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build -p pfsense-mcp")?;
    if !output.status.success() {
        bail!("cargo build -p pfsense-mcp failed");
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact"
            && msg["target"]["name"] == "pfsense-mcp"
            && let Some(exe) = msg["executable"].as_str()
            && Path::new(exe).is_file()
        {
            return Ok(PathBuf::from(exe));
        }
    }
    bail!("cargo build did not report the pfsense-mcp executable")
}
