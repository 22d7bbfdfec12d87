//! The audit's input: what the read-only endpoints answered, keyed by API path.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One endpoint the audit reads. Every one is a GET; plural endpoints are read whole
/// (`limit=0` means no limit in pfrest).
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub path: &'static str,
    /// The query string to send (without `?`), empty for none.
    pub query: &'static str,
    /// What the audit reads it for.
    pub purpose: &'static str,
}

pub const REST_API_SETTINGS: &str = "/api/v2/system/restapi/settings";
pub const REST_API_ACCESS_LIST: &str = "/api/v2/system/restapi/access_list";
pub const REST_API_VERSION: &str = "/api/v2/system/restapi/version";
pub const SYSTEM_VERSION: &str = "/api/v2/system/version";
pub const WEBGUI_SETTINGS: &str = "/api/v2/system/webgui/settings";
pub const SSH: &str = "/api/v2/services/ssh";
pub const CONSOLE: &str = "/api/v2/system/console";
pub const SYSTEM_DNS: &str = "/api/v2/system/dns";
pub const USERS: &str = "/api/v2/users";
pub const GROUPS: &str = "/api/v2/user/groups";
pub const CERTIFICATES: &str = "/api/v2/system/certificates";
pub const CERTIFICATE_AUTHORITIES: &str = "/api/v2/system/certificate_authorities";
pub const INTERFACES: &str = "/api/v2/interfaces";
pub const INTERFACE_STATUS: &str = "/api/v2/status/interfaces";
pub const INTERFACE_GROUPS: &str = "/api/v2/interface/groups";
pub const RULES: &str = "/api/v2/firewall/rules";
pub const ALIASES: &str = "/api/v2/firewall/aliases";
pub const PORT_FORWARDS: &str = "/api/v2/firewall/nat/port_forwards";
pub const LOG_SETTINGS: &str = "/api/v2/status/logs/settings";
pub const DNS_RESOLVER: &str = "/api/v2/services/dns_resolver/settings";
pub const NTP_SETTINGS: &str = "/api/v2/services/ntp/settings";
pub const NTP_SERVERS: &str = "/api/v2/services/ntp/time_servers";
pub const SERVICES: &str = "/api/v2/status/services";
pub const EMAIL_NOTIFICATIONS: &str = "/api/v2/system/notifications/email_settings";
pub const CONFIG_HISTORY: &str = "/api/v2/diagnostics/config_history/revisions";

/// Every endpoint the audit reads, in the order a caller should fetch them.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: REST_API_SETTINGS,
        query: "",
        purpose: "REST API authentication, interfaces, login protection, sensitive fields",
    },
    Endpoint {
        path: REST_API_ACCESS_LIST,
        query: "limit=0",
        purpose: "REST API access list",
    },
    Endpoint {
        path: REST_API_VERSION,
        query: "",
        purpose: "REST API version and available update",
    },
    Endpoint {
        path: SYSTEM_VERSION,
        query: "",
        purpose: "pfSense version",
    },
    Endpoint {
        path: WEBGUI_SETTINGS,
        query: "",
        purpose: "webGUI protocol, port and certificate",
    },
    Endpoint {
        path: SSH,
        query: "",
        purpose: "SSH enabled, key-only login, agent forwarding",
    },
    Endpoint {
        path: CONSOLE,
        query: "",
        purpose: "console password protection",
    },
    Endpoint {
        path: SYSTEM_DNS,
        query: "",
        purpose: "DNS servers overridable by DHCP/PPP on WAN",
    },
    Endpoint {
        path: USERS,
        query: "limit=0",
        purpose: "local users: privileges, expiry, disabled",
    },
    Endpoint {
        path: GROUPS,
        query: "limit=0",
        purpose: "groups and their privileges",
    },
    Endpoint {
        path: CERTIFICATES,
        query: "limit=0",
        purpose: "certificates: issuer, expiry, key size",
    },
    Endpoint {
        path: CERTIFICATE_AUTHORITIES,
        query: "limit=0",
        purpose: "certificate authorities: expiry",
    },
    Endpoint {
        path: INTERFACES,
        query: "limit=0",
        purpose: "interfaces: which face the Internet, bogon and private network blocking",
    },
    Endpoint {
        path: INTERFACE_STATUS,
        query: "limit=0",
        purpose: "addresses that DHCP/PPP interfaces hold (the traffic evaluator needs the WAN address)",
    },
    Endpoint {
        path: INTERFACE_GROUPS,
        query: "limit=0",
        purpose: "interface groups (their rules apply to the members)",
    },
    Endpoint {
        path: RULES,
        query: "limit=0",
        purpose: "firewall rules",
    },
    Endpoint {
        path: ALIASES,
        query: "limit=0",
        purpose: "firewall aliases",
    },
    Endpoint {
        path: PORT_FORWARDS,
        query: "limit=0",
        purpose: "port forwards and their filter rule association",
    },
    Endpoint {
        path: LOG_SETTINGS,
        query: "",
        purpose: "logging: default deny, remote syslog, local logging",
    },
    Endpoint {
        path: DNS_RESOLVER,
        query: "",
        purpose: "DNS resolver: DNSSEC, interfaces",
    },
    Endpoint {
        path: NTP_SETTINGS,
        query: "",
        purpose: "NTP service and its interfaces",
    },
    Endpoint {
        path: NTP_SERVERS,
        query: "limit=0",
        purpose: "NTP time sources",
    },
    Endpoint {
        path: SERVICES,
        query: "limit=0",
        purpose: "running services",
    },
    Endpoint {
        path: EMAIL_NOTIFICATIONS,
        query: "",
        purpose: "e-mail notifications",
    },
    Endpoint {
        path: CONFIG_HISTORY,
        query: "limit=0",
        purpose: "configuration history depth",
    },
];

