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
    /// Run only the HTTP rows (the `--sandbox` load run, and the server CPU per call beside
    /// the bare server's) and replace them in the existing report.
    #[arg(long)]
    http_only: bool,
    /// Count only the HTTP instructions per read call under callgrind (pfsense-mcp as a user
    /// runs it, the bare server, the bare server with a GET per call: needs valgrind), with a
    /// client on MCP 2025-11-25 (sessions) and one on 2026-07-28 (none), and put that row in
    /// the existing report. Noise-free where CPU time on a shared machine is not.
    #[arg(long, conflicts_with_all = ["http_only", "list_only", "build"])]
    instructions: bool,
    /// Read calls counted per server with --instructions (beyond the 200 of the base run).
    #[arg(long, default_value_t = 1000)]
    instruction_calls: usize,
    /// With --instructions: keep callgrind's profiles in this directory (one per server, MCP
    /// revision and run length, e.g. `ours-sessions-1200.out`) for `callgrind_annotate`;
    /// measure an unstripped build (`--binary`) to see function names.
    #[arg(long, requires = "instructions")]
    keep_profiles: Option<PathBuf>,
    /// Measure only tools/list (full and compact mode: bytes, tokens in o200k and in Claude's
    /// legacy tokenizer, time) and replace those two rows in the existing report.
    #[arg(long, conflicts_with = "http_only")]
    list_only: bool,
    /// Measure this server binary instead of building the release one (the token counts do
    /// not depend on the build; the times do, and the rows then say which binary it was).
    #[arg(long)]
    binary: Option<PathBuf>,
    /// Build and measure debug binaries of the server and the bare server (when a release
    /// build cannot be had; the report says so). Not for published figures.
    #[arg(long)]
    debug: bool,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
}

fn root() -> PathBuf {
    crate::spec::workspace_root()
}

/// `cargo build` of one binary of a package, in release unless `debug`; the binary's path.
pub(crate) fn build_binary(package: &str, bin: &str, debug: bool) -> Result<PathBuf> {
    build_target(package, CargoTarget::Bin, bin, debug)
}

/// `cargo build` of one of xtask's yardsticks (examples, which a workspace build leaves out),
/// in release unless `debug`; the binary's path.
pub(crate) fn build_yardstick(name: &str, debug: bool) -> Result<PathBuf> {
    build_target("xtask", CargoTarget::Example, name, debug)
}

/// What kind of cargo target `build_target` builds.
#[derive(Clone, Copy)]
enum CargoTarget {
    Bin,
    Example,
}

fn build_target(package: &str, kind: CargoTarget, name: &str, debug: bool) -> Result<PathBuf> {
    let (flag, under) = match kind {
        CargoTarget::Bin => ("--bin", None),
        CargoTarget::Example => ("--example", Some("examples")),
    };
    let mut command = crate::shell_cargo();
    command
        .current_dir(root())
        .args(["build", "--quiet", "-p", package, flag, name]);
    if !debug {
        command.arg("--release");
    }
    let status = command.status()?;
    if !status.success() {
        bail!("cargo build -p {package} {flag} {name} failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target"));
    let mut path = target.join(if debug { "debug" } else { "release" });
    path.extend(under);
    Ok(path.join(name))
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

/// pfsense-mcp for `target` in `mode`, as a command.
fn server_command(binary: &Path, target: &Target, mode: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary);
    cmd.env_clear().arg("--allow-dangerous");
    for (k, v) in &target.env {
        cmd.env(k, v);
    }
    cmd.env("PFSENSE_TOOL_MODE", mode);
    cmd
}

/// Spawn → initialize of one server (an rmcp client over its stdio).
async fn spawn(
    cmd: tokio::process::Command,
) -> Result<(rmcp::service::RunningService<RoleClient, ()>, u32, Duration)> {
    let started = Instant::now();
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = transport.id().context("child pid")?;
    let client = ().serve(transport).await?;
    Ok((client, pid, started.elapsed()))
}

/// Median spawn → initialize of each command over `n` cold starts, the commands taking turns
/// (one start of each per round), so that a change in the machine's load between them moves
/// every median alike and their ratios stay comparable.
async fn start_medians(
    n: usize,
    makers: &[&dyn Fn() -> tokio::process::Command],
) -> Result<Vec<Duration>> {
    let mut starts = vec![Vec::new(); makers.len()];
    for _ in 0..n.max(1) {
        for (make, times) in makers.iter().zip(starts.iter_mut()) {
            let (client, _, took) = spawn(make()).await?;
            times.push(took);
            let _ = client.cancel().await;
        }
    }
    Ok(starts
        .into_iter()
        .map(|mut t| {
            t.sort();
            percentile(&t, 0.5)
        })
        .collect())
}

