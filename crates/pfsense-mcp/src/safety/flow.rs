//! One mutation through the guards: read the target, preview (diff, fingerprint, undo), or
//! execute (stale-state check, human confirmation, rate limit, journal intent, request,
//! journal outcome, auto-revert clock), with one audit line for every attempt.

use super::audit::{Entry, Outcome};
use super::elicit::{self, Answer, ConfirmMode};
use super::journal::{Intent, status};
use super::serial::Winner;
use super::sorted::Sorted;
use super::state::{self, ChangeKind};
use super::undo::{self, Inverse};
use super::{AUTO_REVERT_MODULES, Safety, secrets};
use crate::catalog::ToolDef;
use crate::client::{ApiResponse, CallError, Client, ResponseBody};
use crate::outcome::{self, PreviewExtras, redact};
use crate::request::PreparedRequest;
use crate::spec::Risk;
use rmcp::model::CallToolResult;
use serde_json::{Value, json};

/// Everything about one call the guards need.
pub struct Call<'a> {
    pub def: &'static ToolDef,
    /// Normalised arguments (without `confirm` and `expect_state`).
    pub args: &'a Value,
    pub request: &'a PreparedRequest,
    pub confirmed: bool,
    /// Why the guards on the call path (`crate::lockout`) refuse this change, judged before a
    /// preview: confirming it would be refused, and the preview says so.
    pub refused_when_confirmed: Option<&'a str>,
    pub expect_state: Option<String>,
    pub caller: &'a str,
    /// How the person at the client can be asked to approve.
    pub human: &'a elicit::Human,
    /// The firewall's name (`default` without a config file) for the audit log and the journal.
    pub firewall: &'a str,
    /// The firewall's policy, for arguments that are dangerous given the target's state.
    pub policy: &'a crate::policy::Policy,
}

impl Call<'_> {
    fn entry(&self, outcome: Outcome) -> Entry {
        let mut e = Entry::new(self.firewall, self.def.name, self.caller, outcome);
        e.arguments = redact(self.args);
        e.request = secrets::redacted_request(self.request);
        e
    }
}

fn response_id(r: &ApiResponse) -> Option<String> {
    match &r.body {
        ResponseBody::Envelope(e) => Some(e.response_id.clone()),
        _ => None,
    }
}

fn error_response_id(e: &CallError) -> Option<String> {
    match e {
        CallError::Api { envelope, .. } => Some(envelope.response_id.clone()),
        _ => None,
    }
}

/// Short lines of a diff for the text block (and the human's confirmation message).
fn diff_lines(kind: ChangeKind, diff: &Value) -> Vec<String> {
    let field_line = |c: &Value| {
        let note = c
            .get("note")
            .and_then(Value::as_str)
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        format!(
            "  {}: {} -> {}{note}",
            c["field"].as_str().unwrap_or("?"),
            c["before"],
            c["after"]
        )
    };
    match kind {
        ChangeKind::Update | ChangeKind::Settings => diff
            .as_array()
            .map(|a| a.iter().map(field_line).collect())
            .unwrap_or_default(),
        ChangeKind::Delete => vec![format!("  removes {}", object_line(diff))],
        ChangeKind::Replace | ChangeKind::BulkDelete => {
            let count = |k: &str| diff[k].as_array().map_or(0, Vec::len);
            let counts = (count("removed"), count("added"), count("changed"));
            let moved = count("moved");
            if counts == (0, 0, 0) && moved == 0 {
                return vec!["  nothing: the list stays as it is".to_string()];
            }
            let mut lines = vec![format!(
                "  {} removed, {} added, {} changed{}:",
                counts.0,
                counts.1,
                counts.2,
                if moved > 0 {
                    format!(", {moved} moved")
                } else {
                    String::new()
                }
            )];
            // Many objects are named by their identifying fields, each on a short line: the
            // list of what goes must survive a text cut to the result budget.
            let many = counts.0 + counts.1 > MANY_OBJECTS;
            let line = |o: &Value| match (many, crate::bounds::name_of(o)) {
                (true, Some(name)) => name,
                _ => object_line(o),
            };
            for o in diff["removed"].as_array().into_iter().flatten() {
                lines.push(format!("  - removes {}", line(o)));
            }
            for o in diff["added"].as_array().into_iter().flatten() {
                lines.push(format!("  + adds {}", line(o)));
            }
            // An ordered list (rules, NAT) evaluates first match first: a move changes what
            // the firewall does, even when no object changes.
            for m in diff["moved"].as_array().into_iter().flatten() {
                lines.push(format!(
                    "  ^ moves {} from position {} to {}",
                    m["object"].as_str().unwrap_or("an object"),
                    m["from"],
                    m["to"]
                ));
            }
            for c in diff["changed"].as_array().into_iter().flatten() {
                let at = c
                    .get("identity")
                    .or_else(|| c.get("position"))
                    .cloned()
                    .unwrap_or_default();
                lines.push(format!("  ~ changes {at}:"));
                for f in c["changes"].as_array().into_iter().flatten() {
                    lines.push(format!("  {}", field_line(f)));
                }
            }
            lines
        }
        _ => Vec::new(),
    }
}

