//! rmcp's server for both transports, over one type-erased handler ([`Erased`]), so that all of
//! it is compiled here: the streamable-HTTP service with its sessions ([`HttpService`]) and the
//! session over a pair of byte streams that stdio uses ([`serve_streams`]), each with the loop
//! that reads, dispatches and answers messages.
//!
//! Why a crate: `pfsense-mcp` is built at `opt-level = "s"` to keep its binary under budget, and
//! rmcp's generic code (the service, its sessions, `serve_inner`, the message encoding) is
//! compiled in the crate that names the handler type, at that crate's level. Over
//! `StreamableHttpService<PfSenseServer>` every HTTP call ran that code at "s". Here it is
//! instantiated once, over [`Erased`], at the release profile's opt-level 3; the server's own
//! handler is reached through one boxed future per request (BENCHMARKS.md, "Sixteenth session").

// `logging/setLevel` is deprecated (SEP-2577) but still in the 2025-11-25 protocol: the server
// accepts it, so it is forwarded.
#![allow(deprecated)]

use futures::future::BoxFuture;
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CustomRequest, CustomResult, ListToolsResult,
    PaginatedRequestParams, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use std::sync::Arc;

/// The `ServerHandler` methods the server overrides, object-safe. rmcp's defaults answer the
/// rest (initialize from `get_info`, ping, empty prompt lists…) as they would for the server
/// itself: [`Erased`] overrides exactly these and nothing else.
pub trait Handler: Send + Sync + 'static {
    fn get_info(&self) -> ServerConfig;
    fn get_tool(&self, name: &str) -> Option<Tool>;
    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<ListToolsResult, McpError>>;
    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<CallToolResponse, McpError>>;
    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<CustomResult, McpError>>;
    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<(), McpError>>;
}

/// A [`Handler`] as rmcp's `ServerHandler`: the one handler type rmcp's code is compiled for.
pub struct Erased(Box<dyn Handler>);

impl Erased {
    pub fn new(handler: impl Handler) -> Erased {
        Erased(Box::new(handler))
    }
}

impl ServerHandler for Erased {
    fn get_info(&self) -> ServerConfig {
        self.0.get_info()
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.0.get_tool(name)
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListToolsResult, McpError>> + Send + '_ {
        self.0.list_tools(request, context)
    }

    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CallToolResponse, McpError>> + Send + '_ {
        self.0.call_tool(request, context)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + Send + '_ {
        self.0.on_custom_request(request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + Send + '_ {
        self.0.set_level(request, context)
    }
}

/// The streamable-HTTP MCP endpoint: rmcp's service over [`Erased`] handlers, one per session.
pub struct HttpService(StreamableHttpService<Erased, LocalSessionManager>);

impl HttpService {
    /// `session` makes the handler of each new MCP session (and of each sessionless request).
    pub fn new(
        session: impl Fn() -> Erased + Send + Sync + 'static,
        manager: Arc<LocalSessionManager>,
        config: StreamableHttpServerConfig,
    ) -> HttpService {
        HttpService(StreamableHttpService::new(
            move || Ok(session()),
            manager,
            config,
        ))
    }

    /// Answer one HTTP request (rmcp's `handle`, compiled here for axum's body).
    pub fn handle(
        self: Arc<Self>,
        request: axum::http::Request<axum::body::Body>,
    ) -> BoxFuture<'static, axum::response::Response> {
        Box::pin(async move { self.0.handle(request).await.map(axum::body::Body::new) })
    }
}

/// One MCP session over a pair of byte streams (stdio's, after the server has checked each
/// line), until the input ends.
pub fn serve_streams(
    handler: Erased,
    input: tokio::io::DuplexStream,
    output: tokio::io::DuplexStream,
) -> BoxFuture<'static, Result<(), String>> {
    Box::pin(async move {
        match handler.serve((input, output)).await {
            Ok(running) => running
                .waiting()
                .await
                .map(drop)
                .map_err(|e| format!("MCP session ended with an error: {e}")),
            Err(e) => Err(format!("MCP session failed to start: {e}")),
        }
    })
}

/// Whether rmcp reads the stdin `line` as a client's message, and so answers a request in it by
/// its id (it answers a line it cannot read without one). The same parse as rmcp's stdio codec
/// (`serde_json::from_slice`), compiled here once with it rather than again in the server crate
/// at its size-optimised level (about 0.4 MB of the binary).
pub fn rmcp_reads(line: &[u8]) -> bool {
    serde_json::from_slice::<rmcp::model::ClientJsonRpcMessage>(line).is_ok()
}
