//! Whether the firewall's own management services answer from the Internet, asked of the
//! traffic evaluator of `pfsense-firewall` (pfSense's rule order, floating rules, aliases,
//! generated rules and the default deny).

use super::util::*;
use super::{CheckResult, Outcome};
use crate::snapshot::*;
use pfsense_firewall::explain::{RuleOrigin, Verdict};
use pfsense_firewall::model::Direction;
use pfsense_firewall::{ApiInput, FirewallModel, Query};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};

/// The source of the probe: a public address in no bogon or private list (scanme.nmap.org; the
/// documentation ranges of RFC 5737 are bogons, which pfSense blocks on WAN). A rule that admits
/// only some sources is not "reachable from the Internet" here.
pub const INTERNET_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(45, 33, 32, 156));
/// An ephemeral client port.
const CLIENT_PORT: u16 = 51_000;

/// The model built from the snapshot. Rules, aliases, port forwards, interfaces and the
/// webGUI/SSH settings must have been read; status and groups refine it when present.
pub fn firewall_model(s: &Snapshot) -> Result<FirewallModel, Unknown> {
    let optional = |p: &str| s.data(p).cloned().unwrap_or(Value::Null);
    let input = ApiInput {
        rules: s.data(RULES)?.clone(),
        aliases: s.data(ALIASES)?.clone(),
        port_forwards: s.data(PORT_FORWARDS)?.clone(),
        interfaces: s.data(INTERFACES)?.clone(),
        webgui: s.data(WEBGUI_SETTINGS)?.clone(),
        ssh: s.data(SSH)?.clone(),
        interface_status: optional(INTERFACE_STATUS),
        interface_groups: optional(INTERFACE_GROUPS),
        ..ApiInput::default()
    };
    Ok(FirewallModel::from_api(&input))
}

#[derive(Clone, Copy)]
pub enum Service {
    WebGui,
    Ssh,
}

impl Service {
    fn name(self) -> &'static str {
        match self {
            Service::WebGui => "the webGUI",
            Service::Ssh => "SSH",
        }
    }
}

/// Evaluates a new TCP connection from the Internet to the service's port on every
/// Internet-facing interface address.
pub fn from_internet(s: &Snapshot, service: Service) -> CheckResult {
    let model = firewall_model(s)?;
    let port = match service {
        Service::WebGui => model.settings.api_port(),
        Service::Ssh => model.settings.ssh_port,
    };
    let wan = internet_facing(s)?;
    if wan.is_empty() {
        return Err(Unknown(format!(
            "GET {INTERFACES} shows no Internet-facing interface to ask about"
        )));
    }
    let mut evidence = Vec::new();
    let mut open = Vec::new();
    let mut undecided = Vec::new();
    for w in &wan {
        let Some(iface) = model.interface(&w.id) else {
            undecided.push(format!("{}: not in the firewall model", w.label()));
            continue;
        };
        let Some(dst) = iface.ipv4.map(|(ip, _)| ip) else {
            undecided.push(format!(
                "{}: its IPv4 address is not known (DHCP/PPP; read {INTERFACE_STATUS})",
                w.label()
            ));
            continue;
        };
        let query = Query {
            src: INTERNET_SOURCE,
            dst,
            protocol: "tcp".into(),
            src_port: Some(CLIENT_PORT),
            dst_port: Some(port),
            icmp_type: None,
            interface: iface.id.clone(),
            direction: Direction::In,
        };
        let exp = model
            .explain(&query)
            .map_err(|e| Unknown(format!("the traffic evaluator cannot ask: {e}")))?;
        let object = format!("{} → {dst}:{port}/tcp from {INTERNET_SOURCE}", w.label());
        let decided = &exp.decided_by;
        let rule = match decided.origin {
            RuleOrigin::DefaultDeny => "the default deny".to_string(),
            origin => format!(
                "{}{}{}{}",
                origin_name(origin),
                decided
                    .position
                    .map(|p| format!(" #{p}"))
                    .unwrap_or_default(),
                decided
                    .tracker
                    .map(|t| format!(" (tracker {t})"))
                    .unwrap_or_default(),
                if decided.descr.is_empty() {
                    String::new()
                } else {
                    format!(" \"{}\"", decided.descr)
                }
            ),
        };
        if let Some(t) = &exp.translation {
            // A port forward takes the port: the connection goes to an inside host, not to the
            // firewall's own service.
            evidence.push(ev(
                PORT_FORWARDS,
                object,
                "translated to",
                json!(format!("{}:{}", t.dst, t.dst_port.unwrap_or(port))),
            ));
            continue;
        }
        evidence.push(ev(
            RULES,
            object,
            "verdict",
            json!(format!("{} by {rule}", verdict_name(exp.verdict))),
        ));
        match exp.verdict {
            Verdict::Pass => open.push(format!("{} (passed by {rule})", w.label())),
            Verdict::Block | Verdict::Reject => {}
            Verdict::Unknown => {
                undecided.push(format!("{}: {}", w.label(), exp.unknowns.join("; ")))
            }
        }
    }
    let service_name = service.name();
    if !open.is_empty() {
        return Ok(Outcome::fail(
            format!(
                "{service_name} (port {port}) accepts connections from any Internet address on {}",
                open.join(", ")
            ),
            evidence,
        ));
    }
    if !undecided.is_empty() {
        return Err(Unknown(format!(
            "the traffic evaluator could not decide: {}",
            undecided.join("; ")
        )));
    }
    Ok(Outcome::pass(
        format!("a connection from an Internet address to {service_name} (port {port}) is blocked"),
        evidence,
    ))
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Block => "block",
        Verdict::Reject => "reject",
        Verdict::Unknown => "unknown",
    }
}

fn origin_name(o: RuleOrigin) -> &'static str {
    match o {
        RuleOrigin::Interface => "interface rule",
        RuleOrigin::Group => "interface group rule",
        RuleOrigin::Floating => "floating rule",
        RuleOrigin::BlockAllIpv6 => "generated block-IPv6 rule",
        RuleOrigin::LinkLocal => "generated link-local rule",
        RuleOrigin::DefaultDeny => "the default deny",
        RuleOrigin::Bogons => "generated bogon block",
        RuleOrigin::PrivateNetworks => "generated private-network block",
        RuleOrigin::DefaultPassOut => "generated pass-out rule",
        RuleOrigin::AntiLockout => "anti-lockout rule",
        RuleOrigin::PortForwardPass => "port forward with pass association",
        RuleOrigin::Icmp6Required => "generated IPv6 ICMP pass rule",
        RuleOrigin::PortZero => "generated port 0 block",
    }
}
