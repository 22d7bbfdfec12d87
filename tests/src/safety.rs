//! Helpers for the safety tests: an emulator started in the test process, and an MCP client
//! (rmcp) that supports elicitation and answers as a scripted human would.

use pfsense_emulator::{EmulatorConfig, RunningEmulator, Spec};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, ElicitationCapability, FormElicitationCapability, Tool,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::process::Command;

pub fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("PFSENSE_OPENAPI_SPEC") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi-spec.json");
    if root.exists() {
        return root;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/openapi-spec.json")
}

/// The spec, loaded once per test binary.
pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| Arc::new(Spec::load(&spec_path()).expect("the v2.7.1 spec loads")))
        .clone()
}

/// A fresh emulator on loopback with key auth and every package installed.
pub async fn emulator() -> RunningEmulator {
    let mut config = EmulatorConfig::new(spec_path());
    config.spec = Some(spec());
    config.enable_key_auth = true;
    config.installed_packages = vec!["all".into()];
    pfsense_emulator::start(config)
        .await
        .expect("the emulator starts")
}

/// The environment that points the binary at an emulator.
pub fn env_for(emu: &RunningEmulator) -> Vec<(String, String)> {
    vec![
        ("PFSENSE_HOST".into(), emu.url().to_string()),
        (
            "PFSENSE_API_KEY".into(),
            emu.api_key().expect("key auth is on").to_string(),
        ),
        (
            "PFSENSE_TLS_FINGERPRINT".into(),
            emu.fingerprint().to_string(),
        ),
    ]
}

/// How the scripted human answers elicitation requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HumanAnswer {
    Accept,
    Decline,
    /// Leave the question unanswered until the server withdraws it (`notifications/cancelled`
    /// for the question, which rmcp's client turns into the handler's cancellation).
    Wait,
}

/// An MCP client that declares elicitation and answers like a human would, recording every
/// message it was shown. With `elicitation: false` it declares no elicitation at all.
#[derive(Clone)]
pub struct Human {
    pub elicitation: bool,
    pub answer: Arc<Mutex<HumanAnswer>>,
    pub asked: Arc<Mutex<Vec<String>>>,
    /// The questions the server withdrew while this human waited (`HumanAnswer::Wait`).
    pub withdrawn: Arc<Mutex<Vec<String>>>,
}

impl Human {
    pub fn new(elicitation: bool, answer: HumanAnswer) -> Human {
        Human {
            elicitation,
            answer: Arc::new(Mutex::new(answer)),
            asked: Arc::new(Mutex::new(Vec::new())),
            withdrawn: Arc::new(Mutex::new(Vec::new())),
        }
    }

    pub fn set_answer(&self, answer: HumanAnswer) {
        *self.answer.lock().unwrap() = answer;
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    pub fn withdrawn(&self) -> Vec<String> {
        self.withdrawn.lock().unwrap().clone()
    }
}

impl ClientHandler for Human {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.elicitation {
            let mut e = ElicitationCapability::new();
            e.form = Some(FormElicitationCapability::new());
            capabilities.elicitation = Some(e);
        }
        ClientConfig::new(
            capabilities,
            rmcp::model::Implementation::new("safety-test-human", "0.1.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let message = match &request {
            ElicitRequestParams::FormElicitationParams { message, .. } => message.clone(),
            _ => String::new(),
        };
        self.asked.lock().unwrap().push(message.clone());
        let answer = *self.answer.lock().unwrap();
        if answer == HumanAnswer::Wait {
            context.ct.cancelled().await;
            self.withdrawn.lock().unwrap().push(message);
            return Err(ErrorData::internal_error(
                "the question was withdrawn",
                None,
            ));
        }
        Ok(match answer {
            HumanAnswer::Accept => {
                ElicitResult::new(ElicitationAction::Accept).with_content(json!({"approve": true}))
            }
            HumanAnswer::Decline | HumanAnswer::Wait => {
                ElicitResult::new(ElicitationAction::Decline)
            }
        })
    }
}

/// The binary over stdio with the `Human` client; stderr goes to a file the test can read.
pub struct Session {
    pub client: RunningService<RoleClient, Human>,
    pub human: Human,
    pub pid: Option<u32>,
}

impl Session {
    /// The binary with its audit log (`audit.jsonl`), journal (`journal.sqlite`) and stderr
    /// (`stderr.log`) in `dir`, every tool listed (full mode), plus `env`.
    pub async fn start_in(dir: &Path, env: &[(String, String)], human: Human) -> Session {
        let args = [
            "--audit-log".to_string(),
            dir.join("audit.jsonl").display().to_string(),
            "--journal".to_string(),
            dir.join("journal.sqlite").display().to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut env = env.to_vec();
        env.push(("PFSENSE_TOOL_MODE".into(), "full".into()));
        Session::start(&args, &env, human, Some(&dir.join("stderr.log"))).await
    }

    pub async fn start(
        args: &[&str],
        env: &[(String, String)],
        human: Human,
        stderr: Option<&Path>,
    ) -> Session {
        Session::start_with(args, env, human, stderr, ClientLifecycleMode::Initialize).await
    }

    /// As `start`, with the lifecycle the client uses: `initialize` (up to 2025-11-25), or
    /// `server/discover` and per-request `_meta` (2026-07-28).
    pub async fn start_with(
        args: &[&str],
        env: &[(String, String)],
        human: Human,
        stderr: Option<&Path>,
        lifecycle: ClientLifecycleMode,
    ) -> Session {
        let mut cmd = Command::new(crate::binary::pfsense_mcp());
        cmd.args(args).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let stderr = match stderr {
            Some(p) => std::process::Stdio::from(std::fs::File::create(p).expect("stderr file")),
            None => std::process::Stdio::null(),
        };
        let (transport, _) = TokioChildProcess::builder(cmd)
            .stderr(stderr)
            .spawn()
            .expect("spawn pfsense-mcp");
        let pid = transport.id();
        let client = human
            .clone()
            .serve_with_lifecycle(transport, lifecycle)
            .await
            .expect("MCP session starts");
        Session { client, human, pid }
    }

    pub async fn list_tools(&self) -> Vec<Tool> {
        self.client
            .peer()
            .list_all_tools()
            .await
            .expect("tools/list")
    }

    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        let mut params = CallToolRequestParams::new(name.to_string());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        // The running client, not its peer: on 2026-07-28 it answers a confirmation form
        // through the handler (`Human`) and sends the call again, as a real client does.
        self.client
            .call_tool(params)
            .await
            .unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
    }

    /// Call, expect success, return the structured content.
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let r = self.call(name, args).await;
        assert!(
            !r.is_error.unwrap_or(false),
            "{name} failed: {}",
            crate::mcp::text(&r)
        );
        r.structured_content.unwrap_or(Value::Null)
    }

    pub async fn close(self) {
        let _ = self.client.cancel().await;
    }
}
