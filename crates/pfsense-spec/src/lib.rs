//! Load the pfSense REST API OpenAPI spec and classify every operation.
//!
//! This is a plain library: the `pfsense_tools!` macro calls it while the product compiles, and
//! the emulator and xtask call it at run time. It owns every decision about names, kinds, risk,
//! apply subsystems, modules and input schemas, so that all of them agree.

pub mod diff;
pub mod lean;
pub mod model;
pub mod naming;
pub mod php_sort;
pub mod schema;
pub mod tables;
pub mod text;

pub use model::*;

use indexmap::IndexMap;
use openapiv3::{OpenAPI, Parameter, ParameterSchemaOrContent, PathItem, ReferenceOr};
use schema::{Mode, Resolver, SchemaError};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Prefix every REST API v2 path starts with.
pub const API_PREFIX: &str = "/api/v2/";

/// Why a spec could not be used. Every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the OpenAPI spec at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the OpenAPI spec is not valid JSON for OpenAPI 3.0 (line {line}, column {column}): {message}"
    )]
    Parse {
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "the spec declares OpenAPI {0}; only OpenAPI 3.0.x specs (pfSense REST API v2) are supported"
    )]
    UnsupportedVersion(String),
    #[error("the spec has no operations under {API_PREFIX}: is this the pfSense REST API v2 spec?")]
    NoOperations,
    #[error("operation {method} {path} has no operationId")]
    MissingOperationId { method: Method, path: String },
    #[error("operation {operation} ({method} {path}): {source}")]
    Schema {
        operation: String,
        method: Method,
        path: String,
        source: SchemaError,
    },
    #[error(
        "operations {first} and {second} would both become the tool `{name}`; tool names must be unique"
    )]
    NameCollision {
        name: String,
        first: String,
        second: String,
    },
    #[error(
        "operation {operation} yields the tool name `{name}`, which breaks the naming rules (^pfsense_[a-z0-9_]+$, at most {max} characters after the abbreviations of `naming::ABBREVIATIONS`): add an abbreviation there",
        max = naming::MAX_TOOL_NAME_LEN
    )]
    InvalidName { name: String, operation: String },
    #[error("operation {operation} ({method} {path}): argument `{argument}` is defined twice")]
    DuplicateArgument {
        operation: String,
        method: Method,
        path: String,
        argument: String,
    },
}

impl SpecError {
    /// The operationId the error is about, when there is one.
    pub fn operation(&self) -> Option<&str> {
        match self {
            SpecError::Schema { operation, .. }
            | SpecError::InvalidName { operation, .. }
            | SpecError::DuplicateArgument { operation, .. } => Some(operation),
            SpecError::NameCollision { second, .. } => Some(second),
            _ => None,
        }
    }
}

/// A loaded and classified spec.
#[derive(Debug, Clone)]
pub struct Spec {
    pub title: String,
    /// `info.version`, e.g. `v2.7.1`.
    pub api_version: String,
    pub stats: SpecStats,
    /// Every operation, sorted by tool name.
    pub operations: Vec<Operation>,
    /// Every component schema as a model with all its fields, by name.
    pub models: std::collections::BTreeMap<String, ModelSchema>,
    /// Things classification had to guess (e.g. a path no module prefix covers). Empty for
    /// the v2.7.1 spec; a newer spec may add some.
    pub warnings: Vec<String>,
}

