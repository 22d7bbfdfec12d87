//! Logging, DNS, time, versions, backups and services.

use super::refs::*;
use super::util::*;
use super::{Check, CheckResult, Outcome};
use crate::model::{Area, Fix, Severity};
use crate::snapshot::*;
use serde_json::{Value, json};

/// The newest releases known when this table was last updated (source: the project's
/// `pfrest-versions.md`: REST API v2.10.0 of 2026-08-07 builds for CE 2.8.1 and Plus 26.03.1).
pub const NEWEST_REST_API: (&str, &str) = ("v2.10.0", "2026-08-07");
pub const NEWEST_PFSENSE_CE: &str = "2.8.1";
pub const NEWEST_PFSENSE_PLUS: &str = "26.03.1";

/// Services whose running is a finding. miniupnpd is UPnP/NAT-PMP: any LAN host (or malware on
/// it) can open inbound ports on WAN without a rule review.
const RISKY_SERVICES: &[(&str, &str)] = &[("miniupnpd", "UPnP & NAT-PMP")];

fn log_flag(s: &Snapshot, field: &str) -> Result<bool, Unknown> {
    required_flag(s, LOG_SETTINGS, field)
}

pub const DEFAULT_DENY_NOT_LOGGED: Check = Check {
    id: "PFS-LOG-001",
    title: "Packets dropped by the default deny rule are not logged",
    area: Area::Logging,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Log packets matched by the default block rule.",
        tool: Some("pfsense_update_status_logs_settings"),
        arguments: Some("{\"nologdefaultblock\": false}"),
        gui: "Status > System Logs > Settings > Log firewall default blocks",
    },
    references: &[V206713, V206678, V206694, NIST_523, BSI_A9],
    run: |s| {
        let off = log_flag(s, "nologdefaultblock")?;
        let e = vec![ev(
            LOG_SETTINGS,
            "log settings",
            "nologdefaultblock",
            json!(off),
        )];
        if off {
            Ok(Outcome::fail(
                "scans and attacks stopped by the default deny leave no trace",
                e,
            ))
        } else {
            Ok(Outcome::pass("the default deny rule logs", e))
        }
    },
};

