//! Readiness probes: how `RunningVm::wait_ready` knows the guest is serving.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::golden::Credentials;

/// Where a running VM can be reached from the host: loopback ports forwarded into the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    /// Guest TCP port → host port on `host`.
    pub forwards: BTreeMap<u16, u16>,
}

impl Endpoint {
    pub fn host_port(&self, guest_port: u16) -> Option<u16> {
        self.forwards.get(&guest_port).copied()
    }

    /// `https://127.0.0.1:PORT`, the forward of guest port 443.
    pub fn https_url(&self) -> String {
        format!("https://{}:{}", self.host, self.host_port(443).unwrap_or(0))
    }
}

/// One readiness check. Each try must finish quickly (a firewall that drops packets makes TLS
/// handshakes hang forever without a timeout).
pub trait ReadinessProbe: Send + Sync {
    fn describe(&self) -> String;
    fn try_once(&self, endpoint: &Endpoint) -> Result<(), String>;
}

const PER_TRY: Duration = Duration::from_secs(5);

fn client(per_try: Duration) -> Result<reqwest::blocking::Client, String> {
    crate::install_ring_provider();
    reqwest::blocking::Client::builder()
        // The golden image and the emulator use self-signed certificates; only loopback is probed.
        .danger_accept_invalid_certs(true)
        .timeout(per_try)
        .connect_timeout(per_try)
        .no_proxy()
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// `GET /api/v2/system/version` over HTTPS with Basic auth answers 200: the REST API is up.
pub struct PfSenseApiProbe {
    credentials: Credentials,
    per_try: Duration,
}

impl PfSenseApiProbe {
    pub fn new(credentials: Credentials) -> PfSenseApiProbe {
        PfSenseApiProbe {
            credentials,
            per_try: PER_TRY,
        }
    }
}

impl ReadinessProbe for PfSenseApiProbe {
    fn describe(&self) -> String {
        "GET /api/v2/system/version (HTTPS, Basic auth) answers 200".into()
    }

    fn try_once(&self, endpoint: &Endpoint) -> Result<(), String> {
        let url = format!("{}/api/v2/system/version", endpoint.https_url());
        let response = client(self.per_try)?
            .get(&url)
            .basic_auth(
                &self.credentials.admin_username,
                Some(&self.credentials.admin_password),
            )
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(format!("{url}: HTTP {status}")),
        }
    }
}

/// A plain GET on a forwarded guest port answers with `expect_status`.
pub struct HttpProbe {
    pub guest_port: u16,
    pub https: bool,
    pub path: String,
    pub expect_status: u16,
}

impl ReadinessProbe for HttpProbe {
    fn describe(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!(
            "{scheme} GET {} on guest port {} answers {}",
            self.path, self.guest_port, self.expect_status
        )
    }

    fn try_once(&self, endpoint: &Endpoint) -> Result<(), String> {
        let port = endpoint
            .host_port(self.guest_port)
            .ok_or_else(|| format!("guest port {} is not forwarded", self.guest_port))?;
        let scheme = if self.https { "https" } else { "http" };
        let url = format!("{scheme}://{}:{port}{}", endpoint.host, self.path);
        let response = client(PER_TRY)?
            .get(&url)
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        if status == self.expect_status {
            Ok(())
        } else {
            Err(format!("{url}: HTTP {status}"))
        }
    }
}
