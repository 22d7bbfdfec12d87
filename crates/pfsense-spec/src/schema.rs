//! OpenAPI schemas → sanitised JSON Schema for tool inputs.
//!
//! Resolves `$ref`, merges `allOf`, turns `oneOf`/`anyOf` into `anyOf`, drops `nullable` (tool
//! arguments are omitted rather than sent as null), leaves out readOnly fields, integers of
//! magnitude ≥ 2^53 and `maxItems: 0` (pfrest's "no limit"), and states field conditions in the
//! description instead of making conditional fields required.

use crate::model::{ArgType, FieldCondition};
use crate::text::{describe_conditions, split_conditions};
use indexmap::IndexMap;
use openapiv3::{
    AdditionalProperties, Components, ReferenceOr, Schema, SchemaKind, StringFormat, Type,
    VariantOrUnknownOrEmpty,
};
use serde_json::{Map, Value, json};

/// Largest integer JSON Schema consumers represent exactly (2^53).
pub const MAX_SAFE_INTEGER: i64 = 1 << 53;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("unresolvable reference `{0}`")]
    BadRef(String),
    #[error("reference cycle through `{0}`")]
    Cycle(String),
}

/// A merged object: the flat view of an `allOf` of objects.
#[derive(Debug, Default, Clone)]
pub struct MergedObject {
    pub properties: IndexMap<String, Schema>,
    pub required: Vec<String>,
}

/// How a schema is being converted.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Keep `default` values (not for PATCH: omitting a field there keeps its current value).
    pub keep_defaults: bool,
}

/// One converted property with the facts the classifier needs.
#[derive(Debug, Clone)]
pub struct ConvertedField {
    pub schema: Value,
    pub conditions: Vec<FieldCondition>,
    pub ty: ArgType,
    pub read_only: bool,
}

pub struct Resolver<'a> {
    components: Option<&'a Components>,
}

impl<'a> Resolver<'a> {
    pub fn new(components: Option<&'a Components>) -> Self {
        Resolver { components }
    }

    pub fn resolve<'s>(&'s self, r: &'s ReferenceOr<Schema>) -> Result<&'s Schema, SchemaError> {
        self.resolve_depth(r, 0)
    }

