//! Operator tools built on the firewall model of `pfsense-firewall`: the parsed firewall log,
//! "why is this passed or blocked", the block-addresses plan, diagnose and the health report.
//! Each handler reads what it needs through the client (GETs only) and returns structured
//! content plus a short Markdown text. Not wired into the server yet (see the crate README).

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::outcome;
use crate::spec::Method;
use pfsense_firewall::health::{self, HealthInput};
use pfsense_firewall::log::{self, LogFilter, ParseOptions};
use pfsense_firewall::model::{ApiInput, ModelPart, NotRead};
use pfsense_firewall::{FirewallModel, Query, block_addresses_plan};
use rmcp::model::CallToolResult;
use serde::Deserialize;
use serde_json::{Value, json};

pub const FIREWALL_LOG: &str = "pfsense_firewall_log";
pub const EXPLAIN_TRAFFIC: &str = "pfsense_explain_traffic";
pub const BLOCK_ADDRESSES: &str = "pfsense_block_addresses";
pub const DIAGNOSE: &str = "pfsense_diagnose";
pub const HEALTH_REPORT: &str = "pfsense_health_report";

/// Entries a log answer lists at most (the summary covers all of them).
const MAX_LOG_ENTRIES: usize = 50;
/// Rejected lines shown at most (all are counted).
const MAX_REJECTED_SHOWN: usize = 20;
/// Lines read from the firewall log at most.
const LOG_READ_LIMIT: u64 = 2000;

fn get_def(path: &str) -> Option<&'static ToolDef> {
    TOOLS
        .iter()
        .find(|d| d.method == Method::Get && d.path == path)
}

/// A GET through the ordinary call path (retries, breaker, metrics).
pub(crate) async fn read(client: &Client, path: &str, args: Value) -> Result<Value, String> {
    let def = get_def(path).ok_or_else(|| format!("the spec has no GET {path}"))?;
    client
        .call(def, &args)
        .await
        .map(|r| r.data())
        .map_err(|e| format!("GET {path}: {e}"))
}

/// A read whose failure degrades the answer instead of failing it; the failure becomes a note.
async fn read_or_note(client: &Client, path: &str, notes: &mut Vec<String>) -> Value {
    match read(client, path, json!({})).await {
        Ok(v) => v,
        Err(e) => {
            notes.push(e);
            Value::Null
        }
    }
}

/// Reads an optional part of the model; a failure is recorded in `not_read` and the part
/// left empty.
async fn read_part(
    client: &Client,
    path: &str,
    part: ModelPart,
    not_read: &mut Vec<NotRead>,
) -> Value {
    match read(client, path, json!({})).await {
        Ok(v) => v,
        Err(error) => {
            not_read.push(NotRead { part, error });
            Value::Null
        }
    }
}

/// The optional parts of the model: where each is read and where it lands.
const OPTIONAL_PARTS: &[(&str, ModelPart, Slot)] = &[
    (
        "/api/v2/firewall/nat/port_forwards",
        ModelPart::PortForwards,
        |i| &mut i.port_forwards,
    ),
    (
        "/api/v2/firewall/nat/outbound/mappings",
        ModelPart::OutboundNat,
        |i| &mut i.outbound_nat,
    ),
    (
        "/api/v2/status/interfaces",
        ModelPart::InterfaceStatus,
        |i| &mut i.interface_status,
    ),
    (
        "/api/v2/interface/groups",
        ModelPart::InterfaceGroups,
        |i| &mut i.interface_groups,
    ),
    ("/api/v2/routing/gateways", ModelPart::Gateways, |i| {
        &mut i.gateways
    }),
    (
        "/api/v2/routing/static_routes",
        ModelPart::StaticRoutes,
        |i| &mut i.static_routes,
    ),
    (
        "/api/v2/routing/gateway/default",
        ModelPart::DefaultGateway,
        |i| &mut i.default_gateway,
    ),
    ("/api/v2/system/webgui/settings", ModelPart::WebGui, |i| {
        &mut i.webgui
    }),
    ("/api/v2/services/ssh", ModelPart::Ssh, |i| &mut i.ssh),
    ("/api/v2/firewall/virtual_ips", ModelPart::VirtualIps, |i| {
        &mut i.virtual_ips
    }),
    (
        "/api/v2/firewall/nat/one_to_one/mappings",
        ModelPart::OneToOneNat,
        |i| &mut i.one_to_one_nat,
    ),
];

