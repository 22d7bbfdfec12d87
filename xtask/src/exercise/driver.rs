//! The exercise itself: every tool, grouped by the model it works on, called through MCP in an
//! order that creates what each call depends on first and cleans up afterwards.
//!
//! Phases: (1) reads, settings get → patch → get → restore, create → get → list → update of
//! every collection, applies and actions; (2) deletes, bulk deletes and replace-alls, in reverse
//! order so that dependents go before what they depend on; (3) the dangerous tools, reboot and
//! halt last (the report is written by the exerciser, not the target, so it survives them).

use super::report::{Outcome, ToolRecord};
use super::values::{DEPENDENCIES, Dep, Source, Synth, set_path, source_of};
use pfsense_spec::tables::is_sensitive_field;
use pfsense_spec::{Method, ModelSchema, Operation, PathKind, Risk, Spec};
use rmcp::RoleClient;
use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RunningService;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Reason recorded for dangerous tools skipped against a firewall URL.
pub const SKIPPED_DANGEROUS: &str = "skipped: dangerous tool against a firewall URL";

/// Tools that fail on a real pfSense whatever the arguments, with the documented behaviour
/// (shared/docs/pfsense-rest-api.md, "Seen on real boxes").
/// Calls the server's own safety layer refuses in the exerciser's setup, on purpose: they count
/// as not ok, with this reason, and a refusal of any other tool stays unexplained.
pub const REFUSED_BY_DESIGN: &[(&str, &str)] = &[
    (
        "pfsense_delete_auth_key",
        "refused by the account guard (lockout.rs): the server authenticates with an API key of the user whose keys the exerciser creates, and pfrest hides key hashes, so whether the key is the server's own cannot be known",
    ),
    (
        "pfsense_delete_auth_keys",
        "refused by the account guard (lockout.rs): the bulk delete takes keys of the server's own user, one of which may be the key it authenticates with",
    ),
];

pub const KNOWN_FAILURES: &[(&str, &str)] = &[
    (
        "pfsense_get_services_haproxy_settings_dns_resolver",
        "real-box quirk: HAProxy settings dns_resolver singular GET answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL (list/create/bulk delete work)",
    ),
    (
        "pfsense_update_svc_haproxy_settings_dns_resolver",
        "real-box quirk: HAProxy settings dns_resolver singular PATCH answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
    ),
    (
        "pfsense_delete_svc_haproxy_settings_dns_resolver",
        "real-box quirk: HAProxy settings dns_resolver singular DELETE answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
    ),
    (
        "pfsense_get_services_haproxy_settings_email_mailer",
        "real-box quirk: HAProxy settings email_mailer singular GET answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL (list/create/bulk delete work)",
    ),
    (
        "pfsense_update_svc_haproxy_settings_email_mailer",
        "real-box quirk: HAProxy settings email_mailer singular PATCH answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
    ),
    (
        "pfsense_delete_svc_haproxy_settings_email_mailer",
        "real-box quirk: HAProxy settings email_mailer singular DELETE answers 500 MODEL_CANNOT_GET_CONFIG_PATH_WITHOUT_PARENT_MODEL",
    ),
    (
        "pfsense_replace_user_groups",
        "real-box quirk: PUT on user groups fails FIELD_MUST_BE_UNIQUE (uniqueness is checked before the old groups are cleared, and the built-in groups always exist)",
    ),
];

/// Settings changed for real (then restored) instead of being written back unchanged:
/// (model, field, new value). Harmless values only: nothing here can cut the API off.
const SETTINGS_CHANGES: &[(&str, &str, &str)] = &[
    ("SystemHostname", "hostname", "exercised"),
    ("SystemDNS", "dnsallowoverride", "false"),
    ("SSH", "port", "2222"),
    ("NTPSettings", "orphan", "14"),
];

/// Fields a settings write-back must not touch: writing them at all can cut the API off on a
/// real box ("PATCHing webGUI settings can cut the API off; a PATCH that sends auth_methods …
/// locks out key auth").
const SETTINGS_NEVER_WRITE: &[(&str, &str)] = &[
    ("RESTAPISettings", "auth_methods"),
    ("RESTAPISettings", "enabled"),
    ("RESTAPISettings", "read_only"),
    ("RESTAPISettings", "allowed_interfaces"),
    ("WebGUISettings", "port"),
    ("WebGUISettings", "protocol"),
    ("WebGUISettings", "sslcertref"),
];

/// Every tool of one model (collection or singleton).
#[derive(Debug, Default, Clone)]
struct Family {
    model: String,
    parent: Option<String>,
    create: Option<String>,
    get: Option<String>,
    update: Option<String>,
    delete: Option<String>,
    list: Option<String>,
    replace: Option<String>,
    bulk_delete: Option<String>,
    settings_get: Option<String>,
    settings_patch: Option<String>,
    apply_status: Option<String>,
    apply: Option<String>,
    actions: Vec<String>,
}

/// An object the exerciser made, with how to find it again (ids shift after deletes).
#[derive(Debug, Clone)]
struct Handle {
    model: String,
    id: Value,
    parent_id: Option<Value>,
    data: Value,
    args: Map<String, Value>,
    /// A field and value that identify the object in a list.
    locator: Option<(String, Value)>,
}