/// Objects removed and added past which a diff's text names each by its identifying fields.
const MANY_OBJECTS: usize = 5;

/// An object in one line of a diff: whole when short, else by its identifying fields (the
/// structured diff has it whole), so that a long list stays readable and fits the budget.
fn object_line(object: &Value) -> String {
    let whole = object.to_string();
    if whole.len() <= 300 {
        return whole;
    }
    let fields = object.as_object().map_or(0, |m| m.len());
    match crate::bounds::identifying_fields(object) {
        Some(id) => {
            let shown = id.as_object().map_or(0, |m| m.len());
            format!("{id} and {} more fields", fields.saturating_sub(shown))
        }
        None => format!(
            "{}… ({} characters)",
            crate::bounds::head(&whole, 200),
            whole.len()
        ),
    }
}

/// Diff of what the call would change, given the target's current state.
async fn diff_for(
    client: &Client,
    call: &Call<'_>,
    kind: ChangeKind,
    current: &Value,
) -> Option<Value> {
    let def = call.def;
    match kind {
        ChangeKind::Update | ChangeKind::Settings => {
            Some(Value::Array(state::diff_fields(current, call.args)))
        }
        ChangeKind::Delete => Some(redact(current)),
        ChangeKind::Replace => {
            let new = call.args.get("objects").cloned().unwrap_or(json!([]));
            Some(state::diff_collection(def.model, current, &new))
        }
        ChangeKind::BulkDelete => Some(
            match state::bulk_delete_matches(client, def, call.args).await {
                Ok(matched) => {
                    let ids: Vec<Value> = matched
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| o.get("id").cloned())
                        .collect();
                    let remaining: Vec<Value> = current
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|o| !o.get("id").is_some_and(|id| ids.contains(id)))
                        .cloned()
                        .collect();
                    state::diff_collection(def.model, current, &Value::Array(remaining))
                }
                Err(e) => {
                    json!({"unknown": format!("which objects match could not be read ({e}); pfSense treats filter keys it does not know as matching everything")})
                }
            },
        ),
        _ => None,
    }
}

/// The undo of a change as it is journaled, previewed and put to a human alike: planned from
/// the state before it, with what the firewall shows of a linked owner's linked objects
/// (`undo::with_linked`).
async fn planned_undo(
    client: &Client,
    def: &ToolDef,
    args: &Value,
    before: Option<&Value>,
) -> Option<Inverse> {
    let inverse = undo::plan(def, args, before);
    undo::with_linked(client, inverse, def, args, before).await
}