impl Spec {
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Spec::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<Spec, SpecError> {
        let api: OpenAPI = serde_json::from_str(text).map_err(|e| SpecError::Parse {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Spec::from_openapi(&api)
    }

    pub fn from_openapi(api: &OpenAPI) -> Result<Spec, SpecError> {
        if !api.openapi.starts_with("3.0") {
            return Err(SpecError::UnsupportedVersion(api.openapi.clone()));
        }
        Classifier::new(api).run()
    }

    pub fn operation(&self, tool_name: &str) -> Option<&Operation> {
        self.operations
            .binary_search_by(|o| o.tool_name.as_str().cmp(tool_name))
            .ok()
            .map(|i| &self.operations[i])
    }

    pub fn find(&self, method: Method, path: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.method == method && o.path == path)
    }
}

fn path_item_ops(item: &PathItem) -> Vec<(Method, &openapiv3::Operation)> {
    let mut v = Vec::new();
    for (m, op) in [
        (Method::Get, &item.get),
        (Method::Post, &item.post),
        (Method::Put, &item.put),
        (Method::Patch, &item.patch),
        (Method::Delete, &item.delete),
    ] {
        if let Some(op) = op {
            v.push((m, op));
        }
    }
    v
}

struct RawOp<'a> {
    method: Method,
    path: String,
    op: &'a openapiv3::Operation,
    meta: text::OperationMeta,
}

struct Classifier<'a> {
    api: &'a OpenAPI,
    resolver: Resolver<'a>,
    warnings: Vec<String>,
}

impl<'a> Classifier<'a> {
    fn new(api: &'a OpenAPI) -> Self {
        Classifier {
            api,
            resolver: Resolver::new(api.components.as_ref()),
            warnings: Vec::new(),
        }
    }

    fn param_names(op: &openapiv3::Operation) -> Vec<String> {
        op.parameters
            .iter()
            .filter_map(|p| match p {
                ReferenceOr::Item(p) => Some(p.parameter_data_ref().name.clone()),
                ReferenceOr::Reference { .. } => None,
            })
            .collect()
    }

    fn path_kind(path: &str, ops: &[RawOp]) -> PathKind {
        let all_plural = ops
            .iter()
            .all(|o| o.meta.endpoint_type.as_deref() == Some("Plural"));
        if all_plural {
            return PathKind::Plural;
        }
        if ops
            .iter()
            .any(|o| Self::param_names(o.op).iter().any(|n| n == "id"))
        {
            return PathKind::Item;
        }
        let has = |m: Method| ops.iter().any(|o| o.method == m);
        if path.ends_with("/apply") && has(Method::Post) {
            return PathKind::Apply;
        }
        if has(Method::Post) && !has(Method::Get) && !has(Method::Patch) {
            return PathKind::Action;
        }
        if has(Method::Get) && ops.len() == 1 {
            return PathKind::ReadOnly;
        }
        if has(Method::Patch) && !has(Method::Get) {
            return PathKind::WriteOnly;
        }
        PathKind::Settings
    }

    fn verb(kind: PathKind, method: Method) -> Verb {
        match (kind, method) {
            (PathKind::Plural, Method::Get) => Verb::List,
            (PathKind::Apply, Method::Get) => Verb::ApplyStatus,
            (PathKind::Apply, Method::Post) => Verb::Apply,
            (_, Method::Get) => Verb::Get,
            (PathKind::Item | PathKind::Plural, Method::Post) => Verb::Create,
            (_, Method::Post) => Verb::Action,
            (_, Method::Patch) => Verb::Update,
            (_, Method::Put) => Verb::Replace,
            (_, Method::Delete) => Verb::Delete,
        }
    }

