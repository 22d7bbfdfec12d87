//! `pfsense_health`: is the firewall reachable, how fast and how reliably has it answered,
//! what state is the circuit breaker in, does its REST API version match the spec the tools
//! were generated from, and which subsystems have changes waiting to be applied. It sends its
//! own short-timeout probe past the breaker, so it answers while the breaker is open.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::{CallError, Client};
use crate::request::PreparedRequest;
use crate::resilience::{CallLog, CallRecord, percentile};
use crate::safety::Safety;
use crate::safety::journal::{CallRow, Change, status};
use crate::spec::{Method, Verb};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TOOL_NAME: &str = "pfsense_health";

/// The probe: cheap, authenticated, and it tells the REST API version.
pub const PROBE_PATH: &str = "/api/v2/system/restapi/version";
/// Longest the probe and the apply-status reads may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The metrics window `pfsense_health` reports on.
pub const METRICS_WINDOW: Duration = Duration::from_secs(15 * 60);
/// At most this many calls of the window are looked at.
pub const METRICS_MAX_CALLS: i64 = 10_000;
/// A failure rate above this (transport errors, 5xx, refused by the breaker) is "degraded".
pub const DEGRADED_FAILURE_RATE: f64 = 0.2;

/// Records every finished call of a client in the journal's `calls` table.
pub struct JournalCallLog {
    pub safety: Arc<Safety>,
    pub firewall: String,
}

impl CallLog for JournalCallLog {
    fn record(&self, call: &CallRecord) {
        if let Err(e) = self.safety.journal.record_call(&self.firewall, call) {
            tracing::warn!("call metrics: {e}");
        }
    }
}

fn get_def(path: &str) -> Option<&'static ToolDef> {
    TOOLS
        .iter()
        .find(|d| d.method == Method::Get && d.path == path)
}

/// Latency percentiles, error rates and the busiest tools over the window.
pub fn summarize(rows: &[CallRow]) -> Value {
    let failed = |r: &CallRow| {
        matches!(
            r.outcome.as_str(),
            "server_error" | "transport" | "not_sent"
        ) || (r.outcome == "not_json" && r.http_status.unwrap_or(0) >= 500)
    };
    let mut latencies: Vec<u64> = rows
        .iter()
        .filter(|r| r.outcome != "not_sent")
        .map(|r| r.latency_ms)
        .collect();
    latencies.sort_unstable();
    let calls = rows.len();
    let errors = rows.iter().filter(|r| r.outcome != "ok").count();
    let failures = rows.iter().filter(|r| failed(r)).count();
    let retried = rows.iter().filter(|r| r.attempts > 1).count();
    let rate = |n: usize| {
        if calls == 0 {
            0.0
        } else {
            (n as f64 / calls as f64 * 1000.0).round() / 1000.0
        }
    };
    let pct = |v: &[u64], p: f64| (!v.is_empty()).then(|| percentile(v, p));
    #[derive(Default)]
    struct PerTool {
        calls: usize,
        errors: usize,
        latencies: Vec<u64>,
    }
    let mut by_tool: BTreeMap<&str, PerTool> = BTreeMap::new();
    for r in rows {
        let e = by_tool.entry(r.tool.as_str()).or_default();
        e.calls += 1;
        if r.outcome != "ok" {
            e.errors += 1;
        }
        if r.outcome != "not_sent" {
            e.latencies.push(r.latency_ms);
        }
    }
    let mut tools: Vec<(&str, PerTool)> = by_tool.into_iter().collect();
    tools.sort_by(|a, b| b.1.calls.cmp(&a.1.calls).then(a.0.cmp(b.0)));
    let tools: Vec<Value> = tools
        .into_iter()
        .take(10)
        .map(|(tool, mut t)| {
            t.latencies.sort_unstable();
            json!({
                "tool": tool,
                "calls": t.calls,
                "errors": t.errors,
                "p50_ms": pct(&t.latencies, 50.0),
                "p95_ms": pct(&t.latencies, 95.0),
            })
        })
        .collect();
    json!({
        "window_s": METRICS_WINDOW.as_secs(),
        "calls": calls,
        "errors": errors,
        "error_rate": rate(errors),
        "failures": failures,
        "failure_rate": rate(failures),
        "retried_calls": retried,
        "latency_ms": {
            "p50": pct(&latencies, 50.0),
            "p95": pct(&latencies, 95.0),
            "p99": pct(&latencies, 99.0),
        },
        "by_tool": tools,
    })
}

