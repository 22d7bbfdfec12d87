//! What a spec update changes in the generated tools: tools added, removed and changed
//! (arguments, required fields, types, enum values, risk, sensitivity, apply behaviour).
//!
//! Operations are matched by method and path, not by tool name, so a renamed tool shows as a
//! change of name rather than as one tool removed and another added.

use crate::{ArgType, Operation, Spec};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The whole difference between two specs.
#[derive(Debug, Clone, Serialize)]
pub struct SpecDiff {
    pub old_version: String,
    pub new_version: String,
    pub old_operations: usize,
    pub new_operations: usize,
    pub added: Vec<ToolSummary>,
    pub removed: Vec<ToolSummary>,
    pub changed: Vec<ToolChange>,
}

/// A tool that exists on one side only.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSummary {
    pub tool: String,
    pub method: String,
    pub path: String,
    pub risk: String,
    pub summary: String,
}

/// A tool present in both specs whose generated form differs.
#[derive(Debug, Clone, Serialize)]
pub struct ToolChange {
    /// The tool's name in the new spec.
    pub tool: String,
    pub method: String,
    pub path: String,
    pub changes: Vec<Change>,
}

/// One difference in one tool.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Renamed {
        old: String,
    },
    ArgumentAdded {
        name: String,
        required: bool,
    },
    ArgumentRemoved {
        name: String,
    },
    NowRequired {
        name: String,
    },
    NoLongerRequired {
        name: String,
    },
    TypeChanged {
        name: String,
        old: String,
        new: String,
    },
    EnumValuesAdded {
        name: String,
        values: Vec<String>,
    },
    EnumValuesRemoved {
        name: String,
        values: Vec<String>,
    },
    ConstraintChanged {
        name: String,
        constraint: String,
        old: String,
        new: String,
    },
    DefaultChanged {
        name: String,
        old: String,
        new: String,
    },
    NowSensitive {
        name: String,
    },
    NoLongerSensitive {
        name: String,
    },
    RiskChanged {
        old: String,
        new: String,
    },
    AppliesImmediatelyChanged {
        old: String,
        new: String,
    },
    RequiredPackagesChanged {
        old: Vec<String>,
        new: Vec<String>,
    },
}

impl Change {
    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Change::Renamed { old } => format!("renamed from {old}"),
            Change::ArgumentAdded { name, required } => format!(
                "argument `{name}` added{}",
                if *required { " (required)" } else { "" }
            ),
            Change::ArgumentRemoved { name } => format!("argument `{name}` removed"),
            Change::NowRequired { name } => format!("argument `{name}` is now required"),
            Change::NoLongerRequired { name } => {
                format!("argument `{name}` is no longer required")
            }
            Change::TypeChanged { name, old, new } => {
                format!("argument `{name}` type {old} → {new}")
            }
            Change::EnumValuesAdded { name, values } => {
                format!("argument `{name}` accepts {}", values.join(", "))
            }
            Change::EnumValuesRemoved { name, values } => {
                format!("argument `{name}` no longer accepts {}", values.join(", "))
            }
            Change::ConstraintChanged {
                name,
                constraint,
                old,
                new,
            } => format!("argument `{name}` {constraint} {old} → {new}"),
            Change::DefaultChanged { name, old, new } => {
                format!("argument `{name}` default {old} → {new}")
            }
            Change::NowSensitive { name } => format!("argument `{name}` is now sensitive"),
            Change::NoLongerSensitive { name } => {
                format!("argument `{name}` is no longer sensitive")
            }
            Change::RiskChanged { old, new } => format!("risk {old} → {new}"),
            Change::AppliesImmediatelyChanged { old, new } => {
                format!("applies immediately: {old} → {new}")
            }
            Change::RequiredPackagesChanged { old, new } => format!(
                "required packages [{}] → [{}]",
                old.join(", "),
                new.join(", ")
            ),
        }
    }
}