/// A process's memory from /proc/PID/status, in KiB: the peak RSS (VmHWM), and what is resident
/// now split into pages of files (the binary's code and read-only data, shared libraries) and
/// anonymous pages (heap, stacks, relocated data).
#[derive(Clone, Copy)]
struct Rss {
    peak: u64,
    file: u64,
    anon: u64,
}

fn rss_of(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some(Rss {
        peak: field("VmHWM:")?,
        file: field("RssFile:")?,
        anon: field("RssAnon:")?,
    })
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
        RawSession::start_command(server_command(binary, target, mode)).await
    }

    async fn start_command(mut cmd: tokio::process::Command) -> Result<RawSession> {
        use tokio::io::AsyncBufReadExt;
        cmd.stdin(std::process::Stdio::piped())
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
) -> Result<(ListFigures, Option<Rss>)> {
    measure_list_of(server_command(binary, target, mode), bpe).await
}

async fn measure_list_of(
    cmd: tokio::process::Command,
    bpe: &tiktoken_rs::CoreBPE,
) -> Result<(ListFigures, Option<Rss>)> {
    let mut session = RawSession::start_command(cmd).await?;
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
    let rss = rss_of(pid);
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

/// Entries of the large audit log start-up is measured with.
const BIG_AUDIT_ENTRIES: u64 = 200_000;

/// Rounds of the CPU-per-call runs (each server runs once per round, for its share of the
/// seconds).
const CPU_ROUNDS: u64 = 3;

/// The two yardsticks beside the server: the bare rmcp server, and the same making the read
/// tools' GETs to `firewall` (HTTPS, API key).
fn yardsticks<'a>(
    bare: &'a Path,
    bare_fetch: &'a Path,
    firewall: &crate::bench_http::EmulatorProcess,
) -> (
    crate::bench_http::HttpServer<'a>,
    crate::bench_http::HttpServer<'a>,
) {
    use crate::bench_http::HttpServer;
    let fetch_server = HttpServer {
        program: bare_fetch,
        args: ["--http", "127.0.0.1:0"]
            .map(String::from)
            .into_iter()
            .chain(
                crate::bench_http::READ_TOOL_PATHS
                    .iter()
                    .flat_map(|path| ["--fetch".to_string(), format!("{}{path}", firewall.url)]),
            )
            .collect(),
        env: vec![("BARE_API_KEY".into(), firewall.api_key.clone())],
        tools: &["version"],
        companion: Some(firewall.pid()),
    };
    let bare_server = HttpServer {
        program: bare,
        args: vec!["--http".into(), "127.0.0.1:0".into()],
        env: Vec::new(),
        tools: &["version"],
        companion: None,
    };
    (fetch_server, bare_server)
}

/// User-space instructions per read call (callgrind) of pfsense-mcp as a user runs it, of the
/// bare rmcp server and of the bare server with a GET per call, for a client of each MCP
/// revision (rmcp serves a 2026-07-28 request on its own, which costs every server more); as
/// a report row.
async fn instructions_row(
    binary: &Path,
    bare: &Path,
    debug: bool,
    calls: usize,
    keep: Option<&Path>,
) -> Result<String> {
    use crate::bench_http::{EmulatorProcess, HttpServer, McpRevision, instructions_per_call};
    let bare_fetch = &build_yardstick("bare-mcp-fetch", debug)?;
    let emulator = &build_binary("pfsense-emulator", "pfsense-emulator", debug)?;
    let firewall = EmulatorProcess::start(emulator, &root().join("openapi-spec.json"))?;
    let home = crate::bench_cost::StateHome::new("http-instructions")?;
    let (fetch_server, bare_server) = yardsticks(bare, bare_fetch, &firewall);
    let k = |n: f64| format!("{:.0}k", n / 1000.0);
    let mut counts = Vec::new();
    for revision in McpRevision::ALL {
        let kept = |server: &str| keep.map(|dir| (dir, format!("{server}-{}", revision.slug())));
        let ours = instructions_per_call(
            &HttpServer::user(binary, &firewall, home.home()),
            calls,
            revision,
            kept("ours"),
        )
        .await?;
        let plain = instructions_per_call(&bare_server, calls, revision, kept("bare")).await?;
        let fetch =
            instructions_per_call(&fetch_server, calls, revision, kept("bare-fetch")).await?;
        eprintln!(
            "HTTP instructions per call, MCP {}: ours {}, bare {}, bare with a GET per call {}",
            revision.label(),
            k(ours),
            k(plain),
            k(fetch)
        );
        counts.push(format!(
            "{}: {} / {} / {}, {:.2}× the bare server, {:.2}× the bare server with a GET per call",
            revision.label(),
            k(ours),
            k(plain),
            k(fetch),
            ours / plain.max(1.0),
            ours / fetch.max(1.0),
        ));
    }
    Ok(format!(
        "| HTTP instructions per call (user space, `valgrind --tool=callgrind`; one client, the server's tools in turn; the count of a run of {base} + {calls} calls minus that of {base} calls, over {calls}), for each MCP revision the client speaks: `--http` as a user runs it / bare rmcp server / bare rmcp server with a GET per call | {counts} (the count repeats to about 0.1%; it leaves out the kernel's share: the sockets, about the same for the server and the bare server with a GET, less for the bare server) | |\n",
        base = crate::bench_http::INSTRUCTIONS_BASE_CALLS,
        counts = counts.join("; "),
    ))
}

