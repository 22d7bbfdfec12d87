//! The checks. Each has a stable id, reads the snapshot only, and reports compliant or
//! non-compliant with the evidence it read, or unknown with the reason it cannot tell.

mod access;
mod certs;
mod config;
mod reach;
pub mod refs;
mod rules;
pub(crate) mod util;

use crate::model::{Area, Evidence, Finding, Fix, Reference, Report, Severity, State};
use crate::snapshot::{Snapshot, Unknown};

/// What a check concluded when it could tell.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub state: State,
    pub detail: String,
    pub evidence: Vec<Evidence>,
}

impl Outcome {
    pub fn pass(detail: impl Into<String>, evidence: Vec<Evidence>) -> Outcome {
        Outcome {
            state: State::Compliant,
            detail: detail.into(),
            evidence,
        }
    }

    pub fn fail(detail: impl Into<String>, evidence: Vec<Evidence>) -> Outcome {
        Outcome {
            state: State::NonCompliant,
            detail: detail.into(),
            evidence,
        }
    }
}

pub type CheckResult = Result<Outcome, Unknown>;

pub struct Check {
    /// Stable: reports, SARIF rule ids and suppressions refer to it.
    pub id: &'static str,
    pub title: &'static str,
    pub area: Area,
    pub severity: Severity,
    pub fix: Fix,
    pub references: &'static [Reference],
    pub run: fn(&Snapshot) -> CheckResult,
}

impl Check {
    pub fn evaluate(&self, snapshot: &Snapshot) -> Finding {
        let (state, detail, evidence) = match (self.run)(snapshot) {
            Ok(o) => (o.state, o.detail, o.evidence),
            Err(Unknown(why)) => (State::Unknown, why, Vec::new()),
        };
        Finding {
            id: self.id,
            title: self.title,
            area: self.area,
            severity: self.severity,
            state,
            detail,
            evidence,
            fix: self.fix,
            references: self.references.to_vec(),
        }
    }
}

/// Every check, in report order.
pub static CHECKS: &[Check] = &[
    access::DEFAULT_PASSWORD,
    access::BUILTIN_ADMIN_ENABLED,
    access::ADMIN_PRIV_DIRECT,
    access::TOO_MANY_ADMINS,
    access::USERS_WITHOUT_EXPIRY,
    access::SHELL_ACCESS,
    access::CONSOLE_UNPROTECTED,
    access::WEBGUI_HTTP,
    access::WEBGUI_SELF_SIGNED,
    access::WEBGUI_CERT_EXPIRING,
    access::WEBGUI_FROM_WAN,
    access::SSH_FROM_WAN,
    access::SSH_PASSWORD_LOGIN,
    access::SSH_AGENT_FORWARDING,
    access::API_BASIC_AUTH,
    access::API_ALL_INTERFACES,
    access::API_ACCESS_LIST_OPEN,
    access::API_LOGIN_PROTECTION,
    access::API_SENSITIVE_FIELDS,
    access::API_READ_ONLY,
    access::API_LOG_AUTH,
    access::API_JWT_LIFETIME,
    access::API_HA_SYNC_CERTS,
    rules::ANY_TO_ANY,
    rules::WAN_ALL_PORTS,
    rules::NO_DESCRIPTION,
    rules::DISABLED_KEPT,
    rules::SOURCE_PORT_SET,
    rules::BLOCK_NOT_LOGGED,
    rules::WAN_BOGONS,
    rules::WAN_PRIVATE,
    rules::SHADOWED,
    rules::REDUNDANT,
    rules::CORRELATED,
    rules::GENERALISED,
    rules::PORT_FORWARD_NO_RULE,
    rules::PORT_FORWARD_RISKY,
    rules::ALIAS_UNUSED,
    rules::ALIAS_DANGLING,
    rules::ALIAS_EMPTY,
    config::DEFAULT_DENY_NOT_LOGGED,
    config::REMOTE_SYSLOG,
    config::LOCAL_LOGGING,
    config::BOGON_PRIVATE_NOT_LOGGED,
    config::CONFIG_CHANGES_NOT_LOGGED,
    config::DNS_REBIND,
    config::DNSSEC,
    config::RESOLVER_ALL_INTERFACES,
    config::DNS_OVERRIDE,
    config::NTP_SOURCES,
    config::NTP_ALL_INTERFACES,
    certs::CERTS_EXPIRING,
    certs::CERTS_WEAK,
    config::PFSENSE_OUTDATED,
    config::REST_API_OUTDATED,
    config::CONFIG_HISTORY_EMPTY,
    config::UPNP,
    config::NOTIFICATIONS,
];

/// Runs every check on a snapshot.
pub fn run(snapshot: &Snapshot, target: &str) -> Report {
    let findings = CHECKS.iter().map(|c| c.evaluate(snapshot)).collect();
    Report::new(target.to_string(), snapshot.taken_at_unix, findings)
}