#[derive(Debug)]
struct Failure {
    outcome: Outcome,
    response_id: Option<String>,
    message: String,
}

type CallResult = Result<Value, Failure>;

pub struct Driver {
    client: RunningService<RoleClient, ()>,
    spec: Arc<Spec>,
    schemas: HashMap<String, Value>,
    ops: HashMap<String, Operation>,
    records: BTreeMap<String, ToolRecord>,
    families: BTreeMap<String, Family>,
    shared: HashMap<String, Handle>,
    /// Objects made by the create step, deleted in phase 2.
    made: HashMap<String, Handle>,
    counter: u64,
    secrets: Vec<String>,
    run_dangerous: bool,
    /// The target's NIC names, read once from its assigned interfaces: (LAN's NIC, a NIC no
    /// interface uses). The emulator has em*, the lab and the golden VM vtnet*.
    nics: Option<(String, String)>,
}

impl Driver {
    pub fn new(
        client: RunningService<RoleClient, ()>,
        spec: Arc<Spec>,
        listed: Vec<Tool>,
        run_dangerous: bool,
        secrets: Vec<String>,
    ) -> Driver {
        // The full input schema of every offered tool, as pfsense-spec generates it: the
        // listing may shorten nested item schemas to a pointer at another tool.
        let schemas: HashMap<String, Value> = listed
            .into_iter()
            .map(|t| {
                let name = t.name.to_string();
                let full = spec
                    .operations
                    .iter()
                    .find(|o| o.tool_name == name)
                    .map(|o| o.input_schema.clone())
                    .unwrap_or_else(|| Value::Object((*t.input_schema).clone()));
                (name, full)
            })
            .collect();
        let mut ops = HashMap::new();
        let mut records = BTreeMap::new();
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        for op in &spec.operations {
            records.insert(op.tool_name.clone(), ToolRecord::new(op.module.as_str()));
            ops.insert(op.tool_name.clone(), op.clone());
            let fam = families.entry(op.model.clone()).or_insert_with(|| Family {
                model: op.model.clone(),
                ..Family::default()
            });
            if op.parent_model.is_some() {
                fam.parent = op.parent_model.clone();
            }
            let name = Some(op.tool_name.clone());
            match (op.path_kind, op.method) {
                (PathKind::Item, Method::Post) => fam.create = name,
                (PathKind::Item, Method::Get) => fam.get = name,
                (PathKind::Item, Method::Patch) => fam.update = name,
                (PathKind::Item, Method::Delete) => fam.delete = name,
                (PathKind::Plural, Method::Get) => fam.list = name,
                (PathKind::Plural, Method::Put) => fam.replace = name,
                (PathKind::Plural, Method::Delete) => fam.bulk_delete = name,
                (PathKind::Settings | PathKind::ReadOnly, Method::Get) => fam.settings_get = name,
                (PathKind::Settings | PathKind::WriteOnly, Method::Patch) => {
                    fam.settings_patch = name
                }
                (PathKind::Apply, Method::Get) => fam.apply_status = name,
                (PathKind::Apply, Method::Post) => fam.apply = name,
                (_, Method::Post) => fam.actions.push(op.tool_name.clone()),
                _ => {}
            }
        }
        Driver {
            client,
            spec,
            schemas,
            ops,
            records,
            families,
            shared: HashMap::new(),
            made: HashMap::new(),
            counter: 0,
            secrets,
            run_dangerous,
            nics: None,
        }
    }

    fn is_dangerous(&self, tool: &str) -> bool {
        self.ops
            .get(tool)
            .is_some_and(|o| o.risk == Risk::Dangerous)
    }

    /// Families in a stable order: by module as the spec lists them, then by model.
    fn family_order(&self) -> Vec<String> {
        let mut names: Vec<(String, String)> = self
            .families
            .values()
            .map(|f| {
                let module = self
                    .spec
                    .operations
                    .iter()
                    .find(|o| o.model == f.model)
                    .map(|o| o.module.as_str().to_string())
                    .unwrap_or_default();
                (module, f.model.clone())
            })
            .collect();
        names.sort();
        names.into_iter().map(|(_, m)| m).collect()
    }

