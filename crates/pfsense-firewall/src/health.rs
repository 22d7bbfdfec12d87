//! Health and diagnose summaries: pure functions over the answers of the status endpoints
//! (`/api/v2/status/system`, `/status/interfaces`, `/status/gateways`, `/status/services`,
//! `/status/dhcp_server/leases`, `/status/ipsec/sas`, `/status/openvpn/*`, WireGuard tunnels and
//! peers) that return findings and a short Markdown summary.

use crate::json::{bool_field, f64_field, objects, opt_string, str_field, u64_field};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    /// An input could not be read: the report cannot say "OK", but what it did read may
    /// still show a warning or a problem, which then decides the status.
    Unknown,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub area: &'static str,
    pub title: String,
    /// The values the finding was read from.
    pub evidence: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub title: String,
    /// The worst severity among the findings (`ok` when there are none worse than info).
    pub status: Severity,
    pub findings: Vec<Finding>,
    pub markdown: String,
}

/// Thresholds for resource findings: (warning at, critical at), in percent.
const CPU_PCT: (f64, f64) = (85.0, 95.0);
const MEMORY_PCT: (f64, f64) = (85.0, 95.0);
const DISK_PCT: (f64, f64) = (80.0, 95.0);
const SWAP_PCT: (f64, f64) = (50.0, 90.0);
const MBUF_PCT: (f64, f64) = (80.0, 95.0);
/// Degrees Celsius.
const TEMPERATURE_C: (f64, f64) = (80.0, 95.0);
/// Gateway packet loss in percent.
const GATEWAY_LOSS_PCT: (f64, f64) = (10.0, 20.0);
/// DHCP pool use in percent.
const DHCP_POOL_PCT: (f64, f64) = (80.0, 95.0);
/// Days before a certificate's expiry that it is flagged.
const CERT_DAYS: (i64, i64) = (30, 7);

fn graded(value: f64, (warn, crit): (f64, f64)) -> Option<Severity> {
    if value >= crit {
        Some(Severity::Critical)
    } else if value >= warn {
        Some(Severity::Warning)
    } else {
        None
    }
}

fn finding(severity: Severity, area: &'static str, title: String, evidence: Value) -> Finding {
    Finding {
        severity,
        area,
        title,
        evidence,
    }
}

/// Builds the report: findings worst first, and a Markdown summary.
pub fn report(title: &str, mut findings: Vec<Finding>) -> Report {
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let status = findings
        .iter()
        .map(|f| f.severity)
        .max()
        .filter(|s| *s > Severity::Info)
        .unwrap_or(Severity::Ok);
    let mut md = format!(
        "## {title}: {}\n\n",
        match status {
            Severity::Ok | Severity::Info => "OK",
            Severity::Unknown => "unknown (some reads failed)",
            Severity::Warning => "warnings",
            Severity::Critical => "problems",
        }
    );
    if findings.is_empty() {
        md.push_str("Nothing to report.\n");
    }
    for f in &findings {
        let mark = match f.severity {
            Severity::Critical => "**critical**",
            Severity::Warning => "warning",
            Severity::Unknown => "not read",
            Severity::Info | Severity::Ok => "info",
        };
        md.push_str(&format!("- {mark} ({}): {}\n", f.area, f.title));
    }
    Report {
        title: title.to_string(),
        status,
        findings,
        markdown: md,
    }
}

/// The report with a finding for every input that could not be read (`unread`: the failed
/// reads, e.g. `GET /api/v2/status/gateways: 403 …`): with nothing worse found, its status is
/// unknown, never OK.
pub fn with_unread(r: Report, unread: &[String]) -> Report {
    if unread.is_empty() {
        return r;
    }
    let mut findings = r.findings;
    findings.extend(unread.iter().map(|u| {
        finding(
            Severity::Unknown,
            "input",
            format!("not read: {u}"),
            json!({"error": u}),
        )
    }));
    report(&r.title, findings)
}

