//! Objects pfrest keeps by itself along with their owner: a port forward's linked filter rule.
//!
//! pfrest v2.7.1 `Models/PortForward.inc` (measured on the lab by the differential test
//! `a_port_forwards_linked_rule_is_kept_like_pfrest`):
//! - `_create`: `associated_rule_id: "new"` is replaced by `get_unique_id()` (pfSense's
//!   `uniqid("nat_", true)`) before the port forward is written;
//! - `pre_apply_create`: unless the link is `""` or `"pass"`, a `FirewallRule` is created from the
//!   port forward's fields with the description "Associated rule for port forward rule <link>"
//!   and the link as its `associated_rule_id`, with no placement, so `Model::get_next_id` puts it
//!   at the end of the whole rule list. A failure (the link already carried by a rule:
//!   `associated_rule_id` is unique) answers 500
//!   `PORT_FORWARD_ASSOCIATED_FIREWALL_RULE_CREATION_FAILED`, the port forward staying created;
//! - `pre_apply_update`: the first rule carrying the link gets the same fields again (not the
//!   description); none carrying it, nothing happens;
//! - `pre_apply_delete`: every rule carrying the link is deleted (singular and plural deletes:
//!   `ModelSet::delete` deletes one by one, each with a rule delete's checks: the last rule is
//!   403 `MODEL_MANY_MINIMUM_REACHED`, the port forward staying deleted);
//! - `replace_all` (PUT of the plural) runs none of these: no rule is made or deleted, and
//!   `"new"` is stored as it is.
//!
//! A linked rule edited or deleted directly behaves as any rule: pfrest answers 200 and leaves
//! the port forward alone (its `associated_rule_id` then names no rule, and an update of it is
//! 404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND` until the link is cleared: `REFERENCES` in
//! `tables.rs`); the rule's own `associated_rule_id` is read-only and not editable (400
//! `FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE` when sent with another value: `NOT_EDITABLE` in
//! `rules.rs`).

use crate::engine::{self, Ctx};
use crate::reply::{ApiError, ApiResult};
use crate::validate::{Mode, Obj, merge_and_validate};
use pfsense_spec::tables::{LINKED_OBJECTS, LinkedObject as Linked, Made};
use serde_json::{Value, json};

fn row(model: &str) -> Option<&'static Linked> {
    LINKED_OBJECTS.iter().find(|l| l.owner == model)
}

/// The owner's link if it owns an object (pfrest: `$value and $value !== 'pass'`).
fn link_of(l: &Linked, owner: &Obj) -> Option<String> {
    owner
        .get(l.field)
        .and_then(Value::as_str)
        .filter(|v| !l.none.contains(v))
        .map(str::to_string)
}

/// The linked object's fields made from `owner`.
fn made(l: &Linked, owner: &Obj) -> Obj {
    l.fields
        .iter()
        .map(|(field, from)| {
            let value = match from {
                Made::Field(f) => owner.get(*f).cloned().unwrap_or(Value::Null),
                Made::ListOf(f) => json!([owner.get(*f).cloned().unwrap_or(Value::Null)]),
                Made::Text(t) => json!(t),
            };
            (field.to_string(), value)
        })
        .collect()
}

/// On a create, before the owner is stored: a `draw` link becomes a fresh one, shaped as
/// pfSense's `uniqid(prefix, true)` (13 hex digits, then a number with 8 decimals below 10).
pub fn draw(ctx: &mut Ctx, model: &str, owner: &mut Obj) {
    if stops_before_linked_steps(ctx) {
        return;
    }
    let Some(l) = row(model) else {
        return;
    };
    if owner.get(l.field).and_then(Value::as_str) != Some(l.draw) {
        return;
    }
    let hex = ctx.store.uniqid();
    let n = ctx.store.next_number();
    let link = format!(
        "{}{hex}{}.{:08}",
        l.prefix,
        n % 10,
        n.wrapping_mul(48_271) % 100_000_000
    );
    owner.insert(l.field.into(), json!(link));
}

fn failed(id: &str, what: &str, e: &ApiError) -> ApiError {
    ApiError::new(
        500,
        id,
        format!(
            "Failed to {what} associated firewall rule for port forward rule: {}",
            e.message
        ),
    )
}