/// What undoing the change will do; `sort`: how pfrest keeps sorted the list a re-create
/// goes back into (`undo::recreate_sort`), where the old neighbours decide nothing.
fn undo_note(
    def: &ToolDef,
    args: &Value,
    kind: ChangeKind,
    inverse: &Option<Inverse>,
    sort: Option<&Sorted>,
    seen: &Observed,
) -> String {
    let state_error = seen.error.is_some();
    let secrets = undo::secrets_set(args);
    let a_secret = if secrets.len() == 1 {
        "a secret"
    } else {
        "secrets"
    };
    let secrets_excepted = if secrets.is_empty() {
        String::new()
    } else {
        format!(
            " except {}, {a_secret} the firewall never returns",
            backticked(&secrets)
        )
    };
    let refused = match (&seen.current, kind) {
        (Some(before), ChangeKind::Update | ChangeKind::Settings) => {
            undo::old_values_refused(def, before, args)
        }
        _ => Vec::new(),
    };
    let refused_kept = refused
        .iter()
        .map(|r| format!("; `{}` stays as it is: {}", r.field, r.why))
        .collect::<String>();
    let verdict = match (inverse, kind) {
        (None, ChangeKind::Delete | ChangeKind::Replace | ChangeKind::BulkDelete)
            if let Some(secret) = undo::secret_needed_to_recreate(def, seen.current.as_ref()) =>
        {
            format!(
                "no: making a removed object again needs its {secret}, which the firewall never returns"
            )
        }
        (Some(Inverse::DeleteCreated { .. }), _) => {
            "yes: pfsense_undo deletes the new object again".into()
        }
        (Some(Inverse::RestoreFields { .. }), _) => {
            format!("yes: pfsense_undo patches the old values back{secrets_excepted}{refused_kept}")
        }
        (Some(Inverse::Recreate { object, .. }), _) => {
            let link = undo::linked_note(def.model, object, seen.current.as_ref());
            let place = match sort {
                Some(sort) => format!(
                    ", which goes to its sorted place: pfSense keeps this list sorted by {}",
                    sort.by.join(", ")
                ),
                None => " between its old neighbours".into(),
            };
            format!(
                "yes: pfsense_undo re-creates the object{place}{} (firewall-computed fields such as timestamps cannot be restored; a rule keeps its tracker){}",
                without_secrets(
                    def.model,
                    &undo::secrets_lost_on_recreate(def, seen.current.as_ref()),
                    false,
                ),
                link.map(|note| format!(". {note}")).unwrap_or_default(),
            )
        }
        (
            Some(Inverse::RestoreCollection {
                linked: Some(linked),
                ..
            }),
            _,
        ) => {
            let model = crate::catalog::tool(&linked.list_tool).map_or("linked", |t| t.model);
            format!(
                "yes: pfsense_undo puts back the {model} list as it was (pfSense also deletes the linked {model} of each {} with a link; they come back with their trackers and links), then the old {} list",
                def.model, def.model
            )
        }
        (Some(Inverse::RestoreCollection { .. }), _) => format!(
            "yes: pfsense_undo puts the old list back{}",
            without_secrets(
                def.model,
                &undo::secrets_lost_on_recreate(def, seen.current.as_ref()),
                true,
            ),
        ),
        (Some(Inverse::RestoreSettings { .. }), _) => {
            format!(
                "yes: pfsense_undo patches the old settings back{secrets_excepted}{refused_kept}"
            )
        }
        (None, _) if state_error => "no: the current state could not be read".into(),
        (None, ChangeKind::Update | ChangeKind::Settings)
            if let Some(secret) = seen
                .current
                .as_ref()
                .and_then(|before| undo::secret_dropped_by_update(def, before, args)) =>
        {
            format!(
                "no: after it the object no longer takes its {secret}, so pfrest drops that secret; the firewall never returns it, and putting the old values back would need it"
            )
        }
        (None, ChangeKind::Update | ChangeKind::Settings) if let Some(r) = refused.first() => {
            format!(
                "no: it sets only `{}`, whose old value cannot be put back: {}",
                r.field, r.why
            )
        }
        (None, ChangeKind::Update | ChangeKind::Settings) if !secrets.is_empty() => format!(
            "no: it sets only {}, {a_secret} the firewall never returns, so what it held cannot be put back",
            backticked(&secrets)
        ),
        (None, ChangeKind::BulkDelete) if let Some(note) = undo::bulk_linked_note(def.model) => {
            note.into()
        }
        (None, ChangeKind::Other) => "no: actions and applies have no inverse".into(),
        (None, _) => "no: this collection has no tool that could reverse the change".into(),
    };
    // A bulk delete deletes each object as a delete does (a PUT writes the new list instead):
    // what pfrest takes along is said whether or not an undo follows.
    if matches!(kind, ChangeKind::Delete | ChangeKind::BulkDelete) {
        verdict + &taken_along(def.model)
    } else {
        verdict
    }
}

/// What a re-create leaves out: the secrets `names`, of one object or of each in a list.
fn without_secrets(model: &str, names: &[&str], list: bool) -> String {
    let (its, held) = if list {
        ("their", "an object held")
    } else {
        ("its", "it held")
    };
    let anew: String = undo::SECRETS_MADE_ANEW
        .iter()
        .filter(|(m, field, _)| *m == model && names.contains(field))
        .map(|(_, field, note)| format!(" (`{field}`: {note})"))
        .collect();
    let without = match names.len() {
        0 => String::new(),
        1 => format!(
            ", without {its} {}: a secret the firewall never returns, so what {held} there does not come back",
            backticked(names)
        ),
        2..=4 => format!(
            ", without {its} {}: secrets the firewall never returns, so what {held} there does not come back",
            backticked(names)
        ),
        n => format!(
            ", without {its} {n} secret fields: the firewall never returns them, so what {held} there does not come back"
        ),
    };
    without + &anew
}

/// What the delete takes along that the undo does not bring back ([`undo::DELETE_TAKES_ALONG`]).
fn taken_along(model: &str) -> String {
    undo::DELETE_TAKES_ALONG
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, note)| format!(". {note}"))
        .unwrap_or_default()
}

