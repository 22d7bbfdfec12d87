//! The MCP server: lists the generated tools a policy allows, checks arguments, previews
//! mutations until they are confirmed, and calls the firewall.

use crate::catalog::{TOOLS, ToolDef};
use crate::client::Client;
use crate::outcome;
use crate::pipeline::{self, arguments_misfit};
pub use crate::policy::Policy;
use futures::future::{BoxFuture, Shared};
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Who is calling, and how the person at the client can be asked (elicitation).
#[derive(Clone, Default)]
pub struct CallContext {
    /// `stdio`, or the name of the HTTP token the caller presented.
    pub caller: String,
    /// How the person at the client can be asked to approve (elicitation).
    pub human: crate::safety::elicit::Human,
    /// The call came over HTTP outside any MCP session (2026-07-28): what it would set on
    /// the session (the selected firewall) ends with it.
    pub sessionless: bool,
}

/// Server settings shared by every firewall (each firewall has its own policy).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// Extra sentences for the server instructions (e.g. the sandbox banner).
    pub banner: Option<String>,
    /// Audit log, journal, confirmation mode, rate limits, auto-revert.
    pub safety: crate::safety::SafetyOptions,
    /// Which tools `tools/list` shows.
    pub tool_mode: crate::discovery::ToolMode,
    /// Results larger than this many tokens are cut, with a note on how to narrow them.
    pub result_budget_tokens: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            page_size: 256,
            banner: None,
            safety: crate::safety::SafetyOptions::default(),
            tool_mode: crate::discovery::ToolMode::default(),
            result_budget_tokens: crate::bounds::DEFAULT_BUDGET_TOKENS,
        }
    }
}

/// The MCP tool description of a generated tool: the lean schema, and only the annotations
/// that differ from MCP's defaults (readOnly false, destructive true, idempotent false), since
/// 677 tools repeat them.
pub fn mcp_tool(def: &ToolDef) -> Tool {
    let mut annotations = ToolAnnotations::new();
    if def.read_only_hint() {
        annotations = annotations.read_only(true);
    } else {
        if !def.destructive_hint() {
            annotations = annotations.destructive(false);
        }
        if def.idempotent_hint() {
            annotations = annotations.idempotent(true);
        }
    }
    Tool::new(def.name, def.description, def.listed())
        .with_raw_output_schema(crate::outcome::output::generated())
        .with_annotations(annotations)
}

/// One entry of `tools/list`, made into an MCP tool only when a page is sent.
#[derive(Clone, Copy)]
enum Listed {
    Generated(&'static ToolDef),
    Own(&'static crate::meta::MetaTool),
}

impl Listed {
    fn name(self) -> &'static str {
        match self {
            Listed::Generated(d) => d.name,
            Listed::Own(m) => m.name,
        }
    }

    fn tool(self) -> Tool {
        match self {
            Listed::Generated(d) => mcp_tool(d),
            Listed::Own(m) => m.mcp_tool(),
        }
    }
}

/// The firewall the server talks to: ready, or still starting (the sandbox emulator starts in
/// the background so that `initialize` answers at once).
pub enum Target {
    Ready(Arc<Client>),
    Starting(Shared<BoxFuture<'static, Result<Arc<Client>, String>>>),
}

/// One firewall of the fleet: its name (the key of its audit lines and journal rows), how it
/// is shown, how to reach it, and what it allows.
pub struct Firewall {
    pub name: String,
    /// Shown to the model: the URL, or what the target is (the sandbox emulator).
    pub label: String,
    pub target: Target,
    pub policy: Policy,
}

/// A firewall as the server holds it: with the tools its policy offers and their search index.
struct Member {
    firewall: Firewall,
    /// The tools this firewall's policy offers, in catalogue order.
    offered: Vec<&'static ToolDef>,
    /// Ranking index over `offered`, built on the first `pfsense_find_tools` for it.
    search: std::sync::OnceLock<crate::search::Index>,
}

/// What every session shares: the fleet, its clients, the guards, the listing.
struct Inner {
    /// Sorted by name.
    firewalls: Vec<Member>,
    /// The firewall a session starts on.
    default: usize,
    options: ServerOptions,
    /// The tools at least one firewall offers, in list order (sorted by name).
    offered: Vec<&'static ToolDef>,
    /// What `tools/list` shows: the offered generated tools and our own tools, sorted by name
    /// (their descriptions and schemas are statics, made into MCP tools page by page).
    listed: Vec<Listed>,
    /// The guards ([`PfSenseServer::safety`]).
    safety: GuardSlot,
    /// The server instructions, written on first use: they depend only on the fleet and the
    /// options. rmcp asks for them (`get_info`) at every 2026-07-28 request, which it serves
    /// on a server value of its own (19k instructions per call to write them).
    instructions: std::sync::OnceLock<String>,
    /// Tools looked up by name ([`ToolCache`]).
    looked_up: ToolCache,
}

/// How a server's guards open when first needed: waiting for the thread opening them, or
/// returning guards already opened.
pub type GuardsOpening = Box<dyn FnOnce() -> Result<Arc<crate::safety::Safety>, String> + Send>;

/// What the command line does once the guards are open (or could not be): the start's notes,
/// or its end.
pub type WhenGuardsOpen = Box<dyn FnOnce(&PfSenseServer) + Send>;

/// The guards, opened on first use ([`PfSenseServer::safety`]): the command line's start answers
/// `initialize` and lists tools while the audit log and journal open on a thread of their own
/// (BENCHMARKS.md, "Twenty-first session"); what needs them waits for them.
struct GuardSlot {
    /// The guards, or why they could not start (then every change is refused).
    opened: std::sync::OnceLock<Result<Arc<crate::safety::Safety>, String>>,
    opening: Mutex<Option<(GuardsOpening, Option<WhenGuardsOpen>)>>,
}

/// MCP tools made for `get_tool`, which rmcp calls at every 2026-07-28 `tools/call` to check
/// its `Mcp-Param-*` headers against the input schema: made from the statics, a tool cost 16k
/// instructions per call. Bounded: emptied when full, so a client that calls every tool does
/// not keep every schema in memory.
#[derive(Default)]
struct ToolCache(std::sync::Mutex<std::collections::HashMap<&'static str, Tool>>);

impl ToolCache {
    /// Tools kept at most.
    const CAPACITY: usize = 64;

    fn get_or_make(&self, name: &'static str, make: impl FnOnce() -> Tool) -> Tool {
        let mut tools = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tool) = tools.get(name) {
            return tool.clone();
        }
        if tools.len() >= Self::CAPACITY {
            tools.clear();
        }
        let tool = make();
        tools.insert(name, tool.clone());
        tool
    }
}

/// The MCP server of one session. The fleet, clients and guards are shared (`inner`); the
/// selected firewall belongs to the session (`new_session` starts a fresh one).
#[derive(Clone)]
pub struct PfSenseServer {
    inner: Arc<Inner>,
    /// Index into `inner.firewalls` of the firewall this session's calls go to.
    selected: Arc<AtomicUsize>,
}

impl PfSenseServer {
    /// A server for the firewalls (at least one), starting sessions on `default`.
    pub fn new(
        firewalls: Vec<Firewall>,
        default: &str,
        options: ServerOptions,
    ) -> Result<PfSenseServer, String> {
        let safety = crate::safety::Safety::open(options.safety.clone()).map(Arc::new);
        let server = PfSenseServer::build(firewalls, default, options, Box::new(|| safety), None)?;
        server.safety();
        Ok(server)
    }