    pub async fn run_all(&mut self) {
        let order = self.family_order();
        // Phase 1: reads, settings, creates, updates, applies, actions.
        for model in &order {
            let fam = self.families[model].clone();
            self.settings_cycle(&fam).await;
            if fam.create.is_some() {
                self.create_cycle(&fam).await;
            } else if fam.list.is_some() || fam.get.is_some() {
                self.read_cycle(&fam).await;
            }
        }
        for model in &order {
            let fam = self.families[model].clone();
            for action in &fam.actions {
                if !self.is_dangerous(action) {
                    self.run_action(action).await;
                }
            }
        }
        for model in &order {
            let fam = self.families[model].clone();
            if let Some(t) = &fam.apply_status {
                let _ = self.call(t, json!({})).await;
            }
            if let Some(t) = &fam.apply {
                let _ = self.call(t, json!({})).await;
                if let Some(s) = &fam.apply_status {
                    let _ = self.call(s, json!({})).await;
                }
            }
        }
        // Phase 2: deletes, bulk deletes, replace-alls; dependents first.
        for model in order.iter().rev() {
            let fam = self.families[model].clone();
            self.destroy_cycle(&fam, false).await;
        }
        // Phase 3: the dangerous tools.
        if self.run_dangerous {
            for model in order.iter().rev() {
                let fam = self.families[model].clone();
                self.destroy_cycle(&fam, true).await;
            }
            let mut last = Vec::new();
            for model in &order {
                let fam = self.families[model].clone();
                if let Some(p) = &fam.settings_patch
                    && self.is_dangerous(p)
                {
                    self.settings_cycle_dangerous(&fam).await;
                }
                for action in &fam.actions {
                    if self.is_dangerous(action) {
                        last.push(action.clone());
                    }
                }
            }
            // Reboot and halt go last: on a real box they end the session.
            last.sort_by_key(|a| {
                (
                    a.contains("reboot") || a.contains("halt"),
                    a.contains("halt"),
                )
            });
            for action in last {
                self.run_action(&action).await;
            }
            // Applies once more: everything left pending is applied before the end.
            for model in &order {
                if let Some(t) = self.families[model].apply.clone() {
                    let _ = self.call(&t, json!({})).await;
                }
            }
        }
    }

    /// Close the session and return the records, with reasons for known failures.
    pub async fn finish(self, ran_dangerous: bool) -> BTreeMap<String, ToolRecord> {
        let mut records = self.records;
        for (name, rec) in records.iter_mut() {
            if !self.schemas.contains_key(name) && !rec.invoked {
                rec.message = Some("the server did not offer this tool".into());
            }
            if rec.outcome == Outcome::Ok {
                continue;
            }
            if let Some((_, why)) = KNOWN_FAILURES.iter().find(|(t, _)| t == name) {
                rec.reason = Some(why.to_string());
            } else if rec.outcome == Outcome::Refused
                && let Some((_, why)) = REFUSED_BY_DESIGN.iter().find(|(t, _)| t == name)
            {
                rec.reason = Some(why.to_string());
            } else if !ran_dangerous
                && !rec.invoked
                && self
                    .ops
                    .get(name)
                    .is_some_and(|o| o.risk == Risk::Dangerous)
            {
                rec.reason = Some(format!(
                    "{SKIPPED_DANGEROUS} (pass --include-dangerous to run it)"
                ));
            }
        }
        let _ = self.client.cancel().await;
        records
    }

    // -----------------------------------------------------------------------------------------
    // Calls