/// `a`, `b` and `c`, each in backticks.
fn backticked(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// Why a confirmed change does not run now.
enum NotApproved {
    /// Refused, with the message for the result and the audit log.
    Refused(String),
    /// The question went back to the client (an input-required result).
    Asked,
}

fn needs_human(def: &ToolDef, mode: ConfirmMode) -> bool {
    def.risk >= Risk::Destructive && mode != ConfirmMode::Flag
}

fn human_note(call: &Call<'_>, mode: ConfirmMode) -> Option<String> {
    if !needs_human(call.def, mode) {
        return None;
    }
    Some(if call.human.can_ask() {
        "When you confirm, the server asks the human at the client to approve (MCP elicitation); only their approval executes.".into()
    } else if mode == ConfirmMode::ElicitRequired {
        "This client cannot ask the human (no MCP elicitation) and the server requires a human's approval for destructive changes: confirming will be refused.".into()
    } else {
        "This client cannot ask the human (no MCP elicitation), so `confirm: true` alone executes (--confirm elicit falls back to the flag).".into()
    })
}

/// The state of a call's target as read once: its value, why it could not be read, and its
/// fingerprint.
struct Observed {
    current: Option<Value>,
    error: Option<String>,
    fingerprint: Option<String>,
    /// The state dangerous arguments are judged by when it is more than the target's own (a
    /// user with its groups' privileges); `Err` when that part could not be read.
    judged: Option<Result<Value, String>>,
}

impl Observed {
    async fn read(client: &Client, call: &Call<'_>, kind: ChangeKind) -> Observed {
        let read = if kind.has_target_state() {
            state::read_target(client, call.def, call.args).await
        } else {
            None
        };
        let (current, error) = match read {
            Some(Ok(v)) => (Some(v), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        let fingerprint = current.as_ref().map(state::fingerprint);
        let judged = match &current {
            Some(user) if call.def.path == state::USER_PATH => {
                Some(state::with_group_privileges(client, user).await)
            }
            _ => None,
        };
        Observed {
            current,
            error,
            fingerprint,
            judged,
        }
    }

    /// Why the call's arguments are dangerous given this state of its target, when the
    /// policy refuses dangerous changes. A target that exists but could not be read is judged
    /// at its worst: a failed read must not let a dangerous change through.
    fn argument_refusal(&self, call: &Call<'_>) -> Option<String> {
        use crate::spec::tables::TargetState;
        let state = match (&self.judged, &self.current, &self.error) {
            (Some(Ok(judged)), _, _) => TargetState::Known(judged),
            (Some(Err(_)), _, _) => TargetState::Unreadable,
            (None, Some(current), _) => TargetState::Known(current),
            (None, None, Some(_)) if !self.missing() => TargetState::Unreadable,
            _ => return None,
        };
        call.policy.argument_refusal_at(call.def, call.args, state)
    }

    /// The firewall said the addressed object does not exist.
    fn missing(&self) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.contains("MODEL_OBJECT_NOT_FOUND"))
    }
}

/// Whether a failed call may still have run on the firewall: no answer, or an answer that is
/// not the API's JSON (a 200 whose JSON is cut off, a PHP error page). Only reading the
/// target again tells.
pub(super) fn outcome_unclear(e: &CallError) -> bool {
    matches!(e, CallError::Transport(_) | CallError::NotJson { .. })
}

impl Safety {
    /// Preview or execute one mutation.
    pub async fn mutate(&self, client: &Client, call: Call<'_>) -> CallToolResult {
        let def = call.def;
        let kind = ChangeKind::of(def);
        self.settle(client, call.firewall).await;
        let seen = Observed::read(client, &call, kind).await;
        if let Some(refusal) = seen.argument_refusal(&call) {
            return self.refuse(&call, refusal);
        }
        // Before the preview, a human's approval or the rate limit: a change auto-revert could
        // not take back is refused whatever happens next.
        let inverse = undo::plan(def, call.args, seen.current.as_ref());
        if let Some(message) = self.unrevertable(&call, inverse.as_ref()) {
            return self.refuse(&call, message);
        }
        if !call.confirmed {
            return self.preview(client, &call, kind, &seen).await;
        }
        if let Some(message) = self.check_expected(client, &call, kind, &seen).await {
            return self.refuse(&call, message);
        }
        let confirmed_by = match self.approval(client, &call, kind, &seen).await {
            Ok(by) => by,
            Err(NotApproved::Refused(message)) => return self.refuse(&call, message),
            Err(NotApproved::Asked) => return self.asked(&call),
        };
        if let Err(message) = self.limiter.take(def.risk) {
            return self.refuse(&call, format!("{} was not called: {message}.", def.name));
        }
        // One confirmed change per firewall and collection at a time: read again, check the
        // state is still the one confirmed, and send, all under the turn.
        let mut turn = self.serial.turn(call.firewall, def).await;
        let expected = call.expect_state.clone().or(seen.fingerprint.clone());
        let now = if kind.has_target_state() {
            Observed::read(client, &call, kind).await
        } else {
            seen
        };
        // Judged again on the state read just before sending.
        if let Some(refusal) = now.argument_refusal(&call) {
            return self.refuse(&call, refusal);
        }
        if let Some(expected) = &expected
            && now.fingerprint.as_ref() != Some(expected)
        {
            let message = self
                .overtaken(client, def, expected, &now, (*turn).as_ref())
                .await;
            return self.refuse(&call, message);
        }
        let (result, change_id) = self.execute(client, &call, kind, &now, confirmed_by).await;
        if let Some(change_id) = change_id {
            *turn = Some(Winner {
                change_id,
                tool: def.name,
                caller: call.caller.to_string(),
                changed_from: expected,
            });
        }
        result
    }

    /// A preview: the exact request, the diff against the current state, the fingerprint to
    /// confirm with. A delete or update of an id that does not exist is an error instead.
    async fn preview(
        &self,
        client: &Client,
        call: &Call<'_>,
        kind: ChangeKind,
        seen: &Observed,
    ) -> CallToolResult {
        let def = call.def;
        if matches!(kind, ChangeKind::Update | ChangeKind::Delete) && seen.missing() {
            return self.refuse(
                call,
                format!(
                    "{} was not called: the object it addresses does not exist ({}). Ids are positions that shift after deletes: list the collection again to find the object's id.",
                    def.name,
                    seen.error.as_deref().unwrap_or_default()
                ),
            );
        }
        let inverse = planned_undo(client, def, call.args, seen.current.as_ref()).await;
        let sort = undo::recreate_sort(client, inverse.as_ref()).await;
        let mut extras = PreviewExtras {
            current: seen.current.as_ref().map(redact),
            state_error: seen.error.clone(),
            fingerprint: seen.fingerprint.clone(),
            undoable: inverse.is_some(),
            undo: Some(undo_note(def, call.args, kind, &inverse, sort, seen)),
            // A confirmation the guards refuse never reaches the human.
            human: human_note(call, self.options.confirm)
                .filter(|_| call.refused_when_confirmed.is_none()),
            refused_when_confirmed: call.refused_when_confirmed.map(str::to_string),
            ..Default::default()
        };
        if let Some(cur) = &seen.current {
            if let Some(diff) = diff_for(client, call, kind, cur).await {
                extras.diff_lines = diff_lines(kind, &diff);
                extras.diff = Some(diff);
            }
            if let Some(fp) = &seen.fingerprint {
                self.remember_preview(fp, def.name, cur);
            }
        } else if kind == ChangeKind::Create {
            extras.diff = call.request.body.as_ref().map(redact);
        }
        let mut entry = call.entry(Outcome::Preview);
        entry.message = seen.fingerprint.clone();
        if let Some(why) = call.refused_when_confirmed {
            // The guards have the last word: no dry run, nothing to confirm.
            entry.message = Some(match entry.message.take() {
                Some(fp) => format!("{fp}; confirming would be refused: {why}"),
                None => format!("confirming would be refused: {why}"),
            });
            self.record(&entry);
            return outcome::preview(def, call.request, client.base_url().as_str(), &extras);
        }
        // pfrest's own verdict where its dry run is safe (safety/dry_run.rs); audited as the preview.
        let verdict = super::dry_run::run(client, def, call.request).await;
        verdict.audit(&mut entry);
        self.record(&entry);
        verdict.apply(
            def,
            outcome::preview(def, call.request, client.base_url().as_str(), &extras),
        )
    }

    /// Why a confirmation's `expect_state` does not hold against the state read before it.
    async fn check_expected(
        &self,
        client: &Client,
        call: &Call<'_>,
        kind: ChangeKind,
        seen: &Observed,
    ) -> Option<String> {
        let def = call.def;
        let expected = call.expect_state.as_ref()?;
        match (&seen.current, &seen.fingerprint) {
            (Some(_), Some(fp)) if fp != expected => {
                let turn = self.serial.turn(call.firewall, def).await;
                Some(
                    self.overtaken(client, def, expected, seen, (*turn).as_ref())
                        .await,
                )
            }
            (None, _) if kind.has_target_state() => Some(format!(
                "{} was not called: `expect_state` cannot be checked because the current state could not be read ({})",
                def.name,
                seen.error.clone().unwrap_or_default()
            )),
            (None, _) => Some(format!(
                "{} was not called: `expect_state` applies to updates, deletes and replaces; this call has no current state to compare",
                def.name
            )),
            _ => None,
        }
    }

    /// The refusal of a confirmation whose target is no longer in the confirmed state: the
    /// change that was confirmed first when there was one, else what changed.
    async fn overtaken(
        &self,
        client: &Client,
        def: &ToolDef,
        expected: &str,
        now: &Observed,
        last: Option<&Winner>,
    ) -> String {
        let detail = match &now.current {
            Some(cur) => self.stale_message(client, def, expected, cur).await,
            None => format!(
                "{} was not called: the target changed since the preview and can no longer be read ({}). Preview again.",
                def.name,
                now.error.as_deref().unwrap_or_default()
            ),
        };
        match last.filter(|w| w.changed_from.as_deref() == Some(expected)) {
            Some(w) => format!(
                "{detail} It was changed by change {} ({}, by {}), confirmed first from the state this confirmation expects: of two confirmations of one preview only one is sent.",
                w.change_id, w.tool, w.caller
            ),
            None => detail,
        }
    }

    /// A human approves destructive and dangerous changes: who confirmed, or the refusal.
    async fn approval(
        &self,
        client: &Client,
        call: &Call<'_>,
        kind: ChangeKind,
        seen: &Observed,
    ) -> Result<&'static str, NotApproved> {
        let def = call.def;
        let mode = self.options.confirm;
        if !needs_human(def, mode) {
            return Ok("flag");
        }
        let diff = match &seen.current {
            Some(cur) => diff_for(client, call, kind, cur).await,
            None => call.request.body.as_ref().map(redact),
        };
        let mut message = format!(
            "Approve a {} change on the firewall {} ({})?\n{} — {}\n{} {}",
            def.risk.as_str(),
            call.firewall,
            client.base_url().as_str().trim_end_matches('/'),
            def.name,
            def.summary,
            call.request.method,
            secrets::redacted_request(call.request)["path"]
                .as_str()
                .unwrap_or(def.path)
        );
        if let Some(d) = &diff {
            let lines = diff_lines(kind, d);
            if !lines.is_empty() {
                message.push_str("\nWhat changes:\n");
                message.push_str(&lines.join("\n"));
            } else if let Some(body) = call.request.body.as_ref() {
                message.push_str(&format!("\nBody: {}", redact(body)));
            }
        }
        let inverse = planned_undo(client, def, call.args, seen.current.as_ref()).await;
        let sort = undo::recreate_sort(client, inverse.as_ref()).await;
        message.push_str(&format!(
            "\nUndo: {}.",
            undo_note(def, call.args, kind, &inverse, sort, seen)
        ));
        match elicit::ask(call.human, call.caller, message).await {
            Answer::Approved => Ok("human"),
            Answer::Asked => Err(NotApproved::Asked),
            Answer::Refused(why) => Err(NotApproved::Refused(format!(
                "{} was not called: the change was not approved ({why}).",
                def.name
            ))),
            Answer::CannotAsk if mode == ConfirmMode::ElicitRequired => {
                Err(NotApproved::Refused(format!(
                    "{} was not called: it is {} and the server requires a human's approval (--confirm elicit-required), but this MCP client cannot ask the human (no elicitation support). Use a client with elicitation, or the administrator can restart with --confirm elicit.",
                    def.name,
                    def.risk.as_str()
                )))
            }
            Answer::CannotAsk => Ok("flag (the client has no elicitation)"),
        }
    }

    /// Journal intent, write-ahead audit line, the request, then its outcome in journal and
    /// audit. The change id when the request went out and may have changed the target.
    async fn execute(
        &self,
        client: &Client,
        call: &Call<'_>,
        kind: ChangeKind,
        now: &Observed,
        confirmed_by: &str,
    ) -> (CallToolResult, Option<i64>) {
        let def = call.def;
        // Before the request: a linked owner's delete takes its linked object away.
        let inverse = planned_undo(client, def, call.args, now.current.as_ref()).await;
        let redacted_request = secrets::redacted_request(call.request);
        let inverse_json = inverse.as_ref().map(Inverse::to_json);
        let change_id = match self.journal.record_intent(&Intent {
            firewall: call.firewall,
            caller: call.caller,
            tool: def.name,
            kind: kind.as_str(),
            model: def.model,
            request: &redacted_request,
            before: now.current.as_ref(),
            inverse: inverse_json.as_ref(),
            apply_tool: def.apply.map(|a| a.tool),
            undo_of: None,
        }) {
            Ok(id) => id,
            Err(e) => {
                let message = format!(
                    "{} was not called: {e}; nothing is sent without a journal entry.",
                    def.name
                );
                return (self.refuse(call, message), None);
            }
        };
        let mut attempt = call.entry(Outcome::Attempt);
        attempt.change_id = Some(change_id);
        if let Err(e) = self.record_attempt(&attempt) {
            let note = format!("not sent: {e}");
            let _ = self.journal.record_outcome(
                change_id,
                status::FAILED,
                None,
                None,
                None,
                Some(&note),
            );
            let message = format!(
                "{} was not called: {e}; nothing is sent without an audit line. Free space for the audit log (or fix its permissions) and call again.",
                def.name
            );
            return (self.refuse(call, message), None);
        }
        tracing::info!(tool = def.name, method = %def.method, path = def.path, change_id, "calling pfSense");
        match client.send(def, call.request).await {
            Ok(response) => {
                let result = self
                    .executed(
                        client,
                        call,
                        change_id,
                        (inverse, now.current.as_ref()),
                        response,
                        confirmed_by,
                    )
                    .await;
                (result, Some(change_id))
            }
            Err(e) => {
                let (result, may_have_run) = self.failed(client, call, change_id, inverse, e).await;
                (result, may_have_run.then_some(change_id))
            }
        }
    }

    /// Why a change that `--auto-revert` would make provisional is refused: the firewall's
    /// policy refuses a tool its revert needs, so the promised revert could not run.
    fn unrevertable(&self, call: &Call<'_>, inverse: Option<&Inverse>) -> Option<String> {
        let def = call.def;
        self.options.auto_revert?;
        if !AUTO_REVERT_MODULES.contains(&def.module) {
            return None;
        }
        let apply = def.apply.map(|a| a.tool);
        inverse?
            .writing_tools()
            .into_iter()
            .chain(apply)
            .filter_map(crate::catalog::tool)
            .find_map(|tool| {
                let refusal = call.policy.refusal(tool)?;
                Some(format!(
                    "{} was not called: with --auto-revert the change would be provisional, but reverting it needs `{}`, which is refused on this firewall: {}. Allow that tool on this firewall, or run without --auto-revert.",
                    def.name,
                    tool.name,
                    refusal.trim_end_matches('.'),
                ))
            })
    }

    /// `planned` is the inverse planned before the call, with the state it was planned on.
    async fn executed(
        &self,
        client: &Client,
        call: &Call<'_>,
        change_id: i64,
        planned: (Option<Inverse>, Option<&Value>),
        response: ApiResponse,
        confirmed_by: &str,
    ) -> CallToolResult {
        let def = call.def;
        let data = response.data();
        let after = undo::after_state(client, def, call.args, &data).await;
        let (inverse, before) = planned;
        let (inverse, also_changed) = match inverse {
            Some(i) => {
                let (i, also) = undo::with_side_effects(i, def, before, after.as_ref());
                (Some(i), also)
            }
            None => (None, Vec::new()),
        };
        let inverse_json = inverse.as_ref().map(Inverse::to_json);
        let rid = response_id(&response);
        let _ = self.journal.record_outcome(
            change_id,
            status::EXECUTED,
            after.as_ref(),
            inverse_json.as_ref(),
            rid.as_deref(),
            Some(&format!("confirmed by {confirmed_by}")),
        );
        let provisional = match self.options.auto_revert {
            Some(d) if inverse.is_some() && AUTO_REVERT_MODULES.contains(&def.module) => {
                let until = super::time::now_millis() + d.as_millis() as i64;
                let _ = self.journal.set_provisional(change_id, Some(until));
                Some((until, d))
            }
            _ => None,
        };
        let mut entry = call.entry(Outcome::Executed);
        entry.response_id = rid;
        entry.change_id = Some(change_id);
        entry.message = Some(format!("confirmed by {confirmed_by}"));
        self.record(&entry);
        let mut result = outcome::success(def, call.request, &response);
        secrets::mark_sensitive(&mut result);
        annotate_change(
            &mut result,
            (change_id, call.firewall),
            inverse.is_some(),
            provisional,
        );
        if !also_changed.is_empty() {
            let list: Vec<String> = also_changed.iter().map(|f| format!("`{f}`")).collect();
            if let Some(structured) = result.structured_content.as_mut() {
                structured["also_changed"] = json!(also_changed);
            }
            if let Some(block) = result.content.iter_mut().find(|c| c.as_text().is_some()) {
                let old = block.as_text().map(|t| t.text.clone()).unwrap_or_default();
                *block = rmcp::model::ContentBlock::text(format!(
                    "{old} The firewall also changed {} (not in the arguments); undo restores them too.",
                    list.join(", ")
                ));
            }
        }
        result
    }

    /// A call that did not succeed: failed when the firewall said so; when its answer was
    /// missing or unreadable, settled by reading the target (executed, not applied, unknown).
    /// Also whether the change may have run.
    async fn failed(
        &self,
        client: &Client,
        call: &Call<'_>,
        change_id: i64,
        inverse: Option<Inverse>,
        e: CallError,
    ) -> (CallToolResult, bool) {
        let def = call.def;
        let inverse_json = inverse.as_ref().map(Inverse::to_json);
        let rid = error_response_id(&e);
        let (st, after, note) = if outcome_unclear(&e) {
            let (st, after, note) = match self.journal.get(change_id).ok().flatten() {
                Some(c) => undo::reconcile(client, &c).await,
                None => (status::UNKNOWN.into(), None, String::new()),
            };
            let st = if st == status::INTENT {
                status::UNKNOWN.to_string()
            } else {
                st
            };
            let note = format!(
                "no clear answer ({e}); {}",
                note.replace("settled at start", "settled by reading the firewall")
            );
            (st, after, note)
        } else {
            (status::FAILED.into(), None, e.to_string())
        };
        let _ = self.journal.record_outcome(
            change_id,
            &st,
            after.as_ref(),
            inverse_json.as_ref(),
            rid.as_deref(),
            Some(&note),
        );
        tracing::info!(tool = def.name, error = %e, status = %st, "call failed");
        let mut entry = call.entry(Outcome::Failed);
        entry.response_id = rid;
        entry.change_id = Some(change_id);
        entry.message = Some(if st == status::FAILED {
            e.to_string()
        } else {
            format!("{e} (journal: {st}: {note})")
        });
        self.record(&entry);
        let mut result = crate::version::failure(client, def, &e).await;
        if st != status::FAILED {
            annotate_settled(&mut result, change_id, &st, &note);
        }
        (result, st != status::FAILED && st != status::NOT_APPLIED)
    }

    /// The human was asked in an input-required result: nothing ran. The MCP answer is that
    /// result (`server::call_tool`); this text is only what a caller without one would see.
    fn asked(&self, call: &Call<'_>) -> CallToolResult {
        let message = format!(
            "{} was not called yet: the human at the client was asked to approve it; the call runs when the client sends it again with their answer.",
            call.def.name
        );
        let mut entry = call.entry(Outcome::Asked);
        entry.message = Some(message.clone());
        self.record(&entry);
        outcome::error(message)
    }

    fn refuse(&self, call: &Call<'_>, message: String) -> CallToolResult {
        let mut entry = call.entry(Outcome::Refused);
        entry.message = Some(message.clone());
        self.record(&entry);
        outcome::error(message)
    }

    /// Why an `expect_state` no longer matches: the object changed, or the id now points at
    /// another object (ids shift after deletes) — and where the previewed object is now.
    async fn stale_message(
        &self,
        client: &Client,
        def: &ToolDef,
        expected: &str,
        current: &Value,
    ) -> String {
        let head = format!(
            "{} was not called: the target changed since the preview (expect_state {expected}, now {}).",
            def.name,
            state::fingerprint(current)
        );
        let Some(previewed) = self.issued_state(expected) else {
            return format!("{head} Preview again to see the current state and a new fingerprint.");
        };
        let was = state::identity(def.model, &previewed);
        let now = state::identity(def.model, current);
        if current.is_array() {
            let diff = state::diff_collection(def.model, &previewed, current);
            return format!(
                "{head} The collection differs from the preview: {diff}. Preview again before replacing it."
            );
        }
        if was.is_some() && was != now {
            let mut msg = format!(
                "{head} The id now points at a different object ({} instead of {}): ids shift after deletes.",
                now.as_ref()
                    .map(state::describe_identity)
                    .unwrap_or_else(|| "another object".into()),
                was.as_ref()
                    .map(state::describe_identity)
                    .unwrap_or_default(),
            );
            if let (Some(wanted), Some(Ok(all))) = (&was, state::read_collection(client, def).await)
            {
                match state::lookup(def.model, &all, wanted) {
                    state::Lookup::One(found) => msg.push_str(&format!(
                        " The object you previewed is now id {}: preview again with that id.",
                        found["id"]
                    )),
                    state::Lookup::Several(found) => msg.push_str(&format!(
                        " {} objects carry that identity now (ids {}): list the collection to find the one you previewed.",
                        found.len(),
                        found.iter().map(|o| o["id"].to_string()).collect::<Vec<_>>().join(", ")
                    )),
                    state::Lookup::Missing => {
                        msg.push_str(" The object you previewed no longer exists.")
                    }
                }
            }
            return msg;
        }
        let changed = state::differing_fields(&previewed, current);
        format!(
            "{head} The object was changed in between (fields: {}). Preview again to see the current state.",
            if changed.is_empty() {
                "unknown".into()
            } else {
                changed.join(", ")
            }
        )
    }
}