/// CPU, memory, disk, swap, mbufs and temperature from `/status/system`.
pub fn system_findings(status: &Value) -> Vec<Finding> {
    let Some(s) = crate::json::object(status) else {
        return vec![finding(
            Severity::Unknown,
            "system",
            "system status not available".into(),
            Value::Null,
        )];
    };
    let mut out = Vec::new();
    for (key, label, limits) in [
        ("cpu_usage", "CPU", CPU_PCT),
        ("mem_usage", "memory", MEMORY_PCT),
        ("disk_usage", "disk", DISK_PCT),
        ("swap_usage", "swap", SWAP_PCT),
        ("mbuf_usage", "mbuf", MBUF_PCT),
    ] {
        if let Some(v) = f64_field(s, key)
            && let Some(sev) = graded(v, limits)
        {
            out.push(finding(
                sev,
                "system",
                format!("{label} usage at {v:.0}%"),
                json!({key: v}),
            ));
        }
    }
    if let Some(t) = f64_field(s, "temp_c")
        && let Some(sev) = graded(t, TEMPERATURE_C)
    {
        out.push(finding(
            sev,
            "system",
            format!("temperature {t:.0} °C"),
            json!({"temp_c": t}),
        ));
    }
    out
}

/// Interfaces down and interface errors from `/status/interfaces`.
pub fn interface_findings(status: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in objects(status) {
        let name = opt_string(i, "descr")
            .or_else(|| opt_string(i, "name"))
            .unwrap_or_default();
        let enabled = bool_field(i, "enable").unwrap_or(true);
        let st = str_field(i, "status").unwrap_or("");
        if enabled && !st.is_empty() && st != "up" && st != "associated" {
            out.push(finding(
                Severity::Critical,
                "interfaces",
                format!("interface {name} is {st}"),
                json!({"name": name, "status": st}),
            ));
        }
        let errs: u64 = ["inerrs", "outerrs", "collisions"]
            .iter()
            .filter_map(|k| u64_field(i, k))
            .sum();
        if errs > 0 {
            out.push(finding(
                Severity::Warning,
                "interfaces",
                format!("interface {name} counts {errs} errors/collisions"),
                json!({"name": name, "inerrs": i.get("inerrs"), "outerrs": i.get("outerrs"), "collisions": i.get("collisions")}),
            ));
        }
    }
    out
}

/// Gateways offline or losing packets, from `/status/gateways`.
pub fn gateway_findings(status: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let gws = objects(status);
    if gws.is_empty() {
        out.push(finding(
            Severity::Info,
            "gateways",
            "no gateway status reported".into(),
            Value::Null,
        ));
    }
    for g in gws {
        let name = opt_string(g, "name").unwrap_or_default();
        let st = str_field(g, "status").unwrap_or("").to_ascii_lowercase();
        let loss = f64_field(g, "loss");
        let evidence = json!({"name": name, "status": st, "loss": loss, "delay": g.get("delay"), "monitorip": g.get("monitorip")});
        if matches!(st.as_str(), "down" | "offline" | "force_down") {
            out.push(finding(
                Severity::Critical,
                "gateways",
                format!("gateway {name} is {st}"),
                evidence,
            ));
        } else if let Some(sev) = loss.and_then(|l| graded(l, GATEWAY_LOSS_PCT)) {
            out.push(finding(
                sev,
                "gateways",
                format!(
                    "gateway {name} loses {:.0}% of packets",
                    loss.unwrap_or(0.0)
                ),
                evidence,
            ));
        } else if !st.is_empty() && st != "online" && st != "none" {
            out.push(finding(
                Severity::Warning,
                "gateways",
                format!("gateway {name} reports {st}"),
                evidence,
            ));
        }
    }
    out
}

/// Enabled services that are not running, from `/status/services`.
pub fn service_findings(services: &Value) -> Vec<Finding> {
    objects(services)
        .into_iter()
        .filter(|s| {
            bool_field(s, "enabled").unwrap_or(true) && bool_field(s, "status") == Some(false)
        })
        .map(|s| {
            let name = opt_string(s, "name").unwrap_or_default();
            let descr = opt_string(s, "description").unwrap_or_else(|| name.clone());
            finding(
                Severity::Critical,
                "services",
                format!("service {descr} ({name}) is enabled but not running"),
                json!({"name": name}),
            )
        })
        .collect()
}