fn normalized_version(v: &str) -> &str {
    v.trim().trim_start_matches(['v', 'V'])
}

/// Writes pfSense's apply status cannot show: (pfrest model, the journal change kinds it is
/// blind to, empty = every write). A pfrest model marks its subsystem dirty only when it sets
/// `$subsystem` (`Core/Model.inc`, v2.7.1 to v2.10.0); these set none (nor `$always_apply`), so
/// after a write without `apply` the apply status reads `applied: true` while the change is not
/// in effect. For them the journal says what is pending: [`unapplied_in_journal`].
/// - `FirewallRule`: the rule is not in `rules.debug` until the firewall apply (measured on the
///   lab: `health_lists_a_rule_change_left_unapplied`, `pending_subsystems_are_pfrests`).
/// - `OutboundNATMode`: `rules.debug` keeps the old outbound NAT until the firewall apply.
/// - `TrafficShaperLimiterBandwidth`: its limiter's pipe (`rules.limiter`) keeps the old
///   bandwidth until a filter reload; `GET /firewall/apply` reads the `shaper` mark its parent
///   limiter sets, so the firewall apply is the one. Both measured on the lab:
///   `health_lists_other_blind_changes_left_unapplied`.
/// - `WireGuardTunnelAddress`, `WireGuardPeerAllowedIP`: `pre_apply` only queues the tunnel
///   (`wg_apply_list_add`, which marks nothing) for the WireGuard apply's `wg_tunnel_sync`; the
///   lab shows the status, not the tunnel (its WireGuard is a stand-in).
/// - `HAProxyBackend`, `HAProxyFrontend`, `HAProxyFile`, replacements only: their create,
///   update and delete touch `/var/run/haproxy.conf.dirty` in `pre_apply`, which the HAProxy
///   status reads, but `Model::replace_all()` runs no `pre_apply` (lab: status only, the
///   HAProxy package is a stand-in).
///
/// Not listed: `FirewallAdvancedSettings` also marks nothing, but its `aliasesresolveinterval`
/// takes effect only when its own write applies (that apply restarts filterdns; the firewall
/// apply only sends filterdns a HUP), so naming the firewall apply would mislead.
pub const APPLY_STATUS_BLIND: &[(&str, &[&str])] = &[
    ("FirewallRule", &[]),
    ("OutboundNATMode", &[]),
    ("TrafficShaperLimiterBandwidth", &[]),
    ("WireGuardTunnelAddress", &[]),
    ("WireGuardPeerAllowedIP", &[]),
    ("HAProxyBackend", &["replace"]),
    ("HAProxyFrontend", &["replace"]),
    ("HAProxyFile", &["replace"]),
];

/// Whether pfSense's apply status misses a journaled change ([`APPLY_STATUS_BLIND`]).
fn status_blind_to(row: &Change) -> bool {
    APPLY_STATUS_BLIND.iter().any(|(model, kinds)| {
        *model == row.model && (kinds.is_empty() || kinds.contains(&row.kind.as_str()))
    })
}

/// How many of a firewall's newest journal rows [`unapplied_in_journal`] looks at.
const JOURNAL_ROWS_READ: i64 = 1_000;

/// The apply tools an executed journal row ran: the apply tool itself, a change's own apply
/// when sent with `apply: true`, the steps of an undo (whose last step is the apply).
fn applied_by(row: &Change) -> Vec<&str> {
    if row.status != status::EXECUTED {
        return Vec::new();
    }
    let mut tools = vec![row.tool.as_str()];
    if sent_with_apply(&row.request) {
        tools.extend(row.apply_tool.as_deref());
    }
    if let Some(steps) = row.request["steps"].as_array() {
        tools.extend(steps.iter().filter_map(|s| s["tool"].as_str()));
    }
    tools
}

