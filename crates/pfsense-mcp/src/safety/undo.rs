//! Inverse operations: how to undo each kind of change, the checks that keep an undo from
//! overwriting someone else's later change, and settling journal rows a killed process left.
//!
//! pfSense has no restore endpoint (pfsense-rest-api.md, "Special endpoints"), so every undo
//! is an ordinary API call: delete what was created, patch old fields back, re-create what was
//! deleted between its old neighbours (`placement`), or put the old collection back (PUT).

use super::journal::{Change, status};
use super::sorted::{self, Sorted};
use super::state::{self, ChangeKind, describe_identity, identity, without_id};
use crate::catalog::{self, SecretArg, ToolDef};
use crate::client::Client;
use crate::request::PreparedRequest;
use crate::spec::{Method, PathKind};
use pfsense_spec::tables::{self, Made};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How to undo one change. Stored in the journal as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Inverse {
    /// Undo a create: delete the object it made.
    DeleteCreated {
        delete_tool: String,
        read_tool: String,
        list_tool: Option<String>,
    },
    /// Undo an update: patch the old values of the fields it changed.
    RestoreFields {
        update_tool: String,
        read_tool: String,
        list_tool: Option<String>,
        fields: Map<String, Value>,
    },
    /// Undo a delete: create the object again at its old position.
    Recreate {
        create_tool: String,
        list_tool: Option<String>,
        object: Map<String, Value>,
        position: Option<u64>,
        /// Where the linked object a [`Linked`] owner's delete took with it stood.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        linked_place: Option<LinkedPlace>,
    },
    /// Undo a replace or a bulk delete: put the old collection back.
    RestoreCollection {
        replace_tool: String,
        list_tool: String,
        objects: Vec<Value>,
        /// The linked objects' list a bulk delete of [`Linked`] owners took some of along,
        /// put back first ([`LinkedList`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        linked: Option<LinkedList>,
    },
    /// Undo a settings change: patch the old values back.
    RestoreSettings {
        update_tool: String,
        read_tool: String,
        fields: Map<String, Value>,
    },
}

impl Inverse {
    /// The tool that sends the inverse change.
    pub fn writing_tool(&self) -> &str {
        match self {
            Inverse::DeleteCreated { delete_tool, .. } => delete_tool,
            Inverse::RestoreFields { update_tool, .. }
            | Inverse::RestoreSettings { update_tool, .. } => update_tool,
            Inverse::Recreate { create_tool, .. } => create_tool,
            Inverse::RestoreCollection { replace_tool, .. } => replace_tool,
        }
    }

    /// Every tool the undo may write with: [`Self::writing_tool`], and for a re-create that
    /// draws a new link the linked model's update, which moves the new linked object back
    /// ([`LinkedPlace`]).
    pub fn writing_tools(&self) -> Vec<&str> {
        let mut tools = vec![self.writing_tool()];
        if let Inverse::RestoreCollection {
            linked: Some(linked),
            ..
        } = self
        {
            tools.push(&linked.replace_tool);
        }
        if let Inverse::Recreate {
            create_tool,
            object,
            ..
        } = self
            && let Some(create) = catalog::tool(create_tool)
            && let Some(link) = LINKED_OBJECTS.iter().find(|l| {
                l.owner == create.model
                    && object.get(l.field).and_then(Value::as_str) == Some(l.draw)
            })
            && let Some(update) = linked_update_tool(link)
        {
            tools.push(update.name);
        }
        tools
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn from_json(v: &Value) -> Option<Inverse> {
        serde_json::from_value(v.clone()).ok()
    }
}

fn name(def: Option<&'static ToolDef>) -> Option<String> {
    def.map(|d| d.name.to_string())
}

/// The secret fields a call sets (`password`, `prv`): the firewall never returns them, so no
/// undo can put back what they held.
pub fn secrets_set(args: &Value) -> Vec<&str> {
    args.as_object()
        .into_iter()
        .flat_map(Map::keys)
        .map(String::as_str)
        .filter(|f| !state::CONTROL_ARGS.contains(f) && crate::spec::tables::is_sensitive_field(f))
        .collect()
}

/// The old values of the fields a PATCH sets. Secrets are left out: the firewall never
/// returns them, so they cannot be restored.
fn old_fields(before: &Value, args: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(patch) = args.as_object() {
        for field in patch.keys() {
            if state::CONTROL_ARGS.contains(&field.as_str())
                || crate::spec::tables::is_sensitive_field(field)
            {
                continue;
            }
            out.insert(
                field.clone(),
                before.get(field).cloned().unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// Unset as pfrest writes it back ([`state::unset`]), or an empty object: sending `null` back
/// would store the same empty value again: no side effect to undo, nor to name.
fn is_empty(v: &Value) -> bool {
    state::unset(v) || v.as_object().is_some_and(Map::is_empty)
}

/// An update's inverse completed with what the firewall changed besides the fields sent (a
/// rule's ports cleared when its protocol is set to one without ports): their old values,
/// when the update tool takes them. Also their names.
pub fn with_side_effects(
    inverse: Inverse,
    def: &ToolDef,
    before: Option<&Value>,
    after: Option<&Value>,
) -> (Inverse, Vec<String>) {
    let (Some(before), Some(after)) = (before, after) else {
        return (inverse, Vec::new());
    };
    let mut added = Vec::new();
    let mut complete = |fields: &mut Map<String, Value>| {
        for arg in def.args {
            let name = arg.name;
            if arg.role != crate::spec::ArgRole::Field
                || arg.sensitive
                || name == "id"
                || state::CONTROL_ARGS.contains(&name)
                || fields.contains_key(name)
                || refused_old_value(def.model, name, before)
            {
                continue;
            }
            let old = before.get(name).cloned().unwrap_or(Value::Null);
            let new = after.get(name).cloned().unwrap_or(Value::Null);
            if old != new && !(is_empty(&old) && is_empty(&new)) {
                fields.insert(name.to_string(), old);
                added.push(name.to_string());
            }
        }
    };
    let inverse = match inverse {
        Inverse::RestoreFields {
            update_tool,
            read_tool,
            list_tool,
            mut fields,
        } => {
            complete(&mut fields);
            Inverse::RestoreFields {
                update_tool,
                read_tool,
                list_tool,
                fields,
            }
        }
        Inverse::RestoreSettings {
            update_tool,
            read_tool,
            mut fields,
        } => {
            complete(&mut fields);
            Inverse::RestoreSettings {
                update_tool,
                read_tool,
                fields,
            }
        }
        other => other,
    };
    (inverse, added)
}

/// An object as a create takes it back: its writable fields and the read-only ones `kept`
/// (pfrest stores them as sent).
fn writable_and_kept(create: &ToolDef, kept: &[&str], object: &Value) -> Map<String, Value> {
    let mut fields = state::writable_fields(create, object);
    for f in kept {
        if let Some(v) = object.get(*f).filter(|v| !v.is_null()) {
            fields.insert((*f).to_string(), v.clone());
        }
    }
    fields
}

/// Objects of a collection as a PUT takes them back: their writable fields, and the read-only
/// ones pfrest keeps when sent (a rule's `tracker`, `state::KEPT_READ_ONLY_FIELDS`), so the
/// objects put back are the ones the journal knows and stay told apart.
fn writable_list(def: &ToolDef, collection: &Value) -> Vec<Value> {
    let create = state::sibling(def, PathKind::Item, Method::Post);
    let kept = state::kept_read_only_fields(def.model);
    collection
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|o| match create {
                    Some(c) => Value::Object(writable_and_kept(c, kept, o)),
                    None => without_id(o),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An object whose deletion takes another with it, by pfrest's own code (the facts:
/// `pfsense-spec`'s [`tables::LINKED_OBJECTS`], which the emulator plays too), and what a
/// preview says of it. Re-creating the owner with its old link fails (404
/// FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND: the linked object went with it); re-created with the
/// table's `draw` keyword it makes a new linked object from its own fields, at the end of that
/// list, so no other object's id moves.
pub type Linked = tables::LinkedObject;

pub use pfsense_spec::tables::LINKED_OBJECTS;

/// For previews: what the firewall does besides the delete of a [`Linked`] owner, and what
/// undo does. A unit test holds a row for every owner.
struct LinkedNotes {
    owner: &'static str,
    /// Undo draws a new link.
    drawn: &'static str,
    /// No linked object carried the link any more ([`with_linked_place`]).
    gone: &'static str,
    /// A bulk delete takes linked objects along and their list could not be read
    /// ([`with_linked`]): no undo.
    bulk: &'static str,
}

const LINKED_NOTES: &[LinkedNotes] = &[LinkedNotes {
    owner: "PortForward",
    drawn: "pfSense also deletes the port forward's linked filter rule; undo re-creates the port forward with a new linked rule made from its fields (a new associated_rule_id; pfSense appends the rule to the rule list, and undo moves it back between the rules the old one stood between, when they are found again, and writes back what the old rule had besides: a description of its own, logging, a schedule, …)",
    gone: "the port forward's linked filter rule is gone already (deleted on its own; the forward's associated_rule_id still names it), so undo re-creates the port forward without a linked rule (associated_rule_id empty): pfSense refuses a link to a rule that is gone, and a new rule would pass traffic that no rule passes now",
    bulk: "no: pfSense also deletes the linked filter rule of each port forward with an associated_rule_id, and the rule list could not be read to put them back with the port forwards",
}];

fn notes_of(model: &str) -> Option<&'static LinkedNotes> {
    LINKED_NOTES.iter().find(|n| n.owner == model)
}

/// The preview's note on the re-create of a [`Linked`] owner deleted as `before` shows it
/// (`object`: what the re-create sends), if it had a link: a new one drawn, or none since its
/// linked object is gone.
pub fn linked_note(
    model: &str,
    object: &Map<String, Value>,
    before: Option<&Value>,
) -> Option<&'static str> {
    let link = LINKED_OBJECTS.iter().find(|l| l.owner == model)?;
    before?
        .get(link.field)?
        .as_str()
        .filter(|v| link.links(v))?;
    let sent = object.get(link.field).and_then(Value::as_str)?;
    if sent == link.draw {
        Some(notes_of(model).map_or(
            "pfSense also deletes the linked object; undo re-creates it with a new link",
            |n| n.drawn,
        ))
    } else if sent == link.unlinked {
        notes_of(model).map(|n| n.gone)
    } else {
        None
    }
}

/// The preview's note on a bulk delete of [`Linked`] owners that has no undo ([`with_linked`]).
pub fn bulk_linked_note(model: &str) -> Option<&'static str> {
    LINKED_OBJECTS.iter().find(|l| l.owner == model)?;
    Some(notes_of(model).map_or(
        "no: pfSense also deletes the linked objects, and their list could not be read to put them back",
        |n| n.bulk,
    ))
}

/// The linked-object row whose link `object` (of `model`) holds, if any.
pub fn linked(model: &str, object: &Map<String, Value>) -> Option<&'static Linked> {
    LINKED_OBJECTS.iter().find(|l| {
        l.owner == model
            && object
                .get(l.field)
                .and_then(Value::as_str)
                .is_some_and(|v| l.links(v))
    })
}

/// The first tool that reads a whole list of `model`.
fn list_tool_of(model: &str) -> Option<&'static ToolDef> {
    catalog::TOOLS
        .iter()
        .find(|t| t.model == model && t.path_kind == PathKind::Plural && t.method == Method::Get)
}

/// The tool that updates one of `link`'s linked objects (a move back: [`LinkedPlace`]).
fn linked_update_tool(link: &Linked) -> Option<&'static ToolDef> {
    catalog::TOOLS.iter().find(|t| {
        t.model == link.model && t.method == Method::Patch && t.path_kind == PathKind::Item
    })
}

/// Where a [`Linked`] owner's linked object stood in its list before the owner's delete took it
/// away: the objects right before and right after it, as read then (found again by identity).
/// The owner's re-create makes a new linked object at the end of that list; undo moves it back
/// there. `object` is the linked object itself as read then, so that undo writes back what the
/// re-create does not make ([`own_fields`]); journal rows from before it was kept have none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedPlace {
    pub after: Option<Value>,
    pub before: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Box<Value>>,
}

/// The list of a [`Linked`] owner's linked objects (the rules) before a bulk delete of owners
/// took the ones carrying their links along: pfrest's bulk delete runs each owner's
/// `pre_apply_delete`, while a PUT of the owners runs no hook and is refused for a link no
/// linked object carries (404 `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`). The undo puts this list
/// back first, each object with its `tracker` and link (`state::KEPT_READ_ONLY_FIELDS`), and
/// then the owners, whose links name them again (differential test
/// `port_forward_links_are_checked_like_pfrest`); only while the list is still as the delete
/// left it ([`Self::left`]), so that no later change of it is lost. The journal row keeps the
/// list once, with the links; what the PUT sends and what the delete leaves come from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedList {
    pub replace_tool: String,
    pub list_tool: String,
    /// The list as read before the delete (a batch's preview plays it).
    pub before: Value,
    /// The links of the owners the delete takes away.
    #[serde(default)]
    pub links: Vec<String>,
}

impl LinkedList {
    /// Read before a bulk delete of `link`'s owners carrying `links`; None when it cannot be
    /// read.
    async fn read(client: &Client, link: &Linked, links: &[&str]) -> Option<LinkedList> {
        let list = list_tool_of(link.model)?;
        let replace = state::sibling(list, PathKind::Plural, Method::Put)?;
        let before = state::read(client, list, json!({})).await.ok()?;
        Some(LinkedList {
            replace_tool: replace.name.to_string(),
            list_tool: list.name.to_string(),
            before,
            links: links.iter().map(|l| l.to_string()).collect(),
        })
    }

    /// The list as the delete leaves it: without the objects carrying one of the links (later
    /// ids shifting down).
    fn left(&self, link: &Linked) -> Value {
        let mut left: Vec<Value> = self.before.as_array().cloned().unwrap_or_default();
        left.retain(|o| {
            !o.get(link.carries)
                .and_then(Value::as_str)
                .is_some_and(|v| self.links.iter().any(|l| l == v))
        });
        renumber(&mut left);
        Value::Array(left)
    }
}

/// The fields of `old`, a linked object an owner's delete took away, that the owner's re-create
/// does not make again: pfrest makes the new one from the owner's fields ([`Linked`]'s
/// `fields`) and a description of its own naming the link, so what the old one had besides
/// (seen on the lab, v2.7.1: a description of its own and logging, lost by an undo that only
/// re-created the port forward) is written back after the re-create. Left out: what the owner
/// writes, the link, the description pfrest wrote, and what a new object has anyway: an empty
/// value (`null`, `""`, `[]`, `false`: a new rule's booleans start false) or the create's
/// default.
fn own_fields(link: &Linked, update: &ToolDef, old: &Value) -> Map<String, Value> {
    let create = state::sibling(update, PathKind::Item, Method::Post).map(ToolDef::schema);
    let default = |field: &str| {
        create
            .and_then(|s| s.get("properties")?.get(field)?.get("default"))
            .cloned()
    };
    let pfrests_descr = old
        .get(link.carries)
        .and_then(Value::as_str)
        .map(|l| format!("{}{l}", link.descr));
    state::writable_fields(update, old)
        .into_iter()
        .filter(|(field, value)| {
            let made_anyway = field == link.carries
                || link.fields.iter().any(|(f, _)| f == field)
                || (field == "descr" && value.as_str() == pfrests_descr.as_deref())
                || is_empty(value)
                || *value == Value::Bool(false)
                || default(field).as_ref() == Some(value);
            !made_anyway
        })
        .collect()
}