fn remote_servers(v: &Value) -> Vec<String> {
    ["remoteserver", "remoteserver2", "remoteserver3"]
        .iter()
        .map(|f| text(v, f).to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

pub const REMOTE_SYSLOG: Check = Check {
    id: "PFS-LOG-002",
    title: "Firewall logs are not sent to a remote syslog server",
    area: Area::Logging,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Send at least the firewall events to a central syslog server.",
        tool: Some("pfsense_update_status_logs_settings"),
        arguments: Some(
            "{\"enableremotelogging\": true, \"remoteserver\": \"10.0.0.5:514\", \"filter\": true}",
        ),
        gui: "Status > System Logs > Settings > Remote Logging Options",
    },
    references: &[V206699, NIST_523, BSI_A9, NG_REMOTE_LOG],
    run: |s| {
        let on = log_flag(s, "enableremotelogging")?;
        let v = s.data(LOG_SETTINGS)?;
        let servers = remote_servers(v);
        let filter = flag(v, "filter") || flag(v, "logall");
        let e = vec![
            ev(
                LOG_SETTINGS,
                "log settings",
                "enableremotelogging",
                json!(on),
            ),
            ev(
                LOG_SETTINGS,
                "log settings",
                "remoteserver*",
                json!(servers),
            ),
            ev(LOG_SETTINGS, "log settings", "filter|logall", json!(filter)),
        ];
        if on && !servers.is_empty() && filter {
            Ok(Outcome::pass(
                format!("firewall events go to {}", servers.join(", ")),
                e,
            ))
        } else if on && !servers.is_empty() {
            Ok(Outcome::fail(
                "remote logging is on but firewall events are not among what is sent",
                e,
            ))
        } else {
            Ok(Outcome::fail(
                "logs live only on the firewall, where an intruder can erase them and a disk failure loses them",
                e,
            ))
        }
    },
};

pub const LOCAL_LOGGING: Check = Check {
    id: "PFS-LOG-003",
    title: "No logs are kept anywhere",
    area: Area::Logging,
    severity: Severity::High,
    fix: Fix {
        summary: "Keep local logs, or send them to a remote syslog server.",
        tool: Some("pfsense_update_status_logs_settings"),
        arguments: Some("{\"disablelocallogging\": false}"),
        gui: "Status > System Logs > Settings > Disable writing log files to the local disk",
    },
    references: &[V206678, NIST_523, BSI_A9],
    run: |s| {
        let local_off = log_flag(s, "disablelocallogging")?;
        let v = s.data(LOG_SETTINGS)?;
        let remote = flag(v, "enableremotelogging") && !remote_servers(v).is_empty();
        let e = vec![
            ev(
                LOG_SETTINGS,
                "log settings",
                "disablelocallogging",
                json!(local_off),
            ),
            ev(
                LOG_SETTINGS,
                "log settings",
                "enableremotelogging",
                json!(remote),
            ),
        ];
        match (local_off, remote) {
            (true, false) => Ok(Outcome::fail(
                "local logging is off and nothing is sent elsewhere",
                e,
            )),
            (true, true) => Ok(Outcome::pass("logs go to the remote server only", e)),
            _ => Ok(Outcome::pass("logs are kept on the firewall", e)),
        }
    },
};

pub const BOGON_PRIVATE_NOT_LOGGED: Check = Check {
    id: "PFS-LOG-004",
    title: "Blocked bogon or private-network packets are not logged",
    area: Area::Logging,
    severity: Severity::Low,
    fix: Fix {
        summary: "Log the packets the bogon and private-network blocks drop.",
        tool: Some("pfsense_update_status_logs_settings"),
        arguments: Some("{\"nologbogons\": false, \"nologprivatenets\": false}"),
        gui: "Status > System Logs > Settings > Log packets blocked by Block Bogon/Private Networks",
    },
    references: &[V206713, NIST_523, BSI_A9],
    run: |s| {
        let bogons = log_flag(s, "nologbogons")?;
        let private = log_flag(s, "nologprivatenets")?;
        let e = vec![
            ev(LOG_SETTINGS, "log settings", "nologbogons", json!(bogons)),
            ev(
                LOG_SETTINGS,
                "log settings",
                "nologprivatenets",
                json!(private),
            ),
        ];
        if bogons || private {
            Ok(Outcome::fail("spoofed traffic is dropped silently", e))
        } else {
            Ok(Outcome::pass("bogon and private-network blocks log", e))
        }
    },
};

pub const CONFIG_CHANGES_NOT_LOGGED: Check = Check {
    id: "PFS-LOG-005",
    title: "Configuration changes are not logged",
    area: Area::Logging,
    severity: Severity::Low,
    fix: Fix {
        summary: "Log configuration changes to the system log (and with it to syslog).",
        tool: Some("pfsense_update_status_logs_settings"),
        arguments: Some("{\"logconfigchanges\": true}"),
        gui: "Status > System Logs > Settings > Log Configuration Changes",
    },
    references: &[NIST_523, BSI_A9],
    run: |s| {
        let on = log_flag(s, "logconfigchanges")?;
        let e = vec![ev(
            LOG_SETTINGS,
            "log settings",
            "logconfigchanges",
            json!(on),
        )];
        if on {
            Ok(Outcome::pass("configuration changes are logged", e))
        } else {
            Ok(Outcome::fail("who changed what is not in the logs", e))
        }
    },
};

pub const DNS_REBIND: Check = Check {
    id: "PFS-DNS-001",
    title: "DNS rebinding protection",
    area: Area::Dns,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Keep \"Disable DNS Rebinding Checks\" unticked.",
        tool: None,
        arguments: None,
        gui: "System > Advanced > Admin Access > DNS Rebind Check",
    },
    references: &[NG_ADMIN, NG_RESOLVER],
    // pfSense keeps the switch in system/webgui/nodnsrebindcheck; no REST API version (2.7.1 to
    // 2.10.0) has a field for it, so the audit cannot read it and says so.
    run: |_| {
        Err(Unknown(
            "the REST API has no field for System > Advanced > Admin Access > Disable DNS Rebinding Checks \
             (config path system/webgui/nodnsrebindcheck); check that page"
                .into(),
        ))
    },
};

