//! A real MCP client (rmcp) talking to the real binary over stdio.

use rmcp::model::{CallToolRequestParams, CallToolResult, Tool};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::path::Path;
use tokio::process::Command;

pub struct McpSession {
    pub client: RunningService<RoleClient, ()>,
}

impl McpSession {
    /// Spawn `binary args…` with exactly `env` (plus PATH) and initialise an MCP session.
    pub async fn spawn(
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<McpSession> {
        let mut cmd = Command::new(binary);
        cmd.args(args).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let transport = TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::null())
            .spawn()?
            .0;
        let client = ().serve(transport).await?;
        Ok(McpSession { client })
    }

    pub async fn list_tools(&self) -> anyhow::Result<Vec<Tool>> {
        Ok(self.client.peer().list_all_tools().await?)
    }

    /// Call a tool; protocol errors come back as `Err`.
    pub async fn call(&self, name: &str, args: Value) -> anyhow::Result<CallToolResult> {
        let mut params = CallToolRequestParams::new(name.to_string());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        Ok(self.client.peer().call_tool(params).await?)
    }

    pub async fn close(self) {
        let _ = self.client.cancel().await;
    }
}

/// The first text block of a result.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
        .unwrap_or_default()
}

pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error.unwrap_or(false)
}

pub fn structured(result: &CallToolResult) -> Value {
    result.structured_content.clone().unwrap_or(Value::Null)
}
