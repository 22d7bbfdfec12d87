//! The MCP server: lists the generated tools a policy allows, checks arguments, previews
//! mutations until they are confirmed, and calls the firewall.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::outcome;
pub use crate::policy::Policy;
use crate::request::PreparedRequest;
use crate::validate;
use futures::future::{BoxFuture, Shared};
use rmcp::ErrorData as McpError;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler};
use serde_json::Value;
use std::sync::Arc;

/// Who is calling, and the MCP peer to ask the human through (elicitation).
#[derive(Clone, Default)]
pub struct CallContext {
    /// `stdio`, or the name of the HTTP token the caller presented.
    pub caller: String,
    pub peer: Option<rmcp::Peer<RoleServer>>,
}

/// Server settings beyond the policy.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub policy: Policy,
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Extra sentences for the server instructions (e.g. the sandbox banner).
    pub banner: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            policy: Policy::default(),
            page_size: 256,
            banner: None,
        }
    }
}

/// The MCP tool description of a generated tool.
pub fn mcp_tool(def: &ToolDef) -> Tool {
    let annotations = ToolAnnotations::new()
        .read_only(def.read_only_hint())
        .destructive(def.destructive_hint())
        .idempotent(def.idempotent_hint())
        .open_world(false);
    Tool::new(def.name, def.description, def.schema().clone()).with_annotations(annotations)
}

/// The firewall the server talks to: ready, or still starting (the sandbox emulator starts in
/// the background so that `initialize` answers at once).
pub enum Target {
    Ready(Arc<Client>),
    Starting(Shared<BoxFuture<'static, Result<Arc<Client>, String>>>),
}

struct Inner {
    target: Target,
    /// Shown in the instructions instead of the firewall URL (e.g. "the sandbox emulator").
    target_label: Option<String>,
    options: ServerOptions,
    /// The offered tools in list order (sorted by name).
    offered: Vec<&'static ToolDef>,
    listed: Vec<Tool>,
}

#[derive(Clone)]
pub struct PfSenseServer {
    inner: Arc<Inner>,
}

impl PfSenseServer {
    pub fn new(client: Client, options: ServerOptions) -> PfSenseServer {
        PfSenseServer::with_target(Target::Ready(Arc::new(client)), None, options)
    }

    /// A server whose firewall may still be starting; `label` names it in the instructions.
    pub fn with_target(
        target: Target,
        label: Option<String>,
        options: ServerOptions,
    ) -> PfSenseServer {
        let offered: Vec<&'static ToolDef> =
            TOOLS.iter().filter(|d| options.policy.offers(d)).collect();
        let listed = offered.iter().map(|d| mcp_tool(d)).collect();
        PfSenseServer {
            inner: Arc::new(Inner {
                target,
                target_label: label,
                options,
                offered,
                listed,
            }),
        }
    }

    pub fn offered(&self) -> &[&'static ToolDef] {
        &self.inner.offered
    }

    /// The client, once the target is up.
    pub async fn client(&self) -> Result<Arc<Client>, String> {
        match &self.inner.target {
            Target::Ready(c) => Ok(c.clone()),
            Target::Starting(f) => f.clone().await,
        }
    }

    fn target_name(&self) -> String {
        if let Some(label) = &self.inner.target_label {
            return label.clone();
        }
        match &self.inner.target {
            Target::Ready(c) => c.base_url().as_str().trim_end_matches('/').to_string(),
            Target::Starting(_) => "the configured firewall".into(),
        }
    }