fn resolver_enabled(s: &Snapshot) -> Result<bool, Unknown> {
    required_flag(s, DNS_RESOLVER, "enable")
}

pub const DNSSEC: Check = Check {
    id: "PFS-DNS-002",
    title: "The DNS resolver does not validate DNSSEC",
    area: Area::Dns,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Turn on DNSSEC validation in the DNS resolver, then apply.",
        tool: Some("pfsense_update_services_dns_resolver_settings"),
        arguments: Some("{\"dnssec\": true} then pfsense_services_dns_resolver_apply"),
        gui: "Services > DNS Resolver > General Settings > DNSSEC",
    },
    references: &[NG_RESOLVER, BSI_A4],
    run: |s| {
        let enabled = resolver_enabled(s)?;
        if !enabled {
            return Err(Unknown(
                "the DNS resolver is off; whatever answers DNS instead (the forwarder or upstream servers) is not read"
                    .into(),
            ));
        }
        let on = required_flag(s, DNS_RESOLVER, "dnssec")?;
        let e = vec![ev(DNS_RESOLVER, "DNS resolver", "dnssec", json!(on))];
        if on {
            Ok(Outcome::pass("DNSSEC answers are validated", e))
        } else {
            Ok(Outcome::fail("forged DNS answers are accepted", e))
        }
    },
};

pub const RESOLVER_ALL_INTERFACES: Check = Check {
    id: "PFS-DNS-003",
    title: "The DNS resolver listens on every interface",
    area: Area::Dns,
    severity: Severity::Low,
    fix: Fix {
        summary: "Bind the resolver to the internal interfaces (and localhost) only.",
        tool: Some("pfsense_update_services_dns_resolver_settings"),
        arguments: Some(
            "{\"active_interface\": [\"lan\", \"lo0\"]} then pfsense_services_dns_resolver_apply",
        ),
        gui: "Services > DNS Resolver > General Settings > Network Interfaces",
    },
    references: &[V206690, BSI_A4, NG_RESOLVER],
    run: |s| {
        let enabled = resolver_enabled(s)?;
        if !enabled {
            return Ok(Outcome::pass(
                "the DNS resolver is off",
                vec![ev(DNS_RESOLVER, "DNS resolver", "enable", json!(false))],
            ));
        }
        let active = s.field(DNS_RESOLVER, "active_interface")?.clone();
        let list = strings(s.data(DNS_RESOLVER)?, "active_interface");
        let e = vec![ev(DNS_RESOLVER, "DNS resolver", "active_interface", active)];
        if list.is_empty() || list.iter().any(|i| i == "all") {
            Ok(Outcome::fail(
                "the resolver answers on WAN too; only the rules keep it from being an open resolver",
                e,
            ))
        } else {
            Ok(Outcome::pass(
                format!("the resolver listens on {}", list.join(", ")),
                e,
            ))
        }
    },
};

pub const DNS_OVERRIDE: Check = Check {
    id: "PFS-DNS-004",
    title: "The provider's DHCP/PPP may override the DNS servers",
    area: Area::Dns,
    severity: Severity::Low,
    fix: Fix {
        summary: "Set the DNS servers yourself and untick the override.",
        tool: Some("pfsense_update_system_dns"),
        arguments: Some("{\"dnsallowoverride\": false, \"dnsserver\": [...]}"),
        gui: "System > General Setup > DNS Server Override",
    },
    references: &[BSI_A4],
    run: |s| {
        let on = required_flag(s, SYSTEM_DNS, "dnsallowoverride")?;
        let e = vec![ev(SYSTEM_DNS, "system DNS", "dnsallowoverride", json!(on))];
        if on {
            Ok(Outcome::fail(
                "whoever answers DHCP on WAN chooses the firewall's DNS servers",
                e,
            ))
        } else {
            Ok(Outcome::pass("DNS servers are set locally", e))
        }
    },
};