    fn resolve_depth<'s>(
        &'s self,
        r: &'s ReferenceOr<Schema>,
        depth: usize,
    ) -> Result<&'s Schema, SchemaError> {
        match r {
            ReferenceOr::Item(s) => Ok(s),
            ReferenceOr::Reference { reference } => {
                if depth > 32 {
                    return Err(SchemaError::Cycle(reference.clone()));
                }
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .ok_or_else(|| SchemaError::BadRef(reference.clone()))?;
                let target = self
                    .components
                    .and_then(|c| c.schemas.get(name))
                    .ok_or_else(|| SchemaError::BadRef(reference.clone()))?;
                self.resolve_depth(target, depth + 1)
            }
        }
    }

    pub fn resolve_boxed<'s>(
        &'s self,
        r: &'s ReferenceOr<Box<Schema>>,
    ) -> Result<&'s Schema, SchemaError> {
        match r {
            ReferenceOr::Item(s) => Ok(s),
            ReferenceOr::Reference { reference } => self.resolve(
                // Same lookup as an unboxed reference.
                self.components
                    .and_then(|c| {
                        c.schemas
                            .get(reference.trim_start_matches("#/components/schemas/"))
                    })
                    .ok_or_else(|| SchemaError::BadRef(reference.clone()))?,
            ),
        }
    }

    /// Flatten an object schema or an `allOf` of object schemas (recursively).
    pub fn merge_object(&self, schema: &Schema) -> Result<MergedObject, SchemaError> {
        let mut out = MergedObject::default();
        self.merge_into(schema, &mut out, 0)?;
        Ok(out)
    }

    fn merge_into(
        &self,
        schema: &Schema,
        out: &mut MergedObject,
        depth: usize,
    ) -> Result<(), SchemaError> {
        if depth > 32 {
            return Err(SchemaError::Cycle("allOf".into()));
        }
        match &schema.schema_kind {
            SchemaKind::AllOf { all_of } => {
                for part in all_of {
                    let part = self.resolve(part)?;
                    self.merge_into(part, out, depth + 1)?;
                }
            }
            SchemaKind::Type(Type::Object(obj)) => {
                for (name, prop) in &obj.properties {
                    let prop = self.resolve_boxed(prop)?.clone();
                    // A later part refines an earlier one (e.g. `id` typed by the wrapper).
                    out.properties.insert(name.clone(), prop);
                }
                for r in &obj.required {
                    if !out.required.contains(r) {
                        out.required.push(r.clone());
                    }
                }
            }
            SchemaKind::Any(any) => {
                for (name, prop) in &any.properties {
                    let prop = self.resolve_boxed(prop)?.clone();
                    out.properties.insert(name.clone(), prop);
                }
                for r in &any.required {
                    if !out.required.contains(r) {
                        out.required.push(r.clone());
                    }
                }
                for part in &any.all_of {
                    let part = self.resolve(part)?;
                    self.merge_into(part, out, depth + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Convert one property schema to JSON Schema.
    pub fn convert_field(
        &self,
        schema: &Schema,
        mode: Mode,
    ) -> Result<ConvertedField, SchemaError> {
        self.convert_field_at(schema, mode, 0)
    }

    fn convert_field_inner(
        &self,
        schema: &Schema,
        mode: Mode,
        depth: usize,
    ) -> Result<ConvertedField, SchemaError> {
        let (text, conditions) =
            split_conditions(schema.schema_data.description.as_deref().unwrap_or(""));
        let mut out = self.convert(schema, mode, depth)?;
        let ty = arg_type(&out);
        if let Value::Object(map) = &mut out {
            let mut description = text;
            let cond_text = describe_conditions(&conditions);
            if !cond_text.is_empty() {
                if !description.is_empty() {
                    if !description.ends_with(['.', '!', '?', ':']) {
                        description.push('.');
                    }
                    description.push(' ');
                }
                description.push_str(&cond_text);
                // A default that only holds when another field has some value misleads more
                // than it helps.
                map.remove("default");
            }
            if !description.is_empty() {
                map.insert("description".into(), Value::String(description));
            }
            order_keys(map);
        }
        Ok(ConvertedField {
            schema: out,
            conditions,
            ty,
            read_only: schema.schema_data.read_only,
        })
    }

    /// Convert a schema (any position) to JSON Schema, without its description.
    pub fn convert(&self, schema: &Schema, mode: Mode, depth: usize) -> Result<Value, SchemaError> {
        if depth > 16 {
            return Ok(json!({"type": "object"}));
        }
        let mut out = Map::new();
        match &schema.schema_kind {
            SchemaKind::Type(Type::String(s)) => {
                out.insert("type".into(), "string".into());
                let values: Vec<Value> = s
                    .enumeration
                    .iter()
                    .flatten()
                    .map(|v| Value::String(v.clone()))
                    .collect();
                if !values.is_empty() {
                    out.insert("enum".into(), Value::Array(values));
                } else {
                    if let Some(min) = s.min_length.filter(|m| *m > 0) {
                        out.insert("minLength".into(), min.into());
                    }
                    // pfrest checks every limit, its default 1024 included (LengthValidator):
                    // the full schema keeps them all so arguments are checked before they are
                    // sent; the listed form leaves out the default (`lean`).
                    if let Some(max) = s
                        .max_length
                        .filter(|m| (*m as u64) < MAX_SAFE_INTEGER as u64)
                    {
                        out.insert("maxLength".into(), max.into());
                    }
                    if let Some(p) = &s.pattern {
                        out.insert("pattern".into(), p.clone().into());
                    }
                    if let VariantOrUnknownOrEmpty::Item(
                        StringFormat::Date | StringFormat::DateTime,
                    ) = &s.format
                    {
                        // Leave formats out: validators disagree about them and pfrest checks anyway.
                    }
                }
            }
            SchemaKind::Type(Type::Integer(i)) => {
                out.insert("type".into(), "integer".into());
                let values: Vec<Value> = i
                    .enumeration
                    .iter()
                    .flatten()
                    .map(|v| Value::from(*v))
                    .collect();
                if !values.is_empty() {
                    out.insert("enum".into(), Value::Array(values));
                }
                if let Some(min) = i.minimum.filter(|m| m.abs() < MAX_SAFE_INTEGER) {
                    out.insert("minimum".into(), min.into());
                }
                if let Some(max) = i.maximum.filter(|m| m.abs() < MAX_SAFE_INTEGER) {
                    out.insert("maximum".into(), max.into());
                }
            }
            SchemaKind::Type(Type::Number(n)) => {
                out.insert("type".into(), "number".into());
                let safe = |x: &f64| x.abs() < MAX_SAFE_INTEGER as f64;
                if let Some(min) = n.minimum.filter(safe) {
                    out.insert("minimum".into(), number(min));
                }
                if let Some(max) = n.maximum.filter(safe) {
                    out.insert("maximum".into(), number(max));
                }
            }
            SchemaKind::Type(Type::Boolean(_)) => {
                out.insert("type".into(), "boolean".into());
            }
            SchemaKind::Type(Type::Array(a)) => {
                out.insert("type".into(), "array".into());
                let items = match &a.items {
                    Some(items) => {
                        let items = self.resolve_boxed(items)?;
                        self.convert_nested(items, mode, depth + 1)?
                    }
                    None => json!({"type": "string"}),
                };
                out.insert("items".into(), items);
                if let Some(min) = a.min_items.filter(|m| *m > 0) {
                    out.insert("minItems".into(), min.into());
                }
                // pfrest writes `maxItems: 0` for "no limit".
                if let Some(max) = a
                    .max_items
                    .filter(|m| *m > 0 && (*m as u64) < MAX_SAFE_INTEGER as u64)
                {
                    out.insert("maxItems".into(), max.into());
                }
            }
            SchemaKind::Type(Type::Object(_)) | SchemaKind::AllOf { .. } => {
                return self.convert_object(schema, mode, depth);
            }
            SchemaKind::OneOf { one_of: branches } | SchemaKind::AnyOf { any_of: branches } => {
                let mut alts = Vec::new();
                for b in branches {
                    let b = self.resolve(b)?;
                    let v = self.convert(b, mode, depth + 1)?;
                    if !alts.contains(&v) {
                        alts.push(v);
                    }
                }
                if alts.len() == 1 {
                    return Ok(alts.pop().expect("one element"));
                }
                out.insert("anyOf".into(), Value::Array(alts));
            }
            SchemaKind::Not { .. } => {
                out.insert("type".into(), "object".into());
            }
            SchemaKind::Any(any) => {
                if !any.properties.is_empty() || !any.all_of.is_empty() {
                    return self.convert_object(schema, mode, depth);
                }
                let t = any.typ.clone().unwrap_or_else(|| "string".into());
                out.insert("type".into(), t.into());
                let values: Vec<Value> = any
                    .enumeration
                    .iter()
                    .filter(|v| !v.is_null())
                    .cloned()
                    .collect();
                if !values.is_empty() {
                    out.insert("enum".into(), Value::Array(values));
                }
            }
        }
        if mode.keep_defaults
            && let Some(d) = &schema.schema_data.default
            && !d.is_null()
            && default_fits(d, &out)
        {
            out.insert("default".into(), d.clone());
        }
        Ok(Value::Object(out))
    }

    /// An item of an array: objects keep their full schema and property descriptions.
    fn convert_nested(
        &self,
        schema: &Schema,
        mode: Mode,
        depth: usize,
    ) -> Result<Value, SchemaError> {
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(_)) | SchemaKind::AllOf { .. } => {
                self.convert_object(schema, mode, depth)
            }
            _ => self.convert(schema, mode, depth),
        }
    }

    fn convert_object(
        &self,
        schema: &Schema,
        mode: Mode,
        depth: usize,
    ) -> Result<Value, SchemaError> {
        let merged = self.merge_object(schema)?;
        let mut props = Map::new();
        let mut conditional = Vec::new();
        for (name, prop) in &merged.properties {
            if prop.schema_data.read_only {
                continue;
            }
            let field = self.convert_field_at(prop, mode, depth + 1)?;
            if !field.conditions.is_empty() {
                conditional.push(name.clone());
            }
            props.insert(name.clone(), field.schema);
        }
        let mut out = Map::new();
        out.insert("type".into(), "object".into());
        if !props.is_empty() {
            let required: Vec<Value> = merged
                .required
                .iter()
                .filter(|r| props.contains_key(*r) && !conditional.contains(r))
                .map(|r| Value::String(r.clone()))
                .collect();
            out.insert("properties".into(), Value::Object(props));
            if !required.is_empty() {
                out.insert("required".into(), Value::Array(required));
            }
        } else if let SchemaKind::Type(Type::Object(obj)) = &schema.schema_kind
            && let Some(AdditionalProperties::Schema(extra)) = &obj.additional_properties
        {
            let extra = self.resolve(extra)?;
            out.insert(
                "additionalProperties".into(),
                self.convert(extra, mode, depth + 1)?,
            );
        }
        Ok(Value::Object(out))
    }

    fn convert_field_at(
        &self,
        schema: &Schema,
        mode: Mode,
        depth: usize,
    ) -> Result<ConvertedField, SchemaError> {
        if depth > 16 {
            return Ok(ConvertedField {
                schema: json!({"type": "object"}),
                conditions: vec![],
                ty: ArgType::Json,
                read_only: false,
            });
        }
        self.convert_field_inner(schema, mode, depth)
    }
}

fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < MAX_SAFE_INTEGER as f64 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

/// Whether a spec default is a valid instance of the converted schema (pfrest sometimes gives
/// a string list a string default, or an enum a default outside its choices).
fn default_fits(d: &Value, schema: &Map<String, Value>) -> bool {
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        Some("string") => d.is_string(),
        Some("integer") => d.is_i64() || d.is_u64(),
        Some("number") => d.is_number(),
        Some("boolean") => d.is_boolean(),
        Some("array") => d.is_array(),
        Some("object") => d.is_object(),
        _ => false,
    };
    let enum_ok = match schema.get("enum").and_then(Value::as_array) {
        Some(choices) => choices.contains(d),
        None => true,
    };
    let items_ok = match (
        d.as_array(),
        schema
            .get("items")
            .and_then(|i| i.get("enum"))
            .and_then(Value::as_array),
    ) {
        (Some(values), Some(choices)) => values.iter().all(|v| choices.contains(v)),
        _ => true,
    };
    type_ok && enum_ok && items_ok
}

/// Rust-facing type of a converted schema.
pub fn arg_type(schema: &Value) -> ArgType {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => ArgType::String,
        Some("integer") => ArgType::Integer,
        Some("number") => ArgType::Number,
        Some("boolean") => ArgType::Boolean,
        Some("array") => match schema
            .get("items")
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
        {
            Some("string") => ArgType::StringList,
            Some("integer") => ArgType::IntegerList,
            _ => ArgType::Json,
        },
        _ => ArgType::Json,
    }
}

