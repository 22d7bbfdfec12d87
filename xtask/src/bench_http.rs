//! The HTTP load run of `cargo xtask bench`: the release binary with `--sandbox --http` (the
//! emulator runs inside the server process), N concurrent streamable-HTTP MCP clients (rmcp)
//! calling read tools for a fixed time; errors, calls per second, p50/p99 latency. And the
//! server CPU per call, as a user runs the server (`--http` to a firewall in another process:
//! the emulator started by [`EmulatorProcess`], with the audit log and journal of a state
//! directory), beside the bare rmcp server loaded the same way.

use anyhow::{Context, Result, bail};
use rmcp::RoleClient;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The read tools each client cycles through (cheap and heavier reads).
const READ_TOOLS: &[&str] = &[
    "pfsense_get_system_version",
    "pfsense_list_firewall_aliases",
    "pfsense_list_firewall_rules",
    "pfsense_get_status_system",
];

/// The endpoints [`READ_TOOLS`] read, in the same order (the yardstick with a GET per call
/// reads them in turn).
pub const READ_TOOL_PATHS: &[&str] = &[
    "/api/v2/system/version",
    "/api/v2/firewall/aliases",
    "/api/v2/firewall/rules",
    "/api/v2/status/system",
];

pub struct HttpLoad {
    /// Server CPU (user + system, from /proc/PID/stat) over the load run, per call.
    pub cpu_per_call: Option<Duration>,
    /// The same for the server's companion process (the emulator it talks to), if any.
    pub companion_cpu_per_call: Option<Duration>,
    pub clients: usize,
    pub seconds: u64,
    pub calls: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

impl HttpLoad {
    /// Runs of one server taken together: calls, errors and CPU summed (CPU per call over all
    /// the calls); the latency percentiles are the worst run's.
    pub fn merged(runs: &[HttpLoad]) -> HttpLoad {
        let calls: usize = runs.iter().map(|r| r.calls).sum();
        let seconds: u64 = runs.iter().map(|r| r.seconds).sum();
        let cpu = |of: fn(&HttpLoad) -> Option<Duration>| {
            let total: Option<Duration> = runs.iter().map(|r| Some(of(r)? * r.calls as u32)).sum();
            total.map(|t| t / calls.max(1) as u32)
        };
        HttpLoad {
            cpu_per_call: cpu(|r| r.cpu_per_call),
            companion_cpu_per_call: cpu(|r| r.companion_cpu_per_call),
            clients: runs.first().map_or(0, |r| r.clients),
            seconds,
            calls,
            errors: runs.iter().map(|r| r.errors).sum(),
            first_error: runs.iter().find_map(|r| r.first_error.clone()),
            per_second: calls as f64 / seconds.max(1) as f64,
            p50: runs.iter().map(|r| r.p50).max().unwrap_or_default(),
            p99: runs.iter().map(|r| r.p99).max().unwrap_or_default(),
        }
    }
}

/// The server process; killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server to load: its command line (with `--http 127.0.0.1:0` or the like) and the tools
/// each client cycles through.
pub struct HttpServer<'a> {
    pub program: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub tools: &'a [&'a str],
    /// A process the server talks to (the emulator), whose CPU over the run is reported
    /// beside the server's and not counted in it.
    pub companion: Option<u32>,
}

