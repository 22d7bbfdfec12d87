//! The listed form of a tool's input schema: what `tools/list` sends, sized so that all 677
//! tools fit a client's context.
//!
//! The full schema (`Operation::input_schema`) stays the source of truth for validation and for
//! `pfsense_describe_tool`. The listed form keeps every property, type, enum, bound and
//! condition but the few named below, and leaves out what repeats:
//! - field prose (one call of `pfsense_describe_tool` gives it);
//! - the fields a selector enables when there are many (`FOLD_MIN_FIELDS`): the selector says
//!   how many and that `pfsense_describe_tool` gives them;
//! - the choices of `sort_order` and `sort_flags`, stated once in the server instructions;
//! - list items that another tool documents: a nested list of objects whose model has its own
//!   create tool, and the list body of a PUT, name that tool instead of repeating its schema;
//! - conditions that many fields share: "only when `method` is `dns_aws`" on thirty fields
//!   becomes one line on `method` saying which fields each value enables;
//! - limits every field has anyway (`maxItems` 128, `maxLength` 1024 and the few above it) and `additionalProperties: false` (the
//!   server checks unknown arguments itself and names them).

use crate::model::{ArgRole, ConditionTest, FieldCondition, Method, ModelSchema, Operation, Verb};
use crate::tables::DEFAULT_STRING_MAX_LENGTH;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// pfrest's default `many_maximum`: every list field has it unless it says otherwise.
pub const DEFAULT_LIST_MAX_ITEMS: u64 = 128;

/// Fields that share one condition on the same field are grouped when there are this many.
const GROUP_MIN_FIELDS: usize = 2;

/// A selector that enables at least this many fields lists only itself: the family it enables
/// (ACME's 290 DNS-provider fields, LDAP / RADIUS settings, AQM and scheduler parameters, BIND
/// zone types, OpenVPN server modes, HAProxy actions) is one `pfsense_describe_tool` call away.
/// Listing them cost 15k tokens and kept full mode above its 100k budget (at 14, full mode
/// measured 99.8k with `cargo xtask bench --list-only`, at 13 98.3k).
pub const FOLD_MIN_FIELDS: usize = 13;

/// The list parameters whose choices the server instructions state once.
pub const LIST_CHOICE_ARGS: &[&str] = &["sort_flags", "sort_order"];

fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(vs: &[Value]) -> String {
    vs.iter().map(literal).collect::<Vec<_>>().join(", ")
}

/// `Only if type=host and mode in [a, b]`.
pub fn compact_conditions(conditions: &[FieldCondition]) -> String {
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| {
            let field = if c.on_parent {
                format!("parent.{}", c.field)
            } else {
                c.field.clone()
            };
            match &c.test {
                ConditionTest::Equals(v) => format!("{field}={}", literal(v)),
                ConditionTest::NotEquals(v) => format!("{field}!={}", literal(v)),
                ConditionTest::OneOf(vs) => format!("{field} in [{}]", list(vs)),
                ConditionTest::NotOneOf(vs) => format!("{field} not in [{}]", list(vs)),
            }
        })
        .collect();
    format!("Only if {}", parts.join(" and "))
}

