//! What a check reports: findings with severity, state, evidence, fix and references.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Compliant,
    NonCompliant,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Compliant => "compliant",
            State::NonCompliant => "non-compliant",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Accounts,
    Management,
    RestApi,
    FirewallRules,
    Nat,
    Aliases,
    Logging,
    Dns,
    Time,
    Certificates,
    Updates,
    Backup,
    Services,
}

impl Area {
    pub const ALL: [Area; 13] = [
        Area::Accounts,
        Area::Management,
        Area::RestApi,
        Area::FirewallRules,
        Area::Nat,
        Area::Aliases,
        Area::Logging,
        Area::Dns,
        Area::Time,
        Area::Certificates,
        Area::Updates,
        Area::Backup,
        Area::Services,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Area::Accounts => "Accounts",
            Area::Management => "Management access",
            Area::RestApi => "REST API",
            Area::FirewallRules => "Firewall rules",
            Area::Nat => "NAT",
            Area::Aliases => "Aliases",
            Area::Logging => "Logging",
            Area::Dns => "DNS",
            Area::Time => "Time",
            Area::Certificates => "Certificates",
            Area::Updates => "Updates",
            Area::Backup => "Backup",
            Area::Services => "Services",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Standard {
    /// DISA Firewall Security Requirements Guide, V3R3.
    #[serde(rename = "DISA Firewall SRG V3R3")]
    DisaFirewallSrg,
    /// NIST SP 800-41 Rev. 1, Guidelines on Firewalls and Firewall Policy.
    #[serde(rename = "NIST SP 800-41 Rev. 1")]
    Nist80041,
    /// BSI IT-Grundschutz-Kompendium, building block NET.3.2 Firewall.
    #[serde(rename = "BSI IT-Grundschutz NET.3.2")]
    BsiNet32,
    /// Netgate's pfSense documentation (best practices, rule methodology).
    #[serde(rename = "Netgate pfSense docs")]
    Netgate,
    /// The REST API package's own documentation.
    #[serde(rename = "pfSense REST API docs")]
    Pfrest,
    /// Al-Shaer and Hamed, "Firewall Policy Advisor for Anomaly Discovery and Rule Editing"
    /// (IM 2003): shadowing, correlation, generalisation, redundancy.
    #[serde(rename = "Al-Shaer/Hamed anomaly taxonomy")]
    AlShaerHamed,
}

impl Standard {
    pub fn short(self) -> &'static str {
        match self {
            Standard::DisaFirewallSrg => "DISA FW SRG",
            Standard::Nist80041 => "NIST SP 800-41r1",
            Standard::BsiNet32 => "BSI",
            Standard::Netgate => "Netgate",
            Standard::Pfrest => "pfREST",
            Standard::AlShaerHamed => "Al-Shaer/Hamed",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Reference {
    pub standard: Standard,
    /// The control id (`V-206694`, `4.1.1`, `A6`) or, for documentation, the page title.
    pub id: &'static str,
    /// What the control asks, in a few words.
    pub title: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'static str>,
}

impl Reference {
    pub fn label(&self) -> String {
        format!("{} {}", self.standard.short(), self.id)
    }
}

/// How to fix a finding: the MCP tool (and the arguments that matter) and the GUI page.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Fix {
    pub summary: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<&'static str>,
    pub gui: &'static str,
}

/// One value a check read: the endpoint, the object in it and the field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    pub endpoint: String,
    pub object: String,
    pub field: String,
    pub value: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub title: &'static str,
    pub area: Area,
    pub severity: Severity,
    pub state: State,
    /// What was found (or why the check could not tell).
    pub detail: String,
    pub evidence: Vec<Evidence>,
    pub fix: Fix,
    pub references: Vec<Reference>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Counts {
    pub compliant: usize,
    pub non_compliant: usize,
    pub unknown: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Which firewall (URL or name); informational only.
    pub target: String,
    /// When the snapshot was taken (Unix seconds).
    pub taken_at_unix: i64,
    pub counts: Counts,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(target: String, taken_at_unix: i64, findings: Vec<Finding>) -> Report {
        let mut counts = Counts::default();
        for f in &findings {
            match f.state {
                State::Compliant => counts.compliant += 1,
                State::NonCompliant => counts.non_compliant += 1,
                State::Unknown => counts.unknown += 1,
            }
        }
        Report {
            target,
            taken_at_unix,
            counts,
            findings,
        }
    }

    /// Non-compliant findings of a severity.
    pub fn failed(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.state == State::NonCompliant && f.severity == severity)
            .count()
    }

    /// Findings of an area in a state.
    pub fn in_area(&self, area: Area, state: State) -> usize {
        self.findings
            .iter()
            .filter(|f| f.area == area && f.state == state)
            .count()
    }
}
