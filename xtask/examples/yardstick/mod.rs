//! The yardsticks of `cargo xtask bench` (`examples/bare-mcp.rs`, `examples/bare-mcp-fetch.rs`):
//! the smallest rmcp server, one tool whose answer each binary supplies, over stdio or over
//! streamable HTTP with `--http ADDR`. Each binary links only what its answer needs, so the
//! start-up yardstick carries no HTTP client.

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
use std::future::Future;
use std::sync::Arc;

/// What the one tool answers.
pub trait Answer: Clone + Send + Sync + 'static {
    fn answer(&self) -> impl Future<Output = Result<String, McpError>> + Send;
}

#[derive(Clone)]
struct Bare<A>(A);

fn the_tool() -> Tool {
    let schema = serde_json::json!({"type": "object", "properties": {}});
    let serde_json::Value::Object(schema) = schema else {
        unreachable!("a JSON object literal")
    };
    Tool::new("version", "The server's version.", Arc::new(schema))
}

impl<A: Answer> ServerHandler for Bare<A> {
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
        let text = self.0.answer().await?;
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }
}

/// Serve over stdio, or over streamable HTTP on `addr`.
pub async fn serve<A: Answer>(answer: A, http: Option<&str>) -> anyhow::Result<()> {
    let Some(addr) = http else {
        let server = Bare(answer).serve(rmcp::transport::stdio()).await?;
        server.waiting().await?;
        return Ok(());
    };
    let mcp = StreamableHttpService::new(
        move || Ok(Bare(answer.clone())),
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
    Ok(())
}