/// A change's inverse completed with what the firewall shows of a [`Linked`] owner's linked
/// objects, read before the change is sent: a delete's with where the linked object stands
/// ([`with_linked_place`]); a bulk delete's (`args`: its query), when an owner it deletes has a
/// link, with the linked objects' list to put back first ([`LinkedList`]: without it the PUT
/// of the owners was refused, seen on the lab, every release: 404
/// `FOREIGN_MODEL_FIELD_VALUE_NOT_FOUND`, nothing put back). Dropped when what the bulk delete
/// deletes, or that list, cannot be read.
pub async fn with_linked(
    client: &Client,
    inverse: Option<Inverse>,
    def: &ToolDef,
    args: &Value,
    before: Option<&Value>,
) -> Option<Inverse> {
    let Some(link) = LINKED_OBJECTS.iter().find(|l| l.owner == def.model) else {
        return inverse;
    };
    match inverse {
        Some(Inverse::Recreate { .. }) => {
            with_linked_place(client, inverse, def.model, before).await
        }
        Some(Inverse::RestoreCollection {
            replace_tool,
            list_tool,
            objects,
            linked: None,
        }) if ChangeKind::of(def) == ChangeKind::BulkDelete => {
            let deleted = state::bulk_delete_matches(client, def, args).await.ok()?;
            let links: Vec<&str> = deleted
                .as_array()?
                .iter()
                .filter_map(|o| o.get(link.field)?.as_str().filter(|v| link.links(v)))
                .collect();
            let linked = if links.is_empty() {
                None
            } else {
                Some(LinkedList::read(client, link, &links).await?)
            };
            Some(Inverse::RestoreCollection {
                replace_tool,
                list_tool,
                objects,
                linked,
            })
        }
        inverse => inverse,
    }
}

/// A delete's inverse completed with where the owner's linked object stands
/// ([`LinkedPlace`]), read before the delete is sent (it takes the linked object away).
/// `before`: the owner as the delete finds it. When no object carries the owner's link (a
/// rule deleted on its own, which pfrest lets stand in the forward), the re-create sends
/// [`Linked`]'s `unlinked` instead of drawing a link: pfrest would make a new linked object
/// the firewall did not have before the delete (seen on the lab: a new pass rule for the
/// forward's port). Unchanged when the owner has no link or the list cannot be read (the
/// undo then leaves the new linked object at the end of its list).
async fn with_linked_place(
    client: &Client,
    inverse: Option<Inverse>,
    model: &str,
    before: Option<&Value>,
) -> Option<Inverse> {
    let Some(Inverse::Recreate {
        create_tool,
        list_tool,
        mut object,
        position,
        linked_place: None,
    }) = inverse
    else {
        return inverse;
    };
    let found = async {
        let link = LINKED_OBJECTS.iter().find(|l| l.owner == model)?;
        let value = before?
            .get(link.field)?
            .as_str()
            .filter(|v| link.links(v))?;
        let all = state::read(client, list_tool_of(link.model)?, json!({}))
            .await
            .ok()?;
        let all = all.as_array()?;
        let at = all
            .iter()
            .position(|o| o.get(link.carries).and_then(Value::as_str) == Some(value));
        Some((
            link,
            at.map(|at| LinkedPlace {
                after: at.checked_sub(1).and_then(|i| all.get(i)).cloned(),
                before: all.get(at + 1).cloned(),
                object: all.get(at).cloned().map(Box::new),
            }),
        ))
    }
    .await;
    let linked_place = match found {
        Some((link, None)) => {
            object.insert(link.field.into(), json!(link.unlinked));
            None
        }
        Some((_, place)) => place,
        None => None,
    };
    Some(Inverse::Recreate {
        create_tool,
        list_tool,
        object,
        position,
        linked_place,
    })
}

/// A [`Linked`] owner created and deleted within one batch of undos (and maybe changed in
/// between): the changes cancel out. Undone one by one they cannot be: the delete's undo
/// re-creates the owner with a link pfrest draws anew (the old one names no object any more),
/// and the create's undo then finds an owner that is not the one it made. Their net effect is
/// nothing (the owner and its linked objects are gone, as before the create), so their undo
/// sends nothing once the state the newer undos leave shows neither the owner nor a linked
/// object carrying the link.
#[derive(Clone)]
pub struct CancelsOut {
    pub link: &'static Linked,
    /// The link the create drew (pfSense's `get_unique_id()`: one owner's lifetime).
    pub value: String,
    pub created_by: i64,
    pub deleted_by: i64,
}

/// The link `change` (a create, update or delete of a [`Linked`] owner) holds on its object.
fn link_of(change: &Change, link: &Linked) -> Option<String> {
    let object = if change.kind == ChangeKind::Create.as_str() {
        change.after.as_ref()
    } else if change.kind == ChangeKind::Update.as_str()
        || change.kind == ChangeKind::Delete.as_str()
    {
        change.before.as_ref()
    } else {
        None
    }?;
    object
        .get(link.field)?
        .as_str()
        .filter(|v| link.links(v))
        .map(str::to_string)
}

/// Whether `change` cancels out within `batch` (the changes one undo takes back): the batch
/// holds the create that drew its object's link and, no older than `change`, the delete of
/// that object.
pub fn cancels_out(change: &Change, batch: &[Change]) -> Option<CancelsOut> {
    let link = LINKED_OBJECTS.iter().find(|l| l.owner == change.model)?;
    let value = link_of(change, link)?;
    let of_kind = |kind: ChangeKind| {
        batch.iter().find(|c| {
            c.model == change.model
                && c.kind == kind.as_str()
                && link_of(c, link).as_deref() == Some(value.as_str())
        })
    };
    let created = of_kind(ChangeKind::Create)?;
    let deleted = of_kind(ChangeKind::Delete)?;
    (created.id <= change.id && change.id <= deleted.id && created.id < deleted.id).then_some(
        CancelsOut {
            link,
            value,
            created_by: created.id,
            deleted_by: deleted.id,
        },
    )
}

/// The due change (the oldest, by id) whose auto-revert takes `later`, a provisional change
/// not due yet, along: reverted early, newest first, as a batch undo runs, so that the
/// firewall is left as before the earliest unconfirmed change. A due change takes along the
/// later ones it cancels out with ([`cancels_out`]), and, when its undo reads the list as it
/// recorded it, every later change of the same model: a model without stable identity (the
/// undo finds its object at the id it saw, and a re-create compares the whole list), a list
/// replaced or bulk-deleted (its state before is the list), or settings. Undone after a later
/// change of that list is undone, it finds it as it left it; undone alone, it was refused
/// ("the … list has changed since", or the object "no longer exists") and left in place.
/// Likewise a later change of the same object of a model with stable identity (an alias
/// updated twice, then deleted): undone alone, the first update found it changed since. And a
/// later change of the other side of a link pfrest keeps itself ([`across_link`]).
pub fn reverted_with(
    later: &Change,
    provisional: &[Change],
    is_due: impl Fn(&Change) -> bool,
) -> Option<i64> {
    let reads_list = |c: &Change| {
        c.model == later.model
            && c.before
                .as_ref()
                .or(c.after.as_ref())
                .is_some_and(|o| identity(&c.model, o).is_none())
    };
    // The same object (stable identity): its due undo would find it changed since, or gone.
    let object = |c: &Change, first: &Option<Value>, then: &Option<Value>| {
        first
            .as_ref()
            .or(then.as_ref())
            .and_then(|o| identity(&c.model, o))
    };
    let later_object = object(later, &later.before, &later.after);
    let same_object = |d: &Change| {
        d.model == later.model
            && later_object.is_some()
            && object(d, &d.after, &d.before) == later_object
    };
    let cancel = cancels_out(later, provisional);
    provisional
        .iter()
        .filter(|d| d.id < later.id && is_due(d))
        .filter(|d| {
            reads_list(d)
                || same_object(d)
                || cancel.as_ref().is_some_and(|k| k.created_by == d.id)
                || across_link(d, later)
        })
        .map(|d| d.id)
        .min()
}

/// Whether `a` and `b` change the two sides of one link, which pfrest keeps together itself
/// (a port forward's create makes its rule, its update rewrites it, its delete deletes it):
/// one changes an owner that carries a link, the other the linked object carrying that link,
/// or the linked list whole (the owner's create or delete adds or takes away one of it).
/// Undone alone, the older one's undo finds the other side as the newer change left it: a
/// rule change due before its forward's delete found no rule with its tracker, and one due
/// after its forward's create was undone found its rule deleted with the forward.
fn across_link(a: &Change, b: &Change) -> bool {
    LINKED_OBJECTS.iter().any(|link| {
        let (owner, linked) = if a.model == link.owner && b.model == link.model {
            (a, b)
        } else if b.model == link.owner && a.model == link.model {
            (b, a)
        } else {
            return false;
        };
        // A bulk delete that took linked objects along puts their whole list back.
        if linked_list_of(owner).is_some() {
            return true;
        }
        let Some(value) = link_of(owner, link) else {
            return false;
        };
        [&linked.before, &linked.after]
            .into_iter()
            .flatten()
            .any(|o| match o {
                Value::Array(_) => true,
                o => o.get(link.carries).and_then(Value::as_str) == Some(value.as_str()),
            })
    })
}

/// What the undos of a batch, and those run since a change, did to [`Linked`] owners, as the
/// state the change recorded is to be read once they ran. A state recorded before holds an
/// owner, or its linked object, with its link: the list an older delete left, the object an
/// older update left.
/// - Links drawn anew (row, old link, new link): an undo re-created the owner, and pfrest drew
///   a new link (it does on every create), or none ([`with_linked_place`]: the new value as the
///   firewall shows it, `null` on the lab). The firewall shows the owner with the new one, and
///   nobody changed it. The pairs come from the undos already run (the journal's re-creating
///   undos: their `after` is what they made) and, in a batch's preview, from the re-creates its
///   newer undos will send, which draw a link not known yet (the played lists show the table's
///   `draw` there).
/// - Links gone (row, link): a create and a delete of the batch around the change cancel out
///   ([`cancels_out`]): their owner is gone once the newer undos ran, as before the create.
///
/// [`Redrawn::follow`] writes a recorded state as the firewall then shows it.
#[derive(Clone, Default)]
pub struct Redrawn {
    drawn: Vec<(&'static Linked, String, Value)>,
    gone: Vec<(&'static Linked, String)>,
}

impl Redrawn {
    /// An undo of `undone` (the delete of an owner) re-created it as `made` (the create's
    /// answer): the owner's old link and the one pfSense drew for it.
    pub fn add(&mut self, undone: &Change, made: &Value) {
        if undone.kind != ChangeKind::Delete.as_str() {
            return;
        }
        let Some(link) = LINKED_OBJECTS.iter().find(|l| l.owner == undone.model) else {
            return;
        };
        let new = made.get(link.field).cloned().unwrap_or(Value::Null);
        if let Some(old) = link_of(undone, link)
            && new.as_str() != Some(old.as_str())
        {
            self.drawn.push((link, old, new));
        }
    }

    /// With the links of the owners a create and a delete of `batch` made and took away around
    /// `change` (older and newer than it): gone once the newer undos ran.
    pub fn cancelled_around(mut self, change: &Change, batch: &[Change]) -> Redrawn {
        for c in batch {
            if let Some(k) = cancels_out(c, batch)
                && k.created_by < change.id
                && change.id < k.deleted_by
                && !self.gone.iter().any(|(_, v)| *v == k.value)
            {
                self.gone.push((k.link, k.value));
            }
        }
        self
    }

    /// These and what the undos of `newer` (planned, not run) will draw: a step re-creating
    /// the owner a newer delete deleted sends the table's `draw`, or `unlinked`.
    fn with_newer(&self, newer: &[Newer<'_>]) -> Redrawn {
        let mut all = self.clone();
        for (change, steps) in newer {
            let Some(link) = LINKED_OBJECTS.iter().find(|l| l.owner == change.model) else {
                continue;
            };
            let sent = steps.iter().find_map(|s| {
                (s.tool.model == link.owner
                    && s.tool.method == Method::Post
                    && s.tool.path_kind == PathKind::Item)
                    .then(|| s.args.get(link.field)?.as_str())
                    .flatten()
                    .filter(|v| *v == link.draw || *v == link.unlinked)
            });
            if let (Some(sent), Some(old)) = (
                sent.filter(|_| change.kind == ChangeKind::Delete.as_str()),
                link_of(change, link),
            ) {
                all.drawn.push((link, old, json!(sent)));
            }
        }
        all
    }

    /// Whether `object` carries a link that is gone.
    fn carries_gone(&self, object: &Value) -> bool {
        self.gone.iter().any(|(link, value)| {
            [link.field, link.carries]
                .iter()
                .any(|f| object.get(*f).and_then(Value::as_str) == Some(value.as_str()))
        })
    }

    /// `recorded` (a state of `model`) with every old link, on an owner or a linked object,
    /// replaced by the new one (in order, so a link drawn anew twice ends at the last), and a
    /// list without the objects carrying a link that is gone (later ids shifting down, as
    /// pfrest's do). An owner re-created without a link ([`with_linked_place`]: nothing carried
    /// it) leaves what a linked object recorded as it was.
    fn follow(&self, model: &str, recorded: &Value) -> Value {
        let mut out = recorded.clone();
        for (link, old, new) in &self.drawn {
            let drawn = new
                .as_str()
                .is_some_and(|n| n == link.draw || link.links(n));
            if drawn || model == link.owner {
                replace_link(&mut out, link, old, new);
            }
        }
        if let Value::Array(items) = &mut out {
            let before = items.len();
            items.retain(|o| !self.carries_gone(o));
            if items.len() < before {
                renumber(items);
            }
        }
        out
    }

    /// How many objects of `recorded` (a list) before id `position` carry a link that is gone:
    /// an object re-created at `position` goes that much earlier once they are.
    fn gone_before(&self, recorded: Option<&Value>, position: u64) -> u64 {
        let items = recorded
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        items
            .iter()
            .filter(|o| {
                o.get("id")
                    .and_then(Value::as_u64)
                    .is_some_and(|id| id < position)
            })
            .filter(|o| self.carries_gone(o))
            .count() as u64
    }
}

fn replace_link(value: &mut Value, link: &Linked, old: &str, new: &Value) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| replace_link(v, link, old, new)),
        Value::Object(o) => {
            for field in [link.field, link.carries] {
                if let Some(v) = o.get_mut(field).filter(|v| v.as_str() == Some(old)) {
                    *v = new.clone();
                }
            }
            // pfrest's description of the linked object it made names the link.
            let written = format!("{}{old}", link.descr);
            if let (Some(v), Some(new)) = (
                o.get_mut("descr")
                    .filter(|v| v.as_str() == Some(written.as_str())),
                new.as_str(),
            ) {
                *v = json!(format!("{}{new}", link.descr));
            }
        }
        _ => {}
    }
}