/// Fewer distinct time sources than this (and no pool) cannot outvote a wrong clock.
const MIN_TIME_SOURCES: usize = 3;

pub const NTP_SOURCES: Check = Check {
    id: "PFS-NTP-001",
    title: "Time is not synchronised from enough sources",
    area: Area::Time,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Keep NTP on with a pool or at least three time servers so log timestamps are right.",
        tool: Some("pfsense_create_services_ntp_time_server"),
        arguments: Some("{\"timeserver\": \"2.pfsense.pool.ntp.org\", \"type\": \"pool\"}"),
        gui: "Services > NTP > Settings > Time Servers",
    },
    references: &[V206679, NIST_523, NG_NTP],
    run: |s| {
        let enabled = required_flag(s, NTP_SETTINGS, "enable")?;
        let servers = s.list(NTP_SERVERS)?;
        let usable: Vec<&Value> = servers.iter().filter(|t| !flag(t, "noselect")).collect();
        let names: Vec<String> = usable
            .iter()
            .map(|t| format!("{} ({})", text(t, "timeserver"), text(t, "type")))
            .collect();
        let e = vec![
            ev(NTP_SETTINGS, "NTP", "enable", json!(enabled)),
            ev(NTP_SERVERS, "time servers", "timeserver", json!(names)),
        ];
        let pool = usable.iter().any(|t| text(t, "type") == "pool");
        if !enabled {
            Ok(Outcome::fail("NTP is off: log timestamps drift", e))
        } else if pool || usable.len() >= MIN_TIME_SOURCES {
            Ok(Outcome::pass("time comes from enough sources", e))
        } else {
            Ok(Outcome::fail(
                format!(
                    "{} usable time server(s), no pool: one wrong or unreachable server skews every log timestamp",
                    usable.len()
                ),
                e,
            ))
        }
    },
};

pub const NTP_ALL_INTERFACES: Check = Check {
    id: "PFS-NTP-002",
    title: "The NTP server answers on every interface",
    area: Area::Time,
    severity: Severity::Low,
    fix: Fix {
        summary: "Bind the NTP server to the internal interfaces.",
        tool: Some("pfsense_update_services_ntp_settings"),
        arguments: Some("{\"interface\": [\"lan\"]}"),
        gui: "Services > NTP > Settings > Interface",
    },
    references: &[V206690, BSI_A4, NG_NTP],
    run: |s| {
        let enabled = required_flag(s, NTP_SETTINGS, "enable")?;
        let list = strings(s.data(NTP_SETTINGS)?, "interface");
        let e = vec![ev(NTP_SETTINGS, "NTP", "interface", json!(list))];
        if !enabled {
            Ok(Outcome::pass("NTP is off", e))
        } else if list.is_empty() {
            Ok(Outcome::fail(
                "ntpd listens on WAN too (amplification and information leaks if a rule lets it through)",
                e,
            ))
        } else {
            Ok(Outcome::pass(
                format!("ntpd listens on {}", list.join(", ")),
                e,
            ))
        }
    },
};

/// `2.8.1-RELEASE` → [2, 8, 1]; `v2.10.0` → [2, 10, 0].
pub fn version_parts(v: &str) -> Option<Vec<u64>> {
    let core = v
        .trim()
        .trim_start_matches('v')
        .split(['-', '_', ' '])
        .next()?;
    core.split('.').map(|p| p.parse().ok()).collect()
}

fn compare_versions(current: &str, newest: &str) -> Option<std::cmp::Ordering> {
    Some(version_parts(current)?.cmp(&version_parts(newest)?))
}

