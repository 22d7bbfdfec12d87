//! The classified model of the REST API: what every other crate consumes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// GET and DELETE carry their arguments in the query string; the others in a JSON body
    /// (pfrest reads form data from the query string *or* the body, never both).
    pub fn sends_query(self) -> bool {
        matches!(self, Method::Get | Method::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a path is: a collection, one item of a collection, or a singleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A plural endpoint: list, replace-all, bulk delete.
    Plural,
    /// The singular endpoint of a collection: addressed by `id` (and `parent_id` when nested).
    Item,
    /// A settings object: GET and PATCH, no id.
    Settings,
    /// `…/apply`: GET reports pending changes, POST applies them.
    Apply,
    /// POST-only: performs an action (reboot, ping, generate a certificate, …).
    Action,
    /// A singleton that can only be read (`system/version`, `status/system`).
    ReadOnly,
    /// A singleton that can only be patched (`services/dhcp_server/backend`).
    WriteOnly,
}

/// The verb a tool name starts with; derived from method and path kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Replace,
    Delete,
    /// A POST that performs an action; the tool name keeps the `post` verb.
    Action,
    /// POST on an apply endpoint.
    Apply,
    /// GET on an apply endpoint.
    ApplyStatus,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Replace => "replace",
            Verb::Delete => "delete",
            Verb::Action => "action",
            Verb::Apply => "apply",
            Verb::ApplyStatus => "apply_status",
        }
    }
}

/// How much harm a call can do. Ordered: a higher risk includes the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Reads only.
    Read,
    /// Creates or changes configuration, or performs a reversible action.
    Write,
    /// Removes or replaces configuration.
    Destructive,
    /// Can take the firewall down, run arbitrary code, or wipe state wholesale.
    Dangerous,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Read => "read",
            Risk::Write => "write",
            Risk::Destructive => "destructive",
            Risk::Dangerous => "dangerous",
        }
    }
}

/// Functional area of the firewall; used to enable or hide groups of tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Module {
    Firewall,
    Interface,
    Routing,
    VpnWireguard,
    VpnOpenvpn,
    VpnIpsec,
    ServicesDhcp,
    ServicesDnsResolver,
    ServicesDnsForwarder,
    ServicesHaproxy,
    ServicesBind,
    ServicesFreeradius,
    ServicesAcme,
    ServicesMisc,
    System,
    Status,
    Diagnostics,
    User,
    Auth,
}

impl Module {
    pub const ALL: [Module; 19] = [
        Module::Firewall,
        Module::Interface,
        Module::Routing,
        Module::VpnWireguard,
        Module::VpnOpenvpn,
        Module::VpnIpsec,
        Module::ServicesDhcp,
        Module::ServicesDnsResolver,
        Module::ServicesDnsForwarder,
        Module::ServicesHaproxy,
        Module::ServicesBind,
        Module::ServicesFreeradius,
        Module::ServicesAcme,
        Module::ServicesMisc,
        Module::System,
        Module::Status,
        Module::Diagnostics,
        Module::User,
        Module::Auth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Module::Firewall => "firewall",
            Module::Interface => "interface",
            Module::Routing => "routing",
            Module::VpnWireguard => "vpn_wireguard",
            Module::VpnOpenvpn => "vpn_openvpn",
            Module::VpnIpsec => "vpn_ipsec",
            Module::ServicesDhcp => "services_dhcp",
            Module::ServicesDnsResolver => "services_dns_resolver",
            Module::ServicesDnsForwarder => "services_dns_forwarder",
            Module::ServicesHaproxy => "services_haproxy",
            Module::ServicesBind => "services_bind",
            Module::ServicesFreeradius => "services_freeradius",
            Module::ServicesAcme => "services_acme",
            Module::ServicesMisc => "services_misc",
            Module::System => "system",
            Module::Status => "status",
            Module::Diagnostics => "diagnostics",
            Module::User => "user",
            Module::Auth => "auth",
        }
    }

    pub fn parse(name: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

impl fmt::Display for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The apply step a pending change needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyTarget {
    /// e.g. `firewall`, `services_dhcp_server`, `vpn_wireguard`.
    pub subsystem: String,
    /// The API path of the apply endpoint, e.g. `/api/v2/firewall/apply`.
    pub path: String,
    /// e.g. `pfsense_firewall_apply`.
    pub apply_tool: String,
    /// e.g. `pfsense_get_firewall_apply_status`.
    pub status_tool: String,
}

/// One "only available when" rule on a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCondition {
    /// The field the condition reads.
    pub field: String,
    /// True when the field belongs to the parent object ("Parent field `x` …").
    pub on_parent: bool,
    pub test: ConditionTest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op", content = "value")]
pub enum ConditionTest {
    Equals(serde_json::Value),
    NotEquals(serde_json::Value),
    OneOf(Vec<serde_json::Value>),
    NotOneOf(Vec<serde_json::Value>),
}

/// Where one tool argument goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgRole {
    /// A field of the model or a control parameter the API understands.
    Field,
    /// `query`: arbitrary filters, spread into the query string as `field__op=value`.
    Filters,
    /// `objects`: the whole JSON list body of a PUT (replace all).
    ListBody,
    /// `confirm`: ours, never sent.
    Confirm,
    /// `fields`: ours, never sent; the server keeps only these fields of each object.
    Projection,
    /// `expect_state`: ours, never sent; the fingerprint a preview handed out, so a change is
    /// refused when its target changed since.
    Guard,
}