/// Compare two loaded specs.
pub fn diff(old: &Spec, new: &Spec) -> SpecDiff {
    let key = |o: &Operation| (o.path.clone(), o.method.as_str().to_string());
    let old_ops: BTreeMap<_, _> = old.operations.iter().map(|o| (key(o), o)).collect();
    let new_ops: BTreeMap<_, _> = new.operations.iter().map(|o| (key(o), o)).collect();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for (k, n) in &new_ops {
        match old_ops.get(k) {
            None => added.push(summary(n)),
            Some(o) => {
                let changes = operation_changes(o, n);
                if !changes.is_empty() {
                    changed.push(ToolChange {
                        tool: n.tool_name.clone(),
                        method: n.method.as_str().to_string(),
                        path: n.path.clone(),
                        changes,
                    });
                }
            }
        }
    }
    for (k, o) in &old_ops {
        if !new_ops.contains_key(k) {
            removed.push(summary(o));
        }
    }
    let by_name = |a: &ToolSummary, b: &ToolSummary| a.tool.cmp(&b.tool);
    added.sort_by(by_name);
    removed.sort_by(by_name);
    changed.sort_by(|a, b| a.tool.cmp(&b.tool));
    SpecDiff {
        old_version: old.api_version.clone(),
        new_version: new.api_version.clone(),
        old_operations: old.operations.len(),
        new_operations: new.operations.len(),
        added,
        removed,
        changed,
    }
}

fn summary(o: &Operation) -> ToolSummary {
    ToolSummary {
        tool: o.tool_name.clone(),
        method: o.method.as_str().to_string(),
        path: o.path.clone(),
        risk: o.risk.as_str().to_string(),
        summary: o.summary.clone(),
    }
}

fn operation_changes(old: &Operation, new: &Operation) -> Vec<Change> {
    let mut changes = Vec::new();
    if old.tool_name != new.tool_name {
        changes.push(Change::Renamed {
            old: old.tool_name.clone(),
        });
    }
    for n in &new.args {
        let Some(o) = old.arg(&n.name) else {
            changes.push(Change::ArgumentAdded {
                name: n.name.clone(),
                required: n.required,
            });
            continue;
        };
        let name = || n.name.clone();
        match (o.required, n.required) {
            (false, true) => changes.push(Change::NowRequired { name: name() }),
            (true, false) => changes.push(Change::NoLongerRequired { name: name() }),
            _ => {}
        }
        if o.ty != n.ty {
            changes.push(Change::TypeChanged {
                name: name(),
                old: type_name(&o.ty).into(),
                new: type_name(&n.ty).into(),
            });
        }
        let (old_enum, new_enum) = (
            enum_values(&old.input_schema, &n.name),
            enum_values(&new.input_schema, &n.name),
        );
        let gained: Vec<String> = new_enum.difference(&old_enum).cloned().collect();
        let lost: Vec<String> = old_enum.difference(&new_enum).cloned().collect();
        // A field that gains an enum where it had none (or loses it) is a type-level change the
        // enum lists show in full; report both directions as they are.
        if !gained.is_empty() {
            changes.push(Change::EnumValuesAdded {
                name: name(),
                values: gained,
            });
        }
        if !lost.is_empty() {
            changes.push(Change::EnumValuesRemoved {
                name: name(),
                values: lost,
            });
        }
        let (old_prop, new_prop) = (
            property(&old.input_schema, &n.name),
            property(&new.input_schema, &n.name),
        );
        for constraint in CONSTRAINTS {
            let (a, b) = (
                constraint_of(old_prop, constraint),
                constraint_of(new_prop, constraint),
            );
            if a != b {
                changes.push(Change::ConstraintChanged {
                    name: name(),
                    constraint: constraint.to_string(),
                    old: show_value(a),
                    new: show_value(b),
                });
            }
        }
        let (old_default, new_default) = (
            old_prop.and_then(|p| p.get("default")),
            new_prop.and_then(|p| p.get("default")),
        );
        if old_default != new_default && !RANDOM_DEFAULTS.contains(&n.name.as_str()) {
            changes.push(Change::DefaultChanged {
                name: name(),
                old: show_value(old_default),
                new: show_value(new_default),
            });
        }
        match (o.sensitive, n.sensitive) {
            (false, true) => changes.push(Change::NowSensitive { name: name() }),
            (true, false) => changes.push(Change::NoLongerSensitive { name: name() }),
            _ => {}
        }
    }
    for o in &old.args {
        if new.arg(&o.name).is_none() {
            changes.push(Change::ArgumentRemoved {
                name: o.name.clone(),
            });
        }
    }
    if old.risk != new.risk {
        changes.push(Change::RiskChanged {
            old: old.risk.as_str().into(),
            new: new.risk.as_str().into(),
        });
    }
    if old.applies_immediately != new.applies_immediately {
        let show = |v: Option<bool>| match v {
            Some(true) => "yes".to_string(),
            Some(false) => "no".to_string(),
            None => "not applicable".to_string(),
        };
        changes.push(Change::AppliesImmediatelyChanged {
            old: show(old.applies_immediately),
            new: show(new.applies_immediately),
        });
    }
    if old.required_packages != new.required_packages {
        changes.push(Change::RequiredPackagesChanged {
            old: old.required_packages.clone(),
            new: new.required_packages.clone(),
        });
    }
    changes
}