    /// Messages with every known secret replaced. Only whole occurrences count (not inside a
    /// longer word), so a password like `pfsense` does not mangle tool names.
    fn redact_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            out = replace_whole(&out, secret, "<redacted>");
        }
        out
    }

    /// Call a tool (adding `confirm: true` where the tool takes it) and record the outcome. A
    /// tool counts as ok once any call of it succeeded; otherwise the first failure is kept.
    async fn call(&mut self, tool: &str, args: Value) -> CallResult {
        let Some(schema) = self.schemas.get(tool) else {
            return Err(Failure {
                outcome: Outcome::NotInvoked,
                response_id: None,
                message: "the server did not offer this tool".into(),
            });
        };
        if self.is_dangerous(tool) && !self.run_dangerous {
            return Err(Failure {
                outcome: Outcome::NotInvoked,
                response_id: None,
                message: SKIPPED_DANGEROUS.into(),
            });
        }
        let mut args = match args {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(props) = schema["properties"].as_object() {
            // Children of a singleton (HAProxy settings) take no `parent_id`.
            args.retain(|k, _| props.contains_key(k));
            if props.contains_key("confirm") {
                args.insert("confirm".into(), json!(true));
            }
        }
        for (k, v) in &args {
            if is_sensitive_field(k)
                && let Some(s) = v.as_str()
                && !self.secrets.iter().any(|x| x == s)
            {
                self.secrets.push(s.to_string());
            }
        }
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args.clone());
        let call_started = std::time::Instant::now();
        let result = self.client.peer().call_tool(params).await;
        let call_ms = call_started.elapsed().as_millis();
        let outcome: CallResult = match result {
            Err(e) => Err(Failure {
                outcome: Outcome::TransportError,
                response_id: None,
                message: format!("MCP error: {e}"),
            }),
            Ok(r) => {
                let structured = r.structured_content.clone().unwrap_or(Value::Null);
                let text = r
                    .content
                    .iter()
                    .find_map(|c| c.as_text().map(|t| t.text.clone()))
                    .unwrap_or_default();
                if r.is_error.unwrap_or(false) {
                    let err = &structured["error"];
                    let response_id = err["response_id"].as_str().map(str::to_string);
                    let message = err["message"].as_str().map(str::to_string).unwrap_or(text);
                    let outcome = if response_id.is_some() || err.get("http_status").is_some() {
                        Outcome::ApiError
                    } else {
                        Outcome::Refused
                    };
                    Err(Failure {
                        outcome,
                        response_id,
                        message,
                    })
                } else if structured.get("preview").is_some() {
                    Err(Failure {
                        outcome: Outcome::TransportError,
                        response_id: None,
                        message: "the server answered with a preview although confirm was true"
                            .into(),
                    })
                } else {
                    Ok(structured.get("data").cloned().unwrap_or(structured))
                }
            }
        };
        let redacted_args = redact_args(&Value::Object(args));
        if std::env::var_os("EXERCISE_TRACE").is_some() {
            let shown = match &outcome {
                Ok(Value::Array(items)) => format!("ok ({} items)", items.len()),
                Ok(_) => "ok".to_string(),
                Err(f) => self.redact_text(&format!(
                    "{:?} {:?} {}",
                    f.outcome, f.response_id, f.message
                )),
            };
            eprintln!("[{call_ms} ms] {tool} {redacted_args} -> {shown}");
        }
        let message = match &outcome {
            Err(f) => Some(self.redact_text(&f.message)),
            Ok(_) => None,
        };
        if let Some(rec) = self.records.get_mut(tool) {
            rec.invoked = true;
            rec.calls += 1;
            match &outcome {
                Ok(_) => {
                    rec.outcome = Outcome::Ok;
                    rec.response_id = None;
                    rec.message = None;
                    rec.failed_args = None;
                }
                Err(f) => {
                    if rec.outcome == Outcome::NotInvoked {
                        rec.outcome = f.outcome;
                        rec.response_id = f.response_id.clone();
                        rec.message = message;
                        rec.failed_args = Some(redacted_args);
                    }
                }
            }
        }
        outcome
    }

    fn schema(&self, tool: &str) -> Value {
        self.schemas.get(tool).cloned().unwrap_or(Value::Null)
    }

    fn next_token(&mut self) -> (String, u64) {
        self.counter += 1;
        (format!("ex{}", self.counter), self.counter)
    }

    // -----------------------------------------------------------------------------------------
    // Dependencies

    /// Values of the arguments of `model` that reference other objects.
    async fn dependency_overrides(&mut self, model: &str) -> Map<String, Value> {
        let mut out = Map::new();
        for (m, path, dep) in DEPENDENCIES {
            if *m != model {
                continue;
            }
            let value = match dep {
                Dep::Field(target, field) => match Box::pin(self.ensure(target)).await {
                    Some(h) => h.data.get(*field).cloned(),
                    None => None,
                },
                Dep::FreshField(target, field) => {
                    match Box::pin(self.make_instance(target)).await {
                        Some(h) if *field == "id" => {
                            // A DHCP server's pool lies inside its interface's subnet (pfrest:
                            // DHCP_SERVER_RANGE_FROM_OUTSIDE_OF_SUBNET): .100-.150 of its /24.
                            if model == "DHCPServer"
                                && let Some(ip) = h.data["ipaddr"].as_str()
                                && let Some((net, _)) = ip.rsplit_once('.')
                            {
                                out.insert("range_from".into(), json!(format!("{net}.100")));
                                out.insert("range_to".into(), json!(format!("{net}.150")));
                            }
                            Some(h.id.clone())
                        }
                        Some(h) => h.data.get(*field).cloned(),
                        None => None,
                    }
                }
                Dep::Id(target) => match Box::pin(self.ensure(target)).await {
                    Some(h) => Some(self.current_id(&h).await.0),
                    None => None,
                },
            };
            if let Some(v) = value.filter(|v| !v.is_null()) {
                out.insert(path.to_string(), v);
            }
        }
        // Physical NICs by their names on this target.
        if matches!(model, "InterfaceVLAN" | "InterfaceLAGG")
            && let Some((lan, free)) = self.nic_names().await
        {
            match model {
                "InterfaceVLAN" => out.insert("if".into(), json!(lan)),
                _ => out.insert("members".into(), json!([free])),
            };
        }
        out
    }

    /// (the LAN's NIC, an unassigned NIC of the same driver) from the assigned interfaces: the
    /// next number after the highest one assigned (em3 on the emulator, vtnet3 on the lab).
    async fn nic_names(&mut self) -> Option<(String, String)> {
        if self.nics.is_none() {
            let list = self.families.get("NetworkInterface")?.list.clone()?;
            let Ok(Value::Array(items)) = self.call(&list, json!({})).await else {
                return None;
            };
            let nic = |item: &Value| item["if"].as_str().map(str::to_string);
            let lan = items
                .iter()
                .find(|i| i["id"] == "lan")
                .or(items.first())
                .and_then(nic)?;
            let driver = lan
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string();
            let next = items
                .iter()
                .filter_map(nic)
                .filter_map(|n| n.strip_prefix(&driver)?.parse::<u32>().ok())
                .max()
                .map_or(0, |n| n + 1);
            self.nics = Some((lan, format!("{driver}{next}")));
        }
        self.nics.clone()
    }

    /// The shared instance of `model` (made once).
    /// The parent of a child object: the object the parent's create step made while it exists
    /// (a second parent can be refused: pfrest allows one traffic shaper per interface), else
    /// the shared instance. Children are deleted before their parents.
    async fn ensure_parent(&mut self, model: &str) -> Option<Handle> {
        // A parent taken from the seeded configuration (the LAN DHCP server) stays the parent:
        // its children's values (addresses in 192.168.1.0/24) are made for it.
        if source_of(model).is_none()
            && !self.shared.contains_key(model)
            && let Some(h) = self.made.get(model).cloned()
        {
            let (id, parent_id) = self.current_id(&h).await;
            return Some(Handle { id, parent_id, ..h });
        }
        self.ensure(model).await
    }

    async fn ensure(&mut self, model: &str) -> Option<Handle> {
        if let Some(h) = self.shared.get(model).cloned() {
            let (id, parent_id) = self.current_id(&h).await;
            let h = Handle { id, parent_id, ..h };
            self.shared.insert(model.to_string(), h.clone());
            return Some(h);
        }
        let h = self.make_instance(model).await?;
        self.shared.insert(model.to_string(), h.clone());
        Some(h)
    }

    /// Make a new object of `model` (its create tool, or the action that makes it).
    async fn make_instance(&mut self, model: &str) -> Option<Handle> {
        match source_of(model) {
            Some(Source::Existing(id)) => {
                let fam = self.families.get(model)?.clone();
                let data = match &fam.get {
                    Some(g) => self.call(g, json!({"id": id})).await.ok()?,
                    None => json!({"id": id}),
                };
                Some(Handle {
                    model: model.to_string(),
                    id,
                    parent_id: None,
                    data,
                    args: Map::new(),
                    locator: None,
                })
            }
            Some(Source::Action(tool)) => {
                let action_model = self.ops.get(tool)?.model.clone();
                let (args, token) = self.synth_args(tool, &action_model).await;
                let data = self.call(tool, Value::Object(args.clone())).await.ok()?;
                let id = data.get("id").cloned().unwrap_or(Value::Null);
                let locator = locator_of(&args, &token, self.spec.models.get(model));
                Some(Handle {
                    model: model.to_string(),
                    id,
                    parent_id: None,
                    data,
                    args,
                    locator,
                })
            }
            None => {
                let fam = self.families.get(model)?.clone();
                let tool = fam.create.clone()?;
                self.create_with(&fam, &tool).await.ok()
            }
        }
    }

    /// Arguments for a create or action tool of `model`: schema + tables + dependencies.
    async fn synth_args(&mut self, tool: &str, model: &str) -> (Map<String, Value>, String) {
        let (token, n) = self.next_token();
        let overrides = self.dependency_overrides(model).await;
        let schema = self.schema(tool);
        let synth = Synth {
            model,
            token: &token,
            n,
            overrides: &overrides,
        };
        // An item create never takes `id`; an action may (a service, an export config).
        let is_create = self
            .ops
            .get(tool)
            .is_some_and(|o| o.path_kind == PathKind::Item);
        let mut args = synth.object(&schema, "", is_create);
        for (path, v) in &overrides {
            // A reference into a list field (`server_list`) is a list of one; a number the
            // field takes as a string (a vpnid in `server_list`) is sent as one.
            let prop = &schema["properties"][path];
            let item_type = if prop["type"] == "array" {
                &prop["items"]["type"]
            } else {
                &prop["type"]
            };
            let v = match v {
                Value::Number(n) if item_type == "string" => json!(n.to_string()),
                other => other.clone(),
            };
            let v = if prop["type"] == "array" && !v.is_array() {
                json!([v])
            } else {
                v
            };
            set_path(&mut args, path, &v);
        }
        (args, token)
    }

    /// Create one object of the family's model with synthesised arguments.
    async fn create_with(&mut self, fam: &Family, tool: &str) -> Result<Handle, Failure> {
        let (mut args, token) = self.synth_args(tool, &fam.model).await;
        let mut parent_id = None;
        let takes_parent = self.schema(tool)["properties"].get("parent_id").is_some();
        if let Some(parent) = fam.parent.as_ref().filter(|_| takes_parent) {
            let Some(p) = Box::pin(self.ensure_parent(parent)).await else {
                return Err(Failure {
                    outcome: Outcome::NotInvoked,
                    response_id: None,
                    message: format!("could not make a parent {parent}"),
                });
            };
            let (pid, _) = self.current_id(&p).await;
            args.insert("parent_id".into(), pid.clone());
            parent_id = Some(pid);
        }
        let data = self.call(tool, Value::Object(args.clone())).await?;
        let id = data.get("id").cloned().unwrap_or(Value::Null);
        let parent_id = data.get("parent_id").cloned().or(parent_id);
        args.remove("parent_id");
        let locator = locator_of(&args, &token, self.spec.models.get(&fam.model));
        Ok(Handle {
            model: fam.model.clone(),
            id,
            parent_id,
            data,
            args,
            locator,
        })
    }

    /// The object's id now (and parent id): found again by its locator in the list.
    async fn current_id(&mut self, h: &Handle) -> (Value, Option<Value>) {
        let stored = (h.id.clone(), h.parent_id.clone());
        let Some((field, value)) = &h.locator else {
            return stored;
        };
        let Some(list) = self.families.get(&h.model).and_then(|f| f.list.clone()) else {
            return stored;
        };
        let mut query = Map::new();
        query.insert(field.clone(), value.clone());
        match self.call(&list, json!({"query": query})).await {
            Ok(Value::Array(items)) if !items.is_empty() => {
                let first = &items[0];
                (
                    first.get("id").cloned().unwrap_or(stored.0),
                    first.get("parent_id").cloned().or(stored.1),
                )
            }
            _ => stored,
        }
    }

    fn addressing(id: &Value, parent_id: &Option<Value>) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(p) = parent_id {
            m.insert("parent_id".into(), p.clone());
        }
        m.insert("id".into(), id.clone());
        m
    }

    // -----------------------------------------------------------------------------------------
    // Phase 1

    async fn settings_cycle(&mut self, fam: &Family) {
        let get = fam.settings_get.clone();
        let patch = fam.settings_patch.clone().filter(|p| !self.is_dangerous(p));
        let original = match &get {
            Some(g) => self.call(g, json!({})).await.ok(),
            None => None,
        };
        let Some(patch) = patch else {
            return;
        };
        let (change, restore) = self.settings_patch_args(fam, &patch, original.as_ref());
        let _ = self.call(&patch, Value::Object(change)).await;
        if let Some(g) = &get {
            let _ = self.call(g, json!({})).await;
        }
        if let Some(restore) = restore {
            let _ = self.call(&patch, Value::Object(restore)).await;
        }
    }

    /// The dangerous settings PATCH (REST API version: reinstalls the package): write back the
    /// installed version.
    async fn settings_cycle_dangerous(&mut self, fam: &Family) {
        let Some(patch) = fam.settings_patch.clone() else {
            return;
        };
        let original = match &fam.settings_get {
            Some(g) => self.call(g, json!({})).await.ok(),
            None => None,
        };
        let mut args = Map::new();
        if let Some(current) = original
            .as_ref()
            .and_then(|o| o.get("current_version"))
            .cloned()
        {
            args.insert("install_version".into(), current);
        }
        let _ = self.call(&patch, Value::Object(args)).await;
    }

    /// (change, restore) for a settings PATCH.
    fn settings_patch_args(
        &mut self,
        fam: &Family,
        patch: &str,
        original: Option<&Value>,
    ) -> (Map<String, Value>, Option<Map<String, Value>>) {
        let schema = self.schema(patch);
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut change = Map::new();
        // Fields the PATCH requires are sent with their current values.
        if let (Some(orig), Some(required)) = (original, schema["required"].as_array()) {
            let (token, n) = self.next_token();
            let empty = Map::new();
            let synth = Synth {
                model: &fam.model,
                token: &token,
                n,
                overrides: &empty,
            };
            for r in required.iter().filter_map(Value::as_str) {
                let unset = |v: &&Value| {
                    v.is_null()
                        || v.as_array().is_some_and(Vec::is_empty)
                            && props[r].get("minItems").is_some()
                };
                match orig.get(r).filter(|v| !unset(v)) {
                    Some(v) => change.insert(r.to_string(), v.clone()),
                    None => change.insert(r.to_string(), synth.value(r, &props[r], r)),
                };
            }
        }
        if let Some((_, field, value)) = SETTINGS_CHANGES.iter().find(|(m, _, _)| *m == fam.model)
            && let Some(orig) = original.and_then(|o| o.get(*field))
            && props.contains_key(*field)
        {
            let new: Value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
            let new = match (&props[*field]["type"], &new) {
                (Value::String(t), Value::Number(n)) if t == "string" => json!(n.to_string()),
                _ => new,
            };
            change.insert(field.to_string(), new);
            let mut restore = change.clone();
            restore.insert(field.to_string(), orig.clone());
            return (change, Some(restore));
        }
        if let Some(orig) = original {
            // Write one current value back unchanged: a real PATCH through the whole pipeline
            // that leaves the firewall as it was.
            for (name, prop) in &props {
                if name == "confirm"
                    || is_sensitive_field(name)
                    || SETTINGS_NEVER_WRITE.contains(&(fam.model.as_str(), name.as_str()))
                {
                    continue;
                }
                let Some(v) = orig.get(name) else { continue };
                let fits = match pfsense_spec::schema::non_null(prop)
                    .get("type")
                    .and_then(Value::as_str)
                {
                    Some("string") => v.is_string(),
                    Some("boolean") => v.is_boolean(),
                    Some("integer") => v.is_i64() || v.is_u64(),
                    _ => false,
                };
                if fits && !change.contains_key(name) {
                    change.insert(name.clone(), v.clone());
                    return (change, None);
                }
            }
            return (change, None);
        }
        // Write-only settings: the first choice of every enumerated field.
        let (token, n) = self.next_token();
        let empty = Map::new();
        let synth = Synth {
            model: &fam.model,
            token: &token,
            n,
            overrides: &empty,
        };
        for (name, prop) in &props {
            if prop.get("enum").is_some() {
                change.insert(name.clone(), synth.value(name, prop, name));
            }
        }
        (change, None)
    }

    async fn create_cycle(&mut self, fam: &Family) {
        let Some(create) = fam.create.clone() else {
            return;
        };
        let made = self.create_with(fam, &create).await;
        match made {
            Ok(h) => {
                if let Some(get) = &fam.get {
                    let (id, pid) = self.current_id(&h).await;
                    let _ = self
                        .call(get, Value::Object(Self::addressing(&id, &pid)))
                        .await;
                }
                if let Some(list) = &fam.list {
                    let _ = self.call(list, json!({})).await;
                }
                if let Some(update) = &fam.update {
                    let (id, pid) = self.current_id(&h).await;
                    let mut args = Self::addressing(&id, &pid);
                    args.extend(self.update_fields(update, &h));
                    let _ = self.call(update, Value::Object(args)).await;
                }
                self.made.insert(fam.model.clone(), h);
            }
            Err(_) => {
                // Still read what there is, and still invoke the singular tools on an id that
                // cannot exist: their answer (not found, or the create's own verdict such as a
                // missing add-on package) is recorded, and nothing of the firewall's is touched.
                if let Some(list) = &fam.list {
                    let _ = self.call(list, json!({})).await;
                }
                let (_, pid) = self.missing_id(fam, &create);
                // A child whose parent could not be made: its create was never sent.
                if !self.records.get(&create).is_some_and(|r| r.invoked) {
                    let (mut args, _) = self.synth_args(&create, &fam.model).await;
                    if let Some(pid) = &pid {
                        args.insert("parent_id".into(), pid.clone());
                    }
                    let _ = self.call(&create, Value::Object(args)).await;
                }
                for tool in [&fam.get, &fam.update].into_iter().flatten() {
                    let (id, pid) = self.missing_id(fam, tool);
                    let _ = self
                        .call(tool, Value::Object(Self::addressing(&id, &pid)))
                        .await;
                }
            }
        }
    }

    /// An id no object has (ids count up from 0; string ids such as interface names get a name
    /// no firewall uses), for tools whose own object could not be made.
    fn missing_id(&self, fam: &Family, tool: &str) -> (Value, Option<Value>) {
        const MISSING_ID: u64 = 99_999;
        let id = if self.schema(tool)["properties"]["id"]["type"] == "string" {
            json!("exercise_missing")
        } else {
            json!(MISSING_ID)
        };
        (id, fam.parent.as_ref().map(|_| json!(MISSING_ID)))
    }

    /// A change for an update: a new description when there is one (and it is not how the
    /// object is found), else one of the create arguments sent again.
    fn update_fields(&self, update: &str, h: &Handle) -> Map<String, Value> {
        let schema = self.schema(update);
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let locator = h.locator.as_ref().map(|(f, _)| f.as_str());
        let mut out = Map::new();
        for field in super::values::resent_on_update(&h.model) {
            if let Some(v) = h.args.get(*field) {
                out.insert(field.to_string(), v.clone());
            }
        }
        for field in ["descr", "description"] {
            if props.contains_key(field)
                && locator != Some(field)
                && props[field]["type"] == "string"
                && props[field].get("enum").is_none()
            {
                out.insert(field.into(), json!("exercise: updated"));
                return out;
            }
        }
        for (k, v) in &h.args {
            if Some(k.as_str()) != locator && props.contains_key(k) {
                out.insert(k.clone(), v.clone());
                return out;
            }
        }
        out
    }

    /// Collections only the firewall fills (status tables, logs, revisions): list, then get the
    /// first entry.
    async fn read_cycle(&mut self, fam: &Family) {
        let mut first = None;
        if let Some(list) = &fam.list
            && let Ok(Value::Array(items)) = self.call(list, json!({})).await
        {
            first = items.first().cloned();
        }
        if let Some(get) = &fam.get {
            let (id, pid) = match &first {
                Some(item) => (
                    item.get("id").cloned().unwrap_or(json!(0)),
                    item.get("parent_id").cloned(),
                ),
                None => (json!(0), fam.parent.as_ref().map(|_| json!(0))),
            };
            let _ = self
                .call(get, Value::Object(Self::addressing(&id, &pid)))
                .await;
        }
    }

    async fn run_action(&mut self, tool: &str) {
        let Some(op) = self.ops.get(tool).cloned() else {
            return;
        };
        let (args, _) = self.synth_args(tool, &op.model).await;
        let _ = self.call(tool, Value::Object(args)).await;
    }

    // -----------------------------------------------------------------------------------------
    // Phase 2 and 3

    /// Delete, bulk delete and replace-all of one family; `dangerous` picks which of them run.
    async fn destroy_cycle(&mut self, fam: &Family, dangerous: bool) {
        let wanted = |d: &Driver, t: &Option<String>| -> Option<String> {
            t.clone().filter(|t| d.is_dangerous(t) == dangerous)
        };
        if let Some(delete) = wanted(self, &fam.delete) {
            if let Some(h) = self.made.remove(&fam.model) {
                let (id, pid) = self.current_id(&h).await;
                let _ = self
                    .call(&delete, Value::Object(Self::addressing(&id, &pid)))
                    .await;
            } else if fam.create.is_none()
                && let Some(last) = self.last_listed(fam).await
            {
                let id = last.get("id").cloned().unwrap_or(json!(0));
                let pid = last.get("parent_id").cloned();
                let _ = self
                    .call(&delete, Value::Object(Self::addressing(&id, &pid)))
                    .await;
            } else {
                // Our object could not be made, or the firewall lists none: ask for one that
                // cannot exist.
                let (id, pid) = self.missing_id(fam, &delete);
                let _ = self
                    .call(&delete, Value::Object(Self::addressing(&id, &pid)))
                    .await;
            }
        }
        if let Some(bulk) = wanted(self, &fam.bulk_delete) {
            let query = if fam.create.is_some() {
                match self.make_instance(&fam.model).await {
                    Some(h) => match &h.locator {
                        Some((f, v)) => {
                            let mut q = Map::new();
                            q.insert(f.clone(), v.clone());
                            Some(q)
                        }
                        None => {
                            let (id, pid) = self.current_id(&h).await;
                            Some(Self::addressing(&id, &pid))
                        }
                    },
                    None => None,
                }
            } else {
                self.last_listed(fam).await.map(|last| {
                    Self::addressing(
                        &last.get("id").cloned().unwrap_or(json!(0)),
                        &last.get("parent_id").cloned(),
                    )
                })
            };
            let query = query.unwrap_or_else(|| {
                let mut q = Map::new();
                q.insert("id".into(), json!(0));
                q
            });
            let _ = self.call(&bulk, json!({"query": query})).await;
        }
        if let Some(replace) = wanted(self, &fam.replace) {
            self.replace_round_trip(fam, &replace).await;
        }
    }

    async fn last_listed(&mut self, fam: &Family) -> Option<Value> {
        let list = fam.list.clone()?;
        match self.call(&list, json!({})).await {
            Ok(Value::Array(items)) => items.last().cloned(),
            _ => None,
        }
    }

    /// PUT the collection as it is: read it, keep what can be written, fill required secrets
    /// the API never returns.
    async fn replace_round_trip(&mut self, fam: &Family, replace: &str) {
        let items = match &fam.list {
            Some(list) => match self.call(list, json!({})).await {
                Ok(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            None => Vec::new(),
        };
        let schema = self.schema(replace);
        let item_schema = schema["properties"]["objects"]["items"].clone();
        let writable: Vec<String> = item_schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let required: Vec<String> = item_schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut objects = Vec::new();
        for item in items {
            let Value::Object(obj) = item else { continue };
            let mut out = Map::new();
            for (k, v) in obj {
                if writable.contains(&k) && !v.is_null() {
                    out.insert(k, without_nulls(v));
                }
            }
            // Required fields, and the model's extra fields a read does not return (sensitive
            // ones such as an IPsec pre-shared key).
            let extras = super::values::extra_fields(&fam.model)
                .iter()
                .map(|f| f.to_string())
                .filter(|f| writable.contains(f));
            for r in required
                .iter()
                .cloned()
                .chain(extras)
                .collect::<Vec<_>>()
                .iter()
            {
                if !out.contains_key(r) {
                    let (token, n) = self.next_token();
                    let empty = Map::new();
                    let synth = Synth {
                        model: &fam.model,
                        token: &token,
                        n,
                        overrides: &empty,
                    };
                    let v = synth.value(r, &item_schema["properties"][r], r);
                    out.insert(r.clone(), v);
                }
            }
            objects.push(Value::Object(out));
        }
        let _ = self.call(replace, json!({"objects": objects})).await;
    }
}

/// How to find an object again: an argument that carries its unique token (names first).
/// Objects without one are found by id (a filter on a shared value like `name: aes` would
/// match other objects too).
fn locator_of(
    args: &Map<String, Value>,
    token: &str,
    model: Option<&ModelSchema>,
) -> Option<(String, Value)> {
    // Only a field the list shows can find the object: a filter on a write-only or unknown
    // field matches nothing, or everything ("unknown keys count as a filter that matches
    // everything").
    let readable = |f: &str| {
        model.is_some_and(|m| {
            m.field(f)
                .is_some_and(|f| !f.write_only && !f.sensitive && !f.read_only)
        })
    };
    let args: Map<String, Value> = args
        .iter()
        .filter(|(k, _)| readable(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let args = &args;
    const PREFERRED: &[&str] = &["name", "ifname", "tunable", "username", "shortname"];
    let carries = |v: &Value| v.as_str().is_some_and(|s| s.contains(token));
    for f in PREFERRED {
        if let Some(v) = args.get(*f).filter(|v| carries(v)) {
            return Some((f.to_string(), v.clone()));
        }
    }
    for (k, v) in args {
        if carries(v) && k != "descr" && k != "description" {
            return Some((k.clone(), v.clone()));
        }
    }
    for f in ["descr", "description"] {
        if let Some(v) = args.get(f).filter(|v| carries(v)) {
            return Some((f.to_string(), v.clone()));
        }
    }
    None
}

/// A value with every null member of its objects removed (the API returns unset fields as
/// null; sending null back means "reset to default" and is refused where a type is required).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// `text` with every occurrence of `word` that is not part of a longer word replaced.
fn replace_whole(text: &str, word: &str, with: &str) -> String {
    if word.is_empty() {
        return text.to_string();
    }
    let is_word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(word) {
        let before = rest[..pos].chars().next_back();
        let after = rest[pos + word.len()..].chars().next();
        out.push_str(&rest[..pos]);
        if before.is_some_and(is_word) || after.is_some_and(is_word) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[pos + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Arguments as the report shows them: sensitive values replaced.
pub(crate) fn redact_args(args: &Value) -> Value {
    match args {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    if is_sensitive_field(k) && !v.is_null() && !v.is_boolean() {
                        (k.clone(), json!("<redacted>"))
                    } else {
                        (k.clone(), redact_args(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_args).collect()),
        other => other.clone(),
    }
}