    fn run(mut self) -> Result<Spec, SpecError> {
        // 1. Gather operations with their metadata, grouped by path.
        let mut by_path: IndexMap<String, Vec<RawOp>> = IndexMap::new();
        for (path, item) in &self.api.paths.paths {
            let ReferenceOr::Item(item) = item else {
                continue;
            };
            if !path.starts_with(API_PREFIX) {
                continue;
            }
            for (method, op) in path_item_ops(item) {
                let meta = text::parse_operation_meta(op.description.as_deref().unwrap_or(""));
                by_path.entry(path.clone()).or_default().push(RawOp {
                    method,
                    path: path.clone(),
                    op,
                    meta,
                });
            }
        }
        if by_path.is_empty() {
            return Err(SpecError::NoOperations);
        }

        // 2. Apply endpoints and their subsystems.
        let mut apply_targets: Vec<(String, ApplyTarget)> = Vec::new();
        for (path, ops) in &by_path {
            if Self::path_kind(path, ops) != PathKind::Apply {
                continue;
            }
            let Some(post) = ops.iter().find(|o| o.method == Method::Post) else {
                continue;
            };
            let op_id =
                post.op
                    .operation_id
                    .clone()
                    .ok_or_else(|| SpecError::MissingOperationId {
                        method: Method::Post,
                        path: path.clone(),
                    })?;
            let noun = naming::operation_noun(&op_id);
            let snake = naming::snake(noun);
            let subsystem = snake.strip_suffix("_apply").unwrap_or(&snake).to_string();
            let prefix = path[API_PREFIX.len()..]
                .strip_suffix("/apply")
                .unwrap_or(&path[API_PREFIX.len()..])
                .to_string();
            apply_targets.push((
                prefix,
                ApplyTarget {
                    apply_tool: naming::tool_name(noun, Verb::Apply),
                    status_tool: naming::tool_name(noun, Verb::ApplyStatus),
                    subsystem,
                    path: path.clone(),
                },
            ));
        }

        // 3. Classify every operation.
        let mut operations = Vec::new();
        let mut paths = 0;
        for (path, ops) in &by_path {
            paths += 1;
            let kind = Self::path_kind(path, ops);
            for raw in ops {
                operations.push(self.classify(raw, kind, &apply_targets)?);
            }
        }

        // 4. Names must be unique.
        operations.sort_by(|a, b| a.tool_name.cmp(&b.tool_name));
        for pair in operations.windows(2) {
            if pair[0].tool_name == pair[1].tool_name {
                return Err(SpecError::NameCollision {
                    name: pair[0].tool_name.clone(),
                    first: pair[0].operation_id.clone(),
                    second: pair[1].operation_id.clone(),
                });
            }
        }

        let models = self.models()?;
        let create_tools: HashMap<String, String> = lean::create_tools(&operations)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let create_refs: HashMap<&str, &str> = create_tools
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let listed: Vec<Value> = operations
            .iter()
            .map(|op| lean::listed_schema(op, &models, &create_refs))
            .collect();
        for (op, schema) in operations.iter_mut().zip(listed) {
            op.listed_schema = schema;
        }

        let schemas = self
            .api
            .components
            .as_ref()
            .map(|c| c.schemas.len())
            .unwrap_or(0);
        Ok(Spec {
            title: self.api.info.title.clone(),
            api_version: self.api.info.version.clone(),
            stats: SpecStats {
                paths,
                schemas,
                operations: operations.len(),
            },
            operations,
            models,
            warnings: self.warnings,
        })
    }