/// Check that a change that [`cancels_out`] leaves nothing to undo, in the state the undos of
/// `newer` leave: no owner and no linked object carries its link (someone may have put one
/// back since). What its undo does (sends nothing, and why), or why it is refused.
pub async fn check_cancelled(
    client: &Client,
    change: &Change,
    cancel: &CancelsOut,
    newer: &[Newer<'_>],
) -> Result<String, String> {
    let link = cancel.link;
    for (model, field) in [(link.owner, link.field), (link.model, link.carries)] {
        let Some(list) = list_tool_of(model) else {
            continue;
        };
        let all = read_left_by_newer(client, list, newer).await?;
        if let Some(found) = all
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o.get(field).and_then(Value::as_str) == Some(cancel.value.as_str()))
        {
            return Err(format!(
                "change {} created the {} with {} `{}` and change {} deleted it, so undoing them would send nothing, but a {model} carrying that link exists (id {}): someone put it back since; undo refused. Look at it and delete it by hand if you still want to",
                cancel.created_by,
                link.owner,
                link.field,
                cancel.value,
                cancel.deleted_by,
                found.get("id").unwrap_or(&Value::Null)
            ));
        }
    }
    let what = format!("the {} with {} `{}`", link.owner, link.field, cancel.value);
    Ok(if change.id == cancel.created_by {
        format!(
            "send nothing: change {} of this batch deleted {what} this change created, and pfSense deleted its linked {} with it, so the firewall is already as before this change",
            cancel.deleted_by, link.model
        )
    } else if change.id == cancel.deleted_by {
        format!(
            "send nothing: {what} this change deleted was created by change {} of this batch, so undoing both leaves it and its linked {} gone, as before change {} (re-creating it would only draw a new {} to delete again)",
            cancel.created_by, link.model, cancel.created_by, link.field
        )
    } else {
        format!(
            "send nothing: {what} this change changed was created by change {} and deleted by change {} of this batch",
            cancel.created_by, cancel.deleted_by
        )
    })
}

/// The secret field a create of `def`'s model requires, if any, with when: an object deleted
/// cannot be made again without it (a user's `password`, a certificate's `prv`, a CARP
/// address's `password` while `mode` is "carp"), since the firewall never returns it.
/// `before`: the object, or the list, as it was; without it only what is always required.
pub fn secret_needed_to_recreate(def: &ToolDef, before: Option<&Value>) -> Option<String> {
    let create = state::sibling(def, PathKind::Item, Method::Post)?;
    if let Some(a) = create.args.iter().find(|a| a.required && a.sensitive) {
        return Some(format!("`{}`", a.name));
    }
    let objects = objects_of(Some(before?));
    create
        .secrets
        .iter()
        .filter(|s| s.required_when_available && !s.when.is_empty())
        .find(|s| objects.iter().any(|o| s.available_on(o)))
        .map(SecretArg::describe)
}

/// The objects a state before a change holds: a list's items, or the one object.
fn objects_of(before: Option<&Value>) -> Vec<&Value> {
    match before {
        Some(Value::Array(all)) => all.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    }
}

/// The old values of the fields an update sets; None when it sets secrets alone, so that an
/// undo would put nothing back (seen on the pfrest lab: "Undone" with nothing sent back).
/// None too when the update takes the object out of what a secret it held is required for:
/// pfrest drops the secret, and putting the old values back would need it.
/// Old values pfrest refuses on an update (`OLD_VALUES_REFUSED`) are left out, and None when
/// nothing else is left to put back.
fn restorable_fields(def: &ToolDef, before: &Value, args: &Value) -> Option<Map<String, Value>> {
    if secret_dropped_by_update(def, before, args).is_some() {
        return None;
    }
    let mut fields = old_fields(before, args);
    let refused = old_values_refused(def, before, args);
    fields.retain(|field, _| !refused.iter().any(|r| r.field == field));
    (!fields.is_empty() || (secrets_set(args).is_empty() && refused.is_empty())).then_some(fields)
}

/// An old value pfrest refuses on an update, so that an undo cannot write it back.
pub struct OldValueRefused {
    pub model: &'static str,
    pub field: &'static str,
    /// Whether the old value `old` of the object `before` is one pfrest refuses.
    pub refused: fn(before: &Value, old: &Value) -> bool,
    /// What happens instead, for the preview.
    pub why: &'static str,
}

/// By model and field, the old values pfrest refuses to take back.
pub const OLD_VALUES_REFUSED: &[OldValueRefused] = &[OldValueRefused {
    model: "NetworkInterface",
    field: "descr",
    // Seen on the pfrest lab, v2.7.1 to v2.10.0: pfrest shows an interface without a
    // description under its id in capitals, and refuses that name on a change
    // (FILTER_NAME_VALIDATOR_RESERVED_NAME_USED: `get_pf_reserved()` reserves every interface
    // id in capitals).
    refused: |before, old| {
        let id = before.get("id").and_then(Value::as_str).unwrap_or_default();
        !id.is_empty() && old.as_str() == Some(id.to_uppercase().as_str())
    },
    why: "pfrest refuses the interface's default description (its id in capitals, a name pf reserves) on a change, so the new one stays",
}];

/// The entries of `OLD_VALUES_REFUSED` an update of `def` with `args` meets on `before`.
pub fn old_values_refused(
    def: &ToolDef,
    before: &Value,
    args: &Value,
) -> Vec<&'static OldValueRefused> {
    OLD_VALUES_REFUSED
        .iter()
        .filter(|r| r.model == def.model)
        .filter(|r| {
            args.get(r.field)
                .is_some_and(|new| before.get(r.field) != Some(new))
                && refused_old_value(def.model, r.field, before)
        })
        .collect()
}

/// Whether `before`'s value of `field` is one pfrest refuses to take back (`OLD_VALUES_REFUSED`).
fn refused_old_value(model: &str, field: &str, before: &Value) -> bool {
    OLD_VALUES_REFUSED.iter().any(|r| {
        r.model == model
            && r.field == field
            && (r.refused)(before, before.get(field).unwrap_or(&Value::Null))
    })
}

/// The secret `def`'s update drops, with when it is required: one the object held (its
/// conditions hold on `before`), required while they hold, whose conditions the update's
/// fields break, sent or not (seen on the pfrest lab: a CARP address
/// made an IP alias lost its `password`, and the undo's PATCH back to CARP was refused for the
/// want of it).
pub fn secret_dropped_by_update(def: &ToolDef, before: &Value, args: &Value) -> Option<String> {
    let mut after = before.clone();
    if let (Some(after), Some(sent)) = (after.as_object_mut(), args.as_object()) {
        for (field, value) in sent {
            after.insert(field.clone(), value.clone());
        }
    }
    // What a create requires: an update requires nothing of itself.
    let create = state::sibling(def, PathKind::Item, Method::Post)?;
    create
        .secrets
        .iter()
        .filter(|s| s.required_when_available && !s.when.is_empty())
        .find(|s| s.available_on(before) && !s.available_on(&after))
        .map(SecretArg::describe)
}

/// The secrets a create of `def`'s model takes without requiring them (a CA's `prv`, an LDAP
/// server's `ldap_bindpw`): the firewall never returns them, so an object deleted comes back
/// without them.
/// `before`: the object, or the list, as it was: a secret whose conditions none of them meet
/// (a password for CARP on an IP alias) was never held.
pub fn secrets_lost_on_recreate(def: &ToolDef, before: Option<&Value>) -> Vec<&'static str> {
    let Some(create) = state::sibling(def, PathKind::Item, Method::Post) else {
        return Vec::new();
    };
    let objects = objects_of(before);
    let held = |name: &str| {
        create
            .secrets
            .iter()
            .find(|s| s.name == name)
            .is_none_or(|s| before.is_none() || objects.iter().any(|o| s.available_on(o)))
    };
    create
        .args
        .iter()
        .filter(|a| a.sensitive && !a.required && a.role == crate::spec::ArgRole::Field)
        .map(|a| a.name)
        .filter(|name| held(name))
        .collect()
}

/// Secrets pfrest makes anew when a create sends none (a field's `default_callable`, read in
/// its models, v2.7.1 to v2.10.0): a re-create comes back with a different one. By model and
/// field, what that does.
pub const SECRETS_MADE_ANEW: &[(&str, &str, &str)] = &[
    (
        "OpenVPNServer",
        "tls",
        // `generate_tls_key`, while `use_tls` is on.
        "pfrest makes a new TLS key in its place, so clients set up with the old one cannot connect until they are given the new one",
    ),
    (
        "ACMEAccountKey",
        "accountkey",
        // `generate_rsa_key`.
        "pfrest makes a new account key in its place, which the ACME server does not know until it is registered again",
    ),
];

/// What a delete takes besides its object, which undo does not bring back: by model, what pfrest
/// does.
pub const DELETE_TAKES_ALONG: &[(&str, &str)] = &[
    (
        "CertificateAuthority",
        // `CertificateAuthority::_delete` (seen on the pfrest lab for the certificates; CRLs
        // cannot be made on the lab, whose PHP lacks pfSense's ASN.1 library).
        "pfrest also takes it off the certificates it signed (their `caref` is cleared) and deletes its certificate revocation lists; undo brings back neither: the CA returns under a new `refid`, and the certificates stay unlinked",
    ),
    (
        "NetworkInterface",
        // `NetworkInterface::_delete` deletes `dhcpdv6/<id>` (read in pfrest v2.7.1 to v2.10.0,
        // not run: the lab's config has none). Its rules, port forwards and DHCP server are the
        // interface guard's (`guard::INTERFACES`).
        "pfrest also deletes its DHCPv6 server and router advertisement settings, if it has any (config.xml's `dhcpdv6`), which REST API v2 can neither read nor write: undo re-creates the interface without them",
    ),
];

/// The inverse of a call, planned before it runs. None when it cannot be undone.
pub fn plan(def: &ToolDef, args: &Value, before: Option<&Value>) -> Option<Inverse> {
    let removes = matches!(
        ChangeKind::of(def),
        ChangeKind::Delete | ChangeKind::Replace | ChangeKind::BulkDelete
    );
    if removes && secret_needed_to_recreate(def, before).is_some() {
        return None;
    }
    let item_get = || state::sibling(def, PathKind::Item, Method::Get);
    let list = || name(state::sibling(def, PathKind::Plural, Method::Get));
    match ChangeKind::of(def) {
        ChangeKind::Create => Some(Inverse::DeleteCreated {
            delete_tool: name(state::sibling(def, PathKind::Item, Method::Delete))?,
            read_tool: name(item_get())?,
            list_tool: list(),
        }),
        ChangeKind::Update => Some(Inverse::RestoreFields {
            update_tool: def.name.to_string(),
            read_tool: name(item_get())?,
            list_tool: list(),
            fields: restorable_fields(def, before?, args)?,
        }),
        ChangeKind::Delete => {
            let before = before?;
            let create = state::sibling(def, PathKind::Item, Method::Post)?;
            // A rule comes back with its tracker: the journal and the logs know it by it.
            let mut object =
                writable_and_kept(create, state::kept_read_only_fields(def.model), before);
            if let Some(p) = before.get("parent_id").filter(|v| !v.is_null()) {
                object.insert("parent_id".into(), p.clone());
            }
            if let Some(link) = linked(def.model, &object) {
                object.insert(link.field.into(), json!(link.draw));
            }
            Some(Inverse::Recreate {
                create_tool: create.name.to_string(),
                list_tool: list(),
                object,
                position: before.get("id").and_then(Value::as_u64),
                // Read from the firewall before the delete: `with_linked_place`.
                linked_place: None,
            })
        }
        ChangeKind::Replace | ChangeKind::BulkDelete => Some(Inverse::RestoreCollection {
            replace_tool: name(state::sibling(def, PathKind::Plural, Method::Put))?,
            list_tool: list()?,
            objects: writable_list(def, before?),
            // Read from the firewall before a bulk delete of linked owners: `with_linked`.
            linked: None,
        }),
        ChangeKind::Settings => Some(Inverse::RestoreSettings {
            update_tool: def.name.to_string(),
            read_tool: name(state::sibling(def, PathKind::Settings, Method::Get))?,
            fields: restorable_fields(def, before?, args)?,
        }),
        ChangeKind::Other => None,
    }
}

/// The state of the target right after a successful call, read back from the firewall (the
/// response alone may differ from what a later GET shows).
pub async fn after_state(
    client: &Client,
    def: &ToolDef,
    args: &Value,
    response: &Value,
) -> Option<Value> {
    match ChangeKind::of(def) {
        ChangeKind::Create | ChangeKind::Update => {
            let get = state::sibling(def, PathKind::Item, Method::Get)?;
            let mut a = Map::new();
            a.insert("id".into(), response.get("id")?.clone());
            if let Some(p) = response
                .get("parent_id")
                .or_else(|| args.get("parent_id"))
                .filter(|v| !v.is_null())
            {
                a.insert("parent_id".into(), p.clone());
            }
            Some(
                state::read(client, get, Value::Object(a))
                    .await
                    .unwrap_or_else(|_| response.clone()),
            )
        }
        ChangeKind::Settings => Some(
            state::read_target(client, def, args)
                .await
                .and_then(Result::ok)
                .unwrap_or_else(|| response.clone()),
        ),
        ChangeKind::Delete | ChangeKind::Replace | ChangeKind::BulkDelete => {
            state::read_collection(client, def).await?.ok()
        }
        ChangeKind::Other => None,
    }
}

/// One API call an undo makes.
#[derive(Debug, Clone)]
pub struct Step {
    pub tool: &'static ToolDef,
    pub args: Value,
    /// For the human: what this does.
    pub description: String,
}

/// The first step whose tool the firewall's policy refuses, said as "needs `TOOL` (what it
/// does), which this server may not call on `FIREWALL`: REASON" (an undo is changes like
/// any other).
pub fn refused_step(
    steps: &[Step],
    policy: &crate::policy::Policy,
    firewall: &str,
) -> Option<String> {
    steps.iter().find_map(|s| {
        let refusal = policy
            .refusal(s.tool)
            .or_else(|| policy.argument_refusal(s.tool, &s.args))?;
        Some(format!(
            "needs `{}` ({}), which this server may not call on `{firewall}`: {refusal}",
            s.tool.name, s.description
        ))
    })
}

fn tool(name: &str) -> Result<&'static ToolDef, String> {
    catalog::tool(name).ok_or_else(|| {
        format!(
            "the journal names the tool `{name}`, which this build does not have (the spec changed)"
        )
    })
}

/// Why an undo is refused: `label`, what `change` wrote, has been changed since.
fn changed_since(change: &Change, current: &Value, recorded: &Value, label: &str) -> String {
    let fields = state::differing_fields(&state::as_recorded(current, recorded), recorded);
    // A link changes only when pfSense draws a new one, on a create: say so.
    let redrawn: Vec<String> = LINKED_OBJECTS
        .iter()
        .filter(|l| l.owner == change.model && fields.iter().any(|f| f == l.field))
        .filter_map(|l| {
            let link_in = |v: &Value| {
                let link = v.get(l.field)?.as_str().filter(|s| l.links(s))?;
                Some(link.to_string())
            };
            Some(format!(
                "; its {} was `{}` and is `{}` now: pfSense draws a new one each time a {} is created, so it was deleted and created again since, not by an undo of this server (undo follows the links its own re-creates draw)",
                l.field,
                link_in(recorded)?,
                link_in(current)?,
                l.owner
            ))
        })
        .collect();
    format!(
        "{label} has been changed since change {} (fields: {}){}; undo refused so that the later change is not lost. Look at it and change it by hand if you still want to",
        change.id,
        fields.join(", "),
        redrawn.concat()
    )
}

/// The object a change created or changed, as its undo finds it.
struct Target<'a> {
    read_tool: &'a str,
    list_tool: Option<&'a str>,
    /// The object as the change left it.
    after: &'a Value,
}

impl Target<'_> {
    /// The object now, as the newer undos of a batch leave it, when nothing changed it since:
    /// else why the undo cannot go on (`did`: "created" or "changed"; `so`: what that means).
    async fn as_left(
        &self,
        client: &Client,
        change: &Change,
        newer: &[Newer<'_>],
        label: &str,
        did: &str,
        so: &str,
    ) -> Result<Value, String> {
        let found = locate(
            client,
            change,
            self.read_tool,
            self.list_tool,
            self.after,
            newer,
        )
        .await?;
        let current = left_by_newer(newer, change, self.after, found).ok_or_else(|| {
            format!(
                "{label} {did} by change {} no longer exists: {so}",
                change.id
            )
        })?;
        let (now, then) = compared(&change.model, &current, self.after);
        if !state::unchanged_since(&now, &then) {
            return Err(changed_since(change, &current, self.after, label));
        }
        Ok(current)
    }
}

