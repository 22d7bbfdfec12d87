//! Field validation in pfrest's order: conditions, required, list lengths, null → default,
//! strict types (no coercion), choices, lengths and ranges. The first error wins.

use crate::catalog::Catalog;
use crate::reply::{ApiError, ApiResult, display_value, php_interpolated, php_type};
use pfsense_spec::{ConditionTest, FieldCondition, ModelField};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub type Obj = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// POST / PUT item / action: absent fields take their defaults.
    Create,
    /// PATCH: the given fields are laid over the stored object.
    Update,
}

/// A field's default as pfrest applies it. The spec states only truthy defaults (pfrest's
/// `Field::to_openapi_property` writes `default` only `if ($this->default)`), so a field that is
/// neither nullable nor required and has no stated default defaults to the falsy value of its
/// type: `""` for free strings, `false` for booleans, `[]` for lists (pfrest's `allow_null`
/// rule: a non-required field needs a default or null). Conditional fields take the default
/// their description states.
pub fn default_of(field: &ModelField) -> Value {
    if let Some(v) = field.schema.get("default").or(field.default.as_ref()) {
        return v.clone();
    }
    if is_list(field) {
        return Value::Array(Vec::new());
    }
    if field.nullable || field.read_only {
        return Value::Null;
    }
    match field.schema.get("type").and_then(Value::as_str) {
        Some("string") if field.schema.get("enum").is_none() => Value::String(String::new()),
        Some("boolean") => Value::Bool(false),
        _ => Value::Null,
    }
}

pub fn is_list(field: &ModelField) -> bool {
    field.schema.get("type").and_then(Value::as_str) == Some("array")
}

/// Fill every model field missing from `obj` (seeds and status objects).
pub fn fill_missing(catalog: &Catalog, model: &str, obj: &mut Obj) {
    let Some(schema) = catalog.model(model) else {
        return;
    };
    for field in &schema.fields {
        if !obj.contains_key(&field.name) {
            obj.insert(field.name.clone(), default_of(field));
        }
    }
    // Children stored in list fields get their own defaults.
    for (child, nesting) in &catalog.nested {
        if nesting.parent_model == model
            && let Some(Value::Array(items)) = obj.get_mut(&nesting.field)
        {
            for item in items.iter_mut() {
                if let Value::Object(m) = item {
                    fill_missing(catalog, child, m);
                }
            }
        }
    }
}

/// Merge `input` into `base` (readOnly and unknown fields are ignored) and validate the result.
/// `parent` is the parent object for "Parent field" conditions.
pub fn merge_and_validate(
    catalog: &Catalog,
    model: &str,
    base: &Obj,
    input: &Obj,
    mode: Mode,
    parent: Option<&Obj>,
) -> ApiResult<Obj> {
    let Some(schema) = catalog.model(model) else {
        return Ok(input.clone());
    };
    let required: BTreeSet<String> = catalog
        .required_on_create
        .get(model)
        .cloned()
        .unwrap_or_default();
    let mut obj = base.clone();
    // The stored value as pfrest reads it: a time stamp config.xml lacks is the current second.
    let current = |name: &str| -> Value {
        match base.get(name) {
            Some(v) if !v.is_null() => v.clone(),
            _ if pfsense_spec::tables::TIMES_READ_AS_NOW.contains(&(model, name)) => {
                Value::from(crate::store::now_unix())
            }
            _ => Value::Null,
        }
    };
    let not_editable = |name: &str, v: &Value| {
        ApiError::bad(
            "FIELD_VALUE_CHANGED_WHEN_NOT_EDITABLE",
            format!(
                "Field `{name}` is not editable but the requested value `{}` differs from its current value `{}`.",
                php_interpolated(v),
                php_interpolated(&current(name))
            ),
        )
    };
    for field in &schema.fields {
        if field.read_only {
            // A read-only field of `NOT_EDITABLE` is still compared when sent, then ignored.
            if mode == Mode::Update
                && crate::rules::is_not_editable(catalog, model, &field.name)
                && let Some(v) = input.get(&field.name)
                && current(&field.name) != *v
            {
                return Err(not_editable(&field.name, v));
            }
            continue;
        }
        match input.get(&field.name) {
            Some(Value::Null) => {
                obj.insert(field.name.clone(), Value::Null);
            }
            Some(v) => {
                if mode == Mode::Update
                    && crate::rules::is_not_editable(catalog, model, &field.name)
                    && base.get(&field.name).is_some_and(|old| old != v)
                {
                    return Err(not_editable(&field.name, v));
                }
                obj.insert(field.name.clone(), v.clone());
            }
            None if mode == Mode::Create => {
                obj.insert(field.name.clone(), Value::Null);
            }
            None => {}
        }
    }
    for field in &schema.fields {
        if field.read_only {
            continue;
        }
        let name = field.name.as_str();
        if !conditions_met(&field.conditions, &obj, parent) {
            // Unmet condition: the field is nulled and its checks skipped.
            obj.insert(name.to_string(), Value::Null);
            continue;
        }
        let value = obj.get(name).cloned().unwrap_or(Value::Null);
        if value.is_null() {
            if required.contains(name) {
                return Err(ApiError::bad(
                    "FIELD_IS_REQUIRED",
                    format!("Field `{name}` is required."),
                ));
            }
            // Absent on create, explicit null, or a field that only now became available: the
            // default (pfrest's own, so not validated again).
            obj.insert(name.to_string(), default_of(field));
            continue;
        }
        // pfrest's `check_value_empty`: "" and [] are refused unless the field has
        // `allow_empty`. Only required fields are checked (the spec does not carry `allow_empty`;
        // the required ones that allow it are listed).
        if required.contains(name)
            && (value == "" || value.as_array().is_some_and(Vec::is_empty))
            && !crate::rules::REQUIRED_ALLOW_EMPTY.contains(&(model, name))
            // a list below its `many_minimum` fails the length check first
            && !(is_list(field) && min_items(field) > 0)
        {
            return Err(ApiError::bad(
                "FIELD_EMPTY_NOT_ALLOWED",
                format!("Field `{name}` cannot be empty."),
            ));
        }
        check_field(catalog, model, field, &value)?;
    }
    Ok(obj)
}