    /// [`PfSenseServer::new`] with guards (from `options.safety`) opening elsewhere: `opening`
    /// gives them when first needed (by a call, or by whoever the caller asks to wait for
    /// them), and `then` runs once it has.
    pub fn with_guards_opening(
        firewalls: Vec<Firewall>,
        default: &str,
        options: ServerOptions,
        opening: GuardsOpening,
        then: WhenGuardsOpen,
    ) -> Result<PfSenseServer, String> {
        PfSenseServer::build(firewalls, default, options, opening, Some(then))
    }

    fn build(
        firewalls: Vec<Firewall>,
        default: &str,
        options: ServerOptions,
        opening: GuardsOpening,
        then: Option<WhenGuardsOpen>,
    ) -> Result<PfSenseServer, String> {
        let (members, default) = members_of(firewalls, default)?;
        let offered = offered_by_any(&members);
        let listed = listed_tools(&offered, &members, &options);
        let safety = GuardSlot {
            opened: std::sync::OnceLock::new(),
            opening: Mutex::new(Some((opening, then))),
        };
        let server = PfSenseServer {
            inner: Arc::new(Inner {
                firewalls: members,
                default,
                options,
                offered,
                listed,
                safety,
                instructions: std::sync::OnceLock::new(),
                looked_up: ToolCache::default(),
            }),
            selected: Arc::new(AtomicUsize::new(default)),
        };
        Ok(server)
    }

    /// The guards, or why they could not start: opened on first use, waiting for them when they
    /// are still opening. Their first opening adopts the firewalls' journal rows, starts their
    /// background work and runs what the server was built to run then.
    pub fn safety(&self) -> &Result<Arc<crate::safety::Safety>, String> {
        if let Some(opened) = self.inner.safety.opened.get() {
            return opened;
        }
        let mut then = None;
        let opened = self.inner.safety.opened.get_or_init(|| {
            let pending = self
                .inner
                .safety
                .opening
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let Some((opening, when_open)) = pending else {
                return Err("the safety guards were not opened".into());
            };
            then = Some(when_open);
            adopt_rows(opening(), &self.inner.firewalls)
        });
        if let Some(when_open) = then {
            match when_open {
                Some(when_open) => when_open(self),
                None => {
                    if let Err(e) = opened {
                        tracing::error!(
                            "the safety guards could not start, every change will be refused: {e}"
                        );
                    }
                }
            }
            self.spawn_background();
        }
        opened
    }

    /// The guards' background work (settling, auto-revert) for every firewall.
    fn spawn_background(&self) {
        let Ok(safety) = self.safety() else {
            return;
        };
        for (index, member) in self.inner.firewalls.iter().enumerate() {
            let s = self.clone();
            crate::safety::spawn_background(
                safety.clone(),
                Box::pin(async move { s.client(index).await }),
                member.firewall.name.clone(),
                member.firewall.policy.clone(),
            );
        }
    }

    /// The same fleet and guards for another MCP session, starting on the default firewall
    /// (the HTTP transport makes one per session; a clone would share the selection).
    pub fn new_session(&self) -> PfSenseServer {
        PfSenseServer {
            inner: self.inner.clone(),
            selected: Arc::new(AtomicUsize::new(self.inner.default)),
        }
    }

    /// The tools at least one firewall offers.
    pub fn offered(&self) -> &[&'static ToolDef] {
        &self.inner.offered
    }

    /// The names of the firewalls, sorted.
    pub fn firewall_names(&self) -> Vec<&str> {
        self.inner
            .firewalls
            .iter()
            .map(|m| m.firewall.name.as_str())
            .collect()
    }

    /// Provisional changes (`--auto-revert`) the journal holds for each firewall of this
    /// server: (firewall, how many, how many are past their deadline).
    pub fn provisional_changes(&self) -> Vec<(String, usize, usize)> {
        let Ok(safety) = self.safety() else {
            return Vec::new();
        };
        let now = crate::safety::time::now_millis();
        self.inner
            .firewalls
            .iter()
            .filter_map(|m| {
                let (left, overdue) = safety
                    .journal
                    .provisional_count(&m.firewall.name, now)
                    .ok()?;
                (left > 0).then(|| (m.firewall.name.clone(), left, overdue))
            })
            .collect()
    }

    /// The name of the firewall this session's calls go to.
    pub fn selected_firewall(&self) -> &str {
        &self
            .member(self.selected.load(Ordering::Relaxed))
            .firewall
            .name
    }

    fn member(&self, index: usize) -> &Member {
        // Indices come from `position` over this same list; the default is always valid.
        self.inner
            .firewalls
            .get(index)
            .unwrap_or(&self.inner.firewalls[self.inner.default])
    }

    /// The client of a firewall, once its target is up (its calls are recorded in the
    /// journal's metrics under the firewall's name).
    pub async fn client(&self, index: usize) -> Result<Arc<Client>, String> {
        let member = self.member(index);
        let client = match &member.firewall.target {
            Target::Ready(c) => c.clone(),
            Target::Starting(f) => f.clone().await?,
        };
        if let Ok(safety) = self.safety() {
            client.attach_call_log(|| {
                Arc::new(crate::health::JournalCallLog {
                    safety: safety.clone(),
                    firewall: member.firewall.name.clone(),
                })
            });
        }
        Ok(client)
    }

    /// Which firewall a call goes to: its `firewall` argument (taken out of the arguments:
    /// ours, never sent to pfSense), else the session's selection.
    fn take_firewall(&self, args: &mut Value) -> Result<usize, String> {
        let requested = args.as_object_mut().and_then(|m| m.remove("firewall"));
        match requested {
            None | Some(Value::Null) => Ok(self.selected.load(Ordering::Relaxed)),
            Some(Value::String(name)) => self.index_of(&name),
            Some(_) => Err(format!(
                "`firewall` must be the name of a firewall: {}",
                self.name_list()
            )),
        }
    }

    fn index_of(&self, name: &str) -> Result<usize, String> {
        self.inner
            .firewalls
            .iter()
            .position(|m| m.firewall.name == name)
            .ok_or_else(|| {
                format!(
                    "there is no firewall `{name}`; the firewalls are {}",
                    self.name_list()
                )
            })
    }

