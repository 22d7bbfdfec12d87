//! A stateful, spec-driven stand-in for the pfSense REST API v2 over HTTPS on loopback.
#![recursion_limit = "512"]
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let emu = pfsense_emulator::start(pfsense_emulator::EmulatorConfig::new("openapi-spec.json")).await?;
//! println!("{} {} {}", emu.url(), emu.username(), emu.fingerprint());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! See the crate README for the behaviour it emulates and what it does not.

mod auth;
mod catalog;
mod engine;
pub mod faults;
mod linked;
mod pipeline;
mod query;
mod reply;
mod rules;
mod seed;
mod server;
mod special;
mod state;
mod store;
mod tables;
mod tls;
mod validate;

pub use faults::{Fault, FaultAction, LoggedRequest};
pub use pfsense_spec::Spec;

use anyhow::Context;
use state::{Shared, lock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use store::{SeedOptions, Store};

/// How to start an emulator. `EmulatorConfig::new(spec_path)` gives the defaults of a fresh
/// install: Basic auth only (admin / pfsense), no add-on packages, a free loopback port.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The OpenAPI spec file; its bytes are also served at `/api/v2/schema/openapi`.
    pub spec_path: PathBuf,
    /// An already loaded spec, to skip parsing `spec_path` again (fast in-process starts).
    pub spec: Option<Arc<Spec>>,
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    pub username: String,
    pub password: String,
    /// Enable KeyAuth (besides BasicAuth) and create an API key for the admin user.
    pub enable_key_auth: bool,
    /// Installed add-on packages (`pfSense-pkg-haproxy`, …); `all` installs every known one.
    pub installed_packages: Vec<String>,
    /// A JSON state file overlaying the compiled-in seed (see README).
    pub state_file: Option<PathBuf>,
    /// Seed a third interface `opt1` (disabled).
    pub with_opt1: bool,
}

impl EmulatorConfig {
    pub fn new(spec_path: impl Into<PathBuf>) -> EmulatorConfig {
        EmulatorConfig {
            spec_path: spec_path.into(),
            spec: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            username: "admin".into(),
            password: seed::DEFAULT_PASSWORD.into(),
            enable_key_auth: false,
            installed_packages: Vec::new(),
            state_file: None,
            with_opt1: false,
        }
    }
}

/// A running emulator. Stops on `shutdown().await` or when dropped.
pub struct RunningEmulator {
    url: String,
    local_addr: SocketAddr,
    username: String,
    password: String,
    api_key: Option<String>,
    fingerprint: String,
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Start an emulator: load the spec (unless given), seed the state, make a certificate, listen.
pub async fn start(config: EmulatorConfig) -> anyhow::Result<RunningEmulator> {
    let spec = match &config.spec {
        Some(s) => s.clone(),
        None => Arc::new(
            Spec::load(&config.spec_path)
                .with_context(|| format!("loading the spec {}", config.spec_path.display()))?,
        ),
    };
    let spec_bytes = match std::fs::read(&config.spec_path) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) if config.spec.is_some() => {
            tracing::warn!(
                "cannot read {} ({e}); /api/v2/schema/openapi will answer an empty spec",
                config.spec_path.display()
            );
            bytes::Bytes::from_static(b"{}")
        }
        Err(e) => return Err(e).context("reading the spec file"),
    };
    let mut packages = Vec::new();
    for p in &config.installed_packages {
        if p == "all" {
            packages.extend(special::all_package_names(&spec));
        } else if !p.is_empty() {
            packages.push(p.clone());
        }
    }
    let overlay = match &config.state_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the state file {}", path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("the state file {} is not JSON", path.display()))?,
            )
        }
        None => None,
    };
    let catalog = catalog::Catalog::new(spec);
    let mut seed_store = Store::seeded(
        &catalog,
        &SeedOptions {
            with_opt1: config.with_opt1,
            installed_packages: packages,
            overlay,
        },
    )?;
    // The admin login given at start.
    if let Some(users) = seed_store.collections.get_mut("User")
        && let Some(serde_json::Value::Object(admin)) = users.first_mut()
    {
        admin.insert("name".into(), config.username.clone().into());
        admin.insert("password".into(), config.password.clone().into());
    }
    for group in seed_store
        .collections
        .get_mut("UserGroup")
        .into_iter()
        .flatten()
    {
        if let Some(serde_json::Value::Array(members)) = group.get_mut("member") {
            for m in members.iter_mut() {
                if m == "admin" {
                    *m = config.username.clone().into();
                }
            }
        }
    }
    let api_key = if config.enable_key_auth {
        if let Some(settings) = seed_store.singletons.get_mut("RESTAPISettings") {
            settings.insert(
                "auth_methods".into(),
                serde_json::json!(["BasicAuth", "KeyAuth"]),
            );
        }
        Some(special::seed_api_key(
            &mut seed_store,
            &config.username,
            "pfsense-emulator start-up key",
        ))
    } else {
        None
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    let mut names = vec!["localhost".to_string(), local_addr.ip().to_string()];
    if !local_addr.ip().is_loopback() {
        names.push("127.0.0.1".into());
    }
    let identity = tls::make_identity(&names)?;
    let shared = Arc::new(Shared {
        catalog,
        spec_bytes,
        store: Mutex::new(seed_store.clone()),
        seed: seed_store,
        faults: Mutex::new(Vec::new()),
        log: Mutex::new(std::collections::VecDeque::new()),
        jwt_secret: auth::random_bytes(32),
        control_username: config.username.clone(),
        control_password: config.password.clone(),
    });
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::serve(
        listener,
        identity.acceptor,
        shared.clone(),
        stop_rx,
    ));
    let host = match local_addr.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Ok(RunningEmulator {
        url: format!("https://{host}:{}", local_addr.port()),
        local_addr,
        username: config.username,
        password: config.password,
        api_key,
        fingerprint: identity.fingerprint,
        shared,
        stop,
        task: Some(task),
    })
}

impl RunningEmulator {
    /// `https://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The key created at start when `enable_key_auth` is set.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// `sha256:<hex>` of the DER certificate: what clients pin.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The binary's ready line: `{"url", "username", "password", "api_key", "fingerprint"}`.
    pub fn ready_json(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.url,
            "username": self.username,
            "password": self.password,
            "api_key": self.api_key,
            "fingerprint": self.fingerprint,
        })
    }

    /// Add a fault rule (first matching rule applies).
    pub fn add_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every API request so far (control API calls excluded), oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Back to the seeded state (faults and the request log stay).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stop listening and drop every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
