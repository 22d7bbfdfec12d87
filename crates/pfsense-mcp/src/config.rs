//! Command line and environment.

use crate::client::{AuthMethod, ClientConfig};
use crate::secret::Secret;
use crate::server::Policy;
use crate::spec::Module;
use crate::tls::{TlsMode, parse_fingerprint};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const AFTER_HELP: &str = "\
Environment variables mirror the flags (flags win). PFSENSE_URL is accepted as another name for
PFSENSE_HOST. Secrets (API key, password) are best given through the environment, not flags,
so they do not show up in process listings.

Examples:
  pfsense-mcp --sandbox                      (no firewall needed)
  PFSENSE_HOST=https://192.168.1.1 PFSENSE_API_KEY=… pfsense-mcp
  pfsense-mcp --read-only --modules firewall,status
  pfsense-mcp tools --module firewall
  pfsense-mcp tools --json > tools.json";

/// An MCP server for pfSense firewalls: one typed tool per REST API v2 operation, with previews
/// and confirmation for every change. Serves MCP over stdio (stdout carries the protocol; logs
/// go to stderr).
#[derive(Debug, Parser)]
#[command(name = "pfsense-mcp", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Try the server with no firewall: start an in-memory pfSense REST API emulator on
    /// 127.0.0.1 with fresh default state and talk to it. Nothing real is touched.
    #[arg(long, env = "PFSENSE_SANDBOX")]
    pub sandbox: bool,
    /// Tools per tools/list page (clients follow nextCursor for the rest).
    #[arg(long, env = "PFSENSE_PAGE_SIZE", default_value_t = 256, global = true)]
    pub page_size: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over stdio (the default).
    Serve,
    /// Print the generated tool catalogue.
    Tools(ToolsArgs),
}

#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Print JSON: every tool's name, verb, module, risk, method, path, apply tool,
    /// description, input schema and annotations.
    #[arg(long)]
    pub json: bool,
    /// Print counts by verb and by module instead of the list.
    #[arg(long, conflicts_with = "json")]
    pub summary: bool,
    /// Only this module (repeatable).
    #[arg(long = "module", value_name = "MODULE")]
    pub module: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectionArgs {
    /// Firewall address, e.g. https://192.168.1.1 or https://fw.example.net:8443.
    #[arg(long, env = "PFSENSE_HOST", global = true)]
    pub host: Option<String>,
    /// REST API key (sent as X-API-Key).
    #[arg(long, env = "PFSENSE_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<Secret>,
    /// pfSense user for Basic or JWT authentication (and for Basic-only operations).
    #[arg(long, env = "PFSENSE_USERNAME", global = true)]
    pub username: Option<String>,
    /// Password of that user.
    #[arg(long, env = "PFSENSE_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<Secret>,
    /// Authentication method. Default: key when an API key is set, else basic.
    #[arg(long, env = "PFSENSE_AUTH", value_enum, global = true)]
    pub auth: Option<AuthMethod>,
    /// Verify the firewall's TLS certificate (false is the same as --insecure).
    #[arg(long, env = "PFSENSE_VERIFY_SSL", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub verify_ssl: bool,
    /// Trust only this CA (PEM file) for the firewall's certificate.
    #[arg(long, env = "PFSENSE_CA_CERT", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Pin the firewall's certificate by its SHA-256, e.g. sha256:ab12… (the way to trust
    /// pfSense's self-signed certificate without turning verification off).
    #[arg(long, env = "PFSENSE_TLS_FINGERPRINT", global = true)]
    pub tls_fingerprint: Option<String>,
    /// Do not verify the firewall's certificate at all.
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Seconds before a request to the firewall is abandoned.
    #[arg(long, env = "PFSENSE_TIMEOUT", default_value_t = 30, global = true)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Offer only reading tools (every non-GET tool is hidden).
    #[arg(long, env = "PFSENSE_READ_ONLY", global = true)]
    pub read_only: bool,
    /// Offer the dangerous tools: halt, reboot, shell commands, GraphQL, bulk clears of the
    /// ARP table, states and config history, REST API reinstall.
    #[arg(long, env = "PFSENSE_ALLOW_DANGEROUS", global = true)]
    pub allow_dangerous: bool,
    /// Offer only these modules (comma-separated): firewall, interface, routing,
    /// vpn_wireguard, vpn_openvpn, vpn_ipsec, services_dhcp, services_dns_resolver,
    /// services_dns_forwarder, services_haproxy, services_bind, services_freeradius,
    /// services_acme, services_misc, system, status, diagnostics, user, auth.
    #[arg(long, env = "PFSENSE_MODULES", value_delimiter = ',', global = true)]
    pub modules: Vec<String>,
}

