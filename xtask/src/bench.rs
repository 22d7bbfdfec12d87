//! `cargo xtask bench`: measure what the server costs to run and to hold in a client's context,
//! against the emulator on loopback, and write BENCHMARKS.md.
//!
//! Measured in one run: spawn → initialize (median of cold starts), tools/list time, bytes and
//! o200k tokens per tool mode, peak RSS after a full tools/list, tool-call latency p50/p99 of a
//! read tool next to the same GET made directly (the floor), an HTTP load run (`--sandbox
//! --http` with concurrent streamable-HTTP clients, see `bench_http`). `--build` measures build
//! costs instead (`bench_build`).

use anyhow::{Context, Result, bail};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Cold starts for the initialize median.
    #[arg(long, default_value_t = 15)]
    starts: usize,
    /// Tool calls (and direct GETs) for the latency percentiles.
    #[arg(long, default_value_t = 400)]
    calls: usize,
    /// Measure build costs instead (no-op build, spec-edit rebuilds, the run/test switch,
    /// binary size) and replace the report's build section.
    #[arg(long)]
    build: bool,
    /// With --build: also a clean release build of the workspace in its own target directory
    /// (many minutes).
    #[arg(long, requires = "build")]
    clean: bool,
    /// Concurrent streamable-HTTP MCP clients in the HTTP load run (0 skips it).
    #[arg(long, default_value_t = 50)]
    http_clients: usize,
    /// Seconds the HTTP load run lasts.
    #[arg(long, default_value_t = 30)]
    http_seconds: u64,
    /// Run only the HTTP load and replace its row in the existing report.
    #[arg(long)]
    http_only: bool,
    /// Measure only tools/list (full and compact mode: bytes, tokens in o200k and in Claude's
    /// legacy tokenizer, time) and replace those two rows in the existing report.
    #[arg(long, conflicts_with = "http_only")]
    list_only: bool,
    /// Measure this server binary instead of building the release one (the token counts do
    /// not depend on the build; the times do, and the rows then say which binary it was).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
}

fn root() -> PathBuf {
    crate::spec::workspace_root()
}