    fn instructions(&self) -> String {
        let mut s = format!(
            "Operates the pfSense firewall at {} through its REST API ({} tools generated from REST API spec {}). \
             Reads run directly. Every change needs `confirm: true`: without it the tool returns a preview of the exact request and sends nothing. \
             Changes to aliases, NAT, rules, routes, DHCP, DNS, interfaces and VPNs stay pending until the matching apply tool runs (the result names it), or pass `apply: true`. \
             Object ids are positions in a list and shift after deletes: list again before acting on an id.",
            self.target_name(),
            self.inner.offered.len(),
            crate::catalog::SPEC_VERSION,
        );
        if self.inner.options.policy.read_only {
            s.push_str(" The server is in read-only mode: only reading tools are offered.");
        }
        if let Some(b) = &self.inner.options.banner {
            s.push(' ');
            s.push_str(b);
        }
        s
    }

    /// Run one tool call: a meta tool, or a generated tool through the whole path (policy,
    /// validation, preview or execution).
    pub async fn call(
        &self,
        name: &str,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        if let Some(meta) = crate::meta::lookup(name) {
            return self.call_meta(meta, args, ctx).await;
        }
        let Some(def) = crate::catalog::tool(name) else {
            return Err(McpError::invalid_params(
                format!("unknown tool `{name}`: tools/list shows the available tools"),
                None,
            ));
        };
        self.call_generated(def, args, ctx).await
    }

    async fn call_meta(
        &self,
        meta: &'static crate::meta::MetaTool,
        _args: Value,
        _ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        Err(McpError::invalid_params(
            format!("`{}` is not available", meta.name),
            None,
        ))
    }

    /// A generated tool: policy, validation, preview or execution.
    pub async fn call_generated(
        &self,
        def: &'static ToolDef,
        args: Value,
        _ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        if let Some(reason) = self.inner.options.policy.refusal(def) {
            return Ok(outcome::error(reason));
        }
        let args = match args {
            Value::Null => Value::Object(Default::default()),
            other => other,
        };
        let problems = validate::validate(def.schema(), &args);
        if !problems.is_empty() {
            let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            return Ok(outcome::error(format!(
                "{} was not called; its arguments do not fit: {}",
                def.name,
                list.join("; ")
            )));
        }
        let mut args = args;
        let confirmed = args
            .as_object_mut()
            .and_then(|m| m.remove("confirm"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let normalized = match (def.normalize)(args) {
            Ok(v) => v,
            Err(e) => {
                return Ok(outcome::error(format!(
                    "{} was not called; its arguments do not fit: {e}",
                    def.name
                )));
            }
        };
        let request = match PreparedRequest::build(def, &normalized) {
            Ok(r) => r,
            Err(e) => {
                return Ok(outcome::error(format!(
                    "{} was not called: {}",
                    def.name, e.0
                )));
            }
        };
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => return Ok(outcome::error(format!("{} was not called: {e}", def.name))),
        };
        if def.is_mutation() && !confirmed {
            return Ok(outcome::preview(def, &request, client.base_url().as_str()));
        }
        tracing::info!(tool = def.name, method = %def.method, path = def.path, "calling pfSense");
        match (def.invoke)(&client, normalized).await {
            Ok(response) => Ok(outcome::success(def, &request, &response)),
            Err(e) => {
                tracing::info!(tool = def.name, error = %e, "call failed");
                Ok(outcome::failure(def, &e))
            }
        }
    }
}

impl ServerHandler for PfSenseServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "pfsense-mcp",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(self.instructions())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= self.inner.listed.len())
                .ok_or_else(|| McpError::invalid_params(format!("invalid cursor `{c}`"), None))?,
        };
        let page = self.inner.options.page_size.max(1);
        let end = (start + page).min(self.inner.listed.len());
        let mut result = ListToolsResult::with_all_items(self.inner.listed[start..end].to_vec());
        if end < self.inner.listed.len() {
            result.next_cursor = Some(end.to_string());
        }
        Ok(result)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner
            .offered
            .binary_search_by(|d| d.name.cmp(name))
            .ok()
            .map(|i| self.inner.listed[i].clone())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
        let ctx = CallContext {
            caller: "stdio".into(),
            peer: Some(context.peer.clone()),
        };
        self.call(&request.name, args, &ctx).await.map(Into::into)
    }
}
