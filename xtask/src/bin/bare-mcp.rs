//! The yardstick of `cargo xtask bench`: the smallest rmcp server (one tool, no network, no
//! state) over stdio, or over streamable HTTP with `--http ADDR`. The bench measures
//! pfsense-mcp beside it: start-up, peak memory, server CPU per HTTP call.

use axum::serve::ListenerExt;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use std::sync::Arc;

#[derive(Clone)]
struct Bare;

fn the_tool() -> Tool {
    let schema = serde_json::json!({"type": "object", "properties": {}});
    let serde_json::Value::Object(schema) = schema else {
        unreachable!("a JSON object literal")
    };
    Tool::new("version", "The server's version.", Arc::new(schema))
}

impl ServerHandler for Bare {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bare-mcp", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![the_tool()]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if request.name != "version" {
            return Err(McpError::invalid_params(
                format!("no tool `{}`", request.name),
                None,
            ));
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(r#"{"version":"bare-mcp"}"#)]).into())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            let server = Bare.serve(rmcp::transport::stdio()).await?;
            server.waiting().await?;
        }
        [flag, addr] if flag == "--http" => {
            let mcp = StreamableHttpService::new(
                || Ok(Bare),
                Arc::new(LocalSessionManager::default()),
                StreamableHttpServerConfig::default(),
            );
            let app = axum::Router::new().route_service("/mcp", mcp);
            let listener = tokio::net::TcpListener::bind(addr).await?;
            // The bench reads the port (with port 0) from this line.
            eprintln!(
                "bare-mcp: listening on http://{}/mcp",
                listener.local_addr()?
            );
            // TCP_NODELAY, as pfsense-mcp's listener sets it: without it each answer waits for
            // the client's delayed ACK, and the yardstick idles (about 1,100 calls/s under 50
            // clients) instead of working.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await?;
        }
        _ => anyhow::bail!("usage: bare-mcp [--http ADDR]"),
    }
    Ok(())
}