/// Certificate expiry, as decoded by the caller (the API returns the certificate body only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertExpiry {
    pub name: String,
    /// Unix seconds.
    pub not_after: i64,
}

pub fn certificate_findings(certs: &[CertExpiry], now: i64) -> Vec<Finding> {
    certs
        .iter()
        .filter_map(|c| {
            let days = (c.not_after - now).div_euclid(86_400);
            let ev = json!({"name": c.name, "not_after": c.not_after, "days_left": days});
            if c.not_after <= now {
                Some(finding(
                    Severity::Critical,
                    "certificates",
                    format!("certificate {} has expired", c.name),
                    ev,
                ))
            } else if days <= CERT_DAYS.1 {
                Some(finding(
                    Severity::Critical,
                    "certificates",
                    format!("certificate {} expires in {days} days", c.name),
                    ev,
                ))
            } else if days <= CERT_DAYS.0 {
                Some(finding(
                    Severity::Warning,
                    "certificates",
                    format!("certificate {} expires in {days} days", c.name),
                    ev,
                ))
            } else {
                None
            }
        })
        .collect()
}

/// Everything the health report reads.
#[derive(Debug, Clone, Default)]
pub struct HealthInput {
    pub system: Value,
    pub interfaces: Value,
    pub gateways: Value,
    pub services: Value,
    pub certificates: Vec<CertExpiry>,
    pub now: i64,
    /// Subsystems with changes waiting to be applied (names).
    pub pending_applies: Vec<String>,
}

pub fn health_report(input: &HealthInput) -> Report {
    let mut f = system_findings(&input.system);
    f.extend(interface_findings(&input.interfaces));
    f.extend(gateway_findings(&input.gateways));
    f.extend(service_findings(&input.services));
    f.extend(certificate_findings(&input.certificates, input.now));
    for p in &input.pending_applies {
        f.push(finding(
            Severity::Warning,
            "pending",
            format!("changes to {p} are saved but not applied"),
            json!({"subsystem": p}),
        ));
    }
    report("Health", f)
}

/// Gateways and interfaces: can the box reach the outside?
pub fn diagnose_connectivity(gateways: &Value, interfaces: &Value) -> Report {
    let mut f = gateway_findings(gateways);
    f.extend(interface_findings(interfaces));
    report("Connectivity", f)
}

fn pool_size(server: &Value) -> Option<u64> {
    let from = Ipv4Addr::from_str(str_field(server, "range_from")?).ok()?;
    let to = Ipv4Addr::from_str(str_field(server, "range_to")?).ok()?;
    let (a, b) = (u32::from(from), u32::from(to));
    (b >= a).then(|| u64::from(b - a) + 1)
}

/// DHCP: pool use per interface from the servers' ranges and the active leases.
pub fn diagnose_dhcp(servers: &Value, leases: &Value) -> Report {
    let leases = objects(leases);
    let mut f = Vec::new();
    for s in objects(servers) {
        let iface = opt_string(s, "interface")
            .or_else(|| opt_string(s, "id"))
            .unwrap_or_default();
        if bool_field(s, "enable") == Some(false) {
            continue;
        }
        let from = str_field(s, "range_from")
            .and_then(|a| Ipv4Addr::from_str(a).ok())
            .map(u32::from);
        let to = str_field(s, "range_to")
            .and_then(|a| Ipv4Addr::from_str(a).ok())
            .map(u32::from);
        let active = leases
            .iter()
            .filter(|l| str_field(l, "active_status").is_none_or(|a| a == "active"))
            .filter_map(|l| {
                str_field(l, "ip")
                    .and_then(|a| Ipv4Addr::from_str(a).ok())
                    .map(u32::from)
            })
            .filter(|ip| from.is_some_and(|a| *ip >= a) && to.is_some_and(|b| *ip <= b))
            .count() as u64;
        let Some(size) = pool_size(s) else {
            f.push(finding(
                Severity::Info,
                "dhcp",
                format!("DHCP on {iface}: no pool range reported"),
                json!({"interface": iface}),
            ));
            continue;
        };
        let pct = active as f64 * 100.0 / size as f64;
        let ev = json!({"interface": iface, "pool_size": size, "active_leases": active});
        match graded(pct, DHCP_POOL_PCT) {
            Some(sev) => f.push(finding(
                sev,
                "dhcp",
                format!("DHCP pool on {iface} is {pct:.0}% used ({active} of {size})"),
                ev,
            )),
            None => f.push(finding(
                Severity::Info,
                "dhcp",
                format!("DHCP pool on {iface}: {active} of {size} addresses leased"),
                ev,
            )),
        }
    }
    report("DHCP", f)
}

