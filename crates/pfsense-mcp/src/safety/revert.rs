//! Carrying out undos (on request and when an auto-revert deadline passes), and settling
//! journal rows a killed process left at start.

use super::Safety;
use super::audit::{Entry, Outcome};
use super::journal::{Change, Intent, status};
use super::owners::Running;
use super::undo;
use crate::catalog::ToolDef;
use crate::client::Client;
use crate::policy::Policy;
use crate::spec::{Method, PathKind};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The caller the auto-revert clock's undos are recorded under.
const AUTO_REVERT_CALLER: &str = "pfsense-mcp (auto-revert)";

/// Why an undo did not run (or stopped).
#[derive(Debug, Clone)]
pub enum UndoError {
    /// The firewall's policy refuses a tool the undo needs (read-only, deny, modules):
    /// nothing was sent.
    Refused(String),
    /// The undo cannot be done, or a step failed: says what was done before.
    Failed(String),
}

impl std::fmt::Display for UndoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UndoError::Refused(m) | UndoError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<String> for UndoError {
    fn from(message: String) -> UndoError {
        UndoError::Failed(message)
    }
}

/// What the undos of `batch` and those recorded since `change` did to linked owners, as
/// `change`'s undo reads the states it recorded ([`undo::Redrawn`]): the preview and the
/// confirmed undo (a batch's or an auto-revert's) both plan with it.
pub fn links_for(
    safety: &Safety,
    firewall: &str,
    change: &Change,
    batch: &[Change],
) -> undo::Redrawn {
    redrawn_since(safety, firewall, change).cancelled_around(change, batch)
}

/// The links the undos recorded since `change` drew anew ([`undo::Redrawn`]): each
/// re-creating undo's `after` is what it made, and the change it undid holds the old link.
fn redrawn_since(safety: &Safety, firewall: &str, change: &Change) -> undo::Redrawn {
    let mut redrawn = undo::Redrawn::default();
    let undos = safety
        .journal
        .recreating_undos_since(firewall, change.id)
        .unwrap_or_default();
    for u in undos {
        let undone = u
            .undo_of
            .and_then(|id| safety.journal.get(id).ok().flatten());
        if let (Some(undone), Some(made)) = (undone, &u.after) {
            redrawn.add(&undone, made);
        }
    }
    redrawn
}