fn min_items(field: &ModelField) -> u64 {
    field
        .schema
        .get("minItems")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Whether every "only available when" condition holds.
pub fn conditions_met(conditions: &[FieldCondition], obj: &Obj, parent: Option<&Obj>) -> bool {
    conditions.iter().all(|c| {
        let source = if c.on_parent { parent } else { Some(obj) };
        let actual = source
            .and_then(|o| o.get(&c.field))
            .cloned()
            .unwrap_or(Value::Null);
        match &c.test {
            ConditionTest::Equals(v) => loose_eq(&actual, v),
            ConditionTest::NotEquals(v) => !loose_eq(&actual, v),
            ConditionTest::OneOf(vs) => vs.iter().any(|v| loose_eq(&actual, v)),
            ConditionTest::NotOneOf(vs) => !vs.iter().any(|v| loose_eq(&actual, v)),
        }
    })
}

/// PHP's loose `==` as far as conditions and filters need it.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, Value::Bool(false)) | (Value::Bool(false), Value::Null) => true,
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bool(x), other) | (other, Value::Bool(x)) => *x == truthy(other),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| loose_eq(a, b))
        }
        _ => a == b,
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn check_field(catalog: &Catalog, model: &str, field: &ModelField, value: &Value) -> ApiResult<()> {
    let name = field.name.as_str();
    if is_list(field) {
        let Value::Array(items) = value else {
            return Err(ApiError::bad(
                "FIELD_INVALID_MANY_VALUE",
                format!("Field `{name}` must be a list of values."),
            ));
        };
        // pfrest's LengthValidator on the list: `many_minimum`, and `many_maximum` where the
        // spec states one (0 or absent = no limit; the default is 128 before v2.7.7, 65535 after,
        // and the spec carries it).
        let min = min_items(field);
        let max = field
            .schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .filter(|&n| n > 0);
        if (items.len() as u64) < min {
            return Err(ApiError::bad(
                "LENGTH_VALIDATOR_MINIMUM_CONSTRAINT",
                format!("Field `{name}` must contain a minimum of {min} array entries."),
            ));
        }
        if let Some(max) = max
            && (items.len() as u64) > max
        {
            return Err(ApiError::bad(
                "LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT",
                format!("Field `{name}` exceeds the maximum array length of {max}."),
            ));
        }
        let item_schema = field.schema.get("items").cloned().unwrap_or(Value::Null);
        let child = catalog
            .nested
            .iter()
            .find(|(_, n)| n.parent_model == model && n.field == name)
            .map(|(c, _)| c.clone());
        for item in items {
            if let (Some(child), Value::Object(obj)) = (&child, item) {
                merge_and_validate(catalog, child, &Obj::new(), obj, Mode::Create, None).map_err(
                    |e| {
                        ApiError::bad(
                            &e.response_id,
                            format!(
                                "Field `{name}` encountered a nested validation error: {}",
                                e.message
                            ),
                        )
                    },
                )?;
                continue;
            }
            check_scalar(name, &item_schema, item)?;
        }
        return Ok(());
    }
    check_scalar(name, &field.schema, value)
}

/// Type, choices, lengths and ranges of one value against a JSON Schema.
pub fn check_scalar(name: &str, schema: &Value, value: &Value) -> ApiResult<()> {
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object() || value.as_array().is_some_and(Vec::is_empty),
            "array" => value.is_array(),
            _ => true,
        };
        if !ok {
            let expected = match ty {
                "number" => "double",
                "object" => "array",
                other => other,
            };
            return Err(ApiError::bad(
                "FIELD_INVALID_TYPE",
                format!(
                    "Field `{name}` must be of type `{expected}`, received `{}`.",
                    php_type(value)
                ),
            ));
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.iter().any(|c| c == value)
    {
        let list: Vec<String> = choices.iter().map(display_value).collect();
        return Err(ApiError::bad(
            "FIELD_INVALID_CHOICE",
            format!(
                "Field `{name}` must be one of [{}], received `{}`.",
                list.join(", "),
                display_value(value)
            ),
        ));
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return Err(ApiError::bad(
                "LENGTH_VALIDATOR_MINIMUM_CONSTRAINT",
                format!("Field `{name}` must be at least {min} characters long."),
            ));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return Err(ApiError::bad(
                "LENGTH_VALIDATOR_MAXIMUM_CONSTRAINT",
                format!("Field `{name}` exceeds the maximum character length of {max}."),
            ));
        }
    }
    if let Some(n) = value.as_f64().filter(|_| value.is_number()) {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(ApiError::bad(
                "NUMERIC_RANGE_VALIDATOR_MINIMUM_CONSTRAINT",
                format!("Field `{name}` must be greater than or equal to {min}."),
            ));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(ApiError::bad(
                "NUMERIC_RANGE_VALIDATOR_MAXIMUM_CONSTRAINT",
                format!("Field `{name}` must be less than or equal to {max}."),
            ));
        }
    }
    Ok(())
}
