//! A minimal pfSense REST API v2 client for the golden-image build and live tests (the product
//! has its own; the harness must not depend on it). Every call has a timeout.

use std::time::Duration;

use serde_json::Value;

use crate::golden::Credentials;

pub enum Auth {
    Basic { username: String, password: String },
    ApiKey(String),
}

impl Auth {
    pub fn basic(credentials: &Credentials) -> Auth {
        Auth::Basic {
            username: credentials.admin_username.clone(),
            password: credentials.admin_password.clone(),
        }
    }
}

pub struct RestClient {
    base_url: String,
    auth: Auth,
    client: reqwest::blocking::Client,
}

impl RestClient {
    /// `base_url` like `https://127.0.0.1:PORT`; the certificate is not checked (self-signed).
    pub fn new(base_url: &str, auth: Auth, timeout: Duration) -> Result<RestClient, String> {
        crate::install_ring_provider();
        let client = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(RestClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            auth,
            client,
        })
    }

    /// Sends a request and returns the whole response envelope; non-2xx is an error that
    /// carries the API's message.
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self.client.request(method.clone(), &url);
        request = match &self.auth {
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::ApiKey(key) => request.header("X-API-Key", key),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(format!(
                "{method} {path}: HTTP {}: {message}",
                status.as_u16()
            ));
        }
        Ok(value)
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None)
    }
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, Some(body))
    }
    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.call(reqwest::Method::PATCH, path, Some(body))
    }
}