/// Undo one change of `batch` (the changes one undo takes back, newest first; the newer ones
/// already undone): check it, check that the firewall's policy allows every tool its steps
/// call (an undo is changes like any other), record the undo's intent, send its steps, record
/// the outcome (with the object a re-create made, whose link a later undo follows). A change
/// that cancels out within its batch ([`undo::cancels_out`]) sends nothing, and is recorded
/// as undone all the same. Returns the undo's own change id and what was done; the error says
/// why nothing (or not everything) was done.
#[allow(clippy::too_many_arguments)]
pub async fn perform_undo(
    safety: &Safety,
    client: &Client,
    firewall: &str,
    policy: &Policy,
    caller: &str,
    change: &Change,
    batch: &[Change],
    final_status: &str,
) -> Result<(i64, Vec<String>), UndoError> {
    // Run one at a time: the newer undos of a batch already ran, so the state now is theirs.
    let (steps, sends_nothing) = match undo::cancels_out(change, batch) {
        Some(cancel) => (
            Vec::new(),
            Some(undo::check_cancelled(client, change, &cancel, &[]).await?),
        ),
        None => {
            let redrawn = links_for(safety, firewall, change, batch);
            (undo::prepare(client, change, &[], &redrawn).await?, None)
        }
    };
    if let Some(refused) = undo::refused_step(&steps, policy, firewall) {
        return Err(UndoError::Refused(format!(
            "undoing change {} {refused} Nothing was sent.",
            change.id
        )));
    }
    // An undo puts rules back or takes them away like any change: the lockout guard judges
    // its steps together (an auto-revert included).
    let calls: Vec<(&ToolDef, &Value)> = steps.iter().map(|s| (s.tool, &s.args)).collect();
    if let Some(why) = crate::lockout::steps_refusal(client, &calls, &safety.options).await {
        return Err(UndoError::Refused(format!(
            "undoing change {} was refused: {why} Nothing was sent.",
            change.id
        )));
    }
    let mut request = json!({
        "undo_of": change.id,
        "steps": steps.iter().map(|s| json!({"tool": s.tool.name, "does": s.description, "arguments": crate::outcome::redact(&s.args)})).collect::<Vec<_>>(),
    });
    if let Some(note) = &sends_nothing {
        request["does"] = json!(note);
    }
    let undo_id = safety.journal.record_intent(&Intent {
        firewall,
        caller,
        tool: "pfsense_undo",
        kind: "undo",
        model: &change.model,
        request: &request,
        before: change.after.as_ref(),
        inverse: None,
        apply_tool: None,
        undo_of: Some(change.id),
    })?;
    // As every change: an audit line before anything is sent (auto-reverts included).
    let mut attempt = Entry::new(firewall, "pfsense_undo", caller, Outcome::Attempt);
    attempt.change_id = Some(undo_id);
    attempt.request = request;
    attempt.message = Some(format!("undo of change {}", change.id));
    if let Err(e) = safety.record_attempt(&attempt) {
        let note = format!("not sent: {e}");
        let _ =
            safety
                .journal
                .record_outcome(undo_id, status::FAILED, None, None, None, Some(&note));
        return Err(UndoError::Failed(format!(
            "undoing change {} was not started: {e}; nothing is sent without an audit line. Free space for the audit log (or fix its permissions) and try again",
            change.id
        )));
    }
    let mut done = Vec::new();
    // The object a re-create step made: the undo's state after (`redrawn_since` reads it).
    let mut made = None;
    for step in &steps {
        let ran = undo::run_step(client, step).await;
        if let (Ok((answer, _)), Method::Post, PathKind::Item) =
            (&ran, step.tool.method, step.tool.path_kind)
        {
            // Redacted like every state the journal keeps (a link is no secret).
            made = Some(crate::outcome::redact(answer));
        }
        if let Err(e) = ran {
            let msg = format!(
                "undo of change {} stopped at `{}` ({}): {}. Done before that: {}{}",
                change.id,
                step.tool.name,
                step.description,
                e.message.trim_end_matches('.'),
                if done.is_empty() {
                    "nothing".to_string()
                } else {
                    done.join("; ")
                },
                if e.unclear {
                    " (whether this step ran is not known: the firewall's answer did not come back readable)"
                } else {
                    ""
                }
            );
            let _ = safety.journal.record_outcome(
                undo_id,
                // Nothing done, and the failed step certainly did not run: the undo failed.
                if done.is_empty() && !e.unclear {
                    status::FAILED
                } else {
                    status::UNKNOWN
                },
                made.as_ref(),
                None,
                None,
                Some(&msg),
            );
            return Err(UndoError::Failed(msg));
        }
        done.push(match ran {
            Ok((_, Some(note))) => format!("{}; {note}", step.description),
            _ => step.description.clone(),
        });
    }
    done.extend(sends_nothing);
    let _ = safety.journal.record_outcome(
        undo_id,
        status::EXECUTED,
        made.as_ref(),
        None,
        None,
        Some(&done.join("; ")),
    );
    safety
        .journal
        .mark_undone(change.id, undo_id, final_status)?;
    Ok((undo_id, done))
}