    fn name_list(&self) -> String {
        self.firewall_names()
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Why one of the server's own tools is not offered on the firewall at `index` (the
    /// safety tools by the policy and `--auto-revert`, the operator analyses by deny rules).
    fn own_tool_refusal(&self, index: usize, meta: &crate::meta::MetaTool) -> Option<String> {
        let policy = &self.member(index).firewall.policy;
        if crate::safety::meta::is_safety_tool(meta.name) {
            let auto_revert = self.inner.options.safety.auto_revert.is_some();
            return (!crate::safety::meta::offered(meta, policy, auto_revert))
                .then(|| crate::safety::meta::refusal(meta, policy, auto_revert));
        }
        if crate::meta::OPERATOR_TOOLS.contains(&meta.name) {
            return policy.refusal_for(crate::policy::Subject::own_read(meta.name));
        }
        None
    }

    /// Why `def` is refused on the firewall at `index`, with the firewalls that would take it.
    fn refusal_on(&self, index: usize, def: &ToolDef) -> Option<String> {
        let mut reason = self.member(index).firewall.policy.refusal(def)?;
        if self.inner.firewalls.len() > 1 {
            let others: Vec<String> = self
                .inner
                .firewalls
                .iter()
                .filter(|m| m.firewall.policy.offers(def))
                .map(|m| format!("`{}`", m.firewall.name))
                .collect();
            reason = format!(
                "on firewall `{}`: {reason}{}",
                self.member(index).firewall.name,
                if others.is_empty() {
                    String::new()
                } else {
                    format!(
                        " Firewalls that offer it: {} (pass `firewall: NAME`, or switch with {}).",
                        others.join(", "),
                        crate::meta::SELECT_FIREWALL
                    )
                }
            );
        }
        Some(reason)
    }

    /// The firewalls with URL, policy summary and which one this session has selected.
    fn fleet_json(&self) -> Value {
        let selected = self.selected.load(Ordering::Relaxed);
        Value::Array(
            self.inner
                .firewalls
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    serde_json::json!({
                        "name": m.firewall.name,
                        "url": m.firewall.label,
                        "policy": m.firewall.policy.summary(),
                        "selected": i == selected,
                    })
                })
                .collect(),
        )
    }