/// A field's schema without its `null` branch: the schema of the values it takes besides
/// `null` (an update's reset, written `anyOf: [schema, {"type": "null"}]`), else itself.
pub fn non_null(schema: &Value) -> &Value {
    match schema
        .get("anyOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([value, null]) if null.get("type") == Some(&json!("null")) => value,
        _ => schema,
    }
}

/// A field's schema that also takes `null` (an update's reset to the default):
/// `anyOf: [schema, {"type": "null"}]` (one `type` per branch, which every client's schema
/// dialect reads), with the description outside saying what `null` does.
pub fn allow_null(field: &mut Map<String, Value>) {
    let said = "`null` resets it to its default.";
    let description = match field.remove("description") {
        Some(Value::String(d)) if d.contains("`null`") => d,
        Some(Value::String(d)) => format!("{d} {said}"),
        _ => said.to_string(),
    };
    let values = std::mem::take(field);
    field.insert(
        "anyOf".into(),
        json!([Value::Object(values), {"type": "null"}]),
    );
    field.insert("description".into(), Value::String(description));
}

/// Put `type` and `description` first so schemas read well.
fn order_keys(map: &mut Map<String, Value>) {
    let mut ordered = Map::new();
    for k in ["type", "description"] {
        if let Some(v) = map.remove(k) {
            ordered.insert(k.into(), v);
        }
    }
    ordered.append(map);
    *map = ordered;
}

/// The component a list's items (or an object) refer to: `items: {$ref}` or
/// `items: {allOf: [{$ref}, …]}`.
pub fn item_model(schema: &Schema) -> Option<String> {
    fn ref_name(r: &ReferenceOr<Schema>) -> Option<String> {
        match r {
            ReferenceOr::Reference { reference } => reference
                .strip_prefix("#/components/schemas/")
                .map(str::to_string),
            ReferenceOr::Item(s) => match &s.schema_kind {
                SchemaKind::AllOf { all_of } => all_of.iter().find_map(ref_name),
                _ => None,
            },
        }
    }
    match &schema.schema_kind {
        SchemaKind::Type(Type::Array(a)) => match a.items.as_ref()? {
            ReferenceOr::Reference { reference } => reference
                .strip_prefix("#/components/schemas/")
                .map(str::to_string),
            ReferenceOr::Item(s) => match &s.schema_kind {
                SchemaKind::AllOf { all_of } => all_of.iter().find_map(ref_name),
                _ => None,
            },
        },
        SchemaKind::AllOf { all_of } => all_of.iter().find_map(ref_name),
        _ => None,
    }
}