/// Settle every row left in `intent` by a process that stopped mid-change. A row of another
/// server sharing the journal that still runs is its change in flight, not left: skipped.
pub async fn reconcile_all(safety: &Safety, client: &Client, firewall: &str) {
    safety.journal.sweep_owners();
    let Ok(rows) = safety.journal.intents(firewall) else {
        return;
    };
    for change in rows {
        if safety.journal.running(change.id) == Running::Other {
            tracing::debug!(
                change_id = change.id,
                "in flight in another pfsense-mcp process: not settled"
            );
            continue;
        }
        let (st, after, note) = match change.undo_of {
            Some(undone) => settle_undo(safety, client, &change, undone).await,
            None => undo::reconcile(client, &change).await,
        };
        if st == status::INTENT {
            tracing::warn!(change_id = change.id, "{note}");
            continue;
        }
        let _ = safety.journal.record_outcome(
            change.id,
            &st,
            after.as_ref(),
            change.inverse.as_ref(),
            None,
            Some(&note),
        );
        tracing::info!(change_id = change.id, status = %st, "journal entry settled at start");
        let mut entry = Entry::new(
            firewall,
            &change.tool,
            "pfsense-mcp (start)",
            Outcome::Reconciled,
        );
        entry.request = change.request.clone();
        entry.change_id = Some(change.id);
        entry.message = Some(format!("{st}: {note}"));
        safety.record(&entry);
    }
}

/// Settle an undo a stopped process left in `intent`: when the firewall still shows what
/// the undone change left, the undo changed nothing (failed; the change can be undone again);
/// when it shows the state before that change, the undo happened (executed, and the change
/// is marked undone); otherwise unknown.
async fn settle_undo(
    safety: &Safety,
    client: &Client,
    interrupted: &Change,
    undone: i64,
) -> (String, Option<Value>, String) {
    let unknown = |why: String| (status::UNKNOWN.to_string(), None, why);
    let original = match safety.journal.get(undone) {
        Ok(Some(c)) => c,
        _ => {
            return unknown(format!(
                "an undo of change {undone} was interrupted, and change {undone} is not in the journal: check the object"
            ));
        }
    };
    let redrawn = redrawn_since(safety, &interrupted.firewall, &original);
    if undo::prepare(client, &original, &[], &redrawn)
        .await
        .is_ok()
    {
        return (
            status::FAILED.to_string(),
            None,
            format!(
                "settled at start: the firewall still shows what change {undone} left, so the interrupted undo changed nothing; change {undone} can be undone again"
            ),
        );
    }
    let (seen, _, why) = undo::reconcile(client, &original).await;
    match seen.as_str() {
        // The firewall is as it was before the change: the undo's steps ran.
        status::NOT_APPLIED => {
            let final_status = if interrupted.caller == AUTO_REVERT_CALLER {
                status::AUTO_REVERTED
            } else {
                status::UNDONE
            };
            if let Err(e) = safety
                .journal
                .mark_undone(undone, interrupted.id, final_status)
            {
                return unknown(format!(
                    "an undo of change {undone} ran, but marking change {undone} undone failed: {e}"
                ));
            }
            let apply = if original.apply_tool.is_some() {
                " Its last step, the subsystem's apply, may not have run: check the firewall's pending changes."
            } else {
                ""
            };
            (
                status::EXECUTED.to_string(),
                None,
                format!(
                    "settled at start: the firewall is as it was before change {undone}, so the interrupted undo happened.{apply}"
                ),
            )
        }
        status::INTENT => (status::INTENT.to_string(), None, why),
        _ => unknown(format!(
            "an undo of change {undone} was interrupted, and the firewall shows neither what change {undone} left nor the state before it: check the object and list the changes"
        )),
    }
}

