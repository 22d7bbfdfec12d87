//! The firewall a bank run talks to, a fresh state per task, and the direct REST calls that
//! set tasks up, check their results and clean up (never through MCP, so never in the audit log).

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Where the tasks run.
pub enum Target {
    /// A fresh in-process emulator; reset to its seed before every task.
    Emulator(pfsense_emulator::RunningEmulator),
    /// A pfrest lab (pfrest's own PHP); its pristine config is restored before every task.
    Lab(pfrest_lab::Lab),
    /// A throwaway VM from a golden image; its snapshot is restored before every task.
    Vm(Box<vm_harness::RunningVm>),
    /// An existing firewall: never reset, so cleanup is all that keeps it tidy.
    Url,
}

/// How the server and the checks reach the target.
pub struct Access {
    pub url: String,
    pub username: String,
    pub password: String,
    pub api_key: Option<String>,
    /// Environment for the pfsense-mcp binary (host, credentials, certificate pinning).
    pub server_env: Vec<(String, String)>,
    http: CheckClient,
}

const VM_SNAPSHOT: &str = "bank-clean";

/// How to boot the VM for `--target vm`.
pub struct VmSettings {
    pub golden: PathBuf,
    pub memory_mib: u32,
    /// auto, kvm or tcg.
    pub accel: String,
}

