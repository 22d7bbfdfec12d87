//! The yardstick of `cargo xtask bench`: the smallest rmcp server (one tool, no network, no
//! state) over stdio, or over streamable HTTP with `--http ADDR`. The bench measures
//! pfsense-mcp beside it: start-up, peak memory, server CPU per HTTP call.

mod yardstick;

#[derive(Clone)]
struct Version;

impl yardstick::Answer for Version {
    async fn answer(&self) -> Result<String, rmcp::ErrorData> {
        Ok(r#"{"version":"bare-mcp"}"#.to_string())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => yardstick::serve(Version, None).await,
        [flag, addr] if flag == "--http" => yardstick::serve(Version, Some(addr)).await,
        _ => anyhow::bail!("usage: bare-mcp [--http ADDR]"),
    }
}