/// Say in a failure's result how the journal settled a change whose answer was unclear.
fn annotate_settled(result: &mut CallToolResult, change_id: i64, status: &str, note: &str) {
    let line = format!("\nJournal: change {change_id} is `{status}`: {note}.");
    if let Some(structured) = result.structured_content.as_mut() {
        structured["change_id"] = json!(change_id);
        structured["journal_status"] = json!(status);
    }
    if let Some(block) = result.content.iter_mut().find(|c| c.as_text().is_some()) {
        let old = block.as_text().map(|t| t.text.clone()).unwrap_or_default();
        *block = rmcp::model::ContentBlock::text(format!("{old}{line}"));
    }
}

/// Say in the result which journal entry the change is, and whether it is provisional.
fn annotate_change(
    result: &mut CallToolResult,
    (change_id, firewall): (i64, &str),
    undoable: bool,
    provisional: Option<(i64, std::time::Duration)>,
) {
    let mut note = format!("\nJournal: change {change_id}");
    if undoable {
        // With a config file the undo names the firewall: another may be selected by then.
        let on = if crate::fleet::from_config_file(firewall) {
            format!(", \"firewall\": \"{firewall}\"")
        } else {
            String::new()
        };
        note.push_str(&format!(
            " (undo with pfsense_undo {{\"change_id\": {change_id}{on}}})"
        ));
    }
    note.push('.');
    if let Some(structured) = result.structured_content.as_mut() {
        structured["change_id"] = json!(change_id);
        structured["undoable"] = json!(undoable);
        if let Some((until, d)) = provisional {
            structured["provisional_until"] = json!(super::time::rfc3339(until));
            note.push_str(&format!(
                " PROVISIONAL: the server undoes this change in {} s unless pfsense_confirm_changes is called (after checking the firewall still works as intended).",
                d.as_secs()
            ));
        }
    }
    if let Some(block) = result.content.iter_mut().find(|c| c.as_text().is_some()) {
        let old = block.as_text().map(|t| t.text.clone()).unwrap_or_default();
        *block = rmcp::model::ContentBlock::text(format!("{old}{note}"));
    }
}