    fn classify(
        &mut self,
        raw: &RawOp,
        kind: PathKind,
        apply_targets: &[(String, ApplyTarget)],
    ) -> Result<Operation, SpecError> {
        let operation_id =
            raw.op
                .operation_id
                .clone()
                .ok_or_else(|| SpecError::MissingOperationId {
                    method: raw.method,
                    path: raw.path.clone(),
                })?;
        let rel = &raw.path[API_PREFIX.len()..];
        let verb = Self::verb(kind, raw.method);
        let tool_name = naming::tool_name(naming::operation_noun(&operation_id), verb);
        if !naming::is_valid_tool_name(&tool_name) {
            return Err(SpecError::InvalidName {
                name: tool_name,
                operation: operation_id,
            });
        }
        let module = tables::module_for(rel).unwrap_or_else(|| {
            self.warnings.push(format!(
                "{} {}: no module prefix covers this path; filed under `system`",
                raw.method, raw.path
            ));
            Module::System
        });
        let danger = tables::danger_for(raw.method, rel).map(str::to_string);
        let action_risk = tables::action_risk(raw.method, rel);
        if verb == Verb::Action && danger.is_none() && action_risk.is_none() {
            self.warnings.push(format!(
                "{} {}: action endpoint not reviewed in tables::ACTION_RISKS; treated as a write",
                raw.method, raw.path
            ));
        }
        let risk = if danger.is_some() {
            Risk::Dangerous
        } else if let Some((risk, _)) = action_risk.filter(|_| verb == Verb::Action) {
            risk
        } else {
            match verb {
                Verb::Get | Verb::List | Verb::ApplyStatus => Risk::Read,
                Verb::Create | Verb::Update | Verb::Action | Verb::Apply => Risk::Write,
                Verb::Replace | Verb::Delete => Risk::Destructive,
            }
        };
        let applies_immediately = match raw.meta.applies_immediately.as_deref() {
            Some("Yes") => Some(true),
            Some("No") => Some(false),
            _ => None,
        };
        let apply = if raw.method != Method::Get
            && applies_immediately == Some(false)
            && !matches!(verb, Verb::Apply | Verb::ApplyStatus)
        {
            apply_targets
                .iter()
                .filter(|(prefix, _)| tables::prefix_matches(prefix, rel))
                .max_by_key(|(prefix, _)| prefix.len())
                .map(|(_, t)| t.clone())
        } else {
            None
        };
        let binary_response = raw
            .op
            .responses
            .responses
            .get(&openapiv3::StatusCode::Code(200))
            .and_then(|r| match r {
                ReferenceOr::Item(r) => Some(r.content.contains_key("application/octet-stream")),
                ReferenceOr::Reference { .. } => None,
            })
            .unwrap_or(false);
        let model = raw.meta.model.clone().unwrap_or_default();
        let parent_model = raw.meta.parent_model.clone();
        let basic_auth_only = raw.meta.auth_modes == ["BasicAuth"];

        let mut op = Operation {
            operation_id,
            tool_name,
            method: raw.method,
            path: raw.path.clone(),
            path_kind: kind,
            verb,
            model,
            parent_model,
            module,
            risk,
            danger,
            applies_immediately,
            apply,
            required_packages: raw.meta.required_packages.clone(),
            basic_auth_only,
            binary_response,
            enveloped: !tables::UNENVELOPED_PATHS.contains(&rel),
            summary: text::first_sentence(&raw.meta.description),
            description: String::new(),
            input_schema: Value::Null,
            listed_schema: Value::Null,
            args: Vec::new(),
        };
        self.build_input(raw, &mut op).map_err(|e| match e {
            BuildError::Schema(source) => SpecError::Schema {
                operation: op.operation_id.clone(),
                method: op.method,
                path: op.path.clone(),
                source,
            },
            BuildError::Duplicate(argument) => SpecError::DuplicateArgument {
                operation: op.operation_id.clone(),
                method: op.method,
                path: op.path.clone(),
                argument,
            },
        })?;
        op.description = describe_tool(&op);
        Ok(op)
    }