/// `apply: true` in a journaled request's body or query string.
fn sent_with_apply(request: &Value) -> bool {
    request["body"]["apply"] == true
        || request["path"].as_str().is_some_and(|p| {
            p.split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|kv| kv == "apply=true"))
        })
}

/// The changes to [`APPLY_STATUS_BLIND`] models in `newest_first` (journal rows) that no later
/// row applied: per apply tool (in the order of their newest change), their change ids, oldest
/// first.
pub fn unapplied_in_journal(newest_first: &[Change]) -> Vec<(&str, Vec<i64>)> {
    let mut found: Vec<(&str, Vec<i64>)> = Vec::new();
    let mut applied_later: Vec<&str> = Vec::new();
    for row in newest_first {
        if let Some(apply_tool) = row.apply_tool.as_deref()
            && row.status == status::EXECUTED
            && status_blind_to(row)
            && !applied_later.contains(&apply_tool)
            && !sent_with_apply(&row.request)
        {
            match found.iter_mut().find(|(tool, _)| *tool == apply_tool) {
                Some((_, ids)) => ids.insert(0, row.id),
                None => found.push((apply_tool, vec![row.id])),
            }
        }
        for tool in applied_by(row) {
            if !applied_later.contains(&tool) {
                applied_later.push(tool);
            }
        }
    }
    found
}

/// Put the journal's unapplied changes of `apply_tool` into the apply statuses read: its
/// subsystem moves from `applied` to `pending`, with the change ids.
fn add_unapplied(applies: &mut Value, apply_tool: &str, ids: &[i64]) {
    let subsystem = crate::catalog::tool(apply_tool).map_or(apply_tool, |d| subsystem_of(d.path));
    if let Some(applied) = applies["applied"].as_array_mut() {
        applied.retain(|s| s != subsystem);
    }
    match applies["pending"].as_array_mut() {
        Some(pending) => match pending.iter_mut().find(|p| p["subsystem"] == subsystem) {
            Some(entry) => entry["unapplied_changes"] = json!(ids),
            None => pending.push(json!({"subsystem": subsystem, "apply_tool": apply_tool,
                "unapplied_changes": ids, "seen_in": "journal"})),
        },
        // Not read from the firewall: the journal's part alone.
        None => applies["unapplied_changes"][apply_tool] = json!(ids),
    }
}

/// The subsystem an apply or apply-status path names: `/api/v2/firewall/apply` → `firewall`.
fn subsystem_of(path: &str) -> &str {
    path.trim_start_matches("/api/v2/")
        .trim_end_matches("/apply")
}

/// Read every apply status endpoint at once (short timeout, past the breaker).
async fn pending_applies(client: &Client) -> Value {
    let defs: Vec<&'static ToolDef> = TOOLS
        .iter()
        .filter(|d| d.verb == Verb::ApplyStatus)
        .collect();
    let reads = defs.iter().map(|def| async move {
        let result = match PreparedRequest::build(def, &json!({})) {
            Ok(request) => client.probe(def, &request, PROBE_TIMEOUT).await,
            Err(e) => Err(CallError::Arguments(e.0)),
        };
        (def, result)
    });
    let mut pending = Vec::new();
    let mut applied = Vec::new();
    let mut unknown = Vec::new();
    for (def, result) in futures::future::join_all(reads).await {
        let subsystem = subsystem_of(def.path).to_string();
        match result {
            Ok(response) => {
                let data = response.data();
                match data.get("applied").and_then(Value::as_bool) {
                    Some(true) => applied.push(Value::String(subsystem)),
                    Some(false) => {
                        let apply_tool = TOOLS
                            .iter()
                            .find(|d| d.verb == Verb::Apply && d.path == def.path)
                            .map(|d| d.name);
                        let mut entry = json!({"subsystem": subsystem, "apply_tool": apply_tool});
                        for extra in ["pending_subsystems", "pending_interfaces"] {
                            if let Some(v) = data.get(extra) {
                                entry[extra] = v.clone();
                            }
                        }
                        pending.push(entry);
                    }
                    None => unknown.push(
                        json!({"subsystem": subsystem, "why": "no `applied` field in the answer"}),
                    ),
                }
            }
            Err(CallError::Api { envelope, .. })
                if envelope.response_id == "MODEL_MISSING_REQUIRED_PACKAGE" =>
            {
                unknown.push(json!({"subsystem": subsystem, "why": "package not installed"}))
            }
            Err(e) => unknown.push(json!({"subsystem": subsystem, "why": e.to_string()})),
        }
    }
    json!({"pending": pending, "applied": applied, "unknown": unknown})
}