/// What one endpoint answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Read {
    /// The envelope's `data`.
    Data(Value),
    /// The read failed: HTTP status (none for a transport error) and pfrest's message.
    Error {
        status: Option<u16>,
        message: String,
    },
}

/// Whether the built-in `admin` account still accepts the install default password. Trying it
/// sends one BasicAuth request as `admin:pfsense`; a caller does so only when the user allows
/// it (it counts as a failed login, and login protection may block the caller's address).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordProbe {
    #[default]
    NotRun,
    /// The API authenticated `admin:pfsense`.
    Accepted,
    /// The API answered 401 to `admin:pfsense`.
    Refused,
    /// BasicAuth is not among the REST API's `auth_methods`, so the probe could not tell.
    BasicAuthDisabled,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the reads were made (Unix seconds): certificate expiry is measured from here.
    pub taken_at_unix: i64,
    #[serde(default)]
    pub default_password_probe: PasswordProbe,
    /// API path → answer. A path that is absent was not fetched.
    pub reads: BTreeMap<String, Read>,
}

/// Why a check cannot tell.
#[derive(Clone, Debug, PartialEq)]
pub struct Unknown(pub String);

impl Snapshot {
    /// The `data` an endpoint answered, or why there is none.
    pub fn data(&self, path: &str) -> Result<&Value, Unknown> {
        match self.reads.get(path) {
            Some(Read::Data(v)) => Ok(v),
            Some(Read::Error {
                status: Some(status),
                message,
            }) => Err(Unknown(format!("GET {path} answered {status}: {message}"))),
            Some(Read::Error {
                status: None,
                message,
            }) => Err(Unknown(format!("GET {path} failed: {message}"))),
            None => Err(Unknown(format!("GET {path} was not read"))),
        }
    }

    /// A singleton endpoint's object.
    pub fn object(&self, path: &str) -> Result<&serde_json::Map<String, Value>, Unknown> {
        self.data(path)?
            .as_object()
            .ok_or_else(|| Unknown(format!("GET {path} did not answer an object")))
    }

    /// A plural endpoint's list.
    pub fn list(&self, path: &str) -> Result<&Vec<Value>, Unknown> {
        self.data(path)?
            .as_array()
            .ok_or_else(|| Unknown(format!("GET {path} did not answer a list")))
    }

    /// A field of a singleton; absent means this REST API version does not show it (or hides it
    /// as sensitive), which the check must not guess.
    pub fn field(&self, path: &str, field: &str) -> Result<&Value, Unknown> {
        self.object(path)?.get(field).ok_or_else(|| {
            Unknown(format!(
                "GET {path} has no `{field}` (not shown by this REST API version, or hidden)"
            ))
        })
    }
}