    fn build_input(&self, raw: &RawOp, op: &mut Operation) -> Result<(), BuildError> {
        let mut props = Map::new();
        let mut required = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        // Fields the spec marks secret although their name does not say so.
        let mut spec_secrets: Vec<String> = Vec::new();
        let mut required_when_available: Vec<String> = Vec::new();
        // Optional fields an update may set to `null`, which pfrest reads as "back to the
        // default" (the spec: `nullable`, "Set to `null` to use default"): clearing a rule's
        // gateway, schedule or port takes it.
        let mut resettable: Vec<String> = Vec::new();
        let mode = Mode {
            keep_defaults: op.method != Method::Patch,
        };
        let mut push = |name: &str,
                        schema: Value,
                        is_required: bool,
                        role: ArgRole,
                        conditions: Vec<FieldCondition>,
                        props: &mut Map<String, Value>,
                        required: &mut Vec<Value>|
         -> Result<(), BuildError> {
            if props.contains_key(name) {
                return Err(BuildError::Duplicate(name.to_string()));
            }
            let ty = schema::arg_type(&schema);
            props.insert(name.to_string(), schema);
            if is_required {
                required.push(Value::String(name.to_string()));
            }
            args.push(Arg {
                name: name.to_string(),
                required: is_required,
                role,
                ty,
                conditions,
                required_when_available: false,
                resettable: false,
                sensitive: role == ArgRole::Field && tables::is_sensitive_field(name),
            });
            Ok(())
        };

        // Query parameters (GET and DELETE).
        for p in &raw.op.parameters {
            let ReferenceOr::Item(Parameter::Query { parameter_data, .. }) = p else {
                continue;
            };
            let name = parameter_data.name.as_str();
            let description = parameter_data
                .description
                .as_deref()
                .map(text::clean_html)
                .unwrap_or_default();
            if name == "query" {
                let schema = filters_schema(op.method);
                push(
                    name,
                    schema,
                    false,
                    ArgRole::Filters,
                    vec![],
                    &mut props,
                    &mut required,
                )?;
                continue;
            }
            let mut schema = if let Some(id_schema) = self.id_schema(name, op) {
                id_schema
            } else {
                let ParameterSchemaOrContent::Schema(s) = &parameter_data.format else {
                    continue;
                };
                let s = self.resolver.resolve(s).map_err(BuildError::Schema)?;
                self.resolver
                    .convert(s, mode, 0)
                    .map_err(BuildError::Schema)?
            };
            if let Value::Object(m) = &mut schema {
                if tables::NON_NEGATIVE_PARAMETERS.contains(&name)
                    && m.get("type") == Some(&Value::from("integer"))
                {
                    m.entry("minimum").or_insert(Value::from(0));
                }
                if !description.is_empty() {
                    m.insert("description".into(), Value::String(description));
                }
                reorder(m);
            }
            push(
                name,
                schema,
                parameter_data.required,
                ArgRole::Field,
                vec![],
                &mut props,
                &mut required,
            )?;
        }

        // JSON body (POST, PATCH, PUT).
        if let Some(ReferenceOr::Item(body)) = &raw.op.request_body
            && let Some(media) = body.content.get("application/json")
            && let Some(schema_ref) = &media.schema
        {
            let schema = self
                .resolver
                .resolve(schema_ref)
                .map_err(BuildError::Schema)?;
            if let openapiv3::SchemaKind::Type(openapiv3::Type::Array(arr)) = &schema.schema_kind {
                let items = match &arr.items {
                    Some(items) => {
                        let items = self
                            .resolver
                            .resolve_boxed(items)
                            .map_err(BuildError::Schema)?;
                        self.resolver
                            .convert(items, mode, 1)
                            .map_err(BuildError::Schema)?
                    }
                    None => json!({"type": "object"}),
                };
                let schema = json!({
                    "type": "array",
                    "description": "The complete new list. Objects that exist now and are not in it are deleted; ids are reassigned from 0.",
                    "items": items,
                });
                push(
                    "objects",
                    schema,
                    true,
                    ArgRole::ListBody,
                    vec![],
                    &mut props,
                    &mut required,
                )?;
            } else {
                let merged = self
                    .resolver
                    .merge_object(schema)
                    .map_err(BuildError::Schema)?;
                for (name, prop) in &merged.properties {
                    if prop.schema_data.read_only {
                        continue;
                    }
                    if tables::spec_marks_secret(
                        name,
                        prop.schema_data.write_only,
                        is_password_format(prop),
                    ) {
                        spec_secrets.push(name.clone());
                    }
                    let field = self
                        .resolver
                        .convert_field(prop, mode)
                        .map_err(BuildError::Schema)?;
                    let mut field_schema = field.schema;
                    if let Some(mut id_schema) = self.id_schema(name, op) {
                        if let (Value::Object(m), Some(d)) =
                            (&mut id_schema, field_schema.get("description"))
                        {
                            m.insert("description".into(), d.clone());
                            reorder(m);
                        }
                        field_schema = id_schema;
                    }
                    let is_required = merged.required.contains(name) && field.conditions.is_empty();
                    if merged.required.contains(name) && !is_required {
                        required_when_available.push(name.clone());
                    }
                    if op.method == Method::Patch && prop.schema_data.nullable && !is_required {
                        resettable.push(name.clone());
                    }
                    push(
                        name,
                        field_schema,
                        is_required,
                        ArgRole::Field,
                        field.conditions,
                        &mut props,
                        &mut required,
                    )?;
                }
            }
        }

        // Our own arguments.
        if op.verb == Verb::List {
            let schema = json!({
                "type": "array",
                "description": "Keep only these fields of each object (id is always kept): a smaller answer.",
                "items": {"type": "string"},
            });
            push(
                "fields",
                schema,
                false,
                ArgRole::Projection,
                vec![],
                &mut props,
                &mut required,
            )?;
        }
        if let Some(target) = &op.apply
            && matches!(op.method, Method::Post | Method::Patch | Method::Delete)
            && !props.contains_key("apply")
        {
            let schema = json!({
                "type": "boolean",
                "description": format!("Apply the change in the same request instead of calling `{}` afterwards.", target.apply_tool),
                "default": false,
            });
            push(
                "apply",
                schema,
                false,
                ArgRole::Field,
                vec![],
                &mut props,
                &mut required,
            )?;
        }
        if matches!(op.verb, Verb::Update | Verb::Replace | Verb::Delete) {
            let schema = json!({
                "type": "string",
                "description": "The `fingerprint` from this tool's preview: the change is refused if its target changed since (ids shift after deletes).",
            });
            push(
                "expect_state",
                schema,
                false,
                ArgRole::Guard,
                vec![],
                &mut props,
                &mut required,
            )?;
        }
        if op.is_mutation() {
            let schema = json!({
                "type": "boolean",
                "description": "Set to true to execute. Without it nothing is sent: the call returns a preview of the exact request.",
                "default": false,
            });
            push(
                "confirm",
                schema,
                false,
                ArgRole::Confirm,
                vec![],
                &mut props,
                &mut required,
            )?;
        }

        for name in &resettable {
            if let Some(Value::Object(field)) = props.get_mut(name) {
                schema::allow_null(field);
            }
        }
        let mut input = Map::new();
        input.insert("type".into(), "object".into());
        input.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            input.insert("required".into(), Value::Array(required));
        }
        input.insert("additionalProperties".into(), Value::Bool(false));
        op.input_schema = Value::Object(input);
        for arg in &mut args {
            if arg.role == ArgRole::Field && spec_secrets.contains(&arg.name) {
                arg.sensitive = true;
            }
            arg.required_when_available = required_when_available.contains(&arg.name);
            arg.resettable = arg.role == ArgRole::Field && resettable.contains(&arg.name);
        }
        op.args = args;
        Ok(())
    }

    fn models(&self) -> Result<std::collections::BTreeMap<String, ModelSchema>, SpecError> {
        let mut out = std::collections::BTreeMap::new();
        let Some(components) = &self.api.components else {
            return Ok(out);
        };
        let mode = Mode {
            keep_defaults: true,
        };
        for (name, schema) in &components.schemas {
            let to_err = |source| SpecError::Schema {
                operation: format!("components.schemas.{name}"),
                method: Method::Get,
                path: String::new(),
                source,
            };
            let schema = self.resolver.resolve(schema).map_err(to_err)?;
            let merged = self.resolver.merge_object(schema).map_err(to_err)?;
            let mut fields = Vec::new();
            for (field, prop) in &merged.properties {
                let converted = self.resolver.convert_field(prop, mode).map_err(to_err)?;
                fields.push(ModelField {
                    name: field.clone(),
                    ty: converted.ty,
                    schema: converted.schema,
                    read_only: prop.schema_data.read_only,
                    write_only: prop.schema_data.write_only,
                    nullable: prop.schema_data.nullable,
                    default: prop.schema_data.default.clone().filter(|d| !d.is_null()),
                    item_model: schema::item_model(prop),
                    conditions: converted.conditions,
                    sensitive: tables::is_sensitive_field(field)
                        || tables::spec_marks_secret(
                            field,
                            prop.schema_data.write_only,
                            is_password_format(prop),
                        ),
                });
            }
            out.insert(
                name.clone(),
                ModelSchema {
                    name: name.clone(),
                    fields,
                },
            );
        }
        Ok(out)
    }

    /// `id` and `parent_id` are typed by the model they address: strings for the models that
    /// use names as ids, integers otherwise.
    fn id_schema(&self, name: &str, op: &Operation) -> Option<Value> {
        let model = match name {
            "id" => Some(op.model.as_str()),
            "parent_id" => op.parent_model.as_deref(),
            _ => return None,
        };
        let string_ids = model.is_some_and(|m| tables::STRING_ID_MODELS.contains(&m));
        Some(if string_ids {
            json!({"type": "string"})
        } else {
            json!({"type": "integer", "minimum": 0})
        })
    }
}