/// The HTTP server CPU per call of pfsense-mcp as a user runs it (`--http` to a firewall in
/// another process, audit log and journal file on), of the same with `--sandbox` (the
/// emulator inside the server process, its CPU counted as the server's), and of the bare rmcp
/// server, each under the same clients; as a report row.
async fn cpu_per_call_row(
    binary: &Path,
    bare: &Path,
    debug: bool,
    clients: usize,
    seconds: u64,
) -> Result<String> {
    use crate::bench_http::{EmulatorProcess, HttpLoad, HttpServer, run};
    let bare_fetch = &build_yardstick("bare-mcp-fetch", debug)?;
    let emulator = &build_binary("pfsense-emulator", "pfsense-emulator", debug)?;
    let firewall = EmulatorProcess::start(emulator, &root().join("openapi-spec.json"))?;
    let user_home = crate::bench_cost::StateHome::new("http-user")?;
    let sandbox_home = crate::bench_cost::StateHome::new("http-sandbox")?;
    let (fetch_server, bare_server) = yardsticks(bare, bare_fetch, &firewall);
    // The servers take turns, round after round, so that a slow minute of a shared machine
    // falls on all of them alike (runs one after the other differed by a third).
    let per_round = (seconds / CPU_ROUNDS).max(2);
    let (mut ours, mut bare_fetch_load, mut bare_load, mut sandboxed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..CPU_ROUNDS {
        ours.push(
            run(
                &HttpServer::user(binary, &firewall, user_home.home()),
                clients,
                per_round,
            )
            .await?,
        );
        // The second yardstick: the bare server GETting what the read tools read, in turn.
        bare_fetch_load.push(run(&fetch_server, clients, per_round).await?);
        bare_load.push(run(&bare_server, clients, per_round).await?);
        sandboxed.push(
            run(
                &HttpServer::sandbox(binary, Some(&sandbox_home.state())),
                clients,
                per_round,
            )
            .await?,
        );
    }
    drop(firewall);
    let ratios = |a: &[HttpLoad], b: &[HttpLoad]| {
        let r: Vec<f64> = a
            .iter()
            .zip(b)
            .filter_map(|(a, b)| {
                Some(a.cpu_per_call?.as_secs_f64() / b.cpu_per_call?.as_secs_f64())
            })
            .collect();
        let low = r.iter().copied().fold(f64::INFINITY, f64::min);
        let high = r.iter().copied().fold(0.0, f64::max);
        format!("{low:.2}–{high:.2}×")
    };
    let (per_round_bare, per_round_fetch) =
        (ratios(&ours, &bare_load), ratios(&ours, &bare_fetch_load));
    let (ours, bare_fetch_load, bare_load, sandboxed) = (
        HttpLoad::merged(&ours),
        HttpLoad::merged(&bare_fetch_load),
        HttpLoad::merged(&bare_load),
        HttpLoad::merged(&sandboxed),
    );
    for (name, load) in [
        ("ours", &ours),
        ("ours, --sandbox", &sandboxed),
        ("bare", &bare_load),
        ("bare with a GET per call", &bare_fetch_load),
    ] {
        if load.errors > 0 {
            bail!(
                "the HTTP load run ({name}) had {} errors (first: {})",
                load.errors,
                load.first_error.clone().unwrap_or_default()
            );
        }
    }
    // The audit log holds one line per call, and its chain verifies.
    let log = user_home.state().join("audit.jsonl");
    let verify = Command::new(binary)
        .args(["audit", "verify"])
        .arg(&log)
        .env_clear()
        .output()?;
    if !verify.status.success() {
        bail!(
            "the audit log of the HTTP run does not verify: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
    let us = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
    let (a, e, b, c, f) = (
        us(ours.cpu_per_call),
        us(ours.companion_cpu_per_call),
        us(sandboxed.cpu_per_call),
        us(bare_load.cpu_per_call),
        us(bare_fetch_load.cpu_per_call),
    );
    eprintln!(
        "HTTP server CPU per call: ours {a:.0} µs (emulator {e:.0} µs), --sandbox {b:.0} µs, bare {c:.0} µs, bare with a GET per call {f:.0} µs"
    );
    Ok(format!(
        "{start} (utime + stime of the server process from /proc/PID/stat over the runs ÷ calls), {clients} clients, {rounds} rounds of {per_round} s per server, the servers taking turns in each round: `--http` as a user runs it (the firewall elsewhere: the emulator in a process of its own, HTTPS, API key, pinned fingerprint; audit log and journal file in a state directory; default log level) / `--sandbox --http` with an audit log and journal file (emulator inside the server process: its CPU is counted) / bare rmcp server (`version` tool) / bare rmcp server whose tool GETs the read tools' four URLs from the emulator in turn (`bare-mcp-fetch`: reqwest, HTTPS, API key) | {a:.0} µs ({n1} calls, {r1:.0}/s; the emulator used {e:.0} µs per call besides) / {b:.0} µs ({n2} calls, {r2:.0}/s) / {c:.0} µs ({n3} calls, {r3:.0}/s) / {f:.0} µs ({n4} calls, {r4:.0}/s): {x:.2}× / {y:.2}× the bare server (per round {per_round_bare}), {z:.2}× the bare server with a GET per call (per round {per_round_fetch}) | ≤ 2× the bare server |\n",
        start = crate::bench_http::CPU_ROW_START,
        rounds = CPU_ROUNDS,
        n1 = ours.calls,
        r1 = ours.per_second,
        n2 = sandboxed.calls,
        r2 = sandboxed.per_second,
        n3 = bare_load.calls,
        r3 = bare_load.per_second,
        n4 = bare_fetch_load.calls,
        r4 = bare_fetch_load.per_second,
        x = a / c,
        y = b / c,
        z = a / f,
    ))
}

/// The HTTP rows of a report's table, to keep when a run does not measure them.
fn carried_http_rows(report: &str) -> String {
    report
        .lines()
        .take_while(|l| !l.starts_with("<!-- build: start"))
        .filter(|l| l.starts_with("| HTTP "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What follows a report's first table up to the build section: notes written by hand.
fn notes_of(report: &str) -> String {
    let end = report.find("<!-- build: start").unwrap_or(report.len());
    let body = &report[..end];
    let Some(table) = body.find("\n|") else {
        return String::new();
    };
    let after_table = body[table + 1..]
        .find("\n\n")
        .map(|i| table + 1 + i + 1)
        .unwrap_or(body.len());
    body[after_table..].to_string()
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
        None => (
            build_binary("pfsense-mcp", "pfsense-mcp", args.debug)?,
            String::new(),
        ),
    };
    if args.instructions {
        let bare = build_yardstick("bare-mcp", args.debug)?;
        let row = instructions_row(
            &binary,
            &bare,
            args.debug,
            args.instruction_calls.max(1),
            args.keep_profiles.as_deref(),
        )
        .await?;
        let path = root().join(&args.output);
        let report = crate::bench_http::place_instructions_row(
            &std::fs::read_to_string(&path).unwrap_or_default(),
            &row,
        );
        std::fs::write(&path, &report)?;
        println!("{row}");
        return Ok(());
    }
    if args.http_only {
        let clients = args.http_clients.max(1);
        let row = crate::bench_http::measure(&binary, clients, args.http_seconds).await?;
        let bare = build_yardstick("bare-mcp", args.debug)?;
        let cpu_row =
            cpu_per_call_row(&binary, &bare, args.debug, clients, args.http_seconds).await?;
        let path = root().join(&args.output);
        let report = crate::bench_http::replace_row(
            &std::fs::read_to_string(&path).unwrap_or_default(),
            &row,
        );
        let report = crate::bench_http::replace_row_starting(
            &report,
            crate::bench_http::CPU_ROW_START,
            &cpu_row,
        );
        std::fs::write(&path, &report)?;
        println!("{report}");
        return Ok(());
    }
    let bare = build_yardstick("bare-mcp", args.debug)?;
    let spec_path = root().join("openapi-spec.json");
    let mut config = pfsense_emulator::EmulatorConfig::new(&spec_path);
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    let emulator = pfsense_emulator::start(config).await?;
    // What a user runs: a state directory, so the audit log and the journal are on.
    let fresh = crate::bench_cost::StateHome::new("fresh")?;
    let big = crate::bench_cost::StateHome::new("big")?;
    let target_in = |home: &Path| Target {
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
            ("XDG_STATE_HOME".into(), home.display().to_string()),
        ],
        url: emulator.url().into(),
        api_key: emulator.api_key().unwrap_or_default().into(),
    };
    let target = target_in(fresh.home());
    let big_target = target_in(big.home());
    let big_bytes =
        crate::bench_cost::write_audit_log(&binary, &big.audit_log(), BIG_AUDIT_ENTRIES)?;
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

    // Spawn → initialize, cold starts: each mode with a fresh audit log and with a 200k-entry
    // one, and the bare rmcp server.
    let bare_command = || {
        let mut cmd = tokio::process::Command::new(&bare);
        cmd.env_clear();
        cmd
    };
    let (fresh_compact, fresh_full, big_compact, big_full) = (
        || server_command(&binary, &target, "compact"),
        || server_command(&binary, &target, "full"),
        || server_command(&binary, &big_target, "compact"),
        || server_command(&binary, &big_target, "full"),
    );
    let medians = start_medians(
        args.starts,
        &[
            &fresh_compact,
            &fresh_full,
            &big_compact,
            &big_full,
            &bare_command,
        ],
    )
    .await?;
    let (init, bare_init) = (medians[..4].to_vec(), medians[4]);
    for (what, median) in [
        "compact, fresh audit log",
        "full, fresh audit log",
        "compact, 200k audit log",
        "full, 200k audit log",
    ]
    .iter()
    .zip(&init)
    {
        eprintln!("initialize median, {what}: {}", ms(*median));
    }
    eprintln!("initialize median, bare rmcp server: {}", ms(bare_init));
    let ratio = |d: Duration| d.as_secs_f64() / bare_init.as_secs_f64().max(1e-9);

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
    let mut bare_cmd = tokio::process::Command::new(&bare);
    bare_cmd.env_clear();
    let (_, bare_rss) = measure_list_of(bare_cmd, &bpe).await?;
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

    // HTTP load: --sandbox --http, concurrent streamable-HTTP clients calling read tools; the
    // server's CPU per call beside the bare server's (and with a user's audit log and journal).
    let (http_rows, cpu_row) = if args.http_clients > 0 {
        let rows =
            crate::bench_http::measure(&binary, args.http_clients, args.http_seconds).await?;
        let cpu_row = cpu_per_call_row(
            &binary,
            &bare,
            args.debug,
            args.http_clients,
            args.http_seconds,
        )
        .await?;
        // Counted only by `--instructions` (valgrind, minutes): the last count stays.
        let instructions_row: String = std::fs::read_to_string(root().join(&args.output))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with(crate::bench_http::INSTRUCTIONS_ROW_START))
            .map(|l| format!("{l}\n"))
            .unwrap_or_default();
        (rows, format!("{cpu_row}{instructions_row}"))
    } else {
        // Not measured in this run (`--http-clients 0`): the last run's rows stay.
        (
            carried_http_rows(
                &std::fs::read_to_string(root().join(&args.output)).unwrap_or_default(),
            ),
            String::new(),
        )
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();

    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mib = |k: Option<u64>| {
        k.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    };
    let split = |r: Option<Rss>| {
        format!(
            "{} file-backed + {} anonymous",
            mib(r.map(|r| r.file)),
            mib(r.map(|r| r.anon))
        )
    };
    let rss = format!(
        "{} (bare rmcp server: {}); resident after the list: {} (bare: {})",
        mib(full_rss.map(|r| r.peak)),
        mib(bare_rss.map(|r| r.peak)),
        split(full_rss),
        split(bare_rss)
    );
    let overhead = call_p50.saturating_sub(floor_p50);
    let report = format!(
        "# Benchmarks\n\n\
         Measured by `cargo xtask bench` on {date}, {machine}, load average {load} at the end, \
         {profile} build of the server and of the bare rmcp server beside it \
         (`xtask/examples/bare-mcp.rs`: one tool, no network, no state), measuring client \
         xtask itself ({client} build: `cargo run --release -p xtask -- bench`), against the \
         pfsense-emulator on loopback (HTTPS, API key, pinned fingerprint). The server runs as a \
         user runs it: a state directory (`XDG_STATE_HOME`), so the audit log and the journal \
         are on. Targets from the project's issues on context and run cost are in the last \
         column.\n\n\
         | what | measured | target |\n|---|---|---|\n\
         | spawn → initialize, median of {starts} cold starts (the configurations and the bare server taking turns): `compact` / `full` mode, audit log on | {i0} / {i1} ({r0:.2}× / {r1:.2}× the bare server) | ≤ 2× the bare server |\n\
         | the same with a {big_entries}-entry audit log ({big_mib:.0} MiB, generated and verified by the bench) | {i2} / {i3} ({r2:.2}× / {r3:.2}×) | unchanged |\n\
         | spawn → initialize of the bare rmcp server | {bare_init} | |\n\
         {list_rows}\
         | peak RSS (VmHWM) after a full tools/list | {rss} | ≤ 12 MiB |\n\
         | tool call `pfsense_get_system_version` over stdio JSON-RPC, {calls} calls | p50 {cp50}, p99 {cp99} | p50 ≤ floor + 0.3 ms |\n\
         | the same GET made directly (floor) | p50 {fp50}, p99 {fp99} | |\n\
         | tool-call overhead over the floor, p50 | {over} | ≤ 0.3 ms |\n\
         | `--sandbox`: spawn → initialize / first tool call answered (emulator started), median of 5 | {sinit} / {sready} | |\n\
         {http_rows}{cpu_row}",
        machine = machine(),
        client = if cfg!(debug_assertions) {
            "a debug"
        } else {
            "a release"
        },
        starts = args.starts,
        i0 = ms(init[0]),
        i1 = ms(init[1]),
        i2 = ms(init[2]),
        i3 = ms(init[3]),
        r0 = ratio(init[0]),
        r1 = ratio(init[1]),
        r2 = ratio(init[2]),
        r3 = ratio(init[3]),
        big_entries = BIG_AUDIT_ENTRIES,
        big_mib = big_bytes as f64 / 1024.0 / 1024.0,
        bare_init = ms(bare_init),
        profile = if args.debug {
            "a DEBUG (not release)"
        } else {
            "release"
        },
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
    // The notes written by hand under the table, the build section (`--build`, measured
    // separately) and what follows it stay.
    let path = root().join(&args.output);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let report = format!("{report}{}", notes_of(&existing));
    let report = match crate::bench_build::section_of(&existing) {
        Some(section) => {
            let after = existing
                .split_once(section)
                .map(|(_, rest)| rest.trim_start_matches('\n'))
                .unwrap_or_default();
            let report = crate::bench_build::with_section(&report, &format!("{section}\n"));
            if after.is_empty() {
                report
            } else {
                format!("{report}\n{after}")
            }
        }
        None => report,
    };
    std::fs::write(&path, &report)?;
    println!("{report}");
    emulator.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "# Benchmarks\n\nMeasured by …\n\n| what | measured | target |\n|---|---|---|\n| spawn | 1 ms | |\n| HTTP load: x | 5 calls/s | |\n| HTTP server CPU per call | 9 µs | |\n\nNotes by hand.\n\nMore notes.\n<!-- build: start (cargo xtask bench --build) -->\n| HTTP not this | x | |\n<!-- build: end -->\n";

    #[test]
    fn a_run_keeps_the_hand_written_notes_and_the_http_rows_it_did_not_measure() {
        assert_eq!(
            carried_http_rows(REPORT),
            "| HTTP load: x | 5 calls/s | |\n| HTTP server CPU per call | 9 µs | |\n"
        );
        assert_eq!(notes_of(REPORT), "\nNotes by hand.\n\nMore notes.\n");
        assert_eq!(notes_of("# Benchmarks\n\nno table\n"), "");
    }
}