impl<'a> HttpServer<'a> {
    /// pfsense-mcp `--sandbox --http` with the sandbox's defaults (no audit log, journal in
    /// memory), or with the audit log and journal a user's state directory holds.
    pub fn sandbox(binary: &'a Path, state: Option<&Path>) -> HttpServer<'a> {
        let mut args: Vec<String> = ["--sandbox", "--http", "127.0.0.1:0"]
            .map(String::from)
            .to_vec();
        match state {
            None => args.extend(["--audit-log", "off", "--journal", "memory"].map(String::from)),
            Some(dir) => {
                args.push("--audit-log".into());
                args.push(dir.join("audit.jsonl").display().to_string());
                args.push("--journal".into());
                args.push(dir.join("journal.sqlite").display().to_string());
            }
        }
        HttpServer {
            program: binary,
            args,
            env: vec![("PFSENSE_LOG".into(), "warn".into())],
            tools: READ_TOOLS,
            companion: None,
        }
    }

    /// pfsense-mcp `--http` as a user runs it: a firewall elsewhere (the emulator in a process
    /// of its own, API key, pinned fingerprint), the audit log and journal file of the state
    /// directory `home` (`XDG_STATE_HOME`), the default log level.
    pub fn user(binary: &'a Path, firewall: &EmulatorProcess, home: &Path) -> HttpServer<'a> {
        HttpServer {
            program: binary,
            args: ["--http", "127.0.0.1:0"].map(String::from).to_vec(),
            env: vec![
                ("PFSENSE_HOST".into(), firewall.url.clone()),
                ("PFSENSE_API_KEY".into(), firewall.api_key.clone()),
                (
                    "PFSENSE_TLS_FINGERPRINT".into(),
                    firewall.fingerprint.clone(),
                ),
                ("XDG_STATE_HOME".into(), home.display().to_string()),
            ],
            tools: READ_TOOLS,
            companion: Some(firewall.pid()),
        }
    }
}

/// The pfsense-emulator binary in a process of its own (API key, all packages), standing in
/// for the firewall a user's server talks to; killed when dropped.
pub struct EmulatorProcess {
    process: Server,
    pub url: String,
    pub api_key: String,
    pub fingerprint: String,
}

impl EmulatorProcess {
    pub fn start(binary: &Path, spec: &Path) -> Result<EmulatorProcess> {
        let mut child = Command::new(binary)
            .env_clear()
            .env("RUST_LOG", "warn")
            .arg("--spec")
            .arg(spec)
            .args(["--enable-key-auth", "--packages", "all"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let process = Server(child);
        // One JSON line once ready: {"url", "username", "password", "api_key", "fingerprint"}.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the emulator did not start")?;
        let ready: serde_json::Value =
            serde_json::from_str(&line).context("the emulator's ready line")?;
        let field = |k: &str| ready[k].as_str().unwrap_or_default().to_string();
        Ok(EmulatorProcess {
            process,
            url: field("url"),
            api_key: field("api_key"),
            fingerprint: field("fingerprint"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses: state is the
    // 3rd field of the line, utime the 14th, stime the 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// `getconf CLK_TCK` (100 on Linux nearly always).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// The bearer token the bench's servers are started with and its clients send.
fn bench_token() -> String {
    format!("bench-{}", "0123456789abcdef".repeat(3))
}

/// Start the server with a token; its /mcp URL (read from its "listening on URL" line).
fn start(server: &HttpServer<'_>, token: &str) -> Result<(Server, String)> {
    let mut child = Command::new(server.program)
        .env_clear()
        .args(&server.args)
        .envs(server.env.iter().map(|(k, v)| (k, v)))
        .env("PFSENSE_HTTP_TOKEN", token)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("spawn {}", server.program.display()))?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, url)) = line.split_once(": listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let server = Server(child);
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .context("the HTTP server did not start listening")?;
    Ok((server, url))
}

/// The MCP revision a bench client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McpRevision {
    /// 2025-11-25: `initialize`, then every call in the session it opened (what the load
    /// runs use).
    Sessions,
    /// 2026-07-28: `server/discover`, no sessions; the server serves each request on a
    /// server value of its own.
    Sessionless,
}

impl McpRevision {
    pub const ALL: [McpRevision; 2] = [McpRevision::Sessions, McpRevision::Sessionless];

    pub fn label(self) -> &'static str {
        match self {
            McpRevision::Sessions => "2025-11-25 (sessions)",
            McpRevision::Sessionless => "2026-07-28 (no sessions)",
        }
    }

    /// The revision in a file name.
    pub fn slug(self) -> &'static str {
        match self {
            McpRevision::Sessions => "2025-11-25",
            McpRevision::Sessionless => "2026-07-28",
        }
    }
}

async fn connect(
    url: &str,
    token: &str,
    revision: McpRevision,
) -> Result<rmcp::service::RunningService<RoleClient, ()>> {
    use rmcp::model::ProtocolVersion;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string())
        .auth_header(token.to_string());
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    let lifecycle = match revision {
        McpRevision::Sessions => ClientLifecycleMode::Initialize,
        McpRevision::Sessionless => ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    };
    Ok(().serve_with_lifecycle(transport, lifecycle).await?)
}

/// How the instructions-per-call row starts.
pub const INSTRUCTIONS_ROW_START: &str = "| HTTP instructions per call";

/// Calls of the shorter callgrind run: what the longer run does beyond it is `calls` calls.
pub const INSTRUCTIONS_BASE_CALLS: usize = 200;

/// User-space instructions per call of `server` under callgrind: one client on one session
/// calling the server's tools in turn, once `INSTRUCTIONS_BASE_CALLS` times and once `calls`
/// more; the difference over `calls` (start-up, the session and shutdown cancel out). Unlike
/// CPU time on a shared machine, the count repeats to about 0.1%. `keep`: a directory and a
/// name to keep both profiles under (`NAME-CALLS.out`).
pub async fn instructions_per_call(
    server: &HttpServer<'_>,
    calls: usize,
    revision: McpRevision,
    keep: Option<(&Path, String)>,
) -> Result<f64> {
    let kept = |n: usize| {
        keep.as_ref()
            .map(|(dir, name)| dir.join(format!("{name}-{n}.out")))
    };
    let base = INSTRUCTIONS_BASE_CALLS;
    let base = instructions(server, base, revision, kept(base)).await?;
    let long = INSTRUCTIONS_BASE_CALLS + calls;
    let long = instructions(server, long, revision, kept(long)).await?;
    Ok(long.saturating_sub(base) as f64 / calls.max(1) as f64)
}

/// The program named `name` on PATH.
fn on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Total user-space instructions of `server` (under `valgrind --tool=callgrind`) over start,
/// `calls` tool calls and a SIGTERM; the profile is kept at `keep` if given.
async fn instructions(
    server: &HttpServer<'_>,
    calls: usize,
    revision: McpRevision,
    keep: Option<PathBuf>,
) -> Result<u64> {
    let valgrind =
        on_path("valgrind").context("valgrind is not installed (apt-get install valgrind)")?;
    if let Some(dir) = keep.as_ref().and_then(|k| k.parent()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let out = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "pfsense-bench-callgrind-{}-{calls}.out",
            std::process::id()
        ))
    });
    let mut args = vec![
        "--tool=callgrind".to_string(),
        format!("--callgrind-out-file={}", out.display()),
        server.program.display().to_string(),
    ];
    args.extend(server.args.iter().cloned());
    let mut env = server.env.clone();
    env.extend(std::env::var("PATH").ok().map(|p| ("PATH".to_string(), p)));
    let wrapped = HttpServer {
        program: &valgrind,
        args,
        env,
        tools: server.tools,
        companion: None,
    };
    let token = bench_token();
    let (mut process, url) = start(&wrapped, &token)?;
    let session = connect(&url, &token, revision).await?;
    for n in 0..calls {
        let tool = server.tools[n % server.tools.len()];
        let result = session
            .peer()
            .call_tool(CallToolRequestParams::new(tool.to_string()))
            .await?;
        if result.is_error == Some(true) {
            bail!("{tool} failed under callgrind: {:?}", result.content);
        }
    }
    let _ = session.cancel().await;
    // SIGTERM: callgrind writes its counts when the program ends on a signal (a kill would not).
    let pid = nix::unistd::Pid::from_raw(process.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    process
        .0
        .wait()
        .context("wait for the server under callgrind")?;
    let counts = std::fs::read_to_string(&out).with_context(|| format!("read {}", out.display()));
    if keep.is_none() {
        let _ = std::fs::remove_file(&out);
    }
    counts?
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .context("callgrind wrote no instruction total")
}

/// `report` with the instructions row replaced, or put after the CPU-per-call row.
pub fn place_instructions_row(report: &str, row: &str) -> String {
    if report
        .lines()
        .any(|l| l.starts_with(INSTRUCTIONS_ROW_START))
    {
        return replace_row_starting(report, INSTRUCTIONS_ROW_START, row);
    }
    let mut out = String::new();
    for line in report.lines() {
        out.push_str(line);
        out.push('\n');
        if line.starts_with(CPU_ROW_START) {
            out.push_str(row.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Run the load, print it, and return its BENCHMARKS.md table row; any failed call is an error.
pub async fn measure(binary: &Path, clients: usize, seconds: u64) -> Result<String> {
    let load = run(&HttpServer::sandbox(binary, None), clients, seconds.max(1)).await?;
    let p50 = crate::bench::ms(load.p50);
    let p99 = crate::bench::ms(load.p99);
    eprintln!(
        "HTTP load: {} clients, {} s: {} calls, {} errors, {:.0} calls/s, p50 {p50}, p99 {p99}",
        load.clients, load.seconds, load.calls, load.errors, load.per_second
    );
    if load.errors > 0 {
        bail!(
            "the HTTP load run had {} errors (first: {})",
            load.errors,
            load.first_error.unwrap_or_default()
        );
    }
    let cpu = load
        .cpu_per_call
        .map(|d| format!(", server CPU {:.0} µs per call", d.as_secs_f64() * 1e6))
        .unwrap_or_default();
    Ok(format!(
        "{ROW_START} `--sandbox --http` (release; emulator in the process, no audit log, journal in memory), {c} concurrent streamable-HTTP MCP clients (rmcp, one session each, in xtask) calling 4 read tools in turn for {s} s | {n} calls, {e} errors, {r:.0} calls/s, p50 {p50}, p99 {p99}{cpu} | 0 errors |\n",
        c = load.clients,
        s = load.seconds,
        n = load.calls,
        e = load.errors,
        r = load.per_second,
    ))
}

/// How the HTTP load row starts (to find it again).
const ROW_START: &str = "| HTTP load:";
/// How the CPU per call row starts.
pub const CPU_ROW_START: &str = "| HTTP server CPU per call";

/// `report` with its HTTP load row replaced by `row` (or `row` added after the table's last
/// row).
pub fn replace_row(report: &str, row: &str) -> String {
    replace_row_starting(report, ROW_START, row)
}

/// `report` with the row starting with `start` replaced by `row` in place (or `row` added
/// after the table's last row).
pub fn replace_row_starting(report: &str, start: &str, row: &str) -> String {
    let mut lines: Vec<String> = report.lines().map(str::to_string).collect();
    let at = match lines.iter().position(|l| l.starts_with(start)) {
        Some(i) => {
            lines.remove(i);
            i
        }
        None => lines
            .iter()
            .rposition(|l| l.starts_with('|'))
            .map(|i| i + 1)
            .unwrap_or(lines.len()),
    };
    lines.retain(|l| !l.starts_with(start));
    lines.insert(at.min(lines.len()), row.trim_end().to_string());
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

pub async fn run(server: &HttpServer<'_>, clients: usize, seconds: u64) -> Result<HttpLoad> {
    let token = bench_token();
    let (process, url) = start(server, &token)?;
    let pid = process.0.id();
    let companion = server.companion;
    let tools: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new(server.tools.iter().map(|t| t.to_string()).collect());
    // Every client has its session before the clock starts; the first call waits for the
    // sandbox emulator.
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        sessions.push(connect(&url, &token, McpRevision::Sessions).await?);
    }
    let warm = sessions[0]
        .peer()
        .call_tool(CallToolRequestParams::new(tools[0].clone()))
        .await?;
    if warm.is_error == Some(true) {
        bail!("the warm-up call failed: {:?}", warm.content);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let cpu_before = cpu_time(pid);
    let companion_before = companion.and_then(cpu_time);
    let mut tasks = Vec::with_capacity(clients);
    for (i, session) in sessions.into_iter().enumerate() {
        let tools = tools.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            let mut n = i;
            while Instant::now() < deadline {
                let tool = tools[n % tools.len()].clone();
                n += 1;
                let t = Instant::now();
                let result = session
                    .peer()
                    .call_tool(CallToolRequestParams::new(tool.clone()))
                    .await;
                latencies.push(t.elapsed());
                match result {
                    Ok(r) if r.is_error != Some(true) => {}
                    Ok(r) => {
                        errors += 1;
                        first_error.get_or_insert(format!("{tool}: {:?}", r.content));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(format!("{tool}: {e}"));
                    }
                }
            }
            (session, latencies, errors, first_error)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    let mut open = Vec::new();
    for t in tasks {
        let (session, l, e, f) = t.await?;
        open.push(session);
        all.extend(l);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let elapsed = started.elapsed();
    // Before the sessions close: closing them is not part of the calls.
    let cpu = cpu_before
        .zip(cpu_time(pid))
        .map(|(a, b)| b.saturating_sub(a));
    let companion_cpu = companion_before
        .zip(companion.and_then(cpu_time))
        .map(|(a, b)| b.saturating_sub(a));
    for session in open {
        let _ = session.cancel().await;
    }
    drop(process);
    all.sort();
    Ok(HttpLoad {
        cpu_per_call: cpu.map(|c| c / all.len().max(1) as u32),
        companion_cpu_per_call: companion_cpu.map(|c| c / all.len().max(1) as u32),
        clients,
        seconds,
        calls: all.len(),
        errors,
        first_error,
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
        p50: crate::bench::percentile(&all, 0.5),
        p99: crate::bench::percentile(&all, 0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_into_cpu_per_call_over_all_their_calls() {
        let run = |cpu_us: u64, calls: usize, p99_ms: u64| HttpLoad {
            cpu_per_call: Some(Duration::from_micros(cpu_us)),
            companion_cpu_per_call: None,
            clients: 50,
            seconds: 4,
            calls,
            errors: 0,
            first_error: None,
            per_second: calls as f64 / 4.0,
            p50: Duration::from_millis(1),
            p99: Duration::from_millis(p99_ms),
        };
        let merged = HttpLoad::merged(&[run(100, 1000, 9), run(200, 3000, 7)]);
        assert_eq!(merged.cpu_per_call, Some(Duration::from_micros(175)));
        assert_eq!(merged.companion_cpu_per_call, None);
        assert_eq!((merged.calls, merged.seconds), (4000, 8));
        assert_eq!(merged.p99, Duration::from_millis(9));
    }

    #[test]
    fn the_http_row_replaces_the_old_one_or_ends_the_table() {
        let report = "# B\n\n| what | measured |\n|---|---|\n| a | 1 |\n\nnote\n";
        let added = replace_row(report, "| HTTP load: x | 1 |\n");
        assert_eq!(
            added,
            "# B\n\n| what | measured |\n|---|---|\n| a | 1 |\n| HTTP load: x | 1 |\n\nnote\n"
        );
        let replaced = replace_row(&added, "| HTTP load: y | 2 |\n");
        assert!(replaced.contains("| HTTP load: y | 2 |") && !replaced.contains("HTTP load: x"));
    }

    #[test]
    fn the_instructions_row_follows_the_cpu_row_then_replaces_itself() {
        let report =
            "| a | 1 |\n| HTTP server CPU per call: x | 2 |\n| b | 3 |\n\n| other table |\n";
        let placed = place_instructions_row(report, "| HTTP instructions per call: 1 | 4 |\n");
        assert_eq!(
            placed,
            "| a | 1 |\n| HTTP server CPU per call: x | 2 |\n| HTTP instructions per call: 1 | 4 |\n| b | 3 |\n\n| other table |\n"
        );
        let again = place_instructions_row(&placed, "| HTTP instructions per call: 2 | 5 |\n");
        assert_eq!(again, placed.replace("call: 1 | 4", "call: 2 | 5"));
    }
}
