//! The references the checks cite. DISA ids are from the Firewall SRG V3R3 (2025-09-22); NIST
//! sections from SP 800-41 Rev. 1 (2009); BSI requirements from IT-Grundschutz NET.3.2.

use crate::model::{Reference, Standard};

const fn disa(id: &'static str, title: &'static str) -> Reference {
    Reference {
        standard: Standard::DisaFirewallSrg,
        id,
        title,
        url: None,
    }
}
const fn nist(id: &'static str, title: &'static str) -> Reference {
    Reference {
        standard: Standard::Nist80041,
        id,
        title,
        url: None,
    }
}
const fn bsi(id: &'static str, title: &'static str) -> Reference {
    Reference {
        standard: Standard::BsiNet32,
        id,
        title,
        url: None,
    }
}
const fn netgate(id: &'static str, url: &'static str) -> Reference {
    Reference {
        standard: Standard::Netgate,
        id,
        title: id,
        url: Some(url),
    }
}
const fn anomaly(id: &'static str, title: &'static str) -> Reference {
    Reference {
        standard: Standard::AlShaerHamed,
        id,
        title,
        url: None,
    }
}

pub const V206674: Reference = disa(
    "V-206674",
    "filter on packet headers and attributes between networks",
);
pub const V206678: Reference = disa("V-206678", "traffic log entries record the event type");
pub const V206679: Reference = disa(
    "V-206679",
    "traffic log entries record when (date and time) events occurred",
);
pub const V206680: Reference = disa(
    "V-206680",
    "traffic log entries record where events occurred",
);
pub const V206690: Reference = disa("V-206690", "unnecessary services disabled");
pub const V206694: Reference = disa("V-206694", "deny by default, permit by exception");
pub const V206699: Reference = disa("V-206699", "traffic logs sent to a central audit server");
pub const V206703: Reference = disa(
    "V-206703",
    "ingress filtering on external interfaces, management access restricted",
);
pub const V206713: Reference = disa("V-206713", "log traffic that is denied or discarded");

pub const NIST_4: Reference = nist("4", "firewall policy: deny by default");
pub const NIST_411: Reference = nist(
    "4.1.1",
    "block invalid and private source addresses on external interfaces",
);
pub const NIST_521: Reference = nist(
    "5.2.1",
    "harden the firewall platform and its administration",
);
pub const NIST_522: Reference = nist("5.2.2", "policy configuration: rule order and review");
pub const NIST_523: Reference = nist("5.2.3", "logging and alerts configuration");
pub const NIST_55: Reference = nist("5.5", "manage: patches, policy review, backups");

pub const BSI_A2: Reference = bsi("NET.3.2.A2", "define firewall rules");
pub const BSI_A3: Reference = bsi("NET.3.2.A3", "suitable packet filter rules");
pub const BSI_A4: Reference = bsi("NET.3.2.A4", "secure configuration of the firewall");
pub const BSI_A6: Reference = bsi("NET.3.2.A6", "protect the administration interfaces");
pub const BSI_A9: Reference = bsi("NET.3.2.A9", "logging");
pub const BSI_A18: Reference = bsi("NET.3.2.A18", "separate management network");

pub const NG_RULES: Reference = netgate(
    "Firewall Rule Best Practices",
    "https://docs.netgate.com/pfsense/en/latest/firewall/best-practices.html",
);
pub const NG_METHODOLOGY: Reference = netgate(
    "Rule Methodology",
    "https://docs.netgate.com/pfsense/en/latest/firewall/rule-methodology.html",
);
pub const NG_REMOTE_GUI: Reference = netgate(
    "Allowing Remote Access to the GUI",
    "https://docs.netgate.com/pfsense/en/latest/recipes/remote-firewall-administration.html",
);
pub const NG_ADMIN: Reference = netgate(
    "Admin Access settings",
    "https://docs.netgate.com/pfsense/en/latest/config/advanced-admin.html",
);
pub const NG_USERS: Reference = netgate(
    "User Management",
    "https://docs.netgate.com/pfsense/en/latest/usermanager/index.html",
);
pub const NG_REMOTE_LOG: Reference = netgate(
    "Remote Logging",
    "https://docs.netgate.com/pfsense/en/latest/monitoring/logs/remote.html",
);
pub const NG_RESOLVER: Reference = netgate(
    "DNS Resolver",
    "https://docs.netgate.com/pfsense/en/latest/services/dns/resolver.html",
);
pub const NG_NTP: Reference = netgate(
    "NTP Server",
    "https://docs.netgate.com/pfsense/en/latest/services/ntpd/index.html",
);
pub const NG_CERTS: Reference = netgate(
    "Certificate Management",
    "https://docs.netgate.com/pfsense/en/latest/certificates/index.html",
);
pub const NG_NAT: Reference = netgate(
    "Port Forwards",
    "https://docs.netgate.com/pfsense/en/latest/nat/port-forwards.html",
);
pub const NG_BACKUP: Reference = netgate(
    "Backup and Recovery",
    "https://docs.netgate.com/pfsense/en/latest/backup/index.html",
);
pub const NG_UPGRADE: Reference = netgate(
    "Upgrade Guide",
    "https://docs.netgate.com/pfsense/en/latest/install/upgrade-guide.html",
);
pub const PFREST_SECURING: Reference = Reference {
    standard: Standard::Pfrest,
    id: "Securing API Access",
    title: "Securing API Access",
    url: Some("https://pfrest.org/SECURING_API_ACCESS/"),
};

pub const SHADOWING: Reference = anomaly(
    "shadowing",
    "a rule never matches: an earlier rule matches all its packets with another action",
);
pub const REDUNDANCY: Reference = anomaly(
    "redundancy",
    "a rule can be removed: another matches the same packets with the same action",
);
pub const CORRELATION: Reference = anomaly(
    "correlation",
    "two rules overlap partly with different actions: order decides",
);
pub const GENERALISATION: Reference = anomaly(
    "generalisation",
    "a later rule matches a superset of an earlier one with another action",
);