impl Target {
    pub async fn start(
        target: &str,
        spec_path: &Path,
        spec: Arc<pfsense_spec::Spec>,
        vm: &VmSettings,
        lab: &crate::lab::LabArgs,
    ) -> Result<(Target, Access)> {
        match target {
            "lab" => {
                let (lab, api_key) = tokio::task::block_in_place(|| -> Result<_> {
                    let lab = crate::lab::start(lab, 8)?;
                    let key = lab.enable_key_auth()?;
                    Ok((lab, key))
                })?;
                let server_env = vec![
                    ("PFSENSE_HOST".to_string(), lab.url().to_string()),
                    ("PFSENSE_API_KEY".to_string(), api_key.clone()),
                    ("PFSENSE_USERNAME".to_string(), lab.username().to_string()),
                    ("PFSENSE_PASSWORD".to_string(), lab.password().to_string()),
                ];
                let access = Access {
                    url: lab.url().to_string(),
                    username: lab.username().to_string(),
                    password: lab.password().to_string(),
                    api_key: Some(api_key),
                    server_env,
                    // Plain HTTP on loopback.
                    http: CheckClient::new(false, None)?,
                };
                Ok((Target::Lab(lab), access))
            }
            "emulator" => {
                let mut config = pfsense_emulator::EmulatorConfig::new(spec_path);
                config.spec = Some(spec);
                config.enable_key_auth = true;
                config.installed_packages = vec!["all".into()];
                let emu = pfsense_emulator::start(config).await?;
                let api_key = emu.api_key().map(str::to_string);
                let mut server_env = vec![
                    ("PFSENSE_HOST".to_string(), emu.url().to_string()),
                    (
                        "PFSENSE_TLS_FINGERPRINT".to_string(),
                        emu.fingerprint().to_string(),
                    ),
                ];
                if let Some(key) = &api_key {
                    server_env.push(("PFSENSE_API_KEY".into(), key.clone()));
                }
                let access = Access {
                    url: emu.url().to_string(),
                    username: emu.username().to_string(),
                    password: emu.password().to_string(),
                    api_key,
                    server_env,
                    // Loopback only, a certificate made at start: the server pins it; the
                    // checks only read what the emulator on 127.0.0.1 says.
                    http: CheckClient::new(true, None)?,
                };
                Ok((Target::Emulator(emu), access))
            }
            "vm" => {
                let golden = vm_harness::golden::GoldenImage::load(&vm.golden)
                    .with_context(|| format!("loading the golden image {}", vm.golden.display()))?;
                let credentials = golden.credentials.clone();
                let options = vm_harness::VmOptions {
                    memory_mib: vm.memory_mib,
                    accel: vm.accel.parse().map_err(anyhow::Error::msg)?,
                    ..vm_harness::VmOptions::default()
                };
                let vm = tokio::task::block_in_place(|| -> Result<vm_harness::RunningVm> {
                    let mut vm = vm_harness::Vm::boot(&golden, options)?;
                    vm.wait_ready(Duration::from_secs(600))?;
                    vm.snapshot(VM_SNAPSHOT)?;
                    Ok(vm)
                })?;
                let url = vm.base_url();
                let mut server_env = vec![
                    ("PFSENSE_HOST".to_string(), url.clone()),
                    // The VM is reached on loopback through a forwarded port and carries the
                    // image's self-signed certificate.
                    ("PFSENSE_VERIFY_SSL".to_string(), "false".to_string()),
                    (
                        "PFSENSE_USERNAME".to_string(),
                        credentials.admin_username.clone(),
                    ),
                    (
                        "PFSENSE_PASSWORD".to_string(),
                        credentials.admin_password.clone(),
                    ),
                ];
                if let Some(key) = &credentials.api_key {
                    server_env.push(("PFSENSE_API_KEY".into(), key.clone()));
                }
                let access = Access {
                    url,
                    username: credentials.admin_username.clone(),
                    password: credentials.admin_password.clone(),
                    api_key: credentials.api_key.clone(),
                    server_env,
                    http: CheckClient::new(true, None)?,
                };
                Ok((Target::Vm(Box::new(vm)), access))
            }
            url if url.starts_with("https://") || url.starts_with("http://") => {
                let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                let api_key = env("PFSENSE_API_KEY");
                let username = env("PFSENSE_USERNAME").unwrap_or_else(|| "admin".into());
                let password = env("PFSENSE_PASSWORD").unwrap_or_default();
                if api_key.is_none() && password.is_empty() {
                    bail!(
                        "--target {url}: set PFSENSE_API_KEY (or PFSENSE_USERNAME and PFSENSE_PASSWORD) so the server and the checks can reach the firewall"
                    );
                }
                let mut server_env = vec![("PFSENSE_HOST".to_string(), url.to_string())];
                for name in crate::exercise::URL_TARGET_ENV {
                    if let Some(v) = env(name) {
                        server_env.push((name.to_string(), v));
                    }
                }
                let insecure = env("PFSENSE_VERIFY_SSL").is_some_and(|v| v == "false");
                let ca = env("PFSENSE_CA_CERT");
                let access = Access {
                    url: url.trim_end_matches('/').to_string(),
                    username,
                    password,
                    api_key,
                    server_env,
                    http: CheckClient::new(insecure, ca.map(PathBuf::from))?,
                };
                Ok((Target::Url, access))
            }
            other => {
                bail!("--target must be `emulator`, `lab`, `vm` or a firewall URL, not `{other}`")
            }
        }
    }

    /// A fresh state for the next task (nothing to do for a URL target). A restored VM also
    /// gets checks with no TLS session from before the restore ([`CheckClient::forget_tls_sessions`]).
    pub async fn reset(&mut self, access: &Access) -> Result<()> {
        match self {
            Target::Emulator(emu) => {
                emu.reset();
                Ok(())
            }
            Target::Lab(lab) => Ok(lab.reset()?),
            Target::Vm(vm) => tokio::task::block_in_place(|| -> Result<()> {
                vm.restore(VM_SNAPSHOT)?;
                vm.wait_ready(Duration::from_secs(120))?;
                access.http.forget_tls_sessions()
            }),
            Target::Url => Ok(()),
        }
    }