/// Remove prose and default limits from a schema, recursively.
fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("description");
            if m.get("maxItems").and_then(Value::as_u64) == Some(DEFAULT_LIST_MAX_ITEMS) {
                m.remove("maxItems");
            }
            if m.get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|n| n >= DEFAULT_STRING_MAX_LENGTH as u64)
            {
                m.remove("maxLength");
            }
            for (_, x) in m.iter_mut() {
                strip(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The value(s) a grouped condition selects, when it is a simple positive test.
fn selector(c: &[FieldCondition]) -> Option<(&str, String)> {
    match c {
        [one] if !one.on_parent => match &one.test {
            ConditionTest::Equals(v) => Some((one.field.as_str(), literal(v))),
            ConditionTest::OneOf(vs) => Some((one.field.as_str(), format!("[{}]", list(vs)))),
            _ => None,
        },
        _ => None,
    }
}

fn add_description(schema: &mut Map<String, Value>, text: &str) {
    let joined = match schema.get("description").and_then(Value::as_str) {
        Some(existing) => format!("{existing} {text}"),
        None => text.to_string(),
    };
    schema.insert("description".into(), Value::String(joined));
}

/// Apply condition texts to the (already stripped) properties of one object schema.
fn describe_conditions(
    props: &mut Map<String, Value>,
    conditions: &HashMap<&str, &[FieldCondition]>,
) {
    // Group fields by the field their single positive condition reads.
    let mut groups: BTreeMap<&str, Vec<(String, &str)>> = BTreeMap::new();
    for (name, conds) in conditions {
        if let Some((on, value)) = selector(conds) {
            groups.entry(on).or_default().push((value, name));
        }
    }
    let mut grouped: Vec<&str> = Vec::new();
    for (on, members) in &groups {
        if members.len() < GROUP_MIN_FIELDS || !props.contains_key(*on) {
            continue;
        }
        if members.len() >= FOLD_MIN_FIELDS {
            for (_, field) in members {
                // `shift_remove`: `remove` moves the last property into the gap, and the
                // fields come in `conditions`' hash order, so the listed schema's property
                // order changed from one build to the next (two builds of one spec listed
                // different bytes).
                props.shift_remove(*field);
                grouped.push(field);
            }
            if let Some(Value::Object(target)) = props.get_mut(*on) {
                add_description(
                    target,
                    &format!(
                        "Each value enables its own fields ({} in all, not listed here): pfsense_describe_tool gives them.",
                        members.len()
                    ),
                );
            }
            continue;
        }
        // value → fields, in a stable order.
        let mut by_value: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (value, field) in members {
            by_value.entry(value.as_str()).or_default().push(field);
            grouped.push(field);
        }
        let text = by_value
            .iter()
            .map(|(value, fields)| {
                let mut fields = fields.clone();
                fields.sort();
                format!("{value}: {}", fields.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ");
        if let Some(Value::Object(target)) = props.get_mut(*on) {
            add_description(target, &format!("Enables fields by value: {text}."));
        }
    }
    for (name, conds) in conditions {
        if grouped.contains(name) || conds.is_empty() {
            continue;
        }
        if let Some(Value::Object(p)) = props.get_mut(*name) {
            add_description(p, &compact_conditions(conds));
        }
    }
}

/// Lean a nested object schema whose fields come from `model`.
fn lean_nested(
    schema: &mut Value,
    model: Option<&ModelSchema>,
    models: &BTreeMap<String, ModelSchema>,
    create_tools: &HashMap<&str, &str>,
) {
    strip(schema);
    let Some(model) = model else {
        return;
    };
    let Some(Value::Object(props)) = schema.get_mut("properties") else {
        return;
    };
    let conditions: HashMap<&str, &[FieldCondition]> = model
        .fields
        .iter()
        .filter(|f| !f.conditions.is_empty())
        .map(|f| (f.name.as_str(), f.conditions.as_slice()))
        .collect();
    describe_conditions(props, &conditions);
    prune_required(schema);
    let Some(Value::Object(props)) = schema.get_mut("properties") else {
        return;
    };
    for field in &model.fields {
        if let Some(item_model) = &field.item_model
            && let Some(prop) = props.get_mut(&field.name)
        {
            refer_or_lean_items(prop, item_model, models, create_tools, "Items take");
        }
    }
}

/// For a list of objects: name the tool that documents the items, or lean them in place.
fn refer_or_lean_items(
    prop: &mut Value,
    item_model: &str,
    models: &BTreeMap<String, ModelSchema>,
    create_tools: &HashMap<&str, &str>,
    lead: &str,
) {
    let is_object_list = prop.get("type") == Some(&json!("array"))
        && prop.get("items").and_then(|i| i.get("type")) == Some(&json!("object"));
    if !is_object_list {
        return;
    }
    let Value::Object(p) = prop else {
        return;
    };
    if let Some(tool) = create_tools.get(item_model) {
        p.insert("items".into(), json!({"type": "object"}));
        let note = format!("{lead} the fields of `{tool}`.");
        let text = match p.get("description").and_then(Value::as_str) {
            Some(d) => format!("{d} {note}"),
            None => note,
        };
        p.insert("description".into(), Value::String(text));
    } else if let Some(items) = p.get_mut("items") {
        lean_nested(items, models.get(item_model), models, create_tools);
    }
}

/// The model → create tool map used to refer to documented item schemas.
pub fn create_tools(ops: &[Operation]) -> HashMap<&str, &str> {
    ops.iter()
        .filter(|o| o.verb == Verb::Create && o.method == Method::Post)
        .map(|o| (o.model.as_str(), o.tool_name.as_str()))
        .collect()
}

/// The listed schema of one operation.
pub fn listed_schema(
    op: &Operation,
    models: &BTreeMap<String, ModelSchema>,
    create_tools: &HashMap<&str, &str>,
) -> Value {
    let mut schema = op.input_schema.clone();
    let Value::Object(root) = &mut schema else {
        return schema;
    };
    root.remove("additionalProperties");
    let Some(Value::Object(props)) = root.get_mut("properties") else {
        return schema;
    };
    let model = models.get(&op.model);
    for arg in &op.args {
        let Some(prop) = props.get_mut(&arg.name) else {
            continue;
        };
        match arg.role {
            ArgRole::ListBody => {
                strip(prop);
                if let Value::Object(p) = prop {
                    p.insert(
                        "description".into(),
                        Value::String(
                            "The complete new list; objects not in it are deleted.".into(),
                        ),
                    );
                }
                refer_or_lean_items(prop, &op.model, models, create_tools, "Each item takes");
            }
            ArgRole::Filters => {
                // How filters work is said once, in the server instructions; a bulk delete
                // keeps its warning because a mistake there deletes everything.
                *prop = json!({"type": "object"});
                if op.method == Method::Delete
                    && let Value::Object(p) = prop
                {
                    p.insert(
                        "description".into(),
                        Value::String("Unknown keys match every object.".into()),
                    );
                }
            }
            ArgRole::Confirm => {
                // What `confirm` does is said once, in the server instructions.
                *prop = json!({"type": "boolean"});
            }
            ArgRole::Projection => {
                // Said once, in the server instructions.
                *prop = json!({"type": "array", "items": {"type": "string"}});
            }
            ArgRole::Guard => {
                // Declared, so that a client which drops undeclared arguments keeps it; the
                // preview that hands it out says how to send it back.
                *prop = json!({"type": "string"});
            }
            ArgRole::Field if LIST_CHOICE_ARGS.contains(&arg.name.as_str()) => {
                // Their choices are said once, in the server instructions.
                *prop = json!({"type": "string"});
            }
            ArgRole::Field => {
                strip(prop);
                if let Value::Object(p) = prop {
                    if matches!(arg.name.as_str(), "limit" | "offset") {
                        // Their default and their minimum (0) go without saying.
                        p.remove("default");
                        p.remove("minimum");
                    }
                    if matches!(arg.name.as_str(), "id" | "parent_id") {
                        p.remove("minimum");
                    }
                    if arg.name == "apply" && op.apply.is_some() {
                        p.remove("default");
                    }
                }
                let item_model = model
                    .and_then(|m| m.field(&arg.name))
                    .and_then(|f| f.item_model.as_deref());
                if let Some(item_model) = item_model {
                    refer_or_lean_items(prop, item_model, models, create_tools, "Items take");
                }
            }
        }
    }
    let conditions: HashMap<&str, &[FieldCondition]> = op
        .args
        .iter()
        .filter(|a| !a.conditions.is_empty())
        .map(|a| (a.name.as_str(), a.conditions.as_slice()))
        .collect();
    describe_conditions(props, &conditions);
    prune_required(&mut schema);
    schema
}

/// `required` names only listed properties (a folded field is never required, but a schema
/// requiring an unlisted property could not be satisfied by a client that follows it).
fn prune_required(schema: &mut Value) {
    let listed: Vec<String> = match schema.get("properties") {
        Some(Value::Object(p)) => p.keys().cloned().collect(),
        _ => return,
    };
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r.as_str().is_some_and(|r| listed.iter().any(|l| l == r)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_condition_forms() {
        let c = |field: &str, on_parent, test| FieldCondition {
            field: field.into(),
            on_parent,
            test,
        };
        assert_eq!(
            compact_conditions(&[
                c("type", false, ConditionTest::Equals(json!("host"))),
                c(
                    "scheduler",
                    true,
                    ConditionTest::OneOf(vec![json!("CBQ"), json!("FAIRQ")])
                ),
                c("enable", false, ConditionTest::NotEquals(json!(true))),
                c("mode", false, ConditionTest::NotOneOf(vec![json!("tcp")])),
            ]),
            "Only if type=host and parent.scheduler in [CBQ, FAIRQ] and enable!=true and mode not in [tcp]"
        );
    }

    /// Folding a selector's fields away leaves the other properties in the spec's order,
    /// whatever order the fields are removed in.
    #[test]
    fn folded_fields_leave_the_other_properties_in_order() {
        let folded: Vec<String> = (0..FOLD_MIN_FIELDS + 1).map(|i| format!("f{i}")).collect();
        let mut props = Map::new();
        for name in ["name", "mode"]
            .into_iter()
            .chain(folded.iter().map(String::as_str))
            .chain(["after", "last"])
        {
            props.insert(name.into(), json!({"type": "string"}));
        }
        let condition = [FieldCondition {
            field: "mode".into(),
            on_parent: false,
            test: ConditionTest::Equals(json!("x")),
        }];
        // Each map has a hash order of its own: twenty of them.
        for _ in 0..20 {
            let mut props = props.clone();
            let conditions: HashMap<&str, &[FieldCondition]> = folded
                .iter()
                .map(|f| (f.as_str(), &condition[..]))
                .collect();
            describe_conditions(&mut props, &conditions);
            let left: Vec<&str> = props.keys().map(String::as_str).collect();
            assert_eq!(left, ["name", "mode", "after", "last"]);
            assert!(
                props["mode"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("14 in all")
            );
        }
    }
}
