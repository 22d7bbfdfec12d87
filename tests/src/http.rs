//! The real binary serving MCP over streamable HTTP (`--http 127.0.0.1:0`), and rmcp
//! streamable-HTTP clients for it.

use rmcp::RoleClient;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reqwest client builder. reqwest has no crypto provider of its own: ring, the workspace's
/// one (workspace Cargo.toml), is installed as the process default first.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A default reqwest client (see [`client_builder`]).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("build a reqwest client")
}

/// A token of the required length for tests (never a real secret).
pub fn test_token(seed: &str) -> String {
    format!("{seed}-{}", "0123456789abcdef".repeat(3))
}

/// The binary listening on loopback; killed (SIGTERM, then SIGKILL) when dropped.
pub struct HttpServer {
    pub child: Child,
    /// `http(s)://127.0.0.1:PORT`
    pub base: String,
    pub port: u16,
    pub stderr_file: PathBuf,
}

impl HttpServer {
    /// Start `pfsense-mcp ARGS` with exactly `env` (plus PATH); `args` must include
    /// `--http 127.0.0.1:0`. Waits for the "listening on" line and reads the port from it.
    pub fn start(args: &[&str], env: &[(&str, &str)], stderr_file: &Path) -> HttpServer {
        let mut cmd = Command::new(crate::binary::pfsense_mcp());
        cmd.args(args).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pfsense-mcp");
        let stderr = child.stderr.take().expect("stderr piped");
        // Copy stderr to the file while looking for the listening line.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let file = stderr_file.to_path_buf();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut out = std::fs::File::create(&file).expect("stderr file");
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if let Some(url) = line.strip_prefix("pfsense-mcp: listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(200)) {
                break url;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "pfsense-mcp exited ({status}) before listening: {}",
                    std::fs::read_to_string(stderr_file).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "pfsense-mcp did not start listening"
            );
        };
        let base = url.trim_end_matches("/mcp").to_string();
        let port = base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port in the listening line");
        HttpServer {
            child,
            base,
            port,
            stderr_file: stderr_file.to_path_buf(),
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// Whether stderr comes to contain `needle` within `limit`: a log line may be written just
    /// after the answer the test already holds.
    pub fn stderr_comes_to_contain(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.stderr().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM to the running server.
    pub fn sigterm(&self) {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {}", self.child.id());
    }

    /// Wait up to `limit` for the process to exit; its status, or None if it is still running.
    /// (After an exit, a moment for the stderr copy, which may lag it by a line.)
    pub fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM (if it is still running), then wait up to `limit` for a clean exit; the exit
    /// status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.exit_within(limit)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An rmcp streamable-HTTP client session with `token` (none: no Authorization header).
pub async fn connect(
    url: &str,
    token: Option<&str>,
    http: reqwest::Client,
) -> anyhow::Result<RunningService<RoleClient, ()>> {
    connect_with(url, token, http, ClientLifecycleMode::Initialize).await
}

/// As [`connect`], with the lifecycle the client uses: `initialize` (a session, up to
/// 2025-11-25), or `server/discover` (2026-07-28: no session, each request on its own).
pub async fn connect_with(
    url: &str,
    token: Option<&str>,
    http: reqwest::Client,
    lifecycle: ClientLifecycleMode,
) -> anyhow::Result<RunningService<RoleClient, ()>> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(t) = token {
        config = config.auth_header(t.to_string());
    }
    let transport = StreamableHttpClientTransport::with_client(http, config);
    Ok(().serve_with_lifecycle(transport, lifecycle).await?)
}

/// The JSON-RPC `initialize` body a client sends first.
pub fn initialize_body() -> String {
    serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "http-test", "version": "0"}
        }
    })
    .to_string()
}