/// Undo provisional changes whose deadline has passed, with the later ones their undo needs
/// undone first (`undo::reverted_with`), newest first, and record that it did.
/// A change whose undo the firewall's policy refuses is this server's to report (its own
/// change: the clock stops for it) or another server's to revert (left as it is, and not
/// looked at again: `passed`).
pub async fn revert_due(
    safety: &Safety,
    client: &Client,
    firewall: &str,
    policy: &Policy,
    passed: &mut std::collections::HashSet<i64>,
) {
    if policy.is_read_only() {
        return;
    }
    let now = super::time::now_millis();
    let Ok(mut provisional) = safety.journal.provisional(firewall) else {
        return;
    };
    // Another server that still runs reverts its own provisional changes.
    provisional
        .retain(|c| !passed.contains(&c.id) && safety.journal.running(c.id) != Running::Other);
    let is_due = |c: &Change| c.provisional_until.is_some_and(|t| t <= now);
    // A change due takes along the later ones whose undo must run before its own, due or not
    // (`undo::reverted_with`): the due change it goes early with.
    let early = |c: &Change| {
        (!is_due(c))
            .then(|| undo::reverted_with(c, &provisional, is_due))
            .flatten()
    };
    let mut due: Vec<Change> = provisional
        .iter()
        .filter(|c| is_due(c) || early(c).is_some())
        .cloned()
        .collect();
    due.sort_by_key(|c| std::cmp::Reverse(c.id));
    for change in &due {
        let result = perform_undo(
            safety,
            client,
            firewall,
            policy,
            AUTO_REVERT_CALLER,
            change,
            &due,
            status::AUTO_REVERTED,
        )
        .await;
        if let Err(UndoError::Refused(why)) = &result
            && safety.journal.running(change.id) != Running::Me
        {
            tracing::debug!(
                change_id = change.id,
                "auto-revert left to a server allowed to: {why}"
            );
            passed.insert(change.id);
            continue;
        }
        let mut entry = Entry::new(
            firewall,
            &change.tool,
            AUTO_REVERT_CALLER,
            Outcome::AutoReverted,
        );
        entry.change_id = Some(change.id);
        entry.request = change.request.clone();
        match result {
            Ok((undo_id, done)) => {
                // The stderr line gives the audit line's reason: a change taken along by an
                // earlier one was not due yet.
                let why = match early(change) {
                    Some(d) => format!(
                        "reverted early together with change {d}, whose undo needed it undone first"
                    ),
                    None => "not confirmed before its deadline".into(),
                };
                tracing::warn!(
                    change_id = change.id,
                    "auto-revert: {why}; undone as change {undo_id}"
                );
                entry.message = Some(format!(
                    "{why}; undone as change {undo_id}: {}",
                    done.join("; ")
                ));
            }
            Err(e) => {
                // Stop the clock for this change: retrying would not make the check pass.
                let _ = safety.journal.set_provisional(change.id, None);
                tracing::error!(change_id = change.id, error = %e, "auto-revert could not undo a change");
                entry.outcome = Outcome::Failed;
                entry.message = Some(format!("auto-revert could not undo it: {e}"));
            }
        }
        safety.record(&entry);
    }
}

/// The auto-revert clock: checks every half second (cheap: one indexed SQLite query).
pub async fn run_clock(safety: Arc<Safety>, client: Arc<Client>, firewall: String, policy: Policy) {
    let mut passed = std::collections::HashSet::new();
    loop {
        revert_due(&safety, &client, &firewall, &policy, &mut passed).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What [`confirm`] did: the changes made permanent, and other callers' provisional changes
/// left as they are (change id, caller).
pub struct Confirmed {
    pub ids: Vec<i64>,
    pub left: Vec<(i64, String)>,
}

/// Make provisional changes permanent: those named by `ids`, else every one `caller` made
/// (an agent's safety net is not taken away by another's confirmation).
pub fn confirm(
    safety: &Safety,
    firewall: &str,
    caller: &str,
    ids: Option<&[i64]>,
) -> Result<Confirmed, String> {
    let mut confirmed = Vec::new();
    let mut others = Vec::new();
    for c in safety.journal.provisional(firewall)? {
        let chosen = match ids {
            Some(ids) => ids.contains(&c.id),
            None if c.caller == caller => true,
            None => {
                others.push((c.id, c.caller.clone()));
                false
            }
        };
        if chosen {
            safety.journal.set_provisional(c.id, None)?;
            confirmed.push(c.id);
        }
    }
    Ok(Confirmed {
        ids: confirmed,
        left: others,
    })
}

/// Summaries of changes for a tool result.
pub fn summaries(changes: &[Change]) -> Value {
    Value::Array(changes.iter().map(Change::summary).collect())
}