enum BuildError {
    Schema(SchemaError),
    Duplicate(String),
}

fn reorder(m: &mut Map<String, Value>) {
    let mut ordered = Map::new();
    for k in ["type", "description"] {
        if let Some(v) = m.remove(k) {
            ordered.insert(k.into(), v);
        }
    }
    ordered.append(m);
    *m = ordered;
}

/// The `query` argument: pfrest's arbitrary `field__op=value` filters.
fn filters_schema(method: Method) -> Value {
    let description = if method == Method::Delete {
        "Which objects to delete, as `field__op: value` filters (ops: exact, except, contains, startswith, endswith, in, lt, lte, gt, gte, regex). `{\"all\": true}` deletes every object. Careful: a key that is not a field also matches every object."
    } else {
        "Filters as `field__op: value` pairs, e.g. `{\"name__contains\": \"web\"}` (ops: exact (default), except, contains, startswith, endswith, in, lt, lte, gt, gte, regex)."
    };
    json!({
        "type": "object",
        "description": description,
        "additionalProperties": {
            "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
        }
    })
}

/// The tool description: the operation's own sentence plus the notes that change how to call it.
pub fn describe_tool(op: &Operation) -> String {
    let mut parts = vec![op.summary.clone()];
    if let Some(reason) = &op.danger {
        parts.push(format!("DANGEROUS: {reason}."));
    } else if op.verb == Verb::Action
        && op.risk == Risk::Destructive
        && let Some((_, reason)) =
            tables::action_risk(op.method, op.path.trim_start_matches(API_PREFIX))
    {
        parts.push(format!("Destructive: {reason}."));
    }
    match op.verb {
        Verb::Replace if op.path_kind == PathKind::Plural => {
            parts.push("Objects not in the list are deleted.".into())
        }
        _ => {}
    }
    if let Some(apply) = &op.apply {
        parts.push(format!("Pending until `{}`.", apply.apply_tool));
    }
    if !op.required_packages.is_empty() {
        let names: Vec<&str> = op
            .required_packages
            .iter()
            .map(|p| p.strip_prefix("pfSense-pkg-").unwrap_or(p))
            .collect();
        parts.push(format!("Package: {}.", names.join(", ")));
    }
    if op.basic_auth_only {
        parts.push("Basic authentication only.".into());
    }
    if op.binary_response {
        parts.push("Returns a binary file (base64).".into());
    }
    parts.join(" ")
}

/// Counts of operations by a key, for reports and tests.
pub fn count_by<K: std::hash::Hash + Eq>(
    ops: &[Operation],
    key: impl Fn(&Operation) -> K,
) -> HashMap<K, usize> {
    let mut m = HashMap::new();
    for op in ops {
        *m.entry(key(op)).or_insert(0) += 1;
    }
    m
}

/// Whether a property is a string with `format: password`.
fn is_password_format(prop: &openapiv3::Schema) -> bool {
    use openapiv3::{SchemaKind, StringFormat, Type, VariantOrUnknownOrEmpty};
    matches!(
        &prop.schema_kind,
        SchemaKind::Type(Type::String(s))
            if matches!(s.format, VariantOrUnknownOrEmpty::Item(StringFormat::Password))
    )
}