    /// `pfsense_select_firewall {name?}`: switch this session's firewall, or list them. A
    /// sessionless call (2026-07-28 over HTTP) only lists: a switch would end with the call,
    /// and the next call would go to the default firewall while the model believes otherwise.
    fn select_firewall(&self, args: &Value, sessionless: bool) -> rmcp::model::CallToolResult {
        let lines = |server: &PfSenseServer| -> String {
            let selected = server.selected.load(Ordering::Relaxed);
            server
                .inner
                .firewalls
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    format!(
                        "{} {} ({}): {}",
                        if i == selected { "*" } else { " " },
                        m.firewall.name,
                        m.firewall.label,
                        m.firewall.policy.summary()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let text = match args.get("name") {
            None | Some(Value::Null) if sessionless => format!(
                "Firewalls (* = where calls without `firewall` go):\n{}\n{}",
                lines(self),
                self.sessionless_note()
            ),
            None | Some(Value::Null) => format!(
                "Firewalls (* = selected for this session):\n{}",
                lines(self)
            ),
            Some(Value::String(name)) => match self.index_of(name) {
                Ok(_) if sessionless => {
                    return outcome::error(format!(
                        "{}: cannot switch to `{name}`: {} Nothing was changed.",
                        crate::meta::SELECT_FIREWALL,
                        self.sessionless_note()
                    ));
                }
                Ok(i) => {
                    self.selected.store(i, Ordering::Relaxed);
                    format!(
                        "Selected firewall `{name}`: this session's calls go to it until you switch again.\n{}",
                        lines(self)
                    )
                }
                Err(e) => return outcome::error(format!("{}: {e}", crate::meta::SELECT_FIREWALL)),
            },
            Some(_) => {
                return outcome::error(format!(
                    "{}: `name` must be a firewall's name: {}",
                    crate::meta::SELECT_FIREWALL,
                    self.name_list()
                ));
            }
        };
        let mut r =
            rmcp::model::CallToolResult::success(vec![rmcp::model::ContentBlock::text(text)]);
        r.structured_content = Some(serde_json::json!({
            "selected": self.selected_firewall(),
            "firewalls": self.fleet_json(),
        }));
        r
    }

    /// Why a sessionless client names the firewall on each call.
    fn sessionless_note(&self) -> String {
        format!(
            "this client speaks MCP 2026-07-28 over HTTP, which has no sessions, so a selection would not outlast this call. Add `firewall: NAME` to each call instead; calls without it go to `{}`.",
            self.selected_firewall()
        )
    }

    fn instructions(&self) -> String {
        let mut applies: Vec<String> = self
            .inner
            .offered
            .iter()
            .filter(|d| d.verb == crate::spec::Verb::Apply)
            .map(|d| format!("`{}`", d.name))
            .collect();
        applies.dedup();
        let firewalls = &self.inner.firewalls;
        let target = if firewalls.len() == 1 {
            format!("the pfSense firewall at {}", firewalls[0].firewall.label)
        } else {
            format!(
                "{} pfSense firewalls: {}",
                firewalls.len(),
                firewalls
                    .iter()
                    .map(|m| format!(
                        "`{}` ({}, {})",
                        m.firewall.name,
                        m.firewall.label,
                        m.firewall.policy.summary()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut s = format!(
            "Operates {target} through its REST API ({} tools generated from REST API spec {}). \
             Reads run directly. Every change needs `confirm: true`: without it the tool sends nothing and returns a preview of the exact request. \
             Changes to aliases, NAT, rules, routes, DHCP, DNS, interfaces and VPNs stay pending until their apply tool runs ({}), or pass `apply: true`; the tool description and the result name the apply tool. \
             List and bulk-delete tools take `query`, filters of the form `field__op: value` (op: exact (default), except, contains, startswith, endswith, in, lt, lte, gt, gte, regex), plus limit, offset, sort_by, sort_order (SORT_ASC, SORT_DESC) and sort_flags (SORT_REGULAR, SORT_NUMERIC, SORT_STRING, SORT_LOCALE_STRING, SORT_NATURAL, SORT_FLAG_CASE). \
             Object ids are positions in a list and shift after deletes: list again before acting on an id. \
             List tools return a page (total and next offset included); `fields` keeps only the named fields of each object. \
             Tool schemas list every field with its type, choices and conditions; errors name the field that is wrong.",
            self.inner.offered.len(),
            crate::catalog::SPEC_VERSION,
            applies.join(", "),
        );
        if firewalls.len() > 1 {
            s.push_str(&format!(
                " Calls go to this session's selected firewall, which starts as `{}`: `{}` with `name` switches it (without `name` it lists the firewalls), and any tool takes an extra argument `firewall: NAME` to send that one call elsewhere. A client without sessions (MCP 2026-07-28 over HTTP) cannot switch: it names the firewall on each call. Each firewall has its own policy: a tool refused on one may be offered on another.",
                firewalls[self.inner.default].firewall.name,
                crate::meta::SELECT_FIREWALL
            ));
        }
        if self.inner.options.tool_mode == crate::discovery::ToolMode::Compact {
            s.push_str(" Only the daily tools are listed; for anything else use `pfsense_find_tools` (plain words), `pfsense_describe_tool` (arguments and field documentation) and `pfsense_call` (runs it with the same checks as a direct call).");
        } else {
            s.push_str(" `pfsense_describe_tool` gives any tool's field documentation.");
        }
        if firewalls.iter().all(|m| m.firewall.policy.is_read_only()) {
            s.push_str(" The server is in read-only mode: only reading tools are offered.");
        }
        if let Some(b) = &self.inner.options.banner {
            s.push(' ');
            s.push_str(b);
        }
        s
    }

    /// Run one tool call: a meta tool, or a generated tool through the whole path (policy,
    /// validation, preview or execution).
    pub async fn call(
        &self,
        name: &str,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        if let Some(meta) = crate::meta::lookup(name) {
            let mut result = Box::pin(self.call_meta(meta, args, ctx)).await?;
            crate::bounds::fit_result(&mut result, self.inner.options.result_budget_tokens);
            return Ok(result);
        }
        let Some(def) = crate::catalog::tool(name) else {
            let message = format!(
                "unknown tool `{}`: tools/list shows the available tools",
                shortened(name, 120)
            );
            let selected = self.selected.load(Ordering::Relaxed);
            self.audit_refused(selected, name, &args, ctx, &message);
            return Err(McpError::invalid_params(message, None));
        };
        let mut result = self.call_generated(def, args, ctx).await?;
        // A read's answer is already paged and cut to the budget (bounds::bound_result);
        // previews, write answers and refusals (which may list many arguments) are held here.
        if def.is_mutation() || result.is_error == Some(true) {
            crate::bounds::fit_result(&mut result, self.inner.options.result_budget_tokens);
        }
        Ok(result)
    }

    /// A refused call that never reaches the firewall (a tool name that does not exist, bad
    /// arguments to a discovery tool) leaves an audit line too: the audit log is what measures
    /// how agents use the server (`cargo xtask bank-test`), guessed names included.
    fn audit_refused(
        &self,
        firewall: usize,
        name: &str,
        args: &Value,
        ctx: &CallContext,
        message: &str,
    ) {
        self.audit_line(
            firewall,
            name,
            args,
            ctx,
            crate::safety::audit::Outcome::Refused,
            Some(message),
        );
    }

    /// One audit line for a call that never reaches the firewall (discovery, unknown tools).
    fn audit_line(
        &self,
        firewall: usize,
        name: &str,
        args: &Value,
        ctx: &CallContext,
        kind: crate::safety::audit::Outcome,
        message: Option<&str>,
    ) {
        if let Ok(safety) = self.safety() {
            let mut entry = crate::safety::audit::Entry::new(
                &self.member(firewall).firewall.name,
                name,
                &ctx.caller,
                kind,
            );
            entry.arguments = outcome::redact(args);
            entry.message = message.map(str::to_string);
            safety.record(&entry);
        }
    }

    async fn call_meta(
        &self,
        meta: &'static crate::meta::MetaTool,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        if crate::meta::OPERATOR_TOOLS.contains(&meta.name) {
            // The firewall it names (taken from the arguments again when it runs).
            let index = match self.take_firewall(&mut args.clone()) {
                Ok(i) => i,
                Err(e) => return Ok(outcome::error(format!("{}: {e}", meta.name))),
            };
            let policy = &self.member(index).firewall.policy;
            if let Some(refusal) = policy.refusal_for(crate::policy::Subject::own_read(meta.name)) {
                self.audit_line(
                    index,
                    meta.name,
                    &args,
                    ctx,
                    crate::safety::audit::Outcome::Refused,
                    Some(&refusal),
                );
                return Ok(outcome::error(refusal));
            }
        }
        match meta.name {
            "pfsense_list_changes" | "pfsense_undo" | "pfsense_confirm_changes" => {
                Ok(self.call_safety_tool(meta, args, ctx).await)
            }
            "pfsense_find_tools" | "pfsense_describe_tool" | "pfsense_call" => {
                self.call_discovery_tool(meta, args, ctx).await
            }
            name if crate::meta::OPERATOR_TOOLS.contains(&name)
                && name != crate::health::TOOL_NAME =>
            {
                self.call_operator_tool(meta, args, ctx).await
            }
            crate::health::TOOL_NAME => Ok(self.call_health_report(meta, args, ctx).await),
            crate::meta::SELECT_FIREWALL if self.inner.firewalls.len() > 1 => {
                let args = pipeline::object_args(args);
                let selected = self.selected.load(Ordering::Relaxed);
                if let Some(refusal) = meta_arguments_refusal(meta, &args) {
                    self.audit_refused(selected, meta.name, &args, ctx, &result_text(&refusal));
                    return Ok(refusal);
                }
                let result = self.select_firewall(&args, ctx.sessionless);
                self.audit_answer(
                    self.selected.load(Ordering::Relaxed),
                    meta.name,
                    &args,
                    ctx,
                    &result,
                );
                Ok(result)
            }
            _ => Err(McpError::invalid_params(
                format!("`{}` is not available", meta.name),
                None,
            )),
        }
    }

    /// `pfsense_health_report`: the firewall's health and the server's own (its journal).
    async fn call_health_report(
        &self,
        meta: &'static crate::meta::MetaTool,
        mut args: Value,
        ctx: &CallContext,
    ) -> rmcp::model::CallToolResult {
        let index = match self.take_firewall(&mut args) {
            Ok(i) => i,
            Err(e) => return outcome::error(format!("{}: {e}", meta.name)),
        };
        let result = match self.client(index).await {
            Ok(client) => {
                crate::health::report(
                    &client,
                    self.safety().as_ref().ok().map(|s| s.as_ref()),
                    &self.member(index).firewall.name,
                )
                .await
            }
            Err(e) => outcome::error(format!(
                "{} could not run: the firewall connection is not ready: {e}",
                meta.name
            )),
        };
        self.audit_answer(index, meta.name, &args, ctx, &result);
        result
    }

    /// The operator analyses and the security audit: arguments checked against the listed
    /// schema, then reads through the session's client.
    async fn call_operator_tool(
        &self,
        meta: &'static crate::meta::MetaTool,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        let mut args = pipeline::object_args(args);
        let index = match self.take_firewall(&mut args) {
            Ok(i) => i,
            Err(e) => return Ok(outcome::error(format!("{}: {e}", meta.name))),
        };
        if let Some(refusal) = meta_arguments_refusal(meta, &args) {
            self.audit_refused(index, meta.name, &args, ctx, &result_text(&refusal));
            return Ok(refusal);
        }
        let result = self.run_operator_tool(meta, &args, index).await;
        self.audit_answer(index, meta.name, &args, ctx, &result);
        Ok(result)
    }

    /// An audit line for one of our own tools that ran: executed, or failed with its message.
    fn audit_answer(
        &self,
        firewall: usize,
        name: &str,
        args: &Value,
        ctx: &CallContext,
        result: &rmcp::model::CallToolResult,
    ) {
        use crate::safety::audit::Outcome;
        if result.is_error == Some(true) {
            let message = result_text(result);
            self.audit_line(firewall, name, args, ctx, Outcome::Failed, Some(&message));
        } else {
            self.audit_line(firewall, name, args, ctx, Outcome::Executed, None);
        }
    }

    async fn run_operator_tool(
        &self,
        meta: &'static crate::meta::MetaTool,
        args: &Value,
        index: usize,
    ) -> rmcp::model::CallToolResult {
        let client = match self.client(index).await {
            Ok(client) => client,
            Err(e) => {
                return outcome::error(format!(
                    "{} could not run: the firewall connection is not ready: {e}",
                    meta.name
                ));
            }
        };
        let args = args.clone();
        use crate::operator as op;
        match meta.name {
            op::FIREWALL_LOG => op::firewall_log(&client, &args).await,
            op::EXPLAIN_TRAFFIC => op::explain_traffic(&client, &args).await,
            op::BLOCK_ADDRESSES => {
                op::block_addresses(&client, &args, self.inner.options.safety.lockout_source).await
            }
            op::DIAGNOSE => op::diagnose(&client, &args).await,
            op::HEALTH_REPORT => op::health_report(&client).await,
            _ => {
                let probe = args
                    .get("probe_default_password")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let label = self.member(index).firewall.label.clone();
                let report = crate::security_audit::audit(&client, &label, probe).await;
                let structured = crate::security_audit::tool_result(&report);
                let summary = structured
                    .get("summary")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                outcome::result(summary, structured, false)
            }
        }
    }

    /// `pfsense_find_tools`, `pfsense_describe_tool`, and `pfsense_call`, which runs a generated
    /// tool through exactly the path a direct call takes.
    async fn call_discovery_tool(
        &self,
        meta: &'static crate::meta::MetaTool,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        let mut args = pipeline::object_args(args);
        // `pfsense_call` declares `firewall` and hands it on to the tool it runs; the other
        // two answer for the chosen firewall's policy.
        let firewall = if meta.name == "pfsense_call" {
            None
        } else {
            match self.take_firewall(&mut args) {
                Ok(i) => Some(i),
                Err(e) => {
                    let message = format!("{} was not called: {e}", meta.name);
                    let selected = self.selected.load(Ordering::Relaxed);
                    self.audit_refused(selected, meta.name, &args, ctx, &message);
                    return Ok(outcome::error(message));
                }
            }
        };
        let index = firewall.unwrap_or_else(|| self.selected.load(Ordering::Relaxed));
        if let Some(message) = arguments_misfit(meta.name, &meta.schema(), &args) {
            let message = match misplaced_call_arguments(meta.name, &args) {
                Some(hint) => format!("{message}. {hint}"),
                None => message,
            };
            self.audit_refused(index, meta.name, &args, ctx, &message);
            return Ok(outcome::error(message));
        }
        // Finding and describing tools is part of how an agent works in compact mode: audited
        // like every other call (pfsense_call is audited as the tool it runs).
        let executed = crate::safety::audit::Outcome::Executed;
        match meta.name {
            "pfsense_find_tools" => {
                self.audit_line(index, meta.name, &args, ctx, executed, None);
                let member = self.member(index);
                let search = member
                    .search
                    .get_or_init(|| crate::search::Index::new(member.offered.clone()));
                Ok(crate::discovery::find_tools(search, &args))
            }
            "pfsense_describe_tool" => {
                match generated_tool_named(&args, |m| self.own_tool_refusal(index, m)) {
                    Ok(def) => {
                        self.audit_line(index, meta.name, &args, ctx, executed, None);
                        let refusal = self.refusal_on(index, def);
                        Ok(crate::discovery::describe_tool(
                            def,
                            refusal.is_none(),
                            refusal,
                        ))
                    }
                    Err(e) => {
                        self.audit_refused(index, meta.name, &args, ctx, &result_text(&e));
                        Ok(*e)
                    }
                }
            }
            _ => self.call_by_name(index, &args, ctx).await,
        }
    }

    /// `pfsense_call {name, arguments, firewall?}`: the named generated tool, with `firewall`
    /// handed on inside its arguments.
    async fn call_by_name(
        &self,
        index: usize,
        args: &Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        let def = match generated_tool_named(args, |m| self.own_tool_refusal(index, m)) {
            Ok(def) => def,
            Err(e) => {
                let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
                let inner_args = args.get("arguments").cloned().unwrap_or(Value::Null);
                self.audit_refused(index, name, &inner_args, ctx, &result_text(&e));
                return Ok(*e);
            }
        };
        let mut inner_args = args.get("arguments").cloned().unwrap_or(Value::Null);
        if let Some(fw) = args.get("firewall").filter(|v| !v.is_null()) {
            if inner_args.is_null() {
                inner_args = Value::Object(Default::default());
            }
            if let Some(m) = inner_args.as_object_mut() {
                if m.get("firewall").is_some_and(|inner| inner != fw) {
                    return Ok(outcome::error(
                        "pfsense_call was not run: `firewall` is given twice with different values (next to `name` and inside `arguments`); give it once",
                    ));
                }
                m.insert("firewall".into(), fw.clone());
            }
        }
        self.call_generated(def, inner_args, ctx).await
    }

    /// The safety tools: policy, argument check, then `safety::meta`.
    async fn call_safety_tool(
        &self,
        meta: &'static crate::meta::MetaTool,
        args: Value,
        ctx: &CallContext,
    ) -> rmcp::model::CallToolResult {
        let safety = match self.safety() {
            Ok(s) => s.clone(),
            Err(e) => {
                return outcome::error(format!(
                    "{} is unavailable: the safety guards could not start: {e}",
                    meta.name
                ));
            }
        };
        let mut args = pipeline::object_args(args);
        let chosen = self.take_firewall(&mut args);
        let index = *chosen
            .as_ref()
            .unwrap_or(&self.selected.load(Ordering::Relaxed));
        let member = self.member(index);
        let firewall = member.firewall.name.clone();
        let auto_revert = self.inner.options.safety.auto_revert.is_some();
        let refusal = if let Err(e) = chosen {
            Some(format!("{} was not called: {e}", meta.name))
        } else if !crate::safety::meta::offered(meta, &member.firewall.policy, auto_revert) {
            let reason = crate::safety::meta::refusal(meta, &member.firewall.policy, auto_revert);
            Some(if self.inner.firewalls.len() > 1 {
                format!("on firewall `{firewall}`: {reason}")
            } else {
                reason
            })
        } else {
            arguments_misfit(meta.name, &meta.schema(), &args)
        };
        if let Some(message) = refusal {
            let refusals = pipeline::Refusals {
                safety: Some(&safety),
                firewall: &firewall,
                tool: meta.name,
                caller: &ctx.caller,
            };
            return refusals.refuse(&args, message);
        }
        if let Ok(client) = self.client(index).await {
            // Journal rows a killed process left are settled before anyone reads them.
            safety.settle(&client, &firewall).await;
        }
        match meta.name {
            "pfsense_list_changes" => crate::safety::meta::list_changes(&safety, &firewall, &args),
            "pfsense_confirm_changes" => {
                crate::safety::meta::confirm_changes(&safety, &firewall, &ctx.caller, &args)
            }
            _ => match self.client(index).await {
                Ok(client) => {
                    crate::safety::meta::undo(
                        &safety,
                        &client,
                        &firewall,
                        &member.firewall.policy,
                        &ctx.caller,
                        &ctx.human,
                        &args,
                    )
                    .await
                }
                Err(e) => outcome::error(format!("{} was not called: {e}", meta.name)),
            },
        }
    }

    /// A generated tool: the firewall it goes to and its policy, then the call pipeline
    /// (`pipeline`): split and build once, then a read, or a change through the guards. Every
    /// attempt leaves one audit line, keyed by the firewall's name.
    pub async fn call_generated(
        &self,
        def: &'static ToolDef,
        args: Value,
        ctx: &CallContext,
    ) -> Result<rmcp::model::CallToolResult, McpError> {
        let mut args = pipeline::object_args(args);
        // Ours, never sent: which firewall this call goes to.
        let chosen = self.take_firewall(&mut args);
        let index = *chosen
            .as_ref()
            .unwrap_or(&self.selected.load(Ordering::Relaxed));
        let firewall = self.member(index).firewall.name.clone();
        let refusals = pipeline::Refusals {
            safety: self.safety().as_ref().ok(),
            firewall: &firewall,
            tool: def.name,
            caller: &ctx.caller,
        };
        if let Err(e) = chosen {
            return Ok(refusals.refuse(&args, format!("{} was not called: {e}", def.name)));
        }
        if let Some(reason) = self.refusal_on(index, def) {
            return Ok(refusals.refuse(&args, reason));
        }
        let prepared = match pipeline::prepare(def, &mut args) {
            Ok(p) => p,
            Err(message) => return Ok(refusals.refuse(&args, message)),
        };
        // What its arguments alone make dangerous is refused before anything is sent; what
        // depends on an existing object's state is judged once it is read (safety/flow.rs):
        // keeping the privileges it holds grants nothing.
        let state = if crate::safety::state::ChangeKind::of(def).has_target_state() {
            crate::spec::tables::TargetState::ReadLater
        } else {
            crate::spec::tables::TargetState::NotRead
        };
        if let Some(reason) = (self.member(index).firewall.policy).argument_refusal_at(
            def,
            &prepared.normalized,
            state,
        ) {
            return Ok(refusals.refuse(&prepared.normalized, reason));
        }
        let client = match self.client(index).await {
            Ok(c) => c,
            Err(e) => {
                return Ok(refusals.refuse(&args, format!("{} was not called: {e}", def.name)));
            }
        };
        let run = pipeline::Run {
            def,
            prepared,
            client,
            firewall: &firewall,
            ctx,
            refusals,
            policy: &self.member(index).firewall.policy,
        };
        Ok(if def.is_mutation() {
            Box::pin(run.mutate(self.safety().as_ref())).await
        } else {
            run.read(self.inner.options.result_budget_tokens).await
        })
    }
}

/// The server as the transports' handler (crates/pfsense-mcp-transport, which serves it through
/// rmcp's `ServerHandler`): the methods this server gives answers of its own; rmcp's defaults
/// answer the rest.
impl pfsense_mcp_transport::Handler for PfSenseServer {
    // MCP logging is deprecated (SEP-2577) but still in the 2025-11-25 protocol clients speak.
    // Prompts: rmcp's default handler answers `prompts/list` (with none), and 2026-07-28
    // requires a server that answers it to declare the capability (SEP-2575; the conformance
    // suite's server-stateless scenario checks it). Declared, the list stays empty.
    #[allow(deprecated)]
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_logging()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(
            "pfsense-mcp",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(
            self.inner
                .instructions
                .get_or_init(|| self.instructions())
                .clone(),
        )
    }

    fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<ListToolsResult, McpError>> {
        Box::pin(async move {
            let start = match request.and_then(|r| r.cursor) {
                None => 0,
                Some(c) => c
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= self.inner.listed.len())
                    .ok_or_else(|| {
                        McpError::invalid_params(format!("invalid cursor `{c}`"), None)
                    })?,
            };
            let page = self.inner.options.page_size.max(1);
            let end = (start + page).min(self.inner.listed.len());
            let mut result = ListToolsResult::with_all_items(
                self.inner.listed[start..end]
                    .iter()
                    .map(|t| listed_tool(&self.inner, *t))
                    .collect(),
            );
            if end < self.inner.listed.len() {
                result.next_cursor = Some(end.to_string());
            }
            Ok(result)
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        // `listed` holds exactly the offered tools, sorted by name.
        let i = self
            .inner
            .listed
            .binary_search_by(|t| t.name().cmp(name))
            .ok()?;
        let listed = self.inner.listed[i];
        Some(
            self.inner
                .looked_up
                .get_or_make(listed.name(), || listed_tool(&self.inner, listed)),
        )
    }

    /// rmcp hands on as a custom request every request it could not read as one of MCP's: a
    /// method MCP does not have, and also a method we serve whose params do not fit (say
    /// `tools/call` with `arguments` that are not an object). The second is invalid params
    /// (-32602) with what does not fit, not "method not found".
    fn on_custom_request(
        &self,
        request: rmcp::model::CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<rmcp::model::CustomResult, McpError>> {
        Box::pin(async move {
            // A session that began with initialize speaks a revision that has logging/setLevel.
            let initialized =
                context.peer.peer_info().is_some() && !crate::http::sessions::sessionless(&context);
            Err(unreadable_request(
                &request.method,
                request.params.as_ref(),
                initialized,
            ))
        })
    }

    /// Accepted so that clients which set a log level work; the server sends no MCP log
    /// notifications (its logs go to stderr), so there is nothing to filter.
    #[allow(deprecated)]
    fn set_level(
        &self,
        request: rmcp::model::SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<(), McpError>> {
        Box::pin(async move {
            tracing::debug!(level = ?request.level, "client set the MCP log level");
            Ok(())
        })
    }

    fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> BoxFuture<'_, Result<CallToolResponse, McpError>> {
        Box::pin(async move {
            // Within an HTTP session the id stays taken until the call ends, even when the
            // client hung up (http/sessions.rs).
            let _id_held = crate::http::hold_while_running(&context);
            let ctx = CallContext {
                caller: crate::http::caller_of(&context).unwrap_or_else(|| "stdio".into()),
                human: crate::safety::elicit::Human::of(&context, &request),
                sessionless: crate::http::sessionless(&context),
            };
            let args = request.arguments.map(Value::Object).unwrap_or(Value::Null);
            // Secret values of this call are scrubbed from everything that comes back.
            crate::safety::secrets::remember_secrets_of(&args);
            // Boxed, and so are the change path and our own tools below: rmcp spawns each request's
            // handler as a task, and tokio copies a task's whole future several times over (spawn,
            // its cell, its finished stage). Inline, the largest path set its size for every call:
            // a read's future was about 10 KB, and the copies were a sixth of a read's instructions
            // (callgrind, 1,200 reads over HTTP).
            let mut result = Box::pin(self.call(&request.name, args, &ctx)).await?;
            // On 2026-07-28 a confirmation is asked in the answer itself (elicit.rs).
            if let Some(input_required) = ctx.human.input_required() {
                return Ok(input_required.into());
            }
            crate::safety::secrets::clean_result(&mut result);
            Ok(result.into())
        })
    }
}

/// `text` cut to `max` characters with an ellipsis: a name echoed back in an error.
fn shortened(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

/// The firewalls sorted by name with the tools each offers, and the index of `default`.
fn members_of(mut firewalls: Vec<Firewall>, default: &str) -> Result<(Vec<Member>, usize), String> {
    firewalls.sort_by(|a, b| a.name.cmp(&b.name));
    if firewalls.windows(2).any(|w| w[0].name == w[1].name) {
        return Err("two firewalls have the same name".into());
    }
    let default = firewalls
        .iter()
        .position(|f| f.name == default)
        .ok_or_else(|| format!("no firewall is named `{default}`"))?;
    // One firewall under two names is two policies for one box: either name's policy lets
    // through what it allows, whatever the other says.
    for (i, a) in firewalls.iter().enumerate() {
        for b in &firewalls[i + 1..] {
            if a.label == b.label {
                tracing::warn!(
                    "firewalls `{}` and `{}` have the same address {}: each name's policy (read_only, allow, deny) holds for that name only, so the more permissive one decides what reaches the box",
                    a.name,
                    b.name,
                    a.label
                );
            }
        }
    }
    let members = firewalls
        .into_iter()
        .map(|firewall| Member {
            offered: TOOLS.iter().filter(|d| firewall.policy.offers(d)).collect(),
            firewall,
            search: std::sync::OnceLock::new(),
        })
        .collect();
    Ok((members, default))
}

/// The tools at least one firewall offers, in catalogue order. Each member's list is already
/// in that order, so one walk over [`TOOLS`] merges them, instead of asking every policy about
/// every tool a second time (on the path of every start).
fn offered_by_any(members: &[Member]) -> Vec<&'static ToolDef> {
    let mut lists: Vec<_> = members
        .iter()
        .map(|m| m.offered.iter().peekable())
        .collect();
    TOOLS
        .iter()
        .filter(|def| {
            let mut offered = false;
            for list in &mut lists {
                if list.next_if(|d| std::ptr::eq(**d, *def)).is_some() {
                    offered = true;
                }
            }
            offered
        })
        .collect()
}

/// What `tools/list` shows: the offered generated tools (in compact mode only the daily
/// ones) and our own tools, sorted by name.
fn listed_tools(
    offered: &[&'static ToolDef],
    members: &[Member],
    options: &ServerOptions,
) -> Vec<Listed> {
    let compact = options.tool_mode == crate::discovery::ToolMode::Compact;
    let mut listed: Vec<Listed> = if compact {
        // The few daily names looked up in the offered list (sorted by name, as `TOOLS` is),
        // rather than every offered tool looked for among them.
        crate::discovery::COMPACT_CORE
            .iter()
            .filter_map(|name| offered.binary_search_by(|d| d.name.cmp(name)).ok())
            .map(|i| Listed::Generated(offered[i]))
            .collect()
    } else {
        offered.iter().map(|d| Listed::Generated(d)).collect()
    };
    let auto_revert = options.safety.auto_revert.is_some();
    listed.extend(
        crate::meta::META_TOOLS
            .iter()
            .filter(|m| {
                if crate::safety::meta::is_safety_tool(m.name) {
                    members
                        .iter()
                        .any(|f| crate::safety::meta::offered(m, &f.firewall.policy, auto_revert))
                } else if m.name == crate::meta::SELECT_FIREWALL {
                    members.len() > 1
                } else {
                    // Describe in every mode: full mode's listing leaves field documentation
                    // and large field families (`lean::FOLD_MIN_FIELDS`) to it.
                    (compact && m.compact_only) || m.name == "pfsense_describe_tool"
                }
            })
            .map(Listed::Own),
    );
    // Health and the operator analyses are reads of our own: listed in every mode and
    // policy but a deny rule naming them (deny wins over everything).
    listed.extend(
        crate::meta::OPERATOR_TOOLS
            .iter()
            .filter(|name| {
                members.iter().any(|f| {
                    f.firewall
                        .policy
                        .refusal_for(crate::policy::Subject::own_read(name))
                        .is_none()
                })
            })
            .filter_map(|name| crate::meta::lookup(name))
            .map(Listed::Own),
    );
    listed.sort_by_key(|t| t.name());
    listed
}

/// With several firewalls every tool but the selector takes `firewall: NAME` (`take_firewall`):
/// declared, so that a client which drops undeclared arguments keeps it.
/// An entry of `tools/list` as the client sees it: in a fleet every tool but the selector
/// declares the `firewall` argument it accepts.
fn listed_tool(inner: &Inner, listed: Listed) -> Tool {
    let mut tool = listed.tool();
    if inner.firewalls.len() > 1 {
        declare_firewall(&mut tool);
    }
    tool
}

fn declare_firewall(tool: &mut Tool) {
    if tool.name == crate::meta::SELECT_FIREWALL {
        return;
    }
    let mut schema = (*tool.input_schema).clone();
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props
            .entry("firewall")
            .or_insert_with(|| serde_json::json!({"type": "string"}));
    }
    tool.input_schema = Arc::new(schema);
}

/// The guards (audit log, journal, limits), with journal rows of the ready firewalls adopted
/// under their names; the error when they could not start (then every change is refused).
fn adopt_rows(
    safety: Result<Arc<crate::safety::Safety>, String>,
    members: &[Member],
) -> Result<Arc<crate::safety::Safety>, String> {
    let safety = safety?;
    for m in members {
        // Rows are this firewall's by its name and its address.
        safety.journal.bind(&m.firewall.name, &m.firewall.label);
        // Before firewalls had names, journal rows were keyed by the firewall's URL.
        if let Target::Ready(_) = m.firewall.target {
            match safety.journal.adopt(&m.firewall.label, &m.firewall.name) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    firewall = %m.firewall.name,
                    rows = n,
                    "journal rows keyed by the firewall's URL now carry its name"
                ),
                Err(e) => tracing::warn!(firewall = %m.firewall.name, "{e}"),
            }
        }
    }
    Ok(safety)
}

/// The generated tool `args.name` names, or the error that says how to find the right name.
/// `refusal_of_own` says why one of the server's own tools is not offered here (None: it is).
fn generated_tool_named(
    args: &Value,
    refusal_of_own: impl Fn(&crate::meta::MetaTool) -> Option<String>,
) -> Result<&'static ToolDef, Box<rmcp::model::CallToolResult>> {
    let name = args.get("name").and_then(Value::as_str).unwrap_or_default();
    crate::catalog::tool(name).ok_or_else(|| {
        let hint = match crate::meta::lookup(name).map(&refusal_of_own) {
            Some(None) => "call it directly: it is listed in tools/list".to_string(),
            Some(Some(refusal)) => {
                format!("it is one of this server's own tools, and not offered here: {refusal}")
            }
            None => "pfsense_find_tools finds the right name".to_string(),
        };
        let shown: String = name
            .chars()
            .take(100)
            .flat_map(char::escape_debug)
            .collect();
        Box::new(outcome::error(format!(
            "there is no generated tool `{shown}`; {hint}"
        )))
    })
}

/// The error for a request rmcp could not read (see `on_custom_request`). `initialize`, `ping`
/// and `logging/setLevel` are gone from 2026-07-28 on, where asking for them must be "method
/// not found" (SEP-2575; the conformance suite checks it): logging/setLevel is named only in a
/// session that began with initialize (`initialized`).
fn unreadable_request(method: &str, params: Option<&Value>, initialized: bool) -> McpError {
    use crate::validate::kind;
    let field = |name: &str| params.and_then(|p| p.get(name));
    let not_an_object = params
        .filter(|p| !p.is_object() && !p.is_null())
        .map(|p| format!("they are {}, not an object", kind(p)));
    // The methods this server serves, what their params look like, and what does not fit.
    let (why, expected) = match method {
        "tools/call" => (
            not_an_object.unwrap_or_else(|| match (field("name"), field("arguments")) {
                (None, _) => "`name` is missing".into(),
                (Some(n), _) if !n.is_string() => format!("`name` is {}, not a string", kind(n)),
                (_, Some(a)) if !a.is_object() && !a.is_null() => {
                    format!("`arguments` is {}, not an object", kind(a))
                }
                _ => "they do not fit the MCP schema".into(),
            }),
            r#"{"name": "<tool>", "arguments": {…}}"#,
        ),
        "prompts/get" => (
            not_an_object.unwrap_or_else(|| match field("name") {
                None => "`name` is missing".into(),
                Some(n) if !n.is_string() => format!("`name` is {}, not a string", kind(n)),
                _ => "they do not fit the MCP schema".into(),
            }) + " (this server offers no prompts: prompts/list is empty)",
            r#"{"name": "<prompt>", "arguments": {…}}"#,
        ),
        "logging/setLevel" if initialized => (
            not_an_object.unwrap_or_else(|| {
                "`level` must be one of debug, info, notice, warning, error, critical, alert, emergency".into()
            }),
            r#"{"level": "info"}"#,
        ),
        "tools/list" | "prompts/list" => (
            not_an_object.unwrap_or_else(|| match field("cursor") {
                Some(c) if !c.is_string() && !c.is_null() => {
                    format!("`cursor` is {}, not a string", kind(c))
                }
                _ => "they do not fit the MCP schema".into(),
            }),
            r#"{"cursor": "<from the last page>"} or none"#,
        ),
        _ => {
            let shown: String = method
                .chars()
                .take(100)
                .flat_map(char::escape_debug)
                .collect();
            return McpError::new(
                rmcp::model::ErrorCode::METHOD_NOT_FOUND,
                format!("this server has no method `{shown}`"),
                None,
            );
        }
    };
    McpError::invalid_params(
        format!("the params of `{method}` do not fit: {why}; expected {expected}"),
        None,
    )
}

/// For `pfsense_call`: the arguments of the tool it runs that were given beside `name`
/// instead of inside `arguments` (`confirm: true` at the top level would otherwise have
/// been a preview that looked like a refusal), as a hint that says where they go.
fn misplaced_call_arguments(meta: &str, args: &Value) -> Option<String> {
    if meta != "pfsense_call" {
        return None;
    }
    let outside: Vec<&str> = args
        .as_object()?
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "name" | "arguments" | "firewall"))
        .collect();
    if outside.is_empty() {
        return None;
    }
    let list: Vec<String> = outside.iter().map(|k| format!("`{k}`")).collect();
    Some(format!(
        "{} {} inside `arguments`, with the other arguments of the tool it runs: {{\"name\": \"…\", \"arguments\": {{…, \"{}\": …}}}}",
        list.join(", "),
        if outside.len() == 1 {
            "belongs"
        } else {
            "belong"
        },
        outside[0]
    ))
}

/// The refusal of a meta tool call whose arguments do not fit its schema, if they do not.
fn meta_arguments_refusal(
    meta: &crate::meta::MetaTool,
    args: &Value,
) -> Option<rmcp::model::CallToolResult> {
    arguments_misfit(meta.name, &meta.schema(), args).map(outcome::error)
}

/// The text of a tool result (for an audit message).
fn result_text(result: &rmcp::model::CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_is_shortened_on_a_character_boundary() {
        assert_eq!(shortened("short", 120), "short");
        let long = "é".repeat(200);
        let cut = shortened(&long, 120);
        assert_eq!(cut.chars().count(), 121);
        assert!(cut.ends_with('…'));
    }

    fn tool(name: &'static str) -> Tool {
        Tool::new(name, "d", Arc::new(serde_json::Map::new()))
    }

    #[test]
    fn the_tool_cache_makes_a_tool_once_and_stays_bounded() {
        let cache = ToolCache::default();
        let mut made = 0;
        for _ in 0..3 {
            let t = cache.get_or_make("pfsense_a", || {
                made += 1;
                tool("pfsense_a")
            });
            assert_eq!(t.name, "pfsense_a");
        }
        assert_eq!(made, 1);
        let names: Vec<&'static str> = (0..ToolCache::CAPACITY * 2)
            .map(|i| &*Box::leak(format!("pfsense_{i}").into_boxed_str()))
            .collect();
        for name in &names {
            cache.get_or_make(name, || tool(name));
            assert!(cache.0.lock().unwrap().len() <= ToolCache::CAPACITY);
        }
    }
}