/// After the owner was created: its linked object, appended at the end of its model's list.
pub fn after_create(ctx: &mut Ctx, model: &str, owner: &Obj) -> ApiResult<()> {
    if stops_before_linked_steps(ctx) {
        return Ok(());
    }
    let Some(l) = row(model) else {
        return Ok(());
    };
    let Some(link) = link_of(l, owner) else {
        return Ok(());
    };
    let mut input = made(l, owner);
    input.insert("descr".into(), json!(format!("{}{link}", l.descr)));
    let existing = ctx
        .store
        .collections
        .get(l.model)
        .cloned()
        .unwrap_or_default();
    let link = Obj::from_iter([(l.carries.to_string(), json!(link))]);
    let obj = engine::new_object(ctx, l.model, &input, None, &existing, &link)
        .map_err(|e| failed(l.create_failed, "create", &e))?;
    ctx.store
        .collections
        .entry(l.model.to_string())
        .or_default()
        .push(Value::Object(obj));
    record(ctx, "Added", l.model);
    Ok(())
}

/// After the owner was updated: the first object carrying its link gets the made fields again.
pub fn after_update(ctx: &mut Ctx, model: &str, owner: &Obj) -> ApiResult<()> {
    if stops_before_linked_steps(ctx) {
        return Ok(());
    }
    let Some(l) = row(model) else {
        return Ok(());
    };
    let Some(link) = link_of(l, owner) else {
        return Ok(());
    };
    let existing = ctx
        .store
        .collections
        .get(l.model)
        .cloned()
        .unwrap_or_default();
    let Some(idx) = existing
        .iter()
        .position(|o| o.get(l.carries).and_then(Value::as_str) == Some(link.as_str()))
    else {
        return Ok(());
    };
    let base = existing[idx].as_object().cloned().unwrap_or_default();
    let fail = |e: ApiError| failed(l.update_failed, "update", &e);
    let mut obj = merge_and_validate(
        ctx.catalog,
        l.model,
        &base,
        &made(l, owner),
        Mode::Update,
        None,
    )
    .map_err(fail)?;
    engine::check_unique(l.model, &existing, &obj, Some(idx)).map_err(fail)?;
    engine::check_references(ctx.catalog, ctx.store, l.model, &obj).map_err(fail)?;
    engine::apply_rules(
        ctx,
        l.model,
        &mut obj,
        Some(&base),
        None,
        Some(idx),
        &existing,
    )
    .map_err(fail)?;
    engine::touch_updated(ctx, l.model, &mut obj);
    if let Some(slot) = ctx
        .store
        .collections
        .get_mut(l.model)
        .and_then(|items| items.get_mut(idx))
    {
        *slot = Value::Object(obj);
    }
    record(ctx, "Modified", l.model);
    Ok(())
}

/// After the owner was deleted: every object carrying its link is deleted too, as pfrest's
/// `pre_apply_delete` does through `ModelSet::delete()`: one by one, the last first, each with
/// `Model::delete()`'s checks. A refusal answers the request as it is (lab, every release: the
/// last firewall rule, a port forward's linked one, is 403 `MODEL_MANY_MINIMUM_REACHED`), and
/// the owner and the objects deleted before it stay deleted.
pub fn after_delete(ctx: &mut Ctx, model: &str, owner: &Obj) -> ApiResult<()> {
    if stops_before_linked_steps(ctx) {
        return Ok(());
    }
    let Some(l) = row(model) else {
        return Ok(());
    };
    let Some(link) = link_of(l, owner) else {
        return Ok(());
    };
    loop {
        let items = ctx
            .store
            .collections
            .get(l.model)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(idx) = items
            .iter()
            .rposition(|o| o.get(l.carries).and_then(Value::as_str) == Some(link.as_str()))
        else {
            return Ok(());
        };
        let linked = items[idx].as_object().cloned().unwrap_or_default();
        engine::check_delete(ctx.catalog, ctx.store, l.model, &linked, items.len())?;
        if let Some(items) = ctx.store.collections.get_mut(l.model) {
            items.remove(idx);
        }
        record(ctx, "Deleted", l.model);
    }
}

/// A dry run (v2.8.0+) stops after validation, before pfrest's `_create` (which draws the
/// link) and the `pre_apply_*` steps that make, change or delete the linked rule:
/// `Model::create()`, `update()` and `delete()` return there. Lab-tested on v2.8.4 and v2.10.0:
/// a dry-run create answers `associated_rule_id: "new"` and makes no rule, one with a link a rule
/// already carries answers 200 (`a_port_forwards_dry_run_changes_nothing_like_pfrest`); a dry-run
/// delete of a port forward whose linked rule is the last rule answers 200
/// (`a_linked_rules_delete_is_checked_like_pfrest`).
fn stops_before_linked_steps(ctx: &Ctx) -> bool {
    ctx.control.dry_run
}

/// The config history revision of a write to a linked object (pfrest's linked rule writes go
/// through `FirewallRule::create`/`update`/`delete`, which write the config each).
fn record(ctx: &mut Ctx, verb: &str, model: &str) {
    let user = ctx.user.clone();
    ctx.store.add_revision(
        &user,
        &format!("{verb} {} via API", engine::verbose_name(model)),
    );
}