    /// Let background work the task started finish before its cleanup: the lab's apply
    /// dispatchers can save a config they loaded before the cleanup's deletes (seen:
    /// firewall-schedule-rule's rule came back). Waiting has no cost on the other targets.
    pub async fn settle(&self) {
        if let Target::Lab(lab) = self {
            let idle = tokio::task::block_in_place(|| lab.wait_idle(Duration::from_secs(60)));
            if !idle {
                tracing::warn!("the lab's background dispatchers still ran after 60 s");
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Target::Emulator(_) => "emulator (reset to its seed before every task)",
            Target::Lab(_) => "pfrest lab (pristine config restored before every task)",
            Target::Vm(_) => "vm (snapshot restored before every task)",
            Target::Url => "firewall URL (not reset; cleanup only)",
        }
    }

    pub async fn stop(self) {
        match self {
            Target::Emulator(emu) => emu.shutdown().await,
            Target::Lab(lab) => tokio::task::block_in_place(|| lab.stop()),
            Target::Vm(vm) => tokio::task::block_in_place(|| vm.shutdown()),
            Target::Url => {}
        }
    }
}

/// The HTTP client of the checks, and how it is built (invalid certificates accepted, an extra
/// CA), so that it can be built again.
struct CheckClient {
    client: RwLock<reqwest::Client>,
    accept_invalid_certs: bool,
    ca: Option<PathBuf>,
}

impl CheckClient {
    fn new(accept_invalid_certs: bool, ca: Option<PathBuf>) -> Result<CheckClient> {
        Ok(CheckClient {
            client: RwLock::new(Self::build(accept_invalid_certs, ca.as_deref())?),
            accept_invalid_certs,
            ca,
        })
    }

    fn build(accept_invalid_certs: bool, ca: Option<&Path>) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            // No kept-alive connections: after a VM snapshot restore, the guest knows none of
            // them.
            .pool_max_idle_per_host(0)
            .tls_danger_accept_invalid_certs(accept_invalid_certs);
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Ok(builder.build()?)
    }

    /// The client now (a cheap handle: reqwest's client is shared inside).
    fn get(&self) -> reqwest::Client {
        self.client
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A new client, so that no TLS session ticket from before is offered again. A guest
    /// restored from its snapshot replays its random numbers: it hands the session ids it gave
    /// out before the restore to whoever connects first after it, with other secrets, and
    /// answers the old tickets' holder with `decrypt_error`. Seen in CI (2026-12-04, the second
    /// task of `a_vm_target_restores_its_snapshot_before_every_task`) and reproduced on the test
    /// guest: client A connects, restore, client B connects, and A's next two connections fail
    /// with "received fatal alert: DecryptError"; without B, or with a new client, they succeed.
    fn forget_tls_sessions(&self) -> Result<()> {
        let fresh = Self::build(self.accept_invalid_certs, self.ca.as_deref())?;
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

/// The answer of one REST call: status and the envelope (or whatever JSON came back).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn data(&self) -> &Value {
        self.body.get("data").unwrap_or(&Value::Null)
    }

    /// `HTTP 400 FIELD_…: message`, for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "HTTP {} {}: {}",
            self.status,
            self.body["response_id"].as_str().unwrap_or(""),
            self.body["message"].as_str().unwrap_or("")
        )
    }
}

impl Access {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: Option<&Map<String, Value>>,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let method: reqwest::Method = method
            .to_uppercase()
            .parse()
            .with_context(|| format!("HTTP method `{method}`"))?;
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.url))
            .with_context(|| format!("URL for {path}"))?;
        if let Some(query) = query {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                pairs.append_pair(k, &text);
            }
        }
        let mut request = self.http.get().request(method.clone(), url);
        request = match &self.api_key {
            Some(key) => request.header("X-API-Key", key),
            None => request.basic_auth(&self.username, Some(&self.password)),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }

    /// Every object of a plural endpoint (all pages).
    pub async fn list(&self, path: &str) -> Result<Vec<Value>> {
        let mut query = Map::new();
        query.insert("limit".into(), Value::from(0));
        let answer = self.call("GET", path, Some(&query), None).await?;
        if !answer.ok() {
            bail!("GET {path}: {}", answer.summary());
        }
        match answer.data() {
            Value::Array(items) => Ok(items.clone()),
            other => bail!("GET {path}: expected a list, got {other}"),
        }
    }
}
