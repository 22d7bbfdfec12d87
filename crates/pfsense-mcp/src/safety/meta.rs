//! The safety tools: `pfsense_list_changes`, `pfsense_undo`, `pfsense_confirm_changes`.
//! Their registry entries (names, schemas) are in `crate::meta`; `server.rs` dispatches here.

use super::Safety;
use super::audit::{Entry, Outcome};
use super::elicit::{self, Answer, ConfirmMode};
use super::journal::{Change, status};
use super::{revert, undo};
use crate::client::Client;
use crate::outcome;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// Most changes one `pfsense_undo` call takes back.
pub const MAX_UNDO_AT_ONCE: i64 = 50;

fn ok(text: String, structured: Value) -> CallToolResult {
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    r
}

/// `pfsense_list_changes {limit?, status?}`.
pub fn list_changes(safety: &Safety, firewall: &str, args: &Value) -> CallToolResult {
    let limit = args
        .get("limit")
        .and_then(Value::as_i64)
        .unwrap_or(20)
        .clamp(1, 500);
    let wanted = args.get("status").and_then(Value::as_str);
    match safety.journal.list(firewall, limit) {
        Ok(mut changes) => {
            if let Some(s) = wanted {
                changes.retain(|c| c.status == s);
            }
            let superseded: Vec<Option<i64>> =
                changes.iter().map(|c| superseded_by(c, &changes)).collect();
            let mut text = if changes.is_empty() {
                "No changes in the journal for this firewall.".to_string()
            } else {
                changes
                    .iter()
                    .zip(&superseded)
                    .map(|(c, superseded)| {
                        format!(
                            "change {} {} {} [{}]{}{}{}",
                            c.id,
                            super::time::rfc3339(c.time_ms),
                            c.tool,
                            c.status,
                            if c.undoable() { " undoable" } else { "" },
                            superseded
                                .map(|n| format!(" (but change {n} replaced the whole list since: undo that first, and this one may no longer find its object)"))
                                .unwrap_or_default(),
                            c.provisional_until
                                .map(|t| format!(" provisional until {}", super::time::rfc3339(t)))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let elsewhere = safety.journal.elsewhere(firewall);
            if elsewhere > 0 {
                text.push_str(&format!(
                    "\n{elsewhere} change(s) recorded under the name `{firewall}` were made on another address: they are not this firewall's to list, undo or confirm."
                ));
            }
            let mut summaries = revert::summaries(&changes);
            if let Value::Array(items) = &mut summaries {
                for (item, n) in items.iter_mut().zip(&superseded) {
                    if let Some(n) = n {
                        item["superseded_by"] = json!(n);
                    }
                }
            }
            ok(
                text,
                json!({"journal": safety.journal.location(), "changes": summaries, "other_address_changes": elsewhere}),
            )
        }
        Err(e) => outcome::error(format!("the change journal could not be read: {e}")),
    }
}

/// The newest later change among `listed` that replaced or bulk-deleted the list `c`'s object
/// is in. A replacement's objects are new ones (its rules get new trackers unless it sends
/// them), so an older change to one of them may no longer find it.
fn superseded_by(c: &Change, listed: &[Change]) -> Option<i64> {
    use super::state::ChangeKind;
    let is = |kind: &str, kinds: &[ChangeKind]| kinds.iter().any(|k| k.as_str() == kind);
    let one_object = [ChangeKind::Create, ChangeKind::Update, ChangeKind::Delete];
    if !c.undoable() || !is(&c.kind, &one_object) {
        return None;
    }
    listed
        .iter()
        .filter(|l| l.id > c.id && l.model == c.model && l.undo_of.is_none())
        .filter(|l| is(&l.kind, &[ChangeKind::Replace, ChangeKind::BulkDelete]))
        .filter(|l| l.status == status::EXECUTED || l.status == status::UNDONE)
        .map(|l| l.id)
        .max()
}

/// `pfsense_confirm_changes {change_ids?}`.
pub fn confirm_changes(
    safety: &Safety,
    firewall: &str,
    caller: &str,
    args: &Value,
) -> CallToolResult {
    if safety.options.auto_revert.is_none() {
        return outcome::error(
            "auto-revert is off (--auto-revert SECONDS): no change is provisional, nothing to confirm",
        );
    }
    if let Err(e) = safety.journal.intact() {
        return outcome::error(e);
    }
    let ids: Option<Vec<i64>> = args
        .get("change_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect());
    match revert::confirm(safety, firewall, caller, ids.as_deref()) {
        Ok(revert::Confirmed {
            ids: confirmed,
            left: others,
        }) => {
            let mut entry = Entry::new(
                firewall,
                "pfsense_confirm_changes",
                caller,
                Outcome::Executed,
            );
            entry.arguments = args.clone();
            entry.message = Some(format!("confirmed changes {confirmed:?}"));
            safety.record(&entry);
            let mut text = if confirmed.is_empty() {
                "No provisional change matched: nothing to confirm.".to_string()
            } else {
                format!(
                    "Confirmed change(s) {}: they are permanent and will not be auto-reverted.",
                    confirmed
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            if !others.is_empty() {
                let listed: Vec<String> = others
                    .iter()
                    .map(|(id, by)| format!("change {id} (made by {by})"))
                    .collect();
                text.push_str(&format!(
                    " Left provisional: {}; another caller's change is confirmed by its id in `change_ids`.",
                    listed.join(", ")
                ));
            }
            let others: Vec<Value> = others
                .iter()
                .map(|(id, by)| json!({"change_id": id, "caller": by}))
                .collect();
            ok(
                text,
                json!({"confirmed": confirmed, "left_provisional": others}),
            )
        }
        Err(e) => outcome::error(format!("the change journal could not be updated: {e}")),
    }
}

fn selected(
    safety: &Safety,
    firewall: &str,
    caller: &str,
    args: &Value,
) -> Result<Vec<Change>, String> {
    match (
        args.get("change_id").and_then(Value::as_i64),
        args.get("last").and_then(Value::as_i64),
    ) {
        (Some(_), Some(_)) => Err("pass either `change_id` or `last`, not both".into()),
        (Some(id), None) => match safety.journal.get(id)? {
            Some(c) if safety.journal.is_of(&c, firewall) => Ok(vec![c]),
            _ if !crate::fleet::from_config_file(firewall) => Err(format!(
                "there is no change {id} for this firewall: pfsense_list_changes shows the journal"
            )),
            _ => Err(format!(
                "there is no change {id} for firewall `{firewall}`: pfsense_list_changes shows its journal (a change made on another firewall of the config file is undone with `firewall` naming it)"
            )),
        },
        (None, last) => {
            let n = last.unwrap_or(1);
            if !(1..=MAX_UNDO_AT_ONCE).contains(&n) {
                return Err(format!("`last` must be between 1 and {MAX_UNDO_AT_ONCE}"));
            }
            // Another caller's changes are undone by `change_id` only: `last` is yours.
            let changes = safety.journal.last_undoable(firewall, caller, n)?;
            if changes.is_empty() {
                return Err(format!(
                    "no change of yours ({caller}) in the journal can be undone; another caller's change is undone by its `change_id` (pfsense_list_changes shows who made each)"
                ));
            }
            Ok(changes)
        }
    }
}

/// Why confirming these undos would be refused by the guards on the call path
/// (`crate::lockout::steps_refusal`, which `revert::perform_undo` runs before each undo's
/// steps): each undo's steps judged after those of the undos before it, from the state now.
async fn undo_refusal(
    safety: &Safety,
    client: &Client,
    changes: &[Change],
    steps: &[Vec<undo::Step>],
) -> Option<String> {
    let mut calls: Vec<(&crate::catalog::ToolDef, &Value)> = Vec::new();
    for (c, steps) in changes.iter().zip(steps) {
        calls.extend(steps.iter().map(|s| (s.tool, &s.args)));
        if let Some(why) = crate::lockout::steps_refusal(client, &calls, &safety.options).await {
            return Some(format!("undoing change {} would be refused: {why}", c.id));
        }
    }
    None
}

/// `pfsense_undo {change_id? | last?, confirm?}`: a preview of the steps unless confirmed.
pub async fn undo(
    safety: &Safety,
    client: &Client,
    firewall: &str,
    policy: &crate::policy::Policy,
    caller: &str,
    human: &elicit::Human,
    args: &Value,
) -> CallToolResult {
    safety.settle(client, firewall).await;
    let confirmed = args
        .get("confirm")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let record = |outcome: Outcome, change_id: Option<i64>, message: String| {
        let mut entry = Entry::new(firewall, "pfsense_undo", caller, outcome);
        entry.arguments = args.clone();
        entry.change_id = change_id;
        entry.message = Some(message);
        safety.record(&entry);
    };
    let changes = match selected(safety, firewall, caller, args) {
        Ok(c) => c,
        Err(e) => {
            record(Outcome::Refused, None, e.clone());
            return outcome::error(format!("pfsense_undo: {e}"));
        }
    };
    // Plan every change first (newest first) so a preview shows all of it.
    let mut plans = Vec::new();
    let mut all_steps = Vec::new();
    for (index, c) in changes.iter().enumerate() {
        // Planned against the state the undos before it leave, as it runs once confirmed.
        let newer: Vec<undo::Newer<'_>> = changes[..index]
            .iter()
            .zip(all_steps.iter().map(Vec::as_slice))
            .collect();
        // A port forward created and deleted within the batch: nothing to send for either.
        let prepared = match undo::cancels_out(c, &changes) {
            Some(cancel) => undo::check_cancelled(client, c, &cancel, &newer)
                .await
                .map(|note| (Vec::new(), vec![note])),
            None => {
                let redrawn = revert::links_for(safety, firewall, c, &changes);
                undo::prepare(client, c, &newer, &redrawn)
                    .await
                    .and_then(|steps| match undo::refused_step(&steps, policy, firewall) {
                        Some(refused) => Err(format!("it {refused}")),
                        None => {
                            let said = steps.iter().map(|s| s.description.clone()).collect();
                            Ok((steps, said))
                        }
                    })
            }
        };
        match prepared {
            Ok((steps, said)) => {
                plans.push(json!({
                    "change_id": c.id,
                    "tool": c.tool,
                    "caller": c.caller,
                    "steps": said,
                }));
                all_steps.push(steps);
            }
            Err(e) => {
                let msg = format!(
                    "change {} cannot be undone: {}",
                    c.id,
                    e.trim_end_matches('.')
                );
                record(Outcome::Refused, Some(c.id), msg.clone());
                return outcome::error(format!("pfsense_undo: {msg}. Nothing was undone."));
            }
        }
    }
    // "change N (tool): what its undo does", from a plan and its steps (or what was done).
    let line = |p: &Value, steps: &Value| {
        format!(
            "change {} ({}{}): {}",
            p["change_id"],
            p["tool"].as_str().unwrap_or(""),
            match p["caller"].as_str() {
                Some(by) if by != caller => format!(", made by {by}"),
                _ => String::new(),
            },
            steps
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let lines: Vec<String> = plans.iter().map(|p| line(p, &p["steps"])).collect();
    if !confirmed {
        if let Some(why) = undo_refusal(safety, client, &changes, &all_steps).await {
            record(
                Outcome::Preview,
                changes.first().map(|c| c.id),
                format!("{}; {why}", lines.join(" | ")),
            );
            return outcome::result(
                format!(
                    "Preview only, nothing was changed, and {why} Undoing would:\n{}\nNothing to confirm: do what the refusal says, then preview again.",
                    lines.join("\n")
                ),
                json!({"preview": true, "executed": false, "plan": plans,
                       "refused_when_confirmed": why,
                       "next": "nothing to confirm: pfsense_undo with confirm: true is refused for the reason above; do what it says, then preview again"}),
                true,
            );
        }
        record(
            Outcome::Preview,
            changes.first().map(|c| c.id),
            lines.join(" | "),
        );
        return ok(
            format!(
                "Preview only, nothing was changed. Undoing would:\n{}\nCall pfsense_undo again with the same arguments and `confirm: true` to do it.",
                lines.join("\n")
            ),
            json!({"preview": true, "executed": false, "plan": plans}),
        );
    }
    if safety.options.confirm != ConfirmMode::Flag {
        let message = format!(
            "Approve undoing on the firewall {firewall}:\n{}",
            lines.join("\n")
        );
        match elicit::ask(human, caller, message).await {
            Answer::Approved | Answer::CannotAsk
                if safety.options.confirm == ConfirmMode::Elicit => {}
            Answer::Approved => {}
            Answer::Asked => {
                let msg = "the human at the client was asked to approve it; it runs when the client sends the call again with their answer".to_string();
                record(Outcome::Asked, None, msg.clone());
                return outcome::error(format!("pfsense_undo was not run yet: {msg}"));
            }
            Answer::CannotAsk => {
                let msg = "the server requires a human's approval (--confirm elicit-required) and this client cannot ask".to_string();
                record(Outcome::Refused, None, msg.clone());
                return outcome::error(format!("pfsense_undo was not run: {msg}"));
            }
            Answer::Refused(why) => {
                let msg = format!("not approved ({why})");
                record(Outcome::Refused, None, msg.clone());
                return outcome::error(format!("pfsense_undo was not run: {msg}"));
            }
        }
    }
    let mut undone = Vec::new();
    for c in &changes {
        match revert::perform_undo(
            safety,
            client,
            firewall,
            policy,
            caller,
            c,
            &changes,
            status::UNDONE,
        )
        .await
        .map_err(|e| e.to_string())
        {
            Ok((undo_id, done)) => {
                record(
                    Outcome::Undone,
                    Some(c.id),
                    format!("undone as change {undo_id}: {}", done.join("; ")),
                );
                undone.push(json!({"change_id": c.id, "undo_change_id": undo_id, "done": done}));
            }
            Err(e) => {
                record(Outcome::Failed, Some(c.id), e.clone());
                let mut r = outcome::error(format!(
                    "pfsense_undo: {e}. Undone before this: {}",
                    if undone.is_empty() {
                        "nothing".to_string()
                    } else {
                        Value::Array(undone.clone()).to_string()
                    }
                ));
                if let Some(s) = r.structured_content.as_mut() {
                    s["undone"] = Value::Array(undone);
                }
                return r;
            }
        }
    }
    // What was done: the steps planned, with what a step did besides (`undo::run_step`).
    let done: Vec<String> = plans
        .iter()
        .zip(&undone)
        .map(|(p, u)| line(p, &u["done"]))
        .collect();
    ok(
        format!("Undone: {}", done.join("\n")),
        json!({"executed": true, "undone": undone}),
    )
}

/// The meta tools this module answers.
pub const SAFETY_TOOLS: &[&str] = &[
    "pfsense_confirm_changes",
    "pfsense_list_changes",
    "pfsense_undo",
];

pub fn is_safety_tool(name: &str) -> bool {
    SAFETY_TOOLS.contains(&name)
}

fn subject(meta: &crate::meta::MetaTool) -> crate::policy::Subject<'_> {
    crate::policy::Subject {
        name: meta.name,
        // Undo sends changes to the firewall: read-only mode hides it.
        changes_firewall: !meta.read_only && meta.name != "pfsense_confirm_changes",
        risk: if meta.read_only {
            crate::spec::Risk::Read
        } else {
            crate::spec::Risk::Write
        },
        danger: None,
        module: None,
    }
}

/// Why a safety tool is not offered.
pub fn refusal(
    meta: &crate::meta::MetaTool,
    policy: &crate::policy::Policy,
    auto_revert: bool,
) -> String {
    if meta.name == "pfsense_confirm_changes" && !auto_revert {
        return "pfsense_confirm_changes is only offered when the server runs with --auto-revert SECONDS (PFSENSE_AUTO_REVERT)".into();
    }
    policy
        .refusal_for(subject(meta))
        .unwrap_or_else(|| format!("`{}` is not offered", meta.name))
}

pub fn offered(
    meta: &crate::meta::MetaTool,
    policy: &crate::policy::Policy,
    auto_revert: bool,
) -> bool {
    if meta.name == "pfsense_confirm_changes" && !auto_revert {
        return false;
    }
    policy.refusal_for(subject(meta)).is_none()
}