pub fn parse_modules(names: &[String]) -> Result<Option<Vec<Module>>, String> {
    let names: Vec<&str> = names
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for n in names {
        match Module::parse(n) {
            Some(m) => out.push(m),
            None => {
                let all: Vec<&str> = Module::ALL.iter().map(|m| m.as_str()).collect();
                return Err(format!(
                    "unknown module `{n}`; modules are: {}",
                    all.join(", ")
                ));
            }
        }
    }
    Ok(Some(out))
}

impl PolicyArgs {
    pub fn policy(&self) -> Result<Policy, String> {
        Ok(Policy {
            read_only: self.read_only,
            allow_dangerous: self.allow_dangerous,
            modules: parse_modules(&self.modules)?,
        })
    }
}

impl ConnectionArgs {
    /// The firewall URL from --host, PFSENSE_HOST or PFSENSE_URL.
    pub fn host(&self) -> Option<String> {
        self.host
            .clone()
            .or_else(|| std::env::var("PFSENSE_URL").ok())
            .filter(|h| !h.trim().is_empty())
    }

    pub fn tls_mode(&self) -> Result<TlsMode, String> {
        if let Some(fp) = &self.tls_fingerprint {
            return Ok(TlsMode::Pinned(parse_fingerprint(fp)?));
        }
        if self.insecure || !self.verify_ssl {
            return Ok(TlsMode::Insecure);
        }
        Ok(TlsMode::Verify {
            ca_file: self.ca_cert.clone(),
        })
    }

    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let host = self.host().ok_or(
            "no firewall configured: set PFSENSE_HOST to its address (e.g. https://192.168.1.1) and PFSENSE_API_KEY, or pass --host",
        )?;
        let with_scheme = if host.contains("://") {
            host.clone()
        } else {
            format!("https://{host}")
        };
        let mut base_url = url::Url::parse(&with_scheme)
            .map_err(|e| format!("PFSENSE_HOST `{host}` is not a URL: {e}"))?;
        if base_url.scheme() != "https" && base_url.scheme() != "http" {
            return Err(format!(
                "PFSENSE_HOST `{host}` must start with https:// (or http://)"
            ));
        }
        if base_url.host_str().is_none() {
            return Err(format!("PFSENSE_HOST `{host}` has no host name"));
        }
        base_url.set_path("/");
        base_url.set_query(None);
        let auth = match self.auth {
            Some(a) => a,
            None if self.api_key.is_some() => AuthMethod::Key,
            None if self.username.is_some() && self.password.is_some() => AuthMethod::Basic,
            None => {
                return Err(
                    "no credentials: set PFSENSE_API_KEY, or PFSENSE_USERNAME and PFSENSE_PASSWORD"
                        .into(),
                );
            }
        };
        if self.timeout == 0 {
            return Err("--timeout must be at least 1 second".into());
        }
        Ok(ClientConfig {
            base_url,
            auth,
            api_key: self.api_key.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            tls: self.tls_mode()?,
            timeout: Duration::from_secs(self.timeout),
            connect_timeout: Duration::from_secs(self.timeout.min(10)),
        })
    }
}