/// The health report.
pub async fn report(client: &Client, safety: Option<&Safety>, firewall: &str) -> CallToolResult {
    let mut notes: Vec<String> = Vec::new();
    let timeout = client.config().timeout.min(PROBE_TIMEOUT);
    let probe_def = get_def(PROBE_PATH);
    let started = Instant::now();
    let probe = match probe_def.map(|d| (d, PreparedRequest::build(d, &json!({})))) {
        Some((def, Ok(request))) => client.probe(def, &request, timeout).await,
        _ => Err(CallError::Arguments(format!(
            "the spec has no GET {PROBE_PATH} to probe with"
        ))),
    };
    let probe_ms = started.elapsed().as_millis() as u64;
    let (reachable, answered_ok, reachability) = match &probe {
        Ok(r) => (
            true,
            true,
            json!({"reachable": true, "http_status": r.http_status, "latency_ms": probe_ms}),
        ),
        Err(CallError::Api {
            http_status,
            envelope,
        }) => {
            notes.push(format!(
                "the probe GET {PROBE_PATH} was refused: HTTP {http_status} {} ({})",
                envelope.response_id, envelope.message
            ));
            (
                true,
                false,
                json!({"reachable": true, "http_status": http_status, "latency_ms": probe_ms, "error": envelope.response_id}),
            )
        }
        Err(CallError::NotJson { http_status, .. }) => {
            notes.push(format!(
                "the probe got HTTP {http_status} without the REST API's JSON: is the REST API package installed?"
            ));
            (
                true,
                false,
                json!({"reachable": true, "http_status": http_status, "latency_ms": probe_ms, "error": "not the REST API's JSON"}),
            )
        }
        Err(e) => {
            notes.push(format!("the probe failed: {e}"));
            (
                false,
                false,
                json!({"reachable": false, "latency_ms": probe_ms, "error": e.to_string()}),
            )
        }
    };

    let compiled = crate::catalog::SPEC_VERSION;
    let version = match &probe {
        Ok(r) => {
            let data = r.data();
            let on_box = data
                .get("current_version")
                .and_then(Value::as_str)
                .map(str::to_string);
            let matches = on_box
                .as_deref()
                .map(|v| normalized_version(v) == normalized_version(compiled));
            if matches == Some(false) {
                notes.push(format!(
                    "the firewall runs REST API {} but the tools were generated from spec {compiled}: pull its spec (`cargo xtask spec pull`) and rebuild",
                    on_box.as_deref().unwrap_or("?")
                ));
            }
            // Whether previews carry the firewall's own dry run (safety/dry_run.rs).
            let dry_run = on_box
                .as_deref()
                .map(|v| crate::safety::dry_run::supported(v).is_ok());
            json!({"on_firewall": on_box, "tools_spec": compiled, "matches": matches,
                   "update_available": data.get("update_available"),
                   "dry_run_previews": dry_run})
        }
        Err(_) => json!({"on_firewall": null, "tools_spec": compiled, "matches": null}),
    };

    let mut applies = if answered_ok {
        pending_applies(client).await
    } else {
        json!({"pending": null, "why": "not read: the probe did not succeed"})
    };
    let rows = safety
        .and_then(|s| s.journal.list(firewall, JOURNAL_ROWS_READ).ok())
        .unwrap_or_default();
    for (apply_tool, ids) in &unapplied_in_journal(&rows) {
        add_unapplied(&mut applies, apply_tool, ids);
        notes.push(format!(
            "changes {ids:?} (made through this server) had no {apply_tool} after them: pfSense's apply status does not show changes of their kind, so they are not in effect until {apply_tool} runs, unless someone applied them elsewhere since"
        ));
    }
    let names: Vec<&str> = applies["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["subsystem"].as_str())
        .collect();
    if !names.is_empty() {
        notes.push(format!(
            "changes waiting to be applied: {}",
            names.join(", ")
        ));
    }

    let breaker = client.breaker().snapshot(Instant::now());
    let breaker_state = client.breaker().state_name();
    if breaker_state == "open" || breaker_state == "half_open" {
        notes.push(format!(
            "the circuit breaker is {breaker_state}: calls fail fast until a probe succeeds (next probe in {} s)",
            breaker["next_probe_in_s"]
        ));
    }

    let metrics = match safety {
        Some(s) => {
            let since = crate::safety::time::now_millis() - METRICS_WINDOW.as_millis() as i64;
            // Metrics are written once the check of the journal's pages is done: waited for
            // here, not on the runtime's thread.
            let _ = s.journal.checked().await;
            match s.journal.recent_calls(firewall, since, METRICS_MAX_CALLS) {
                Ok(rows) => summarize(&rows),
                Err(e) => json!({"error": format!("cannot read the call metrics: {e}")}),
            }
        }
        None => json!({"error": "no call metrics: the journal could not be opened"}),
    };
    let failure_rate = metrics["failure_rate"].as_f64().unwrap_or(0.0);
    if failure_rate > DEGRADED_FAILURE_RATE {
        notes.push(format!(
            "{:.0}% of the calls in the last {} min failed (transport errors, 5xx, or refused by the breaker)",
            failure_rate * 100.0,
            METRICS_WINDOW.as_secs() / 60
        ));
    }

    let status = if !reachable {
        "unreachable"
    } else if !answered_ok
        || (breaker_state != "closed" && breaker_state != "disabled")
        || failure_rate > DEGRADED_FAILURE_RATE
    {
        "degraded"
    } else {
        "healthy"
    };
    let timeouts = json!({
        "ordinary_s": client.current_timeout().as_secs_f64(),
        "ceiling_s": client.config().timeout.as_secs_f64(),
        "retry_budget_s": client.config().resilience.retry_budget.as_secs_f64(),
    });
    let p = &metrics["latency_ms"];
    let mut text = format!(
        "{firewall}: {status}. Probe {} in {probe_ms} ms; breaker {breaker_state}; last {} min: {} calls, error rate {}, latency p50/p95/p99 {}/{}/{} ms.",
        if reachable { "answered" } else { "failed" },
        METRICS_WINDOW.as_secs() / 60,
        metrics["calls"],
        metrics["error_rate"],
        p["p50"],
        p["p95"],
        p["p99"],
    );
    for n in &notes {
        text.push_str("\n- ");
        text.push_str(n);
    }
    let structured = json!({
        "firewall": firewall,
        "status": status,
        "probe": reachability,
        "breaker": breaker,
        "rest_api_version": version,
        "applies": applies,
        "metrics": metrics,
        "timeouts": timeouts,
        "notes": notes,
    });
    crate::outcome::result(text, structured, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(tool: &str, outcome: &str, status: Option<u16>, latency_ms: u64) -> CallRow {
        CallRow {
            ts_ms: 0,
            tool: tool.into(),
            outcome: outcome.into(),
            http_status: status,
            latency_ms,
            attempts: 1,
        }
    }

    #[test]
    fn summary_has_percentiles_rates_and_tools() {
        let mut rows: Vec<CallRow> = (1..=100).map(|i| row("a", "ok", Some(200), i)).collect();
        rows.push(row("b", "server_error", Some(500), 1000));
        rows.push(row("b", "api_error", Some(404), 3));
        rows.push(row("c", "not_sent", None, 0));
        let s = summarize(&rows);
        assert_eq!(s["calls"], 103);
        assert_eq!(s["errors"], 3);
        assert_eq!(s["failures"], 2);
        assert_eq!(s["latency_ms"]["p50"], 50);
        assert_eq!(s["latency_ms"]["p99"], 100);
        assert_eq!(s["by_tool"][0]["tool"], "a");
        assert_eq!(s["by_tool"][1]["errors"], 2);
        let empty = summarize(&[]);
        assert_eq!(empty["calls"], 0);
        assert_eq!(empty["error_rate"], 0.0);
        assert!(empty["latency_ms"]["p50"].is_null());
    }

    fn change(id: i64, tool: &str, model: &str, state: &str, request: Value) -> Change {
        Change {
            id,
            kind: "create".into(),
            request,
            apply_tool: (!model.is_empty()).then(|| APPLY.to_string()),
            status: state.into(),
            ..Change::example(tool, model)
        }
    }

    const APPLY: &str = "pfsense_firewall_apply";
    const RULE: &str = "FirewallRule";

    fn rule_write(id: i64, request: Value) -> Change {
        change(
            id,
            "pfsense_create_firewall_rule",
            RULE,
            status::EXECUTED,
            request,
        )
    }

    fn apply(id: i64, state: &str) -> Change {
        change(
            id,
            APPLY,
            "",
            state,
            json!({"method": "POST", "path": "/api/v2/firewall/apply"}),
        )
    }

    /// `rows` oldest first, as they happened; the journal lists them newest first.
    fn unapplied(mut rows: Vec<Change>) -> Vec<i64> {
        rows.reverse();
        let found = unapplied_in_journal(&rows);
        assert!(found.iter().all(|(k, _)| *k == APPLY), "{found:?}");
        found
            .first()
            .map(|(_, ids)| ids.clone())
            .unwrap_or_default()
    }

    #[test]
    fn rule_changes_with_no_apply_after_them_are_unapplied() {
        let body = |apply: bool| json!({"method": "POST", "path": "/api/v2/firewall/rule", "body": {"apply": apply}});
        assert_eq!(unapplied(vec![rule_write(1, body(false))]), [1]);
        assert_eq!(
            unapplied(vec![rule_write(1, body(false)), apply(2, status::EXECUTED)]),
            Vec::<i64>::new()
        );
        // A failed apply applied nothing; a change after the apply is pending again.
        assert_eq!(
            unapplied(vec![
                rule_write(1, body(false)),
                apply(2, status::FAILED),
                rule_write(3, body(false)),
                apply(4, status::EXECUTED),
                rule_write(5, body(false)),
            ]),
            [5]
        );
        // Sent with `apply: true` (body or query string), or a later change sent so.
        assert_eq!(
            unapplied(vec![rule_write(1, body(true))]),
            Vec::<i64>::new()
        );
        let delete = json!({"method": "DELETE", "path": "/api/v2/firewall/rule?id=3&apply=true"});
        assert_eq!(
            unapplied(vec![rule_write(1, body(false)), rule_write(2, delete)]),
            Vec::<i64>::new()
        );
        // An undo's last step applies; a change undone is no longer executed.
        let undo = change(
            3,
            "pfsense_undo",
            "",
            status::EXECUTED,
            json!({"undo_of": 2, "steps": [{"tool": "pfsense_delete_firewall_rule"}, {"tool": APPLY}]}),
        );
        let undone = change(
            2,
            "pfsense_create_firewall_rule",
            RULE,
            status::UNDONE,
            body(false),
        );
        assert_eq!(
            unapplied(vec![rule_write(1, body(false)), undone, undo]),
            Vec::<i64>::new()
        );
        // Models whose writes pfSense's apply status shows are left to it.
        let alias = change(
            1,
            "pfsense_create_firewall_alias",
            "FirewallAlias",
            status::EXECUTED,
            body(false),
        );
        assert_eq!(unapplied(vec![alias]), Vec::<i64>::new());
    }

    #[test]
    fn the_journal_moves_a_subsystem_read_as_applied_to_pending() {
        let mut applies = json!({"pending": [], "applied": ["firewall", "routing"], "unknown": []});
        add_unapplied(&mut applies, APPLY, &[4, 7]);
        assert_eq!(
            applies,
            json!({"pending": [{"subsystem": "firewall", "apply_tool": APPLY,
                    "unapplied_changes": [4, 7], "seen_in": "journal"}],
                   "applied": ["routing"], "unknown": []})
        );
        let mut not_read = json!({"pending": null, "why": "not read"});
        add_unapplied(&mut not_read, APPLY, &[4]);
        assert_eq!(not_read["unapplied_changes"], json!({APPLY: [4]}));
    }

    #[test]
    fn blind_models_are_written_by_tools_with_an_apply_and_kinds_are_kept_apart() {
        for (model, kinds) in APPLY_STATUS_BLIND {
            let writes: Vec<&ToolDef> = TOOLS
                .iter()
                .filter(|d| d.model == *model && d.apply.is_some())
                .collect();
            assert!(!writes.is_empty(), "{model}: no write with an apply tool");
            for kind in *kinds {
                let verb = if *kind == "replace" {
                    Verb::Replace
                } else {
                    Verb::Create
                };
                assert!(writes.iter().any(|d| d.verb == verb), "{model} {kind}");
            }
        }
        let wireguard = "pfsense_vpn_wireguard_apply";
        let haproxy = "pfsense_services_haproxy_apply";
        let blind = |id: i64, tool: &str, model: &str, kind: &str, apply_tool: &str| Change {
            id,
            kind: kind.into(),
            request: json!({"method": "POST", "path": "/api/v2/x", "body": {}}),
            apply_tool: Some(apply_tool.into()),
            status: status::EXECUTED.into(),
            ..Change::example(tool, model)
        };
        // Newest first: a HAProxy create shows in pfSense's own status, a replacement does not;
        // an address of a WireGuard tunnel is pending under the WireGuard apply.
        let rows = vec![
            blind(
                4,
                "pfsense_create_services_haproxy_backend",
                "HAProxyBackend",
                "create",
                haproxy,
            ),
            blind(
                3,
                "pfsense_replace_services_haproxy_backends",
                "HAProxyBackend",
                "replace",
                haproxy,
            ),
            blind(
                2,
                "pfsense_create_vpn_wireguard_tunnel_address",
                "WireGuardTunnelAddress",
                "create",
                wireguard,
            ),
            blind(
                1,
                "pfsense_update_firewall_nat_outbound_mode",
                "OutboundNATMode",
                "settings",
                APPLY,
            ),
        ];
        assert_eq!(
            unapplied_in_journal(&rows),
            vec![(haproxy, vec![3]), (wireguard, vec![2]), (APPLY, vec![1])]
        );
        let mut applies =
            json!({"pending": [], "applied": ["firewall", "vpn/wireguard"], "unknown": []});
        add_unapplied(&mut applies, wireguard, &[2]);
        assert_eq!(applies["applied"], json!(["firewall"]));
        assert_eq!(
            applies["pending"],
            json!([{"subsystem": "vpn/wireguard", "apply_tool": wireguard,
                    "unapplied_changes": [2], "seen_in": "journal"}])
        );
    }

    #[test]
    fn the_probe_and_apply_reads_exist_in_the_spec() {
        assert!(get_def(PROBE_PATH).is_some());
        assert!(TOOLS.iter().any(|d| d.verb == Verb::ApplyStatus));
        assert_eq!(normalized_version("v2.7.1"), normalized_version("2.7.1"));
    }
}