/// Rust-facing type of one argument, for the generated typed structs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgType {
    String,
    Integer,
    Number,
    Boolean,
    StringList,
    IntegerList,
    /// Anything else (objects, lists of objects, integer-or-string ids): kept as JSON.
    Json,
}

/// One property of a tool's input schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    /// The name exactly as the API spells it (`type`, `if`, `pass` stay as they are).
    pub name: String,
    pub required: bool,
    pub role: ArgRole,
    pub ty: ArgType,
    /// Structured "only available when" conditions of this field, if any.
    pub conditions: Vec<FieldCondition>,
    /// The API requires this conditional field whenever its conditions hold (the tool schema
    /// cannot say so, so `required` stays false).
    #[serde(default)]
    pub required_when_available: bool,
    /// An update may send `null` to reset it to its default (its schema allows null).
    #[serde(default)]
    pub resettable: bool,
    /// Marked sensitive (passwords, keys, secrets): never logged or echoed.
    pub sensitive: bool,
}

/// One REST API operation, fully classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub operation_id: String,
    /// `pfsense_…`, unique, `^pfsense_[a-z0-9_]+$`, at most 64 characters.
    pub tool_name: String,
    pub method: Method,
    /// Full API path, e.g. `/api/v2/firewall/alias`.
    pub path: String,
    pub path_kind: PathKind,
    pub verb: Verb,
    /// The pfrest model behind the endpoint, e.g. `FirewallAlias`.
    pub model: String,
    /// The parent model for nested objects (these need `parent_id`).
    pub parent_model: Option<String>,
    pub module: Module,
    pub risk: Risk,
    /// Why the operation is dangerous, when it is.
    pub danger: Option<String>,
    /// `Applies immediately`: Some(true) yes, Some(false) no, None not applicable.
    pub applies_immediately: Option<bool>,
    /// The apply step a successful call leaves pending (only for writes that do not apply
    /// immediately and whose subsystem has an apply endpoint).
    pub apply: Option<ApplyTarget>,
    /// Add-on packages the endpoint needs, e.g. `pfSense-pkg-haproxy`.
    pub required_packages: Vec<String>,
    /// Only Basic authentication is accepted (JWT and key creation, settings sync).
    pub basic_auth_only: bool,
    /// The success response is a binary download (`application/octet-stream`).
    pub binary_response: bool,
    /// The response is wrapped in the usual `{code, status, response_id, message, data}`.
    pub enveloped: bool,
    /// One sentence from the operation's own description.
    pub summary: String,
    /// Tool description: summary plus the notes that matter (apply, risk, packages).
    pub description: String,
    /// The tool's input JSON Schema (an object schema), complete with field documentation:
    /// used for validation and `pfsense_describe_tool`.
    pub input_schema: serde_json::Value,
    /// The lean form `tools/list` sends (see `lean.rs`): every property, type, enum and
    /// condition, without repeated prose and item schemas another tool documents.
    pub listed_schema: serde_json::Value,
    /// The arguments in schema order, with where they go on the wire.
    pub args: Vec<Arg>,
}

impl Operation {
    pub fn is_mutation(&self) -> bool {
        self.method != Method::Get
    }

    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.name == name)
    }
}

/// Counts that describe a loaded spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecStats {
    pub paths: usize,
    pub schemas: usize,
    pub operations: usize,
}

/// One field of a model as stored and returned by the API (readOnly fields included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelField {
    pub name: String,
    /// JSON Schema of the value, with the spec default when it has one.
    pub schema: serde_json::Value,
    pub ty: ArgType,
    /// Computed by the firewall; ignored on input.
    pub read_only: bool,
    /// Accepted on input, never returned.
    pub write_only: bool,
    /// Explicit `null` resets the field to its default.
    pub nullable: bool,
    /// The spec's default, also for conditional fields (whose schema leaves it out).
    pub default: Option<serde_json::Value>,
    /// For lists of objects (and nested objects): the component model of the items, e.g.
    /// `FirewallScheduleTimeRange` for `FirewallSchedule.timerange`.
    pub item_model: Option<String>,
    pub conditions: Vec<FieldCondition>,
    pub sensitive: bool,
}

/// A pfrest model (a component schema of the spec) with all of its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSchema {
    pub name: String,
    pub fields: Vec<ModelField>,
}

impl ModelSchema {
    pub fn field(&self, name: &str) -> Option<&ModelField> {
        self.fields.iter().find(|f| f.name == name)
    }
}
