//! The second yardstick of `cargo xtask bench`'s HTTP CPU per call: the bare rmcp server
//! (`bare-mcp`) whose one tool GETs a URL of the firewall over HTTPS per call (the `--fetch`
//! URLs in turn; API key from `BARE_API_KEY`) and answers with the body. The least any MCP server that reads a firewall
//! does per call: pfsense-mcp does this and its safety layer (arguments checked, audit line,
//! call metrics, result paged and bounded).

mod yardstick;

use rmcp::ErrorData as McpError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone)]
struct Fetch(Arc<Target>);

struct Target {
    http: reqwest::Client,
    urls: Vec<String>,
    next: AtomicUsize,
    api_key: String,
}

impl yardstick::Answer for Fetch {
    async fn answer(&self) -> Result<String, McpError> {
        let failed = |e: reqwest::Error| McpError::internal_error(format!("GET failed: {e}"), None);
        let turn = self.0.next.fetch_add(1, Ordering::Relaxed);
        let response = self
            .0
            .http
            .get(&self.0.urls[turn % self.0.urls.len()])
            .header("X-API-Key", &self.0.api_key)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(failed)?;
        if !response.status().is_success() {
            return Err(McpError::internal_error(
                format!("GET answered {}", response.status()),
                None,
            ));
        }
        response.text().await.map_err(failed)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const USAGE: &str =
        "usage: bare-mcp-fetch --http ADDR --fetch URL [--fetch URL]... (API key in BARE_API_KEY)";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, addr, rest @ ..] = args.as_slice() else {
        anyhow::bail!(USAGE);
    };
    let urls: Vec<String> = rest
        .chunks(2)
        .map(|pair| match pair {
            [f, url] if f == "--fetch" => Ok(url.clone()),
            _ => Err(anyhow::anyhow!(USAGE)),
        })
        .collect::<anyhow::Result<_>>()?;
    if flag != "--http" || urls.is_empty() {
        anyhow::bail!(USAGE);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Loopback to the bench's own emulator (self-signed): a certificate is checked once per
    // connection, so skipping the check moves nothing per call.
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    let target = Target {
        http,
        urls,
        next: AtomicUsize::new(0),
        api_key: std::env::var("BARE_API_KEY").unwrap_or_default(),
    };
    yardstick::serve(Fetch(Arc::new(target)), Some(addr)).await
}