fn build_release() -> Result<PathBuf> {
    let status = crate::shell_cargo()
        .current_dir(root())
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "pfsense-mcp",
            "--bin",
            "pfsense-mcp",
        ])
        .status()?;
    if !status.success() {
        bail!("cargo build --release -p pfsense-mcp failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    Ok(target.join("release/pfsense-mcp"))
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

struct Target {
    env: Vec<(String, String)>,
    url: String,
    api_key: String,
}

async fn spawn(
    binary: &Path,
    target: &Target,
    mode: &str,
) -> Result<(rmcp::service::RunningService<RoleClient, ()>, u32, Duration)> {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear().arg("--allow-dangerous");
    for (k, v) in &target.env {
        cmd.env(k, v);
    }
    cmd.env("PFSENSE_TOOL_MODE", mode);
    let started = Instant::now();
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = transport.id().context("child pid")?;
    let client = ().serve(transport).await?;
    Ok((client, pid, started.elapsed()))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

struct ListFigures {
    tools: usize,
    bytes: usize,
    tokens: usize,
    /// Claude's legacy tokenizer (see `claude_tokens`).
    claude_tokens: usize,
    median: Duration,
}

/// Claude's legacy tokenizer: Anthropic's npm package (Claude 2's vocabulary; newer Claude
/// models count differently and only through the API), run by Node so that the count is the
/// package's own. Installed next to the test tools on first use.
const CLAUDE_TOKENIZER: &str = "@anthropic-ai/tokenizer@0.0.4";

fn claude_tokens(text: &str) -> Result<usize> {
    let dir = root().join("target/npm-tools");
    let package = dir.join("node_modules/@anthropic-ai/tokenizer");
    if !package.join("package.json").is_file() {
        std::fs::create_dir_all(&dir)?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(CLAUDE_TOKENIZER)
            .status()
            .context("run npm (Node.js and npm are needed for Claude's tokenizer)")?;
        if !status.success() {
            bail!("npm install {CLAUDE_TOKENIZER} failed");
        }
    }
    let input = dir.join("claude-tokenizer-input.json");
    std::fs::write(&input, text)?;
    let out = Command::new("node")
        .arg("-e")
        .arg("const t = require(process.argv[1]); console.log(t.countTokens(require('fs').readFileSync(process.argv[2], 'utf8')))")
        .arg(&package)
        .arg(&input)
        .output()
        .context("run node")?;
    let _ = std::fs::remove_file(&input);
    if !out.status.success() {
        bail!(
            "Claude's tokenizer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("Claude's tokenizer printed no count")
}

/// The report's tools/list rows (full, compact), each starting with `LIST_ROW_START`.
const LIST_ROW_START: &str = "| tools/list, `";

fn list_rows(full: &ListFigures, compact: &ListFigures, build: &str) -> String {
    format!(
        "| tools/list, `full` mode: {ft} tools (time until the last page arrived{build}) | {fb} bytes, {ftok} tokens (o200k), {fclaude} (Claude's legacy tokenizer), {fms} | ≤ 100k tokens (o200k), ≤ 110k (Claude legacy), ≤ 30 ms |\n\
         | tools/list, `compact` mode: {ct} tools | {cb} bytes, {ctok} tokens (o200k), {cclaude} (Claude's legacy tokenizer), {cms} | ≤ 6k tokens |\n",
        ft = full.tools,
        fb = full.bytes,
        ftok = full.tokens,
        fclaude = full.claude_tokens,
        fms = ms(full.median),
        ct = compact.tools,
        cb = compact.bytes,
        ctok = compact.tokens,
        cclaude = compact.claude_tokens,
        cms = ms(compact.median),
    )
}

/// `--list-only`: the two tools/list rows replaced in place (added before the first row after
/// the header when the report has none).
fn replace_list_rows(report: &str, rows: &str) -> String {
    let mut lines: Vec<String> = report.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(LIST_ROW_START))
        .or_else(|| {
            lines
                .iter()
                .position(|l| l.starts_with("|---"))
                .map(|i| i + 1)
        })
        .unwrap_or(lines.len());
    lines.retain(|l| !l.starts_with(LIST_ROW_START));
    let at = at.min(lines.len());
    for (i, row) in rows.lines().enumerate() {
        lines.insert(at + i, row.to_string());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A line-based JSON-RPC exchange with the server over its stdio: the client does as little as
/// possible, so timings measure the server (xtask itself is a debug build).
struct RawSession {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    next_id: u64,
}

impl RawSession {
    async fn start(binary: &Path, target: &Target, mode: &str) -> Result<RawSession> {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env_clear().arg("--allow-dangerous");
        for (k, v) in &target.env {
            cmd.env(k, v);
        }
        cmd.env("PFSENSE_TOOL_MODE", mode)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().context("stdin")?;
        let lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut session = RawSession {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        session
            .request(
                "initialize",
                r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}"#,
            )
            .await?;
        Ok(session)
    }

    /// Send a request (params as JSON text) and return the raw answer line.
    async fn request(&mut self, method: &str, params: &str) -> Result<String> {
        use tokio::io::AsyncWriteExt;
        self.next_id += 1;
        let msg = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"{method}","params":{params}}}"#,
            self.next_id
        );
        self.stdin.write_all(msg.as_bytes()).await?;
        self.stdin.write_all(b"\n").await?;
        self.stdin.flush().await?;
        self.lines
            .next_line()
            .await?
            .context("server closed stdout")
    }
}

/// The `nextCursor` of a tools/list answer, found without parsing the whole answer.
fn next_cursor(answer: &str) -> Option<String> {
    let at = answer.find("\"nextCursor\":\"")? + "\"nextCursor\":\"".len();
    let end = answer[at..].find('"')?;
    Some(answer[at..at + end].to_string())
}

/// tools/list: the time until the last page has arrived (following nextCursor).
async fn measure_list(
    binary: &Path,
    target: &Target,
    mode: &str,
    bpe: &tiktoken_rs::CoreBPE,
) -> Result<(ListFigures, Option<u64>)> {
    let mut session = RawSession::start(binary, target, mode).await?;
    let pid = session.child.id().context("child pid")?;
    let mut times = Vec::new();
    let mut pages = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let mut cursor: Option<String> = None;
        let mut answers = Vec::new();
        loop {
            let params = match &cursor {
                Some(c) => format!(r#"{{"cursor":"{c}"}}"#),
                None => "{}".to_string(),
            };
            let answer = session.request("tools/list", &params).await?;
            cursor = next_cursor(&answer);
            answers.push(answer);
            if cursor.is_none() {
                break;
            }
        }
        times.push(started.elapsed());
        pages = answers;
    }
    times.sort();
    let mut tools = Vec::new();
    for page in &pages {
        let v: serde_json::Value = serde_json::from_str(page)?;
        tools.extend(v["result"]["tools"].as_array().cloned().unwrap_or_default());
    }
    let json = serde_json::to_string(&tools)?;
    let rss = peak_rss_kib(pid);
    let _ = session.child.kill().await;
    Ok((
        ListFigures {
            tools: tools.len(),
            bytes: json.len(),
            tokens: bpe.encode_ordinary(&json).len(),
            claude_tokens: claude_tokens(&json)?,
            median: times[times.len() / 2],
        },
        rss,
    ))
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map(|k| format!("{:.0} GiB", k as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {mem} RAM")
}

pub fn run(args: Args) -> Result<()> {
    crate::block_on(run_async(args))?
}

async fn run_async(args: Args) -> Result<()> {
    if args.build {
        return crate::bench_build::run(&root(), &args.output, args.clean);
    }
    let (binary, build) = match &args.binary {
        Some(b) => (b.clone(), format!("; binary {}", b.display())),
        None => (build_release()?, String::new()),
    };
    if args.http_only {
        let row = crate::bench_http::measure(&binary, args.http_clients.max(1), args.http_seconds)
            .await?;
        let path = root().join(&args.output);
        let report = crate::bench_http::replace_row(
            &std::fs::read_to_string(&path).unwrap_or_default(),
            &row,
        );
        std::fs::write(&path, &report)?;
        println!("{report}");
        return Ok(());
    }
    let spec_path = root().join("openapi-spec.json");
    let mut config = pfsense_emulator::EmulatorConfig::new(&spec_path);
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    let emulator = pfsense_emulator::start(config).await?;
    let target = Target {
        env: vec![
            ("PFSENSE_HOST".into(), emulator.url().into()),
            (
                "PFSENSE_API_KEY".into(),
                emulator.api_key().unwrap_or_default().into(),
            ),
            (
                "PFSENSE_TLS_FINGERPRINT".into(),
                emulator.fingerprint().into(),
            ),
        ],
        url: emulator.url().into(),
        api_key: emulator.api_key().unwrap_or_default().into(),
    };
    let bpe = tiktoken_rs::o200k_base().map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
    if args.list_only {
        let (full, _) = measure_list(&binary, &target, "full", &bpe).await?;
        let (compact, _) = measure_list(&binary, &target, "compact", &bpe).await?;
        let path = root().join(&args.output);
        let report = replace_list_rows(
            &std::fs::read_to_string(&path).unwrap_or_default(),
            &list_rows(&full, &compact, &build),
        );
        std::fs::write(&path, &report)?;
        println!("{report}");
        emulator.shutdown().await;
        return Ok(());
    }

    // Spawn → initialize, cold starts.
    let mut starts = Vec::new();
    for _ in 0..args.starts {
        let (client, _, took) = spawn(&binary, &target, "compact").await?;
        starts.push(took);
        let _ = client.cancel().await;
    }
    starts.sort();
    let init_median = percentile(&starts, 0.5);
    eprintln!("initialize median {}", ms(init_median));

    // --sandbox: initialize, and the first tool call (which waits for the in-process emulator).
    let mut sandbox_inits = Vec::new();
    let mut sandbox_first = Vec::new();
    for _ in 0..5 {
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.env_clear().arg("--sandbox");
        let started = Instant::now();
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let client = ().serve(transport).await?;
        sandbox_inits.push(started.elapsed());
        let r = client
            .peer()
            .call_tool(CallToolRequestParams::new("pfsense_list_firewall_aliases"))
            .await?;
        if r.is_error == Some(true) {
            bail!("the sandbox's first call failed: {:?}", r.content);
        }
        sandbox_first.push(started.elapsed());
        let _ = client.cancel().await;
    }
    sandbox_inits.sort();
    sandbox_first.sort();
    let (sandbox_init, sandbox_ready) = (
        percentile(&sandbox_inits, 0.5),
        percentile(&sandbox_first, 0.5),
    );
    eprintln!(
        "sandbox initialize {}, first call answered {}",
        ms(sandbox_init),
        ms(sandbox_ready)
    );

    let (full, full_rss) = measure_list(&binary, &target, "full", &bpe).await?;
    let (compact, _) = measure_list(&binary, &target, "compact", &bpe).await?;
    eprintln!(
        "tools/list full: {} tools, {} bytes, {} tokens (Claude legacy {}), {}; compact: {} tools, {} tokens",
        full.tools,
        full.bytes,
        full.tokens,
        full.claude_tokens,
        ms(full.median),
        compact.tools,
        compact.tokens
    );

    // Tool-call latency next to the direct GET.
    let mut session = RawSession::start(&binary, &target, "full").await?;
    let mut calls = Vec::new();
    for i in 0..args.calls + 20 {
        let t = Instant::now();
        let answer = session
            .request(
                "tools/call",
                r#"{"name":"pfsense_get_system_version","arguments":{}}"#,
            )
            .await?;
        if i >= 20 {
            calls.push(t.elapsed());
        }
        if !answer.contains(r#""isError":false"#) {
            bail!("the read tool failed: {answer}");
        }
    }
    let _ = session.child.kill().await;
    calls.sort();
    // Loopback to our own emulator: certificate checks add nothing to the floor.
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    let mut direct = Vec::new();
    for i in 0..args.calls + 20 {
        let t = Instant::now();
        let resp = http
            .get(format!("{}/api/v2/system/version", target.url))
            .header("X-API-Key", &target.api_key)
            .header("Accept", "application/json")
            .send()
            .await?;
        let ok = resp.status().is_success();
        let _ = resp.bytes().await?;
        if !ok {
            bail!("direct GET failed");
        }
        if i >= 20 {
            direct.push(t.elapsed());
        }
    }
    direct.sort();
    let (call_p50, call_p99) = (percentile(&calls, 0.5), percentile(&calls, 0.99));
    let (floor_p50, floor_p99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
    eprintln!(
        "tool call p50 {} p99 {}; direct GET p50 {} p99 {}",
        ms(call_p50),
        ms(call_p99),
        ms(floor_p50),
        ms(floor_p99)
    );

    // HTTP load: --sandbox --http, concurrent streamable-HTTP clients calling read tools.
    let http_rows = if args.http_clients > 0 {
        crate::bench_http::measure(&binary, args.http_clients, args.http_seconds).await?
    } else {
        String::new()
    };

    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let rss = full_rss
        .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into());
    let overhead = call_p50.saturating_sub(floor_p50);
    let report = format!(
        "# Benchmarks\n\n\
         Measured by `cargo xtask bench` on {date}, {machine}, release build of the server \
         (the measuring client is xtask itself; run `cargo run --release -p xtask -- bench` so \
         that the direct-GET floor is not slowed by a debug client), against the \
         pfsense-emulator on loopback (HTTPS, API key). Targets from the project's issue on \
         context and cost are in the last column.\n\n\
         | what | measured | target |\n|---|---|---|\n\
         | spawn → initialize, median of {starts} cold starts | {init} | ≤ 25 ms |\n\
         {list_rows}\
         | peak RSS after a full tools/list | {rss} | ≤ 25 MiB |\n\
         | tool call `pfsense_get_system_version` over stdio JSON-RPC, {calls} calls | p50 {cp50}, p99 {cp99} | p50 ≤ floor + 0.3 ms |\n\
         | the same GET made directly (floor) | p50 {fp50}, p99 {fp99} | |\n\
         | tool-call overhead over the floor, p50 | {over} | ≤ 0.3 ms |\n\
         | `--sandbox`: spawn → initialize / first tool call answered (emulator started), median of 5 | {sinit} / {sready} | |\n\
         {http_rows}",
        machine = machine(),
        starts = args.starts,
        init = ms(init_median),
        list_rows = list_rows(&full, &compact, &build),
        calls = args.calls,
        cp50 = ms(call_p50),
        cp99 = ms(call_p99),
        fp50 = ms(floor_p50),
        fp99 = ms(floor_p99),
        over = ms(overhead),
        sinit = ms(sandbox_init),
        sready = ms(sandbox_ready),
    );
    // The build section (`--build`) is measured separately: keep it.
    let path = root().join(&args.output);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let report = match crate::bench_build::section_of(&existing) {
        Some(section) => crate::bench_build::with_section(&report, &format!("{section}\n")),
        None => report,
    };
    std::fs::write(&path, &report)?;
    println!("{report}");
    emulator.shutdown().await;
    Ok(())
}