fn type_name(t: &ArgType) -> &'static str {
    match t {
        ArgType::String => "string",
        ArgType::Integer => "integer",
        ArgType::Number => "number",
        ArgType::Boolean => "boolean",
        ArgType::StringList => "list of strings",
        ArgType::IntegerList => "list of integers",
        ArgType::Json => "JSON",
    }
}

/// Bounds a spec update may move; looked up on the property and, for lists, its items.
const CONSTRAINTS: &[&str] = &[
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
];

/// Fields whose spec default pfrest computes randomly each time it generates the spec
/// (pfrest-lab.md: `refid`, `uniqid`, `schedlabel`, HAProxy `serverid`, outbound NAT
/// `source_hash_key`, limiter `number`): a different value is not a change.
const RANDOM_DEFAULTS: &[&str] = &[
    "refid",
    "uniqid",
    "schedlabel",
    "serverid",
    "source_hash_key",
    "number",
];

fn property<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema.get("properties").and_then(|p| p.get(name))
}

fn constraint_of<'a>(prop: Option<&'a Value>, constraint: &str) -> Option<&'a Value> {
    let prop = prop?;
    prop.get(constraint)
        .or_else(|| prop.get("items").and_then(|i| i.get(constraint)))
}

fn show_value(v: Option<&Value>) -> String {
    match v {
        None => "none".into(),
        Some(Value::String(s)) => format!("\"{s}\""),
        Some(other) => other.to_string(),
    }
}

/// The enum values a property accepts (its own `enum`, or its items' for lists), as text.
fn enum_values(schema: &Value, property: &str) -> BTreeSet<String> {
    let Some(prop) = schema.get("properties").and_then(|p| p.get(property)) else {
        return BTreeSet::new();
    };
    let list = prop
        .get("enum")
        .or_else(|| prop.get("items").and_then(|i| i.get("enum")));
    list.and_then(Value::as_array)
        .map(|values| {
            values
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

impl SpecDiff {
    /// The report for a person: totals, then added, removed and changed tools.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} ({} tools) → {} ({} tools): {} added, {} removed, {} changed",
            self.old_version,
            self.old_operations,
            self.new_version,
            self.new_operations,
            self.added.len(),
            self.removed.len(),
            self.changed.len()
        );
        let list = |out: &mut String, title: &str, tools: &[ToolSummary]| {
            if tools.is_empty() {
                return;
            }
            let _ = writeln!(out, "\n{title}:");
            for t in tools {
                let _ = writeln!(
                    out,
                    "  {:<52} {:<6} {} [{}]",
                    t.tool, t.method, t.path, t.risk
                );
            }
        };
        list(&mut out, "Added", &self.added);
        list(&mut out, "Removed", &self.removed);
        if !self.changed.is_empty() {
            let _ = writeln!(out, "\nChanged:");
            for c in &self.changed {
                let _ = writeln!(out, "  {} ({} {})", c.tool, c.method, c.path);
                for change in &c.changes {
                    let _ = writeln!(out, "    - {}", change.describe());
                }
            }
        }
        out
    }
}