/// Reads `parts` of `OPTIONAL_PARTS` into `input`, each failed read into `not_read`.
async fn read_parts(
    client: &Client,
    input: &mut ApiInput,
    parts: &[ModelPart],
    not_read: &mut Vec<NotRead>,
) {
    for (path, part, slot) in OPTIONAL_PARTS.iter().filter(|(_, p, _)| parts.contains(p)) {
        *slot(input) = read_part(client, path, *part, not_read).await;
    }
}

/// Reads rules, aliases, NAT (port forwards, outbound, 1:1), interfaces, groups, gateways,
/// routes, the default gateway, the webGUI/SSH settings and the virtual IPs.
/// Rules, aliases and interfaces are required; the rest, when unreadable, are listed in the
/// model's `not_read` (which the evaluator reads as unknown) and in the notes returned.
pub async fn read_model(client: &Client) -> Result<(FirewallModel, Vec<String>), String> {
    let (rules, aliases, interfaces) = futures::join!(
        read(client, "/api/v2/firewall/rules", json!({})),
        read(client, "/api/v2/firewall/aliases", json!({})),
        read(client, "/api/v2/interfaces", json!({})),
    );
    let mut not_read = Vec::new();
    let mut input = ApiInput {
        rules: rules?,
        aliases: aliases?,
        interfaces: interfaces?,
        ..ApiInput::default()
    };
    let every_part: Vec<ModelPart> = OPTIONAL_PARTS.iter().map(|(_, part, _)| *part).collect();
    read_parts(client, &mut input, &every_part, &mut not_read).await;
    let notes = not_read.iter().map(|n| n.error.clone()).collect();
    input.not_read = not_read;
    Ok((FirewallModel::from_api(&input), notes))
}

/// The parts of the model that hold the firewall's addresses: interfaces (required), their
/// status (dynamic addresses) and the virtual IPs, and with `nat` the port forwards and 1:1
/// NAT mappings that may send connections to them elsewhere; each unread one in `not_read`.
/// All the lockout guard's check of the address this server's URL leads to needs, without the
/// rest's reads.
pub async fn read_addresses(client: &Client, nat: bool) -> Result<FirewallModel, String> {
    let mut not_read = Vec::new();
    let mut input = ApiInput {
        interfaces: read(client, "/api/v2/interfaces", json!({})).await?,
        ..ApiInput::default()
    };
    let mut parts = vec![ModelPart::InterfaceStatus, ModelPart::VirtualIps];
    if nat {
        parts.extend([ModelPart::PortForwards, ModelPart::OneToOneNat]);
    }
    read_parts(client, &mut input, &parts, &mut not_read).await;
    input.not_read = not_read;
    Ok(FirewallModel::from_api(&input))
}

/// The lists only the alias guard reads (`guard::ALIAS_USERS`): objects that may name an alias
/// but play no part in the traffic model (the 1:1 NAT mappings do, and `read_model` reads
/// them). Read only for a change that takes an alias away, so other changes cost no extra
/// request.
const ALIAS_USER_LISTS: &[(&str, Slot)] = &[
    ("/api/v2/vpn/openvpn/servers", |i| &mut i.openvpn_servers),
    ("/api/v2/vpn/openvpn/clients", |i| &mut i.openvpn_clients),
    ("/api/v2/vpn/openvpn/csos", |i| &mut i.openvpn_csos),
];

/// Where a read lands in the model's input.
type Slot = fn(&mut ApiInput) -> &mut Value;