/// Where the object a change touched is now: by stable identity when the model has one,
/// else at the id the change saw (then the full comparison below guards against a shifted id).
/// The list is read as the newer undos of the batch leave it (`left_by_newer_list`).
async fn locate(
    client: &Client,
    change: &Change,
    read_tool: &str,
    list_tool: Option<&str>,
    recorded: &Value,
    newer: &[Newer<'_>],
) -> Result<Option<Value>, String> {
    let list = list_tool.map(tool).transpose()?;
    if let (Some(_), Some(list)) = (identity(&change.model, recorded), list) {
        let all = read_left_by_newer(client, list, newer).await?;
        return match state::find_recorded(&change.model, &all, recorded) {
            Ok(Some(found)) => Ok(Some(found.clone())),
            Ok(None) => Ok(made_again(&change.model, &all, recorded).cloned()),
            Err(why) => Err(format!("{why}; undo of change {} refused", change.id)),
        };
    }
    if let Some(list) = list.filter(|l| newer_touch(l, newer)) {
        // No identity: the object at the id the change saw, in the list as the newer undos
        // leave it (where the undo, run after them, reads it by that id).
        let all = read_left_by_newer(client, list, newer).await?;
        let parent = parent_of(recorded);
        return Ok(all.as_array().and_then(|all| {
            all.iter()
                .find(|o| parent_of(o) == parent && o.get("id") == recorded.get("id"))
                .cloned()
        }));
    }
    let mut a = Map::new();
    a.insert(
        "id".into(),
        recorded.get("id").cloned().unwrap_or(Value::Null),
    );
    if let Some(p) = recorded.get("parent_id").filter(|v| !v.is_null()) {
        a.insert("parent_id".into(), p.clone());
    }
    match state::read(client, tool(read_tool)?, Value::Object(a)).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.contains("MODEL_OBJECT_NOT_FOUND") => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a deleted object goes back so that it sits between the same neighbours as before:
/// right after the object that preceded it, else right before the one that followed it, both
/// found by identity in the list as it is now. Its old index alone could put a block rule below
/// the pass rule it guarded once an earlier object is gone. The neighbours are those of the
/// list read right after the delete (`after`): the objects at ids `position - 1` and
/// `position` under the same parent. Also ", after …" for the step's description. Err when
/// the neighbourhood cannot be found again or is no longer in that order.
fn placement(
    change: &Change,
    before: &Value,
    after: &Value,
    now: &Value,
    position: u64,
) -> Result<(u64, String), String> {
    let refused = |why: String| {
        format!(
            "where to re-create it cannot be told: {why}; undo of change {} refused so that it does not land in the wrong place. Re-create it by hand if you still want to",
            change.id
        )
    };
    let Some(then) = after.as_array() else {
        return Err(refused(
            "the list right after the delete was not recorded".into(),
        ));
    };
    let parent = before.get("parent_id");
    let at = |id: u64| {
        then.iter().find(|o| {
            o.get("parent_id") == parent && o.get("id").and_then(Value::as_u64) == Some(id)
        })
    };
    let prev = position.checked_sub(1).and_then(at);
    let next = at(position);
    // A neighbour's id now: found by its identity, or when several objects carry that, the one
    // still as it was.
    let found = |o: Option<&Value>| {
        o.and_then(|o| state::find_recorded(&change.model, now, o).ok().flatten())
            .and_then(|f| f.get("id").and_then(Value::as_u64))
    };
    let name = |o: &Value| describe(&change.model, o);
    match ((prev, found(prev)), (next, found(next))) {
        ((Some(p), Some(i)), (Some(n), Some(j))) if j <= i => Err(refused(format!(
            "{} (id {i}) and {} (id {j}), before and after it, are no longer in that order",
            name(p),
            name(n)
        ))),
        ((Some(p), Some(i)), _) => Ok((i + 1, format!(", after {}", name(p)))),
        (_, (Some(n), Some(j))) => Ok((j, format!(", before {}", name(n)))),
        ((None, _), (None, _)) => Ok((position, String::new())),
        (prev, next) => Err(refused(format!(
            "the objects next to it ({}) are gone",
            [prev.0, next.0]
                .into_iter()
                .flatten()
                .map(name)
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The linked object an owner's re-create made again in place of `recorded` (an undo of the
/// owner's delete, run or planned before this one): pfrest gave it a new clock identity
/// ([`CLOCK_IDENTITIES`]: a rule's tracker), so it is found by the one object carrying the
/// link `recorded` carries, which the recorded state follows ([`Redrawn`]: the new link, or
/// the table's `draw` in a preview).
fn made_again<'a>(model: &str, all: &'a Value, recorded: &Value) -> Option<&'a Value> {
    clock_identity(model)?;
    let link = LINKED_OBJECTS.iter().find(|l| l.model == model)?;
    let value = recorded
        .get(link.carries)?
        .as_str()
        .filter(|v| *v == link.draw || link.links(v))?;
    let mut carrying = all
        .as_array()?
        .iter()
        .filter(|o| o.get(link.carries).and_then(Value::as_str) == Some(value));
    let one = carrying.next()?;
    carrying.next().is_none().then_some(one)
}

/// `current` and `recorded` as compared to tell whether the object changed since: without
/// their ids, and without the clock identity when `current` was made again in its place
/// ([`made_again`]: the same link, another tracker), which nobody changed.
fn compared(model: &str, current: &Value, recorded: &Value) -> (Value, Value) {
    let (mut current, mut recorded) = (without_id(current), without_id(recorded));
    let made_again = LINKED_OBJECTS
        .iter()
        .find(|l| l.model == model)
        .is_some_and(|l| {
            let link = current.get(l.carries).and_then(Value::as_str);
            link.is_some_and(|v| v == l.draw || l.links(v))
                && link == recorded.get(l.carries).and_then(Value::as_str)
        });
    if let (true, Some(field)) = (made_again, clock_identity(model))
        && current.get(field) != recorded.get(field)
    {
        for o in [&mut current, &mut recorded] {
            if let Some(o) = o.as_object_mut() {
                o.remove(field);
            }
        }
    }
    (current, recorded)
}

/// The state the undos of `newer` changes (same batch, newest first, run before this one)
/// leave an object in: the before-state of the oldest of them that changed it (with the id it
/// has now, or the id it is re-created at when one of them deleted it), else the object as the
/// firewall shows it now (`current`, None when it is gone). `recorded` is the object as this
/// change left it, which names its identity.
fn left_by_newer(
    newer: &[Newer<'_>],
    change: &Change,
    recorded: &Value,
    current: Option<Value>,
) -> Option<Value> {
    let Some(wanted) = identity(&change.model, current.as_ref().unwrap_or(recorded)) else {
        return current;
    };
    // A newer change's before-state holds the object: one object (an update or a delete), or
    // the whole list (a replace or a bulk delete).
    let left = newer
        .iter()
        .map(|(n, _)| *n)
        .rev()
        .filter(|n| n.model == change.model)
        .find_map(|n| match n.before.as_ref()? {
            list @ Value::Array(_) => state::find_by_identity(&n.model, list, &wanted),
            object => Some(object).filter(|b| identity(&n.model, b).as_ref() == Some(&wanted)),
        });
    match (left, current) {
        (Some(before), current) => {
            let mut before = before.clone();
            if let (Some(m), Some(id)) = (
                before.as_object_mut(),
                current.as_ref().and_then(|c| c.get("id")),
            ) {
                m.insert("id".into(), id.clone());
            }
            Some(before)
        }
        (None, current) => current,
    }
}

/// A change of the same batch undone before the one being planned, with the steps planned
/// for its undo.
pub type Newer<'a> = (&'a Change, &'a [Step]);

fn parent_of(object: &Value) -> Option<&Value> {
    object.get("parent_id").filter(|v| !v.is_null())
}

/// The list a step writes to, if it writes to one: the plural GET of its model.
fn list_of(step: &Step) -> Option<&'static ToolDef> {
    match (step.tool.method, step.tool.path_kind) {
        (Method::Post | Method::Patch | Method::Delete, PathKind::Item)
        | (Method::Put, PathKind::Plural) => {
            state::sibling(step.tool, PathKind::Plural, Method::Get)
        }
        _ => None,
    }
}

/// The linked-object row by which `step` (a create, update or delete of an owner) also writes
/// to the list `list` reads: pfrest changes the owner's linked objects itself.
fn linked_write(step: &Step, list: &ToolDef) -> Option<&'static Linked> {
    if list.method != Method::Get || list.path_kind != PathKind::Plural {
        return None;
    }
    LINKED_OBJECTS.iter().find(|l| {
        l.owner == step.tool.model
            && l.model == list.model
            && step.tool.path_kind == PathKind::Item
            && matches!(
                step.tool.method,
                Method::Post | Method::Patch | Method::Delete
            )
    })
}

/// Whether `step` writes to the list `list` reads, itself or through a linked object.
fn writes_to(step: &Step, list: &ToolDef) -> bool {
    list_of(step).is_some_and(|l| l.path == list.path) || linked_write(step, list).is_some()
}

/// Whether an undo of `newer` writes to the list `list` reads.
fn newer_touch(list: &ToolDef, newer: &[Newer<'_>]) -> bool {
    newer
        .iter()
        .flat_map(|(_, steps)| steps.iter())
        .any(|s| writes_to(s, list))
}

/// The list `list` reads, as the undos of `newer` (run in that order, before the one being
/// planned) leave it: each of their steps on it played over what the firewall shows now, as
/// pfrest would answer (an object re-created at its `placement`, later ids shifting), and the
/// linked objects pfrest makes, rewrites or deletes along with their owner (`play_linked`),
/// and the list sorted again after each create, update or replacement when pfrest keeps it
/// sorted on the firewall's version (`sorted::SORTED_MODELS`).
/// The undo, once confirmed, runs after them and reads that state: its preview must judge it
/// too.
async fn read_left_by_newer(
    client: &Client,
    list: &ToolDef,
    newer: &[Newer<'_>],
) -> Result<Value, String> {
    let sort = if newer_touch(list, newer) {
        sort_of(client, list).await
    } else {
        None
    };
    read_played(client, list, newer, sort).await
}

/// [`read_left_by_newer`] with the list's sort already known (a caller that needs it anyway
/// asks the firewall's version once).
async fn read_played(
    client: &Client,
    list: &ToolDef,
    newer: &[Newer<'_>],
    sort: Option<&Sorted>,
) -> Result<Value, String> {
    let mut all = state::read(client, list, json!({})).await?;
    if let Some(items) = all.as_array_mut() {
        play_all(items, list, newer, sort);
    }
    Ok(all)
}

/// How pfrest sorts the list `list` reads after a write, on the firewall's REST API version
/// (read only when the table's row depends on it; when it cannot be read, the version of the
/// spec the tools were built from).
async fn sort_of(client: &Client, list: &ToolDef) -> Option<&'static Sorted> {
    let row = sorted::row(list.model)?;
    if !row.depends_on_version() {
        return Some(row);
    }
    let version = crate::version::read(client)
        .await
        .ok()
        .and_then(|v| crate::version::Version::parse(&v))
        .or_else(crate::version::spec_version);
    row.applies_to(version).then_some(row)
}

/// How pfrest keeps sorted the list `inverse` re-creates its object into, on the firewall's
/// version: None for any other inverse or an unsorted list. A delete's preview says from it
/// where the undo puts the object back, as the undo's step will.
pub async fn recreate_sort(client: &Client, inverse: Option<&Inverse>) -> Option<&'static Sorted> {
    let Some(Inverse::Recreate {
        list_tool: Some(list),
        ..
    }) = inverse
    else {
        return None;
    };
    sort_of(client, catalog::tool(list)?).await
}

/// Every step of `newer` that writes to the list `list` reads, played over `items` in order;
/// `sort`: how pfrest keeps that list sorted, if it does.
fn play_all(items: &mut Vec<Value>, list: &ToolDef, newer: &[Newer<'_>], sort: Option<&Sorted>) {
    for (change, steps) in newer {
        for step in steps.iter() {
            if list_of(step).is_some_and(|l| l.path == list.path) {
                play(items, step, change, sort);
            } else if let Some(link) = linked_write(step, list) {
                play_linked(items, step, change, link);
            }
        }
    }
}

/// The linked object the delete `change` of an owner took away, as read before it was sent
/// ([`LinkedPlace`]'s `object`).
fn old_linked_object(change: &Change) -> Option<Value> {
    match change.inverse.as_ref().and_then(Inverse::from_json)? {
        Inverse::Recreate {
            linked_place: Some(place),
            ..
        } => place.object.map(|o| *o),
        _ => None,
    }
}

/// The linked objects' list the bulk delete `change` of owners took some of along
/// ([`LinkedList`]).
fn linked_list_of(change: &Change) -> Option<LinkedList> {
    // Only that part of the inverse: the rest holds the owners' list, not needed here.
    let linked = change.inverse.as_ref()?.get("linked")?;
    serde_json::from_value(linked.clone()).ok()
}

/// What an owner's undo step does to its linked objects in their list (`items`), as pfrest's
/// owner model does it (see [`LINKED_OBJECTS`]): a re-create sending a link makes one at the
/// end of the list; an update writes the linked fields from the owner as the step leaves it; a
/// delete removes every object carrying the owner's link. The link a create draws is not known
/// before it runs: the played object carries what the step sent (the table's `draw`), which no
/// recorded state holds.
fn play_linked(items: &mut Vec<Value>, step: &Step, change: &Change, link: &Linked) {
    let real = |v: &Value| -> Option<Value> {
        v.as_str()
            .filter(|s| link.links(s))
            .map(|s| Value::String(s.to_string()))
    };
    // The owner as the step leaves it: recorded after the change, with what the step sends.
    let mut owner = change
        .after
        .clone()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if let (Some(o), Some(args)) = (owner.as_object_mut(), step.args.as_object()) {
        for (k, v) in args {
            if k != "id" && k != "parent_id" && k != "placement" {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    let made = |object: &mut Map<String, Value>| {
        for (field, from) in link.fields {
            let value = match from {
                Made::Field(f) => owner.get(*f).cloned(),
                Made::ListOf(f) => owner.get(*f).map(|v| json!([v])),
                Made::Text(t) => Some(json!(t)),
            };
            if let Some(v) = value {
                object.insert((*field).to_string(), v);
            }
        }
    };
    let carries = |o: &Value, value: &Value| o.get(link.carries) == Some(value);
    match step.tool.method {
        Method::Post => {
            let sent = step.args.get(link.field).and_then(Value::as_str);
            if let Some(sent) = sent.filter(|s| *s == link.draw || link.links(s)) {
                // A re-create after the owner's delete: the old linked object as that delete
                // read it (its other fields, as a new one has them once `linked_back` wrote
                // back its own), without its id and its clock identity (pfrest draws new
                // ones), with what the owner makes.
                let mut object = old_linked_object(change)
                    .and_then(|o| o.as_object().cloned())
                    .unwrap_or_default();
                object.remove("id");
                if let Some(field) = clock_identity(link.model) {
                    object.remove(field);
                }
                if object.contains_key("descr") {
                    object.insert("descr".into(), json!(format!("{}{sent}", link.descr)));
                }
                made(&mut object);
                object.insert(link.carries.into(), json!(sent));
                items.push(Value::Object(object));
            }
        }
        Method::Patch => {
            if let Some(value) = owner.get(link.field).and_then(real) {
                for o in items.iter_mut().filter(|o| carries(o, &value)) {
                    if let Some(o) = o.as_object_mut() {
                        made(o);
                    }
                }
            }
        }
        Method::Delete => {
            if let Some(value) = change
                .after
                .as_ref()
                .and_then(|a| a.get(link.field))
                .and_then(real)
            {
                items.retain(|o| !carries(o, &value));
            }
        }
        _ => return,
    }
    renumber(items);
}

/// One undo step of `change` played over a list. A re-created object or list is the change's
/// before-state (what the create brings back, read-only fields included). A create, update or
/// replacement of a sorted model (`sort`) sorts the objects under the step's parent after it,
/// as pfrest's `Model::sort()` does: a re-created object moves from its `placement` to its
/// sorted place (keeping its placement only among equals).
fn play(items: &mut Vec<Value>, step: &Step, change: &Change, sort: Option<&Sorted>) {
    let parent = parent_of(&step.args).cloned();
    let in_group = |o: &Value| parent_of(o) == parent.as_ref();
    let at_id = |items: &[Value]| {
        items
            .iter()
            .position(|o| in_group(o) && o.get("id") == step.args.get("id"))
    };
    match (step.tool.method, step.tool.path_kind) {
        (Method::Post, PathKind::Item) => {
            let mut object = change
                .before
                .clone()
                .filter(Value::is_object)
                .unwrap_or_else(|| step.args.clone());
            if let (Some(o), Some(p)) = (object.as_object_mut(), &parent) {
                o.insert("parent_id".into(), p.clone());
            }
            if let Some(o) = object.as_object_mut() {
                o.remove("placement");
                // A linked field holds what the re-create sends (`draw`): the firewall
                // draws a new link, which the recorded state does not hold.
                for l in LINKED_OBJECTS.iter().filter(|l| l.owner == step.tool.model) {
                    if let Some(v) = step.args.get(l.field) {
                        o.insert(l.field.into(), v.clone());
                    }
                }
            }
            let group: Vec<usize> = (0..items.len()).filter(|i| in_group(&items[*i])).collect();
            let at = step
                .args
                .get("placement")
                .and_then(Value::as_u64)
                .map_or(group.len(), |p| (p as usize).min(group.len()));
            let index = match group.get(at) {
                Some(i) => *i,
                None => group.last().map_or(items.len(), |i| i + 1),
            };
            items.insert(index, object);
        }
        (Method::Patch, PathKind::Item) => {
            if let (Some(i), Some(fields)) = (at_id(items), step.args.as_object())
                && let Some(o) = items[i].as_object_mut()
            {
                for (k, v) in fields {
                    if k != "id" && k != "parent_id" && k != "placement" {
                        o.insert(k.clone(), v.clone());
                    }
                }
                // pfrest's `set_placement`: out of its place, into the one asked for.
                if let Some(to) = step.args.get("placement").and_then(Value::as_u64) {
                    let moved = items.remove(i);
                    let group: Vec<usize> =
                        (0..items.len()).filter(|i| in_group(&items[*i])).collect();
                    let index = match group.get(to as usize) {
                        Some(at) => *at,
                        None => group.last().map_or(items.len(), |at| at + 1),
                    };
                    items.insert(index, moved);
                }
            }
        }
        (Method::Delete, PathKind::Item) => {
            if let Some(i) = at_id(items) {
                items.remove(i);
            }
            // pfrest does not sort after a delete.
            renumber(items);
            return;
        }
        (Method::Put, PathKind::Plural) => {
            // A bulk delete's undo puts back its linked objects' list too ([`LinkedList`]).
            let before = if step.tool.model == change.model {
                change.before.clone()
            } else {
                linked_list_of(change).map(|l| l.before)
            };
            *items = match before {
                Some(Value::Array(before)) => before,
                _ => step
                    .args
                    .get("objects")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            };
        }
        _ => return,
    }
    if let Some(sort) = sort {
        sort.sort_group(items, parent.as_ref());
    }
    renumber(items);
}

/// pfrest's ids are array positions (under each parent): later ones shift. String ids
/// (interfaces, DHCP servers) stay.
fn renumber(items: &mut [Value]) {
    let mut next: Vec<(Option<Value>, u64)> = Vec::new();
    for o in items.iter_mut() {
        if o.get("id").is_some_and(Value::is_string) {
            continue;
        }
        let parent = parent_of(o).cloned();
        let n = match next.iter_mut().find(|(p, _)| *p == parent) {
            Some((_, n)) => n,
            None => {
                next.push((parent, 0));
                &mut next.last_mut().expect("just pushed").1
            }
        };
        if let Some(m) = o.as_object_mut() {
            m.insert("id".into(), json!(*n));
        }
        *n += 1;
    }
}

/// Check that nobody changed the target since the change, and say what undoing it sends.
/// `newer` are the changes of the same batch undone before this one (newest first), with their
/// planned steps: the target, its list and its neighbours are judged in the state their undos
/// leave, not the state now, so that a preview says what the confirmed undo (which plans each
/// change after the newer ones ran) does. `redrawn`: the links undos run since this change
/// drew anew, which the state it recorded is read with. The error explains why the undo is
/// refused.
#[inline(never)]
pub fn prepare<'a>(
    client: &'a Client,
    change: &'a Change,
    newer: &'a [Newer<'a>],
    redrawn: &'a Redrawn,
) -> futures::future::BoxFuture<'a, Result<Vec<Step>, String>> {
    // Boxed once here (lib.rs, "One copy of a big future"): awaited from undo, its preview and auto-revert.
    Box::pin(prepare_unboxed(client, change, newer, redrawn))
}

async fn prepare_unboxed(
    client: &Client,
    change: &Change,
    newer: &[Newer<'_>],
    redrawn: &Redrawn,
) -> Result<Vec<Step>, String> {
    if change.undone_by.is_some() {
        return Err(format!(
            "change {} was already undone by change {}",
            change.id,
            change.undone_by.unwrap_or_default()
        ));
    }
    if change.status != status::EXECUTED {
        return Err(format!(
            "change {} has status `{}`: only executed changes can be undone",
            change.id, change.status
        ));
    }
    if change.undo_of.is_some() {
        return Err(format!(
            "change {} is itself an undo; undo cannot be undone (make the change again instead)",
            change.id
        ));
    }
    let inverse = change
        .inverse
        .as_ref()
        .and_then(Inverse::from_json)
        .ok_or_else(|| {
            format!(
                "change {} ({}) has no inverse operation: it cannot be undone",
                change.id, change.tool
            )
        })?;
    // As the firewall shows it once the undos run before this one re-created what they did.
    let after = redrawn
        .with_newer(newer)
        .follow(&change.model, change.after.as_ref().unwrap_or(&Value::Null));
    let mut steps = match inverse {
        Inverse::DeleteCreated {
            delete_tool,
            read_tool,
            list_tool,
        } => {
            let label = describe(&change.model, &after);
            let target = Target {
                read_tool: &read_tool,
                list_tool: list_tool.as_deref(),
                after: &after,
            };
            let current = target
                .as_left(client, change, newer, &label, "created", "nothing to undo")
                .await?;
            let mut args = Map::new();
            args.insert("id".into(), current["id"].clone());
            if let Some(p) = current.get("parent_id").filter(|v| !v.is_null()) {
                args.insert("parent_id".into(), p.clone());
            }
            vec![Step {
                tool: tool(&delete_tool)?,
                args: Value::Object(args),
                description: format!("delete {label} (now id {})", current["id"]),
            }]
        }
        Inverse::RestoreFields {
            update_tool,
            read_tool,
            list_tool,
            fields,
        } => {
            let label = describe(&change.model, &after);
            let target = Target {
                read_tool: &read_tool,
                list_tool: list_tool.as_deref(),
                after: &after,
            };
            let current = target
                .as_left(
                    client,
                    change,
                    newer,
                    &label,
                    "changed",
                    "nothing to restore",
                )
                .await?;
            let mut args = fields.clone();
            args.insert("id".into(), current["id"].clone());
            if let Some(p) = current.get("parent_id").filter(|v| !v.is_null()) {
                args.insert("parent_id".into(), p.clone());
            }
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            vec![Step {
                tool: tool(&update_tool)?,
                args: Value::Object(args),
                description: format!(
                    "restore {} of {label} (now id {})",
                    names.join(", "),
                    current["id"]
                ),
            }]
        }
        Inverse::Recreate {
            create_tool,
            list_tool,
            object,
            position,
            linked_place,
        } => {
            let before = change.before.clone().unwrap_or(Value::Null);
            let label = describe(&change.model, &before);
            let mut position = position.map(|p| p - redrawn.gone_before(change.after.as_ref(), p));
            let mut next_to = String::new();
            if let Some(list) = &list_tool {
                let list = tool(list)?;
                // A list pfrest keeps sorted puts the object at its sorted place
                // (`Model::sort()` after the create, which keeps equals in their order): its
                // old place decides only among equals, so neighbours not found again refuse
                // nothing there, and the step says where it goes.
                let sorted = sort_of(client, list).await;
                let all = read_played(client, list, newer, sorted).await?;
                match identity(&change.model, &before) {
                    Some(wanted) => {
                        // pfrest's identities need not be unique (rule trackers): objects that
                        // shared it right after the delete are others, not the object back.
                        let carriers =
                            |list: &Value| match state::lookup(&change.model, list, &wanted) {
                                state::Lookup::Missing => Vec::new(),
                                state::Lookup::One(o) => vec![o.clone()],
                                state::Lookup::Several(v) => v.into_iter().cloned().collect(),
                            };
                        let (then, now) = (carriers(&after), carriers(&all));
                        if now.len() > then.len() {
                            let ids: Vec<String> =
                                now.iter().map(|o| o["id"].to_string()).collect();
                            return Err(format!(
                                "{label} exists again (id {}): someone re-created it since change {}; undo refused",
                                ids.join(", "),
                                change.id
                            ));
                        }
                        if let Some(p) = position {
                            match (placement(change, &before, &after, &all, p), sorted) {
                                (Ok((at, neighbour)), _) => {
                                    position = Some(at);
                                    next_to = neighbour;
                                }
                                (Err(_), Some(_)) => position = None,
                                (Err(why), None) => return Err(why),
                            }
                        }
                    }
                    None => {
                        if !state::unchanged_since(&all, &after) {
                            return Err(format!(
                                "the {} list has changed since change {} and this model has no stable identity, so re-creating at the old position could land in the wrong place; undo refused",
                                change.model, change.id
                            ));
                        }
                    }
                }
                if let Some(sort) = sorted {
                    next_to = format!(
                        "{next_to} (pfSense keeps this list sorted by {}: it goes to its sorted place{})",
                        sort.by.join(", "),
                        if position.is_some() {
                            ", the position deciding only among equals"
                        } else {
                            ""
                        }
                    );
                }
            }
            let mut args = object.clone();
            if let Some(p) = position {
                // Re-create at that index: `placement` moves the new object there.
                args.insert("placement".into(), json!(p));
            }
            let recreate = Step {
                tool: tool(&create_tool)?,
                args: Value::Object(args),
                description: format!(
                    "re-create {label}{}{next_to}",
                    position
                        .map(|p| format!(" at position {p}"))
                        .unwrap_or_default()
                ),
            };
            let moved = match &linked_place {
                Some(place) => linked_back(client, change, &recreate, place, newer).await?,
                None => None,
            };
            std::iter::once(recreate).chain(moved).collect()
        }
        Inverse::RestoreCollection {
            replace_tool,
            list_tool,
            objects,
            linked,
        } => {
            let current = read_left_by_newer(client, tool(&list_tool)?, newer).await?;
            if !state::unchanged_since(&current, &after) {
                return Err(format!(
                    "the {} list has changed since change {}; undo refused so that the later change is not lost",
                    change.model, change.id
                ));
            }
            let mut steps = Vec::new();
            if let Some(linked) = linked {
                let list = tool(&linked.list_tool)?;
                let replace = tool(&linked.replace_tool)?;
                let link = LINKED_OBJECTS
                    .iter()
                    .find(|l| l.owner == change.model && l.model == list.model)
                    .ok_or_else(|| format!("{} has no linked {}", change.model, list.model))?;
                let current = read_left_by_newer(client, list, newer).await?;
                if !state::unchanged_since(&current, &linked.left(link)) {
                    return Err(format!(
                        "the {} list has changed since change {}, which took linked {} objects along; undo refused so that the later change is not lost",
                        list.model, change.id, list.model
                    ));
                }
                let objects = writable_list(replace, &linked.before);
                steps.push(Step {
                    tool: replace,
                    description: format!(
                        "put back the {} list as it was before change {} ({} objects), with the linked objects it took along",
                        list.model,
                        change.id,
                        objects.len()
                    ),
                    args: json!({ "objects": objects }),
                });
            }
            steps.push(Step {
                tool: tool(&replace_tool)?,
                args: json!({ "objects": objects }),
                description: format!(
                    "put back the {} list as it was before change {} ({} objects)",
                    change.model,
                    change.id,
                    objects.len()
                ),
            });
            steps
        }
        Inverse::RestoreSettings {
            update_tool,
            read_tool,
            fields,
        } => {
            let current = state::read(client, tool(&read_tool)?, json!({})).await?;
            // The settings as the newer changes of the batch leave them once undone: the
            // state before the oldest of them.
            let current = newer
                .iter()
                .map(|(n, _)| *n)
                .rev()
                .filter(|n| n.model == change.model)
                .find_map(|n| n.before.clone())
                .unwrap_or(current);
            if !state::unchanged_since(&current, &after) {
                return Err(changed_since(
                    change,
                    &current,
                    &after,
                    &format!("the {} settings", change.model),
                ));
            }
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            vec![Step {
                tool: tool(&update_tool)?,
                args: Value::Object(fields.clone()),
                description: format!(
                    "restore {} of the {} settings",
                    names.join(", "),
                    change.model
                ),
            }]
        }
    };
    if let Some(apply) = change.apply_tool.as_deref().and_then(catalog::tool) {
        steps.push(Step {
            tool: apply,
            args: json!({}),
            // pfSense applies a subsystem whole: say that changes pending in it go live too.
            description: format!(
                "apply the subsystem ({}; changes still pending in it are applied with it)",
                apply.name
            ),
        });
    }
    Ok(steps)
}

/// The step that puts the linked object `recreate` (an owner's re-create drawing a new link)
/// makes at the end of its list back as the old one stood ([`LinkedPlace`]): moved right after
/// the object that preceded it, else right before the one that followed it, found by identity
/// in the list as the newer undos leave it; and with the fields the re-create does not make
/// ([`own_fields`]) written back. One PATCH does both. None when it would not move (neither
/// neighbour is found, or it is in place) and has no such field.
async fn linked_back(
    client: &Client,
    change: &Change,
    recreate: &Step,
    place: &LinkedPlace,
    newer: &[Newer<'_>],
) -> Result<Option<Step>, String> {
    let Some(link) = LINKED_OBJECTS.iter().find(|l| {
        l.owner == change.model
            && recreate.args.get(l.field).and_then(Value::as_str) == Some(l.draw)
    }) else {
        return Ok(None);
    };
    let (Some(list), Some(update)) = (list_tool_of(link.model), linked_update_tool(link)) else {
        return Ok(None);
    };
    let all = read_played(client, list, newer, None).await?;
    // The re-create appends the new linked object: its id is the list's length.
    let made_at = all.as_array().map_or(0, Vec::len) as u64;
    let found = |o: &Option<Value>| {
        let o = o.as_ref()?;
        let found = state::find_recorded(link.model, &all, o).ok().flatten()?;
        Some((
            found.get("id").and_then(Value::as_u64)?,
            describe(link.model, o),
        ))
    };
    let moved = match (found(&place.after), found(&place.before)) {
        (Some((i, name)), _) => Some((i + 1, format!("after {name}"))),
        (None, Some((j, name))) => Some((j, format!("before {name}"))),
        (None, None) => None,
    }
    .filter(|(to, _)| *to < made_at);
    let own = place
        .object
        .as_ref()
        .map(|o| own_fields(link, update, o))
        .unwrap_or_default();
    let mut args = own.clone();
    args.insert("id".into(), json!(made_at));
    let mut does = Vec::new();
    if let Some((to, next_to)) = &moved {
        args.insert("placement".into(), json!(to));
        does.push(format!(
            "move its new linked {} (id {made_at}) to position {to}, {next_to}, where the old one stood",
            link.model
        ));
    }
    if !own.is_empty() {
        let names = own
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        let what = if moved.is_some() {
            format!("its {names}")
        } else {
            format!("{names} of its new linked {} (id {made_at})", link.model)
        };
        does.push(format!(
            "write back {what} as the old one had them (pfSense makes it from the {}'s fields only)",
            link.owner
        ));
    }
    if does.is_empty() {
        return Ok(None);
    }
    Ok(Some(Step {
        tool: update,
        args: Value::Object(args),
        description: does.join(", and "),
    }))
}

/// `the FirewallRule with tracker 1770000003`, or by its id when the model has no identity.
fn describe(model: &str, object: &Value) -> String {
    match identity(model, object) {
        Some(id) => format!("the {model} with {}", describe_identity(&id)),
        None => format!(
            "the {model} at id {}",
            object.get("id").unwrap_or(&Value::Null)
        ),
    }
}

/// Why a step failed, and whether it may still have run (no answer, or one that is not the
/// API's JSON).
pub struct StepError {
    pub message: String,
    pub unclear: bool,
}

/// Identity fields pfrest fills from the clock and does not make unique: a rule's `tracker`
/// is a `UnixTimeField` with `auto_add_now`, PHP's `time()` when the rule object is made
/// (`FirewallRule.inc`, v2.7.1 to v2.10.0), so rules made in the same second share one (seen
/// on the lab: a port forward's re-create gave its linked rule the tracker of a rule made in
/// that second). The linked rule an owner's re-create makes gets its tracker this way.
const CLOCK_IDENTITIES: &[(&str, &str)] = &[("FirewallRule", "tracker")];

/// The field of `model` in [`CLOCK_IDENTITIES`], if any.
fn clock_identity(model: &str) -> Option<&'static str> {
    CLOCK_IDENTITIES
        .iter()
        .find(|(m, _)| *m == model)
        .map(|(_, field)| *field)
}

/// Most times an owner's re-create is made again so that its linked object's clock identity
/// is its own, and the longest wait for the firewall's clock to pass the seconds taken.
const MAX_REMAKES: usize = 3;
const MAX_CLOCK_WAIT_SECONDS: i64 = 10;

/// Send one step. A re-create of a [`Linked`] owner that draws a new link has pfrest make its
/// linked object with an identity from the clock ([`CLOCK_IDENTITIES`]): when another object
/// carries the same one, the owner is deleted (pfrest deletes the linked object with it) and
/// made again once the firewall's clock has passed the seconds taken. What the step's answer
/// is, and a note saying so when that happened.
pub async fn run_step(client: &Client, step: &Step) -> Result<(Value, Option<String>), StepError> {
    let made = send_step(client, step).await?;
    let clock = LINKED_OBJECTS
        .iter()
        .filter(|l| {
            l.owner == step.tool.model
                && step.tool.method == Method::Post
                && step.tool.path_kind == PathKind::Item
                && step.args.get(l.field).and_then(Value::as_str) == Some(l.draw)
        })
        .find_map(|l| Some((l, clock_identity(l.model)?)));
    let Some((link, field)) = clock else {
        return Ok((made, None));
    };
    let mut made = made;
    let mut taken = Vec::new();
    loop {
        let answered = std::time::Instant::now();
        let Some(clash) = clock_clash(client, link, field, &made).await else {
            let note = (!taken.is_empty()).then(|| {
                format!(
                    "its linked {} first got {field} {} (pfrest takes it from the clock), which another {} carried, so the {} was deleted and made again once the firewall's clock had passed the seconds other {}s carry",
                    link.model,
                    taken.join(", then "),
                    link.model,
                    link.owner,
                    link.model
                )
            });
            return Ok((made, note));
        };
        taken.push(clash.value.to_string());
        let wait = clash.free - clash.value;
        if taken.len() > MAX_REMAKES || wait > MAX_CLOCK_WAIT_SECONDS {
            let note = format!(
                "its linked {} has {field} {}, which another {} carries too (pfrest takes it from the clock; the next free second is {wait} s away): pfSense's logs cannot tell them apart",
                link.model, clash.value, link.model
            );
            return Ok((made, Some(note)));
        }
        // The firewall's clock read `value` or later when it answered: `free` is past after
        // that many seconds.
        let wait = std::time::Duration::from_secs(wait.unsigned_abs());
        tokio::time::sleep(wait.saturating_sub(answered.elapsed())).await;
        let remade = |e: StepError, what: &str| StepError {
            message: format!(
                "its linked {} shared its {field} {} with another, so {what}: {}",
                link.model, clash.value, e.message
            ),
            unclear: e.unclear,
        };
        unmake(client, step, link, &made).await.map_err(|e| {
            remade(
                e,
                "it was to be deleted and made again, and the delete failed",
            )
        })?;
        made = send_step(client, step).await.map_err(|e| {
            remade(
                e,
                "it was deleted to be made again, and making it again failed (it is not there now)",
            )
        })?;
    }
}

/// A linked object whose clock identity another object carries too: that value, and the
/// first later second no object carries.
struct ClockClash {
    value: i64,
    free: i64,
}

/// Whether the linked object the owner `made` (a create's answer) carries a clock identity
/// `field` another object of its list carries too. None when not, or when it cannot be told.
async fn clock_clash(
    client: &Client,
    link: &Linked,
    field: &str,
    made: &Value,
) -> Option<ClockClash> {
    let value = made.get(link.field)?.as_str()?;
    let list = list_tool_of(link.model)?;
    let all = state::read(client, list, json!({})).await.ok()?;
    let all = all.as_array()?;
    let clock = |o: &Value| o.get(field).and_then(Value::as_i64);
    let mine = all
        .iter()
        .find(|o| o.get(link.carries).and_then(Value::as_str) == Some(value))?;
    let at = clock(mine)?;
    let carried = |second: i64| {
        all.iter()
            .filter(|o| !std::ptr::eq(*o, mine))
            .any(|o| clock(o) == Some(second))
    };
    if !carried(at) {
        return None;
    }
    let free = (at + 1..).find(|s| !carried(*s))?;
    Some(ClockClash { value: at, free })
}

/// Delete the owner a create step just made (found by its link: its id may have moved).
async fn unmake(
    client: &Client,
    step: &Step,
    link: &Linked,
    made: &Value,
) -> Result<(), StepError> {
    let failed = |message: String| StepError {
        message,
        unclear: false,
    };
    let list = state::sibling(step.tool, PathKind::Plural, Method::Get)
        .ok_or_else(|| failed(format!("{} has no list to find it in", step.tool.model)))?;
    let delete = state::sibling(step.tool, PathKind::Item, Method::Delete)
        .ok_or_else(|| failed(format!("{} has no delete", step.tool.model)))?;
    let all = state::read(client, list, json!({})).await.map_err(failed)?;
    let value = made.get(link.field).cloned().unwrap_or(Value::Null);
    let id = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o.get(link.field) == Some(&value))
        .and_then(|o| o.get("id").cloned())
        .ok_or_else(|| {
            failed(format!(
                "no {} carries {} {value}",
                step.tool.model, link.field
            ))
        })?;
    let delete = Step {
        tool: delete,
        args: json!({ "id": id }),
        description: String::new(),
    };
    send_step(client, &delete).await.map(|_| ())
}

async fn send_step(client: &Client, step: &Step) -> Result<Value, StepError> {
    let mut request = PreparedRequest::build(step.tool, &step.args).map_err(|e| StepError {
        message: e.0,
        unclear: false,
    })?;
    // `placement` (a control parameter) and the read-only fields pfrest keeps when sent
    // (`state::KEPT_READ_ONLY_FIELDS`) are not in most create schemas; the builder only sends
    // listed arguments, so add them to the JSON body here.
    if let Some(Value::Object(body)) = request.body.as_mut() {
        let unlisted = std::iter::once("placement").chain(
            state::kept_read_only_fields(step.tool.model)
                .iter()
                .copied(),
        );
        for field in unlisted {
            if let Some(v) = step.args.get(field) {
                body.entry(field).or_insert_with(|| v.clone());
            }
        }
    }
    client
        .send(step.tool, &request)
        .await
        .map(|r| r.data())
        .map_err(|e| StepError {
            unclear: super::flow::outcome_unclear(&e),
            message: e.to_string(),
        })
}

/// Settle an update or a delete of one object from the whole list as it is now. Ids shift
/// (another admin's delete moves every later object down), so the object is found by its
/// stable identity, or, when the model has none or several objects share it, by comparing
/// whole states with the one before the call: the object now at the old id may be another
/// one, and taking it for the changed object would make undo rewrite it.
fn settle_item(
    change: &Change,
    kind: ChangeKind,
    before: &Value,
    all: &Value,
) -> (String, Option<Value>, String) {
    let model = change.model.as_str();
    let parent = before.get("parent_id").filter(|v| !v.is_null());
    let siblings: Vec<&Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| parent.is_none() || o.get("parent_id") == parent)
        .collect();
    let as_before: Vec<&Value> = siblings
        .iter()
        .copied()
        .filter(|o| state::is_as_recorded(o, before))
        .collect();
    let id_of = |o: &Value| o.get("id").cloned().unwrap_or(Value::Null);
    let settled = |st: &str, after: Option<Value>, note: String| {
        (st.to_string(), after, format!("settled at start: {note}"))
    };
    let wanted = identity(model, before);
    let label = wanted
        .as_ref()
        .map(|w| format!("the {model} with {}", describe_identity(w)))
        .unwrap_or_else(|| format!("the {model} at id {}", id_of(before)));
    let found = wanted.as_ref().map(|w| state::lookup(model, all, w));
    if kind == ChangeKind::Delete {
        return match (found, as_before.first()) {
            (Some(state::Lookup::One(o)), _) => settled(
                status::NOT_APPLIED,
                None,
                format!(
                    "{label} still exists (now id {}), so the delete did not happen",
                    id_of(o)
                ),
            ),
            (_, Some(o)) => settled(
                status::NOT_APPLIED,
                None,
                format!(
                    "an object exactly as {label} was before the call exists (now id {}), so the delete did not happen",
                    id_of(o)
                ),
            ),
            (Some(state::Lookup::Missing), None) => settled(
                status::EXECUTED,
                Some(all.clone()),
                format!(
                    "no object carries the identity of {label} any more, so the delete happened"
                ),
            ),
            (_, None) => settled(
                status::EXECUTED,
                Some(all.clone()),
                format!(
                    "no object is as {label} was before the call any more, so the delete happened"
                ),
            ),
        };
    }
    // An update: the fields it sets (not secrets, which are never read back, nor resets to a
    // default whose value is not known here).
    let body = change.request.get("body").and_then(Value::as_object);
    let set: Vec<(&String, &Value)> = body
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            !state::CONTROL_ARGS.contains(&k.as_str())
                && !crate::spec::tables::is_sensitive_field(k)
                && !v.is_null()
                && !v.to_string().contains(crate::outcome::REDACTED)
        })
        .collect();
    let holds = |o: &Value| set.iter().all(|(k, v)| o.get(k.as_str()) == Some(*v));
    // Differs from the state before only in fields the call names (the object itself, not
    // another one now at its id).
    let only_named = |o: &Value| {
        state::differing_fields(&state::as_recorded(o, before), before)
            .iter()
            .all(|f| body.is_some_and(|b| b.contains_key(f)))
    };
    // The identity the object has after the call (an update may rename it).
    let renamed = wanted.as_ref().and_then(|w| {
        let mut next = before.clone();
        for (k, v) in &set {
            next[k.as_str()] = (*v).clone();
        }
        identity(model, &next).filter(|n| n != w)
    });
    let found = match (found, &renamed) {
        (Some(state::Lookup::Missing), Some(n)) => Some(state::lookup(model, all, n)),
        (found, _) => found,
    };
    match found {
        Some(state::Lookup::One(o)) if state::is_as_recorded(o, before) => settled(
            status::NOT_APPLIED,
            None,
            format!(
                "{label} is exactly as before (now id {}), so the change did not happen",
                id_of(o)
            ),
        ),
        Some(state::Lookup::One(o)) if holds(o) => settled(
            status::EXECUTED,
            Some(o.clone()),
            format!(
                "{label} (now id {}) holds the values the call set, so the change happened",
                id_of(o)
            ),
        ),
        Some(state::Lookup::One(o)) => settled(
            status::UNKNOWN,
            None,
            format!(
                "{label} (now id {}) has changed, but not to the values the call set: someone else may have changed it; whether this change happened is unknown",
                id_of(o)
            ),
        ),
        Some(state::Lookup::Missing) => settled(
            status::UNKNOWN,
            None,
            format!(
                "no object carries the identity of {label} any more (deleted or renamed since), so whether the change happened is unknown: list the collection to check"
            ),
        ),
        // No identity, or several objects share it: whole states tell.
        _ if !as_before.is_empty() => settled(
            status::NOT_APPLIED,
            None,
            format!(
                "an object exactly as {label} was before the call exists (now id {}), so the change did not happen",
                id_of(as_before[0])
            ),
        ),
        _ => {
            let candidates: Vec<&Value> = siblings
                .iter()
                .copied()
                .filter(|o| holds(o) && only_named(o))
                .filter(|o| match &wanted {
                    Some(w) => {
                        let id = identity(model, o);
                        id.as_ref() == Some(w) || (renamed.is_some() && id == renamed)
                    }
                    None => o.get("id") == before.get("id"),
                })
                .collect();
            match candidates.as_slice() {
                [o] => settled(
                    status::EXECUTED,
                    Some((*o).clone()),
                    format!(
                        "the object at id {} differs from {label} before the call only in what the call set, to the values it set, so the change happened",
                        id_of(o)
                    ),
                ),
                _ => settled(
                    status::UNKNOWN,
                    None,
                    format!(
                        "no object is exactly as {label} was before the call, and none can be told to be it as the call would leave it (ids shift after deletes), so whether the change happened is unknown: list the collection to check"
                    ),
                ),
            }
        }
    }
}

/// Settle a row left in `intent` by a killed process: read the firewall and decide whether
/// the change happened. Returns the new status, the after-state, and a note.
pub async fn reconcile(client: &Client, change: &Change) -> (String, Option<Value>, String) {
    let Some(def) = catalog::tool(&change.tool) else {
        return (
            status::UNKNOWN.into(),
            None,
            "the tool is not in this build".into(),
        );
    };
    let before = change.before.clone().unwrap_or(Value::Null);
    let kind = ChangeKind::of(def);
    let current = match kind {
        ChangeKind::Create => {
            // Only a create whose request names the object's identity can be found again.
            let body = change.request.get("body").cloned().unwrap_or(Value::Null);
            let Some(wanted) = identity(&change.model, &body) else {
                return (
                    status::UNKNOWN.into(),
                    None,
                    "the process was stopped before the answer came; this model has no identity in the request, so whether the object was created is unknown: list the collection to check".into(),
                );
            };
            let found = match state::read_collection(client, def).await {
                Some(Ok(all)) => match state::lookup(&change.model, &all, &wanted) {
                    state::Lookup::One(o) => Some(o.clone()),
                    state::Lookup::Missing => None,
                    state::Lookup::Several(v) => {
                        return (
                            status::UNKNOWN.into(),
                            None,
                            format!(
                                "settled at start: {} objects carry {}, so whether this create made one of them is unknown: list the collection to check",
                                v.len(),
                                describe_identity(&wanted)
                            ),
                        );
                    }
                },
                _ => {
                    return (
                        status::INTENT.into(),
                        None,
                        "could not read the firewall to settle this entry; will retry at next start".into(),
                    );
                }
            };
            return match found {
                Some(obj) => (
                    status::EXECUTED.into(),
                    Some(obj),
                    format!(
                        "settled at start: the object with {} exists, so the create happened",
                        describe_identity(&wanted)
                    ),
                ),
                None => (
                    status::NOT_APPLIED.into(),
                    None,
                    format!(
                        "settled at start: no object with {} exists, so the create did not happen",
                        describe_identity(&wanted)
                    ),
                ),
            };
        }
        ChangeKind::Update | ChangeKind::Delete => {
            let retry = || {
                (
                    status::INTENT.to_string(),
                    None,
                    "could not read the firewall to settle this entry; will retry at next start"
                        .to_string(),
                )
            };
            let (all, whole) = match state::read_collection(client, def).await {
                Some(Ok(all)) => (all, true),
                Some(Err(_)) => return retry(),
                // No list tool (some nested models): the object at the old id is all there is
                // to see.
                None => {
                    let mut at = Map::new();
                    for k in ["id", "parent_id"] {
                        if let Some(v) = before.get(k).filter(|v| !v.is_null()) {
                            at.insert(k.into(), v.clone());
                        }
                    }
                    match state::read_target(client, def, &Value::Object(at)).await {
                        Some(Ok(v)) => (json!([v]), false),
                        Some(Err(e)) if e.contains("MODEL_OBJECT_NOT_FOUND") => (json!([]), false),
                        _ => return retry(),
                    }
                }
            };
            let settled = settle_item(change, kind, &before, &all);
            if !whole && kind == ChangeKind::Delete && settled.0 == status::EXECUTED {
                return (
                    status::UNKNOWN.into(),
                    None,
                    "settled at start: the object is not at its old id, and this model has no list to look for it in (ids shift after deletes), so whether the delete happened is unknown".into(),
                );
            }
            return settled;
        }
        ChangeKind::Settings | ChangeKind::Replace | ChangeKind::BulkDelete => {
            state::read_target(client, def, &json!({}))
                .await
                .and_then(Result::ok)
        }
        ChangeKind::Other => {
            return (
                status::UNKNOWN.into(),
                None,
                "the process was stopped before the answer came; this kind of call leaves no state to check".into(),
            );
        }
    };
    let Some(current) = current else {
        return (
            status::INTENT.into(),
            None,
            "could not read the firewall to settle this entry; will retry at next start".into(),
        );
    };
    if state::unchanged_since(&current, &before) {
        return (
            status::NOT_APPLIED.into(),
            None,
            "settled at start: the target is exactly as before, so the change did not happen"
                .into(),
        );
    }
    // Different from before is not enough: another admin may have changed it meanwhile, and
    // an undo from that state would put back over their change.
    let body = change.request.get("body").unwrap_or(&Value::Null);
    if !shows_the_change(kind, body, &before, &current) {
        return (
            status::UNKNOWN.into(),
            None,
            "settled at start: the target differs from its state before the call, but not as this call would leave it (it may have been changed by someone else meanwhile), so whether the change happened is unknown: check it; it is not undone through the journal".into(),
        );
    }
    (
        status::EXECUTED.into(),
        Some(current),
        "settled at start: the target is as the call leaves it, so the change happened".into(),
    )
}

/// Whether `current` is what a settings change, replacement or bulk delete that sent `body`
/// leaves: the settings hold the values sent; the list holds the objects sent, in order; the
/// list is the one before with objects taken out and nothing else changed.
fn shows_the_change(kind: ChangeKind, body: &Value, before: &Value, current: &Value) -> bool {
    // The fields a caller sent, as the firewall shows them back (secrets never come back).
    let holds = |object: &Value, sent: &Value| -> bool {
        sent.as_object().is_some_and(|sent| {
            sent.iter()
                .filter(|(k, _)| {
                    !state::CONTROL_ARGS.contains(&k.as_str())
                        && k.as_str() != "id"
                        && !crate::spec::tables::is_sensitive_field(k)
                })
                .all(|(k, v)| same_value(object.get(k).unwrap_or(&Value::Null), v))
        })
    };
    match kind {
        ChangeKind::Settings => holds(current, body),
        ChangeKind::Replace => {
            let sent = body.get("objects").unwrap_or(body);
            match (sent.as_array(), current.as_array()) {
                (Some(sent), Some(now)) => {
                    sent.len() == now.len() && sent.iter().zip(now).all(|(s, n)| holds(n, s))
                }
                _ => false,
            }
        }
        ChangeKind::BulkDelete => match (before.as_array(), current.as_array()) {
            (Some(before), Some(now)) if now.len() < before.len() => {
                // Each object left is one from before, in the same order.
                let mut rest = before.iter();
                now.iter()
                    .all(|n| rest.any(|b| state::is_as_recorded(n, b)))
            }
            _ => false,
        },
        _ => true,
    }
}

/// A value sent and the value read back: equal, or the same scalar written differently
/// (pfrest reads `"1"` where `1` was sent, and the other way round).
fn same_value(read: &Value, sent: &Value) -> bool {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    read == sent
        || (scalar(read).is_some() && scalar(read) == scalar(sent))
        || state::unchanged_since(read, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str) -> &'static ToolDef {
        catalog::tool(name).unwrap_or_else(|| panic!("the catalogue has {name}"))
    }

    fn change(tool: &str, model: &str, before: Option<Value>, after: Option<Value>) -> Change {
        Change {
            before,
            after,
            ..Change::example(tool, model)
        }
    }

    fn step(tool: &str, args: Value) -> Step {
        Step {
            tool: def(tool),
            args,
            description: String::new(),
        }
    }

    fn forward(link: &str) -> Value {
        json!({"id": 0, "interface": "wan", "ipprotocol": "inet", "protocol": "tcp",
            "source": "any", "source_port": null, "destination": "wan:ip",
            "destination_port": "8080", "target": "192.168.1.50", "local_port": "80",
            "disabled": false, "descr": "web", "associated_rule_id": link})
    }

    fn rule(id: u64, tracker: u64, link: Option<&str>) -> Value {
        json!({"id": id, "tracker": tracker, "type": "pass", "interface": ["wan"],
            "destination": "192.168.1.50", "associated_rule_id": link})
    }

    fn played(rules: Vec<Value>, newer: &[Newer<'_>]) -> Vec<Value> {
        let mut items = rules;
        play_all(&mut items, def("pfsense_list_firewall_rules"), newer, None);
        items
    }

    fn ids(items: &[Value]) -> Vec<(Value, Value)> {
        items
            .iter()
            .map(|o| (o["id"].clone(), o["associated_rule_id"].clone()))
            .collect()
    }

    fn host(id: u64, host: &str) -> Value {
        json!({"id": id, "host": host, "domain": "example.com", "ip": ["192.0.2.1"]})
    }

    fn hosts(items: &[Value]) -> Vec<(Value, Value)> {
        items
            .iter()
            .map(|o| (o["id"].clone(), o["host"].clone()))
            .collect()
    }

    /// pfrest sorts host overrides by `host` after a create or an update, not after a delete:
    /// the played list moves a renamed override back to its sorted place and a re-created one
    /// from its `placement` to its sorted place, later ids shifting; a delete leaves the order.
    #[test]
    fn a_sorted_models_list_is_played_sorted_as_pfrest_keeps_it() {
        let list = def("pfsense_list_services_dns_resolver_host_overrides");
        let sort = sorted::row(list.model);
        assert!(sort.is_some(), "{} is sorted", list.model);
        let renamed = change(
            "pfsense_update_services_dns_resolver_host_override",
            "DNSResolverHostOverride",
            Some(host(0, "b")),
            Some(host(2, "z")),
        );
        let restore = [step(
            "pfsense_update_services_dns_resolver_host_override",
            json!({"id": 2, "host": "b"}),
        )];
        let deleted = change(
            "pfsense_delete_services_dns_resolver_host_override",
            "DNSResolverHostOverride",
            Some(host(0, "y")),
            Some(json!([])),
        );
        let mut args = host(0, "y");
        args.as_object_mut().unwrap().remove("id");
        args["placement"] = json!(0);
        let recreate = [step(
            "pfsense_create_services_dns_resolver_host_override",
            args,
        )];
        let newer: Vec<Newer<'_>> = vec![(&renamed, &restore), (&deleted, &recreate)];
        let now = vec![host(0, "c"), host(1, "m"), host(2, "z")];
        let mut items = now.clone();
        play_all(&mut items, list, &newer, sort);
        assert_eq!(
            hosts(&items),
            [
                (json!(0), json!("b")),
                (json!(1), json!("c")),
                (json!(2), json!("m")),
                (json!(3), json!("y")),
            ]
        );
        // Unsorted (the list of a model pfrest does not sort): where the steps put them.
        let mut items = now;
        play_all(&mut items, list, &newer, None);
        assert_eq!(
            hosts(&items),
            [
                (json!(0), json!("y")),
                (json!(1), json!("c")),
                (json!(2), json!("m")),
                (json!(3), json!("b")),
            ]
        );

        // A delete does not sort: an unsorted list (written by hand) stays as it was.
        let created = change(
            "pfsense_create_services_dns_resolver_host_override",
            "DNSResolverHostOverride",
            None,
            Some(host(1, "q")),
        );
        let delete = [step(
            "pfsense_delete_services_dns_resolver_host_override",
            json!({"id": 1}),
        )];
        let mut items = vec![host(0, "z"), host(1, "q"), host(2, "a")];
        play_all(&mut items, list, &[(&created, &delete)], sort);
        assert_eq!(
            hosts(&items),
            [(json!(0), json!("z")), (json!(1), json!("a"))]
        );
    }

    /// Every field the table names is one the models have: the owner's create takes its link
    /// and the fields the linked object is made from, the linked model's create the fields
    /// written.
    #[test]
    fn the_linked_objects_table_names_fields_the_tools_have() {
        for l in LINKED_OBJECTS {
            let owner = catalog::TOOLS
                .iter()
                .find(|d| {
                    d.model == l.owner && d.method == Method::Post && d.path_kind == PathKind::Item
                })
                .expect("the owner's create tool");
            let linked = catalog::TOOLS
                .iter()
                .find(|d| {
                    d.model == l.model && d.method == Method::Post && d.path_kind == PathKind::Item
                })
                .expect("the linked model's create tool");
            let has = |d: &ToolDef, f: &str| d.args.iter().any(|a| a.name == f);
            assert!(has(owner, l.field), "{} takes {}", owner.name, l.field);
            assert!(
                notes_of(l.owner).is_some(),
                "a preview note for {}",
                l.owner
            );
            for (field, from) in l.fields {
                assert!(has(linked, field), "{} takes {field}", linked.name);
                if let Made::Field(f) | Made::ListOf(f) = from {
                    assert!(has(owner, f), "{} takes {f}", owner.name);
                }
            }
        }
    }

    /// Re-creating a port forward with a linked rule appends the rule pfrest makes at the end
    /// of the whole rule list, made from the port forward's fields; no other id moves.
    #[test]
    fn a_port_forward_re_create_appends_its_linked_rule() {
        let deleted = change(
            "pfsense_delete_firewall_nat_port_forward",
            "PortForward",
            Some(forward("nat_old")),
            Some(json!([])),
        );
        let mut args = forward("new");
        args.as_object_mut().unwrap().remove("id");
        args["placement"] = json!(0);
        let steps = [step("pfsense_create_firewall_nat_port_forward", args)];
        let newer: Vec<Newer<'_>> = vec![(&deleted, &steps)];
        let rules = played(vec![rule(0, 10, None), rule(1, 11, None)], &newer);
        assert_eq!(
            ids(&rules),
            [
                (json!(0), Value::Null),
                (json!(1), Value::Null),
                (json!(2), json!("new"))
            ]
        );
        let made = &rules[2];
        assert_eq!(made["type"], "pass");
        assert_eq!(made["interface"], json!(["wan"]));
        assert_eq!(made["destination"], "192.168.1.50");
        assert_eq!(made["destination_port"], "80");
        assert!(
            identity("FirewallRule", made).is_none(),
            "no tracker known yet"
        );

        // The port forward list shows what the re-create sent, not the old link.
        let mut forwards = vec![];
        play_all(
            &mut forwards,
            def("pfsense_list_firewall_nat_port_forwards"),
            &newer,
            None,
        );
        assert_eq!(forwards[0]["associated_rule_id"], "new");

        // Without a link ("" or "pass") pfrest makes no rule.
        for none in ["", "pass"] {
            let mut args = forward(none);
            args.as_object_mut().unwrap().remove("id");
            let steps = [step("pfsense_create_firewall_nat_port_forward", args)];
            let rules = played(vec![rule(0, 10, None)], &[(&deleted, &steps)]);
            assert_eq!(rules.len(), 1, "{none:?}");
        }
    }

    /// Undoing a port forward's create deletes the rules carrying its link (later ids shift);
    /// undoing an update writes the port forward's fields back onto its linked rule.
    #[test]
    fn a_port_forward_delete_and_update_play_on_their_linked_rule() {
        let created = change(
            "pfsense_create_firewall_nat_port_forward",
            "PortForward",
            None,
            Some(forward("nat_a")),
        );
        let steps = [step(
            "pfsense_delete_firewall_nat_port_forward",
            json!({"id": 0}),
        )];
        let rules = played(
            vec![
                rule(0, 10, Some("nat_a")),
                rule(1, 11, Some("nat_b")),
                rule(2, 12, None),
            ],
            &[(&created, &steps)],
        );
        assert_eq!(
            ids(&rules),
            [(json!(0), json!("nat_b")), (json!(1), Value::Null)]
        );

        let mut after = forward("nat_a");
        after["target"] = json!("192.168.1.51");
        let updated = change(
            "pfsense_update_firewall_nat_port_forward",
            "PortForward",
            Some(forward("nat_a")),
            Some(after),
        );
        let steps = [step(
            "pfsense_update_firewall_nat_port_forward",
            json!({"id": 0, "target": "192.168.1.50"}),
        )];
        let mut linked = rule(0, 10, Some("nat_a"));
        linked["destination"] = json!("192.168.1.51");
        linked["descr"] = json!("kept");
        let mut other = rule(1, 11, None);
        other["destination"] = json!("192.168.1.51");
        let rules = played(vec![linked, other], &[(&updated, &steps)]);
        assert_eq!(rules[0]["destination"], "192.168.1.50");
        assert_eq!(
            rules[0]["descr"], "kept",
            "an update leaves the description"
        );
        assert_eq!(rules[0]["tracker"], 10);
        assert_eq!(rules[1]["destination"], "192.168.1.51", "not linked");
    }

    /// A port forward created and deleted within a batch (changed or not in between) cancels
    /// out, by the link its create drew; a delete alone, another port forward's create, or a
    /// create newer than the delete does not.
    #[test]
    fn a_port_forward_created_and_deleted_in_a_batch_cancels_out() {
        let with_kind = |id: i64, kind: ChangeKind, link: &str| {
            let tool = match kind {
                ChangeKind::Create => "pfsense_create_firewall_nat_port_forward",
                ChangeKind::Update => "pfsense_update_firewall_nat_port_forward",
                _ => "pfsense_delete_firewall_nat_port_forward",
            };
            let object = Some(forward(link));
            let mut c = match kind {
                ChangeKind::Create => change(tool, "PortForward", None, object),
                _ => change(tool, "PortForward", object, Some(json!([]))),
            };
            c.id = id;
            c.kind = kind.as_str().into();
            c
        };
        let created = with_kind(1, ChangeKind::Create, "nat_a");
        let updated = with_kind(2, ChangeKind::Update, "nat_a");
        let deleted = with_kind(3, ChangeKind::Delete, "nat_a");
        let batch = [deleted.clone(), updated.clone(), created.clone()];
        for c in &batch {
            let cancel = cancels_out(c, &batch).expect("cancels out");
            assert_eq!(
                (cancel.value.as_str(), cancel.created_by, cancel.deleted_by),
                ("nat_a", 1, 3)
            );
        }
        assert!(cancels_out(&deleted, std::slice::from_ref(&deleted)).is_none());
        let other = with_kind(1, ChangeKind::Create, "nat_b");
        assert!(cancels_out(&deleted, &[deleted.clone(), other]).is_none());
        let mut later = created.clone();
        later.id = 4;
        assert!(cancels_out(&deleted, &[later, deleted.clone()]).is_none());
        // Without a link ("" or "pass") there is nothing to tell the object by.
        let plain = with_kind(3, ChangeKind::Delete, "");
        let plain_made = with_kind(1, ChangeKind::Create, "");
        assert!(cancels_out(&plain, &[plain.clone(), plain_made]).is_none());
    }

    /// An auto-revert of a due change takes along the later provisional changes of its model
    /// when its undo reads the list as recorded (no stable identity, a replaced list), and the
    /// later changes of the same object, and the later changes of the other side of a link
    /// (a forward and the rule carrying its link), the oldest due change being the one they go
    /// with; another object of a model with stable identity, another model, or an older change
    /// is left to its own deadline.
    #[test]
    fn an_auto_revert_takes_along_later_changes_its_undo_needs_undone_first() {
        let at = |id: i64, due: bool, model: &str, before: Value| {
            let mut c = change("t", model, Some(before), Some(json!([])));
            c.id = id;
            c.provisional_until = Some(if due { 0 } else { i64::MAX });
            c
        };
        let is_due = |c: &Change| c.provisional_until == Some(0);
        let with = |later: &Change, all: &[Change]| reverted_with(later, all, is_due);
        let alias = json!({"id": 0, "name": "web"});
        let (a, b) = (
            at(1, true, "PortForward", forward("nat_a")),
            at(2, false, "PortForward", forward("nat_b")),
        );
        assert_eq!(with(&b, &[a.clone(), b.clone()]), Some(1));
        let first = at(0, true, "PortForward", forward("nat_c"));
        assert_eq!(with(&b, &[first.clone(), a.clone(), b.clone()]), Some(0));
        assert_eq!(
            with(&a, &[a.clone(), at(0, false, "PortForward", forward("x"))]),
            None
        );
        let other = at(2, false, "FirewallAlias", alias.clone());
        assert_eq!(with(&other, &[a.clone(), other.clone()]), None);
        // Stable identity: another alias is left to its deadline, the same one goes along.
        let named = at(1, true, "FirewallAlias", json!({"id": 0, "name": "db"}));
        assert_eq!(with(&other, &[named, other.clone()]), None);
        let mut same = at(1, true, "FirewallAlias", alias.clone());
        same.after = Some(alias.clone());
        assert_eq!(with(&other, &[same, other.clone()]), Some(1));
        let replaced = at(1, true, "FirewallAlias", json!([alias]));
        assert_eq!(with(&other, &[replaced, other.clone()]), Some(1));
        // Across a link: a forward's change and a change of the rule carrying its link, in
        // either order; a rule carrying another link, or a forward without one, is left.
        let mut created = at(1, true, "PortForward", forward("new"));
        created.kind = ChangeKind::Create.as_str().into();
        created.before = None;
        created.after = Some(forward("nat_a"));
        // An update of one rule: before and after are that rule.
        let rule_update = |id: i64, due: bool, link: &str| {
            let mut c = at(id, due, "FirewallRule", rule(3, 10, Some(link)));
            c.after = c.before.clone();
            c
        };
        let linked_rule = rule_update(2, false, "nat_a");
        assert_eq!(
            with(&linked_rule, &[created.clone(), linked_rule.clone()]),
            Some(1)
        );
        let other_rule = rule_update(2, false, "nat_b");
        assert_eq!(
            with(&other_rule, &[created.clone(), other_rule.clone()]),
            None
        );
        let rules_replaced = at(2, false, "FirewallRule", json!([rule(3, 10, None)]));
        assert_eq!(
            with(&rules_replaced, &[created, rules_replaced.clone()]),
            Some(1)
        );
        let rule_edited = rule_update(1, true, "nat_a");
        let mut deleted = at(2, false, "PortForward", forward("nat_a"));
        deleted.kind = ChangeKind::Delete.as_str().into();
        assert_eq!(
            with(&deleted, &[rule_edited.clone(), deleted.clone()]),
            Some(1)
        );
        let mut unlinked = at(2, false, "PortForward", forward(""));
        unlinked.kind = ChangeKind::Delete.as_str().into();
        assert_eq!(with(&unlinked, &[rule_edited, unlinked.clone()]), None);
    }

    /// A linked rule an owner's re-create made again (a new tracker) is found by the link the
    /// recorded state follows, and compared without its tracker; a rule without a link, a link
    /// two rules carry, or another model finds nothing, and another tracker without the same
    /// link is a change.
    #[test]
    fn a_linked_rule_made_again_is_found_by_its_link() {
        let recorded = rule(2, 10, Some("nat_b"));
        let all = json!([rule(0, 5, None), rule(1, 11, Some("nat_b"))]);
        assert_eq!(made_again("FirewallRule", &all, &recorded), Some(&all[1]));
        let (now, then) = compared("FirewallRule", &all[1], &recorded);
        assert!(state::unchanged_since(&now, &then));
        assert!(made_again("FirewallRule", &all, &rule(2, 10, None)).is_none());
        let twice = json!([rule(0, 11, Some("nat_b")), rule(1, 12, Some("nat_b"))]);
        assert!(made_again("FirewallRule", &twice, &recorded).is_none());
        assert!(made_again("FirewallAlias", &all, &recorded).is_none());
        let (now, then) = compared("FirewallRule", &rule(1, 11, None), &rule(2, 10, None));
        assert!(!state::unchanged_since(&now, &then));
    }

    /// A linked rule's own fields are what pfrest would not make from its forward: a rule as
    /// pfrest made it has none (its description names the link, its booleans are false, its
    /// state type the create's default); a description, logging or a schedule of its own are.
    #[test]
    fn a_linked_rules_own_fields_are_those_its_forward_does_not_make() {
        let link = &LINKED_OBJECTS[0];
        let update = def("pfsense_update_firewall_rule");
        let made = json!({"id": 2, "type": "pass", "interface": ["wan"], "ipprotocol": "inet",
            "protocol": "tcp", "icmptype": [], "source": "any", "source_port": null,
            "destination": "192.168.1.50", "destination_port": "80",
            "descr": "Associated rule for port forward rule nat_a", "disabled": false,
            "log": false, "tag": "", "statetype": "keep state", "tcp_flags_any": false,
            "tcp_flags_out_of": [], "gateway": null, "sched": null, "floating": false,
            "quick": null, "direction": null, "tracker": 1770000003,
            "associated_rule_id": "nat_a", "created_time": 1770000003});
        assert_eq!(own_fields(link, update, &made), Map::new());
        let mut edited = made.clone();
        edited["descr"] = json!("ssh from the office only");
        edited["log"] = json!(true);
        edited["sched"] = json!("office-hours");
        edited["source"] = json!("10.0.0.0/8");
        let own = own_fields(link, update, &edited);
        assert_eq!(
            own.keys().map(String::as_str).collect::<Vec<_>>(),
            ["descr", "log", "sched"],
            "the source is the forward's to write"
        );
    }

    /// A port forward's delete preview says what its undo does with the linked rule: a new
    /// one when the forward had a link and its rule stood, none when the rule was gone, and
    /// nothing of a link for a forward that had none.
    #[test]
    fn a_forwards_delete_preview_says_what_becomes_of_its_linked_rule() {
        let sent = |v: &str| forward(v).as_object().unwrap().clone();
        let linked = forward("nat_a");
        let note = |v: &str, before: &Value| linked_note("PortForward", &sent(v), Some(before));
        assert!(
            note("new", &linked)
                .unwrap()
                .contains("with a new linked rule")
        );
        assert!(note("", &linked).unwrap().contains("without a linked rule"));
        assert_eq!(note("", &forward("")), None);
        assert_eq!(note("pass", &forward("pass")), None);
        assert_eq!(linked_note("FirewallRule", &sent(""), Some(&linked)), None);
    }

    /// A recorded state is read with the links undos drew anew: an undo already run (the old
    /// link to the one it made, twice over in order) and, in a preview, a newer undo's
    /// re-create (the old link to `draw`). A rule carrying the link follows too; another
    /// forward's link, an update's undo and a link keyword are left.
    #[test]
    fn a_recorded_state_follows_the_links_undos_drew_anew() {
        let deleted = |id: i64, link: &str| {
            let mut c = change(
                "pfsense_delete_firewall_nat_port_forward",
                "PortForward",
                Some(forward(link)),
                Some(json!([])),
            );
            c.id = id;
            c.kind = ChangeKind::Delete.as_str().into();
            c
        };
        let mut redrawn = Redrawn::default();
        redrawn.add(&deleted(2, "nat_a"), &forward("nat_b"));
        redrawn.add(&deleted(4, "nat_b"), &forward("nat_c"));
        let mut updated = deleted(5, "nat_x");
        updated.kind = ChangeKind::Update.as_str().into();
        redrawn.add(&updated, &forward("nat_y"));
        redrawn.add(&deleted(6, ""), &forward("nat_z"));
        let recorded = json!([
            forward("nat_a"),
            forward("nat_x"),
            rule(0, 10, Some("nat_a"))
        ]);
        let followed = redrawn.follow("PortForward", &recorded);
        assert_eq!(followed[0]["associated_rule_id"], "nat_c");
        assert_eq!(followed[1]["associated_rule_id"], "nat_x");
        assert_eq!(followed[2]["associated_rule_id"], "nat_c");

        let newer_delete = deleted(7, "nat_x");
        let mut args = forward("new");
        args.as_object_mut().unwrap().remove("id");
        let steps = [step("pfsense_create_firewall_nat_port_forward", args)];
        let newer: Vec<Newer<'_>> = vec![(&newer_delete, &steps)];
        let followed = redrawn.with_newer(&newer).follow("PortForward", &recorded);
        assert_eq!(followed[1]["associated_rule_id"], "new");
        assert_eq!(followed[0]["associated_rule_id"], "nat_c");

        // A forward created and deleted around a change is gone from the lists it recorded
        // (later ids shift down), and one re-created after it goes a place earlier.
        let mut created = change(
            "pfsense_create_firewall_nat_port_forward",
            "PortForward",
            None,
            Some(forward("nat_g")),
        );
        created.kind = ChangeKind::Create.as_str().into();
        let between = deleted(3, "nat_m");
        let batch = [deleted(8, "nat_g"), between.clone(), created];
        let around = Redrawn::default().cancelled_around(&between, &batch);
        let mut kept = forward("nat_k");
        kept["id"] = json!(1);
        let recorded = json!([forward("nat_g"), kept]);
        let followed = around.follow("PortForward", &recorded);
        assert_eq!(
            ids(followed.as_array().unwrap()),
            [(json!(0), json!("nat_k"))]
        );
        assert_eq!(around.gone_before(Some(&recorded), 2), 1);
        assert_eq!(around.gone_before(Some(&recorded), 0), 0);
        let outside = Redrawn::default().cancelled_around(&deleted(9, "nat_o"), &batch);
        assert_eq!(outside.follow("PortForward", &recorded), recorded);

        // A forward re-created without a link (its linked rule was gone): its own recorded
        // states follow, a rule's do not.
        // pfrest shows the forward's empty link as null (seen on the lab).
        let mut unlinked = Redrawn::default();
        let mut made = forward("");
        made["associated_rule_id"] = Value::Null;
        unlinked.add(&deleted(10, "nat_q"), &made);
        let recorded = json!([forward("nat_q")]);
        assert_eq!(
            unlinked.follow("PortForward", &recorded)[0]["associated_rule_id"],
            Value::Null
        );
        let recorded = json!([rule(0, 10, Some("nat_q"))]);
        assert_eq!(unlinked.follow("FirewallRule", &recorded), recorded);
    }

    /// A PATCH with `placement` moves the object as pfrest's `set_placement` does: out of its
    /// place, into the one asked for, later ids shifting.
    #[test]
    fn a_move_is_played_where_pfrest_puts_it() {
        let deleted = change(
            "pfsense_delete_firewall_nat_port_forward",
            "PortForward",
            Some(forward("nat_a")),
            Some(json!([])),
        );
        let steps = [step(
            "pfsense_update_firewall_rule",
            json!({"id": 3, "placement": 1}),
        )];
        let rules = played(
            vec![
                rule(0, 10, None),
                rule(1, 11, None),
                rule(2, 12, None),
                rule(3, 13, Some("new")),
            ],
            &[(&deleted, &steps)],
        );
        let trackers: Vec<Value> = rules.iter().map(|r| r["tracker"].clone()).collect();
        assert_eq!(trackers, [json!(10), json!(13), json!(11), json!(12)]);
        assert_eq!(rules[1]["id"], 1);
        assert!(rules[1].get("placement").is_none(), "no field written");
    }

    /// A linked port forward's delete is undone with its create and the rule update that
    /// moves the new linked rule back (what `--auto-revert` checks the policy allows); one
    /// without a link with its create alone.
    #[test]
    fn a_linked_delete_is_undone_with_the_rule_update_too() {
        let delete = def("pfsense_delete_firewall_nat_port_forward");
        let tools = |link: &str| {
            plan(delete, &json!({"id": 0}), Some(&forward(link)))
                .expect("an inverse")
                .writing_tools()
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            tools("nat_a"),
            [
                "pfsense_create_firewall_nat_port_forward",
                "pfsense_update_firewall_rule"
            ]
        );
        assert_eq!(tools(""), ["pfsense_create_firewall_nat_port_forward"]);
    }

    /// A step on the owner writes to the linked model's list, and only to it.
    #[test]
    fn only_the_linked_models_list_is_written_through_a_link() {
        let s = step("pfsense_delete_firewall_nat_port_forward", json!({"id": 0}));
        assert!(writes_to(&s, def("pfsense_list_firewall_rules")));
        assert!(writes_to(
            &s,
            def("pfsense_list_firewall_nat_port_forwards")
        ));
        assert!(!writes_to(&s, def("pfsense_list_firewall_aliases")));
        let rule = step("pfsense_delete_firewall_rule", json!({"id": 0}));
        assert!(!writes_to(
            &rule,
            def("pfsense_list_firewall_nat_port_forwards")
        ));
    }
}