/// VPN: IPsec SAs, OpenVPN servers and clients, WireGuard tunnels without peers.
pub fn diagnose_vpn(
    ipsec_sas: &Value,
    openvpn_servers: &Value,
    openvpn_clients: &Value,
    wg_tunnels: &Value,
    wg_peers: &Value,
) -> Report {
    let mut f = Vec::new();
    for sa in objects(ipsec_sas) {
        let name = opt_string(sa, "con_id").unwrap_or_default();
        let state = str_field(sa, "state").unwrap_or("");
        let remote = opt_string(sa, "remote_host").unwrap_or_default();
        let children = sa
            .get("child_sas")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        let ev =
            json!({"con_id": name, "state": state, "remote_host": remote, "child_sas": children});
        if state != "ESTABLISHED" {
            f.push(finding(
                Severity::Critical,
                "ipsec",
                format!("IPsec {name} to {remote} is {state}"),
                ev,
            ));
        } else if children == 0 {
            f.push(finding(
                Severity::Warning,
                "ipsec",
                format!("IPsec {name} to {remote} is up without child SAs (no traffic can pass)"),
                ev,
            ));
        } else {
            f.push(finding(
                Severity::Info,
                "ipsec",
                format!("IPsec {name} to {remote} established, {children} child SA(s)"),
                ev,
            ));
        }
    }
    for s in objects(openvpn_servers) {
        let name = opt_string(s, "name").unwrap_or_default();
        let conns = s
            .get("conns")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0);
        f.push(finding(
            Severity::Info,
            "openvpn",
            format!("OpenVPN server {name}: {conns} client(s) connected"),
            json!({"name": name, "connections": conns}),
        ));
    }
    for c in objects(openvpn_clients) {
        let name = opt_string(c, "name").unwrap_or_default();
        let status = str_field(c, "status").unwrap_or("");
        if status != "up" {
            f.push(finding(
                Severity::Critical,
                "openvpn",
                format!(
                    "OpenVPN client {name} is {}",
                    if status.is_empty() {
                        "not connected"
                    } else {
                        status
                    }
                ),
                json!({"name": name, "status": status, "state": c.get("state")}),
            ));
        }
    }
    let peers = objects(wg_peers);
    for t in objects(wg_tunnels) {
        let name = opt_string(t, "name").unwrap_or_default();
        if bool_field(t, "enabled") == Some(false) {
            continue;
        }
        let n = peers
            .iter()
            .filter(|p| {
                str_field(p, "tun") == Some(name.as_str())
                    && bool_field(p, "enabled") != Some(false)
            })
            .count();
        if n == 0 {
            f.push(finding(
                Severity::Warning,
                "wireguard",
                format!("WireGuard tunnel {name} has no enabled peer"),
                json!({"tunnel": name}),
            ));
        } else {
            f.push(finding(Severity::Info, "wireguard", format!("WireGuard tunnel {name}: {n} peer(s); handshake times are not exposed by the REST API"), json!({"tunnel": name, "peers": n})));
        }
    }
    report("VPN", f)
}