pub const PFSENSE_OUTDATED: Check = Check {
    id: "PFS-UPD-001",
    title: "pfSense is older than the newest known release",
    area: Area::Updates,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Upgrade pfSense (take a config backup first).",
        tool: None,
        arguments: None,
        gui: "System > Update",
    },
    references: &[NIST_55, BSI_A4, NG_UPGRADE],
    run: |s| {
        let version = text(s.data(SYSTEM_VERSION)?, "version").to_string();
        let parts = version_parts(&version).ok_or_else(|| {
            Unknown(format!(
                "GET {SYSTEM_VERSION} `version` {version:?} is not a version"
            ))
        })?;
        // CE is numbered 2.x; Plus by year and month (21.02 and later).
        let newest = if parts.first() == Some(&2) {
            NEWEST_PFSENSE_CE
        } else {
            NEWEST_PFSENSE_PLUS
        };
        let e = vec![
            ev(SYSTEM_VERSION, "pfSense", "version", json!(version)),
            ev(
                "(built-in table)",
                "newest known release",
                "version",
                json!(newest),
            ),
        ];
        match compare_versions(&version, newest) {
            Some(std::cmp::Ordering::Less) => Ok(Outcome::fail(
                format!("pfSense {version} is older than {newest}"),
                e,
            )),
            Some(_) => Ok(Outcome::pass(format!("pfSense {version} is current"), e)),
            None => Err(Unknown(format!("cannot compare {version} with {newest}"))),
        }
    },
};

pub const REST_API_OUTDATED: Check = Check {
    id: "PFS-UPD-002",
    title: "The REST API package is older than the newest known release",
    area: Area::Updates,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Update the REST API package (check that the new version supports this pfSense version).",
        tool: Some("pfsense_update_system_restapi_version"),
        arguments: Some("{\"install_version\": \"<newest available>\"}"),
        gui: "System > REST API > Updates",
    },
    references: &[NIST_55, PFREST_SECURING],
    run: |s| {
        let v = s.data(REST_API_VERSION)?;
        let current = text(v, "current_version").to_string();
        if current.is_empty() {
            return Err(Unknown(format!(
                "GET {REST_API_VERSION} has no current_version"
            )));
        }
        let update = flag(v, "update_available");
        let e = vec![
            ev(
                REST_API_VERSION,
                "REST API",
                "current_version",
                json!(current),
            ),
            ev(
                REST_API_VERSION,
                "REST API",
                "update_available",
                json!(update),
            ),
            ev(
                "(built-in table)",
                "newest known release",
                "version",
                json!(format!("{} ({})", NEWEST_REST_API.0, NEWEST_REST_API.1)),
            ),
        ];
        let order = compare_versions(&current, NEWEST_REST_API.0);
        if order.is_none() && !update {
            // pfrest answers `unknown` when `pkg-static info pfSense-pkg-RESTAPI` shows no
            // version (RESTAPIVersion::get_api_version): not a version to compare.
            return Err(Unknown(format!(
                "GET {REST_API_VERSION} `current_version` {current:?} is not a version"
            )));
        }
        let older = order == Some(std::cmp::Ordering::Less);
        if update || older {
            Ok(Outcome::fail(
                format!(
                    "REST API {current} is behind (newest known {}; the box reports update_available={update})",
                    NEWEST_REST_API.0
                ),
                e,
            ))
        } else {
            Ok(Outcome::pass(format!("REST API {current} is current"), e))
        }
    },
};

pub const CONFIG_HISTORY_EMPTY: Check = Check {
    id: "PFS-BAK-001",
    title: "No configuration history to roll back to",
    area: Area::Backup,
    severity: Severity::Medium,
    fix: Fix {
        summary: "Keep configuration backups (System > Advanced > Miscellaneous > Backup Count; the default keeps 30) and export one off the box.",
        tool: None,
        arguments: None,
        gui: "Diagnostics > Backup & Restore > Config History",
    },
    references: &[NIST_55, BSI_A4, NG_BACKUP],
    run: |s| {
        let revisions = s.list(CONFIG_HISTORY)?;
        let newest = revisions
            .iter()
            .filter_map(|r| r.get("time").and_then(Value::as_i64))
            .max();
        let e = vec![
            ev(
                CONFIG_HISTORY,
                "config history",
                "count",
                json!(revisions.len()),
            ),
            ev(
                CONFIG_HISTORY,
                "config history",
                "newest time",
                json!(newest.map(format_date)),
            ),
        ];
        if revisions.is_empty() {
            Ok(Outcome::fail(
                "no earlier configuration is kept: a bad change cannot be rolled back (the REST API has no restore)",
                e,
            ))
        } else {
            Ok(Outcome::pass(
                format!("{} earlier configuration(s) kept", revisions.len()),
                e,
            ))
        }
    },
};