/// Reads into `input` the lists that may name an alias beyond the model's own
/// (`ALIAS_USER_LISTS`). Err names the reads that failed: an unread list could hide a user.
pub async fn read_alias_users(client: &Client, input: &mut ApiInput) -> Result<(), String> {
    let mut failed = Vec::new();
    for (path, slot) in ALIAS_USER_LISTS {
        match read(client, path, json!({})).await {
            Ok(v) => *slot(input) = v,
            Err(e) => failed.push(e),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// The objects `named` lists, and the lists that may name one (`named.users`, in order), read
/// when a change takes a name away. Err names the reads that failed: an unread list could hide
/// a user.
pub async fn read_name_users(
    client: &Client,
    named: &pfsense_firewall::guard::NamedObjects,
) -> Result<(Value, Vec<Value>), String> {
    let mut failed = Vec::new();
    let paths = std::iter::once(named.path).chain(named.users.iter().map(|u| u.path));
    let mut lists = Vec::new();
    for path in paths {
        match read(client, path, json!({})).await {
            Ok(v) => lists.push(v),
            Err(e) => failed.push(e),
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("; "));
    }
    let objects = lists.remove(0);
    Ok((objects, lists))
}

fn parse_args<T: for<'de> Deserialize<'de>>(tool: &str, args: &Value) -> Result<T, String> {
    serde_json::from_value(args.clone()).map_err(|e| format!("{tool}: {e}"))
}

/// The current UTC year, for BSD syslog lines that carry none.
fn current_year() -> i32 {
    crate::safety::time::today().0 as i32
}

// No `deny_unknown_fields`: serde does not support it together with `flatten`.
#[derive(Debug, Default, Deserialize)]
pub struct FirewallLogArgs {
    #[serde(default, flatten)]
    pub filter: LogFilter,
    /// Top-N in the summaries (default 10).
    #[serde(default)]
    pub top: Option<usize>,
}

/// `pfsense_firewall_log`: parsed entries, filters, summaries, rejected lines.
pub async fn firewall_log(client: &Client, args: &Value) -> CallToolResult {
    let args: FirewallLogArgs = match parse_args(FIREWALL_LOG, args) {
        Ok(a) => a,
        Err(e) => return outcome::error(e),
    };
    let raw = match read(
        client,
        "/api/v2/status/logs/firewall",
        json!({"limit": LOG_READ_LIMIT}),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return outcome::error(e),
    };
    let opts = ParseOptions {
        assume_year: Some(current_year()),
        utc_offset_minutes: 0,
    };
    let parsed = log::parse_api_log(&raw, opts);
    let (model, mut notes) = match read_model(client).await {
        Ok((m, n)) => (Some(m), n),
        Err(e) => (
            None,
            vec![format!(
                "rules could not be read, entries are not joined to rules: {e}"
            )],
        ),
    };
    notes.push(
        "BSD syslog lines carry no year or zone: the current year and UTC are assumed.".into(),
    );
    let matched = log::filter(&parsed.entries, &args.filter, model.as_ref());
    let summary = log::summarize(&matched, model.as_ref(), args.top.unwrap_or(10));
    let shown: Vec<Value> = matched
        .iter()
        .rev()
        .take(MAX_LOG_ENTRIES)
        .map(|e| {
            let rule = e
                .tracker
                .and_then(|t| model.as_ref().and_then(|m| log::describe_tracker(m, t)));
            json!({"entry": e, "rule": rule})
        })
        .collect();
    let mut md = format!(
        "Firewall log: {} lines read, {} parsed, {} not parsed; {} match the filter.\n",
        parsed.total_lines,
        parsed.entries.len(),
        parsed.rejected.len(),
        matched.len()
    );
    for (title, list) in [
        ("Top blocked sources", &summary.top_blocked_sources),
        (
            "Top blocked destinations",
            &summary.top_blocked_destinations,
        ),
        ("Top blocked ports", &summary.top_blocked_ports),
    ] {
        if !list.is_empty() {
            let items: Vec<String> = list
                .iter()
                .map(|c| format!("{} ({})", c.key, c.count))
                .collect();
            md.push_str(&format!("\n{title}: {}\n", items.join(", ")));
        }
    }
    if !summary.hits_per_rule.is_empty() {
        md.push_str("\nHits per rule:\n");
        for h in summary.hits_per_rule.iter().take(args.top.unwrap_or(10)) {
            let name = h
                .rule
                .as_ref()
                .map(|r| r.descr.clone())
                .unwrap_or_else(|| "unknown rule".into());
            let tracker = h
                .tracker
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into());
            md.push_str(&format!(
                "- {name} (tracker {tracker}): {} × {}\n",
                h.count,
                h.actions.join("/")
            ));
        }
    }
    if !parsed.rejected.is_empty() {
        md.push_str(&format!(
            "\n{} line(s) could not be parsed; see `rejected`.\n",
            parsed.rejected.len()
        ));
    }
    let structured = json!({
        "total_lines": parsed.total_lines,
        "parsed": parsed.entries.len(),
        "matched": matched.len(),
        "entries": shown,
        "summary": summary,
        "rejected_count": parsed.rejected.len(),
        "rejected": parsed.rejected.iter().take(MAX_REJECTED_SHOWN).collect::<Vec<_>>(),
        "notes": notes,
    });
    outcome::result(md, structured, false)
}

/// `pfsense_explain_traffic`: the verdict, the deciding rule, the path, and matching log lines.
pub async fn explain_traffic(client: &Client, args: &Value) -> CallToolResult {
    let mut query: Query = match parse_args(EXPLAIN_TRAFFIC, args) {
        Ok(q) => q,
        Err(e) => return outcome::error(e),
    };
    // `6` and `TCP` are `tcp` to the rules and to the log lines alike.
    query.protocol = match pfsense_firewall::explain::canonical_protocol(&query.protocol) {
        Ok(p) => p,
        Err(e) => return outcome::error(format!("{EXPLAIN_TRAFFIC}: {e}")),
    };
    let (model, mut notes) = match read_model(client).await {
        Ok(m) => m,
        Err(e) => return outcome::error(e),
    };
    let explanation = match model.explain(&query) {
        Ok(e) => e,
        Err(e) => return outcome::error(e.to_string()),
    };
    let log_lines: Vec<log::LogEntry> = match read(
        client,
        "/api/v2/status/logs/firewall",
        json!({"limit": LOG_READ_LIMIT}),
    )
    .await
    {
        Ok(raw) => {
            let parsed = log::parse_api_log(
                &raw,
                ParseOptions {
                    assume_year: Some(current_year()),
                    utc_offset_minutes: 0,
                },
            );
            log::entries_for_query(&parsed.entries, &query, &model)
                .into_iter()
                .rev()
                .take(MAX_LOG_ENTRIES)
                .cloned()
                .collect()
        }
        Err(e) => {
            notes.push(format!("the firewall log could not be read: {e}"));
            Vec::new()
        }
    };
    let mut md = explanation.markdown(&query);
    if !notes.is_empty() {
        md.push_str("\nCould not be read:\n");
        for n in &notes {
            md.push_str(&format!("- {n}\n"));
        }
    }
    if !log_lines.is_empty() {
        md.push_str(&format!(
            "\n{} matching firewall log line(s).\n",
            log_lines.len()
        ));
    }
    let structured = json!({
        "explanation": explanation,
        "log_lines": log_lines,
        "model_issues": model.issues,
        "notes": notes,
    });
    outcome::result(md, structured, false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockArgs {
    pub addresses: Vec<String>,
    pub interface: String,
    /// The MCP server's address as the firewall sees it, to check the plan against a lockout.
    #[serde(default)]
    pub server_source: Option<std::net::IpAddr>,
}

/// The generated tool that makes an API call of the plan.
fn tool_for(method: &str, path: &str) -> Option<&'static str> {
    let m = match method {
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Get,
    };
    TOOLS
        .iter()
        .find(|d| d.method == m && d.path == path)
        .map(|d| d.name)
}

/// The plan's calls as changes to the firewall model (the apply changes nothing in it).
fn plan_changes(
    calls: &[pfsense_firewall::block::ApiCall],
) -> Result<Vec<pfsense_firewall::Change>, String> {
    use pfsense_firewall::guard::{ChangeOp, ObjectKind};
    calls
        .iter()
        .filter(|c| c.path != "/api/v2/firewall/apply")
        .map(|c| {
            let kind = match c.path {
                "/api/v2/firewall/alias" => ObjectKind::Alias,
                "/api/v2/firewall/rule" => ObjectKind::Rule,
                other => return Err(format!("the lockout check does not know {other}")),
            };
            let op = match c.method {
                "POST" => ChangeOp::Create,
                "PATCH" => ChangeOp::Update,
                other => return Err(format!("the lockout check does not know {other}")),
            };
            Ok(pfsense_firewall::Change {
                kind,
                op,
                id: (op == ChangeOp::Update).then(|| c.body["id"].clone()),
                object: c.body.clone(),
            })
        })
        .collect()
}

/// `pfsense_block_addresses`: the idempotent plan and the tool calls that carry it out. The
/// calls go through the generated tools (previews, confirmation, journal), not from here.
/// The plan is checked against a lockout from `server_source`, else the server's
/// `--lockout-source`.
pub async fn block_addresses(
    client: &Client,
    args: &Value,
    lockout_source: Option<std::net::IpAddr>,
) -> CallToolResult {
    let args: BlockArgs = match parse_args(BLOCK_ADDRESSES, args) {
        Ok(a) => a,
        Err(e) => return outcome::error(e),
    };
    let (model, notes) = match read_model(client).await {
        Ok(m) => m,
        Err(e) => return outcome::error(e),
    };
    let plan = match block_addresses_plan(&model, &args.addresses, &args.interface) {
        Ok(p) => p,
        Err(e) => return outcome::error(e.to_string()),
    };
    let steps: Vec<Value> = plan
        .calls
        .iter()
        .map(|c| json!({"tool": tool_for(c.method, c.path), "arguments": c.body, "why": c.why}))
        .collect();
    // The whole plan's end state is judged: the alias as created or updated together with the
    // rule as created, updated or enabled.
    let source = args
        .server_source
        .or(lockout_source)
        .filter(|_| !plan.already_in_place());
    let path = match source {
        Some(source) => {
            Some(crate::lockout::server_path(source, client.base_url(), &client.config().tls).await)
        }
        None => None,
    };
    let guard = path.map(|path| match plan_changes(&plan.calls) {
        Ok(changes) => pfsense_firewall::check_lockout_all(&model, &changes, &path),
        Err(e) => pfsense_firewall::GuardReport {
            decision: pfsense_firewall::GuardDecision::Unknown,
            reason: e,
            interface: None,
            api_address: None,
            ports: Vec::new(),
            cannot_know: Vec::new(),
        },
    });
    let mut md = if plan.already_in_place() {
        format!(
            "Already in place: alias {} holds every address and its block rule exists on {}. Nothing to do.\n",
            plan.alias, plan.interface
        )
    } else {
        let mut s = format!(
            "Plan to block {} address(es) on {} ({} new), {} call(s). Nothing is changed yet: call each step's tool with its arguments plus `confirm: true`, in order (each has its own preview, journal entry and undo):\n",
            plan.addresses.len(),
            plan.interface,
            plan.new_addresses.len(),
            steps.len()
        );
        for (i, (c, step)) in plan.calls.iter().zip(&steps).enumerate() {
            s.push_str(&format!(
                "{}. {} {} — {}\n",
                i + 1,
                step["tool"].as_str().unwrap_or(c.path),
                c.body,
                c.why
            ));
        }
        s
    };
    if let Some(g) = &guard {
        md.push_str(&format!(
            "\nLockout check: {:?}: {}\n",
            g.decision, g.reason
        ));
    }
    let structured = json!({"plan": plan, "steps": steps, "lockout_check": guard, "notes": notes});
    outcome::result(md, structured, false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseArgs {
    /// `connectivity`, `dhcp` or `vpn`.
    pub area: String,
}

/// `pfsense_diagnose`: one area's findings.
pub async fn diagnose(client: &Client, args: &Value) -> CallToolResult {
    let args: DiagnoseArgs = match parse_args(DIAGNOSE, args) {
        Ok(a) => a,
        Err(e) => return outcome::error(e),
    };
    let mut notes = Vec::new();
    let report = match args.area.as_str() {
        "connectivity" => {
            let gw = read_or_note(client, "/api/v2/status/gateways", &mut notes).await;
            let ifs = read_or_note(client, "/api/v2/status/interfaces", &mut notes).await;
            health::diagnose_connectivity(&gw, &ifs)
        }
        "dhcp" => {
            let servers = read_or_note(client, "/api/v2/services/dhcp_servers", &mut notes).await;
            let leases =
                read_or_note(client, "/api/v2/status/dhcp_server/leases", &mut notes).await;
            health::diagnose_dhcp(&servers, &leases)
        }
        "vpn" => {
            let sas = read_or_note(client, "/api/v2/status/ipsec/sas", &mut notes).await;
            let ovs = read_or_note(client, "/api/v2/status/openvpn/servers", &mut notes).await;
            let ovc = read_or_note(client, "/api/v2/status/openvpn/clients", &mut notes).await;
            let wgt = read_or_note(client, "/api/v2/vpn/wireguard/tunnels", &mut notes).await;
            let wgp = read_or_note(client, "/api/v2/vpn/wireguard/peers", &mut notes).await;
            health::diagnose_vpn(&sas, &ovs, &ovc, &wgt, &wgp)
        }
        other => {
            return outcome::error(format!(
                "{DIAGNOSE}: area `{other}` is not one of connectivity, dhcp, vpn"
            ));
        }
    };
    let report = health::with_unread(report, &notes);
    outcome::result(
        report.markdown.clone(),
        json!({"report": report, "notes": notes}),
        false,
    )
}

/// `pfsense_health_report`: system resources, interfaces, gateways, services.
pub async fn health_report(client: &Client) -> CallToolResult {
    let mut notes = Vec::new();
    let input = HealthInput {
        system: read_or_note(client, "/api/v2/status/system", &mut notes).await,
        interfaces: read_or_note(client, "/api/v2/status/interfaces", &mut notes).await,
        gateways: read_or_note(client, "/api/v2/status/gateways", &mut notes).await,
        services: read_or_note(client, "/api/v2/status/services", &mut notes).await,
        certificates: Vec::new(),
        now: 0,
        pending_applies: Vec::new(),
    };
    let report = health::with_unread(health::health_report(&input), &notes);
    let certificates = "Certificate expiry is not checked yet: the API returns the certificate body, which needs X.509 decoding.";
    notes.push(certificates.into());
    let md = format!("{}- note: {certificates}\n", report.markdown);
    outcome::result(md, json!({"report": report, "notes": notes}), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_the_handlers_read_is_in_the_spec() {
        for path in [
            "/api/v2/firewall/rules",
            "/api/v2/firewall/aliases",
            "/api/v2/interfaces",
            "/api/v2/firewall/nat/port_forwards",
            "/api/v2/firewall/nat/outbound/mappings",
            "/api/v2/status/interfaces",
            "/api/v2/interface/groups",
            "/api/v2/routing/gateways",
            "/api/v2/routing/static_routes",
            "/api/v2/routing/gateway/default",
            "/api/v2/system/webgui/settings",
            "/api/v2/services/ssh",
            "/api/v2/status/logs/firewall",
            "/api/v2/status/gateways",
            "/api/v2/services/dhcp_servers",
            "/api/v2/status/dhcp_server/leases",
            "/api/v2/status/ipsec/sas",
            "/api/v2/status/openvpn/servers",
            "/api/v2/status/openvpn/clients",
            "/api/v2/vpn/wireguard/tunnels",
            "/api/v2/vpn/wireguard/peers",
            "/api/v2/status/system",
            "/api/v2/status/services",
        ] {
            assert!(get_def(path).is_some(), "no GET {path}");
        }
        for (m, p) in [
            ("POST", "/api/v2/firewall/alias"),
            ("PATCH", "/api/v2/firewall/alias"),
            ("POST", "/api/v2/firewall/rule"),
            ("PATCH", "/api/v2/firewall/rule"),
            ("POST", "/api/v2/firewall/apply"),
        ] {
            assert!(tool_for(m, p).is_some(), "no tool for {m} {p}");
        }
    }

    #[test]
    fn the_year_is_plausible() {
        assert!(current_year() >= 2024);
    }
}
