//! Shared helpers: one spec load per test binary, one emulator per test, a reqwest client that
//! accepts the emulator's self-signed certificate.

#![allow(dead_code)]

use pfsense_emulator::{EmulatorConfig, RunningEmulator, Spec};
use reqwest::{Method, Response};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub fn spec_path() -> PathBuf {
    if let Ok(p) = std::env::var("PFSENSE_OPENAPI_SPEC") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi-spec.json");
    if root.exists() {
        return root;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/openapi-spec.json")
}

pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| Arc::new(Spec::load(&spec_path()).expect("the v2.7.1 spec loads")))
        .clone()
}

pub fn config() -> EmulatorConfig {
    let mut c = EmulatorConfig::new(spec_path());
    c.spec = Some(spec());
    c
}

pub async fn start() -> Emu {
    start_with(config()).await
}

pub async fn start_with(config: EmulatorConfig) -> Emu {
    let emu = pfsense_emulator::start(config)
        .await
        .expect("emulator starts");
    // reqwest has no crypto provider of its own: ring, the workspace's one (workspace Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client");
    Emu { emu, client }
}

pub struct Emu {
    pub emu: RunningEmulator,
    pub client: reqwest::Client,
}

/// A decoded answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn data(&self) -> Value {
        self.json()["data"].clone()
    }
    pub fn response_id(&self) -> String {
        self.json()["response_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.url(), path)
    }

    pub fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        self.client
            .request(method, self.url(path))
            .basic_auth(self.emu.username(), Some(self.emu.password()))
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Answer {
        let resp: Response = rb.send().await.expect("request completes");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Answer {
            status,
            headers,
            text,
        }
    }

    /// GET/DELETE with a query string.
    pub async fn query(&self, method: &str, path: &str, query: &[(&str, &str)]) -> Answer {
        self.send(self.request(method, &with_query(path, query)))
            .await
    }

    /// POST/PATCH/PUT with a JSON body.
    pub async fn json(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send(self.request(method, path).json(&body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.query("GET", path, &[]).await
    }
}

/// `path?k=v&…`, form-encoded.
pub fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(query)
        .finish();
    format!("{path}?{encoded}")
}