pub const UPNP: Check = Check {
    id: "PFS-SVC-001",
    title: "UPnP / NAT-PMP is running",
    area: Area::Services,
    severity: Severity::High,
    fix: Fix {
        summary: "Turn off UPnP & NAT-PMP unless a reviewed need exists (then restrict it with ACLs).",
        tool: Some("pfsense_post_status_service"),
        arguments: Some(
            "{\"name\": \"miniupnpd\", \"action\": \"stop\"} and disable it in the GUI",
        ),
        gui: "Services > UPnP & NAT-PMP",
    },
    references: &[V206690, V206694, BSI_A4],
    run: |s| {
        let services = s.list(SERVICES)?;
        let mut e = Vec::new();
        for svc in services {
            let name = text(svc, "name");
            if let Some((_, what)) = RISKY_SERVICES.iter().find(|(n, _)| *n == name)
                && flag(svc, "status")
            {
                e.push(ev(
                    SERVICES,
                    format!("service {name} ({what})"),
                    "status",
                    json!(true),
                ));
            }
        }
        if e.is_empty() {
            Ok(Outcome::pass(
                format!(
                    "none of {} running services opens ports on demand",
                    services.len()
                ),
                e,
            ))
        } else {
            Ok(Outcome::fail(
                "hosts on the LAN can open inbound ports without a rule review",
                e,
            ))
        }
    },
};

pub const NOTIFICATIONS: Check = Check {
    id: "PFS-SVC-002",
    title: "E-mail notifications are not configured",
    area: Area::Services,
    severity: Severity::Low,
    fix: Fix {
        summary: "Configure e-mail notifications so gateway, certificate and update alerts reach someone.",
        tool: Some("pfsense_update_system_notifications_email_settings"),
        arguments: Some(
            "{\"ipaddress\": \"smtp.example.org\", \"notifyemailaddress\": \"noc@example.org\", ...}",
        ),
        gui: "System > Advanced > Notifications",
    },
    references: &[NIST_523, BSI_A9],
    run: |s| -> CheckResult {
        let v = s.data(EMAIL_NOTIFICATIONS)?;
        let disabled = flag(v, "disable");
        let server = text(v, "ipaddress");
        let to = text(v, "notifyemailaddress");
        let e = vec![
            ev(
                EMAIL_NOTIFICATIONS,
                "e-mail notifications",
                "disable",
                json!(disabled),
            ),
            ev(
                EMAIL_NOTIFICATIONS,
                "e-mail notifications",
                "ipaddress",
                json!(server),
            ),
            ev(
                EMAIL_NOTIFICATIONS,
                "e-mail notifications",
                "notifyemailaddress",
                json!(to),
            ),
        ];
        if !disabled && !server.is_empty() && !to.is_empty() {
            Ok(Outcome::pass(format!("alerts are mailed to {to}"), e))
        } else {
            Ok(Outcome::fail(
                "no e-mail alerts (Telegram, Pushover and Slack notifiers are not visible through the API)",
                e,
            ))
        }
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_parts("2.8.1-RELEASE"), Some(vec![2, 8, 1]));
        assert_eq!(version_parts("v2.10.0"), Some(vec![2, 10, 0]));
        assert_eq!(
            compare_versions("v2.7.1", "v2.10.0"),
            Some(std::cmp::Ordering::Less)
        );
        assert_eq!(version_parts("garbage"), None);
    }
}
